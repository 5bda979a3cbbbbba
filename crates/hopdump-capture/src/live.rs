//! Live capture at several points at once, merged into one time-ordered stream of raw frames.
//!
//! One thread per point enters the point's network namespace, opens a libpcap handle there
//! (TPACKET ring; the filter is compiled by libpcap on the live handle and attached to the
//! socket, so unwanted packets never reach user space) and ships batches of frames to the
//! caller's thread, which merges them by timestamp. Each batch carries a watermark: a time
//! before which the point will deliver nothing more, so the merge can emit in order without
//! waiting for quiet points. The caller's thread also owns the sink (file writer, printer),
//! so a slow sink back-pressures the threads and the kernel counts what it drops.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{CaptureError, Result};
use crate::netns;
use crate::point::PointSpec;

/// LINKTYPE_LINUX_SLL2: what tcpdump 4.99 asks for on `any`.
const LINKTYPE_LINUX_SLL2: i32 = 276;
/// Frames per batch sent from a capture thread to the merge.
const BATCH_FRAMES: usize = 2048;
/// Extra allowance for a frame stamped just before a drain to show up just after it.
const SLACK_NS: u64 = 5_000_000;
/// How often an idle point wakes up to advance its watermark and check for stop.
const POLL_MS: i32 = 50;

/// How to open every point.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Bytes kept of each packet (tcpdump -s; 0 means the default 262144).
    pub snaplen: u32,
    /// Put interfaces in promiscuous mode (tcpdump's default; -p turns it off).
    pub promisc: bool,
    /// Kernel ring size in bytes (tcpdump -B is KiB); None keeps libpcap's default.
    pub buffer_size: Option<u32>,
    /// tcpdump filter expression, compiled by libpcap on each live handle.
    pub filter: Option<String>,
    /// Deliver each packet at once (for live text output) instead of filling ring blocks.
    pub immediate: bool,
    /// Ring block timeout when not immediate, in milliseconds.
    pub timeout_ms: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            snaplen: 262_144,
            promisc: true,
            buffer_size: None,
            filter: None,
            immediate: true,
            timeout_ms: 100,
        }
    }
}

/// What a point turned out to be once opened.
#[derive(Clone, Debug)]
pub struct PointInfo {
    pub spec: PointSpec,
    /// pcap LINKTYPE of the frames from this point.
    pub linktype: u32,
    /// libpcap's name and description of it, e.g. "EN10MB (Ethernet)".
    pub linktype_name: String,
    pub snaplen: u32,
    /// ifindex inside its namespace (None for `any`).
    pub ifindex: Option<u32>,
    /// Inode of the network namespace the socket lives in.
    pub netns_inode: Option<u64>,
    pub filter: Option<String>,
    /// (ifindex, name) of the interfaces in the point's namespace when it was opened, so
    /// `any` captures can name the interface of each packet.
    pub ifnames: Vec<(u32, String)>,
}

/// The socket's own counters for a point, plus how many frames reached the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointStats {
    /// Frames handed to the sink ("packets captured").
    pub captured: u64,
    /// Packets that passed the kernel filter ("received by filter", ps_recv).
    pub received: u64,
    /// Packets the kernel dropped for lack of ring space ("dropped by kernel", ps_drop).
    pub dropped: u64,
    /// Packets dropped by the interface or driver (ps_ifdrop).
    pub if_dropped: u64,
}

/// One captured frame, borrowed for the duration of the sink call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Index into [`LiveCapture::points`] (and the pcapng interface id).
    pub point: usize,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length on the wire; `data` may be shorter (snaplen).
    pub orig_len: u32,
    pub data: &'a [u8],
}

struct Rec {
    ts_ns: u64,
    orig_len: u32,
    start: usize,
    end: usize,
}

struct Batch {
    buf: Vec<u8>,
    recs: Vec<Rec>,
    /// No frame stamped before this will come from the point after this batch.
    watermark: u64,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            buf: Vec::with_capacity(BATCH_FRAMES * 128),
            recs: Vec::with_capacity(BATCH_FRAMES),
            watermark: 0,
        }
    }
}

enum Msg {
    Ready(usize, Box<PointInfo>),
    Failed(usize, CaptureError),
    Batch(usize, Batch),
    /// Nothing new, but nothing older than this will come from the point.
    Watermark(usize, u64),
    Done(usize, PointStats, Option<String>),
}

