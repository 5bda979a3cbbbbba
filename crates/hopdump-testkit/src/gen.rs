//! Synthetic but realistic MetalLB / Kubernetes traffic, written as a pcap or pcapng file, for
//! benchmarks and tests that need millions of packets: streamed in constant memory, the same
//! bytes for the same seed.
//!
//! What is in it, interleaved the way a busy node shows it:
//! - TCP flows from clients in 203.0.113.0/24 to the LoadBalancer IP 198.51.100.240:80/443
//!   (as seen on the node's uplink), with handshakes, requests, MSS-sized response segments,
//!   delayed ACKs, keep-alive, FIN or RST, plus SYNs nobody answers and refused connections;
//! - the same kind of flows after DNAT to pod IPs 10.244.x.y:8080 (as seen on cni0), some as a
//!   second copy of an uplink flow (a two-point capture), and SNATed ones from the node IP;
//! - some uplink flows tagged with 802.1Q VLAN 100;
//! - VXLAN (UDP 8472 as flannel uses it, and 4789) carrying pod-to-pod TCP between nodes;
//! - DNS queries and answers on :53, mDNS on :5353, ARP who-has / is-at for the LB IP.
//!
//! Frames are written by hand (no per-packet allocation), with correct IPv4, TCP and UDP
//! checksums. Timestamps are microseconds, strictly increasing.

use std::io::{self, Write};

/// The LoadBalancer IP MetalLB announces.
pub const LB_IP: [u8; 4] = [198, 51, 100, 240];
/// Upstream router on the LAN (asks who-has the LB IP).
const ROUTER_IP: [u8; 4] = [198, 51, 100, 1];
/// Nodes: node 1 answers ARP for the LB IP (MetalLB L2 speaker) and SNATs.
const NODE1_IP: [u8; 4] = [198, 51, 100, 11];
const NODE2_IP: [u8; 4] = [198, 51, 100, 12];
/// LAN resolver and in-cluster DNS pod.
const LAN_DNS_IP: [u8; 4] = [198, 51, 100, 53];
const POD_DNS_IP: [u8; 4] = [10, 244, 0, 10];
const MDNS_IP: [u8; 4] = [224, 0, 0, 251];

const ROUTER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];
const NODE1_MAC: [u8; 6] = [0x02, 0x42, 0xc6, 0x33, 0x64, 0x0b];
const NODE2_MAC: [u8; 6] = [0x02, 0x42, 0xc6, 0x33, 0x64, 0x0c];
const CNI0_MAC: [u8; 6] = [0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x01];
const FLANNEL1_MAC: [u8; 6] = [0x6e, 0x1c, 0x0a, 0xf4, 0x01, 0x00];
const FLANNEL2_MAC: [u8; 6] = [0x6e, 0x1c, 0x0a, 0xf4, 0x02, 0x00];
const BROADCAST: [u8; 6] = [0xff; 6];
const MDNS_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];

const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_VLAN: u16 = 0x8100;
const IP_TCP: u8 = 6;
const IP_UDP: u8 = 17;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// Flows open at once: enough that per-flow state in a reader (tcpdump's relative sequence
/// numbers, say) is exercised like on a busy node.
const ACTIVE_FLOWS: usize = 512;
/// Snapshot length written in the file headers.
const SNAPLEN: u32 = 262_144;
/// First timestamp: 2026-01-01T00:00:00Z, in microseconds.
const START_US: u64 = 1_767_225_600_000_000;

/// Output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap, microsecond timestamps, little-endian.
    Pcap,
    /// pcapng: one section, one Ethernet interface, enhanced packet blocks.
    Pcapng,
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub packets: u64,
    /// Bytes of frames (not counting file headers).
    pub frame_bytes: u64,
    /// Bytes of the whole file.
    pub file_bytes: u64,
}

/// Write `packets` generated frames from `seed` to `out` (buffer it: many small writes).
pub fn write_capture<W: Write>(
    mut out: W,
    packets: u64,
    seed: u64,
    format: Format,
) -> io::Result<Summary> {
    let mut g = Generator::new(seed);
    let mut sum = Summary::default();
    let header = match format {
        Format::Pcap => pcap_header(),
        Format::Pcapng => pcapng_header(),
    };
    out.write_all(&header)?;
    sum.file_bytes += header.len() as u64;
    let mut rec = [0u8; 28];
    for _ in 0..packets {
        let (ts_us, frame) = g.next_frame();
        let len = frame.len() as u32;
        let rec_len = match format {
            Format::Pcap => {
                rec[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
                rec[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
                rec[8..12].copy_from_slice(&len.to_le_bytes());
                rec[12..16].copy_from_slice(&len.to_le_bytes());
                out.write_all(&rec[..16])?;
                out.write_all(frame)?;
                16 + frame.len()
            }
            Format::Pcapng => {
                let pad = (4 - frame.len() % 4) % 4;
                let block_len = (32 + frame.len() + pad) as u32;
                rec[0..4].copy_from_slice(&6u32.to_le_bytes());
                rec[4..8].copy_from_slice(&block_len.to_le_bytes());
                rec[8..12].copy_from_slice(&0u32.to_le_bytes());
                rec[12..16].copy_from_slice(&((ts_us >> 32) as u32).to_le_bytes());
                rec[16..20].copy_from_slice(&(ts_us as u32).to_le_bytes());
                rec[20..24].copy_from_slice(&len.to_le_bytes());
                rec[24..28].copy_from_slice(&len.to_le_bytes());
                out.write_all(&rec)?;
                out.write_all(frame)?;
                out.write_all(&[0u8; 4][..pad])?;
                out.write_all(&block_len.to_le_bytes())?;
                block_len as usize
            }
        };
        sum.packets += 1;
        sum.frame_bytes += frame.len() as u64;
        sum.file_bytes += rec_len as u64;
    }
    out.flush()?;
    Ok(sum)
}

fn pcap_header() -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&SNAPLEN.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    h
}

fn pcapng_header() -> Vec<u8> {
    let mut h = Vec::with_capacity(28 + 32);
    // Section header block, no options.
    h.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
    h.extend_from_slice(&28u32.to_le_bytes());
    h.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&(-1i64).to_le_bytes());
    h.extend_from_slice(&28u32.to_le_bytes());
    // Interface description block: Ethernet, if_name "eth0", default (microsecond) resolution.
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&32u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&SNAPLEN.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes()); // if_name
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(b"eth0");
    h.extend_from_slice(&[0u8; 4]); // opt_endofopt
    h.extend_from_slice(&32u32.to_le_bytes());
    h
}

