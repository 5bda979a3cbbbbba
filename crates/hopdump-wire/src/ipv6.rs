//! IPv6 (RFC 8200): the checked view, extension headers (hop-by-hop, routing, fragment,
//! destination options) and tcpdump's `ip6_print` with its `HBH`/`RT6`/`frag`/`DSTOPT` text.

use crate::field::{Res, Truncated, arr, be16, be32, cut, has, tail, u8_at};
use crate::print::{Cx, IpHdr, ip_demux, ipproto_str};

/// Fixed header length.
pub const HEADER_LEN: usize = 40;

pub(crate) const NH_HOPOPTS: u8 = 0;
pub(crate) const NH_ROUTING: u8 = 43;
pub(crate) const NH_FRAGMENT: u8 = 44;
pub(crate) const NH_DSTOPTS: u8 = 60;

/// A checked view of the fixed IPv6 header.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Validates version 6 and that the 40-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < HEADER_LEN || u8_at(buf, 0)? >> 4 != 6 {
            return Err(Truncated);
        }
        Ok(Ipv6Packet { buf })
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((be32(self.buf, 0).unwrap_or_default() >> 20) & 0xff) as u8
    }

    /// Flow label.
    pub fn flow_label(&self) -> u32 {
        be32(self.buf, 0).unwrap_or_default() & 0x000f_ffff
    }

    /// Payload length field.
    pub fn payload_len(&self) -> u16 {
        be16(self.buf, 4).unwrap_or_default()
    }

    /// Next header.
    pub fn next_header(&self) -> u8 {
        u8_at(self.buf, 6).unwrap_or_default()
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        u8_at(self.buf, 7).unwrap_or_default()
    }

    /// Source address.
    pub fn src(&self) -> [u8; 16] {
        arr(self.buf, 8).unwrap_or_default()
    }

    /// Destination address.
    pub fn dst(&self) -> [u8; 16] {
        arr(self.buf, 24).unwrap_or_default()
    }

    /// Bytes after the fixed header, cut to the payload length when that is shorter.
    pub fn payload(&self) -> &'a [u8] {
        let p = tail(self.buf, HEADER_LEN);
        match self.payload_len() {
            0 => p,
            n => cut(p, usize::from(n)),
        }
    }
}

/// True for the extension headers this crate walks through.
pub fn is_extension(nh: u8) -> bool {
    matches!(nh, NH_HOPOPTS | NH_ROUTING | NH_FRAGMENT | NH_DSTOPTS)
}

/// One extension header: (its next header, its length in bytes).
pub fn extension_len(nh: u8, h: &[u8]) -> Result<(u8, usize), Truncated> {
    let next = u8_at(h, 0)?;
    let len = if nh == NH_FRAGMENT {
        8
    } else {
        (usize::from(u8_at(h, 1)?) + 1) * 8
    };
    if h.len() < len {
        Err(Truncated)
    } else {
        Ok((next, len))
    }
}

/// tcpdump's `ip6_finddst`: the final destination when a routing header is present.
pub(crate) fn final_dst(ip6: &[u8]) -> Res<[u8; 16]> {
    let mut dst = arr::<16>(ip6, 24)?;
    let mut nh = u8_at(ip6, 6)?;
    if !matches!(
        nh,
        NH_HOPOPTS | NH_DSTOPTS | 62 | 135 | NH_FRAGMENT | NH_ROUTING
    ) {
        return Ok(dst);
    }
    let mut cp = tail(ip6, HEADER_LEN);
    while !cp.is_empty() {
        match nh {
            NH_HOPOPTS | NH_DSTOPTS | 62 | 135 => {
                let adv = (usize::from(u8_at(cp, 1)?) + 1) << 3;
                nh = u8_at(cp, 0)?;
                cp = tail(cp, adv);
            }
            NH_FRAGMENT => {
                nh = u8_at(cp, 0)?;
                cp = tail(cp, 8);
            }
            NH_ROUTING => {
                if cp.len() < 4 {
                    break;
                }
                let len = usize::from(u8_at(cp, 1)?);
                match u8_at(cp, 2)? {
                    0 | 2 if len % 2 == 0 => {
                        for i in 0..len / 2 {
                            match arr::<16>(cp, 8 + 16 * i) {
                                Ok(a) => dst = a,
                                Err(_) => break,
                            }
                        }
                    }
                    4 => {
                        if len % 2 == 0
                            && let Ok(a) = arr::<16>(cp, 8)
                        {
                            dst = a;
                        }
                    }
                    _ => {}
                }
                break;
            }
            _ => break,
        }
    }
    Ok(dst)
}

