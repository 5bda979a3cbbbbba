//! The agent's server: TLS accept, authentication of every call, request decoding, and the
//! hand-off to the [`Handler`] (blocking work runs on tokio's blocking pool). Refusals are
//! logged with the peer's address.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::rustls;

use crate::error::{AgentError, Result};
use crate::proto::{Call, Hello, MAX_REQUEST, PROTOCOL};
use crate::tls;

/// Checks a bearer token some other way (Kubernetes TokenReview): Ok(user) or why not.
pub type Reviewer = Arc<dyn Fn(&str) -> std::result::Result<String, String> + Send + Sync>;

/// What each call does on this node. Called on a blocking thread.
pub trait Handler: Send + Sync + 'static {
    /// A unary call (every [`Call`] but `Hello`, `Capture` and `Drops`): its JSON answer.
    fn unary(&self, call: Call) -> std::result::Result<serde_json::Value, String>;
    /// A streaming call: arm it, call [`Sink::ready`], then write the stream to the sink
    /// until done or [`Sink::closed`]. An error before `ready` is the call's answer.
    fn stream(&self, call: Call, sink: &mut Sink) -> std::result::Result<(), String>;
}

/// Where a streaming call writes. Writes block when the caller reads slowly (bounded queue
/// over HTTP/2 flow control) and fail with `BrokenPipe` once the caller has gone.
pub struct Sink {
    tx: mpsc::Sender<Bytes>,
    ready: Option<oneshot::Sender<std::result::Result<(), String>>>,
}

impl Sink {
    /// The stream is armed: the caller gets its response headers now.
    pub fn ready(&mut self) {
        if let Some(r) = self.ready.take() {
            let _ = r.send(Ok(()));
        }
    }

    /// The caller went away (or the connection died).
    pub fn closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// An owned writer into the stream (marks it ready), for writers that need `'static`.
    pub fn writer(&mut self) -> SinkWriter {
        self.ready();
        SinkWriter {
            tx: self.tx.clone(),
        }
    }
}

/// An owned handle on a [`Sink`]'s stream.
pub struct SinkWriter {
    tx: mpsc::Sender<Bytes>,
}

impl SinkWriter {
    pub fn closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl std::io::Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        send_blocking(&self.tx, buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Queue `buf` for the caller, waiting while the queue is full.
fn send_blocking(tx: &mpsc::Sender<Bytes>, buf: &[u8]) -> std::io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    tx.blocking_send(Bytes::copy_from_slice(buf))
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "caller went away"))?;
    Ok(buf.len())
}

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.ready();
        send_blocking(&self.tx, buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A response body fed by a channel.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

type RespBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<RespBody> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(status: StatusCode, msg: &str) -> Response<RespBody> {
    json_response(status, &serde_json::json!({ "error": msg }))
}

/// How the agent authenticates callers. At least one way must be configured.
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub tls: Arc<rustls::ServerConfig>,
    /// The shared bearer token.
    pub token: Option<String>,
    /// Whether client certificates (verified by `tls`) are accepted as credentials.
    pub mtls: bool,
    /// TokenReview (or another check) for bearer tokens that are not `token`.
    pub reviewer: Option<Reviewer>,
    /// Node name answered in `hello`.
    pub node: String,
}

