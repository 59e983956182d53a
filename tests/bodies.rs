//! Body-kind behaviour that only the service shows: what is read, what is
//! buffered, what passes through untouched.

use std::convert::Infallible;
use std::io;
#[cfg(feature = "tokio")]
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{service_fn, ServiceExt};
use tower_layer::Layer;
#[cfg(feature = "tokio")]
use tower_range::source::{RangeSource, ReaderSource};
use tower_range::{RangeBody, RangeLayer};

type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, io::Error>;

fn entity(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A stream of `chunk`-byte frames that counts the bytes it handed out.
fn counted_stream(data: Vec<u8>, chunk: usize, read: Arc<AtomicU64>) -> BoxBody {
    let chunks: Vec<Bytes> = data.chunks(chunk).map(Bytes::copy_from_slice).collect();
    let frames = stream::iter(chunks).map(move |chunk| {
        read.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok::<_, io::Error>(Frame::data(chunk))
    });
    BodyExt::boxed_unsync(StreamBody::new(frames))
}

use futures_util::StreamExt;

async fn call<B>(
    layer: RangeLayer,
    method: Method,
    range: Option<&str>,
    response: Response<B>,
) -> (Response<()>, Bytes)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tower_range::BoxError>,
{
    let slot = std::sync::Mutex::new(Some(response));
    let service = layer.layer(service_fn(move |_req: Request<()>| {
        let response = slot.lock().unwrap().take().unwrap();
        async move { Ok::<_, Infallible>(response) }
    }));
    let mut request = Request::builder().method(method);
    if let Some(range) = range {
        request = request.header(header::RANGE, range);
    }
    let response: Response<RangeBody<B>> =
        service.oneshot(request.body(()).unwrap()).await.unwrap();
    let (head, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (Response::from_parts(head, ()), bytes)
}

#[tokio::test]
async fn known_length_stream_reads_no_further_than_the_last_byte() {
    let data = entity(100_000);
    let read = Arc::new(AtomicU64::new(0));
    let mut response = Response::new(counted_stream(data.clone(), 1000, read.clone()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(100_000u64));
    let (head, body) = call(
        RangeLayer::new(),
        Method::GET,
        Some("bytes=10500-20499"),
        response,
    )
    .await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], &data[10_500..20_500]);
    // The frame holding byte 20499 ends at 21000: nothing after it is read.
    assert_eq!(read.load(Ordering::SeqCst), 21_000);
}

#[tokio::test]
async fn buffered_body_is_sliced_without_copy() {
    let data = Bytes::from(entity(4096));
    let response = Response::new(Full::new(data.clone()));
    let (head, body) = call(
        RangeLayer::new(),
        Method::GET,
        Some("bytes=100-199"),
        response,
    )
    .await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, data.slice(100..200));
    // Same allocation: the slice points into the original buffer.
    assert_eq!(body.as_ptr(), data[100..].as_ptr());
}

#[tokio::test]
async fn out_of_order_ranges_over_a_stream_are_held_within_the_limit() {
    let data = entity(10_000);
    let read = Arc::new(AtomicU64::new(0));
    let mut response = Response::new(counted_stream(data.clone(), 700, read.clone()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(10_000u64));
    let (head, body) = call(
        RangeLayer::new(),
        Method::GET,
        Some("bytes=5000-5099,0-99"),
        response,
    )
    .await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    let content_type = head.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(content_type.starts_with("multipart/byteranges; boundary="));
    let text = String::from_utf8_lossy(&body);
    let first = text.find("Content-Range: bytes 5000-5099/10000").unwrap();
    let second = text.find("Content-Range: bytes 0-99/10000").unwrap();
    assert!(first < second, "parts keep the order of the request");
    assert_eq!(
        body.len().to_string(),
        head.headers()[header::CONTENT_LENGTH].to_str().unwrap()
    );
    // Read up to the frame holding byte 5099 (ends at 5600), not further.
    assert_eq!(read.load(Ordering::SeqCst), 5_600);
}

#[tokio::test]
async fn out_of_order_ranges_past_the_limit_send_every_byte() {
    let data = entity(10_000);
    let read = Arc::new(AtomicU64::new(0));
    let mut response = Response::new(counted_stream(data.clone(), 700, read));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(10_000u64));
    let layer = RangeLayer::new().buffer_limit(1000);
    let (head, body) = call(layer, Method::GET, Some("bytes=9000-9099,0-99"), response).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "10000");
    assert_eq!(&body[..], &data[..]);
}

