//! `service`: arbitrary request headers, method, entity, inner status,
//! inner validators, body kind and policy, through the real `RangeService`.
//!
//! Every response is read back strictly and checked:
//!
//! - other methods and inner statuses other than `200` (and inner responses
//!   that are already partial) come out untouched: same status, same
//!   headers, same bytes;
//! - otherwise the status is one of 200, 206, 304, 412, 416; a `206`/`416`
//!   needs a single `Range` line, a `304` an `If-None-Match` or
//!   `If-Modified-Since`, a `412` an `If-Match` or `If-Unmodified-Since`;
//! - `Content-Length`, when present, equals the bytes sent (a `HEAD` sends
//!   none and is compared with the `GET` it stands for instead); the size hint brackets
//!   them; a body that says `is_end_stream` sends nothing more; a future or
//!   a body that returns `Pending` has asked to be woken;
//! - `200`: the entity's bytes, the inner headers, `Accept-Ranges` as the
//!   plan says; `206`: `Content-Range: bytes a-b/LEN` and exactly
//!   `entity[a..=b]`, or a `multipart/byteranges` parsed strictly by its
//!   boundary, every part's bytes checked, parts coalesced and no larger in
//!   all than `LEN + slack`; the inner headers kept; `416`:
//!   `bytes */LEN`, no `Content-Type`; `304` keeps the validators; `412` no
//!   body and no range headers;
//! - the outcome (status, and the ranges sent) is the one the public plan
//!   (`decide`, `resolve`) gives for these facts;
//! - a stream with `Content-Length`, a seekable source and a stream without
//!   a length give the buffered body's outcome (status and bytes), except
//!   where the policy says otherwise: a seekable source is not bound by the
//!   buffer limit for out-of-order parts, and a body of unknown length
//!   larger than the buffer limit gets the full `200`;
//! - a `HEAD` gets the headers of the `GET` (the multipart boundary aside)
//!   and no body, even when the inner service sends one (unless the inner
//!   response is partial already, and passes through untouched); its
//!   `Content-Length` is the `GET`'s, or the size of the `GET`'s body when
//!   the `GET` leaves the length to it.
//!
//! Input layout (missing bytes read as zero):
//!
//! | byte(s) | meaning |
//! |---|---|
//! | 0 | method: `% 8`: 0-3 `GET`, 4-5 `HEAD`, 6 `POST`, 7 `PROPFIND` |
//! | 1 | body kind: `% 4`: `Full<Bytes>`, stream with `Content-Length`, stream without, `ReaderSource` |
//! | 2 | chunk size of the streams: `b + 1` |
//! | 3-4 | entity length, LE, `% 4096` |
//! | 5 | inner status: `% 16`: 13 → 404, 14 → 206, 15 → 500, else 200 |
//! | 6 | `ETag`: `% 5`: none, `"v1"`, `W/"v1"`, `"v2"`, raw |
//! | 7 | `Last-Modified`: `% 5`: none, 1994, 2015, 2100, raw |
//! | 8 | `Date`: `% 5`: none, 1994 (= `Last-Modified`), one second later, 2015, raw |
//! | 9 | `Content-Type`: `% 8`: none, `text/plain`, `application/octet-stream`, raw, `multipart/byteranges; boundary=x`, none... |
//! | 10 | flags: 1 `Accept-Ranges: none`, 2 `Content-Encoding: gzip`, 4 an inner `Content-Range`, 8 cache headers, 16 preconditions off |
//! | 11 | `max_ranges`: < 128 → 100, else `b % 16` (the layer raises 0 to 1) |
//! | 12 | buffer limit: < 128 → 1 MiB, else two more bytes, LE, `% 8192` |
//! | 13 | multipart slack: `% 4`: 1024, 0, two more bytes (LE), `u64::MAX` |
//! | 14 | merge gap: < 192 → 0, else one more byte |
//! | 15 | number of request headers, `% 5` |
//! | ... | each header: a name byte (`% 6`: `Range`, `If-Range`, `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`), a mode byte: < 128 → that many raw bytes follow, else a value built from the following bytes (see `structured`) |
//!
//! "raw" response values are a length byte (`% 64`) and that many bytes.
//! Values that are not valid header values are left out.

use std::convert::Infallible;
use std::future::Future;
use std::io::Cursor;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::task::ArcWake;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Full, StreamBody};
use tower::{Layer, ServiceExt};
use tower_range::header::{parse_http_date, ByteRange};
use tower_range::plan::{decide, resolve, Conditions, Decision, Resolution, ResponseFacts};
use tower_range::source::{RangeSource, ReaderSource};
use tower_range::RangeLayer;

use crate::range_header::{
    model_etag, model_if_range, model_parse, model_plan, trim, Planned, Reader,
};

/// The boundary length the crate uses (`multipart.rs`).
const BOUNDARY_LEN: usize = 32;
const MULTIPART_PREFIX: &str = "multipart/byteranges; boundary=";
const MAX_ENTITY: usize = 4096;
/// Polls of one future or body before it counts as hung.
const MAX_POLLS: usize = 1_000_000;

const LM_1994: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const LM_1994_PLUS_1: &str = "Sun, 06 Nov 1994 08:49:38 GMT";
const DATE_2015: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const DATE_2100: &str = "Fri, 01 Jan 2100 00:00:00 GMT";

const IF_RANGES: &[&str] = &[
    "\"v1\"",
    "W/\"v1\"",
    "\"v2\"",
    LM_1994,
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    LM_1994_PLUS_1,
    DATE_2015,
    DATE_2100,
    "garbage",
    "",
    " \"v1\" ",
    "\"v1\", \"v2\"",
];

const TAG_LISTS: &[&str] = &[
    "*",
    "\"v1\"",
    "W/\"v1\"",
    "\"v2\"",
    "\"v2\", \"v1\"",
    "\"v2\" ,, W/\"v1\"",
    "garbage",
    "\"v1\" garbage",
    "garbage, \"v1\"",
];

