//! `multipart/byteranges` framing (RFC 9110 §14.6).
//!
//! The exact length of every piece is computable without building it, so
//! the plan can size the whole body (for `Content-Length` and the
//! amplification check) before a single byte exists.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;

use crate::header::ByteRange;

/// Length of every boundary this crate generates.
pub(crate) const BOUNDARY_LEN: usize = 32;

const CONTENT_TYPE_PREFIX: &[u8] = b"Content-Type: ";
const CONTENT_RANGE_PREFIX: &[u8] = b"Content-Range: bytes ";

/// A random boundary: 128 bits from SipHash keyed by the process's random
/// hash keys (seeded from the OS), over a counter. Hard to guess, unique per
/// response, and needs no extra dependency.
#[derive(Clone, Debug)]
pub(crate) struct Boundary([u8; BOUNDARY_LEN]);

impl Boundary {
    pub(crate) fn random() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let keys = RandomState::new();
        let mut out = [0u8; BOUNDARY_LEN];
        for (half, chunk) in out.chunks_mut(16).enumerate() {
            let mut hasher = keys.build_hasher();
            hasher.write_u64(n);
            hasher.write_usize(half);
            let mut word = hasher.finish();
            for byte in chunk.iter_mut() {
                *byte = b"0123456789abcdef"[(word & 0xf) as usize];
                word >>= 4;
            }
        }
        Boundary(out)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What every part of one multipart body shares.
#[derive(Debug)]
pub(crate) struct Framing {
    boundary: Boundary,
    content_type: Option<HeaderValue>,
    complete_len: u64,
}

pub(crate) fn digits(mut n: u64) -> u64 {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Length of the header that opens a part: `\r\n--B\r\n`, the optional
/// `Content-Type` line, the `Content-Range` line and the blank line.
pub(crate) fn part_header_len(
    content_type_len: Option<usize>,
    range: ByteRange,
    complete: u64,
) -> u64 {
    let content_type = content_type_len.map_or(0, |len| {
        (CONTENT_TYPE_PREFIX.len() as u64 + 2).saturating_add(len as u64)
    });
    let fixed = (4 + BOUNDARY_LEN as u64 + 2)
        + CONTENT_RANGE_PREFIX.len() as u64
        + digits(range.first)
        + 1
        + digits(range.last)
        + 1
        + digits(complete)
        + 4;
    fixed.saturating_add(content_type)
}

/// Length of the closing delimiter `\r\n--B--\r\n`.
pub(crate) const fn closing_len() -> u64 {
    4 + BOUNDARY_LEN as u64 + 4
}

/// Exact length of the whole multipart body; `None` when it does not fit
/// in a `u64` (it could not be announced in a `Content-Length`).
pub(crate) fn checked_body_len(
    ranges: &[ByteRange],
    content_type_len: Option<usize>,
    complete: u64,
) -> Option<u64> {
    ranges.iter().try_fold(closing_len(), |total, range| {
        total
            .checked_add(part_header_len(content_type_len, *range, complete))?
            .checked_add(range.len())
    })
}

/// Exact length of the whole multipart body, saturating.
pub(crate) fn body_len(
    ranges: &[ByteRange],
    content_type_len: Option<usize>,
    complete: u64,
) -> u64 {
    ranges.iter().fold(closing_len(), |total, range| {
        total
            .saturating_add(part_header_len(content_type_len, *range, complete))
            .saturating_add(range.len())
    })
}

impl Framing {
    pub(crate) fn new(content_type: Option<HeaderValue>, complete_len: u64) -> Self {
        Framing {
            boundary: Boundary::random(),
            content_type,
            complete_len,
        }
    }

    pub(crate) fn complete_len(&self) -> u64 {
        self.complete_len
    }

    pub(crate) fn content_type_len(&self) -> Option<usize> {
        self.content_type.as_ref().map(|v| v.len())
    }

    /// `multipart/byteranges; boundary=...`
    pub(crate) fn header_value(&self) -> HeaderValue {
        let mut value = BytesMut::with_capacity(32 + BOUNDARY_LEN);
        value.put_slice(b"multipart/byteranges; boundary=");
        value.put_slice(self.boundary.as_bytes());
        // The boundary is hex: always a valid header value.
        HeaderValue::from_maybe_shared(value.freeze())
            .unwrap_or_else(|_| HeaderValue::from_static("multipart/byteranges"))
    }

    pub(crate) fn part_header(&self, range: ByteRange) -> Bytes {
        let len = part_header_len(self.content_type_len(), range, self.complete_len);
        let mut out = BytesMut::with_capacity(len as usize);
        out.put_slice(b"\r\n--");
        out.put_slice(self.boundary.as_bytes());
        out.put_slice(b"\r\n");
        if let Some(content_type) = &self.content_type {
            out.put_slice(CONTENT_TYPE_PREFIX);
            out.put_slice(content_type.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(CONTENT_RANGE_PREFIX);
        write_u64(&mut out, range.first);
        out.put_u8(b'-');
        write_u64(&mut out, range.last);
        out.put_u8(b'/');
        write_u64(&mut out, self.complete_len);
        out.put_slice(b"\r\n\r\n");
        out.freeze()
    }

    pub(crate) fn closing(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(closing_len() as usize);
        out.put_slice(b"\r\n--");
        out.put_slice(self.boundary.as_bytes());
        out.put_slice(b"--\r\n");
        out.freeze()
    }
}

/// Writes a decimal number without going through `fmt`.
pub(crate) fn write_u64(out: &mut BytesMut, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_table() {
        for (n, d) in [(0, 1), (9, 1), (10, 2), (99, 2), (100, 3), (u64::MAX, 20)] {
            assert_eq!(digits(n), d, "{n}");
        }
    }

    #[test]
    fn computed_lengths_match_built_frames() {
        let cases = [
            (
                Some(HeaderValue::from_static("text/plain")),
                ByteRange { first: 0, last: 4 },
                100,
            ),
            (None, ByteRange { first: 0, last: 0 }, 1),
            (
                Some(HeaderValue::from_static("application/octet-stream")),
                ByteRange {
                    first: 123_456,
                    last: u64::MAX - 1,
                },
                u64::MAX,
            ),
        ];
        for (content_type, range, complete) in cases {
            let framing = Framing::new(content_type, complete);
            let header = framing.part_header(range);
            assert_eq!(
                header.len() as u64,
                part_header_len(framing.content_type_len(), range, complete)
            );
            assert_eq!(framing.closing().len() as u64, closing_len());
        }
    }

    #[test]
    fn frame_shape() {
        let framing = Framing::new(Some(HeaderValue::from_static("text/plain")), 100);
        let b = std::str::from_utf8(framing.boundary.as_bytes())
            .unwrap()
            .to_owned();
        assert_eq!(
            framing.part_header(ByteRange { first: 0, last: 4 }),
            format!(
                "\r\n--{b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/100\r\n\r\n"
            )
        );
        assert_eq!(framing.closing(), format!("\r\n--{b}--\r\n"));
        assert_eq!(
            framing.header_value(),
            format!("multipart/byteranges; boundary={b}").as_str()
        );
    }

    #[test]
    fn boundaries_differ() {
        let a = Boundary::random();
        let b = Boundary::random();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
    }
}
