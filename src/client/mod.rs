//! The client side (feature `client`): [`ResumeLayer`], response bodies that
//! survive connection failures without ever stitching two versions of a
//! resource together.
//!
//! Wrap an HTTP client service, such as hyper-util's legacy `Client`:
//!
//! ```no_run
//! use http_body_util::{BodyExt, Empty};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_range::client::{ResumeErrorKind, ResumeLayer};
//!
//! # async fn run() -> Result<(), tower_range::BoxError> {
//! let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
//! let client = ServiceBuilder::new()
//!     .layer(ResumeLayer::new().max_attempts(20))
//!     .service(client);
//!
//! let request = http::Request::get("http://127.0.0.1:3000/file/big.iso").body(Empty::new())?;
//! let mut body = client.oneshot(request).await?.into_body();
//! let mut received = 0u64;
//! while let Some(frame) = body.frame().await {
//!     match frame {
//!         Ok(frame) => received += frame.data_ref().map_or(0, |data| data.len() as u64),
//!         Err(error) if error.kind() == ResumeErrorKind::ResourceChanged => {
//!             eprintln!("changed after {} bytes: start over", error.offset());
//!             break;
//!         }
//!         Err(error) => return Err(error.into()),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What is resumed
//!
//! Only a `GET` answered `200`, or `206` to the caller's own single range
//! `bytes=a-b` or `bytes=a-` whose `Content-Range` starts at `a` and ends
//! no later than `b` (a shorter answer is continued within what it
//! announced). Other methods, other statuses, a `206` to a suffix
//! (`bytes=-n`) or multi-range request, a `206` that is not the range asked
//! for (`bytes=2-5` answered `0-10/11`), a `200` with `Content-Length: 0`:
//! the body passes through as it is ([`ResumeBody::is_resumable`] is
//! `false`), its errors reported as
//! [`NotResumable`](ResumeErrorKind::NotResumable). A failure of the first
//! request itself (no response at all) is the service's error, not retried
//! here: that is `tower::retry`'s job.
//!
//! An attempt fails when the body errors (a reset, a closed connection),
//! when no frame arrives for [`idle_timeout`](ResumeLayer::idle_timeout),
//! or when the body ends cleanly before its announced length. That length
//! comes from `Content-Length` (for a `200`) or `Content-Range` (for a
//! `206`): **without either, an early clean end cannot be told from the
//! real end**, and is taken as the end (a chunked body that is cut short
//! still errors, and is resumed).
//!
//! # How a resume is made and checked
//!
//! After K bytes the request is sent again (same method, URI, headers and
//! extensions, an empty body from `Default`, without the caller's
//! `Content-Length`, `Transfer-Encoding` and `Expect`) with
//! `Range: bytes=(a+K)-b` (`bytes=K-` for a `200`) and `If-Range` with the
//! first response's validator, replacing any `Range`/`If-Range` of the
//! caller's:
//!
//! - a strong `ETag` when there is one ([`Validator::EntityTag`]);
//! - else, **only when the response has no `ETag` at all**,
//!   `Last-Modified`, when the response's `Date` is at least one second
//!   later, which RFC 9110 §8.8.2.2 lets a client take as strong
//!   ([`Validator::LastModified`]). A weak `ETag` (or several `ETag`
//!   lines) rules the date out: RFC 9110 §13.1.5 forbids a date in
//!   `If-Range` to a client that has an entity tag. A date is coarser than
//!   a tag: a server that rewrites a file twice within a second, or whose
//!   clock goes back, defeats it. [`ResumeBody::validator`] tells which
//!   one a body uses;
//! - else none: the first failure ends the body with
//!   [`NoValidator`](ResumeErrorKind::NoValidator), unless
//!   [`resume_without_validator`](ResumeLayer::resume_without_validator)
//!   is on (a plain `Range`, no `If-Range`; length-only: a same-length
//!   replacement goes unnoticed).
//!
//! The answer must be a `206` whose single `Content-Range` starts exactly
//! at a+K, names the same complete length and does not end beyond the end
//! asked for, with a `Content-Length` (if any) that agrees, at most one
//! line of the validator's field (`ETag`, or `Last-Modified` for a date),
//! and not `multipart/byteranges`: anything else is
//! [`BadContentRange`](ResumeErrorKind::BadContentRange). Its validator,
//! if it carries one, must be the first response's, and its
//! `Content-Encoding` the same (lowercased, trimmed, none = `identity`):
//! otherwise [`ResourceChanged`](ResumeErrorKind::ResourceChanged), a
//! different representation. Its bytes then continue the same body. A
//! `206` that ends *before* the end asked for (RFC 9110 lets a server send
//! less) is taken too: when it has ended, the rest is asked for at once,
//! with no backoff and not as a failure
//! ([`Interruption::ShortRange`] to [`on_retry`](ResumeLayer::on_retry)),
//! and counted against [`max_resumes`](ResumeLayer::max_resumes).
//!
//! A `200` means the `If-Range` did not match:
//! [`ResourceChanged`](ResumeErrorKind::ResourceChanged) (or, with
//! [`restart_on_change`](ResumeLayer::restart_on_change) and nothing
//! delivered yet, the new version from its first byte, in the same
//! `Content-Encoding`), or [`RangeIgnored`](ResumeErrorKind::RangeIgnored)
//! when the `200` carries the same validator (the server ignores ranges).
//!
//! Other statuses: `408`, `429` and `5xx` count as a failed attempt and are
//! retried, after the delay a `Retry-After` asks for on a `503` or `429`
//! (delta-seconds or an HTTP-date; at most the backoff's maximum), but
//! `501` and `505` are final; a `412` when the caller sent `If-Match` or
//! `If-Unmodified-Since` (sent again with each resume) is
//! [`ResourceChanged`](ResumeErrorKind::ResourceChanged); any other status
//! is [`UnexpectedStatus`](ResumeErrorKind::UnexpectedStatus).
//!
//! # Attempts, backoff, observability
//!
//! [`max_attempts`](ResumeLayer::max_attempts) bounds the resumes **in a
//! row without progress**: a failure after new bytes arrived starts the
//! count again, so a long download over a flaky link goes on as long as it
//! moves. [`max_resumes`](ResumeLayer::max_resumes) bounds all resumes over
//! the body's life. Each resume after a failure waits a delay with
//! exponential backoff and full jitter ([`backoff`](ResumeLayer::backoff)).
//! [`retry_if`](ResumeLayer::retry_if) chooses which failures are retried;
//! [`on_retry`](ResumeLayer::on_retry) sees each resume ([`Retry`]), and
//! with the `tracing` feature each is a `debug` event of target
//! `tower_range::client`.
//!
//! # Bodies, encodings, runtimes
//!
//! The body never buffers: frames go to the caller as they come. The
//! response head the caller gets is the first response's. [`ResumeBody`]
//! is `Send + Sync` whatever the inner body is, so it fits
//! `http_body_util::combinators::BoxBody` (or `reqwest::Body::wrap`).
//!
//! Ranges count bytes as sent, in the response's content coding. A
//! decompression layer (such as tower-http's `DecompressionLayer`) must sit
//! **outside** (above) `ResumeLayer`, never between it and the client: the
//! layer has to see the encoded bytes and the `Content-Encoding` they came
//! with.
//!
//! Timers come from Tokio and are made only when the body has to wait: at
//! the first `Pending` of the inner body or of a resume's response (with an
//! [`idle_timeout`](ResumeLayer::idle_timeout)), and for a non-zero backoff
//! delay. A body that never waits works without a runtime; one that waits
//! must be polled within a Tokio runtime with timers enabled (elsewhere
//! that panics, as Tokio's timers do).

mod body;
mod error;
mod layer;
mod service;

pub use body::{ResumeBody, Validator};
pub use error::{Interruption, ResumeError, ResumeErrorKind, Retry};
pub use layer::ResumeLayer;
pub use service::{ResponseFuture, ResumeService};
