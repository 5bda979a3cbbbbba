//! Ethernet II frames: the checked view, tcpdump's ethertype names, and `ether_print`
//! (addresses with `-e`, 802.1Q/QinQ tag stacks, the hex dump for unknown types).

use crate::field::{Res, Truncated, arr, be16, cut, tail};
use crate::print::{Cx, ethertype};
use crate::vlan;

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;
pub(crate) const ETHERTYPE_REVARP: u16 = 0x8035;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
pub(crate) const ETHERTYPE_TEB: u16 = 0x6558;
/// Largest value of the type field that is an 802.3 length rather than a type.
pub(crate) const MAX_LENGTH_VAL: u16 = 1500;

/// Ethernet header length (no tags).
pub const HEADER_LEN: usize = 14;

/// A checked view of an Ethernet II header.
#[derive(Clone, Copy, Debug)]
pub struct EthernetFrame<'a> {
    buf: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// Validates that the 14-byte header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(EthernetFrame { buf })
        }
    }

    /// Destination MAC.
    pub fn dst(&self) -> [u8; 6] {
        arr(self.buf, 0).unwrap_or_default()
    }

    /// Source MAC.
    pub fn src(&self) -> [u8; 6] {
        arr(self.buf, 6).unwrap_or_default()
    }

    /// The type/length field.
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, 12).unwrap_or_default()
    }

    /// Bytes after the 14-byte header.
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

/// The protocol carried in an Ethernet type field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtherType {
    /// 0x0800
    Ipv4,
    /// 0x86dd
    Ipv6,
    /// 0x0806
    Arp,
    /// 0x8100 / 0x88a8 / 0x9100 / 0x9200 tag
    Vlan(u16),
    /// Any other value (<= 1500 is an 802.3 length).
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            ETHERTYPE_IPV4 => EtherType::Ipv4,
            ETHERTYPE_IPV6 => EtherType::Ipv6,
            ETHERTYPE_ARP => EtherType::Arp,
            t if vlan::is_tag(t) => EtherType::Vlan(t),
            t => EtherType::Unknown(t),
        }
    }
}

/// tcpdump's `ethertype_values` (first match wins, so 0x9100 is "802.1Q-9100").
pub(crate) fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x8847 => "MPLS unicast",
        0x8848 => "MPLS multicast",
        0x86dd => "IPv6",
        0x8100 => "802.1Q",
        0x9100 => "802.1Q-9100",
        0x88a8 => "802.1Q-QinQ",
        0x9200 => "802.1Q-9200",
        0x88e5 => "802.1AE MACsec",
        0x0200 => "PUP",
        0x0806 => "ARP",
        0x8035 => "Reverse ARP",
        0x0600 => "NS",
        0x0500 => "Sprite",
        0x1000 => "Trail",
        0x6001 => "MOP DL",
        0x6002 => "MOP RC",
        0x6003 => "DN",
        0x6004 => "LAT",
        0x6007 => "SCA",
        0x6558 => "TEB",
        0x8038 => "Lanbridge",
        0x803c => "DEC DNS",
        0x803e => "DEC DTS",
        0x805b => "VEXP",
        0x805c => "VPROD",
        0x809b => "Appletalk",
        0x80f3 => "Appletalk ARP",
        0x8137 => "IPX",
        0x880b => "PPP",
        0x8808 => "MPCP",
        0x8809 => "Slow Protocols",
        0x8863 => "PPPoE D",
        0x8864 => "PPPoE S",
        0x888e => "EAPOL",
        0x8899 => "Realtek protocols",
        0x886f => "MS NLB heartbeat",
        0x8870 => "Jumbo",
        0x894f => "NSH",
        0x9000 => "Loopback",
        0xfefe => "OSI",
        0x00fe => "GRE-OSI",
        0xabcd => "CFM (old)",
        0x8902 => "CFM",
        0x893a => "IEEE1905.1",
        0x88cc => "LLDP",
        0x88ca => "TIPC",
        0x0707 => "GeoNet (old)",
        0x8947 => "GeoNet",
        0x1111 => "CALM FAST",
        0x88a2 => "AoE",
        0x88f7 => "PTP",
        0xd28b => "Arista Vendor Specific Protocol",
        _ => return None,
    })
}

