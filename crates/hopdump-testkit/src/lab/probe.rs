//! Client-side probes run inside the client namespace: HTTP GET (small and large), a large
//! POST and a UDP echo, each reduced to an outcome a self-check can assert on.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete answer.
    Ok(Reply),
    /// RST to the SYN, or ICMP port unreachable (REJECT, nothing listening).
    Refused,
    /// No answer in time (DROP, black hole, ARP never resolved).
    Timeout,
    /// The connection was reset after it was established (e.g. SYN-ACK from the wrong address).
    Reset,
    /// ICMP host/network unreachable.
    Unreachable,
    /// Anything else, with the error text.
    Other(String),
}

impl Outcome {
    /// True for a complete answer.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
    /// The answering pod, if any.
    pub fn pod(&self) -> Option<&str> {
        match self {
            Outcome::Ok(r) => Some(&r.pod),
            _ => None,
        }
    }
}

/// A complete answer: HTTP status (0 for UDP), the pod that answered and the body size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub pod: String,
    pub body_len: usize,
    /// Body text when short (small GET, POST acknowledgement, UDP echo).
    pub text: String,
}

fn classify(e: &std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::ConnectionRefused => Outcome::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Outcome::Timeout,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Outcome::Reset
        }
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => Outcome::Unreachable,
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) => Outcome::Unreachable,
            _ => Outcome::Other(e.to_string()),
        },
    }
}

/// An HTTP request to make.
#[derive(Debug, Clone, Copy)]
pub enum Http {
    /// `GET /small`.
    Small,
    /// `GET /large` (256 KiB).
    Large,
    /// `POST /upload` with this many bytes.
    Post(usize),
}

/// One HTTP/1.0 exchange with `addr`, in the calling thread's namespace.
pub fn http(addr: SocketAddr, req: Http, timeout: Duration) -> Outcome {
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return classify(&e),
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let host = addr.ip();
    let head = match req {
        Http::Small => format!("GET /small HTTP/1.0\r\nHost: {host}\r\n\r\n"),
        Http::Large => format!("GET /large HTTP/1.0\r\nHost: {host}\r\n\r\n"),
        Http::Post(n) => {
            format!("POST /upload HTTP/1.0\r\nHost: {host}\r\nContent-Length: {n}\r\n\r\n")
        }
    };
    if let Err(e) = s.write_all(head.as_bytes()) {
        return classify(&e);
    }
    if let Http::Post(n) = req {
        let chunk = vec![b'p'; 16384];
        let mut left = n;
        while left > 0 {
            let k = left.min(chunk.len());
            if let Err(e) = s.write_all(&chunk[..k]) {
                return classify(&e);
            }
            left -= k;
        }
    }
    let mut buf = Vec::new();
    if let Err(e) = s.read_to_end(&mut buf) {
        return classify(&e);
    }
    parse_http(&buf)
}

fn parse_http(buf: &[u8]) -> Outcome {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.is_empty() {
            Outcome::Reset
        } else {
            Outcome::Other("truncated HTTP header".into())
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let body = &buf[end + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut pod = String::new();
    let mut len = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("x-pod") {
                pod = v.trim().to_string();
            } else if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    if len.is_some_and(|l| l != body.len()) {
        return Outcome::Other(format!(
            "short body: {} of {} bytes",
            body.len(),
            len.unwrap_or(0)
        ));
    }
    let text = if body.len() <= 256 {
        String::from_utf8_lossy(body).into_owned()
    } else {
        String::new()
    };
    Outcome::Ok(Reply {
        status,
        pod,
        body_len: body.len(),
        text,
    })
}

/// One UDP echo exchange from `local` (pick a fixed source port to reuse a conntrack entry),
/// in the calling thread's namespace.
pub fn udp(local: SocketAddr, addr: SocketAddr, payload: &[u8], timeout: Duration) -> Outcome {
    let s = match UdpSocket::bind(local) {
        Ok(s) => s,
        Err(e) => return Outcome::Other(format!("bind {local}: {e}")),
    };
    if let Err(e) = s.connect(addr) {
        return classify(&e);
    }
    let _ = s.set_read_timeout(Some(timeout));
    if let Err(e) = s.send(payload) {
        return classify(&e);
    }
    let mut buf = vec![0u8; 65536];
    match s.recv(&mut buf) {
        Ok(n) => {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let pod = text.split(':').next().unwrap_or_default().to_string();
            Outcome::Ok(Reply {
                status: 0,
                pod,
                body_len: n,
                text,
            })
        }
        Err(e) => classify(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reply_and_detects_short_body() {
        let ok = parse_http(b"HTTP/1.0 200 OK\r\nX-Pod: n1p1\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(ok.pod(), Some("n1p1"));
        let short = parse_http(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nabc");
        assert!(matches!(short, Outcome::Other(_)));
    }
}
