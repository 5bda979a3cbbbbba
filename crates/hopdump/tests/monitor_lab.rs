//! `hopdump monitor`, the real binary: exit codes, JSON lines, the webhook's down and recovery
//! alerts against a local server (no privileges), and on the lab's real cluster (root) a
//! healthy LB that a host firewall then breaks — metrics scraped while up, alerts with the
//! trace verdict naming the fault when it goes down, a control target that stays up.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use hopdump_monitor::metrics::{Sample, parse};
use hopdump_monitor::schema::{Alert, AlertState, RoundLine};
use hopdump_testkit::lab::fault::Fault;
use hopdump_testkit::lab::{Cluster, Spec};

/// The monitor process; killed if a test fails before it is stopped.
struct Monitor {
    child: Child,
    lines: Receiver<String>,
}

impl Monitor {
    fn start(args: &[String]) -> Monitor {
        let mut child = hopdump()
            .arg("monitor")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = reader(child.stdout.take().unwrap());
        Monitor { child, lines }
    }

    /// Next stdout line (a round or an alert), within `secs`.
    fn line(&self, secs: u64) -> serde_json::Value {
        let l = self
            .lines
            .recv_timeout(Duration::from_secs(secs))
            .expect("a line from monitor");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"))
    }

    /// Rounds until one satisfies `f` (alerts on the way are returned too).
    fn round_until(&self, secs: u64, f: impl Fn(&RoundLine) -> bool) -> (RoundLine, Vec<Alert>) {
        let mut alerts = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let v = self.line(left.as_secs().max(1));
            if v["schema"] == "hopdump.monitor.alert/1" {
                alerts.push(serde_json::from_value(v).unwrap());
                continue;
            }
            let r: RoundLine = serde_json::from_value(v).unwrap();
            assert_eq!(r.schema, "hopdump.monitor/1");
            if f(&r) {
                return (r, alerts);
            }
        }
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> i32 {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child
            .wait()
            .unwrap()
            .code()
            .expect("exited, not killed")
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reader(out: ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// A webhook receiver on 127.0.0.1: every POST body, parsed as a strict alert document.
fn webhook() -> (String, Receiver<Alert>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alert", l.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            assert!(first.starts_with("POST /alert HTTP/1.1"), "{first}");
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            let a: Alert = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
            if tx.send(a).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

/// GET /metrics from the address in the ready file, parsed strictly.
fn scrape(ready: &Path) -> Vec<Sample> {
    let addr: SocketAddr = std::fs::read_to_string(ready)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    parse(&r[r.find("\r\n\r\n").unwrap() + 4..]).unwrap()
}

fn value(s: &[Sample], name: &str, target: &str) -> f64 {
    s.iter()
        .find(|x| x.name == name && x.label("target") == Some(target))
        .unwrap_or_else(|| panic!("{name}{{target={target}}} missing"))
        .value
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        &["monitor", "ftp://192.0.2.1:21"][..],
        &["monitor", "192.0.2.1"],
        &["monitor", "192.0.2.1:80", "--interval", "0"],
        &["monitor", "192.0.2.1:80", "--expect-status", "abc"],
        &["monitor", "192.0.2.1:80", "--webhook", "ftp://x/"],
        &["monitor", "192.0.2.1:80", "--listen", "nowhere"],
        &["monitor", "192.0.2.1:80", "--trace-arg=--node"],
        &[
            "monitor",
            "192.0.2.1:80",
            "--netns",
            "hopdump-no-such-ns",
            "--count",
            "1",
        ],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.starts_with("hopdump: "), "{args:?}: {e}");
    }
    let kube = |case: &str| {
        format!(
            "{}/../../tests/scenarios/kube/{case}",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    for (args, why) in [
        (
            ["svc/web", "--from-dir", &kube("no-lb-ip")],
            "no LoadBalancer IP",
        ),
        (["svc/nope", "--from-dir", &kube("healthy")], "nope"),
    ] {
        let o = hopdump().arg("monitor").args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains(why), "{args:?}: {e}");
    }
    // clap's own usage errors also exit 2.
    assert_eq!(run(&["monitor"]).status.code(), Some(2));
}

#[test]
fn exit_code_says_whether_every_target_is_up() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap();
    let o = run(&[
        "monitor",
        &up.to_string(),
        "--count",
        "2",
        "--interval",
        "50ms",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rounds: Vec<RoundLine> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rounds.len(), 2);
    assert_eq!(rounds[1].round, 2);
    let r = &rounds[0].results[0];
    assert_eq!(
        (r.ok, r.state.as_str(), r.kind.as_str()),
        (true, "up", "tcp")
    );
    assert_eq!(r.target, format!("tcp://{up}"));

    let down = format!("127.0.0.1:{}", free_port());
    let o = run(&[
        "monitor",
        &up.to_string(),
        &down,
        "--count",
        "1",
        "--fail-after",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(" DOWN ✘ connection refused (1×)"), "{text}");
    assert!(text.contains("ALERT tcp://127.0.0.1:"), "{text}");
}

#[test]
fn a_closed_output_pipe_ends_it_with_exit_0() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = hopdump()
        .args(["monitor", &l.local_addr().unwrap().to_string()])
        .args(["--interval", "50ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains(" up "), "{first}");
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn webhook_gets_down_then_recovery_and_sigterm_stops_cleanly() {
    let port = free_port();
    let target = format!("tcp://127.0.0.1:{port}");
    let (url, alerts) = webhook();
    let m = Monitor::start(&[
        target.clone(),
        "--interval".into(),
        "100ms".into(),
        "--timeout".into(),
        "500ms".into(),
        "--fail-after".into(),
        "2".into(),
        "--recover-after".into(),
        "2".into(),
        "--webhook".into(),
        url,
        "--json".into(),
    ]);
    let a = alerts.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(
        (a.state, a.target.as_str()),
        (AlertState::Down, target.as_str())
    );
    assert_eq!(a.schema, "hopdump.monitor.alert/1");
    assert_eq!(a.consecutive_failures, 2);
    assert_eq!(a.last_error.as_deref(), Some("connection refused"));
    assert_eq!(a.success_ratio, 0.0);
    assert!(a.trace.is_none());
    // The service comes back.
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let b = alerts.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!((b.state, b.consecutive_failures), (AlertState::Up, 0));
    assert!(b.since_unix_ms > a.since_unix_ms);
    assert_eq!(b.last_error.as_deref(), Some("connection refused"));
    assert!(b.success_ratio > 0.0 && b.success_ratio < 1.0, "{b:?}");
    // The same two alerts were printed on stdout, in order, between the rounds.
    let mut printed = Vec::new();
    while printed.len() < 2 {
        let v = m.line(30);
        if v["schema"] == "hopdump.monitor.alert/1" {
            printed.push(serde_json::from_value::<Alert>(v).unwrap());
        }
    }
    assert_eq!(printed, [a, b]);
    assert_eq!(m.stop(), 0, "all up at the end");
}

#[test]
fn a_failed_trace_and_a_skipped_one_are_reported_in_the_alerts() {
    let port = free_port();
    let (url, alerts) = webhook();
    let m = Monitor::start(&[
        format!("127.0.0.1:{port}"),
        "--interval".into(),
        "100ms".into(),
        "--fail-after".into(),
        "1".into(),
        "--recover-after".into(),
        "1".into(),
        "--webhook".into(),
        url,
        "--trace-on-failure".into(),
        "--json".into(),
    ]);
    // No --node: trace refuses (exit 2), and the alert carries its one-line error.
    let a = alerts.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(a.state, AlertState::Down);
    let t = a.trace.unwrap();
    assert_eq!(
        t.args,
        ["trace", &format!("127.0.0.1:{port}/tcp"), "--json"]
    );
    assert_eq!((t.exit_code, t.verdict), (Some(2), None));
    assert!(
        t.error.as_deref().unwrap().contains("--node"),
        "{:?}",
        t.error
    );
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let b = alerts.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!((b.state, b.trace), (AlertState::Up, None));
    drop(l);
    // Down again within --trace-every: not traced again.
    let c = alerts.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(c.state, AlertState::Down);
    let t = c.trace.unwrap();
    assert!(
        t.error.as_deref().unwrap().starts_with("skipped: "),
        "{t:?}"
    );
    assert_eq!(m.stop(), 1);
}

/// ForwardDrop on the announcing node: the LB's http and udp targets go down with timeouts,
/// the trace attached to the alert says `firewall_drop` on that node; a tcp target on the
/// client namespace's own loopback (reachable only from inside it) stays up.
#[test]
fn lab_forward_drop_goes_down_with_the_trace_verdict() {
    if !lab_allowed() {
        return;
    }
    let fault = Fault::ForwardDrop;
    let mut c = Cluster::build(fault.spec(Spec::default())).unwrap();
    let control = c
        .lab()
        .within("client", || TcpListener::bind("127.0.0.1:0"))
        .unwrap()
        .unwrap();
    let control_target = format!("tcp://{}", control.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in control.incoming() {
            drop(s);
        }
    });
    let http = format!("http://{}:80/", c.lb(false));
    let udp = format!("udp://{}:9000", c.lb(false));
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let (url, alerts) = webhook();
    let mut args: Vec<String> = vec![
        http.clone(),
        udp.clone(),
        control_target.clone(),
        "--netns".into(),
        c.lab().ns("client"),
        "--interval".into(),
        "300ms".into(),
        "--timeout".into(),
        "1s".into(),
        "--fail-after".into(),
        "2".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--ready-file".into(),
        ready.display().to_string(),
        "--webhook".into(),
        url,
        "--trace-on-failure".into(),
        "--duration".into(),
        "300s".into(),
        "--json".into(),
    ];
    for n in &c.nodes {
        args.push("--trace-arg=--node".into());
        args.push(format!(
            "--trace-arg={}=netns:{}",
            n.name,
            c.lab().ns(&n.ns)
        ));
    }
    let m = Monitor::start(&args);

    // Healthy: every target up, the metrics say so, with latencies in the histogram.
    let (r, early) = m.round_until(60, |r| r.results.iter().all(|x| x.ok));
    assert!(early.is_empty(), "no alert while healthy: {early:?}");
    assert_eq!(r.results[0].http_status, Some(200));
    assert!(r.results.iter().all(|x| x.state == "up"), "{r:?}");
    let s = scrape(&ready);
    for t in [&http, &udp, &control_target] {
        assert_eq!(value(&s, "hopdump_probe_success", t), 1.0, "{t}");
        assert_eq!(value(&s, "hopdump_target_up", t), 1.0, "{t}");
    }
    let count = value(&s, "hopdump_probe_duration_seconds_count", &http);
    assert!(count >= 1.0);
    let inf = s
        .iter()
        .find(|x| {
            x.name == "hopdump_probe_duration_seconds_bucket"
                && x.label("target") == Some(&http)
                && x.label("le") == Some("+Inf")
        })
        .unwrap();
    assert_eq!(inf.value, count);
    assert!(value(&s, "hopdump_probe_duration_seconds_sum", &http) > 0.0);
    assert_eq!(value(&s, "hopdump_probe_http_status", &http), 200.0);
    assert!(alerts.try_recv().is_err());

    // Break it.
    let announcer = fault.inject(&mut c).unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(alerts.recv_timeout(Duration::from_secs(150)).unwrap());
    }
    got.sort_by_key(|a| a.kind.clone());
    let (h, u) = (&got[0], &got[1]);
    assert_eq!(
        (h.target.as_str(), u.target.as_str()),
        (http.as_str(), udp.as_str())
    );
    for a in &got {
        assert_eq!(a.state, AlertState::Down, "{a:?}");
        assert!(a.consecutive_failures >= 2, "{a:?}");
        assert!(a.success_ratio > 0.0 && a.success_ratio < 1.0, "{a:?}");
        let t = a.trace.as_ref().expect("trace attached");
        assert_eq!(
            t.args[..3],
            ["trace".to_string(), a.target_trace(), "--json".into()]
        );
        assert!(t.args.contains(&format!("netns:{}", c.lab().ns("client"))));
        assert!(t.verdict.is_some(), "{t:?}");
    }
    assert!(
        h.last_error
            .as_deref()
            .unwrap()
            .starts_with("timeout after 1s"),
        "{h:?}"
    );
    let v = h.trace.as_ref().unwrap().verdict.as_ref().unwrap();
    assert_eq!(
        (v["code"].as_str(), v["node"].as_str()),
        (Some("firewall_drop"), Some(announcer.as_str())),
        "{v:#}"
    );
    eprintln!(
        "trace took {} ms: {} / udp: {}",
        h.trace.as_ref().unwrap().duration_ms,
        v["summary"],
        u.trace.as_ref().unwrap().verdict.as_ref().unwrap()["code"]
    );

    // The control stayed up; the metrics show the outage.
    let (r, _) = m.round_until(60, |r| r.results[0].state == "down" && r.round > 0);
    assert!(r.results[2].ok && r.results[2].state == "up", "{r:?}");
    let s = scrape(&ready);
    assert_eq!(value(&s, "hopdump_probe_success", &http), 0.0);
    assert_eq!(value(&s, "hopdump_target_up", &http), 0.0);
    assert_eq!(value(&s, "hopdump_target_up", &udp), 0.0);
    assert_eq!(value(&s, "hopdump_target_up", &control_target), 1.0);
    assert!(value(&s, "hopdump_probe_failures_total", &http) >= 2.0);
    assert!(alerts.try_recv().is_err(), "no alert for the control");
    assert_eq!(m.stop(), 1, "some target down at the end");
}

trait TraceTarget {
    fn target_trace(&self) -> String;
}

impl TraceTarget for Alert {
    /// `http://IP:80/` -> `IP:80/tcp`, `udp://IP:9000` -> `IP:9000/udp`.
    fn target_trace(&self) -> String {
        hopdump_monitor::Target::parse(&self.target)
            .unwrap()
            .trace_target()
    }
}

/// IPv6 targets (`[IP]:PORT`) and svc/NAME (resolved from a bundle whose LB IP is the lab's)
/// through the client namespace of a dual-stack cluster.
#[test]
fn lab_ipv6_and_svc_targets_are_up_through_the_netns() {
    if !lab_allowed() {
        return;
    }
    let c = Cluster::build(Spec {
        dual_stack: true,
        ..Spec::default()
    })
    .unwrap();
    let http = format!("http://[{}]:80/small", c.lb(true));
    let udp = format!("udp://[{}]:9000", c.lb(true));
    // The healthy bundle's service, moved to the lab's LB IP.
    let bundle = tempfile::tempdir().unwrap();
    let src = format!(
        "{}/../../tests/scenarios/kube/healthy",
        env!("CARGO_MANIFEST_DIR")
    );
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        let text = std::fs::read_to_string(f.path()).unwrap();
        let text = text.replace("192.168.1.240", &c.lb(false).to_string());
        std::fs::write(bundle.path().join(f.file_name()), text).unwrap();
    }
    let o = run(&[
        "monitor",
        &http,
        &udp,
        "svc/web",
        "--from-dir",
        bundle.path().to_str().unwrap(),
        "--netns",
        &c.lab().ns("client"),
        "--count",
        "3",
        "--interval",
        "200ms",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let last: RoundLine = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(last.round, 3);
    assert_eq!(last.results[0].target, http);
    assert_eq!(last.results[0].http_status, Some(200));
    assert_eq!(
        last.results[2].target,
        format!("tcp://{}:80", c.lb(false)),
        "svc/web"
    );
    assert!(
        last.results.iter().all(|r| r.ok && r.state == "up"),
        "{last:?}"
    );
}
