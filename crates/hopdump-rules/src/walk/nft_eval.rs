//! Evaluating nftables rules (from `nft -j`) against the walked packet: payload/meta/ct/fib
//! expressions, sets and maps, verdict maps and `numgen` (kube-proxy's endpoint choice).

use std::net::IpAddr;

use serde_json::Value;

use super::{Cause, End, Hit, NodeRules, St, apply_dnat_parts};
use crate::flow::{NodeContext, Proto, parse_net};
use crate::nft::{NftChain, NftTable, render};
use crate::owner::nft_owner;
use crate::xt::Tri;

/// A value an expression evaluates to.
#[derive(Clone, Debug)]
enum V {
    Ip(IpAddr),
    Num(u64),
    Str(String),
    Flags(Vec<String>),
    Cat(Vec<V>),
    /// The header the expression reads is not in this packet (e.g. `tcp dport` on UDP):
    /// nft's implicit protocol check fails, so the match is false.
    Absent,
    Unknown(String),
}

/// A map element: key, verdict, comment.
type MapElem<'a> = (&'a Value, &'a Value, Option<&'a str>);

enum Verdict {
    Accept,
    Drop,
    Reject,
    Return,
    Continue,
    Jump(String),
    Goto(String),
}

fn key_of(v: &Value) -> Option<(&str, &Value)> {
    v.as_object()
        .and_then(|o| o.iter().next())
        .map(|(k, x)| (k.as_str(), x))
}

