//! The I/O half of `hopdump trace`: planning the path from live node state, the probes, and
//! turning captured frames and kernel drops into the engine's evidence.

pub mod collect;
pub mod plan;
pub mod probe;
pub mod remote;
