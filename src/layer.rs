use tower_layer::Layer;

use crate::plan::Policy;
use crate::RangeService;

/// Adds byte-range support (RFC 9110) to an inner service.
///
/// ```
/// use tower_range::RangeLayer;
///
/// let layer = RangeLayer::new()
///     .max_ranges(50)
///     .buffer_limit(256 * 1024);
/// ```
///
/// See the [crate documentation](crate) for what it does to each response.
#[derive(Clone, Copy, Debug, Default)]
pub struct RangeLayer {
    policy: Policy,
}

impl RangeLayer {
    /// A layer with the default policy (the table in the
    /// [crate documentation](crate)).
    ///
    /// ```
    /// # use futures_util::FutureExt;
    /// # use tower::{ServiceBuilder, ServiceExt};
    /// # use tower_range::RangeLayer;
    /// # let get = |range: &str| http::Request::get("/").header("range", range).body(()).unwrap();
    /// # let hello = tower::service_fn(|_| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello world")))
    /// # });
    /// let service = ServiceBuilder::new().layer(RangeLayer::new()).service(hello);
    /// let response = service.oneshot(get("bytes=6-")).now_or_never().unwrap()?;
    /// assert_eq!(response.status(), 206);
    /// assert_eq!(response.headers()["content-range"], "bytes 6-10/11");
    /// # Ok::<_, std::convert::Infallible>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The most range specs a `Range` header may hold; a header with more
    /// gets the full `200`. The default is 100.
    ///
    /// ```
    /// # use futures_util::FutureExt;
    /// # use tower::{ServiceBuilder, ServiceExt};
    /// # use tower_range::RangeLayer;
    /// # let get = |range: &str| http::Request::get("/").header("range", range).body(()).unwrap();
    /// # let hello = tower::service_fn(|_| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello world")))
    /// # });
    /// let layer = RangeLayer::new().max_ranges(1);
    /// let service = ServiceBuilder::new().layer(layer).service(hello);
    /// let response = service.oneshot(get("bytes=0-1,6-7")).now_or_never().unwrap()?;
    /// assert_eq!(response.status(), 200); // two specs, one allowed
    /// # Ok::<_, std::convert::Infallible>(())
    /// ```
    pub fn max_ranges(mut self, max: usize) -> Self {
        self.policy.max_ranges = max.max(1);
        self
    }

    /// How much larger than the full representation a `multipart/byteranges`
    /// body may be, framing included; past that the full `200` goes out,
    /// since it is smaller and says the same. This stops clients from
    /// amplifying a small resource into a large response. The default is
    /// 1024 bytes.
    ///
    /// ```
    /// # use futures_util::FutureExt;
    /// # use tower::{ServiceBuilder, ServiceExt};
    /// # use tower_range::RangeLayer;
    /// # let get = |range: &str| http::Request::get("/").header("range", range).body(()).unwrap();
    /// # let hello = tower::service_fn(|_| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello world")))
    /// # });
    /// // Two ranges of an 11-byte body: the multipart framing alone is larger.
    /// let layer = RangeLayer::new().multipart_slack(0);
    /// let service = ServiceBuilder::new().layer(layer).service(hello);
    /// let response = service.oneshot(get("bytes=0-1,6-7")).now_or_never().unwrap()?;
    /// assert_eq!(response.status(), 200);
    /// # Ok::<_, std::convert::Infallible>(())
    /// ```
    pub fn multipart_slack(mut self, bytes: u64) -> Self {
        self.policy.multipart_slack = bytes;
        self
    }

    /// Merges requested ranges separated by a gap of at most this many bytes
    /// (RFC 9110 allows it when the gap is smaller than a part's framing).
    /// The client then gets bytes it did not ask for. The default is 0:
    /// only overlapping and adjacent ranges are merged.
    ///
    /// ```
    /// # use futures_util::FutureExt;
    /// # use tower::{ServiceBuilder, ServiceExt};
    /// # use tower_range::RangeLayer;
    /// # let get = |range: &str| http::Request::get("/").header("range", range).body(()).unwrap();
    /// # let hello = tower::service_fn(|_| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello world")))
    /// # });
    /// let layer = RangeLayer::new().merge_gap(8);
    /// let service = ServiceBuilder::new().layer(layer).service(hello);
    /// let response = service.oneshot(get("bytes=0-1,6-7")).now_or_never().unwrap()?;
    /// // The 4-byte gap is bridged: one range, not a multipart.
    /// assert_eq!(response.headers()["content-range"], "bytes 0-7/11");
    /// # Ok::<_, std::convert::Infallible>(())
    /// ```
    pub fn merge_gap(mut self, bytes: u64) -> Self {
        self.policy.merge_gap = bytes;
        self
    }

