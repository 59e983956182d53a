//! The download tool (`examples/download.rs`) run as a process, as a user
//! runs it, against a real loopback server (axum + `RangeLayer`) that logs
//! every request, can change its content, stall or break a response, and
//! through the fault-injecting proxy. Every result is checked byte for byte
//! (SHA-256) and every resume by the request the server saw.
//!
//! The binary is `target/<profile>/examples/download`; it is built (a no-op
//! when fresh) with the feature set of this test before the first run.
#![cfg(feature = "client")]

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use http::{header, Method, Response};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::process::Command;
use tower_range::RangeLayer;

use fault_proxy::{Fault, FaultPlan, FaultProxy};

// ---------------------------------------------------------------------------
// The tool
// ---------------------------------------------------------------------------

/// The example binary, built once per test process with this test's
/// features (so a `cargo test` that already built it finds it fresh).
fn tool() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/download-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target/<profile>");
        let mut features = vec!["client"];
        for (enabled, feature) in [
            (cfg!(feature = "tokio"), "tokio"),
            (cfg!(feature = "tracing"), "tracing"),
            (cfg!(feature = "content-etag"), "content-etag"),
        ] {
            if enabled {
                features.push(feature);
            }
        }
        let mut build = std::process::Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "--quiet",
                "--example",
                "download",
                "--no-default-features",
            ])
            .arg("--features")
            .arg(features.join(","))
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            build.arg("--release");
        }
        let status = build.status().expect("cargo build --example download");
        assert!(status.success(), "building the download example failed");
        let tool = profile_dir
            .join("examples")
            .join(format!("download{}", std::env::consts::EXE_SUFFIX));
        assert!(tool.is_file(), "no {}", tool.display());
        tool
    })
}

/// What one run of the tool did.
struct Run {
    status: ExitStatus,
    stderr: String,
}

impl Run {
    fn assert_success(&self) {
        assert!(self.status.success(), "{}\n{}", self.status, self.stderr);
    }
}

