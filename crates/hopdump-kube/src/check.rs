//! `hopdump check`: the seed's health-check script done properly. Pure: a [`ClusterView`] and
//! options in, ordered ✔/✘ lines (each with the reason and the fix) out.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::model::{ClusterView, IpAddressPool, L2Advertisement, Service, TrafficPolicy};
use crate::netpol::{self, Decision};
use crate::resolve::{ResolvedService, not_found, resolve, service_by_lb_ip};

/// What to check.
#[derive(Debug, Clone)]
pub enum Target {
    Service { namespace: String, name: String },
    LbIp(IpAddr),
}

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The client whose traffic should get through (NetworkPolicies, source ranges).
    pub client_ip: Option<IpAddr>,
    /// The interface the announcer should answer on.
    pub expect_iface: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Not enough data to decide (said why); never fails the check.
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    /// Stable identifier: lb_ip_assigned, endpoints_ready, speakers_running, eligible_nodes,
    /// announcer, announce_interface, strict_arp, source_ranges, network_policy.
    pub id: &'static str,
    pub status: Status,
    pub title: String,
    pub detail: String,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub service: ResolvedService,
    pub pool: Option<String>,
    pub announcer: Option<Announcer>,
    /// Eligible nodes in MetalLB's election order (first = expected announcer).
    pub eligible_nodes: Vec<String>,
    /// Nodes that cannot announce, with why.
    pub ineligible_nodes: BTreeMap<String, Vec<String>>,
    pub lines: Vec<CheckLine>,
    /// Objects the loader could not understand.
    pub notes: Vec<String>,
}

