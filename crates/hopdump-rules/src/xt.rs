//! Evaluating iptables matches against the packet being walked: three-valued (yes, no,
//! cannot tell) plus `statistic` probabilities, so nothing is guessed.

use std::net::IpAddr;

use crate::flow::{NodeContext, Proto, parse_net, parse_net_mask};
use crate::iptables::{XtMatch, XtOpt};
use crate::ipvs::{Dim, IpSets};
use crate::walk::Pkt;

/// Result of evaluating one match (or a whole rule's matches).
#[derive(Clone, Debug, PartialEq)]
pub enum Tri {
    Yes,
    No,
    /// Matches with this probability (statistic --mode random).
    Random(f64),
    /// Cannot be evaluated from what is known; the reason says what is missing.
    Unknown(String),
}

fn neg(t: Tri, negated: bool) -> Tri {
    if !negated {
        return t;
    }
    match t {
        Tri::Yes => Tri::No,
        Tri::No => Tri::Yes,
        Tri::Random(p) => Tri::Random(1.0 - p),
        u => u,
    }
}

fn yes(b: bool) -> Tri {
    if b { Tri::Yes } else { Tri::No }
}

fn first(o: &XtOpt) -> &str {
    o.values.first().map(String::as_str).unwrap_or("")
}

fn net_match(spec: &str, ip: IpAddr) -> Tri {
    match parse_net(spec).or_else(|| parse_net_mask(spec)) {
        Some(n) => yes(n.contains(&ip)),
        None => Tri::Unknown(format!("address {spec:?} (host name?)")),
    }
}

/// `eth0`, `eth+` (prefix), against a possibly unknown interface.
pub fn iface_match(pattern: &str, iface: Option<&str>, which: &str) -> Tri {
    match iface {
        None => Tri::Unknown(format!("{which} interface not known (pass --in)")),
        Some(i) => match pattern
            .strip_suffix('+')
            .or_else(|| pattern.strip_suffix('*'))
        {
            Some(prefix) => yes(i.starts_with(prefix)),
            None => yes(i == pattern),
        },
    }
}

fn port_in(spec: &str, port: u16) -> bool {
    spec.split(',').any(|p| match p.split_once(':') {
        Some((a, b)) => {
            let a = if a.is_empty() {
                0
            } else {
                a.parse().unwrap_or(u16::MAX)
            };
            let b = if b.is_empty() {
                u16::MAX
            } else {
                b.parse().unwrap_or(0)
            };
            a <= port && port <= b
        }
        None => p.parse::<u16>().ok() == Some(port) || well_known(p) == Some(port),
    })
}

fn well_known(name: &str) -> Option<u16> {
    Some(match name {
        "http" | "www" => 80,
        "https" => 443,
        "domain" => 53,
        "ssh" => 22,
        _ => return None,
    })
}

/// `v` or `v/m` as iptables prints marks.
pub fn mark_match(spec: &str, mark: u32) -> Tri {
    let (v, m) = spec.split_once('/').unwrap_or((spec, "0xffffffff"));
    match (parse_u32(v), parse_u32(m)) {
        (Some(v), Some(m)) => yes(mark & m == v),
        _ => Tri::Unknown(format!("mark {spec:?}")),
    }
}

pub fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn ct_state(spec: &str, pkt: &Pkt) -> Tri {
    // The walked packet is the first of a new connection.
    yes(spec.split(',').any(|s| match s {
        "NEW" => true,
        "DNAT" => pkt.dnat,
        "SNAT" => pkt.snat,
        "UNTRACKED" | "INVALID" | "ESTABLISHED" | "RELATED" => false,
        _ => false,
    }))
}

