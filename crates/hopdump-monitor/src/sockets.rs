//! Probe sockets created in the probing network namespace.
//!
//! A socket belongs to the namespace of the thread that created it, and setns(2) changes only
//! the calling thread. So with a namespace, one dedicated thread enters it once and creates
//! every probe socket; the async runtime (which stays in the original namespace, where the
//! `/metrics` listener and the webhook live) connects and uses them.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;

use tokio::net::TcpSocket;
use tokio::sync::oneshot;

use crate::error::{MonitorError, Result};

enum Request {
    Tcp(bool, oneshot::Sender<io::Result<TcpSocket>>),
    Udp(bool, oneshot::Sender<io::Result<UdpSocket>>),
}

/// Creates probe sockets here or inside a network namespace.
#[derive(Debug, Clone)]
pub struct SocketFactory {
    tx: Option<mpsc::Sender<Request>>,
}

impl SocketFactory {
    /// Sockets of the calling thread's namespace.
    pub fn current() -> SocketFactory {
        SocketFactory { tx: None }
    }

    /// Start the socket thread; it runs `enter` (e.g. a setns into the probing namespace)
    /// first, and this returns its error if that fails. The thread ends when the last clone of
    /// the factory is dropped.
    pub fn spawn<F>(enter: F) -> Result<SocketFactory>
    where
        F: FnOnce() -> io::Result<()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        std::thread::Builder::new()
            .name("monitor-sockets".into())
            .spawn(move || {
                let entered = enter();
                let ok = entered.is_ok();
                let _ = ready_tx.send(entered);
                if !ok {
                    return;
                }
                for req in rx {
                    match req {
                        Request::Tcp(v6, reply) => {
                            let _ = reply.send(if v6 {
                                TcpSocket::new_v6()
                            } else {
                                TcpSocket::new_v4()
                            });
                        }
                        Request::Udp(v6, reply) => {
                            let _ = reply.send(udp_socket(v6));
                        }
                    }
                }
            })
            .map_err(MonitorError::Sockets)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(SocketFactory { tx: Some(tx) }),
            Ok(Err(e)) => Err(MonitorError::Sockets(e)),
            Err(_) => Err(MonitorError::Sockets(io::Error::other(
                "the socket thread ended before it was ready",
            ))),
        }
    }

    /// A fresh, unconnected TCP socket of the address family.
    pub async fn tcp(&self, v6: bool) -> io::Result<TcpSocket> {
        let Some(tx) = &self.tx else {
            return if v6 {
                TcpSocket::new_v6()
            } else {
                TcpSocket::new_v4()
            };
        };
        let (reply, rx) = oneshot::channel();
        tx.send(Request::Tcp(v6, reply)).map_err(gone)?;
        rx.await.map_err(gone)?
    }

    /// A UDP socket of the family bound to an ephemeral port, non-blocking.
    pub async fn udp(&self, v6: bool) -> io::Result<UdpSocket> {
        let Some(tx) = &self.tx else {
            return udp_socket(v6);
        };
        let (reply, rx) = oneshot::channel();
        tx.send(Request::Udp(v6, reply)).map_err(gone)?;
        rx.await.map_err(gone)?
    }
}

fn udp_socket(v6: bool) -> io::Result<UdpSocket> {
    let any: SocketAddr = if v6 {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn gone<E>(_: E) -> io::Error {
    io::Error::other("the probe socket thread is gone")
}
