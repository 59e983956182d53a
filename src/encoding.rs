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
//! | response with a `Content-Encoding` other than `identity` | `ETag: "abc"` becomes `"abc-gzip"` (`W/"abc"` becomes `W/"abc-gzip"`); a `2xx` other than `206` says `Accept-Ranges: none`; `Vary: Accept-Encoding` is added when missing |
//! | `If-Range` | untouched: `"abc-gzip"` never matches the identity `"abc"` inside, so the resume gets the full `200` |
//! | `If-None-Match` | each `"abc-gzip"` is followed by `"abc"`, so the layers inside answer `304` for a cached gzip copy; the `304` then carries `"abc-gzip"` again |
//! | `If-Match`, request without `Range` | the same: a `GET` or a `PUT` conditional on the gzip copy still passes |
//! | `If-Match`, request with `Range` | untouched: `"abc-gzip"` fails (`412`), as a range of the gzip bytes cannot be served |
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

/// The content codings whose tag suffix is recognized on requests.
const KNOWN_CODINGS: [&[u8]; 5] = [b"gzip", b"br", b"zstd", b"deflate", b"compress"];

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
        let sent_if_none_match = untag_request(request.headers_mut());
        ResponseFuture {
            inner: self.inner.call(request),
            sent_if_none_match,
        }
    }
}

pin_project! {
    /// Response future of [`EncodingTagService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // The request's `If-None-Match` lines as the client sent them, kept
        // only when they held a suffixed tag: a `304` names that tag again.
        sent_if_none_match: Option<Vec<HeaderValue>>,
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
        let sent = this.sent_if_none_match.take();
        tag_response(response.status(), response.headers_mut(), sent.as_deref());
        Poll::Ready(Ok(response))
    }
}

