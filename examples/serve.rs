//! A demo file server: every response goes through one [`RangeLayer`].
//!
//! ```text
//! cargo run --release --example serve -- [--addr 127.0.0.1:3000] [DIR]
//! ```
//!
//! Without `DIR` it writes demo content into a fresh temporary directory
//! (`demo.bin`, 8 MiB of deterministic pseudo-random bytes, a small
//! `hello.txt` and `demo.webm`, an 8 s test video with a keyframe every
//! second, from `examples/assets/`), prints ready-to-paste `curl` commands,
//! and removes the directory again on shutdown. With `DIR` it serves the
//! regular files found directly in `DIR` when it starts.
//!
//! Each file `NAME` is served three ways, so the three kinds of bodies the
//! layer handles can be compared on the same bytes:
//!
//! | URL | body | how the layer answers a range |
//! |---|---|---|
//! | `/file/NAME` | a [`FileSource`] from an open-file cache (reopened after 1 s) | reads only the requested bytes (positioned reads; from the page cache on the runtime thread, else on the blocking pool) |
//! | `/bytes/NAME` | the whole file in memory, loaded once on first use | slices the `Bytes`, no copy |
//! | `/stream/NAME` | a forward-only stream of 16 KiB chunks with a `Content-Length` | skips up to the range, stops after it |
//!
//! `/` is an HTML index of the files with their sizes and links to the
//! three URLs, and a `<video>` (WebM, MP4) or `<audio>` player on
//! `/file/NAME` for media files: open it in a browser and seek, and the log
//! shows the browser's range requests (`scripts/check-browser.sh` does that
//! with headless Chromium).
//!
//! `HEAD` works on all of them (the head of the `GET` answer, with its
//! `Content-Length`, over HTTP/1.1 and h2c); other methods get a `405` and
//! other paths a `404`. Every response carries a strong `ETag`
//! (`"<len hex>-<mtime nanos hex>"`), `Last-Modified` and a `Content-Type`
//! guessed from the extension. Only `/bytes/` holds a file in memory, so
//! files of any size can be served through `/file/` and `/stream/`.
//!
//! The server is a hand-written accept loop: `TCP_NODELAY` on every
//! connection, HTTP/1.1 and HTTP/2 over cleartext (h2c, prior knowledge) via
//! hyper-util's auto builder. Ctrl-C (or `SIGTERM`) stops accepting, gives
//! open connections a few seconds to finish, removes the demo directory and
//! exits with status 0.
//!
//! Things to try (the server prints these with its real address):
//!
//! ```text
//! curl -s -D- -o /dev/null -r 0-99 http://127.0.0.1:3000/file/demo.bin
//! curl -s -D- -r 0-9,20-29 http://127.0.0.1:3000/bytes/hello.txt
//! curl -sI http://127.0.0.1:3000/stream/demo.bin
//! ```

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use tower::{Layer as _, Service};
use tower_range::source::{FileSource, RangeSource};
use tower_range::{RangeBody, RangeLayer, RangeService};

/// The address used when `--addr` is not given.
const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The size of one chunk of a `/stream/` body.
const STREAM_CHUNK: usize = 16 * 1024;

/// The size of the generated `demo.bin`.
const DEMO_LEN: usize = 8 * 1024 * 1024;

/// The demo video, `demo.webm`: 8 s of a test pattern with a timer, VP8 at
/// 320x240, a keyframe every second (`scripts/make-demo-video.sh` made it).
const DEMO_VIDEO: &[u8] = include_bytes!("assets/demo.webm");

/// How long open connections get to finish after Ctrl-C.
const GRACE: Duration = Duration::from_secs(5);

/// At most this many files are listed at start (all of them are served).
const LIST_LIMIT: usize = 50;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// What the command line asks for.
#[derive(Debug)]
struct Args {
    addr: SocketAddr,
    /// The directory to serve; `None` for the generated demo content.
    dir: Option<PathBuf>,
    /// `--quiet`: no log line per request (for load tests).
    quiet: bool,
    /// `--inline-io`: open files and make small reads, even of cold
    /// files, on the runtime thread.
    inline_io: bool,
}

/// Why the command line did not produce [`Args`].
enum ArgsError {
    /// `--help`: print the usage and exit successfully.
    Help,
    /// Anything wrong: print this, then the usage, and fail.
    Bad(String),
}

fn usage() -> String {
    format!(
        "\
Usage: serve [--addr ADDR] [DIR]

A demo file server answering HTTP Range requests through tower-range's RangeLayer.

Arguments:
  DIR            serve the regular files directly inside DIR (scanned at start);
                 without it, serve generated demo content from a temporary directory

Options:
  --addr ADDR    the socket address to listen on [default: {DEFAULT_ADDR}]
  -q, --quiet    do not log each request to stderr (for load tests)
  --inline-io    also open files and read ranges of up to 64 KiB on the
                 runtime threads even when they are not in the page cache
                 (reads of cached bytes run there anyway): a cold disk read
                 then stalls every connection on that thread
                 (see FileSource::inline_reads_up_to)
  -h, --help     print this help

Each file NAME is served as /file/NAME (seekable file), /bytes/NAME (in memory)
and /stream/NAME (forward-only stream); / is an HTML index of the files, with a
player for videos and audio. GET and HEAD, every other path is a 404.
Stop with Ctrl-C."
    )
}

