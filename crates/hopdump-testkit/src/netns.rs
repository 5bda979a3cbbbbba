//! Network namespaces and links for lab tests, driven through iproute2.

use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

/// True when running as root (lab tests need it; CI runs as root).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A set of namespaces owned by one test; all removed on drop.
pub struct Lab {
    /// Unique prefix, e.g. `hd1234x0-` (short: interface names are at most 15 bytes).
    pub prefix: String,
    namespaces: Vec<String>,
}

/// Run a command, failing with its stderr.
pub fn sh(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("cannot run {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Lab {
    /// A new, empty lab with a unique prefix.
    pub fn new() -> Result<Lab> {
        if !is_root() {
            bail!("lab tests build network namespaces and need root (run the tests as root)");
        }
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            remove_stale();
        }
        let prefix = format!("hd{}x{n}", std::process::id());
        Ok(Lab {
            prefix,
            namespaces: Vec::new(),
        })
    }

    /// Full name of a lab namespace.
    pub fn ns(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// Create namespace `short` with its loopback up; returns its full name.
    pub fn add_ns(&mut self, short: &str) -> Result<String> {
        let name = self.ns(short);
        sh(&["ip", "netns", "add", &name])?;
        self.namespaces.push(name.clone());
        self.exec(short, &["ip", "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// Run a command inside namespace `short`.
    pub fn exec(&self, short: &str, args: &[&str]) -> Result<String> {
        let ns = self.ns(short);
        let mut full = vec!["ip", "netns", "exec", ns.as_str()];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// A veth pair between two lab namespaces: `a_if` in `a`, `b_if` in `b`, both up,
    /// with optional addresses in CIDR form.
    pub fn veth(
        &self,
        a: &str,
        a_if: &str,
        a_addr: Option<&str>,
        b: &str,
        b_if: &str,
        b_addr: Option<&str>,
    ) -> Result<()> {
        let (na, nb) = (self.ns(a), self.ns(b));
        // Created directly inside the namespaces: never visible in the root namespace.
        sh(&[
            "ip", "-n", &na, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns",
            &nb,
        ])?;
        for (ns, ifc, addr) in [(&na, a_if, a_addr), (&nb, b_if, b_addr)] {
            if let Some(addr) = addr {
                sh(&["ip", "-n", ns, "addr", "add", addr, "dev", ifc])?;
            }
            sh(&["ip", "-n", ns, "link", "set", ifc, "up"])?;
        }
        Ok(())
    }

    /// Run `f` on a thread that has entered namespace `short` (sockets it opens live there).
    pub fn within<T: Send + 'static>(
        &self,
        short: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let path = format!("/run/netns/{}", self.ns(short));
        let file = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
        let handle = std::thread::spawn(move || {
            // SAFETY: setns reads the fd kept open by `file` for the call.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(f())
        });
        match handle.join() {
            Ok(r) => r.context("setns"),
            Err(_) => bail!("thread inside {short} panicked"),
        }
    }
}

/// Remove namespaces left by lab runs whose process is gone (killed with -9, say).
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("hd") else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('x') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace destroys its veth ends (and their peers) with it.
        for ns in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}