/// `ip6_opt_process`: Ok(Err(())) = bad/truncated option list.
fn opt_process(
    cx: &mut Cx<'_>,
    bp: &[u8],
    len: usize,
    payload_len: Option<&mut u32>,
    found_jumbo: &mut bool,
) -> Res<Result<(), ()>> {
    let v = cx.opts.verbose > 0;
    let mut payload_len = payload_len;
    let mut i = 0usize;
    if len == 0 {
        return Ok(Ok(()));
    }
    while i < len {
        let t = u8_at(bp, i)?;
        let optlen = if t == 0 {
            1
        } else if i + 1 < len {
            usize::from(u8_at(bp, i + 1)?) + 2
        } else {
            return Ok(Err(()));
        };
        if i + optlen > len {
            return Ok(Err(()));
        }
        match t {
            0 => {
                if v {
                    cx.s("(pad1)");
                }
            }
            1 => {
                if len - i < 2 {
                    cx.s("(padn: trunc)");
                    return Ok(Err(()));
                }
                if v {
                    cx.s("(padn)");
                }
            }
            5 => {
                if len - i < 4 {
                    cx.s("(rtalert: trunc)");
                    return Ok(Err(()));
                }
                let l = u8_at(bp, i + 1)?;
                if l != 2 {
                    cx.s("(rtalert: invalid len ");
                    cx.u(l);
                    cx.s(")");
                    return Ok(Err(()));
                }
                if v {
                    cx.s("(rtalert: 0x");
                    cx.x04(be16(bp, i + 2)?);
                    cx.s(") ");
                }
            }
            0xc2 => {
                if len - i < 6 {
                    cx.s("(jumbo: trunc)");
                    return Ok(Err(()));
                }
                let l = u8_at(bp, i + 1)?;
                if l != 4 {
                    cx.s("(jumbo: invalid len ");
                    cx.u(l);
                    cx.s(")");
                    return Ok(Err(()));
                }
                let jumbolen = be32(bp, i + 2)?;
                let note = |cx: &mut Cx<'_>, what: &str| {
                    if v {
                        cx.s("(jumbo: ");
                        cx.u(jumbolen);
                        cx.s(what);
                        cx.s(") ");
                    }
                };
                if *found_jumbo {
                    note(cx, " - already seen");
                } else {
                    *found_jumbo = true;
                    match payload_len.as_deref_mut() {
                        None => note(cx, " - not a hop-by-hop option"),
                        Some(pl) if *pl != 0 => note(cx, " - payload len != 0"),
                        Some(pl) => {
                            if jumbolen < 65536 {
                                note(cx, " - < 65536");
                            } else {
                                *pl = jumbolen;
                                note(cx, "");
                            }
                        }
                    }
                }
            }
            _ => {
                if len - i < 2 {
                    cx.s("(type ");
                    cx.u(t);
                    cx.s(": trunc)");
                    return Ok(Err(()));
                }
                if v {
                    cx.s("(opt_type 0x");
                    cx.x02(t);
                    cx.s(": len=");
                    cx.u(u8_at(bp, i + 1)?);
                    cx.s(")");
                }
            }
        }
        i += optlen;
    }
    if v {
        cx.s(" ");
    }
    Ok(Ok(()))
}