    /// How many bytes of a body the layer may hold in memory to answer a
    /// range: to learn the length of a body that does not announce it, or to
    /// serve several ranges out of order from a body without a
    /// [`RangeSource`](crate::source::RangeSource). Every such body is read
    /// forward, once, an in-memory `Full<Bytes>` too (for which the bytes
    /// held are its own frame, not a copy): the decision is made before
    /// reading, from the last byte the ranges need, so that `HEAD` and `GET`
    /// agree. Past the limit the full `200` goes out, with every byte. The
    /// default is 1 MiB.
    ///
    /// ```
    /// use tower_range::RangeLayer;
    ///
    /// // Hold at most 64 KiB per response; larger unknown-length bodies go
    /// // out whole, as a 200.
    /// let layer = RangeLayer::new().buffer_limit(64 * 1024);
    /// assert_ne!(layer.policy(), RangeLayer::new().policy());
    /// ```
    pub fn buffer_limit(mut self, bytes: usize) -> Self {
        self.policy.buffer_limit = bytes;
        self
    }

    /// Whether to evaluate `If-Match`, `If-None-Match`, `If-Modified-Since`
    /// and `If-Unmodified-Since` (answering `412` and `304`) on `GET` and
    /// `HEAD`. Turn it off when the inner service does it already. The
    /// default is `true`.
    ///
    /// ```
    /// # use futures_util::FutureExt;
    /// # use tower::{ServiceBuilder, ServiceExt};
    /// # use tower_range::RangeLayer;
    /// # let get = |range: &str| http::Request::get("/").header("range", range).body(()).unwrap();
    /// # let hello = tower::service_fn(|_| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello world")))
    /// # });
    /// # let get_if = |tag: &str| http::Request::get("/").header("if-match", tag).body(()).unwrap();
    /// let layer = RangeLayer::new().preconditions(false);
    /// let service = ServiceBuilder::new().layer(layer).service(hello);
    /// // The response has no ETag, so `If-Match` would fail with 412; off, it is not looked at.
    /// let response = service.oneshot(get_if("\"v1\"")).now_or_never().unwrap()?;
    /// assert_eq!(response.status(), 200);
    /// # Ok::<_, std::convert::Infallible>(())
    /// ```
    pub fn preconditions(mut self, enabled: bool) -> Self {
        self.policy.preconditions = enabled;
        self
    }

    /// Gives a `200` without an `ETag` a strong one derived from its content
    /// (xxh3-128), so that `If-Range`, `If-None-Match` and `If-Match` work
    /// for APIs that have no validators of their own, and every replica
    /// behind a load balancer agrees on it.
    ///
    /// Only `GET` responses whose body has a known length (`Content-Length`
    /// or an exact size hint: buffered bodies such as `String`, `Vec<u8>`,
    /// `Bytes`) of at most `max_bytes` are hashed; a `HEAD` has no body to
    /// hash, and seekable sources are never read whole for this. The body
    /// is buffered and hashed once per response before its headers go out
    /// (xxh3-128 runs at about 25 GiB/s here). Other bodies go out as they
    /// are, without an `ETag`. Off by default.
    ///
    /// ```
    /// use tower_range::RangeLayer;
    /// let layer = RangeLayer::new().content_etag(8 * 1024 * 1024);
    /// ```
    #[cfg(feature = "content-etag")]
    #[cfg_attr(docsrs, doc(cfg(feature = "content-etag")))]
    pub fn content_etag(mut self, max_bytes: usize) -> Self {
        self.policy.content_etag = Some(max_bytes);
        self
    }

    /// The policy the builder methods set, for the pure functions of
    /// [`plan`](crate::plan).
    ///
    /// ```
    /// use tower_range::{plan::Policy, RangeLayer};
    /// assert_eq!(*RangeLayer::new().policy(), Policy::default());
    /// assert_ne!(*RangeLayer::new().merge_gap(80).policy(), Policy::default());
    /// ```
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl<S> Layer<S> for RangeLayer {
    type Service = RangeService<S>;

    fn layer(&self, inner: S) -> RangeService<S> {
        RangeService::with_policy(inner, self.policy)
    }
}
