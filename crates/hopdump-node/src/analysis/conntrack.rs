//! What conntrack entries mean for a LoadBalancer flow: where each was DNATed (the pod), whether
//! it was SNATed, and whether the pod is still an endpoint the rules would choose now — a stale
//! entry keeps sending a flow (typically UDP) to a pod that is gone. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::{Finding, Severity};
use crate::ctnetlink::{CtEntry, IPS_ASSURED, IPS_SEEN_REPLY, proto_name, tcp_state_name};

/// What the node's rules do now to a new flow with an entry's original tuple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Current {
    /// DNAT to these endpoints (IP, port when the rule names one).
    Dnat {
        endpoints: Vec<(IpAddr, Option<u16>)>,
    },
    /// No DNAT any more (no endpoints: REJECT/DROP, or no rule matches); the summary says which.
    NoDnat { summary: String },
    /// The rules could not be read or evaluated.
    Unknown { why: String },
}

/// The rules' answer for one (protocol, destination, port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceNow {
    pub proto: u8,
    pub dst: IpAddr,
    pub dport: u16,
    pub current: Current,
}

/// The entries plus what is needed to judge them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConntrackEvidence {
    pub entries: Vec<CtEntry>,
    pub services: Vec<ServiceNow>,
    /// nf_conntrack_acct: per-entry packet/byte counters are kept.
    pub accounting: bool,
    /// Timeout sysctls without the `nf_conntrack_` prefix (`udp_timeout_stream` → 120).
    pub timeouts: BTreeMap<String, u32>,
}

/// The judgement of one entry (same order as `ConntrackEvidence::entries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryVerdict {
    /// The pod (or backend) the flow was DNATed to, `IP:PORT`.
    pub dnat_to: Option<String>,
    /// The source the flow was SNATed/masqueraded to, `IP:PORT`.
    pub snat_to: Option<String>,
    pub stale: bool,
    pub stale_reason: Option<String>,
    /// How much traffic still follows the entry (counters, or the refreshed timeout).
    pub traffic: Option<String>,
    /// What the rules would choose now, `IP[:PORT]`.
    pub current_endpoints: Option<Vec<String>>,
}

/// `IP:PORT`, `[v6]:PORT` or `IP`.
pub fn endpoint_str(ip: IpAddr, port: Option<u16>) -> String {
    match (ip, port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    }
}

/// One line for an entry, in conntrack's order.
pub fn entry_line(e: &CtEntry) -> String {
    let t = |t: &crate::ctnetlink::Tuple| {
        format!(
            "{} -> {}",
            endpoint_str(t.src, t.sport),
            endpoint_str(t.dst, t.dport)
        )
    };
    format!(
        "{} {} reply {}",
        proto_name(e.orig.proto),
        t(&e.orig),
        t(&e.reply)
    )
}

/// The service lookup key of an entry's original direction.
pub fn service_key(e: &CtEntry) -> Option<(u8, IpAddr, u16)> {
    Some((e.orig.proto, e.orig.dst, e.orig.dport?))
}

/// The full timeout the entry's current state gets on each packet, when known.
fn full_timeout(ev: &ConntrackEvidence, e: &CtEntry) -> Option<u32> {
    let key = match e.orig.proto {
        17 if e.status & IPS_ASSURED != 0 => "udp_timeout_stream".to_string(),
        17 => "udp_timeout".to_string(),
        6 => format!(
            "tcp_timeout_{}",
            tcp_state_name(e.tcp_state?).to_ascii_lowercase()
        ),
        _ => return None,
    };
    ev.timeouts.get(&key).copied()
}

fn traffic(ev: &ConntrackEvidence, e: &CtEntry) -> Option<String> {
    if let (Some(o), Some(r)) = (e.counters_orig, e.counters_reply) {
        return Some(format!(
            "{} packets / {} bytes sent along it, {} packets / {} bytes back",
            o.packets, o.bytes, r.packets, r.bytes
        ));
    }
    let t = e.timeout?;
    Some(match full_timeout(ev, e) {
        Some(full) if full >= t => format!(
            "timeout {t}s of {full}s: the last packet was about {}s ago, and every new packet resets it, so the entry never expires while the client keeps sending (counters need net.netfilter.nf_conntrack_acct=1)",
            full - t
        ),
        _ => format!("expires in {t}s unless a packet refreshes it"),
    })
}

