//! Nothing left behind: every subcommand that loads BPF or touches the kernel (`drops`, also
//! with the tracefs fallback, `trace`, `capture`, `arp`, `conntrack`, `rules explain` live and
//! with nft text) ends by normal exit, by SIGINT and by SIGKILL, and then the kernel holds no
//! BPF program, link or map of hopdump (bpftool, against a before-list), no nft trace rule in
//! any lab namespace, no tracefs instance or enabled `kfree_skb` event, and no network
//! namespace or interface that hopdump made. (drops_cli.rs checks hopdump's program list for
//! `drops` alone; this file adds links, maps, tracefs and the other subcommands.)
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hopdump_testkit::lab::{Cluster, Spec};

/// The checks read kernel-global lists: one case at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Normal,
    Sigint,
    Sigkill,
}

const ENDS: [End; 3] = [End::Normal, End::Sigint, End::Sigkill];

/// Names of hopdump's BPF objects: its programs and the maps of drops.bpf.c (and the
/// object's global-data maps, which libbpf names after the object).
fn is_hopdump_bpf(name: &str) -> bool {
    hopdump_drops::PROGRAM_NAMES.contains(&name)
        || name.starts_with("hd_")
        || name.starts_with("drops_b")
}

/// (kind, id, name) of every BPF program, link and map, per bpftool.
fn bpf_objects() -> BTreeSet<(String, u64, String)> {
    let mut set = BTreeSet::new();
    for kind in ["prog", "link", "map"] {
        let out = Command::new("bpftool")
            .args([kind, "show", "-j"])
            .output()
            .expect("bpftool is needed by this test (scripts/setup installs it)");
        assert!(out.status.success(), "bpftool {kind} show failed");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        for o in v.as_array().into_iter().flatten() {
            let id = o["id"].as_u64().unwrap_or(0);
            // Links have no name of their own: name them by their program.
            let name = match kind {
                "link" => o["prog_id"]
                    .as_u64()
                    .map(|p| format!("prog:{p}"))
                    .unwrap_or_default(),
                _ => o["name"].as_str().unwrap_or("").to_string(),
            };
            set.insert((kind.to_string(), id, name));
        }
    }
    set
}

/// New BPF objects of hopdump since `before` (links count when their program is hopdump's
/// or was not in the before-list).
fn new_hopdump_bpf(before: &BTreeSet<(String, u64, String)>) -> Vec<String> {
    let now = bpf_objects();
    let progs: BTreeSet<String> = now
        .iter()
        .filter(|(k, _, n)| k == "prog" && is_hopdump_bpf(n))
        .map(|(_, id, _)| format!("prog:{id}"))
        .collect();
    now.difference(before)
        .filter(|(k, _, n)| {
            if k == "link" {
                progs.contains(n)
            } else {
                is_hopdump_bpf(n)
            }
        })
        .map(|(k, id, n)| format!("{k} {id} {n}"))
        .collect()
}

/// hopdump's new BPF objects that no live process holds: what an ended hopdump left behind.
fn orphaned_hopdump_bpf(before: &BTreeSet<(String, u64, String)>) -> Vec<String> {
    let new = new_hopdump_bpf(before);
    if new.is_empty() {
        return new;
    }
    let held = held_by_live_processes();
    new.into_iter()
        .filter(|o| {
            let kind_id: String = o.split(' ').take(2).collect::<Vec<_>>().join(" ");
            !held.contains(&kind_id)
        })
        .collect()
}

/// BPF objects some live process holds a file descriptor of (`prog_id`/`map_id`/`link_id` in
/// /proc/PID/fdinfo): those belong to a running process (e.g. another test run's hopdump), not
/// to one that has ended.
fn held_by_live_processes() -> BTreeSet<String> {
    let mut held = BTreeSet::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        held.extend(held_by(&p.path()));
    }
    held
}

/// BPF objects the process at `/proc/PID` holds.
fn held_by(proc_dir: &Path) -> BTreeSet<String> {
    let mut held = BTreeSet::new();
    {
        let Ok(fds) = std::fs::read_dir(proc_dir.join("fdinfo")) else {
            return held;
        };
        for fd in fds.flatten() {
            let Ok(info) = std::fs::read_to_string(fd.path()) else {
                continue;
            };
            for line in info.lines() {
                for (key, kind) in [
                    ("prog_id:", "prog"),
                    ("map_id:", "map"),
                    ("link_id:", "link"),
                ] {
                    if let Some(id) = line.strip_prefix(key) {
                        held.insert(format!("{kind} {}", id.trim()));
                    }
                }
            }
        }
    }
    held
}

