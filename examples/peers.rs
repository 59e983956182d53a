//! Peer servers for the loopback load benchmark (`benches/load.sh`): the
//! other Rust ways of serving the same files, each behind the same accept
//! loop as `examples/serve.rs`, so only the request handling differs.
//!
//! ```text
//! cargo run --release --example peers -- --addr 127.0.0.1:PORT --kind KIND DIR
//! ```
//!
//! | KIND | URL | what answers |
//! |---|---|---|
//! | `servedir` | `/NAME` | tower-http's `ServeDir::new(DIR)` (as an axum fallback service) |
//! | `axum-range` | `/NAME` | axum-range's `Ranged` + `KnownSize` over a `tokio::fs::File` opened per request |
//! | `ceiling` | `/NAME` | a bare hyper service: the requested length from memory, no real range logic |
//! | `bare-bytes` | `/bytes/NAME` | the `/bytes/NAME` handler of `examples/serve.rs` on an axum `Router`, without `RangeLayer` |
//! | `layer-bytes` | `/bytes/NAME` | the same handler and router, with `RangeLayer` |
//! | `layer-mmap` | `/NAME` | each file memory-mapped once (`memmap2`) as one `Bytes`, a plain tower service with `RangeLayer` (no axum) |
//! | `layer-file` | `/file/NAME` | a `/file/NAME` handler like that of `examples/serve.rs` (`FileSource`, opened per request) on an axum `Router`, with `RangeLayer` |
//!
//! `bare-bytes` and `layer-bytes` are the same code but for the layer, so
//! comparing them on requests without `Range` measures what the layer
//! costs a pass-through. `examples/serve.rs` dispatches its routes by hand;
//! `layer-bytes` against its `/bytes/` shows what an axum `Router` costs
//! on the same handler and layer.
//!
//! `layer-mmap` is what a server can do when it may promise that nobody
//! writes to or truncates its files while it runs: the page cache itself
//! becomes the body, and the layer slices it without a copy, where
//! [`FileSource`] copies each range out of the page cache with `pread`.
//! Mapping is `unsafe` for that reason (a read of pages a truncation
//! removed is a `SIGBUS`, which kills the process; a write changes the
//! bytes under validators made before it), which is why the crate does not
//! do it; see the README's Performance section.
//!
//! `ceiling` is the upper bound for a hyper server on this machine: it does
//! not look at the file system, validators or preconditions. It reads
//! `Range: bytes=a-b[,c-d...]` minimally, answers `206` with the requested
//! number of bytes (one contiguous slice, no multipart framing) and
//! `Content-Range` for a single range, or `200` with the whole file.
//!
//! `axum-range` note: `Ranged::new` takes a `headers::Range`, a type from
//! axum-extra that this crate does not depend on, so it cannot be built
//! here. The peer parses `Range` itself with axum-range's rule (the first
//! satisfiable range; several ranges get that one range, not a multipart)
//! and then lets axum-range do all the work on a window of the file: a
//! `Ranged::new(None, KnownSize::sized(window, len))` body, which seeks to
//! the range start and reads it in 64 KiB buffers exactly as
//! `Ranged::new(Some(range), KnownSize::file(file))` would. Requests
//! without `Range` take the plain `Ranged::new(None, KnownSize::file(..))`
//! path.
//!
//! The accept loop: `TCP_NODELAY` on every connection, hyper-util's auto
//! builder (HTTP/1.1 and h2c), a multi-threaded runtime. Ctrl-C or
//! `SIGTERM` exits at once (open connections are dropped).

use std::collections::HashMap;
use std::convert::Infallible;
use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use axum_range::{KnownSize, Ranged};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use tower_http::services::ServeDir;
use tower_range::source::{FileSource, RangeSource};
use tower_range::RangeLayer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ServeDir,
    AxumRange,
    Ceiling,
    BareBytes,
    LayerBytes,
    LayerFile,
    LayerMmap,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "servedir" => Kind::ServeDir,
            "axum-range" => Kind::AxumRange,
            "ceiling" => Kind::Ceiling,
            "bare-bytes" => Kind::BareBytes,
            "layer-bytes" => Kind::LayerBytes,
            "layer-file" => Kind::LayerFile,
            "layer-mmap" => Kind::LayerMmap,
            _ => return None,
        })
    }
}

