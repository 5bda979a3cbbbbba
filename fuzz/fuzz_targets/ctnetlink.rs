//! libFuzzer target `ctnetlink`: runs one input through `hopdump_fuzz::ctnetlink` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::ctnetlink(data));