struct Queue {
    batches: VecDeque<Batch>,
    /// Next record in the front batch.
    cursor: usize,
    watermark: u64,
    done: bool,
}

impl Queue {
    fn head_ts(&self) -> Option<u64> {
        self.batches
            .front()
            .and_then(|b| b.recs.get(self.cursor))
            .map(|r| r.ts_ns)
    }
}

/// A running multi-point capture. Dropping it stops the threads.
pub struct LiveCapture {
    /// Emptied batches go back to their capture thread, so the hot path does not allocate.
    recycle: Vec<std::sync::mpsc::Sender<Batch>>,
    points: Vec<PointInfo>,
    rx: Receiver<Msg>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Messages that arrived while waiting for every point to be ready.
    early: Vec<Msg>,
}

impl LiveCapture {
    /// Open every point; returns once all are capturing with their filters attached, or the
    /// first error (the others are closed again).
    pub fn start(specs: &[PointSpec], opts: &LiveOptions) -> Result<LiveCapture> {
        let mut seen = std::collections::HashSet::new();
        for s in specs {
            if !seen.insert(s.label.as_str()) {
                return Err(CaptureError::BadPoint {
                    spec: s.label.clone(),
                    why: "the same capture point is given twice (add a LABEL= to tell them apart)"
                        .into(),
                });
            }
        }
        let (tx, rx) = sync_channel::<Msg>(64 * specs.len().max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(specs.len());
        let mut recycle = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let (spec, opts, tx, stop) = (spec.clone(), opts.clone(), tx.clone(), stop.clone());
            let (free_tx, free_rx) = std::sync::mpsc::channel::<Batch>();
            recycle.push(free_tx);
            let handle = std::thread::Builder::new()
                .name(format!("cap-{i}"))
                .spawn(move || capture_thread(i, spec, opts, tx, stop, free_rx))
                .map_err(|e| CaptureError::Open {
                    point: specs[i].label.clone(),
                    detail: format!("cannot start capture thread: {e}"),
                })?;
            threads.push(handle);
        }
        drop(tx);
        let mut live = LiveCapture {
            recycle,
            points: Vec::new(),
            rx,
            stop,
            threads,
            early: Vec::new(),
        };
        let mut infos: Vec<Option<PointInfo>> = vec![None; specs.len()];
        let mut first_err = None;
        let mut pending = specs.len();
        while pending > 0 {
            match live.rx.recv() {
                Ok(Msg::Ready(i, info)) => {
                    infos[i] = Some(*info);
                    pending -= 1;
                }
                Ok(Msg::Failed(i, e)) => {
                    // Keep the error of the first point given, so messages are stable.
                    if first_err.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_err = Some((i, e));
                    }
                    pending -= 1;
                }
                Ok(other) => live.early.push(other),
                Err(_) => break,
            }
        }
        if let Some((_, e)) = first_err {
            live.shutdown();
            return Err(e);
        }
        live.points = infos.into_iter().flatten().collect();
        if live.points.len() != specs.len() {
            live.shutdown();
            return Err(CaptureError::Open {
                point: "capture".into(),
                detail: "a capture thread ended before it was ready".into(),
            });
        }
        Ok(live)
    }

    /// The opened points, in the order given.
    pub fn points(&self) -> &[PointInfo] {
        &self.points
    }

    /// Merge frames from all points in time order into `sink` until `stop` is set or the
    /// sink returns false; then drain what the kernel already holds, close every handle and
    /// return the per-point statistics (from the sockets' own counters).
    pub fn run(
        mut self,
        stop: &AtomicBool,
        mut sink: impl FnMut(Frame<'_>) -> bool,
    ) -> Result<Vec<PointStats>> {
        let n = self.points.len();
        let mut queues: Vec<Queue> = (0..n)
            .map(|_| Queue {
                batches: VecDeque::new(),
                cursor: 0,
                watermark: 0,
                done: false,
            })
            .collect();
        let mut stats = vec![PointStats::default(); n];
        let mut errors: Vec<(usize, String)> = Vec::new();
        let mut emitting = true;
        let mut open = n;
        let early = std::mem::take(&mut self.early);
        let handle = |msg: Msg,
                      queues: &mut Vec<Queue>,
                      open: &mut usize,
                      stats: &mut Vec<PointStats>,
                      errors: &mut Vec<(usize, String)>| match msg {
            Msg::Batch(i, b) => {
                queues[i].watermark = queues[i].watermark.max(b.watermark);
                if !b.recs.is_empty() {
                    queues[i].batches.push_back(b);
                }
            }
            Msg::Watermark(i, w) => {
                queues[i].watermark = queues[i].watermark.max(w);
            }
            Msg::Done(i, s, err) => {
                let captured = stats[i].captured;
                stats[i] = PointStats { captured, ..s };
                queues[i].done = true;
                queues[i].watermark = u64::MAX;
                *open -= 1;
                if let Some(e) = err {
                    errors.push((i, e));
                }
            }
            Msg::Ready(..) | Msg::Failed(..) => {}
        };
        for m in early {
            handle(m, &mut queues, &mut open, &mut stats, &mut errors);
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                self.stop.store(true, Ordering::Relaxed);
            }
            // Emit everything that is certainly in order.
            while emitting {
                let mut best: Option<(usize, u64)> = None;
                let mut bound = u64::MAX;
                for (i, q) in queues.iter().enumerate() {
                    match q.head_ts() {
                        Some(ts) if best.is_none_or(|(_, b)| ts < b) => best = Some((i, ts)),
                        Some(_) => {}
                        None => bound = bound.min(q.watermark),
                    }
                }
                let Some((i, ts)) = best else { break };
                if ts > bound {
                    break;
                }
                let q = &mut queues[i];
                let Some(b) = q.batches.front() else { break };
                let Some(r) = b.recs.get(q.cursor) else { break };
                let frame = Frame {
                    point: i,
                    ts_ns: r.ts_ns,
                    orig_len: r.orig_len,
                    data: b.buf.get(r.start..r.end).unwrap_or(&[]),
                };
                stats[i].captured += 1;
                if !sink(frame) {
                    emitting = false;
                    self.stop.store(true, Ordering::Relaxed);
                }
                q.cursor += 1;
                if q.cursor >= b.recs.len() {
                    if let Some(mut done) = q.batches.pop_front() {
                        done.buf.clear();
                        done.recs.clear();
                        // The thread may have ended; then the batch is simply dropped.
                        let _ = self.recycle[i].send(done);
                    }
                    q.cursor = 0;
                }
            }
            if open == 0 && (!emitting || queues.iter().all(|q| q.batches.is_empty())) {
                break;
            }
            match self.rx.recv_timeout(Duration::from_millis(POLL_MS as u64)) {
                Ok(m) => handle(m, &mut queues, &mut open, &mut stats, &mut errors),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Take whatever else is already waiting without blocking.
            while let Ok(m) = self.rx.try_recv() {
                handle(m, &mut queues, &mut open, &mut stats, &mut errors);
            }
        }
        self.shutdown();
        if let Some((i, e)) = errors.into_iter().next() {
            return Err(CaptureError::Live {
                point: self.points[i].spec.label.clone(),
                detail: e,
            });
        }
        Ok(stats)
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock threads waiting on a full channel, then join them.
        while self.rx.try_recv().is_ok() {}
        for t in self.threads.drain(..) {
            while !t.is_finished() {
                while self.rx.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = t.join();
        }
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn open_error(spec: &PointSpec, e: pcap::Error) -> CaptureError {
    let detail = e.to_string();
    let lower = detail.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        CaptureError::Permission {
            point: spec.label.clone(),
            detail,
        }
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        CaptureError::NoSuchInterface {
            point: spec.label.clone(),
            iface: spec.iface.clone(),
            netns: spec.netns.to_string(),
            available: netns::interface_names().join(", "),
        }
    } else {
        CaptureError::Open {
            point: spec.label.clone(),
            detail,
        }
    }
}

type Active = pcap::Capture<pcap::Active>;

fn open_point(spec: &PointSpec, opts: &LiveOptions) -> Result<(Active, PointInfo)> {
    netns::enter(spec)?;
    let snaplen = if opts.snaplen == 0 {
        262_144
    } else {
        opts.snaplen
    };
    let mut inactive = pcap::Capture::from_device(spec.iface.as_str())
        .map_err(|e| open_error(spec, e))?
        .snaplen(snaplen as i32)
        .promisc(opts.promisc && spec.iface != "any")
        .precision(pcap::Precision::Nano)
        .immediate_mode(opts.immediate)
        .timeout(opts.timeout_ms.max(1) as i32);
    if let Some(b) = opts.buffer_size {
        inactive = inactive.buffer_size(b as i32);
    }
    let mut cap = inactive.open().map_err(|e| open_error(spec, e))?;
    if spec.iface == "any" {
        // As tcpdump 4.99: SLL2 carries the interface index and direction of each packet.
        let _ = cap.set_datalink(pcap::Linktype(LINKTYPE_LINUX_SLL2));
    }
    if let Some(f) = &opts.filter {
        cap.filter(f, true).map_err(|e| CaptureError::Filter {
            expr: f.clone(),
            detail: e.to_string(),
        })?;
    }
    let cap = cap.setnonblock().map_err(|e| open_error(spec, e))?;
    let ifindex = if spec.iface == "any" {
        None
    } else {
        std::ffi::CString::new(spec.iface.as_str())
            .ok()
            // SAFETY: the pointer is a valid NUL-terminated string for the call.
            .map(|c| unsafe { libc::if_nametoindex(c.as_ptr()) })
            .filter(|&i| i != 0)
    };
    let info = PointInfo {
        spec: spec.clone(),
        linktype: cap.get_datalink().0 as u32,
        linktype_name: {
            let l = cap.get_datalink();
            match (l.get_name(), l.get_description()) {
                (Ok(n), Ok(d)) => format!("{n} ({d})"),
                _ => l.0.to_string(),
            }
        },
        snaplen,
        ifindex,
        netns_inode: netns::current_inode(),
        filter: opts.filter.clone(),
        ifnames: netns::interfaces(),
    };
    Ok((cap, info))
}

fn capture_thread(
    idx: usize,
    spec: PointSpec,
    opts: LiveOptions,
    tx: SyncSender<Msg>,
    stop: Arc<AtomicBool>,
    free: std::sync::mpsc::Receiver<Batch>,
) {
    let fresh = || free.try_recv().unwrap_or_else(|_| Batch::new());
    let (mut cap, info) = match open_point(&spec, &opts) {
        Ok(x) => x,
        Err(e) => {
            let _ = tx.send(Msg::Failed(idx, e));
            return;
        }
    };
    if tx.send(Msg::Ready(idx, Box::new(info))).is_err() {
        return;
    }
    let lateness = if opts.immediate {
        SLACK_NS
    } else {
        opts.timeout_ms as u64 * 1_000_000 + SLACK_NS
    };
    let fd = cap.as_raw_fd();
    let mut batch = Batch::new();
    let mut error = None;
    let mut last_drain = false;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let before = now_ns();
        // Drain everything the ring holds now.
        loop {
            let r = cap.dispatch(Some(BATCH_FRAMES), |p| {
                let start = batch.buf.len();
                batch.buf.extend_from_slice(p.data);
                batch.recs.push(Rec {
                    // With nanosecond precision libpcap puts nanoseconds in tv_usec.
                    ts_ns: p.header.ts.tv_sec as u64 * 1_000_000_000 + p.header.ts.tv_usec as u64,
                    orig_len: p.header.len,
                    start,
                    end: batch.buf.len(),
                });
            });
            match r {
                Ok(0) => break,
                Ok(_) => {
                    if batch.recs.len() >= BATCH_FRAMES {
                        batch.watermark = batch.recs.last().map_or(0, |r| r.ts_ns);
                        let full = std::mem::replace(&mut batch, fresh());
                        if tx.send(Msg::Batch(idx, full)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let watermark = before.saturating_sub(lateness);
        let msg = if batch.recs.is_empty() {
            Msg::Watermark(idx, watermark)
        } else {
            batch.watermark = watermark;
            Msg::Batch(idx, std::mem::replace(&mut batch, fresh()))
        };
        if tx.send(msg).is_err() {
            return;
        }
        if error.is_some() || (stopping && last_drain) {
            break;
        }
        let wait = if stopping {
            // A ring block that is not yet retired is invisible; wait for its timeout once,
            // then drain a last time so nothing the kernel accepted is left behind.
            last_drain = true;
            if opts.immediate {
                0
            } else {
                opts.timeout_ms as i32 + 20
            }
        } else {
            POLL_MS
        };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, wait) };
    }
    let stats = match cap.stats() {
        Ok(s) => PointStats {
            captured: 0,
            received: s.received as u64,
            dropped: s.dropped as u64,
            if_dropped: s.if_dropped as u64,
        },
        Err(e) => {
            error.get_or_insert_with(|| format!("cannot read socket statistics: {e}"));
            PointStats::default()
        }
    };
    let _ = tx.send(Msg::Done(idx, stats, error));
}
