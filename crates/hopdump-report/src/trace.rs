//! The `hopdump trace --report` page: the verdict, the packet path drawn hop by hop (client →
//! ARP → node NIC → kube-proxy → overlay/remote node → pod network → pod) coloured by what was
//! seen at each hop, then the evidence, next steps and every table of the `hopdump.trace/v1`
//! document. Reads only [`TraceReport`], the same data `--json` prints.

use std::fmt::Write as _;

use hopdump_engine::TraceReport;
use hopdump_engine::report::{JsonFinding, JsonHop};

use crate::html::{self, esc};
use crate::svg::{self, Cell, Column};

/// Verdict codes decided by the rules of the announcing node before or at DNAT (the drawing's
/// kube-proxy stage), with what the rules did.
const RULE_CODES: [(&str, &str); 6] = [
    ("no_service_rule", "no rule for the LB IP"),
    ("no_endpoints", "REJECT: no endpoints"),
    ("no_local_endpoints", "DROP: no local endpoint"),
    ("source_range_blocked", "DROP: source range"),
    ("firewall_drop", "DROP: host firewall"),
    ("network_policy_drop", "DROP: NetworkPolicy"),
];

/// Which hop a role is drawn as, and the column it goes in.
fn role_title(role: &str) -> &'static str {
    match role {
        "client" => "Client",
        "uplink" => "Node NIC",
        "overlay" => "Overlay",
        "remote_uplink" => "Remote node",
        "pod_network" => "Pod network",
        "pod" => "Pod",
        _ => "Other",
    }
}

/// `node/iface`, the engine's name of a hop (`verdict.hop`).
fn hop_name(h: &JsonHop) -> String {
    format!("{}/{}", h.node, h.iface)
}

/// Kernel drops attributed to this hop (same node and interface).
fn hop_drops(r: &TraceReport, h: &JsonHop) -> u32 {
    r.drops
        .iter()
        .filter(|d| d.node == h.node && d.iface.as_deref() == Some(h.iface.as_str()))
        .map(|d| d.count)
        .sum()
}

/// The colour class of a hop: what was seen there.
pub fn hop_class(r: &TraceReport, h: &JsonHop) -> &'static str {
    let s = &h.seen;
    if h.error.is_some() {
        "hop-error"
    } else if hop_drops(r, h) > 0 {
        "hop-drops"
    } else if s.replies > 0 {
        "hop-replies"
    } else if s.probes_in > 0 || s.dnat > 0 {
        "hop-probes"
    } else {
        "hop-nothing"
    }
}

fn class_meaning(class: &str) -> &'static str {
    match class {
        "hop-error" => "not captured",
        "hop-drops" => "kernel drops",
        "hop-replies" => "probes and replies",
        "hop-probes" => "probes in, no reply",
        _ => "nothing seen",
    }
}

fn is_failing(r: &TraceReport, h: &JsonHop) -> bool {
    r.verdict.code != "ok" && r.verdict.hop.as_deref() == Some(hop_name(h).as_str())
}

/// The verdict names no drawn hop (no hop, or one that was not planned): then the stage its
/// code is about carries the mark, so a failing page always points somewhere.
fn stage_failing(r: &TraceReport, stage: &str) -> bool {
    if r.verdict.code == "ok" || r.hops.iter().any(|h| is_failing(r, h)) {
        return false;
    }
    match stage {
        "arp" => matches!(r.verdict.code.as_str(), "no_arp_reply" | "arp_conflict"),
        _ => RULE_CODES.iter().any(|(c, _)| *c == r.verdict.code),
    }
}