/// A `Full<Bytes>` is read forward like any body: out-of-order ranges
/// reaching past `buffer_limit` get the whole `200`, decided before
/// reading, so that HEAD agrees; a limit that covers them serves them,
/// holding the body's own frame.
#[tokio::test]
async fn out_of_order_ranges_over_full_bytes_follow_the_limit() {
    let data = Bytes::from(entity(2_000_000));
    let ranges = "bytes=1500000-1500009,0-9";
    for method in [Method::GET, Method::HEAD] {
        let response = Response::new(Full::new(data.clone()));
        let (head, body) = call(RangeLayer::new(), method.clone(), Some(ranges), response).await;
        assert_eq!(head.status(), StatusCode::OK, "{method}, default limit");
        if method == Method::GET {
            assert_eq!(body, data);
        } else {
            assert_eq!(head.headers()[header::CONTENT_LENGTH], "2000000");
        }

        let response = Response::new(Full::new(data.clone()));
        let layer = RangeLayer::new().buffer_limit(data.len());
        let (head, body) = call(layer, method.clone(), Some(ranges), response).await;
        assert_eq!(
            head.status(),
            StatusCode::PARTIAL_CONTENT,
            "{method}, raised limit"
        );
        let content_type = head.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(
            content_type.starts_with("multipart/byteranges"),
            "{content_type}"
        );
        if method == Method::GET {
            assert!(body.windows(10).any(|w| w == &data[1_500_000..1_500_010]));
            assert!(body.windows(10).any(|w| w == &data[..10]));
        }
    }
}

#[tokio::test]
async fn unknown_length_within_the_limit_is_ranged() {
    let data = entity(5000);
    let response = Response::new(counted_stream(data.clone(), 333, Arc::default()));
    let (head, body) = call(RangeLayer::new(), Method::GET, Some("bytes=-10"), response).await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        head.headers()[header::CONTENT_RANGE],
        "bytes 4990-4999/5000"
    );
    assert_eq!(&body[..], &data[4990..]);
}

#[tokio::test]
async fn unknown_length_past_the_limit_sends_every_byte() {
    let data = entity(50_000);
    let response = Response::new(counted_stream(data.clone(), 1024, Arc::default()));
    let layer = RangeLayer::new().buffer_limit(4096);
    let (head, body) = call(layer, Method::GET, Some("bytes=0-9"), response).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().get(header::CONTENT_RANGE).is_none());
    assert!(head.headers().get(header::CONTENT_LENGTH).is_none());
    assert_eq!(&body[..], &data[..]);
}

