//! The decision, as pure functions of plain data.
//!
//! [`decide`] looks at the request's conditional headers and the inner
//! response's status and validators, and says what to do before the length
//! of the representation matters. When it answers [`Decision::Ranges`],
//! [`resolve`] turns the range set and the length into the ranges to send.
//! No I/O happens here, so every rule of RFC 9110 is tested in tables.
//!
//! ```
//! use std::time::SystemTime;
//! use http::{HeaderMap, Method, StatusCode};
//! use tower_range::plan::{decide, Conditions, Decision, FullReason, Policy, ResponseFacts};
//!
//! // A GET without Range: the full 200, advertising ranges.
//! let conditions = Conditions::capture(&Method::GET, &HeaderMap::new()).unwrap();
//! let headers = HeaderMap::new();
//! let facts = ResponseFacts::from_headers(StatusCode::OK, &headers, Some(10));
//! let decision = decide(&conditions, &facts, &Policy::default(), SystemTime::now());
//! assert_eq!(decision, Decision::Full { accept_ranges: true, reason: FullReason::NoRange });
//! ```

use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::header::{
    if_range_matches, is_multipart_byteranges, match_tag_list, parse_http_date, parse_range,
    single_value, ByteRange, EntityTag, RangeError, RangeSet, TagMatch,
};
use crate::multipart;

/// The knobs of the range logic. [`RangeLayer`](crate::RangeLayer) sets them
/// with its builder methods; [`Policy::default`] holds the defaults.
///
/// ```
/// use tower_range::{plan::Policy, RangeLayer};
/// let policy: Policy = *RangeLayer::new().max_ranges(5).policy();
/// assert_ne!(policy, Policy::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(crate) max_ranges: usize,
    pub(crate) multipart_slack: u64,
    pub(crate) merge_gap: u64,
    pub(crate) buffer_limit: usize,
    pub(crate) preconditions: bool,
    /// Derive a strong ETag from bodies of at most this many bytes.
    pub(crate) content_etag: Option<usize>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_ranges: 100,
            multipart_slack: 1024,
            merge_gap: 0,
            buffer_limit: 1024 * 1024,
            preconditions: true,
            content_etag: None,
        }
    }
}

/// A request header as the layer captured it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Field {
    #[default]
    Absent,
    One(HeaderValue),
    /// Two or more lines of a header that allows only one.
    Many,
}

impl Field {
    /// Records one more line of the header.
    fn push(&mut self, value: &HeaderValue) {
        *self = match self {
            Field::Absent => Field::One(value.clone()),
            _ => Field::Many,
        };
    }

    /// The value of a single-valued header; `None` when absent or repeated.
    fn single(&self) -> Option<&[u8]> {
        match self {
            Field::One(value) => Some(value.as_bytes()),
            _ => None,
        }
    }

    fn date(&self) -> Option<SystemTime> {
        self.single().and_then(parse_http_date)
    }
}

/// What a `GET` or `HEAD` request asked for: its `Range` and its conditions.
///
/// Captured from the request before it goes to the inner service; holding
/// it costs a reference-count bump per header present, and nothing for the
/// headers a request does not have.
///
/// ```
/// use http::{HeaderMap, Method};
/// use tower_range::plan::Conditions;
/// let mut headers = HeaderMap::new();
/// headers.insert("if-none-match", "\"v1\"".parse().unwrap());
/// let conditions = Conditions::capture(&Method::HEAD, &headers).unwrap();
/// assert!(conditions.is_head() && !conditions.has_range() && !conditions.is_plain());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    head: bool,
    range: Field,
    /// Boxed: most requests carry none of them, and the conditions travel in
    /// every response future.
    validators: Option<Box<Validators>>,
}

/// The conditional headers other than `Range`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Validators {
    if_range: Field,
    if_match: Vec<HeaderValue>,
    if_none_match: Vec<HeaderValue>,
    if_modified_since: Field,
    if_unmodified_since: Field,
}

static NO_VALIDATORS: Validators = Validators {
    if_range: Field::Absent,
    if_match: Vec::new(),
    if_none_match: Vec::new(),
    if_modified_since: Field::Absent,
    if_unmodified_since: Field::Absent,
};