fn hop_cell(r: &TraceReport, i: usize, h: &JsonHop) -> Cell {
    let s = &h.seen;
    let class = hop_class(r, h);
    // node/iface on one line, or on two when it would not fit (pod hops).
    let mut lines = if hop_name(h).chars().count() > 24 {
        vec![h.node.clone(), h.iface.clone()]
    } else {
        vec![hop_name(h)]
    };
    if let Some(e) = &h.error {
        lines.push(format!("not captured: {e}"));
    } else {
        lines.push(format!("probes in {} · DNAT {}", s.probes_in, s.dnat));
        lines.push(format!("replies {} · large {}", s.replies, s.replies_large));
        let mut bad = Vec::new();
        if s.rst > 0 {
            bad.push(format!("RST {}", s.rst));
        }
        if s.icmp_unreachable > 0 {
            bad.push(format!("ICMP unr {}", s.icmp_unreachable));
        }
        if s.icmp_too_big > 0 {
            bad.push(format!("too big {}", s.icmp_too_big));
        }
        if s.replies_un_nated > 0 {
            bad.push(format!("un-NATed {}", s.replies_un_nated));
        }
        let drops = hop_drops(r, h);
        if drops > 0 {
            bad.push(format!("drops {drops}"));
        }
        if !bad.is_empty() {
            lines.push(bad.join(" · "));
        }
    }
    if let Some(ep) = h.endpoint {
        lines.push(format!("→ {ep}"));
    }
    Cell {
        class: class.to_string(),
        kind: "hop",
        id: format!("hop-{}", i + 1),
        data: vec![
            ("node", h.node.clone()),
            ("iface", h.iface.clone()),
            ("role", h.role.clone()),
        ],
        title: role_title(&h.role).to_string(),
        tip: format!("{}: {} ({})", hop_name(h), h.role, class_meaning(class)),
        lines,
        failing: is_failing(r, h),
        lane: None,
    }
}

