//! What `trace` observed, as plain data: the target, who answered ARP, each node's rules and
//! kernel state, the packets counted at every hop, the kernel's drops and the probes' fates.
//! The binary fills these; the engine only reads them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Transport of the traced service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// The LoadBalancer address being traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub ip: IpAddr,
    pub port: u16,
    pub proto: Proto,
}

/// One MAC that answered ARP / neighbour discovery for the LB IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpResponder {
    pub mac: String,
    /// The `--node` whose interface has this MAC.
    pub node: Option<String>,
    pub iface: Option<String>,
    /// Replies plus announcements seen.
    pub frames: u32,
}

/// The ARP step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpObs {
    /// An active ARP/NDP probe ran (false: no client to ask from).
    pub asked: bool,
    pub requests: u32,
    pub responders: Vec<ArpResponder>,
    /// The client's neighbour entry for the LB IP before probing (MAC), when it had one.
    pub cached_mac: Option<String>,
}

/// How a branch of the rule walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    Dnat,
    Accept,
    Drop,
    Reject,
    NoMatch,
}

/// The rule that stopped a packet (or the last one it hit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleLine {
    /// `iptables-nft filter/FORWARD rule 1: -A FORWARD ... -j DROP`.
    pub text: String,
    /// Owner kind from hopdump-rules: kube-proxy, calico, kube-router, cilium, antrea,
    /// host-firewall, ...
    pub owner: String,
    pub meaning: Option<String>,
    /// Why kube-proxy stopped it, as the rules themselves say (hopdump-rules' `Cause`).
    pub cause: Option<StopCause>,
}

/// kube-proxy's reasons to stop a flow, read from its rules by hopdump-rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopCause {
    NoEndpoints,
    NoLocalEndpoints,
    SourceRangeBlocked,
    InvalidClusterIp,
}

/// One DNAT target and what the node's rules then do with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleTarget {
    pub addr: IpAddr,
    pub port: u16,
    pub probability: f64,
    /// `local`, `forwarded`, `dropped`, `rejected`.
    pub fate: String,
    /// The rule that dropped or rejected it, if one did.
    pub stop: Option<RuleLine>,
}

/// `rules explain` of one flow on one node, reduced to what the checks need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesEvidence {
    /// The flow explained, `src:sport > dst:dport/proto`.
    pub flow: String,
    pub outcome: RuleOutcome,
    pub summary: String,
    pub targets: Vec<RuleTarget>,
    /// The rule that dropped/rejected the most likely branch.
    pub stop: Option<RuleLine>,
    /// The most likely path, one line per rule hit.
    pub path: Vec<String>,
    pub masquerade: bool,
    pub certain: bool,
}

/// One conntrack entry for the service on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtObs {
    /// conntrack -L style line.
    pub line: String,
    pub client: IpAddr,
    pub client_port: u16,
    /// Where the entry sends the flow (reply tuple source).
    pub to: IpAddr,
    pub to_port: u16,
    pub udp: bool,
    /// The entry has seen a reply.
    pub replied: bool,
}

/// A node's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeEvidence {
    pub name: String,
    /// Its uplink (the interface that answers on the client's segment).
    pub uplink: Option<String>,
    /// The LB flow explained on this node (absent when rules could not be read).
    pub rules: Option<RulesEvidence>,
    /// The flow after DNAT as it arrives here from another node (endpoint nodes).
    pub endpoint_rules: Option<RulesEvidence>,
    /// Effective rp_filter of the uplink (max of `all` and the interface).
    pub rp_filter: Option<u32>,
    /// Interface the node routes replies to the client through.
    pub route_to_client: Option<String>,
    /// (interface, MTU) of the interfaces on the path.
    pub mtus: Vec<(String, u32)>,
    /// Conntrack entries of the LB IP:port.
    pub conntrack: Vec<CtObs>,
    /// How the node routes each endpoint: (address, `dev X [via Y]` or the error).
    pub routes: Vec<(IpAddr, String)>,
    /// What could not be read here.
    pub notes: Vec<String>,
    /// Why nothing could be observed on this node (its agent down, slow or refusing):
    /// its hops carry the error and no verdict may rest on what was not seen there.
    #[serde(default)]
    pub unobserved: Option<String>,
}

/// One endpoint of the service (a DNAT target) and where it lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointEvidence {
    pub addr: IpAddr,
    pub port: u16,
    /// The node whose routes deliver it locally (pod CIDR on cni0 / a pod veth).
    pub node: Option<String>,
    /// The network namespace holding the address, when one was found.
    pub pod_netns: Option<String>,
    /// An interface somewhere holds this address.
    pub exists: bool,
}

/// What a hop is on the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopRole {
    /// The client's NIC.
    Client,
    /// The announcing node's uplink.
    Uplink,
    /// An overlay device (flannel.1, vxlan, tunl0).
    Overlay,
    /// The endpoint node's uplink (when it is another node).
    RemoteUplink,
    /// cni0 or the pod's host-side veth.
    PodNetwork,
    /// Inside the pod.
    Pod,
}

impl HopRole {
    pub fn name(self) -> &'static str {
        match self {
            HopRole::Client => "client",
            HopRole::Uplink => "uplink",
            HopRole::Overlay => "overlay",
            HopRole::RemoteUplink => "remote_uplink",
            HopRole::PodNetwork => "pod_network",
            HopRole::Pod => "pod",
        }
    }
}

