use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use super::{take_chunk, SeekableSource, SourceReader};

/// Default size of one read: large enough that a big range costs few
/// blocking hops, small enough to bound the memory a response holds.
const DEFAULT_CHUNK_SIZE: usize = 128 * 1024;

/// A file as a [`SeekableSource`].
///
/// Reads are positioned (`pread` on Unix, `seek_read` on Windows): no
/// shared cursor, so one open file serves the full `200` body and any number
/// of range reads at once. A small range is one read of exactly its size.
///
/// Where each read runs: on Linux, first on the runtime thread with
/// `preadv2(RWF_NOWAIT)`, which copies what the page cache holds and does
/// not wait for file data; a read that would wait takes one hop to the
/// blocking pool instead, and so does every read of a file whose
/// filesystem does not support it. Elsewhere every read takes the hop. So
/// a warm file costs no hop at all, and a cold read does not wait for
/// file data on the runtime thread (see [`inline_cached_reads`] for what
/// the kernel may still do there).
///
/// The handle is shared: cloning a `FileSource` is a reference-count bump,
/// so a server can keep one per file (with the metadata its validators come
/// from) and skip the open and `stat` on every request, as nginx's
/// `open_file_cache` does; `examples/serve.rs` shows one.
///
/// [`inline_cached_reads`]: FileSource::inline_cached_reads
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
    inline_cached: bool,
    /// Set once the kernel or the filesystem refused `RWF_NOWAIT` for this
    /// file; shared by clones, so later responses do not ask again.
    nowait_unsupported: Arc<AtomicBool>,
}

