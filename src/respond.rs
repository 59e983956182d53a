//! Turns the inner response and the plan into the response to send.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::response::Parts as Head;
use http::{Response, StatusCode};
use http_body::Body;

use crate::body::{Parts, RangeBody, Rope, Tail, FRAME_BUDGET};
use crate::header::{is_multipart_byteranges, parse_decimal, parse_range, ByteRange};
use crate::multipart::Framing;
use crate::plan::{self, Conditions, Decision, FullReason, Policy, Resolution, ResponseFacts};
use crate::source::RangeSource;
use crate::trace;
use crate::BoxError;

// Short-lived and moved once: not worth a box per response.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome<B> {
    Ready(Response<RangeBody<B>>),
    Collect(Box<Collect<B>>),
}

fn ready<B>(head: Head, body: RangeBody<B>) -> Outcome<B> {
    Outcome::Ready(Response::from_parts(head, body))
}

/// The whole representation: the inner body for a `GET`. A `HEAD` gets no
/// body, and the `Content-Length` a `GET` would get when the inner response
/// left it to the body (a handler that answers `HEAD` with its `GET` body:
/// hyper drops that body over HTTP/1.1 but sends it over HTTP/2).
fn whole<B>(
    mut head: Head,
    body: B,
    is_head: bool,
    length: Option<u64>,
    framing: bool,
) -> Outcome<B> {
    if !is_head {
        return ready(head, RangeBody::pass(body));
    }
    if let (Some(length), false) = (length, framing) {
        if !head.headers.contains_key(header::CONTENT_LENGTH) {
            head.headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    ready(head, RangeBody::empty())
}

/// Applies the plan to the inner response. Every response that leaves
/// here emits one [`trace::Event`] (with the `tracing` feature); a
/// `Collect` emits it once buffering ends.
pub(crate) fn respond<B>(
    mut response: Response<B>,
    conditions: Option<Conditions>,
    policy: Policy,
    request: trace::Request,
) -> Outcome<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    // The source is the layer's business only: never let it leak further.
    let mut source = response.extensions_mut().remove::<RangeSource>();
    let Some(conditions) = conditions else {
        trace::Event::new(request, response.status(), None, None).emit("pass_through", "method");
        return Outcome::Ready(response.map(RangeBody::pass));
    };
    let scanned = Scanned::from(response.headers());
    let Ok(length) = representation_length(
        scanned.declared_length,
        response.body(),
        &mut source,
        conditions.is_head(),
    ) else {
        // Headers that contradict the body: not ours to fix.
        trace::Event::new(request, response.status(), None, None)
            .emit("pass_through", "contradictory_length");
        return Outcome::Ready(response.map(RangeBody::pass));
    };
    #[cfg(feature = "content-etag")]
    if let Some(max_bytes) = policy.content_etag {
        if crate::etag::wants(&response, &conditions, length, source.is_some(), max_bytes) {
            // Hash first, then decide with the validator the client may
            // have used: preconditions and If-Range need it.
            let (head, body) = response.into_parts();
            let event = trace::Event::new(request, head.status, length, None);
            return Outcome::Collect(Box::new(Collect::new(
                head,
                body,
                Goal::Etag {
                    conditions,
                    // `wants` takes only a known length within the limit.
                    length: length.unwrap_or(0),
                },
                policy,
                event,
            )));
        }
    }
    let now = if conditions.has_if_range() {
        SystemTime::now()
    } else {
        SystemTime::UNIX_EPOCH
    };
    let facts = if !conditions.compares_validators() {
        // No precondition, no If-Range: nothing compares validators, so
        // skip parsing them (two HTTP dates) on the most common requests,
        // a plain GET and a plain Range, and look nothing up again: the
        // scan has what the decision needs.
        scanned.facts(response.status(), length)
    } else {
        ResponseFacts::from_headers(response.status(), response.headers(), length)
    };
    let decision = plan::decide(&conditions, &facts, &policy, now);
    let event = trace::Event::new(request, response.status(), length, None);
    // The common outcomes keep the response whole: no taking apart and
    // putting back together of its head.
    let decision = match decision {
        Decision::PassThrough => {
            event.emit("pass_through", pass_reason(response.status()));
            return Outcome::Ready(response.map(RangeBody::pass));
        }
        Decision::Full {
            accept_ranges,
            reason,
        } => {
            event.emit("full", reason.as_str());
            if accept_ranges {
                advertise(response.headers_mut());
            }
            if conditions.is_head() {
                let (head, body) = response.into_parts();
                return whole(head, body, true, length, scanned.framing);
            }
            return Outcome::Ready(response.map(RangeBody::pass));
        }
        other => other,
    };
    let (mut head, body) = response.into_parts();
    match decision {
        Decision::PassThrough | Decision::Full { .. } => ready(head, RangeBody::pass(body)),
        Decision::NotModified => {
            event.emit("not_modified", not_modified_reason(&conditions));
            not_modified(&mut head);
            ready(head, RangeBody::empty())
        }
        Decision::PreconditionFailed => {
            event.emit(
                "precondition_failed",
                precondition_failed_reason(&conditions),
            );
            precondition_failed(&mut head);
            ready(head, RangeBody::empty())
        }
        Decision::Ranges(set) => {
            let event = trace::Event::new(request, head.status, length, Some(set.len()));
            let Some(len) = length else {
                // Only a GET gets here (a HEAD with no length is a `Full`).
                let range = conditions.range_value().cloned();
                return Outcome::Collect(Box::new(Collect::new(
                    head,
                    body,
                    range.map_or(Goal::Abandon, |range| Goal::Length { range }),
                    policy,
                    event,
                )));
            };
            let resolution = plan::resolve(&set, len, &policy, scanned.content_type_len);
            let why = full_reason(&resolution);
            let mut partial = match shape(resolution, len, &mut head) {
                Shape::Done => {
                    event.emit("unsatisfiable", "no_overlap");
                    return ready(head, RangeBody::empty());
                }
                Shape::Full => {
                    event.emit("full", why);
                    return whole(head, body, conditions.is_head(), length, scanned.framing);
                }
                Shape::Partial(partial) => partial,
            };
            partial.strip_framing = scanned.framing;
            partial.strip_digests = scanned.content_digest;
            if source.is_none()
                && !partial.parts.is_ascending()
                && partial.parts.data_end() > policy.buffer_limit as u64
            {
                // Out-of-order parts over a forward-only body need every byte
                // up to the last one held back; past the limit, the full 200.
                // Decided here, before reading, so that HEAD and GET agree
                // and the answer does not depend on the body's frame sizes.
                event.emit("full", FullReason::BufferLimit.as_str());
                advertise(&mut head.headers);
                return whole(head, body, conditions.is_head(), length, scanned.framing);
            }
            if conditions.is_head() {
                event.emit(partial.decision(), "satisfiable");
                return ready(partial.apply(head), RangeBody::empty());
            }
            if let Some(source) = source {
                return match source.open() {
                    Ok(reader) => {
                        event.emit(partial.decision(), "satisfiable");
                        let (head, parts) = partial.into_parts(head);
                        ready(head, RangeBody::source(reader, parts))
                    }
                    // The source would not open: the inner body still can.
                    Err(_) => {
                        event.emit("full", "source_error");
                        advertise(&mut head.headers);
                        ready(head, RangeBody::pass(body))
                    }
                };
            }
            if partial.parts.is_ascending() {
                event.emit(partial.decision(), "satisfiable");
                let (head, parts) = partial.into_parts(head);
                return ready(head, RangeBody::stream(body, parts));
            }
            Outcome::Collect(Box::new(Collect::new(
                head,
                body,
                Goal::Data { partial },
                policy,
                event,
            )))
        }
    }
}

/// The length of the representation, when it is known before reading the
/// body: from the source, the `Content-Length`, or an exact size hint.
/// `Err` when the response contradicts itself.
fn representation_length<B: Body>(
    declared: Result<Option<u64>, ()>,
    body: &B,
    source: &mut Option<RangeSource>,
    head: bool,
) -> Result<Option<u64>, ()> {
    let declared = declared?;
    let hint = body.size_hint().exact();
    if let Some(found) = source {
        // The source describes this body only if the response says it has
        // the source's length. A layer that re-encoded the body (compression
        // drops Content-Length) leaves the source behind: ignore it, or raw
        // bytes would go out under the new encoding.
        if declared.or(hint) == Some(found.len()) {
            return Ok(Some(found.len()));
        }
        *source = None;
    }
    match (declared, hint) {
        // A HEAD body is usually empty whatever the length: trust the header.
        (Some(declared), Some(hint)) if declared != hint && !head => Err(()),
        (Some(declared), _) => Ok(Some(declared)),
        (None, Some(hint)) if !(head && hint == 0) => Ok(Some(hint)),
        _ => Ok(None),
    }
}

/// What the layer reads from the head of every inner response, gathered in
/// one pass over its few headers rather than a hash lookup per name: this
/// runs on every `GET` and `HEAD`, most of which it lets through.
#[derive(Debug, PartialEq, Eq)]
struct Scanned {
    /// `Err` when a `Content-Length` is not a number, or two disagree.
    declared_length: Result<Option<u64>, ()>,
    /// `Accept-Ranges: none`.
    ranges_refused: bool,
    /// A `Content-Range`, or a first `Content-Type` of
    /// `multipart/byteranges`.
    already_partial: bool,
    /// The length of the first `Content-Type`, which each multipart part
    /// repeats.
    content_type_len: Option<usize>,
    /// A `Transfer-Encoding` or a `Trailer`, which a 206 must drop.
    framing: bool,
    /// A digest of the content (see [`CONTENT_DIGESTS`]), which a 206
    /// must drop too.
    content_digest: bool,
}

impl From<&HeaderMap> for Scanned {
    fn from(headers: &HeaderMap) -> Self {
        let mut declared_length = Ok(None);
        let mut ranges_refused = false;
        let mut content_range = false;
        let mut content_type = None;
        let mut framing = false;
        let mut content_digest = false;
        for (name, value) in headers {
            if name == header::CONTENT_LENGTH {
                declared_length = declared_length.and_then(|seen| add_length(seen, value));
            } else if name == header::CONTENT_TYPE {
                // The first value, as `HeaderMap::get` would give it.
                content_type.get_or_insert(value);
            } else if name == header::ACCEPT_RANGES {
                ranges_refused |= value.as_bytes().eq_ignore_ascii_case(b"none");
            } else if name == header::CONTENT_RANGE {
                content_range = true;
            } else if name == header::TRANSFER_ENCODING || name == header::TRAILER {
                framing = true;
            } else if CONTENT_DIGESTS.contains(&name.as_str()) {
                content_digest = true;
            }
        }
        let multipart = content_type
            .is_some_and(|value: &HeaderValue| is_multipart_byteranges(value.as_bytes()));
        Scanned {
            declared_length,
            ranges_refused,
            already_partial: multipart || content_range,
            content_type_len: content_type.map(HeaderValue::len),
            framing,
            content_digest,
        }
    }
}

impl Scanned {
    /// The facts for a request that compares no validators (no
    /// precondition, no `If-Range`): the same as
    /// [`ResponseFacts::without_validators`].
    fn facts(&self, status: StatusCode, length: Option<u64>) -> ResponseFacts<'static> {
        ResponseFacts {
            status,
            etag: None,
            last_modified: None,
            date: None,
            length,
            ranges_refused: self.ranges_refused,
            already_partial: self.already_partial,
        }
    }
}

