//! The deployment recipe holds what README and the agent promise: a DaemonSet with host
//! network/PID and exactly the listed capabilities (never privileged), no API token for the
//! agent, the label and port discovery looks for, and a kubectl plugin name that works.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

fn docs() -> Vec<serde_json::Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/hopdump.yaml");
    let text = std::fs::read_to_string(p).unwrap();
    let mut v = Vec::new();
    for d in serde_yaml::Deserializer::from_str(&text) {
        let y = serde_yaml::Value::deserialize(d).unwrap();
        v.push(serde_json::to_value(y).unwrap());
    }
    v
}

use serde::Deserialize;

#[test]
fn daemonset_has_least_privilege_and_discoverable_pods() {
    let all = docs();
    let ds = all.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["hostPID"], true);
    assert_eq!(spec["automountServiceAccountToken"], false);
    let labels = &ds["spec"]["template"]["metadata"]["labels"];
    let (k, v) = hopdump_kube::agents::AGENT_LABEL;
    assert_eq!(labels[k], v, "discovery's label");
    let c = &spec["containers"][0];
    let port = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "agent")
        .unwrap();
    assert_eq!(
        port["containerPort"],
        u64::from(hopdump_kube::agents::AGENT_PORT)
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let mut caps: Vec<&str> = sc["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    caps.sort();
    assert_eq!(
        caps,
        [
            "BPF",
            "NET_ADMIN",
            "NET_RAW",
            "PERFMON",
            "SYSLOG",
            "SYS_ADMIN",
            "SYS_PTRACE"
        ]
    );
    // The agent's arguments parse with this binary.
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("/etc/hopdump", "/nonexistent-hopdump-test")
        })
        .collect();
    let o = common::hopdump().args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent-hopdump-test"), "{err}");
    // The agent's ServiceAccount has no role: nothing binds it.
    let sa = all.iter().find(|d| d["kind"] == "ServiceAccount").unwrap();
    assert_eq!(sa["automountServiceAccountToken"], false);
    assert!(
        !all.iter()
            .any(|d| d["kind"].as_str().unwrap().ends_with("Binding")
                && d.to_string().contains("hopdump-agent\""))
    );
    // The reader role only reads.
    for r in all
        .iter()
        .filter(|d| d["kind"].as_str().unwrap().ends_with("Role"))
    {
        for rule in r["rules"].as_array().unwrap() {
            for verb in rule["verbs"].as_array().unwrap() {
                assert!(["get", "list"].contains(&verb.as_str().unwrap()), "{r}");
            }
        }
    }
}

#[test]
fn kubectl_plugin_name_runs_hopdump() {
    let d = tempfile::tempdir().unwrap();
    let link = d.path().join("kubectl-hopdump");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hopdump"), &link).unwrap();
    let o = std::process::Command::new(&link)
        .args(["trace", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("agent:IP:PORT"));
}
