//! Linux cooked captures (`any` device): SLL (LINKTYPE 113, 16 bytes) and SLL2 (LINKTYPE 276,
//! 20 bytes with the interface index) — checked views and tcpdump's `sll_if_print`/`sll2_if_print`.

use crate::field::{Res, Truncated, be16, be32, has, tail, u8_at};
use crate::print::{Cx, ethertype};

/// SLL header length.
pub const SLL_HEADER_LEN: usize = 16;
/// SLL2 header length.
pub const SLL2_HEADER_LEN: usize = 20;

/// A checked view of an SLL (v1) header.
#[derive(Clone, Copy, Debug)]
pub struct SllHeader<'a> {
    buf: &'a [u8],
}

impl<'a> SllHeader<'a> {
    /// Validates that the 16-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < SLL_HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(SllHeader { buf })
        }
    }

    /// Packet type (0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing).
    pub fn packet_type(&self) -> u16 {
        be16(self.buf, 0).unwrap_or_default()
    }

    /// ARPHRD_ hardware type.
    pub fn hatype(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// Link-layer address length.
    pub fn halen(&self) -> u16 {
        be16(self.buf, 4).unwrap_or_default()
    }

    /// Link-layer address (up to 8 bytes).
    pub fn addr(&self) -> &'a [u8] {
        self.buf
            .get(6..6 + usize::from(self.halen().min(8)))
            .unwrap_or(&[])
    }

    /// Protocol (an ethertype, or 1 / 4 for 802.3 / 802.2).
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 14).unwrap_or_default()
    }

    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, SLL_HEADER_LEN)
    }
}

/// A checked view of an SLL2 header.
#[derive(Clone, Copy, Debug)]
pub struct Sll2Header<'a> {
    buf: &'a [u8],
}

impl<'a> Sll2Header<'a> {
    /// Validates that the 20-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < SLL2_HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(Sll2Header { buf })
        }
    }

    /// Protocol (ethertype).
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 0).unwrap_or_default()
    }

    /// Interface index.
    pub fn ifindex(&self) -> u32 {
        be32(self.buf, 4).unwrap_or_default()
    }

    /// ARPHRD_ hardware type.
    pub fn hatype(&self) -> u16 {
        be16(self.buf, 8).unwrap_or_default()
    }

    /// Packet type.
    pub fn packet_type(&self) -> u8 {
        u8_at(self.buf, 10).unwrap_or_default()
    }

    /// Link-layer address length.
    pub fn halen(&self) -> u8 {
        u8_at(self.buf, 11).unwrap_or_default()
    }

    /// Link-layer address (up to 8 bytes).
    pub fn addr(&self) -> &'a [u8] {
        self.buf
            .get(12..12 + usize::from(self.halen().min(8)))
            .unwrap_or(&[])
    }

    /// Bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, SLL2_HEADER_LEN)
    }
}

/// tcpdump's `sll_pkttype_values`.
pub(crate) fn pkttype_name(t: u16) -> &'static str {
    match t {
        0 => "In",
        1 => "B",
        2 => "M",
        3 => "P",
        4 => "Out",
        _ => "?",
    }
}

fn pad_to(cx: &mut Cx<'_>, s: &str, width: usize) {
    cx.s(s);
    for _ in s.len()..width {
        cx.ch(b' ');
    }
}

fn proto_print(cx: &mut Cx<'_>, proto: u16, length: u32) {
    if !cx.opts.quiet {
        if proto <= crate::ethernet::MAX_LENGTH_VAL {
            match proto {
                1 => cx.s("802.3"),
                4 => cx.s("802.2"),
                _ => {
                    cx.s("ethertype Unknown (0x");
                    cx.x04(proto);
                    cx.s(")");
                }
            }
        } else {
            cx.s("ethertype ");
            cx.s(crate::ethernet::ethertype_name(proto).unwrap_or("Unknown"));
            cx.s(" (0x");
            cx.x04(proto);
            cx.s(")");
        }
        cx.s(", length ");
        cx.u(length);
        cx.s(": ");
    }
}

/// `sll_print` (the `-e` header of SLL v1).
fn sll_header(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "sll";
    let name = pkttype_name(be16(p, 0)?);
    for _ in name.len()..3 {
        cx.ch(b' ');
    }
    cx.s(name);
    cx.ch(b' ');
    if be16(p, 4)? == 6 {
        cx.mac_at(p, 6)?;
        cx.ch(b' ');
    }
    proto_print(cx, be16(p, 14)?, length);
    Ok(())
}

