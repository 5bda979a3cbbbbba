//! The cluster as hopdump sees it: plain types, no k8s-openapi. Everything the adapter reads
//! (live or from files) lands in one [`ClusterView`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

/// Labels or annotations.
pub type Labels = BTreeMap<String, String>;

/// The label that keeps a node out of external load balancers (MetalLB honours it).
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// Annotation prefixes MetalLB has used: current first, then the pre-v0.13/v0.14.9 one.
pub const METALLB_PREFIXES: [&str; 2] = ["metallb.io/", "metallb.universe.tf/"];

/// Everything read from one cluster (or one support bundle).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterView {
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub pods: Vec<Pod>,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    pub network_policies: Vec<NetworkPolicy>,
    pub ip_pools: Vec<IpAddressPool>,
    pub l2_advertisements: Vec<L2Advertisement>,
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    pub l2_statuses: Vec<ServiceL2Status>,
    pub announce_events: Vec<AnnounceEvent>,
    /// kube-proxy's configuration, when its ConfigMap was found.
    pub kube_proxy: Option<KubeProxyConfig>,
    /// Speaker log lines about services (`--logs`), oldest first.
    pub speaker_logs: Vec<SpeakerLogLine>,
    /// Objects that were read but could not be understood (one line each).
    pub notes: Vec<String>,
    /// MetalLB ≤ 0.12's ConfigMap, kept aside until everything is read: it counts only when
    /// no IPAddressPool exists (MetalLB ≥ 0.13 ignores it; after an upgrade it often stays).
    #[serde(skip)]
    pub(crate) legacy_metallb: Option<LegacyMetallb>,
}

/// Pools and advertisements converted from MetalLB ≤ 0.12's ConfigMap.
#[derive(Debug, Clone, Default)]
pub(crate) struct LegacyMetallb {
    pub(crate) source: String,
    pub(crate) pools: Vec<IpAddressPool>,
    pub(crate) l2: Vec<L2Advertisement>,
    pub(crate) bgp: Vec<BgpAdvertisement>,
}

