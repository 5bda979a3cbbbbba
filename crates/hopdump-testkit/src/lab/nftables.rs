//! kube-proxy's nftables-mode rules for one node (`table ip kube-proxy`, newest base-chain
//! layout), generated from the service model as `pkg/proxy/nftables/proxier.go` writes its
//! transaction, in `nft -f` syntax.

use std::net::IpAddr;

use super::hash::nft_hash_and_truncate;
use super::iptables::ProxyConfig;
use super::model::{Cidr, Endpoint, Service, ServicePort, TrafficPolicy};

/// A generated `nft -f` transaction.
#[derive(Debug, Clone, Default)]
pub struct NftScript {
    /// Lines in order; each a complete `add ...` command.
    pub lines: Vec<String>,
}

impl NftScript {
    /// The script text (`delete table` first when `replace`, so a re-sync starts clean).
    pub fn text(&self, replace: bool, family: &str) -> String {
        let mut out = String::new();
        if replace {
            out.push_str(&format!("add table {family} kube-proxy\n"));
            out.push_str(&format!("delete table {family} kube-proxy\n"));
        }
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

/// Declarations (table, sets, maps, chains) go before rules and elements, so a rule may
/// name a chain declared later in the proxier's order.
struct Gen {
    t: String,
    decl: Vec<String>,
    body: Vec<String>,
    v6: bool,
}

impl Gen {
    fn add(&mut self, what: &str) {
        self.decl.push(format!("add {what}"));
    }
    fn chain(&mut self, name: &str) {
        let t = self.t.clone();
        self.add(&format!("chain {t} {name}"));
    }
    fn rule(&mut self, chain: &str, rule: &str) {
        let t = self.t.clone();
        self.body.push(format!("add rule {t} {chain} {rule}"));
    }
    fn element(&mut self, set: &str, elem: &str) {
        let t = self.t.clone();
        self.body
            .push(format!("add element {t} {set} {{ {elem} }}"));
    }
    fn ip(&self) -> &'static str {
        if self.v6 { "ip6" } else { "ip" }
    }
    fn addr_type(&self) -> &'static str {
        if self.v6 { "ipv6_addr" } else { "ipv4_addr" }
    }
}

/// Generate the kube-proxy table for one node and the family of `cfg.node_ips[0]`.
pub fn generate(services: &[Service], cfg: &ProxyConfig) -> NftScript {
    let v6 = cfg.node_ips.first().is_some_and(IpAddr::is_ipv6);
    let family = if v6 { "ip6" } else { "ip" };
    let mut g = Gen {
        t: format!("{family} kube-proxy"),
        decl: Vec::new(),
        body: Vec::new(),
        v6,
    };
    let t = g.t.clone();
    let at = g.addr_type();
    let ipk = g.ip();
    let mark = format!("{:#x}", 1u32 << cfg.masquerade_bit);

    g.add(&format!(
        "table {t} {{ comment \"rules for kube-proxy\" ; }}"
    ));
    g.add(&format!(
        "set {t} cluster-ips {{ type {at} ; comment \"Active ClusterIPs\" ; }}"
    ));
    g.add(&format!(
        "set {t} nodeport-ips {{ type {at} ; comment \"IPs that accept NodePort traffic\" ; }}"
    ));
    g.add(&format!("map {t} no-endpoint-services {{ type {at} . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }}"));
    g.add(&format!("map {t} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }}"));
    g.add(&format!("map {t} firewall-ips {{ type {at} . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }}"));
    g.add(&format!("map {t} service-ips {{ type {at} . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }}"));
    g.add(&format!("map {t} service-nodeports {{ type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }}"));

    for (name, hook) in [
        (
            "filter-prerouting",
            "type filter hook prerouting priority dstnat - 10 ;",
        ),
        ("filter-input", "type filter hook input priority -110 ;"),
        ("filter-forward", "type filter hook forward priority -110 ;"),
        ("filter-output", "type filter hook output priority -110 ;"),
        (
            "filter-output-post-dnat",
            "type filter hook output priority -90 ;",
        ),
        (
            "nat-prerouting",
            "type nat hook prerouting priority dstnat ;",
        ),
        ("nat-output", "type nat hook output priority -100 ;"),
        (
            "nat-postrouting",
            "type nat hook postrouting priority srcnat ;",
        ),
    ] {
        g.add(&format!("chain {t} {name} {{ {hook} }}"));
    }
    for name in [
        "nodeport-endpoints-check",
        "service-endpoints-check",
        "firewall-check",
        "services",
        "masquerading",
        "cluster-ips-check",
        "mark-for-masquerade",
    ] {
        g.chain(name);
    }
    g.add(&format!(
        "chain {t} reject-chain {{ comment \"helper for @no-endpoint-services / @no-endpoint-nodeports\" ; }}"
    ));

    g.rule("filter-prerouting", "ct state new jump firewall-check");
    g.rule("filter-input", "ct state new jump nodeport-endpoints-check");
    g.rule("filter-input", "ct state new jump service-endpoints-check");
    g.rule(
        "filter-forward",
        "ct state new jump service-endpoints-check",
    );
    g.rule("filter-forward", "ct state new jump cluster-ips-check");
    g.rule("filter-output", "ct state new jump service-endpoints-check");
    g.rule("filter-output", "ct state new jump firewall-check");
    g.rule(
        "filter-output-post-dnat",
        "ct state new jump cluster-ips-check",
    );
    g.rule("nat-prerouting", "jump services");
    g.rule("nat-output", "jump services");
    g.rule("nat-postrouting", "jump masquerading");
    g.rule(
        "nodeport-endpoints-check",
        &format!("{ipk} daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"),
    );
    g.rule(
        "service-endpoints-check",
        &format!("{ipk} daddr . meta l4proto . th dport vmap @no-endpoint-services"),
    );
    g.rule(
        "firewall-check",
        &format!("{ipk} daddr . meta l4proto . th dport vmap @firewall-ips"),
    );
    g.rule(
        "services",
        &format!("{ipk} daddr . meta l4proto . th dport vmap @service-ips"),
    );
    g.rule(
        "services",
        &format!("{ipk} daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"),
    );
    g.rule("masquerading", &format!("mark and {mark} == 0 return"));
    g.rule("masquerading", &format!("mark set mark xor {mark}"));
    g.rule("masquerading", "masquerade fully-random");
    g.rule(
        "cluster-ips-check",
        &format!("{ipk} daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\""),
    );
    if let Some(sc) = cfg.service_cidr.filter(|c| c.addr.is_ipv6() == v6) {
        g.rule(
            "cluster-ips-check",
            &format!(
                "{ipk} daddr {{ {sc} }} drop comment \"Drop traffic to unallocated ClusterIPs\""
            ),
        );
    }
    g.rule("mark-for-masquerade", &format!("mark set mark or {mark}"));
    g.rule("reject-chain", "reject");

    for ip in cfg.node_ips.iter().filter(|ip| ip.is_ipv6() == v6) {
        g.element("nodeport-ips", &ip.to_string());
    }

    for svc in services {
        if svc.cluster_ip.is_ipv6() != v6 {
            continue;
        }
        for port in &svc.ports {
            service_port(&mut g, svc, port, cfg);
        }
    }
    let mut lines = g.decl;
    lines.extend(g.body);
    NftScript { lines }
}

