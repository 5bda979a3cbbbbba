//! Live capture at several points (in any network namespace) and pcap/pcapng files.
//!
//! This crate yields and stores raw frames; it never interprets them (that is
//! `hopdump-wire`'s job), so the capture loop stays free of parsing and formatting.

pub mod error;
pub mod filter;
pub mod live;
pub mod netns;
pub mod point;
pub mod read;
pub mod write;

pub use error::{CaptureError, Result};
pub use filter::OfflineFilter;
pub use live::{Frame, LiveCapture, LiveOptions, PointInfo, PointStats};
pub use point::{Netns, PointSpec};
pub use read::{FileFrame, FileInterface, FileReader};
pub use write::{CaptureWriter, FileFormat, WriterInterface};
