//! The packet path of the seed guide, built in namespaces: an external client, a layer-2
//! segment (a bridge in its own namespace acting as the switch), N nodes with an uplink, a
//! `cni0` bridge and pods on veths, host-gw routes or a flannel-style VXLAN overlay, a backend
//! in every pod, kube-proxy's rules on every node and a MetalLB-like announcer on the elected one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::announcer::{AnnounceConfig, Announcer};
use super::backend::{self, HTTP_PORT, UDP_PORT};
use super::iptables::ProxyConfig;
use super::kubeproxy::{self, ProxyMode};
use super::model::{
    Cidr, Endpoint, Protocol, Service, ServicePort, TrafficPolicy, elect_announcer,
};
use super::offload;
use super::probe::{self, Http, Outcome};
use crate::netns::{Lab, ProcLog};

/// The client's address on the segment.
pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The LoadBalancer IP MetalLB assigned (configured on no interface).
pub const LB4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 240);
/// The service's cluster IP.
pub const CLUSTER_IP4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
/// IPv6 counterparts (dual-stack variant).
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x10);
pub const LB6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0xf0);
pub const CLUSTER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0x10);
/// Service ports: HTTP (TCP) and the UDP echo.
pub const SVC_HTTP_PORT: u16 = 80;
pub const SVC_UDP_PORT: u16 = 9000;
/// NodePorts of the two service ports.
pub const NODE_PORT_HTTP: u16 = 30080;
pub const NODE_PORT_UDP: u16 = 30900;

/// How pod CIDRs reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// Routes to other nodes' pod CIDRs via their node IPs (flannel host-gw).
    HostGw,
    /// flannel-style VXLAN (`flannel.1`, VNI 1, port 8472, static FDB/neighbours, MTU 1450).
    Vxlan,
}

/// How pods attach to their node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cni {
    /// A `cni0` bridge with the node's `.1` as the pods' gateway (flannel / bridge plugin).
    Bridge,
    /// Calico style: a routed `cali<hash>` veth per pod, a /32 route to it, no bridge, and
    /// the pod's gateway 169.254.1.1 answered by the host side (IPv4 only).
    Calico,
}

/// How the node-side processes (announcer) run.
#[derive(Debug, Clone)]
pub enum Runner {
    /// Threads of the test process (stop with the `Cluster`).
    Threads,
    /// Detached subprocesses of this executable (`lab-announce`), for labs that outlive `up`.
    Process(PathBuf),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Spec {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub overlay: Overlay,
    pub cni: Cni,
    pub dual_stack: bool,
    pub proxy_mode: ProxyMode,
    pub runner: Runner,
    /// Backend and announcer logs (None: discarded).
    pub log_dir: Option<PathBuf>,
    /// Start the announcer on the elected node (false: no speaker at all).
    pub announce: bool,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            nodes: 2,
            pods_per_node: 1,
            overlay: Overlay::HostGw,
            cni: Cni::Bridge,
            dual_stack: false,
            proxy_mode: ProxyMode::IptablesNft,
            runner: Runner::Threads,
            log_dir: None,
            announce: true,
        }
    }
}

/// A node: its namespace, uplink and pod CIDR.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// Namespace short name (same as `name`).
    pub ns: String,
    pub index: u8,
    pub ip4: Ipv4Addr,
    pub ip6: Option<Ipv6Addr>,
    pub mac: String,
    pub pod_cidr4: Cidr,
    pub pod_cidr6: Option<Cidr>,
    pub gw4: Ipv4Addr,
    pub gw6: Option<Ipv6Addr>,
}

/// A pod: its namespace (short name = pod name), node and addresses.
#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub node: String,
    pub ip4: Ipv4Addr,
    pub ip6: Option<Ipv6Addr>,
    /// Host-side veth in the node namespace.
    pub host_if: String,
    pub pid: Option<u32>,
}

enum Speaker {
    Thread(Announcer),
    Process(u32),
}