impl ClusterView {
    /// After the last object: MetalLB ≤ 0.12's ConfigMap stands in for the CRDs only when
    /// there are none (MetalLB ≥ 0.13 reads only the CRDs).
    pub(crate) fn finish(&mut self) {
        let Some(l) = self.legacy_metallb.take() else {
            return;
        };
        if self.ip_pools.is_empty() {
            self.ip_pools.extend(l.pools);
            self.l2_advertisements.extend(l.l2);
            self.bgp_advertisements.extend(l.bgp);
        } else {
            self.notes.push(format!(
                "{} ignored: IPAddressPool objects exist, and MetalLB ≥ 0.13 reads only those",
                l.source
            ));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Kubernetes spelling; absent means TCP.
    pub fn parse(s: Option<&str>) -> Protocol {
        match s.map(str::to_ascii_uppercase).as_deref() {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// A port given by number or by a container port's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrafficPolicy {
    Cluster,
    Local,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    pub type_: String,
    pub selector: Option<Labels>,
    pub cluster_ips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    /// status.loadBalancer.ingress[].ip
    pub lb_ingress_ips: Vec<IpAddr>,
    /// spec.loadBalancerIP (deprecated) when set.
    pub requested_lb_ip: Option<IpAddr>,
    pub external_traffic_policy: TrafficPolicy,
    pub health_check_node_port: Option<u16>,
    pub lb_source_ranges: Vec<ipnet::IpNet>,
    pub lb_class: Option<String>,
    pub annotations: Labels,
    pub labels: Labels,
}

impl Service {
    /// A MetalLB annotation under either prefix (`metallb.io/` wins), e.g. `address-pool`.
    pub fn metallb_annotation(&self, suffix: &str) -> Option<(&str, &str)> {
        METALLB_PREFIXES.iter().find_map(|p| {
            self.annotations
                .get_key_value(&format!("{p}{suffix}"))
                .map(|(k, v)| (k.as_str(), v.as_str()))
        })
    }
    pub fn is_load_balancer(&self) -> bool {
        self.type_ == "LoadBalancer"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub protocol: Protocol,
    pub port: u16,
    pub target_port: PortRef,
    pub node_port: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointSlice {
    pub namespace: String,
    pub name: String,
    /// label kubernetes.io/service-name
    pub service: Option<String>,
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointPort {
    pub name: Option<String>,
    pub protocol: Protocol,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub addresses: Vec<IpAddr>,
    /// Absent ready means ready (API semantics), except while terminating.
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub node: Option<String>,
    /// targetRef of kind Pod: (namespace, name).
    pub pod: Option<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub node: Option<String>,
    pub ips: Vec<IpAddr>,
    pub host_network: bool,
    /// status.phase
    pub phase: String,
    /// condition Ready == True
    pub ready: bool,
    pub container_ports: Vec<ContainerPort>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

impl Pod {
    /// A named container port with this protocol.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.container_ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name) && p.protocol == protocol)
            .map(|p| p.port)
    }
    pub fn is_running_ready(&self) -> bool {
        self.phase == "Running" && self.ready
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    /// (type, address), e.g. ("InternalIP", 192.168.1.11)
    pub addresses: Vec<(String, String)>,
    pub ready: Option<bool>,
    pub network_unavailable: bool,
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
}

impl Node {
    pub fn internal_ip(&self) -> Option<IpAddr> {
        self.addresses
            .iter()
            .filter(|(t, _)| t == "InternalIP")
            .find_map(|(_, a)| a.parse().ok())
    }
    pub fn excluded_from_lb(&self) -> bool {
        self.labels.contains_key(EXCLUDE_LB_LABEL)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
}

/// metav1.LabelSelector.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<SelectorRequirement>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SelectorRequirement {
    pub key: String,
    /// In, NotIn, Exists, DoesNotExist (anything else never matches).
    pub operator: String,
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Kubernetes semantics: all requirements ANDed; the empty selector matches everything.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let have = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => have.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => have.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
    }
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
    /// `k=v,k2 in (a,b)` for messages.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "{} (everything)".to_string();
        }
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            parts.push(match r.operator.as_str() {
                "Exists" => r.key.clone(),
                "DoesNotExist" => format!("!{}", r.key),
                op => format!("{} {} ({})", r.key, op.to_lowercase(), r.values.join(",")),
            });
        }
        parts.join(",")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkPolicy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    /// Effective: spec.policyTypes, or Ingress (+ Egress when egress rules exist) when absent.
    pub ingress_isolates: bool,
    pub egress_isolates: bool,
    pub ingress: Vec<IngressRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngressRule {
    /// Empty: from everywhere.
    pub from: Vec<Peer>,
    /// Empty: every port.
    pub ports: Vec<PolicyPort>,
}

#[derive(Debug, Clone, Serialize)]
pub enum Peer {
    /// namespaceSelector absent = the policy's namespace; podSelector absent = all pods.
    Pods {
        namespace_selector: Option<LabelSelector>,
        pod_selector: Option<LabelSelector>,
    },
    IpBlock {
        cidr: ipnet::IpNet,
        except: Vec<ipnet::IpNet>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyPort {
    pub protocol: Protocol,
    /// Absent: all ports of the protocol.
    pub port: Option<PortRef>,
    pub end_port: Option<u16>,
}

/// An inclusive address range of a pool (CIDRs are turned into ranges).
#[derive(Debug, Clone, Serialize)]
pub struct AddrRange {
    pub text: String,
    pub first: IpAddr,
    pub last: IpAddr,
}

impl AddrRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.first, self.last, ip) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => a <= x && x <= b,
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => a <= x && x <= b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IpAddressPool {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub addresses: Vec<AddrRange>,
    pub auto_assign: bool,
}

impl IpAddressPool {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|r| r.contains(ip))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct L2Advertisement {
    pub namespace: String,
    pub name: String,
    /// Pools by name; with `pool_selectors` both empty the advertisement covers every pool.
    pub pools: Vec<String>,
    pub pool_selectors: Vec<LabelSelector>,
    /// Empty: every node.
    pub node_selectors: Vec<LabelSelector>,
    /// Empty: every interface.
    pub interfaces: Vec<String>,
}

impl L2Advertisement {
    pub fn covers_pool(&self, pool: &IpAddressPool) -> bool {
        (self.pools.is_empty() && self.pool_selectors.is_empty())
            || self.pools.iter().any(|p| p == &pool.name)
            || self.pool_selectors.iter().any(|s| s.matches(&pool.labels))
    }
    pub fn covers_node(&self, node: &Node) -> bool {
        self.node_selectors.is_empty()
            || self.node_selectors.iter().any(|s| s.matches(&node.labels))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BgpAdvertisement {
    pub namespace: String,
    pub name: String,
    pub pools: Vec<String>,
    pub node_selectors: Vec<LabelSelector>,
}

/// MetalLB's ServiceL2Status: which node announces a service (written by the speaker).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceL2Status {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub service_namespace: String,
    pub service_name: String,
    /// Empty: all interfaces.
    pub interfaces: Vec<String>,
}

/// A `nodeAssigned` event: "announcing from node "X" with protocol "layer2"".
#[derive(Debug, Clone, Serialize)]
pub struct AnnounceEvent {
    pub service_namespace: String,
    pub service_name: String,
    pub node: String,
    pub protocol: Option<String>,
    /// RFC 3339 (last seen), as written.
    pub time: Option<String>,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct KubeProxyConfig {
    /// `iptables`, `ipvs`, `nftables`; empty in the file means iptables on Linux.
    pub mode: String,
    pub strict_arp: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpeakerLogLine {
    pub pod: String,
    pub event: String,
    pub service: Option<String>,
    pub ips: Vec<String>,
    pub interface: Option<String>,
    pub ts: Option<String>,
}

impl ClusterView {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    pub fn pod(&self, ns: &str, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.namespace == ns && p.name == name)
    }
    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.namespace == ns && s.name == name)
    }
    /// Labels of a namespace; `kubernetes.io/metadata.name` is always there (the API server
    /// sets it), so namespace selectors work even when Namespaces were not collected.
    pub fn namespace_labels(&self, ns: &str) -> Labels {
        let mut l = self
            .namespaces
            .iter()
            .find(|n| n.name == ns)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        l.entry("kubernetes.io/metadata.name".to_string())
            .or_insert_with(|| ns.to_string());
        l
    }
    /// The (non-hostNetwork) pod that owns an IP.
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| !p.host_network && p.ips.contains(&ip))
    }
    /// MetalLB speaker pods: classic `app=metallb,component=speaker` or Helm
    /// `app.kubernetes.io/name=metallb,app.kubernetes.io/component=speaker` labels.
    pub fn speakers(&self) -> Vec<&Pod> {
        self.pods.iter().filter(|p| is_speaker(&p.labels)).collect()
    }
    pub fn slices_of(&self, ns: &str, svc: &str) -> Vec<&EndpointSlice> {
        self.endpoint_slices
            .iter()
            .filter(|s| s.namespace == ns && s.service.as_deref() == Some(svc))
            .collect()
    }
}

/// Is this a MetalLB speaker by its labels?
pub fn is_speaker(l: &Labels) -> bool {
    let get = |k: &str| l.get(k).map(String::as_str);
    let classic = get("component") == Some("speaker")
        && matches!(get("app"), Some("metallb") | Some("metallb-speaker"));
    let helm = get("app.kubernetes.io/component") == Some("speaker")
        && get("app.kubernetes.io/name").is_some_and(|n| n.contains("metallb"));
    classic || helm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_semantics() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let mut s = LabelSelector::default();
        assert!(s.matches(&l));
        s.match_expressions.push(SelectorRequirement {
            key: "tier".into(),
            operator: "In".into(),
            values: vec!["front".into(), "back".into()],
        });
        assert!(s.matches(&l));
        s.match_expressions.push(SelectorRequirement {
            key: "canary".into(),
            operator: "NotIn".into(),
            values: vec!["true".into()],
        });
        assert!(s.matches(&l));
        s.match_expressions.push(SelectorRequirement {
            key: "zone".into(),
            operator: "Exists".into(),
            values: vec![],
        });
        assert!(!s.matches(&l));
    }

    #[test]
    fn speaker_labels_classic_and_helm() {
        assert!(is_speaker(&labels(&[
            ("app", "metallb"),
            ("component", "speaker")
        ])));
        assert!(is_speaker(&labels(&[
            ("app.kubernetes.io/name", "metallb"),
            ("app.kubernetes.io/component", "speaker")
        ])));
        assert!(!is_speaker(&labels(&[
            ("app", "metallb"),
            ("component", "controller")
        ])));
    }
}