struct Args {
    addr: SocketAddr,
    kind: Kind,
    dir: PathBuf,
}

const USAGE: &str = "\
Usage: peers --addr ADDR --kind KIND DIR

KIND is one of: servedir, axum-range, ceiling, bare-bytes, layer-bytes,
layer-file, layer-mmap
(see the top comment of examples/peers.rs). Stop with Ctrl-C.";

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut addr = None;
    let mut kind = None;
    let mut dir = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let mut value = |name: &str| {
            args.next()
                .map(|value| value.to_string_lossy().into_owned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match text.as_str() {
            "--addr" => {
                let value = value("--addr")?;
                addr = Some(
                    value
                        .parse()
                        .map_err(|error| format!("invalid --addr `{value}`: {error}"))?,
                );
            }
            "--kind" => {
                let value = value("--kind")?;
                kind =
                    Some(Kind::parse(&value).ok_or_else(|| format!("unknown --kind `{value}`"))?);
            }
            "-h" | "--help" => return Err(String::new()),
            _ if text.starts_with('-') => return Err(format!("unknown option `{text}`")),
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument `{text}`")),
        }
    }
    Ok(Args {
        addr: addr.ok_or("--addr is required")?,
        kind: kind.ok_or("--kind is required")?,
        dir: dir.ok_or("DIR is required")?,
    })
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// The path of `name` inside `dir`, or `None` for a name that could leave
/// it (the router hands over one percent-decoded path segment).
fn file_in(dir: &FsPath, name: &str) -> Option<PathBuf> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        return None;
    }
    Some(dir.join(name))
}

fn not_found() -> Response<Body> {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}

fn server_error(error: io::Error) -> Response<Body> {
    if error.kind() == io::ErrorKind::NotFound {
        return not_found();
    }
    eprintln!("{error}");
    (StatusCode::INTERNAL_SERVER_ERROR, "500\n").into_response()
}

// ---------------------------------------------------------------------------
// bare-bytes and layer-bytes: the /bytes/NAME handler of examples/serve.rs
// ---------------------------------------------------------------------------

/// Length and mtime, the facts the validators are made of (as in
/// `examples/serve.rs`).
#[derive(Clone, Copy)]
struct Meta {
    len: u64,
    mtime: SystemTime,
}

impl Meta {
    fn etag(&self) -> HeaderValue {
        let nanos = self
            .mtime
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        HeaderValue::try_from(format!("\"{:x}-{:x}\"", self.len, nanos))
            .expect("hex digits, '-' and quotes are a valid header value")
    }

    fn last_modified(&self) -> HeaderValue {
        let time = self.mtime.clamp(UNIX_EPOCH, SystemTime::now());
        HeaderValue::try_from(httpdate::fmt_http_date(time))
            .expect("an HTTP date is a valid header value")
    }
}

/// A file in memory with its validators, formatted once (as
/// `examples/serve.rs` does).
struct Loaded {
    bytes: Bytes,
    etag: HeaderValue,
    last_modified: HeaderValue,
}

/// The files of DIR, each loaded into memory on first use and kept.
struct Memory {
    files: HashMap<String, (PathBuf, OnceCell<Loaded>)>,
}

impl Memory {
    fn scan(dir: &FsPath) -> io::Result<Memory> {
        let mut files = HashMap::new();
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            let path = item.path();
            if let (Ok(name), true) = (item.file_name().into_string(), path.is_file()) {
                files.insert(name, (path, OnceCell::new()));
            }
        }
        Ok(Memory { files })
    }
}

async fn load(path: PathBuf) -> io::Result<Loaded> {
    tokio::task::spawn_blocking(move || {
        let content = std::fs::read(&path)?;
        let mtime = std::fs::metadata(&path)?.modified().unwrap_or(UNIX_EPOCH);
        let meta = Meta {
            len: content.len() as u64,
            mtime,
        };
        Ok(Loaded {
            bytes: Bytes::from(content),
            etag: meta.etag(),
            last_modified: meta.last_modified(),
        })
    })
    .await
    .map_err(io::Error::other)?
}