/// A built lab cluster. Dropping it stops the announcers and backends and deletes every
/// namespace, also when a test panics.
pub struct Cluster {
    speakers: Vec<(String, Speaker)>,
    pub spec: Spec,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    /// Nodes whose kube-proxy rules are currently written.
    programmed: Vec<String>,
    lab: Lab,
}

/// Calico names a pod's host-side veth `cali` + 11 hex characters of a hash of the
/// workload (felix uses sha1 of `namespace.pod`; the lab uses sha256 of the same string).
pub fn calico_ifname(pod: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("default.{pod}").as_bytes());
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("cali{}", &hex[..11])
}

fn node_mac(i: u8) -> String {
    format!("02:6e:00:00:00:{i:02x}")
}

const CLIENT_MAC: &str = "02:c1:00:00:00:10";

impl Cluster {
    /// Build `spec` in a new test lab (unique prefix).
    pub fn build(spec: Spec) -> Result<Cluster> {
        Cluster::build_in(Lab::new()?, spec)
    }

    /// Build `spec` in the given lab.
    pub fn build_in(lab: Lab, spec: Spec) -> Result<Cluster> {
        if spec.nodes == 0 || spec.nodes > 9 || spec.pods_per_node > 9 {
            bail!("the lab supports 1-9 nodes and 0-9 pods per node");
        }
        if spec.dual_stack && (spec.overlay == Overlay::Vxlan || spec.cni == Cni::Calico) {
            bail!("the VXLAN and Calico variants are IPv4 only");
        }
        let mut c = Cluster {
            speakers: Vec::new(),
            spec,
            nodes: Vec::new(),
            pods: Vec::new(),
            services: Vec::new(),
            programmed: Vec::new(),
            lab,
        };
        c.build_links().context("build topology")?;
        c.start_backends().context("start backends")?;
        c.services =
            vec![c.web_service(&c.pods.iter().map(|p| p.name.clone()).collect::<Vec<_>>())];
        c.program_all().context("program kube-proxy rules")?;
        if c.spec.announce
            && let Some(node) = c.elected()
        {
            c.start_announcer(&node).context("start announcer")?;
        }
        Ok(c)
    }

    /// The underlying namespaces.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// Mutable access (start extra processes, delete a pod namespace).
    pub fn lab_mut(&mut self) -> &mut Lab {
        &mut self.lab
    }

    /// Keep the namespaces and processes after drop (the `up` command).
    pub fn keep(mut self) -> Vec<String> {
        for (_, s) in self.speakers.drain(..) {
            if let Speaker::Thread(a) = s {
                let _ = a.stop();
            }
        }
        self.lab.keep()
    }

    fn log(&self, what: &str) -> ProcLog {
        match &self.spec.log_dir {
            Some(d) => ProcLog::File(d.join(format!("{what}.log"))),
            None => ProcLog::Null,
        }
    }

    fn ns_init(&mut self, short: &str) -> Result<()> {
        self.lab.add_ns(short)?;
        for k in ["all", "default"] {
            self.lab
                .sysctl(short, &format!("net.ipv6.conf.{k}.accept_dad"), "0")?;
            self.lab
                .sysctl(short, &format!("net.ipv4.conf.{k}.rp_filter"), "0")?;
        }
        Ok(())
    }

    fn ip(&self, short: &str, args: &[&str]) -> Result<String> {
        let ns = self.lab.ns(short);
        let mut full = vec!["ip", "-n", ns.as_str()];
        full.extend_from_slice(args);
        crate::netns::sh(&full)
    }

