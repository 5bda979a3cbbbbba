//! libFuzzer target `wire`: runs one input through `hopdump_fuzz::wire` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::wire(data));
