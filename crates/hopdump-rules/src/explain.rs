//! The answer for one flow: the outcome (DNAT to which endpoints with what probability, ACCEPT,
//! DROP, REJECT, no match), the path of rule hits, and what could not be evaluated — as plain,
//! versioned, serialisable data that the CLI renders and `trace` reuses.

use serde::Serialize;

use crate::flow::{Flow, NodeContext};
use crate::walk::{Branch, Cause, Fate, Hit, NodeRules};

/// Version of the `--json` document.
pub const EXPLAIN_SCHEMA: &str = "hopdump.rules.explain/1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Dnat,
    Accept,
    Drop,
    Reject,
    NoMatch,
}

/// One endpoint the flow may be DNATed to.
#[derive(Clone, Debug, Serialize)]
pub struct TargetShare {
    pub addr: String,
    pub probability: f64,
    /// What then happens to packets sent there.
    pub fate: Fate,
}

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// One sentence for a person.
    pub summary: String,
    pub targets: Vec<TargetShare>,
    /// Probability that the packet is dropped or rejected on this node.
    pub lost_probability: f64,
    /// Why kube-proxy stops the flow, when it does (on the first branch that is lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    pub masquerade: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub schema: &'static str,
    pub flow: Flow,
    pub outcome: Outcome,
    /// The rule hits of the most likely path.
    pub path: Vec<Hit>,
    /// Every path the packet may take.
    pub branches: Vec<Branch>,
    /// False when some match could not be evaluated (see each branch's assumptions).
    pub certain: bool,
    pub warnings: Vec<String>,
}

fn pct(p: f64) -> String {
    let v = p * 100.0;
    if (v - v.round()).abs() < 0.05 {
        format!("{:.0}%", v)
    } else {
        format!("{:.1}%", v)
    }
}

/// A flow nothing translates, in a rule set without a single kube-proxy chain: before "no
/// match" is read as the fault, say that Services may live outside netfilter here.
fn no_kube_proxy(rules: &NodeRules, kind: OutcomeKind) -> Option<String> {
    if !matches!(kind, OutcomeKind::NoMatch | OutcomeKind::Accept) {
        return None;
    }
    let owners = rules.owner_kinds();
    if owners.is_empty() || rules.has_kube_proxy_services() {
        return None;
    }
    Some(if owners.contains("cilium") {
        "no kube-proxy rules here, only Cilium's: with Cilium's kube-proxy replacement Services are translated in BPF (tc/XDP on the NIC) before netfilter, where this walk cannot see them — `cilium-dbg service list` (in the node's cilium pod) shows them".into()
    } else {
        "no kube-proxy rules in this rule set: kube-proxy is not running on this node, or Services are handled outside netfilter (Calico's eBPF data plane, Cilium) — a missing rule is the fault only if kube-proxy should be here".into()
    })
}

/// What the rules say about where a branch stopped: the meaning and cause of the last hit, or
/// of a hit just before it from the same owner (nft verdict maps carry them on the map lookup,
/// one hit before the helper chain that rejects).
pub fn stop_reason(path: &[Hit]) -> (Option<&str>, Option<Cause>) {
    let Some(last) = path.last() else {
        return (None, None);
    };
    let same_owner = || {
        path.iter()
            .rev()
            .take(3)
            .filter(|h| h.owner.kind == last.owner.kind)
    };
    (
        same_owner().find_map(|h| h.meaning.as_deref()),
        same_owner().find_map(|h| h.cause),
    )
}

/// Where a branch stopped, in words.
fn describe_stop(path: &[Hit]) -> String {
    let (meaning, _) = stop_reason(path);
    match path.last() {
        Some(h) => {
            let who = match &h.owner.service {
                Some(s) => format!("{} ({s})", h.owner.kind),
                None => h.owner.kind.to_string(),
            };
            let mut s = format!(
                "{who} in {} {}/{} rule {}",
                h.source, h.table, h.chain, h.rule
            );
            if let Some(m) = meaning {
                s.push_str(&format!(": {m}"));
            }
            s
        }
        None => "an unknown rule".into(),
    }
}

