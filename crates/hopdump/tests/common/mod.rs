//! Shared helpers for the binary's CLI tests: run hopdump, build capture files packet by packet.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `trace --probe-timeout` for the lab tests. They build and trace many clusters at once on a
/// 2-core CI machine, where a pod's Python server can stall past the 1.5 s default and a
/// healthy cluster then looks broken (seen in CI); no lab fault depends on the default.
pub const LAB_PROBE_TIMEOUT: &str = "3s";

pub fn hopdump() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hopdump"));
    c.env("TZ", "UTC");
    c.env("HOPDUMP_PROBE_TIMEOUT", LAB_PROBE_TIMEOUT);
    c
}

pub fn run(args: &[&str]) -> Output {
    hopdump().args(args).output().expect("run hopdump")
}

/// A tool the tests use as an oracle; its absence fails the test with how to get it.
pub fn require(tool: &str) {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    assert!(
        ok,
        "{tool} is needed by this test: install it (scripts/setup does)"
    );
}

/// Lab tests need root; they fail without it unless HOPDUMP_SKIP_LAB=1 is set explicitly.
pub fn lab_allowed() -> bool {
    if std::env::var_os("HOPDUMP_SKIP_LAB").is_some_and(|v| v == "1") {
        eprintln!("HOPDUMP_SKIP_LAB=1: lab test skipped");
        return false;
    }
    assert!(
        hopdump_testkit::is_root(),
        "lab tests need root (or set HOPDUMP_SKIP_LAB=1 to skip them explicitly)"
    );
    true
}

/// Classic little-endian microsecond pcap from (ts_ns, frame, orig_len).
pub fn pcap(linktype: u32, frames: &[(u64, Vec<u8>, u32)]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&262_144u32.to_le_bytes());
    v.extend_from_slice(&linktype.to_le_bytes());
    for (ts, data, orig) in frames {
        v.extend_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        v.extend_from_slice(&((ts % 1_000_000_000 / 1000) as u32).to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&orig.to_le_bytes());
        v.extend_from_slice(data);
    }
    v
}

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// An Ethernet/IPv4/TCP SYN from 198.51.100.10:sport to 198.51.100.240:80.
pub fn tcp_syn(sport: u16) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([198, 51, 100, 10], [198, 51, 100, 240], 64)
        .tcp(sport, 80, 1000 + sport as u32, 64240)
        .syn()
        .options(&[
            etherparse::TcpOptionElement::MaximumSegmentSize(1460),
            etherparse::TcpOptionElement::SelectiveAcknowledgementPermitted,
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::WindowScale(7),
        ])
        .expect("tcp options");
    let mut v = Vec::new();
    b.write(&mut v, &[]).expect("build");
    v
}

/// Ethernet/IPv4/UDP from 198.51.100.10:5000 to dst:dport with a payload.
pub fn udp(dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([198, 51, 100, 10], dst, 64)
        .udp(5000, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("build");
    v
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write test file");
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The cluster's objects for the lab's service default/web, as `kubectl get -o json` prints
/// them, optionally with a default-deny ingress NetworkPolicy.
pub fn cluster_dir(c: &hopdump_testkit::lab::Cluster, deny: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let svc = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"metallb.io/ip-allocated-from-pool": "lab"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "externalTrafficPolicy": "Cluster",
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
        "status": {"loadBalancer": {"ingress": [{"ip": c.lb(false).to_string()}]}}
    });
    let endpoints: Vec<serde_json::Value> = c
        .pods
        .iter()
        .map(|p| serde_json::json!({"addresses": [p.ip4.to_string()], "conditions": {"ready": true, "serving": true},
                                    "nodeName": p.node, "targetRef": {"kind": "Pod", "name": p.name, "namespace": "default"}}))
        .collect();
    let slice = serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-lab", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    });
    let pods: Vec<serde_json::Value> = c
        .pods
        .iter()
        .map(|p| serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": p.node, "containers": [{"name": "web", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": p.ip4.to_string(), "conditions": [{"type": "Ready", "status": "True"}]}}))
        .collect();
    let mut items = vec![svc, slice];
    items.extend(pods);
    if deny {
        items.push(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-ingress", "namespace": "default"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
        }));
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(
        dir.path().join("objects.json"),
        serde_json::to_vec_pretty(&list).unwrap(),
    )
    .unwrap();
    dir
}

/// Wait for a subcommand's ready file (its own signal), failing with its stderr if it exits
/// first; `what` names the case in messages.
pub fn wait_ready(child: &mut std::process::Child, path: &Path, what: &str) {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !path.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            panic!("{what}: hopdump exited {st} before it was ready: {err}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: no ready file after 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
