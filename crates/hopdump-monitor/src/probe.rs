//! One probe of one target, bounded by the timeout: a TCP connect, a UDP datagram and its
//! reply, or an HTTP(S) GET and its status. Sockets come from a [`SocketFactory`], so probes
//! leave from the probing network namespace.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::error::{MonitorError, Result};
use crate::sockets::SocketFactory;
use crate::target::{Kind, Target};

/// The User-Agent of probes and webhooks.
pub const USER_AGENT: &str = concat!("hopdump-monitor/", env!("CARGO_PKG_VERSION"));

/// Which HTTP status codes count as success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusMatch {
    /// Inclusive ranges; empty means "below 500".
    ranges: Vec<(u16, u16)>,
}

impl StatusMatch {
    /// Parse `--expect-status` values: `200`, `200-299`, `2xx`, or comma lists of them.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<StatusMatch> {
        let mut ranges = Vec::new();
        for v in values {
            for part in v
                .as_ref()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let bad = |why: &str| MonitorError::BadStatus {
                    spec: part.to_string(),
                    why: why.to_string(),
                };
                let code = |s: &str| -> Result<u16> {
                    match s.parse::<u16>() {
                        Ok(c) if (100..=599).contains(&c) => Ok(c),
                        _ => Err(bad("a status code is 100..599")),
                    }
                };
                let lower = part.to_ascii_lowercase();
                let r = if let Some(d) = lower.strip_suffix("xx") {
                    let c = code(&format!("{d}00"))?;
                    (c, c + 99)
                } else if let Some((a, b)) = part.split_once('-') {
                    let (a, b) = (code(a)?, code(b)?);
                    if a > b {
                        return Err(bad("empty range"));
                    }
                    (a, b)
                } else {
                    let c = code(part)?;
                    (c, c)
                };
                ranges.push(r);
            }
        }
        Ok(StatusMatch { ranges })
    }

    /// Whether `code` is a success.
    pub fn ok(&self, code: u16) -> bool {
        if self.ranges.is_empty() {
            return code < 500;
        }
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&code))
    }

    /// For error messages: `<500`, `200-299`, `200,204`.
    pub fn describe(&self) -> String {
        if self.ranges.is_empty() {
            return "<500".into();
        }
        self.ranges
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// How probes are made.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub timeout: Duration,
    pub expect: StatusMatch,
    /// The datagram of udp probes.
    pub udp_payload: Vec<u8>,
    /// Host header and TLS server name for http/https (default: the target's IP:PORT / IP).
    pub host: Option<String>,
    /// https: accept any certificate.
    pub insecure: bool,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub ok: bool,
    /// Until success, or until the failure.
    pub latency: Duration,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// Probes targets with one configuration.
#[derive(Debug, Clone)]
pub struct Prober {
    sockets: SocketFactory,
    cfg: Arc<ProbeConfig>,
    tls: Option<Arc<ClientConfig>>,
}

impl Prober {
    /// `need_tls`: some target is https (loads the TLS configuration once).
    pub fn new(sockets: SocketFactory, cfg: ProbeConfig, need_tls: bool) -> Result<Prober> {
        let tls = if need_tls {
            Some(crate::http::tls_config(cfg.insecure)?)
        } else {
            None
        };
        Ok(Prober {
            sockets,
            cfg: Arc::new(cfg),
            tls,
        })
    }

    /// Probe `t` once, within the timeout.
    pub async fn probe(&self, t: &Target) -> ProbeOutcome {
        let start = Instant::now();
        let r = tokio::time::timeout(self.cfg.timeout, self.attempt(t)).await;
        let latency = start.elapsed();
        let (status, error) = match r {
            Err(_) => (None, Some(format!("timeout after {:?}", self.cfg.timeout))),
            Ok(Ok(status)) => match status {
                Some(code) if !self.cfg.expect.ok(code) => (
                    status,
                    Some(format!(
                        "HTTP status {code} (expected {})",
                        self.cfg.expect.describe()
                    )),
                ),
                _ => (status, None),
            },
            Ok(Err(e)) => (None, Some(e)),
        };
        ProbeOutcome {
            ok: error.is_none(),
            latency,
            http_status: status,
            error,
        }
    }

    async fn attempt(&self, t: &Target) -> std::result::Result<Option<u16>, String> {
        let v6 = t.addr.is_ipv6();
        match t.kind {
            Kind::Tcp => {
                self.connect(t.addr, v6).await?;
                Ok(None)
            }
            Kind::Udp => {
                let std = self.sockets.udp(v6).await.map_err(|e| io_error(&e))?;
                let sock = tokio::net::UdpSocket::from_std(std).map_err(|e| io_error(&e))?;
                sock.connect(t.addr).await.map_err(|e| io_error(&e))?;
                sock.send(&self.cfg.udp_payload)
                    .await
                    .map_err(|e| io_error(&e))?;
                let mut buf = [0u8; 2048];
                match sock.recv(&mut buf).await {
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        Err("connection refused (ICMP port unreachable)".into())
                    }
                    Err(e) => Err(io_error(&e)),
                }
            }
            Kind::Http | Kind::Https => {
                let stream = self.connect(t.addr, v6).await?;
                let host = match &self.cfg.host {
                    Some(h) => h.clone(),
                    None => t.addr.to_string(),
                };
                let req = Request::get(t.path.as_str())
                    .header(hyper::header::HOST, host)
                    .header(hyper::header::USER_AGENT, USER_AGENT)
                    .header(hyper::header::CONNECTION, "close")
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| format!("request: {e}"))?;
                let code = match (&self.tls, t.kind) {
                    (Some(tls), Kind::Https) => {
                        let name = match &self.cfg.host {
                            Some(h) => ServerName::try_from(h.clone())
                                .map_err(|e| format!("tls server name {h:?}: {e}"))?,
                            None => ServerName::IpAddress(t.addr.ip().into()),
                        };
                        let s = TlsConnector::from(tls.clone())
                            .connect(name, stream)
                            .await
                            .map_err(|e| format!("tls: {e}"))?;
                        crate::http::request(s, req).await?
                    }
                    (None, Kind::Https) => return Err("tls is not configured".into()),
                    _ => crate::http::request(stream, req).await?,
                };
                Ok(Some(code))
            }
        }
    }

    async fn connect(
        &self,
        addr: SocketAddr,
        v6: bool,
    ) -> std::result::Result<tokio::net::TcpStream, String> {
        let sock = self.sockets.tcp(v6).await.map_err(|e| io_error(&e))?;
        sock.connect(addr).await.map_err(|e| io_error(&e))
    }
}

/// A short, stable text for an I/O error ("connection refused", "no route to host").
pub fn io_error(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        K::HostUnreachable => "no route to host".into(),
        K::NetworkUnreachable => "network unreachable".into(),
        K::TimedOut => "timed out".into(),
        K::AddrNotAvailable => "address not available".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn status_matching() {
        let d = StatusMatch::parse::<&str>(&[]).unwrap();
        assert!(d.ok(200) && d.ok(404) && !d.ok(500) && !d.ok(503));
        assert_eq!(d.describe(), "<500");
        let m = StatusMatch::parse(&["2xx", "301,404-405"]).unwrap();
        assert!(m.ok(204) && m.ok(301) && m.ok(405) && !m.ok(302) && !m.ok(500));
        assert_eq!(m.describe(), "200-299,301,404-405");
        for bad in ["abc", "99", "600", "300-200", "9xx"] {
            assert!(StatusMatch::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
