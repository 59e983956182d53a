//! Table tests for [`decide`] and [`resolve`]: one test per rule of
//! DESIGN §1 (RFC 9110 §13.1, §13.2.2, §14.1, §14.2), named after the rule.
//!
//! Every request is built the way the layer builds it: a real
//! [`HeaderMap`] (with `append` for repeated lines) captured by
//! [`Conditions::capture`], and the inner response read by
//! [`ResponseFacts::from_headers`] (or written as a literal where a fact
//! cannot come from a header, such as a sub-second `Date`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use httpdate::fmt_http_date;

use super::*;
use crate::header::{header_map, parse_range, ByteRange, RangeError, RangeSpec};
use crate::multipart::body_len;
use crate::RangeLayer;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// `Sun, 06 Nov 1994 08:49:37 GMT`, the RFC's example date: the
/// representation's `Last-Modified` in most tables.
const LM: u64 = 784_111_777;
/// A current time well after [`LM`].
const NOW: u64 = LM + 30 * 365 * 86_400;

/// [`LM`] and its neighbours in all three HTTP-date formats.
const LM_IMF: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const LM_RFC850: &str = "Sunday, 06-Nov-94 08:49:37 GMT";
const LM_ASCTIME: &str = "Sun Nov  6 08:49:37 1994";
const LM_MINUS_1_IMF: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
const LM_MINUS_1_RFC850: &str = "Sunday, 06-Nov-94 08:49:36 GMT";
const LM_MINUS_1_ASCTIME: &str = "Sun Nov  6 08:49:36 1994";
const LM_PLUS_1_IMF: &str = "Sun, 06 Nov 1994 08:49:38 GMT";
const LM_PLUS_1_RFC850: &str = "Sunday, 06-Nov-94 08:49:38 GMT";
const LM_PLUS_1_ASCTIME: &str = "Sun Nov  6 08:49:38 1994";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn date(secs: u64) -> String {
    fmt_http_date(at(secs))
}

fn policy_default() -> Policy {
    *RangeLayer::new().policy()
}

/// An owned [`Decision`], so tables can hold the expected value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Pass,
    NotModified,
    Failed,
    Full(bool, FullReason),
    Ranges(Vec<RangeSpec>),
}

impl From<Decision<'_>> for Got {
    fn from(decision: Decision<'_>) -> Self {
        match decision {
            Decision::PassThrough => Got::Pass,
            Decision::NotModified => Got::NotModified,
            Decision::PreconditionFailed => Got::Failed,
            Decision::Full {
                accept_ranges,
                reason,
            } => Got::Full(accept_ranges, reason),
            Decision::Ranges(set) => Got::Ranges(set.iter().collect()),
        }
    }
}

use FullReason::*;

/// The plain `200` with `Accept-Ranges: bytes`.
const OK: Got = Got::Full(true, NoRange);
const NOT_MODIFIED: Got = Got::NotModified;
const FAILED: Got = Got::Failed;
const PASS: Got = Got::Pass;
const MISMATCH: Got = Got::Full(true, IfRangeMismatch);

fn bounded(first: u64, last: u64) -> RangeSpec {
    RangeSpec::Bounded { first, last }
}

fn from(first: u64) -> RangeSpec {
    RangeSpec::From { first }
}

fn suffix(len: u64) -> RangeSpec {
    RangeSpec::Suffix { len }
}

/// `Ranges(bytes=0-4)`, the answer to the `Range` most tables send.
fn first_five() -> Got {
    Got::Ranges(vec![bounded(0, 4)])
}

fn invalid(error: RangeError) -> Got {
    Got::Full(true, Invalid(error))
}

/// Header lines, in order; a name may repeat.
type Lines<'a> = &'a [(&'a str, &'a str)];

/// One request/response pair handed to [`decide`].
#[derive(Clone, Debug)]
struct Exchange<'a> {
    method: Method,
    request: Vec<(&'a str, &'a str)>,
    status: StatusCode,
    response: Vec<(&'a str, &'a str)>,
    length: Option<u64>,
    policy: Policy,
    now: SystemTime,
}

/// A `GET` with these request headers, answered by a `200` of 100 bytes
/// without any response header.
fn get<'a>(request: &[(&'a str, &'a str)]) -> Exchange<'a> {
    Exchange {
        method: Method::GET,
        request: request.to_vec(),
        status: StatusCode::OK,
        response: Vec::new(),
        length: Some(100),
        policy: policy_default(),
        now: at(NOW),
    }
}

/// The same as [`get`], as a `HEAD`.
fn head<'a>(request: &[(&'a str, &'a str)]) -> Exchange<'a> {
    get(request).method(Method::HEAD)
}

impl<'a> Exchange<'a> {
    fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    fn status(mut self, status: u16) -> Self {
        self.status = StatusCode::from_u16(status).expect("status");
        self
    }

    fn response(mut self, response: &[(&'a str, &'a str)]) -> Self {
        self.response = response.to_vec();
        self
    }

    fn length(mut self, length: Option<u64>) -> Self {
        self.length = length;
        self
    }

    fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    fn now(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// `None` when [`Conditions::capture`] declines the method.
    fn try_decide(&self) -> Option<Got> {
        let request = header_map(&self.request);
        let conditions = Conditions::capture(&self.method, &request)?;
        let response = header_map(&self.response);
        let facts = ResponseFacts::from_headers(self.status, &response, self.length);
        Some(decide(&conditions, &facts, &self.policy, self.now).into())
    }

    fn decide(&self) -> Got {
        self.try_decide()
            .unwrap_or_else(|| panic!("{} is captured", self.method))
    }
}

fn check(table: &[(&str, Exchange<'_>, Got)]) {
    for (label, exchange, expected) in table {
        assert_eq!(&exchange.decide(), expected, "{label}: {exchange:?}");
    }
}

fn r(first: u64, last: u64) -> ByteRange {
    ByteRange { first, last }
}

fn single(first: u64, last: u64) -> Resolution {
    Resolution::Single(r(first, last))
}

fn multi(ranges: &[(u64, u64)]) -> Resolution {
    Resolution::Multi(ranges.iter().map(|&(a, b)| r(a, b)).collect())
}

/// Parses `value` as a `Range` header and resolves it against `len`.
fn resolve_header(
    value: &str,
    len: u64,
    policy: &Policy,
    content_type_len: Option<usize>,
) -> Resolution {
    let set = parse_range(value.as_bytes(), policy.max_ranges)
        .unwrap_or_else(|e| panic!("{value:?} should parse: {e:?}"));
    resolve(&set, len, policy, content_type_len)
}

fn check_resolve(len: u64, policy: &Policy, table: &[(&str, Resolution)]) {
    for (value, expected) in table {
        assert_eq!(
            &resolve_header(value, len, policy, None),
            expected,
            "{value:?} of {len}"
        );
    }
}

#[test]
fn fixtures_are_what_they_claim() {
    assert_eq!(date(LM), LM_IMF);
    assert_eq!(date(LM - 1), LM_MINUS_1_IMF);
    assert_eq!(date(LM + 1), LM_PLUS_1_IMF);
    for (value, secs) in [
        (LM_IMF, LM),
        (LM_RFC850, LM),
        (LM_ASCTIME, LM),
        (LM_MINUS_1_RFC850, LM - 1),
        (LM_MINUS_1_ASCTIME, LM - 1),
        (LM_PLUS_1_RFC850, LM + 1),
        (LM_PLUS_1_ASCTIME, LM + 1),
    ] {
        assert_eq!(
            crate::header::parse_http_date(value.as_bytes()),
            Some(at(secs)),
            "{value}"
        );
    }
    assert_eq!(policy_default(), Policy::default());
}

// ---------------------------------------------------------------------------
// When ranges apply at all
// ---------------------------------------------------------------------------

#[test]
fn ranges_apply_to_get_and_head_only() {
    let range = [("range", "bytes=0-4")];
    assert_eq!(get(&range).decide(), first_five());
    assert_eq!(head(&range).decide(), first_five());

    let get_conditions = Conditions::capture(&Method::GET, &header_map(&range)).unwrap();
    let head_conditions = Conditions::capture(&Method::HEAD, &header_map(&range)).unwrap();
    assert!(!get_conditions.is_head());
    assert!(head_conditions.is_head());
    assert!(get_conditions.has_range() && head_conditions.has_range());

    // Every other method: the Range is ignored and, since the inner service
    // has already acted, preconditions are not evaluated either.
    let request = [
        ("range", "bytes=0-4"),
        ("if-match", "\"nope\""),
        ("if-none-match", "*"),
        ("if-unmodified-since", LM_MINUS_1_IMF),
        ("if-modified-since", LM_PLUS_1_IMF),
    ];
    let lm = date(LM);
    let response = [("etag", "\"v1\""), ("last-modified", lm.as_str())];
    let others = [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
        Method::from_bytes(b"PROPFIND").unwrap(),
        // Methods are case-sensitive: `get` is not GET.
        Method::from_bytes(b"get").unwrap(),
        Method::from_bytes(b"head").unwrap(),
    ];
    for method in others {
        assert!(Conditions::capture(&method, &header_map(&request)).is_none());
        assert!(Conditions::capture(&method, &HeaderMap::new()).is_none());
        let exchange = get(&request).method(method.clone()).response(&response);
        assert_eq!(exchange.try_decide(), None, "{method}");
    }
}

#[test]
fn conditions_capture_what_the_request_asked() {
    let plain = Conditions::capture(&Method::GET, &HeaderMap::new()).unwrap();
    assert!(plain.is_plain() && !plain.has_range() && !plain.is_head());

    for (lines, has_range, plain) in [
        (&[("range", "bytes=0-4")][..], true, false),
        (
            &[("range", "bytes=0-4"), ("range", "bytes=5-9")][..],
            true,
            false,
        ),
        (&[("if-match", "*")][..], false, false),
        (&[("if-none-match", "*")][..], false, false),
        (&[("if-modified-since", LM_IMF)][..], false, false),
        (&[("if-unmodified-since", LM_IMF)][..], false, false),
        // If-Range means nothing without a Range.
        (&[("if-range", "\"v1\"")][..], false, true),
        (&[("accept", "*/*")][..], false, true),
    ] {
        let conditions = Conditions::capture(&Method::GET, &header_map(lines)).unwrap();
        assert_eq!(conditions.has_range(), has_range, "{lines:?}");
        assert_eq!(conditions.is_plain(), plain, "{lines:?}");
    }
}

#[test]
fn ranges_apply_only_to_a_200() {
    let range = [("range", "bytes=0-4")];
    assert_eq!(get(&range).status(200).decide(), first_five());

    // Other 2xx: not ours, the Range is not applied.
    for status in [201, 202, 203, 204, 205, 206, 207, 226] {
        assert_eq!(get(&range).status(status).decide(), PASS, "GET {status}");
        assert_eq!(head(&range).status(status).decide(), PASS, "HEAD {status}");
    }

    // Non-2xx: RFC 9110 §13.2.1, preconditions are ignored as well.
    let request = [
        ("range", "bytes=0-4"),
        ("if-match", "\"nope\""),
        ("if-none-match", "\"v1\""),
        ("if-unmodified-since", LM_MINUS_1_IMF),
        ("if-range", "\"v1\""),
    ];
    let response = [("etag", "\"v1\""), ("last-modified", LM_IMF)];
    for status in [
        100, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 410, 412, 416, 429, 500,
        502, 503,
    ] {
        for exchange in [get(&request), head(&request)] {
            let exchange = exchange.status(status).response(&response);
            assert_eq!(exchange.decide(), PASS, "{status}");
        }
    }
}

#[test]
fn ranges_do_not_apply_to_an_already_partial_response() {
    let request = [("range", "bytes=0-4"), ("if-match", "\"nope\"")];
    let partial: &[&[(&str, &str)]] = &[
        &[("content-range", "bytes 0-99/1000")],
        &[("content-range", "bytes */1000")],
        &[("content-type", "multipart/byteranges; boundary=xyz")],
        &[("content-type", "multipart/byteranges")],
        &[("content-type", "Multipart/ByteRanges;boundary=xyz")],
        &[("content-type", "MULTIPART/BYTERANGES; boundary=xyz")],
    ];
    for response in partial {
        // Even a failing If-Match: the response is not a 200 of ours.
        assert_eq!(
            get(&request).response(response).decide(),
            PASS,
            "{response:?}"
        );
        assert_eq!(
            head(&request).response(response).decide(),
            PASS,
            "{response:?}"
        );
    }

    let range = [("range", "bytes=0-4")];
    let whole: &[&[(&str, &str)]] = &[
        &[("content-type", "multipart/mixed; boundary=xyz")],
        &[("content-type", "multipart/form-data; boundary=xyz")],
        &[("content-type", "text/plain")],
        &[("content-type", "application/octet-stream")],
        &[("content-location", "/bytes 0-4/100")],
    ];
    for response in whole {
        assert_eq!(
            get(&range).response(response).decide(),
            first_five(),
            "{response:?}"
        );
    }

    // The same fact as a literal.
    let conditions = Conditions::capture(&Method::GET, &header_map(&range)).unwrap();
    let facts = ResponseFacts {
        status: StatusCode::OK,
        etag: None,
        last_modified: None,
        date: None,
        length: Some(100),
        ranges_refused: false,
        already_partial: true,
    };
    let policy = policy_default();
    assert_eq!(
        decide(&conditions, &facts, &policy, at(NOW)),
        Decision::PassThrough
    );
    let facts = ResponseFacts {
        already_partial: false,
        ..facts
    };
    assert_eq!(
        Got::from(decide(&conditions, &facts, &policy, at(NOW))),
        first_five()
    );
}

#[test]
fn accept_ranges_none_opts_out() {
    let range = [("range", "bytes=0-4")];
    let none = [("accept-ranges", "none")];
    let refused = Got::Full(false, Refused);
    check(&[
        ("GET", get(&range).response(&none), refused.clone()),
        ("HEAD", head(&range).response(&none), refused.clone()),
        (
            "case-insensitive",
            get(&range).response(&[("accept-ranges", "NONE")]),
            refused.clone(),
        ),
        (
            "any line",
            get(&range).response(&[("accept-ranges", "bytes"), ("accept-ranges", "none")]),
            refused.clone(),
        ),
        (
            "unknown length",
            get(&range).response(&none).length(None),
            refused.clone(),
        ),
        (
            "no Range: 200 without Accept-Ranges",
            get(&[]).response(&none),
            Got::Full(false, NoRange),
        ),
        (
            "HEAD, no Range",
            head(&[]).response(&none),
            Got::Full(false, NoRange),
        ),
        (
            "invalid Range, still not advertised",
            get(&[("range", "bytes=5-1")]).response(&none),
            refused.clone(),
        ),
        (
            "two Range lines, still not advertised",
            get(&[("range", "bytes=0-4"), ("range", "bytes=0-4")]).response(&none),
            Got::Full(false, RepeatedRange),
        ),
        (
            "Accept-Ranges: bytes from the inner service changes nothing",
            get(&range).response(&[("accept-ranges", "bytes")]),
            first_five(),
        ),
    ]);

    // The same fact as a literal.
    let conditions = Conditions::capture(&Method::GET, &header_map(&range)).unwrap();
    let facts = ResponseFacts {
        status: StatusCode::OK,
        etag: None,
        last_modified: None,
        date: None,
        length: Some(100),
        ranges_refused: true,
        already_partial: false,
    };
    assert_eq!(
        Got::from(decide(&conditions, &facts, &policy_default(), at(NOW))),
        refused
    );
}

#[test]
fn unknown_length_get_buffers_head_sends_full() {
    let range = [("range", "bytes=0-4")];
    check(&[
        (
            "GET: the service learns the length",
            get(&range).length(None),
            first_five(),
        ),
        (
            "GET suffix",
            get(&[("range", "bytes=-5")]).length(None),
            Got::Ranges(vec![suffix(5)]),
        ),
        (
            "GET several",
            get(&[("range", "bytes=50-59,0-9")]).length(None),
            Got::Ranges(vec![bounded(50, 59), bounded(0, 9)]),
        ),
        (
            "HEAD: never guess",
            head(&range).length(None),
            Got::Full(false, UnknownLength),
        ),
        (
            "GET without Range: not advertised",
            get(&[]).length(None),
            Got::Full(false, NoRange),
        ),
        (
            "HEAD without Range: not advertised",
            head(&[]).length(None),
            Got::Full(false, NoRange),
        ),
        (
            "GET, invalid Range",
            get(&[("range", "bytes=abc")]).length(None),
            Got::Full(false, Invalid(RangeError::InvalidSpec)),
        ),
        (
            "GET, two Range lines",
            get(&[("range", "bytes=0-4"), ("range", "bytes=0-4")]).length(None),
            Got::Full(false, RepeatedRange),
        ),
        (
            "GET, If-Range mismatch",
            get(&[("range", "bytes=0-4"), ("if-range", "\"v2\"")])
                .response(&[("etag", "\"v1\"")])
                .length(None),
            Got::Full(false, IfRangeMismatch),
        ),
        (
            "HEAD, If-Range match",
            head(&[("range", "bytes=0-4"), ("if-range", "\"v1\"")])
                .response(&[("etag", "\"v1\"")])
                .length(None),
            Got::Full(false, UnknownLength),
        ),
    ]);
}

#[test]
fn empty_representation_ignores_range() {
    check(&[
        (
            "GET",
            get(&[("range", "bytes=0-4")]).length(Some(0)),
            Got::Full(true, Empty),
        ),
        (
            "HEAD",
            head(&[("range", "bytes=0-4")]).length(Some(0)),
            Got::Full(true, Empty),
        ),
        (
            "suffix",
            get(&[("range", "bytes=-1")]).length(Some(0)),
            Got::Full(true, Empty),
        ),
        (
            "-0 (never 416 for an empty representation)",
            get(&[("range", "bytes=-0")]).length(Some(0)),
            Got::Full(true, Empty),
        ),
        (
            "invalid Range: syntax first",
            get(&[("range", "bytes=5-1")]).length(Some(0)),
            invalid(RangeError::InvalidSpec),
        ),
    ]);
}

#[test]
fn accept_ranges_advertised_on_a_rangeable_200() {
    let lm = date(LM);
    let validators = [("etag", "\"v1\""), ("last-modified", lm.as_str())];
    check(&[
        ("GET", get(&[]), OK),
        ("HEAD (same headers as GET)", head(&[]), OK),
        ("with validators", get(&[]).response(&validators), OK),
        ("HEAD with validators", head(&[]).response(&validators), OK),
        (
            "inner already says bytes",
            get(&[]).response(&[("accept-ranges", "bytes")]),
            OK,
        ),
        ("large", get(&[]).length(Some(u64::MAX)), OK),
        // A Range that is ignored still gets the advertisement.
        (
            "ignored Range",
            get(&[("range", "items=0-4")]),
            invalid(RangeError::OtherUnit),
        ),
        (
            "HEAD, ignored Range",
            head(&[("range", "items=0-4")]),
            invalid(RangeError::OtherUnit),
        ),
        (
            "If-Range mismatch",
            get(&[("range", "bytes=0-4"), ("if-range", "\"v2\"")]).response(&validators),
            MISMATCH,
        ),
    ]);
}

// ---------------------------------------------------------------------------
// Preconditions (RFC 9110 §13.2.2)
// ---------------------------------------------------------------------------

#[test]
fn precondition_if_match_is_strong() {
    let strong = [("etag", "\"v1\"")];
    let weak = [("etag", "W/\"v1\"")];
    let none: [(&str, &str); 0] = [];
    let lm_only = [("last-modified", LM_IMF)];
    let table: &[(Lines<'_>, Lines<'_>, Got)] = &[
        // `*` matches any current representation, ETag or not.
        (&[("if-match", "*")], &strong, OK),
        (&[("if-match", "*")], &weak, OK),
        (&[("if-match", "*")], &none, OK),
        (&[("if-match", " * ")], &lm_only, OK),
        // Strong comparison.
        (&[("if-match", "\"v1\"")], &strong, OK),
        (&[("if-match", "\"v2\"")], &strong, FAILED),
        (&[("if-match", "\"V1\"")], &strong, FAILED),
        (&[("if-match", "\"v1 \"")], &strong, FAILED),
        (&[("if-match", "W/\"v1\"")], &strong, FAILED),
        (&[("if-match", "\"v1\"")], &weak, FAILED),
        (&[("if-match", "W/\"v1\"")], &weak, FAILED),
        // Lists, on one line or several.
        (&[("if-match", "\"a\", \"v1\"")], &strong, OK),
        (&[("if-match", "\"a\",\"b\",\"v1\"")], &strong, OK),
        (&[("if-match", "\"a\" ,, \"v1\"")], &strong, OK),
        (&[("if-match", "\"a\", \"b\"")], &strong, FAILED),
        (&[("if-match", "W/\"a\", W/\"v1\"")], &strong, FAILED),
        (
            &[("if-match", "\"a\""), ("if-match", "\"v1\"")],
            &strong,
            OK,
        ),
        (&[("if-match", "\"a\""), ("if-match", "*")], &none, OK),
        (
            &[("if-match", "\"a\""), ("if-match", "\"b\"")],
            &strong,
            FAILED,
        ),
        // A comma inside the quotes is part of the tag.
        (&[("if-match", "\"a,v1\"")], &strong, FAILED),
        // Garbage matches nothing.
        (&[("if-match", "v1")], &strong, FAILED),
        (&[("if-match", "garbage")], &strong, FAILED),
        (&[("if-match", "\"v1")], &strong, FAILED),
        (&[("if-match", "w/\"v1\"")], &strong, FAILED),
        (&[("if-match", "**")], &strong, FAILED),
        // No ETag: only `*` matches.
        (&[("if-match", "\"v1\"")], &none, FAILED),
        (&[("if-match", "\"v1\"")], &lm_only, FAILED),
        (&[("if-match", "W/\"v1\"")], &none, FAILED),
        // Two ETag lines: the validator is unusable.
        (
            &[("if-match", "\"v1\"")],
            &[("etag", "\"v1\""), ("etag", "\"v1\"")],
            FAILED,
        ),
    ];
    for (request, response, expected) in table {
        for exchange in [get(request), head(request)] {
            let exchange = exchange.response(response);
            assert_eq!(&exchange.decide(), expected, "{request:?} vs {response:?}");
        }
    }
}

#[test]
fn precondition_if_unmodified_since_only_without_if_match() {
    let lm = [("etag", "\"v1\""), ("last-modified", LM_IMF)];
    let etag_only = [("etag", "\"v1\"")];
    let table: &[(&str, Lines<'_>, Lines<'_>, Got)] = &[
        (
            "equal: not modified since",
            &[("if-unmodified-since", LM_IMF)],
            &lm,
            OK,
        ),
        (
            "later date",
            &[("if-unmodified-since", LM_PLUS_1_IMF)],
            &lm,
            OK,
        ),
        (
            "earlier date",
            &[("if-unmodified-since", LM_MINUS_1_IMF)],
            &lm,
            FAILED,
        ),
        (
            "RFC 850",
            &[("if-unmodified-since", LM_MINUS_1_RFC850)],
            &lm,
            FAILED,
        ),
        (
            "asctime",
            &[("if-unmodified-since", LM_MINUS_1_ASCTIME)],
            &lm,
            FAILED,
        ),
        (
            "RFC 850 equal",
            &[("if-unmodified-since", LM_RFC850)],
            &lm,
            OK,
        ),
        (
            "asctime equal",
            &[("if-unmodified-since", LM_ASCTIME)],
            &lm,
            OK,
        ),
        (
            "far past",
            &[("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT")],
            &lm,
            FAILED,
        ),
        // Invalid dates are ignored.
        ("garbage", &[("if-unmodified-since", "yesterday")], &lm, OK),
        ("empty", &[("if-unmodified-since", "")], &lm, OK),
        (
            "wrong weekday",
            &[("if-unmodified-since", "Mon, 06 Nov 1994 08:49:36 GMT")],
            &lm,
            OK,
        ),
        (
            "not GMT",
            &[("if-unmodified-since", "Sun, 06 Nov 1994 08:49:36 UTC")],
            &lm,
            OK,
        ),
        ("seconds", &[("if-unmodified-since", "784111776")], &lm, OK),
        (
            "a list of dates",
            &[(
                "if-unmodified-since",
                "Sun, 06 Nov 1994 08:49:36 GMT, Sun, 06 Nov 1994 08:49:36 GMT",
            )],
            &lm,
            OK,
        ),
        // Two lines: ignored.
        (
            "two lines",
            &[
                ("if-unmodified-since", LM_MINUS_1_IMF),
                ("if-unmodified-since", LM_MINUS_1_IMF),
            ],
            &lm,
            OK,
        ),
        // No Last-Modified: ignored.
        (
            "no Last-Modified",
            &[("if-unmodified-since", LM_MINUS_1_IMF)],
            &etag_only,
            OK,
        ),
        (
            "invalid Last-Modified",
            &[("if-unmodified-since", LM_MINUS_1_IMF)],
            &[("last-modified", "yesterday")],
            OK,
        ),
        // If-Match present: If-Unmodified-Since is not looked at.
        (
            "If-Match matches",
            &[
                ("if-match", "\"v1\""),
                ("if-unmodified-since", LM_MINUS_1_IMF),
            ],
            &lm,
            OK,
        ),
        (
            "If-Match *",
            &[("if-match", "*"), ("if-unmodified-since", LM_MINUS_1_IMF)],
            &lm,
            OK,
        ),
        (
            "If-Match fails on its own",
            &[
                ("if-match", "\"v2\""),
                ("if-unmodified-since", LM_PLUS_1_IMF),
            ],
            &lm,
            FAILED,
        ),
    ];
    for (label, request, response, expected) in table {
        for exchange in [get(request), head(request)] {
            let exchange = exchange.response(response);
            assert_eq!(&exchange.decide(), expected, "{label}");
        }
    }
}

#[test]
fn precondition_if_none_match_is_weak() {
    let strong = [("etag", "\"v1\"")];
    let weak = [("etag", "W/\"v1\"")];
    let none: [(&str, &str); 0] = [];
    let table: &[(Lines<'_>, Lines<'_>, Got)] = &[
        (&[("if-none-match", "\"v1\"")], &strong, NOT_MODIFIED),
        (&[("if-none-match", "W/\"v1\"")], &strong, NOT_MODIFIED),
        (&[("if-none-match", "\"v1\"")], &weak, NOT_MODIFIED),
        (&[("if-none-match", "W/\"v1\"")], &weak, NOT_MODIFIED),
        (&[("if-none-match", "\"v2\"")], &strong, OK),
        (&[("if-none-match", "W/\"v2\"")], &weak, OK),
        (&[("if-none-match", "\"V1\"")], &strong, OK),
        // `*`: any current representation, ETag or not.
        (&[("if-none-match", "*")], &strong, NOT_MODIFIED),
        (&[("if-none-match", "*")], &none, NOT_MODIFIED),
        // Lists.
        (
            &[("if-none-match", "\"a\", W/\"v1\"")],
            &strong,
            NOT_MODIFIED,
        ),
        (&[("if-none-match", "\"a\", \"b\"")], &strong, OK),
        (
            &[("if-none-match", "\"a\""), ("if-none-match", "\"v1\"")],
            &strong,
            NOT_MODIFIED,
        ),
        (
            &[("if-none-match", "\"a\""), ("if-none-match", "*")],
            &none,
            NOT_MODIFIED,
        ),
        // Garbage matches nothing: the request goes through.
        (&[("if-none-match", "v1")], &strong, OK),
        (&[("if-none-match", "garbage")], &strong, OK),
        (&[("if-none-match", "\"v1")], &strong, OK),
        // No ETag: only `*` matches.
        (&[("if-none-match", "\"v1\"")], &none, OK),
        (
            &[("if-none-match", "W/\"v1\"")],
            &[("last-modified", LM_IMF)],
            OK,
        ),
    ];
    for (request, response, expected) in table {
        for exchange in [get(request), head(request)] {
            let exchange = exchange.response(response);
            assert_eq!(&exchange.decide(), expected, "{request:?} vs {response:?}");
        }
    }
}

#[test]
fn precondition_if_modified_since_only_without_if_none_match() {
    let lm = [("etag", "\"v1\""), ("last-modified", LM_IMF)];
    let etag_only = [("etag", "\"v1\"")];
    let table: &[(&str, Lines<'_>, Lines<'_>, Got)] = &[
        (
            "equal: not modified",
            &[("if-modified-since", LM_IMF)],
            &lm,
            NOT_MODIFIED,
        ),
        (
            "later date",
            &[("if-modified-since", LM_PLUS_1_IMF)],
            &lm,
            NOT_MODIFIED,
        ),
        (
            "earlier date: modified",
            &[("if-modified-since", LM_MINUS_1_IMF)],
            &lm,
            OK,
        ),
        (
            "RFC 850",
            &[("if-modified-since", LM_RFC850)],
            &lm,
            NOT_MODIFIED,
        ),
        (
            "asctime",
            &[("if-modified-since", LM_ASCTIME)],
            &lm,
            NOT_MODIFIED,
        ),
        (
            "RFC 850 earlier",
            &[("if-modified-since", LM_MINUS_1_RFC850)],
            &lm,
            OK,
        ),
        (
            "asctime earlier",
            &[("if-modified-since", LM_MINUS_1_ASCTIME)],
            &lm,
            OK,
        ),
        // Invalid dates are ignored.
        ("garbage", &[("if-modified-since", "tomorrow")], &lm, OK),
        ("empty", &[("if-modified-since", "")], &lm, OK),
        (
            "wrong weekday",
            &[("if-modified-since", "Mon, 06 Nov 1994 08:49:37 GMT")],
            &lm,
            OK,
        ),
        (
            "not GMT",
            &[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 UTC")],
            &lm,
            OK,
        ),
        (
            "a list of dates",
            &[(
                "if-modified-since",
                "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
            )],
            &lm,
            OK,
        ),
        (
            "two lines",
            &[("if-modified-since", LM_IMF), ("if-modified-since", LM_IMF)],
            &lm,
            OK,
        ),
        // No Last-Modified: ignored.
        (
            "no Last-Modified",
            &[("if-modified-since", LM_PLUS_1_IMF)],
            &etag_only,
            OK,
        ),
        // If-None-Match present: If-Modified-Since is not looked at.
        (
            "If-None-Match does not match",
            &[
                ("if-none-match", "\"other\""),
                ("if-modified-since", LM_IMF),
            ],
            &lm,
            OK,
        ),
        (
            "If-None-Match garbage",
            &[("if-none-match", "garbage"), ("if-modified-since", LM_IMF)],
            &lm,
            OK,
        ),
        (
            "If-None-Match matches on its own",
            &[
                ("if-none-match", "\"v1\""),
                ("if-modified-since", LM_MINUS_1_IMF),
            ],
            &lm,
            NOT_MODIFIED,
        ),
    ];
    for (label, request, response, expected) in table {
        for exchange in [get(request), head(request)] {
            let exchange = exchange.response(response);
            assert_eq!(&exchange.decide(), expected, "{label}");
        }
    }
}

#[test]
fn precondition_412_wins_over_304() {
    let lm = [("etag", "\"v1\""), ("last-modified", LM_IMF)];
    check(&[
        (
            "If-Match fails, If-None-Match matches",
            get(&[("if-match", "\"v2\""), ("if-none-match", "\"v1\"")]).response(&lm),
            FAILED,
        ),
        (
            "If-Match fails, If-Modified-Since not modified",
            get(&[("if-match", "\"v2\""), ("if-modified-since", LM_IMF)]).response(&lm),
            FAILED,
        ),
        (
            "If-Unmodified-Since fails, If-None-Match matches",
            get(&[
                ("if-unmodified-since", LM_MINUS_1_IMF),
                ("if-none-match", "*"),
            ])
            .response(&lm),
            FAILED,
        ),
        (
            "If-Unmodified-Since fails, If-Modified-Since not modified",
            get(&[
                ("if-unmodified-since", LM_MINUS_1_IMF),
                ("if-modified-since", LM_IMF),
            ])
            .response(&lm),
            FAILED,
        ),
        (
            "HEAD",
            head(&[("if-match", "\"v2\""), ("if-none-match", "\"v1\"")]).response(&lm),
            FAILED,
        ),
        // Passing If-Match then a matching If-None-Match: 304.
        (
            "If-Match passes, If-None-Match matches",
            get(&[("if-match", "\"v1\""), ("if-none-match", "\"v1\"")]).response(&lm),
            NOT_MODIFIED,
        ),
        (
            "If-Unmodified-Since passes, If-Modified-Since not modified",
            get(&[
                ("if-unmodified-since", LM_IMF),
                ("if-modified-since", LM_IMF),
            ])
            .response(&lm),
            NOT_MODIFIED,
        ),
    ]);
}

#[test]
fn preconditions_come_before_if_range_and_range() {
    let lm = date(LM);
    let response = [
        ("etag", "\"v1\""),
        ("last-modified", lm.as_str()),
        ("content-type", "text/plain"),
    ];
    let none = [("etag", "\"v1\""), ("accept-ranges", "none")];
    check(&[
        (
            "412 with a valid Range",
            get(&[("range", "bytes=0-4"), ("if-match", "\"v2\"")]).response(&response),
            FAILED,
        ),
        (
            "412 with an unsatisfiable Range",
            get(&[("range", "bytes=500-"), ("if-match", "\"v2\"")]).response(&response),
            FAILED,
        ),
        (
            "304 with a valid Range",
            get(&[("range", "bytes=0-4"), ("if-none-match", "\"v1\"")]).response(&response),
            NOT_MODIFIED,
        ),
        (
            "304 with an invalid Range",
            get(&[("range", "bytes=5-1"), ("if-none-match", "\"v1\"")]).response(&response),
            NOT_MODIFIED,
        ),
        (
            "304 with two Range lines",
            get(&[
                ("range", "bytes=0-4"),
                ("range", "bytes=0-4"),
                ("if-none-match", "\"v1\""),
            ])
            .response(&response),
            NOT_MODIFIED,
        ),
        (
            "304 with a mismatching If-Range",
            get(&[
                ("range", "bytes=0-4"),
                ("if-range", "\"v2\""),
                ("if-none-match", "\"v1\""),
            ])
            .response(&response),
            NOT_MODIFIED,
        ),
        (
            "412 with a matching If-Range",
            get(&[
                ("range", "bytes=0-4"),
                ("if-range", "\"v1\""),
                ("if-unmodified-since", LM_MINUS_1_IMF),
            ])
            .response(&response),
            FAILED,
        ),
        (
            "HEAD 304 with Range",
            head(&[("range", "bytes=0-4"), ("if-modified-since", LM_IMF)]).response(&response),
            NOT_MODIFIED,
        ),
        (
            "Accept-Ranges: none does not skip preconditions",
            get(&[("range", "bytes=0-4"), ("if-match", "\"v2\"")]).response(&none),
            FAILED,
        ),
        (
            "Accept-Ranges: none, 304",
            get(&[("if-none-match", "*")]).response(&none),
            NOT_MODIFIED,
        ),
        (
            "unknown length does not skip preconditions",
            get(&[("range", "bytes=0-4"), ("if-none-match", "\"v1\"")])
                .response(&response)
                .length(None),
            NOT_MODIFIED,
        ),
        (
            "HEAD of unknown length",
            head(&[("if-match", "\"v2\"")])
                .response(&response)
                .length(None),
            FAILED,
        ),
        (
            "empty representation",
            get(&[("range", "bytes=0-4"), ("if-none-match", "\"v1\"")])
                .response(&response)
                .length(Some(0)),
            NOT_MODIFIED,
        ),
        (
            "all conditions pass: the Range applies",
            get(&[
                ("range", "bytes=0-4"),
                ("if-match", "\"v1\""),
                ("if-unmodified-since", LM_IMF),
                ("if-none-match", "\"v2\""),
                ("if-range", "\"v1\""),
            ])
            .response(&response),
            first_five(),
        ),
        (
            "all date conditions pass: the Range applies",
            get(&[
                ("range", "bytes=0-4"),
                ("if-unmodified-since", LM_PLUS_1_IMF),
                ("if-modified-since", LM_MINUS_1_IMF),
                ("if-range", LM_IMF),
            ])
            .response(&response),
            first_five(),
        ),
    ]);
}

#[test]
fn preconditions_are_evaluated_without_range() {
    let response = [("etag", "\"v1\""), ("last-modified", LM_IMF)];
    for exchange in [get(&[]), head(&[])] {
        let with = |request: &[(&'static str, &'static str)]| Exchange {
            request: request.to_vec(),
            ..exchange.clone()
        };
        check(&[
            (
                "If-Match",
                with(&[("if-match", "\"x\"")]).response(&response),
                FAILED,
            ),
            (
                "If-Unmodified-Since",
                with(&[("if-unmodified-since", LM_MINUS_1_IMF)]).response(&response),
                FAILED,
            ),
            (
                "If-None-Match",
                with(&[("if-none-match", "\"v1\"")]).response(&response),
                NOT_MODIFIED,
            ),
            (
                "If-Modified-Since",
                with(&[("if-modified-since", LM_IMF)]).response(&response),
                NOT_MODIFIED,
            ),
            (
                "all pass",
                with(&[("if-match", "\"v1\""), ("if-none-match", "\"x\"")]).response(&response),
                OK,
            ),
        ]);
    }
}

#[test]
fn preconditions_can_be_turned_off() {
    let off = *RangeLayer::new().preconditions(false).policy();
    assert!(!off.preconditions);
    assert!(policy_default().preconditions, "on by default");
    let response = [("etag", "\"v1\""), ("last-modified", LM_IMF)];
    let table: &[(Lines<'_>, Got)] = &[
        (&[("if-match", "\"v2\"")], OK),
        (&[("if-match", "W/\"v1\"")], OK),
        (&[("if-unmodified-since", LM_MINUS_1_IMF)], OK),
        (&[("if-none-match", "\"v1\"")], OK),
        (&[("if-none-match", "*")], OK),
        (&[("if-modified-since", LM_IMF)], OK),
        (&[("if-match", "\"v2\""), ("if-none-match", "\"v1\"")], OK),
        (
            &[("range", "bytes=0-4"), ("if-match", "\"v2\"")],
            first_five(),
        ),
        (
            &[("range", "bytes=0-4"), ("if-none-match", "\"v1\"")],
            first_five(),
        ),
        // If-Range is part of range handling, not a precondition: still on.
        (&[("range", "bytes=0-4"), ("if-range", "\"v2\"")], MISMATCH),
        (
            &[("range", "bytes=0-4"), ("if-range", "\"v1\"")],
            first_five(),
        ),
    ];
    for (request, expected) in table {
        for exchange in [get(request), head(request)] {
            let exchange = exchange.response(&response).policy(off);
            assert_eq!(&exchange.decide(), expected, "{request:?}");
        }
        // And with them on, every row but the If-Range ones differs.
        let on = get(request).response(&response).decide();
        if !request.iter().any(|(name, _)| *name == "if-range") {
            assert_ne!(&on, expected, "{request:?} with preconditions on");
        }
    }
}

// ---------------------------------------------------------------------------
// If-Range (RFC 9110 §13.1.5)
// ---------------------------------------------------------------------------

/// A response with a strong ETag, a Last-Modified at [`LM`] and a `Date` an
/// hour later (so the Last-Modified is strong).
fn validated<'a>(lm: &'a str, date: &'a str) -> [(&'a str, &'a str); 3] {
    [("etag", "\"v1\""), ("last-modified", lm), ("date", date)]
}

#[test]
fn if_range_is_ignored_without_range() {
    let hour_later = date(LM + 3600);
    let response = validated(LM_IMF, &hour_later);
    for if_range in [
        &[("if-range", "\"v2\"")][..],
        &[("if-range", "W/\"v1\"")][..],
        &[("if-range", "garbage")][..],
        &[("if-range", LM_MINUS_1_IMF)][..],
        &[("if-range", "\"v1\""), ("if-range", "\"v1\"")][..],
    ] {
        assert_eq!(
            get(if_range).response(&response).decide(),
            OK,
            "{if_range:?}"
        );
        assert_eq!(
            head(if_range).response(&response).decide(),
            OK,
            "{if_range:?}"
        );
        assert_eq!(
            get(if_range).response(&response).length(None).decide(),
            Got::Full(false, NoRange),
            "{if_range:?}"
        );
    }
}

#[test]
fn if_range_entity_tag_matches_strongly_only() {
    let hour_later = date(LM + 3600);
    let strong = validated(LM_IMF, &hour_later);
    let weak = [
        ("etag", "W/\"v1\""),
        ("last-modified", LM_IMF),
        ("date", hour_later.as_str()),
    ];
    let lm_only = [("last-modified", LM_IMF), ("date", hour_later.as_str())];
    let table: &[(&str, Lines<'_>, Got)] = &[
        ("\"v1\"", &strong, first_five()),
        (" \"v1\" ", &strong, first_five()),
        ("\"v2\"", &strong, MISMATCH),
        ("\"V1\"", &strong, MISMATCH),
        ("\"\"", &strong, MISMATCH),
        // Weak on either side never matches.
        ("W/\"v1\"", &strong, MISMATCH),
        ("\"v1\"", &weak, MISMATCH),
        ("W/\"v1\"", &weak, MISMATCH),
        // No ETag to compare with.
        ("\"v1\"", &lm_only, MISMATCH),
        ("\"v1\"", &[], MISMATCH),
        // If-Range holds one validator, not a list.
        ("\"v1\", \"v2\"", &strong, MISMATCH),
        ("\"v2\", \"v1\"", &strong, MISMATCH),
        ("*", &strong, MISMATCH),
    ];
    for (if_range, response, expected) in table {
        let request = [("range", "bytes=0-4"), ("if-range", *if_range)];
        for exchange in [get(&request), head(&request)] {
            let exchange = exchange.response(response);
            assert_eq!(
                &exchange.decide(),
                expected,
                "If-Range: {if_range} vs {response:?}"
            );
        }
    }
}

#[test]
fn if_range_date_matches_by_exact_instant_in_all_formats() {
    let hour_later = date(LM + 3600);
    let response = validated(LM_IMF, &hour_later);
    let etag_only = [("etag", "\"v1\""), ("date", hour_later.as_str())];
    let table: &[(&str, Lines<'_>, Got)] = &[
        (LM_IMF, &response, first_five()),
        (LM_RFC850, &response, first_five()),
        (LM_ASCTIME, &response, first_five()),
        (" Sun, 06 Nov 1994 08:49:37 GMT ", &response, first_five()),
        (LM_MINUS_1_IMF, &response, MISMATCH),
        (LM_MINUS_1_RFC850, &response, MISMATCH),
        (LM_MINUS_1_ASCTIME, &response, MISMATCH),
        (LM_PLUS_1_IMF, &response, MISMATCH),
        (LM_PLUS_1_RFC850, &response, MISMATCH),
        (LM_PLUS_1_ASCTIME, &response, MISMATCH),
        // Without a Last-Modified, a date never matches.
        (LM_IMF, &etag_only, MISMATCH),
        (
            LM_IMF,
            &[
                ("last-modified", "yesterday"),
                ("date", hour_later.as_str()),
            ],
            MISMATCH,
        ),
        // The Last-Modified itself in another format: compared as instants.
        (
            LM_IMF,
            &[("last-modified", LM_ASCTIME), ("date", hour_later.as_str())],
            first_five(),
        ),
        (
            LM_RFC850,
            &[("last-modified", LM_RFC850), ("date", hour_later.as_str())],
            first_five(),
        ),
    ];
    for (if_range, response, expected) in table {
        let request = [("range", "bytes=0-4"), ("if-range", *if_range)];
        for exchange in [get(&request), head(&request)] {
            let exchange = exchange.response(response);
            assert_eq!(
                &exchange.decide(),
                expected,
                "If-Range: {if_range:?} vs {response:?}"
            );
        }
    }
}

#[test]
fn if_range_date_needs_last_modified_a_second_before_date() {
    let request = [("range", "bytes=0-4"), ("if-range", LM_IMF)];
    let dates = [
        (LM - 10, MISMATCH),
        (LM, MISMATCH),
        (LM + 1, first_five()),
        (LM + 2, first_five()),
        (LM + 3600, first_five()),
    ];
    for (secs, expected) in &dates {
        let d = date(*secs);
        let response = validated(LM_IMF, &d);
        // The response's Date is what counts, whatever the current time.
        for now in [at(LM - 100), at(LM), at(LM + 1), at(NOW)] {
            let exchange = get(&request).response(&response).now(now);
            assert_eq!(&exchange.decide(), expected, "Date {d}, now {now:?}");
        }
    }

    // Sub-second Dates, as literal facts.
    let conditions = Conditions::capture(&Method::GET, &header_map(&request)).unwrap();
    let facts = |date: SystemTime| ResponseFacts {
        status: StatusCode::OK,
        etag: None,
        last_modified: Some(at(LM)),
        date: Some(date),
        length: Some(100),
        ranges_refused: false,
        already_partial: false,
    };
    let policy = policy_default();
    for (date, expected) in [
        (at(LM) + Duration::from_millis(999), MISMATCH),
        (at(LM) + Duration::from_nanos(999_999_999), MISMATCH),
        (at(LM) + Duration::from_secs(1), first_five()),
        (at(LM) + Duration::from_millis(1001), first_five()),
    ] {
        let got: Got = decide(&conditions, &facts(date), &policy, at(NOW)).into();
        assert_eq!(got, expected, "Date {date:?}");
    }
}

#[test]
fn if_range_date_needs_last_modified_a_second_before_now_without_date() {
    let request = [("range", "bytes=0-4"), ("if-range", LM_IMF)];
    let table = [
        ("no Date", &[("last-modified", LM_IMF)][..]),
        (
            "invalid Date",
            &[("last-modified", LM_IMF), ("date", "garbage")][..],
        ),
        (
            "two Date lines",
            &[
                ("last-modified", LM_IMF),
                ("date", "Sun, 06 Nov 1994 09:49:37 GMT"),
                ("date", "Sun, 06 Nov 1994 09:49:37 GMT"),
            ][..],
        ),
    ];
    for (label, response) in table {
        for (now, expected) in [
            (at(LM - 100), MISMATCH),
            (at(LM), MISMATCH),
            (at(LM) + Duration::from_millis(999), MISMATCH),
            (at(LM + 1), first_five()),
            (at(LM) + Duration::from_millis(1500), first_five()),
            (at(NOW), first_five()),
        ] {
            for exchange in [get(&request), head(&request)] {
                let exchange = exchange.response(response).now(now);
                assert_eq!(exchange.decide(), expected, "{label}, now {now:?}");
            }
        }
    }
}

#[test]
fn if_range_garbage_never_matches() {
    let hour_later = date(LM + 3600);
    let response = validated(LM_IMF, &hour_later);
    for if_range in [
        "",
        "foo",
        "v1",
        "\"v1",
        "v1\"",
        "W/v1",
        "w/\"v1\"",
        "W/ \"v1\"",
        "\"v1\" x",
        "\"v1\" \"v1\"",
        "\u{e9}t\u{e9}",
        "784111777",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Mon, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
        "\"v1\", Sun, 06 Nov 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
    ] {
        let request = [("range", "bytes=0-4"), ("if-range", if_range)];
        assert_eq!(
            get(&request).response(&response).decide(),
            MISMATCH,
            "If-Range: {if_range:?}"
        );
    }

    // Bytes that are not UTF-8.
    let mut request = HeaderMap::new();
    request.insert(header::RANGE, HeaderValue::from_static("bytes=0-4"));
    request.insert(
        header::IF_RANGE,
        HeaderValue::from_bytes(b"\"v1\xff\"").unwrap(),
    );
    let conditions = Conditions::capture(&Method::GET, &request).unwrap();
    let response = header_map(&response);
    let facts = ResponseFacts::from_headers(StatusCode::OK, &response, Some(100));
    assert_eq!(
        Got::from(decide(&conditions, &facts, &policy_default(), at(NOW))),
        MISMATCH
    );
}

#[test]
fn if_range_repeated_lines_never_match() {
    let hour_later = date(LM + 3600);
    let response = validated(LM_IMF, &hour_later);
    for lines in [
        [("if-range", "\"v1\""), ("if-range", "\"v1\"")],
        [("if-range", LM_IMF), ("if-range", LM_IMF)],
        [("if-range", "\"v1\""), ("if-range", LM_IMF)],
    ] {
        let mut request = vec![("range", "bytes=0-4")];
        request.extend(lines);
        for exchange in [get(&request), head(&request)] {
            let exchange = exchange.response(&response);
            assert_eq!(exchange.decide(), MISMATCH, "{lines:?}");
        }
        // Each line alone would match.
        for line in lines {
            assert_eq!(
                get(&[("range", "bytes=0-4"), line])
                    .response(&response)
                    .decide(),
                first_five()
            );
        }
    }
}

#[test]
fn if_range_comes_before_range_syntax() {
    let hour_later = date(LM + 3600);
    let response = validated(LM_IMF, &hour_later);
    check(&[
        (
            "mismatch, invalid Range",
            get(&[("range", "bytes=5-1"), ("if-range", "\"v2\"")]).response(&response),
            MISMATCH,
        ),
        (
            "match, invalid Range",
            get(&[("range", "bytes=5-1"), ("if-range", "\"v1\"")]).response(&response),
            invalid(RangeError::InvalidSpec),
        ),
        (
            "match, other unit",
            get(&[("range", "items=0-4"), ("if-range", "\"v1\"")]).response(&response),
            invalid(RangeError::OtherUnit),
        ),
        (
            "match, two Range lines",
            get(&[
                ("range", "bytes=0-4"),
                ("range", "bytes=0-4"),
                ("if-range", "\"v1\""),
            ])
            .response(&response),
            Got::Full(true, RepeatedRange),
        ),
        (
            "match, several ranges",
            get(&[("range", "bytes=50-59,0-9"), ("if-range", "\"v1\"")]).response(&response),
            Got::Ranges(vec![bounded(50, 59), bounded(0, 9)]),
        ),
        (
            "match, unsatisfiable range: resolve decides",
            get(&[("range", "bytes=500-"), ("if-range", "\"v1\"")]).response(&response),
            Got::Ranges(vec![from(500)]),
        ),
    ]);
}

// ---------------------------------------------------------------------------
// Parsing `Range` (RFC 9110 §14.1, §14.2)
// ---------------------------------------------------------------------------

#[test]
fn range_valid_forms_are_passed_on() {
    let table: &[(&str, &[RangeSpec])] = &[
        ("bytes=0-4", &[bounded(0, 4)]),
        ("BYTES=0-4", &[bounded(0, 4)]),
        ("Bytes=0-4", &[bounded(0, 4)]),
        ("bYtEs=0-4", &[bounded(0, 4)]),
        ("bytes=90-", &[from(90)]),
        ("bytes=-10", &[suffix(10)]),
        ("bytes=-0", &[suffix(0)]),
        ("bytes=500-600", &[bounded(500, 600)]),
        ("bytes=0-4,,10-14", &[bounded(0, 4), bounded(10, 14)]),
        ("bytes=0-4 , 10-14", &[bounded(0, 4), bounded(10, 14)]),
        ("bytes=0-4,\t-10", &[bounded(0, 4), suffix(10)]),
        ("bytes=,0-4,", &[bounded(0, 4)]),
        (" bytes=0-4 ", &[bounded(0, 4)]),
        ("bytes=00007-0008", &[bounded(7, 8)]),
        ("bytes=50-59,0-9", &[bounded(50, 59), bounded(0, 9)]),
        ("bytes=0-4,0-4", &[bounded(0, 4), bounded(0, 4)]),
        ("bytes=99999999999999999999999-", &[from(u64::MAX)]),
        ("bytes=0-99999999999999999999999", &[bounded(0, u64::MAX)]),
        ("bytes=-99999999999999999999999", &[suffix(u64::MAX)]),
        (
            "bytes=18446744073709551615-18446744073709551615",
            &[bounded(u64::MAX, u64::MAX)],
        ),
        (
            "bytes=18446744073709551616-99999999999999999999",
            &[bounded(u64::MAX, u64::MAX)],
        ),
    ];
    for (value, specs) in table {
        let request = [("range", *value)];
        for exchange in [get(&request), head(&request)] {
            assert_eq!(exchange.decide(), Got::Ranges(specs.to_vec()), "{value:?}");
        }
    }
}

#[test]
fn range_invalid_syntax_is_ignored_never_416() {
    use RangeError::*;
    let table: &[(&str, RangeError)] = &[
        ("0-4", Syntax),
        ("", Syntax),
        ("=0-4", Syntax),
        ("bytes 0-4", Syntax),
        ("by tes=0-4", Syntax),
        ("bytes =0-4", Syntax),
        ("items=0-4", OtherUnit),
        ("bytesx=0-4", OtherUnit),
        ("byte=0-4", OtherUnit),
        ("none=0-4", OtherUnit),
        ("bytes=", InvalidSpec),
        ("bytes=,", InvalidSpec),
        ("bytes= , ,", InvalidSpec),
        ("bytes=-", InvalidSpec),
        ("bytes=--5", InvalidSpec),
        ("bytes=5-1", InvalidSpec),
        ("bytes=0-4,5-1", InvalidSpec),
        ("bytes=abc", InvalidSpec),
        ("bytes=0-4,abc", InvalidSpec),
        ("bytes=+1-2", InvalidSpec),
        ("bytes=1-+2", InvalidSpec),
        ("bytes=-5-10", InvalidSpec),
        ("bytes=0x10-20", InvalidSpec),
        ("bytes=0 -4", InvalidSpec),
        ("bytes=0- 4", InvalidSpec),
        ("bytes=1.5-2", InvalidSpec),
        ("bytes=1e3-", InvalidSpec),
        ("bytes=0-4;q=1", InvalidSpec),
        ("bytes=0-4 10-14", InvalidSpec),
        ("bytes=0-\u{663}", InvalidSpec),
        ("bytes=\u{ff11}-4", InvalidSpec),
        ("bytes=0-4=", InvalidSpec),
        ("bytes=4", InvalidSpec),
    ];
    for (value, error) in table {
        let request = [("range", *value)];
        for exchange in [get(&request), head(&request)] {
            assert_eq!(exchange.decide(), invalid(*error), "{value:?}");
        }
        assert_eq!(
            get(&request).length(None).decide(),
            Got::Full(false, Invalid(*error)),
            "{value:?}, unknown length"
        );
    }

    // Bytes that are not UTF-8.
    let mut request = HeaderMap::new();
    request.insert(
        header::RANGE,
        HeaderValue::from_bytes(b"bytes=0-\xff").unwrap(),
    );
    let conditions = Conditions::capture(&Method::GET, &request).unwrap();
    let response = HeaderMap::new();
    let facts = ResponseFacts::from_headers(StatusCode::OK, &response, Some(100));
    assert_eq!(
        Got::from(decide(&conditions, &facts, &policy_default(), at(NOW))),
        invalid(InvalidSpec)
    );
}

#[test]
fn range_repeated_lines_are_ignored() {
    for lines in [
        &[("range", "bytes=0-4"), ("range", "bytes=0-4")][..],
        &[("range", "bytes=0-4"), ("range", "bytes=10-14")][..],
        &[("range", "bytes=0-4"), ("range", "garbage")][..],
        &[
            ("range", "bytes=0-4"),
            ("range", "bytes=5-9"),
            ("range", "bytes=10-14"),
        ][..],
    ] {
        for exchange in [get(lines), head(lines)] {
            assert_eq!(
                exchange.decide(),
                Got::Full(true, RepeatedRange),
                "{lines:?}"
            );
        }
    }
}

#[test]
fn range_spec_count_is_capped() {
    let specs = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        format!("bytes={}", list.join(","))
    };
    let expected = |n: usize| {
        Got::Ranges(
            (0..n as u64)
                .map(|i| bounded(i * 2, i * 2))
                .collect::<Vec<_>>(),
        )
    };
    let too_many = invalid(RangeError::TooManyRanges);

    // Default: 100.
    assert_eq!(policy_default().max_ranges, 100);
    let at_cap = specs(100);
    let past_cap = specs(101);
    assert_eq!(get(&[("range", at_cap.as_str())]).decide(), expected(100));
    assert_eq!(get(&[("range", past_cap.as_str())]).decide(), too_many);
    assert_eq!(head(&[("range", &past_cap)]).decide(), too_many);
    assert_eq!(
        get(&[("range", past_cap.as_str())]).length(None).decide(),
        Got::Full(false, Invalid(RangeError::TooManyRanges))
    );

    // Configured.
    let three = *RangeLayer::new().max_ranges(3).policy();
    let table: &[(&str, Got)] = &[
        ("bytes=0-0,2-2,4-4", expected(3)),
        ("bytes=0-0,2-2,4-4,6-6", too_many.clone()),
        // Empty elements do not count.
        ("bytes=0-0,,2-2,,,4-4,", expected(3)),
        // Every spec counts, even a duplicate or an unsatisfiable one.
        ("bytes=0-0,0-0,0-0,0-0", too_many.clone()),
        ("bytes=0-0,2-2,4-4,9999-", too_many.clone()),
    ];
    for (value, expected) in table {
        assert_eq!(
            &get(&[("range", *value)]).policy(three).decide(),
            expected,
            "{value}"
        );
    }

    // A cap of 0 would refuse every Range: the builder keeps it at 1.
    let zero = *RangeLayer::new().max_ranges(0).policy();
    assert_eq!(zero.max_ranges, 1);
    assert_eq!(
        get(&[("range", "bytes=0-4")]).policy(zero).decide(),
        first_five()
    );
    assert_eq!(
        get(&[("range", "bytes=0-4,10-14")]).policy(zero).decide(),
        too_many
    );
}

// ---------------------------------------------------------------------------
// Resolving against the length
// ---------------------------------------------------------------------------

#[test]
fn resolve_first_last_is_clamped() {
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=0-4", single(0, 4)),
            ("bytes=0-0", single(0, 0)),
            ("bytes=0-99", single(0, 99)),
            ("bytes=0-100", single(0, 99)),
            ("bytes=50-1000", single(50, 99)),
            ("bytes=99-99", single(99, 99)),
            ("bytes=99-100", single(99, 99)),
            ("bytes=0-18446744073709551615", single(0, 99)),
            ("bytes=0-99999999999999999999999", single(0, 99)),
        ],
    );
}

#[test]
fn resolve_satisfiable_iff_first_below_length() {
    for len in [1u64, 2, 100, 1 << 40] {
        let policy = policy_default();
        let cases = [
            (format!("bytes={}-{}", len - 1, len - 1), true),
            (format!("bytes={}-", len - 1), true),
            (format!("bytes={}-{}", len, len), false),
            (format!("bytes={}-", len), false),
            (format!("bytes={}-{}", len, u64::MAX), false),
            (format!("bytes={}-", len + 1), false),
            ("bytes=18446744073709551615-".to_owned(), false),
        ];
        for (value, satisfiable) in cases {
            let got = resolve_header(&value, len, &policy, None);
            let expected = if satisfiable {
                single(len - 1, len - 1)
            } else {
                Resolution::Unsatisfiable
            };
            assert_eq!(got, expected, "{value} of {len}");
        }
    }
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=0-", single(0, 99)),
            ("bytes=42-", single(42, 99)),
            ("bytes=100-", Resolution::Unsatisfiable),
            ("bytes=100-100", Resolution::Unsatisfiable),
            (
                "bytes=100-0000000000000000000000000100",
                Resolution::Unsatisfiable,
            ),
        ],
    );
}

#[test]
fn resolve_suffix_covers_the_last_bytes() {
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=-1", single(99, 99)),
            ("bytes=-10", single(90, 99)),
            ("bytes=-99", single(1, 99)),
            ("bytes=-100", single(0, 99)),
            ("bytes=-101", single(0, 99)),
            ("bytes=-1000", single(0, 99)),
            ("bytes=-18446744073709551615", single(0, 99)),
            ("bytes=-99999999999999999999999", single(0, 99)),
        ],
    );
    check_resolve(
        1,
        &policy_default(),
        &[("bytes=-1", single(0, 0)), ("bytes=-5", single(0, 0))],
    );
}