/// `/bytes/NAME`, as in `examples/serve.rs`: the whole file as one `Bytes`
/// with `Content-Type`, `Content-Length`, a strong `ETag` and
/// `Last-Modified`, the validators formatted once when it was loaded.
async fn serve_bytes(
    State(memory): State<Arc<Memory>>,
    Path(name): Path<String>,
) -> Response<Body> {
    let Some((path, cell)) = memory.files.get(&name) else {
        return not_found();
    };
    let loaded = match cell.get_or_try_init(|| load(path.clone())).await {
        Ok(loaded) => loaded,
        Err(error) => return server_error(error),
    };
    let mut response = Response::new(Body::from(loaded.bytes.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(loaded.bytes.len()),
    );
    headers.insert(header::ETAG, loaded.etag.clone());
    headers.insert(header::LAST_MODIFIED, loaded.last_modified.clone());
    response
}

/// `Content-Type`, a strong `ETag` and `Last-Modified`, as in
/// `examples/serve.rs` (every file here is `application/octet-stream`).
fn represent(mut response: Response<Body>, meta: &Meta) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::ETAG, meta.etag());
    headers.insert(header::LAST_MODIFIED, meta.last_modified());
    response
}

/// `/file/NAME`, as in `examples/serve.rs`: a [`FileSource`] opened for
/// this request; the layer reads only the requested bytes from it.
async fn serve_file(State(memory): State<Arc<Memory>>, Path(name): Path<String>) -> Response<Body> {
    let Some((path, _)) = memory.files.get(&name) else {
        return not_found();
    };
    let path = path.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(path)?;
        let mtime = file.metadata()?.modified().unwrap_or(UNIX_EPOCH);
        let source = FileSource::from_std(file)?;
        io::Result::Ok((source, mtime))
    })
    .await
    .map_err(io::Error::other)
    .and_then(|result| result);
    let (source, mtime) = match opened {
        Ok(opened) => opened,
        Err(error) => return server_error(error),
    };
    let meta = Meta {
        len: source.len(),
        mtime,
    };
    represent(
        RangeSource::new(source).into_response().map(Body::new),
        &meta,
    )
}

fn file_router(dir: &FsPath) -> io::Result<Router> {
    Ok(Router::new()
        .route("/file/{name}", get(serve_file))
        .fallback(|| async { not_found() })
        .with_state(Arc::new(Memory::scan(dir)?))
        .layer(RangeLayer::new()))
}

fn bytes_router(dir: &FsPath, layer: bool) -> io::Result<Router> {
    let router = Router::new()
        .route("/bytes/{name}", get(serve_bytes))
        .fallback(|| async { not_found() })
        .with_state(Arc::new(Memory::scan(dir)?));
    Ok(if layer {
        router.layer(RangeLayer::new())
    } else {
        router
    })
}

// ---------------------------------------------------------------------------
// axum-range
// ---------------------------------------------------------------------------

/// The first satisfiable range of a `Range` header for a representation of
/// `len` bytes, as `(first, last)`, by the rule axum-range applies to the
/// `headers::Range` it is given: `Ok(None)` when there is no usable header
/// (serve the whole file), `Err(())` when no range is satisfiable (416).
fn first_satisfiable(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let specs = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("bytes="))
        .and_then(|set| {
            let number = |text: &str| text.trim().parse::<u64>().ok();
            set.split(',')
                .map(|spec| match spec.trim().split_once('-')? {
                    ("", suffix) => Some((None, Some(number(suffix)?))),
                    (first, "") => Some((Some(number(first)?), None)),
                    (first, last) => Some((Some(number(first)?), Some(number(last)?))),
                })
                .collect::<Option<Vec<_>>>()
        });
    let Some(specs) = specs else {
        return Ok(None);
    };
    for spec in specs {
        let range = match spec {
            (Some(first), last) if first < len => {
                let last = last.map_or(len - 1, |last| last.min(len - 1));
                (first <= last).then_some((first, last))
            }
            (None, Some(suffix)) if suffix > 0 && len > 0 => Some((len - suffix.min(len), len - 1)),
            _ => None,
        };
        if range.is_some() {
            return Ok(range);
        }
    }
    Err(())
}

