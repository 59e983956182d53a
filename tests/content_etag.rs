//! Strong ETags derived from the content (`RangeLayer::content_etag`).
#![cfg(feature = "content-etag")]

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{service_fn, ServiceExt};
use tower_layer::Layer;
use tower_range::RangeLayer;

/// An "existing API": a CSV export with no validators of its own.
fn export(rows: usize) -> Bytes {
    let mut csv = String::from("id,name,score\n");
    for i in 0..rows {
        csv.push_str(&format!("{i},user-{i},{}\n", i * 37 % 1000));
    }
    Bytes::from(csv)
}

async fn get(
    layer: RangeLayer,
    content: Bytes,
    method: Method,
    headers: &[(&str, &str)],
) -> (Response<()>, Bytes) {
    let service = layer.layer(service_fn(move |_req: Request<()>| {
        let content = content.clone();
        async move { Ok::<_, Infallible>(Response::new(Full::new(content))) }
    }));
    let mut request = Request::builder().method(method);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = service.oneshot(request.body(()).unwrap()).await.unwrap();
    let (head, body) = response.into_parts();
    (
        Response::from_parts(head, ()),
        body.collect().await.unwrap().to_bytes(),
    )
}

fn layer() -> RangeLayer {
    RangeLayer::new().content_etag(1024 * 1024)
}

#[tokio::test]
async fn a_200_without_etag_gets_a_strong_one_that_replicas_agree_on() {
    let content = export(1000);
    let (a, body) = get(layer(), content.clone(), Method::GET, &[]).await;
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(body, content);
    let etag = a.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    assert_eq!(a.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        a.headers()[header::CONTENT_LENGTH],
        content.len().to_string().as_str()
    );

    // Another replica, another layer instance: the same tag.
    let (b, _) = get(layer(), content.clone(), Method::GET, &[]).await;
    assert_eq!(b.headers()[header::ETAG], etag.as_str());
    // Other content: another tag.
    let (c, _) = get(layer(), export(1001), Method::GET, &[]).await;
    assert_ne!(c.headers()[header::ETAG], etag.as_str());
}

#[tokio::test]
async fn resume_with_if_range_and_conditional_requests_work() {
    let content = export(50_000);
    let (first, _) = get(layer(), content.clone(), Method::GET, &[]).await;
    let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();

    // A download cut at 512 000 bytes resumes with Range + If-Range.
    let (resumed, rest) = get(
        layer(),
        content.clone(),
        Method::GET,
        &[("range", "bytes=512000-"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(resumed.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        resumed.headers()[header::CONTENT_RANGE],
        format!("bytes 512000-{}/{}", content.len() - 1, content.len()).as_str()
    );
    assert_eq!(&rest[..], &content[512_000..]);
    assert_eq!(resumed.headers()[header::ETAG], etag.as_str());

    // The export changed: If-Range fails, the full new version comes back.
    let changed = export(50_001);
    let (stale, body) = get(
        layer(),
        changed.clone(),
        Method::GET,
        &[("range", "bytes=512000-"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(body, changed);

    let (not_modified, body) = get(
        layer(),
        content.clone(),
        Method::GET,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(not_modified.headers()[header::ETAG], etag.as_str());

    let (failed, _) = get(layer(), changed, Method::GET, &[("if-match", &etag)]).await;
    assert_eq!(failed.status(), StatusCode::PRECONDITION_FAILED);

    let (multi, body) = get(
        layer(),
        content.clone(),
        Method::GET,
        &[("range", "bytes=0-9,-10")],
    )
    .await;
    assert_eq!(multi.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        multi.headers()[header::CONTENT_LENGTH],
        body.len().to_string().as_str()
    );
}

#[tokio::test]
async fn existing_validators_head_and_large_bodies_are_left_alone() {
    let content = export(1000);
    // An ETag of its own is kept.
    let service = layer().layer(service_fn({
        let content = content.clone();
        move |_req: Request<()>| {
            let mut response = Response::new(Full::new(content.clone()));
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_static("\"mine\""));
            async move { Ok::<_, Infallible>(response) }
        }
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.headers()[header::ETAG], "\"mine\"");

    // HEAD: no body to hash, no tag invented.
    let (head, _) = get(layer(), content.clone(), Method::HEAD, &[]).await;
    assert!(head.headers().get(header::ETAG).is_none());

    // Larger than the limit, known length: not buffered, no tag.
    let small_limit = RangeLayer::new().content_etag(100);
    let (large, body) = get(small_limit, content.clone(), Method::GET, &[]).await;
    assert!(large.headers().get(header::ETAG).is_none());
    assert_eq!(body, content);

    // Unknown length: never buffered for a tag; every byte goes out.
    let chunks: Vec<Bytes> = content.chunks(64).map(Bytes::copy_from_slice).collect();
    let service = RangeLayer::new()
        .content_etag(100)
        .layer(service_fn(move |_req: Request<()>| {
            let frames = chunks
                .clone()
                .into_iter()
                .map(|c| Ok::<_, io::Error>(Frame::data(c)));
            let body = StreamBody::new(stream::iter(frames));
            async move { Ok::<_, Infallible>(Response::new(body)) }
        }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::ETAG).is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, content);
}

/// A body that ends before, or runs past, the `Content-Length` its inner
/// service declared (a file truncated while it streams, say) is not the
/// representation: no tag is derived from it, no range is cut from it, and
/// a short one ends in an error, never a clean end a client would take for
/// a complete response.
#[tokio::test]
async fn a_body_that_disagrees_with_its_content_length_gets_no_tag() {
    let content = export(1000);
    for (actual, range) in [
        (content.len() - 40, None),
        (content.len() - 40, Some("bytes=0-")),
        (content.len() - 40, Some("bytes=10-19")),
        (content.len() + 40, None),
        (content.len() + 40, Some("bytes=10-19")),
    ] {
        let declared = content.len();
        let mut sent = content.to_vec();
        sent.resize(actual, b'x');
        let chunks: Vec<Bytes> = sent.chunks(700).map(Bytes::copy_from_slice).collect();
        let service = layer().layer(service_fn(move |_req: Request<()>| {
            let frames = chunks
                .clone()
                .into_iter()
                .map(|c| Ok::<_, io::Error>(Frame::data(c)));
            let mut response = Response::new(StreamBody::new(stream::iter(frames)));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
            async move { Ok::<_, Infallible>(response) }
        }));
        let mut request = Request::builder();
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        let response = service.oneshot(request.body(()).unwrap()).await.unwrap();
        let case = format!("{actual} bytes of {declared}, Range {range:?}");
        assert_eq!(response.status(), StatusCode::OK, "{case}");
        assert!(response.headers().get(header::ETAG).is_none(), "{case}");
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            declared.to_string().as_str(),
            "{case}: the inner response's own length"
        );
        let body = response.into_body().collect().await;
        if actual < declared {
            assert!(body.is_err(), "{case}: a short body must end in an error");
        } else {
            // As without the layer: every byte the inner body sent, for the
            // server to hold against the declared length.
            assert_eq!(body.unwrap().to_bytes().len(), actual, "{case}");
        }
    }
}