#[test]
fn resolve_zero_suffix_is_unsatisfiable() {
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=-0", Resolution::Unsatisfiable),
            ("bytes=-000", Resolution::Unsatisfiable),
            ("bytes=-0,-0", Resolution::Unsatisfiable),
            ("bytes=-0,0-0", single(0, 0)),
            ("bytes=-0,-1", single(99, 99)),
        ],
    );
    check_resolve(
        1,
        &policy_default(),
        &[("bytes=-0", Resolution::Unsatisfiable)],
    );
}

#[test]
fn resolve_empty_representation_sends_the_empty_200() {
    let policy = policy_default();
    for value in [
        "bytes=0-4",
        "bytes=0-0",
        "bytes=0-",
        "bytes=-5",
        "bytes=-0",
        "bytes=5-",
        "bytes=0-4,10-14",
        "bytes=-0,-0",
        "bytes=18446744073709551615-",
    ] {
        assert_eq!(
            resolve_header(value, 0, &policy, None),
            Resolution::Full(Empty),
            "{value}"
        );
        assert_eq!(
            resolve_header(value, 0, &policy, Some(10)),
            Resolution::Full(Empty),
            "{value}"
        );
    }
}

#[test]
fn resolve_nothing_satisfiable_is_416() {
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=100-", Resolution::Unsatisfiable),
            ("bytes=100-200", Resolution::Unsatisfiable),
            ("bytes=-0", Resolution::Unsatisfiable),
            ("bytes=100-,200-300,-0", Resolution::Unsatisfiable),
            ("bytes=1000-2000,500-", Resolution::Unsatisfiable),
            ("bytes=18446744073709551615-,-0", Resolution::Unsatisfiable),
        ],
    );
}

