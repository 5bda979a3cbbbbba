//! IPv4 (RFC 791): the checked view, option parsing, and tcpdump's `ip_print`
//! (`IP a > b: ...`, the `-v` header line, fragments, options and checksum).

use crate::field::{Res, Truncated, arr, be16, cut, has, tail, u8_at};
use crate::print::{Cx, IpHdr, ip_demux, ipproto_str, proto_name};

pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_IPIP: u8 = 4;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;
pub(crate) const PROTO_IPV6: u8 = 41;
pub(crate) const PROTO_ICMPV6: u8 = 58;

/// Minimum header length.
pub const MIN_HEADER_LEN: usize = 20;

/// The IP protocol numbers this crate decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpProtocol {
    /// 1
    Icmp,
    /// 4 (IP-in-IP)
    Ipip,
    /// 6
    Tcp,
    /// 17
    Udp,
    /// 41 (IPv6 in IP)
    Ipv6,
    /// 58
    Icmpv6,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            PROTO_ICMP => IpProtocol::Icmp,
            PROTO_IPIP => IpProtocol::Ipip,
            PROTO_TCP => IpProtocol::Tcp,
            PROTO_UDP => IpProtocol::Udp,
            PROTO_IPV6 => IpProtocol::Ipv6,
            PROTO_ICMPV6 => IpProtocol::Icmpv6,
            n => IpProtocol::Unknown(n),
        }
    }
}

/// A checked view of an IPv4 header: version 4, IHL >= 5, and the whole header present.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Validates version, header length and that the header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        let vhl = u8_at(buf, 0)?;
        let hl = usize::from(vhl & 0x0f) * 4;
        if vhl >> 4 != 4 || hl < MIN_HEADER_LEN || buf.len() < hl {
            return Err(Truncated);
        }
        Ok(Ipv4Packet { buf })
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.first().copied().unwrap_or_default() & 0x0f) * 4
    }

    /// Type of service byte (DSCP + ECN).
    pub fn tos(&self) -> u8 {
        u8_at(self.buf, 1).unwrap_or_default()
    }

    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// Identification.
    pub fn id(&self) -> u16 {
        be16(self.buf, 4).unwrap_or_default()
    }

    /// Flags and fragment offset word.
    pub fn frag_word(&self) -> u16 {
        be16(self.buf, 6).unwrap_or_default()
    }

    /// Don't-fragment bit.
    pub fn dont_frag(&self) -> bool {
        self.frag_word() & 0x4000 != 0
    }

    /// More-fragments bit.
    pub fn more_frags(&self) -> bool {
        self.frag_word() & 0x2000 != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u32 {
        u32::from(self.frag_word() & 0x1fff) * 8
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        u8_at(self.buf, 8).unwrap_or_default()
    }

    /// Protocol number.
    pub fn protocol(&self) -> u8 {
        u8_at(self.buf, 9).unwrap_or_default()
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 10).unwrap_or_default()
    }

    /// Source address.
    pub fn src(&self) -> [u8; 4] {
        arr(self.buf, 12).unwrap_or_default()
    }

    /// Destination address.
    pub fn dst(&self) -> [u8; 4] {
        arr(self.buf, 16).unwrap_or_default()
    }

    /// Option bytes.
    pub fn options(&self) -> &'a [u8] {
        self.buf
            .get(MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The payload, cut to the total length when that is shorter than what was captured.
    pub fn payload(&self) -> &'a [u8] {
        let end = usize::from(self.total_len()).max(self.header_len());
        tail(cut(self.buf, end), self.header_len())
    }
}

