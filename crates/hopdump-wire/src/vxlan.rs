//! VXLAN (RFC 7348) on UDP 4789, and the same 8-byte header on flannel's UDP 8472, which
//! tcpdump 4.99 names OTV (draft-hasmit-otv): both carry an inner Ethernet frame.

use crate::field::{Res, Truncated, be24, tail, u8_at};
use crate::print::Cx;

/// Header length.
pub const HEADER_LEN: usize = 8;

/// A checked view of a VXLAN header.
#[derive(Clone, Copy, Debug)]
pub struct VxlanHeader<'a> {
    buf: &'a [u8],
}

impl<'a> VxlanHeader<'a> {
    /// Validates that the 8-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(VxlanHeader { buf })
        }
    }

    /// Flags byte (0x08 = VNI valid).
    pub fn flags(&self) -> u8 {
        u8_at(self.buf, 0).unwrap_or_default()
    }

    /// VXLAN network identifier.
    pub fn vni(&self) -> u32 {
        be24(self.buf, 4).unwrap_or_default()
    }

    /// The OTV overlay id (bytes 1..4; reserved in VXLAN).
    pub fn overlay(&self) -> u32 {
        be24(self.buf, 1).unwrap_or_default()
    }

    /// The inner Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

/// `vxlan_print`
pub(crate) fn print_vxlan(cx: &mut Cx<'_>, bp: &[u8], len: u32) -> Res {
    cx.proto = "vxlan";
    cx.s("VXLAN");
    if len < HEADER_LEN as u32 {
        cx.invalid();
        return Ok(());
    }
    let flags = u8_at(bp, 0)?;
    cx.s(", flags [");
    cx.s(if flags & 0x08 != 0 { "I" } else { "invalid" });
    cx.s("] (0x");
    cx.x02(flags);
    cx.s("), ");
    let vni = be24(bp, 4)?;
    cx.s("vni ");
    cx.u(vni);
    cx.s("\n");
    u8_at(bp, 7)?;
    crate::ethernet::print(cx, tail(bp, HEADER_LEN), len - HEADER_LEN as u32)
}

/// `otv_print` (what tcpdump prints for UDP port 8472).
pub(crate) fn print_otv(cx: &mut Cx<'_>, bp: &[u8], len: u32) -> Res {
    cx.proto = "otv";
    cx.s("OTV, ");
    if len < HEADER_LEN as u32 {
        cx.s("[length ");
        cx.u(len);
        cx.s(" < 8]");
        cx.invalid();
        if !crate::field::has(bp, 0, len as usize) {
            return Err(Truncated);
        }
        return Ok(());
    }
    let flags = u8_at(bp, 0)?;
    cx.s("flags [");
    cx.s(if flags & 0x08 != 0 { "I" } else { "." });
    cx.s("] (0x");
    cx.x02(flags);
    cx.s("), ");
    let overlay = be24(bp, 1)?;
    cx.s("overlay ");
    cx.u(overlay);
    cx.s(", ");
    let instance = be24(bp, 4)?;
    cx.s("instance ");
    cx.u(instance);
    cx.s("\n");
    u8_at(bp, 7)?;
    crate::ethernet::print(cx, tail(bp, HEADER_LEN), len - HEADER_LEN as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni() {
        let h = VxlanHeader::new_checked(&[0x08, 0, 0, 0, 0, 0x01, 0x02, 0]);
        assert_eq!(h.map(|h| (h.flags(), h.vni())), Ok((0x08, 0x0102)));
        assert!(VxlanHeader::new_checked(&[0; 7]).is_err());
    }
}
