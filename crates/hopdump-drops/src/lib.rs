//! hopdump-drops: why the kernel threw a packet away. An eBPF program on the `skb:kfree_skb`
//! tracepoint reports every dropped packet that matches a tcpdump-style filter (evaluated in
//! the kernel), with the drop reason, the kernel location that freed it, its network
//! namespace and interface, and its headers.
//!
//! ```no_run
//! # fn main() -> hopdump_drops::Result<()> {
//! let opts = hopdump_drops::TraceOptions {
//!     filter: "host 198.51.100.240 and tcp port 80".into(),
//!     ..Default::default()
//! };
//! let tracer = hopdump_drops::Tracer::start(&opts)?;
//! while let Ok(ev) = tracer.events().recv_timeout(std::time::Duration::from_secs(5)) {
//!     println!("{} {} at {}", ev.netns, ev.reason, ev.location_name());
//! }
//! let stats = tracer.stop()?;
//! # let _ = stats; Ok(()) }
//! ```
//!
//! Kernel requirements: BTF (`CONFIG_DEBUG_INFO_BTF`, /sys/kernel/btf/vmlinux), the
//! `skb:kfree_skb` tracepoint with drop reasons (5.17+; the `location`/`reason` arguments) and a
//! BPF ring buffer (5.8+). Privilege: CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN. Without BPF, a
//! tracefs fallback ([`Backend::Tracefs`]) gives reason and location only.

mod abi;
mod bpf;
mod error;
pub mod filter;
pub mod kallsyms;
pub mod names;
pub mod reasons;
mod tracefs;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;

pub use error::{DropsError, Result};
pub use filter::compile as compile_filter;
pub use kallsyms::Kallsyms;
pub use names::{NetnsNames, netns_inode};
pub use reasons::Reasons;

/// Program names as the kernel lists them (`bpftool prog show`), to check nothing is left.
pub const PROGRAM_NAMES: [&str; 2] = [bpf::PROG_BTF, bpf::PROG_RAW];

/// How to trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// eBPF, and the tracefs fallback if eBPF is unavailable and `allow_tracefs` is set.
    #[default]
    Auto,
    /// eBPF only.
    Bpf,
    /// tracefs only (changes kernel tracing state: needs `allow_tracefs`).
    Tracefs,
}

/// How the tracer is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// eBPF on the BTF-typed tracepoint.
    TpBtf,
    /// eBPF on the raw tracepoint.
    RawTp,
    /// A private tracefs instance with the skb:kfree_skb event enabled.
    Tracefs,
}

impl Attach {
    /// What this mode cannot tell, for a warning (empty for eBPF).
    pub fn lost(self) -> &'static [&'static str] {
        match self {
            Attach::TpBtf | Attach::RawTp => &[],
            Attach::Tracefs => &[
                "packet headers (no addresses or ports)",
                "the filter expression (every drop is reported)",
                "network namespace and interface",
                "the --netns selection",
            ],
        }
    }
}

/// What to trace.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// tcpdump-style expression (see [`filter`]); empty = every drop.
    pub filter: String,
    /// Only these network namespaces: (inode, display name). Empty = all.
    pub netns: Vec<(u32, String)>,
    /// Also report NOT_SPECIFIED drops of non-IP packets (netlink, ...), hidden by default.
    pub keep_noise: bool,
    /// eBPF, tracefs or whichever works.
    pub backend: Backend,
    /// The user agreed to state changes (`--yes`): the tracefs fallback may be used.
    pub allow_tracefs: bool,
}

/// Counters of one tracing session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// kfree_skb calls seen (eBPF only).
    pub seen: u64,
    /// Rejected by the filter or the netns selection.
    pub filtered: u64,
    /// NOT_SPECIFIED drops of non-IP packets hidden as noise.
    pub noise: u64,
    /// Events lost because user space did not keep up.
    pub lost: u64,
}

