//! Packets per second for the text printer, the JSON decoder and `flow_key` on a mix of
//! TCP SYN (options), TCP data, UDP, ARP, 802.1Q and VXLAN-with-inner-TCP frames.
//!
//! `cargo bench -p hopdump-wire -- --quick` (criterion reports elements/s = packets/s).

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use hopdump_wire::{LinkType, NoNames, Printer, TextOptions, decode, flow_key, write_text};

#[path = "../tests/common/mod.rs"]
mod common;

fn mix() -> Vec<Vec<u8>> {
    let cases = common::ethernet_cases();
    [
        "tcp syn",
        "tcp data",
        "udp",
        "arp request",
        "802.1q tcp",
        "vxlan 4789 tcp",
    ]
    .iter()
    .map(|n| {
        cases
            .iter()
            .find(|c| c.name == *n)
            .map(|c| c.data.clone())
            .unwrap_or_default()
    })
    .collect()
}

fn benches(c: &mut Criterion) {
    let pkts = mix();
    let n = pkts.len() as u64;
    let mut g = c.benchmark_group("mix");
    g.throughput(Throughput::Elements(n));
    let opts = TextOptions::numeric();
    let mut out = Vec::with_capacity(4096);
    g.bench_function("write_text -nn", |b| {
        b.iter(|| {
            for p in &pkts {
                out.clear();
                write_text(
                    &mut out,
                    LinkType::Ethernet,
                    black_box(p),
                    p.len() as u32,
                    &opts,
                    &NoNames,
                );
                black_box(&out);
            }
        })
    });
    let mut printer = Printer::new(opts.clone());
    g.bench_function("Printer -nn (relative seq)", |b| {
        b.iter(|| {
            for p in &pkts {
                out.clear();
                printer.write(
                    &mut out,
                    LinkType::Ethernet,
                    black_box(p),
                    p.len() as u32,
                    &NoNames,
                );
                black_box(&out);
            }
        })
    });
    let vv = TextOptions {
        verbose: 2,
        link_header: true,
        ..TextOptions::numeric()
    };
    g.bench_function("write_text -e -vv", |b| {
        b.iter(|| {
            for p in &pkts {
                out.clear();
                write_text(
                    &mut out,
                    LinkType::Ethernet,
                    black_box(p),
                    p.len() as u32,
                    &vv,
                    &NoNames,
                );
                black_box(&out);
            }
        })
    });
    g.bench_function("flow_key", |b| {
        b.iter(|| {
            for p in &pkts {
                black_box(flow_key(LinkType::Ethernet, black_box(p)));
            }
        })
    });
    g.bench_function("decode (owned JSON view)", |b| {
        b.iter(|| {
            for p in &pkts {
                black_box(decode(LinkType::Ethernet, black_box(p), p.len() as u32));
            }
        })
    });
    g.finish();
}

criterion_group!(decode_benches, benches);
criterion_main!(decode_benches);
