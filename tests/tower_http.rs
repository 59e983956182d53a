//! Composing with tower-http: what the README recommends, checked.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeFile;
use tower_range::RangeLayer;

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
