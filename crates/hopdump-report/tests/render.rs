//! The pages rendered from real reports: trace reports recorded from lab faults
//! (`tests/scenarios/report/*.json`) and check reports from the cluster fixtures
//! (`tests/scenarios/kube/`). Checks structure (verdict, one element per hop with its colour
//! class, the failing hop, evidence, next steps), self-containment and escaping.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hopdump_engine::TraceReport;
use hopdump_kube::check::{CheckReport, Status};
use hopdump_report::{check_html, esc, hop_class, trace_html};

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

fn fixture(name: &str) -> TraceReport {
    let p = scenarios().join("report").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const FIXTURES: [&str; 4] = [
    "healthy",
    "forward-drop",
    "announcer-down",
    "stale-endpoint",
];

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// The `<g …>` start tag of the hop drawn for `node/iface`.
fn hop_tag<'a>(html: &'a str, node: &str, iface: &str) -> &'a str {
    let want = format!("data-node=\"{}\" data-iface=\"{}\"", esc(node), esc(iface));
    html.split("<g class=\"hop ")
        .skip(1)
        .map(|g| g.split('>').next().unwrap())
        .find(|g| g.contains(&want))
        .unwrap_or_else(|| panic!("no hop element for {node}/{iface}"))
}

/// Nothing on the page can make a browser fetch: no tag has a src/href attribute (every
/// literal `<` in text is escaped, so each `<` starts a tag), the only `url(` is the arrow
/// marker, there is no script, and a policy forbids fetching anyway.
fn assert_self_contained(html: &str) {
    for tag in html
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap())
    {
        let name = tag
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        for bad in ["script", "link", "iframe", "img", "object", "embed", "base"] {
            assert_ne!(name, bad, "a <{bad}> tag");
        }
        // Attribute names only: quoted values (their `"` are escaped) are dropped.
        let names: String = tag.split('"').step_by(2).collect();
        for bad in ["src=", "href=", "srcset=", "http:", "https:"] {
            assert!(!names.contains(bad), "tag <{tag}> has {bad}");
        }
    }
    assert_eq!(
        html.matches("url(").count(),
        html.matches("url(#arrow)").count()
    );
    assert!(!html.contains("@import"));
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

