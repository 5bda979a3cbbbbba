//! The fallback when eBPF is unavailable: a private tracefs instance with `skb:kfree_skb`
//! enabled, read from its trace_pipe. It changes kernel tracing state (an instance and an
//! enabled event), so it runs only with the user's consent, and undoes both on exit.
//! It gives the reason, the location and the ethertype — no headers, namespace or interface.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender};

use crate::error::{DropsError, Result};
use crate::{Attach, RawSink, TraceStats};

/// One parsed trace_pipe line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub ts_ns: u64,
    pub protocol: u16,
    pub location: String,
    pub reason: String,
}

/// Parses `... [001] ..s1.  1234.567890: kfree_skb: skbaddr=... rx_sk=... protocol=2048
/// location=nf_hook_slow+0x9e/0x100 reason: NETFILTER_DROP`.
pub fn parse_line(line: &str) -> Option<TraceLine> {
    let (head, body) = line.split_once(": kfree_skb: ")?;
    let ts = head.rsplit(' ').next()?;
    let (s, frac) = ts.split_once('.')?;
    let frac_ns: u64 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    let ts_ns = s.trim().parse::<u64>().ok()? * 1_000_000_000 + frac_ns;
    let field = |name: &str| {
        body.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let protocol = field("protocol").and_then(|p| p.parse().ok()).unwrap_or(0);
    let location = field("location")
        .map(|l| l.split('/').next().unwrap_or(l).to_string())
        .unwrap_or_default();
    let reason = body
        .split_once("reason: ")
        .map(|(_, r)| r.trim().to_string())
        .unwrap_or_else(|| "NOT_SPECIFIED".into());
    Some(TraceLine {
        ts_ns,
        protocol,
        location,
        reason,
    })
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DropsError {
    let what = what.into();
    move |source| DropsError::Tracefs { what, source }
}

/// A tracefs mount: the usual ones, or a private mount in a mount namespace of this thread.
fn tracefs_root() -> Result<PathBuf> {
    for p in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(p).join("instances").is_dir() {
            return Ok(p.into());
        }
    }
    // Not mounted: mount it privately. unshare(CLONE_NEWNS) affects only this thread, and
    // making the tree private keeps the mount out of the host's mount table.
    // SAFETY: plain syscalls with valid, NUL-terminated arguments.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(io("unshare(CLONE_NEWNS) for a private tracefs mount")(
                std::io::Error::last_os_error(),
            ));
        }
        let root = c"/";
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(io("making mounts private")(std::io::Error::last_os_error()));
        }
        let target = c"/sys/kernel/tracing";
        let fs = c"tracefs";
        if libc::mount(
            fs.as_ptr(),
            target.as_ptr(),
            fs.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(io("mounting tracefs")(std::io::Error::last_os_error()));
        }
    }
    Ok("/sys/kernel/tracing".into())
}

/// The instance; disabled and removed on drop, and by a reaper process if this one dies
/// without dropping it (SIGKILL): a tracefs instance is kernel state, it outlives us otherwise.
struct Instance {
    dir: PathBuf,
    reaper: Option<Reaper>,
}

/// A child process blocked reading a pipe whose only write end this process holds: when this
/// process ends, however it ends, the read returns 0 and the child disables the event and
/// removes the instance. Found leaking by crates/hopdump/tests/leftovers.rs.
struct Reaper {
    pid: libc::pid_t,
    write_end: Option<std::os::fd::OwnedFd>,
}