/// `sll2_print` (the `-e` header of SLL2).
fn sll2_header(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "sll2";
    cx.s("ifindex ");
    cx.u(be32(p, 4)?);
    cx.ch(b' ');
    if u8_at(p, 11)? == 6 {
        cx.mac_at(p, 12)?;
        cx.ch(b' ');
    }
    proto_print(cx, be16(p, 0)?, length);
    Ok(())
}

/// The part shared by both versions after the header: VLAN tags, 802.2/802.3 and the ethertype.
fn body(
    cx: &mut Cx<'_>,
    hdr: &[u8],
    mut p: &[u8],
    mut length: u32,
    mut proto: u16,
    v2: bool,
) -> Res {
    loop {
        if proto <= crate::ethernet::MAX_LENGTH_VAL {
            // IPX / LLC printers are not reproduced: dump the payload as tcpdump does for unknown types.
            return cx.default_print(p);
        } else if proto == 0x8100 {
            if p.len() < 4 {
                cx.proto = "vlan";
                cx.trunc();
                return Ok(());
            }
            if cx.opts.link_header {
                let tci = be16(p, 0)?;
                crate::vlan::tci_print(cx, tci);
                cx.s(", ");
            }
            proto = be16(p, 2)?;
            if proto <= crate::ethernet::MAX_LENGTH_VAL {
                proto = 4;
            }
            if !cx.opts.quiet {
                cx.s("ethertype ");
                cx.s(crate::ethernet::ethertype_name(proto).unwrap_or("Unknown"));
                cx.s(", ");
            }
            p = tail(p, 4);
            length = length.wrapping_sub(4);
        } else {
            if !ethertype(cx, proto, p, length)? {
                if !cx.opts.link_header {
                    let hl = if v2 { SLL2_HEADER_LEN } else { SLL_HEADER_LEN } as u32;
                    if v2 {
                        sll2_header(cx, hdr, length.wrapping_add(hl))?;
                    } else {
                        sll_header(cx, hdr, length.wrapping_add(hl))?;
                    }
                }
                cx.default_print(p)?;
            }
            return Ok(());
        }
    }
}

/// `sll_if_print`
pub(crate) fn print_sll(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "sll";
    if !has(p, 0, SLL_HEADER_LEN) {
        return Err(Truncated);
    }
    if cx.opts.link_header {
        sll_header(cx, p, length)?;
    }
    let proto = be16(p, 14)?;
    body(
        cx,
        p,
        tail(p, SLL_HEADER_LEN),
        length.wrapping_sub(SLL_HEADER_LEN as u32),
        proto,
        false,
    )
}

/// `sll2_if_print`: the interface name comes from [`crate::Names::ifname`] (`?` when unknown).
pub(crate) fn print_sll2(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "sll2";
    if !has(p, 0, SLL2_HEADER_LEN) {
        return Err(Truncated);
    }
    let ifindex = be32(p, 4)?;
    let name = cx.names.ifname(ifindex).unwrap_or("?");
    pad_to(cx, name, 5);
    cx.ch(b' ');
    pad_to(cx, pkttype_name(u16::from(u8_at(p, 10)?)), 3);
    cx.ch(b' ');
    if cx.opts.link_header {
        sll2_header(cx, p, length)?;
    }
    let proto = be16(p, 0)?;
    body(
        cx,
        p,
        tail(p, SLL2_HEADER_LEN),
        length.wrapping_sub(SLL2_HEADER_LEN as u32),
        proto,
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views() {
        let mut b = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 8, 0];
        b.push(0x45);
        let h = SllHeader::new_checked(&b);
        assert_eq!(
            h.map(|h| (
                h.packet_type(),
                h.addr().len(),
                h.protocol(),
                h.payload().len()
            )),
            Ok((0, 6, 0x0800, 1))
        );
        let b2 = [
            0x08, 0, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        let h2 = Sll2Header::new_checked(&b2);
        assert_eq!(
            h2.map(|h| (h.protocol(), h.ifindex(), h.packet_type())),
            Ok((0x0800, 3, 4))
        );
        assert_eq!(pkttype_name(4), "Out");
    }
}
