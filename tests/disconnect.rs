//! Client disconnects: a client that goes away in the middle of a response
//! leaves nothing behind on the server.
//!
//! A real hyper server (hyper-util's auto builder: HTTP/1.1 and h2c) with
//! [`RangeLayer`] listens on loopback. A client asks for a range, reads a
//! part of the answer and drops or resets the connection (HTTP/1.1), or
//! cancels one stream of a kept connection (HTTP/2). Then, waiting for each
//! condition in a bounded loop (polled every few milliseconds; the cap is
//! generous and reaching it fails the test), the test checks that
//!
//! - every source, source reader and generated body was dropped (each holds
//!   an [`Alive`] guard that decrements a shared counter on drop);
//! - the process has as many open file descriptors as before the request
//!   (`/proc/self/fd`, Linux only);
//! - the runtime has as many alive tasks as before
//!   (`RuntimeMetrics::num_alive_tasks`), and every connection task the
//!   server spawned has ended (counted by a guard in the task).
//!
//! Every test holds [`SERIAL`] (see [`serially`]): the descriptor count is
//! process-wide, so no other test of this binary may open or close files
//! meanwhile. Each test has its own runtime, so task counts do not
//! interfere.
#![cfg(feature = "tokio")]

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tower::ServiceBuilder;
use tower_range::source::{FileSource, RangeSource, ReaderSource, SeekableSource, SourceReader};
use tower_range::RangeLayer;

type BoxBody = UnsyncBoxBody<Bytes, io::Error>;

/// One test at a time: the descriptor count is shared by the process.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs one test on a runtime of its own, holding [`SERIAL`] from before
/// the runtime exists until after it is shut down: creating and dropping a
/// runtime opens and closes descriptors (its poller, its waker), which a
/// test running meanwhile would count.
fn serially(test: impl Future<Output = ()>) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(test);
    drop(runtime);
}

/// Length of the file and of the generated bodies of the disconnect cases:
/// far more than loopback socket buffers hold, so the response is still
/// being produced when the client leaves (each case checks that).
const LEN: u64 = 256 * 1024 * 1024;

/// How much of the body the disconnecting clients read before leaving.
const READ_BEFORE_LEAVING: usize = 64 * 1024;

/// Chunk size of the generated bodies.
const CHUNK: usize = 16 * 1024;

/// Where the stalling body stops producing: inside the layer's default
/// 1 MiB `buffer_limit`, so the layer is still buffering to learn the length.
const STALL_AT: u64 = 256 * 1024;

/// The content at `offset` of the generated bodies and of the first
/// [`PATTERN_PREFIX`] bytes of the test file (the rest of the file is a
/// sparse hole of zeros).
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

const PATTERN_PREFIX: u64 = 1024 * 1024;

fn expected_byte(route: &str, offset: u64) -> u8 {
    let generated = route.starts_with("/stream");
    if generated || offset < PATTERN_PREFIX {
        pattern(offset)
    } else {
        0
    }
}

// ---------------------------------------------------------------------------
// Counting what is alive
// ---------------------------------------------------------------------------

/// What the server has alive and has produced.
#[derive(Debug, Default)]
struct Counters {
    /// Sources, source readers and generated bodies alive right now.
    alive: AtomicUsize,
    /// How many were created in total.
    created: AtomicUsize,
    /// Bytes handed out by source readers and generated bodies.
    produced: AtomicU64,
    /// Connection tasks running right now.
    connections: AtomicUsize,
}

/// Counts one live object in [`Counters::alive`] until dropped.
#[derive(Debug)]
struct Alive(Arc<Counters>);

