//! [`EncodingTagLayer`]: one entity tag per content coding, so that a range
//! never splices two encodings.
//!
//! A compression layer outside [`RangeLayer`](crate::RangeLayer) compresses
//! the full `200` and leaves the `206` alone: ranges address the identity
//! bytes. But the compressed `200` keeps the identity `ETag`, so a client
//! cut off in a gzip `200` could resume with `If-Range: "abc"` and
//! `Range: bytes=N-` and get identity bytes at an identity offset, glued to
//! gzip bytes. RFC 9110 §8.8.3 says a different content coding is a
//! different representation, with a different entity tag.
//! [`EncodingTagLayer`], placed outside the compression layer, gives it one:
//!
//! | where | what it does |
//! |---|---|
//! | response with a `Content-Encoding` other than `identity`, except a `304` (which is re-tagged as in the `If-None-Match` row, whatever it says of its encoding) | `ETag: "abc"` becomes `"abc-gzip"` (`W/"abc"` becomes `W/"abc-gzip"`); an `ETag` that is not exactly one entity tag is removed; a `2xx` other than `206` says `Accept-Ranges: none`; `Vary: Accept-Encoding` is added when missing |
//! | `If-Range` with an entity tag | untouched: `"abc-gzip"` never matches the identity `"abc"` inside, so the resume gets the full `200` |
//! | `If-Range` with a date (or anything but one entity tag), when `Accept-Encoding` allows a coding | `Range` and `If-Range` are removed, so the resume gets the full (compressed) `200`: `Last-Modified` is the same for every coding, so a date cannot tell them apart |
//! | `If-None-Match` | the identity `"abc"` is added after the one `"abc-<coding>"` whose coding the `200` would have (see below), so the layers inside answer `304` for that cached copy; the `304` then carries `"abc-<coding>"` again, and `Vary: Accept-Encoding` |
//! | `If-Match`, request without `Range` | the same: a `GET` or a `PUT` conditional on the gzip copy passes for a client that would get gzip |
//! | `If-Match`, request with `Range` | untouched: `"abc-gzip"` fails (`412`), as a range of the gzip bytes cannot be served |
//!
//! `Accept-Encoding` allows a coding when it lists one other than
//! `identity`, or `*`, with a q-value above 0 or an unreadable one; without
//! `Accept-Encoding`, or with `identity` alone, `If-Range` dates keep working.
//!
//! The coding the `200` would have is predicted the way tower-http's
//! `CompressionLayer` chooses: a suffixed tag counts when every coding of
//! its suffix has a q-value above 0 (its own, else that of `*`); the
//! highest q-value wins, and among equal ones `zstd`, then `br`, `gzip`,
//! `deflate`. When the tie cannot be settled that way (stacked codings,
//! `compress`), or when any readable element of `Accept-Encoding`
//! (`identity`, `*`, a coding the client sent no tag for) has a higher
//! q-value than the winner, no identity tag is added: the client gets a `200`, which is
//! always safe, where a `304` could name the wrong copy. A suffixed tag
//! proves the server made that coding, so a client listing
//! `gzip, br` with only `"abc-gzip"` still gets its `304` from a server
//! that only makes gzip.
//!
//! A tag-list header with more than 64 suffixed tags (over all its lines)
//! is left as the client sent it: matching them against each other costs
//! the square of their number, and no client holds that many copies. It
//! can cost a `304` (or fail an `If-Match`), never a splice.
//!
//! Suffixes are recognized on requests only for `gzip`, `br`, `zstd`,
//! `deflate` and `compress` (stacked codings are joined with `+`); a tag
//! with another suffix is left as the client sent it, which can cost a
//! `304` but never splices. A `Content-Encoding` that is not a list of
//! tokens makes the layer drop the `ETag`: no validator is safer than a
//! wrong one.
//!
//! Content that the inner service serves already encoded (precompressed
//! files with their own `ETag`) gets the suffix too, and its `If-Range`
//! resumes then get the full `200`: correct, but not resumable. Keep such
//! routes outside this layer.
//!
//! ```
//! use tower::ServiceBuilder;
//! use tower_http::compression::CompressionLayer;
//! use tower_range::{EncodingTagLayer, RangeLayer};
//! # let handler = tower::service_fn(|_: http::Request<()>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! # });
//!
//! let service = ServiceBuilder::new()
//!     .layer(EncodingTagLayer::new()) // outermost: sees the compressed response
//!     .layer(CompressionLayer::new())
//!     .layer(RangeLayer::new())
//!     .service(handler);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::header::single_value;

/// The content codings whose tag suffix is recognized on requests.
const KNOWN_CODINGS: [&[u8]; 5] = [b"gzip", b"br", b"zstd", b"deflate", b"compress"];

/// A tag-list header with more suffixed tags than this (over all its
/// lines) is left as sent: matching them against each other costs the
/// square of their number, and no client holds that many copies.
const MAX_SUFFIXED_TAGS: usize = 64;

/// Gives each content coding of a response its own entity tag. See the
/// [module documentation](self) for the rules.
///
/// ```
/// use http::{header, Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_range::EncodingTagLayer;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // An inner service that answers with a gzip-encoded 200.
/// let service = ServiceBuilder::new()
///     .layer(EncodingTagLayer::new())
///     .service_fn(|_: Request<()>| async {
///         let response = Response::builder()
///             .header(header::ETAG, "\"abc\"")
///             .header(header::CONTENT_ENCODING, "gzip")
///             .body(())?;
///         Ok::<_, http::Error>(response)
///     });
/// let response = futures_util::FutureExt::now_or_never(service.oneshot(Request::new(())))
///     .expect("always ready")?;
/// assert_eq!(response.headers()[header::ETAG], "\"abc-gzip\"");
/// assert_eq!(response.headers()[header::ACCEPT_RANGES], "none");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct EncodingTagLayer {
    _private: (),
}