impl Conditions {
    /// Captures the conditions of a request. `None` for every method other
    /// than `GET` and `HEAD`: their `Range` is ignored and, since the inner
    /// service has already acted, their preconditions are not evaluated here.
    ///
    /// ```
    /// use http::{HeaderMap, Method};
    /// use tower_range::plan::Conditions;
    /// assert!(Conditions::capture(&Method::GET, &HeaderMap::new()).is_some());
    /// assert!(Conditions::capture(&Method::POST, &HeaderMap::new()).is_none());
    /// ```
    pub fn capture(method: &Method, headers: &HeaderMap) -> Option<Self> {
        let head = match *method {
            Method::GET => false,
            Method::HEAD => true,
            _ => return None,
        };
        let mut conditions = Conditions {
            head,
            range: Field::Absent,
            validators: None,
        };
        // One pass over the request's headers, comparing names (a byte
        // compare for standard headers), rather than six hash lookups.
        for (name, value) in headers {
            if name == header::RANGE {
                conditions.range.push(value);
                continue;
            }
            let is = |other: header::HeaderName| name == other;
            if !(is(header::IF_RANGE)
                || is(header::IF_MATCH)
                || is(header::IF_NONE_MATCH)
                || is(header::IF_MODIFIED_SINCE)
                || is(header::IF_UNMODIFIED_SINCE))
            {
                continue;
            }
            let validators = conditions.validators.get_or_insert_with(Default::default);
            if is(header::IF_RANGE) {
                validators.if_range.push(value);
            } else if is(header::IF_MATCH) {
                validators.if_match.push(value.clone());
            } else if is(header::IF_NONE_MATCH) {
                validators.if_none_match.push(value.clone());
            } else if is(header::IF_MODIFIED_SINCE) {
                validators.if_modified_since.push(value);
            } else {
                validators.if_unmodified_since.push(value);
            }
        }
        Some(conditions)
    }

    fn validators(&self) -> &Validators {
        self.validators.as_deref().unwrap_or(&NO_VALIDATORS)
    }

    /// `true` for a `HEAD` request.
    ///
    /// ```
    /// # use http::{HeaderMap, Method};
    /// # use tower_range::plan::Conditions;
    /// let head = Conditions::capture(&Method::HEAD, &HeaderMap::new()).unwrap();
    /// assert!(head.is_head());
    /// assert!(!Conditions::capture(&Method::GET, &HeaderMap::new()).unwrap().is_head());
    /// ```
    pub fn is_head(&self) -> bool {
        self.head
    }

    /// `true` when the request has a `Range` header (one line or more).
    ///
    /// ```
    /// # use http::{HeaderMap, Method};
    /// # use tower_range::plan::Conditions;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("range", "bytes=garbage".parse().unwrap()); // present, even if invalid
    /// assert!(Conditions::capture(&Method::GET, &headers).unwrap().has_range());
    /// ```
    pub fn has_range(&self) -> bool {
        self.range != Field::Absent
    }

    pub(crate) fn has_if_range(&self) -> bool {
        self.validators().if_range != Field::Absent
    }

    /// `true` when `If-Match` is present: it, not `If-Unmodified-Since`,
    /// decides a `412`.
    pub(crate) fn has_if_match(&self) -> bool {
        !self.validators().if_match.is_empty()
    }

    /// `true` when `If-None-Match` is present: it, not `If-Modified-Since`,
    /// decides a `304`.
    pub(crate) fn has_if_none_match(&self) -> bool {
        !self.validators().if_none_match.is_empty()
    }

    /// `true` when the request has a precondition or an `If-Range`: only
    /// then do the response's `ETag`, `Last-Modified` and `Date` matter.
    pub(crate) fn compares_validators(&self) -> bool {
        self.validators.is_some()
    }

    pub(crate) fn range_value(&self) -> Option<&HeaderValue> {
        match &self.range {
            Field::One(value) => Some(value),
            _ => None,
        }
    }

