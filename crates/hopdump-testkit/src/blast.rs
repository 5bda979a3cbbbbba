//! A packet blaster for live-capture benchmarks: sends pre-built UDP frames out of one
//! interface (inside a network namespace) at a target rate or as fast as the kernel takes
//! them, through an AF_PACKET socket with `sendmmsg` batches and the qdisc bypassed. There
//! are no kernel modules here (no pktgen), so this is how the lab makes ≥1 Mpps on a veth.
//!
//! Two ways to hand frames to the kernel: `sendmmsg` (a copy and a message header per
//! frame) or a PACKET_TX_RING shared with the kernel (frames written once at start, one
//! `send` flushes a batch). Several threads may blast at once, each with its own socket.
//!
//! The frames go to a unicast MAC nobody owns: on the receiving end of a veth they reach
//! packet taps (the capture under test) and are then dropped early as PACKET_OTHERHOST, so
//! the receiving stack costs little and no ICMP comes back.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How to blast.
#[derive(Clone, Debug)]
pub struct BlastOptions {
    /// `ip netns` name or absolute path of a netns file; None stays in the current one.
    pub netns: Option<String>,
    pub iface: String,
    /// Frames per second; 0 sends as fast as possible.
    pub pps: u64,
    pub duration: Duration,
    /// Frame length as handed to the interface (and as a capture shows it), 42..=1514.
    pub size: usize,
    /// Frames per `sendmmsg` call.
    pub batch: usize,
    pub dst_mac: [u8; 6],
    pub src_ip: [u8; 4],
    pub dst_ip: [u8; 4],
    /// Distinct UDP source ports cycled through (so the frames are distinct flows).
    pub flows: u16,
    pub mode: Mode,
    /// Sending threads, each with its own socket and an equal share of the rate.
    pub threads: usize,
}

/// How frames reach the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `sendmmsg` batches of pre-built frames.
    Mmsg,
    /// A PACKET_TX_RING (TPACKET_V2) filled once; each batch is marked and flushed by `send`.
    /// Slower on a veth: the ring pages travel as zero-copy fragments, which the veth
    /// crossing copies into fresh pages (`skb_copy_ubufs`).
    Ring,
}

impl Default for BlastOptions {
    fn default() -> Self {
        BlastOptions {
            netns: None,
            iface: "eth0".into(),
            pps: 0,
            duration: Duration::from_secs(1),
            size: 64,
            batch: 256,
            dst_mac: [0x02, 0xbe, 0x6c, 0x00, 0x00, 0x02],
            src_ip: [198, 51, 100, 1],
            dst_ip: [198, 51, 100, 2],
            flows: 256,
            mode: Mode::Mmsg,
            threads: 1,
        }
    }
}

/// What was sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlastReport {
    pub sent: u64,
    pub bytes: u64,
    /// `sendmmsg` calls that failed (ENOBUFS and the like); their frames are not counted.
    pub send_errors: u64,
    pub elapsed: Duration,
    pub target_pps: u64,
}

impl BlastReport {
    pub fn pps(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for BlastReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = if self.target_pps == 0 {
            "max".to_string()
        } else {
            self.target_pps.to_string()
        };
        write!(
            f,
            "blast: sent {} frames ({} bytes) in {:.3} s: {:.0} pps (target {}), {} send errors",
            self.sent,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.pps(),
            target,
            self.send_errors
        )
    }
}

/// Move the calling thread into a network namespace (`ip netns` name or absolute path).
pub fn enter_netns(spec: &str) -> Result<()> {
    let path = if spec.starts_with('/') {
        spec.to_string()
    } else {
        format!("/run/netns/{spec}")
    };
    let file = std::fs::File::open(&path).with_context(|| format!("cannot open netns {path}"))?;
    // SAFETY: setns only reads the fd, which `file` keeps open for the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        bail!("setns into {path} failed: {e} (needs CAP_SYS_ADMIN: run as root)");
    }
    Ok(())
}

/// `flows` Ethernet/IPv4/UDP frames of `size` bytes, differing in their UDP source port.
pub fn udp_frames(src_mac: [u8; 6], o: &BlastOptions) -> Vec<Vec<u8>> {
    use crate::r#gen::checksum;
    let size = o.size.clamp(42, 1514);
    (0..o.flows.max(1))
        .map(|i| {
            let mut f = vec![0u8; size];
            f[0..6].copy_from_slice(&o.dst_mac);
            f[6..12].copy_from_slice(&src_mac);
            f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            let ip = &mut f[14..34];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((size - 14) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&i.to_be_bytes());
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&o.src_ip);
            ip[16..20].copy_from_slice(&o.dst_ip);
            let c = checksum::of(ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            let udp_len = (size - 34) as u16;
            f[34..36].copy_from_slice(&(1024 + i).to_be_bytes());
            f[36..38].copy_from_slice(&9u16.to_be_bytes()); // discard
            f[38..40].copy_from_slice(&udp_len.to_be_bytes());
            for (k, b) in f[42..].iter_mut().enumerate() {
                *b = k as u8;
            }
            let c = match checksum::l4(o.src_ip, o.dst_ip, 17, &f[34..]) {
                0 => 0xffff,
                c => c,
            };
            f[40..42].copy_from_slice(&c.to_be_bytes());
            f
        })
        .collect()
}

