//! tcpdump-compatible text: the per-packet context, tcpdump's truncation model, and the
//! link / ethertype / IP-protocol dispatch that ties the per-protocol printers together.
//!
//! Model: every printer gets the bytes that were captured (already cut to the snapshot
//! tcpdump would use) plus the length the headers claim. A read past the captured bytes
//! returns [`Truncated`], which unwinds to [`packet`] and prints ` [|proto]` exactly where
//! tcpdump's `longjmp` would; printers that tcpdump gives a local `trunc:` label print the
//! marker themselves and return `Ok`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::field::{Res, Truncated};
use crate::{
    LinkType, Names, TextOptions, arp, ethernet, icmp, icmpv6, ipv4, ipv6, link, sll, tables, tcp,
    udp,
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Per-flow initial sequence numbers, for tcpdump's relative `seq`/`ack` (its default without `-S`).
///
/// Owned by a [`Printer`]; grows by one entry per TCP conversation seen with ACK set, like
/// tcpdump's own table. Call [`TcpSeqTable::clear`] between unrelated captures.
#[derive(Clone, Debug, Default)]
pub struct TcpSeqTable {
    // IPv4 conversations, the bulk, under a 16-byte key (addresses and ports packed): half the
    // memory of the IPv6 key, so a large capture's table stays in cache longer.
    v4: HashMap<u128, (u32, u32), BuildHasherDefault<FoldHasher>>,
    v6: HashMap<V6Key, (u32, u32), BuildHasherDefault<FoldHasher>>,
}

/// A fast multiply-rotate hasher for the sequence table (keys are addresses and ports from the
/// capture; like tcpdump's own fixed-bucket table it does not resist crafted collisions).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FoldHasher(u64);

impl Hasher for FoldHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.write_u64(u64::from(*b));
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct V6Key {
    pub(crate) src: [u8; 16],
    pub(crate) dst: [u8; 16],
    pub(crate) port: u32,
}

/// One conversation: addresses in a canonical order, ports packed `(first << 16) | second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqKey {
    /// `src << 64 | dst << 32 | ports`.
    V4(u128),
    V6(V6Key),
}

impl TcpSeqTable {
    /// Forgets every conversation.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    /// Number of conversations remembered.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when no conversation is remembered.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub(crate) fn get(&self, k: &SeqKey) -> Option<(u32, u32)> {
        match k {
            SeqKey::V4(k) => self.v4.get(k).copied(),
            SeqKey::V6(k) => self.v6.get(k).copied(),
        }
    }

    pub(crate) fn set(&mut self, k: SeqKey, v: (u32, u32)) {
        match k {
            SeqKey::V4(k) => self.v4.insert(k, v),
            SeqKey::V6(k) => self.v6.insert(k, v),
        };
    }
}

/// Stateful tcpdump printer: relative TCP sequence numbers unless `opts.absolute_seq`.
#[derive(Clone, Debug, Default)]
pub struct Printer {
    /// The tcpdump flags this printer emulates.
    pub opts: TextOptions,
    seq: TcpSeqTable,
}

impl Printer {
    /// A printer with an empty sequence table.
    pub fn new(opts: TextOptions) -> Self {
        Printer {
            opts,
            seq: TcpSeqTable::default(),
        }
    }

    /// Appends what tcpdump prints for this packet after the timestamp and its space,
    /// without the trailing newline.
    pub fn write(
        &mut self,
        out: &mut Vec<u8>,
        link: LinkType,
        data: &[u8],
        orig_len: u32,
        names: &dyn Names,
    ) {
        let seq = if self.opts.absolute_seq {
            None
        } else {
            Some(&mut self.seq)
        };
        let mut cx = Cx {
            out,
            opts: &self.opts,
            names,
            proto: "",
            seq,
        };
        cx.out.reserve(256);
        packet(&mut cx, link, data, orig_len);
    }

    /// The sequence table (to inspect or clear it).
    pub fn seq_table(&mut self) -> &mut TcpSeqTable {
        &mut self.seq
    }
}

