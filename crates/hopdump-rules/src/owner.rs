//! Who wrote a rule: kube-proxy (and for which Service), a NetworkPolicy engine, a CNI,
//! MetalLB, or the host's own firewall — from chain and table names and kube-proxy's comments.

use serde::Serialize;

/// The writer of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// kube-proxy, calico, cilium, kube-router, antrea, flannel, cni-plugins, metallb, docker,
    /// host-firewall.
    pub kind: &'static str,
    /// `namespace/name:port` (or `namespace/name` for an unnamed port) when kube-proxy names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// kube-proxy's own chains in iptables and IPVS modes.
const KUBE_PROXY_CHAINS: &[&str] = &[
    "KUBE-SERVICES",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-NODE-PORT",
    "KUBE-POSTROUTING",
    "KUBE-MARK-MASQ",
    "KUBE-MARK-DROP",
    "KUBE-FORWARD",
    "KUBE-PROXY-FIREWALL",
    "KUBE-FIREWALL",
    "KUBE-PROXY-CANARY",
    "KUBE-LOAD-BALANCER",
    "KUBE-SOURCE-RANGES-FIREWALL",
    "KUBE-IPVS-FILTER",
    "KUBE-IPVS-OUT-FILTER",
    "KUBE-KUBELET-CANARY",
];

/// Service named by a kube-proxy comment: "ns/name:port cluster IP", "ns/name:port -> 1.2.3.4:80",
/// "masquerade traffic for ns/name:port external destinations", "ns/name:port has no endpoints".
pub fn service_from_comment(comment: &str) -> Option<String> {
    // Byte tests: this runs for every kube-proxy rule a walk touches.
    comment
        .split_ascii_whitespace()
        .map(|w| w.trim_end_matches(':'))
        .find(|w| {
            let Some((ns, rest)) = w.split_once('/') else {
                return false;
            };
            !ns.is_empty()
                && !rest.is_empty()
                && ns
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && rest
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b':' || c == b'.')
        })
        .map(|w| w.to_string())
}

/// Service named by a kube-proxy nftables chain: `service-HASH-ns/name/proto/port`,
/// `endpoint-HASH-ns/name/proto/port__ip/port`, `external-…`, `local-…`, `firewall-…`.
pub fn service_from_nft_chain(chain: &str) -> Option<String> {
    let (_, rest) = chain.split_once('-')?;
    let (_, rest) = rest.split_once('-')?;
    let rest = rest.split("__").next()?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() != 4 {
        return None;
    }
    Some(if parts[3].is_empty() {
        format!("{}/{}", parts[0], parts[1])
    } else {
        format!("{}/{}:{}", parts[0], parts[1], parts[3])
    })
}

/// Attribute an iptables rule by its chain (and target) and comment.
pub fn xt_owner(chain: &str, target: Option<&str>, comment: Option<&str>) -> Owner {
    let kind = xt_kind(chain)
        .or_else(|| target.and_then(xt_kind))
        .unwrap_or("host-firewall");
    let service = if kind == "kube-proxy" {
        comment.and_then(service_from_comment)
    } else {
        None
    };
    Owner { kind, service }
}

fn xt_kind(chain: &str) -> Option<&'static str> {
    let c = chain;
    if c.starts_with("KUBE-ROUTER-")
        || c.starts_with("KUBE-NWPLCY-")
        || c.starts_with("KUBE-POD-FW-")
        || c.starts_with("KUBE-SRC-")
        || c.starts_with("KUBE-DST-")
    {
        Some("kube-router")
    } else if c.starts_with("KUBE-SVC-")
        || c.starts_with("KUBE-SVL-")
        || c.starts_with("KUBE-EXT-")
        || c.starts_with("KUBE-FW-")
        || c.starts_with("KUBE-SEP-")
        || c.starts_with("KUBE-XLB-")
        || KUBE_PROXY_CHAINS.contains(&c)
    {
        Some("kube-proxy")
    } else if c.starts_with("cali-") {
        Some("calico")
    } else if c.starts_with("CILIUM_") || c.starts_with("OLD_CILIUM_") {
        Some("cilium")
    } else if c.starts_with("ANTREA-") {
        Some("antrea")
    } else if c.starts_with("FLANNEL-") {
        Some("flannel")
    } else if c.starts_with("CNI-") {
        Some("cni-plugins")
    } else if c.to_ascii_uppercase().starts_with("METALLB") {
        Some("metallb")
    } else if c.starts_with("DOCKER") {
        Some("docker")
    } else if c.starts_with("KUBE-") {
        Some("kubernetes")
    } else {
        None
    }
}

/// Attribute an nftables rule by its table and chain.
pub fn nft_owner(table: &str, chain: &str, comment: Option<&str>) -> Owner {
    let kind = match table {
        "kube-proxy" => "kube-proxy",
        t if t.starts_with("calico") => "calico",
        t if t.starts_with("cilium") => "cilium",
        t if t.starts_with("antrea") => "antrea",
        t if t.starts_with("kube-router") => "kube-router",
        t if t.contains("metallb") => "metallb",
        "firewalld" => "host-firewall",
        _ => xt_kind(chain).unwrap_or("host-firewall"),
    };
    let service = if kind == "kube-proxy" {
        service_from_nft_chain(chain).or_else(|| comment.and_then(service_from_comment))
    } else {
        None
    };
    Owner { kind, service }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_from_comments_and_chains() {
        assert_eq!(
            service_from_comment("default/web:http -> 10.244.1.12:8080").as_deref(),
            Some("default/web:http")
        );
        assert_eq!(
            service_from_comment("masquerade traffic for shop/api:https external destinations")
                .as_deref(),
            Some("shop/api:https")
        );
        assert_eq!(
            service_from_comment("default/nginx-mlb-l2-service loadbalancer IP").as_deref(),
            Some("default/nginx-mlb-l2-service")
        );
        assert_eq!(service_from_comment("kubernetes service portals"), None);
        assert_eq!(
            service_from_nft_chain("endpoint-6N4KPBX6-shop/api/tcp/https__10.244.1.20/8443")
                .as_deref(),
            Some("shop/api:https")
        );
        assert_eq!(service_from_nft_chain("services"), None);
    }

    #[test]
    fn owners() {
        assert_eq!(
            xt_owner("KUBE-SEP-ABC", Some("DNAT"), Some("default/web:http"))
                .service
                .as_deref(),
            Some("default/web:http")
        );
        assert_eq!(xt_owner("KUBE-NWPLCY-XYZ", None, None).kind, "kube-router");
        assert_eq!(xt_owner("cali-fw-cali1234", None, None).kind, "calico");
        assert_eq!(
            xt_owner("FORWARD", Some("KUBE-FORWARD"), None).kind,
            "kube-proxy"
        );
        assert_eq!(
            xt_owner("FORWARD", Some("DROP"), None).kind,
            "host-firewall"
        );
        assert_eq!(nft_owner("kube-proxy", "services", None).kind, "kube-proxy");
    }
}
