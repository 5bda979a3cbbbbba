//! ICMPv6 (RFC 4443, 4861, 3810): the checked view and tcpdump's `icmp6_print` — echo,
//! unreachable, packet too big, time exceeded, neighbor/router discovery and MLD.

use crate::field::{Res, Truncated, be16, be32, has, tail, u8_at};
use crate::print::{Cx, IpHdr};

/// Fixed header length.
pub const HEADER_LEN: usize = 8;

/// Destination unreachable.
pub const DST_UNREACH: u8 = 1;
/// Packet too big.
pub const PACKET_TOO_BIG: u8 = 2;
/// Time exceeded.
pub const TIME_EXCEEDED: u8 = 3;
/// Parameter problem.
pub const PARAM_PROB: u8 = 4;
/// Echo request.
pub const ECHO_REQUEST: u8 = 128;
/// Echo reply.
pub const ECHO_REPLY: u8 = 129;
/// Neighbor solicitation.
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbor advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;

/// A checked view of the 8-byte ICMPv6 header.
#[derive(Clone, Copy, Debug)]
pub struct Icmpv6Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Icmpv6Packet<'a> {
    /// Validates that the 8-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(Icmpv6Packet { buf })
        }
    }

    /// Type.
    pub fn icmp_type(&self) -> u8 {
        u8_at(self.buf, 0).unwrap_or_default()
    }

    /// Code.
    pub fn code(&self) -> u8 {
        u8_at(self.buf, 1).unwrap_or_default()
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// Bytes 4..8 (echo id/seq, MTU, pointer).
    pub fn word(&self) -> u32 {
        be32(self.buf, 4).unwrap_or_default()
    }

    /// Neighbor discovery target address (NS/NA), when present.
    pub fn target(&self) -> Option<[u8; 16]> {
        crate::field::arr(self.buf, 8).ok()
    }

    /// Everything after the 8-byte header.
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "destination unreachable",
        2 => "packet too big",
        3 => "time exceeded in-transit",
        4 => "parameter problem",
        128 => "echo request",
        129 => "echo reply",
        130 => "multicast listener query",
        131 => "multicast listener report",
        132 => "multicast listener done",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        137 => "redirect",
        138 => "router renumbering",
        141 => "inverse neighbor solicitation",
        142 => "inverse neighbor advertisement",
        143 => "multicast listener report v2",
        144 => "ha discovery request",
        145 => "ha discovery reply",
        146 => "mobile router solicitation",
        147 => "mobile router advertisement",
        139 => "node information query",
        140 => "node information reply",
        200 => "mtrace message",
        201 => "mtrace response",
        155 => "RPL",
        _ => return None,
    })
}

/// `get_upperlayer`: the quoted transport header's protocol and ports offset.
fn upper_layer(oip: &[u8]) -> Option<(u8, usize)> {
    let mut nh = u8_at(oip, 6).ok()?;
    let mut off = 0usize;
    let mut hlen = 40usize;
    while off < oip.len() {
        off += hlen;
        match nh {
            6 | 17 => {
                return if has(oip, off + 2, 2) {
                    Some((nh, off))
                } else {
                    None
                };
            }
            0 | 60 | 43 => {
                if !has(oip, off + 1, 1) {
                    return None;
                }
                nh = u8_at(oip, off).ok()?;
                hlen = (usize::from(u8_at(oip, off + 1).ok()?) + 1) << 3;
            }
            44 => {
                let offlg = be16(oip, off + 2).ok()?;
                if offlg & 0xfff8 != 0 {
                    return None;
                }
                nh = u8_at(oip, off).ok()?;
                hlen = 8;
            }
            51 => {
                if !has(oip, off + 1, 1) {
                    return None;
                }
                nh = u8_at(oip, off).ok()?;
                hlen = (usize::from(u8_at(oip, off + 1).ok()?) + 2) << 2;
            }
            _ => return None,
        }
    }
    None
}

fn lifetime(cx: &mut Cx<'_>, v: u32) {
    if v == u32::MAX {
        cx.s("infinity");
    } else {
        cx.u(v);
        cx.s("s");
    }
}

fn rtpref(v: u8) -> &'static str {
    ["medium", "high", "rsv", "low"][usize::from((v >> 3) & 3)]
}

