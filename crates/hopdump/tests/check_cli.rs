//! `hopdump check` end to end: every fixture in tests/scenarios/kube through `--from-dir`, and
//! the same cases live through kube-rs against a local HTTPS API server reached via a
//! kubeconfig; the JSON is deserialised into strict types (the schema contract).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use hopdump_kube::fake_apiserver::FakeApiServer;
use serde::Deserialize;

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct CheckJson {
    schema: String,
    ok: bool,
    service: ServiceJson,
    pool: Option<String>,
    announcer: Option<AnnouncerJson>,
    eligible_nodes: Vec<String>,
    checks: Vec<LineJson>,
    notes: Vec<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ServiceJson {
    namespace: String,
    name: String,
    lb_ip: Option<std::net::IpAddr>,
    port: Option<u16>,
    protocol: Option<String>,
    endpoints: Vec<EndpointJson>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct EndpointJson {
    ip: std::net::IpAddr,
    port: Option<u16>,
    node: Option<String>,
    ready: bool,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct AnnouncerJson {
    node: String,
    source: String,
    interfaces: Vec<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct LineJson {
    id: String,
    status: String,
    title: String,
    detail: String,
    fix: Option<String>,
}

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/kube")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hopdump"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (case, extra args, expected exit, checks expected to fail, checks expected skipped)
type Case = (
    &'static str,
    &'static [&'static str],
    i32,
    &'static [&'static str],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    ("healthy", &[], 0, &[], &[]),
    (
        "no-lb-ip",
        &[],
        1,
        &["lb_ip_assigned", "announcer"],
        &["announce_interface"],
    ),
    ("old-prefix-events", &[], 0, &[], &[]),
    (
        "no-endpoints",
        &[],
        1,
        &["endpoints_ready"],
        &["network_policy"],
    ),
    (
        "no-speakers",
        &[],
        1,
        &["speakers_running", "eligible_nodes", "announcer"],
        &["announce_interface"],
    ),
    (
        "all-excluded",
        &[],
        1,
        &["eligible_nodes", "announcer"],
        &[],
    ),
    ("etp-local-wrong-node", &[], 1, &["announcer"], &[]),
    ("etp-local-ok", &[], 0, &[], &[]),
    (
        "l2adv-nodeselector",
        &[],
        1,
        &["announcer", "announce_interface"],
        &[],
    ),
    ("ipvs-no-strictarp", &[], 1, &["strict_arp"], &[]),
    ("netpol", &["--client-ip", "10.1.2.3"], 0, &[], &[]),
    (
        "netpol",
        &["--client-ip", "203.0.113.7"],
        1,
        &["network_policy"],
        &[],
    ),
    (
        "netpol",
        &["--client-ip", "198.51.100.1"],
        1,
        &["source_ranges", "network_policy"],
        &[],
    ),
    ("netpol", &[], 0, &[], &["source_ranges", "network_policy"]),
    ("split-brain", &[], 1, &["announcer"], &[]),
    ("metallb-legacy-configmap", &[], 0, &[], &[]),
];

/// MetalLB ≤ 0.12 keeps its pools in ConfigMap metallb-system/config: the IP is placed in its
/// pool from there, and a pool whose protocol is bgp is not judged by layer-2 election.
#[test]
fn metallb_legacy_configmap_pools() {
    let dir = scenarios().join("metallb-legacy-configmap");
    let case = CASES
        .iter()
        .find(|c| c.0 == "metallb-legacy-configmap")
        .unwrap();
    let j = check_case(&["--from-dir", dir.to_str().unwrap()], case);
    let line = |j: &CheckJson, id: &str| {
        j.checks
            .iter()
            .find(|l| l.id == id)
            .map(|l| (l.status.clone(), l.detail.clone()))
            .unwrap()
    };
    let (_, detail) = line(&j, "lb_ip_assigned");
    assert!(detail.contains("from pool default"), "{detail}");
    // The same service with an IP of (and asking for) the ConfigMap's bgp pool.
    let tmp = std::env::temp_dir().join(format!("hopdump-legacy-bgp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let text = std::fs::read_to_string(e.path()).unwrap();
        std::fs::write(
            tmp.join(e.file_name()),
            text.replace("\"192.168.1.240\"", "\"203.0.113.64\"")
                .replace(
                    "\"metallb.universe.tf/address-pool\": \"default\"",
                    "\"metallb.universe.tf/address-pool\": \"bgp-pool\"",
                ),
        )
        .unwrap();
    }
    let (code, out, err) = run(&[
        "check",
        "svc/web",
        "-n",
        "default",
        "--json",
        "--from-dir",
        tmp.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(code, 0, "{err}");
    let j: CheckJson = serde_json::from_str(&out).unwrap();
    let (_, detail) = line(&j, "lb_ip_assigned");
    assert!(detail.contains("from pool bgp-pool"), "{detail}");
    let (status, detail) = line(&j, "eligible_nodes");
    assert_eq!(status, "skip", "{detail}");
    assert!(detail.contains("BGP only"), "{detail}");
}

fn check_case(source: &[&str], case: &Case) -> CheckJson {
    let (name, extra, exit, fails, skips) = case;
    let mut args = vec!["check", "svc/web", "-n", "default", "--json"];
    args.extend_from_slice(source);
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, *exit, "{name} {extra:?}: exit code; stderr: {err}");
    let j: CheckJson = serde_json::from_str(&out).unwrap();
    assert_eq!(j.schema, "hopdump.check/1");
    assert_eq!(j.ok, *exit == 0);
    let got: BTreeMap<&str, &str> = j
        .checks
        .iter()
        .map(|l| (l.id.as_str(), l.status.as_str()))
        .collect();
    for (id, status) in &got {
        let want = if fails.contains(id) {
            "fail"
        } else if skips.contains(id) {
            "skip"
        } else {
            "pass"
        };
        assert_eq!(
            *status, want,
            "{name} {extra:?}: check {id}: {:#?}",
            j.checks
        );
    }
    j
}

#[test]
fn every_fixture_from_dir() {
    for case in CASES {
        let dir = scenarios().join(case.0);
        let j = check_case(&["--from-dir", dir.to_str().unwrap()], case);
        assert_eq!(j.service.name, "web");
    }
}

#[test]
fn announcer_sources() {
    let dir = scenarios().join("healthy");
    let j = check_case(&["--from-dir", dir.to_str().unwrap()], &CASES[0]);
    let a = j.announcer.unwrap();
    assert_eq!(a.node, "w1");
    assert!(a.source.starts_with("ServiceL2Status"), "{}", a.source);
    // No ServiceL2Status: the newest nodeAssigned event wins over an older one naming w2.
    let dir = scenarios().join("old-prefix-events");
    let j = check_case(&["--from-dir", dir.to_str().unwrap()], &CASES[2]);
    let a = j.announcer.unwrap();
    assert_eq!(a.node, "w1");
    assert!(a.source.starts_with("event nodeAssigned"), "{}", a.source);
    assert_eq!(j.pool.as_deref(), Some("first-pool"));
    // eTP=Local: only w2 has the endpoint, so only w2 is eligible.
    let dir = scenarios().join("etp-local-ok");
    let j = check_case(&["--from-dir", dir.to_str().unwrap()], &CASES[7]);
    assert_eq!(j.eligible_nodes, vec!["w2".to_string()]);
}

#[test]
fn by_lb_ip_and_text_output() {
    let dir = scenarios().join("all-excluded");
    let (code, out, _) = run(&[
        "check",
        "192.168.1.240",
        "--from-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("✘ Nodes eligible to announce"), "{out}");
    assert!(
        out.contains(
            "fix: every node carries node.kubernetes.io/exclude-from-external-load-balancers"
        ),
        "{out}"
    );
    assert!(out.contains("✔ Endpoints ready"), "{out}");
}

#[test]
fn tool_failures_exit_2_with_one_line() {
    let dir = scenarios().join("healthy");
    let (code, out, err) = run(&["check", "svc/nope", "--from-dir", dir.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("service default/nope not found"), "{err}");
    let (code, _, err) = run(&[
        "check",
        "svc/web",
        "-n",
        "shop",
        "--from-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("found default/web: use -n"), "{err}");
    let (code, _, err) = run(&["check", "svc/web", "--from-dir", "/nonexistent-dir"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The same cases through the real kube-rs client, an HTTPS API server with a generated CA and
/// a kubeconfig whose current context points elsewhere (so `--context` must be honoured): the
/// JSON must be identical to the `--from-dir` one.
#[test]
fn every_fixture_live_through_kubeconfig_matches_from_dir() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, case) in CASES.iter().enumerate() {
        let dir = scenarios().join(case.0);
        let server = FakeApiServer::start(&dir).unwrap();
        let kc = tmp.path().join(format!("kubeconfig-{i}"));
        std::fs::write(&kc, server.kubeconfig()).unwrap();
        let live = check_case(
            &["--kubeconfig", kc.to_str().unwrap(), "--context", "fake"],
            case,
        );
        let offline = check_case(&["--from-dir", dir.to_str().unwrap()], case);
        assert_eq!(live, offline, "{}", case.0);
        let reqs = server.requests();
        for p in [
            "/api/v1/services",
            "/apis/discovery.k8s.io/v1/endpointslices",
            "/apis/metallb.io/v1beta1/servicel2statuses",
            "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
        ] {
            assert!(
                reqs.iter().any(|r| r.starts_with(p)),
                "{p} not requested: {reqs:?}"
            );
        }
    }
}

#[test]
fn live_unreachable_server_is_a_tool_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let server = FakeApiServer::start(&scenarios().join("healthy")).unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    // current-context `other` points at port 1.
    let (code, _, err) = run(&["check", "svc/web", "--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
