//! `hopdump demo`: the main job on a machine with no cluster — builds a lab scenario, traces
//! it, writes the report and the capture, and leaves no namespace behind.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn lab_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn demo_lists_scenarios_without_root() {
    let o = run(&["demo", "--list"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("forward-drop") && s.contains("healthy"), "{s}");
    let o = run(&["demo", "no-such-scenario"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown scenario"));
}

#[test]
fn demo_traces_a_fault_writes_report_and_capture_and_cleans_up() {
    if !lab_allowed() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let o = hopdump()
        .current_dir(d.path())
        .args(["demo", "forward-drop"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("VERDICT: firewall_drop on node1"), "{out}");
    let html = std::fs::read_to_string(d.path().join("hopdump-demo.html")).unwrap();
    assert!(html.contains("firewall_drop"));
    let r = run(&[
        "read",
        "-r",
        d.path().join("hopdump-demo.pcapng").to_str().unwrap(),
    ]);
    assert!(r.status.success());
    assert!(!r.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    let prefix = err
        .lines()
        .find_map(|l| l.strip_prefix("namespaces "))
        .and_then(|l| l.split('*').next())
        .unwrap();
    assert!(prefix.len() > 2, "{err}");
    let left: Vec<_> = lab_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}