struct Shared {
    opts: ServerOptions,
    handler: Arc<dyn Handler>,
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Who is calling, or why they are refused.
fn authenticate(
    s: &Shared,
    req: &Request<Incoming>,
    peer_cert: Option<&str>,
) -> std::result::Result<String, String> {
    let bearer = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(b) = bearer {
        if let Some(t) = &s.opts.token
            && tls::same_secret(t.as_bytes(), b.as_bytes())
        {
            return Ok("token".into());
        }
        if let Some(r) = &s.opts.reviewer {
            return r(b).map_err(|e| format!("token review: {e}"));
        }
        return Err("wrong token".into());
    }
    if s.opts.mtls
        && let Some(fp) = peer_cert
    {
        return Ok(format!("client certificate {fp}"));
    }
    Err("no credentials (a bearer token or a client certificate is required)".into())
}

async fn handle(
    s: Arc<Shared>,
    peer: SocketAddr,
    peer_cert: Option<String>,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let path = req.uri().path().to_string();
    let caller = match authenticate(&s, &req, peer_cert.as_deref()) {
        Ok(c) => c,
        Err(why) => {
            eprintln!(
                "hopdump agent: refused {peer} {} {path}: {why}",
                req.method()
            );
            return error_response(StatusCode::UNAUTHORIZED, &why);
        }
    };
    let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &format!("request body: {e}")),
    };
    let call = match Call::decode(&path, &body) {
        Ok(c) => c,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match call {
        Call::Hello => {
            let h = Hello {
                protocol: PROTOCOL,
                node: s.opts.node.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                unix_ns: unix_ns(),
                caller,
            };
            json_response(StatusCode::OK, &serde_json::to_value(h).unwrap_or_default())
        }
        c if c.streams() => {
            let (tx, rx) = mpsc::channel::<Bytes>(64);
            let (rtx, rrx) = oneshot::channel();
            let h = s.handler.clone();
            let method = c.method();
            tokio::task::spawn_blocking(move || {
                let mut sink = Sink {
                    tx,
                    ready: Some(rtx),
                };
                let r = h.stream(c, &mut sink);
                match (sink.ready.take(), r) {
                    (Some(ready), r) => {
                        let _ = ready.send(r);
                    }
                    (None, Err(e)) => {
                        eprintln!("hopdump agent: {peer} {method}: stream ended: {e}");
                    }
                    (None, Ok(())) => {}
                }
            });
            match rrx.await {
                Ok(Ok(())) => {
                    eprintln!("hopdump agent: {peer} ({caller}) {method} armed");
                    let mut r = Response::new(ChannelBody { rx }.boxed());
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(if method == "capture" {
                            "application/x-pcapng"
                        } else {
                            "application/x-ndjson"
                        }),
                    );
                    r
                }
                Ok(Err(e)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e),
                Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "handler failed"),
            }
        }
        c => {
            let h = s.handler.clone();
            match tokio::task::spawn_blocking(move || h.unary(c)).await {
                Ok(Ok(v)) => json_response(StatusCode::OK, &v),
                Ok(Err(e)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e),
                Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "handler failed"),
            }
        }
    }
}

/// Serve until `stop` is set; `ready` is called with the bound address once listening.
pub fn serve(
    opts: ServerOptions,
    handler: Arc<dyn Handler>,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    if opts.token.is_none() && !opts.mtls && opts.reviewer.is_none() {
        return Err(AgentError::Config(
            "no way to authenticate callers: give a token file, a client CA or token review".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AgentError::Config(format!("runtime: {e}")))?;
    let listen = opts.listen;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| AgentError::Config(format!("listen on {listen}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| AgentError::Config(format!("listen on {listen}: {e}")))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(opts.tls.clone());
        let shared = Arc::new(Shared { opts, handler });
        ready(local);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                }
                acc = listener.accept() => {
                    let Ok((tcp, peer)) = acc else { continue };
                    let acceptor = acceptor.clone();
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                            Ok(Ok(t)) => t,
                            Ok(Err(e)) => {
                                eprintln!("hopdump agent: refused {peer}: TLS: {e}");
                                return;
                            }
                            Err(_) => {
                                eprintln!("hopdump agent: refused {peer}: TLS handshake timed out");
                                return;
                            }
                        };
                        let peer_cert = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| tls::fingerprint(c.as_ref()));
                        let svc = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            let pc = peer_cert.clone();
                            async move { Ok::<_, Infallible>(handle(shared, peer, pc, req).await) }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), svc)
                            .await;
                    });
                }
            }
        }
    })
}
