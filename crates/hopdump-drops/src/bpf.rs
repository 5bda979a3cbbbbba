//! Loading, configuring and attaching the BPF program, and draining its ring buffer.
//!
//! Everything libbpf owns (object, link, ring buffer) lives on the tracer thread: its handles
//! are file descriptors, so they are released when the thread finishes — and by the kernel
//! when the process dies, whatever the way (no pinning, nothing left in bpffs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libbpf_rs::{ErrorKind, MapCore, MapFlags, ObjectBuilder};

use crate::abi::{self, KernelConfig};
use crate::error::{DropsError, Result};
use crate::{Attach, RawSink, TraceStats};

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/drops.bpf.o"));

/// Names of the two entry points (≤15 characters: the kernel truncates program names).
pub const PROG_BTF: &str = "hd_kfree_btf";
pub const PROG_RAW: &str = "hd_kfree_raw";

/// The last lines libbpf logged, for error messages (libbpf logs through a global callback).
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());

fn libbpf_log(level: libbpf_rs::PrintLevel, msg: String) {
    if std::env::var_os("HOPDUMP_LIBBPF_DEBUG").is_some() {
        eprint!("{msg}");
    }
    if level == libbpf_rs::PrintLevel::Debug {
        return;
    }
    if let Ok(mut l) = LIBBPF_LOG.lock() {
        l.push_str(&msg);
        if l.len() > 4096 {
            let cut = l.len() - 2048;
            let cut = (cut..l.len()).find(|i| l.is_char_boundary(*i)).unwrap_or(0);
            l.drain(..cut);
        }
    }
}

fn last_log_line() -> String {
    LIBBPF_LOG
        .lock()
        .ok()
        .and_then(|l| {
            l.lines()
                .rev()
                .find(|s| !s.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Effective capabilities allow BPF tracing (CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN).
pub fn has_bpf_privilege() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    has(21) || (has(39) && has(38))
}

fn privilege_error() -> DropsError {
    DropsError::Privilege {
        what: "tracing kernel drops with eBPF".into(),
        capability: "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
        how: "run as root, or `setcap cap_bpf,cap_perfmon,cap_sys_admin+ep hopdump`",
    }
}

fn bpf_err(what: &str, e: libbpf_rs::Error) -> DropsError {
    if e.kind() == ErrorKind::PermissionDenied {
        return privilege_error();
    }
    let log = last_log_line();
    DropsError::Bpf {
        what: if log.is_empty() {
            what.to_string()
        } else {
            format!("{what} ({})", log.trim())
        },
        source: e,
    }
}

fn load(prog: &str) -> Result<libbpf_rs::Object> {
    let mut open = ObjectBuilder::default()
        .open_memory(OBJECT)
        .map_err(|e| bpf_err("opening the embedded BPF object", e))?;
    for mut p in open.progs_mut() {
        let keep = p.name() == prog;
        p.set_autoload(keep);
    }
    open.load()
        .map_err(|e| bpf_err(&format!("loading BPF program {prog}"), e))
}

/// Runs the tracer on the calling thread: load → configure → attach → report `ready` →
/// drain the ring buffer until `stop` → counters.
pub(crate) fn run(
    cfg: KernelConfig,
    stop: Arc<AtomicBool>,
    ready: SyncSender<Result<Attach>>,
    sink: Sender<RawSink>,
) -> Result<TraceStats> {
    let started = (|| -> Result<(libbpf_rs::Object, libbpf_rs::Link, Attach)> {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Debug, libbpf_log)));
        if !has_bpf_privilege() {
            return Err(privilege_error());
        }
        // BTF-typed tracepoint first; the raw tracepoint where tp_btf does not load.
        let (obj, prog, attach) = match load(PROG_BTF) {
            Ok(o) => (o, PROG_BTF, Attach::TpBtf),
            Err(first) => match load(PROG_RAW) {
                Ok(o) => (o, PROG_RAW, Attach::RawTp),
                Err(_) => return Err(first),
            },
        };
        let bytes = abi::encode_config(&cfg).ok_or(DropsError::TooManyNetns {
            given: cfg.netns.len(),
            max: abi::MAX_NETNS,
        })?;
        let map = obj
            .maps()
            .find(|m| m.name() == "hd_config")
            .ok_or_else(|| DropsError::Btf {
                path: "embedded BPF object".into(),
                why: "no hd_config map".into(),
            })?;
        map.update(&0u32.to_ne_bytes(), &bytes, MapFlags::ANY)
            .map_err(|e| bpf_err("writing the filter table", e))?;
        let link = {
            let p = obj
                .progs_mut()
                .find(|p| p.name() == prog)
                .ok_or_else(|| DropsError::Btf {
                    path: "embedded BPF object".into(),
                    why: format!("no program {prog}"),
                })?;
            match attach {
                Attach::TpBtf => p.attach(),
                _ => p.attach_raw_tracepoint("kfree_skb"),
            }
            .map_err(|e| bpf_err("attaching to skb:kfree_skb", e))?
        };
        Ok((obj, link, attach))
    })();
    let (obj, link, attach) = match started {
        Ok(s) => s,
        Err(e) => {
            // The error goes to `Tracer::start`, which is waiting for it.
            let _ = ready.send(Err(e));
            return Ok(TraceStats::default());
        }
    };

    let events = obj.maps().find(|m| m.name() == "hd_events");
    let mut builder = libbpf_rs::RingBufferBuilder::new();
    let sink2 = sink.clone();
    let stop2 = stop.clone();
    if let Some(m) = &events {
        builder
            .add(m, move |data: &[u8]| {
                if let Some(ev) = abi::decode_event(data)
                    && sink2.send(RawSink::Bpf(ev)).is_err()
                {
                    stop2.store(true, Ordering::Relaxed);
                }
                0
            })
            .map_err(|e| bpf_err("opening the ring buffer", e))?;
    }
    let rb = builder
        .build()
        .map_err(|e| bpf_err("opening the ring buffer", e))?;
    let _ = ready.send(Ok(attach));
    while !stop.load(Ordering::Relaxed) {
        // EINTR (a signal for the main thread) is not an error.
        if let Err(e) = rb.poll(Duration::from_millis(100))
            && e.kind() != ErrorKind::Interrupted
        {
            return Err(bpf_err("reading the ring buffer", e));
        }
    }
    // Detach before the last drain so nothing arrives after it.
    drop(link);
    let _ = rb.consume();
    let mut stats = TraceStats::default();
    if let Some(m) = obj.maps().find(|m| m.name() == "hd_counters") {
        let sum = |idx: u32| -> u64 {
            m.lookup_percpu(&idx.to_ne_bytes(), MapFlags::ANY)
                .ok()
                .flatten()
                .map(|per_cpu| {
                    per_cpu
                        .iter()
                        .filter_map(|v| v.get(..8).and_then(|b| b.try_into().ok()))
                        .map(u64::from_ne_bytes)
                        .sum()
                })
                .unwrap_or(0)
        };
        stats.seen = sum(abi::C_SEEN);
        stats.filtered = sum(abi::C_FILTERED);
        stats.noise = sum(abi::C_NOISE);
        stats.lost = sum(abi::C_RINGBUF_FULL);
    }
    drop(rb);
    drop(obj);
    Ok(stats)
}
