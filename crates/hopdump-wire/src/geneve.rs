//! Geneve (RFC 8926) on UDP 6081: the checked view and tcpdump's `geneve_print`.

use crate::field::{Res, Truncated, be16, be24, be32, has, tail, u8_at};
use crate::print::Cx;

/// Fixed header length.
pub const HEADER_LEN: usize = 8;

/// A checked view of a Geneve header: fixed part and options present.
#[derive(Clone, Copy, Debug)]
pub struct GeneveHeader<'a> {
    buf: &'a [u8],
}

impl<'a> GeneveHeader<'a> {
    /// Validates the fixed header and the options length it announces.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        let opt = usize::from(u8_at(buf, 0)? & 0x3f) * 4;
        if has(buf, 0, HEADER_LEN + opt) {
            Ok(GeneveHeader { buf })
        } else {
            Err(Truncated)
        }
    }

    /// Version (0).
    pub fn version(&self) -> u8 {
        u8_at(self.buf, 0).unwrap_or_default() >> 6
    }

    /// Options length in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(u8_at(self.buf, 0).unwrap_or_default() & 0x3f) * 4
    }

    /// OAM bit.
    pub fn oam(&self) -> bool {
        u8_at(self.buf, 1).unwrap_or_default() & 0x80 != 0
    }

    /// Critical-options bit.
    pub fn critical(&self) -> bool {
        u8_at(self.buf, 1).unwrap_or_default() & 0x40 != 0
    }

    /// Protocol type of the payload (an ethertype; 0x6558 = Ethernet).
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// Virtual network identifier.
    pub fn vni(&self) -> u32 {
        be24(self.buf, 4).unwrap_or_default()
    }

    /// Option bytes.
    pub fn options(&self) -> &'a [u8] {
        self.buf
            .get(HEADER_LEN..HEADER_LEN + self.options_len())
            .unwrap_or(&[])
    }

    /// The payload after the options.
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN + self.options_len())
    }
}

fn opt_class(c: u16) -> &'static str {
    match c {
        0x0100 => "Linux",
        0x0101 => "Open vSwitch",
        0x0102 => "Open Virtual Networking (OVN)",
        0x0103 => "In-band Network Telemetry (INT)",
        0x0104 => "VMware",
        c if c <= 0x00ff => "Standard",
        c if c >= 0xfff0 => "Experimental",
        _ => "Unknown",
    }
}

fn opts_print(cx: &mut Cx<'_>, mut bp: &[u8], mut len: u32) -> Res {
    let mut sep = "";
    while len > 0 {
        cx.s(sep);
        sep = ", ";
        let class = be16(bp, 0)?;
        let ty = u8_at(bp, 2)?;
        let olen = 4 + u32::from(u8_at(bp, 3)? & 0x1f) * 4;
        cx.s("class ");
        cx.s(opt_class(class));
        cx.s(" (0x");
        cx.x(u32::from(class));
        cx.s(") type 0x");
        cx.x(u32::from(ty));
        if ty & 0x80 != 0 {
            cx.s("(C)");
        }
        cx.s(" len ");
        cx.u(olen);
        if olen > len {
            cx.s(" [bad length]");
            return Ok(());
        }
        if cx.opts.verbose > 1 && olen > 4 {
            cx.s(" data");
            let mut i = 4;
            while i < olen {
                let w = be32(bp, i as usize)?;
                cx.ch(b' ');
                cx.xw(w, 8);
                i += 4;
            }
        }
        bp = tail(bp, olen as usize);
        len -= olen;
    }
    Ok(())
}

/// `geneve_print`
pub(crate) fn print(cx: &mut Cx<'_>, bp: &[u8], len: u32) -> Res {
    cx.proto = "geneve";
    cx.s("Geneve");
    if len < 8 {
        cx.s(" [length ");
        cx.u(len);
        cx.s(" < 8]");
        cx.invalid();
        return Ok(());
    }
    if !has(bp, 0, 8) {
        cx.trunc();
        return Ok(());
    }
    let ver_opt = u8_at(bp, 0)?;
    let version = ver_opt >> 6;
    if version != 0 {
        cx.s(" ERROR: unknown-version ");
        cx.u(version);
        return Ok(());
    }
    let flags = u8_at(bp, 1)?;
    let prot = be16(bp, 2)?;
    let vni = be24(bp, 4)?;
    let reserved = u8_at(bp, 7)?;
    let mut len = len - 8;
    cx.s(", Flags [");
    let mut any = false;
    for (bit, name) in [
        (0x80u8, "O"),
        (0x40, "C"),
        (0x20, "R1"),
        (0x10, "R2"),
        (0x08, "R3"),
        (0x04, "R4"),
        (0x02, "R5"),
        (0x01, "R6"),
    ] {
        if flags & bit != 0 {
            cx.s(name);
            any = true;
        }
    }
    if !any {
        cx.s("none");
    }
    cx.s("], vni 0x");
    cx.x(vni);
    if reserved != 0 {
        cx.s(", rsvd 0x");
        cx.x(u32::from(reserved));
    }
    if cx.opts.link_header {
        cx.s(", proto ");
        cx.s(crate::ethernet::ethertype_name(prot).unwrap_or("unknown"));
        cx.s(" (0x");
        cx.x04(prot);
        cx.s(")");
    }
    let opts_len = u32::from(ver_opt & 0x3f) * 4;
    if len < opts_len {
        cx.s(" truncated-geneve - ");
        cx.u(opts_len - len);
        cx.s(" bytes missing");
        return Ok(());
    }
    let rest = tail(bp, 8);
    if !has(rest, 0, opts_len as usize) {
        cx.trunc();
        return Ok(());
    }
    if opts_len > 0 {
        cx.s(", options [");
        if cx.opts.verbose > 0 {
            opts_print(cx, rest, opts_len)?;
        } else {
            cx.u(opts_len);
            cx.s(" bytes");
        }
        cx.s("]");
    }
    let payload = tail(rest, opts_len as usize);
    len -= opts_len;
    if cx.opts.verbose < 1 {
        cx.s(": ");
    } else {
        cx.s("\n\t");
    }
    if !crate::print::ethertype(cx, prot, payload, len)? {
        if prot == crate::ethernet::ETHERTYPE_TEB {
            crate::ethernet::print(cx, payload, len)?;
        } else {
            cx.s("geneve-proto-0x");
            cx.x(u32::from(prot));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view() {
        let h = GeneveHeader::new_checked(&[0x01, 0x40, 0x65, 0x58, 0, 0, 7, 0, 1, 2, 3, 4]);
        assert_eq!(
            h.map(|h| (h.options_len(), h.critical(), h.protocol(), h.vni())),
            Ok((4, true, 0x6558, 7))
        );
        assert!(GeneveHeader::new_checked(&[0x01, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
