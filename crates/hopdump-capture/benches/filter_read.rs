//! Throughput of the offline filter (libpcap's compiler + BPF interpreter) and of the file
//! reader, in packets/s: the two costs of `hopdump read FILTER`.

use std::ops::ControlFlow;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hopdump_capture::{FileReader, OfflineFilter};

/// Ethernet/IPv4/TCP frame to dst port `dport` (headers only, 54 bytes + payload).
fn tcp_frame(dport: u16, payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; 14 + 20 + 20 + payload];
    p[12] = 0x08;
    p[14] = 0x45;
    let total = (20 + 20 + payload) as u16;
    p[16..18].copy_from_slice(&total.to_be_bytes());
    p[14 + 9] = 6;
    p[26..30].copy_from_slice(&[203, 0, 113, 7]);
    p[30..34].copy_from_slice(&[198, 51, 100, 240]);
    p[34..36].copy_from_slice(&40000u16.to_be_bytes());
    p[36..38].copy_from_slice(&dport.to_be_bytes());
    p[46] = 0x50;
    p
}

fn pcap_file(frames: &[Vec<u8>], copies: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&262_144u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    for i in 0..copies {
        let f = &frames[i % frames.len()];
        v.extend_from_slice(&(i as u32).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&(f.len() as u32).to_le_bytes());
        v.extend_from_slice(&(f.len() as u32).to_le_bytes());
        v.extend_from_slice(f);
    }
    v
}

fn bench(c: &mut Criterion) {
    let frames = vec![tcp_frame(80, 0), tcp_frame(443, 1400), tcp_frame(8080, 200)];
    let mut g = c.benchmark_group("filter");
    g.throughput(Throughput::Elements(frames.len() as u64));
    for expr in [
        "tcp and dst port 80",
        "host 198.51.100.240 and (port 80 or port 443)",
    ] {
        let mut f = OfflineFilter::new(expr).expect("compiles");
        g.bench_function(expr, |b| {
            b.iter(|| {
                let mut n = 0;
                for fr in &frames {
                    n += f.matches(1, fr, fr.len() as u32).unwrap_or(false) as u32;
                }
                n
            })
        });
    }
    g.finish();

    // Leaked once so each iteration reads the same bytes without copying them.
    let file: &'static [u8] = Box::leak(pcap_file(&frames, 100_000).into_boxed_slice());
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("pcap records", |b| {
        b.iter(|| {
            let mut r =
                FileReader::from_reader(Path::new("mem"), Box::new(std::io::Cursor::new(file)))
                    .expect("valid");
            let mut n = 0u64;
            r.for_each(|_, f| {
                n += f.data.len() as u64;
                ControlFlow::Continue(())
            })
            .expect("reads");
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