const DATES: &[&str] = &[
    LM_1994,
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "Sun, 06 Nov 1994 08:49:36 GMT",
    LM_1994_PLUS_1,
    DATE_2015,
    "Sat, 01 Jan 1994 00:00:00 GMT",
    DATE_2100,
    "yesterday",
];

/// The entity: bytes that differ at every offset within a short distance,
/// so a shifted or misplaced slice shows.
fn entity(len: usize) -> Bytes {
    static ENTITY: OnceLock<Bytes> = OnceLock::new();
    ENTITY
        .get_or_init(|| {
            (0..MAX_ENTITY as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 ^ (i >> 8) as u8)
                .collect::<Vec<u8>>()
                .into()
        })
        .slice(..len)
}

// ---------------------------------------------------------------------------
// Decoding the input.

/// A header value of up to 63 raw bytes from the input, if valid.
fn raw_value(r: &mut Reader<'_>) -> Option<HeaderValue> {
    let n = usize::from(r.u8() % 64);
    HeaderValue::from_bytes(r.take(n)).ok()
}

/// How the inner service produces its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Full<Bytes>`: exact size hint.
    Buffered,
    /// A stream of `chunk`-byte frames with `Content-Length`.
    StreamWithLength,
    /// The same stream, without `Content-Length`.
    StreamWithoutLength,
    /// `RangeSource::new(ReaderSource::new(Cursor))`.
    Seekable,
}

/// One decoded input.
#[derive(Clone)]
pub struct Case {
    /// The request method.
    pub method: Method,
    /// The body kind of the inner response.
    pub kind: Kind,
    /// Frame size of the streams.
    pub chunk: usize,
    /// The entity.
    pub entity: Bytes,
    /// The inner status.
    pub status: StatusCode,
    /// The inner response's headers (without the body kind's own
    /// `Content-Length`).
    pub response_headers: HeaderMap,
    /// The request headers, in order.
    pub request_headers: HeaderMap,
    /// The layer under test.
    pub layer: RangeLayer,
    /// Its multipart slack.
    pub slack: u64,
    /// Its merge gap.
    pub merge_gap: u64,
    /// Its range cap.
    pub max_ranges: usize,
    /// Whether it evaluates preconditions.
    pub preconditions: bool,
    /// Its buffer limit.
    pub buffer_limit: usize,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("method", &self.method)
            .field("kind", &self.kind)
            .field("chunk", &self.chunk)
            .field("entity_len", &self.entity.len())
            .field("status", &self.status)
            .field("response_headers", &self.response_headers)
            .field("request_headers", &self.request_headers)
            .field("max_ranges", &self.max_ranges)
            .field("buffer_limit", &self.buffer_limit)
            .field("slack", &self.slack)
            .field("merge_gap", &self.merge_gap)
            .field("preconditions", &self.preconditions)
            .finish()
    }
}

