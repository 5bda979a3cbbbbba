//! Service -> (LB IP, port, protocol, endpoints with their nodes): what `trace svc/NAME` needs
//! to plan a path, and what `check` reasons about. Pure over a [`ClusterView`].

use std::net::IpAddr;

use serde::Serialize;

use crate::Error;
use crate::model::{ClusterView, PortRef, Protocol, Service, ServicePort};

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedService {
    pub namespace: String,
    pub name: String,
    /// The first status.loadBalancer.ingress IP (None: not assigned yet).
    pub lb_ip: Option<IpAddr>,
    pub lb_ips: Vec<IpAddr>,
    pub ports: Vec<ResolvedPort>,
}

impl ResolvedService {
    /// The port `trace` should use by default: the first one.
    pub fn primary(&self) -> Option<&ResolvedPort> {
        self.ports.first()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    pub node_port: Option<u16>,
    pub target_port: PortRef,
    pub endpoints: Vec<ResolvedEndpoint>,
    /// `endpointslices`, or `pods` when no EndpointSlice was found and the selector was used.
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedEndpoint {
    pub ip: IpAddr,
    /// The backend port (None: the slice did not carry this service port, e.g. a named
    /// targetPort no pod defines).
    pub port: Option<u16>,
    pub node: Option<String>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// (namespace, name)
    pub pod: Option<(String, String)>,
}

/// Resolve `ns/name`.
pub fn resolve_service(view: &ClusterView, ns: &str, name: &str) -> Result<ResolvedService, Error> {
    let svc = view
        .service(ns, name)
        .ok_or_else(|| not_found(view, ns, name))?;
    Ok(resolve(view, svc))
}

/// The service that has `ip` as a LoadBalancer ingress IP (or requested it).
pub fn service_by_lb_ip(view: &ClusterView, ip: IpAddr) -> Option<&Service> {
    view.services
        .iter()
        .find(|s| s.lb_ingress_ips.contains(&ip))
        .or_else(|| {
            view.services.iter().find(|s| {
                s.requested_lb_ip == Some(ip)
                    || s.metallb_annotation("loadBalancerIPs")
                        .is_some_and(|(_, v)| v.split(',').any(|x| x.trim().parse() == Ok(ip)))
            })
        })
}

pub(crate) fn not_found(view: &ClusterView, ns: &str, name: &str) -> Error {
    let elsewhere: Vec<String> = view
        .services
        .iter()
        .filter(|s| s.name == name)
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect();
    let hint = if elsewhere.is_empty() {
        String::new()
    } else {
        format!(" (found {}: use -n)", elsewhere.join(", "))
    };
    Error::ServiceNotFound {
        namespace: ns.to_string(),
        name: name.to_string(),
        hint,
    }
}

pub fn resolve(view: &ClusterView, svc: &Service) -> ResolvedService {
    ResolvedService {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        lb_ip: svc.lb_ingress_ips.first().copied(),
        lb_ips: svc.lb_ingress_ips.clone(),
        ports: svc
            .ports
            .iter()
            .map(|p| resolve_port(view, svc, p))
            .collect(),
    }
}

fn resolve_port(view: &ClusterView, svc: &Service, sp: &ServicePort) -> ResolvedPort {
    let slices = view.slices_of(&svc.namespace, &svc.name);
    let mut endpoints = Vec::new();
    let source = if !slices.is_empty() {
        for s in slices {
            // A slice port matches the service port by name ("" and absent are the same).
            let port = s
                .ports
                .iter()
                .find(|p| p.name == sp.name && p.protocol == sp.protocol)
                .and_then(|p| p.port);
            for e in &s.endpoints {
                for ip in &e.addresses {
                    endpoints.push(ResolvedEndpoint {
                        ip: *ip,
                        port,
                        node: e.node.clone(),
                        ready: e.ready,
                        serving: e.serving,
                        terminating: e.terminating,
                        pod: e.pod.clone(),
                    });
                }
            }
        }
        "endpointslices"
    } else if let Some(sel) = svc.selector.as_ref().filter(|s| !s.is_empty()) {
        for p in view.pods.iter().filter(|p| {
            p.namespace == svc.namespace && sel.iter().all(|(k, v)| p.labels.get(k) == Some(v))
        }) {
            let port = match &sp.target_port {
                PortRef::Number(n) => Some(*n),
                PortRef::Name(n) => p.named_port(n, sp.protocol),
            };
            for ip in &p.ips {
                endpoints.push(ResolvedEndpoint {
                    ip: *ip,
                    port,
                    node: p.node.clone(),
                    ready: p.is_running_ready(),
                    serving: p.is_running_ready(),
                    terminating: false,
                    pod: Some((p.namespace.clone(), p.name.clone())),
                });
            }
        }
        "pods"
    } else {
        "endpointslices"
    };
    endpoints.sort_by_key(|e| (e.ip, e.port));
    endpoints.dedup_by(|a, b| a.ip == b.ip && a.port == b.port);
    ResolvedPort {
        name: sp.name.clone(),
        port: sp.port,
        protocol: sp.protocol,
        node_port: sp.node_port,
        target_port: sp.target_port.clone(),
        endpoints,
        source,
    }
}
