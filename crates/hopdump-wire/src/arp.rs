//! ARP (RFC 826): the checked view and tcpdump's `ARP, Request who-has ... tell ...` text.

use crate::field::{Res, Truncated, arr, be16, has, tail, u8_at};
use crate::print::Cx;

/// Fixed part of the ARP header.
pub const FIXED_LEN: usize = 8;

/// A checked view of an ARP packet: the fixed header and all four addresses are present.
#[derive(Clone, Copy, Debug)]
pub struct ArpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> ArpPacket<'a> {
    /// Validates the fixed header and the address fields it announces.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        let hln = usize::from(u8_at(buf, 4)?);
        let pln = usize::from(u8_at(buf, 5)?);
        if has(buf, 0, FIXED_LEN + 2 * hln + 2 * pln) {
            Ok(ArpPacket { buf })
        } else {
            Err(Truncated)
        }
    }

    /// Hardware type (1 = Ethernet).
    pub fn htype(&self) -> u16 {
        be16(self.buf, 0).unwrap_or_default()
    }

    /// Protocol type (0x0800 = IPv4).
    pub fn ptype(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        u8_at(self.buf, 4).unwrap_or_default()
    }

    /// Protocol address length.
    pub fn plen(&self) -> u8 {
        u8_at(self.buf, 5).unwrap_or_default()
    }

    /// Operation (1 request, 2 reply, 3/4 RARP, 8/9 InARP).
    pub fn op(&self) -> u16 {
        be16(self.buf, 6).unwrap_or_default()
    }

    fn field(&self, off: usize, n: usize) -> &'a [u8] {
        tail(self.buf, off).get(..n).unwrap_or(&[])
    }

    /// Sender hardware address.
    pub fn sha(&self) -> &'a [u8] {
        self.field(FIXED_LEN, usize::from(self.hlen()))
    }

    /// Sender protocol address.
    pub fn spa(&self) -> &'a [u8] {
        self.field(
            FIXED_LEN + usize::from(self.hlen()),
            usize::from(self.plen()),
        )
    }

    /// Target hardware address.
    pub fn tha(&self) -> &'a [u8] {
        self.field(
            FIXED_LEN + usize::from(self.hlen()) + usize::from(self.plen()),
            usize::from(self.hlen()),
        )
    }

    /// Target protocol address.
    pub fn tpa(&self) -> &'a [u8] {
        self.field(
            FIXED_LEN + 2 * usize::from(self.hlen()) + usize::from(self.plen()),
            usize::from(self.plen()),
        )
    }
}

fn op_name(op: u16) -> Option<&'static str> {
    Some(match op {
        1 => "Request",
        2 => "Reply",
        3 => "Reverse Request",
        4 => "Reverse Reply",
        8 => "Inverse Request",
        9 => "Inverse Reply",
        10 => "NACK Reply",
        _ => return None,
    })
}

fn hrd_name(h: u16) -> Option<&'static str> {
    Some(match h {
        1 => "Ethernet",
        6 => "TokenRing",
        7 => "ArcNet",
        15 => "FrameRelay",
        23 => "Strip",
        24 => "IEEE 1394",
        19 => "ATM",
        32 => "InfiniBand",
        _ => return None,
    })
}

/// `GET_LINKADDR_STRING(.., LINKADDR_ETHER, len)`
fn linkaddr(cx: &mut Cx<'_>, a: &[u8]) {
    if a.is_empty() {
        cx.s("<empty>");
    } else if let Ok(m) =
        arr::<6>(a, 0).and_then(|m| if a.len() == 6 { Ok(m) } else { Err(Truncated) })
    {
        cx.mac(m);
    } else {
        crate::print::write_mac(cx.out, a);
    }
}

fn ip_or_complaint(cx: &mut Cx<'_>, pro: u16, a: &[u8]) {
    if pro != 0x0800 && pro != 0x1000 {
        cx.s("<wrong proto type>");
    } else if let (4, Ok(ip)) = (a.len(), arr::<4>(a, 0)) {
        cx.ipv4(ip);
    } else {
        cx.s("<wrong len>");
    }
}

