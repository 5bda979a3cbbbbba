//! Fault injectors, one per failure class users hit between a MetalLB layer-2 LB IP and the
//! pods. Each turns a healthy `Cluster` into the broken state with real rules, routes, sysctls
//! and processes; `Fault::expect` says what a client then sees, and the tests check that the
//! fault breaks exactly that and nothing else.

use std::net::IpAddr;

use anyhow::{Context, Result, bail};

use super::kubeproxy::ProxyMode;
use super::model::{Endpoint, TrafficPolicy};
use super::netpol::{self, PolicyPod};
use super::topology::{Cluster, Cni, LB4, LB6, Spec};

/// Client source port of the UDP flow the `udp-conntrack-stale` scenario pins.
pub const STALE_UDP_SPORT: u16 = 40000;

/// One failure class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The speaker on the elected node is gone: nobody answers ARP for the LB IP.
    AnnouncerDown,
    /// The segment (a hypervisor's port security) drops frames to the LB IP on the elected
    /// node's port, after ARP resolved.
    PortSecurity,
    /// Two speakers answer ARP (memberlist split brain); the second node is not programmed and,
    /// as on nodes where Docker set it, its FORWARD policy is DROP (flannel's pod-CIDR
    /// accepts keep pod traffic flowing).
    SplitBrain,
    /// IPVS mode without `strictARP`: the LB IP is a local address on another node (the lab's
    /// stand-in for `kube-ipvs0` is `lo`, it has no dummy interfaces), whose kernel answers ARP;
    /// that node has no virtual server for it, so it resets the connection.
    IpvsNoStrictArp,
    /// kube-proxy's rules are missing on the announcing node.
    RulesMissing,
    /// The service has no endpoints (kube-proxy REJECTs; the speaker withdraws, so only
    /// clients with a still-valid ARP entry reach the node).
    NoEndpoints,
    /// externalTrafficPolicy=Local and the announcing node has no local endpoint (DROP).
    EtpLocalNoLocalEndpoint,
    /// loadBalancerSourceRanges exclude the client (KUBE-FW / KUBE-PROXY-FIREWALL DROP).
    SourceRangesExcludeClient,
    /// A host firewall DROPs routed traffic at the top of FORWARD on the announcing node.
    ForwardDrop,
    /// Calico enforcing a default-deny ingress NetworkPolicy on the web pods (DROP).
    NetpolCalico,
    /// kube-router enforcing a default-deny ingress NetworkPolicy on the web pods (REJECT).
    NetpolKubeRouter,
    /// The announcing node lost its route to the remote node's pod CIDR.
    MissingPodRoute,
    /// kube-proxy still DNATs to an endpoint whose pod (and IP) is gone.
    StaleEndpoint,
    /// The announcing node's NIC has a smaller MTU than the segment and it drops the ICMP
    /// "fragmentation needed" it would send: large packets vanish, small ones pass.
    MtuBlackhole,
    /// A long-lived UDP flow stays pinned by conntrack to a deleted pod after kube-proxy
    /// moved the service to a new endpoint.
    UdpConntrackStale,
    /// The pods run but nothing listens on the target port.
    PodNotListening,
    /// The pods silently drop everything (their own firewall, a hung stack).
    PodSilentDrop,
    /// No SNAT on the announcing node: the remote pod replies straight to the client, around
    /// the node that DNATed.
    MissingSnat,
    /// Strict rp_filter on the announcing node with an asymmetric route back to the client.
    RpFilterStrict,
    /// kube-proxy writes iptables-legacy while the host firewall (FORWARD policy DROP, accept
    /// established) lives in iptables-nft: kube-proxy's ACCEPTs never reach it.
    LegacyNftSplit,
}

/// What a client sees once the fault is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symptom {
    /// Connections time out (SYN or data dropped somewhere).
    Timeout,
    /// Connections are refused (RST or ICMP port unreachable).
    Refused,
    /// Small requests work, large transfers stall.
    LargeOnly,
    /// Depends on which of two MACs the client resolved.
    Flapping,
    /// An existing UDP flow is dead, new flows work.
    StaleFlow,
}