/// One dropped packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropEvent {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// `enum skb_drop_reason` value.
    pub reason_code: u32,
    /// Its name from the kernel's BTF, without `SKB_DROP_REASON_`.
    pub reason: String,
    /// Kernel address that freed the packet.
    pub location: u64,
    /// `symbol+0xoff` from /proc/kallsyms, when readable.
    pub location_sym: Option<String>,
    /// Network namespace inode (0 when unknown).
    pub netns_inode: u32,
    /// `host`, an `ip netns` name, the --netns spelling, or `netns:INODE`.
    pub netns: String,
    /// Interface index in that namespace (0 when the packet had no device).
    pub ifindex: u32,
    /// Interface name in that namespace.
    pub iface: Option<String>,
    /// skb->len.
    pub len: u32,
    /// skb->protocol (ethertype).
    pub protocol: u16,
    /// The packet from its network header (at most 128 bytes; empty when unknown).
    pub headers: Vec<u8>,
}

impl DropEvent {
    /// The symbolised location, or the address in hex.
    pub fn location_name(&self) -> String {
        self.location_sym
            .clone()
            .unwrap_or_else(|| format!("{:#x}", self.location))
    }
}

/// What the tracer threads send before symbolisation.
pub(crate) enum RawSink {
    Bpf(abi::RawEvent),
    Tracefs(tracefs::TraceLine),
}

