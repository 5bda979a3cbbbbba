//! Who answers for an IP on a segment: responders, MAC changes over time, and the findings
//! (no reply, several MACs answering the same request, flapping, failover, an answer carrying
//! the MAC of an unexpected interface). Pure over recorded ARP/NDP events.

use std::net::IpAddr;

use serde::Serialize;

use super::{Finding, Severity};

/// Active probing (we ask) or passive watching (we listen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Active,
    Watch,
}

/// What an observed frame says about the target IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Someone asks who has the IP (ARP who-has, neighbour solicitation).
    Request,
    /// An answer to a request (ARP is-at, solicited neighbour advertisement).
    Reply,
    /// An announcement: ARP with sender IP = target IP (request or reply form).
    Gratuitous,
    /// An unsolicited neighbour advertisement (IPv6 announcement).
    UnsolicitedNa,
}

impl EventKind {
    /// Kinds that claim the IP for a MAC.
    pub fn is_answer(self) -> bool {
        !matches!(self, EventKind::Request)
    }
}

/// One frame about the target, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArpEvent {
    /// Milliseconds since the observation started.
    pub t_ms: u64,
    /// Wall clock, milliseconds since the Unix epoch (passed in by the collector).
    pub unix_ms: u64,
    pub kind: EventKind,
    /// Sent by hopdump itself (active requests).
    pub ours: bool,
    /// For answers: the MAC claimed for the IP (ARP sender / NA target link-layer address).
    /// For requests: the asker's MAC.
    pub mac: String,
    /// Ethernet source of the frame.
    pub eth_src: String,
    /// The asker's IP (requests).
    pub sender_ip: Option<IpAddr>,
}

/// A hint mapping a MAC to a node (and interface), from `--node NAME[/IFACE]=MAC`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeHint {
    pub name: String,
    pub iface: Option<String>,
    pub mac: String,
}

/// A neighbour table entry of the observing namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeighView {
    pub ip: IpAddr,
    pub mac: String,
    pub iface: String,
}

/// Everything observed, plus what helps name MACs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArpEvidence {
    pub target: IpAddr,
    pub iface: String,
    pub iface_mac: String,
    pub mode: Mode,
    pub duration_ms: u64,
    pub events: Vec<ArpEvent>,
    /// (interface, MAC) of the observing namespace.
    pub local_links: Vec<(String, String)>,
    pub neighbours: Vec<NeighView>,
    pub hints: Vec<NodeHint>,
    /// The interface the announcer should answer from (`--expect-iface`), if known.
    pub expect_iface: Option<String>,
}

/// One MAC that claimed the IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Responder {
    pub mac: String,
    /// Frames claiming the IP for this MAC (replies + announcements).
    pub count: u32,
    pub replies: u32,
    pub gratuitous: u32,
    pub first_ms: u64,
    pub last_ms: u64,
    pub first_unix_ms: u64,
    pub last_unix_ms: u64,
    /// The node it belongs to (from hints).
    pub node: Option<String>,
    /// The interface it belongs to (hint, or a local interface of the observing namespace).
    pub iface: Option<String>,
    /// Addresses the neighbour table maps to this MAC.
    pub known_ips: Vec<IpAddr>,
}

/// The IP moved from one MAC to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacChange {
    pub t_ms: u64,
    pub unix_ms: u64,
    pub from: String,
    pub to: String,
    /// The frame that showed the new MAC.
    pub via: EventKind,
}

/// How to call a MAC in messages: `02:..:01 (node1)`.
pub fn label(ev: &ArpEvidence, mac: &str) -> String {
    let r = name_of(ev, mac);
    match (r.0, r.1) {
        (Some(n), Some(i)) => format!("{mac} ({n} {i})"),
        (Some(n), None) => format!("{mac} ({n})"),
        (None, Some(i)) => format!("{mac} (local {i})"),
        (None, None) => match r.2.first() {
            Some(ip) => format!("{mac} ({ip})"),
            None => mac.to_string(),
        },
    }
}

/// (node, iface, known IPs) for a MAC.
fn name_of(ev: &ArpEvidence, mac: &str) -> (Option<String>, Option<String>, Vec<IpAddr>) {
    let hint = ev.hints.iter().find(|h| h.mac.eq_ignore_ascii_case(mac));
    let local = ev
        .local_links
        .iter()
        .find(|(_, m)| m.eq_ignore_ascii_case(mac))
        .map(|(i, _)| i.clone());
    let known: Vec<IpAddr> = ev
        .neighbours
        .iter()
        .filter(|n| n.mac.eq_ignore_ascii_case(mac) && n.ip != ev.target)
        .map(|n| n.ip)
        .collect();
    (
        hint.map(|h| h.name.clone()),
        hint.and_then(|h| h.iface.clone()).or(local),
        known,
    )
}

