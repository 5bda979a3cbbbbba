//! `hopdump read` as a user runs it: same lines as tcpdump, filters, JSON, bad files.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

const T0: u64 = 1_700_000_000_000_000_000;

fn sample() -> Vec<(u64, Vec<u8>, u32)> {
    let mut frames = Vec::new();
    for i in 0..5u64 {
        let syn = tcp_syn(40000 + i as u16);
        let len = syn.len() as u32;
        frames.push((T0 + i * 1_000_123, syn, len));
        let u = udp([198, 51, 100, 240], 9999, b"hello");
        let len = u.len() as u32;
        frames.push((T0 + i * 1_000_123 + 500, u, len));
    }
    frames
}

#[test]
fn read_prints_the_same_lines_as_tcpdump() {
    require("tcpdump");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.pcap");
    write(&f, &pcap(1, &sample()));
    let fs = f.to_str().unwrap();
    for flags in [
        &["-nn"][..],
        &["-nn", "-e"],
        &["-nn", "-tt"],
        &["-nn", "-ttt"],
        &["-nn", "-tttt"],
        &["-nn", "-ttttt"],
        &["-n"],
        &["-nn", "-S"],
        &["-nn", "-t", "-v"],
        &["-nn", "-q"],
    ] {
        let mut args = vec!["read", "-r", fs];
        args.extend_from_slice(flags);
        let ours = run(&args);
        assert!(ours.status.success(), "{}", stderr(&ours));
        let theirs = std::process::Command::new("tcpdump")
            .env("TZ", "UTC")
            .args(["-r", fs])
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(stdout(&ours), stdout(&theirs), "flags {flags:?}");
    }
}

#[test]
fn filter_count_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.pcap");
    write(&f, &pcap(1, &sample()));
    let fs = f.to_str().unwrap();
    let o = run(&["read", "-r", fs, "-nn", "udp", "and", "port", "9999"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 5);
    assert!(
        stdout(&o)
            .lines()
            .all(|l| l.contains("198.51.100.10.5000 > 198.51.100.240.9999: UDP, length 5")),
        "{}",
        stdout(&o)
    );
    let o = run(&["read", "-r", fs, "-c", "3", "tcp"]);
    assert_eq!(stdout(&o).lines().count(), 3);
    let o = run(&["read", "-r", fs, "--json", "tcp[tcpflags] & tcp-syn != 0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 5);
    for v in &lines {
        assert_eq!(v["schema"], "hopdump.record/1");
        assert_eq!(v["packet"]["len"], 66);
        assert!(v["ts_ns"].as_u64().unwrap() >= T0);
        assert!(v["packet"].is_object());
    }
}

#[test]
fn truncated_file_prints_what_it_can_then_one_line_error_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.pcap");
    let mut bytes = pcap(1, &sample());
    let full = bytes.len();
    bytes.truncate(full - 10);
    write(&f, &bytes);
    let o = run(&["read", "-r", f.to_str().unwrap(), "-nn"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stdout(&o).lines().count(),
        9,
        "every intact packet is printed"
    );
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("byte offset") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    write(&junk, b"definitely not a capture file, just text\n");
    let good = dir.path().join("g.pcap");
    write(&good, &pcap(1, &sample()));
    let cases: Vec<Vec<&str>> = vec![
        vec!["read", "-r", junk.to_str().unwrap()],
        vec!["read", "-r", "/nonexistent/file.pcap"],
        vec!["read", "-r", good.to_str().unwrap(), "port", "banana"],
    ];
    for args in cases {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("hopdump: "), "{err}");
    }
}

#[test]
fn rewrite_to_pcapng_opens_in_tshark() {
    require("tshark");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.pcap");
    write(&f, &pcap(1, &sample()));
    let out = dir.path().join("o.pcapng");
    let o = run(&[
        "read",
        "-r",
        f.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
        "tcp",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "captures are private");
    let t = std::process::Command::new("tshark")
        .args([
            "-r",
            out.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
        ])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let ports: Vec<String> = String::from_utf8_lossy(&t.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ports, ["40000", "40001", "40002", "40003", "40004"]);
    // And it reads back through hopdump with the same text as the original.
    let a = run(&["read", "-r", f.to_str().unwrap(), "-nn", "tcp"]);
    let b = run(&["read", "-r", out.to_str().unwrap(), "-nn"]);
    assert_eq!(stdout(&a), stdout(&b));
}

/// The JSON contract: real output deserialises into strict types (unknown fields rejected).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Record {
    schema: String,
    point: String,
    ts_ns: u64,
    packet: hopdump_wire::Packet,
}

#[test]
fn json_output_matches_the_strict_schema() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.pcap");
    write(&f, &pcap(1, &sample()));
    let o = run(&["read", "-r", f.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs: Vec<Record> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(recs.len(), 10);
    assert!(
        recs.iter()
            .all(|r| r.schema == "hopdump.record/1" && r.point == "if0")
    );
    assert_eq!(recs[0].ts_ns, T0);
    assert_eq!(recs[1].packet.len, 47);
}
