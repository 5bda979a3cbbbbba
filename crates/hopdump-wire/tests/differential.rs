//! Differential fuzzing against tcpdump: mutated corpus packets, our text vs tcpdump's.
//! Exploratory (mutations reach printers this crate deliberately does not reproduce, such as
//! NTP or SNMP on a mutated port), so it is `#[ignore]`d and reports a mismatch rate:
//! `cargo test -p hopdump-wire --test differential -- --ignored --nocapture`.
//! `HOPDUMP_DIFF_CORPUS=dns` mutates only the DNS corpus (default: Ethernet + DNS);
//! `HOPDUMP_DIFF_SKIP` (14) bytes are left alone, up to 1 + `HOPDUMP_DIFF_MUTATIONS` (2) are
//! changed, `HOPDUMP_DIFF_SEED` picks another run.

mod common;

use std::io::Write;
use std::process::Command;

use hopdump_wire::{LinkType, NoNames, Printer, TextOptions};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

#[test]
#[ignore]
fn mutated_packets_match_tcpdump() {
    let n: usize = std::env::var("HOPDUMP_DIFF_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let flags: Vec<String> = std::env::var("HOPDUMP_DIFF_FLAGS")
        .unwrap_or_else(|_| "-nn".to_string())
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let opts = TextOptions {
        verbose: flags
            .iter()
            .map(|f| {
                if f.starts_with("-v") {
                    f.len() as u8 - 1
                } else {
                    0
                }
            })
            .sum(),
        link_header: flags.iter().any(|f| f == "-e"),
        quiet: flags.iter().any(|f| f == "-q"),
        ..TextOptions::numeric()
    };
    let corpus: Vec<_> = match std::env::var("HOPDUMP_DIFF_CORPUS").as_deref() {
        Ok("dns") => common::dns::dns_cases(),
        Ok("ethernet") => common::ethernet_cases(),
        _ => {
            let mut c = common::ethernet_cases();
            c.extend(common::dns::dns_cases());
            c
        }
    };
    // Bytes left alone at the start (14: the Ethernet header; 42 also keeps IPv4 and UDP)
    // and the most bytes changed per packet.
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let skip = env("HOPDUMP_DIFF_SKIP", 14);
    let most = env("HOPDUMP_DIFF_MUTATIONS", 2);
    let seed = std::env::var("HOPDUMP_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1234_5678_9abc_def1u64);
    let mut rng = Rng(seed | 1);
    let mut pkts = Vec::new();
    for i in 0..n {
        let mut d = corpus[i % corpus.len()].data.clone();
        // Mutate past the first `skip` bytes, mostly single bytes.
        for _ in 0..=rng.below(most) {
            if d.len() > skip {
                let at = skip + rng.below(d.len() - skip);
                d[at] = match rng.below(3) {
                    0 => rng.next() as u8,
                    1 => d[at] ^ (1 << rng.below(8)),
                    _ => [0, 0xff, 1, 2, 4, 5, 6, 8, 0x40][rng.below(9)],
                };
            }
        }
        if rng.below(5) == 0 {
            let cut = rng.below(d.len() + 1);
            let orig = d.len() as u32;
            d.truncate(cut.max(1));
            pkts.push((d, orig));
        } else {
            let l = d.len() as u32;
            pkts.push((d, l));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("diff.pcap");
    let mut f = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for (d, orig) in &pkts {
        for v in [1u32, 0, d.len() as u32, *orig] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(d);
    }
    std::fs::File::create(&path)
        .and_then(|mut h| h.write_all(&f))
        .expect("write pcap");
    let out = Command::new("tcpdump")
        .args(["-t", "-#", "-r"])
        .arg(&path)
        .args(&flags)
        .output()
        .expect("tcpdump must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut theirs: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let next = format!("{:5}  ", theirs.len() + 1);
        match line.strip_prefix(next.as_str()) {
            Some(rest) if theirs.len() < pkts.len() => theirs.push(rest.to_string()),
            _ => {
                if let Some(p) = theirs.last_mut() {
                    p.push_str(line)
                }
            }
        }
    }
    let show: usize = std::env::var("HOPDUMP_DIFF_SHOW")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut printer = Printer::new(opts);
    let mut bad = 0;
    for (i, (d, orig)) in pkts.iter().enumerate() {
        let mut o = Vec::new();
        printer.write(&mut o, LinkType::Ethernet, d, *orig, &NoNames);
        o.push(b'\n');
        let ours = String::from_utf8_lossy(&o).into_owned();
        let t = theirs.get(i).cloned().unwrap_or_default();
        if ours != t {
            bad += 1;
            if bad <= show {
                println!(
                    "#{} ({})\n  tcpdump: {t:?}\n  ours:    {ours:?}",
                    i + 1,
                    corpus[i % corpus.len()].name
                );
            }
        }
    }
    println!(
        "{bad} of {} mutated packets differ from tcpdump {}",
        pkts.len(),
        flags.join(" ")
    );
}
