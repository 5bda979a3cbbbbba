//! `hopdump trace`: where LoadBalancer traffic dies, and why. Reads top to bottom: plan hops ->
//! start captures (wait until ready) -> send probes -> stop -> correlate -> collect node
//! evidence -> diagnose -> render. The verdict comes from hopdump-engine.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hopdump_capture::{LiveCapture, LiveOptions, Netns, PointSpec};
use hopdump_engine::{
    Evidence, Finding, Hop, HopCounts, HopRole, NodeEvidence, TraceReport, diagnose,
};
use hopdump_rules::{Flow, Proto as RProto};
use hopdump_wire::LinkType;

use crate::cli::TraceArgs;
use crate::trace::collect::{self, Matcher};
use crate::trace::plan::{self, HopPlan, NodeSpec, NsInfo};
use crate::trace::probe;
use crate::trace::remote;

/// A captured frame kept until correlation.
struct Captured {
    point: usize,
    ts_ns: u64,
    orig_len: u32,
    data: Vec<u8>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

/// Frames, their points, kernel drops and the traced namespaces (inode, node).
type Observed = (
    Vec<Captured>,
    Vec<hopdump_capture::PointInfo>,
    Vec<hopdump_drops::DropEvent>,
    Vec<(u32, String)>,
);

/// Everything the plan step found.
struct Planned {
    ev: Evidence,
    hops: Vec<HopPlan>,
    client_ns: Netns,
    nodes: Vec<(NodeSpec, NsInfo)>,
    /// One line per agent: its clock offset, or why it is down.
    agents: Vec<String>,
    /// The live view's feed (`--tui`).
    tui: Option<Tui>,
}

type Tui = std::sync::mpsc::Sender<hopdump_tui::TuiEvent>;

/// Feed the live view, if any (a closed view is not an error: the trace goes on).
fn tui_send(t: &Option<Tui>, e: hopdump_tui::TuiEvent) {
    if let Some(tx) = t {
        let _ = tx.send(e);
    }
}

/// Connect every `agent:` node (in parallel) and estimate its clock; an agent that cannot
/// be reached or refuses us makes its node unobserved.
fn connect_agents(specs: &mut [NodeSpec], creds: &remote::AgentCreds) -> Result<()> {
    if specs.iter().all(|s| s.agent_addr.is_none()) {
        return Ok(());
    }
    let opts = creds.client_options()?;
    let handles: Vec<_> = specs
        .iter()
        .map(|s| {
            let (name, addr, opts) = (s.name.clone(), s.agent_addr, opts.clone());
            std::thread::spawn(move || addr.map(|a| remote::connect(&name, a, &opts)))
        })
        .collect();
    for (s, h) in specs.iter_mut().zip(handles) {
        match h.join() {
            Ok(Some(a)) => s.access = a,
            Ok(None) => {}
            Err(_) => s.access = remote::Access::Down("agent connection panicked".into()),
        }
    }
    Ok(())
}

/// A node's interfaces and routes; an agent that fails here leaves its node unobserved
/// (a local namespace that cannot be read is the user's mistake: an error).
fn node_info(s: &mut NodeSpec, ask: Vec<IpAddr>) -> Result<NsInfo> {
    match remote::ns_info(&s.access, &s.netns, ask) {
        Ok(i) => Ok(i),
        Err(e) if matches!(s.access, remote::Access::Local) => Err(e),
        Err(e) => {
            if s.access.down().is_none() {
                s.access = remote::Access::Down(format!("{e:#}"));
            }
            Ok(NsInfo::default())
        }
    }
}

/// Step 1: nodes' state, ARP, rules on the announcer, endpoints, hops.
fn plan_path(args: &TraceArgs) -> Result<Planned> {
    let target = plan::parse_target(&args.target)?;
    let mut specs = args
        .nodes
        .iter()
        .map(|s| plan::parse_node(s))
        .collect::<Result<Vec<_>>>()?;
    if specs.is_empty() {
        bail!(
            "give the nodes with --node NAME=netns:NS, NAME=local or NAME=agent:IP:PORT (or svc/NAME with agents in the cluster)"
        );
    }
    connect_agents(&mut specs, &args.agent_creds())?;
    let agents: Vec<String> = specs
        .iter()
        .filter_map(|s| match &s.access {
            remote::Access::Agent(r) => Some(format!(
                "agent {}: clock offset {:+.3} ms (±{:.3} ms)",
                r.client.label,
                r.offset_ns as f64 / 1e6,
                r.rtt_ns as f64 / 2e6
            )),
            remote::Access::Down(why) => Some(format!("agent of {}: DOWN: {why}", s.name)),
            remote::Access::Local => None,
        })
        .collect();
    let client_ns = plan::parse_client(args.client.as_deref())?;
    let client_info = plan::ns_info(&client_ns, vec![target.ip])?;
    let v6 = target.ip.is_ipv6();
    let mut ev = Evidence {
        target: Some(target),
        started_unix_ms: unix_ms(),
        probed: !args.no_probe,
        ..Evidence::default()
    };
    // Nodes' interfaces first (their MACs name the ARP answers).
    let infos: Vec<NsInfo> = specs
        .iter_mut()
        .map(|s| node_info(s, Vec::new()))
        .collect::<Result<_>>()?;
    for s in &specs {
        if let Some(why) = s.access.down() {
            ev.missing.push(format!("{}: not observed: {why}", s.name));
        }
    }
    let mut nodes: Vec<(NodeSpec, NsInfo)> = specs.into_iter().zip(infos).collect();
    let (arp, client_iface, _) = plan::arp(&client_ns, target.ip, &nodes)?;
    let client_ip = client_info
        .iface(&client_iface)
        .and_then(|i| i.addrs.iter().map(|(a, _)| *a).find(|a| a.is_ipv6() == v6));
    ev.client = client_ip;
    ev.announcer = arp.responders.iter().filter_map(|r| r.node.clone()).next();
    if ev.announcer.is_none()
        && arp.responders.is_empty()
        && let Some(m) = &arp.cached_mac
    {
        ev.announcer = nodes
            .iter()
            .find(|(_, i)| i.iface_with_mac(m).is_some())
            .map(|(n, _)| n.name.clone());
    }
    let announcer_uplink = |nodes: &[(NodeSpec, NsInfo)], name: &str| -> Option<String> {
        let (_, info) = nodes.iter().find(|(n, _)| n.name == name)?;
        arp.responders
            .iter()
            .chain(std::iter::empty())
            .find_map(|r| info.iface_with_mac(&r.mac).map(|i| i.name.clone()))
            .or_else(|| {
                arp.cached_mac
                    .as_deref()
                    .and_then(|m| info.iface_with_mac(m))
                    .map(|i| i.name.clone())
            })
    };
    // Rules of the LB flow on every node (the announcer's decides; the others tell a
    // withdrawn or conflicting speaker apart), read in parallel.
    let flow = Flow {
        src: client_ip.unwrap_or(if v6 {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 10))
        }),
        sport: 33333,
        dst: target.ip,
        dport: target.port,
        proto: match target.proto {
            hopdump_engine::Proto::Tcp => RProto::Tcp,
            hopdump_engine::Proto::Udp => RProto::Udp,
        },
        in_iface: None,
    };
    let handles: Vec<_> = nodes
        .iter()
        .map(|(n, info)| {
            let netns = n.netns.clone();
            let access = n.access.clone();
            let mut flow = flow.clone();
            flow.in_iface = announcer_uplink(&nodes, &n.name).or_else(|| {
                client_ip
                    .and_then(|_| info.ifaces.iter().find(|i| i.name != "lo"))
                    .map(|i| i.name.clone())
            });
            std::thread::spawn(move || remote::explain(&access, &netns, flow, v6))
        })
        .collect();
    let mut node_ev: Vec<NodeEvidence> = Vec::new();
    for ((n, _), h) in nodes.iter().zip(handles) {
        let mut ne = NodeEvidence {
            name: n.name.clone(),
            uplink: announcer_uplink(&nodes, &n.name),
            unobserved: n.access.down().map(str::to_string),
            ..NodeEvidence::default()
        };
        match h.join() {
            Ok(Ok(r)) => ne.rules = Some(r),
            Ok(Err(e)) => {
                ne.notes.push(format!("rules: {e:#}"));
                ev.missing.push(format!("rules of {}: {e:#}", n.name));
            }
            Err(_) => ev
                .missing
                .push(format!("rules of {}: reader panicked", n.name)),
        }
        node_ev.push(ne);
    }
    // Endpoints: the announcer's DNAT targets.
    let targets = ev
        .announcer
        .as_deref()
        .and_then(|a| node_ev.iter().find(|n| n.name == a))
        .and_then(|n| n.rules.as_ref())
        .map(|r| r.targets.clone())
        .unwrap_or_default();
    // Routes on every node to each endpoint and to the client.
    let mut ask: Vec<IpAddr> = targets.iter().map(|t| t.addr).collect();
    ask.extend(client_ip);
    for (n, info) in nodes.iter_mut() {
        *info = node_info(n, ask.clone())?;
        if let Some(why) = n.access.down()
            && let Some(ne) = node_ev.iter_mut().find(|x| x.name == n.name)
        {
            ne.unobserved = Some(why.to_string());
        }
    }
    let uplinks: Vec<Option<String>> = nodes
        .iter()
        .map(|(n, info)| {
            announcer_uplink(&nodes, &n.name).or_else(|| {
                client_ip
                    .and_then(|c| info.route(c))
                    .and_then(|r| r.dev.clone())
            })
        })
        .collect();
    let eps = plan::endpoints(&targets, &nodes, &uplinks);
    for ((n, info), (ne, up)) in nodes.iter().zip(node_ev.iter_mut().zip(&uplinks)) {
        debug_assert_eq!(n.name, ne.name);
        ne.uplink = up.clone();
        ne.route_to_client = client_ip
            .and_then(|c| info.route(c))
            .and_then(|r| r.dev.clone());
        ne.rp_filter = up.as_deref().and_then(|u| info.rp(u));
        ne.mtus = info
            .ifaces
            .iter()
            .filter(|i| i.name != "lo")
            .map(|i| (i.name.clone(), i.mtu))
            .collect();
        ne.routes = targets
            .iter()
            .filter_map(|t| info.route(t.addr).map(|r| (t.addr, r.describe())))
            .collect();
    }
    // Hops: client NIC, announcer uplink (+ overlay), then per endpoint node: uplink,
    // pod network device, the pod.
    let mut hops: Vec<HopPlan> = Vec::new();
    let mut add = |h: HopPlan| {
        if !hops.iter().any(|x| x.label() == h.label()) {
            hops.push(h);
        }
    };
    add(HopPlan {
        node: "client".into(),
        iface: client_iface.clone(),
        role: HopRole::Client,
        netns: client_ns.clone(),
        endpoint: None,
        dev: client_iface.clone(),
        access: remote::Access::Local,
        error: None,
    });
    if let Some(a) = ev.announcer.clone()
        && let Some(((spec, info), up)) = nodes.iter().zip(&uplinks).find(|((n, _), _)| n.name == a)
    {
        if let Some(up) = up {
            add(HopPlan {
                node: a.clone(),
                iface: up.clone(),
                role: HopRole::Uplink,
                netns: spec.netns.clone(),
                endpoint: None,
                dev: up.clone(),
                access: spec.access.clone(),
                error: None,
            });
        }
        for (e, _) in &eps {
            if e.node.as_deref() == Some(a.as_str()) {
                continue;
            }
            if let Some(dev) = info.route(e.addr).and_then(|r| r.dev.clone())
                && Some(&dev) != up.as_ref()
            {
                add(HopPlan {
                    node: a.clone(),
                    iface: dev.clone(),
                    role: HopRole::Overlay,
                    netns: spec.netns.clone(),
                    endpoint: None,
                    dev,
                    access: spec.access.clone(),
                    error: None,
                });
            }
        }
        for ((e, pod), _) in eps.iter().zip(0..) {
            let Some(en) = e.node.as_deref() else {
                continue;
            };
            let Some(((espec, einfo), eup)) =
                nodes.iter().zip(&uplinks).find(|((n, _), _)| n.name == en)
            else {
                continue;
            };
            if en != a
                && let Some(eup) = eup
            {
                add(HopPlan {
                    node: en.to_string(),
                    iface: eup.clone(),
                    role: HopRole::RemoteUplink,
                    netns: espec.netns.clone(),
                    endpoint: None,
                    dev: eup.clone(),
                    access: espec.access.clone(),
                    error: None,
                });
            }
            if let Some(dev) = einfo.route(e.addr).and_then(|r| r.dev.clone()) {
                add(HopPlan {
                    node: en.to_string(),
                    iface: dev.clone(),
                    role: HopRole::PodNetwork,
                    netns: espec.netns.clone(),
                    endpoint: None,
                    dev,
                    access: espec.access.clone(),
                    error: None,
                });
            }
            if let Some((pns, pdev)) = pod {
                add(HopPlan {
                    node: en.to_string(),
                    iface: format!("pod-{}:{pdev}", e.addr),
                    role: HopRole::Pod,
                    netns: pns.clone(),
                    endpoint: Some(e.addr),
                    dev: pdev.clone(),
                    access: espec.access.clone(),
                    error: None,
                });
            }
        }
    }
    ev.arp = arp;
    ev.nodes = node_ev;
    ev.endpoints = eps.into_iter().map(|(e, _)| e).collect();
    Ok(Planned {
        ev,
        hops,
        client_ns,
        nodes,
        agents,
        tui: None,
    })
}

