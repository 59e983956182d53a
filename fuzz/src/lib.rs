//! The checks behind the fuzz targets, kept out of `fuzz_targets/` so that a
//! regression test of the main crate can run the very same code on a saved
//! input: `tests/fuzz_regressions.rs` includes these files with `#[path]`.
//! Each module depends only on crates the main crate has as (dev-)
//! dependencies.

pub mod encoding_tag;
pub mod range_header;
pub mod service;
