//! [`RangeBody`], the one body type of every response the layer sends.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::source::{unexpected_eof, SourceReader};
use crate::BoxError;

mod parts;

pub(crate) use parts::Parts;
use parts::Step;

pin_project! {
    /// Response body of [`RangeService`](crate::RangeService).
    ///
    /// Its data is [`Bytes`] and its error a [`BoxError`], so axum and hyper
    /// take it as it is. An error of the inner body, or a source that ends
    /// early, surfaces as an error of this body: a part is never cut short
    /// behind a clean end of stream.
    ///
    /// ```
    /// # use futures_util::FutureExt;
    /// use http_body_util::BodyExt;
    /// use tower::ServiceExt;
    /// use tower_range::{RangeBody, RangeService};
    /// # let hello = tower::service_fn(|_: http::Request<()>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello world")))
    /// # });
    /// let request = http::Request::get("/").header("range", "bytes=0-4").body(())?;
    /// let response: http::Response<RangeBody<String>> =
    ///     RangeService::new(hello).oneshot(request).now_or_never().unwrap()?;
    /// let bytes = response.into_body().collect().now_or_never().unwrap()?.to_bytes();
    /// assert_eq!(bytes, "hello");
    /// # Ok::<_, tower_range::BoxError>(())
    /// ```
    pub struct RangeBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        // The inner body, untouched.
        Pass { #[pin] body: B },
        // No body: HEAD, 304, 412, 416.
        Empty,
        // A full 200 made of frames buffered while looking for the length,
        // then whatever is left.
        Buffered { state: Box<Buffered<B>> },
        // Ranges read forward from the inner body: skip, take, stop.
        Stream { #[pin] body: B, state: Box<Forward> },
        // Ranges sliced out of buffered frames, without copying.
        Rope { state: Box<Sliced> },
        // Ranges read from a seekable source.
        Source { state: Box<Seeking> },
    }
}

// The states of the rarer kinds are boxed, so that the body of the most
// common response, the pass-through, is no larger than the inner body plus
// a word, and moves as cheaply.

struct Buffered<B> {
    prefix: VecDeque<Bytes>,
    prefix_len: u64,
    tail: Tail<B>,
}

struct Forward {
    parts: Parts,
    position: u64,
    pending: Bytes,
}

struct Sliced {
    rope: Rope,
    parts: Parts,
}

struct Seeking {
    // In a Mutex only to make the body Sync; reached with get_mut, which
    // never locks.
    reader: Mutex<Box<dyn SourceReader>>,
    parts: Parts,
}

impl<B> Kind<B> {
    fn parts(&self) -> Option<&Parts> {
        match self {
            Kind::Stream { state, .. } => Some(&state.parts),
            Kind::Rope { state } => Some(&state.parts),
            Kind::Source { state } => Some(&state.parts),
            Kind::Pass { .. } | Kind::Empty | Kind::Buffered { .. } => None,
        }
    }
}

pub(crate) enum Tail<B> {
    Body(Pin<Box<B>>),
    Trailers(HeaderMap),
    Error(BoxError),
    End,
}

impl<B> fmt::Debug for RangeBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Pass { .. } => "Pass",
            Kind::Empty => "Empty",
            Kind::Buffered { .. } => "Buffered",
            Kind::Stream { .. } => "Stream",
            Kind::Rope { .. } => "Rope",
            Kind::Source { .. } => "Source",
        };
        f.debug_struct("RangeBody").field("kind", &kind).finish()
    }
}

/// An empty body: what layers such as tower-http's `TimeoutLayer` need to
/// build their own responses around this one.
impl<B> Default for RangeBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> RangeBody<B> {
    pub(crate) fn pass(body: B) -> Self {
        Self::from_kind(Kind::Pass { body })
    }

    pub(crate) fn empty() -> Self {
        Self::from_kind(Kind::Empty)
    }

    pub(crate) fn buffered(prefix: Vec<Bytes>, tail: Tail<B>) -> Self {
        Self::from_kind(Kind::Buffered {
            state: Box::new(Buffered {
                prefix_len: prefix.iter().map(|chunk| chunk.len() as u64).sum(),
                prefix: prefix.into(),
                tail,
            }),
        })
    }

    pub(crate) fn stream(body: B, parts: Parts) -> Self {
        Self::from_kind(Kind::Stream {
            body,
            state: Box::new(Forward {
                parts,
                position: 0,
                pending: Bytes::new(),
            }),
        })
    }