    /// `true` when the request carries none of the headers this crate acts
    /// on (`If-Range` alone is ignored without `Range`).
    ///
    /// ```
    /// # use http::{HeaderMap, Method};
    /// # use tower_range::plan::Conditions;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("if-range", "\"v1\"".parse().unwrap());
    /// assert!(Conditions::capture(&Method::GET, &headers).unwrap().is_plain());
    /// headers.insert("range", "bytes=0-1".parse().unwrap());
    /// assert!(!Conditions::capture(&Method::GET, &headers).unwrap().is_plain());
    /// ```
    pub fn is_plain(&self) -> bool {
        let v = self.validators();
        self.range == Field::Absent
            && v.if_match.is_empty()
            && v.if_none_match.is_empty()
            && v.if_modified_since == Field::Absent
            && v.if_unmodified_since == Field::Absent
    }
}

/// What the inner response says about the representation.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_range::plan::ResponseFacts;
/// let mut headers = HeaderMap::new();
/// headers.insert("accept-ranges", "none".parse().unwrap());
/// headers.insert("etag", "W/\"7\"".parse().unwrap());
/// let facts = ResponseFacts::from_headers(StatusCode::OK, &headers, Some(3));
/// assert!(facts.ranges_refused && !facts.already_partial);
/// assert!(facts.etag.is_some_and(|tag| tag.is_weak()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseFacts<'a> {
    /// The inner status.
    pub status: StatusCode,
    /// The `ETag`, if one parses.
    pub etag: Option<EntityTag<'a>>,
    /// The `Last-Modified` date, if one parses.
    pub last_modified: Option<SystemTime>,
    /// The `Date`, if one parses.
    pub date: Option<SystemTime>,
    /// The representation length, when known before reading the body.
    pub length: Option<u64>,
    /// `Accept-Ranges: none`: the inner service opts out of ranges.
    pub ranges_refused: bool,
    /// The response is already partial: it has a `Content-Range` or is
    /// `multipart/byteranges`.
    pub already_partial: bool,
}

impl<'a> ResponseFacts<'a> {
    /// Reads the facts from a response head; `length` comes from the caller,
    /// who knows the body. A header repeated or unparsable counts as absent.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use tower_range::plan::ResponseFacts;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
    /// headers.append("etag", "\"a\"".parse().unwrap());
    /// headers.append("etag", "\"b\"".parse().unwrap());
    /// let facts = ResponseFacts::from_headers(StatusCode::OK, &headers, None);
    /// assert!(facts.last_modified.is_some() && facts.etag.is_none());
    /// ```
    pub fn from_headers(status: StatusCode, headers: &'a HeaderMap, length: Option<u64>) -> Self {
        let single = |name| single_value(headers, &name).map(HeaderValue::as_bytes);
        ResponseFacts {
            etag: single(header::ETAG).and_then(EntityTag::parse),
            last_modified: single(header::LAST_MODIFIED).and_then(parse_http_date),
            date: single(header::DATE).and_then(parse_http_date),
            ..Self::without_validators(status, headers, length)
        }
    }

    /// Like [`from_headers`](Self::from_headers), without reading `ETag`,
    /// `Last-Modified` and `Date`: enough for a request with no conditions.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use tower_range::plan::ResponseFacts;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("etag", "\"a\"".parse().unwrap());
    /// headers.insert("content-range", "bytes 0-0/9".parse().unwrap());
    /// let facts = ResponseFacts::without_validators(StatusCode::OK, &headers, Some(1));
    /// assert!(facts.etag.is_none() && facts.already_partial);
    /// ```
    pub fn without_validators(
        status: StatusCode,
        headers: &HeaderMap,
        length: Option<u64>,
    ) -> Self {
        let ranges_refused = headers
            .get_all(header::ACCEPT_RANGES)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"none"));
        let multipart = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| is_multipart_byteranges(value.as_bytes()));
        ResponseFacts {
            status,
            etag: None,
            last_modified: None,
            date: None,
            length,
            ranges_refused,
            already_partial: multipart || headers.contains_key(header::CONTENT_RANGE),
        }
    }
}

