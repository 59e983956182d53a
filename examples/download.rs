//! A resuming, parallel download tool built on tower-range's client side
//! ([`ResumeLayer`]).
//!
//! ```text
//! cargo run --release --features client --example download -- URL OUTPUT [--connections N]
//! ```
//!
//! Every request goes through one [`ResumeLayer`] around hyper-util's
//! HTTP/1.1 client, so a connection that breaks in the middle of a body is
//! resumed with `Range` + `If-Range` without the tool noticing more than a
//! retry callback (counted as "resumes" in the progress line). Only
//! `http://` URLs: there is no TLS in this example.
//!
//! # Files
//!
//! While it runs, the tool writes the bytes to `OUTPUT.part` and its state
//! to `OUTPUT.resume`, a small text file: the URL, the validator (a strong
//! `ETag`, else `Last-Modified`), the total length and, per segment, its
//! byte range and how many of its bytes are in `OUTPUT.part`. `OUTPUT`
//! itself only ever appears complete: when the last byte is written,
//! `OUTPUT.resume` is removed and `OUTPUT.part` renamed to `OUTPUT`
//! (replacing an existing file).
//!
//! The state is written every half second, after the bytes it counts have
//! been synced to disk, by writing a temporary file, syncing it and
//! renaming it over the old one, so whenever the process stops (Ctrl-C, a kill, a crash, a
//! lost connection that ran out of attempts) the state never claims bytes
//! that are not in `OUTPUT.part`.
//!
//! # Resuming across runs
//!
//! Run the same command again. With a usable state it asks for the rest of
//! each unfinished segment with `Range: bytes=K-` (or `K-END`) and
//! `If-Range: <validator>`:
//!
//! - `206 Partial Content` with the stored validator (when it carries one
//!   of that kind) and a `Content-Range` that is exactly the range asked
//!   for, of the stored length: the resource is unchanged; it continues.
//! - `206` with another `ETag` or `Last-Modified`, or another complete
//!   length, `200 OK` with another validator, or `416`: the resource
//!   changed on the server (or the server ignored `If-Range`). The tool
//!   says so, discards the partial file and starts over: old and new bytes
//!   are never stitched together.
//! - `200 OK` with the same validator, or a `206` for another range than
//!   asked: the server ignores ranges (or gets them wrong); the tool starts
//!   over on one connection. Nothing of such a response is written.
//! - For a download of unknown length whose run stopped after the last
//!   byte, `416` with `Content-Range: bytes */N`, `N` the bytes held, and
//!   no other validator: the download is complete.
//!
//! A state without a validator (the server sent neither a strong `ETag` nor
//! `Last-Modified`), for another URL, unreadable or inconsistent, or with
//! `OUTPUT.part` missing or shorter than the bytes the state counts (a
//! truncated file; the part file is preallocated to the full length, so
//! this cannot tell whether counted bytes are really there: the state is
//! only written after they were synced), is never resumed: the tool says
//! why and starts over.
//!
//! # Parallel segments
//!
//! `--connections N` first asks `HEAD` for the length, the validator and
//! `Accept-Ranges: bytes`, preallocates `OUTPUT.part` to the full length
//! and fetches N ranges (at least 256 KiB each) at once, each with
//! `If-Range`, each written at its own offset. Without ranges, a length or
//! a validator it falls back to one connection and says why, and so it
//! does when the first answers to the segments disagree with the `HEAD`
//! (another validator or length: a change, or a server whose `HEAD` and
//! `GET` differ); nothing of them is written. The segment
//! layout is fixed when a download starts: a resumed download keeps it,
//! whatever `--connections` says then.
//!
//! # When the resource changes during a run
//!
//! If a resumed body is answered with another version (the layer's
//! `ResourceChanged`), the tool stops, removes `OUTPUT.part` and
//! `OUTPUT.resume` (no mixed content is left behind), explains, and exits
//! with status 3; the next run downloads the new version from the start.
//!
//! # Exit status
//!
//! `0` done; `1` failed (the partial download is kept when there is one:
//! run again to resume); `2` bad command line; `3` the resource changed
//! during the run (partial download discarded); `130` interrupted by
//! Ctrl-C or `SIGTERM` (kept).
//!
//! The layer checks the `Content-Range` of each resumed body; the tool
//! checks the first response of each segment itself (its range, complete
//! length and validator), since the layer passes a `206` that is not the
//! range asked for through as not resumable.
//! `tests/download.rs` checks the results byte for byte (SHA-256).

use std::error::Error as StdError;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinSet;
use tower::{ServiceBuilder, ServiceExt};
use tower_range::client::{
    ResumeBody, ResumeError, ResumeErrorKind, ResumeLayer, ResumeService, Retry,
};

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// The most `--connections` accepted.
const MAX_CONNECTIONS: usize = 32;
/// No segment is made smaller than this: below it a connection costs more
/// than it brings.
const MIN_SEGMENT: u64 = 256 * 1024;
/// `--max-attempts` when not given: failed resumes in a row without
/// progress per response body, and tries per request when no response
/// comes at all.
const DEFAULT_MAX_ATTEMPTS: u32 = 10;
/// The first delay before sending a request again that got no response;
/// it doubles per try, up to [`MAX_REQUEST_BACKOFF`].
const REQUEST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_REQUEST_BACKOFF: Duration = Duration::from_secs(5);
/// `--idle-timeout` when not given, in seconds.
const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 30;
/// Chunks read but not yet written, per segment (hyper's chunks are at
/// most a few hundred KiB).
const WRITE_QUEUE: usize = 16;
/// How often the state file is rewritten.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Hidden, for tests: the checkpoint interval in milliseconds instead of
/// [`CHECKPOINT_EVERY`].
const CHECKPOINT_ENV: &str = "TOWER_RANGE_DOWNLOAD_CHECKPOINT_MS";
/// How long an interrupted run waits for its writer threads to finish the
/// chunks they hold before the last checkpoint.
const WRITERS_DRAIN: Duration = Duration::from_secs(5);
/// How often a plain progress line is printed (no terminal, `--no-progress`).
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// How many times one run starts over because the resource changed before
/// it gives up.
const MAX_STARTS: u32 = 3;
/// Sent with every request.
const USER_AGENT: &str = concat!("tower-range-download/", env!("CARGO_PKG_VERSION"));

/// What the command line asks for.
#[derive(Debug)]
struct Args {
    url: Uri,
    output: PathBuf,
    connections: usize,
    progress: bool,
    max_attempts: u32,
    idle_timeout: Duration,
}

/// Why the command line did not produce [`Args`].
enum ArgsError {
    /// `--help`: print the usage and exit successfully.
    Help,
    /// Anything wrong: print this, then the usage, and fail.
    Bad(String),
}