/// tcpdump's `ip_finddst`: the last hop of a source route, else the destination.
pub(crate) fn final_dst(ip: &[u8]) -> Res<[u8; 4]> {
    let dst = arr::<4>(ip, 16)?;
    let hl = usize::from(u8_at(ip, 0)? & 0x0f) * 4;
    if hl <= MIN_HEADER_LEN {
        return Ok(dst);
    }
    let mut opts = ip.get(MIN_HEADER_LEN..hl).ok_or(Truncated)?;
    while let Some(&tt) = opts.first() {
        let len = match tt {
            0 => break,
            1 => 1,
            _ => {
                let l = usize::from(u8_at(opts, 1)?);
                if l < 2 {
                    break;
                }
                l
            }
        };
        if opts.len() < len {
            break;
        }
        if (tt == 137 || tt == 131) && len >= 7 {
            return arr::<4>(opts, len - 4);
        }
        opts = tail(opts, len);
    }
    Ok(dst)
}

fn option_name(cx: &mut Cx<'_>, code: u8) {
    let n = match code {
        0 => "EOL",
        1 => "NOP",
        68 => "timestamp",
        130 => "security",
        7 => "RR",
        137 => "SSRR",
        131 => "LSRR",
        148 => "RA",
        82 => "traceroute",
        _ => {
            cx.s("unknown ");
            cx.u(code);
            return;
        }
    };
    cx.s(n);
}

fn bad_length(cx: &mut Cx<'_>, n: u32) {
    cx.s(" [bad length ");
    cx.u(n);
    cx.s("]");
}

/// `ip_printroute`; Err(()) = truncated.
fn print_route(cx: &mut Cx<'_>, cp: &[u8], length: u32) -> Result<(), ()> {
    if length < 3 {
        bad_length(cx, length);
        return Ok(());
    }
    if (length + 1) & 3 != 0 {
        bad_length(cx, length);
    }
    let raw = u32::from(u8_at(cp, 2).map_err(|_| ())?);
    let ptr = raw.wrapping_sub(1);
    if ptr < 3 || ptr.wrapping_add(1) & 3 != 0 || ptr > length + 1 {
        cx.s(" [bad ptr ");
        cx.u(raw);
        cx.s("]");
    }
    let mut len = 3;
    while len < length {
        let a = arr::<4>(cp, len as usize).map_err(|_| ())?;
        cx.ch(b' ');
        cx.ipv4(a);
        if ptr > len {
            cx.ch(b',');
        }
        len += 4;
    }
    Ok(())
}

/// `ip_printts`; Err(()) = truncated.
fn print_ts(cx: &mut Cx<'_>, cp: &[u8], length: u32) -> Result<(), ()> {
    let g = |o: usize| u8_at(cp, o).map_err(|_| ());
    if length < 4 {
        cx.s("[bad length ");
        cx.u(length);
        cx.s("]");
        return Ok(());
    }
    cx.s(" TS{");
    let flags = g(3)?;
    let hoplen: u32 = if flags & 0xf != 0 { 8 } else { 4 };
    if (length - 4) & (hoplen - 1) != 0 {
        cx.s("[bad length ");
        cx.u(length);
        cx.s("]");
    }
    let raw = u32::from(g(2)?);
    let ptr = raw.wrapping_sub(1);
    let mut len = 0u32;
    if ptr < 4 || (ptr.wrapping_sub(4)) & (hoplen - 1) != 0 || ptr > length + 1 {
        cx.s("[bad ptr ");
        cx.u(raw);
        cx.s("]");
    }
    let kind = flags & 0xf;
    let known = match kind {
        0 => {
            cx.s("TSONLY");
            true
        }
        1 => {
            cx.s("TS+ADDR");
            true
        }
        3 => {
            cx.s("PRESPEC");
            true
        }
        _ => {
            cx.s("[bad ts type ");
            cx.u(kind);
            cx.s("]");
            false
        }
    };
    if known {
        let mut ty = " ";
        len = 4;
        while len < length {
            if ptr == len {
                ty = " ^ ";
            }
            if !has(cp, len as usize, hoplen as usize) {
                return Err(());
            }
            cx.s(ty);
            let ts = crate::field::be32(cp, (len + hoplen - 4) as usize).map_err(|_| ())?;
            cx.u(ts);
            cx.ch(b'@');
            if hoplen == 8 {
                let a = arr::<4>(cp, len as usize).map_err(|_| ())?;
                cx.ipv4(a);
            }
            ty = " ";
            len += hoplen;
        }
    }
    if ptr == len {
        cx.s(" ^ ");
    }
    let hops = g(3)? >> 4;
    if hops != 0 {
        cx.s(" [");
        cx.u(hops);
        cx.s(" hops not recorded]} ");
    } else {
        cx.s("}");
    }
    Ok(())
}