/// `icmp6_opt_print`: Ok(false) = truncated.
fn opt_print(cx: &mut Cx<'_>, bp: &[u8], mut resid: i64) -> Res<bool> {
    let mut cp = bp;
    while !cp.is_empty() {
        if !has(cp, 1, 1) {
            return Ok(false);
        }
        if resid <= 0 {
            return Ok(true);
        }
        let ty = u8_at(cp, 0)?;
        let olen = usize::from(u8_at(cp, 1)?);
        if olen == 0 || cp.len() < olen << 3 {
            return Ok(false);
        }
        cx.s("\n\t  ");
        cx.s(match ty {
            1 => "source link-address",
            2 => "destination link-address",
            3 => "prefix info",
            4 => "redirected header",
            5 => "mtu",
            25 => "rdnss",
            31 => "dnssl",
            7 => "advertisement interval",
            8 => "homeagent information",
            24 => "route info",
            _ => "unknown",
        });
        cx.s(" option (");
        cx.u(ty);
        cx.s("), length ");
        cx.u(olen << 3);
        cx.s(" (");
        cx.u(olen);
        cx.s("): ");
        let body_len = (olen << 3) - 2;
        match ty {
            1 | 2 => {
                for (i, b) in tail(cp, 2).iter().take(body_len).enumerate() {
                    if i > 0 {
                        cx.ch(b':');
                    }
                    cx.x02(*b);
                }
            }
            3 => {
                cx.ipv6_at(cp, 16)?;
                cx.ch(b'/');
                cx.u(u8_at(cp, 2)?);
                if olen != 4 {
                    cx.s("badlen");
                }
                cx.s(", Flags [");
                let f = u8_at(cp, 3)?;
                let mut any = false;
                for (bit, n) in [(0x80u8, "onlink"), (0x40, "auto"), (0x20, "router")] {
                    if f & bit != 0 {
                        if any {
                            cx.s(", ");
                        }
                        cx.s(n);
                        any = true;
                    }
                }
                if !any {
                    cx.s("none");
                }
                cx.s("], valid time ");
                lifetime(cx, be32(cp, 4)?);
                cx.s(", pref. time ");
                lifetime(cx, be32(cp, 8)?);
            }
            4 => cx.unknown_data("\n\t    ", bp, olen << 3),
            5 => {
                cx.ch(b' ');
                cx.u(be32(cp, 4)?);
                if olen != 1 {
                    cx.s("bad option length");
                }
            }
            25 => {
                cx.s(" lifetime ");
                cx.u(be32(cp, 4)?);
                cx.s("s,");
                for i in 0..(olen - 1) / 2 {
                    cx.s(" addr: ");
                    cx.ipv6_at(cp, 8 + 16 * i)?;
                }
            }
            7 => {
                cx.ch(b' ');
                cx.u(be32(cp, 4)?);
                cx.s("ms");
            }
            8 => {
                cx.s(" preference ");
                cx.u(be16(cp, 4)?);
                cx.s(", lifetime ");
                cx.u(be16(cp, 6)?);
            }
            _ => {
                // dnssl and route info have dedicated printers in tcpdump; dumped here.
                if cx.opts.verbose <= 1 {
                    cx.unknown_data("\n\t  ", tail(cp, 2), body_len);
                    return Ok(true);
                }
            }
        }
        if cx.opts.verbose > 1 {
            cx.unknown_data("\n\t    ", tail(cp, 2), body_len);
        }
        cp = tail(cp, olen << 3);
        resid -= (olen << 3) as i64;
    }
    Ok(true)
}

fn mld6(cx: &mut Cx<'_>, bp: &[u8]) -> Res {
    if bp.len() < 24 {
        return Ok(());
    }
    cx.s("max resp delay: ");
    cx.u(be16(bp, 4)?);
    cx.s(" addr: ");
    cx.ipv6_at(bp, 8)
}

