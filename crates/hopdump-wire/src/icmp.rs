//! ICMP for IPv4 (RFC 792): the checked view and tcpdump's `icmp_print` — echo, unreachable
//! (port, `need to frag (mtu N)`, admin prohibited...), time exceeded, redirects — and, with
//! `-v`, the quoted IP header of error messages.

use crate::field::{Res, Truncated, be16, be32, has, tail, u8_at};
use crate::print::{Cx, IpHdr};

/// Fixed header length.
pub const HEADER_LEN: usize = 8;

/// Echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const UNREACH: u8 = 3;
/// Source quench.
pub const SOURCE_QUENCH: u8 = 4;
/// Redirect.
pub const REDIRECT: u8 = 5;
/// Echo request.
pub const ECHO: u8 = 8;
/// Time exceeded.
pub const TIME_EXCEEDED: u8 = 11;
/// Parameter problem.
pub const PARAM_PROB: u8 = 12;

/// True for the types that quote the offending datagram.
pub fn is_error(t: u8) -> bool {
    matches!(
        t,
        UNREACH | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROB
    )
}

/// A checked view of the 8-byte ICMP header.
#[derive(Clone, Copy, Debug)]
pub struct IcmpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> IcmpPacket<'a> {
    /// Validates that the 8-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(IcmpPacket { buf })
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

    /// Echo identifier.
    pub fn id(&self) -> u16 {
        be16(self.buf, 4).unwrap_or_default()
    }

    /// Echo sequence number.
    pub fn seq(&self) -> u16 {
        be16(self.buf, 6).unwrap_or_default()
    }

    /// Next-hop MTU of a fragmentation-needed message.
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buf, 6).unwrap_or_default()
    }

    /// Bytes 4..8 as an address (redirect gateway).
    pub fn gateway(&self) -> [u8; 4] {
        crate::field::arr(self.buf, 4).unwrap_or_default()
    }

    /// Everything after the 8-byte header (the quoted datagram for errors).
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

fn unreach_text(cx: &mut Cx<'_>, bp: &[u8], code: u8) -> Res {
    // (prefix, suffix) around the quoted destination
    let (pre, post) = match code {
        0 => ("net ", " unreachable"),
        1 => ("host ", " unreachable"),
        5 => ("", " unreachable - source route failed"),
        6 => ("net ", " unreachable - unknown"),
        7 => ("host ", " unreachable - unknown"),
        8 => ("", " unreachable - source host isolated"),
        9 => ("net ", " unreachable - admin prohibited"),
        10 => ("host ", " unreachable - admin prohibited"),
        11 => ("net ", " unreachable - tos prohibited"),
        12 => ("host ", " unreachable - tos prohibited"),
        13 => ("host ", " unreachable - admin prohibited filter"),
        14 => ("host ", " unreachable - host precedence violation"),
        15 => ("host ", " unreachable - precedence cutoff"),
        2 => {
            cx.ipv4_at(bp, 24)?;
            cx.s(" protocol ");
            cx.u(u8_at(bp, 17)?);
            cx.s(" unreachable");
            return Ok(());
        }
        3 => {
            u8_at(bp, 17)?;
            let hlen = usize::from(u8_at(bp, 8)? & 0x0f) * 4;
            let dport = be16(bp, 8 + hlen + 2)?;
            let proto = u8_at(bp, 17)?;
            cx.ipv4_at(bp, 24)?;
            match proto {
                6 | 17 => {
                    cx.s(if proto == 6 {
                        " tcp port "
                    } else {
                        " udp port "
                    });
                    cx.port(proto == 6, dport);
                    cx.s(" unreachable");
                }
                _ => {
                    cx.s(" protocol ");
                    cx.u(proto);
                    cx.s(" port ");
                    cx.u(dport);
                    cx.s(" unreachable");
                }
            }
            return Ok(());
        }
        4 => {
            let mtu = be16(bp, 6)?;
            cx.ipv4_at(bp, 24)?;
            cx.s(" unreachable - need to frag");
            if mtu != 0 {
                cx.s(" (mtu ");
                cx.u(mtu);
                cx.s(")");
            }
            return Ok(());
        }
        _ => {
            cx.ipv4_at(bp, 24)?;
            cx.s(" unreachable - #");
            cx.u(code);
            return Ok(());
        }
    };
    cx.s(pre);
    cx.ipv4_at(bp, 24)?;
    cx.s(post);
    Ok(())
}

