//! The layer in the servers users run: axum's Router and a plain hyper
//! server built with tower::ServiceBuilder, over real loopback connections.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use tower_range::RangeLayer;

const TEXT: &str = "The quick brown fox jumps over the lazy dog.";

async fn axum_server() -> SocketAddr {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/text", get(|| async { ([("etag", "\"t1\"")], TEXT) }))
        .route(
            "/stream",
            get(|| async {
                let chunks = TEXT
                    .as_bytes()
                    .chunks(5)
                    .map(|c| Ok::<_, Infallible>(Bytes::copy_from_slice(c)));
                axum::body::Body::from_stream(futures_util::stream::iter(
                    chunks.collect::<Vec<_>>(),
                ))
            }),
        )
        .layer(RangeLayer::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn hyper_server() -> SocketAddr {
    let service = ServiceBuilder::new().layer(RangeLayer::new()).service_fn(
        |_req: Request<hyper::body::Incoming>| async {
            let mut response = Response::new(Full::new(Bytes::from_static(TEXT.as_bytes())));
            response
                .headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            response
                .headers_mut()
                .insert("etag", "\"t1\"".parse().unwrap());
            response.headers_mut().insert(
                "last-modified",
                "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
            );
            Ok::<_, Infallible>(response)
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    addr
}

/// Sends a raw HTTP/1.1 request and returns the raw response (the server
/// closes the connection), so that the exact headers on the wire are seen.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block")
        + 4;
    let body = response.split_off(split);
    (
        String::from_utf8(response).unwrap().to_ascii_lowercase(),
        body,
    )
}

#[tokio::test]
async fn axum_router_layer_serves_ranges() {
    let addr = axum_server().await;
    let (head, body) = raw(addr, "GET", "/text", &[("range", "bytes=4-8")]).await;
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(head.contains("content-range: bytes 4-8/44\r\n"), "{head}");
    assert!(head.contains("content-length: 5\r\n"), "{head}");
    assert_eq!(body, b"quick");

    let (head, body) = raw(addr, "HEAD", "/text", &[("range", "bytes=4-8")]).await;
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(head.contains("content-range: bytes 4-8/44\r\n"), "{head}");
    assert!(head.contains("content-length: 5\r\n"), "{head}");
    assert!(body.is_empty());

    let (head, _) = raw(addr, "GET", "/text", &[]).await;
    assert!(head.contains("accept-ranges: bytes\r\n"), "{head}");

    let (head, _) = raw(addr, "GET", "/text", &[("if-none-match", "\"t1\"")]).await;
    assert!(head.starts_with("http/1.1 304"), "{head}");
    assert!(
        !head.contains("content-length: 0"),
        "a 304 must not claim an empty representation: {head}"
    );

    // axum's streaming Body of unknown length: buffered within the limit.
    let (head, body) = raw(addr, "GET", "/stream", &[("range", "bytes=-4")]).await;
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(head.contains("content-range: bytes 40-43/44\r\n"), "{head}");
    assert_eq!(body, b"dog.");
}

#[tokio::test]
async fn hyper_service_builder_serves_ranges() {
    let addr = hyper_server().await;
    let (head, body) = raw(addr, "GET", "/", &[("range", "bytes=0-2,-4")]).await;
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(
        head.contains("content-type: multipart/byteranges; boundary="),
        "{head}"
    );
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(
        text.contains(
            "\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/44\r\n\r\nThe\r\n--"
        ),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 40-43/44\r\n\r\ndog.\r\n--"),
        "{text}"
    );
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(declared, body.len());

    let (head, body) = raw(addr, "HEAD", "/", &[("range", "bytes=0-2,-4")]).await;
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(
        head.contains(&format!("content-length: {declared}\r\n")),
        "{head}"
    );
    assert!(body.is_empty());

    let (head, _) = raw(
        addr,
        "GET",
        "/",
        &[
            ("range", "bytes=0-2"),
            ("if-range", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ],
    )
    .await;
    assert!(head.starts_with("http/1.1 206"), "{head}");

    let (head, body) = raw(addr, "GET", "/", &[("range", "bytes=100-")]).await;
    assert!(head.starts_with("http/1.1 416"), "{head}");
    assert!(head.contains("content-range: bytes */44\r\n"), "{head}");
    assert!(body.is_empty());

    let (head, body) = raw(addr, "GET", "/", &[("if-match", "\"other\"")]).await;
    assert!(head.starts_with("http/1.1 412"), "{head}");
    assert!(body.is_empty());
}

/// A `HEAD` over HTTP/2 to a service that answers every method with its
/// `GET` body: hyper sends a `HEAD` body over HTTP/2 (it drops it over
/// HTTP/1.1), so the layer must send the head alone, with the length a
/// `GET` would have, for every decision it makes.
#[tokio::test]
async fn head_over_http2_ends_with_the_head() {
    use http_body_util::BodyExt;
    let addr = hyper_server().await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    for (range, status, length) in [
        (None, 200, "44"),
        (Some("bytes=x"), 200, "44"),
        (Some("bytes=0-2"), 206, "3"),
        (Some("bytes=100-"), 416, "0"),
    ] {
        let mut request = Request::head("http://test/");
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let request = request.body(http_body_util::Empty::<Bytes>::new()).unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{range:?}");
        assert_eq!(response.headers()["content-length"], length, "{range:?}");
        let body = response.into_body().collect().await;
        let body = body.unwrap_or_else(|error| panic!("{range:?}: {error}"));
        assert!(body.to_bytes().is_empty(), "{range:?}: a body for HEAD");
    }
}