/// Packets counted at one hop. "Forward" is client to service (before DNAT: to the LB IP;
/// after: to the endpoint); "reply" is the way back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopCounts {
    pub forward: u32,
    /// Forward packets larger than 1200 bytes on the wire.
    pub forward_large: u32,
    /// Forward packets already DNATed (to an endpoint).
    pub forward_dnat: u32,
    pub replies: u32,
    pub replies_large: u32,
    /// Replies from an endpoint address straight to the client (not un-NATed).
    pub replies_un_nated: u32,
    /// TCP resets in the reply direction.
    pub rst: u32,
    /// ICMP / ICMPv6 destination unreachable (port/admin/host) about our flows.
    pub icmp_unreachable: u32,
    /// ICMP fragmentation needed / packet too big.
    pub icmp_too_big: u32,
    /// The first few packets, tcpdump style.
    pub sample: Vec<String>,
}

/// One capture point on the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub node: String,
    pub iface: String,
    pub role: HopRole,
    /// The endpoint this hop leads to (pod hops).
    pub endpoint: Option<IpAddr>,
    pub counts: HopCounts,
    /// The hop could not be captured (and why).
    pub error: Option<String>,
}

/// A packet the kernel dropped on a node, matched to the traced flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropObs {
    pub node: String,
    pub iface: Option<String>,
    pub reason: String,
    pub location: String,
    /// tcpdump-style summary of the dropped packet.
    pub packet: String,
    /// How many drops share node, iface, reason and location.
    pub count: u32,
}

/// What a probe was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// TCP connect and a small request.
    TcpSmall,
    /// TCP connect and full-size segments (DF).
    TcpLarge,
    /// A small UDP datagram.
    UdpSmall,
    /// A full-size UDP datagram with DF.
    UdpLarge,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::TcpSmall => "tcp_small",
            ProbeKind::TcpLarge => "tcp_large",
            ProbeKind::UdpSmall => "udp_small",
            ProbeKind::UdpLarge => "udp_large",
        }
    }

    pub fn large(self) -> bool {
        matches!(self, ProbeKind::TcpLarge | ProbeKind::UdpLarge)
    }
}

/// How a probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeResult {
    /// Answered.
    Ok,
    /// Connection refused (RST to the SYN, ICMP port unreachable).
    Refused,
    /// Connected, then reset or closed without an answer.
    Reset,
    Timeout,
    /// A local error (no route, ...).
    Error,
}

impl ProbeResult {
    pub fn name(self) -> &'static str {
        match self {
            ProbeResult::Ok => "ok",
            ProbeResult::Refused => "refused",
            ProbeResult::Reset => "reset",
            ProbeResult::Timeout => "timeout",
            ProbeResult::Error => "error",
        }
    }
}

/// One probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub kind: ProbeKind,
    /// Client source port.
    pub sport: u16,
    pub result: ProbeResult,
    /// The answer's first line, or the error.
    pub detail: String,
    pub ms: u64,
}

/// A flow to the LB IP:port that was not ours, watched during the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedFlow {
    pub client: IpAddr,
    pub sport: u16,
    /// Packets from the client seen at the client's hop or the announcer's uplink.
    pub forward: u32,
    /// Replies seen toward the client.
    pub replies: u32,
}

/// Everything one trace gathered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub target: Option<Target>,
    /// The client's address on the LB's segment.
    pub client: Option<IpAddr>,
    pub arp: ArpObs,
    /// The node that answers for the LB IP (the first responder mapped to a node).
    pub announcer: Option<String>,
    pub nodes: Vec<NodeEvidence>,
    pub endpoints: Vec<EndpointEvidence>,
    pub hops: Vec<Hop>,
    pub drops: Vec<DropObs>,
    /// Probes were sent (false with `--no-probe`).
    pub probed: bool,
    pub probes: Vec<Probe>,
    pub watched: Vec<WatchedFlow>,
    /// What could not be observed, and how to get it.
    pub missing: Vec<String>,
    /// When the observation started, ms since the Unix epoch (passed in).
    pub started_unix_ms: u64,
    pub duration_ms: u64,
}

impl Evidence {
    pub fn node(&self, name: &str) -> Option<&NodeEvidence> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn hops_with(&self, role: HopRole) -> impl Iterator<Item = &Hop> {
        self.hops.iter().filter(move |h| h.role == role)
    }

    /// Sum of a count over the hops of one role.
    pub fn count(&self, role: HopRole, f: impl Fn(&HopCounts) -> u32) -> u32 {
        self.hops_with(role).map(|h| f(&h.counts)).sum()
    }

    /// Whether a hop of this role was captured at all.
    pub fn has_hop(&self, role: HopRole) -> bool {
        self.hops_with(role).any(|h| h.error.is_none())
    }

    pub fn probes_of(&self, large: bool) -> impl Iterator<Item = &Probe> {
        self.probes.iter().filter(move |p| p.kind.large() == large)
    }

    /// The drops on one node.
    pub fn drops_on<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a DropObs> {
        self.drops.iter().filter(move |d| d.node == node)
    }
}
