//! `range_header`: arbitrary bytes as a `Range` value and an `If-Range`
//! value, through the parser, the plan and the `If-Range` evaluation.
//!
//! Nothing may panic, and every answer must agree with a reference model
//! written here from DESIGN.md §1, without the crate's code:
//!
//! - `parse_range` accepts exactly what the model accepts, rejects for the
//!   same reason, and yields the same specs in the same order;
//! - `RangeSpec::resolve` and `plan::resolve` give the model's ranges: inside
//!   the entity, coalesced (no two parts overlap or touch, or lie within the
//!   merge gap), in the order of the request, with the amplification rule
//!   computed from the multipart framing written out the long way;
//! - `if_range_matches` is the model's strong comparison / strong date;
//! - `match_tag_list` never panics, `*` always matches, and a strong match
//!   implies a weak one;
//! - `plan::decide` on a plain `GET` agrees with the parser and `If-Range`.
//!
//! Input layout (missing bytes read as zero):
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | `max_ranges`: < 64 → 100, else `b % 32` (0 is allowed here) |
//! | 1 | length mode: 0-3 → the next two bytes (LE), 4 → `u64::MAX`, 5 → `u64::MAX - next two`, 6 → 0, 7 → the next eight bytes |
//! | 2..10 | the length bytes (always eight consumed) |
//! | 10 | multipart slack: 0-63 → 1024, 64-127 → 0, 128-191 → `b`, else `u64::MAX` |
//! | 11 | merge gap: < 192 → 0, else `b - 192` |
//! | 12 | `Content-Type` length: < 128 → none, else `b - 128` bytes |
//! | 13 | validators of the response (`ETag`, `Last-Modified`, `Date`) |
//! | 14.. | the `Range` value, up to the first `\n`; after it the `If-Range` value |

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tower_range::header::{
    if_range_matches, match_tag_list, parse_http_date, parse_range, ByteRange, EntityTag,
    RangeError, RangeSpec, TagMatch,
};
use tower_range::plan::{
    decide, resolve, Conditions, Decision, FullReason, Resolution, ResponseFacts,
};
use tower_range::RangeLayer;

/// The boundary length the crate uses; the model sizes multipart bodies
/// with it (the service target checks every boundary it sees has it).
const BOUNDARY_LEN: usize = 32;

// ---------------------------------------------------------------------------
// The reference model.

/// A `range-spec` as the model reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// `first-last`
    Bounded(u64, u64),
    /// `first-`
    From(u64),
    /// `-n`
    Suffix(u64),
}

/// Why the model rejects a `Range` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not `unit=set` with a token unit.
    Syntax,
    /// A token unit other than `bytes`.
    OtherUnit,
    /// A bad spec, or no spec at all.
    InvalidSpec,
    /// More specs than the cap (counted in order; a bad spec before the cap
    /// is reached is an `InvalidSpec`).
    TooMany,
}

pub fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// A numeral of any length, saturating at `u64::MAX`.
fn numeral(digits: &[u8]) -> u64 {
    let significant = match digits.iter().position(|&b| b != b'0') {
        Some(i) => &digits[i..],
        None => return 0,
    };
    if significant.len() > 20 {
        return u64::MAX;
    }
    let wide = significant
        .iter()
        .fold(0u128, |n, &d| n * 10 + u128::from(d - b'0'));
    u64::try_from(wide).unwrap_or(u64::MAX)
}

/// The digits of a numeral without its leading zeros: ordered by
/// (length, digits), they order exactly as the numbers do, which the
/// saturated values do not past `u64::MAX`.
fn significant(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&b| b == b'0').count();
    &digits[zeros..]
}

fn model_spec(s: &[u8]) -> Option<Spec> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let (first, rest) = s.split_at(digits);
    let last = rest.strip_prefix(b"-")?;
    if !last.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match (first.is_empty(), last.is_empty()) {
        (false, false) => {
            let (exact_first, exact_last) = (significant(first), significant(last));
            let in_order = (exact_first.len(), exact_first) <= (exact_last.len(), exact_last);
            in_order.then(|| Spec::Bounded(numeral(first), numeral(last)))
        }
        (false, true) => Some(Spec::From(numeral(first))),
        (true, false) => Some(Spec::Suffix(numeral(last))),
        (true, true) => None,
    }
}

