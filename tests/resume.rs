//! `ResumeLayer` (feature `client`): the body state machine against a
//! scripted inner service (no network), then real loopback servers behind
//! a fault-injecting TCP proxy.
#![cfg(feature = "client")]

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use tower::{Service, ServiceExt};
use tower_layer::Layer;
use tower_range::client::{
    Interruption, ResumeBody, ResumeError, ResumeErrorKind, ResumeLayer, Validator,
};
use tower_range::{BoxError, RangeLayer};

// ---------------------------------------------------------------------------
// A scripted inner service.

type MockBody = BoxBody<Bytes, io::Error>;

/// How a scripted body goes.
#[derive(Clone, Debug)]
enum Ending {
    /// Every byte, then the end.
    Complete,
    /// This many bytes, then an error (a reset connection).
    FailAfter(usize),
    /// This many bytes, then a clean end (short of Content-Length).
    EndAfter(usize),
    /// This many bytes, then nothing, ever.
    StallAfter(usize),
    /// This many bytes, a wait of one second (the body is `Pending`), then
    /// the rest.
    PauseAfter(usize),
    /// This many bytes, a trailers frame, then a clean end (short of
    /// Content-Length unless it is all of them).
    TrailersAfter(usize),
}

/// One scripted response.
struct Reply {
    status: StatusCode,
    headers: Vec<(header::HeaderName, String)>,
    body: Vec<u8>,
    ending: Ending,
}

impl Reply {
    fn new(status: StatusCode, body: &[u8], ending: Ending) -> Self {
        Reply {
            status,
            headers: vec![(header::CONTENT_LENGTH, body.len().to_string())],
            body: body.to_vec(),
            ending,
        }
    }

    /// A `200` of all of `content`.
    fn full(content: &[u8], ending: Ending) -> Self {
        Self::new(StatusCode::OK, content, ending)
    }

    /// A `206` of `content[first..=last]`, with `Content-Range` naming
    /// `complete`.
    fn partial(content: &[u8], first: usize, last: usize, ending: Ending) -> Self {
        Self::new(StatusCode::PARTIAL_CONTENT, &content[first..=last], ending).header(
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{}", content.len()),
        )
    }

    fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value.into()));
        self
    }

    fn etag(self, tag: &str) -> Self {
        self.header(header::ETAG, tag)
    }

    /// One more line of `name`, keeping the ones there are.
    fn append(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn into_response(self) -> Response<MockBody> {
        let chunks: Vec<Bytes> = self.body.chunks(7).map(Bytes::copy_from_slice).collect();
        if let Ending::PauseAfter(n) = self.ending {
            let (head, tail) = self.body.split_at(n.min(self.body.len()));
            let (head, tail) = (Bytes::copy_from_slice(head), Bytes::copy_from_slice(tail));
            let frames = stream::iter([Ok(Frame::data(head))]).chain(stream::once(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(Frame::data(tail))
            }));
            let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
            *response.status_mut() = self.status;
            for (name, value) in self.headers {
                response
                    .headers_mut()
                    .append(name, value.parse().expect("header value"));
            }
            return response;
        }
        let limit = match self.ending {
            Ending::Complete | Ending::PauseAfter(_) => usize::MAX,
            Ending::FailAfter(n)
            | Ending::EndAfter(n)
            | Ending::StallAfter(n)
            | Ending::TrailersAfter(n) => n,
        };
        // Cut the chunks at `limit` bytes.
        let mut left = limit;
        let mut frames = Vec::new();
        for chunk in chunks {
            if left == 0 {
                break;
            }
            let take = chunk.len().min(left);
            left -= take;
            frames.push(Ok(Frame::data(chunk.slice(..take))));
        }
        let head = stream::iter(frames);
        let body: MockBody = match self.ending {
            Ending::Complete | Ending::EndAfter(_) | Ending::PauseAfter(_) => {
                BodyExt::boxed(StreamBody::new(head))
            }
            Ending::FailAfter(_) => {
                BodyExt::boxed(StreamBody::new(head.chain(stream::iter([Err(
                    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset"),
                )]))))
            }
            Ending::StallAfter(_) => BodyExt::boxed(StreamBody::new(head.chain(stream::pending()))),
            Ending::TrailersAfter(_) => {
                let mut trailers = http::HeaderMap::new();
                trailers.insert(
                    "x-checksum",
                    http::HeaderValue::from_static("of-this-response"),
                );
                BodyExt::boxed(StreamBody::new(
                    head.chain(stream::iter([Ok(Frame::trailers(trailers))])),
                ))
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            response
                .headers_mut()
                .append(name, value.parse().expect("header value"));
        }
        response
    }
}

/// What the scripted service saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    range: Option<String>,
    if_range: Option<String>,
    other: HeaderMap,
}

#[derive(Clone)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        Script {
            replies: Arc::new(Mutex::new(replies.into_iter().collect())),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn ranges(&self) -> Vec<Option<String>> {
        self.seen().into_iter().map(|seen| seen.range).collect()
    }

    fn if_ranges(&self) -> Vec<Option<String>> {
        self.seen().into_iter().map(|seen| seen.if_range).collect()
    }
}

impl Service<Request<Empty<Bytes>>> for Script {
    type Response = Response<MockBody>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Response<MockBody>, io::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Empty<Bytes>>) -> Self::Future {
        let text = |name| {
            request
                .headers()
                .get(name)
                .map(|value: &http::HeaderValue| value.to_str().unwrap().to_owned())
        };
        self.seen.lock().unwrap().push(Seen {
            method: request.method().clone(),
            range: text(header::RANGE),
            if_range: text(header::IF_RANGE),
            other: request.headers().clone(),
        });
        let reply = self.replies.lock().unwrap().pop_front();
        std::future::ready(match reply {
            Some(reply) => Ok(reply.into_response()),
            None => Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the script has no more replies",
            )),
        })
    }
}

/// 1000 bytes that differ from their neighbours.
fn content() -> Vec<u8> {
    (0..1000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// The layer as most mock tests use it: no backoff delay.
fn layer() -> ResumeLayer {
    ResumeLayer::new().backoff(Duration::ZERO, Duration::ZERO)
}

fn get() -> Request<Empty<Bytes>> {
    Request::get("http://example.test/file")
        .body(Empty::new())
        .unwrap()
}

fn get_range(range: &str) -> Request<Empty<Bytes>> {
    Request::get("http://example.test/file")
        .header(header::RANGE, range)
        .header("x-caller", "kept")
        .body(Empty::new())
        .unwrap()
}

/// Reads the whole body: the bytes, and the error it ended with.
async fn drain(mut body: ResumeBody) -> (Vec<u8>, Option<ResumeError>) {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Err(error) => return (bytes, Some(error)),
        }
    }
    (bytes, None)
}

async fn fetch(
    layer: ResumeLayer,
    script: &Script,
    request: Request<Empty<Bytes>>,
) -> (Response<()>, Vec<u8>, Option<ResumeError>) {
    let response = layer.layer(script.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let (bytes, error) = drain(body).await;
    (Response::from_parts(parts, ()), bytes, error)
}

const TAG: &str = "\"v1\"";

// ---------------------------------------------------------------------------
// The state machine.

#[tokio::test]
async fn failure_at_offset_zero_resumes_from_the_first_byte() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(0)).etag(TAG),
        Reply::partial(&content, 0, 999, Ending::Complete).etag(TAG),
    ]);
    let (response, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(bytes, content);
    assert_eq!(script.ranges(), [None, Some("bytes=0-".into())]);
    assert_eq!(script.if_ranges(), [None, Some(TAG.into())]);
}

#[tokio::test]
async fn failure_mid_body_resumes_at_the_offset() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(437)).etag(TAG),
        Reply::partial(&content, 437, 999, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 537, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(
        script.ranges(),
        [None, Some("bytes=437-".into()), Some("bytes=537-".into())]
    );
    assert!(script.seen().iter().all(|seen| seen.method == Method::GET));
}

#[tokio::test]
async fn failure_before_the_last_byte_resumes_for_one_byte() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(999)).etag(TAG),
        Reply::partial(&content, 999, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(script.ranges()[1].as_deref(), Some("bytes=999-"));
}