/// `ip_optprint`: Err(()) = truncated option, Ok otherwise. GET failures propagate as Truncated.
fn print_options(cx: &mut Cx<'_>, mut cp: &[u8], mut length: u32) -> Res<Result<(), ()>> {
    let mut sep = "";
    while length > 0 {
        cx.s(sep);
        sep = ",";
        let code = u8_at(cp, 0)?;
        option_name(cx, code);
        let option_len = if code == 0 || code == 1 {
            1
        } else {
            let l = u32::from(u8_at(cp, 1)?);
            if l < 2 {
                bad_length(cx, l);
                return Ok(Ok(()));
            }
            l
        };
        if option_len > length {
            bad_length(cx, option_len);
            return Ok(Ok(()));
        }
        if !has(cp, 0, option_len as usize) {
            return Ok(Err(()));
        }
        match code {
            0 => return Ok(Ok(())),
            68 if print_ts(cx, cp, option_len).is_err() => {
                return Ok(Err(()));
            }
            7 | 137 | 131 if print_route(cx, cp, option_len).is_err() => {
                return Ok(Err(()));
            }
            148 => {
                if option_len < 4 {
                    bad_length(cx, option_len);
                } else {
                    if !has(cp, 3, 1) {
                        return Ok(Err(()));
                    }
                    let v = be16(cp, 2)?;
                    if v != 0 {
                        cx.s(" value ");
                        cx.u(v);
                    }
                }
            }
            _ => {}
        }
        cp = tail(cp, option_len as usize);
        length -= option_len;
    }
    Ok(Ok(()))
}

fn addrs(cx: &mut Cx<'_>, ip: &[u8]) -> Res {
    cx.ipv4_at(ip, 12)?;
    cx.s(" > ");
    cx.ipv4_at(ip, 16)?;
    Ok(())
}