/// Rewrites a response head: suffixes the `ETag` of an encoded response,
/// or gives a `304` back the suffixed tag the client sent.
fn tag_response(
    status: StatusCode,
    headers: &mut HeaderMap,
    sent_if_none_match: Option<&[HeaderValue]>,
) {
    if status == StatusCode::NOT_MODIFIED {
        if let Some(sent) = sent_if_none_match {
            retag_not_modified(headers, sent);
        }
        return;
    }
    let suffix = match coding_suffix(headers) {
        Coding::Identity => return,
        Coding::Unnamable => {
            headers.remove(header::ETAG);
            None
        }
        Coding::Named(suffix) => Some(suffix),
    };
    if let Some(suffix) = suffix {
        if let Some(tagged) =
            single(headers, &header::ETAG).and_then(|etag| with_suffix(etag, &suffix))
        {
            headers.insert(header::ETAG, tagged);
        }
    }
    if status.is_success() && status != StatusCode::PARTIAL_CONTENT {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    }
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

/// The value of a header that appears exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
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

/// Adds the identity tag after every suffixed tag of `If-None-Match`, and
/// of `If-Match` when there is no `Range`. Returns the `If-None-Match`
/// lines as sent when one of them changed.
fn untag_request(headers: &mut HeaderMap) -> Option<Vec<HeaderValue>> {
    let sent = rewrite_lines(headers, &header::IF_NONE_MATCH);
    if !headers.contains_key(header::RANGE) {
        rewrite_lines(headers, &header::IF_MATCH);
    }
    sent
}

/// Rewrites every line of a tag-list header; returns the old lines when any
/// changed. Costs nothing when the header is absent or holds no suffix.
fn rewrite_lines(headers: &mut HeaderMap, name: &header::HeaderName) -> Option<Vec<HeaderValue>> {
    let changed = headers
        .get_all(name)
        .iter()
        .any(|value| with_identity_tags(value.as_bytes()).is_some());
    if !changed {
        return None;
    }
    let sent: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
    headers.remove(name);
    for value in &sent {
        let rewritten = with_identity_tags(value.as_bytes())
            .and_then(|bytes| HeaderValue::from_maybe_shared(Bytes::from(bytes)).ok());
        headers.append(name.clone(), rewritten.unwrap_or_else(|| value.clone()));
    }
    Some(sent)
}

/// `"a-gzip", W/"b-br", "c"` → `"a-gzip", "a", W/"b-br", W/"b", "c"`:
/// `None` when no tag has a known coding suffix. Stops at the first element
/// that is not a tag and copies the rest as it is (the parser inside stops
/// there too, and `*` is left alone).
fn with_identity_tags(value: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for element in tags(value) {
        let Some(identity) = strip_coding(element.opaque) else {
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
/// its cache finds the stored response to refresh (RFC 9111 §4.3.4).
fn retag_not_modified(headers: &mut HeaderMap, sent: &[HeaderValue]) {
    let Some((weak, current, _)) = single(headers, &header::ETAG)
        .and_then(|etag| split_tag(trim_ows(etag.as_bytes())))
        .filter(|(_, _, rest)| rest.is_empty())
    else {
        return;
    };
    for line in sent {
        for element in tags(line.as_bytes()) {
            if element.opaque == current {
                return; // the client named the identity tag first: keep it
            }
            if strip_coding(element.opaque) == Some(current) {
                let tagged = quoted(weak, &[element.opaque]);
                headers.insert(header::ETAG, tagged);
                return;
            }
        }
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
        let tail = trim_ows(tail);
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

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
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

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

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
            // Not exactly one tag: left as it is.
            (&["gzip"], "abc", Some("abc")),
            (&["gzip"], "*", Some("*")),
            (&["gzip"], "\"a\", \"b\"", Some("\"a\", \"b\"")),
            (&["gzip"], "\"abc", Some("\"abc")),
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
            tag_response(StatusCode::OK, &mut map, None);
            let got = map
                .get(header::ETAG)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(got.as_deref(), *expected, "{codings:?} {etag:?}");
        }
    }

    #[test]
    fn response_accept_ranges_and_vary() {
        let mut map = headers(&[("content-encoding", "gzip"), ("accept-ranges", "bytes")]);
        tag_response(StatusCode::OK, &mut map, None);
        assert_eq!(lines(&map, "accept-ranges"), ["none"]);
        assert_eq!(lines(&map, "vary"), ["accept-encoding"]);
        assert!(map.get(header::ETAG).is_none());

        // Vary already names it (in any case, in a list) or is `*`.
        for vary in ["Accept-Encoding", "origin, accept-encoding", "*"] {
            let mut map = headers(&[("content-encoding", "gzip"), ("vary", vary)]);
            tag_response(StatusCode::OK, &mut map, None);
            assert_eq!(lines(&map, "vary"), [vary]);
        }
        let mut map = headers(&[("content-encoding", "gzip"), ("vary", "origin")]);
        tag_response(StatusCode::OK, &mut map, None);
        assert_eq!(lines(&map, "vary"), ["origin", "accept-encoding"]);

        // A 206 of encoded bytes keeps what it says about ranges.
        let mut map = headers(&[("content-encoding", "gzip"), ("etag", "\"a\"")]);
        tag_response(StatusCode::PARTIAL_CONTENT, &mut map, None);
        assert!(map.get(header::ACCEPT_RANGES).is_none());
        assert_eq!(lines(&map, "etag"), ["\"a-gzip\""]);

        // Identity: nothing added.
        let mut map = headers(&[("etag", "\"a\""), ("accept-ranges", "bytes")]);
        tag_response(StatusCode::OK, &mut map, None);
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
        for (input, expected) in table {
            let got = with_identity_tags(input.as_bytes()).map(|v| String::from_utf8(v).unwrap());
            assert_eq!(got.as_deref(), *expected, "{input:?}");
        }
    }

    #[test]
    fn request_rewrites_if_none_match_and_if_match_without_range() {
        let mut map = headers(&[
            ("if-none-match", "\"a-gzip\""),
            ("if-none-match", "\"b\""),
            ("if-match", "W/\"a-br\""),
            ("if-range", "\"a-gzip\""),
        ]);
        let sent = untag_request(&mut map).expect("If-None-Match changed");
        assert_eq!(sent, ["\"a-gzip\"", "\"b\""]);
        assert_eq!(lines(&map, "if-none-match"), ["\"a-gzip\", \"a\"", "\"b\""]);
        assert_eq!(lines(&map, "if-match"), ["W/\"a-br\", W/\"a\""]);
        assert_eq!(
            lines(&map, "if-range"),
            ["\"a-gzip\""],
            "If-Range is never rewritten"
        );

        // With Range, If-Match stays: a range of gzip bytes cannot be served.
        let mut map = headers(&[("if-match", "\"a-gzip\""), ("range", "bytes=10-")]);
        assert!(untag_request(&mut map).is_none());
        assert_eq!(lines(&map, "if-match"), ["\"a-gzip\""]);

        // Nothing suffixed: nothing kept, nothing changed.
        let mut map = headers(&[("if-none-match", "\"a\", *")]);
        assert!(untag_request(&mut map).is_none());
        assert_eq!(lines(&map, "if-none-match"), ["\"a\", *"]);
    }

    #[test]
    fn not_modified_names_the_tag_the_client_sent() {
        let sent = |values: &[&str]| -> Vec<HeaderValue> {
            values
                .iter()
                .map(|v| HeaderValue::from_str(v).unwrap())
                .collect()
        };
        // (ETag of the 304 inside, If-None-Match sent, ETag out)
        let table: &[(&str, &[&str], &str)] = &[
            ("\"a\"", &["\"a-gzip\""], "\"a-gzip\""),
            ("W/\"a\"", &["\"a-br\""], "W/\"a-br\""),
            ("\"a\"", &["W/\"a-gzip\""], "\"a-gzip\""),
            ("\"a\"", &["\"x\", \"a-zstd\""], "\"a-zstd\""),
            ("\"a\"", &["\"x\"", "\"a-gzip+br\""], "\"a-gzip+br\""),
            // The identity tag named first wins.
            ("\"a\"", &["\"a\", \"a-gzip\""], "\"a\""),
            ("\"a\"", &["\"a-gzip\", \"a\""], "\"a-gzip\""),
            // Suffixed tags of another representation: untouched.
            ("\"a\"", &["\"b-gzip\""], "\"a\""),
            ("\"a\"", &["*"], "\"a\""),
            ("junk", &["\"a-gzip\""], "junk"),
        ];
        for (etag, if_none_match, expected) in table {
            let mut map = headers(&[("etag", etag)]);
            tag_response(
                StatusCode::NOT_MODIFIED,
                &mut map,
                Some(&sent(if_none_match)),
            );
            assert_eq!(lines(&map, "etag"), [*expected], "{etag} {if_none_match:?}");
        }
        // A 304 never gets Accept-Ranges or Vary from this layer.
        let mut map = headers(&[("etag", "\"a\""), ("content-encoding", "gzip")]);
        tag_response(StatusCode::NOT_MODIFIED, &mut map, None);
        assert_eq!(lines(&map, "etag"), ["\"a\""]);
        assert!(map.get(header::ACCEPT_RANGES).is_none());
    }
}