/// Why the full representation goes out instead of a range.
///
/// ```
/// use tower_range::header::parse_range;
/// use tower_range::plan::{resolve, FullReason, Resolution};
/// let set = parse_range(b"bytes=0-0,2-2,4-4", 100).unwrap();
/// // Three one-byte parts of a five-byte body, with no slack for framing.
/// let policy = *tower_range::RangeLayer::new().multipart_slack(0).policy();
/// assert_eq!(resolve(&set, 5, &policy, None), Resolution::Full(FullReason::Amplification));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullReason {
    /// The request has no `Range`.
    NoRange,
    /// The request has more than one `Range` line.
    RepeatedRange,
    /// The `Range` header did not parse, or named another unit, or had too
    /// many specs.
    Invalid(RangeError),
    /// `If-Range` did not match the current representation.
    IfRangeMismatch,
    /// The inner response said `Accept-Ranges: none`.
    Refused,
    /// The representation is empty: no range of it can be sent.
    Empty,
    /// The length is unknown and cannot be learned (a `HEAD`, or a body past
    /// the buffer limit).
    UnknownLength,
    /// The multipart body would be larger than the representation plus the
    /// allowed slack.
    Amplification,
    /// Several ranges out of order over a body that can only be read once,
    /// and the bytes to hold back exceed the buffer limit.
    BufferLimit,
}

impl FullReason {
    /// A short, stable word for logs and metrics; the `reason` field of the
    /// `tracing` feature's event. An invalid `Range` gives the word of its
    /// [`RangeError`] ([`RangeError::as_str`]):
    ///
    /// | reason | word |
    /// |---|---|
    /// | `NoRange` | `no_range` |
    /// | `RepeatedRange` | `repeated_range` |
    /// | `Invalid(RangeError::Syntax)` | `invalid_syntax` |
    /// | `Invalid(RangeError::OtherUnit)` | `other_unit` |
    /// | `Invalid(RangeError::InvalidSpec)` | `invalid_spec` |
    /// | `Invalid(RangeError::TooManyRanges)` | `too_many_ranges` |
    /// | `IfRangeMismatch` | `if_range_mismatch` |
    /// | `Refused` | `refused` |
    /// | `Empty` | `empty` |
    /// | `UnknownLength` | `unknown_length` |
    /// | `Amplification` | `amplification` |
    /// | `BufferLimit` | `buffer_limit` |
    ///
    /// ```
    /// use tower_range::header::RangeError;
    /// use tower_range::plan::FullReason;
    ///
    /// assert_eq!(FullReason::IfRangeMismatch.as_str(), "if_range_mismatch");
    /// assert_eq!(FullReason::Invalid(RangeError::OtherUnit).as_str(), "other_unit");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            FullReason::NoRange => "no_range",
            FullReason::RepeatedRange => "repeated_range",
            FullReason::Invalid(error) => error.as_str(),
            FullReason::IfRangeMismatch => "if_range_mismatch",
            FullReason::Refused => "refused",
            FullReason::Empty => "empty",
            FullReason::UnknownLength => "unknown_length",
            FullReason::Amplification => "amplification",
            FullReason::BufferLimit => "buffer_limit",
        }
    }
}

/// What to do with a response, before its length matters.
///
/// ```
/// use std::time::SystemTime;
/// use http::{HeaderMap, Method, StatusCode};
/// use tower_range::plan::{decide, Conditions, Decision, Policy, ResponseFacts};
/// let mut request = HeaderMap::new();
/// request.insert("if-none-match", "\"v1\"".parse().unwrap());
/// let conditions = Conditions::capture(&Method::GET, &request).unwrap();
/// let mut response = HeaderMap::new();
/// response.insert("etag", "\"v1\"".parse().unwrap());
/// let facts = ResponseFacts::from_headers(StatusCode::OK, &response, Some(10));
/// let decision = decide(&conditions, &facts, &Policy::default(), SystemTime::now());
/// assert_eq!(decision, Decision::NotModified);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Not ours to touch: the response goes out untouched.
    PassThrough,
    /// `304 Not Modified`.
    NotModified,
    /// `412 Precondition Failed`.
    PreconditionFailed,
    /// The full `200`; `accept_ranges` says whether to advertise
    /// `Accept-Ranges: bytes`.
    Full {
        /// Advertise `Accept-Ranges: bytes`.
        accept_ranges: bool,
        /// Why no range is sent.
        reason: FullReason,
    },
    /// A valid range set: [`resolve`] it against the length.
    Ranges(RangeSet<'a>),
}