fn tstamp(cx: &mut Cx<'_>, t: u32) {
    let msec = t % 1000;
    let mut sec = t / 1000;
    let mut min = sec / 60;
    sec -= min * 60;
    let hrs = min / 60;
    min -= hrs * 60;
    for (i, v) in [hrs, min, sec].into_iter().enumerate() {
        if i > 0 {
            cx.ch(b':');
        }
        if v < 10 {
            cx.ch(b'0');
        }
        cx.u(v);
    }
    cx.ch(b'.');
    if msec < 100 {
        cx.ch(b'0');
    }
    if msec < 10 {
        cx.ch(b'0');
    }
    cx.u(msec);
}

/// The text between `ICMP ` and `, length`.
fn describe(cx: &mut Cx<'_>, bp: &[u8], ty: u8, code: u8) -> Res {
    match ty {
        ECHO | ECHO_REPLY => {
            cx.s(if ty == ECHO {
                "echo request, id "
            } else {
                "echo reply, id "
            });
            cx.u(be16(bp, 4)?);
            cx.s(", seq ");
            cx.u(be16(bp, 6)?);
        }
        UNREACH => unreach_text(cx, bp, code)?,
        REDIRECT => {
            let (pre, mid) = match code {
                0 => ("redirect ", " to net "),
                1 => ("redirect ", " to host "),
                2 => ("redirect-tos ", " to net "),
                3 => ("redirect-tos ", " to host "),
                _ => ("", " to "),
            };
            if code > 3 {
                cx.s("redirect-#");
                cx.u(code);
                cx.ch(b' ');
            }
            cx.s(pre);
            cx.ipv4_at(bp, 24)?;
            cx.s(mid);
            cx.ipv4_at(bp, 4)?;
        }
        9 => {
            cx.s("router advertisement");
            if !has(bp, 4, 4) {
                return Err(Truncated);
            }
            cx.s(" lifetime ");
            let lt = u32::from(be16(bp, 6)?);
            if lt < 60 {
                cx.u(lt);
            } else if lt < 3600 {
                cx.u(lt / 60);
                cx.ch(b':');
                two(cx, lt % 60);
            } else {
                cx.u(lt / 3600);
                cx.ch(b':');
                two(cx, (lt % 3600) / 60);
                cx.ch(b':');
                two(cx, lt % 60);
            }
            let num = u8_at(bp, 4)?;
            cx.ch(b' ');
            cx.u(num);
            cx.ch(b':');
            let size = u8_at(bp, 5)?;
            if size != 2 {
                cx.s(" [size ");
                cx.u(size);
                cx.s("]");
            } else {
                for i in 0..usize::from(num) {
                    let off = 8 + 8 * i;
                    if !has(bp, off, 8) {
                        return Err(Truncated);
                    }
                    cx.s(" {");
                    cx.ipv4_at(bp, off)?;
                    cx.ch(b' ');
                    cx.u(be32(bp, off + 4)?);
                    cx.s("}");
                }
            }
        }
        TIME_EXCEEDED => {
            if !has(bp, 24, 4) {
                return Err(Truncated);
            }
            match code {
                0 => cx.s("time exceeded in-transit"),
                1 => cx.s("ip reassembly time exceeded"),
                _ => {
                    cx.s("time exceeded-#");
                    cx.u(code);
                }
            }
        }
        PARAM_PROB => {
            if code != 0 {
                cx.s("parameter problem - code ");
                cx.u(code);
            } else {
                cx.s("parameter problem - octet ");
                cx.u(u8_at(bp, 4)?);
            }
        }
        18 => {
            cx.s("address mask is 0x");
            cx.xw(be32(bp, 8)?, 8);
        }
        13 => {
            cx.s("time stamp query id ");
            cx.u(be16(bp, 4)?);
            cx.s(" seq ");
            cx.u(be16(bp, 6)?);
        }
        14 => {
            if !has(bp, 16, 4) {
                return Err(Truncated);
            }
            cx.s("time stamp reply id ");
            cx.u(be16(bp, 4)?);
            cx.s(" seq ");
            cx.u(be16(bp, 6)?);
            cx.s(": org ");
            tstamp(cx, be32(bp, 8)?);
            cx.s(", recv ");
            tstamp(cx, be32(bp, 12)?);
            cx.s(", xmit ");
            tstamp(cx, be32(bp, 16)?);
        }
        _ => {
            let name = match ty {
                4 => "source quench",
                10 => "router solicitation",
                15 => "information request",
                16 => "information reply",
                17 => "address mask request",
                _ => {
                    cx.s("type-#");
                    cx.u(ty);
                    return Ok(());
                }
            };
            cx.s(name);
        }
    }
    Ok(())
}

fn two(cx: &mut Cx<'_>, v: u32) {
    if v < 10 {
        cx.ch(b'0');
    }
    cx.u(v);
}

