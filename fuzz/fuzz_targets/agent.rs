//! libFuzzer target `agent`: runs one input through `hopdump_fuzz::agent` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::agent(data));