fn check_trace_page(r: &TraceReport) -> String {
    let html = trace_html(r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_self_contained(&html);
    // The verdict, with code, node and hop as data and as text.
    let v = &r.verdict;
    assert!(html.contains(&format!("data-code=\"{}\"", esc(&v.code))));
    assert!(html.contains(&format!("<span class=\"code\">{}</span>", esc(&v.code))));
    assert!(html.contains(&esc(&v.summary)));
    if let Some(n) = &v.node {
        assert!(html.contains(&format!("node <b class=\"node\">{}</b>", esc(n))));
    }
    // One drawn element per hop, with the class of what was seen there.
    assert_eq!(count(&html, "<g class=\"hop "), r.hops.len());
    for h in &r.hops {
        let tag = hop_tag(&html, &h.node, &h.iface);
        assert!(tag.starts_with(hop_class(r, h)), "{tag}");
    }
    // The failing hop: exactly the verdict's, once in the drawing and once in the table.
    let failing = v.code != "ok"
        && r.hops
            .iter()
            .any(|h| Some(format!("{}/{}", h.node, h.iface)) == v.hop);
    assert_eq!(count(&html, "data-failing=\"true\""), usize::from(failing));
    if failing {
        let (n, i) = v.hop.as_deref().unwrap().split_once('/').unwrap();
        assert!(hop_tag(&html, n, i).contains("failing"));
        assert!(html.contains("✘ verdict here"));
    }
    // Evidence verbatim (escaped) and next steps as copyable code blocks.
    for e in &v.evidence {
        assert!(html.contains(&format!("<code>{}</code>", esc(e))), "{e}");
    }
    for s in &v.next_steps {
        assert!(
            html.contains(&format!("<pre class=\"cmd\"><code>{}</code></pre>", esc(s))),
            "{s}"
        );
    }
    for m in &r.missing {
        assert!(html.contains(&format!("<li>{}</li>", esc(m))));
    }
    for d in &r.drops {
        assert!(html.contains(&esc(&d.reason)));
    }
    for p in &r.probes {
        assert!(html.contains(&format!("<td class=\"n\">{}</td>", p.sport)));
    }
    html
}

#[test]
fn every_fixture_renders_a_complete_self_contained_page() {
    for name in FIXTURES {
        let r = fixture(name);
        check_trace_page(&r);
    }
}

#[test]
fn healthy_path_is_green_with_no_failing_hop() {
    let r = fixture("healthy");
    assert_eq!(r.verdict.code, "ok");
    let html = check_trace_page(&r);
    assert!(html.contains("class=\"verdict verdict-ok\""));
    for h in &r.hops {
        assert_eq!(hop_class(&r, h), "hop-replies", "{h:?}");
    }
    assert!(html.contains("<g class=\"stage st-ok\" id=\"stage-arp\""));
    assert!(html.contains("<g class=\"stage st-ok\" id=\"stage-kube-proxy\""));
}

#[test]
fn forward_drop_marks_the_announcer_uplink_and_the_firewall() {
    let r = fixture("forward-drop");
    assert_eq!(r.verdict.code, "firewall_drop");
    let html = check_trace_page(&r);
    assert!(html.contains("class=\"verdict verdict-fail\""));
    assert!(html.contains("<g class=\"stage st-fail\" id=\"stage-kube-proxy\""));
    assert!(html.contains("DROP: host firewall"));
    // Probes reached the announcer's NIC; nothing got past it.
    let hop = r.verdict.hop.as_deref().unwrap();
    let up = r
        .hops
        .iter()
        .find(|h| format!("{}/{}", h.node, h.iface) == hop)
        .unwrap();
    assert_eq!(up.role, "uplink");
    assert_ne!(hop_class(&r, up), "hop-nothing");
    for h in r.hops.iter().filter(|h| h.role == "pod") {
        assert_eq!(hop_class(&r, h), "hop-nothing", "{h:?}");
    }
    assert!(html.contains("<span class=\"tag\">rule</span>"));
}

#[test]
fn announcer_down_fails_the_arp_stage() {
    let r = fixture("announcer-down");
    assert_eq!(r.verdict.code, "no_arp_reply");
    let html = check_trace_page(&r);
    assert!(html.contains("<g class=\"stage st-fail\" id=\"stage-arp\""));
    assert!(html.contains("nobody answered"));
}

/// A verdict whose hop is not drawn marks the stage its code is about instead.
#[test]
fn verdict_without_a_drawn_hop_marks_its_stage() {
    let mut r = fixture("announcer-down");
    r.verdict.hop = None;
    let html = trace_html(&r);
    assert_eq!(count(&html, "data-failing=\"true\""), 1);
    assert!(html.contains("<g class=\"stage st-fail failing\" id=\"stage-arp\""));
    let mut r = fixture("forward-drop");
    r.verdict.hop = Some("node9/eth7".into());
    let html = trace_html(&r);
    assert_eq!(count(&html, "data-failing=\"true\""), 1);
    assert!(html.contains("<g class=\"stage st-fail failing\" id=\"stage-kube-proxy\""));
}

/// Untrusted strings (node names, rule comments, packet summaries, probe answers) cannot
/// inject markup: every one is escaped, in text and in attributes.
#[test]
fn script_in_a_node_name_or_rule_comment_is_escaped() {
    let evil = "<script>alert(1)</script>";
    let mut r = fixture("forward-drop");
    let node = format!("node1\"><img src=x onerror=alert(2)>{evil}");
    for h in &mut r.hops {
        h.node = node.clone();
    }
    r.verdict.node = Some(node.clone());
    r.verdict.hop = Some(format!("{node}/eth0"));
    r.verdict.evidence.push(format!(
        "stopped by (host-firewall): -A FORWARD -m comment --comment \"{evil}\" -j DROP"
    ));
    r.verdict
        .next_steps
        .push(format!("echo '{evil}' && rm -rf /"));
    r.verdict.summary = format!("summary {evil}");
    r.missing.push(evil.into());
    if let Some(p) = r.probes.first_mut() {
        p.detail = format!("HTTP/1.1 200 {evil}");
    }
    r.arp_responders
        .push(hopdump_engine::report::JsonResponder {
            mac: evil.into(),
            node: Some(evil.into()),
            frames: 1,
        });
    let html = trace_html(&r);
    assert!(!html.contains("<script"), "raw <script> on the page");
    assert!(!html.contains("<img"), "raw <img> on the page");
    assert!(html.contains("data-node=\"node1&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("--comment &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot; -j DROP"));
    assert_self_contained(&html);
    // Still exactly one failing hop element, found by its (escaped) node name.
    assert!(count(&html, "data-failing=\"true\"") >= 1);
}

fn check_report(case: &str, client: Option<&str>) -> CheckReport {
    let view = hopdump_kube::load_dir(&scenarios().join("kube").join(case)).unwrap();
    let opts = hopdump_kube::CheckOptions {
        client_ip: client.map(|c| c.parse().unwrap()),
        expect_iface: None,
    };
    let target = hopdump_kube::Target::Service {
        namespace: "default".into(),
        name: "web".into(),
    };
    hopdump_kube::check(&view, &target, &opts).unwrap()
}

fn check_check_page(r: &CheckReport) -> String {
    let html = check_html(r);
    assert_self_contained(&html);
    assert_eq!(count(&html, "<tr class=\"check "), r.lines.len());
    for l in &r.lines {
        let st = match l.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        };
        assert!(html.contains(&format!("data-id=\"{}\" data-status=\"{st}\"", l.id)));
        assert!(html.contains(&esc(&l.detail)));
        if let Some(f) = &l.fix {
            assert!(html.contains(&format!("<pre class=\"cmd\"><code>{}</code></pre>", esc(f))));
        }
    }
    for n in &r.eligible_nodes {
        assert!(html.contains(&format!("<li>{}</li>", esc(n))));
    }
    for (n, why) in &r.ineligible_nodes {
        assert!(html.contains(&format!(
            "<td>{}</td><td>{}</td>",
            esc(n),
            esc(&why.join("; "))
        )));
    }
    html
}

#[test]
fn check_pages_show_every_line_fix_and_node() {
    for case in [
        "healthy",
        "split-brain",
        "no-lb-ip",
        "no-endpoints",
        "all-excluded",
        "l2adv-nodeselector",
        "no-speakers",
    ] {
        let r = check_report(case, None);
        let html = check_check_page(&r);
        assert_eq!(
            html.contains("class=\"verdict verdict-fail\""),
            r.failed(),
            "{case}"
        );
    }
}

#[test]
fn check_diagram_colours_service_pool_announcer_endpoints() {
    let html = check_html(&check_report("healthy", None));
    for id in ["service", "pool", "announcer", "endpoint-1", "endpoint-2"] {
        assert!(
            html.contains(&format!("<g class=\"stage st-ok\" id=\"stage-{id}\"")),
            "{id}"
        );
    }
    let html = check_html(&check_report("split-brain", None));
    assert!(html.contains("<g class=\"stage st-fail\" id=\"stage-announcer\""));
    assert!(html.contains("also: "));
    let html = check_html(&check_report("no-endpoints", None));
    assert!(html.contains("<g class=\"stage st-fail\" id=\"stage-endpoint-1\""));
    let html = check_html(&check_report("no-lb-ip", None));
    assert!(html.contains("<g class=\"stage st-fail\" id=\"stage-service\""));
    assert!(html.contains("&lt;no LB IP&gt;"));
}