impl Fault {
    /// Every fault, in documentation order.
    pub const ALL: [Fault; 20] = [
        Fault::AnnouncerDown,
        Fault::PortSecurity,
        Fault::SplitBrain,
        Fault::IpvsNoStrictArp,
        Fault::RulesMissing,
        Fault::NoEndpoints,
        Fault::EtpLocalNoLocalEndpoint,
        Fault::SourceRangesExcludeClient,
        Fault::ForwardDrop,
        Fault::NetpolCalico,
        Fault::NetpolKubeRouter,
        Fault::MissingPodRoute,
        Fault::StaleEndpoint,
        Fault::MtuBlackhole,
        Fault::UdpConntrackStale,
        Fault::PodNotListening,
        Fault::PodSilentDrop,
        Fault::MissingSnat,
        Fault::RpFilterStrict,
        Fault::LegacyNftSplit,
    ];

    /// The scenario name (`up SCENARIO`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::AnnouncerDown => "announcer-down",
            Fault::PortSecurity => "port-security",
            Fault::SplitBrain => "split-brain",
            Fault::IpvsNoStrictArp => "ipvs-no-strict-arp",
            Fault::RulesMissing => "rules-missing",
            Fault::NoEndpoints => "no-endpoints",
            Fault::EtpLocalNoLocalEndpoint => "etp-local-no-local-endpoint",
            Fault::SourceRangesExcludeClient => "source-ranges",
            Fault::ForwardDrop => "forward-drop",
            Fault::NetpolCalico => "netpol-calico",
            Fault::NetpolKubeRouter => "netpol-kube-router",
            Fault::MissingPodRoute => "missing-pod-route",
            Fault::StaleEndpoint => "stale-endpoint",
            Fault::MtuBlackhole => "mtu-blackhole",
            Fault::UdpConntrackStale => "udp-conntrack-stale",
            Fault::PodNotListening => "pod-not-listening",
            Fault::PodSilentDrop => "pod-silent-drop",
            Fault::MissingSnat => "missing-snat",
            Fault::RpFilterStrict => "rp-filter-strict",
            Fault::LegacyNftSplit => "legacy-nft-split",
        }
    }

    /// Look a fault up by scenario name.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The client-side symptom.
    pub fn expect(self) -> Symptom {
        match self {
            Fault::AnnouncerDown
            | Fault::PortSecurity
            | Fault::RulesMissing
            | Fault::EtpLocalNoLocalEndpoint
            | Fault::SourceRangesExcludeClient
            | Fault::ForwardDrop
            | Fault::NetpolCalico
            | Fault::MissingPodRoute
            | Fault::StaleEndpoint
            | Fault::PodSilentDrop
            | Fault::MissingSnat
            | Fault::RpFilterStrict
            | Fault::LegacyNftSplit => Symptom::Timeout,
            Fault::NoEndpoints | Fault::NetpolKubeRouter | Fault::PodNotListening => {
                Symptom::Refused
            }
            Fault::MtuBlackhole => Symptom::LargeOnly,
            Fault::SplitBrain | Fault::IpvsNoStrictArp => Symptom::Flapping,
            Fault::UdpConntrackStale => Symptom::StaleFlow,
        }
    }

    /// One line for `list` and the docs.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::AnnouncerDown => "no speaker answers ARP for the LB IP",
            Fault::PortSecurity => {
                "the switch drops frames to the LB IP on the elected node's port (port security)"
            }
            Fault::SplitBrain => {
                "two speakers answer ARP; the second node has no kube-proxy rules (FORWARD DROP)"
            }
            Fault::IpvsNoStrictArp => {
                "IPVS without strictARP: another node's kernel answers ARP and resets connections"
            }
            Fault::RulesMissing => "kube-proxy rules missing on the announcing node",
            Fault::NoEndpoints => "service without endpoints (REJECT; speaker withdrawn)",
            Fault::EtpLocalNoLocalEndpoint => {
                "externalTrafficPolicy=Local, no local endpoint on the announcing node (DROP)"
            }
            Fault::SourceRangesExcludeClient => "loadBalancerSourceRanges exclude the client",
            Fault::ForwardDrop => "host firewall DROP at the top of FORWARD",
            Fault::NetpolCalico => "Calico default-deny ingress NetworkPolicy (DROP)",
            Fault::NetpolKubeRouter => "kube-router default-deny ingress NetworkPolicy (REJECT)",
            Fault::MissingPodRoute => "no route to the remote node's pod CIDR",
            Fault::StaleEndpoint => "rules DNAT to a pod IP that no longer exists",
            Fault::MtuBlackhole => "NIC MTU 1400 on a 1500 segment, ICMP frag-needed dropped",
            Fault::UdpConntrackStale => "UDP flow pinned by conntrack to a deleted pod",
            Fault::PodNotListening => "pods up, nothing listening on the target port",
            Fault::PodSilentDrop => "pods silently drop all input",
            Fault::MissingSnat => "no SNAT: the remote pod replies around the DNATing node",
            Fault::RpFilterStrict => "strict rp_filter with an asymmetric route to the client",
            Fault::LegacyNftSplit => {
                "kube-proxy in iptables-legacy, host firewall in iptables-nft (FORWARD DROP)"
            }
        }
    }

    /// The lab this fault needs (most use the default).
    pub fn spec(self, base: Spec) -> Spec {
        match self {
            Fault::NetpolCalico => Spec {
                cni: Cni::Calico,
                dual_stack: false,
                ..base
            },
            Fault::LegacyNftSplit => Spec {
                proxy_mode: ProxyMode::IptablesLegacy,
                ..base
            },
            _ => base,
        }
    }

    /// Break `c` (built from `self.spec(..)`), returning the announcing node.
    pub fn inject(self, c: &mut Cluster) -> Result<String> {
        let a = c.announcer()?;
        let r = c.other_node(&a)?;
        let ipt = c.iptables_cmd();
        match self {
            Fault::AnnouncerDown => {
                c.stop_announcer(&a)?;
                c.client_flush_neigh()?;
            }
            Fault::PortSecurity => {
                let port = format!("p{a}");
                let script = format!(
                    "add table bridge portsec\n\
                     add chain bridge portsec forward {{ type filter hook forward priority 0 ; }}\n\
                     add rule bridge portsec forward oifname \"{port}\" ether type ip ip daddr {LB4} drop\n\
                     add rule bridge portsec forward oifname \"{port}\" ether type ip6 ip6 daddr {LB6} drop\n"
                );
                c.lab()
                    .exec_stdin("sw", &["nft", "-f", "-"], Some(&script))?;
            }
            Fault::SplitBrain => {
                c.unprogram_node(&r)?;
                // FORWARD policy DROP with flannel's pod-CIDR accepts (as on a real node):
                // pod traffic still flows, un-DNATed LB traffic does not.
                let flannel = "*filter\n:FLANNEL-FWD - [0:0]\n\
                     -A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD\n\
                     -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT\n\
                     -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT\n\
                     COMMIT\n";
                c.lab().exec_stdin(
                    &r,
                    &[c.spec.proxy_mode.restore_cmd(false), "--noflush"],
                    Some(flannel),
                )?;
                c.exec(&r, &[ipt, "-P", "FORWARD", "DROP"])?;
                c.start_announcer(&r)?;
            }
            Fault::IpvsNoStrictArp => {
                c.unprogram_node(&r)?;
                c.exec(
                    &r,
                    &["ip", "addr", "add", &format!("{LB4}/32"), "dev", "lo"],
                )?;
                // arp_ignore=0 (the default kube-proxy changes to 1 only with strictARP).
                c.lab().sysctl(&r, "net.ipv4.conf.all.arp_ignore", "0")?;
            }
            Fault::RulesMissing => c.unprogram_node(&a)?,
            Fault::NoEndpoints => {
                let mut svc = c.services[0].clone();
                svc.endpoints.clear();
                c.set_services(vec![svc])?;
                // MetalLB: no serving endpoint -> notOwner -> the speaker withdraws.
                c.stop_announcer(&a)?;
            }
            Fault::EtpLocalNoLocalEndpoint => {
                let mut svc = c.web_service(&c.pods_off(&a));
                svc.external_traffic_policy = TrafficPolicy::Local;
                svc.health_check_node_port = Some(32001);
                c.set_services(vec![svc])?;
            }
            Fault::SourceRangesExcludeClient => {
                let mut svc = c.services[0].clone();
                svc.lb_source_ranges = vec!["203.0.113.0/24".parse()?];
                c.set_services(vec![svc])?;
            }
            Fault::ForwardDrop => {
                c.exec(
                    &a,
                    &[
                        ipt,
                        "-I",
                        "FORWARD",
                        "1",
                        "-m",
                        "comment",
                        "--comment",
                        "host firewall: deny routed traffic",
                        "-j",
                        "DROP",
                    ],
                )?;
            }
            Fault::NetpolCalico => {
                if c.spec.cni != Cni::Calico {
                    bail!("netpol-calico needs the Calico CNI variant (Fault::spec)");
                }
                for n in c.nodes.clone() {
                    let pods = policy_pods(c, &n.name)?;
                    let rules = netpol::calico_default_deny(&pods, "default-deny-ingress");
                    c.lab().exec_stdin(
                        &n.ns,
                        &[restore(c.spec.proxy_mode), "--noflush"],
                        Some(&rules),
                    )?;
                }
            }
            Fault::NetpolKubeRouter => {
                for n in c.nodes.clone() {
                    let pods = policy_pods(c, &n.name)?;
                    let rules = netpol::kube_router_default_deny(&pods, "default-deny-ingress");
                    c.lab().exec_stdin(
                        &n.ns,
                        &[restore(c.spec.proxy_mode), "--noflush"],
                        Some(&rules),
                    )?;
                }
            }
            Fault::MissingPodRoute => {
                let svc = c.web_service(&c.pods_off(&a));
                c.set_services(vec![svc])?;
                let cidr = c.node(&r)?.pod_cidr4.to_string();
                c.exec(&a, &["ip", "route", "del", &cidr])?;
            }
            Fault::StaleEndpoint => {
                let remote = c.pods_off(&a);
                let svc = c.web_service(&remote);
                c.set_services(vec![svc])?;
                // The pods go away; kube-proxy never hears of it.
                for p in remote {
                    c.delete_pod(&p)?;
                }
            }
            Fault::MtuBlackhole => {
                c.exec(&a, &["ip", "link", "set", "eth0", "mtu", "1400"])?;
                c.exec(
                    &a,
                    &[
                        ipt,
                        "-I",
                        "OUTPUT",
                        "1",
                        "-p",
                        "icmp",
                        "--icmp-type",
                        "fragmentation-needed",
                        "-j",
                        "DROP",
                    ],
                )?;
            }
            Fault::UdpConntrackStale => {
                // Inject in two steps from the test: see `udp_stale_move`.
                let svc = c.web_service(&c.pods_off(&a));
                c.set_services(vec![svc])?;
            }
            Fault::PodNotListening => {
                for p in c.pods.iter().map(|p| p.name.clone()).collect::<Vec<_>>() {
                    c.stop_backend(&p)?;
                }
            }
            Fault::PodSilentDrop => {
                for p in c.pods.iter().map(|p| p.name.clone()).collect::<Vec<_>>() {
                    let script = "add table inet pod\n\
                                  add chain inet pod input { type filter hook input priority 0 ; policy drop ; }\n";
                    c.lab().exec_stdin(&p, &["nft", "-f", "-"], Some(script))?;
                }
            }
            Fault::MissingSnat => {
                let svc = c.web_service(&c.pods_off(&a));
                c.set_services(vec![svc])?;
                match c.spec.proxy_mode {
                    ProxyMode::Nftables => {
                        c.exec(
                            &a,
                            &["nft", "flush", "chain", "ip", "kube-proxy", "masquerading"],
                        )?;
                    }
                    _ => {
                        c.exec(&a, &[ipt, "-t", "nat", "-F", "KUBE-POSTROUTING"])?;
                    }
                }
            }
            Fault::RpFilterStrict => {
                asymmetric_return_path(c, &a)?;
                for k in ["all", "eth0"] {
                    c.lab()
                        .sysctl(&a, &format!("net.ipv4.conf.{k}.rp_filter"), "1")?;
                }
            }
            Fault::LegacyNftSplit => {
                if c.spec.proxy_mode != ProxyMode::IptablesLegacy {
                    bail!("legacy-nft-split needs kube-proxy in iptables-legacy (Fault::spec)");
                }
                host_firewall_nft(c, &a)?;
            }
        }
        Ok(a)
    }
}

