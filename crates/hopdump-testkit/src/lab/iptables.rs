//! kube-proxy's iptables-mode rules for one node, generated from the service model exactly as
//! `pkg/proxy/iptables/proxier.go` `syncProxyRules` writes its `iptables-restore` input
//! (argument order, comments, hash-named chains, probability cascade).

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::hash::{endpoint_hash, port_proto_hash};
use super::model::{Cidr, Endpoint, Service, TrafficPolicy, endpoint_string};

/// How the node's kube-proxy is configured.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Node name (`--hostname-override`), compared with endpoints' nodes.
    pub node_name: String,
    /// Node IPs (loadBalancerSourceRanges containing one get an LB-IP allow rule; nft nodeport-ips).
    pub node_ips: Vec<IpAddr>,
    /// `--cluster-cidr` of this family (LocalDetector "ClusterCIDR"); None: no local detector.
    pub cluster_cidr: Option<Cidr>,
    /// Service CIDR (nft `cluster-ips-check` drop rule).
    pub service_cidr: Option<Cidr>,
    /// `--iptables-masquerade-bit` (default 14 -> 0x4000).
    pub masquerade_bit: u8,
    /// `MASQUERADE --random-fully` (iptables supports it; the upstream fake does not).
    pub random_fully: bool,
    /// nfacct counters available (adds `-m nfacct` to two rules; needs xt_nfacct).
    pub nfacct: bool,
    /// Also write the built-in chain jump rules and kubelet's chains (KUBE-FIREWALL,
    /// canaries), so the restore input alone programs a fresh namespace.
    pub full_node: bool,
}

impl ProxyConfig {
    /// The lab's defaults for a node.
    pub fn lab(node_name: &str, node_ip: IpAddr, cluster_cidr: Cidr, service_cidr: Cidr) -> Self {
        ProxyConfig {
            node_name: node_name.to_string(),
            node_ips: vec![node_ip],
            cluster_cidr: Some(cluster_cidr),
            service_cidr: Some(service_cidr),
            masquerade_bit: 14,
            random_fully: true,
            nfacct: false,
            full_node: true,
        }
    }

    fn mark(&self) -> String {
        format!("{:#x}", 1u32 << self.masquerade_bit)
    }

    fn v6(&self) -> bool {
        self.node_ips.first().is_some_and(IpAddr::is_ipv6)
    }
}

/// One table of restore input: chain declarations and `-A` rules in write order.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub name: &'static str,
    pub chains: Vec<String>,
    pub rules: Vec<String>,
}

impl Table {
    fn new(name: &'static str) -> Table {
        Table {
            name,
            ..Table::default()
        }
    }

    fn chain(&mut self, c: &str) {
        if !self.chains.iter().any(|x| x == c) {
            self.chains.push(c.to_string());
        }
    }

    fn add(&mut self, chain: &str, args: &[&str]) {
        let mut line = format!("-A {chain}");
        for a in args {
            if !a.is_empty() {
                line.push(' ');
                line.push_str(a);
            }
        }
        self.rules.push(line);
    }

    /// Rules of one chain, in order, without the `-A CHAIN ` part.
    pub fn chain_rules(&self, chain: &str) -> Vec<&str> {
        let p = format!("-A {chain} ");
        let bare = format!("-A {chain}");
        self.rules
            .iter()
            .filter_map(|r| r.strip_prefix(&p).or_else(|| (r == &bare).then_some("")))
            .collect()
    }
}

/// The generated restore input for one node and one IP family.
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub filter: Table,
    pub nat: Table,
    pub mangle: Table,
}

