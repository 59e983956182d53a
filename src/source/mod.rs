//! Seekable sources: the hook through which the layer reads only the bytes
//! a range needs.
//!
//! An inner service cannot show through its body type that the body comes
//! from something seekable, least of all when that type is opaque (axum's
//! `Body`). So it says so in the response extensions: it inserts a
//! [`RangeSource`]. When a range applies, the layer takes the source out,
//! drops the inner body unread, and reads the parts from the source. When
//! none applies, the inner body goes out as it is.
//!
//! [`RangeSource::into_response`] builds such a response in one call, with
//! a body ([`SourceBody`]) that streams the whole source for the `200`.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # async fn handler() -> std::io::Result<()> {
//! use tower_range::source::{FileSource, RangeSource};
//!
//! let file = FileSource::open("Cargo.toml").await?;
//! let response = RangeSource::new(file).into_response();
//! assert!(response.extensions().get::<RangeSource>().is_some());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

/// The first `filled` bytes of a read buffer as a chunk. One much shorter
/// than the buffer is copied out, so that it does not keep the whole
/// buffer alive (in a socket queue, or in a consumer that holds frames),
/// and the buffer keeps serving reads; a longer one takes the buffer,
/// without a copy (whole, not split: a split would allocate a shared
/// header, on every read).
#[cfg(feature = "tokio")]
fn take_chunk(buf: &mut bytes::BytesMut, filled: usize) -> Bytes {
    if filled < buf.len() / 2 {
        Bytes::copy_from_slice(&buf[..filled])
    } else {
        let mut chunk = std::mem::take(buf);
        chunk.truncate(filled);
        chunk.freeze()
    }
}

#[cfg(feature = "tokio")]
mod file;
#[cfg(feature = "tokio")]
mod reader;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use file::FileSource;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use reader::ReaderSource;

/// A sequence of bytes of known length that can be read from any offset.
///
/// Implement it for storage the crate does not know (an object store, a
/// memory-mapped file, a database blob):
///
/// ```
/// use std::io;
/// use std::task::{Context, Poll};
/// use bytes::Bytes;
/// use tower_range::source::{RangeSource, SeekableSource, SourceReader};
///
/// /// The same byte, `len` times.
/// struct Repeat { byte: u8, len: u64 }
///
/// struct RepeatReader { byte: u8 }
///
/// impl SeekableSource for Repeat {
///     fn len(&self) -> u64 { self.len }
///     fn open(&self) -> io::Result<Box<dyn SourceReader>> {
///         Ok(Box::new(RepeatReader { byte: self.byte }))
///     }
/// }
///
/// impl SourceReader for RepeatReader {
///     fn poll_read_at(&mut self, _: &mut Context<'_>, _offset: u64, max_len: usize) -> Poll<io::Result<Bytes>> {
///         Poll::Ready(Ok(Bytes::from(vec![self.byte; max_len.min(64 * 1024)])))
///     }
/// }
///
/// let response = RangeSource::new(Repeat { byte: b'z', len: 1 << 40 }).into_response();
/// assert_eq!(response.headers()["content-length"], "1099511627776");
/// ```
pub trait SeekableSource: Send + Sync + 'static {
    /// The length in bytes. It must not change while responses use it.
    fn len(&self) -> u64;

    /// `true` when [`len`](Self::len) is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a reader for one response. Called once per response that needs
    /// bytes, and never for a `HEAD`.
    fn open(&self) -> io::Result<Box<dyn SourceReader>>;
}

/// Reads from a [`SeekableSource`], one chunk at a time.
///
/// ```
/// # use std::{io, task::{Context, Poll}};
/// # use bytes::Bytes;
/// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
/// # struct Mem(Bytes);
/// # impl SeekableSource for Mem {
/// #     fn len(&self) -> u64 { self.0.len() as u64 }
/// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
/// # }
/// # impl SourceReader for Mem {
/// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
/// #         let at = (at as usize).min(self.0.len());
/// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
/// #     }
/// # }
/// let mut reader = RangeSource::new(Mem(Bytes::from_static(b"hello world"))).open()?;
/// # let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
/// let chunk = reader.poll_read_at(&mut cx, 6, 100);
/// assert!(matches!(chunk, Poll::Ready(Ok(bytes)) if bytes == "world"));
/// # Ok::<_, io::Error>(())
/// ```
pub trait SourceReader: Send + 'static {
    /// Reads up to `max_len` (at least one) bytes starting at `offset`.
    ///
    /// Returns a chunk of at least one byte, or an empty one at the end of
    /// the source. Consecutive calls usually continue where the last ended;
    /// a reader may rely on that to avoid a seek. The reader chooses the
    /// chunk size, which bounds the memory a response holds.
    fn poll_read_at(
        &mut self,
        cx: &mut Context<'_>,
        offset: u64,
        max_len: usize,
    ) -> Poll<io::Result<Bytes>>;
}

