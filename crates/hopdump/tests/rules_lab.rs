//! `rules explain` on the lab's real clusters (crates/hopdump-testkit/src/lab): for each
//! kube-proxy mode and each rule-level fault, the verdict read live from the announcing node
//! must name what the lab broke.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use hopdump_testkit::lab::fault::Fault;
use hopdump_testkit::lab::{Cluster, ProxyMode, Spec};

struct Verdict {
    kind: String,
    summary: String,
    warnings: Vec<String>,
    targets: Vec<String>,
}

/// `rules explain --json` for the flow client → LB:80, read live on `node`.
fn explain_json_on(c: &Cluster, node: &str) -> serde_json::Value {
    let ns = c.lab().ns(node);
    let o = run(&[
        "rules",
        "explain",
        "--json",
        "--dst",
        &format!("{}:80", c.lb(false)),
        "--src",
        "198.51.100.10",
        "--netns",
        &ns,
    ]);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)))
}

fn explain_on(c: &Cluster, node: &str) -> Verdict {
    let v = explain_json_on(c, node);
    Verdict {
        kind: v["outcome"]["kind"].as_str().unwrap().to_string(),
        summary: v["outcome"]["summary"].as_str().unwrap().to_string(),
        warnings: v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect(),
        targets: v["outcome"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["addr"].as_str().unwrap().to_string())
            .collect(),
    }
}

#[test]
fn healthy_lab_in_every_proxy_mode() {
    if !lab_allowed() {
        return;
    }
    for mode in [
        ProxyMode::IptablesNft,
        ProxyMode::IptablesLegacy,
        ProxyMode::Nftables,
    ] {
        let c = Cluster::build(Spec {
            proxy_mode: mode,
            ..Spec::default()
        })
        .unwrap();
        let a = c.announcer().unwrap();
        let v = explain_on(&c, &a);
        assert_eq!(v.kind, "dnat", "{mode:?}: {}", v.summary);
        // Every pod of the lab is an endpoint, and only those.
        let mut want: Vec<String> = c.pods.iter().map(|p| p.ip4.to_string()).collect();
        let mut got: Vec<String> = v
            .targets
            .iter()
            .map(|t| t.split(':').next().unwrap().to_string())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{mode:?}");
        assert!(v.warnings.is_empty(), "{mode:?}: {:?}", v.warnings);
    }
}

/// Rule-level faults: what `rules explain` must say on the announcing node.
#[test]
fn rule_faults_are_named() {
    if !lab_allowed() {
        return;
    }
    let cases: &[(Fault, &str, &str)] = &[
        (Fault::NoEndpoints, "reject", "has no endpoints"),
        (
            Fault::EtpLocalNoLocalEndpoint,
            "drop",
            "externalTrafficPolicy=Local",
        ),
        (
            Fault::SourceRangesExcludeClient,
            "drop",
            "loadBalancerSourceRanges",
        ),
        (Fault::ForwardDrop, "drop", "host-firewall"),
        (Fault::RulesMissing, "no_match", "no rule matches"),
        (
            Fault::LegacyNftSplit,
            "drop",
            "host-firewall in iptables-nft",
        ),
    ];
    for (fault, kind, says) in cases {
        let mut c = Cluster::build(fault.spec(Spec::default())).unwrap();
        let a = fault.inject(&mut c).unwrap();
        let v = explain_on(&c, &a);
        assert_eq!(v.kind, *kind, "{}: {}", fault.name(), v.summary);
        assert!(v.summary.contains(says), "{}: {}", fault.name(), v.summary);
        if *fault == Fault::LegacyNftSplit {
            assert!(
                v.warnings
                    .iter()
                    .any(|w| w.contains("split between iptables-legacy")),
                "{:?}",
                v.warnings
            );
        }
    }
}

/// NetworkPolicy engines' chains: the verdict names Calico / kube-router as the owner of the
/// rule that stops the DNATed packet to the local pod.
#[test]
fn network_policy_engines_are_attributed() {
    if !lab_allowed() {
        return;
    }
    for (fault, owner) in [
        (Fault::NetpolCalico, "calico"),
        (Fault::NetpolKubeRouter, "kube-router"),
    ] {
        let mut c = Cluster::build(fault.spec(Spec::default())).unwrap();
        let a = fault.inject(&mut c).unwrap();
        let v = explain_json_on(&c, &a);
        let local_pod = c.pods.iter().find(|p| p.node == a).unwrap().ip4.to_string();
        let lost: Vec<&serde_json::Value> = v["branches"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| matches!(b["fate"].as_str(), Some("dropped" | "rejected")))
            .collect();
        assert!(
            !lost.is_empty(),
            "{}: {}",
            fault.name(),
            v["outcome"]["summary"]
        );
        for b in lost {
            assert!(
                b["dnat_to"].as_str().unwrap().starts_with(&local_pod),
                "{}: {b}",
                fault.name()
            );
            let last = b["path"].as_array().unwrap().last().unwrap();
            assert_eq!(last["owner"]["kind"], owner, "{}: {last}", fault.name());
        }
    }
}