    fn build_links(&mut self) -> Result<()> {
        let ds = self.spec.dual_stack;
        self.ns_init("client")?;
        self.ns_init("sw")?;
        self.lab
            .sysctl("sw", "net.bridge.bridge-nf-call-iptables", "0")
            .ok();
        self.ip(
            "sw",
            &[
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
                "stp_state",
                "0",
            ],
        )?;
        self.ip("sw", &["link", "set", "br0", "up"])?;

        // Client.
        self.lab.veth(
            "client",
            "eth0",
            Some("198.51.100.10/24"),
            "sw",
            "pclient",
            None,
        )?;
        self.ip("client", &["link", "set", "eth0", "address", CLIENT_MAC])?;
        self.ip("sw", &["link", "set", "pclient", "master", "br0"])?;
        if ds {
            self.ip(
                "client",
                &["addr", "add", "2001:db8:100::10/64", "dev", "eth0", "nodad"],
            )?;
        }
        let path = self.lab.ns_path("client");
        let _ = path;
        self.lab
            .within("client", || offload::disable_offloads("eth0"))??;

        // Nodes.
        for i in 1..=self.spec.nodes {
            let i = u8::try_from(i).context("node index")?;
            let name = format!("node{i}");
            self.ns_init(&name)?;
            let ip4 = Ipv4Addr::new(198, 51, 100, 10 + i);
            let addr = format!("{ip4}/24");
            let port = format!("p{name}");
            self.lab
                .veth(&name, "eth0", Some(&addr), "sw", &port, None)?;
            self.ip(&name, &["link", "set", "eth0", "address", &node_mac(i)])?;
            self.ip("sw", &["link", "set", &port, "master", "br0"])?;
            self.lab
                .within(&name, || offload::disable_offloads("eth0"))??;
            self.lab.sysctl(&name, "net.ipv4.ip_forward", "1")?;
            // The client sits on the nodes' own segment, so forwarding an un-DNATed LB packet
            // back out of eth0 would send it an ICMP redirect, and Linux's per-host ICMP rate
            // limit (shared by redirects and errors) would then swallow the REJECT's port
            // unreachable. Real clients are routed and get no redirect: turn them off.
            for k in ["all", "default", "eth0"] {
                self.lab
                    .sysctl(&name, &format!("net.ipv4.conf.{k}.send_redirects"), "0")?;
            }
            let pod_cidr4: Cidr = format!("10.244.{i}.0/24").parse()?;
            let gw4 = Ipv4Addr::new(10, 244, i, 1);
            let mtu = if self.spec.overlay == Overlay::Vxlan {
                "1450"
            } else {
                "1500"
            };
            let calico = self.spec.cni == Cni::Calico;
            if !calico {
                self.ip(
                    &name,
                    &["link", "add", "cni0", "mtu", mtu, "type", "bridge"],
                )?;
                self.ip(&name, &["addr", "add", &format!("{gw4}/24"), "dev", "cni0"])?;
                self.ip(&name, &["link", "set", "cni0", "up"])?;
            }
            let (ip6, pod_cidr6, gw6) = if ds {
                let ip6: Ipv6Addr = format!("2001:db8:100::{}", 10 + u16::from(i)).parse()?;
                self.ip(
                    &name,
                    &["addr", "add", &format!("{ip6}/64"), "dev", "eth0", "nodad"],
                )?;
                let gw6: Ipv6Addr = format!("fd00:10:244:{i}::1").parse()?;
                self.ip(
                    &name,
                    &["addr", "add", &format!("{gw6}/64"), "dev", "cni0", "nodad"],
                )?;
                self.lab
                    .sysctl(&name, "net.ipv6.conf.all.forwarding", "1")?;
                (
                    Some(ip6),
                    Some(format!("fd00:10:244:{i}::/64").parse()?),
                    Some(gw6),
                )
            } else {
                (None, None, None)
            };
            let node = Node {
                name: name.clone(),
                ns: name.clone(),
                index: i,
                ip4,
                ip6,
                mac: node_mac(i),
                pod_cidr4,
                pod_cidr6,
                gw4,
                gw6,
            };
            for k in 1..=self.spec.pods_per_node {
                let k = u8::try_from(k).context("pod index")?;
                let pod = format!("n{i}p{k}");
                self.ns_init(&pod)?;
                let pip4 = Ipv4Addr::new(10, 244, i, 1 + k);
                let host_if = if calico {
                    calico_ifname(&pod)
                } else {
                    format!("veth{pod}")
                };
                let pod_addr = if calico {
                    format!("{pip4}/32")
                } else {
                    format!("{pip4}/24")
                };
                self.lab
                    .veth(&pod, "eth0", Some(&pod_addr), &name, &host_if, None)?;
                self.ip(&pod, &["link", "set", "eth0", "mtu", mtu])?;
                if calico {
                    // Calico: every host side has MAC ee:ee:ee:ee:ee:ee, a /32 route points
                    // at it, and the pod reaches its fake gateway 169.254.1.1 through it.
                    self.ip(
                        &name,
                        &["link", "set", &host_if, "address", "ee:ee:ee:ee:ee:ee"],
                    )?;
                    self.ip(
                        &name,
                        &[
                            "route",
                            "add",
                            &format!("{pip4}/32"),
                            "dev",
                            &host_if,
                            "scope",
                            "link",
                        ],
                    )?;
                    self.lab
                        .sysctl(&name, &format!("net.ipv4.conf.{host_if}.proxy_arp"), "1")?;
                    self.ip(
                        &pod,
                        &[
                            "route",
                            "add",
                            "169.254.1.1",
                            "dev",
                            "eth0",
                            "scope",
                            "link",
                        ],
                    )?;
                    self.ip(
                        &pod,
                        &[
                            "neigh",
                            "replace",
                            "169.254.1.1",
                            "lladdr",
                            "ee:ee:ee:ee:ee:ee",
                            "dev",
                            "eth0",
                            "nud",
                            "permanent",
                        ],
                    )?;
                    self.ip(
                        &pod,
                        &[
                            "route",
                            "add",
                            "default",
                            "via",
                            "169.254.1.1",
                            "dev",
                            "eth0",
                        ],
                    )?;
                } else {
                    self.ip(
                        &name,
                        &["link", "set", &host_if, "mtu", mtu, "master", "cni0"],
                    )?;
                    self.ip(&pod, &["route", "add", "default", "via", &gw4.to_string()])?;
                }
                let pip6 = if let Some(gw6) = gw6 {
                    let pip6: Ipv6Addr = format!("fd00:10:244:{i}::{}", 1 + k).parse()?;
                    self.ip(
                        &pod,
                        &["addr", "add", &format!("{pip6}/64"), "dev", "eth0", "nodad"],
                    )?;
                    self.ip(
                        &pod,
                        &["-6", "route", "add", "default", "via", &gw6.to_string()],
                    )?;
                    Some(pip6)
                } else {
                    None
                };
                self.pods.push(Pod {
                    name: pod,
                    node: name.clone(),
                    ip4: pip4,
                    ip6: pip6,
                    host_if,
                    pid: None,
                });
            }
            self.nodes.push(node);
        }

        // Pod CIDR routes between nodes.
        let nodes = self.nodes.clone();
        for n in &nodes {
            for m in nodes.iter().filter(|m| m.name != n.name) {
                match self.spec.overlay {
                    Overlay::HostGw => {
                        self.ip(
                            &n.ns,
                            &[
                                "route",
                                "add",
                                &m.pod_cidr4.to_string(),
                                "via",
                                &m.ip4.to_string(),
                            ],
                        )?;
                        if let (Some(c6), Some(ip6)) = (m.pod_cidr6, m.ip6) {
                            self.ip(
                                &n.ns,
                                &[
                                    "-6",
                                    "route",
                                    "add",
                                    &c6.to_string(),
                                    "via",
                                    &ip6.to_string(),
                                ],
                            )?;
                        }
                    }
                    Overlay::Vxlan => {}
                }
            }
        }
        if self.spec.overlay == Overlay::Vxlan {
            for n in &nodes {
                let vmac = format!("0e:f1:00:00:00:{:02x}", n.index);
                self.ip(
                    &n.ns,
                    &[
                        "link",
                        "add",
                        "flannel.1",
                        "address",
                        &vmac,
                        "mtu",
                        "1450",
                        "type",
                        "vxlan",
                        "id",
                        "1",
                        "local",
                        &n.ip4.to_string(),
                        "dev",
                        "eth0",
                        "dstport",
                        "8472",
                        "nolearning",
                    ],
                )?;
                self.ip(
                    &n.ns,
                    &[
                        "addr",
                        "add",
                        &format!("10.244.{}.0/32", n.index),
                        "dev",
                        "flannel.1",
                    ],
                )?;
                self.ip(&n.ns, &["link", "set", "flannel.1", "up"])?;
            }
            for n in &nodes {
                for m in nodes.iter().filter(|m| m.name != n.name) {
                    let gw = format!("10.244.{}.0", m.index);
                    let mmac = format!("0e:f1:00:00:00:{:02x}", m.index);
                    self.ip(
                        &n.ns,
                        &[
                            "route",
                            "add",
                            &m.pod_cidr4.to_string(),
                            "via",
                            &gw,
                            "dev",
                            "flannel.1",
                            "onlink",
                        ],
                    )?;
                    self.ip(
                        &n.ns,
                        &[
                            "neigh",
                            "replace",
                            &gw,
                            "lladdr",
                            &mmac,
                            "dev",
                            "flannel.1",
                            "nud",
                            "permanent",
                        ],
                    )?;
                    crate::netns::sh(&[
                        "bridge",
                        "-n",
                        &self.lab.ns(&n.ns),
                        "fdb",
                        "append",
                        &mmac,
                        "dev",
                        "flannel.1",
                        "dst",
                        &m.ip4.to_string(),
                    ])?;
                }
            }
        }
        Ok(())
    }

