//! `hopdump monitor`: probe LoadBalancer endpoints from the client's side every interval,
//! keep each target's up/down state, serve Prometheus metrics, and POST an alert (optionally
//! with `hopdump trace`'s verdict) when a target goes down or recovers. The probing, state,
//! metrics and documents live in `hopdump-monitor`; this file wires them to the clock, the
//! signals, stdout and the trace subprocess.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use hopdump_monitor::http::{Webhook, serve_metrics};
use hopdump_monitor::schema::{
    ALERT_SCHEMA, Alert, AlertState, ProbeLine, ROUND_SCHEMA, RoundLine, TraceAttachment,
};
use hopdump_monitor::time::rfc3339_ms;
use hopdump_monitor::{
    Health, ProbeConfig, ProbeOutcome, Prober, Registry, SocketFactory, StatusMatch, Target,
    Tracker, Transition,
};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cmd_arp::parse_duration;

#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// What to probe: tcp://IP:PORT (connect), udp://IP:PORT (a datagram and its reply),
    /// http://IP[:PORT][/PATH] or https://… (GET), or IP:PORT (tcp); IPv6 as [IP]:PORT.
    /// svc/NAME: every port of that LoadBalancer service (tcp/udp), resolved once at start.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub cluster: crate::cli::ClusterArgs,
    /// Time between probe rounds: seconds or with a unit (500ms, 5s, 1m).
    #[arg(long, default_value = "5s", value_name = "D")]
    pub interval: String,
    /// How long one probe may take.
    #[arg(long, default_value = "2s", value_name = "D")]
    pub timeout: String,
    /// Consecutive failures that take a target down (and raise the alert).
    #[arg(long = "fail-after", default_value_t = 3, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub fail_after: u32,
    /// Consecutive successes that bring a down target back up.
    #[arg(long = "recover-after", default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub recover_after: u32,
    /// HTTP status codes that count as success (default: below 500): 200, 200-299, 2xx;
    /// repeatable or comma-separated.
    #[arg(long = "expect-status", value_name = "CODES")]
    pub expect_status: Vec<String>,
    /// The datagram udp probes send (text, or hex:0a0b… for bytes).
    #[arg(
        long = "udp-payload",
        default_value = "hopdump monitor\n",
        value_name = "DATA"
    )]
    pub udp_payload: String,
    /// Host header and TLS server name for http/https probes (default: the target's address).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// https probes: accept any certificate (only the TLS handshake and the status count).
    #[arg(long)]
    pub insecure: bool,
    /// Network namespace to probe from: an `ip netns` name, pid:N or a path (default: this one).
    #[arg(long, value_name = "NS")]
    pub netns: Option<String>,
    /// Serve Prometheus metrics at /metrics (and /healthz) on ADDR, e.g. 127.0.0.1:9115 or
    /// :9115 (all addresses). Port 0 picks a free one (see --ready-file).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Write this file once probing starts (containing the --listen address actually bound).
    #[arg(long = "ready-file", value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// POST a JSON alert (hopdump.monitor.alert/1) here when a target goes down or recovers.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// When a target goes down, run `hopdump trace TARGET --json` and attach its verdict.
    #[arg(long = "trace-on-failure")]
    pub trace_on_failure: bool,
    /// An argument for that trace (repeatable), e.g. --trace-arg=--node --trace-arg=n1=netns:x.
    /// With --netns, `--client netns:NS` is added unless given here.
    #[arg(long = "trace-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub trace_args: Vec<String>,
    /// How long that trace may run before it is killed.
    #[arg(long = "trace-timeout", default_value = "60s", value_name = "D")]
    pub trace_timeout: String,
    /// Trace one LB address:port at most once per this period (a flapping target must not
    /// keep every hop captured); skipped traces say so in the alert.
    #[arg(long = "trace-every", default_value = "5m", value_name = "D")]
    pub trace_every: String,
    /// Stop after N rounds.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this long (default: run until Ctrl-C / SIGTERM).
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// Print JSON lines: one hopdump.monitor/1 per round, one hopdump.monitor.alert/1 per alert.
    #[arg(long)]
    pub json: bool,
}