/// A shared, cloneable handle to a [`SeekableSource`], the value to insert
/// in the response extensions.
///
/// ```
/// # use std::{io, task::{Context, Poll}};
/// # use bytes::Bytes;
/// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
/// # struct Mem(Bytes);
/// # impl SeekableSource for Mem {
/// #     fn len(&self) -> u64 { self.0.len() as u64 }
/// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
/// # }
/// # impl SourceReader for Mem {
/// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
/// #         let at = (at as usize).min(self.0.len());
/// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
/// #     }
/// # }
/// # use futures_util::FutureExt;
/// # use tower::ServiceExt;
/// let handler = tower::service_fn(|_: http::Request<()>| async {
///     let source = RangeSource::new(Mem(Bytes::from_static(b"hello world")));
///     let mut response = http::Response::new(source.body());
///     response.extensions_mut().insert(source); // the layer reads ranges from it
///     Ok::<_, std::convert::Infallible>(response)
/// });
/// let request = http::Request::get("/").header("range", "bytes=-5").body(()).unwrap();
/// let response = tower_range::RangeService::new(handler).oneshot(request).now_or_never().unwrap()?;
/// assert_eq!(response.headers()["content-range"], "bytes 6-10/11");
/// # Ok::<_, std::convert::Infallible>(())
/// ```
#[derive(Clone)]
pub struct RangeSource {
    source: Arc<dyn SeekableSource>,
}

impl fmt::Debug for RangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeSource")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl RangeSource {
    /// Wraps a source.
    ///
    /// ```
    /// # use std::{io, task::{Context, Poll}};
    /// # use bytes::Bytes;
    /// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
    /// # struct Mem(Bytes);
    /// # impl SeekableSource for Mem {
    /// #     fn len(&self) -> u64 { self.0.len() as u64 }
    /// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
    /// # }
    /// # impl SourceReader for Mem {
    /// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
    /// #         let at = (at as usize).min(self.0.len());
    /// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
    /// #     }
    /// # }
    /// let source = RangeSource::new(Mem(Bytes::from_static(b"abc")));
    /// assert_eq!(source.len(), 3);
    /// ```
    pub fn new<S: SeekableSource>(source: S) -> Self {
        RangeSource {
            source: Arc::new(source),
        }
    }

    /// The length of the source, shared by every clone of the handle.
    ///
    /// ```
    /// # use std::{io, task::{Context, Poll}};
    /// # use bytes::Bytes;
    /// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
    /// # struct Mem(Bytes);
    /// # impl SeekableSource for Mem {
    /// #     fn len(&self) -> u64 { self.0.len() as u64 }
    /// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
    /// # }
    /// # impl SourceReader for Mem {
    /// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
    /// #         let at = (at as usize).min(self.0.len());
    /// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
    /// #     }
    /// # }
    /// let source = RangeSource::new(Mem(Bytes::from(vec![0; 4096])));
    /// assert_eq!(source.clone().len(), 4096);
    /// ```
    pub fn len(&self) -> u64 {
        self.source.len()
    }

    /// `true` when the source is empty.
    ///
    /// ```
    /// # use std::{io, task::{Context, Poll}};
    /// # use bytes::Bytes;
    /// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
    /// # struct Mem(Bytes);
    /// # impl SeekableSource for Mem {
    /// #     fn len(&self) -> u64 { self.0.len() as u64 }
    /// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
    /// # }
    /// # impl SourceReader for Mem {
    /// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
    /// #         let at = (at as usize).min(self.0.len());
    /// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
    /// #     }
    /// # }
    /// assert!(RangeSource::new(Mem(Bytes::new())).is_empty());
    /// assert!(!RangeSource::new(Mem(Bytes::from_static(b"x"))).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// Opens a reader (see [`SeekableSource::open`]).
    ///
    /// ```
    /// # use std::{io, task::{Context, Poll}};
    /// # use bytes::Bytes;
    /// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
    /// # struct Mem(Bytes);
    /// # impl SeekableSource for Mem {
    /// #     fn len(&self) -> u64 { self.0.len() as u64 }
    /// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
    /// # }
    /// # impl SourceReader for Mem {
    /// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
    /// #         let at = (at as usize).min(self.0.len());
    /// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
    /// #     }
    /// # }
    /// let source = RangeSource::new(Mem(Bytes::from_static(b"hello")));
    /// let mut reader = source.open()?;
    /// # let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    /// assert!(matches!(reader.poll_read_at(&mut cx, 1, 3), Poll::Ready(Ok(b)) if b == "ell"));
    /// # Ok::<_, io::Error>(())
    /// ```
    pub fn open(&self) -> io::Result<Box<dyn SourceReader>> {
        self.source.open()
    }

    /// A body that streams the whole source.
    ///
    /// ```
    /// # use std::{io, task::{Context, Poll}};
    /// # use bytes::Bytes;
    /// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
    /// # struct Mem(Bytes);
    /// # impl SeekableSource for Mem {
    /// #     fn len(&self) -> u64 { self.0.len() as u64 }
    /// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
    /// # }
    /// # impl SourceReader for Mem {
    /// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
    /// #         let at = (at as usize).min(self.0.len());
    /// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
    /// #     }
    /// # }
    /// # use futures_util::FutureExt;
    /// use http_body_util::BodyExt;
    /// let body = RangeSource::new(Mem(Bytes::from_static(b"hello"))).body();
    /// let bytes = body.collect().now_or_never().unwrap()?.to_bytes();
    /// assert_eq!(bytes, "hello");
    /// # Ok::<_, io::Error>(())
    /// ```
    pub fn body(&self) -> SourceBody {
        SourceBody {
            source: self.clone(),
            reader: Mutex::new(None),
            offset: 0,
            end: self.len(),
        }
    }

    /// A `200 OK` with `Content-Length`, a body streaming the whole source,
    /// and the source in its extensions, ready for the layer. Add the
    /// `Content-Type`, `ETag` and `Last-Modified` you have.
    ///
    /// ```
    /// # use std::{io, task::{Context, Poll}};
    /// # use bytes::Bytes;
    /// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
    /// # struct Mem(Bytes);
    /// # impl SeekableSource for Mem {
    /// #     fn len(&self) -> u64 { self.0.len() as u64 }
    /// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
    /// # }
    /// # impl SourceReader for Mem {
    /// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
    /// #         let at = (at as usize).min(self.0.len());
    /// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
    /// #     }
    /// # }
    /// let mut response = RangeSource::new(Mem(Bytes::from_static(b"hello"))).into_response();
    /// response.headers_mut().insert("etag", "\"v1\"".parse().unwrap());
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-length"], "5");
    /// assert!(response.extensions().get::<RangeSource>().is_some());
    /// ```
    pub fn into_response(self) -> Response<SourceBody> {
        let mut response = Response::new(self.body());
        *response.status_mut() = StatusCode::OK;
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(self.len()));
        response.extensions_mut().insert(self);
        response
    }
}

