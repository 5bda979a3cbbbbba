//! UDP (RFC 768): the checked view and tcpdump's `udp_print`, which hands DNS (53), mDNS
//! (5353), VXLAN (4789), OTV/flannel (8472) and Geneve (6081) payloads on to their printers.

use crate::field::{Res, Truncated, be16, be32, cut, has, tail};
use crate::print::{Cx, IpHdr};
use crate::{dns, geneve, vxlan};

/// Header length.
pub const HEADER_LEN: usize = 8;
/// IANA VXLAN port (tcpdump decodes it as VXLAN).
pub const PORT_VXLAN: u16 = 4789;
/// Linux/flannel VXLAN port (tcpdump decodes it as OTV, whose header has the same layout).
pub const PORT_VXLAN_LINUX: u16 = 8472;
/// Geneve port.
pub const PORT_GENEVE: u16 = 6081;
/// NFS port (tcpdump's RPC check on it comes first).
const PORT_NFS: u16 = 2049;

/// A checked view of a UDP header.
#[derive(Clone, Copy, Debug)]
pub struct UdpDatagram<'a> {
    buf: &'a [u8],
}

impl<'a> UdpDatagram<'a> {
    /// Validates that the 8-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(UdpDatagram { buf })
        }
    }

    /// Source port.
    pub fn sport(&self) -> u16 {
        be16(self.buf, 0).unwrap_or_default()
    }

    /// Destination port.
    pub fn dport(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// Length field (header included).
    pub fn len(&self) -> u16 {
        be16(self.buf, 4).unwrap_or_default()
    }

    /// True when the length field is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 6).unwrap_or_default()
    }

    /// Captured payload, cut to the length field when that is shorter.
    pub fn payload(&self) -> &'a [u8] {
        let p = tail(self.buf, HEADER_LEN);
        match usize::from(self.len()) {
            n if n >= HEADER_LEN => cut(p, n - HEADER_LEN),
            _ => p,
        }
    }
}

fn ipaddr(cx: &mut Cx<'_>, iph: IpHdr<'_>, ports: Option<(u16, u16)>) -> Res {
    if ports.is_none() && iph.next()? == crate::ipv4::PROTO_UDP {
        iph.src(cx)?;
        cx.s(" > ");
        iph.dst(cx)?;
        cx.s(": ");
        return Ok(());
    }
    iph.addrs(cx, false, ports, crate::ipv4::PROTO_UDP)
}

/// `udp_print`
pub(crate) fn print(
    cx: &mut Cx<'_>,
    bp: &[u8],
    length: u32,
    iph: IpHdr<'_>,
    fragmented: bool,
) -> Res {
    cx.proto = "udp";
    if !has(bp, 2, 2) {
        ipaddr(cx, iph, None)?;
        cx.trunc();
        return Ok(());
    }
    let sport = be16(bp, 0)?;
    let dport = be16(bp, 2)?;
    let ports = Some((sport, dport));
    if length < HEADER_LEN as u32 {
        ipaddr(cx, iph, ports)?;
        cx.s("truncated-udp ");
        cx.u(length);
        return Ok(());
    }
    if !has(bp, 4, 2) {
        ipaddr(cx, iph, ports)?;
        cx.trunc();
        return Ok(());
    }
    let mut ulen = u32::from(be16(bp, 4)?);
    if ulen == 0 && length > 65535 {
        ulen = length;
    }
    if ulen < HEADER_LEN as u32 {
        ipaddr(cx, iph, ports)?;
        cx.s("truncated-udplength ");
        cx.u(ulen);
        return Ok(());
    }
    ulen -= HEADER_LEN as u32;
    let mut length = length - HEADER_LEN as u32;
    if ulen < length {
        length = ulen;
    }
    if bp.len() < HEADER_LEN {
        ipaddr(cx, iph, ports)?;
        cx.trunc();
        return Ok(());
    }
    let cp = tail(bp, HEADER_LEN);
    ipaddr(cx, iph, ports)?;
    if cx.opts.verbose > 0 && !fragmented {
        if !iph.is_v6() && cx.opts.verbose > 1 {
            let field = be16(bp, 6)?;
            if field == 0 {
                cx.s("[no cksum] ");
            } else if has(cp, 0, length as usize) {
                let sum =
                    iph.upper_cksum(crate::ipv4::PROTO_UDP, bp, length + HEADER_LEN as u32)?;
                cksum_note(cx, field, sum);
            }
        } else if iph.is_v6() && has(cp, 0, length as usize) {
            let sum = iph.upper_cksum(crate::ipv4::PROTO_UDP, bp, length + HEADER_LEN as u32)?;
            let field = be16(bp, 6)?;
            cksum_note(cx, field, sum);
        }
    }
    let is = |p: u16| sport == p || dport == p;
    if !cx.opts.quiet && !is_nfs(sport, dport, cp) {
        // tcpdump's order: DNS, mDNS, ..., OTV (8472), VXLAN, Geneve.
        if is(dns::PORT_DNS) {
            return dns::print(cx, cp, length, false, false);
        }
        if is(dns::PORT_MDNS) {
            return dns::print(cx, cp, length, false, true);
        }
        if is(PORT_VXLAN_LINUX) {
            return vxlan::print_otv(cx, cp, length);
        }
        if is(PORT_VXLAN) {
            return vxlan::print_vxlan(cx, cp, length);
        }
        if is(PORT_GENEVE) {
            return geneve::print(cx, cp, length);
        }
    }
    if ulen > length && !fragmented {
        cx.s("UDP, bad length ");
        cx.u(ulen);
        cx.s(" > ");
        cx.u(length);
    } else {
        cx.s("UDP, length ");
        cx.u(ulen);
    }
    Ok(())
}

/// tcpdump's NFS test (an RPC call to 2049 or a reply from it), which precedes every other
/// port printer: it is not reproduced, but it keeps DNS, VXLAN... from claiming the packet.
pub(crate) fn is_nfs(sport: u16, dport: u16, payload: &[u8]) -> bool {
    match be32(payload, 4) {
        Ok(0) => dport == PORT_NFS,
        Ok(1) => sport == PORT_NFS,
        _ => false,
    }
}

fn cksum_note(cx: &mut Cx<'_>, field: u16, sum: u16) {
    if sum != 0 {
        cx.s("[bad udp cksum 0x");
        cx.x04(field);
        cx.s(" -> 0x");
        cx.x04(crate::checksum::shouldbe(field, sum));
        cx.s("!] ");
    } else {
        cx.s("[udp sum ok] ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view() {
        let b = [0x30, 0x39, 0x12, 0xb5, 0, 10, 0, 0, 1, 2, 3, 4];
        let u = UdpDatagram::new_checked(&b);
        assert!(u.is_ok());
        if let Ok(u) = u {
            assert_eq!((u.sport(), u.dport(), u.len()), (12345, 4789, 10));
            assert_eq!(u.payload(), &[1, 2]);
        }
        assert!(UdpDatagram::new_checked(&b[..7]).is_err());
    }
}