#[tokio::test]
async fn an_error_after_every_announced_byte_ends_the_body_cleanly() {
    let content = content();
    let script = Script::new([Reply::full(&content, Ending::FailAfter(1000)).etag(TAG)]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(script.seen().len(), 1, "no resume for nothing");
}

#[tokio::test]
async fn a_clean_end_short_of_content_length_is_resumed() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::EndAfter(600)).etag(TAG),
        Reply::partial(&content, 600, 999, Ending::Complete).etag(TAG),
    ]);
    let retries = Arc::new(Mutex::new(Vec::new()));
    let seen = retries.clone();
    let layer = layer().on_retry(move |retry| {
        let early = retry.error.downcast_ref::<Interruption>().copied();
        seen.lock()
            .unwrap()
            .push((retry.attempt, retry.offset, early));
    });
    let (_, bytes, error) = fetch(layer, &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(
        *retries.lock().unwrap(),
        [(
            1,
            600,
            Some(Interruption::EarlyEnd {
                expected: 1000,
                received: 600
            })
        )]
    );
}

/// The trailers of a response that ended short belong to it, not to the
/// body the caller reads: after them would come the resumed bytes, and
/// trailers are a body's last frame. Those of the response that completes
/// the body are passed on, last.
#[tokio::test]
async fn trailers_of_a_short_response_are_dropped_and_the_last_ones_kept() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::TrailersAfter(600)).etag(TAG),
        Reply::partial(&content, 600, 999, Ending::TrailersAfter(400)).etag(TAG),
    ]);
    let response = layer().layer(script.clone()).oneshot(get()).await.unwrap();
    let mut body = response.into_body();
    let (mut bytes, mut trailers) = (Vec::new(), Vec::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("no error");
        assert!(trailers.is_empty(), "a frame after trailers: {frame:?}");
        match frame.into_data() {
            Ok(data) => bytes.extend_from_slice(&data),
            Err(frame) => trailers.push(frame.into_trailers().expect("trailers")),
        }
    }
    assert_eq!(bytes, content);
    assert_eq!(trailers.len(), 1, "the completing response's trailers");
    assert_eq!(script.ranges(), [None, Some("bytes=600-".into())]);
}

#[tokio::test]
async fn without_any_length_a_clean_end_is_the_end() {
    let content = content();
    let mut reply = Reply::full(&content, Ending::EndAfter(600)).etag(TAG);
    reply
        .headers
        .retain(|(name, _)| name != header::CONTENT_LENGTH);
    let script = Script::new([reply]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, &content[..600]);
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn without_any_length_an_error_is_resumed_and_the_206_tells_the_length() {
    let content = content();
    let mut reply = Reply::full(&content, Ending::FailAfter(300)).etag(TAG);
    reply
        .headers
        .retain(|(name, _)| name != header::CONTENT_LENGTH);
    let script = Script::new([
        reply,
        Reply::partial(&content, 300, 999, Ending::EndAfter(200)).etag(TAG),
        Reply::partial(&content, 500, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(
        script.ranges(),
        [None, Some("bytes=300-".into()), Some("bytes=500-".into())]
    );
}

#[tokio::test]
async fn the_callers_bounded_range_is_continued_and_its_headers_kept() {
    let content = content();
    let script = Script::new([
        Reply::partial(&content, 100, 599, Ending::FailAfter(150)).etag(TAG),
        Reply::partial(&content, 250, 599, Ending::Complete).etag(TAG),
    ]);
    let (response, bytes, error) = fetch(layer(), &script, get_range("bytes=100-599")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(bytes, &content[100..600]);
    assert_eq!(
        script.ranges(),
        [Some("bytes=100-599".into()), Some("bytes=250-599".into())]
    );
    assert_eq!(script.seen()[1].other["x-caller"], "kept");
}

#[tokio::test]
async fn the_callers_open_range_is_continued_to_the_end_it_was_given() {
    let content = content();
    let script = Script::new([
        Reply::partial(&content, 900, 999, Ending::FailAfter(10)).etag(TAG),
        Reply::partial(&content, 910, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get_range("bytes=900-")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, &content[900..]);
    assert_eq!(script.ranges()[1].as_deref(), Some("bytes=910-999"));
}

#[tokio::test]
async fn a_callers_suffix_or_multi_range_206_is_not_resumed() {
    for range in ["bytes=-100", "bytes=0-9,20-29"] {
        let content = content();
        let script =
            Script::new([Reply::partial(&content, 900, 999, Ending::FailAfter(10)).etag(TAG)]);
        let response = layer()
            .layer(script.clone())
            .oneshot(get_range(range))
            .await
            .unwrap();
        assert!(!response.body().is_resumable(), "{range}");
        let (bytes, error) = drain(response.into_body()).await;
        assert_eq!(bytes.len(), 10);
        let error = error.expect("the failure surfaces");
        assert_eq!(error.kind(), ResumeErrorKind::NotResumable);
        assert_eq!(error.offset(), 10);
        assert_eq!(script.seen().len(), 1);
    }
}

#[tokio::test]
async fn a_200_to_an_ignored_caller_range_is_resumed_from_zero() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(10)).etag(TAG),
        Reply::partial(&content, 10, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get_range("bytes=-100")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(script.ranges()[1].as_deref(), Some("bytes=10-"));
}

#[tokio::test]
async fn other_methods_and_statuses_pass_through() {
    let content = content();
    let script = Script::new([Reply::full(&content, Ending::FailAfter(5)).etag(TAG)]);
    let mut request = get();
    *request.method_mut() = Method::POST;
    let response = layer()
        .layer(script.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert!(!response.body().is_resumable());
    let (_, error) = drain(response.into_body()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::NotResumable);

    let script = Script::new([Reply::new(StatusCode::NOT_FOUND, b"gone", Ending::Complete)]);
    let (response, bytes, error) = fetch(layer(), &script, get()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(bytes, b"gone");
    assert!(error.is_none());
}

#[tokio::test]
async fn no_validator_fails_with_no_validator_and_the_cause() {
    let content = content();
    let script = Script::new([Reply::full(&content, Ending::FailAfter(300))]);
    let response = layer().layer(script.clone()).oneshot(get()).await.unwrap();
    assert_eq!(response.body().validator(), Validator::None);
    let (bytes, error) = drain(response.into_body()).await;
    let error = error.expect("no silent end");
    assert_eq!(error.kind(), ResumeErrorKind::NoValidator);
    assert_eq!(error.offset(), 300);
    assert_eq!(bytes, &content[..300]);
    let source = std::error::Error::source(&error).expect("the cause");
    assert_eq!(
        source.downcast_ref::<io::Error>().map(io::Error::kind),
        Some(io::ErrorKind::ConnectionReset)
    );
    assert_eq!(script.seen().len(), 1, "no unchecked resume");
}

#[tokio::test]
async fn a_weak_etag_is_no_validator() {
    let content = content();
    let script = Script::new([Reply::full(&content, Ending::FailAfter(300)).etag("W/\"v1\"")]);
    let (_, _, error) = fetch(layer(), &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::NoValidator);
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn a_strong_last_modified_is_used_when_there_is_no_etag() {
    let content = content();
    let modified = "Sun, 06 Nov 1994 08:49:37 GMT";
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300))
            .header(header::LAST_MODIFIED, modified)
            .header(header::DATE, "Sun, 06 Nov 1994 08:49:38 GMT"),
        Reply::partial(&content, 300, 999, Ending::Complete)
            .header(header::LAST_MODIFIED, modified),
    ]);
    let response = layer().layer(script.clone()).oneshot(get()).await.unwrap();
    assert_eq!(response.body().validator(), Validator::LastModified);
    let (bytes, error) = drain(response.into_body()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(script.if_ranges()[1].as_deref(), Some(modified));
}

#[tokio::test]
async fn a_last_modified_that_may_be_weak_is_no_validator() {
    // The same second as Date, and no Date at all: RFC 9110 §8.8.2.2 does
    // not let a client call either strong.
    for date in [Some("Sun, 06 Nov 1994 08:49:37 GMT"), None] {
        let content = content();
        let mut reply = Reply::full(&content, Ending::FailAfter(300))
            .header(header::LAST_MODIFIED, "Sun, 06 Nov 1994 08:49:37 GMT");
        if let Some(date) = date {
            reply = reply.header(header::DATE, date);
        }
        let script = Script::new([reply]);
        let (_, _, error) = fetch(layer(), &script, get()).await;
        assert_eq!(
            error.unwrap().kind(),
            ResumeErrorKind::NoValidator,
            "{date:?}"
        );
        assert_eq!(script.seen().len(), 1);
    }
}

#[tokio::test]
async fn resume_without_validator_sends_range_alone() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)),
        Reply::partial(&content, 300, 999, Ending::Complete),
    ]);
    let layer = layer().resume_without_validator(true);
    let (_, bytes, error) = fetch(layer, &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(script.if_ranges(), [None, None]);
}

#[tokio::test]
async fn a_200_with_another_etag_on_resume_is_resource_changed() {
    let content = content();
    let changed: Vec<u8> = content.iter().map(|b| b ^ 0xff).collect();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::full(&changed, Ending::Complete).etag("\"v2\""),
    ]);
    let (_, bytes, error) = fetch(layer().restart_on_change(true), &script, get()).await;
    let error = error.expect("never stitched");
    assert_eq!(error.kind(), ResumeErrorKind::ResourceChanged);
    assert_eq!(error.status(), Some(StatusCode::OK));
    assert_eq!(error.offset(), 300);
    assert_eq!(bytes, &content[..300], "only bytes of the first version");
}