/// Parses the arguments after the program name, by hand.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, ArgsError> {
    let mut addr = None;
    let mut dir = None;
    let mut quiet = false;
    let mut inline_io = false;
    let mut only_positional = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_str();
        if !only_positional {
            match text {
                Some("-h" | "--help") => return Err(ArgsError::Help),
                Some("-q" | "--quiet") => {
                    quiet = true;
                    continue;
                }
                Some("--inline-io") => {
                    inline_io = true;
                    continue;
                }
                Some("--") => {
                    only_positional = true;
                    continue;
                }
                Some("--addr") => {
                    let value = args
                        .next()
                        .ok_or_else(|| ArgsError::Bad("--addr needs a value".into()))?;
                    addr = Some(parse_addr(&value.to_string_lossy())?);
                    continue;
                }
                Some(text) if text.starts_with("--addr=") => {
                    addr = Some(parse_addr(&text["--addr=".len()..])?);
                    continue;
                }
                Some(text) if text.starts_with('-') && text.len() > 1 => {
                    return Err(ArgsError::Bad(format!("unknown option `{text}`")));
                }
                _ => {}
            }
        }
        if dir.is_some() {
            return Err(ArgsError::Bad(format!(
                "unexpected argument `{}`: only one DIR may be given",
                arg.to_string_lossy()
            )));
        }
        dir = Some(PathBuf::from(arg));
    }
    Ok(Args {
        addr: match addr {
            Some(addr) => addr,
            None => parse_addr(DEFAULT_ADDR)?,
        },
        dir,
        quiet,
        inline_io,
    })
}

fn parse_addr(text: &str) -> Result<SocketAddr, ArgsError> {
    text.parse().map_err(|error| {
        ArgsError::Bad(format!(
            "invalid --addr `{text}` ({error}); expected e.g. {DEFAULT_ADDR}"
        ))
    })
}

// ---------------------------------------------------------------------------
// Files: metadata, validators, content types, the index
// ---------------------------------------------------------------------------

/// The facts about a file that its validators are derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Meta {
    len: u64,
    mtime: SystemTime,
}

impl Meta {
    fn of(metadata: &std::fs::Metadata) -> Meta {
        Meta {
            len: metadata.len(),
            mtime: metadata.modified().unwrap_or(UNIX_EPOCH),
        }
    }

    /// A strong entity tag: `"<len hex>-<mtime nanos hex>"`. It changes
    /// whenever the file is rewritten (new mtime) or resized, which is what
    /// a strong validator of a file served byte for byte needs.
    fn etag(&self) -> HeaderValue {
        let nanos = self
            .mtime
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let value = format!("\"{:x}-{:x}\"", self.len, nanos);
        HeaderValue::try_from(value).expect("hex digits, '-' and quotes are a valid header value")
    }

    /// The mtime as an HTTP date, clamped to what an origin may send: not
    /// in the future (RFC 9110, 8.8.2.1) and within what `httpdate` can
    /// print (1970 to 9999).
    fn last_modified(&self) -> HeaderValue {
        let now = SystemTime::now();
        let time = self.mtime.clamp(UNIX_EPOCH, now);
        let value = httpdate::fmt_http_date(time);
        HeaderValue::try_from(value).expect("an HTTP date is a valid header value")
    }
}

/// The `Content-Type` for a file name, from a small built-in table.
fn content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "text" | "log" | "md" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        "ogv" => "video/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        // "bin" and everything unknown.
        _ => "application/octet-stream",
    }
}

/// One servable file.
struct Entry {
    path: PathBuf,
    /// The metadata seen by the scan. Responses use the metadata of the
    /// handle they read from, so their validators always describe the bytes
    /// they send, even when the file changed since the scan.
    meta: Meta,
    /// The scan's validator, printed in the demo `curl` commands.
    etag: HeaderValue,
    content_type: &'static str,
    /// The content for `/bytes/`, read on first use and kept.
    loaded: OnceCell<Loaded>,
    /// The open-file cache of `/file/`: the newest handle opened, with the
    /// metadata of that handle; `None` once it is stale and swept, or when
    /// the file could not be opened again.
    opened: Mutex<Option<Opened>>,
}

/// How long `/file/` serves from a cached handle before it opens the file
/// again (nginx's `open_file_cache_valid`, there 60 s by default). A
/// handle older than this is never served, so a sweep every
/// `OPEN_FILE_VALID` closes it: a file requested once and then deleted
/// frees its disk space within two periods.
const OPEN_FILE_VALID: Duration = Duration::from_secs(1);

/// At most this many handles are cached at once (nginx's `open_file_cache
/// max=`); past it, `/file/` opens the file for the one request, so a burst
/// over many files cannot run the process out of descriptors for
/// `accept()`.
const OPEN_FILE_MAX: usize = 256;

/// An open file, as the open-file cache keeps it: the source (cloned per
/// request, a reference-count bump), its metadata and its validators,
/// formatted once.
///
/// The validators always describe the handle they came with. What the
/// cache makes stale, for at most [`OPEN_FILE_VALID`] (past it the next
/// request opens the file again, or gets a `404` and drops the handle if
/// the file is gone): a file replaced
/// (renamed over, or deleted) is still served from the old handle, old
/// bytes under the old validators, which is consistent; a file rewritten in
/// place may send new bytes under the old validators, as it may without a
/// cache between the `stat` and the read, but for longer. Serve files that
/// are replaced, not rewritten, as any static server wants.
#[derive(Clone)]
struct Opened {
    source: RangeSource,
    etag: HeaderValue,
    last_modified: HeaderValue,
    /// When the open began: of two opens racing, the later one is kept.
    at: Instant,
}

/// A file held in memory, with the metadata of the handle it was read from.
struct Loaded {
    bytes: Bytes,
    /// The validators of these bytes, formatted once: an HTTP date costs
    /// more to print than the layer takes to slice a range.
    etag: HeaderValue,
    last_modified: HeaderValue,
}

/// The files served, by name. Built once at start.
struct Index {
    dir: PathBuf,
    files: BTreeMap<String, Entry>,
    /// `--inline-io`.
    inline_io: bool,
    /// How many entries hold a handle, at most `max_open_files`.
    open_files: AtomicUsize,
    max_open_files: usize,
}