/// One more `Content-Length` value: all must be the same decimal number.
fn add_length(seen: Option<u64>, value: &HeaderValue) -> Result<Option<u64>, ()> {
    let parsed = parse_decimal(value.as_bytes()).ok_or(())?;
    match seen {
        Some(seen) if seen != parsed => Err(()),
        _ => Ok(Some(parsed)),
    }
}

fn content_type_len(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_TYPE).map(HeaderValue::len)
}

/// The `reason` of a pass-through decided by [`plan::decide`].
fn pass_reason(status: StatusCode) -> &'static str {
    if status == StatusCode::OK {
        "already_partial"
    } else {
        "status"
    }
}

/// The header that decided a `304`.
fn not_modified_reason(conditions: &Conditions) -> &'static str {
    if conditions.has_if_none_match() {
        "if_none_match"
    } else {
        "if_modified_since"
    }
}

/// The header that decided a `412`.
fn precondition_failed_reason(conditions: &Conditions) -> &'static str {
    if conditions.has_if_match() {
        "if_match"
    } else {
        "if_unmodified_since"
    }
}

/// The `reason` of a resolution that [`shape`] turns into the full `200`.
fn full_reason(resolution: &Resolution) -> &'static str {
    match resolution {
        Resolution::Full(reason) => reason.as_str(),
        // `shape` sends the whole representation instead of a multipart of
        // an encoded one.
        _ => "content_encoding",
    }
}

