#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_range_fuzz::encoding_tag::check(data));
