//! The diagnosis: small checks over [`Evidence`], in the order of the seed guide's flowchart
//! (ARP, the node, kube-proxy, the pod network, the pod, the way back) plus its pitfalls. Each
//! check is `fn(&Evidence) -> Option<Finding>`; the first finding is the verdict, the rest are
//! further problems. Every finding names the evidence behind it and the next command to run.

use std::net::IpAddr;

use serde::Serialize;

use crate::evidence::*;

/// The verdict vocabulary of `hopdump trace` (issue 6), exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    Ok,
    NoArpReply,
    ArpConflict,
    NotReachingNode,
    NoServiceRule,
    NoEndpoints,
    NoLocalEndpoints,
    SourceRangeBlocked,
    FirewallDrop,
    NetworkPolicyDrop,
    CniRouting,
    EndpointUnreachable,
    MtuMismatch,
    StaleConntrack,
    PodNotListening,
    PodNotResponding,
    ReplyPathBroken,
    RpFilterDrop,
    Inconclusive,
}

impl Code {
    /// Every code, in the table's order.
    pub const ALL: [Code; 19] = [
        Code::Ok,
        Code::NoArpReply,
        Code::ArpConflict,
        Code::NotReachingNode,
        Code::NoServiceRule,
        Code::NoEndpoints,
        Code::NoLocalEndpoints,
        Code::SourceRangeBlocked,
        Code::FirewallDrop,
        Code::NetworkPolicyDrop,
        Code::CniRouting,
        Code::EndpointUnreachable,
        Code::MtuMismatch,
        Code::StaleConntrack,
        Code::PodNotListening,
        Code::PodNotResponding,
        Code::ReplyPathBroken,
        Code::RpFilterDrop,
        Code::Inconclusive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::NoArpReply => "no_arp_reply",
            Code::ArpConflict => "arp_conflict",
            Code::NotReachingNode => "not_reaching_node",
            Code::NoServiceRule => "no_service_rule",
            Code::NoEndpoints => "no_endpoints",
            Code::NoLocalEndpoints => "no_local_endpoints",
            Code::SourceRangeBlocked => "source_range_blocked",
            Code::FirewallDrop => "firewall_drop",
            Code::NetworkPolicyDrop => "network_policy_drop",
            Code::CniRouting => "cni_routing",
            Code::EndpointUnreachable => "endpoint_unreachable",
            Code::MtuMismatch => "mtu_mismatch",
            Code::StaleConntrack => "stale_conntrack",
            Code::PodNotListening => "pod_not_listening",
            Code::PodNotResponding => "pod_not_responding",
            Code::ReplyPathBroken => "reply_path_broken",
            Code::RpFilterDrop => "rp_filter_drop",
            Code::Inconclusive => "inconclusive",
        }
    }
}

/// One diagnosed problem (or `ok`), with what supports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    /// The node where the fault is; None when it is not on a node (ARP, the segment).
    pub node: Option<String>,
    /// `node/iface` of the hop where packets were last seen or died.
    pub hop: Option<String>,
    pub summary: String,
    /// Packet lines, rule lines, conntrack entries, drop reasons.
    pub evidence: Vec<String>,
    /// Commands to run next.
    pub next_steps: Vec<String>,
}

impl Finding {
    fn new(code: Code, node: Option<&str>, summary: String) -> Finding {
        Finding {
            code,
            node: node.map(str::to_string),
            hop: None,
            summary,
            evidence: Vec::new(),
            next_steps: Vec::new(),
        }
    }

    fn hop(mut self, hop: Option<String>) -> Finding {
        self.hop = hop;
        self
    }

    fn ev(mut self, lines: impl IntoIterator<Item = String>) -> Finding {
        self.evidence.extend(lines);
        self
    }

    fn next(mut self, cmd: String) -> Finding {
        self.next_steps.push(cmd);
        self
    }
}

/// What a rule that stopped the packet is, from its owner and meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopClass {
    NoEndpoints,
    NoLocalEndpoints,
    SourceRange,
    Policy,
    Firewall,
    KubeProxy,
}

/// Policy engines: their DROP/REJECT is NetworkPolicy enforcement.
const POLICY_OWNERS: [&str; 6] = [
    "calico",
    "kube-router",
    "cilium",
    "antrea",
    "weave",
    "network-policy",
];

/// Classify the rule that stopped a flow: by the cause kube-proxy's own rules state, else by
/// who wrote the rule.
pub fn classify(stop: &RuleLine) -> StopClass {
    match stop.cause {
        Some(StopCause::NoEndpoints) => StopClass::NoEndpoints,
        Some(StopCause::NoLocalEndpoints) => StopClass::NoLocalEndpoints,
        Some(StopCause::SourceRangeBlocked) => StopClass::SourceRange,
        Some(StopCause::InvalidClusterIp) => StopClass::KubeProxy,
        None if POLICY_OWNERS.contains(&stop.owner.as_str()) => StopClass::Policy,
        None if stop.owner == "kube-proxy" => StopClass::KubeProxy,
        None => StopClass::Firewall,
    }
}

fn hop_name(h: &Hop) -> String {
    format!("{}/{}", h.node, h.iface)
}

fn first_hop(ev: &Evidence, role: HopRole) -> Option<&Hop> {
    ev.hops_with(role).find(|h| h.error.is_none())
}

fn hop_line(h: &Hop) -> String {
    let c = &h.counts;
    format!(
        "{}: {} probe packet(s) in ({} large, {} after DNAT), {} repl{} ({} large){}{}",
        hop_name(h),
        c.forward,
        c.forward_large,
        c.forward_dnat,
        c.replies,
        if c.replies == 1 { "y" } else { "ies" },
        c.replies_large,
        if c.rst > 0 {
            format!(", {} RST", c.rst)
        } else {
            String::new()
        },
        if c.icmp_unreachable > 0 {
            format!(", {} ICMP unreachable", c.icmp_unreachable)
        } else {
            String::new()
        }
    )
}

fn hop_lines(ev: &Evidence, roles: &[HopRole]) -> Vec<String> {
    ev.hops
        .iter()
        .filter(|h| roles.contains(&h.role) && h.error.is_none())
        .flat_map(|h| {
            let mut v = vec![hop_line(h)];
            v.extend(h.counts.sample.iter().take(2).map(|s| format!("  {s}")));
            v
        })
        .collect()
}

fn drop_lines<'a>(ev: &'a Evidence, node: Option<&'a str>) -> Vec<String> {
    ev.drops
        .iter()
        .filter(|d| node.is_none_or(|n| d.node == n))
        .take(4)
        .map(|d| {
            format!(
                "kernel drop on {}/{}: {} at {} ({}x): {}",
                d.node,
                d.iface.as_deref().unwrap_or("-"),
                d.reason,
                d.location,
                d.count,
                d.packet
            )
        })
        .collect()
}

fn rules_lines(r: &RulesEvidence) -> Vec<String> {
    let mut v = vec![format!("rules for {}: {}", r.flow, r.summary)];
    if let Some(s) = &r.stop {
        v.push(format!("stopped by ({}): {}", s.owner, s.text));
    }
    v.extend(r.path.iter().take(8).map(|l| format!("  {l}")));
    v
}

fn probe_lines(ev: &Evidence) -> Vec<String> {
    let mut v = Vec::new();
    for kind in [
        ProbeKind::TcpSmall,
        ProbeKind::TcpLarge,
        ProbeKind::UdpSmall,
        ProbeKind::UdpLarge,
    ] {
        let ps: Vec<&Probe> = ev.probes.iter().filter(|p| p.kind == kind).collect();
        if ps.is_empty() {
            continue;
        }
        let ok = ps.iter().filter(|p| p.result == ProbeResult::Ok).count();
        let first_bad = ps.iter().find(|p| p.result != ProbeResult::Ok);
        v.push(format!(
            "probes {:?}: {ok}/{} answered{}",
            kind,
            ps.len(),
            first_bad
                .map(|p| format!("; e.g. sport {}: {:?} {}", p.sport, p.result, p.detail))
                .unwrap_or_default()
        ));
    }
    v
}

fn target_str(ev: &Evidence) -> String {
    match ev.target {
        Some(t) => match t.ip {
            IpAddr::V6(ip) => format!("[{ip}]:{}/{}", t.port, t.proto.name()),
            IpAddr::V4(ip) => format!("{ip}:{}/{}", t.port, t.proto.name()),
        },
        None => "the target".into(),
    }
}

fn lb_ip(ev: &Evidence) -> String {
    ev.target.map(|t| t.ip.to_string()).unwrap_or_default()
}

fn announcer(ev: &Evidence) -> Option<&NodeEvidence> {
    ev.announcer.as_deref().and_then(|a| ev.node(a))
}

fn probes_sent(ev: &Evidence) -> bool {
    ev.probed && !ev.probes.is_empty()
}

fn all_fail(ev: &Evidence) -> bool {
    probes_sent(ev) && ev.probes.iter().all(|p| p.result != ProbeResult::Ok)
}

