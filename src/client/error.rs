//! The errors of [`ResumeBody`](super::ResumeBody), and what a retry looks
//! like to the [`on_retry`](super::ResumeLayer::on_retry) callback.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::BoxError;

/// Why a [`ResumeBody`](super::ResumeBody) ended with an error.
///
/// In every case the bytes the caller already received are a correct
/// prefix of one version of the resource: the body never hands out bytes of
/// two versions.
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
/// #     reply(206, &[("etag", "\"v1\""), ("content-range", "bytes 0-10/11")], "hello world", "end"),
/// # ]);
/// use tower::{Layer, ServiceExt};
/// use tower_range::client::{ResumeErrorKind, ResumeLayer};
///
/// let mut body = ResumeLayer::new().layer(server).oneshot(get()).await?.into_body();
/// // "hello", a reset, and the resume is answered from byte 0 instead of 5.
/// let error = (&mut body).collect().await.unwrap_err();
/// assert_eq!(error.kind(), ResumeErrorKind::BadContentRange);
/// assert_eq!(body.delivered(), 5); // the caller never sees "hello" twice
/// # Ok::<_, tower_range::BoxError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResumeErrorKind {
    /// The resource changed since the first response: a resume with
    /// `If-Range` was answered with a full `200` carrying another validator,
    /// the `206` carried another validator or another `Content-Encoding`
    /// (a different representation), or a `412` answered the caller's own
    /// `If-Match` / `If-Unmodified-Since`.
    ResourceChanged,
    /// The body failed, and the first response had neither a strong `ETag`
    /// nor a strong `Last-Modified`, so a resume could not be checked; see
    /// [`ResumeLayer::resume_without_validator`](super::ResumeLayer::resume_without_validator).
    NoValidator,
    /// The server does not honor ranges: it said `Accept-Ranges: none`, or
    /// answered a resume with a full `200` for the same version (or, without
    /// `If-Range`, with any `200`).
    RangeIgnored,
    /// A resumed `206` was not the expected continuation: a `Content-Range`
    /// that is missing, malformed, starts elsewhere, ends beyond the end
    /// asked for, or names another complete length; a `Content-Length`
    /// that disagrees with it; several lines of the validator's field
    /// (`ETag`, or `Last-Modified` when the body resumes with a date); a
    /// `multipart/byteranges` answer; or more bytes than announced. (A
    /// `206` that ends *before* the end asked for is a continuation: see
    /// [`Interruption::ShortRange`].)
    BadContentRange,
    /// A resume was answered with a status that is neither `206`, `200`,
    /// nor retried (`408`, `429`, `5xx`): `416`, `404`, `304`, `501`,
    /// `505`, a `412` to no precondition of the caller's, ...; see
    /// [`ResumeError::status`].
    UnexpectedStatus,
    /// The body failed again after
    /// [`max_attempts`](super::ResumeLayer::max_attempts) resumes in a row
    /// without progress, or needed a resume past
    /// [`max_resumes`](super::ResumeLayer::max_resumes) in all; the source
    /// is the last failure, if there was one.
    AttemptsExhausted,
    /// The body failed with an error that
    /// [`retry_if`](super::ResumeLayer::retry_if) declined to retry; the
    /// source is that error.
    NotRetried,
    /// The body failed and the response is not one the layer resumes (not
    /// a `GET`, another status, a multi-range or suffix request); the source
    /// is the underlying error.
    NotResumable,
}

impl ResumeErrorKind {
    /// A stable, lowercase name for logs and metrics.
    ///
    /// ```
    /// use tower_range::client::ResumeErrorKind;
    /// assert_eq!(ResumeErrorKind::ResourceChanged.as_str(), "resource_changed");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::ResourceChanged => "resource_changed",
            Self::NoValidator => "no_validator",
            Self::RangeIgnored => "range_ignored",
            Self::BadContentRange => "bad_content_range",
            Self::UnexpectedStatus => "unexpected_status",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::NotRetried => "not_retried",
            Self::NotResumable => "not_resumable",
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Self::ResourceChanged => "the resource changed during the download",
            Self::NoValidator => {
                "the body failed and the response has no strong validator to resume safely"
            }
            Self::RangeIgnored => "the server does not honor ranges",
            Self::BadContentRange => "the resumed response is not the expected continuation",
            Self::UnexpectedStatus => "unexpected status on resume",
            Self::AttemptsExhausted => "resume attempts exhausted",
            Self::NotRetried => "the body failed with an error that is not retried",
            Self::NotResumable => "the body failed and the response is not resumable",
        }
    }
}

