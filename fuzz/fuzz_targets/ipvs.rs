//! libFuzzer target `ipvs`: runs one input through `hopdump_fuzz::ipvs` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::ipvs(data));
