//! A synthetic `iptables-save` of kube-proxy (iptables mode) for N LoadBalancer Services with
//! 1–5 endpoints each, in kube-proxy's exact layout, for benchmarks at cluster scale.

use std::fmt::Write;

fn chain_hash(s: &str) -> String {
    // Stands in for kube-proxy's base32(sha256(...))[:16]: same length and alphabet.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..16)
        .map(|i| {
            let x = h.rotate_left(i * 5) ^ (h >> (i % 7));
            A[(x % 32) as usize] as char
        })
        .collect()
}

/// LoadBalancer IP of service `i` (data only: never used as a traffic destination).
pub fn lb_ip(i: usize) -> String {
    format!("100.64.{}.{}", i / 256, i % 256)
}

/// The dump for `n` services.
pub fn kube_proxy_dump(n: usize) -> String {
    let mut filter = String::from(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-SERVICES - [0:0]\n",
    );
    filter.push_str("-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n");
    filter.push_str("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n");
    filter.push_str(
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n",
    );
    filter.push_str("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
    filter.push_str("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n");
    filter.push_str("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n");
    filter.push_str("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n");
    let mut decl = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-SERVICES - [0:0]\n",
    );
    let mut rules = String::new();
    rules.push_str(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
    );
    rules.push_str(
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
    );
    rules.push_str("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n");
    rules.push_str("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n");
    rules.push_str("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n");
    rules.push_str("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n");
    let mut services = String::new();
    for i in 0..n {
        let svc = format!("ns{}/svc{i}:http", i % 50);
        let h = chain_hash(&format!("{svc}tcp"));
        let cip = format!("10.96.{}.{}", i / 256, i % 256);
        let lb = lb_ip(i);
        let np = 30000 + (i % 2767);
        let _ = writeln!(decl, ":KUBE-SVC-{h} - [0:0]\n:KUBE-EXT-{h} - [0:0]");
        let _ = writeln!(
            services,
            "-A KUBE-SERVICES -d {cip}/32 -p tcp -m comment --comment \"{svc} cluster IP\" -m tcp --dport 80 -j KUBE-SVC-{h}"
        );
        let _ = writeln!(
            services,
            "-A KUBE-SERVICES -d {lb}/32 -p tcp -m comment --comment \"{svc} loadbalancer IP\" -m tcp --dport 80 -j KUBE-EXT-{h}"
        );
        let _ = writeln!(
            rules,
            "-A KUBE-NODEPORTS -p tcp -m comment --comment \"{svc}\" -m tcp --dport {np} -j KUBE-EXT-{h}"
        );
        let _ = writeln!(
            rules,
            "-A KUBE-EXT-{h} -m comment --comment \"masquerade traffic for {svc} external destinations\" -j KUBE-MARK-MASQ\n-A KUBE-EXT-{h} -j KUBE-SVC-{h}"
        );
        let _ = writeln!(
            rules,
            "-A KUBE-SVC-{h} ! -s 10.244.0.0/16 -d {cip}/32 -p tcp -m comment --comment \"{svc} cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ"
        );
        let eps = 1 + i % 5;
        for j in 0..eps {
            let ep = format!("10.244.{}.{}", (i * 7 + j) % 250, 2 + (i + j * 31) % 250);
            let sep = chain_hash(&format!("{svc}tcp{ep}:8080"));
            let _ = writeln!(decl, ":KUBE-SEP-{sep} - [0:0]");
            let left = eps - j;
            if left > 1 {
                let _ = writeln!(
                    rules,
                    "-A KUBE-SVC-{h} -m comment --comment \"{svc} -> {ep}:8080\" -m statistic --mode random --probability {:.11} -j KUBE-SEP-{sep}",
                    1.0 / left as f64
                );
            } else {
                let _ = writeln!(
                    rules,
                    "-A KUBE-SVC-{h} -m comment --comment \"{svc} -> {ep}:8080\" -j KUBE-SEP-{sep}"
                );
            }
            let _ = writeln!(
                rules,
                "-A KUBE-SEP-{sep} -s {ep}/32 -m comment --comment \"{svc}\" -j KUBE-MARK-MASQ\n-A KUBE-SEP-{sep} -p tcp -m comment --comment \"{svc}\" -m tcp -j DNAT --to-destination {ep}:8080"
            );
        }
    }
    services.push_str("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
    format!(
        "# Generated by iptables-nft-save v1.8.9 (nf_tables)\n{filter}{decl}{rules}{services}COMMIT\n"
    )
}
