//! IPVS virtual servers as `ipvsadm-save -n` or `ipvsadm -Ln` print them, and ipset contents as
//! `ipset save` / `ipset list` print them (kube-proxy's IPVS mode keys its iptables rules on them).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::Serialize;

use crate::error::{Result, RulesError};
use crate::flow::{Proto, parse_net};

#[derive(Clone, Debug, Serialize)]
pub struct RealServer {
    pub addr: SocketAddr,
    pub weight: u32,
    /// Masq (NAT), Route (DR), Tunnel.
    pub forward: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VirtualServer {
    pub proto: Proto,
    pub addr: SocketAddr,
    pub scheduler: String,
    pub persistent: Option<u32>,
    pub reals: Vec<RealServer>,
    pub line: usize,
}

/// All virtual servers of a node.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ipvs {
    pub source_name: String,
    pub services: Vec<VirtualServer>,
}

impl Ipvs {
    pub fn find(&self, proto: Proto, dst: IpAddr, dport: u16) -> Option<&VirtualServer> {
        self.services
            .iter()
            .find(|v| v.proto == proto && v.addr.ip() == dst && v.addr.port() == dport)
    }
}

fn sock(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}

/// Parse `ipvsadm-save -n` or `ipvsadm -Ln` output (detected per line).
pub fn parse_ipvs(source_name: &str, text: &str) -> Result<Ipvs> {
    let mut ipvs = Ipvs {
        source_name: source_name.into(),
        services: Vec::new(),
    };
    let err = |line, detail: String| RulesError::Parse {
        source_name: source_name.into(),
        line,
        detail,
    };
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('$') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "-A" | "-a" => {
                let proto = match w.get(1) {
                    Some(&"-t") => Proto::Tcp,
                    Some(&"-u") => Proto::Udp,
                    Some(&"--sctp-service") => Proto::Sctp,
                    Some(&"-f") => continue, // fwmark services: not addressable by flow
                    _ => return Err(err(line_no, "expected -t or -u".into())),
                };
                let addr = w
                    .get(2)
                    .and_then(|a| sock(a))
                    .ok_or_else(|| err(line_no, "bad virtual address".into()))?;
                let opt = |name: &str| {
                    w.iter()
                        .position(|x| *x == name)
                        .and_then(|i| w.get(i + 1))
                        .copied()
                };
                if w[0] == "-A" {
                    ipvs.services.push(VirtualServer {
                        proto,
                        addr,
                        scheduler: opt("-s").unwrap_or("wlc").to_string(),
                        persistent: opt("-p").and_then(|p| p.parse().ok()),
                        reals: Vec::new(),
                        line: line_no,
                    });
                } else {
                    let real = opt("-r")
                        .and_then(sock)
                        .ok_or_else(|| err(line_no, "bad real server".into()))?;
                    let forward = if w.contains(&"-m") {
                        "Masq"
                    } else if w.contains(&"-i") {
                        "Tunnel"
                    } else {
                        "Route"
                    };
                    let weight = opt("-w").and_then(|x| x.parse().ok()).unwrap_or(1);
                    let vs = ipvs
                        .services
                        .iter_mut()
                        .rev()
                        .find(|v| v.addr == addr && v.proto == proto)
                        .ok_or_else(|| {
                            err(line_no, "real server before its virtual server".into())
                        })?;
                    vs.reals.push(RealServer {
                        addr: real,
                        weight,
                        forward: forward.into(),
                    });
                }
            }
            "TCP" | "UDP" | "SCTP" => {
                let proto = Proto::parse(w[0]).unwrap_or(Proto::Tcp);
                let Some(addr) = w.get(1).and_then(|a| sock(a)) else {
                    // `TCP  ...` lines of the connection table (-Lnc) are not services.
                    continue;
                };
                let persistent = w
                    .iter()
                    .position(|x| *x == "persistent")
                    .and_then(|i| w.get(i + 1))
                    .and_then(|p| p.parse().ok());
                ipvs.services.push(VirtualServer {
                    proto,
                    addr,
                    scheduler: w.get(2).unwrap_or(&"wlc").to_string(),
                    persistent,
                    reals: Vec::new(),
                    line: line_no,
                });
            }
            "->" => {
                let Some(addr) = w.get(1).and_then(|a| sock(a)) else {
                    continue;
                };
                let Some(vs) = ipvs.services.last_mut() else {
                    continue;
                };
                vs.reals.push(RealServer {
                    addr,
                    forward: w.get(2).unwrap_or(&"Masq").to_string(),
                    weight: w.get(3).and_then(|x| x.parse().ok()).unwrap_or(1),
                });
            }
            _ => {} // headers of -Ln output
        }
    }
    Ok(ipvs)
}

/// One ipset member, split into its dimensions (`ip`, `proto:port`, `net`).
#[derive(Clone, Debug, Serialize)]
pub struct SetMember {
    pub dims: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IpSet {
    pub name: String,
    pub kind: String,
    pub members: Vec<SetMember>,
}

/// Every ipset of a node.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IpSets {
    pub sets: Vec<IpSet>,
}

impl IpSets {
    pub fn get(&self, name: &str) -> Option<&IpSet> {
        self.sets.iter().find(|s| s.name == name)
    }
}