/// Appends tcpdump's text for one packet (everything after the timestamp and its space,
/// no trailing newline). Stateless: TCP sequence numbers are absolute, as with `tcpdump -S`;
/// use [`Printer`] for tcpdump's default relative numbers.
pub fn write_text(
    out: &mut Vec<u8>,
    link: LinkType,
    data: &[u8],
    orig_len: u32,
    opts: &TextOptions,
    names: &dyn Names,
) {
    let mut cx = Cx {
        out,
        opts,
        names,
        proto: "",
        seq: None,
    };
    cx.out.reserve(256);
    packet(&mut cx, link, data, orig_len);
}

/// Everything a printer needs: the output, the flags, name lookups and the truncation label.
pub(crate) struct Cx<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) opts: &'a TextOptions,
    pub(crate) names: &'a dyn Names,
    /// tcpdump's `ndo_protocol`: the name printed in ` [|name]`.
    pub(crate) proto: &'static str,
    pub(crate) seq: Option<&'a mut TcpSeqTable>,
}

impl Cx<'_> {
    #[inline]
    pub(crate) fn s(&mut self, s: &str) {
        push_bytes(self.out, s.as_bytes());
    }

    #[inline]
    pub(crate) fn ch(&mut self, c: u8) {
        self.out.push(c);
    }

    #[inline]
    pub(crate) fn u(&mut self, n: impl Dec) {
        n.push_dec(self.out);
    }

    /// `%x`
    pub(crate) fn x(&mut self, n: u32) {
        let mut started = false;
        for shift in (0..8).rev() {
            let d = ((n >> (shift * 4)) & 0xf) as usize;
            if d != 0 || started || shift == 0 {
                started = true;
                self.out.push(HEX[d]);
            }
        }
    }

    /// `%0Nx` for N hex digits (N <= 8).
    pub(crate) fn xw(&mut self, n: u32, width: u32) {
        let mut digits = 1;
        while digits < 8 && (n >> (digits * 4)) != 0 {
            digits += 1;
        }
        let w = width.max(digits);
        for shift in (0..w).rev() {
            self.out.push(HEX[((n >> (shift * 4)) & 0xf) as usize]);
        }
    }

    pub(crate) fn x02(&mut self, b: u8) {
        self.out.push(HEX[usize::from(b >> 4)]);
        self.out.push(HEX[usize::from(b & 0xf)]);
    }

    pub(crate) fn x04(&mut self, v: u16) {
        self.xw(u32::from(v), 4);
    }

    pub(crate) fn ipv4(&mut self, a: [u8; 4]) {
        if !self.opts.numeric_hosts
            && let Some(n) = self.names.host(IpAddr::V4(Ipv4Addr::from(a)))
        {
            self.out.extend_from_slice(n.as_bytes());
            return;
        }
        write_ipv4(self.out, a);
    }

    pub(crate) fn ipv6(&mut self, a: [u8; 16]) {
        if !self.opts.numeric_hosts
            && let Some(n) = self.names.host(IpAddr::V6(Ipv6Addr::from(a)))
        {
            self.out.extend_from_slice(n.as_bytes());
            return;
        }
        write_ipv6(self.out, &a);
    }

    /// `GET_IPADDR_STRING` at `off` in `b`.
    pub(crate) fn ipv4_at(&mut self, b: &[u8], off: usize) -> Res {
        let a = crate::field::arr::<4>(b, off)?;
        self.ipv4(a);
        Ok(())
    }

    /// `GET_IP6ADDR_STRING` at `off` in `b`.
    pub(crate) fn ipv6_at(&mut self, b: &[u8], off: usize) -> Res {
        let a = crate::field::arr::<16>(b, off)?;
        self.ipv6(a);
        Ok(())
    }

    /// tcpdump's `etheraddr_string`: colon hex, plus ` (oui NAME)` when names are on.
    pub(crate) fn mac(&mut self, a: [u8; 6]) {
        write_mac(self.out, &a);
        if !self.opts.numeric_hosts {
            let oui = u32::from_be_bytes([0, a[0], a[1], a[2]]);
            let name = tables::OUI_NAMES
                .iter()
                .find(|(o, _)| *o == oui)
                .map_or("Unknown", |(_, n)| n);
            self.s(" (oui ");
            self.s(name);
            self.s(")");
        }
    }

    pub(crate) fn mac_at(&mut self, b: &[u8], off: usize) -> Res {
        let a = crate::field::arr::<6>(b, off)?;
        self.mac(a);
        Ok(())
    }

    pub(crate) fn port(&mut self, tcp: bool, p: u16) {
        if !self.opts.numeric_ports
            && let Some(n) = self.names.port(tcp, p)
        {
            self.out.extend_from_slice(n.as_bytes());
            return;
        }
        self.u(p);
    }

    /// One tcpdump `ND_PRINT` whose arguments are packet reads: tcpdump evaluates them before
    /// printing anything, so when one is missing none of the text appears.
    pub(crate) fn atomic(&mut self, f: impl FnOnce(&mut Self) -> Res) -> Res {
        let mark = self.out.len();
        let r = f(self);
        if r.is_err() {
            self.out.truncate(mark);
        }
        r
    }

    /// `nd_print_trunc`
    pub(crate) fn trunc(&mut self) {
        self.s(" [|");
        self.s(self.proto);
        self.s("]");
    }

    /// `nd_print_invalid`
    pub(crate) fn invalid(&mut self) {
        self.s(" (invalid)");
    }

    /// `hex_and_ascii_print(ident, p, length)`: the default dump for undecoded payloads.
    pub(crate) fn hex_and_ascii(&mut self, ident: &str, p: &[u8], length: usize) -> Res {
        let n = length.min(p.len());
        let data = p.get(..n).unwrap_or(p);
        for (line, chunk) in data.chunks(16).enumerate() {
            self.s(ident);
            self.s("0x");
            self.xw((line * 16) as u32, 4);
            self.s(": ");
            let start = self.out.len();
            for pair in chunk.chunks(2) {
                self.ch(b' ');
                for b in pair {
                    self.x02(*b);
                }
            }
            let written = self.out.len() - start;
            for _ in written..40 {
                self.ch(b' ');
            }
            self.s("  ");
            for b in chunk {
                self.ch(if b.is_ascii_graphic() { *b } else { b'.' });
            }
        }
        if length > p.len() {
            Err(Truncated)
        } else {
            Ok(())
        }
    }

    /// `ND_DEFAULTPRINT(p, caplen)`: the hex+ASCII dump of undecoded bytes, which `-q` suppresses.
    pub(crate) fn default_print(&mut self, p: &[u8]) -> Res {
        if self.opts.quiet {
            Ok(())
        } else {
            self.hex_and_ascii("\n\t", p, p.len())
        }
    }

    /// `hex_print(ident, p, length)` / `print_unknown_data`: hex only, 16 bytes a line.
    pub(crate) fn hex_only(&mut self, ident: &str, p: &[u8], length: usize) -> Res {
        let n = length.min(p.len());
        let data = p.get(..n).unwrap_or(p);
        for (line, chunk) in data.chunks(16).enumerate() {
            self.s(ident);
            self.s("0x");
            self.xw((line * 16) as u32, 4);
            self.s(": ");
            for pair in chunk.chunks(2) {
                self.ch(b' ');
                for b in pair {
                    self.x02(*b);
                }
            }
        }
        if length > p.len() {
            Err(Truncated)
        } else {
            Ok(())
        }
    }

    /// `print_unknown_data`: like [`Cx::hex_only`] but clamps to what was captured.
    pub(crate) fn unknown_data(&mut self, ident: &str, p: &[u8], length: usize) {
        let _ = self.hex_only(ident, p, length.min(p.len()));
    }
}

