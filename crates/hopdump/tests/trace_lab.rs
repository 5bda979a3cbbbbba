//! `hopdump trace` on the lab's real clusters: for each injected fault, the real binary's
//! `--json` verdict must name the code and the node — from packets, rules and kernel state.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hopdump_engine::TraceReport;
use hopdump_testkit::lab::fault::{self, Fault, STALE_UDP_SPORT};
use hopdump_testkit::lab::{Cluster, ProxyMode, Spec};

/// Run `hopdump trace --json` against the lab's LB on `port/proto`.
fn trace(c: &Cluster, port_proto: &str) -> (TraceReport, Duration) {
    trace_target(c, format!("{}:{port_proto}", c.lb(false)))
}

/// Run `hopdump trace --json TARGET` (e.g. `[2001:db8:100::f0]:80/tcp`).
fn trace_target(c: &Cluster, target: String) -> (TraceReport, Duration) {
    let mut args: Vec<String> = vec![
        "trace".into(),
        target,
        "--json".into(),
        "--client".into(),
        format!("netns:{}", c.lab().ns("client")),
    ];
    for n in &c.nodes {
        args.push("--node".into());
        args.push(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    let t0 = Instant::now();
    let o = hopdump().args(&args).output().unwrap();
    let took = t0.elapsed();
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(&o));
    let r: TraceReport = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    assert_eq!(
        code == 0,
        r.verdict.code == "ok",
        "exit code matches verdict"
    );
    eprintln!(
        "time-to-verdict {:>5} ms: {} {:?}",
        took.as_millis(),
        r.verdict.code,
        r.verdict.node
    );
    (r, took)
}

fn expect(r: &TraceReport, code: &str, node: Option<&str>, what: &str) {
    assert_eq!(
        (r.verdict.code.as_str(), r.verdict.node.as_deref()),
        (code, node),
        "{what}: {}",
        serde_json::to_string_pretty(&r).unwrap()
    );
    assert!(!r.verdict.summary.is_empty());
    if code != "ok" {
        assert!(!r.verdict.evidence.is_empty(), "{what}: evidence");
        assert!(!r.verdict.next_steps.is_empty(), "{what}: next steps");
    }
}

/// Build, inject, trace the HTTP port; expect `code` on the announcer (`on_announcer`) or on
/// the node the closure picks.
fn fault_case(fault: Fault, base: Spec, code: &str, node: fn(&Cluster, &str) -> Option<String>) {
    if !lab_allowed() {
        return;
    }
    let mut c = Cluster::build(fault.spec(base)).unwrap();
    let a = fault.inject(&mut c).unwrap();
    let (r, took) = trace(&c, "80/tcp");
    expect(&r, code, node(&c, &a).as_deref(), fault.name());
    assert!(took < Duration::from_secs(10), "verdict within 10 s");
}

fn announcer(_: &Cluster, a: &str) -> Option<String> {
    Some(a.to_string())
}
fn other(c: &Cluster, a: &str) -> Option<String> {
    c.other_node(a).ok()
}
fn nobody(_: &Cluster, _: &str) -> Option<String> {
    None
}

#[test]
fn healthy_is_ok_in_every_proxy_mode() {
    if !lab_allowed() {
        return;
    }
    for mode in [
        ProxyMode::IptablesNft,
        ProxyMode::Nftables,
        ProxyMode::IptablesLegacy,
    ] {
        let c = Cluster::build(Spec {
            proxy_mode: mode,
            ..Spec::default()
        })
        .unwrap();
        let (r, _) = trace(&c, "80/tcp");
        expect(&r, "ok", None, &format!("{mode:?}"));
        let a = c.announcer().unwrap();
        assert_eq!(
            r.announcer.as_ref().unwrap().node.as_deref(),
            Some(a.as_str())
        );
        // Every hop of the path was seen with probes and replies.
        for h in &r.hops {
            assert!(h.seen.probes_in > 0, "{mode:?}: {h:?}");
        }
        if mode == ProxyMode::Nftables {
            let (r, _) = trace(&c, "9000/udp");
            expect(&r, "ok", None, "udp");
            assert!(r.probes.iter().all(|p| p.kind.starts_with("udp")));
        }
    }
}

#[test]
fn announcer_down_is_no_arp_reply() {
    fault_case(
        Fault::AnnouncerDown,
        Spec::default(),
        "no_arp_reply",
        nobody,
    );
}

#[test]
fn split_brain_is_arp_conflict() {
    fault_case(Fault::SplitBrain, Spec::default(), "arp_conflict", other);
}

#[test]
fn ipvs_without_strict_arp_is_arp_conflict() {
    fault_case(
        Fault::IpvsNoStrictArp,
        Spec::default(),
        "arp_conflict",
        other,
    );
}

#[test]
fn port_security_is_not_reaching_node() {
    fault_case(
        Fault::PortSecurity,
        Spec::default(),
        "not_reaching_node",
        announcer,
    );
}

#[test]
fn rules_missing_is_no_service_rule() {
    fault_case(
        Fault::RulesMissing,
        Spec::default(),
        "no_service_rule",
        announcer,
    );
}

#[test]
fn rules_missing_nftables_is_no_service_rule() {
    let base = Spec {
        proxy_mode: ProxyMode::Nftables,
        ..Spec::default()
    };
    fault_case(Fault::RulesMissing, base, "no_service_rule", announcer);
}

#[test]
fn no_endpoints_is_no_endpoints() {
    // The speaker withdrew: nobody announces; every node's rules say why.
    fault_case(Fault::NoEndpoints, Spec::default(), "no_endpoints", nobody);
}

#[test]
fn etp_local_is_no_local_endpoints() {
    fault_case(
        Fault::EtpLocalNoLocalEndpoint,
        Spec::default(),
        "no_local_endpoints",
        announcer,
    );
}

#[test]
fn source_ranges_is_source_range_blocked() {
    fault_case(
        Fault::SourceRangesExcludeClient,
        Spec::default(),
        "source_range_blocked",
        announcer,
    );
}

#[test]
fn source_ranges_nftables_is_source_range_blocked() {
    let base = Spec {
        proxy_mode: ProxyMode::Nftables,
        ..Spec::default()
    };
    fault_case(
        Fault::SourceRangesExcludeClient,
        base,
        "source_range_blocked",
        announcer,
    );
}

#[test]
fn forward_drop_is_firewall_drop() {
    fault_case(
        Fault::ForwardDrop,
        Spec::default(),
        "firewall_drop",
        announcer,
    );
}

#[test]
fn netpol_calico_is_network_policy_drop() {
    fault_case(
        Fault::NetpolCalico,
        Spec::default(),
        "network_policy_drop",
        announcer,
    );
}

#[test]
fn netpol_kube_router_is_network_policy_drop() {
    fault_case(
        Fault::NetpolKubeRouter,
        Spec::default(),
        "network_policy_drop",
        announcer,
    );
}

#[test]
fn missing_pod_route_is_cni_routing() {
    fault_case(
        Fault::MissingPodRoute,
        Spec::default(),
        "cni_routing",
        announcer,
    );
}

#[test]
fn stale_endpoint_is_endpoint_unreachable() {
    fault_case(
        Fault::StaleEndpoint,
        Spec::default(),
        "endpoint_unreachable",
        announcer,
    );
}

#[test]
fn mtu_blackhole_is_mtu_mismatch() {
    fault_case(
        Fault::MtuBlackhole,
        Spec::default(),
        "mtu_mismatch",
        announcer,
    );
}

#[test]
fn missing_snat_is_reply_path_broken() {
    fault_case(
        Fault::MissingSnat,
        Spec::default(),
        "reply_path_broken",
        announcer,
    );
}

#[test]
fn rp_filter_strict_is_rp_filter_drop() {
    fault_case(
        Fault::RpFilterStrict,
        Spec::default(),
        "rp_filter_drop",
        announcer,
    );
}

/// Pod-level faults hit every pod: the verdict names a node hosting one.
fn pod_case(fault: Fault, code: &str) {
    if !lab_allowed() {
        return;
    }
    let mut c = Cluster::build(fault.spec(Spec::default())).unwrap();
    fault.inject(&mut c).unwrap();
    let (r, _) = trace(&c, "80/tcp");
    assert_eq!(
        r.verdict.code,
        code,
        "{}",
        serde_json::to_string_pretty(&r).unwrap()
    );
    let node = r.verdict.node.clone().unwrap();
    assert!(c.nodes.iter().any(|n| n.name == node), "{node}");
    assert!(
        r.verdict.hop.as_deref().unwrap().contains("pod-"),
        "{:?}",
        r.verdict.hop
    );
}

#[test]
fn pod_not_listening_is_pod_not_listening() {
    pod_case(Fault::PodNotListening, "pod_not_listening");
}

#[test]
fn pod_silent_drop_is_pod_not_responding() {
    pod_case(Fault::PodSilentDrop, "pod_not_responding");
}

#[test]
fn udp_conntrack_stale_is_stale_conntrack() {
    if !lab_allowed() {
        return;
    }
    let mut c = Cluster::build(Fault::UdpConntrackStale.spec(Spec::default())).unwrap();
    let a = Fault::UdpConntrackStale.inject(&mut c).unwrap();
    let first = c
        .udp(STALE_UDP_SPORT, false, b"ping", Duration::from_secs(2))
        .unwrap();
    assert!(first.is_ok(), "{first:?}");
    fault::udp_stale_move(&mut c, &a).unwrap();
    // The long-lived client keeps sending on its pinned flow during the trace.
    let stop = Arc::new(AtomicBool::new(false));
    let lb = SocketAddr::new(c.lb(false), 9000);
    let s2 = stop.clone();
    let sock = c
        .lab()
        .within("client", || UdpSocket::bind(("0.0.0.0", STALE_UDP_SPORT)))
        .unwrap()
        .unwrap();
    let sender = std::thread::spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            let _ = sock.send_to(b"still here", lb);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let (r, _) = trace(&c, "9000/udp");
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    expect(&r, "stale_conntrack", Some(&a), "udp-conntrack-stale");
}

/// IPv6 LB IP: neighbour discovery takes ARP's place.
#[test]
fn ipv6_healthy_is_ok_and_without_a_speaker_is_no_arp_reply() {
    if !lab_allowed() {
        return;
    }
    let c = Cluster::build(Spec {
        dual_stack: true,
        ..Spec::default()
    })
    .unwrap();
    let (r, _) = trace_target(&c, format!("[{}]:80/tcp", c.lb(true)));
    expect(&r, "ok", None, "ipv6 healthy");
    assert_eq!(
        r.announcer.as_ref().unwrap().node.as_deref(),
        Some(c.announcer().unwrap().as_str())
    );
    let mut c = Cluster::build(Fault::AnnouncerDown.spec(Spec {
        dual_stack: true,
        ..Spec::default()
    }))
    .unwrap();
    Fault::AnnouncerDown.inject(&mut c).unwrap();
    let (r, _) = trace_target(&c, format!("[{}]:80/tcp", c.lb(true)));
    expect(&r, "no_arp_reply", None, "ipv6 announcer down");
}

fn trace_svc(c: &Cluster, dir: &std::path::Path) -> TraceReport {
    let mut args: Vec<String> = vec![
        "trace".into(),
        "svc/web".into(),
        "-n".into(),
        "default".into(),
        "--from-dir".into(),
        dir.display().to_string(),
        "--json".into(),
        "--client".into(),
        format!("netns:{}", c.lab().ns("client")),
    ];
    for n in &c.nodes {
        args.push("--node".into());
        args.push(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    let o = hopdump().args(&args).output().unwrap();
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)))
}