fn refused(ev: &Evidence) -> bool {
    ev.probes
        .iter()
        .any(|p| matches!(p.result, ProbeResult::Refused | ProbeResult::Reset))
}

fn rules_next(node: &str, ev: &Evidence) -> String {
    format!(
        "hopdump rules explain --netns <{node}'s netns> --dst {} --src {}",
        target_str(ev),
        ev.client.map(|c| c.to_string()).unwrap_or("CLIENT".into())
    )
}

/// A node whose rules answer "no endpoints" for the LB flow.
fn no_endpoint_rules(n: &NodeEvidence) -> Option<&RulesEvidence> {
    let r = n.rules.as_ref()?;
    if !matches!(r.outcome, RuleOutcome::Reject | RuleOutcome::Drop) {
        return None;
    }
    let s = r.stop.as_ref()?;
    (classify(s) == StopClass::NoEndpoints).then_some(r)
}

// ---- the checks, in path order -------------------------------------------------------------

/// The service has no endpoints: kube-proxy rejects on the announcer, or nobody announces and
/// every node's rules say there are none (MetalLB withdraws such a service).
fn check_no_endpoints(ev: &Evidence) -> Option<Finding> {
    if let Some(a) = announcer(ev) {
        let r = no_endpoint_rules(a)?;
        return Some(
            Finding::new(
                Code::NoEndpoints,
                Some(&a.name),
                format!(
                    "{} has no endpoints: kube-proxy on {} rejects the connection",
                    target_str(ev),
                    a.name
                ),
            )
            .hop(first_hop(ev, HopRole::Uplink).map(hop_name))
            .ev(rules_lines(r))
            .ev(hop_lines(ev, &[HopRole::Client, HopRole::Uplink]))
            .ev(probe_lines(ev))
            .next("kubectl get endpointslices -A -l kubernetes.io/service-name=<svc>".into()),
        );
    }
    if !ev.arp.responders.is_empty() || ev.nodes.is_empty() {
        return None;
    }
    let with_rules: Vec<&NodeEvidence> = ev.nodes.iter().filter(|n| n.rules.is_some()).collect();
    if with_rules.is_empty() || !with_rules.iter().all(|n| no_endpoint_rules(n).is_some()) {
        return None;
    }
    let mut f = Finding::new(
        Code::NoEndpoints,
        None,
        format!(
            "nobody answers ARP for {} and every node's kube-proxy rules say the service has no endpoints (MetalLB withdraws a service without ready endpoints)",
            lb_ip(ev)
        ),
    );
    for n in with_rules {
        if let Some(r) = &n.rules {
            f = f.ev(rules_lines(r)
                .into_iter()
                .take(2)
                .map(|l| format!("{}: {l}", n.name)));
        }
    }
    Some(f.next("kubectl get endpointslices -A -l kubernetes.io/service-name=<svc>".into()))
}

fn check_no_arp_reply(ev: &Evidence) -> Option<Finding> {
    if !ev.arp.asked || !ev.arp.responders.is_empty() {
        return None;
    }
    let mut f = Finding::new(
        Code::NoArpReply,
        None,
        format!(
            "nobody answers ARP/neighbour discovery for {} on the client's segment ({} request(s) sent)",
            lb_ip(ev),
            ev.arp.requests
        ),
    )
    .hop(first_hop(ev, HopRole::Client).map(hop_name))
    .ev([format!(
        "client: {} ARP/NDP request(s) for {}, no reply and no announcement",
        ev.arp.requests,
        lb_ip(ev)
    )]);
    if let Some(m) = &ev.arp.cached_mac {
        f = f.ev([format!(
            "client neighbour cache still holds {m} for the LB IP"
        )]);
    }
    Some(
        f.ev(probe_lines(ev))
            .next("kubectl -n metallb-system logs -l component=speaker | grep -i announc".into())
            .next(format!(
                "hopdump arp {} --watch --netns <client netns>",
                lb_ip(ev)
            )),
    )
}

