use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use tokio::time::{Instant, Sleep};

use super::error::{Interruption, ResumeError, ResumeErrorKind, Retry};
use super::layer::Config;
use super::service::{Resend, ResendFuture};
use crate::header::{parse_decimal, parse_http_date, single_value, EntityTag};
use crate::BoxError;

pub(crate) type InnerBody = UnsyncBoxBody<Bytes, BoxError>;

/// What a request allows its response to be resumed as.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestPlan {
    /// The caller's one range, `bytes=a-b` (`(a, Some(b))`) or `bytes=a-`
    /// (`(a, None)`): a `206` that answers it is resumed too.
    pub(crate) caller_range: Option<(u64, Option<u64>)>,
    /// The caller sent `If-Match` or `If-Unmodified-Since`: resumes carry
    /// them too, and a `412` to a resume means the resource changed.
    pub(crate) preconditions: bool,
}

/// The validator a [`ResumeBody`] sends in `If-Range` when it resumes.
///
/// Which one a first response gives:
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
/// #     reply(200, &[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"), ("date", "Mon, 07 Nov 1994 08:49:37 GMT"), ("content-length", "5")], "hello", "end"),
/// #     reply(200, &[("etag", "W/\"v1\""), ("content-length", "5")], "hello", "end"),
/// #     reply(200, &[("etag", "W/\"v1\""), ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"), ("date", "Mon, 07 Nov 1994 08:49:37 GMT"), ("content-length", "5")], "hello", "end"),
/// # ]);
/// use tower::{Layer, ServiceExt};
/// use tower_range::client::{ResumeLayer, Validator};
///
/// let client = ResumeLayer::new().layer(server);
/// // `Last-Modified` a day before the response's `Date`: strong enough.
/// let response = client.clone().oneshot(get()).await?;
/// assert_eq!(response.body().validator(), Validator::LastModified);
/// // Only a weak `ETag`: nothing a resume could be checked against.
/// let response = client.clone().oneshot(get()).await?;
/// assert_eq!(response.body().validator(), Validator::None);
/// // A weak `ETag` beside that same `Last-Modified`: with an entity tag,
/// // RFC 9110 forbids a date in `If-Range`.
/// let response = client.oneshot(get()).await?;
/// assert_eq!(response.body().validator(), Validator::None);
/// # Ok::<_, tower_range::BoxError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Validator {
    /// A strong `ETag`: a resume is safe.
    EntityTag,
    /// `Last-Modified`, taken only when the response has no `ETag` at all
    /// (RFC 9110 §13.1.5: a client with an entity tag must not send a
    /// date) and the date is strong by RFC 9110 §8.8.2.2: at least one
    /// second before the response's `Date`. Safe as long as the server
    /// changes the resource at most once a second and its clock is sane;
    /// prefer an `ETag` where you control the server.
    LastModified,
    /// None (no strong `ETag` nor, without any `ETag`, a strong
    /// `Last-Modified`): the body cannot resume, unless
    /// [`resume_without_validator`](super::ResumeLayer::resume_without_validator)
    /// is on (then only the length is checked).
    None,
}

