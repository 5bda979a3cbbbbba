//! hopdump-tui: the live terminal view of `hopdump trace --tui` — the hops in path order
//! filling in as packets arrive, per-hop counters, kernel drops as they happen and the verdict
//! panel, with keys to expand a hop's packets and evidence.
//!
//! Three layers, each testable alone: [`App`] (pure state: events, keys and the time passed
//! in), [`ui::draw`] (one frame from an `App`; tested on ratatui's `TestBackend`) and
//! [`run`] (the crossterm loop: raw mode and alternate screen only while a [`term::Session`]
//! lives, restored on quit, on drop, on panic and on SIGINT/SIGTERM/SIGHUP). The trace feeds
//! [`TuiEvent`]s through a `std::sync::mpsc` channel; the same events as JSON lines drive the
//! `hopdump-tui-replay` binary ([`replay`]).
//!
//! ```no_run
//! use hopdump_tui::{TuiEvent, TuiOptions, HopInfo};
//! let (tx, rx) = std::sync::mpsc::channel();
//! std::thread::spawn(move || {
//!     let hops = vec![HopInfo { node: "client".into(), iface: "eth0".into(), role: "client".into() }];
//!     let _ = tx.send(TuiEvent::Planned { title: "198.51.100.240:80/tcp".into(), hops });
//!     // … Armed, Counts, Packet, Drop, Note, then Verdict; a failed send means the user quit.
//! });
//! hopdump_tui::run(rx, &TuiOptions::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod app;
pub mod event;
pub mod replay;
pub mod term;
pub mod ui;

pub use app::{App, Key, TuiOptions};
pub use event::{HopCounters, HopInfo, TuiEvent};
pub use term::{Ending, run, run_to_end};