/// `trace svc/NAME` resolves the LB IP and port from the cluster, and the cluster's view
/// sharpens the verdict (here: the NetworkPolicy that decides).
#[test]
fn trace_service_by_name_with_the_cluster_view() {
    if !lab_allowed() {
        return;
    }
    let c = Cluster::build(Spec::default()).unwrap();
    let dir = cluster_dir(&c, false);
    let r = trace_svc(&c, dir.path());
    expect(&r, "ok", None, "svc/web healthy");
    assert_eq!(r.target.ip, c.lb(false));
    assert_eq!(r.target.port, 80);

    let mut c = Cluster::build(Fault::NetpolCalico.spec(Spec::default())).unwrap();
    Fault::NetpolCalico.inject(&mut c).unwrap();
    let dir = cluster_dir(&c, true);
    let r = trace_svc(&c, dir.path());
    assert_eq!(r.verdict.code, "network_policy_drop", "{:?}", r.verdict);
    assert!(
        r.verdict
            .evidence
            .iter()
            .any(|e| e.starts_with("cluster: ✘") && e.contains("default-deny-ingress")),
        "the deciding policy is named: {:?}",
        r.verdict.evidence
    );
}

/// Ctrl-C during the capture window ends the window, not the trace: the verdict is made from
/// what was seen, printed, and the `-w` pcapng is complete and valid (tshark reads it, 0600).
#[test]
fn ctrl_c_ends_the_window_with_a_verdict_and_a_valid_file() {
    if !lab_allowed() {
        return;
    }
    require("tshark");
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    let mut c = Cluster::build(Fault::ForwardDrop.spec(Spec::default())).unwrap();
    let a = Fault::ForwardDrop.inject(&mut c).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("trace.pcapng");
    let mut cmd = hopdump();
    cmd.args(["trace", &format!("{}:80/tcp", c.lb(false)), "--json"])
        .args(["--duration", "60s", "-w"])
        .arg(&w)
        .arg("--client")
        .arg(format!("netns:{}", c.lab().ns("client")));
    for n in &c.nodes {
        cmd.arg("--node")
            .arg(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Readiness: the progress line that says the points are armed and probes are going out.
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l.clone());
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    let t0 = Instant::now();
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("trace armed within 30 s");
        if l.starts_with("hopdump: armed") {
            break;
        }
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let took = t0.elapsed();
    let err = reader.join().unwrap();
    assert!(
        took < Duration::from_secs(30),
        "ended by Ctrl-C, not by the 60 s window: {took:?}"
    );
    assert_eq!(o.status.code(), Some(1), "a problem found: {err}");
    assert!(err.contains("cut short by a signal"), "{err}");
    let r: TraceReport =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{err}", stdout(&o)));
    expect(
        &r,
        "firewall_drop",
        Some(a.as_str()),
        "forward-drop, Ctrl-C",
    );
    assert!(
        r.missing.iter().any(|m| m.contains("cut short")),
        "{:?}",
        r.missing
    );
    let mode = std::fs::metadata(&w).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let t = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&w)
        .args(["-T", "fields", "-e", "frame.interface_name"])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let names = String::from_utf8_lossy(&t.stdout);
    let seen: usize = r.hops.iter().map(|h| h.seen.probes_in as usize).sum();
    assert!(seen > 0, "probes were seen before the signal");
    assert!(names.lines().count() >= seen, "{names}");
}