    fn start_backends(&mut self) -> Result<()> {
        for i in 0..self.pods.len() {
            let name = self.pods[i].name.clone();
            let log = self.log(&name);
            let pid = backend::start(&mut self.lab, &name, &name, &log)?;
            self.pods[i].pid = Some(pid);
        }
        Ok(())
    }

    /// Stop a pod's server (the pod stays; nothing listens any more).
    pub fn stop_backend(&mut self, pod: &str) -> Result<()> {
        let p = self.pod_mut(pod)?;
        if let Some(pid) = p.pid.take() {
            self.lab.kill(pid);
        }
        Ok(())
    }

    /// Delete a pod: its namespace and veth disappear, its IP answers nothing.
    pub fn delete_pod(&mut self, pod: &str) -> Result<()> {
        self.stop_backend(pod)?;
        // Delete the veth now: a deleted namespace is torn down asynchronously and its
        // address would answer (with resets) for a while.
        let (node, host_if) = {
            let p = self.pod(pod)?;
            (p.node.clone(), p.host_if.clone())
        };
        self.ip(&node, &["link", "del", &host_if])?;
        self.lab.del_ns(pod)?;
        self.pods.retain(|p| p.name != pod);
        Ok(())
    }

    /// `default/web`: LB IP(s), HTTP 80->8080/TCP and echo 9000->9000/UDP, endpoints = `pods`.
    pub fn web_service(&self, pods: &[String]) -> Service {
        let mut endpoints = Vec::new();
        for p in self.pods.iter().filter(|p| pods.contains(&p.name)) {
            endpoints.push(Endpoint {
                ip: IpAddr::V4(p.ip4),
                node: p.node.clone(),
                ready: true,
            });
            if let Some(ip6) = p.ip6 {
                endpoints.push(Endpoint {
                    ip: IpAddr::V6(ip6),
                    node: p.node.clone(),
                    ready: true,
                });
            }
        }
        let mut lb_ips = vec![IpAddr::V4(LB4)];
        if self.spec.dual_stack {
            lb_ips.push(IpAddr::V6(LB6));
        }
        Service {
            namespace: "default".into(),
            name: "web".into(),
            cluster_ip: IpAddr::V4(CLUSTER_IP4),
            external_ips: vec![],
            lb_ips,
            ports: vec![
                ServicePort {
                    name: "http".into(),
                    protocol: Protocol::Tcp,
                    port: SVC_HTTP_PORT,
                    target_port: HTTP_PORT,
                    node_port: Some(NODE_PORT_HTTP),
                },
                ServicePort {
                    name: "echo".into(),
                    protocol: Protocol::Udp,
                    port: SVC_UDP_PORT,
                    target_port: UDP_PORT,
                    node_port: Some(NODE_PORT_UDP),
                },
            ],
            endpoints,
            external_traffic_policy: TrafficPolicy::Cluster,
            lb_source_ranges: vec![],
            health_check_node_port: None,
        }
    }