/// Emits the event of a response that [`shape`] made final; `why` is
/// [`full_reason`] of the resolution.
fn emit_shape(event: trace::Event, shape: &Shape, why: &'static str) {
    match shape {
        Shape::Done => event.emit("unsatisfiable", "no_overlap"),
        Shape::Full => event.emit("full", why),
        Shape::Partial(partial) => event.emit(partial.decision(), "satisfiable"),
    }
}

/// Digests of the content (RFC 9530 `Content-Digest`, the obsolete
/// `Content-MD5`): of the whole body in the `200`, so wrong for a `206`'s
/// slice or multipart, and for responses without content. `Repr-Digest`
/// and `Digest` (RFC 3230) cover the representation and stay.
const CONTENT_DIGESTS: [&str; 2] = ["content-digest", "content-md5"];

fn strip_content_digests(headers: &mut HeaderMap) {
    for name in CONTENT_DIGESTS {
        headers.remove(name);
    }
}

/// Readies the head of a response without content (`304`, `412`, `416`).
fn strip_representation(headers: &mut HeaderMap) {
    strip(headers, REPRESENTATION);
    strip_content_digests(headers);
}

/// Headers that describe the content; none of them belongs on a response
/// without content (nor do the [`CONTENT_DIGESTS`]).
const REPRESENTATION: &[HeaderName] = &[
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_RANGE,
    header::CONTENT_DISPOSITION,
    header::TRANSFER_ENCODING,
    header::TRAILER,
    header::ACCEPT_RANGES,
];

