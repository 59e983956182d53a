//! Criterion benchmarks of `RangeLayer`, in process, no network.
//!
//! Every request goes through a trivial inner service (`tower::service_fn`
//! answering a `Full<Bytes>` clone of a prebuilt body). The futures are all
//! ready on their first poll, so they are driven with `now_or_never` (one
//! poll with a no-op waker) instead of an async runtime: what is measured is
//! the request, the call and the body frames, not a scheduler.
//!
//! - `passthrough_typed/{bare,layer}`: the same with a `Content-Type` on the
//!   inner response, as real responses have;
//! - `passthrough/{bare,layer}`: `GET` without `Range`, 1 KiB body; the two
//!   benches share every line but the layer, so their difference is what
//!   the layer adds to a request it does not rewrite.
//! - `single_byte_near_end/{1KiB,1MiB,1GiB}`: `Range: bytes=L-2-L-2`; must
//!   not grow with the body size (the body is sliced, not read).
//! - `plan/{1,10,1000}`: the pure decision, `parse_range` + `resolve`, over a
//!   10 MB representation, with a deterministic mix of disjoint, overlapping
//!   and adjacent specs in random order.
//! - `multipart/3_parts`: three ranges of a 64 KiB body, end to end.
//!
//! Instruction counts, steadier than time on a busy machine: with
//! `PASSTHROUGH_LOOP=KIND:N` (KIND one of `bare`, `layer`, `typed_bare`,
//! `typed_layer`, or `typed_range` for a 1 KiB range of a 64 KiB body) the
//! binary skips criterion and runs N such requests. Run it under callgrind for two values of N; the difference of
//! the totals over the difference of N is the instructions per request:
//!
//! ```text
//! cargo bench --bench layer --no-run
//! PASSTHROUGH_LOOP=layer:20000 valgrind --tool=callgrind target/release/deps/layer-*
//! ```

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::time::Duration;

use bytes::{Buf, Bytes};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use futures_util::FutureExt;
use http::header::{HeaderValue, CONTENT_TYPE, RANGE};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Service, ServiceExt};
use tower_layer::Layer;
use tower_range::header::parse_range;
use tower_range::plan::{resolve, Resolution};
use tower_range::RangeLayer;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;

/// The inner service: a `200` with a clone of `body` (a reference-count
/// bump), ready at once.
fn inner(
    body: Bytes,
) -> impl Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
> + Clone {
    service_fn(move |_request: Request<()>| {
        let body = body.clone();
        async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
    })
}

/// One whole request: wait for readiness, call, then poll every body frame.
/// Returns the status and the number of data bytes received.
async fn exchange<S, B>(service: &mut S, request: Request<()>) -> (StatusCode, usize)
where
    S: Service<Request<()>, Response = Response<B>>,
    S::Error: Debug,
    B: Body,
    B::Error: Debug,
{
    let response = service
        .ready()
        .await
        .expect("ready")
        .call(request)
        .await
        .expect("response");
    let (head, body) = response.into_parts();
    let mut body = pin!(body);
    let mut received = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("frame");
        if let Some(data) = frame.data_ref() {
            received += data.remaining();
        }
        black_box(&frame);
    }
    black_box(&head);
    (head.status, received)
}

/// Drives `exchange` to completion in one poll; everything is ready.
fn run<S, B>(service: &mut S, request: Request<()>) -> (StatusCode, usize)
where
    S: Service<Request<()>, Response = Response<B>>,
    S::Error: Debug,
    B: Body,
    B::Error: Debug,
{
    exchange(service, request)
        .now_or_never()
        .expect("every future in the bench is ready on its first poll")
}

fn get() -> Request<()> {
    Request::get("/").body(()).expect("request")
}

fn get_range(range: &HeaderValue) -> Request<()> {
    Request::get("/")
        .header(RANGE, range.clone())
        .body(())
        .expect("request")
}

fn passthrough(c: &mut Criterion) {
    let body = Bytes::from(vec![b'x'; KIB]);
    // Each service gets its own clone: both then hold the same kind of
    // `Bytes` (shared, same vtable), so nothing differs but the layer.
    let mut bare = inner(body.clone());
    let mut layered = RangeLayer::new().layer(inner(body.clone()));

    assert_eq!(run(&mut bare, get()), (StatusCode::OK, KIB));
    assert_eq!(run(&mut layered, get()), (StatusCode::OK, KIB));

    let mut group = c.benchmark_group("passthrough");
    group.throughput(Throughput::Bytes(KIB as u64));
    group.bench_function("bare", |b| b.iter(|| run(&mut bare, black_box(get()))));
    group.bench_function("layer", |b| b.iter(|| run(&mut layered, black_box(get()))));
    group.finish();
}

