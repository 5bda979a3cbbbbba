//! The `up` / `down` / `list` commands through the real binary.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::lab_allowed;
use hopdump_testkit::lab::probe::{self, Http};

fn testkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hopdump-testkit"))
}

#[test]
fn list_names_every_scenario() {
    let out = testkit().arg("list").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for s in hopdump_testkit::lab::scenario::Scenario::all() {
        assert!(text.contains(s.name()), "{} missing from list", s.name());
    }
}

/// Removes the kept lab even when an assertion fails.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = testkit().args(["down", "--prefix", &self.0]).output();
    }
}

#[test]
fn up_keeps_a_working_lab_until_down() {
    if !lab_allowed() {
        return;
    }
    let prefix = format!("hdcli{}-", std::process::id());
    let guard = Down(prefix.clone());
    let out = testkit()
        .args(["up", "healthy", "--prefix", &prefix])
        .output()
        .expect("run up");
    assert!(
        out.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("announcing node: node"));

    // The lab outlives the command: its speaker and backends are processes of their own.
    let ns = std::path::PathBuf::from(format!("/run/netns/{prefix}client"));
    let reply = std::thread::spawn(move || {
        hopdump_testkit::netns::enter_netns(&ns).expect("setns");
        let lb: SocketAddr = "198.51.100.240:80".parse().expect("addr");
        probe::http(lb, Http::Large, Duration::from_secs(5))
    })
    .join()
    .expect("probe thread");
    assert!(reply.is_ok(), "large GET through the kept lab: {reply:?}");

    let out = testkit()
        .args(["down", "--prefix", &prefix])
        .output()
        .expect("run down");
    assert!(out.status.success());
    drop(guard);
    let left = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "down removed every namespace");
}

#[test]
fn up_rejects_unknown_scenarios() {
    let out = testkit()
        .args(["up", "no-such-thing", "--prefix", "hdnone-"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scenario"));
}