impl CheckReport {
    pub fn failed(&self) -> bool {
        self.lines.iter().any(|l| l.status == Status::Fail)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Announcer {
    pub node: String,
    /// `ServiceL2Status ns/name` or `event nodeAssigned (time)`.
    pub source: String,
    /// From ServiceL2Status; empty = all interfaces.
    pub interfaces: Vec<String>,
    /// Other nodes that also claim it (split brain / stale status).
    pub others: Vec<String>,
}

fn line(
    id: &'static str,
    status: Status,
    title: &str,
    detail: String,
    fix: Option<String>,
) -> CheckLine {
    CheckLine {
        id,
        status,
        title: title.to_string(),
        detail,
        fix,
    }
}

/// Run every check against one service.
pub fn check(
    view: &ClusterView,
    target: &Target,
    opts: &CheckOptions,
) -> Result<CheckReport, Error> {
    let svc = match target {
        Target::Service { namespace, name } => view
            .service(namespace, name)
            .ok_or_else(|| not_found(view, namespace, name))?,
        Target::LbIp(ip) => service_by_lb_ip(view, *ip).ok_or(Error::NoServiceForIp(*ip))?,
    };
    let resolved = resolve(view, svc);
    let mut lines = Vec::new();

    // 1. LB IP and pool.
    let (pool, l) = lb_ip_line(view, svc);
    lines.push(l);

    // 2. Endpoints.
    let ready: Vec<(IpAddr, Option<u16>, Option<String>)> = resolved
        .primary()
        .map(|p| {
            p.endpoints
                .iter()
                .filter(|e| e.ready)
                .map(|e| (e.ip, e.port, e.node.clone()))
                .collect()
        })
        .unwrap_or_default();
    lines.push(endpoints_line(view, svc, &resolved));

    // 3. Speakers.
    let speakers = view.speakers();
    let running: Vec<&str> = speakers
        .iter()
        .filter(|p| p.is_running_ready())
        .filter_map(|p| p.node.as_deref())
        .collect();
    lines.push(speakers_line(view, &speakers, &running));

    // 4. Eligibility (MetalLB layer2 ShouldAnnounce).
    let l2advs: Vec<&L2Advertisement> = match pool {
        Some(p) => view
            .l2_advertisements
            .iter()
            .filter(|a| a.covers_pool(p))
            .collect(),
        None => Vec::new(),
    };
    let bgp_only = l2advs.is_empty()
        && pool.is_some_and(|p| {
            view.bgp_advertisements
                .iter()
                .any(|b| b.pools.is_empty() || b.pools.contains(&p.name))
        });
    let mut eligible = Vec::new();
    let mut ineligible: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let local = svc.external_traffic_policy == TrafficPolicy::Local;
    for n in &view.nodes {
        let mut why = Vec::new();
        if !running.contains(&n.name.as_str()) {
            why.push("no running speaker".to_string());
        }
        if n.excluded_from_lb() {
            why.push(format!("label {}", crate::model::EXCLUDE_LB_LABEL));
        }
        if n.network_unavailable {
            why.push("condition NetworkUnavailable".to_string());
        }
        if n.ready == Some(false) {
            why.push("node NotReady".to_string());
        }
        if !l2advs.is_empty() && !l2advs.iter().any(|a| a.covers_node(n)) {
            why.push(format!(
                "not selected by L2Advertisement nodeSelectors ({})",
                l2advs
                    .iter()
                    .map(|a| format!(
                        "{}: {}",
                        a.name,
                        a.node_selectors
                            .iter()
                            .map(|s| s.describe())
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if local
            && !ready
                .iter()
                .any(|(_, _, node)| node.as_deref() == Some(n.name.as_str()))
        {
            why.push("no local ready endpoint (externalTrafficPolicy: Local)".to_string());
        }
        if why.is_empty() {
            eligible.push(n.name.clone());
        } else {
            ineligible.insert(n.name.clone(), why);
        }
    }
    if let Some(ip) = resolved.lb_ip {
        election_order(&mut eligible, ip);
    }
    let announcer = find_announcer(view, svc);
    if bgp_only {
        lines.push(line(
            "eligible_nodes",
            Status::Skip,
            "Nodes eligible to announce",
            "the pool is advertised over BGP only; layer 2 election does not apply".into(),
            None,
        ));
    } else {
        lines.push(eligible_line(
            view,
            svc,
            pool,
            &l2advs,
            &eligible,
            &ineligible,
        ));
        lines.push(announcer_line(
            &announcer,
            &eligible,
            &ineligible,
            resolved.lb_ip,
        ));
        lines.push(interface_line(
            &announcer,
            &l2advs,
            opts.expect_iface.as_deref(),
        ));
    }

    // 5. kube-proxy strictARP.
    lines.push(strict_arp_line(view));

    // 6. loadBalancerSourceRanges and NetworkPolicies for the client.
    lines.push(source_ranges_line(svc, opts.client_ip));
    lines.push(netpol_line(
        view,
        svc,
        &resolved,
        announcer.as_ref(),
        opts.client_ip,
    ));

    Ok(CheckReport {
        service: resolved,
        pool: pool.map(|p| p.name.clone()),
        announcer,
        eligible_nodes: eligible,
        ineligible_nodes: ineligible,
        lines,
        notes: view.notes.clone(),
    })
}

/// MetalLB's layer 2 election: nodes sorted by sha256(node + "#" + first IP); first wins.
pub fn election_order(nodes: &mut [String], ip: IpAddr) {
    let key = |n: &String| Sha256::digest(format!("{n}#{ip}").as_bytes());
    nodes.sort_by_cached_key(key);
}

fn lb_ip_line<'a>(view: &'a ClusterView, svc: &Service) -> (Option<&'a IpAddressPool>, CheckLine) {
    const T: &str = "LoadBalancer IP assigned";
    let pool_ann = svc.metallb_annotation("ip-allocated-from-pool");
    let req_pool = svc.metallb_annotation("address-pool");
    let by_addr = |ip: IpAddr| view.ip_pools.iter().find(|p| p.contains(ip));
    let by_name = |n: &str| view.ip_pools.iter().find(|p| p.name == n);
    if !svc.is_load_balancer() {
        return (
            None,
            line(
                "lb_ip_assigned",
                Status::Fail,
                T,
                format!("service type is {}, not LoadBalancer", svc.type_),
                Some(format!(
                    "kubectl -n {} patch svc {} -p '{{\"spec\":{{\"type\":\"LoadBalancer\"}}}}'",
                    svc.namespace, svc.name
                )),
            ),
        );
    }
    if let Some(ip) = svc.lb_ingress_ips.first().copied() {
        let pool = pool_ann
            .and_then(|(_, n)| by_name(n))
            .or_else(|| by_addr(ip));
        let from = match (pool_ann, pool) {
            (Some((k, n)), _) => format!("pool {n} ({k})"),
            (None, Some(p)) => format!("pool {} (by address)", p.name),
            (None, None) => "no known pool".to_string(),
        };
        if !view.ip_pools.is_empty() && by_addr(ip).is_none() {
            return (
                pool,
                line(
                    "lb_ip_assigned",
                    Status::Fail,
                    T,
                    format!("{ip} is in no IPAddressPool; MetalLB withdraws it (ipNotAllowed)"),
                    Some("add the address to an IPAddressPool or remove the requested IP".into()),
                ),
            );
        }
        let ips: Vec<String> = svc.lb_ingress_ips.iter().map(IpAddr::to_string).collect();
        return (
            pool,
            line(
                "lb_ip_assigned",
                Status::Pass,
                T,
                format!("{} from {from}", ips.join(", ")),
                None,
            ),
        );
    }
    // Not assigned: say why as precisely as the objects allow.
    let (detail, fix) = if let Some(class) =
        svc.lb_class.as_deref().filter(|c| !c.contains("metallb"))
    {
        (
            format!("no IP: loadBalancerClass {class:?} — MetalLB ignores the service unless started with --lb-class={class}"),
            "remove spec.loadBalancerClass (it is immutable: recreate the service) or run MetalLB with that class".to_string(),
        )
    } else if let Some((k, n)) = req_pool.filter(|(_, n)| by_name(n).is_none()) {
        (
            format!("no IP: {k} asks for pool {n:?}, which does not exist"),
            format!("create IPAddressPool {n} or fix the annotation {k}"),
        )
    } else if view.ip_pools.is_empty() {
        (
            "no IP, and no IPAddressPool was found".into(),
            "create an IPAddressPool (and an L2Advertisement) in metallb-system".into(),
        )
    } else {
        (
            "no IP in status.loadBalancer.ingress".into(),
            "check the pools are not exhausted (autoAssign, ranges) and the controller's events: kubectl -n metallb-system logs deploy/controller".into(),
        )
    };
    (
        None,
        line("lb_ip_assigned", Status::Fail, T, detail, Some(fix)),
    )
}

fn endpoints_line(view: &ClusterView, svc: &Service, r: &ResolvedService) -> CheckLine {
    const T: &str = "Endpoints ready";
    let Some(p) = r.primary() else {
        return line(
            "endpoints_ready",
            Status::Fail,
            T,
            "the service has no ports".into(),
            None,
        );
    };
    let ready: Vec<String> = p
        .endpoints
        .iter()
        .filter(|e| e.ready)
        .map(|e| {
            format!(
                "{}:{} on {}",
                e.ip,
                e.port.map_or("?".to_string(), |p| p.to_string()),
                e.node.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let not_ready = p.endpoints.iter().filter(|e| !e.ready).count();
    let unresolved = p.endpoints.iter().any(|e| e.ready && e.port.is_none());
    let via = if p.source == "pods" {
        " (from pods: no EndpointSlice found)"
    } else {
        ""
    };
    if ready.is_empty() {
        let selector = svc.selector.as_ref().map(|s| {
            s.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        let matching = svc.selector.as_ref().map_or(0, |s| {
            view.pods
                .iter()
                .filter(|p| {
                    p.namespace == svc.namespace
                        && s.iter().all(|(k, v)| p.labels.get(k) == Some(v))
                })
                .count()
        });
        let detail = format!(
            "no ready endpoint for port {} ({not_ready} not ready; {} pods match selector {}){via}",
            p.port,
            matching,
            selector.as_deref().unwrap_or("<none>")
        );
        let fix = if matching == 0 {
            format!(
                "no pod matches the selector: fix spec.selector or the pod labels (kubectl -n {} get pods --show-labels)",
                svc.namespace
            )
        } else {
            format!(
                "pods are not ready: kubectl -n {} describe pods -l {}",
                svc.namespace,
                selector.unwrap_or_default()
            )
        };
        return line("endpoints_ready", Status::Fail, T, detail, Some(fix));
    }
    if unresolved {
        return line(
            "endpoints_ready",
            Status::Fail,
            T,
            format!(
                "targetPort {:?} resolves to no container port on the ready pods",
                p.target_port
            ),
            Some("name the container port as the service's targetPort, or use a number".into()),
        );
    }
    line(
        "endpoints_ready",
        Status::Pass,
        T,
        format!(
            "{} ready: {}{}{via}",
            ready.len(),
            ready.join(", "),
            if not_ready > 0 {
                format!(" ({not_ready} not ready)")
            } else {
                String::new()
            }
        ),
        None,
    )
}

fn speakers_line(
    view: &ClusterView,
    speakers: &[&crate::model::Pod],
    running: &[&str],
) -> CheckLine {
    const T: &str = "MetalLB speakers running";
    if speakers.is_empty() {
        return line(
            "speakers_running",
            Status::Fail,
            T,
            "no speaker pod found (labels app=metallb,component=speaker or app.kubernetes.io/component=speaker)".into(),
            Some("install MetalLB or check the speaker DaemonSet: kubectl -n metallb-system get ds".into()),
        );
    }
    let down: Vec<String> = speakers
        .iter()
        .filter(|p| !p.is_running_ready())
        .map(|p| {
            format!(
                "{} on {} ({})",
                p.name,
                p.node.as_deref().unwrap_or("?"),
                p.phase
            )
        })
        .collect();
    let without: Vec<&str> = view
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .filter(|n| !speakers.iter().any(|p| p.node.as_deref() == Some(*n)))
        .collect();
    let mut detail = if running.is_empty() {
        "none running".to_string()
    } else {
        format!("{} running on {}", running.len(), running.join(", "))
    };
    if !down.is_empty() {
        detail.push_str(&format!("; not ready: {}", down.join(", ")));
    }
    if !without.is_empty() {
        detail.push_str(&format!("; no speaker on {} (taints?)", without.join(", ")));
    }
    if running.is_empty() {
        return line(
            "speakers_running",
            Status::Fail,
            T,
            detail,
            Some(
                "kubectl -n metallb-system describe pods -l component=speaker; check the logs"
                    .into(),
            ),
        );
    }
    line("speakers_running", Status::Pass, T, detail, None)
}

fn eligible_line(
    view: &ClusterView,
    svc: &Service,
    pool: Option<&IpAddressPool>,
    l2advs: &[&L2Advertisement],
    eligible: &[String],
    ineligible: &BTreeMap<String, Vec<String>>,
) -> CheckLine {
    const T: &str = "Nodes eligible to announce";
    if let Some(p) = pool
        && l2advs.is_empty()
        && !view.l2_advertisements.is_empty()
    {
        return line(
            "eligible_nodes",
            Status::Fail,
            T,
            format!(
                "no L2Advertisement covers pool {}: MetalLB does not announce it (noMatchingAdvertisement)",
                p.name
            ),
            Some(format!(
                "add {} to an L2Advertisement's spec.ipAddressPools",
                p.name
            )),
        );
    }
    if pool.is_some() && view.l2_advertisements.is_empty() && view.bgp_advertisements.is_empty() {
        return line(
            "eligible_nodes",
            Status::Fail,
            T,
            "no L2Advertisement or BGPAdvertisement exists: MetalLB assigns IPs but announces nothing".into(),
            Some("kubectl apply an L2Advertisement in metallb-system".into()),
        );
    }
    let why: Vec<String> = ineligible
        .iter()
        .map(|(n, w)| format!("{n}: {}", w.join(", ")))
        .collect();
    if eligible.is_empty() {
        let all_excluded = !ineligible.is_empty()
            && ineligible
                .values()
                .all(|w| w.iter().any(|r| r.contains(crate::model::EXCLUDE_LB_LABEL)));
        let fix = if all_excluded {
            format!(
                "every node carries {} (kubeadm puts it on control planes): kubectl label node NODE {}-",
                crate::model::EXCLUDE_LB_LABEL,
                crate::model::EXCLUDE_LB_LABEL
            )
        } else if svc.external_traffic_policy == TrafficPolicy::Local {
            "with externalTrafficPolicy: Local only nodes with a ready endpoint AND a speaker can announce: run a backend on a speaker node or use Cluster".into()
        } else {
            "fix the reasons above (speaker placement, node selectors, labels)".into()
        };
        return line(
            "eligible_nodes",
            Status::Fail,
            T,
            format!("no node can announce the IP: {}", why.join("; ")),
            Some(fix),
        );
    }
    let mut detail = format!("{} (election order)", eligible.join(", "));
    if !why.is_empty() {
        detail.push_str(&format!("; not eligible: {}", why.join("; ")));
    }
    line("eligible_nodes", Status::Pass, T, detail, None)
}

/// Last resort (speaker logs read with `--logs` or found in a bundle): the speakers whose last
/// word about one of the service's IPs is `serviceAnnounced` ("service has IP, announcing").
fn announcer_from_logs(view: &ClusterView, svc: &Service) -> Option<Announcer> {
    let ips: Vec<String> = svc.lb_ingress_ips.iter().map(|ip| ip.to_string()).collect();
    let mut last: std::collections::BTreeMap<&str, &crate::model::SpeakerLogLine> =
        Default::default();
    for l in view.speaker_logs.iter().filter(|l| {
        matches!(l.event.as_str(), "serviceAnnounced" | "serviceWithdrawn")
            && l.ips.iter().any(|ip| ips.contains(ip))
    }) {
        match last.get(l.pod.as_str()) {
            Some(prev) if prev.ts > l.ts => {}
            _ => {
                last.insert(l.pod.as_str(), l);
            }
        }
    }
    let mut nodes: Vec<String> = last
        .values()
        .filter(|l| l.event == "serviceAnnounced")
        .filter_map(|l| view.pods.iter().find(|p| p.name == l.pod)?.node.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    let node = nodes.first()?.clone();
    Some(Announcer {
        node,
        source: "speaker log serviceAnnounced".into(),
        interfaces: Vec::new(),
        others: nodes[1..].to_vec(),
    })
}

fn find_announcer(view: &ClusterView, svc: &Service) -> Option<Announcer> {
    let statuses: Vec<_> = view
        .l2_statuses
        .iter()
        .filter(|s| s.service_namespace == svc.namespace && s.service_name == svc.name)
        .collect();
    if let Some(first) = statuses.first() {
        let mut others: Vec<String> = statuses[1..]
            .iter()
            .map(|s| s.node.clone())
            .filter(|n| n != &first.node)
            .collect();
        others.dedup();
        return Some(Announcer {
            node: first.node.clone(),
            source: format!("ServiceL2Status {}/{}", first.namespace, first.name),
            interfaces: first.interfaces.clone(),
            others,
        });
    }
    let ev = view
        .announce_events
        .iter()
        .filter(|e| e.service_namespace == svc.namespace && e.service_name == svc.name)
        .filter(|e| e.protocol.as_deref().is_none_or(|p| p == "layer2"))
        .max_by(|a, b| a.time.cmp(&b.time));
    let Some(ev) = ev else {
        return announcer_from_logs(view, svc);
    };
    Some(Announcer {
        node: ev.node.clone(),
        source: format!(
            "event nodeAssigned{}",
            ev.time
                .as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ),
        interfaces: Vec::new(),
        others: Vec::new(),
    })
}

fn announcer_line(
    a: &Option<Announcer>,
    eligible: &[String],
    ineligible: &BTreeMap<String, Vec<String>>,
    ip: Option<IpAddr>,
) -> CheckLine {
    const T: &str = "Announcing node";
    let expected = eligible.first();
    let Some(a) = a else {
        return line(
            "announcer",
            Status::Fail,
            T,
            format!(
                "no node announces the IP (no ServiceL2Status, no nodeAssigned event){}",
                expected.map(|e| format!("; MetalLB's election would pick {e}")).unwrap_or_default()
            ),
            Some("nobody answers ARP: read the speakers' serviceWithdrawn reasons: kubectl -n metallb-system logs -l component=speaker | grep -i withdraw".into()),
        );
    };
    if !a.others.is_empty() {
        return line(
            "announcer",
            Status::Fail,
            T,
            format!(
                "{} and {} both claim it ({}): clients may flap between MACs",
                a.node,
                a.others.join(", "),
                a.source
            ),
            Some(
                "check memberlist between speakers (port 7946 tcp+udp) and the speakers' logs"
                    .into(),
            ),
        );
    }
    if let Some(why) = ineligible.get(&a.node) {
        return line(
            "announcer",
            Status::Fail,
            T,
            format!(
                "{} per {}, but it is not eligible: {}",
                a.node,
                a.source,
                why.join(", ")
            ),
            Some(if why.iter().any(|w| w.contains("local ready endpoint")) {
                "with eTP=Local kube-proxy drops traffic on a node without a local endpoint; MetalLB should move the IP — restart the speaker on that node if its status is stale".into()
            } else {
                "the speaker state is stale or misconfigured: restart the speaker on that node and re-check".into()
            }),
        );
    }
    let mut detail = format!("{} per {}", a.node, a.source);
    if let (Some(e), Some(ip)) = (expected, ip)
        && e != &a.node
    {
        detail.push_str(&format!(
            " (election by hash over {ip} would pick {e}; speakers may see different members)"
        ));
    }
    line("announcer", Status::Pass, T, detail, None)
}

fn interface_line(
    a: &Option<Announcer>,
    l2advs: &[&L2Advertisement],
    expect: Option<&str>,
) -> CheckLine {
    const T: &str = "Announced on the expected interface";
    let allowed: Vec<String> = l2advs
        .iter()
        .flat_map(|a| a.interfaces.iter().cloned())
        .collect();
    let Some(a) = a else {
        return line(
            "announce_interface",
            Status::Skip,
            T,
            "no announcer known".into(),
            None,
        );
    };
    let actual = if a.interfaces.is_empty() {
        if allowed.is_empty() {
            "all interfaces".to_string()
        } else {
            allowed.join(", ")
        }
    } else {
        a.interfaces.join(", ")
    };
    if let Some(want) = expect {
        let ok = (a.interfaces.is_empty()
            && (allowed.is_empty() || allowed.iter().any(|i| i == want)))
            || a.interfaces.iter().any(|i| i == want);
        return if ok {
            line(
                "announce_interface",
                Status::Pass,
                T,
                format!("{} answers on {actual}", a.node),
                None,
            )
        } else {
            line(
                "announce_interface",
                Status::Fail,
                T,
                format!("{} answers on {actual}, not {want}", a.node),
                Some(format!(
                    "add {want} to the L2Advertisement's spec.interfaces (or remove the restriction)"
                )),
            )
        };
    }
    if !allowed.is_empty() && a.interfaces.iter().any(|i| !allowed.contains(i)) {
        return line(
            "announce_interface",
            Status::Fail,
            T,
            format!(
                "{} answers on {actual}, outside the L2Advertisement's interfaces {}",
                a.node,
                allowed.join(", ")
            ),
            Some("restart the speaker so it picks up the L2Advertisement".into()),
        );
    }
    line(
        "announce_interface",
        Status::Pass,
        T,
        format!("{} answers on {actual}", a.node),
        None,
    )
}

fn strict_arp_line(view: &ClusterView) -> CheckLine {
    const T: &str = "kube-proxy strictARP (IPVS)";
    match &view.kube_proxy {
        None => line(
            "strict_arp",
            Status::Skip,
            T,
            "kube-proxy ConfigMap not found (k3s, or a kube-proxy replacement): mode unknown".into(),
            None,
        ),
        Some(k) if k.mode == "ipvs" && !k.strict_arp => line(
            "strict_arp",
            Status::Fail,
            T,
            "mode ipvs without strictARP: every node answers ARP for the LB IP (kube-ipvs0), not only MetalLB's".into(),
            Some("kubectl -n kube-system edit cm kube-proxy: set ipvs.strictARP: true, then restart kube-proxy".into()),
        ),
        Some(k) if k.mode == "ipvs" => line("strict_arp", Status::Pass, T, "mode ipvs with strictARP: true".into(), None),
        Some(k) => line("strict_arp", Status::Pass, T, format!("mode {}: strictARP not needed", k.mode), None),
    }
}

fn source_ranges_line(svc: &Service, client: Option<IpAddr>) -> CheckLine {
    const T: &str = "loadBalancerSourceRanges admit the client";
    if svc.lb_source_ranges.is_empty() {
        return line(
            "source_ranges",
            Status::Pass,
            T,
            "none set: every source admitted".into(),
            None,
        );
    }
    let ranges: Vec<String> = svc
        .lb_source_ranges
        .iter()
        .map(ToString::to_string)
        .collect();
    match client {
        None => line(
            "source_ranges",
            Status::Skip,
            T,
            format!(
                "set to {}; pass --client-ip to check a client",
                ranges.join(", ")
            ),
            None,
        ),
        Some(c) if svc.lb_source_ranges.iter().any(|r| r.contains(&c)) => line(
            "source_ranges",
            Status::Pass,
            T,
            format!("{c} is in {}", ranges.join(", ")),
            None,
        ),
        Some(c) => line(
            "source_ranges",
            Status::Fail,
            T,
            format!(
                "{c} is outside {}: KUBE-PROXY-FIREWALL drops it",
                ranges.join(", ")
            ),
            Some(format!(
                "add {c}/32 (or its network) to spec.loadBalancerSourceRanges"
            )),
        ),
    }
}

fn netpol_line(
    view: &ClusterView,
    svc: &Service,
    r: &ResolvedService,
    announcer: Option<&Announcer>,
    client: Option<IpAddr>,
) -> CheckLine {
    const T: &str = "NetworkPolicies admit the client";
    let Some(port) = r.primary() else {
        return line("network_policy", Status::Skip, T, "no ports".into(), None);
    };
    let backends: Vec<(&crate::model::Pod, u16)> = port
        .endpoints
        .iter()
        .filter(|e| e.ready)
        .filter_map(|e| {
            let pod = match &e.pod {
                Some((ns, n)) => view.pod(ns, n),
                None => view.pod_by_ip(e.ip),
            }?;
            Some((pod, e.port?))
        })
        .collect();
    if backends.is_empty() {
        return line(
            "network_policy",
            Status::Skip,
            T,
            "no ready backend pod known".into(),
            None,
        );
    }
    let isolated: Vec<String> = backends
        .iter()
        .flat_map(|(p, _)| netpol::isolating(view, p))
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let Some(client) = client else {
        return if isolated.is_empty() {
            line(
                "network_policy",
                Status::Pass,
                T,
                "no NetworkPolicy selects the backends".into(),
                None,
            )
        } else {
            line(
                "network_policy",
                Status::Skip,
                T,
                format!(
                    "backends are isolated by {}; pass --client-ip to decide",
                    isolated.join(", ")
                ),
                None,
            )
        };
    };
    // What source the pod sees: the client with eTP=Local, the node (SNAT) with eTP=Cluster.
    let (src, seen) = match svc.external_traffic_policy {
        TrafficPolicy::Local => (client, format!("client {client} (eTP=Local keeps it)")),
        TrafficPolicy::Cluster => match announcer
            .and_then(|a| view.node(&a.node))
            .and_then(|n| n.internal_ip().map(|ip| (n, ip)))
        {
            Some((n, ip)) => (ip, format!("{ip} ({} after SNAT, eTP=Cluster)", n.name)),
            None => (
                client,
                format!("client {client} (announcer unknown; SNAT source not known)"),
            ),
        },
    };
    let mut denied = Vec::new();
    let mut allowed = Vec::new();
    for (pod, p) in &backends {
        match netpol::ingress(view, src, pod, *p, port.protocol) {
            Decision::Denied { isolated_by } => denied.push(format!(
                "{}:{p} denied (isolated by {})",
                pod.name,
                isolated_by
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Decision::Allowed { by, rule } => allowed.push(format!(
                "{}:{p} allowed by {by} (ingress rule {rule})",
                pod.name
            )),
            Decision::NotIsolated => allowed.push(format!("{}:{p} not isolated", pod.name)),
        }
    }
    if denied.is_empty() {
        line(
            "network_policy",
            Status::Pass,
            T,
            format!("source {seen}: {}", allowed.join(", ")),
            None,
        )
    } else {
        line(
            "network_policy",
            Status::Fail,
            T,
            format!("source {seen}: {}", denied.join(", ")),
            Some(format!(
                "add an ingress rule: from ipBlock {src}/32 (or its network) to port {} in namespace {}",
                backends[0].1, svc.namespace
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_is_deterministic_hash_order() {
        let ip: IpAddr = "192.168.1.240".parse().unwrap();
        let mut a = vec!["w1".to_string(), "w2".to_string(), "w3".to_string()];
        let mut b = vec!["w3".to_string(), "w1".to_string(), "w2".to_string()];
        election_order(&mut a, ip);
        election_order(&mut b, ip);
        assert_eq!(a, b);
    }
}

#[cfg(test)]
mod log_fallback_tests {
    use super::*;

    /// Without ServiceL2Status or nodeAssigned events, the speakers' own logs name the
    /// announcing node (a cluster-info dump carries them).
    #[test]
    fn speaker_logs_name_the_announcer_when_nothing_else_does() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/scenarios/kube/old-prefix-events");
        let dir = tempfile::tempdir().unwrap();
        let copy = |from: &std::path::Path, to: &std::path::Path| {
            for e in walk(from) {
                let rel = e.strip_prefix(from).unwrap();
                // Drop the events: the logs must stand on their own.
                if rel.file_name().is_some_and(|n| n == "events.json") {
                    continue;
                }
                let dst = to.join(rel);
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::copy(&e, &dst).unwrap();
            }
        };
        copy(&src, dir.path());
        let view = crate::load_dir(dir.path()).unwrap();
        assert!(view.announce_events.is_empty() && view.l2_statuses.is_empty());
        let svc = view
            .services
            .iter()
            .find(|s| !s.lb_ingress_ips.is_empty())
            .unwrap();
        let a = find_announcer(&view, svc).expect("announcer from the logs");
        assert_eq!(a.source, "speaker log serviceAnnounced");
        let pod = view.pods.iter().find(|p| p.name == "speaker-w1").unwrap();
        assert_eq!(Some(a.node), pod.node.clone());
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