/// `arp_print`
pub(crate) fn print(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "arp";
    if p.len() < FIXED_LEN {
        cx.trunc();
        return Ok(());
    }
    let Ok(ap) = ArpPacket::new_checked(p) else {
        cx.trunc();
        return Ok(());
    };
    let (hrd, pro, op) = (ap.htype(), ap.ptype(), ap.op());
    if !cx.opts.link_header {
        cx.s("ARP, ");
    }
    let v = cx.opts.verbose > 0;
    if (pro != 0x0800 && pro != 0x1000) || ap.plen() != 4 || ap.hlen() == 0 || v {
        match hrd_name(hrd) {
            Some(n) => cx.s(n),
            None => {
                cx.s("Unknown Hardware (");
                cx.u(hrd);
                cx.s(")");
            }
        }
        cx.s(" (len ");
        cx.u(ap.hlen());
        cx.s("), ");
        match crate::ethernet::ethertype_name(pro) {
            Some(n) => cx.s(n),
            None => {
                cx.s("Unknown Protocol (0x");
                cx.x04(pro);
                cx.s(")");
            }
        }
        cx.s(" (len ");
        cx.u(ap.plen());
        cx.s(")");
        if !v {
            return out_len(cx, length);
        }
    }
    if v {
        cx.s(", ");
    }
    match op_name(op) {
        Some(n) => cx.s(n),
        None => {
            cx.s("Unknown (");
            cx.u(op);
            cx.s(")");
        }
    }
    cx.s(" ");
    match op {
        1 => {
            cx.s("who-has ");
            ip_or_complaint(cx, pro, ap.tpa());
            if ap.tha().iter().any(|b| *b != 0) {
                cx.s(" (");
                linkaddr(cx, ap.tha());
                cx.s(")");
            }
            cx.s(" tell ");
            ip_or_complaint(cx, pro, ap.spa());
        }
        2 => {
            ip_or_complaint(cx, pro, ap.spa());
            cx.s(" is-at ");
            linkaddr(cx, ap.sha());
        }
        3 | 8 => {
            cx.s("who-is ");
            linkaddr(cx, ap.tha());
            cx.s(" tell ");
            linkaddr(cx, ap.sha());
        }
        4 => {
            linkaddr(cx, ap.tha());
            cx.s(" at ");
            ip_or_complaint(cx, pro, ap.tpa());
        }
        9 => {
            linkaddr(cx, ap.sha());
            cx.s(" at ");
            ip_or_complaint(cx, pro, ap.spa());
        }
        _ => {
            // tcpdump's ARP printer dumps unknown operations even with -q.
            return cx.hex_and_ascii("\n\t", p, p.len());
        }
    }
    out_len(cx, length)
}

fn out_len(cx: &mut Cx<'_>, length: u32) -> Res {
    cx.s(", length ");
    cx.u(length);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoNames, TextOptions};

    fn arp(op: u16, tha: [u8; 6]) -> Vec<u8> {
        let mut v = vec![0, 1, 8, 0, 6, 4];
        v.extend_from_slice(&op.to_be_bytes());
        v.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01, 198, 51, 100, 10]);
        v.extend_from_slice(&tha);
        v.extend_from_slice(&[198, 51, 100, 240]);
        v
    }

    fn text(p: &[u8]) -> String {
        let opts = TextOptions {
            numeric_hosts: true,
            numeric_ports: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            opts: &opts,
            names: &NoNames,
            proto: "",
            seq: None,
        };
        let _ = print(&mut cx, p, p.len() as u32);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn request_and_reply() {
        assert_eq!(
            text(&arp(1, [0; 6])),
            "ARP, Request who-has 198.51.100.240 tell 198.51.100.10, length 28"
        );
        assert_eq!(
            text(&arp(2, [0; 6])),
            "ARP, Reply 198.51.100.10 is-at aa:bb:cc:dd:ee:01, length 28"
        );
        assert_eq!(
            text(&arp(1, [1, 2, 3, 4, 5, 6])),
            "ARP, Request who-has 198.51.100.240 (01:02:03:04:05:06) tell 198.51.100.10, length 28"
        );
    }

    #[test]
    fn truncated() {
        assert_eq!(text(&arp(1, [0; 6])[..20]), " [|arp]");
    }
}