    pub(crate) fn rope(mut rope: Rope, parts: Parts) -> Self {
        rope.flush_small();
        Self::from_kind(Kind::Rope {
            state: Box::new(Sliced { rope, parts }),
        })
    }

    pub(crate) fn source(reader: Box<dyn SourceReader>, parts: Parts) -> Self {
        Self::from_kind(Kind::Source {
            state: Box::new(Seeking {
                reader: Mutex::new(reader),
                parts,
            }),
        })
    }

    fn from_kind(kind: Kind<B>) -> Self {
        RangeBody { kind }
    }
}

fn into_bytes<D: Buf>(mut data: D) -> Bytes {
    // Zero-copy when `D` is `Bytes`.
    data.copy_to_bytes(data.remaining())
}

fn data_frame(chunk: Bytes) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    Poll::Ready(Some(Ok(Frame::data(chunk))))
}

impl<B> Body for RangeBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Pass { body } => body
                .poll_frame(cx)
                .map_ok(|frame| frame.map_data(into_bytes))
                .map_err(Into::into),
            KindProj::Empty => Poll::Ready(None),
            KindProj::Buffered { state } => {
                let Buffered {
                    prefix,
                    prefix_len,
                    tail,
                } = &mut **state;
                if let Some(chunk) = prefix.pop_front() {
                    *prefix_len -= chunk.len() as u64;
                    return data_frame(chunk);
                }
                poll_tail(tail, cx)
            }
            KindProj::Stream { mut body, state } => {
                let Forward {
                    parts,
                    position,
                    pending,
                } = &mut **state;
                match parts.next_step() {
                    Step::Frame(frame) => data_frame(frame),
                    Step::Done => Poll::Ready(None),
                    Step::Data { offset, max } => {
                        let chunk = ready!(poll_forward(
                            body.as_mut(),
                            cx,
                            position,
                            pending,
                            offset,
                            max
                        ));
                        Poll::Ready(Some(chunk.map(|chunk| {
                            parts.consumed(chunk.len() as u64);
                            Frame::data(chunk)
                        })))
                    }
                }
            }
            KindProj::Rope { state } => {
                let Sliced { rope, parts } = &mut **state;
                match parts.next_step() {
                    Step::Frame(frame) => data_frame(frame),
                    Step::Done => Poll::Ready(None),
                    Step::Data { offset, max } => match rope.slice(offset, max) {
                        Some(chunk) => {
                            parts.consumed(chunk.len() as u64);
                            data_frame(chunk)
                        }
                        None => Poll::Ready(Some(Err(truncated().into()))),
                    },
                }
            }
            KindProj::Source { state } => {
                let Seeking { reader, parts } = &mut **state;
                match parts.next_step() {
                    Step::Frame(frame) => data_frame(frame),
                    Step::Done => Poll::Ready(None),
                    Step::Data { offset, max } => {
                        let max = usize::try_from(max).unwrap_or(usize::MAX);
                        let Ok(reader) = reader.get_mut() else {
                            return Poll::Ready(Some(Err(io::Error::other(
                                "source reader poisoned",
                            )
                            .into())));
                        };
                        match ready!(reader.poll_read_at(cx, offset, max)) {
                            Ok(chunk) if !chunk.is_empty() => {
                                let chunk = if chunk.len() > max {
                                    chunk.slice(..max)
                                } else {
                                    chunk
                                };
                                parts.consumed(chunk.len() as u64);
                                data_frame(chunk)
                            }
                            Ok(_) => Poll::Ready(Some(Err(unexpected_eof().into()))),
                            Err(error) => Poll::Ready(Some(Err(error.into()))),
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Pass { body } => body.is_end_stream(),
            Kind::Empty => true,
            Kind::Buffered { state } => state.prefix.is_empty() && matches!(state.tail, Tail::End),
            kind => kind.parts().is_some_and(|parts| parts.remaining() == 0),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Pass { body } => body.size_hint(),
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Buffered { state } => {
                let buffered = state.prefix_len;
                let rest = match &state.tail {
                    Tail::Body(body) => body.size_hint(),
                    // An exact hint would let the server announce a length
                    // that ends cleanly right where the error is.
                    Tail::Error(_) => SizeHint::new(),
                    Tail::Trailers(_) | Tail::End => SizeHint::with_exact(0),
                };
                let mut hint = SizeHint::new();
                hint.set_lower(buffered.saturating_add(rest.lower()));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(buffered.saturating_add(upper));
                }
                hint
            }
            kind => SizeHint::with_exact(kind.parts().map_or(0, Parts::remaining)),
        }
    }
}

