//! A plain hyper 1 server with range support: a `service_fn` wrapped in
//! `tower::ServiceBuilder` with a [`RangeLayer`].
//!
//! ```text
//! cargo run --example hyper -- [--addr 127.0.0.1:3002] [--file PATH]
//! ```
//!
//! - `/blob`: 1 MiB generated at start, held in memory as `Bytes`, with a
//!   strong `ETag`. A range is a slice of it (ranges in any order: the
//!   blob fits the layer's default `buffer_limit`).
//! - `/file`: a file (`--file`, by default this example's own source) as a
//!   [`FileSource`] through [`RangeSource::into_response`], with `ETag` and
//!   `Last-Modified`. A range reads only its bytes.
//!
//! The accept loop sets `TCP_NODELAY` and serves HTTP/1.1 and HTTP/2 over
//! cleartext (h2c with prior knowledge) through hyper-util's auto builder.
//! Ctrl-C (or `SIGTERM`) stops accepting and lets open connections finish.
//!
//! ```text
//! curl -s -D- -o /dev/null -r 0-99 http://127.0.0.1:3002/blob
//! curl -s -D- --http2-prior-knowledge -r 0-9,100-109 http://127.0.0.1:3002/file
//! ```

use std::convert::Infallible;
use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_range::source::{FileSource, RangeSource};
use tower_range::RangeLayer;

/// The address used when `--addr` is not given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3002";

/// The size of `/blob`.
pub const BLOB_LEN: usize = 1024 * 1024;

/// How long open connections get to finish after Ctrl-C.
const GRACE: Duration = Duration::from_secs(5);

/// The response body of the handler: in memory or from a file.
type Body = BoxBody<Bytes, io::Error>;

/// What the server serves.
pub struct Content {
    pub blob: Bytes,
    blob_etag: HeaderValue,
    pub file: PathBuf,
}

impl Content {
    /// The generated blob, and `file` for `/file`.
    pub fn new(file: PathBuf) -> Content {
        let blob = Bytes::from(blob_bytes(BLOB_LEN));
        // Strong: derived from every byte (FNV-1a 64) and the length.
        let hash = blob.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
        let blob_etag = format!("\"{:x}-{hash:016x}\"", blob.len());
        Content {
            blob,
            blob_etag: HeaderValue::try_from(blob_etag).expect("hex and quotes"),
            file,
        }
    }
}

/// `len` deterministic pseudo-random bytes.
pub fn blob_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x6879_7065_722d_3121; // "hyper-1!"
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The handler: knows nothing about ranges, answers every `GET` with the
/// whole representation and its validators.
async fn handle(
    content: Arc<Content>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    Ok(match request.uri().path() {
        "/blob" => {
            let body = Full::new(content.blob.clone()).map_err(|never| match never {});
            let mut response = Response::new(body.boxed());
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(header::ETAG, content.blob_etag.clone());
            response
        }
        "/file" => match file(content.file.clone()).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("{}: {error}", content.file.display());
                status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        },
        _ => status(StatusCode::NOT_FOUND),
    })
}

/// The file as a [`FileSource`], opened off the runtime, with `ETag` and
/// `Last-Modified` from the metadata of the open handle.
async fn file(path: PathBuf) -> io::Result<Response<Body>> {
    let (file, metadata) = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(path)?;
        let metadata = file.metadata()?;
        io::Result::Ok((file, metadata))
    })
    .await
    .map_err(io::Error::other)??;
    let len = metadata.len();
    let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
    let source = FileSource::from_std_with_len(file, len);
    let mut response = RangeSource::new(source)
        .into_response()
        .map(|body| body.boxed());

    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let etag = format!("\"{len:x}-{nanos:x}\"");
    let date = httpdate::fmt_http_date(modified.clamp(UNIX_EPOCH, SystemTime::now()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::try_from(etag).map_err(io::Error::other)?,
    );
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::try_from(date).map_err(io::Error::other)?,
    );
    Ok(response)
}

fn status(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response
}

/// Accepts connections on `listener` until `shutdown` resolves, then gives
/// the open ones [`GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    content: Arc<Content>,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let service = ServiceBuilder::new()
        .layer(RangeLayer::new())
        .service_fn(move |request| handle(content.clone(), request));
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. out of file descriptors: wait, do not spin.
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            eprintln!("{peer}: cannot set TCP_NODELAY: {error}");
        }
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(service.clone()),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("{peer}: {error}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("gave up waiting after {GRACE:?}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, file) = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("hyper example: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(addr, file).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hyper example: {error}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
Usage: hyper [--addr ADDR] [--file PATH]

  --addr ADDR   listen on ADDR [default: 127.0.0.1:3002]
  --file PATH   the file served at /file [default: this example's source]";

/// `--addr` and `--file`; `None` for `--help`.
fn parse_args(
    args: impl IntoIterator<Item = OsString>,
) -> Result<Option<(SocketAddr, PathBuf)>, String> {
    let mut addr = DEFAULT_ADDR.parse().expect("a valid default address");
    let mut file = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hyper.rs"));
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(None),
            Some("--addr") => {
                let value = args.next().ok_or("--addr needs a value")?;
                let text = value.to_string_lossy();
                addr = text
                    .parse()
                    .map_err(|error| format!("invalid --addr `{text}`: {error}"))?;
            }
            Some("--file") => file = PathBuf::from(args.next().ok_or("--file needs a value")?),
            _ => return Err(format!("unexpected argument `{}`", arg.to_string_lossy())),
        }
    }
    Ok(Some((addr, file)))
}

async fn run(addr: SocketAddr, file: PathBuf) -> io::Result<()> {
    if !file.is_file() {
        let message = format!("{} is not a file", file.display());
        return Err(io::Error::new(io::ErrorKind::NotFound, message));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| io::Error::new(error.kind(), format!("cannot bind {addr}: {error}")))?;
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "hyper example listening on {base} (HTTP/1.1 and h2c); /file is {}
Try:
  curl -s -D- -o /dev/null -r 0-99 {base}/blob
  curl -s -D- -o /dev/null --http2-prior-knowledge -r 0-99 {base}/blob
  curl -s -D- --http2-prior-knowledge -r 0-9,100-109 {base}/file
  curl -s -D- -o /dev/null -r 99999999- {base}/blob
Press Ctrl-C to stop.",
        file.display()
    );
    serve(listener, Arc::new(Content::new(file)), shutdown_signal()).await?;
    eprintln!("shut down");
    Ok(())
}

/// Resolves on Ctrl-C, or `SIGTERM` on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    eprintln!("shutting down: finishing open connections");
}
