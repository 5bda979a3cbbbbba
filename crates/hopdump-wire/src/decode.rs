//! `decode`: walks the same checked views as the printer and fills the owned [`Packet`]
//! schema. Allocates (it builds strings and vectors); the text and flow paths do not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::arp::ArpPacket;
use crate::ethernet::EthernetFrame;
use crate::field::{arr, be16, be32, tail, u8_at};
use crate::geneve::GeneveHeader;
use crate::icmp::IcmpPacket;
use crate::icmpv6::Icmpv6Packet;
use crate::ipv4::Ipv4Packet;
use crate::ipv6::Ipv6Packet;
use crate::packet::*;
use crate::sll::{Sll2Header, SllHeader};
use crate::tcp::{TcpOption, TcpSegment};
use crate::udp::UdpDatagram;
use crate::vlan::VlanTag;
use crate::vxlan::VxlanHeader;
use crate::{LinkType, udp};

/// Nesting limit for tunnels inside tunnels.
const MAX_DEPTH: u8 = 8;

/// Decodes every header of one packet into the owned, serialisable [`Packet`].
pub fn decode(link: LinkType, data: &[u8], orig_len: u32) -> Packet {
    let mut d = Dec {
        layers: Vec::new(),
        truncated: None,
        depth: 0,
    };
    let _ = match link {
        LinkType::Ethernet => d.eth(data),
        LinkType::Null => d.null(data),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
            d.ip_any(data, u32::try_from(data.len()).unwrap_or(u32::MAX))
        }
        LinkType::LinuxSll => d.sll(data),
        LinkType::LinuxSll2 => d.sll2(data),
        LinkType::Other(n) => d.unknown("linktype", n, data),
    };
    Packet {
        schema: PACKET_SCHEMA.to_string(),
        linktype: link.linktype(),
        caplen: u32::try_from(data.len()).unwrap_or(u32::MAX),
        len: orig_len,
        layers: d.layers,
        truncated: d.truncated,
    }
}

/// Decoding stops (a header was cut short, recorded in `truncated`).
struct Stop;

type D = Result<(), Stop>;

struct Dec {
    layers: Vec<Layer>,
    truncated: Option<String>,
    depth: u8,
}

fn hex(b: &[u8]) -> String {
    let mut s = Vec::with_capacity(b.len() * 2);
    for x in b {
        s.push(b"0123456789abcdef"[usize::from(x >> 4)]);
        s.push(b"0123456789abcdef"[usize::from(x & 0xf)]);
    }
    String::from_utf8(s).unwrap_or_default()
}

fn mac(b: &[u8]) -> String {
    let mut o = Vec::new();
    crate::print::write_mac(&mut o, b);
    String::from_utf8(o).unwrap_or_default()
}

impl Dec {
    fn trunc(&mut self, name: &str) -> D {
        self.truncated = Some(name.to_string());
        Err(Stop)
    }

    fn unknown(&mut self, of: &str, value: u32, rest: &[u8]) -> D {
        self.layers.push(Layer::Unknown(UnknownLayer {
            of: of.to_string(),
            value,
            len: u32::try_from(rest.len()).unwrap_or(u32::MAX),
        }));
        Ok(())
    }

    fn null(&mut self, p: &[u8]) -> D {
        let Ok(family) = crate::link::null_family(p) else {
            return self.trunc("null");
        };
        self.layers.push(Layer::Null(NullLayer { family }));
        let rest = tail(p, 4);
        match family {
            2 => self.ipv4(rest),
            f if crate::link::null_is_ipv6(f) => self.ipv6(rest),
            f => self.unknown("null_family", f, rest),
        }
    }

