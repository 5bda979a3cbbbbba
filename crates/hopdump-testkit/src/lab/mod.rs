//! The MetalLB layer-2 + kube-proxy lab: real namespaces, bridges, veths, rules and a
//! user-space ARP/NDP announcer, plus the fault injectors that break the path the ways users hit.

pub mod announcer;
pub mod backend;
pub mod cli;
pub mod fault;
pub mod hash;
pub mod iptables;
pub mod kubeproxy;
pub mod model;
pub mod netpol;
pub mod nftables;
pub mod offload;
pub mod probe;
pub mod scenario;
pub mod topology;

pub use kubeproxy::ProxyMode;
pub use probe::{Http, Outcome};
pub use topology::{Cluster, Cni, Overlay, Runner, Spec};