/// Every MAC that claimed the IP, in order of first appearance.
pub fn responders(ev: &ArpEvidence) -> Vec<Responder> {
    let mut out: Vec<Responder> = Vec::new();
    for e in ev.events.iter().filter(|e| e.kind.is_answer()) {
        let i = match out.iter().position(|r| r.mac == e.mac) {
            Some(i) => i,
            None => {
                let (node, iface, known_ips) = name_of(ev, &e.mac);
                out.push(Responder {
                    mac: e.mac.clone(),
                    count: 0,
                    replies: 0,
                    gratuitous: 0,
                    first_ms: e.t_ms,
                    last_ms: e.t_ms,
                    first_unix_ms: e.unix_ms,
                    last_unix_ms: e.unix_ms,
                    node,
                    iface,
                    known_ips,
                });
                out.len() - 1
            }
        };
        let r = &mut out[i];
        r.count += 1;
        if e.kind == EventKind::Reply {
            r.replies += 1;
        } else {
            r.gratuitous += 1;
        }
        r.last_ms = e.t_ms;
        r.last_unix_ms = e.unix_ms;
    }
    out
}

/// Each time the MAC claiming the IP differs from the previous claim.
pub fn mac_changes(ev: &ArpEvidence) -> Vec<MacChange> {
    let mut out = Vec::new();
    let mut last: Option<&str> = None;
    for e in ev.events.iter().filter(|e| e.kind.is_answer()) {
        if let Some(prev) = last
            && prev != e.mac
        {
            out.push(MacChange {
                t_ms: e.t_ms,
                unix_ms: e.unix_ms,
                from: prev.to_string(),
                to: e.mac.clone(),
                via: e.kind,
            });
        }
        last = Some(&e.mac);
    }
    out
}

/// Groups of distinct MACs that replied to the same request (a request opens a group that
/// lasts until the next request). Only groups with two or more MACs are returned.
fn concurrent_repliers(ev: &ArpEvidence) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut cur: Option<Vec<String>> = None;
    for e in &ev.events {
        match e.kind {
            EventKind::Request => {
                if let Some(g) = cur.take() {
                    groups.push(g);
                }
                cur = Some(Vec::new());
            }
            EventKind::Reply => {
                if let Some(g) = cur.as_mut()
                    && !g.contains(&e.mac)
                {
                    g.push(e.mac.clone());
                }
            }
            _ => {}
        }
    }
    if let Some(g) = cur {
        groups.push(g);
    }
    groups.retain(|g| g.len() > 1);
    groups
}