fn last_err(what: &str, iface: &str) -> anyhow::Error {
    let e = std::io::Error::last_os_error();
    let hint = if e.raw_os_error() == Some(libc::EPERM) {
        " (AF_PACKET needs CAP_NET_RAW: run as root)"
    } else {
        ""
    };
    anyhow::anyhow!("{what} on {iface}: {e}{hint}")
}

/// A send-only AF_PACKET socket bound to `iface`, qdisc bypassed; returns it and the MAC.
fn open_socket(iface: &str) -> Result<(OwnedFd, [u8; 6])> {
    // Protocol 0: this socket receives nothing, so it costs the receive path nothing.
    // SAFETY: plain syscall; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(last_err("socket(AF_PACKET)", iface));
    }
    // SAFETY: fd is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = CString::new(iface).context("interface name contains NUL")?;
    if name.as_bytes().len() >= libc::IFNAMSIZ {
        bail!("interface name {iface} is too long");
    }
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFINDEX reads ifr_name and writes ifr_ifindex within `ifr`.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFINDEX, &mut ifr) } < 0 {
        return Err(last_err("no such interface (SIOCGIFINDEX)", iface));
    }
    // SAFETY: the kernel filled the ifindex member of the union.
    let ifindex = unsafe { ifr.ifr_ifru.ifru_ifindex };
    // SAFETY: as above, SIOCGIFHWADDR writes ifru_hwaddr.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut ifr) } < 0 {
        return Err(last_err("SIOCGIFHWADDR", iface));
    }
    let mut mac = [0u8; 6];
    // SAFETY: the kernel filled the hwaddr member of the union.
    let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    for (d, s) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *d = *s as u8;
    }

    // SAFETY: sockaddr_ll is plain data.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex;
    // SAFETY: sll is a valid sockaddr_ll of the size passed.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(last_err("bind(AF_PACKET)", iface));
    }
    let one: libc::c_int = 1;
    // SAFETY: option value is a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(last_err("PACKET_QDISC_BYPASS", iface));
    }
    let sndbuf: libc::c_int = 16 << 20;
    // SAFETY: as above. Failure only means the default buffer, so it is ignored.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            (&sndbuf as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    Ok((sock, mac))
}

/// Send until `o.duration` has passed or `stop` is set; with several threads the report is
/// their sum (elapsed: the longest).
pub fn blast(o: &BlastOptions, stop: &AtomicBool) -> Result<BlastReport> {
    let threads = o.threads.clamp(1, 64);
    if threads == 1 {
        return blast_one(o, o.pps, stop);
    }
    let share = o.pps.div_ceil(threads as u64);
    let results: Vec<Result<BlastReport>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| blast_one(o, share, stop)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("blast thread panicked")))
            })
            .collect()
    });
    let mut total = BlastReport {
        target_pps: o.pps,
        ..BlastReport::default()
    };
    for r in results {
        let r = r?;
        total.sent += r.sent;
        total.bytes += r.bytes;
        total.send_errors += r.send_errors;
        total.elapsed = total.elapsed.max(r.elapsed);
    }
    Ok(total)
}

/// How many frames are due now at `pps` (0: a full batch), or how long to wait for one.
fn due(start: Instant, pps: u64, sent: u64, batch: usize) -> Result<u64, Duration> {
    if pps == 0 {
        return Ok(batch as u64);
    }
    let now = start.elapsed().as_nanos();
    let due = (now * u128::from(pps) / 1_000_000_000) as u64;
    match due.saturating_sub(sent).min(batch as u64) {
        0 => {
            let next_ns = u128::from(sent + 1) * 1_000_000_000 / u128::from(pps);
            Err(Duration::from_nanos(next_ns.saturating_sub(now) as u64))
        }
        n => Ok(n),
    }
}

/// Wait `gap` for the next frame: sleep if it is far off, otherwise spin.
fn pace(gap: Duration) {
    if gap > Duration::from_micros(100) {
        std::thread::sleep(gap - Duration::from_micros(50));
    } else {
        std::hint::spin_loop();
    }
}

