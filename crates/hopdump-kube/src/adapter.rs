//! The only place that knows the API's shapes: one object in kubectl's/the API's JSON form
//! (core kinds through k8s-openapi, MetalLB's CRDs as JSON values) -> the plain model.
//! Both the live client and the offline loader feed objects through [`ingest`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::model::*;

/// What [`ingest`] did with an object.
#[derive(Debug, PartialEq, Eq)]
pub enum Ingested {
    Used,
    /// A kind hopdump does not need (Deployments, Secrets...).
    Ignored,
}

/// Add one object to the view. `kind_hint` is the item kind of an enclosing List (items of
/// `kubectl cluster-info dump` lists carry no kind of their own). Objects that cannot be read
/// become a note, never an error: a support bundle with one odd object is still useful.
pub fn ingest(view: &mut ClusterView, obj: Value, kind_hint: Option<&str>) -> Ingested {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .or(kind_hint)
        .unwrap_or("")
        .to_string();
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let what = format!(
        "{kind} {}",
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );
    let r: Result<(), String> = match kind.as_str() {
        "Service" => typed::<core::Service>(obj).map(|s| view.services.push(service(s))),
        "EndpointSlice" => {
            typed::<discovery::EndpointSlice>(obj).map(|s| view.endpoint_slices.push(slice(s)))
        }
        "Pod" => typed::<core::Pod>(obj).map(|p| view.pods.push(pod(p))),
        "Node" => typed::<core::Node>(obj).map(|n| view.nodes.push(node(n))),
        "Namespace" => typed::<core::Namespace>(obj).map(|n| {
            view.namespaces.push(Namespace {
                name: n.metadata.name.unwrap_or_default(),
                labels: n.metadata.labels.unwrap_or_default(),
            })
        }),
        "NetworkPolicy" => {
            typed::<networking::NetworkPolicy>(obj).map(|p| view.network_policies.push(netpol(p)))
        }
        "Event" if api_version.starts_with("events.k8s.io") => {
            event_new(view, &obj);
            Ok(())
        }
        "Event" => typed::<core::Event>(obj).map(|e| event(view, e)),
        "ConfigMap" => typed::<core::ConfigMap>(obj).map(|c| configmap(view, c)),
        "IPAddressPool" => ip_pool(&obj).map(|p| view.ip_pools.push(p)),
        "L2Advertisement" => {
            view.l2_advertisements.push(L2Advertisement {
                namespace: str_at(&obj, "/metadata/namespace"),
                name: str_at(&obj, "/metadata/name"),
                pools: strings_at(&obj, "/spec/ipAddressPools"),
                pool_selectors: selectors_at(&obj, "/spec/ipAddressPoolSelectors"),
                node_selectors: selectors_at(&obj, "/spec/nodeSelectors"),
                interfaces: strings_at(&obj, "/spec/interfaces"),
            });
            Ok(())
        }
        "BGPAdvertisement" => {
            view.bgp_advertisements.push(BgpAdvertisement {
                namespace: str_at(&obj, "/metadata/namespace"),
                name: str_at(&obj, "/metadata/name"),
                pools: strings_at(&obj, "/spec/ipAddressPools"),
                node_selectors: selectors_at(&obj, "/spec/nodeSelectors"),
            });
            Ok(())
        }
        "ServiceL2Status" => {
            let label = |k: &str| {
                obj.pointer("/metadata/labels")
                    .and_then(|l| l.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let or = |a: String, b: String| if a.is_empty() { b } else { a };
            let interfaces = obj
                .pointer("/status/interfaces")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i.get("name").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            view.l2_statuses.push(ServiceL2Status {
                namespace: str_at(&obj, "/metadata/namespace"),
                name: str_at(&obj, "/metadata/name"),
                node: or(str_at(&obj, "/status/node"), label("metallb.io/node")),
                service_namespace: or(
                    str_at(&obj, "/status/serviceNamespace"),
                    label("metallb.io/service-namespace"),
                ),
                service_name: or(
                    str_at(&obj, "/status/serviceName"),
                    label("metallb.io/service-name"),
                ),
                interfaces,
            });
            Ok(())
        }
        _ => return Ingested::Ignored,
    };
    if let Err(e) = r {
        view.notes.push(format!("{what}: not understood: {e}"));
    }
    Ingested::Used
}

fn typed<T: serde::de::DeserializeOwned>(obj: Value) -> Result<T, String> {
    serde_json::from_value(obj).map_err(|e| e.to_string())
}

fn str_at(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn strings_at(v: &Value, p: &str) -> Vec<String> {
    v.pointer(p)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn selectors_at(v: &Value, p: &str) -> Vec<LabelSelector> {
    v.pointer(p)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| serde_json::from_value::<meta::LabelSelector>(s.clone()).ok())
                .map(selector)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn selector(s: meta::LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: s.match_labels.unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .unwrap_or_default()
            .into_iter()
            .map(|r| SelectorRequirement {
                key: r.key,
                operator: r.operator,
                values: r.values.unwrap_or_default(),
            })
            .collect(),
    }
}

fn port_ref(p: IntOrString) -> PortRef {
    match p {
        IntOrString::Int(n) => PortRef::Number(u16::try_from(n).unwrap_or(0)),
        IntOrString::String(s) => match s.parse::<u16>() {
            Ok(n) => PortRef::Number(n),
            Err(_) => PortRef::Name(s),
        },
    }
}

fn port16(n: i32) -> u16 {
    u16::try_from(n).unwrap_or(0)
}

fn ips<'a>(it: impl IntoIterator<Item = &'a String>) -> Vec<IpAddr> {
    it.into_iter().filter_map(|s| s.parse().ok()).collect()
}

fn service(s: core::Service) -> Service {
    let spec = s.spec.unwrap_or_default();
    let ingress = s
        .status
        .and_then(|st| st.load_balancer)
        .and_then(|lb| lb.ingress)
        .unwrap_or_default();
    let mut cluster_ips = ips(spec.cluster_ips.iter().flatten());
    if cluster_ips.is_empty() {
        cluster_ips = ips(spec.cluster_ip.iter());
    }
    Service {
        namespace: s.metadata.namespace.unwrap_or_else(|| "default".into()),
        name: s.metadata.name.unwrap_or_default(),
        type_: spec.type_.unwrap_or_else(|| "ClusterIP".into()),
        selector: spec.selector,
        cluster_ips,
        ports: spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| ServicePort {
                target_port: p
                    .target_port
                    .map(port_ref)
                    .unwrap_or(PortRef::Number(port16(p.port))),
                name: p.name,
                protocol: Protocol::parse(p.protocol.as_deref()),
                port: port16(p.port),
                node_port: p.node_port.map(port16),
            })
            .collect(),
        lb_ingress_ips: ips(ingress.iter().filter_map(|i| i.ip.as_ref())),
        requested_lb_ip: spec.load_balancer_ip.and_then(|s| s.parse().ok()),
        external_traffic_policy: match spec.external_traffic_policy.as_deref() {
            Some("Local") => TrafficPolicy::Local,
            _ => TrafficPolicy::Cluster,
        },
        health_check_node_port: spec.health_check_node_port.map(port16),
        lb_source_ranges: spec
            .load_balancer_source_ranges
            .unwrap_or_default()
            .iter()
            .filter_map(|r| parse_net(r))
            .collect(),
        lb_class: spec.load_balancer_class,
        annotations: s.metadata.annotations.unwrap_or_default(),
        labels: s.metadata.labels.unwrap_or_default(),
    }
}

/// A CIDR, or a bare address as a host route.
pub(crate) fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

fn slice(s: discovery::EndpointSlice) -> EndpointSlice {
    let labels = s.metadata.labels.unwrap_or_default();
    EndpointSlice {
        namespace: s.metadata.namespace.unwrap_or_else(|| "default".into()),
        name: s.metadata.name.unwrap_or_default(),
        service: labels.get("kubernetes.io/service-name").cloned(),
        ports: s
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| EndpointPort {
                name: p.name.filter(|n| !n.is_empty()),
                protocol: Protocol::parse(p.protocol.as_deref()),
                port: p.port.map(port16),
            })
            .collect(),
        endpoints: s
            .endpoints
            .into_iter()
            .map(|e| {
                let c = e.conditions.unwrap_or_default();
                let terminating = c.terminating.unwrap_or(false);
                // API: nil ready = ready, unless terminating; nil serving = same as ready.
                let ready = c.ready.unwrap_or(!terminating);
                Endpoint {
                    addresses: ips(e.addresses.iter()),
                    ready,
                    serving: c.serving.unwrap_or(ready),
                    terminating,
                    node: e.node_name,
                    pod: e
                        .target_ref
                        .filter(|r| r.kind.as_deref() == Some("Pod"))
                        .and_then(|r| Some((r.namespace.unwrap_or_default(), r.name?))),
                }
            })
            .collect(),
    }
}

