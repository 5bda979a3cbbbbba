//! The names kube-proxy derives from hashes: iptables `KUBE-SVC-…`/`KUBE-SEP-…` chains and
//! nftables `service-XXXXXXXX-ns/name/proto/port` chains, computed exactly as upstream does.

use sha2::{Digest, Sha256};

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 (standard alphabet, padded), as Go's `base32.StdEncoding`.
pub fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                let idx = ((v >> (35 - 5 * i)) & 31) as usize;
                out.push(char::from(B32[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sha_b32(input: &str) -> String {
    base32(&Sha256::digest(input.as_bytes()))
}

/// iptables `portProtoHash`: base32(sha256(servicePortName + protocol))[:16].
pub fn port_proto_hash(service_port_name: &str, protocol: &str) -> String {
    let mut h = sha_b32(&format!("{service_port_name}{protocol}"));
    h.truncate(16);
    h
}

/// iptables endpoint chain hash: base32(sha256(servicePortName + protocol + endpoint))[:16].
pub fn endpoint_hash(service_port_name: &str, protocol: &str, endpoint: &str) -> String {
    let mut h = sha_b32(&format!("{service_port_name}{protocol}{endpoint}"));
    h.truncate(16);
    h
}

/// nftables `hashAndTruncate`: base32(sha256(name))[:8] + "-" + name, cut to 240 characters.
pub fn nft_hash_and_truncate(name: &str) -> String {
    let mut h = sha_b32(name);
    h.truncate(8);
    let full = format!("{h}-{name}");
    if full.len() > 240 {
        let mut cut: String = full.chars().take(237).collect();
        cut.push_str("...");
        cut
    } else {
        full
    }
}

/// MetalLB layer-2 election key: sha256(node + "#" + first LB IP); the smallest wins.
pub fn metallb_election_key(node: &str, lb_ip: &str) -> [u8; 32] {
    Sha256::digest(format!("{node}#{lb_ip}").as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY======");
        assert_eq!(base32(b"fo"), "MZXQ====");
        assert_eq!(base32(b"foo"), "MZXW6===");
        assert_eq!(base32(b"foob"), "MZXW6YQ=");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI======");
    }

    #[test]
    fn iptables_hashes_match_upstream_and_k3s() {
        assert_eq!(port_proto_hash("ns1/svc1:p80", "tcp"), "XPGD46QRK7WJZT7O");
        assert_eq!(port_proto_hash("ns2/svc2:p80", "tcp"), "GNZBNJ2PO5MGZ6GT");
        assert_eq!(
            endpoint_hash("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "SXIVWICOYRO3J4NJ"
        );
        assert_eq!(
            port_proto_hash("default/nginx-mlb-l2-service", "tcp"),
            "W47NQ5DDJKUWFTVY"
        );
        assert_eq!(
            endpoint_hash("default/nginx-mlb-l2-service", "tcp", "10.42.0.25:8080"),
            "H3SFLVALEZ5LECV3"
        );
        assert_eq!(
            port_proto_hash("default/web:http", "tcp"),
            "CDGGSHYLG3RE2FKL"
        );
    }

    #[test]
    fn nft_hashes_match_upstream_and_k3s() {
        assert_eq!(
            nft_hash_and_truncate("ns1/svc1/tcp/p80"),
            "ULMVA6XW-ns1/svc1/tcp/p80"
        );
        assert_eq!(
            nft_hash_and_truncate("ns1/svc1/tcp/p80__10.180.0.1/80"),
            "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
        );
        assert_eq!(
            nft_hash_and_truncate("riset/hellopod-np-svc/tcp/"),
            "P6J77WGM-riset/hellopod-np-svc/tcp/"
        );
    }
}
