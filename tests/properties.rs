//! Property tests: random entities and random request headers, through every
//! body kind the layer handles, checked against a reference model of RFC 9110
//! range handling and of the crate's policy (DESIGN.md) written here from
//! scratch, without the crate's parser or planner.
//!
//! Each property runs 256 generated cases (`PROPTEST_CASES` overrides that
//! for a longer hunt); each case goes through eight (body kind, layer)
//! pairs: a buffered `Full<Bytes>`, a seekable `ReaderSource`, a stream of
//! random-size chunks with `Content-Length`, and the same stream without
//! it, each under the default buffer limit and under a small one (random,
//! or placed exactly at a chunk's end). Some cases set the multipart slack
//! to exactly what the request needs, plus or minus one byte.
//!
//! Every response is first read back strictly (status, `Content-Length`
//! against the body, the size hint, `Content-Range`, the multipart framing,
//! every byte against the entity), then compared with the model's outcome.
//!
//! The cases are driven by a hand-made `TestRunner` (not `proptest!`) so that
//! one current-thread runtime serves a whole property, and so that no
//! regression file is written next to the tests. A failing case prints its
//! entity as `Entity::new(len, seed)`.

use std::convert::Infallible;
use std::io;
#[cfg(feature = "tokio")]
use std::io::Cursor;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, StreamBody};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tower::{Layer, ServiceExt};
#[cfg(feature = "tokio")]
use tower_range::source::ReaderSource;
use tower_range::source::{RangeSource, SourceBody};
use tower_range::{BoxError, RangeLayer};

const CASES: u32 = 256;

/// The default of `RangeLayer::buffer_limit`.
const DEFAULT_LIMIT: usize = 1024 * 1024;

/// The model sizes multipart bodies (for the amplification rule) with this
/// boundary length; every multipart response is checked to use it, so a
/// change of the boundary length shows up as such, not as a stray 200.
const MODEL_BOUNDARY_LEN: usize = 32;

const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const LM: u64 = 784_111_777;

// ---------------------------------------------------------------------------
// Header tables, each value with what it means to the model.

/// HTTP-dates in the three formats, and non-dates (`None`).
const DATES: &[(&str, Option<u64>)] = &[
    ("Sun, 06 Nov 1994 08:49:37 GMT", Some(LM)),
    ("Sunday, 06-Nov-94 08:49:37 GMT", Some(LM)),
    ("Sun Nov  6 08:49:37 1994", Some(LM)),
    ("Sun, 06 Nov 1994 08:49:36 GMT", Some(LM - 1)),
    ("Sun, 06 Nov 1994 08:49:38 GMT", Some(LM + 1)),
    ("Wed, 21 Oct 2015 07:28:00 GMT", Some(1_445_412_480)),
    ("Sat, 01 Jan 1994 00:00:00 GMT", Some(757_382_400)),
    ("yesterday", None),
    ("1994-11-06T08:49:37Z", None),
];

/// `Date` values for the inner response.
const RESPONSE_DATES: &[(&str, u64)] = &[
    ("Sun, 06 Nov 1994 08:49:37 GMT", LM),
    ("Sun, 06 Nov 1994 08:49:38 GMT", LM + 1),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_480),
    ("Sat, 01 Jan 1994 00:00:00 GMT", 757_382_400),
];

