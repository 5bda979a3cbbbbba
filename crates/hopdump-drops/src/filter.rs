//! A tcpdump-style filter subset compiled into the condition table the BPF program checks.
//!
//! libpcap's classic BPF cannot run on a tracepoint (there is no packet context there), so the
//! expression is parsed here, negations are pushed down to the primitives, and the result is
//! expanded into an OR of ANDs (disjunctive normal form) that fits `struct hd_config`:
//! at most [`MAX_CLAUSES`] alternatives of at most [`MAX_TERMS`] conditions each.
//!
//! Supported, with tcpdump's meaning: `host`, `net` (CIDR or a bare address), `port`,
//! `portrange`, each optionally after `src`, `dst`, `src or dst`, `src and dst` and, for ports,
//! after `tcp`/`udp`/`sctp`; the protocols `ip`, `ip6`, `tcp`, `udp`, `sctp`, `icmp`, `icmp6`,
//! `proto N` (`ip proto N`, `ip6 proto N`); `and`/`&&`, `or`/`||`, `not`/`!`, parentheses, and
//! tcpdump's implicit qualifiers (`host 10.0.0.1 or 10.0.0.2`, `port 80 or 443`).
//! `and` binds tighter than `or`, as in pcap-filter(7).

use std::net::IpAddr;

use crate::error::{DropsError, Result};

/// Alternatives (OR) the kernel table holds.
pub const MAX_CLAUSES: usize = 8;
/// Conditions (AND) per alternative.
pub const MAX_TERMS: usize = 8;

/// Which address or port of the packet a term looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Source or destination (tcpdump's default).
    Any,
    /// Source only.
    Src,
    /// Destination only.
    Dst,
    /// Both (`src and dst`).
    Both,
}

/// One primitive condition, as the kernel evaluates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// IP version 4 or 6.
    Family(u8),
    /// L4 protocol number, optionally restricted to one IP version.
    Proto { proto: u8, family: Option<u8> },
    /// Address prefix (`host` = full length).
    Net { dir: Dir, addr: IpAddr, prefix: u8 },
    /// Port range of TCP/UDP/SCTP, optionally of one protocol only.
    Port {
        dir: Dir,
        lo: u16,
        hi: u16,
        proto: Option<u8>,
    },
}

/// A condition or its negation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub cond: Cond,
    pub negate: bool,
}

/// The compiled filter: true when any clause has all its terms true. No clauses = match all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub clauses: Vec<Vec<Term>>,
}

/// The fields of a packet a [`Table`] looks at (what the BPF program parses from the skb).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    pub family: Option<u8>,
    pub proto: Option<u8>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub ports: Option<(u16, u16)>,
}

impl Table {
    /// True when the table matches everything (empty expression).
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// User-space evaluation, identical to the kernel's (tests, and the tracefs fallback).
    pub fn matches(&self, f: &Fields) -> bool {
        self.is_empty()
            || self
                .clauses
                .iter()
                .any(|c| c.iter().all(|t| eval(&t.cond, f) != t.negate))
    }
}

fn dir_combine(dir: Dir, s: bool, d: bool) -> bool {
    match dir {
        Dir::Any => s || d,
        Dir::Src => s,
        Dir::Dst => d,
        Dir::Both => s && d,
    }
}

fn in_net(a: Option<IpAddr>, net: IpAddr, prefix: u8) -> bool {
    let Some(a) = a else { return false };
    let (a, n, bits) = match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (a.to_bits() as u128, n.to_bits() as u128, 32u32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.to_bits(), n.to_bits(), 128),
        _ => return false,
    };
    let p = u32::from(prefix).min(bits);
    if p == 0 {
        return true;
    }
    let shift = bits - p;
    (a >> shift) == (n >> shift)
}

fn eval(c: &Cond, f: &Fields) -> bool {
    match c {
        Cond::Family(v) => f.family == Some(*v),
        Cond::Proto { proto, family } => {
            f.family.is_some()
                && f.proto == Some(*proto)
                && family.is_none_or(|v| f.family == Some(v))
        }
        Cond::Net { dir, addr, prefix } => {
            f.family == Some(family_of(addr))
                && dir_combine(
                    *dir,
                    in_net(f.src, *addr, *prefix),
                    in_net(f.dst, *addr, *prefix),
                )
        }
        Cond::Port { dir, lo, hi, proto } => {
            let Some((s, d)) = f.ports else { return false };
            if proto.is_some_and(|p| f.proto != Some(p)) {
                return false;
            }
            let r = |p: u16| p >= *lo && p <= *hi;
            dir_combine(*dir, r(s), r(d))
        }
    }
}