/// DESIGN.md "Parsing `Range`".
pub fn model_parse(value: &[u8], max_ranges: usize) -> Result<Vec<Spec>, Reject> {
    let value = trim(value);
    let eq = value
        .iter()
        .position(|&b| b == b'=')
        .ok_or(Reject::Syntax)?;
    let unit = &value[..eq];
    if unit.is_empty() || !unit.iter().copied().all(is_tchar) {
        return Err(Reject::Syntax);
    }
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Err(Reject::OtherUnit);
    }
    let mut specs = Vec::new();
    for element in value[eq + 1..].split(|&b| b == b',') {
        let element = trim(element);
        if element.is_empty() {
            continue;
        }
        specs.push(model_spec(element).ok_or(Reject::InvalidSpec)?);
        if specs.len() > max_ranges {
            return Err(Reject::TooMany);
        }
    }
    if specs.is_empty() {
        return Err(Reject::InvalidSpec);
    }
    Ok(specs)
}

/// DESIGN.md "Resolving against the length `L`", for one spec.
pub fn model_resolve_spec(spec: Spec, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return None;
    }
    match spec {
        Spec::Bounded(a, b) if a < len => Some((a, b.min(len - 1))),
        Spec::From(a) if a < len => Some((a, len - 1)),
        Spec::Suffix(n) if n > 0 => Some((len - n.min(len), len - 1)),
        _ => None,
    }
}

/// What the model says a range set resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// The full 200 (empty entity, or amplification).
    Full,
    /// 416.
    Unsatisfiable,
    /// One range.
    Single(u64, u64),
    /// Several, in the order they go out.
    Multi(Vec<(u64, u64)>),
}

/// The exact size of a `multipart/byteranges` body, written out part by
/// part (u128: it cannot overflow for any `u64` ranges).
pub fn model_multipart_len(
    ranges: &[(u64, u64)],
    len: u64,
    content_type_len: Option<usize>,
) -> u128 {
    let boundary = "b".repeat(BOUNDARY_LEN);
    let mut total = 0u128;
    for &(first, last) in ranges {
        let mut head = format!("\r\n--{boundary}\r\n");
        if let Some(ct) = content_type_len {
            head.push_str("Content-Type: ");
            head.push_str(&"t".repeat(ct));
            head.push_str("\r\n");
        }
        head.push_str(&format!(
            "Content-Range: bytes {first}-{last}/{len}\r\n\r\n"
        ));
        total += head.len() as u128 + u128::from(last - first) + 1;
    }
    total + format!("\r\n--{boundary}--\r\n").len() as u128
}

