//! hopdump-engine: the pure heart of `hopdump trace` — evidence in, verdict out. No sockets,
//! no clock, no files: the binary gathers packets, rules and kernel state into [`Evidence`],
//! [`diagnose`] runs small ordered checks over it, and [`report`] shapes the versioned JSON.

pub mod diagnose;
pub mod evidence;
pub mod report;

pub use diagnose::{Code, Finding, diagnose};
pub use evidence::*;
pub use report::{TRACE_SCHEMA, TraceReport};