/// An entity tag: (weak, opaque tag).
type Tag = (bool, &'static str);

/// `ETag` values for the inner response.
const ETAGS: &[(&str, Tag)] = &[
    ("\"v1\"", (false, "v1")),
    ("W/\"v1\"", (true, "v1")),
    ("\"v2\"", (false, "v2")),
];

#[derive(Clone, Copy, Debug)]
enum TagList {
    Star,
    Tags(&'static [Tag]),
}

/// `If-Match` / `If-None-Match` values. A garbled list matches nothing.
const TAG_LISTS: &[(&str, TagList)] = &[
    ("*", TagList::Star),
    ("\"v1\"", TagList::Tags(&[(false, "v1")])),
    ("W/\"v1\"", TagList::Tags(&[(true, "v1")])),
    ("\"v2\"", TagList::Tags(&[(false, "v2")])),
    (
        "\"v2\", \"v1\"",
        TagList::Tags(&[(false, "v2"), (false, "v1")]),
    ),
    (
        "\"v2\" ,, W/\"v1\"",
        TagList::Tags(&[(false, "v2"), (true, "v1")]),
    ),
    ("garbage", TagList::Tags(&[])),
];

#[derive(Clone, Copy, Debug)]
enum IfRangeValue {
    Tag(Tag),
    Date(u64),
    Invalid,
}

/// `If-Range` values.
const IF_RANGES: &[(&str, IfRangeValue)] = &[
    ("\"v1\"", IfRangeValue::Tag((false, "v1"))),
    (" \"v1\" ", IfRangeValue::Tag((false, "v1"))),
    ("\"v2\"", IfRangeValue::Tag((false, "v2"))),
    ("W/\"v1\"", IfRangeValue::Tag((true, "v1"))),
    ("Sun, 06 Nov 1994 08:49:37 GMT", IfRangeValue::Date(LM)),
    ("Sunday, 06-Nov-94 08:49:37 GMT", IfRangeValue::Date(LM)),
    ("Sun Nov  6 08:49:37 1994", IfRangeValue::Date(LM)),
    ("Sun, 06 Nov 1994 08:49:38 GMT", IfRangeValue::Date(LM + 1)),
    (
        "Wed, 21 Oct 2015 07:28:00 GMT",
        IfRangeValue::Date(1_445_412_480),
    ),
    ("v1", IfRangeValue::Invalid),
    ("\"v1", IfRangeValue::Invalid),
    ("\"v1\", \"v2\"", IfRangeValue::Invalid),
    ("*", IfRangeValue::Invalid),
    ("", IfRangeValue::Invalid),
    ("yesterday", IfRangeValue::Invalid),
];

const CONTENT_TYPES: &[&str] = &["application/octet-stream", "text/plain; charset=utf-8"];

// ---------------------------------------------------------------------------
// A generated case.

#[derive(Clone, Debug)]
struct Cfg {
    max_ranges: usize,
    slack: u64,
    merge_gap: u64,
    preconditions: bool,
    small_limit: usize,
    /// Set `slack` to what the requested multipart needs, plus this: the
    /// amplification rule at its exact edge.
    tight_slack: Option<i8>,
    /// Set `small_limit` to the end of one of the chunks, plus this: the
    /// buffer limit at its exact edge.
    limit_at_chunk: Option<(prop::sample::Index, i8)>,
}

impl Cfg {
    fn layer(&self, buffer_limit: usize) -> RangeLayer {
        RangeLayer::new()
            .max_ranges(self.max_ranges)
            .multipart_slack(self.slack)
            .merge_gap(self.merge_gap)
            .preconditions(self.preconditions)
            .buffer_limit(buffer_limit)
    }
}

#[derive(Clone, Debug, Default)]
struct Conditionals {
    if_range: Option<(&'static str, IfRangeValue)>,
    if_match: Option<(&'static str, TagList)>,
    if_none_match: Option<(&'static str, TagList)>,
    if_modified_since: Option<(&'static str, Option<u64>)>,
    if_unmodified_since: Option<(&'static str, Option<u64>)>,
}

#[derive(Clone, Debug)]
struct Meta {
    etag: Option<(&'static str, Tag)>,
    date: Option<(&'static str, u64)>,
    content_type: Option<&'static str>,
}

/// Random bytes from a seed (xorshift64*).
#[derive(Clone)]
struct Entity {
    seed: u64,
    bytes: Bytes,
}

impl Entity {
    fn new(len: usize, seed: u64) -> Self {
        let mut state = seed | 1;
        let bytes = (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect::<Vec<u8>>();
        Entity {
            seed,
            bytes: Bytes::from(bytes),
        }
    }
}

impl std::fmt::Debug for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entity::new({}, {:#x})", self.bytes.len(), self.seed)
    }
}

impl std::ops::Deref for Entity {
    type Target = Bytes;
    fn deref(&self) -> &Bytes {
        &self.bytes
    }
}

#[derive(Clone, Debug)]
struct Case {
    entity: Entity,
    /// Sizes of the stream's chunks (zero-size ones included); they add up
    /// to the entity's length.
    chunks: Vec<usize>,
    /// `Range` header lines (usually one).
    range: Vec<Bytes>,
    conditionals: Conditionals,
    meta: Meta,
    cfg: Cfg,
}

// ---------------------------------------------------------------------------
// Strategies.

fn saturating_value(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

/// A numeral and its value: small, in and around the entity sizes, with
/// leading zeros, or huge (saturating at `u64::MAX`).
fn number() -> impl Strategy<Value = (String, u64)> {
    prop_oneof![
        4 => (0u64..40).prop_map(|n| (n.to_string(), n)),
        6 => (0u64..3100).prop_map(|n| (n.to_string(), n)),
        1 => (0u64..3100, 1usize..4).prop_map(|(n, zeros)| (format!("{}{n}", "0".repeat(zeros)), n)),
        1 => "[1-9][0-9]{18,40}".prop_map(|s| {
            let value = saturating_value(&s);
            (s, value)
        }),
        1 => Just((u64::MAX.to_string(), u64::MAX)),
        1 => Just(("18446744073709551616".to_owned(), u64::MAX)),
    ]
}

fn pick<T: Clone + std::fmt::Debug>(values: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(values)
}

fn ows() -> impl Strategy<Value = &'static str> {
    pick(&["", "", "", " ", "\t", "  ", " \t"])
}

/// A syntactically valid range-spec.
fn spec() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (number(), number()).prop_map(|(a, b)| {
            let (a, b) = if a.1 <= b.1 { (a, b) } else { (b, a) };
            format!("{}-{}", a.0, b.0)
        }),
        5 => (0u64..3000, 0u64..300).prop_map(|(first, width)| format!("{first}-{}", first + width)),
        2 => number().prop_map(|a| format!("{}-", a.0)),
        2 => number().prop_map(|n| format!("-{}", n.0)),
        1 => (0u64..300).prop_map(|n| format!("-{n}")),
    ]
}

/// A list element: a spec with optional whitespace around it, or empty.
fn element() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (ows(), spec(), ows()).prop_map(|(a, s, b)| format!("{a}{s}{b}")),
        1 => ows().prop_map(str::to_owned),
    ]
}

fn range_set() -> impl Strategy<Value = String> {
    prop::collection::vec(element(), 1..8).prop_map(|elements| elements.join(","))
}

/// A `Range` value that is valid (but for the rare all-empty list).
fn valid_range() -> impl Strategy<Value = Bytes> {
    (
        ows(),
        pick(&["bytes", "bytes", "BYTES", "Bytes", "bYtEs"]),
        range_set(),
        ows(),
    )
        .prop_map(|(lead, unit, set, trail)| Bytes::from(format!("{lead}{unit}={set}{trail}")))
}

/// A `Range` value of several specs sized to the entity, so that most are
/// satisfiable and many make a multipart response.
fn fitted_range(len: u64) -> impl Strategy<Value = Bytes> {
    let spec = prop_oneof![
        3 => (0..len + 8, 0..len / 4 + 2)
            .prop_map(|(first, width)| format!("{first}-{}", first + width)),
        3 => (0..len + 8, 0u64..8)
            .prop_map(|(first, width)| format!("{first}-{}", first + width)),
        1 => (0..len + 8).prop_map(|first| format!("{first}-")),
        1 => (0..len / 4 + 2).prop_map(|n| format!("-{n}")),
    ];
    let element = prop_oneof![
        8 => (ows(), spec, ows()).prop_map(|(a, s, b)| format!("{a}{s}{b}")),
        1 => ows().prop_map(str::to_owned),
    ];
    prop::collection::vec(element, 2..10)
        .prop_map(|elements| Bytes::from(format!("bytes={}", elements.join(","))))
}

/// Valid `Range` values, half of them sized to the entity.
fn valid_or_fitted(len: u64) -> impl Strategy<Value = Bytes> {
    prop_oneof![valid_range(), fitted_range(len)]
}

/// Bytes allowed in a header value (visible ASCII, space, tab, obs-text).
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff]
}

/// `Range` values that are mostly invalid: garbage, other units, reversed
/// specs, random header bytes, valid values with one byte inserted.
fn invalid_range() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        2 => "[ -~]{0,40}".prop_map(Bytes::from),
        2 => "(bytes|BYTES|items)=[0-9, \\-+xX.;=\t]{0,20}".prop_map(Bytes::from),
        2 => (
            pick(&["items", "byte", "bytess", "none", "octets", "b", "bytes*", "x-bytes", "bytes ", " bytes =", ""]),
            range_set(),
        )
            .prop_map(|(unit, set)| Bytes::from(format!("{unit}={set}"))),
        2 => (
            prop::collection::vec(element(), 0..3),
            0u64..3000,
            1u64..100,
            prop::collection::vec(element(), 0..3),
        )
            .prop_map(|(before, last, more, after)| {
                let mut elements = before;
                elements.push(format!("{}-{last}", last + more));
                elements.extend(after);
                Bytes::from(format!("bytes={}", elements.join(",")))
            }),
        2 => prop::collection::vec(header_byte(), 0..40).prop_map(Bytes::from),
        3 => (
            valid_range(),
            any::<prop::sample::Index>(),
            pick(b"+- x=;.,0a\x80\xff\tW\""),
        )
            .prop_map(|(valid, at, byte)| {
                let mut bytes = valid.to_vec();
                bytes.insert(at.index(bytes.len() + 1), byte);
                Bytes::from(bytes)
            }),
        1 => pick(
            &[
                "", "bytes", "bytes=", "bytes=-", "bytes=,", "bytes= , ", "0-5", "bytes 0-5",
                "bytes=5-1", "bytes=--5", "bytes=0-4 10-14", "bytes=0x10-20", "bytes=-5-10",
                "bytes=1.5-2", "bytes=0-4;x", "bytes=0-\u{7e}",
            ]
        )
        .prop_map(|s: &'static str| Bytes::from_static(s.as_bytes())),
    ]
}

/// About as many specs as the default cap of 100, non-adjacent so that
/// none merges.
fn many_ranges() -> impl Strategy<Value = Bytes> {
    (95usize..=106, ows()).prop_map(|(count, ows)| {
        let specs: Vec<String> = (0..count).map(|i| format!("{0}-{0}", 3 * i)).collect();
        Bytes::from(format!("bytes={}", specs.join(&format!("{ows},{ows}"))))
    })
}

/// No `Range` now and then, two lines now and then.
fn lines<S: Strategy<Value = Bytes>>(one: impl Fn() -> S) -> impl Strategy<Value = Vec<Bytes>> {
    prop_oneof![
        1 => Just(Vec::new()),
        12 => one().prop_map(|line| vec![line]),
        1 => (one(), one()).prop_map(|(a, b)| vec![a, b]),
    ]
}

/// The entity: random bytes from a seed (a failing case prints its length
/// and seed, not kilobytes of bytes), cut into random-size chunks.
fn entity_and_chunks() -> impl Strategy<Value = (Entity, Vec<usize>)> {
    (
        prop_oneof![1 => 0usize..24, 3 => 0usize..3000],
        any::<u64>(),
        prop::collection::vec(0usize..700, 0..12),
    )
        .prop_map(|(len, seed, cuts)| {
            let mut left = len;
            let mut chunks = Vec::new();
            for cut in cuts {
                let size = cut.min(left);
                chunks.push(size);
                left -= size;
            }
            if left > 0 {
                chunks.push(left);
            }
            (Entity::new(len, seed), chunks)
        })
}

fn any_cfg() -> impl Strategy<Value = Cfg> {
    (
        prop_oneof![3 => Just(100usize), 1 => 1usize..6],
        prop_oneof![2 => Just(1024u64), 1 => 0u64..400, 1 => Just(1_000_000u64)],
        prop_oneof![3 => Just(0u64), 1 => 0u64..120],
        prop::bool::weighted(0.9),
        0usize..3200,
        prop::option::weighted(0.4, -1i8..=1),
        prop::option::weighted(0.4, (any::<prop::sample::Index>(), -1i8..=1)),
    )
        .prop_map(
            |(
                max_ranges,
                slack,
                merge_gap,
                preconditions,
                small_limit,
                tight_slack,
                limit_at_chunk,
            )| Cfg {
                max_ranges,
                slack,
                merge_gap,
                preconditions,
                small_limit,
                tight_slack,
                limit_at_chunk,
            },
        )
}

/// A configuration where only the range-count cap can turn a request of
/// about a hundred single-byte ranges into a 200.
fn cap_cfg() -> impl Strategy<Value = Cfg> {
    (
        0usize..3200,
        prop::option::weighted(0.4, (any::<prop::sample::Index>(), -1i8..=1)),
    )
        .prop_map(|(small_limit, limit_at_chunk)| Cfg {
            max_ranges: 100,
            slack: 1_000_000,
            merge_gap: 0,
            preconditions: true,
            small_limit,
            tight_slack: None,
            limit_at_chunk,
        })
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        prop::option::weighted(0.8, prop::sample::select(ETAGS)),
        prop::option::weighted(0.3, prop::sample::select(RESPONSE_DATES)),
        prop::option::weighted(0.7, prop::sample::select(CONTENT_TYPES)),
    )
        .prop_map(|(etag, date, content_type)| Meta {
            etag,
            date,
            content_type,
        })
}

fn conditionals() -> impl Strategy<Value = Conditionals> {
    (
        prop::option::weighted(0.6, prop::sample::select(IF_RANGES)),
        prop::option::weighted(0.15, prop::sample::select(TAG_LISTS)),
        prop::option::weighted(0.15, prop::sample::select(TAG_LISTS)),
        prop::option::weighted(0.15, prop::sample::select(DATES)),
        prop::option::weighted(0.15, prop::sample::select(DATES)),
    )
        .prop_map(
            |(if_range, if_match, if_none_match, if_modified_since, if_unmodified_since)| {
                Conditionals {
                    if_range,
                    if_match,
                    if_none_match,
                    if_modified_since,
                    if_unmodified_since,
                }
            },
        )
}

/// A case; `range` makes the `Range` lines for an entity of a given length.
fn case<S: Strategy<Value = Vec<Bytes>>>(
    range: impl Fn(u64) -> S,
    conditionals: impl Strategy<Value = Conditionals>,
    cfg: impl Strategy<Value = Cfg>,
) -> impl Strategy<Value = Case> {
    let body_and_range = entity_and_chunks().prop_flat_map(move |(entity, chunks)| {
        let lines = range(entity.len() as u64);
        (Just(entity), Just(chunks), lines)
    });
    (body_and_range, conditionals, meta(), cfg).prop_map(
        |((entity, chunks, range), conditionals, meta, cfg)| Case {
            entity,
            chunks,
            range,
            conditionals,
            meta,
            cfg,
        },
    )
}

// ---------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Full,
    NotModified,
    PreconditionFailed,
    Unsatisfiable,
    Single(u64, u64),
    Multi(Vec<(u64, u64)>),
}

#[derive(Clone, Copy, Debug)]
enum Spec {
    Bounded(u64, u64),
    From(u64),
    Suffix(u64),
}

impl Spec {
    fn resolve(self, len: u64) -> Option<(u64, u64)> {
        match self {
            Spec::Bounded(first, last) if first < len => Some((first, last.min(len - 1))),
            Spec::From(first) if first < len => Some((first, len - 1)),
            Spec::Suffix(n) if n > 0 && len > 0 => Some((len - n.min(len), len - 1)),
            _ => None,
        }
    }
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Some(None)` for an empty numeral, `None` for a non-numeral.
fn numeral(s: &[u8]) -> Option<Option<u64>> {
    if s.is_empty() {
        return Some(None);
    }
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(Some(saturating_value(std::str::from_utf8(s).ok()?)))
}

/// `a <= b` for two numerals, by their exact values (which `numeral`
/// saturates): `18446744073709551616-18446744073709551615` is `last < first`.
fn exactly_le(a: &[u8], b: &[u8]) -> bool {
    let exact = |digits: &[u8]| {
        let zeros = digits.iter().take_while(|&&d| d == b'0').count();
        digits[zeros..].to_vec()
    };
    let (a, b) = (exact(a), exact(b));
    (a.len(), &a) <= (b.len(), &b)
}

/// RFC 9110 §14.1.1 `ranges-specifier` with `bytes`, and the crate's caps:
/// `None` means "ignore the header".
fn parse_model(value: &[u8], max_ranges: usize) -> Option<Vec<Spec>> {
    let value = trim_ows(value);
    let eq = value.iter().position(|&b| b == b'=')?;
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in value[eq + 1..].split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        let dash = element.iter().position(|&b| b == b'-')?;
        let (first_digits, last_digits) = (&element[..dash], &element[dash + 1..]);
        let spec = match (numeral(first_digits)?, numeral(last_digits)?) {
            (Some(first), Some(last)) if exactly_le(first_digits, last_digits) => {
                Spec::Bounded(first, last)
            }
            (Some(first), None) => Spec::From(first),
            (None, Some(n)) => Spec::Suffix(n),
            _ => return None,
        };
        specs.push(spec);
    }
    (!specs.is_empty() && specs.len() <= max_ranges).then_some(specs)
}

/// The exact length of a multipart/byteranges body, built the long way.
fn multipart_len(ranges: &[(u64, u64)], len: u64, content_type: Option<&str>) -> u64 {
    let boundary = "b".repeat(MODEL_BOUNDARY_LEN);
    let mut total = 0;
    for &(first, last) in ranges {
        let mut head = format!("\r\n--{boundary}\r\n");
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str(&format!(
            "Content-Range: bytes {first}-{last}/{len}\r\n\r\n"
        ));
        total += head.len() as u64 + (last - first + 1);
    }
    total + format!("\r\n--{boundary}--\r\n").len() as u64
}

/// Resolution against `len > 0`: by marking every requested byte, so that
/// the merging is computed differently from the crate's sort-and-sweep.
fn resolve_model(specs: &[Spec], len: u64, cfg: &Cfg, content_type: Option<&str>) -> Outcome {
    let resolved: Vec<(u64, u64)> = specs.iter().filter_map(|s| s.resolve(len)).collect();
    if resolved.is_empty() {
        return Outcome::Unsatisfiable;
    }
    let mut covered = vec![false; len as usize];
    for &(first, last) in &resolved {
        for byte in &mut covered[first as usize..=last as usize] {
            *byte = true;
        }
    }
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (i, &hit) in covered.iter().enumerate() {
        let i = i as u64;
        if !hit {
            continue;
        }
        match runs.last_mut() {
            // Adjacent, or separated by a gap within `merge_gap`.
            Some(run) if i - run.1 - 1 <= cfg.merge_gap => run.1 = i,
            _ => runs.push((i, i)),
        }
    }
    // A run goes where its earliest member was requested.
    let mut ordered: Vec<(usize, (u64, u64))> = runs
        .iter()
        .map(|&(start, end)| {
            let order = resolved
                .iter()
                .position(|&(first, last)| first <= end && last >= start)
                .expect("every run holds a requested range");
            (order, (start, end))
        })
        .collect();
    ordered.sort();
    let ranges: Vec<(u64, u64)> = ordered.into_iter().map(|(_, range)| range).collect();
    if let [(first, last)] = ranges[..] {
        return Outcome::Single(first, last);
    }
    if multipart_len(&ranges, len, content_type) > len + cfg.slack {
        return Outcome::Full;
    }
    Outcome::Multi(ranges)
}

fn tag_list_matches(list: TagList, etag: Option<Tag>, strong: bool) -> bool {
    match list {
        TagList::Star => true,
        TagList::Tags(tags) => etag.is_some_and(|(etag_weak, etag_tag)| {
            tags.iter()
                .any(|&(weak, tag)| tag == etag_tag && (!strong || (!weak && !etag_weak)))
        }),
    }
}

/// How the body can be read, as far as the outcome depends on it.
#[derive(Clone, Copy, Debug)]
enum BodyModel<'a> {
    /// Read at any offset: the source.
    Seekable,
    /// Known length, read forward once, in these frames: a multipart out of
    /// order is held in memory up to the last byte it needs, which must be
    /// within the limit (whatever the frames).
    Forward { limit: usize, chunks: &'a [usize] },
    /// Unknown length: read to the end, within the limit, before deciding.
    Unknown { limit: usize },
}

/// What RFC 9110 and DESIGN.md say the response must be.
fn model(case: &Case, body: BodyModel<'_>) -> Outcome {
    let c = &case.conditionals;
    let etag = case.meta.etag.map(|(_, tag)| tag);
    if case.cfg.preconditions {
        if let Some((_, list)) = c.if_match {
            if !tag_list_matches(list, etag, true) {
                return Outcome::PreconditionFailed;
            }
        } else if let Some((_, Some(since))) = c.if_unmodified_since {
            if LM > since {
                return Outcome::PreconditionFailed;
            }
        }
        if let Some((_, list)) = c.if_none_match {
            if tag_list_matches(list, etag, false) {
                return Outcome::NotModified;
            }
        } else if let Some((_, Some(since))) = c.if_modified_since {
            if LM <= since {
                return Outcome::NotModified;
            }
        }
    }
    let [line] = &case.range[..] else {
        // No Range, or two Range lines.
        return Outcome::Full;
    };
    if let Some((_, value)) = c.if_range {
        let matched = match value {
            IfRangeValue::Tag((weak, tag)) => !weak && etag == Some((false, tag)),
            // Equal to Last-Modified, which must be strong: at least a second
            // older than the response's Date (or than now, without one).
            IfRangeValue::Date(when) => {
                when == LM && case.meta.date.is_none_or(|(_, date)| date > LM)
            }
            IfRangeValue::Invalid => false,
        };
        if !matched {
            return Outcome::Full;
        }
    }
    let Some(specs) = parse_model(line, case.cfg.max_ranges) else {
        return Outcome::Full;
    };
    let len = case.entity.len() as u64;
    if len == 0 {
        return Outcome::Full;
    }
    let outcome = resolve_model(&specs, len, &case.cfg, case.meta.content_type);
    match body {
        BodyModel::Seekable => outcome,
        BodyModel::Unknown { limit } => {
            if len > limit as u64 {
                Outcome::Full
            } else {
                outcome
            }
        }
        BodyModel::Forward { limit, chunks } => {
            let Outcome::Multi(ranges) = &outcome else {
                return outcome;
            };
            if ranges.windows(2).all(|w| w[0].1 < w[1].0) {
                return outcome; // in order: streamed, nothing held
            }
            // Decided before reading, so that HEAD agrees with GET: the
            // frame sizes must not matter.
            let _ = chunks;
            let data_end = ranges.iter().map(|r| r.1 + 1).max().unwrap_or(0);
            if data_end > limit as u64 {
                Outcome::Full
            } else {
                outcome
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Building and running a request.

fn forward(limit: usize, chunks: &[usize]) -> BodyModel<'_> {
    BodyModel::Forward { limit, chunks }
}

fn request(case: &Case) -> Request<()> {
    let mut builder = Request::get("/");
    for line in &case.range {
        builder = builder.header(header::RANGE, &line[..]);
    }
    let c = &case.conditionals;
    let mut add = |name: HeaderName, value: Option<&'static str>| {
        if let Some(value) = value {
            builder = std::mem::take(&mut builder).header(name, value);
        }
    };
    add(header::IF_RANGE, c.if_range.map(|v| v.0));
    add(header::IF_MATCH, c.if_match.map(|v| v.0));
    add(header::IF_NONE_MATCH, c.if_none_match.map(|v| v.0));
    add(header::IF_MODIFIED_SINCE, c.if_modified_since.map(|v| v.0));
    add(
        header::IF_UNMODIFIED_SINCE,
        c.if_unmodified_since.map(|v| v.0),
    );
    builder.body(()).expect("generated headers are valid")
}

fn decorate<B>(mut response: Response<B>, case: &Case, content_length: bool) -> Response<B> {
    let headers = response.headers_mut();
    headers.insert(header::LAST_MODIFIED, LAST_MODIFIED.parse().unwrap());
    if let Some((etag, _)) = case.meta.etag {
        headers.insert(header::ETAG, etag.parse().unwrap());
    }
    if let Some((date, _)) = case.meta.date {
        headers.insert(header::DATE, date.parse().unwrap());
    }
    if let Some(content_type) = case.meta.content_type {
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    }
    if content_length {
        headers.insert(header::CONTENT_LENGTH, case.entity.len().into());
    }
    response
}

fn buffered(case: &Case) -> Response<Full<Bytes>> {
    decorate(
        Response::new(Full::new(case.entity.bytes.clone())),
        case,
        false,
    )
}

#[cfg(feature = "tokio")]
fn seekable(case: &Case) -> Response<SourceBody> {
    let reader = Cursor::new(case.entity.to_vec());
    let source = ReaderSource::new(reader, case.entity.len() as u64);
    decorate(RangeSource::new(source).into_response(), case, false)
}

/// Without the `tokio` feature there is no ready source: the hook itself
/// still works, with a source of the test's own.
#[cfg(not(feature = "tokio"))]
fn seekable(case: &Case) -> Response<SourceBody> {
    use std::task::{Context, Poll};
    use tower_range::source::{SeekableSource, SourceReader};

    struct Memory(Bytes);
    impl SeekableSource for Memory {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn open(&self) -> io::Result<Box<dyn SourceReader>> {
            Ok(Box::new(Memory(self.0.clone())))
        }
    }
    impl SourceReader for Memory {
        fn poll_read_at(
            &mut self,
            _: &mut Context<'_>,
            offset: u64,
            max: usize,
        ) -> Poll<io::Result<Bytes>> {
            let start = (offset as usize).min(self.0.len());
            let end = start.saturating_add(max.min(4096)).min(self.0.len());
            Poll::Ready(Ok(self.0.slice(start..end)))
        }
    }
    let source = Memory(case.entity.bytes.clone());
    decorate(RangeSource::new(source).into_response(), case, false)
}

type Chunked =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, io::Error>>>>;

fn streamed(case: &Case, content_length: bool) -> Response<Chunked> {
    let mut at = 0;
    let frames: Vec<Result<Frame<Bytes>, io::Error>> = case
        .chunks
        .iter()
        .map(|&size| {
            let chunk = case.entity.slice(at..at + size);
            at += size;
            Ok(Frame::data(chunk))
        })
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames));
    decorate(Response::new(body), case, content_length)
}

struct Seen {
    status: StatusCode,
    headers: HeaderMap,
    /// The body's size hint before the first frame: servers frame a body by
    /// it when there is no Content-Length.
    hint: http_body::SizeHint,
    body: Bytes,
}

async fn call<B>(
    layer: RangeLayer,
    request: Request<()>,
    response: Response<B>,
) -> Result<Seen, BoxError>
where
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let mut slot = Some(response);
    let inner = tower::service_fn(move |_request: Request<()>| {
        let response = slot.take().expect("the service is called once");
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let response = layer.layer(inner).oneshot(request).await?;
    let (head, body) = response.into_parts();
    let hint = body.size_hint();
    let body = body.collect().await?.to_bytes();
    Ok(Seen {
        status: head.status,
        headers: head.headers,
        hint,
        body,
    })
}

// ---------------------------------------------------------------------------
// Reading a response back, strictly.

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("<non-ASCII>"))
}

/// `bytes a-b/L`, digits only.
fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    Some((number(first)?, number(last)?, number(total)?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A strict `multipart/byteranges` reader: `\r\n--B\r\n`, the part's
/// headers (`Content-Type` when the representation has one, then
/// `Content-Range`), a blank line, exactly the announced bytes, ... and
/// `\r\n--B--\r\n` with nothing after it.
fn parse_multipart(
    body: &[u8],
    boundary: &str,
    len: u64,
    content_type: Option<&str>,
) -> Result<Vec<(u64, u64, Bytes)>, String> {
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body;
    let mut parts = Vec::new();
    loop {
        rest = rest
            .strip_prefix(delimiter.as_bytes())
            .ok_or_else(|| format!("no delimiter after part {}", parts.len()))?;
        if let Some(after) = rest.strip_prefix(b"--\r\n") {
            if !after.is_empty() {
                return Err(format!("{} bytes after the closing delimiter", after.len()));
            }
            break;
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("the delimiter line does not end with CRLF")?;
        let end = find(rest, b"\r\n\r\n").ok_or("a part header does not end")?;
        let head = std::str::from_utf8(&rest[..end]).map_err(|_| "non-UTF-8 part header")?;
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        if let Some(content_type) = content_type {
            let line = lines.next().unwrap_or_default();
            if line != format!("Content-Type: {content_type}") {
                return Err(format!("expected the Content-Type line, got {line:?}"));
            }
        }
        let line = lines.next().unwrap_or_default();
        let value = line
            .strip_prefix("Content-Range: ")
            .ok_or_else(|| format!("expected the Content-Range line, got {line:?}"))?;
        if let Some(extra) = lines.next() {
            return Err(format!("unexpected part header line {extra:?}"));
        }
        let (first, last, total) = parse_content_range(value)
            .ok_or_else(|| format!("bad part Content-Range {value:?}"))?;
        if total != len || first > last || last >= len {
            return Err(format!("part range {value:?} is not inside {len} bytes"));
        }
        let size = usize::try_from(last - first + 1).map_err(|_| "huge part")?;
        if rest.len() < size {
            return Err(format!("part {value:?} is cut short"));
        }
        parts.push((first, last, Bytes::copy_from_slice(&rest[..size])));
        rest = &rest[size..];
    }
    if parts.len() < 2 {
        return Err(format!("a multipart body with {} part(s)", parts.len()));
    }
    Ok(parts)
}

/// Checks what holds for every response, whatever the model says, and
/// reads the response back as an outcome.
fn observe(case: &Case, seen: &Seen) -> Result<Outcome, TestCaseError> {
    let len = case.entity.len() as u64;
    let headers = &seen.headers;
    let status = seen.status.as_u16();
    prop_assert!(
        matches!(status, 200 | 206 | 304 | 412 | 416),
        "unexpected status {}",
        status
    );
    if let Some(value) = header_str(headers, &header::CONTENT_LENGTH) {
        prop_assert_eq!(
            value.parse::<u64>().ok(),
            Some(seen.body.len() as u64),
            "Content-Length vs the body"
        );
    } else {
        prop_assert!(
            !matches!(status, 206 | 412 | 416),
            "a {} without Content-Length",
            status
        );
    }
    let sent = seen.body.len() as u64;
    prop_assert!(
        seen.hint.lower() <= sent && seen.hint.upper().is_none_or(|upper| sent <= upper),
        "size hint {:?} for a body of {} bytes",
        seen.hint,
        sent
    );
    if status != 206 && status != 416 {
        prop_assert!(
            !headers.contains_key(header::CONTENT_RANGE),
            "a {} with Content-Range",
            status
        );
    }
    Ok(match status {
        200 => {
            prop_assert!(
                seen.body == case.entity.bytes,
                "a 200 whose body ({} bytes) is not the entity ({} bytes)",
                seen.body.len(),
                len
            );
            Outcome::Full
        }
        304 => {
            prop_assert!(seen.body.is_empty(), "a 304 with a body");
            prop_assert_eq!(
                header_str(headers, &header::ETAG),
                case.meta.etag.map(|e| e.0),
                "a 304 keeps the ETag"
            );
            Outcome::NotModified
        }
        412 => {
            prop_assert!(seen.body.is_empty(), "a 412 with a body");
            Outcome::PreconditionFailed
        }
        416 => {
            let expected = format!("bytes */{len}");
            prop_assert_eq!(
                header_str(headers, &header::CONTENT_RANGE),
                Some(expected.as_str())
            );
            prop_assert!(seen.body.is_empty(), "a 416 with a body");
            prop_assert!(
                !headers.contains_key(header::CONTENT_TYPE),
                "a 416 with the representation's Content-Type"
            );
            Outcome::Unsatisfiable
        }
        _ => observe_partial(case, seen)?,
    })
}

fn observe_partial(case: &Case, seen: &Seen) -> Result<Outcome, TestCaseError> {
    let len = case.entity.len() as u64;
    let headers = &seen.headers;
    prop_assert_eq!(header_str(headers, &header::ACCEPT_RANGES), Some("bytes"));
    let content_type = header_str(headers, &header::CONTENT_TYPE);
    if let Some(boundary) =
        content_type.and_then(|v| v.strip_prefix("multipart/byteranges; boundary="))
    {
        prop_assert!(
            !headers.contains_key(header::CONTENT_RANGE),
            "a multipart 206 with a top-level Content-Range"
        );
        prop_assert!(
            !boundary.is_empty()
                && boundary.len() <= 70
                && boundary.bytes().all(|b| b.is_ascii_alphanumeric()),
            "boundary {:?}",
            boundary
        );
        prop_assert_eq!(
            boundary.len(),
            MODEL_BOUNDARY_LEN,
            "the model sizes multipart bodies with this boundary length"
        );
        prop_assert!(
            seen.body.len() as u64 <= len + case.cfg.slack,
            "a multipart body of {} bytes for {} bytes and a slack of {}",
            seen.body.len(),
            len,
            case.cfg.slack
        );
        let parts = parse_multipart(&seen.body, boundary, len, case.meta.content_type)
            .map_err(TestCaseError::fail)?;
        let mut sorted: Vec<(u64, u64)> = Vec::new();
        for (first, last, data) in &parts {
            prop_assert!(
                *data == case.entity.slice(*first as usize..=*last as usize),
                "part {}-{} holds other bytes",
                first,
                last
            );
            sorted.push((*first, *last));
        }
        sorted.sort();
        prop_assert!(
            sorted.windows(2).all(|w| w[0].1 < w[1].0),
            "overlapping parts {:?}",
            sorted
        );
        return Ok(Outcome::Multi(
            parts
                .iter()
                .map(|(first, last, _)| (*first, *last))
                .collect(),
        ));
    }
    prop_assert_eq!(
        content_type,
        case.meta.content_type,
        "a 206 keeps Content-Type"
    );
    let value = header_str(headers, &header::CONTENT_RANGE).unwrap_or_default();
    let Some((first, last, total)) = parse_content_range(value) else {
        return Err(TestCaseError::fail(format!(
            "206 with Content-Range {value:?}"
        )));
    };
    prop_assert!(
        total == len && first <= last && last < len,
        "Content-Range {:?} for {} bytes",
        value,
        len
    );
    prop_assert!(
        seen.body == case.entity.slice(first as usize..=last as usize),
        "the body is not bytes {}-{} of the entity",
        first,
        last
    );
    Ok(Outcome::Single(first, last))
}

async fn exercise<B>(
    case: &Case,
    kind: &str,
    layer: RangeLayer,
    response: Response<B>,
    body: BodyModel<'_>,
) -> Result<(), TestCaseError>
where
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let kind = format!(
        "{kind}; slack {}, small limit {}",
        case.cfg.slack, case.cfg.small_limit
    );
    let context = |e: TestCaseError| TestCaseError::fail(format!("[{kind}] {e}"));
    let seen = call(layer, request(case), response)
        .await
        .map_err(|e| TestCaseError::fail(format!("[{kind}] the call or the body failed: {e}")))?;
    let observed = observe(case, &seen).map_err(context)?;
    let expected = model(case, body);
    prop_assert_eq!(
        observed,
        expected,
        "[{}] the layer and the model disagree",
        kind
    );
    Ok(())
}

/// Applies `tight_slack` and `limit_at_chunk`.
fn settle(case: &Case) -> Case {
    let mut case = case.clone();
    let len = case.entity.len() as u64;
    if let Some(delta) = case.cfg.tight_slack {
        let mut unlimited = case.clone();
        unlimited.cfg.slack = u64::MAX / 4;
        if let Outcome::Multi(ranges) = model(&unlimited, BodyModel::Seekable) {
            let needed = multipart_len(&ranges, len, case.meta.content_type).saturating_sub(len);
            case.cfg.slack = needed.saturating_add_signed(i64::from(delta));
        }
    }
    if let Some((index, delta)) = case.cfg.limit_at_chunk {
        let ends: Vec<usize> = std::iter::once(0)
            .chain(case.chunks.iter().scan(0, |end, size| {
                *end += size;
                Some(*end)
            }))
            .collect();
        let end = ends[index.index(ends.len())];
        case.cfg.small_limit = end.saturating_add_signed(isize::from(delta));
    }
    case
}

async fn check_case(case: &Case) -> Result<(), TestCaseError> {
    let limit = case.cfg.small_limit;
    let normal = case.cfg.layer(DEFAULT_LIMIT);
    let small = case.cfg.layer(limit);
    let whole = [case.entity.len()];
    exercise(
        case,
        "buffered",
        normal,
        buffered(case),
        forward(DEFAULT_LIMIT, &whole[..]),
    )
    .await?;
    exercise(
        case,
        "buffered, small limit",
        small,
        buffered(case),
        forward(limit, &whole[..]),
    )
    .await?;
    exercise(case, "source", normal, seekable(case), BodyModel::Seekable).await?;
    exercise(
        case,
        "source, small limit",
        small,
        seekable(case),
        BodyModel::Seekable,
    )
    .await?;
    exercise(
        case,
        "stream with Content-Length",
        normal,
        streamed(case, true),
        forward(DEFAULT_LIMIT, &case.chunks),
    )
    .await?;
    exercise(
        case,
        "stream with Content-Length, small limit",
        small,
        streamed(case, true),
        forward(limit, &case.chunks),
    )
    .await?;
    exercise(
        case,
        "stream without Content-Length",
        normal,
        streamed(case, false),
        BodyModel::Unknown {
            limit: DEFAULT_LIMIT,
        },
    )
    .await?;
    exercise(
        case,
        "stream without Content-Length, small limit",
        small,
        streamed(case, false),
        BodyModel::Unknown { limit },
    )
    .await
}

fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Full => "200",
        Outcome::NotModified => "304",
        Outcome::PreconditionFailed => "412",
        Outcome::Unsatisfiable => "416",
        Outcome::Single(..) => "206 single",
        Outcome::Multi(ranges) if ranges.windows(2).all(|w| w[0].1 < w[1].0) => {
            "206 multipart, in order"
        }
        Outcome::Multi(_) => "206 multipart, out of order",
    }
}

fn run(name: &str, strategy: impl Strategy<Value = Case>, required: &[&str]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // PROPTEST_CASES overrides the count, for a longer hunt.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<&str, u32>::new());
    let result = runner.run(&strategy, |case| {
        let case = settle(&case);
        *seen
            .borrow_mut()
            .entry(kind(&model(&case, BodyModel::Seekable)))
            .or_default() += 1;
        runtime.block_on(check_case(&case))
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    // The generators must keep reaching the outcomes the property is about.
    let seen = seen.into_inner();
    eprintln!("{name}: outcomes (source kind) {seen:?}");
    for outcome in required.iter().filter(|_| cases >= CASES) {
        assert!(
            seen.contains_key(outcome),
            "{name}: no case led to {outcome} in {cases} cases: {seen:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// The properties.

#[test]
fn valid_ranges_agree_with_the_model() {
    run(
        "valid ranges",
        case(
            |len| lines(move || valid_or_fitted(len)),
            Just(Conditionals::default()),
            any_cfg(),
        ),
        &[
            "200",
            "416",
            "206 single",
            "206 multipart, in order",
            "206 multipart, out of order",
        ],
    );
}

#[test]
fn invalid_ranges_agree_with_the_model() {
    run(
        "invalid ranges",
        case(
            |_| lines(invalid_range),
            Just(Conditionals::default()),
            any_cfg(),
        ),
        &["200"],
    );
}

#[test]
fn conditional_requests_agree_with_the_model() {
    let range =
        |len: u64| lines(move || prop_oneof![3 => valid_or_fitted(len), 1 => invalid_range()]);
    run(
        "conditional requests",
        case(range, conditionals(), any_cfg()),
        &["200", "304", "412", "206 single"],
    );
}

#[test]
fn the_range_count_cap_agrees_with_the_model() {
    run(
        "range count cap",
        case(
            |_| lines(many_ranges),
            Just(Conditionals::default()),
            cap_cfg(),
        ),
        &["200", "206 multipart, in order"],
    );
}

// ---------------------------------------------------------------------------
// The model itself, on a few hand-checked cases.

#[test]
fn the_model_on_known_cases() {
    let cfg = Cfg {
        max_ranges: 100,
        slack: 1024,
        merge_gap: 0,
        preconditions: true,
        small_limit: 0,
        tight_slack: None,
        limit_at_chunk: None,
    };
    let resolve = |header: &str, len: u64| match parse_model(header.as_bytes(), 100) {
        Some(specs) => resolve_model(&specs, len, &cfg, None),
        None => Outcome::Full,
    };
    assert_eq!(resolve("bytes=0-4", 100), Outcome::Single(0, 4));
    assert_eq!(resolve("bytes=-10", 100), Outcome::Single(90, 99));
    assert_eq!(resolve("bytes=90-", 100), Outcome::Single(90, 99));
    assert_eq!(resolve("bytes=50-1000", 100), Outcome::Single(50, 99));
    assert_eq!(resolve("bytes=100-", 100), Outcome::Unsatisfiable);
    assert_eq!(resolve("bytes=-0", 100), Outcome::Unsatisfiable);
    assert_eq!(resolve("bytes=5-1", 100), Outcome::Full);
    assert_eq!(resolve("items=0-1", 100), Outcome::Full);
    assert_eq!(resolve("bytes=0-4,5-9", 100), Outcome::Single(0, 9));
    assert_eq!(
        resolve("bytes=0-4,,6-9", 100),
        Outcome::Multi(vec![(0, 4), (6, 9)])
    );
    assert_eq!(
        resolve("bytes=50-59, 0-9, 55-70", 100),
        Outcome::Multi(vec![(50, 70), (0, 9)])
    );
    assert_eq!(
        resolve("bytes=80-89,0-9,85-95,20-29", 100),
        Outcome::Multi(vec![(80, 95), (0, 9), (20, 29)])
    );
    assert_eq!(
        resolve("bytes=99999999999999999999-,0-0", 10),
        Outcome::Single(0, 0)
    );
    assert_eq!(
        multipart_len(&[(0, 4), (6, 9)], 100, Some("text/plain")),
        // 2 × (CRLF "--" B CRLF "Content-Type: text/plain" CRLF
        //      "Content-Range: bytes a-b/100" CRLF CRLF) + data + closing
        2 * (4 + 32 + 2 + 26 + 21 + 3 + 1 + 3 + 4) + 5 + 4 + (4 + 32 + 4)
    );
}
