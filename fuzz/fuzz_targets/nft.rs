//! libFuzzer target `nft`: runs one input through `hopdump_fuzz::nft` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::nft(data));