    fn sll(&mut self, p: &[u8]) -> D {
        let Ok(h) = SllHeader::new_checked(p) else {
            return self.trunc("sll");
        };
        self.layers.push(Layer::Sll(SllLayer {
            version: 1,
            packet_type: h.packet_type(),
            direction: crate::sll::pkttype_name(h.packet_type()).to_string(),
            hatype: h.hatype(),
            addr: mac(h.addr()),
            protocol: h.protocol(),
            ifindex: None,
        }));
        self.ethertype(h.protocol(), h.payload())
    }

    fn sll2(&mut self, p: &[u8]) -> D {
        let Ok(h) = Sll2Header::new_checked(p) else {
            return self.trunc("sll2");
        };
        self.layers.push(Layer::Sll(SllLayer {
            version: 2,
            packet_type: u16::from(h.packet_type()),
            direction: crate::sll::pkttype_name(u16::from(h.packet_type())).to_string(),
            hatype: h.hatype(),
            addr: mac(h.addr()),
            protocol: h.protocol(),
            ifindex: Some(h.ifindex()),
        }));
        self.ethertype(h.protocol(), h.payload())
    }

    fn eth(&mut self, p: &[u8]) -> D {
        let Ok(f) = EthernetFrame::new_checked(p) else {
            return self.trunc("ether");
        };
        self.layers.push(Layer::Eth(EthLayer {
            src: mac(&f.src()),
            dst: mac(&f.dst()),
            ethertype: f.ethertype(),
        }));
        self.ethertype(f.ethertype(), f.payload())
    }

    fn ethertype(&mut self, mut t: u16, mut p: &[u8]) -> D {
        while crate::vlan::is_tag(t) {
            let Ok(tag) = VlanTag::new_checked(p) else {
                return self.trunc("vlan");
            };
            self.layers.push(Layer::Vlan(VlanLayer {
                tpid: t,
                vid: tag.vid(),
                pcp: tag.pcp(),
                dei: tag.dei(),
                ethertype: tag.ethertype(),
            }));
            t = tag.ethertype();
            p = tail(p, 4);
        }
        match t {
            crate::ethernet::ETHERTYPE_IPV4 => self.ipv4(p),
            crate::ethernet::ETHERTYPE_IPV6 => self.ipv6(p),
            crate::ethernet::ETHERTYPE_ARP | crate::ethernet::ETHERTYPE_REVARP => self.arp(p),
            t if t <= crate::ethernet::MAX_LENGTH_VAL => {
                self.unknown("llc_length", u32::from(t), p)
            }
            t => self.unknown("ethertype", u32::from(t), p),
        }
    }

    fn arp(&mut self, p: &[u8]) -> D {
        let Ok(a) = ArpPacket::new_checked(p) else {
            return self.trunc("arp");
        };
        let ip = |b: &[u8]| {
            if a.ptype() == 0x0800 && b.len() == 4 {
                arr::<4>(b, 0).ok().map(Ipv4Addr::from)
            } else {
                None
            }
        };
        let operation = match a.op() {
            1 => "request",
            2 => "reply",
            3 => "reverse_request",
            4 => "reverse_reply",
            8 => "inverse_request",
            9 => "inverse_reply",
            _ => "unknown",
        };
        self.layers.push(Layer::Arp(ArpLayer {
            htype: a.htype(),
            ptype: a.ptype(),
            op: a.op(),
            operation: operation.to_string(),
            sender_mac: mac(a.sha()),
            sender_ip: ip(a.spa()),
            target_mac: mac(a.tha()),
            target_ip: ip(a.tpa()),
        }));
        Ok(())
    }

    fn ip_any(&mut self, p: &[u8], _len: u32) -> D {
        match p.first().map(|b| b >> 4) {
            Some(4) => self.ipv4(p),
            Some(6) => self.ipv6(p),
            Some(v) => self.unknown("ip_version", u32::from(v), p),
            None => self.trunc("ipn"),
        }
    }

