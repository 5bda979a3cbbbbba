//! Fault self-checks: each injector breaks what it should (the client-side symptom) and
//! nothing else (a control path through the same lab still works).

mod common;

use common::{FAIL_WAIT, OK_WAIT, POST_BYTES, lab_allowed};
use hopdump_testkit::lab::fault::{self, Fault};
use hopdump_testkit::lab::{Cluster, Http, Outcome, ProxyMode, Spec};

/// A lab with `f`'s spec, checked healthy (which also warms the client's ARP entry), then
/// broken. Returns the lab and the announcing node.
fn broken(f: Fault) -> (Cluster, String) {
    let mut c = Cluster::build(f.spec(Spec::default())).expect("build lab");
    let pre = c.http(Http::Small, false, OK_WAIT).expect("probe");
    assert!(
        pre.is_ok(),
        "{}: lab not healthy before the fault: {pre:?}",
        f.name()
    );
    let a = f.inject(&mut c).expect("inject");
    (c, a)
}

fn get(c: &Cluster) -> Outcome {
    c.http(Http::Small, false, FAIL_WAIT).expect("probe")
}

fn udp(c: &Cluster, sport: u16) -> Outcome {
    c.udp(sport, false, b"ping", FAIL_WAIT).expect("probe")
}

/// No answer: dropped, or an ICMP unreachable after the node gave up resolving a neighbour.
fn assert_dead(o: &Outcome, what: &str) {
    assert!(
        matches!(o, Outcome::Timeout | Outcome::Unreachable),
        "{what}: expected no answer, got {o:?}"
    );
}

fn assert_ok(o: &Outcome, what: &str) {
    assert!(o.is_ok(), "{what}: expected an answer, got {o:?}");
}

fn node_port(c: &Cluster, node: &str) -> Outcome {
    let addr = c.node_port(node).expect("node");
    c.http_to(addr, Http::Small, OK_WAIT).expect("probe")
}

#[test]
fn announcer_down_leaves_the_lb_ip_unresolved() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::AnnouncerDown);
    assert_dead(&get(&c), "GET to the LB IP");
    assert_eq!(
        c.client_neigh(false).expect("neigh"),
        None,
        "nobody answered ARP"
    );
    assert_ok(&node_port(&c, &a), "NodePort on the node that announced");
}

#[test]
fn port_security_drops_lb_frames_after_arp_resolved() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::PortSecurity);
    let mac = c.node(&a).expect("node").mac.clone();
    assert_dead(&get(&c), "GET to the LB IP");
    assert_eq!(
        c.client_neigh(false).expect("neigh").as_deref(),
        Some(mac.as_str())
    );
    assert_ok(
        &node_port(&c, &a),
        "NodePort on the same node (its own IP passes)",
    );
}

#[test]
fn split_brain_two_macs_answer_and_the_unprogrammed_one_fails() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::SplitBrain);
    let r = c.other_node(&a).expect("node");
    let (ma, mr) = (
        c.node(&a).expect("node").mac.clone(),
        c.node(&r).expect("node").mac.clone(),
    );
    let mut macs = c.client_arp_probe(FAIL_WAIT).expect("arp probe");
    macs.sort();
    let mut want = vec![ma.clone(), mr.clone()];
    want.sort();
    assert_eq!(macs, want, "both speakers answer who-has");
    c.client_pin_neigh(&ma).expect("pin");
    assert_ok(
        &c.http(Http::Small, false, OK_WAIT).expect("probe"),
        "via the programmed node",
    );
    c.client_pin_neigh(&mr).expect("pin");
    assert_dead(&get(&c), "via the unprogrammed node");
}

#[test]
fn ipvs_without_strict_arp_resets_through_the_other_node() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::IpvsNoStrictArp);
    let r = c.other_node(&a).expect("node");
    let (ma, mr) = (
        c.node(&a).expect("node").mac.clone(),
        c.node(&r).expect("node").mac.clone(),
    );
    let macs = c.client_arp_probe(FAIL_WAIT).expect("arp probe");
    assert!(
        macs.contains(&ma) && macs.contains(&mr),
        "two answers: {macs:?}"
    );
    c.client_pin_neigh(&mr).expect("pin");
    assert_eq!(get(&c), Outcome::Refused, "the other node's kernel resets");
    c.client_pin_neigh(&ma).expect("pin");
    assert_ok(
        &c.http(Http::Small, false, OK_WAIT).expect("probe"),
        "via the announcer",
    );
}

