//! Entering a network namespace from one thread, so each capture point can live in its own.
//!
//! setns(2) with CLONE_NEWNET only changes the calling thread, and a socket keeps the
//! namespace it was created in; so a capture thread enters the namespace, opens its
//! packet socket, and stays there.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use crate::error::{CaptureError, Result};
use crate::point::{Netns, PointSpec};

/// Move the calling thread into the point's network namespace (no-op for the current one).
pub fn enter(point: &PointSpec) -> Result<()> {
    enter_ns(&point.netns, &point.label)
}

/// Move the calling thread into `netns` (no-op for the current one); `what` names the user of
/// it in errors. Processes spawned from this thread afterwards start in that namespace.
pub fn enter_ns(netns: &Netns, what: &str) -> Result<()> {
    let Some(path) = netns.path() else {
        return Ok(());
    };
    let err = |source: std::io::Error| {
        let hint = match source.kind() {
            std::io::ErrorKind::NotFound => match netns {
                Netns::Named(_) => " (see `ip netns list`)",
                Netns::Pid(_) => " (no such process)",
                _ => "",
            },
            std::io::ErrorKind::PermissionDenied => {
                " (entering a network namespace needs CAP_SYS_ADMIN: run as root)"
            }
            _ => "",
        };
        CaptureError::Netns {
            point: what.to_string(),
            netns: netns.to_string(),
            source,
            hint,
        }
    };
    let file = File::open(&path).map_err(err)?;
    // SAFETY: setns only reads the fd, which `file` keeps open for the duration of the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Parse a `--netns` argument: an `ip netns` name, `pid:N`, or an absolute path.
pub fn parse_netns(s: &str) -> Result<Netns> {
    if let Some(pid) = s.strip_prefix("pid:") {
        return pid
            .parse()
            .map(Netns::Pid)
            .map_err(|_| CaptureError::BadPoint {
                spec: s.to_string(),
                why: "pid: must be followed by a process id".into(),
            });
    }
    if s.starts_with('/') {
        return Ok(Netns::Path(s.into()));
    }
    if s.is_empty() || s.contains('/') {
        return Err(CaptureError::BadPoint {
            spec: s.to_string(),
            why: "a network namespace is an `ip netns` name, pid:N or an absolute path".into(),
        });
    }
    Ok(Netns::Named(s.to_string()))
}

/// Inode number of the calling thread's network namespace (identifies it across names).
pub fn current_inode() -> Option<u64> {
    std::fs::metadata("/proc/thread-self/ns/net")
        .ok()
        .map(|m| m.ino())
}

/// Interface names visible in the calling thread's namespace, for error messages.
pub fn interface_names() -> Vec<String> {
    interfaces().into_iter().map(|(_, n)| n).collect()
}

/// (ifindex, name) of every interface in the calling thread's namespace.
pub fn interfaces() -> Vec<(u32, String)> {
    // /sys/class/net reflects the namespace /sys was mounted in, not the thread's, so ask
    // the kernel through if_nameindex(3) which uses a socket in the current namespace.
    let mut names = Vec::new();
    // SAFETY: if_nameindex returns a heap array terminated by a zero entry, freed below.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return names;
        }
        let mut p = list;
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            names.push((
                (*p).if_index,
                std::ffi::CStr::from_ptr((*p).if_name)
                    .to_string_lossy()
                    .into_owned(),
            ));
            p = p.add(1);
        }
        libc::if_freenameindex(list);
    }
    names
}