impl Ruleset {
    /// `iptables-restore` input (use with `--noflush` only if the tables hold other rules
    /// you want to keep; the lab restores whole tables).
    pub fn restore_input(&self) -> String {
        let mut out = String::new();
        for t in [&self.mangle, &self.filter, &self.nat] {
            if t.chains.is_empty() && t.rules.is_empty() {
                continue;
            }
            out.push_str(&format!("*{}\n", t.name));
            for c in &t.chains {
                out.push_str(&format!(":{c} - [0:0]\n"));
            }
            for r in &t.rules {
                out.push_str(r);
                out.push('\n');
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

const KUBE_SERVICES: &str = "KUBE-SERVICES";
const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
const KUBE_FORWARD: &str = "KUBE-FORWARD";
const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
const KUBE_FIREWALL: &str = "KUBE-FIREWALL";

fn q(s: String) -> String {
    format!("\"{s}\"")
}

fn host(ip: IpAddr) -> String {
    ip.to_string()
}

/// Generate the rules of `services` for one node, for the IP family of `cfg.node_ips[0]`.
pub fn generate(services: &[Service], cfg: &ProxyConfig) -> Ruleset {
    let v6 = cfg.v6();
    let mut filter = Table::new("filter");
    let mut nat = Table::new("nat");
    let mut mangle = Table::new("mangle");
    let mark = cfg.mark();
    let mark_match = format!("{mark}/{mark}");

    for c in [
        KUBE_SERVICES,
        KUBE_EXTERNAL_SERVICES,
        KUBE_FORWARD,
        KUBE_NODEPORTS,
        KUBE_PROXY_FIREWALL,
    ] {
        filter.chain(c);
    }
    for c in [
        KUBE_SERVICES,
        KUBE_NODEPORTS,
        KUBE_POSTROUTING,
        KUBE_MARK_MASQ,
    ] {
        nat.chain(c);
    }

    if cfg.full_node {
        jump_rules(cfg, &mut filter, &mut nat, &mut mangle);
    }

    // Fixed rules.
    nat.add(
        KUBE_POSTROUTING,
        &["-m", "mark", "!", "--mark", &mark_match, "-j", "RETURN"],
    );
    nat.add(KUBE_POSTROUTING, &["-j", "MARK", "--xor-mark", &mark]);
    let masq = [
        "-m",
        "comment",
        "--comment",
        "\"kubernetes service traffic requiring SNAT\"",
        "-j",
        "MASQUERADE",
        if cfg.random_fully {
            "--random-fully"
        } else {
            ""
        },
    ];
    nat.add(KUBE_POSTROUTING, &masq);
    nat.add(KUBE_MARK_MASQ, &["-j", "MARK", "--or-mark", &mark]);

    let local_match = cfg.cluster_cidr.map(|c| c.to_string());

    for svc in services {
        for port in &svc.ports {
            service_port_rules(
                svc,
                port,
                cfg,
                v6,
                local_match.as_deref(),
                &mut filter,
                &mut nat,
            );
        }
    }

    nat.add(
        KUBE_SERVICES,
        &[
            "-m",
            "comment",
            "--comment",
            "\"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"",
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "-j",
            KUBE_NODEPORTS,
        ],
    );

    let invalid_nfacct = if cfg.nfacct {
        "-m nfacct --nfacct-name ct_state_invalid_dropped_pkts"
    } else {
        ""
    };
    filter.add(
        KUBE_FORWARD,
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "INVALID",
            invalid_nfacct,
            "-j",
            "DROP",
        ],
    );
    filter.add(
        KUBE_FORWARD,
        &[
            "-m",
            "comment",
            "--comment",
            "\"kubernetes forwarding rules\"",
            "-m",
            "mark",
            "--mark",
            &mark_match,
            "-j",
            "ACCEPT",
        ],
    );
    filter.add(
        KUBE_FORWARD,
        &[
            "-m",
            "comment",
            "--comment",
            "\"kubernetes forwarding conntrack rule\"",
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    );
    if !v6 {
        filter.chain(KUBE_FIREWALL);
        filter.add(
            KUBE_FIREWALL,
            &[
                "-m",
                "comment",
                "--comment",
                "\"block incoming localnet connections\"",
                "-d",
                "127.0.0.0/8",
                "!",
                "-s",
                "127.0.0.0/8",
                "-m",
                "conntrack",
                "!",
                "--ctstate",
                "RELATED,ESTABLISHED,DNAT",
                "-j",
                "DROP",
            ],
        );
    }
    Ruleset {
        filter,
        nat,
        mangle,
    }
}

/// The jump rules kube-proxy `EnsureRule(Prepend)`s into the built-in chains (so the final
/// order is the reverse of `iptablesJumpChains`), kubelet's appended KUBE-FIREWALL jumps and
/// the canary chains.
fn jump_rules(cfg: &ProxyConfig, filter: &mut Table, nat: &mut Table, mangle: &mut Table) {
    for c in ["INPUT", "FORWARD", "OUTPUT"] {
        filter.chain(c);
    }
    filter.chain("KUBE-KUBELET-CANARY");
    filter.chain("KUBE-PROXY-CANARY");
    for c in ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"] {
        nat.chain(c);
    }
    nat.chain("KUBE-KUBELET-CANARY");
    nat.chain("KUBE-PROXY-CANARY");
    mangle.chain("KUBE-IPTABLES-HINT");
    mangle.chain("KUBE-KUBELET-CANARY");
    mangle.chain("KUBE-PROXY-CANARY");

    let new = ["-m", "conntrack", "--ctstate", "NEW"];
    let c = |s: &str| {
        ["-m", "comment", "--comment"]
            .map(String::from)
            .into_iter()
            .chain([q(s.to_string())])
            .collect::<Vec<_>>()
    };
    let lbfw = c("kubernetes load balancer firewall");
    let hc = c("kubernetes health check service ports");
    let ext = c("kubernetes externally-visible service portals");
    let portals = c("kubernetes service portals");
    let fwd = c("kubernetes forwarding rules");
    let post = c("kubernetes postrouting rules");
    let join = |parts: &[&[String]], target: &str| -> Vec<String> {
        let mut v: Vec<String> = parts.iter().flat_map(|p| p.iter().cloned()).collect();
        v.push("-j".into());
        v.push(target.into());
        v
    };
    let newv: Vec<String> = new.iter().map(|s| s.to_string()).collect();
    let add = |t: &mut Table, chain: &str, v: Vec<String>| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        t.add(chain, &refs);
    };
    add(filter, "INPUT", join(&[&newv, &lbfw], KUBE_PROXY_FIREWALL));
    add(filter, "INPUT", join(&[&hc], KUBE_NODEPORTS));
    add(
        filter,
        "INPUT",
        join(&[&newv, &ext], KUBE_EXTERNAL_SERVICES),
    );
    if !cfg.v6() {
        add(filter, "INPUT", join(&[], KUBE_FIREWALL));
    }
    add(
        filter,
        "FORWARD",
        join(&[&newv, &lbfw], KUBE_PROXY_FIREWALL),
    );
    add(filter, "FORWARD", join(&[&fwd], KUBE_FORWARD));
    add(filter, "FORWARD", join(&[&newv, &portals], KUBE_SERVICES));
    add(
        filter,
        "FORWARD",
        join(&[&newv, &ext], KUBE_EXTERNAL_SERVICES),
    );
    add(filter, "OUTPUT", join(&[&newv, &lbfw], KUBE_PROXY_FIREWALL));
    add(filter, "OUTPUT", join(&[&newv, &portals], KUBE_SERVICES));
    if !cfg.v6() {
        add(filter, "OUTPUT", join(&[], KUBE_FIREWALL));
    }
    add(nat, "PREROUTING", join(&[&portals], KUBE_SERVICES));
    add(nat, "OUTPUT", join(&[&portals], KUBE_SERVICES));
    add(nat, "POSTROUTING", join(&[&post], KUBE_POSTROUTING));
}

#[allow(clippy::too_many_arguments)]
fn service_port_rules(
    svc: &Service,
    port: &super::model::ServicePort,
    cfg: &ProxyConfig,
    v6: bool,
    local_cidr: Option<&str>,
    filter: &mut Table,
    nat: &mut Table,
) {
    let family = |ip: &IpAddr| ip.is_ipv6() == v6;
    if !family(&svc.cluster_ip) {
        return;
    }
    let spn = svc.port_name(port);
    let proto = port.protocol.as_str();
    let h = port_proto_hash(&spn, proto);
    let svc_chain = format!("KUBE-SVC-{h}");
    let svl_chain = format!("KUBE-SVL-{h}");
    let ext_chain = format!("KUBE-EXT-{h}");
    let fw_chain = format!("KUBE-FW-{h}");

    // CategorizeEndpoints (no topology hints, no terminating endpoints in the model).
    let cluster_eps = svc.ready_endpoints(v6, port.target_port);
    let local_eps: Vec<Endpoint> = cluster_eps
        .iter()
        .filter(|e| e.node == cfg.node_name)
        .cloned()
        .collect();
    let has_endpoints = !cluster_eps.is_empty();
    let etp_local = svc.external_traffic_policy == TrafficPolicy::Local;
    let ext_access = svc.externally_accessible(port);
    let uses_cluster_chain = !cluster_eps.is_empty(); // iTP=Cluster always uses cluster endpoints
    let uses_local_chain = !local_eps.is_empty() && etp_local && ext_access;

    let internal_chain = svc_chain.clone();
    let has_internal = has_endpoints;
    let external_policy_chain = if etp_local {
        svl_chain.clone()
    } else {
        svc_chain.clone()
    };
    let has_external = has_endpoints && (!etp_local || !local_eps.is_empty());
    let uses_ext_chain = has_endpoints && ext_access;
    let external_traffic_chain = if uses_ext_chain {
        ext_chain.clone()
    } else {
        external_policy_chain.clone()
    };
    let lb_ips: Vec<IpAddr> = svc.lb_ips.iter().copied().filter(family).collect();
    let ranges: Vec<Cidr> = svc
        .lb_source_ranges
        .iter()
        .copied()
        .filter(|c| family(&c.addr))
        .collect();
    let uses_fw = has_endpoints && !lb_ips.is_empty() && !ranges.is_empty();
    let lb_chain = if uses_fw {
        fw_chain.clone()
    } else {
        external_traffic_chain.clone()
    };

    let (int_filter_target, int_filter_comment) = if !has_endpoints {
        ("REJECT", q(format!("{spn} has no endpoints")))
    } else {
        ("DROP", q(format!("{spn} has no local endpoints")))
    };
    let (ext_filter_target, ext_filter_comment) = (int_filter_target, int_filter_comment.clone());

    let dport = port.port.to_string();
    let cip = host(svc.cluster_ip);

    // Cluster IP.
    let cluster_comment = q(format!("{spn} cluster IP"));
    let base_cip = [
        "-m",
        "comment",
        "--comment",
        &cluster_comment,
        "-m",
        proto,
        "-p",
        proto,
        "-d",
        &cip,
        "--dport",
        &dport,
    ];
    if has_internal {
        if let Some(local) = local_cidr {
            let mut a = base_cip.to_vec();
            a.extend(["!", "-s", local, "-j", KUBE_MARK_MASQ]);
            nat.add(&internal_chain, &a);
        }
        let mut a = base_cip.to_vec();
        a.extend(["-j", &internal_chain]);
        nat.add(KUBE_SERVICES, &a);
    } else {
        let a = [
            "-m",
            "comment",
            "--comment",
            &int_filter_comment,
            "-m",
            proto,
            "-p",
            proto,
            "-d",
            &cip,
            "--dport",
            &dport,
            "-j",
            int_filter_target,
        ];
        filter.add(KUBE_SERVICES, &a);
    }

    // External IPs.
    for eip in svc.external_ips.iter().filter(|ip| family(ip)) {
        let eip = host(*eip);
        if has_endpoints {
            let c = q(format!("{spn} external IP"));
            nat.add(
                KUBE_SERVICES,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &c,
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "-d",
                    &eip,
                    "--dport",
                    &dport,
                    "-j",
                    &external_traffic_chain,
                ],
            );
        }
        if !has_external {
            filter.add(
                KUBE_EXTERNAL_SERVICES,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &ext_filter_comment,
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "-d",
                    &eip,
                    "--dport",
                    &dport,
                    "-j",
                    ext_filter_target,
                ],
            );
        }
    }

