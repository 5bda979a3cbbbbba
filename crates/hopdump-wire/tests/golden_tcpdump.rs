//! Golden tests: our text must equal what the installed tcpdump prints for the same pcap,
//! byte for byte, for every corpus packet and every flag set. Needs `tcpdump` on PATH
//! (CI installs it); without it these tests fail rather than pass silently.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;

use common::{Case, all_cases};
use hopdump_wire::{LinkType, Names, Printer, TextOptions, write_text};

/// Interface names as tcpdump's `if_indextoname` sees them on this machine.
struct SysNames(HashMap<u32, String>);

impl SysNames {
    fn load() -> Self {
        let mut m = HashMap::new();
        if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
            for e in rd.flatten() {
                let idx = std::fs::read_to_string(e.path().join("ifindex"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                if let Some(i) = idx {
                    m.insert(i, e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        SysNames(m)
    }
}

impl Names for SysNames {
    fn ifname(&self, ifindex: u32) -> Option<&str> {
        self.0.get(&ifindex).map(String::as_str)
    }
}

fn write_pcap(path: &std::path::Path, link: LinkType, cases: &[&Case]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&262_144u32.to_le_bytes());
    f.extend_from_slice(&link.linktype().to_le_bytes());
    for (i, c) in cases.iter().enumerate() {
        f.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&(c.data.len() as u32).to_le_bytes());
        f.extend_from_slice(&c.orig_len.to_le_bytes());
        f.extend_from_slice(&c.data);
    }
    let mut file = std::fs::File::create(path).expect("create pcap");
    file.write_all(&f).expect("write pcap");
}

fn tcpdump(path: &std::path::Path, flags: &[&str]) -> String {
    let out = Command::new("tcpdump")
        .args(["-t", "-r"])
        .arg(path)
        .args(flags)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run tcpdump ({e}): the golden tests compare against tcpdump 4.99.x; \
             install it (Debian: apt-get install -y tcpdump) and re-run"
        ),
    };
    assert!(
        out.status.success(),
        "tcpdump {:?} failed: {}",
        flags,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct FlagSet {
    flags: &'static [&'static str],
    opts: TextOptions,
    /// tcpdump without -S keeps relative-sequence state: use the stateful Printer.
    stateful: bool,
}

fn flagsets() -> Vec<FlagSet> {
    let n = TextOptions::numeric();
    vec![
        FlagSet {
            flags: &["-nn"],
            opts: n.clone(),
            stateful: true,
        },
        FlagSet {
            flags: &["-nn", "-S"],
            opts: TextOptions {
                absolute_seq: true,
                ..n.clone()
            },
            stateful: false,
        },
        FlagSet {
            flags: &["-nn", "-e"],
            opts: TextOptions {
                link_header: true,
                ..n.clone()
            },
            stateful: true,
        },
        FlagSet {
            flags: &["-nn", "-v"],
            opts: TextOptions {
                verbose: 1,
                ..n.clone()
            },
            stateful: true,
        },
        FlagSet {
            flags: &["-nn", "-vv"],
            opts: TextOptions {
                verbose: 2,
                ..n.clone()
            },
            stateful: true,
        },
        FlagSet {
            flags: &["-nn", "-q"],
            opts: TextOptions {
                quiet: true,
                ..n.clone()
            },
            stateful: true,
        },
        FlagSet {
            flags: &["-nn", "-e", "-q"],
            opts: TextOptions {
                quiet: true,
                link_header: true,
                ..n.clone()
            },
            stateful: true,
        },
        FlagSet {
            flags: &["-nn", "-e", "-vv"],
            opts: TextOptions {
                verbose: 2,
                link_header: true,
                ..n.clone()
            },
            stateful: true,
        },
    ]
}

/// Runs every flag set over the cases of one link type; returns readable mismatch reports.
fn check_link(
    link: LinkType,
    cases: &[&Case],
    dir: &std::path::Path,
    sets: &[FlagSet],
) -> Vec<String> {
    let path = dir.join(format!("link{}.pcap", link.linktype()));
    write_pcap(&path, link, cases);
    let names = SysNames::load();
    let mut failures = Vec::new();
    let mut compared = 0;
    for fs in sets {
        // `-#` numbers each packet ("%5u  "), which splits tcpdump's output per packet.
        let mut flags = fs.flags.to_vec();
        flags.push("-#");
        let theirs = tcpdump(&path, &flags);
        let per_packet = split_numbered(&theirs, cases.len());
        let mut printer = Printer::new(fs.opts.clone());
        for (c, theirs) in cases.iter().zip(per_packet) {
            let mut ours = Vec::new();
            if fs.stateful {
                printer.write(&mut ours, c.link, &c.data, c.orig_len, &names);
            } else {
                write_text(&mut ours, c.link, &c.data, c.orig_len, &fs.opts, &names);
            }
            ours.push(b'\n');
            let ours = String::from_utf8_lossy(&ours).into_owned();
            assert!(
                !theirs.is_empty(),
                "[{}] tcpdump {} printed nothing for this packet",
                c.name,
                fs.flags.join(" ")
            );
            compared += 1;
            if std::env::var_os("HOPDUMP_GOLDEN_SHOW").is_some() {
                eprint!("[{}] {}\n{}", c.name, fs.flags.join(" "), theirs);
            }
            if ours != theirs {
                failures.push(format!(
                    "[{}] tcpdump {}\n  tcpdump: {:?}\n  ours:    {:?}",
                    c.name,
                    fs.flags.join(" "),
                    theirs,
                    ours
                ));
            }
        }
    }
    assert_eq!(
        compared,
        cases.len() * sets.len(),
        "every packet compared under every flag set"
    );
    failures
}

/// Splits `tcpdump -#` output into one string per packet, without the number prefix.
fn split_numbered(out: &str, n: usize) -> Vec<String> {
    let mut packets: Vec<String> = Vec::new();
    for line in out.split_inclusive('\n') {
        let next = format!("{:5}  ", packets.len() + 1);
        match line.strip_prefix(next.as_str()) {
            Some(rest) if packets.len() < n => packets.push(rest.to_string()),
            _ => match packets.last_mut() {
                Some(p) => p.push_str(line),
                None => packets.push(line.to_string()),
            },
        }
    }
    packets.resize(n, String::new());
    packets
}

#[test]
fn text_equals_tcpdump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = all_cases();
    let mut by_link: Vec<(LinkType, Vec<&Case>)> = Vec::new();
    for c in &cases {
        match by_link.iter_mut().find(|(l, _)| *l == c.link) {
            Some((_, v)) => v.push(c),
            None => by_link.push((c.link, vec![c])),
        }
    }
    let mut failures = Vec::new();
    for (link, cs) in &by_link {
        failures.extend(check_link(*link, cs, dir.path(), &flagsets()));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches against tcpdump:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `-vvv` adds DNS record TTLs (`[1h2m3s]`); checked on the DNS corpus alone (its UDP, TCP,
/// IPv6 and ICMP carriers included).
#[test]
fn dns_vvv_equals_tcpdump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = common::dns::dns_cases();
    let refs: Vec<&Case> = cases.iter().collect();
    let sets = [FlagSet {
        flags: &["-nn", "-vvv"],
        opts: TextOptions {
            verbose: 3,
            ..TextOptions::numeric()
        },
        stateful: true,
    }];
    let failures = check_link(LinkType::Ethernet, &refs, dir.path(), &sets);
    assert!(
        failures.is_empty(),
        "{} mismatches against tcpdump -vvv:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
