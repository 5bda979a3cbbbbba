//! IEEE 802.1Q / 802.1ad (QinQ) tags: the checked view and tcpdump's `vlan N, p P[, DEI]` text.

use crate::field::{Truncated, be16};
use crate::print::Cx;

/// Tag protocol identifiers tcpdump treats as VLAN tags.
pub(crate) fn is_tag(t: u16) -> bool {
    matches!(t, 0x8100 | 0x88a8 | 0x9100 | 0x9200)
}

/// A checked view of one 4-byte tag body (TCI + inner type), after its TPID.
#[derive(Clone, Copy, Debug)]
pub struct VlanTag<'a> {
    buf: &'a [u8],
}

impl<'a> VlanTag<'a> {
    /// Validates that the 4 bytes are present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < 4 {
            Err(Truncated)
        } else {
            Ok(VlanTag { buf })
        }
    }

    /// The tag control information.
    pub fn tci(&self) -> u16 {
        be16(self.buf, 0).unwrap_or_default()
    }

    /// VLAN id (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Priority code point.
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// The type field after the tag.
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }
}

/// `ieee8021q_tci_string`
pub(crate) fn tci_print(cx: &mut Cx<'_>, tci: u16) {
    cx.s("vlan ");
    cx.u(tci & 0xfff);
    cx.s(", p ");
    cx.u(tci >> 13);
    if tci & 0x1000 != 0 {
        cx.s(", DEI");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_fields() {
        let t = VlanTag::new_checked(&[0xb0, 0x64, 0x08, 0x00]);
        assert!(t.is_ok());
        if let Ok(t) = t {
            assert_eq!(
                (t.vid(), t.pcp(), t.dei(), t.ethertype()),
                (100, 5, true, 0x0800)
            );
        }
        assert!(VlanTag::new_checked(&[0; 3]).is_err());
    }
}