/// Appends a short byte string; tiny copies without a `memmove` call (the text path is
/// made of many 1-10 byte pieces).
#[inline]
pub(crate) fn push_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= 8 {
        out.reserve(b.len());
        for &c in b {
            out.push(c);
        }
    } else {
        out.extend_from_slice(b);
    }
}

pub(crate) fn write_ipv4(out: &mut Vec<u8>, a: [u8; 4]) {
    // In place, as `push_u64` (room made with a fixed-size fill, cut back at the end).
    let start = out.len();
    out.extend_from_slice(&[0u8; 16]);
    let Some(buf) = out.get_mut(start..start + 16) else {
        return;
    };
    let mut n = 0;
    for (i, &o) in a.iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            buf[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            buf[n] = b'0' + (o / 10) % 10;
            n += 1;
        }
        buf[n] = b'0' + o % 10;
        n += 1;
    }
    out.truncate(start + n);
}

const DEC_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` in decimal (as `%u`) straight into `out`: the length first, then the digits
/// into place four at a time, in 32-bit arithmetic for the values a packet header holds.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let n = v.ilog10() as usize + 1;
    // The digits are written in place, into room made with a fixed-size fill (cut back to
    // `n` at the end): assembling them in a local array and copying it stalls on the load
    // of bytes just stored one by one.
    let start = out.len();
    out.extend_from_slice(&[0u8; 20]);
    let Some(buf) = out.get_mut(start..start + n) else {
        return;
    };
    let mut i = n;
    let mut v32 = match u32::try_from(v) {
        Ok(x) => x,
        Err(_) => {
            // The low nine digits in 32-bit steps, the rest (at most 11 digits) below.
            let mut hi = v;
            let mut lo = (hi % 1_000_000_000) as u32;
            hi /= 1_000_000_000;
            for _ in 0..4 {
                i -= 2;
                put_pair(buf, i, lo % 100);
                lo /= 100;
            }
            i -= 1;
            buf[i] = b'0' + lo as u8;
            while hi >= 100 {
                i -= 2;
                put_pair(buf, i, (hi % 100) as u32);
                hi /= 100;
            }
            // What is left (< 100) is written by the 32-bit tail below.
            hi as u32
        }
    };
    while v32 >= 10_000 {
        let r = v32 % 10_000;
        v32 /= 10_000;
        i -= 4;
        put_pair(buf, i, r / 100);
        put_pair(buf, i + 2, r % 100);
    }
    if v32 >= 100 {
        i -= 2;
        put_pair(buf, i, v32 % 100);
        v32 /= 100;
    }
    if v32 >= 10 {
        put_pair(buf, i - 2, v32);
    } else if i > 0 {
        buf[i - 1] = b'0' + v32 as u8;
    }
    out.truncate(start + n);
}

/// Writes `v` (< 100) as two digits at `buf[at..at + 2]`.
#[inline]
fn put_pair(buf: &mut [u8], at: usize, v: u32) {
    let d = v as usize * 2;
    buf[at] = DEC_PAIRS[d];
    buf[at + 1] = DEC_PAIRS[d + 1];
}

/// Integers printed in decimal by [`Cx::u`].
pub(crate) trait Dec: Copy {
    fn push_dec(self, out: &mut Vec<u8>);
}

macro_rules! dec_unsigned {
    ($($t:ty),*) => {$(
        impl Dec for $t {
            #[inline]
            fn push_dec(self, out: &mut Vec<u8>) {
                push_u64(out, self as u64);
            }
        }
    )*};
}
dec_unsigned!(u8, u16, u32, u64, usize);

macro_rules! dec_signed {
    ($($t:ty),*) => {$(
        impl Dec for $t {
            #[inline]
            fn push_dec(self, out: &mut Vec<u8>) {
                if self < 0 {
                    out.push(b'-');
                }
                push_u64(out, self.unsigned_abs() as u64);
            }
        }
    )*};
}
dec_signed!(i8, i16, i32, i64, isize);

/// RFC 5952 text, as tcpdump's `addrtostr6` (including `::a.b.c.d` / `::ffff:a.b.c.d`).
pub(crate) fn write_ipv6(out: &mut Vec<u8>, a: &[u8; 16]) {
    let mut w = [0u16; 8];
    for (i, wi) in w.iter_mut().enumerate() {
        *wi = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
    }
    // longest run of zero words (first wins), length >= 2
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let (mut cur_base, mut cur_len) = (usize::MAX, 0usize);
    for (i, wi) in w.iter().enumerate() {
        if *wi == 0 {
            if cur_base == usize::MAX {
                cur_base = i;
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if cur_base != usize::MAX {
            if best_base == usize::MAX || cur_len > best_len {
                best_base = cur_base;
                best_len = cur_len;
            }
            cur_base = usize::MAX;
        }
    }
    if cur_base != usize::MAX && (best_base == usize::MAX || cur_len > best_len) {
        best_base = cur_base;
        best_len = cur_len;
    }
    if best_base != usize::MAX && best_len < 2 {
        best_base = usize::MAX;
    }
    let mut i = 0;
    while i < 8 {
        if best_base != usize::MAX && i >= best_base && i < best_base + best_len {
            if i == best_base {
                out.push(b':');
            }
            i += 1;
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            write_ipv4(out, [a[12], a[13], a[14], a[15]]);
            return;
        }
        let v = w[i];
        let mut started = false;
        for shift in (0..4).rev() {
            let d = usize::from((v >> (shift * 4)) & 0xf);
            if d != 0 || started || shift == 0 {
                started = true;
                out.push(HEX[d]);
            }
        }
        i += 1;
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        out.push(b':');
    }
}

pub(crate) fn write_mac(out: &mut Vec<u8>, a: &[u8]) {
    for (i, b) in a.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// tcpdump's pcap maximum snapshot length; longer records are reported as invalid.
const MAXIMUM_SNAPLEN: u32 = 262_144;

/// `pretty_print_packet` minus the timestamp.
fn packet(cx: &mut Cx<'_>, link: LinkType, data: &[u8], len: u32) {
    let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut invalid = false;
    let sep = |cx: &mut Cx<'_>, invalid: &mut bool| {
        if *invalid {
            cx.s(",");
        } else {
            *invalid = true;
            cx.s("[Invalid header:");
        }
    };
    if caplen == 0 {
        invalid = true;
        cx.s("[Invalid header: caplen==0");
    }
    if len == 0 {
        sep(cx, &mut invalid);
        cx.s(" len==0");
    } else if len < caplen {
        sep(cx, &mut invalid);
        cx.s(" len(");
        cx.u(len);
        cx.s(") < caplen(");
        cx.u(caplen);
        cx.s(")");
    }
    if caplen > MAXIMUM_SNAPLEN {
        sep(cx, &mut invalid);
        cx.s(" caplen(");
        cx.u(caplen);
        cx.s(") > 262144");
    }
    if len > MAXIMUM_SNAPLEN {
        sep(cx, &mut invalid);
        cx.s(" len(");
        cx.u(len);
        cx.s(") > 262144");
    }
    if invalid {
        cx.s("]");
        return;
    }
    let r = match link {
        LinkType::Ethernet => {
            cx.proto = "ether";
            ethernet::print(cx, data, len)
        }
        LinkType::Null => link::print_null(cx, data, len),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => link::print_raw(cx, data, len),
        LinkType::LinuxSll => sll::print_sll(cx, data, len),
        LinkType::LinuxSll2 => sll::print_sll2(cx, data, len),
        LinkType::Other(_) => {
            // tcpdump refuses to open such a file; print the bytes rather than nothing.
            cx.s("unsupported link type");
            cx.default_print(data)
        }
    };
    if r.is_err() {
        cx.trunc();
    }
}

/// `ethertype_print`: Ok(false) when tcpdump has no printer for the type.
pub(crate) fn ethertype(cx: &mut Cx<'_>, etype: u16, p: &[u8], length: u32) -> Res<bool> {
    match etype {
        ethernet::ETHERTYPE_IPV4 => ipv4::print(cx, p, length).map(|()| true),
        ethernet::ETHERTYPE_IPV6 => ipv6::print(cx, p, length).map(|()| true),
        ethernet::ETHERTYPE_ARP | ethernet::ETHERTYPE_REVARP => {
            arp::print(cx, p, length).map(|()| true)
        }
        _ => Ok(false),
    }
}

/// The IP header an upper layer hangs off: for addresses and checksum pseudo-headers.
#[derive(Clone, Copy)]
pub(crate) enum IpHdr<'a> {
    V4(&'a [u8]),
    V6(&'a [u8]),
}

impl IpHdr<'_> {
    /// The IP header's own protocol / next-header byte.
    pub(crate) fn next(&self) -> Res<u8> {
        match self {
            IpHdr::V4(b) => crate::field::u8_at(b, 9),
            IpHdr::V6(b) => crate::field::u8_at(b, 6),
        }
    }

    /// `src > dst` with optional ports, as TCP/UDP print it.
    pub(crate) fn addrs(
        &self,
        cx: &mut Cx<'_>,
        tcp: bool,
        ports: Option<(u16, u16)>,
        proto: u8,
    ) -> Res {
        let own = self.next()? == proto;
        if own {
            self.src(cx)?;
            if let Some((s, _)) = ports {
                cx.ch(b'.');
                cx.port(tcp, s);
            }
            cx.s(" > ");
            self.dst(cx)?;
            if let Some((_, d)) = ports {
                cx.ch(b'.');
                cx.port(tcp, d);
            }
            cx.s(": ");
        } else if let Some((s, d)) = ports {
            cx.port(tcp, s);
            cx.s(" > ");
            cx.port(tcp, d);
            cx.s(": ");
        }
        Ok(())
    }

    pub(crate) fn src(&self, cx: &mut Cx<'_>) -> Res {
        match self {
            IpHdr::V4(b) => cx.ipv4_at(b, 12),
            IpHdr::V6(b) => cx.ipv6_at(b, 8),
        }
    }

    pub(crate) fn dst(&self, cx: &mut Cx<'_>) -> Res {
        match self {
            IpHdr::V4(b) => cx.ipv4_at(b, 16),
            IpHdr::V6(b) => cx.ipv6_at(b, 24),
        }
    }

    /// Checksum over pseudo-header + `data[..len]`: 0 when correct.
    pub(crate) fn upper_cksum(&self, proto: u8, data: &[u8], len: u32) -> Res<u16> {
        let body = data.get(..len as usize).ok_or(Truncated)?;
        let ph = match self {
            IpHdr::V4(b) => {
                let src = crate::field::arr::<4>(b, 12)?;
                crate::checksum::pseudo4(src, ipv4::final_dst(b)?, proto, len)
            }
            IpHdr::V6(b) => {
                let src = crate::field::arr::<16>(b, 8)?;
                crate::checksum::pseudo6(&src, &ipv6::final_dst(b)?, proto, len)
            }
        };
        Ok(crate::checksum::finish(crate::checksum::add(ph, body)))
    }

    pub(crate) fn is_v6(&self) -> bool {
        matches!(self, IpHdr::V6(_))
    }
}

/// `ip_demux_print`
#[allow(clippy::too_many_arguments)]
pub(crate) fn ip_demux(
    cx: &mut Cx<'_>,
    bp: &[u8],
    length: u32,
    iph: IpHdr<'_>,
    fragmented: bool,
    nh: u8,
) -> Res {
    match nh {
        crate::ipv4::PROTO_TCP => tcp::print(cx, bp, length, iph, fragmented),
        crate::ipv4::PROTO_UDP => udp::print(cx, bp, length, iph, fragmented),
        crate::ipv4::PROTO_ICMP => {
            if iph.is_v6() {
                cx.s("[ICMP requires IPv4]");
                cx.invalid();
                Ok(())
            } else {
                icmp::print(cx, bp, length, iph, fragmented)
            }
        }
        crate::ipv4::PROTO_ICMPV6 => {
            if iph.is_v6() {
                icmpv6::print(cx, bp, length, iph, fragmented)
            } else {
                cx.s("[ICMPv6 requires IPv6]");
                cx.invalid();
                Ok(())
            }
        }
        2 if iph.is_v6() => {
            cx.s("[IGMP requires IPv4]");
            cx.invalid();
            Ok(())
        }
        crate::ipv4::PROTO_IPIP => ipv4::print(cx, bp, length),
        crate::ipv4::PROTO_IPV6 => ipv6::print(cx, bp, length),
        59 => {
            cx.s("no next header");
            Ok(())
        }
        143 => {
            if iph.is_v6() {
                ethernet::print(cx, bp, length)
            } else {
                cx.s("[Ethernet requires IPv6]");
                cx.invalid();
                Ok(())
            }
        }
        _ => {
            proto_name(cx, nh);
            cx.ch(b' ');
            cx.u(length);
            Ok(())
        }
    }
}

/// ` name` (non-numeric mode, when tcpdump knows one) or ` ip-proto-N`.
pub(crate) fn proto_name(cx: &mut Cx<'_>, nh: u8) {
    match tables::PROTO_NAMES.get(usize::from(nh)).copied().flatten() {
        Some(n) if !cx.opts.numeric_hosts => {
            cx.ch(b' ');
            cx.s(n);
        }
        _ => {
            cx.s(" ip-proto-");
            cx.u(nh);
        }
    }
}

/// tcpdump's `ipproto_values` (used by `-v` IP and IPv6 headers).
pub(crate) fn ipproto_str(p: u8) -> Option<&'static str> {
    Some(match p {
        0 => "Options",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        8 => "EGP",
        9 => "IGRP",
        17 => "UDP",
        33 => "DCCP",
        41 => "IPv6",
        43 => "Routing",
        44 => "Fragment",
        46 => "RSVP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        55 => "Mobile IP",
        58 => "ICMPv6",
        62 => "Mobile IP (old)",
        88 => "EIGRP",
        89 => "OSPF",
        103 => "PIM",
        108 => "Compressed IP",
        112 => "VRRP",
        113 => "PGM",
        132 => "SCTP",
        135 => "Mobility",
        143 => "Ethernet",
        _ => return None,
    })
}

/// `fn_print_char`: printable ASCII as is, others as `M-` / `^` escapes.
pub(crate) fn fn_print_char(cx: &mut Cx<'_>, c: u8) {
    let mut c = c;
    if !c.is_ascii() {
        c &= 0x7f;
        cx.s("M-");
    }
    if !(0x20..0x7f).contains(&c) {
        c ^= 0x40;
        cx.ch(b'^');
    }
    cx.ch(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-rolled decimal writer against `format!`: every digit count, each side of
    /// every power of ten and of the 32-bit boundary, the extremes, and a pseudo-random sweep.
    #[test]
    fn decimal_writer_matches_format() {
        let mut vals: Vec<u64> = vec![0, 1, 9, 10, 99, 100, u64::from(u32::MAX), u64::MAX];
        let mut p = 1u64;
        for _ in 0..20 {
            vals.extend([p - 1, p, p + 1, p.saturating_mul(10) - 1]);
            p = p.saturating_mul(10);
        }
        vals.extend([
            1 << 32,
            (1 << 32) - 1,
            (1 << 32) + 1,
            1_000_000_000 * 4,
            9_999_999_999,
        ]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vals.push(x >> (x % 64));
        }
        let mut out = b"prefix ".to_vec();
        for v in vals {
            out.truncate(7);
            push_u64(&mut out, v);
            assert_eq!(&out[7..], v.to_string().as_bytes(), "{v}");
            out.truncate(7);
            (-(v as i64 >> 1)).push_dec(&mut out);
            assert_eq!(&out[7..], (-(v as i64 >> 1)).to_string().as_bytes());
        }
        i64::MIN.push_dec(&mut out);
        assert!(out.ends_with(i64::MIN.to_string().as_bytes()));
    }

    fn v6(s: &str) -> String {
        let a: Ipv6Addr = s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let mut o = Vec::new();
        write_ipv6(&mut o, &a.octets());
        String::from_utf8(o).unwrap_or_default()
    }

    #[test]
    fn ipv6_text_matches_inet_ntop() {
        assert_eq!(v6("2001:db8::1"), "2001:db8::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("fe80::"), "fe80::");
        assert_eq!(v6("2001:db8:0:1:0:0:0:1"), "2001:db8:0:1::1");
        assert_eq!(v6("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
        assert_eq!(v6("2001:db8:1:1:1:1:0:1"), "2001:db8:1:1:1:1:0:1");
        assert_eq!(v6("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(v6("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(v6("ff02::1:ff00:1"), "ff02::1:ff00:1");
    }

    #[test]
    fn hex_formats() {
        let opts = TextOptions::default();
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            opts: &opts,
            names: &crate::NoNames,
            proto: "",
            seq: None,
        };
        cx.x(0);
        cx.ch(b' ');
        cx.x(0xabc);
        cx.ch(b' ');
        cx.x04(0x1f);
        cx.ch(b' ');
        cx.xw(0x12345, 4);
        assert_eq!(out, b"0 abc 001f 12345");
    }
}
