//! The byte layouts shared with the BPF program (src/bpf/drops.h), written and read field by
//! field at fixed offsets: no transmutes, and the sizes are checked against the C side.

use std::net::IpAddr;

use crate::filter::{Cond, Dir, Table};

pub const MAX_CLAUSES: usize = 8;
pub const MAX_TERMS: usize = 8;
pub const MAX_NETNS: usize = 16;
pub const HDR_BYTES: usize = 128;

const TERM_SIZE: usize = 44;
const CLAUSE_SIZE: usize = 8 + MAX_TERMS * TERM_SIZE;
const CONFIG_HEAD: usize = 8 + 4 * MAX_NETNS + 16;
/// sizeof(struct hd_config)
pub const CONFIG_SIZE: usize = CONFIG_HEAD + MAX_CLAUSES * CLAUSE_SIZE;
/// sizeof(struct hd_event)
pub const EVENT_SIZE: usize = 56 + HDR_BYTES;

/// Counter slots of `hd_counters`.
pub const C_SEEN: u32 = 0;
pub const C_FILTERED: u32 = 1;
pub const C_NOISE: u32 = 2;
pub const C_RINGBUF_FULL: u32 = 3;

/// What the kernel side needs besides the filter.
#[derive(Clone, Debug, Default)]
pub struct KernelConfig {
    pub table: Table,
    pub netns: Vec<u32>,
    pub reason_consumed: u32,
    pub reason_not_specified: u32,
    pub keep_noise: bool,
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}
fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}

fn addr_and_mask(addr: &IpAddr, prefix: u8) -> ([u8; 16], [u8; 16]) {
    let (bytes, bits): ([u8; 16], u32) = match addr {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            (b, 32)
        }
        IpAddr::V6(a) => (a.octets(), 128),
    };
    let p = u32::from(prefix).min(bits);
    let mut mask = [0u8; 16];
    for (i, m) in mask.iter_mut().enumerate() {
        let start = (i as u32) * 8;
        *m = if p >= start + 8 {
            0xff
        } else if p > start {
            0xffu8 << (8 - (p - start))
        } else {
            0
        };
    }
    let mut masked = bytes;
    for (b, m) in masked.iter_mut().zip(mask) {
        *b &= m;
    }
    (masked, mask)
}

fn dir_code(d: Dir) -> u8 {
    match d {
        Dir::Any => 0,
        Dir::Src => 1,
        Dir::Dst => 2,
        Dir::Both => 3,
    }
}

fn encode_term(b: &mut [u8], cond: &Cond, negate: bool) {
    b[1] = u8::from(negate);
    match cond {
        Cond::Family(f) => {
            b[0] = 1;
            b[3] = *f;
        }
        Cond::Proto { proto, family } => {
            b[0] = 2;
            b[3] = family.unwrap_or(0);
            b[4] = *proto;
        }
        Cond::Net { dir, addr, prefix } => {
            b[0] = 3;
            b[2] = dir_code(*dir);
            b[3] = if addr.is_ipv4() { 4 } else { 6 };
            let (a, m) = addr_and_mask(addr, *prefix);
            b[12..28].copy_from_slice(&a);
            b[28..44].copy_from_slice(&m);
        }
        Cond::Port { dir, lo, hi, proto } => {
            b[0] = 4;
            b[2] = dir_code(*dir);
            b[4] = proto.unwrap_or(0);
            put_u16(b, 6, *lo);
            put_u16(b, 8, *hi);
        }
    }
}