fn capture_filter(ev: &Evidence) -> String {
    let mut hosts: Vec<IpAddr> = ev.target.map(|t| t.ip).into_iter().collect();
    hosts.extend(ev.endpoints.iter().map(|e| e.addr));
    let mut parts: Vec<String> = hosts.iter().map(|h| format!("host {h}")).collect();
    parts.push("icmp".into());
    parts.push("icmp6".into());
    parts.push("udp port 8472 or udp port 4789 or udp port 6081".into());
    parts.join(" or ")
}

/// A PointInfo for a hop captured by an agent (what its stream's interface block said).
fn remote_point(h: &HopPlan, link: Option<(u32, u32)>, filter: &str) -> hopdump_capture::PointInfo {
    let (linktype, snaplen) = link.unwrap_or((1, 262_144));
    hopdump_capture::PointInfo {
        spec: PointSpec {
            label: h.label(),
            netns: h.netns.clone(),
            iface: h.dev.clone(),
        },
        linktype,
        linktype_name: String::new(),
        snaplen,
        ifindex: None,
        netns_inode: None,
        filter: Some(filter.to_string()),
        ifnames: Vec::new(),
    }
}

/// The hops one agent captures: (agent, indices into the plan's hops).
fn agent_groups(hops: &[HopPlan]) -> Vec<(Arc<remote::Remote>, Vec<usize>)> {
    let mut groups: Vec<(Arc<remote::Remote>, Vec<usize>)> = Vec::new();
    for (i, h) in hops.iter().enumerate() {
        if let Some(r) = h.access.remote() {
            match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, r)) {
                Some((_, v)) => v.push(i),
                None => groups.push((r.clone(), vec![i])),
            }
        }
    }
    groups
}

