//! A MetalLB-speaker-like layer-2 announcer: answers ARP who-has (and IPv6 neighbour
//! solicitations) for LB IPs that are configured on no interface, from a raw AF_PACKET socket
//! on the elected node's uplink, and sends gratuitous ARP / unsolicited NA when it starts.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::netns::enter_netns;

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];

/// What to announce, and where.
#[derive(Debug, Clone)]
pub struct AnnounceConfig {
    /// Node name (for the log lines).
    pub node: String,
    /// Interface to answer on (the node's uplink).
    pub ifname: String,
    /// LB IPs to answer for.
    pub ips: Vec<IpAddr>,
    /// Source address for neighbour advertisements (the uplink's link-local address).
    pub link_local: Option<Ipv6Addr>,
    /// Append MetalLB-style JSON log lines here.
    pub log: Option<PathBuf>,
}

/// A raw packet socket bound to one interface and ethertype.
struct RawSock {
    fd: libc::c_int,
    ifindex: i32,
}

impl RawSock {
    fn open(ifname: &str, proto: u16) -> Result<RawSock> {
        let cname = std::ffi::CString::new(ifname).context("interface name")?;
        // SAFETY: cname is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            bail!("no interface {ifname} in this namespace");
        }
        let ifindex = i32::try_from(ifindex).context("ifindex")?;
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(proto.to_be()),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .context("AF_PACKET socket (needs CAP_NET_RAW)");
        }
        let sock = RawSock { fd, ifindex };
        let mut sll: libc::sockaddr_ll = unsafe_zeroed_sll();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("bind AF_PACKET");
        }
        Ok(sock)
    }

    /// Receive one frame; None on timeout. Frames we sent ourselves are skipped.
    fn recv(&self, buf: &mut [u8], timeout_ms: i32) -> Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n <= 0 {
            return Ok(None);
        }
        let mut sll: libc::sockaddr_ll = unsafe_zeroed_sll();
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf and sll are valid for the sizes passed.
        let got = unsafe {
            libc::recvfrom(
                self.fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if got < 0 {
            return Ok(None);
        }
        if sll.sll_pkttype == libc::PACKET_OUTGOING {
            return Ok(None);
        }
        Ok(Some(usize::try_from(got).unwrap_or(0)))
    }

    fn send(&self, frame: &[u8]) -> Result<()> {
        let mut sll: libc::sockaddr_ll = unsafe_zeroed_sll();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: frame and sll are valid for the sizes passed.
        let rc = unsafe {
            libc::sendto(
                self.fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("send frame");
        }
        Ok(())
    }
}

impl Drop for RawSock {
    fn drop(&mut self) {
        // SAFETY: fd is ours and open.
        unsafe { libc::close(self.fd) };
    }
}

fn unsafe_zeroed_sll() -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// MAC address of `ifname` in the calling thread's namespace.
pub fn if_mac(ifname: &str) -> Result<[u8; 6]> {
    // SAFETY: plain socket(2) call; closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket");
    }
    // SAFETY: ifreq is plain old data.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(ifname.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: valid ifreq for SIOCGIFHWADDR.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR as _, &mut ifr) };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("MAC of {ifname}"));
    }
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// Format a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn mac_str(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An ARP packet in an Ethernet frame.
pub fn arp_frame(
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

/// A parsed ARP packet (Ethernet/IPv4 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub eth_dst: [u8; 6],
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tpa: Ipv4Addr,
}

/// Parse an ARP frame; None if it is not Ethernet/IPv4 ARP.
pub fn parse_arp(f: &[u8]) -> Option<Arp> {
    if f.len() < 42 || f[12..14] != ETH_P_ARP.to_be_bytes() || f[14..20] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let mut eth_dst = [0; 6];
    eth_dst.copy_from_slice(&f[0..6]);
    let mut sha = [0; 6];
    sha.copy_from_slice(&f[22..28]);
    Some(Arp {
        eth_dst,
        op: u16::from_be_bytes([f[20], f[21]]),
        sha,
        spa: Ipv4Addr::new(f[28], f[29], f[30], f[31]),
        tpa: Ipv4Addr::new(f[38], f[39], f[40], f[41]),
    })
}

fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A neighbour advertisement for `target` from `src` (link-local) to `dst`.
pub fn na_frame(
    eth_dst: [u8; 6],
    mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    solicited: bool,
) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[136, 0, 0, 0]);
    let flags: u8 = if solicited { 0x60 } else { 0x20 };
    icmp.extend_from_slice(&[flags, 0, 0, 0]);
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    let sum = pseudo
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let ck = checksum(&icmp, sum);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

