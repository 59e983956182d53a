use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use super::{SeekableSource, SourceReader};

/// Default size of one read: large enough that a big range costs few
/// blocking hops, small enough to bound the memory a response holds.
const DEFAULT_CHUNK_SIZE: usize = 128 * 1024;

/// A file as a [`SeekableSource`].
///
/// Reads are positioned (`pread` on Unix, `seek_read` on Windows): one
/// blocking hop per chunk, no shared cursor, so one open file serves the
/// full `200` body and any number of range reads at once. A small range is
/// one read of exactly its size.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use tower_range::source::{FileSource, RangeSource};
/// let response = RangeSource::new(FileSource::open("video.mp4").await?).into_response();
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FileSource {
    file: Arc<File>,
    len: u64,
    chunk_size: usize,
    inline_limit: usize,
}

impl FileSource {
    /// Opens a file and reads its length, off the async runtime.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::from_std(File::open(path)?))
            .await
            .map_err(io::Error::other)?
    }

    /// Uses an open file; reads its length from its metadata (a blocking
    /// system call).
    pub fn from_std(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self::from_std_with_len(file, len))
    }

    /// Uses an open file whose length the caller already read (with the
    /// metadata it needed for its validators, say): no system call here.
    /// Reads past the real end of the file fail as a body error.
    pub fn from_std_with_len(file: File, len: u64) -> Self {
        FileSource {
            file: Arc::new(file),
            len,
            chunk_size: DEFAULT_CHUNK_SIZE,
            inline_limit: 0,
        }
    }

    /// Sets the largest read. The default is 128 KiB; values below 64 KiB
    /// are raised to 64 KiB, so a large range never costs a blocking hop per
    /// few kilobytes.
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(64 * 1024);
        self
    }

    /// Reads of at most this many bytes run on the runtime thread instead of
    /// a blocking-pool thread. The default is 0: every read takes a hop to
    /// the blocking pool.
    ///
    /// A hop costs a few microseconds, which dominates a small range served
    /// from the page cache. Reading inline saves it, but a read that misses
    /// the cache blocks the runtime thread, and every task on it, for the
    /// length of a disk access. Turn it on for files that stay in memory
    /// (hot media, small assets), with a limit of a few pages.
    pub fn inline_reads_up_to(mut self, bytes: usize) -> Self {
        self.inline_limit = bytes;
        self
    }

    /// The file length when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `true` for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl SeekableSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn open(&self) -> io::Result<Box<dyn SourceReader>> {
        Ok(Box::new(FileReader {
            file: self.file.clone(),
            chunk_size: self.chunk_size,
            inline_limit: self.inline_limit,
            in_flight: None,
        }))
    }
}

struct FileReader {
    file: Arc<File>,
    chunk_size: usize,
    inline_limit: usize,
    in_flight: Option<(u64, usize, JoinHandle<io::Result<Bytes>>)>,
}

impl SourceReader for FileReader {
    fn poll_read_at(
        &mut self,
        cx: &mut Context<'_>,
        offset: u64,
        max_len: usize,
    ) -> Poll<io::Result<Bytes>> {
        let len = max_len.min(self.chunk_size);
        if len <= self.inline_limit && self.in_flight.is_none() {
            return Poll::Ready(read_at(&self.file, offset, len));
        }
        loop {
            if let Some((at, size, handle)) = &mut self.in_flight {
                if *at == offset && *size == len {
                    let result = std::task::ready!(std::pin::Pin::new(handle).poll(cx));
                    self.in_flight = None;
                    return Poll::Ready(result.map_err(io::Error::other).and_then(|r| r));
                }
                // A read for another place: let it finish unobserved.
                self.in_flight = None;
            }
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| io::Error::other("FileSource needs a Tokio runtime"))?;
            let file = self.file.clone();
            let handle = runtime.spawn_blocking(move || read_at(&file, offset, len));
            self.in_flight = Some((offset, len, handle));
        }
    }
}

use std::future::Future as _;

/// Reads up to `len` bytes at `offset`, short only at the end of the file.
fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        match pread(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

#[cfg(unix)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
fn pread(_: &File, _: &mut [u8], _: u64) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "positioned reads are not supported on this platform",
    ))
}