/// Judge every entry.
pub fn verdicts(ev: &ConntrackEvidence) -> Vec<EntryVerdict> {
    ev.entries
        .iter()
        .map(|e| {
            let dnat = e.dnat_to();
            let mut v = EntryVerdict {
                dnat_to: dnat.map(|(ip, p)| endpoint_str(ip, p)),
                snat_to: e.snat_to().map(|(ip, p)| endpoint_str(ip, p)),
                stale: false,
                stale_reason: None,
                traffic: None,
                current_endpoints: None,
            };
            let Some((ip, port)) = dnat else {
                return v;
            };
            let Some(key) = service_key(e) else {
                return v;
            };
            let Some(now) = ev
                .services
                .iter()
                .find(|s| (s.proto, s.dst, s.dport) == key)
            else {
                return v;
            };
            match &now.current {
                Current::Dnat { endpoints } => {
                    v.current_endpoints = Some(
                        endpoints
                            .iter()
                            .map(|(i, p)| endpoint_str(*i, *p))
                            .collect(),
                    );
                    let live = endpoints
                        .iter()
                        .any(|(i, p)| *i == ip && (p.is_none() || *p == port));
                    if !live {
                        v.stale = true;
                        v.stale_reason = Some(format!(
                            "DNAT target {} is not a current endpoint of {}/{} (the rules now choose {})",
                            endpoint_str(ip, port),
                            endpoint_str(key.1, Some(key.2)),
                            proto_name(key.0),
                            v.current_endpoints
                                .as_ref()
                                .map(|c| c.join(", "))
                                .unwrap_or_default()
                        ));
                    }
                }
                Current::NoDnat { summary } => {
                    v.stale = true;
                    v.stale_reason = Some(format!(
                        "DNAT target {} is not a current endpoint: the rules no longer DNAT {}/{} ({summary})",
                        endpoint_str(ip, port),
                        endpoint_str(key.1, Some(key.2)),
                        proto_name(key.0)
                    ));
                    v.current_endpoints = Some(Vec::new());
                }
                Current::Unknown { .. } => {}
            }
            if v.stale {
                v.traffic = traffic(ev, e);
            }
            v
        })
        .collect()
}

