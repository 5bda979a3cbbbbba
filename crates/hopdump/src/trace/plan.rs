//! Planning the path from live state: each node's interfaces, addresses, routes and sysctls,
//! who answers ARP for the LB IP, what the announcer's rules do to the flow, where each DNAT
//! target lives (node by its routes, pod namespace by its address), and the hops to capture.

use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hopdump_capture::Netns;
use hopdump_engine::{
    ArpObs, ArpResponder, EndpointEvidence, HopRole, Proto, RuleLine, RuleOutcome, RuleTarget,
    RulesEvidence, StopCause, Target,
};
use hopdump_node::analysis::arp::{Mode, NodeHint};
use hopdump_node::arp::ArpOptions;
use hopdump_rules::{Explanation, Fate, Flow, Hit, OutcomeKind};

/// A `--node`.
#[derive(Clone)]
pub struct NodeSpec {
    pub name: String,
    /// The node's namespace: on this host, or on its agent's (`Current` = the agent's own).
    pub netns: Netns,
    /// `agent:ADDR`: where its agent listens (connected by `trace` before planning).
    pub agent_addr: Option<std::net::SocketAddr>,
    pub access: crate::trace::remote::Access,
}

/// One interface of a namespace.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Iface {
    pub name: String,
    pub mac: Option<String>,
    pub mtu: u32,
    pub addrs: Vec<(IpAddr, u8)>,
}

/// `ip route get` answer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RouteGet {
    pub dev: Option<String>,
    pub gateway: Option<IpAddr>,
    pub error: Option<String>,
}

impl RouteGet {
    pub fn describe(&self) -> String {
        match (&self.error, &self.dev, &self.gateway) {
            (Some(e), _, _) => e.clone(),
            (None, Some(d), Some(g)) => format!("via {g} dev {d}"),
            (None, Some(d), None) => format!("dev {d}"),
            _ => "?".into(),
        }
    }
}

/// Parse `--node NAME=netns:NS|local|agent:ADDR` (ADDR = IP:PORT, IPv6 as [IP]:PORT).
pub fn parse_node(s: &str) -> Result<NodeSpec> {
    let (name, how) = s.split_once('=').with_context(|| {
        format!("--node {s:?}: expected NAME=netns:NS, NAME=local or NAME=agent:IP:PORT")
    })?;
    let mut agent_addr = None;
    let netns = if how == "local" {
        Netns::Current
    } else if let Some(ns) = how.strip_prefix("netns:") {
        hopdump_capture::netns::parse_netns(ns)?
    } else if let Some(a) = how.strip_prefix("agent:") {
        agent_addr = Some(a.parse::<std::net::SocketAddr>().with_context(|| {
            format!("--node {s:?}: agent address must be IP:PORT (IPv6: [IP]:PORT)")
        })?);
        Netns::Current
    } else {
        bail!("--node {s:?}: expected NAME=netns:NS, NAME=local or NAME=agent:IP:PORT");
    };
    if name.is_empty() {
        bail!("--node {s:?}: empty node name");
    }
    Ok(NodeSpec {
        name: name.to_string(),
        netns,
        agent_addr,
        access: crate::trace::remote::Access::Local,
    })
}

/// Parse `--client netns:NS`.
pub fn parse_client(s: Option<&str>) -> Result<Netns> {
    match s {
        None => Ok(Netns::Current),
        Some("local") => Ok(Netns::Current),
        Some(s) => match s.strip_prefix("netns:") {
            Some(ns) => Ok(hopdump_capture::netns::parse_netns(ns)?),
            None => bail!("--client {s:?}: expected netns:NS"),
        },
    }
}

/// Parse `IP:PORT[/tcp|/udp]`.
pub fn parse_target(s: &str) -> Result<Target> {
    let (addr, proto) = match s.rsplit_once('/') {
        Some((a, p)) => (
            a,
            match p {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => bail!("{s:?}: protocol must be tcp or udp"),
            },
        ),
        None => (s, Proto::Tcp),
    };
    let sa: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("{s:?}: expected IP:PORT[/tcp|/udp] (IPv6: [IP]:PORT)"))?;
    Ok(Target {
        ip: sa.ip(),
        port: sa.port(),
        proto,
    })
}

