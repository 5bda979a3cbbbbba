//! The one flow being explained and what is known about the node it arrives at.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::RulesError;

/// Transport protocol of the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
    /// From a name or number as iptables/nft print them.
    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Some(Proto::Tcp),
            "udp" | "17" => Some(Proto::Udp),
            "sctp" | "132" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

/// The first packet of a new connection, as it arrives at the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub proto: Proto,
    /// Interface the packet arrives on, when known.
    pub in_iface: Option<String>,
}

impl Flow {
    /// `IP:PORT[/tcp|/udp|/sctp]` (IPv6 as `[addr]:port`) for the destination, `IP[:PORT]` for
    /// the source (default source: 203.0.113.10:40000, a documentation address).
    pub fn parse(dst: &str, src: Option<&str>) -> Result<Flow, RulesError> {
        let (dst_part, proto) = match dst.rsplit_once('/') {
            Some((d, p)) => (
                d,
                Proto::parse(p)
                    .ok_or_else(|| RulesError::Flow(format!("unknown protocol {p:?}")))?,
            ),
            None => (dst, Proto::Tcp),
        };
        let (dst, dport) = parse_addr_port(dst_part)?;
        let dport = dport
            .ok_or_else(|| RulesError::Flow(format!("{dst_part:?} needs a port (IP:PORT)")))?;
        let (src, sport) = match src {
            Some(s) => parse_addr_port(s)?,
            None => (
                if dst.is_ipv4() {
                    IpAddr::from([203, 0, 113, 10])
                } else {
                    IpAddr::from_str("2001:db8:ffff::10")
                        .map_err(|e| RulesError::Flow(e.to_string()))?
                },
                None,
            ),
        };
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(RulesError::Flow(
                "source and destination are of different IP families".into(),
            ));
        }
        Ok(Flow {
            src,
            sport: sport.unwrap_or(40000),
            dst,
            dport,
            proto,
            in_iface: None,
        })
    }
}

fn parse_addr_port(s: &str) -> Result<(IpAddr, Option<u16>), RulesError> {
    let bad = || RulesError::Flow(format!("cannot read {s:?} as IP[:PORT]"));
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:").ok_or_else(bad)?;
        return Ok((
            ip.parse().map_err(|_| bad())?,
            Some(port.parse().map_err(|_| bad())?),
        ));
    }
    let (ip, port) = s.rsplit_once(':').ok_or_else(bad)?;
    Ok((
        ip.parse().map_err(|_| bad())?,
        Some(port.parse().map_err(|_| bad())?),
    ))
}

/// What is known about the node the flow is walked through.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NodeContext {
    /// The node's own addresses (addrtype LOCAL, fib type local, INPUT vs FORWARD). Empty
    /// means unknown: matches that need it are reported as not evaluable.
    pub local_addrs: Vec<IpAddr>,
    /// Whether `local_addrs` is authoritative (read from the node) or just absent.
    pub local_known: bool,
    /// Interface the packet leaves by after routing, when known (overrides `routes`).
    pub out_iface: Option<String>,
    /// The node's routes (destination prefix → device), to tell output interfaces after DNAT
    /// and the interface a source is reached through. Empty when unknown.
    #[serde(default)]
    pub routes: Vec<(IpNet, String)>,
}

impl NodeContext {
    /// Device of the longest matching route for `ip`.
    pub fn route_dev(&self, ip: IpAddr) -> Option<&str> {
        self.routes
            .iter()
            .filter(|(n, _)| n.contains(&ip))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(_, d)| d.as_str())
    }

    pub fn is_local(&self, ip: IpAddr) -> Option<bool> {
        if ip.is_loopback() {
            return Some(true);
        }
        if self.local_addrs.contains(&ip) {
            Some(true)
        } else if self.local_known {
            Some(false)
        } else {
            None
        }
    }
}

/// An address or prefix as rule dumps print them (`10.0.0.0/8`, `1.2.3.4`, `1.2.3.4/32`).
pub fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    let ip: IpAddr = s.parse().ok()?;
    Some(IpNet::from(ip))
}

/// Does a dotted mask (`255.255.0.0`) form (as `iptables -L` prints) parse? Used by `-s a/m`.
pub fn parse_net_mask(s: &str) -> Option<IpNet> {
    let (a, m) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = a.parse().ok()?;
    let mask: std::net::Ipv4Addr = m.parse().ok()?;
    let len = u32::from(mask).leading_ones() as u8;
    ipnet::Ipv4Net::new(ip, len)
        .ok()
        .map(|n| IpNet::V4(n.trunc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows() {
        let f = Flow::parse("198.51.100.240:80", None).unwrap();
        assert_eq!(f.proto, Proto::Tcp);
        assert_eq!(f.dport, 80);
        let f = Flow::parse("198.51.100.240:53/udp", Some("203.0.113.7:5353")).unwrap();
        assert_eq!((f.proto, f.sport), (Proto::Udp, 5353));
        let f = Flow::parse("[2001:db8::240]:443/tcp", None).unwrap();
        assert!(f.dst.is_ipv6() && f.src.is_ipv6());
        assert!(Flow::parse("198.51.100.240", None).is_err());
        assert!(Flow::parse("198.51.100.240:80/icmp", None).is_err());
    }

    #[test]
    fn nets() {
        assert!(
            parse_net("10.244.0.0/16")
                .unwrap()
                .contains(&"10.244.3.4".parse::<IpAddr>().unwrap())
        );
        assert_eq!(parse_net("1.2.3.4").unwrap().prefix_len(), 32);
        assert_eq!(
            parse_net_mask("10.0.0.0/255.255.0.0").unwrap().prefix_len(),
            16
        );
    }
}
