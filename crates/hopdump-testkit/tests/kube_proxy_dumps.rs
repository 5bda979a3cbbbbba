//! The generated kube-proxy rules, loaded with the real tools into a lab namespace, read back
//! with `iptables-save` / `nft list table` and compared with the reference dumps (root).

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::lab_allowed;
use hopdump_testkit::Lab;
use hopdump_testkit::lab::iptables::{self, Dump, ProxyConfig, parse_dump};
use hopdump_testkit::lab::model::{Endpoint, Protocol, Service, ServicePort, TrafficPolicy};
use hopdump_testkit::lab::nftables;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn ep(ip_s: &str, node: &str) -> Endpoint {
    Endpoint {
        ip: ip(ip_s),
        node: node.into(),
        ready: true,
    }
}

#[allow(clippy::too_many_arguments)]
fn lb_service(
    ns: &str,
    name: &str,
    port_name: &str,
    port: u16,
    target: u16,
    node_port: u16,
    cip: &str,
    lb: &str,
) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        cluster_ip: ip(cip),
        external_ips: vec![],
        lb_ips: vec![ip(lb)],
        ports: vec![ServicePort {
            name: port_name.into(),
            protocol: Protocol::Tcp,
            port,
            target_port: target,
            node_port: Some(node_port),
        }],
        endpoints: vec![],
        external_traffic_policy: TrafficPolicy::Cluster,
        lb_source_ranges: vec![],
        health_check_node_port: None,
    }
}

/// The three services of reference dump 04 / 07 (worker-1's view).
fn three_services() -> Vec<Service> {
    let mut web = lb_service(
        "default",
        "web",
        "http",
        80,
        8080,
        31080,
        "10.96.120.15",
        "192.168.1.240",
    );
    web.endpoints = vec![ep("10.244.1.12", "worker-1"), ep("10.244.2.7", "worker-2")];
    let mut api = lb_service(
        "shop",
        "api",
        "https",
        443,
        8443,
        30443,
        "10.96.33.7",
        "192.168.1.241",
    );
    api.external_traffic_policy = TrafficPolicy::Local;
    api.health_check_node_port = Some(32001);
    api.endpoints = vec![ep("10.244.1.20", "worker-1"), ep("10.244.2.21", "worker-2")];
    let broken = lb_service(
        "default",
        "broken",
        "http",
        80,
        8080,
        32080,
        "10.96.201.9",
        "192.168.1.242",
    );
    vec![web, api, broken]
}

fn config(node: &str, node_ip: &str) -> ProxyConfig {
    ProxyConfig::lab(
        node,
        ip(node_ip),
        "10.244.0.0/16".parse().expect("cidr"),
        "10.96.0.0/12".parse().expect("cidr"),
    )
}

/// Load restore input into a fresh namespace and read it back with iptables-nft-save.
fn save_roundtrip(input: &str) -> Dump {
    let mut lab = Lab::new().expect("lab");
    lab.add_ns("kp").expect("ns");
    lab.exec_stdin("kp", &["iptables-nft-restore"], Some(input))
        .expect("iptables-nft-restore accepts the generated input");
    let saved = lab.exec("kp", &["iptables-nft-save"]).expect("save");
    parse_dump(&saved)
}

