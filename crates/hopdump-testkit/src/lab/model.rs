//! The small service model the lab programs nodes from: what a `Service` and its
//! `EndpointSlice`s say, reduced to what kube-proxy and the MetalLB speaker look at.

use std::net::IpAddr;
use std::str::FromStr;

use anyhow::{Context, Result, bail};

use super::hash::metallb_election_key;

/// Layer-4 protocol of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// Lower-case name as kube-proxy writes it (`-p tcp`, hash input "tcp").
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// `externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficPolicy {
    Cluster,
    Local,
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone)]
pub struct ServicePort {
    /// Port name; empty for an unnamed single port (no ":name" in the service port name).
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub target_port: u16,
    pub node_port: Option<u16>,
}

/// One endpoint (a pod IP) and the node it runs on.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub node: String,
    pub ready: bool,
}

/// A Service of type LoadBalancer (or ClusterIP/NodePort when `lb_ips` is empty).
#[derive(Debug, Clone)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub cluster_ip: IpAddr,
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip` (what MetalLB assigned).
    pub lb_ips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    pub endpoints: Vec<Endpoint>,
    pub external_traffic_policy: TrafficPolicy,
    pub lb_source_ranges: Vec<Cidr>,
    pub health_check_node_port: Option<u16>,
}

impl Service {
    /// `ns/name[:port]`, the `ServicePortName.String()` used in comments and hashes.
    pub fn port_name(&self, port: &ServicePort) -> String {
        if port.name.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            format!("{}/{}:{}", self.namespace, self.name, port.name)
        }
    }

    /// Whether anything outside the cluster can reach it (nodePort, externalIPs or LB IPs).
    pub fn externally_accessible(&self, port: &ServicePort) -> bool {
        port.node_port.is_some() || !self.external_ips.is_empty() || !self.lb_ips.is_empty()
    }

    /// Endpoints of one IP family, ready ones only, sorted by the string "IP:port" as
    /// kube-proxy's endpoint slice cache sorts them.
    pub fn ready_endpoints(&self, v6: bool, target_port: u16) -> Vec<Endpoint> {
        let mut eps: Vec<Endpoint> = self
            .endpoints
            .iter()
            .filter(|e| e.ready && e.ip.is_ipv6() == v6)
            .cloned()
            .collect();
        eps.sort_by_key(|e| endpoint_string(e.ip, target_port));
        eps
    }
}

/// "IP:port" or "[v6]:port" (Go's `net.JoinHostPort`).
pub fn endpoint_string(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// An IP prefix such as `203.0.113.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

impl Cidr {
    /// Whether `ip` is inside the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let shift = 32 - u32::from(self.len.min(32));
                let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let shift = 128 - u32::from(self.len.min(128));
                let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Cidr> {
        let (a, l) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.parse().with_context(|| format!("bad address in {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = if l.is_empty() {
            max
        } else {
            l.parse()
                .with_context(|| format!("bad prefix length in {s:?}"))?
        };
        if len > max {
            bail!("prefix length {len} too long in {s:?}");
        }
        Ok(Cidr { addr, len })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// MetalLB layer-2 leader election (`ShouldAnnounce`): among `candidates` (speakers whose
/// advertisement selects them), keep only nodes with a ready endpoint when the policy is
/// Local, then order by sha256(node + "#" + first LB IP) and take the first. None when the
/// service has no ready endpoint at all (no speaker announces it).
pub fn elect_announcer(svc: &Service, candidates: &[String]) -> Option<String> {
    let lb = svc.lb_ips.first()?;
    if !svc.endpoints.iter().any(|e| e.ready) {
        return None;
    }
    let mut nodes: Vec<&String> = candidates
        .iter()
        .filter(|n| {
            svc.external_traffic_policy == TrafficPolicy::Cluster
                || svc.endpoints.iter().any(|e| e.ready && &e.node == *n)
        })
        .collect();
    nodes.sort_by_key(|n| metallb_election_key(n, &lb.to_string()));
    nodes.first().map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains() {
        let c: Cidr = "203.0.113.0/25".parse().expect("cidr");
        assert!(c.contains("203.0.113.9".parse().expect("ip")));
        assert!(!c.contains("203.0.113.200".parse().expect("ip")));
        let z: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(z.contains("198.51.100.1".parse().expect("ip")));
        let v6: Cidr = "fd00:10:244::/48".parse().expect("cidr");
        assert!(v6.contains("fd00:10:244:1::2".parse().expect("ip")));
        assert_eq!(v6.to_string(), "fd00:10:244::/48");
    }

    #[test]
    fn endpoints_sort_as_strings() {
        let svc = Service {
            namespace: "default".into(),
            name: "web".into(),
            cluster_ip: "10.96.0.10".parse().expect("ip"),
            external_ips: vec![],
            lb_ips: vec![],
            ports: vec![],
            endpoints: ["10.244.2.7", "10.244.10.3", "10.244.1.12"]
                .iter()
                .map(|ip| Endpoint {
                    ip: ip.parse().expect("ip"),
                    node: "n".into(),
                    ready: true,
                })
                .collect(),
            external_traffic_policy: TrafficPolicy::Cluster,
            lb_source_ranges: vec![],
            health_check_node_port: None,
        };
        let order: Vec<String> = svc
            .ready_endpoints(false, 8080)
            .iter()
            .map(|e| e.ip.to_string())
            .collect();
        assert_eq!(order, ["10.244.1.12", "10.244.10.3", "10.244.2.7"]);
    }
}
