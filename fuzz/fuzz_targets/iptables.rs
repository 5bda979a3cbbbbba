//! libFuzzer target `iptables`: runs one input through `hopdump_fuzz::iptables` (see src/entries.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hopdump_fuzz::iptables(data));