/// The response body of a [`ResumeService`](super::ResumeService): the
/// inner body's frames as they come, continued across failures by resumes.
///
/// It never buffers: every frame goes to the caller as it arrives, so
/// memory stays bounded by one frame; only the trailers of a response that
/// ends short are dropped (they are that response's, and resumed bytes
/// follow), those of the one that completes the body come last. Its error
/// is a [`ResumeError`]. It is
/// `Send + Sync` whatever the inner body and the inner service's future
/// are (those are held where only `&mut` reaches them), so it goes into
/// `http_body_util::combinators::BoxBody`.
///
/// Its timers (idle timeout, backoff) are Tokio's, made only when the body
/// has to wait: a body that is always ready needs no runtime; one that
/// waits must be polled within a Tokio runtime with timers enabled.
///
/// A server whose first body breaks after 5 bytes of `hello world`: the
/// caller still reads it whole, and the resume asked for the rest of the
/// same version.
///
/// ```
/// # use std::sync::{Arc, Mutex};
/// # use bytes::Bytes;
/// # use http::{HeaderMap, Request, Response};
/// # use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
/// # type Body = UnsyncBoxBody<Bytes, std::io::Error>;
/// # type Server = tower::util::BoxCloneService<Request<Empty<Bytes>>, Response<Body>, std::convert::Infallible>;
/// # /// Answers with `replies` in turn; records each request's headers.
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
/// # /// `data`, then a reset connection if `fail`.
/// # fn reply(status: u16, headers: &[(&'static str, &str)], data: &'static str, fail: bool) -> Response<Body> {
/// #     let mut frames = vec![Ok(http_body::Frame::data(Bytes::from(data)))];
/// #     if fail { frames.push(Err(std::io::Error::other("connection reset"))); }
/// #     let mut response = Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync());
/// #     *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
/// #     for (name, value) in headers { response.headers_mut().insert(*name, value.parse().unwrap()); }
/// #     response
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let (server, seen) = server(vec![
/// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11")], "hello", true),
/// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 5-10/11")], " world", false),
/// # ]);
/// use tower::{Layer, ServiceExt};
/// use tower_range::client::ResumeLayer;
///
/// let client = ResumeLayer::new().layer(server);
/// let response = client.oneshot(Request::get("/file").body(Empty::new())?).await?;
/// assert_eq!(response.into_body().collect().await?.to_bytes(), "hello world");
/// let resume = &seen.lock().unwrap()[1];
/// assert_eq!(resume["range"], "bytes=5-");
/// assert_eq!(resume["if-range"], "\"v1\""); // the first response's `ETag`
/// # Ok::<_, tower_range::BoxError>(())
/// # }).unwrap();
/// ```
pub struct ResumeBody {
    kind: Kind,
}

enum Kind {
    /// Not resumable: the inner body as it is.
    Passthrough {
        body: SyncCell<InnerBody>,
        delivered: u64,
    },
    Resuming(Box<Resumer>),
}

/// A `Send` value made `Sync` without `unsafe`, so that [`ResumeBody`] is
/// `Sync` whatever the inner body and the inner service's future are: a
/// `Mutex` reached through `get_mut` (no locking: `poll_frame` has `&mut`)
/// and locked only by the `&self` methods (`size_hint`, `is_end_stream`),
/// never across an `.await` or a call that could re-enter.
struct SyncCell<T>(Mutex<T>);

impl<T> SyncCell<T> {
    fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }

    fn get_mut(&mut self) -> &mut T {
        // Poisoned only if a panic unwound through `with`; the value is
        // still whole (no method leaves it half-updated).
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl fmt::Debug for ResumeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ResumeBody");
        debug
            .field("resumable", &self.is_resumable())
            .field("delivered", &self.delivered())
            .field("resumes", &self.resumes())
            .field("validator", &self.validator());
        debug.finish_non_exhaustive()
    }
}

impl ResumeBody {
    pub(crate) fn wrap(
        response: Response<InnerBody>,
        plan: Option<(RequestPlan, Box<dyn Resend>)>,
        config: Arc<Config>,
    ) -> Response<ResumeBody> {
        let (parts, body) = response.into_parts();
        let resumable = plan.and_then(|(plan, resend)| {
            Some((
                Span::of_first(&parts.status, &parts.headers, plan, &body)?,
                plan,
                resend,
            ))
        });
        let kind = match resumable {
            Some((span, plan, resend)) => Kind::Resuming(Box::new(Resumer::new(
                &parts.headers,
                span,
                plan,
                resend,
                config,
                body,
            ))),
            None => Kind::Passthrough {
                body: SyncCell::new(body),
                delivered: 0,
            },
        };
        Response::from_parts(parts, ResumeBody { kind })
    }

    /// A body that is passed through as it is, never resumed: for tests and
    /// for building responses by hand.
    ///
    /// ```
    /// use http_body_util::{BodyExt, Full};
    /// use tower_range::client::ResumeBody;
    ///
    /// let body = ResumeBody::passthrough(Full::new(bytes::Bytes::from_static(b"hi")));
    /// assert!(!body.is_resumable());
    /// ```
    pub fn passthrough<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt;
        ResumeBody {
            kind: Kind::Passthrough {
                body: SyncCell::new(body.map_err(Into::into).boxed_unsync()),
                delivered: 0,
            },
        }
    }

    /// `true` when the body resumes after failures: the request was a `GET`
    /// answered `200`, or `206` to one `bytes=a-b` / `bytes=a-` range whose
    /// `Content-Range` starts at `a` and ends no later than `b` (a `206`
    /// that is not the range asked for passes through, not resumable).
    /// Whether it *can* also depends on the [`validator`](Self::validator).
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
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "5")], "hello", "end"),
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "5")], "hello", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// let client = ResumeLayer::new().layer(server);
    /// let get = client.clone().oneshot(Request::get("/file").body(Empty::new())?).await?;
    /// assert!(get.body().is_resumable());
    /// let post = client.oneshot(Request::post("/file").body(Empty::new())?).await?;
    /// assert!(!post.body().is_resumable()); // only a `GET` is sent again
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn is_resumable(&self) -> bool {
        matches!(self.kind, Kind::Resuming(_))
    }

    /// The validator resumes send in `If-Range`.
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
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "5")], "hello", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{ResumeLayer, Validator};
    ///
    /// // The server answers with a strong `ETag: "v1"`.
    /// let response = ResumeLayer::new().layer(server).oneshot(get()).await?;
    /// assert_eq!(response.body().validator(), Validator::EntityTag);
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn validator(&self) -> Validator {
        match &self.kind {
            Kind::Resuming(resumer) => resumer.validator.kind(),
            Kind::Passthrough { .. } => Validator::None,
        }
    }

    /// Body bytes handed out so far.
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
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// let mut body = ResumeLayer::new().layer(server).oneshot(get()).await?.into_body();
    /// body.frame().await.transpose()?; // "hello", then the connection breaks
    /// assert_eq!(body.delivered(), 5);
    /// (&mut body).collect().await?; // " world", from a resume
    /// assert_eq!(body.delivered(), 11);
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn delivered(&self) -> u64 {
        match &self.kind {
            Kind::Resuming(resumer) => resumer.delivered,
            Kind::Passthrough { delivered, .. } => *delivered,
        }
    }

    /// Resumes made so far, counting one that is waiting out its backoff:
    /// after failures, and for the rest of a shorter `206`.
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
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// let mut body = ResumeLayer::new().layer(server).oneshot(get()).await?.into_body();
    /// // "hello", a reset, " wor", a reset, "ld".
    /// assert_eq!((&mut body).collect().await?.to_bytes(), "hello world");
    /// assert_eq!(body.resumes(), 2);
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn resumes(&self) -> u32 {
        match &self.kind {
            Kind::Resuming(resumer) => resumer.resumes,
            Kind::Passthrough { .. } => 0,
        }
    }

    /// Times the body started over with a changed resource (see
    /// [`restart_on_change`](super::ResumeLayer::restart_on_change)).
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
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::ResumeLayer;
    ///
    /// // The file is replaced before its first byte arrives.
    /// let client = ResumeLayer::new().restart_on_change(true).layer(server);
    /// let mut body = client.oneshot(get()).await?.into_body();
    /// assert_eq!((&mut body).collect().await?.to_bytes(), "new version");
    /// assert_eq!((body.resumes(), body.restarts()), (1, 1));
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn restarts(&self) -> u32 {
        match &self.kind {
            Kind::Resuming(resumer) => resumer.restarts,
            Kind::Passthrough { .. } => 0,
        }
    }
}