/// The ARP/NDP step: who answered for the LB IP.
fn arp_cell(r: &TraceReport) -> Cell {
    let v6 = r.target.ip.is_ipv6();
    let mut macs: Vec<&str> = r.arp_responders.iter().map(|a| a.mac.as_str()).collect();
    macs.sort_unstable();
    macs.dedup();
    let (class, state) = match macs.len() {
        0 => ("st-fail", "nobody answered".to_string()),
        1 => ("st-ok", "one answer".to_string()),
        n => ("st-warn", format!("{n} MACs answered")),
    };
    let mut lines = vec![format!("who has {}?", r.target.ip), state];
    for a in r.arp_responders.iter().take(3) {
        lines.push(format!(
            "{} {}",
            a.mac,
            a.node
                .as_deref()
                .map(|n| format!("({n})"))
                .unwrap_or_default()
        ));
    }
    let tip = r
        .arp_responders
        .iter()
        .map(|a| {
            format!(
                "{} = {} ({} frames)",
                a.mac,
                a.node.as_deref().unwrap_or("unknown node"),
                a.frames
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Cell {
        class: class.to_string(),
        kind: "stage",
        id: "stage-arp".into(),
        data: vec![("stage", "arp".into())],
        title: if v6 { "Segment / NDP" } else { "Segment / ARP" }.into(),
        tip: if tip.is_empty() {
            "no ARP/NDP answer for the LB IP".into()
        } else {
            tip
        },
        lines,
        failing: stage_failing(r, "arp"),
        lane: None,
    }
}

/// What the announcing node's rules did with the flow, as far as the report says: the verdict
/// when it is a rules verdict, else DNAT seen (or not) in the counts.
fn kube_proxy_cell(r: &TraceReport) -> Cell {
    let node = r
        .announcer
        .as_ref()
        .and_then(|a| a.node.clone())
        .or_else(|| r.verdict.node.clone())
        .unwrap_or_else(|| "announcer".into());
    let dnat: u32 = r.hops.iter().map(|h| h.seen.dnat).sum();
    let uplink_in: u32 = r
        .hops
        .iter()
        .filter(|h| h.role == "uplink")
        .map(|h| h.seen.probes_in)
        .sum();
    let rule = RULE_CODES.iter().find(|(c, _)| *c == r.verdict.code);
    let targets: Vec<String> = r
        .endpoints
        .iter()
        .map(|e| match e.ip {
            std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", e.port),
            ip => format!("{ip}:{}", e.port),
        })
        .collect();
    let mut lines = vec![format!("on {node}")];
    let (class, outcome) = if let Some((_, what)) = rule {
        ("st-fail", what.to_string())
    } else if dnat > 0 {
        ("st-ok", "DNAT →".to_string())
    } else if uplink_in > 0 {
        ("st-warn", "no DNAT seen".to_string())
    } else {
        ("st-unknown", "not reached".to_string())
    };
    lines.push(outcome.clone());
    if rule.is_none()
        || r.verdict.code == "firewall_drop"
        || r.verdict.code == "network_policy_drop"
    {
        for t in targets.iter().take(2) {
            lines.push(format!("  {t}"));
        }
        if targets.len() > 2 {
            lines.push(format!("  +{} more", targets.len() - 2));
        }
    }
    Cell {
        class: class.into(),
        kind: "stage",
        id: "stage-kube-proxy".into(),
        data: vec![("stage", "kube-proxy".into()), ("outcome", outcome.clone())],
        title: "kube-proxy / rules".into(),
        tip: format!(
            "rules on {node}: {outcome}; DNAT targets: {}",
            if targets.is_empty() {
                "none".to_string()
            } else {
                targets.join(", ")
            }
        ),
        lines,
        failing: stage_failing(r, "kube-proxy"),
        lane: None,
    }
}

/// Roles after the path forks toward the endpoints.
const BRANCH_ROLES: [&str; 4] = ["overlay", "remote_uplink", "pod_network", "pod"];

/// The lane (branch) a hop is drawn in: one per endpoint node, the announcer's own first. The
/// overlay device sits on the announcer but carries the remote branch: it goes in the lane of
/// the first other node.
fn lane_of(r: &TraceReport, h: &JsonHop) -> Option<u32> {
    if !BRANCH_ROLES.contains(&h.role.as_str()) {
        return None;
    }
    let announcer = r.announcer.as_ref().and_then(|a| a.node.as_deref());
    let mut nodes: Vec<&str> = Vec::new();
    for x in r
        .hops
        .iter()
        .filter(|x| BRANCH_ROLES.contains(&x.role.as_str()))
    {
        if !nodes.contains(&x.node.as_str()) {
            nodes.push(&x.node);
        }
    }
    if let Some(a) = announcer.and_then(|a| nodes.iter().position(|n| *n == a)) {
        let a = nodes.remove(a);
        nodes.insert(0, a);
    }
    let node = if h.role == "overlay" {
        nodes
            .iter()
            .find(|n| **n != h.node)
            .copied()
            .unwrap_or(&h.node)
    } else {
        &h.node
    };
    nodes.iter().position(|n| *n == node).map(|p| p as u32)
}

fn columns(r: &TraceReport) -> Vec<Column> {
    let col = |title: &str, role: &str| Column {
        title: title.to_string(),
        cells: r
            .hops
            .iter()
            .enumerate()
            .filter(|(_, h)| h.role == role)
            .map(|(i, h)| Cell {
                lane: lane_of(r, h),
                ..hop_cell(r, i, h)
            })
            .collect(),
    };
    let mut client = col("Client", "client");
    if client.cells.is_empty() {
        client.cells.push(Cell {
            class: "st-unknown".into(),
            kind: "stage",
            id: "stage-client".into(),
            data: vec![("stage", "client".into())],
            title: "Client".into(),
            lines: vec![
                r.client.map(|c| c.to_string()).unwrap_or("?".into()),
                "not captured".into(),
            ],
            tip: "the client's side was not captured".into(),
            failing: false,
            lane: None,
        });
    }
    let mut cols = vec![
        client,
        Column {
            title: "ARP".into(),
            cells: vec![arp_cell(r)],
        },
        col("Node NIC", "uplink"),
        Column {
            title: "kube-proxy".into(),
            cells: vec![kube_proxy_cell(r)],
        },
        col("Overlay", "overlay"),
        col("Remote node", "remote_uplink"),
        col("Pod network", "pod_network"),
        col("Pod", "pod"),
    ];
    // Hops of a role this page does not know still get drawn (at the end).
    let known = [
        "client",
        "uplink",
        "overlay",
        "remote_uplink",
        "pod_network",
        "pod",
    ];
    let other: Vec<Cell> = r
        .hops
        .iter()
        .enumerate()
        .filter(|(_, h)| !known.contains(&h.role.as_str()))
        .map(|(i, h)| hop_cell(r, i, h))
        .collect();
    cols.push(Column {
        title: "Other".into(),
        cells: other,
    });
    cols
}

/// What kind of evidence a line is, from the engine's wording (for the badge only; the text
/// is shown verbatim).
pub fn evidence_kind(line: &str) -> &'static str {
    let t = line.trim_start();
    if t.starts_with("kernel drop") {
        "drop"
    } else if t.starts_with("rules ")
        || t.starts_with("rule ")
        || t.starts_with("stopped by")
        || t.starts_with("meaning:")
        || t.starts_with("-A ")
        || t.contains(" rule ")
    {
        "rule"
    } else if t.contains("src=") && t.contains("dst=") || t.starts_with("conntrack") {
        "conntrack"
    } else if t.starts_with("probes ") {
        "probe"
    } else if t.starts_with("cluster:") {
        "cluster"
    } else if t.starts_with("missing:") {
        "missing"
    } else if t.contains(" probe packet(s) in ") {
        "hop"
    } else if line.starts_with("  ") || t.contains(" > ") || t.starts_with("ARP") {
        "packet"
    } else {
        "note"
    }
}

fn evidence_list(out: &mut String, lines: &[String]) {
    if lines.is_empty() {
        html::none(out, "no evidence lines");
        return;
    }
    out.push_str("<ul class=\"evidence\">\n");
    for l in lines {
        let k = evidence_kind(l);
        let _ = writeln!(
            out,
            "<li class=\"ev ev-{k}\"><span class=\"tag\">{k}</span><code>{}</code></li>",
            esc(l)
        );
    }
    out.push_str("</ul>\n");
}

fn where_(f: &JsonFinding) -> String {
    let mut s = String::new();
    if let Some(n) = &f.node {
        let _ = write!(s, "node <b class=\"node\">{}</b>", esc(n));
    }
    if let Some(h) = &f.hop {
        if !s.is_empty() {
            s.push_str(" · ");
        }
        let _ = write!(s, "hop <b class=\"hop\">{}</b>", esc(h));
    }
    s
}

fn verdict(out: &mut String, r: &TraceReport) {
    let v = &r.verdict;
    let ok = v.code == "ok";
    let _ = write!(
        out,
        "<section id=\"verdict\" class=\"verdict {}\" data-code=\"{}\"",
        if ok { "verdict-ok" } else { "verdict-fail" },
        esc(&v.code)
    );
    if let Some(n) = &v.node {
        let _ = write!(out, " data-node=\"{}\"", esc(n));
    }
    if let Some(h) = &v.hop {
        let _ = write!(out, " data-hop=\"{}\"", esc(h));
    }
    let _ = writeln!(
        out,
        ">\n<div><span class=\"mark\">{}</span> <span class=\"code\">{}</span><span class=\"where\">{}</span></div>\n<div class=\"summary\">{}</div>\n</section>",
        if ok { "✔" } else { "✘" },
        esc(&v.code),
        where_(v),
        esc(&v.summary)
    );
}

fn legend(out: &mut String) {
    out.push_str("<div class=\"legend\">");
    for c in [
        "hop-replies",
        "hop-probes",
        "hop-nothing",
        "hop-drops",
        "hop-error",
    ] {
        let _ = write!(
            out,
            "<span><i class=\"sw {c}\"></i>{}</span>",
            class_meaning(c)
        );
    }
    out.push_str("<span><i class=\"sw failing\"></i>the verdict's hop</span></div>\n");
}

fn target(r: &TraceReport) -> String {
    match r.target.ip {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}/{}", r.target.port, r.target.proto),
        ip => format!("{ip}:{}/{}", r.target.port, r.target.proto),
    }
}

fn hops_table(out: &mut String, r: &TraceReport) {
    html::thead(
        out,
        &[
            "#",
            "hop",
            "role",
            "probes in",
            "large",
            "after DNAT",
            "replies",
            "large replies",
            "un-NATed",
            "RST",
            "ICMP unreach.",
            "ICMP too big",
            "kernel drops",
            "not captured",
        ],
    );
    for (i, h) in r.hops.iter().enumerate() {
        let s = &h.seen;
        let _ = write!(
            out,
            "<tr class=\"{}{}\" data-hop=\"{}\">",
            hop_class(r, h),
            if is_failing(r, h) { " failing" } else { "" },
            esc(&hop_name(h))
        );
        html::tdn(out, i + 1);
        html::tdc(out, &hop_name(h));
        html::td(out, &h.role);
        for n in [
            s.probes_in,
            s.probes_large,
            s.dnat,
            s.replies,
            s.replies_large,
            s.replies_un_nated,
            s.rst,
            s.icmp_unreachable,
            s.icmp_too_big,
            hop_drops(r, h),
        ] {
            html::tdn(out, n);
        }
        html::td(out, h.error.as_deref().unwrap_or(""));
        out.push_str("</tr>\n");
    }
    html::tend(out);
}

/// Render the trace report as one self-contained HTML page.
pub fn trace_html(r: &TraceReport) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let tgt = target(r);
    html::open(
        &mut out,
        &format!("hopdump trace {tgt} — {}", r.verdict.code),
    );
    let _ = writeln!(out, "<h1>hopdump trace <code>{}</code></h1>", esc(&tgt));
    let _ = writeln!(
        out,
        "<p class=\"meta\"><span>client {}</span><span>announcer {}</span><span>started {}</span><span>{} ms</span></p>",
        esc(&r.client.map(|c| c.to_string()).unwrap_or("?".into())),
        esc(&r
            .announcer
            .as_ref()
            .map(|a| format!(
                "{} ({})",
                a.node.as_deref().unwrap_or("unknown node"),
                a.mac
            ))
            .unwrap_or("none".into())),
        html::utc(r.started_unix_ms),
        r.duration_ms
    );
    verdict(&mut out, r);

    html::h2(&mut out, "path", "Packet path");
    out.push_str("<div class=\"diagram\">\n");
    svg::diagram(&mut out, &format!("packet path to {tgt}"), &columns(r));
    legend(&mut out);
    out.push_str("</div>\n");

    html::h2(&mut out, "evidence", "Evidence");
    evidence_list(&mut out, &r.verdict.evidence);

    html::h2(&mut out, "next-steps", "Next steps");
    if r.verdict.next_steps.is_empty() {
        html::none(&mut out, "nothing to do");
    } else {
        html::commands(&mut out, &r.verdict.next_steps);
    }

    html::h2(&mut out, "hops", "Hops");
    if r.hops.is_empty() {
        html::none(&mut out, "no hops were captured");
    } else {
        hops_table(&mut out, r);
    }

    html::h2(&mut out, "arp", "ARP / NDP answers for the LB IP");
    if r.arp_responders.is_empty() {
        html::none(&mut out, "nobody answered");
    } else {
        html::thead(&mut out, &["MAC", "node", "frames"]);
        for a in &r.arp_responders {
            out.push_str("<tr>");
            html::tdc(&mut out, &a.mac);
            html::td(&mut out, a.node.as_deref().unwrap_or(""));
            html::tdn(&mut out, a.frames);
            out.push_str("</tr>\n");
        }
        html::tend(&mut out);
    }

    html::h2(&mut out, "endpoints", "Endpoints");
    if r.endpoints.is_empty() {
        html::none(&mut out, "no endpoints");
    } else {
        html::thead(&mut out, &["address", "port", "node", "netns", "exists"]);
        for e in &r.endpoints {
            let _ = write!(
                out,
                "<tr class=\"{}\">",
                if e.exists { "st-ok" } else { "st-fail" }
            );
            html::tdc(&mut out, &e.ip.to_string());
            html::tdn(&mut out, e.port);
            html::td(&mut out, e.node.as_deref().unwrap_or(""));
            html::td(&mut out, e.netns.as_deref().unwrap_or(""));
            html::td(&mut out, if e.exists { "yes" } else { "no" });
            out.push_str("</tr>\n");
        }
        html::tend(&mut out);
    }

    html::h2(&mut out, "probes", "Probes");
    if r.probes.is_empty() {
        html::none(&mut out, "no probes were sent");
    } else {
        html::thead(&mut out, &["kind", "source port", "result", "ms", "detail"]);
        for p in &r.probes {
            let _ = write!(
                out,
                "<tr class=\"{}\">",
                if p.result == "ok" { "st-ok" } else { "st-fail" }
            );
            html::td(&mut out, &p.kind);
            html::tdn(&mut out, p.sport);
            html::td(&mut out, &p.result);
            html::tdn(&mut out, p.ms);
            html::tdc(&mut out, &p.detail);
            out.push_str("</tr>\n");
        }
        html::tend(&mut out);
    }

    html::h2(&mut out, "drops", "Kernel drops");
    if r.drops.is_empty() {
        html::none(&mut out, "no kernel drops of the traced flows");
    } else {
        html::thead(
            &mut out,
            &["node", "interface", "reason", "location", "count", "packet"],
        );
        for d in &r.drops {
            out.push_str("<tr class=\"st-fail\">");
            html::td(&mut out, &d.node);
            html::td(&mut out, d.iface.as_deref().unwrap_or(""));
            html::tdc(&mut out, &d.reason);
            html::tdc(&mut out, &d.location);
            html::tdn(&mut out, d.count);
            html::tdc(&mut out, &d.packet);
            out.push_str("</tr>\n");
        }
        html::tend(&mut out);
    }

    html::h2(&mut out, "findings", "Other findings");
    if r.findings.is_empty() {
        html::none(&mut out, "none");
    }
    for f in &r.findings {
        let _ = writeln!(
            out,
            "<div class=\"finding\" data-code=\"{}\"><h3><code>{}</code> {}</h3><p>{}</p>",
            esc(&f.code),
            esc(&f.code),
            where_(f),
            esc(&f.summary)
        );
        evidence_list(&mut out, &f.evidence);
        html::commands(&mut out, &f.next_steps);
        out.push_str("</div>\n");
    }

    html::h2(&mut out, "missing", "Not observed");
    if r.missing.is_empty() {
        html::none(&mut out, "everything planned was observed");
    } else {
        out.push_str("<ul class=\"missing\">\n");
        for m in &r.missing {
            let _ = writeln!(out, "<li>{}</li>", esc(m));
        }
        out.push_str("</ul>\n");
    }
    html::close(
        &mut out,
        &format!(
            "{} · generated by hopdump from the same data as `hopdump trace --json`",
            r.schema
        ),
    );
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn report() -> TraceReport {
        serde_json::from_str(include_str!(
            "../../../tests/scenarios/report/forward-drop.json"
        ))
        .unwrap()
    }

    #[test]
    fn hop_colour_priority_is_error_drops_replies_probes_nothing() {
        let mut r = report();
        let mut h = r.hops[1].clone();
        assert_eq!((h.node.as_str(), h.iface.as_str()), ("node1", "eth0"));
        assert_eq!(hop_class(&r, &h), "hop-drops");
        h.seen.replies = 3;
        assert_eq!(hop_class(&r, &h), "hop-drops", "drops win over replies");
        h.error = Some("no such device".into());
        assert_eq!(hop_class(&r, &h), "hop-error");
        r.drops.clear();
        h.error = None;
        assert_eq!(hop_class(&r, &h), "hop-replies");
        h.seen.replies = 0;
        assert_eq!(hop_class(&r, &h), "hop-probes");
        h.seen.probes_in = 0;
        assert_eq!(hop_class(&r, &h), "hop-nothing");
    }

    #[test]
    fn lanes_put_the_announcer_branch_first() {
        let r = report();
        let lanes: Vec<(String, Option<u32>)> = r
            .hops
            .iter()
            .map(|h| (format!("{}/{}", h.node, h.iface), lane_of(&r, h)))
            .collect();
        assert_eq!(lanes[0], ("client/eth0".into(), None));
        assert_eq!(lanes[1], ("node1/eth0".into(), None));
        for (name, lane) in &lanes[2..] {
            let want = if name.starts_with("node1/") { 0 } else { 1 };
            assert_eq!(*lane, Some(want), "{name}");
        }
        let mut overlay = r.hops[1].clone();
        overlay.role = "overlay".into();
        overlay.iface = "flannel.1".into();
        assert_eq!(
            lane_of(&r, &overlay),
            Some(1),
            "overlay carries the remote branch"
        );
    }

    #[test]
    fn evidence_kinds() {
        for (line, kind) in [
            (
                "kernel drop on node1/eth0: NETFILTER_DROP at nft_do_chain (16x): IP …",
                "drop",
            ),
            (
                "rule (host-firewall): iptables-nft filter/FORWARD rule 1: -A FORWARD -j DROP",
                "rule",
            ),
            (
                "  iptables-nft nat/PREROUTING rule 1: -A PREROUTING -j KUBE-SERVICES",
                "rule",
            ),
            (
                "  IP 198.51.100.10.52794 > 10.244.1.2.8080: Flags [S], length 0",
                "packet",
            ),
            (
                "node1/eth0: 16 probe packet(s) in (0 large, 0 after DNAT), 0 replies (0 large)",
                "hop",
            ),
            (
                "udp 17 29 src=198.51.100.10 dst=198.51.100.240 sport=40000 dport=9000",
                "conntrack",
            ),
            ("probes TcpSmall: 0/6 answered", "probe"),
            (
                "cluster: ✘ Announcing node: w1 and w2 both claim it",
                "cluster",
            ),
            ("missing: drops on node2", "missing"),
            (
                "endpoint 10.244.2.2:8080: no pod network namespace holds it",
                "note",
            ),
        ] {
            assert_eq!(evidence_kind(line), kind, "{line}");
        }
    }
}