/// The same inner service, but its responses carry a `Content-Type`, as
/// nearly every real response does. The layer's `Accept-Ranges` then fits
/// in the header map the response already allocated; in `passthrough` the
/// map is empty and that one insert costs two allocations.
fn typed_inner(
    body: Bytes,
) -> impl Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
> + Clone {
    service_fn(move |_request: Request<()>| {
        let mut response = Response::new(Full::new(body.clone()));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        async move { Ok::<_, Infallible>(response) }
    })
}

fn passthrough_typed(c: &mut Criterion) {
    let body = Bytes::from(vec![b'x'; KIB]);
    let mut bare = typed_inner(body.clone());
    let mut layered = RangeLayer::new().layer(typed_inner(body.clone()));

    assert_eq!(run(&mut bare, get()), (StatusCode::OK, KIB));
    assert_eq!(run(&mut layered, get()), (StatusCode::OK, KIB));

    let mut group = c.benchmark_group("passthrough_typed");
    group.throughput(Throughput::Bytes(KIB as u64));
    group.bench_function("bare", |b| b.iter(|| run(&mut bare, black_box(get()))));
    group.bench_function("layer", |b| b.iter(|| run(&mut layered, black_box(get()))));
    group.finish();
}

/// What deriving the ETag from the content costs: a full GET of 1 MiB with
/// and without `content_etag` (run with `--features content-etag`).
#[cfg(feature = "content-etag")]
fn content_etag(c: &mut Criterion) {
    let body = Bytes::from((0..MIB).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let mut plain = RangeLayer::new().layer(inner(body.clone()));
    let mut tagged = RangeLayer::new()
        .content_etag(2 * MIB)
        .layer(inner(body.clone()));
    assert_eq!(run(&mut tagged, get()), (StatusCode::OK, MIB));

    let mut group = c.benchmark_group("content_etag");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.bench_function("off_1MiB", |b| b.iter(|| run(&mut plain, black_box(get()))));
    group.bench_function("on_1MiB", |b| b.iter(|| run(&mut tagged, black_box(get()))));
    group.finish();
}

#[cfg(not(feature = "content-etag"))]
fn content_etag(_: &mut Criterion) {}

fn single_byte_near_end(c: &mut Criterion) {
    let mut group = c.benchmark_group("single_byte_near_end");
    group.throughput(Throughput::Bytes(1));
    for (name, size) in [("1KiB", KIB), ("1MiB", MIB), ("1GiB", GIB)] {
        // Allocated once, outside the timing; zeroed pages stay untouched
        // since a range of a `Bytes` body is a slice.
        let body = Bytes::from(vec![0u8; size]);
        let mut service = RangeLayer::new().layer(inner(body));
        let last = size - 2;
        let range = HeaderValue::from_str(&format!("bytes={last}-{last}")).expect("range");
        assert_eq!(
            run(&mut service, get_range(&range)),
            (StatusCode::PARTIAL_CONTENT, 1)
        );
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| run(&mut service, black_box(get_range(&range))))
        });
    }
    group.finish();
}

/// A small deterministic generator (SplitMix64), so every run benches the
/// same header.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A `Range` header of `n` specs over `len` bytes, the way segmented
/// downloaders and media players send them: mostly disjoint ranges of up to
/// 4 KiB in random order, about one in five overlapping or adjacent to an
/// earlier one (merged by `resolve`), and one suffix range when `n >= 10`.
fn range_header(n: usize, len: u64) -> String {
    let mut rng = Rng(0x7261_6e67_6573 ^ n as u64);
    let slot = len / n as u64;
    // Disjoint slots, visited in a shuffled order.
    let mut slots: Vec<u64> = (0..n as u64).collect();
    for i in (1..slots.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        slots.swap(i, j);
    }
    let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(n);
    let mut specs: Vec<String> = Vec::with_capacity(n);
    for (i, &slot_index) in slots.iter().enumerate() {
        let span = (slot / 2).clamp(1, 4096);
        if n >= 10 && i == n / 2 {
            specs.push(format!("-{}", 1 + rng.below(span)));
            continue;
        }
        if !ranges.is_empty() && rng.below(5) == 0 {
            // Overlap (or touch) an earlier range.
            let (first, last) = ranges[rng.below(ranges.len() as u64) as usize];
            let start = if rng.below(2) == 0 {
                first + (last - first) / 2
            } else {
                last + 1
            };
            let end = (start + rng.below(span)).min(len - 1);
            ranges.push((start, end));
            specs.push(format!("{start}-{end}"));
            continue;
        }
        let start = slot_index * slot + rng.below(slot - span);
        let end = start + rng.below(span);
        ranges.push((start, end));
        specs.push(format!("{start}-{end}"));
    }
    format!("bytes={}", specs.join(", "))
}