/// Validators and cache headers, which a 304 keeps and a 412 drops.
const VALIDATORS: &[HeaderName] = &[
    header::ETAG,
    header::LAST_MODIFIED,
    header::CACHE_CONTROL,
    header::EXPIRES,
];

fn strip(headers: &mut HeaderMap, names: &[HeaderName]) {
    for name in names {
        headers.remove(name);
    }
}

fn advertise(headers: &mut HeaderMap) {
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
}

fn content_range(range: Option<ByteRange>, len: u64) -> HeaderValue {
    // Written on the stack, then copied once into the value: "bytes ",
    // three numbers of at most 20 digits and two separators make 68.
    let mut value = [0u8; 68];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        value[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"bytes ");
    match range {
        Some(range) => {
            put(decimal(range.first, &mut [0; 20]));
            put(b"-");
            put(decimal(range.last, &mut [0; 20]));
        }
        None => put(b"*"),
    }
    put(b"/");
    put(decimal(len, &mut [0; 20]));
    // ASCII digits, '-', '*', '/' and a space: always a valid value.
    HeaderValue::from_bytes(&value[..at]).unwrap_or_else(|_| HeaderValue::from_static("bytes */0"))
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[allow(clippy::large_enum_variant)] // moved once, right away
enum Shape {
    /// A body-less response is ready (416).
    Done,
    /// Send the full 200.
    Full,
    Partial(Partial),
}

/// A 206 to be: its parts and the headers that describe them.
pub(crate) struct Partial {
    parts: Parts,
    content_range: Option<HeaderValue>,
    multipart_type: Option<HeaderValue>,
    /// Whether the head may hold a `Transfer-Encoding` or a `Trailer` to
    /// remove; `false` only when a scan of the head found neither.
    strip_framing: bool,
    /// The same for the [`CONTENT_DIGESTS`].
    strip_digests: bool,
}

impl Partial {
    /// The `decision` word of this 206.
    fn decision(&self) -> &'static str {
        if self.multipart_type.is_some() {
            "multipart"
        } else {
            "partial"
        }
    }

    fn apply(self, head: Head) -> Head {
        self.into_parts(head).0
    }

    fn into_parts(self, mut head: Head) -> (Head, Parts) {
        head.status = StatusCode::PARTIAL_CONTENT;
        let headers = &mut head.headers;
        if self.strip_digests {
            strip_content_digests(headers);
        }
        if self.strip_framing {
            headers.remove(header::TRANSFER_ENCODING);
            // A 206 body never carries the inner body's trailers.
            headers.remove(header::TRAILER);
        }
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(self.parts.remaining()),
        );
        advertise(headers);
        if let Some(value) = self.content_range {
            headers.insert(header::CONTENT_RANGE, value);
        }
        if let Some(value) = self.multipart_type {
            headers.insert(header::CONTENT_TYPE, value);
        }
        (head, self.parts)
    }
}

