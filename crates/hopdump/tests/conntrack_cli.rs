//! `hopdump conntrack` against the kernel's real table in the MetalLB lab: a DNATed UDP flow
//! shows its pod; after the pod is deleted and kube-proxy's rules move the service, the entry
//! is reported stale; --delete without --yes changes nothing; --delete --yes removes it and the
//! next datagram reaches a live pod.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::time::Duration;

use hopdump_testkit::lab::{Cluster, Spec};

/// The JSON contract of `conntrack --json` (strict: unknown top-level and entry fields fail).
#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Doc {
    schema: String,
    netns: String,
    total: usize,
    accounting: bool,
    entries: Vec<Entry>,
    findings: Vec<Finding>,
    #[serde(default)]
    delete: Option<Delete>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Entry {
    orig: Tuple,
    reply: Tuple,
    state: Option<String>,
    flags: Vec<String>,
    timeout: Option<u32>,
    mark: Option<u32>,
    zone: u16,
    id: Option<u32>,
    counters: Option<serde_json::Value>,
    dnat_to: Option<String>,
    snat_to: Option<String>,
    stale: bool,
    stale_reason: Option<String>,
    traffic: Option<String>,
    current_endpoints: Option<Vec<String>>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Tuple {
    src: String,
    dst: String,
    proto: String,
    sport: Option<u16>,
    dport: Option<u16>,
}

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)]
struct Finding {
    code: String,
    severity: String,
    message: String,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Delete {
    dry_run: bool,
    matched: usize,
    deleted: usize,
    already_gone: usize,
    entries: Vec<String>,
}

const SPORT: u16 = 40123;
const DST: &str = "198.51.100.240:9000";
const WAIT: Duration = Duration::from_secs(3);
const SHORT: Duration = Duration::from_millis(500);

fn conntrack(ns: &str, extra: &[&str]) -> (Doc, Option<i32>) {
    let mut a = vec![
        "conntrack",
        "--json",
        "--netns",
        ns,
        "--dst",
        DST,
        "--proto",
        "udp",
    ];
    a.extend_from_slice(extra);
    let o = run(&a);
    let doc: Doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (doc, o.status.code())
}

fn ours(doc: &Doc) -> Vec<&Entry> {
    doc.entries
        .iter()
        .filter(|e| e.orig.sport == Some(SPORT))
        .collect()
}

#[test]
fn stale_udp_entry_is_found_and_deleted_safely() {
    if !lab_allowed() {
        return;
    }
    let mut c = Cluster::build(Spec::default()).expect("build lab");
    let a = c.announcer().unwrap();
    let node_ns = c.lab().ns(&a);
    c.lab()
        .sysctl(&a, "net.netfilter.nf_conntrack_acct", "1")
        .unwrap();
    // Pin the service to the pod on the other node, so the flow is DNATed (and masqueraded).
    let remote = c.pods_off(&a);
    c.set_services(vec![c.web_service(&remote)]).unwrap();
    let old_pod = c.pod(&remote[0]).unwrap().ip4.to_string();
    let got = c.udp(SPORT, false, b"one", WAIT).unwrap();
    assert_eq!(got.pod(), Some(remote[0].as_str()), "{got:?}");

    // 1. The flow shows its pod and is not stale.
    let (doc, code) = conntrack(&node_ns, &[]);
    assert_eq!(doc.schema, "hopdump.conntrack/1");
    assert!(doc.accounting);
    let e = ours(&doc);
    assert_eq!(e.len(), 1, "{doc:?}");
    assert_eq!(
        e[0].dnat_to.as_deref(),
        Some(format!("{old_pod}:9000").as_str())
    );
    assert!(
        e[0].snat_to.is_some(),
        "eTP=Cluster masquerades: {:?}",
        e[0]
    );
    assert!(!e[0].stale, "{:?}", e[0]);
    assert_eq!(
        e[0].current_endpoints.as_deref(),
        Some(&[format!("{old_pod}:9000")][..])
    );
    assert!(!e[0].flags.contains(&"UNREPLIED".to_string()));
    assert_eq!(code, Some(0), "{doc:?}");

    // 2. The pod is deleted and kube-proxy moves the service to the announcer's own pods, but
    //    the entry stays: the client's next datagram still goes to the dead pod.
    for p in c.pods_off(&a) {
        c.delete_pod(&p).unwrap();
    }
    let local = c.pods_on(&a);
    c.set_services(vec![c.web_service(&local)]).unwrap();
    let new_pod = c.pod(&local[0]).unwrap().ip4.to_string();
    let lost = c.udp(SPORT, false, b"two", SHORT).unwrap();
    assert!(!lost.is_ok(), "the stale entry should blackhole: {lost:?}");

    let (doc, code) = conntrack(&node_ns, &[]);
    let e = ours(&doc);
    assert_eq!(e.len(), 1, "{doc:?}");
    assert!(e[0].stale, "{:?}", e[0]);
    let reason = e[0].stale_reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("{old_pod}:9000 is not a current endpoint")),
        "{reason}"
    );
    assert!(reason.contains(&format!("{new_pod}:9000")), "{reason}");
    let traffic = e[0].traffic.as_deref().unwrap();
    assert!(traffic.starts_with("2 packets"), "{traffic}");
    assert!(
        doc.findings
            .iter()
            .any(|f| f.code == "stale_entry" && f.severity == "problem")
    );
    assert_eq!(code, Some(1));

    // 3. --delete without --yes: reports, changes nothing.
    let (doc, code) = conntrack(&node_ns, &["--stale", "--delete"]);
    let d = doc.delete.as_ref().unwrap();
    assert!(d.dry_run);
    assert_eq!((d.matched, d.deleted), (1, 0));
    assert_eq!(code, Some(1));
    let (doc, _) = conntrack(&node_ns, &[]);
    assert_eq!(ours(&doc).len(), 1, "a dry run deleted the entry: {doc:?}");

    // Text form of the same.
    let o = run(&[
        "conntrack",
        "--netns",
        &node_ns,
        "--dst",
        DST,
        "--proto",
        "udp",
        "--delete",
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("would delete 1 entry (nothing changed"),
        "{text}"
    );
    assert!(
        text.contains(&format!("DNAT to {old_pod}:9000 (the pod)")),
        "{text}"
    );
    assert!(text.contains("STALE:"), "{text}");

    // 4. --delete --yes removes it; the next datagram is balanced to a live pod.
    let (doc, code) = conntrack(&node_ns, &["--stale", "--delete", "--yes"]);
    let d = doc.delete.as_ref().unwrap();
    assert!(!d.dry_run);
    assert_eq!((d.matched, d.deleted, d.already_gone), (1, 1, 0));
    assert_eq!(code, Some(0), "{doc:?}");
    let (doc, _) = conntrack(&node_ns, &[]);
    assert!(ours(&doc).is_empty(), "{doc:?}");
    let got = c.udp(SPORT, false, b"three", WAIT).unwrap();
    assert_eq!(got.pod(), Some(local[0].as_str()), "{got:?}");
    let (doc, code) = conntrack(&node_ns, &[]);
    let e = ours(&doc);
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].dnat_to.as_deref(),
        Some(format!("{new_pod}:9000").as_str())
    );
    assert!(!e[0].stale);
    assert_eq!(code, Some(0));
}