/// `ip_print`: `bp` is what was captured from the IP header on, `length` what the layer below claims.
pub(crate) fn print(cx: &mut Cx<'_>, bp: &[u8], length: u32) -> Res {
    cx.proto = "ip";
    let v = u8_at(bp, 0)? >> 4;
    if v != 4 {
        if v == 6 {
            cx.s("IP6, wrong link-layer encapsulation");
        } else {
            cx.s("IP");
            cx.u(v);
        }
        cx.invalid();
        return Ok(());
    }
    if !cx.opts.link_header {
        cx.s("IP ");
    }
    if bp.len() < MIN_HEADER_LEN {
        cx.trunc();
        return Ok(());
    }
    if length < MIN_HEADER_LEN as u32 {
        cx.s("truncated-ip ");
        cx.u(length);
        return Ok(());
    }
    let hlen = u32::from(u8_at(bp, 0)? & 0x0f) * 4;
    if hlen < MIN_HEADER_LEN as u32 {
        cx.s("bad-hlen ");
        cx.u(hlen);
        return Ok(());
    }
    let mut len = u32::from(be16(bp, 2)?);
    if length < len {
        cx.s("truncated-ip - ");
        cx.u(len - length);
        cx.s(" bytes missing! ");
    }
    if len < hlen {
        cx.s("bad-len ");
        cx.u(len);
        return Ok(());
    }
    let bp = cut(bp, len as usize);
    len -= hlen;
    let off = be16(bp, 6)?;
    let ip_proto = u8_at(bp, 9)?;
    if cx.opts.verbose > 0 {
        let tos = u8_at(bp, 1)?;
        cx.s("(tos 0x");
        cx.x(u32::from(tos));
        match tos & 3 {
            1 => cx.s(",ECT(1)"),
            2 => cx.s(",ECT(0)"),
            3 => cx.s(",CE"),
            _ => {}
        }
        let ttl = u8_at(bp, 8)?;
        if ttl >= 1 {
            cx.s(", ttl ");
            cx.u(ttl);
        }
        cx.s(", id ");
        cx.u(be16(bp, 4)?);
        cx.s(", offset ");
        cx.u(u32::from(off & 0x1fff) * 8);
        cx.s(", flags [");
        let mut first = true;
        for (bit, name) in [(0x2000u16, "+"), (0x4000, "DF"), (0x8000, "rsvd")] {
            if off & bit != 0 {
                if !first {
                    cx.s(", ");
                }
                cx.s(name);
                first = false;
            }
        }
        if first {
            cx.s("none");
        }
        cx.s("], proto ");
        cx.s(ipproto_str(ip_proto).unwrap_or("unknown"));
        cx.s(" (");
        cx.u(ip_proto);
        cx.s("), length ");
        cx.u(be16(bp, 2)?);
        let mut truncated = false;
        if hlen > MIN_HEADER_LEN as u32 {
            cx.s(", options (");
            if print_options(cx, tail(bp, MIN_HEADER_LEN), hlen - MIN_HEADER_LEN as u32)?.is_err() {
                cx.s(" [truncated-option]");
                truncated = true;
            }
            cx.s(")");
        }
        if let Some(h) = bp.get(..hlen as usize) {
            let sum = crate::checksum::finish(crate::checksum::add(0, h));
            if sum != 0 {
                let field = be16(bp, 10)?;
                cx.s(", bad cksum ");
                cx.x(u32::from(field));
                cx.s(" (->");
                cx.x(u32::from(crate::checksum::shouldbe(field, sum)));
                cx.s(")!");
            }
        }
        cx.s(")\n    ");
        if truncated {
            addrs(cx, bp)?;
            cx.s(": ");
            cx.trunc();
            return Ok(());
        }
    }
    if off & 0x1fff == 0 {
        let nh = u8_at(bp, 9)?;
        if !matches!(nh, PROTO_TCP | PROTO_UDP | 132 | 33) {
            addrs(cx, bp)?;
            cx.s(": ");
        }
        if !has(bp, 0, hlen as usize) {
            cx.s(" [remaining caplen(");
            cx.u(bp.len());
            cx.s(") < header length(");
            cx.u(hlen);
            cx.s(")]");
            return Err(Truncated);
        }
        if matches!(nh, 132 | 33) {
            // SCTP and DCCP printers are not reproduced; keep tcpdump's address prefix.
            addrs(cx, bp)?;
            cx.s(": ");
        }
        ip_demux(
            cx,
            tail(bp, hlen as usize),
            len,
            IpHdr::V4(bp),
            off & 0x2000 != 0,
            nh,
        )
    } else {
        addrs(cx, bp)?;
        cx.s(":");
        proto_name(cx, ip_proto);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> Vec<u8> {
        vec![
            0x45, 0, 0, 20, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]
    }

    #[test]
    fn view_fields() {
        let b = hdr();
        let ip = Ipv4Packet::new_checked(&b);
        assert!(ip.is_ok());
        if let Ok(ip) = ip {
            assert_eq!(ip.id(), 0x1234);
            assert!(ip.dont_frag());
            assert_eq!(ip.ttl(), 64);
            assert_eq!(ip.src(), [10, 0, 0, 1]);
            assert_eq!(IpProtocol::from(ip.protocol()), IpProtocol::Tcp);
            assert!(ip.payload().is_empty());
        }
        assert!(Ipv4Packet::new_checked(&b[..19]).is_err());
    }

    #[test]
    fn finddst_uses_source_route() {
        let mut b = hdr();
        b[0] = 0x47;
        b.extend_from_slice(&[131, 7, 4, 192, 0, 2, 9, 0]);
        assert_eq!(final_dst(&b), Ok([192, 0, 2, 9]));
        assert_eq!(final_dst(&hdr()), Ok([10, 0, 0, 2]));
    }
}