/// A node became unobserved during the window.
fn mark_unobserved(p: &mut Planned, node: &str, why: &str) {
    if let Some(ne) = p.ev.nodes.iter_mut().find(|n| n.name == node)
        && ne.unobserved.is_none()
    {
        ne.unobserved = Some(why.to_string());
    }
    p.ev.missing.push(format!("{node}: {why}"));
}

/// The live view's counters and packet lines, from copies of the captured frames, until the
/// capture ends (its sender goes away).
fn feed_live_view(
    tx: &Tui,
    m: &Matcher,
    links: &[LinkType],
    frames: &std::sync::mpsc::Receiver<(usize, u32, Vec<u8>)>,
) {
    let mut counts: Vec<HopCounts> = vec![HopCounts::default(); links.len()];
    let send_counts = |counts: &[HopCounts]| {
        for (hop, c) in counts.iter().enumerate() {
            let _ = tx.send(hopdump_tui::TuiEvent::Counts {
                hop,
                counts: c.into(),
            });
        }
    };
    let mut last = Instant::now();
    for (point, orig_len, data) in frames {
        let link = links.get(point).copied().unwrap_or(LinkType::Ethernet);
        let (Some(seen), Some(c)) = (m.classify(link, &data, orig_len), counts.get_mut(point))
        else {
            continue;
        };
        collect::count(c, &seen, link, &data, orig_len);
        let _ = tx.send(hopdump_tui::TuiEvent::Packet {
            hop: point,
            line: collect::packet_line(link, &data, orig_len),
        });
        if last.elapsed() > Duration::from_millis(100) {
            last = Instant::now();
            send_counts(&counts);
        }
    }
    send_counts(&counts);
}