fn usage() -> String {
    format!(
        "\
Usage: download URL OUTPUT [--connections N] [--no-progress] [--max-attempts N] [--idle-timeout SECS]

Downloads URL to OUTPUT, resuming broken connections (Range + If-Range) and
interrupted runs: run the same command again to continue. Only http:// URLs
(plain HTTP/1.1; https is out of scope for this example).

While running, the bytes go to OUTPUT.part and the resume state (validator,
length, segments done) to OUTPUT.resume; OUTPUT appears (or is replaced)
only when complete.
If the resource changed on the server, the partial download is discarded
and the download starts over: versions are never mixed.

Options:
  --connections N      fetch N ranges in parallel (1..={MAX_CONNECTIONS}) [default: 1]
  --no-progress        plain progress lines instead of a progress bar
                       (also the case when stderr is not a terminal)
  --max-attempts N     failed resumes in a row without progress per response
                       body, and tries per request that gets no response,
                       before giving up [default: {DEFAULT_MAX_ATTEMPTS}]
  --idle-timeout SECS  give up on a connection that sends nothing for this
                       long, and resume [default: {DEFAULT_IDLE_TIMEOUT_SECS}]
  -h, --help           print this help

Exit status: 0 done, 1 failed (run again to resume), 2 bad command line,
3 the resource changed during the run, or on every start (partial
download discarded),
130 interrupted (run again to resume)."
    )
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, ArgsError> {
    let mut positional = Vec::new();
    let mut connections = 1;
    let mut progress = true;
    let mut max_attempts = DEFAULT_MAX_ATTEMPTS;
    let mut idle_timeout = Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            positional.push(arg);
            continue;
        };
        // `--name=value` and `--name value` both work.
        let (name, inline_value) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (text, None),
        };
        let mut value = |name: &str| -> Result<String, ArgsError> {
            match inline_value.clone() {
                Some(value) => Ok(value),
                None => args
                    .next()
                    .and_then(|value| value.into_string().ok())
                    .ok_or_else(|| ArgsError::Bad(format!("{name} needs a value"))),
            }
        };
        match name {
            "-h" | "--help" => return Err(ArgsError::Help),
            "--no-progress" => progress = false,
            "--connections" => {
                connections = parse_number(name, &value(name)?, 1, MAX_CONNECTIONS as u64)? as usize
            }
            "--max-attempts" => {
                max_attempts = parse_number(name, &value(name)?, 0, u32::MAX.into())? as u32
            }
            "--idle-timeout" => {
                idle_timeout = Duration::from_secs(parse_number(name, &value(name)?, 1, 24 * 3600)?)
            }
            "--" => positional.extend(args.by_ref()),
            _ if text.starts_with('-') && text.len() > 1 => {
                return Err(ArgsError::Bad(format!("unknown option `{text}`")))
            }
            _ => positional.push(arg),
        }
    }
    let [url, output]: [OsString; 2] = positional.try_into().map_err(|given: Vec<_>| {
        ArgsError::Bad(format!(
            "expected URL and OUTPUT, got {} argument(s)",
            given.len()
        ))
    })?;
    let url = parse_url(&url)?;
    Ok(Args {
        url,
        output: PathBuf::from(output),
        connections,
        progress,
        max_attempts,
        idle_timeout,
    })
}

fn parse_number(name: &str, text: &str, min: u64, max: u64) -> Result<u64, ArgsError> {
    match text.parse::<u64>() {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(ArgsError::Bad(format!(
            "{name} takes a whole number from {min} to {max}, not `{text}`"
        ))),
    }
}

fn parse_url(text: &OsStr) -> Result<Uri, ArgsError> {
    let text = text
        .to_str()
        .ok_or_else(|| ArgsError::Bad("the URL is not valid UTF-8".into()))?;
    let url: Uri = text
        .parse()
        .map_err(|error| ArgsError::Bad(format!("invalid URL `{text}`: {error}")))?;
    match url.scheme_str() {
        Some("http") if url.host().is_some() => Ok(url),
        Some("https") => Err(ArgsError::Bad(format!(
            "`{text}`: https is out of scope for this example (no TLS); use an http:// URL"
        ))),
        _ => Err(ArgsError::Bad(format!(
            "`{text}` is not an http:// URL (e.g. http://127.0.0.1:3000/file/demo.bin)"
        ))),
    }
}

// ---------------------------------------------------------------------------
// The state file
// ---------------------------------------------------------------------------

/// What `If-Range` sends to make sure a range comes from the same version.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Validator {
    /// A strong entity tag, quotes included.
    ETag(String),
    /// A `Last-Modified` date, as the server wrote it.
    LastModified(String),
}

impl Validator {
    /// The strong `ETag` of a response, else its `Last-Modified`. A weak
    /// tag never matches in `If-Range`, so it does not count.
    fn of(headers: &HeaderMap) -> Option<Validator> {
        let text = |name| {
            headers
                .get(name)
                .and_then(|value: &http::HeaderValue| value.to_str().ok())
                .map(str::trim)
                .filter(|text| !text.is_empty())
        };
        match text(header::ETAG) {
            Some(tag) if tag.starts_with('"') && tag.ends_with('"') && tag.len() >= 2 => {
                Some(Validator::ETag(tag.to_owned()))
            }
            _ => text(header::LAST_MODIFIED).map(|date| Validator::LastModified(date.to_owned())),
        }
    }

    /// A validator read back from a state file: only what [`Validator::of`]
    /// takes from a response under `name` (a strong tag, or a date that is
    /// a header value), exactly as written.
    fn stored(name: header::HeaderName, text: &str) -> Result<Validator, String> {
        let mut headers = HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(text) {
            headers.insert(name.clone(), value);
        }
        match Validator::of(&headers) {
            Some(validator) if validator.value() == text => Ok(validator),
            _ => Err(format!("`{text}` is not a {name} the tool stores")),
        }
    }

    /// The `If-Range` value.
    fn value(&self) -> &str {
        match self {
            Validator::ETag(value) | Validator::LastModified(value) => value,
        }
    }

    /// The validator of the same kind a response carries, when it differs
    /// from this one: the response is of another version. A response
    /// without one of that kind contradicts nothing.
    fn contradicted_by(&self, headers: &HeaderMap) -> Option<Validator> {
        let (name, wrap): (_, fn(String) -> Validator) = match self {
            Validator::ETag(_) => (header::ETAG, Validator::ETag),
            Validator::LastModified(_) => (header::LAST_MODIFIED, Validator::LastModified),
        };
        let theirs = headers.get(name)?;
        let theirs = String::from_utf8_lossy(theirs.as_bytes()).trim().to_owned();
        (theirs != self.value()).then(|| wrap(theirs))
    }

