//! Which hopdump agents a `trace svc/NAME` needs: the DaemonSet's pods on the nodes of the
//! service's path only — the announcer and the nodes of its endpoints — so a trace in a
//! 1,000-node cluster talks to a handful of agents, never to all of them.

use std::net::SocketAddr;

use crate::check::{CheckOptions, Target, check};
use crate::model::ClusterView;
use crate::{Error, resolve_service};

/// Label the DaemonSet's pods carry (deploy/hopdump.yaml).
pub const AGENT_LABEL: (&str, &str) = ("app.kubernetes.io/name", "hopdump-agent");
/// Port the agent listens on unless its pod names another (`containerPort` named `agent`).
pub const AGENT_PORT: u16 = 7443;
/// Without a known announcer, at most this many MetalLB-eligible nodes are asked.
pub const MAX_CANDIDATES: usize = 8;

/// The agents to call, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentPlan {
    /// (node, agent address), in path order: announcer first.
    pub agents: Vec<(String, SocketAddr)>,
    /// Nodes on the path (announcer or candidates, then endpoints' nodes).
    pub path_nodes: Vec<String>,
    /// Path nodes without a running agent, candidates left out, and the like.
    pub notes: Vec<String>,
}

/// Choose the agents for service `ns/name`.
pub fn agents_for(view: &ClusterView, ns: &str, name: &str) -> Result<AgentPlan, Error> {
    let svc = resolve_service(view, ns, name)?;
    let mut plan = AgentPlan::default();
    let report = check(
        view,
        &Target::Service {
            namespace: ns.to_string(),
            name: name.to_string(),
        },
        &CheckOptions::default(),
    )?;
    match &report.announcer {
        Some(a) => plan.path_nodes.push(a.node.clone()),
        None => {
            let n = report.eligible_nodes.len();
            plan.path_nodes
                .extend(report.eligible_nodes.iter().take(MAX_CANDIDATES).cloned());
            plan.notes.push(format!(
                "announcer unknown: asking {} of {n} MetalLB-eligible node(s)",
                n.min(MAX_CANDIDATES)
            ));
        }
    }
    for p in &svc.ports {
        for e in &p.endpoints {
            if let Some(node) = &e.node
                && !plan.path_nodes.contains(node)
            {
                plan.path_nodes.push(node.clone());
            }
        }
    }
    for node in plan.path_nodes.clone() {
        let pod = view.pods.iter().find(|p| {
            p.node.as_deref() == Some(node.as_str())
                && p.labels.get(AGENT_LABEL.0).map(String::as_str) == Some(AGENT_LABEL.1)
                && p.phase == "Running"
        });
        let Some(pod) = pod else {
            plan.notes.push(format!(
                "{node}: no running hopdump agent pod (label {}={}) — it will be unobserved",
                AGENT_LABEL.0, AGENT_LABEL.1
            ));
            continue;
        };
        let Some(ip) = pod.ips.first() else {
            plan.notes.push(format!(
                "{node}: agent pod {}/{} has no IP yet",
                pod.namespace, pod.name
            ));
            continue;
        };
        let port = pod
            .container_ports
            .iter()
            .find(|c| c.name.as_deref() == Some("agent"))
            .map(|c| c.port)
            .unwrap_or(AGENT_PORT);
        plan.agents.push((node, SocketAddr::new(*ip, port)));
    }
    Ok(plan)
}
