//! The walker: one packet through every hook in kernel order, across iptables (both backends),
//! nftables and IPVS, forking where the rules do (statistic, numgen) or where a match cannot be
//! evaluated, and recording every rule that touched it.

use std::net::IpAddr;

use serde::Serialize;

use crate::flow::{Flow, NodeContext, Proto};
use crate::iptables::{Backend, XtChain, XtDump, XtTable, XtTarget};
use crate::ipvs::{IpSets, Ipvs};
use crate::nft::{NftChain, NftRuleset, NftTable};
use crate::owner::{Owner, xt_owner};
use crate::xt::{Tri, eval_match, parse_u32};

mod nft_eval;

/// Most branches followed before unknown matches stop forking (they are then assumed not to
/// match, which is recorded).
const MAX_BRANCHES: usize = 256;
const MAX_DEPTH: u32 = 64;
/// Budget of one walk for forks (unknown or random matches), over all chains: MAX_BRANCHES
/// bounds one chain call, but branches returned from nested chains and later base chains
/// multiply, so a dump with a few dozen unevaluable matches would otherwise take exponential
/// time. A fork costs 1 + the hits it copies (long paths through looping chains make each
/// copy expensive).
const MAX_FORKS: u32 = 65_536;

/// Rule evaluations one walk may make, per rule of the node's rule set (at least
/// `MIN_STEPS`). A real walk evaluates each rule a few times (once per hook and branch that
/// reaches its chain: kube-proxy's statistic forks give one branch per endpoint, each walking
/// its endpoint's chain and the forward and postrouting chains, well under 16 rules per rule
/// the endpoint adds); a rule set whose chains call each other many times over (a DAG whose
/// paths multiply, which the kernel accepts) would otherwise make one walk take exponential
/// time. Past the budget, a branch stops where it is and says so.
const STEPS_PER_RULE: u64 = 16;
const MIN_STEPS: u64 = 2048;

/// Random branches bring their own steps, up to this many times the walk's base budget (so
/// forks cannot refill the budget without end).
const GRANT_FACTOR: u64 = 8;

thread_local! {
    static FORKS_LEFT: std::cell::Cell<u32> = const { std::cell::Cell::new(MAX_FORKS) };
    static STEPS_LEFT: std::cell::Cell<u64> = const { std::cell::Cell::new(MIN_STEPS) };
    static GRANTS_LEFT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Rule evaluations a random fork (statistic, numgen: one branch per endpoint) adds to the
/// budget: the new branch walks its endpoint's chain, then forward and postrouting.
const STEPS_PER_RANDOM_BRANCH: u64 = 64;

/// A random fork was taken: its branch brings its own steps.
fn grant_branch() {
    let granted = GRANTS_LEFT.with(|g| {
        let left = g.get();
        let n = left.min(STEPS_PER_RANDOM_BRANCH);
        g.set(left - n);
        n
    });
    STEPS_LEFT.with(|s| s.set(s.get().saturating_add(granted)));
}

/// Take one rule evaluation from the walk's budget; false once it is spent.
fn step() -> bool {
    STEPS_LEFT.with(|s| {
        let left = s.get();
        s.set(left.saturating_sub(1));
        left > 0
    })
}

/// The chains a walk is inside of, innermost first: a jump to one of them is a loop.
#[derive(Clone, Copy)]
pub(crate) struct Calls<'a> {
    pub(crate) chain: &'a str,
    pub(crate) up: Option<&'a Calls<'a>>,
}

impl Calls<'_> {
    /// Whether `name` is this chain or one of its callers.
    pub(crate) fn contains(&self, name: &str) -> bool {
        let mut at = Some(self);
        while let Some(c) = at {
            if c.chain == name {
                return true;
            }
            at = c.up;
        }
        false
    }

    /// `A -> B -> C` from the outermost caller.
    pub(crate) fn path(&self) -> String {
        let mut names = Vec::new();
        let mut at = Some(self);
        while let Some(c) = at {
            names.push(c.chain);
            at = c.up;
        }
        names.reverse();
        names.join(" -> ")
    }
}

/// What a walk notes when it follows a jump back into a chain it is already in.
pub(crate) fn loop_note(prefix: &str, calls: &Calls<'_>, target: &str) -> String {
    format!(
        "{prefix}: {} -> {target} jumps back into {target} (a loop: the kernel refuses to load a rule set with one, so this dump is not what a kernel runs); the jump is not followed",
        calls.path()
    )
}

/// Take a fork copying `hits` hits from the walk's budget; false once it is spent.
fn may_fork(hits: usize) -> bool {
    let cost = u32::try_from(hits).unwrap_or(u32::MAX).saturating_add(1);
    FORKS_LEFT.with(|f| {
        let left = f.get();
        f.set(left.saturating_sub(cost));
        left >= cost
    })
}

/// The packet as the walk changes it.
#[derive(Clone, Debug)]
pub struct Pkt {
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub proto: Proto,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub mark: u32,
    pub ctmark: u32,
    pub dnat: bool,
    pub snat: bool,
    pub ipvs: bool,
    pub orig_dst: IpAddr,
    pub orig_dport: u16,
}

/// One rule (or chain policy) that acted on the packet.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    /// iptables-nft, iptables-legacy, iptables, nft, ipvs.
    pub source: &'static str,
    pub hook: &'static str,
    pub table: String,
    pub chain: String,
    /// 1-based rule number in the chain; 0 for the chain's policy.
    pub rule: usize,
    pub text: String,
    pub owner: Owner,
    /// What the rule did: `jump X`, `DNAT 10.244.1.12:8080`, `DROP`, `policy ACCEPT`…
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// What it means, when hopdump knows (kube-proxy's conventions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
    /// The same, as a code other tools can act on (`trace` does), for the causes that stop a
    /// flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Probability of taking this rule, when random (statistic, numgen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// Why kube-proxy stops a flow, as read from its own rules (comments, chains, maps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The Service has no endpoints (REJECT; IPVS: a virtual server without real servers).
    NoEndpoints,
    /// externalTrafficPolicy=Local and no endpoint on this node (DROP).
    NoLocalEndpoints,
    /// loadBalancerSourceRanges do not include the source (DROP).
    SourceRangeBlocked,
    /// A ClusterIP on a port no Service uses, or an unallocated ClusterIP.
    InvalidClusterIp,
}