#[test]
fn resolve_unsatisfiable_specs_are_dropped() {
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=0-4,100-", single(0, 4)),
            ("bytes=100-,0-4", single(0, 4)),
            ("bytes=-0,10-14,500-600", single(10, 14)),
            (
                "bytes=200-,50-59,-0,0-9,100-100",
                multi(&[(50, 59), (0, 9)]),
            ),
        ],
    );
}

#[test]
fn resolve_one_range_left_is_single_never_multi() {
    let tight = *RangeLayer::new().multipart_slack(0).policy();
    for policy in [policy_default(), tight] {
        check_resolve(
            100,
            &policy,
            &[
                ("bytes=0-4", single(0, 4)),
                ("bytes=0-4,200-300", single(0, 4)),
                ("bytes=0-4,0-4", single(0, 4)),
                ("bytes=0-4,0-4,0-4", single(0, 4)),
                ("bytes=0-4,2-8", single(0, 8)),
                ("bytes=0-4,5-9", single(0, 9)),
                ("bytes=5-9,0-4", single(0, 9)),
                ("bytes=-10,90-", single(90, 99)),
                ("bytes=0-,5-10", single(0, 99)),
                ("bytes=-100,50-59,0-0", single(0, 99)),
                ("bytes=0-0,1-1,2-2,3-3,4-4", single(0, 4)),
                ("bytes=4-4,3-3,2-2,1-1,0-0", single(0, 4)),
                ("bytes=0-4,-0,100-", single(0, 4)),
            ],
        );
    }
}