    fn describe(validator: Option<&Validator>) -> String {
        match validator {
            Some(Validator::ETag(tag)) => format!("ETag {tag}"),
            Some(Validator::LastModified(date)) => format!("Last-Modified {date}"),
            None => "no validator".to_owned(),
        }
    }
}

/// A `Content-Range: bytes FIRST-LAST/TOTAL` (`TOTAL` may be `*`) or
/// `bytes */TOTAL` (a `416`), `None` when missing or malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ContentRange {
    /// First and last byte, inclusive; `None` in `bytes */TOTAL`.
    range: Option<(u64, u64)>,
    /// The complete length; `None` for `*`.
    total: Option<u64>,
}

impl ContentRange {
    fn of(headers: &HeaderMap) -> Option<ContentRange> {
        let text = headers.get(header::CONTENT_RANGE)?.to_str().ok()?.trim();
        let rest = text.strip_prefix("bytes ")?.trim_start();
        let (range, total) = rest.split_once('/')?;
        let total = match total.trim() {
            "*" => None,
            total => Some(total.parse().ok()?),
        };
        let range = match range.trim() {
            "*" => None,
            range => {
                let (first, last) = range.split_once('-')?;
                let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
                if first > last || total.is_some_and(|total| last >= total) {
                    return None;
                }
                Some((first, last))
            }
        };
        if range.is_none() && total.is_none() {
            return None;
        }
        Some(ContentRange { range, total })
    }
}

/// One byte range of the resource, fetched on its own connection.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    start: u64,
    /// Exclusive; `None` while the length is unknown (one segment only).
    end: Option<u64>,
    /// Bytes from `start` on that are in the part file.
    done: u64,
}

impl Segment {
    /// The next byte to fetch.
    fn next(&self) -> u64 {
        self.start + self.done
    }

    fn is_complete(&self) -> bool {
        self.end.is_some_and(|end| self.next() >= end)
    }
}

/// Everything needed to resume: the contents of `OUTPUT.resume`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    url: String,
    validator: Option<Validator>,
    length: Option<u64>,
    segments: Vec<Segment>,
}

const STATE_HEADER: &str = "# tower-range download state 1";

impl State {
    fn done(&self) -> u64 {
        self.segments.iter().map(|segment| segment.done).sum()
    }

    fn render(&self) -> String {
        let mut text = format!(
            "{STATE_HEADER}\n# delete this file and the .part file to start over\nurl {}\n",
            self.url
        );
        match &self.validator {
            Some(Validator::ETag(tag)) => writeln!(text, "etag {tag}"),
            Some(Validator::LastModified(date)) => writeln!(text, "last-modified {date}"),
            None => writeln!(text, "no-validator"),
        }
        .expect("writing to a String");
        match self.length {
            Some(length) => writeln!(text, "length {length}"),
            None => writeln!(text, "length unknown"),
        }
        .expect("writing to a String");
        for segment in &self.segments {
            let end = segment
                .end
                .map_or("unknown".to_owned(), |end| end.to_string());
            writeln!(text, "segment {} {end} {}", segment.start, segment.done)
                .expect("writing to a String");
        }
        text
    }

    fn parse(text: &str) -> Result<State, String> {
        let mut lines = text.lines();
        if lines.next() != Some(STATE_HEADER) {
            return Err("not a state file of this version".into());
        }
        let (mut url, mut validator, mut length, mut segments) = (None, None, None, Vec::new());
        let mut saw_validator = false;
        let number = |text: &str| -> Result<u64, String> {
            text.parse()
                .map_err(|_| format!("`{text}` is not a number"))
        };
        for line in lines.filter(|line| !line.starts_with('#') && !line.is_empty()) {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "url" => url = Some(rest.to_owned()),
                "etag" => {
                    let tag = Validator::stored(header::ETAG, rest)?;
                    (validator, saw_validator) = (Some(tag), true)
                }
                "last-modified" => {
                    let date = Validator::stored(header::LAST_MODIFIED, rest)?;
                    (validator, saw_validator) = (Some(date), true)
                }
                "no-validator" => (validator, saw_validator) = (None, true),
                "length" if rest == "unknown" => length = Some(None),
                "length" => length = Some(Some(number(rest)?)),
                "segment" => {
                    let fields: Vec<&str> = rest.split(' ').collect();
                    let [start, end, done] = fields[..] else {
                        return Err(format!("bad segment line `{line}`"));
                    };
                    let end = if end == "unknown" {
                        None
                    } else {
                        Some(number(end)?)
                    };
                    segments.push(Segment {
                        start: number(start)?,
                        end,
                        done: number(done)?,
                    });
                }
                _ => return Err(format!("unknown line `{line}`")),
            }
        }
        let state = State {
            url: url.ok_or("no url")?,
            validator: if saw_validator {
                validator
            } else {
                return Err("no validator line".into());
            },
            length: length.ok_or("no length")?,
            segments,
        };
        state.check()?;
        Ok(state)
    }

    /// The segments tile `0..length` in order, and none is done past its end.
    fn check(&self) -> Result<(), String> {
        if self.segments.is_empty() {
            return Err("no segments".into());
        }
        let mut expected_start = 0;
        for segment in &self.segments {
            if segment.start != expected_start {
                return Err("segments do not tile the resource".into());
            }
            // `next()` adds these: a corrupt count must not overflow.
            if segment.start.checked_add(segment.done).is_none() {
                return Err("a segment counts more bytes than there can be".into());
            }
            match (segment.end, self.length) {
                (Some(end), Some(_)) if end > segment.start && segment.next() <= end => {
                    expected_start = end
                }
                (None, None) if self.segments.len() == 1 => {}
                _ => return Err("inconsistent segment".into()),
            }
        }
        if self.length.is_some_and(|length| length != expected_start) {
            return Err("segments do not cover the length".into());
        }
        Ok(())
    }
}

/// The three files of one download.
struct Paths {
    output: PathBuf,
    part: PathBuf,
    state: PathBuf,
    state_tmp: PathBuf,
}

