//! Hostile Range headers: each gets a small, correct answer, with work and
//! memory bounded by the size of the header (checked by counting
//! allocations, never by timing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, ServiceExt};
use tower_layer::Layer;
use tower_range::header::parse_range;
use tower_range::plan::{resolve, Resolution};
use tower_range::RangeLayer;

/// Counts the bytes each thread allocates (the one `unsafe` of the project:
/// `GlobalAlloc` is an unsafe trait, and this test needs to see allocations), so a test can bound the memory a
/// request makes the layer use (tests run in parallel: a global count would
/// mix them up).
struct Counting;

thread_local! {
    static THREAD_ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

/// Bytes allocated so far by this thread.
fn allocated() -> usize {
    THREAD_ALLOCATED.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = THREAD_ALLOCATED.try_with(|count| count.set(count.get() + layout.size()));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const LEN: usize = 10_000;
const SLACK: usize = 1024;

fn entity() -> Bytes {
    Bytes::from((0..LEN).map(|i| (i * 7 % 256) as u8).collect::<Vec<_>>())
}

/// Sends one GET with the given Range lines through the layer (in process,
/// everything ready at once) and returns the status, headers, body and the
/// bytes allocated while handling it.
fn send(layer: RangeLayer, ranges: &[HeaderValue]) -> (Response<()>, Bytes, usize) {
    let body = entity();
    let service = layer.layer(service_fn(move |_req: Request<()>| {
        let body = body.clone();
        async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
    }));
    let mut request = Request::get("/");
    for value in ranges {
        request = request.header(header::RANGE, value.clone());
    }
    exchange(service, request.body(()).unwrap())
}

/// Sends `request` to `service` and reads the whole body, everything ready
/// at once; returns the head, the body and the bytes allocated meanwhile.
fn exchange<S, B>(service: S, request: Request<()>) -> (Response<()>, Bytes, usize)
where
    S: tower::Service<Request<()>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let before = allocated();
    let response = service
        .oneshot(request)
        .now_or_never()
        .expect("ready")
        .unwrap();
    let (head, body) = response.into_parts();
    let bytes = body
        .collect()
        .now_or_never()
        .expect("ready")
        .unwrap()
        .to_bytes();
    let spent = allocated() - before;
    (Response::from_parts(head, ()), bytes, spent)
}

fn value(s: impl Into<Vec<u8>>) -> HeaderValue {
    HeaderValue::from_bytes(&s.into()).unwrap()
}

fn assert_small_and_correct(name: &str, response: &Response<()>, body: &Bytes) {
    let status = response.status();
    assert!(
        [
            StatusCode::OK,
            StatusCode::PARTIAL_CONTENT,
            StatusCode::RANGE_NOT_SATISFIABLE
        ]
        .contains(&status),
        "{name}: {status}"
    );
    assert!(body.len() <= LEN + SLACK, "{name}: {} bytes", body.len());
    if let Some(length) = response.headers().get(header::CONTENT_LENGTH) {
        assert_eq!(length.to_str().unwrap(), body.len().to_string(), "{name}");
    }
    if status == StatusCode::OK {
        assert_eq!(body, &entity(), "{name}");
    }
}

#[test]
fn ten_thousand_specs_get_the_full_200_and_cost_little() {
    let header = format!(
        "bytes={}",
        (0..10_000)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (response, body, allocated) = send(RangeLayer::new(), &[value(header.clone())]);
    assert_eq!(response.status(), StatusCode::OK);
    assert_small_and_correct("10k specs", &response, &body);
    // The parser stops at spec 101: no per-spec allocation at all.
    assert!(allocated < 16 * 1024, "allocated {allocated} bytes");
}

#[test]
fn huge_numerals_saturate() {
    let digits = "9".repeat(64 * 1024);
    for (name, header, status) in [
        (
            "64 KiB first",
            format!("bytes={digits}-"),
            StatusCode::RANGE_NOT_SATISFIABLE,
        ),
        (
            "64 KiB last",
            format!("bytes=0-{digits}"),
            StatusCode::PARTIAL_CONTENT,
        ),
        (
            "64 KiB suffix",
            format!("bytes=-{digits}"),
            StatusCode::PARTIAL_CONTENT,
        ),
        (
            "u64::MAX",
            format!("bytes={}-{}", u64::MAX, u64::MAX),
            StatusCode::RANGE_NOT_SATISFIABLE,
        ),
        (
            "u64::MAX suffix",
            format!("bytes=-{}", u64::MAX),
            StatusCode::PARTIAL_CONTENT,
        ),
        (
            "u64::MAX + 1",
            "bytes=0-18446744073709551616".to_string(),
            StatusCode::PARTIAL_CONTENT,
        ),
        // Both ends past u64::MAX: the numbers, not their saturated
        // values, decide whether `last < first` (invalid syntax: 200).
        (
            "u64::MAX + 1 to u64::MAX",
            "bytes=18446744073709551616-18446744073709551615".to_string(),
            StatusCode::OK,
        ),
        (
            "a valid range, then huge ones in the wrong order",
            "bytes=0-1,99999999999999999999-18446744073709551616".to_string(),
            StatusCode::OK,
        ),
        (
            "huge ones in order",
            "bytes=18446744073709551616-99999999999999999999".to_string(),
            StatusCode::RANGE_NOT_SATISFIABLE,
        ),
    ] {
        let (response, body, allocated) = send(RangeLayer::new(), &[value(header)]);
        assert_eq!(response.status(), status, "{name}");
        assert_small_and_correct(name, &response, &body);
        assert!(allocated < 16 * 1024, "{name}: allocated {allocated} bytes");
        if status == StatusCode::PARTIAL_CONTENT {
            assert_eq!(
                response.headers()[header::CONTENT_RANGE],
                "bytes 0-9999/10000",
                "{name}"
            );
        }
    }
}

#[test]
fn repeated_whole_ranges_never_amplify() {
    // `bytes=0-,0-,0-,...`: merged into one range, the whole entity once.
    let header = format!("bytes={}", vec!["0-"; 100].join(","));
    let (response, body, _) = send(RangeLayer::new(), &[value(header)]);
    assert_small_and_correct("0- x100", &response, &body);
    assert_eq!(body.len(), LEN);
}

#[test]
fn overlapping_descending_ranges_apache_killer_shape() {
    // The shape of CVE-2011-3192: many overlapping ranges, descending.
    let header = format!(
        "bytes=0-,{}",
        (1..100)
            .map(|i| format!("{}-{}", 5 * i, LEN - 1))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (response, body, allocated) = send(RangeLayer::new(), &[value(header)]);
    assert_small_and_correct("apache killer", &response, &body);
    assert_eq!(body.len(), LEN, "merged into the whole entity once");
    assert!(allocated < 64 * 1024, "allocated {allocated} bytes");

    // Disjoint one-byte ranges spread over the entity: the multipart would
    // outgrow the entity, so the full 200 goes out.
    let header = format!(
        "bytes={}",
        (0..100)
            .rev()
            .map(|i| format!("{}-{}", i * 100, i * 100))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (response, body, _) = send(RangeLayer::new(), &[value(header)]);
    assert_small_and_correct("100 one-byte ranges", &response, &body);
}

#[test]
fn non_ascii_and_non_utf8_bytes_are_ignored() {
    for raw in [
        &b"bytes=0-\xff"[..],
        b"bytes=\xc3\xa90-4",
        b"bytes=0-4,\x80",
        "bytes=٠-٤".as_bytes(),
        b"\xffbytes=0-4",
    ] {
        let (response, body, _) = send(RangeLayer::new(), &[value(raw)]);
        assert_eq!(response.status(), StatusCode::OK, "{raw:?}");
        assert_small_and_correct("non-ASCII", &response, &body);
    }
}

#[test]
fn two_range_lines_are_ignored() {
    let (response, body, _) = send(
        RangeLayer::new(),
        &[value("bytes=0-4"), value("bytes=10-14")],
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_small_and_correct("two lines", &response, &body);
}

/// Planning memory grows linearly with the number of specs (the sort is
/// in place), checked at two sizes; no timing involved.
#[test]
fn planning_work_is_linear_in_memory_and_bounded() {
    let policy = *RangeLayer::new().max_ranges(1_000_000).policy();
    let mut per_spec = Vec::new();
    for n in [1_000usize, 100_000] {
        // Descending, overlapping every other: the sort and merge both work.
        let header = format!(
            "bytes={}",
            (0..n)
                .rev()
                .map(|i| format!("{}-{}", i * 3, i * 3 + 3))
                .collect::<Vec<_>>()
                .join(",")
        );
        let set = parse_range(header.as_bytes(), 1_000_000).unwrap();
        let before = allocated();
        let resolution = resolve(&set, u64::MAX, &policy, None);
        let spent = allocated() - before;
        assert_eq!(
            resolution,
            Resolution::Single(tower_range::header::ByteRange {
                first: 0,
                last: n as u64 * 3
            })
        );
        per_spec.push(spent as f64 / n as f64);
    }
    // At most a few words per spec, and no worse per spec at 100x the size.
    assert!(per_spec[0] < 128.0 && per_spec[1] < 128.0, "{per_spec:?}");
    assert!(per_spec[1] <= per_spec[0] * 1.5, "{per_spec:?}");
}

/// A reader that hands out at most 100 bytes per read, as a network-backed
/// `AsyncRead` hands out a segment at a time.
#[cfg(feature = "tokio")]
struct Trickle(std::io::Cursor<Vec<u8>>);

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let mut small = buf.take(100);
        let poll = std::pin::Pin::new(&mut self.0).poll_read(cx, &mut small);
        let filled = small.filled().len();
        buf.advance(filled);
        poll
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncSeek for Trickle {
    fn start_seek(
        mut self: std::pin::Pin<&mut Self>,
        position: std::io::SeekFrom,
    ) -> std::io::Result<()> {
        std::pin::Pin::new(&mut self.0).start_seek(position)
    }
    fn poll_complete(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<u64>> {
        std::pin::Pin::new(&mut self.0).poll_complete(cx)
    }
}

/// Short reads from a `ReaderSource` cost their own bytes, not a read
/// buffer each: 1 000 reads of 100 bytes once made (and kept alive, one per
/// chunk) 1 000 buffers of 64 KiB, copying each one's stale bytes.
#[cfg(feature = "tokio")]
#[test]
fn short_reads_from_a_reader_source_do_not_cost_a_buffer_each() {
    use tower_range::source::{RangeSource, ReaderSource};
    let data: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let source = RangeSource::new(ReaderSource::new(
        Trickle(std::io::Cursor::new(data.clone())),
        data.len() as u64,
    ));
    let slot = std::sync::Mutex::new(Some(source.into_response()));
    let service = RangeLayer::new().layer(service_fn(move |_req: Request<()>| {
        let response = slot.lock().unwrap().take().unwrap();
        async move { Ok::<_, Infallible>(response) }
    }));
    let request = Request::get("/")
        .header(header::RANGE, "bytes=0-99999")
        .body(())
        .unwrap();
    let (head, body, spent) = exchange(service, request);
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], &data[..100_000]);
    // The bytes themselves (collected twice: frames, then one Bytes), one
    // read buffer, and change.
    assert!(
        spent < 1024 * 1024,
        "allocated {spent} bytes for a 100 KB range"
    );
}