#[test]
fn resolve_merges_overlapping_and_adjacent_ranges() {
    check_resolve(
        1000,
        &policy_default(),
        &[
            // Adjacent.
            ("bytes=0-4,5-9,20-29", multi(&[(0, 9), (20, 29)])),
            ("bytes=20-29,5-9,0-4", multi(&[(20, 29), (0, 9)])),
            // Overlapping.
            ("bytes=0-9,5-14,100-109", multi(&[(0, 14), (100, 109)])),
            // Contained.
            ("bytes=0-99,10-19,200-209", multi(&[(0, 99), (200, 209)])),
            ("bytes=10-19,0-99,200-209", multi(&[(0, 99), (200, 209)])),
            // Same start, different ends.
            ("bytes=0-4,0-9,200-209", multi(&[(0, 9), (200, 209)])),
            ("bytes=0-9,0-4,200-209", multi(&[(0, 9), (200, 209)])),
            // A chain that only merges once all are in.
            ("bytes=0-4,10-14,5-9,100-109", multi(&[(0, 14), (100, 109)])),
            // Suffix and open ranges merge too.
            ("bytes=-10,0-9,985-994", multi(&[(985, 999), (0, 9)])),
            ("bytes=500-,0-9,600-700", multi(&[(500, 999), (0, 9)])),
            // A gap of one byte is a gap.
            ("bytes=0-4,6-9", multi(&[(0, 4), (6, 9)])),
            ("bytes=6-9,0-4", multi(&[(6, 9), (0, 4)])),
        ],
    );
}

