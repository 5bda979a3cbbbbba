//! `hopdump rules explain` as users run it: offline dumps (iptables, nft text and JSON, IPVS),
//! the JSON contract, exit codes, and live namespaces where the kernel's own choice (conntrack,
//! rule counters) must agree with the walker.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use hopdump_testkit::Lab;

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios/rules")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The JSON contract of `rules explain --json` (strict: unknown top-level fields fail).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Doc {
    schema: String,
    flow: serde_json::Value,
    outcome: Outcome,
    path: Vec<PathHit>,
    branches: Vec<serde_json::Value>,
    certain: bool,
    warnings: Vec<String>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Outcome {
    kind: String,
    summary: String,
    targets: Vec<Target>,
    lost_probability: f64,
    masquerade: bool,
}

#[derive(serde::Deserialize)]
struct Target {
    addr: String,
    probability: f64,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct PathHit {
    table: String,
    chain: String,
    rule: usize,
    owner: Owner,
    text: String,
    action: String,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Owner {
    kind: String,
    service: Option<String>,
}

fn explain_json(args: &[&str]) -> (Doc, Option<i32>) {
    let mut a = vec!["rules", "explain", "--json"];
    a.extend_from_slice(args);
    let o = run(&a);
    let doc: Doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (doc, o.status.code())
}

#[test]
fn json_contract_and_exit_codes_offline() {
    let ipt = scenario("three-services.iptables");
    let (d, code) = explain_json(&[
        "--dst",
        "192.168.1.240:80",
        "--iptables-save",
        &ipt,
        "--local-ip",
        "192.168.1.11",
    ]);
    assert_eq!(d.schema, "hopdump.rules.explain/1");
    assert_eq!(d.outcome.kind, "dnat");
    let mut t: Vec<(String, f64)> = d
        .outcome
        .targets
        .iter()
        .map(|t| (t.addr.clone(), t.probability))
        .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        t,
        [
            ("10.244.1.12:8080".to_string(), 0.5),
            ("10.244.2.7:8080".to_string(), 0.5)
        ]
    );
    assert!(d.path.iter().any(|h| h.table == "nat"
        && h.chain == "KUBE-SERVICES"
        && h.rule > 0
        && h.owner.kind == "kube-proxy"));
    assert_eq!(code, Some(0), "a working service is not a problem");

    let (d, code) = explain_json(&[
        "--dst",
        "192.168.1.242:80",
        "--iptables-save",
        &ipt,
        "--local-ip",
        "192.168.1.11",
    ]);
    assert_eq!(d.outcome.kind, "reject");
    assert_eq!(code, Some(1), "a problem found exits 1");

    let (d, _) = explain_json(&[
        "--dst",
        "192.168.1.240:80",
        "--src",
        "198.51.100.7",
        "--iptables-save",
        &scenario("source-ranges.iptables"),
        "--local-ip",
        "192.168.1.11",
    ]);
    assert_eq!(d.outcome.kind, "drop");

    let (d, _) = explain_json(&[
        "--dst",
        "192.168.1.240:80",
        "--iptables-save",
        &scenario("ipvs-three-services.iptables"),
        "--ipvs",
        &scenario("ipvs-three-services.ipvsadm"),
        "--ipset",
        &scenario("ipvs-three-services.ipset"),
    ]);
    assert_eq!(d.outcome.kind, "dnat");
    assert_eq!(d.outcome.targets.len(), 2);
}

/// A Cilium node (kube-proxy replacement): the text says Services live in BPF there, and the
/// forks on interfaces it cannot know, which all end the same way, are one branch line.
#[test]
fn cilium_node_text_names_bpf_services_and_merges_equal_branches() {
    let o = run(&[
        "rules",
        "explain",
        "--iptables-save",
        &scenario("cilium-kpr.iptables"),
        "--dst",
        "198.51.100.240:80",
        "--local-ip",
        "198.51.100.11",
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(
        text.lines()
            .any(|l| l.starts_with("WARNING: no kube-proxy rules here, only Cilium's")),
        "{text}"
    );
    let branches: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "branches:")
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.starts_with("  - "))
        .collect();
    assert_eq!(branches.len(), 1, "{text}");
    assert!(
        branches[0].trim_start().starts_with("100% → forwarded (")
            && branches[0].ends_with(" branches)"),
        "{text}"
    );
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    write(&bad, b"*nat\n-A KUBE-SERVICES -j\nCOMMIT\n");
    for args in [
        vec![
            "rules",
            "explain",
            "--dst",
            "192.168.1.240",
            "--iptables-save",
            bad.to_str().unwrap(),
        ],
        vec![
            "rules",
            "explain",
            "--dst",
            "192.168.1.240:80",
            "--iptables-save",
            bad.to_str().unwrap(),
        ],
        vec![
            "rules",
            "explain",
            "--dst",
            "192.168.1.240:80",
            "--iptables-save",
            "/nonexistent",
        ],
        vec![
            "rules",
            "explain",
            "--dst",
            "192.168.1.240:80",
            "--ipvs",
            bad.to_str().unwrap(),
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    let o = run(&[
        "rules",
        "explain",
        "--dst",
        "192.168.1.240:80",
        "--iptables-save",
        bad.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("line 2"),
        "names the line: {}",
        stderr(&o)
    );
}

#[test]
fn nft_text_is_read_through_the_real_nft() {
    if !lab_allowed() {
        return;
    }
    let (d, _) = explain_json(&[
        "--dst",
        "192.168.1.242:80",
        "--nft",
        &scenario("three-services.nft"),
        "--local-ip",
        "192.168.1.11",
    ]);
    assert_eq!(d.outcome.kind, "reject");
    assert!(
        d.outcome
            .summary
            .contains("default/broken:http has no endpoints"),
        "{}",
        d.outcome.summary
    );
}

/// client (198.51.100.10) — node (198.51.100.11; pods behind p0) — pod 10.244.1.12, with
/// kube-proxy's rules from a reference dump moved to documentation addresses
/// (192.168.1.x → 198.51.100.x) and loaded with the real iptables-nft-restore.
fn lab_with(dump: &str) -> Lab {
    let mut lab = Lab::new().unwrap();
    for ns in ["client", "node", "pod"] {
        lab.add_ns(ns).unwrap();
    }
    lab.veth(
        "client",
        "c0",
        Some("198.51.100.10/24"),
        "node",
        "n0",
        Some("198.51.100.11/24"),
    )
    .unwrap();
    lab.veth(
        "node",
        "p0",
        Some("10.244.1.1/24"),
        "pod",
        "eth0",
        Some("10.244.1.12/24"),
    )
    .unwrap();
    lab.exec(
        "client",
        &[
            "ip",
            "route",
            "add",
            "198.51.100.240/29",
            "via",
            "198.51.100.11",
        ],
    )
    .unwrap();
    lab.exec(
        "pod",
        &["ip", "route", "add", "default", "via", "10.244.1.1"],
    )
    .unwrap();
    lab.exec(
        "node",
        &["ip", "route", "add", "10.244.2.0/24", "dev", "p0"],
    )
    .unwrap();
    // icmp_ratelimit=0: this kernel's per-peer ICMP limiter otherwise swallows the first
    // ICMP error to a new peer, so a REJECT would look like a DROP to the client.
    lab.exec(
        "node",
        &[
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv4.icmp_ratelimit=0",
        ],
    )
    .unwrap();
    let rules: String = std::fs::read_to_string(scenario(dump))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("nfacct"))
        .map(|l| format!("{}\n", l.replace("192.168.1.", "198.51.100.")))
        .collect();
    let f = std::env::temp_dir().join(format!("{}-rules", lab.prefix));
    std::fs::write(&f, rules).unwrap();
    lab.exec(
        "node",
        &[
            "sh",
            "-c",
            &format!("iptables-nft-restore < {}", f.display()),
        ],
    )
    .unwrap();
    let _ = std::fs::remove_file(&f);
    lab
}

fn connect(lab: &Lab, to: &str) -> std::io::ErrorKind {
    let to: SocketAddr = to.parse().unwrap();
    lab.within("client", move || {
        match TcpStream::connect_timeout(&to, Duration::from_millis(300)) {
            Ok(_) => std::io::ErrorKind::Other,
            Err(e) => e.kind(),
        }
    })
    .unwrap()
}

#[test]
fn live_answer_matches_what_the_kernel_did() {
    if !lab_allowed() {
        return;
    }
    let lab = lab_with("three-services.iptables");
    let node = lab.ns("node");
    // DNAT: the walker's targets contain the endpoint the kernel picked for each connection.
    let (d, _) = explain_json(&[
        "--dst",
        "198.51.100.240:80",
        "--src",
        "198.51.100.10",
        "--netns",
        &node,
    ]);
    assert_eq!(d.outcome.kind, "dnat");
    let targets: Vec<String> = d.outcome.targets.iter().map(|t| t.addr.clone()).collect();
    connect_until_tracked(&lab, "198.51.100.240:80", 6);
    // Conntrack's reply tuples name the endpoint the kernel chose for each connection.
    let chosen = kernel_endpoints(&lab, "198.51.100.240");
    assert!(!chosen.is_empty(), "conntrack shows the DNATed connections");
    for ep in chosen {
        assert!(
            targets.contains(&ep),
            "kernel chose {ep}, walker said {targets:?}"
        );
    }
    // REJECT: the client is refused and the rule the walker names counted the packet.
    let (d, _) = explain_json(&[
        "--dst",
        "198.51.100.242:80",
        "--src",
        "198.51.100.10",
        "--netns",
        &node,
    ]);
    assert_eq!(d.outcome.kind, "reject");
    let last = d.path.last().unwrap();
    assert_eq!(
        connect(&lab, "198.51.100.242:80"),
        std::io::ErrorKind::ConnectionRefused
    );
    let save = lab
        .exec("node", &["iptables-nft-save", "-c", "-t", &last.table])
        .unwrap();
    let counted = save
        .lines()
        .filter(|l| {
            l.contains(&format!("-A {} ", last.chain))
                && l.contains("default/broken:http has no endpoints")
        })
        .any(|l| !l.starts_with("[0:"));
    assert!(counted, "the named rule counted the rejected SYN:\n{save}");
}

#[test]
fn live_drop_for_etp_local_without_local_endpoint() {
    if !lab_allowed() {
        return;
    }
    let lab = lab_with("etp-local-no-local-endpoint.iptables");
    let (d, code) = explain_json(&[
        "--dst",
        "198.51.100.241:443",
        "--src",
        "198.51.100.10",
        "--netns",
        &lab.ns("node"),
    ]);
    assert_eq!(d.outcome.kind, "drop", "{}", d.outcome.summary);
    assert_eq!(code, Some(1));
    assert_eq!(
        connect(&lab, "198.51.100.241:443"),
        std::io::ErrorKind::TimedOut,
        "the kernel silently drops too"
    );
}

/// Connect `n` times, then more (bounded) until the node's conntrack has entries: on a loaded
/// machine a 300 ms connect can give up before ARP resolves and the SYN ever leaves.
fn connect_until_tracked(lab: &Lab, to: &str, n: usize) {
    let vip = to.rsplit_once(':').unwrap().0;
    for i in 0..n + 40 {
        connect(lab, to);
        if i + 1 >= n && !kernel_endpoints(lab, vip).is_empty() {
            return;
        }
    }
}

/// Picks the endpoint the kernel chose for each connection to `vip` from the node's conntrack.
fn kernel_endpoints(lab: &Lab, vip: &str) -> Vec<String> {
    let ct = lab
        .exec("node", &["conntrack", "-L", "-p", "tcp", "--orig-dst", vip])
        .unwrap();
    ct.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let srcs: Vec<&str> = words
                .iter()
                .filter_map(|w| w.strip_prefix("src="))
                .collect();
            let sports: Vec<&str> = words
                .iter()
                .filter_map(|w| w.strip_prefix("sport="))
                .collect();
            (srcs.len() >= 2 && sports.len() >= 2).then(|| format!("{}:{}", srcs[1], sports[1]))
        })
        .collect()
}

#[test]
fn live_nftables_mode_matches_the_kernel() {
    if !lab_allowed() {
        return;
    }
    let lab = lab_with("three-services.iptables");
    // Replace the iptables rules by kube-proxy's nftables mode for the same services.
    lab.exec("node", &["iptables-nft", "-t", "nat", "-F"])
        .unwrap();
    lab.exec("node", &["iptables-nft", "-t", "filter", "-F"])
        .unwrap();
    let nft: String = std::fs::read_to_string(scenario("three-services.nft"))
        .unwrap()
        .replace("192.168.1.", "198.51.100.");
    let f = std::env::temp_dir().join(format!("{}-nft", lab.prefix));
    std::fs::write(&f, nft).unwrap();
    lab.exec("node", &["nft", "-f", f.to_str().unwrap()])
        .unwrap();
    let _ = std::fs::remove_file(&f);
    let (d, _) = explain_json(&[
        "--dst",
        "198.51.100.240:80",
        "--src",
        "198.51.100.10",
        "--netns",
        &lab.ns("node"),
    ]);
    assert_eq!(d.outcome.kind, "dnat", "{}", d.outcome.summary);
    let targets: Vec<String> = d.outcome.targets.iter().map(|t| t.addr.clone()).collect();
    assert_eq!(targets.len(), 2);
    connect_until_tracked(&lab, "198.51.100.240:80", 6);
    let chosen = kernel_endpoints(&lab, "198.51.100.240");
    assert!(!chosen.is_empty());
    for ep in chosen {
        assert!(
            targets.contains(&ep),
            "kernel chose {ep}, walker said {targets:?}"
        );
    }
    let (d, _) = explain_json(&[
        "--dst",
        "198.51.100.242:80",
        "--src",
        "198.51.100.10",
        "--netns",
        &lab.ns("node"),
    ]);
    assert_eq!(d.outcome.kind, "reject");
    assert_eq!(
        connect(&lab, "198.51.100.242:80"),
        std::io::ErrorKind::ConnectionRefused
    );
}

#[test]
fn live_legacy_split_is_called_out() {
    if !lab_allowed() {
        return;
    }
    let lab = lab_with("three-services.iptables");
    // kube-proxy's rules move to iptables-legacy; the host firewall (iptables-nft) drops forwarding.
    let rules = lab.exec("node", &["iptables-nft-save"]).unwrap();
    lab.exec("node", &["iptables-nft", "-t", "nat", "-F"])
        .unwrap();
    lab.exec("node", &["iptables-nft", "-t", "filter", "-F"])
        .unwrap();
    let f = std::env::temp_dir().join(format!("{}-legacy", lab.prefix));
    std::fs::write(&f, rules).unwrap();
    lab.exec(
        "node",
        &[
            "sh",
            "-c",
            &format!("iptables-legacy-restore < {}", f.display()),
        ],
    )
    .unwrap();
    let _ = std::fs::remove_file(&f);
    lab.exec("node", &["iptables-nft", "-P", "FORWARD", "DROP"])
        .unwrap();
    let (d, code) = explain_json(&[
        "--dst",
        "198.51.100.240:80",
        "--src",
        "198.51.100.10",
        "--netns",
        &lab.ns("node"),
    ]);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("split between iptables-legacy")),
        "{:?}",
        d.warnings
    );
    assert_eq!(d.outcome.kind, "drop", "{}", d.outcome.summary);
    assert_eq!(code, Some(1));
    assert_eq!(
        connect(&lab, "198.51.100.240:80"),
        std::io::ErrorKind::TimedOut,
        "the kernel drops it too"
    );
}