fn verdict(v: &Value) -> Option<Verdict> {
    if let Some(s) = v.as_str() {
        return Some(match s {
            "accept" => Verdict::Accept,
            "drop" => Verdict::Drop,
            "reject" => Verdict::Reject,
            "return" => Verdict::Return,
            "continue" => Verdict::Continue,
            _ => return None,
        });
    }
    let (k, x) = key_of(v)?;
    let target = || {
        x.get("target")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(match k {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "reject" => Verdict::Reject,
        "return" => Verdict::Return,
        "continue" => Verdict::Continue,
        "jump" => Verdict::Jump(target()),
        "goto" => Verdict::Goto(target()),
        _ => return None,
    })
}

fn proto_num(s: &str) -> Option<u64> {
    Proto::parse(s).map(|p| p.number() as u64).or(match s {
        "icmp" => Some(1),
        "icmpv6" | "ipv6-icmp" => Some(58),
        _ => None,
    })
}

fn service_port(s: &str) -> Option<u64> {
    s.parse().ok().or(match s {
        "http" => Some(80),
        "https" => Some(443),
        "domain" => Some(53),
        "ssh" => Some(22),
        _ => None,
    })
}

impl NodeRules {
    fn value(&self, e: &Value, st: &St, ctx: &NodeContext) -> V {
        let pkt = &st.pkt;
        match e {
            Value::Number(n) => {
                return n
                    .as_u64()
                    .map(V::Num)
                    .unwrap_or_else(|| V::Unknown(n.to_string()));
            }
            Value::String(s) => {
                return match s.parse::<IpAddr>() {
                    Ok(ip) => V::Ip(ip),
                    Err(_) => V::Str(s.to_ascii_lowercase()),
                };
            }
            _ => {}
        }
        let Some((k, x)) = key_of(e) else {
            return V::Unknown(render(e));
        };
        let field = |n: &str| x.get(n).and_then(Value::as_str).unwrap_or_default();
        match k {
            "payload" => {
                let proto = field("protocol");
                let f = field("field");
                match (proto, f) {
                    ("ip", "saddr") if pkt.src.is_ipv4() => V::Ip(pkt.src),
                    ("ip", "daddr") if pkt.dst.is_ipv4() => V::Ip(pkt.dst),
                    ("ip6", "saddr") if pkt.src.is_ipv6() => V::Ip(pkt.src),
                    ("ip6", "daddr") if pkt.dst.is_ipv6() => V::Ip(pkt.dst),
                    ("ip" | "ip6", "saddr" | "daddr") => V::Absent,
                    ("ip", "protocol") | ("ip6", "nexthdr") => V::Num(pkt.proto.number() as u64),
                    ("th", "dport") => V::Num(pkt.dport as u64),
                    ("th", "sport") => V::Num(pkt.sport as u64),
                    ("tcp" | "udp" | "sctp", port @ ("dport" | "sport")) => {
                        if Proto::parse(proto) == Some(pkt.proto) {
                            V::Num(if port == "dport" {
                                pkt.dport
                            } else {
                                pkt.sport
                            } as u64)
                        } else {
                            V::Absent
                        }
                    }
                    ("tcp", "flags") if pkt.proto == Proto::Tcp => V::Flags(vec!["syn".into()]),
                    ("icmp" | "icmpv6", _) => V::Absent,
                    _ => V::Unknown(format!("{proto} {f}")),
                }
            }
            "meta" => {
                match field("key") {
                    "l4proto" | "protocol" if field("key") == "l4proto" => {
                        V::Num(pkt.proto.number() as u64)
                    }
                    "nfproto" => V::Str(if pkt.dst.is_ipv4() { "ipv4" } else { "ipv6" }.into()),
                    "protocol" => V::Str(if pkt.dst.is_ipv4() { "ip" } else { "ip6" }.into()),
                    "mark" => V::Num(pkt.mark as u64),
                    "iifname" => pkt.iif.clone().map(V::Str).unwrap_or_else(|| {
                        V::Unknown("input interface not known (pass --in)".into())
                    }),
                    "oifname" => pkt
                        .oif
                        .clone()
                        .map(V::Str)
                        .unwrap_or_else(|| V::Unknown("output interface not known".into())),
                    "pkttype" => V::Str("host".into()),
                    other => V::Unknown(format!("meta {other}")),
                }
            }
            "ct" => match field("key") {
                "state" => V::Flags(vec!["new".into()]),
                "status" => {
                    let mut f = Vec::new();
                    if pkt.dnat {
                        f.push("dnat".to_string());
                    }
                    if pkt.snat {
                        f.push("snat".to_string());
                    }
                    V::Flags(f)
                }
                "mark" => V::Num(pkt.ctmark as u64),
                "direction" => V::Str("original".into()),
                other => V::Unknown(format!("ct {other}")),
            },
            "fib" => {
                let flags: Vec<&str> = x
                    .get("flags")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if field("result") != "type" {
                    return V::Unknown(format!(
                        "fib {} {} needs the routing table",
                        flags.join(" . "),
                        field("result")
                    ));
                }
                let ip = if flags.contains(&"saddr") {
                    pkt.src
                } else {
                    pkt.dst
                };
                match ctx.is_local(ip) {
                    Some(true) => V::Str("local".into()),
                    Some(false) if ip.is_multicast() => V::Str("multicast".into()),
                    Some(false) => V::Str("unicast".into()),
                    None => V::Unknown("fib … type local: the node's addresses are not known (read live or pass --local-ip)".into()),
                }
            }
            "concat" => V::Cat(
                x.as_array()
                    .map(|a| a.iter().map(|e| self.value(e, st, ctx)).collect())
                    .unwrap_or_default(),
            ),
            "&" | "|" | "^" => {
                let parts: Vec<V> = x
                    .as_array()
                    .map(|a| a.iter().map(|e| self.value(e, st, ctx)).collect())
                    .unwrap_or_default();
                match parts.as_slice() {
                    [V::Num(a), V::Num(b)] => V::Num(match k {
                        "&" => a & b,
                        "|" => a | b,
                        _ => a ^ b,
                    }),
                    _ => V::Unknown(render(e)),
                }
            }
            "elem" => x
                .get("val")
                .map(|v| self.value(v, st, ctx))
                .unwrap_or(V::Unknown("elem".into())),
            _ => V::Unknown(render(e)),
        }
    }

    /// Does `left` equal (or fall within) `right`?
    fn eq(&self, left: &V, right: &Value, t: &NftTable, st: &St, ctx: &NodeContext) -> Tri {
        match left {
            V::Absent => return Tri::No,
            V::Unknown(r) => return Tri::Unknown(r.clone()),
            _ => {}
        }
        if let Some(name) = right.as_str().and_then(|s| s.strip_prefix('@')) {
            let Some(set) = t.sets.get(name) else {
                return Tri::Unknown(format!("set @{name} not found in table {}", t.name));
            };
            return any(set
                .elems
                .iter()
                .map(|(k, _, _)| self.eq(left, k, t, st, ctx)));
        }
        if let Some(a) = right.as_array() {
            return any(a.iter().map(|r| self.eq(left, r, t, st, ctx)));
        }
        if let Some((k, x)) = key_of(right) {
            match k {
                "set" => {
                    return match x.as_array() {
                        Some(a) => any(a.iter().map(|r| self.eq(left, r, t, st, ctx))),
                        None => self.eq(left, x, t, st, ctx),
                    };
                }
                "elem" => {
                    return x
                        .get("val")
                        .map(|v| self.eq(left, v, t, st, ctx))
                        .unwrap_or(Tri::No);
                }
                "prefix" => {
                    let addr = x.get("addr").and_then(Value::as_str).unwrap_or_default();
                    let len = x.get("len").and_then(Value::as_u64).unwrap_or(0);
                    return match (left, parse_net(&format!("{addr}/{len}"))) {
                        (V::Ip(ip), Some(n)) => yes(n.contains(ip)),
                        _ => Tri::No,
                    };
                }
                "range" => {
                    let Some([a, b]) = x
                        .as_array()
                        .map(|a| a.as_slice())
                        .and_then(|s| <&[Value; 2]>::try_from(s).ok())
                    else {
                        return Tri::No;
                    };
                    return match (left, self.value(a, st, ctx), self.value(b, st, ctx)) {
                        (V::Ip(ip), V::Ip(lo), V::Ip(hi)) => yes(lo <= *ip && *ip <= hi),
                        (V::Num(n), V::Num(lo), V::Num(hi)) => yes(lo <= *n && *n <= hi),
                        _ => Tri::No,
                    };
                }
                "concat" => {
                    let (V::Cat(ls), Some(rs)) = (left, x.as_array()) else {
                        return Tri::No;
                    };
                    if ls.len() != rs.len() {
                        return Tri::No;
                    }
                    let mut acc = Tri::Yes;
                    for (l, r) in ls.iter().zip(rs) {
                        acc = crate::xt::and(acc, self.eq(l, r, t, st, ctx));
                        if acc == Tri::No {
                            break;
                        }
                    }
                    return acc;
                }
                _ => {}
            }
        }
        match (left, right) {
            (V::Ip(ip), Value::String(s)) => match s.parse::<IpAddr>() {
                Ok(r) => yes(*ip == r),
                Err(_) => match parse_net(s) {
                    Some(n) => yes(n.contains(ip)),
                    None => Tri::Unknown(format!("address {s:?}")),
                },
            },
            (V::Num(n), Value::Number(r)) => yes(Some(*n) == r.as_u64()),
            (V::Num(n), Value::String(s)) => match proto_num(s)
                .or_else(|| service_port(s))
                .or_else(|| crate::xt::parse_u32(s).map(u64::from))
            {
                Some(r) => yes(*n == r),
                None => Tri::Unknown(format!("value {s:?}")),
            },
            (V::Str(a), Value::String(b)) => {
                let b = b.to_ascii_lowercase();
                match b.strip_suffix('*') {
                    Some(prefix) => yes(a.starts_with(prefix)),
                    None => yes(*a == b),
                }
            }
            (V::Flags(f), Value::String(b)) => yes(f.iter().any(|x| x.eq_ignore_ascii_case(b))),
            (V::Cat(_), _) => Tri::No,
            _ => Tri::No,
        }
    }

    fn nft_match(&self, x: &Value, st: &St, ctx: &NodeContext, t: &NftTable) -> Tri {
        let op = x.get("op").and_then(Value::as_str).unwrap_or("==");
        let left = self.value(x.get("left").unwrap_or(&Value::Null), st, ctx);
        let right = x.get("right").unwrap_or(&Value::Null);
        match op {
            "==" | "in" => self.eq(&left, right, t, st, ctx),
            "!=" => match self.eq(&left, right, t, st, ctx) {
                // A missing header makes both == and != false in nft.
                Tri::No if matches!(left, V::Absent) => Tri::No,
                Tri::Yes => Tri::No,
                Tri::No => Tri::Yes,
                other => other,
            },
            "<" | ">" | "<=" | ">=" => match (&left, self.value(right, st, ctx)) {
                (V::Num(a), V::Num(b)) => yes(match op {
                    "<" => *a < b,
                    ">" => *a > b,
                    "<=" => *a <= b,
                    _ => *a >= b,
                }),
                (V::Absent, _) => Tri::No,
                _ => Tri::Unknown(format!("comparison {}", render(x))),
            },
            other => Tri::Unknown(format!("operator {other}")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn nft_hit(
        &self,
        t: &NftTable,
        c: &NftChain,
        ri: usize,
        st: &St,
        action: String,
        meaning: Option<(Option<Cause>, String)>,
        probability: Option<f64>,
    ) -> Hit {
        let rule = &c.rules[ri];
        Hit {
            source: "nft",
            hook: st.hook,
            table: format!("{} {}", t.family, t.name),
            chain: c.name.clone(),
            rule: ri + 1,
            text: format!("{} # handle {}", rule.text, rule.handle),
            owner: nft_owner(&t.name, &c.name, rule.comment.as_deref()),
            action,
            packets: rule.counters.map(|c| c.0),
            bytes: rule.counters.map(|c| c.1),
            cause: meaning.as_ref().and_then(|m| m.0),
            meaning: meaning.map(|m| m.1),
            probability,
        }
    }

    /// kube-proxy's meaning of an nft verdict taken in chain `c` (via map `map`, element comment).
    fn nft_meaning(
        &self,
        t: &NftTable,
        c: &NftChain,
        action: &str,
        map: Option<&str>,
        comment: Option<&str>,
        st: &St,
    ) -> Option<(Option<Cause>, String)> {
        if t.name != "kube-proxy" {
            return None;
        }
        let svc = comment
            .map(str::to_string)
            .or_else(|| {
                crate::owner::service_from_nft_chain(action.split_whitespace().last().unwrap_or(""))
            })
            .or_else(|| crate::owner::service_from_nft_chain(&c.name))
            .unwrap_or_default();
        let stop = |cause, text: String| Some((Some(cause), text));
        let note = |text: String| Some((None, text));
        match (map, action) {
            (Some("no-endpoint-services" | "no-endpoint-nodeports"), a) if a.contains("reject") => {
                stop(
                    Cause::NoEndpoints,
                    format!(
                        "Service {svc} has no endpoints: kube-proxy rejects the connection (client sees connection refused)"
                    ),
                )
            }
            (Some("no-endpoint-services" | "no-endpoint-nodeports"), "drop") => stop(
                Cause::NoLocalEndpoints,
                format!(
                    "Service {svc} has externalTrafficPolicy=Local and no endpoint on this node: kube-proxy drops"
                ),
            ),
            (Some("firewall-ips"), _) => note(format!(
                "{svc} has loadBalancerSourceRanges: checked in {}",
                action.trim_start_matches("goto ")
            )),
            (_, "drop") if c.name.starts_with("firewall-") => stop(
                Cause::SourceRangeBlocked,
                format!(
                    "loadBalancerSourceRanges of {svc} do not include source {}: kube-proxy drops",
                    st.pkt.src
                ),
            ),
            (_, "jump mark-for-masquerade") => note(
                "marked for masquerade: the packet will leave with the node's address as source"
                    .into(),
            ),
            (_, a) if a.starts_with("goto local-") => note(format!(
                "externalTrafficPolicy=Local: only endpoints of {svc} on this node"
            )),
            (_, a) if a.starts_with("dnat") && c.name.starts_with("endpoint-") => {
                note(format!("endpoint of {svc}"))
            }
            (_, "reject") if c.name == "cluster-ips-check" => stop(
                Cause::InvalidClusterIp,
                "traffic to a ClusterIP on a port no Service uses: kube-proxy rejects".into(),
            ),
            (_, "drop") if c.name == "cluster-ips-check" => stop(
                Cause::InvalidClusterIp,
                "traffic to an unallocated ClusterIP: kube-proxy drops".into(),
            ),
            _ => None,
        }
    }

    pub(super) fn nft_chain(
        &self,
        t: &NftTable,
        c: &NftChain,
        st: St,
        ctx: &NodeContext,
        depth: u32,
        up: Option<&super::Calls<'_>>,
    ) -> Vec<(St, End)> {
        let here = super::Calls { chain: &c.name, up };
        let mut out = Vec::new();
        if depth > super::MAX_DEPTH {
            let mut st = st;
            st.assumptions.push(format!(
                "chain nesting deeper than {} at {}: stopped following",
                super::MAX_DEPTH,
                c.name
            ));
            out.push((st, End::Return));
            return out;
        }
        // (rule index, expression index, state)
        let mut work: Vec<(usize, usize, St)> = vec![(0, 0, st)];
        while let Some((ri, ei, mut st)) = work.pop() {
            let Some(rule) = c.rules.get(ri) else {
                out.push((st, End::Return));
                continue;
            };
            if ei == 0 && (st.cut || !super::step()) {
                st.cut_here(|| format!("nft {} {} rule {}", t.name, c.name, ri + 1));
                out.push((st, End::Return));
                continue;
            }
            let Some(e) = rule.exprs.get(ei) else {
                work.push((ri + 1, 0, st));
                continue;
            };
            if let Some(v) = verdict(e) {
                let action = render(e);
                let meaning = self.nft_meaning(t, c, &action, None, None, &st);
                st.hits
                    .push(self.nft_hit(t, c, ri, &st, action, meaning, None));
                self.apply_verdict(t, v, st, ctx, depth, &here, ri, &mut work, &mut out);
                continue;
            }
            let Some((k, x)) = key_of(e) else {
                work.push((ri, ei + 1, st));
                continue;
            };
            match k {
                "match" => match self.nft_match(x, &st, ctx, t) {
                    Tri::Yes => work.push((ri, ei + 1, st)),
                    Tri::No => work.push((ri + 1, 0, st)),
                    Tri::Random(p) => {
                        if !super::may_fork(st.hits.len()) {
                            // Too many branches: follow only the "not matching" side, whole.
                            st.assumptions.push(format!(
                                "nft {} {} rule {}: too many branches to follow; assumed not to match",
                                t.name,
                                c.name,
                                ri + 1
                            ));
                            work.push((ri + 1, 0, st));
                            continue;
                        }
                        super::grant_branch();
                        let mut s = st.clone();
                        s.prob *= 1.0 - p;
                        work.push((ri + 1, 0, s));
                        st.prob *= p;
                        work.push((ri, ei + 1, st));
                    }
                    Tri::Unknown(why) => {
                        let not = format!(
                            "nft {} {} rule {}: {why}; assumed not to match",
                            t.name,
                            c.name,
                            ri + 1
                        );
                        // Fork only within the budgets; otherwise only the "not matching"
                        // side is followed (without copying the state).
                        if work.len() + 1 + out.len() < super::MAX_BRANCHES
                            && super::may_fork(st.hits.len())
                        {
                            let mut s = st.clone();
                            s.assumptions.push(not);
                            work.push((ri + 1, 0, s));
                            st.assumptions.push(format!(
                                "nft {} {} rule {}: {why}; assumed to match",
                                t.name,
                                c.name,
                                ri + 1
                            ));
                            work.push((ri, ei + 1, st));
                        } else {
                            st.assumptions.push(not);
                            work.push((ri + 1, 0, st));
                        }
                    }
                },
                "vmap" => {
                    let key = x.get("key").unwrap_or(&Value::Null);
                    let data = x.get("data").unwrap_or(&Value::Null);
                    let (map_name, elems): (Option<&str>, Vec<MapElem<'_>>) = match data
                        .as_str()
                        .and_then(|s| s.strip_prefix('@'))
                    {
                        Some(name) => match t.sets.get(name) {
                            Some(set) => (
                                Some(name),
                                set.elems
                                    .iter()
                                    .filter_map(|(k, d, c)| Some((k, d.as_ref()?, c.as_deref())))
                                    .collect(),
                            ),
                            None => {
                                st.assumptions.push(format!("nft {} {} rule {}: map @{name} not found; assumed no element matches", t.name, c.name, ri + 1));
                                work.push((ri + 1, 0, st));
                                continue;
                            }
                        },
                        None => (
                            None,
                            data.get("set")
                                .and_then(Value::as_array)
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|p| {
                                            let p = p.as_array()?;
                                            Some((p.first()?, p.get(1)?, None))
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                        ),
                    };
                    if let Some(ng) = key.get("numgen") {
                        // numgen random mod N [offset O]: each element gets its share of N.
                        let n = ng.get("mod").and_then(Value::as_u64).unwrap_or(1).max(1);
                        let off = ng.get("offset").and_then(Value::as_u64).unwrap_or(0);
                        let mut covered = 0.0;
                        let mut refused = false;
                        for (k, d, comment) in &elems {
                            // A number or a range counts directly; anything else is tried on
                            // each value (the kernel's modulus is 32 bits: a lying one is not
                            // counted out value by value).
                            let count = match (k.as_u64(), k.get("range")) {
                                (Some(v), _) => u64::from(v >= off && v - off < n),
                                (None, Some(Value::Array(r))) if r.len() == 2 => {
                                    match (r[0].as_u64(), r[1].as_u64()) {
                                        (Some(a), Some(b)) => {
                                            let (lo, hi) =
                                                (a.max(off), b.min(off.saturating_add(n - 1)));
                                            if lo <= hi { hi - lo + 1 } else { 0 }
                                        }
                                        _ => 0,
                                    }
                                }
                                _ if n <= 4096 => (off..off.saturating_add(n))
                                    .filter(|v| self.eq(&V::Num(*v), k, t, &st, ctx) == Tri::Yes)
                                    .count()
                                    as u64,
                                _ => 0,
                            };
                            if count == 0 {
                                continue;
                            }
                            let p = count as f64 / n as f64;
                            if work.len() + out.len() >= super::MAX_BRANCHES
                                || !super::may_fork(st.hits.len())
                            {
                                // Too many branches: the rest of the share goes on as not
                                // matching (probabilities still add up).
                                refused = true;
                                break;
                            }
                            super::grant_branch();
                            covered += p;
                            let mut s = st.clone();
                            s.prob *= p;
                            let action = render(d);
                            let meaning = self.nft_meaning(t, c, &action, map_name, *comment, &s);
                            s.hits
                                .push(self.nft_hit(t, c, ri, &s, action, meaning, Some(p)));
                            if let Some(v) = verdict(d) {
                                self.apply_verdict(
                                    t, v, s, ctx, depth, &here, ri, &mut work, &mut out,
                                );
                            }
                        }
                        if covered < 1.0 - 1e-9 {
                            let mut s = st;
                            s.prob *= 1.0 - covered;
                            if refused {
                                s.assumptions.push(format!(
                                    "nft {} {} rule {}: too many branches to follow; the rest of numgen's share assumed not to match",
                                    t.name,
                                    c.name,
                                    ri + 1
                                ));
                            }
                            work.push((ri + 1, 0, s));
                        }
                        continue;
                    }
                    let kv = self.value(key, &st, ctx);
                    let mut found = None;
                    let mut unknown = None;
                    for (k, d, comment) in &elems {
                        match self.eq(&kv, k, t, &st, ctx) {
                            Tri::Yes => {
                                found = Some((*d, *comment));
                                break;
                            }
                            Tri::Unknown(why) => unknown = Some(why),
                            _ => {}
                        }
                    }
                    match (found, unknown) {
                        (Some((d, comment)), _) => {
                            let action = render(d);
                            let meaning = self.nft_meaning(t, c, &action, map_name, comment, &st);
                            st.hits
                                .push(self.nft_hit(t, c, ri, &st, action, meaning, None));
                            match verdict(d) {
                                Some(v) => self.apply_verdict(
                                    t, v, st, ctx, depth, &here, ri, &mut work, &mut out,
                                ),
                                None => work.push((ri + 1, 0, st)),
                            }
                        }
                        (None, Some(why)) => {
                            st.assumptions.push(format!(
                                "nft {} {} rule {}: {why}; assumed no map element matches",
                                t.name,
                                c.name,
                                ri + 1
                            ));
                            work.push((ri + 1, 0, st));
                        }
                        (None, None) => work.push((ri + 1, 0, st)),
                    }
                }
                "dnat" | "redirect" => {
                    let addr = x.get("addr").map(|a| match a {
                        Value::String(s) => s.clone(),
                        other => render(other),
                    });
                    let port = x.get("port").and_then(|p| {
                        p.as_u64()
                            .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
                    });
                    let action = render(e);
                    if k == "redirect" {
                        st.pkt.dnat = true;
                        if let Some(p) = port {
                            st.pkt.dport = p as u16;
                        }
                        st.dnat_to = Some((st.pkt.dst, st.pkt.dport));
                    } else {
                        apply_dnat_parts(&mut st, addr.as_deref(), port.map(|p| p as u16));
                    }
                    let meaning = self.nft_meaning(t, c, &action, None, None, &st);
                    st.hits
                        .push(self.nft_hit(t, c, ri, &st, action, meaning, None));
                    out.push((st, End::Accept));
                }
                "snat" | "masquerade" => {
                    st.pkt.snat = true;
                    let action = render(e);
                    st.hits.push(
                        self.nft_hit(
                            t,
                            c,
                            ri,
                            &st,
                            action,
                            Some((
                                None,
                                "source NAT: the packet leaves with the node's address as source"
                                    .into(),
                            )),
                            None,
                        ),
                    );
                    out.push((st, End::Accept));
                }
                "mangle" => {
                    let target = x.get("key").and_then(|k| key_of(k)).map(|(kk, kx)| {
                        (
                            kk.to_string(),
                            kx.get("key")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        )
                    });
                    let val = self.value(x.get("value").unwrap_or(&Value::Null), &st, ctx);
                    match (target.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), val) {
                        (Some(("meta", "mark")), V::Num(n)) => st.pkt.mark = n as u32,
                        (Some(("ct", "mark")), V::Num(n)) => st.pkt.ctmark = n as u32,
                        _ => st.assumptions.push(format!(
                            "nft {} {} rule {}: `{}` not evaluated",
                            t.name,
                            c.name,
                            ri + 1,
                            render(e)
                        )),
                    }
                    work.push((ri, ei + 1, st));
                }
                "counter" | "log" | "limit" | "notrack" | "set" | "quota" | "meter"
                | "ct helper" | "ct timeout" | "ct expectation" | "synproxy" => {
                    work.push((ri, ei + 1, st))
                }
                "queue" => {
                    st.assumptions.push(format!("nft {} {} rule {}: packet queued to user space; its verdict is unknown — assumed accepted", t.name, c.name, ri + 1));
                    out.push((st, End::Accept));
                }
                "xt" => {
                    let mut s = st.clone();
                    s.assumptions.push(format!("nft {} {} rule {}: iptables-nft expression `{}` cannot be read from nft JSON (give iptables-nft-save output too); assumed not to match", t.name, c.name, ri + 1, render(e)));
                    work.push((ri + 1, 0, s));
                }
                other => {
                    st.assumptions.push(format!(
                        "nft {} {} rule {}: statement `{other}` not evaluated; assumed to continue",
                        t.name,
                        c.name,
                        ri + 1
                    ));
                    work.push((ri, ei + 1, st));
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_verdict(
        &self,
        t: &NftTable,
        v: Verdict,
        st: St,
        ctx: &NodeContext,
        depth: u32,
        here: &super::Calls<'_>,
        ri: usize,
        work: &mut Vec<(usize, usize, St)>,
        out: &mut Vec<(St, End)>,
    ) {
        match v {
            Verdict::Accept => out.push((st, End::Accept)),
            Verdict::Drop => out.push((st, End::Drop)),
            Verdict::Reject => out.push((st, End::Reject)),
            Verdict::Return => out.push((st, End::Return)),
            Verdict::Continue => work.push((ri + 1, 0, st)),
            Verdict::Jump(name) | Verdict::Goto(name) if t.chain(&name).is_none() => {
                let mut st = st;
                st.assumptions.push(format!(
                    "nft {}: chain {name} not found; assumed to continue",
                    t.name
                ));
                work.push((ri + 1, 0, st));
            }
            Verdict::Jump(name) | Verdict::Goto(name) if here.contains(&name) => {
                let mut st = st;
                st.assumptions.push(super::loop_note(
                    &format!("nft {} {} rule {}", t.name, here.chain, ri + 1),
                    here,
                    &name,
                ));
                work.push((ri + 1, 0, st));
            }
            Verdict::Jump(name) => {
                if let Some(sub) = t.chain(&name) {
                    for (s, e) in self.nft_chain(t, sub, st, ctx, depth + 1, Some(here)) {
                        match e {
                            End::Return => work.push((ri + 1, 0, s)),
                            other => out.push((s, other)),
                        }
                    }
                }
            }
            Verdict::Goto(name) => {
                if let Some(sub) = t.chain(&name) {
                    out.extend(self.nft_chain(t, sub, st, ctx, depth + 1, Some(here)));
                }
            }
        }
    }
}

fn yes(b: bool) -> Tri {
    if b { Tri::Yes } else { Tri::No }
}

fn any(it: impl Iterator<Item = Tri>) -> Tri {
    let mut unknown = None;
    for t in it {
        match t {
            Tri::Yes => return Tri::Yes,
            Tri::Unknown(r) => unknown = Some(r),
            _ => {}
        }
    }
    unknown.map(Tri::Unknown).unwrap_or(Tri::No)
}

#[cfg(test)]
mod tests {
    use crate::{Flow, NodeContext, NodeRules, nft};

    /// A `numgen random mod N` whose modulus is huge (the kernel's is 32 bits; a lying dump can
    /// say 2^64-1) was counted out value by value for every element: numbers and ranges are
    /// now counted directly.
    #[test]
    fn regression_numgen_huge_modulus_counts_directly() {
        let json = r#"{"nftables": [
            {"table": {"family": "ip", "name": "t", "handle": 1}},
            {"chain": {"family": "ip", "table": "t", "name": "pre", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
            {"chain": {"family": "ip", "table": "t", "name": "a", "handle": 2}},
            {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 3, "expr": [{"vmap": {"key": {"numgen": {"mode": "random", "mod": 18446744073709551615, "offset": 0}}, "data": {"set": [[0, {"goto": {"target": "a"}}], [{"range": [1, 18446744073709551614]}, "drop"]]}}}]}},
            {"rule": {"family": "ip", "table": "t", "chain": "a", "handle": 4, "expr": [{"dnat": {"addr": "10.244.1.12", "port": 8080}}]}}
        ]}"#;
        let rules = NodeRules {
            nft: vec![nft::parse("t", json).unwrap()],
            ..Default::default()
        };
        let flow = Flow::parse("192.0.2.240:80", None).unwrap();
        let branches = rules.walk(&flow, &NodeContext::default());
        let p: f64 = branches.iter().map(|b| b.probability).sum();
        assert!((p - 1.0).abs() < 1e-6, "{branches:?}");
        assert!(
            branches
                .iter()
                .any(|b| b.fate == crate::walk::Fate::Dropped && b.probability > 0.99)
        );
    }

    /// Review: chained `numgen` maps forked every element without asking the fork budget and
    /// each branch brought more steps, so N levels made 2^N branches (N = 16: 15 s, 1.2 GB).
    #[test]
    fn regression_numgen_chain_is_bounded() {
        let mut items = vec![
            r#"{"table": {"family": "ip", "name": "t", "handle": 1}}"#.to_string(),
            r#"{"chain": {"family": "ip", "table": "t", "name": "pre", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}"#.to_string(),
            r#"{"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 2, "expr": [{"jump": {"target": "c0"}}]}}"#.to_string(),
        ];
        for l in 0..24 {
            items.push(format!(
                r#"{{"chain": {{"family": "ip", "table": "t", "name": "c{l}", "handle": {}}}}}"#,
                10 + l
            ));
            items.push(format!(
                r#"{{"rule": {{"family": "ip", "table": "t", "chain": "c{l}", "handle": {}, "expr": [{{"vmap": {{"key": {{"numgen": {{"mode": "random", "mod": 2, "offset": 0}}}}, "data": {{"set": [[0, {{"jump": {{"target": "c{n}"}}}}], [1, {{"jump": {{"target": "c{n}"}}}}]]}}}}}}]}}}}"#,
                100 + l,
                n = l + 1
            ));
        }
        items.push(
            r#"{"chain": {"family": "ip", "table": "t", "name": "c24", "handle": 99}}"#.to_string(),
        );
        let json = format!(r#"{{"nftables": [{}]}}"#, items.join(","));
        let rules = NodeRules {
            nft: vec![nft::parse("t", &json).unwrap()],
            ..Default::default()
        };
        let flow = Flow::parse("192.0.2.240:80", None).unwrap();
        let t0 = std::time::Instant::now();
        let branches = rules.walk(&flow, &NodeContext::default());
        assert!(branches.len() <= 1 << 17, "{}", branches.len());
        let p: f64 = branches.iter().map(|b| b.probability).sum();
        assert!((p - 1.0).abs() < 1e-6, "probabilities add up: {p}");
        assert!(branches.iter().any(|b| {
            b.assumptions
                .iter()
                .any(|a| a.contains("too many branches"))
        }),);
        // Not a timing test: a bound far above what the budget allows, far below 2^24 walks.
        assert!(t0.elapsed() < std::time::Duration::from_secs(60));
    }
}