#[tokio::test]
async fn unknown_length_without_range_is_not_buffered() {
    let data = entity(50_000);
    let read = Arc::new(AtomicU64::new(0));
    let response = Response::new(counted_stream(data.clone(), 1024, read.clone()));
    let slot = std::sync::Mutex::new(Some(response));
    let service = RangeLayer::new().layer(service_fn(move |_req: Request<()>| {
        let response = slot.lock().unwrap().take().unwrap();
        async move { Ok::<_, Infallible>(response) }
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    // Headers are out before a single byte of the body was read.
    assert_eq!(read.load(Ordering::SeqCst), 0);
    assert!(response.headers().get(header::ACCEPT_RANGES).is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], &data[..]);
}

#[cfg(feature = "tokio")] // uses the ready sources
#[tokio::test]
async fn reader_source_serves_ranges_and_the_full_body() {
    let data = entity(300_000);
    for (range, expected) in [
        (Some("bytes=1000-199999"), &data[1000..200_000]),
        (None, &data[..]),
    ] {
        let source = RangeSource::new(ReaderSource::new(
            Cursor::new(data.clone()),
            data.len() as u64,
        ));
        let (head, body) = call(
            RangeLayer::new(),
            Method::GET,
            range,
            source.into_response(),
        )
        .await;
        assert_eq!(body.len(), expected.len());
        assert!(body[..] == *expected, "{range:?}");
        assert_eq!(head.headers()[header::ACCEPT_RANGES], "bytes");
        assert!(
            head.extensions().get::<RangeSource>().is_none(),
            "the source never leaks"
        );
    }
}

#[cfg(feature = "tokio")] // uses the ready sources
#[tokio::test]
async fn source_that_disagrees_with_content_length_is_ignored() {
    // A body that is not the source (say, compressed): ranges must address
    // the body that is sent, so the layer streams the body instead.
    let body_bytes = Bytes::from_static(b"0123456789");
    let mut response = Response::new(Full::new(body_bytes.clone()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(10u64));
    response
        .extensions_mut()
        .insert(RangeSource::new(ReaderSource::new(
            Cursor::new(vec![b'x'; 1000]),
            1000,
        )));
    let (head, body) = call(RangeLayer::new(), Method::GET, Some("bytes=2-4"), response).await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(head.headers()[header::CONTENT_RANGE], "bytes 2-4/10");
    assert_eq!(body, "234");
}

/// A `HEAD` gets the headers a `GET` would get on the wire, and no body,
/// whatever the layer decides: a range, a multipart, a 416, or the whole
/// representation (no `Range`, an invalid one, a multipart that would
/// outgrow it, an `If-Range` that fails), even when the inner service
/// answers `HEAD` with its `GET` body and leaves the length to it (hyper
/// drops such a body over HTTP/1.1 but sends it over HTTP/2).
#[tokio::test]
async fn head_gets_get_headers_and_no_body() {
    // 50 one-byte parts of 100 bytes: the multipart would outgrow the
    // representation, so the whole of it is the answer.
    let spread: Vec<String> = (0..50).map(|i| format!("{0}-{0}", i * 2)).collect();
    let spread = format!("bytes={}", spread.join(","));
    let cases: Vec<(Option<&str>, Option<&str>, StatusCode)> = vec![
        (Some("bytes=0-4"), None, StatusCode::PARTIAL_CONTENT),
        (Some("bytes=0-4,10-14"), None, StatusCode::PARTIAL_CONTENT),
        (Some("bytes=500-"), None, StatusCode::RANGE_NOT_SATISFIABLE),
        (None, None, StatusCode::OK),
        (Some("bytes=x"), None, StatusCode::OK),
        (Some("items=0-4"), None, StatusCode::OK),
        (Some(&spread), None, StatusCode::OK),
        (Some("bytes=0-4"), Some("\"other\""), StatusCode::OK),
    ];
    for (range, if_range, status) in cases {
        let exchange = |method: Method| {
            // Whatever the method, the GET answer (as a plain service_fn
            // gives), and no Content-Length: the body says it.
            let service = RangeLayer::new().layer(service_fn(|_req: Request<()>| async {
                let mut response = Response::new(Full::new(Bytes::from(entity(100))));
                response
                    .headers_mut()
                    .insert(header::ETAG, HeaderValue::from_static("\"e\""));
                Ok::<_, Infallible>(response)
            }));
            let mut request = Request::builder().method(method);
            if let Some(range) = range {
                request = request.header(header::RANGE, range);
            }
            if let Some(if_range) = if_range {
                request = request.header(header::IF_RANGE, if_range);
            }
            service.oneshot(request.body(()).unwrap())
        };
        let get = exchange(Method::GET).await.unwrap();
        let head = exchange(Method::HEAD).await.unwrap();
        let what = format!("{range:?} {if_range:?}");
        assert_eq!(get.status(), status, "{what}");
        assert_eq!(head.status(), status, "{what}");
        assert!(head.body().is_end_stream(), "{what}: a body for HEAD");
        let (get, get_body) = get.into_parts();
        let get_body = get_body.collect().await.unwrap().to_bytes();
        // On the wire the GET says the length of what it sends (hyper
        // writes the body's exact size when the header is not there).
        let get_length = get
            .headers
            .get(header::CONTENT_LENGTH)
            .map_or_else(|| HeaderValue::from(get_body.len()), HeaderValue::clone);
        assert_eq!(
            head.headers().get(header::CONTENT_LENGTH),
            Some(&get_length),
            "{what}"
        );
        for name in [header::CONTENT_RANGE, header::ACCEPT_RANGES] {
            assert_eq!(
                get.headers.get(&name),
                head.headers().get(&name),
                "{what} {name}"
            );
        }
        // The same type; a multipart's boundary is drawn for each response.
        let media_type = |headers: &http::HeaderMap| {
            headers.get(header::CONTENT_TYPE).map(|value| {
                let value = value.to_str().unwrap();
                value
                    .split_once("; boundary=")
                    .map_or(value, |(t, _)| t)
                    .to_owned()
            })
        };
        assert_eq!(
            media_type(&get.headers),
            media_type(head.headers()),
            "{what}"
        );
    }
}

/// The length a `HEAD` is given comes from the body only when it is exact
/// and nothing else frames the message.
#[tokio::test]
async fn head_of_a_whole_representation_adds_only_a_known_length() {
    // A stream of unknown length: nothing to say.
    let read = Arc::new(AtomicU64::new(0));
    let response = Response::new(counted_stream(entity(36), 7, read.clone()));
    let (head, body) = call(RangeLayer::new(), Method::HEAD, None, response).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().get(header::CONTENT_LENGTH).is_none());
    assert!(body.is_empty());
    assert_eq!(read.load(Ordering::SeqCst), 0, "a HEAD body was read");

    // A Transfer-Encoding already frames it: no Content-Length beside it.
    let mut response = Response::new(Full::new(Bytes::from(entity(10))));
    response.headers_mut().insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    let (head, body) = call(RangeLayer::new(), Method::HEAD, None, response).await;
    assert!(head.headers().get(header::CONTENT_LENGTH).is_none());
    assert!(body.is_empty());

    // A Content-Length the inner service said is kept as it is.
    let mut response = Response::new(Full::new(Bytes::new()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(1000u64));
    let (head, body) = call(RangeLayer::new(), Method::HEAD, Some("bytes=x"), response).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "1000");
    assert_eq!(head.headers()[header::ACCEPT_RANGES], "bytes");
    assert!(body.is_empty());
}

#[tokio::test]
async fn head_with_an_empty_body_trusts_content_length() {
    // What axum hands over for HEAD: the GET's headers and an empty body.
    let mut response = Response::new(Full::new(Bytes::new()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(1000u64));
    let (head, body) = call(
        RangeLayer::new(),
        Method::HEAD,
        Some("bytes=-100"),
        response,
    )
    .await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(head.headers()[header::CONTENT_RANGE], "bytes 900-999/1000");
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "100");
    assert!(body.is_empty());
}

#[tokio::test]
async fn contradictory_length_passes_through_untouched() {
    let mut response = Response::new(Full::new(Bytes::from_static(b"0123456789")));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(20u64));
    let (head, body) = call(RangeLayer::new(), Method::GET, Some("bytes=0-1"), response).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().get(header::ACCEPT_RANGES).is_none());
    assert_eq!(body, "0123456789");
}