/// How one branch of the walk ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Delivered to a local socket on the node.
    Local,
    /// Forwarded out of the node (to a pod or another host).
    Forwarded,
    Dropped,
    Rejected,
}

/// One possible path of the packet.
#[derive(Clone, Debug, Serialize)]
pub struct Branch {
    pub probability: f64,
    pub fate: Fate,
    /// Destination after NAT (`ip:port`) when DNAT happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnat_to: Option<String>,
    pub masquerade: bool,
    pub path: Vec<Hit>,
    /// Matches that could not be evaluated and what was assumed about them.
    pub assumptions: Vec<String>,
    /// The walk's budget stopped this branch before its end: its fate is not known (and it is
    /// left out of the outcome).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

#[derive(Clone)]
pub(crate) struct St {
    pkt: Pkt,
    prob: f64,
    hits: Vec<Hit>,
    assumptions: Vec<String>,
    dnat_to: Option<(IpAddr, u16)>,
    hook: &'static str,
    fate: Option<Fate>,
    /// The walk's step budget ran out on this branch: it was not followed to its end.
    cut: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum End {
    /// Fell off the end of a chain or RETURN.
    Return,
    Accept,
    Drop,
    Reject,
}

/// Everything known about a node's packet filter.
#[derive(Clone, Debug, Default)]
pub struct NodeRules {
    pub xt: Vec<XtDump>,
    pub nft: Vec<NftRuleset>,
    pub ipvs: Option<Ipvs>,
    pub ipsets: IpSets,
}

/// iptables table priorities (include/uapi/linux/netfilter_ipv4.h).
fn xt_prio(table: &str, hook: &str) -> Option<(i32, bool)> {
    Some(match (table, hook) {
        ("raw", "PREROUTING" | "OUTPUT") => (-300, false),
        ("mangle", _) => (-150, false),
        ("nat", "PREROUTING" | "OUTPUT") => (-100, true),
        ("nat", "INPUT" | "POSTROUTING") => (100, true),
        ("filter", "INPUT" | "FORWARD" | "OUTPUT") => (0, false),
        ("security", "INPUT" | "FORWARD" | "OUTPUT") => (50, false),
        _ => return None,
    })
}

enum BaseRef<'a> {
    Xt(&'a XtDump, &'a XtTable, &'a XtChain),
    Nft(&'a NftTable, &'a NftChain),
}

struct Base<'a> {
    prio: i32,
    nat: bool,
    r: BaseRef<'a>,
}

fn xt_source(d: &XtDump) -> &'static str {
    d.backend.name()
}

/// kube-proxy's meaning of a rule, from its comment and target, with the cause when the rule
/// stops the flow.
fn xt_meaning(
    chain: &str,
    comment: Option<&str>,
    target: Option<&XtTarget>,
    pkt: &Pkt,
) -> Option<(Option<Cause>, String)> {
    let c = comment.unwrap_or("");
    let t = target.map(|t| t.name.as_str()).unwrap_or("");
    let svc = crate::owner::service_from_comment(c).unwrap_or_default();
    let stop = |cause, text: String| Some((Some(cause), text));
    let note = |text: String| Some((None, text));
    if c.contains("has no endpoints") {
        return stop(
            Cause::NoEndpoints,
            format!(
                "Service {svc} has no endpoints: kube-proxy rejects the connection (client sees connection refused)"
            ),
        );
    }
    if c.contains("has no local endpoints") {
        return stop(
            Cause::NoLocalEndpoints,
            format!(
                "Service {svc} has externalTrafficPolicy=Local and no endpoint on this node: kube-proxy drops"
            ),
        );
    }
    if c.contains("traffic not accepted by KUBE-FW-") {
        return stop(
            Cause::SourceRangeBlocked,
            format!(
                "loadBalancerSourceRanges of {svc} do not include source {}: kube-proxy drops",
                pkt.src
            ),
        );
    }
    if c.starts_with("other traffic to ") {
        return note(format!(
            "source {} is not in loadBalancerSourceRanges of {svc}",
            pkt.src
        ));
    }
    if t == "KUBE-MARK-MASQ" {
        return note(
            "marked for masquerade: the packet will leave with the node's address as source".into(),
        );
    }
    if t.starts_with("KUBE-SVL-") {
        return note(format!(
            "externalTrafficPolicy=Local: only endpoints of {svc} on this node"
        ));
    }
    if t.starts_with("KUBE-FW-") {
        return note(format!(
            "{svc} has loadBalancerSourceRanges: checked in {t}"
        ));
    }
    if chain.starts_with("KUBE-SEP-") && t == "DNAT" {
        return note(format!("endpoint of {svc}"));
    }
    None
}

impl NodeRules {
    /// nft tables that an iptables-nft dump already describes (iptables-nft keeps its rules in
    /// nft tables named like the iptables ones; their `xt` expressions are opaque in JSON).
    fn nft_table_shadowed(&self, t: &NftTable) -> bool {
        let v6 = t.family == "ip6";
        matches!(t.family.as_str(), "ip" | "ip6")
            && self
                .xt
                .iter()
                .any(|d| d.backend == Backend::Nft && d.ipv6 == v6 && d.table(&t.name).is_some())
    }

