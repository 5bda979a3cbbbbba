//! Writes a synthetic kube-proxy `iptables-save` for N LoadBalancer Services (default 10,000) to
//! stdout, for measuring `hopdump rules explain` at cluster scale (see README).

#[path = "../benches/support/kube_dump.rs"]
mod kube_dump;

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    print!("{}", kube_dump::kube_proxy_dump(n));
}