/// Everything validated before anything starts.
struct Plan {
    targets: Vec<Target>,
    interval: Duration,
    probe: ProbeConfig,
    netns: Option<String>,
    listen: Option<SocketAddr>,
    ready_file: Option<PathBuf>,
    webhook: Option<Webhook>,
    trace: Option<TracePlan>,
    fail_after: u32,
    recover_after: u32,
    count: Option<u64>,
    duration: Option<Duration>,
    json: bool,
}

struct TracePlan {
    exe: PathBuf,
    /// Arguments after `trace TARGET --json`.
    extra: Vec<String>,
    timeout: Duration,
    every: Duration,
}

pub fn run(a: MonitorArgs) -> Result<ExitCode> {
    let plan = plan(a)?;
    let sockets = match &plan.netns {
        None => SocketFactory::current(),
        Some(spec) => {
            let ns = hopdump_capture::netns::parse_netns(spec)?;
            SocketFactory::spawn(move || {
                hopdump_capture::netns::enter_ns(&ns, "monitor")
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })?
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(monitor(plan, sockets))
}

fn plan(a: MonitorArgs) -> Result<Plan> {
    let mut targets = Vec::new();
    let mut view = None;
    for t in &a.targets {
        match t
            .strip_prefix("svc/")
            .or_else(|| t.strip_prefix("service/"))
        {
            Some(name) => targets.extend(service_targets(&a, &mut view, name)?),
            None => targets.push(Target::parse(t)?),
        }
    }
    let timeout = parse_duration(&a.timeout).context("--timeout")?;
    let listen = a.listen.as_deref().map(parse_listen).transpose()?;
    let webhook = a.webhook.as_deref().map(Webhook::parse).transpose()?;
    if !a.trace_args.is_empty() && !a.trace_on_failure {
        bail!("--trace-arg needs --trace-on-failure");
    }
    let trace = if a.trace_on_failure {
        let mut extra = Vec::new();
        if let Some(ns) = &a.netns
            && !a
                .trace_args
                .iter()
                .any(|x| x == "--client" || x.starts_with("--client="))
        {
            extra.push("--client".to_string());
            extra.push(format!("netns:{ns}"));
        }
        extra.extend(a.trace_args.iter().cloned());
        Some(TracePlan {
            exe: std::env::current_exe().context("cannot find this program to run trace")?,
            extra,
            timeout: parse_duration(&a.trace_timeout).context("--trace-timeout")?,
            every: parse_duration(&a.trace_every).context("--trace-every")?,
        })
    } else {
        None
    };
    if let Some(ns) = &a.netns {
        hopdump_capture::netns::parse_netns(ns)?;
    }
    Ok(Plan {
        interval: parse_duration(&a.interval).context("--interval")?,
        probe: ProbeConfig {
            timeout,
            expect: StatusMatch::parse(&a.expect_status)?,
            udp_payload: parse_payload(&a.udp_payload)?,
            host: a.host,
            insecure: a.insecure,
        },
        targets,
        netns: a.netns,
        listen,
        ready_file: a.ready_file,
        webhook,
        trace,
        fail_after: a.fail_after,
        recover_after: a.recover_after,
        count: a.count,
        duration: a.duration.as_deref().map(parse_duration).transpose()?,
        json: a.json,
    })
}

/// svc/NAME → one tcp:// or udp:// target per service port at its LoadBalancer IP. The
/// cluster's objects are loaded once, for every svc/ target.
fn service_targets(
    a: &MonitorArgs,
    view: &mut Option<hopdump_kube::ClusterView>,
    name: &str,
) -> Result<Vec<Target>> {
    let v = match view {
        Some(v) => v,
        None => view.insert(a.cluster.load(false)?),
    };
    let svc = hopdump_kube::resolve_service(v, &a.cluster.namespace, name)?;
    let ns = &a.cluster.namespace;
    let ip = svc.lb_ip.with_context(|| {
        format!("service {ns}/{name} has no LoadBalancer IP assigned (status.loadBalancer.ingress is empty)")
    })?;
    let mut out = Vec::new();
    for p in &svc.ports {
        let kind = match p.protocol {
            hopdump_kube::model::Protocol::Udp => hopdump_monitor::Kind::Udp,
            hopdump_kube::model::Protocol::Tcp => hopdump_monitor::Kind::Tcp,
            hopdump_kube::model::Protocol::Sctp => continue,
        };
        out.push(Target {
            kind,
            addr: SocketAddr::new(ip, p.port),
            path: String::new(),
        });
    }
    if out.is_empty() {
        bail!("service {ns}/{name} has no TCP or UDP port");
    }
    Ok(out)
}

/// `IP:PORT`, `[IPv6]:PORT`, or `:PORT` (all IPv4 addresses).
fn parse_listen(s: &str) -> Result<SocketAddr> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .with_context(|| format!("--listen {s:?}: expected IP:PORT, [IP]:PORT or :PORT"))
}

/// Text, or `hex:…` bytes.
fn parse_payload(s: &str) -> Result<Vec<u8>> {
    let Some(hex) = s.strip_prefix("hex:") else {
        return Ok(s.as_bytes().to_vec());
    };
    let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !hex.len().is_multiple_of(2) {
        bail!("--udp-payload {s:?}: odd number of hex digits");
    }
    hex.chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .with_context(|| format!("--udp-payload {s:?}: not hex"))
        })
        .collect()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A down/up alert waiting for its trace and delivery.