/// Where the body lies in the representation.
#[derive(Clone, Copy, Debug)]
struct Span {
    /// The first response was a `206` (to the caller's range), not a `200`.
    partial: bool,
    /// Offset of the body's first byte in the representation.
    first: u64,
    /// Offset just past its last byte, when known.
    end: Option<u64>,
    /// The representation length, when known.
    complete: Option<u64>,
}

impl Span {
    /// `None` when a first response with this status and these headers is
    /// not resumed.
    fn of_first(
        status: &StatusCode,
        headers: &HeaderMap,
        plan: RequestPlan,
        body: &InnerBody,
    ) -> Option<Span> {
        match *status {
            StatusCode::OK => {
                let length = content_length(headers)?.or(body.size_hint().exact());
                if length == Some(0) {
                    // Nothing to resume.
                    return None;
                }
                Some(Span::whole(length))
            }
            StatusCode::PARTIAL_CONTENT => {
                let (asked_first, asked_last) = plan.caller_range?;
                if is_multipart_byteranges(headers) {
                    return None;
                }
                let range = content_range(headers)?;
                if let Some(len) = content_length(headers)? {
                    if len != range.len() {
                        return None;
                    }
                }
                // Only the range asked for (or a shorter one from the same
                // start) is continued: anything else is the server's own
                // idea, passed through as it is.
                if range.first != asked_first || asked_last.is_some_and(|last| range.last > last) {
                    return None;
                }
                Some(Span {
                    partial: true,
                    first: range.first,
                    end: Some(range.end()),
                    complete: range.complete,
                })
            }
            _ => None,
        }
    }

    /// All of a representation of this length, from a `200`.
    fn whole(length: Option<u64>) -> Span {
        Span {
            partial: false,
            first: 0,
            end: length,
            complete: length,
        }
    }

    /// Bytes of the whole body, when known.
    fn len(&self) -> Option<u64> {
        self.end.map(|end| end.saturating_sub(self.first))
    }
}

/// A parsed `Content-Range: bytes first-last/complete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ContentRange {
    first: u64,
    last: u64,
    complete: Option<u64>,
}

impl ContentRange {
    fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Offset just past the last byte.
    fn end(&self) -> u64 {
        self.last.saturating_add(1)
    }
}

/// The one `Content-Range` of a `206`; `None` if missing, repeated or
/// malformed.
fn content_range(headers: &HeaderMap) -> Option<ContentRange> {
    let value = single_value(headers, &header::CONTENT_RANGE)?;
    parse_content_range(value.as_bytes())
}

fn parse_content_range(value: &[u8]) -> Option<ContentRange> {
    let value = value.trim_ascii();
    let rest = value
        .get(..6)?
        .eq_ignore_ascii_case(b"bytes ")
        .then(|| &value[6..])?;
    let rest = rest.trim_ascii_start();
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (range, complete) = (&rest[..slash], &rest[slash + 1..]);
    let dash = range.iter().position(|&b| b == b'-')?;
    let first = parse_decimal(&range[..dash])?;
    let last = parse_decimal(&range[dash + 1..])?;
    let complete = match complete {
        b"*" => None,
        digits => Some(parse_decimal(digits)?),
    };
    if last < first || complete.is_some_and(|complete| last >= complete) {
        return None;
    }
    Some(ContentRange {
        first,
        last,
        complete,
    })
}

/// `Some(None)` without `Content-Length`, `Some(Some(n))` with one valid
/// value (repeated lines must agree), `None` when it is invalid.
fn content_length(headers: &HeaderMap) -> Option<Option<u64>> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        let parsed = parse_decimal(value.as_bytes().trim_ascii())?;
        if length.is_some_and(|length| length != parsed) {
            return None;
        }
        length = Some(parsed);
    }
    Some(length)
}

