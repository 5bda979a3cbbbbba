//! Probes sent from the client's vantage point: TCP connects with a small request and with
//! full-size segments (DF, as Linux sends TCP), UDP datagrams small and full-size with DF.
//! All run at once on threads inside the client's network namespace.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use hopdump_capture::Netns;
use hopdump_engine::{Probe, ProbeKind, ProbeResult, Proto};

/// How long a probe waits for the connection and for the answer, unless `--probe-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);

fn classify_err(e: &std::io::Error) -> ProbeResult {
    match e.kind() {
        ErrorKind::ConnectionRefused => ProbeResult::Refused,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            ProbeResult::Reset
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => ProbeResult::Timeout,
        _ => ProbeResult::Error,
    }
}

fn first_line(buf: &[u8]) -> String {
    let s = String::from_utf8_lossy(buf);
    s.lines().next().unwrap_or("").chars().take(80).collect()
}

/// A TCP socket bound to an ephemeral port before it connects: a probe whose connect fails
/// still has its source port, which is how the announcer's conntrack entry for it is found.
fn tcp_socket(addr: SocketAddr) -> std::io::Result<(socket2::Socket, u16)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    let any: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    s.bind(&any.into())?;
    let sport = s.local_addr()?.as_socket().map_or(0, |a| a.port());
    Ok((s, sport))
}

fn tcp(addr: SocketAddr, large: bool, timeout: Duration) -> (u16, ProbeResult, String) {
    let (sock, sport) = match tcp_socket(addr) {
        Ok(x) => x,
        Err(e) => return (0, ProbeResult::Error, format!("socket: {e}")),
    };
    if let Err(e) = sock.connect_timeout(&addr.into(), timeout) {
        return (sport, classify_err(&e), format!("connect: {e}"));
    }
    let mut s: TcpStream = sock.into();
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let host = addr.ip();
    let req = if large {
        let body = vec![b'x'; 16 * 1024];
        let mut r = format!(
            "POST /upload HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&body);
        r
    } else {
        format!("GET /small HTTP/1.0\r\nHost: {host}\r\n\r\n").into_bytes()
    };
    if let Err(e) = s.write_all(&req) {
        return (sport, classify_err(&e), format!("send: {e}"));
    }
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(0) => (sport, ProbeResult::Reset, "closed without an answer".into()),
        Ok(n) => (sport, ProbeResult::Ok, first_line(&buf[..n])),
        Err(e) => (sport, classify_err(&e), format!("receive: {e}")),
    }
}

fn udp(addr: SocketAddr, large: bool, timeout: Duration) -> (u16, ProbeResult, String) {
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().unwrap_or(addr)
    } else {
        "0.0.0.0:0".parse().unwrap_or(addr)
    };
    let s = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => return (0, ProbeResult::Error, format!("bind: {e}")),
    };
    if large {
        let (level, opt, val) = if addr.is_ipv6() {
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_DO,
            )
        } else {
            (
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_DO,
            )
        };
        // SAFETY: setsockopt reads an int from a valid pointer for the given length.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                level,
                opt,
                (&val as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
    }
    let sport = s.local_addr().map(|a| a.port()).unwrap_or(0);
    if let Err(e) = s.connect(addr) {
        return (sport, classify_err(&e), format!("connect: {e}"));
    }
    let _ = s.set_read_timeout(Some(timeout));
    let payload = if large {
        vec![b'p'; if addr.is_ipv6() { 1452 } else { 1472 }]
    } else {
        b"hopdump probe".to_vec()
    };
    if let Err(e) = s.send(&payload) {
        return (sport, classify_err(&e), format!("send: {e}"));
    }
    let mut buf = vec![0u8; 2048];
    match s.recv(&mut buf) {
        Ok(n) => (sport, ProbeResult::Ok, first_line(&buf[..n.min(60)])),
        Err(e) => (sport, classify_err(&e), format!("receive: {e}")),
    }
}

/// The probe plan for a service: enough small probes to reach every endpoint of a few, and
/// two full-size ones.
pub fn plan(proto: Proto, endpoints: usize) -> Vec<ProbeKind> {
    let small = (endpoints * 3).clamp(4, 8);
    let (s, l) = match proto {
        Proto::Tcp => (ProbeKind::TcpSmall, ProbeKind::TcpLarge),
        Proto::Udp => (ProbeKind::UdpSmall, ProbeKind::UdpLarge),
    };
    let mut v = vec![s; small];
    v.extend([l, l]);
    v
}

/// Send every probe at once from `netns`, each waiting up to `timeout` to connect and again
/// for its answer; returns when all have ended.
pub fn run(netns: &Netns, addr: SocketAddr, kinds: &[ProbeKind], timeout: Duration) -> Vec<Probe> {
    let handles: Vec<_> = kinds
        .iter()
        .map(|&kind| {
            let netns = netns.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let (sport, result, detail) =
                    match hopdump_capture::netns::enter_ns(&netns, "probe") {
                        Err(e) => (0, ProbeResult::Error, e.to_string()),
                        Ok(()) => match kind {
                            ProbeKind::TcpSmall => tcp(addr, false, timeout),
                            ProbeKind::TcpLarge => tcp(addr, true, timeout),
                            ProbeKind::UdpSmall => udp(addr, false, timeout),
                            ProbeKind::UdpLarge => udp(addr, true, timeout),
                        },
                    };
                Probe {
                    kind,
                    sport,
                    result,
                    detail,
                    ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
                }
            })
        })
        .collect();
    handles.into_iter().filter_map(|h| h.join().ok()).collect()
}
