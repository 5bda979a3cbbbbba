//! Correlation: each captured frame is matched to the traced service — before DNAT by
//! LB-IP:port, after by endpoint:targetPort, replies reversed, ICMP errors by the packet they
//! quote — and counted at its hop; kernel drops and conntrack entries are reduced likewise.

use std::net::IpAddr;

use hopdump_engine::{CtObs, DropObs, HopCounts, Proto, Target, WatchedFlow};
use hopdump_wire::{Layer, LinkType, NoNames, TextOptions};

/// What the correlation needs to know.
pub struct Matcher {
    pub target: Target,
    pub client: Option<IpAddr>,
    /// (endpoint address, target port)
    pub endpoints: Vec<(IpAddr, u16)>,
    /// Our probes' client source ports.
    pub probe_ports: Vec<u16>,
}

/// Direction of a frame relative to the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Forward { dnat: bool },
    Reply { un_nated: bool },
}

/// One frame's meaning.
pub struct Seen {
    pub dir: Option<Dir>,
    pub client_port: Option<u16>,
    pub client: Option<IpAddr>,
    pub rst: bool,
    pub icmp_unreachable: bool,
    pub icmp_too_big: bool,
    pub large: bool,
}

impl Matcher {
    fn proto_num(&self) -> u8 {
        match self.target.proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    fn is_service(&self, ip: IpAddr, port: u16) -> Option<bool> {
        if ip == self.target.ip && port == self.target.port {
            return Some(false);
        }
        self.endpoints
            .iter()
            .any(|(a, p)| *a == ip && *p == port)
            .then_some(true)
    }

    /// Classify one frame.
    pub fn classify(&self, link: LinkType, data: &[u8], orig_len: u32) -> Option<Seen> {
        let pkt = hopdump_wire::decode(link, data, orig_len);
        let mut ip: Option<(IpAddr, IpAddr, u8)> = None;
        let mut ports: Option<(u16, u16)> = None;
        let mut rst = false;
        let mut icmp: Option<(bool, bool, IpAddr, u16, Option<u16>)> = None;
        for l in &pkt.layers {
            match l {
                Layer::Ipv4(h) => ip = Some((IpAddr::V4(h.src), IpAddr::V4(h.dst), h.proto)),
                Layer::Ipv6(h) => {
                    ip = Some((IpAddr::V6(h.src), IpAddr::V6(h.dst), h.next_header));
                }
                Layer::Tcp(t) => {
                    ports = Some((t.sport, t.dport));
                    rst = t.flag_bits.rst;
                }
                Layer::Udp(u) => ports = Some((u.sport, u.dport)),
                Layer::Icmp(i) if i.icmp_type == 3 => {
                    if let Some(q) = &i.quoted {
                        icmp = Some((
                            i.code != 4,
                            i.code == 4,
                            q.dst,
                            q.dport.unwrap_or(0),
                            q.sport,
                        ));
                    }
                }
                Layer::Icmpv6(i) if i.icmp_type == 1 || i.icmp_type == 2 => {
                    if let Some(q) = &i.quoted {
                        icmp = Some((
                            i.icmp_type == 1,
                            i.icmp_type == 2,
                            q.dst,
                            q.dport.unwrap_or(0),
                            q.sport,
                        ));
                    }
                }
                _ => {}
            }
        }
        let (src, dst, proto) = ip?;
        let large = orig_len > 1200;
        if let Some((unreach, too_big, qdst, qdport, qsport)) = icmp {
            self.is_service(qdst, qdport)?;
            return Some(Seen {
                dir: None,
                client_port: qsport,
                client: Some(dst),
                rst: false,
                icmp_unreachable: unreach,
                icmp_too_big: too_big,
                large: false,
            });
        }
        if proto != self.proto_num() {
            return None;
        }
        let (sport, dport) = ports?;
        if let Some(dnat) = self.is_service(dst, dport) {
            return Some(Seen {
                dir: Some(Dir::Forward { dnat }),
                client_port: Some(sport),
                client: Some(src),
                rst: false,
                icmp_unreachable: false,
                icmp_too_big: false,
                large,
            });
        }
        if let Some(from_ep) = self.is_service(src, sport) {
            return Some(Seen {
                dir: Some(Dir::Reply {
                    un_nated: from_ep && Some(dst) == self.client,
                }),
                client_port: Some(dport),
                client: Some(dst),
                rst,
                icmp_unreachable: false,
                icmp_too_big: false,
                large,
            });
        }
        None
    }
}

/// Add a frame to a hop's counts.
pub fn count(c: &mut HopCounts, s: &Seen, link: LinkType, data: &[u8], orig_len: u32) {
    match s.dir {
        Some(Dir::Forward { dnat }) => {
            c.forward += 1;
            if dnat {
                c.forward_dnat += 1;
            }
            if s.large {
                c.forward_large += 1;
            }
        }
        Some(Dir::Reply { un_nated }) => {
            c.replies += 1;
            if un_nated {
                c.replies_un_nated += 1;
            }
            if s.large {
                c.replies_large += 1;
            }
            if s.rst {
                c.rst += 1;
            }
        }
        None => {}
    }
    if s.icmp_unreachable {
        c.icmp_unreachable += 1;
    }
    if s.icmp_too_big {
        c.icmp_too_big += 1;
    }
    if c.sample.len() < 3 {
        c.sample.push(packet_line(link, data, orig_len));
    }
}

/// One packet as tcpdump `-nn` prints it (evidence lines, the live view).
pub fn packet_line(link: LinkType, data: &[u8], orig_len: u32) -> String {
    let mut out = Vec::new();
    hopdump_wire::write_text(
        &mut out,
        link,
        data,
        orig_len,
        &TextOptions::numeric(),
        &NoNames,
    );
    String::from_utf8_lossy(&out).trim_end().to_string()
}

/// Watched flows: client source ports that were not our probes.
pub fn watch(flows: &mut Vec<WatchedFlow>, s: &Seen, probe_ports: &[u16]) {
    let (Some(port), Some(client), Some(dir)) = (s.client_port, s.client, s.dir) else {
        return;
    };
    if probe_ports.contains(&port) {
        return;
    }
    let f = match flows
        .iter_mut()
        .find(|f| f.sport == port && f.client == client)
    {
        Some(f) => f,
        None => {
            flows.push(WatchedFlow {
                client,
                sport: port,
                forward: 0,
                replies: 0,
            });
            let Some(last) = flows.last_mut() else {
                return;
            };
            last
        }
    };
    match dir {
        Dir::Forward { .. } => f.forward += 1,
        Dir::Reply { .. } => f.replies += 1,
    }
}

/// A kernel drop, if it is about the traced service.
pub fn drop_obs(m: &Matcher, node: &str, ev: &hopdump_drops::DropEvent) -> Option<DropObs> {
    if ev.headers.is_empty() {
        return None;
    }
    let len = ev.len.max(ev.headers.len() as u32);
    m.classify(LinkType::Raw, &ev.headers, len)?;
    Some(DropObs {
        node: node.to_string(),
        iface: ev.iface.clone(),
        reason: ev.reason.clone(),
        location: ev.location_name(),
        packet: packet_line(LinkType::Raw, &ev.headers, len),
        count: 1,
    })
}

/// Merge drops that share node, iface, reason and location.
pub fn merge_drops(v: Vec<DropObs>) -> Vec<DropObs> {
    let mut out: Vec<DropObs> = Vec::new();
    for d in v {
        match out.iter_mut().find(|o| {
            o.node == d.node
                && o.iface == d.iface
                && o.reason == d.reason
                && o.location == d.location
        }) {
            Some(o) => o.count += 1,
            None => out.push(d),
        }
    }
    out
}

/// Conntrack entries whose original destination is `dst:dport` (the LB IP and port).
pub fn conntrack(
    entries: &[hopdump_node::ctnetlink::CtEntry],
    dst: IpAddr,
    dport: u16,
) -> Vec<CtObs> {
    entries
        .iter()
        .filter_map(|e| {
            if e.orig.dst != dst || e.orig.dport? != dport {
                return None;
            }
            Some(CtObs {
                line: hopdump_node::analysis::conntrack::entry_line(e),
                client: e.orig.src,
                client_port: e.orig.sport?,
                to: e.reply.src,
                to_port: e.reply.sport.unwrap_or(0),
                udp: e.orig.proto == 17,
                replied: e.status & 0x2 != 0,
            })
        })
        .collect()
}

/// Bytes of a frame up to the end of its innermost transport header (VXLAN followed into the
/// inner frame): what a bundle keeps without `--with-payload`, since payloads hold secrets.
/// Frames that cannot be parsed keep at most 128 bytes.
pub fn headers_len(link: LinkType, data: &[u8]) -> usize {
    use etherparse::{SlicedPacket, TransportSlice};
    let cap = data.len().min(128);
    let parsed = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(data),
        LinkType::Raw => SlicedPacket::from_ip(data),
        _ => return cap,
    };
    let Ok(p) = parsed else { return cap };
    let offset =
        |payload: &[u8]| (payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => offset(t.payload()),
        Some(TransportSlice::Udp(u)) => {
            let off = offset(u.payload());
            let vxlan = [4789, 8472].contains(&u.destination_port());
            if vxlan && u.payload().len() > 8 {
                off + 8 + headers_len(LinkType::Ethernet, &data[off + 8..])
            } else {
                off
            }
        }
        // ICMP errors quote the offending headers (and 8 bytes): small, and needed.
        _ => cap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_only_cuts_payload_and_follows_vxlan() {
        let payload = b"GET /secret HTTP/1.1\r\nAuthorization: Bearer xyz\r\n\r\n";
        let mut inner = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4([10, 244, 1, 2], [10, 244, 2, 2], 64)
            .tcp(40000, 8080, 1, 64000)
            .write(&mut inner, payload)
            .unwrap();
        assert_eq!(headers_len(LinkType::Ethernet, &inner), 14 + 20 + 20);
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(&inner);
        let mut outer = Vec::new();
        etherparse::PacketBuilder::ethernet2([4; 6], [5; 6])
            .ipv4([198, 51, 100, 11], [198, 51, 100, 12], 64)
            .udp(50000, 8472)
            .write(&mut outer, &vx)
            .unwrap();
        assert_eq!(
            headers_len(LinkType::Ethernet, &outer),
            14 + 20 + 8 + 8 + 14 + 20 + 20
        );
        assert_eq!(headers_len(LinkType::Ethernet, b"\x01\x02"), 2);
    }
}