/// Steps 2-4: capture all hops (here and through agents) and trace drops, probe, stop.
fn observe(p: &mut Planned, args: &TraceArgs, duration: Duration) -> Result<Observed> {
    let filter = capture_filter(&p.ev);
    // Hops of unreachable agents are not captured: say so on the hop.
    for h in &mut p.hops {
        if let Some(why) = h.access.down() {
            h.error = Some(format!("not captured: {why}"));
        }
    }
    let local: Vec<usize> = (0..p.hops.len())
        .filter(|&i| matches!(p.hops[i].access, remote::Access::Local))
        .collect();
    let specs: Vec<PointSpec> = local
        .iter()
        .map(|&i| PointSpec {
            label: p.hops[i].label(),
            netns: p.hops[i].netns.clone(),
            iface: p.hops[i].dev.clone(),
        })
        .collect();
    let opts = LiveOptions {
        snaplen: 262_144,
        promisc: false,
        filter: Some(filter.clone()),
        immediate: true,
        ..LiveOptions::default()
    };
    let local_count = specs.len();
    let live = if specs.is_empty() {
        None
    } else {
        Some(LiveCapture::start(&specs, &opts).context("start captures")?)
    };
    let mut infos: Vec<hopdump_capture::PointInfo> = p
        .hops
        .iter()
        .map(|h| remote_point(h, None, &filter))
        .collect();
    if let Some(l) = &live {
        for (&i, info) in local.iter().zip(l.points()) {
            infos[i] = info.clone();
        }
    }
    // Agents: arm their captures and drop tracing in parallel; each answers once armed.
    // They run until told to stop (or an upper bound if we die).
    let bound = duration + Duration::from_secs(60);
    let groups = agent_groups(&p.hops);
    let armed: Vec<_> = groups
        .iter()
        .map(|(r, idx)| {
            let r = r.clone();
            let points: Vec<(String, Netns, String)> = idx
                .iter()
                .map(|&i| {
                    (
                        p.hops[i].label(),
                        p.hops[i].netns.clone(),
                        p.hops[i].dev.clone(),
                    )
                })
                .collect();
            let mut ns: Vec<(Netns, String)> = vec![(Netns::Current, p.hops[idx[0]].node.clone())];
            for &i in idx {
                let h = &p.hops[i];
                if h.role == HopRole::Pod && !ns.iter().any(|(n, _)| *n == h.netns) {
                    ns.push((h.netns.clone(), h.node.clone()));
                }
            }
            let filter = filter.clone();
            std::thread::spawn(move || {
                let cap = remote::start_capture(&r, points, &filter, bound);
                let drops = remote::start_drops(&r, ns, bound);
                (cap, drops)
            })
        })
        .collect();
    // (the agent's hops, its armed capture, its armed drop tracing)
    let mut armed_ok = Vec::new();
    for ((_, idx), h) in groups.iter().zip(armed) {
        let node = p.hops[idx[0]].node.clone();
        match h.join() {
            Ok((cap, drops)) => {
                let cap = match cap {
                    Ok(c) => Some(c),
                    Err(e) => {
                        let why = format!("capture through its agent failed: {e:#}");
                        for &i in idx {
                            p.hops[i].error = Some(why.clone());
                        }
                        mark_unobserved(p, &node, &why);
                        None
                    }
                };
                let drops = match drops {
                    Ok(d) => Some(d),
                    Err(e) => {
                        p.ev.missing
                            .push(format!("kernel drop reasons on {node}: {e:#}"));
                        None
                    }
                };
                armed_ok.push((idx.clone(), cap, drops));
            }
            Err(_) => mark_unobserved(p, &node, "agent thread panicked"),
        }
    }
    let agent_hops: usize = armed_ok
        .iter()
        .filter(|(_, cap, _)| cap.is_some())
        .map(|(idx, _, _)| idx.len())
        .sum();
    let drops_remote = armed_ok.iter().filter(|(_, _, d)| d.is_some()).count();
    // Kernel drop tracing here, on the local nodes (and pods) of the path.
    let mut ns_names: Vec<(u32, String)> = Vec::new();
    for (n, _) in p
        .nodes
        .iter()
        .filter(|(n, _)| matches!(n.access, remote::Access::Local))
    {
        let path = n
            .netns
            .path()
            .unwrap_or_else(|| "/proc/thread-self/ns/net".into());
        if let Ok(ino) = hopdump_drops::netns_inode(&path) {
            ns_names.push((ino, n.name.clone()));
        }
    }
    for h in p
        .hops
        .iter()
        .filter(|h| h.role == HopRole::Pod && matches!(h.access, remote::Access::Local))
    {
        if let Some(path) = h.netns.path()
            && let Ok(ino) = hopdump_drops::netns_inode(&path)
        {
            ns_names.push((ino, h.node.clone()));
        }
    }
    let tracer = if ns_names.is_empty() {
        None
    } else {
        match hopdump_drops::Tracer::start(&hopdump_drops::TraceOptions {
            filter: String::new(),
            netns: ns_names.clone(),
            keep_noise: false,
            backend: hopdump_drops::Backend::Auto,
            allow_tracefs: false,
        }) {
            Ok(t) => Some(t),
            Err(e) => {
                p.ev.missing.push(format!(
                    "kernel drop reasons: {e} (needs root and eBPF; `hopdump drops` tells more)"
                ));
                None
            }
        }
    };
    tui_send(
        &p.tui,
        hopdump_tui::TuiEvent::Armed {
            window_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        },
    );
    // The live view counts and prints frames on its own thread, fed copies through a bounded
    // queue the capture loop never waits on (the view is best effort; the verdict recounts
    // everything after the window).
    let live_feed = p.tui.clone().zip(p.ev.target).map(|(tx, target)| {
        let m = Matcher {
            target,
            client: p.ev.client,
            endpoints: p.ev.endpoints.iter().map(|e| (e.addr, e.port)).collect(),
            probe_ports: Vec::new(),
        };
        let links: Vec<LinkType> = infos
            .iter()
            .map(|i| LinkType::from_linktype(i.linktype))
            .collect();
        let (feed, frames) = std::sync::mpsc::sync_channel::<(usize, u32, Vec<u8>)>(4096);
        std::thread::spawn(move || feed_live_view(&tx, &m, &links, &frames));
        feed
    });
    let stop = Arc::new(AtomicBool::new(false));
    // Ctrl-C or SIGTERM ends the window early: what was seen until then is correlated,
    // diagnosed, printed and written (-w) as usual. A second one ends hopdump at once (130).
    let interrupted = Arc::new(AtomicBool::new(false));
    for (sig, code) in [
        (signal_hook::consts::SIGINT, 130),
        (signal_hook::consts::SIGTERM, 143),
    ] {
        signal_hook::flag::register_conditional_shutdown(sig, code, interrupted.clone())
            .context("cannot install signal handler")?;
        signal_hook::flag::register(sig, interrupted.clone())
            .context("cannot install signal handler")?;
    }
    let stop2 = stop.clone();
    let cap = std::thread::spawn(move || {
        let mut frames = Vec::new();
        let Some(live) = live else {
            return (frames, Ok(Vec::new()));
        };
        let stats = live.run(&stop2, |f| {
            let point = local[f.point];
            if let Some(feed) = &live_feed {
                let _ = feed.try_send((point, f.orig_len, f.data.to_vec()));
            }
            frames.push(Captured {
                point,
                ts_ns: f.ts_ns,
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            });
            frames.len() < 200_000
        });
        (frames, stats)
    });
    // Progress on stderr (stdout stays the report): what is armed, and for how long.
    let armed_here = local_count;
    let armed_remote: usize = agent_hops;
    // Not while the live view owns the terminal.
    if p.tui.is_none() {
        eprintln!(
            "hopdump: armed {} capture point(s) ({armed_here} here, {armed_remote} through agents){}; {} for up to {:.1}s",
            armed_here + armed_remote,
            if tracer.is_some() || drops_remote > 0 {
                ", kernel drop tracing"
            } else {
                ""
            },
            if args.no_probe { "watching" } else { "probing" },
            duration.as_secs_f64()
        );
    }
    let t0 = Instant::now();
    if args.no_probe
        || p.ev.target.is_none()
        || (p.ev.arp.responders.is_empty() && p.ev.arp.cached_mac.is_none())
    {
        if !args.no_probe {
            p.ev.probed = false;
            p.ev.missing
                .push("probes: not sent, nobody answers for the LB IP".into());
        }
    } else if let Some(t) = p.ev.target {
        let kinds = probe::plan(t.proto, p.ev.endpoints.len());
        tui_send(
            &p.tui,
            hopdump_tui::TuiEvent::Note(format!("probes: sending {} kind(s)", kinds.len())),
        );
        let timeout = match &args.probe_timeout {
            Some(d) => crate::cmd_arp::parse_duration(d)?,
            None => probe::DEFAULT_TIMEOUT,
        };
        p.ev.probes = probe::run(&p.client_ns, SocketAddr::new(t.ip, t.port), &kinds, timeout);
        let ok =
            p.ev.probes
                .iter()
                .filter(|x| x.result == hopdump_engine::ProbeResult::Ok)
                .count();
        tui_send(
            &p.tui,
            hopdump_tui::TuiEvent::Note(format!("probes: {ok}/{} answered", p.ev.probes.len())),
        );
    }
    let min = if args.duration.is_some() {
        duration
    } else {
        Duration::from_millis(300)
    };
    let until = (t0 + duration).max(Instant::now() + Duration::from_millis(200));
    let until = if args.duration.is_some() {
        until
    } else {
        (Instant::now() + min).min(until)
    };
    let mut drops = Vec::new();
    while Instant::now() < until && !interrupted.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        match &tracer {
            Some(t) => match t.events().recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(e) => {
                    let node = ns_names
                        .iter()
                        .find(|(i, _)| *i == e.netns_inode)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_else(|| e.netns.clone());
                    tui_send(
                        &p.tui,
                        hopdump_tui::TuiEvent::Drop {
                            node,
                            iface: e.iface.clone(),
                            reason: e.reason.clone(),
                            location: e.location_name(),
                            count: 1,
                        },
                    );
                    drops.push(e)
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => std::thread::sleep(left.min(Duration::from_millis(50))),
            },
            None => std::thread::sleep(left.min(Duration::from_millis(50))),
        }
    }
    stop.store(true, Ordering::Relaxed);
    // From here on the first signal ends hopdump at once (nothing reads the flag any more).
    if interrupted.swap(true, Ordering::Relaxed) {
        let cut = format!(
            "window: cut short by a signal after {:.1}s (of {:.1}s); the verdict rests on what was seen until then",
            t0.elapsed().as_secs_f64(),
            duration.as_secs_f64()
        );
        if p.tui.is_none() {
            eprintln!("hopdump: {cut}");
        }
        p.ev.missing.push(cut);
    }
    // Agents: stop their streams, then read each to its end (statistics included).
    let collecting: Vec<_> = armed_ok
        .into_iter()
        .map(|(idx, cap, drops)| {
            std::thread::spawn(move || {
                let cap = cap.map(|c| c.collect());
                let drops = drops.map(|d| d.collect());
                (idx, cap, drops)
            })
        })
        .collect();
    let (mut frames, stats) = cap
        .join()
        .map_err(|_| anyhow::anyhow!("capture thread panicked"))?;
    if let Err(e) = stats {
        p.ev.missing.push(format!("capture: {e}"));
    }
    for h in collecting {
        let Ok((idx, cap, dr)) = h.join() else {
            p.ev.missing.push("agent collector panicked".into());
            continue;
        };
        let node = p.hops[idx[0]].node.clone();
        if let Some(c) = cap {
            for f in c.frames {
                if let Some(&i) = idx.get(f.point) {
                    frames.push(Captured {
                        point: i,
                        ts_ns: f.ts_ns,
                        orig_len: f.orig_len,
                        data: f.data,
                    });
                }
            }
            for (k, &i) in idx.iter().enumerate() {
                infos[i] = remote_point(&p.hops[i], c.links.get(k).copied(), &filter);
            }
            if let Some(e) = c.error {
                let why = format!("capture stream from its agent broke: {e}");
                for &i in &idx {
                    p.hops[i].error = Some(why.clone());
                }
                mark_unobserved(p, &node, &why);
            }
        }
        if let Some((d, err)) = dr {
            drops.extend(d);
            if let Some(e) = err {
                p.ev.missing
                    .push(format!("kernel drop reasons on {node}: stream broke: {e}"));
            }
        }
    }
    // One timeline: every agent's frames are already on our clock.
    frames.sort_by_key(|f| f.ts_ns);
    if let Some(t) = tracer {
        while let Ok(e) = t.events().try_recv() {
            drops.push(e);
        }
        let _ = t.stop();
    }
    p.ev.duration_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(0);
    Ok((frames, infos, drops, ns_names))
}