/// A `multipart/byteranges` answer (the type and subtype in any case,
/// parameters ignored). A resource whose own type is another `multipart/*`
/// is not one.
fn is_multipart_byteranges(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONTENT_TYPE).iter().any(|value| {
        let essence = value.as_bytes().split(|&b| b == b';').next();
        essence.is_some_and(|essence| {
            essence
                .trim_ascii()
                .eq_ignore_ascii_case(b"multipart/byteranges")
        })
    })
}

/// `Accept-Ranges: none`.
fn refuses_ranges(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_RANGES)
        .iter()
        .any(|value| value.as_bytes().trim_ascii().eq_ignore_ascii_case(b"none"))
}

/// The content codings of a response, normalized: lowercase, trimmed, in
/// order, `identity` left out; empty for none.
fn content_coding(headers: &HeaderMap) -> String {
    let mut codings = String::new();
    let all = headers.get_all(header::CONTENT_ENCODING);
    for coding in all
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
    {
        let coding = coding.trim_ascii();
        if coding.is_empty() || coding.eq_ignore_ascii_case(b"identity") {
            continue;
        }
        if !codings.is_empty() {
            codings.push_str(", ");
        }
        codings.push_str(&String::from_utf8_lossy(coding).to_ascii_lowercase());
    }
    codings
}

fn coding_name(coding: &str) -> &str {
    if coding.is_empty() {
        "identity"
    } else {
        coding
    }
}

/// The delay a `Retry-After` asks for: delta-seconds, or an HTTP-date
/// measured from the response's `Date` (the server's clock) or, without
/// one, from now. A date in the past is no delay; an unreadable value,
/// none.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = single_value(headers, &header::RETRY_AFTER)?
        .as_bytes()
        .trim_ascii();
    if let Some(seconds) = parse_decimal(value) {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    let now = single_value(headers, &header::DATE)
        .and_then(|date| parse_http_date(date.as_bytes()))
        .unwrap_or_else(SystemTime::now);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The statuses a resume is retried after: `408`, `429` and server errors,
/// but `501` and `505` (the server will not do it, however often asked).
fn is_retried_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// The `If-Range` value chosen from the first response, and what it was.
#[derive(Clone, Debug)]
enum IfRangeValidator {
    EntityTag(HeaderValue),
    LastModified(HeaderValue, SystemTime),
    None,
}

/// What a response's validator says about its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sameness {
    /// The same one as the first response's.
    Same,
    /// Another one.
    Other,
    /// None to compare (or no validator of ours).
    Unknown,
    /// Several lines of a field that has one value.
    Repeated,
}

impl IfRangeValidator {
    fn of(headers: &HeaderMap) -> Self {
        let mut tags = headers.get_all(header::ETAG).iter();
        match (tags.next(), tags.next()) {
            (Some(tag), None) => {
                if EntityTag::parse(tag.as_bytes()).is_some_and(|tag| !tag.is_weak()) {
                    return Self::EntityTag(tag.clone());
                }
                // RFC 9110 §13.1.5: a client that has an entity tag for
                // the representation must not send a date in If-Range.
                return Self::None;
            }
            // Several ETag lines: no one tag to trust, and a tag there is.
            (Some(_), Some(_)) => return Self::None,
            (None, _) => {}
        }
        // RFC 9110 §8.8.2.2: a client may treat Last-Modified as strong when
        // the response's Date is at least one second later.
        let modified = single_value(headers, &header::LAST_MODIFIED)
            .and_then(|value| Some((value, parse_http_date(value.as_bytes())?)));
        let date = single_value(headers, &header::DATE)
            .and_then(|value| parse_http_date(value.as_bytes()));
        if let (Some((value, modified)), Some(date)) = (modified, date) {
            if date
                .duration_since(modified)
                .is_ok_and(|gap| gap >= Duration::from_secs(1))
            {
                return Self::LastModified(value.clone(), modified);
            }
        }
        Self::None
    }

    fn kind(&self) -> Validator {
        match self {
            Self::EntityTag(_) => Validator::EntityTag,
            Self::LastModified(..) => Validator::LastModified,
            Self::None => Validator::None,
        }
    }

    fn header(&self) -> Option<HeaderValue> {
        match self {
            Self::EntityTag(value) | Self::LastModified(value, _) => Some(value.clone()),
            Self::None => None,
        }
    }

    /// Whether a response's headers name the same version.
    fn compare(&self, headers: &HeaderMap) -> Sameness {
        let name = match self {
            Self::EntityTag(_) => header::ETAG,
            Self::LastModified(..) => header::LAST_MODIFIED,
            Self::None => return Sameness::Unknown,
        };
        let mut values = headers.get_all(name).iter();
        let theirs = match (values.next(), values.next()) {
            (None, _) => return Sameness::Unknown,
            (Some(value), None) => value,
            (Some(_), Some(_)) => return Sameness::Repeated,
        };
        let same = match self {
            Self::EntityTag(ours) => match EntityTag::parse(ours.as_bytes()) {
                Some(ours) => EntityTag::parse(theirs.as_bytes())
                    .is_some_and(|theirs| theirs.strong_eq(&ours)),
                None => false,
            },
            Self::LastModified(_, ours) => parse_http_date(theirs.as_bytes()) == Some(*ours),
            Self::None => false,
        };
        if same {
            Sameness::Same
        } else {
            Sameness::Other
        }
    }
}