#[test]
fn resolve_keeps_request_order() {
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=50-59,0-9", multi(&[(50, 59), (0, 9)])),
            ("bytes=0-9,50-59", multi(&[(0, 9), (50, 59)])),
            ("bytes=-10,0-9", multi(&[(90, 99), (0, 9)])),
            ("bytes=90-,0-0,50-50", multi(&[(90, 99), (0, 0), (50, 50)])),
            (
                "bytes=80-84,20-24,60-64,0-4,40-44",
                multi(&[(80, 84), (20, 24), (60, 64), (0, 4), (40, 44)]),
            ),
        ],
    );
}

#[test]
fn resolve_merged_range_takes_place_of_earliest_member() {
    check_resolve(
        100,
        &policy_default(),
        &[
            ("bytes=50-59,0-9,55-70", multi(&[(50, 70), (0, 9)])),
            ("bytes=50-59,0-9,5-20", multi(&[(50, 59), (0, 20)])),
            ("bytes=50-59,5-20,0-9", multi(&[(50, 59), (0, 20)])),
            // 80-89 is first, and the range it joins starts at 40.
            ("bytes=80-89,0-9,40-49,45-85", multi(&[(40, 89), (0, 9)])),
            // The bridge comes last; the merged range takes the place of 30-39.
            ("bytes=30-39,0-9,70-79,35-75", multi(&[(30, 79), (0, 9)])),
            ("bytes=0-9,70-79,30-39,35-75", multi(&[(0, 9), (30, 79)])),
            // Two merged groups, interleaved in the request.
            (
                "bytes=60-69,10-19,65-79,15-29",
                multi(&[(60, 79), (10, 29)]),
            ),
            (
                "bytes=15-29,65-79,10-19,60-69",
                multi(&[(10, 29), (60, 79)]),
            ),
        ],
    );
}