impl Alive {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.alive.fetch_add(1, Ordering::SeqCst);
        counters.created.fetch_add(1, Ordering::SeqCst);
        Alive(counters.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running connection task, counted in [`Counters::connections`].
struct ConnectionGuard(Arc<Counters>);

impl ConnectionGuard {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(counters.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A [`SeekableSource`] that counts itself, its readers and their bytes.
struct CountingSource<S> {
    inner: S,
    counters: Arc<Counters>,
    _alive: Alive,
}

impl<S: SeekableSource> CountingSource<S> {
    fn new(inner: S, counters: &Arc<Counters>) -> Self {
        CountingSource {
            inner,
            counters: counters.clone(),
            _alive: Alive::new(counters),
        }
    }
}

impl<S: SeekableSource> SeekableSource for CountingSource<S> {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn open(&self) -> io::Result<Box<dyn SourceReader>> {
        Ok(Box::new(CountingReader {
            inner: self.inner.open()?,
            counters: self.counters.clone(),
            _alive: Alive::new(&self.counters),
        }))
    }
}

struct CountingReader {
    inner: Box<dyn SourceReader>,
    counters: Arc<Counters>,
    _alive: Alive,
}

impl SourceReader for CountingReader {
    fn poll_read_at(
        &mut self,
        cx: &mut Context<'_>,
        offset: u64,
        max_len: usize,
    ) -> Poll<io::Result<Bytes>> {
        let result = self.inner.poll_read_at(cx, offset, max_len);
        if let Poll::Ready(Ok(chunk)) = &result {
            self.counters
                .produced
                .fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
        result
    }
}

/// A generated body of [`pattern`] bytes in [`CHUNK`]-byte frames, with an
/// exact size hint or none, optionally stalling (pending forever) at an
/// offset. It counts itself and the bytes it hands out.
struct GeneratedBody {
    offset: u64,
    len: u64,
    length_known: bool,
    stall_at: Option<u64>,
    counters: Arc<Counters>,
    _alive: Alive,
}

impl GeneratedBody {
    fn new(len: u64, length_known: bool, stall_at: Option<u64>, counters: &Arc<Counters>) -> Self {
        GeneratedBody {
            offset: 0,
            len,
            length_known,
            stall_at,
            counters: counters.clone(),
            _alive: Alive::new(counters),
        }
    }
}

impl Body for GeneratedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let end = this.stall_at.map_or(this.len, |stall| stall.min(this.len));
        if this.offset >= end {
            if this.offset < this.len {
                // Stalled: never ready again; only dropping it ends this.
                return Poll::Pending;
            }
            return Poll::Ready(None);
        }
        let size = (end - this.offset).min(CHUNK as u64);
        let chunk: Vec<u8> = (this.offset..this.offset + size).map(pattern).collect();
        this.offset += size;
        this.counters.produced.fetch_add(size, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.length_known && self.offset == self.len
    }

    fn size_hint(&self) -> SizeHint {
        if self.length_known {
            SizeHint::with_exact(self.len - self.offset)
        } else {
            SizeHint::default()
        }
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tower-range-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a sparse file of `len` bytes whose first [`PATTERN_PREFIX`] bytes
/// are [`pattern`]: no disk cost for the hole.
fn sparse_file(path: &Path, len: u64) {
    let mut file = std::fs::File::create(path).expect("create the test file");
    let prefix: Vec<u8> = (0..PATTERN_PREFIX.min(len)).map(pattern).collect();
    file.write_all(&prefix).expect("write the prefix");
    file.set_len(len).expect("extend the file");
}

/// What the inner service serves, by path.
struct Content {
    file: PathBuf,
    file_len: u64,
    counters: Arc<Counters>,
}

async fn inner(
    content: Arc<Content>,
    request: Request<Incoming>,
) -> Result<Response<BoxBody>, Infallible> {
    let counters = &content.counters;
    let response = match request.uri().path() {
        "/file" => {
            let file = FileSource::open(&content.file)
                .await
                .expect("open the file");
            source_response(CountingSource::new(file, counters))
        }
        "/reader" => {
            let file = tokio::fs::File::open(&content.file)
                .await
                .expect("open the file");
            let reader = ReaderSource::new(file, content.file_len);
            source_response(CountingSource::new(reader, counters))
        }
        "/stream-known" => {
            let mut response = Response::new(
                GeneratedBody::new(content.file_len, true, None, counters).boxed_unsync(),
            );
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(content.file_len));
            response
        }
        "/stream-unknown" => Response::new(
            GeneratedBody::new(content.file_len, false, None, counters).boxed_unsync(),
        ),
        "/stream-stalling" => Response::new(
            GeneratedBody::new(content.file_len, false, Some(STALL_AT), counters).boxed_unsync(),
        ),
        _ => {
            let mut response =
                Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

fn source_response<S: SeekableSource>(source: S) -> Response<BoxBody> {
    let mut response = RangeSource::new(source)
        .into_response()
        .map(BodyExt::boxed_unsync);
    response
        .headers_mut()
        .insert(header::ETAG, HeaderValue::from_static("\"v1\""));
    response
}

struct Server {
    addr: SocketAddr,
    counters: Arc<Counters>,
    accept: JoinHandle<()>,
    _dir: TempDir,
}

impl Server {
    /// Starts a server on 127.0.0.1 over a sparse file of `len` bytes (the
    /// generated bodies have the same length).
    async fn start(name: &str, len: u64) -> Server {
        let dir = TempDir::new(name);
        let file = dir.0.join("content.bin");
        sparse_file(&file, len);
        let counters = Arc::new(Counters::default());
        let content = Arc::new(Content {
            file,
            file_len: len,
            counters: counters.clone(),
        });
        let service = ServiceBuilder::new()
            .layer(RangeLayer::new())
            .service_fn(move |request| inner(content.clone(), request));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let connections = counters.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(service.clone());
                let guard = ConnectionGuard::new(&connections);
                tokio::spawn(async move {
                    let _guard = guard;
                    // A connection error is what a disconnect looks like.
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            counters,
            accept,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

// ---------------------------------------------------------------------------
// Measuring and waiting
// ---------------------------------------------------------------------------

/// Open file descriptors of this process (Linux), else `None`.
fn open_fds() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // The listing's own descriptor is counted too, the same every time.
        std::fs::read_dir("/proc/self/fd").ok().map(Iterator::count)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// The process and runtime before a request.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    fds: Option<usize>,
    tasks: usize,
    connections: usize,
}

impl Baseline {
    fn take(server: &Server) -> Baseline {
        Baseline {
            fds: open_fds(),
            tasks: alive_tasks(),
            connections: server.counters.connections.load(Ordering::SeqCst),
        }
    }
}

/// Polls `check` every 5 ms until it passes; fails the test with its last
/// complaint after 30 s. The cap only guards against a hang: every
/// condition here is normally met within milliseconds.
async fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    const POLLS: usize = 6000;
    let mut complaint = String::new();
    for _ in 0..POLLS {
        match check() {
            Ok(()) => return,
            Err(why) => complaint = why,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: still not the case after {POLLS} polls: {complaint}");
}

/// Waits until everything the server created for a request is gone again:
/// sources, readers, bodies, descriptors, tasks, connection tasks.
async fn assert_released(what: &str, server: &Server, baseline: Baseline) {
    let counters = server.counters.clone();
    eventually(what, || {
        let alive = counters.alive.load(Ordering::SeqCst);
        let connections = counters.connections.load(Ordering::SeqCst);
        let fds = open_fds();
        let tasks = alive_tasks();
        if alive == 0
            && connections == baseline.connections
            && fds == baseline.fds
            && tasks == baseline.tasks
        {
            Ok(())
        } else {
            Err(format!(
                "alive sources/readers/bodies {alive} (want 0), connection tasks {connections} \
                 (want {}), open fds {fds:?} (want {:?}), alive tasks {tasks} (want {})",
                baseline.connections, baseline.fds, baseline.tasks
            ))
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// HTTP/1.1: a raw client that leaves
// ---------------------------------------------------------------------------

/// How the client leaves.
#[derive(Clone, Copy, Debug)]
enum Leave {
    /// Close the socket with unread data in it (what a closed browser tab
    /// does; Linux answers further data with a reset).
    Close,
    /// An abortive close: `SO_LINGER` 0, a reset right away.
    Reset,
}

/// The status code and the bytes read after the head.
struct Partial {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Sends `GET route` with `range`, reads the head and at least `body_bytes`
/// of the body (or nothing at all with `None`), and returns the open stream.
async fn request_and_read(
    addr: SocketAddr,
    route: &str,
    range: &str,
    body_bytes: Option<usize>,
) -> (TcpStream, Option<Partial>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {route} HTTP/1.1\r\nHost: test\r\nRange: {range}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let Some(body_bytes) = body_bytes else {
        return (stream, None);
    };
    let mut received = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let head_end = received.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            if received.len() - (end + 4) >= body_bytes {
                let head = String::from_utf8_lossy(&received[..end]).into_owned();
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|code| code.parse().ok())
                    .expect("a status line");
                let body = received[end + 4..].to_vec();
                return (stream, Some(Partial { status, head, body }));
            }
        }
        let n = stream.read(&mut buf).await.expect("read the response");
        assert!(n > 0, "the server closed the connection early");
        received.extend_from_slice(&buf[..n]);
    }
}

fn leave(stream: TcpStream, how: Leave) {
    if let Leave::Reset = how {
        // A zero linger never blocks on close.
        #[allow(deprecated)]
        stream
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER 0");
    }
    drop(stream);
}

/// One HTTP/1.1 case, once per way of leaving: the client reads the head and
/// 64 KiB of the body, checks the status and the bytes, and leaves; then
/// everything must be released while the response was far from complete.
async fn h1_case(name: &str, route: &str, range: &str, status: u16, first_byte: u64) {
    let server = Server::start(name, LEN).await;
    for how in [Leave::Close, Leave::Reset] {
        let baseline = Baseline::take(&server);
        let created = server.counters.created.load(Ordering::SeqCst);
        let (stream, partial) =
            request_and_read(server.addr, route, range, Some(READ_BEFORE_LEAVING)).await;
        let partial = partial.expect("a response");
        assert_eq!(partial.status, status, "{route} {range}: {}", partial.head);
        if status == 206
            && !partial
                .head
                .to_ascii_lowercase()
                .contains("multipart/byteranges")
        {
            for (i, byte) in partial.body.iter().enumerate() {
                assert_eq!(
                    *byte,
                    expected_byte(route, first_byte + i as u64),
                    "byte {i}"
                );
            }
        }
        leave(stream, how);
        assert_released(&format!("{route} {range} {how:?}"), &server, baseline).await;
        assert!(
            server.counters.created.load(Ordering::SeqCst) > created,
            "{route}: the case created no source or body: it tests nothing"
        );
        let produced = server.counters.produced.swap(0, Ordering::SeqCst);
        assert!(
            produced < LEN / 2,
            "{route} {how:?}: {produced} bytes produced of {LEN}: the client left too late to test a disconnect"
        );
    }
}

#[test]
fn file_source_single_range() {
    serially(async {
        h1_case("file-single", "/file", "bytes=100-", 206, 100).await;
    });
}

#[test]
fn file_source_multipart() {
    serially(async {
        h1_case("file-multi", "/file", "bytes=0-99,1000000-", 206, 0).await;
    });
}

#[test]
fn reader_source() {
    serially(async {
        h1_case("reader", "/reader", "bytes=5-", 206, 5).await;
    });
}

#[test]
fn stream_of_known_length() {
    serially(async {
        h1_case("stream-known", "/stream-known", "bytes=1000-", 206, 1000).await;
    });
}

#[test]
fn stream_of_unknown_length_past_the_buffer_limit() {
    serially(async {
        // The layer buffers 1 MiB to learn the length, gives up and sends the
        // full 200 (buffered prefix first) while the client reads.
        h1_case("stream-unknown", "/stream-unknown", "bytes=10-19", 200, 0).await;
    });
}

#[test]
fn stream_of_unknown_length_while_buffering() {
    serially(async {
        // The body stalls inside the buffer limit: the layer is still buffering
        // and no response head exists when the client leaves.
        let server = Server::start("stream-stalling", LEN).await;
        for how in [Leave::Close, Leave::Reset] {
            let baseline = Baseline::take(&server);
            let (stream, _) =
                request_and_read(server.addr, "/stream-stalling", "bytes=0-99", None).await;
            let counters = server.counters.clone();
            eventually("the body stalls while the layer buffers", || {
                let produced = counters.produced.load(Ordering::SeqCst);
                (produced == STALL_AT)
                    .then_some(())
                    .ok_or_else(|| format!("{produced} bytes produced, want {STALL_AT}"))
            })
            .await;
            assert_eq!(server.counters.alive.load(Ordering::SeqCst), 1);
            leave(stream, how);
            assert_released(&format!("stalling body, {how:?}"), &server, baseline).await;
            server.counters.produced.store(0, Ordering::SeqCst);
        }
    });
}

// ---------------------------------------------------------------------------
// HTTP/2: one stream cancelled, the connection kept
// ---------------------------------------------------------------------------

type Sender = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

fn h2_request(addr: SocketAddr, route: &str, range: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}{route}"))
        .header(header::RANGE, range)
        .body(Empty::new())
        .expect("a valid request")
}

/// Reads at least `bytes` of a response body, then drops it: hyper's client
/// resets the stream (`RST_STREAM CANCEL`).
async fn read_some_and_cancel(mut body: Incoming, bytes: usize) -> Vec<u8> {
    let mut received = Vec::new();
    while received.len() < bytes {
        let frame = body
            .frame()
            .await
            .expect("the body ended early")
            .expect("a body frame");
        if let Ok(data) = frame.into_data() {
            received.extend_from_slice(&data);
        }
    }
    drop(body);
    received
}

/// A complete small request on the kept connection: it still works.
async fn h2_still_works(sender: &mut Sender, addr: SocketAddr) {
    let response = sender
        .send_request(h2_request(addr, "/file", "bytes=0-9"))
        .await
        .expect("a response on the kept connection");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    let want: Vec<u8> = (0..10).map(pattern).collect();
    assert_eq!(body, want);
}

#[test]
fn http2_stream_reset_on_a_kept_connection() {
    serially(async {
        let server = Server::start("h2", LEN).await;
        let io = TokioIo::new(TcpStream::connect(server.addr).await.expect("connect"));
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2 handshake");
        let client_connection = tokio::spawn(connection);
        // Warm up: the server's connection task and its first stream. The
        // stream's task ends just after the client has the whole response: let
        // the task count settle before taking it as the baseline.
        h2_still_works(&mut sender, server.addr).await;
        settled(|| alive_tasks() as u64).await;
        let baseline = Baseline::take(&server);
        assert_eq!(baseline.connections, 1);

        let cases = [
            ("/file", "bytes=100-", 206, 100),
            ("/file", "bytes=0-99,1000000-", 206, 0),
            ("/reader", "bytes=5-", 206, 5),
            ("/stream-known", "bytes=1000-", 206, 1000),
            ("/stream-unknown", "bytes=10-19", 200, 0),
        ];
        for (route, range, status, first_byte) in cases {
            let response = sender
                .send_request(h2_request(server.addr, route, range))
                .await
                .expect("a response");
            assert_eq!(response.status().as_u16(), status, "{route} {range}");
            let multipart = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"multipart/"));
            let received = read_some_and_cancel(response.into_body(), READ_BEFORE_LEAVING).await;
            if !multipart {
                for (i, byte) in received.iter().enumerate() {
                    assert_eq!(
                        *byte,
                        expected_byte(route, first_byte + i as u64),
                        "byte {i}"
                    );
                }
            }
            assert_released(&format!("h2 {route} {range}"), &server, baseline).await;
            let produced = server.counters.produced.swap(0, Ordering::SeqCst);
            assert!(
                produced < LEN / 2,
                "{route}: {produced} bytes produced: cancelled too late"
            );
            h2_still_works(&mut sender, server.addr).await;
            assert_released(
                &format!("h2 {route} then a small request"),
                &server,
                baseline,
            )
            .await;
        }

        // A stream cancelled before its head, while the layer buffers.
        server.counters.produced.store(0, Ordering::SeqCst);
        let mut pending = Box::pin(sender.send_request(h2_request(
            server.addr,
            "/stream-stalling",
            "bytes=0-99",
        )));
        let counters = server.counters.clone();
        tokio::select! {
            response = &mut pending => panic!("a response head while the body stalls: {response:?}"),
            () = eventually("the body stalls while the layer buffers", || {
                let produced = counters.produced.load(Ordering::SeqCst);
                (produced == STALL_AT)
                    .then_some(())
                    .ok_or_else(|| format!("{produced} bytes produced, want {STALL_AT}"))
            }) => {}
        }
        drop(pending);
        assert_released(
            "h2 stalling body, cancelled before the head",
            &server,
            baseline,
        )
        .await;
        h2_still_works(&mut sender, server.addr).await;

        // Closing the connection ends the server's connection task as well.
        drop(sender);
        client_connection
            .await
            .expect("the client connection task")
            .expect("a clean close");
        let counters = server.counters.clone();
        eventually("the server connection task ends", || {
            let connections = counters.connections.load(Ordering::SeqCst);
            (connections == 0)
                .then_some(())
                .ok_or_else(|| format!("{connections} connection tasks"))
        })
        .await;
    });
}

// ---------------------------------------------------------------------------
// Slow readers: backpressure on a 1 GiB range
// ---------------------------------------------------------------------------

/// The representation of the slow-reader cases: 1 GiB and 4 KiB, so that the
/// range `bytes=4096-` is exactly 1 GiB long (and starts with a skip).
const HUGE: u64 = (1 << 30) + 4096;

/// How much the slow reader takes between pauses, and how many times.
const SLOW_STEP: usize = 1024 * 1024;
const SLOW_STEPS: usize = 8;

/// The client's receive buffer, pinned (`SO_RCVBUF`; Linux doubles it and
/// turns autotuning off), so that the bound below does not depend on how
/// far the kernel would grow it (up to `tcp_rmem` max, 32 MiB on some hosts).
const CLIENT_RECV_BUFFER: u32 = 1024 * 1024;

/// The largest send buffer the kernel may give the server's socket:
/// `tcp_wmem` max (4 MiB by default on Linux).
fn max_send_buffer() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 * 1024 * 1024)
}

/// The most the server may have produced beyond what the client received:
/// the client's receive buffer (doubled by Linux), the server's send buffer
/// at its largest, and 4 MiB for what hyper and the layer hold in between
/// (hyper's write buffer of about 400 KiB, a 128 KiB `FileSource` read or a
/// 16 KiB generated chunk, a read in flight). Without backpressure the
/// server would produce the whole 1 GiB while the client pauses.
fn in_flight_bound() -> u64 {
    2 * u64::from(CLIENT_RECV_BUFFER) + max_send_buffer() + 4 * 1024 * 1024
}

/// Asks for a 1 GiB range, reads it 1 MiB at a time and pauses after each
/// MiB until the server stops producing; then the bytes produced and not
/// yet received must stay under [`in_flight_bound`]. After 8 MiB the client
/// leaves, and everything must be released.
async fn slow_reader(name: &str, route: &str) {
    let server = Server::start(name, HUGE).await;
    let baseline = Baseline::take(&server);
    let bound = in_flight_bound();

    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(CLIENT_RECV_BUFFER)
        .expect("SO_RCVBUF");
    let mut stream = socket.connect(server.addr).await.expect("connect");
    let request = format!("GET {route} HTTP/1.1\r\nHost: test\r\nRange: bytes=4096-\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");

    let mut received = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buf).await.expect("read the head");
        assert!(n > 0, "the server closed the connection early");
        received.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(
        head.contains("content-range: bytes 4096-1073745919/1073745920"),
        "{head}"
    );
    let mut body_received = (received.len() - head_end) as u64;
    let mut checked = 0;
    let mut check = |chunk: &[u8], from: u64| {
        for (i, byte) in chunk.iter().enumerate() {
            let offset = 4096 + from + i as u64;
            assert_eq!(*byte, expected_byte(route, offset), "byte at {offset}");
        }
        checked += chunk.len();
    };
    check(&received[head_end..], 0);

    let mut worst = 0;
    for step in 1..=SLOW_STEPS {
        while body_received < (step * SLOW_STEP) as u64 {
            let n = stream.read(&mut buf).await.expect("read the body");
            assert!(n > 0, "the server closed the connection early");
            check(&buf[..n], body_received);
            body_received += n as u64;
        }
        // Pause until the server has stopped producing: as far ahead as it
        // will ever get of this reader (pacing only; the assertion below is
        // on bytes). Without backpressure this lasts until the whole range
        // is produced, which the assertion then catches.
        let produced = settled(|| server.counters.produced.load(Ordering::SeqCst)).await;
        let ahead = produced.saturating_sub(body_received);
        worst = worst.max(ahead);
        assert!(
            ahead <= bound,
            "{route}: {produced} bytes produced, {body_received} received: {ahead} in flight, \
             more than the bound of {bound}"
        );
    }
    eprintln!(
        "{route}: at most {worst} bytes produced ahead of the slow reader (bound {bound}); \
         {checked} bytes received and checked"
    );
    drop(stream);
    assert_released(&format!("slow reader of {route}"), &server, baseline).await;
}

/// Waits until `read` stops moving (unchanged for 50 polls 2 ms apart, at
/// most 15 000 polls) and returns its value. Pacing only: what is asserted
/// afterwards is a count, never a time.
async fn settled(read: impl Fn() -> u64) -> u64 {
    let mut last = read();
    let mut unchanged = 0;
    for _ in 0..15_000 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = read();
        if now == last {
            unchanged += 1;
            if unchanged == 50 {
                break;
            }
        } else {
            unchanged = 0;
            last = now;
        }
    }
    last
}

#[test]
fn slow_reader_of_a_file_source() {
    serially(async {
        slow_reader("slow-file", "/file").await;
    });
}

#[test]
fn slow_reader_of_a_stream_of_known_length() {
    serially(async {
        slow_reader("slow-stream", "/stream-known").await;
    });
}