    /// The services as kube-proxy sees them on one node: a dual-stack service is two
    /// single-family services to the two proxiers (the v6 one keyed by its v6 cluster IP).
    fn services_for_family(&self, v6: bool) -> Vec<Service> {
        self.services
            .iter()
            .map(|s| {
                let mut s = s.clone();
                if v6 {
                    s.cluster_ip = IpAddr::V6(CLUSTER_IP6);
                }
                s
            })
            .collect()
    }

    /// kube-proxy configs for one node (one per IP family).
    pub fn proxy_configs(&self, node: &Node) -> Result<Vec<ProxyConfig>> {
        let mut v = vec![ProxyConfig::lab(
            &node.name,
            IpAddr::V4(node.ip4),
            "10.244.0.0/16".parse()?,
            "10.96.0.0/12".parse()?,
        )];
        if let Some(ip6) = node.ip6 {
            v.push(ProxyConfig::lab(
                &node.name,
                IpAddr::V6(ip6),
                "fd00:10:244::/48".parse()?,
                "fd00:10:96::/112".parse()?,
            ));
        }
        Ok(v)
    }

    fn program_all(&mut self) -> Result<()> {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for n in names {
            self.program_node(&n)?;
        }
        Ok(())
    }

    /// Write (or re-sync) kube-proxy's rules on one node from `self.services`.
    pub fn program_node(&mut self, node: &str) -> Result<()> {
        let n = self.node(node)?.clone();
        let first = !self.programmed.contains(&n.name);
        for cfg in self.proxy_configs(&n)? {
            let v6 = cfg.node_ips.first().is_some_and(IpAddr::is_ipv6);
            let services = self.services_for_family(v6);
            kubeproxy::program(
                &self.lab,
                &n.ns,
                self.spec.proxy_mode,
                &services,
                &[cfg],
                first,
            )?;
        }
        if first {
            self.programmed.push(n.name);
        }
        Ok(())
    }

