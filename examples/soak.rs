//! A load client for the soak test: many random range requests against the
//! demo server (`examples/serve.rs`), every response verified.
//!
//! ```text
//! cargo run --release --example soak -- --addr 127.0.0.1:3000 --dir DIR \
//!     [--requests 200000] [--connections 64] [--seed N] [--http2] \
//!     [--server-pid PID --rss-csv FILE]
//! ```
//!
//! `DIR` is the directory the server serves: the client reads every file in
//! it, asks the server for each file's validators (`HEAD` on `/file/`,
//! `/bytes/` and `/stream/`, which must agree), then sends `--requests`
//! random requests over `--connections` keep-alive connections (HTTP/1.1,
//! or h2c with `--http2`). Requests are `GET` (a few `HEAD`) of a random
//! file and route with a random `Range` (none, single, suffix, open,
//! multi-range of 2 to 5 specs that sometimes overlap or touch, ranges
//! partly or wholly past the end, invalid syntax, two `Range` lines) and a
//! random `If-Range` (none, the right `ETag`, a wrong one, the weak form of
//! the right one, the exact `Last-Modified`, another date).
//!
//! Each response is checked against [`Expected`], computed by a small model
//! written here from RFC 9110 and the crate's documented policy, not by the
//! crate's own planning code. Requests whose answer would carry more than
//! 1 MiB are mostly drawn again, so the run measures requests rather than
//! memory bandwidth. With `--server-pid` it samples the server's `VmRSS`
//! every second into `--rss-csv` (`seconds,requests_done,rss_kib`).
//!
//! It prints requests, responses by status, verification errors (the first
//! few in full), requests per second and, with sampling, the RSS figures.
//! The exit status is non-zero when any response failed verification.
//!
//! `scripts/soak.sh` builds and runs all of it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// The routes of the demo server, and whether the layer can seek in them.
const ROUTES: [(&str, bool); 3] = [("file", true), ("bytes", false), ("stream", false)];

/// The layer's documented defaults this model relies on.
const BUFFER_LIMIT: u64 = 1024 * 1024;
const MULTIPART_SLACK: u64 = 1024;
/// The length of the boundaries the crate generates (RFC 2046 allows 1 to
/// 70 characters; the crate always uses 32).
const BOUNDARY_LEN: usize = 32;

/// Answers bigger than this are mostly drawn again ([`KEEP_BIG_PERMILLE`]).
const BIG_ANSWER: u64 = 1024 * 1024;
const KEEP_BIG_PERMILLE: u64 = 15;

/// How many failed verifications are printed in full.
const SHOW_ERRORS: usize = 20;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

struct Args {
    addr: SocketAddr,
    dir: PathBuf,
    requests: u64,
    connections: usize,
    seed: u64,
    http2: bool,
    server_pid: Option<u32>,
    rss_csv: Option<PathBuf>,
}

const USAGE: &str = "\
Usage: soak --addr ADDR --dir DIR [--requests N] [--connections N] [--seed N]
            [--http2] [--server-pid PID --rss-csv FILE]";

fn parse_args() -> Result<Args, String> {
    let mut addr = None;
    let mut dir = None;
    let mut requests = 200_000;
    let mut connections = 64;
    let mut seed = 1;
    let mut http2 = false;
    let mut server_pid = None;
    let mut rss_csv = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--addr" => {
                addr = Some(
                    value("--addr")?
                        .parse()
                        .map_err(|e| format!("--addr: {e}"))?,
                )
            }
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--requests" => requests = number(&value("--requests")?)?,
            "--connections" => connections = number(&value("--connections")?)? as usize,
            "--seed" => seed = number(&value("--seed")?)?,
            "--http2" => http2 = true,
            "--server-pid" => server_pid = Some(number(&value("--server-pid")?)? as u32),
            "--rss-csv" => rss_csv = Some(PathBuf::from(value("--rss-csv")?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    Ok(Args {
        addr: addr.ok_or("--addr is required")?,
        dir: dir.ok_or("--dir is required")?,
        requests,
        connections,
        seed,
        http2,
        server_pid,
        rss_csv,
    })
}

fn number(text: &str) -> Result<u64, String> {
    text.parse().map_err(|e| format!("`{text}`: {e}"))
}

// ---------------------------------------------------------------------------
// Random numbers: splitmix64, one stream per request index
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    /// The generator of request `index` of a run with `seed`: any failing
    /// request can be drawn again from the two numbers.
    fn for_request(seed: u64, index: u64) -> Rng {
        let mut rng = Rng(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn permille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }

    /// An index drawn by weight.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut pick = self.below(weights.iter().sum());
        for (i, weight) in weights.iter().enumerate() {
            if pick < *weight {
                return i;
            }
            pick -= weight;
        }
        weights.len() - 1
    }

    /// A range length for a representation of `len > 0` bytes: mostly small
    /// (log-uniform up to 64 KiB), sometimes up to the whole length.
    fn range_len(&mut self, len: u64) -> u64 {
        let cap = if self.permille(20) {
            len
        } else {
            len.min(64 * 1024)
        };
        let bits = 64 - cap.leading_zeros() as u64;
        let top = 1u64 << self.below(bits);
        self.between(1, top.min(cap))
    }
}