#[tokio::test]
async fn a_200_on_resume_with_nothing_delivered_restarts_when_asked() {
    let content = content();
    let changed: Vec<u8> = content[..800].iter().map(|b| b ^ 0xff).collect();
    let replies = || {
        [
            Reply::full(&content, Ending::FailAfter(0)).etag(TAG),
            Reply::full(&changed, Ending::Complete).etag("\"v2\""),
        ]
    };
    // Not asked: the change is an error, even with nothing delivered.
    let script = Script::new(replies());
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::ResourceChanged);
    assert!(bytes.is_empty());

    // Asked: the new version, from its first byte.
    let script = Script::new(replies());
    let response = layer()
        .restart_on_change(true)
        .layer(script.clone())
        .oneshot(get())
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        bytes.extend_from_slice(&frame.expect("restarted").into_data().unwrap());
    }
    assert_eq!(bytes, changed);
    assert_eq!(body.restarts(), 1);
}

#[tokio::test]
async fn a_200_with_the_same_etag_on_resume_is_range_ignored() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::full(&content, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::RangeIgnored);
    assert_eq!(bytes, &content[..300]);
}

#[tokio::test]
async fn accept_ranges_none_is_range_ignored_without_a_resume() {
    let content = content();
    let script = Script::new([Reply::full(&content, Ending::FailAfter(300))
        .etag(TAG)
        .header(header::ACCEPT_RANGES, "none")]);
    let (_, _, error) = fetch(layer(), &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::RangeIgnored);
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn resumed_answers_that_do_not_continue_are_bad_content_range() {
    let content = content();
    let cases: Vec<(&str, Reply)> = vec![
        (
            "wrong start",
            Reply::partial(&content, 299, 999, Ending::Complete).etag(TAG),
        ),
        (
            "wrong complete length",
            Reply::partial(&content, 300, 999, Ending::Complete)
                .etag(TAG)
                .header(header::CONTENT_RANGE, "bytes 300-999/1001"),
        ),
        (
            "unknown complete length",
            Reply::partial(&content, 300, 999, Ending::Complete)
                .etag(TAG)
                .header(header::CONTENT_RANGE, "bytes 300-999/*"),
        ),
        // A 206 that ends short of the end is a continuation (see
        // a_shorter_206_is_continued_from_where_it_ends); one that ends
        // beyond it, see a_206_beyond_the_end_asked_for_is_bad_content_range.
        (
            "malformed",
            Reply::partial(&content, 300, 999, Ending::Complete)
                .etag(TAG)
                .header(header::CONTENT_RANGE, "bytes 300-abc/1000"),
        ),
        (
            "missing",
            Reply::new(
                StatusCode::PARTIAL_CONTENT,
                &content[300..],
                Ending::Complete,
            )
            .etag(TAG),
        ),
        (
            "Content-Length disagrees",
            Reply::partial(&content, 300, 999, Ending::Complete)
                .etag(TAG)
                .header(header::CONTENT_LENGTH, "10"),
        ),
        (
            "multipart",
            Reply::partial(&content, 300, 999, Ending::Complete)
                .etag(TAG)
                .header(header::CONTENT_TYPE, "multipart/byteranges; boundary=x"),
        ),
        (
            "multipart, other case and spacing",
            Reply::partial(&content, 300, 999, Ending::Complete)
                .etag(TAG)
                .header(header::CONTENT_TYPE, " MultiPart/ByteRanges ;boundary=x"),
        ),
    ];
    for (case, reply) in cases {
        let script = Script::new([
            Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
            reply,
        ]);
        let (_, bytes, error) = fetch(layer(), &script, get()).await;
        let error = error.unwrap_or_else(|| panic!("{case}: accepted"));
        assert_eq!(
            error.kind(),
            ResumeErrorKind::BadContentRange,
            "{case}: {error}"
        );
        assert_eq!(error.offset(), 300, "{case}");
        assert_eq!(bytes, &content[..300], "{case}");
    }
}

#[tokio::test]
async fn a_206_with_another_etag_is_resource_changed() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete).etag("\"v2\""),
    ]);
    let (_, _, error) = fetch(layer(), &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::ResourceChanged);
}

#[tokio::test]
async fn a_416_on_resume_is_unexpected_status_and_a_503_is_retried() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::new(StatusCode::SERVICE_UNAVAILABLE, b"busy", Ending::Complete),
        Reply::new(StatusCode::RANGE_NOT_SATISFIABLE, b"", Ending::Complete),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::UnexpectedStatus);
    assert_eq!(error.status(), Some(StatusCode::RANGE_NOT_SATISFIABLE));
    assert_eq!(bytes, &content[..300]);
    assert_eq!(script.seen().len(), 3);
}

/// `max_resumes` caps every resume over the body's life, progress or not.
#[tokio::test]
async fn max_resumes_bounds_the_total() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 100, 999, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 200, 999, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer().max_resumes(2), &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::AttemptsExhausted);
    assert_eq!(error.offset(), 300);
    assert_eq!(bytes, &content[..300]);
    assert_eq!(script.seen().len(), 3, "the first request and two resumes");
    assert!(std::error::Error::source(&error).is_some());
}

/// `max_attempts` counts failures in a row without progress: every attempt
/// here delivers bytes before it fails, so two attempts are enough for
/// three failures.
#[tokio::test]
async fn progress_resets_max_attempts() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 100, 999, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 200, 999, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ]);
    let response = layer()
        .max_attempts(2)
        .layer(script.clone())
        .oneshot(get())
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        bytes.extend_from_slice(&frame.expect("progress").into_data().unwrap());
    }
    assert_eq!(bytes, content);
    assert_eq!(body.resumes(), 3);
}

/// Without progress, the third failure in a row with `max_attempts(2)`
/// ends the body, even after earlier progress.
#[tokio::test]
async fn failures_in_a_row_without_progress_are_bounded_by_max_attempts() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 100, 999, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 200, 999, Ending::FailAfter(0)).etag(TAG),
        Reply::partial(&content, 200, 999, Ending::FailAfter(0)).etag(TAG),
        Reply::partial(&content, 200, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer().max_attempts(2), &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::AttemptsExhausted);
    assert_eq!(error.offset(), 200);
    assert_eq!(bytes, &content[..200]);
    // The failure at 200 (after progress) is the first of its row; the
    // two resumes that bring nothing make it three.
    assert_eq!(script.seen().len(), 4);
}

#[tokio::test]
async fn a_failing_resume_request_counts_as_an_attempt() {
    let content = content();
    // The script runs dry after the first reply: every resume fails.
    let script = Script::new([Reply::full(&content, Ending::FailAfter(100)).etag(TAG)]);
    let (_, _, error) = fetch(layer().max_attempts(3), &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::AttemptsExhausted);
    assert_eq!(script.seen().len(), 4);
}