fn addrtype(kind: &str, ip: IpAddr, ctx: &NodeContext) -> Tri {
    let local = ctx.is_local(ip);
    let multicast = ip.is_multicast();
    let broadcast = matches!(ip, IpAddr::V4(v) if v.is_broadcast());
    match kind {
        "LOCAL" => match local {
            Some(l) => yes(l),
            None => Tri::Unknown(
                "addrtype LOCAL: the node's addresses are not known (read live or pass --local-ip)"
                    .into(),
            ),
        },
        "UNICAST" => match local {
            Some(l) => yes(!l && !multicast && !broadcast),
            None => Tri::Unknown("addrtype UNICAST: the node's addresses are not known".into()),
        },
        "MULTICAST" => yes(multicast),
        "BROADCAST" => yes(broadcast),
        "BLACKHOLE" | "UNREACHABLE" | "PROHIBIT" | "THROW" | "NAT" | "XRESOLVE" | "ANYCAST" => {
            Tri::Unknown(format!("addrtype {kind} needs the routing table"))
        }
        _ => Tri::Unknown(format!("addrtype {kind}")),
    }
}

fn set_match(opt: &XtOpt, pkt: &Pkt, sets: &IpSets) -> Tri {
    let name = first(opt);
    let flags = opt.values.get(1).map(String::as_str).unwrap_or("src");
    let Some(set) = sets.get(name) else {
        return Tri::Unknown(format!(
            "ipset {name} not available (pass --ipset FILE or read live)"
        ));
    };
    let dims: Vec<Dim> = flags
        .split(',')
        .enumerate()
        .map(|(i, f)| {
            let src = f == "src";
            if set.dim_is_port(i) {
                Dim::Port(pkt.proto, if src { pkt.sport } else { pkt.dport })
            } else {
                Dim::Ip(if src { pkt.src } else { pkt.dst })
            }
        })
        .collect();
    yes(set.contains(&dims))
}