    fn ipv4(&mut self, p: &[u8]) -> D {
        if p.first().is_some_and(|b| b >> 4 != 4) {
            return self.unknown("ip_version", u32::from(p.first().map_or(0, |b| b >> 4)), p);
        }
        let Ok(ip) = Ipv4Packet::new_checked(p) else {
            return self.trunc("ip");
        };
        let hl = ip.header_len();
        let mut options = Vec::new();
        let mut o = ip.options();
        while let Some(&kind) = o.first() {
            if kind == 0 || kind == 1 {
                options.push(Ipv4Option {
                    kind,
                    data: String::new(),
                });
                o = tail(o, 1);
                if kind == 0 {
                    break;
                }
                continue;
            }
            let l = usize::from(u8_at(o, 1).unwrap_or(0));
            if l < 2 || l > o.len() {
                options.push(Ipv4Option {
                    kind,
                    data: hex(tail(o, 1)),
                });
                break;
            }
            options.push(Ipv4Option {
                kind,
                data: hex(o.get(2..l).unwrap_or(&[])),
            });
            o = tail(o, l);
        }
        let checksum_ok =
            crate::checksum::finish(crate::checksum::add(0, p.get(..hl).unwrap_or(&[]))) == 0;
        self.layers.push(Layer::Ipv4(Ipv4Layer {
            src: Ipv4Addr::from(ip.src()),
            dst: Ipv4Addr::from(ip.dst()),
            header_len: hl as u8,
            tos: ip.tos(),
            len: ip.total_len(),
            id: ip.id(),
            flags: Ipv4Flags {
                df: ip.dont_frag(),
                mf: ip.more_frags(),
                reserved: ip.frag_word() & 0x8000 != 0,
            },
            frag_offset: ip.frag_offset() as u16,
            ttl: ip.ttl(),
            proto: ip.protocol(),
            checksum: ip.checksum(),
            checksum_ok,
            options,
        }));
        if ip.frag_offset() != 0 {
            return Ok(());
        }
        let claimed = u32::from(ip.total_len()).saturating_sub(hl as u32);
        self.l4(ip.protocol(), ip.payload(), claimed, false)
    }

    fn ipv6(&mut self, p: &[u8]) -> D {
        let Ok(ip) = Ipv6Packet::new_checked(p) else {
            return self.trunc("ip6");
        };
        let mut ext = Vec::new();
        let mut nh = ip.next_header();
        let mut rest = ip.payload();
        let mut claimed = u32::from(ip.payload_len());
        let mut later_fragment = false;
        while crate::ipv6::is_extension(nh) && ext.len() < 16 {
            let Ok((next, len)) = crate::ipv6::extension_len(nh, rest) else {
                let name = match nh {
                    crate::ipv6::NH_HOPOPTS => "hbhopt",
                    crate::ipv6::NH_DSTOPTS => "dstopt",
                    crate::ipv6::NH_ROUTING => "rt6",
                    _ => "frag6",
                };
                self.push_v6(&ip, ext);
                return self.trunc(name);
            };
            let mut e = Ipv6Ext {
                kind: match nh {
                    crate::ipv6::NH_HOPOPTS => "hop_by_hop",
                    crate::ipv6::NH_ROUTING => "routing",
                    crate::ipv6::NH_FRAGMENT => "fragment",
                    _ => "dest_opts",
                }
                .to_string(),
                next_header: next,
                len: len as u16,
                frag_offset: None,
                more_fragments: None,
                frag_id: None,
                routing_type: None,
                segments_left: None,
            };
            if nh == crate::ipv6::NH_FRAGMENT {
                let w = be16(rest, 2).unwrap_or(0);
                e.frag_offset = Some(w & 0xfff8);
                e.more_fragments = Some(w & 1 != 0);
                e.frag_id = be32(rest, 4).ok();
                later_fragment = w & 0xfff8 != 0;
            }
            if nh == crate::ipv6::NH_ROUTING {
                e.routing_type = u8_at(rest, 2).ok();
                e.segments_left = u8_at(rest, 3).ok();
            }
            ext.push(e);
            nh = next;
            rest = tail(rest, len);
            claimed = claimed.saturating_sub(len as u32);
        }
        self.push_v6(&ip, ext);
        if later_fragment {
            return Ok(());
        }
        if ip.payload_len() == 0 {
            claimed = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        }
        self.l4(nh, rest, claimed, true)
    }