#[tokio::test]
async fn retry_if_decides_which_failures_are_resumed() {
    let content = content();
    let script = Script::new([Reply::full(&content, Ending::FailAfter(100)).etag(TAG)]);
    let layer = layer().retry_if(|error| error.is::<Interruption>());
    let (_, _, error) = fetch(layer, &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::NotRetried);
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn size_hint_is_exact_and_shrinks() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ]);
    let response = layer().layer(script).oneshot(get()).await.unwrap();
    let mut body = response.into_body();
    assert_eq!(body.size_hint().exact(), Some(1000));
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        seen += frame.unwrap().into_data().unwrap().len() as u64;
        assert_eq!(body.size_hint().exact(), Some(1000 - seen));
    }
    assert_eq!(seen, 1000);
    assert!(body.is_end_stream());
    assert_eq!(body.resumes(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_body_times_out_and_resumes() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::StallAfter(250)).etag(TAG),
        Reply::partial(&content, 250, 999, Ending::StallAfter(250)).etag(TAG),
        Reply::partial(&content, 500, 999, Ending::Complete).etag(TAG),
    ]);
    let timeouts = Arc::new(AtomicU64::new(0));
    let counter = timeouts.clone();
    let layer = ResumeLayer::new()
        .idle_timeout(Duration::from_secs(5))
        .backoff(Duration::from_millis(100), Duration::from_secs(1))
        .on_retry(move |retry| {
            assert!(
                retry.delay <= Duration::from_millis(200),
                "{:?}",
                retry.delay
            );
            if let Some(Interruption::IdleTimeout(timeout)) = retry.error.downcast_ref() {
                assert_eq!(*timeout, Duration::from_secs(5));
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
    let start = tokio::time::Instant::now();
    let (_, bytes, error) = fetch(layer, &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(timeouts.load(Ordering::SeqCst), 2);
    // Virtual time: two idle timeouts and two backoffs of at most 100 and
    // 200 ms (the second attempt made progress, so it starts over at 100).
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(10), "{elapsed:?}");
    assert!(elapsed <= Duration::from_millis(10_200), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_caller_is_not_an_idle_server() {
    // Each frame comes 1 s after it is asked for; the idle timeout is 5 s;
    // the caller takes 60 s between frames. Only the body's own waiting
    // counts, so nothing times out.
    let content = content();
    let chunks: Vec<Bytes> = content.chunks(250).map(Bytes::copy_from_slice).collect();
    let frames = stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, io::Error>(Frame::data(chunk))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, "1000".parse().unwrap());
    response
        .headers_mut()
        .insert(header::ETAG, TAG.parse().unwrap());
    let response = Mutex::new(Some(response));
    let inner = tower::service_fn(move |_: Request<Empty<Bytes>>| {
        let response = response
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| io::Error::other("once"));
        async move { response }
    });
    let inner = Arc::new(tokio::sync::Mutex::new(inner));
    let inner = tower::service_fn(move |request| {
        let inner = inner.clone();
        async move { inner.lock().await.call(request).await }
    });
    let layer = ResumeLayer::new().idle_timeout(Duration::from_secs(5));
    let response = layer.layer(inner).oneshot(get()).await.unwrap();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    tokio::time::sleep(Duration::from_secs(60)).await;
    while let Some(frame) = body.frame().await {
        bytes.extend_from_slice(&frame.expect("no timeout").into_data().unwrap());
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    assert_eq!(bytes, content);
    assert_eq!(body.resumes(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_idle_body_fails_for_good_once_attempts_run_out() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::StallAfter(250)).etag(TAG),
        Reply::partial(&content, 250, 999, Ending::StallAfter(0)).etag(TAG),
    ]);
    let layer = ResumeLayer::new()
        .idle_timeout(Duration::from_secs(1))
        .max_attempts(1);
    let (_, bytes, error) = fetch(layer, &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::AttemptsExhausted);
    let source = std::error::Error::source(&error).unwrap();
    assert_eq!(
        source.downcast_ref::<Interruption>(),
        Some(&Interruption::IdleTimeout(Duration::from_secs(1)))
    );
    assert_eq!(bytes.len(), 250);
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_without_progress_and_stays_under_its_cap() {
    let content = content();
    // Every resume fails at once (the script runs dry).
    let script = Script::new([Reply::full(&content, Ending::FailAfter(100)).etag(TAG)]);
    let delays = Arc::new(Mutex::new(Vec::new()));
    let seen = delays.clone();
    let layer = ResumeLayer::new()
        .max_attempts(8)
        .backoff(Duration::from_millis(100), Duration::from_millis(800))
        .on_retry(move |retry| seen.lock().unwrap().push((retry.attempt, retry.delay)));
    let (_, _, error) = fetch(layer, &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::AttemptsExhausted);
    let delays = delays.lock().unwrap().clone();
    assert_eq!(delays.len(), 8);
    for (attempt, delay) in delays {
        let cap = Duration::from_millis(100 << (attempt - 1).min(3));
        assert!(delay <= cap, "attempt {attempt}: {delay:?} > {cap:?}");
    }
}

/// With the `tracing` feature, each resume is one `debug` event of target
/// `tower_range::client`.
#[cfg(feature = "tracing")]
#[tokio::test]
async fn each_resume_is_a_debug_event() {
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);
    struct Fields<'a>(&'a mut String);
    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }
    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let metadata = event.metadata();
            if metadata.target() == "tower_range::client"
                && *metadata.level() == tracing::Level::DEBUG
            {
                let mut fields = String::new();
                event.record(&mut Fields(&mut fields));
                self.0.lock().unwrap().push(fields);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::FailAfter(100)).etag(TAG),
        Reply::partial(&content, 400, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].contains("attempt=1 ") && events[0].contains("offset=300 "),
        "{events:?}"
    );
    assert!(
        events[1].contains("attempt=2 ") && events[1].contains("offset=400 "),
        "{events:?}"
    );
}

// ---------------------------------------------------------------------------
// Review findings: each test pins one rule.

/// RFC 9110 §13.1.5: a client that has an entity tag must not send a date
/// in `If-Range`. A weak `ETag`, or several `ETag` lines, next to a strong
/// `Last-Modified` leave no validator.
#[tokio::test]
async fn an_etag_that_is_not_one_strong_tag_rules_out_last_modified() {
    let modified = "Sun, 06 Nov 1994 08:49:37 GMT";
    let date = "Mon, 07 Nov 1994 08:49:37 GMT";
    let first = |tags: &[&str]| {
        let mut reply = Reply::full(&content(), Ending::FailAfter(300))
            .header(header::LAST_MODIFIED, modified)
            .header(header::DATE, date);
        for tag in tags {
            reply = reply.append(header::ETAG, *tag);
        }
        reply
    };
    for tags in [&["W/\"weak\""][..], &[TAG, "\"v2\""], &[TAG, TAG]] {
        let script = Script::new([first(tags)]);
        let response = layer().layer(script.clone()).oneshot(get()).await.unwrap();
        assert_eq!(response.body().validator(), Validator::None, "{tags:?}");
        let (_, error) = drain(response.into_body()).await;
        assert_eq!(
            error.unwrap().kind(),
            ResumeErrorKind::NoValidator,
            "{tags:?}"
        );
        assert_eq!(script.seen().len(), 1, "{tags:?}");

        // Resuming without a validator: a plain Range, never a date.
        let content = content();
        let script = Script::new([
            first(tags),
            Reply::partial(&content, 300, 999, Ending::Complete),
        ]);
        let layer = layer().resume_without_validator(true);
        let (_, bytes, error) = fetch(layer, &script, get()).await;
        assert!(error.is_none(), "{tags:?}: {error:?}");
        assert_eq!(bytes, content);
        assert_eq!(script.if_ranges(), [None, None], "{tags:?}");
    }
}

/// A timeout too long for the clock is no timeout, not a panic.
#[tokio::test(start_paused = true)]
async fn an_idle_timeout_past_the_end_of_time_is_no_timeout() {
    let content = content();
    let script = Script::new([Reply::full(&content, Ending::PauseAfter(100)).etag(TAG)]);
    let layer = layer().idle_timeout(Duration::MAX);
    let (_, bytes, error) = fetch(layer, &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);

    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::PauseAfter(50)).etag(TAG),
    ]);
    let layer = ResumeLayer::new()
        .idle_timeout(Duration::MAX)
        .backoff(Duration::MAX, Duration::MAX)
        .on_retry(|retry| assert!(retry.delay > Duration::ZERO));
    let response = layer.layer(script.clone()).oneshot(get()).await.unwrap();
    let mut body = response.into_body();
    let mut received = 0;
    // A backoff past the end of time never ends: read what comes before it.
    while received < 300 {
        received += body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap()
            .len();
    }
    let next = tokio::time::timeout(Duration::from_secs(3600), body.frame()).await;
    assert!(next.is_err(), "still waiting out the backoff");
    assert_eq!(script.seen().len(), 1);
}

/// Only `multipart/byteranges` is a multipart answer to a range: a
/// resource whose own type is multipart is resumed like any other.
#[tokio::test]
async fn a_resource_whose_own_type_is_multipart_is_resumed() {
    let content = content();
    let related = "multipart/related; boundary=\"b\"";
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300))
            .etag(TAG)
            .header(header::CONTENT_TYPE, related),
        Reply::partial(&content, 300, 999, Ending::Complete)
            .etag(TAG)
            .header(header::CONTENT_TYPE, related),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);

    // A 206 to the caller's range, of a multipart/mixed resource.
    let script = Script::new([
        Reply::partial(&content, 100, 599, Ending::FailAfter(50))
            .etag(TAG)
            .header(header::CONTENT_TYPE, "Multipart/Mixed; boundary=b"),
        Reply::partial(&content, 150, 599, Ending::Complete)
            .etag(TAG)
            .header(header::CONTENT_TYPE, "Multipart/Mixed; boundary=b"),
    ]);
    let response = layer()
        .layer(script.clone())
        .oneshot(get_range("bytes=100-599"))
        .await
        .unwrap();
    assert!(response.body().is_resumable());
    let (bytes, error) = drain(response.into_body()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, &content[100..600]);
}

