//! The walker on kube-proxy's real layouts (tests/scenarios/rules, made from shared/reference):
#![allow(clippy::unwrap_used)]
//! iptables mode, nftables mode and IPVS mode must give the same answers for the same services.

use std::path::PathBuf;

use hopdump_rules::{
    Cause, Fate, Flow, NodeContext, NodeRules, OutcomeKind, explain, iptables, ipvs, nft,
};

fn scenario(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios/rules")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn xt(name: &str) -> NodeRules {
    NodeRules {
        xt: vec![iptables::parse(name, &scenario(name)).unwrap()],
        ..Default::default()
    }
}

fn nftr(name: &str) -> NodeRules {
    NodeRules {
        nft: vec![nft::parse(name, &scenario(name)).unwrap()],
        ..Default::default()
    }
}

fn node() -> NodeContext {
    NodeContext {
        local_addrs: vec!["192.168.1.11".parse().unwrap()],
        local_known: true,
        out_iface: None,
        routes: Vec::new(),
    }
}

fn flow(dst: &str, src: &str) -> Flow {
    Flow::parse(dst, Some(src)).unwrap()
}

fn targets(e: &hopdump_rules::Explanation) -> Vec<(String, f64)> {
    let mut t: Vec<(String, f64)> = e
        .outcome
        .targets
        .iter()
        .map(|t| (t.addr.clone(), (t.probability * 1000.0).round() / 1000.0))
        .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// The same services explained from each mode's rules. `named`: the mode's rules name the
/// Service (iptables and nftables modes do; IPVS mode's rules are per ipset, not per Service).
fn check_three_services(rules: &NodeRules, named: bool) {
    let ctx = node();
    let web = explain(rules, &flow("192.168.1.240:80", "203.0.113.10:40000"), &ctx);
    assert_eq!(
        web.outcome.kind,
        OutcomeKind::Dnat,
        "{}",
        web.outcome.summary
    );
    assert_eq!(
        targets(&web),
        [
            ("10.244.1.12:8080".into(), 0.5),
            ("10.244.2.7:8080".into(), 0.5)
        ]
    );
    assert!(web.outcome.masquerade, "eTP=Cluster traffic is masqueraded");
    assert!(
        web.certain,
        "{:?}",
        web.branches
            .iter()
            .map(|b| &b.assumptions)
            .collect::<Vec<_>>()
    );
    assert!(web.path.iter().any(|h| h.owner.kind == "kube-proxy"));
    if named {
        assert!(web.path.iter().any(|h| {
            h.owner
                .service
                .as_deref()
                .is_some_and(|s| s.starts_with("default/web"))
        }));
    }
    assert!(web.branches.iter().all(|b| b.fate == Fate::Forwarded));

    let api = explain(
        rules,
        &flow("192.168.1.241:443", "203.0.113.10:40000"),
        &ctx,
    );
    assert_eq!(
        api.outcome.kind,
        OutcomeKind::Dnat,
        "{}",
        api.outcome.summary
    );
    assert_eq!(
        targets(&api),
        [("10.244.1.20:8443".into(), 1.0)],
        "eTP=Local: only the local endpoint"
    );

    let broken = explain(rules, &flow("192.168.1.242:80", "203.0.113.10:40000"), &ctx);
    assert_eq!(
        broken.outcome.kind,
        OutcomeKind::Reject,
        "{}",
        broken.outcome.summary
    );
    assert_eq!(
        broken.outcome.cause,
        Some(Cause::NoEndpoints),
        "every mode names the cause"
    );

    let none = explain(rules, &flow("192.168.1.249:80", "203.0.113.10:40000"), &ctx);
    assert_eq!(
        none.outcome.kind,
        OutcomeKind::NoMatch,
        "{}",
        none.outcome.summary
    );

    let udp = explain(
        rules,
        &flow("192.168.1.240:80/udp", "203.0.113.10:40000"),
        &ctx,
    );
    assert_eq!(
        udp.outcome.kind,
        OutcomeKind::NoMatch,
        "a TCP service does not catch UDP: {}",
        udp.outcome.summary
    );
}

#[test]
fn iptables_mode_three_services() {
    let rules = xt("three-services.iptables");
    check_three_services(&rules, true);
    let broken = explain(
        &rules,
        &flow("192.168.1.242:80", "203.0.113.10:40000"),
        &node(),
    );
    let last = broken.path.last().unwrap();
    assert_eq!(
        (last.table.as_str(), last.chain.as_str()),
        ("filter", "KUBE-EXTERNAL-SERVICES")
    );
    assert!(
        last.meaning
            .as_deref()
            .unwrap()
            .contains("has no endpoints"),
        "{last:?}"
    );
    assert_eq!(last.owner.service.as_deref(), Some("default/broken:http"));
    // The walk goes through the hooks in kernel order.
    let web = explain(
        &rules,
        &flow("192.168.1.240:80", "203.0.113.10:40000"),
        &node(),
    );
    let hooks: Vec<&str> = web.path.iter().map(|h| h.hook).collect();
    let first_forward = hooks.iter().position(|h| *h == "forward").unwrap();
    assert!(
        hooks[..first_forward].iter().all(|h| *h == "prerouting"),
        "{hooks:?}"
    );
    assert!(
        web.path
            .iter()
            .any(|h| h.chain == "KUBE-POSTROUTING" && h.action.starts_with("MASQUERADE"))
    );
}

#[test]
fn nftables_mode_three_services() {
    let rules = nftr("three-services.nft.json");
    check_three_services(&rules, true);
    let broken = explain(
        &rules,
        &flow("192.168.1.242:80", "203.0.113.10:40000"),
        &node(),
    );
    assert!(
        broken.path.iter().any(|h| h
            .meaning
            .as_deref()
            .is_some_and(|m| m.contains("default/broken:http has no endpoints"))),
        "{:#?}",
        broken.path
    );
    let web = explain(
        &rules,
        &flow("192.168.1.240:80", "203.0.113.10:40000"),
        &node(),
    );
    assert!(
        web.path
            .iter()
            .any(|h| h.probability == Some(0.5) && h.text.contains("numgen random mod 2"))
    );
}

#[test]
fn ipvs_mode_three_services() {
    let rules = NodeRules {
        xt: vec![iptables::parse("ipvs", &scenario("ipvs-three-services.iptables")).unwrap()],
        ipvs: Some(ipvs::parse_ipvs("ipvsadm", &scenario("ipvs-three-services.ipvsadm")).unwrap()),
        ipsets: ipvs::parse_ipsets(&scenario("ipvs-three-services.ipset")),
        ..Default::default()
    };
    check_three_services(&rules, false);
}

#[test]
fn load_balancer_source_ranges() {
    for rules in [xt("source-ranges.iptables"), nftr("source-ranges.nft.json")] {
        let ok = explain(
            &rules,
            &flow("192.168.1.240:80", "203.0.113.10:40000"),
            &node(),
        );
        assert_eq!(ok.outcome.kind, OutcomeKind::Dnat, "{}", ok.outcome.summary);
        let bad = explain(
            &rules,
            &flow("192.168.1.240:80", "198.51.100.7:40000"),
            &node(),
        );
        assert_eq!(
            bad.outcome.kind,
            OutcomeKind::Drop,
            "{}",
            bad.outcome.summary
        );
        assert_eq!(bad.outcome.cause, Some(Cause::SourceRangeBlocked));
        assert!(
            bad.outcome.summary.contains("loadBalancerSourceRanges"),
            "{}",
            bad.outcome.summary
        );
    }
}

#[test]
fn etp_local_without_local_endpoint_drops() {
    for rules in [
        xt("etp-local-no-local-endpoint.iptables"),
        nftr("etp-local-no-local-endpoint.nft.json"),
    ] {
        let e = explain(
            &rules,
            &flow("192.168.1.241:443", "203.0.113.10:40000"),
            &node(),
        );
        assert_eq!(e.outcome.kind, OutcomeKind::Drop, "{}", e.outcome.summary);
        assert!(
            e.outcome.summary.contains("externalTrafficPolicy=Local"),
            "{}",
            e.outcome.summary
        );
        assert_eq!(e.outcome.cause, Some(Cause::NoLocalEndpoints));
    }
}

#[test]
fn upstream_test_vectors() {
    let rules = xt("k8s-upstream-iptables.txt");
    let ctx = NodeContext {
        local_addrs: vec!["192.168.0.2".parse().unwrap()],
        local_known: true,
        out_iface: None,
        routes: Vec::new(),
    };
    let svc2 = explain(&rules, &flow("1.2.3.4:80", "203.0.113.10:40000"), &ctx);
    assert_eq!(
        svc2.outcome.kind,
        OutcomeKind::Drop,
        "{}",
        svc2.outcome.summary
    );
    let svc5 = explain(&rules, &flow("5.6.7.8:80", "203.0.113.5:40000"), &ctx);
    assert_eq!(
        svc5.outcome.kind,
        OutcomeKind::Dnat,
        "{}",
        svc5.outcome.summary
    );
    assert_eq!(targets(&svc5), [("10.180.0.3:80".into(), 1.0)]);
    let svc5_denied = explain(&rules, &flow("5.6.7.8:80", "203.0.113.200:40000"), &ctx);
    assert_eq!(
        svc5_denied.outcome.kind,
        OutcomeKind::Drop,
        "{}",
        svc5_denied.outcome.summary
    );
    let svc4 = explain(&rules, &flow("192.168.99.33:80", "203.0.113.5:40000"), &ctx);
    assert_eq!(
        targets(&svc4),
        [("10.180.0.4:80".into(), 0.5), ("10.180.0.5:80".into(), 0.5)]
    );
}

#[test]
fn unknown_matches_are_reported_not_guessed() {
    let dump = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m physdev --physdev-is-bridged -j DROP\nCOMMIT\n";
    let rules = NodeRules {
        xt: vec![iptables::parse("t", dump).unwrap()],
        ..Default::default()
    };
    let e = explain(
        &rules,
        &flow("192.168.1.240:80", "203.0.113.10:40000"),
        &node(),
    );
    assert!(!e.certain);
    assert_eq!(e.branches.len(), 2, "both possibilities are followed");
    assert!(e.branches.iter().any(|b| {
        b.fate == Fate::Dropped
            && b.assumptions
                .iter()
                .any(|a| a.contains("physdev") && a.contains("assumed to match"))
    }));
    assert!(e.branches.iter().any(|b| {
        b.fate == Fate::Forwarded
            && b.assumptions
                .iter()
                .any(|a| a.contains("assumed not to match"))
    }));
}

#[test]
fn split_backends_are_called_out_and_both_apply() {
    let mut legacy = iptables::parse(
        "legacy",
        &format!(
            "# Generated by iptables-legacy-save v1.8.9\n{}",
            scenario("three-services.iptables")
        ),
    )
    .unwrap();
    legacy.backend = iptables::Backend::Legacy;
    let nft_side = iptables::parse("nft", "# Generated by iptables-nft-save v1.8.9 (nf_tables)\n*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 203.0.113.0/24 -j ACCEPT\nCOMMIT\n").unwrap();
    let rules = NodeRules {
        xt: vec![legacy, nft_side],
        ..Default::default()
    };
    let e = explain(
        &rules,
        &flow("192.168.1.240:80", "198.51.100.7:40000"),
        &node(),
    );
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("split between iptables-legacy") && w.contains("iptables-nft")),
        "{:?}",
        e.warnings
    );
    assert_eq!(
        e.outcome.kind,
        OutcomeKind::Drop,
        "the nft FORWARD policy drops what legacy DNATed: {}",
        e.outcome.summary
    );
    let last = e.branches[0].path.last().unwrap();
    assert_eq!(
        (last.source, last.action.as_str()),
        ("iptables-nft", "policy DROP")
    );
}

