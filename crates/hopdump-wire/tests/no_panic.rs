//! Robustness: millions of random and mutated packets through every entry point and link
//! type must never panic (run in debug, so arithmetic overflow would panic too).

mod common;

use hopdump_wire::{LinkType, NoNames, Printer, TextOptions, decode, flow_key, write_text};

/// xorshift64*: small, seeded, reproducible.
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

const LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Raw,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Other(147),
];

fn mutate(rng: &mut Rng, base: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(base);
    match rng.below(6) {
        0 => {
            // flip a few bits
            for _ in 0..=rng.below(4) {
                if !out.is_empty() {
                    let i = rng.below(out.len());
                    out[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            // overwrite bytes with extremes (lengths, offsets)
            for _ in 0..=rng.below(3) {
                if !out.is_empty() {
                    let i = rng.below(out.len());
                    out[i] = [0x00, 0xff, 0x01, 0x80, 0x7f, 0x45, 0x60][rng.below(7)];
                }
            }
        }
        2 => {
            let n = rng.below(out.len() + 1);
            out.truncate(n);
        }
        3 => {
            for _ in 0..rng.below(64) {
                out.push(rng.next() as u8);
            }
        }
        4 => {
            let n = rng.below(128);
            out.clear();
            for _ in 0..n {
                out.push(rng.next() as u8);
            }
        }
        _ => {
            // splice a random chunk of the packet into itself
            if out.len() > 2 {
                let a = rng.below(out.len());
                let b = rng.below(out.len());
                let chunk: Vec<u8> = out[a.min(b)..a.max(b)].to_vec();
                let at = rng.below(out.len());
                out.splice(at..at, chunk);
            }
        }
    }
}

#[test]
fn never_panics_on_mutated_corpus() {
    let iters: usize = std::env::var("HOPDUMP_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let corpus = common::all_cases();
    let opts = [
        TextOptions::numeric(),
        TextOptions {
            verbose: 2,
            link_header: true,
            ..TextOptions::numeric()
        },
        TextOptions {
            quiet: true,
            verbose: 1,
            ..TextOptions::default()
        },
    ];
    let mut printers: Vec<Printer> = opts.iter().cloned().map(Printer::new).collect();
    let seed = std::env::var("HOPDUMP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
    let mut rng = Rng(seed | 1);
    let mut buf = Vec::new();
    let mut out = Vec::with_capacity(4096);
    let mut calls = 0u64;
    for i in 0..iters {
        let base = &corpus[i % corpus.len()];
        mutate(&mut rng, &base.data, &mut buf);
        let link = if rng.below(4) == 0 {
            LINKS[rng.below(LINKS.len())]
        } else {
            base.link
        };
        let orig_len = match rng.below(4) {
            0 => rng.next() as u32,
            1 => buf.len() as u32 + rng.below(100) as u32,
            _ => buf.len() as u32,
        };
        out.clear();
        let o = &opts[i % opts.len()];
        write_text(&mut out, link, &buf, orig_len, o, &NoNames);
        printers[i % opts.len()].write(&mut out, link, &buf, orig_len, &NoNames);
        let _ = flow_key(link, &buf);
        if i % 4 == 0 {
            let p = decode(link, &buf, orig_len);
            assert_eq!(p.caplen as usize, buf.len());
        }
        calls += 3;
    }
    assert!(calls >= 3 * iters as u64);
}

#[test]
fn every_prefix_of_every_corpus_packet() {
    let opts = [
        TextOptions::numeric(),
        TextOptions {
            verbose: 2,
            link_header: true,
            ..TextOptions::numeric()
        },
    ];
    let mut out = Vec::new();
    for c in common::all_cases() {
        for n in 0..=c.data.len() {
            for link in LINKS {
                for o in &opts {
                    out.clear();
                    write_text(&mut out, link, &c.data[..n], c.orig_len, o, &NoNames);
                }
                let _ = flow_key(link, &c.data[..n]);
                let _ = decode(link, &c.data[..n], c.orig_len);
            }
        }
    }
}