fn structured(name: &HeaderName, r: &mut Reader<'_>, len: u64) -> Option<HeaderValue> {
    fn pick(table: &[&'static str], b: u8) -> &'static str {
        table[usize::from(b) % table.len()]
    }
    let value = if name == header::RANGE {
        let count = 1 + r.u8() % 8;
        let unit = if r.u8() & 7 == 0 { "BYTES=" } else { "bytes=" };
        let mut value = String::from(unit);
        let bound = len + 32;
        for i in 0..count {
            let k = r.u8();
            let mut a = u64::from(r.u16()) % bound;
            let mut b = u64::from(r.u16()) % bound;
            if i > 0 {
                value.push_str(if k & 0x10 != 0 { ", " } else { "," });
            }
            match k % 4 {
                0 => {
                    if a > b {
                        std::mem::swap(&mut a, &mut b);
                    }
                    value.push_str(&format!("{a}-{b}"));
                }
                1 => value.push_str(&format!("{a}-")),
                2 => value.push_str(&format!("-{b}")),
                _ => value.push_str(&format!("{a}-{b}")),
            }
        }
        value
    } else if name == header::IF_RANGE {
        pick(IF_RANGES, r.u8()).to_owned()
    } else if name == header::IF_MATCH || name == header::IF_NONE_MATCH {
        pick(TAG_LISTS, r.u8()).to_owned()
    } else {
        pick(DATES, r.u8()).to_owned()
    };
    HeaderValue::from_str(&value).ok()
}

impl Case {
    /// Decodes an input; never fails (missing bytes are zeros).
    pub fn decode(data: &[u8]) -> Case {
        let mut r = Reader(data);
        let method = match r.u8() % 8 {
            0..=3 => Method::GET,
            4 | 5 => Method::HEAD,
            6 => Method::POST,
            _ => Method::from_bytes(b"PROPFIND").expect("a valid method"),
        };
        let kind = match r.u8() % 4 {
            0 => Kind::Buffered,
            1 => Kind::StreamWithLength,
            2 => Kind::StreamWithoutLength,
            _ => Kind::Seekable,
        };
        let chunk = usize::from(r.u8()) + 1;
        let len = usize::from(r.u16()) % MAX_ENTITY;
        let status = match r.u8() % 16 {
            13 => StatusCode::NOT_FOUND,
            14 => StatusCode::PARTIAL_CONTENT,
            15 => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::OK,
        };
        let mut response_headers = HeaderMap::new();
        let set = |headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>| {
            if let Some(value) = value {
                headers.append(name, value);
            }
        };
        let fixed = |s: &'static str| Some(HeaderValue::from_static(s));
        let etag = match r.u8() % 5 {
            0 => None,
            1 => fixed("\"v1\""),
            2 => fixed("W/\"v1\""),
            3 => fixed("\"v2\""),
            _ => raw_value(&mut r),
        };
        set(&mut response_headers, header::ETAG, etag);
        let last_modified = match r.u8() % 5 {
            0 => None,
            1 => fixed(LM_1994),
            2 => fixed(DATE_2015),
            3 => fixed(DATE_2100),
            _ => raw_value(&mut r),
        };
        set(&mut response_headers, header::LAST_MODIFIED, last_modified);
        let date = match r.u8() % 5 {
            0 => None,
            1 => fixed(LM_1994),
            2 => fixed(LM_1994_PLUS_1),
            3 => fixed(DATE_2015),
            _ => raw_value(&mut r),
        };
        set(&mut response_headers, header::DATE, date);
        let content_type = match r.u8() % 8 {
            1 => fixed("text/plain"),
            2 => fixed("application/octet-stream"),
            3 => raw_value(&mut r),
            4 => fixed("multipart/byteranges; boundary=x"),
            _ => None,
        };
        set(&mut response_headers, header::CONTENT_TYPE, content_type);
        let flags = r.u8();
        if flags & 1 != 0 {
            set(&mut response_headers, header::ACCEPT_RANGES, fixed("none"));
        }
        if flags & 2 != 0 {
            set(
                &mut response_headers,
                header::CONTENT_ENCODING,
                fixed("gzip"),
            );
        }
        if flags & 4 != 0 {
            set(
                &mut response_headers,
                header::CONTENT_RANGE,
                fixed("bytes 0-0/1"),
            );
        }
        if flags & 8 != 0 {
            set(
                &mut response_headers,
                header::CACHE_CONTROL,
                fixed("max-age=60"),
            );
            set(&mut response_headers, header::EXPIRES, fixed(DATE_2100));
            set(
                &mut response_headers,
                header::VARY,
                fixed("accept-encoding"),
            );
            set(&mut response_headers, header::CONTENT_LOCATION, fixed("/x"));
        }
        let preconditions = flags & 16 == 0;

        let max_ranges = match r.u8() {
            b if b < 128 => 100,
            b => usize::from(b % 16),
        };
        let buffer_limit = match r.u8() {
            b if b < 128 => 1024 * 1024,
            _ => usize::from(r.u16()) % 8192,
        };
        let slack = match r.u8() % 4 {
            0 => 1024,
            1 => 0,
            2 => u64::from(r.u16()),
            _ => u64::MAX,
        };
        let merge_gap = match r.u8() {
            b if b < 192 => 0,
            _ => u64::from(r.u8()),
        };
        let layer = RangeLayer::new()
            .max_ranges(max_ranges)
            .buffer_limit(buffer_limit)
            .multipart_slack(slack)
            .merge_gap(merge_gap)
            .preconditions(preconditions);

        let mut request_headers = HeaderMap::new();
        for _ in 0..r.u8() % 5 {
            let name = match r.u8() % 6 {
                0 => header::RANGE,
                1 => header::IF_RANGE,
                2 => header::IF_MATCH,
                3 => header::IF_NONE_MATCH,
                4 => header::IF_MODIFIED_SINCE,
                _ => header::IF_UNMODIFIED_SINCE,
            };
            let mode = r.u8();
            let value = if mode < 128 {
                HeaderValue::from_bytes(r.take(usize::from(mode))).ok()
            } else {
                structured(&name, &mut r, len as u64)
            };
            if let Some(value) = value {
                request_headers.append(name, value);
            }
        }

        Case {
            method,
            kind,
            chunk,
            entity: entity(len),
            status,
            response_headers,
            request_headers,
            layer,
            slack,
            merge_gap,
            max_ranges: max_ranges.max(1),
            preconditions,
            buffer_limit,
        }
    }

    fn len(&self) -> u64 {
        self.entity.len() as u64
    }

    fn request(&self, method: &Method) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = method.clone();
        *request.headers_mut() = self.request_headers.clone();
        request
    }

    /// The headers the inner response has with this body kind.
    fn inner_headers(&self, kind: Kind) -> HeaderMap {
        let mut headers = self.response_headers.clone();
        if matches!(kind, Kind::StreamWithLength | Kind::Seekable) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(self.len()));
        }
        headers
    }

    fn decorate<B>(&self, mut response: Response<B>, kind: Kind) -> Response<B> {
        *response.status_mut() = self.status;
        *response.headers_mut() = self.inner_headers(kind);
        response
    }

    fn stream(&self) -> Chunked {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = self
            .entity
            .chunks(self.chunk)
            .map(|c| Ok(Frame::data(self.entity.slice_ref(c))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    /// Sends the request through the layer over an inner service that
    /// answers with this body kind, and reads the response whole.
    pub fn exchange(&self, kind: Kind, method: &Method) -> Seen {
        let request = self.request(method);
        match kind {
            Kind::Buffered => {
                let response = Response::new(Full::new(self.entity.clone()));
                call(self.layer, request, self.decorate(response, kind))
            }
            Kind::StreamWithLength | Kind::StreamWithoutLength => call(
                self.layer,
                request,
                self.decorate(Response::new(self.stream()), kind),
            ),
            Kind::Seekable => {
                let source = ReaderSource::new(Cursor::new(self.entity.to_vec()), self.len());
                let response = RangeSource::new(source).into_response();
                call(self.layer, request, self.decorate(response, kind))
            }
        }
    }
}

type Chunked =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

// ---------------------------------------------------------------------------
// Driving futures and bodies without a runtime: every body here is ready at
// once, so `Pending` is only allowed after a wake-up was asked for.

struct Woken(AtomicBool);

impl ArcWake for Woken {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

struct Driver {
    woken: Arc<Woken>,
    waker: Waker,
}

impl Driver {
    fn new() -> Self {
        let woken = Arc::new(Woken(AtomicBool::new(false)));
        let waker = futures_util::task::waker(woken.clone());
        Driver { woken, waker }
    }

    /// Polls `poll` until it is ready; a `Pending` without a wake-up would
    /// hang a real server, so it fails the case.
    fn until_ready<T>(&self, what: &str, mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
        let mut cx = Context::from_waker(&self.waker);
        for _ in 0..MAX_POLLS {
            self.woken.0.store(false, Ordering::SeqCst);
            match poll(&mut cx) {
                Poll::Ready(value) => return value,
                Poll::Pending => assert!(
                    self.woken.0.load(Ordering::SeqCst),
                    "{what} returned Pending without asking to be woken: it would hang"
                ),
            }
        }
        panic!("{what} not ready after {MAX_POLLS} polls");
    }
}

/// A response as a client receives it.
#[derive(Debug)]
pub struct Seen {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body's size hint before the first frame.
    pub hint: SizeHint,
    /// Every data byte.
    pub body: Bytes,
}

fn call<B>(layer: RangeLayer, request: Request<()>, response: Response<B>) -> Seen
where
    B: Body + 'static,
    B::Error: Into<tower_range::BoxError>,
{
    let driver = Driver::new();
    let mut slot = Some(response);
    let inner = tower::service_fn(move |_request: Request<()>| {
        let response = slot.take().expect("the inner service is called once");
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let mut future = pin!(layer.layer(inner).oneshot(request));
    let response = driver
        .until_ready("the response future", |cx| future.as_mut().poll(cx))
        .unwrap_or_else(|never| match never {});
    let (head, body) = response.into_parts();
    let hint = body.size_hint();
    let mut body = pin!(body);
    let mut out = Vec::new();
    loop {
        let ended = body.is_end_stream();
        let frame = driver.until_ready("the body", |cx| body.as_mut().poll_frame(cx));
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    assert!(
                        !ended || data.is_empty(),
                        "{} more bytes after is_end_stream() said the body had ended",
                        data.len()
                    );
                    out.extend_from_slice(&data);
                }
            }
            Some(Err(error)) => panic!("the body failed: {error}"),
        }
    }
    let sent = out.len() as u64;
    assert!(
        hint.lower() <= sent && hint.upper().is_none_or(|upper| sent <= upper),
        "size hint {hint:?} for a body of {sent} bytes"
    );
    Seen {
        status: head.status,
        headers: head.headers,
        hint,
        body: out.into(),
    }
}

// ---------------------------------------------------------------------------
// Reading a response back.

/// What a response is, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exactly the inner response.
    Untouched,
    /// `200`, with this `Accept-Ranges`.
    Full(Option<HeaderValue>),
    /// `304`.
    NotModified,
    /// `412`.
    PreconditionFailed,
    /// `416`.
    Unsatisfiable,
    /// `206` with one range.
    Single(u64, u64),
    /// `206 multipart/byteranges`, parts in the order sent.
    Multi(Vec<(u64, u64)>),
}

fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// `bytes a-b/L`, digits only, `a <= b < L`.
fn content_range(value: &[u8], len: u64) -> Option<(u64, u64)> {
    let value = std::str::from_utf8(value).ok()?;
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (first, last, total) = (number(first)?, number(last)?, number(total)?);
    (total == len && first <= last && last < len).then_some((first, last))
}

/// A strict `multipart/byteranges` reader: `\r\n--B\r\n`, the part's
/// headers (`Content-Type` when the representation has one, then
/// `Content-Range`), a blank line, exactly the announced bytes, ... and
/// `\r\n--B--\r\n` with nothing after it. Checks every part's bytes.
fn parse_multipart(
    body: &[u8],
    boundary: &[u8],
    entity: &Bytes,
    content_type: Option<&HeaderValue>,
) -> Vec<(u64, u64)> {
    let len = entity.len() as u64;
    let mut delimiter = b"\r\n--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut rest = body;
    let mut parts = Vec::new();
    loop {
        rest = rest
            .strip_prefix(&delimiter[..])
            .unwrap_or_else(|| panic!("no delimiter after part {}", parts.len()));
        if let Some(after) = rest.strip_prefix(b"--\r\n") {
            assert!(
                after.is_empty(),
                "{} bytes after the closing delimiter",
                after.len()
            );
            break;
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .expect("the delimiter line ends with CRLF");
        if let Some(content_type) = content_type {
            let mut line = b"Content-Type: ".to_vec();
            line.extend_from_slice(content_type.as_bytes());
            line.extend_from_slice(b"\r\n");
            rest = rest.strip_prefix(&line[..]).unwrap_or_else(|| {
                panic!(
                    "part {} does not start with {:?}",
                    parts.len(),
                    String::from_utf8_lossy(&line)
                )
            });
        }
        rest = rest
            .strip_prefix(b"Content-Range: ")
            .unwrap_or_else(|| panic!("part {} has no Content-Range line", parts.len()));
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a part header ends with a blank line");
        let (first, last) = content_range(&rest[..end], len).unwrap_or_else(|| {
            panic!(
                "part Content-Range {:?} for {len} bytes",
                String::from_utf8_lossy(&rest[..end])
            )
        });
        rest = &rest[end + 4..];
        let size = (last - first + 1) as usize;
        assert!(rest.len() >= size, "part {first}-{last} is cut short");
        assert!(
            rest[..size] == entity[first as usize..=last as usize],
            "part {first}-{last} holds other bytes than the entity's"
        );
        parts.push((first, last));
        rest = &rest[size..];
    }
    parts
}

/// Headers compared as multisets of (name, value), in order per name.
fn same_headers(a: &HeaderMap, b: &HeaderMap, except: &[HeaderName]) -> bool {
    let keep = |map: &HeaderMap| {
        let mut pairs: Vec<(String, Vec<u8>)> = map
            .iter()
            .filter(|(name, _)| !except.contains(name))
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();
        pairs.sort();
        pairs
    };
    keep(a) == keep(b)
}

fn has_line(headers: &HeaderMap, names: &[HeaderName]) -> bool {
    names.iter().any(|name| headers.contains_key(name))
}

/// Headers the layer may set or remove on a `206`.
fn partial_headers() -> [HeaderName; 6] {
    [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::CONTENT_TYPE,
        header::ACCEPT_RANGES,
        header::TRANSFER_ENCODING,
        header::TRAILER,
    ]
}

/// An inner response that is partial already (a `Content-Range`, or a
/// first `Content-Type` of `multipart/byteranges`): the layer passes it
/// through untouched, body and all, even for a `HEAD`.
fn already_partial(inner: &HeaderMap) -> bool {
    inner.contains_key(header::CONTENT_RANGE)
        || inner.get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes().len() >= 20
                && v.as_bytes()[..20].eq_ignore_ascii_case(b"multipart/byteranges")
        })
}