/// The reference without the `-m nfacct` parts (no xt_nfacct on this kernel; kube-proxy
/// leaves them out the same way when the counters are unavailable).
fn without_nfacct(reference: &str) -> String {
    reference
        .lines()
        .filter(|l| !l.contains("localhost_nps_accepted_pkts"))
        .map(|l| {
            l.replace(
                " -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts",
                "",
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_tables_equal(got: &Dump, want: &Dump, tables: &[&str]) {
    for table in tables {
        let (w, g) = (&want[*table], &got[*table]);
        let wk: Vec<&String> = w.keys().collect();
        let gk: Vec<&String> = g.keys().collect();
        assert_eq!(gk, wk, "{table}: chain set differs");
        for (chain, rules) in w {
            assert_eq!(&g[chain], rules, "{table} {chain} differs");
        }
    }
}

/// Every rule of the excerpt (per table and chain) appears in the dump, in the same order.
fn assert_contains(got: &Dump, excerpt: &str, default_table: &str) {
    let mut table = default_table.to_string();
    let mut want: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in excerpt.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
        }
        let d = parse_dump(&format!("*{table}\n{line}\n"));
        for (t, chains) in d {
            for (c, rules) in chains {
                want.entry((t.clone(), c)).or_default().extend(rules);
            }
        }
    }
    for ((t, c), rules) in want {
        let have = got
            .get(&t)
            .and_then(|x| x.get(&c))
            .unwrap_or_else(|| panic!("{t} {c} missing"));
        let mut it = have.iter();
        for r in &rules {
            assert!(
                it.any(|h| h == r),
                "{t} {c}: missing or out of order: {r}\nhave: {have:#?}"
            );
        }
    }
}

#[test]
fn iptables_save_matches_reference_04_three_services() {
    if !lab_allowed() {
        return;
    }
    let input =
        iptables::generate(&three_services(), &config("worker-1", "192.168.1.11")).restore_input();
    let got = save_roundtrip(&input);
    let want = parse_dump(&without_nfacct(include_str!(
        "fixtures/kube-proxy/04_iptables_save_synth_3_services.txt"
    )));
    assert_tables_equal(&got, &want, &["filter", "nat"]);
}

#[test]
fn iptables_save_matches_reference_04b_source_ranges() {
    if !lab_allowed() {
        return;
    }
    let mut svcs = three_services();
    svcs[0].lb_source_ranges = vec!["203.0.113.0/24".parse().expect("cidr")];
    let input = iptables::generate(&svcs, &config("worker-1", "192.168.1.11")).restore_input();
    let got = save_roundtrip(&input);
    let excerpt = include_str!("fixtures/kube-proxy/04b_iptables_save_synth_lb_source_ranges.txt");
    // The excerpt mixes filter and nat lines without table markers: split by chain owner.
    let (nat, filter): (Vec<&str>, Vec<&str>) = excerpt
        .lines()
        .filter(|l| l.starts_with("-A "))
        .partition(|l| {
            l.contains("KUBE-FW-") && !l.contains("traffic not accepted")
                || l.starts_with("-A KUBE-SERVICES")
        });
    assert_contains(&got, &filter.join("\n"), "filter");
    assert_contains(&got, &nat.join("\n"), "nat");
}

#[test]
fn iptables_save_matches_reference_04c_etp_local_without_local_endpoint() {
    if !lab_allowed() {
        return;
    }
    let input =
        iptables::generate(&three_services(), &config("worker-3", "192.168.1.13")).restore_input();
    let got = save_roundtrip(&input);
    let excerpt = without_nfacct(include_str!(
        "fixtures/kube-proxy/04c_iptables_save_synth_etp_local_no_local_endpoints.txt"
    ));
    assert_contains(&got, &excerpt, "filter");
    let nat = &got["nat"];
    let ext = &nat["KUBE-EXT-OTVU7MV6PRR7MW2X"];
    assert_eq!(
        ext.len(),
        3,
        "no final jump to KUBE-SVL without a local endpoint: {ext:#?}"
    );
    assert!(!nat.contains_key("KUBE-SVL-OTVU7MV6PRR7MW2X"));
}

/// `nft list table` output reduced to comparable parts: per set/map its properties and
/// element set, per chain its rules.
#[derive(Debug, Default, PartialEq, Eq)]
struct NftDump {
    sets: BTreeMap<String, (Vec<String>, std::collections::BTreeSet<String>)>,
    chains: BTreeMap<String, Vec<String>>,
}

fn parse_nft(text: &str) -> NftDump {
    let mut d = NftDump::default();
    let mut cur: Option<(String, String)> = None; // (kind, name)
    let mut elems = String::new();
    let mut in_elems = false;
    let mut props = Vec::new();
    let mut rules = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if cur.is_none() {
            for kind in ["set ", "map ", "chain "] {
                if let Some(rest) = line.strip_prefix(kind) {
                    let name = rest.trim_end_matches('{').trim().to_string();
                    cur = Some((kind.trim().to_string(), name));
                    props.clear();
                    rules.clear();
                    elems.clear();
                }
            }
            continue;
        }
        if in_elems {
            elems.push(' ');
            elems.push_str(line);
            if line.ends_with('}') {
                in_elems = false;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("elements = {") {
            elems.push_str(rest);
            in_elems = !line.ends_with('}');
            continue;
        }
        if line == "}" {
            let Some((kind, name)) = cur.take() else {
                continue;
            };
            if kind == "chain" {
                d.chains.insert(name, rules.clone());
            } else {
                let set = elems
                    .trim_end_matches('}')
                    .split(',')
                    .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|e| !e.is_empty())
                    .collect();
                d.sets.insert(name, (props.clone(), set));
            }
            continue;
        }
        let (kind, _) = cur
            .as_ref()
            .map(|(k, n)| (k.as_str(), n))
            .unwrap_or(("", &String::new()));
        let norm = unbrace_single(&line.replace(" , ", ", "));
        if kind == "chain" && !line.starts_with("type ") && !line.starts_with("comment ") {
            rules.push(norm);
        } else {
            props.push(norm);
        }
    }
    d
}

/// Real `nft list` prints a one-element anonymous set without braces (`ip saddr != X drop`);
/// the synthetic reference keeps them. Compare both in the printed form.
fn unbrace_single(rule: &str) -> String {
    let mut out = String::new();
    let mut rest = rule;
    while let Some(i) = rest.find("{ ") {
        let after = &rest[i + 2..];
        match after.find(" }") {
            Some(j) if !after[..j].contains(',') && !after[..j].contains(' ') => {
                out.push_str(&rest[..i]);
                out.push_str(&after[..j]);
                rest = &after[j + 2..];
            }
            _ => {
                out.push_str(&rest[..i + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn nft_roundtrip(svcs: &[Service], cfg: &ProxyConfig) -> String {
    let mut lab = Lab::new().expect("lab");
    lab.add_ns("kp").expect("ns");
    let script = nftables::generate(svcs, cfg).text(false, "ip");
    lab.exec_stdin("kp", &["nft", "-f", "-"], Some(&script))
        .expect("nft accepts the generated transaction");
    lab.exec("kp", &["nft", "list", "table", "ip", "kube-proxy"])
        .expect("list")
}

#[test]
fn nft_list_matches_reference_07_three_services() {
    if !lab_allowed() {
        return;
    }
    let listed = nft_roundtrip(&three_services(), &config("worker-1", "192.168.1.11"));
    let got = parse_nft(&listed);
    let want = parse_nft(include_str!(
        "fixtures/kube-proxy/07_nft_list_ruleset_synth_3_services.txt"
    ));
    // The parser really read the reference (guards against comparing two empty dumps).
    assert_eq!(want.chains.len(), 25);
    assert_eq!(want.sets.len(), 7);
    assert_eq!(want.sets["service-ips"].1.len(), 4);
    assert_eq!(want.chains["external-F4VWTUNH-shop/api/tcp/https"].len(), 4);
    assert_eq!(
        got.sets.keys().collect::<Vec<_>>(),
        want.sets.keys().collect::<Vec<_>>()
    );
    for (name, s) in &want.sets {
        assert_eq!(&got.sets[name], s, "set/map {name} differs\n{listed}");
    }
    assert_eq!(
        got.chains.keys().collect::<Vec<_>>(),
        want.chains.keys().collect::<Vec<_>>()
    );
    for (name, rules) in &want.chains {
        assert_eq!(&got.chains[name], rules, "chain {name} differs\n{listed}");
    }
}

#[test]
fn nft_list_matches_reference_07b_variants() {
    if !lab_allowed() {
        return;
    }
    let variants = include_str!("fixtures/kube-proxy/07b_nft_synth_variants.txt");
    let (a, b) = variants.split_once("# (b)").expect("two variants");
    // (a) source ranges on default/web.
    let mut svcs = three_services();
    svcs[0].lb_source_ranges = vec!["203.0.113.0/24".parse().expect("cidr")];
    let got = parse_nft(&nft_roundtrip(&svcs, &config("worker-1", "192.168.1.11")));
    let want = parse_nft(&a.replace("--\n", "}\n"));
    for (name, rules) in &want.chains {
        assert_eq!(&got.chains[name], rules, "(a) chain {name}");
    }
    assert_eq!(
        got.sets["firewall-ips"].1, want.sets["firewall-ips"].1,
        "(a) firewall-ips"
    );
    // (b) worker-3, no local endpoint of the eTP=Local service.
    let got = parse_nft(&nft_roundtrip(
        &three_services(),
        &config("worker-3", "192.168.1.13"),
    ));
    let want = parse_nft(b);
    for (name, s) in &want.sets {
        assert_eq!(&got.sets[name].1, &s.1, "(b) set/map {name}");
    }
    for (name, rules) in &want.chains {
        assert_eq!(&got.chains[name], rules, "(b) chain {name}");
    }
}
