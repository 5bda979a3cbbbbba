//! ctnetlink (conntrack over netlink) messages: the dump and delete requests, and decoding of
//! one conntrack entry with everything the kernel sends (tuples, status, TCP state, timeout,
//! mark, zone, id, use, counters). Pure: bytes in, data out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::error::{NodeError, Result};
use crate::netlink::{AttrBuf, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, attrs};

/// nfnetlink subsystem id of conntrack.
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_PROTOINFO: u16 = 4;
const CTA_TIMEOUT: u16 = 7;
const CTA_MARK: u16 = 8;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_USE: u16 = 11;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;

const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMP_CODE: u16 = 6;
const CTA_PROTO_ICMPV6_ID: u16 = 7;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const CTA_PROTO_ICMPV6_CODE: u16 = 9;
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;
const CTA_COUNTERS_PACKETS: u16 = 1;
const CTA_COUNTERS_BYTES: u16 = 2;

/// Status bits (`enum ip_conntrack_status`).
pub const IPS_SEEN_REPLY: u32 = 1 << 1;
pub const IPS_ASSURED: u32 = 1 << 2;
pub const IPS_SRC_NAT: u32 = 1 << 4;
pub const IPS_DST_NAT: u32 = 1 << 5;

const STATUS_NAMES: &[(u32, &str)] = &[
    (1 << 0, "EXPECTED"),
    (1 << 2, "ASSURED"),
    (1 << 3, "CONFIRMED"),
    (1 << 4, "SRC_NAT"),
    (1 << 5, "DST_NAT"),
    (1 << 6, "SEQ_ADJUST"),
    (1 << 9, "DYING"),
    (1 << 10, "FIXED_TIMEOUT"),
    (1 << 11, "TEMPLATE"),
    (1 << 13, "HELPER"),
    (1 << 14, "OFFLOAD"),
    (1 << 15, "HW_OFFLOAD"),
];

/// One direction of a connection: what packets in that direction look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// ICMP (type, code, id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<(u8, u8, u16)>,
}

/// Packet and byte counters of one direction (present when nf_conntrack_acct is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// One conntrack entry as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtEntry {
    /// AF_INET (2) or AF_INET6 (10).
    pub family: u8,
    pub orig: Tuple,
    pub reply: Tuple,
    pub status: u32,
    /// TCP state number (`enum tcp_conntrack`), TCP only.
    pub tcp_state: Option<u8>,
    /// Seconds until the entry expires.
    pub timeout: Option<u32>,
    pub mark: Option<u32>,
    /// Conntrack zone (0 when the kernel sends none).
    pub zone: u16,
    pub id: Option<u32>,
    pub use_count: Option<u32>,
    pub counters_orig: Option<Counters>,
    pub counters_reply: Option<Counters>,
}

/// Name of an IP protocol number as conntrack prints it.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// `enum tcp_conntrack` names.
pub fn tcp_state_name(s: u8) -> &'static str {
    match s {
        0 => "NONE",
        1 => "SYN_SENT",
        2 => "SYN_RECV",
        3 => "ESTABLISHED",
        4 => "FIN_WAIT",
        5 => "CLOSE_WAIT",
        6 => "LAST_ACK",
        7 => "TIME_WAIT",
        8 => "CLOSE",
        9 => "SYN_SENT2",
        _ => "UNKNOWN",
    }
}

impl CtEntry {
    /// The state as conntrack prints it (TCP state; empty for other protocols).
    pub fn state(&self) -> Option<&'static str> {
        self.tcp_state.map(tcp_state_name)
    }

    /// Flags as conntrack and /proc print them: UNREPLIED when no reply was seen, then the
    /// status bits by name.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.status & IPS_SEEN_REPLY == 0 {
            v.push("UNREPLIED");
        }
        for (bit, name) in STATUS_NAMES {
            if self.status & bit != 0 {
                v.push(*name);
            }
        }
        v
    }

    /// DNAT happened: the reply comes from somewhere else than the original destination.
    pub fn dnat_to(&self) -> Option<(IpAddr, Option<u16>)> {
        if self.reply.src != self.orig.dst || self.reply.sport != self.orig.dport {
            Some((self.reply.src, self.reply.sport))
        } else {
            None
        }
    }

    /// SNAT/masquerade happened: the reply goes to somewhere else than the original source.
    pub fn snat_to(&self) -> Option<(IpAddr, Option<u16>)> {
        if self.reply.dst != self.orig.src || self.reply.dport != self.orig.sport {
            Some((self.reply.dst, self.reply.dport))
        } else {
            None
        }
    }
}