fn family_of(a: &IpAddr) -> u8 {
    if a.is_ipv4() { 4 } else { 6 }
}

#[derive(Clone, Debug)]
enum Expr {
    Leaf(Cond),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// What a bare value (`or 10.0.0.2`, `or 443`) inherits from the primitive before it.
#[derive(Clone, Copy, Debug)]
enum Qual {
    Host(Dir),
    Net(Dir),
    Port(Dir, Option<u8>),
    PortRange(Dir, Option<u8>),
}

struct Parser<'a> {
    toks: Vec<&'a str>,
    pos: usize,
    last: Option<Qual>,
    expr: &'a str,
}

fn tokenize(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        let special = matches!(c, '(' | ')');
        if c.is_whitespace() || special {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
            if special {
                out.push(&s[i..i + 1]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

fn proto_number(name: &str) -> Option<(u8, Option<u8>)> {
    Some(match name {
        "tcp" => (6, None),
        "udp" => (17, None),
        "sctp" => (132, None),
        "icmp" => (1, Some(4)),
        "icmp6" => (58, Some(6)),
        _ => return None,
    })
}

impl<'a> Parser<'a> {
    fn err(&self, why: impl Into<String>) -> DropsError {
        DropsError::Filter {
            expr: self.expr.to_string(),
            why: why.into(),
        }
    }
    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<&'a str> {
        let t = self.peek();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    fn expect_value(&mut self, what: &str) -> Result<&'a str> {
        match self.next() {
            Some(t) if !matches!(t, "(" | ")") => Ok(t),
            _ => Err(self.err(format!("expected {what}"))),
        }
    }

    fn or(&mut self) -> Result<Expr> {
        let mut e = self.and()?;
        while matches!(self.peek(), Some("or" | "||")) {
            self.pos += 1;
            let r = self.and()?;
            e = Expr::Or(Box::new(e), Box::new(r));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr> {
        let mut e = self.unary()?;
        while matches!(self.peek(), Some("and" | "&&")) {
            self.pos += 1;
            let r = self.unary()?;
            e = Expr::And(Box::new(e), Box::new(r));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr> {
        match self.peek() {
            Some("not" | "!") => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.pos += 1;
                let e = self.or()?;
                if self.next() != Some(")") {
                    return Err(self.err("missing `)`"));
                }
                Ok(e)
            }
            Some(_) => self.primitive(),
            None => Err(self.err("unexpected end of expression")),
        }
    }

    fn dir(&mut self) -> Dir {
        let d = match self.peek() {
            Some("src") => Dir::Src,
            Some("dst") => Dir::Dst,
            _ => return Dir::Any,
        };
        self.pos += 1;
        // `src or dst` / `src and dst` (only when followed by the other direction).
        if let (Some(op @ ("or" | "and")), Some(other @ ("src" | "dst"))) =
            (self.peek(), self.toks.get(self.pos + 1).copied())
            && other != if d == Dir::Src { "src" } else { "dst" }
        {
            self.pos += 2;
            return if op == "or" { Dir::Any } else { Dir::Both };
        }
        d
    }

    fn primitive(&mut self) -> Result<Expr> {
        let tok = self.peek().unwrap_or_default();
        // protocol keywords, possibly qualifying a port or proto
        if let Some((proto, fam)) = proto_number(tok) {
            self.pos += 1;
            let save = self.pos;
            let dir = self.dir();
            match self.peek() {
                Some("port") | Some("portrange") => return self.port(dir, Some(proto)),
                _ => self.pos = save,
            }
            return Ok(Expr::Leaf(Cond::Proto { proto, family: fam }));
        }
        if matches!(tok, "ip" | "ip6") {
            self.pos += 1;
            let fam = if tok == "ip" { 4 } else { 6 };
            if self.peek() == Some("proto") {
                self.pos += 1;
                let p = self.proto_value()?;
                return Ok(Expr::Leaf(Cond::Proto {
                    proto: p,
                    family: Some(fam),
                }));
            }
            return Ok(Expr::Leaf(Cond::Family(fam)));
        }
        if tok == "proto" {
            self.pos += 1;
            let p = self.proto_value()?;
            return Ok(Expr::Leaf(Cond::Proto {
                proto: p,
                family: None,
            }));
        }
        let dir = self.dir();
        match self.peek() {
            Some("host") => {
                self.pos += 1;
                let v = self.expect_value("an address after `host`")?;
                self.host(dir, v)
            }
            Some("net") => {
                self.pos += 1;
                let v = self.expect_value("a network after `net`")?;
                self.net(dir, v)
            }
            Some("port" | "portrange") => self.port(dir, None),
            Some(v) if !matches!(v, "(" | ")" | "and" | "or" | "&&" | "||" | "not" | "!") => {
                self.pos += 1;
                // A bare value: inherits the previous qualifiers, or is a host (`src 10.0.0.1`).
                let q = match (self.last, dir) {
                    (Some(q), Dir::Any) => q,
                    (Some(Qual::Net(_)), d) => Qual::Net(d),
                    (Some(Qual::Port(_, p)), d) => Qual::Port(d, p),
                    (Some(Qual::PortRange(_, p)), d) => Qual::PortRange(d, p),
                    (_, d) => Qual::Host(d),
                };
                match q {
                    Qual::Host(d) => self.host(d, v),
                    Qual::Net(d) => self.net(d, v),
                    Qual::Port(d, p) => self.port_value(d, p, v, false),
                    Qual::PortRange(d, p) => self.port_value(d, p, v, true),
                }
            }
            _ => Err(self.err(format!(
                "unsupported or misplaced `{}` (supported: host, net, port, portrange, src/dst, \
                 ip, ip6, tcp, udp, sctp, icmp, icmp6, proto, and/or/not, parentheses)",
                self.peek().unwrap_or("end of expression")
            ))),
        }
    }

    fn proto_value(&mut self) -> Result<u8> {
        let v = self.expect_value("a protocol after `proto`")?;
        let v = v.trim_start_matches('\\');
        if let Some((p, _)) = proto_number(v) {
            return Ok(p);
        }
        v.parse()
            .map_err(|_| self.err(format!("`{v}` is not a protocol name or number")))
    }

    fn host(&mut self, dir: Dir, v: &str) -> Result<Expr> {
        let addr: IpAddr = v.parse().map_err(|_| {
            self.err(format!(
                "`{v}` is not an IP address (hopdump resolves no host names)"
            ))
        })?;
        self.last = Some(Qual::Host(dir));
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Ok(Expr::Leaf(Cond::Net { dir, addr, prefix }))
    }

    fn net(&mut self, dir: Dir, v: &str) -> Result<Expr> {
        let (a, p) = match v.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| self.err(format!("`{v}` is not a network (use CIDR: 10.0.0.0/8)")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| self.err(format!("bad prefix length in `{v}`")))?,
            None => max,
        };
        if !in_net(Some(addr), mask_addr(addr, prefix), max) {
            return Err(self.err(format!("`{v}`: non-network bits set in address")));
        }
        self.last = Some(Qual::Net(dir));
        Ok(Expr::Leaf(Cond::Net { dir, addr, prefix }))
    }

    fn port(&mut self, dir: Dir, proto: Option<u8>) -> Result<Expr> {
        let range = self.next() == Some("portrange");
        let v = self.expect_value("a port")?;
        self.port_value(dir, proto, v, range)
    }

    fn port_value(&mut self, dir: Dir, proto: Option<u8>, v: &str, range: bool) -> Result<Expr> {
        let num = |s: &str| {
            s.parse::<u16>()
                .map_err(|_| self.err(format!("`{s}` is not a port number")))
        };
        let (lo, hi) = if range {
            let (a, b) = v
                .split_once('-')
                .ok_or_else(|| self.err(format!("portrange `{v}`: use LOW-HIGH")))?;
            let (a, b) = (num(a)?, num(b)?);
            (a.min(b), a.max(b))
        } else {
            let p = num(v)?;
            (p, p)
        };
        self.last = Some(if range {
            Qual::PortRange(dir, proto)
        } else {
            Qual::Port(dir, proto)
        });
        Ok(Expr::Leaf(Cond::Port { dir, lo, hi, proto }))
    }
}

fn mask_addr(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((v.to_bits() & m).into())
        }
        IpAddr::V6(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6((v.to_bits() & m).into())
        }
    }
}

/// Disjunctive normal form with negations on the leaves; stops growing past the table size.
fn dnf(e: &Expr, negate: bool, limit: usize) -> Vec<Vec<Term>> {
    match (e, negate) {
        (Expr::Leaf(c), n) => vec![vec![Term {
            cond: c.clone(),
            negate: n,
        }]],
        (Expr::Not(inner), n) => dnf(inner, !n, limit),
        (Expr::Or(a, b), false) | (Expr::And(a, b), true) => {
            let mut v = dnf(a, negate, limit);
            v.extend(dnf(b, negate, limit));
            v
        }
        (Expr::And(a, b), false) | (Expr::Or(a, b), true) => {
            let (l, r) = (dnf(a, negate, limit), dnf(b, negate, limit));
            let mut out = Vec::with_capacity(l.len() * r.len());
            'outer: for x in &l {
                for y in &r {
                    if out.len() > limit {
                        break 'outer;
                    }
                    let mut c = x.clone();
                    c.extend(y.iter().cloned());
                    out.push(c);
                }
            }
            out
        }
    }
}

/// Compiles a tcpdump-style expression (arguments are joined with spaces, as tcpdump does).
pub fn compile(expr: &str) -> Result<Table> {
    let toks = tokenize(expr);
    if toks.is_empty() {
        return Ok(Table::default());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        last: None,
        expr,
    };
    let e = p.or()?;
    if let Some(t) = p.peek() {
        return Err(p.err(format!("unexpected `{t}`")));
    }
    let mut clauses = dnf(&e, false, MAX_CLAUSES);
    for c in &mut clauses {
        c.dedup();
    }
    let terms = clauses.iter().map(Vec::len).max().unwrap_or(0);
    if clauses.len() > MAX_CLAUSES || terms > MAX_TERMS {
        return Err(DropsError::FilterTooComplex {
            expr: expr.to_string(),
            clauses: clauses.len(),
            terms,
            max_clauses: MAX_CLAUSES,
            max_terms: MAX_TERMS,
        });
    }
    Ok(Table { clauses })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn tcp4(src: &str, sp: u16, dst: &str, dp: u16) -> Fields {
        Fields {
            family: Some(4),
            proto: Some(6),
            src: Some(v4(src)),
            dst: Some(v4(dst)),
            ports: Some((sp, dp)),
        }
    }

    #[test]
    fn empty_matches_everything() {
        let t = compile("  ").unwrap();
        assert!(t.is_empty());
        assert!(t.matches(&Fields::default()));
    }

    #[test]
    fn host_and_port() {
        let t = compile("host 198.51.100.10 and tcp port 80").unwrap();
        assert_eq!(t.clauses.len(), 1);
        assert_eq!(t.clauses[0].len(), 2);
        assert!(t.matches(&tcp4("203.0.113.5", 40000, "198.51.100.10", 80)));
        assert!(t.matches(&tcp4("198.51.100.10", 80, "203.0.113.5", 40000)));
        assert!(!t.matches(&tcp4("203.0.113.5", 40000, "198.51.100.11", 80)));
        let mut udp = tcp4("203.0.113.5", 40000, "198.51.100.10", 80);
        udp.proto = Some(17);
        assert!(!t.matches(&udp));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // a or b and c == a or (b and c)
        let t = compile("port 1 or port 2 and port 3").unwrap();
        assert_eq!(t.clauses.len(), 2);
        assert!(t.matches(&tcp4("10.0.0.1", 1, "10.0.0.2", 9)));
        assert!(!t.matches(&tcp4("10.0.0.1", 2, "10.0.0.2", 9)));
        assert!(t.matches(&tcp4("10.0.0.1", 2, "10.0.0.2", 3)));
    }

    #[test]
    fn parentheses_expand_to_dnf() {
        let t =
            compile("(src host 10.0.0.1 or src host 10.0.0.2) and (dst port 80 or dst port 443)")
                .unwrap();
        assert_eq!(t.clauses.len(), 4);
        assert!(t.matches(&tcp4("10.0.0.2", 5, "1.1.1.1", 443)));
        assert!(!t.matches(&tcp4("10.0.0.3", 5, "1.1.1.1", 443)));
        assert!(!t.matches(&tcp4("1.1.1.1", 443, "10.0.0.2", 5)));
    }

    #[test]
    fn not_is_pushed_to_leaves() {
        let t = compile("not (host 10.0.0.1 or port 22)").unwrap();
        assert_eq!(t.clauses.len(), 1);
        assert!(t.clauses[0].iter().all(|t| t.negate));
        assert!(t.matches(&tcp4("10.0.0.9", 5, "10.0.0.8", 80)));
        assert!(!t.matches(&tcp4("10.0.0.9", 5, "10.0.0.8", 22)));
        // tcpdump: `not port 22` is true for ICMP (no ports at all)
        let icmp = Fields {
            family: Some(4),
            proto: Some(1),
            src: Some(v4("10.0.0.9")),
            dst: Some(v4("10.0.0.8")),
            ports: None,
        };
        assert!(t.matches(&icmp));
        assert!(compile("! tcp").unwrap().matches(&icmp));
    }

    #[test]
    fn implicit_qualifiers_carry_over() {
        let t = compile("host 10.0.0.1 or 10.0.0.2").unwrap();
        assert_eq!(t.clauses.len(), 2);
        assert!(t.matches(&tcp4("10.0.0.2", 1, "9.9.9.9", 2)));
        let t = compile("tcp dst port 80 or 443").unwrap();
        assert!(t.matches(&tcp4("1.1.1.1", 5, "2.2.2.2", 443)));
        assert!(!t.matches(&tcp4("1.1.1.1", 443, "2.2.2.2", 5)));
        assert_eq!(
            compile("src 10.0.0.1").unwrap().clauses[0][0].cond,
            Cond::Net {
                dir: Dir::Src,
                addr: v4("10.0.0.1"),
                prefix: 32
            }
        );
    }

    #[test]
    fn nets_families_and_protocols() {
        let t = compile("net 10.244.0.0/16").unwrap();
        assert!(t.matches(&tcp4("10.244.3.4", 1, "1.1.1.1", 2)));
        assert!(!t.matches(&tcp4("10.245.3.4", 1, "1.1.1.1", 2)));
        assert!(compile("net 10.244.0.1/16").is_err());
        let t = compile("ip6 and udp").unwrap();
        assert!(!t.matches(&tcp4("1.1.1.1", 1, "2.2.2.2", 2)));
        let t6 = Fields {
            family: Some(6),
            proto: Some(17),
            src: Some("2001:db8::1".parse().unwrap()),
            dst: Some("2001:db8::2".parse().unwrap()),
            ports: Some((5, 53)),
        };
        assert!(t.matches(&t6));
        assert!(
            compile("host 2001:db8::2 and udp port 53")
                .unwrap()
                .matches(&t6)
        );
        assert!(!compile("host 10.0.0.1").unwrap().matches(&t6));
        assert!(
            !compile("ip proto 17")
                .unwrap()
                .matches(&tcp4("1.1.1.1", 1, "2.2.2.2", 2))
        );
        assert!(
            compile("proto \\tcp")
                .unwrap()
                .matches(&tcp4("1.1.1.1", 1, "2.2.2.2", 2))
        );
        assert!(
            compile("icmp").unwrap().clauses[0][0].cond
                == Cond::Proto {
                    proto: 1,
                    family: Some(4)
                }
        );
        let t = compile("portrange 8000-8080").unwrap();
        assert!(t.matches(&tcp4("1.1.1.1", 1, "2.2.2.2", 8042)));
        assert!(!t.matches(&tcp4("1.1.1.1", 1, "2.2.2.2", 8081)));
        let t = compile("src and dst net 10.0.0.0/8").unwrap();
        assert!(t.matches(&tcp4("10.1.1.1", 1, "10.2.2.2", 2)));
        assert!(!t.matches(&tcp4("10.1.1.1", 1, "11.2.2.2", 2)));
    }

    #[test]
    fn errors_name_the_problem() {
        for bad in [
            "host",
            "host example.com",
            "port http",
            "(host 10.0.0.1",
            "ether host 00:11:22:33:44:55",
            "host 10.0.0.1 extra",
            "net 10.0.0.0/33",
        ] {
            let e = compile(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn too_complex_for_the_table() {
        let e = compile(
            "(port 1 or port 2 or port 3) and (port 4 or port 5 or port 6) and (port 7 or port 8)",
        )
        .unwrap_err();
        assert!(matches!(e, DropsError::FilterTooComplex { .. }), "{e}");
        let nine_terms = (1..=9)
            .map(|p| format!("not port {p}"))
            .collect::<Vec<_>>()
            .join(" and ");
        assert!(compile(&nine_terms).is_err());
    }
}