/// One sending thread: enters the netns, opens its socket, sends at `pps`.
fn blast_one(o: &BlastOptions, pps: u64, stop: &AtomicBool) -> Result<BlastReport> {
    if let Some(ns) = &o.netns {
        enter_netns(ns)?;
    }
    let (sock, mac) = open_socket(&o.iface)?;
    let frames = udp_frames(mac, o);
    let mut r = match o.mode {
        Mode::Mmsg => send_mmsg(o, pps, stop, &sock, frames)?,
        Mode::Ring => send_ring(o, pps, stop, &sock, &frames)?,
    };
    r.target_pps = pps;
    Ok(r)
}

fn send_mmsg(
    o: &BlastOptions,
    pps: u64,
    stop: &AtomicBool,
    sock: &OwnedFd,
    mut frames: Vec<Vec<u8>>,
) -> Result<BlastReport> {
    let batch = o.batch.clamp(1, 1024);
    let sock = sock.as_raw_fd();
    // One iovec and one header per slot of a batch, cycling through the frames.
    let mut iovs: Vec<libc::iovec> = (0..batch)
        .map(|i| {
            let f = &mut frames[i % o.flows.max(1) as usize];
            libc::iovec {
                iov_base: f.as_mut_ptr().cast(),
                iov_len: f.len(),
            }
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain data; zeroed is valid (no name, no control).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let frame_len = frames.first().map_or(0, Vec::len) as u64;

    let mut r = BlastReport::default();
    let start = Instant::now();
    while start.elapsed() < o.duration && !stop.load(Ordering::Relaxed) {
        let want = match due(start, pps, r.sent, batch) {
            Ok(n) => n,
            Err(gap) => {
                pace(gap);
                continue;
            }
        };
        // SAFETY: msgs[..want] point at iovecs and frames that outlive the call.
        let rc = unsafe { libc::sendmmsg(sock, msgs.as_mut_ptr(), want as libc::c_uint, 0) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => r.send_errors += 1,
                _ => return Err(anyhow::anyhow!("sendmmsg on {}: {e}", o.iface)),
            }
        } else {
            r.sent += rc as u64;
            r.bytes += rc as u64 * frame_len;
        }
    }
    r.elapsed = start.elapsed();
    Ok(r)
}

/// Frame slots in the TX ring: 2 KiB each (any frame up to 1514 bytes fits after the
/// 32-byte TPACKET_V2 header), 32 per 64 KiB block.
const RING_FRAME: usize = 2048;
const RING_BLOCK: usize = 64 * 1024;
const RING_BLOCKS: usize = 64;
/// Where frame data starts in a slot: TPACKET2_HDRLEN - sizeof(sockaddr_ll).
const RING_DATA: usize = 32;
const TPACKET_V2: libc::c_int = 1;

/// A mapped PACKET_TX_RING, unmapped on drop.
struct TxRing {
    base: *mut u8,
    len: usize,
}

impl Drop for TxRing {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly what mmap returned; nothing borrows the ring now.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

impl TxRing {
    fn setup(sock: &OwnedFd, iface: &str) -> Result<TxRing> {
        let fd = sock.as_raw_fd();
        let version = TPACKET_V2;
        // SAFETY: option value is a c_int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_VERSION,
                (&version as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_err("PACKET_VERSION", iface));
        }
        let req = libc::tpacket_req {
            tp_block_size: RING_BLOCK as libc::c_uint,
            tp_block_nr: RING_BLOCKS as libc::c_uint,
            tp_frame_size: RING_FRAME as libc::c_uint,
            tp_frame_nr: (RING_BLOCKS * RING_BLOCK / RING_FRAME) as libc::c_uint,
        };
        // SAFETY: option value is a tpacket_req of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_TX_RING,
                (&req as *const libc::tpacket_req).cast(),
                std::mem::size_of::<libc::tpacket_req>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_err("PACKET_TX_RING", iface));
        }
        let len = RING_BLOCKS * RING_BLOCK;
        // SAFETY: maps the ring just configured on fd; checked for MAP_FAILED below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last_err("mmap(PACKET_TX_RING)", iface));
        }
        Ok(TxRing {
            base: base.cast(),
            len,
        })
    }

    fn slots(&self) -> usize {
        self.len / RING_FRAME
    }

    /// The status word of slot `i`, shared with the kernel.
    fn status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: slot i lies inside the mapping; tp_status is its first, 4-aligned field,
        // and the kernel only ever accesses it atomically-sized.
        unsafe { &*(self.base.add(i * RING_FRAME) as *const AtomicU32) }
    }

    /// Write frame data into slot `i` and set tp_len (the slot must be ours: AVAILABLE).
    fn fill(&self, i: usize, frame: &[u8]) {
        let len = frame.len().min(RING_FRAME - RING_DATA);
        // SAFETY: slot i lies inside the mapping and is not owned by the kernel while its
        // status is AVAILABLE; tp_len is at offset 4, data at RING_DATA, within the slot.
        unsafe {
            let slot = self.base.add(i * RING_FRAME);
            std::ptr::copy_nonoverlapping(frame.as_ptr(), slot.add(RING_DATA), len);
            std::ptr::write_volatile(slot.add(4).cast::<u32>(), len as u32);
        }
    }
}