/// Reads one response of `kind` to `method` strictly, and says what it is.
pub fn observe(case: &Case, kind: Kind, method: &Method, seen: &Seen) -> Outcome {
    let head = method == Method::HEAD;
    let len = case.len();
    let inner = case.inner_headers(kind);
    let headers = &seen.headers;
    let context = format!("[{kind:?} {method}] {} {headers:?}", seen.status);

    if !(method == Method::GET || head) || case.status != StatusCode::OK {
        assert_eq!(seen.status, case.status, "{context}: an untouched status");
        assert!(
            same_headers(headers, &inner, &[]),
            "{context}: untouched headers, inner {inner:?}"
        );
        assert!(seen.body == case.entity, "{context}: an untouched body");
        return Outcome::Untouched;
    }

    let status = seen.status.as_u16();
    assert!(
        matches!(status, 200 | 206 | 304 | 412 | 416),
        "{context}: an unexpected status"
    );
    let lengths: Vec<&HeaderValue> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    assert!(
        lengths.len() <= 1,
        "{context}: several Content-Length lines"
    );
    let declared = lengths.first().map(|v| {
        std::str::from_utf8(v.as_bytes())
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{context}: Content-Length {v:?}"))
    });
    if head && !(status == 200 && already_partial(&inner)) {
        // No body, whatever the inner service sent; the Content-Length is
        // the GET's (checked against the GET by the caller).
        assert!(seen.body.is_empty(), "{context}: a HEAD with a body");
    } else if let Some(declared) = declared {
        assert_eq!(
            declared,
            seen.body.len() as u64,
            "{context}: Content-Length vs the body"
        );
    }
    if matches!(status, 206 | 412 | 416) {
        assert!(declared.is_some(), "{context}: no Content-Length");
    }
    if !matches!(status, 206 | 416) {
        // A 200 keeps an inner Content-Range: it passed through untouched.
        let inner_range = status == 200 && inner.contains_key(header::CONTENT_RANGE);
        assert!(
            inner_range || !headers.contains_key(header::CONTENT_RANGE),
            "{context}: a Content-Range"
        );
    }
    let range_lines = case.request_headers.get_all(header::RANGE).iter().count();
    if matches!(status, 206 | 416) {
        assert_eq!(range_lines, 1, "{context}: needs exactly one Range line");
        assert_eq!(
            headers
                .get(header::ACCEPT_RANGES)
                .map(HeaderValue::as_bytes),
            Some(&b"bytes"[..]),
            "{context}: Accept-Ranges"
        );
        assert!(
            !inner.contains_key(header::ACCEPT_RANGES),
            "{context}: the inner response refused ranges"
        );
        assert!(len > 0, "{context}: a range of an empty entity");
    }
    let requested = |names: &[HeaderName]| has_line(&case.request_headers, names);

    match status {
        200 => {
            if !head {
                assert!(
                    seen.body == case.entity,
                    "{context}: a 200 whose body is not the entity"
                );
            }
            // A body of unknown length that was read whole to plan the
            // ranges gains a Content-Length (checked against the body).
            assert!(
                same_headers(
                    headers,
                    &inner,
                    &[header::ACCEPT_RANGES, header::CONTENT_LENGTH]
                ),
                "{context}: a 200 with other headers than the inner {inner:?}"
            );
            assert!(
                !inner.contains_key(header::CONTENT_LENGTH) || declared.is_some(),
                "{context}: a 200 lost its Content-Length"
            );
            let accept = headers.get(header::ACCEPT_RANGES).cloned();
            assert!(
                accept == inner.get(header::ACCEPT_RANGES).cloned()
                    || accept.as_ref().is_some_and(|v| v == "bytes"),
                "{context}: Accept-Ranges"
            );
            Outcome::Full(accept)
        }
        304 => {
            assert!(
                requested(&[header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE]),
                "{context}: a 304 without If-None-Match or If-Modified-Since"
            );
            assert!(seen.body.is_empty(), "{context}: a 304 with a body");
            for name in [
                header::ETAG,
                header::LAST_MODIFIED,
                header::CACHE_CONTROL,
                header::EXPIRES,
                header::VARY,
                header::CONTENT_LOCATION,
                header::DATE,
            ] {
                assert!(
                    headers
                        .get_all(&name)
                        .iter()
                        .eq(inner.get_all(&name).iter()),
                    "{context}: a 304 keeps {name}"
                );
            }
            for name in [
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                header::ACCEPT_RANGES,
            ] {
                assert!(!headers.contains_key(&name), "{context}: a 304 with {name}");
            }
            Outcome::NotModified
        }
        412 => {
            assert!(
                requested(&[header::IF_MATCH, header::IF_UNMODIFIED_SINCE]),
                "{context}: a 412 without If-Match or If-Unmodified-Since"
            );
            assert!(seen.body.is_empty(), "{context}: a 412 with a body");
            for name in [
                header::ACCEPT_RANGES,
                header::CONTENT_TYPE,
                header::ETAG,
                header::LAST_MODIFIED,
            ] {
                assert!(!headers.contains_key(&name), "{context}: a 412 with {name}");
            }
            Outcome::PreconditionFailed
        }
        416 => {
            let expected = format!("bytes */{len}");
            assert_eq!(
                headers
                    .get(header::CONTENT_RANGE)
                    .map(HeaderValue::as_bytes),
                Some(expected.as_bytes()),
                "{context}: the 416's Content-Range"
            );
            for name in [header::CONTENT_TYPE, header::CONTENT_ENCODING] {
                assert!(!headers.contains_key(&name), "{context}: a 416 with {name}");
            }
            Outcome::Unsatisfiable
        }
        _ => observe_partial(case, head, seen, &inner, declared, &context),
    }
}