impl Reaper {
    fn spawn(dir: &Path) -> Option<Reaper> {
        use std::ffi::CString;
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        let enable = CString::new(
            dir.join("events/skb/kfree_skb/enable")
                .as_os_str()
                .as_bytes(),
        )
        .ok()?;
        let dir_c = CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds; close-on-exec keeps them out of tools we run.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return None;
        }
        let (read_fd, write_fd) = (fds[0], fds[1]);
        // SAFETY: fork in a threaded process; the child only makes async-signal-safe
        // syscalls on memory prepared before the fork, then _exit()s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above (close, sigaction-free signal ignore, read, open, write, rmdir,
            // nanosleep: all async-signal-safe).
            unsafe {
                // Ctrl-C reaches the whole process group: the reaper must outlive it.
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                // Hold nothing of the parent's (sockets, BPF objects, files) but the pipe.
                let r = read_fd as libc::c_uint;
                if r > 0 {
                    libc::syscall(
                        libc::SYS_close_range,
                        0 as libc::c_uint,
                        r - 1,
                        0 as libc::c_uint,
                    );
                }
                libc::syscall(
                    libc::SYS_close_range,
                    r + 1,
                    libc::c_uint::MAX,
                    0 as libc::c_uint,
                );
                let mut b = [0u8; 1];
                while libc::read(read_fd, b.as_mut_ptr().cast(), 1) != 0 {
                    if *libc::__errno_location() != libc::EINTR {
                        break;
                    }
                }
                let fd = libc::open(enable.as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                }
                // The dying process may still hold trace_pipe open for a moment (its files
                // close one by one at exit): rmdir says EBUSY until then. Retry, bounded.
                let pause = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 50_000_000,
                };
                for _ in 0..200 {
                    if libc::rmdir(dir_c.as_ptr()) == 0 || *libc::__errno_location() == libc::ENOENT
                    {
                        break;
                    }
                    let fd = libc::open(enable.as_ptr(), libc::O_WRONLY);
                    if fd >= 0 {
                        libc::write(fd, b"0".as_ptr().cast(), 1);
                        libc::close(fd);
                    }
                    libc::nanosleep(&pause, std::ptr::null_mut());
                }
                libc::_exit(0);
            }
        }
        // SAFETY: fds from pipe2 above, each closed exactly once.
        unsafe { libc::close(read_fd) };
        // SAFETY: as above; the OwnedFd closes it.
        let write_end = unsafe { std::os::fd::OwnedFd::from_raw_fd(write_fd) };
        if pid < 0 {
            return None;
        }
        Some(Reaper {
            pid,
            write_end: Some(write_end),
        })
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // Closing our only copy of the write end wakes the reaper (the instance is already
        // gone: it finds nothing to do); then reap it.
        drop(self.write_end.take());
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

impl Instance {
    fn create(root: &Path) -> Result<Instance> {
        let dir = root
            .join("instances")
            .join(format!("hopdump-drops-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let reaper = Reaper::spawn(&dir);
        let inst = Instance { dir, reaper };
        // Same clock as bpf_ktime_get_ns, so both backends convert time the same way.
        let _ = std::fs::write(inst.dir.join("trace_clock"), "mono");
        std::fs::write(inst.dir.join("events/skb/kfree_skb/enable"), "1")
            .map_err(io("enabling skb:kfree_skb"))?;
        Ok(inst)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("events/skb/kfree_skb/enable"), "0");
        let _ = std::fs::remove_dir(&self.dir);
        drop(self.reaper.take());
    }
}

pub(crate) fn run(
    stop: Arc<AtomicBool>,
    ready: SyncSender<Result<Attach>>,
    sink: Sender<RawSink>,
) -> Result<TraceStats> {
    let started = (|| {
        let root = tracefs_root()?;
        let inst = Instance::create(&root)?;
        let pipe = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(inst.dir.join("trace_pipe"))
            .map_err(io("opening trace_pipe"))?;
        Ok((inst, pipe))
    })();
    let (inst, mut pipe) = match started {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(TraceStats::default());
        }
    };
    let _ = ready.send(Ok(Attach::Tracefs));
    let mut stats = TraceStats::default();
    let mut pending = String::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n <= 0 {
            continue;
        }
        match pipe.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => pending.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("reading trace_pipe")(e)),
        }
        while let Some(nl) = pending.find('\n') {
            let line: String = pending.drain(..=nl).collect();
            let Some(t) = parse_line(&line) else { continue };
            stats.seen += 1;
            // Same noise rule as the eBPF program: NOT_SPECIFIED of non-IP packets.
            if t.reason == "NOT_SPECIFIED" && t.protocol != 0x0800 && t.protocol != 0x86dd {
                stats.noise += 1;
                continue;
            }
            if sink.send(RawSink::Tracefs(t)).is_err() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
    drop(pipe);
    drop(inst);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_kfree_skb_line() {
        let l = "          <idle>-0       [001] ..s1.  1234.5678: kfree_skb: skbaddr=00000000a1b2 \
                 rx_sk=0000000000000000 protocol=2048 location=nf_hook_slow+0x9e/0x100 \
                 reason: NETFILTER_DROP\n";
        let t = parse_line(l).unwrap();
        assert_eq!(t.ts_ns, 1_234_567_800_000);
        assert_eq!(t.protocol, 2048);
        assert_eq!(t.location, "nf_hook_slow+0x9e");
        assert_eq!(t.reason, "NETFILTER_DROP");
        assert!(parse_line("  bash-1 [000] .... 1.0: sched_switch: x").is_none());
    }
}