fn plan(c: &mut Criterion) {
    const LEN: u64 = 10_000_000;
    const MAX_RANGES: usize = 10_000;
    // `application/octet-stream`, repeated by each part.
    const CONTENT_TYPE_LEN: Option<usize> = Some(24);
    let layer = RangeLayer::new().max_ranges(MAX_RANGES);
    let policy = *layer.policy();

    let mut group = c.benchmark_group("plan");
    for n in [1usize, 10, 1000] {
        let header = range_header(n, LEN);
        let set = parse_range(header.as_bytes(), MAX_RANGES).expect("valid header");
        assert_eq!(set.len(), n);
        match resolve(&set, LEN, &policy, CONTENT_TYPE_LEN) {
            Resolution::Single(_) => assert_eq!(n, 1),
            Resolution::Multi(ranges) => assert!(ranges.len() > 1 && ranges.len() < n),
            other => panic!("{n} specs resolved to {other:?}"),
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let set = parse_range(black_box(header.as_bytes()), MAX_RANGES).expect("valid");
                resolve(&set, black_box(LEN), &policy, CONTENT_TYPE_LEN)
            })
        });
    }
    group.finish();
}

fn multipart(c: &mut Criterion) {
    const SIZE: usize = 64 * KIB;
    let body = Bytes::from((0..SIZE).map(|i| i as u8).collect::<Vec<u8>>());
    let mut service = RangeLayer::new().layer(inner(body));
    let range = HeaderValue::from_static("bytes=0-1023,30000-34095,-2048");

    let response = get_range(&range);
    let head = service
        .ready()
        .now_or_never()
        .expect("ready")
        .expect("ready")
        .call(response)
        .now_or_never()
        .expect("response")
        .expect("response");
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert!(head.headers()[CONTENT_TYPE]
        .to_str()
        .expect("content type")
        .starts_with("multipart/byteranges"));
    let (status, received) = run(&mut service, get_range(&range));
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert!(received > 1024 + 4096 + 2048);

    let mut group = c.benchmark_group("multipart");
    group.throughput(Throughput::Bytes(received as u64));
    group.bench_function("3_parts", |b| {
        b.iter(|| run(&mut service, black_box(get_range(&range))))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = passthrough, passthrough_typed, single_byte_near_end, plan, multipart, content_etag
}
/// `PASSTHROUGH_LOOP=KIND:N`: N pass-through requests, no criterion.
fn passthrough_loop(spec: &str) {
    let (kind, count) = spec.split_once(':').expect("PASSTHROUGH_LOOP=KIND:N");
    let count: usize = count.parse().expect("N is a number");
    let body = Bytes::from(vec![b'x'; KIB]);
    let mut received = 0;
    match kind {
        "bare" => {
            let mut service = inner(body);
            for _ in 0..count {
                received += run(&mut service, black_box(get())).1;
            }
        }
        "layer" => {
            let mut service = RangeLayer::new().layer(inner(body));
            for _ in 0..count {
                received += run(&mut service, black_box(get())).1;
            }
        }
        "typed_bare" => {
            let mut service = typed_inner(body);
            for _ in 0..count {
                received += run(&mut service, black_box(get())).1;
            }
        }
        "typed_layer" => {
            let mut service = RangeLayer::new().layer(typed_inner(body));
            for _ in 0..count {
                received += run(&mut service, black_box(get())).1;
            }
        }
        "typed_range" => {
            // Not a pass-through: one 1 KiB range of a 64 KiB body, the
            // request of the `range-1KiB` load scenario.
            let body = Bytes::from(vec![b'x'; 64 * KIB]);
            let mut service = RangeLayer::new().layer(typed_inner(body));
            let range = HeaderValue::from_static("bytes=1000-2023");
            for _ in 0..count {
                received += run(&mut service, black_box(get_range(&range))).1;
            }
        }
        other => panic!("unknown PASSTHROUGH_LOOP kind `{other}`"),
    }
    assert_eq!(received, count * KIB);
}

fn main() {
    if let Ok(spec) = std::env::var("PASSTHROUGH_LOOP") {
        passthrough_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