/// A neighbour solicitation seen on the wire: (eth src, IPv6 src, target).
fn parse_ns(f: &[u8]) -> Option<([u8; 6], Ipv6Addr, Ipv6Addr)> {
    if f.len() < 14 + 40 + 24 || f[12..14] != ETH_P_IPV6.to_be_bytes() || f[14 + 6] != 58 {
        return None;
    }
    let icmp = &f[54..];
    if icmp[0] != 135 {
        return None;
    }
    let mut mac = [0; 6];
    mac.copy_from_slice(&f[6..12]);
    let mut src = [0u8; 16];
    src.copy_from_slice(&f[22..38]);
    let mut tgt = [0u8; 16];
    tgt.copy_from_slice(&icmp[8..24]);
    Some((mac, Ipv6Addr::from(src), Ipv6Addr::from(tgt)))
}

fn ipv6_mcast_mac(ip: Ipv6Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// Seconds since the epoch as RFC 3339 UTC with second precision (the speaker's `ts`).
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("{secs}"))
}

struct Logger(Option<std::fs::File>);

impl Logger {
    fn open(path: Option<&Path>) -> Logger {
        Logger(path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        }))
    }
    /// One go-kit JSON line with sorted keys, as the speaker logs.
    fn line(&mut self, fields: &[(&str, String)]) {
        let Some(f) = self.0.as_mut() else {
            return;
        };
        let mut fields: Vec<(&str, String)> = fields.to_vec();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        fields.push(("ts", rfc3339(secs)));
        fields.sort_by(|a, b| a.0.cmp(b.0));
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                if v.starts_with('[') {
                    format!("\"{k}\":{v}")
                } else {
                    format!("\"{k}\":\"{v}\"")
                }
            })
            .collect();
        let _ = writeln!(f, "{{{}}}", body.join(","));
    }
}

/// Run the announcer on the calling thread (already inside the node's namespace) until
/// `stop` is set. `ready` is called once the sockets are open and the first gratuitous
/// announcements are out.
pub fn run(cfg: &AnnounceConfig, stop: &AtomicBool, ready: impl FnOnce()) -> Result<()> {
    let mac = if_mac(&cfg.ifname)?;
    let v4: Vec<Ipv4Addr> = cfg
        .ips
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<Ipv6Addr> = cfg
        .ips
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        })
        .collect();
    let arp = RawSock::open(&cfg.ifname, ETH_P_ARP)?;
    let ndp = if v6.is_empty() {
        None
    } else {
        Some(RawSock::open(&cfg.ifname, ETH_P_IPV6)?)
    };
    let ll = cfg.link_local.unwrap_or(Ipv6Addr::UNSPECIFIED);
    let mut log = Logger::open(cfg.log.as_deref());
    log.line(&[
        ("caller", "announcer.go:126".into()),
        ("event", "createARPResponder".into()),
        ("interface", cfg.ifname.clone()),
        ("level", "info".into()),
        ("msg", "created ARP responder for interface".into()),
    ]);
    let ips_json = format!(
        "[{}]",
        cfg.ips
            .iter()
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    log.line(&[
        ("caller", "main.go:420".into()),
        ("event", "serviceAnnounced".into()),
        ("ips", ips_json),
        ("level", "info".into()),
        ("msg", "service has IP, announcing".into()),
        ("node", cfg.node.clone()),
        ("protocol", "layer2".into()),
    ]);

    let spam = |arp: &RawSock, ndp: Option<&RawSock>| -> Result<()> {
        for ip in &v4 {
            // MetalLB's gratuitous pair: a request and a reply, sender = target = LB IP.
            arp.send(&arp_frame(BROADCAST, mac, 1, mac, *ip, BROADCAST, *ip))?;
            arp.send(&arp_frame(BROADCAST, mac, 2, mac, *ip, BROADCAST, *ip))?;
        }
        if let Some(ndp) = ndp {
            let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
            for ip in &v6 {
                ndp.send(&na_frame(
                    ipv6_mcast_mac(all_nodes),
                    mac,
                    ll,
                    all_nodes,
                    *ip,
                    false,
                ))?;
            }
        }
        Ok(())
    };
    spam(&arp, ndp.as_ref())?;
    ready();

    // Repeat the announcement every 1.1 s for 5 s, as the speaker's doSpam does.
    let start = Instant::now();
    let mut next_spam = start + Duration::from_millis(1100);
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next_spam && now.duration_since(start) < Duration::from_secs(5) {
            spam(&arp, ndp.as_ref())?;
            next_spam += Duration::from_millis(1100);
        }
        if let Some(n) = arp.recv(&mut buf, 50)?
            && let Some(req) = parse_arp(&buf[..n])
        {
            let to_us = req.eth_dst == BROADCAST || req.eth_dst == mac;
            if req.op == 1 && to_us && v4.contains(&req.tpa) {
                log.line(&[
                    ("caller", "arp.go:110".into()),
                    ("interface", cfg.ifname.clone()),
                    ("ip", req.tpa.to_string()),
                    ("level", "debug".into()),
                    (
                        "msg",
                        "got ARP request for service IP, sending response".into(),
                    ),
                    ("responseMAC", mac_str(&mac)),
                    ("senderIP", req.spa.to_string()),
                    ("senderMAC", mac_str(&req.sha)),
                ]);
                arp.send(&arp_frame(req.sha, mac, 2, mac, req.tpa, req.sha, req.spa))?;
            }
        }
        if let Some(ndp) = ndp.as_ref()
            && let Some(n) = ndp.recv(&mut buf, 0)?
            && let Some((src_mac, src, target)) = parse_ns(&buf[..n])
            && v6.contains(&target)
        {
            let (eth, dst, solicited) = if src.is_unspecified() {
                let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                (ipv6_mcast_mac(all), all, false)
            } else {
                (src_mac, src, true)
            };
            ndp.send(&na_frame(eth, mac, ll, dst, target, solicited))?;
        }
    }
    log.line(&[
        ("caller", "main.go:464".into()),
        ("event", "serviceWithdrawn".into()),
        ("level", "info".into()),
        ("msg", "withdrawing service announcement".into()),
        ("reason", "notOwner".into()),
    ]);
    Ok(())
}

