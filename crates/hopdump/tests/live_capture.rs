//! Live capture in a real lab: a veth pair between two namespaces, several points at once.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hopdump_testkit::Lab;

/// Two namespaces `a` and `b` joined by veth a0 (192.0.2.1) <-> b0 (192.0.2.2).
fn two_hosts() -> Lab {
    let mut lab = Lab::new().unwrap();
    lab.add_ns("a").unwrap();
    lab.add_ns("b").unwrap();
    lab.veth(
        "a",
        "a0",
        Some("192.0.2.1/24"),
        "b",
        "b0",
        Some("192.0.2.2/24"),
    )
    .unwrap();
    lab
}

/// Start `hopdump ARGS` (output piped) and wait until its ready file appears.
fn start_capture(args: &[&str], ready: &Path) -> Child {
    let mut child = hopdump()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child, ready, "capture");
    child
}

fn send_udp(lab: &Lab, from: &str, to: &str, port: u16, n: usize) {
    let to = to.to_string();
    lab.within(from, move || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        for i in 0..n {
            s.send_to(format!("probe {i}").as_bytes(), (to.as_str(), port))
                .unwrap();
        }
    })
    .unwrap();
}

fn wait_exit(child: Child) -> std::process::Output {
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        // SAFETY: kill on a pid we spawned; harmless if it already exited.
        unsafe { libc_kill(pid as i32) };
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    out
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
unsafe fn libc_kill(pid: i32) {
    unsafe { kill(pid, 9) };
}

#[test]
fn multi_point_capture_counts_names_and_order() {
    if !lab_allowed() {
        return;
    }
    require("tshark");
    let lab = two_hosts();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let out = dir.path().join("cap.pcapng");
    // A process living in namespace b, to address it by pid like a pod's container.
    let mut sleeper = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns("b"), "sleep", "60"])
        .spawn()
        .unwrap();
    let pid_point = format!("pod=pid:{}/b0", sleeper.id());
    let a0 = format!("{}/a0", lab.ns("a"));
    let b0 = format!("{}/b0", lab.ns("b"));
    const N: usize = 200;
    let child = start_capture(
        &[
            "capture",
            "-i",
            &a0,
            "-i",
            &b0,
            "-i",
            &pid_point,
            "-w",
            out.to_str().unwrap(),
            "--ready-file",
            ready.to_str().unwrap(),
            "-c",
            &(3 * N).to_string(),
            "udp",
            "port",
            "9999",
        ],
        &ready,
    );
    send_udp(&lab, "a", "192.0.2.2", 9999, N);
    let o = wait_exit(child);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    for label in [&a0, &b0, &"pod".to_string()] {
        let want =
            format!("{label}: {N} packets captured, {N} received by filter, 0 dropped by kernel");
        assert!(
            err.lines().any(|l| l == want),
            "missing {want:?} in:\n{err}"
        );
    }
    let t = std::process::Command::new("tshark")
        .args([
            "-r",
            out.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.time_epoch",
            "-e",
            "udp.dstport",
        ])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let text = String::from_utf8_lossy(&t.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3 * N);
    let names: BTreeSet<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(names, BTreeSet::from([a0.as_str(), b0.as_str(), "pod"]));
    let times: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "file is in time order"
    );
    assert!(
        rows.iter().all(|r| r[2] == "9999"),
        "only filtered packets reach the file"
    );
}

