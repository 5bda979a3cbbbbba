//! Packet builders and the shared corpus of test packets (golden, no-panic and JSON tests).
#![allow(dead_code)]

pub mod dns;

use hopdump_wire::LinkType;

pub const MAC_A: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
pub const MAC_B: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub const V4_A: [u8; 4] = [10, 244, 1, 5];
pub const V4_B: [u8; 4] = [198, 51, 100, 240];
pub const V6_A: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];
pub const V6_B: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
];

/// One packet of the corpus.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub link: LinkType,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

fn case(name: &str, link: LinkType, data: Vec<u8>) -> Case {
    let orig_len = data.len() as u32;
    Case {
        name: name.to_string(),
        link,
        data,
        orig_len,
    }
}

/// Same packet, only the first `caplen` bytes captured.
fn snapped(name: &str, link: LinkType, data: Vec<u8>, caplen: usize) -> Case {
    let orig_len = data.len() as u32;
    let mut d = data;
    d.truncate(caplen);
    Case {
        name: name.to_string(),
        link,
        data: d,
        orig_len,
    }
}

pub fn csum(data: &[u8], init: u32) -> u16 {
    let mut s: u64 = u64::from(init);
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u64::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

pub fn eth(dst: [u8; 6], src: [u8; 6], etype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    v.extend_from_slice(&etype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

pub fn e(etype: u16, payload: &[u8]) -> Vec<u8> {
    eth(MAC_B, MAC_A, etype, payload)
}

/// VLAN tag: TPID already written by the caller; returns TCI + inner type + payload.
pub fn vlan(tci: u16, etype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = tci.to_be_bytes().to_vec();
    v.extend_from_slice(&etype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[derive(Clone)]
pub struct V4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub ttl: u8,
    pub id: u16,
    pub frag: u16,
    pub tos: u8,
    pub options: Vec<u8>,
    pub total_len: Option<u16>,
    pub bad_cksum: bool,
}

impl V4 {
    pub fn new(proto: u8) -> Self {
        V4 {
            src: V4_A,
            dst: V4_B,
            proto,
            ttl: 64,
            id: 0x1c46,
            frag: 0x4000,
            tos: 0,
            options: vec![],
            total_len: None,
            bad_cksum: false,
        }
    }

    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let hl = 20 + self.options.len();
        let total = self.total_len.unwrap_or((hl + payload.len()) as u16);
        let mut h = vec![0x40 | (hl / 4) as u8, self.tos];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&self.id.to_be_bytes());
        h.extend_from_slice(&self.frag.to_be_bytes());
        h.push(self.ttl);
        h.push(self.proto);
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(&self.src);
        h.extend_from_slice(&self.dst);
        h.extend_from_slice(&self.options);
        let mut c = csum(&h, 0);
        if self.bad_cksum {
            c ^= 0x1111;
        }
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }
}

pub fn ip4(proto: u8, payload: &[u8]) -> Vec<u8> {
    V4::new(proto).build(payload)
}

pub fn ip6(nh: u8, payload: &[u8]) -> Vec<u8> {
    ip6_addrs(V6_A, V6_B, nh, payload)
}

pub fn ip6_addrs(src: [u8; 16], dst: [u8; 16], nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.push(nh);
    h.push(64);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

/// Pseudo-header partial sum (not complemented) for `csum`'s init.
pub fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    let mut s = 0u32;
    for c in src.chunks(2).chain(dst.chunks(2)) {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    s + u32::from(proto) + (len as u32 >> 16) + (len as u32 & 0xffff)
}

pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub win: u16,
    pub options: Vec<u8>,
    pub urg: u16,
    pub bad_cksum: bool,
    pub doff: Option<u8>,
}

impl Tcp {
    pub fn new(sport: u16, dport: u16, flags: u8) -> Self {
        Tcp {
            sport,
            dport,
            seq: 1_000_000,
            ack: 0,
            flags,
            win: 64240,
            options: vec![],
            urg: 0,
            bad_cksum: false,
            doff: None,
        }
    }

    /// TCP segment with checksum over (src, dst).
    pub fn build(&self, src: &[u8], dst: &[u8], payload: &[u8]) -> Vec<u8> {
        let hl = 20 + self.options.len();
        let mut t = Vec::new();
        t.extend_from_slice(&self.sport.to_be_bytes());
        t.extend_from_slice(&self.dport.to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.push(self.doff.unwrap_or((hl / 4) as u8) << 4);
        t.push(self.flags);
        t.extend_from_slice(&self.win.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&self.urg.to_be_bytes());
        t.extend_from_slice(&self.options);
        t.extend_from_slice(payload);
        let mut c = csum(&t, pseudo(src, dst, 6, t.len()));
        if self.bad_cksum {
            c ^= 0x0f0f;
        }
        t[16..18].copy_from_slice(&c.to_be_bytes());
        t
    }
}

pub fn udp(src: &[u8], dst: &[u8], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let c = csum(&u, pseudo(src, dst, 17, u.len()));
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

pub fn icmp(ty: u8, code: u8, rest: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, code, 0, 0];
    v.extend_from_slice(&rest);
    v.extend_from_slice(payload);
    let c = csum(&v, 0);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

pub fn icmp6(src: &[u8], dst: &[u8], ty: u8, code: u8, rest: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, code, 0, 0];
    v.extend_from_slice(&rest);
    v.extend_from_slice(payload);
    let c = csum(&v, pseudo(src, dst, 58, v.len()));
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

pub fn syn_options() -> Vec<u8> {
    vec![
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x00, 0x0a, 0x3f, 0x1c, 0, 0, 0, 0, 1, 3, 3, 7,
    ]
}

pub fn ts_options(val: u32, ecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend_from_slice(&val.to_be_bytes());
    o.extend_from_slice(&ecr.to_be_bytes());
    o
}

fn tcp4(t: &Tcp, payload: &[u8]) -> Vec<u8> {
    ip4(6, &t.build(&V4_A, &V4_B, payload))
}

fn tcp4_rev(t: &Tcp, payload: &[u8]) -> Vec<u8> {
    let mut v = V4::new(6);
    v.src = V4_B;
    v.dst = V4_A;
    v.build(&t.build(&V4_B, &V4_A, payload))
}

pub fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut v = vec![0, 1, 8, 0, 6, 4];
    v.extend_from_slice(&op.to_be_bytes());
    v.extend_from_slice(&sha);
    v.extend_from_slice(&spa);
    v.extend_from_slice(&tha);
    v.extend_from_slice(&tpa);
    v
}

pub fn vxlan_hdr(vni: u32) -> Vec<u8> {
    let b = vni.to_be_bytes();
    vec![0x08, 0, 0, 0, b[1], b[2], b[3], 0]
}

fn ll_addr_opt(ty: u8, mac: [u8; 6]) -> Vec<u8> {
    let mut o = vec![ty, 1];
    o.extend_from_slice(&mac);
    o
}

/// The TCP conversation and friends, Ethernet link.
pub fn ethernet_cases() -> Vec<Case> {
    let eth4 = |p: Vec<u8>| e(0x0800, &p);
    let eth6 = |p: Vec<u8>| e(0x86dd, &p);
    let mut c = Vec::new();

    // A TCP conversation (relative sequence numbers in the default mode).
    let mut syn = Tcp::new(43512, 8080, 0x02);
    syn.seq = 3_908_710_133;
    syn.win = 64240;
    syn.options = syn_options();
    c.push(case("tcp syn", LinkType::Ethernet, eth4(tcp4(&syn, &[]))));
    let mut synack = Tcp::new(8080, 43512, 0x12);
    synack.seq = 1_412_224_731;
    synack.ack = 3_908_710_134;
    synack.win = 65160;
    synack.options = syn_options();
    c.push(case(
        "tcp syn-ack",
        LinkType::Ethernet,
        eth4(tcp4_rev(&synack, &[])),
    ));
    let mut ack = Tcp::new(43512, 8080, 0x10);
    ack.seq = 3_908_710_134;
    ack.ack = 1_412_224_732;
    ack.win = 502;
    ack.options = ts_options(0x0a3f1c01, 0x7788);
    c.push(case("tcp ack", LinkType::Ethernet, eth4(tcp4(&ack, &[]))));
    let mut psh = Tcp::new(43512, 8080, 0x18);
    psh.seq = 3_908_710_134;
    psh.ack = 1_412_224_732;
    psh.win = 502;
    psh.options = ts_options(0x0a3f1c02, 0x7788);
    c.push(case(
        "tcp data",
        LinkType::Ethernet,
        eth4(tcp4(&psh, &[b'x'; 100])),
    ));
    let mut back = Tcp::new(8080, 43512, 0x18);
    back.seq = 1_412_224_732;
    back.ack = 3_908_710_234;
    back.win = 509;
    back.options = ts_options(0x7789, 0x0a3f1c02);
    c.push(case(
        "tcp reply data",
        LinkType::Ethernet,
        eth4(tcp4_rev(&back, &[b'y'; 37])),
    ));
    let mut sack = Tcp::new(43512, 8080, 0x10);
    sack.seq = 3_908_710_234;
    sack.ack = 1_412_224_769;
    sack.options = vec![1, 1, 5, 18];
    for v in [
        1_412_224_869u32,
        1_412_224_969,
        1_412_225_069,
        1_412_225_169,
    ] {
        sack.options.extend_from_slice(&v.to_be_bytes());
    }
    sack.options.extend_from_slice(&[1, 1]);
    c.push(case("tcp sack", LinkType::Ethernet, eth4(tcp4(&sack, &[]))));
    let mut fin = Tcp::new(43512, 8080, 0x11);
    fin.seq = 3_908_710_234;
    fin.ack = 1_412_224_769;
    c.push(case("tcp fin", LinkType::Ethernet, eth4(tcp4(&fin, &[]))));
    let mut rst = Tcp::new(8080, 43512, 0x04);
    rst.seq = 1_412_224_769;
    rst.win = 0;
    c.push(case(
        "tcp rst",
        LinkType::Ethernet,
        eth4(tcp4_rev(&rst, &[])),
    ));
    let mut rstd = Tcp::new(8080, 43513, 0x14);
    rstd.ack = 77;
    c.push(case(
        "tcp rst with data",
        LinkType::Ethernet,
        eth4(tcp4_rev(
            &rstd,
            b"connection refused\x01\xff by policy, really long text",
        )),
    ));
    let mut urg = Tcp::new(1234, 5678, 0xf9);
    urg.urg = 7;
    urg.ack = 5;
    c.push(case(
        "tcp all flags urg",
        LinkType::Ethernet,
        eth4(tcp4(&urg, b"abc")),
    ));
    let mut none = Tcp::new(1234, 5678, 0x00);
    none.seq = 42;
    c.push(case(
        "tcp no flags",
        LinkType::Ethernet,
        eth4(tcp4(&none, &[])),
    ));
    let mut badck = Tcp::new(40000, 9000, 0x18);
    badck.bad_cksum = true;
    badck.ack = 1;
    c.push(case(
        "tcp bad checksum",
        LinkType::Ethernet,
        eth4(tcp4(&badck, b"hello")),
    ));
    let mut odd = Tcp::new(40001, 9000, 0x02);
    odd.options = vec![
        34, 2, 34, 6, 1, 2, 3, 4, 99, 3, 1, 28, 4, 0x80, 0x1f, 254, 4, 0xf9, 0x89, 254, 4, 0x12,
        0x34, 1, 0,
    ];
    c.push(case(
        "tcp unusual options",
        LinkType::Ethernet,
        eth4(tcp4(&odd, &[])),
    ));
    let mut badopt = Tcp::new(40002, 9000, 0x02);
    badopt.options = vec![2, 4, 5, 0xb4, 3, 9, 0, 0];
    c.push(case(
        "tcp bad option length",
        LinkType::Ethernet,
        eth4(tcp4(&badopt, &[])),
    ));
    let mut short = Tcp::new(40003, 9000, 0x02);
    short.doff = Some(3);
    c.push(case(
        "tcp data offset too short",
        LinkType::Ethernet,
        eth4(tcp4(&short, &[])),
    ));
    let mut long = Tcp::new(40004, 9000, 0x02);
    long.doff = Some(15);
    c.push(case(
        "tcp data offset too long",
        LinkType::Ethernet,
        eth4(tcp4(&long, &[])),
    ));
    c.push(snapped(
        "tcp snapped in options",
        LinkType::Ethernet,
        eth4(tcp4(&syn, &[])),
        14 + 20 + 20 + 9,
    ));
    c.push(snapped(
        "tcp snapped in header",
        LinkType::Ethernet,
        eth4(tcp4(&syn, &[])),
        14 + 20 + 12,
    ));
    c.push(snapped(
        "tcp snapped after ports",
        LinkType::Ethernet,
        eth4(tcp4(&syn, &[])),
        14 + 20 + 2,
    ));
    c.push(snapped(
        "tcp snapped in payload",
        LinkType::Ethernet,
        eth4(tcp4(&psh, &[b'x'; 100])),
        96,
    ));

    // HTTP on port 80: request line, status line, body continuation, text without CRLF.
    let mut get = Tcp::new(43600, 80, 0x18);
    get.ack = 1;
    c.push(case(
        "http get",
        LinkType::Ethernet,
        eth4(tcp4(
            &get,
            b"GET /healthz HTTP/1.1\r\nHost: lb.example\r\nUser-Agent: curl/8.0\r\n\r\n",
        )),
    ));
    let mut resp = Tcp::new(80, 43600, 0x18);
    resp.ack = 1;
    c.push(case(
        "http response",
        LinkType::Ethernet,
        eth4(tcp4_rev(
            &resp,
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        )),
    ));
    c.push(case(
        "http body",
        LinkType::Ethernet,
        eth4(tcp4_rev(&resp, b"{\"status\":\"ok\"}")),
    ));
    c.push(case(
        "http unterminated",
        LinkType::Ethernet,
        eth4(tcp4(&get, b"POST /x HTTP/1.1")),
    ));
    c.push(snapped(
        "http snapped",
        LinkType::Ethernet,
        eth4(tcp4(&get, b"GET /abcdefghijklmnop HTTP/1.1\r\n\r\n")),
        14 + 20 + 20 + 10,
    ));

    // UDP
    c.push(case(
        "udp",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 39000, 5000, b"ping pong"))),
    ));
    let mut u0 = udp(&V4_A, &V4_B, 39001, 5001, b"zero");
    u0[6] = 0;
    u0[7] = 0;
    c.push(case(
        "udp no checksum",
        LinkType::Ethernet,
        eth4(ip4(17, &u0)),
    ));
    let mut ubad = udp(&V4_A, &V4_B, 39002, 5002, b"corrupt");
    ubad[7] ^= 0x55;
    c.push(case(
        "udp bad checksum",
        LinkType::Ethernet,
        eth4(ip4(17, &ubad)),
    ));
    let mut ulong = udp(&V4_A, &V4_B, 39003, 5003, b"abc");
    ulong[4..6].copy_from_slice(&200u16.to_be_bytes());
    c.push(case(
        "udp length lies long",
        LinkType::Ethernet,
        eth4(ip4(17, &ulong)),
    ));
    let mut ushort = udp(&V4_A, &V4_B, 39004, 5004, b"abcdef");
    ushort[4..6].copy_from_slice(&5u16.to_be_bytes());
    c.push(case(
        "udp length below header",
        LinkType::Ethernet,
        eth4(ip4(17, &ushort)),
    ));
    let mut padded = eth4(ip4(17, &udp(&V4_A, &V4_B, 39005, 5005, b"x")));
    padded.resize(60, 0);
    c.push(case("udp in padded frame", LinkType::Ethernet, padded));
    c.push(snapped(
        "udp snapped header",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 39006, 5006, b"abc"))),
        14 + 20 + 5,
    ));

    // ARP
    c.push(case(
        "arp request",
        LinkType::Ethernet,
        eth(
            [0xff; 6],
            MAC_A,
            0x0806,
            &arp(1, MAC_A, [198, 51, 100, 10], [0; 6], V4_B),
        ),
    ));
    c.push(case(
        "arp reply",
        LinkType::Ethernet,
        eth(
            MAC_A,
            MAC_B,
            0x0806,
            &arp(2, MAC_B, V4_B, MAC_A, [198, 51, 100, 10]),
        ),
    ));
    c.push(case(
        "arp gratuitous",
        LinkType::Ethernet,
        eth([0xff; 6], MAC_B, 0x0806, &arp(1, MAC_B, V4_B, [0; 6], V4_B)),
    ));
    c.push(case(
        "arp request with target mac",
        LinkType::Ethernet,
        e(0x0806, &arp(1, MAC_A, [198, 51, 100, 10], MAC_B, V4_B)),
    ));
    let mut rarp = arp(3, MAC_A, [0; 4], MAC_A, [0; 4]);
    rarp[7] = 3;
    c.push(case("rarp request", LinkType::Ethernet, e(0x8035, &rarp)));
    let mut arp6 = arp(1, MAC_A, V4_A, [0; 6], V4_B);
    arp6[2] = 0x86;
    arp6[3] = 0xdd;
    c.push(case(
        "arp odd protocol",
        LinkType::Ethernet,
        e(0x0806, &arp6),
    ));
    let mut arpx = arp(1, MAC_A, V4_A, [0; 6], V4_B);
    arpx[7] = 42;
    c.push(case("arp unknown op", LinkType::Ethernet, e(0x0806, &arpx)));
    c.push(snapped(
        "arp snapped",
        LinkType::Ethernet,
        e(0x0806, &arp(1, MAC_A, V4_A, [0; 6], V4_B)),
        14 + 20,
    ));

    // VLAN / QinQ
    let inner = tcp4(&Tcp::new(50000, 443, 0x02), &[]);
    c.push(case(
        "802.1q tcp",
        LinkType::Ethernet,
        e(0x8100, &vlan(0x2064, 0x0800, &inner)),
    ));
    c.push(case(
        "qinq tcp",
        LinkType::Ethernet,
        e(0x88a8, &vlan(0x00c8, 0x8100, &vlan(0xb064, 0x0800, &inner))),
    ));
    c.push(case(
        "802.1q arp",
        LinkType::Ethernet,
        e(
            0x8100,
            &vlan(0x000a, 0x0806, &arp(1, MAC_A, V4_A, [0; 6], V4_B)),
        ),
    ));
    c.push(case(
        "802.1q unknown",
        LinkType::Ethernet,
        e(0x8100, &vlan(0x0005, 0x88b5, b"local experimental")),
    ));
    c.push(snapped(
        "802.1q snapped",
        LinkType::Ethernet,
        e(0x8100, &vlan(0x0005, 0x0800, &inner)),
        16,
    ));

    // IPv4 corner cases
    let mut opt = V4::new(17);
    opt.options = vec![
        7, 11, 4, 10, 0, 0, 1, 0, 0, 0, 0, 1, 148, 4, 0, 0, 1, 0, 0, 0,
    ];
    c.push(case(
        "ipv4 options rr ra",
        LinkType::Ethernet,
        eth4(opt.build(&udp(&V4_A, &V4_B, 1111, 2222, b"opt"))),
    ));
    let mut lsrr = V4::new(6);
    lsrr.options = vec![131, 7, 4, 192, 0, 2, 9, 0];
    c.push(case(
        "ipv4 lsrr",
        LinkType::Ethernet,
        eth4(lsrr.build(&Tcp::new(1, 2, 0x02).build(&V4_A, &[192, 0, 2, 9], &[]))),
    ));
    let mut tsopt = V4::new(1);
    tsopt.options = vec![68, 12, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    c.push(case(
        "ipv4 timestamp option",
        LinkType::Ethernet,
        eth4(tsopt.build(&icmp(8, 0, [0, 1, 0, 1], b"ts"))),
    ));
    let mut f1 = V4::new(17);
    f1.frag = 0x2000;
    f1.id = 4321;
    let full = udp(&V4_A, &V4_B, 7777, 8888, &[0xab; 1000]);
    c.push(case(
        "ipv4 first fragment",
        LinkType::Ethernet,
        eth4(f1.build(&full[..504])),
    ));
    let mut f2 = V4::new(17);
    f2.frag = 63;
    f2.id = 4321;
    c.push(case(
        "ipv4 last fragment",
        LinkType::Ethernet,
        eth4(f2.build(&full[504..])),
    ));
    let mut evil = V4::new(1);
    evil.frag = 0x8000 | 0x4000;
    evil.tos = 0xb9;
    evil.ttl = 0;
    c.push(case(
        "ipv4 evil bit ecn ttl0",
        LinkType::Ethernet,
        eth4(evil.build(&icmp(8, 0, [0, 2, 0, 3], b""))),
    ));
    let mut bad = V4::new(1);
    bad.bad_cksum = true;
    c.push(case(
        "ipv4 bad checksum",
        LinkType::Ethernet,
        eth4(bad.build(&icmp(8, 0, [0, 9, 0, 1], b"x"))),
    ));
    let mut lies = V4::new(17);
    lies.total_len = Some(1500);
    c.push(case(
        "ipv4 total length lies",
        LinkType::Ethernet,
        eth4(lies.build(&udp(&V4_A, &V4_B, 3, 4, b"short"))),
    ));
    let mut badlen = V4::new(17);
    badlen.total_len = Some(12);
    c.push(case(
        "ipv4 total length below header",
        LinkType::Ethernet,
        eth4(badlen.build(&udp(&V4_A, &V4_B, 3, 4, b""))),
    ));
    let mut hl = ip4(17, &udp(&V4_A, &V4_B, 3, 4, b""));
    hl[0] = 0x43;
    c.push(case("ipv4 ihl 3", LinkType::Ethernet, eth4(hl)));
    let mut v5 = ip4(17, &udp(&V4_A, &V4_B, 3, 4, b""));
    v5[0] = 0x55;
    c.push(case("ipv4 version 5", LinkType::Ethernet, eth4(v5)));
    c.push(snapped(
        "ipv4 snapped header",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 3, 4, b""))),
        14 + 12,
    ));
    c.push(case(
        "ipv4 unknown proto",
        LinkType::Ethernet,
        eth4(ip4(99, b"whatever")),
    ));
    c.push(case(
        "ipv4 no next header proto",
        LinkType::Ethernet,
        eth4(ip4(59, b"")),
    ));
    c.push(case(
        "ipv4 carrying icmpv6",
        LinkType::Ethernet,
        eth4(ip4(58, b"abcdefgh")),
    ));

    // ICMP
    c.push(case(
        "icmp echo request",
        LinkType::Ethernet,
        eth4(ip4(1, &icmp(8, 0, [0x12, 0x34, 0, 1], &[0x61; 56]))),
    ));
    let mut rep = V4::new(1);
    rep.src = V4_B;
    rep.dst = V4_A;
    c.push(case(
        "icmp echo reply",
        LinkType::Ethernet,
        eth4(rep.build(&icmp(0, 0, [0x12, 0x34, 0, 1], &[0x61; 56]))),
    ));
    let mut q = V4::new(17);
    q.ttl = 1;
    let quoted_udp = q.build(&udp(&V4_A, &V4_B, 51515, 5300, b"query bytes here"));
    let mut err = V4::new(1);
    err.src = V4_B;
    err.dst = V4_A;
    err.frag = 0;
    c.push(case(
        "icmp port unreachable udp",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 3, [0; 4], &quoted_udp[..28]))),
    ));
    let quoted_tcp = V4::new(6).build(&Tcp::new(43512, 30080, 0x02).build(&V4_A, &V4_B, &[]));
    c.push(case(
        "icmp port unreachable tcp",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 3, [0; 4], &quoted_tcp[..28]))),
    ));
    let big = V4::new(6).build(&Tcp::new(43512, 8080, 0x18).build(&V4_A, &V4_B, &[0u8; 1460]));
    c.push(case(
        "icmp need to frag",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 4, [0, 0, 0x05, 0x78], &big[..28]))),
    ));
    c.push(case(
        "icmp need to frag no mtu",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 4, [0; 4], &big[..28]))),
    ));
    c.push(case(
        "icmp host unreachable",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 1, [0; 4], &quoted_tcp[..28]))),
    ));
    c.push(case(
        "icmp admin prohibited filter",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 13, [0; 4], &quoted_tcp[..28]))),
    ));
    c.push(case(
        "icmp protocol unreachable",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 2, [0; 4], &quoted_udp[..28]))),
    ));
    c.push(case(
        "icmp unreach code 99",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 99, [0; 4], &quoted_udp[..28]))),
    ));
    c.push(case(
        "icmp time exceeded",
        LinkType::Ethernet,
        eth4(err.build(&icmp(11, 0, [0; 4], &quoted_udp[..36]))),
    ));
    c.push(case(
        "icmp reassembly time exceeded",
        LinkType::Ethernet,
        eth4(err.build(&icmp(11, 1, [0; 4], &quoted_udp[..28]))),
    ));
    c.push(case(
        "icmp redirect host",
        LinkType::Ethernet,
        eth4(err.build(&icmp(5, 1, [10, 244, 1, 1], &quoted_udp[..28]))),
    ));
    c.push(case(
        "icmp param problem",
        LinkType::Ethernet,
        eth4(err.build(&icmp(12, 0, [20, 0, 0, 0], &quoted_udp[..28]))),
    ));
    c.push(case(
        "icmp timestamp request",
        LinkType::Ethernet,
        eth4(ip4(1, &icmp(13, 0, [0, 7, 0, 1], &[0u8; 12]))),
    ));
    c.push(case(
        "icmp timestamp reply",
        LinkType::Ethernet,
        eth4(ip4(
            1,
            &icmp(
                14,
                0,
                [0, 7, 0, 1],
                &[
                    0, 0x52, 0x5c, 0x10, 0, 0x52, 0x5c, 0x11, 0, 0x52, 0x5c, 0x12,
                ],
            ),
        )),
    ));
    c.push(case(
        "icmp router advertisement",
        LinkType::Ethernet,
        eth4(ip4(
            1,
            &icmp(9, 0, [1, 2, 0x07, 0x08], &[10, 0, 0, 1, 0, 0, 0, 5]),
        )),
    ));
    c.push(case(
        "icmp unknown type",
        LinkType::Ethernet,
        eth4(ip4(1, &icmp(42, 0, [0; 4], b""))),
    ));
    c.push(case(
        "icmp source quench",
        LinkType::Ethernet,
        eth4(err.build(&icmp(4, 0, [0; 4], &quoted_udp[..28]))),
    ));
    c.push(snapped(
        "icmp snapped quote",
        LinkType::Ethernet,
        eth4(err.build(&icmp(3, 3, [0; 4], &quoted_udp[..28]))),
        14 + 20 + 8 + 12,
    ));
    c.push(snapped(
        "icmp snapped header",
        LinkType::Ethernet,
        eth4(ip4(1, &icmp(8, 0, [0x12, 0x34, 0, 1], b"x"))),
        14 + 20 + 5,
    ));

    // IPv6
    let mut syn6 = Tcp::new(43514, 443, 0x02);
    syn6.options = syn_options();
    c.push(case(
        "ipv6 tcp syn",
        LinkType::Ethernet,
        eth6(ip6(6, &syn6.build(&V6_A, &V6_B, &[]))),
    ));
    c.push(case(
        "ipv6 udp",
        LinkType::Ethernet,
        eth6(ip6(17, &udp(&V6_A, &V6_B, 15353, 15354, b"six"))),
    ));
    let mut ubad6 = udp(&V6_A, &V6_B, 40000, 40001, b"six");
    ubad6[7] ^= 1;
    c.push(case(
        "ipv6 udp bad checksum",
        LinkType::Ethernet,
        eth6(ip6(17, &ubad6)),
    ));
    c.push(case(
        "icmp6 echo request",
        LinkType::Ethernet,
        eth6(ip6(
            58,
            &icmp6(&V6_A, &V6_B, 128, 0, [0, 7, 0, 1], b"hello6"),
        )),
    ));
    c.push(case(
        "icmp6 echo reply",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_B,
            V6_A,
            58,
            &icmp6(&V6_B, &V6_A, 129, 0, [0, 7, 0, 1], b"hello6"),
        )),
    ));
    let sn: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0x01];
    let mut ns_body = V6_A.to_vec();
    ns_body.extend_from_slice(&ll_addr_opt(1, MAC_A));
    c.push(case(
        "icmp6 neighbor solicitation",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_B,
            sn,
            58,
            &icmp6(&V6_B, &sn, 135, 0, [0; 4], &ns_body),
        )),
    ));
    let mut na_body = V6_A.to_vec();
    na_body.extend_from_slice(&ll_addr_opt(2, MAC_B));
    c.push(case(
        "icmp6 neighbor advertisement",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_A,
            V6_B,
            58,
            &icmp6(&V6_A, &V6_B, 136, 0, [0x60, 0, 0, 0], &na_body),
        )),
    ));
    let q6 = ip6(17, &udp(&V6_A, &V6_B, 4444, 5300, b"q"));
    c.push(case(
        "icmp6 port unreachable",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_B,
            V6_A,
            58,
            &icmp6(&V6_B, &V6_A, 1, 4, [0; 4], &q6),
        )),
    ));
    c.push(case(
        "icmp6 admin prohibited",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_B,
            V6_A,
            58,
            &icmp6(&V6_B, &V6_A, 1, 1, [0; 4], &q6),
        )),
    ));
    c.push(case(
        "icmp6 packet too big",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_B,
            V6_A,
            58,
            &icmp6(&V6_B, &V6_A, 2, 0, [0, 0, 0x05, 0x00], &q6),
        )),
    ));
    c.push(case(
        "icmp6 time exceeded",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_B,
            V6_A,
            58,
            &icmp6(&V6_B, &V6_A, 3, 0, [0; 4], &q6),
        )),
    ));
    c.push(case(
        "icmp6 param problem",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            V6_B,
            V6_A,
            58,
            &icmp6(&V6_B, &V6_A, 4, 1, [0, 0, 0, 6], &q6),
        )),
    ));
    let ll: [u8; 16] = [
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x42, 0xac, 0xff, 0xfe, 0x11, 0, 2,
    ];
    let allr: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    c.push(case(
        "icmp6 router solicitation",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            ll,
            allr,
            58,
            &icmp6(&ll, &allr, 133, 0, [0; 4], &ll_addr_opt(1, MAC_A)),
        )),
    ));
    let mut ra = vec![0, 0, 0, 0, 0, 0, 0, 0];
    ra.extend_from_slice(&[
        3, 4, 64, 0xc0, 0, 0x27, 0x8d, 0, 0, 0, 0x3a, 0x98, 0, 0, 0, 0,
    ]);
    ra.extend_from_slice(&V6_A[..8]);
    ra.extend_from_slice(&[0; 8]);
    ra.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
    c.push(case(
        "icmp6 router advertisement",
        LinkType::Ethernet,
        eth6(ip6_addrs(
            ll,
            allr,
            58,
            &icmp6(&ll, &allr, 134, 0, [64, 0x40, 0x07, 0x08], &ra),
        )),
    ));
    // MLDv2 report behind a hop-by-hop router-alert header.
    let mld_dst: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16];
    let mut rec = vec![4, 0, 0, 0];
    rec.extend_from_slice(&sn);
    let report = icmp6(&ll, &mld_dst, 143, 0, [0, 0, 0, 1], &rec);
    let mut hbh = vec![58, 0, 5, 2, 0, 0, 1, 0];
    hbh.extend_from_slice(&report);
    c.push(case(
        "ipv6 hbh mldv2 report",
        LinkType::Ethernet,
        eth6(ip6_addrs(ll, mld_dst, 0, &hbh)),
    ));
    let mut frag = vec![17, 0, 0, 1, 0, 0, 0x30, 0x39];
    frag.extend_from_slice(&udp(&V6_A, &V6_B, 6000, 6001, &[1; 40])[..24]);
    c.push(case(
        "ipv6 first fragment",
        LinkType::Ethernet,
        eth6(ip6(44, &frag)),
    ));
    let mut frag2 = vec![17, 0, 0, 0x18, 0, 0, 0x30, 0x39];
    frag2.extend_from_slice(&[1; 24]);
    c.push(case(
        "ipv6 later fragment",
        LinkType::Ethernet,
        eth6(ip6(44, &frag2)),
    ));
    let mut rt = vec![6, 2, 0, 1, 0, 0, 0, 0];
    rt.extend_from_slice(&V6_B);
    rt.extend_from_slice(&Tcp::new(1000, 2000, 0x02).build(&V6_A, &V6_B, &[]));
    c.push(case(
        "ipv6 routing type 0",
        LinkType::Ethernet,
        eth6(ip6(43, &rt)),
    ));
    let mut dst = vec![17, 0, 1, 4, 0, 0, 0, 0];
    dst.extend_from_slice(&udp(&V6_A, &V6_B, 17000, 17001, b"dst"));
    c.push(case(
        "ipv6 destination options",
        LinkType::Ethernet,
        eth6(ip6(60, &dst)),
    ));
    c.push(case(
        "ipv6 unknown next header",
        LinkType::Ethernet,
        eth6(ip6(253, b"experiment")),
    ));
    c.push(case(
        "ipv6 no next header",
        LinkType::Ethernet,
        eth6(ip6(59, b"")),
    ));
    c.push(snapped(
        "ipv6 snapped header",
        LinkType::Ethernet,
        eth6(ip6(17, &udp(&V6_A, &V6_B, 1, 2, b""))),
        14 + 30,
    ));
    let mut plen_lie = ip6(17, &udp(&V6_A, &V6_B, 8000, 8001, b"abc"));
    plen_lie[4..6].copy_from_slice(&400u16.to_be_bytes());
    c.push(case(
        "ipv6 payload length lies",
        LinkType::Ethernet,
        eth6(plen_lie),
    ));
    let mut v6ver = ip6(17, &udp(&V6_A, &V6_B, 1, 2, b""));
    v6ver[0] = 0x70;
    c.push(case("ipv6 bad version", LinkType::Ethernet, eth6(v6ver)));
    let mut fl = ip6(17, &udp(&V6_A, &V6_B, 9, 10, b"flow"));
    fl[1] = 0xb1;
    fl[2] = 0x23;
    fl[3] = 0x45;
    c.push(case(
        "ipv6 class and flow label",
        LinkType::Ethernet,
        eth6(fl),
    ));

    // Tunnels
    let inner_syn = e(0x0800, &{
        let mut v = V4::new(6);
        v.src = [10, 244, 1, 5];
        v.dst = [10, 244, 2, 7];
        let mut t = Tcp::new(41000, 80, 0x02);
        t.options = syn_options();
        v.build(&t.build(&[10, 244, 1, 5], &[10, 244, 2, 7], &[]))
    });
    let mut vx = vxlan_hdr(1);
    vx.extend_from_slice(&inner_syn);
    c.push(case(
        "vxlan 4789 tcp",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 52210, 4789, &vx))),
    ));
    let inner_ping = e(0x0800, &ip4(1, &icmp(8, 0, [0, 1, 0, 2], b"flannel")));
    let mut fl8472 = vxlan_hdr(1);
    fl8472.extend_from_slice(&inner_ping);
    c.push(case(
        "flannel vxlan 8472 icmp",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 38000, 8472, &fl8472))),
    ));
    let mut vxbad = vec![0x00, 0, 0, 0, 0, 0, 9, 0];
    vxbad.extend_from_slice(&inner_ping);
    c.push(case(
        "vxlan without I flag",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 52211, 4789, &vxbad))),
    ));
    c.push(case(
        "vxlan short",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 52212, 4789, &[8, 0, 0]))),
    ));
    c.push(snapped(
        "vxlan snapped inner",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 52210, 4789, &vx))),
        14 + 20 + 8 + 8 + 14 + 10,
    ));
    let mut gnv = vec![
        0x02, 0x00, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00, 0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe,
        0xef,
    ];
    gnv.extend_from_slice(&inner_syn);
    c.push(case(
        "geneve tcp with option",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 50001, 6081, &gnv))),
    ));
    let mut gnv4 = vec![0x00, 0x40, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00];
    gnv4.extend_from_slice(&ip4(1, &icmp(8, 0, [0, 1, 0, 3], b"geneve")));
    c.push(case(
        "geneve ipv4 payload",
        LinkType::Ethernet,
        eth4(ip4(17, &udp(&V4_A, &V4_B, 50002, 6081, &gnv4))),
    ));
    let mut ipip = V4::new(4);
    ipip.frag = 0;
    c.push(case(
        "ipip",
        LinkType::Ethernet,
        eth4(ipip.build(&ip4(
            6,
            &Tcp::new(5555, 6666, 0x02).build(&V4_A, &V4_B, &[]),
        ))),
    ));
    c.push(case(
        "ipv6 in ipv4",
        LinkType::Ethernet,
        eth4(ip4(
            41,
            &ip6(58, &icmp6(&V6_A, &V6_B, 128, 0, [0, 2, 0, 2], b"6in4")),
        )),
    ));

    // Ethernet oddities
    c.push(case(
        "unknown ethertype",
        LinkType::Ethernet,
        e(0x1234, b"mystery payload bytes, 36 of them!!"),
    ));
    c.push(snapped(
        "ethernet snapped",
        LinkType::Ethernet,
        e(0x0800, &ip4(1, &icmp(8, 0, [0; 4], b""))),
        10,
    ));
    c
}