impl EncodingTagLayer {
    /// The layer; it has no settings.
    ///
    /// ```
    /// use tower_layer::Layer;
    /// use tower_range::EncodingTagLayer;
    ///
    /// let service = EncodingTagLayer::new().layer(tower::service_fn(|req: http::Request<()>| async move {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
    /// }));
    /// # let _ = service;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for EncodingTagLayer {
    type Service = EncodingTagService<S>;

    fn layer(&self, inner: S) -> EncodingTagService<S> {
        EncodingTagService::new(inner)
    }
}

/// Middleware that gives each content coding its own entity tag. Built by
/// [`EncodingTagLayer`].
///
/// ```
/// use tower_range::encoding::EncodingTagService;
///
/// let inner = tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// let service = EncodingTagService::new(inner);
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct EncodingTagService<S> {
    inner: S,
}

impl<S> EncodingTagService<S> {
    /// Wraps `inner`.
    ///
    /// ```
    /// use tower_range::encoding::EncodingTagService;
    /// let service = EncodingTagService::new(42);
    /// assert_eq!(*service.get_ref(), 42);
    /// ```
    pub fn new(inner: S) -> Self {
        EncodingTagService { inner }
    }

    /// An [`EncodingTagLayer`], to apply.
    ///
    /// ```
    /// use tower_layer::Layer;
    /// use tower_range::encoding::EncodingTagService;
    /// let service = EncodingTagService::<()>::layer().layer(7);
    /// assert_eq!(service.into_inner(), 7);
    /// ```
    pub fn layer() -> EncodingTagLayer {
        EncodingTagLayer::new()
    }

    /// The inner service.
    ///
    /// ```
    /// # use tower_range::encoding::EncodingTagService;
    /// assert_eq!(*EncodingTagService::new("inner").get_ref(), "inner");
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use tower_range::encoding::EncodingTagService;
    /// let mut service = EncodingTagService::new(1);
    /// *service.get_mut() += 1;
    /// assert_eq!(service.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// # use tower_range::encoding::EncodingTagService;
    /// assert_eq!(EncodingTagService::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for EncodingTagService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let retag = untag_request(request.headers_mut());
        ResponseFuture {
            inner: self.inner.call(request),
            retag,
        }
    }
}

pin_project! {
    /// Response future of [`EncodingTagService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // For each identity tag added to `If-None-Match`: (identity opaque
        // part, suffixed opaque part it stands for). A `304` for the first
        // names the second again.
        retag: Vec<(Vec<u8>, Vec<u8>)>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        tag_response(response.status(), response.headers_mut(), this.retag);
        Poll::Ready(Ok(response))
    }
}

/// Rewrites a response head: suffixes the `ETag` of an encoded response,
/// or gives a `304` back the suffixed tag the client sent.
fn tag_response(status: StatusCode, headers: &mut HeaderMap, retag: &[(Vec<u8>, Vec<u8>)]) {
    if status == StatusCode::NOT_MODIFIED {
        retag_not_modified(headers, retag);
        return;
    }
    let suffix = match coding_suffix(headers) {
        Coding::Identity => return,
        Coding::Unnamable => None,
        Coding::Named(suffix) => Some(suffix),
    };
    let tagged = suffix.and_then(|suffix| {
        single_value(headers, &header::ETAG).and_then(|etag| with_suffix(etag, &suffix))
    });
    // An encoded response keeps no identity tag: a suffixed one, or none.
    match tagged {
        Some(tagged) => {
            headers.insert(header::ETAG, tagged);
        }
        None => {
            headers.remove(header::ETAG);
        }
    }
    if status.is_success() && status != StatusCode::PARTIAL_CONTENT {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    }
    vary_on_accept_encoding(headers);
}

/// Appends `Vary: accept-encoding` unless `Vary` already names it (or is `*`).
fn vary_on_accept_encoding(headers: &mut HeaderMap) {
    let varies = headers.get_all(header::VARY).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .map(trim_ows)
            .any(|name| name == b"*" || name.eq_ignore_ascii_case(b"accept-encoding"))
    });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// The content coding of a response, as a tag suffix.
#[derive(Debug, PartialEq, Eq)]
enum Coding {
    /// No `Content-Encoding`, or only `identity`.
    Identity,
    /// The codings, lowercase, joined with `+` (`gzip`, `gzip+br`).
    Named(Vec<u8>),
    /// A `Content-Encoding` that is not a list of tokens.
    Unnamable,
}

fn coding_suffix(headers: &HeaderMap) -> Coding {
    let mut suffix = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        for coding in value.as_bytes().split(|&b| b == b',').map(trim_ows) {
            if coding.is_empty() || coding.eq_ignore_ascii_case(b"identity") {
                continue;
            }
            if !coding.iter().all(|&b| is_tchar(b)) {
                return Coding::Unnamable;
            }
            // RFC 9110 §8.4.1: x-gzip and x-compress are gzip and compress.
            let coding = if coding.eq_ignore_ascii_case(b"x-gzip") {
                &b"gzip"[..]
            } else if coding.eq_ignore_ascii_case(b"x-compress") {
                &b"compress"[..]
            } else {
                coding
            };
            if !suffix.is_empty() {
                suffix.push(b'+');
            }
            suffix.extend(coding.iter().map(u8::to_ascii_lowercase));
        }
    }
    if suffix.is_empty() {
        Coding::Identity
    } else {
        Coding::Named(suffix)
    }
}

/// `"abc"` → `"abc-gzip"`, `W/"abc"` → `W/"abc-gzip"`; `None` when the
/// value is not exactly one entity tag.
fn with_suffix(etag: &HeaderValue, suffix: &[u8]) -> Option<HeaderValue> {
    let (weak, opaque, rest) = split_tag(trim_ows(etag.as_bytes()))?;
    if !rest.is_empty() {
        return None;
    }
    Some(quoted(weak, &[opaque, b"-", suffix]))
}