#[test]
fn resolve_merge_gap_is_off_by_default() {
    assert_eq!(Policy::default().merge_gap, 0);
    assert_eq!(policy_default().merge_gap, 0);
    check_resolve(
        1000,
        &policy_default(),
        &[
            ("bytes=0-4,6-9", multi(&[(0, 4), (6, 9)])),
            ("bytes=0-9,11-19", multi(&[(0, 9), (11, 19)])),
            ("bytes=0-9,90-99", multi(&[(0, 9), (90, 99)])),
        ],
    );

    let gap = |n| *RangeLayer::new().merge_gap(n).policy();
    // A gap of at most `n` bytes is merged.
    check_resolve(
        1000,
        &gap(1),
        &[
            ("bytes=0-4,6-9", single(0, 9)),
            ("bytes=0-4,7-9", multi(&[(0, 4), (7, 9)])),
            ("bytes=60-69,0-9,11-20", multi(&[(60, 69), (0, 20)])),
        ],
    );
    check_resolve(
        1000,
        &gap(80),
        &[
            // 10..=89 is a gap of 80 bytes.
            ("bytes=0-9,90-99", single(0, 99)),
            ("bytes=90-99,0-9", single(0, 99)),
            // 10..=90 is 81 bytes.
            ("bytes=0-9,91-99", multi(&[(0, 9), (91, 99)])),
            ("bytes=500-509,0-9,90-99", multi(&[(500, 509), (0, 99)])),
            ("bytes=500-509,90-99,0-9", multi(&[(500, 509), (0, 99)])),
            ("bytes=0-9,90-99,500-509", multi(&[(0, 99), (500, 509)])),
            // Chains: every gap 80.
            (
                "bytes=180-189,90-99,0-9,600-609",
                multi(&[(0, 189), (600, 609)]),
            ),
        ],
    );
    // Merging a gap can leave a single range, which then goes out alone.
    check_resolve(100, &gap(100), &[("bytes=-1,0-0", single(0, 99))]);
}

