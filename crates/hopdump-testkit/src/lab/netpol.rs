//! NetworkPolicy enforcement as two popular agents write it in the filter table, for a
//! default-deny ingress policy selecting the web pods: Calico (felix: `cali-*` chains, drop
//! "if no policies passed packet") and kube-router (`KUBE-ROUTER-*` / `KUBE-POD-FW-*`, REJECT).

use sha2::{Digest, Sha224, Sha256};

use super::hash::base32;

/// A pod the policy selects, on the node being programmed.
#[derive(Debug, Clone)]
pub struct PolicyPod {
    pub namespace: String,
    pub name: String,
    pub ip: String,
    /// Host-side interface (Calico: `cali…`).
    pub host_if: String,
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let n = chunk.len() + 1;
        for i in 0..n {
            out.push(char::from(B64URL[((v >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A felix chain: rules as `(match, action)`; rendered with felix's per-rule `cali:` hash
/// comments (sha224 chained over the chain name and each rendered rule, base64url, 16 chars).
struct FelixChain {
    name: String,
    rules: Vec<(String, String)>,
}

impl FelixChain {
    fn new(name: &str) -> FelixChain {
        FelixChain {
            name: name.into(),
            rules: Vec::new(),
        }
    }
    fn rule(&mut self, m: &str, action: &str) -> &mut Self {
        self.rules.push((m.into(), action.into()));
        self
    }
    fn render(&self, out: &mut Vec<String>) {
        let mut hash = Sha224::digest(self.name.as_bytes()).to_vec();
        for (m, a) in &self.rules {
            let for_hash = format!("-A {} HASH {m} {a}", self.name);
            let mut h = Sha224::new();
            h.update(&hash);
            h.update(for_hash.as_bytes());
            hash = h.finalize().to_vec();
            let id: String = b64url(&hash).chars().take(16).collect();
            let mut line = format!("-A {} -m comment --comment \"cali:{id}\"", self.name);
            if !m.is_empty() {
                line.push(' ');
                line.push_str(m);
            }
            line.push(' ');
            line.push_str(a);
            out.push(line);
        }
    }
}

/// Calico (felix, iptables dataplane) filter rules for a default-deny ingress policy on
/// `pods`, as `iptables-restore --noflush` input.
pub fn calico_default_deny(pods: &[PolicyPod], policy: &str) -> String {
    // felix: "cali-pi-" + name, or "_" + a hash when too long, cut to 28 characters.
    let policy_chain = format!(
        "cali-pi-_{}",
        &b64url(&Sha256::digest(format!("default/{policy}").as_bytes()))[..19]
    );
    let mut chains: Vec<FelixChain> = Vec::new();
    let mut fwd = FelixChain::new("cali-FORWARD");
    fwd.rule("", "-j MARK --set-xmark 0x0/0xe0000")
        .rule("-m mark --mark 0x0/0x10000", "-j cali-from-hep-forward")
        .rule("-i cali+", "-j cali-from-wl-dispatch")
        .rule("-o cali+", "-j cali-to-wl-dispatch")
        .rule("", "-j cali-to-hep-forward")
        .rule("", "-j cali-cidr-block");
    chains.push(fwd);
    chains.push(FelixChain::new("cali-from-hep-forward"));
    chains.push(FelixChain::new("cali-to-hep-forward"));
    chains.push(FelixChain::new("cali-cidr-block"));
    let mut from_wl = FelixChain::new("cali-from-wl-dispatch");
    let mut to_wl = FelixChain::new("cali-to-wl-dispatch");
    for p in pods {
        from_wl.rule(
            &format!("-i {}", p.host_if),
            &format!("-g cali-fw-{}", p.host_if),
        );
        to_wl.rule(
            &format!("-o {}", p.host_if),
            &format!("-g cali-tw-{}", p.host_if),
        );
    }
    from_wl.rule("-m comment --comment \"Unknown interface\"", "-j DROP");
    to_wl.rule("-m comment --comment \"Unknown interface\"", "-j DROP");
    chains.push(from_wl);
    chains.push(to_wl);
    for p in pods {
        // Egress side: no egress policy, so traffic from the workload is allowed.
        let mut fw = FelixChain::new(&format!("cali-fw-{}", p.host_if));
        fw.rule("-m conntrack --ctstate RELATED,ESTABLISHED", "-j ACCEPT")
            .rule("-m conntrack --ctstate INVALID", "-j DROP")
            .rule("", "-j MARK --set-xmark 0x0/0x10000")
            .rule("-m comment --comment \"Drop VXLAN encapped packets originating in workloads\" -p udp -m multiport --dports 4789", "-j DROP")
            .rule("-m comment --comment \"Drop IPinIP encapped packets originating in workloads\" -p 4", "-j DROP")
            .rule("-m comment --comment \"Return if profile accepted\" -m mark --mark 0x10000/0x10000", "-j RETURN")
            .rule("", "-j MARK --set-xmark 0x10000/0x10000");
        chains.push(fw);
        // Ingress side: the policy selects the pod and allows nothing.
        let mut tw = FelixChain::new(&format!("cali-tw-{}", p.host_if));
        tw.rule("-m conntrack --ctstate RELATED,ESTABLISHED", "-j ACCEPT")
            .rule("-m conntrack --ctstate INVALID", "-j DROP")
            .rule("", "-j MARK --set-xmark 0x0/0x10000")
            .rule("-m comment --comment \"Start of policies\"", "-j MARK --set-xmark 0x0/0x20000")
            .rule("-m mark --mark 0x0/0x20000", &format!("-j {policy_chain}"))
            .rule("-m comment --comment \"Return if policy accepted\" -m mark --mark 0x10000/0x10000", "-j RETURN")
            .rule("-m comment --comment \"Drop if no policies passed packet\" -m mark --mark 0x0/0x20000", "-j DROP");
        chains.push(tw);
    }
    // The policy itself: no ingress rules, so its chain is empty.
    chains.push(FelixChain::new(&policy_chain));

    let mut out = vec!["*filter".to_string()];
    for c in &chains {
        out.push(format!(":{} - [0:0]", c.name));
    }
    let mut rules = Vec::new();
    let mut top = FelixChain::new("FORWARD");
    top.rule("", "-j cali-FORWARD");
    // felix inserts its jump at the top of FORWARD.
    let mut jump = Vec::new();
    top.render(&mut jump);
    for c in &chains {
        c.render(&mut rules);
    }
    out.extend(
        jump.iter()
            .map(|r| r.replacen("-A FORWARD", "-I FORWARD 1", 1)),
    );
    out.extend(rules);
    out.push("COMMIT".into());
    out.join("\n") + "\n"
}

fn kr_hash(input: &str) -> String {
    let mut h = base32(&Sha256::digest(input.as_bytes()));
    h.truncate(16);
    h
}

/// kube-router's filter rules for a default-deny ingress policy on `pods`, as
/// `iptables-restore --noflush` input (chain names: base32(sha256(ns + name + version))[:16]).
pub fn kube_router_default_deny(pods: &[PolicyPod], policy: &str) -> String {
    let version = "1";
    let policy_chain = format!(
        "KUBE-NWPLCY-{}",
        kr_hash(&format!("default{policy}{version}"))
    );
    let mut decl = vec![
        "*filter".to_string(),
        ":KUBE-ROUTER-FORWARD - [0:0]".into(),
        ":KUBE-ROUTER-INPUT - [0:0]".into(),
        ":KUBE-ROUTER-OUTPUT - [0:0]".into(),
        format!(":{policy_chain} - [0:0]"),
    ];
    let mut rules = vec![
        "-I INPUT 1 -m comment --comment \"kube-router netpol - 4IA2OSFRMVNDXBVV\" -j KUBE-ROUTER-INPUT".to_string(),
        "-I FORWARD 1 -m comment --comment \"kube-router netpol - TEMCG2JMHZYE7H7T\" -j KUBE-ROUTER-FORWARD".into(),
        "-I OUTPUT 1 -m comment --comment \"kube-router netpol - VEAAIY32XVBHCSCY\" -j KUBE-ROUTER-OUTPUT".into(),
    ];
    for p in pods {
        let fw = format!(
            "KUBE-POD-FW-{}",
            kr_hash(&format!("{}{}{version}", p.namespace, p.name))
        );
        decl.push(format!(":{fw} - [0:0]"));
        let to = format!(
            "\"rule to jump traffic destined to POD name:{} namespace: {} to chain {fw}\"",
            p.name, p.namespace
        );
        rules.push(format!(
            "-A KUBE-ROUTER-FORWARD -m comment --comment {to} -d {} -j {fw}",
            p.ip
        ));
        rules.push(format!(
            "-A KUBE-ROUTER-OUTPUT -m comment --comment {to} -d {} -j {fw}",
            p.ip
        ));
        rules.push(format!(
            "-A KUBE-ROUTER-FORWARD -m physdev --physdev-is-bridged -m comment --comment {to} -d {} -j {fw}",
            p.ip
        ));
        rules.push(format!("-A {fw} -m comment --comment \"rule for stateful firewall for pod\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"));
        rules.push(format!("-A {fw} -m comment --comment \"rule to drop invalid state for pod\" -m conntrack --ctstate INVALID -j DROP"));
        rules.push(format!("-A {fw} -m comment --comment \"rule to permit the traffic traffic to pods when source is the pod's local node\" -m addrtype --src-type LOCAL -d {} -j ACCEPT", p.ip));
        rules.push(format!(
            "-A {fw} -m comment --comment \"run through nw policy {policy}\" -j {policy_chain}"
        ));
        rules.push(format!(
            "-A {fw} -m comment --comment \"rule to REJECT traffic destined for POD name:{} namespace: {}\" -m mark ! --mark 0x10000/0x10000 -j REJECT",
            p.name, p.namespace
        ));
        rules.push(format!("-A {fw} -j MARK --set-mark 0/0x10000"));
        rules.push(format!("-A {fw} -m comment --comment \"set mark to ACCEPT traffic that comply to network policies\" -j MARK --set-mark 0x20000/0x20000"));
    }
    for chain in [
        "KUBE-ROUTER-FORWARD",
        "KUBE-ROUTER-OUTPUT",
        "KUBE-ROUTER-INPUT",
    ] {
        rules.push(format!("-A {chain} -m comment --comment \"KUBE-ROUTER rule to explicitly ACCEPT traffic that comply to network policies\" -m mark --mark 0x20000/0x20000 -j ACCEPT"));
    }
    decl.extend(rules);
    decl.push("COMMIT".into());
    decl.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_matches_rfc4648_vectors() {
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn calico_rules_have_hash_comments_and_final_drop() {
        let pods = [PolicyPod {
            namespace: "default".into(),
            name: "n1p1".into(),
            ip: "10.244.1.2".into(),
            host_if: "cali0123456789a".into(),
        }];
        let text = calico_default_deny(&pods, "default-deny-ingress");
        assert!(text.contains("-o cali0123456789a"));
        assert!(text.contains("\"Drop if no policies passed packet\""));
        for line in text.lines().filter(|l| l.starts_with("-A ")) {
            let id = line.split("\"cali:").nth(1).expect("hash comment");
            assert_eq!(id.find('"'), Some(16), "{line}");
        }
    }
}