impl fmt::Display for ResumeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a [`ResumeBody`](super::ResumeBody): what went wrong
/// ([`kind`](Self::kind)), after how many bytes ([`offset`](Self::offset)),
/// and the underlying error as [`source`](std::error::Error::source) when
/// there is one.
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
/// # ]);
/// use std::error::Error as _;
/// use tower::{Layer, ServiceExt};
/// use tower_range::client::{ResumeErrorKind, ResumeLayer};
///
/// // No `ETag`, no `Last-Modified`, and a reset after "hello".
/// let body = ResumeLayer::new().layer(server).oneshot(get()).await?.into_body();
/// let error = body.collect().await.unwrap_err();
/// assert_eq!(error.kind(), ResumeErrorKind::NoValidator);
/// let message = "the body failed and the response has no strong validator to resume safely";
/// assert_eq!(error.to_string(), format!("{message}, after 5 bytes"));
/// assert_eq!(error.source().map(|reset| reset.to_string()).as_deref(), Some("connection reset"));
/// # Ok::<_, tower_range::BoxError>(())
/// # }).unwrap();
/// ```
pub struct ResumeError {
    kind: ResumeErrorKind,
    offset: u64,
    status: Option<StatusCode>,
    detail: Option<String>,
    source: Option<BoxError>,
}

