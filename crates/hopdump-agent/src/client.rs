//! The CLI's side: one HTTP/2 connection per agent (calls multiplexed on it), a blocking
//! facade for `trace`'s threads, the clock-offset estimate, and streams exposed as
//! `std::io::Read` so the pcapng reader consumes them unchanged.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::mpsc;
use tokio_rustls::rustls;

use crate::error::{AgentError, Result};
use crate::proto::{Call, Hello, PROTOCOL};
use crate::tls;

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hopdump-agent-client")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| AgentError::Config(format!("runtime: {e}")))
}

/// How to reach and authenticate to agents.
#[derive(Clone)]
pub struct ClientOptions {
    pub tls: Arc<rustls::ClientConfig>,
    pub token: Option<String>,
    pub connect_timeout: Duration,
    /// Bound on a unary call (rules on a node with 100k rules take a fraction of a second).
    pub call_timeout: Duration,
}

/// A connected agent.
pub struct AgentClient {
    /// `NAME (ADDR)`, for messages.
    pub label: String,
    pub addr: SocketAddr,
    opts: ClientOptions,
    sender: Mutex<SendRequest<Full<Bytes>>>,
}

/// The agent's clock against ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockOffset {
    /// Agent clock minus ours, ns (subtract from the agent's timestamps).
    pub offset_ns: i64,
    /// Round trip of the sample the estimate came from (its uncertainty is half of it).
    pub rtt_ns: u64,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn connect_h2(
    label: &str,
    addr: SocketAddr,
    opts: &ClientOptions,
) -> Result<SendRequest<Full<Bytes>>> {
    let err = |d: String| AgentError::Connect {
        agent: label.to_string(),
        detail: d,
    };
    let tcp = tokio::time::timeout(opts.connect_timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| err(format!("no connection within {:?}", opts.connect_timeout)))?
        .map_err(|e| err(format!("connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let conn = tokio_rustls::TlsConnector::from(opts.tls.clone());
    let tls = tokio::time::timeout(
        opts.connect_timeout,
        conn.connect(tls::server_name(addr.ip()), tcp),
    )
    .await
    .map_err(|_| err("TLS handshake timed out".into()))?
    .map_err(|e| err(format!("TLS: {e}")))?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(4 << 20)
        .initial_connection_window_size(8 << 20)
        .handshake(TokioIo::new(tls))
        .await
        .map_err(|e| err(format!("HTTP/2: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl AgentClient {
    /// Connect (TCP, TLS verified against the CA, HTTP/2).
    pub fn connect(name: &str, addr: SocketAddr, opts: ClientOptions) -> Result<AgentClient> {
        let label = format!("{name} ({addr})");
        let sender = runtime()?.block_on(connect_h2(&label, addr, &opts))?;
        Ok(AgentClient {
            label,
            addr,
            opts,
            sender: Mutex::new(sender),
        })
    }

    fn request(&self, call: &Call) -> Result<Request<Full<Bytes>>> {
        let uri = format!("https://{}/v1/{}", self.addr, call.method());
        let mut b = Request::builder()
            .method(if matches!(call, Call::Hello) {
                "GET"
            } else {
                "POST"
            })
            .uri(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(t) = &self.opts.token {
            b = b.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(Full::new(Bytes::from(call.body())))
            .map_err(|e| AgentError::BadRequest(e.to_string()))
    }

    fn sender(&self) -> Result<SendRequest<Full<Bytes>>> {
        self.sender
            .lock()
            .map(|s| s.clone())
            .map_err(|_| AgentError::Connect {
                agent: self.label.clone(),
                detail: "connection state poisoned".into(),
            })
    }

    async fn send(
        &self,
        call: &Call,
        wait: Duration,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let req = self.request(call)?;
        let mut s = self.sender()?;
        let method = call.method();
        let fut = async {
            s.ready()
                .await
                .map_err(|e| self.remote(method, e.to_string()))?;
            s.send_request(req)
                .await
                .map_err(|e| self.remote(method, e.to_string()))
        };
        let resp = tokio::time::timeout(wait, fut)
            .await
            .map_err(|_| AgentError::Timeout {
                agent: self.label.clone(),
                method: method.into(),
                secs: wait.as_secs(),
            })??;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = tokio::time::timeout(wait, resp.into_body().collect())
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                AgentError::Refused {
                    agent: self.label.clone(),
                    detail,
                }
            } else {
                self.remote(method, detail)
            },
        )
    }

    fn remote(&self, method: &str, detail: String) -> AgentError {
        AgentError::Remote {
            agent: self.label.clone(),
            method: method.into(),
            detail,
        }
    }

    /// A unary call, its JSON answer decoded as `T`.
    pub fn call<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let wait = self.opts.call_timeout;
        runtime()?.block_on(async {
            let resp = self.send(call, wait).await?;
            let body = tokio::time::timeout(wait, resp.into_body().collect())
                .await
                .map_err(|_| AgentError::Timeout {
                    agent: self.label.clone(),
                    method: call.method().into(),
                    secs: wait.as_secs(),
                })?
                .map_err(|e| self.remote(call.method(), e.to_string()))?
                .to_bytes();
            serde_json::from_slice(&body)
                .map_err(|e| self.remote(call.method(), format!("unreadable answer: {e}")))
        })
    }

    /// `hello`, three times: the agent's identity and the clock offset of the sample with
    /// the shortest round trip.
    pub fn hello(&self) -> Result<(Hello, ClockOffset)> {
        let mut best: Option<(Hello, ClockOffset)> = None;
        for _ in 0..3 {
            let t0 = now_ns();
            let h: Hello = self.call(&Call::Hello)?;
            let t1 = now_ns();
            let rtt = t1.saturating_sub(t0);
            let mid = t0 / 2 + t1 / 2;
            let off = ClockOffset {
                offset_ns: i64::try_from(h.unix_ns as i128 - mid as i128).unwrap_or(0),
                rtt_ns: rtt,
            };
            if best.as_ref().is_none_or(|(_, b)| rtt < b.rtt_ns) {
                best = Some((h, off));
            }
        }
        let (h, off) = best.ok_or_else(|| self.remote("hello", "no answer".into()))?;
        if h.protocol != PROTOCOL {
            return Err(self.remote(
                "hello",
                format!(
                    "agent speaks protocol {}, this hopdump speaks {PROTOCOL}",
                    h.protocol
                ),
            ));
        }
        Ok((h, off))
    }

    /// Start a streaming call; returns once the agent has armed it (response headers). The
    /// stream ends when the agent ends it, or with an error at `deadline`.
    pub fn stream(&self, call: &Call, deadline: Instant) -> Result<ByteStream> {
        let rt = runtime()?;
        let resp = rt.block_on(self.send(call, self.opts.call_timeout))?;
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(64);
        let label = self.label.clone();
        rt.spawn(async move {
            let mut body = resp.into_body();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, body.frame()).await {
                    Err(_) => {
                        let _ = tx
                            .send(Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!("agent {label}: stream still open at the deadline"),
                            )))
                            .await;
                        return;
                    }
                    Ok(None) => return,
                    Ok(Some(Err(e))) => {
                        let _ = tx
                            .send(Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionAborted,
                                format!("agent {label}: stream broken: {e}"),
                            )))
                            .await;
                        return;
                    }
                    Ok(Some(Ok(f))) => {
                        if let Ok(d) = f.into_data()
                            && tx.send(Ok(d)).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        Ok(ByteStream {
            rx,
            cur: Bytes::new(),
        })
    }
}

/// A streamed answer, read like a file.
pub struct ByteStream {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for ByteStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => self.cur = b,
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}