/// Runs the tool to its end (bounded: a hung tool fails the test).
async fn run_tool(args: &[&str]) -> Run {
    let child = Command::new(tool())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the download tool");
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the download tool did not finish within 120 s")
        .expect("wait for the download tool");
    let run = Run {
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!(
        "--- download {}: {}\n{}",
        args.join(" "),
        run.status,
        run.stderr
    );
    run
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "tower-range-download-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `OUTPUT`, `OUTPUT.part`, `OUTPUT.resume`.
struct Output {
    path: PathBuf,
}

impl Output {
    fn new(dir: &TempDir) -> Output {
        Output {
            path: dir.file("out.bin"),
        }
    }

    fn arg(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temp path")
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    fn part(&self) -> PathBuf {
        self.sibling(".part")
    }

    fn state(&self) -> PathBuf {
        self.sibling(".resume")
    }

    /// The download is complete: `OUTPUT` has exactly `expected`, and
    /// neither the part file nor the state is left.
    fn assert_complete(&self, expected: &Bytes) {
        let got = std::fs::read(&self.path).expect("OUTPUT exists");
        assert_eq!(got.len(), expected.len(), "length of OUTPUT");
        assert_eq!(sha256(&got), sha256(expected), "SHA-256 of OUTPUT");
        assert!(!self.part().exists(), "OUTPUT.part left behind");
        assert!(!self.state().exists(), "OUTPUT.resume left behind");
    }

    /// A partial download as a previous run leaves it: the first `done`
    /// bytes of `content` in the part file, and a one-segment state.
    fn write_partial(&self, url: &str, validator_line: &str, content: &Bytes, done: usize) {
        std::fs::write(self.part(), &content[..done]).expect("write OUTPUT.part");
        let state = format!(
            "# tower-range download state 1\nurl {url}\n{validator_line}\nlength {}\nsegment 0 {} {done}\n",
            content.len(),
            content.len()
        );
        std::fs::write(self.state(), state).expect("write OUTPUT.resume");
    }

    /// The bytes of the resource the state counts as written, summed over
    /// its segments (0 before the state exists).
    fn state_done(&self) -> u64 {
        let Ok(text) = std::fs::read_to_string(self.state()) else {
            return 0;
        };
        text.lines()
            .filter_map(|line| line.strip_prefix("segment "))
            .filter_map(|fields| fields.split(' ').nth(2)?.parse::<u64>().ok())
            .sum()
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `length` deterministic pseudo-random bytes (xorshift64*), different per
/// `seed`.
fn content(length: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(length);
    Bytes::from(bytes)
}

// ---------------------------------------------------------------------------
// The origin server
// ---------------------------------------------------------------------------

/// One version of the resource.
#[derive(Clone)]
struct Version {
    content: Bytes,
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Version {
    fn tagged(content: Bytes, etag: &str) -> Version {
        Version {
            content,
            etag: Some(etag.to_owned()),
            last_modified: None,
        }
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Logged {
    method: Method,
    range: Option<String>,
    if_range: Option<String>,
}

/// What the origin does to requests without `Range` (first requests).
#[derive(Clone, Default)]
enum Mischief {
    #[default]
    None,
    /// Send this many bytes, then nothing more, keeping the connection open.
    Stall(usize),
    /// Send this many bytes, switch to the new version, then break the
    /// connection (once).
    BreakAndChange(usize, Version),
}

struct Origin {
    current: Mutex<Version>,
    mischief: Mutex<Mischief>,
    log: Mutex<Vec<Logged>>,
    /// Answer this many more GETs with `503 Service Unavailable`.
    unavailable: AtomicU64,
    /// Give every response its own `ETag` (a resource that changes all the
    /// time).
    new_etag_every_time: AtomicBool,
    /// On `/data`, send this many bytes of each `206`, then stall.
    stall_ranges: Mutex<Option<usize>>,
    /// Counts the responses for `new_etag_every_time`.
    responses: AtomicU64,
    /// Answer `HEAD` with this `ETag` instead (a server that derives its
    /// tag from the body it sends, which a `HEAD` does not have).
    head_etag: Mutex<Option<String>>,
}

impl Origin {
    fn set(&self, version: Version) {
        *self.current.lock().unwrap() = version;
    }

    fn set_mischief(&self, mischief: Mischief) {
        *self.mischief.lock().unwrap() = mischief;
    }

    fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    fn gets(&self) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|logged| logged.method == Method::GET)
            .collect()
    }
}

/// A running origin: `/data` through `RangeLayer`, `/no-ranges` without it
/// (a server that knows nothing of ranges), and `/chunked`, without it and
/// without a `Content-Length`.
struct Server {
    origin: Arc<Origin>,
    addr: SocketAddr,
}

impl Server {
    async fn start(version: Version) -> Server {
        let origin = Arc::new(Origin {
            current: Mutex::new(version),
            mischief: Mutex::new(Mischief::None),
            log: Mutex::new(Vec::new()),
            unavailable: AtomicU64::new(0),
            new_etag_every_time: AtomicBool::new(false),
            stall_ranges: Mutex::new(None),
            responses: AtomicU64::new(0),
            head_etag: Mutex::new(None),
        });
        let app = Router::new()
            .route(
                "/data",
                get(serve_version).layer(RangeLayer::new()).layer(
                    axum::middleware::map_response_with_state(origin.clone(), stall_ranges),
                ),
            )
            .route(
                "/ignores-if-range",
                get(serve_version)
                    .layer(RangeLayer::new())
                    .layer(axum::middleware::map_request(drop_if_range)),
            )
            .route(
                "/range-from-zero",
                get(serve_version)
                    .layer(RangeLayer::new())
                    .layer(axum::middleware::map_request(range_from_zero)),
            )
            .route("/no-ranges", get(serve_version))
            .route("/chunked", get(serve_version))
            .with_state(origin.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server { origin, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn chunks(bytes: Bytes) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
    const CHUNK: usize = 16 * 1024;
    let length = bytes.len();
    stream::iter(
        (0..length)
            .step_by(CHUNK)
            .map(move |start| Ok(bytes.slice(start..(start + CHUNK).min(length)))),
    )
}

/// A server that honours `Range` but ignores `If-Range`.
async fn drop_if_range(mut request: Request) -> Request {
    request.headers_mut().remove(header::IF_RANGE);
    request
}

/// A server that answers every range request with the range from byte 0.
async fn range_from_zero(mut request: Request) -> Request {
    if request.headers().contains_key(header::RANGE) {
        request
            .headers_mut()
            .insert(header::RANGE, http::HeaderValue::from_static("bytes=0-"));
    }
    request
}

/// With `stall_ranges` set, a `206` sends that many bytes, then stalls.
async fn stall_ranges(
    State(origin): State<Arc<Origin>>,
    response: Response<Body>,
) -> Response<Body> {
    let after = *origin.stall_ranges.lock().unwrap();
    match after {
        Some(after) if response.status() == http::StatusCode::PARTIAL_CONTENT => {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let sent = bytes.slice(..after.min(bytes.len()));
            let body = Body::from_stream(chunks(sent).chain(stream::pending()));
            Response::from_parts(parts, body)
        }
        _ => response,
    }
}

async fn serve_version(State(origin): State<Arc<Origin>>, request: Request) -> Response<Body> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value: &http::HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    let range = header(header::RANGE);
    origin.log.lock().unwrap().push(Logged {
        method: request.method().clone(),
        range: range.clone(),
        if_range: header(header::IF_RANGE),
    });
    let mut version = origin.current.lock().unwrap().clone();
    let count = origin.responses.fetch_add(1, Ordering::Relaxed);
    if origin.new_etag_every_time.load(Ordering::Relaxed) {
        version.etag = Some(format!("\"changing-{count}\""));
    }
    if request.method() == Method::HEAD {
        if let Some(etag) = origin.head_etag.lock().unwrap().clone() {
            version.etag = Some(etag);
        }
    }
    if request.method() == Method::GET
        && origin
            .unavailable
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    {
        return Response::builder()
            .status(http::StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::empty())
            .unwrap();
    }
    let length = version.content.len();
    let mischief = if range.is_none() && request.method() == Method::GET {
        std::mem::take(&mut *origin.mischief.lock().unwrap())
    } else {
        Mischief::None
    };
    let body = match mischief {
        Mischief::None => Body::from(version.content.clone()),
        Mischief::Stall(after) => {
            // Stays stalled for the next first request too.
            origin.set_mischief(Mischief::Stall(after));
            Body::from_stream(chunks(version.content.slice(..after)).chain(stream::pending()))
        }
        Mischief::BreakAndChange(after, next) => {
            let origin = origin.clone();
            let broken = stream::once(async move {
                origin.set(next);
                Err(io::Error::other("connection broken on purpose"))
            });
            Body::from_stream(chunks(version.content.slice(..after)).chain(broken))
        }
    };
    let mut response = Response::builder().header(header::CONTENT_TYPE, "application/octet-stream");
    if request.uri().path() == "/chunked" {
        let body = Body::from_stream(chunks(version.content.clone()));
        return response.body(body).unwrap();
    }
    response = response.header(header::CONTENT_LENGTH, length);
    if let Some(etag) = &version.etag {
        response = response.header(header::ETAG, etag);
    }
    if let Some(date) = &version.last_modified {
        response = response.header(header::LAST_MODIFIED, date);
    }
    response.body(body).unwrap()
}

/// Runs the tool on URL with `--connections 4`, without a progress bar.
async fn run_on_four_connections(url: &str, output: &Output) -> Run {
    run_tool(&[url, output.arg(), "--no-progress", "--connections", "4"]).await
}

/// Starts the tool (without waiting for it) and returns once its state
/// file counts some bytes: bounded, 60 s in 50 ms steps.
async fn start_until_the_state_counts_bytes(url: &str, output: &Output) -> tokio::process::Child {
    let mut child = Command::new(tool())
        .args([url, output.arg(), "--no-progress"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the download tool");
    let mut polls = 0;
    while output.state_done() == 0 {
        polls += 1;
        assert!(polls < 1200, "the state file never counted a byte");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the tool ended before it was stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

/// Sends SIGINT (Ctrl-C) to the tool and waits (bounded) for it to end.
#[cfg(unix)]
async fn interrupt(child: &mut tokio::process::Child) -> ExitStatus {
    let pid = child.id().expect("the tool is running").to_string();
    let signal = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill -INT");
    assert!(signal.success());
    tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the tool did not stop within 60 s of Ctrl-C")
        .unwrap()
}

/// The final `download: saved ...` line.
fn saved_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|line| line.starts_with("download: saved "))
        .unwrap_or_else(|| panic!("no `saved` line in:\n{stderr}"))
}

/// The range request of a resume: `bytes=K-`.
fn open_range(from: u64) -> Option<String> {
    Some(format!("bytes={from}-"))
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_download_is_byte_exact() {
    let expected = content(3 * 1024 * 1024 + 17, 1);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("complete");
    let output = Output::new(&dir);

    let run = run_tool(&[&server.url("/data"), output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(run.stderr.contains("saved"), "{}", run.stderr);
    let gets = server.origin.gets();
    assert_eq!(
        gets,
        [Logged {
            method: Method::GET,
            range: None,
            if_range: None
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_file_resumes_with_range_and_if_range() {
    let expected = content(2 * 1024 * 1024 + 5, 2);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("partial");
    let output = Output::new(&dir);
    let url = server.url("/data");
    let done = 1_234_567;
    output.write_partial(&url, "etag \"v1\"", &expected, done);

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(run.stderr.contains("resuming at"), "{}", run.stderr);
    assert_eq!(
        server.origin.gets(),
        [Logged {
            method: Method::GET,
            range: open_range(done as u64),
            if_range: Some("\"v1\"".into()),
        }],
        "one request, for the rest only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_file_resumes_with_last_modified_when_there_is_no_etag() {
    let expected = content(1024 * 1024, 3);
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let version = Version {
        content: expected.clone(),
        etag: None,
        last_modified: Some(date.into()),
    };
    let server = Server::start(version).await;
    let dir = TempDir::new("last-modified");
    let output = Output::new(&dir);
    let url = server.url("/data");
    output.write_partial(&url, &format!("last-modified {date}"), &expected, 1000);

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert_eq!(
        server.origin.gets(),
        [Logged {
            method: Method::GET,
            range: open_range(1000),
            if_range: Some(date.into()),
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_where_its_state_says() {
    let expected = content(3 * 1024 * 1024, 4);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    // The first run gets 1.5 MiB, then the response stalls.
    let stall_at = 3 * 512 * 1024;
    server.origin.set_mischief(Mischief::Stall(stall_at));
    let dir = TempDir::new("killed");
    let output = Output::new(&dir);
    let url = server.url("/data");

    let mut first = start_until_the_state_counts_bytes(&url, &output).await;
    first.kill().await.expect("kill the tool"); // SIGKILL: no last words
    let done = output.state_done();
    assert!(
        0 < done && done <= stall_at as u64,
        "the state counts {done} bytes; the server sent {stall_at}"
    );
    let part = std::fs::read(output.part()).unwrap();
    assert_eq!(
        sha256(&part[..done as usize]),
        sha256(&expected[..done as usize]),
        "the bytes the state counts are in the part file"
    );
    assert!(!output.path.exists(), "OUTPUT appears only when complete");

    server.origin.set_mischief(Mischief::None);
    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    let gets = server.origin.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(
        gets[1],
        Logged {
            method: Method::GET,
            range: open_range(done),
            if_range: Some("\"v1\"".into()),
        },
        "the second run asked for the rest, from where the state said"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_keeps_its_state_and_resumes() {
    let expected = content(3 * 1024 * 1024, 13);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let stall_at = 1024 * 1024;
    server.origin.set_mischief(Mischief::Stall(stall_at));
    let dir = TempDir::new("interrupted");
    let output = Output::new(&dir);
    let url = server.url("/data");

    // No periodic checkpoint in this run: only the one on Ctrl-C can count
    // the bytes.
    let mut first = Command::new(tool())
        .args([url.as_str(), output.arg(), "--no-progress"])
        .env("TOWER_RANGE_DOWNLOAD_CHECKPOINT_MS", "3600000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the download tool");
    // Wait until the whole stalled prefix is in the part file (its last
    // bytes are: the writes of one segment are in order).
    let tail = &expected[stall_at - 64..stall_at];
    let mut polls = 0;
    while std::fs::read(output.part())
        .ok()
        .and_then(|part| part.get(stall_at - 64..stall_at).map(|got| got != tail))
        .unwrap_or(true)
    {
        polls += 1;
        assert!(polls < 1200, "the part file never held the stalled prefix");
        assert!(first.try_wait().unwrap().is_none(), "the tool ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = interrupt(&mut first).await;
    assert_eq!(status.code(), Some(130), "{status}");
    // On Ctrl-C the state is written once more: every byte that reached
    // the part file by then (the whole stalled prefix) is counted.
    let done = output.state_done();
    assert_eq!(done, stall_at as u64, "the state counts every byte written");
    assert!(output.part().exists());

    server.origin.set_mischief(Mischief::None);
    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    let gets = server.origin.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[1].range, open_range(done));
    assert_eq!(gets[1].if_range.as_deref(), Some("\"v1\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_resource_between_runs_starts_over_with_the_new_content() {
    let old = content(2 * 1024 * 1024, 5);
    let new = content(2 * 1024 * 1024 + 999, 6);
    let server = Server::start(Version::tagged(new.clone(), "\"v2\"")).await;
    let dir = TempDir::new("changed");
    let output = Output::new(&dir);
    let url = server.url("/data");
    let done = 1_000_000;
    output.write_partial(&url, "etag \"v1\"", &old, done);

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&new);
    assert!(
        run.stderr.contains("changed on the server"),
        "the tool says why it starts over:\n{}",
        run.stderr
    );
    let gets = server.origin.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, open_range(done as u64));
    assert_eq!(gets[0].if_range.as_deref(), Some("\"v1\""));
    assert_eq!(gets[1].range, None, "then the whole new version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_without_validator_is_never_resumed() {
    let expected = content(1024 * 1024, 7);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("no-validator");
    let output = Output::new(&dir);
    let url = server.url("/data");
    // Wrong bytes in the part file: stitched onto them, the result would differ.
    output.write_partial(&url, "no-validator", &content(1024 * 1024, 8), 500_000);

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(run.stderr.contains("no validator"), "{}", run.stderr);
    assert_eq!(server.origin.gets()[0].range, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_connections_through_a_faulty_proxy_are_byte_exact() {
    let expected = content(8 * 1024 * 1024 + 3, 9);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let plan = FaultPlan::cut_between(11, 64 * 1024, 1024 * 1024)
        .faults(&[Fault::Close, Fault::Reset])
        .max_faults(12);
    let proxy = FaultProxy::start(server.addr, plan).await;
    let dir = TempDir::new("connections");
    let output = Output::new(&dir);
    let url = format!("http://{}/data", proxy.addr());

    // At most 12 faults in all: 20 resumes per body can never run out.
    let run = run_tool(&[
        &url,
        output.arg(),
        "--no-progress",
        "--connections",
        "4",
        "--max-attempts",
        "20",
    ])
    .await;

    run.assert_success();
    output.assert_complete(&expected);
    let report = proxy.report();
    eprintln!("{report:?}");
    assert!(
        report.faults() >= 4,
        "the proxy broke connections: {report:?}"
    );
    let gets = server.origin.gets();
    assert!(
        gets.iter()
            .all(|get| get.range.is_some() && get.if_range.as_deref() == Some("\"v1\"")),
        "every GET is a range with If-Range: {gets:?}"
    );
    // The four segments' first requests, then the resumes.
    let length = expected.len() as u64;
    for (index, start) in (0..4).map(|i| (i, length * i / 4)) {
        let end = length * (index + 1) / 4;
        let wanted = if index == 3 {
            format!("bytes={start}-")
        } else {
            format!("bytes={start}-{}", end - 1)
        };
        assert!(
            gets.iter()
                .any(|get| get.range.as_deref() == Some(wanted.as_str())),
            "no request for segment {index} ({wanted}): {gets:?}"
        );
    }
    assert!(
        gets.len() > 4,
        "broken connections were resumed: {} GETs",
        gets.len()
    );
    let saved = saved_line(&run.stderr);
    assert!(!saved.contains(" 0 resume(s)"), "{saved}");
    assert!(saved.contains(" resume(s)"), "{saved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_the_run_stops_and_leaves_no_mixed_content() {
    let old = content(2 * 1024 * 1024, 10);
    let new = content(2 * 1024 * 1024, 11);
    let server = Server::start(Version::tagged(old, "\"v1\"")).await;
    server.origin.set_mischief(Mischief::BreakAndChange(
        512 * 1024,
        Version::tagged(new, "\"v2\""),
    ));
    let dir = TempDir::new("changed-midway");
    let output = Output::new(&dir);

    let run = run_tool(&[&server.url("/data"), output.arg(), "--no-progress"]).await;

    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert!(
        run.stderr.contains("changed on the server"),
        "{}",
        run.stderr
    );
    assert!(!output.path.exists(), "no OUTPUT");
    assert!(!output.part().exists(), "no OUTPUT.part with old bytes");
    assert!(!output.state().exists(), "no OUTPUT.resume");
    let gets = server.origin.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[1].if_range.as_deref(), Some("\"v1\""), "{gets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ranges_connections_fall_back_to_one() {
    let expected = content(2 * 1024 * 1024, 12);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("no-ranges");
    let output = Output::new(&dir);

    let run = run_on_four_connections(&server.url("/no-ranges"), &output).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(
        run.stderr.contains("using one connection"),
        "{}",
        run.stderr
    );
    let log = server.origin.log();
    assert_eq!(log.len(), 2, "HEAD, then one GET: {log:?}");
    assert_eq!(log[0].method, Method::HEAD);
    assert_eq!(log[1].range, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_command_lines_fail_with_usage() {
    let https = run_tool(&["https://127.0.0.1:1/x", "out"]).await;
    assert_eq!(https.status.code(), Some(2));
    assert!(
        https.stderr.contains("https is out of scope"),
        "{}",
        https.stderr
    );

    let missing = run_tool(&["http://127.0.0.1:1/x"]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        missing.stderr.contains("Usage: download"),
        "{}",
        missing.stderr
    );

    let zero = run_tool(&["http://127.0.0.1:1/x", "out", "--connections", "0"]).await;
    assert_eq!(zero.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_length_is_downloaded_to_its_end() {
    let expected = content(1024 * 1024 + 1, 14);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("chunked");
    let output = Output::new(&dir);

    let run = run_tool(&[&server.url("/chunked"), output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_of_another_version_is_never_written() {
    // The server honours Range but ignores If-Range: asked for the rest of
    // "v1", it sends the rest of "v2" (206 with ETag "v2").
    let old = content(2 * 1024 * 1024, 20);
    let new = content(2 * 1024 * 1024, 21);
    let server = Server::start(Version::tagged(new.clone(), "\"v2\"")).await;
    let dir = TempDir::new("ignores-if-range");
    let output = Output::new(&dir);
    let url = server.url("/ignores-if-range");
    let done = 1_000_000;
    output.write_partial(&url, "etag \"v1\"", &old, done);

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&new);
    assert!(
        run.stderr.contains("changed on the server"),
        "{}",
        run.stderr
    );
    let gets = server.origin.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, open_range(done as u64));
    assert_eq!(gets[1].range, None, "then the whole new version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_other_than_asked_is_never_written() {
    // Asked for `bytes=K-`, the server answers `bytes 0-LAST/LENGTH`.
    let expected = content(2 * 1024 * 1024, 22);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("other-range");
    let output = Output::new(&dir);
    let url = server.url("/range-from-zero");
    output.write_partial(&url, "etag \"v1\"", &expected, 1_000_000);

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(
        run.stderr.contains("nothing of it was written"),
        "{}",
        run.stderr
    );
    let gets = server.origin.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[1].range, None, "then the whole resource");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_length_held_in_full_finishes_on_416() {
    // A run of unknown length stopped after its last byte: the resume asks
    // `bytes=N-` and gets `416` with `Content-Range: bytes */N`.
    let expected = content(1024 * 1024 + 3, 23);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("unknown-416");
    let output = Output::new(&dir);
    let url = server.url("/data");
    let held = expected.len();
    std::fs::write(output.part(), &expected).unwrap();
    std::fs::write(
        output.state(),
        format!(
            "# tower-range download state 1\nurl {url}\netag \"v1\"\nlength unknown\nsegment 0 unknown {held}\n"
        ),
    )
    .unwrap();

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(!run.stderr.contains("changed"), "{}", run.stderr);
    assert_eq!(
        server.origin.gets(),
        [Logged {
            method: Method::GET,
            range: open_range(held as u64),
            if_range: Some("\"v1\"".into()),
        }],
        "no second download"
    );
}

/// The segments are planned from a `HEAD`; a server whose `GET`s then
/// carry another tag (or length) has not changed the resource between two
/// starts, so starting over on segments again would fail the same way
/// each time: the tool falls back to one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_disagrees_with_the_gets_falls_back_to_one_connection() {
    let expected = content(2 * 1024 * 1024, 31);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    *server.origin.head_etag.lock().unwrap() = Some("\"head-v1\"".to_owned());
    let dir = TempDir::new("head-disagrees");
    let output = Output::new(&dir);

    let run = run_on_four_connections(&server.url("/data"), &output).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(run.stderr.contains("one connection"), "{}", run.stderr);
}

/// A validator the tool could not have stored (not a header value, or not
/// a strong tag) is corruption like any other: the state is not used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_with_an_unusable_validator_starts_over() {
    let expected = content(1024 * 1024, 32);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let url = server.url("/data");
    for (name, validator) in [
        ("control", "etag \"v1\u{1}\""),
        ("unquoted", "etag v1"),
        ("weak", "etag W/\"v1\""),
        ("date", "last-modified Sun, 06 Nov 1994 08:49:37 GMT\u{7f}"),
    ] {
        let dir = TempDir::new(&format!("bad-validator-{name}"));
        let output = Output::new(&dir);
        std::fs::write(output.part(), &expected[..]).unwrap();
        std::fs::write(
            output.state(),
            format!(
                "# tower-range download state 1\nurl {url}\n{validator}\nlength 1048576\n\
                 segment 0 1048576 1024\n"
            ),
        )
        .unwrap();

        let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

        run.assert_success();
        output.assert_complete(&expected);
        assert!(run.stderr.contains("cannot use"), "{name}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_starts_over_without_panicking() {
    let expected = content(2 * 1024 * 1024, 24);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("corrupt-state");
    let output = Output::new(&dir);
    let url = server.url("/data");
    std::fs::write(output.part(), &expected[..1024]).unwrap();
    // The second segment's count overflows `start + done`.
    std::fs::write(
        output.state(),
        format!(
            "# tower-range download state 1\nurl {url}\netag \"v1\"\nlength 2097152\n\
             segment 0 1048576 0\nsegment 1048576 2097152 18446744073709551615\n"
        ),
    )
    .unwrap();

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(run.stderr.contains("cannot use"), "{}", run.stderr);
    assert_eq!(server.origin.gets()[0].range, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_again_is_not_counted_as_a_resume() {
    let expected = content(1024 * 1024, 25);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    server.origin.unavailable.store(1, Ordering::Relaxed);
    let dir = TempDir::new("unavailable");
    let output = Output::new(&dir);

    let run = run_tool(&[&server.url("/data"), output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    let saved = saved_line(&run.stderr);
    assert!(saved.contains(" 0 resume(s)"), "{saved}");
    assert!(saved.contains("1 request(s) sent again"), "{saved}");
    assert_eq!(server.origin.gets().len(), 2);
}

/// A resource whose every response has a new tag cannot be fetched in
/// segments (each one is of another version than the `HEAD`), but one
/// response is one version: after the segments fail, nothing of them
/// written, it comes whole on one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_that_changes_on_every_response_is_fetched_on_one_connection() {
    let expected = content(2 * 1024 * 1024, 26);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    server
        .origin
        .new_etag_every_time
        .store(true, Ordering::Relaxed);
    let dir = TempDir::new("always-changing");
    let output = Output::new(&dir);

    let run = run_on_four_connections(&server.url("/data"), &output).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(
        run.stderr.contains("disagree with its HEAD") && run.stderr.contains("one connection"),
        "{}",
        run.stderr
    );
    let gets = server.origin.gets();
    assert!(
        gets[..gets.len() - 1].iter().all(|get| get.range.is_some()),
        "{gets:?}"
    );
    assert_eq!(
        gets.last().unwrap().range,
        None,
        "then one whole GET: {gets:?}"
    );
    assert!(!output.part().exists());
    assert!(!output.state().exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_segments_interrupted_resume_across_runs() {
    let expected = content(4 * 1024 * 1024, 27);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let stall_after = 300_000;
    *server.origin.stall_ranges.lock().unwrap() = Some(stall_after);
    let dir = TempDir::new("segments-interrupted");
    let output = Output::new(&dir);
    let url = server.url("/data");

    let mut first = Command::new(tool())
        .args([
            url.as_str(),
            output.arg(),
            "--no-progress",
            "--connections",
            "4",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the download tool");
    let everything_sent = 4 * stall_after as u64;
    let mut polls = 0;
    while output.state_done() < everything_sent {
        polls += 1;
        assert!(polls < 1200, "the state never counted {everything_sent}");
        assert!(first.try_wait().unwrap().is_none(), "the tool ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = interrupt(&mut first).await;
    assert_eq!(status.code(), Some(130), "{status}");
    assert_eq!(output.state_done(), everything_sent);
    assert!(!output.path.exists());
    let first_run_gets = server.origin.gets().len();
    assert_eq!(first_run_gets, 4);

    *server.origin.stall_ranges.lock().unwrap() = None;
    // The layout is kept whatever --connections says now.
    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    let length = expected.len() as u64;
    let mut resumed: Vec<_> = server.origin.gets()[first_run_gets..]
        .iter()
        .map(|get| {
            assert_eq!(get.if_range.as_deref(), Some("\"v1\""));
            get.range.clone().unwrap()
        })
        .collect();
    resumed.sort();
    let mut wanted: Vec<_> = (0..4)
        .map(|i| {
            let (start, end) = (length * i / 4, length * (i + 1) / 4);
            let from = start + stall_after as u64;
            if i == 3 {
                format!("bytes={from}-")
            } else {
                format!("bytes={from}-{}", end - 1)
            }
        })
        .collect();
    wanted.sort();
    assert_eq!(resumed, wanted, "each segment resumed where the state said");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_the_server_answers_whole_starts_over_on_one_connection() {
    let expected = content(2 * 1024 * 1024, 28);
    let server = Server::start(Version::tagged(expected.clone(), "\"v1\"")).await;
    let dir = TempDir::new("resume-no-ranges");
    let output = Output::new(&dir);
    let url = server.url("/no-ranges");
    // Wrong bytes in the part file: kept, they would show in the result.
    output.write_partial(
        &url,
        "etag \"v1\"",
        &content(2 * 1024 * 1024, 29),
        1_000_000,
    );

    let run = run_tool(&[&url, output.arg(), "--no-progress"]).await;

    run.assert_success();
    output.assert_complete(&expected);
    assert!(
        run.stderr.contains("ignored the Range request"),
        "{}",
        run.stderr
    );
    let gets = server.origin.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, open_range(1_000_000));
    assert_eq!(gets[1].range, None);
}