fn check_arp_conflict(ev: &Evidence) -> Option<Finding> {
    let macs = &ev.arp.responders;
    if macs.len() < 2 {
        return None;
    }
    // The responder that should not answer: one whose node cannot serve the LB flow.
    let serves = |r: &ArpResponder| {
        r.node
            .as_deref()
            .and_then(|n| ev.node(n))
            .and_then(|n| n.rules.as_ref())
            .is_some_and(|r| r.outcome == RuleOutcome::Dnat)
    };
    let culprit = macs
        .iter()
        .find(|r| !serves(r) && r.node.is_some())
        .or_else(|| macs.iter().skip(1).find(|r| r.node.is_some()));
    let node = culprit.and_then(|r| r.node.clone());
    let mut f = Finding::new(
        Code::ArpConflict,
        node.as_deref(),
        format!(
            "{} MACs answer for {}: {}",
            macs.len(),
            lb_ip(ev),
            macs.iter()
                .map(|r| format!(
                    "{} ({})",
                    r.mac,
                    r.node.as_deref().unwrap_or("unknown host")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    f = f.ev(macs.iter().map(|r| {
        format!(
            "{} answered {} time(s){}",
            r.mac,
            r.frames,
            r.node
                .as_deref()
                .map(|n| format!(
                    " — {n}{}",
                    r.iface
                        .as_deref()
                        .map(|i| format!("/{i}"))
                        .unwrap_or_default()
                ))
                .unwrap_or_default()
        )
    }));
    if let Some(n) = node.as_deref().and_then(|n| ev.node(n))
        && let Some(r) = &n.rules
    {
        f = f.ev(rules_lines(r)
            .into_iter()
            .take(2)
            .map(|l| format!("{}: {l}", n.name)));
    }
    Some(
        f.ev(probe_lines(ev))
            .next("kubectl -n metallb-system logs -l component=speaker | grep -i announc".into())
            .next(
                "kubectl get configmap -n kube-system kube-proxy -o yaml | grep strictARP".into(),
            ),
    )
}

fn check_rp_filter(ev: &Evidence) -> Option<Finding> {
    let a = announcer(ev)?;
    let drops: Vec<&DropObs> = ev
        .drops_on(&a.name)
        .filter(|d| d.reason.contains("RPFILTER"))
        .collect();
    let strict_asym = a.rp_filter == Some(1)
        && matches!((&a.route_to_client, &a.uplink), (Some(r), Some(u)) if r != u);
    let arrived = ev.count(HopRole::Uplink, |c| c.forward) > 0;
    let beyond = ev.count(HopRole::PodNetwork, |c| c.forward)
        + ev.count(HopRole::RemoteUplink, |c| c.forward)
        + ev.count(HopRole::Pod, |c| c.forward);
    if drops.is_empty() && !(strict_asym && arrived && beyond == 0 && all_fail(ev)) {
        return None;
    }
    Some(
        Finding::new(
            Code::RpFilterDrop,
            Some(&a.name),
            format!(
                "{} drops the client's packets by reverse-path filtering (rp_filter={}, replies to the client would leave by {})",
                a.name,
                a.rp_filter.map(|v| v.to_string()).unwrap_or("?".into()),
                a.route_to_client.as_deref().unwrap_or("another interface")
            ),
        )
        .hop(first_hop(ev, HopRole::Uplink).map(hop_name))
        .ev(drop_lines(ev, Some(&a.name)))
        .ev([format!(
            "{}: rp_filter {:?} on {}, route to the client via {}",
            a.name,
            a.rp_filter,
            a.uplink.as_deref().unwrap_or("?"),
            a.route_to_client.as_deref().unwrap_or("?")
        )])
        .ev(hop_lines(ev, &[HopRole::Client, HopRole::Uplink]))
        .next(format!(
            "ip netns exec <{} netns> sysctl net.ipv4.conf.all.rp_filter net.ipv4.conf.{}.rp_filter",
            a.name,
            a.uplink.as_deref().unwrap_or("eth0")
        ))
        .next("set rp_filter=2 (loose) or make the return route symmetric".into()),
    )
}

fn check_not_reaching_node(ev: &Evidence) -> Option<Finding> {
    let a = announcer(ev)?;
    if !probes_sent(ev) || !ev.has_hop(HopRole::Uplink) {
        return None;
    }
    let sent = ev.count(HopRole::Client, |c| c.forward);
    let arrived = ev.count(HopRole::Uplink, |c| c.forward);
    if arrived > 0 || (ev.has_hop(HopRole::Client) && sent == 0) {
        return None;
    }
    Some(
        Finding::new(
            Code::NotReachingNode,
            Some(&a.name),
            format!(
                "ARP for {} resolves to {}, but the client's packets never arrive on its uplink ({} sent)",
                lb_ip(ev),
                a.name,
                sent
            ),
        )
        .hop(first_hop(ev, HopRole::Uplink).map(hop_name))
        .ev(hop_lines(ev, &[HopRole::Client, HopRole::Uplink]))
        .ev(probe_lines(ev))
        .next("check the switch / hypervisor port security (MAC/IP anti-spoofing) for the node's port".into())
        .next(format!(
            "tcpdump -nei <switch port of {}> host {}",
            a.name,
            lb_ip(ev)
        )),
    )
}

fn check_no_service_rule(ev: &Evidence) -> Option<Finding> {
    let a = announcer(ev)?;
    let r = a.rules.as_ref()?;
    let no_rule = match r.outcome {
        RuleOutcome::NoMatch => true,
        // Accepted locally without DNAT: nothing for the service (e.g. the IP on lo).
        RuleOutcome::Accept => r.targets.is_empty(),
        _ => false,
    };
    if !no_rule {
        return None;
    }
    // Every probe answered *by the service's pods*: something outside netfilter translates
    // the LB IP (Cilium's or Calico's eBPF data plane without kube-proxy), so the missing rule
    // is not where packets die. Answered by anything else (a process on the node, a leftover
    // address) is still the fault: the pods get nothing.
    let pods_answered = ev.hops.iter().any(|h| {
        h.error.is_none()
            && matches!(h.role, HopRole::Pod | HopRole::PodNetwork)
            && h.counts.forward > 0
            && h.counts.replies > 0
    });
    if pods_answered && probes_sent(ev) && ev.probes.iter().all(|p| p.result == ProbeResult::Ok) {
        return None;
    }
    Some(
        Finding::new(
            Code::NoServiceRule,
            Some(&a.name),
            format!(
                "packets for {} reach {}, but no kube-proxy rule handles LB-IP:port there",
                target_str(ev),
                a.name
            ),
        )
        .hop(first_hop(ev, HopRole::Uplink).map(hop_name))
        .ev(rules_lines(r))
        .ev(hop_lines(ev, &[HopRole::Client, HopRole::Uplink]))
        .ev(drop_lines(ev, Some(&a.name)))
        .next(format!(
            "kubectl -n kube-system logs -l k8s-app=kube-proxy --field-selector spec.nodeName={}",
            a.name
        ))
        .next(rules_next(&a.name, ev))
        .next(format!(
            "without kube-proxy (Cilium, Calico eBPF) services live in BPF maps, not netfilter: kubectl -n kube-system exec ds/cilium -- cilium-dbg service list | grep {}",
            ev.target.map(|t| t.ip.to_string()).unwrap_or_default()
        )),
    )
}

/// A DROP/REJECT by a rule on the announcer (before or instead of DNAT), or on a DNAT
/// target's branch; mapped to its class.
fn rule_stop(ev: &Evidence, want: &[StopClass]) -> Option<(String, RuleLine, String)> {
    let a = announcer(ev)?;
    let r = a.rules.as_ref()?;
    if matches!(r.outcome, RuleOutcome::Drop | RuleOutcome::Reject)
        && let Some(s) = &r.stop
        && want.contains(&classify(s))
    {
        return Some((a.name.clone(), s.clone(), r.summary.clone()));
    }
    for t in &r.targets {
        if let Some(s) = &t.stop
            && want.contains(&classify(s))
        {
            return Some((a.name.clone(), s.clone(), r.summary.clone()));
        }
    }
    // The endpoint nodes' own rules for the DNATed flow.
    for n in &ev.nodes {
        if let Some(r) = &n.endpoint_rules
            && matches!(r.outcome, RuleOutcome::Drop | RuleOutcome::Reject)
            && let Some(s) = &r.stop
            && want.contains(&classify(s))
        {
            return Some((n.name.clone(), s.clone(), r.summary.clone()));
        }
    }
    None
}

fn stop_finding(ev: &Evidence, code: Code, want: &[StopClass], what: &str) -> Option<Finding> {
    let (node, stop, summary) = rule_stop(ev, want)?;
    // The rules say so; the packets must agree: probes did not all succeed.
    if probes_sent(ev) && ev.probes.iter().all(|p| p.result == ProbeResult::Ok) {
        return None;
    }
    let n = ev.node(&node)?;
    let mut f = Finding::new(code, Some(&node), format!("{what} on {node}: {summary}"))
        .ev([format!("rule ({}): {}", stop.owner, stop.text)]);
    if let Some(m) = &stop.meaning {
        f = f.ev([format!("meaning: {m}")]);
    }
    if let Some(r) = n.rules.as_ref().or(n.endpoint_rules.as_ref()) {
        f = f.ev(rules_lines(r).into_iter().skip(1));
    }
    let hop = ev
        .hops
        .iter()
        .rfind(|h| h.node == node && h.counts.forward > 0)
        .map(hop_name);
    Some(
        f.hop(hop)
            .ev(drop_lines(ev, Some(&node)))
            .ev(hop_lines(ev, &PATH_ROLES))
            .ev(probe_lines(ev))
            .next(rules_next(&node, ev)),
    )
}

fn check_no_local_endpoints(ev: &Evidence) -> Option<Finding> {
    stop_finding(
        ev,
        Code::NoLocalEndpoints,
        &[StopClass::NoLocalEndpoints],
        "externalTrafficPolicy=Local and no local endpoint",
    )
    .map(|f| {
        f.next("kubectl get svc <svc> -o jsonpath='{.spec.externalTrafficPolicy}'; kubectl get pods -o wide -l <selector>".into())
    })
}

fn check_source_range(ev: &Evidence) -> Option<Finding> {
    stop_finding(
        ev,
        Code::SourceRangeBlocked,
        &[StopClass::SourceRange],
        "loadBalancerSourceRanges exclude the client",
    )
    .map(|f| f.next("kubectl get svc <svc> -o jsonpath='{.spec.loadBalancerSourceRanges}'".into()))
}

fn check_firewall(ev: &Evidence) -> Option<Finding> {
    stop_finding(
        ev,
        Code::FirewallDrop,
        &[StopClass::Firewall],
        "a host firewall rule drops the flow",
    )
}

fn check_policy(ev: &Evidence) -> Option<Finding> {
    stop_finding(
        ev,
        Code::NetworkPolicyDrop,
        &[StopClass::Policy],
        "NetworkPolicy enforcement drops the flow",
    )
    .map(|f| f.next("kubectl get networkpolicy -A".into()))
}

fn check_no_endpoints_late(ev: &Evidence) -> Option<Finding> {
    stop_finding(
        ev,
        Code::NoEndpoints,
        &[StopClass::NoEndpoints],
        "the service has no endpoints",
    )
}

/// DNAT targets the packets were sent to that were never seen on their node.
fn dnat_targets(ev: &Evidence) -> Vec<&EndpointEvidence> {
    ev.endpoints.iter().collect()
}

fn check_endpoint_unreachable(ev: &Evidence) -> Option<Finding> {
    let a = announcer(ev)?;
    let r = a.rules.as_ref()?;
    if r.outcome != RuleOutcome::Dnat || ev.endpoints.is_empty() {
        return None;
    }
    let gone: Vec<&EndpointEvidence> = dnat_targets(ev).into_iter().filter(|e| !e.exists).collect();
    if gone.is_empty() {
        return None;
    }
    if probes_sent(ev) && ev.probes.iter().all(|p| p.result == ProbeResult::Ok) {
        return None;
    }
    let reached_pod = ev.count(HopRole::Pod, |c| c.forward) > 0;
    let only_gone = gone.len() == ev.endpoints.len();
    if !only_gone && reached_pod && !all_fail(ev) {
        // Some endpoints work: still a problem, but name it.
    }
    Some(
        Finding::new(
            Code::EndpointUnreachable,
            Some(&a.name),
            format!(
                "{} DNATs {} to {} that no interface holds (stale endpoint)",
                a.name,
                target_str(ev),
                gone.iter()
                    .map(|e| format!("{}:{}", e.addr, e.port))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .hop(
            ev.hops
                .iter()
                .rfind(|h| h.counts.forward > 0)
                .map(hop_name),
        )
        .ev(gone.iter().map(|e| {
            format!(
                "endpoint {}:{}: no pod network namespace holds it{}",
                e.addr,
                e.port,
                e.node
                    .as_deref()
                    .map(|n| format!(" (inside {n}'s pod CIDR)"))
                    .unwrap_or_default()
            )
        }))
        .ev(rules_lines(r))
        .ev(hop_lines(ev, &[HopRole::Uplink, HopRole::RemoteUplink, HopRole::PodNetwork]))
        .ev(drop_lines(ev, None))
        .ev(probe_lines(ev))
        .next("kubectl get endpointslices -A -l kubernetes.io/service-name=<svc> -o wide; kubectl get pods -o wide".into())
        .next(format!(
            "kubectl -n kube-system logs -l k8s-app=kube-proxy --field-selector spec.nodeName={}",
            a.name
        )),
    )
}

/// The conntrack entries on `a` of one probe (its protocol, client address and source port).
fn probe_ct<'a>(
    ev: &'a Evidence,
    a: &'a NodeEvidence,
    p: &'a Probe,
) -> impl Iterator<Item = &'a CtObs> {
    let udp = ev.target.is_some_and(|t| t.proto == Proto::Udp);
    a.conntrack.iter().filter(move |c| {
        c.udp == udp && c.client_port == p.sport && ev.client.is_none_or(|ip| ip == c.client)
    })
}

/// Where the announcer's conntrack says the failed probes went: the endpoints of their
/// unreplied entries. `None` unless every failed probe has an entry — a probe whose SYN was
/// dropped after DNAT (no route, a firewall) leaves none, since the kernel never confirms
/// it, and one without a source port cannot be matched: either may have gone anywhere.
fn failed_probe_targets(ev: &Evidence, a: &NodeEvidence) -> Option<Vec<IpAddr>> {
    let mut to = Vec::new();
    for p in ev.probes.iter().filter(|p| p.result != ProbeResult::Ok) {
        if p.sport == 0 {
            return None;
        }
        let mut entries = probe_ct(ev, a, p).peekable();
        entries.peek()?;
        to.extend(entries.filter(|c| !c.replied).map(|c| c.to));
    }
    Some(to)
}

fn check_cni_routing(ev: &Evidence) -> Option<Finding> {
    let a = announcer(ev)?;
    let r = a.rules.as_ref()?;
    if r.outcome != RuleOutcome::Dnat || !probes_sent(ev) {
        return None;
    }
    if ev.count(HopRole::Uplink, |c| c.forward) == 0 {
        return None;
    }
    // Remote endpoints that exist, whose node never saw the packets.
    let lost: Vec<&EndpointEvidence> = ev
        .endpoints
        .iter()
        .filter(|e| e.exists && e.node.as_deref().is_some_and(|n| n != a.name))
        .filter(|e| {
            let at_node: u32 = ev
                .hops
                .iter()
                .filter(|h| {
                    Some(h.node.as_str()) == e.node.as_deref()
                        && h.error.is_none()
                        && matches!(h.role, HopRole::RemoteUplink | HopRole::PodNetwork)
                })
                .map(|h| h.counts.forward)
                .sum();
            at_node == 0
        })
        .collect();
    let remote = ev
        .endpoints
        .iter()
        .filter(|e| e.node.as_deref() != Some(&a.name))
        .count();
    // Every remote endpoint unreached; or only some (one node's pod CIDR unrouted among
    // several) while small probes fail too — not chance: the probes are spread over every
    // endpoint, and a path that only loses large packets is an MTU problem, not routing.
    // Every probe answered: nothing is lost, whatever the spread (with one local and one
    // remote endpoint, all probes land on the local one about once in 250 runs).
    if ev.probes.iter().all(|p| p.result == ProbeResult::Ok) {
        return None;
    }
    let small_failed = ev.probes_of(false).any(|p| p.result != ProbeResult::Ok);
    // And only when no pod that was reached explains the failures itself (refusing,
    // unreachable, or silent): with several endpoints an unprobed one proves nothing.
    let pods_clean = ev
        .hops
        .iter()
        .filter(|h| h.error.is_none() && matches!(h.role, HopRole::Pod | HopRole::PodNetwork))
        .all(|h| {
            h.counts.rst == 0
                && h.counts.icmp_unreachable == 0
                && (h.counts.forward == 0 || h.counts.replies > 0)
        });
    if lost.is_empty() || (lost.len() < remote && !(small_failed && pods_clean)) {
        return None;
    }
    // The announcer's conntrack names the endpoint each probe was DNATed to. When it covers
    // every failed probe, an endpoint counts as lost only if one of them went there and got
    // no reply: failures that all went to a local endpoint (or were answered there) are no
    // evidence about the remote node's route, however few probes reached it by chance.
    let failed_to = failed_probe_targets(ev, a);
    let lost: Vec<&EndpointEvidence> = match &failed_to {
        Some(to) => lost.into_iter().filter(|e| to.contains(&e.addr)).collect(),
        None => lost,
    };
    if lost.is_empty() {
        return None;
    }
    let routes: Vec<String> = a
        .routes
        .iter()
        .filter(|(ip, _)| lost.iter().any(|e| e.addr == *ip))
        .map(|(ip, r)| format!("{}: route to {ip}: {r}", a.name))
        .collect();
    Some(
        Finding::new(
            Code::CniRouting,
            Some(&a.name),
            format!(
                "{} DNATs to {} but the packets never reach {} (pod network routing / overlay)",
                a.name,
                lost.iter()
                    .map(|e| e.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                lost.iter()
                    .filter_map(|e| e.node.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .hop(first_hop(ev, HopRole::Uplink).map(hop_name))
        .ev(routes)
        .ev(hop_lines(
            ev,
            &[
                HopRole::Uplink,
                HopRole::Overlay,
                HopRole::RemoteUplink,
                HopRole::PodNetwork,
            ],
        ))
        .ev(drop_lines(ev, Some(&a.name)))
        .ev(probe_lines(ev))
        .next(format!(
            "ip netns exec <{} netns> ip route get {}",
            a.name,
            lost.first().map(|e| e.addr.to_string()).unwrap_or_default()
        ))
        .next(
            "kubectl -n kube-flannel logs ds/kube-flannel-ds (or your CNI's agent) on both nodes"
                .into(),
        ),
    )
}

fn check_mtu(ev: &Evidence) -> Option<Finding> {
    if !probes_sent(ev) {
        return None;
    }
    // The signature: every small probe answered, some large one not. Small probes failing
    // too (some endpoints unreachable, refusing, silent) is something else, found later.
    let mut small = ev.probes_of(false).peekable();
    let small_all_ok = small.peek().is_some() && small.all(|p| p.result == ProbeResult::Ok);
    // Too-big packets are lost without a word: a large probe that was reset or refused got
    // an answer from the far end, which is something else.
    let large_bad = ev
        .probes_of(true)
        .any(|p| matches!(p.result, ProbeResult::Timeout));
    if !small_all_ok || !large_bad {
        return None;
    }
    // The first hop where large packets (either direction) stop appearing. Hops the probes
    // did not take at all (another node's pod, a local cni0 when every probe went remote)
    // are not on the path: a silent hop is no place where packets vanish.
    let mut prev: Option<&Hop> = None;
    let mut culprit: Option<&Hop> = None;
    let path: Vec<&Hop> = ev
        .hops
        .iter()
        .filter(|h| h.error.is_none() && (h.counts.forward > 0 || h.counts.replies > 0))
        .collect();
    for h in &path {
        if let Some(p) = prev
            && p.counts.forward_large > 0
            && h.counts.forward_large == 0
            && h.role != HopRole::Client
        {
            culprit = Some(h);
            break;
        }
        prev = Some(h);
    }
    if culprit.is_none() {
        // Large replies leaving the pod side and not arriving back.
        let mut later: Option<&Hop> = None;
        for h in path.iter().rev() {
            if let Some(l) = later
                && l.counts.replies_large > 0
                && h.counts.replies_large == 0
            {
                culprit = Some(h);
                break;
            }
            later = Some(h);
        }
    }
    // A large probe failing is not enough (a slow answer fails it too): large packets must
    // be seen to vanish between two hops, or the kernel must say they were too big.
    let too_big = ev.hops.iter().any(|h| h.counts.icmp_too_big > 0)
        || ev.drops.iter().any(|d| d.reason.contains("TOO_BIG"));
    if culprit.is_none() && !too_big {
        return None;
    }
    let node = culprit
        .map(|h| h.node.clone())
        .or_else(|| ev.announcer.clone());
    let mtus: Vec<String> = ev
        .nodes
        .iter()
        .flat_map(|n| {
            n.mtus
                .iter()
                .map(move |(i, m)| format!("{}/{i}: mtu {m}", n.name))
        })
        .collect();
    Some(
        Finding::new(
            Code::MtuMismatch,
            node.as_deref(),
            format!(
                "small packets pass, large ones vanish{}",
                culprit
                    .map(|h| format!(" before {}", hop_name(h)))
                    .unwrap_or_default()
            ),
        )
        .hop(culprit.map(hop_name))
        .ev(mtus)
        .ev(hop_lines(ev, &PATH_ROLES))
        .ev(drop_lines(ev, None))
        .ev(probe_lines(ev))
        .next(
            "ip link show | grep mtu  # on every node and the pod network; make them agree".into(),
        )
        .next("ping -M do -s 1472 <LB IP>  # from the client".into()),
    )
}

fn check_stale_conntrack(ev: &Evidence) -> Option<Finding> {
    let a = announcer(ev)?;
    let r = a.rules.as_ref()?;
    let current: Vec<IpAddr> = r.targets.iter().map(|t| t.addr).collect();
    let stale: Vec<&CtObs> = a
        .conntrack
        .iter()
        .filter(|c| !current.contains(&c.to) && Some(c.to) != ev.target.map(|t| t.ip))
        .filter(|c| {
            ev.watched
                .iter()
                .any(|w| w.sport == c.client_port && w.client == c.client && w.replies == 0)
        })
        .collect();
    if stale.is_empty() || current.is_empty() {
        return None;
    }
    Some(
        Finding::new(
            Code::StaleConntrack,
            Some(&a.name),
            format!(
                "live traffic from {} follows a conntrack entry on {} to {} which is no longer an endpoint (now: {})",
                stale
                    .iter()
                    .map(|c| format!("{}:{}", c.client, c.client_port))
                    .collect::<Vec<_>>()
                    .join(", "),
                a.name,
                stale.iter().map(|c| c.to.to_string()).collect::<Vec<_>>().join(", "),
                current.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            ),
        )
        .hop(first_hop(ev, HopRole::Uplink).map(hop_name))
        .ev(stale.iter().map(|c| format!("conntrack on {}: {}", a.name, c.line)))
        .ev(ev.watched.iter().map(|w| {
            format!(
                "watched flow {}:{}: {} packet(s) in, {} repl{}",
                w.client,
                w.sport,
                w.forward,
                w.replies,
                if w.replies == 1 { "y" } else { "ies" }
            )
        }))
        .ev(rules_lines(r).into_iter().take(1))
        .next(format!(
            "hopdump conntrack --netns <{} netns> {}  # then --delete-stale --yes",
            a.name,
            lb_ip(ev)
        )),
    )
}

fn endpoint_node_of(ev: &Evidence, ip: Option<IpAddr>) -> Option<String> {
    let ip = ip?;
    ev.endpoints.iter().find(|e| e.addr == ip)?.node.clone()
}

fn check_pod_not_listening(ev: &Evidence) -> Option<Finding> {
    let pod_hop = ev
        .hops_with(HopRole::Pod)
        .chain(ev.hops_with(HopRole::PodNetwork))
        .find(|h| h.counts.forward > 0 && (h.counts.rst > 0 || h.counts.icmp_unreachable > 0))?;
    if !refused(ev) && !all_fail(ev) {
        return None;
    }
    let node = endpoint_node_of(ev, pod_hop.endpoint).unwrap_or(pod_hop.node.clone());
    Some(
        Finding::new(
            Code::PodNotListening,
            Some(&node),
            format!(
                "the pod{} answers {} — nothing listens on the target port",
                pod_hop
                    .endpoint
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default(),
                if pod_hop.counts.rst > 0 {
                    "TCP RST"
                } else {
                    "ICMP port unreachable"
                }
            ),
        )
        .hop(Some(hop_name(pod_hop)))
        .ev(hop_lines(ev, &[HopRole::PodNetwork, HopRole::Pod]))
        .ev(probe_lines(ev))
        .next("kubectl get pod <pod> -o jsonpath='{.spec.containers[*].ports}'; kubectl exec <pod> -- ss -lntu".into())
        .next("compare the Service's targetPort with the port the app binds".into()),
    )
}

fn check_pod_not_responding(ev: &Evidence) -> Option<Finding> {
    if !all_fail(ev) {
        return None;
    }
    let pod_hop = ev
        .hops_with(HopRole::Pod)
        .find(|h| h.error.is_none() && h.counts.forward > 0 && h.counts.replies == 0)?;
    let node = endpoint_node_of(ev, pod_hop.endpoint).unwrap_or(pod_hop.node.clone());
    Some(
        Finding::new(
            Code::PodNotResponding,
            Some(&node),
            format!(
                "packets reach the pod's interface {}, nothing comes back",
                hop_name(pod_hop)
            ),
        )
        .hop(Some(hop_name(pod_hop)))
        .ev(hop_lines(ev, &[HopRole::PodNetwork, HopRole::Pod]))
        .ev(drop_lines(ev, None))
        .ev(probe_lines(ev))
        .next(
            "kubectl logs <pod>; kubectl exec <pod> -- ss -lntu; check the pod's own firewall"
                .into(),
        ),
    )
}

fn check_reply_path(ev: &Evidence) -> Option<Finding> {
    if !all_fail(ev) {
        return None;
    }
    let a = announcer(ev)?;
    let pod_replies =
        ev.count(HopRole::Pod, |c| c.replies) + ev.count(HopRole::PodNetwork, |c| c.replies);
    if pod_replies == 0 {
        return None;
    }
    let back_at_uplink = ev.count(HopRole::Uplink, |c| c.replies);
    let around = ev.count(HopRole::Client, |c| c.replies_un_nated);
    if back_at_uplink > 0 && around == 0 {
        return None;
    }
    let masq = a.rules.as_ref().map(|r| r.masquerade);
    Some(
        Finding::new(
            Code::ReplyPathBroken,
            Some(&a.name),
            format!(
                "the pod answers, but its replies do not return through {} (the node that DNATed){}",
                a.name,
                if around > 0 {
                    format!("; {around} repl(ies) reached the client from the pod IP, un-NATed")
                } else {
                    String::new()
                }
            ),
        )
        .hop(first_hop(ev, HopRole::Uplink).map(hop_name))
        .ev(match masq {
            Some(false) => vec![format!("{}: no masquerade (SNAT) for the flow", a.name)],
            _ => Vec::new(),
        })
        .ev(a.rules.iter().flat_map(rules_lines))
        .ev(hop_lines(ev, &[HopRole::Client, HopRole::Uplink, HopRole::RemoteUplink, HopRole::PodNetwork, HopRole::Pod]))
        .ev(probe_lines(ev))
        .next(format!(
            "iptables -t nat -S KUBE-POSTROUTING on {} (or nft list chain ip kube-proxy masquerading)",
            a.name
        )),
    )
}

fn check_ok(ev: &Evidence) -> Option<Finding> {
    let probes_ok = probes_sent(ev) && ev.probes.iter().all(|p| p.result == ProbeResult::Ok);
    let watched_ok = !ev.watched.is_empty() && ev.watched.iter().all(|w| w.replies > 0);
    let watched_bad = ev.watched.iter().any(|w| w.forward > 0 && w.replies == 0);
    if !(probes_ok || (!ev.probed && watched_ok)) || watched_bad {
        return None;
    }
    Some(
        Finding::new(
            Code::Ok,
            None,
            format!(
                "{} works end to end via {}",
                target_str(ev),
                ev.announcer.as_deref().unwrap_or("?")
            ),
        )
        .ev(probe_lines(ev))
        .ev(hop_lines(ev, &PATH_ROLES)),
    )
}

type Check = fn(&Evidence) -> Option<Finding>;

/// Every hop role of the path, client to pod.
const PATH_ROLES: [HopRole; 5] = [
    HopRole::Client,
    HopRole::Uplink,
    HopRole::RemoteUplink,
    HopRole::PodNetwork,
    HopRole::Pod,
];

/// The checks in verdict order: the first that fires is the verdict.
pub const CHECKS: &[Check] = &[
    check_no_endpoints,
    check_no_arp_reply,
    check_arp_conflict,
    check_not_reaching_node,
    check_rp_filter,
    check_no_service_rule,
    check_no_local_endpoints,
    check_source_range,
    check_no_endpoints_late,
    check_firewall,
    check_policy,
    check_endpoint_unreachable,
    check_cni_routing,
    check_mtu,
    check_stale_conntrack,
    check_pod_not_listening,
    check_pod_not_responding,
    check_reply_path,
    check_ok,
];

/// Where each failed probe went by the announcer's conntrack (its DNAT target, answered or
/// not), or that it left no entry there. Empty when that conntrack was not read.
fn failed_probe_ct_lines(ev: &Evidence) -> Vec<String> {
    let Some(a) = announcer(ev) else {
        return Vec::new();
    };
    if a.conntrack.is_empty() {
        return Vec::new();
    }
    ev.probes
        .iter()
        .filter(|p| p.result != ProbeResult::Ok)
        .map(|p| {
            if p.sport == 0 {
                return format!(
                    "failed probe {}: no source port (it failed before leaving the client)",
                    p.kind.name()
                );
            }
            match probe_ct(ev, a, p).next() {
                Some(c) => format!(
                    "failed probe sport {}: conntrack on {} sends it to {}:{}, {}: {}",
                    p.sport,
                    a.name,
                    c.to,
                    c.to_port,
                    if c.replied { "answered" } else { "no reply" },
                    c.line
                ),
                None => format!(
                    "failed probe sport {}: no conntrack entry on {} (it never got there, or was dropped there before the entry was confirmed)",
                    p.sport, a.name
                ),
            }
        })
        .collect()
}

fn inconclusive(ev: &Evidence) -> Finding {
    let failed = ev
        .probes
        .iter()
        .filter(|p| p.result != ProbeResult::Ok)
        .count();
    let summary = if probes_sent(ev) && failed > 0 && failed < ev.probes.len() {
        format!(
            "{failed} of {} probes failed while the others were answered (intermittent): not enough evidence to name where those died",
            ev.probes.len()
        )
    } else {
        "not enough evidence to name where the packets die".into()
    };
    let mut f = Finding::new(Code::Inconclusive, None, summary)
        .ev(probe_lines(ev))
        .ev(failed_probe_ct_lines(ev))
        .ev(hop_lines(ev, &PATH_ROLES))
        .ev(drop_lines(ev, None));
    for m in &ev.missing {
        f = f.ev([format!("missing: {m}")]);
    }
    if ev.announcer.is_none() {
        f = f.next(
            "give every node with --node NAME=netns:NS (or local) so ARP answers map to a node"
                .into(),
        );
    }
    if !ev.probed {
        f = f.next(
            "run without --no-probe, or with --client netns:NS, so probes exercise the path".into(),
        );
    }
    f.next("hopdump trace ... -w trace.pcapng and open it in Wireshark".into())
}

/// Run every check; the verdict is the first failure on the path (or `ok`), `findings` the
/// further problems. `ok` is never a further finding.
pub fn diagnose(ev: &Evidence) -> (Finding, Vec<Finding>) {
    let mut all: Vec<Finding> = CHECKS.iter().filter_map(|c| c(ev)).collect();
    // `ok` only stands when nothing else fired.
    if all.len() > 1 {
        all.retain(|f| f.code != Code::Ok);
    }
    // One finding per code.
    let mut seen = Vec::new();
    all.retain(|f| {
        if seen.contains(&f.code) {
            false
        } else {
            seen.push(f.code);
            true
        }
    });
    let mut it = all.into_iter();
    match it.next() {
        Some(v) => match unobserved_guard(ev, &v) {
            Some(g) => (g, std::iter::once(v).chain(it).collect()),
            None => (v, it.collect()),
        },
        None => (inconclusive(ev), Vec::new()),
    }
}

/// A verdict may not rest on a node nobody observed: when it names such a node or hop, or
/// concludes from packets *not* seen while a node of the path (announcer, an endpoint's
/// node, or one that could be either) was unobserved, the verdict is `inconclusive`, saying
/// what is missing; the would-be verdict follows as a finding. Verdicts proven by what was
/// seen (a rule, a drop reason, replies) stand.
fn unobserved_guard(ev: &Evidence, v: &Finding) -> Option<Finding> {
    let down: Vec<&NodeEvidence> = ev.nodes.iter().filter(|n| n.unobserved.is_some()).collect();
    if down.is_empty() || matches!(v.code, Code::Inconclusive | Code::Ok) {
        return None;
    }
    let is_down = |n: &str| down.iter().any(|d| d.name == n);
    let hop_node = v.hop.as_deref().and_then(|h| h.split('/').next());
    let names_down = v.node.as_deref().is_some_and(is_down) || hop_node.is_some_and(is_down);
    let on_path = ev.announcer.as_deref().is_none_or(is_down)
        || ev
            .endpoints
            .iter()
            .any(|e| e.node.as_deref().is_none_or(is_down));
    let from_absence = matches!(
        v.code,
        Code::NotReachingNode
            | Code::CniRouting
            | Code::EndpointUnreachable
            | Code::MtuMismatch
            | Code::PodNotListening
            | Code::PodNotResponding
            | Code::ReplyPathBroken
    );
    if !(names_down || (from_absence && on_path)) {
        return None;
    }
    let names: Vec<String> = down
        .iter()
        .map(|d| format!("{} ({})", d.name, d.unobserved.as_deref().unwrap_or("?")))
        .collect();
    let mut f = Finding::new(
        Code::Inconclusive,
        None,
        format!(
            "node {} not observed; what was seen elsewhere points at {}{}, which needs that node's view to confirm",
            names.join(", "),
            v.code.as_str(),
            v.node.as_deref().map(|n| format!(" on {n}")).unwrap_or_default(),
        ),
    )
    .ev(names.iter().map(|n| format!("unobserved: {n}")))
    .ev(probe_lines(ev))
    .ev(hop_lines(ev, &PATH_ROLES));
    for m in &ev.missing {
        f = f.ev([format!("missing: {m}")]);
    }
    for d in &down {
        f = f.next(format!(
            "kubectl -n hopdump get pods -o wide --field-selector spec.nodeName={}   # is its agent running?",
            d.name
        ));
    }
    Some(f.next("run the trace again once every node on the path has a reachable agent".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(node: &str, iface: &str, role: HopRole, fwd: u32, rep: u32) -> Hop {
        Hop {
            node: node.into(),
            iface: iface.into(),
            role,
            endpoint: (role == HopRole::Pod).then(|| "10.244.2.2".parse().unwrap()),
            counts: HopCounts {
                forward: fwd,
                replies: rep,
                ..HopCounts::default()
            },
            error: None,
        }
    }

    fn rules(outcome: RuleOutcome, stop: Option<(&str, Option<StopCause>)>) -> RulesEvidence {
        RulesEvidence {
            flow: "198.51.100.10:33333 > 198.51.100.240:80/tcp".into(),
            outcome,
            summary: if stop.is_some() {
                "stopped".into()
            } else {
                "DNAT".into()
            },
            targets: if outcome == RuleOutcome::Dnat {
                vec![RuleTarget {
                    addr: "10.244.2.2".parse().unwrap(),
                    port: 8080,
                    probability: 1.0,
                    fate: "forwarded".into(),
                    stop: None,
                }]
            } else {
                Vec::new()
            },
            stop: stop.map(|(owner, cause)| RuleLine {
                text: "filter/FORWARD rule 1: -j DROP".into(),
                owner: owner.into(),
                meaning: None,
                cause,
            }),
            path: Vec::new(),
            masquerade: true,
            certain: true,
        }
    }

    fn probe(result: ProbeResult, kind: ProbeKind) -> Probe {
        Probe {
            kind,
            sport: 40001,
            result,
            detail: String::new(),
            ms: 1,
        }
    }

    /// A healthy trace: node1 announces and DNATs to a pod on node2, everything answers.
    fn healthy() -> Evidence {
        Evidence {
            target: Some(Target {
                ip: "198.51.100.240".parse().unwrap(),
                port: 80,
                proto: Proto::Tcp,
            }),
            client: Some("198.51.100.10".parse().unwrap()),
            arp: ArpObs {
                asked: true,
                requests: 3,
                responders: vec![ArpResponder {
                    mac: "02:6e:00:00:00:01".into(),
                    node: Some("node1".into()),
                    iface: Some("eth0".into()),
                    frames: 3,
                }],
                cached_mac: None,
            },
            announcer: Some("node1".into()),
            nodes: vec![
                NodeEvidence {
                    name: "node1".into(),
                    uplink: Some("eth0".into()),
                    rules: Some(rules(RuleOutcome::Dnat, None)),
                    rp_filter: Some(0),
                    route_to_client: Some("eth0".into()),
                    ..NodeEvidence::default()
                },
                NodeEvidence {
                    name: "node2".into(),
                    uplink: Some("eth0".into()),
                    rules: Some(rules(RuleOutcome::Dnat, None)),
                    ..NodeEvidence::default()
                },
            ],
            endpoints: vec![EndpointEvidence {
                addr: "10.244.2.2".parse().unwrap(),
                port: 8080,
                node: Some("node2".into()),
                pod_netns: Some("n2p1".into()),
                exists: true,
            }],
            hops: vec![
                hop("client", "eth0", HopRole::Client, 10, 10),
                hop("node1", "eth0", HopRole::Uplink, 20, 20),
                hop("node2", "eth0", HopRole::RemoteUplink, 10, 10),
                hop("node2", "cni0", HopRole::PodNetwork, 10, 10),
                hop("node2", "pod-10.244.2.2:eth0", HopRole::Pod, 10, 10),
            ],
            probed: true,
            probes: vec![
                probe(ProbeResult::Ok, ProbeKind::TcpSmall),
                probe(ProbeResult::Ok, ProbeKind::TcpLarge),
            ],
            ..Evidence::default()
        }
    }

    fn fail_all(ev: &mut Evidence, r: ProbeResult) {
        for p in &mut ev.probes {
            p.result = r;
        }
    }

    fn verdict(ev: &Evidence) -> (Code, Option<String>) {
        let (v, _) = diagnose(ev);
        (v.code, v.node)
    }

    #[test]
    fn healthy_is_ok() {
        assert_eq!(verdict(&healthy()), (Code::Ok, None));
    }

    #[test]
    fn nobody_answers_arp() {
        let mut ev = healthy();
        ev.arp.responders.clear();
        ev.announcer = None;
        ev.probes.clear();
        ev.hops.truncate(1);
        assert_eq!(verdict(&ev), (Code::NoArpReply, None));
    }

    #[test]
    fn two_macs_is_a_conflict_even_when_traffic_works() {
        let mut ev = healthy();
        ev.arp.responders.push(ArpResponder {
            mac: "02:6e:00:00:00:02".into(),
            node: Some("node2".into()),
            iface: Some("eth0".into()),
            frames: 2,
        });
        ev.nodes[1].rules = Some(rules(RuleOutcome::NoMatch, None));
        let (v, rest) = diagnose(&ev);
        assert_eq!(
            (v.code, v.node.as_deref()),
            (Code::ArpConflict, Some("node2"))
        );
        assert!(rest.iter().all(|f| f.code != Code::Ok));
    }

    #[test]
    fn packets_not_at_the_uplink() {
        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        for h in &mut ev.hops[1..] {
            h.counts = HopCounts::default();
        }
        assert_eq!(verdict(&ev), (Code::NotReachingNode, Some("node1".into())));
    }

    #[test]
    fn rule_classes() {
        let cases = [
            (RuleOutcome::NoMatch, None, Code::NoServiceRule),
            (
                RuleOutcome::Reject,
                Some(("kube-proxy", Some(StopCause::NoEndpoints))),
                Code::NoEndpoints,
            ),
            (
                RuleOutcome::Drop,
                Some(("kube-proxy", Some(StopCause::NoLocalEndpoints))),
                Code::NoLocalEndpoints,
            ),
            (
                RuleOutcome::Drop,
                Some(("kube-proxy", Some(StopCause::SourceRangeBlocked))),
                Code::SourceRangeBlocked,
            ),
            (
                RuleOutcome::Drop,
                Some(("host-firewall", None)),
                Code::FirewallDrop,
            ),
            (
                RuleOutcome::Drop,
                Some(("calico", None)),
                Code::NetworkPolicyDrop,
            ),
            (
                RuleOutcome::Reject,
                Some(("kube-router", None)),
                Code::NetworkPolicyDrop,
            ),
        ];
        for (outcome, stop, code) in cases {
            let mut ev = healthy();
            fail_all(&mut ev, ProbeResult::Timeout);
            ev.nodes[0].rules = Some(rules(outcome, stop));
            assert_eq!(verdict(&ev), (code, Some("node1".into())), "{stop:?}");
        }
    }

    #[test]
    fn rules_alone_do_not_win_over_working_probes() {
        let mut ev = healthy();
        ev.nodes[0].rules = Some(rules(RuleOutcome::Drop, Some(("host-firewall", None))));
        assert_ne!(verdict(&ev).0, Code::FirewallDrop);
    }

    #[test]
    fn withdrawn_service_without_endpoints() {
        let mut ev = healthy();
        ev.arp.responders.clear();
        ev.announcer = None;
        ev.probes.clear();
        for n in &mut ev.nodes {
            n.rules = Some(rules(
                RuleOutcome::Reject,
                Some(("kube-proxy", Some(StopCause::NoEndpoints))),
            ));
        }
        assert_eq!(verdict(&ev), (Code::NoEndpoints, None));
    }

    #[test]
    fn rp_filter_drop_from_the_kernel() {
        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        ev.drops.push(DropObs {
            node: "node1".into(),
            iface: Some("eth0".into()),
            reason: "IP_RPFILTER".into(),
            location: "ip_rcv_finish_core+0x1".into(),
            packet: "IP 198.51.100.10.40001 > 198.51.100.240.80: Flags [S]".into(),
            count: 3,
        });
        assert_eq!(verdict(&ev), (Code::RpFilterDrop, Some("node1".into())));
    }

    #[test]
    fn pod_network_faults() {
        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        ev.endpoints[0].exists = false;
        assert_eq!(verdict(&ev).0, Code::EndpointUnreachable);

        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        for h in &mut ev.hops[2..] {
            h.counts = HopCounts::default();
        }
        assert_eq!(verdict(&ev), (Code::CniRouting, Some("node1".into())));
    }

    #[test]
    fn unobserved_endpoint_node_makes_absence_inconclusive() {
        // node2's agent died: its hops carry the error and nothing was counted there.
        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        for h in &mut ev.hops[2..] {
            h.counts = HopCounts::default();
            h.error = Some("agent stream broken".into());
        }
        ev.nodes[1].unobserved = Some("agent node2 (198.51.100.12:7443): stream broken".into());
        let (v, rest) = diagnose(&ev);
        assert_eq!(v.code, Code::Inconclusive);
        assert!(v.summary.contains("node2"), "{}", v.summary);
        assert!(v.evidence.iter().any(|e| e.contains("stream broken")));
        assert!(!rest.is_empty(), "the would-be verdict stays as a finding");
        // The same absence with every node observed is a verdict.
        ev.nodes[1].unobserved = None;
        for h in &mut ev.hops[2..] {
            h.error = None;
        }
        assert_ne!(verdict(&ev).0, Code::Inconclusive);
    }

    #[test]
    fn proven_verdicts_stand_with_a_node_unobserved() {
        // Rules on the announcer drop the flow: proven by node1's own rules.
        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        ev.nodes[0].rules = Some(rules(
            RuleOutcome::Drop,
            Some(("filter/INPUT rule 1: -j DROP", None)),
        ));
        ev.nodes[1].unobserved = Some("agent down".into());
        let before = verdict(&ev);
        assert_ne!(before.0, Code::Inconclusive);
        assert_eq!(before.1.as_deref(), Some("node1"));
    }

    /// The healthy trace with a third node hosting a pod, its hops having seen `n` packets.
    fn with_node3(n: u32) -> Evidence {
        let mut ev = healthy();
        ev.endpoints.push(EndpointEvidence {
            addr: "10.244.3.2".parse().unwrap(),
            port: 8080,
            node: Some("node3".into()),
            pod_netns: Some("n3p1".into()),
            exists: true,
        });
        ev.hops
            .push(hop("node3", "eth0", HopRole::RemoteUplink, n, n));
        ev.hops
            .push(hop("node3", "cni0", HopRole::PodNetwork, n, n));
        ev
    }

    /// Three nodes, node1's route to node2's pod CIDR gone: node3's pod answers, node2's never
    /// sees a packet. Some small probes fail too, so this is routing, not MTU.
    #[test]
    fn one_remote_node_unrouted_among_several_is_cni_routing() {
        let mut ev = with_node3(10);
        for h in &mut ev.hops[2..5] {
            h.counts = HopCounts::default();
        }
        ev.hops[0].counts.forward_large = 4;
        ev.hops[1].counts.forward_large = 4;
        ev.probes = vec![
            probe(ProbeResult::Ok, ProbeKind::TcpSmall),
            probe(ProbeResult::Timeout, ProbeKind::TcpSmall),
            probe(ProbeResult::Ok, ProbeKind::TcpLarge),
            probe(ProbeResult::Timeout, ProbeKind::TcpLarge),
        ];
        let (v, _) = diagnose(&ev);
        assert_eq!(
            (v.code, v.node.as_deref()),
            (Code::CniRouting, Some("node1"))
        );
        assert!(
            v.summary.contains("10.244.2.2") && !v.summary.contains("10.244.3.2"),
            "{}",
            v.summary
        );
        // The same partial absence with every small probe answered is not routing: an
        // endpoint the probes did not happen to reach proves nothing.
        ev.probes[1].result = ProbeResult::Ok;
        assert_ne!(verdict(&ev).0, Code::CniRouting);
    }

    /// Review: with several remote endpoints some get no probe by chance; when a reached pod
    /// refuses, that is the failure, not routing to the unprobed ones.
    #[test]
    fn an_unprobed_endpoint_beside_a_refusing_pod_is_not_cni_routing() {
        let mut ev = with_node3(0);
        ev.hops[4].counts.rst = 3;
        ev.probes = vec![
            probe(ProbeResult::Ok, ProbeKind::TcpSmall),
            probe(ProbeResult::Refused, ProbeKind::TcpSmall),
        ];
        assert_ne!(verdict(&ev).0, Code::CniRouting);
    }

    /// Healthy, with a second endpoint on node1 that every probe happened to reach: node2's
    /// hops saw nothing.
    fn all_probes_on_the_local_pod() -> Evidence {
        let mut ev = healthy();
        ev.endpoints.insert(
            0,
            EndpointEvidence {
                addr: "10.244.1.2".parse().unwrap(),
                port: 8080,
                node: Some("node1".into()),
                pod_netns: Some("n1p1".into()),
                exists: true,
            },
        );
        for h in &mut ev.hops[2..] {
            h.counts = HopCounts::default();
        }
        ev
    }

    /// Flaky lab run: every probe happened to go to node1's own pod, so node2 saw nothing —
    /// with every probe answered, that is not a routing fault.
    #[test]
    fn regression_all_probes_on_the_local_endpoint_is_ok() {
        let ev = all_probes_on_the_local_pod();
        assert_eq!(verdict(&ev), (Code::Ok, None));
    }

    fn ct(sport: u16, to: &str, replied: bool) -> CtObs {
        CtObs {
            line: format!("tcp 6 src=198.51.100.10 dst=198.51.100.240 sport={sport} dport=80"),
            client: "198.51.100.10".parse().unwrap(),
            client_port: sport,
            to: to.parse().unwrap(),
            to_port: 8080,
            udp: false,
            replied,
        }
    }

    /// CI, vxlan/nftables healthy on a loaded machine: every probe went to node1's own pod
    /// and one of them timed out there; node2 saw nothing. Conntrack on node1 says where the
    /// failed probe went: the local pod, so node2's route is not in question.
    #[test]
    fn regression_a_failed_probe_on_the_local_endpoint_is_not_cni_routing() {
        let mut ev = all_probes_on_the_local_pod();
        ev.probes = vec![
            probe(ProbeResult::Ok, ProbeKind::TcpSmall),
            probe(ProbeResult::Timeout, ProbeKind::TcpSmall),
            probe(ProbeResult::Ok, ProbeKind::TcpLarge),
        ];
        for (i, p) in ev.probes.iter_mut().enumerate() {
            p.sport = 40001 + i as u16;
        }
        ev.nodes[0].conntrack = vec![
            ct(40001, "10.244.1.2", true),
            ct(40002, "10.244.1.2", false),
            ct(40003, "10.244.1.2", true),
        ];
        let (v, _) = diagnose(&ev);
        assert_ne!(v.code, Code::CniRouting);
        // Whatever the verdict, the failed probe is placed: DNATed to node1's pod, no reply.
        let all: Vec<&String> = v.evidence.iter().collect();
        assert!(
            v.evidence.iter().any(|l| l.starts_with(
                "failed probe sport 40002: conntrack on node1 sends it to 10.244.1.2:8080, no reply"
            )),
            "{all:#?}"
        );
        if v.code == Code::Inconclusive {
            assert!(
                v.summary.starts_with("1 of 3 probes failed"),
                "{}",
                v.summary
            );
        }
        // The same failure DNATed to node2's pod, unanswered: that is the routing fault.
        ev.nodes[0].conntrack[1] = ct(40002, "10.244.2.2", false);
        assert_eq!(verdict(&ev), (Code::CniRouting, Some("node1".into())));
        // No conntrack entry for the failed probe (dropped after DNAT, never confirmed), or
        // no source port to match: the hop counts alone decide, as before.
        ev.nodes[0].conntrack.remove(1);
        assert_eq!(verdict(&ev), (Code::CniRouting, Some("node1".into())));
        ev.nodes[0]
            .conntrack
            .insert(1, ct(40002, "10.244.1.2", false));
        ev.probes[1].sport = 0;
        assert_eq!(verdict(&ev), (Code::CniRouting, Some("node1".into())));
        // A second failed probe without an entry beside one accounted for locally: it may
        // have been the one routed to node2 and dropped.
        ev.probes[1].sport = 40002;
        ev.probes
            .push(probe(ProbeResult::Timeout, ProbeKind::TcpSmall));
        ev.probes[3].sport = 40004;
        assert_eq!(verdict(&ev), (Code::CniRouting, Some("node1".into())));
    }

    /// Cilium or Calico eBPF without kube-proxy: netfilter has no rule for the LB IP, yet every
    /// probe is answered — not `no_service_rule`. With the probes failing it still is.
    #[test]
    fn no_netfilter_rule_but_answered_is_not_no_service_rule() {
        let mut ev = healthy();
        ev.nodes[0].rules = Some(rules(RuleOutcome::NoMatch, None));
        assert_eq!(verdict(&ev), (Code::Ok, None));
        // Review: answered, but not by the pods (a process on the node holds the LB IP, the
        // pods see nothing) — that is the fault.
        let mut local = ev.clone();
        local.nodes[0].rules = Some(rules(RuleOutcome::Accept, None));
        for h in &mut local.hops[2..] {
            h.counts = HopCounts::default();
        }
        assert_eq!(verdict(&local), (Code::NoServiceRule, Some("node1".into())));
        fail_all(&mut ev, ProbeResult::Timeout);
        for h in &mut ev.hops[2..] {
            h.counts = HopCounts::default();
        }
        let (v, _) = diagnose(&ev);
        assert_eq!(
            (v.code, v.node.as_deref()),
            (Code::NoServiceRule, Some("node1"))
        );
        assert!(
            v.next_steps
                .iter()
                .any(|n| n.contains("cilium-dbg service list")),
            "{:?}",
            v.next_steps
        );
    }

    #[test]
    fn small_probes_failing_too_is_not_mtu() {
        let mut ev = healthy();
        ev.probes = vec![
            probe(ProbeResult::Ok, ProbeKind::TcpSmall),
            probe(ProbeResult::Refused, ProbeKind::TcpSmall),
            probe(ProbeResult::Timeout, ProbeKind::TcpLarge),
        ];
        ev.hops[0].counts.forward_large = 4;
        assert_ne!(verdict(&ev).0, Code::MtuMismatch);
    }

    /// CI, agent lab on a loaded machine: a healthy cluster's large probe timed out (the pod
    /// answered late) while its large packets reached every hop — not `mtu_mismatch`.
    #[test]
    fn regression_a_late_large_probe_with_large_packets_everywhere_is_not_mtu() {
        let mut ev = healthy();
        ev.probes[1].result = ProbeResult::Timeout;
        for h in &mut ev.hops {
            h.counts.forward_large = 4;
        }
        assert_ne!(verdict(&ev).0, Code::MtuMismatch);
        // An ICMP "fragmentation needed" seen on the way is evidence enough by itself.
        ev.hops[0].counts.icmp_too_big = 1;
        assert_eq!(verdict(&ev).0, Code::MtuMismatch);
    }

    /// Fresh-clone CI, healthy lab: every probe went to node2's pod, whose server reset two
    /// large POSTs; node1/cni0, carrying nothing, was named the place large packets vanish.
    #[test]
    fn regression_reset_large_probes_and_an_idle_hop_are_not_mtu() {
        let mut ev = healthy();
        ev.hops
            .insert(2, hop("node1", "cni0", HopRole::PodNetwork, 0, 0));
        ev.hops[0].counts.forward_large = 4;
        ev.hops[1].counts.forward_large = 4;
        for h in &mut ev.hops[3..] {
            h.counts.forward_large = 4;
        }
        ev.probes[1].result = ProbeResult::Reset;
        assert_ne!(verdict(&ev).0, Code::MtuMismatch);
        // Timed out instead: still no hop where large packets stop — not MTU either.
        ev.probes[1].result = ProbeResult::Timeout;
        assert_ne!(verdict(&ev).0, Code::MtuMismatch);
        // Large packets really stopping after node1's uplink, on the path taken: MTU.
        for h in &mut ev.hops[3..] {
            h.counts.forward_large = 0;
        }
        assert_eq!(verdict(&ev).0, Code::MtuMismatch);
    }

    #[test]
    fn large_packets_vanish() {
        let mut ev = healthy();
        ev.probes[1].result = ProbeResult::Timeout;
        ev.hops[0].counts.forward_large = 4;
        assert_eq!(verdict(&ev), (Code::MtuMismatch, Some("node1".into())));
    }

    #[test]
    fn pod_faults() {
        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Refused);
        ev.hops[4].counts.rst = 2;
        assert_eq!(verdict(&ev), (Code::PodNotListening, Some("node2".into())));

        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        for h in &mut ev.hops {
            h.counts.replies = 0;
        }
        assert_eq!(verdict(&ev), (Code::PodNotResponding, Some("node2".into())));

        let mut ev = healthy();
        fail_all(&mut ev, ProbeResult::Timeout);
        ev.hops[0].counts.replies = 0;
        ev.hops[0].counts.replies_un_nated = 3;
        ev.hops[1].counts.replies = 0;
        assert_eq!(verdict(&ev), (Code::ReplyPathBroken, Some("node1".into())));
    }

    #[test]
    fn stale_entry_pins_a_live_flow() {
        let mut ev = healthy();
        ev.nodes[0].conntrack.push(CtObs {
            line: "udp 17 src=198.51.100.10 dst=198.51.100.240 sport=40000 dport=80".into(),
            client: "198.51.100.10".parse().unwrap(),
            client_port: 40000,
            to: "10.244.9.9".parse().unwrap(),
            to_port: 9000,
            udp: true,
            replied: true,
        });
        ev.watched.push(WatchedFlow {
            client: "198.51.100.10".parse().unwrap(),
            sport: 40000,
            forward: 5,
            replies: 0,
        });
        assert_eq!(verdict(&ev), (Code::StaleConntrack, Some("node1".into())));
    }

    #[test]
    fn nothing_observed_is_inconclusive() {
        let ev = Evidence {
            target: healthy().target,
            ..Evidence::default()
        };
        let (v, _) = diagnose(&ev);
        assert_eq!(v.code, Code::Inconclusive);
        assert!(!v.next_steps.is_empty());
    }

    #[test]
    fn codes_are_the_issue_vocabulary() {
        let names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), 19);
        for c in Code::ALL {
            let j = serde_json::to_string(&c).unwrap();
            assert_eq!(j, format!("\"{}\"", c.as_str()));
        }
    }
}
