//! `hopdump arp` as users run it, against the MetalLB lab's real announcer in network
//! namespaces: no announcer, two announcers (split brain), a failover seen by --watch, IPv6
//! neighbour discovery, the JSON contract and the exit codes.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hopdump_testkit::lab::{Cluster, Spec};

/// The JSON contract of `arp --json` (strict: unknown top-level fields fail).
#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Doc {
    schema: String,
    ip: String,
    netns: String,
    iface: String,
    iface_mac: String,
    mode: String,
    duration_ms: u64,
    requests_sent: usize,
    responders: Vec<Responder>,
    mac_changes: Vec<serde_json::Value>,
    events: Vec<Event>,
    findings: Vec<Finding>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Responder {
    mac: String,
    count: u32,
    replies: u32,
    gratuitous: u32,
    node: Option<String>,
    iface: Option<String>,
    known_ips: Vec<String>,
    first_seen_ms: u64,
    last_seen_ms: u64,
    first_seen_unix_ms: u64,
    last_seen_unix_ms: u64,
}

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)]
struct Event {
    t_ms: u64,
    kind: String,
    mac: String,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Finding {
    code: String,
    severity: String,
    message: String,
    evidence: Vec<String>,
}

const LB: &str = "198.51.100.240";
const LB6: &str = "2001:db8:100::f0";

fn lab(spec: Spec) -> Cluster {
    Cluster::build(spec).expect("build lab")
}

fn node_hints(c: &Cluster) -> Vec<String> {
    c.nodes
        .iter()
        .flat_map(|n| ["--node".to_string(), format!("{}={}", n.name, n.mac)])
        .collect()
}

fn arp_json(c: &Cluster, extra: &[&str]) -> (Doc, Option<i32>) {
    let client = c.lab().ns("client");
    let hints = node_hints(c);
    let mut a = vec!["arp", "--json", "--netns", &client, "-i", "eth0"];
    a.extend_from_slice(extra);
    a.extend(hints.iter().map(String::as_str));
    let o = run(&a);
    let doc: Doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (doc, o.status.code())
}

#[test]
fn no_announcer_is_no_reply() {
    if !lab_allowed() {
        return;
    }
    let c = lab(Spec {
        nodes: 1,
        announce: false,
        ..Spec::default()
    });
    let (doc, code) = arp_json(&c, &[LB, "--duration", "600ms", "--count", "2"]);
    assert_eq!(code, Some(1), "{doc:?}");
    assert_eq!(doc.schema, "hopdump.arp/1");
    assert_eq!(doc.mode, "active");
    assert_eq!(doc.requests_sent, 2);
    assert!(doc.responders.is_empty());
    assert_eq!(doc.findings[0].code, "no_reply");
    assert_eq!(doc.findings[0].severity, "problem");
}

#[test]
fn one_announcer_answers_and_is_named() {
    if !lab_allowed() {
        return;
    }
    let c = lab(Spec::default());
    let a = c.announcer().unwrap();
    let mac = c.node(&a).unwrap().mac.clone();
    let (doc, code) = arp_json(&c, &[LB, "--duration", "600ms"]);
    assert_eq!(code, Some(0), "{doc:?}");
    assert_eq!(doc.responders.len(), 1, "{doc:?}");
    let r = &doc.responders[0];
    assert_eq!(r.mac, mac);
    assert_eq!(r.node.as_deref(), Some(a.as_str()));
    assert!(r.replies >= 3, "every request answered: {r:?}");
    assert!(doc.findings.iter().all(|f| f.severity != "problem"));
}

#[test]
fn two_announcers_are_both_reported() {
    if !lab_allowed() {
        return;
    }
    let mut c = lab(Spec::default());
    let a = c.announcer().unwrap();
    let b = c.other_node(&a).unwrap();
    c.start_announcer(&b).unwrap();
    let (doc, code) = arp_json(&c, &[LB, "--duration", "600ms"]);
    assert_eq!(code, Some(1), "{doc:?}");
    let mut macs: Vec<&str> = doc.responders.iter().map(|r| r.mac.as_str()).collect();
    macs.sort_unstable();
    let mut want = vec![
        c.node(&a).unwrap().mac.as_str(),
        c.node(&b).unwrap().mac.as_str(),
    ];
    want.sort_unstable();
    assert_eq!(macs, want);
    assert!(doc.responders.iter().all(|r| r.node.is_some()));
    let f = doc
        .findings
        .iter()
        .find(|f| f.code == "several_macs")
        .unwrap();
    assert_eq!(f.severity, "problem");
    assert_eq!(f.evidence.len(), 2);

    // Text form names both nodes too.
    let client = c.lab().ns("client");
    let hints = node_hints(&c);
    let mut args = vec!["arp", LB, "--netns", &client, "--duration", "400ms"];
    args.extend(hints.iter().map(String::as_str));
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("({a})")) && text.contains(&format!("({b})")),
        "{text}"
    );
    assert!(text.contains("PROBLEM [several_macs]"), "{text}");
}