#[test]
fn text_output_and_sigterm_leave_valid_output() {
    if !lab_allowed() {
        return;
    }
    let lab = two_hosts();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let out = dir.path().join("cap.pcap");
    let b0 = format!("{}/b0", lab.ns("b"));
    // Text, stopped by count.
    let child = start_capture(
        &[
            "capture",
            "-i",
            &b0,
            "-nn",
            "-c",
            "3",
            "--ready-file",
            ready.to_str().unwrap(),
            "udp",
        ],
        &ready,
    );
    send_udp(&lab, "a", "192.0.2.2", 7777, 3);
    let o = wait_exit(child);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 3, "{text}");
    for l in text.lines() {
        assert!(
            l.contains(" IP 192.0.2.1.") && l.contains(" > 192.0.2.2.7777: UDP, length 7"),
            "{l}"
        );
    }
    // Classic pcap, stopped by SIGTERM.
    std::fs::remove_file(&ready).unwrap();
    let child = start_capture(
        &[
            "capture",
            "-i",
            &b0,
            "-w",
            out.to_str().unwrap(),
            "--ready-file",
            ready.to_str().unwrap(),
            "udp",
        ],
        &ready,
    );
    send_udp(&lab, "a", "192.0.2.2", 7777, 50);
    // SAFETY: signalling our own child.
    unsafe { kill(child.id() as i32, 15) };
    let o = wait_exit(child);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(": 50 packets captured, 50 received by filter, 0 dropped by kernel"),
        "{}",
        stderr(&o)
    );
    let r = run(&["read", "-r", out.to_str().unwrap(), "-nn"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(stdout(&r).lines().count(), 50);
}

/// SIGINT (Ctrl-C), SIGTERM and SIGHUP each end a `-w` capture with a complete pcapng that
/// tshark reads, holding every packet captured until then, created 0600.
#[test]
fn every_stopping_signal_leaves_a_pcapng_tshark_reads() {
    if !lab_allowed() {
        return;
    }
    require("tshark");
    use std::os::unix::fs::PermissionsExt;
    let lab = two_hosts();
    let b0 = format!("{}/b0", lab.ns("b"));
    for (sig, name) in [(2, "SIGINT"), (15, "SIGTERM"), (1, "SIGHUP")] {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let out = dir.path().join("cap.pcapng");
        let child = start_capture(
            &[
                "capture",
                "-i",
                &format!("b={b0}"),
                "-w",
                out.to_str().unwrap(),
                "--ready-file",
                ready.to_str().unwrap(),
                "udp",
            ],
            &ready,
        );
        send_udp(&lab, "a", "192.0.2.2", 7777, 40);
        // SAFETY: signalling our own child.
        unsafe { kill(child.id() as i32, sig) };
        let o = wait_exit(child);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("b: 40 packets captured"),
            "{name}: {}",
            stderr(&o)
        );
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let t = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&out)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.interface_name",
                "-e",
                "udp.dstport",
            ])
            .output()
            .unwrap();
        // tshark complains on stderr about a damaged file ("cut short", "appears to be
        // damaged"); its root warning is the only line allowed.
        let terr = String::from_utf8_lossy(&t.stderr);
        assert!(
            t.status.success() && terr.lines().all(|l| l.starts_with("Running as user")),
            "{name}: tshark: {terr}"
        );
        let rows = String::from_utf8_lossy(&t.stdout).into_owned();
        assert_eq!(rows.lines().count(), 40, "{name}: {rows}");
        assert!(rows.lines().all(|l| l == "b\t7777"), "{name}: {rows}");
    }
}

#[test]
fn unknown_interface_and_namespace_are_clear_errors() {
    if !lab_allowed() {
        return;
    }
    let lab = two_hosts();
    let bad_if = format!("{}/nope0", lab.ns("a"));
    let o = run(&["capture", "-i", &bad_if, "-c", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("nope0") && err.contains("a0"),
        "names the interface and lists what exists: {err}"
    );
    let o = run(&["capture", "-i", "no-such-netns-hd/eth0", "-c", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("no-such-netns-hd") && err.contains("ip netns list"),
        "{err}"
    );
}

#[test]
fn any_point_in_a_namespace_prints_like_tcpdump_there() {
    if !lab_allowed() {
        return;
    }
    require("tcpdump");
    let lab = two_hosts();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let out = dir.path().join("any.pcap");
    let any = format!("{}/any", lab.ns("b"));
    let child = start_capture(
        &[
            "capture",
            "-i",
            &any,
            "-w",
            out.to_str().unwrap(),
            "-c",
            "10",
            "--ready-file",
            ready.to_str().unwrap(),
            "udp",
        ],
        &ready,
    );
    send_udp(&lab, "a", "192.0.2.2", 4444, 10);
    let o = wait_exit(child);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = out.to_str().unwrap();
    for flags in [&["-nn"][..], &["-nn", "-e"], &["-nn", "-v"]] {
        // Both read inside namespace b, where the SLL2 interface indexes mean something.
        let ours = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns("b"),
                env!("CARGO_BIN_EXE_hopdump"),
                "read",
                "-r",
                f,
            ])
            .args(flags)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        let theirs = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.ns("b"), "tcpdump", "-r", f])
            .args(flags)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(ours.status.success(), "{}", stderr(&ours));
        let per_packet = if flags.contains(&"-v") { 2 } else { 1 };
        assert_eq!(stdout(&ours).lines().count(), 10 * per_packet);
        assert!(
            stdout(&ours).contains("b0"),
            "names the interface: {}",
            stdout(&ours)
        );
        assert_eq!(stdout(&ours), stdout(&theirs), "flags {flags:?}");
    }
}