/// xoshiro256** seeded through splitmix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut s = [0u64; 4];
        for w in &mut s {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *w = z ^ (z >> 31);
        }
        Rng(s)
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift (bias below 2^-32 for our n).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille`/1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < per_mille
    }
}

/// Internet checksum helpers: 64-bit accumulation with end-around carry.
pub mod checksum {
    /// Add `data` (as big-endian 16-bit words, an odd last byte padded with zero) to `acc`.
    pub fn add(mut acc: u64, data: &[u8]) -> u64 {
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            let (s, carry) = acc.overflowing_add(u64::from_be_bytes(w));
            acc = s + u64::from(carry);
        }
        let rem = chunks.remainder();
        if !rem.is_empty() {
            let mut w = [0u8; 8];
            w[..rem.len()].copy_from_slice(rem);
            let (s, carry) = acc.overflowing_add(u64::from_be_bytes(w));
            acc = s + u64::from(carry);
        }
        acc
    }

    /// Fold to 16 bits and complement: the value to store in a checksum field.
    pub fn finish(acc: u64) -> u16 {
        let mut s = (acc >> 32) + (acc & 0xffff_ffff);
        s = (s >> 32) + (s & 0xffff_ffff);
        s = (s >> 16) + (s & 0xffff);
        s = (s >> 16) + (s & 0xffff);
        s = (s >> 16) + (s & 0xffff);
        !(s as u16)
    }

    /// Checksum of a byte range (IPv4 header).
    pub fn of(data: &[u8]) -> u16 {
        finish(add(0, data))
    }

    /// Checksum of a TCP or UDP segment with its IPv4 pseudo-header.
    pub fn l4(src: [u8; 4], dst: [u8; 4], proto: u8, segment: &[u8]) -> u16 {
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&src);
        pseudo[4..8].copy_from_slice(&dst);
        pseudo[9] = proto;
        pseudo[10..12].copy_from_slice(&(segment.len() as u16).to_be_bytes());
        finish(add(add(0, &pseudo), segment))
    }
}

// ---------------------------------------------------------------------------------------
// Frame writers: append to a buffer, fix up lengths and checksums afterwards.

fn put_eth(b: &mut Vec<u8>, dst: [u8; 6], src: [u8; 6], vlan: Option<u16>, ethertype: u16) {
    b.extend_from_slice(&dst);
    b.extend_from_slice(&src);
    if let Some(vid) = vlan {
        b.extend_from_slice(&ETH_VLAN.to_be_bytes());
        b.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    b.extend_from_slice(&ethertype.to_be_bytes());
}

/// IPv4 header without options; returns its offset for `end_ipv4`.
fn begin_ipv4(b: &mut Vec<u8>, src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, ttl: u8) -> usize {
    let at = b.len();
    let df = if proto == IP_TCP { 0x4000u16 } else { 0 };
    b.extend_from_slice(&[0x45, 0, 0, 0]);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&df.to_be_bytes());
    b.extend_from_slice(&[ttl, proto, 0, 0]);
    b.extend_from_slice(&src);
    b.extend_from_slice(&dst);
    at
}

/// Set the IPv4 total length to the end of the buffer and compute the header checksum.
fn end_ipv4(b: &mut [u8], at: usize) {
    let total = (b.len() - at) as u16;
    b[at + 2..at + 4].copy_from_slice(&total.to_be_bytes());
    let c = checksum::of(&b[at..at + 20]);
    b[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
}

fn begin_udp(b: &mut Vec<u8>, sport: u16, dport: u16) -> usize {
    let at = b.len();
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    at
}

fn end_udp(b: &mut [u8], at: usize, src: [u8; 4], dst: [u8; 4]) {
    let len = (b.len() - at) as u16;
    b[at + 4..at + 6].copy_from_slice(&len.to_be_bytes());
    let mut c = checksum::l4(src, dst, IP_UDP, &b[at..]);
    if c == 0 {
        c = 0xffff; // zero means "no checksum" in UDP over IPv4
    }
    b[at + 6..at + 8].copy_from_slice(&c.to_be_bytes());
}

/// One end-to-end view of a TCP connection: addresses as seen at one capture point.
#[derive(Clone, Copy, Debug)]
struct Ends {
    c_mac: [u8; 6],
    s_mac: [u8; 6],
    c_ip: [u8; 4],
    s_ip: [u8; 4],
    c_port: u16,
    s_port: u16,
    vlan: Option<u16>,
    c_ttl: u8,
    s_ttl: u8,
}

/// The VXLAN tunnel a pod-to-pod flow crosses (client side = node 1).
#[derive(Clone, Copy, Debug)]
struct Tunnel {
    sport: u16,
    dport: u16,
    vni: u32,
}

/// A TCP segment, independent of the addresses it is shown with.
#[derive(Clone, Copy, Debug)]
struct Seg {
    c2s: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    win: u16,
    len: u16,
    payload: Payload,
    syn: bool,
    tsval: u32,
    tsecr: u32,
    mss: u16,
}

/// Where a segment's bytes come from.
#[derive(Clone, Copy, Debug)]
enum Payload {
    None,
    /// One whole HTTP request: (offset, length) in the request pool.
    Request(u32),
    /// The first segment of an HTTP response whose body and headers total this many bytes.
    ResponseHead(u32),
    /// Response body (JSON text) or, on TLS flows, opaque bytes.
    Body,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Syn,
    SynRetry(u8),
    SynAck,
    Refuse,
    Ack,
    Request,
    ReqAck,
    Response,
    Close(u8),
    Done,
}

#[derive(Clone, Debug)]
struct Flow {
    ends: Ends,
    /// Second capture point showing the same segments (uplink + cni0 after DNAT).
    mirror: Option<Ends>,
    tunnel: Option<Tunnel>,
    mss: u16,
    c_nxt: u32,
    s_nxt: u32,
    c_ts: u32,
    s_ts: u32,
    c_win: u16,
    s_win: u16,
    st: St,
    resp_left: u32,
    unacked: u8,
    requests_left: u8,
    rst: bool,
    /// Port 443: payload is opaque bytes, not HTTP.
    tls: bool,
    /// The next response segment starts the HTTP response headers.
    head_pending: bool,
}

/// Streams frames: call `next_frame` as often as you like.
pub struct Generator {
    rng: Rng,
    now_us: u64,
    flows: Vec<Flow>,
    /// A frame decided together with the previous one (DNS answer, ARP reply, mirror copy).
    pending: Option<Pending>,
    buf: Vec<u8>,
    /// Whole HTTP requests back to back, and where each starts.
    requests: Vec<u8>,
    request_starts: Vec<u32>,
    /// JSON text for response bodies.
    bodies: Vec<u8>,
    /// Random bytes for TLS records.
    opaque: Vec<u8>,
    ip_id: u16,
}

enum Pending {
    Tcp {
        ends: Ends,
        tunnel: Option<Tunnel>,
        tls: bool,
        seg: Seg,
    },
    Dns {
        query: DnsQuery,
    },
    ArpReply,
}

#[derive(Clone, Copy)]
struct DnsQuery {
    c_mac: [u8; 6],
    s_mac: [u8; 6],
    c_ip: [u8; 4],
    s_ip: [u8; 4],
    c_port: u16,
    id: u16,
    name: u16,
    aaaa: bool,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut rng = Rng::new(seed);
        // Payload pools, sliced for each segment: no allocation per packet.
        let mut requests = Vec::with_capacity(80 * 1024);
        let mut request_starts = Vec::new();
        while requests.len() < 64 * 1024 {
            request_starts.push(requests.len() as u32);
            let order = rng.below(100_000);
            let cookie = rng.below(24) as usize * 16;
            requests.extend_from_slice(
                format!(
                    "GET /api/v1/orders/{order} HTTP/1.1\r\nHost: shop.example.com\r\n\
                     User-Agent: curl/8.5.0\r\nAccept: application/json\r\n\
                     X-Request-Id: {:016x}\r\nCookie: session={}\r\n\r\n",
                    rng.next_u64(),
                    &"0123456789abcdef".repeat(24)[..cookie],
                )
                .as_bytes(),
            );
        }
        let mut bodies = Vec::with_capacity(66 * 1024);
        bodies.extend_from_slice(b"{\"items\":[");
        while bodies.len() < 64 * 1024 + 1600 {
            bodies.extend_from_slice(
                format!(
                    "{{\"sku\":\"{:08x}\",\"qty\":{},\"price\":\"{}.99\"}},\n",
                    rng.next_u64() as u32,
                    rng.range(1, 9),
                    rng.range(1, 500)
                )
                .as_bytes(),
            );
        }
        let opaque: Vec<u8> = (0..(64 * 1024 + 1600) / 8)
            .flat_map(|_| rng.next_u64().to_le_bytes())
            .collect();
        let mut g = Generator {
            now_us: START_US,
            flows: Vec::with_capacity(ACTIVE_FLOWS),
            pending: None,
            buf: Vec::with_capacity(2048),
            requests,
            request_starts,
            bodies,
            opaque,
            ip_id: rng.below(65536) as u16,
            rng,
        };
        for _ in 0..ACTIVE_FLOWS {
            let f = g.new_flow();
            g.flows.push(f);
        }
        g
    }

    /// The next frame and its timestamp in microseconds since the Unix epoch.
    pub fn next_frame(&mut self) -> (u64, &[u8]) {
        self.buf.clear();
        if let Some(p) = self.pending.take() {
            self.now_us += u64::from(self.rng.range(1, 3));
            match p {
                Pending::Tcp {
                    ends,
                    tunnel,
                    tls,
                    seg,
                } => self.render_tcp(&ends, tunnel, tls, &seg),
                Pending::Dns { query } => {
                    self.now_us += u64::from(self.rng.range(20, 400));
                    self.render_dns(&query, true);
                }
                Pending::ArpReply => self.render_arp(false, false),
            }
            return (self.now_us, &self.buf);
        }
        self.now_us += u64::from(self.rng.range(1, 8));
        let r = self.rng.below(1000);
        if r < 6 {
            let gratuitous = self.rng.chance(200);
            self.render_arp(true, gratuitous);
            if !gratuitous {
                self.pending = Some(Pending::ArpReply);
            }
        } else if r < 40 {
            let q = self.new_dns_query();
            self.render_dns(&q, false);
            self.pending = Some(Pending::Dns { query: q });
        } else if r < 48 {
            self.render_mdns();
        } else {
            self.tcp_step();
        }
        (self.now_us, &self.buf)
    }

    fn tcp_step(&mut self) {
        let i = self.rng.below(ACTIVE_FLOWS as u32) as usize;
        let (seg, ends, mirror, tunnel, tls) = loop {
            let now_ms = (self.now_us / 1000) as u32;
            let f = &mut self.flows[i];
            let reqs = &self.request_starts;
            if let Some(seg) = f.step(&mut self.rng, now_ms, reqs, self.requests.len()) {
                break (seg, f.ends, f.mirror, f.tunnel, f.tls);
            }
            self.flows[i] = self.new_flow();
        };
        match mirror {
            // Client-to-server crosses the uplink first, then cni0 after DNAT; replies the
            // other way round.
            Some(m) if seg.c2s => {
                self.render_tcp(&ends, tunnel, tls, &seg);
                self.pending = Some(Pending::Tcp {
                    ends: m,
                    tunnel,
                    tls,
                    seg,
                });
            }
            Some(m) => {
                self.render_tcp(&m, tunnel, tls, &seg);
                self.pending = Some(Pending::Tcp {
                    ends,
                    tunnel,
                    tls,
                    seg,
                });
            }
            None => self.render_tcp(&ends, tunnel, tls, &seg),
        }
    }

    fn client_ip(&mut self) -> [u8; 4] {
        [203, 0, 113, self.rng.range(1, 254) as u8]
    }

    fn pod_ip(&mut self, node: u8) -> [u8; 4] {
        [10, 244, node, self.rng.range(2, 254) as u8]
    }

    fn new_flow(&mut self) -> Flow {
        let rng = &mut self.rng;
        let c_port = rng.range(32768, 60999) as u16;
        let view = rng.below(100);
        let mut mirror = None;
        let mut tunnel = None;
        let mut mss = 1460;
        let ends = if view < 50 {
            // Uplink: client -> LB IP, as the router hands it to the node MetalLB elected.
            let c_ip = self.client_ip();
            let s_port = if self.rng.chance(700) { 80 } else { 443 };
            let vlan = self.rng.chance(80).then_some(100);
            if vlan.is_some() {
                mss = 1456; // frames stay within 1514 bytes with the tag
            }
            let e = Ends {
                c_mac: ROUTER_MAC,
                s_mac: NODE1_MAC,
                c_ip,
                s_ip: LB_IP,
                c_port,
                s_port,
                vlan,
                c_ttl: 57,
                s_ttl: 64,
            };
            if vlan.is_none() && self.rng.chance(250) {
                let pod = self.pod_ip(0);
                mirror = Some(Ends {
                    c_mac: CNI0_MAC,
                    s_mac: pod_mac(pod),
                    s_ip: pod,
                    s_port: 8080,
                    c_ttl: 56,
                    ..e
                });
            }
            e
        } else if view < 70 {
            // cni0 after DNAT: client address kept (externalTrafficPolicy: Local).
            let c_ip = self.client_ip();
            let pod = self.pod_ip(0);
            Ends {
                c_mac: CNI0_MAC,
                s_mac: pod_mac(pod),
                c_ip,
                s_ip: pod,
                c_port,
                s_port: 8080,
                vlan: None,
                c_ttl: 56,
                s_ttl: 64,
            }
        } else if view < 85 {
            // cni0 after DNAT and SNAT to the node (externalTrafficPolicy: Cluster).
            let pod = self.pod_ip(0);
            Ends {
                c_mac: CNI0_MAC,
                s_mac: pod_mac(pod),
                c_ip: NODE1_IP,
                s_ip: pod,
                c_port,
                s_port: 8080,
                vlan: None,
                c_ttl: 63,
                s_ttl: 64,
            }
        } else {
            // Pod on node 1 to pod on node 2 through the VXLAN overlay (inner MTU 1450).
            let (c_pod, s_pod) = (self.pod_ip(1), self.pod_ip(2));
            let flannel = self.rng.chance(700);
            tunnel = Some(Tunnel {
                sport: self.rng.range(32768, 60999) as u16,
                dport: if flannel { 8472 } else { 4789 },
                vni: if flannel { 1 } else { 4096 },
            });
            mss = 1398;
            Ends {
                c_mac: FLANNEL1_MAC,
                s_mac: FLANNEL2_MAC,
                c_ip: c_pod,
                s_ip: s_pod,
                c_port,
                s_port: 8080,
                vlan: None,
                c_ttl: 63,
                s_ttl: 63,
            }
        };
        let rng = &mut self.rng;
        let kind = rng.below(1000);
        let st = if kind < 20 {
            St::SynRetry(0) // nobody answers: the classic "LB IP does not work"
        } else if kind < 40 {
            St::Refuse
        } else {
            St::Syn
        };
        let tls = ends.s_port == 443;
        let resp_left = match rng.below(100) {
            0..50 => rng.range(200, 1400),
            50..85 => rng.range(1500, 15_000),
            _ => rng.range(15_000, 90_000),
        };
        Flow {
            ends,
            mirror,
            tunnel,
            mss,
            c_nxt: rng.next_u64() as u32,
            s_nxt: rng.next_u64() as u32,
            c_ts: rng.next_u64() as u32,
            s_ts: rng.next_u64() as u32,
            c_win: 502,
            s_win: 509,
            st,
            resp_left,
            unacked: 0,
            requests_left: if rng.chance(200) {
                rng.range(1, 3) as u8
            } else {
                0
            },
            rst: rng.chance(100),
            tls,
            head_pending: false,
        }
    }

    /// Ethernet (+VLAN) / IPv4 / TCP for `seg` shown with `e`, inside VXLAN if tunnelled.
    fn render_tcp(&mut self, e: &Ends, tunnel: Option<Tunnel>, tls: bool, seg: &Seg) {
        let (smac, dmac, sip, dip, sport, dport, ttl) = if seg.c2s {
            (
                e.c_mac, e.s_mac, e.c_ip, e.s_ip, e.c_port, e.s_port, e.c_ttl,
            )
        } else {
            (
                e.s_mac, e.c_mac, e.s_ip, e.c_ip, e.s_port, e.c_port, e.s_ttl,
            )
        };
        self.ip_id = self.ip_id.wrapping_add(1);
        let id = self.ip_id;
        let b = &mut self.buf;
        let outer = tunnel.map(|t| {
            let (omac_s, omac_d, oip_s, oip_d) = if seg.c2s {
                (NODE1_MAC, NODE2_MAC, NODE1_IP, NODE2_IP)
            } else {
                (NODE2_MAC, NODE1_MAC, NODE2_IP, NODE1_IP)
            };
            put_eth(b, omac_d, omac_s, None, ETH_IPV4);
            let ip = begin_ipv4(b, oip_s, oip_d, IP_UDP, id ^ 0x5a5a, 64);
            let udp = begin_udp(b, t.sport, t.dport);
            b.extend_from_slice(&[0x08, 0, 0, 0]);
            b.extend_from_slice(&(t.vni << 8).to_be_bytes());
            (ip, udp, oip_s, oip_d)
        });
        put_eth(b, dmac, smac, e.vlan, ETH_IPV4);
        let ip = begin_ipv4(b, sip, dip, IP_TCP, id, ttl);
        let tcp = b.len();
        let hdr_len: usize = if seg.syn { 40 } else { 32 };
        b.extend_from_slice(&sport.to_be_bytes());
        b.extend_from_slice(&dport.to_be_bytes());
        b.extend_from_slice(&seg.seq.to_be_bytes());
        b.extend_from_slice(&seg.ack.to_be_bytes());
        b.push(((hdr_len / 4) as u8) << 4);
        b.push(seg.flags);
        b.extend_from_slice(&seg.win.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        if seg.syn {
            // mss, sackOK, TS, nop, wscale 7: what Linux sends.
            b.extend_from_slice(&[2, 4]);
            b.extend_from_slice(&seg.mss.to_be_bytes());
            b.extend_from_slice(&[4, 2, 8, 10]);
            b.extend_from_slice(&seg.tsval.to_be_bytes());
            b.extend_from_slice(&seg.tsecr.to_be_bytes());
            b.extend_from_slice(&[1, 3, 3, 7]);
        } else {
            b.extend_from_slice(&[1, 1, 8, 10]);
            b.extend_from_slice(&seg.tsval.to_be_bytes());
            b.extend_from_slice(&seg.tsecr.to_be_bytes());
        }
        let len = usize::from(seg.len);
        let spot = (seg.seq as usize).wrapping_mul(2_654_435_761);
        match seg.payload {
            Payload::None => {}
            Payload::Request(i) => {
                let start = self.request_starts[i as usize] as usize;
                b.extend_from_slice(&self.requests[start..start + len]);
            }
            Payload::ResponseHead(total) => {
                let head = format_response_head(total);
                let head = &head.0[..head.1.min(len)];
                b.extend_from_slice(head);
                let body = len - head.len();
                b.extend_from_slice(&self.bodies[..body]);
            }
            Payload::Body if tls => {
                let off = spot % (self.opaque.len() - 1600);
                b.extend_from_slice(&self.opaque[off..off + len]);
            }
            Payload::Body => {
                let off = spot % (self.bodies.len() - 1600);
                b.extend_from_slice(&self.bodies[off..off + len]);
            }
        }
        let c = checksum::l4(sip, dip, IP_TCP, &b[tcp..]);
        b[tcp + 16..tcp + 18].copy_from_slice(&c.to_be_bytes());
        end_ipv4(b, ip);
        if let Some((oip, oudp, os, od)) = outer {
            end_udp(b, oudp, os, od);
            end_ipv4(b, oip);
        }
    }

    fn new_dns_query(&mut self) -> DnsQuery {
        let rng = &mut self.rng;
        let from_pod = rng.chance(500);
        let (c_mac, s_mac, c_ip, s_ip) = if from_pod {
            let p = self.pod_ip(0);
            (pod_mac(p), pod_mac(POD_DNS_IP), p, POD_DNS_IP)
        } else {
            (ROUTER_MAC, NODE1_MAC, self.client_ip(), LAN_DNS_IP)
        };
        let rng = &mut self.rng;
        DnsQuery {
            c_mac,
            s_mac,
            c_ip,
            s_ip,
            c_port: rng.range(32768, 60999) as u16,
            id: rng.below(65536) as u16,
            name: rng.below(1000) as u16,
            aaaa: rng.chance(200),
        }
    }

    fn render_dns(&mut self, q: &DnsQuery, answer: bool) {
        self.ip_id = self.ip_id.wrapping_add(1);
        let b = &mut self.buf;
        let (smac, dmac, sip, dip, sport, dport) = if answer {
            (q.s_mac, q.c_mac, q.s_ip, q.c_ip, 53, q.c_port)
        } else {
            (q.c_mac, q.s_mac, q.c_ip, q.s_ip, q.c_port, 53)
        };
        put_eth(b, dmac, smac, None, ETH_IPV4);
        let ip = begin_ipv4(b, sip, dip, IP_UDP, self.ip_id, 64);
        let udp = begin_udp(b, sport, dport);
        let answers: u16 = u16::from(answer && !q.aaaa);
        b.extend_from_slice(&q.id.to_be_bytes());
        b.extend_from_slice(if answer { &[0x81, 0x80] } else { &[0x01, 0x00] });
        b.extend_from_slice(&[0, 1]);
        b.extend_from_slice(&answers.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        // svc-N.default.svc.cluster.local
        let label = format_svc(q.name);
        b.push(label.1 as u8);
        b.extend_from_slice(&label.0[..label.1]);
        for part in [&b"default"[..], b"svc", b"cluster", b"local"] {
            b.push(part.len() as u8);
            b.extend_from_slice(part);
        }
        b.push(0);
        b.extend_from_slice(if q.aaaa {
            &[0, 28, 0, 1]
        } else {
            &[0, 1, 0, 1]
        });
        if answers > 0 {
            b.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
            b.extend_from_slice(&[10, 96, (q.name >> 8) as u8, q.name as u8]);
        }
        end_udp(b, udp, sip, dip);
        end_ipv4(b, ip);
    }

    fn render_mdns(&mut self) {
        self.ip_id = self.ip_id.wrapping_add(1);
        let host = self.rng.range(20, 60) as u8;
        let b = &mut self.buf;
        let sip = [198, 51, 100, host];
        put_eth(
            b,
            MDNS_MAC,
            [0x02, 0x11, 0x22, 0x33, 0x44, host],
            None,
            ETH_IPV4,
        );
        let ip = begin_ipv4(b, sip, MDNS_IP, IP_UDP, self.ip_id, 255);
        let udp = begin_udp(b, 5353, 5353);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        for part in [&b"_http"[..], b"_tcp", b"local"] {
            b.push(part.len() as u8);
            b.extend_from_slice(part);
        }
        b.extend_from_slice(&[0, 0, 12, 0, 1]); // PTR IN
        end_udp(b, udp, sip, MDNS_IP);
        end_ipv4(b, ip);
    }

    /// who-has LB_IP tell router (broadcast), its is-at reply from the MetalLB speaker on
    /// node 1, or a gratuitous ARP from the speaker after a failover.
    fn render_arp(&mut self, request: bool, gratuitous: bool) {
        let vlan = self.rng.chance(100).then_some(100);
        let b = &mut self.buf;
        let (dst, src, op, sha, spa, tha, tpa) = if gratuitous {
            (
                BROADCAST, NODE1_MAC, 1u16, NODE1_MAC, LB_IP, [0u8; 6], LB_IP,
            )
        } else if request {
            (
                BROADCAST, ROUTER_MAC, 1, ROUTER_MAC, ROUTER_IP, [0; 6], LB_IP,
            )
        } else {
            (
                ROUTER_MAC, NODE1_MAC, 2, NODE1_MAC, LB_IP, ROUTER_MAC, ROUTER_IP,
            )
        };
        put_eth(b, dst, src, vlan, ETH_ARP);
        b.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        b.extend_from_slice(&op.to_be_bytes());
        b.extend_from_slice(&sha);
        b.extend_from_slice(&spa);
        b.extend_from_slice(&tha);
        b.extend_from_slice(&tpa);
        // Padded to the Ethernet minimum, as a NIC receives it.
        if b.len() < 60 {
            b.resize(60, 0);
        }
    }
}

fn pod_mac(ip: [u8; 4]) -> [u8; 6] {
    [0x0a, 0x58, ip[0], ip[1], ip[2], ip[3]]
}

/// `HTTP/1.1 200 OK` headers for a response of `total` bytes (headers included).
fn format_response_head(total: u32) -> ([u8; 96], usize) {
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ";
    let mut out = [0u8; 96];
    out[..HEAD.len()].copy_from_slice(HEAD);
    // Six digits, zero-padded, so the head has a fixed length.
    let body = total.saturating_sub((HEAD.len() + 10) as u32).min(999_999);
    let digits = format!("{body:06}\r\n\r\n");
    out[HEAD.len()..HEAD.len() + 10].copy_from_slice(digits.as_bytes());
    (out, HEAD.len() + 10)
}

fn format_svc(n: u16) -> ([u8; 12], usize) {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(b"svc-");
    let digits = n.to_string();
    out[4..4 + digits.len()].copy_from_slice(digits.as_bytes());
    (out, 4 + digits.len())
}

impl Flow {
    fn seg(&self, c2s: bool, flags: u8, len: u16, now_ms: u32) -> Seg {
        let payload = if len == 0 {
            Payload::None
        } else {
            Payload::Body
        };
        let (seq, ack, win, tsval, tsecr) = if c2s {
            let ts = self.c_ts.wrapping_add(now_ms);
            (
                self.c_nxt,
                self.s_nxt,
                self.c_win,
                ts,
                self.s_ts.wrapping_add(now_ms),
            )
        } else {
            let ts = self.s_ts.wrapping_add(now_ms);
            (
                self.s_nxt,
                self.c_nxt,
                self.s_win,
                ts,
                self.c_ts.wrapping_add(now_ms),
            )
        };
        // SYNs carry unscaled windows, as Linux sends them.
        let win = match (flags & TCP_SYN != 0, c2s) {
            (true, true) => 64240,
            (true, false) => 65160,
            _ => win,
        };
        Seg {
            c2s,
            flags,
            seq,
            ack: if flags & TCP_ACK != 0 { ack } else { 0 },
            win,
            len,
            payload,
            syn: flags & TCP_SYN != 0,
            tsval,
            tsecr: if flags & TCP_ACK != 0 { tsecr } else { 0 },
            mss: self.mss,
        }
    }

    /// The next segment of this connection, or None when it is over.
    fn step(&mut self, rng: &mut Rng, now_ms: u32, reqs: &[u32], req_end: usize) -> Option<Seg> {
        loop {
            let s = match self.st {
                St::Done => return None,
                St::Syn | St::SynRetry(0) | St::Refuse => {
                    let s = self.seg(true, TCP_SYN, 0, now_ms);
                    self.st = match self.st {
                        St::Syn => St::SynAck,
                        St::Refuse => St::Close(9),
                        _ => St::SynRetry(1),
                    };
                    s
                }
                St::SynRetry(n) => {
                    let s = self.seg(true, TCP_SYN, 0, now_ms);
                    self.st = if n >= 2 {
                        St::Done
                    } else {
                        St::SynRetry(n + 1)
                    };
                    s
                }
                St::SynAck => {
                    self.c_nxt = self.c_nxt.wrapping_add(1);
                    let s = self.seg(false, TCP_SYN | TCP_ACK, 0, now_ms);
                    self.s_nxt = self.s_nxt.wrapping_add(1);
                    self.st = St::Ack;
                    s
                }
                St::Ack => {
                    self.st = St::Request;
                    self.seg(true, TCP_ACK, 0, now_ms)
                }
                St::Request => {
                    let (len, payload) = if self.tls {
                        (rng.range(90, 700), Payload::Body)
                    } else {
                        let i = rng.below(reqs.len() as u32);
                        let start = reqs[i as usize] as usize;
                        let end = reqs.get(i as usize + 1).map_or(req_end, |&e| e as usize);
                        ((end - start) as u32, Payload::Request(i))
                    };
                    let len = len as u16;
                    let mut s = self.seg(true, TCP_PSH | TCP_ACK, len, now_ms);
                    s.payload = payload;
                    self.head_pending = !self.tls;
                    self.c_nxt = self.c_nxt.wrapping_add(u32::from(len));
                    self.st = St::ReqAck;
                    s
                }
                St::ReqAck => {
                    self.st = St::Response;
                    self.seg(false, TCP_ACK, 0, now_ms)
                }
                St::Response => {
                    if self.unacked >= 2 || (self.resp_left == 0 && self.unacked > 0) {
                        self.unacked = 0;
                        self.seg(true, TCP_ACK, 0, now_ms)
                    } else if self.resp_left > 0 {
                        // Timestamps on every segment take 12 bytes of the MSS.
                        let n = self.resp_left.min(u32::from(self.mss) - 12);
                        self.resp_left -= n;
                        let psh = if self.resp_left == 0 { TCP_PSH } else { 0 };
                        let mut s = self.seg(false, TCP_ACK | psh, n as u16, now_ms);
                        if self.head_pending {
                            s.payload = Payload::ResponseHead(self.resp_left + n);
                            self.head_pending = false;
                        }
                        self.s_nxt = self.s_nxt.wrapping_add(n);
                        self.unacked += 1;
                        s
                    } else if self.requests_left > 0 {
                        self.requests_left -= 1;
                        self.resp_left = rng.range(200, 20_000);
                        self.st = St::Request;
                        continue;
                    } else {
                        self.st = St::Close(0);
                        continue;
                    }
                }
                St::Close(0) if self.rst => {
                    self.st = St::Done;
                    self.seg(true, TCP_RST | TCP_ACK, 0, now_ms)
                }
                St::Close(0) => {
                    let s = self.seg(true, TCP_FIN | TCP_ACK, 0, now_ms);
                    self.c_nxt = self.c_nxt.wrapping_add(1);
                    self.st = St::Close(1);
                    s
                }
                St::Close(1) => {
                    let s = self.seg(false, TCP_FIN | TCP_ACK, 0, now_ms);
                    self.s_nxt = self.s_nxt.wrapping_add(1);
                    self.st = St::Close(2);
                    s
                }
                St::Close(9) => {
                    // Refused: RST|ACK acknowledging the SYN.
                    self.c_nxt = self.c_nxt.wrapping_add(1);
                    let mut s = self.seg(false, TCP_RST | TCP_ACK, 0, now_ms);
                    s.win = 0;
                    s.seq = 0;
                    self.st = St::Done;
                    s
                }
                St::Close(_) => {
                    self.st = St::Done;
                    self.seg(true, TCP_ACK, 0, now_ms)
                }
            };
            return Some(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(seed: u64, n: usize) -> Vec<(u64, Vec<u8>)> {
        let mut g = Generator::new(seed);
        (0..n)
            .map(|_| {
                let (t, f) = g.next_frame();
                (t, f.to_vec())
            })
            .collect()
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum::of(&data), 0x220d);
        // An odd trailing byte counts as the high byte of a zero-padded word.
        assert_eq!(checksum::of(&[0x12, 0x34, 0x56]), !0x6834u16);
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        assert_eq!(frames(7, 2000), frames(7, 2000));
        assert_ne!(frames(7, 2000), frames(8, 2000));
    }

    #[test]
    fn timestamps_strictly_increase() {
        let f = frames(1, 20_000);
        assert!(f.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn every_frame_parses_with_correct_checksums() {
        use etherparse::{NetSlice, SlicedPacket, TransportSlice};
        let (mut tcp, mut udp, mut arp, mut vlan, mut vxlan, mut lb80) = (0, 0, 0, 0, 0, 0);
        for (_, f) in frames(3, 50_000) {
            assert!(f.len() <= 1514, "frame of {} bytes", f.len());
            let p = SlicedPacket::from_ethernet(&f).expect("parses");
            if p.vlan().is_some() {
                vlan += 1;
            }
            match &p.net {
                Some(NetSlice::Ipv4(ip)) => {
                    let h = ip.header();
                    assert_eq!(checksum::of(h.slice()), 0, "IPv4 header checksum");
                    let (s, d) = (h.source(), h.destination());
                    let seg = ip.payload().payload;
                    match &p.transport {
                        Some(TransportSlice::Tcp(t)) => {
                            tcp += 1;
                            assert_eq!(checksum::l4(s, d, IP_TCP, seg), 0);
                            if d == LB_IP && t.destination_port() == 80 {
                                lb80 += 1;
                            }
                        }
                        Some(TransportSlice::Udp(u)) => {
                            udp += 1;
                            assert_eq!(checksum::l4(s, d, IP_UDP, seg), 0);
                            if matches!(u.destination_port(), 8472 | 4789) {
                                vxlan += 1;
                                let inner = SlicedPacket::from_ethernet(&u.payload()[8..])
                                    .expect("inner frame parses");
                                let Some(NetSlice::Ipv4(iip)) = &inner.net else {
                                    panic!("inner IPv4")
                                };
                                let ih = iip.header();
                                assert_eq!(ih.source()[..2], [10, 244]);
                                assert_eq!(
                                    checksum::l4(
                                        ih.source(),
                                        ih.destination(),
                                        IP_TCP,
                                        iip.payload().payload
                                    ),
                                    0
                                );
                            }
                        }
                        other => panic!("unexpected transport {other:?}"),
                    }
                }
                Some(NetSlice::Arp(_)) => arp += 1,
                other => panic!("unexpected net {other:?}"),
            }
        }
        assert!(tcp > 40_000 && udp > 2_000 && arp > 50, "{tcp} {udp} {arp}");
        assert!(
            vlan > 500 && vxlan > 3_000 && lb80 > 5_000,
            "{vlan} {vxlan} {lb80}"
        );
    }

    #[test]
    fn pcap_and_pcapng_have_the_right_sizes() {
        let mut pcap = Vec::new();
        let s = write_capture(&mut pcap, 1000, 5, Format::Pcap).expect("write");
        assert_eq!(s.packets, 1000);
        assert_eq!(pcap.len() as u64, s.file_bytes);
        assert_eq!(s.file_bytes, 24 + 16 * 1000 + s.frame_bytes);
        assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);

        let mut ng = Vec::new();
        let s2 = write_capture(&mut ng, 1000, 5, Format::Pcapng).expect("write");
        assert_eq!(ng.len() as u64, s2.file_bytes);
        assert_eq!(s.frame_bytes, s2.frame_bytes);
        // Walk the blocks: every length field agrees with its trailer.
        let mut at = 0;
        let mut epbs = 0;
        while at < ng.len() {
            let len = u32::from_le_bytes(ng[at + 4..at + 8].try_into().expect("4")) as usize;
            let trailer =
                u32::from_le_bytes(ng[at + len - 4..at + len].try_into().expect("4")) as usize;
            assert_eq!(len, trailer);
            if ng[at] == 6 {
                epbs += 1;
            }
            at += len;
        }
        assert_eq!(epbs, 1000);
    }
}