    // LoadBalancer IPs.
    for lb in &lb_ips {
        let lb = host(*lb);
        if has_endpoints {
            let c = q(format!("{spn} loadbalancer IP"));
            nat.add(
                KUBE_SERVICES,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &c,
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "-d",
                    &lb,
                    "--dport",
                    &dport,
                    "-j",
                    &lb_chain,
                ],
            );
        }
        if uses_fw {
            let c = q(format!("{spn} traffic not accepted by {fw_chain}"));
            filter.add(
                KUBE_PROXY_FIREWALL,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &c,
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "-d",
                    &lb,
                    "--dport",
                    &dport,
                    "-j",
                    "DROP",
                ],
            );
        }
    }
    if !has_external {
        for lb in &lb_ips {
            let lb = host(*lb);
            filter.add(
                KUBE_EXTERNAL_SERVICES,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &ext_filter_comment,
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "-d",
                    &lb,
                    "--dport",
                    &dport,
                    "-j",
                    ext_filter_target,
                ],
            );
        }
    }

    // NodePort.
    if let Some(np) = port.node_port {
        let np = np.to_string();
        if has_endpoints {
            if cfg.nfacct && !v6 {
                nat.add(
                    KUBE_NODEPORTS,
                    &[
                        "-m",
                        "comment",
                        "--comment",
                        &spn,
                        "-m",
                        proto,
                        "-p",
                        proto,
                        "-d",
                        "127.0.0.0/8",
                        "--dport",
                        &np,
                        "-m",
                        "nfacct",
                        "--nfacct-name",
                        "localhost_nps_accepted_pkts",
                        "-j",
                        &external_traffic_chain,
                    ],
                );
            }
            nat.add(
                KUBE_NODEPORTS,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &spn,
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "--dport",
                    &np,
                    "-j",
                    &external_traffic_chain,
                ],
            );
        }
        if !has_external {
            filter.add(
                KUBE_EXTERNAL_SERVICES,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &ext_filter_comment,
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "--dport",
                    &np,
                    "-j",
                    ext_filter_target,
                ],
            );
        }
    }

    // Health check node port.
    if let Some(hc) = svc.health_check_node_port {
        let hc = hc.to_string();
        let c = q(format!("{spn} health check node port"));
        filter.add(
            KUBE_NODEPORTS,
            &[
                "-m",
                "comment",
                "--comment",
                &c,
                "-m",
                "tcp",
                "-p",
                "tcp",
                "--dport",
                &hc,
                "-j",
                "ACCEPT",
            ],
        );
    }

    if !has_endpoints {
        return;
    }

    // KUBE-EXT-*.
    if uses_ext_chain {
        nat.chain(&ext_chain);
        if !etp_local {
            let c = q(format!(
                "masquerade traffic for {spn} external destinations"
            ));
            nat.add(
                &ext_chain,
                &["-m", "comment", "--comment", &c, "-j", KUBE_MARK_MASQ],
            );
        } else {
            if let Some(local) = local_cidr {
                let c = q(format!("pod traffic for {spn} external destinations"));
                nat.add(
                    &ext_chain,
                    &[
                        "-m",
                        "comment",
                        "--comment",
                        &c,
                        "-s",
                        local,
                        "-j",
                        &svc_chain,
                    ],
                );
            }
            let c = q(format!(
                "masquerade LOCAL traffic for {spn} external destinations"
            ));
            nat.add(
                &ext_chain,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &c,
                    "-m",
                    "addrtype",
                    "--src-type",
                    "LOCAL",
                    "-j",
                    KUBE_MARK_MASQ,
                ],
            );
            let c = q(format!(
                "route LOCAL traffic for {spn} external destinations"
            ));
            nat.add(
                &ext_chain,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &c,
                    "-m",
                    "addrtype",
                    "--src-type",
                    "LOCAL",
                    "-j",
                    &svc_chain,
                ],
            );
        }
        if has_external {
            nat.add(&ext_chain, &["-j", &external_policy_chain]);
        }
    }

    // KUBE-FW-*.
    if uses_fw {
        nat.chain(&fw_chain);
        let c = q(format!("{spn} loadbalancer IP"));
        for r in &ranges {
            let r = r.to_string();
            nat.add(
                &fw_chain,
                &["-m", "comment", "--comment", &c, "-s", &r, "-j", &ext_chain],
            );
        }
        if cfg
            .node_ips
            .iter()
            .any(|ip| ranges.iter().any(|r| r.contains(*ip)))
        {
            for lb in &lb_ips {
                let lb = host(*lb);
                nat.add(
                    &fw_chain,
                    &[
                        "-m",
                        "comment",
                        "--comment",
                        &c,
                        "-s",
                        &lb,
                        "-j",
                        &ext_chain,
                    ],
                );
            }
        }
        let c = q(format!(
            "other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL"
        ));
        nat.add(&fw_chain, &["-m", "comment", "--comment", &c]);
    }

    // KUBE-SVC-* / KUBE-SVL-*.
    if uses_cluster_chain {
        nat.chain(&svc_chain);
        endpoint_jumps(
            &mut *nat,
            &svc_chain,
            &spn,
            proto,
            port.target_port,
            &cluster_eps,
        );
    }
    if uses_local_chain {
        nat.chain(&svl_chain);
        endpoint_jumps(
            &mut *nat,
            &svl_chain,
            &spn,
            proto,
            port.target_port,
            &local_eps,
        );
    }

    // KUBE-SEP-*: every endpoint a used chain can reach.
    let mut reachable: BTreeSet<String> = BTreeSet::new();
    let mut seps: Vec<&Endpoint> = Vec::new();
    let used = if uses_cluster_chain {
        &cluster_eps
    } else {
        &local_eps
    };
    for ep in used {
        if reachable.insert(ep.ip.to_string()) {
            seps.push(ep);
        }
    }
    for ep in seps {
        let eps = endpoint_string(ep.ip, port.target_port);
        let sep = format!("KUBE-SEP-{}", endpoint_hash(&spn, proto, &eps));
        nat.chain(&sep);
        let ip = host(ep.ip);
        nat.add(
            &sep,
            &[
                "-m",
                "comment",
                "--comment",
                &spn,
                "-s",
                &ip,
                "-j",
                KUBE_MARK_MASQ,
            ],
        );
        nat.add(
            &sep,
            &[
                "-m",
                "comment",
                "--comment",
                &spn,
                "-m",
                proto,
                "-p",
                proto,
                "-j",
                "DNAT",
                "--to-destination",
                &eps,
            ],
        );
    }
}