/// Walk `flow` through `rules` and summarise.
pub fn explain(rules: &NodeRules, flow: &Flow, ctx: &NodeContext) -> Explanation {
    let all = rules.walk(flow, ctx);
    let certain = all.iter().all(|b| b.assumptions.is_empty());
    // Branches the walk's budget stopped have no known fate: the outcome is made from the
    // others (they stay in `branches`, marked `cut`, and a warning says how many).
    let cut = all.iter().filter(|b| b.cut).count();
    let known: Vec<&crate::walk::Branch> = all.iter().filter(|b| !b.cut).collect();
    let branches = &known;
    let lost: f64 = branches
        .iter()
        .filter(|b| matches!(b.fate, Fate::Dropped | Fate::Rejected))
        .map(|b| b.probability)
        .sum();
    let total: f64 = branches
        .iter()
        .map(|b| b.probability)
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    let mut targets: Vec<TargetShare> = Vec::new();
    for b in branches.iter().filter(|b| b.dnat_to.is_some()) {
        let addr = b.dnat_to.clone().unwrap_or_default();
        match targets
            .iter_mut()
            .find(|t| t.addr == addr && t.fate == b.fate)
        {
            Some(t) => t.probability += b.probability,
            None => targets.push(TargetShare {
                addr,
                probability: b.probability,
                fate: b.fate.clone(),
            }),
        }
    }
    // Branches forked on a match that could not be evaluated both carry the full probability:
    // shares are relative to the total so they still add up to 1.
    for t in &mut targets {
        t.probability /= total;
    }
    let masquerade = branches.iter().any(|b| b.masquerade);
    let best = branches.iter().max_by(|a, b| {
        a.probability
            .partial_cmp(&b.probability)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let path = best.map(|b| b.path.clone()).unwrap_or_default();
    let specific = branches.iter().flat_map(|b| &b.path).any(|h| {
        h.owner.service.is_some()
            || h.source == "ipvs"
            || (h.rule > 0 && matches!(h.action.as_str(), "ACCEPT" | "accept"))
    });
    let dnat_p: f64 = branches
        .iter()
        .filter(|b| b.dnat_to.is_some())
        .map(|b| b.probability)
        .sum();
    let kind = if lost >= total - 1e-9 {
        let rejected: f64 = branches
            .iter()
            .filter(|b| b.fate == Fate::Rejected)
            .map(|b| b.probability)
            .sum();
        if rejected * 2.0 >= lost {
            OutcomeKind::Reject
        } else {
            OutcomeKind::Drop
        }
    } else if dnat_p > 0.0 {
        OutcomeKind::Dnat
    } else if !specific {
        OutcomeKind::NoMatch
    } else {
        OutcomeKind::Accept
    };
    let proto = flow.proto.name();
    let cause = branches
        .iter()
        .find(|b| matches!(b.fate, Fate::Dropped | Fate::Rejected))
        .and_then(|b| stop_reason(&b.path).1);
    let summary = match kind {
        OutcomeKind::Dnat => {
            let svc = path.iter().find_map(|h| h.owner.service.clone());
            let list = targets
                .iter()
                .map(|t| {
                    let mut s = format!("{} ({})", t.addr, pct(t.probability));
                    if matches!(t.fate, Fate::Dropped | Fate::Rejected) {
                        s.push_str(&format!(", then {:?}", t.fate).to_lowercase());
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", ");
            let mut s = format!("DNAT to {list}");
            if let Some(svc) = svc {
                s.push_str(&format!(" by kube-proxy for {svc}"));
            }
            if masquerade {
                s.push_str("; source masqueraded to the node's address");
            }
            if lost > 0.0 {
                s.push_str(&format!(
                    "; {} of new connections are lost on this node",
                    pct(lost / total)
                ));
            }
            s
        }
        OutcomeKind::Drop | OutcomeKind::Reject => {
            let b = branches
                .iter()
                .find(|b| matches!(b.fate, Fate::Dropped | Fate::Rejected));
            let verb = if kind == OutcomeKind::Drop {
                "dropped"
            } else {
                "rejected"
            };
            format!(
                "{verb} by {}",
                describe_stop(b.map(|b| b.path.as_slice()).unwrap_or(&[]))
            )
        }
        OutcomeKind::Accept => match best.map(|b| &b.fate) {
            Some(Fate::Local) => {
                "accepted and delivered to a local socket on the node (not DNATed)".into()
            }
            _ => "accepted and forwarded without DNAT".into(),
        },
        OutcomeKind::NoMatch if known.is_empty() && cut > 0 => format!(
            "not known: the walk's budget stopped every branch of {}:{}/{proto} (chains that call each other many times over)",
            flow.dst, flow.dport
        ),
        OutcomeKind::NoMatch => format!(
            "no rule matches {}:{}/{proto}: the packet is not DNATed (no Service for this address and port in these rules) and is routed as it is",
            flow.dst, flow.dport
        ),
    };
    Explanation {
        schema: EXPLAIN_SCHEMA,
        flow: flow.clone(),
        outcome: Outcome {
            kind,
            summary,
            targets,
            lost_probability: lost / total,
            cause,
            masquerade,
        },
        path,
        certain,
        warnings: {
            let mut w = rules.warnings();
            if let Some(m) = no_kube_proxy(rules, kind) {
                w.push(m);
            }
            if cut > 0 {
                w.push(format!(
                    "the walk stopped {cut} of {} branches at its budget of rule evaluations (chains that call each other many times over): their outcome is not known and is left out",
                    all.len()
                ));
            }
            w
        },
        branches: all,
    }
}
