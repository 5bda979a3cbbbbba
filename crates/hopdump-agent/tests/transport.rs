//! The transport end to end on loopback: authentication (token, mutual TLS, wrong and
//! missing credentials), unary calls, streams, backpressure, clock offset, a dying agent.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use hopdump_agent::proto::{CaptureReq, FindPodReq, PointReq};
use hopdump_agent::server::{self, Handler, ServerOptions, Sink};
use hopdump_agent::{AgentClient, AgentError, Call, ClientOptions, tls};

/// Streams `n` chunks of 64 KiB, counting what it managed to write.
struct Fake {
    written: Arc<AtomicU64>,
}

impl Handler for Fake {
    fn unary(&self, call: Call) -> Result<serde_json::Value, String> {
        match call {
            Call::FindPod(r) => Ok(serde_json::json!({ "asked": r.ip })),
            _ => Err("not here".into()),
        }
    }
    fn stream(&self, call: Call, sink: &mut Sink) -> Result<(), String> {
        let Call::Capture(r) = call else {
            return Err("no".into());
        };
        if r.points[0].iface == "missing0" {
            return Err("no such interface missing0".into());
        }
        sink.ready();
        use std::io::Write;
        let chunk = vec![7u8; 65536];
        for _ in 0..r.max_frames {
            if sink.write_all(&chunk).is_err() {
                return Ok(());
            }
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

struct Agent {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
    written: Arc<AtomicU64>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn agent(mtls: bool) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    tls::init(dir.path()).unwrap();
    let key = tls::read(&dir.path().join(tls::CA_KEY)).unwrap();
    let ca = tls::read(&dir.path().join(tls::CA_CERT)).unwrap();
    let (chain, k) = tls::issue_server_cert(&key, &["127.0.0.1".into()]).unwrap();
    let cfg = tls::server_config(chain, k, mtls.then_some(ca.as_str())).unwrap();
    let token = tls::read(&dir.path().join(tls::TOKEN))
        .unwrap()
        .trim()
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    let s2 = stop.clone();
    let w2 = written.clone();
    let thread = std::thread::spawn(move || {
        server::serve(
            ServerOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: cfg,
                token: Some(token),
                mtls,
                reviewer: None,
                node: "node1".into(),
            },
            Arc::new(Fake { written: w2 }),
            s2,
            |a| tx.send(a).unwrap(),
        )
        .unwrap();
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Agent {
        addr,
        stop,
        thread: Some(thread),
        dir,
        written,
    }
}

fn opts(a: &Agent, token: Option<&str>, client_cert: bool) -> ClientOptions {
    let ca = tls::read(&a.dir.path().join(tls::CA_CERT)).unwrap();
    let cc = client_cert.then(|| {
        (
            tls::certs_from_pem(
                &tls::read(&a.dir.path().join(tls::CLIENT_CERT)).unwrap(),
                "c",
            )
            .unwrap(),
            tls::key_from_pem(
                &tls::read(&a.dir.path().join(tls::CLIENT_KEY)).unwrap(),
                "k",
            )
            .unwrap(),
        )
    });
    ClientOptions {
        tls: tls::client_config(&ca, cc).unwrap(),
        token: token.map(str::to_string),
        connect_timeout: Duration::from_secs(3),
        call_timeout: Duration::from_secs(10),
    }
}

fn token(a: &Agent) -> String {
    tls::read(&a.dir.path().join(tls::TOKEN))
        .unwrap()
        .trim()
        .to_string()
}

fn capture(iface: &str, chunks: u64) -> Call {
    Call::Capture(CaptureReq {
        points: vec![PointReq {
            label: "n/x".into(),
            netns: String::new(),
            iface: iface.into(),
        }],
        filter: None,
        snaplen: 100,
        duration_ms: 1000,
        max_frames: chunks,
        id: String::new(),
    })
}

#[test]
fn token_calls_streams_and_clock() {
    let a = agent(false);
    let c = AgentClient::connect("node1", a.addr, opts(&a, Some(&token(&a)), false)).unwrap();
    let (h, off) = c.hello().unwrap();
    assert_eq!((h.node.as_str(), h.caller.as_str()), ("node1", "token"));
    // Same host, same clock: the estimate is within its own uncertainty.
    assert!(
        off.offset_ns.unsigned_abs() <= off.rtt_ns.max(1_000_000),
        "{off:?}"
    );
    let v: serde_json::Value = c
        .call(&Call::FindPod(FindPodReq {
            ip: "10.244.1.2".parse().unwrap(),
        }))
        .unwrap();
    assert_eq!(v["asked"], "10.244.1.2");
    // A handler error is the call's error, named.
    let e = c.call::<serde_json::Value>(&Call::NsInfo(Default::default()));
    assert!(matches!(e, Err(AgentError::Remote { .. })), "{e:?}");
    // A stream arrives whole.
    let mut s = c
        .stream(
            &capture("eth0", 40),
            Instant::now() + Duration::from_secs(20),
        )
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), 40 * 65536);
    // An error before the stream is armed comes back as the answer.
    let e = c.stream(
        &capture("missing0", 1),
        Instant::now() + Duration::from_secs(5),
    );
    assert!(
        matches!(&e, Err(AgentError::Remote { detail, .. }) if detail.contains("missing0")),
        "{:?}",
        e.err()
    );
}

#[test]
fn backpressure_bounds_what_the_agent_buffers() {
    let a = agent(false);
    let c = AgentClient::connect("node1", a.addr, opts(&a, Some(&token(&a)), false)).unwrap();
    let mut s = c
        .stream(
            &capture("eth0", 10_000),
            Instant::now() + Duration::from_secs(60),
        )
        .unwrap();
    // Not reading: the agent's writes must stall well before 10,000 chunks (655 MB).
    let mut last = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(40));
        let now = a.written.load(Ordering::Relaxed);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let stalled = a.written.load(Ordering::Relaxed);
    assert!(
        stalled < 1000,
        "agent wrote {stalled} chunks with nobody reading"
    );
    // Reading resumes the stream.
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0usize;
    while got < (stalled as usize + 200) * 65536 {
        got += s.read(&mut buf).unwrap();
    }
    assert!(a.written.load(Ordering::Relaxed) > stalled);
}

#[test]
fn wrong_or_missing_credentials_are_refused() {
    let a = agent(false);
    let bad = AgentClient::connect("node1", a.addr, opts(&a, Some("nope"), false)).unwrap();
    let e = bad.hello();
    assert!(
        matches!(&e, Err(AgentError::Refused { detail, .. }) if detail.contains("wrong token")),
        "{e:?}"
    );
    let none = AgentClient::connect("node1", a.addr, opts(&a, None, false)).unwrap();
    assert!(matches!(none.hello(), Err(AgentError::Refused { .. })));
    // A client certificate is no credential unless mutual TLS is on.
    let cert = AgentClient::connect("node1", a.addr, opts(&a, None, true)).unwrap();
    assert!(matches!(cert.hello(), Err(AgentError::Refused { .. })));
    // Another CA's agent is not trusted at all.
    let other = agent(false);
    let e = AgentClient::connect("node1", other.addr, opts(&a, Some(&token(&a)), false));
    assert!(
        matches!(e, Err(AgentError::Connect { .. })),
        "{:?}",
        e.err()
    );
}

#[test]
fn mutual_tls_authenticates_without_a_token() {
    let a = agent(true);
    let c = AgentClient::connect("node1", a.addr, opts(&a, None, true)).unwrap();
    let (h, _) = c.hello().unwrap();
    assert!(h.caller.starts_with("client certificate "), "{}", h.caller);
    let none = AgentClient::connect("node1", a.addr, opts(&a, None, false)).unwrap();
    assert!(matches!(none.hello(), Err(AgentError::Refused { .. })));
}

#[test]
fn a_dying_agent_breaks_the_stream_with_an_error() {
    let mut a = agent(false);
    let c = AgentClient::connect("node1", a.addr, opts(&a, Some(&token(&a)), false)).unwrap();
    let mut s = c
        .stream(
            &capture("eth0", 1_000_000),
            Instant::now() + Duration::from_secs(30),
        )
        .unwrap();
    let mut buf = vec![0u8; 65536];
    s.read_exact(&mut buf).unwrap();
    a.stop.store(true, Ordering::Relaxed);
    a.thread.take().unwrap().join().unwrap();
    let t0 = Instant::now();
    let r = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(_) => continue,
            Err(e) => break Err(e),
        }
    };
    assert!(
        r.is_err(),
        "a stream cut by the agent's death must not look complete"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
}
