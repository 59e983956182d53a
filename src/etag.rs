//! Strong entity tags derived from the content, for responses that have
//! none (`RangeLayer::content_etag`).

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use xxhash_rust::xxh3::Xxh3;

use crate::body::Rope;
use crate::plan::Conditions;

/// Whether this response should be buffered and hashed: a `200` to a `GET`
/// without an `ETag`, not already partial, not backed by a seekable source
/// (never read a whole file for this), of known length within the limit. A
/// body of unknown length is left to the usual path: buffering it for a
/// tag and finding it too long would leave no way back to honoring its
/// Range or its Last-Modified preconditions.
pub(crate) fn wants<B>(
    response: &Response<B>,
    conditions: &Conditions,
    length: Option<u64>,
    has_source: bool,
    max_bytes: usize,
) -> bool {
    response.status() == StatusCode::OK
        && !conditions.is_head()
        && !has_source
        && !response.headers().contains_key(header::ETAG)
        && !response.headers().contains_key(header::CONTENT_RANGE)
        && length.is_some_and(|len| len <= max_bytes as u64)
}

/// `"<xxh3-128 of the content, 32 hex digits>"`: strong, because equal tags
/// mean equal bytes (up to a 2^-128 accident, not an adversary's choice: it
/// is not a cryptographic hash).
pub(crate) fn of(rope: &mut Rope) -> HeaderValue {
    rope.flush_small();
    let mut hasher = Xxh3::new();
    for chunk in rope.chunks() {
        hasher.update(chunk);
    }
    let digest = hasher.digest128();
    let mut tag = [0u8; 34];
    tag[0] = b'"';
    tag[33] = b'"';
    for (i, byte) in tag[1..33].iter_mut().enumerate() {
        let nibble = (digest >> (124 - 4 * i)) & 0xf;
        *byte = b"0123456789abcdef"[nibble as usize];
    }
    HeaderValue::from_bytes(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn same_bytes_same_tag_whatever_the_framing() {
        let mut one = Rope::default();
        one.push(Bytes::from_static(b"hello world, this is the content"));
        let mut many = Rope::default();
        for piece in [&b"hello "[..], b"world, this ", b"is the content"] {
            many.push(Bytes::copy_from_slice(piece));
        }
        let mut other = Rope::default();
        other.push(Bytes::from_static(b"hello world, this is the Content"));
        let tag = of(&mut one);
        assert_eq!(tag, of(&mut many));
        assert_ne!(tag, of(&mut other));
        assert_eq!(tag.len(), 34);
        assert!(crate::header::EntityTag::parse(tag.as_bytes()).is_some_and(|t| !t.is_weak()));
    }
}
