//! libFuzzer target `arp`: runs one input through `hopdump_fuzz::arp` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::arp(data));