/// Bytes in one content coding never continue bytes in another.
#[tokio::test]
async fn a_resume_in_another_content_encoding_is_resource_changed() {
    let content = content();
    let first = || {
        Reply::full(&content, Ending::FailAfter(300))
            .etag(TAG)
            .header(header::CONTENT_ENCODING, "gzip")
    };
    let cases: [(&str, Option<&str>); 3] = [
        ("gzip 200, identity 206", None),
        ("gzip 200, br 206", Some("br")),
        ("gzip 200, explicit identity 206", Some("identity")),
    ];
    for (case, encoding) in cases {
        let mut resumed = Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG);
        if let Some(encoding) = encoding {
            resumed = resumed.header(header::CONTENT_ENCODING, encoding);
        }
        let script = Script::new([first(), resumed]);
        let (_, bytes, error) = fetch(layer(), &script, get()).await;
        let error = error.unwrap_or_else(|| panic!("{case}: spliced"));
        assert_eq!(error.kind(), ResumeErrorKind::ResourceChanged, "{case}");
        assert_eq!(error.status(), Some(StatusCode::PARTIAL_CONTENT), "{case}");
        assert_eq!(bytes, &content[..300], "{case}");
    }

    // The same coding, written differently: accepted.
    let script = Script::new([
        first(),
        Reply::partial(&content, 300, 999, Ending::Complete)
            .etag(TAG)
            .header(header::CONTENT_ENCODING, " GZip "),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    // No coding and `identity` are the same.
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete)
            .etag(TAG)
            .header(header::CONTENT_ENCODING, "identity"),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);

    // A restart is read with the head the caller holds: same coding only.
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(0))
            .etag(TAG)
            .header(header::CONTENT_ENCODING, "gzip"),
        Reply::full(&content, Ending::Complete).etag("\"v2\""),
    ]);
    let (_, bytes, error) = fetch(layer().restart_on_change(true), &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::ResourceChanged);
    assert!(bytes.is_empty());
}

/// A server may send less than asked: a 206 that starts at the right byte,
/// names the same length and validator and ends early is taken, and the
/// rest asked for when it ends, at once (no backoff) and not as a failure.
#[tokio::test(start_paused = true)]
async fn a_shorter_206_is_continued_from_where_it_ends() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 599, Ending::Complete).etag(TAG),
        Reply::partial(&content, 600, 799, Ending::FailAfter(200)).etag(TAG),
        Reply::partial(&content, 800, 999, Ending::Complete).etag(TAG),
    ]);
    let retries = Arc::new(Mutex::new(Vec::new()));
    let seen = retries.clone();
    let layer = ResumeLayer::new()
        .backoff(Duration::from_secs(1), Duration::from_secs(1))
        .max_attempts(1)
        .on_retry(move |retry| {
            let why = retry.error.downcast_ref::<Interruption>().copied();
            seen.lock().unwrap().push((retry.offset, retry.delay, why));
        });
    let (_, bytes, error) = fetch(layer, &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    assert_eq!(
        script.ranges(),
        [
            None,
            Some("bytes=300-".into()),
            Some("bytes=600-".into()),
            Some("bytes=800-".into())
        ]
    );
    let retries = retries.lock().unwrap().clone();
    assert_eq!(retries.len(), 3);
    assert!(retries[0].1 <= Duration::from_secs(1) && retries[0].2.is_none());
    assert_eq!(
        retries[1],
        (
            600,
            Duration::ZERO,
            Some(Interruption::ShortRange {
                expected: 1000,
                received: 600
            })
        )
    );
    // A short answer that completes cleanly (or fails after its last
    // byte) is not a failure: max_attempts(1) is never exceeded.
    assert_eq!(retries[2].1, Duration::ZERO);
}

/// A request for the rest of a shorter 206 that fails is a failure like
/// any other: backoff, and `max_attempts`.
#[tokio::test]
async fn a_failing_request_after_a_shorter_206_is_a_failure() {
    let content = content();
    // The script runs dry after the shorter answer.
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 599, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer().max_attempts(2), &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::AttemptsExhausted, "{error}");
    assert!(error.to_string().contains("max_attempts"), "{error}");
    assert_eq!(bytes, &content[..600]);
    // The first request, the resume, the request for the rest, and the
    // two resumes max_attempts allows after it failed.
    assert_eq!(script.seen().len(), 5);
}

/// A server that sends one byte per answer still ends: continuations count
/// against `max_resumes`.
#[tokio::test]
async fn one_byte_answers_are_bounded_by_max_resumes() {
    let content = content();
    let mut replies = vec![Reply::full(&content, Ending::FailAfter(0)).etag(TAG)];
    replies.extend((0..20).map(|at| Reply::partial(&content, at, at, Ending::Complete).etag(TAG)));
    let script = Script::new(replies);
    let (_, bytes, error) = fetch(layer().max_resumes(5), &script, get()).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ResumeErrorKind::AttemptsExhausted);
    assert_eq!(error.offset(), 5);
    assert_eq!(bytes, &content[..5]);
    assert_eq!(script.seen().len(), 6);
}

/// A 206 that ends beyond what was asked is no continuation.
#[tokio::test]
async fn a_206_beyond_the_end_asked_for_is_bad_content_range() {
    let content = content();
    let script = Script::new([
        Reply::partial(&content, 100, 599, Ending::FailAfter(50)).etag(TAG),
        Reply::partial(&content, 150, 700, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get_range("bytes=100-599")).await;
    let error = error.expect("detected");
    assert_eq!(error.kind(), ResumeErrorKind::BadContentRange, "{error}");
    assert_eq!(bytes, &content[100..150]);
}

/// `Retry-After` on a 503 or 429 sets the delay, capped at the backoff's
/// maximum.
#[tokio::test(start_paused = true)]
async fn retry_after_is_honored_up_to_the_backoff_maximum() {
    let content = content();
    let busy = |status, retry_after: &str| {
        Reply::new(status, b"", Ending::Complete)
            .header(header::RETRY_AFTER, retry_after)
            .header(header::DATE, "Sun, 06 Nov 1994 08:49:37 GMT")
    };
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        busy(StatusCode::SERVICE_UNAVAILABLE, "3"),
        busy(StatusCode::TOO_MANY_REQUESTS, "600"),
        busy(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sun, 06 Nov 1994 08:49:42 GMT",
        ),
        busy(StatusCode::SERVICE_UNAVAILABLE, "soon"),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ]);
    let delays = Arc::new(Mutex::new(Vec::new()));
    let seen = delays.clone();
    let layer = ResumeLayer::new()
        .backoff(Duration::ZERO, Duration::from_secs(10))
        .on_retry(move |retry| seen.lock().unwrap().push(retry.delay));
    let (_, bytes, error) = fetch(layer, &script, get()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    let delays = delays.lock().unwrap().clone();
    assert_eq!(delays.len(), 5);
    assert_eq!(delays[1..4], [3, 10, 5].map(Duration::from_secs));
    // An unreadable Retry-After: the plain backoff.
    assert!(delays[4] <= Duration::from_secs(10));
}

/// Which statuses a resume is retried after.
#[tokio::test]
async fn statuses_on_resume_408_retried_412_changed_501_505_final() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::new(StatusCode::REQUEST_TIMEOUT, b"", Ending::Complete),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get()).await;
    assert!(error.is_none(), "408: {error:?}");
    assert_eq!(bytes, content);

    for status in [
        StatusCode::NOT_IMPLEMENTED,
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
    ] {
        let script = Script::new([
            Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
            Reply::new(status, b"", Ending::Complete),
            Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
        ]);
        let (_, _, error) = fetch(layer(), &script, get()).await;
        let error = error.unwrap();
        assert_eq!(error.kind(), ResumeErrorKind::UnexpectedStatus, "{status}");
        assert_eq!(error.status(), Some(status));
        assert_eq!(script.seen().len(), 2, "{status}");
    }

    // 412: the caller's own precondition failed, so the resource changed.
    for precondition in [header::IF_MATCH, header::IF_UNMODIFIED_SINCE] {
        let script = Script::new([
            Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
            Reply::new(StatusCode::PRECONDITION_FAILED, b"", Ending::Complete),
        ]);
        let mut request = get();
        let value = if precondition == header::IF_MATCH {
            TAG
        } else {
            "Sun, 06 Nov 1994 08:49:37 GMT"
        };
        request
            .headers_mut()
            .insert(precondition.clone(), value.parse().unwrap());
        let (_, _, error) = fetch(layer(), &script, request).await;
        let error = error.unwrap();
        assert_eq!(
            error.kind(),
            ResumeErrorKind::ResourceChanged,
            "{precondition}"
        );
        assert_eq!(error.status(), Some(StatusCode::PRECONDITION_FAILED));
        assert_eq!(script.seen()[1].other[&precondition], value, "sent again");
    }
    // Without one it is just an unexpected status.
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::new(StatusCode::PRECONDITION_FAILED, b"", Ending::Complete),
    ]);
    let (_, _, error) = fetch(layer(), &script, get()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::UnexpectedStatus);
}