/// `icmp_print`
pub(crate) fn print(
    cx: &mut Cx<'_>,
    bp: &[u8],
    plen: u32,
    _iph: IpHdr<'_>,
    fragmented: bool,
) -> Res {
    cx.proto = "icmp";
    let ty = u8_at(bp, 0)?;
    let code = u8_at(bp, 1)?;
    cx.s("ICMP ");
    let mark = cx.out.len() - 5;
    if let Err(e) = describe(cx, bp, ty, code) {
        // tcpdump formats into a buffer first, so nothing of it shows when a field is missing.
        cx.out.truncate(mark);
        return Err(e);
    }
    cx.s(", length ");
    cx.u(plen);
    if cx.opts.verbose > 0
        && !fragmented
        && let Some(all) = bp.get(..plen as usize)
    {
        let sum = crate::checksum::finish(crate::checksum::add(0, all));
        if sum != 0 {
            let field = be16(bp, 2)?;
            cx.s(" (wrong icmp cksum ");
            cx.x(u32::from(field));
            cx.s(" (->");
            cx.x(u32::from(crate::checksum::shouldbe(field, sum)));
            cx.s(")!)");
        }
    }
    if cx.opts.verbose > 0 && is_error(ty) {
        let inner = tail(bp, HEADER_LEN);
        cx.s("\n\t");
        // tcpdump narrows the snapshot to the quoted length first, then reads it again.
        let inner = crate::field::cut(inner, usize::from(be16(inner, 2)?));
        let ip_len = be16(inner, 2)?;
        crate::ipv4::print(cx, inner, u32::from(ip_len))?;
    }
    cx.proto = "icmp";
    if cx.opts.verbose > 0 && plen > 136 && matches!(ty, UNREACH | TIME_EXCEEDED | PARAM_PROB) {
        multipart(cx, bp, plen)?;
    }
    Ok(())
}

/// RFC 4884 multi-part extensions (`-v`, long error messages only).
fn multipart(cx: &mut Cx<'_>, bp: &[u8], plen: u32) -> Res {
    if !has(bp, 0, 12) {
        return Err(Truncated);
    }
    let ext = 136usize;
    let hlen_all = (plen - 136) as usize;
    if u8_at(bp, 5)? == 0 && has(bp, ext, hlen_all) {
        let s = crate::checksum::finish(crate::checksum::add(
            0,
            bp.get(ext..ext + hlen_all).unwrap_or(&[]),
        ));
        if s != 0 {
            return Ok(());
        }
    }
    let ver = u8_at(bp, ext)? >> 4;
    cx.s("\n\tICMP Multi-Part extension v");
    cx.u(ver);
    if ver != 2 {
        cx.s(" packet not supported");
        return Ok(());
    }
    let mut hlen = hlen_all;
    if let Some(e) = bp.get(ext..ext + hlen) {
        let bad = crate::checksum::finish(crate::checksum::add(0, e)) != 0;
        cx.s(", checksum 0x");
        cx.x04(be16(bp, ext + 2)?);
        cx.s(if bad {
            " (incorrect), length "
        } else {
            " (correct), length "
        });
        cx.u(hlen);
    }
    hlen = hlen.wrapping_sub(4);
    let mut obj = ext + 4;
    while hlen > 4 && hlen < 1 << 20 {
        if !has(bp, obj, 4) {
            return Err(Truncated);
        }
        let olen = usize::from(be16(bp, obj)?);
        let class = u8_at(bp, obj + 2)?;
        let ctype = u8_at(bp, obj + 3)?;
        obj += 4;
        cx.s("\n\t  ");
        cx.s(match class {
            1 => "MPLS Stack Entry",
            2 => "Interface Identification",
            _ => "unknown",
        });
        cx.s(" Object (");
        cx.u(class);
        cx.s("), Class-Type: ");
        cx.u(ctype);
        cx.s(", length ");
        cx.u(olen);
        hlen -= 4;
        if class == 0 || olen < 4 {
            return Ok(());
        }
        let olen = olen - 4;
        if class == 1 && ctype == 1 {
            let raw = be32(bp, obj)?;
            cx.s("\n\t    label ");
            cx.u(raw >> 12);
            cx.s(", tc ");
            cx.u((raw >> 9) & 7);
            if raw & 0x100 != 0 {
                cx.s(", [S]");
            }
            cx.s(", ttl ");
            cx.u(raw & 0xff);
        } else {
            cx.unknown_data("\n\t    ", tail(bp, obj), olen);
        }
        if hlen < olen {
            break;
        }
        hlen -= olen;
        obj += olen;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view() {
        let b = [3, 4, 0, 0, 0, 0, 0x05, 0x78];
        let i = IcmpPacket::new_checked(&b);
        assert_eq!(
            i.map(|i| (i.icmp_type(), i.code(), i.next_hop_mtu())),
            Ok((3, 4, 1400))
        );
        assert!(is_error(11));
        assert!(!is_error(8));
    }
}