#[test]
fn delete_needs_a_selection_and_yes_needs_delete() {
    let o = run(&["conntrack", "--delete", "--yes"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("refusing to delete the whole conntrack table"));
    let o = run(&["conntrack", "--yes", "--dst", "192.0.2.1"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["conntrack", "--dst", "not-an-ip"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1);
}

/// A saved table (`conntrack -L` and /proc lines, comments, the summary line) is read offline,
/// without privileges, and with the node's saved rules an entry DNATed to a pod the Service no
/// longer has is stale, the live ones are not; a line that is not an entry is one error line.
#[test]
fn saved_table_with_saved_rules_finds_the_stale_entry() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("ct.txt");
    std::fs::write(
        &table,
        "# conntrack -L on worker-1\n\
         tcp      6 86397 ESTABLISHED src=192.168.1.50 dst=192.168.1.240 sport=51234 dport=80 src=10.244.2.7 dst=10.244.1.0 sport=8080 dport=41876 [ASSURED] mark=0 use=1\n\
         ipv4     2 tcp      6 86399 ESTABLISHED src=192.168.1.50 dst=192.168.1.240 sport=51236 dport=80 src=10.244.9.9 dst=10.244.1.0 sport=8080 dport=23519 [ASSURED] mark=0 zone=0 use=2\n\
         udp      17 27 src=192.168.1.50 dst=192.168.1.243 sport=40001 dport=53 [UNREPLIED] src=10.244.2.9 dst=10.244.1.0 sport=53 dport=40001 mark=0 use=1\n\
         conntrack v1.4.8 (conntrack-tools): 3 flow entries have been shown.\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let p = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(dir.path(), p).unwrap();
    }
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios/rules/three-services.iptables");
    let mut cmd = hopdump();
    cmd.args(["conntrack", "--json", "-r"])
        .arg(&table)
        .args(["--dst", "192.168.1.240:80", "--iptables-save"])
        .arg(&rules);
    // As nobody when we are root and setpriv is there: a file needs no capability.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let o = if root
        && std::process::Command::new("setpriv")
            .arg("--help")
            .output()
            .is_ok()
    {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_hopdump"))
        .args(cmd.get_args());
        c.output().unwrap()
    } else {
        cmd.output().unwrap()
    };
    let doc: Doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    assert_eq!(doc.total, 3);
    assert_eq!(doc.entries.len(), 2, "--dst selects the two to the LB IP");
    let by_sport = |p: u16| {
        doc.entries
            .iter()
            .find(|e| e.orig.sport == Some(p))
            .unwrap()
    };
    assert!(!by_sport(51234).stale, "10.244.2.7 is still an endpoint");
    let gone = by_sport(51236);
    assert!(gone.stale, "{gone:?}");
    assert_eq!(gone.dnat_to.as_deref(), Some("10.244.9.9:8080"));
    assert!(
        gone.current_endpoints
            .as_ref()
            .is_some_and(|c| c.iter().any(|e| e == "10.244.2.7:8080")),
        "{gone:?}"
    );
    assert_eq!(o.status.code(), Some(1), "a stale entry is a problem");
    // Not an entry: one line naming the line, exit 2.
    std::fs::write(
        &table,
        "tcp 6 10 ESTABLISHED src=10.0.0.1\nChain INPUT (policy ACCEPT)\n",
    )
    .unwrap();
    let o = run(&["conntrack", "-r", table.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 1"), "{err}");
    // A file is never a target for deletion.
    let o = run(&[
        "conntrack",
        "-r",
        table.to_str().unwrap(),
        "--delete",
        "--yes",
        "--stale",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