/// Findings: stale entries (problems), DNATed entries the pod never answered (warnings), and
/// services whose rules could not be evaluated (info).
pub fn findings(ev: &ConntrackEvidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for (e, v) in ev.entries.iter().zip(verdicts(ev)) {
        if v.stale {
            let mut msg = format!(
                "stale conntrack entry {}: {}",
                entry_line(e),
                v.stale_reason.clone().unwrap_or_default()
            );
            if let Some(t) = &v.traffic {
                msg.push_str(&format!("; still followed: {t}"));
            }
            msg.push_str(". Delete it (hopdump conntrack --delete --yes with the same filter) so the next packet is balanced to a live endpoint");
            let mut f = Finding::new("stale_entry", Severity::Problem, msg);
            f.evidence.push(entry_line(e));
            out.push(f);
        } else if let Some(d) = &v.dnat_to
            && e.status & IPS_SEEN_REPLY == 0
        {
            let mut f = Finding::new(
                "unreplied",
                Severity::Warning,
                format!(
                    "{} was DNATed to {d}, which has not answered (yet): the pod is not listening, or the path to it or back is broken",
                    entry_line(e)
                ),
            );
            f.evidence.push(entry_line(e));
            out.push(f);
        }
    }
    for s in &ev.services {
        if let Current::Unknown { why } = &s.current {
            out.push(Finding::new(
                "endpoints_unknown",
                Severity::Info,
                format!(
                    "cannot tell whether entries to {}/{} are stale: {why}",
                    endpoint_str(s.dst, Some(s.dport)),
                    proto_name(s.proto)
                ),
            ));
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctnetlink::{Counters, Tuple};

    fn entry(pod: &str, status: u32, timeout: u32) -> CtEntry {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        CtEntry {
            family: 2,
            orig: Tuple {
                src: ip("198.51.100.10"),
                dst: ip("198.51.100.240"),
                proto: 17,
                sport: Some(40001),
                dport: Some(9000),
                icmp: None,
            },
            reply: Tuple {
                src: ip(pod),
                dst: ip("198.51.100.11"),
                proto: 17,
                sport: Some(9000),
                dport: Some(40001),
                icmp: None,
            },
            status,
            tcp_state: None,
            timeout: Some(timeout),
            mark: Some(0),
            zone: 0,
            id: Some(1),
            use_count: Some(1),
            counters_orig: None,
            counters_reply: None,
        }
    }

    fn evidence(entries: Vec<CtEntry>, current: Current) -> ConntrackEvidence {
        let mut timeouts = BTreeMap::new();
        timeouts.insert("udp_timeout_stream".to_string(), 120);
        timeouts.insert("udp_timeout".to_string(), 30);
        ConntrackEvidence {
            entries,
            services: vec![ServiceNow {
                proto: 17,
                dst: "198.51.100.240".parse().unwrap(),
                dport: 9000,
                current,
            }],
            accounting: false,
            timeouts,
        }
    }

    fn live(ip: &str) -> Current {
        Current::Dnat {
            endpoints: vec![(ip.parse().unwrap(), Some(9000))],
        }
    }

    #[test]
    fn entry_to_a_current_endpoint_is_not_stale() {
        let ev = evidence(vec![entry("10.244.1.2", 0x1be, 110)], live("10.244.1.2"));
        let v = verdicts(&ev);
        assert_eq!(v[0].dnat_to.as_deref(), Some("10.244.1.2:9000"));
        assert_eq!(v[0].snat_to.as_deref(), Some("198.51.100.11:40001"));
        assert!(!v[0].stale);
        assert!(findings(&ev).is_empty());
    }

    #[test]
    fn entry_to_a_removed_pod_is_stale_with_the_refreshed_timeout() {
        let ev = evidence(vec![entry("10.244.2.2", 0x1be, 117)], live("10.244.1.2"));
        let v = verdicts(&ev);
        assert!(v[0].stale);
        let r = v[0].stale_reason.as_deref().unwrap();
        assert!(
            r.contains("10.244.2.2:9000 is not a current endpoint"),
            "{r}"
        );
        assert!(r.contains("now choose 10.244.1.2:9000"), "{r}");
        assert!(
            v[0].traffic
                .as_deref()
                .unwrap()
                .contains("timeout 117s of 120s: the last packet was about 3s ago")
        );
        let f = findings(&ev);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "stale_entry");
        assert!(super::super::has_problem(&f));
    }

    #[test]
    fn counters_are_preferred_and_no_endpoints_is_stale() {
        let mut e = entry("10.244.2.2", 0x1be, 117);
        e.counters_orig = Some(Counters {
            packets: 5,
            bytes: 200,
        });
        e.counters_reply = Some(Counters {
            packets: 1,
            bytes: 40,
        });
        let ev = evidence(
            vec![e],
            Current::NoDnat {
                summary: "REJECT: default/web:echo has no endpoints".into(),
            },
        );
        let v = verdicts(&ev);
        assert!(v[0].stale);
        assert!(
            v[0].stale_reason
                .as_deref()
                .unwrap()
                .contains("no longer DNAT")
        );
        assert_eq!(
            v[0].traffic.as_deref(),
            Some("5 packets / 200 bytes sent along it, 1 packets / 40 bytes back")
        );
    }

    #[test]
    fn unknown_rules_never_claim_stale_and_unreplied_is_a_warning() {
        let ev = evidence(
            vec![entry("10.244.2.2", 0x1b8, 25)],
            Current::Unknown {
                why: "no iptables".into(),
            },
        );
        assert!(!verdicts(&ev)[0].stale);
        let f = findings(&ev);
        let codes: Vec<_> = f.iter().map(|f| f.code).collect();
        assert_eq!(codes, vec!["unreplied", "endpoints_unknown"]);
        assert!(!super::super::has_problem(&f));
    }

    #[test]
    fn undnated_entries_have_no_verdict() {
        let mut e = entry("198.51.100.240", 0xa, 30);
        e.reply.dst = e.orig.src;
        let ev = evidence(vec![e], live("10.244.1.2"));
        let v = verdicts(&ev);
        assert_eq!(v[0].dnat_to, None);
        assert_eq!(v[0].snat_to, None);
        assert!(!v[0].stale);
    }
}
