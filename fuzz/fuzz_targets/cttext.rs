//! libFuzzer target `cttext`: runs one input through `hopdump_fuzz::cttext` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::cttext(data));