fn send_ring(
    o: &BlastOptions,
    pps: u64,
    stop: &AtomicBool,
    sock: &OwnedFd,
    frames: &[Vec<u8>],
) -> Result<BlastReport> {
    const AVAILABLE: u32 = 0;
    const SEND_REQUEST: u32 = 1;
    const WRONG_FORMAT: u32 = 4;
    let ring = TxRing::setup(sock, &o.iface)?;
    let slots = ring.slots();
    // Frames are written once; a batch only flips status words.
    for i in 0..slots {
        ring.fill(i, &frames[i % frames.len()]);
    }
    let frame_len = frames.first().map_or(1, Vec::len).max(1) as u64;
    let batch = o.batch.clamp(1, slots / 2);
    let mut r = BlastReport::default();
    let mut slot = 0usize;
    let start = Instant::now();
    while start.elapsed() < o.duration && !stop.load(Ordering::Relaxed) {
        let want = match due(start, pps, r.sent, batch) {
            Ok(n) => n,
            Err(gap) => {
                pace(gap);
                continue;
            }
        };
        let mut queued = 0u64;
        while queued < want {
            let st = ring.status(slot);
            let s = st.load(Ordering::Acquire);
            if s & WRONG_FORMAT != 0 {
                r.send_errors += 1;
                st.store(AVAILABLE, Ordering::Release);
            } else if s != AVAILABLE {
                break; // the kernel still owns it: flush what we have
            }
            st.store(SEND_REQUEST, Ordering::Release);
            slot = (slot + 1) % slots;
            queued += 1;
        }
        // Blocking send: the kernel transmits every SEND_REQUEST slot before returning.
        // SAFETY: a NULL buffer of length 0 is how a TX ring is flushed.
        let rc = unsafe { libc::send(sock.as_raw_fd(), std::ptr::null(), 0, 0) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => r.send_errors += 1,
                _ => return Err(anyhow::anyhow!("send(PACKET_TX_RING) on {}: {e}", o.iface)),
            }
        } else {
            let n = rc as u64 / frame_len;
            r.sent += n;
            r.bytes += rc as u64;
        }
    }
    r.elapsed = start.elapsed();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::r#gen::checksum;

    #[test]
    fn frames_have_the_asked_size_and_valid_checksums() {
        let o = BlastOptions {
            flows: 4,
            size: 64,
            ..BlastOptions::default()
        };
        let f = udp_frames([2, 0, 0, 0, 0, 1], &o);
        assert_eq!(f.len(), 4);
        for fr in &f {
            assert_eq!(fr.len(), 64);
            assert_eq!(checksum::of(&fr[14..34]), 0);
            assert_eq!(checksum::l4(o.src_ip, o.dst_ip, 17, &fr[34..]), 0);
        }
        assert_ne!(f[0][34..36], f[1][34..36]);
    }

    #[test]
    fn blasts_at_the_target_rate_on_a_veth() {
        if !crate::is_root() {
            eprintln!("skipped: needs root for network namespaces");
            return;
        }
        let mut lab = crate::Lab::new().expect("lab");
        lab.add_ns("a").expect("ns a");
        lab.add_ns("b").expect("ns b");
        lab.veth("a", "tx0", None, "b", "rx0", None).expect("veth");
        let mut sent = 0;
        for mode in [Mode::Mmsg, Mode::Ring] {
            let o = BlastOptions {
                netns: Some(lab.ns("a")),
                iface: "tx0".into(),
                pps: 20_000,
                duration: Duration::from_millis(300),
                mode,
                ..BlastOptions::default()
            };
            let stop = AtomicBool::new(false);
            let r = std::thread::spawn(move || blast(&o, &stop))
                .join()
                .expect("blast thread")
                .expect("blast");
            // 20k pps for 0.3 s = 6000 frames, within a batch either way.
            assert!((5_500..=6_300).contains(&r.sent), "{mode:?}: {r}");
            sent += r.sent;
        }
        let json = lab
            .exec("b", &["ip", "-s", "-j", "link", "show", "rx0"])
            .expect("ip -s link");
        let rx = &json[json.find("\"rx\":{").expect("rx stats")..];
        let n: u64 = rx[rx.find("\"packets\":").expect("packets") + 10..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok())
            .expect("a number");
        // Every frame sent arrived at the peer (it may also count an IPv6 packet or two).
        assert!(n >= sent, "received {n}, sent {sent}");
    }
}