/// Packets on the other link types.
pub fn other_link_cases() -> Vec<Case> {
    let mut c = Vec::new();
    let ping = ip4(1, &icmp(8, 0, [0, 5, 0, 6], b"loopback"));
    let ping6 = ip6_addrs(
        [0; 16],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        58,
        &icmp6(&[0; 16], &[0; 16], 128, 0, [0, 5, 0, 6], b""),
    );
    let mut null4 = 2u32.to_ne_bytes().to_vec();
    null4.extend_from_slice(&ping);
    c.push(case("null ipv4", LinkType::Null, null4));
    let mut null6 = 30u32.to_be_bytes().to_vec();
    null6.extend_from_slice(&ping6);
    c.push(case("null ipv6 swapped", LinkType::Null, null6));
    let mut nullx = 99u32.to_ne_bytes().to_vec();
    nullx.extend_from_slice(b"???");
    c.push(case("null unknown family", LinkType::Null, nullx));
    c.push(case(
        "raw ipv4",
        LinkType::Raw,
        ip4(17, &udp(&V4_A, &V4_B, 1000, 2000, b"raw")),
    ));
    c.push(case(
        "raw ipv6",
        LinkType::Raw,
        ip6(6, &Tcp::new(1000, 2000, 0x02).build(&V6_A, &V6_B, &[])),
    ));
    c.push(case("raw garbage", LinkType::Raw, vec![0x90, 1, 2, 3]));
    c.push(case(
        "linktype ipv4",
        LinkType::Ipv4,
        ip4(17, &udp(&V4_A, &V4_B, 1001, 2001, b"v4")),
    ));
    c.push(case(
        "linktype ipv6",
        LinkType::Ipv6,
        ip6(17, &udp(&V6_A, &V6_B, 1001, 2001, b"v6")),
    ));
    let sll = |pkttype: u16, proto: u16, p: &[u8]| {
        let mut v = pkttype.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 1, 0, 6]);
        v.extend_from_slice(&MAC_A);
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&proto.to_be_bytes());
        v.extend_from_slice(p);
        v
    };
    c.push(case(
        "sll in tcp",
        LinkType::LinuxSll,
        sll(0, 0x0800, &tcp4(&Tcp::new(33000, 80, 0x02), &[])),
    ));
    c.push(case(
        "sll out udp",
        LinkType::LinuxSll,
        sll(4, 0x0800, &ip4(17, &udp(&V4_A, &V4_B, 33001, 5001, b"out"))),
    ));
    c.push(case(
        "sll broadcast arp",
        LinkType::LinuxSll,
        sll(1, 0x0806, &arp(1, MAC_A, V4_A, [0; 6], V4_B)),
    ));
    c.push(case(
        "sll vlan",
        LinkType::LinuxSll,
        sll(
            3,
            0x8100,
            &vlan(0x0064, 0x86dd, &ip6(17, &udp(&V6_A, &V6_B, 1, 2, b"sll6"))),
        ),
    ));
    c.push(case(
        "sll unknown proto",
        LinkType::LinuxSll,
        sll(2, 0x88b5, b"what is this"),
    ));
    c.push(snapped(
        "sll snapped",
        LinkType::LinuxSll,
        sll(0, 0x0800, &ip4(17, &[])),
        12,
    ));
    let sll2 = |ifindex: u32, pkttype: u8, proto: u16, p: &[u8]| {
        let mut v = proto.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&ifindex.to_be_bytes());
        v.extend_from_slice(&[0, 1, pkttype, 6]);
        v.extend_from_slice(&MAC_B);
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(p);
        v
    };
    c.push(case(
        "sll2 lo in",
        LinkType::LinuxSll2,
        sll2(1, 0, 0x0800, &tcp4(&Tcp::new(34000, 30080, 0x02), &[])),
    ));
    c.push(case(
        "sll2 unknown ifindex out",
        LinkType::LinuxSll2,
        sll2(4242, 4, 0x86dd, &ip6(17, &udp(&V6_A, &V6_B, 1, 2, b"sll2"))),
    ));
    c.push(case(
        "sll2 unknown proto",
        LinkType::LinuxSll2,
        sll2(1, 1, 0x9999, b"??"),
    ));
    c.push(snapped(
        "sll2 snapped",
        LinkType::LinuxSll2,
        sll2(1, 0, 0x0800, &[]),
        18,
    ));
    c
}

/// Every corpus packet.
pub fn all_cases() -> Vec<Case> {
    let mut c = ethernet_cases();
    c.extend(other_link_cases());
    c.extend(dns::dns_cases());
    c
}
