//! The probes, the /metrics server and the webhook client against real local servers
//! (loopback, no privileges): what succeeds, what fails, and with which error text.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hopdump_monitor::http::{Webhook, serve_metrics};
use hopdump_monitor::metrics::parse;
use hopdump_monitor::{Health, ProbeConfig, Prober, Registry, SocketFactory, StatusMatch, Target};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn cfg(timeout_ms: u64) -> ProbeConfig {
    ProbeConfig {
        timeout: Duration::from_millis(timeout_ms),
        expect: StatusMatch::default(),
        udp_payload: b"ping".to_vec(),
        host: None,
        insecure: false,
    }
}

fn prober(c: ProbeConfig, tls: bool) -> Prober {
    Prober::new(SocketFactory::current(), c, tls).unwrap()
}

fn target(s: &str) -> Target {
    Target::parse(s).unwrap()
}

/// An HTTP/1 server on 127.0.0.1 answering `(status, body)` from the request's path and Host
/// header; each request's (method, path, body) is recorded.
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

async fn http_server(
    tls: Option<tokio_rustls::TlsAcceptor>,
    answer: fn(&str, &str) -> u16,
) -> (SocketAddr, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = l.accept().await.unwrap();
            let seen = s2.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let host = req
                            .headers()
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let method = req.method().to_string();
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        seen.lock()
                            .unwrap()
                            .push((method, path.clone(), body.to_vec()));
                        let mut r = Response::new(Full::new(Bytes::from("hi\n")));
                        *r.status_mut() =
                            hyper::StatusCode::from_u16(answer(&path, &host)).unwrap();
                        Ok::<_, Infallible>(r)
                    }
                });
                let b = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acc) => {
                        if let Ok(s) = acc.accept(stream).await {
                            let _ = b.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                    None => {
                        let _ = b.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn by_path(path: &str, host: &str) -> u16 {
    match path {
        "/ok" => 200,
        "/bad" => 503,
        "/host" if host == "web.example" => 204,
        _ => 404,
    }
}

#[tokio::test]
async fn tcp_connect_and_refused() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let p = prober(cfg(1000), false);
    let o = p.probe(&target(&format!("{addr}"))).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.http_status, None);
    drop(l);
    let o = p.probe(&target(&format!("tcp://{addr}"))).await;
    assert!(!o.ok);
    assert_eq!(o.error.as_deref(), Some("connection refused"));
}

#[tokio::test]
async fn udp_reply_port_unreachable_and_silence() {
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 64];
        loop {
            let (n, from) = echo.recv_from(&mut b).await.unwrap();
            assert_eq!(&b[..n], b"ping");
            echo.send_to(b"pong", from).await.unwrap();
        }
    });
    let p = prober(cfg(300), false);
    let o = p.probe(&target(&format!("udp://{addr}"))).await;
    assert!(o.ok, "{o:?}");

    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let o = p
        .probe(&target(&format!("udp://{}", silent.local_addr().unwrap())))
        .await;
    assert_eq!(o.error.as_deref(), Some("timeout after 300ms"));
    let closed = silent.local_addr().unwrap();
    drop(silent);
    let o = p.probe(&target(&format!("udp://{closed}"))).await;
    assert_eq!(
        o.error.as_deref(),
        Some("connection refused (ICMP port unreachable)")
    );
}

#[tokio::test]
async fn http_status_decides_and_is_recorded() {
    let (addr, seen) = http_server(None, by_path).await;
    let p = prober(cfg(2000), false);
    let o = p.probe(&target(&format!("http://{addr}/ok"))).await;
    assert!(o.ok && o.http_status == Some(200), "{o:?}");
    let o = p.probe(&target(&format!("http://{addr}/missing"))).await;
    assert!(o.ok && o.http_status == Some(404), "404 < 500 is up: {o:?}");
    let o = p.probe(&target(&format!("http://{addr}/bad"))).await;
    assert!(!o.ok);
    assert_eq!(o.http_status, Some(503));
    assert_eq!(o.error.as_deref(), Some("HTTP status 503 (expected <500)"));

    let mut c = cfg(2000);
    c.expect = StatusMatch::parse(&["5xx"]).unwrap();
    c.host = Some("web.example".into());
    let p = prober(c, false);
    assert!(p.probe(&target(&format!("http://{addr}/bad"))).await.ok);
    let o = p.probe(&target(&format!("http://{addr}/host"))).await;
    assert_eq!(
        (o.ok, o.http_status),
        (false, Some(204)),
        "Host header sent"
    );
    let paths: Vec<_> = seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/ok", "/missing", "/bad", "/bad", "/host"]);
}

#[tokio::test]
async fn http_to_a_silent_server_times_out() {
    // Accepts, never answers.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let p = prober(cfg(200), false);
    let o = p.probe(&target(&format!("http://{addr}/"))).await;
    assert_eq!(o.error.as_deref(), Some("timeout after 200ms"));
    assert!(o.latency >= Duration::from_millis(200));
    drop(l);
}

#[tokio::test]
async fn https_insecure_passes_verified_fails_on_a_self_signed_cert() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let sc = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acc = tokio_rustls::TlsAcceptor::from(Arc::new(sc));
    let (addr, _) = http_server(Some(acc), by_path).await;
    let mut c = cfg(2000);
    c.insecure = true;
    let o = prober(c, true)
        .probe(&target(&format!("https://{addr}/ok")))
        .await;
    assert!(o.ok && o.http_status == Some(200), "{o:?}");
    let o = prober(cfg(2000), true)
        .probe(&target(&format!("https://{addr}/ok")))
        .await;
    assert!(!o.ok);
    assert!(o.error.as_deref().unwrap().starts_with("tls:"), "{o:?}");
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn metrics_endpoint_serves_the_registry() {
    let reg = Arc::new(Mutex::new(Registry::new([(
        "tcp://192.0.2.1:80".to_string(),
        "tcp",
    )])));
    reg.lock()
        .unwrap()
        .record(0, true, Duration::from_millis(2), None, Health::Up, 0);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(serve_metrics(l, reg.clone()));
    let r = get(addr, "/metrics").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("text/plain; version=0.0.4"), "{r}");
    let body = &r[r.find("\r\n\r\n").unwrap() + 4..];
    let s = parse(body).unwrap();
    assert!(
        s.iter()
            .any(|x| x.name == "hopdump_probe_success" && x.value == 1.0)
    );
    assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get(addr, "/other").await.starts_with("HTTP/1.1 404"));
}

#[tokio::test]
async fn webhook_posts_json_and_reports_refusals() {
    fn answer(path: &str, _: &str) -> u16 {
        if path == "/hook" { 202 } else { 500 }
    }
    let (addr, seen) = http_server(None, answer).await;
    let w = Webhook::parse(&format!("http://{addr}/hook")).unwrap();
    let code = w
        .post(br#"{"a":1}"#.to_vec(), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(code, 202);
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got,
        [("POST".into(), "/hook".into(), br#"{"a":1}"#.to_vec())]
    );
    let w = Webhook::parse(&format!("http://{addr}/broken")).unwrap();
    let e = w
        .post(b"{}".to_vec(), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(e.to_string().ends_with("answered HTTP 500"), "{e}");
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let e = Webhook::parse(&format!("http://{dead}/"))
        .unwrap()
        .post(b"{}".to_vec(), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(e.to_string().ends_with("connection refused"), "{e}");
}

#[test]
fn a_socket_thread_that_cannot_enter_reports_why() {
    let e = SocketFactory::spawn(|| Err(std::io::Error::other("no such netns"))).unwrap_err();
    assert_eq!(e.to_string(), "probe sockets: no such netns");
}
