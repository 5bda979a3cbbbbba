//! The generated kube-proxy rules against upstream's own test vectors (no root needed).

use std::net::IpAddr;

use hopdump_testkit::lab::iptables::{self, ProxyConfig, parse_dump};
use hopdump_testkit::lab::model::{Endpoint, Protocol, Service, ServicePort, TrafficPolicy};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn svc(ns: &str, name: &str, cip: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        cluster_ip: ip(cip),
        external_ips: vec![],
        lb_ips: vec![],
        ports: vec![ServicePort {
            name: "p80".into(),
            protocol: Protocol::Tcp,
            port: 80,
            target_port: 80,
            node_port: None,
        }],
        endpoints: vec![],
        external_traffic_policy: TrafficPolicy::Cluster,
        lb_source_ranges: vec![],
        health_check_node_port: None,
    }
}

fn ep(ip_s: &str, node: &str) -> Endpoint {
    Endpoint {
        ip: ip(ip_s),
        node: node.into(),
        ready: true,
    }
}

/// The six services of upstream `TestOverallIPTablesRules`.
fn upstream_services() -> Vec<Service> {
    let mut s1 = svc("ns1", "svc1", "172.30.0.41");
    s1.endpoints = vec![ep("10.180.0.1", "testHostname")];
    let mut s2 = svc("ns2", "svc2", "172.30.0.42");
    s2.external_ips = vec![ip("192.168.99.22")];
    s2.lb_ips = vec![ip("1.2.3.4")];
    s2.ports[0].node_port = Some(3001);
    s2.health_check_node_port = Some(30000);
    s2.external_traffic_policy = TrafficPolicy::Local;
    s2.endpoints = vec![ep("10.180.0.2", "host2")];
    let mut s3 = svc("ns3", "svc3", "172.30.0.43");
    s3.ports[0].node_port = Some(3003);
    s3.endpoints = vec![ep("10.180.0.3", "testHostname")];
    let mut s4 = svc("ns4", "svc4", "172.30.0.44");
    s4.external_ips = vec![ip("192.168.99.33")];
    s4.endpoints = vec![ep("10.180.0.4", "testHostname"), ep("10.180.0.5", "host2")];
    let mut s5 = svc("ns5", "svc5", "172.30.0.45");
    s5.lb_ips = vec![ip("5.6.7.8")];
    s5.ports[0].node_port = Some(3002);
    s5.lb_source_ranges = vec!["203.0.113.0/25".parse().expect("cidr")];
    s5.endpoints = vec![ep("10.180.0.3", "testHostname")];
    let s6 = svc("ns6", "svc6", "172.30.0.46");
    vec![s1, s2, s3, s4, s5, s6]
}

#[test]
fn iptables_restore_input_matches_upstream_test_overall_iptables_rules() {
    let reference =
        include_str!("fixtures/kube-proxy/01_iptables_upstream_TestOverallIPTablesRules.txt");
    let cfg = ProxyConfig {
        node_name: "testHostname".into(),
        node_ips: vec![ip("192.168.0.2")],
        cluster_cidr: Some("10.0.0.0/8".parse().expect("cidr")),
        service_cidr: Some("172.30.0.0/16".parse().expect("cidr")),
        masquerade_bit: 14,
        random_fully: false,
        nfacct: false,
        full_node: false,
    };
    let generated = iptables::generate(&upstream_services(), &cfg).restore_input();
    let want = parse_dump(reference);
    let got = parse_dump(&generated);
    for table in ["filter", "nat"] {
        let (w, g) = (&want[table], &got[table]);
        let wk: Vec<&String> = w.keys().collect();
        let gk: Vec<&String> = g.keys().collect();
        assert_eq!(gk, wk, "{table}: chain set differs");
        for (chain, rules) in w {
            assert_eq!(&g[chain], rules, "{table} {chain} differs");
        }
    }
}