    fn bases(&self, hook: &str, ipv6: bool) -> Vec<Base<'_>> {
        let mut v = Vec::new();
        let xt_hook = hook.to_ascii_uppercase();
        for d in self.xt.iter().filter(|d| d.ipv6 == ipv6) {
            for t in &d.tables {
                if let (Some((prio, nat)), Some(c)) =
                    (xt_prio(&t.name, &xt_hook), t.chain(&xt_hook))
                {
                    v.push(Base {
                        prio,
                        nat,
                        r: BaseRef::Xt(d, t, c),
                    });
                }
            }
        }
        for rs in &self.nft {
            for t in rs
                .tables
                .iter()
                .filter(|t| t.sees(ipv6) && !self.nft_table_shadowed(t))
            {
                for c in t.chains.iter().filter(|c| c.hook.as_deref() == Some(hook)) {
                    v.push(Base {
                        prio: c.prio,
                        nat: c.kind.as_deref() == Some("nat"),
                        r: BaseRef::Nft(t, c),
                    });
                }
            }
        }
        v.sort_by_key(|b| b.prio);
        v
    }

    /// Who wrote the chains of this rule set (owner kinds, from chain and table names; an
    /// IPVS table with services counts as kube-proxy's).
    pub fn owner_kinds(&self) -> std::collections::BTreeSet<&'static str> {
        let mut k = std::collections::BTreeSet::new();
        for d in &self.xt {
            for t in &d.tables {
                for c in t.chains.iter().filter(|c| !c.rules.is_empty()) {
                    k.insert(xt_owner(&c.name, None, None).kind);
                }
            }
        }
        for r in &self.nft {
            for t in &r.tables {
                for c in t.chains.iter().filter(|c| !c.rules.is_empty()) {
                    k.insert(crate::owner::nft_owner(&t.name, &c.name, None).kind);
                }
            }
        }
        if self.ipvs.as_ref().is_some_and(|i| !i.services.is_empty()) {
            k.insert("kube-proxy");
        }
        k
    }

    /// kube-proxy's Service translation is in this rule set: its `KUBE-SERVICES` (or a
    /// per-service chain) in iptables, its `kube-proxy` nftables table, or IPVS services.
    /// Chain names alone are not enough: the kubelet writes `KUBE-FIREWALL`,
    /// `KUBE-KUBELET-CANARY` (and once `KUBE-MARK-*`) on nodes that run no kube-proxy.
    pub fn has_kube_proxy_services(&self) -> bool {
        let xt_service_chain = |n: &str| {
            matches!(n, "KUBE-SERVICES" | "KUBE-NODEPORTS")
                || [
                    "KUBE-SVC-",
                    "KUBE-SEP-",
                    "KUBE-EXT-",
                    "KUBE-FW-",
                    "KUBE-SVL-",
                    "KUBE-XLB-",
                ]
                .iter()
                .any(|p| n.starts_with(p))
        };
        self.xt.iter().any(|d| {
            d.tables
                .iter()
                .any(|t| t.chains.iter().any(|c| xt_service_chain(&c.name)))
        }) || self
            .nft
            .iter()
            .any(|r| r.tables.iter().any(|t| t.name == "kube-proxy"))
            || self.ipvs.as_ref().is_some_and(|i| !i.services.is_empty())
    }

    /// Warnings about the rule set as a whole (rules split between iptables backends).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for v6 in [false, true] {
            let summary = |b: Backend| -> Option<(usize, Vec<String>)> {
                let d = self.xt.iter().find(|d| d.backend == b && d.ipv6 == v6)?;
                // A DROP policy is content too: it filters without a single rule.
                let n = d.rule_count()
                    + d.tables
                        .iter()
                        .flat_map(|t| &t.chains)
                        .filter(|c| {
                            c.policy
                                .as_deref()
                                .is_some_and(|p| !p.eq_ignore_ascii_case("ACCEPT"))
                        })
                        .count();
                let mut chains: Vec<String> = d
                    .tables
                    .iter()
                    .flat_map(|t| {
                        t.chains
                            .iter()
                            .filter(|c| {
                                !c.rules.is_empty()
                                    || c.policy
                                        .as_deref()
                                        .is_some_and(|p| !p.eq_ignore_ascii_case("ACCEPT"))
                            })
                            .map(move |c| format!("{}/{}", t.name, c.name))
                    })
                    .take(6)
                    .collect();
                chains.dedup();
                (n > 0).then_some((n, chains))
            };
            if let (Some((nl, cl)), Some((nn, cn))) =
                (summary(Backend::Legacy), summary(Backend::Nft))
            {
                w.push(format!(
                    "{} rules are split between iptables-legacy ({nl} rules, e.g. {}) and iptables-nft ({nn} rules, e.g. {}): both run in the kernel, one after the other, and a DROP in either wins — tools that show one backend hide the other",
                    if v6 { "IPv6" } else { "IPv4" },
                    cl.join(", "),
                    cn.join(", ")
                ));
            }
        }
        w
    }

    /// Walk one flow through the node.
    pub fn walk(&self, flow: &Flow, ctx: &NodeContext) -> Vec<Branch> {
        FORKS_LEFT.with(|f| f.set(MAX_FORKS));
        let rules = self.xt.iter().map(XtDump::rule_count).sum::<usize>()
            + self
                .nft
                .iter()
                .flat_map(|r| &r.tables)
                .flat_map(|t| &t.chains)
                .map(|c| c.rules.len())
                .sum::<usize>();
        // IPVS real servers are branches the rules do not count.
        let reals = self.ipvs.as_ref().map_or(0, |v| {
            v.services.iter().map(|s| s.reals.len()).sum::<usize>()
        });
        let steps = ((rules + reals) as u64)
            .saturating_mul(STEPS_PER_RULE)
            .max(MIN_STEPS);
        STEPS_LEFT.with(|s| s.set(steps));
        GRANTS_LEFT.with(|g| g.set(steps.saturating_mul(GRANT_FACTOR)));
        let pkt = Pkt {
            src: flow.src,
            sport: flow.sport,
            dst: flow.dst,
            dport: flow.dport,
            proto: flow.proto,
            // Without --in, the packet is taken to arrive where the node routes its source.
            iif: flow
                .in_iface
                .clone()
                .or_else(|| ctx.route_dev(flow.src).map(str::to_string)),
            oif: ctx.out_iface.clone(),
            mark: 0,
            ctmark: 0,
            dnat: false,
            snat: false,
            ipvs: false,
            orig_dst: flow.dst,
            orig_dport: flow.dport,
        };
        let st = St {
            pkt,
            prob: 1.0,
            hits: Vec::new(),
            assumptions: Vec::new(),
            dnat_to: None,
            hook: "prerouting",
            fate: None,
            cut: false,
        };
        let ipv6 = flow.dst.is_ipv6();
        let mut done = Vec::new();
        for (st, ok) in self.run_hook("prerouting", ipv6, st, ctx) {
            if !ok {
                done.push(st);
                continue;
            }
            // Routing decision.
            let mut st = st;
            if ctx.out_iface.is_none() {
                st.pkt.oif = ctx.route_dev(st.pkt.dst).map(str::to_string);
            }
            let vip = self
                .ipvs
                .as_ref()
                .and_then(|v| v.find(st.pkt.proto, st.pkt.dst, st.pkt.dport))
                .is_some()
                && !st.pkt.dnat;
            let local = match ctx.is_local(st.pkt.dst) {
                Some(l) => l || vip,
                None if vip => {
                    st.assumptions.push(format!(
                        "routing: {} is an IPVS virtual address, so it is local (kube-ipvs0)",
                        st.pkt.dst
                    ));
                    true
                }
                None => {
                    st.assumptions.push(format!(
                        "routing: {} assumed not to be a local address of the node (its addresses are not known: read live or pass --local-ip)",
                        st.pkt.dst
                    ));
                    false
                }
            };
            if local {
                for (st, ok) in self.run_hook("input", ipv6, st, ctx) {
                    if !ok {
                        done.push(st);
                        continue;
                    }
                    done.extend(self.ipvs_then_post(st, ipv6, ctx));
                }
            } else {
                for (st, ok) in self.run_hook("forward", ipv6, st, ctx) {
                    if !ok {
                        done.push(st);
                        continue;
                    }
                    for (mut st, ok) in self.run_hook("postrouting", ipv6, st, ctx) {
                        if ok {
                            st.set_fate(Fate::Forwarded);
                        }
                        done.push(st);
                    }
                }
            }
        }
        done.into_iter()
            .map(|st| {
                let fate = st.fate();
                Branch {
                    probability: st.prob,
                    fate,
                    dnat_to: st.dnat_to.map(|(ip, p)| fmt_sock(ip, p)),
                    masquerade: st.pkt.snat,
                    path: st.hits,
                    assumptions: st.assumptions,
                    cut: st.cut,
                }
            })
            .collect()
    }

    fn ipvs_then_post(&self, mut st: St, ipv6: bool, ctx: &NodeContext) -> Vec<St> {
        let Some(ipvs) = &self.ipvs else {
            st.set_fate(Fate::Local);
            return vec![st];
        };
        let Some(vs) = ipvs
            .find(st.pkt.proto, st.pkt.dst, st.pkt.dport)
            .filter(|_| !st.pkt.dnat)
        else {
            st.set_fate(Fate::Local);
            return vec![st];
        };
        let owner = Owner {
            kind: "kube-proxy",
            service: None,
        };
        let base = Hit {
            source: "ipvs",
            hook: "input",
            table: "ipvs".into(),
            chain: format!(
                "{} {}",
                vs.proto.name().to_uppercase(),
                fmt_sock(vs.addr.ip(), vs.addr.port())
            ),
            rule: 0,
            text: format!(
                "-A -{} {} -s {}",
                if vs.proto == Proto::Udp { 'u' } else { 't' },
                vs.addr,
                vs.scheduler
            ),
            owner,
            action: String::new(),
            packets: None,
            bytes: None,
            meaning: None,
            cause: None,
            probability: None,
        };
        if vs.reals.is_empty() {
            let mut h = base;
            h.action = "REJECT".into();
            h.cause = Some(Cause::NoEndpoints);
            h.meaning = Some("IPVS virtual server has no real servers (the Service has no endpoints): the kernel answers ICMP port unreachable".into());
            st.hits.push(h);
            st.set_fate(Fate::Rejected);
            return vec![st];
        }
        let total: u32 = vs.reals.iter().map(|r| r.weight).sum();
        let mut out = Vec::new();
        for (i, r) in vs.reals.iter().enumerate() {
            if total > 0 && r.weight == 0 {
                continue;
            }
            let p = if total == 0 {
                1.0 / vs.reals.len() as f64
            } else {
                r.weight as f64 / total as f64
            };
            grant_branch();
            let mut s = st.clone();
            s.prob *= p;
            let mut h = base.clone();
            h.rule = i + 1;
            h.text = format!(
                "-a -{} {} -r {} -m -w {}",
                if vs.proto == Proto::Udp { 'u' } else { 't' },
                vs.addr,
                r.addr,
                r.weight
            );
            h.action = format!("DNAT {}", r.addr);
            h.probability = Some(p);
            h.meaning = Some(format!(
                "IPVS ({}) sends the connection to real server {}",
                vs.scheduler, r.addr
            ));
            s.hits.push(h);
            s.pkt.dst = r.addr.ip();
            s.pkt.dport = r.addr.port();
            s.pkt.dnat = true;
            s.pkt.ipvs = true;
            s.dnat_to = Some((r.addr.ip(), r.addr.port()));
            for (mut s2, ok) in self.run_hook("postrouting", ipv6, s, ctx) {
                if ok {
                    s2.set_fate(Fate::Forwarded);
                }
                out.push(s2);
            }
        }
        out
    }

    /// Run every base chain of a hook; returns (state, still going).
    fn run_hook(
        &self,
        hook: &'static str,
        ipv6: bool,
        st: St,
        ctx: &NodeContext,
    ) -> Vec<(St, bool)> {
        let mut st = st;
        st.hook = hook;
        let mut states = vec![st];
        let mut finished: Vec<(St, bool)> = Vec::new();
        for base in self.bases(hook, ipv6) {
            let mut next = Vec::new();
            for st in states {
                // NAT chains run only until a binding is made for this manipulation.
                let nat_done = match hook {
                    "prerouting" | "output" => st.pkt.dnat,
                    _ => st.pkt.snat,
                };
                if base.nat && nat_done {
                    next.push(st);
                    continue;
                }
                let results = match &base.r {
                    BaseRef::Xt(d, t, c) => self.xt_chain(d, t, c, st, ctx, 0, None),
                    BaseRef::Nft(t, c) => self.nft_chain(t, c, st, ctx, 0, None),
                };
                for (mut s, end) in results {
                    match end {
                        End::Accept => next.push(s),
                        // Not followed to its end: no policy is applied on a guess.
                        End::Return if s.cut => next.push(s),
                        End::Return => {
                            let (policy, table, chain, source) = match &base.r {
                                BaseRef::Xt(d, t, c) => (
                                    c.policy.clone().unwrap_or_else(|| "ACCEPT".into()),
                                    t.name.clone(),
                                    c.name.clone(),
                                    xt_source(d),
                                ),
                                BaseRef::Nft(t, c) => (
                                    c.policy
                                        .clone()
                                        .unwrap_or_else(|| "accept".into())
                                        .to_ascii_uppercase(),
                                    format!("{} {}", t.family, t.name),
                                    c.name.clone(),
                                    "nft",
                                ),
                            };
                            if policy.eq_ignore_ascii_case("DROP") {
                                s.hits.push(Hit {
                                    source,
                                    hook,
                                    table,
                                    chain: chain.clone(),
                                    rule: 0,
                                    text: format!(":{chain} DROP"),
                                    owner: Owner { kind: "host-firewall", service: None },
                                    action: "policy DROP".into(),
                                    packets: None,
                                    bytes: None,
                                    meaning: Some(format!("no rule in {chain} accepted the packet and the chain's policy is DROP")),
                                    cause: None,
                                    probability: None,
                                });
                                s.set_fate(Fate::Dropped);
                                finished.push((s, false));
                            } else {
                                next.push(s);
                            }
                        }
                        End::Drop => {
                            s.set_fate(Fate::Dropped);
                            finished.push((s, false));
                        }
                        End::Reject => {
                            s.set_fate(Fate::Rejected);
                            finished.push((s, false));
                        }
                    }
                }
            }
            states = next;
        }
        finished.extend(states.into_iter().map(|s| (s, true)));
        finished
    }

    #[allow(clippy::too_many_arguments)]
    fn xt_chain(
        &self,
        d: &XtDump,
        t: &XtTable,
        c: &XtChain,
        st: St,
        ctx: &NodeContext,
        depth: u32,
        up: Option<&Calls<'_>>,
    ) -> Vec<(St, End)> {
        let here = Calls { chain: &c.name, up };
        let mut out = Vec::new();
        if depth > MAX_DEPTH {
            let mut st = st;
            st.assumptions.push(format!(
                "chain nesting deeper than {MAX_DEPTH} at {}: stopped following",
                c.name
            ));
            out.push((st, End::Return));
            return out;
        }
        let mut work = vec![(0usize, st)];
        while let Some((i, mut st)) = work.pop() {
            let Some(rule) = c.rules.get(i) else {
                out.push((st, End::Return));
                continue;
            };
            // A rule whose destination excludes the packet is skipped for free (no match is
            // parsed): kube-proxy's 20,000-rule KUBE-SERVICES costs the rules that could match.
            if rule.excludes_dst(st.pkt.dst) {
                work.push((i + 1, st));
                continue;
            }
            if st.cut || !step() {
                st.cut_here(|| format!("{} {} rule {}", t.name, c.name, i + 1));
                out.push((st, End::Return));
                continue;
            }
            let mut verdict = Tri::Yes;
            for m in rule.matches() {
                verdict = crate::xt::and(verdict, eval_match(m, &st.pkt, ctx, &self.ipsets));
                if verdict == Tri::No {
                    break;
                }
            }
            let (p_yes, assume) = match verdict {
                Tri::No => {
                    work.push((i + 1, st));
                    continue;
                }
                Tri::Yes => (1.0, None),
                Tri::Random(p) => (p, None),
                Tri::Unknown(why) => (1.0, Some(why)),
            };
            // The branch where the rule does not match.
            if p_yes < 1.0 || assume.is_some() {
                // Random forks (statistic: one per endpoint) only count against the budget.
                if (assume.is_some() && work.len() + out.len() >= MAX_BRANCHES)
                    || !may_fork(st.hits.len())
                {
                    // Too many branches: follow only the "not matching" side, whole.
                    if let Some(why) = &assume {
                        st.assumptions.push(format!(
                            "{} {} rule {}: {why}; assumed not to match",
                            t.name,
                            c.name,
                            i + 1
                        ));
                    }
                    st.assumptions.push(format!(
                        "{} {} rule {}: too many branches to follow; assumed not to match",
                        t.name,
                        c.name,
                        i + 1
                    ));
                    work.push((i + 1, st));
                    continue;
                }
                if assume.is_none() {
                    grant_branch();
                }
                let mut s = st.clone();
                s.prob *= 1.0 - if assume.is_some() { 0.0 } else { p_yes };
                if let Some(why) = &assume {
                    s.assumptions.push(format!(
                        "{} {} rule {}: {why}; assumed not to match",
                        t.name,
                        c.name,
                        i + 1
                    ));
                }
                work.push((i + 1, s));
            }
            st.prob *= p_yes;
            if let Some(why) = assume {
                st.assumptions.push(format!(
                    "{} {} rule {}: {why}; assumed to match",
                    t.name,
                    c.name,
                    i + 1
                ));
            }
            let target = rule.target();
            let action = match target {
                Some(tg) => {
                    let opts: Vec<String> = tg
                        .opts
                        .iter()
                        .map(|o| {
                            if o.values.is_empty() {
                                format!("--{}", o.name)
                            } else {
                                format!("--{} {}", o.name, o.values.join(" "))
                            }
                        })
                        .collect();
                    format!(
                        "{}{}{}",
                        if tg.goto { "goto " } else { "" },
                        tg.name,
                        if opts.is_empty() {
                            String::new()
                        } else {
                            format!(" {}", opts.join(" "))
                        }
                    )
                }
                None => "(no target: counts and continues)".into(),
            };
            let hit = Hit {
                source: xt_source(d),
                hook: st.hook,
                table: t.name.clone(),
                chain: c.name.clone(),
                rule: i + 1,
                text: format!("-A {} {}", c.name, rule.text()),
                owner: xt_owner(
                    &c.name,
                    target.map(|t| t.name.as_str()),
                    rule.comment().as_deref(),
                ),
                action,
                packets: rule.counters().map(|c| c.0),
                bytes: rule.counters().map(|c| c.1),
                meaning: None,
                cause: None,
                probability: (p_yes < 1.0).then_some(p_yes),
            };
            let mut hit = hit;
            if let Some((cause, text)) =
                xt_meaning(&c.name, rule.comment().as_deref(), target, &st.pkt)
            {
                hit.meaning = Some(text);
                hit.cause = cause;
            }
            st.hits.push(hit);
            let Some(tg) = target else {
                work.push((i + 1, st));
                continue;
            };
            match tg.name.as_str() {
                "ACCEPT" => out.push((st, End::Accept)),
                "DROP" => out.push((st, End::Drop)),
                "REJECT" => out.push((st, End::Reject)),
                "RETURN" => out.push((st, End::Return)),
                "DNAT" => {
                    let to = tg.opt("to-destination").unwrap_or("");
                    apply_dnat(&mut st, to);
                    out.push((st, End::Accept));
                }
                "REDIRECT" => {
                    let port = tg
                        .opt("to-ports")
                        .and_then(|p| p.split('-').next()?.parse().ok())
                        .unwrap_or(st.pkt.dport);
                    st.pkt.dnat = true;
                    st.pkt.dport = port;
                    st.dnat_to = Some((st.pkt.dst, port));
                    out.push((st, End::Accept));
                }
                "SNAT" | "MASQUERADE" | "NETMAP" => {
                    st.pkt.snat = true;
                    out.push((st, End::Accept));
                }
                "MARK" => {
                    st.pkt.mark = apply_xt_mark(tg, st.pkt.mark);
                    work.push((i + 1, st));
                }
                "CONNMARK" => {
                    if tg.opt("restore-mark").is_some()
                        || tg.opts.iter().any(|o| o.name == "restore-mark")
                    {
                        st.pkt.mark = st.pkt.ctmark;
                    } else if tg.opts.iter().any(|o| o.name == "save-mark") {
                        st.pkt.ctmark = st.pkt.mark;
                    } else {
                        st.pkt.ctmark = apply_xt_mark(tg, st.pkt.ctmark);
                    }
                    work.push((i + 1, st));
                }
                "LOG" | "NFLOG" | "ULOG" | "TRACE" | "CT" | "NOTRACK" | "TCPMSS" | "CHECKSUM"
                | "CLASSIFY" | "DSCP" | "TOS" | "TTL" | "AUDIT" | "SET" | "IDLETIMER" | "LED"
                | "SECMARK" | "CONNSECMARK" => work.push((i + 1, st)),
                "NFQUEUE" | "QUEUE" => {
                    st.assumptions.push(format!("{} {} rule {}: packet queued to user space ({}); its verdict is unknown — assumed accepted", t.name, c.name, i + 1, tg.name));
                    out.push((st, End::Accept));
                }
                name => match t.chain(name) {
                    Some(sub) if here.contains(&sub.name) => {
                        st.assumptions.push(loop_note(
                            &format!("{} {} rule {}", t.name, c.name, i + 1),
                            &here,
                            &sub.name,
                        ));
                        work.push((i + 1, st));
                    }
                    Some(sub) => {
                        for (s, e) in self.xt_chain(d, t, sub, st, ctx, depth + 1, Some(&here)) {
                            match e {
                                End::Return if tg.goto => out.push((s, End::Return)),
                                End::Return => work.push((i + 1, s)),
                                other => out.push((s, other)),
                            }
                        }
                    }
                    None => {
                        st.assumptions.push(format!("{} {} rule {}: target {name} is neither a known target nor a chain of table {}; assumed to continue", t.name, c.name, i + 1, t.name));
                        work.push((i + 1, st));
                    }
                },
            }
        }
        out
    }
}

