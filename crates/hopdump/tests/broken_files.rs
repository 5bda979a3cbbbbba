//! A corpus of broken capture files (built here, byte by byte): each gives one line on stderr
//! naming the byte offset and exit code 2, and every packet before the fault is still printed.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn ghdr(magic: u32, snap: u32, linktype: u32) -> Vec<u8> {
    let mut v = magic.to_le_bytes().to_vec();
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&snap.to_le_bytes());
    v.extend_from_slice(&linktype.to_le_bytes());
    v
}

fn rec(data: &[u8], caplen: u32, orig: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [1_700_000_000u32, 0, caplen, orig] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn block(ty: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len()) as u32;
    let mut v = ty.to_le_bytes().to_vec();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(body);
    v.extend_from_slice(&len.to_le_bytes());
    v
}

fn ng_prefix(pkt: &[u8]) -> Vec<u8> {
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut idb = 1u16.to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&65535u32.to_le_bytes());
    let mut epb = Vec::new();
    for x in [0u32, 0, 1, pkt.len() as u32, pkt.len() as u32] {
        epb.extend_from_slice(&x.to_le_bytes());
    }
    epb.extend_from_slice(pkt);
    epb.extend(std::iter::repeat_n(0, (4 - pkt.len() % 4) % 4));
    let mut v = block(0x0a0d_0d0a, &shb);
    v.extend(block(1, &idb));
    v.extend(block(6, &epb));
    v
}

#[test]
fn each_broken_file_is_one_line_with_the_offset_and_keeps_what_came_before() {
    let pkt = udp([198, 51, 100, 240], 9999, b"hello");
    let n = pkt.len() as u32;
    let good = [
        ghdr(0xa1b2_c3d4, 262_144, 1),
        rec(&pkt, n, n),
        rec(&pkt, n, n),
    ]
    .concat();
    let ng = ng_prefix(&pkt);
    // (name, bytes, packets printed before the fault, byte offset named)
    let cases: Vec<(&str, Vec<u8>, usize, usize)> = vec![
        ("empty", vec![], 0, 0),
        (
            "truncated global header",
            ghdr(0xa1b2_c3d4, 262_144, 1)[..10].to_vec(),
            0,
            0,
        ),
        (
            "truncated record header",
            [good.clone(), rec(&pkt, n, n)[..9].to_vec()].concat(),
            2,
            good.len(),
        ),
        (
            "truncated record data",
            [good.clone(), rec(&pkt, n, n)[..30].to_vec()].concat(),
            2,
            good.len(),
        ),
        (
            "lying caplen",
            [good.clone(), rec(&pkt, 0x7fff_ffff, n)].concat(),
            2,
            good.len(),
        ),
        (
            "garbage after a valid prefix",
            [good.clone(), b"\xde\xad\xbe\xef garbage".to_vec()].concat(),
            2,
            good.len(),
        ),
        (
            "not a capture file",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            0,
            0,
        ),
        (
            "pcapng huge block",
            [
                ng.clone(),
                6u32.to_le_bytes().to_vec(),
                0x7fff_fff0u32.to_le_bytes().to_vec(),
                vec![0; 64],
            ]
            .concat(),
            1,
            ng.len(),
        ),
        (
            "pcapng block length too small",
            [
                ng.clone(),
                6u32.to_le_bytes().to_vec(),
                8u32.to_le_bytes().to_vec(),
                vec![0; 8],
            ]
            .concat(),
            1,
            ng.len(),
        ),
        (
            "pcapng truncated block",
            [ng.clone(), ng_prefix(&pkt)[..20].to_vec()].concat(),
            1,
            ng.len(),
        ),
    ];
    let mut archaic = ghdr(0xa1b2_c3d4, 262_144, 1);
    archaic[4] = 1;
    let mut lying_epb = Vec::new();
    for x in [0u32, 0, 1, 0x7fff_fff0, n] {
        lying_epb.extend_from_slice(&x.to_le_bytes());
    }
    lying_epb.extend_from_slice(&pkt);
    lying_epb.extend(std::iter::repeat_n(0, (4 - pkt.len() % 4) % 4));
    let cases2: Vec<(&str, Vec<u8>, usize, usize, &str)> = vec![
        (
            "pcap version 1",
            [archaic, rec(&pkt, n, n)].concat(),
            0,
            0,
            "version 1.4",
        ),
        (
            "pcapng packet block whose caplen lies",
            [ng.clone(), block(6, &lying_epb)].concat(),
            1,
            ng.len(),
            "claims 2147483632 captured bytes",
        ),
    ];
    let cases: Vec<(&str, Vec<u8>, usize, usize, &str)> = cases
        .into_iter()
        .map(|(a, b, c, d)| (a, b, c, d, ""))
        .chain(cases2)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, before, offset, says) in cases {
        let f = dir.path().join("broken");
        write(&f, &bytes);
        let o = run(&["read", "-r", f.to_str().unwrap(), "-nn"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(
            err.contains(&format!("byte offset {offset}")),
            "{name}: offset {offset}: {err}"
        );
        assert!(err.contains(says), "{name}: says {says:?}: {err}");
        assert_eq!(
            stdout(&o).lines().count(),
            before,
            "{name}: packets before the fault"
        );
    }
}

#[test]
fn odd_but_valid_files_are_read() {
    let pkt = udp([198, 51, 100, 240], 9999, b"hello");
    let n = pkt.len() as u32;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("odd");
    // Zero snaplen in the header, an unknown link type printed as hex like tcpdump, and
    // Ethernet with the FCS-length bits set in the header's link type (libpcap masks them).
    for (linktype, snap, want) in [
        (1u32, 0u32, "198.51.100.240.9999"),
        (147, 262_144, "0x0000:"),
        (0x4400_0001, 262_144, "198.51.100.240.9999"),
    ] {
        write(
            &f,
            &[ghdr(0xa1b2_c3d4, snap, linktype), rec(&pkt, n, n)].concat(),
        );
        let o = run(&["read", "-r", f.to_str().unwrap(), "-nn"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains(want), "{}", stdout(&o));
    }
    // Big-endian classic pcap.
    let mut be = Vec::new();
    be.extend_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
    be.extend_from_slice(&2u16.to_be_bytes());
    be.extend_from_slice(&4u16.to_be_bytes());
    be.extend_from_slice(&[0; 8]);
    be.extend_from_slice(&262_144u32.to_be_bytes());
    be.extend_from_slice(&1u32.to_be_bytes());
    for x in [1_700_000_000u32, 7, n, n] {
        be.extend_from_slice(&x.to_be_bytes());
    }
    be.extend_from_slice(&pkt);
    write(&f, &be);
    let o = run(&["read", "-r", f.to_str().unwrap(), "-nn", "-tt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("1700000000.000007 IP 198.51.100.10.5000 > 198.51.100.240.9999"),
        "{}",
        stdout(&o)
    );
}