enum State {
    Streaming {
        body: InnerBody,
        idle: Option<Idle>,
    },
    /// Waiting before a resume; the timer is made at the first poll.
    Backoff {
        delay: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
    },
    Requesting {
        response: ResendFuture,
        idle: Option<Idle>,
    },
    Done,
}

/// An idle timer. It measures how long the body has been *waiting*: it is
/// armed when the inner body first returns `Pending` after a frame (or when
/// a resume is sent), so a caller that is slow to poll never causes a
/// timeout. A frame disarms it. The Tokio timer itself is made at the first
/// wait, and only reset when re-armed; a deadline past what the clock can
/// hold is no timeout.
struct Idle {
    timeout: Duration,
    armed: bool,
    /// `None`: beyond the end of the clock, never.
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Idle {
    /// `armed`: start counting now (a request was just sent) rather than
    /// at the first wait (a body was just received).
    fn start(timeout: Option<Duration>, armed: bool) -> Option<Self> {
        let timeout = timeout?;
        Some(Self {
            timeout,
            armed,
            deadline: if armed {
                Instant::now().checked_add(timeout)
            } else {
                None
            },
            sleep: None,
        })
    }

    /// A frame arrived.
    fn disarm(&mut self) {
        self.armed = false;
    }

    /// `Ready` when the body has waited for the timeout.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Interruption> {
        if !self.armed {
            self.armed = true;
            self.deadline = Instant::now().checked_add(self.timeout);
        }
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep
            .as_mut()
            .poll(cx)
            .map(|()| Interruption::IdleTimeout(self.timeout))
    }
}

struct Resumer {
    config: Arc<Config>,
    resend: SyncCell<Box<dyn Resend>>,
    validator: IfRangeValidator,
    span: Span,
    /// Offset just past the last byte the current response announced: the
    /// span's end, or before it for a shorter `206`.
    segment_end: Option<u64>,
    /// The first response's content codings, normalized (see
    /// [`content_coding`]).
    coding: String,
    /// `Accept-Ranges: none` on the first response (or the restart's).
    refuses_ranges: bool,
    /// The caller sent `If-Match` or `If-Unmodified-Since`.
    preconditions: bool,
    delivered: u64,
    /// Resumes made, for whatever reason.
    resumes: u32,
    /// Failed attempts since the last byte arrived.
    failures_in_a_row: u32,
    restarts: u32,
    rng: u64,
    state: SyncCell<State>,
}

/// What ends an attempt.
enum Failure {
    /// Resume, if the rules allow; after at least `retry_after`, when the
    /// server said so.
    Retry {
        error: BoxError,
        retry_after: Option<Duration>,
    },
    /// A shorter `206` ended where it said: ask for the rest, at once.
    Short,
    /// End the body with this error.
    Fatal(ResumeError),
}

impl Failure {
    fn retry(error: impl Into<BoxError>) -> Self {
        Failure::Retry {
            error: error.into(),
            retry_after: None,
        }
    }
}

impl Resumer {
    fn new(
        headers: &HeaderMap,
        span: Span,
        plan: RequestPlan,
        resend: Box<dyn Resend>,
        config: Arc<Config>,
        body: InnerBody,
    ) -> Self {
        let rng = seed(Arc::as_ptr(&config) as usize as u64);
        let idle = Idle::start(config.idle_timeout, false);
        Self {
            validator: IfRangeValidator::of(headers),
            span,
            segment_end: span.end,
            coding: content_coding(headers),
            refuses_ranges: refuses_ranges(headers),
            preconditions: plan.preconditions,
            resend: SyncCell::new(resend),
            config,
            delivered: 0,
            resumes: 0,
            failures_in_a_row: 0,
            restarts: 0,
            rng,
            state: SyncCell::new(State::Streaming { body, idle }),
        }
    }

    /// Offset of the next byte in the representation.
    fn position(&self) -> u64 {
        self.span.first.saturating_add(self.delivered)
    }

    fn remaining(&self) -> Option<u64> {
        self.span
            .len()
            .map(|len| len.saturating_sub(self.delivered))
    }

    /// Bytes the current response still owes.
    fn segment_left(&self) -> Option<u64> {
        self.segment_end
            .map(|end| end.saturating_sub(self.position()))
    }