/// The netlink message type of a ctnetlink operation.
fn msg_type(op: u16) -> u16 {
    (NFNL_SUBSYS_CTNETLINK << 8) | op
}

/// `struct nfgenmsg`: family, version 0, res_id 0 (big endian).
fn nfgenmsg(family: u8) -> [u8; 4] {
    [family, 0, 0, 0]
}

/// (type, flags, payload) of a request to dump the whole table of `family` (AF_UNSPEC: both).
pub fn dump_request(family: u8) -> (u16, u16, Vec<u8>) {
    (
        msg_type(IPCTNL_MSG_CT_GET),
        NLM_F_REQUEST | NLM_F_DUMP,
        nfgenmsg(family).to_vec(),
    )
}

fn put_tuple(b: &mut AttrBuf, t: &Tuple) {
    b.nest(CTA_TUPLE_IP, |ip| match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ip.put(CTA_IP_V4_SRC, &s.octets())
                .put(CTA_IP_V4_DST, &d.octets());
        }
        (s, d) => {
            ip.put(CTA_IP_V6_SRC, &v6(s).octets())
                .put(CTA_IP_V6_DST, &v6(d).octets());
        }
    });
    b.nest(CTA_TUPLE_PROTO, |p| {
        p.put(CTA_PROTO_NUM, &[t.proto]);
        if let Some(s) = t.sport {
            p.put(CTA_PROTO_SRC_PORT, &s.to_be_bytes());
        }
        if let Some(d) = t.dport {
            p.put(CTA_PROTO_DST_PORT, &d.to_be_bytes());
        }
        if let Some((ty, code, id)) = t.icmp {
            if t.proto == 58 {
                p.put(CTA_PROTO_ICMPV6_ID, &id.to_be_bytes())
                    .put(CTA_PROTO_ICMPV6_TYPE, &[ty])
                    .put(CTA_PROTO_ICMPV6_CODE, &[code]);
            } else {
                p.put(CTA_PROTO_ICMP_ID, &id.to_be_bytes())
                    .put(CTA_PROTO_ICMP_TYPE, &[ty])
                    .put(CTA_PROTO_ICMP_CODE, &[code]);
            }
        }
    });
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// (type, flags, payload) of a request deleting exactly `e`: its original tuple, zone and id
/// (the kernel refuses with ENOENT if the id no longer matches, so a reused tuple is safe).
pub fn delete_request(e: &CtEntry) -> (u16, u16, Vec<u8>) {
    let mut b = AttrBuf::new();
    b.nest(CTA_TUPLE_ORIG, |t| put_tuple(t, &e.orig));
    if e.zone != 0 {
        b.put(CTA_ZONE, &e.zone.to_be_bytes());
    }
    if let Some(id) = e.id {
        b.put(CTA_ID, &id.to_be_bytes());
    }
    let mut payload = nfgenmsg(e.family).to_vec();
    payload.extend_from_slice(&b.bytes);
    (
        msg_type(IPCTNL_MSG_CT_DELETE),
        NLM_F_REQUEST | NLM_F_ACK,
        payload,
    )
}

/// True when a message of this type carries a conntrack entry (dump answers are CT_NEW).
pub fn is_entry(msg_type: u16) -> bool {
    msg_type == self::msg_type(IPCTNL_MSG_CT_NEW)
}

fn be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))
}
fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}
fn be64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

