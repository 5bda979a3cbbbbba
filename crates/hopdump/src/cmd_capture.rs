//! `hopdump capture`: tcpdump at several points at once, merged in time order.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use hopdump_capture::{LiveCapture, LiveOptions, PointInfo, PointSpec, PointStats};

use crate::cli::CaptureArgs;
use crate::render::{Interface, Renderer};

/// Kernel ring per point when writing a file: large enough for bursts of ≥1 Mpps.
const WRITE_BUFFER_BYTES: u32 = 64 << 20;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn describe(p: &PointInfo, host: &str) -> String {
    let mut d = format!("hopdump point {}: interface {}", p.spec.label, p.spec.iface);
    if let Some(i) = p.ifindex {
        d.push_str(&format!(" (ifindex {i})"));
    }
    d.push_str(&format!(" in {}", p.spec.netns));
    if let Some(ino) = p.netns_inode {
        d.push_str(&format!(" (netns inode {ino})"));
    }
    d.push_str(&format!(" on host {host}"));
    d
}

fn write_ready(path: &Path, points: &[PointInfo]) -> anyhow::Result<()> {
    // Written whole under a temporary name, then renamed: a watcher never sees half a file.
    let tmp = path.with_extension("tmp-hopdump");
    let body: String = points
        .iter()
        .map(|p| format!("{}\n", p.spec.label))
        .collect();
    std::fs::write(&tmp, body)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write ready file {}", path.display()))
}

fn print_stats(points: &[PointInfo], stats: &[PointStats]) {
    for (p, s) in points.iter().zip(stats) {
        let mut line = format!(
            "{}: {} packets captured, {} received by filter, {} dropped by kernel",
            p.spec.label, s.captured, s.received, s.dropped
        );
        if s.if_dropped > 0 {
            line.push_str(&format!(", {} dropped by interface", s.if_dropped));
        }
        eprintln!("{line}");
    }
}

/// Become `user` (its uid, gid and supplementary groups) for the rest of the run. The packet
/// sockets stay open: they were created with the privilege.
fn drop_privileges(user: &str) -> anyhow::Result<()> {
    let name = std::ffi::CString::new(user).context("user name contains a NUL byte")?;
    // SAFETY: getpwnam returns a pointer into static storage, read before any other call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        anyhow::bail!("-Z {user}: no such user");
    }
    // SAFETY: pw is non-null and points to a valid passwd entry.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    // SAFETY: plain system calls on values read above; order: groups, gid, then uid.
    let ok = unsafe {
        libc::initgroups(name.as_ptr(), gid) == 0
            && libc::setgid(gid) == 0
            && libc::setuid(uid) == 0
    };
    if !ok {
        anyhow::bail!(
            "-Z {user}: cannot switch to that user: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

pub fn run(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    let specs = if args.points.is_empty() {
        vec![PointSpec::parse("any")?]
    } else {
        args.points
            .iter()
            .map(|p| PointSpec::parse(p))
            .collect::<Result<Vec<_>, _>>()?
    };
    let filter = args.out.filter_expr()?;
    let writing = args.out.write.is_some();
    let opts = LiveOptions {
        snaplen: args.snaplen,
        promisc: !args.no_promisc,
        buffer_size: args
            .buffer_kib
            .map(|k| k.saturating_mul(1024))
            .or(writing.then_some(WRITE_BUFFER_BYTES)),
        filter: filter.clone(),
        // Text for a person is shown as it arrives; files favour throughput (ring blocks).
        immediate: !writing,
        timeout_ms: 100,
    };

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handler")?;
    }

    let live = LiveCapture::start(&specs, &opts)?;
    let host = hostname();
    let points: Vec<PointInfo> = live.points().to_vec();
    for p in &points {
        eprintln!(
            "hopdump: listening on {}, link-type {}, snapshot length {} bytes",
            p.spec.label, p.linktype_name, p.snaplen
        );
    }
    let interfaces = points
        .iter()
        .map(|p| Interface {
            label: p.spec.label.clone(),
            description: describe(p, &host),
            linktype: p.linktype,
            snaplen: p.snaplen,
            filter: filter.clone(),
            ifnames: p.ifnames.clone(),
        })
        .collect();
    let tty = !writing && std::io::stdout().is_terminal();
    let mut renderer = Renderer::new(&args.out, interfaces, tty)?;
    if let Some(path) = &args.ready_file {
        write_ready(path, &points)?;
    }
    // Last step with privilege: every socket, the output file and the ready file exist.
    if let Some(user) = &args.user {
        drop_privileges(user)?;
    }
    if let Some(secs) = args.duration {
        let stop = stop.clone();
        let d = std::time::Duration::from_secs_f64(secs.max(0.0));
        std::thread::spawn(move || {
            std::thread::sleep(d);
            stop.store(true, Ordering::Relaxed);
        });
    }

    let limit = args.out.count.unwrap_or(u64::MAX);
    let mut seen = 0u64;
    let mut failure = None;
    let stats = live.run(&stop, |f| {
        if let Err(e) = renderer.frame(f.point, f.ts_ns, f.orig_len, f.data) {
            failure = Some(e);
            return false;
        }
        seen += 1;
        seen < limit
    })?;
    let finished = renderer.finish(Some(&stats));
    print_stats(&points, &stats);
    if let Some(e) = failure {
        return Err(e);
    }
    finished?;
    Ok(ExitCode::SUCCESS)
}