impl FileSource {
    /// Opens a file and reads its length, off the async runtime.
    ///
    /// ```
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    /// # let size = std::fs::metadata(path)?.len();
    /// # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// use tower_range::source::FileSource;
    /// let file = runtime.block_on(FileSource::open(path))?;
    /// assert_eq!(file.len(), size);
    /// assert!(runtime.block_on(FileSource::open("/no/such/file")).is_err());
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::from_std(File::open(path)?))
            .await
            .map_err(io::Error::other)?
    }

    /// Uses an open file; reads its length from its metadata (a blocking
    /// system call).
    ///
    /// ```
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    /// # let size = std::fs::metadata(path)?.len();
    /// use tower_range::source::FileSource;
    /// let file = FileSource::from_std(std::fs::File::open(path)?)?;
    /// assert_eq!(file.len(), size);
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn from_std(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self::from_std_with_len(file, len))
    }

    /// Uses an open file whose length the caller already read (with the
    /// metadata it needed for its validators, say): no system call here.
    /// Reads past the real end of the file fail as a body error.
    ///
    /// ```
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    /// # let size = std::fs::metadata(path)?.len();
    /// use tower_range::source::FileSource;
    /// let file = std::fs::File::open(path)?;
    /// let metadata = file.metadata()?; // read once, for the ETag too
    /// let source = FileSource::from_std_with_len(file, metadata.len());
    /// assert_eq!(source.len(), size);
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn from_std_with_len(file: File, len: u64) -> Self {
        FileSource {
            file: Arc::new(file),
            len,
            chunk_size: DEFAULT_CHUNK_SIZE,
            inline_limit: 0,
            inline_cached: true,
            nowait_unsupported: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Sets the largest read. The default is 128 KiB; values below 64 KiB
    /// are raised to 64 KiB, so a large range never costs a blocking hop per
    /// few kilobytes.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("tower-range-doc-chunk-{}", std::process::id()));
    /// # std::fs::write(&path, vec![7u8; 200_000])?;
    /// # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// use http_body_util::BodyExt;
    /// use tower_range::source::{FileSource, RangeSource};
    /// let file = FileSource::from_std(std::fs::File::open(&path)?)?.chunk_size(100_000);
    /// let mut body = RangeSource::new(file).body();
    /// let first = runtime.block_on(body.frame()).unwrap()?.into_data().unwrap();
    /// assert!(!first.is_empty() && first.len() <= 100_000); // one read, one chunk at most
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(64 * 1024);
        self
    }

    /// Reads of at most this many bytes run on the runtime thread even when
    /// the bytes are not in the page cache. The default is 0: a read that
    /// would wait for the disk takes a hop to the blocking pool.
    ///
    /// On Linux, reads the page cache can answer run on the runtime thread
    /// anyway ([`inline_cached_reads`](Self::inline_cached_reads)), so this
    /// matters for cold reads, and on other systems, where every read takes
    /// the hop. A hop costs a few microseconds, which dominates a small
    /// range; reading inline saves it, but a read that misses the cache
    /// blocks the runtime thread, and every task on it, for the length of a
    /// disk access. Turn it on only for files that stay in memory, with a
    /// limit of a few pages.
    ///
    /// ```
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    /// # let size = std::fs::metadata(path)?.len();
    /// # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// use http_body_util::BodyExt;
    /// use tower_range::source::{FileSource, RangeSource};
    /// let file = FileSource::from_std(std::fs::File::open(path)?)?.inline_reads_up_to(16 * 1024);
    /// let body = RangeSource::new(file).body();
    /// let bytes = runtime.block_on(body.collect())?.to_bytes();
    /// assert_eq!(bytes.len() as u64, size);
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn inline_reads_up_to(mut self, bytes: usize) -> Self {
        self.inline_limit = bytes;
        self
    }

    /// Whether a read first tries the page cache on the runtime thread
    /// (Linux: `preadv2` with `RWF_NOWAIT`), hopping to the blocking pool
    /// only when the bytes are not all in memory. The default is `true`; it
    /// has no effect on other systems, where every read takes the hop.
    ///
    /// A cached read does not wait for file data: bytes that are not in
    /// memory are read on the blocking pool. What it costs the runtime
    /// thread is the copy of one chunk (at most
    /// [`chunk_size`](Self::chunk_size) bytes) out of the page cache, plus
    /// what the kernel does around any read: it may update the access time
    /// (rarely with the default `relatime`, never with `noatime`; such an
    /// update can wait for the filesystem journal), and kernels before 5.9
    /// may start readahead of a cold range, which can read the file's
    /// metadata from disk. `RWF_NOWAIT` on buffered reads needs Linux 4.14
    /// or later. A hop costs a few microseconds and two thread wake-ups,
    /// more than a small range takes to copy. Turn it off to keep every
    /// read off the runtime threads.
    ///
    /// When a read fails with `EOPNOTSUPP` (a filesystem without
    /// `RWF_NOWAIT`, such as procfs), `ENOSYS` (a kernel without
    /// `preadv2`) or `EINVAL` (a kernel that does not know the flag), the
    /// source remembers it, for all its clones, and reads on the blocking
    /// pool from then on. Any other error sends only that read to the pool,
    /// which reports the error.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// use tower_range::source::FileSource;
    /// let file = FileSource::open("video.mp4").await?.inline_cached_reads(false);
    /// # Ok(())
    /// # }
    /// ```
    pub fn inline_cached_reads(mut self, enabled: bool) -> Self {
        self.inline_cached = enabled;
        self
    }

    /// The file length when it was opened.
    ///
    /// ```
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    /// # let size = std::fs::metadata(path)?.len();
    /// use tower_range::source::{FileSource, RangeSource};
    /// let file = FileSource::from_std(std::fs::File::open(path)?)?;
    /// assert_eq!(file.len(), size);
    /// assert_eq!(RangeSource::new(file).len(), size);
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `true` for an empty file.
    ///
    /// ```
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    /// # let size = std::fs::metadata(path)?.len();
    /// use tower_range::source::FileSource;
    /// assert!(!FileSource::from_std(std::fs::File::open(path)?)?.is_empty());
    /// # Ok::<_, std::io::Error>(())
    /// ```
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
            inline_cached: self.inline_cached,
            nowait_unsupported: self.nowait_unsupported.clone(),
            in_flight: None,
        }))
    }
}

struct FileReader {
    file: Arc<File>,
    chunk_size: usize,
    inline_limit: usize,
    /// Try the page cache first (unless `nowait_unsupported`).
    inline_cached: bool,
    nowait_unsupported: Arc<AtomicBool>,
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
        // The buffer a failed cached read zeroed, reused by the pool read.
        let mut zeroed = None;
        if self.in_flight.is_none() {
            if len <= self.inline_limit {
                return Poll::Ready(read_at(&self.file, offset, len));
            }
            if self.inline_cached && !self.nowait_unsupported.load(Ordering::Relaxed) {
                match read_cached(&self.file, offset, len) {
                    Cached::Read(chunk) => return Poll::Ready(Ok(chunk)),
                    Cached::WouldBlock(buf) => zeroed = Some(buf),
                    Cached::Unsupported(buf) => {
                        self.nowait_unsupported.store(true, Ordering::Relaxed);
                        zeroed = Some(buf);
                    }
                }
            }
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
            let buf = zeroed.take();
            let handle = runtime.spawn_blocking(move || match buf {
                Some(buf) => read_into(&file, buf, offset),
                None => read_at(&file, offset, len),
            });
            self.in_flight = Some((offset, len, handle));
        }
    }
}

use std::future::Future as _;