/// Evaluates the preconditions (RFC 9110 §13.2.2), `If-Range` (§13.1.5) and
/// the syntax of `Range` (§14.2), in that order.
///
/// `now` stands for the response's `Date` when it has none.
///
/// ```
/// use std::time::SystemTime;
/// use http::{HeaderMap, Method, StatusCode};
/// use tower_range::plan::{decide, resolve, Conditions, Decision, Policy, Resolution, ResponseFacts};
/// use tower_range::header::ByteRange;
///
/// let mut request = HeaderMap::new();
/// request.insert("range", "bytes=-10".parse().unwrap());
/// let conditions = Conditions::capture(&Method::GET, &request).unwrap();
///
/// let response = HeaderMap::new();
/// let facts = ResponseFacts::from_headers(StatusCode::OK, &response, Some(100));
/// let policy = Policy::default();
/// let Decision::Ranges(set) = decide(&conditions, &facts, &policy, SystemTime::now()) else {
///     panic!("a valid range on a 200 of known length");
/// };
/// assert_eq!(resolve(&set, 100, &policy, None), Resolution::Single(ByteRange { first: 90, last: 99 }));
/// ```
pub fn decide<'a>(
    request: &'a Conditions,
    response: &ResponseFacts<'_>,
    policy: &Policy,
    now: SystemTime,
) -> Decision<'a> {
    if response.status != StatusCode::OK || response.already_partial {
        return Decision::PassThrough;
    }
    if policy.preconditions {
        if let Some(decision) = preconditions(request, response) {
            return decision;
        }
    }
    let rangeable = !response.ranges_refused && response.length.is_some();
    let full = |reason| Decision::Full {
        accept_ranges: rangeable,
        reason,
    };
    let range = match &request.range {
        Field::Absent => return full(FullReason::NoRange),
        Field::Many => return full(FullReason::RepeatedRange),
        Field::One(value) => value.as_bytes(),
    };
    if response.ranges_refused {
        return full(FullReason::Refused);
    }
    match &request.validators().if_range {
        Field::Absent => {}
        Field::Many => return full(FullReason::IfRangeMismatch),
        Field::One(value) => {
            let date = response.date.unwrap_or(now);
            if !if_range_matches(
                value.as_bytes(),
                response.etag,
                response.last_modified,
                date,
            ) {
                return full(FullReason::IfRangeMismatch);
            }
        }
    }
    let set = match parse_range(range, policy.max_ranges) {
        Ok(set) => set,
        Err(error) => return full(FullReason::Invalid(error)),
    };
    match response.length {
        Some(0) => full(FullReason::Empty),
        // A HEAD body says nothing about the length: never guess.
        None if request.head => full(FullReason::UnknownLength),
        _ => Decision::Ranges(set),
    }
}

fn preconditions<'a>(
    request: &'a Conditions,
    response: &ResponseFacts<'_>,
) -> Option<Decision<'static>> {
    let lines = |values: &'a [HeaderValue]| values.iter().map(HeaderValue::as_bytes);
    let v = request.validators();
    if !v.if_match.is_empty() {
        if match_tag_list(lines(&v.if_match), response.etag, false) == TagMatch::NotMatched {
            return Some(Decision::PreconditionFailed);
        }
    } else if let (Some(since), Some(modified)) =
        (v.if_unmodified_since.date(), response.last_modified)
    {
        if modified > since {
            return Some(Decision::PreconditionFailed);
        }
    }
    if !v.if_none_match.is_empty() {
        if match_tag_list(lines(&v.if_none_match), response.etag, true) == TagMatch::Matched {
            return Some(Decision::NotModified);
        }
    } else if let (Some(since), Some(modified)) =
        (v.if_modified_since.date(), response.last_modified)
    {
        if modified <= since {
            return Some(Decision::NotModified);
        }
    }
    None
}