#[test]
fn rules_missing_on_the_announcing_node() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::RulesMissing);
    assert_dead(&get(&c), "GET to the LB IP");
    let r = c.other_node(&a).expect("node");
    assert_ok(&node_port(&c, &r), "NodePort on the programmed node");
}

#[test]
fn no_endpoints_rejects_while_arp_is_cached_then_nothing_answers() {
    if !lab_allowed() {
        return;
    }
    let (c, _a) = broken(Fault::NoEndpoints);
    assert_eq!(
        get(&c),
        Outcome::Refused,
        "kube-proxy REJECT (cached ARP entry)"
    );
    assert_eq!(
        udp(&c, 0),
        Outcome::Refused,
        "UDP gets port unreachable too"
    );
    c.client_flush_neigh().expect("flush");
    assert_dead(&get(&c), "after the cache expired: the speaker withdrew");
}

#[test]
fn etp_local_without_local_endpoint_drops() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::EtpLocalNoLocalEndpoint);
    assert_dead(&get(&c), "GET to the LB IP");
    let r = c.other_node(&a).expect("node");
    assert_ok(&node_port(&c, &r), "NodePort on the node with the endpoint");
    let addr = c.node_port(&a).expect("node");
    assert_dead(
        &c.http_to(addr, Http::Small, FAIL_WAIT).expect("probe"),
        "NodePort on the announcing node (no local endpoint)",
    );
}

#[test]
fn source_ranges_exclude_the_client() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::SourceRangesExcludeClient);
    assert_dead(&get(&c), "GET to the LB IP");
    assert_ok(
        &node_port(&c, &a),
        "NodePort (source ranges only guard the LB IP)",
    );
}

#[test]
fn forward_drop_on_the_announcing_node() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::ForwardDrop);
    assert_dead(&get(&c), "GET to the LB IP");
    let node_ip = c.node(&a).expect("node").ip4;
    let closed = std::net::SocketAddr::new(node_ip.into(), 1);
    assert_eq!(
        c.http_to(closed, Http::Small, OK_WAIT).expect("probe"),
        Outcome::Refused,
        "the node itself answers (INPUT is open)"
    );
}

#[test]
fn netpol_calico_default_deny_drops() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::NetpolCalico);
    assert_dead(&get(&c), "GET to the LB IP");
    assert_dead(&udp(&c, 0), "UDP to the LB IP");
    let pod = c.pods_on(&a)[0].clone();
    let ip = c.pod(&pod).expect("pod").ip4;
    let addr = std::net::SocketAddr::new(ip.into(), hopdump_testkit::lab::backend::HTTP_PORT);
    assert_ok(
        &c.http_from(&a, addr, Http::Small, OK_WAIT).expect("probe"),
        "the node reaches its own pod",
    );
}

#[test]
fn netpol_kube_router_default_deny_rejects() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::NetpolKubeRouter);
    assert_eq!(get(&c), Outcome::Refused, "kube-router REJECTs");
    assert_eq!(udp(&c, 0), Outcome::Refused, "UDP too");
    let pod = c.pods_on(&a)[0].clone();
    let ip = c.pod(&pod).expect("pod").ip4;
    let addr = std::net::SocketAddr::new(ip.into(), hopdump_testkit::lab::backend::HTTP_PORT);
    assert_ok(
        &c.http_from(&a, addr, Http::Small, OK_WAIT).expect("probe"),
        "the node reaches its own pod",
    );
}

#[test]
fn missing_route_to_remote_pod_cidr() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::MissingPodRoute);
    assert_dead(&get(&c), "GET to the LB IP (remote endpoint)");
    let r = c.other_node(&a).expect("node");
    assert_ok(&node_port(&c, &r), "NodePort on the endpoint's node");
}

#[test]
fn stale_endpoint_dnat_to_a_deleted_pod() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::StaleEndpoint);
    assert_dead(&get(&c), "GET to the LB IP");
    let pod = c.pods_on(&a)[0].clone();
    let ip = c.pod(&pod).expect("pod").ip4;
    let addr = std::net::SocketAddr::new(ip.into(), hopdump_testkit::lab::backend::HTTP_PORT);
    assert_ok(
        &c.http_from(&a, addr, Http::Small, OK_WAIT).expect("probe"),
        "the remaining pod answers directly",
    );
}

