//! The frames `hopdump arp` sends and reads: ARP requests/replies (RFC 826, gratuitous as
//! MetalLB sends them) and IPv6 neighbour solicitations/advertisements (RFC 4861). Pure.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const BROADCAST: [u8; 6] = [0xff; 6];
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;

/// MAC as aa:bb:cc:dd:ee:ff.
pub fn mac_str(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parse aa:bb:cc:dd:ee:ff (or with '-').
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split([':', '-']) {
        if n == 6 || part.is_empty() || part.len() > 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

/// An ARP who-has for `target` from (`mac`, `src`), broadcast (42 bytes; the NIC pads).
pub fn arp_request(mac: [u8; 6], src: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// An ARP packet inside an Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpFrame {
    pub eth_dst: [u8; 6],
    pub eth_src: [u8; 6],
    /// 1 request, 2 reply.
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl ArpFrame {
    /// Gratuitous: sender and target protocol address are the same (request or reply form).
    pub fn is_gratuitous(&self) -> bool {
        self.spa == self.tpa
    }
}

fn mac_at(b: &[u8], at: usize) -> Option<[u8; 6]> {
    b.get(at..at + 6)?.try_into().ok()
}
fn v4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}
fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let o: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

/// Parse an Ethernet/ARP (IPv4 over Ethernet) frame; None for anything else.
pub fn parse_arp(f: &[u8]) -> Option<ArpFrame> {
    if f.get(12..14)? != ETH_P_ARP.to_be_bytes() || f.get(14..20)? != [0, 1, 0x08, 0x00, 6, 4] {
        return None;
    }
    Some(ArpFrame {
        eth_dst: mac_at(f, 0)?,
        eth_src: mac_at(f, 6)?,
        op: u16::from_be_bytes([*f.get(20)?, *f.get(21)?]),
        sha: mac_at(f, 22)?,
        spa: v4_at(f, 28)?,
        tha: mac_at(f, 32)?,
        tpa: v4_at(f, 38)?,
    })
}

/// ff02::1:ffXX:XXXX for `ip`.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// 33:33 + the low 32 bits of a multicast address.
pub fn ipv6_mcast_mac(ip: Ipv6Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// RFC 1071 checksum of the ICMPv6 pseudo-header + message.
fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += u32::from(w);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&u32::try_from(msg.len()).unwrap_or(0).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A neighbour solicitation for `target` from (`mac`, `src`) to the solicited-node multicast
/// address, with the source link-layer address option; hop limit 255 as RFC 4861 requires.
pub fn ns_frame(mac: [u8; 6], src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let dst = solicited_node(target);
    let mut icmp = vec![ICMPV6_NS, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&mac);
    let ck = icmpv6_checksum(src, dst, &icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&ipv6_mcast_mac(dst));
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&u16::try_from(icmp.len()).unwrap_or(0).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

/// A neighbour discovery message we care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ndp {
    Solicitation {
        eth_src: [u8; 6],
        src: Ipv6Addr,
        target: Ipv6Addr,
        /// Source link-layer address option.
        lladdr: Option<[u8; 6]>,
    },
    Advertisement {
        eth_src: [u8; 6],
        eth_dst: [u8; 6],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        target: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<[u8; 6]>,
        solicited: bool,
        override_flag: bool,
    },
}

/// Parse Ethernet/IPv6/ICMPv6 NS or NA (no extension headers, as NDP sends them).
pub fn parse_ndp(f: &[u8]) -> Option<Ndp> {
    if f.get(12..14)? != ETH_P_IPV6.to_be_bytes() || f.get(14)? >> 4 != 6 || *f.get(20)? != 58 {
        return None;
    }
    let src = v6_at(f, 22)?;
    let dst = v6_at(f, 38)?;
    let icmp = f.get(54..)?;
    let ty = *icmp.first()?;
    if ty != ICMPV6_NS && ty != ICMPV6_NA {
        return None;
    }
    let target = v6_at(icmp, 8)?;
    let mut lladdr = None;
    let mut opts = icmp.get(24..).unwrap_or(&[]);
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            break;
        }
        let want = if ty == ICMPV6_NS { 1 } else { 2 };
        if opts[0] == want && len >= 8 {
            lladdr = mac_at(opts, 2);
        }
        opts = &opts[len..];
    }
    let eth_src = mac_at(f, 6)?;
    if ty == ICMPV6_NS {
        return Some(Ndp::Solicitation {
            eth_src,
            src,
            target,
            lladdr,
        });
    }
    let flags = *icmp.get(4)?;
    Some(Ndp::Advertisement {
        eth_src,
        eth_dst: mac_at(f, 0)?,
        src,
        dst,
        target,
        lladdr,
        solicited: flags & 0x40 != 0,
        override_flag: flags & 0x20 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x10];

    #[test]
    fn arp_request_is_byte_exact_and_parses_back() {
        let f = arp_request(
            MAC,
            Ipv4Addr::new(198, 51, 100, 10),
            Ipv4Addr::new(198, 51, 100, 240),
        );
        let want: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xc1, 0, 0, 0, 0x10, 0x08, 0x06, // eth
            0, 1, 8, 0, 6, 4, 0, 1, // htype ptype hlen plen op=request
            0x02, 0xc1, 0, 0, 0, 0x10, 198, 51, 100, 10, // sender
            0, 0, 0, 0, 0, 0, 198, 51, 100, 240, // target
        ];
        assert_eq!(f, want);
        let a = parse_arp(&f).unwrap();
        assert_eq!(a.op, 1);
        assert_eq!(a.sha, MAC);
        assert_eq!(a.tpa, Ipv4Addr::new(198, 51, 100, 240));
        assert!(!a.is_gratuitous());
        // Padded to 60 bytes on the wire: still parses.
        let mut padded = f.clone();
        padded.resize(60, 0);
        assert_eq!(parse_arp(&padded), Some(a));
        assert_eq!(parse_arp(&f[..30]), None);
    }

    #[test]
    fn gratuitous_reply_is_recognised() {
        let mut f = arp_request(
            MAC,
            Ipv4Addr::new(198, 51, 100, 240),
            Ipv4Addr::new(198, 51, 100, 240),
        );
        f[21] = 2;
        let a = parse_arp(&f).unwrap();
        assert!(a.is_gratuitous());
        assert_eq!(a.op, 2);
    }

    #[test]
    fn solicited_node_address_and_mac() {
        let t: Ipv6Addr = "2001:db8:100::f0".parse().unwrap();
        assert_eq!(
            solicited_node(t),
            "ff02::1:ff00:f0".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            ipv6_mcast_mac(solicited_node(t)),
            [0x33, 0x33, 0xff, 0, 0, 0xf0]
        );
    }

    #[test]
    fn neighbour_solicitation_is_byte_exact() {
        let src: Ipv6Addr = "fe80::c1ff:fe00:10".parse().unwrap();
        let t: Ipv6Addr = "2001:db8:100::f0".parse().unwrap();
        let f = ns_frame(MAC, src, t);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(&f[..6], &[0x33, 0x33, 0xff, 0, 0, 0xf0]);
        assert_eq!(&f[18..22], &[0, 32, 58, 255]);
        // Checksum verified independently: summing the pseudo-header and message with the
        // checksum in place gives 0xffff.
        let icmp = &f[54..];
        assert_eq!(icmpv6_checksum(src, solicited_node(t), icmp), 0);
        assert_eq!(&icmp[24..32], &[1, 1, 0x02, 0xc1, 0, 0, 0, 0x10]);
        match parse_ndp(&f).unwrap() {
            Ndp::Solicitation {
                target,
                lladdr,
                src: s,
                ..
            } => {
                assert_eq!(target, t);
                assert_eq!(lladdr, Some(MAC));
                assert_eq!(s, src);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn neighbour_advertisement_flags_and_option() {
        let mut f = ns_frame(
            MAC,
            "fe80::1".parse().unwrap(),
            "2001:db8::f0".parse().unwrap(),
        );
        f[54] = 136;
        f[58] = 0x60; // solicited + override
        f[78] = 2; // target link-layer address option
        match parse_ndp(&f).unwrap() {
            Ndp::Advertisement {
                solicited,
                override_flag,
                lladdr,
                ..
            } => {
                assert!(solicited && override_flag);
                assert_eq!(lladdr, Some(MAC));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn macs_round_trip() {
        assert_eq!(parse_mac("02:6e:00:00:00:01"), Some([2, 0x6e, 0, 0, 0, 1]));
        assert_eq!(mac_str(&[2, 0x6e, 0, 0, 0, 1]), "02:6e:00:00:00:01");
        assert_eq!(parse_mac("02:6e:00:00:00"), None);
        assert_eq!(parse_mac("02:6e:00:00:00:01:02"), None);
        assert_eq!(parse_mac("zz:6e:00:00:00:01"), None);
    }
}
