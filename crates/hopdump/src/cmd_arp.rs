//! `hopdump arp`: who answers ARP / neighbour discovery for an IP (step 1 of the seed guide),
//! actively or by watching, rendered as text or the versioned `hopdump.arp/1` JSON.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hopdump_capture::Netns;
use hopdump_node::analysis::arp::{
    self as analysis, ArpEvent, ArpEvidence, EventKind, MacChange, Mode, NodeHint, Responder,
};
use hopdump_node::analysis::{Finding, has_problem};
use hopdump_node::arp::{ArpOptions, collect};
use hopdump_node::frames::{mac_str, parse_mac};
use serde::Serialize;

use crate::cli::ArpArgs;

/// Version of the `--json` document.
pub const ARP_SCHEMA: &str = "hopdump.arp/1";

/// `hopdump arp --json`: the whole observation and its findings.
#[derive(Serialize)]
pub struct ArpReport<'a> {
    pub schema: &'static str,
    pub ip: IpAddr,
    pub netns: String,
    pub iface: &'a str,
    pub iface_mac: &'a str,
    /// `active` or `watch`.
    pub mode: Mode,
    pub duration_ms: u64,
    pub requests_sent: usize,
    /// Every MAC that claimed the IP, first seen first.
    pub responders: Vec<JsonResponder<'a>>,
    /// Each change of the MAC claiming the IP.
    pub mac_changes: &'a [MacChange],
    /// Every frame about the IP, in order.
    pub events: &'a [ArpEvent],
    pub findings: &'a [Finding],
}

/// One responder in the JSON document.
#[derive(Serialize)]
pub struct JsonResponder<'a> {
    pub mac: &'a str,
    pub count: u32,
    pub replies: u32,
    pub gratuitous: u32,
    pub node: Option<&'a str>,
    pub iface: Option<&'a str>,
    pub known_ips: &'a [IpAddr],
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub first_seen_unix_ms: u64,
    pub last_seen_unix_ms: u64,
}

