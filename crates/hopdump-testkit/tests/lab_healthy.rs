//! Healthy scenarios self-check: HTTP small, large and POST and UDP work end to end from the
//! client through ARP, the announcing node's kube-proxy rules and to local and remote pods.

mod common;

use common::{OK_WAIT, assert_all_work, lab_allowed};
use hopdump_testkit::lab::{Cluster, Cni, Http, Overlay, ProxyMode, Spec};

/// Each endpoint alone (local to the announcer, then remote), so both paths are exercised
/// deterministically, then both together.
fn check_every_path(c: &mut Cluster, v6: bool) {
    let node = c.announcing().first().cloned().expect("an announcer runs");
    let mac = c.node(&node).expect("node").mac.clone();
    let web_all = c.services.clone();
    for pods in [c.pods_on(&node), c.pods_off(&node)] {
        let svc = c.web_service(&pods);
        c.set_services(vec![svc]).expect("resync");
        let answered = assert_all_work(c, v6);
        for p in answered {
            assert!(
                pods.contains(&p),
                "answer from {p}, expected one of {pods:?}"
            );
        }
    }
    c.set_services(web_all).expect("resync");
    assert_all_work(c, v6);
    assert_eq!(
        c.client_neigh(v6).expect("neigh").as_deref(),
        Some(mac.as_str()),
        "the client resolved the LB IP to the announcing node's uplink"
    );
}

#[test]
fn healthy_hostgw_iptables() {
    if !lab_allowed() {
        return;
    }
    let mut c = Cluster::build(Spec::default()).expect("build lab");
    check_every_path(&mut c, false);
}

#[test]
fn healthy_vxlan_overlay() {
    if !lab_allowed() {
        return;
    }
    let spec = Spec {
        overlay: Overlay::Vxlan,
        ..Spec::default()
    };
    let mut c = Cluster::build(spec).expect("build lab");
    check_every_path(&mut c, false);
}

#[test]
fn healthy_nftables_mode() {
    if !lab_allowed() {
        return;
    }
    let spec = Spec {
        proxy_mode: ProxyMode::Nftables,
        ..Spec::default()
    };
    let mut c = Cluster::build(spec).expect("build lab");
    check_every_path(&mut c, false);
}

#[test]
fn healthy_iptables_legacy_mode() {
    if !lab_allowed() {
        return;
    }
    let spec = Spec {
        proxy_mode: ProxyMode::IptablesLegacy,
        ..Spec::default()
    };
    let mut c = Cluster::build(spec).expect("build lab");
    check_every_path(&mut c, false);
}

#[test]
fn healthy_dual_stack() {
    if !lab_allowed() {
        return;
    }
    let spec = Spec {
        dual_stack: true,
        ..Spec::default()
    };
    let mut c = Cluster::build(spec).expect("build lab");
    check_every_path(&mut c, false);
    check_every_path(&mut c, true);
}

#[test]
fn failover_moves_the_client_to_the_new_node() {
    if !lab_allowed() {
        return;
    }
    let mut c = Cluster::build(Spec::default()).expect("build lab");
    assert!(c.http(Http::Small, false, OK_WAIT).expect("probe").is_ok());
    let old = c.announcing()[0].clone();
    let new = c
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .find(|n| n != &old)
        .expect("second node");
    c.failover(&new).expect("failover");
    // The gratuitous ARP moved the client's existing entry; no flush needed.
    let mac = c.node(&new).expect("node").mac.clone();
    assert_eq!(
        c.client_neigh(false).expect("neigh").as_deref(),
        Some(mac.as_str())
    );
    assert!(c.http(Http::Small, false, OK_WAIT).expect("probe").is_ok());
}

#[test]
fn healthy_calico_cni() {
    if !lab_allowed() {
        return;
    }
    let spec = Spec {
        cni: Cni::Calico,
        ..Spec::default()
    };
    let mut c = Cluster::build(spec).expect("build lab");
    check_every_path(&mut c, false);
}