#[tokio::test]
async fn other_methods_and_statuses_are_untouched() {
    for (method, status) in [
        (Method::POST, StatusCode::OK),
        (Method::PUT, StatusCode::OK),
        (Method::DELETE, StatusCode::OK),
        (Method::GET, StatusCode::NOT_FOUND),
        (Method::GET, StatusCode::CREATED),
        (Method::GET, StatusCode::PARTIAL_CONTENT),
    ] {
        let mut response = Response::new(Full::new(Bytes::from_static(b"0123456789")));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert("x-marker", HeaderValue::from_static("kept"));
        let (head, body) = call(
            RangeLayer::new(),
            method.clone(),
            Some("bytes=0-1"),
            response,
        )
        .await;
        assert_eq!(head.status(), status, "{method} {status}");
        assert_eq!(
            head.headers().len(),
            1,
            "{method} {status}: {:?}",
            head.headers()
        );
        assert_eq!(body, "0123456789");
    }
}

#[tokio::test]
async fn accept_ranges_none_opts_out() {
    let mut response = Response::new(Full::new(Bytes::from_static(b"0123456789")));
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    let (head, body) = call(RangeLayer::new(), Method::GET, Some("bytes=0-1"), response).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::ACCEPT_RANGES], "none");
    assert_eq!(body, "0123456789");
}