    fn push_v6(&mut self, ip: &Ipv6Packet<'_>, ext_headers: Vec<Ipv6Ext>) {
        self.layers.push(Layer::Ipv6(Ipv6Layer {
            src: Ipv6Addr::from(ip.src()),
            dst: Ipv6Addr::from(ip.dst()),
            traffic_class: ip.traffic_class(),
            flow_label: ip.flow_label(),
            payload_len: ip.payload_len(),
            next_header: ip.next_header(),
            hop_limit: ip.hop_limit(),
            ext_headers,
        }));
    }

    fn l4(&mut self, proto: u8, p: &[u8], claimed: u32, v6: bool) -> D {
        match proto {
            6 => self.tcp(p, claimed),
            17 => self.udp(p),
            1 if !v6 => self.icmp(p),
            58 if v6 => self.icmpv6(p),
            4 => self.nested(|d| d.ipv4(p)),
            41 => self.nested(|d| d.ipv6(p)),
            n => self.unknown("ip_proto", u32::from(n), p),
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> D) -> D {
        if self.depth >= MAX_DEPTH {
            return Ok(());
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn tcp(&mut self, p: &[u8], claimed: u32) -> D {
        let Ok(t) = TcpSegment::new_checked(p) else {
            return self.trunc("tcp");
        };
        let f = t.flags();
        let mut flags = String::new();
        crate::tcp::flags_str(f, &mut flags);
        let options = t
            .option_iter()
            .map(|o| match o {
                TcpOption::Eol => TcpOpt::Eol,
                TcpOption::Nop => TcpOpt::Nop,
                TcpOption::Mss(value) => TcpOpt::Mss { value },
                TcpOption::WindowScale(shift) => TcpOpt::Wscale { shift },
                TcpOption::SackPermitted => TcpOpt::SackOk,
                TcpOption::Sack(b) => TcpOpt::Sack {
                    blocks: b
                        .chunks_exact(8)
                        .map(|c| [be32(c, 0).unwrap_or(0), be32(c, 4).unwrap_or(0)])
                        .collect(),
                },
                TcpOption::Timestamp { val, ecr } => TcpOpt::Timestamp { val, ecr },
                TcpOption::Unknown { kind, data } => TcpOpt::Other {
                    code: kind,
                    data: hex(data),
                },
                TcpOption::Malformed(code) => TcpOpt::Malformed { code },
            })
            .collect();
        self.layers.push(Layer::Tcp(TcpLayer {
            sport: t.sport(),
            dport: t.dport(),
            seq: t.seq(),
            ack: t.ack(),
            header_len: t.header_len() as u8,
            flags,
            flag_bits: TcpFlags {
                fin: f & crate::tcp::FIN != 0,
                syn: f & crate::tcp::SYN != 0,
                rst: f & crate::tcp::RST != 0,
                psh: f & crate::tcp::PSH != 0,
                ack: f & crate::tcp::ACK != 0,
                urg: f & crate::tcp::URG != 0,
                ece: f & crate::tcp::ECE != 0,
                cwr: f & crate::tcp::CWR != 0,
            },
            win: t.window(),
            checksum: t.checksum(),
            urg_ptr: t.urgent(),
            options,
            payload_len: claimed.saturating_sub(t.header_len() as u32),
        }));
        let len = claimed.saturating_sub(t.header_len() as u32);
        if len > 0 && crate::tcp::prints_dns(t.sport(), t.dport()) {
            // One length-prefixed message filling the segment, as tcpdump requires.
            let payload = t.payload();
            match be16(payload, 0) {
                Ok(prefix) if u32::from(prefix) + 2 == len => {
                    return self.dns(tail(payload, 2), len - 2);
                }
                Err(_) if len >= 2 => return self.trunc("domain"),
                _ => {}
            }
        }
        Ok(())
    }

    /// A DNS message: `msg` as captured, `claimed` its length per the headers.
    fn dns(&mut self, msg: &[u8], claimed: u32) -> D {
        if claimed < crate::dns::HEADER_LEN as u32 {
            return Ok(());
        }
        let Ok(h) = crate::dns::DnsMessage::new_checked(msg) else {
            return self.trunc("domain");
        };
        let (layer, complete) = crate::dns::layer(h);
        self.layers.push(Layer::Dns(layer));
        if !complete && (msg.len() as u64) < u64::from(claimed) {
            return self.trunc("domain");
        }
        Ok(())
    }

    fn udp(&mut self, p: &[u8]) -> D {
        let Ok(u) = UdpDatagram::new_checked(p) else {
            return self.trunc("udp");
        };
        self.layers.push(Layer::Udp(UdpLayer {
            sport: u.sport(),
            dport: u.dport(),
            len: u.len(),
            checksum: u.checksum(),
            payload_len: u32::from(u.len()).saturating_sub(8),
        }));
        let is = |port: u16| u.sport() == port || u.dport() == port;
        let payload = u.payload();
        if !udp::is_nfs(u.sport(), u.dport(), payload)
            && (is(crate::dns::PORT_DNS) || is(crate::dns::PORT_MDNS))
        {
            return self.dns(payload, u32::from(u.len()).saturating_sub(8));
        }
        if is(udp::PORT_VXLAN_LINUX) || is(udp::PORT_VXLAN) {
            let port = if is(udp::PORT_VXLAN_LINUX) {
                udp::PORT_VXLAN_LINUX
            } else {
                udp::PORT_VXLAN
            };
            let Ok(v) = VxlanHeader::new_checked(payload) else {
                return self.trunc("vxlan");
            };
            self.layers.push(Layer::Vxlan(VxlanLayer {
                flags: v.flags(),
                vni: v.vni(),
                udp_port: port,
            }));
            return self.nested(|d| d.eth(v.payload()));
        }
        if is(udp::PORT_GENEVE) {
            let Ok(g) = GeneveHeader::new_checked(payload) else {
                return self.trunc("geneve");
            };
            self.layers.push(Layer::Geneve(GeneveLayer {
                version: g.version(),
                oam: g.oam(),
                critical: g.critical(),
                protocol: g.protocol(),
                vni: g.vni(),
                options_len: g.options_len() as u16,
            }));
            return self.nested(|d| {
                if g.protocol() == crate::ethernet::ETHERTYPE_TEB {
                    d.eth(g.payload())
                } else {
                    d.ethertype(g.protocol(), g.payload())
                }
            });
        }
        Ok(())
    }

    fn icmp(&mut self, p: &[u8]) -> D {
        let Ok(i) = IcmpPacket::new_checked(p) else {
            return self.trunc("icmp");
        };
        let t = i.icmp_type();
        let echo = matches!(t, crate::icmp::ECHO | crate::icmp::ECHO_REPLY);
        let kind = match t {
            crate::icmp::ECHO => "echo_request",
            crate::icmp::ECHO_REPLY => "echo_reply",
            crate::icmp::UNREACH => "unreachable",
            crate::icmp::SOURCE_QUENCH => "source_quench",
            crate::icmp::REDIRECT => "redirect",
            crate::icmp::TIME_EXCEEDED => "time_exceeded",
            crate::icmp::PARAM_PROB => "param_problem",
            _ => "other",
        };
        self.layers.push(Layer::Icmp(IcmpLayer {
            icmp_type: t,
            code: i.code(),
            kind: kind.to_string(),
            checksum: i.checksum(),
            id: echo.then(|| i.id()),
            seq: echo.then(|| i.seq()),
            mtu: (t == crate::icmp::UNREACH && i.code() == 4).then(|| i.next_hop_mtu()),
            gateway: (t == crate::icmp::REDIRECT).then(|| Ipv4Addr::from(i.gateway())),
            quoted: if crate::icmp::is_error(t) {
                quoted4(i.payload())
            } else {
                None
            },
        }));
        Ok(())
    }

    fn icmpv6(&mut self, p: &[u8]) -> D {
        let Ok(i) = Icmpv6Packet::new_checked(p) else {
            return self.trunc("icmp6");
        };
        let t = i.icmp_type();
        let echo = matches!(t, crate::icmpv6::ECHO_REQUEST | crate::icmpv6::ECHO_REPLY);
        let w = i.word();
        self.layers.push(Layer::Icmpv6(Icmpv6Layer {
            icmp_type: t,
            code: i.code(),
            checksum: i.checksum(),
            id: echo.then_some((w >> 16) as u16),
            seq: echo.then_some(w as u16),
            mtu: (t == crate::icmpv6::PACKET_TOO_BIG).then_some(w),
            target: if matches!(
                t,
                crate::icmpv6::NEIGHBOR_SOLICIT | crate::icmpv6::NEIGHBOR_ADVERT
            ) {
                i.target().map(Ipv6Addr::from)
            } else {
                None
            },
            quoted: if t < 128 { quoted6(i.payload()) } else { None },
        }));
        Ok(())
    }
}

fn ports(proto: u8, l4: &[u8]) -> (Option<u16>, Option<u16>, Option<u32>) {
    if matches!(proto, 6 | 17 | 132 | 33) {
        (
            be16(l4, 0).ok(),
            be16(l4, 2).ok(),
            if proto == 6 { be32(l4, 4).ok() } else { None },
        )
    } else {
        (None, None, None)
    }
}

/// The quoted IPv4 header (and first transport bytes) of an ICMP error.
fn quoted4(q: &[u8]) -> Option<Quoted> {
    if u8_at(q, 0).ok()? >> 4 != 4 {
        return None;
    }
    let hl = usize::from(u8_at(q, 0).ok()? & 0x0f) * 4;
    let proto = u8_at(q, 9).ok()?;
    let (sport, dport, tcp_seq) = ports(proto, tail(q, hl));
    Some(Quoted {
        src: IpAddr::V4(Ipv4Addr::from(arr::<4>(q, 12).ok()?)),
        dst: IpAddr::V4(Ipv4Addr::from(arr::<4>(q, 16).ok()?)),
        proto,
        ip_id: be16(q, 4).ok(),
        ttl: u8_at(q, 8).ok()?,
        len: be16(q, 2).ok()?,
        sport,
        dport,
        tcp_seq,
    })
}

/// The quoted IPv6 header (and first transport bytes) of an ICMPv6 error.
fn quoted6(q: &[u8]) -> Option<Quoted> {
    let ip = Ipv6Packet::new_checked(q).ok()?;
    let mut nh = ip.next_header();
    let mut rest = tail(q, crate::ipv6::HEADER_LEN);
    let mut n = 0;
    while crate::ipv6::is_extension(nh) && n < 16 {
        let (next, len) = crate::ipv6::extension_len(nh, rest).ok()?;
        nh = next;
        rest = tail(rest, len);
        n += 1;
    }
    let (sport, dport, tcp_seq) = ports(nh, rest);
    Some(Quoted {
        src: IpAddr::V6(Ipv6Addr::from(ip.src())),
        dst: IpAddr::V6(Ipv6Addr::from(ip.dst())),
        proto: nh,
        ip_id: None,
        ttl: ip.hop_limit(),
        len: ip.payload_len(),
        sport,
        dport,
        tcp_seq,
    })
}