fn observe_partial(
    case: &Case,
    head: bool,
    seen: &Seen,
    inner: &HeaderMap,
    declared: Option<u64>,
    context: &str,
) -> Outcome {
    let len = case.len();
    let headers = &seen.headers;
    assert!(
        same_headers(headers, inner, &partial_headers()),
        "{context}: a 206 keeps the inner headers {inner:?}"
    );
    let content_type = headers.get(header::CONTENT_TYPE);
    let boundary =
        content_type.and_then(|v| v.as_bytes().strip_prefix(MULTIPART_PREFIX.as_bytes()));
    let Some(boundary) = boundary else {
        assert_eq!(
            content_type,
            inner.get(header::CONTENT_TYPE),
            "{context}: a 206 keeps Content-Type"
        );
        let value = headers
            .get(header::CONTENT_RANGE)
            .unwrap_or_else(|| panic!("{context}: a single 206 without Content-Range"));
        let (first, last) = content_range(value.as_bytes(), len)
            .unwrap_or_else(|| panic!("{context}: Content-Range {value:?} for {len} bytes"));
        assert_eq!(
            declared,
            Some(last - first + 1),
            "{context}: Content-Length of {first}-{last}"
        );
        if !head {
            assert!(
                seen.body == case.entity.slice(first as usize..=last as usize),
                "{context}: the body is not bytes {first}-{last} of the entity"
            );
        }
        return Outcome::Single(first, last);
    };
    assert!(
        !headers.contains_key(header::CONTENT_RANGE),
        "{context}: a multipart 206 with a top-level Content-Range"
    );
    assert!(
        !headers.contains_key(header::CONTENT_ENCODING),
        "{context}: a multipart 206 whose framing would be taken as encoded"
    );
    assert!(
        boundary.len() == BOUNDARY_LEN && boundary.iter().all(u8::is_ascii_alphanumeric),
        "{context}: boundary {:?}",
        text(content_type.unwrap())
    );
    let size = declared.expect("checked: a 206 has a Content-Length");
    assert!(
        u128::from(size) <= u128::from(len) + u128::from(case.slack),
        "{context}: a multipart body of {size} bytes for {len} bytes and a slack of {}",
        case.slack
    );
    if head {
        // No body to parse; the caller compares the HEAD with the GET.
        return Outcome::Multi(Vec::new());
    }
    let parts = parse_multipart(
        &seen.body,
        boundary,
        &case.entity,
        inner.get(header::CONTENT_TYPE),
    );
    assert!(
        parts.len() >= 2,
        "{context}: a multipart of {} part(s)",
        parts.len()
    );
    let mut sorted = parts.clone();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        assert!(
            w[0].1 + 1 + case.merge_gap < w[1].0,
            "{context}: parts {:?} and {:?} overlap, touch or lie within the merge gap",
            w[0],
            w[1]
        );
    }
    Outcome::Multi(parts)
}

