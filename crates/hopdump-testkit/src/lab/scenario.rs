//! Named scenarios: a healthy lab in one of its variants, or the default lab with one fault
//! injected. The tests, the `up` command and the docs share this list.

use anyhow::{Result, bail};

use super::fault::{self, Fault, STALE_UDP_SPORT};
use super::kubeproxy::ProxyMode;
use super::topology::{Cluster, Cni, Overlay, Spec};
use crate::netns::Lab;

/// A scenario: a healthy variant or a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Healthy(Variant),
    Fault(Fault),
}

/// The healthy variants of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Two nodes, host-gw routes, cni0 bridges, kube-proxy iptables mode (iptables-nft).
    Default,
    /// flannel-style VXLAN overlay.
    Vxlan,
    /// kube-proxy nftables mode.
    Nftables,
    /// kube-proxy iptables mode through iptables-legacy.
    Legacy,
    /// IPv4 + IPv6 (the IPv6 LB IP answered by neighbour advertisements).
    DualStack,
    /// Calico-style routed pod interfaces.
    Calico,
}

const VARIANTS: [(Variant, &str, &str); 6] = [
    (
        Variant::Default,
        "healthy",
        "2 nodes, host-gw, cni0, kube-proxy iptables (nft backend)",
    ),
    (
        Variant::Vxlan,
        "healthy-vxlan",
        "flannel-style VXLAN overlay (flannel.1, MTU 1450)",
    ),
    (
        Variant::Nftables,
        "healthy-nftables",
        "kube-proxy nftables mode (table ip kube-proxy)",
    ),
    (
        Variant::Legacy,
        "healthy-legacy",
        "kube-proxy iptables mode through iptables-legacy",
    ),
    (
        Variant::DualStack,
        "healthy-dual-stack",
        "IPv4 + IPv6 LB IPs (ARP and NDP answered)",
    ),
    (
        Variant::Calico,
        "healthy-calico",
        "Calico-style routed cali* pod interfaces",
    ),
];

impl Scenario {
    /// Every scenario, healthy variants first.
    pub fn all() -> Vec<Scenario> {
        VARIANTS
            .iter()
            .map(|(v, _, _)| Scenario::Healthy(*v))
            .chain(Fault::ALL.into_iter().map(Scenario::Fault))
            .collect()
    }

    /// The name `up` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy(v) => VARIANTS
                .iter()
                .find(|(x, _, _)| *x == v)
                .map(|(_, n, _)| *n)
                .unwrap_or("healthy"),
            Scenario::Fault(f) => f.name(),
        }
    }

    /// One line for `list`.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Healthy(v) => VARIANTS
                .iter()
                .find(|(x, _, _)| *x == v)
                .map(|(_, _, d)| *d)
                .unwrap_or(""),
            Scenario::Fault(f) => f.describe(),
        }
    }

    /// Look a scenario up by name.
    pub fn from_name(name: &str) -> Result<Scenario> {
        match Scenario::all().into_iter().find(|s| s.name() == name) {
            Some(s) => Ok(s),
            None => bail!(
                "unknown scenario {name:?}; known: {}",
                Scenario::all()
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The lab spec for this scenario, on top of `base` (runner, logs).
    pub fn spec(self, base: Spec) -> Spec {
        match self {
            Scenario::Healthy(Variant::Default) => base,
            Scenario::Healthy(Variant::Vxlan) => Spec {
                overlay: Overlay::Vxlan,
                ..base
            },
            Scenario::Healthy(Variant::Nftables) => Spec {
                proxy_mode: ProxyMode::Nftables,
                ..base
            },
            Scenario::Healthy(Variant::Legacy) => Spec {
                proxy_mode: ProxyMode::IptablesLegacy,
                ..base
            },
            Scenario::Healthy(Variant::DualStack) => Spec {
                dual_stack: true,
                ..base
            },
            Scenario::Healthy(Variant::Calico) => Spec {
                cni: Cni::Calico,
                ..base
            },
            Scenario::Fault(f) => f.spec(base),
        }
    }

    /// Build the scenario in `lab` (and inject its fault).
    pub fn build(self, lab: Lab, base: Spec) -> Result<Cluster> {
        let mut c = Cluster::build_in(lab, self.spec(base))?;
        if let Scenario::Fault(f) = self {
            let a = f.inject(&mut c)?;
            if f == Fault::UdpConntrackStale {
                // Pin a flow, then move the service: the scenario is the broken state.
                let o = c.udp(
                    STALE_UDP_SPORT,
                    false,
                    b"pin",
                    std::time::Duration::from_secs(5),
                )?;
                if !o.is_ok() {
                    bail!("could not start the UDP flow to pin: {o:?}");
                }
                fault::udp_stale_move(&mut c, &a)?;
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let all = Scenario::all();
        for s in &all {
            assert_eq!(Scenario::from_name(s.name()).expect("known"), *s);
            assert!(!s.describe().is_empty());
        }
        let mut names: Vec<&str> = all.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(Scenario::from_name("nope").is_err());
    }
}