impl ResumeError {
    pub(crate) fn new(kind: ResumeErrorKind, offset: u64) -> Self {
        Self {
            kind,
            offset,
            status: None,
            detail: None,
            source: None,
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn with_source(mut self, source: BoxError) -> Self {
        self.source = Some(source);
        self
    }

    /// What went wrong.
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
    /// #     reply(200, &[("etag", "\"v1\""), ("content-length", "11"), ("accept-ranges", "none")], "hello", "reset"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{ResumeErrorKind, ResumeLayer};
    ///
    /// // `Accept-Ranges: none`, then a reset after "hello": no resume is tried.
    /// let body = ResumeLayer::new().layer(server).oneshot(get()).await?.into_body();
    /// let error = body.collect().await.unwrap_err();
    /// assert_eq!(error.kind(), ResumeErrorKind::RangeIgnored);
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn kind(&self) -> ResumeErrorKind {
        self.kind
    }

    /// How many body bytes the caller received before the error. They are
    /// a correct prefix of the representation (of the caller's range, when
    /// it sent one).
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
    /// #     reply(200, &[("etag", "\"v2\""), ("content-length", "11")], "new version", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{ResumeErrorKind, ResumeLayer};
    ///
    /// let mut body = ResumeLayer::new().layer(server).oneshot(get()).await?.into_body();
    /// let hello = body.frame().await.transpose()?.and_then(|frame| frame.into_data().ok());
    /// let error = (&mut body).collect().await.unwrap_err(); // the file changed meanwhile
    /// assert_eq!((error.kind(), error.offset()), (ResumeErrorKind::ResourceChanged, 5));
    /// assert_eq!(hello.as_deref(), Some(&b"hello"[..])); // a prefix of the old version
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The status of the response that ended the body, when a response did
    /// (a `200` for [`ResourceChanged`](ResumeErrorKind::ResourceChanged),
    /// a `416` for [`UnexpectedStatus`](ResumeErrorKind::UnexpectedStatus)).
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
    /// #     reply(416, &[("content-range", "bytes */11")], "", "end"),
    /// # ]);
    /// use tower::{Layer, ServiceExt};
    /// use tower_range::client::{ResumeErrorKind, ResumeLayer};
    ///
    /// // A reset after "hello", and the resume is answered `416`.
    /// let body = ResumeLayer::new().layer(server).oneshot(get()).await?.into_body();
    /// let error = body.collect().await.unwrap_err();
    /// assert_eq!(error.kind(), ResumeErrorKind::UnexpectedStatus);
    /// assert_eq!(error.status(), Some(StatusCode::RANGE_NOT_SATISFIABLE));
    /// # Ok::<_, tower_range::BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(status) = self.status {
            write!(f, " (status {status})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        write!(f, ", after {} bytes", self.offset)
    }
}

impl fmt::Debug for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumeError")
            .field("kind", &self.kind)
            .field("offset", &self.offset)
            .field("status", &self.status)
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for ResumeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// A failure of an attempt that is not an error of the underlying body:
/// the layer's own reasons to resume. [`retry_if`](super::ResumeLayer::retry_if)
/// predicates and [`on_retry`](super::ResumeLayer::on_retry) callbacks can
/// downcast to it. ([`ShortRange`](Self::ShortRange) is no failure: only
/// `on_retry` sees it.)
///
/// ```
/// use tower_range::client::{Interruption, ResumeLayer};
///
/// // Resume after stalls and early ends, but not after transport errors.
/// let layer = ResumeLayer::new().retry_if(|error| error.is::<Interruption>());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interruption {
    /// No frame (or no response head) arrived for this long.
    IdleTimeout(Duration),
    /// The body ended cleanly with fewer bytes than its `Content-Length`
    /// or `Content-Range` announced.
    EarlyEnd {
        /// Bytes the body should have had at the end of that response,
        /// from the first byte asked for.
        expected: u64,
        /// Bytes it had.
        received: u64,
    },
    /// A resume was answered with a status that is retried: `408`, `429`
    /// or a server error other than `501` and `505`.
    ServerStatus(StatusCode),
    /// Not a failure: a resume was answered with a `206` that ends, as its
    /// `Content-Range` says, before the end asked for (RFC 9110 lets a
    /// server send less). Its bytes were taken; the rest is asked for at
    /// once, with no backoff, and counted against
    /// [`max_resumes`](super::ResumeLayer::max_resumes), not
    /// [`max_attempts`](super::ResumeLayer::max_attempts).
    /// [`retry_if`](super::ResumeLayer::retry_if) is not asked.
    ShortRange {
        /// Bytes the body should have in all, from the first byte asked for.
        expected: u64,
        /// Bytes it has so far.
        received: u64,
    },
}

impl fmt::Display for Interruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IdleTimeout(timeout) => write!(f, "no data for {timeout:?}"),
            Self::EarlyEnd { expected, received } => {
                write!(f, "the body ended after {received} of {expected} bytes")
            }
            Self::ServerStatus(status) => write!(f, "the server answered {status}"),
            Self::ShortRange { expected, received } => write!(
                f,
                "the server sent a shorter range: {received} of {expected} bytes so far"
            ),
        }
    }
}

impl std::error::Error for Interruption {}

/// One resume, as the [`on_retry`](super::ResumeLayer::on_retry) callback
/// sees it, before the backoff delay starts.
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
/// use tower_range::client::{ResumeLayer, Retry};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let lines = log.clone();
/// let client = ResumeLayer::new()
///     .on_retry(move |retry: &Retry<'_>| {
///         let line = format!("resume {} at byte {}: {}", retry.attempt, retry.offset, retry.error);
///         lines.lock().unwrap().push(line);
///     })
///     .layer(server);
/// client.oneshot(get()).await?.into_body().collect().await?;
/// assert_eq!(*log.lock().unwrap(), ["resume 1 at byte 5: connection reset"]);
/// # Ok::<_, tower_range::BoxError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Retry<'a> {
    /// Which resume this is for the body, of all its resumes (see
    /// [`max_resumes`](super::ResumeLayer::max_resumes)): 1 for the first.
    pub attempt: u32,
    /// Bytes the caller has received; the resume asks for the rest.
    pub offset: u64,
    /// How long the layer waits before sending the resume: zero for the
    /// rest of a shorter `206`.
    pub delay: Duration,
    /// The failure that ended the previous attempt, or
    /// [`Interruption::ShortRange`] when it ended as announced, short.
    pub error: &'a (dyn std::error::Error + Send + Sync + 'static),
}
