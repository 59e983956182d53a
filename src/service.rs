use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::plan::{Conditions, Policy};
use crate::trace;
use crate::{BoxError, RangeBody, RangeLayer};

/// Middleware that answers `Range` requests from the responses of an inner
/// service. Built by [`RangeLayer`].
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use tower_range::RangeService;
/// use tower_service::Service;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let inner = tower::service_fn(|_req: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"hello world"))))
/// });
/// let mut service = RangeService::new(inner);
/// let response = service
///     .call(Request::get("/").header("range", "bytes=6-").body(())?)
///     .await?;
/// assert_eq!(response.status(), 206);
/// assert_eq!(response.headers()["content-range"], "bytes 6-10/11");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RangeService<S> {
    inner: S,
    policy: Policy,
}

impl<S> RangeService<S> {
    /// Wraps `inner` with the default policy; [`RangeLayer`] sets another.
    ///
    /// ```
    /// use tower_range::RangeService;
    /// let service = RangeService::new(42);
    /// assert_eq!(*service.get_ref(), 42);
    /// ```
    pub fn new(inner: S) -> Self {
        Self::with_policy(inner, Policy::default())
    }

    pub(crate) fn with_policy(inner: S, policy: Policy) -> Self {
        RangeService { inner, policy }
    }

    /// A [`RangeLayer`], to configure and apply.
    ///
    /// ```
    /// use tower_layer::Layer;
    /// use tower_range::RangeService;
    /// let service = RangeService::<()>::layer().max_ranges(10).layer(7);
    /// assert_eq!(service.into_inner(), 7);
    /// ```
    pub fn layer() -> RangeLayer {
        RangeLayer::new()
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_range::RangeService;
    /// assert_eq!(*RangeService::new("inner").get_ref(), "inner");
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_range::RangeService;
    /// let mut service = RangeService::new(1);
    /// *service.get_mut() += 1;
    /// assert_eq!(service.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// # use tower_range::RangeService;
    /// assert_eq!(RangeService::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RangeService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<RangeBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let conditions = Conditions::capture(request.method(), request.headers());
        let trace = trace::Request::new(request.method());
        ResponseFuture::new(self.inner.call(request), conditions, self.policy, trace)
    }
}
