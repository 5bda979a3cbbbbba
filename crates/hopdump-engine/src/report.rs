//! The `hopdump trace --json` document, schema `hopdump.trace/v1`: its own types, separate
//! from the evidence structs, so the internal model can change without breaking readers.
//!
//! ```json
//! {"schema": "hopdump.trace/v1",
//!  "target": {"ip": "198.51.100.240", "port": 80, "proto": "tcp"},
//!  "client": "198.51.100.10",
//!  "announcer": {"node": "node1", "mac": "02:6e:00:00:00:01"},
//!  "arp_responders": [{"mac": "02:6e:00:00:00:01", "node": "node1", "frames": 2}],
//!  "endpoints": [{"ip": "10.244.2.2", "port": 8080, "node": "node2", "netns": "…", "exists": true}],
//!  "hops": [{"node": "client", "iface": "eth0", "role": "client", "endpoint": null, "error": null,
//!            "seen": {"probes_in": 12, "probes_large": 2, "dnat": 0, "replies": 12, "replies_large": 2,
//!                     "replies_un_nated": 0, "rst": 0, "icmp_unreachable": 0, "icmp_too_big": 0}}],
//!  "probes": [{"kind": "tcp_small", "sport": 41234, "result": "ok", "detail": "…", "ms": 3}],
//!  "drops": [{"node": "node1", "iface": "eth0", "reason": "NETFILTER_DROP", "location": "…", "packet": "…", "count": 3}],
//!  "verdict": {"code": "ok", "node": null, "hop": null, "summary": "…", "evidence": ["…"], "next_steps": []},
//!  "findings": [],
//!  "missing": [],
//!  "started_unix_ms": 1700000000000,
//!  "duration_ms": 2400}
//! ```
//!
//! Field meanings:
//! - `verdict.code`: one of `ok no_arp_reply arp_conflict not_reaching_node no_service_rule
//!   no_endpoints no_local_endpoints source_range_blocked firewall_drop network_policy_drop
//!   cni_routing endpoint_unreachable mtu_mismatch stale_conntrack pod_not_listening
//!   pod_not_responding reply_path_broken rp_filter_drop inconclusive`.
//! - `verdict.node`: the node where the fault is; null when it is not on a node (ARP).
//! - `verdict.hop`: `node/iface` where the packets were last seen or died.
//! - `hops`: in path order; `seen` counts the probe and watched packets at that hop
//!   (forward = toward the service, before or after DNAT; replies = the way back).
//! - `findings`: further problems, same shape as `verdict`.
//!
//! Additive changes keep `v1`; removing or renaming a field makes `v2`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::diagnose::Finding;
use crate::evidence::{Evidence, Hop};