/// A body streaming a [`RangeSource`] from start to end; the reader is
/// opened on the first poll, so an unpolled body costs no I/O.
///
/// ```
/// # use std::{io, task::{Context, Poll}};
/// # use bytes::Bytes;
/// # use tower_range::source::{RangeSource, SeekableSource, SourceReader};
/// # struct Mem(Bytes);
/// # impl SeekableSource for Mem {
/// #     fn len(&self) -> u64 { self.0.len() as u64 }
/// #     fn open(&self) -> io::Result<Box<dyn SourceReader>> { Ok(Box::new(Mem(self.0.clone()))) }
/// # }
/// # impl SourceReader for Mem {
/// #     fn poll_read_at(&mut self, _: &mut Context<'_>, at: u64, n: usize) -> Poll<io::Result<Bytes>> {
/// #         let at = (at as usize).min(self.0.len());
/// #         Poll::Ready(Ok(self.0.slice(at..(at + n).min(self.0.len()))))
/// #     }
/// # }
/// use http_body::Body;
/// use tower_range::source::SourceBody;
/// let body: SourceBody = RangeSource::new(Mem(Bytes::from_static(b"hello"))).body();
/// assert_eq!(body.size_hint().exact(), Some(5));
/// assert!(!body.is_end_stream());
/// ```
pub struct SourceBody {
    source: RangeSource,
    // In a Mutex only to make the body Sync; reached with get_mut, which
    // never locks.
    reader: Mutex<Option<Box<dyn SourceReader>>>,
    offset: u64,
    end: u64,
}

impl fmt::Debug for SourceBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceBody")
            .field("offset", &self.offset)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl Body for SourceBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let remaining = this.end - this.offset;
        if remaining == 0 {
            return Poll::Ready(None);
        }
        let Ok(slot) = this.reader.get_mut() else {
            this.end = this.offset;
            return Poll::Ready(Some(Err(io::Error::other("source reader poisoned"))));
        };
        let reader = match slot {
            Some(reader) => reader,
            slot => match this.source.open() {
                Ok(reader) => slot.insert(reader),
                Err(error) => {
                    this.end = this.offset;
                    return Poll::Ready(Some(Err(error)));
                }
            },
        };
        let max = usize::try_from(remaining).unwrap_or(usize::MAX);
        let result = ready!(reader.poll_read_at(cx, this.offset, max));
        Poll::Ready(Some(match result {
            Ok(chunk) if !chunk.is_empty() => {
                // A reader must not return more than asked; trust, but clamp.
                let chunk = if chunk.len() as u64 > remaining {
                    chunk.slice(..max)
                } else {
                    chunk
                };
                this.offset += chunk.len() as u64;
                Ok(Frame::data(chunk))
            }
            Ok(_) => {
                this.end = this.offset;
                Err(unexpected_eof())
            }
            Err(error) => {
                this.end = this.offset;
                Err(error)
            }
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.offset == self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.offset)
    }
}

pub(crate) fn unexpected_eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the source ended before its announced length",
    )
}