/// Cilium's kube-proxy replacement: only Cilium's chains, nothing translates the LB IP. The
/// walk says so — and that Services live in BPF there — instead of leaving "no DNAT" to be
/// read as kube-proxy's fault; a kube-proxy node never gets that warning.
#[test]
fn cilium_without_kube_proxy_is_named() {
    let rules = xt("cilium-kpr.iptables");
    let e = explain(
        &rules,
        &flow("198.51.100.240:80", "203.0.113.10:40000"),
        &node(),
    );
    assert!(e.outcome.targets.is_empty());
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("kube-proxy replacement") && w.contains("cilium-dbg service list")),
        "{:?}",
        e.warnings
    );
    let kp = xt("three-services.iptables");
    let e = explain(
        &kp,
        &flow("192.168.1.240:80", "203.0.113.10:40000"),
        &node(),
    );
    assert!(
        e.warnings.iter().all(|w| !w.contains("kube-proxy")),
        "{:?}",
        e.warnings
    );
    // Not Cilium, still no kube-proxy: the general warning.
    let fw = NodeRules {
        xt: vec![
            iptables::parse(
                "fw",
                "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
            )
            .unwrap(),
        ],
        ..Default::default()
    };
    let e = explain(
        &fw,
        &flow("198.51.100.240:80", "203.0.113.10:40000"),
        &node(),
    );
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("no kube-proxy rules in this rule set")),
        "{:?}",
        e.warnings
    );
}
