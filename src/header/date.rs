//! HTTP dates (RFC 9110 §5.6.7) and the `If-Range` condition (§13.1.5).

use std::time::{Duration, SystemTime};

use super::etag::EntityTag;

/// Parses an HTTP-date in any of its three formats (IMF-fixdate, RFC 850,
/// asctime). `None` for anything else, including non-UTF-8 bytes.
///
/// ```
/// use tower_range::header::parse_http_date;
/// let a = parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
/// let b = parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT").unwrap();
/// let c = parse_http_date(b"Sun Nov  6 08:49:37 1994").unwrap();
/// assert!(a == b && b == c);
/// assert!(parse_http_date(b"yesterday").is_none());
/// ```
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> {
    let value = std::str::from_utf8(super::range::trim_ows(value)).ok()?;
    httpdate::parse_http_date(value).ok()
}

/// A parsed `If-Range` value.
///
/// ```
/// use tower_range::header::{EntityTag, IfRange};
/// assert_eq!(IfRange::parse(b"\"v1\""), IfRange::Tag(EntityTag::parse(b"\"v1\"").unwrap()));
/// assert!(matches!(IfRange::parse(b"Sun, 06 Nov 1994 08:49:37 GMT"), IfRange::Date(_)));
/// assert_eq!(IfRange::parse(b"soon"), IfRange::Invalid);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfRange<'a> {
    /// An entity tag.
    Tag(EntityTag<'a>),
    /// An HTTP-date.
    Date(SystemTime),
    /// Neither: it can never match.
    Invalid,
}

impl<'a> IfRange<'a> {
    /// Parses an `If-Range` value: an entity tag if it looks like one,
    /// otherwise an HTTP-date.
    ///
    /// ```
    /// use tower_range::header::IfRange;
    /// assert!(matches!(IfRange::parse(b" W/\"v1\" "), IfRange::Tag(tag) if tag.is_weak()));
    /// // Looks like a tag, is not one: never a date.
    /// assert_eq!(IfRange::parse(b"\"unterminated"), IfRange::Invalid);
    /// ```
    pub fn parse(value: &'a [u8]) -> Self {
        let trimmed = super::range::trim_ows(value);
        if trimmed.starts_with(b"\"") || trimmed.starts_with(b"W/") {
            return EntityTag::parse(trimmed).map_or(IfRange::Invalid, IfRange::Tag);
        }
        parse_http_date(trimmed).map_or(IfRange::Invalid, IfRange::Date)
    }
}

/// Evaluates `If-Range` against the representation's validators
/// (RFC 9110 §13.1.5).
///
/// - An entity tag matches only by strong comparison: a weak tag on either
///   side never matches.
/// - A date matches only if it equals `Last-Modified` exactly (compared as
///   instants) **and** that `Last-Modified` is strong: at least one second
///   before `date`, the response's `Date` (or the current time).
/// - Anything else does not match.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_range::header::{if_range_matches, EntityTag};
///
/// let etag = EntityTag::parse(b"\"v1\"");
/// let now = SystemTime::now();
/// assert!(if_range_matches(b"\"v1\"", etag, None, now));
/// assert!(!if_range_matches(b"W/\"v1\"", etag, None, now));
/// assert!(!if_range_matches(b"tomorrow", etag, None, now));
/// ```
pub fn if_range_matches(
    value: &[u8],
    etag: Option<EntityTag<'_>>,
    last_modified: Option<SystemTime>,
    date: SystemTime,
) -> bool {
    match IfRange::parse(value) {
        IfRange::Tag(tag) => etag.is_some_and(|etag| etag.strong_eq(&tag)),
        IfRange::Date(when) => last_modified.is_some_and(|lm| {
            lm == when
                && lm
                    .checked_add(Duration::from_secs(1))
                    .is_some_and(|strong_from| strong_from <= date)
        }),
        IfRange::Invalid => false,
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the tables spell out their rows
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn if_range_table() {
        let lm = at(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let later = at(784_111_777 + 3600);
        let etag = EntityTag::parse(b"\"v1\"");
        let weak = EntityTag::parse(b"W/\"v1\"");
        let table: &[(
            &[u8],
            Option<EntityTag<'_>>,
            Option<SystemTime>,
            SystemTime,
            bool,
        )] = &[
            (b"\"v1\"", etag, None, later, true),
            (b" \"v1\" ", etag, None, later, true),
            (b"\"v2\"", etag, None, later, false),
            (b"W/\"v1\"", etag, None, later, false),
            (b"\"v1\"", weak, None, later, false),
            (b"\"v1\"", None, Some(lm), later, false),
            (
                b"Sun, 06 Nov 1994 08:49:37 GMT",
                None,
                Some(lm),
                later,
                true,
            ),
            (
                b"Sunday, 06-Nov-94 08:49:37 GMT",
                None,
                Some(lm),
                later,
                true,
            ),
            (b"Sun Nov  6 08:49:37 1994", None, Some(lm), later, true),
            (
                b"Sun, 06 Nov 1994 08:49:38 GMT",
                None,
                Some(lm),
                later,
                false,
            ),
            (
                b"Sun, 06 Nov 1994 08:49:36 GMT",
                None,
                Some(lm),
                later,
                false,
            ),
            (b"Sun, 06 Nov 1994 08:49:37 GMT", None, None, later, false),
            (b"Sun, 06 Nov 1994 08:49:37 GMT", etag, None, later, false),
            // Weak Last-Modified: less than a second before Date.
            (b"Sun, 06 Nov 1994 08:49:37 GMT", None, Some(lm), lm, false),
            (
                b"Sun, 06 Nov 1994 08:49:37 GMT",
                None,
                Some(lm),
                at(784_111_778),
                true,
            ),
            (b"foo", etag, Some(lm), later, false),
            (b"", etag, Some(lm), later, false),
            (b"\"v1", etag, Some(lm), later, false),
            (b"\xff\xfe", etag, Some(lm), later, false),
        ];
        for (value, etag, lm, date, expected) in table {
            assert_eq!(
                if_range_matches(value, *etag, *lm, *date),
                *expected,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
