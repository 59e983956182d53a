//! The `tracing` feature: exactly one `debug` event, target `tower_range`,
//! per response, saying what the layer decided and why.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Debug;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{service_fn, ServiceExt};
use tower_layer::Layer;
use tower_range::source::{RangeSource, SeekableSource, SourceReader};
use tower_range::{BoxError, RangeLayer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The fields of one event, as text.
type Fields = BTreeMap<String, String>;

/// A subscriber that keeps the events of target `tower_range`.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Fields>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if metadata.target() != "tower_range" {
            return;
        }
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        fields.insert("level".into(), metadata.level().to_string());
        self.events.lock().unwrap().push(fields);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

const ENTITY: &[u8] = b"hello world";
const ETAG: &str = "\"v1\"";
const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// The inner `200`: "hello world" with validators.
fn hello() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(ENTITY)));
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(ETAG));
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_static(LAST_MODIFIED),
    );
    response
}

type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, io::Error>;

/// `len` bytes in `chunk`-byte frames, with no size hint; `fail` ends it with
/// an error instead.
fn stream_body(len: usize, chunk: usize, fail: bool) -> BoxBody {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut frames: Vec<io::Result<Frame<Bytes>>> = data
        .chunks(chunk)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    if fail {
        frames.push(Err(io::Error::other("inner body failed")));
    }
    BodyExt::boxed_unsync(StreamBody::new(stream::iter(frames)))
}

/// A forward-only stream that announces its length.
fn stream_with_length(len: usize) -> Response<BoxBody> {
    let mut response = Response::new(stream_body(len, 10, false));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// A request; `headers` are added in order (a name may repeat).
fn request(method: Method, headers: &[(&str, &str)]) -> Request<()> {
    let mut request = Request::builder().method(method);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(()).unwrap()
}

fn get(headers: &[(&str, &str)]) -> Request<()> {
    request(Method::GET, headers)
}

/// Sends `request` through the layer to an inner service answering
/// `response`, reads the body, and returns the outer status and the events.
fn run<B>(
    layer: RangeLayer,
    request: Request<()>,
    response: Response<B>,
) -> (StatusCode, Vec<Fields>)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let recorder = Recorder::default();
    let events = recorder.events.clone();
    let status = tracing::subscriber::with_default(recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let slot = Mutex::new(Some(response));
            let service = layer.layer(service_fn(move |_req: Request<()>| {
                let response = slot.lock().unwrap().take().unwrap();
                async move { Ok::<_, Infallible>(response) }
            }));
            let response = service.oneshot(request).await.unwrap();
            let status = response.status();
            // Reading the body must not add events; it may fail on purpose.
            let _ = response.into_body().collect().await;
            status
        })
    });
    let events = events.lock().unwrap().clone();
    (status, events)
}

/// Asserts exactly one event with `decision` and `reason`, at `debug`, and
/// returns its fields.
#[track_caller]
fn one(events: Vec<Fields>, decision: &str, reason: &str) -> Fields {
    assert_eq!(events.len(), 1, "one event per response: {events:#?}");
    let event = events.into_iter().next().unwrap();
    assert_eq!(event["decision"], decision, "{event:#?}");
    assert_eq!(event["reason"], reason, "{event:#?}");
    assert_eq!(event["level"], "DEBUG", "{event:#?}");
    assert_eq!(event["message"], "range decision", "{event:#?}");
    event
}

#[test]
fn no_range() {
    let (status, events) = run(RangeLayer::new(), get(&[]), hello());
    assert_eq!(status, StatusCode::OK);
    let event = one(events, "full", "no_range");
    assert_eq!(event["method"], "GET");
    assert_eq!(event["status"], "200");
    assert_eq!(event["len"], "11");
    assert!(!event.contains_key("ranges"), "{event:#?}");
}

#[test]
fn invalid_syntax() {
    let (status, events) = run(RangeLayer::new(), get(&[("range", "0-4")]), hello());
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "invalid_syntax");
}

#[test]
fn invalid_spec() {
    for range in ["bytes=5-1", "bytes=abc", "bytes="] {
        let (status, events) = run(RangeLayer::new(), get(&[("range", range)]), hello());
        assert_eq!(status, StatusCode::OK, "{range}");
        one(events, "full", "invalid_spec");
    }
}

#[test]
fn other_unit() {
    let (status, events) = run(RangeLayer::new(), get(&[("range", "items=0-4")]), hello());
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "other_unit");
}

#[test]
fn too_many_ranges() {
    let layer = RangeLayer::new().max_ranges(2);
    let (status, events) = run(layer, get(&[("range", "bytes=0-0,2-2,4-4")]), hello());
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "too_many_ranges");
}

#[test]
fn repeated_range() {
    let request = get(&[("range", "bytes=0-0"), ("range", "bytes=2-2")]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "repeated_range");
}