#[test]
fn resolve_refuses_multipart_amplification() {
    let default_slack = policy_default().multipart_slack;
    assert_eq!(default_slack, 1024);

    let len = 100u64;
    let header = "bytes=0-0,10-10,20-20";
    let ranges = [r(0, 0), r(10, 10), r(20, 20)];
    for content_type_len in [None, Some(0), Some(10), Some(24), Some(200)] {
        let body = body_len(&ranges, content_type_len, len);
        assert!(body > len, "{content_type_len:?}: the fixture must amplify");
        let exactly = *RangeLayer::new().multipart_slack(body - len).policy();
        let one_short = *RangeLayer::new().multipart_slack(body - len - 1).policy();
        assert_eq!(
            resolve_header(header, len, &exactly, content_type_len),
            Resolution::Multi(ranges.to_vec()),
            "{content_type_len:?}: exactly at the limit"
        );
        assert_eq!(
            resolve_header(header, len, &one_short, content_type_len),
            Resolution::Full(Amplification),
            "{content_type_len:?}: one byte past the limit"
        );
    }

    // The Content-Type each part repeats counts: the same ranges fit without
    // one and not with one.
    let body_plain = body_len(&ranges, None, len);
    let at_plain = *RangeLayer::new().multipart_slack(body_plain - len).policy();
    assert_eq!(
        resolve_header(header, len, &at_plain, None),
        Resolution::Multi(ranges.to_vec())
    );
    assert_eq!(
        resolve_header(header, len, &at_plain, Some(1)),
        Resolution::Full(Amplification)
    );

    // The default slack: a handful of ranges over a large body is fine,
    // many tiny ones over a small body is not.
    let policy = policy_default();
    let few = "bytes=0-99,1000-1099,5000-5099";
    let few_ranges = [r(0, 99), r(1000, 1099), r(5000, 5099)];
    assert!(body_len(&few_ranges, Some(24), 10_000) <= 10_000 + default_slack);
    assert_eq!(
        resolve_header(few, 10_000, &policy, Some(24)),
        Resolution::Multi(few_ranges.to_vec())
    );
    let tiny: Vec<ByteRange> = (0..50).map(|i| r(i * 2, i * 2)).collect();
    let tiny_header = format!(
        "bytes={}",
        tiny.iter()
            .map(|range| format!("{}-{}", range.first, range.last))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(body_len(&tiny, Some(24), 1000) > 1000 + default_slack);
    assert_eq!(
        resolve_header(&tiny_header, 1000, &policy, Some(24)),
        Resolution::Full(Amplification)
    );

    // Exactly at the default limit, and one byte past it: a long
    // Content-Type, repeated in both parts, tips the balance.
    let pair = [r(0, 0), r(2, 2)];
    let at_limit = (0..4096usize)
        .find(|&ct| body_len(&pair, Some(ct), 10) == 10 + default_slack)
        .expect("a Content-Type length that lands on the limit");
    assert_eq!(
        resolve_header("bytes=0-0,2-2", 10, &policy, Some(at_limit)),
        Resolution::Multi(pair.to_vec())
    );
    assert_eq!(
        resolve_header("bytes=0-0,2-2", 10, &policy, Some(at_limit + 1)),
        Resolution::Full(Amplification)
    );

    // Merging comes first: 100 adjacent one-byte ranges are one range.
    let slack0 = *RangeLayer::new().multipart_slack(0).policy();
    let adjacent: Vec<String> = (0..100).map(|i| format!("{i}-{i}")).collect();
    let adjacent = format!("bytes={}", adjacent.join(","));
    assert_eq!(
        resolve_header(&adjacent, 100, &slack0, Some(24)),
        single(0, 99)
    );
    // Dropped specs do not count either.
    let dropped = *RangeLayer::new()
        .multipart_slack(body_len(&[r(0, 0), r(50, 50)], None, 100) - 100)
        .policy();
    assert_eq!(
        resolve_header("bytes=0-0,500-,50-50,-0,1000-2000", 100, &dropped, None),
        multi(&[(0, 0), (50, 50)])
    );
    // A single range is never refused.
    assert_eq!(
        resolve_header("bytes=0-0", 100, &slack0, Some(1000)),
        single(0, 0)
    );
}

#[test]
fn resolve_u64_max_never_overflows() {
    let max = u64::MAX;
    let policy = policy_default();
    check_resolve(
        max,
        &policy,
        &[
            ("bytes=0-18446744073709551615", single(0, max - 1)),
            ("bytes=0-99999999999999999999999", single(0, max - 1)),
            ("bytes=-18446744073709551615", single(0, max - 1)),
            ("bytes=-99999999999999999999999", single(0, max - 1)),
            ("bytes=-1", single(max - 1, max - 1)),
            ("bytes=0-", single(0, max - 1)),
            ("bytes=18446744073709551614-", single(max - 1, max - 1)),
            (
                "bytes=18446744073709551614-18446744073709551615",
                single(max - 1, max - 1),
            ),
            ("bytes=18446744073709551615-", Resolution::Unsatisfiable),
            (
                "bytes=18446744073709551615-18446744073709551615",
                Resolution::Unsatisfiable,
            ),
            ("bytes=99999999999999999999999-", Resolution::Unsatisfiable),
            (
                "bytes=0-0,18446744073709551614-",
                multi(&[(0, 0), (max - 1, max - 1)]),
            ),
            ("bytes=-1,0-0", multi(&[(max - 1, max - 1), (0, 0)])),
            ("bytes=18446744073709551613-,-1,0-", single(0, max - 1)),
            (
                "bytes=0-99999999999999999999,99999999999999999999-,-99999999999999999999",
                single(0, max - 1),
            ),
        ],
    );
    // Small lengths with huge numbers.
    check_resolve(
        100,
        &policy,
        &[
            (
                "bytes=0-99999999999999999999,-99999999999999999999",
                single(0, 99),
            ),
            (
                "bytes=99999999999999999999-,18446744073709551615-18446744073709551615",
                Resolution::Unsatisfiable,
            ),
            ("bytes=0-0,-99999999999999999999", single(0, 99)),
        ],
    );
    // Saturating knobs.
    let huge_gap = *RangeLayer::new().merge_gap(max).policy();
    check_resolve(
        max,
        &huge_gap,
        &[
            ("bytes=0-0,18446744073709551614-", single(0, max - 1)),
            ("bytes=-1,0-0", single(0, max - 1)),
        ],
    );
    check_resolve(100, &huge_gap, &[("bytes=90-99,0-0", single(0, 99))]);
    let huge_slack = *RangeLayer::new().multipart_slack(max).policy();
    // Even with unlimited slack, a multipart body whose length does not fit
    // in a u64 cannot be announced in Content-Length: the full 200 it is.
    check_resolve(
        max,
        &huge_slack,
        &[
            (
                "bytes=0-18446744073709551612,18446744073709551614-",
                Resolution::Full(Amplification),
            ),
            ("bytes=0-0,-1", multi(&[(0, 0), (max - 1, max - 1)])),
        ],
    );
    check_resolve(
        100,
        &huge_slack,
        &[("bytes=0-0,2-2,4-4", multi(&[(0, 0), (2, 2), (4, 4)]))],
    );
    // Through decide as well.
    let big = "bytes=0-99999999999999999999999,-99999999999999999999999";
    assert_eq!(
        get(&[("range", big)]).length(Some(max)).decide(),
        Got::Ranges(vec![bounded(0, max), suffix(max)])
    );
}

#[test]
fn resolve_ten_thousand_specs_with_a_raised_cap() {
    const N: u64 = 10_000;
    let policy = *RangeLayer::new().max_ranges(20_000).policy();
    let lots = *RangeLayer::new()
        .max_ranges(20_000)
        .multipart_slack(u64::MAX)
        .policy();
    let header = |specs: &mut dyn Iterator<Item = String>| {
        format!("bytes={}", specs.collect::<Vec<_>>().join(","))
    };
    let adjacent = header(&mut (0..N).map(|i| format!("{i}-{i}")));
    let adjacent_reversed = header(&mut (0..N).rev().map(|i| format!("{i}-{i}")));
    let disjoint = header(&mut (0..N).map(|i| format!("{}-{}", i * 2, i * 2)));
    let disjoint_reversed = header(&mut (0..N).rev().map(|i| format!("{}-{}", i * 2, i * 2)));
    // Overlapping, in a scrambled order: i*7919 mod N visits every i once.
    let scrambled = header(&mut (0..N).map(|i| {
        let j = i * 7919 % N;
        format!("{}-{}", j * 10, j * 10 + 15)
    }));

    let start = Instant::now();

    // The cap is enforced at the default.
    assert_eq!(
        get(&[("range", adjacent.as_str())])
            .length(Some(N))
            .decide(),
        invalid(RangeError::TooManyRanges)
    );
    // Raised, the header goes through decide.
    match get(&[("range", adjacent.as_str())])
        .length(Some(N))
        .policy(policy)
        .decide()
    {
        Got::Ranges(specs) => assert_eq!(specs.len(), N as usize),
        other => panic!("expected Ranges, got {other:?}"),
    }

    assert_eq!(
        resolve_header(&adjacent, N, &policy, Some(24)),
        single(0, N - 1)
    );
    assert_eq!(
        resolve_header(&adjacent_reversed, N, &policy, Some(24)),
        single(0, N - 1)
    );
    assert_eq!(
        resolve_header(&scrambled, N * 10 + 16, &policy, Some(24)),
        single(0, N * 10 + 5)
    );
    // Ten thousand one-byte parts of a 20 000-byte body: amplification.
    assert_eq!(
        resolve_header(&disjoint, 2 * N, &policy, Some(24)),
        Resolution::Full(Amplification)
    );
    // Allowed anyway, they come out in the order of the request.
    let forward: Vec<ByteRange> = (0..N).map(|i| r(i * 2, i * 2)).collect();
    let backward: Vec<ByteRange> = forward.iter().rev().copied().collect();
    assert_eq!(
        resolve_header(&disjoint, 2 * N, &lots, Some(24)),
        Resolution::Multi(forward)
    );
    assert_eq!(
        resolve_header(&disjoint_reversed, 2 * N, &lots, Some(24)),
        Resolution::Multi(backward)
    );
    // With unsatisfiable ones mixed in: only the satisfiable half is left.
    assert_eq!(
        resolve_header(&disjoint, N, &lots, None),
        Resolution::Multi((0..N / 2).map(|i| r(i * 2, i * 2)).collect())
    );

    // O(n log n): well under a second even unoptimised; a quadratic merge
    // of 10 000 specs would still pass here, so this only catches worse.
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

// ---------------------------------------------------------------------------
// decide and resolve together
// ---------------------------------------------------------------------------

#[test]
fn decide_then_resolve_end_to_end() {
    let hour_later = date(LM + 3600);
    let response = [
        ("etag", "\"v1\""),
        ("last-modified", LM_IMF),
        ("date", hour_later.as_str()),
        ("content-type", "text/plain"),
    ];
    let table: &[(Lines<'_>, u64, Option<Resolution>)] = &[
        (&[("range", "bytes=0-4")], 100, Some(single(0, 4))),
        (&[("range", "bytes=-10")], 100, Some(single(90, 99))),
        (
            &[("range", "bytes=100-")],
            100,
            Some(Resolution::Unsatisfiable),
        ),
        (
            &[("range", "bytes=50-59,0-9")],
            100,
            Some(multi(&[(50, 59), (0, 9)])),
        ),
        (&[("range", "bytes=0-4,5-9")], 100, Some(single(0, 9))),
        (
            &[("range", "bytes=0-4"), ("if-range", "\"v1\"")],
            100,
            Some(single(0, 4)),
        ),
        (&[("range", "bytes=0-4"), ("if-range", "\"v2\"")], 100, None),
    ];
    let policy = policy_default();
    for (request, len, expected) in table {
        let request_map = header_map(request);
        let conditions = Conditions::capture(&Method::GET, &request_map).unwrap();
        let response_map = header_map(&response);
        let facts = ResponseFacts::from_headers(StatusCode::OK, &response_map, Some(*len));
        let got = match decide(&conditions, &facts, &policy, at(NOW)) {
            Decision::Ranges(set) => Some(resolve(&set, *len, &policy, Some(10))),
            _ => None,
        };
        assert_eq!(&got, expected, "{request:?}");
    }
}

#[test]
fn resolve_amplification_is_exact_near_u64_max() {
    let max = u64::MAX;
    // Two parts covering all but two bytes of a u64::MAX-byte representation:
    // the multipart body is `max - 1` data bytes plus two part headers and the
    // closing delimiter, about 200 bytes more than `max` — larger than the
    // representation plus a slack of 0, so the full 200 must go out.
    let ranges = [r(0, max - 3), r(max - 1, max - 1)];
    let data: u64 = ranges.iter().map(ByteRange::len).sum();
    assert_eq!(data, max - 1);
    let framing = crate::multipart::closing_len()
        + ranges
            .iter()
            .map(|range| crate::multipart::part_header_len(None, *range, max))
            .sum::<u64>();
    assert!(framing > 1, "the true body is past u64::MAX");
    let no_slack = *RangeLayer::new().multipart_slack(0).policy();
    assert_eq!(
        resolve_header(
            "bytes=0-18446744073709551612,18446744073709551614-",
            max,
            &no_slack,
            None
        ),
        Resolution::Full(Amplification)
    );
}