/// Version of the `--json` document.
pub const TRACE_SCHEMA: &str = "hopdump.trace/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceReport {
    /// Always [`TRACE_SCHEMA`].
    pub schema: String,
    pub target: JsonTarget,
    /// The client's address (probes' source), when known.
    pub client: Option<IpAddr>,
    /// The node that answered ARP for the LB IP (null: nobody, or an unknown MAC).
    pub announcer: Option<JsonAnnouncer>,
    pub arp_responders: Vec<JsonResponder>,
    pub endpoints: Vec<JsonEndpoint>,
    pub hops: Vec<JsonHop>,
    pub probes: Vec<JsonProbe>,
    pub drops: Vec<JsonDrop>,
    pub verdict: JsonFinding,
    pub findings: Vec<JsonFinding>,
    /// What could not be observed.
    pub missing: Vec<String>,
    pub started_unix_ms: u64,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonTarget {
    pub ip: IpAddr,
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonAnnouncer {
    pub node: Option<String>,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonResponder {
    pub mac: String,
    pub node: Option<String>,
    pub frames: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonEndpoint {
    pub ip: IpAddr,
    pub port: u16,
    pub node: Option<String>,
    pub netns: Option<String>,
    pub exists: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSeen {
    pub probes_in: u32,
    pub probes_large: u32,
    pub dnat: u32,
    pub replies: u32,
    pub replies_large: u32,
    pub replies_un_nated: u32,
    pub rst: u32,
    pub icmp_unreachable: u32,
    pub icmp_too_big: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonHop {
    pub node: String,
    pub iface: String,
    /// `client`, `uplink`, `overlay`, `remote_uplink`, `pod_network`, `pod`.
    pub role: String,
    pub endpoint: Option<IpAddr>,
    pub seen: JsonSeen,
    /// Why the hop could not be captured.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonProbe {
    /// `tcp_small`, `tcp_large`, `udp_small`, `udp_large`.
    pub kind: String,
    pub sport: u16,
    /// `ok`, `refused`, `reset`, `timeout`, `error`.
    pub result: String,
    pub detail: String,
    pub ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonDrop {
    pub node: String,
    pub iface: Option<String>,
    pub reason: String,
    pub location: String,
    pub packet: String,
    pub count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFinding {
    pub code: String,
    pub node: Option<String>,
    pub hop: Option<String>,
    pub summary: String,
    pub evidence: Vec<String>,
    pub next_steps: Vec<String>,
}

impl From<&Finding> for JsonFinding {
    fn from(f: &Finding) -> JsonFinding {
        JsonFinding {
            code: f.code.as_str().to_string(),
            node: f.node.clone(),
            hop: f.hop.clone(),
            summary: f.summary.clone(),
            evidence: f.evidence.clone(),
            next_steps: f.next_steps.clone(),
        }
    }
}

fn hop(h: &Hop) -> JsonHop {
    let c = &h.counts;
    JsonHop {
        node: h.node.clone(),
        iface: h.iface.clone(),
        role: h.role.name().to_string(),
        endpoint: h.endpoint,
        seen: JsonSeen {
            probes_in: c.forward,
            probes_large: c.forward_large,
            dnat: c.forward_dnat,
            replies: c.replies,
            replies_large: c.replies_large,
            replies_un_nated: c.replies_un_nated,
            rst: c.rst,
            icmp_unreachable: c.icmp_unreachable,
            icmp_too_big: c.icmp_too_big,
        },
        error: h.error.clone(),
    }
}

impl TraceReport {
    /// Shape the report from the evidence and the diagnosis.
    pub fn build(ev: &Evidence, verdict: &Finding, findings: &[Finding]) -> Option<TraceReport> {
        let t = ev.target?;
        let announcer = ev
            .arp
            .responders
            .iter()
            .find(|r| r.node.is_some() && r.node == ev.announcer);
        Some(TraceReport {
            schema: TRACE_SCHEMA.to_string(),
            target: JsonTarget {
                ip: t.ip,
                port: t.port,
                proto: t.proto.name().to_string(),
            },
            client: ev.client,
            announcer: announcer.map(|r| JsonAnnouncer {
                node: r.node.clone(),
                mac: r.mac.clone(),
            }),
            arp_responders: ev
                .arp
                .responders
                .iter()
                .map(|r| JsonResponder {
                    mac: r.mac.clone(),
                    node: r.node.clone(),
                    frames: r.frames,
                })
                .collect(),
            endpoints: ev
                .endpoints
                .iter()
                .map(|e| JsonEndpoint {
                    ip: e.addr,
                    port: e.port,
                    node: e.node.clone(),
                    netns: e.pod_netns.clone(),
                    exists: e.exists,
                })
                .collect(),
            hops: ev.hops.iter().map(hop).collect(),
            probes: ev
                .probes
                .iter()
                .map(|p| JsonProbe {
                    kind: p.kind.name().to_string(),
                    sport: p.sport,
                    result: p.result.name().to_string(),
                    detail: p.detail.clone(),
                    ms: p.ms,
                })
                .collect(),
            drops: ev
                .drops
                .iter()
                .map(|d| JsonDrop {
                    node: d.node.clone(),
                    iface: d.iface.clone(),
                    reason: d.reason.clone(),
                    location: d.location.clone(),
                    packet: d.packet.clone(),
                    count: d.count,
                })
                .collect(),
            verdict: verdict.into(),
            findings: findings.iter().map(JsonFinding::from).collect(),
            missing: ev.missing.clone(),
            started_unix_ms: ev.started_unix_ms,
            duration_ms: ev.duration_ms,
        })
    }
}