/// `ether_type_print`: `ethertype NAME (0xNNNN)`, or just the name with `-q`.
pub(crate) fn type_print(cx: &mut Cx<'_>, t: u16) {
    if cx.opts.quiet {
        match ethertype_name(t) {
            Some(n) => cx.s(n),
            None => {
                cx.s("Unknown Ethertype (0x");
                cx.x04(t);
                cx.s(")");
            }
        }
    } else {
        cx.s("ethertype ");
        cx.s(ethertype_name(t).unwrap_or("Unknown"));
        cx.s(" (0x");
        cx.x04(t);
        cx.s(")");
    }
}

fn addresses(cx: &mut Cx<'_>, frame: &[u8]) -> Res {
    cx.mac_at(frame, 6)?;
    cx.s(" > ");
    cx.mac_at(frame, 0)?;
    cx.s(", ");
    Ok(())
}

/// `ether_print`: `p` is what was captured, `length` what the frame claims.
pub(crate) fn print(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "ether";
    let caplen = p.len() as u32;
    if length < caplen {
        cx.s("[length ");
        cx.u(length);
        cx.s(" < caplen ");
        cx.u(caplen);
        cx.s("]");
        cx.invalid();
        return Ok(());
    }
    if p.len() < HEADER_LEN {
        cx.trunc();
        return Ok(());
    }
    let frame = p;
    let orig_length = length;
    let mut length = length.wrapping_sub(12);
    let mut p = tail(p, 12);
    if cx.opts.link_header {
        addresses(cx, frame)?;
    }
    let mut t = be16(p, 0)?;
    length = length.wrapping_sub(2);
    p = tail(p, 2);
    let mut printed_length = false;
    while vlan::is_tag(t) {
        if p.len() < 4 || length < 4 {
            cx.proto = "vlan";
            cx.trunc();
            return Ok(());
        }
        if cx.opts.link_header {
            let tci = be16(p, 0)?;
            type_print(cx, t);
            if printed_length {
                cx.s(", ");
            } else {
                cx.s(", length ");
                cx.u(orig_length);
                cx.s(": ");
                printed_length = true;
            }
            vlan::tci_print(cx, tci);
            cx.s(", ");
        }
        t = be16(p, 2)?;
        p = tail(p, 4);
        length = length.wrapping_sub(4);
    }
    if t <= MAX_LENGTH_VAL {
        // 802.3 with an LLC header: tcpdump's LLC/SNAP printers are not reproduced;
        // print the frame header the same way and dump the LLC bytes.
        if u32::from(t) < length {
            length = u32::from(t);
            p = cut(p, length as usize);
        }
        if cx.opts.link_header {
            cx.s("802.3");
            if !printed_length {
                cx.s(", length ");
                cx.u(length);
                cx.s(": ");
            }
        }
        cx.s("LLC");
        return cx.default_print(p);
    }
    if cx.opts.link_header {
        type_print(cx, t);
        if printed_length {
            cx.s(", ");
        } else {
            cx.s(", length ");
            cx.u(orig_length);
            cx.s(": ");
        }
    }
    if !ethertype(cx, t, p, length)? {
        if !cx.opts.link_header {
            addresses(cx, frame)?;
            type_print(cx, t);
            cx.s(", length ");
            cx.u(orig_length);
            cx.s(": ");
        }
        cx.default_print(p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LinkType, NoNames, TextOptions, write_text};

    fn text(data: &[u8], opts: &TextOptions) -> String {
        let mut out = Vec::new();
        write_text(
            &mut out,
            LinkType::Ethernet,
            data,
            data.len() as u32,
            opts,
            &NoNames,
        );
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn unknown_ethertype_dumps_like_tcpdump() {
        let mut f = vec![
            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x12, 0x34,
        ];
        f.extend_from_slice(b"hello");
        let opts = TextOptions {
            numeric_hosts: true,
            numeric_ports: true,
            ..Default::default()
        };
        assert_eq!(
            text(&f, &opts),
            "aa:bb:cc:dd:ee:ff > 11:22:33:44:55:66, ethertype Unknown (0x1234), length 19: \n\t0x0000:  6865 6c6c 6f                             hello"
        );
    }

    #[test]
    fn short_frame_is_truncated() {
        let opts = TextOptions::default();
        assert_eq!(text(&[1, 2, 3], &opts), " [|ether]");
    }

    #[test]
    fn view_checks_length() {
        assert!(EthernetFrame::new_checked(&[0; 13]).is_err());
        let f = EthernetFrame::new_checked(&[0; 14]).map(|f| f.ethertype());
        assert_eq!(f, Ok(0));
        assert_eq!(EtherType::from(0x88a8), EtherType::Vlan(0x88a8));
        assert_eq!(EtherType::from(0x1234), EtherType::Unknown(0x1234));
    }
}