/// DESIGN.md "Several ranges": drop the unsatisfiable, coalesce overlapping
/// and adjacent ranges (and those within `merge_gap`), keep the order of
/// each group's earliest member, refuse a multipart larger than the entity
/// plus the slack.
pub fn model_plan(
    specs: &[Spec],
    len: u64,
    merge_gap: u64,
    slack: u64,
    content_type_len: Option<usize>,
) -> Planned {
    if len == 0 {
        return Planned::Full;
    }
    // (first, last, index of the earliest spec in the group)
    let mut groups: Vec<(u64, u64, usize)> = specs
        .iter()
        .enumerate()
        .filter_map(|(i, &s)| model_resolve_spec(s, len).map(|(a, b)| (a, b, i)))
        .collect();
    if groups.is_empty() {
        return Planned::Unsatisfiable;
    }
    if specs.len() == 1 {
        return Planned::Single(groups[0].0, groups[0].1);
    }
    // Merge to a fixpoint, pairwise: independent of the crate's sweep.
    let close = |x: &(u64, u64, usize), y: &(u64, u64, usize)| {
        let reach = |p: &(u64, u64, usize)| u128::from(p.1) + 1 + u128::from(merge_gap);
        u128::from(y.0) <= reach(x) && u128::from(x.0) <= reach(y)
    };
    loop {
        let mut merged = false;
        'outer: for i in 0..groups.len() {
            for j in i + 1..groups.len() {
                if close(&groups[i], &groups[j]) {
                    let (a, b) = (groups[i], groups[j]);
                    groups[i] = (a.0.min(b.0), a.1.max(b.1), a.2.min(b.2));
                    groups.swap_remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            break;
        }
    }
    if groups.len() == 1 {
        return Planned::Single(groups[0].0, groups[0].1);
    }
    groups.sort_by_key(|g| g.2);
    let ranges: Vec<(u64, u64)> = groups.iter().map(|g| (g.0, g.1)).collect();
    let body = model_multipart_len(&ranges, len, content_type_len);
    if body > u128::from(u64::MAX) || body > u128::from(len) + u128::from(slack) {
        return Planned::Full;
    }
    Planned::Multi(ranges)
}

/// One entity tag, exactly (no surrounding whitespace): `"opaque"` or `W/"opaque"`, `(weak, opaque)`.
pub fn model_etag(v: &[u8]) -> Option<(bool, &[u8])> {
    let (weak, rest) = match v.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let inner = rest.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    inner
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        .then_some((weak, inner))
}

/// DESIGN.md "If-Range".
pub fn model_if_range(
    value: &[u8],
    etag: Option<(bool, &[u8])>,
    last_modified: Option<SystemTime>,
    date: SystemTime,
) -> bool {
    let v = trim(value);
    if v.starts_with(b"\"") || v.starts_with(b"W/") {
        return match (model_etag(v), etag) {
            (Some((false, tag)), Some((false, current))) => tag == current,
            _ => false,
        };
    }
    match (parse_http_date(v), last_modified) {
        (Some(when), Some(lm)) => when == lm && lm + Duration::from_secs(1) <= date,
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// The crate's answers, converted for comparison.

fn reject(error: RangeError) -> Reject {
    match error {
        RangeError::Syntax => Reject::Syntax,
        RangeError::OtherUnit => Reject::OtherUnit,
        RangeError::InvalidSpec => Reject::InvalidSpec,
        RangeError::TooManyRanges => Reject::TooMany,
    }
}

fn spec(spec: RangeSpec) -> Spec {
    match spec {
        RangeSpec::Bounded { first, last } => Spec::Bounded(first, last),
        RangeSpec::From { first } => Spec::From(first),
        RangeSpec::Suffix { len } => Spec::Suffix(len),
    }
}

fn planned(resolution: &Resolution) -> Planned {
    let pair = |r: &ByteRange| (r.first, r.last);
    match resolution {
        Resolution::Full(_) => Planned::Full,
        Resolution::Unsatisfiable => Planned::Unsatisfiable,
        Resolution::Single(r) => Planned::Single(r.first, r.last),
        Resolution::Multi(rs) => Planned::Multi(rs.iter().map(pair).collect()),
    }
}

// ---------------------------------------------------------------------------
// The target.

/// The input, read a byte at a time; past its end every byte reads as 0.
/// Shared by the targets' checks.
pub struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next `n` bytes, or what is left.
    pub fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }
}

const LM: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Validators of the response: (ETag, Last-Modified, Date).
fn validators(b: u8) -> (Option<&'static [u8]>, Option<SystemTime>, SystemTime) {
    let etag: Option<&'static [u8]> = match b % 4 {
        0 => Some(b"\"v1\""),
        1 => Some(b"W/\"v1\""),
        2 => Some(b"\"\""),
        _ => None,
    };
    let lm = match (b / 4) % 4 {
        0 => Some(at(LM)),
        1 => Some(at(1_445_412_480)),
        2 => Some(at(LM + 1)),
        _ => None,
    };
    let date = match (b / 16) % 4 {
        0 => at(LM),
        1 => at(LM + 1),
        2 => at(1_445_412_480),
        _ => at(LM + 3600),
    };
    (etag, lm, date)
}