// ---------------------------------------------------------------------------
// The files and their validators
// ---------------------------------------------------------------------------

/// One file as the server represents it.
struct Representation {
    name: String,
    content: Bytes,
    etag: String,
    last_modified: String,
    content_type: String,
}

impl Representation {
    fn len(&self) -> u64 {
        self.content.len() as u64
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// One spec of a range set, as sent.
#[derive(Clone, Copy, Debug)]
enum Spec {
    /// `first-last`
    Closed(u64, u64),
    /// `first-`
    Open(u64),
    /// `-suffix`
    Suffix(u64),
}

impl Spec {
    fn text(self) -> String {
        match self {
            Spec::Closed(first, last) => format!("{first}-{last}"),
            Spec::Open(first) => format!("{first}-"),
            Spec::Suffix(len) => format!("-{len}"),
        }
    }

    /// The bytes this spec selects in a representation of `len` bytes
    /// (RFC 9110 §14.1.2), or `None` when it is unsatisfiable.
    fn resolve(self, len: u64) -> Option<(u64, u64)> {
        match self {
            Spec::Closed(first, last) => (first < len).then(|| (first, last.min(len - 1))),
            Spec::Open(first) => (first < len).then(|| (first, len - 1)),
            Spec::Suffix(suffix) => {
                (suffix > 0 && len > 0).then(|| (len - suffix.min(len), len - 1))
            }
        }
    }
}

/// The `Range` of a request.
#[derive(Clone, Debug)]
enum RangeHeader {
    None,
    /// A valid `bytes=` set.
    Set(Vec<Spec>),
    /// Invalid: ignored by the server (one or two header lines).
    Invalid(Vec<&'static str>),
}

const INVALID_RANGES: &[&str] = &[
    "bytes=5-1",
    "bytes=abc",
    "items=0-5",
    "bytes=",
    "bytes 0-5",
    "bytes=-",
    "bytes=1-2-3",
    "bytes=0x10-20",
    "bytes=0-1,abc",
    "bytes=--5",
];

/// The `If-Range` of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IfRange {
    None,
    RightEtag,
    WrongEtag,
    WeakEtag,
    /// The exact `Last-Modified`.
    Date,
    /// An hour after the `Last-Modified`.
    OtherDate,
}

struct Plan {
    file: usize,
    route: usize,
    head: bool,
    range: RangeHeader,
    if_range: IfRange,
}

fn draw(rng: &mut Rng, files: &[Representation], weights: &[u64]) -> Plan {
    let file = rng.weighted(weights);
    let len = files[file].len();
    let route = rng.below(ROUTES.len() as u64) as usize;
    let head = rng.permille(40);
    let range = match rng.weighted(&[8, 30, 10, 8, 25, 7, 7]) {
        0 => RangeHeader::None,
        1 => RangeHeader::Set(vec![closed(rng, len)]),
        2 => RangeHeader::Set(vec![Spec::Suffix(rng.range_len(len.max(1)))]),
        3 => RangeHeader::Set(vec![Spec::Open(
            len.saturating_sub(rng.range_len(len.max(1))),
        )]),
        4 => RangeHeader::Set(multi(rng, len)),
        5 => RangeHeader::Set(unsatisfiable(rng, len)),
        _ => {
            let one = INVALID_RANGES[rng.below(INVALID_RANGES.len() as u64) as usize];
            if rng.permille(150) {
                // Two Range lines, each valid alone: the request is invalid.
                RangeHeader::Invalid(vec!["bytes=0-0", "bytes=1-1"])
            } else {
                RangeHeader::Invalid(vec![one])
            }
        }
    };
    let if_range = match rng.weighted(&[60, 15, 7, 6, 8, 4]) {
        0 => IfRange::None,
        1 => IfRange::RightEtag,
        2 => IfRange::WrongEtag,
        3 => IfRange::WeakEtag,
        4 => IfRange::Date,
        _ => IfRange::OtherDate,
    };
    Plan {
        file,
        route,
        head,
        range,
        if_range,
    }
}

/// `first-last` inside the representation (or `0-N` for an empty one).
fn closed(rng: &mut Rng, len: u64) -> Spec {
    if len == 0 {
        return Spec::Closed(0, rng.below(100));
    }
    let size = rng.range_len(len);
    let first = rng.below(len - size + 1);
    let mut last = first + size - 1;
    if rng.permille(50) {
        last += rng.below(1000); // past the end: clamped
    }
    Spec::Closed(first, last)
}

/// 2 to 5 specs, sometimes overlapping or touching the one before, of all
/// three forms, now and then one past the end.
fn multi(rng: &mut Rng, len: u64) -> Vec<Spec> {
    let count = rng.between(2, 5);
    let mut specs: Vec<Spec> = Vec::new();
    for _ in 0..count {
        let previous = specs.last().and_then(|spec| spec.resolve(len));
        let spec = match (rng.weighted(&[50, 25, 10, 8, 7]), previous) {
            // Overlapping the previous one.
            (1, Some((first, last))) => {
                let start = rng.between(first, last);
                Spec::Closed(start, start + rng.range_len(len) - 1)
            }
            // Touching it: adjacent.
            (2, Some((_, last))) if last + 1 < len => {
                Spec::Closed(last + 1, last + rng.range_len(len))
            }
            (3, _) => Spec::Suffix(rng.range_len(len.max(1))),
            (4, _) => Spec::Closed(len + rng.below(100), len + 200),
            _ => closed(rng, len),
        };
        specs.push(spec);
    }
    specs
}

/// Only specs that select nothing.
fn unsatisfiable(rng: &mut Rng, len: u64) -> Vec<Spec> {
    (0..rng.between(1, 3))
        .map(|_| match rng.below(3) {
            0 => Spec::Open(len + rng.below(10)),
            1 => Spec::Closed(len + rng.below(1000), len + 1000 + rng.below(1000)),
            _ => Spec::Suffix(0),
        })
        .collect()
}

fn build_request(
    plan: &Plan,
    rep: &Representation,
    addr: SocketAddr,
    http2: bool,
) -> Request<Empty<Bytes>> {
    let path = format!("/{}/{}", ROUTES[plan.route].0, rep.name);
    let uri = if http2 {
        format!("http://{addr}{path}")
    } else {
        path
    };
    let method = if plan.head { Method::HEAD } else { Method::GET };
    let mut request = Request::builder().method(method).uri(uri);
    if !http2 {
        request = request.header(header::HOST, addr.to_string());
    }
    match &plan.range {
        RangeHeader::None => {}
        RangeHeader::Set(specs) => {
            let set: Vec<String> = specs.iter().map(|spec| spec.text()).collect();
            request = request.header(header::RANGE, format!("bytes={}", set.join(",")));
        }
        RangeHeader::Invalid(lines) => {
            for line in lines {
                request = request.header(header::RANGE, *line);
            }
        }
    }
    let if_range = match plan.if_range {
        IfRange::None => None,
        IfRange::RightEtag => Some(rep.etag.clone()),
        IfRange::WrongEtag => Some("\"not-the-etag\"".to_owned()),
        IfRange::WeakEtag => Some(format!("W/{}", rep.etag)),
        IfRange::Date => Some(rep.last_modified.clone()),
        IfRange::OtherDate => {
            let date =
                httpdate::parse_http_date(&rep.last_modified).unwrap_or(SystemTime::UNIX_EPOCH);
            Some(httpdate::fmt_http_date(date + Duration::from_secs(3600)))
        }
    };
    if let Some(value) = if_range {
        request = request.header(header::IF_RANGE, value);
    }
    request.body(Empty::new()).expect("a valid request")
}

// ---------------------------------------------------------------------------
// The model: what the server must answer
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    /// `200` with the whole representation.
    Full,
    /// `206` of these ranges, in this order: one range alone, more as
    /// `multipart/byteranges`.
    Partial(Vec<(u64, u64)>),
    /// `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// What RFC 9110 §13.2.2 and §14 and the layer's documented policy make of
/// a request. `date` is the response's `Date`, which decides whether a
/// `Last-Modified` is a strong validator (at least a second older).
fn expect(plan: &Plan, rep: &Representation, date: Option<SystemTime>) -> Expected {
    let specs = match &plan.range {
        RangeHeader::None | RangeHeader::Invalid(_) => return Expected::Full,
        RangeHeader::Set(specs) => specs,
    };
    let if_range_holds = match plan.if_range {
        IfRange::None | IfRange::RightEtag => true,
        IfRange::WrongEtag | IfRange::WeakEtag | IfRange::OtherDate => false,
        IfRange::Date => {
            let modified = httpdate::parse_http_date(&rep.last_modified).ok();
            match (modified, date) {
                (Some(modified), Some(date)) => modified + Duration::from_secs(1) <= date,
                _ => false,
            }
        }
    };
    if !if_range_holds {
        return Expected::Full;
    }
    let len = rep.len();
    if len == 0 {
        // No range of an empty representation exists: the 200.
        return Expected::Full;
    }
    // Satisfiable ranges with the position of their spec in the request.
    let mut ranges: Vec<(u64, u64, usize)> = specs
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| spec.resolve(len).map(|(first, last)| (first, last, i)))
        .collect();
    if ranges.is_empty() {
        return Expected::Unsatisfiable;
    }
    // Overlapping and adjacent ranges merge; a merged range takes the place
    // of its earliest member in the request.
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64, usize)> = Vec::new();
    for (first, last, position) in ranges {
        match merged.last_mut() {
            Some(current) if first <= current.1.saturating_add(1) => {
                current.1 = current.1.max(last);
                current.2 = current.2.min(position);
            }
            _ => merged.push((first, last, position)),
        }
    }
    merged.sort_unstable_by_key(|&(_, _, position)| position);
    let parts: Vec<(u64, u64)> = merged
        .iter()
        .map(|&(first, last, _)| (first, last))
        .collect();
    if parts.len() > 1 {
        // Forward-only bodies hold every byte up to the furthest one back
        // for out-of-order parts: past the buffer limit, the 200.
        let seekable = ROUTES[plan.route].1;
        let ascending = parts.windows(2).all(|w| w[0].1 < w[1].0);
        let furthest = parts.iter().map(|&(_, last)| last + 1).max().unwrap_or(0);
        if !seekable && !ascending && furthest > BUFFER_LIMIT {
            return Expected::Full;
        }
        // A multipart larger than the representation plus the slack is
        // refused.
        if multipart_len(&parts, rep) > len + MULTIPART_SLACK {
            return Expected::Full;
        }
    }
    Expected::Partial(parts)
}