// ---------------------------------------------------------------------------
// What the public plan says the outcome is.

/// The outcome the plan gives for a `GET` (or `HEAD`) of this kind.
pub fn expect_plan(case: &Case, kind: Kind, method: &Method) -> Outcome {
    let head = method == Method::HEAD;
    let inner = case.inner_headers(kind);
    let Some(conditions) = Conditions::capture(method, &case.request_headers) else {
        return Outcome::Untouched;
    };
    if case.status != StatusCode::OK {
        return Outcome::Untouched;
    }
    let len = case.len();
    let length = match kind {
        // The layer cannot tell an empty HEAD body from a stripped one.
        Kind::Buffered if head && len == 0 => None,
        Kind::Buffered | Kind::StreamWithLength | Kind::Seekable => Some(len),
        Kind::StreamWithoutLength => None,
    };
    let policy = *case.layer.policy();
    let facts = ResponseFacts::from_headers(case.status, &inner, length);
    let inner_accept = inner.get(header::ACCEPT_RANGES).cloned();
    let advertised = Some(HeaderValue::from_static("bytes"));
    let full = |accept_ranges: bool| {
        Outcome::Full(if accept_ranges {
            advertised.clone()
        } else {
            inner_accept.clone()
        })
    };
    let set = match decide(&conditions, &facts, &policy, SystemTime::now()) {
        Decision::PassThrough => return full(false),
        Decision::NotModified => return Outcome::NotModified,
        Decision::PreconditionFailed => return Outcome::PreconditionFailed,
        Decision::Full { accept_ranges, .. } => return full(accept_ranges),
        Decision::Ranges(set) => set,
    };
    if length.is_none() && len > case.buffer_limit as u64 {
        // A GET of unknown length past the buffer limit: every byte, as is.
        return full(false);
    }
    let content_type_len = inner.get(header::CONTENT_TYPE).map(HeaderValue::len);
    match resolve(&set, len, &policy, content_type_len) {
        Resolution::Full(_) => full(true),
        Resolution::Unsatisfiable => Outcome::Unsatisfiable,
        Resolution::Single(ByteRange { first, last }) => Outcome::Single(first, last),
        Resolution::Multi(ranges) => {
            let ascending = ranges.windows(2).all(|w| w[0].last < w[1].first);
            let data_end = ranges.iter().map(|r| r.last + 1).max().unwrap_or(0);
            let forward_only = matches!(kind, Kind::Buffered | Kind::StreamWithLength);
            if inner.contains_key(header::CONTENT_ENCODING)
                || (forward_only && !ascending && data_end > case.buffer_limit as u64)
            {
                full(true)
            } else {
                Outcome::Multi(ranges.iter().map(|r| (r.first, r.last)).collect())
            }
        }
    }
}