impl Paths {
    fn new(output: &Path) -> Paths {
        let with = |suffix: &str| {
            let mut name = output.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        Paths {
            output: output.to_owned(),
            part: with(".part"),
            state: with(".resume"),
            state_tmp: with(".resume.tmp"),
        }
    }

    /// Forgets a partial download: no `.part`, no `.resume`.
    fn discard(&self) -> io::Result<()> {
        for path in [&self.state, &self.state_tmp, &self.part] {
            match std::fs::remove_file(path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The state shared by the segment tasks and the checkpoints.
struct Shared {
    state: Mutex<State>,
    /// `OUTPUT.part`, opened once per start: a writer still busy after a
    /// start over writes to the discarded (unlinked) file, never to the
    /// part file of the next start.
    part: File,
    /// Writer threads that have not finished yet.
    writers: AtomicUsize,
    /// Bumped on every change, so an unchanged state is not rewritten.
    version: AtomicU64,
    written_version: AtomicU64,
    /// Held while the state file is written: one writer at a time.
    writing: Mutex<()>,
}

impl Shared {
    fn new(state: State, part: File) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(state),
            part,
            writers: AtomicUsize::new(0),
            version: AtomicU64::new(1),
            written_version: AtomicU64::new(0),
            writing: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicked segment task cannot leave the numbers half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn snapshot(&self) -> State {
        self.lock().clone()
    }

    /// Counts `bytes` more of `segment` as written to the part file.
    fn advance(&self, segment: usize, bytes: u64) {
        self.lock().segments[segment].done += bytes;
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// Syncs the part file, then writes the state file (via a temporary
    /// file and a rename): the state never counts a byte that is not on
    /// disk. Skipped when nothing changed since the last write.
    fn checkpoint(&self, paths: &Paths) -> io::Result<()> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let version = self.version.load(Ordering::Relaxed);
        if self.written_version.load(Ordering::Relaxed) == version {
            return Ok(());
        }
        let state = self.snapshot();
        self.part.sync_data()?;
        let mut temporary = File::create(&paths.state_tmp)?;
        temporary.write_all(state.render().as_bytes())?;
        temporary.sync_all()?;
        drop(temporary);
        std::fs::rename(&paths.state_tmp, &paths.state)?;
        sync_directory_of(&paths.state);
        self.written_version.store(version, Ordering::Relaxed);
        Ok(())
    }

    /// Waits (up to `limit`) for the writer threads to finish the chunks
    /// they were given.
    async fn writers_done(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.writers.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Best effort: makes a rename in the directory of `path` durable.
fn sync_directory_of(path: &Path) {
    #[cfg(unix)]
    {
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Ok(directory) = File::open(directory) {
            let _ = directory.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes all of `data` at `offset` of `file`, without moving a shared
/// file position (several writer threads use the same handle).
#[cfg(unix)]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

/// Writes all of `data` at `offset` of `file`, without moving a shared
/// file position (several writer threads use the same handle).
#[cfg(windows)]
fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    while !data.is_empty() {
        match std::os::windows::fs::FileExt::seek_write(file, data, offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            written => {
                data = &data[written..];
                offset += written as u64;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------

/// The progress bar, or plain lines when stderr is not a terminal or
/// `--no-progress` was given. Either way indicatif keeps the numbers
/// (position, rate, ETA).
#[derive(Clone)]
struct Reporter {
    bar: ProgressBar,
    plain: bool,
    resumes: Arc<AtomicU64>,
    /// Requests sent again because no response came (not resumes).
    requests_again: Arc<AtomicU64>,
    /// Bytes fetched in this run (not counting those of earlier runs).
    fetched: Arc<AtomicU64>,
}

impl Reporter {
    fn new(progress: bool) -> Reporter {
        let plain = !progress || !io::stderr().is_terminal();
        let bar = if plain {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
        } else {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        };
        let reporter = Reporter {
            bar,
            plain,
            resumes: Arc::new(AtomicU64::new(0)),
            requests_again: Arc::new(AtomicU64::new(0)),
            fetched: Arc::new(AtomicU64::new(0)),
        };
        reporter.set_length(None);
        reporter
    }

    /// Prints a line (above the bar, if there is one).
    fn say(&self, line: impl AsRef<str>) {
        if self.plain {
            eprintln!("download: {}", line.as_ref());
        } else {
            self.bar.println(format!("download: {}", line.as_ref()));
        }
    }

    /// Starts counting from `position` of `length` (a new start or a resume).
    fn start(&self, position: u64, length: Option<u64>) {
        self.set_length(length);
        self.bar.set_position(position);
        self.bar.reset_eta();
    }

    fn set_length(&self, length: Option<u64>) {
        let template = match length {
            Some(length) => {
                self.bar.set_length(length);
                "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}"
            }
            None => {
                self.bar.unset_length();
                "{spinner} {elapsed_precise} {bytes} {binary_bytes_per_sec} {msg}"
            }
        };
        let style = ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> ");
        self.bar.set_style(style);
        self.update_message();
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.fetched.fetch_add(bytes, Ordering::Relaxed);
    }

    fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// The layer's `on_retry`: one more resume.
    fn retried(&self, retry: &Retry<'_>) {
        self.resumes.fetch_add(1, Ordering::Relaxed);
        self.update_message();
        self.say(format!(
            "connection lost after {} bytes of a response ({}); resume {} in {:?}",
            retry.offset,
            error_chain(retry.error),
            retry.attempt,
            retry.delay,
        ));
    }

    /// A request that got no response is sent again (not a resume).
    fn request_retried(&self, attempt: u32, delay: Duration, why: &str) {
        self.requests_again.fetch_add(1, Ordering::Relaxed);
        self.say(format!(
            "request failed ({why}); try {attempt} in {delay:?}"
        ));
    }

    fn resumes(&self) -> u64 {
        self.resumes.load(Ordering::Relaxed)
    }

    /// `N resume(s)`, and `, M request(s) sent again` when there were any.
    fn summary(&self) -> String {
        let again = self.requests_again.load(Ordering::Relaxed);
        let mut text = format!("{} resume(s)", self.resumes());
        if again > 0 {
            write!(text, ", {again} request(s) sent again").expect("String");
        }
        text
    }

    fn update_message(&self) {
        let resumes = self.resumes();
        self.bar.set_message(format!(
            "{resumes} resume{}",
            if resumes == 1 { "" } else { "s" }
        ));
    }

    /// One plain progress line (plain mode only).
    fn plain_line(&self) {
        if !self.plain {
            return;
        }
        let position = self.bar.position();
        let rate = self.bar.per_sec();
        let mut line = format!("{}", HumanBytes(position));
        if let Some(length) = self.bar.length().filter(|&length| length > 0) {
            let percent = position as f64 * 100.0 / length as f64;
            write!(line, " of {} ({percent:.0}%)", HumanBytes(length)).expect("String");
            if rate > 0.0 {
                write!(line, ", ETA {}", HumanDuration(self.bar.eta())).expect("String");
            }
        }
        write!(
            line,
            ", {}/s, {} resume(s)",
            HumanBytes(rate as u64),
            self.resumes()
        )
        .expect("String");
        self.say(line);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

// ---------------------------------------------------------------------------
// Downloading
// ---------------------------------------------------------------------------

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Everything one run needs.
struct Download {
    url: Uri,
    paths: Paths,
    connections: usize,
    idle_timeout: Duration,
    /// The plain client, for `HEAD`.
    client: HttpClient,
    /// The client behind the [`ResumeLayer`], for every `GET`.
    sender: Sender,
    reporter: Reporter,
    /// The state of the download in progress, for a checkpoint on Ctrl-C.
    current: Mutex<Option<Arc<Shared>>>,
}

/// Why a run (or one start of it) ended without the file.
#[derive(Debug)]
enum Failure {
    /// The partial download does not belong to the resource as it is now:
    /// discard it and start over in this run.
    StartOver(String),
    /// The server ignores ranges: discard and start over on one connection.
    NoRanges(String),
    /// The resource changed while a body was being resumed: discard, stop.
    Changed(String),
    /// Ctrl-C: checkpoint and stop.
    Interrupted,
    /// Anything else: checkpoint and stop; the next run resumes.
    Failed(String),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Failed(error.to_string())
    }
}

/// An error and its sources, `: `-separated.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            write!(text, ": {cause_text}").expect("String");
        }
        source = cause.source();
    }
    text
}

fn with_context(context: impl std::fmt::Display) -> impl FnOnce(io::Error) -> Failure {
    move |error| Failure::Failed(format!("{context}: {error}"))
}

impl Download {
    fn new(args: &Args) -> Download {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let reporter = Reporter::new(args.progress);
        let on_retry = reporter.clone();
        let layer = ResumeLayer::new()
            .max_attempts(args.max_attempts)
            .idle_timeout(args.idle_timeout)
            // A change is a reason to stop and start over as a whole, not
            // to restart one segment of a file on its own.
            .restart_on_change(false)
            .resume_without_validator(false)
            .on_retry(move |retry: &Retry<'_>| on_retry.retried(retry));
        let sender = Sender {
            service: ServiceBuilder::new().layer(layer).service(client.clone()),
            max_attempts: args.max_attempts,
            idle_timeout: args.idle_timeout,
            reporter: reporter.clone(),
        };
        Download {
            url: args.url.clone(),
            paths: Paths::new(&args.output),
            connections: args.connections,
            idle_timeout: args.idle_timeout,
            client,
            sender,
            reporter,
            current: Mutex::new(None),
        }
    }

    /// Downloads, starting over (up to [`MAX_STARTS`] times) when the
    /// partial download turns out to belong to another version, or when
    /// segments cannot be used. A start from the state file may start over;
    /// fresh segments that fail fall back to one connection, which does
    /// not start over: three starts always suffice.
    async fn run(&self) -> Result<u64, Failure> {
        let mut one_connection = false;
        let mut last = String::new();
        for _ in 0..MAX_STARTS {
            match self.start(one_connection).await {
                Err(Failure::StartOver(why)) => {
                    self.reporter.say(&why);
                    last = why;
                }
                Err(Failure::NoRanges(why)) => {
                    self.reporter.say(&why);
                    one_connection = true;
                    last = why;
                }
                done_or_failed => return done_or_failed,
            }
            self.paths
                .discard()
                .map_err(with_context("cannot remove the partial download"))?;
        }
        Err(Failure::Failed(format!(
            "started over {MAX_STARTS} times without finishing; giving up (last: {last})"
        )))
    }

    /// One start: resume what the state file describes, or begin anew.
    async fn start(&self, one_connection: bool) -> Result<u64, Failure> {
        if let Some(state) = self.load_state()? {
            self.reporter.say(format!(
                "resuming at {} of {} ({}, {} segment(s))",
                HumanBytes(state.done()),
                state
                    .length
                    .map_or("unknown length".to_owned(), |l| HumanBytes(l).to_string()),
                Validator::describe(state.validator.as_ref()),
                state.segments.len(),
            ));
            let part = std::fs::OpenOptions::new()
                .write(true)
                .open(&self.paths.part)
                .map_err(with_context(self.paths.part.display()))?;
            return self.fetch(Shared::new(state, part), None).await;
        }
        self.paths
            .discard()
            .map_err(with_context("cannot remove an old partial download"))?;
        if self.connections > 1 && !one_connection {
            if let Some(state) = self.plan_segments().await {
                let part = std::fs::File::create(&self.paths.part)
                    .map_err(with_context(self.paths.part.display()))?;
                part.set_len(state.length.unwrap_or(0))
                    .map_err(with_context(self.paths.part.display()))?;
                return self
                    .fetch(Shared::new(state, part), None)
                    .await
                    .map_err(|failure| match failure {
                        // Segments planned from a HEAD moments ago: a GET
                        // with another tag or length may be a change, or a
                        // server whose HEAD and GET disagree (a tag derived
                        // from the body sent). Planning from HEAD again
                        // would fail the same way: one connection.
                        Failure::StartOver(why) => Failure::NoRanges(format!(
                            "the server's answers disagree with its HEAD ({why}); \
                             using one connection"
                        )),
                        other => other,
                    });
            }
        }
        self.fetch_whole().await
    }

    /// The state file, if it describes a partial download this run can
    /// continue; says why not otherwise.
    fn load_state(&self) -> Result<Option<State>, Failure> {
        let paths = &self.paths;
        let text = match std::fs::read_to_string(&paths.state) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if paths.part.exists() {
                    self.reporter.say(format!(
                        "{} has no {} beside it; starting over",
                        paths.part.display(),
                        paths.state.display()
                    ));
                }
                return Ok(None);
            }
            Err(error) => return Err(with_context(paths.state.display())(error)),
        };
        let why_not = match State::parse(&text) {
            Err(error) => format!("cannot use {}: {error}", paths.state.display()),
            Ok(state) if state.url != self.url.to_string() => format!(
                "{} is for {}, not {}",
                paths.state.display(),
                state.url,
                self.url
            ),
            Ok(state) if state.validator.is_none() => {
                "the partial download has no validator (the server sent neither a strong ETag \
                 nor Last-Modified), so it cannot be resumed safely"
                    .to_owned()
            }
            Ok(state) => {
                let part_length = std::fs::metadata(&paths.part).map(|m| m.len()).ok();
                // Every segment's bytes so far must be there.
                let needed = state.segments.iter().map(Segment::next).max().unwrap_or(0);
                match part_length {
                    Some(part_length) if part_length >= needed => return Ok(Some(state)),
                    Some(part_length) => format!(
                        "{} has {part_length} bytes, fewer than the {needed} {} counts",
                        paths.part.display(),
                        paths.state.display()
                    ),
                    None => format!("{} is missing", paths.part.display()),
                }
            }
        };
        self.reporter.say(format!("{why_not}; starting over"));
        Ok(None)
    }

    /// `HEAD`, and a segment layout when the server can serve one: a known
    /// length, `Accept-Ranges: bytes` and a validator to keep the segments
    /// to one version. `None` (with the reason said) for one connection.
    async fn plan_segments(&self) -> Option<State> {
        let request = Request::builder()
            .method(Method::HEAD)
            .uri(self.url.clone())
            .header(header::USER_AGENT, USER_AGENT)
            .body(Empty::new())
            .expect("a valid request");
        let response = tokio::time::timeout(self.idle_timeout, self.client.request(request)).await;
        let why_not = match response {
            Err(_) => "HEAD timed out".to_owned(),
            Ok(Err(error)) => format!("HEAD failed ({})", error_chain(&error)),
            Ok(Ok(response)) if response.status() != StatusCode::OK => {
                format!("HEAD answered {}", response.status())
            }
            Ok(Ok(response)) => {
                let headers = response.headers();
                let length = headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                let ranges = headers
                    .get_all(header::ACCEPT_RANGES)
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .flat_map(|value| value.split(','))
                    .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"));
                let validator = Validator::of(headers);
                match (length, ranges, validator) {
                    (None, _, _) => "the server gave no length".to_owned(),
                    (_, false, _) => "the server does not announce byte ranges".to_owned(),
                    (_, _, None) => "the server sent no validator (strong ETag or \
                                     Last-Modified) to keep the segments to one version"
                        .to_owned(),
                    (Some(length), true, Some(validator)) => {
                        let count = (self.connections as u64).min(length / MIN_SEGMENT);
                        if count >= 2 {
                            return Some(State {
                                url: self.url.to_string(),
                                validator: Some(validator),
                                length: Some(length),
                                segments: split(length, count),
                            });
                        }
                        format!("{} is too small to split", HumanBytes(length))
                    }
                }
            }
        };
        self.reporter.say(format!(
            "--connections {}: {why_not}; using one connection",
            self.connections
        ));
        None
    }

    /// A fresh download on one connection: `GET` without `Range`; the
    /// response tells the length and the validator.
    async fn fetch_whole(&self) -> Result<u64, Failure> {
        let whole = Ask {
            url: self.url.clone(),
            range: None,
            if_range: None,
        };
        let response = self.sender.send(&whole).await?;
        if response.status() != StatusCode::OK {
            return Err(Failure::Failed(format!(
                "{} answered {}",
                self.url,
                response.status()
            )));
        }
        let headers = response.headers();
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        let validator = Validator::of(headers);
        if validator.is_none() {
            self.reporter.say(
                "the server sent no validator (strong ETag or Last-Modified): \
                 an interrupted download will have to start over",
            );
        }
        let state = State {
            url: self.url.to_string(),
            validator,
            length,
            segments: vec![Segment {
                start: 0,
                end: length,
                done: 0,
            }],
        };
        let part = std::fs::File::create(&self.paths.part)
            .map_err(with_context(self.paths.part.display()))?;
        part.set_len(length.unwrap_or(0))
            .map_err(with_context(self.paths.part.display()))?;
        self.fetch(Shared::new(state, part), Some(response)).await
    }

    /// Fetches every unfinished segment at once, checkpointing the state
    /// as it goes; the first segment may come with its response already.
    async fn fetch(
        &self,
        shared: Arc<Shared>,
        mut first: Option<Response<ResumeBody>>,
    ) -> Result<u64, Failure> {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(shared.clone());
        let state = shared.snapshot();
        self.reporter.start(state.done(), state.length);
        self.checkpoint(&shared).await?;

        let mut segments = JoinSet::new();
        for (index, segment) in state.segments.iter().enumerate() {
            if segment.is_complete() {
                continue;
            }
            let response = first.take();
            let task = SegmentTask {
                index,
                ask: self.rest_of(&state, segment),
                sender: self.sender.clone(),
                part: self.paths.part.clone(),
                shared: shared.clone(),
                length: state.length,
                reporter: self.reporter.clone(),
                validator: state.validator.clone(),
                url: self.url.to_string(),
            };
            segments.spawn(task.run(response));
        }

        let every = std::env::var(CHECKPOINT_ENV)
            .ok()
            .and_then(|text| text.parse().ok())
            .filter(|&millis| millis > 0)
            .map_or(CHECKPOINT_EVERY, Duration::from_millis);
        let mut ticks = tokio::time::interval(every);
        let mut last_plain_line = Instant::now();
        let outcome = loop {
            tokio::select! {
                joined = segments.join_next() => match joined {
                    None => break Ok(()),
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(failure))) => break Err(failure),
                    Some(Err(panicked)) => {
                        break Err(Failure::Failed(format!("a segment task failed: {panicked}")))
                    }
                },
                _ = ticks.tick() => {
                    self.checkpoint(&shared).await?;
                    if last_plain_line.elapsed() >= PLAIN_PROGRESS_EVERY {
                        last_plain_line = Instant::now();
                        self.reporter.plain_line();
                    }
                }
            }
        };
        segments.shutdown().await;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;

        match outcome {
            Ok(()) => self.finish(&shared),
            Err(failure @ (Failure::Failed(_) | Failure::Interrupted)) => {
                shared.writers_done(WRITERS_DRAIN).await;
                self.checkpoint(&shared).await?;
                Err(failure)
            }
            // Starting over or stopping after a change: the caller discards.
            Err(failure) => Err(failure),
        }
    }

    /// The part file is complete: the state goes, then it becomes `OUTPUT`
    /// (a crash in between leaves a part file without a state: the next
    /// run starts over, as it would with a state but no part file).
    fn finish(&self, shared: &Shared) -> Result<u64, Failure> {
        let state = shared.snapshot();
        let written = state.done();
        let part = &shared.part;
        // Cut anything past the end: an unknown length is what was written;
        // a part file from an older run may be longer.
        part.set_len(state.length.unwrap_or(written))
            .map_err(with_context(self.paths.part.display()))?;
        part.sync_all()
            .map_err(with_context(self.paths.part.display()))?;
        for path in [&self.paths.state, &self.paths.state_tmp] {
            match std::fs::remove_file(path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    return Err(with_context(path.display())(error))
                }
                _ => {}
            }
        }
        std::fs::rename(&self.paths.part, &self.paths.output).map_err(with_context(format!(
            "cannot rename {} to {}",
            self.paths.part.display(),
            self.paths.output.display()
        )))?;
        sync_directory_of(&self.paths.output);
        Ok(written)
    }

    async fn checkpoint(&self, shared: &Arc<Shared>) -> Result<(), Failure> {
        let shared = shared.clone();
        let paths = Paths::new(&self.paths.output);
        tokio::task::spawn_blocking(move || shared.checkpoint(&paths))
            .await
            .map_err(|error| Failure::Failed(error.to_string()))?
            .map_err(with_context(format!(
                "cannot write {}",
                self.paths.state.display()
            )))
    }

    /// The checkpoint on Ctrl-C, after the download future was dropped:
    /// once the writers have written what they hold, so that every byte
    /// in the part file by then is counted.
    async fn checkpoint_now(&self) {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(shared) = current {
            shared.writers_done(WRITERS_DRAIN).await;
            if let Err(error) = shared.checkpoint(&self.paths) {
                self.reporter.say(format!(
                    "cannot write {}: {error}",
                    self.paths.state.display()
                ));
            }
        }
    }

    /// What to ask for the rest of a segment: `Range` (`K-` for the last
    /// segment, `K-LAST` for the others) with `If-Range`.
    fn rest_of(&self, state: &State, segment: &Segment) -> Ask {
        let range = match segment.end.filter(|&end| Some(end) != state.length) {
            Some(end) => format!("bytes={}-{}", segment.next(), end - 1),
            None => format!("bytes={}-", segment.next()),
        };
        Ask {
            url: self.url.clone(),
            range: Some(range),
            if_range: state.validator.as_ref().map(|v| v.value().to_owned()),
        }
    }
}

/// One `GET`: the whole resource, or a range of it with `If-Range`.
#[derive(Clone, Debug)]
struct Ask {
    url: Uri,
    range: Option<String>,
    if_range: Option<String>,
}

impl Ask {
    fn request(&self) -> Result<Request<Empty<Bytes>>, Failure> {
        let mut request = Request::builder()
            .uri(self.url.clone())
            .header(header::USER_AGENT, USER_AGENT);
        if let Some(range) = &self.range {
            request = request.header(header::RANGE, range);
            if let Some(validator) = &self.if_range {
                request = request.header(header::IF_RANGE, validator);
            }
        }
        request
            .body(Empty::new())
            .map_err(|error| Failure::Failed(format!("cannot make a request: {error}")))
    }
}

/// Sends requests through the [`ResumeLayer`]: the layer resumes bodies,
/// this sends a request again when no response comes at all (a refused
/// or broken connection, no head within the idle timeout, a `5xx`/`429`).
#[derive(Clone)]
struct Sender {
    service: ResumeService<HttpClient>,
    max_attempts: u32,
    idle_timeout: Duration,
    reporter: Reporter,
}

impl Sender {
    async fn send(&self, ask: &Ask) -> Result<Response<ResumeBody>, Failure> {
        let mut tries = 0;
        loop {
            let request = ask.request()?;
            let answer =
                tokio::time::timeout(self.idle_timeout, self.service.clone().oneshot(request))
                    .await;
            let why = match answer {
                Ok(Ok(response)) => {
                    let status = response.status();
                    if !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS) {
                        return Ok(response);
                    }
                    format!("the server answered {status}")
                }
                Ok(Err(error)) => error_chain(&*error),
                Err(_) => format!("no response for {:?}", self.idle_timeout),
            };
            tries += 1;
            if tries > self.max_attempts {
                return Err(Failure::Failed(format!("{}: {why}", ask.url)));
            }
            let delay = REQUEST_BACKOFF
                .saturating_mul(1 << (tries - 1).min(16))
                .min(MAX_REQUEST_BACKOFF);
            self.reporter.request_retried(tries, delay, &why);
            tokio::time::sleep(delay).await;
        }
    }
}

/// Splits `0..length` into `count` segments of (almost) equal size.
fn split(length: u64, count: u64) -> Vec<Segment> {
    let bound = |i: u64| (u128::from(length) * u128::from(i) / u128::from(count)) as u64;
    (0..count)
        .map(|i| Segment {
            start: bound(i),
            end: Some(bound(i + 1)),
            done: 0,
        })
        .collect()
}

/// One segment: its request, and where its bytes go.
struct SegmentTask {
    index: usize,
    ask: Ask,
    sender: Sender,
    /// For messages; the writes go to `shared.part`.
    part: PathBuf,
    shared: Arc<Shared>,
    /// The complete length, when known.
    length: Option<u64>,
    reporter: Reporter,
    validator: Option<Validator>,
    url: String,
}

impl SegmentTask {
    async fn run(self, response: Option<Response<ResumeBody>>) -> Result<(), Failure> {
        // A response that came with the task answered a request for the
        // whole resource and has been checked.
        let response = match response {
            Some(response) => return self.write(response.into_body()).await,
            None => self.sender.send(&self.ask).await?,
        };
        let segment = self.shared.snapshot().segments[self.index].clone();
        match response.status() {
            StatusCode::PARTIAL_CONTENT => self.check_partial(response.headers(), &segment)?,
            StatusCode::OK => {
                let theirs = Validator::of(response.headers());
                return Err(if theirs.is_some() && theirs == self.validator {
                    Failure::NoRanges(format!(
                        "the server ignored the Range request and sent the whole resource \
                         ({} unchanged); starting over on one connection",
                        Validator::describe(theirs.as_ref()),
                    ))
                } else {
                    Failure::StartOver(format!(
                        "{} changed on the server since the partial download ({} -> {}); \
                         the partial download is discarded, starting over",
                        self.url,
                        Validator::describe(self.validator.as_ref()),
                        Validator::describe(theirs.as_ref()),
                    ))
                });
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                // A run of unknown length that stopped after its last byte
                // asks for `bytes=N-` of an `N`-byte resource.
                let held = segment.next();
                let unchanged = self
                    .validator
                    .as_ref()
                    .is_some_and(|ours| ours.contradicted_by(response.headers()).is_none());
                let total = ContentRange::of(response.headers()).and_then(|range| range.total);
                if segment.end.is_none() && unchanged && total == Some(held) {
                    let mut state = self.shared.lock();
                    state.length = Some(held);
                    state.segments[self.index].end = Some(held);
                    return Ok(());
                }
                return Err(Failure::StartOver(format!(
                    "{} is now shorter than the partial download, so it changed; starting over",
                    self.url
                )));
            }
            status => return Err(Failure::Failed(format!("{} answered {status}", self.url))),
        }
        self.write(response.into_body()).await
    }

    /// A `206` to a segment's request is written only if it is the range
    /// asked for, of the stored length and version; otherwise nothing of
    /// it is written and the download starts over.
    fn check_partial(&self, headers: &HeaderMap, segment: &Segment) -> Result<(), Failure> {
        if let Some(theirs) = self
            .validator
            .as_ref()
            .and_then(|ours| ours.contradicted_by(headers))
        {
            return Err(Failure::StartOver(format!(
                "{} changed on the server since the partial download ({} -> {}; the server \
                 sent a range of the new version despite If-Range); the partial download is \
                 discarded, starting over",
                self.url,
                Validator::describe(self.validator.as_ref()),
                Validator::describe(Some(&theirs)),
            )));
        }
        let asked = format!(
            "bytes {}-{}",
            segment.next(),
            segment
                .end
                .map_or(String::new(), |end| (end - 1).to_string())
        );
        let Some(ContentRange {
            range: Some((first, last)),
            total,
        }) = ContentRange::of(headers)
        else {
            return Err(Failure::NoRanges(format!(
                "the server answered 206 to a request for {asked} without a usable \
                 Content-Range; starting over on one connection"
            )));
        };
        if let (Some(length), Some(total)) = (self.length, total) {
            if total != length {
                return Err(Failure::StartOver(format!(
                    "{} changed on the server since the partial download (it is now {total} \
                     bytes long, not {length}); the partial download is discarded, starting over",
                    self.url
                )));
            }
        }
        // The last byte: the segment's, else (unknown length) the resource's.
        let expected_last = match segment.end {
            Some(end) => Some(end - 1),
            None => total.map(|total| total.saturating_sub(1)),
        };
        let total_known = self.length.is_none() || total.is_some();
        if first != segment.next() || expected_last.is_some_and(|l| l != last) || !total_known {
            let total = total.map_or("*".to_owned(), |total| total.to_string());
            return Err(Failure::NoRanges(format!(
                "the server answered bytes {first}-{last}/{total} to a request for {asked}; \
                 nothing of it was written; starting over on one connection"
            )));
        }
        Ok(())
    }

    /// Writes the body at the segment's offset. A blocking writer thread
    /// does the file writes, so reading the network and writing the disk
    /// overlap; it counts each chunk in the state once the OS has it.
    async fn write(&self, body: ResumeBody) -> Result<(), Failure> {
        let segment = self.shared.snapshot().segments[self.index].clone();
        let (queue, mut queued) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let writer = {
            let (shared, reporter) = (self.shared.clone(), self.reporter.clone());
            let (index, mut offset) = (self.index, segment.next());
            shared.writers.fetch_add(1, Ordering::AcqRel);
            tokio::task::spawn_blocking(move || -> io::Result<()> {
                let written = (|| {
                    while let Some(data) = queued.blocking_recv() {
                        write_all_at(&shared.part, &data, offset)?;
                        offset += data.len() as u64;
                        shared.advance(index, data.len() as u64);
                        reporter.advance(data.len() as u64);
                    }
                    Ok(())
                })();
                shared.writers.fetch_sub(1, Ordering::AcqRel);
                written
            })
        };
        let read = self.read(body, &segment, queue).await;
        // The queue is closed: the writer ends once it has written it all.
        let written = match writer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(with_context(self.part.display())(error)),
            Err(panicked) => Err(Failure::Failed(format!("the writer failed: {panicked}"))),
        };
        let position = written.and(read)?;
        if segment.end.is_none() {
            let mut state = self.shared.lock();
            state.length = Some(position);
            state.segments[self.index].end = Some(position);
        }
        Ok(())
    }

    /// Reads the body into the writer's queue, up to the segment's end;
    /// the position after the last byte.
    async fn read(
        &self,
        body: ResumeBody,
        segment: &Segment,
        queue: tokio::sync::mpsc::Sender<Bytes>,
    ) -> Result<u64, Failure> {
        let mut position = segment.next();
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| self.body_failure(error, position))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let length = data.len() as u64;
            if segment.end.is_some_and(|end| position + length > end) {
                return Err(Failure::Failed(format!(
                    "{} sent more bytes than segment {}-{:?} holds",
                    self.url, segment.start, segment.end
                )));
            }
            if queue.send(data).await.is_err() {
                // The writer failed; it says why.
                return Ok(position);
            }
            position += length;
        }
        match segment.end.filter(|&end| position < end) {
            Some(end) => Err(Failure::Failed(format!(
                "{} ended at byte {position}, before {end}",
                self.url
            ))),
            None => Ok(position),
        }
    }

    /// What a body error means for the download; `position` is the next
    /// byte of the resource this segment would have written.
    fn body_failure(&self, error: ResumeError, position: u64) -> Failure {
        match error.kind() {
            ResumeErrorKind::ResourceChanged => Failure::Changed(format!(
                "{} changed on the server during the download (it was {}; resuming at \
                 byte {position} got another version)",
                self.url,
                Validator::describe(self.validator.as_ref()),
            )),
            ResumeErrorKind::NoValidator => Failure::Failed(format!(
                "the connection broke at byte {position} and the server sent no validator \
                 (strong ETag or Last-Modified), so the rest cannot be fetched safely; the \
                 next run starts over ({})",
                error_chain(&error),
            )),
            _ => Failure::Failed(format!("{}: {}", self.url, error_chain(&error))),
        }
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            println!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Bad(message)) => {
            eprintln!("download: {message}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("download: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(download(args))
}

/// Ctrl-C, or `SIGTERM` on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    // Without a handler, the signal ends the process as usual.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn download(args: Args) -> ExitCode {
    let download = Download::new(&args);
    let started = Instant::now();
    let outcome = tokio::select! {
        outcome = download.run() => outcome,
        _ = stop_signal() => Err(Failure::Interrupted),
    };
    download.reporter.finish();
    let resumes = download.reporter.summary();
    let paths = &download.paths;
    match outcome {
        Ok(bytes) => {
            let elapsed = started.elapsed();
            let fetched = download.reporter.fetched();
            let rate = fetched as f64 / elapsed.as_secs_f64().max(1e-3);
            let earlier = if fetched < bytes {
                format!(", {} of them from earlier runs", bytes - fetched)
            } else {
                String::new()
            };
            eprintln!(
                "download: saved {} ({bytes} bytes{earlier}) in {:.1} s, {}/s, {resumes}",
                paths.output.display(),
                elapsed.as_secs_f64(),
                HumanBytes(rate as u64),
            );
            ExitCode::SUCCESS
        }
        Err(Failure::Interrupted) => {
            download.checkpoint_now().await;
            if paths.state.exists() {
                eprintln!(
                    "download: interrupted; {} and {} are kept: run the same command again to resume",
                    paths.part.display(),
                    paths.state.display()
                );
            } else {
                eprintln!("download: interrupted before the first byte");
            }
            ExitCode::from(130)
        }
        Err(Failure::Changed(why)) => {
            let discarded = match paths.discard() {
                Ok(()) => "the partial download was removed so that old and new bytes never mix"
                    .to_owned(),
                Err(error) => format!(
                    "could not remove {} ({error}): delete it and {} by hand",
                    paths.part.display(),
                    paths.state.display()
                ),
            };
            eprintln!("download: {why}; {discarded}; run again to download the new version");
            ExitCode::from(3)
        }
        Err(Failure::Failed(why) | Failure::StartOver(why) | Failure::NoRanges(why)) => {
            let kept = if paths.state.exists() {
                format!(
                    "; {} and {} are kept: run the same command again to resume",
                    paths.part.display(),
                    paths.state.display()
                )
            } else {
                String::new()
            };
            eprintln!("download: failed ({resumes}): {why}{kept}");
            ExitCode::FAILURE
        }
    }
}