fn bad(why: impl Into<String>) -> NodeError {
    NodeError::Malformed {
        what: "conntrack entry",
        why: why.into(),
    }
}

fn parse_tuple(buf: &[u8]) -> Result<Tuple> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut sport, mut dport) = (None, None);
    let (mut ity, mut icode, mut iid) = (None, None, None);
    for (ty, v) in attrs(buf) {
        match ty {
            CTA_TUPLE_IP => {
                for (t, a) in attrs(v) {
                    let ip = match t {
                        CTA_IP_V4_SRC | CTA_IP_V4_DST => {
                            let o: [u8; 4] = a
                                .get(..4)
                                .and_then(|s| s.try_into().ok())
                                .ok_or_else(|| bad("short IPv4 address"))?;
                            IpAddr::V4(Ipv4Addr::from(o))
                        }
                        CTA_IP_V6_SRC | CTA_IP_V6_DST => {
                            let o: [u8; 16] = a
                                .get(..16)
                                .and_then(|s| s.try_into().ok())
                                .ok_or_else(|| bad("short IPv6 address"))?;
                            IpAddr::V6(Ipv6Addr::from(o))
                        }
                        _ => continue,
                    };
                    if t == CTA_IP_V4_SRC || t == CTA_IP_V6_SRC {
                        src = Some(ip);
                    } else {
                        dst = Some(ip);
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (t, a) in attrs(v) {
                    match t {
                        CTA_PROTO_NUM => proto = a.first().copied(),
                        CTA_PROTO_SRC_PORT => sport = be16(a),
                        CTA_PROTO_DST_PORT => dport = be16(a),
                        CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => iid = be16(a),
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => ity = a.first().copied(),
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => icode = a.first().copied(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let icmp = match (ity, icode, iid) {
        (Some(t), Some(c), Some(i)) => Some((t, c, i)),
        _ => None,
    };
    Ok(Tuple {
        src: src.ok_or_else(|| bad("tuple without source address"))?,
        dst: dst.ok_or_else(|| bad("tuple without destination address"))?,
        proto: proto.ok_or_else(|| bad("tuple without protocol"))?,
        sport,
        dport,
        icmp,
    })
}

fn parse_counters(buf: &[u8]) -> Option<Counters> {
    let (mut packets, mut bytes) = (None, None);
    for (t, v) in attrs(buf) {
        match t {
            CTA_COUNTERS_PACKETS => packets = be64(v),
            CTA_COUNTERS_BYTES => bytes = be64(v),
            _ => {}
        }
    }
    Some(Counters {
        packets: packets?,
        bytes: bytes?,
    })
}

/// Decode the payload of one CT_NEW message (nfgenmsg + attributes).
pub fn parse_entry(payload: &[u8]) -> Result<CtEntry> {
    let family = *payload.first().ok_or_else(|| bad("empty message"))?;
    let body = payload.get(4..).ok_or_else(|| bad("no nfgenmsg header"))?;
    let (mut orig, mut reply) = (None, None);
    let mut e = CtEntry {
        family,
        orig: Tuple {
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            proto: 0,
            sport: None,
            dport: None,
            icmp: None,
        },
        reply: Tuple {
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            proto: 0,
            sport: None,
            dport: None,
            icmp: None,
        },
        status: 0,
        tcp_state: None,
        timeout: None,
        mark: None,
        zone: 0,
        id: None,
        use_count: None,
        counters_orig: None,
        counters_reply: None,
    };
    for (ty, v) in attrs(body) {
        match ty {
            CTA_TUPLE_ORIG => orig = Some(parse_tuple(v)?),
            CTA_TUPLE_REPLY => reply = Some(parse_tuple(v)?),
            CTA_STATUS => e.status = be32(v).ok_or_else(|| bad("short status"))?,
            CTA_PROTOINFO => {
                for (t, p) in attrs(v) {
                    if t == CTA_PROTOINFO_TCP {
                        for (t2, s) in attrs(p) {
                            if t2 == CTA_PROTOINFO_TCP_STATE {
                                e.tcp_state = s.first().copied();
                            }
                        }
                    }
                }
            }
            CTA_TIMEOUT => e.timeout = be32(v),
            CTA_MARK => e.mark = be32(v),
            CTA_COUNTERS_ORIG => e.counters_orig = parse_counters(v),
            CTA_COUNTERS_REPLY => e.counters_reply = parse_counters(v),
            CTA_USE => e.use_count = be32(v),
            CTA_ID => e.id = be32(v),
            CTA_ZONE => e.zone = be16(v).unwrap_or(0),
            _ => {}
        }
    }
    e.orig = orig.ok_or_else(|| bad("no original tuple"))?;
    e.reply = reply.ok_or_else(|| bad("no reply tuple"))?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host-order u16 as the two bytes netlink headers use (tests run on little endian).
    fn h(v: u16) -> [u8; 2] {
        v.to_ne_bytes()
    }

    /// The kernel's dump answer for
    /// `udp 17 117 src=198.51.100.10 dst=198.51.100.240 sport=40001 dport=9000
    ///  packets=3 bytes=99 src=10.244.2.2 dst=198.51.100.11 sport=9000 dport=40001 packets=1
    ///  bytes=40 [ASSURED] mark=0 zone=0 use=1 id=0x01020304`,
    /// attribute by attribute as ctnetlink_fill_info() writes it.
    fn fixture() -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0]; // nfgenmsg: AF_INET, version 0, res_id 0
        let tuple = |v: &mut Vec<u8>, ty: u16, src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16| {
            v.extend_from_slice(&h(52));
            v.extend_from_slice(&h(ty | 0x8000));
            // CTA_TUPLE_IP (nested, 20 bytes)
            v.extend_from_slice(&h(20));
            v.extend_from_slice(&h(0x8001));
            v.extend_from_slice(&h(8));
            v.extend_from_slice(&h(1));
            v.extend_from_slice(&src);
            v.extend_from_slice(&h(8));
            v.extend_from_slice(&h(2));
            v.extend_from_slice(&dst);
            // CTA_TUPLE_PROTO (nested, 28 bytes)
            v.extend_from_slice(&h(28));
            v.extend_from_slice(&h(0x8002));
            v.extend_from_slice(&h(5));
            v.extend_from_slice(&h(1));
            v.extend_from_slice(&[17, 0, 0, 0]);
            v.extend_from_slice(&h(6));
            v.extend_from_slice(&h(2));
            v.extend_from_slice(&sp.to_be_bytes());
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&h(6));
            v.extend_from_slice(&h(3));
            v.extend_from_slice(&dp.to_be_bytes());
            v.extend_from_slice(&[0, 0]);
        };
        tuple(
            &mut v,
            1,
            [198, 51, 100, 10],
            [198, 51, 100, 240],
            40001,
            9000,
        );
        tuple(&mut v, 2, [10, 244, 2, 2], [198, 51, 100, 11], 9000, 40001);
        let counters = |v: &mut Vec<u8>, ty: u16, p: u64, b: u64| {
            v.extend_from_slice(&h(28));
            v.extend_from_slice(&h(ty | 0x8000));
            v.extend_from_slice(&h(12));
            v.extend_from_slice(&h(1));
            v.extend_from_slice(&p.to_be_bytes());
            v.extend_from_slice(&h(12));
            v.extend_from_slice(&h(2));
            v.extend_from_slice(&b.to_be_bytes());
        };
        counters(&mut v, 9, 3, 99);
        counters(&mut v, 10, 1, 40);
        for (ty, val) in [
            (3u16, 0x1be_u32),
            (7, 117),
            (8, 0),
            (11, 1),
            (12, 0x0102_0304),
        ] {
            v.extend_from_slice(&h(8));
            v.extend_from_slice(&h(ty));
            v.extend_from_slice(&val.to_be_bytes());
        }
        v
    }

    #[test]
    fn decodes_a_dnat_masquerade_udp_entry() {
        let e = parse_entry(&fixture()).unwrap();
        assert_eq!(e.family, 2);
        assert_eq!(e.orig.src, "198.51.100.10".parse::<IpAddr>().unwrap());
        assert_eq!(e.orig.dst, "198.51.100.240".parse::<IpAddr>().unwrap());
        assert_eq!((e.orig.sport, e.orig.dport), (Some(40001), Some(9000)));
        assert_eq!(e.orig.proto, 17);
        assert_eq!(e.reply.src, "10.244.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(e.timeout, Some(117));
        assert_eq!(e.mark, Some(0));
        assert_eq!(e.use_count, Some(1));
        assert_eq!(e.id, Some(0x0102_0304));
        assert_eq!(e.zone, 0);
        assert_eq!(
            e.counters_orig,
            Some(Counters {
                packets: 3,
                bytes: 99
            })
        );
        assert_eq!(
            e.counters_reply,
            Some(Counters {
                packets: 1,
                bytes: 40
            })
        );
        // 0x1be = SEEN_REPLY|ASSURED|CONFIRMED|SRC_NAT|DST_NAT|SRC_NAT_DONE|DST_NAT_DONE
        assert_eq!(
            e.flags(),
            vec!["ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT"]
        );
        assert_eq!(e.state(), None);
        assert_eq!(
            e.dnat_to(),
            Some(("10.244.2.2".parse().unwrap(), Some(9000)))
        );
        assert_eq!(
            e.snat_to(),
            Some(("198.51.100.11".parse().unwrap(), Some(40001)))
        );
    }

    #[test]
    fn unreplied_tcp_entry_with_state_and_no_nat() {
        let mut b = AttrBuf::new();
        let t = Tuple {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            proto: 6,
            sport: Some(1),
            dport: Some(2),
            icmp: None,
        };
        let r = Tuple {
            src: t.dst,
            dst: t.src,
            proto: 6,
            sport: Some(2),
            dport: Some(1),
            icmp: None,
        };
        b.nest(CTA_TUPLE_ORIG, |x| put_tuple(x, &t));
        b.nest(CTA_TUPLE_REPLY, |x| put_tuple(x, &r));
        b.put(CTA_STATUS, &8u32.to_be_bytes());
        b.nest(CTA_PROTOINFO, |p| {
            p.nest(CTA_PROTOINFO_TCP, |tcp| {
                tcp.put(CTA_PROTOINFO_TCP_STATE, &[1]);
            });
        });
        b.put(CTA_ZONE, &7u16.to_be_bytes());
        let mut payload = vec![10, 0, 0, 0];
        payload.extend_from_slice(&b.bytes);
        let e = parse_entry(&payload).unwrap();
        assert_eq!(e.orig, t);
        assert_eq!(e.state(), Some("SYN_SENT"));
        assert_eq!(e.flags(), vec!["UNREPLIED", "CONFIRMED"]);
        assert_eq!(e.zone, 7);
        assert_eq!(e.dnat_to(), None);
        assert_eq!(e.snat_to(), None);
        assert_eq!(e.counters_orig, None);
    }

    #[test]
    fn delete_request_is_byte_exact() {
        let e = parse_entry(&fixture()).unwrap();
        let (ty, flags, payload) = delete_request(&e);
        assert_eq!(ty, 0x0102);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK);
        // nfgenmsg + CTA_TUPLE_ORIG exactly as in the kernel's own message + CTA_ID.
        let f = fixture();
        let mut want = f[..4 + 52].to_vec();
        want.extend_from_slice(&h(8));
        want.extend_from_slice(&h(12));
        want.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        assert_eq!(payload, want);
    }

    #[test]
    fn dump_request_and_errors() {
        assert_eq!(dump_request(0), (0x0101, 0x301, vec![0, 0, 0, 0]));
        assert!(is_entry(0x0100));
        assert!(parse_entry(&[2, 0, 0, 0]).is_err());
        assert!(parse_entry(&[]).is_err());
    }
}