/// The lines of a header.
fn lines<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Vec<&'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

/// The value of a header that must appear once.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a [u8]> {
    match lines(headers, name)[..] {
        [one] => Some(one),
        _ => None,
    }
}

/// `If-Match` (strong) / `If-None-Match` (weak) over all its lines: `*`
/// matches; a list element that does not parse ends its line.
fn model_tag_list(lines: &[&[u8]], current: Option<(bool, &[u8])>, weak: bool) -> bool {
    for line in lines {
        let line = trim(line);
        if line == b"*" {
            return true;
        }
        let Some((current_weak, current_tag)) = current else {
            continue;
        };
        let mut rest = line;
        loop {
            while let [b' ' | b'\t' | b',', tail @ ..] = rest {
                rest = tail;
            }
            if rest.is_empty() {
                break;
            }
            let (tag_weak, after_w) = match rest.strip_prefix(b"W/") {
                Some(after) => (true, after),
                None => (false, rest),
            };
            let Some(body) = after_w.strip_prefix(b"\"") else {
                break;
            };
            let Some(end) = body.iter().position(|&b| b == b'"') else {
                break;
            };
            let Some((parsed_weak, tag)) = model_etag(&rest[..rest.len() - body.len() + end + 1])
            else {
                break;
            };
            debug_assert_eq!(parsed_weak, tag_weak);
            let hit = tag == current_tag && (weak || (!parsed_weak && !current_weak));
            if hit {
                return true;
            }
            rest = trim(&body[end + 1..]);
            if !rest.starts_with(b",") {
                break;
            }
        }
    }
    false
}

