//! libFuzzer target `pcap`: runs one input through `hopdump_fuzz::pcap` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::pcap(data));
