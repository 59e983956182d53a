use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Method, Request, Response, Version};
use http_body_util::BodyExt;
use tower_service::Service;

use super::body::{InnerBody, RequestPlan, ResumeBody};
use super::layer::Config;
use crate::header::{parse_range, RangeSpec};
use crate::BoxError;

/// The service made by a [`ResumeLayer`](super::ResumeLayer): it sends the
/// request through the inner client service and hands back a response whose
/// [`ResumeBody`] resumes after failures.
///
/// Without the layer:
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
/// use tower::ServiceExt;
/// use tower_range::client::ResumeService;
///
/// let client = ResumeService::new(server); // as `ResumeLayer::new().layer(server)`
/// let body = client.oneshot(get()).await?.into_body().collect().await?.to_bytes();
/// assert_eq!(body, "hello world"); // a reset after "hello", then a resume
/// # Ok::<_, tower_range::BoxError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct ResumeService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ResumeService<S> {
    /// Wraps `inner` with the defaults of [`ResumeLayer::new`](super::ResumeLayer::new).
    ///
    /// ```
    /// use tower_range::client::ResumeService;
    /// let service = ResumeService::new(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
    /// }));
    /// ```
    pub fn new(inner: S) -> Self {
        Self::with_config(inner, Arc::new(Config::default()))
    }

    pub(crate) fn with_config(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    ///
    /// ```
    /// # #[derive(Clone, Debug, PartialEq)]
    /// # struct HttpClient { user_agent: &'static str }
    /// use tower_range::client::ResumeService;
    ///
    /// let service = ResumeService::new(HttpClient { user_agent: "fetch/1.0" });
    /// assert_eq!(service.get_ref().user_agent, "fetch/1.0");
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # #[derive(Clone, Debug, PartialEq)]
    /// # struct HttpClient { user_agent: &'static str }
    /// use tower_range::client::ResumeService;
    ///
    /// let mut service = ResumeService::new(HttpClient { user_agent: "fetch/1.0" });
    /// service.get_mut().user_agent = "fetch/2.0";
    /// assert_eq!(service.get_ref().user_agent, "fetch/2.0");
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// # #[derive(Clone, Debug, PartialEq)]
    /// # struct HttpClient { user_agent: &'static str }
    /// use tower_range::client::ResumeService;
    ///
    /// let service = ResumeService::new(HttpClient { user_agent: "fetch/1.0" });
    /// assert_eq!(service.into_inner(), HttpClient { user_agent: "fetch/1.0" });
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for ResumeService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumeService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

/// The future of [`ResumeService`]: the inner service's response, its body
/// wrapped in a [`ResumeBody`].
pub struct ResponseFuture {
    future: Pin<Box<dyn Future<Output = Result<Response<ResumeBody>, BoxError>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResumeBody>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ResumeService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqB: Default + Send + 'static,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<ResumeBody>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> ResponseFuture {
        let plan = request_plan(&request);
        let resend = plan.as_ref().map(|_| {
            Box::new(Resender {
                service: self.inner.clone(),
                template: Template::new(&request),
                _body: PhantomData,
            }) as Box<dyn Resend>
        });
        // The ready service answers this request; a clone stays behind.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let future = ready.call(request);
        let config = self.config.clone();
        ResponseFuture {
            future: Box::pin(async move {
                let response = future.await.map_err(Into::into)?;
                let response = response.map(box_body);
                Ok(ResumeBody::wrap(response, plan.zip(resend), config))
            }),
        }
    }
}

fn box_body<B>(body: B) -> InnerBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// What the request allows: `None` when its responses are never resumed.
fn request_plan<B>(request: &Request<B>) -> Option<RequestPlan> {
    if request.method() != Method::GET {
        return None;
    }
    let headers = request.headers();
    let mut ranges = headers.get_all(header::RANGE).iter();
    let caller_range = match (ranges.next(), ranges.next()) {
        (Some(value), None) => match parse_range(value.as_bytes(), 2) {
            Ok(set) if set.len() == 1 => match set.iter().next() {
                Some(RangeSpec::Bounded { first, last }) => Some((first, Some(last))),
                Some(RangeSpec::From { first }) => Some((first, None)),
                // A suffix request: the continuation cannot be named
                // before the length is known. Its 206 is not resumed.
                _ => None,
            },
            // Several ranges or an invalid header: a 206 answer is not
            // resumed, a 200 (the server ignored it) is.
            _ => None,
        },
        // No range, or several lines: only a 200 is resumed.
        _ => None,
    };
    Some(RequestPlan {
        caller_range,
        preconditions: headers.contains_key(header::IF_MATCH)
            || headers.contains_key(header::IF_UNMODIFIED_SINCE),
    })
}

/// The parts of the original request a resume is built from: all of it
/// but its body, its body's headers and its `Range`/`If-Range`.
struct Template {
    method: Method,
    uri: http::Uri,
    version: Version,
    headers: http::HeaderMap,
    extensions: http::Extensions,
}

impl Template {
    fn new<B>(request: &Request<B>) -> Self {
        let mut headers = request.headers().clone();
        // A resume sends its own `Range` and `If-Range`.
        headers.remove(header::RANGE);
        headers.remove(header::IF_RANGE);
        // Its body is empty (`ReqB::default()`): the caller's body headers
        // would announce one that is not there.
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
        headers.remove(header::EXPECT);
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers,
            extensions: request.extensions().clone(),
        }
    }
}

pub(crate) type ResendFuture =
    Pin<Box<dyn Future<Output = Result<Response<InnerBody>, BoxError>> + Send>>;

/// Sends a resume: the original request with other `Range`/`If-Range`.
pub(crate) trait Resend: Send {
    fn send(
        &mut self,
        range: http::HeaderValue,
        if_range: Option<http::HeaderValue>,
    ) -> ResendFuture;
}

struct Resender<S, ReqB> {
    service: S,
    template: Template,
    _body: PhantomData<fn() -> ReqB>,
}

impl<S, ReqB, ResB> Resend for Resender<S, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqB: Default + Send + 'static,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    fn send(
        &mut self,
        range: http::HeaderValue,
        if_range: Option<http::HeaderValue>,
    ) -> ResendFuture {
        let template = &self.template;
        let mut request = Request::new(ReqB::default());
        *request.method_mut() = template.method.clone();
        *request.uri_mut() = template.uri.clone();
        *request.version_mut() = template.version;
        *request.headers_mut() = template.headers.clone();
        *request.extensions_mut() = template.extensions.clone();
        request.headers_mut().insert(header::RANGE, range);
        if let Some(if_range) = if_range {
            request.headers_mut().insert(header::IF_RANGE, if_range);
        }
        let mut service = self.service.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let response = service.call(request).await.map_err(Into::into)?;
            Ok(response.map(box_body))
        })
    }
}