/// Applies a resolution: writes a 416 or the 200's `Accept-Ranges` into
/// `head`, or returns the 206 to build.
fn shape(resolution: Resolution, len: u64, head: &mut Head) -> Shape {
    match resolution {
        Resolution::Full(_) => {
            advertise(&mut head.headers);
            Shape::Full
        }
        Resolution::Unsatisfiable => {
            head.status = StatusCode::RANGE_NOT_SATISFIABLE;
            strip_representation(&mut head.headers);
            head.headers
                .insert(header::CONTENT_RANGE, content_range(None, len));
            head.headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            advertise(&mut head.headers);
            Shape::Done
        }
        Resolution::Single(range) => Shape::Partial(Partial {
            parts: Parts::single(range),
            content_range: Some(content_range(Some(range), len)),
            multipart_type: None,
            strip_framing: true,
            strip_digests: true,
        }),
        // A top-level Content-Encoding would claim the multipart framing
        // itself is encoded: send the (encoded) representation whole.
        Resolution::Multi(_) if head.headers.contains_key(header::CONTENT_ENCODING) => {
            advertise(&mut head.headers);
            Shape::Full
        }
        Resolution::Multi(ranges) => {
            let framing = Framing::new(head.headers.get(header::CONTENT_TYPE).cloned(), len);
            let multipart_type = Some(framing.header_value());
            Shape::Partial(Partial {
                parts: Parts::multi(ranges, framing),
                content_range: None,
                multipart_type,
                strip_framing: true,
                strip_digests: true,
            })
        }
    }
}

/// What the collected bytes are for.
pub(crate) enum Goal {
    /// The length is unknown: read to the end (within the limit), then plan.
    Length { range: HeaderValue },
    /// The ranges are planned but out of order over a forward-only body:
    /// hold the bytes up to the last one needed.
    Data { partial: Partial },
    /// Nothing to plan (cannot happen): send the 200 as it comes.
    Abandon,
    /// Read it all (the declared `length`, within the content-etag
    /// limit), derive the ETag, then decide as for any response. A body
    /// that ends before `length` is not the representation: it goes out
    /// as it came, ending in an error; one that runs past it goes out as
    /// it came, with the rest of the inner body.
    #[cfg(feature = "content-etag")]
    Etag { conditions: Conditions, length: u64 },
}

impl Goal {
    /// The `reason` when the body outgrew the limit before this goal was
    /// reached.
    fn gave_up(&self) -> &'static str {
        match self {
            Goal::Data { .. } => FullReason::BufferLimit.as_str(),
            Goal::Length { .. } | Goal::Abandon => FullReason::UnknownLength.as_str(),
            // Nothing was decided: without a Range there was nothing to
            // honor anyway.
            #[cfg(feature = "content-etag")]
            Goal::Etag { conditions, .. } if !conditions.has_range() => {
                FullReason::NoRange.as_str()
            }
            #[cfg(feature = "content-etag")]
            Goal::Etag { .. } => FullReason::UnknownLength.as_str(),
        }
    }
}