/// Builds `[W/]"<pieces>"`. The pieces come from a valid header value and
/// tokens, so the result is a valid header value.
fn quoted(weak: bool, pieces: &[&[u8]]) -> HeaderValue {
    let len = pieces.iter().map(|piece| piece.len()).sum::<usize>() + 4;
    let mut out = Vec::with_capacity(len);
    if weak {
        out.extend_from_slice(b"W/");
    }
    out.push(b'"');
    for piece in pieces {
        out.extend_from_slice(piece);
    }
    out.push(b'"');
    HeaderValue::from_maybe_shared(Bytes::from(out))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Rewrites the conditional headers of a request for the layers inside;
/// returns, for `If-None-Match`, each identity tag added and the suffixed
/// tag it stands for.
///
/// - `If-Range` with a date (or anything but one entity tag) and an
///   `Accept-Encoding` that allows a coding: `Range` and `If-Range` are
///   removed, so the client gets the whole (compressed) `200`.
/// - `If-None-Match`, and `If-Match` when there is no `Range`: the identity
///   tag is added after the suffixed tag of the coding the `200` would
///   have (see [`AcceptEncoding::preferred`]).
fn untag_request(headers: &mut HeaderMap) -> Vec<(Vec<u8>, Vec<u8>)> {
    let accept = AcceptEncoding::parse(headers);
    if headers.contains_key(header::IF_RANGE)
        && !if_range_is_a_tag(headers)
        && accept.allows_a_coding()
    {
        headers.remove(header::RANGE);
        headers.remove(header::IF_RANGE);
    }
    let retag = rewrite_lines(headers, &header::IF_NONE_MATCH, &accept);
    if !headers.contains_key(header::RANGE) {
        rewrite_lines(headers, &header::IF_MATCH, &accept);
    }
    retag
}

/// Whether `If-Range` is exactly one entity tag (not a date, not repeated).
fn if_range_is_a_tag(headers: &HeaderMap) -> bool {
    single_value(headers, &header::IF_RANGE)
        .and_then(|value| split_tag(trim_ows(value.as_bytes())))
        .is_some_and(|(_, _, rest)| rest.is_empty())
}

/// Adds identity tags to every line of a tag-list header (see
/// [`choose_variants`]); returns the (identity, suffixed) pairs added.
/// Costs nothing when the header is absent or holds no suffix, and leaves
/// it alone when it holds more than [`MAX_SUFFIXED_TAGS`].
fn rewrite_lines(
    headers: &mut HeaderMap,
    name: &header::HeaderName,
    accept: &AcceptEncoding,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let suffixed = headers
        .get_all(name)
        .iter()
        .flat_map(|value| tags(value.as_bytes()))
        .filter(|tag| strip_coding(tag.opaque).is_some())
        .take(MAX_SUFFIXED_TAGS + 1)
        .count();
    if suffixed == 0 || suffixed > MAX_SUFFIXED_TAGS {
        return Vec::new();
    }
    let sent: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
    let chosen = choose_variants(sent.iter().flat_map(|value| tags(value.as_bytes())), accept);
    if chosen.is_empty() {
        return chosen;
    }
    headers.remove(name);
    for value in sent {
        let rewritten = with_identity_tags(value.as_bytes(), &chosen)
            .and_then(|bytes| HeaderValue::from_maybe_shared(Bytes::from(bytes)).ok());
        headers.append(name.clone(), rewritten.unwrap_or(value));
    }
    chosen
}

/// For each identity tag behind the suffixed tags of a list, the one
/// suffixed variant that stands for it: the coding the `200` would have,
/// as [`AcceptEncoding::preferred`] predicts it. Returns (identity opaque
/// part, suffixed opaque part) pairs.
fn choose_variants<'a>(
    listed: impl Iterator<Item = ListedTag<'a>>,
    accept: &AcceptEncoding,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let suffixed: Vec<(&[u8], &[u8])> = listed
        .filter_map(|tag| strip_coding(tag.opaque).map(|identity| (identity, tag.opaque)))
        .collect();
    let mut chosen = Vec::new();
    let mut decided: Vec<&[u8]> = Vec::new();
    for &(identity, _) in &suffixed {
        if decided.contains(&identity) {
            continue;
        }
        decided.push(identity);
        let variants = suffixed
            .iter()
            .filter(|(other, _)| *other == identity)
            .map(|&(_, opaque)| opaque);
        if let Some(best) = accept.preferred(variants) {
            chosen.push((identity.to_vec(), best.to_vec()));
        }
    }
    chosen
}

/// `"a-gzip", W/"b-br", "c"` → `"a-gzip", "a", W/"b-br", W/"b", "c"` when
/// both suffixed tags are in `chosen`: the identity tag follows each
/// chosen suffixed tag. `None` when nothing was added. Stops at the first
/// element that is not a tag and copies the rest as it is (the parser
/// inside stops there too, and `*` is left alone).
fn with_identity_tags(value: &[u8], chosen: &[(Vec<u8>, Vec<u8>)]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for element in tags(value) {
        let Some((identity, _)) = chosen
            .iter()
            .find(|(_, suffixed)| suffixed.as_slice() == element.opaque)
        else {
            continue;
        };
        let out = out.get_or_insert_with(|| Vec::with_capacity(value.len() * 2));
        out.extend_from_slice(&value[copied..element.end]);
        out.extend_from_slice(b", ");
        if element.weak {
            out.extend_from_slice(b"W/");
        }
        out.push(b'"');
        out.extend_from_slice(identity);
        out.push(b'"');
        copied = element.end;
    }
    let mut out = out?;
    out.extend_from_slice(&value[copied..]);
    Some(out)
}

