//! The MetalLB layer-2 + kube-proxy lab: real namespaces, bridges, veths, rules and a
//! user-space ARP/NDP announcer, plus the fault injectors that break the path the ways users hit.

pub mod hash;
pub mod iptables;
pub mod model;
pub mod nftables;