#[test]
fn if_range_mismatch() {
    let request = get(&[("range", "bytes=0-4"), ("if-range", "\"v0\"")]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "if_range_mismatch");
}

#[test]
fn if_range_match_is_a_partial() {
    let request = get(&[("range", "bytes=0-4"), ("if-range", ETAG)]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    one(events, "partial", "satisfiable");
}

#[test]
fn not_modified() {
    let request = get(&[("range", "bytes=0-4"), ("if-none-match", ETAG)]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let event = one(events, "not_modified", "if_none_match");
    // The inner status, not the one sent.
    assert_eq!(event["status"], "200");

    let request = get(&[("if-modified-since", LAST_MODIFIED)]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    one(events, "not_modified", "if_modified_since");
}

#[test]
fn precondition_failed() {
    let request = get(&[("if-match", "\"v0\"")]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    one(events, "precondition_failed", "if_match");

    let request = get(&[("if-unmodified-since", "Sat, 05 Nov 1994 08:49:37 GMT")]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    one(events, "precondition_failed", "if_unmodified_since");
}

#[test]
fn amplification() {
    // 50 one-byte ranges of a 100-byte entity: the framing outgrows it.
    let specs: Vec<String> = (0..50).map(|i| format!("{0}-{0}", 2 * i)).collect();
    let range = format!("bytes={}", specs.join(","));
    let response = Response::new(Full::new(Bytes::from(vec![b'x'; 100])));
    let (status, events) = run(RangeLayer::new(), get(&[("range", &range)]), response);
    assert_eq!(status, StatusCode::OK);
    let event = one(events, "full", "amplification");
    assert_eq!(event["ranges"], "50");
    assert_eq!(event["len"], "100");
}

#[test]
fn empty_entity() {
    let response = Response::new(Full::new(Bytes::new()));
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::OK);
    let event = one(events, "full", "empty");
    assert_eq!(event["len"], "0");
}

#[test]
fn unknown_length_past_the_buffer_limit() {
    let layer = RangeLayer::new().buffer_limit(16);
    let response = Response::new(stream_body(100, 10, false));
    let (status, events) = run(layer, get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::OK);
    let event = one(events, "full", "unknown_length");
    // Still unknown: the layer stopped reading.
    assert!(!event.contains_key("len"), "{event:#?}");
    assert_eq!(event["ranges"], "1");
}

#[test]
fn unknown_length_within_the_buffer_limit_is_decided_after_buffering() {
    let response = Response::new(stream_body(100, 10, false));
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let event = one(events, "partial", "satisfiable");
    assert_eq!(event["len"], "100");
}

#[test]
fn unknown_length_of_a_head() {
    let request = request(Method::HEAD, &[("range", "bytes=0-4")]);
    let response = Response::new(stream_body(100, 10, false));
    let (status, events) = run(RangeLayer::new(), request, response);
    assert_eq!(status, StatusCode::OK);
    let event = one(events, "full", "unknown_length");
    assert_eq!(event["method"], "HEAD");
}

#[test]
fn body_error_while_buffering() {
    let response = Response::new(stream_body(30, 10, true));
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "body_error");
}

#[test]
fn out_of_order_over_a_forward_only_stream_past_the_limit() {
    let layer = RangeLayer::new().buffer_limit(100);
    let request = get(&[("range", "bytes=500-599,0-9")]);
    let (status, events) = run(layer, request, stream_with_length(1000));
    assert_eq!(status, StatusCode::OK);
    let event = one(events, "full", "buffer_limit");
    assert_eq!(event["ranges"], "2");
    assert_eq!(event["len"], "1000");
}

#[test]
fn out_of_order_within_the_limit_is_decided_after_buffering() {
    let request = get(&[("range", "bytes=50-59,0-9")]);
    let (status, events) = run(RangeLayer::new(), request, stream_with_length(100));
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let event = one(events, "multipart", "satisfiable");
    assert_eq!(event["ranges"], "2");
}

#[test]
fn accept_ranges_none() {
    let mut response = hello();
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "refused");
}

#[test]
fn other_method() {
    let request = request(Method::POST, &[("range", "bytes=0-4")]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::OK);
    let event = one(events, "pass_through", "method");
    assert_eq!(event["method"], "POST");

    let request = request_with_extension_method();
    let (_, events) = run(RangeLayer::new(), request, hello());
    let event = one(events, "pass_through", "method");
    assert_eq!(event["method"], "extension");
}

fn request_with_extension_method() -> Request<()> {
    request(Method::from_bytes(b"PROPFIND").unwrap(), &[])
}

#[test]
fn other_status() {
    let mut response = hello();
    *response.status_mut() = StatusCode::NOT_FOUND;
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let event = one(events, "pass_through", "status");
    assert_eq!(event["status"], "404");
}

#[test]
fn already_partial() {
    let mut response = hello();
    response.headers_mut().insert(
        header::CONTENT_RANGE,
        HeaderValue::from_static("bytes 0-10/20"),
    );
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::OK);
    one(events, "pass_through", "already_partial");
}

#[test]
fn contradictory_length() {
    let mut response = hello();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::OK);
    one(events, "pass_through", "contradictory_length");
}