    fn set_state(&mut self, state: State) {
        *self.state.get_mut() = state;
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResumeError>>> {
        loop {
            let failure = match self.state.get_mut() {
                State::Done => return Poll::Ready(None),
                State::Streaming { body, idle } => match Pin::new(body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(idle) = idle {
                            idle.disarm();
                        }
                        let Some(data) = frame.data_ref() else {
                            let short = self.segment_left().is_some_and(|left| left > 0)
                                || self.remaining().is_some_and(|left| left > 0);
                            if short {
                                // Trailers of a response that ends short:
                                // they are its own, and resumed bytes would
                                // follow them. The completing one's pass.
                                continue;
                            }
                            return Poll::Ready(Some(Ok(frame)));
                        };
                        let len = data.len() as u64;
                        if self.segment_left().is_some_and(|left| len > left) {
                            Failure::Fatal(
                                ResumeError::new(ResumeErrorKind::BadContentRange, self.delivered)
                                    .with_detail("more bytes than announced"),
                            )
                        } else {
                            self.delivered += len;
                            if len > 0 {
                                self.failures_in_a_row = 0;
                            }
                            return Poll::Ready(Some(Ok(frame)));
                        }
                    }
                    Poll::Ready(Some(Err(error))) => Failure::retry(error),
                    Poll::Ready(None) => match self.segment_left() {
                        Some(left) if left > 0 => Failure::retry(Interruption::EarlyEnd {
                            expected: self.delivered.saturating_add(left),
                            received: self.delivered,
                        }),
                        _ if self.remaining().is_some_and(|left| left > 0) => Failure::Short,
                        _ => {
                            self.set_state(State::Done);
                            return Poll::Ready(None);
                        }
                    },
                    Poll::Pending => match idle.as_mut().map(|idle| idle.poll_expired(cx)) {
                        Some(Poll::Ready(interruption)) => Failure::retry(interruption),
                        _ => return Poll::Pending,
                    },
                },
                State::Backoff { delay, sleep } => {
                    let delay = *delay;
                    let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.send_resume();
                    continue;
                }
                State::Requesting { response, idle } => match response.as_mut().poll(cx) {
                    Poll::Ready(Ok(response)) => match self.check_resume(response) {
                        Ok(_) if self.remaining() == Some(0) => {
                            // A restart to an empty version: it is whole.
                            self.set_state(State::Done);
                            continue;
                        }
                        Ok(body) => {
                            let idle = Idle::start(self.config.idle_timeout, false);
                            self.set_state(State::Streaming { body, idle });
                            continue;
                        }
                        Err(failure) => failure,
                    },
                    Poll::Ready(Err(error)) => Failure::retry(error),
                    Poll::Pending => match idle.as_mut().map(|idle| idle.poll_expired(cx)) {
                        Some(Poll::Ready(interruption)) => Failure::retry(interruption),
                        _ => return Poll::Pending,
                    },
                },
            };
            match self.fail(failure) {
                Some(error) => {
                    self.set_state(State::Done);
                    return Poll::Ready(Some(Err(error)));
                }
                None => continue,
            }
        }
    }

    /// Decides what a failure leads to: `Some(error)` ends the body, `None`
    /// means a resume is scheduled (or the body is complete after all).
    fn fail(&mut self, failure: Failure) -> Option<ResumeError> {
        let (error, retry_after) = match failure {
            Failure::Fatal(error) => return Some(error),
            Failure::Short => return self.continue_short(),
            Failure::Retry { error, retry_after } => (error, retry_after),
        };
        if self.remaining() == Some(0) {
            // Every announced byte arrived; what failed came after them.
            self.set_state(State::Done);
            return None;
        }
        if self.segment_left() == Some(0) {
            // Every byte of a shorter 206 arrived; what failed came after.
            return self.continue_short();
        }
        let offset = self.delivered;
        let fatal = |kind| Some(ResumeError::new(kind, offset));
        if !self.config.retries(&error) {
            return fatal(ResumeErrorKind::NotRetried).map(|e| e.with_source(error));
        }
        if self.refuses_ranges {
            return fatal(ResumeErrorKind::RangeIgnored)
                .map(|e| e.with_detail("Accept-Ranges: none").with_source(error));
        }
        if matches!(self.validator, IfRangeValidator::None) && !self.config.resume_without_validator
        {
            return fatal(ResumeErrorKind::NoValidator).map(|e| e.with_source(error));
        }
        if self.failures_in_a_row >= self.config.max_attempts {
            return fatal(ResumeErrorKind::AttemptsExhausted).map(|e| {
                e.with_detail(format!(
                    "{} failed resumes in a row without progress (max_attempts)",
                    self.failures_in_a_row
                ))
                .with_source(error)
            });
        }
        if self.resumes >= self.config.max_resumes {
            return Some(self.resumes_exhausted().with_source(error));
        }
        self.resumes += 1;
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        let mut delay = self.backoff_delay();
        if let Some(asked) = retry_after {
            // The server's word, within the caller's patience.
            delay = delay.max(asked).min(self.config.backoff_max);
        }
        self.notify(delay, &*error);
        // The failed body (or response future) is dropped here.
        if delay.is_zero() {
            self.send_resume();
        } else {
            // The timer is made when the backoff is first polled.
            self.set_state(State::Backoff { delay, sleep: None });
        }
        None
    }

    /// A shorter `206` ended where its `Content-Range` said: the rest is
    /// asked for at once. Not a failure (no backoff, `max_attempts` not
    /// touched), but a resume: counted against `max_resumes`.
    fn continue_short(&mut self) -> Option<ResumeError> {
        if self.resumes >= self.config.max_resumes {
            return Some(self.resumes_exhausted());
        }
        self.resumes += 1;
        let interruption = Interruption::ShortRange {
            expected: self.span.len().unwrap_or(self.delivered),
            received: self.delivered,
        };
        self.notify(Duration::ZERO, &interruption);
        self.send_resume();
        None
    }

