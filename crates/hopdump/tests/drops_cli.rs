//! CLI tests of `hopdump drops` against the real kernel: a FORWARD DROP in a lab router,
//! the JSON contract, the in-kernel filter, and that no BPF program or link outlives the
//! command (normal exit, SIGINT, SIGKILL), plus the missing-privilege message.
#![allow(clippy::unwrap_used)]

mod common;
use common::wait_ready;

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{hopdump, lab_allowed};
use hopdump_testkit::Lab;
use serde::Deserialize;

/// The tests check the kernel's global program list: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Strict mirror of `hopdump.drops/1` (the contract: unknown fields fail).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Record {
    schema: String,
    time_ns: u64,
    reason: String,
    reason_code: u32,
    location: String,
    netns: String,
    netns_inode: u32,
    iface: Option<String>,
    ifindex: u32,
    len: u32,
    protocol: u16,
    summary: String,
    packet: Option<serde_json::Value>,
}

fn router_lab() -> Lab {
    let lab = Lab::routed().unwrap();
    for port in ["9998", "9999"] {
        lab.exec(
            "router",
            &[
                "iptables", "-A", "FORWARD", "-p", "udp", "--dport", port, "-j", "DROP",
            ],
        )
        .unwrap();
    }
    lab
}

fn send_udp(lab: &Lab, port: u16) {
    lab.within("client", move || {
        let s = std::net::UdpSocket::bind("198.51.100.2:0").unwrap();
        s.send_to(b"hopdump drops", ("203.0.113.2", port)).unwrap();
    })
    .unwrap();
}

/// hopdump's programs still loaded, by the kernel's program list (and bpftool's, if present).
fn leftovers() -> Vec<String> {
    let mut left = hopdump_drops::loaded_programs();
    if let Ok(out) = std::process::Command::new("bpftool")
        .args(["prog", "show"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        left.extend(
            text.lines()
                .filter(|l| l.contains("hd_kfree"))
                .map(|l| format!("bpftool: {l}")),
        );
    }
    left
}

/// The kernel releases links and programs from a work queue after the last fd closes:
/// wait (bounded) for the list to become empty.
fn assert_nothing_left(when: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = leftovers();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: BPF programs left: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_drops(args: &[&str]) -> Child {
    hopdump()
        .arg("drops")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, sig) };
}

#[test]
fn forward_drop_json_with_filter_and_netns() {
    if !lab_allowed() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = router_lab();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let router = lab.ns("router");
    let mut child = spawn_drops(&[
        "--json",
        "-c",
        "1",
        "--duration",
        "20",
        "--netns",
        &router,
        "--ready-file",
        ready.to_str().unwrap(),
        "udp",
        "and",
        "dst",
        "port",
        "9999",
    ]);
    wait_ready(&mut child, &ready, "drops");
    assert!(
        !hopdump_drops::loaded_programs().is_empty(),
        "the tracer is attached"
    );
    // The unrelated drop first: if the kernel filter let it through it would come first.
    send_udp(&lab, 9998);
    send_udp(&lab, 9999);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let r: Record = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(r.schema, "hopdump.drops/1");
    assert_eq!(r.reason, "NETFILTER_DROP");
    let reasons = hopdump_drops::Reasons::from_kernel().unwrap();
    assert_eq!(
        reasons.code("SKB_DROP_REASON_NETFILTER_DROP"),
        Some(r.reason_code),
        "the name comes from the running kernel's BTF"
    );
    assert_eq!(r.netns, router);
    assert_eq!(r.iface.as_deref(), Some("r0"));
    assert!(
        r.summary.starts_with("IP 198.51.100.2.")
            && r.summary.contains(" > 203.0.113.2.9999: UDP, length 13"),
        "{}",
        r.summary
    );
    assert!(r.location.contains('+'), "symbolised: {}", r.location);
    assert!(r.packet.is_some());
    assert!(stderr.contains("filtered out in the kernel"), "{stderr}");
    assert_nothing_left("after a normal exit");
}

#[test]
fn text_output_and_sigint_leave_nothing_loaded() {
    if !lab_allowed() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = router_lab();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut child = spawn_drops(&[
        "--ready-file",
        ready.to_str().unwrap(),
        "host",
        "203.0.113.2",
    ]);
    wait_ready(&mut child, &ready, "drops");
    send_udp(&lab, 9999);
    // Read the first line, then interrupt.
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        buf.push(byte[0]);
    }
    let line = String::from_utf8(buf).unwrap();
    assert!(
        line.contains(&format!("{}/r0 IP 198.51.100.2.", lab.ns("router")))
            && line.contains("> 203.0.113.2.9999: UDP")
            && line.contains("drop: NETFILTER_DROP at "),
        "{line}"
    );
    kill(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_left("after SIGINT");
}

#[test]
fn sigkill_leaves_nothing_loaded() {
    if !lab_allowed() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut child = spawn_drops(&["--ready-file", ready.to_str().unwrap()]);
    wait_ready(&mut child, &ready, "drops");
    assert!(!hopdump_drops::loaded_programs().is_empty());
    kill(&child, libc::SIGKILL);
    let _ = child.wait().unwrap();
    assert_nothing_left("after SIGKILL (a crash)");
}

#[test]
fn missing_capability_is_one_line_with_the_capability() {
    if !lab_allowed() {
        return;
    }
    // Drop every capability (still uid 0): the eBPF load must fail with the hint.
    let out = std::process::Command::new("setpriv")
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(env!("CARGO_BIN_EXE_hopdump"))
        .args(["drops", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("CAP_BPF") && err.contains("--yes"), "{err}");
}

#[test]
fn bad_filter_is_a_tool_failure() {
    let out = hopdump()
        .args(["drops", "ether", "host", "00:11:22:33:44:55"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("filter `ether host"), "{err}");
}
