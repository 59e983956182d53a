//! Byte-range support for any [`tower`](https://docs.rs/tower) HTTP service:
//! resumable downloads, video seeking and parallel segmented fetches, with
//! one layer.
//!
//! [`RangeLayer`] wraps an inner service. For each `GET` or `HEAD` it reads
//! `Range`, `If-Range` and the preconditions, lets the inner service answer,
//! compares the validators with the response's `ETag` and `Last-Modified`,
//! and turns the inner `200 OK` into what RFC 9110 asks for:
//!
//! | request | response |
//! |---|---|
//! | one satisfiable range | `206` with `Content-Range: bytes a-b/len` |
//! | several satisfiable ranges | `206 multipart/byteranges`, parts in request order, overlapping and adjacent ranges merged |
//! | no satisfiable range | `416` with `Content-Range: bytes */len` |
//! | bad syntax, another unit, two `Range` lines, too many ranges, a multipart that would outgrow the file | the full `200` |
//! | `If-Range` that does not match (strong comparison) | the full `200` |
//! | `If-None-Match` / `If-Modified-Since` that say "not modified" | `304` |
//! | `If-Match` / `If-Unmodified-Since` that fail | `412` |
//! | other methods, inner status other than `200`, inner `Content-Range` or `Accept-Ranges: none` | untouched |
//!
//! A `200` whose ranges would be honored says `Accept-Ranges: bytes`. A
//! `HEAD` gets the headers a `GET` would get, and no body, even from an
//! inner service that answers it with the `GET`'s body (what the layer
//! leaves untouched keeps what the inner service sent).
//!
//! # Bodies
//!
//! - **Buffered** bodies (`Full<Bytes>`, `String`, ...) are sliced without a
//!   copy. The layer sees them as any other body, read forward: ranges out
//!   of order are served up to [`RangeLayer::buffer_limit`] (below).
//! - **Seekable** sources (files, any `AsyncRead + AsyncSeek`) are attached to
//!   the response as a [`RangeSource`](source::RangeSource) extension; only
//!   the requested bytes are read, in bounded memory. See [`source`].
//! - **Other** bodies of known length are read forward: skipped up to the
//!   range, taken, and dropped after the last byte needed. A body of unknown
//!   length is buffered up to [`RangeLayer::buffer_limit`]; past it the full
//!   `200` goes out with every byte.
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_range::RangeLayer;
//!
//! let app: Router = Router::new()
//!     .route("/report.csv", get(|| async { "id,name\n1,Ada\n2,Grace\n" }))
//!     .layer(RangeLayer::new());
//! ```
//!
//! # Why do I get 200 instead of 206?
//!
//! Turn on the `tracing` feature: the layer then emits one `debug` event,
//! target `tower_range`, per response it handles, after any buffering,
//! with the fields `decision`, `reason`, `method`, `status` (the inner
//! response's), `len` (when known) and `ranges` (the number of range specs,
//! when the layer got as far as resolving them against the length). With
//! [`tracing-subscriber`](https://docs.rs/tracing-subscriber) and its
//! `env-filter` feature:
//!
//! ```ignore
//! tracing_subscriber::fmt()
//!     .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
//!     .init();
//! ```
//!
//! ```text
//! $ RUST_LOG=tower_range=debug cargo run
//! ... DEBUG tower_range: range decision decision="full" reason="if_range_mismatch" method="GET" status=200 len=1048576
//! ```
//!
//! Any subscriber enabled at `debug` for target `tower_range` sees them.
//! Without the feature nothing is emitted and nothing is paid; with it and
//! `debug` off, the cost is the level check.
//!
//! `decision="full"` (the full `200`), and what to change, by `reason`:
//!
//! | `reason` | why | what to change |
//! |---|---|---|
//! | `no_range` | the request has no `Range` | nothing: the client asked for everything |
//! | `invalid_syntax` | `Range` is not `unit=range-set` (`0-99`) | the client: `Range: bytes=0-99` |
//! | `invalid_spec` | a malformed range set (`bytes=5-1`, `bytes=abc`, `bytes=`) | the client |
//! | `other_unit` | a unit other than `bytes` (`items=0-5`) | the client: only `bytes` exists |
//! | `too_many_ranges` | more specs than [`RangeLayer::max_ranges`] (100) | raise the cap, or ask for fewer ranges |
//! | `repeated_range` | two `Range` lines | the client, or the proxy that duplicates the header |
//! | `if_range_mismatch` | `If-Range` does not match: another `ETag`, a weak one (`W/`), a date that is not the exact, strong `Last-Modified`, two `If-Range` lines | usually right (the content changed); else give the response a strong `ETag` that is stable across requests and replicas (or use `content_etag`, feature `content-etag`) |
//! | `refused` | the inner response says `Accept-Ranges: none` | drop that header in the inner service |
//! | `empty` | the representation is empty: no range of it exists | nothing |
//! | `unknown_length` | the length is unknown and cannot be learned: a `HEAD` without `Content-Length`, or a body without `Content-Length` or exact size hint that outgrew [`RangeLayer::buffer_limit`] (or `content_etag`'s limit) | set `Content-Length`, return a sized body or a [`RangeSource`](source::RangeSource), or raise the limit |
//! | `amplification` | the multipart would be larger than the representation plus [`RangeLayer::multipart_slack`] | the client asks for fewer, larger ranges; or raise the slack |
//! | `buffer_limit` | ranges out of order over a body without a [`RangeSource`](source::RangeSource) (every such body is read forward, `Full<Bytes>` too), needing more than [`RangeLayer::buffer_limit`] bytes held back | attach a [`RangeSource`](source::RangeSource), raise the limit (an in-memory body costs no extra memory: its own frames are held), or ask in ascending order |
//! | `content_encoding` | several ranges of a response with `Content-Encoding` (a multipart cannot carry it) | ask for one range, or move compression outside the layer (see the README) |
//! | `source_error` | the [`RangeSource`](source::RangeSource) failed to open; the inner body went out instead | the source (a deleted file, permissions) |
//! | `body_error` | the inner body failed while the layer was buffering it | the inner body |
//!
//! `decision="pass_through"` (the response is not the layer's to change):
//! `method` (neither `GET` nor `HEAD`), `status` (the inner status is not
//! `200`), `already_partial` (the inner `200` has a `Content-Range` or is
//! `multipart/byteranges`), `contradictory_length` (a `Content-Length` that
//! is invalid, repeated with different values, or different from the body's
//! exact size: fix it in the inner service).
//!
//! Preconditions come before `Range` (RFC 9110 §13.2.2):
//! `decision="not_modified"` (`304`) with `reason` `if_none_match` or
//! `if_modified_since`, and `decision="precondition_failed"` (`412`) with
//! `if_match` or `if_unmodified_since`; turn them off with
//! [`RangeLayer::preconditions`] when the inner service evaluates them.
//! Ranges honored: `partial` (one range) and `multipart`, reason
//! `satisfiable`; `unsatisfiable` (`416`), reason `no_overlap`, when no
//! range overlaps the representation.
//!
//! The words are stable. [`plan::FullReason::as_str`] and
//! [`header::RangeError::as_str`] give them to code that calls
//! [`plan`] itself.
//!
//! # The client side
//!
//! With the `client` feature, [`client::ResumeLayer`] is the other half: a
//! middleware for HTTP *client* services whose response bodies survive
//! connection failures, resuming with `Range` and `If-Range` and never
//! stitching two versions of a resource together.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
#[cfg(feature = "content-etag")]
mod etag;
mod future;
mod layer;
mod multipart;
mod respond;
mod service;
mod trace;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod encoding;
pub mod header;
pub mod plan;
pub mod source;

pub use body::RangeBody;
pub use encoding::EncodingTagLayer;
pub use future::ResponseFuture;
pub use layer::RangeLayer;
pub use service::RangeService;

/// The error type of [`RangeBody`]: the inner body's error, boxed, or an
/// I/O error of a source.
///
/// ```
/// use tower_range::BoxError;
/// let error: BoxError = std::io::Error::other("disk gone").into();
/// assert_eq!(error.to_string(), "disk gone");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