    /// Replace the service model and re-sync every programmed node (kube-proxy's resync).
    pub fn set_services(&mut self, services: Vec<Service>) -> Result<()> {
        self.services = services;
        for n in self.programmed.clone() {
            self.program_node(&n)?;
        }
        Ok(())
    }

    /// Remove kube-proxy's rules from a node.
    pub fn unprogram_node(&mut self, node: &str) -> Result<()> {
        let n = self.node(node)?.clone();
        kubeproxy::unprogram(&self.lab, &n.ns, self.spec.proxy_mode, self.spec.dual_stack)?;
        self.programmed.retain(|x| x != &n.name);
        Ok(())
    }

    /// The node MetalLB would elect for the first service.
    pub fn elected(&self) -> Option<String> {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        self.services
            .first()
            .and_then(|s| elect_announcer(s, &names))
    }

    /// The nodes whose announcer currently runs.
    pub fn announcing(&self) -> Vec<String> {
        self.speakers.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Start announcing the LB IP(s) from `node`'s uplink (gratuitous ARP/NA first).
    pub fn start_announcer(&mut self, node: &str) -> Result<()> {
        let n = self.node(node)?.clone();
        let link_local = if self.spec.dual_stack {
            Some(self.link_local(&n.ns, "eth0")?)
        } else {
            None
        };
        let mut ips = vec![IpAddr::V4(LB4)];
        if self.spec.dual_stack {
            ips.push(IpAddr::V6(LB6));
        }
        let log = match &self.spec.log_dir {
            Some(d) => Some(d.join(format!("speaker-{}.log", n.name))),
            None => None,
        };
        let cfg = AnnounceConfig {
            node: n.name.clone(),
            ifname: "eth0".into(),
            ips,
            link_local,
            log,
        };
        let speaker = match self.spec.runner.clone() {
            Runner::Threads => Speaker::Thread(Announcer::spawn(self.lab.ns_path(&n.ns), cfg)?),
            Runner::Process(exe) => {
                let exe = exe.to_string_lossy().into_owned();
                let ips: Vec<String> = cfg.ips.iter().map(|i| i.to_string()).collect();
                let mut args = vec![
                    exe,
                    "lab-announce".into(),
                    "--node".into(),
                    n.name.clone(),
                    "--ifname".into(),
                    "eth0".into(),
                ];
                for ip in ips {
                    args.push("--ip".into());
                    args.push(ip);
                }
                if let Some(ll) = cfg.link_local {
                    args.push("--link-local".into());
                    args.push(ll.to_string());
                }
                if let Some(l) = &cfg.log {
                    args.push("--log".into());
                    args.push(l.to_string_lossy().into_owned());
                }
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let plog = self.log(&format!("speaker-{}-stderr", n.name));
                Speaker::Process(self.lab.spawn_ready(&n.ns, &refs, &plog)?)
            }
        };
        self.speakers.push((n.name, speaker));
        Ok(())
    }

    /// Stop the announcer on `node` (speaker pod gone, or it lost the election).
    pub fn stop_announcer(&mut self, node: &str) -> Result<()> {
        let mut rest = Vec::new();
        for (n, s) in self.speakers.drain(..) {
            if n == node {
                match s {
                    Speaker::Thread(a) => a.stop()?,
                    Speaker::Process(pid) => self.lab.kill(pid),
                }
            } else {
                rest.push((n, s));
            }
        }
        self.speakers = rest;
        Ok(())
    }

    /// Move the announcement to `node` (failover): stop the others, start there.
    pub fn failover(&mut self, node: &str) -> Result<()> {
        for n in self.announcing() {
            self.stop_announcer(&n)?;
        }
        self.start_announcer(node)
    }

    fn link_local(&self, ns: &str, ifname: &str) -> Result<Ipv6Addr> {
        let out = self.ip(
            ns,
            &["-6", "-o", "addr", "show", "dev", ifname, "scope", "link"],
        )?;
        for tok in out.split_whitespace() {
            if let Some((a, _)) = tok.split_once('/')
                && let Ok(ip) = a.parse::<Ipv6Addr>()
                && ip.segments()[0] == 0xfe80
            {
                return Ok(ip);
            }
        }
        bail!("no link-local address on {ifname} in {ns}")
    }

    /// Look up a node by name.
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node {name}"))
    }

