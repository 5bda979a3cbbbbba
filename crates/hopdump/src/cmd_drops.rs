//! `hopdump drops`: the kernel's own account of the packets it threw away — reason, kernel
//! location, namespace, interface and headers — rendered as text or versioned JSON.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hopdump_drops::{Backend, DropEvent, TraceOptions, Tracer};
use hopdump_wire::{LinkType, NoNames, TextOptions};
use serde::{Deserialize, Serialize};

use crate::cli::DropsArgs;
use crate::timefmt::TimeFormat;

/// JSON schema name of one drop record.
pub const DROPS_SCHEMA: &str = "hopdump.drops/1";

/// One drop as `--json` prints it (one object per line).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropRecord {
    /// Always [`DROPS_SCHEMA`].
    pub schema: String,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// Drop reason name from the kernel's BTF (`enum skb_drop_reason` without its prefix).
    pub reason: String,
    /// Its numeric value in the running kernel.
    pub reason_code: u32,
    /// Kernel location that freed the packet, `symbol+0xoff` (hex address when not resolvable).
    pub location: String,
    /// Network namespace: `host`, an `ip netns` name, the --netns spelling, or `netns:INODE`.
    pub netns: String,
    /// Network namespace inode.
    pub netns_inode: u32,
    /// Interface in that namespace, when the packet had one.
    pub iface: Option<String>,
    /// Its index.
    pub ifindex: u32,
    /// skb length in bytes.
    pub len: u32,
    /// Ethertype of the packet.
    pub protocol: u16,
    /// tcpdump's one-line summary of the headers (`IP a.p > b.q: Flags [S], ...`).
    pub summary: String,
    /// Decoded headers (hopdump-wire's packet schema), from the network header on.
    pub packet: Option<hopdump_wire::Packet>,
}

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("cannot read duration {s:?} (e.g. 10, 500ms, 3s, 1m)"))?;
    if !v.is_finite() || v <= 0.0 {
        bail!("duration {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn summary(ev: &DropEvent) -> String {
    if ev.headers.is_empty() {
        return format!("ethertype {:#06x}, length {}", ev.protocol, ev.len);
    }
    let mut out = Vec::new();
    hopdump_wire::write_text(
        &mut out,
        LinkType::Raw,
        &ev.headers,
        ev.len.max(ev.headers.len() as u32),
        &TextOptions::numeric(),
        &NoNames,
    );
    String::from_utf8_lossy(&out).into_owned()
}

fn record(ev: &DropEvent) -> DropRecord {
    DropRecord {
        schema: DROPS_SCHEMA.into(),
        time_ns: ev.time_ns,
        reason: ev.reason.clone(),
        reason_code: ev.reason_code,
        location: ev.location_name(),
        netns: ev.netns.clone(),
        netns_inode: ev.netns_inode,
        iface: ev.iface.clone(),
        ifindex: ev.ifindex,
        len: ev.len,
        protocol: ev.protocol,
        summary: summary(ev),
        packet: (!ev.headers.is_empty()).then(|| {
            hopdump_wire::decode(
                LinkType::Raw,
                &ev.headers,
                ev.len.max(ev.headers.len() as u32),
            )
        }),
    }
}

fn write_ready(path: &Path) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp-hopdump");
    std::fs::write(&tmp, "drops\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write ready file {}", path.display()))
}

fn resolve_netns(spec: &str) -> anyhow::Result<(u32, String)> {
    let ns = hopdump_capture::netns::parse_netns(spec)?;
    let path = ns
        .path()
        .unwrap_or_else(|| "/proc/thread-self/ns/net".into());
    let ino = hopdump_drops::netns_inode(&path).with_context(|| {
        format!(
            "network namespace {spec}: cannot stat {}{}",
            path.display(),
            if matches!(ns, hopdump_capture::Netns::Named(_)) {
                " (see `ip netns list`)"
            } else {
                ""
            }
        )
    })?;
    Ok((ino, spec.to_string()))
}

pub fn run(args: DropsArgs) -> anyhow::Result<ExitCode> {
    let netns = args
        .netns
        .iter()
        .map(|s| resolve_netns(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let duration = args.duration.as_deref().map(parse_duration).transpose()?;
    let opts = TraceOptions {
        filter: args.filter.join(" "),
        netns,
        keep_noise: args.all,
        backend: if args.tracefs {
            Backend::Tracefs
        } else {
            Backend::Auto
        },
        allow_tracefs: args.yes,
    };

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handler")?;
    }

    let tracer = Tracer::start(&opts)?;
    if let Some(why) = tracer.fallback_reason() {
        eprintln!("hopdump: eBPF unavailable ({why}); using tracefs");
    }
    let lost = tracer.attach().lost();
    if !lost.is_empty() {
        eprintln!(
            "hopdump: tracefs mode reports reason and location only; lost: {}",
            lost.join(", ")
        );
    }
    eprintln!(
        "hopdump: tracing kernel drops ({:?}){}",
        tracer.attach(),
        if opts.filter.is_empty() {
            String::new()
        } else {
            format!(", filter: {}", opts.filter)
        }
    );
    if let Some(path) = &args.ready_file {
        write_ready(path)?;
    }

    let deadline = duration.map(|d| Instant::now() + d);
    let limit = args.count.unwrap_or(u64::MAX);
    let mut seen = 0u64;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut tf = TimeFormat::new(0, false);
    let mut line = Vec::with_capacity(256);
    let mut result = Ok(());
    while !stop.load(Ordering::Relaxed) && seen < limit {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let ev = match tracer.events().recv_timeout(Duration::from_millis(100)) {
            Ok(ev) => ev,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        seen += 1;
        line.clear();
        if args.json {
            serde_json::to_writer(&mut line, &record(&ev))?;
        } else {
            tf.write(&mut line, ev.time_ns);
            let iface = ev.iface.as_deref().unwrap_or("-");
            let _ = write!(
                line,
                "{}/{} {} drop: {} at {}",
                ev.netns,
                iface,
                summary(&ev),
                ev.reason,
                ev.location_name()
            );
        }
        line.push(b'\n');
        if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
            result = Err(anyhow::Error::from(e));
            break;
        }
    }
    let stats = tracer.stop()?;
    result?;
    let mut msg = format!("hopdump: {seen} drops reported");
    if stats.filtered > 0 {
        msg.push_str(&format!(", {} filtered out in the kernel", stats.filtered));
    }
    if stats.noise > 0 {
        msg.push_str(&format!(
            ", {} NOT_SPECIFIED drops of non-IP packets hidden (--all shows them)",
            stats.noise
        ));
    }
    if stats.lost > 0 {
        msg.push_str(&format!(", {} lost (ring buffer full)", stats.lost));
    }
    eprintln!("{msg}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
