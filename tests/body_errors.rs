//! Body errors. An inner body that fails part-way, or a seekable source that
//! ends before its announced length, must reach the client as an error
//! frame (on the wire: a body shorter than its `Content-Length`), never as a
//! complete-looking `206`. When the failure comes after the last byte a
//! range needs, the layer has stopped reading by then, and a complete `206`
//! is the right answer.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, StreamBody};
use tokio::net::{TcpListener, TcpStream};
use tower::{Layer, ServiceExt};
use tower_range::source::{RangeSource, SeekableSource, SourceReader};
use tower_range::{BoxError, RangeLayer};

/// Length of the entity every test serves.
const LEN: usize = 100;

fn entity() -> Bytes {
    (0..LEN)
        .map(|i| (i as u8).wrapping_mul(37) ^ 0x5a)
        .collect::<Vec<u8>>()
        .into()
}

type Chunked =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, io::Error>>>>;

/// The entity's first `n` bytes in frames of `chunk` bytes, then an error.
fn failing(n: usize, chunk: usize) -> Chunked {
    frames(n, chunk, true)
}

/// The entity's first `n` bytes in frames of `chunk` bytes, then an error
/// or a clean end.
fn frames(n: usize, chunk: usize, error: bool) -> Chunked {
    let entity = entity();
    let mut frames: Vec<Result<Frame<Bytes>, io::Error>> = (0..n)
        .step_by(chunk)
        .map(|at| Ok(Frame::data(entity.slice(at..(at + chunk).min(n)))))
        .collect();
    if error {
        frames.push(Err(io::Error::other(format!(
            "the inner body failed after {n} bytes"
        ))));
    }
    StreamBody::new(futures_util::stream::iter(frames))
}

fn failing_response(n: usize, chunk: usize, content_length: bool) -> Response<Chunked> {
    let mut response = Response::new(failing(n, chunk));
    if content_length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, LEN.into());
    }
    response
}

/// What a client reads: every data frame up to the end or the first error.
#[derive(Debug)]
struct Received {
    status: StatusCode,
    headers: HeaderMap,
    /// The body's exact size hint before the first frame: what a server
    /// turns into `Content-Length` when the header is absent.
    exact_size: Option<u64>,
    data: Vec<u8>,
    error: Option<BoxError>,
}

impl Received {
    fn content_length(&self) -> Option<usize> {
        self.headers
            .get(header::CONTENT_LENGTH)
            .map(|v| v.to_str().unwrap().parse().unwrap())
    }

    fn boundary(&self) -> Option<String> {
        let value = self.headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        value
            .strip_prefix("multipart/byteranges; boundary=")
            .map(str::to_owned)
    }
}

async fn fetch<B>(layer: RangeLayer, range: Option<&str>, response: Response<B>) -> Received
where
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let mut request = Request::get("/");
    if let Some(range) = range {
        request = request.header(header::RANGE, range);
    }
    let mut slot = Some(response);
    let inner = tower::service_fn(move |_: Request<()>| {
        std::future::ready(Ok::<_, Infallible>(slot.take().expect("called once")))
    });
    let response = layer
        .layer(inner)
        .oneshot(request.body(()).unwrap())
        .await
        .unwrap();
    let (head, body) = response.into_parts();
    let exact_size = body.size_hint().exact();
    let mut body = Box::pin(body);
    let mut data = Vec::new();
    let mut error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(chunk) = frame.into_data() {
                    data.extend_from_slice(&chunk);
                }
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    Received {
        status: head.status,
        headers: head.headers,
        exact_size,
        data,
        error,
    }
}