fn dim_matches(dim: &str, value: &Dim) -> bool {
    match value {
        Dim::Ip(ip) => parse_net(dim).is_some_and(|n: IpNet| n.contains(ip)),
        Dim::Port(proto, port) => {
            let (p, port_s) = dim.split_once(':').unwrap_or(("tcp", dim));
            if Proto::parse(p) != Some(*proto) {
                return false;
            }
            match port_s.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().is_ok_and(|a| a <= *port)
                        && b.parse::<u16>().is_ok_and(|b| *port <= b)
                }
                None => port_s.parse::<u16>() == Ok(*port),
            }
        }
    }
}

/// A value looked up in one dimension of a set.
pub enum Dim {
    Ip(IpAddr),
    Port(Proto, u16),
}

impl IpSet {
    /// Does any member match these per-dimension values?
    pub fn contains(&self, values: &[Dim]) -> bool {
        self.members.iter().any(|m| {
            m.dims.len() >= values.len()
                && values.iter().zip(&m.dims).all(|(v, d)| dim_matches(d, v))
        })
    }

    /// Does the set's type put a port in dimension `i`?
    pub fn dim_is_port(&self, i: usize) -> bool {
        self.kind
            .split(':')
            .nth(1)
            .and_then(|d| d.split(',').nth(i))
            .is_some_and(|d| d == "port")
    }
}

/// Parse `ipset save` (create/add lines) or `ipset list` (Name:/Type:/Members:) output.
pub fn parse_ipsets(text: &str) -> IpSets {
    let mut sets = IpSets::default();
    let mut in_members = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('$') {
            in_members = false;
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "create" if w.len() >= 3 => {
                sets.sets.push(IpSet {
                    name: w[1].into(),
                    kind: w[2].into(),
                    members: Vec::new(),
                });
            }
            "add" if w.len() >= 3 => {
                let member = SetMember {
                    dims: w[2].split(',').map(str::to_string).collect(),
                };
                match sets.sets.iter_mut().find(|s| s.name == w[1]) {
                    Some(s) => s.members.push(member),
                    None => sets.sets.push(IpSet {
                        name: w[1].into(),
                        kind: String::new(),
                        members: vec![member],
                    }),
                }
            }
            "Name:" if w.len() >= 2 => {
                in_members = false;
                sets.sets.push(IpSet {
                    name: w[1].into(),
                    kind: String::new(),
                    members: Vec::new(),
                });
            }
            "Type:" if w.len() >= 2 => {
                if let Some(s) = sets.sets.last_mut() {
                    s.kind = w[1].into();
                }
            }
            "Members:" => in_members = true,
            _ if in_members => {
                if let Some(s) = sets.sets.last_mut() {
                    s.members.push(SetMember {
                        dims: w[0].split(',').map(str::to_string).collect(),
                    });
                }
            }
            _ => {}
        }
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_list_formats_agree() {
        let save = "-A -t 192.168.1.240:80 -s rr\n-a -t 192.168.1.240:80 -r 10.244.1.12:8080 -m -w 1\n-a -t 192.168.1.240:80 -r 10.244.2.7:8080 -m -w 1\n-A -t 192.168.1.242:80 -s rr\n";
        let list = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nTCP  192.168.1.240:80 rr\n  -> 10.244.1.12:8080             Masq    1      3          11\n  -> 10.244.2.7:8080              Masq    1      2          9\nTCP  192.168.1.242:80 rr\n";
        for text in [save, list] {
            let v = parse_ipvs("x", text).unwrap();
            assert_eq!(v.services.len(), 2);
            let s = v
                .find(Proto::Tcp, "192.168.1.240".parse().unwrap(), 80)
                .unwrap();
            assert_eq!(s.reals.len(), 2);
            assert_eq!(s.reals[1].addr.to_string(), "10.244.2.7:8080");
            assert!(
                v.find(Proto::Tcp, "192.168.1.242".parse().unwrap(), 80)
                    .unwrap()
                    .reals
                    .is_empty()
            );
        }
    }

    #[test]
    fn ipsets() {
        let s = parse_ipsets(
            "create KUBE-LOAD-BALANCER hash:ip,port family inet\nadd KUBE-LOAD-BALANCER 192.168.1.240,tcp:80\ncreate KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet\nadd KUBE-LOAD-BALANCER-SOURCE-CIDR 192.168.1.240,tcp:80,203.0.113.0/24\n",
        );
        let lb = s.get("KUBE-LOAD-BALANCER").unwrap();
        assert!(lb.contains(&[
            Dim::Ip("192.168.1.240".parse().unwrap()),
            Dim::Port(Proto::Tcp, 80)
        ]));
        assert!(!lb.contains(&[
            Dim::Ip("192.168.1.240".parse().unwrap()),
            Dim::Port(Proto::Udp, 80)
        ]));
        let src = s.get("KUBE-LOAD-BALANCER-SOURCE-CIDR").unwrap();
        assert!(src.contains(&[
            Dim::Ip("192.168.1.240".parse().unwrap()),
            Dim::Port(Proto::Tcp, 80),
            Dim::Ip("203.0.113.9".parse().unwrap())
        ]));
        let l = parse_ipsets(
            "Name: KUBE-LOAD-BALANCER\nType: hash:ip,port\nMembers:\n198.51.100.0,tcp:80\n",
        );
        assert!(l.get("KUBE-LOAD-BALANCER").unwrap().dim_is_port(1));
    }
}
