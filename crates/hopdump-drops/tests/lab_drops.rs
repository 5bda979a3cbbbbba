//! Lab tests of the drop tracer against the real kernel: real faults (a FORWARD DROP rule,
//! strict rp_filter) in network namespaces this test creates, traced through the library API.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hopdump_drops::{DropEvent, TraceOptions, Tracer, netns_inode};
use hopdump_testkit::Lab;

fn lab_allowed() -> bool {
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

/// client (198.51.100.2, 192.0.2.5) — c0 | r0 router r1 | s0 — server (203.0.113.2)
fn topology() -> Lab {
    let lab = Lab::routed().unwrap();
    lab.exec(
        "client",
        &["ip", "addr", "add", "192.0.2.5/32", "dev", "c0"],
    )
    .unwrap();
    lab
}

/// One UDP datagram from the client namespace.
fn send_udp(lab: &Lab, from: Ipv4Addr, to: &str, port: u16) {
    let to: SocketAddr = format!("{to}:{port}").parse().unwrap();
    lab.within("client", move || {
        let s = UdpSocket::bind((from, 0)).unwrap();
        s.send_to(b"hopdump drops test", to).unwrap();
    })
    .unwrap();
}

fn wait_for(
    t: &Tracer,
    what: &str,
    pred: impl Fn(&DropEvent) -> bool,
) -> (DropEvent, Vec<DropEvent>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match t.events().recv_timeout(left) {
            Ok(ev) if pred(&ev) => return (ev, before),
            Ok(ev) => before.push(ev),
            Err(_) => break,
        }
    }
    panic!("no drop event for {what}; saw {before:#?}");
}

#[test]
fn forward_drop_rule_reports_netfilter_drop_at_router_ingress() {
    if !lab_allowed() {
        return;
    }
    let lab = topology();
    for port in ["9998", "9999"] {
        lab.exec(
            "router",
            &[
                "iptables", "-A", "FORWARD", "-p", "udp", "--dport", port, "-j", "DROP",
            ],
        )
        .unwrap();
    }
    let router_ino = netns_inode(&lab.ns_path("router")).unwrap();
    let tracer = Tracer::start(&TraceOptions {
        filter: "udp and dst port 9999 and host 203.0.113.2".into(),
        netns: vec![(router_ino, lab.ns("router"))],
        ..Default::default()
    })
    .unwrap();
    // The unrelated drop first: if the filter let it through it would arrive first.
    send_udp(&lab, "198.51.100.2".parse().unwrap(), "203.0.113.2", 9998);
    send_udp(&lab, "198.51.100.2".parse().unwrap(), "203.0.113.2", 9999);
    let (ev, before) = wait_for(&tracer, "udp 9999", |e| e.reason == "NETFILTER_DROP");
    let stats = tracer.stop().unwrap();
    assert!(before.is_empty(), "unfiltered events: {before:#?}");
    assert_eq!(ev.netns, lab.ns("router"));
    assert_eq!(ev.netns_inode, router_ino);
    assert_eq!(ev.iface.as_deref(), Some("r0"));
    // The name is the kernel's: its code maps back to the same BTF enumerator.
    let reasons = hopdump_drops::Reasons::from_kernel().unwrap();
    assert_eq!(
        reasons.code("SKB_DROP_REASON_NETFILTER_DROP"),
        Some(ev.reason_code)
    );
    let sym = ev.location_sym.clone().unwrap();
    // iptables-nft's verdict is freed in nf_hook_slow or, on newer kernels, in nft_do_chain.
    assert!(
        ["nf_hook_slow", "nft_do_chain", "ipt_do_table"]
            .iter()
            .any(|f| sym.starts_with(f)),
        "{sym}"
    );
    // IPv4 header: addresses at 12..20, UDP ports after a 20-byte header.
    assert_eq!(ev.headers[0] >> 4, 4);
    assert_eq!(&ev.headers[12..16], &[198, 51, 100, 2]);
    assert_eq!(&ev.headers[16..20], &[203, 0, 113, 2]);
    assert_eq!(u16::from_be_bytes([ev.headers[22], ev.headers[23]]), 9999);
    assert!(stats.filtered >= 1, "{stats:?}");
}

#[test]
fn strict_rp_filter_reports_ip_rpfilter() {
    if !lab_allowed() {
        return;
    }
    let lab = topology();
    // Asymmetric: the router reaches 192.0.2.0/24 through r1, but the client sends from
    // 192.0.2.5 through r0; strict reverse-path filtering drops it.
    lab.exec(
        "router",
        &["ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.2"],
    )
    .unwrap();
    // The router would also reject the client's ARP from 192.0.2.5: a static neighbour.
    let mac = lab
        .exec("router", &["cat", "/sys/class/net/r0/address"])
        .unwrap();
    lab.exec(
        "client",
        &[
            "ip",
            "neigh",
            "replace",
            "198.51.100.1",
            "lladdr",
            mac.trim(),
            "dev",
            "c0",
            "nud",
            "permanent",
        ],
    )
    .unwrap();
    lab.sysctl("router", "net.ipv4.conf.all.rp_filter", "1")
        .unwrap();
    lab.sysctl("router", "net.ipv4.conf.r0.rp_filter", "1")
        .unwrap();
    let tracer = Tracer::start(&TraceOptions {
        filter: "src host 192.0.2.5".into(),
        ..Default::default()
    })
    .unwrap();
    send_udp(&lab, "192.0.2.5".parse().unwrap(), "203.0.113.2", 7000);
    let (ev, _) = wait_for(&tracer, "rp_filter", |e| e.reason == "IP_RPFILTER");
    tracer.stop().unwrap();
    assert_eq!(ev.netns, lab.ns("router"));
    assert_eq!(ev.iface.as_deref(), Some("r0"));
    assert_eq!(&ev.headers[12..16], &[192, 0, 2, 5]);
}