/// Step 5: correlate frames hop by hop, and drops.
fn correlate(
    p: &mut Planned,
    frames: &[Captured],
    infos: &[hopdump_capture::PointInfo],
    drops: &[hopdump_drops::DropEvent],
    ns_names: &[(u32, String)],
) {
    let Some(target) = p.ev.target else {
        return;
    };
    let m = Matcher {
        target,
        client: p.ev.client,
        endpoints: p.ev.endpoints.iter().map(|e| (e.addr, e.port)).collect(),
        probe_ports: p
            .ev
            .probes
            .iter()
            .map(|x| x.sport)
            .filter(|s| *s != 0)
            .collect(),
    };
    let mut counts: Vec<HopCounts> = vec![HopCounts::default(); p.hops.len()];
    let mut watched = Vec::new();
    for f in frames {
        let link = infos
            .get(f.point)
            .map(|i| LinkType::from_linktype(i.linktype))
            .unwrap_or(LinkType::Ethernet);
        if let Some(s) = m.classify(link, &f.data, f.orig_len) {
            if let Some(c) = counts.get_mut(f.point) {
                collect::count(c, &s, link, &f.data, f.orig_len);
            }
            let role = p.hops.get(f.point).map(|h| h.role);
            if matches!(role, Some(HopRole::Client) | Some(HopRole::Uplink)) {
                collect::watch(&mut watched, &s, &m.probe_ports);
            }
        }
    }
    // A flow counts once: prefer the uplink's view (the client's may be absent).
    watched.retain(|w: &hopdump_engine::WatchedFlow| w.forward > 0);
    p.ev.watched = watched;
    p.ev.hops = p
        .hops
        .iter()
        .zip(counts)
        .map(|(h, c)| Hop {
            node: h.node.clone(),
            iface: h.iface.clone(),
            role: h.role,
            endpoint: h.endpoint,
            counts: c,
            error: h.error.clone(),
        })
        .collect();
    let obs: Vec<_> = drops
        .iter()
        .filter_map(|d| {
            let node = ns_names
                .iter()
                .find(|(i, _)| *i == d.netns_inode)
                .map(|(_, n)| n.as_str())
                .unwrap_or(d.netns.as_str());
            collect::drop_obs(&m, node, d)
        })
        .collect();
    p.ev.drops = collect::merge_drops(obs);
}

