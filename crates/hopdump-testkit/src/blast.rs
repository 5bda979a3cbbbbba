//! A packet blaster for live-capture benchmarks: sends pre-built UDP frames out of one
//! interface (inside a network namespace) at a target rate or as fast as the kernel takes
//! them, through an AF_PACKET socket with `sendmmsg` batches and the qdisc bypassed. There
//! are no kernel modules here (no pktgen), so this is how the lab makes ≥1 Mpps on a veth.
//!
//! The frames go to a unicast MAC nobody owns: on the receiving end of a veth they reach
//! packet taps (the capture under test) and are then dropped early as PACKET_OTHERHOST, so
//! the receiving stack costs little and no ICMP comes back.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Send until `o.duration` has passed or `stop` is set.
pub fn blast(o: &BlastOptions, stop: &AtomicBool) -> Result<BlastReport> {
    if let Some(ns) = &o.netns {
        enter_netns(ns)?;
    }
    let (sock, mac) = open_socket(&o.iface)?;
    let mut frames = udp_frames(mac, o);
    let batch = o.batch.clamp(1, 1024);
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

    let mut r = BlastReport {
        target_pps: o.pps,
        ..BlastReport::default()
    };
    let start = Instant::now();
    loop {
        let now = start.elapsed();
        if now >= o.duration || stop.load(Ordering::Relaxed) {
            break;
        }
        let want = if o.pps == 0 {
            batch as u64
        } else {
            let due = (now.as_nanos() * u128::from(o.pps) / 1_000_000_000) as u64;
            let want = due.saturating_sub(r.sent).min(batch as u64);
            if want == 0 {
                // Next frame due in `gap`: sleep if it is far off, otherwise spin.
                let next_ns = (u128::from(r.sent + 1) * 1_000_000_000 / u128::from(o.pps)) as u64;
                let gap = next_ns.saturating_sub(now.as_nanos() as u64);
                if gap > 100_000 {
                    std::thread::sleep(Duration::from_nanos(gap - 50_000));
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            want
        };
        // SAFETY: msgs[..want] point at iovecs and frames that outlive the call.
        let rc = unsafe {
            libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), want as libc::c_uint, 0)
        };
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
        let o = BlastOptions {
            netns: Some(lab.ns("a")),
            iface: "tx0".into(),
            pps: 20_000,
            duration: Duration::from_millis(300),
            ..BlastOptions::default()
        };
        let stop = AtomicBool::new(false);
        let r = std::thread::spawn(move || blast(&o, &stop))
            .join()
            .expect("blast thread")
            .expect("blast");
        // 20k pps for 0.3 s = 6000 frames, within a batch either way.
        assert!((5_500..=6_300).contains(&r.sent), "{r}");
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
        assert!(n >= r.sent, "received {n}, {r}");
    }
}
