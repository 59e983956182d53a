//! Pure, allocation-free parsers for the request and response headers the
//! layer reads: `Range`, entity tags and their lists, and HTTP dates.
//!
//! ```
//! use tower_range::header::{parse_range, ByteRange, EntityTag};
//!
//! let set = parse_range(b"bytes=0-99", 100).unwrap();
//! let first = set.iter().next().unwrap().resolve(50);
//! assert_eq!(first, Some(ByteRange { first: 0, last: 49 }));
//! assert!(EntityTag::parse(b"W/\"v2\"").unwrap().is_weak());
//! ```

mod date;
mod etag;
mod range;

pub use date::{if_range_matches, parse_http_date, IfRange};
pub use etag::{match_tag_list, EntityTag, TagMatch};
pub use range::{parse_range, ByteRange, RangeError, RangeSet, RangeSpec, RangeSpecs};

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The value of a header that appears exactly once; `None` when it is
/// absent or repeated (a repeated single-valued header is not trusted).
pub(crate) fn single_value<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// `1*19DIGIT` as a number (nineteen digits never overflow a `u64`);
/// `None` for anything else, signs and spaces included.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// A `Content-Type` of `multipart/byteranges` (any case, parameters
/// after it): what a response that is already partial says.
pub(crate) fn is_multipart_byteranges(content_type: &[u8]) -> bool {
    content_type
        .get(..20)
        .is_some_and(|essence| essence.eq_ignore_ascii_case(b"multipart/byteranges"))
}

/// Header lines, in order, as a map (a name may repeat): the unit tests'
/// way of writing a request's or a response's headers.
#[cfg(test)]
pub(crate) fn header_map(lines: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in lines {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(
            parse_decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"1a",
            b"10000000000000000000",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn single_values() {
        let mut headers = HeaderMap::new();
        let name = http::header::ETAG;
        assert!(single_value(&headers, &name).is_none());
        headers.append(&name, HeaderValue::from_static("\"a\""));
        assert_eq!(
            single_value(&headers, &name).map(HeaderValue::as_bytes),
            Some(&b"\"a\""[..])
        );
        headers.append(&name, HeaderValue::from_static("\"a\""));
        assert!(single_value(&headers, &name).is_none());
    }

    #[test]
    fn multipart_byteranges() {
        assert!(is_multipart_byteranges(b"multipart/byteranges; boundary=x"));
        assert!(is_multipart_byteranges(b"Multipart/ByteRanges"));
        assert!(!is_multipart_byteranges(b"multipart/related"));
        assert!(!is_multipart_byteranges(b"multipart/byterange"));
    }
}