impl Index {
    /// Lists the regular files directly inside `dir` (symbolic links are
    /// followed; subdirectories and names that are not UTF-8 are skipped).
    fn scan(dir: &FsPath) -> io::Result<Index> {
        let mut files = BTreeMap::new();
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            let path = item.path();
            let Ok(name) = item.file_name().into_string() else {
                eprintln!("skipping {}: the name is not UTF-8", path.display());
                continue;
            };
            let metadata = match std::fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() => metadata,
                Ok(_) => continue,
                Err(error) => {
                    eprintln!("skipping {}: {error}", path.display());
                    continue;
                }
            };
            let meta = Meta::of(&metadata);
            let entry = Entry {
                content_type: content_type(&name),
                etag: meta.etag(),
                meta,
                path,
                loaded: OnceCell::new(),
                opened: Mutex::new(None),
            };
            files.insert(name, entry);
        }
        Ok(Index {
            dir: dir.to_owned(),
            files,
            inline_io: false,
            open_files: AtomicUsize::new(0),
            max_open_files: OPEN_FILE_MAX,
        })
    }
}

// ---------------------------------------------------------------------------
// Demo content
// ---------------------------------------------------------------------------

/// The temporary directory of the demo content; removed when dropped.
struct DemoDir {
    path: PathBuf,
}

impl DemoDir {
    /// Creates `<temp>/tower-range-demo-<pid>` with `demo.bin`,
    /// `hello.txt` and `demo.webm`.
    async fn create() -> io::Result<DemoDir> {
        let path = std::env::temp_dir().join(format!("tower-range-demo-{}", std::process::id()));
        // A leftover of an earlier process with the same id: start afresh.
        if tokio::fs::metadata(&path).await.is_ok() {
            tokio::fs::remove_dir_all(&path).await?;
        }
        tokio::fs::create_dir_all(&path).await?;
        let demo = DemoDir { path };
        tokio::fs::write(demo.path.join("demo.bin"), demo_bytes(DEMO_LEN)).await?;
        tokio::fs::write(demo.path.join("hello.txt"), HELLO).await?;
        tokio::fs::write(demo.path.join("demo.webm"), DEMO_VIDEO).await?;
        Ok(demo)
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => eprintln!("removed {}", self.path.display()),
            Err(error) => eprintln!("could not remove {}: {error}", self.path.display()),
        }
    }
}

const HELLO: &str = "\
Hello from tower-range!
This small text file is here to show multipart/byteranges:
ask for two ranges of it and you get both, each with its own headers.
0123456789abcdefghijklmnopqrstuvwxyz
";

/// `len` deterministic pseudo-random bytes: the high half of a 64-bit
/// linear congruential generator (Knuth's MMIX constants), four bytes a
/// step. The same every run, so downloads can be compared across runs.
fn demo_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x746f_7765_722d_7261; // "tower-ra"
    let mut bytes = Vec::with_capacity(len + 4);
    while bytes.len() < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        bytes.extend_from_slice(&((state >> 32) as u32).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

// ---------------------------------------------------------------------------
// The service and its handlers
// ---------------------------------------------------------------------------

type SharedIndex = Arc<Index>;

/// The application: [`Routes`] behind one [`RangeLayer`], and a request
/// log outside of it (so it sees the final status) unless `quiet`.
fn app(index: SharedIndex, quiet: bool) -> App {
    let ranged = RangeLayer::new().layer(Routes { index });
    App {
        ranged,
        log: !quiet,
    }
}

/// The whole server as one tower service, for any request body (no route
/// reads it): what each connection serves, and what the tests call.
#[derive(Clone)]
struct App {
    ranged: RangeService<Routes>,
    /// One log line per request (off with `--quiet`).
    log: bool,
}

impl<B: Send + 'static> Service<Request<B>> for App {
    type Response = Response<RangeBody<Body>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request<B>>::poll_ready(&mut self.ranged, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let head = request.method() == Method::HEAD;
        let line = self.log.then(|| RequestLine::of(&request));
        let response = self.ranged.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            if head {
                response = without_body(response);
            }
            if let Some(line) = line {
                line.print(&response);
            }
            Ok(response)
        })
    }
}

/// The answer to a `HEAD`: the `GET`'s head, with its `Content-Length`
/// when the body knows its size, and no body. The routes answer `HEAD`
/// with their `GET` answer (as axum's handlers do), and hyper drops that
/// body over HTTP/1.1 but would send it over HTTP/2. The layer does this
/// for the `200`s and `206`s it answers; the `404`s and `405`s it leaves
/// untouched need it here.
fn without_body(response: Response<RangeBody<Body>>) -> Response<RangeBody<Body>> {
    let (mut head, body) = response.into_parts();
    if !head.headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(len) = http_body::Body::size_hint(&body).exact() {
            head.headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    Response::from_parts(head, RangeBody::default())
}

/// The routes: `/`, `/file/NAME`, `/bytes/NAME`, `/stream/NAME` for `GET`
/// and `HEAD`, `405` for other methods and `404` for other paths.
///
/// Dispatched by hand on the path prefix, not by an axum `Router`: this
/// server is what `benches/load.sh` measures, and with 1 KiB ranges at
/// over 100 000 requests per second on 2 cores, axum's routing costs
/// about a quarter of the throughput (the `layer-bytes` peer, the
/// `/bytes/` route under an axum `Router`, shows how much), which would
/// hide what the layer itself costs. `examples/axum.rs` shows the layer on
/// an axum `Router`, which is one `.layer(RangeLayer::new())`.
#[derive(Clone)]
struct Routes {
    index: SharedIndex,
}

impl<B> Service<Request<B>> for Routes {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let index = self.index.clone();
        let (parts, _) = request.into_parts();
        Box::pin(async move { Ok(route(&index, &parts.method, parts.uri.path()).await) })
    }
}

/// Picks the handler for `path`, then checks `method`: `404` for a path
/// no route has, `405` for a method other than `GET` and `HEAD` on one
/// that has a route (as an axum `Router` answers).
async fn route(index: &Index, method: &Method, path: &str) -> Response {
    let handler = if path == "/" {
        Handler::Index
    } else if path.starts_with("/file/") {
        Handler::File
    } else if path.starts_with("/bytes/") {
        Handler::Bytes
    } else if path.starts_with("/stream/") {
        Handler::Stream
    } else {
        return not_found();
    };
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed();
    }
    match handler {
        Handler::Index => index_page(index),
        Handler::File => serve_file(index, path).await,
        Handler::Bytes => serve_bytes(index, path).await,
        Handler::Stream => serve_stream(index, path).await,
    }
}