/// The outcome DESIGN.md §1 gives, from a model written without the
/// crate's parser or planner (the `range_header` target checks those
/// against the same model).
pub fn expect_model(case: &Case, kind: Kind, method: &Method) -> Outcome {
    let head = method == Method::HEAD;
    if !(method == Method::GET || head) || case.status != StatusCode::OK {
        return Outcome::Untouched;
    }
    let inner = case.inner_headers(kind);
    let request = &case.request_headers;
    let inner_accept = inner.get(header::ACCEPT_RANGES).cloned();
    let full = |advertise: bool| {
        Outcome::Full(if advertise {
            Some(HeaderValue::from_static("bytes"))
        } else {
            inner_accept.clone()
        })
    };
    if already_partial(&inner) {
        return full(false);
    }
    let refused = lines(&inner, &header::ACCEPT_RANGES)
        .iter()
        .any(|v| v.eq_ignore_ascii_case(b"none"));
    let etag = single(&inner, &header::ETAG).and_then(|v| model_etag(trim(v)));
    let last_modified = single(&inner, &header::LAST_MODIFIED).and_then(parse_http_date);
    let date = single(&inner, &header::DATE).and_then(parse_http_date);
    let request_date = |name| single(request, name).and_then(parse_http_date);

    if case.preconditions {
        let if_match = lines(request, &header::IF_MATCH);
        if !if_match.is_empty() {
            if !model_tag_list(&if_match, etag, false) {
                return Outcome::PreconditionFailed;
            }
        } else if let (Some(since), Some(lm)) =
            (request_date(&header::IF_UNMODIFIED_SINCE), last_modified)
        {
            if lm > since {
                return Outcome::PreconditionFailed;
            }
        }
        let if_none_match = lines(request, &header::IF_NONE_MATCH);
        if !if_none_match.is_empty() {
            if model_tag_list(&if_none_match, etag, true) {
                return Outcome::NotModified;
            }
        } else if let (Some(since), Some(lm)) =
            (request_date(&header::IF_MODIFIED_SINCE), last_modified)
        {
            if lm <= since {
                return Outcome::NotModified;
            }
        }
    }

    let len = case.len();
    let length = match kind {
        // An empty body without Content-Length may be a HEAD's stripped one.
        Kind::Buffered if head && len == 0 => None,
        Kind::Buffered | Kind::StreamWithLength | Kind::Seekable => Some(len),
        Kind::StreamWithoutLength => None,
    };
    let rangeable = !refused && length.is_some();
    let Some(range) = single(request, &header::RANGE) else {
        return full(rangeable); // no Range, or two lines
    };
    if refused {
        return full(false);
    }
    match lines(request, &header::IF_RANGE)[..] {
        [] => {}
        [value] => {
            let date = date.unwrap_or_else(SystemTime::now);
            if !model_if_range(value, etag, last_modified, date) {
                return full(rangeable);
            }
        }
        _ => return full(rangeable),
    }
    let Ok(specs) = model_parse(range, case.max_ranges) else {
        return full(rangeable);
    };
    if length.is_none() && (head || len > case.buffer_limit as u64) {
        // Nothing to learn the length from, or past the buffer limit.
        return full(false);
    }
    let content_type_len = inner.get(header::CONTENT_TYPE).map(HeaderValue::len);
    match model_plan(&specs, len, case.merge_gap, case.slack, content_type_len) {
        Planned::Full => full(true),
        Planned::Unsatisfiable => Outcome::Unsatisfiable,
        Planned::Single(first, last) => Outcome::Single(first, last),
        Planned::Multi(ranges) => {
            let ascending = ranges.windows(2).all(|w| w[0].1 < w[1].0);
            let data_end = ranges.iter().map(|r| r.1 + 1).max().unwrap_or(0);
            let forward_only = matches!(kind, Kind::Buffered | Kind::StreamWithLength);
            if inner.contains_key(header::CONTENT_ENCODING)
                || (forward_only && !ascending && data_end > case.buffer_limit as u64)
            {
                full(true)
            } else {
                Outcome::Multi(ranges)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The target.

fn check_against_plan(case: &Case, kind: Kind, method: &Method, seen: &Seen) -> Outcome {
    let observed = observe(case, kind, method, seen);
    let agree = |expected: &Outcome| match (&observed, expected) {
        // The HEAD's parts are not on the wire.
        (Outcome::Multi(got), Outcome::Multi(_)) if got.is_empty() => method == Method::HEAD,
        (got, want) => got == want,
    };
    let plan = expect_plan(case, kind, method);
    let model = expect_model(case, kind, method);
    assert!(
        agree(&plan) && agree(&model),
        "[{kind:?} {method}] the response is {observed:?}, the plan says {plan:?}, \
         the model says {model:?}\n{case:?}"
    );
    observed
}

/// A seekable or known-length body, or one of unknown length, against the
/// buffered body, for the same `GET`.
fn compare_kinds(
    case: &Case,
    kind: Kind,
    got: &Outcome,
    buffered: &Outcome,
    seen: &Seen,
    reference: &Seen,
) {
    let len = case.len();
    let allowed = match kind {
        // Not bound by the buffer limit for out-of-order parts.
        Kind::Seekable => {
            matches!(buffered, Outcome::Full(_))
                && matches!(got, Outcome::Multi(p) if !p.windows(2).all(|w| w[0].1 < w[1].0) && p.iter().map(|r| r.1 + 1).max().unwrap_or(0) > case.buffer_limit as u64)
        }
        // Cannot advertise ranges it does not know it can serve; past the
        // buffer limit, the full 200.
        Kind::StreamWithoutLength => {
            matches!(got, Outcome::Full(_))
                && (matches!(buffered, Outcome::Full(_)) || len > case.buffer_limit as u64)
        }
        Kind::Buffered | Kind::StreamWithLength => false,
    };
    let same = match (got, buffered) {
        // Accept-Ranges aside (a 200 of unknown length does not advertise).
        (Outcome::Full(_), Outcome::Full(_)) => {
            kind == Kind::StreamWithoutLength || got == buffered
        }
        _ => got == buffered,
    };
    assert!(
        same || allowed,
        "[{kind:?}] {got:?} where the buffered body gets {buffered:?}\n{case:?}"
    );
    if same && !matches!(got, Outcome::Multi(_)) {
        // Same status, same bytes (multipart boundaries differ: their parts
        // were checked byte by byte).
        assert_eq!(seen.status, reference.status);
        assert!(
            seen.body == reference.body,
            "[{kind:?}] other bytes than the buffered body's"
        );
    }
}

/// A `HEAD` against the `GET` it stands for.
fn compare_head(case: &Case, kind: Kind, head: &Seen, get: &Seen) {
    let context = format!(
        "[{kind:?} HEAD] {} {:?} vs GET {} {:?}",
        head.status, head.headers, get.status, get.headers
    );
    if case.status != StatusCode::OK {
        return; // Both untouched, checked by `observe`.
    }
    if kind == Kind::StreamWithoutLength {
        // Without a length a HEAD cannot be planned: the 200 as is, unless
        // a precondition decides first.
        if matches!(get.status.as_u16(), 304 | 412) {
            assert_eq!(head.status, get.status, "{context}");
        } else {
            assert_eq!(head.status, StatusCode::OK, "{context}");
        }
        return;
    }
    assert_eq!(head.status, get.status, "{context}: the status of the GET");
    if kind == Kind::Buffered && case.entity.is_empty() {
        // An empty body without Content-Length looks like a stripped HEAD
        // body: Accept-Ranges may differ.
        assert!(
            same_headers(&head.headers, &get.headers, &[header::ACCEPT_RANGES]),
            "{context}"
        );
        return;
    }
    let multipart = |seen: &Seen| {
        seen.headers.get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes().starts_with(MULTIPART_PREFIX.as_bytes()) && seen.status == 206
        })
    };
    if multipart(get) {
        assert!(multipart(head), "{context}: the GET's multipart type");
        assert!(
            same_headers(&head.headers, &get.headers, &[header::CONTENT_TYPE]),
            "{context}"
        );
    } else {
        assert!(
            same_headers(&head.headers, &get.headers, &[header::CONTENT_LENGTH]),
            "{context}: the GET's headers"
        );
    }
    // The length the GET says, or the one it leaves to its body (its
    // exact size on the wire): a HEAD says it too, or nothing.
    let head_length = head.headers.get(header::CONTENT_LENGTH);
    match get.headers.get(header::CONTENT_LENGTH) {
        Some(get_length) => {
            assert_eq!(head_length, Some(get_length), "{context}: the GET's length");
        }
        None => assert!(
            head_length.is_none_or(|length| *length == HeaderValue::from(get.body.len())),
            "{context}: the length of the GET's body"
        ),
    }
}

/// Runs one input; panics on any violated invariant.
pub fn check(data: &[u8]) {
    let case = Case::decode(data);
    let method = case.method.clone();
    let kind = case.kind;
    let seen = case.exchange(kind, &method);
    if method != Method::GET && method != Method::HEAD {
        observe(&case, kind, &method, &seen);
        return;
    }
    let get = if method == Method::HEAD {
        check_against_plan(&case, kind, &method, &seen);
        let get = case.exchange(kind, &Method::GET);
        compare_head(&case, kind, &seen, &get);
        get
    } else {
        seen
    };
    let outcome = check_against_plan(&case, kind, &Method::GET, &get);
    if kind != Kind::Buffered {
        let reference = case.exchange(Kind::Buffered, &Method::GET);
        let buffered = check_against_plan(&case, Kind::Buffered, &Method::GET, &reference);
        compare_kinds(&case, kind, &outcome, &buffered, &get, &reference);
    }
}
