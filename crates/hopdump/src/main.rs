//! hopdump binary.
fn main() {}