#[test]
fn mtu_blackhole_loses_large_packets_only() {
    if !lab_allowed() {
        return;
    }
    let (c, _a) = broken(Fault::MtuBlackhole);
    assert_ok(
        &c.http(Http::Small, false, OK_WAIT).expect("probe"),
        "small GET",
    );
    assert_ok(
        &c.udp(0, false, b"ping", OK_WAIT).expect("probe"),
        "small UDP",
    );
    assert_dead(
        &c.http(Http::Large, false, FAIL_WAIT).expect("probe"),
        "large GET",
    );
    assert_dead(
        &c.http(Http::Post(POST_BYTES), false, FAIL_WAIT)
            .expect("probe"),
        "large POST",
    );
}

#[test]
fn udp_flow_pinned_by_conntrack_to_a_deleted_pod() {
    if !lab_allowed() {
        return;
    }
    let (mut c, a) = broken(Fault::UdpConntrackStale);
    let remote = c.pods_off(&a)[0].clone();
    let remote_ip = c.pod(&remote).expect("pod").ip4.to_string();
    let first = c.udp(40000, false, b"ping", OK_WAIT).expect("probe");
    assert_eq!(
        first.pod(),
        Some(remote.as_str()),
        "the flow starts on the remote pod"
    );
    fault::udp_stale_move(&mut c, &a).expect("move service");
    let ct = c
        .exec(&a, &["conntrack", "-L", "-p", "udp", "--sport", "40000"])
        .expect("conntrack");
    assert!(
        ct.contains(&remote_ip),
        "the entry still points at the dead pod: {ct}"
    );
    assert_dead(&udp(&c, 40000), "the pinned flow");
    let fresh = c.udp(40001, false, b"ping", OK_WAIT).expect("probe");
    assert!(
        fresh
            .pod()
            .is_some_and(|p| c.pods_on(&a).iter().any(|q| q == p)),
        "a new flow reaches the new endpoint: {fresh:?}"
    );
}

#[test]
fn pod_not_listening_refuses() {
    if !lab_allowed() {
        return;
    }
    let (c, _a) = broken(Fault::PodNotListening);
    assert_eq!(get(&c), Outcome::Refused);
    assert_eq!(udp(&c, 0), Outcome::Refused);
}

#[test]
fn pod_silently_dropping_times_out() {
    if !lab_allowed() {
        return;
    }
    let (c, _a) = broken(Fault::PodSilentDrop);
    assert_dead(&get(&c), "GET");
    assert_dead(&udp(&c, 0), "UDP");
    assert!(
        c.client_neigh(false).expect("neigh").is_some(),
        "the LB IP still resolves"
    );
}

#[test]
fn missing_snat_replies_bypass_the_dnat_node() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::MissingSnat);
    assert_dead(&get(&c), "GET to the LB IP (remote endpoint, no SNAT)");
    let r = c.other_node(&a).expect("node");
    assert_ok(&node_port(&c, &r), "NodePort on the endpoint's node");
}

#[test]
fn strict_rp_filter_with_asymmetric_route() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::RpFilterStrict);
    assert_dead(&get(&c), "GET with strict rp_filter");
    // The asymmetric route alone is fine: loose mode passes and the replies come back.
    for k in ["all", "eth0"] {
        c.lab()
            .sysctl(&a, &format!("net.ipv4.conf.{k}.rp_filter"), "2")
            .expect("sysctl");
    }
    assert_ok(
        &c.http(Http::Small, false, OK_WAIT).expect("probe"),
        "loose rp_filter",
    );
}

#[test]
fn kube_proxy_in_legacy_while_firewall_in_nft() {
    if !lab_allowed() {
        return;
    }
    let (c, a) = broken(Fault::LegacyNftSplit);
    assert_dead(&get(&c), "GET to the LB IP");
    let legacy = c
        .exec(&a, &["iptables-legacy-save", "-t", "nat"])
        .expect("save");
    assert!(
        legacy.contains("KUBE-SERVICES"),
        "kube-proxy's rules are in legacy"
    );
    let nft = c
        .exec(&a, &["iptables-nft-save", "-t", "filter"])
        .expect("save");
    assert!(
        nft.contains(":FORWARD DROP"),
        "the firewall is in nft: {nft}"
    );
}

#[test]
fn same_host_firewall_works_when_kube_proxy_shares_its_backend() {
    if !lab_allowed() {
        return;
    }
    let spec = Spec {
        proxy_mode: ProxyMode::IptablesNft,
        ..Spec::default()
    };
    let c = Cluster::build(spec).expect("build lab");
    let a = c.announcer().expect("announcer");
    fault::host_firewall_nft(&c, &a).expect("firewall");
    assert_ok(
        &c.http(Http::Small, false, OK_WAIT).expect("probe"),
        "KUBE-FORWARD accepts the marked, DNATed flow in the same FORWARD chain",
    );
}
