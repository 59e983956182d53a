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
    /// A layer with the default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most range specs a `Range` header may hold; a header with more
    /// gets the full `200`. The default is 100.
    pub fn max_ranges(mut self, max: usize) -> Self {
        self.policy.max_ranges = max.max(1);
        self
    }

    /// How much larger than the full representation a `multipart/byteranges`
    /// body may be, framing included; past that the full `200` goes out,
    /// since it is smaller and says the same. This stops clients from
    /// amplifying a small resource into a large response. The default is
    /// 1024 bytes.
    pub fn multipart_slack(mut self, bytes: u64) -> Self {
        self.policy.multipart_slack = bytes;
        self
    }

    /// Merges requested ranges separated by a gap of at most this many bytes
    /// (RFC 9110 allows it when the gap is smaller than a part's framing).
    /// The client then gets bytes it did not ask for. The default is 0:
    /// only overlapping and adjacent ranges are merged.
    pub fn merge_gap(mut self, bytes: u64) -> Self {
        self.policy.merge_gap = bytes;
        self
    }

    /// How many bytes of a body the layer may hold in memory to answer a
    /// range: to learn the length of a body that does not announce it, or to
    /// serve several ranges out of order from a body that can only be read
    /// once. Past the limit the full `200` goes out, with every byte. The
    /// default is 1 MiB.
    pub fn buffer_limit(mut self, bytes: usize) -> Self {
        self.policy.buffer_limit = bytes;
        self
    }

    /// Whether to evaluate `If-Match`, `If-None-Match`, `If-Modified-Since`
    /// and `If-Unmodified-Since` (answering `412` and `304`) on `GET` and
    /// `HEAD`. Turn it off when the inner service does it already. The
    /// default is `true`.
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