/// A `304` answered for a suffixed tag carries the identity `ETag` of the
/// layers inside: name the suffixed tag the client matched instead, so that
/// its cache finds the stored response to refresh (RFC 9111 §4.3.4), with
/// the `Vary` the `200` would have had (RFC 9110 §15.4.5).
fn retag_not_modified(headers: &mut HeaderMap, retag: &[(Vec<u8>, Vec<u8>)]) {
    if retag.is_empty() {
        return;
    }
    let Some((weak, current, _)) = single_value(headers, &header::ETAG)
        .and_then(|etag| split_tag(trim_ows(etag.as_bytes())))
        .filter(|(_, _, rest)| rest.is_empty())
    else {
        return;
    };
    let Some((_, suffixed)) = retag
        .iter()
        .find(|(identity, _)| identity.as_slice() == current)
    else {
        return;
    };
    let tagged = quoted(weak, &[suffixed]);
    headers.insert(header::ETAG, tagged);
    vary_on_accept_encoding(headers);
}

/// A request's `Accept-Encoding`, read the way tower-http's
/// `CompressionLayer` reads it, and summed up in one pass: what the
/// choice of a variant asks of it then costs the same whatever the
/// header's length.
#[derive(Debug, Default)]
struct AcceptEncoding {
    /// The q-value, in thousandths, of the first readable element of each
    /// of [`KNOWN_CODINGS`] (`x-gzip` and `x-compress` folded in).
    known: [Option<u16>; KNOWN_CODINGS.len()],
    /// The same for `*`.
    star: Option<u16>,
    /// The highest readable q-value of any element.
    highest: Option<u16>,
    /// Some element other than `identity` with a q-value above 0 or an
    /// unreadable one.
    allows_a_coding: bool,
}

impl AcceptEncoding {
    fn parse(headers: &HeaderMap) -> Self {
        let mut accept = AcceptEncoding::default();
        for value in headers.get_all(header::ACCEPT_ENCODING) {
            for element in value.as_bytes().split(|&b| b == b',') {
                let mut parts = element.splitn(2, |&b| b == b';');
                let coding = trim_ows(parts.next().unwrap_or_default());
                if coding.is_empty() {
                    continue;
                }
                let q = match parts.next() {
                    None => Some(1000),
                    Some(weight) => parse_q(trim_ows(weight)),
                };
                let coding = if coding.eq_ignore_ascii_case(b"x-gzip") {
                    &b"gzip"[..]
                } else if coding.eq_ignore_ascii_case(b"x-compress") {
                    &b"compress"[..]
                } else {
                    coding
                };
                if !coding.eq_ignore_ascii_case(b"identity") && q.is_none_or(|q| q > 0) {
                    accept.allows_a_coding = true;
                }
                let Some(q) = q else {
                    // Unreadable: skipped, as tower-http skips it.
                    continue;
                };
                accept.highest = accept.highest.max(Some(q));
                let slot = if coding == b"*" {
                    &mut accept.star
                } else if let Some(i) = KNOWN_CODINGS
                    .iter()
                    .position(|known| coding.eq_ignore_ascii_case(known))
                {
                    &mut accept.known[i]
                } else {
                    continue;
                };
                // The first readable element of a coding is the one.
                slot.get_or_insert(q);
            }
        }
        accept
    }

    /// Whether the response may get a coding other than `identity`: some
    /// other coding, or `*`, with a q-value above 0 or unreadable (when in
    /// doubt, yes). No `Accept-Encoding` at all means identity only.
    fn allows_a_coding(&self) -> bool {
        self.allows_a_coding
    }

    /// The q-value of `coding` (one of [`KNOWN_CODINGS`]): its own
    /// element, else `*`, else 0.
    fn q(&self, coding: &[u8]) -> u16 {
        let explicit = KNOWN_CODINGS
            .iter()
            .position(|known| *known == coding)
            .and_then(|i| self.known[i]);
        explicit.or(self.star).unwrap_or(0)
    }

    /// Of the suffixed variants (opaque parts) of one identity tag, the one
    /// whose coding the `200` would have, predicted as tower-http chooses
    /// (highest q-value, ties to zstd, br, gzip, deflate, then identity):
    ///
    /// - a variant counts when every coding of its suffix has a q-value
    ///   above 0 (the lowest of them is its q-value);
    /// - the highest q-value wins; a tie is broken by tower-http's order
    ///   when all tied variants are single codings tower-http makes
    ///   (`zstd`, `br`, `gzip`, `deflate`), else there is no winner;
    /// - no winner either when any readable element of `Accept-Encoding`
    ///   (`identity`, `*`, a coding the client holds no copy in) has a
    ///   higher q-value than the winner: the `200` could be that one.
    fn preferred<'a>(&self, variants: impl Iterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
        let mut acceptable: Vec<(u16, Option<u8>, &[u8])> = Vec::new();
        for opaque in variants {
            if acceptable.iter().any(|&(_, _, seen)| seen == opaque) {
                continue;
            }
            let suffix = coding_of(opaque);
            let q = suffix
                .split(|&b| b == b'+')
                .map(|coding| self.q(coding))
                .min()
                .unwrap_or(0);
            if q > 0 {
                acceptable.push((q, tower_http_rank(suffix), opaque));
            }
        }
        let top = acceptable.iter().map(|&(q, _, _)| q).max()?;
        if self.highest > Some(top) {
            return None;
        }
        let mut tied = acceptable.into_iter().filter(|&(q, _, _)| q == top);
        let first = tied.next()?;
        tied.try_fold(first, |best, next| match (best.1, next.1) {
            (Some(a), Some(b)) => Some(if b > a { next } else { best }),
            _ => None,
        })
        .map(|(_, _, opaque)| opaque)
    }
}