/// Step 6: node evidence that is read after the window (conntrack).
fn node_evidence(p: &mut Planned) {
    let Some(t) = p.ev.target else {
        return;
    };
    for (n, _) in &p.nodes {
        if Some(&n.name) != p.ev.announcer.as_ref() {
            continue;
        }
        match remote::conntrack(&n.access, &n.netns, &t) {
            Ok(entries) => {
                if let Some(ne) = p.ev.nodes.iter_mut().find(|x| x.name == n.name) {
                    ne.conntrack = entries;
                }
            }
            Err(e) => p.ev.missing.push(format!("conntrack on {}: {e:#}", n.name)),
        }
    }
    // The endpoint nodes' own rules for the DNATed flow, as it arrives there.
    let Some(a) = p.ev.announcer.clone() else {
        return;
    };
    let masq =
        p.ev.node(&a)
            .and_then(|n| n.rules.as_ref())
            .is_some_and(|r| r.masquerade);
    let a_ip = p
        .nodes
        .iter()
        .find(|(n, _)| n.name == a)
        .and_then(|(_, i)| {
            let up = p.ev.node(&a)?.uplink.clone()?;
            i.iface(&up)?
                .addrs
                .iter()
                .map(|(ip, _)| *ip)
                .find(|ip| ip.is_ipv6() == t.ip.is_ipv6())
        });
    for e in p.ev.endpoints.clone() {
        let Some(en) = e.node.clone() else { continue };
        if en == a {
            continue;
        }
        let Some((spec, _)) = p.nodes.iter().find(|(n, _)| n.name == en) else {
            continue;
        };
        let src = if masq { a_ip } else { p.ev.client };
        let Some(src) = src else { continue };
        let flow = Flow {
            src,
            sport: 33333,
            dst: e.addr,
            dport: e.port,
            proto: match t.proto {
                hopdump_engine::Proto::Tcp => RProto::Tcp,
                hopdump_engine::Proto::Udp => RProto::Udp,
            },
            in_iface: p.ev.node(&en).and_then(|n| n.uplink.clone()),
        };
        if let Ok(r) = remote::explain(&spec.access, &spec.netns, flow, t.ip.is_ipv6())
            && let Some(ne) = p.ev.nodes.iter_mut().find(|x| x.name == en)
        {
            ne.endpoint_rules = Some(r);
        }
    }
}

fn write_pcapng(
    path: &std::path::Path,
    hops: &[HopPlan],
    infos: &[hopdump_capture::PointInfo],
    frames: &[Captured],
) -> Result<()> {
    let w =
        hopdump_capture::CaptureWriter::create(path, hopdump_capture::FileFormat::for_path(path))?;
    write_capture(w, hops, infos, frames)
}

/// One interface per hop (`node/iface`), then every frame in time order.
fn write_capture(
    mut w: hopdump_capture::CaptureWriter,
    hops: &[HopPlan],
    infos: &[hopdump_capture::PointInfo],
    frames: &[Captured],
) -> Result<()> {
    for (h, i) in hops.iter().zip(infos) {
        w.add_interface(&hopdump_capture::WriterInterface {
            name: h.label(),
            description: format!("{} {} in {}", h.role.name(), h.dev, h.netns),
            linktype: i.linktype,
            snaplen: i.snaplen,
            filter: i.filter.clone(),
        })?;
    }
    for f in frames {
        w.write(f.point, f.ts_ns, f.orig_len, &f.data)?;
    }
    w.finish(None)?;
    Ok(())
}

/// A byte buffer a `CaptureWriter` can own while the caller keeps a handle on it.
#[derive(Clone, Default)]
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("capture buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn render_finding(out: &mut String, f: &Finding, head: &str) {
    let _ = writeln!(
        out,
        "{head}: {}{}{} — {}",
        f.code.as_str(),
        f.node
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default(),
        f.hop
            .as_deref()
            .map(|h| format!(" at {h}"))
            .unwrap_or_default(),
        f.summary
    );
    if !f.evidence.is_empty() {
        let _ = writeln!(out, "evidence:");
        for e in &f.evidence {
            let _ = writeln!(out, "  {e}");
        }
    }
    if !f.next_steps.is_empty() {
        let _ = writeln!(out, "next:");
        for n in &f.next_steps {
            let _ = writeln!(out, "  {n}");
        }
    }
}

