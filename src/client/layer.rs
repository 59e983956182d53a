use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::error::Retry;
use super::ResumeService;
use crate::BoxError;

type RetryPredicate = dyn Fn(&BoxError) -> bool + Send + Sync;
type RetryCallback = dyn Fn(&Retry<'_>) + Send + Sync;

/// What a [`ResumeLayer`] was configured with; shared by its services and
/// their bodies.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) max_attempts: u32,
    pub(crate) max_resumes: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) restart_on_change: bool,
    pub(crate) resume_without_validator: bool,
    pub(crate) retry_if: Option<Arc<RetryPredicate>>,
    pub(crate) on_retry: Option<Arc<RetryCallback>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_attempts: ResumeLayer::DEFAULT_MAX_ATTEMPTS,
            max_resumes: ResumeLayer::DEFAULT_MAX_RESUMES,
            backoff_initial: ResumeLayer::DEFAULT_BACKOFF_INITIAL,
            backoff_max: ResumeLayer::DEFAULT_BACKOFF_MAX,
            idle_timeout: Some(ResumeLayer::DEFAULT_IDLE_TIMEOUT),
            restart_on_change: false,
            resume_without_validator: false,
            retry_if: None,
            on_retry: None,
        }
    }
}

impl Config {
    pub(crate) fn retries(&self, error: &BoxError) -> bool {
        self.retry_if
            .as_ref()
            .is_none_or(|retry_if| retry_if(error))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_attempts", &self.max_attempts)
            .field("max_resumes", &self.max_resumes)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("idle_timeout", &self.idle_timeout)
            .field("restart_on_change", &self.restart_on_change)
            .field("resume_without_validator", &self.resume_without_validator)
            .field("retry_if", &self.retry_if.as_ref().map(|_| ".."))
            .field("on_retry", &self.on_retry.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Makes the response bodies of an HTTP **client** service resume after
/// failures, safely.
///
/// For a `GET` answered `200` (or `206` to the caller's own single range),
/// when the body fails after K bytes (a transport error, no data for
/// [`idle_timeout`](Self::idle_timeout), or a clean end before the announced
/// length), the request is sent again with `Range: bytes=K-` and
/// `If-Range: <validator>`, the answer is checked to be the exact
/// continuation, and its bytes go on in the same body. See the
/// [module documentation](super) for the rules. A body that has to wait
/// (for data, or out a backoff) must be read within a Tokio runtime with
/// timers enabled; its timers are made at the first wait.
///
/// ```
/// use std::time::Duration;
/// use tower_range::client::ResumeLayer;
///
/// let layer = ResumeLayer::new()
///     .max_attempts(20)
///     .backoff(Duration::from_millis(50), Duration::from_secs(5))
///     .idle_timeout(Duration::from_secs(10))
///     .on_retry(|retry| eprintln!("resuming at {} after: {}", retry.offset, retry.error));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ResumeLayer {
    config: Config,
}

impl ResumeLayer {
    /// The default of [`max_attempts`](Self::max_attempts): 10 fruitless
    /// resumes in a row.
    ///
    /// ```
    /// use tower_range::client::ResumeLayer;
    ///
    /// // A flaky link: three times the default patience.
    /// let layer = ResumeLayer::new().max_attempts(3 * ResumeLayer::DEFAULT_MAX_ATTEMPTS);
    /// assert_eq!(ResumeLayer::DEFAULT_MAX_ATTEMPTS, 10);
    /// ```
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
    /// The default of [`max_resumes`](Self::max_resumes): 10 000.
    ///
    /// ```
    /// use tower_range::client::ResumeLayer;
    ///
    /// // A 100 GB download over a link that drops every few MB.
    /// let layer = ResumeLayer::new().max_resumes(10 * ResumeLayer::DEFAULT_MAX_RESUMES);
    /// assert_eq!(ResumeLayer::DEFAULT_MAX_RESUMES, 10_000);
    /// ```
    pub const DEFAULT_MAX_RESUMES: u32 = 10_000;
    /// The default initial delay of [`backoff`](Self::backoff): 100 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_range::client::ResumeLayer;
    ///
    /// // The default first delay, a higher cap.
    /// let layer = ResumeLayer::new().backoff(ResumeLayer::DEFAULT_BACKOFF_INITIAL, Duration::from_secs(60));
    /// assert_eq!(ResumeLayer::DEFAULT_BACKOFF_INITIAL, Duration::from_millis(100));
    /// ```
    pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
    /// The default maximum delay of [`backoff`](Self::backoff): 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_range::client::ResumeLayer;
    ///
    /// // A quicker first resume, the default cap.
    /// let layer = ResumeLayer::new().backoff(Duration::from_millis(10), ResumeLayer::DEFAULT_BACKOFF_MAX);
    /// assert_eq!(ResumeLayer::DEFAULT_BACKOFF_MAX, Duration::from_secs(10));
    /// ```
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(10);
    /// The default [`idle_timeout`](Self::idle_timeout): 30 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_range::client::ResumeLayer;
    ///
    /// // A satellite link: four times the default patience with a silent body.
    /// let layer = ResumeLayer::new().idle_timeout(4 * ResumeLayer::DEFAULT_IDLE_TIMEOUT);
    /// assert_eq!(ResumeLayer::DEFAULT_IDLE_TIMEOUT, Duration::from_secs(30));
    /// ```
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

    /// A layer with the defaults: 10 resumes in a row without progress and
    /// 10 000 in all per body, backoff from 100 ms up to 10 s, an idle
    /// timeout of 30 s, no restart on change, no resume without a
    /// validator, every failure retried, no callback.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "hello", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 5-10/11")], " world", "end"),
    /// # ]);
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// let client = ServiceBuilder::new().layer(ResumeLayer::new()).service(server);
    /// let body = client.oneshot(get()).await?.into_body().collect().await?.to_bytes();
    /// assert_eq!(body, "hello world"); // a reset after "hello", then a resume
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times in a row one body may resume without receiving a
    /// byte in between (0: never resume). A failure after new bytes
    /// arrived starts the count again, so a long download over a flaky
    /// link goes on as long as it progresses; one that is stuck ends after
    /// this many fruitless resumes, with
    /// [`AttemptsExhausted`](super::ResumeErrorKind::AttemptsExhausted).
    /// The total over the body's life is capped by
    /// [`max_resumes`](Self::max_resumes). The same count drives the
    /// [`backoff`](Self::backoff).
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "hello", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 5-10/11")], "", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 5-10/11")], "", "reset"),
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "h", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 1-10/11")], "e", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 2-10/11")], "l", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 3-10/11")], "lo world", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{ResumeErrorKind, ResumeLayer};
    ///
    /// let client = ResumeLayer::new().max_attempts(2).layer(server);
    /// let mut body = client.clone().oneshot(get()).await?.into_body();
    /// // "hello", then every answer breaks before its first byte.
    /// let error = (&mut body).collect().await.unwrap_err();
    /// assert_eq!(error.kind(), ResumeErrorKind::AttemptsExhausted);
    /// assert_eq!((error.offset(), body.resumes()), (5, 2));
    ///
    /// // One byte, then a reset, three times: each resume made progress.
    /// let mut body = client.oneshot(get()).await?.into_body();
    /// assert_eq!((&mut body).collect().await?.to_bytes(), "hello world");
    /// assert_eq!(body.resumes(), 3);
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts;
        self
    }

    /// How many resumes one body may make in all, over its whole life,
    /// progress or not: the resumes after failures and the requests for
    /// the rest of a shorter `206` (see
    /// [`ShortRange`](super::Interruption::ShortRange)). A resume past
    /// that ends the body with
    /// [`AttemptsExhausted`](super::ResumeErrorKind::AttemptsExhausted).
    /// It bounds a server that sends a few bytes per answer, which
    /// [`max_attempts`](Self::max_attempts) (reset by progress) cannot.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "h", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 1-1/11")], "e", "end"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 2-2/11")], "l", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{ResumeErrorKind, ResumeLayer};
    ///
    /// // A reset after "h"; then the server answers one byte at a time.
    /// let client = ResumeLayer::new().max_resumes(2).layer(server);
    /// let mut body = client.oneshot(get()).await?.into_body();
    /// let error = (&mut body).collect().await.unwrap_err();
    /// assert_eq!(error.kind(), ResumeErrorKind::AttemptsExhausted);
    /// assert_eq!((error.offset(), body.resumes()), (3, 2));
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn max_resumes(mut self, resumes: u32) -> Self {
        self.config.max_resumes = resumes;
        self
    }

    /// The delay before each resume: exponential with full jitter. The
    /// n-th consecutive failure without progress waits a random time in
    /// `0..=min(max, initial * 2^(n-1))`; an attempt that delivered bytes
    /// starts the sequence over. A `Retry-After` on a `503` or `429` answer
    /// to a resume sets the delay instead (at least the jittered one, at
    /// most `max`). The randomness comes from a small
    /// SplitMix64 generator seeded from the clock and a process-wide
    /// counter: good enough to spread clients apart, not for anything else.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 0-10/11")], "", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 0-10/11")], "", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 0-10/11")], "hello world", "end"),
    /// # ]);
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// let delays = Arc::new(Mutex::new(Vec::new()));
    /// let log = delays.clone();
    /// let client = ResumeLayer::new()
    ///     .backoff(Duration::from_millis(10), Duration::from_millis(25))
    ///     .on_retry(move |retry| log.lock().unwrap().push(retry.delay))
    ///     .layer(server);
    /// client.oneshot(get()).await?.into_body().collect().await?; // 3 failures in a row
    /// let caps = [10, 20, 25].map(Duration::from_millis); // doubling, up to the max
    /// assert!(delays.lock().unwrap().iter().zip(caps).all(|(delay, cap)| *delay <= cap));
    /// assert_eq!(delays.lock().unwrap().len(), 3);
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max.max(initial);
        self
    }

    /// Per attempt: when no frame arrives for this long (and, for a resume,
    /// no response head), the attempt counts as failed and the body
    /// resumes. `Duration::ZERO` turns the timeout off, and so does a
    /// timeout too long for the clock (`Duration::MAX`).
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "hello", "stall"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 5-10/11")], " world", "end"),
    /// # ]);
    /// use std::time::Duration;
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// let client = ResumeLayer::new()
    ///     .idle_timeout(Duration::from_secs(5))
    ///     .on_retry(|retry| assert_eq!(retry.error.to_string(), "no data for 5s"))
    ///     .layer(server);
    /// let body = client.oneshot(get()).await?.into_body().collect().await?.to_bytes();
    /// assert_eq!(body, "hello world"); // "hello", 5 s of silence, a resume for the rest
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// When a resume is answered with a full `200` of a *changed* resource
    /// and the caller has not received a byte yet, go on with that `200`'s
    /// body instead of failing with
    /// [`ResourceChanged`](super::ResumeErrorKind::ResourceChanged). Only
    /// for a first response that was a `200` (not the caller's range), and
    /// only when the new `200` has the same `Content-Encoding` (the caller
    /// decodes by the head it holds): otherwise it is
    /// [`ResourceChanged`](super::ResumeErrorKind::ResourceChanged). The
    /// head the caller holds (`ETag`, `Content-Length`) then describes the
    /// old version; the body takes the new `200`'s validator, length and
    /// `Accept-Ranges` for its later resumes (a new version that is empty
    /// ends the body). [`ResumeBody::restarts`](super::ResumeBody::restarts)
    /// counts such restarts. Off by default.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "", "reset"),
    /// #     reply(200, &[("etag", "\"v2\""), ("content-length", "11")], "new version", "end"),
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "", "reset"),
    /// #     reply(200, &[("etag", "\"v2\""), ("content-length", "11")], "new version", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{ResumeErrorKind, ResumeLayer};
    ///
    /// // Both times the file is replaced before its first byte arrives.
    /// let default = ResumeLayer::new().layer(server.clone()).oneshot(get()).await?;
    /// let error = default.into_body().collect().await.unwrap_err();
    /// assert_eq!(error.kind(), ResumeErrorKind::ResourceChanged);
    /// let restarting = ResumeLayer::new().restart_on_change(true).layer(server).oneshot(get()).await?;
    /// assert_eq!(restarting.into_body().collect().await?.to_bytes(), "new version");
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn restart_on_change(mut self, enabled: bool) -> Self {
        self.config.restart_on_change = enabled;
        self
    }

    /// Resume even when the first response has no strong validator, with a
    /// plain `Range` and no `If-Range`. Only the length is checked then: a
    /// resource replaced by one of the same length is stitched unnoticed.
    /// Off by default: such a body fails with
    /// [`NoValidator`](super::ResumeErrorKind::NoValidator) instead.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("content-length", "11")], "hello", "reset"),
    /// #     reply(206, &[("content-range", "bytes 5-10/11")], " world", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// // No `ETag`, no `Last-Modified`; a reset after "hello".
    /// let client = ResumeLayer::new().resume_without_validator(true).layer(server);
    /// let body = client.oneshot(get()).await?.into_body().collect().await?.to_bytes();
    /// assert_eq!(body, "hello world");
    /// let resume = &seen.lock().unwrap()[1];
    /// assert!(resume["range"] == "bytes=5-" && resume.get("if-range").is_none());
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn resume_without_validator(mut self, enabled: bool) -> Self {
        self.config.resume_without_validator = enabled;
        self
    }

    /// Which failures are resumed. The predicate sees the underlying error
    /// (the body's, the inner service's on a resume, or an
    /// [`Interruption`](super::Interruption)); `false` ends the body with
    /// [`NotRetried`](super::ResumeErrorKind::NotRetried). By default every
    /// failure is resumed. It is not asked about the request for the rest
    /// of a shorter `206`, which is no failure.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "hello", "reset"),
    /// # ]);
    /// use std::error::Error as _;
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{Interruption, ResumeErrorKind, ResumeLayer};
    ///
    /// // Resume after stalls, early ends and 5xx answers, not after transport errors.
    /// let client = ResumeLayer::new().retry_if(|error| error.is::<Interruption>()).layer(server);
    /// let error = client.oneshot(get()).await?.into_body().collect().await.unwrap_err();
    /// assert_eq!(error.kind(), ResumeErrorKind::NotRetried);
    /// assert!(error.source().is_some_and(|reset| reset.is::<std::io::Error>()));
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&BoxError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.retry_if = Some(Arc::new(predicate));
        self
    }

    /// Called once per resume, before its delay, with the attempt number,
    /// the offset, the delay and the failure (or
    /// [`ShortRange`](super::Interruption::ShortRange) for the rest of a
    /// shorter `206`, with no delay). With the `tracing` feature a
    /// `debug` event (target `tower_range::client`) is emitted as well.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use bytes::Bytes;
    /// # use http::{HeaderMap, Request, Response, StatusCode};
    /// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
    /// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
    /// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
    /// # /// A scripted server: answers with `replies` in turn, records each request's headers.
    /// # fn server(replies: Vec<Response<Body>>) -> (Server, Arc<Mutex<Vec<HeaderMap>>>) {
    /// #     let (replies, seen) = (Arc::new(Mutex::new(replies)), Arc::new(Mutex::new(Vec::new())));
    /// #     let log = seen.clone();
    /// #     let service = tower::service_fn(move |request: Request<Empty<Bytes>>| {
    /// #         log.lock().unwrap().push(request.headers().clone());
    /// #         let reply = replies.lock().unwrap().remove(0);
    /// #         async move { Ok(reply) }
    /// #     });
    /// #     (Server::new(service), seen)
    /// # }
    /// # /// `data`, `then` a clean "end", a "reset" connection or a "stall".
    /// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, then: &str) -> Response<Body> {
    /// #     use futures_util::{stream, StreamExt};
    /// #     let then = match then {
    /// #         "reset" => stream::iter([Err(std::io::Error::other("connection reset"))]).boxed(),
    /// #         "stall" => stream::pending().boxed(),
    /// #         _ => stream::empty().boxed(),
    /// #     };
    /// #     let frames = stream::iter([Ok(http_body::Frame::data(Bytes::from(data)))]).chain(then);
    /// #     let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    /// #     *response.status_mut() = StatusCode::from_u16(status).unwrap();
    /// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
    /// #     response
    /// # }
    /// # fn get() -> Request<Empty<Bytes>> { Request::get("/file").body(Empty::new()).unwrap() }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// # let (server, seen) = server(vec![
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "hello", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 5-10/11")], " wor", "reset"),
    /// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 9-10/11")], "ld", "end"),
    /// # ]);
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// static RESUMES: AtomicU32 = AtomicU32::new(0); // a metric
    /// let client = ResumeLayer::new()
    ///     .on_retry(|_| { RESUMES.fetch_add(1, Ordering::Relaxed); })
    ///     .layer(server);
    /// let body = client.oneshot(get()).await?.into_body().collect().await?.to_bytes();
    /// assert_eq!((&body[..], RESUMES.load(Ordering::Relaxed)), (&b"hello world"[..], 2));
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn on_retry(mut self, callback: impl Fn(&Retry<'_>) + Send + Sync + 'static) -> Self {
        self.config.on_retry = Some(Arc::new(callback));
        self
    }
}

impl<S> Layer<S> for ResumeLayer {
    type Service = ResumeService<S>;

    fn layer(&self, inner: S) -> ResumeService<S> {
        ResumeService::with_config(inner, Arc::new(self.config.clone()))
    }
}