#[test]
fn partial() {
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), hello());
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let event = one(events, "partial", "satisfiable");
    assert_eq!(event["method"], "GET");
    assert_eq!(event["status"], "200");
    assert_eq!(event["len"], "11");
    assert_eq!(event["ranges"], "1");

    let request = request(Method::HEAD, &[("range", "bytes=0-4")]);
    let (status, events) = run(RangeLayer::new(), request, hello());
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    one(events, "partial", "satisfiable");

    // Overlapping ranges merge into one part.
    let (status, events) = run(
        RangeLayer::new(),
        get(&[("range", "bytes=0-4,2-6")]),
        hello(),
    );
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let event = one(events, "partial", "satisfiable");
    assert_eq!(event["ranges"], "2");
}

#[test]
fn partial_of_a_forward_only_stream() {
    let request = get(&[("range", "bytes=10-19,50-59")]);
    let (status, events) = run(RangeLayer::new(), request, stream_with_length(100));
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    one(events, "multipart", "satisfiable");
}

#[test]
fn multipart() {
    let (status, events) = run(
        RangeLayer::new(),
        get(&[("range", "bytes=0-1,6-7")]),
        hello(),
    );
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let event = one(events, "multipart", "satisfiable");
    assert_eq!(event["ranges"], "2");
}

#[test]
fn multipart_of_an_encoded_representation() {
    let mut response = hello();
    response
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let (status, events) = run(
        RangeLayer::new(),
        get(&[("range", "bytes=0-1,6-7")]),
        response,
    );
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "content_encoding");
}

#[test]
fn unsatisfiable() {
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=50-")]), hello());
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    let event = one(events, "unsatisfiable", "no_overlap");
    assert_eq!(event["len"], "11");
}

/// A source that cannot be opened.
struct Broken;

impl SeekableSource for Broken {
    fn len(&self) -> u64 {
        11
    }
    fn open(&self) -> io::Result<Box<dyn SourceReader>> {
        Err(io::Error::other("gone"))
    }
}

#[test]
fn source_that_will_not_open() {
    let response = RangeSource::new(Broken).into_response();
    let (status, events) = run(RangeLayer::new(), get(&[("range", "bytes=0-4")]), response);
    assert_eq!(status, StatusCode::OK);
    one(events, "full", "source_error");
}

#[test]
fn no_event_above_debug() {
    /// A subscriber at `info`: the layer's event is not built.
    struct Info(Arc<Mutex<usize>>);
    impl Subscriber for Info {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            *metadata.level() <= tracing::Level::INFO
        }
        fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
            Some(tracing::level_filters::LevelFilter::INFO)
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {
            *self.0.lock().unwrap() += 1;
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let seen = Arc::new(Mutex::new(0));
    let subscriber = Info(seen.clone());
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let service = RangeLayer::new().layer(service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(hello())
            }));
            let response = service
                .oneshot(get(&[("range", "bytes=0-4")]))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        });
    });
    assert_eq!(*seen.lock().unwrap(), 0);
}

#[cfg(feature = "content-etag")]
mod content_etag {
    use super::*;

    #[test]
    fn decided_once_after_hashing() {
        let layer = RangeLayer::new().content_etag(1024);
        let response = Response::new(Full::new(Bytes::from_static(ENTITY)));
        let (status, events) = run(layer, get(&[("range", "bytes=0-4")]), response);
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        let event = one(events, "partial", "satisfiable");
        assert_eq!(event["len"], "11");
        assert_eq!(event["ranges"], "1");

        let response = Response::new(Full::new(Bytes::from_static(ENTITY)));
        let (status, events) = run(layer, get(&[]), response);
        assert_eq!(status, StatusCode::OK);
        one(events, "full", "no_range");
    }

    #[test]
    fn unknown_length_is_left_to_the_usual_path() {
        // Bodies of unknown length are never buffered for a tag: the Range
        // is honored as without the option (buffered within buffer_limit).
        let layer = RangeLayer::new().content_etag(16);
        let response = Response::new(stream_body(100, 10, false));
        let (status, events) = run(layer, get(&[("range", "bytes=0-4")]), response);
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        one(events, "partial", "satisfiable");

        let response = Response::new(stream_body(100, 10, false));
        let (_, events) = run(layer, get(&[]), response);
        one(events, "full", "no_range");
    }
}