enum Filled {
    Complete,
    OverLimit,
    Failed(BoxError),
}

/// Buffers the start of a body, within the limit.
pub(crate) struct Collect<B> {
    head: Head,
    body: Pin<Box<B>>,
    rope: Rope,
    trailers: Option<HeaderMap>,
    goal: Goal,
    policy: Policy,
    /// Past this many bytes, give up and send the 200 as it comes.
    limit: u64,
    /// The decision's event, emitted once buffering ends.
    event: trace::Event,
}

impl<B> Collect<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn new(head: Head, body: B, goal: Goal, policy: Policy, event: trace::Event) -> Self {
        let limit = match &goal {
            #[cfg(feature = "content-etag")]
            // Past the declared length the body is not what it said: stop.
            Goal::Etag { length, .. } => *length,
            _ => policy.buffer_limit as u64,
        };
        Collect {
            limit,
            head,
            body: Box::pin(body),
            rope: Rope::default(),
            trailers: None,
            goal,
            policy,
            event,
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Filled> {
        let mut budget = FRAME_BUDGET;
        loop {
            match &self.goal {
                Goal::Data { partial } if self.rope.len() >= partial.parts.data_end() => {
                    return Poll::Ready(Filled::Complete)
                }
                Goal::Abandon => return Poll::Ready(Filled::OverLimit),
                _ if self.rope.len() > self.limit => return Poll::Ready(Filled::OverLimit),
                _ => {}
            }
            if budget == 0 {
                // An always-ready body: let other tasks run between batches.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            budget -= 1;
            match ready!(self.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let remaining = bytes::Buf::remaining(&data);
                        self.rope
                            .push(bytes::Buf::copy_to_bytes(&mut data, remaining));
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.trailers = Some(trailers);
                        }
                    }
                },
                Some(Err(error)) => return Poll::Ready(Filled::Failed(error.into())),
                None => return Poll::Ready(Filled::Complete),
            }
        }
    }

    fn finish(self: Box<Self>, filled: Filled) -> Response<RangeBody<B>> {
        let Collect {
            mut head,
            body,
            rope,
            trailers,
            goal,
            policy,
            limit: _,
            event,
        } = *self;
        let failed = matches!(filled, Filled::Failed(_));
        let tail = match filled {
            Filled::Complete => None,
            Filled::OverLimit => Some(Tail::Body(body)),
            Filled::Failed(error) => Some(Tail::Error(error)),
        };
        let range = match (goal, tail) {
            (Goal::Data { partial }, None) => {
                event.emit(partial.decision(), "satisfiable");
                let (head, parts) = partial.into_parts(head);
                return Response::from_parts(head, RangeBody::rope(rope, parts));
            }
            (Goal::Length { range }, None) => range,
            #[cfg(feature = "content-etag")]
            (Goal::Etag { length, .. }, None) if rope.len() != length => {
                // Shorter than declared (a longer one stopped at the limit):
                // not the representation, and no clean end.
                event.emit("full", "body_error");
                let tail = Tail::Error(crate::body::truncated().into());
                return Response::from_parts(head, RangeBody::buffered(rope.into_chunks(), tail));
            }
            #[cfg(feature = "content-etag")]
            (Goal::Etag { conditions, .. }, None) => {
                let mut rope = rope;
                head.headers
                    .insert(header::ETAG, crate::etag::of(&mut rope));
                return respond_buffered(head, rope, trailers, &conditions, &policy, event);
            }
            (goal, Some(tail)) => {
                // Past the limit, or the body failed: the full 200, every
                // byte read so far first, then the rest (or the error).
                event.emit("full", if failed { "body_error" } else { goal.gave_up() });
                if matches!(goal, Goal::Data { .. }) {
                    advertise(&mut head.headers);
                }
                return Response::from_parts(head, RangeBody::buffered(rope.into_chunks(), tail));
            }
            (Goal::Abandon, None) => {
                event.emit("full", FullReason::UnknownLength.as_str());
                return Response::from_parts(
                    head,
                    RangeBody::buffered(rope.into_chunks(), Tail::End),
                );
            }
        };
        // The whole body is here: its length is known now.
        let len = rope.len();
        head.headers.remove(header::TRANSFER_ENCODING);
        head.headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        let resolution = match parse_range(range.as_bytes(), policy.max_ranges) {
            Ok(set) => plan::resolve(&set, len, &policy, content_type_len(&head.headers)),
            Err(_) => Resolution::Full(plan::FullReason::UnknownLength),
        };
        let full_tail = match trailers {
            Some(trailers) => Tail::Trailers(trailers),
            None => Tail::End,
        };
        let why = full_reason(&resolution);
        let shaped = shape(resolution, len, &mut head);
        emit_shape(event.with_len(len), &shaped, why);
        from_rope(head, shaped, rope, full_tail)
    }
}

