//! Programming a lab node the way kube-proxy does: the generated iptables restore input or
//! nftables transaction, loaded with the real tools inside the node's namespace.

use anyhow::Result;

use super::iptables::{self, ProxyConfig};
use super::model::Service;
use super::nftables;
use crate::netns::Lab;

/// Which backend kube-proxy uses on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// `--proxy-mode=iptables` through iptables-nft (Debian's default iptables).
    IptablesNft,
    /// `--proxy-mode=iptables` through iptables-legacy (x_tables).
    IptablesLegacy,
    /// `--proxy-mode=nftables` (`table ip kube-proxy`).
    Nftables,
}

impl ProxyMode {
    /// The restore command of an iptables mode for a family.
    pub fn restore_cmd(self, v6: bool) -> &'static str {
        match (self, v6) {
            (ProxyMode::IptablesLegacy, false) => "iptables-legacy-restore",
            (ProxyMode::IptablesLegacy, true) => "ip6tables-legacy-restore",
            (_, false) => "iptables-nft-restore",
            (_, true) => "ip6tables-nft-restore",
        }
    }

    /// The save command of an iptables mode for a family.
    pub fn save_cmd(self, v6: bool) -> &'static str {
        match (self, v6) {
            (ProxyMode::IptablesLegacy, false) => "iptables-legacy-save",
            (ProxyMode::IptablesLegacy, true) => "ip6tables-legacy-save",
            (_, false) => "iptables-nft-save",
            (_, true) => "ip6tables-nft-save",
        }
    }

    /// Short name used by the CLI and in documentation.
    pub fn name(self) -> &'static str {
        match self {
            ProxyMode::IptablesNft => "iptables",
            ProxyMode::IptablesLegacy => "iptables-legacy",
            ProxyMode::Nftables => "nftables",
        }
    }
}

/// Write kube-proxy's rules for `services` into node `node_short`, one config per IP family.
/// `first` writes whole tables (built-in chain jumps included, like a fresh node after
/// kube-proxy and kubelet started); later syncs rewrite only kube-proxy's chains
/// (`--noflush`), leaving any host firewall rules in place, as kube-proxy does.
pub fn program(
    lab: &Lab,
    node_short: &str,
    mode: ProxyMode,
    services: &[Service],
    configs: &[ProxyConfig],
    first: bool,
) -> Result<()> {
    for cfg in configs {
        let v6 = cfg.node_ips.first().is_some_and(|ip| ip.is_ipv6());
        match mode {
            ProxyMode::Nftables => {
                let family = if v6 { "ip6" } else { "ip" };
                let script = nftables::generate(services, cfg).text(true, family);
                lab.exec_stdin(node_short, &["nft", "-f", "-"], Some(&script))?;
            }
            _ => {
                let mut cfg = cfg.clone();
                cfg.full_node = first;
                let input = iptables::generate(services, &cfg).restore_input();
                let cmd = mode.restore_cmd(v6);
                if first {
                    lab.exec_stdin(node_short, &[cmd], Some(&input))?;
                } else {
                    lab.exec_stdin(node_short, &[cmd, "--noflush"], Some(&input))?;
                }
            }
        }
    }
    Ok(())
}

/// Remove every kube-proxy rule from a node (kube-proxy never ran there, or crashed and the
/// node's tables were reset).
pub fn unprogram(lab: &Lab, node_short: &str, mode: ProxyMode, dual_stack: bool) -> Result<()> {
    let families: &[bool] = if dual_stack { &[false, true] } else { &[false] };
    for &v6 in families {
        match mode {
            ProxyMode::Nftables => {
                let family = if v6 { "ip6" } else { "ip" };
                let script =
                    format!("add table {family} kube-proxy\ndelete table {family} kube-proxy\n");
                lab.exec_stdin(node_short, &["nft", "-f", "-"], Some(&script))?;
            }
            _ => {
                let empty = "*filter\nCOMMIT\n*nat\nCOMMIT\n*mangle\nCOMMIT\n";
                lab.exec_stdin(node_short, &[mode.restore_cmd(v6)], Some(empty))?;
            }
        }
    }
    Ok(())
}