#[test]
fn missing_privilege_says_which_capability() {
    if !lab_allowed() {
        return;
    }
    // Drop to nobody with no capabilities (util-linux setpriv), as an unprivileged user runs it.
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_hopdump"))
        .args(["capture", "-i", "lo", "-c", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("CAP_NET_RAW") && err.contains("root"), "{err}");
    // Reading a file needs no privilege at all.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.pcap");
    write(
        &f,
        &pcap(
            1,
            &[(
                1_700_000_000_000_000_000,
                udp([198, 51, 100, 240], 9999, b"x"),
                43,
            )],
        ),
    );
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    perms.set_mode(0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_hopdump"))
        .args(["read", "-r", f.to_str().unwrap(), "-nn"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
}

#[test]
fn capture_drops_root_with_z() {
    if !lab_allowed() {
        return;
    }
    let lab = two_hosts();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let b0 = format!("{}/b0", lab.ns("b"));
    let mut child = start_capture(
        &[
            "capture",
            "-i",
            &b0,
            "-nn",
            "-l",
            "-Z",
            "nobody",
            "-c",
            "3",
            "--ready-file",
            ready.to_str().unwrap(),
            "udp",
        ],
        &ready,
    );
    // Once it has printed a packet it is past the privilege drop: it must run as nobody.
    send_udp(&lab, "a", "192.0.2.2", 7777, 1);
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    use std::io::BufRead;
    out.read_line(&mut first).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid_line}"
    );
    send_udp(&lab, "a", "192.0.2.2", 7777, 2);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let o = wait_exit(child);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        first.lines().count() + rest.lines().count(),
        3,
        "{first}{rest}"
    );
    let o = run(&["capture", "-i", "lo", "-Z", "no-such-user-hd", "-c", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such user"), "{}", stderr(&o));
}

#[test]
fn full_disk_leaves_a_valid_file_with_everything_before() {
    if !lab_allowed() {
        return;
    }
    require("tshark");
    let lab = two_hosts();
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let ready = dir.path().join("ready");
    let b0 = format!("{}/b0", lab.ns("b"));
    // A 64 KiB tmpfs in a private mount namespace: the disk fills after a few hundred packets.
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs {disk} && {bin} capture -i {b0} -w {disk}/f.pcapng --ready-file {ready} udp; echo $? > {dir}/rc; cp {disk}/f.pcapng {dir}/copy.pcapng",
        disk = disk.display(),
        bin = env!("CARGO_BIN_EXE_hopdump"),
        ready = ready.display(),
        dir = dir.path().display(),
    );
    let mut child = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child, &ready, "capture");
    let to = "192.0.2.2".to_string();
    lab.within("a", move || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..4000 {
            let _ = s.send_to(&[0x55; 400], (to.as_str(), 9999));
        }
    })
    .unwrap();
    let o = wait_exit(child);
    let err = stderr(&o);
    let rc = std::fs::read_to_string(dir.path().join("rc")).unwrap();
    assert_eq!(rc.trim(), "2", "disk full is a failure: {err}");
    assert!(
        err.contains("cut back") && err.contains("stays readable"),
        "{err}"
    );
    let copy = dir.path().join("copy.pcapng");
    let t = std::process::Command::new("tshark")
        .args(["-r", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        t.status.success(),
        "tshark reads it without error: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let n = String::from_utf8_lossy(&t.stdout).lines().count();
    assert!(
        n > 50,
        "the packets written before the disk filled are there: {n}"
    );
    let r = run(&["read", "-r", copy.to_str().unwrap(), "-nn"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(stdout(&r).lines().count(), n);
}

/// An overloaded capture (tiny kernel buffer, a reader that does not keep up) drops in the
/// kernel, and what it reports are the socket's own counters: captured + dropped = received.
#[test]
fn kernel_drops_are_reported_from_the_socket_counters() {
    if !lab_allowed() {
        return;
    }
    let lab = two_hosts();
    // `ip -br link`: NAME STATE MAC ...
    let mac_text = lab.exec("b", &["ip", "-br", "link", "show", "b0"]).unwrap();
    let mac_text = mac_text.split_whitespace().nth(2).unwrap().to_string();
    let mut mac = [0u8; 6];
    for (i, part) in mac_text.split(':').enumerate().take(6) {
        mac[i] = u8::from_str_radix(part, 16).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let b0 = format!("{}/b0", lab.ns("b"));
    // Text to a pipe nobody reads during the burst: the pipe, then our queues, then the 32 KiB
    // ring fill up, and the kernel drops.
    let child = start_capture(
        &[
            "capture",
            "-i",
            &b0,
            "-B",
            "32",
            "-nn",
            "--ready-file",
            ready.to_str().unwrap(),
            "udp",
        ],
        &ready,
    );
    let opts = hopdump_testkit::blast::BlastOptions {
        netns: Some(lab.ns("a")),
        iface: "a0".into(),
        pps: 0,
        duration: Duration::from_millis(800),
        dst_mac: mac,
        src_ip: [192, 0, 2, 1],
        dst_ip: [192, 0, 2, 2],
        ..Default::default()
    };
    // A loaded machine sends fewer frames per burst: burst again (bounded) until the 32 KiB
    // ring has certainly been overrun.
    let mut sent = 0;
    for _ in 0..8 {
        let report =
            hopdump_testkit::blast::blast(&opts, &std::sync::atomic::AtomicBool::new(false))
                .unwrap();
        sent += report.sent;
        if sent > 50_000 {
            break;
        }
    }
    assert!(sent > 50_000, "sent {sent}");
    // SAFETY: signalling our own child.
    unsafe { kill(child.id() as i32, 15) };
    let o = wait_exit(child);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("packets captured"))
        .unwrap();
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    let (captured, received, dropped) = (nums[0], nums[1], nums[2]);
    assert!(dropped > 0, "the burst overflowed the ring: {line}");
    assert_eq!(captured + dropped, received, "{line}");
    assert_eq!(
        stdout(&o).lines().count() as u64,
        captured,
        "every captured packet was printed"
    );
}

/// `-w -` into a reader that goes away (SIGPIPE/EPIPE): a clean exit, not an error.
#[test]
fn closed_pipe_is_not_an_error() {
    if !lab_allowed() {
        return;
    }
    let lab = two_hosts();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let b0 = format!("{}/b0", lab.ns("b"));
    let script = format!(
        "{} capture -i {b0} -w - -U --ready-file {} udp | head -c 100 > /dev/null; echo ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_hopdump"),
        ready.display()
    );
    let mut child = std::process::Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child, &ready, "capture");
    // Keep traffic coming: hopdump learns the reader left on its next write (as tcpdump does).
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        send_udp(&lab, "a", "192.0.2.2", 9999, 20);
    }
    let o = wait_exit(child);
    assert_eq!(
        stdout(&o).trim(),
        "0",
        "hopdump's exit code after its reader left: {}",
        stderr(&o)
    );
    assert!(
        !stderr(&o)
            .lines()
            .any(|l| l.starts_with("hopdump: ") && !l.starts_with("hopdump: listening")),
        "no error line: {}",
        stderr(&o)
    );
}