/// The routes of [`route`].
enum Handler {
    Index,
    File,
    Bytes,
    Stream,
}

/// `/file/NAME`: a [`FileSource`] from the open-file cache (opened again
/// when older than [`OPEN_FILE_VALID`]). The body streams the whole file for
/// a `200`; when a range applies, the layer drops that body unread and reads
/// only the requested bytes from the source: from the page cache on the
/// runtime thread, or with one hop to the blocking pool when the bytes are
/// not in memory. So a request for a warm file costs no blocking-pool hop,
/// and one for a cold file one (two when the cache opens the file again).
async fn serve_file(index: &Index, path: &str) -> Response {
    let Some((name, entry)) = index.lookup(path, "/file/") else {
        return not_found();
    };
    let opened = match index.open_cached(entry).await {
        Ok(opened) => opened,
        Err(error) => return io_error(name, error),
    };
    let mut response = opened.source.into_response().map(Body::new);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(entry.content_type),
    );
    headers.insert(header::ETAG, opened.etag);
    headers.insert(header::LAST_MODIFIED, opened.last_modified);
    response
}

impl Index {
    /// The entry's cached handle if it is fresh, else the file opened again
    /// (off the runtime unless `inline_io`) and cached. When the file cannot
    /// be opened again, the stale handle is dropped, not kept.
    async fn open_cached(&self, entry: &Entry) -> io::Result<Opened> {
        let started = Instant::now();
        if let Ok(cached) = entry.opened.lock() {
            if let Some(opened) = cached.as_ref().filter(|o| o.at.elapsed() < OPEN_FILE_VALID) {
                return Ok(opened.clone());
            }
        }
        let path = entry.path.clone();
        let open = move || {
            let file = std::fs::File::open(path)?;
            let meta = Meta::of(&file.metadata()?);
            io::Result::Ok((file, meta))
        };
        let opened = if self.inline_io {
            open()
        } else {
            tokio::task::spawn_blocking(open)
                .await
                .unwrap_or_else(|error| Err(io::Error::other(error)))
        };
        let (file, meta) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.forget_opened_before(entry, started);
                return Err(error);
            }
        };
        let mut source = FileSource::from_std_with_len(file, meta.len);
        if self.inline_io {
            source = source.inline_reads_up_to(64 * 1024);
        }
        let opened = Opened {
            source: RangeSource::new(source),
            etag: meta.etag(),
            last_modified: meta.last_modified(),
            at: started,
        };
        self.keep_opened(entry, opened.clone());
        Ok(opened)
    }

    /// Caches `opened` unless the entry holds a handle opened later (a
    /// concurrent refresh that finished first), or the cache is full.
    fn keep_opened(&self, entry: &Entry, opened: Opened) {
        let Ok(mut cached) = entry.opened.lock() else {
            return;
        };
        match &*cached {
            Some(newer) if newer.at >= opened.at => {}
            Some(_) => *cached = Some(opened),
            None => {
                let reserved =
                    self.open_files
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            (n < self.max_open_files).then_some(n + 1)
                        });
                if reserved.is_ok() {
                    *cached = Some(opened);
                }
            }
        }
    }

    /// Drops the entry's handle if it was opened before `instant`.
    fn forget_opened_before(&self, entry: &Entry, instant: Instant) {
        if let Ok(mut cached) = entry.opened.lock() {
            if cached.as_ref().is_some_and(|o| o.at <= instant) {
                *cached = None;
                self.open_files.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Closes every cached handle older than [`OPEN_FILE_VALID`] (no
    /// request would use it); `run` calls this every `OPEN_FILE_VALID`.
    fn close_stale_files(&self) {
        for entry in self.files.values() {
            if let Some(stale) = Instant::now().checked_sub(OPEN_FILE_VALID) {
                self.forget_opened_before(entry, stale);
            }
        }
    }
}

impl Index {
    /// The file named by the rest of `path` after `prefix`, and its name.
    /// The raw segment is looked up as it is, with no allocation; only one
    /// with a `%` is percent-decoded first.
    fn lookup(&self, path: &str, prefix: &str) -> Option<(&str, &Entry)> {
        let raw = path.strip_prefix(prefix)?;
        let found = if raw.contains('%') {
            self.files.get_key_value(percent_decode(raw)?.as_str())
        } else {
            self.files.get_key_value(raw)
        };
        found.map(|(name, entry)| (name.as_str(), entry))
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is
/// not UTF-8 (no file of the index has such a name).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `/bytes/NAME`: the whole file as one `Bytes`, read on first use and kept
/// for the life of the server, with its validators formatted once. The
/// layer slices it without copying.
async fn serve_bytes(index: &Index, path: &str) -> Response {
    let Some((name, entry)) = index.lookup(path, "/bytes/") else {
        return not_found();
    };
    let loaded = entry.loaded.get_or_try_init(|| load(entry.path.clone()));
    let loaded = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return io_error(name, error),
    };
    let mut response = Response::new(Body::from(loaded.bytes.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(entry.content_type),
    );
    // Said outright, as the other routes do: a HEAD's empty body would
    // otherwise leave the layer unsure of the length of an empty file.
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(loaded.bytes.len()),
    );
    headers.insert(header::ETAG, loaded.etag.clone());
    headers.insert(header::LAST_MODIFIED, loaded.last_modified.clone());
    response
}

/// Reads a whole file, off the runtime.
async fn load(path: PathBuf) -> io::Result<Loaded> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut file = std::fs::File::open(&path)?;
        let mut meta = Meta::of(&file.metadata()?);
        let mut content = Vec::with_capacity(usize::try_from(meta.len).unwrap_or(0));
        file.read_to_end(&mut content)?;
        // The length that goes with these bytes, should the file have
        // changed under us.
        meta.len = content.len() as u64;
        eprintln!("loaded {} ({} bytes) into memory", path.display(), meta.len);
        Ok(Loaded {
            bytes: Bytes::from(content),
            etag: meta.etag(),
            last_modified: meta.last_modified(),
        })
    })
    .await
    .map_err(io::Error::other)?
}

/// `/stream/NAME`: the file read forward in 16 KiB chunks, a body that
/// cannot seek and does not know its length; the `Content-Length` header
/// says it. For a range the layer skips the bytes before it and stops
/// reading after it (there is no source to seek in).
async fn serve_stream(index: &Index, path: &str) -> Response {
    let Some((name, entry)) = index.lookup(path, "/stream/") else {
        return not_found();
    };
    let opened = async {
        let file = tokio::fs::File::open(&entry.path).await?;
        let meta = Meta::of(&file.metadata().await?);
        io::Result::Ok((file, meta))
    };
    let (file, meta) = match opened.await {
        Ok(opened) => opened,
        Err(error) => return io_error(name, error),
    };
    let mut response = Response::new(Body::from_stream(chunks(file, meta.len)));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len));
    represent(response, &meta, entry.content_type)
}