fn fmt_secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// All findings, most important first.
pub fn findings(ev: &ArpEvidence) -> Vec<Finding> {
    let mut out = Vec::new();
    let what = if ev.target.is_ipv6() {
        "neighbour solicitation"
    } else {
        "ARP who-has"
    };
    let resp = responders(ev);
    let requests: Vec<&ArpEvent> = ev
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Request)
        .collect();
    let replies = ev
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Reply)
        .count();

    // No reply.
    match ev.mode {
        Mode::Active if replies == 0 => {
            let sent = requests.iter().filter(|e| e.ours).count();
            let mut msg = format!(
                "no reply to {sent} {what} for {} on {} within {}",
                ev.target,
                ev.iface,
                fmt_secs(ev.duration_ms)
            );
            if !resp.is_empty() {
                let macs: Vec<String> = resp.iter().map(|r| label(ev, &r.mac)).collect();
                msg.push_str(&format!(
                    " (announcements from {} were seen, but nobody answers requests)",
                    macs.join(", ")
                ));
            } else {
                msg.push_str(": no speaker announces it on this segment (speaker down, IP not assigned, or the L2Advertisement excludes this interface)");
            }
            out.push(Finding::new("no_reply", Severity::Problem, msg));
        }
        Mode::Watch if !requests.is_empty() && resp.is_empty() => {
            let mut askers: Vec<String> = requests
                .iter()
                .map(|e| match e.sender_ip {
                    Some(ip) => format!("{ip} ({})", e.mac),
                    None => e.mac.clone(),
                })
                .collect();
            askers.dedup();
            let mut f = Finding::new(
                "no_reply",
                Severity::Problem,
                format!(
                    "{} {what} for {} seen on {} and none was answered",
                    requests.len(),
                    ev.target,
                    ev.iface
                ),
            );
            f.evidence = askers;
            out.push(f);
        }
        Mode::Watch if ev.events.is_empty() => out.push(Finding::new(
            "nothing_seen",
            Severity::Info,
            format!(
                "no ARP/NDP traffic about {} on {} in {}",
                ev.target,
                ev.iface,
                fmt_secs(ev.duration_ms)
            ),
        )),
        _ => {}
    }

    // Several MACs answering the same request.
    let groups = concurrent_repliers(ev);
    let split = !groups.is_empty();
    if split {
        let mut macs: Vec<String> = Vec::new();
        for g in &groups {
            for m in g {
                if !macs.contains(m) {
                    macs.push(m.clone());
                }
            }
        }
        let labels: Vec<String> = macs.iter().map(|m| label(ev, m)).collect();
        let mut f = Finding::new(
            "several_macs",
            Severity::Problem,
            format!(
                "{} MACs answer for {}: {} — clients flip between them. Causes: two MetalLB speakers both think they own the IP (split brain: memberlist partition, speakers that cannot see each other), kube-proxy in IPVS mode without strictARP (every node's kube-ipvs0 holds the IP and answers), or another host configured with the IP",
                macs.len(),
                ev.target,
                labels.join(", ")
            ),
        );
        f.evidence = macs;
        out.push(f);
    }

    // MAC changes over time.
    let changes = mac_changes(ev);
    if !split && !changes.is_empty() {
        let returns = changes
            .iter()
            .enumerate()
            .any(|(i, c)| changes[..i].iter().any(|p| p.from == c.to));
        let steps: Vec<String> = changes
            .iter()
            .map(|c| {
                format!(
                    "at +{} {} -> {} ({:?})",
                    fmt_secs(c.t_ms),
                    label(ev, &c.from),
                    label(ev, &c.to),
                    c.via
                )
            })
            .collect();
        if returns || changes.len() > 2 {
            let mut f = Finding::new(
                "flapping",
                Severity::Problem,
                format!(
                    "{} moved {} times between MACs in {}: the announcement is flapping (speakers fighting over the election, a node flapping in memberlist)",
                    ev.target,
                    changes.len(),
                    fmt_secs(ev.duration_ms)
                ),
            );
            f.evidence = steps;
            out.push(f);
        } else {
            let c = &changes[changes.len() - 1];
            let mut f = Finding::new(
                "mac_change",
                Severity::Warning,
                format!(
                    "{} moved from {} to {} at +{} ({:?}): a failover; clients that cached the old MAC lose traffic until they re-ARP or see the announcement",
                    ev.target,
                    label(ev, &c.from),
                    label(ev, &c.to),
                    fmt_secs(c.t_ms),
                    c.via
                ),
            );
            f.evidence = steps;
            out.push(f);
        }
    }

    // The announcer's MAC on an unexpected interface.
    for r in &resp {
        if let Some((ifc, _)) = ev
            .local_links
            .iter()
            .find(|(i, m)| m.eq_ignore_ascii_case(&r.mac) && *i != ev.iface)
        {
            out.push(Finding::new(
                "unexpected_interface",
                Severity::Problem,
                format!(
                    "{} is answered on {} with the MAC of {ifc}, another interface of this host (ARP flux: set arp_ignore=1/arp_announce=2, or the L2Advertisement interfaces)",
                    ev.target, ev.iface
                ),
            ));
        }
        if let (Some(expect), Some(h)) = (
            &ev.expect_iface,
            ev.hints
                .iter()
                .find(|h| h.mac.eq_ignore_ascii_case(&r.mac) && h.iface.is_some()),
        ) && h.iface.as_deref() != Some(expect.as_str())
        {
            out.push(Finding::new(
                "unexpected_interface",
                Severity::Problem,
                format!(
                    "{} is announced from {} interface {} instead of {expect}",
                    ev.target,
                    h.name,
                    h.iface.as_deref().unwrap_or("?")
                ),
            ));
        }
    }
    let mut mismatched: Vec<String> = Vec::new();
    for e in ev.events.iter().filter(|e| e.kind.is_answer()) {
        if e.mac != e.eth_src && !mismatched.contains(&e.mac) {
            mismatched.push(e.mac.clone());
            out.push(Finding::new(
                "sender_mismatch",
                Severity::Warning,
                format!(
                    "an answer for {} claims {} but its frame came from {} (a proxy or a bridge rewriting, or a speaker answering for another interface)",
                    ev.target,
                    label(ev, &e.mac),
                    e.eth_src
                ),
            ));
        }
    }

    if resp.len() == 1 && !split && changes.is_empty() {
        let r = &resp[0];
        out.push(Finding::new(
            "answered",
            Severity::Info,
            format!(
                "{} is answered by {} ({} replies, {} announcements)",
                ev.target,
                label(ev, &r.mac),
                r.replies,
                r.gratuitous
            ),
        ));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "02:6e:00:00:00:01";
    const B: &str = "02:6e:00:00:00:02";
    const ME: &str = "02:c1:00:00:00:10";

    fn ev(mode: Mode, events: Vec<(u64, EventKind, &str)>) -> ArpEvidence {
        ArpEvidence {
            target: "198.51.100.240".parse().unwrap(),
            iface: "eth0".into(),
            iface_mac: ME.into(),
            mode,
            duration_ms: 2000,
            events: events
                .into_iter()
                .map(|(t, kind, mac)| ArpEvent {
                    t_ms: t,
                    unix_ms: 1_000_000 + t,
                    kind,
                    ours: kind == EventKind::Request && mac == ME,
                    mac: mac.into(),
                    eth_src: mac.into(),
                    sender_ip: None,
                })
                .collect(),
            local_links: vec![("eth0".into(), ME.into())],
            neighbours: vec![],
            hints: vec![NodeHint {
                name: "node1".into(),
                iface: None,
                mac: A.into(),
            }],
            expect_iface: None,
        }
    }

    fn codes(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.code).collect()
    }

    #[test]
    fn no_reply_is_a_problem() {
        let e = ev(
            Mode::Active,
            vec![(0, EventKind::Request, ME), (700, EventKind::Request, ME)],
        );
        let f = findings(&e);
        assert_eq!(codes(&f), vec!["no_reply"]);
        assert!(f[0].message.contains("no reply to 2 ARP who-has"));
        assert!(super::super::has_problem(&f));
    }

    #[test]
    fn one_answerer_is_healthy_and_named() {
        let e = ev(
            Mode::Active,
            vec![
                (0, EventKind::Request, ME),
                (1, EventKind::Reply, A),
                (700, EventKind::Request, ME),
                (701, EventKind::Reply, A),
            ],
        );
        let r = responders(&e);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].count, 2);
        assert_eq!(r[0].node.as_deref(), Some("node1"));
        assert_eq!((r[0].first_ms, r[0].last_ms), (1, 701));
        let f = findings(&e);
        assert_eq!(codes(&f), vec!["answered"]);
        assert!(!super::super::has_problem(&f));
    }

    #[test]
    fn two_macs_answering_one_request_is_split_brain() {
        let e = ev(
            Mode::Active,
            vec![
                (0, EventKind::Request, ME),
                (1, EventKind::Reply, A),
                (2, EventKind::Reply, B),
            ],
        );
        let f = findings(&e);
        assert_eq!(codes(&f), vec!["several_macs"]);
        assert_eq!(f[0].evidence, vec![A.to_string(), B.to_string()]);
        assert!(f[0].message.contains("(node1)"));
    }

    #[test]
    fn failover_is_one_change_and_flapping_returns() {
        let e = ev(
            Mode::Watch,
            vec![
                (10, EventKind::Gratuitous, A),
                (900, EventKind::Gratuitous, B),
                (901, EventKind::Gratuitous, B),
            ],
        );
        let ch = mac_changes(&e);
        assert_eq!(ch.len(), 1);
        assert_eq!((ch[0].from.as_str(), ch[0].to.as_str()), (A, B));
        let f = findings(&e);
        assert_eq!(codes(&f), vec!["mac_change"]);
        assert!(!super::super::has_problem(&f));

        let e = ev(
            Mode::Watch,
            vec![
                (10, EventKind::Gratuitous, A),
                (20, EventKind::Gratuitous, B),
                (30, EventKind::Gratuitous, A),
            ],
        );
        assert_eq!(codes(&findings(&e)), vec!["flapping"]);
    }

    #[test]
    fn unanswered_requests_in_watch_mode_and_silence() {
        let mut e = ev(
            Mode::Watch,
            vec![(5, EventKind::Request, "02:00:00:00:00:99")],
        );
        e.events[0].sender_ip = Some("198.51.100.10".parse().unwrap());
        let f = findings(&e);
        assert_eq!(codes(&f), vec!["no_reply"]);
        assert_eq!(
            f[0].evidence,
            vec!["198.51.100.10 (02:00:00:00:00:99)".to_string()]
        );
        assert_eq!(
            codes(&findings(&ev(Mode::Watch, vec![]))),
            vec!["nothing_seen"]
        );
    }

    #[test]
    fn local_mac_of_another_interface_and_sender_mismatch() {
        let mut e = ev(
            Mode::Active,
            vec![
                (0, EventKind::Request, ME),
                (1, EventKind::Reply, "02:aa:00:00:00:01"),
            ],
        );
        e.local_links
            .push(("eth1".into(), "02:aa:00:00:00:01".into()));
        e.events[1].eth_src = B.into();
        let f = findings(&e);
        assert_eq!(
            codes(&f),
            vec!["unexpected_interface", "sender_mismatch", "answered"]
        );
    }

    #[test]
    fn hinted_interface_differs_from_the_expected_one() {
        let mut e = ev(
            Mode::Active,
            vec![(0, EventKind::Request, ME), (1, EventKind::Reply, A)],
        );
        e.hints[0].iface = Some("eth1".into());
        e.expect_iface = Some("eth0".into());
        let f = findings(&e);
        assert_eq!(f[0].code, "unexpected_interface");
        assert!(
            f[0].message
                .contains("node1 interface eth1 instead of eth0")
        );
    }
}
