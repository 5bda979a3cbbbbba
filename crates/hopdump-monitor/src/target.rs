//! The target grammar of `hopdump monitor`: `tcp://IP:PORT`, `udp://IP:PORT`,
//! `http://IP[:PORT][/PATH]`, `https://IP[:PORT][/PATH]`, or a bare `IP:PORT` (tcp); IPv6 as
//! `[IP]:PORT`. Addresses only: monitor never resolves names.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::error::{MonitorError, Result};

/// How a target is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A TCP connect (three-way handshake).
    Tcp,
    /// A datagram sent; success is any reply within the timeout.
    Udp,
    /// `GET PATH` over HTTP/1.1.
    Http,
    /// `GET PATH` over HTTP/1.1 in TLS.
    Https,
}

impl Kind {
    /// The label value: `tcp`, `udp`, `http`, `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Http => "http",
            Kind::Https => "https",
        }
    }

    /// The transport protocol (`tcp` or `udp`), as `hopdump trace` spells it.
    pub fn transport(self) -> &'static str {
        match self {
            Kind::Udp => "udp",
            _ => "tcp",
        }
    }
}

/// One parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// Path and query for http/https (starts with `/`); empty otherwise.
    pub path: String,
}

impl Target {
    /// Parse one command-line target.
    pub fn parse(spec: &str) -> Result<Target> {
        let bad = |why: &str| MonitorError::BadTarget {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        let s = spec.trim();
        if s.starts_with("svc/") {
            return Err(bad(
                "svc/NAME must be resolved to the LoadBalancer IP:PORT first (hopdump monitor does, from the cluster)",
            ));
        }
        let (kind, rest) = match s.split_once("://") {
            Some((scheme, rest)) => {
                let kind = match scheme.to_ascii_lowercase().as_str() {
                    "tcp" => Kind::Tcp,
                    "udp" => Kind::Udp,
                    "http" => Kind::Http,
                    "https" => Kind::Https,
                    _ => return Err(bad("scheme must be tcp://, udp://, http:// or https://")),
                };
                (kind, rest)
            }
            None => (Kind::Tcp, s),
        };
        let (authority, path) = match kind {
            Kind::Http | Kind::Https => match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
                Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
                None => (rest, "/".to_string()),
            },
            Kind::Tcp | Kind::Udp => {
                if rest.contains('/') {
                    return Err(bad("a tcp/udp target has no path"));
                }
                (rest, String::new())
            }
        };
        if authority.contains('@') {
            return Err(bad("user info in the address is not supported"));
        }
        let default_port = match kind {
            Kind::Http => Some(80),
            Kind::Https => Some(443),
            _ => None,
        };
        let addr = parse_addr(authority, default_port).map_err(|why| bad(&why))?;
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the path has spaces or control characters"));
        }
        Ok(Target { kind, addr, path })
    }

    /// The target as `hopdump trace` takes it: `IP:PORT/tcp` (IPv6 `[IP]:PORT/udp`).
    pub fn trace_target(&self) -> String {
        format!("{}/{}", self.addr, self.kind.transport())
    }
}

/// The canonical spelling, used as the `target` label: `http://198.51.100.240:80/`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.kind.as_str(), self.addr, self.path)
    }
}

/// `IP:PORT`, `[IPv6]:PORT`, or (with a default port) `IP` / `[IPv6]`.
fn parse_addr(s: &str, default_port: Option<u16>) -> std::result::Result<SocketAddr, String> {
    if s.is_empty() {
        return Err("no address".into());
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return port_ok(a);
    }
    if let Some(port) = default_port {
        let host = s
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = host.parse::<IpAddr>() {
            if matches!(ip, IpAddr::V6(_)) && !s.starts_with('[') {
                return Err("write an IPv6 address as [IP]:PORT".into());
            }
            return Ok(SocketAddr::new(ip, port));
        }
    }
    if s.parse::<IpAddr>().is_ok() {
        return Err(if s.contains(':') {
            "write an IPv6 address as [IP]:PORT".into()
        } else {
            "missing :PORT".into()
        });
    }
    Err("expected IP:PORT ([IP]:PORT for IPv6); monitor does not resolve names".into())
}

fn port_ok(a: SocketAddr) -> std::result::Result<SocketAddr, String> {
    if a.port() == 0 {
        return Err("port 0".into());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_every_form() {
        let t = Target::parse("198.51.100.240:80").unwrap();
        assert_eq!(
            (t.kind, t.to_string()),
            (Kind::Tcp, "tcp://198.51.100.240:80".into())
        );
        let t = Target::parse("udp://[2001:db8::f0]:53").unwrap();
        assert_eq!(t.to_string(), "udp://[2001:db8::f0]:53");
        assert_eq!(t.trace_target(), "[2001:db8::f0]:53/udp");
        let t = Target::parse("http://198.51.100.240:8080/healthz?x=1").unwrap();
        assert_eq!((t.kind, t.path.as_str()), (Kind::Http, "/healthz?x=1"));
        assert_eq!(t.trace_target(), "198.51.100.240:8080/tcp");
        let t = Target::parse("http://198.51.100.240").unwrap();
        assert_eq!(t.to_string(), "http://198.51.100.240:80/");
        let t = Target::parse("https://[2001:db8::1]").unwrap();
        assert_eq!(t.to_string(), "https://[2001:db8::1]:443/");
        let t = Target::parse("HTTP://192.0.2.1:81?q").unwrap();
        assert_eq!(t.to_string(), "http://192.0.2.1:81/?q");
    }

    #[test]
    fn rejects_bad_targets_with_a_reason() {
        for (s, why) in [
            ("ftp://192.0.2.1:21", "scheme"),
            ("192.0.2.1", "missing :PORT"),
            ("tcp://2001:db8::1", "[IP]:PORT"),
            ("example.com:80", "does not resolve"),
            ("tcp://192.0.2.1:80/x", "no path"),
            ("tcp://192.0.2.1:0", "port 0"),
            ("udp://192.0.2.1:70000", "expected IP:PORT"),
            ("svc/web", "svc/NAME"),
            ("", "no address"),
            ("http://192.0.2.1/a b", "spaces"),
        ] {
            let e = Target::parse(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