/// A resume has an empty body: the caller's body headers are not sent with
/// it, and its own `Range`/`If-Range` replace the caller's.
#[tokio::test]
async fn resume_requests_drop_the_callers_body_headers() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ]);
    let request = Request::get("http://example.test/file")
        .header(header::CONTENT_LENGTH, "5")
        .header(header::TRANSFER_ENCODING, "chunked")
        .header(header::EXPECT, "100-continue")
        .header(header::RANGE, "bytes=-100")
        .header(header::IF_RANGE, "\"old\"")
        .header("x-caller", "kept")
        .body(Empty::new())
        .unwrap();
    let (_, bytes, error) = fetch(layer(), &script, request).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, content);
    let resume = &script.seen()[1];
    for name in [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::EXPECT,
    ] {
        assert!(resume.other.get(&name).is_none(), "{name} sent again");
    }
    assert_eq!(resume.other.get_all(header::RANGE).iter().count(), 1);
    assert_eq!(resume.range.as_deref(), Some("bytes=300-"));
    assert_eq!(resume.other.get_all(header::IF_RANGE).iter().count(), 1);
    assert_eq!(resume.if_range.as_deref(), Some(TAG));
    assert_eq!(resume.other["x-caller"], "kept");
}

/// `ResumeBody` is `Send + Sync`, whatever the inner body and the inner
/// service's future are: it goes into `BoxBody` (and `reqwest::Body::wrap`).
#[tokio::test]
async fn resume_body_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ResumeBody>();
    assert_send_sync::<Response<ResumeBody>>();

    // An inner service whose body and future are not Sync.
    type UnsyncBody = http_body_util::combinators::UnsyncBoxBody<Bytes, io::Error>;
    let content = content();
    let replies = Arc::new(Mutex::new(VecDeque::from([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ])));
    let inner = tower::service_fn(move |_: Request<Empty<Bytes>>| {
        let reply = replies.lock().unwrap().pop_front().unwrap();
        let response = reply.into_response().map(|body| body.boxed_unsync());
        let not_sync = std::cell::Cell::new(0u8);
        Box::pin(async move {
            not_sync.set(1);
            Ok::<Response<UnsyncBody>, io::Error>(response)
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
    });
    let response = layer().layer(inner).oneshot(get()).await.unwrap();
    let boxed: BoxBody<Bytes, ResumeError> = BoxBody::new(response.into_body());
    let bytes = boxed.collect().await.unwrap().to_bytes();
    assert_eq!(bytes, content);
}

/// Timers are made only when the body has to wait: a body whose inner
/// service and bodies are always ready needs no runtime, even across a
/// resume with no backoff delay.
#[test]
fn a_body_that_never_waits_needs_no_runtime() {
    use std::future::Future;
    use std::task::{Context, Poll};

    fn now<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = futures_util::task::noop_waker();
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("would wait"),
        }
    }

    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
        Reply::partial(&content, 300, 999, Ending::Complete).etag(TAG),
    ]);
    // The default idle timeout is on.
    let response = now(layer().layer(script.clone()).oneshot(get())).unwrap();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = now(body.frame()) {
        bytes.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    assert_eq!(bytes, content);
    assert_eq!(body.resumes(), 1);
}

/// `ETag` and `Last-Modified` are single: a 206 that repeats one is no
/// continuation, even when one of its values matches.
#[tokio::test]
async fn a_206_with_repeated_validators_is_bad_content_range() {
    let content = content();
    let modified = "Sun, 06 Nov 1994 08:49:37 GMT";
    let cases = [
        (
            Reply::full(&content, Ending::FailAfter(300)).etag(TAG),
            Reply::partial(&content, 300, 999, Ending::Complete)
                .etag(TAG)
                .append(header::ETAG, "\"v2\""),
        ),
        (
            Reply::full(&content, Ending::FailAfter(300))
                .header(header::LAST_MODIFIED, modified)
                .header(header::DATE, "Mon, 07 Nov 1994 08:49:37 GMT"),
            Reply::partial(&content, 300, 999, Ending::Complete)
                .header(header::LAST_MODIFIED, modified)
                .append(header::LAST_MODIFIED, modified),
        ),
    ];
    for (first, resumed) in cases {
        let script = Script::new([first, resumed]);
        let (_, bytes, error) = fetch(layer(), &script, get()).await;
        let error = error.expect("not accepted");
        assert_eq!(error.kind(), ResumeErrorKind::BadContentRange, "{error}");
        assert_eq!(bytes, &content[..300]);
    }
}

/// A restart to a version that is empty ends the body there: nothing of
/// its (empty) body is read, so a failure after it is no reason to resume.
#[tokio::test]
async fn a_restart_to_an_empty_version_ends_the_body() {
    let content = content();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(0)).etag(TAG),
        Reply::full(b"", Ending::FailAfter(0)).etag("\"v2\""),
    ]);
    let response = layer()
        .restart_on_change(true)
        .layer(script.clone())
        .oneshot(get())
        .await
        .unwrap();
    let mut body = response.into_body();
    let (first, second) = (body.frame().await, body.frame().await);
    assert!(first.is_none(), "{first:?}");
    assert!(second.is_none(), "{second:?}");
    assert!(body.is_end_stream());
    assert_eq!(body.size_hint().exact(), Some(0));
    assert_eq!((body.restarts(), body.delivered()), (1, 0));
    assert_eq!(script.seen().len(), 2, "no resume of nothing");
}

/// Everything known of the first response is taken again from the new
/// `200` of a restart: here, its `Accept-Ranges: none`.
#[tokio::test]
async fn a_restart_takes_its_facts_from_the_new_response() {
    let content = content();
    let changed: Vec<u8> = content.iter().map(|b| b ^ 0xff).collect();
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(0)).etag(TAG),
        Reply::full(&changed, Ending::FailAfter(100))
            .etag("\"v2\"")
            .header(header::ACCEPT_RANGES, "none"),
        Reply::partial(&changed, 100, 999, Ending::Complete).etag("\"v2\""),
    ]);
    let response = layer()
        .restart_on_change(true)
        .layer(script.clone())
        .oneshot(get())
        .await
        .unwrap();
    let (bytes, error) = drain(response.into_body()).await;
    let error = error.expect("the new version refuses ranges");
    assert_eq!(error.kind(), ResumeErrorKind::RangeIgnored, "{error}");
    assert_eq!(bytes, &changed[..100]);
    assert_eq!(script.seen().len(), 2);

    // And its validator: a weak one is none.
    let script = Script::new([
        Reply::full(&content, Ending::FailAfter(0)).etag(TAG),
        Reply::full(&changed, Ending::FailAfter(100)).etag("W/\"v2\""),
    ]);
    let response = layer()
        .restart_on_change(true)
        .layer(script.clone())
        .oneshot(get())
        .await
        .unwrap();
    let (_, error) = drain(response.into_body()).await;
    assert_eq!(error.unwrap().kind(), ResumeErrorKind::NoValidator);
}

/// A first 206 that is not the caller's range (another start, or past its
/// end) passes through as it is, not resumable, its bytes untouched.
#[tokio::test]
async fn a_206_that_is_not_the_range_asked_for_passes_through() {
    let content = content();
    let cases = [
        ("bytes=2-5", 0, 10),
        ("bytes=2-5", 2, 6),
        ("bytes=100-", 99, 999),
    ];
    for (range, first, last) in cases {
        let script =
            Script::new([Reply::partial(&content, first, last, Ending::FailAfter(3)).etag(TAG)]);
        let response = layer()
            .layer(script.clone())
            .oneshot(get_range(range))
            .await
            .unwrap();
        assert!(!response.body().is_resumable(), "{range} {first}-{last}");
        let (bytes, error) = drain(response.into_body()).await;
        assert_eq!(bytes, &content[first..first + 3]);
        assert_eq!(error.unwrap().kind(), ResumeErrorKind::NotResumable);
        assert_eq!(script.seen().len(), 1);
    }
    // A shorter answer to the caller's range is resumed within what it
    // announced.
    let script = Script::new([
        Reply::partial(&content, 2, 4, Ending::FailAfter(1)).etag(TAG),
        Reply::partial(&content, 3, 4, Ending::Complete).etag(TAG),
    ]);
    let (_, bytes, error) = fetch(layer(), &script, get_range("bytes=2-5")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, &content[2..5]);
    assert_eq!(script.ranges()[1].as_deref(), Some("bytes=3-4"));
}

