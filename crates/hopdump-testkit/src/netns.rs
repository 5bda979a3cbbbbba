//! Network namespaces, links and lab-owned processes for lab tests, driven through iproute2.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// True when running as root (lab tests need it; CI runs as root).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// How long a lab process may take to print its ready line before it counts as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A set of namespaces (and the processes started inside them) owned by one test;
/// all removed on drop, also when the test panics.
pub struct Lab {
    /// Unique prefix, e.g. `hd1234x0` (namespace names are `{prefix}{short}`).
    pub prefix: String,
    namespaces: Vec<String>,
    children: Vec<(u32, Option<Child>)>,
    keep: bool,
}

/// Run a command, failing with its stderr.
pub fn sh(args: &[&str]) -> Result<String> {
    sh_stdin(args, None)
}

/// Run a command with `input` on its stdin, failing with its stderr.
pub fn sh_stdin(args: &[&str], input: Option<&str>) -> Result<String> {
    let Some((prog, rest)) = args.split_first() else {
        bail!("empty command");
    };
    let mut cmd = Command::new(prog);
    cmd.args(rest)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot run {prog}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .with_context(|| format!("write stdin of {prog}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("wait for {prog}"))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where a lab process writes its stderr (and, when detached, its stdout after the ready line).
#[derive(Debug, Clone)]
pub enum ProcLog {
    /// Discard (tests: the backends are quiet unless something breaks).
    Null,
    /// Append to this file (labs kept for people by `up`).
    File(PathBuf),
}

impl Lab {
    /// A new, empty lab with a unique prefix.
    pub fn new() -> Result<Lab> {
        require_root()?;
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            remove_stale();
        }
        let prefix = format!("hd{}x{n}", std::process::id());
        Ok(Lab {
            prefix,
            namespaces: Vec::new(),
            children: Vec::new(),
            keep: false,
        })
    }

    /// A lab with a caller-chosen prefix (the `up` command). The prefix must not look like a
    /// test prefix (`hd<pid>x<n>`), which stale-run cleanup would remove.
    pub fn with_prefix(prefix: &str) -> Result<Lab> {
        require_root()?;
        if prefix.is_empty()
            || prefix.len() > 24
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!("lab prefix {prefix:?}: use 1-24 characters of [A-Za-z0-9_-]");
        }
        if parse_test_prefix(prefix).is_some() {
            bail!("lab prefix {prefix:?} looks like a test prefix (hd<pid>x<n>); choose another");
        }
        Ok(Lab {
            prefix: prefix.to_string(),
            namespaces: Vec::new(),
            children: Vec::new(),
            keep: false,
        })
    }

    /// A routed three-namespace lab: `client` (c0 198.51.100.2) — `router` (r0 198.51.100.1,
    /// r1 203.0.113.1, forwarding on) — `server` (s0 203.0.113.2), default routes through the
    /// router on both ends.
    pub fn routed() -> Result<Lab> {
        let mut lab = Lab::new()?;
        for ns in ["client", "router", "server"] {
            lab.add_ns(ns)?;
        }
        lab.veth(
            "client",
            "c0",
            Some("198.51.100.2/24"),
            "router",
            "r0",
            Some("198.51.100.1/24"),
        )?;
        lab.veth(
            "router",
            "r1",
            Some("203.0.113.1/24"),
            "server",
            "s0",
            Some("203.0.113.2/24"),
        )?;
        lab.exec(
            "client",
            &["ip", "route", "add", "default", "via", "198.51.100.1"],
        )?;
        lab.exec(
            "server",
            &["ip", "route", "add", "default", "via", "203.0.113.1"],
        )?;
        lab.sysctl("router", "net.ipv4.ip_forward", "1")?;
        Ok(lab)
    }

    /// Full name of a lab namespace.
    pub fn ns(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// Path of the namespace file (for `setns`).
    pub fn ns_path(&self, short: &str) -> PathBuf {
        Path::new("/run/netns").join(self.ns(short))
    }

    /// Create namespace `short` with its loopback up; returns its full name.
    pub fn add_ns(&mut self, short: &str) -> Result<String> {
        let name = self.ns(short);
        sh(&["ip", "netns", "add", &name])?;
        self.namespaces.push(name.clone());
        self.exec(short, &["ip", "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// Delete namespace `short` now (a pod that goes away), killing the lab processes in it.
    pub fn del_ns(&mut self, short: &str) -> Result<()> {
        let name = self.ns(short);
        self.kill_in(&name);
        self.namespaces.retain(|n| n != &name);
        sh(&["ip", "netns", "del", &name])?;
        Ok(())
    }

    /// Names of the namespaces this lab owns.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Run a command inside namespace `short`.
    pub fn exec(&self, short: &str, args: &[&str]) -> Result<String> {
        self.exec_stdin(short, args, None)
    }

    /// Run a command inside namespace `short` with `input` on stdin.
    pub fn exec_stdin(&self, short: &str, args: &[&str], input: Option<&str>) -> Result<String> {
        let ns = self.ns(short);
        let mut full = vec!["ip", "netns", "exec", ns.as_str()];
        full.extend_from_slice(args);
        sh_stdin(&full, input)
    }

    /// Set a sysctl inside namespace `short` (never in the root namespace).
    pub fn sysctl(&self, short: &str, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let ns = self.ns_path(short);
        let value = value.to_string();
        self.within_path(ns, move || std::fs::write(&path, value.as_bytes()))?
            .with_context(|| format!("sysctl {key} in {short}"))
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
        self.within_path(self.ns_path(short), f)
    }

    fn within_path<T: Send + 'static>(
        &self,
        path: PathBuf,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let handle = std::thread::spawn(move || -> Result<T> {
            enter_netns(&path)?;
            Ok(f())
        });
        match handle.join() {
            Ok(r) => r,
            Err(_) => bail!("thread inside {} panicked", self.prefix),
        }
    }

    /// Start a long-running process inside namespace `short` and wait until it prints a line
    /// containing `ready` on stdout (its handshake: sockets bound, files written). Returns its pid.
    /// The process is killed when the lab is dropped (unless the lab is kept).
    pub fn spawn_ready(&mut self, short: &str, args: &[&str], log: &ProcLog) -> Result<u32> {
        let ns = self.ns(short);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns]).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        match log {
            ProcLog::Null => {
                cmd.stderr(Stdio::null());
            }
            ProcLog::File(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("open log {}", path.display()))?;
                cmd.stderr(f);
            }
        }
        // Own process group: a Ctrl-C meant for `up` does not reach the lab's processes.
        cmd.process_group(0);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {:?} in {short}", args))?;
        let pid = child.id();
        let Some(stdout) = child.stdout.take() else {
            bail!("no stdout pipe for {:?}", args);
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut seen = Vec::new();
            loop {
                match lines.next() {
                    Some(Ok(line)) if line.contains("ready") => {
                        let _ = tx.send(Ok(()));
                        // Keep draining so later writes never hit a closed pipe.
                        for _ in lines.by_ref() {}
                        return;
                    }
                    Some(Ok(line)) => seen.push(line),
                    _ => {
                        let _ = tx.send(Err(seen.join("\n")));
                        return;
                    }
                }
            }
        });
        self.children.push((pid, Some(child)));
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(())) => Ok(pid),
            Ok(Err(out)) => {
                self.kill(pid);
                bail!("{:?} in {short} exited before it was ready: {out}", args)
            }
            Err(_) => {
                self.kill(pid);
                bail!(
                    "{:?} in {short} did not become ready in {READY_TIMEOUT:?}",
                    args
                )
            }
        }
    }

    /// Kill one lab process (started by `spawn_ready`) and reap it.
    pub fn kill(&mut self, pid: u32) {
        if let Some(pos) = self.children.iter().position(|(p, _)| *p == pid) {
            let (pid, child) = self.children.remove(pos);
            stop(pid, child);
        }
    }

    /// Kill the lab processes that live in namespace `full_name`.
    fn kill_in(&mut self, full_name: &str) {
        let pids = ns_pids(full_name);
        let mine: Vec<u32> = self
            .children
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| pids.contains(p))
            .collect();
        for pid in mine {
            self.kill(pid);
        }
    }

    /// Keep everything when dropped (the `up` command hands the lab to a person; `down`
    /// removes it later). Returns the namespace names.
    pub fn keep(&mut self) -> Vec<String> {
        self.keep = true;
        for (_, child) in &mut self.children {
            // Dropping a Child neither kills nor waits: the process lives on.
            child.take();
        }
        self.namespaces.clone()
    }
}