fn fmt_sock(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

/// nft `dnat to ADDR[:PORT]`.
fn apply_dnat_parts(st: &mut St, addr: Option<&str>, port: Option<u16>) {
    if let Some(ip) = addr.and_then(|a| a.parse::<IpAddr>().ok()) {
        st.pkt.dst = ip;
    }
    if let Some(p) = port {
        st.pkt.dport = p;
    }
    st.pkt.dnat = true;
    st.dnat_to = Some((st.pkt.dst, st.pkt.dport));
}

/// `--to-destination 10.244.1.12:8080` (also `[v6]:port`, ranges: first address).
fn apply_dnat(st: &mut St, to: &str) {
    let (ip, port) = if let Some(rest) = to.strip_prefix('[') {
        let (a, p) = rest.split_once(']').unwrap_or((rest, ""));
        (a.to_string(), p.trim_start_matches(':').to_string())
    } else {
        match to.rsplit_once(':') {
            Some((a, p)) if !a.contains(':') => (a.to_string(), p.to_string()),
            _ => (to.to_string(), String::new()),
        }
    };
    let ip = ip.split('-').next().unwrap_or("");
    if let Ok(ip) = ip.parse::<IpAddr>() {
        st.pkt.dst = ip;
    }
    if let Some(p) = port.split('-').next().and_then(|p| p.parse().ok()) {
        st.pkt.dport = p;
    }
    st.pkt.dnat = true;
    st.dnat_to = Some((st.pkt.dst, st.pkt.dport));
}

fn apply_xt_mark(tg: &XtTarget, mark: u32) -> u32 {
    let vm = |s: &str| -> (u32, u32) {
        let (v, m) = s.split_once('/').unwrap_or((s, "0xffffffff"));
        (parse_u32(v).unwrap_or(0), parse_u32(m).unwrap_or(u32::MAX))
    };
    if let Some(s) = tg.opt("set-xmark") {
        let (v, m) = vm(s);
        (mark & !m) ^ v
    } else if let Some(s) = tg.opt("set-mark") {
        let (v, m) = vm(s);
        (mark & !m) | v
    } else if let Some(s) = tg.opt("or-mark") {
        mark | parse_u32(s).unwrap_or(0)
    } else if let Some(s) = tg.opt("and-mark") {
        mark & parse_u32(s).unwrap_or(u32::MAX)
    } else if let Some(s) = tg.opt("xor-mark") {
        mark ^ parse_u32(s).unwrap_or(0)
    } else {
        mark
    }
}

impl St {
    fn fate(&self) -> Fate {
        self.fate.clone().unwrap_or(Fate::Forwarded)
    }
    fn set_fate(&mut self, f: Fate) {
        self.fate = Some(f);
    }
    /// The step budget is spent: this branch stops at `at`, noted once.
    fn cut_here(&mut self, at: impl FnOnce() -> String) {
        if !self.cut {
            self.cut = true;
            let at = at();
            self.assumptions.push(format!(
                "{at}: the walk stopped here, its budget of rule evaluations spent (chains that call each other many times over); the rest of this path is not known"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of one iptables-save dump.
    fn xt_rules(dump: &str) -> NodeRules {
        NodeRules {
            xt: vec![crate::iptables::parse("t", dump).unwrap()],
            ..Default::default()
        }
    }

    /// A node whose one address is `ip`.
    fn local_ctx(ip: &str) -> NodeContext {
        NodeContext {
            local_addrs: vec![ip.parse().unwrap()],
            local_known: true,
            ..Default::default()
        }
    }

    /// Fuzz (iptables, a timeout): unevaluable matches (`-m set` without ipsets) in chains
    /// that call each other multiplied the branches past every per-chain cap (2^40 here).
    #[test]
    fn regression_walk_exponential_unknown_matches() {
        let mut dump = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j C0\n");
        for level in 0..5 {
            for r in 0..8 {
                dump.push_str(&format!(
                    "-A C{level} -m set --match-set S{level}x{r} dst -j C{}\n",
                    level + 1
                ));
            }
        }
        dump.push_str("-A C5 -j RETURN\nCOMMIT\n");
        let rules = xt_rules(&dump);
        let flow = Flow::parse("192.0.2.1:80", None).unwrap();
        let branches = rules.walk(&flow, &NodeContext::default());
        assert!(!branches.is_empty());
        assert!(
            branches.len() <= MAX_FORKS as usize + 1,
            "{}",
            branches.len()
        );
        assert!(branches.iter().any(|b| {
            b.assumptions
                .iter()
                .any(|a| a.contains("too many branches"))
        }));
        // The budget is per walk: a second walk forks again.
        assert_eq!(
            rules.walk(&flow, &NodeContext::default()).len(),
            branches.len()
        );
    }

    /// Fuzz (iptables, a timeout after the fork budget): a chain that jumps to itself on
    /// unevaluable matches makes paths of thousands of hits, and every fork copied one; a fork
    /// now costs the hits it copies.
    #[test]
    fn regression_walk_fork_cost_of_long_paths() {
        let mut dump = String::from("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j LOOP\n");
        for r in 0..6 {
            dump.push_str(&format!("-A LOOP -m set --match-set S{r} dst -j LOOP\n"));
        }
        dump.push_str("COMMIT\n");
        let rules = xt_rules(&dump);
        let flow = Flow::parse("192.0.2.1:80", None).unwrap();
        let ctx = local_ctx("192.0.2.1");
        let branches = rules.walk(&flow, &ctx);
        let hits: usize = branches.iter().map(|b| b.path.len()).sum();
        assert!(
            hits <= 2 * MAX_FORKS as usize,
            "{hits} hits in {} branches",
            branches.len()
        );
    }

    /// Fuzz (iptables, 14 s per input): `KUBE-SERVICES` jumping to itself behind unevaluable
    /// `-m set` matches was followed 64 levels deep on every branch. The kernel refuses a
    /// table with a loop (ELOOP), so the walk does not follow the jump and says why.
    #[test]
    fn regression_walk_chain_loop_not_followed() {
        let dump = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-SERVICES\n\
            -A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LB\n\
            -A KUBE-LB -m set --match-set LOCAL dst,dst -j KUBE-SERVICES\n\
            -A KUBE-SERVICES -j KUBE-SERVICES\nCOMMIT\n";
        let rules = xt_rules(dump);
        let flow = Flow::parse("192.0.2.1:80", None).unwrap();
        let branches = rules.walk(&flow, &NodeContext::default());
        let loops: Vec<&String> = branches
            .iter()
            .flat_map(|b| &b.assumptions)
            .filter(|a| a.contains("a loop"))
            .collect();
        assert!(
            loops
                .iter()
                .any(|a| a.contains("PREROUTING -> KUBE-SERVICES -> KUBE-LB -> KUBE-SERVICES")),
            "{loops:?}"
        );
        assert!(
            loops
                .iter()
                .any(|a| a.contains("KUBE-SERVICES -> KUBE-SERVICES jumps back"))
        );
        // No path goes deeper than the three chains.
        for b in &branches {
            assert!(b.path.len() <= 4, "{:?}", b.path);
        }
    }

    /// Chains that each call the next twice (no loop: the kernel loads this) make 2^40 rule
    /// visits on one path; the walk stops at its step budget and says so.
    #[test]
    fn regression_walk_step_budget_on_multiplying_calls() {
        let mut dump = String::from("*filter\n:INPUT DROP [0:0]\n-A INPUT -j C0\n");
        for level in 0..40 {
            for _ in 0..2 {
                dump.push_str(&format!("-A C{level} -j C{}\n", level + 1));
            }
        }
        dump.push_str("-A C40 -p tcp -j LOG\nCOMMIT\n");
        let rules = xt_rules(&dump);
        let flow = Flow::parse("192.0.2.1:80", None).unwrap();
        let ctx = local_ctx("192.0.2.1");
        let branches = rules.walk(&flow, &ctx);
        assert_eq!(branches.len(), 1);
        let b = &branches[0];
        assert!(
            b.assumptions
                .iter()
                .any(|a| a.contains("budget of rule evaluations spent")),
            "{:?}",
            b.assumptions
        );
        // A cut branch is not claimed dropped by INPUT's policy.
        assert!(!b.path.iter().any(|h| h.action == "policy DROP"));
        let budget = (rules.xt[0].rule_count() as u64 * STEPS_PER_RULE).max(MIN_STEPS);
        assert!(b.path.len() as u64 <= budget, "{} hits", b.path.len());
    }

    /// The step budget must never cut a real walk: one LoadBalancer Service with 500
    /// endpoints (a statistic fork each) on a node whose forward path walks 60 policy rules
    /// (Calico-sized) is followed to every endpoint.
    #[test]
    fn step_budget_follows_a_large_service_to_every_endpoint() {
        let mut nat = String::from(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
             -A PREROUTING -j KUBE-SERVICES\n-A POSTROUTING -j KUBE-POSTROUTING\n\
             -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
             -A KUBE-POSTROUTING -j MASQUERADE\n\
             -A KUBE-SERVICES -d 192.0.2.240/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X\n",
        );
        let n = 500;
        for j in 0..n {
            let left = n - j;
            if left > 1 {
                nat.push_str(&format!(
                    "-A KUBE-SVC-X -m statistic --mode random --probability {:.11} -j KUBE-SEP-{j}\n",
                    1.0 / left as f64
                ));
            } else {
                nat.push_str(&format!("-A KUBE-SVC-X -j KUBE-SEP-{j}\n"));
            }
            nat.push_str(&format!(
                "-A KUBE-SEP-{j} -s 10.244.{}.{}/32 -j MARK --set-xmark 0x4000/0x4000\n\
                 -A KUBE-SEP-{j} -p tcp -m tcp -j DNAT --to-destination 10.244.{}.{}:8080\n",
                j / 200,
                2 + j % 200,
                j / 200,
                2 + j % 200
            ));
        }
        nat.push_str("COMMIT\n");
        let mut filter =
            String::from("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j cali-FORWARD\n");
        for r in 0..60 {
            filter.push_str(&format!(
                "-A cali-FORWARD -p udp -m udp --dport {} -j DROP\n",
                1000 + r
            ));
        }
        filter.push_str("COMMIT\n");
        let rules = xt_rules(&format!("{filter}{nat}"));
        let flow = Flow::parse("192.0.2.240:80", None).unwrap();
        let ctx = local_ctx("192.0.2.11");
        let branches = rules.walk(&flow, &ctx);
        let mut targets: Vec<&str> = branches
            .iter()
            .filter_map(|b| b.dnat_to.as_deref())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        assert_eq!(targets.len(), n);
        for b in &branches {
            assert!(b.assumptions.is_empty(), "{:?}", b.assumptions);
            assert_eq!(b.fate, Fate::Forwarded);
        }
    }

    /// IPVS real servers are branches too: a Service with 1000 of them, each walking a
    /// 10-rule POSTROUTING, is followed to every one (the budget counts real servers).
    #[test]
    fn step_budget_follows_every_ipvs_real_server() {
        let mut ipvsadm = String::from("-A -t 192.0.2.240:80 -s rr\n");
        for j in 0..1000 {
            ipvsadm.push_str(&format!(
                "-a -t 192.0.2.240:80 -r 10.244.{}.{}:8080 -m -w 1\n",
                j / 200,
                2 + j % 200
            ));
        }
        let mut nat = String::from("*nat\n:POSTROUTING ACCEPT [0:0]\n");
        for r in 0..10 {
            nat.push_str(&format!(
                "-A POSTROUTING -p udp -m udp --dport {} -j RETURN\n",
                100 + r
            ));
        }
        nat.push_str("COMMIT\n");
        let rules = NodeRules {
            xt: vec![crate::iptables::parse("t", &nat).unwrap()],
            ipvs: Some(crate::ipvs::parse_ipvs("v", &ipvsadm).unwrap()),
            ..Default::default()
        };
        let flow = Flow::parse("192.0.2.240:80", None).unwrap();
        let branches = rules.walk(&flow, &NodeContext::default());
        assert_eq!(branches.len(), 1000);
        assert!(branches.iter().all(|b| !b.cut), "no branch cut");
    }

    /// A cut branch's fate is not known: `explain` leaves it out of the outcome and warns.
    #[test]
    fn explain_leaves_cut_branches_out_and_warns() {
        let mut dump = String::from(
            "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.1.2:8080\n-A PREROUTING -j C0\n",
        );
        for level in 0..40 {
            for _ in 0..2 {
                dump.push_str(&format!("-A C{level} -j C{}\n", level + 1));
            }
        }
        dump.push_str("COMMIT\n");
        let rules = xt_rules(&dump);
        let flow = Flow::parse("192.0.2.240:80", None).unwrap();
        let e = crate::explain(&rules, &flow, &NodeContext::default());
        assert!(e.branches.iter().any(|b| b.cut));
        assert!(
            e.warnings.iter().any(|w| w.contains("budget")),
            "{:?}",
            e.warnings
        );
        assert!(!e.certain);
        // The uncut branch DNATs; the cut one does not count as anything.
        assert_eq!(e.outcome.targets.len(), 1, "{:?}", e.outcome.targets);
        assert_eq!(e.outcome.targets[0].addr, "10.244.1.2:8080");
    }
}