/// Exactly `len` bytes of `file` from its start, as chunks of
/// [`STREAM_CHUNK`] bytes (the last one shorter). A file that ends early is
/// an error, so the connection fails rather than sending fewer bytes than
/// the `Content-Length` promised.
fn chunks(
    file: tokio::fs::File,
    len: u64,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold((file, len), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let size = usize::try_from(remaining).map_or(STREAM_CHUNK, |r| r.min(STREAM_CHUNK));
        let mut chunk = vec![0; size];
        file.read_exact(&mut chunk).await?;
        Ok(Some((Bytes::from(chunk), (file, remaining - size as u64))))
    })
}

/// Adds the headers that describe a representation: `Content-Type`, a
/// strong `ETag` and `Last-Modified`. The layer compares `If-Range`,
/// `If-Match`, `If-None-Match` and the dates with them.
fn represent(mut response: Response, meta: &Meta, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::ETAG, meta.etag());
    headers.insert(header::LAST_MODIFIED, meta.last_modified());
    response
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}

/// Every route answers `GET` and `HEAD` only.
fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, HEAD")],
        "405 Method Not Allowed\n",
    )
        .into_response()
}

/// A file that cannot be read: `404` when it is gone, else `500`.
fn io_error(name: &str, error: io::Error) -> Response {
    eprintln!("{name}: {error}");
    if error.kind() == io::ErrorKind::NotFound {
        not_found()
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error\n",
        )
            .into_response()
    }
}

/// What the request log says of a request, taken before the request goes
/// in: method, URI, version, `Range` and the preconditions that decide how
/// it is answered (a browser revalidating its cached part of a video sends
/// `If-None-Match` with its `Range`, and a 304 is the right answer).
struct RequestLine(String);

impl RequestLine {
    fn of<B>(request: &Request<B>) -> RequestLine {
        let mut line = format!(
            "{} {} {:?}",
            request.method(),
            request.uri(),
            request.version()
        );
        for name in [
            header::RANGE,
            header::IF_RANGE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
        ] {
            if let Some(value) = request.headers().get(&name) {
                let value = value.to_str().unwrap_or("<not ASCII>");
                let _ = write!(line, " {name}={value}");
            }
        }
        RequestLine(line)
    }

    /// Prints the line with the status answered and its `Content-Range`.
    fn print<B>(self, response: &Response<B>) {
        eprintln!("{}", self.finish(response));
    }

    /// The whole line: `scripts/check-browser.sh` parses it.
    fn finish<B>(self, response: &Response<B>) -> String {
        let detail = response
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|value| value.to_str().ok())
            .map(|value| format!(" ({value})"))
            .unwrap_or_default();
        format!("{} -> {}{detail}", self.0, response.status().as_u16())
    }
}

// ---------------------------------------------------------------------------
// The index page
// ---------------------------------------------------------------------------

