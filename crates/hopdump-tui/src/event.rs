//! What the trace tells the view, as plain serde data: the same values drive the live UI
//! (over a channel) and `hopdump-tui-replay` (one JSON object per line).

use serde::{Deserialize, Serialize};

/// One thing that happened during `hopdump trace`, in the order it happened.
///
/// JSON form (one per line in a replay file), externally tagged in snake_case:
/// `{"planned":{"title":"…","hops":[{"node":"client","iface":"eth0","role":"client"}]}}`,
/// `{"armed":{"window_ms":3000}}`, `{"counts":{"hop":0,"counts":{"forward":3,…}}}`,
/// `{"packet":{"hop":0,"line":"…"}}`,
/// `{"drop":{"node":"node1","iface":"eth0","reason":"NETFILTER_DROP","location":"…","count":1}}`,
/// `{"note":"…"}`, `{"verdict":{…hopdump.trace/v1…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TuiEvent {
    /// Path planned: title line (target, client, announcer) and hops in path order.
    Planned { title: String, hops: Vec<HopInfo> },
    /// Captures and drop tracing armed; the window ends in `window_ms`.
    Armed { window_ms: u64 },
    /// Per-hop counters now (absolute values, sent a few times a second).
    Counts { hop: usize, counts: HopCounters },
    /// One decoded packet line seen at a hop (tcpdump-style text), for the expanded view.
    Packet { hop: usize, line: String },
    /// A kernel drop as it happens. `count` is how many drops this event stands for (1 for
    /// one skb); the view adds them up per (node, iface, reason, location).
    Drop {
        node: String,
        iface: Option<String>,
        reason: String,
        location: String,
        count: u64,
    },
    /// A note (e.g. "probes: sent 6 TCP SYN", "conntrack read on node1", "agent node2
    /// unreachable").
    Note(String),
    /// The final report (verdict panel, per-hop evidence).
    Verdict(Box<hopdump_engine::TraceReport>),
}

/// One capture point of the path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopInfo {
    pub node: String,
    pub iface: String,
    /// `client`, `uplink`, `overlay`, `remote_uplink`, `pod_network`, `pod`.
    pub role: String,
}

impl HopInfo {
    /// `node/iface`, the form `verdict.hop` uses.
    pub fn name(&self) -> String {
        format!("{}/{}", self.node, self.iface)
    }
}

/// Packets counted at one hop (absolute values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopCounters {
    /// Toward the service (before or after DNAT).
    pub forward: u64,
    /// Of which larger than the small probes (MTU checks).
    pub forward_large: u64,
    /// The way back.
    pub replies: u64,
    pub rst: u64,
    /// ICMP unreachable or too-big about the traced flows.
    pub icmp: u64,
}

impl From<&hopdump_engine::Hop> for HopInfo {
    fn from(h: &hopdump_engine::Hop) -> HopInfo {
        HopInfo {
            node: h.node.clone(),
            iface: h.iface.clone(),
            role: h.role.name().to_string(),
        }
    }
}

impl From<&hopdump_engine::report::JsonHop> for HopInfo {
    fn from(h: &hopdump_engine::report::JsonHop) -> HopInfo {
        HopInfo {
            node: h.node.clone(),
            iface: h.iface.clone(),
            role: h.role.clone(),
        }
    }
}

impl From<&hopdump_engine::HopCounts> for HopCounters {
    fn from(c: &hopdump_engine::HopCounts) -> HopCounters {
        HopCounters {
            forward: u64::from(c.forward),
            forward_large: u64::from(c.forward_large),
            replies: u64::from(c.replies),
            rst: u64::from(c.rst),
            icmp: u64::from(c.icmp_unreachable) + u64::from(c.icmp_too_big),
        }
    }
}

impl From<&hopdump_engine::report::JsonSeen> for HopCounters {
    fn from(s: &hopdump_engine::report::JsonSeen) -> HopCounters {
        HopCounters {
            forward: u64::from(s.probes_in),
            forward_large: u64::from(s.probes_large),
            replies: u64::from(s.replies),
            rst: u64::from(s.rst),
            icmp: u64::from(s.icmp_unreachable) + u64::from(s.icmp_too_big),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_round_trip_through_their_json_lines() {
        let evs = vec![
            TuiEvent::Planned {
                title: "198.51.100.240:80/tcp".into(),
                hops: vec![HopInfo {
                    node: "client".into(),
                    iface: "eth0".into(),
                    role: "client".into(),
                }],
            },
            TuiEvent::Armed { window_ms: 3000 },
            TuiEvent::Counts {
                hop: 0,
                counts: HopCounters {
                    forward: 2,
                    ..Default::default()
                },
            },
            TuiEvent::Drop {
                node: "node1".into(),
                iface: None,
                reason: "NETFILTER_DROP".into(),
                location: "nf_hook_slow+0x9f".into(),
                count: 1,
            },
            TuiEvent::Note("probes: sent 6 TCP SYN".into()),
        ];
        for ev in evs {
            let line = serde_json::to_string(&ev).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<TuiEvent>(&line).unwrap(), ev);
        }
        assert_eq!(
            serde_json::to_string(&TuiEvent::Note("x".into())).unwrap(),
            r#"{"note":"x"}"#
        );
    }

    #[test]
    fn engine_hops_and_counts_convert() {
        let c = hopdump_engine::HopCounts {
            forward: 5,
            forward_large: 2,
            replies: 4,
            rst: 1,
            icmp_unreachable: 1,
            icmp_too_big: 2,
            ..Default::default()
        };
        assert_eq!(
            HopCounters::from(&c),
            HopCounters {
                forward: 5,
                forward_large: 2,
                replies: 4,
                rst: 1,
                icmp: 3
            }
        );
        let h = hopdump_engine::Hop {
            node: "node1".into(),
            iface: "cni0".into(),
            role: hopdump_engine::HopRole::PodNetwork,
            endpoint: None,
            counts: c,
            error: None,
        };
        assert_eq!(HopInfo::from(&h).name(), "node1/cni0");
        assert_eq!(HopInfo::from(&h).role, "pod_network");
    }
}