fn pod(p: core::Pod) -> Pod {
    let spec = p.spec.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    let mut pod_ips = ips(status.pod_ips.iter().flatten().map(|i| &i.ip));
    if pod_ips.is_empty() {
        pod_ips = ips(status.pod_ip.iter());
    }
    Pod {
        namespace: p.metadata.namespace.unwrap_or_else(|| "default".into()),
        name: p.metadata.name.unwrap_or_default(),
        labels: p.metadata.labels.unwrap_or_default(),
        node: spec.node_name,
        ips: pod_ips,
        host_network: spec.host_network.unwrap_or(false),
        phase: status.phase.unwrap_or_default(),
        ready: status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        container_ports: spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .map(|cp| ContainerPort {
                name: cp.name.clone(),
                port: port16(cp.container_port),
                protocol: Protocol::parse(cp.protocol.as_deref()),
            })
            .collect(),
    }
}

fn node(n: core::Node) -> Node {
    let spec = n.spec.unwrap_or_default();
    let status = n.status.unwrap_or_default();
    let cond = |t: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t)
            .map(|c| c.status == "True")
    };
    Node {
        name: n.metadata.name.unwrap_or_default(),
        labels: n.metadata.labels.unwrap_or_default(),
        addresses: status
            .addresses
            .iter()
            .flatten()
            .map(|a| (a.type_.clone(), a.address.clone()))
            .collect(),
        ready: cond("Ready"),
        network_unavailable: cond("NetworkUnavailable").unwrap_or(false),
        unschedulable: spec.unschedulable.unwrap_or(false),
        taints: spec
            .taints
            .unwrap_or_default()
            .into_iter()
            .map(|t| Taint {
                key: t.key,
                value: t.value,
                effect: t.effect,
            })
            .collect(),
    }
}