/// The start of the index page, up to the list of files.
const INDEX_HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tower-range demo server</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 1rem auto; padding: 0 1rem; }
section { border-top: 1px solid #ccc; padding: 0.5rem 0; }
h2 { font-size: 1.1rem; margin: 0.3rem 0; font-family: ui-monospace, monospace; }
p { margin: 0.3rem 0; }
video, audio { display: block; max-width: 100%; margin: 0.5rem 0; }
</style>
</head>
<body>
<h1>tower-range demo server</h1>
<p>Every response goes through one <code>RangeLayer</code>. Each file is served as
<code>/file/</code> (a seekable file source), <code>/bytes/</code> (in memory) and
<code>/stream/</code> (a forward-only stream); the players use <code>/file/</code>,
so seeking in them sends range requests (see the server's log).</p>
"#;

/// `/`: the files with their sizes and links to their three URLs, and a
/// player for media a browser plays: `<video>` for WebM and MP4, `<audio>`
/// for audio. Names are percent-encoded in URLs and escaped in text.
fn index_page(index: &Index) -> Response {
    let mut html = String::from(INDEX_HEAD);
    if index.files.is_empty() {
        html.push_str("<p>No files to serve.</p>\n");
    }
    for (name, entry) in &index.files {
        let path = percent_encode(name);
        let _ = writeln!(
            html,
            "<section>\n<h2>{}</h2>\n<p>{} &middot; {}</p>",
            escape_html(name),
            human_size(entry.meta.len),
            escape_html(entry.content_type)
        );
        let links: Vec<String> = ["file", "bytes", "stream"]
            .iter()
            .map(|kind| format!("<a href=\"/{kind}/{path}\">/{kind}/</a>"))
            .collect();
        let _ = writeln!(html, "<p>{}</p>", links.join(" &middot; "));
        if let Some(tag) = player(entry.content_type) {
            let _ = writeln!(
                html,
                "<{tag} controls preload=\"metadata\" src=\"/file/{path}\"></{tag}>"
            );
        }
        html.push_str("</section>\n");
    }
    html.push_str("</body>\n</html>\n");
    let mut response = Response::new(Body::from(html));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The HTML element that plays a content type in a browser, if any.
fn player(content_type: &str) -> Option<&'static str> {
    match content_type {
        "video/webm" | "video/mp4" => Some("video"),
        _ if content_type.starts_with("audio/") => Some("audio"),
        _ => None,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A size for people: bytes below 1 KiB, else KiB, MiB or GiB with one
/// decimal, and the exact byte count.
fn human_size(len: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if len < 1024 {
        return format!("{len} bytes");
    }
    let mut value = len as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({len} bytes)", UNITS[unit])
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            let _ =
                std::io::Write::write_fmt(&mut std::io::stdout(), format_args!("{}\n", usage()));
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Bad(message)) => {
            eprintln!("serve: {message}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("serve: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Binds, prepares the content, serves until a shutdown signal, then shuts
/// down gracefully. The demo directory (if any) is removed on the way out,
/// whether serving ended well or not.
async fn run(args: Args) -> io::Result<()> {
    // Listen for the signals first, so an early Ctrl-C is a clean shutdown.
    let mut shutdown = Box::pin(shutdown_signal()?);

    if let Some(dir) = &args.dir {
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", dir.display()),
            ));
        }
    }

    let listener = TcpListener::bind(args.addr).await.map_err(|error| {
        io::Error::new(error.kind(), format!("cannot bind {}: {error}", args.addr))
    })?;
    let addr = listener.local_addr()?;

    // The demo directory lives until the end of this function.
    let (demo, dir) = match args.dir {
        Some(dir) => (None, dir),
        None => {
            let demo = DemoDir::create().await?;
            let dir = demo.path.clone();
            (Some(demo), dir)
        }
    };
    let mut index = Index::scan(&dir)?;
    index.inline_io = args.inline_io;
    let index = Arc::new(index);
    print_banner(addr, &index, demo.is_some());
    let sweeper = tokio::spawn({
        let index = index.clone();
        async move {
            let mut every = tokio::time::interval(OPEN_FILE_VALID);
            loop {
                every.tick().await;
                index.close_stale_files();
            }
        }
    });

    let app = app(index, args.quiet);
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // E.g. out of file descriptors: wait, do not spin.
                        eprintln!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if let Err(error) = stream.set_nodelay(true) {
                    eprintln!("{peer}: cannot set TCP_NODELAY: {error}");
                }
                let service = TowerToHyperService::new(app.clone());
                let connection = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        // hyper-util's way of saying that the shutdown closed
                        // a connection before its first request: not news.
                        let cancelled = error
                            .downcast_ref::<io::Error>()
                            .is_some_and(|error| error.kind() == io::ErrorKind::Interrupted);
                        if !cancelled {
                            eprintln!("{peer}: connection error: {}", chain(&*error));
                        }
                    }
                });
            }
            signal = &mut shutdown => {
                eprintln!("{signal} received: shutting down");
                break;
            }
        }
    }

    // Stop accepting, then let the open connections finish their responses.
    drop(listener);
    let open = graceful.count();
    if open > 0 {
        eprintln!("waiting up to {GRACE:?} for {open} open connection(s)");
    }
    match tokio::time::timeout(GRACE, graceful.shutdown()).await {
        Ok(()) => eprintln!("all connections closed"),
        Err(_) => eprintln!("gave up waiting after {GRACE:?}; closing the rest"),
    }
    sweeper.abort();
    drop(demo);
    Ok(())
}

/// An error and its sources, `: `-separated (hyper's own messages are
/// terse: "connection error", with the cause in the source).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// Resolves with the name of the first shutdown signal: Ctrl-C (`SIGINT`),
/// or `SIGTERM` on Unix. The handlers are installed when this is called,
/// not when the future is first polled.
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => "Ctrl-C",
                _ = terminate.recv() => "SIGTERM",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                eprintln!("cannot listen for Ctrl-C: {error}");
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        })
    }
}

/// Prints the address, the URLs served and, for the demo, commands to try.
fn print_banner(addr: SocketAddr, index: &Index, demo: bool) {
    let base = format!("http://{addr}");
    let mut out = String::new();
    let _ = writeln!(out, "tower-range demo server listening on {base}");
    let what = if demo {
        "generated demo file(s) from"
    } else {
        "file(s) from"
    };
    let _ = writeln!(
        out,
        "serving {} {what} {} (GET and HEAD; HTTP/1.1 and h2c)",
        index.files.len(),
        index.dir.display()
    );
    let _ = writeln!(
        out,
        "index page with players for video and audio: {base}/ (open it in a browser)"
    );
    if index.files.is_empty() {
        let _ = writeln!(out, "  (no regular files: every file URL is a 404)");
    }
    for (name, entry) in index.files.iter().take(LIST_LIMIT) {
        let path = percent_encode(name);
        let _ = writeln!(
            out,
            "  {name}  {} bytes, {}, ETag {}",
            entry.meta.len,
            entry.content_type,
            entry.etag.to_str().unwrap_or_default()
        );
        for kind in ["file", "bytes", "stream"] {
            let _ = writeln!(out, "    {base}/{kind}/{path}");
        }
    }
    if index.files.len() > LIST_LIMIT {
        let _ = writeln!(
            out,
            "  ... and {} more (/file/, /bytes/ and /stream/ each)",
            index.files.len() - LIST_LIMIT
        );
    }
    if demo {
        if let Some(entry) = index.files.get("demo.bin") {
            let etag = entry.etag.to_str().unwrap_or_default();
            let _ = write!(
                out,
                "
Try:
  # one range: 206 with Content-Range (also /bytes/ and /stream/)
  curl -s -D- -o /dev/null -r 0-99 {base}/file/demo.bin
  # the last 500 bytes (suffix range)
  curl -s -D- -o /dev/null -r -500 {base}/bytes/demo.bin
  # two ranges: 206 multipart/byteranges
  curl -s -D- -r 0-4,24-28 {base}/file/hello.txt
  # resume from byte 1000 if the file is unchanged (If-Range with the ETag) ...
  curl -s -D- -o /dev/null -r 1000- -H 'If-Range: {etag}' {base}/stream/demo.bin
  # ... or get the whole file (200) when the ETag does not match
  curl -s -D- -o /dev/null -r 1000- -H 'If-Range: \"stale\"' {base}/stream/demo.bin
  # headers only
  curl -sI {base}/file/demo.bin
  # a range that cannot be satisfied: 416
  curl -s -D- -o /dev/null -r 9999999999- {base}/file/demo.bin
  # HTTP/2 without TLS
  curl -s -D- -o /dev/null --http2-prior-knowledge -r 0-99 {base}/file/demo.bin
"
            );
        }
    }
    let _ = writeln!(out, "\nPress Ctrl-C to stop.");
    // A closed stdout (piped into head) is no reason to die.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
}