/// `q=0.5` → 500; `None` unless it is a valid weight (RFC 9110 §12.4.2).
fn parse_q(weight: &[u8]) -> Option<u16> {
    let value = match weight {
        [b'q' | b'Q', b'=', value @ ..] => value,
        _ => return None,
    };
    let (whole, fraction) = match value {
        [digit @ (b'0' | b'1')] => (digit, &[][..]),
        [digit @ (b'0' | b'1'), b'.', fraction @ ..] if fraction.len() <= 3 => (digit, fraction),
        _ => return None,
    };
    if !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = u16::from(*whole - b'0') * 1000;
    for (digit, scale) in fraction.iter().zip([100, 10, 1]) {
        thousandths += u16::from(digit - b'0') * scale;
    }
    (thousandths <= 1000).then_some(thousandths)
}

/// The coding suffix of a suffixed opaque part: `abc-gzip` → `gzip`.
fn coding_of(opaque: &[u8]) -> &[u8] {
    let dash = opaque.iter().rposition(|&b| b == b'-').map_or(0, |i| i + 1);
    &opaque[dash..]
}

/// tower-http's preference among equal q-values (higher wins); `None` for
/// a coding it does not make (stacked codings, `compress`).
fn tower_http_rank(suffix: &[u8]) -> Option<u8> {
    match suffix {
        b"deflate" => Some(1),
        b"gzip" => Some(2),
        b"br" => Some(3),
        b"zstd" => Some(4),
        _ => None,
    }
}

/// `abc-gzip` → `abc`, `abc-gzip+br` → `abc`; `None` without a suffix of
/// known codings.
fn strip_coding(opaque: &[u8]) -> Option<&[u8]> {
    let dash = opaque.iter().rposition(|&b| b == b'-')?;
    let suffix = &opaque[dash + 1..];
    let known = !suffix.is_empty()
        && suffix
            .split(|&b| b == b'+')
            .all(|coding| KNOWN_CODINGS.contains(&coding));
    known.then_some(&opaque[..dash])
}

/// One tag of a list: its weakness, its opaque part, and the offset just
/// past its closing quote.
struct ListedTag<'a> {
    weak: bool,
    opaque: &'a [u8],
    end: usize,
}

/// The tags of an `If-Match` / `If-None-Match` line, up to the first
/// element that is not one.
fn tags(value: &[u8]) -> impl Iterator<Item = ListedTag<'_>> {
    let mut rest = value;
    std::iter::from_fn(move || {
        while let [b' ' | b'\t' | b',', tail @ ..] = rest {
            rest = tail;
        }
        let (weak, opaque, tail) = split_tag(rest)?;
        let end = value.len() - tail.len();
        // Only the leading whitespace: `end` of the next tag is counted
        // from the end of the line.
        let tail = trim_start_ows(tail);
        // After a tag: the end of the line, or a comma. Anything else
        // is garbage, which ends the list.
        rest = match tail {
            [] | [b',', ..] => tail,
            _ => &[],
        };
        Some(ListedTag { weak, opaque, end })
    })
}

