//! An axum app with range support added to what it already has.
//!
//! ```text
//! cargo run --example axum -- [--addr 127.0.0.1:3001] [--dir DIR]
//! cargo run --example axum --features content-etag     # the export validators from the layer
//! ```
//!
//! Two kinds of routes, each behind its own [`RangeLayer`]:
//!
//! - `/files/{name}`: static files from `--dir` (or a generated demo
//!   directory), each a [`FileSource`] turned into a response by
//!   [`RangeSource::into_response`] with `Content-Type`, a strong `ETag` and
//!   `Last-Modified`. A range reads only its bytes from the file.
//! - `/export.csv` and `/export.json`: an "existing API" that builds a report
//!   (50 000 rows, the same every time) as one buffered body, with no
//!   validators of its own. One `.layer(...)` makes it resumable: with the
//!   `content-etag` feature, [`RangeLayer::content_etag`] derives a strong
//!   `ETag` from the content, so `If-Range` works and an interrupted download
//!   can continue where it stopped; without the feature a small middleware
//!   does the same by hand (an FNV-1a hash of the buffered body).
//!
//! `axum::serve` with `TCP_NODELAY`, HTTP/1.1; Ctrl-C (or `SIGTERM`) stops
//! accepting and lets open responses finish.

use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_range::source::{FileSource, RangeSource};
use tower_range::RangeLayer;

/// The address used when `--addr` is not given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3001";

/// The number of rows of the export.
pub const EXPORT_ROWS: usize = 50_000;

/// The largest export body the layer buffers to derive its `ETag` (the JSON
/// export is about 6 MB); larger bodies would go out without one.
pub const EXPORT_ETAG_LIMIT: usize = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------

/// The router: static files from `files_dir`, and the export made
/// resumable.
pub fn app(files_dir: PathBuf) -> Router {
    let files = Router::new()
        .route("/files/{name}", get(static_file))
        .with_state(Arc::new(files_dir))
        .layer(RangeLayer::new());

    // The export routes as they were before ranges came along...
    let export = Router::new()
        .route("/export.csv", get(export_csv))
        .route("/export.json", get(export_json));
    // ...and the one line that makes them resumable.
    #[cfg(feature = "content-etag")]
    let export = export.layer(RangeLayer::new().content_etag(EXPORT_ETAG_LIMIT));
    #[cfg(not(feature = "content-etag"))]
    let export = export
        .layer(axum::middleware::map_response(etag_by_hand))
        .layer(RangeLayer::new());

    files.merge(export)
}

/// `/files/{name}`: a regular file directly inside the directory, as a
/// [`FileSource`]. The body streams the whole file for a `200`; for a range
/// the layer drops it unread and reads only the requested bytes.
async fn static_file(State(dir): State<Arc<PathBuf>>, Path(name): Path<String>) -> Response {
    // `{name}` is percent-decoded: refuse anything but a plain file name.
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = dir.join(&name);
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok((file, metadata))
    })
    .await
    .unwrap_or_else(|error| Err(io::Error::other(error)));
    let (file, metadata) = match opened {
        Ok(opened) => opened,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return StatusCode::NOT_FOUND.into_response()
        }
        Err(error) => {
            eprintln!("{name}: {error}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };

    let len = metadata.len();
    let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
    let source = FileSource::from_std_with_len(file, len);
    let mut response = RangeSource::new(source).into_response().map(Body::new);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&name)),
    );
    headers.insert(header::ETAG, file_etag(len, modified));
    headers.insert(header::LAST_MODIFIED, last_modified(modified));
    response
}

/// A strong `ETag` for a file: `"<len hex>-<mtime nanos hex>"`, new
/// whenever the file is rewritten or resized.
fn file_etag(len: u64, modified: SystemTime) -> HeaderValue {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    HeaderValue::try_from(format!("\"{len:x}-{nanos:x}\"")).expect("a valid header value")
}

/// The mtime as an HTTP date, never in the future.
fn last_modified(modified: SystemTime) -> HeaderValue {
    let time = modified.clamp(UNIX_EPOCH, SystemTime::now());
    HeaderValue::try_from(httpdate::fmt_http_date(time)).expect("a valid header value")
}

fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
    match extension.to_ascii_lowercase().as_str() {
        "txt" | "md" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

// ---------------------------------------------------------------------------
// The "existing API": a report export, no validators, no idea of ranges
// ---------------------------------------------------------------------------

/// One row of the report.
pub struct Row {
    pub id: u64,
    pub day: u32,
    pub region: &'static str,
    pub sku: u32,
    pub units: u32,
    pub unit_price_cents: u32,
}

impl Row {
    pub fn total_cents(&self) -> u64 {
        u64::from(self.units) * u64::from(self.unit_price_cents)
    }

    /// `2024-MM-DD`, with twelve 28-day months: a report, not a calendar.
    pub fn date(&self) -> String {
        format!("2024-{:02}-{:02}", self.day / 28 + 1, self.day % 28 + 1)
    }
}

/// The rows of the report: pseudo-random, but the same on every call.
pub fn report() -> impl Iterator<Item = Row> {
    const REGIONS: [&str; 4] = ["EMEA", "AMER", "APAC", "LATAM"];
    let mut state: u64 = 0x6578_706f_7274_2121; // "export!!"
    (1..=EXPORT_ROWS as u64).map(move |id| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let bits = state >> 16;
        Row {
            id,
            day: (bits % 336) as u32,
            region: REGIONS[(bits >> 9) as usize % REGIONS.len()],
            sku: ((bits >> 11) % 1000) as u32,
            units: ((bits >> 21) % 50) as u32 + 1,
            unit_price_cents: ((bits >> 27) % 20_000) as u32 + 99,
        }
    })
}

