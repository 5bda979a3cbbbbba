//! hopdump-report: `hopdump trace --report` and `hopdump check --report` as one self-contained
//! HTML file each — inline CSS and SVG, no script, no fetch (a Content-Security-Policy forbids
//! both), every string from the report HTML-escaped. Pure: report in, `String` out; the binary
//! writes the file.

mod check;
mod html;
mod svg;
mod trace;

pub use check::check_html;
pub use html::esc;
pub use trace::{evidence_kind, hop_class, trace_html};