impl<B> Collect<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    /// Drives the collection; `Ready` with the response once decided.
    pub(crate) fn poll_response(
        mut self: Box<Self>,
        cx: &mut Context<'_>,
    ) -> Result<Response<RangeBody<B>>, Box<Self>> {
        match self.poll_fill(cx) {
            Poll::Ready(filled) => Ok(self.finish(filled)),
            Poll::Pending => Err(self),
        }
    }
}

/// Decides and answers for a body that is entirely in memory, whose
/// validators may have just been derived from it.
#[cfg(feature = "content-etag")]
fn respond_buffered<B>(
    mut head: Head,
    rope: Rope,
    trailers: Option<HeaderMap>,
    conditions: &Conditions,
    policy: &Policy,
    event: trace::Event,
) -> Response<RangeBody<B>> {
    let len = rope.len();
    head.headers.remove(header::TRANSFER_ENCODING);
    head.headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let now = if conditions.has_if_range() {
        SystemTime::now()
    } else {
        SystemTime::UNIX_EPOCH
    };
    let facts = ResponseFacts::from_headers(head.status, &head.headers, Some(len));
    let decision = plan::decide(conditions, &facts, policy, now);
    let full_tail = match trailers {
        Some(trailers) => Tail::Trailers(trailers),
        None => Tail::End,
    };
    let event = event.with_len(len);
    let (resolution, event) = match decision {
        Decision::PassThrough => {
            event.emit("pass_through", pass_reason(head.status));
            return Response::from_parts(head, RangeBody::buffered(rope.into_chunks(), full_tail));
        }
        Decision::Full {
            accept_ranges,
            reason,
        } => {
            event.emit("full", reason.as_str());
            if accept_ranges {
                advertise(&mut head.headers);
            }
            return Response::from_parts(head, RangeBody::buffered(rope.into_chunks(), full_tail));
        }
        Decision::NotModified => {
            event.emit("not_modified", not_modified_reason(conditions));
            not_modified(&mut head);
            return Response::from_parts(head, RangeBody::empty());
        }
        Decision::PreconditionFailed => {
            event.emit(
                "precondition_failed",
                precondition_failed_reason(conditions),
            );
            precondition_failed(&mut head);
            return Response::from_parts(head, RangeBody::empty());
        }
        Decision::Ranges(set) => {
            let resolution = plan::resolve(&set, len, policy, content_type_len(&head.headers));
            (resolution, event.with_ranges(set.len()))
        }
    };
    let why = full_reason(&resolution);
    let shaped = shape(resolution, len, &mut head);
    emit_shape(event, &shaped, why);
    from_rope(head, shaped, rope, full_tail)
}

/// Turns a 200 head into a 304's: the validators and cache headers stay.
fn not_modified(head: &mut Head) {
    head.status = StatusCode::NOT_MODIFIED;
    strip_representation(&mut head.headers);
}

/// Turns a 200 head into a 412's, with an empty body.
fn precondition_failed(head: &mut Head) {
    head.status = StatusCode::PRECONDITION_FAILED;
    strip_representation(&mut head.headers);
    strip(&mut head.headers, VALIDATORS);
    head.headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
}