/// `rt6_print`: Ok(None) = stop printing.
fn rt6(cx: &mut Cx<'_>, cp: &[u8]) -> Res<Option<usize>> {
    cx.proto = "rt6";
    cx.s("RT6");
    let mut len = u32::from(u8_at(cp, 1)?);
    cx.s(" (len=");
    cx.u(len);
    let ty = u8_at(cp, 2)?;
    cx.s(", type=");
    cx.u(ty);
    if ty == 0 {
        cx.s(" [Deprecated]");
    }
    let segleft = u8_at(cp, 3)?;
    cx.s(", segleft=");
    cx.u(segleft);
    let addrs_at = match ty {
        0 | 2 => {
            let rsv = be32(cp, 4)?;
            if rsv != 0 || cx.opts.verbose > 0 {
                cx.s(", rsv=0x");
                cx.x(rsv);
            }
            8
        }
        4 => {
            let last = u8_at(cp, 4)?;
            cx.s(", last-entry=");
            cx.u(last);
            let flags = u8_at(cp, 5)?;
            if flags != 0 || cx.opts.verbose > 0 {
                cx.s(", flags=0x");
                cx.x(u32::from(flags));
            }
            let tag = be16(cp, 6)?;
            cx.s(", tag=");
            cx.x(u32::from(tag));
            8
        }
        _ => {
            cx.s(" (unknown type)");
            cx.invalid();
            return Ok(None);
        }
    };
    if len % 2 == 1 {
        cx.s(" (invalid length ");
        cx.u(len);
        cx.s(")");
        cx.invalid();
        return Ok(None);
    }
    len >>= 1;
    for i in 0..len as usize {
        cx.atomic(|cx| {
            cx.s(", [");
            cx.u(i);
            cx.s("]");
            cx.ipv6_at(cp, addrs_at + 16 * i)
        })?;
    }
    cx.s(") ");
    Ok(Some((usize::from(u8_at(cp, 1)?) + 1) << 3))
}

