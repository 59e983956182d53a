//! Composing with tower-http: what the README recommends, checked.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeFile;
use tower_range::{EncodingTagLayer, RangeLayer};

fn text() -> Bytes {
    Bytes::from("All work and no play makes Jack a dull boy. ".repeat(100))
}

async fn inner(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(text()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    response
        .headers_mut()
        .insert(header::ETAG, "\"j1\"".parse().unwrap());
    Ok(response)
}

fn request(range: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get("/").header(header::ACCEPT_ENCODING, "gzip");
    if let Some(range) = range {
        builder = builder.header(header::RANGE, range);
    }
    builder.body(Full::default()).unwrap()
}

#[tokio::test]
async fn compression_outside_with_the_readme_predicate() {
    let predicate = DefaultPredicate::new().and(
        |status: StatusCode, _: Version, _: &HeaderMap, _: &http::Extensions| {
            status != StatusCode::PARTIAL_CONTENT
        },
    );
    let service = ServiceBuilder::new()
        .layer(CompressionLayer::new().compress_when(predicate))
        .layer(RangeLayer::new())
        .service_fn(inner);

    // A range: identity bytes, exactly the ones asked for.
    let response = service
        .clone()
        .oneshot(request(Some("bytes=4-7")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes 4-7/4400");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "work");

    // No range: the 200 is compressed.
    let response = service.oneshot(request(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
}

/// tower-http's default predicate leaves partial responses alone: the
/// README's layer order relies on it, so it is pinned here.
#[tokio::test]
async fn compression_default_predicate_and_partial_content() {
    let service = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .layer(RangeLayer::new())
        .service_fn(inner);
    let response = service.oneshot(request(Some("bytes=0-99"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(
        response.headers().get(header::CONTENT_ENCODING).is_none(),
        "tower-http compressed a 206: the README's layer order needs revisiting"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, text().slice(0..100));
}

#[tokio::test]
async fn serve_file_inside_passes_through_untouched() {
    let path =
        std::env::temp_dir().join(format!("tower-range-servefile-{}.txt", std::process::id()));
    std::fs::write(&path, text()).unwrap();
    for range in [
        Some("bytes=0-9"),
        Some("bytes=0-1,5-6"),
        Some("bytes=99999-"),
        None,
    ] {
        let bare = ServeFile::new(&path);
        let layered = ServiceBuilder::new()
            .layer(RangeLayer::new())
            .service(ServeFile::new(&path));
        let mut get = Request::get("/");
        if let Some(range) = range {
            get = get.header(header::RANGE, range);
        }
        let a = bare
            .oneshot(get.body(Full::<Bytes>::default()).unwrap())
            .await
            .unwrap();
        let mut get = Request::get("/");
        if let Some(range) = range {
            get = get.header(header::RANGE, range);
        }
        let b = layered
            .oneshot(get.body(Full::<Bytes>::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(a.status(), b.status(), "{range:?}");
        fn strip_boundary<B>(r: &Response<B>) -> HeaderMap {
            let mut h = r.headers().clone();
            h.remove(header::CONTENT_TYPE); // multipart boundaries are random
            h.remove(header::LAST_MODIFIED);
            h
        }
        if a.status() != StatusCode::OK {
            assert_eq!(strip_boundary(&a), strip_boundary(&b), "{range:?}");
        }
        let a = a.into_body().collect().await.unwrap().to_bytes();
        let b = b.into_body().collect().await.unwrap().to_bytes();
        if range != Some("bytes=0-1,5-6") {
            assert_eq!(a, b, "{range:?}");
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// TraceLayer, TimeoutLayer and SetResponseHeaderLayer around the layer
/// (and a header set inside it) leave ranges intact.
#[tokio::test]
async fn trace_timeout_and_set_header_compose() {
    use std::time::Duration;
    use tower_http::set_header::SetResponseHeaderLayer;
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;

    let service = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(5),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            http::HeaderValue::from_static("max-age=60"),
        ))
        .layer(RangeLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_LANGUAGE,
            http::HeaderValue::from_static("en"),
        ))
        .service_fn(inner);

    let response = service
        .clone()
        .oneshot(request(Some("bytes=4-7,-4")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "max-age=60");
    assert_eq!(response.headers()[header::CONTENT_LANGUAGE], "en");
    let declared: usize = response.headers()[header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), declared);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("Content-Range: bytes 4-7/4400\r\n\r\nwork\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 4396-4399/4400\r\n\r\noy. \r\n"),
        "{text}"
    );

    let response = service
        .oneshot(request(Some("bytes=99999-")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */4400");
}

// ---------------------------------------------------------------------------
// ServeDir inside the layer: its 206, 416 and 304 pass through untouched.

/// Status, headers and body bytes of a response.
async fn parts<B>(response: Response<B>) -> (StatusCode, HeaderMap, Bytes)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (head, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (head.status, head.headers, bytes)
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::get(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::default()).unwrap()
}

/// A directory holding `a.txt` (the text), removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn with_text(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tower-range-servedir-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), text()).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The same request to `ServeDir` alone and to `ServeDir` behind the layer.
async fn serve_dir_both(
    dir: &std::path::Path,
    headers: &[(&str, &str)],
) -> (
    (StatusCode, HeaderMap, Bytes),
    (StatusCode, HeaderMap, Bytes),
) {
    use tower_http::services::ServeDir;
    let bare = ServeDir::new(dir)
        .oneshot(get_with("/a.txt", headers))
        .await
        .unwrap();
    let layered = ServiceBuilder::new()
        .layer(RangeLayer::new())
        .service(ServeDir::new(dir))
        .oneshot(get_with("/a.txt", headers))
        .await
        .unwrap();
    (parts(bare).await, parts(layered).await)
}

#[tokio::test]
async fn serve_dir_single_range_passes_through_untouched() {
    let dir = TempDir::with_text("single");
    let (bare, layered) = serve_dir_both(&dir.0, &[("range", "bytes=4-7")]).await;
    assert_eq!(bare.0, StatusCode::PARTIAL_CONTENT);
    assert_eq!(bare.1[header::CONTENT_RANGE], "bytes 4-7/4400");
    assert_eq!(bare.2, "work");
    assert_eq!(layered, bare, "the layer altered ServeDir's 206");
}

#[tokio::test]
async fn serve_dir_unsatisfiable_range_passes_through_untouched() {
    let dir = TempDir::with_text("unsatisfiable");
    let (bare, layered) = serve_dir_both(&dir.0, &[("range", "bytes=99999-")]).await;
    assert_eq!(bare.0, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(bare.1[header::CONTENT_RANGE], "bytes */4400");
    assert_eq!(layered, bare, "the layer altered ServeDir's 416");
}

/// ServeDir answers several ranges with a 416 of its own ("Cannot serve
/// multipart range requests"); the layer leaves that 416 alone too.
#[tokio::test]
async fn serve_dir_multipart_refusal_passes_through_untouched() {
    let dir = TempDir::with_text("multi-416");
    let (bare, layered) = serve_dir_both(&dir.0, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(bare.0, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(layered, bare, "the layer altered ServeDir's multipart 416");
}

/// With `ignore_multi_range_requests(true)` ServeDir sends its `200` for
/// several ranges, and the layer turns it into the multipart ServeDir
/// cannot make.
#[tokio::test]
async fn serve_dir_ignoring_multi_ranges_gets_the_layers_multipart() {
    use tower_http::services::ServeDir;
    let dir = TempDir::with_text("multi-200");
    let request = || get_with("/a.txt", &[("range", "bytes=0-2,4-7")]);
    let bare = ServeDir::new(&dir.0).ignore_multi_range_requests(true);
    let (status, _, body) = parts(bare.oneshot(request()).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, text());

    let layered = ServiceBuilder::new()
        .layer(RangeLayer::new())
        .service(ServeDir::new(&dir.0).ignore_multi_range_requests(true));
    let (status, headers, body) = parts(layered.oneshot(request()).await.unwrap()).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("multipart/byteranges; boundary="),
        "{content_type}"
    );
    assert_eq!(
        headers[header::CONTENT_LENGTH],
        body.len().to_string().as_str()
    );
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("Content-Range: bytes 0-2/4400\r\n\r\nAll\r\n"),
        "{body}"
    );
    assert!(
        body.contains("Content-Range: bytes 4-7/4400\r\n\r\nwork\r\n"),
        "{body}"
    );
}

/// ServeDir does not evaluate `If-Range` (tower-http 0.7): it sends the
/// `206` whether the tag matches or not. The layer never sees a `200` to
/// decide on, so it cannot correct that; it passes the `206` through
/// untouched either way. Put `RangeLayer` in front of a plain file
/// service (`FileSource`) when `If-Range` must be honored.
#[tokio::test]
async fn serve_dir_if_range_passes_through_untouched() {
    let dir = TempDir::with_text("if-range");
    let (plain, _) = serve_dir_both(&dir.0, &[]).await;
    let etag = plain.1[header::ETAG].to_str().unwrap().to_owned();
    let last_modified = plain.1[header::LAST_MODIFIED].to_str().unwrap().to_owned();

    for if_range in [etag.as_str(), last_modified.as_str()] {
        let (bare, layered) =
            serve_dir_both(&dir.0, &[("range", "bytes=4-7"), ("if-range", if_range)]).await;
        assert_eq!(bare.0, StatusCode::PARTIAL_CONTENT, "{if_range}");
        assert_eq!(bare.2, "work");
        assert_eq!(layered, bare, "{if_range}");
    }

    let (bare, layered) =
        serve_dir_both(&dir.0, &[("range", "bytes=4-7"), ("if-range", "\"stale\"")]).await;
    assert_eq!(
        bare.0,
        StatusCode::PARTIAL_CONTENT,
        "ServeDir now evaluates If-Range: update this test and the README"
    );
    assert_eq!(layered, bare, "the layer altered ServeDir's 206");
}

#[tokio::test]
async fn serve_dir_without_range_and_not_modified() {
    let dir = TempDir::with_text("plain");
    let (bare, layered) = serve_dir_both(&dir.0, &[]).await;
    assert_eq!(bare.0, StatusCode::OK);
    assert_eq!(bare.1[header::ACCEPT_RANGES], "bytes");
    assert_eq!(bare.1[header::CONTENT_LENGTH], "4400");
    assert_eq!(bare.2, text());
    // The layer's 200 for a request without Range: the same headers (it
    // advertises `Accept-Ranges: bytes`, which ServeDir already did) and
    // the same bytes.
    assert_eq!(layered, bare);

    let etag = bare.1[header::ETAG].to_str().unwrap().to_owned();
    let (bare, layered) = serve_dir_both(&dir.0, &[("if-none-match", &etag)]).await;
    assert_eq!(bare.0, StatusCode::NOT_MODIFIED);
    assert_eq!(layered, bare, "the layer altered ServeDir's 304");
}

// ---------------------------------------------------------------------------
// EncodingTagLayer outside compression: ranges never address mixed encodings.

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// `inner` with a `Last-Modified`, so that `If-Range` can carry a date.
async fn dated_inner(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = inner(req).await?;
    response
        .headers_mut()
        .insert(header::LAST_MODIFIED, LAST_MODIFIED.parse().unwrap());
    Ok(response)
}

/// `EncodingTagLayer`, then `CompressionLayer` (default predicate), then
/// `RangeLayer`, around `dated_inner` (a 4400-byte text with `ETag: "j1"`
/// and a `Last-Modified`).
async fn tagged(headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    let service = ServiceBuilder::new()
        .layer(EncodingTagLayer::new())
        .layer(CompressionLayer::new())
        .layer(RangeLayer::new())
        .service_fn(dated_inner);
    parts(service.oneshot(get_with("/", headers)).await.unwrap()).await
}

const GZIP: (&str, &str) = ("accept-encoding", "gzip");

#[tokio::test]
async fn encoding_tag_gzip_client_gets_a_suffixed_etag() {
    let (status, headers, body) = tagged(&[GZIP]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(headers[header::ETAG], "\"j1-gzip\"");
    assert_eq!(headers[header::ACCEPT_RANGES], "none");
    let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
    assert_eq!(
        vary,
        ["accept-encoding"],
        "exactly one Vary, from tower-http"
    );
    assert_eq!(gunzip(&body), text());
}

#[tokio::test]
async fn encoding_tag_identity_client_keeps_the_tag_and_its_ranges() {
    let (status, headers, body) = tagged(&[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(headers[header::ETAG], "\"j1\"");
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(body, text());

    for extra in [None, Some(("if-range", "\"j1\""))] {
        let mut request = vec![("range", "bytes=4-7")];
        request.extend(extra);
        let (status, headers, body) = tagged(&request).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{extra:?}");
        assert_eq!(headers[header::ETAG], "\"j1\"");
        assert_eq!(headers[header::CONTENT_RANGE], "bytes 4-7/4400");
        assert_eq!(body, "work");
    }
}

/// The hazard the layer removes: a gzip client cut off after 40 bytes
/// resumes with `If-Range` and the tag it got. Without the layer the tag
/// is the identity one and the resume gets identity bytes at an identity
/// offset, which cannot continue a gzip stream.
#[tokio::test]
async fn without_encoding_tag_a_gzip_resume_splices_encodings() {
    let service = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .layer(RangeLayer::new())
        .service_fn(inner);
    let (_, headers, gzip) = parts(
        service
            .clone()
            .oneshot(get_with("/", &[GZIP]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        headers[header::ETAG],
        "\"j1\"",
        "tower-http now changes the ETag of what it compresses: revisit EncodingTagLayer"
    );
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let resume = [GZIP, ("if-range", etag.as_str()), ("range", "bytes=40-")];
    let (status, headers, rest) =
        parts(service.oneshot(get_with("/", &resume)).await.unwrap()).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(rest, text().slice(40..));
    let mut spliced = gzip[..40].to_vec();
    spliced.extend_from_slice(&rest);
    assert_ne!(spliced, gzip, "the two encodings were spliced");
}

#[tokio::test]
async fn encoding_tag_gzip_resume_gets_the_full_200_never_identity_bytes() {
    let (_, headers, gzip) = tagged(&[GZIP]).await;
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"j1-gzip\"");
    for range in ["bytes=100-", "bytes=0-99", "bytes=100-199,300-"] {
        let resume = [GZIP, ("if-range", etag.as_str()), ("range", range)];
        let (status, headers, body) = tagged(&resume).await;
        assert_eq!(status, StatusCode::OK, "{range}");
        assert!(headers.get(header::CONTENT_RANGE).is_none(), "{range}");
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip", "{range}");
        assert_eq!(headers[header::ETAG], "\"j1-gzip\"", "{range}");
        assert_eq!(body, gzip, "{range}: the same full gzip 200");
        assert_eq!(gunzip(&body), text());
    }
    // The same tag without gzip: the full identity 200, still no range.
    let (status, headers, body) =
        tagged(&[("if-range", etag.as_str()), ("range", "bytes=100-")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::ETAG], "\"j1\"");
    assert_eq!(body, text());
}

/// A gzip client that holds identity bytes (a `206` it got before) resumes
/// them with their identity tag: identity bytes again, labelled as such.
#[tokio::test]
async fn encoding_tag_gzip_client_resuming_identity_bytes_gets_identity_206() {
    let resume = [GZIP, ("if-range", "\"j1\""), ("range", "bytes=4-7")];
    let (status, headers, body) = tagged(&resume).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(headers[header::ETAG], "\"j1\"");
    assert_eq!(body, "work");
}

#[tokio::test]
async fn encoding_tag_if_none_match_with_the_suffixed_tag_gets_304() {
    for (sent, expected) in [
        ("\"j1-gzip\"", "\"j1-gzip\""),
        ("W/\"j1-gzip\"", "\"j1-gzip\""),
        ("\"x\", \"j1-gzip\"", "\"j1-gzip\""),
        ("\"j1\"", "\"j1\""),
    ] {
        let (status, headers, body) = tagged(&[GZIP, ("if-none-match", sent)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{sent}");
        assert_eq!(headers[header::ETAG], expected, "{sent}");
        assert!(body.is_empty());
        if expected.ends_with("-gzip\"") {
            // The Vary the gzip 200 has (RFC 9110 §15.4.5).
            let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
            assert_eq!(vary, ["accept-encoding"], "{sent}");
        }
    }
    // Another representation's tag: the full gzip 200.
    let (status, headers, _) = tagged(&[GZIP, ("if-none-match", "\"j0-gzip\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::ETAG], "\"j1-gzip\"");
}

/// `If-Match` with the suffixed tag passes without `Range` and fails with
/// it: a range of the gzip bytes cannot be served, and identity bytes
/// would splice.
#[tokio::test]
async fn encoding_tag_if_match_passes_whole_and_fails_ranged() {
    let (status, headers, body) = tagged(&[GZIP, ("if-match", "\"j1-gzip\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::ETAG], "\"j1-gzip\"");
    assert_eq!(gunzip(&body), text());

    let ranged = [GZIP, ("if-match", "\"j1-gzip\""), ("range", "bytes=100-")];
    let (status, _, _) = tagged(&ranged).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);

    let (status, _, _) = tagged(&[GZIP, ("if-match", "\"j0-gzip\"")]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
}

/// A client that would not get gzip gets no `304` for a gzip tag: the
/// `200` it would get instead is the identity one.
#[tokio::test]
async fn encoding_tag_if_none_match_follows_accept_encoding() {
    for accept_encoding in [
        None,
        Some("identity"),
        Some("deflate"),
        Some("identity, gzip;q=0.5"),
    ] {
        let mut request = vec![("if-none-match", "\"j1-gzip\"")];
        request.extend(accept_encoding.map(|value| ("accept-encoding", value)));
        let (status, headers, body) = tagged(&request).await;
        assert_eq!(status, StatusCode::OK, "{accept_encoding:?}");
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(headers[header::ETAG], "\"j1\"", "{accept_encoding:?}");
        assert_eq!(body, text());
    }
    // A deflate-only client holding both copies is never told to use gzip.
    let request = [
        ("accept-encoding", "deflate"),
        ("if-none-match", "\"j1-gzip\", \"j1-deflate\""),
    ];
    let (_, headers, _) = tagged(&request).await;
    assert_ne!(headers[header::ETAG], "\"j1-gzip\"");
    // A browser's list, and a server (this stack) that only makes gzip:
    // its gzip copy still gets the 304.
    let request = [
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("if-none-match", "\"j1-gzip\""),
    ];
    let (status, headers, _) = tagged(&request).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(headers[header::ETAG], "\"j1-gzip\"");
    // If-Match the same way: a gzip tag from an identity client fails.
    let (status, _, _) = tagged(&[("if-match", "\"j1-gzip\"")]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
}

/// A resume with a date in `If-Range` (what a client without an entity tag
/// sends, RFC 9110 §13.1.5) from a gzip client: the full gzip `200`, never
/// identity bytes at an identity offset. An identity client keeps its
/// date resumes.
#[tokio::test]
async fn encoding_tag_gzip_date_resume_gets_the_full_200() {
    let (_, headers, gzip) = tagged(&[GZIP]).await;
    assert_eq!(headers[header::LAST_MODIFIED], LAST_MODIFIED);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");

    // Without the layer the date matches and the resume splices.
    let bare = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .layer(RangeLayer::new())
        .service_fn(dated_inner);
    let resume = [GZIP, ("if-range", LAST_MODIFIED), ("range", "bytes=40-")];
    let (status, headers, _) = parts(bare.oneshot(get_with("/", &resume)).await.unwrap()).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert!(headers.get(header::CONTENT_ENCODING).is_none());

    for range in ["bytes=40-", "bytes=0-99,200-"] {
        let resume = [GZIP, ("if-range", LAST_MODIFIED), ("range", range)];
        let (status, headers, body) = tagged(&resume).await;
        assert_eq!(status, StatusCode::OK, "{range}");
        assert!(headers.get(header::CONTENT_RANGE).is_none(), "{range}");
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip", "{range}");
        assert_eq!(headers[header::ETAG], "\"j1-gzip\"", "{range}");
        assert_eq!(body, gzip, "{range}");
    }

    for identity_only in [None, Some("identity"), Some("gzip;q=0")] {
        let mut resume = vec![("if-range", LAST_MODIFIED), ("range", "bytes=40-")];
        resume.extend(identity_only.map(|value| ("accept-encoding", value)));
        let (status, headers, body) = tagged(&resume).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{identity_only:?}");
        assert_eq!(headers[header::CONTENT_RANGE], "bytes 40-4399/4400");
        assert_eq!(body, text().slice(40..));
    }
}

/// An encoded response whose `ETag` cannot be suffixed (here: repeated)
/// keeps no identity tag at all.
#[tokio::test]
async fn encoding_tag_drops_an_etag_it_cannot_suffix() {
    let service = ServiceBuilder::new()
        .layer(EncodingTagLayer::new())
        .layer(CompressionLayer::new())
        .service_fn(|req| async move {
            let mut response = inner(req).await?;
            response
                .headers_mut()
                .append(header::ETAG, "\"j1\"".parse().unwrap());
            Ok::<_, Infallible>(response)
        });
    let (status, headers, body) =
        parts(service.oneshot(get_with("/", &[GZIP])).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(headers.get(header::ETAG).is_none(), "{headers:?}");
    assert_eq!(gunzip(&body), text());
}