/// The exact length of the multipart body: per part `\r\n--B\r\n`,
/// `Content-Type: T\r\n`, `Content-Range: bytes a-b/L\r\n`, `\r\n` and the
/// data; then `\r\n--B--\r\n`.
fn multipart_len(parts: &[(u64, u64)], rep: &Representation) -> u64 {
    let closing = 4 + BOUNDARY_LEN as u64 + 4;
    parts.iter().fold(closing, |total, &(first, last)| {
        let content_range = format!("Content-Range: bytes {first}-{last}/{}\r\n", rep.len());
        let head = 4
            + BOUNDARY_LEN
            + 2
            + "Content-Type: ".len()
            + rep.content_type.len()
            + 2
            + content_range.len()
            + 2;
        total + head as u64 + (last - first + 1)
    })
}

/// Bytes a `GET` would receive, framing aside: to keep big answers rare.
fn answer_size(expected: &Expected, rep: &Representation) -> u64 {
    match expected {
        Expected::Full => rep.len(),
        Expected::Partial(parts) => parts.iter().map(|(first, last)| last - first + 1).sum(),
        Expected::Unsatisfiable => 0,
    }
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

fn header_text<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Checks one response against the model; `Err` says what is wrong.
fn verify(
    plan: &Plan,
    rep: &Representation,
    response: &Response<()>,
    body: &[u8],
) -> Result<StatusCode, String> {
    let headers = response.headers();
    let date = header_text(headers, &header::DATE).and_then(|d| httpdate::parse_http_date(d).ok());
    let expected = expect(plan, rep, date);
    let status = response.status();
    let content_length: Option<u64> =
        header_text(headers, &header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
    if !plan.head && content_length.is_some_and(|length| length != body.len() as u64) {
        return Err(format!(
            "Content-Length {content_length:?} but {} bytes received",
            body.len()
        ));
    }
    if plan.head && !body.is_empty() {
        return Err(format!("a HEAD answered with {} body bytes", body.len()));
    }
    let wanted_status = match expected {
        Expected::Full => StatusCode::OK,
        Expected::Partial(_) => StatusCode::PARTIAL_CONTENT,
        Expected::Unsatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
    };
    if status != wanted_status {
        return Err(format!("status {status}, expected {expected:?}"));
    }
    let len = rep.len();
    let content_range = header_text(headers, &header::CONTENT_RANGE);
    let content_type = header_text(headers, &header::CONTENT_TYPE).unwrap_or_default();
    if status != StatusCode::RANGE_NOT_SATISFIABLE {
        let etag = header_text(headers, &header::ETAG);
        if etag != Some(rep.etag.as_str()) {
            return Err(format!("ETag {etag:?}, want {}", rep.etag));
        }
    }
    match expected {
        Expected::Full => {
            if content_range.is_some() {
                return Err(format!("a 200 with Content-Range {content_range:?}"));
            }
            if content_length != Some(len) {
                return Err(format!(
                    "a 200 with Content-Length {content_length:?}, want {len}"
                ));
            }
            // The layer advertises ranges when it knows the length before
            // the body; every route of the demo server says its length.
            if header_text(headers, &header::ACCEPT_RANGES) != Some("bytes") {
                return Err("a 200 without Accept-Ranges: bytes".into());
            }
            if content_type != rep.content_type {
                return Err(format!("Content-Type {content_type}"));
            }
            if !plan.head && body != rep.content.as_ref() {
                return Err("the 200 body differs from the file".into());
            }
        }
        Expected::Unsatisfiable => {
            let want = format!("bytes */{len}");
            if content_range != Some(want.as_str()) {
                return Err(format!(
                    "a 416 with Content-Range {content_range:?}, want {want}"
                ));
            }
            if content_length.is_some_and(|length| length != 0) || !body.is_empty() {
                return Err("a 416 with a body".into());
            }
        }
        Expected::Partial(parts) if parts.len() == 1 => {
            let (first, last) = parts[0];
            let want = format!("bytes {first}-{last}/{len}");
            if content_range != Some(want.as_str()) {
                return Err(format!("Content-Range {content_range:?}, want {want}"));
            }
            if content_length != Some(last - first + 1) {
                return Err(format!("Content-Length {content_length:?} for {want}"));
            }
            if content_type != rep.content_type {
                return Err(format!("Content-Type {content_type}"));
            }
            if !plan.head && body != &rep.content[first as usize..=last as usize] {
                return Err(format!("the bytes of {want} differ from the file"));
            }
        }
        Expected::Partial(parts) => {
            if content_range.is_some() {
                return Err("a multipart with a Content-Range header".into());
            }
            let boundary = content_type
                .strip_prefix("multipart/byteranges; boundary=")
                .ok_or_else(|| format!("Content-Type {content_type}, want multipart/byteranges"))?;
            if boundary.len() != BOUNDARY_LEN {
                return Err(format!(
                    "boundary {boundary:?} is not {BOUNDARY_LEN} characters"
                ));
            }
            let want_len = multipart_len(&parts, rep);
            if content_length != Some(want_len) {
                return Err(format!(
                    "multipart Content-Length {content_length:?}, want {want_len} for {parts:?}"
                ));
            }
            if !plan.head {
                let got = parse_multipart(body, boundary, rep)?;
                if got != parts {
                    return Err(format!("parts {got:?}, want {parts:?}"));
                }
            }
        }
    }
    Ok(status)
}

/// Parses a `multipart/byteranges` body strictly (RFC 2046 §5.1.1, RFC 9110
/// §14.6): an empty preamble, each part's headers (exactly `Content-Type`,
/// the representation's, and `Content-Range`, in either order), its data
/// checked against the file, the close delimiter, an empty epilogue.
/// Returns the ranges of the parts in order.
fn parse_multipart(
    body: &[u8],
    boundary: &str,
    rep: &Representation,
) -> Result<Vec<(u64, u64)>, String> {
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body
        .strip_prefix(delimiter.as_bytes())
        .or_else(|| body.strip_prefix(&delimiter.as_bytes()[2..]))
        .ok_or("the body does not start with the boundary")?;
    let mut parts = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(b"--") {
            if after.is_empty() || after == b"\r\n" {
                return Ok(parts);
            }
            return Err(format!("{} bytes after the close delimiter", after.len()));
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("no CRLF after a boundary")?;
        let mut range = None;
        let mut content_type = None;
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("a part header without CRLF")?;
            let line = std::str::from_utf8(&rest[..end]).map_err(|_| "a part header not UTF-8")?;
            rest = &rest[end + 2..];
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or(format!("part header {line:?}"))?;
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-range" if range.is_none() => {
                    range = Some(parse_content_range(value, rep.len())?)
                }
                "content-type" if content_type.is_none() => content_type = Some(value.to_owned()),
                _ => return Err(format!("unexpected part header {line:?}")),
            }
        }
        let (first, last) = range.ok_or("a part without Content-Range")?;
        if content_type.as_deref() != Some(rep.content_type.as_str()) {
            return Err(format!("part Content-Type {content_type:?}"));
        }
        let size = (last - first + 1) as usize;
        if rest.len() < size {
            return Err("a part shorter than its Content-Range".into());
        }
        if rest[..size] != rep.content[first as usize..=last as usize] {
            return Err(format!(
                "the bytes of part {first}-{last} differ from the file"
            ));
        }
        parts.push((first, last));
        rest = rest[size..]
            .strip_prefix(delimiter.as_bytes())
            .ok_or(format!("no boundary after part {first}-{last}"))?;
    }
}