    fn resumes_exhausted(&self) -> ResumeError {
        ResumeError::new(ResumeErrorKind::AttemptsExhausted, self.delivered)
            .with_detail(format!("{} resumes in all (max_resumes)", self.resumes))
    }

    /// Tells the callback, and the `tracing` subscriber, of a resume.
    fn notify(&self, delay: Duration, error: &(dyn std::error::Error + Send + Sync + 'static)) {
        let retry = Retry {
            attempt: self.resumes,
            offset: self.delivered,
            delay,
            error,
        };
        if let Some(on_retry) = &self.config.on_retry {
            on_retry(&retry);
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "tower_range::client",
            attempt = retry.attempt,
            offset = retry.offset,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "resuming body"
        );
    }

    /// Full jitter: uniform in `0..=min(max, initial * 2^(n-1))`.
    fn backoff_delay(&mut self) -> Duration {
        let exponent = self.failures_in_a_row.saturating_sub(1).min(31);
        let cap = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << exponent)
            .min(self.config.backoff_max);
        let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        let random = splitmix64(&mut self.rng);
        Duration::from_nanos(match cap_nanos.checked_add(1) {
            Some(bound) => random % bound,
            None => random,
        })
    }

    fn send_resume(&mut self) {
        let first = self.position();
        let range = match (self.span.partial, self.span.end) {
            (true, Some(end)) => format!("bytes={first}-{}", end.saturating_sub(1)),
            _ => format!("bytes={first}-"),
        };
        // Digits and punctuation only: always a valid header value.
        let range = HeaderValue::from_str(&range).unwrap_or(HeaderValue::from_static("bytes=0-"));
        let response = self.resend.get_mut().send(range, self.validator.header());
        // Until an answer says otherwise, what is owed is the rest of the
        // span: a failure before one is a failure, not the end of a
        // shorter 206.
        self.segment_end = self.span.end;
        let idle = Idle::start(self.config.idle_timeout, true);
        self.set_state(State::Requesting { response, idle });
    }