fn render_text(ev: &Evidence, verdict: &Finding, findings: &[Finding]) -> String {
    let mut out = String::new();
    if let Some(t) = ev.target {
        let _ = writeln!(
            out,
            "trace {}:{}/{} from {} — announcer {} ({} ms)",
            match t.ip {
                std::net::IpAddr::V6(v) => format!("[{v}]"),
                v4 => v4.to_string(),
            },
            t.port,
            t.proto.name(),
            ev.client.map(|c| c.to_string()).unwrap_or("?".into()),
            ev.announcer.as_deref().unwrap_or("none"),
            ev.duration_ms
        );
    }
    let _ = writeln!(
        out,
        "{:<4} {:<28} {:<14} {:>9} {:>6} {:>8} {:>4}  last drop",
        "#", "hop", "role", "probes in", "large", "replies", "rst"
    );
    for (i, h) in ev.hops.iter().enumerate() {
        let last_drop = ev
            .drops
            .iter()
            .filter(|d| d.node == h.node && d.iface.as_deref() == Some(h.iface.as_str()))
            .map(|d| d.reason.clone())
            .next_back()
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<4} {:<28} {:<14} {:>9} {:>6} {:>8} {:>4}  {}",
            i + 1,
            format!("{}/{}", h.node, h.iface),
            h.role.name(),
            h.counts.forward,
            h.counts.forward_large,
            h.counts.replies,
            h.counts.rst,
            last_drop
        );
    }
    let _ = writeln!(out);
    render_finding(&mut out, verdict, "VERDICT");
    for f in findings {
        let _ = writeln!(out);
        render_finding(&mut out, f, "also");
    }
    for m in &ev.missing {
        let _ = writeln!(out, "not observed: {m}");
    }
    out
}

/// `svc/NAME` (or `service/NAME`): the service, and the cluster's view to sharpen the verdict.
fn resolve_svc_target(
    args: &mut TraceArgs,
) -> Result<Option<(hopdump_kube::ClusterView, hopdump_kube::Target)>> {
    let Some(name) = args
        .target
        .strip_prefix("svc/")
        .or_else(|| args.target.strip_prefix("service/"))
    else {
        return Ok(None);
    };
    let name = name.to_string();
    let view = args.cluster.load(false)?;
    let svc = hopdump_kube::resolve_service(&view, &args.cluster.namespace, &name)?;
    let ip = svc
        .lb_ip
        .with_context(|| format!("service {}/{name} has no LoadBalancer IP assigned (status.loadBalancer.ingress is empty)", args.cluster.namespace))?;
    let port = svc
        .primary()
        .with_context(|| format!("service {}/{name} has no ports", args.cluster.namespace))?;
    let proto = match port.protocol {
        hopdump_kube::model::Protocol::Udp => "udp",
        _ => "tcp",
    };
    args.target = match ip {
        std::net::IpAddr::V4(v) => format!("{v}:{}/{proto}", port.port),
        std::net::IpAddr::V6(v) => format!("[{v}]:{}/{proto}", port.port),
    };
    let target = hopdump_kube::Target::Service {
        namespace: args.cluster.namespace.clone(),
        name,
    };
    Ok(Some((view, target)))
}

/// [`sharpen`] for service `ns/name` (offline `diagnose`).
pub(crate) fn sharpen_with(
    verdict: &mut hopdump_engine::Finding,
    view: &hopdump_kube::ClusterView,
    ns: &str,
    name: &str,
    client: Option<std::net::IpAddr>,
) {
    let target = hopdump_kube::Target::Service {
        namespace: ns.to_string(),
        name: name.to_string(),
    };
    sharpen(verdict, view, &target, client);
}

/// What the cluster's own view says against what the nodes did: every failing `check` line
/// joins the verdict's evidence (with its fix as a next step), e.g. the exclude label behind a
/// `no_arp_reply` or the NetworkPolicy behind a `network_policy_drop`.
fn sharpen(
    verdict: &mut hopdump_engine::Finding,
    view: &hopdump_kube::ClusterView,
    target: &hopdump_kube::Target,
    client: Option<std::net::IpAddr>,
) {
    let opts = hopdump_kube::CheckOptions {
        client_ip: client,
        expect_iface: None,
    };
    let Ok(report) = hopdump_kube::check(view, target, &opts) else {
        return;
    };
    for line in report
        .lines
        .iter()
        .filter(|l| l.status == hopdump_kube::Status::Fail)
    {
        verdict
            .evidence
            .push(format!("cluster: ✘ {}: {}", line.title, line.detail));
        if let Some(fix) = &line.fix {
            verdict.next_steps.push(fix.clone());
        }
    }
}

/// Everything one trace produced: the evidence and verdict, and the frames per hop.
pub(crate) struct TraceRun {
    pub ev: Evidence,
    pub verdict: Finding,
    pub findings: Vec<Finding>,
    hops: Vec<HopPlan>,
    infos: Vec<hopdump_capture::PointInfo>,
    frames: Vec<Captured>,
    agents: Vec<String>,
    nodes: Vec<NodeSpec>,
}

impl TraceRun {
    /// Write every hop's frames as one pcapng.
    pub fn write_pcapng(&self, path: &std::path::Path) -> Result<()> {
        write_pcapng(path, &self.hops, &self.infos, &self.frames)
    }