/// A running tracer: events arrive on [`Tracer::events`] until [`Tracer::stop`].
pub struct Tracer {
    attach: Attach,
    fallback_reason: Option<String>,
    stop: Arc<AtomicBool>,
    events: Receiver<DropEvent>,
    worker: Option<JoinHandle<Result<TraceStats>>>,
    decoder: Option<JoinHandle<()>>,
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC in nanoseconds (bpf_ktime_get_ns and tracefs' `mono`
/// clock are CLOCK_MONOTONIC).
fn mono_to_real_offset() -> i128 {
    let now = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec into the valid pointer.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    now(libc::CLOCK_REALTIME) - now(libc::CLOCK_MONOTONIC)
}

struct Resolver {
    reasons: Reasons,
    kallsyms: Kallsyms,
    names: NetnsNames,
    offset: i128,
}

impl Resolver {
    fn resolve(&mut self, raw: RawSink) -> DropEvent {
        match raw {
            RawSink::Bpf(r) => DropEvent {
                time_ns: u64::try_from(i128::from(r.ts_ns) + self.offset).unwrap_or(0),
                reason_code: r.reason,
                reason: self.reasons.name(r.reason),
                location: r.location,
                location_sym: self.kallsyms.resolve(r.location),
                netns_inode: r.netns,
                netns: self.names.name(r.netns),
                ifindex: r.ifindex,
                iface: r.has_dev.then_some(r.ifname),
                len: r.skb_len,
                protocol: r.protocol,
                headers: r.hdr,
            },
            RawSink::Tracefs(t) => DropEvent {
                time_ns: u64::try_from(i128::from(t.ts_ns) + self.offset).unwrap_or(0),
                reason_code: self.reasons.code(&t.reason).unwrap_or(u32::MAX),
                reason: t.reason,
                location: 0,
                location_sym: Some(t.location),
                netns_inode: 0,
                netns: "?".into(),
                ifindex: 0,
                iface: None,
                len: 0,
                protocol: t.protocol,
                headers: Vec::new(),
            },
        }
    }
}

impl Tracer {
    /// Compiles the filter, loads and attaches the tracer, and returns once it is tracing.
    pub fn start(opts: &TraceOptions) -> Result<Tracer> {
        let table = filter::compile(&opts.filter)?;
        if opts.netns.len() > abi::MAX_NETNS {
            return Err(DropsError::TooManyNetns {
                given: opts.netns.len(),
                max: abi::MAX_NETNS,
            });
        }
        let reasons = Reasons::from_kernel()?;
        let mut names = NetnsNames::scan();
        for (ino, name) in &opts.netns {
            names.insert(*ino, name);
        }
        let cfg = abi::KernelConfig {
            table,
            netns: opts.netns.iter().map(|(i, _)| *i).collect(),
            reason_consumed: reasons.code("SKB_CONSUMED").unwrap_or(1),
            reason_not_specified: reasons.code("NOT_SPECIFIED").unwrap_or(2),
            keep_noise: opts.keep_noise,
        };
        let resolver = Resolver {
            reasons,
            // Unreadable kallsyms only costs symbol names.
            kallsyms: Kallsyms::load().unwrap_or_default(),
            names,
            offset: mono_to_real_offset(),
        };

        let mut fallback_reason = None;
        if opts.backend != Backend::Tracefs {
            match Self::spawn(resolver_clone(&resolver), |stop, ready, sink| {
                bpf::run(cfg, stop, ready, sink)
            }) {
                Ok(t) => return Ok(t),
                Err(e) if opts.backend == Backend::Bpf => return Err(e),
                Err(e) if !opts.allow_tracefs => {
                    return Err(DropsError::FallbackNeedsYes {
                        bpf_error: e.to_string(),
                    });
                }
                Err(e) => fallback_reason = Some(e.to_string()),
            }
        } else if !opts.allow_tracefs {
            return Err(DropsError::FallbackNeedsYes {
                bpf_error: "tracefs was requested".into(),
            });
        }
        let mut t = Self::spawn(resolver, tracefs::run)?;
        t.fallback_reason = fallback_reason;
        Ok(t)
    }

    fn spawn(
        mut resolver: Resolver,
        body: impl FnOnce(
            Arc<AtomicBool>,
            std::sync::mpsc::SyncSender<Result<Attach>>,
            Sender<RawSink>,
        ) -> Result<TraceStats>
        + Send
        + 'static,
    ) -> Result<Tracer> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (raw_tx, raw_rx) = std::sync::mpsc::channel::<RawSink>();
        let (ev_tx, ev_rx) = std::sync::mpsc::channel();
        let stop2 = stop.clone();
        let worker = std::thread::Builder::new()
            .name("hopdump-drops".into())
            .spawn(move || body(stop2, ready_tx, raw_tx))
            .map_err(|source| DropsError::Tracefs {
                what: "starting the tracer thread".into(),
                source,
            })?;
        // Symbolisation runs apart from the ring-buffer thread so a slow consumer of events
        // never delays draining the kernel's buffer.
        let decoder = std::thread::Builder::new()
            .name("hopdump-drops-decode".into())
            .spawn(move || {
                for raw in raw_rx {
                    if ev_tx.send(resolver.resolve(raw)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| DropsError::Tracefs {
                what: "starting the decoder thread".into(),
                source,
            })?;
        match ready_rx.recv() {
            Ok(Ok(attach)) => Ok(Tracer {
                attach,
                fallback_reason: None,
                stop,
                events: ev_rx,
                worker: Some(worker),
                decoder: Some(decoder),
            }),
            Ok(Err(e)) => {
                let _ = worker.join();
                let _ = decoder.join();
                Err(e)
            }
            Err(_) => {
                let _ = worker.join();
                Err(DropsError::ThreadDied)
            }
        }
    }

    /// How the tracer is attached.
    pub fn attach(&self) -> Attach {
        self.attach
    }

    /// Why eBPF was not used, when the tracefs fallback runs.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The drop events, in the order the kernel reported them.
    pub fn events(&self) -> &Receiver<DropEvent> {
        &self.events
    }

    /// Detaches, drains what is left, and returns the counters. Events already queued stay
    /// readable from [`Tracer::events`] until the tracer is dropped.
    pub fn stop(mut self) -> Result<TraceStats> {
        self.stop.store(true, Ordering::Relaxed);
        let r = match self.worker.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(DropsError::ThreadDied),
            None => Ok(TraceStats::default()),
        };
        if let Some(d) = self.decoder.take() {
            let _ = d.join();
        }
        r
    }
}

fn resolver_clone(r: &Resolver) -> Resolver {
    Resolver {
        reasons: r.reasons.clone(),
        kallsyms: r.kallsyms.clone(),
        names: r.names.clone(),
        offset: r.offset,
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Names of the BPF programs currently loaded in the kernel that belong to hopdump
/// (for tests and `--check-clean`): empty when nothing was left behind.
pub fn loaded_programs() -> Vec<String> {
    libbpf_rs::query::ProgInfoIter::default()
        .map(|p| p.name.to_string_lossy().into_owned())
        .filter(|n| PROGRAM_NAMES.contains(&n.as_str()))
        .collect()
}