fn require_root() -> Result<()> {
    if !is_root() {
        bail!(
            "lab tests build network namespaces and need root (CAP_SYS_ADMIN and CAP_NET_ADMIN): \
             run as root, or set HOPDUMP_SKIP_LAB=1 to skip lab tests explicitly"
        );
    }
    Ok(())
}

/// Enter the network namespace at `path` on the calling thread.
pub fn enter_netns(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    // SAFETY: setns reads the fd kept open by `file` for the duration of the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setns {}", path.display()));
    }
    Ok(())
}

/// SIGKILL (lab processes hold no state worth a graceful stop); reap when we are its parent.
fn stop(pid: u32, child: Option<Child>) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: kill has no memory preconditions; `pid` is a process this lab started.
    unsafe { libc::kill(raw, libc::SIGKILL) };
    if let Some(mut child) = child {
        let _ = child.wait();
    }
}

/// Pids of the processes inside a namespace (`ip netns pids`).
pub fn ns_pids(full_name: &str) -> Vec<u32> {
    Command::new("ip")
        .args(["netns", "pids", full_name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `hd<pid>x<n>...` -> pid.
fn parse_test_prefix(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("hd")?;
    let (pid, _) = rest.split_once('x')?;
    pid.parse().ok()
}

/// Remove namespaces left by lab runs whose process is gone (killed with -9, say).
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = parse_test_prefix(&name) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            remove_ns_and_processes(&name);
        }
    }
}

/// Delete a namespace after killing the processes inside it (otherwise they keep it alive).
/// Only used on namespaces a lab created (our prefix).
pub fn remove_ns_and_processes(full_name: &str) {
    for pid in ns_pids(full_name) {
        if let Ok(raw) = i32::try_from(pid) {
            // SAFETY: kill has no memory preconditions; the process lives in a lab namespace.
            unsafe { libc::kill(raw, libc::SIGKILL) };
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", full_name])
        .output();
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for (pid, child) in self.children.drain(..) {
            stop(pid, child);
        }
        // Deleting a namespace destroys its veth ends (and their peers) with it.
        for ns in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}