/// `struct hd_config` bytes; `None` when the table or netns list do not fit (the filter
/// compiler and the caller check that first).
pub fn encode_config(c: &KernelConfig) -> Option<Vec<u8>> {
    if c.table.clauses.len() > MAX_CLAUSES
        || c.table.clauses.iter().any(|t| t.len() > MAX_TERMS)
        || c.netns.len() > MAX_NETNS
    {
        return None;
    }
    let mut b = vec![0u8; CONFIG_SIZE];
    put_u32(&mut b, 0, c.table.clauses.len() as u32);
    put_u32(&mut b, 4, c.netns.len() as u32);
    for (i, ns) in c.netns.iter().enumerate() {
        put_u32(&mut b, 8 + 4 * i, *ns);
    }
    let tail = 8 + 4 * MAX_NETNS;
    put_u32(&mut b, tail, c.reason_consumed);
    put_u32(&mut b, tail + 4, c.reason_not_specified);
    put_u32(&mut b, tail + 8, u32::from(c.keep_noise));
    put_u32(&mut b, tail + 12, 1); // enabled
    for (ci, clause) in c.table.clauses.iter().enumerate() {
        let base = CONFIG_HEAD + ci * CLAUSE_SIZE;
        put_u32(&mut b, base, clause.len() as u32);
        for (ti, t) in clause.iter().enumerate() {
            let off = base + 8 + ti * TERM_SIZE;
            encode_term(&mut b[off..off + TERM_SIZE], &t.cond, t.negate);
        }
    }
    Some(b)
}

/// One `struct hd_event` as read from the ring buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent {
    pub ts_ns: u64,
    pub location: u64,
    pub reason: u32,
    pub netns: u32,
    pub ifindex: u32,
    pub skb_len: u32,
    pub protocol: u16,
    pub has_dev: bool,
    pub ifname: String,
    pub hdr: Vec<u8>,
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}
fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

/// Decodes one ring-buffer record; `None` when it is shorter than `struct hd_event`.
pub fn decode_event(b: &[u8]) -> Option<RawEvent> {
    if b.len() < EVENT_SIZE {
        return None;
    }
    let hdr_len = usize::from(u16_at(b, 34)).min(HDR_BYTES);
    let name = &b[40..56];
    let name_len = name.iter().position(|c| *c == 0).unwrap_or(name.len());
    Some(RawEvent {
        ts_ns: u64_at(b, 0),
        location: u64_at(b, 8),
        reason: u32_at(b, 16),
        netns: u32_at(b, 20),
        ifindex: u32_at(b, 24),
        skb_len: u32_at(b, 28),
        protocol: u16_at(b, 32),
        has_dev: b[36] != 0,
        ifname: String::from_utf8_lossy(&name[..name_len]).into_owned(),
        hdr: b[56..56 + hdr_len].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::compile;

    #[test]
    fn sizes_match_the_c_header() {
        // sizeof() values from drops.h, computed by hand: 44-byte terms, 360-byte clauses.
        assert_eq!(TERM_SIZE, 44);
        assert_eq!(CLAUSE_SIZE, 360);
        assert_eq!(CONFIG_SIZE, 88 + 8 * 360);
        assert_eq!(EVENT_SIZE, 184);
    }

    #[test]
    fn net_term_bytes() {
        let t = compile("src net 10.244.0.0/15").unwrap();
        let b = encode_config(&KernelConfig {
            table: t,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(u32_at(&b, 0), 1);
        let term = &b[CONFIG_HEAD + 8..CONFIG_HEAD + 8 + TERM_SIZE];
        assert_eq!(&term[..4], &[3, 0, 1, 4]);
        assert_eq!(&term[12..16], &[10, 244, 0, 0]);
        assert_eq!(&term[28..32], &[255, 254, 0, 0]);
        assert_eq!(&term[32..44], &[0; 12]);
        assert_eq!(u32_at(&b, 8 + 4 * MAX_NETNS + 12), 1);
    }

    #[test]
    fn event_roundtrip() {
        let mut b = vec![0u8; EVENT_SIZE];
        b[0..8].copy_from_slice(&7u64.to_ne_bytes());
        b[8..16].copy_from_slice(&0xffff_ffff_8100_0000u64.to_ne_bytes());
        b[16..20].copy_from_slice(&12u32.to_ne_bytes());
        b[32..34].copy_from_slice(&0x0800u16.to_ne_bytes());
        b[34..36].copy_from_slice(&3u16.to_ne_bytes());
        b[40..44].copy_from_slice(b"eth0");
        b[56..59].copy_from_slice(&[0x45, 0, 0]);
        let e = decode_event(&b).unwrap();
        assert_eq!(e.reason, 12);
        assert_eq!(e.ifname, "eth0");
        assert_eq!(e.hdr, vec![0x45, 0, 0]);
        assert!(decode_event(&b[..100]).is_none());
    }
}
