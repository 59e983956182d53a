use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

use super::{take_chunk, SeekableSource, SourceReader};

const CHUNK_SIZE: usize = 64 * 1024;

/// Any `AsyncRead + AsyncSeek` of known length as a [`SeekableSource`].
///
/// A reader has one cursor, so the source can be opened once: either the
/// [`SourceBody`](super::SourceBody) of the `200` or the layer's range
/// reads get it, never both (only one of them ever runs). A second `open`
/// fails, and the layer then sends the inner response untouched.
///
/// ```
/// use std::io::Cursor;
/// use tower_range::source::{RangeSource, ReaderSource};
///
/// let data = vec![7u8; 1000];
/// let response = RangeSource::new(ReaderSource::new(Cursor::new(data), 1000)).into_response();
/// assert_eq!(response.headers()["content-length"], "1000");
/// ```
#[derive(Debug)]
pub struct ReaderSource<R> {
    reader: Mutex<Option<R>>,
    len: u64,
}

impl<R> ReaderSource<R>
where
    R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
{
    /// Wraps a reader of `len` bytes.
    ///
    /// ```
    /// use std::io::Cursor;
    /// use tower_range::source::{RangeSource, ReaderSource};
    ///
    /// let source = RangeSource::new(ReaderSource::new(Cursor::new(b"hello".to_vec()), 5));
    /// assert_eq!(source.len(), 5);
    /// assert!(source.open().is_ok());
    /// assert!(source.open().is_err(), "one cursor: opened once");
    /// ```
    pub fn new(reader: R, len: u64) -> Self {
        ReaderSource {
            reader: Mutex::new(Some(reader)),
            len,
        }
    }
}

impl<R> SeekableSource for ReaderSource<R>
where
    R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
{
    fn len(&self) -> u64 {
        self.len
    }

    fn open(&self) -> io::Result<Box<dyn SourceReader>> {
        let reader = self
            .reader
            .lock()
            .map_err(|_| io::Error::other("reader lock poisoned"))?
            .take()
            .ok_or_else(|| io::Error::other("this ReaderSource was already opened"))?;
        Ok(Box::new(SeekingReader {
            reader,
            position: None,
            seeking: false,
            buf: BytesMut::new(),
        }))
    }
}

struct SeekingReader<R> {
    reader: R,
    /// Where the cursor is, when known.
    position: Option<u64>,
    seeking: bool,
    buf: BytesMut,
}

impl<R> SourceReader for SeekingReader<R>
where
    R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
{
    fn poll_read_at(
        &mut self,
        cx: &mut Context<'_>,
        offset: u64,
        max_len: usize,
    ) -> Poll<io::Result<Bytes>> {
        if self.position != Some(offset) {
            if !self.seeking {
                Pin::new(&mut self.reader).start_seek(SeekFrom::Start(offset))?;
                self.seeking = true;
            }
            let reached = ready!(Pin::new(&mut self.reader).poll_complete(cx));
            self.seeking = false;
            let reached = reached?;
            if reached != offset {
                return Poll::Ready(Err(io::Error::other("seek landed elsewhere")));
            }
            self.position = Some(reached);
        }
        let len = max_len.min(CHUNK_SIZE);
        if self.buf.len() < len {
            // What is left of a buffer that earlier chunks share is too
            // short: a new one, rather than growing it (which would copy
            // its stale bytes into a fresh allocation).
            self.buf = BytesMut::zeroed(len);
        }
        let mut read_buf = ReadBuf::new(&mut self.buf[..len]);
        ready!(Pin::new(&mut self.reader).poll_read(cx, &mut read_buf))?;
        let filled = read_buf.filled().len();
        self.position = Some(offset + filled as u64);
        // A short read (a reader that hands out a segment at a time) is
        // copied out, and the buffer serves the next read.
        Poll::Ready(Ok(take_chunk(&mut self.buf, filled)))
    }
}