    /// Look up a pod by name.
    pub fn pod(&self, name: &str) -> Result<&Pod> {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("no pod {name}"))
    }

    fn pod_mut(&mut self, name: &str) -> Result<&mut Pod> {
        self.pods
            .iter_mut()
            .find(|p| p.name == name)
            .with_context(|| format!("no pod {name}"))
    }

    /// Pods on `node`.
    pub fn pods_on(&self, node: &str) -> Vec<String> {
        self.pods
            .iter()
            .filter(|p| p.node == node)
            .map(|p| p.name.clone())
            .collect()
    }

    /// Pods not on `node`.
    pub fn pods_off(&self, node: &str) -> Vec<String> {
        self.pods
            .iter()
            .filter(|p| p.node != node)
            .map(|p| p.name.clone())
            .collect()
    }

    /// Run a command in a lab namespace (short name: `client`, `sw`, `node1`, `n1p1`).
    pub fn exec(&self, short: &str, args: &[&str]) -> Result<String> {
        self.lab.exec(short, args)
    }

    /// The LB address of one family.
    pub fn lb(&self, v6: bool) -> IpAddr {
        if v6 { IpAddr::V6(LB6) } else { IpAddr::V4(LB4) }
    }

    /// An HTTP probe from the client to `addr:port`.
    pub fn http_to(&self, addr: SocketAddr, req: Http, timeout: Duration) -> Result<Outcome> {
        self.lab
            .within("client", move || probe::http(addr, req, timeout))
    }

    /// An HTTP probe from any lab namespace (a node, a pod) to `addr`.
    pub fn http_from(
        &self,
        ns: &str,
        addr: SocketAddr,
        req: Http,
        timeout: Duration,
    ) -> Result<Outcome> {
        self.lab.within(ns, move || probe::http(addr, req, timeout))
    }

    /// The HTTP NodePort of `node` (IPv4).
    pub fn node_port(&self, node: &str) -> Result<SocketAddr> {
        Ok(SocketAddr::new(
            IpAddr::V4(self.node(node)?.ip4),
            NODE_PORT_HTTP,
        ))
    }

    /// The node whose announcer runs (the first, if several).
    pub fn announcer(&self) -> Result<String> {
        self.announcing()
            .first()
            .cloned()
            .context("no announcer is running")
    }

    /// A node other than `node`.
    pub fn other_node(&self, node: &str) -> Result<String> {
        self.nodes
            .iter()
            .map(|n| n.name.clone())
            .find(|n| n != node)
            .context("the lab has a single node")
    }

    /// Point the client's neighbour entry for the LB IP at `mac` (what it holds after one of
    /// two racing ARP replies won). The entry is permanent so the speakers' repeated
    /// gratuitous ARPs do not move it while a test looks at one side.
    pub fn client_pin_neigh(&self, mac: &str) -> Result<()> {
        let lb = LB4.to_string();
        self.ip(
            "client",
            &[
                "neigh",
                "replace",
                &lb,
                "lladdr",
                mac,
                "dev",
                "eth0",
                "nud",
                "permanent",
            ],
        )?;
        Ok(())
    }

    /// Who answers an ARP who-has for the LB IP from the client (distinct MACs).
    pub fn client_arp_probe(&self, wait: Duration) -> Result<Vec<String>> {
        let macs = self.lab.within("client", move || {
            super::announcer::arp_probe("eth0", CLIENT4, LB4, wait)
        })??;
        Ok(macs.iter().map(|m| super::announcer::mac_str(m)).collect())
    }

    /// The iptables command of this lab's kube-proxy backend (`iptables-nft` or
    /// `iptables-legacy`; `iptables-nft` in nftables mode, for host firewall rules).
    pub fn iptables_cmd(&self) -> &'static str {
        match self.spec.proxy_mode {
            ProxyMode::IptablesLegacy => "iptables-legacy",
            _ => "iptables-nft",
        }
    }

    /// An HTTP probe from the client to the LB IP.
    pub fn http(&self, req: Http, v6: bool, timeout: Duration) -> Result<Outcome> {
        self.http_to(SocketAddr::new(self.lb(v6), SVC_HTTP_PORT), req, timeout)
    }

    /// A UDP echo from the client (source port `sport`, 0 = any) to the LB IP.
    pub fn udp(&self, sport: u16, v6: bool, payload: &[u8], timeout: Duration) -> Result<Outcome> {
        let local = if v6 {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), sport)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), sport)
        };
        let dst = SocketAddr::new(self.lb(v6), SVC_UDP_PORT);
        let payload = payload.to_vec();
        self.lab
            .within("client", move || probe::udp(local, dst, &payload, timeout))
    }

    /// The client's neighbour entry for the LB IP: the MAC it resolved, if any.
    pub fn client_neigh(&self, v6: bool) -> Result<Option<String>> {
        let lb = self.lb(v6).to_string();
        let out = self.ip("client", &["neigh", "show", &lb, "dev", "eth0"])?;
        Ok(out
            .split_whitespace()
            .skip_while(|t| *t != "lladdr")
            .nth(1)
            .map(str::to_string))
    }

    /// Forget the client's neighbour entries (a fresh client).
    pub fn client_flush_neigh(&self) -> Result<()> {
        self.ip("client", &["neigh", "flush", "dev", "eth0"])?;
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, s) in self.speakers.drain(..) {
            match s {
                Speaker::Thread(a) => {
                    let _ = a.stop();
                }
                Speaker::Process(pid) => self.lab.kill(pid),
            }
        }
    }
}