/// Runs one input; panics on any disagreement.
pub fn check(data: &[u8]) {
    let mut r = Reader(data);
    let max_ranges = match r.u8() {
        b if b < 64 => 100,
        b => usize::from(b % 32),
    };
    let mode = r.u8() % 8;
    let raw: [u8; 8] = std::array::from_fn(|_| r.u8());
    let short = u64::from(u16::from_le_bytes([raw[0], raw[1]]));
    let len = match mode {
        0..=3 => short,
        4 => u64::MAX,
        5 => u64::MAX - short,
        6 => 0,
        _ => u64::from_le_bytes(raw),
    };
    let slack = match r.u8() {
        b if b < 64 => 1024,
        b if b < 128 => 0,
        b if b < 192 => u64::from(b),
        _ => u64::MAX,
    };
    let merge_gap = match r.u8() {
        b if b < 192 => 0,
        b => u64::from(b - 192),
    };
    let content_type_len = match r.u8() {
        b if b < 128 => None,
        b => Some(usize::from(b - 128)),
    };
    let (etag_bytes, last_modified, date) = validators(r.u8());
    let rest = r.0;
    let (range, if_range) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };

    // The parser against the model.
    let parsed = parse_range(range, max_ranges);
    let model = model_parse(range, max_ranges);
    let specs: Vec<Spec> = match (&parsed, &model) {
        (Ok(set), Ok(expected)) => {
            let got: Vec<Spec> = set.iter().map(spec).collect();
            assert_eq!(&got, expected, "specs of {range:?}");
            assert_eq!(set.len(), got.len(), "RangeSet::len of {range:?}");
            assert!(
                (1..=max_ranges).contains(&set.len()),
                "{} specs accepted under a cap of {max_ranges}",
                set.len()
            );
            got
        }
        (Err(e), Err(expected)) => {
            assert_eq!(reject(*e), *expected, "rejection of {range:?}");
            Vec::new()
        }
        _ => panic!("parse_range({range:?}, {max_ranges}) = {parsed:?}, the model says {model:?}"),
    };

    // Each spec, then the plan, against the model.
    for (s, got) in specs.iter().zip(parsed.iter().flat_map(|set| set.iter())) {
        let expected = model_resolve_spec(*s, len);
        let resolved = got.resolve(len).map(|r| (r.first, r.last));
        assert_eq!(resolved, expected, "{s:?}.resolve({len})");
    }
    if let Ok(set) = &parsed {
        let policy = *RangeLayer::new()
            .max_ranges(max_ranges.max(1))
            .multipart_slack(slack)
            .merge_gap(merge_gap)
            .policy();
        let resolution = resolve(set, len, &policy, content_type_len);
        let got = planned(&resolution);
        check_plan_invariants(&got, &specs, len, merge_gap);
        let expected = model_plan(&specs, len, merge_gap, slack, content_type_len);
        assert_eq!(
            got, expected,
            "resolve({range:?}, len {len}, gap {merge_gap}, slack {slack}, ct {content_type_len:?})"
        );
        if let Resolution::Full(reason) = resolution {
            let why = if len == 0 {
                FullReason::Empty
            } else {
                FullReason::Amplification
            };
            assert_eq!(reason, why, "why the full 200");
        }
    }

    // If-Range and the tag lists.
    let etag = etag_bytes.and_then(EntityTag::parse);
    let etag_model = etag_bytes.and_then(model_etag);
    assert_eq!(
        etag.is_some(),
        etag_model.is_some(),
        "the response's ETag parses"
    );
    if let Some(value) = if_range {
        let got = if_range_matches(value, etag, last_modified, date);
        let expected = model_if_range(value, etag_model, last_modified, date);
        assert_eq!(
            got, expected,
            "If-Range {value:?} vs {etag_bytes:?}, {last_modified:?}, {date:?}"
        );
        let _ = EntityTag::parse(value);
        let _ = parse_http_date(value);
        let lines = value.split(|&b| b == b'\r');
        let strong = match_tag_list(lines.clone(), etag, false);
        let weak = match_tag_list(lines.clone(), etag, true);
        if strong == TagMatch::Matched {
            assert_eq!(
                weak,
                TagMatch::Matched,
                "a strong match that is not a weak one: {value:?}"
            );
        }
        if lines.clone().any(|line| trim(line) == b"*") {
            assert_eq!(weak, TagMatch::Matched, "`*` must match: {value:?}");
            assert_eq!(strong, TagMatch::Matched, "`*` must match: {value:?}");
        }
        if etag.is_none() && !lines.clone().any(|line| trim(line) == b"*") {
            assert_eq!(
                weak,
                TagMatch::NotMatched,
                "a match without an ETag: {value:?}"
            );
        }
    }

    check_decide(
        range,
        if_range,
        max_ranges,
        len,
        etag_bytes,
        last_modified,
        date,
    );
}

/// What holds for any resolution, whatever the model says.
fn check_plan_invariants(got: &Planned, specs: &[Spec], len: u64, merge_gap: u64) {
    let ranges: Vec<(u64, u64)> = match got {
        Planned::Single(a, b) => vec![(*a, *b)],
        Planned::Multi(rs) => {
            assert!(rs.len() >= 2, "a multipart of {} part(s)", rs.len());
            rs.clone()
        }
        Planned::Full | Planned::Unsatisfiable => return,
    };
    for &(a, b) in &ranges {
        assert!(
            a <= b && b < len,
            "range {a}-{b} outside an entity of {len} bytes"
        );
        // Every part is the union of requested bytes: its ends are ends of
        // resolved specs.
        let resolved: Vec<(u64, u64)> = specs
            .iter()
            .filter_map(|&s| model_resolve_spec(s, len))
            .collect();
        assert!(
            resolved.iter().any(|r| r.0 == a),
            "part {a}-{b} starts where no spec does"
        );
        assert!(
            resolved.iter().any(|r| r.1 == b),
            "part {a}-{b} ends where no spec does"
        );
    }
    let mut sorted = ranges.clone();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        assert!(
            u128::from(w[0].1) + 1 + u128::from(merge_gap) < u128::from(w[1].0),
            "parts {:?} and {:?} overlap, touch, or lie within the merge gap {merge_gap}",
            w[0],
            w[1]
        );
    }
    // Request order: each part goes where its earliest requested member was.
    let earliest: Vec<usize> = ranges
        .iter()
        .map(|&(a, b)| {
            specs
                .iter()
                .position(|&s| model_resolve_spec(s, len).is_some_and(|(x, y)| x >= a && y <= b))
                .expect("every part holds a requested range")
        })
        .collect();
    assert!(
        earliest.windows(2).all(|w| w[0] < w[1]),
        "parts {ranges:?} are not in request order (earliest members {earliest:?})"
    );
}