#[test]
fn failover_shows_gratuitous_arp_and_mac_change_in_watch() {
    if !lab_allowed() {
        return;
    }
    let mut c = lab(Spec::default());
    let a = c.announcer().unwrap();
    let b = c.other_node(&a).unwrap();
    let (mac_a, mac_b) = (
        c.node(&a).unwrap().mac.clone(),
        c.node(&b).unwrap().mac.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let client = c.lab().ns("client");
    let mut cmd = hopdump();
    cmd.args([
        "arp",
        LB,
        "--watch",
        "--netns",
        &client,
        "-i",
        "eth0",
        "--ready-file",
    ])
    .arg(&ready)
    .args(node_hints(&c))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "watch exited before it was ready"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "watch never got ready"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The client asks and the current announcer answers; then the announcement moves.
    assert_eq!(
        c.client_arp_probe(Duration::from_millis(300)).unwrap(),
        vec![mac_a.clone()]
    );
    c.failover(&b).unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains(&format!("gratuitous {LB} is-at {mac_b}"));
        seen.push(line);
        if done {
            break;
        }
    }
    // SIGTERM ends the watch; it then prints its summary.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    for line in lines {
        seen.push(line.unwrap());
    }
    let status = child.wait().unwrap();
    let text = seen.join("\n");
    // Who asks (the client's own request, seen on its interface) and who answers.
    assert!(
        text.contains(&format!("who-has {LB} tell 198.51.100.10")),
        "{text}"
    );
    assert!(
        text.contains(&format!("reply {LB} is-at {mac_a}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("gratuitous {LB} is-at {mac_b}")),
        "{text}"
    );
    assert!(text.contains("MAC changes:"), "{text}");
    assert!(
        text.contains(&format!("{mac_a} ({a}) -> {mac_b} ({b}) (Gratuitous)")),
        "{text}"
    );
    assert!(text.contains("[mac_change]"), "{text}");
    assert_eq!(
        status.code(),
        Some(0),
        "a single failover is a warning: {text}"
    );
}

#[test]
fn ipv6_neighbour_solicitation_finds_the_announcer() {
    if !lab_allowed() {
        return;
    }
    let c = lab(Spec {
        dual_stack: true,
        ..Spec::default()
    });
    let a = c.announcer().unwrap();
    let (doc, code) = arp_json(&c, &[LB6, "--duration", "600ms"]);
    assert_eq!(code, Some(0), "{doc:?}");
    assert_eq!(doc.responders.len(), 1, "{doc:?}");
    assert_eq!(doc.responders[0].mac, c.node(&a).unwrap().mac);
    assert!(doc.responders[0].replies >= 1, "{doc:?}");
    assert!(doc.events.iter().any(|e| e.kind == "reply"));
}

#[test]
fn unknown_interface_fails_with_the_list() {
    if !lab_allowed() {
        return;
    }
    let c = lab(Spec {
        nodes: 1,
        announce: false,
        ..Spec::default()
    });
    let client = c.lab().ns("client");
    let o = run(&["arp", LB, "--netns", &client, "-i", "nope0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nope0") && err.contains("eth0"), "{err}");
}