    /// The same capture in memory (for a bundle); `headers_only` cuts every frame after its
    /// innermost transport header.
    pub fn pcapng_bytes(&self, headers_only: bool) -> Result<Vec<u8>> {
        let cut: Vec<Captured>;
        let frames = if headers_only {
            cut = self
                .frames
                .iter()
                .map(|f| {
                    let link = self
                        .infos
                        .get(f.point)
                        .map(|i| LinkType::from_linktype(i.linktype))
                        .unwrap_or(LinkType::Ethernet);
                    let n = collect::headers_len(link, &f.data);
                    Captured {
                        point: f.point,
                        ts_ns: f.ts_ns,
                        orig_len: f.orig_len,
                        data: f.data[..n.min(f.data.len())].to_vec(),
                    }
                })
                .collect();
            &cut
        } else {
            &self.frames
        };
        let buf = SharedBuf::default();
        let w = hopdump_capture::CaptureWriter::to_writer(
            std::path::Path::new("bundle capture"),
            Box::new(buf.clone()),
            hopdump_capture::FileFormat::PcapNg,
        )?;
        write_capture(w, &self.hops, &self.infos, frames)?;
        let bytes = std::mem::take(
            &mut *buf
                .0
                .lock()
                .map_err(|_| anyhow::anyhow!("capture buffer poisoned"))?,
        );
        Ok(bytes)
    }

    /// The nodes of the trace: name, namespace, and how they were reached (here, or their
    /// agent's connection, or why not).
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Netns, &remote::Access)> {
        self.nodes
            .iter()
            .map(|n| (n.name.as_str(), &n.netns, &n.access))
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.verdict.code == hopdump_engine::Code::Ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// Steps 1-6 and the diagnosis: plan, capture + probe, correlate, node evidence, verdict.
pub(crate) fn execute(args: &mut TraceArgs, tui: Option<Tui>) -> Result<TraceRun> {
    let duration = match &args.duration {
        Some(d) => crate::cmd_arp::parse_duration(d)?,
        None => Duration::from_secs(3),
    };
    // Read now, so a bad value fails before anything is captured.
    if let Some(d) = &args.probe_timeout {
        crate::cmd_arp::parse_duration(d).context("--probe-timeout")?;
    }
    let cluster = resolve_svc_target(args)?;
    let mut discovered: Vec<String> = Vec::new();
    if args.nodes.is_empty()
        && let Some((view, hopdump_kube::Target::Service { namespace, name })) = &cluster
    {
        // The agents of the path's nodes only (announcer + endpoints' nodes).
        let plan = hopdump_kube::agents::agents_for(view, namespace, name)?;
        if plan.agents.is_empty() {
            bail!(
                "no hopdump agent runs on the path's nodes ({}): deploy deploy/hopdump.yaml, or give --node",
                plan.path_nodes.join(", ")
            );
        }
        for (node, addr) in &plan.agents {
            args.nodes.push(format!("{node}=agent:{addr}"));
        }
        discovered = plan.notes;
    }
    let mut p = plan_path(args)?;
    for n in discovered {
        p.ev.missing.push(n);
    }
    p.tui = tui;
    if let Some(t) = p.ev.target {
        tui_send(
            &p.tui,
            hopdump_tui::TuiEvent::Planned {
                title: format!(
                    "trace {}:{}/{} from {} — announcer {}",
                    t.ip,
                    t.port,
                    t.proto.name(),
                    p.ev.client.map(|c| c.to_string()).unwrap_or("?".into()),
                    p.ev.announcer.as_deref().unwrap_or("none")
                ),
                hops: p
                    .hops
                    .iter()
                    .map(|h| hopdump_tui::HopInfo {
                        node: h.node.clone(),
                        iface: h.iface.clone(),
                        role: h.role.name().to_string(),
                    })
                    .collect(),
            },
        );
    }
    for a in &p.agents {
        tui_send(&p.tui, hopdump_tui::TuiEvent::Note(a.clone()));
    }
    let (frames, infos, drops, ns_names) = observe(&mut p, args, duration)?;
    correlate(&mut p, &frames, &infos, &drops, &ns_names);
    for (hop, h) in p.ev.hops.iter().enumerate() {
        tui_send(
            &p.tui,
            hopdump_tui::TuiEvent::Counts {
                hop,
                counts: (&h.counts).into(),
            },
        );
    }
    node_evidence(&mut p);
    let (mut verdict, findings) = diagnose(&p.ev);
    if let Some((view, target)) = &cluster {
        sharpen(&mut verdict, view, target, p.ev.client);
    }
    Ok(TraceRun {
        ev: p.ev,
        verdict,
        findings,
        hops: p.hops,
        infos,
        frames,
        agents: p.agents,
        nodes: p.nodes.into_iter().map(|(n, _)| n).collect(),
    })
}

/// Print a verdict as text or `hopdump.trace/v1` JSON (also `diagnose`'s output).
pub(crate) fn print(
    ev: &Evidence,
    verdict: &Finding,
    findings: &[Finding],
    json: bool,
    extra: &[String],
) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        let report = TraceReport::build(ev, verdict, findings).context("no target to report")?;
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", render_text(ev, verdict, findings))?;
        for a in extra {
            writeln!(stdout, "{a}")?;
        }
    }
    stdout.flush()?;
    Ok(())
}

pub fn run(mut args: TraceArgs) -> Result<ExitCode> {
    let t = if args.tui {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
            bail!("--tui needs a terminal (stdin and stdout); use text or --json output instead");
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let mut a2 = args.clone();
        let feed = tx.clone();
        let worker = std::thread::spawn(move || {
            let r = execute(&mut a2, Some(feed.clone()));
            match &r {
                Ok(t) => {
                    if let Some(rep) = TraceReport::build(&t.ev, &t.verdict, &t.findings) {
                        let _ = feed.send(hopdump_tui::TuiEvent::Verdict(Box::new(rep)));
                    }
                }
                Err(e) => {
                    let _ = feed.send(hopdump_tui::TuiEvent::Note(format!(
                        "trace failed: {e:#} (press q)"
                    )));
                }
            }
            r
        });
        drop(tx);
        hopdump_tui::run(rx, &hopdump_tui::TuiOptions::default()).context("terminal view")?;
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("trace thread panicked"))??
    } else {
        execute(&mut args, None)?
    };
    if let Some(path) = &args.write {
        t.write_pcapng(path)?;
    }
    if let Some(path) = &args.report {
        let r =
            TraceReport::build(&t.ev, &t.verdict, &t.findings).context("no target to report")?;
        crate::report_file::write(path, &hopdump_report::trace_html(&r))?;
    }
    print(&t.ev, &t.verdict, &t.findings, args.json, &t.agents)?;
    Ok(t.exit_code())
}