/// The ranges to send, once the length is known.
///
/// ```
/// use tower_range::header::{parse_range, ByteRange};
/// use tower_range::plan::{resolve, Policy, Resolution};
/// let policy = Policy::default();
/// let resolve = |range: &[u8]| resolve(&parse_range(range, 100).unwrap(), 100, &policy, None);
/// assert_eq!(resolve(b"bytes=0-9,5-19"), Resolution::Single(ByteRange { first: 0, last: 19 }));
/// assert_eq!(resolve(b"bytes=100-"), Resolution::Unsatisfiable);
/// assert!(matches!(resolve(b"bytes=0-9,50-59"), Resolution::Multi(parts) if parts.len() == 2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Send the full `200` after all.
    Full(FullReason),
    /// `206` with one `Content-Range`.
    Single(ByteRange),
    /// `206 multipart/byteranges`, parts in this order (at least two).
    Multi(Vec<ByteRange>),
    /// `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Resolves a range set against a representation of `len` bytes.
///
/// Unsatisfiable specs are dropped; overlapping and adjacent ranges (and,
/// with [`RangeLayer::merge_gap`](crate::RangeLayer::merge_gap), ranges
/// separated by a small gap) are merged; a merged range takes the place of
/// its earliest member, so parts keep the order of the request. A single
/// range left is sent alone. A multipart body larger than `len` plus the
/// slack is refused (the full `200` is no larger and says the same).
/// `content_type_len` is the length of the representation's `Content-Type`,
/// which each part repeats.
///
/// Work is `O(n log n)` in the number of specs, which the parser caps.
///
/// ```
/// use tower_range::header::{parse_range, ByteRange};
/// use tower_range::plan::{resolve, Policy, Resolution};
///
/// let policy = Policy::default();
/// let set = parse_range(b"bytes=500-599,0-9,5-19", 100).unwrap();
/// // 0-9 and 5-19 merge; parts keep the order of the request.
/// assert_eq!(
///     resolve(&set, 10_000, &policy, None),
///     Resolution::Multi(vec![ByteRange { first: 500, last: 599 }, ByteRange { first: 0, last: 19 }])
/// );
/// assert_eq!(resolve(&set, 0, &policy, None), Resolution::Full(tower_range::plan::FullReason::Empty));
/// ```
pub fn resolve(
    set: &RangeSet<'_>,
    len: u64,
    policy: &Policy,
    content_type_len: Option<usize>,
) -> Resolution {
    if len == 0 {
        return Resolution::Full(FullReason::Empty);
    }
    if set.len() == 1 {
        return match set.iter().next().and_then(|spec| spec.resolve(len)) {
            Some(range) => Resolution::Single(range),
            None => Resolution::Unsatisfiable,
        };
    }
    let mut ranges: Vec<(ByteRange, usize)> = set
        .iter()
        .enumerate()
        .filter_map(|(order, spec)| spec.resolve(len).map(|range| (range, order)))
        .collect();
    ranges.sort_unstable_by_key(|(range, _)| range.first);
    let mut merged: Vec<(ByteRange, usize)> = Vec::with_capacity(ranges.len());
    for (range, order) in ranges {
        match merged.last_mut() {
            Some((last, first_order))
                if range.first <= last.last.saturating_add(1).saturating_add(policy.merge_gap) =>
            {
                last.last = last.last.max(range.last);
                *first_order = (*first_order).min(order);
            }
            _ => merged.push((range, order)),
        }
    }
    match merged.len() {
        0 => return Resolution::Unsatisfiable,
        1 => return Resolution::Single(merged[0].0),
        _ => {}
    }
    merged.sort_unstable_by_key(|(_, order)| *order);
    let ranges: Vec<ByteRange> = merged.into_iter().map(|(range, _)| range).collect();
    // Checked, not saturated: near u64::MAX both sides would saturate to the
    // same value and hide an amplification.
    let body = multipart::checked_body_len(&ranges, content_type_len, len);
    match (body, len.checked_add(policy.multipart_slack)) {
        (None, _) => Resolution::Full(FullReason::Amplification),
        (Some(body), Some(limit)) if body > limit => Resolution::Full(FullReason::Amplification),
        _ => Resolution::Multi(ranges),
    }
}

#[cfg(test)]
mod tests;
