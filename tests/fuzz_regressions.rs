//! The fuzz targets' own checks (`fuzz/src`, included with `#[path]`, as
//! `fuzz/README.md` describes) on every `cargo test`: each input a fuzz run
//! once failed on, and every seed of `fuzz/seeds`, so that a change of the
//! layer or of the checks that breaks them shows without a fuzz run.
#![cfg(feature = "tokio")] // the service check serves a ReaderSource

#[path = "../fuzz/src/encoding_tag.rs"]
#[allow(dead_code)]
mod encoding_tag;
#[path = "../fuzz/src/range_header.rs"]
#[allow(dead_code)]
mod range_header;
#[path = "../fuzz/src/service.rs"]
#[allow(dead_code)]
mod service; // uses crate::range_header

/// CI's 30 s fuzz run after 2a5e1ab: a `HEAD` with two ranges and an
/// `If-Range` that is not a tag, over a seekable source whose inner
/// service answers `HEAD` with its body. The layer now answers the whole
/// `200` with no body, where the check still expected the inner body.
#[test]
fn head_of_the_whole_representation_over_a_source() {
    service::check(&[
        0x04, 0x03, 0x0f, 0xe8, 0x03, 0x00, 0x01, 0x01, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02, 0x00, 0x0f, 0x62, 0x79, 0x74, 0x65, 0x73, 0x3d, 0x30, 0x2d, 0x34, 0x2c, 0x31, 0x30,
        0x2d, 0x31, 0x34, 0x01, 0x04, 0x22, 0x5b, 0x76, 0x31, 0x22,
    ]);
}

/// A fuzz target's check of one input.
type Check = fn(&[u8]);

/// Found by the fuzzer right after the checks learned the above: a `HEAD`
/// whose inner response is a `multipart/byteranges` already is left
/// untouched, body included (the layer only answers what is its own).
#[test]
fn head_of_an_inner_partial_response_is_untouched() {
    service::check(&[0x65, 0x03, 0xff, 0xe8, 0x2c, 0x64, 0x03, 0xff, 0xe8, 0x2c]);
}

#[test]
fn every_seed_passes_its_check() {
    let checks: [(&str, Check); 3] = [
        ("range_header", range_header::check),
        ("service", service::check),
        ("encoding_tag", encoding_tag::check),
    ];
    for (target, check) in checks {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&input));
            assert!(outcome.is_ok(), "{target} seed {}", path.display());
            seeds += 1;
        }
        assert!(seeds >= 5, "{target}: {seeds} seeds in {}", dir.display());
    }
}