/// One entity tag at the start of `input`: weakness, opaque part, rest.
fn split_tag(input: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (weak, rest) = match input {
        [b'W', b'/', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let opaque = &rest[..end];
    // etagc = %x21 / %x23-7E / obs-text
    if !opaque
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    Some((weak, opaque, &rest[end + 1..]))
}

fn trim_start_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    value
}

fn trim_ows(value: &[u8]) -> &[u8] {
    let mut value = trim_start_ows(value);
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::header::header_map as headers;

    fn lines(map: &HeaderMap, name: &str) -> Vec<String> {
        map.get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    #[test]
    fn response_tags_by_coding() {
        // (Content-Encoding lines, ETag in, ETag out)
        let table: &[(&[&str], &str, Option<&str>)] = &[
            (&["gzip"], "\"abc\"", Some("\"abc-gzip\"")),
            (&["br"], "W/\"abc\"", Some("W/\"abc-br\"")),
            (&["GZip"], "\"abc\"", Some("\"abc-gzip\"")),
            (&["x-gzip"], "\"abc\"", Some("\"abc-gzip\"")),
            (&["x-compress"], "\"abc\"", Some("\"abc-compress\"")),
            (&["gzip, br"], "\"abc\"", Some("\"abc-gzip+br\"")),
            (&["gzip", "zstd"], "\"abc\"", Some("\"abc-gzip+zstd\"")),
            (&["identity, gzip"], "\"abc\"", Some("\"abc-gzip\"")),
            (&["gzip"], "\"\"", Some("\"-gzip\"")),
            (&["gzip"], " \"a,b\" ", Some("\"a,b-gzip\"")),
            (&["gzip"], "\"a-gzip\"", Some("\"a-gzip-gzip\"")),
            (&["foo"], "\"abc\"", Some("\"abc-foo\"")),
            // Not exactly one tag: no validator at all.
            (&["gzip"], "abc", None),
            (&["gzip"], "*", None),
            (&["gzip"], "\"a\", \"b\"", None),
            (&["gzip"], "\"abc", None),
            // Identity: untouched.
            (&["identity"], "\"abc\"", Some("\"abc\"")),
            (&[], "\"abc\"", Some("\"abc\"")),
            (&[" , identity"], "\"abc\"", Some("\"abc\"")),
            // Unnamable coding: no validator at all.
            (&["gz ip"], "\"abc\"", None),
            (&["gzip;q=1"], "\"abc\"", None),
        ];
        for (codings, etag, expected) in table {
            let mut map = headers(&[("etag", etag)]);
            for coding in *codings {
                map.append(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_str(coding).unwrap(),
                );
            }
            tag_response(StatusCode::OK, &mut map, &[]);
            let got = map
                .get(header::ETAG)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(got.as_deref(), *expected, "{codings:?} {etag:?}");
        }
        // A repeated ETag cannot be suffixed: the identity tags go.
        let mut map = headers(&[
            ("etag", "\"j1\""),
            ("etag", "\"j1\""),
            ("content-encoding", "gzip"),
        ]);
        tag_response(StatusCode::OK, &mut map, &[]);
        assert!(map.get(header::ETAG).is_none(), "{map:?}");
        // Identity: a repeated ETag is not this layer's business.
        let mut map = headers(&[("etag", "\"j1\""), ("etag", "\"j1\"")]);
        tag_response(StatusCode::OK, &mut map, &[]);
        assert_eq!(lines(&map, "etag"), ["\"j1\"", "\"j1\""]);
    }

    #[test]
    fn response_accept_ranges_and_vary() {
        let mut map = headers(&[("content-encoding", "gzip"), ("accept-ranges", "bytes")]);
        tag_response(StatusCode::OK, &mut map, &[]);
        assert_eq!(lines(&map, "accept-ranges"), ["none"]);
        assert_eq!(lines(&map, "vary"), ["accept-encoding"]);
        assert!(map.get(header::ETAG).is_none());

        // Vary already names it (in any case, in a list) or is `*`.
        for vary in ["Accept-Encoding", "origin, accept-encoding", "*"] {
            let mut map = headers(&[("content-encoding", "gzip"), ("vary", vary)]);
            tag_response(StatusCode::OK, &mut map, &[]);
            assert_eq!(lines(&map, "vary"), [vary]);
        }
        let mut map = headers(&[("content-encoding", "gzip"), ("vary", "origin")]);
        tag_response(StatusCode::OK, &mut map, &[]);
        assert_eq!(lines(&map, "vary"), ["origin", "accept-encoding"]);

        // A 206 of encoded bytes keeps what it says about ranges.
        let mut map = headers(&[("content-encoding", "gzip"), ("etag", "\"a\"")]);
        tag_response(StatusCode::PARTIAL_CONTENT, &mut map, &[]);
        assert!(map.get(header::ACCEPT_RANGES).is_none());
        assert_eq!(lines(&map, "etag"), ["\"a-gzip\""]);

        // Identity: nothing added.
        let mut map = headers(&[("etag", "\"a\""), ("accept-ranges", "bytes")]);
        tag_response(StatusCode::OK, &mut map, &[]);
        assert_eq!(lines(&map, "accept-ranges"), ["bytes"]);
        assert!(map.get(header::VARY).is_none());
    }

    #[test]
    fn strip_table() {
        let table: &[(&[u8], Option<&[u8]>)] = &[
            (b"abc-gzip", Some(b"abc")),
            (b"abc-br", Some(b"abc")),
            (b"abc-zstd", Some(b"abc")),
            (b"abc-deflate", Some(b"abc")),
            (b"abc-compress", Some(b"abc")),
            (b"abc-gzip+br", Some(b"abc")),
            (b"a-b-gzip", Some(b"a-b")),
            (b"-gzip", Some(b"")),
            (b"abc-gzip-gzip", Some(b"abc-gzip")),
            (b"abc", None),
            (b"abc-", None),
            (b"abc-GZIP", None),
            (b"abc-foo", None),
            (b"abc-gzip+", None),
            (b"abc-gzip+foo", None),
            (b"1a2b-5f3c", None),
            (b"abcgzip", None),
        ];
        for (input, expected) in table {
            assert_eq!(
                strip_coding(input),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// The pairs `choose_variants` makes for one `If-None-Match` line.
    fn chosen_for(accept_encoding: &str, line: &str) -> Vec<(String, String)> {
        let accept = AcceptEncoding::parse(&headers(&[("accept-encoding", accept_encoding)]));
        choose_variants(tags(line.as_bytes()), &accept)
            .into_iter()
            .map(|(identity, suffixed)| {
                (
                    String::from_utf8(identity).unwrap(),
                    String::from_utf8(suffixed).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn identity_tags_table() {
        let table: &[(&str, Option<&str>)] = &[
            ("\"a-gzip\"", Some("\"a-gzip\", \"a\"")),
            ("W/\"a-gzip\"", Some("W/\"a-gzip\", W/\"a\"")),
            (
                "\"x\", \"a-br\" , \"y\"",
                Some("\"x\", \"a-br\", \"a\" , \"y\""),
            ),
            (
                "\"a-gzip\",\"b-zstd\"",
                Some("\"a-gzip\", \"a\",\"b-zstd\", \"b\""),
            ),
            ("\"a,b-gzip\"", Some("\"a,b-gzip\", \"a,b\"")),
            (",, \"a-gzip\",", Some(",, \"a-gzip\", \"a\",")),
            // Whitespace at the end of the line stays there.
            ("\"x\", \"a-gzip\"  ", Some("\"x\", \"a-gzip\", \"a\"  ")),
            (
                "\"x\" , \"a-gzip\" \t",
                Some("\"x\" , \"a-gzip\", \"a\" \t"),
            ),
            // Garbage ends the list: the rest is copied, not read.
            (
                "\"a-gzip\" junk, \"b-gzip\"",
                Some("\"a-gzip\", \"a\" junk, \"b-gzip\""),
            ),
            ("junk, \"a-gzip\"", None),
            ("\"a\" \"b-gzip\"", None),
            // Nothing to add.
            ("*", None),
            ("\"a\", W/\"b\"", None),
            ("\"a-foo\"", None),
            ("", None),
            ("\"a-gzip", None),
        ];
        let accept = AcceptEncoding::parse(&headers(&[("accept-encoding", "*")]));
        for (input, expected) in table {
            let chosen = choose_variants(tags(input.as_bytes()), &accept);
            let got = with_identity_tags(input.as_bytes(), &chosen)
                .map(|v| String::from_utf8(v).unwrap());
            assert_eq!(got.as_deref(), *expected, "{input:?}");
        }
    }

    #[test]
    fn variant_chosen_by_accept_encoding() {
        // (Accept-Encoding, If-None-Match, chosen suffixed tag of "j1")
        let table: &[(&str, &str, Option<&str>)] = &[
            ("gzip", "\"j1-gzip\"", Some("j1-gzip")),
            ("GZIP;Q=0.5", "\"j1-gzip\"", Some("j1-gzip")),
            ("x-gzip", "\"j1-gzip\"", Some("j1-gzip")),
            ("*", "\"j1-gzip\"", Some("j1-gzip")),
            ("gzip, deflate, br, zstd", "\"j1-gzip\"", Some("j1-gzip")),
            // Not accepted: no identity tag, so no 304 for it.
            ("", "\"j1-gzip\"", None),
            ("identity", "\"j1-gzip\"", None),
            ("deflate", "\"j1-gzip\"", None),
            ("gzip;q=0", "\"j1-gzip\"", None),
            ("*, gzip;q=0", "\"j1-gzip\"", None),
            ("gzip;q=2", "\"j1-gzip\"", None),
            ("gzip;q=0.0001", "\"j1-gzip\"", None),
            // The one the client accepts, among several.
            ("deflate", "\"j1-gzip\", \"j1-deflate\"", Some("j1-deflate")),
            ("gzip;q=0.5, br", "\"j1-gzip\", \"j1-br\"", Some("j1-br")),
            ("br;q=0.5, gzip", "\"j1-br\", \"j1-gzip\"", Some("j1-gzip")),
            // Equal q-values: tower-http's order (zstd, br, gzip, deflate).
            ("gzip, br", "\"j1-gzip\", \"j1-br\"", Some("j1-br")),
            (
                "deflate, gzip",
                "\"j1-deflate\", \"j1-gzip\"",
                Some("j1-gzip"),
            ),
            ("*", "\"j1-zstd\", \"j1-br\"", Some("j1-zstd")),
            // Equal q-values that order cannot settle: no 304.
            ("gzip, br", "\"j1-gzip\", \"j1-gzip+br\"", None),
            ("gzip, compress", "\"j1-gzip\", \"j1-compress\"", None),
            // A stacked or tower-http-unknown coding alone is fine.
            ("gzip, br", "\"j1-gzip+br\"", Some("j1-gzip+br")),
            ("compress", "\"j1-compress\"", Some("j1-compress")),
            ("gzip;q=0.5, br", "\"j1-gzip+br\"", None),
            // Something else ranks higher: the 200 could be that.
            ("identity, gzip;q=0.5", "\"j1-gzip\"", None),
            ("br, gzip;q=0.5", "\"j1-gzip\"", None),
            ("*, gzip;q=0.5", "\"j1-gzip\"", None),
            ("foo, gzip;q=0.5", "\"j1-gzip\"", None),
            // ...but an equal identity loses, as in tower-http.
            ("identity, gzip", "\"j1-gzip\"", Some("j1-gzip")),
            // An unreadable element is skipped, as tower-http does.
            ("br;q=x, gzip", "\"j1-gzip\"", Some("j1-gzip")),
        ];
        for (accept_encoding, line, expected) in table {
            let chosen = chosen_for(accept_encoding, line);
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|suffixed| ("j1".to_owned(), suffixed.to_string()))
                .collect();
            assert_eq!(chosen, expected, "{accept_encoding:?} {line:?}");
        }
        // Each identity tag gets its own choice.
        assert_eq!(
            chosen_for("gzip", "\"a-gzip\", \"b-br\", \"c-gzip\""),
            [
                ("a".to_owned(), "a-gzip".to_owned()),
                ("c".to_owned(), "c-gzip".to_owned())
            ]
        );
    }

    #[test]
    fn q_values() {
        let table: &[(&str, Option<u16>)] = &[
            ("q=1", Some(1000)),
            ("Q=1.000", Some(1000)),
            ("q=0", Some(0)),
            ("q=0.5", Some(500)),
            ("q=0.05", Some(50)),
            ("q=0.001", Some(1)),
            ("q=1.001", None),
            ("q=2", None),
            ("q=0.0001", None),
            ("q=.5", None),
            ("q=0.x", None),
            ("q = 1", None),
            ("p=1", None),
            ("", None),
        ];
        for (weight, expected) in table {
            assert_eq!(parse_q(weight.as_bytes()), *expected, "{weight:?}");
        }
    }

    #[test]
    fn if_range_date_drops_the_range_when_a_coding_is_acceptable() {
        const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
        // (Accept-Encoding, If-Range, Range and If-Range kept)
        let table: &[(Option<&str>, &str, bool)] = &[
            (Some("gzip"), DATE, false),
            (Some("identity;q=0.5, br"), DATE, false),
            (Some("*"), DATE, false),
            (Some("foo"), DATE, false),
            (Some("gzip;q=nonsense"), DATE, false),
            (Some("gzip"), "not a date", false),
            // Identity only: a date resume is safe.
            (None, DATE, true),
            (Some("identity"), DATE, true),
            (Some("gzip;q=0, identity"), DATE, true),
            (Some("*;q=0, identity"), DATE, true),
            (Some(""), DATE, true),
            // An entity tag: never rewritten, the suffix does the work.
            (Some("gzip"), "\"j1\"", true),
            (Some("gzip"), "W/\"j1-gzip\"", true),
        ];
        for (accept_encoding, if_range, kept) in table {
            let mut map = headers(&[("range", "bytes=40-"), ("if-range", if_range)]);
            if let Some(accept_encoding) = accept_encoding {
                map.append(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_str(accept_encoding).unwrap(),
                );
            }
            untag_request(&mut map);
            assert_eq!(
                map.contains_key(header::RANGE),
                *kept,
                "{accept_encoding:?} {if_range}"
            );
            assert_eq!(map.contains_key(header::IF_RANGE), *kept);
        }
        // Without Range, If-Match is now about the whole response.
        let mut map = headers(&[
            ("accept-encoding", "gzip"),
            ("range", "bytes=40-"),
            ("if-range", DATE),
            ("if-match", "\"j1-gzip\""),
        ]);
        untag_request(&mut map);
        assert_eq!(lines(&map, "if-match"), ["\"j1-gzip\", \"j1\""]);
    }

    #[test]
    fn request_rewrites_if_none_match_and_if_match_without_range() {
        let mut map = headers(&[
            ("accept-encoding", "gzip, br"),
            ("if-none-match", "\"a-gzip\""),
            ("if-none-match", "\"b\""),
            ("if-match", "W/\"a-br\""),
            ("if-range", "\"a-gzip\""),
        ]);
        let retag = untag_request(&mut map);
        assert_eq!(retag, [(b"a".to_vec(), b"a-gzip".to_vec())]);
        assert_eq!(lines(&map, "if-none-match"), ["\"a-gzip\", \"a\"", "\"b\""]);
        assert_eq!(lines(&map, "if-match"), ["W/\"a-br\", W/\"a\""]);
        assert_eq!(
            lines(&map, "if-range"),
            ["\"a-gzip\""],
            "If-Range is never rewritten"
        );

        // With Range, If-Match stays: a range of gzip bytes cannot be served.
        let mut map = headers(&[
            ("accept-encoding", "gzip"),
            ("if-match", "\"a-gzip\""),
            ("range", "bytes=10-"),
        ]);
        assert!(untag_request(&mut map).is_empty());
        assert_eq!(lines(&map, "if-match"), ["\"a-gzip\""]);

        // A coding the client does not accept: left alone, in both.
        for accept_encoding in [None, Some("identity"), Some("deflate")] {
            let mut map = headers(&[("if-none-match", "\"a-gzip\""), ("if-match", "\"a-gzip\"")]);
            if let Some(accept_encoding) = accept_encoding {
                map.append(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_str(accept_encoding).unwrap(),
                );
            }
            assert!(untag_request(&mut map).is_empty(), "{accept_encoding:?}");
            assert_eq!(lines(&map, "if-none-match"), ["\"a-gzip\""]);
            assert_eq!(lines(&map, "if-match"), ["\"a-gzip\""]);
        }

        // Nothing suffixed: nothing kept, nothing changed.
        let mut map = headers(&[("accept-encoding", "gzip"), ("if-none-match", "\"a\", *")]);
        assert!(untag_request(&mut map).is_empty());
        assert_eq!(lines(&map, "if-none-match"), ["\"a\", *"]);
    }

    #[test]
    fn long_tag_lists_are_left_alone_past_the_cap() {
        // Matching suffixed tags against each other and against the
        // choices costs the square of their number: past the cap the
        // header goes in as sent (a 200 where a 304 could have been).
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("\"t{i}-gzip\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let at_cap = list(MAX_SUFFIXED_TAGS);
        let mut map = headers(&[("accept-encoding", "gzip"), ("if-none-match", &at_cap)]);
        assert_eq!(untag_request(&mut map).len(), MAX_SUFFIXED_TAGS);
        assert!(lines(&map, "if-none-match")[0].ends_with(&format!(
            "\"t{}-gzip\", \"t{}\"",
            MAX_SUFFIXED_TAGS - 1,
            MAX_SUFFIXED_TAGS - 1
        )));

        // One more, on a second line: the cap counts every line.
        let mut map = headers(&[
            ("accept-encoding", "gzip"),
            ("if-none-match", &at_cap),
            ("if-none-match", "\"u-gzip\""),
            ("if-match", &list(MAX_SUFFIXED_TAGS + 1)),
        ]);
        assert!(untag_request(&mut map).is_empty());
        assert_eq!(
            lines(&map, "if-none-match"),
            [at_cap.as_str(), "\"u-gzip\""]
        );
        assert_eq!(lines(&map, "if-match"), [list(MAX_SUFFIXED_TAGS + 1)]);
    }

    #[test]
    fn not_modified_names_the_chosen_tag_and_varies() {
        let pair = |identity: &str, suffixed: &str| {
            (identity.as_bytes().to_vec(), suffixed.as_bytes().to_vec())
        };
        // (ETag of the 304 inside, pairs, ETag out)
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let table: &[(&str, Pairs, &str)] = &[
            ("\"a\"", &[("a", "a-gzip")], "\"a-gzip\""),
            ("W/\"a\"", &[("a", "a-br")], "W/\"a-br\""),
            (
                "\"a\"",
                &[("x", "x-gzip"), ("a", "a-gzip+br")],
                "\"a-gzip+br\"",
            ),
            // Another representation's tag: untouched.
            ("\"a\"", &[("b", "b-gzip")], "\"a\""),
            ("\"a\"", &[], "\"a\""),
            ("junk", &[("a", "a-gzip")], "junk"),
        ];
        for (etag, pairs, expected) in table {
            let pairs: Vec<_> = pairs.iter().map(|(i, s)| pair(i, s)).collect();
            let mut map = headers(&[("etag", etag)]);
            tag_response(StatusCode::NOT_MODIFIED, &mut map, &pairs);
            assert_eq!(lines(&map, "etag"), [*expected], "{etag} {pairs:?}");
            let vary = if expected != etag {
                &["accept-encoding"][..]
            } else {
                &[][..]
            };
            assert_eq!(lines(&map, "vary"), vary, "{etag} {pairs:?}");
        }
        // A Vary that already names it is kept as it is.
        let mut map = headers(&[("etag", "\"a\""), ("vary", "Origin, Accept-Encoding")]);
        tag_response(StatusCode::NOT_MODIFIED, &mut map, &[pair("a", "a-gzip")]);
        assert_eq!(lines(&map, "vary"), ["Origin, Accept-Encoding"]);
        // A 304 never gets Accept-Ranges from this layer.
        let mut map = headers(&[("etag", "\"a\""), ("content-encoding", "gzip")]);
        tag_response(StatusCode::NOT_MODIFIED, &mut map, &[]);
        assert_eq!(lines(&map, "etag"), ["\"a\""]);
        assert!(map.get(header::ACCEPT_RANGES).is_none());
    }
}