/// Percent-encodes a file name for a URL path segment (everything but the
/// RFC 3986 unreserved characters).
fn percent_encode(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

// Run with `cargo test --example serve`.
#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A directory with a video, an audio file and a binary file, one of
    /// them with a name that needs escaping in HTML and in a URL.
    fn media_dir(test: &str) -> PathBuf {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("serve-{test}-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("<clip> & \"more\".webm"), DEMO_VIDEO).unwrap();
        std::fs::write(dir.join("song.mp3"), b"not really mp3").unwrap();
        std::fs::write(dir.join("data.bin"), [0u8; 2048]).unwrap();
        dir
    }

    async fn get(app: App, path: &str, range: Option<&str>) -> (StatusCode, String, String) {
        let mut request = Request::builder().uri(path);
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn index_page_lists_files_with_players_and_escaped_names() {
        let dir = media_dir("index");
        let app = app(Arc::new(Index::scan(&dir).unwrap()), true);
        let (status, content_type, html) = get(app, "/", None).await;
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/html; charset=utf-8");
        let video = "%3Cclip%3E%20%26%20%22more%22.webm";
        assert!(html.contains("<h2>&lt;clip&gt; &amp; &quot;more&quot;.webm</h2>"));
        assert!(html.contains(&format!(
            "<video controls preload=\"metadata\" src=\"/file/{video}\"></video>"
        )));
        for kind in ["file", "bytes", "stream"] {
            assert!(html.contains(&format!("<a href=\"/{kind}/{video}\">/{kind}/</a>")));
            assert!(html.contains(&format!("<a href=\"/{kind}/data.bin\">/{kind}/</a>")));
        }
        assert!(html.contains("<audio controls preload=\"metadata\" src=\"/file/song.mp3\">"));
        assert!(html.contains("2.0 KiB (2048 bytes) &middot; application/octet-stream"));
        // One player each for the video and the song, none for data.bin,
        // and no raw name anywhere.
        assert_eq!(html.matches("<video ").count(), 1);
        assert_eq!(html.matches("<audio ").count(), 1);
        assert!(!html.contains("<clip>"));
    }

    #[tokio::test]
    async fn index_page_and_video_go_through_the_range_layer() {
        let dir = media_dir("ranges");
        let app = app(Arc::new(Index::scan(&dir).unwrap()), true);
        let (status, _, head) = get(app.clone(), "/", Some("bytes=0-14")).await;
        assert_eq!(
            (status, head.as_str()),
            (StatusCode::PARTIAL_CONTENT, "<!DOCTYPE html>")
        );

        let response = app
            .oneshot(
                Request::builder()
                    .uri("/file/%3Cclip%3E%20%26%20%22more%22.webm")
                    .header(header::RANGE, "bytes=100-")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "video/webm");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, DEMO_VIDEO[100..]);
    }

    /// The hand-written dispatch: every route for GET and HEAD (with and
    /// without the log), 405 for other methods, 404 for other paths and
    /// names, and a percent-encoded name found.
    #[tokio::test]
    async fn routes_dispatch_on_method_and_path() {
        let dir = media_dir("routes");
        let index = Arc::new(Index::scan(&dir).unwrap());
        let video = "/file/%3Cclip%3E%20%26%20%22more%22.webm";
        let cases: [(&str, &str, u16, &[u8]); 20] = [
            ("GET", "/file/song.mp3", 206, b"really"),
            ("GET", "/bytes/song.mp3", 206, b"really"),
            ("GET", "/stream/song.mp3", 206, b"really"),
            ("GET", "/", 206, b"CTYPE "),
            ("GET", video, 206, &DEMO_VIDEO[4..10]),
            ("HEAD", "/file/song.mp3", 206, b""),
            ("HEAD", "/bytes/song.mp3", 206, b""),
            ("HEAD", "/stream/song.mp3", 206, b""),
            ("POST", "/file/song.mp3", 405, b"405 Method Not Allowed\n"),
            ("DELETE", "/", 405, b"405 Method Not Allowed\n"),
            ("GET", "/file/", 404, b"404 Not Found\n"),
            ("GET", "/file/nope.bin", 404, b"404 Not Found\n"),
            ("GET", "/files/song.mp3", 404, b"404 Not Found\n"),
            ("GET", "/song.mp3", 404, b"404 Not Found\n"),
            ("GET", "/bytes/song.mp3/", 404, b"404 Not Found\n"),
            ("GET", "/stream/song%2", 404, b"404 Not Found\n"),
            ("GET", "/file/song.mp3?x=1", 206, b"really"),
            ("HEAD", "/nope", 404, b""),
            ("POST", "/nope", 404, b"404 Not Found\n"),
            (
                "OPTIONS",
                "/bytes/song.mp3",
                405,
                b"405 Method Not Allowed\n",
            ),
        ];
        for quiet in [true, false] {
            let app = app(index.clone(), quiet);
            for (method, path, status, body) in cases {
                let request = Request::builder()
                    .method(method)
                    .uri(path)
                    .header(header::RANGE, "bytes=4-9")
                    .body(Body::empty())
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                let what = format!("{method} {path} (quiet: {quiet})");
                assert_eq!(response.status().as_u16(), status, "{what}");
                if status == 405 {
                    assert_eq!(response.headers()[header::ALLOW], "GET, HEAD", "{what}");
                }
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&bytes[..], body, "{what}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A `HEAD` without `Range` is a `200` with the `GET`'s headers,
    /// `Content-Length` included, and no body on every route: the layer
    /// passes it through, and hyper would send the body of a `HEAD` over
    /// HTTP/2 (a protocol error for the client).
    #[tokio::test]
    async fn head_without_range_has_the_length_and_no_body() {
        let dir = media_dir("head");
        let index = Arc::new(Index::scan(&dir).unwrap());
        let index_len = index_page(&index)
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len();
        for quiet in [true, false] {
            let app = app(index.clone(), quiet);
            for (path, len) in [
                ("/file/song.mp3", 14),
                ("/bytes/song.mp3", 14),
                ("/stream/song.mp3", 14),
                ("/", index_len),
            ] {
                let request = Request::head(path).body(Body::empty()).unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                assert_eq!(
                    response.headers()[header::CONTENT_LENGTH],
                    len.to_string().as_str(),
                    "{path}"
                );
                assert_eq!(response.headers()[header::ACCEPT_RANGES], "bytes", "{path}");
                assert!(response.body().is_end_stream(), "{path}: a body for HEAD");
                assert_eq!(response.body().size_hint().exact(), Some(0), "{path}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The log line, in the shape `scripts/check-browser.sh` parses.
    #[test]
    fn request_line_says_request_headers_and_answer() {
        let request = Request::get("/file/demo.webm?t=1")
            .header(header::RANGE, "bytes=35339-")
            .header(header::IF_RANGE, "\"3d836-1\"")
            .header(header::USER_AGENT, "not logged")
            .body(())
            .unwrap();
        let response = Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, "bytes 35339-229375/229376")
            .body(())
            .unwrap();
        assert_eq!(
            RequestLine::of(&request).finish(&response),
            "GET /file/demo.webm?t=1 HTTP/1.1 range=bytes=35339- if-range=\"3d836-1\" \
             -> 206 (bytes 35339-229375/229376)"
        );
        let request = Request::head("/").body(()).unwrap();
        let response = Response::new(());
        assert_eq!(
            RequestLine::of(&request).finish(&response),
            "HEAD / HTTP/1.1 -> 200"
        );
    }

    /// Makes the entry's cached handle look older than [`OPEN_FILE_VALID`].
    fn age(entry: &Entry) {
        let mut cached = entry.opened.lock().unwrap();
        let opened = cached.as_mut().expect("a cached handle");
        opened.at = Instant::now()
            .checked_sub(OPEN_FILE_VALID * 2)
            .expect("the clock is older than 2 s");
    }

    fn is_cached(index: &Index, name: &str) -> bool {
        index.files[name].opened.lock().unwrap().is_some()
    }

    #[tokio::test]
    async fn a_deleted_file_is_closed_when_its_reopen_fails() {
        let dir = media_dir("deleted");
        let index = Arc::new(Index::scan(&dir).unwrap());
        let app = app(index.clone(), true);
        let (status, _, _) = get(app.clone(), "/file/song.mp3", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(is_cached(&index, "song.mp3"));

        std::fs::remove_file(dir.join("song.mp3")).unwrap();
        age(&index.files["song.mp3"]);
        let (status, _, _) = get(app, "/file/song.mp3", None).await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            !is_cached(&index, "song.mp3"),
            "the deleted file is still open"
        );
        assert_eq!(index.open_files.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn an_open_that_began_earlier_does_not_replace_a_later_one() {
        let dir = media_dir("race");
        let index = Index::scan(&dir).unwrap();
        let entry = &index.files["data.bin"];
        let later = index.open_cached(entry).await.unwrap();
        let mut earlier = later.clone();
        earlier.at = later.at.checked_sub(Duration::from_millis(1)).unwrap();
        index.keep_opened(entry, earlier);
        std::fs::remove_dir_all(&dir).unwrap();
        let cached = entry.opened.lock().unwrap().as_ref().unwrap().at;
        assert_eq!(cached, later.at, "the refresh went backwards");
        assert_eq!(index.open_files.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn stale_handles_are_swept_and_the_cache_is_capped() {
        let dir = media_dir("sweep");
        let mut index = Index::scan(&dir).unwrap();
        index.max_open_files = 1;
        let index = Arc::new(index);
        let app = app(index.clone(), true);
        for name in ["data.bin", "song.mp3"] {
            let (status, _, _) = get(app.clone(), &format!("/file/{name}"), None).await;
            assert_eq!(status, StatusCode::OK, "{name}");
        }
        // Full: the second file was served from a handle of its own.
        assert!(is_cached(&index, "data.bin"));
        assert!(!is_cached(&index, "song.mp3"));
        assert_eq!(index.open_files.load(Ordering::Relaxed), 1);

        index.close_stale_files();
        assert!(is_cached(&index, "data.bin"), "a fresh handle was closed");
        age(&index.files["data.bin"]);
        index.close_stale_files();
        assert!(!is_cached(&index, "data.bin"), "a stale handle stays open");
        assert_eq!(index.open_files.load(Ordering::Relaxed), 0);

        let (status, _, body) = get(app, "/file/song.mp3", None).await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "not really mp3"));
        assert!(is_cached(&index, "song.mp3"));
    }

    #[test]
    fn demo_video_is_webm() {
        // The EBML magic number, then the document type.
        assert_eq!(DEMO_VIDEO[..4], [0x1A, 0x45, 0xDF, 0xA3]);
        assert!(DEMO_VIDEO[..64].windows(4).any(|window| window == b"webm"));
        assert!(DEMO_VIDEO.len() < 512 * 1024, "keep the package small");
    }

    #[test]
    fn players_sizes_and_escapes() {
        assert_eq!(player("video/webm"), Some("video"));
        assert_eq!(player("video/mp4"), Some("video"));
        assert_eq!(player("video/quicktime"), None);
        assert_eq!(player("audio/ogg"), Some("audio"));
        assert_eq!(player("application/octet-stream"), None);
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(human_size(8 << 20), "8.0 MiB (8388608 bytes)");
        assert_eq!(human_size(3 << 40), "3072.0 GiB (3298534883328 bytes)");
        assert_eq!(escape_html("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }
}
