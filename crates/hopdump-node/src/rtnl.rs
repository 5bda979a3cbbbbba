//! Links (name, MAC) and neighbour tables (IP -> MAC) of a namespace over rtnetlink, so an
//! answering MAC can be named: a local interface, or the address that owns it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::error::Result;
use crate::netlink::{NLM_F_DUMP, NLM_F_REQUEST, NlSocket, attrs};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;

/// An interface of the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<[u8; 6]>,
}

/// A neighbour table entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neigh {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub mac: [u8; 6],
    /// NUD_* state bits.
    pub state: u16,
}

/// Decode an RTM_NEWLINK payload (ifinfomsg + attributes).
pub fn parse_link(p: &[u8]) -> Option<Link> {
    let index = u32::from_ne_bytes(p.get(4..8)?.try_into().ok()?);
    let mut name = None;
    let mut mac = None;
    for (t, v) in attrs(p.get(16..)?) {
        match t {
            IFLA_IFNAME => {
                let s = v.split(|b| *b == 0).next().unwrap_or(v);
                name = Some(String::from_utf8_lossy(s).into_owned());
            }
            IFLA_ADDRESS if v.len() == 6 => mac = v.try_into().ok(),
            _ => {}
        }
    }
    Some(Link {
        index,
        name: name?,
        mac,
    })
}

/// Decode an RTM_NEWNEIGH payload (ndmsg + attributes); None without a 6-byte lladdr.
pub fn parse_neigh(p: &[u8]) -> Option<Neigh> {
    let ifindex = u32::from_ne_bytes(p.get(4..8)?.try_into().ok()?);
    let state = u16::from_ne_bytes(p.get(8..10)?.try_into().ok()?);
    let mut ip = None;
    let mut mac = None;
    for (t, v) in attrs(p.get(12..)?) {
        match (t, v.len()) {
            (NDA_DST, 4) => ip = Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
            (NDA_DST, 16) => {
                ip = Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?)));
            }
            (NDA_LLADDR, 6) => mac = v.try_into().ok(),
            _ => {}
        }
    }
    Some(Neigh {
        ifindex,
        ip: ip?,
        mac: mac?,
        state,
    })
}

/// Every link of the calling thread's namespace.
pub fn links() -> Result<Vec<Link>> {
    let mut s = NlSocket::open(libc::NETLINK_ROUTE, "route")?;
    let ifinfo = [0u8; 16];
    let msgs = s.request(
        RTM_GETLINK,
        NLM_F_REQUEST | NLM_F_DUMP,
        &ifinfo,
        "dump links",
    )?;
    Ok(msgs
        .iter()
        .filter(|m| m.msg_type == RTM_NEWLINK)
        .filter_map(|m| parse_link(&m.payload))
        .collect())
}

/// Every neighbour entry (IPv4 and IPv6) of the calling thread's namespace.
pub fn neighbours() -> Result<Vec<Neigh>> {
    let mut s = NlSocket::open(libc::NETLINK_ROUTE, "route")?;
    let ndmsg = [0u8; 12];
    let msgs = s.request(
        RTM_GETNEIGH,
        NLM_F_REQUEST | NLM_F_DUMP,
        &ndmsg,
        "dump neighbours",
    )?;
    Ok(msgs
        .iter()
        .filter(|m| m.msg_type == RTM_NEWNEIGH)
        .filter_map(|m| parse_neigh(&m.payload))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::AttrBuf;

    #[test]
    fn link_and_neighbour_decode() {
        let mut p = vec![0u8; 16];
        p[4..8].copy_from_slice(&7u32.to_ne_bytes());
        let mut a = AttrBuf::new();
        a.put(IFLA_IFNAME, b"eth0\0")
            .put(IFLA_ADDRESS, &[2, 0x6e, 0, 0, 0, 1]);
        p.extend_from_slice(&a.bytes);
        assert_eq!(
            parse_link(&p),
            Some(Link {
                index: 7,
                name: "eth0".into(),
                mac: Some([2, 0x6e, 0, 0, 0, 1])
            })
        );

        let mut n = vec![2u8, 0, 0, 0];
        n.extend_from_slice(&3u32.to_ne_bytes());
        n.extend_from_slice(&2u16.to_ne_bytes()); // NUD_REACHABLE
        n.extend_from_slice(&[0, 1]);
        let mut a = AttrBuf::new();
        a.put(NDA_DST, &[198, 51, 100, 11])
            .put(NDA_LLADDR, &[2, 0x6e, 0, 0, 0, 1]);
        n.extend_from_slice(&a.bytes);
        let got = parse_neigh(&n).unwrap();
        assert_eq!(got.ip, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11)));
        assert_eq!(got.ifindex, 3);
        assert_eq!(got.state, 2);
        assert_eq!(parse_neigh(&n[..12]), None);
    }
}
