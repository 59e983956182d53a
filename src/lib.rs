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
//! `HEAD` gets the headers a `GET` would get, and no body.
//!
//! # Bodies
//!
//! - **Buffered** bodies (`Full<Bytes>`, `String`, ...) are sliced without a
//!   copy.
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

pub mod header;
pub mod plan;
pub mod source;

pub use body::RangeBody;
pub use future::ResponseFuture;
pub use layer::RangeLayer;
pub use service::RangeService;

/// The error type of [`RangeBody`]: the inner body's error, boxed, or an
/// I/O error of a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