#[tokio::test]
async fn responses_keep_their_headers() {
    let mut response = Response::new(Full::new(Bytes::from(entity(100))));
    for (name, value) in [
        (header::CONTENT_TYPE, "video/mp4"),
        (header::ETAG, "\"v1\""),
        (header::LAST_MODIFIED, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (header::CACHE_CONTROL, "max-age=60"),
        (header::VARY, "accept-encoding"),
        (header::CONTENT_ENCODING, "identity"),
    ] {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    let (head, _) = call(RangeLayer::new(), Method::GET, Some("bytes=0-9"), response).await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    for name in [
        "content-type",
        "etag",
        "last-modified",
        "cache-control",
        "vary",
        "content-encoding",
    ] {
        assert!(head.headers().contains_key(name), "{name} kept on 206");
    }

    let mut response = Response::new(Full::new(Bytes::from(entity(100))));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    response
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    response
        .headers_mut()
        .insert(header::ETAG, HeaderValue::from_static("\"v1\""));
    let (head, body) = call(RangeLayer::new(), Method::GET, Some("bytes=100-"), response).await;
    assert_eq!(head.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(head.headers()[header::CONTENT_RANGE], "bytes */100");
    assert!(head.headers().get(header::CONTENT_TYPE).is_none());
    assert!(head.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "0");
    assert_eq!(head.headers()[header::ETAG], "\"v1\"");
    assert!(body.is_empty());
}

#[cfg(feature = "tokio")] // uses the ready sources
#[tokio::test]
async fn source_left_behind_by_a_re_encoding_layer_is_ignored() {
    // What a compression layer between the layer and the handler leaves:
    // Content-Encoding set, Content-Length gone, the source still in the
    // extensions. Ranges must address the bytes actually sent.
    let sent = entity(36);
    let mut response = Response::new(counted_stream(sent.clone(), 7, Arc::default()));
    response
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    response
        .extensions_mut()
        .insert(RangeSource::new(ReaderSource::new(
            Cursor::new(vec![b'x'; 36]),
            36,
        )));
    let (head, body) = call(RangeLayer::new(), Method::GET, Some("bytes=0-3"), response).await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], &sent[..4]);
}

#[tokio::test]
async fn out_of_order_past_the_limit_is_decided_before_reading_so_head_agrees() {
    for method in [Method::GET, Method::HEAD] {
        let read = Arc::new(AtomicU64::new(0));
        let mut response = Response::new(counted_stream(entity(36), 7, read.clone()));
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(36u64));
        let layer = RangeLayer::new().buffer_limit(8);
        let (head, body) = call(layer, method.clone(), Some("bytes=30-31,0-1"), response).await;
        assert_eq!(head.status(), StatusCode::OK, "{method}");
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "36", "{method}");
        assert_eq!(head.headers()[header::ACCEPT_RANGES], "bytes", "{method}");
        if method == Method::GET {
            assert_eq!(&body[..], &entity(36)[..]);
        } else {
            assert!(body.is_empty(), "a body for HEAD");
        }
    }
}