/// `a-b/len` with `a <= b < len`.
fn parse_content_range(value: &str, len: u64) -> Result<(u64, u64), String> {
    let bad = || format!("part Content-Range {value:?}");
    let spec = value.strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, complete) = spec.split_once('/').ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let first: u64 = first.parse().map_err(|_| bad())?;
    let last: u64 = last.parse().map_err(|_| bad())?;
    if complete != len.to_string() || first > last || last >= len {
        return Err(bad());
    }
    Ok((first, last))
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

enum Connection {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Connection {
    async fn open(addr: SocketAddr, http2: bool) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        if http2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(connection);
            Ok(Connection::Http2(sender))
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(connection);
            Ok(Connection::Http1(sender))
        }
    }

    async fn send(
        &mut self,
        request: Request<Empty<Bytes>>,
    ) -> Result<(Response<()>, Bytes), String> {
        let response: Response<Incoming> = match self {
            Connection::Http1(sender) => {
                sender
                    .ready()
                    .await
                    .map_err(|e| format!("connection: {e}"))?;
                sender.send_request(request).await
            }
            Connection::Http2(sender) => {
                sender
                    .ready()
                    .await
                    .map_err(|e| format!("connection: {e}"))?;
                sender.send_request(request).await
            }
        }
        .map_err(|e| format!("request: {e}"))?;
        let (head, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((Response::from_parts(head, ()), body))
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    shown: Vec<String>,
    bytes: u64,
}

struct Shared {
    files: Vec<Representation>,
    weights: Vec<u64>,
    addr: SocketAddr,
    seed: u64,
    requests: u64,
    http2: bool,
    next: AtomicU64,
    done: AtomicU64,
    tally: Mutex<Tally>,
}

/// One connection's worth of the run: takes request indices until none are
/// left; a failed connection is counted as an error and opened again.
async fn worker(shared: Arc<Shared>) {
    let mut connection = None;
    let mut local = Tally::default();
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= shared.requests {
            break;
        }
        let mut rng = Rng::for_request(shared.seed, index);
        let plan = loop {
            let plan = draw(&mut rng, &shared.files, &shared.weights);
            let rep = &shared.files[plan.file];
            let size = answer_size(&expect(&plan, rep, Some(SystemTime::now())), rep);
            if plan.head || size <= BIG_ANSWER || rng.permille(KEEP_BIG_PERMILLE) {
                break plan;
            }
        };
        let rep = &shared.files[plan.file];
        let request = build_request(&plan, rep, shared.addr, shared.http2);
        let describe = |request: &Request<Empty<Bytes>>| {
            let mut text = format!("#{index} {} {}", request.method(), request.uri());
            for name in [header::RANGE, header::IF_RANGE] {
                for value in request.headers().get_all(&name) {
                    let _ = write!(text, " [{name}: {}]", value.to_str().unwrap_or("?"));
                }
            }
            text
        };
        let description = describe(&request);
        let outcome = match connection.as_mut() {
            Some(open) => Ok(open),
            None => Connection::open(shared.addr, shared.http2)
                .await
                .map(|open| connection.insert(open)),
        };
        let result = match outcome {
            Ok(open) => open.send(request).await,
            Err(error) => Err(error),
        };
        let verdict = match result {
            Ok((response, body)) => {
                local.bytes += body.len() as u64;
                verify(&plan, rep, &response, &body)
            }
            Err(error) => {
                connection = None;
                Err(error)
            }
        };
        match verdict {
            Ok(status) => *local.statuses.entry(status.as_u16()).or_default() += 1,
            Err(error) => {
                local.errors += 1;
                if local.shown.len() < SHOW_ERRORS {
                    local.shown.push(format!("{description}: {error}"));
                }
            }
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    let mut tally = shared
        .tally
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (status, count) in local.statuses {
        *tally.statuses.entry(status).or_default() += count;
    }
    tally.errors += local.errors;
    tally.bytes += local.bytes;
    tally.shown.extend(local.shown);
}

/// Reads the files of `dir` and asks the server for their validators.
async fn load(args: &Args) -> Result<(Vec<Representation>, Vec<u64>), String> {
    let mut names: Vec<String> = std::fs::read_dir(&args.dir)
        .map_err(|e| format!("{}: {e}", args.dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no files in {}", args.dir.display()));
    }
    let mut connection = Connection::open(args.addr, args.http2).await?;
    let mut files = Vec::new();
    for name in names {
        let content =
            Bytes::from(std::fs::read(args.dir.join(&name)).map_err(|e| format!("{name}: {e}"))?);
        let mut seen: Option<(String, String, String)> = None;
        for (route, _) in ROUTES {
            let path = format!("/{route}/{name}");
            let uri = if args.http2 {
                format!("http://{}{path}", args.addr)
            } else {
                path.clone()
            };
            let request = Request::head(uri)
                .header(header::HOST, args.addr.to_string())
                .body(Empty::new())
                .map_err(|e| e.to_string())?;
            let (response, _) = connection.send(request).await?;
            let headers = response.headers();
            let get = |name| header_text(headers, &name).unwrap_or_default().to_owned();
            if response.status() != StatusCode::OK
                || get(header::CONTENT_LENGTH) != content.len().to_string()
            {
                return Err(format!("HEAD {path}: {} {headers:?}", response.status()));
            }
            let validators = (
                get(header::ETAG),
                get(header::LAST_MODIFIED),
                get(header::CONTENT_TYPE),
            );
            if seen.as_ref().is_some_and(|seen| *seen != validators) {
                return Err(format!("HEAD {path}: validators differ between routes"));
            }
            seen = Some(validators);
        }
        let (etag, last_modified, content_type) = seen.unwrap_or_default();
        files.push(Representation {
            name,
            content,
            etag,
            last_modified,
            content_type,
        });
    }
    // Small files often, the big ones less (their answers cost more).
    let weights = files
        .iter()
        .map(|file| match file.len() {
            0 => 5,
            1..=65_536 => 25,
            65_537..=4_194_304 => 25,
            _ => 20,
        })
        .collect();
    Ok((files, weights))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples the server's RSS every second into the CSV until `stop`; returns
/// the samples `(requests_done, rss_kib)`.
async fn sample_rss(
    pid: u32,
    csv: PathBuf,
    shared: Arc<Shared>,
    stop: Arc<tokio::sync::Notify>,
) -> Result<Vec<(u64, u64)>, String> {
    let mut out = std::fs::File::create(&csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let _ = writeln!(out, "seconds,requests_done,rss_kib");
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            () = stop.notified() => true,
        };
        let done = shared.done.load(Ordering::Relaxed);
        if let Some(rss) = rss_kib(pid) {
            let _ = writeln!(out, "{:.1},{done},{rss}", start.elapsed().as_secs_f64());
            samples.push((done, rss));
        }
        if stopping {
            return Ok(samples);
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("soak: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (files, weights) = match load(&args).await {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("soak: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "soak: {} requests over {} {} connections to {}, seed {}, files: {}",
        args.requests,
        args.connections,
        if args.http2 { "h2c" } else { "HTTP/1.1" },
        args.addr,
        args.seed,
        files
            .iter()
            .map(|file| format!("{} ({} B)", file.name, file.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let shared = Arc::new(Shared {
        files,
        weights,
        addr: args.addr,
        seed: args.seed,
        requests: args.requests,
        http2: args.http2,
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        tally: Mutex::new(Tally::default()),
    });
    let stop = Arc::new(tokio::sync::Notify::new());
    let sampler = match (args.server_pid, args.rss_csv.clone()) {
        (Some(pid), Some(csv)) => Some(tokio::spawn(sample_rss(
            pid,
            csv,
            shared.clone(),
            stop.clone(),
        ))),
        _ => None,
    };

    let start = Instant::now();
    let workers: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    let mut panicked = 0;
    for worker in workers {
        if worker.await.is_err() {
            panicked += 1;
        }
    }
    let elapsed = start.elapsed();
    stop.notify_one();
    let samples = match sampler {
        Some(sampler) => match sampler.await {
            Ok(Ok(samples)) => Some(samples),
            Ok(Err(error)) => {
                eprintln!("soak: {error}");
                None
            }
            Err(_) => None,
        },
        None => None,
    };

    let tally = shared
        .tally
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let answered: u64 = tally.statuses.values().sum();
    let mut report = String::new();
    let _ = writeln!(report, "requests:            {}", answered + tally.errors);
    let statuses: Vec<String> = tally
        .statuses
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    let _ = writeln!(report, "verified, by status: {}", statuses.join(", "));
    let _ = writeln!(report, "verification errors: {}", tally.errors + panicked);
    let _ = writeln!(
        report,
        "elapsed:             {:.1} s, {:.0} requests/s, {:.1} MiB of bodies received",
        elapsed.as_secs_f64(),
        (answered + tally.errors) as f64 / elapsed.as_secs_f64(),
        tally.bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some(samples) = samples.filter(|samples| !samples.is_empty()) {
        let warm = samples
            .iter()
            .find(|(done, _)| *done >= args.requests / 10)
            .unwrap_or(&samples[0]);
        let end = samples[samples.len() - 1];
        let max = samples.iter().map(|(_, rss)| *rss).max().unwrap_or(0);
        let _ = writeln!(
            report,
            "server RSS:          {} KiB after warm-up (at {} requests), {} KiB at the end, max {} KiB ({} samples)",
            warm.1,
            warm.0,
            end.1,
            max,
            samples.len()
        );
    }
    for line in &tally.shown {
        let _ = writeln!(report, "ERROR {line}");
    }
    print!("{report}");
    if tally.errors + panicked > 0 || answered != args.requests {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