/// A file seen from `offset` on: seeking to `n` seeks the file to
/// `offset + n`. Lets axum-range serve a range it was not told about.
struct Window {
    file: tokio::fs::File,
    offset: u64,
}

impl AsyncRead for Window {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_read(cx, buf)
    }
}

impl AsyncSeek for Window {
    fn start_seek(mut self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        let io::SeekFrom::Start(position) = position else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "axum-range only seeks from the start",
            ));
        };
        let target = self.offset + position;
        Pin::new(&mut self.file).start_seek(io::SeekFrom::Start(target))
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let offset = self.offset;
        Pin::new(&mut self.file)
            .poll_complete(cx)
            .map_ok(|position| position.saturating_sub(offset))
    }
}

async fn serve_axum_range(
    State(dir): State<Arc<PathBuf>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let Some(path) = file_in(&dir, &name) else {
        return not_found();
    };
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(error) => return server_error(error),
    };
    // What `KnownSize::file` does: one `metadata` call for the size.
    let len = match file.metadata().await {
        Ok(metadata) => metadata.len(),
        Err(error) => return server_error(error),
    };
    match first_satisfiable(&headers, len) {
        Ok(None) => Ranged::new(None, KnownSize::sized(file, len)).into_response(),
        Ok(Some((first, last))) => {
            let window = Window {
                file,
                offset: first,
            };
            let mut response =
                Ranged::new(None, KnownSize::sized(window, last - first + 1)).into_response();
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let content_range = format!("bytes {first}-{last}/{len}");
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::try_from(content_range).expect("digits are a valid header value"),
            );
            response
        }
        Err(()) => {
            let content_range = HeaderValue::try_from(format!("bytes */{len}"))
                .expect("digits are a valid header value");
            (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, content_range)],
            )
                .into_response()
        }
    }
}

// ---------------------------------------------------------------------------
// layer-mmap
// ---------------------------------------------------------------------------

/// A file of DIR as the layer's inner service answers it: the mapped bytes
/// and their headers, made once.
struct Mapped {
    bytes: Bytes,
    etag: HeaderValue,
    last_modified: HeaderValue,
}

/// Maps every regular file of DIR (pages prefaulted, so no request takes
/// a page fault on a warm cache).
fn map_all(dir: &FsPath) -> io::Result<HashMap<String, Mapped>> {
    let mut files = HashMap::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let path = item.path();
        let (Ok(name), true) = (item.file_name().into_string(), path.is_file()) else {
            continue;
        };
        let file = std::fs::File::open(&path)?;
        let meta = file.metadata()?;
        // Nothing to map for an empty file.
        let bytes = if meta.len() == 0 {
            Bytes::new()
        } else {
            // SAFETY: the mapping is only sound while nobody writes to or
            // truncates the file, in this process or another: load.sh
            // writes its files before it starts this server and deletes
            // them only after stopping it. A server that cannot promise
            // that must not map: a truncation kills it with SIGBUS, and a
            // write changes the bytes under validators made before it.
            // It should serve a FileSource instead.
            let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
            Bytes::from_owner(map)
        };
        let meta = Meta {
            len: bytes.len() as u64,
            mtime: meta.modified().unwrap_or(UNIX_EPOCH),
        };
        let mapped = Mapped {
            bytes,
            etag: meta.etag(),
            last_modified: meta.last_modified(),
        };
        files.insert(name, mapped);
    }
    Ok(files)
}

/// `/NAME`: the mapped file as a `200` with its validators; the layer does
/// the rest.
fn serve_mapped(files: &HashMap<String, Mapped>, path: &str) -> Response<Full<Bytes>> {
    let Some(file) = path.strip_prefix('/').and_then(|name| files.get(name)) else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"404 Not Found\n")));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let mut response = Response::new(Full::new(file.bytes.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.bytes.len()));
    headers.insert(header::ETAG, file.etag.clone());
    headers.insert(header::LAST_MODIFIED, file.last_modified.clone());
    response
}

// ---------------------------------------------------------------------------
// ceiling
// ---------------------------------------------------------------------------