fn mldv2_report(cx: &mut Cx<'_>, bp: &[u8], len: u32) -> Res {
    if len < 8 {
        cx.s(" [invalid len ");
        cx.u(len);
        cx.s("]");
        return Ok(());
    }
    let ngroups = u32::from(be16(bp, 6)?);
    cx.s(", ");
    cx.u(ngroups);
    cx.s(" group record(s)");
    if cx.opts.verbose > 0 {
        let mut group = 8u32;
        for _ in 0..ngroups {
            if len < group + 20 {
                cx.s(" [invalid number of groups]");
                return Ok(());
            }
            cx.atomic(|cx| {
                cx.s(" [gaddr ");
                cx.ipv6_at(bp, group as usize + 4)
            })?;
            let rt = u8_at(bp, group as usize)?;
            cx.s(" ");
            match rt {
                1 => cx.s("is_in"),
                2 => cx.s("is_ex"),
                3 => cx.s("to_in"),
                4 => cx.s("to_ex"),
                5 => cx.s("allow"),
                6 => cx.s("block"),
                _ => {
                    cx.s(" [v2-report-#");
                    cx.u(rt);
                    cx.s("]");
                }
            }
            let nsrcs = u32::from(be16(bp, group as usize + 2)?);
            if len < group + 20 + nsrcs * 16 {
                cx.s(" [invalid number of sources ");
                cx.u(nsrcs);
                cx.s("]");
                return Ok(());
            }
            if cx.opts.verbose == 1 {
                cx.s(", ");
                cx.u(nsrcs);
                cx.s(" source(s)");
            } else {
                cx.s(" {");
                for j in 0..nsrcs {
                    cx.atomic(|cx| {
                        cx.ch(b' ');
                        cx.ipv6_at(bp, (group + 20 + j * 16) as usize)
                    })?;
                }
                cx.s(" }");
            }
            group += 20 + nsrcs * 16;
            cx.s("]");
        }
    }
    Ok(())
}

fn mldv2_query(cx: &mut Cx<'_>, bp: &[u8], len: u32) -> Res {
    if len < 28 {
        cx.s(" [invalid len ");
        cx.u(len);
        cx.s("]");
        return Ok(());
    }
    let mrc = u32::from(be16(bp, 4)?);
    let mrt = if mrc < 32768 {
        mrc
    } else {
        ((mrc & 0x0fff) | 0x1000) << (((mrc & 0x7000) >> 12) + 3)
    };
    if cx.opts.verbose > 0 {
        cx.s(" [max resp delay=");
        cx.u(mrt);
        cx.s("]");
    }
    cx.atomic(|cx| {
        cx.s(" [gaddr ");
        cx.ipv6_at(bp, 8)
    })?;
    if cx.opts.verbose > 0 {
        let b24 = u8_at(bp, 24)?;
        if b24 & 0x08 != 0 {
            cx.s(" sflag");
        }
        if b24 & 0x07 != 0 {
            cx.s(" robustness=");
            cx.u(b24 & 7);
        }
        let b25 = u32::from(u8_at(bp, 25)?);
        let qqi = if b25 < 128 {
            b25
        } else {
            ((b25 & 0x0f) | 0x10) << (((b25 & 0x70) >> 4) + 3)
        };
        cx.s(" qqi=");
        cx.u(qqi);
    }
    let nsrcs = u32::from(be16(bp, 26)?);
    if nsrcs > 0 {
        if len < 28 + nsrcs * 16 {
            cx.s(" [invalid number of sources]");
        } else if cx.opts.verbose > 1 {
            cx.s(" {");
            for i in 0..nsrcs {
                cx.atomic(|cx| {
                    cx.ch(b' ');
                    cx.ipv6_at(bp, (28 + i * 16) as usize)
                })?;
            }
            cx.s(" }");
        } else {
            cx.s(", ");
            cx.u(nsrcs);
            cx.s(" source(s)");
        }
    }
    cx.s("]");
    Ok(())
}

