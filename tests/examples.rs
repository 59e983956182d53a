//! The examples `axum` and `hyper`, started as their `main` starts them
//! (the same router, service and accept loop, on 127.0.0.1:0) and asked
//! for ranges over real connections: HTTP/1.1, and HTTP/2 with prior
//! knowledge for the hyper server.
#![cfg(feature = "tokio")] // the examples serve files through FileSource

#[allow(dead_code)]
#[path = "../examples/axum.rs"]
mod axum_example;

#[allow(dead_code)]
#[path = "../examples/hyper.rs"]
mod hyper_example;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::response::Parts;
use http::{header, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------
// A small client
// ---------------------------------------------------------------------------

/// One request on a fresh connection, in the given HTTP version (HTTP/2
/// with prior knowledge); the response head and its whole body.
async fn fetch(
    addr: SocketAddr,
    version: Version,
    path: &str,
    headers: &[(&str, &str)],
) -> (Parts, Bytes) {
    fetch_method(addr, version, Method::GET, path, headers).await
}

async fn fetch_method(
    addr: SocketAddr,
    version: Version,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (Parts, Bytes) {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let mut request = Request::builder().method(method.clone());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let is_head = method == Method::HEAD;
    let response = if version == Version::HTTP_2 {
        let request = request
            .uri(format!("http://{addr}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    } else {
        let request = request
            .uri(path)
            .header(header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    };
    assert_eq!(response.version(), version);
    let (head, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    if let Some(length) = head
        .headers
        .get(header::CONTENT_LENGTH)
        .filter(|_| !is_head)
    {
        assert_eq!(length.to_str().unwrap(), body.len().to_string(), "{head:?}");
    }
    (head, body)
}

fn get(head: &Parts, name: header::HeaderName) -> &str {
    head.headers
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} in {head:?}"))
        .to_str()
        .unwrap()
}

/// The parts of a `multipart/byteranges` body: each part's `Content-Range`
/// (`first-last/complete`) and bytes, checked against each other.
fn multipart(head: &Parts, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let content_type = get(head, header::CONTENT_TYPE);
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {content_type}"));
    let delimiter = format!("--{boundary}");
    let find = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    };
    let start = find(body, delimiter.as_bytes()).expect("a first delimiter");
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let end = find(rest, b"\r\n\r\n").expect("the end of a part's headers");
        let headers = std::str::from_utf8(&rest[..end]).unwrap();
        rest = &rest[end + 4..];
        let range = headers
            .lines()
            .find_map(|line| line.strip_prefix("Content-Range: bytes "))
            .unwrap_or_else(|| panic!("no Content-Range in {headers:?}"))
            .to_owned();
        let (first, last) = range.split_once('/').unwrap().0.split_once('-').unwrap();
        let len = last.parse::<usize>().unwrap() - first.parse::<usize>().unwrap() + 1;
        parts.push((range, rest[..len].to_vec()));
        rest = rest[len..]
            .strip_prefix(b"\r\n")
            .and_then(|rest| rest.strip_prefix(delimiter.as_bytes()))
            .expect("CRLF and a delimiter after a part");
    }
}

/// A directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("tower-range-examples-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// examples/axum.rs
// ---------------------------------------------------------------------------

async fn start_axum(dir: &Path) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum_example::app(dir.to_owned());
    tokio::spawn(axum_example::serve(listener, app, std::future::pending()));
    addr
}

#[tokio::test]
async fn axum_static_file_ranges() {
    let dir = TempDir::new("axum-files");
    let content = axum_example::demo_bytes(300_000);
    std::fs::write(dir.path().join("demo.bin"), &content).unwrap();
    std::fs::write(dir.path().join("hello.txt"), axum_example::HELLO).unwrap();
    std::fs::write(dir.path().join(".hidden"), "secret").unwrap();
    let addr = start_axum(dir.path()).await;

    let (head, body) = fetch(
        addr,
        Version::HTTP_11,
        "/files/demo.bin",
        &[("range", "bytes=1000-199999")],
    )
    .await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        get(&head, header::CONTENT_RANGE),
        "bytes 1000-199999/300000"
    );
    assert_eq!(get(&head, header::CONTENT_TYPE), "application/octet-stream");
    assert!(get(&head, header::ETAG).starts_with('"'));
    assert!(head.headers.contains_key(header::LAST_MODIFIED));
    assert_eq!(body, &content[1000..200_000]);

    // The file's own ETag makes If-Range work: resume, or start over.
    let etag = get(&head, header::ETAG).to_owned();
    let (head, body) = fetch(
        addr,
        Version::HTTP_11,
        "/files/demo.bin",
        &[("range", "bytes=200000-"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &content[200_000..]);
    let (head, body) = fetch(
        addr,
        Version::HTTP_11,
        "/files/demo.bin",
        &[("range", "bytes=200000-"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(body, content);

    let (head, body) = fetch(addr, Version::HTTP_11, "/files/hello.txt", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(get(&head, header::ACCEPT_RANGES), "bytes");
    assert_eq!(
        get(&head, header::CONTENT_TYPE),
        "text/plain; charset=utf-8"
    );
    assert_eq!(body, axum_example::HELLO);

    for path in [
        "/files/missing.txt",
        "/files/.hidden",
        "/files/..%2Fsecret",
        "/files/%2Fetc%2Fpasswd",
    ] {
        let (head, _) = fetch(addr, Version::HTTP_11, path, &[]).await;
        assert_eq!(head.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// An export interrupted after `cut` bytes, resumed with `If-Range`: the
/// two pieces make the whole export. A stale tag gets the whole export.
async fn resume(addr: SocketAddr, path: &str, cut: usize) -> Bytes {
    let (head, full) = fetch(addr, Version::HTTP_11, path, &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(get(&head, header::ACCEPT_RANGES), "bytes");
    let etag = get(&head, header::ETAG).to_owned();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");
    assert!(full.len() > cut);

    let range = format!("bytes={cut}-");
    let (head, rest) = fetch(
        addr,
        Version::HTTP_11,
        path,
        &[("range", &range), ("if-range", &etag)],
    )
    .await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT, "{head:?}");
    assert_eq!(
        get(&head, header::CONTENT_RANGE),
        format!("bytes {cut}-{}/{}", full.len() - 1, full.len())
    );
    assert_eq!(get(&head, header::ETAG), etag, "the same ETag every time");
    let mut joined = full[..cut].to_vec();
    joined.extend_from_slice(&rest);
    assert_eq!(joined, full);

    let (head, again) = fetch(
        addr,
        Version::HTTP_11,
        path,
        &[("range", &range), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(again, full);
    full
}

#[tokio::test]
async fn axum_export_csv_resumes() {
    let dir = TempDir::new("axum-csv");
    let addr = start_axum(dir.path()).await;
    let full = resume(addr, "/export.csv", 1_000_003).await;
    assert_eq!(full, axum_example::export_csv_text());
    assert_eq!(
        full.iter().filter(|&&byte| byte == b'\n').count(),
        axum_example::EXPORT_ROWS + 1
    );
}

#[tokio::test]
async fn axum_export_json_resumes() {
    let dir = TempDir::new("axum-json");
    let addr = start_axum(dir.path()).await;
    let full = resume(addr, "/export.json", 2_500_001).await;
    let rows: serde_json::Value = serde_json::from_slice(&full).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), axum_example::EXPORT_ROWS);
    assert_eq!(rows[0]["id"], 1);
}

// ---------------------------------------------------------------------------
// examples/hyper.rs
// ---------------------------------------------------------------------------

/// The hyper example serving `file`, and the trigger of its shutdown.
async fn start_hyper(
    file: PathBuf,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let content = Arc::new(hyper_example::Content::new(file));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hyper_example::serve(listener, content, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

async fn hyper_ranges(version: Version) {
    let dir = TempDir::new(&format!("hyper-{version:?}"));
    let file = dir.path().join("file.txt");
    // Larger than one FileSource read (128 KiB).
    let file_content: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &file_content).unwrap();
    let blob = hyper_example::blob_bytes(hyper_example::BLOB_LEN);
    let len = blob.len();
    let (addr, stop, server) = start_hyper(file).await;

    // The whole blob, advertising ranges.
    let (head, body) = fetch(addr, version, "/blob", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(get(&head, header::ACCEPT_RANGES), "bytes");
    assert_eq!(body, blob);
    let etag = get(&head, header::ETAG).to_owned();

    // One range.
    let (head, body) = fetch(addr, version, "/blob", &[("range", "bytes=0-99")]).await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        get(&head, header::CONTENT_RANGE),
        format!("bytes 0-99/{len}")
    );
    assert_eq!(body, &blob[..100]);

    // Several: multipart/byteranges, parts in request order.
    for (spec, expected) in [
        (
            "bytes=5-14,1000-1099,-16",
            [(5, 14), (1000, 1099), (len - 16, len - 1)],
        ),
        (
            "bytes=700000-700099,5-14,-16",
            [(700_000, 700_099), (5, 14), (len - 16, len - 1)],
        ),
    ] {
        let (head, body) = fetch(addr, version, "/blob", &[("range", spec)]).await;
        assert_eq!(head.status, StatusCode::PARTIAL_CONTENT, "{spec}");
        let parts = multipart(&head, &body);
        assert_eq!(parts.len(), expected.len());
        for ((range, bytes), (first, last)) in parts.iter().zip(expected) {
            assert_eq!(range, &format!("{first}-{last}/{len}"));
            assert_eq!(bytes, &blob[first..=last]);
        }
    }

    // Resume if unchanged, else the whole blob.
    let (head, body) = fetch(
        addr,
        version,
        "/blob",
        &[("range", "bytes=700000-"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &blob[700_000..]);
    let (head, body) = fetch(
        addr,
        version,
        "/blob",
        &[("range", "bytes=700000-"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(body.len(), len);

    // Nothing satisfiable: 416.
    let range = format!("bytes={len}-");
    let (head, body) = fetch(addr, version, "/blob", &[("range", &range)]).await;
    assert_eq!(head.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(get(&head, header::CONTENT_RANGE), format!("bytes */{len}"));
    assert!(body.is_empty());

    // The file, through its FileSource: one range across a read boundary,
    // and a multipart in request order.
    let (head, body) = fetch(addr, version, "/file", &[("range", "bytes=100000-250000")]).await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        get(&head, header::CONTENT_RANGE),
        "bytes 100000-250000/300000"
    );
    assert!(head.headers.contains_key(header::LAST_MODIFIED));
    assert_eq!(body, &file_content[100_000..=250_000]);
    let (head, body) = fetch(addr, version, "/file", &[("range", "bytes=-10,0-9")]).await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    let parts = multipart(&head, &body);
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[1],
        ("0-9/300000".to_owned(), file_content[..10].to_vec())
    );
    assert_eq!(
        parts[0],
        (
            "299990-299999/300000".to_owned(),
            file_content[299_990..].to_vec()
        )
    );
    let (head, body) = fetch(addr, version, "/file", &[("range", "bytes=300000-")]).await;
    assert_eq!(head.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert!(body.is_empty());

    // HEAD: the headers of the 206, no body.
    let (head, body) = fetch_method(
        addr,
        version,
        Method::HEAD,
        "/blob",
        &[("range", "bytes=0-99")],
    )
    .await;
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert!(body.is_empty());

    let (head, _) = fetch(addr, version, "/nowhere", &[]).await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);

    // Graceful shutdown: the server stops and says it went well.
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn hyper_ranges_over_http1() {
    hyper_ranges(Version::HTTP_11).await;
}

#[tokio::test]
async fn hyper_ranges_over_http2() {
    hyper_ranges(Version::HTTP_2).await;
}