fn netpol(p: networking::NetworkPolicy) -> NetworkPolicy {
    let spec = p.spec.unwrap_or_default();
    let types = spec.policy_types.clone().unwrap_or_default();
    let has_egress_rules = spec.egress.is_some();
    let (ingress_isolates, egress_isolates) = if types.is_empty() {
        (true, has_egress_rules)
    } else {
        (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        )
    };
    NetworkPolicy {
        namespace: p.metadata.namespace.unwrap_or_else(|| "default".into()),
        name: p.metadata.name.unwrap_or_default(),
        pod_selector: spec.pod_selector.map(selector).unwrap_or_default(),
        ingress_isolates,
        egress_isolates,
        ingress: spec
            .ingress
            .unwrap_or_default()
            .into_iter()
            .map(|r| IngressRule {
                from: r
                    .from
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|peer| {
                        if let Some(b) = peer.ip_block {
                            Some(Peer::IpBlock {
                                cidr: parse_net(&b.cidr)?,
                                except: b
                                    .except
                                    .unwrap_or_default()
                                    .iter()
                                    .filter_map(|e| parse_net(e))
                                    .collect(),
                            })
                        } else {
                            Some(Peer::Pods {
                                namespace_selector: peer.namespace_selector.map(selector),
                                pod_selector: peer.pod_selector.map(selector),
                            })
                        }
                    })
                    .collect(),
                ports: r
                    .ports
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| PolicyPort {
                        protocol: Protocol::parse(p.protocol.as_deref()),
                        port: p.port.map(port_ref),
                        end_port: p.end_port.map(port16),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `announcing from node "X" with protocol "layer2"` (older speakers: no protocol part).
pub(crate) fn parse_announcing(msg: &str) -> Option<(String, Option<String>)> {
    let rest = msg.strip_prefix("announcing from node ")?;
    let mut quoted = rest.split('"').skip(1).step_by(2);
    let node = quoted.next()?.to_string();
    let proto = quoted.next().map(str::to_string);
    if node.is_empty() {
        return None;
    }
    Some((node, proto))
}

fn push_announce(
    view: &mut ClusterView,
    kind: Option<&str>,
    ns: Option<String>,
    name: Option<String>,
    msg: &str,
    time: Option<String>,
    count: u32,
) {
    if kind.is_some_and(|k| k != "Service") {
        return;
    }
    let (Some(ns), Some(name)) = (ns, name) else {
        return;
    };
    if let Some((node, protocol)) = parse_announcing(msg) {
        view.announce_events.push(AnnounceEvent {
            service_namespace: ns,
            service_name: name,
            node,
            protocol,
            time,
            count,
        });
    }
}

fn event(view: &mut ClusterView, e: core::Event) {
    if e.reason.as_deref() != Some("nodeAssigned") {
        return;
    }
    let time = e
        .last_timestamp
        .map(|t| t.0.to_string())
        .or_else(|| e.event_time.map(|t| t.0.to_string()))
        .or_else(|| e.first_timestamp.map(|t| t.0.to_string()));
    let o = e.involved_object;
    push_announce(
        view,
        o.kind.as_deref(),
        o.namespace,
        o.name,
        e.message.as_deref().unwrap_or(""),
        time,
        u32::try_from(e.count.unwrap_or(1)).unwrap_or(1),
    );
}

/// events.k8s.io/v1: `regarding`, `note`, `deprecatedLastTimestamp`.
fn event_new(view: &mut ClusterView, v: &Value) {
    if v.get("reason").and_then(Value::as_str) != Some("nodeAssigned") {
        return;
    }
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let time = s("/deprecatedLastTimestamp").or_else(|| s("/eventTime"));
    let kind = s("/regarding/kind");
    push_announce(
        view,
        kind.as_deref(),
        s("/regarding/namespace"),
        s("/regarding/name"),
        &s("/note").unwrap_or_default(),
        time,
        1,
    );
}

fn configmap(view: &mut ClusterView, c: core::ConfigMap) {
    let data: BTreeMap<String, String> = c.data.clone().unwrap_or_default();
    if let Some(conf) = data.get("config").filter(|v| v.contains("address-pools"))
        && c.metadata.name.as_deref() == Some("config")
    {
        let ns = c.metadata.namespace.clone().unwrap_or_default();
        metallb_legacy(view, &ns, conf);
        return;
    }
    if c.metadata.name.as_deref() != Some("kube-proxy") {
        return;
    }
    let Some(conf) = data
        .get("config.conf")
        .or_else(|| data.values().find(|v| v.contains("KubeProxyConfiguration")))
    else {
        return;
    };
    match serde_yaml::from_str::<Value>(conf) {
        Ok(v) => {
            let mode = v.get("mode").and_then(Value::as_str).unwrap_or("");
            view.kube_proxy = Some(KubeProxyConfig {
                mode: if mode.is_empty() {
                    "iptables".into()
                } else {
                    mode.to_string()
                },
                strict_arp: v
                    .pointer("/ipvs/strictARP")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            });
        }
        Err(e) => view.notes.push(format!(
            "ConfigMap kube-system/kube-proxy: config.conf: {e}"
        )),
    }
}

/// MetalLB ≤ 0.12's ConfigMap (`config: |` with `address-pools:`): each pool becomes an
/// IPAddressPool plus the advertisement its `protocol` implies (layer2 → L2Advertisement,
/// bgp → BGPAdvertisement), as MetalLB 0.13's own migration tool converts them.
fn metallb_legacy(view: &mut ClusterView, ns: &str, conf: &str) {
    let where_ = format!("ConfigMap {ns}/config (MetalLB < 0.13)");
    let v: Value = match serde_yaml::from_str(conf) {
        Ok(v) => v,
        Err(e) => {
            view.notes.push(format!("{where_}: {e}"));
            return;
        }
    };
    let Some(pools) = v.get("address-pools").and_then(Value::as_array) else {
        view.notes.push(format!("{where_}: no address-pools list"));
        return;
    };
    let mut legacy = LegacyMetallb {
        source: where_.clone(),
        ..LegacyMetallb::default()
    };
    for p in pools {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut addresses = Vec::new();
        let mut bad = None;
        for a in p
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            match parse_range(a) {
                Some(r) => addresses.push(r),
                None => bad = Some(a.to_string()),
            }
        }
        if let Some(a) = bad {
            view.notes.push(format!(
                "{where_}: pool {name:?}: address {a:?} not understood"
            ));
        }
        let auto_assign = p
            .get("auto-assign")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        legacy.pools.push(IpAddressPool {
            namespace: ns.to_string(),
            name: name.clone(),
            labels: Default::default(),
            addresses,
            auto_assign,
        });
        match p.get("protocol").and_then(Value::as_str).unwrap_or("") {
            "layer2" => legacy.l2.push(L2Advertisement {
                namespace: ns.to_string(),
                name: format!("{name} (layer2, from the ConfigMap)"),
                pools: vec![name],
                pool_selectors: Vec::new(),
                node_selectors: Vec::new(),
                interfaces: Vec::new(),
            }),
            "bgp" => legacy.bgp.push(BgpAdvertisement {
                namespace: ns.to_string(),
                name: format!("{name} (bgp, from the ConfigMap)"),
                pools: vec![name],
                node_selectors: Vec::new(),
            }),
            other => view.notes.push(format!(
                "{where_}: pool {name:?}: protocol {other:?} (want layer2 or bgp)"
            )),
        }
    }
    view.legacy_metallb = Some(legacy);
}

fn ip_pool(v: &Value) -> Result<IpAddressPool, String> {
    let mut addresses = Vec::new();
    for a in strings_at(v, "/spec/addresses") {
        addresses.push(parse_range(&a).ok_or_else(|| format!("address {a:?}"))?);
    }
    Ok(IpAddressPool {
        namespace: str_at(v, "/metadata/namespace"),
        name: str_at(v, "/metadata/name"),
        labels: v
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default(),
        addresses,
        auto_assign: v
            .pointer("/spec/autoAssign")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    })
}

/// `192.168.1.240/28`, `192.168.1.240-192.168.1.250` or a single address.
pub(crate) fn parse_range(s: &str) -> Option<AddrRange> {
    let s = s.trim();
    let (first, last) = if let Some((a, b)) = s.split_once('-') {
        (a.trim().parse().ok()?, b.trim().parse().ok()?)
    } else {
        let n = parse_net(s)?;
        (n.network(), n.broadcast())
    };
    Some(AddrRange {
        text: s.to_string(),
        first,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcing_message_both_forms() {
        assert_eq!(
            parse_announcing(r#"announcing from node "master-0" with protocol "layer2""#),
            Some(("master-0".into(), Some("layer2".into())))
        );
        assert_eq!(
            parse_announcing(r#"announcing from node "w1""#),
            Some(("w1".into(), None))
        );
        assert_eq!(parse_announcing("Assigned IP [\"1.2.3.4\"]"), None);
    }

    #[test]
    fn pool_ranges() {
        let r = parse_range("192.168.1.240/28").unwrap();
        assert!(r.contains("192.168.1.255".parse().unwrap()));
        assert!(!r.contains("192.168.2.0".parse().unwrap()));
        let r = parse_range("10.0.0.5-10.0.0.9").unwrap();
        assert!(r.contains("10.0.0.9".parse().unwrap()));
        assert!(!r.contains("10.0.0.10".parse().unwrap()));
    }

    /// MetalLB ≤ 0.12's ConfigMap: its pools count only without IPAddressPool objects (after
    /// an upgrade the ConfigMap often stays, and MetalLB ≥ 0.13 ignores it).
    #[test]
    fn legacy_configmap_only_without_crd_pools() {
        let cm = serde_json::json!({"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"config","namespace":"metallb-system"},
            "data":{"config":"address-pools:\n- name: old\n  protocol: layer2\n  addresses:\n  - 10.9.9.0/28\n- name: weird\n  protocol: ospf\n  addresses:\n  - nonsense\n"}});
        let crd = serde_json::json!({"apiVersion":"metallb.io/v1beta1","kind":"IPAddressPool",
            "metadata":{"name":"new","namespace":"metallb-system"},
            "spec":{"addresses":["192.168.1.240-192.168.1.250"]}});

        let mut v = ClusterView::default();
        assert_eq!(ingest(&mut v, cm.clone(), None), Ingested::Used);
        assert!(v.ip_pools.is_empty(), "kept aside until the end");
        v.finish();
        let names: Vec<&str> = v.ip_pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["old", "weird"]);
        assert_eq!(v.l2_advertisements.len(), 1);
        assert!(v.l2_advertisements[0].pools == ["old"]);
        assert!(
            v.notes.iter().any(|n| n.contains("\"nonsense\"")),
            "{:?}",
            v.notes
        );
        assert!(
            v.notes.iter().any(|n| n.contains("\"ospf\"")),
            "{:?}",
            v.notes
        );

        // With a CRD pool, read before or after the ConfigMap: the ConfigMap is ignored.
        for order in [[cm.clone(), crd.clone()], [crd.clone(), cm.clone()]] {
            let mut v = ClusterView::default();
            for o in order {
                ingest(&mut v, o, None);
            }
            v.finish();
            let names: Vec<&str> = v.ip_pools.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["new"]);
            assert!(v.l2_advertisements.is_empty());
            assert!(
                v.notes.iter().any(|n| n.contains("ignored")),
                "{:?}",
                v.notes
            );
        }
    }

    #[test]
    fn named_target_port_and_both_annotation_prefixes() {
        let mut v = ClusterView::default();
        let svc = serde_json::json!({"apiVersion":"v1","kind":"Service",
            "metadata":{"name":"web","namespace":"default",
                "annotations":{"metallb.universe.tf/address-pool":"old"}},
            "spec":{"type":"LoadBalancer","ports":[{"name":"http","port":80,"targetPort":"http"}]},
            "status":{"loadBalancer":{"ingress":[{"ip":"192.168.1.240"}]}}});
        assert_eq!(ingest(&mut v, svc, None), Ingested::Used);
        let s = &v.services[0];
        assert_eq!(s.ports[0].target_port, PortRef::Name("http".into()));
        assert_eq!(
            s.metallb_annotation("address-pool"),
            Some(("metallb.universe.tf/address-pool", "old"))
        );
        assert_eq!(
            s.lb_ingress_ips,
            vec!["192.168.1.240".parse::<IpAddr>().unwrap()]
        );
    }
}
