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

/// What the root namespace looks like: links, addresses, routes, firewall and the sysctls the
/// lab sets inside its namespaces.
fn root_snapshot() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let strip = |s: String| {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| match l.find(" [") {
                Some(i) if l.starts_with(':') => l[..i].to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = String::new();
    out.push_str(
        &run(&["ip", "-o", "link", "show"])
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    );
    out.push_str(&run(&["ip", "-o", "addr", "show"]));
    out.push_str(&run(&["ip", "route", "show", "table", "all"]));
    out.push_str(&strip(run(&["iptables-nft-save"])));
    out.push_str(&run(&["nft", "list", "tables"]));
    for key in [
        "net/ipv4/ip_forward",
        "net/ipv4/conf/all/rp_filter",
        "net/ipv4/conf/all/send_redirects",
        "net/ipv6/conf/all/forwarding",
        "net/ipv6/conf/all/accept_dad",
    ] {
        out.push_str(&std::fs::read_to_string(format!("/proc/sys/{key}")).unwrap_or_default());
    }
    out
}

#[test]
fn root_namespace_is_untouched() {
    if !lab_allowed() {
        return;
    }
    let before = root_snapshot();
    {
        let spec = Spec {
            dual_stack: true,
            ..Spec::default()
        };
        let mut c = Cluster::build(spec).expect("build lab");
        hopdump_testkit::lab::fault::Fault::ForwardDrop
            .inject(&mut c)
            .expect("inject");
        assert_eq!(root_snapshot(), before, "while the lab runs");
    }
    assert_eq!(root_snapshot(), before, "after teardown");
}