    /// Checks that a resume's response continues the body exactly.
    fn check_resume(&mut self, response: Response<InnerBody>) -> Result<InnerBody, Failure> {
        let offset = self.delivered;
        let status = response.status();
        let headers = response.headers();
        let fail = |kind, detail: String| {
            Failure::Fatal(
                ResumeError::new(kind, offset)
                    .with_status(status)
                    .with_detail(detail),
            )
        };
        let bad = |detail: String| fail(ResumeErrorKind::BadContentRange, detail);
        match status {
            StatusCode::PARTIAL_CONTENT => {
                if is_multipart_byteranges(headers) {
                    return Err(bad("a multipart/byteranges answer".into()));
                }
                let Some(range) = content_range(headers) else {
                    return Err(bad("a missing or malformed Content-Range".into()));
                };
                match self.validator.compare(headers) {
                    Sameness::Other => {
                        return Err(fail(
                            ResumeErrorKind::ResourceChanged,
                            "the 206 carries another validator".into(),
                        ))
                    }
                    Sameness::Repeated => {
                        return Err(bad("a repeated ETag or Last-Modified".into()));
                    }
                    Sameness::Same | Sameness::Unknown => {}
                }
                let coding = content_coding(headers);
                if coding != self.coding {
                    return Err(fail(
                        ResumeErrorKind::ResourceChanged,
                        format!(
                            "Content-Encoding {}, expected {}",
                            coding_name(&coding),
                            coding_name(&self.coding)
                        ),
                    ));
                }
                let expected_first = self.position();
                if range.first != expected_first {
                    return Err(bad(format!(
                        "Content-Range starts at {}, expected {expected_first}",
                        range.first
                    )));
                }
                if let Some(complete) = self.span.complete {
                    if range.complete != Some(complete) {
                        return Err(bad(format!(
                            "complete length {:?}, expected {complete}",
                            range.complete
                        )));
                    }
                }
                // Ending before the end asked for is allowed (the rest is
                // asked for when it ends); beyond it, never.
                let span_end = match self.span.end {
                    Some(end) if range.end() > end => {
                        return Err(bad(format!(
                            "Content-Range ends at {}, beyond {}",
                            range.last,
                            end.saturating_sub(1)
                        )));
                    }
                    Some(end) => end,
                    // A `bytes=K-` answered with the complete length: the
                    // body runs to it. Without (`*`), to where this ends.
                    None => range.complete.unwrap_or(range.end()),
                };
                match content_length(headers) {
                    Some(Some(len)) if len != range.len() => {
                        return Err(bad(format!(
                            "Content-Length {len} for a range of {}",
                            range.len()
                        )));
                    }
                    None => return Err(bad("an invalid Content-Length".into())),
                    _ => {}
                }
                if self.span.end.is_none() {
                    self.span.end = Some(span_end);
                    self.span.complete = range.complete;
                }
                self.segment_end = Some(range.end());
                Ok(response.into_body())
            }
            StatusCode::OK => self.check_full(response),
            status if is_retried_status(status) => Err(Failure::Retry {
                error: Box::new(Interruption::ServerStatus(status)),
                retry_after: match status {
                    StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                        retry_after(headers)
                    }
                    _ => None,
                },
            }),
            StatusCode::PRECONDITION_FAILED if self.preconditions => Err(fail(
                ResumeErrorKind::ResourceChanged,
                "the caller's If-Match or If-Unmodified-Since no longer holds".into(),
            )),
            status => Err(Failure::Fatal(
                ResumeError::new(ResumeErrorKind::UnexpectedStatus, offset).with_status(status),
            )),
        }
    }

    /// A `200` to a resume: the server ignored `Range` (same version), or
    /// `If-Range` did not match (the resource changed).
    fn check_full(&mut self, response: Response<InnerBody>) -> Result<InnerBody, Failure> {
        let offset = self.delivered;
        let headers = response.headers();
        let fail = |kind, detail: &str| {
            Failure::Fatal(
                ResumeError::new(kind, offset)
                    .with_status(StatusCode::OK)
                    .with_detail(detail),
            )
        };
        let Some(length) = content_length(headers) else {
            return Err(fail(
                ResumeErrorKind::BadContentRange,
                "an invalid Content-Length",
            ));
        };
        let length = length.or(response.body().size_hint().exact());
        // The caller reads the body with the head it holds: bytes in
        // another coding are another representation, even from scratch.
        if content_coding(headers) != self.coding {
            return Err(fail(
                ResumeErrorKind::ResourceChanged,
                "a full 200 in another Content-Encoding",
            ));
        }
        let same_length = match (self.span.complete, length) {
            (Some(ours), Some(theirs)) => Some(ours == theirs),
            _ => None,
        };
        let same = match self.validator {
            // Without a validator only the length can tell.
            IfRangeValidator::None => same_length,
            _ => match self.validator.compare(headers) {
                Sameness::Same => Some(same_length != Some(false)),
                Sameness::Other | Sameness::Repeated => Some(false),
                Sameness::Unknown => None,
            },
        };
        let from_scratch = offset == 0 && !self.span.partial;
        match same {
            // Nothing delivered and the whole representation again: it is
            // exactly the body still owed.
            Some(true) if from_scratch => {
                self.adopt_full(headers, length);
                Ok(response.into_body())
            }
            Some(true) => Err(fail(
                ResumeErrorKind::RangeIgnored,
                "a full 200 of the same version",
            )),
            None if matches!(self.validator, IfRangeValidator::None) => {
                if from_scratch {
                    self.adopt_full(headers, length);
                    return Ok(response.into_body());
                }
                Err(fail(
                    ResumeErrorKind::RangeIgnored,
                    "a full 200 to a resume without If-Range",
                ))
            }
            _ if from_scratch && self.config.restart_on_change => {
                self.adopt_full(headers, length);
                self.restarts += 1;
                Ok(response.into_body())
            }
            _ => Err(fail(
                ResumeErrorKind::ResourceChanged,
                "If-Range did not match: a full 200 of another version",
            )),
        }
    }

    /// Takes what a `200` that replaces the body from its first byte says:
    /// its validator, length and `Accept-Ranges` (its coding is the one the
    /// caller holds: checked before).
    fn adopt_full(&mut self, headers: &HeaderMap, length: Option<u64>) {
        self.validator = IfRangeValidator::of(headers);
        self.refuses_ranges = refuses_ranges(headers);
        self.span = Span::whole(length);
        self.segment_end = self.span.end;
    }
}

/// A seed for the jitter: the clock, a process-wide counter and an address.
fn seed(address: u64) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    let mut state = nanos ^ count ^ address.rotate_left(32);
    splitmix64(&mut state)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Body for ResumeBody {
    type Data = Bytes;
    type Error = ResumeError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResumeError>>> {
        match &mut self.get_mut().kind {
            Kind::Resuming(resumer) => resumer.poll_frame(cx),
            Kind::Passthrough { body, delivered } => {
                match Pin::new(body.get_mut()).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(data) = frame.data_ref() {
                            *delivered += data.len() as u64;
                        }
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(ResumeError::new(
                        ResumeErrorKind::NotResumable,
                        *delivered,
                    )
                    .with_source(error)))),
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Passthrough { body, .. } => body.with(|body| body.is_end_stream()),
            Kind::Resuming(resumer) => resumer.state.with(|state| match state {
                State::Done => true,
                State::Streaming { body, .. } => {
                    body.is_end_stream() && resumer.remaining().is_none_or(|left| left == 0)
                }
                _ => false,
            }),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Passthrough { body, .. } => body.with(|body| body.size_hint()),
            Kind::Resuming(resumer) => {
                resumer
                    .state
                    .with(|state| match (state, resumer.remaining()) {
                        (State::Done, _) => SizeHint::with_exact(0),
                        (_, Some(remaining)) => SizeHint::with_exact(remaining),
                        (State::Streaming { body, .. }, None) => body.size_hint(),
                        (_, None) => SizeHint::default(),
                    })
            }
        }
    }
}
