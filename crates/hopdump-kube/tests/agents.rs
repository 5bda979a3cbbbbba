//! Agent discovery for `trace svc/NAME`: only the DaemonSet pods on the path's nodes
//! (announcer + endpoints' nodes) are chosen, whatever the cluster's size.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use hopdump_kube::agents::{AGENT_PORT, agents_for};

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/kube/healthy");
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn node(name: &str, ip: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                   "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn agent_pod(node: &str, ip: &str, port: Option<u16>) -> serde_json::Value {
    let ports = match port {
        Some(p) => serde_json::json!([{"name": "agent", "containerPort": p, "protocol": "TCP"}]),
        None => serde_json::json!([]),
    };
    serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("hopdump-agent-{node}"), "namespace": "hopdump",
                     "labels": {"app.kubernetes.io/name": "hopdump-agent"}},
        "spec": {"nodeName": node, "hostNetwork": true,
                 "containers": [{"name": "agent", "ports": ports}]},
        "status": {"phase": "Running", "podIP": ip, "hostIP": ip,
                   "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn list(items: Vec<serde_json::Value>) -> String {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

#[test]
fn a_thousand_node_cluster_asks_only_the_path() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    let mut nodes = Vec::new();
    let mut pods = Vec::new();
    for i in 0..1000 {
        let name = format!("big{i}");
        let ip = format!("10.9.{}.{}", i / 250, i % 250 + 1);
        nodes.push(node(&name, &ip));
        pods.push(agent_pod(&name, &ip, None));
    }
    // The fixture's own nodes: w1 announces (ServiceL2Status), endpoints on w1 and w2.
    pods.push(agent_pod("w1", "192.168.1.11", Some(9443)));
    pods.push(agent_pod("w2", "192.168.1.12", None));
    pods.push(agent_pod("cp1", "192.168.1.10", None));
    std::fs::write(d.path().join("big-nodes.json"), list(nodes)).unwrap();
    std::fs::write(d.path().join("agents.json"), list(pods)).unwrap();
    let view = hopdump_kube::load_dir(d.path()).unwrap();
    let plan = agents_for(&view, "default", "web").unwrap();
    assert_eq!(plan.path_nodes, vec!["w1".to_string(), "w2".to_string()]);
    assert_eq!(
        plan.agents,
        vec![
            ("w1".to_string(), "192.168.1.11:9443".parse().unwrap()),
            (
                "w2".to_string(),
                format!("192.168.1.12:{AGENT_PORT}").parse().unwrap()
            ),
        ]
    );
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn a_path_node_without_an_agent_is_named() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    std::fs::write(
        d.path().join("agents.json"),
        list(vec![agent_pod("w1", "192.168.1.11", None)]),
    )
    .unwrap();
    let view = hopdump_kube::load_dir(d.path()).unwrap();
    let plan = agents_for(&view, "default", "web").unwrap();
    assert_eq!(plan.agents.len(), 1);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.starts_with("w2:") && n.contains("unobserved")),
        "{:?}",
        plan.notes
    );
}