/// `decide` for a plain `GET` with these headers, over a `200` of `len`
/// bytes with these validators.
#[allow(clippy::too_many_arguments)]
fn check_decide(
    range: &[u8],
    if_range: Option<&[u8]>,
    max_ranges: usize,
    len: u64,
    etag: Option<&'static [u8]>,
    last_modified: Option<SystemTime>,
    date: SystemTime,
) {
    let Ok(range_value) = HeaderValue::from_bytes(range) else {
        return;
    };
    let mut request = HeaderMap::new();
    request.insert(http::header::RANGE, range_value);
    let if_range_value = match if_range.map(HeaderValue::from_bytes) {
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => return,
        None => None,
    };
    if let Some(value) = &if_range_value {
        request.insert(http::header::IF_RANGE, value.clone());
    }
    let mut response = HeaderMap::new();
    if let Some(etag) = etag {
        response.insert(
            http::header::ETAG,
            HeaderValue::from_static(std::str::from_utf8(etag).unwrap()),
        );
    }
    let date_value = HeaderValue::from_str(&httpdate(date)).unwrap();
    response.insert(http::header::DATE, date_value);
    if let Some(lm) = last_modified {
        response.insert(
            http::header::LAST_MODIFIED,
            HeaderValue::from_str(&httpdate(lm)).unwrap(),
        );
    }
    let conditions = Conditions::capture(&Method::GET, &request).expect("GET is captured");
    let facts = ResponseFacts::from_headers(StatusCode::OK, &response, Some(len));
    let policy = *RangeLayer::new().max_ranges(max_ranges.max(1)).policy();
    let decision = decide(&conditions, &facts, &policy, SystemTime::now());
    let if_range_ok = if_range_value.as_ref().is_none_or(|value| {
        model_if_range(
            value.as_bytes(),
            etag.and_then(model_etag),
            last_modified,
            date,
        )
    });
    // The header value is the same bytes as `range`, but the cap differs
    // when `max_ranges` is 0 here (the layer raises it to 1).
    let reparsed = parse_range(range, max_ranges.max(1));
    let expected = if !if_range_ok {
        "200 (If-Range)"
    } else if reparsed.is_err() {
        "200 (invalid)"
    } else if len == 0 {
        "200 (empty)"
    } else {
        "ranges"
    };
    let got = match decision {
        Decision::Full {
            reason: FullReason::IfRangeMismatch,
            accept_ranges: true,
        } => "200 (If-Range)",
        Decision::Full {
            reason: FullReason::Invalid(e),
            accept_ranges: true,
        } => {
            assert_eq!(
                Err(e),
                reparsed.map(|_| ()),
                "decide's reason for {range:?}"
            );
            "200 (invalid)"
        }
        Decision::Full {
            reason: FullReason::Empty,
            accept_ranges: true,
        } => "200 (empty)",
        Decision::Ranges(set) => {
            let got: Vec<RangeSpec> = set.iter().collect();
            let want: Vec<RangeSpec> = reparsed
                .as_ref()
                .map(|s| s.iter().collect())
                .unwrap_or_default();
            assert_eq!(got, want, "decide's range set for {range:?}");
            "ranges"
        }
        other => panic!("decide gave {other:?} for Range {range:?}, If-Range {if_range:?}"),
    };
    assert_eq!(
        got, expected,
        "decide for Range {range:?}, If-Range {if_range:?}"
    );
}

/// IMF-fixdate of a time, for the response headers of `check_decide`.
fn httpdate(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil from days (Howard Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(month - 1) as usize],
        year,
        h,
        m,
        s
    )
}