#[tokio::test]
async fn multipart_of_an_encoded_representation_is_sent_whole() {
    let mut response = Response::new(Full::new(Bytes::from(entity(100))));
    response
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let (head, body) = call(
        RangeLayer::new(),
        Method::GET,
        Some("bytes=0-1,5-6"),
        response,
    )
    .await;
    // A top-level Content-Encoding on multipart/byteranges would claim the
    // framing itself is encoded.
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(body.len(), 100);

    // One range of the encoded bytes is fine: it addresses the encoded bytes.
    let mut response = Response::new(Full::new(Bytes::from(entity(100))));
    response
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let (head, _) = call(RangeLayer::new(), Method::GET, Some("bytes=0-1"), response).await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(head.headers()[header::CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn partial_responses_drop_the_trailer_announcement() {
    let mut response = Response::new(Full::new(Bytes::from(entity(100))));
    response
        .headers_mut()
        .insert(header::TRAILER, HeaderValue::from_static("x-checksum"));
    let (head, _) = call(RangeLayer::new(), Method::GET, Some("bytes=0-1"), response).await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert!(head.headers().get(header::TRAILER).is_none());
}

#[cfg(feature = "tokio")] // uses the ready sources
#[test]
fn bodies_are_send_and_sync() {
    // BoxBody (and tonic, and some tower-http stacks) need Sync bodies.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RangeBody<Full<Bytes>>>();
    send_sync::<tower_range::source::SourceBody>();
    let _ = http_body_util::combinators::BoxBody::new(
        RangeSource::new(ReaderSource::new(Cursor::new(vec![0u8; 4]), 4)).body(),
    );
}

#[tokio::test]
async fn tiny_frames_are_buffered_and_skipped_correctly() {
    // One-byte frames: the buffer gathers them (memory is the bytes, not an
    // entry per frame), and skipping yields to the runtime in batches.
    let data = entity(200_000);
    let response = Response::new(counted_stream(data.clone(), 1, Arc::default()));
    let (head, body) = call(
        RangeLayer::new(),
        Method::GET,
        Some("bytes=150000-150009,5-9"),
        response,
    )
    .await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    let text = body.clone();
    let find = |needle: &[u8]| {
        text.windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    let first = find(b"Content-Range: bytes 150000-150009/200000\r\n\r\n") + 45;
    assert_eq!(&body[first..first + 10], &data[150_000..150_010]);
    let second = find(b"Content-Range: bytes 5-9/200000\r\n\r\n") + 35;
    assert_eq!(&body[second..second + 5], &data[5..10]);

    let mut response = Response::new(counted_stream(data.clone(), 1, Arc::default()));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(200_000u64));
    let (head, body) = call(
        RangeLayer::new(),
        Method::GET,
        Some("bytes=199990-"),
        response,
    )
    .await;
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], &data[199_990..]);
}

#[cfg(feature = "tokio")] // uses the ready sources
#[tokio::test]
async fn file_source_reads_inline_or_on_the_blocking_pool_alike() {
    use tower_range::source::FileSource;
    let data = entity(500_000);
    let path = std::env::temp_dir().join(format!("tower-range-inline-{}.bin", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    for inline in [0, 4096, 1 << 20] {
        for (range, first, last) in [
            ("bytes=10-1033", 10, 1033),
            ("bytes=1000-399999", 1000, 399_999),
        ] {
            let file = FileSource::open(&path)
                .await
                .unwrap()
                .inline_reads_up_to(inline);
            let response = RangeSource::new(file).into_response();
            let (head, body) = call(RangeLayer::new(), Method::GET, Some(range), response).await;
            assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
            assert!(body[..] == data[first..=last], "inline {inline}, {range}");
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// `Content-Digest` and `Content-MD5` are digests of the content: of the
/// whole body in the `200`, so wrong for a `206`'s slice or multipart and
/// for the empty `416` and `304`; a client checking them would reject a
/// correct range. `Repr-Digest` and `Digest` are of the representation
/// and stay.
#[tokio::test]
async fn content_digests_do_not_outlive_the_content_they_digest() {
    let data = Bytes::from(entity(1000));
    let response = || {
        let mut response = Response::new(Full::new(data.clone()));
        let headers = response.headers_mut();
        headers.insert("content-digest", HeaderValue::from_static("sha-256=:AAAA:"));
        headers.insert(
            "content-md5",
            HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAA=="),
        );
        headers.insert("repr-digest", HeaderValue::from_static("sha-256=:BBBB:"));
        headers.insert("digest", HeaderValue::from_static("sha-256=BBBB"));
        headers.insert(header::ETAG, HeaderValue::from_static("\"v\""));
        response
    };
    for (method, range, status) in [
        (Method::GET, Some("bytes=0-9"), StatusCode::PARTIAL_CONTENT),
        (Method::HEAD, Some("bytes=0-9"), StatusCode::PARTIAL_CONTENT),
        (
            Method::GET,
            Some("bytes=0-9,500-509"),
            StatusCode::PARTIAL_CONTENT,
        ),
        (
            Method::GET,
            Some("bytes=5000-"),
            StatusCode::RANGE_NOT_SATISFIABLE,
        ),
    ] {
        let (head, _) = call(RangeLayer::new(), method.clone(), range, response()).await;
        let case = format!("{method} {range:?}");
        assert_eq!(head.status(), status, "{case}");
        assert!(head.headers().get("content-digest").is_none(), "{case}");
        assert!(head.headers().get("content-md5").is_none(), "{case}");
        assert_eq!(head.headers()["repr-digest"], "sha-256=:BBBB:", "{case}");
        assert_eq!(head.headers()["digest"], "sha-256=BBBB", "{case}");
    }
    // The whole 200 keeps them: they are right for it.
    let (head, _) = call(RangeLayer::new(), Method::GET, None, response()).await;
    assert_eq!(head.headers()["content-digest"], "sha-256=:AAAA:");
    assert_eq!(head.headers()["content-md5"], "AAAAAAAAAAAAAAAAAAAAAA==");
}