/// What a read from the page cache gave. The variants that send the read
/// to the blocking pool carry the zeroed buffer, for the pool to fill.
// Elsewhere than on Linux, only `Unsupported` is ever made.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
enum Cached {
    /// At least one byte (possibly fewer than asked: the rest was not in
    /// memory), or none at the end of the file.
    Read(Bytes),
    /// Not in memory, or the read failed in a way the blocking read will
    /// report: read this chunk on the blocking pool.
    WouldBlock(BytesMut),
    /// The kernel or the filesystem does not do `RWF_NOWAIT` reads: read
    /// on the blocking pool, now and from now on.
    Unsupported(BytesMut),
}

/// Reads up to `len` bytes at `offset` if the page cache holds them,
/// without waiting for file data.
#[cfg(target_os = "linux")]
fn read_cached(file: &File, offset: u64, len: usize) -> Cached {
    use rustix::io::{Errno, IoSliceMut, ReadWriteFlags};
    // `preadv2` takes initialized buffers only; zeroing one chunk costs a
    // fraction of the hop it saves, and a read that goes to the pool after
    // all hands the buffer over.
    let mut buf = BytesMut::zeroed(len);
    loop {
        let mut slices = [IoSliceMut::new(&mut buf)];
        match rustix::io::preadv2(file, &mut slices, offset, ReadWriteFlags::NOWAIT) {
            Ok(n) => return Cached::Read(take_chunk(&mut buf, n)),
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return Cached::WouldBlock(buf),
            Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => return Cached::Unsupported(buf),
            Err(_) => return Cached::WouldBlock(buf),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_: &File, _: u64, len: usize) -> Cached {
    Cached::Unsupported(BytesMut::zeroed(len))
}

/// Fills the initialized `buf` from `offset`, short only at the end of the
/// file.
fn read_into(file: &File, mut buf: BytesMut, offset: u64) -> io::Result<Bytes> {
    let mut done = 0;
    while done < buf.len() {
        match pread(file, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(take_chunk(&mut buf, done))
}

/// Reads up to `len` bytes at `offset`, short only at the end of the file;
/// into uninitialized memory, so the chunk is not zero-filled first.
#[cfg(target_os = "linux")]
fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = offset + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    if buf.len() < len / 2 {
        // A short tail: do not keep the whole chunk's allocation alive.
        buf.shrink_to_fit();
    }
    Ok(Bytes::from(buf))
}

/// Reads up to `len` bytes at `offset`, short only at the end of the file.
#[cfg(not(target_os = "linux"))]
fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    read_into(file, BytesMut::zeroed(len), offset)
}

#[cfg(target_os = "linux")]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    Ok(rustix::io::pread(file, buf, offset)?)
}

#[cfg(all(unix, not(target_os = "linux")))]
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

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    /// A file of `len` bytes, each its offset modulo 251, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(tag: &str, len: usize) -> (TempFile, Vec<u8>) {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = std::env::temp_dir()
                .join(format!("tower-range-file-{tag}-{}.bin", std::process::id()));
            std::fs::write(&path, &data).expect("write the test file");
            (TempFile(path), data)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Drops the file's pages from the page cache; `false` where that is
    /// not possible (tmpfs keeps them: they are the file).
    #[cfg(target_os = "linux")]
    fn evict(file: &File) -> bool {
        use rustix::fs::{fadvise, fstatfs, Advice};
        const TMPFS_MAGIC: u64 = 0x0102_1994;
        file.sync_all().expect("sync");
        fadvise(file, 0, None, Advice::DontNeed).expect("fadvise");
        // `f_type`'s integer type differs between targets.
        #[allow(clippy::unnecessary_cast)]
        fstatfs(file).is_ok_and(|fs| fs.f_type as u64 != TMPFS_MAGIC)
    }

    async fn read_all(source: &FileSource, offset: u64, len: usize) -> Vec<u8> {
        let mut reader = source.open().expect("open a reader");
        let mut out = Vec::new();
        while out.len() < len {
            let at = offset + out.len() as u64;
            let chunk = poll_fn(|cx| reader.poll_read_at(cx, at, len - out.len()))
                .await
                .expect("read");
            assert!(!chunk.is_empty(), "early end at {at}");
            assert!(chunk.len() <= len - out.len(), "longer than asked");
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[tokio::test]
    async fn cached_and_pool_reads_give_the_same_bytes_warm_or_cold() {
        let (path, data) = TempFile::new("modes", 700_000);
        for inline_cached in [true, false] {
            for (offset, len) in [(0, 1024), (123_457, 65_536), (1000, 600_000)] {
                let file = File::open(&path.0).expect("open");
                #[cfg(target_os = "linux")]
                evict(&file);
                let source = FileSource::from_std(file)
                    .expect("metadata")
                    .inline_cached_reads(inline_cached);
                for pass in ["cold", "warm"] {
                    let got = read_all(&source, offset, len).await;
                    assert!(
                        got[..] == data[offset as usize..offset as usize + len],
                        "inline_cached_reads({inline_cached}), {pass}, {offset}+{len}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn reads_at_and_past_the_end_are_short_then_empty() {
        let (path, data) = TempFile::new("end", 5000);
        let source = FileSource::open(&path.0).await.expect("open");
        let mut reader = source.open().expect("reader");
        let tail = poll_fn(|cx| reader.poll_read_at(cx, 4990, 100))
            .await
            .expect("read");
        assert_eq!(&tail[..], &data[4990..]);
        let end = poll_fn(|cx| reader.poll_read_at(cx, 5000, 100))
            .await
            .expect("read");
        assert!(end.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_cold_read_is_never_done_inline_and_a_warm_one_is() {
        let (path, data) = TempFile::new("cold", 256 * 1024);
        let file = File::open(&path.0).expect("open");
        if !evict(&file) {
            eprintln!("skipped: the temporary directory is on tmpfs");
            return;
        }
        assert!(
            !matches!(read_cached(&file, 100_000, 4096), Cached::Read(_)),
            "read inline a page that is not in the page cache"
        );
        // The blocking read brings the pages in; now the cache has them.
        let cold = read_at(&file, 100_000, 4096).expect("read");
        assert_eq!(&cold[..], &data[100_000..104_096]);
        match read_cached(&file, 100_000, 4096) {
            Cached::Read(warm) => assert_eq!(&warm[..], &data[100_000..104_096]),
            Cached::WouldBlock(_) => panic!("a page just read is not in the page cache"),
            // A filesystem without RWF_NOWAIT: every read takes the hop.
            Cached::Unsupported(_) => eprintln!("RWF_NOWAIT is not supported here"),
        }
    }

    /// The capacity of the allocation a chunk keeps alive.
    fn capacity(chunk: Bytes) -> usize {
        BytesMut::from(chunk).capacity()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_short_cached_read_does_not_keep_the_whole_chunk_alive() {
        let (path, data) = TempFile::new("short", 10_000);
        let file = File::open(&path.0).expect("open");
        read_at(&file, 0, 10_000).expect("warm the page cache");
        match read_cached(&file, 9_000, 128 * 1024) {
            Cached::Read(tail) => {
                assert_eq!(&tail[..], &data[9_000..]);
                assert!(
                    capacity(tail) < 64 * 1024,
                    "a 1000-byte chunk holds the 128 KiB buffer"
                );
            }
            _ => eprintln!("skipped: RWF_NOWAIT did not read here"),
        }
        let tail = read_at(&file, 9_000, 128 * 1024).expect("read");
        assert_eq!(&tail[..], &data[9_000..]);
        assert!(
            capacity(tail) < 64 * 1024,
            "a pool read's tail holds the whole buffer"
        );
        let tail = read_into(&file, BytesMut::zeroed(128 * 1024), 9_000).expect("read");
        assert_eq!(&tail[..], &data[9_000..]);
        assert!(
            capacity(tail) < 64 * 1024,
            "a reused buffer's tail holds all of it"
        );
    }

    /// procfs files refuse `RWF_NOWAIT` (`EOPNOTSUPP`): the first response
    /// finds out, and no later one, through any clone, asks again.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_refused_nowait_read_is_remembered_by_every_clone() {
        let file = File::open("/proc/self/stat").expect("open /proc/self/stat");
        let source = FileSource::from_std_with_len(file, 16);
        let clone = source.clone();
        assert!(!clone.nowait_unsupported.load(Ordering::Relaxed));
        if !matches!(read_cached(&source.file, 0, 16), Cached::Unsupported(_)) {
            eprintln!("skipped: this kernel reads procfs with RWF_NOWAIT");
            return;
        }
        // The pool read still answers: procfs reads work, only not NOWAIT.
        let first = read_all(&source, 0, 1).await;
        assert_eq!(first.len(), 1);
        assert!(clone.nowait_unsupported.load(Ordering::Relaxed));
        assert!(source.clone().nowait_unsupported.load(Ordering::Relaxed));
    }

    /// A read that would block hands its zeroed buffer to the pool read,
    /// which returns the bytes in it (no second allocation).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_read_that_would_block_reuses_its_buffer_on_the_pool() {
        let (path, data) = TempFile::new("reuse", 256 * 1024);
        let file = File::open(&path.0).expect("open");
        if !evict(&file) {
            eprintln!("skipped: the temporary directory is on tmpfs");
            return;
        }
        let Cached::WouldBlock(buf) = read_cached(&file, 0, 100_000) else {
            eprintln!("skipped: the cold read did not report EAGAIN");
            return;
        };
        let address = buf.as_ptr();
        let chunk = read_into(&file, buf, 0).expect("read");
        assert_eq!(&chunk[..], &data[..100_000]);
        assert_eq!(chunk.as_ptr(), address);
    }
}