#[test]
fn errors_say_what_and_where() {
    let kinds = [
        ResumeErrorKind::ResourceChanged,
        ResumeErrorKind::NoValidator,
        ResumeErrorKind::RangeIgnored,
        ResumeErrorKind::BadContentRange,
        ResumeErrorKind::UnexpectedStatus,
        ResumeErrorKind::AttemptsExhausted,
        ResumeErrorKind::NotRetried,
        ResumeErrorKind::NotResumable,
    ];
    let names: std::collections::HashSet<_> = kinds.iter().map(|kind| kind.as_str()).collect();
    assert_eq!(names.len(), kinds.len());
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<ResumeError>();
}

// ---------------------------------------------------------------------------
// Real loopback servers, a real client, and the fault-injecting proxy.

use fault_proxy::{Fault, FaultPlan, FaultProxy};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};

/// Serves `service` over HTTP/1.1 on an ephemeral loopback port until the
/// test's runtime ends.
async fn serve<S, B>(service: S) -> SocketAddr
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A `RangeLayer` server answering every path with `content()` under
/// `etag()`; both are asked per request, so a test can change them.
async fn range_server(
    content: impl Fn() -> (Bytes, &'static str) + Clone + Send + Sync + 'static,
) -> SocketAddr {
    let handler = tower::service_fn(move |_: Request<Incoming>| {
        let (bytes, etag) = content();
        async move {
            let mut response = Response::new(Full::new(bytes));
            response
                .headers_mut()
                .insert(header::ETAG, etag.parse().unwrap());
            Ok::<_, Infallible>(response)
        }
    });
    let service = tower::ServiceBuilder::new()
        .layer(RangeLayer::new())
        .service(handler);
    serve(hyper_util::service::TowerToHyperService::new(service)).await
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn url(addr: SocketAddr) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}/resource"))
        .body(Empty::new())
        .unwrap()
}

/// Deterministic bytes that do not repeat within the file.
fn pseudo_random(len: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    Bytes::from(bytes)
}

/// What a download through the layer gave.
struct Download {
    len: u64,
    sha256: [u8; 32],
    /// The first offset where the bytes differ from the ones expected.
    mismatch: Option<u64>,
    prefix: Vec<u8>,
    error: Option<ResumeError>,
    resumes: u32,
    elapsed: Duration,
}

/// Downloads through `layer`, hashing as the frames come and comparing them
/// with `expected`; keeps the first `keep` bytes.
async fn download(layer: ResumeLayer, request: Request<Empty<Bytes>>, keep: usize) -> Download {
    download_checked(layer, request, keep, &Bytes::new()).await
}