/// `ip6_print`
pub(crate) fn print(cx: &mut Cx<'_>, bp: &[u8], length: u32) -> Res {
    cx.proto = "ip6";
    if bp.len() < HEADER_LEN {
        cx.trunc();
        return Ok(());
    }
    if length < HEADER_LEN as u32 {
        cx.s("truncated-ip6 ");
        cx.u(length);
        return Ok(());
    }
    if !cx.opts.link_header {
        cx.s("IP6 ");
    }
    let ver = u8_at(bp, 0)? >> 4;
    if ver != 6 {
        cx.s("version error: ");
        cx.u(ver);
        cx.s(" != 6");
        return Ok(());
    }
    let mut payload_len = u32::from(be16(bp, 4)?);
    let mut len = if payload_len != 0 {
        let l = payload_len + HEADER_LEN as u32;
        if length < l {
            cx.s("truncated-ip6 - ");
            cx.u(l - length);
            cx.s(" bytes missing!");
        }
        l
    } else {
        length.wrapping_add(HEADER_LEN as u32)
    };
    let mut nh = u8_at(bp, 6)?;
    if cx.opts.verbose > 0 {
        let flow = be32(bp, 0)?;
        cx.s("(");
        if flow & 0x0ff0_0000 != 0 {
            cx.s("class 0x");
            cx.xw((flow & 0x0ff0_0000) >> 20, 2);
            cx.s(", ");
        }
        if flow & 0x000f_ffff != 0 {
            cx.s("flowlabel 0x");
            cx.xw(flow & 0x000f_ffff, 5);
            cx.s(", ");
        }
        cx.s("hlim ");
        cx.u(u8_at(bp, 7)?);
        cx.s(", next-header ");
        cx.s(ipproto_str(nh).unwrap_or("unknown"));
        cx.s(" (");
        cx.u(nh);
        cx.s(") payload length: ");
        cx.u(payload_len);
        cx.s(") ");
    }
    let bp = cut(bp, len as usize);
    let mut off = 0usize;
    let mut advance = HEADER_LEN;
    let mut total_advance = 0u32;
    let mut found_ext = false;
    let mut found_jumbo = false;
    let mut found_hbh = false;
    let mut fragmented = false;
    let mut ph: u8 = 255;
    while off < bp.len() && advance > 0 {
        if (len as usize) < advance {
            cx.trunc();
            return Ok(());
        }
        off += advance;
        len -= advance as u32;
        total_advance += advance as u32;
        let cp = tail(bp, off);
        if off == HEADER_LEN && !matches!(nh, 6 | 17 | 33 | 132) {
            cx.ipv6_at(bp, 8)?;
            cx.s(" > ");
            cx.ipv6_at(bp, 24)?;
            cx.s(": ");
        }
        match nh {
            NH_HOPOPTS => {
                if found_hbh {
                    cx.s("[The Hop-by-Hop Options header was already found]");
                    cx.invalid();
                    return Ok(());
                }
                if ph != 255 {
                    cx.s("[The Hop-by-Hop Options header don't follow the IPv6 header]");
                    cx.invalid();
                    return Ok(());
                }
                cx.proto = "hbhopt";
                let hbhlen = (usize::from(u8_at(cp, 1)?) + 1) << 3;
                let adv = if has(cp, 0, hbhlen) {
                    cx.s("HBH ");
                    match opt_process(
                        cx,
                        tail(cp, 2),
                        hbhlen - 2,
                        Some(&mut payload_len),
                        &mut found_jumbo,
                    )? {
                        Ok(()) => Some(hbhlen),
                        Err(()) => {
                            cx.trunc();
                            None
                        }
                    }
                } else {
                    cx.trunc();
                    None
                };
                if payload_len == 0 && !found_jumbo {
                    cx.s("[No valid Jumbo Payload Hop-by-Hop option found]");
                    cx.invalid();
                    return Ok(());
                }
                let Some(a) = adv else { return Ok(()) };
                advance = a;
                found_ext = true;
                found_hbh = true;
                nh = u8_at(cp, 0)?;
            }
            NH_DSTOPTS => {
                cx.proto = "dstopt";
                let dlen = (usize::from(u8_at(cp, 1)?) + 1) << 3;
                if !has(cp, 0, dlen) {
                    cx.trunc();
                    return Ok(());
                }
                cx.s("DSTOPT ");
                if cx.opts.verbose > 0
                    && opt_process(cx, tail(cp, 2), dlen - 2, None, &mut found_jumbo)?.is_err()
                {
                    cx.trunc();
                    return Ok(());
                }
                advance = dlen;
                found_ext = true;
                nh = u8_at(cp, 0)?;
            }
            NH_FRAGMENT => {
                cx.proto = "frag6";
                let plen = u64::from(be16(bp, 4)?);
                let rest = (HEADER_LEN as u64 + plen)
                    .wrapping_sub(off as u64)
                    .wrapping_sub(8);
                let offlg = be16(cp, 2)?;
                if cx.opts.verbose > 0 {
                    let ident = be32(cp, 4)?;
                    cx.s("frag (0x");
                    cx.xw(ident, 8);
                    cx.s(":");
                } else {
                    cx.s("frag (");
                }
                cx.u(offlg & 0xfff8);
                cx.s("|");
                cx.u(rest);
                cx.s(")");
                if offlg & 0xfff8 != 0 {
                    return Ok(());
                }
                cx.s(" ");
                advance = 8;
                if bp.len() <= off + advance {
                    return Ok(());
                }
                found_ext = true;
                nh = u8_at(cp, 0)?;
                fragmented = true;
            }
            NH_ROUTING => {
                u8_at(cp, 0)?;
                match rt6(cx, cp)? {
                    Some(a) => advance = a,
                    None => return Ok(()),
                }
                found_ext = true;
                nh = u8_at(cp, 0)?;
            }
            _ => {
                let mut cp = cp;
                if found_jumbo {
                    len = payload_len.wrapping_add(HEADER_LEN as u32);
                    if len < total_advance {
                        cx.trunc();
                        return Ok(());
                    }
                    if length < len {
                        cx.s("truncated-ip6 - ");
                        cx.u(len - length);
                        cx.s(" bytes missing!");
                    }
                    cp = tail(cut(bp, len as usize), off);
                    len -= total_advance;
                } else if payload_len == 0 {
                    if found_ext {
                        cx.trunc();
                        return Ok(());
                    }
                    len = 0;
                    cp = &[];
                }
                return ip_demux(cx, cp, len, IpHdr::V6(bp), fragmented, nh);
            }
        }
        ph = nh;
        cx.proto = "ip6";
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_and_extensions() {
        let mut b = vec![0x60, 0, 0, 0, 0, 8, NH_FRAGMENT, 64];
        b.extend_from_slice(&[0u8; 32]);
        b.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]);
        let ip = Ipv6Packet::new_checked(&b);
        assert!(ip.is_ok());
        if let Ok(ip) = ip {
            assert_eq!(ip.next_header(), NH_FRAGMENT);
            assert_eq!(extension_len(NH_FRAGMENT, ip.payload()), Ok((17, 8)));
        }
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
        assert!(is_extension(NH_DSTOPTS));
    }
}
