//! A demo file server: every response goes through one [`RangeLayer`].
//!
//! ```text
//! cargo run --release --example serve -- [--addr 127.0.0.1:3000] [DIR]
//! ```
//!
//! Without `DIR` it writes demo content into a fresh temporary directory
//! (`demo.bin`, 8 MiB of deterministic pseudo-random bytes, and a small
//! `hello.txt`), prints ready-to-paste `curl` commands, and removes the
//! directory again on shutdown. With `DIR` it serves the regular files found
//! directly in `DIR` when it starts.
//!
//! Each file `NAME` is served three ways, so the three kinds of bodies the
//! layer handles can be compared on the same bytes:
//!
//! | URL | body | how the layer answers a range |
//! |---|---|---|
//! | `/file/NAME` | a [`FileSource`] opened per request | reads only the requested bytes (positioned reads) |
//! | `/bytes/NAME` | the whole file in memory, loaded once on first use | slices the `Bytes`, no copy |
//! | `/stream/NAME` | a forward-only stream of 16 KiB chunks with a `Content-Length` | skips up to the range, stops after it |
//!
//! `HEAD` works on all of them (axum answers `HEAD` with the `GET` handler);
//! every other path is a `404`. Every response carries a strong `ETag`
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
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use tower_range::source::{FileSource, RangeSource};
use tower_range::RangeLayer;

/// The address used when `--addr` is not given.
const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The size of one chunk of a `/stream/` body.
const STREAM_CHUNK: usize = 16 * 1024;

/// The size of the generated `demo.bin`.
const DEMO_LEN: usize = 8 * 1024 * 1024;

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
    /// `--inline-io`: open files and make small reads on the runtime thread.
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
  --inline-io    open files and read ranges of up to 64 KiB on the runtime
                 threads instead of the blocking pool: much faster for files
                 in the page cache, but a cold disk read then stalls every
                 connection on that thread (see FileSource::inline_reads_up_to)
  -h, --help     print this help

Each file NAME is served as /file/NAME (seekable file), /bytes/NAME (in memory)
and /stream/NAME (forward-only stream); GET and HEAD, every other path is a 404.
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
            };
            files.insert(name, entry);
        }
        Ok(Index {
            dir: dir.to_owned(),
            files,
            inline_io: false,
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
    /// Creates `<temp>/tower-range-demo-<pid>` with `demo.bin` and
    /// `hello.txt`.
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
// Handlers and router
// ---------------------------------------------------------------------------

type SharedIndex = Arc<Index>;

/// The application: three routes and a 404 fallback, all behind one
/// [`RangeLayer`], plus a request log outside of it (so it sees the final
/// status).
fn router(index: SharedIndex, quiet: bool) -> Router {
    let app = Router::new()
        .route("/file/{name}", get(serve_file))
        .route("/bytes/{name}", get(serve_bytes))
        .route("/stream/{name}", get(serve_stream))
        .fallback(|| async { not_found() })
        .with_state(index)
        .layer(RangeLayer::new());
    if quiet {
        app
    } else {
        app.layer(middleware::from_fn(log_request))
    }
}

/// `/file/NAME`: a [`FileSource`] opened for this request. The body streams
/// the whole file for a `200`; when a range applies, the layer drops that
/// body unread and reads only the requested bytes from the source.
async fn serve_file(State(index): State<SharedIndex>, Path(name): Path<String>) -> Response {
    let Some(entry) = index.files.get(&name) else {
        return not_found();
    };
    let path = entry.path.clone();
    let open = move || {
        let file = std::fs::File::open(path)?;
        let meta = Meta::of(&file.metadata()?);
        io::Result::Ok((file, meta))
    };
    let opened = if index.inline_io {
        open()
    } else {
        tokio::task::spawn_blocking(open)
            .await
            .map_err(io::Error::other)
            .and_then(|result| result)
    };
    let (file, meta) = match opened {
        Ok(opened) => opened,
        Err(error) => return io_error(&name, error),
    };
    let mut source = FileSource::from_std_with_len(file, meta.len);
    if index.inline_io {
        source = source.inline_reads_up_to(64 * 1024);
    }
    let response = RangeSource::new(source).into_response().map(Body::new);
    represent(response, &meta, entry.content_type)
}

/// `/bytes/NAME`: the whole file as one `Bytes`, read on first use and kept
/// for the life of the server. The layer slices it without copying.
async fn serve_bytes(State(index): State<SharedIndex>, Path(name): Path<String>) -> Response {
    let Some(entry) = index.files.get(&name) else {
        return not_found();
    };
    let loaded = entry.loaded.get_or_try_init(|| load(entry.path.clone()));
    let loaded = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return io_error(&name, error),
    };
    let response = Response::new(Body::from(loaded.bytes.clone()));
    let mut response = response;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(entry.content_type),
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
async fn serve_stream(State(index): State<SharedIndex>, Path(name): Path<String>) -> Response {
    let Some(entry) = index.files.get(&name) else {
        return not_found();
    };
    let opened = async {
        let file = tokio::fs::File::open(&entry.path).await?;
        let meta = Meta::of(&file.metadata().await?);
        io::Result::Ok((file, meta))
    };
    let (file, meta) = match opened.await {
        Ok(opened) => opened,
        Err(error) => return io_error(&name, error),
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

/// Logs one line per request: method, path, `Range`, and what was answered.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let version = request.version();
    let range = request
        .headers()
        .get(header::RANGE)
        .map(|value| format!(" range={}", value.to_str().unwrap_or("<not ASCII>")))
        .unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status();
    let detail = response
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|value| value.to_str().ok())
        .map(|value| format!(" ({value})"))
        .unwrap_or_default();
    eprintln!(
        "{method} {uri} {version:?}{range} -> {}{detail}",
        status.as_u16()
    );
    response
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

    let app = router(index, args.quiet);
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
    if index.files.is_empty() {
        let _ = writeln!(out, "  (no regular files: every request is a 404)");
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