struct AlertJob {
    alert: Alert,
    trace_target: String,
}

async fn monitor(p: Plan, sockets: SocketFactory) -> Result<ExitCode> {
    let registry = Arc::new(Mutex::new(Registry::new(
        p.targets.iter().map(|t| (t.to_string(), t.kind.as_str())),
    )));
    let bound = match p.listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--listen {addr}"))?;
            let bound = l.local_addr()?;
            tokio::spawn(serve_metrics(l, registry.clone()));
            Some(bound)
        }
        None => None,
    };
    let need_tls = p
        .targets
        .iter()
        .any(|t| t.kind == hopdump_monitor::Kind::Https);
    let prober = Arc::new(Prober::new(sockets, p.probe.clone(), need_tls)?);
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    if let Some(f) = &p.ready_file {
        let text = bound.map(|a| format!("{a}\n")).unwrap_or_default();
        std::fs::write(f, text).with_context(|| format!("--ready-file {}", f.display()))?;
    }

    let (alert_tx, alert_rx) = mpsc::unbounded_channel::<AlertJob>();
    let trace_timeout = p.trace.as_ref().map(|t| t.timeout).unwrap_or_default();
    let worker = tokio::spawn(alert_worker(
        alert_rx,
        p.webhook.clone(),
        p.trace,
        registry.clone(),
        p.json,
    ));

    let mut trackers: Vec<Tracker> = p
        .targets
        .iter()
        .map(|_| Tracker::new(p.fail_after, p.recover_after))
        .collect();
    let deadline = p.duration.map(|d| tokio::time::Instant::now() + d);
    let mut ticker = tokio::time::interval(p.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round = 0u64;
    let mut result = Ok(());
    while p.count.is_none_or(|c| round < c) {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ticker.tick() => {}
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = until_deadline => break,
        }
        round += 1;
        let now = unix_ms();
        let outcomes = tokio::select! {
            o = probe_all(&prober, &p.targets) => o,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        };
        let mut lines = Vec::with_capacity(outcomes.len());
        {
            let mut reg = registry.lock().unwrap_or_else(|e| e.into_inner());
            for (i, ((t, o), tr)) in p
                .targets
                .iter()
                .zip(&outcomes)
                .zip(trackers.iter_mut())
                .enumerate()
            {
                let change = tr.observe(o.ok, o.error.as_deref(), now);
                reg.record(
                    i,
                    o.ok,
                    o.latency,
                    o.http_status,
                    tr.health(),
                    tr.consecutive_failures(),
                );
                if let Some(change) = change {
                    let _ = alert_tx.send(AlertJob {
                        alert: alert(t, o, tr, change, now),
                        trace_target: t.trace_target(),
                    });
                }
                lines.push(ProbeLine {
                    target: t.to_string(),
                    kind: t.kind.as_str().to_string(),
                    ok: o.ok,
                    latency_ms: ms(o.latency),
                    http_status: o.http_status,
                    error: o.error.clone(),
                    state: tr.health().as_str().to_string(),
                    consecutive_failures: tr.consecutive_failures(),
                });
            }
            reg.round();
        }
        let line = RoundLine {
            schema: ROUND_SCHEMA.to_string(),
            round,
            time: rfc3339_ms(now),
            unix_ms: now,
            results: lines,
        };
        if let Err(e) = print_line(&round_text(&line, p.json)) {
            result = Err(e);
            break;
        }
    }

    // Deliver what is queued (a down alert may still be waiting for its trace), bounded; a
    // second signal abandons it.
    drop(alert_tx);
    let flush = Duration::from_secs(15) + trace_timeout;
    tokio::select! {
        _ = tokio::time::timeout(flush, worker) => {}
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    result?;
    let all_up = trackers.iter().all(|t| t.health() == Health::Up);
    Ok(if all_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Probe every target at once; results in target order.
async fn probe_all(prober: &Arc<Prober>, targets: &[Target]) -> Vec<ProbeOutcome> {
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in targets.iter().enumerate() {
        let (pr, t) = (prober.clone(), t.clone());
        set.spawn(async move { (i, pr.probe(&t).await) });
    }
    let mut out: Vec<Option<ProbeOutcome>> = vec![None; targets.len()];
    while let Some(r) = set.join_next().await {
        if let Ok((i, o)) = r {
            out[i] = Some(o);
        }
    }
    out.into_iter()
        .map(|o| {
            o.unwrap_or(ProbeOutcome {
                ok: false,
                latency: Duration::ZERO,
                http_status: None,
                error: Some("probe task failed".into()),
            })
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn alert(t: &Target, o: &ProbeOutcome, tr: &Tracker, change: Transition, now: u64) -> Alert {
    let (ratio, window) = tr.success_ratio();
    let since = tr.since_ms().unwrap_or(now);
    Alert {
        schema: ALERT_SCHEMA.to_string(),
        target: t.to_string(),
        kind: t.kind.as_str().to_string(),
        state: match change {
            Transition::WentDown => AlertState::Down,
            Transition::Recovered => AlertState::Up,
        },
        since: rfc3339_ms(since),
        since_unix_ms: since,
        time: rfc3339_ms(now),
        last_error: tr.last_error().map(str::to_string),
        consecutive_failures: tr.consecutive_failures(),
        success_ratio: (ratio * 1e4).round() / 1e4,
        ratio_window: window,
        latency_ms: ms(o.latency),
        http_status: o.http_status,
        trace: None,
    }
}

/// Runs traces and posts webhooks one alert at a time, so a target's down and up alerts
/// arrive in order even when the trace is slow.
async fn alert_worker(
    mut rx: mpsc::UnboundedReceiver<AlertJob>,
    webhook: Option<Webhook>,
    trace: Option<TracePlan>,
    registry: Arc<Mutex<Registry>>,
    json: bool,
) {
    let mut traced: std::collections::HashMap<String, Instant> = Default::default();
    while let Some(job) = rx.recv().await {
        let mut a = job.alert;
        if let (Some(tp), AlertState::Down) = (&trace, a.state) {
            let last = traced.get(&job.trace_target).map(Instant::elapsed);
            a.trace = Some(match last {
                Some(ago) if ago < tp.every => TraceAttachment {
                    args: Vec::new(),
                    exit_code: None,
                    duration_ms: 0,
                    verdict: None,
                    error: Some(format!(
                        "skipped: {} was traced {}s ago (--trace-every {:?})",
                        job.trace_target,
                        ago.as_secs(),
                        tp.every
                    )),
                },
                _ => {
                    traced.insert(job.trace_target.clone(), Instant::now());
                    run_trace(tp, &job.trace_target).await
                }
            });
        }
        let _ = print_line(&alert_text(&a, json));
        let mut delivered = true;
        if let Some(w) = &webhook {
            delivered = false;
            let body = serde_json::to_vec(&a).unwrap_or_default();
            for attempt in 0..3u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
                match w.post(body.clone(), Duration::from_secs(5)).await {
                    Ok(_) => {
                        delivered = true;
                        break;
                    }
                    Err(e) => eprintln!("hopdump: monitor: {e} (attempt {})", attempt + 1),
                }
            }
        }
        registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .alert(a.state == AlertState::Down, delivered);
    }
}

/// `hopdump trace TARGET --json EXTRA…` with this binary, killed after the timeout.
async fn run_trace(tp: &TracePlan, target: &str) -> TraceAttachment {
    let mut args = vec![
        "trace".to_string(),
        target.to_string(),
        "--json".to_string(),
    ];
    args.extend(tp.extra.iter().cloned());
    let start = Instant::now();
    let mut cmd = tokio::process::Command::new(&tp.exe);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let r = tokio::time::timeout(tp.timeout, cmd.output()).await;
    let mut att = TraceAttachment {
        args,
        exit_code: None,
        duration_ms: start.elapsed().as_millis() as u64,
        verdict: None,
        error: None,
    };
    match r {
        Err(_) => att.error = Some(format!("no verdict within {:?} (killed)", tp.timeout)),
        Ok(Err(e)) => att.error = Some(format!("cannot run trace: {e}")),
        Ok(Ok(out)) => {
            att.exit_code = out.status.code();
            att.verdict = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v.get("verdict").cloned());
            if att.verdict.is_none() {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err.lines().rev().find(|l| !l.trim().is_empty());
                att.error = Some(last.unwrap_or("trace printed no verdict").to_string());
            }
        }
    }
    att
}

fn print_line(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}")?;
    out.flush()?;
    Ok(())
}

fn round_text(l: &RoundLine, json: bool) -> String {
    if json {
        return serde_json::to_string(l).unwrap_or_default();
    }
    let parts: Vec<String> = l
        .results
        .iter()
        .map(|r| {
            let state = match r.state.as_str() {
                "down" => "DOWN",
                s => s,
            };
            let detail = match (&r.error, r.http_status) {
                (None, Some(code)) => format!("{code} {:.1}ms", r.latency_ms),
                (None, None) => format!("{:.1}ms", r.latency_ms),
                (Some(e), _) => format!("✘ {e} ({}×)", r.consecutive_failures),
            };
            format!("{} {state} {detail}", r.target)
        })
        .collect();
    format!("{} #{} {}", l.time, l.round, parts.join(" | "))
}

fn alert_text(a: &Alert, json: bool) -> String {
    if json {
        return serde_json::to_string(a).unwrap_or_default();
    }
    let mut s = match a.state {
        AlertState::Down => format!(
            "ALERT {} DOWN since {}: {} ({} failures in a row, {:.0}% of the last {} probes ok)",
            a.target,
            a.since,
            a.last_error.as_deref().unwrap_or("failed"),
            a.consecutive_failures,
            a.success_ratio * 100.0,
            a.ratio_window
        ),
        AlertState::Up => format!(
            "RECOVERED {} up since {} ({:.1}ms)",
            a.target, a.since, a.latency_ms
        ),
    };
    if let Some(t) = &a.trace {
        match &t.verdict {
            Some(v) => {
                let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
                s.push_str(&format!("; trace: {}", field("code")));
                if !field("node").is_empty() {
                    s.push_str(&format!(" on {}", field("node")));
                }
                if !field("summary").is_empty() {
                    s.push_str(&format!(" — {}", field("summary")));
                }
            }
            None => s.push_str(&format!(
                "; trace: {}",
                t.error.as_deref().unwrap_or("no verdict")
            )),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_and_payload_forms() {
        assert_eq!(
            parse_listen(":9115").ok(),
            "0.0.0.0:9115".parse::<SocketAddr>().ok()
        );
        assert!(parse_listen("[::1]:0").is_ok());
        assert!(parse_listen("localhost:1").is_err());
        assert_eq!(parse_payload("hi").ok(), Some(b"hi".to_vec()));
        assert_eq!(parse_payload("hex:0a ff").ok(), Some(vec![0x0a, 0xff]));
        assert!(parse_payload("hex:abc").is_err());
        assert!(parse_payload("hex:zz").is_err());
    }
}