async fn download_checked(
    layer: ResumeLayer,
    request: Request<Empty<Bytes>>,
    keep: usize,
    expected: &Bytes,
) -> Download {
    let start = Instant::now();
    let response = layer.layer(http_client()).oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut prefix = Vec::new();
    let mut error = None;
    let mut mismatch = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    hasher.update(&data);
                    let at = len as usize;
                    if !expected.is_empty()
                        && mismatch.is_none()
                        && expected.get(at..at + data.len()) != Some(&data[..])
                    {
                        mismatch = Some(len);
                    }
                    len += data.len() as u64;
                    if prefix.len() < keep {
                        let take = data.len().min(keep - prefix.len());
                        prefix.extend_from_slice(&data[..take]);
                    }
                }
            }
            Err(failure) => {
                error = Some(failure);
                break;
            }
        }
    }
    Download {
        len,
        sha256: hasher.finalize().into(),
        mismatch,
        prefix,
        error,
        resumes: body.resumes(),
        elapsed: start.elapsed(),
    }
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_download_survives_many_interruptions_byte_exact() {
    const LEN: usize = 256 << 20;
    let generated = Instant::now();
    let content = pseudo_random(LEN, 0x5eed);
    eprintln!("256 MiB generated in {:?}", generated.elapsed());
    let served = content.clone();
    let server = range_server(move || (served.clone(), "\"big-v1\"")).await;

    // Uninterrupted, for comparison. Its bytes are compared with the
    // content, so its sha256 is the content's (one hash less to compute:
    // sha2 is slow in the debug test profile).
    let plain = download_checked(ResumeLayer::new(), url(server), 0, &content).await;
    assert!(plain.error.is_none(), "{:?}", plain.error);
    assert_eq!(plain.len, LEN as u64);
    assert_eq!(plain.mismatch, None);
    let expected = plain.sha256;

    let plan = FaultPlan::cut_between(0xC0FFEE, 2 << 20, 12 << 20)
        .faults(&[
            Fault::Close,
            Fault::Reset,
            Fault::Close,
            Fault::Reset,
            Fault::Stall,
        ])
        .max_faults(30)
        .stall_for(Duration::from_secs(20));
    let proxy = FaultProxy::start(server, plan).await;
    let retries = Arc::new(AtomicU64::new(0));
    let counter = retries.clone();
    let layer = ResumeLayer::new()
        .max_attempts(200)
        .backoff(Duration::from_millis(1), Duration::from_millis(50))
        .idle_timeout(Duration::from_millis(300))
        .on_retry(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    let faulted = download_checked(layer, url(proxy.addr()), 0, &content).await;
    let report = proxy.report();
    eprintln!(
        "interrupted download: {} bytes in {:?} ({} resumes, {} retry callbacks); \
         faults injected: {} ({} closes, {} resets, {} stalls) over {} connections; \
         sha256 {} ({}); uninterrupted: {:?}",
        faulted.len,
        faulted.elapsed,
        faulted.resumes,
        retries.load(Ordering::SeqCst),
        report.faults(),
        report.closes,
        report.resets,
        report.stalls,
        report.connections,
        hex(&faulted.sha256),
        if faulted.sha256 == expected {
            "matches"
        } else {
            "DIFFERS"
        },
        plain.elapsed,
    );
    assert!(faulted.error.is_none(), "{:?}", faulted.error);
    assert_eq!(faulted.len, LEN as u64);
    assert_eq!(faulted.sha256, expected, "byte-exact");
    assert_eq!(faulted.mismatch, None);
    assert!(report.faults() >= 20, "{report:?}");
    assert!(
        u64::from(faulted.resumes) >= report.faults(),
        "every fault was resumed: {} < {}",
        faulted.resumes,
        report.faults()
    );
    assert_eq!(u64::from(faulted.resumes), retries.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_resource_replaced_mid_download_is_resource_changed_never_mixed() {
    const LEN: usize = 4 << 20;
    let first = pseudo_random(LEN, 1);
    let second = pseudo_random(LEN, 2);
    let requests = Arc::new(AtomicU64::new(0));
    let (v1, v2, count) = (first.clone(), second.clone(), requests.clone());
    // The first request sees version 1; every later one, version 2 (same
    // length: only the validator can tell).
    let server = range_server(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            (v1.clone(), "\"v1\"")
        } else {
            (v2.clone(), "\"v2\"")
        }
    })
    .await;
    let plan = FaultPlan::cut_between(3, 1 << 20, 1 << 20).max_faults(1);
    let proxy = FaultProxy::start(server, plan).await;
    let layer = ResumeLayer::new()
        .backoff(Duration::ZERO, Duration::ZERO)
        .restart_on_change(true);
    let result = download(layer, url(proxy.addr()), LEN).await;
    let error = result.error.expect("the change is reported");
    assert_eq!(error.kind(), ResumeErrorKind::ResourceChanged, "{error}");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(requests.load(Ordering::SeqCst), 2, "one resume, no more");
    let offset = error.offset() as usize;
    assert_eq!(result.len, offset as u64);
    assert!(offset > 0 && offset < LEN, "{offset}");
    assert_eq!(result.prefix, &first[..offset], "only version 1 bytes");
    eprintln!("replaced mid-download: ResourceChanged after {offset} bytes");
}

/// A server that ignores `Range`: always the full `200`.
async fn ignoring_server(content: Bytes, etag: Option<&'static str>) -> SocketAddr {
    serve(hyper::service::service_fn(move |_: Request<Incoming>| {
        let mut response = Response::new(Full::new(content.clone()));
        if let Some(etag) = etag {
            response
                .headers_mut()
                .insert(header::ETAG, etag.parse().unwrap());
        }
        async move { Ok::<_, Infallible>(response) }
    }))
    .await
}

#[tokio::test]
async fn a_server_that_ignores_range_is_reported_never_corrupted() {
    const LEN: usize = 4 << 20;
    let content = pseudo_random(LEN, 4);
    let cases = [
        (
            Some("\"v1\""),
            ResumeLayer::new(),
            ResumeErrorKind::RangeIgnored,
        ),
        (None, ResumeLayer::new(), ResumeErrorKind::NoValidator),
        (
            None,
            ResumeLayer::new().resume_without_validator(true),
            ResumeErrorKind::RangeIgnored,
        ),
    ];
    for (etag, layer, expected) in cases {
        let server = ignoring_server(content.clone(), etag).await;
        let plan = FaultPlan::cut_between(5, 1 << 20, 1 << 20)
            .faults(&[Fault::Reset])
            .max_faults(1);
        let proxy = FaultProxy::start(server, plan).await;
        let layer = layer.backoff(Duration::ZERO, Duration::ZERO);
        let result = download(layer, url(proxy.addr()), LEN).await;
        let error = result.error.expect("reported");
        assert_eq!(error.kind(), expected, "{etag:?}: {error}");
        let offset = error.offset() as usize;
        assert!(offset > 0 && offset < LEN, "{offset}");
        assert_eq!(result.prefix, &content[..offset], "{etag:?}");
    }
}

/// `K` of a request's `Range: bytes=K-`, what a resume asks for.
fn open_range_start<B>(request: &Request<B>) -> Option<usize> {
    request
        .headers()
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

#[tokio::test]
async fn a_206_with_the_wrong_start_is_detected() {
    const LEN: usize = 4 << 20;
    let content = pseudo_random(LEN, 6);
    let served = content.clone();
    // Honors Range, but starts every range one byte early.
    let server = serve(hyper::service::service_fn(
        move |request: Request<Incoming>| {
            let content = served.clone();
            let first = open_range_start(&request);
            let mut response = match first {
                None => Response::new(Full::new(content)),
                Some(first) => {
                    let start = first.saturating_sub(1);
                    let mut response = Response::new(Full::new(content.slice(start..)));
                    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                    response.headers_mut().insert(
                        header::CONTENT_RANGE,
                        format!("bytes {start}-{}/{LEN}", LEN - 1).parse().unwrap(),
                    );
                    response
                }
            };
            response
                .headers_mut()
                .insert(header::ETAG, "\"v1\"".parse().unwrap());
            async move { Ok::<_, Infallible>(response) }
        },
    ))
    .await;
    let plan = FaultPlan::cut_between(7, 1 << 20, 1 << 20).max_faults(1);
    let proxy = FaultProxy::start(server, plan).await;
    let layer = ResumeLayer::new().backoff(Duration::ZERO, Duration::ZERO);
    let result = download(layer, url(proxy.addr()), LEN).await;
    let error = result.error.expect("detected");
    assert_eq!(error.kind(), ResumeErrorKind::BadContentRange, "{error}");
    assert_eq!(error.status(), Some(StatusCode::PARTIAL_CONTENT));
    let offset = error.offset() as usize;
    assert_eq!(result.prefix, &content[..offset]);
}

/// A server (or CDN) that answers `bytes=K-` with at most 1 MiB: each
/// shorter 206 is continued, and the download is byte-exact.
#[tokio::test]
async fn a_server_that_caps_each_206_is_followed_to_the_end() {
    const LEN: usize = 4 << 20;
    const CAP: usize = 1 << 20;
    let content = pseudo_random(LEN, 10);
    let served = content.clone();
    let server = serve(hyper::service::service_fn(
        move |request: Request<Incoming>| {
            let content = served.clone();
            let first = open_range_start(&request);
            let mut response = match first {
                None => Response::new(Full::new(content)),
                Some(first) => {
                    let end = (first + CAP).min(LEN);
                    let mut response = Response::new(Full::new(content.slice(first..end)));
                    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                    response.headers_mut().insert(
                        header::CONTENT_RANGE,
                        format!("bytes {first}-{}/{LEN}", end - 1).parse().unwrap(),
                    );
                    response
                }
            };
            response
                .headers_mut()
                .insert(header::ETAG, "\"v1\"".parse().unwrap());
            async move { Ok::<_, Infallible>(response) }
        },
    ))
    .await;
    let plan = FaultPlan::cut_between(11, 300 << 10, 300 << 10).max_faults(1);
    let proxy = FaultProxy::start(server, plan).await;
    let layer = ResumeLayer::new()
        .backoff(Duration::ZERO, Duration::ZERO)
        .max_attempts(1);
    let result = download_checked(layer, url(proxy.addr()), 0, &content).await;
    assert!(result.error.is_none(), "{:?}", result.error);
    assert_eq!(result.len, LEN as u64);
    assert_eq!(result.mismatch, None);
    assert_eq!(proxy.cuts(), 1);
    // One resume after the cut, then one request per missing MiB.
    assert_eq!(result.resumes, 4);
}

#[tokio::test]
async fn a_callers_range_is_resumed_through_resets_and_stalls() {
    const LEN: usize = 8 << 20;
    let content = pseudo_random(LEN, 8);
    let served = content.clone();
    let server = range_server(move || (served.clone(), "\"v1\"")).await;
    let plan = FaultPlan::cut_between(9, 64 << 10, 1 << 20)
        .faults(&[Fault::Reset, Fault::Stall, Fault::Close])
        .max_faults(6);
    let proxy = FaultProxy::start(server, plan).await;
    let layer = ResumeLayer::new()
        .max_attempts(20)
        .backoff(Duration::ZERO, Duration::from_millis(10))
        .idle_timeout(Duration::from_millis(200));
    let (first, last) = (1_000_003usize, 7_000_000usize);
    let mut request = url(proxy.addr());
    request.headers_mut().insert(
        header::RANGE,
        format!("bytes={first}-{last}").parse().unwrap(),
    );
    let result = download(layer, request, LEN).await;
    assert!(result.error.is_none(), "{:?}", result.error);
    assert_eq!(result.prefix, &content[first..=last]);
    assert!(proxy.cuts() >= 3, "{:?}", proxy.report());
    assert!(u64::from(result.resumes) >= proxy.cuts());
}

/// The proxy itself: a cut comes after exactly the drawn number of bytes,
/// a reset is an RST, a stall holds the connection open, and the report
/// counts each.
#[tokio::test]
async fn the_fault_proxy_injects_what_it_reports() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // An upstream that answers any input with 1 MiB.
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_ok() {
                    let _ = stream.write_all(&vec![7u8; 1 << 20]).await;
                }
            });
        }
    });

    async fn read_all(addr: SocketAddr) -> (usize, Option<io::ErrorKind>) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"x").await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
                Err(_) => return (total, Some(io::ErrorKind::TimedOut)),
                Ok(Ok(0)) => return (total, None),
                Ok(Ok(n)) => total += n,
                Ok(Err(error)) => return (total, Some(error.kind())),
            }
        }
    }

    let proxy = FaultProxy::start(upstream, FaultPlan::cut_between(1, 1000, 1000)).await;
    assert_eq!(read_all(proxy.addr()).await, (1000, None));
    assert_eq!(proxy.report().closes, 1);

    let plan = FaultPlan::cut_between(1, 1000, 1000).faults(&[Fault::Reset]);
    let proxy = FaultProxy::start(upstream, plan).await;
    let (read, error) = read_all(proxy.addr()).await;
    assert!(read <= 1000, "{read}");
    assert_eq!(error, Some(io::ErrorKind::ConnectionReset));
    assert_eq!(proxy.report().resets, 1);

    let plan = FaultPlan::cut_between(1, 1000, 1000)
        .faults(&[Fault::Stall])
        .stall_for(Duration::from_secs(60));
    let proxy = FaultProxy::start(upstream, plan).await;
    assert_eq!(
        read_all(proxy.addr()).await,
        (1000, Some(io::ErrorKind::TimedOut))
    );
    assert_eq!(proxy.report().stalls, 1);

    let plan = FaultPlan::cut_between(1, 10, 10).max_faults(1);
    let proxy = FaultProxy::start(upstream, plan).await;
    assert_eq!(read_all(proxy.addr()).await, (10, None));
    assert_eq!(read_all(proxy.addr()).await, (1 << 20, None));
    let report = proxy.report();
    assert_eq!((report.connections, report.faults()), (2, 1));

    let proxy = FaultProxy::start(upstream, FaultPlan::none()).await;
    assert_eq!(read_all(proxy.addr()).await, (1 << 20, None));
    assert_eq!(proxy.cuts(), 0);
}