/// The response for a body held entirely in memory, once shaped.
fn from_rope<B>(
    head: Head,
    shaped: Shape,
    rope: Rope,
    full_tail: Tail<B>,
) -> Response<RangeBody<B>> {
    match shaped {
        Shape::Done => Response::from_parts(head, RangeBody::empty()),
        Shape::Full => {
            Response::from_parts(head, RangeBody::buffered(rope.into_chunks(), full_tail))
        }
        Shape::Partial(partial) => {
            let (head, parts) = partial.into_parts(head);
            Response::from_parts(head, RangeBody::rope(rope, parts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::header::header_map as headers;

    #[test]
    fn one_pass_scan_agrees_with_the_lookups_it_replaces() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("content-type", "text/plain"), ("etag", "\"a\"")],
            &[("content-length", "10")],
            &[("content-length", "10"), ("content-length", "10")],
            &[("content-length", "10"), ("content-length", "11")],
            &[("content-length", "1x")],
            &[("content-length", "")],
            &[("content-length", "12345678901234567890")],
            &[("accept-ranges", "bytes"), ("accept-ranges", "NONE")],
            &[("accept-ranges", "bytes")],
            &[("content-range", "bytes 0-0/9")],
            &[("content-type", "Multipart/ByteRanges; boundary=x")],
            &[
                ("content-type", "text/plain"),
                ("content-type", "multipart/byteranges"),
            ],
            &[
                ("content-type", "multipart/byteranges"),
                ("content-type", "text/plain"),
            ],
            &[("content-type", "multipart/byterange")],
            &[
                ("x-one", "1"),
                ("content-length", "5"),
                ("accept-ranges", "none"),
                ("content-range", "bytes */5"),
            ],
            &[("transfer-encoding", "chunked")],
            &[("trailer", "x-checksum"), ("content-type", "a/b")],
            &[("content-digest", "sha-256=:AAAA:"), ("etag", "\"a\"")],
            &[
                ("x-one", "1"),
                ("content-md5", "AAAA"),
                ("repr-digest", "x"),
            ],
        ];
        for case in cases {
            let map = headers(case);
            let scanned = Scanned::from(&map);
            let facts = ResponseFacts::without_validators(StatusCode::OK, &map, Some(7));
            assert_eq!(scanned.facts(StatusCode::OK, Some(7)), facts, "{case:?}");
            // The lookup the scan replaced: every value, all equal numbers.
            let mut expected = Ok(None);
            for value in map.get_all(header::CONTENT_LENGTH) {
                let text = value.to_str().unwrap_or("x");
                expected = match (expected, text.parse::<u64>()) {
                    (Ok(seen), Ok(n))
                        if text.len() <= 19
                            && text.bytes().all(|b| b.is_ascii_digit())
                            && seen.is_none_or(|seen| seen == n) =>
                    {
                        Ok(Some(n))
                    }
                    _ => Err(()),
                };
            }
            assert_eq!(scanned.declared_length, expected, "{case:?}");
            let content_type = map.get(header::CONTENT_TYPE).map(HeaderValue::len);
            assert_eq!(scanned.content_type_len, content_type, "{case:?}");
            let framing =
                map.contains_key(header::TRANSFER_ENCODING) || map.contains_key(header::TRAILER);
            assert_eq!(scanned.framing, framing, "{case:?}");
            let digest = map.contains_key("content-digest") || map.contains_key("content-md5");
            assert_eq!(scanned.content_digest, digest, "{case:?}");
        }
    }

    #[test]
    fn content_range_values() {
        let range = |first, last| Some(ByteRange { first, last });
        assert_eq!(content_range(range(0, 0), 1), "bytes 0-0/1");
        assert_eq!(content_range(range(10, 1033), 5000), "bytes 10-1033/5000");
        assert_eq!(content_range(None, 0), "bytes */0");
        assert_eq!(content_range(None, 190), "bytes */190");
        let max = u64::MAX;
        assert_eq!(
            content_range(range(max - 1, max - 1), max),
            format!("bytes {}-{}/{max}", max - 1, max - 1).as_str()
        );
    }
}