/// `500ms`, `2s`, `1.5`, `1m` -> Duration.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .parse()
        .with_context(|| format!("cannot read duration {s:?} (e.g. 2, 500ms, 3s, 1m)"))?;
    if !v.is_finite() || v <= 0.0 {
        bail!("duration {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(v * mult))
}

fn parse_hint(s: &str) -> Result<NodeHint> {
    let (who, mac) = s
        .split_once('=')
        .with_context(|| format!("--node {s:?}: expected NAME=MAC or NAME/IFACE=MAC"))?;
    let mac = parse_mac(mac).with_context(|| format!("--node {s:?}: {mac:?} is not a MAC"))?;
    let (name, iface) = match who.split_once('/') {
        Some((n, i)) => (n.to_string(), Some(i.to_string())),
        None => (who.to_string(), None),
    };
    Ok(NodeHint {
        name,
        iface,
        mac: mac_str(&mac),
    })
}

fn secs(ms: u64) -> String {
    format!("+{:.3}s", ms as f64 / 1000.0)
}

fn event_line(ip: IpAddr, e: &ArpEvent) -> String {
    let what = match e.kind {
        EventKind::Request if e.ours => format!("who-has {ip} (sent by hopdump)"),
        EventKind::Request => match e.sender_ip {
            Some(s) => format!("who-has {ip} tell {s} ({})", e.mac),
            None => format!("who-has {ip} from {} (address probe)", e.mac),
        },
        EventKind::Reply => format!("reply {ip} is-at {}", e.mac),
        EventKind::Gratuitous => format!("gratuitous {ip} is-at {}", e.mac),
        EventKind::UnsolicitedNa => format!("unsolicited advertisement {ip} is-at {}", e.mac),
    };
    let via = if e.kind.is_answer() && e.eth_src != e.mac {
        format!(" (frame from {})", e.eth_src)
    } else {
        String::new()
    };
    format!("{} {what}{via}", secs(e.t_ms))
}

fn render_text(
    ev: &ArpEvidence,
    netns: &str,
    resp: &[Responder],
    changes: &[MacChange],
    findings: &[Finding],
) -> String {
    let mut out = String::new();
    let sent = ev.events.iter().filter(|e| e.ours).count();
    let _ = match ev.mode {
        Mode::Active => writeln!(
            out,
            "arp {} on {} ({}) in {netns}: {sent} request(s) over {:.1}s",
            ev.target,
            ev.iface,
            ev.iface_mac,
            ev.duration_ms as f64 / 1000.0
        ),
        Mode::Watch => writeln!(
            out,
            "arp watch {} on {} in {netns}: {} event(s) in {:.1}s",
            ev.target,
            ev.iface,
            ev.events.len(),
            ev.duration_ms as f64 / 1000.0
        ),
    };
    if resp.is_empty() {
        let _ = writeln!(out, "responders: none");
    } else {
        let _ = writeln!(out, "responders:");
        for r in resp {
            let mut who = Vec::new();
            if let Some(n) = &r.node {
                who.push(n.clone());
            }
            if let Some(i) = &r.iface {
                who.push(format!("iface {i}"));
            }
            for ip in &r.known_ips {
                who.push(ip.to_string());
            }
            let who = if who.is_empty() {
                String::new()
            } else {
                format!(" ({})", who.join(", "))
            };
            let _ = writeln!(
                out,
                "  {}{who}: {} frame(s) — {} repl{}, {} announcement(s); first {} last {}",
                r.mac,
                r.count,
                r.replies,
                if r.replies == 1 { "y" } else { "ies" },
                r.gratuitous,
                secs(r.first_ms),
                secs(r.last_ms)
            );
        }
    }
    if !changes.is_empty() {
        let _ = writeln!(out, "MAC changes:");
        for c in changes {
            let _ = writeln!(
                out,
                "  {} {} -> {} ({:?})",
                secs(c.t_ms),
                analysis::label(ev, &c.from),
                analysis::label(ev, &c.to),
                c.via
            );
        }
    }
    if !findings.is_empty() {
        let _ = writeln!(out, "findings:");
        for f in findings {
            let sev = match f.severity {
                hopdump_node::analysis::Severity::Problem => "PROBLEM",
                hopdump_node::analysis::Severity::Warning => "warning",
                hopdump_node::analysis::Severity::Info => "info",
            };
            let _ = writeln!(out, "  {sev} [{}] {}", f.code, f.message);
        }
    }
    out
}

pub fn run(args: ArpArgs) -> Result<ExitCode> {
    let netns = match &args.netns {
        Some(s) => hopdump_capture::netns::parse_netns(s)?,
        None => Netns::Current,
    };
    let netns_label = match &netns {
        Netns::Current => "this namespace".to_string(),
        n => n.to_string(),
    };
    let mode = if args.watch {
        Mode::Watch
    } else {
        Mode::Active
    };
    let duration = match (&args.duration, mode) {
        (Some(d), _) => Some(parse_duration(d)?),
        (None, Mode::Active) => Some(Duration::from_secs(2)),
        (None, Mode::Watch) => None,
    };
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let hints = args
        .nodes
        .iter()
        .map(|s| parse_hint(s))
        .collect::<Result<Vec<_>>>()?;
    let opts = ArpOptions {
        target: args.ip,
        iface: args.iface.clone(),
        mode,
        duration,
        requests: args.count,
        hints,
        expect_iface: args.expect_iface.clone(),
        netns_label: netns_label.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handler")?;
    }
    let ready_file = args.ready_file.clone();
    let live = mode == Mode::Watch && !args.json;
    let ip = args.ip;
    let ev = hopdump_node::in_netns(&netns, "arp", move || {
        collect(
            &opts,
            &stop,
            |iface| {
                if live {
                    println!("listening on {iface} for ARP/NDP about {ip}");
                    let _ = std::io::stdout().flush();
                }
                if let Some(p) = &ready_file {
                    let _ = std::fs::write(p, format!("{iface}\n"));
                }
            },
            |e| {
                if live {
                    println!("{}", event_line(ip, e));
                    let _ = std::io::stdout().flush();
                }
            },
        )
    })?;
    let resp = analysis::responders(&ev);
    let changes = analysis::mac_changes(&ev);
    let findings = analysis::findings(&ev);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let report = ArpReport {
            schema: ARP_SCHEMA,
            ip: ev.target,
            netns: netns_label,
            iface: &ev.iface,
            iface_mac: &ev.iface_mac,
            mode: ev.mode,
            duration_ms: ev.duration_ms,
            requests_sent: ev.events.iter().filter(|e| e.ours).count(),
            responders: resp
                .iter()
                .map(|r| JsonResponder {
                    mac: &r.mac,
                    count: r.count,
                    replies: r.replies,
                    gratuitous: r.gratuitous,
                    node: r.node.as_deref(),
                    iface: r.iface.as_deref(),
                    known_ips: &r.known_ips,
                    first_seen_ms: r.first_ms,
                    last_seen_ms: r.last_ms,
                    first_seen_unix_ms: r.first_unix_ms,
                    last_seen_unix_ms: r.last_unix_ms,
                })
                .collect(),
            mac_changes: &changes,
            events: &ev.events,
            findings: &findings,
        };
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(
            stdout,
            "{}",
            render_text(&ev, &netns_label, &resp, &changes, &findings)
        )?;
    }
    stdout.flush()?;
    Ok(if has_problem(&findings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_hints() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("x").is_err());
        let h = parse_hint("node1/eth1=02:6E:00:00:00:01").unwrap();
        assert_eq!(h.name, "node1");
        assert_eq!(h.iface.as_deref(), Some("eth1"));
        assert_eq!(h.mac, "02:6e:00:00:00:01");
        assert!(parse_hint("node1").is_err());
        assert!(parse_hint("node1=nope").is_err());
    }
}