fn restore(mode: ProxyMode) -> &'static str {
    mode.restore_cmd(false)
}

/// The web pods on `node` as the policy agents see them.
fn policy_pods(c: &Cluster, node: &str) -> Result<Vec<PolicyPod>> {
    let eps: Vec<IpAddr> = c
        .services
        .first()
        .map(|s| s.endpoints.iter().map(|e: &Endpoint| e.ip).collect())
        .unwrap_or_default();
    Ok(c.pods
        .iter()
        .filter(|p| p.node == node && eps.contains(&IpAddr::V4(p.ip4)))
        .map(|p| PolicyPod {
            namespace: "default".into(),
            name: p.name.clone(),
            ip: p.ip4.to_string(),
            host_if: p.host_if.clone(),
        })
        .collect())
}

/// A second path from `node` back to the client through a management router
/// (`mgmt` namespace, 192.0.2.0/24), and a /32 route that sends replies to the client that way.
/// Replies still arrive (the router delivers them on the client's second NIC), so only strict
/// reverse-path filtering breaks the service.
pub fn asymmetric_return_path(c: &mut Cluster, node: &str) -> Result<()> {
    let lab = c.lab_mut();
    lab.add_ns("mgmt")?;
    lab.sysctl("mgmt", "net.ipv4.ip_forward", "1")?;
    lab.sysctl("mgmt", "net.ipv4.conf.all.rp_filter", "0")?;
    lab.veth(
        node,
        "eth1",
        Some("192.0.2.11/25"),
        "mgmt",
        "pnode",
        Some("192.0.2.1/25"),
    )?;
    lab.veth(
        "client",
        "eth1",
        Some("192.0.2.130/25"),
        "mgmt",
        "pclient",
        Some("192.0.2.129/25"),
    )?;
    lab.exec(
        node,
        &[
            "ip",
            "route",
            "add",
            "198.51.100.10/32",
            "via",
            "192.0.2.1",
            "dev",
            "eth1",
        ],
    )?;
    lab.exec(
        "mgmt",
        &[
            "ip",
            "route",
            "add",
            "198.51.100.10/32",
            "via",
            "192.0.2.130",
        ],
    )?;
    lab.sysctl("client", "net.ipv4.conf.all.rp_filter", "0")
        .context("client rp_filter")?;
    Ok(())
}

/// The host firewall the split fault needs, in iptables-nft: FORWARD policy DROP, accept
/// established (a typical "default deny routed" firewall that relies on KUBE-FORWARD).
pub fn host_firewall_nft(c: &Cluster, node: &str) -> Result<()> {
    c.exec(node, &["iptables-nft", "-P", "FORWARD", "DROP"])?;
    c.exec(
        node,
        &[
            "iptables-nft",
            "-A",
            "FORWARD",
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    )?;
    Ok(())
}

/// Second step of the UDP conntrack fault: the pinned pod is deleted and kube-proxy moves the
/// service to the announcing node's pods, but the flow's conntrack entry is not flushed.
pub fn udp_stale_move(c: &mut Cluster, announcer: &str) -> Result<()> {
    for p in c.pods_off(announcer) {
        c.delete_pod(&p)?;
    }
    let svc = c.web_service(&c.pods_on(announcer));
    c.set_services(vec![svc])
}