/// The requested bytes with no real range logic: `bytes=a-b[,c-d...]` asks
/// for `sum(b - a + 1)` bytes, answered as one slice from `a`; anything else
/// gets the whole file.
fn ceiling(files: &HashMap<String, Bytes>, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let name = request.uri().path().trim_start_matches('/');
    let Some(data) = files.get(name) else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"404 Not Found\n")));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let len = data.len() as u64;
    let ranges = request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("bytes="))
        .and_then(|set| {
            let mut start = None;
            let mut total = 0u64;
            let mut count = 0;
            for spec in set.split(',') {
                let (a, b) = spec.trim().split_once('-')?;
                let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
                start.get_or_insert(a);
                total += b.checked_sub(a)? + 1;
                count += 1;
            }
            Some((start?, total, count))
        });
    match ranges {
        Some((start, total, count)) if start < len => {
            let end = start.saturating_add(total).min(len);
            let mut response = Response::new(Full::new(data.slice(start as usize..end as usize)));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if count == 1 {
                let content_range = format!("bytes {start}-{}/{len}", end - 1);
                response.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::try_from(content_range).expect("digits are a valid header value"),
                );
            }
            response
        }
        _ => Response::new(Full::new(data.clone())),
    }
}

fn load_all(dir: &FsPath) -> io::Result<HashMap<String, Bytes>> {
    let mut files = HashMap::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let path = item.path();
        if let (Ok(name), true) = (item.file_name().into_string(), path.is_file()) {
            files.insert(name, Bytes::from(std::fs::read(&path)?));
        }
    }
    Ok(files)
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// Accepts connections until Ctrl-C or `SIGTERM`, serving each with
/// `service` (the accept loop of `examples/serve.rs`, without the graceful
/// shutdown).
async fn serve<S, B>(listener: TcpListener, service: S) -> io::Result<()>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        eprintln!("accept failed: {error}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if let Err(error) = stream.set_nodelay(true) {
                    eprintln!("{peer}: cannot set TCP_NODELAY: {error}");
                }
                let connection = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()))
                    .into_owned();
                tokio::spawn(async move {
                    // Clients that hang up mid-response are normal under load.
                    let _ = connection.await;
                });
            }
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

async fn run(args: Args) -> io::Result<()> {
    if !args.dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory", args.dir.display()),
        ));
    }
    let listener = TcpListener::bind(args.addr).await.map_err(|error| {
        io::Error::new(error.kind(), format!("cannot bind {}: {error}", args.addr))
    })?;
    let dir = args.dir;
    let kind = args.kind;
    // Prepare before announcing, so "listening" means ready.
    match kind {
        Kind::ServeDir => {
            let app = Router::new().fallback_service(ServeDir::new(&dir));
            announce(&listener, kind)?;
            serve(listener, app).await
        }
        Kind::AxumRange => {
            let app = Router::new()
                .route("/{name}", get(serve_axum_range))
                .fallback(|| async { not_found() })
                .with_state(Arc::new(dir));
            announce(&listener, kind)?;
            serve(listener, app).await
        }
        Kind::Ceiling => {
            let files = Arc::new(load_all(&dir)?);
            let service = tower::service_fn(move |request: Request<Incoming>| {
                let response = ceiling(&files, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            announce(&listener, kind)?;
            serve(listener, service).await
        }
        Kind::BareBytes | Kind::LayerBytes => {
            let app = bytes_router(&dir, kind == Kind::LayerBytes)?;
            announce(&listener, kind)?;
            serve(listener, app).await
        }
        Kind::LayerMmap => {
            let files = Arc::new(map_all(&dir)?);
            let service = tower::service_fn(move |request: Request<Incoming>| {
                let response = serve_mapped(&files, request.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let service = tower::ServiceBuilder::new()
                .layer(RangeLayer::new())
                .service(service);
            announce(&listener, kind)?;
            serve(listener, service).await
        }
        Kind::LayerFile => {
            let app = file_router(&dir)?;
            announce(&listener, kind)?;
            serve(listener, app).await
        }
    }
}

fn announce(listener: &TcpListener, kind: Kind) -> io::Result<()> {
    println!(
        "peers {kind:?} listening on http://{}",
        listener.local_addr()?
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("peers: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("peers: {error}");
            ExitCode::FAILURE
        }
    }
}