/// `icmp6_print`
pub(crate) fn print(
    cx: &mut Cx<'_>,
    bp: &[u8],
    length: u32,
    iph: IpHdr<'_>,
    fragmented: bool,
) -> Res {
    cx.proto = "icmp6";
    if length == 0 {
        cx.s("ICMP6, length 0");
        cx.invalid();
        return Ok(());
    }
    let v = cx.opts.verbose;
    if v > 0 && !fragmented && has(bp, 0, length as usize) {
        let field = be16(bp, 2)?;
        let sum = iph.upper_cksum(crate::ipv4::PROTO_ICMPV6, bp, length)?;
        if sum != 0 {
            cx.s("[bad icmp6 cksum 0x");
            cx.x04(field);
            cx.s(" -> 0x");
            cx.x04(crate::checksum::shouldbe(field, sum));
            cx.s("!] ");
        } else {
            cx.s("[icmp6 sum ok] ");
        }
    }
    let ty = u8_at(bp, 0)?;
    cx.s("ICMP6, ");
    match type_name(ty) {
        Some(n) => cx.s(n),
        None => {
            cx.s("unknown icmp6 type (");
            cx.u(ty);
            cx.s(")");
        }
    }
    if v > 0 && matches!(ty, 133 | 134 | 136 | 135 | 137 | 145 | 147) {
        cx.s(", length ");
        cx.u(length);
    }
    let code = u8_at(bp, 1)?;
    let oip = tail(bp, 8);
    let r: Res<bool> = (|| {
        match ty {
            DST_UNREACH => {
                cx.s(", ");
                match code {
                    0 => cx.s("unreachable route"),
                    1 => cx.s(" unreachable prohibited"),
                    2 => cx.s("beyond scope"),
                    3 => cx.s("unreachable address"),
                    4 => cx.s("unreachable port"),
                    _ => {
                        cx.s("unknown unreach code (");
                        cx.u(code);
                        cx.s(")");
                    }
                }
                match code {
                    0 | 1 | 3 => {
                        cx.atomic(|cx| {
                            cx.ch(b' ');
                            cx.ipv6_at(oip, 24)
                        })?;
                    }
                    2 => {
                        cx.atomic(|cx| {
                            cx.ch(b' ');
                            cx.ipv6_at(oip, 24)?;
                            cx.s(", source address ");
                            cx.ipv6_at(oip, 8)
                        })?;
                    }
                    4 => {
                        let Some((prot, off)) = upper_layer(oip) else {
                            return Ok(false);
                        };
                        let dport = be16(oip, off + 2)?;
                        cx.atomic(|cx| {
                            cx.s(", ");
                            cx.ipv6_at(oip, 24)
                        })?;
                        match prot {
                            6 | 17 => {
                                cx.s(if prot == 6 {
                                    " tcp port "
                                } else {
                                    " udp port "
                                });
                                cx.port(prot == 6, dport);
                            }
                            _ => {
                                cx.s(" protocol ");
                                cx.u(prot);
                                cx.s(" port ");
                                cx.u(dport);
                                cx.s(" unreachable");
                            }
                        }
                    }
                    _ => {
                        if v <= 1 {
                            cx.unknown_data("\n\t", bp, length as usize);
                            return Ok(true);
                        }
                    }
                }
            }
            PACKET_TOO_BIG => {
                let mtu = be32(bp, 4)?;
                cx.s(", mtu ");
                cx.u(mtu);
            }
            TIME_EXCEEDED => match code {
                0 => {
                    cx.atomic(|cx| {
                        cx.s(" for ");
                        cx.ipv6_at(oip, 24)
                    })?;
                }
                1 => cx.s(" (reassembly)"),
                _ => {
                    cx.s(", unknown code (");
                    cx.u(code);
                    cx.s(")");
                }
            },
            PARAM_PROB => {
                if !has(oip, 24, 16) {
                    return Ok(false);
                }
                let what = match code {
                    0 => Some(", erroneous - octet "),
                    1 => Some(", next header - octet "),
                    2 => Some(", option - octet "),
                    3 => Some(", incomplete header chain - octet "),
                    _ => None,
                };
                match what {
                    Some(w) => {
                        let ptr = be32(bp, 4)?;
                        cx.s(w);
                        cx.u(ptr);
                    }
                    None => {
                        cx.s(", code-#");
                        cx.u(code);
                    }
                }
            }
            ECHO_REQUEST | ECHO_REPLY => {
                let (id, seq) = (be16(bp, 4)?, be16(bp, 6)?);
                cx.s(", id ");
                cx.u(id);
                cx.s(", seq ");
                cx.u(seq);
            }
            130 => {
                if length == 24 {
                    mld6(cx, bp)?;
                } else if length >= 28 {
                    cx.s(" v2");
                    mldv2_query(cx, bp, length)?;
                } else {
                    cx.s(" unknown-version (len ");
                    cx.u(length);
                    cx.s(") ");
                }
            }
            131 | 132 => mld6(cx, bp)?,
            133 => {
                if v > 0 && !opt_print(cx, tail(bp, 8), i64::from(length) - 8)? {
                    return Ok(false);
                }
            }
            134 => {
                if v > 0 {
                    let (hl, f) = (u8_at(bp, 4)?, u8_at(bp, 5)?);
                    let (lifetime, reachable, retrans) =
                        (be16(bp, 6)?, be32(bp, 8)?, be32(bp, 12)?);
                    cx.s("\n\thop limit ");
                    cx.u(hl);
                    cx.s(", Flags [");
                    let mut any = false;
                    for (bit, n) in [
                        (0x80u8, "managed"),
                        (0x40, "other stateful"),
                        (0x20, "home agent"),
                        (0x02, "ipv6 only"),
                    ] {
                        if f & bit != 0 {
                            if any {
                                cx.s(", ");
                            }
                            cx.s(n);
                            any = true;
                        }
                    }
                    if !any {
                        cx.s("none");
                    }
                    cx.s("], pref ");
                    cx.s(rtpref(f));
                    cx.s(", router lifetime ");
                    cx.u(lifetime);
                    cx.s("s, reachable time ");
                    cx.u(reachable);
                    cx.s("ms, retrans timer ");
                    cx.u(retrans);
                    cx.s("ms");
                    if !opt_print(cx, tail(bp, 16), i64::from(length) - 16)? {
                        return Ok(false);
                    }
                }
            }
            NEIGHBOR_SOLICIT => {
                cx.atomic(|cx| {
                    cx.s(", who has ");
                    cx.ipv6_at(bp, 8)
                })?;
                if v > 0 && !opt_print(cx, tail(bp, 24), i64::from(length) - 24)? {
                    return Ok(false);
                }
            }
            NEIGHBOR_ADVERT => {
                cx.atomic(|cx| {
                    cx.s(", tgt is ");
                    cx.ipv6_at(bp, 8)
                })?;
                if v > 0 {
                    let f = be32(bp, 4)?;
                    cx.s(", Flags [");
                    let mut any = false;
                    for (bit, n) in [
                        (0x8000_0000u32, "router"),
                        (0x4000_0000, "solicited"),
                        (0x2000_0000, "override"),
                    ] {
                        if f & bit != 0 {
                            if any {
                                cx.s(", ");
                            }
                            cx.s(n);
                            any = true;
                        }
                    }
                    if !any {
                        cx.s("none");
                    }
                    cx.s("]");
                    if !opt_print(cx, tail(bp, 24), i64::from(length) - 24)? {
                        return Ok(false);
                    }
                }
            }
            137 => {
                cx.atomic(|cx| {
                    cx.s(", ");
                    cx.ipv6_at(bp, 8)
                })?;
                cx.atomic(|cx| {
                    cx.s(" to ");
                    cx.ipv6_at(bp, 24)
                })?;
                if v > 0 && !opt_print(cx, tail(bp, 40), i64::from(length) - 40)? {
                    return Ok(false);
                }
            }
            141 | 142 => {}
            143 => mldv2_report(cx, bp, length)?,
            144 | 146 => {
                cx.s(", id 0x");
                cx.x04(be16(bp, 4)?);
            }
            _ => {
                // router renumbering, node information, RPL and mobility messages are
                // not reproduced; printed like an unknown type.
                cx.s(", length ");
                cx.u(length);
                if v <= 1 {
                    cx.unknown_data("\n\t", bp, length as usize);
                }
                return Ok(true);
            }
        }
        if v == 0 {
            cx.s(", length ");
            cx.u(length);
        }
        Ok(true)
    })();
    match r {
        Ok(true) => Ok(()),
        Ok(false) => {
            cx.trunc();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view() {
        let mut b = vec![135, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let i = Icmpv6Packet::new_checked(&b);
        assert!(i.is_ok());
        if let Ok(i) = i {
            assert_eq!(i.icmp_type(), NEIGHBOR_SOLICIT);
            assert_eq!(i.target().map(|t| t[15]), Some(1));
        }
    }

    #[test]
    fn quoted_upper_layer() {
        let mut oip = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        oip.extend_from_slice(&[0; 32]);
        oip.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        assert_eq!(upper_layer(&oip), Some((17, 40)));
    }
}