fn poll_tail<B>(
    tail: &mut Tail<B>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    match std::mem::replace(tail, Tail::End) {
        Tail::Body(mut body) => {
            let polled = body.as_mut().poll_frame(cx);
            // Keep the body only while it may yield more: never poll it again
            // after its end or its error.
            if matches!(polled, Poll::Pending | Poll::Ready(Some(Ok(_)))) {
                *tail = Tail::Body(body);
            }
            polled
                .map_ok(|frame| frame.map_data(into_bytes))
                .map_err(Into::into)
        }
        Tail::Trailers(trailers) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
        Tail::Error(error) => Poll::Ready(Some(Err(error))),
        Tail::End => Poll::Ready(None),
    }
}

/// Reads forward through the inner body to `offset` and returns up to `max`
/// bytes from there. Frames before `offset` are dropped as they pass.
fn poll_forward<B>(
    mut body: Pin<&mut B>,
    cx: &mut Context<'_>,
    position: &mut u64,
    pending: &mut Bytes,
    offset: u64,
    max: u64,
) -> Poll<Result<Bytes, BoxError>>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut budget = FRAME_BUDGET;
    loop {
        if !pending.is_empty() {
            let end = *position + pending.len() as u64;
            if end <= offset {
                *position = end;
                *pending = Bytes::new();
            } else if *position > offset {
                // The plan only streams ascending ranges; a step backwards
                // cannot happen, and must not send wrong bytes if it did.
                return Poll::Ready(Err(
                    io::Error::other("range behind the stream position").into()
                ));
            } else {
                pending.advance((offset - *position) as usize);
                *position = offset;
                let take = max.min(pending.len() as u64) as usize;
                *position += take as u64;
                return Poll::Ready(Ok(pending.split_to(take)));
            }
        }
        if budget == 0 {
            // Skipping a long stretch of an always-ready body: let the other
            // tasks of this thread run before going on.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        budget -= 1;
        match ready!(body.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    *pending = into_bytes(data);
                }
            }
            Some(Err(error)) => return Poll::Ready(Err(error.into())),
            None => return Poll::Ready(Err(truncated().into())),
        }
    }
}

/// How many inner frames one poll may consume without producing anything.
pub(crate) const FRAME_BUDGET: usize = 64;

/// The error of an inner body that ended before the bytes it promised.
pub(crate) fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the inner body ended before the length it declared",
    )
}

/// Frames smaller than this are copied together instead of kept apart.
const SMALL_FRAME: usize = 4096;

/// Buffered frames, addressed by offset; slices of large frames are
/// zero-copy.
#[derive(Debug, Default)]
pub(crate) struct Rope {
    /// `(offset of the chunk, chunk)`, in order, no empty chunks.
    chunks: Vec<(u64, Bytes)>,
    /// Small frames gathered into one chunk, so that a body of one-byte
    /// frames costs its bytes in memory, not a chunk entry per byte.
    small: BytesMut,
    len: u64,
}

impl Rope {
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len() as u64;
        if chunk.len() < SMALL_FRAME {
            self.small.extend_from_slice(&chunk);
            if self.small.len() >= SMALL_FRAME {
                self.flush_small();
            }
        } else {
            self.flush_small();
            self.chunks.push((self.len - chunk.len() as u64, chunk));
        }
    }

    /// The buffered chunks, in order; only complete after `flush_small`.
    #[cfg(feature = "content-etag")]
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.chunks.iter().map(|(_, chunk)| chunk)
    }

    pub(crate) fn flush_small(&mut self) {
        if !self.small.is_empty() {
            let chunk = self.small.split().freeze();
            self.chunks.push((self.len - chunk.len() as u64, chunk));
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn into_chunks(mut self) -> Vec<Bytes> {
        self.flush_small();
        self.chunks.into_iter().map(|(_, chunk)| chunk).collect()
    }

    /// Up to `max` bytes from `offset`, within one chunk. `None` past the end.
    fn slice(&self, offset: u64, max: u64) -> Option<Bytes> {
        let index = self
            .chunks
            .partition_point(|(start, _)| *start <= offset)
            .checked_sub(1)?;
        let (start, chunk) = &self.chunks[index];
        let from = usize::try_from(offset - start).ok()?;
        if from >= chunk.len() {
            return None;
        }
        let to = from + max.min((chunk.len() - from) as u64) as usize;
        Some(chunk.slice(from..to))
    }
}