/// The complete `206` body for `ranges` (no `Content-Type` on the inner
/// response, so none in the parts), in the framing of DESIGN.md.
fn partial_body(ranges: &[(usize, usize)], boundary: Option<&str>) -> Vec<u8> {
    let entity = entity();
    match (ranges, boundary) {
        ([(first, last)], None) => entity[*first..=*last].to_vec(),
        (_, Some(boundary)) => {
            let mut body = Vec::new();
            for &(first, last) in ranges {
                body.extend_from_slice(
                    format!(
                        "\r\n--{boundary}\r\nContent-Range: bytes {first}-{last}/{LEN}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(&entity[first..=last]);
            }
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            body
        }
        _ => panic!("several ranges without a multipart boundary"),
    }
}

/// Ranges as the response sends them, in its order.
type Ranges = &'static [(usize, usize)];

/// The range requests of the matrix, with the ranges they resolve to in the
/// order of the response.
const RANGES: &[(&str, Ranges)] = &[
    ("bytes=20-39", &[(20, 39)]),
    ("bytes=0-0", &[(0, 0)]),
    ("bytes=-10", &[(90, 99)]),
    ("bytes=60-", &[(60, 99)]),
    ("bytes=10-19,50-59", &[(10, 19), (50, 59)]),
    ("bytes=0-9,90-99", &[(0, 9), (90, 99)]),
    // Out of order over a forward-only body: held in memory up to byte 59.
    ("bytes=50-59,10-19", &[(50, 59), (10, 19)]),
];

/// Failure points around every range edge: before a range, at its first
/// byte, inside, at its last byte (that byte missing), just after it (every
/// needed byte delivered), and at the end of the entity.
fn failure_points(ranges: &[(usize, usize)]) -> Vec<usize> {
    let mut points = vec![0, LEN - 1, LEN];
    for &(first, last) in ranges {
        points.extend([
            first.saturating_sub(1),
            first,
            first + 1,
            (first + last) / 2,
            last,
            last + 1,
            last + 2,
        ]);
    }
    points.retain(|&n| n <= LEN);
    points.sort_unstable();
    points.dedup();
    points
}

/// The core assertion: `seen` is a complete, correct `206` when every byte
/// the ranges need came before the failure (and Content-Length is known),
/// and otherwise an error frame after a strict prefix of what the status
/// promises.
fn check(seen: &Received, ranges: &[(usize, usize)], failed_after: usize, length_known: bool) {
    let needed_end = ranges.iter().map(|r| r.1 + 1).max().unwrap();
    let context = format!("{ranges:?}, failure after {failed_after} bytes, {seen:?}");
    if length_known && failed_after >= needed_end {
        assert_eq!(seen.status, StatusCode::PARTIAL_CONTENT, "{context}");
        assert!(seen.error.is_none(), "needless error: {context}");
        let expected = partial_body(ranges, seen.boundary().as_deref());
        assert!(seen.data == expected, "wrong 206 body: {context}");
        assert_eq!(seen.content_length(), Some(seen.data.len()), "{context}");
        return;
    }
    assert!(
        seen.error.is_some(),
        "a failed inner body ended cleanly: {context}"
    );
    if let Some(length) = seen.content_length() {
        assert!(seen.data.len() < length, "{context}");
    }
    match seen.status {
        StatusCode::PARTIAL_CONTENT => {
            let expected = partial_body(ranges, seen.boundary().as_deref());
            assert!(
                seen.data.len() < expected.len() && expected.starts_with(&seen.data),
                "not a strict prefix of the 206 body: {context}"
            );
        }
        // The full 200: every byte the inner body gave, then its error.
        StatusCode::OK => {
            assert_eq!(seen.data, &entity()[..failed_after], "{context}")
        }
        status => panic!("status {status}: {context}"),
    }
}

#[tokio::test]
async fn inner_body_errors_with_known_length() {
    let mut checked = 0;
    for &(range, ranges) in RANGES {
        for n in failure_points(ranges) {
            for chunk in [1, 7, 64, LEN] {
                let seen = fetch(
                    RangeLayer::new(),
                    Some(range),
                    failing_response(n, chunk, true),
                )
                .await;
                check(&seen, ranges, n, true);
                checked += 1;
            }
        }
    }
    assert!(checked > 200);
}

#[tokio::test]
async fn an_inner_body_shorter_than_its_content_length_is_a_body_error() {
    // A clean end before the announced length is a failure too: the bytes
    // a range needs never came.
    for &(range, ranges) in RANGES {
        for n in failure_points(ranges) {
            for chunk in [1, 7, LEN] {
                let mut response = Response::new(frames(n, chunk, false));
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, LEN.into());
                let seen = fetch(RangeLayer::new(), Some(range), response).await;
                check(&seen, ranges, n, true);
                assert_no_false_length(&seen, &format!("{range} ending at {n}"));
            }
        }
    }
}

#[tokio::test]
async fn inner_body_errors_with_unknown_length() {
    // The layer reads to the end to learn the length: it always meets the
    // error, and must pass it on.
    for &(range, ranges) in RANGES {
        for n in failure_points(ranges) {
            for chunk in [1, 7, LEN] {
                let seen = fetch(
                    RangeLayer::new(),
                    Some(range),
                    failing_response(n, chunk, false),
                )
                .await;
                check(&seen, ranges, n, false);
                assert_eq!(seen.status, StatusCode::OK, "{range} at {n}: {seen:?}");
            }
        }
    }
}

/// A server frames a body by its `Content-Length`, or else by its exact size
/// hint: a body that fails must not announce, either way, the length of what
/// it delivers before failing, or the cut-short body looks complete.
fn assert_no_false_length(seen: &Received, what: &str) {
    if seen.error.is_some() {
        let delivered = Some(seen.data.len() as u64);
        let announced = seen
            .content_length()
            .map(|length| length as u64)
            .or(seen.exact_size);
        assert_ne!(
            announced,
            delivered,
            "{what}: a failed body announces exactly the {} bytes it delivered: {seen:?}",
            seen.data.len()
        );
    }
}

#[tokio::test]
async fn failed_bodies_with_known_length_announce_no_false_length() {
    for &(range, ranges) in RANGES {
        for n in failure_points(ranges) {
            let seen = fetch(RangeLayer::new(), Some(range), failing_response(n, 7, true)).await;
            assert_no_false_length(&seen, &format!("{range} failing at {n}"));
        }
    }
}

#[tokio::test]
async fn failed_bodies_with_unknown_length_announce_no_false_length() {
    for &(range, ranges) in RANGES {
        for n in failure_points(ranges) {
            let seen = fetch(
                RangeLayer::new(),
                Some(range),
                failing_response(n, 7, false),
            )
            .await;
            assert_no_false_length(&seen, &format!("{range} failing at {n}"));
        }
    }
}

#[tokio::test]
async fn inner_body_errors_past_the_buffer_limit() {
    // Unknown length past the limit: the 200 goes out with the buffered
    // prefix, then the rest of the stream, then the error.
    for n in [0, 10, 11, 40, 99, 100] {
        let layer = RangeLayer::new().buffer_limit(10);
        let seen = fetch(layer, Some("bytes=0-4"), failing_response(n, 3, false)).await;
        assert_eq!(seen.status, StatusCode::OK, "at {n}: {seen:?}");
        assert!(seen.error.is_some(), "at {n}: {seen:?}");
        assert_eq!(seen.data, &entity()[..n], "at {n}");
    }
    // Out of order, known length, past the limit before the last needed
    // byte: the full 200 again, and the error.
    for n in [0, 30, 55] {
        let layer = RangeLayer::new().buffer_limit(20);
        let seen = fetch(
            layer,
            Some("bytes=50-59,10-19"),
            failing_response(n, 5, true),
        )
        .await;
        assert!(seen.error.is_some(), "at {n}: {seen:?}");
        assert!(seen.data.len() < LEN, "at {n}: {seen:?}");
        check(&seen, &[(50, 59), (10, 19)], n, true);
    }
}

#[tokio::test]
async fn controls_that_do_not_read_the_body() {
    // 416: nothing is read, so the failure never shows.
    let seen = fetch(
        RangeLayer::new(),
        Some("bytes=200-"),
        failing_response(0, 1, true),
    )
    .await;
    assert_eq!(seen.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert!(seen.error.is_none() && seen.data.is_empty(), "{seen:?}");
    // No Range: the 200 passes the error through.
    for content_length in [true, false] {
        let seen = fetch(
            RangeLayer::new(),
            None,
            failing_response(30, 7, content_length),
        )
        .await;
        assert_eq!(seen.status, StatusCode::OK);
        assert!(seen.error.is_some(), "{seen:?}");
        assert_eq!(seen.data, &entity()[..30]);
    }
}

// ---------------------------------------------------------------------------
// Seekable sources that fail.

/// A source that claims `LEN` bytes but holds only `data`; past it the
/// reader returns an empty chunk (EOF), or an error when `fail` is set.
struct Short {
    data: Bytes,
    fail: bool,
}

struct ShortReader {
    data: Bytes,
    fail: bool,
}

impl SeekableSource for Short {
    fn len(&self) -> u64 {
        LEN as u64
    }

    fn open(&self) -> io::Result<Box<dyn SourceReader>> {
        Ok(Box::new(ShortReader {
            data: self.data.clone(),
            fail: self.fail,
        }))
    }
}

impl SourceReader for ShortReader {
    fn poll_read_at(
        &mut self,
        _cx: &mut Context<'_>,
        offset: u64,
        max_len: usize,
    ) -> Poll<io::Result<Bytes>> {
        let offset = offset as usize;
        if offset >= self.data.len() {
            return Poll::Ready(if self.fail {
                Err(io::Error::other("the disk is on fire"))
            } else {
                Ok(Bytes::new())
            });
        }
        let end = self.data.len().min(offset + max_len.min(7));
        Poll::Ready(Ok(self.data.slice(offset..end)))
    }
}

/// How many bytes the short sources really hold.
const SHORT: usize = 60;

#[tokio::test]
async fn a_source_that_ends_early_is_a_body_error() {
    let cases: &[(Option<&str>, Ranges)] = &[
        (Some("bytes=10-19"), &[(10, 19)]),
        (Some("bytes=0-59"), &[(0, 59)]),
        (Some("bytes=50-79"), &[(50, 79)]),
        (Some("bytes=59-60"), &[(59, 60)]),
        (Some("bytes=70-79"), &[(70, 79)]),
        (Some("bytes=-10"), &[(90, 99)]),
        (Some("bytes=10-19,50-59"), &[(10, 19), (50, 59)]),
        (Some("bytes=10-19,70-79"), &[(10, 19), (70, 79)]),
        (Some("bytes=70-79,10-19"), &[(70, 79), (10, 19)]),
        (None, &[(0, 99)]),
    ];
    for fail in [false, true] {
        for &(range, ranges) in cases {
            let source = Short {
                data: entity().slice(..SHORT),
                fail,
            };
            let response = RangeSource::new(source).into_response();
            assert_eq!(response.headers()[header::CONTENT_LENGTH], "100");
            let seen = fetch(RangeLayer::new(), range, response).await;
            let context = format!("{range:?}, fail={fail}: {seen:?}");
            if range.is_none() {
                // The 200 streams the source itself, and must fail the same.
                assert_eq!(seen.status, StatusCode::OK, "{context}");
                assert!(seen.error.is_some(), "{context}");
                assert_eq!(seen.data, &entity()[..SHORT], "{context}");
                continue;
            }
            assert_eq!(seen.status, StatusCode::PARTIAL_CONTENT, "{context}");
            check(&seen, ranges, SHORT, true);
        }
    }
}

/// A source that will not open.
struct Unopenable;

impl SeekableSource for Unopenable {
    fn len(&self) -> u64 {
        LEN as u64
    }

    fn open(&self) -> io::Result<Box<dyn SourceReader>> {
        Err(io::Error::other("permission denied"))
    }
}

#[tokio::test]
async fn a_source_that_will_not_open_is_a_body_error() {
    for range in [Some("bytes=0-9"), Some("bytes=0-9,20-29"), None] {
        let response = RangeSource::new(Unopenable).into_response();
        let seen = fetch(RangeLayer::new(), range, response).await;
        assert!(seen.error.is_some(), "{range:?}: {seen:?}");
        assert!(seen.data.is_empty(), "{range:?}: {seen:?}");
        assert_ne!(seen.content_length(), Some(0), "{range:?}: {seen:?}");
    }
}

// ---------------------------------------------------------------------------
// Over a real connection: hyper aborts the connection on a body error, and
// the hyper client sees an error or an incomplete body.

/// Serves the entity, failing after 30 bytes in frames of 7, with
/// `Content-Length` on `/length` and without it on `/chunked`.
async fn failing_server() -> SocketAddr {
    let service = RangeLayer::new().layer(tower::service_fn(
        |request: Request<hyper::body::Incoming>| async move {
            let known = request.uri().path() == "/length";
            Ok::<_, Infallible>(failing_response(30, 7, known))
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// What the client got: no response at all, or a head and the body result.
enum Fetched {
    NoResponse(hyper::Error),
    Response {
        status: StatusCode,
        content_length: Option<usize>,
        body: Result<Bytes, hyper::Error>,
    },
}

async fn client_get(addr: SocketAddr, path: &str, range: &str) -> Fetched {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(path)
        .header(header::HOST, "test")
        .header(header::RANGE, range)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(error) => return Fetched::NoResponse(error),
    };
    let status = response.status();
    let content_length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes());
    Fetched::Response {
        status,
        content_length,
        body,
    }
}

/// Asserts the client could not take the response for a complete one.
fn assert_incomplete(fetched: &Fetched, expected_status: StatusCode, what: &str) {
    match fetched {
        // hyper may abort before the head is flushed: still an error.
        Fetched::NoResponse(_) => {}
        Fetched::Response {
            status,
            content_length,
            body,
        } => {
            assert_eq!(*status, expected_status, "{what}");
            match body {
                Err(_) => {}
                Ok(body) => assert!(
                    content_length.is_some_and(|length| body.len() < length),
                    "{what}: the client read a complete-looking body of {} bytes \
                     (Content-Length {content_length:?})",
                    body.len()
                ),
            }
        }
    }
}

#[tokio::test]
async fn a_hyper_client_sees_the_failure() {
    let addr = failing_server().await;
    let entity = entity();

    // Error inside a single range: the 206 head promised 40 bytes.
    let fetched = client_get(addr, "/length", "bytes=20-59").await;
    if let Fetched::Response { content_length, .. } = &fetched {
        assert_eq!(*content_length, Some(40));
    }
    assert_incomplete(&fetched, StatusCode::PARTIAL_CONTENT, "single range");

    // Error in the second part of a multipart.
    let fetched = client_get(addr, "/length", "bytes=0-9,40-49").await;
    assert_incomplete(&fetched, StatusCode::PARTIAL_CONTENT, "multipart");

    // Out of order over a forward-only body, failing while the layer holds
    // the bytes back: the full 200 (Content-Length 100), cut short.
    let fetched = client_get(addr, "/length", "bytes=50-59,10-19").await;
    assert_incomplete(&fetched, StatusCode::OK, "out of order");

    // Control: every needed byte comes before the failure, and the layer
    // stops reading there: a complete 206 over the same failing body.
    match client_get(addr, "/length", "bytes=0-19").await {
        Fetched::Response {
            status,
            content_length,
            body: Ok(body),
        } => {
            assert_eq!(status, StatusCode::PARTIAL_CONTENT);
            assert_eq!(content_length, Some(20));
            assert_eq!(body, entity.slice(..20));
        }
        Fetched::Response { body: Err(e), .. } => panic!("control failed: {e}"),
        Fetched::NoResponse(e) => panic!("control failed: {e}"),
    }
}

#[tokio::test]
async fn a_hyper_client_sees_a_failure_while_the_length_is_learned() {
    let addr = failing_server().await;
    // Unknown length: the layer meets the error while buffering and sends
    // the 200 it has, then the error. The client must not take the 30
    // bytes before the error for the whole representation.
    let fetched = client_get(addr, "/chunked", "bytes=0-9").await;
    assert_incomplete(&fetched, StatusCode::OK, "unknown length");
}
