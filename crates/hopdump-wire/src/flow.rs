//! `flow_key`: the innermost IP packet's 5-tuple and correlation fields, found without
//! allocating, through VXLAN/Geneve/IP-in-IP — what the trace engine follows across DNAT.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::LinkType;
use crate::field::{arr, be16, be24, be32, tail, u8_at};
use crate::udp;

/// Correlation key of the innermost IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Source port (TCP/UDP/SCTP); the identifier for ICMP/ICMPv6 echo; else 0.
    pub sport: u16,
    /// Destination port (TCP/UDP/SCTP); the identifier for ICMP/ICMPv6 echo; else 0.
    pub dport: u16,
    /// IPv4 identification, or the IPv6 fragment header's identification.
    pub ip_id: Option<u32>,
    /// TCP sequence number.
    pub tcp_seq: Option<u32>,
    /// VNI of the innermost VXLAN/Geneve tunnel crossed.
    pub tunnel_vni: Option<u32>,
}

const MAX_DEPTH: u8 = 8;

/// The key of the innermost IP packet, or `None` when there is no IP header to read.
pub fn flow_key(link: LinkType, data: &[u8]) -> Option<FlowKey> {
    match link {
        LinkType::Ethernet => eth(data, 0, None),
        LinkType::Null => {
            let f = crate::link::null_family(data).ok()?;
            let p = tail(data, 4);
            match f {
                2 => ipv4(p, 0, None),
                f if crate::link::null_is_ipv6(f) => ipv6(p, 0, None),
                _ => None,
            }
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => ip_any(data, 0, None),
        LinkType::LinuxSll => ethertype(be16(data, 14).ok()?, tail(data, 16), 0, None),
        LinkType::LinuxSll2 => ethertype(be16(data, 0).ok()?, tail(data, 20), 0, None),
        LinkType::Other(_) => None,
    }
}

fn ip_any(p: &[u8], depth: u8, vni: Option<u32>) -> Option<FlowKey> {
    match u8_at(p, 0).ok()? >> 4 {
        4 => ipv4(p, depth, vni),
        6 => ipv6(p, depth, vni),
        _ => None,
    }
}

fn eth(p: &[u8], depth: u8, vni: Option<u32>) -> Option<FlowKey> {
    ethertype(be16(p, 12).ok()?, tail(p, 14), depth, vni)
}

fn ethertype(mut t: u16, mut p: &[u8], depth: u8, vni: Option<u32>) -> Option<FlowKey> {
    let mut tags = 0;
    while crate::vlan::is_tag(t) && tags < 8 {
        t = be16(p, 2).ok()?;
        p = tail(p, 4);
        tags += 1;
    }
    match t {
        0x0800 => ipv4(p, depth, vni),
        0x86dd => ipv6(p, depth, vni),
        _ => None,
    }
}

fn ipv4(p: &[u8], depth: u8, vni: Option<u32>) -> Option<FlowKey> {
    let vhl = u8_at(p, 0).ok()?;
    let hl = usize::from(vhl & 0x0f) * 4;
    if vhl >> 4 != 4 || hl < 20 {
        return None;
    }
    let proto = u8_at(p, 9).ok()?;
    let src = IpAddr::V4(Ipv4Addr::from(arr::<4>(p, 12).ok()?));
    let dst = IpAddr::V4(Ipv4Addr::from(arr::<4>(p, 16).ok()?));
    let id = u32::from(be16(p, 4).ok()?);
    let first_frag = be16(p, 6).ok()? & 0x1fff == 0;
    let total = usize::from(be16(p, 2).ok()?);
    let l4 = tail(crate::field::cut(p, total.max(hl)), hl);
    upper(src, dst, proto, first_frag, l4, Some(id), depth, vni)
}

fn ipv6(p: &[u8], depth: u8, vni: Option<u32>) -> Option<FlowKey> {
    if u8_at(p, 0).ok()? >> 4 != 6 {
        return None;
    }
    let src = IpAddr::V6(Ipv6Addr::from(arr::<16>(p, 8).ok()?));
    let dst = IpAddr::V6(Ipv6Addr::from(arr::<16>(p, 24).ok()?));
    let mut nh = u8_at(p, 6).ok()?;
    let mut rest = tail(p, 40);
    let mut frag_id = None;
    let mut first_frag = true;
    let mut n = 0;
    while crate::ipv6::is_extension(nh) && n < 16 {
        if nh == crate::ipv6::NH_FRAGMENT {
            frag_id = be32(rest, 4).ok();
            first_frag = be16(rest, 2).map(|w| w & 0xfff8 == 0).unwrap_or(false);
        }
        let Ok((next, len)) = crate::ipv6::extension_len(nh, rest) else {
            return Some(key(src, dst, nh, 0, 0, frag_id, None, vni));
        };
        nh = next;
        rest = tail(rest, len);
        n += 1;
    }
    upper(src, dst, nh, first_frag, rest, frag_id, depth, vni)
}

#[allow(clippy::too_many_arguments)]
fn key(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    ip_id: Option<u32>,
    tcp_seq: Option<u32>,
    vni: Option<u32>,
) -> FlowKey {
    FlowKey {
        src,
        dst,
        proto,
        sport,
        dport,
        ip_id,
        tcp_seq,
        tunnel_vni: vni,
    }
}

#[allow(clippy::too_many_arguments)]
fn upper(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    first_frag: bool,
    l4: &[u8],
    ip_id: Option<u32>,
    depth: u8,
    vni: Option<u32>,
) -> Option<FlowKey> {
    let outer = key(src, dst, proto, 0, 0, ip_id, None, vni);
    if !first_frag {
        return Some(outer);
    }
    let inner = depth < MAX_DEPTH;
    match proto {
        6 | 17 | 132 | 33 => {
            let (Ok(sport), Ok(dport)) = (be16(l4, 0), be16(l4, 2)) else {
                return Some(outer);
            };
            if proto == 17 && inner {
                let is = |port: u16| sport == port || dport == port;
                let payload = tail(l4, 8);
                if is(udp::PORT_VXLAN_LINUX) || is(udp::PORT_VXLAN) {
                    if let Ok(v) = be24(payload, 4)
                        && let Some(k) = eth(tail(payload, 8), depth + 1, Some(v))
                    {
                        return Some(k);
                    }
                } else if is(udp::PORT_GENEVE)
                    && let (Ok(vo), Ok(prot), Ok(v)) =
                        (u8_at(payload, 0), be16(payload, 2), be24(payload, 4))
                {
                    let inner_p = tail(payload, 8 + usize::from(vo & 0x3f) * 4);
                    let k = if prot == crate::ethernet::ETHERTYPE_TEB {
                        eth(inner_p, depth + 1, Some(v))
                    } else {
                        ethertype(prot, inner_p, depth + 1, Some(v))
                    };
                    if k.is_some() {
                        return k;
                    }
                }
            }
            let seq = if proto == 6 { be32(l4, 4).ok() } else { None };
            Some(key(src, dst, proto, sport, dport, ip_id, seq, vni))
        }
        4 if inner => ipv4(l4, depth + 1, vni).or(Some(outer)),
        41 if inner => ipv6(l4, depth + 1, vni).or(Some(outer)),
        1 | 58 => {
            let t = u8_at(l4, 0).ok();
            let echo = matches!(t, Some(0 | 8 | 128 | 129));
            match (echo, be16(l4, 4)) {
                (true, Ok(id)) => Some(key(src, dst, proto, id, id, ip_id, None, vni)),
                _ => Some(outer),
            }
        }
        _ => Some(outer),
    }
}