fn run_tool(args: &[&str]) -> std::result::Result<String, String> {
    match Command::new(args[0]).args(&args[1..]).output() {
        Err(e) => Err(format!("{}: {e}", args[0])),
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
    }
}

fn parse_ifaces(json: &str) -> Vec<Iface> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| {
            Some(Iface {
                name: i.get("ifname")?.as_str()?.to_string(),
                mac: i
                    .get("address")
                    .and_then(|a| a.as_str())
                    .map(|s| s.to_lowercase()),
                mtu: i.get("mtu").and_then(|m| m.as_u64()).unwrap_or(0) as u32,
                addrs: i
                    .get("addr_info")
                    .and_then(|a| a.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| {
                                Some((
                                    x.get("local")?.as_str()?.parse().ok()?,
                                    x.get("prefixlen")?.as_u64()? as u8,
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_route_get(r: std::result::Result<String, String>) -> RouteGet {
    match r {
        Err(e) => RouteGet {
            dev: None,
            gateway: None,
            error: Some(e.lines().next().unwrap_or("").to_string()),
        },
        Ok(j) => {
            let v: serde_json::Value = serde_json::from_str(&j).unwrap_or_default();
            let r = v.get(0).cloned().unwrap_or_default();
            let typ = r.get("type").and_then(|t| t.as_str()).unwrap_or("unicast");
            RouteGet {
                dev: r.get("dev").and_then(|d| d.as_str()).map(str::to_string),
                gateway: r
                    .get("gateway")
                    .and_then(|g| g.as_str())
                    .and_then(|g| g.parse().ok()),
                error: (typ != "unicast" && typ != "local").then(|| format!("{typ} route")),
            }
        }
    }
}

/// What `trace` needs to know of one namespace.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct NsInfo {
    pub ifaces: Vec<Iface>,
    /// (address asked, answer)
    pub routes: Vec<(IpAddr, RouteGet)>,
    /// rp_filter of `all` and each interface.
    pub rp_filter: Vec<(String, u32)>,
}

impl NsInfo {
    pub fn iface_with_mac(&self, mac: &str) -> Option<&Iface> {
        self.ifaces
            .iter()
            .find(|i| i.mac.as_deref() == Some(mac) && i.name != "lo")
    }

    pub fn route(&self, ip: IpAddr) -> Option<&RouteGet> {
        self.routes.iter().find(|(a, _)| *a == ip).map(|(_, r)| r)
    }

    pub fn iface(&self, name: &str) -> Option<&Iface> {
        self.ifaces.iter().find(|i| i.name == name)
    }

    pub fn rp(&self, iface: &str) -> Option<u32> {
        let all = self.rp_filter.iter().find(|(i, _)| i == "all")?.1;
        let one = self
            .rp_filter
            .iter()
            .find(|(i, _)| i == iface)
            .map(|(_, v)| *v)
            .unwrap_or(0);
        Some(all.max(one))
    }
}

/// Read interfaces, the routes to `ask` and rp_filter inside `netns`.
pub fn ns_info(netns: &Netns, ask: Vec<IpAddr>) -> Result<NsInfo> {
    crate::node_state::in_netns(netns, move || {
        let ifaces = run_tool(&["ip", "-j", "addr", "show"])
            .map(|j| parse_ifaces(&j))
            .unwrap_or_default();
        let routes = ask
            .iter()
            .map(|ip| {
                let s = ip.to_string();
                (
                    *ip,
                    parse_route_get(run_tool(&["ip", "-j", "route", "get", &s])),
                )
            })
            .collect();
        let mut rp_filter = Vec::new();
        for i in std::iter::once("all".to_string()).chain(ifaces.iter().map(|i| i.name.clone())) {
            if let Ok(v) = std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{i}/rp_filter"))
                && let Ok(v) = v.trim().parse()
            {
                rp_filter.push((i, v));
            }
        }
        NsInfo {
            ifaces,
            routes,
            rp_filter,
        }
    })
}

/// Ask ARP/NDP for the LB IP from the client, naming MACs with the nodes' interfaces.
pub fn arp(
    client: &Netns,
    lb: IpAddr,
    nodes: &[(NodeSpec, NsInfo)],
) -> Result<(ArpObs, String, Option<String>)> {
    let hints: Vec<NodeHint> = nodes
        .iter()
        .flat_map(|(n, info)| {
            info.ifaces.iter().filter_map(|i| {
                Some(NodeHint {
                    name: n.name.clone(),
                    iface: Some(i.name.clone()),
                    mac: i.mac.clone()?,
                })
            })
        })
        .filter(|h| h.mac != "00:00:00:00:00:00")
        .collect();
    let opts = ArpOptions {
        target: lb,
        iface: None,
        mode: Mode::Active,
        duration: Some(Duration::from_millis(600)),
        requests: 3,
        hints,
        expect_iface: None,
        netns_label: client.to_string(),
    };
    let stop = AtomicBool::new(false);
    let cached = hopdump_node::in_netns(client, "neighbours", move || {
        hopdump_node::rtnl::neighbours()
    })
    .ok()
    .and_then(|ns| {
        ns.into_iter()
            // NUD_INCOMPLETE (0x01) and NUD_FAILED (0x20) hold no usable MAC.
            .find(|n| n.ip == lb && n.state & 0x21 == 0)
            .map(|n| hopdump_node::frames::mac_str(&n.mac))
    });
    let ev = hopdump_node::in_netns(client, "arp", move || {
        hopdump_node::arp::collect(&opts, &stop, |_| {}, |_| {})
    })?;
    let responders = hopdump_node::analysis::arp::responders(&ev);
    let obs = ArpObs {
        asked: true,
        requests: ev.events.iter().filter(|e| e.ours).count() as u32,
        responders: responders
            .iter()
            .map(|r| ArpResponder {
                mac: r.mac.clone(),
                node: r.node.clone(),
                iface: r.iface.clone(),
                frames: r.count,
            })
            .collect(),
        cached_mac: cached.clone(),
    };
    Ok((obs, ev.iface.clone(), cached))
}

fn hit_line(h: &Hit) -> String {
    format!(
        "{} {}/{} rule {}: {} -> {}",
        h.source, h.table, h.chain, h.rule, h.text, h.action
    )
}

fn stop_of(path: &[Hit]) -> Option<RuleLine> {
    let last = path.last()?;
    let (meaning, cause) = hopdump_rules::stop_reason(path);
    Some(RuleLine {
        text: hit_line(last),
        owner: last.owner.kind.to_string(),
        meaning: meaning.map(str::to_string),
        cause: cause.map(|c| match c {
            hopdump_rules::Cause::NoEndpoints => StopCause::NoEndpoints,
            hopdump_rules::Cause::NoLocalEndpoints => StopCause::NoLocalEndpoints,
            hopdump_rules::Cause::SourceRangeBlocked => StopCause::SourceRangeBlocked,
            hopdump_rules::Cause::InvalidClusterIp => StopCause::InvalidClusterIp,
        }),
    })
}

fn split_addr(s: &str) -> Option<(IpAddr, u16)> {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some((sa.ip(), sa.port()));
    }
    let (ip, port) = s.rsplit_once(':')?;
    Some((
        ip.trim_matches(['[', ']']).parse().ok()?,
        port.parse().ok()?,
    ))
}

/// `rules explain` reduced to the engine's evidence.
pub fn rules_evidence(x: &Explanation) -> RulesEvidence {
    let outcome = match x.outcome.kind {
        OutcomeKind::Dnat => RuleOutcome::Dnat,
        OutcomeKind::Accept => RuleOutcome::Accept,
        OutcomeKind::Drop => RuleOutcome::Drop,
        OutcomeKind::Reject => RuleOutcome::Reject,
        OutcomeKind::NoMatch => RuleOutcome::NoMatch,
    };
    let targets = x
        .outcome
        .targets
        .iter()
        .filter_map(|t| {
            let (addr, port) = split_addr(&t.addr)?;
            let stop = x
                .branches
                .iter()
                .find(|b| {
                    b.dnat_to.as_deref() == Some(t.addr.as_str())
                        && matches!(b.fate, Fate::Dropped | Fate::Rejected)
                })
                .and_then(|b| stop_of(&b.path));
            Some(RuleTarget {
                addr,
                port,
                probability: t.probability,
                fate: match t.fate {
                    Fate::Local => "local",
                    Fate::Forwarded => "forwarded",
                    Fate::Dropped => "dropped",
                    Fate::Rejected => "rejected",
                }
                .into(),
                stop,
            })
        })
        .collect();
    let f = &x.flow;
    RulesEvidence {
        flow: format!(
            "{}:{} > {}:{}/{}",
            f.src,
            f.sport,
            f.dst,
            f.dport,
            f.proto.name()
        ),
        outcome,
        summary: x.outcome.summary.clone(),
        targets,
        stop: if matches!(
            outcome,
            RuleOutcome::Drop | RuleOutcome::Reject | RuleOutcome::NoMatch
        ) {
            stop_of(&x.path)
        } else {
            None
        },
        path: x.path.iter().map(hit_line).collect(),
        masquerade: x.outcome.masquerade,
        certain: x.certain,
    }
}

/// Read rules on a node and explain one flow there.
pub fn explain_on(netns: &Netns, flow: Flow, v6: bool) -> Result<RulesEvidence> {
    let src = crate::node_state::Sources {
        netns,
        iptables_files: &[],
        nft_file: None,
        ipvs_file: None,
        ipset_file: None,
    };
    let loaded = crate::node_state::load(&src, v6, &[])?;
    let x = hopdump_rules::explain(&loaded.rules, &flow, &loaded.ctx);
    Ok(rules_evidence(&x))
}

/// Which node delivers `ip` locally: its route has no gateway and leaves by a pod-facing
/// device (not the uplink, not lo).
pub fn owner_node<'a>(
    ip: IpAddr,
    nodes: &'a [(NodeSpec, NsInfo)],
    uplinks: &[Option<String>],
) -> Option<&'a str> {
    nodes.iter().zip(uplinks).find_map(|((n, info), up)| {
        let r = info.route(ip)?;
        let dev = r.dev.as_deref()?;
        (r.error.is_none() && r.gateway.is_none() && dev != "lo" && Some(dev) != up.as_deref())
            .then_some(n.name.as_str())
    })
}

/// Addresses of the calling thread's namespace.
fn thread_addrs() -> Vec<(String, IpAddr)> {
    let mut v = Vec::new();
    // SAFETY: getifaddrs allocates a list we walk read-only and free with freeifaddrs.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return v;
        }
        let mut p = list;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() && !(*p).ifa_name.is_null() {
                let name = std::ffi::CStr::from_ptr((*p).ifa_name)
                    .to_string_lossy()
                    .into_owned();
                match i32::from((*a).sa_family) {
                    libc::AF_INET => {
                        let sin = a as *const libc::sockaddr_in;
                        v.push((
                            name,
                            IpAddr::from(u32::from_be((*sin).sin_addr.s_addr).to_be_bytes()),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = a as *const libc::sockaddr_in6;
                        v.push((name, IpAddr::from((*sin6).sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    v
}

/// The `ip netns` name of the namespace the calling thread's `dev` (a veth) leads into.
fn peer_netns_name(dev: &str) -> Option<String> {
    let link: serde_json::Value =
        serde_json::from_str(&run_tool(&["ip", "-j", "link", "show", "dev", dev]).ok()?).ok()?;
    let id = link.get(0)?.get("link_netnsid")?.as_i64()?;
    let ids: serde_json::Value =
        serde_json::from_str(&run_tool(&["ip", "-j", "netns", "list-id"]).ok()?).ok()?;
    ids.as_array()?
        .iter()
        .find(|e| e.get("nsid").and_then(|n| n.as_i64()) == Some(id))?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// `ip netns` names of the namespaces at the other end of this namespace's veths.
fn own_peer_netns_names() -> Vec<String> {
    let ids: serde_json::Value = run_tool(&["ip", "-j", "netns", "list-id"])
        .ok()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    let links: serde_json::Value = run_tool(&["ip", "-j", "link", "show"])
        .ok()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    let Some(links) = links.as_array() else {
        return Vec::new();
    };
    links
        .iter()
        .filter_map(|l| l.get("link_netnsid")?.as_i64())
        .filter_map(|id| {
            ids.as_array()?
                .iter()
                .find(|e| e.get("nsid").and_then(|n| n.as_i64()) == Some(id))?
                .get("name")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// Find the network namespace holding `ip` (a pod, found by its address): named namespaces
/// first, then those of processes. Several candidates (labs, copies): the one whose name is
/// closest to the node's. Returns (netns, display name, interface).
pub fn find_pod_netns(ip: IpAddr, near: &Netns) -> Option<(Netns, String, String)> {
    let near_name = match near {
        Netns::Named(n) => n.clone(),
        _ => String::new(),
    };
    let mut cands: Vec<(Netns, String, String)> = Vec::new();
    let mut seen_inodes = std::collections::HashSet::new();
    let mut candidates: Vec<(Netns, String)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(m) = std::fs::metadata(e.path()) {
                use std::os::unix::fs::MetadataExt;
                seen_inodes.insert(m.ino());
            }
            candidates.push((Netns::Named(name.clone()), name));
        }
    }
    if near_name.is_empty()
        && let Ok(rd) = std::fs::read_dir("/proc")
    {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(m) = std::fs::metadata(format!("/proc/{pid}/ns/net")) {
                use std::os::unix::fs::MetadataExt;
                if seen_inodes.insert(m.ino()) {
                    candidates.push((Netns::Pid(pid), format!("pid:{pid}")));
                }
            }
        }
    }
    let handles: Vec<_> = candidates
        .into_iter()
        .map(|(ns, name)| {
            std::thread::spawn(move || {
                hopdump_capture::netns::enter_ns(&ns, "pod lookup").ok()?;
                let hit = thread_addrs()
                    .into_iter()
                    .find(|(i, a)| *a == ip && i != "lo")?;
                let peer = peer_netns_name(&hit.0);
                Some((ns, name, hit.0, peer))
            })
        })
        .collect();
    for h in handles {
        if let Ok(Some((ns, name, dev, peer))) = h.join() {
            // With a named node, the pod's veth must lead into that node's namespace.
            if near_name.is_empty() || peer.as_deref() == Some(near_name.as_str()) {
                cands.push((ns, name, dev));
            }
        }
    }
    if let Netns::Named(n) = near {
        // The node itself holding the address is not a pod.
        cands.retain(|(_, name, _)| name != n);
    }
    if *near == Netns::Current && !cands.is_empty() {
        // On a node (an agent): a named pod namespace must be behind one of this
        // namespace's own veths (another node's, or another lab's, is not ours).
        let peers = own_peer_netns_names();
        cands.retain(|(ns, name, _)| !matches!(ns, Netns::Named(_)) || peers.contains(name));
    }
    cands.sort_by_key(|(_, name, _)| std::cmp::Reverse(common_prefix(name, &near_name)));
    cands.into_iter().next()
}

/// A capture point on the path.
#[derive(Clone)]
pub struct HopPlan {
    pub node: String,
    pub iface: String,
    pub role: HopRole,
    /// Its namespace, on this host or on the node's agent's.
    pub netns: Netns,
    pub endpoint: Option<IpAddr>,
    /// Interface name inside its namespace.
    pub dev: String,
    pub access: crate::trace::remote::Access,
    /// Why it was not (fully) captured.
    pub error: Option<String>,
}

impl HopPlan {
    pub fn label(&self) -> String {
        format!("{}/{}", self.node, self.iface)
    }
}

/// Endpoints with where they live.
pub fn endpoints(
    targets: &[RuleTarget],
    nodes: &[(NodeSpec, NsInfo)],
    uplinks: &[Option<String>],
) -> Vec<(EndpointEvidence, Option<(Netns, String)>)> {
    targets
        .iter()
        .map(|t| {
            let node = owner_node(t.addr, nodes, uplinks).map(str::to_string);
            let spec = node
                .as_deref()
                .and_then(|n| nodes.iter().find(|(s, _)| s.name == n))
                .map(|(s, _)| s);
            let found = match spec {
                Some(s) => crate::trace::remote::find_pod(&s.access, &s.netns, t.addr),
                // Unknown node: look on this host only when some node is on it.
                None if nodes
                    .iter()
                    .any(|(s, _)| matches!(s.access, crate::trace::remote::Access::Local)) =>
                {
                    find_pod_netns(t.addr, &Netns::Current)
                }
                None => None,
            };
            (
                EndpointEvidence {
                    addr: t.addr,
                    port: t.port,
                    node,
                    pod_netns: found.as_ref().map(|(_, n, _)| n.clone()),
                    exists: found.is_some(),
                },
                found.map(|(ns, _, dev)| (ns, dev)),
            )
        })
        .collect()
}
