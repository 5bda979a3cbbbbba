//! Capture points: which interface, in which network namespace, and what to call it.
//!
//! Syntax (documented in README): `[LABEL=][NETNS/]IFACE` where NETNS is
//! - a name created by `ip netns add` (looked up in /run/netns),
//! - `pid:PID` — the network namespace of that process (e.g. a pod's container),
//! - an absolute path to a namespace file (`/proc/PID/ns/net`, `/run/netns/x`),
//!
//! and IFACE is an interface name or `any`. Interface names never contain '/', so the
//! last '/' always separates the namespace from the interface.

use std::fmt;
use std::path::PathBuf;

use crate::error::{CaptureError, Result};

/// Where a network namespace comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Netns {
    /// The namespace hopdump already runs in.
    Current,
    /// `ip netns` name (a bind mount in /run/netns).
    Named(String),
    /// The namespace of a process.
    Pid(u32),
    /// A namespace file given by path.
    Path(PathBuf),
}

impl Netns {
    /// The file to open and hand to setns(2); None for the current namespace.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Netns::Current => None,
            Netns::Named(n) => Some(PathBuf::from("/run/netns").join(n)),
            Netns::Pid(p) => Some(PathBuf::from(format!("/proc/{p}/ns/net"))),
            Netns::Path(p) => Some(p.clone()),
        }
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Current => f.write_str("the current network namespace"),
            Netns::Named(n) => write!(f, "netns {n}"),
            Netns::Pid(p) => write!(f, "the netns of pid {p}"),
            Netns::Path(p) => write!(f, "netns {}", p.display()),
        }
    }
}

/// One place to capture at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointSpec {
    /// Name shown in text output and written as the pcapng interface name.
    pub label: String,
    pub netns: Netns,
    /// Interface name, or `any`.
    pub iface: String,
}

impl PointSpec {
    /// Parse `[LABEL=][NETNS/]IFACE`.
    pub fn parse(spec: &str) -> Result<PointSpec> {
        let bad = |why: &str| CaptureError::BadPoint {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        let (label, rest) = match spec.split_once('=') {
            Some((l, r)) if !l.contains('/') => {
                if l.is_empty() {
                    return Err(bad("empty label before '='"));
                }
                (Some(l.to_string()), r)
            }
            _ => (None, spec),
        };
        let (netns, iface) = match rest.rfind('/') {
            None => (Netns::Current, rest),
            Some(i) => {
                let (ns, iface) = (&rest[..i], &rest[i + 1..]);
                let netns = if let Some(pid) = ns.strip_prefix("pid:") {
                    let pid = pid.parse::<u32>().map_err(|_| {
                        bad("pid: must be followed by a process id, e.g. pid:4242/eth0")
                    })?;
                    Netns::Pid(pid)
                } else if ns.starts_with('/') {
                    Netns::Path(PathBuf::from(ns))
                } else if ns.is_empty() {
                    return Err(bad("empty network namespace before '/'"));
                } else if ns.contains('/') {
                    return Err(bad(
                        "a netns name cannot contain '/'; give an absolute path to a namespace file instead",
                    ));
                } else {
                    Netns::Named(ns.to_string())
                };
                (netns, iface)
            }
        };
        if iface.is_empty() {
            return Err(bad("no interface name (use `any` for all interfaces)"));
        }
        if iface.len() > 15 {
            return Err(bad("interface names are at most 15 characters"));
        }
        let label = label.unwrap_or_else(|| match &netns {
            Netns::Current => iface.to_string(),
            Netns::Named(n) => format!("{n}/{iface}"),
            Netns::Pid(p) => format!("pid:{p}/{iface}"),
            Netns::Path(p) => format!("{}/{iface}", p.display()),
        });
        Ok(PointSpec {
            label,
            netns,
            iface: iface.to_string(),
        })
    }
}

impl fmt::Display for PointSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_interface_is_in_current_netns() {
        let p = PointSpec::parse("eth0").unwrap();
        assert_eq!(p.netns, Netns::Current);
        assert_eq!(p.iface, "eth0");
        assert_eq!(p.label, "eth0");
    }

    #[test]
    fn named_pid_and_path_namespaces() {
        let p = PointSpec::parse("node1-ns/cni0").unwrap();
        assert_eq!(p.netns, Netns::Named("node1-ns".into()));
        assert_eq!(p.label, "node1-ns/cni0");
        let p = PointSpec::parse("pid:4242/eth0").unwrap();
        assert_eq!(p.netns, Netns::Pid(4242));
        assert_eq!(p.netns.path().unwrap(), PathBuf::from("/proc/4242/ns/net"));
        let p = PointSpec::parse("/proc/1/ns/net/any").unwrap();
        assert_eq!(p.netns, Netns::Path("/proc/1/ns/net".into()));
        assert_eq!(p.iface, "any");
    }

    #[test]
    fn label_overrides_name() {
        let p = PointSpec::parse("pod=pid:7/eth0").unwrap();
        assert_eq!(p.label, "pod");
        assert_eq!(p.netns, Netns::Pid(7));
    }

    #[test]
    fn rejects_malformed_points() {
        for bad in [
            "",
            "ns/",
            "/eth0",
            "pid:x/eth0",
            "a/b/eth0",
            "=eth0",
            "ns/averyveryverylongname0",
        ] {
            assert!(PointSpec::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