/// An announcer running on its own thread inside a node namespace; stops on drop.
pub struct Announcer {
    pub config: AnnounceConfig,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<()>>>,
}

impl Announcer {
    /// Start answering in the namespace at `netns` and return once it is announcing.
    pub fn spawn(netns: PathBuf, config: AnnounceConfig) -> Result<Announcer> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let cfg = config.clone();
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            enter_netns(&netns)?;
            run(&cfg, &flag, move || {
                let _ = tx.send(());
            })
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            stop.store(true, Ordering::Relaxed);
            return match handle.join() {
                Ok(Err(e)) => Err(e.context("announcer failed to start")),
                _ => bail!("announcer did not start"),
            };
        }
        Ok(Announcer {
            config,
            stop,
            handle: Some(handle),
        })
    }

    /// Stop answering (the speaker lost the election or died).
    pub fn stop(mut self) -> Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => bail!("announcer thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// Send one ARP who-has for `target` from `ifname` (calling thread's namespace) and collect the
/// distinct MACs that answer within `wait` — how a test sees two speakers answering.
pub fn arp_probe(
    ifname: &str,
    src: Ipv4Addr,
    target: Ipv4Addr,
    wait: Duration,
) -> Result<Vec<[u8; 6]>> {
    let mac = if_mac(ifname)?;
    let sock = RawSock::open(ifname, ETH_P_ARP)?;
    sock.send(&arp_frame(BROADCAST, mac, 1, mac, src, [0; 6], target))?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 2048];
    let mut seen: Vec<[u8; 6]> = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        if let Some(n) = sock.recv(&mut buf, ms)?
            && let Some(a) = parse_arp(&buf[..n])
            && a.op == 2
            && a.spa == target
            && !seen.contains(&a.sha)
        {
            seen.push(a.sha);
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_744_177_736), "2025-04-09T05:48:56Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn arp_roundtrip() {
        let f = arp_frame(
            BROADCAST,
            [2, 0, 0, 0, 0, 1],
            1,
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(198, 51, 100, 10),
            [0; 6],
            Ipv4Addr::new(198, 51, 100, 240),
        );
        assert_eq!(f.len(), 42);
        let a = parse_arp(&f).expect("arp");
        assert_eq!(a.op, 1);
        assert_eq!(a.tpa, Ipv4Addr::new(198, 51, 100, 240));
        assert_eq!(a.spa, Ipv4Addr::new(198, 51, 100, 10));
    }

    #[test]
    fn na_checksum_verifies() {
        let src: Ipv6Addr = "fe80::1".parse().expect("ip");
        let dst: Ipv6Addr = "2001:db8:100::10".parse().expect("ip");
        let f = na_frame(
            [2; 6],
            [2, 0, 0, 0, 0, 1],
            src,
            dst,
            "2001:db8:100::f0".parse().expect("ip"),
            true,
        );
        let icmp = &f[54..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        let sum: u32 = pseudo
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        assert_eq!(checksum(icmp, sum), 0, "a correct checksum sums to zero");
    }
}
