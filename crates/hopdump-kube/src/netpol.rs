//! NetworkPolicy ingress decisions with the API's semantics: is traffic from an IP to a pod's
//! port allowed, and which policy decides. Pure; no CNI quirks beyond what the API defines
//! (host-network pods are never matched by pod selectors, as Calico and Cilium do).

use std::net::IpAddr;

use serde::Serialize;

use crate::model::{ClusterView, NetworkPolicy, Peer, Pod, PolicyPort, PortRef, Protocol};

/// `namespace/name` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// No policy with Ingress type selects the pod: everything is allowed.
    NotIsolated,
    /// This policy (and rule index) allows it; the first allowing policy by name is reported.
    Allowed { by: PolicyRef, rule: usize },
    /// The pod is isolated for ingress and no rule of these policies allows it.
    Denied { isolated_by: Vec<PolicyRef> },
}

impl Decision {
    pub fn allowed(&self) -> bool {
        !matches!(self, Decision::Denied { .. })
    }
}

/// The policies that isolate `pod` for ingress.
pub fn isolating<'a>(view: &'a ClusterView, pod: &Pod) -> Vec<&'a NetworkPolicy> {
    let mut v: Vec<&NetworkPolicy> = view
        .network_policies
        .iter()
        .filter(|p| {
            p.ingress_isolates
                && p.namespace == pod.namespace
                && p.pod_selector.matches(&pod.labels)
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Ingress from `src` to `pod` on `port`/`proto` (the pod's port, after DNAT).
pub fn ingress(view: &ClusterView, src: IpAddr, pod: &Pod, port: u16, proto: Protocol) -> Decision {
    let pols = isolating(view, pod);
    if pols.is_empty() {
        return Decision::NotIsolated;
    }
    let src_pod = view.pod_by_ip(src);
    for p in &pols {
        for (i, rule) in p.ingress.iter().enumerate() {
            let peer_ok = rule.from.is_empty()
                || rule
                    .from
                    .iter()
                    .any(|peer| peer_matches(view, p, peer, src, src_pod));
            let port_ok = rule.ports.is_empty()
                || rule
                    .ports
                    .iter()
                    .any(|pp| port_matches(pp, pod, port, proto));
            if peer_ok && port_ok {
                return Decision::Allowed {
                    by: PolicyRef {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                    },
                    rule: i,
                };
            }
        }
    }
    Decision::Denied {
        isolated_by: pols
            .iter()
            .map(|p| PolicyRef {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
            })
            .collect(),
    }
}

fn peer_matches(
    view: &ClusterView,
    policy: &NetworkPolicy,
    peer: &Peer,
    src: IpAddr,
    src_pod: Option<&Pod>,
) -> bool {
    match peer {
        Peer::IpBlock { cidr, except } => {
            cidr.contains(&src) && !except.iter().any(|e| e.contains(&src))
        }
        Peer::Pods {
            namespace_selector,
            pod_selector,
        } => {
            let Some(sp) = src_pod else {
                return false;
            };
            let ns_ok = match namespace_selector {
                None => sp.namespace == policy.namespace,
                Some(sel) => sel.matches(&view.namespace_labels(&sp.namespace)),
            };
            let pod_ok = pod_selector.as_ref().is_none_or(|s| s.matches(&sp.labels));
            ns_ok && pod_ok
        }
    }
}

fn port_matches(pp: &PolicyPort, pod: &Pod, port: u16, proto: Protocol) -> bool {
    if pp.protocol != proto {
        return false;
    }
    match &pp.port {
        None => true,
        Some(PortRef::Number(n)) => match pp.end_port {
            Some(end) => *n <= port && port <= end,
            None => *n == port,
        },
        // A named port means the selected pod's container port of that name (endPort does not
        // apply to named ports).
        Some(PortRef::Name(name)) => pod.named_port(name, proto) == Some(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::ingest;
    use serde_json::json;

    fn view() -> ClusterView {
        let mut v = ClusterView::default();
        let objs = vec![
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"team":"shop"}}}),
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"mon","labels":{"team":"ops","env":"prod"}}}),
            json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"}},
                "spec":{"nodeName":"w1","containers":[{"name":"c","ports":[{"name":"http","containerPort":8080},{"name":"dns","containerPort":53,"protocol":"UDP"}]}]},
                "status":{"phase":"Running","podIP":"10.244.1.10","conditions":[{"type":"Ready","status":"True"}]}}),
            json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"db-1","namespace":"shop","labels":{"app":"db"}},
                "spec":{"nodeName":"w1","containers":[{"name":"c"}]},
                "status":{"phase":"Running","podIP":"10.244.1.11"}}),
            json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"prom","namespace":"mon","labels":{"app":"prom"}},
                "spec":{"nodeName":"w2","containers":[{"name":"c"}]},
                "status":{"phase":"Running","podIP":"10.244.2.5"}}),
            json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"hostnet","namespace":"shop","labels":{"app":"web"}},
                "spec":{"nodeName":"w2","hostNetwork":true,"containers":[{"name":"c"}]},
                "status":{"phase":"Running","podIP":"192.168.1.12"}}),
        ];
        for o in objs {
            ingest(&mut v, o, None);
        }
        v
    }

    fn pol(v: &mut ClusterView, spec: serde_json::Value, name: &str) {
        ingest(
            v,
            json!({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
                "metadata":{"name":name,"namespace":"shop"},"spec":spec}),
            None,
        );
    }

    /// (policies, src, pod, port, proto, expected: None = not isolated, Some(Ok(p)) allowed by p,
    /// Some(Err(ps)) denied, isolated by ps)
    #[test]
    fn decision_table() {
        type Exp = Option<Result<&'static str, Vec<&'static str>>>;
        let web_http_from_lan = json!({"podSelector":{"matchLabels":{"app":"web"}},
            "ingress":[{"from":[{"ipBlock":{"cidr":"203.0.113.0/24","except":["203.0.113.128/25"]}}],
                        "ports":[{"port":"http"}]}]});
        let deny_all = json!({"podSelector":{},"policyTypes":["Ingress"]});
        let egress_only = json!({"podSelector":{},"policyTypes":["Egress"]});
        let ns_sel = json!({"podSelector":{"matchLabels":{"app":"web"}},
            "ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"team","operator":"In","values":["ops"]}]},
                                 "podSelector":{"matchLabels":{"app":"prom"}}}],
                        "ports":[{"port":8000,"endPort":8100,"protocol":"TCP"}]}]});
        let same_ns = json!({"podSelector":{"matchLabels":{"app":"db"}},
            "ingress":[{"from":[{"podSelector":{}}]}]});
        let allow_all = json!({"podSelector":{"matchLabels":{"app":"web"}},"ingress":[{}]});
        let udp_named = json!({"podSelector":{"matchLabels":{"app":"web"}},
            "ingress":[{"ports":[{"protocol":"UDP","port":"dns"}]}]});
        type Row = (
            &'static str,
            Vec<(&'static str, serde_json::Value)>,
            &'static str,
            &'static str,
            u16,
            Protocol,
            Exp,
        );
        let cases: Vec<Row> = vec![
            (
                "no policies",
                vec![],
                "1.2.3.4",
                "web-1",
                8080,
                Protocol::Tcp,
                None,
            ),
            (
                "egress-only policy does not isolate ingress",
                vec![("eg", egress_only.clone())],
                "1.2.3.4",
                "web-1",
                8080,
                Protocol::Tcp,
                None,
            ),
            (
                "default deny",
                vec![("deny", deny_all.clone())],
                "1.2.3.4",
                "web-1",
                8080,
                Protocol::Tcp,
                Some(Err(vec!["deny"])),
            ),
            (
                "ipBlock + named port allows",
                vec![
                    ("deny", deny_all.clone()),
                    ("web", web_http_from_lan.clone()),
                ],
                "203.0.113.7",
                "web-1",
                8080,
                Protocol::Tcp,
                Some(Ok("web")),
            ),
            (
                "ipBlock except denies",
                vec![
                    ("deny", deny_all.clone()),
                    ("web", web_http_from_lan.clone()),
                ],
                "203.0.113.200",
                "web-1",
                8080,
                Protocol::Tcp,
                Some(Err(vec!["deny", "web"])),
            ),
            (
                "outside ipBlock denies",
                vec![("web", web_http_from_lan.clone())],
                "198.51.100.1",
                "web-1",
                8080,
                Protocol::Tcp,
                Some(Err(vec!["web"])),
            ),
            (
                "named port mismatch denies",
                vec![("web", web_http_from_lan.clone())],
                "203.0.113.7",
                "web-1",
                9090,
                Protocol::Tcp,
                Some(Err(vec!["web"])),
            ),
            (
                "named port on pod without it",
                vec![("web", web_http_from_lan.clone()), ("db", same_ns.clone())],
                "203.0.113.7",
                "db-1",
                8080,
                Protocol::Tcp,
                Some(Err(vec!["db"])),
            ),
            (
                "namespaceSelector expr + podSelector + endPort allows",
                vec![("ns", ns_sel.clone())],
                "10.244.2.5",
                "web-1",
                8050,
                Protocol::Tcp,
                Some(Ok("ns")),
            ),
            (
                "endPort range excludes",
                vec![("ns", ns_sel.clone())],
                "10.244.2.5",
                "web-1",
                8101,
                Protocol::Tcp,
                Some(Err(vec!["ns"])),
            ),
            (
                "external IP never matches a podSelector",
                vec![("ns", ns_sel.clone())],
                "203.0.113.7",
                "web-1",
                8050,
                Protocol::Tcp,
                Some(Err(vec!["ns"])),
            ),
            (
                "podSelector without namespaceSelector = same namespace only",
                vec![("db", same_ns.clone())],
                "10.244.2.5",
                "db-1",
                5432,
                Protocol::Tcp,
                Some(Err(vec!["db"])),
            ),
            (
                "same-namespace pod allowed",
                vec![("db", same_ns.clone())],
                "10.244.1.10",
                "db-1",
                5432,
                Protocol::Tcp,
                Some(Ok("db")),
            ),
            (
                "host-network pod is not a pod for selectors",
                vec![("db", same_ns.clone())],
                "192.168.1.12",
                "db-1",
                5432,
                Protocol::Tcp,
                Some(Err(vec!["db"])),
            ),
            (
                "empty rule allows everything",
                vec![("deny", deny_all.clone()), ("all", allow_all.clone())],
                "8.8.8.8",
                "web-1",
                1,
                Protocol::Tcp,
                Some(Ok("all")),
            ),
            (
                "protocol must match",
                vec![("udp", udp_named.clone())],
                "8.8.8.8",
                "web-1",
                53,
                Protocol::Tcp,
                Some(Err(vec!["udp"])),
            ),
            (
                "named UDP port",
                vec![("udp", udp_named.clone())],
                "8.8.8.8",
                "web-1",
                53,
                Protocol::Udp,
                Some(Ok("udp")),
            ),
        ];
        for (what, pols, src, pod, port, proto, exp) in cases {
            let mut v = view();
            for (n, s) in pols {
                pol(&mut v, s, n);
            }
            let p = v.pod("shop", pod).unwrap().clone();
            let d = ingress(&v, src.parse().unwrap(), &p, port, proto);
            let got: Exp = match &d {
                Decision::NotIsolated => None,
                Decision::Allowed { by, .. } => {
                    Some(Ok(Box::leak(by.name.clone().into_boxed_str())))
                }
                Decision::Denied { isolated_by } => Some(Err(isolated_by
                    .iter()
                    .map(|r| &*Box::leak(r.name.clone().into_boxed_str()))
                    .collect())),
            };
            assert_eq!(got, exp, "{what}");
        }
    }
}