/// `writeServiceToEndpointRules`: the statistic cascade to the endpoint chains.
fn endpoint_jumps(
    nat: &mut Table,
    chain: &str,
    spn: &str,
    proto: &str,
    target_port: u16,
    eps: &[Endpoint],
) {
    let n = eps.len();
    for (i, ep) in eps.iter().enumerate() {
        let eps_str = endpoint_string(ep.ip, target_port);
        let sep = format!("KUBE-SEP-{}", endpoint_hash(spn, proto, &eps_str));
        let c = q(format!("{spn} -> {eps_str}"));
        if i < n - 1 {
            let p = format!("{:.10}", 1.0 / (n - i) as f64);
            nat.add(
                chain,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &c,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &p,
                    "-j",
                    &sep,
                ],
            );
        } else {
            nat.add(chain, &["-m", "comment", "--comment", &c, "-j", &sep]);
        }
    }
}

/// Chains and their rules per table, read from `iptables-save` output or restore input.
pub type Dump = std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>;

/// Parse `iptables-save` / `iptables-restore` text: `*table`, `:CHAIN POLICY [n:m]`, `-A CHAIN
/// args`; comments, `COMMIT` and trailing notes after two spaces and `(` are ignored.
pub fn parse_dump(text: &str) -> Dump {
    let mut out = Dump::new();
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
            out.entry(table.clone()).or_default();
        } else if let Some(c) = line.strip_prefix(':') {
            let name = c.split_whitespace().next().unwrap_or_default().to_string();
            out.entry(table.clone())
                .or_default()
                .entry(name)
                .or_default();
        } else if let Some(r) = line.strip_prefix("-A ") {
            // Reference excerpts annotate some lines with "   (filter)" at the end.
            let r = match r.find("   (") {
                Some(i) => &r[..i],
                None => r,
            };
            let (chain, args) = r.split_once(' ').unwrap_or((r, ""));
            out.entry(table.clone())
                .or_default()
                .entry(chain.to_string())
                .or_default()
                .push(args.trim().to_string());
        }
    }
    out
}