/// tracefs, seen from a private mount namespace when it is not mounted here: the instance
/// directories and whether `skb:kfree_skb` is enabled at the top level.
fn tracefs_state() -> String {
    let script = "for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do \
        if [ -d $d/instances ]; then ls $d/instances; cat $d/events/skb/kfree_skb/enable; exit 0; fi; done; \
        m=$(mktemp -d); mount -t tracefs nodev $m && ls $m/instances && cat $m/events/skb/kfree_skb/enable";
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot read tracefs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn netns_names() -> BTreeSet<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A lab of some test run (this one or another engineer's), not something hopdump made.
fn is_lab_ns(name: &str) -> bool {
    name.starts_with("hdlab-")
        || name
            .strip_prefix("hd")
            .and_then(|r| r.split_once('x'))
            .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Interface names of a namespace (None: the root namespace).
fn links(ns: Option<&str>) -> BTreeSet<String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.args(["-o", "link", "show"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// Everything the checks compare, taken before a case.
struct Before {
    bpf: BTreeSet<(String, u64, String)>,
    tracefs: String,
    netns: BTreeSet<String>,
    links: Vec<(Option<String>, BTreeSet<String>)>,
}

fn before(c: &Cluster) -> Before {
    let mut l = vec![(None, links(None))];
    for ns in c.lab().namespaces() {
        l.push((Some(ns.clone()), links(Some(ns))));
    }
    Before {
        bpf: bpf_objects(),
        tracefs: tracefs_state(),
        netns: netns_names(),
        links: l,
    }
}

/// The kernel frees programs, links and maps from a work queue after the last reference
/// goes: poll (bounded) until hopdump's are gone.
fn assert_nothing_left(c: &Cluster, b: &Before, case: &str, child_pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = orphaned_hopdump_bpf(&b.bpf);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: BPF objects left (pid {child_pid} ended, nobody holds them): {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pinned = Command::new("sh")
        .args([
            "-c",
            "ls -R /sys/fs/bpf 2>/dev/null | grep -i -e hopdump -e hd_ || true",
        ])
        .output()
        .unwrap();
    assert!(
        pinned.stdout.is_empty(),
        "{case}: pinned BPF objects: {}",
        String::from_utf8_lossy(&pinned.stdout)
    );
    for ns in c.lab().namespaces() {
        let rules = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "list", "ruleset"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        assert!(
            !rules.contains("nftrace"),
            "{case}: nft trace rule left in {ns}:\n{rules}"
        );
    }
    // A killed hopdump's reaper process removes its tracefs instance just after it dies.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tracefs = tracefs_state();
    while tracefs != b.tracefs && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        tracefs = tracefs_state();
    }
    assert_eq!(
        tracefs, b.tracefs,
        "{case}: tracefs instances or the kfree_skb event changed"
    );
    let netns: Vec<String> = netns_names()
        .difference(&b.netns)
        .filter(|n| !is_lab_ns(n))
        .cloned()
        .collect();
    assert!(
        netns.is_empty(),
        "{case}: network namespaces left: {netns:?}"
    );
    for (ns, before) in &b.links {
        let now = links(ns.as_deref());
        let new: Vec<&String> = now.difference(before).collect();
        assert!(
            new.is_empty(),
            "{case}: interfaces left in {}: {new:?}",
            ns.as_deref().unwrap_or("the root namespace")
        );
    }
}

fn spawn(args: &[String]) -> Child {
    hopdump()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// For subcommands without a ready file: ready once the kernel lists hopdump's BPF program
/// (`trace` loads the drops tracer after its captures are up).
fn wait_bpf_loaded(child: &mut Child, b: &Before, case: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let proc_dir = PathBuf::from(format!("/proc/{}", child.id()));
    while !{
        let ours = held_by(&proc_dir);
        new_hopdump_bpf(&b.bpf).iter().any(|o| {
            o.starts_with("prog ")
                && ours.contains(&o.split(' ').take(2).collect::<Vec<_>>().join(" "))
        })
    } {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("{case}: hopdump exited {st} before it loaded its BPF program");
        }
        assert!(
            Instant::now() < deadline,
            "{case}: no BPF program after 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How a case knows the subcommand is in the middle of its work.
enum Ready {
    /// `--ready-file PATH` is appended to the arguments.
    File,
    /// Its BPF program is loaded.
    Bpf,
    /// No observable readiness (short-lived commands): the signal lands wherever it lands.
    None,
}

/// Run one subcommand to each end and check the kernel after each.
fn case(c: &Cluster, name: &str, args: &[String], ready: Ready, normal_args: &[&str]) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for end in ENDS {
        let case = format!("{name} ({end:?})");
        let b = before(c);
        let dir = tempfile::tempdir().unwrap();
        let ready_path: PathBuf = dir.path().join("ready");
        let mut a = args.to_vec();
        if matches!(ready, Ready::File) {
            a.push("--ready-file".into());
            a.push(ready_path.display().to_string());
        }
        if end == End::Normal {
            a.extend(normal_args.iter().map(|s| s.to_string()));
        }
        let mut child = spawn(&a);
        let pid = child.id();
        match ready {
            Ready::File => wait_ready(&mut child, &ready_path, &case),
            Ready::Bpf if end != End::Normal => wait_bpf_loaded(&mut child, &b, &case),
            _ => {}
        }
        match end {
            End::Normal => {}
            End::Sigint => signal(&child, libc::SIGINT),
            End::Sigkill => signal(&child, libc::SIGKILL),
        }
        let out = child.wait_with_output().unwrap();
        if end == End::Normal {
            let code = out.status.code().unwrap_or(-1);
            assert!(
                code == 0 || code == 1,
                "{case}: exit {code}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!("{case}: {:?}", out.status);
        assert_nothing_left(c, &b, &case, pid);
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn no_subcommand_leaves_anything_in_the_kernel() {
    if !lab_allowed() {
        return;
    }
    require("bpftool");
    let c = Cluster::build(Spec::default()).unwrap();
    let lb = c.lb(false).to_string();
    let client = c.lab().ns("client");
    let node = c.lab().ns(&c.nodes[0].ns);

    let mut drops = s(&["drops"]);
    for ns in c.lab().namespaces() {
        drops.push("--netns".into());
        drops.push(ns.clone());
    }
    case(&c, "drops", &drops, Ready::File, &["--duration", "300ms"]);
    let mut tracefs = drops.clone();
    tracefs.extend(s(&["--tracefs", "--yes"]));
    case(
        &c,
        "drops --tracefs --yes",
        &tracefs,
        Ready::File,
        &["--duration", "300ms"],
    );

    let mut trace = s(&["trace", &format!("{lb}:80/tcp"), "--json", "--client"]);
    trace.push(format!("netns:{client}"));
    for n in &c.nodes {
        trace.push("--node".into());
        trace.push(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    case(&c, "trace", &trace, Ready::Bpf, &[]);

    let capture = s(&[
        "capture",
        "-i",
        &format!("{node}/eth0"),
        "-i",
        &format!("{client}/eth0"),
        "-nn",
    ]);
    case(&c, "capture", &capture, Ready::File, &["--duration", "1"]);

    let arp = s(&["arp", &lb, "--netns", &client, "--watch"]);
    case(
        &c,
        "arp --watch",
        &arp,
        Ready::File,
        &["--duration", "300ms"],
    );
    let arp_active = s(&["arp", &lb, "--netns", &client, "--duration", "1s"]);
    case(&c, "arp", &arp_active, Ready::File, &[]);

    let ct = s(&["conntrack", "--netns", &node]);
    case(&c, "conntrack", &ct, Ready::None, &[]);

    let explain = s(&[
        "rules",
        "explain",
        "--dst",
        &format!("{lb}:80"),
        "--netns",
        &node,
    ]);
    case(&c, "rules explain (live)", &explain, Ready::None, &[]);
    let nft_text = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios/rules/three-services.nft")
        .display()
        .to_string();
    let explain_text = s(&[
        "rules",
        "explain",
        "--dst",
        "192.168.1.240:80",
        "--nft",
        &nft_text,
        "--local-ip",
        "192.168.1.11",
    ]);
    case(
        &c,
        "rules explain (nft text)",
        &explain_text,
        Ready::None,
        &[],
    );
}
