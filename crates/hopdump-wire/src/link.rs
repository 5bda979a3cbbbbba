//! pcap link types, and the two headerless-ish links: BSD loopback (`Null`, a 4-byte address
//! family) and raw IP (`Raw`, `Ipv4`, `Ipv6`).

use crate::field::{Res, Truncated, arr, has, tail};
use crate::print::Cx;

/// pcap LINKTYPE_* number wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1)
    Ethernet,
    /// LINKTYPE_NULL (0): 4-byte host-order address family
    Null,
    /// LINKTYPE_RAW (101): IPv4 or IPv6 by version nibble
    Raw,
    /// LINKTYPE_LINUX_SLL (113)
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276)
    LinuxSll2,
    /// LINKTYPE_IPV4 (228)
    Ipv4,
    /// LINKTYPE_IPV6 (229)
    Ipv6,
    /// Anything else (not decoded).
    Other(u32),
}

impl LinkType {
    /// From a pcap/pcapng LINKTYPE_ number.
    pub fn from_linktype(n: u32) -> Self {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            n => LinkType::Other(n),
        }
    }

    /// The pcap/pcapng LINKTYPE_ number.
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Other(n) => n,
        }
    }
}

/// The address family of a Null/loopback header, as tcpdump reads it: host byte order,
/// byte-swapped when the upper 16 bits are set.
pub fn null_family(p: &[u8]) -> Result<u32, Truncated> {
    let f = u32::from_ne_bytes(arr::<4>(p, 0)?);
    Ok(if f & 0xffff_0000 != 0 {
        f.swap_bytes()
    } else {
        f
    })
}

/// BSD address families that carry IPv6 (BSD, FreeBSD, Darwin).
pub(crate) fn null_is_ipv6(f: u32) -> bool {
    matches!(f, 24 | 28 | 30)
}

fn null_hdr_print(cx: &mut Cx<'_>, family: u32, length: u32) {
    let name = match family {
        2 => Some("IPv4"),
        6 => Some("NS"),
        7 => Some("ISO"),
        16 => Some("Appletalk"),
        23 => Some("IPX"),
        24 | 28 | 30 => Some("IPv6"),
        _ => None,
    };
    if cx.opts.quiet {
        match name {
            Some(n) => cx.s(n),
            None => {
                cx.s("Unknown AF ");
                cx.u(family);
            }
        }
    } else {
        cx.s("AF ");
        cx.s(name.unwrap_or("Unknown"));
        cx.s(" (");
        cx.u(family);
        cx.s(")");
    }
    cx.s(", length ");
    cx.u(length);
    cx.s(": ");
}

/// `null_if_print`
pub(crate) fn print_null(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "null";
    if !has(p, 0, 4) {
        return Err(Truncated);
    }
    let family = null_family(p)?;
    if cx.opts.link_header {
        null_hdr_print(cx, family, length);
    }
    let rest = tail(p, 4);
    let length = length.wrapping_sub(4);
    match family {
        2 => crate::ipv4::print(cx, rest, length),
        f if null_is_ipv6(f) => crate::ipv6::print(cx, rest, length),
        _ => {
            // ISO, Appletalk and IPX printers are not reproduced.
            if !cx.opts.link_header {
                null_hdr_print(cx, family, length.wrapping_add(4));
            }
            cx.default_print(rest)
        }
    }
}

/// `raw_if_print` / `ipN_print`
pub(crate) fn print_raw(cx: &mut Cx<'_>, p: &[u8], length: u32) -> Res {
    cx.proto = "raw";
    if cx.opts.link_header {
        cx.s("ip: ");
    }
    cx.proto = "ipn";
    if length < 1 {
        cx.s("truncated-ip ");
        cx.u(length);
        return Ok(());
    }
    let v = crate::field::u8_at(p, 0)?;
    match v & 0xf0 {
        0x40 => crate::ipv4::print(cx, p, length),
        0x60 => crate::ipv6::print(cx, p, length),
        _ => {
            cx.s("unknown ip ");
            cx.u(v >> 4);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linktype_roundtrip() {
        for n in [0, 1, 101, 113, 276, 228, 229, 147] {
            assert_eq!(LinkType::from_linktype(n).linktype(), n);
        }
        assert_eq!(LinkType::from_linktype(147), LinkType::Other(147));
    }

    #[test]
    fn null_family_either_order() {
        assert_eq!(null_family(&2u32.to_ne_bytes()), Ok(2));
        assert_eq!(null_family(&2u32.swap_bytes().to_ne_bytes()), Ok(2));
        assert!(null_family(&[0, 0]).is_err());
    }
}
