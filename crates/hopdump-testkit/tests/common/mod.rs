//! Shared helpers for the lab tests: the root gate and the standard probe set.
#![allow(dead_code)]

use std::time::Duration;

use hopdump_testkit::lab::{Cluster, Http, Outcome};

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

/// Time a probe that should succeed may take.
pub const OK_WAIT: Duration = Duration::from_secs(5);
/// Time after which a probe that should fail counts as timed out.
pub const FAIL_WAIT: Duration = Duration::from_millis(1500);

/// Bytes of the large POST.
pub const POST_BYTES: usize = 300 * 1024;

/// The four probes of a healthy path, asserted to succeed; returns the pods that answered.
pub fn assert_all_work(c: &Cluster, v6: bool) -> Vec<String> {
    let mut pods = Vec::new();
    let small = c.http(Http::Small, v6, OK_WAIT).expect("probe");
    assert!(small.is_ok(), "small GET failed: {small:?}");
    pods.push(small.pod().unwrap_or_default().to_string());
    let large = c.http(Http::Large, v6, OK_WAIT).expect("probe");
    match &large {
        Outcome::Ok(r) => assert_eq!(r.body_len, hopdump_testkit::lab::backend::LARGE_BYTES),
        other => panic!("large GET failed: {other:?}"),
    }
    let post = c.http(Http::Post(POST_BYTES), v6, OK_WAIT).expect("probe");
    match &post {
        Outcome::Ok(r) => assert!(
            r.text.contains(&format!("received {POST_BYTES} bytes")),
            "POST answer: {}",
            r.text
        ),
        other => panic!("large POST failed: {other:?}"),
    }
    let udp = c.udp(0, v6, b"ping", OK_WAIT).expect("probe");
    match &udp {
        Outcome::Ok(r) => assert!(r.text.ends_with(":ping"), "UDP echo: {}", r.text),
        other => panic!("UDP echo failed: {other:?}"),
    }
    pods
}