/// The CSV export as one `String`.
pub fn export_csv_text() -> String {
    use std::fmt::Write as _;
    let mut csv = String::with_capacity(EXPORT_ROWS * 48);
    csv.push_str("id,date,region,sku,units,unit_price_cents,total_cents\n");
    for row in report() {
        let _ = writeln!(
            csv,
            "{},{},{},SKU-{:03},{},{},{}",
            row.id,
            row.date(),
            row.region,
            row.sku,
            row.units,
            row.unit_price_cents,
            row.total_cents()
        );
    }
    csv
}

/// `/export.csv`: the report as CSV.
async fn export_csv() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"export.csv\"",
            ),
        ],
        export_csv_text(),
    )
}

/// `/export.json`: the report as a JSON array of objects.
async fn export_json() -> Json<serde_json::Value> {
    let rows = report()
        .map(|row| {
            serde_json::json!({
                "id": row.id,
                "date": row.date(),
                "region": row.region,
                "sku": format!("SKU-{:03}", row.sku),
                "units": row.units,
                "unit_price_cents": row.unit_price_cents,
                "total_cents": row.total_cents(),
            })
        })
        .collect();
    Json(serde_json::Value::Array(rows))
}

/// Without the `content-etag` feature: what [`RangeLayer::content_etag`]
/// does, by hand. Buffers a `200` without an `ETag` (up to
/// [`EXPORT_ETAG_LIMIT`]) and tags it `"<len hex>-<FNV-1a 64 hex>"`.
#[cfg(not(feature = "content-etag"))]
async fn etag_by_hand(response: Response) -> Response {
    use http_body::Body as _;
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|len| len <= EXPORT_ETAG_LIMIT as u64);
    if response.status() != StatusCode::OK
        || response.headers().contains_key(header::ETAG)
        || !small
    {
        return response;
    }
    let (mut head, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, EXPORT_ETAG_LIMIT).await {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("export: {error}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let tag = format!("\"{:x}-{hash:016x}\"", bytes.len());
    head.headers.insert(
        header::ETAG,
        HeaderValue::try_from(tag).expect("hex and quotes"),
    );
    Response::from_parts(head, Body::from(bytes))
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the
/// open responses to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            eprintln!("cannot set TCP_NODELAY: {error}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, dir) = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("axum example: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(addr, dir).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axum example: {error}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
Usage: axum [--addr ADDR] [--dir DIR]

  --addr ADDR   listen on ADDR [default: 127.0.0.1:3001]
  --dir DIR     serve the files of DIR at /files/NAME [default: generated demo files]";

/// `--addr` and `--dir`; `None` for `--help`.
fn parse_args(
    args: impl IntoIterator<Item = OsString>,
) -> Result<Option<(SocketAddr, Option<PathBuf>)>, String> {
    let mut addr = DEFAULT_ADDR.parse().expect("a valid default address");
    let mut dir = None;
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
            Some("--dir") => dir = Some(PathBuf::from(args.next().ok_or("--dir needs a value")?)),
            _ => return Err(format!("unexpected argument `{}`", arg.to_string_lossy())),
        }
    }
    Ok(Some((addr, dir)))
}

async fn run(addr: SocketAddr, dir: Option<PathBuf>) -> io::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| io::Error::new(error.kind(), format!("cannot bind {addr}: {error}")))?;
    let addr = listener.local_addr()?;
    // The demo directory, if any, is removed when `demo` is dropped.
    let (demo, dir) = match dir {
        Some(dir) if dir.is_dir() => (None, dir),
        Some(dir) => {
            let message = format!("{} is not a directory", dir.display());
            return Err(io::Error::new(io::ErrorKind::NotFound, message));
        }
        None => {
            let demo = DemoDir::create()?;
            let dir = demo.0.clone();
            (Some(demo), dir)
        }
    };

    let base = format!("http://{addr}");
    println!(
        "axum example listening on {base}, files from {}
Try:
  curl -s -D- -o /dev/null -r 0-99 {base}/files/demo.bin
  curl -s -r 0-4,24-28 {base}/files/hello.txt
  # an interrupted export, resumed (curl sends Range: bytes=<bytes it has>-)
  curl -s -r 0-99999 -o export.csv {base}/export.csv
  curl -s -C - -o export.csv {base}/export.csv && wc -c export.csv
  # resume only if the export is unchanged: If-Range with the ETag of the first response
  curl -s -D- -o /dev/null {base}/export.json | grep -i etag
  curl -s -D- -o /dev/null -r 1000000- -H 'If-Range: <that etag>' {base}/export.json
Press Ctrl-C to stop.",
        dir.display()
    );

    serve(listener, app(dir), shutdown_signal()).await?;
    eprintln!("shut down");
    drop(demo);
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
    eprintln!("shutting down: finishing open responses");
}

/// A temporary directory with `hello.txt` and `demo.bin` (1 MiB), removed
/// when dropped.
pub struct DemoDir(pub PathBuf);

impl DemoDir {
    pub fn create() -> io::Result<DemoDir> {
        let path = std::env::temp_dir().join(format!("tower-range-axum-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        let demo = DemoDir(path);
        std::fs::write(demo.0.join("hello.txt"), HELLO)?;
        std::fs::write(demo.0.join("demo.bin"), demo_bytes(1024 * 1024))?;
        Ok(demo)
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const HELLO: &str = "Hello from tower-range!\n0123456789abcdefghijklmnopqrstuvwxyz\n";

/// `len` deterministic pseudo-random bytes.
pub fn demo_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x746f_7765_722d_7261;
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