/// Evaluate one match against the packet.
pub fn eval_match(m: &XtMatch, pkt: &Pkt, ctx: &NodeContext, sets: &IpSets) -> Tri {
    let mut acc = Tri::Yes;
    let module = m.module.as_str();
    // statistic's options combine into one probability.
    if module == "statistic" {
        let get = |n: &str| m.opts.iter().find(|o| o.name == n);
        let negated = m.opts.iter().any(|o| o.negated);
        let t = match get("mode").map(first) {
            Some("random") => match get("probability")
                .map(first)
                .and_then(|p| p.parse::<f64>().ok())
            {
                Some(p) => Tri::Random(p.clamp(0.0, 1.0)),
                None => Tri::Unknown("statistic without probability".into()),
            },
            Some("nth") => match get("every").map(first).and_then(|e| e.parse::<f64>().ok()) {
                Some(e) if e >= 1.0 => Tri::Random(1.0 / e),
                _ => Tri::Unknown("statistic nth".into()),
            },
            other => Tri::Unknown(format!("statistic mode {other:?}")),
        };
        return neg(t, negated);
    }
    for o in &m.opts {
        let t = match (module, o.name.as_str()) {
            ("", "s") => net_match(first(o), pkt.src),
            ("", "d") => net_match(first(o), pkt.dst),
            ("", "p") => match first(o) {
                "all" | "0" => Tri::Yes,
                p => match Proto::parse(p) {
                    Some(p) => yes(p == pkt.proto),
                    None => Tri::No, // icmp, esp, gre…: the walked flow is TCP, UDP or SCTP
                },
            },
            ("", "i") => iface_match(first(o), pkt.iif.as_deref(), "input"),
            ("", "o") => iface_match(first(o), pkt.oif.as_deref(), "output"),
            ("", "f") => Tri::No,
            ("tcp" | "udp" | "sctp", "dport" | "destination-port") => {
                yes(port_in(first(o), pkt.dport))
            }
            ("tcp" | "udp" | "sctp", "sport" | "source-port") => yes(port_in(first(o), pkt.sport)),
            ("tcp", "syn") => yes(pkt.proto == Proto::Tcp),
            ("tcp", "tcp-flags") => {
                // --tcp-flags MASK COMP on a SYN.
                let comp = o.values.get(1).map(String::as_str).unwrap_or("");
                yes(comp == "SYN" || (comp.split(',').all(|f| f == "SYN") && !comp.is_empty()))
            }
            ("multiport", "dports" | "destination-ports") => yes(port_in(first(o), pkt.dport)),
            ("multiport", "sports" | "source-ports") => yes(port_in(first(o), pkt.sport)),
            ("multiport", "ports") => {
                yes(port_in(first(o), pkt.dport) || port_in(first(o), pkt.sport))
            }
            ("comment", _) | ("nfacct", _) | ("limit", _) | ("hashlimit", _) => Tri::Yes,
            ("conntrack", "ctstate") | ("state", "state") => ct_state(first(o), pkt),
            ("conntrack", "ctstatus") => yes(first(o).split(',').any(|s| s == "NONE")),
            ("conntrack", "ctdir") => yes(first(o) == "ORIGINAL"),
            ("conntrack", "ctorigdst") => net_match(first(o), pkt.orig_dst),
            ("conntrack", "ctorigdstport") => yes(port_in(first(o), pkt.orig_dport)),
            ("conntrack", "ctproto") => yes(Proto::parse(first(o)) == Some(pkt.proto)),
            ("mark", "mark") => mark_match(first(o), pkt.mark),
            ("connmark", "mark") => mark_match(first(o), pkt.ctmark),
            ("addrtype", "src-type") => addrtype(first(o), pkt.src, ctx),
            ("addrtype", "dst-type") => addrtype(first(o), pkt.dst, ctx),
            ("addrtype", "limit-iface-in" | "limit-iface-out") => Tri::Yes,
            ("set", "match-set") => set_match(o, pkt, sets),
            ("set", _) => Tri::Yes,
            ("iprange", "src-range") => range_match(first(o), pkt.src),
            ("iprange", "dst-range") => range_match(first(o), pkt.dst),
            ("pkttype", "pkt-type") => yes(first(o) == "unicast"),
            ("owner", _) | ("cgroup", _) | ("socket", _) => Tri::No, // the packet comes from outside
            ("policy", "pol") => yes(first(o) == "none"),
            ("policy", _) => Tri::Yes,
            ("ipvs", "ipvs") => yes(pkt.ipvs),
            ("icmp" | "icmp6" | "icmpv6", _) => Tri::No,
            ("physdev", n) => Tri::Unknown(format!("physdev --{n}: bridge ports are not known")),
            (m, n) => Tri::Unknown(format!("-m {m} --{n} is not evaluated")),
        };
        acc = and(acc, neg(t, o.negated));
        if acc == Tri::No {
            return Tri::No;
        }
    }
    if m.opts.is_empty()
        && !matches!(
            module,
            "comment" | "nfacct" | "conntrack" | "state" | "tcp" | "udp" | "sctp" | "set"
        )
    {
        return Tri::Unknown(format!("-m {module} is not evaluated"));
    }
    acc
}

fn range_match(spec: &str, ip: IpAddr) -> Tri {
    match spec
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<IpAddr>().ok()?, b.parse::<IpAddr>().ok()?)))
    {
        Some((a, b)) => yes(a <= ip && ip <= b),
        None => Tri::Unknown(format!("range {spec:?}")),
    }
}

/// Conjunction of two three-valued results.
pub fn and(a: Tri, b: Tri) -> Tri {
    match (a, b) {
        (Tri::No, _) | (_, Tri::No) => Tri::No,
        (Tri::Unknown(r), _) | (_, Tri::Unknown(r)) => Tri::Unknown(r),
        (Tri::Random(p), Tri::Random(q)) => Tri::Random(p * q),
        (Tri::Random(p), Tri::Yes) | (Tri::Yes, Tri::Random(p)) => Tri::Random(p),
        (Tri::Yes, Tri::Yes) => Tri::Yes,
    }
}