fn ep_addr(ip: IpAddr) -> String {
    // Endpoint chain names use IP/port with ':' replaced by '.' for IPv6.
    ip.to_string().replace(':', ".")
}

fn service_port(g: &mut Gen, svc: &Service, port: &ServicePort, cfg: &ProxyConfig) {
    let v6 = g.v6;
    let ipk = g.ip();
    let proto = port.protocol.as_str();
    let spn = svc.port_name(port);
    let base = format!("{}/{}/{}/{}", svc.namespace, svc.name, proto, port.name);
    let hashed = nft_hash_and_truncate(&base);
    let svc_chain = format!("service-{hashed}");
    let local_chain = format!("local-{hashed}");
    let ext_chain = format!("external-{hashed}");
    let fw_chain = format!("firewall-{hashed}");
    let family = |ip: &IpAddr| ip.is_ipv6() == v6;

    let cluster_eps = svc.ready_endpoints(v6, port.target_port);
    let local_eps: Vec<Endpoint> = cluster_eps
        .iter()
        .filter(|e| e.node == cfg.node_name)
        .cloned()
        .collect();
    let has_endpoints = !cluster_eps.is_empty();
    let etp_local = svc.external_traffic_policy == TrafficPolicy::Local;
    let ext_access = svc.externally_accessible(port);
    let uses_cluster_chain = has_endpoints;
    let uses_local_chain = !local_eps.is_empty() && etp_local && ext_access;
    let has_internal = has_endpoints;
    let has_external = has_endpoints && (!etp_local || !local_eps.is_empty());
    let uses_ext_chain = has_endpoints && ext_access;
    let lb_ips: Vec<IpAddr> = svc.lb_ips.iter().copied().filter(family).collect();
    let ranges: Vec<Cidr> = svc
        .lb_source_ranges
        .iter()
        .copied()
        .filter(|c| family(&c.addr))
        .collect();
    let uses_fw = has_endpoints && !lb_ips.is_empty() && !ranges.is_empty();
    let ext_target = if uses_ext_chain {
        ext_chain.clone()
    } else if etp_local {
        local_chain.clone()
    } else {
        svc_chain.clone()
    };
    let no_ep_verdict = if has_endpoints {
        "drop"
    } else {
        "goto reject-chain"
    };
    let cip = svc.cluster_ip.to_string();
    let p = port.port;

    // Chains first (the proxier declares them before the map elements that name them).
    if uses_cluster_chain {
        g.chain(&svc_chain);
        if let Some(local) = cfg.cluster_cidr {
            g.rule(
                &svc_chain,
                &format!(
                    "{ipk} daddr {cip} {proto} dport {p} {ipk} saddr != {local} jump mark-for-masquerade"
                ),
            );
        }
        numgen(
            g,
            &svc_chain,
            &svc.namespace,
            &svc.name,
            proto,
            port,
            &cluster_eps,
        );
    }
    if uses_local_chain {
        g.chain(&local_chain);
        numgen(
            g,
            &local_chain,
            &svc.namespace,
            &svc.name,
            proto,
            port,
            &local_eps,
        );
    }
    if uses_ext_chain {
        g.chain(&ext_chain);
        if !etp_local {
            g.rule(&ext_chain, "jump mark-for-masquerade");
            g.rule(&ext_chain, &format!("goto {svc_chain}"));
        } else {
            if let Some(local) = cfg.cluster_cidr {
                g.rule(
                    &ext_chain,
                    &format!(
                        "{ipk} saddr {local} goto {svc_chain} comment \"short-circuit pod traffic\""
                    ),
                );
            }
            g.rule(
                &ext_chain,
                "fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"",
            );
            g.rule(
                &ext_chain,
                &format!(
                    "fib saddr type local goto {svc_chain} comment \"short-circuit local traffic\""
                ),
            );
            if has_external {
                g.rule(&ext_chain, &format!("goto {local_chain}"));
            }
        }
    }
    if has_endpoints {
        for ep in &cluster_eps {
            let ch = endpoint_chain(&svc.namespace, &svc.name, proto, port, ep);
            g.chain(&ch);
            g.rule(
                &ch,
                &format!("{ipk} saddr {} jump mark-for-masquerade", ep.ip),
            );
            let dst = if v6 {
                format!("[{}]:{}", ep.ip, port.target_port)
            } else {
                format!("{}:{}", ep.ip, port.target_port)
            };
            g.rule(&ch, &format!("meta l4proto {proto} dnat to {dst}"));
        }
    }
    if uses_fw {
        g.chain(&fw_chain);
        let mut allowed: Vec<String> = ranges.iter().map(|r| r.to_string()).collect();
        if cfg
            .node_ips
            .iter()
            .any(|ip| ranges.iter().any(|r| r.contains(*ip)))
        {
            allowed.extend(lb_ips.iter().map(|ip| ip.to_string()));
        }
        g.rule(
            &fw_chain,
            &format!("{ipk} saddr != {{ {} }} drop", allowed.join(", ")),
        );
    }

    // Map elements.
    g.element("cluster-ips", &cip);
    if has_internal {
        g.element(
            "service-ips",
            &format!("{cip} . {proto} . {p} : goto {svc_chain}"),
        );
    } else {
        g.element(
            "no-endpoint-services",
            &format!("{cip} . {proto} . {p} comment \"{spn}\" : {no_ep_verdict}"),
        );
    }
    for eip in svc
        .external_ips
        .iter()
        .chain(lb_ips.iter())
        .filter(|ip| family(ip))
    {
        if has_endpoints {
            g.element(
                "service-ips",
                &format!("{eip} . {proto} . {p} : goto {ext_target}"),
            );
        }
        if !has_external {
            g.element(
                "no-endpoint-services",
                &format!("{eip} . {proto} . {p} comment \"{spn}\" : {no_ep_verdict}"),
            );
        }
    }
    if uses_fw {
        for lb in &lb_ips {
            g.element(
                "firewall-ips",
                &format!("{lb} . {proto} . {p} : goto {fw_chain}"),
            );
        }
    }
    if let Some(np) = port.node_port {
        if has_endpoints {
            g.element(
                "service-nodeports",
                &format!("{proto} . {np} : goto {ext_target}"),
            );
        }
        if !has_external {
            g.element(
                "no-endpoint-nodeports",
                &format!("{proto} . {np} comment \"{spn}\" : {no_ep_verdict}"),
            );
        }
    }
}

fn endpoint_chain(ns: &str, name: &str, proto: &str, port: &ServicePort, ep: &Endpoint) -> String {
    let base = format!(
        "{ns}/{name}/{proto}/{}__{}/{}",
        port.name,
        ep_addr(ep.ip),
        port.target_port
    );
    format!("endpoint-{}", nft_hash_and_truncate(&base))
}

fn numgen(
    g: &mut Gen,
    chain: &str,
    ns: &str,
    name: &str,
    proto: &str,
    port: &ServicePort,
    eps: &[Endpoint],
) {
    let elems: Vec<String> = eps
        .iter()
        .enumerate()
        .map(|(i, ep)| format!("{i} : goto {}", endpoint_chain(ns, name, proto, port, ep)))
        .collect();
    g.rule(
        chain,
        &format!(
            "numgen random mod {} vmap {{ {} }}",
            eps.len(),
            elems.join(" , ")
        ),
    );
}
