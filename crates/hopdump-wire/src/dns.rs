//! DNS (RFC 1035, EDNS RFC 6891) on UDP/TCP 53 and mDNS (RFC 6762) on UDP 5353: the checked
//! header view, a name reader for `decode`, and tcpdump 4.99.3's `domain_print`, mirrored
//! closely because its output depends on the exact order of its bounds checks.
//!
//! Printer model: `m` is the message from its header to tcpdump's `snapend` (the captured
//! bytes, cut to the IP length), positions are offsets into it and may point past its end,
//! as tcpdump's pointers do. A `None` position is tcpdump's `NULL` (the caller then prints
//! ` [|domain]`); `Err(Truncated)` is its `longjmp` from a `GET_` macro.

use crate::field::{Res, Truncated, be16, be32, u8_at};
use crate::packet::{DnsLayer, DnsQuestion, DnsRecord};
use crate::print::{Cx, fn_print_char, write_ipv4, write_ipv6};

/// DNS port (UDP and TCP).
pub const PORT_DNS: u16 = 53;
/// Multicast DNS port (UDP).
pub const PORT_MDNS: u16 = 5353;
/// Header length.
pub const HEADER_LEN: usize = 12;
/// OPT pseudo-record type (EDNS).
pub const TYPE_OPT: u16 = 41;

/// A checked view of a DNS message: the 12-byte header was captured.
#[derive(Clone, Copy, Debug)]
pub struct DnsMessage<'a> {
    buf: &'a [u8],
}

impl<'a> DnsMessage<'a> {
    /// Validates that the 12-byte header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        if buf.len() < HEADER_LEN {
            Err(Truncated)
        } else {
            Ok(DnsMessage { buf })
        }
    }

    /// Message id.
    pub fn id(&self) -> u16 {
        be16(self.buf, 0).unwrap_or_default()
    }

    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub fn flags(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// QR: a response.
    pub fn is_response(&self) -> bool {
        self.flags() & 0x8000 != 0
    }

    /// Opcode (0 query, 1 inverse query, 2 status, 4 notify, 5 update).
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> 11) & 0xf) as u8
    }

    /// Header response code (the low 4 bits; EDNS extends it).
    pub fn rcode(&self) -> u8 {
        (self.flags() & 0xf) as u8
    }

    /// Question count.
    pub fn qdcount(&self) -> u16 {
        be16(self.buf, 4).unwrap_or_default()
    }

    /// Answer count.
    pub fn ancount(&self) -> u16 {
        be16(self.buf, 6).unwrap_or_default()
    }

    /// Authority count.
    pub fn nscount(&self) -> u16 {
        be16(self.buf, 8).unwrap_or_default()
    }

    /// Additional count.
    pub fn arcount(&self) -> u16 {
        be16(self.buf, 10).unwrap_or_default()
    }

    /// The whole message (header included), as captured.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Reads the name at `off` (following compression pointers, which must point backwards as
/// BIND and tcpdump require) and appends it to `out` in master-file form: labels joined by
/// `.`, a trailing `.`, `.` for the root, `\.`, `\\` and `\DDD` escapes. Returns the offset
/// after the name where it is stored, or `None` for a name that is cut short or malformed.
pub fn read_name(msg: &[u8], off: usize, out: &mut String) -> Option<usize> {
    let mut pos = off;
    let mut end = None;
    let mut limit = off;
    let mut any = false;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0xc0 => {
                let target = usize::from(u16::from_be_bytes([len & 0x3f, *msg.get(pos + 1)?]));
                if target >= limit {
                    return None;
                }
                end.get_or_insert(pos + 2);
                limit = target;
                pos = target;
            }
            0x00 if len == 0 => {
                if !any {
                    out.push('.');
                }
                return Some(end.unwrap_or(pos + 1));
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(len))?;
                push_escaped(out, label, b".\\", 0x21);
                out.push('.');
                any = true;
                pos += 1 + usize::from(len);
            }
            _ => return None,
        }
    }
}

/// tcpdump's `ns_type2str` (4.99.3).
pub fn type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAP_PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        40 => "SINK",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "UNSPECA",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        _ => return None,
    })
}

fn class_name(c: u16) -> Option<&'static str> {
    Some(match c {
        1 => "IN",
        3 => "CHAOS",
        4 => "HS",
        255 => "ANY",
        _ => return None,
    })
}

const NS_OPS: [&str; 16] = [
    "",
    " inv_q",
    " stat",
    " op3",
    " notify",
    " update",
    " op6",
    " op7",
    " op8",
    " updateA",
    " updateD",
    " updateDA",
    " updateM",
    " updateMA",
    " zoneInit",
    " zoneRef",
];

/// `ns_resp` (two entries lack their leading space in tcpdump 4.99.3; kept).
const NS_RESP: [&str; 24] = [
    "",
    " FormErr",
    " ServFail",
    " NXDomain",
    " NotImp",
    " Refused",
    " YXDomain",
    " YXRRSet",
    " NXRRSet",
    " NotAuth",
    " NotZone",
    " Resp11",
    " Resp12",
    " Resp13",
    " Resp14",
    " NoChange",
    " BadVers",
    "Resp17",
    " Resp18",
    " Resp19",
    " Resp20",
    "Resp21",
    " Resp22",
    " BadCookie",
];

fn edns_opt_name(o: u16) -> Option<&'static str> {
    Some(match o {
        1 => "LLQ",
        2 => "UL",
        3 => "NSID",
        5 => "DAU",
        6 => "DHU",
        7 => "N3U",
        8 => "ECS",
        9 => "EXPIRE",
        10 => "COOKIE",
        11 => "KEEPALIVE",
        12 => "PADDING",
        13 => "CHAIN",
        14 => "KEY-TAG",
        16 => "CLIENT-TAG",
        17 => "SERVER-TAG",
        _ => return None,
    })
}

fn dau_name(a: u8) -> Option<&'static str> {
    Some(match a {
        0 => "DELETE",
        1 => "RSAMD5",
        2 => "DH",
        3 => "DS",
        5 => "RSASHA1",
        6 => "DSA-NSEC3-SHA1",
        7 => "RSASHA1-NSEC3-SHA1",
        8 => "RSASHA256",
        10 => "RSASHA512",
        12 => "ECC-GOST",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        16 => "ED448",
        252 => "INDIRECT",
        253 => "PRIVATEDNS",
        254 => "PRIVATEOID",
        _ => return None,
    })
}

fn dhu_name(a: u8) -> Option<&'static str> {
    Some(match a {
        1 => "SHA-1",
        2 => "SHA-256",
        3 => "GOST_R_34.11-94",
        4 => "SHA-384",
        _ => return None,
    })
}

fn n3u_name(a: u8) -> Option<&'static str> {
    (a == 1).then_some("SHA-1")
}

const MAXCDNAME: u32 = 255;
const C_IN: u16 = 1;
/// mDNS: QU bit in a question's class, cache-flush bit in a record's.
const C_TOP: u16 = 0x8000;

/// The message from the DNS header to `snapend`.
#[derive(Clone, Copy)]
struct Msg<'a> {
    m: &'a [u8],
}

impl Msg<'_> {
    fn end(&self) -> usize {
        self.m.len()
    }

    /// `ND_TTEST_LEN(cp, n)`
    fn ttest(&self, cp: usize, n: usize) -> bool {
        cp.checked_add(n).is_some_and(|e| e <= self.m.len())
    }

    /// `GET_U_1`
    fn u8(&self, cp: usize) -> Res<u8> {
        u8_at(self.m, cp)
    }

    /// `GET_BE_U_2`
    fn u16(&self, cp: usize) -> Res<u16> {
        be16(self.m, cp)
    }

    /// `GET_BE_U_4`
    fn u32(&self, cp: usize) -> Res<u32> {
        be32(self.m, cp)
    }
}

fn name_or(cx: &mut Cx<'_>, name: Option<&str>, prefix: &str, n: u32, suffix: &str) {
    match name {
        Some(s) => cx.s(s),
        None => {
            cx.s(prefix);
            cx.u(n);
            cx.s(suffix);
        }
    }
}

/// `nd_printn(cp, n, snapend)`: true when it stopped at `snapend` before `n` characters.
fn printn(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize, n: u32) -> bool {
    let avail = m.end().saturating_sub(cp);
    let take = (n as usize).min(avail);
    for &c in m.m.get(cp..cp + take).unwrap_or(&[]) {
        fn_print_char(cx, c);
    }
    take < n as usize
}

/// `ns_nskip`
fn nskip(m: Msg<'_>, mut cp: usize) -> Option<usize> {
    if !m.ttest(cp, 1) {
        return None;
    }
    let mut i = *m.m.get(cp)?;
    cp += 1;
    while i != 0 {
        match i & 0xc0 {
            0xc0 => return Some(cp + 1),
            0x40 => {
                if i & 0x3f != 1 {
                    return None;
                }
                let mut bitlen = usize::from(*m.m.get(cp)?);
                if bitlen == 0 {
                    bitlen = 256;
                }
                cp += 1 + bitlen.div_ceil(8);
            }
            0x80 => return None,
            _ => cp += usize::from(i),
        }
        i = *m.m.get(cp)?;
        cp += 1;
    }
    Some(cp)
}

/// `blabel_print`: an EDNS0 bit-string label, `\[x<hex>/<bits>]`.
fn blabel(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize) -> Res<Option<usize>> {
    if !m.ttest(cp, 1) {
        return Ok(None);
    }
    let mut bitlen = u32::from(m.u8(cp)?);
    if bitlen == 0 {
        bitlen = 256;
    }
    // tcpdump's `slen` counts hex digits, not bytes; the loop below is bounded by `b`.
    let lim = cp + 1 + bitlen.div_ceil(4) as usize;
    cx.s("\\[x");
    let mut bitp = cp + 1;
    let mut b = bitlen;
    while bitp < lim && b > 7 {
        cx.x02(m.u8(bitp)?);
        b -= 8;
        bitp += 1;
    }
    if b > 4 {
        let tc = u32::from(m.u8(bitp)?);
        cx.xw(tc & (0xff << (8 - b)), 2);
    } else if b > 0 {
        let tc = u32::from(m.u8(bitp)?);
        cx.x(((tc >> 4) & 0x0f) & (0x0f << (4 - b)));
    }
    cx.s("/");
    cx.u(bitlen);
    cx.s("]");
    Ok(Some(lim))
}

/// `labellen`: the length of the label at `cp` (None is tcpdump's -1), printing what it
/// does for bad label types.
fn labellen(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize) -> Option<u32> {
    let i = *m.m.get(cp)?;
    match i & 0xc0 {
        0x40 => {
            let elt = i & 0x3f;
            if elt != 1 {
                cx.s("<ELT ");
                cx.u(elt);
                cx.s(">");
                return None;
            }
            let mut bitlen = u32::from(*m.m.get(cp + 1)?);
            if bitlen == 0 {
                bitlen = 256;
            }
            Some(bitlen.div_ceil(8) + 1)
        }
        0x80 => {
            cx.s("<BAD LABEL TYPE>");
            None
        }
        _ => Some(u32::from(i)),
    }
}

/// `fqdn_print(cp, bp)`: prints the name at `cp` whose compression pointers are relative to
/// `bp`; returns the position after the name (tcpdump's `rp`).
fn fqdn(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize, bp: usize) -> Res<Option<usize>> {
    let Some(mut l) = labellen(cx, m, cp) else {
        return Ok(None);
    };
    if !m.ttest(cp, 1) {
        return Ok(None);
    }
    // (u_int)(cp - bp): wraps when bp lies beyond cp (EDNS CHAIN).
    let mut max_offset = (cp as u64).wrapping_sub(bp as u64) as u32;
    let mut i = u32::from(m.u8(cp)?);
    let mut cp = cp + 1;
    let mut rp: Option<usize> = None;
    let mut compress = false;
    if i & 0xc0 != 0xc0 {
        rp = Some(cp + l as usize);
    }
    let mut name_chars: u32 = 0;
    if i == 0 {
        cx.s(".");
        return Ok(rp);
    }
    while i != 0 && cp < m.end() {
        match i & 0xc0 {
            0xc0 => {
                if !compress {
                    rp = Some(cp + 1);
                    compress = true;
                }
                let offset = ((i << 8) | u32::from(m.u8(cp)?)) & 0x3fff;
                if offset >= max_offset {
                    cx.s("<BAD PTR>");
                    return Ok(None);
                }
                max_offset = offset;
                cp = bp + offset as usize;
                if !m.ttest(cp, 1) {
                    return Ok(None);
                }
                i = u32::from(m.u8(cp)?);
                let Some(nl) = labellen(cx, m, cp) else {
                    return Ok(None);
                };
                l = nl;
                cp += 1;
                continue;
            }
            0x40 => {
                let elt = i & 0x3f;
                if elt == 1 {
                    if blabel(cx, m, cp)?.is_none() {
                        return Ok(None);
                    }
                } else {
                    cx.s("<ELT ");
                    cx.u(elt);
                    cx.s(">");
                    return Ok(None);
                }
            }
            0x80 => {
                cx.s("<BAD LABEL TYPE>");
                return Ok(None);
            }
            _ => {
                if name_chars + l <= MAXCDNAME {
                    if printn(cx, m, cp, l) {
                        return Ok(None);
                    }
                } else if name_chars < MAXCDNAME && printn(cx, m, cp, MAXCDNAME - name_chars) {
                    return Ok(None);
                }
                name_chars += l;
            }
        }
        cp += l as usize;
        if name_chars <= MAXCDNAME {
            cx.s(".");
        }
        name_chars += 1;
        if !m.ttest(cp, 1) {
            return Ok(None);
        }
        i = u32::from(m.u8(cp)?);
        let Some(nl) = labellen(cx, m, cp) else {
            return Ok(None);
        };
        l = nl;
        cp += 1;
        if !compress {
            rp = rp.map(|r| r + l as usize + 1);
        }
    }
    if name_chars > MAXCDNAME {
        cx.s("<DOMAIN NAME TOO LONG>");
    }
    Ok(rp)
}

/// `ns_cprint`: one <character-string>.
fn cprint(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize) -> Option<usize> {
    let i = *m.m.get(cp)?;
    if printn(cx, m, cp + 1, u32::from(i)) {
        return None;
    }
    Some(cp + 1 + usize::from(i))
}

/// `print_eopt_ecs`: EDNS client subnet `addr/source/scope`.
fn eopt_ecs(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize, data_len: u32) -> Res {
    if data_len < 4 {
        cx.invalid();
        return Ok(());
    }
    let family = m.u16(cp)?;
    let src_len = u32::from(m.u8(cp + 2)?);
    let scope_len = u32::from(m.u8(cp + 3)?);
    let addr_bits = match family {
        1 => 32,
        2 => 128,
        _ => {
            cx.invalid();
            return Ok(());
        }
    };
    if data_len - 4 > addr_bits / 8
        || src_len > addr_bits
        || scope_len > addr_bits
        || src_len.div_ceil(8) != data_len - 4
    {
        cx.invalid();
        return Ok(());
    }
    let mut padded = [0u8; 16];
    let n = (data_len - 4) as usize;
    let src = m.m.get(cp + 4..cp + 4 + n).ok_or(Truncated)?;
    if let Some(d) = padded.get_mut(..n) {
        d.copy_from_slice(src);
    }
    if family == 1 {
        write_ipv4(cx.out, [padded[0], padded[1], padded[2], padded[3]]);
    } else {
        write_ipv6(cx.out, &padded);
    }
    cx.s("/");
    cx.u(src_len);
    cx.s("/");
    cx.u(scope_len);
    Ok(())
}

/// `eopt_print`: one EDNS option.
fn eopt(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize) -> Res<Option<usize>> {
    if !m.ttest(cp, 2) {
        return Ok(None);
    }
    let opt = m.u16(cp)?;
    name_or(cx, edns_opt_name(opt), "Opt", u32::from(opt), "");
    if !m.ttest(cp + 2, 2) {
        return Ok(None);
    }
    let data_len = u32::from(m.u16(cp + 2)?);
    let cp = cp + 4;
    let dl = data_len as usize;
    if !m.ttest(cp, dl) {
        return Ok(None);
    }
    if data_len > 0 {
        cx.s(" ");
        match opt {
            8 => eopt_ecs(cx, m, cp, data_len)?,
            10 => {
                if data_len < 8 || (data_len > 8 && data_len < 16) || data_len > 40 {
                    cx.invalid();
                } else {
                    for i in 0..dl {
                        if i == 8 {
                            cx.s(" ");
                        }
                        cx.x02(m.u8(cp + i)?);
                    }
                }
            }
            11 => {
                if data_len != 2 {
                    cx.invalid();
                } else {
                    let v = m.u16(cp)?;
                    cx.u(v / 10);
                    cx.s(".");
                    cx.u(v % 10);
                    cx.s(" sec");
                }
            }
            9 => {
                if data_len != 4 {
                    cx.invalid();
                } else {
                    cx.u(m.u32(cp)?);
                    cx.s(" sec");
                }
            }
            12 => {
                cx.s("(");
                cx.u(data_len);
                cx.s(")");
            }
            14 => {
                if data_len % 2 != 0 {
                    cx.invalid();
                } else {
                    for i in (0..dl).step_by(2) {
                        if i > 0 {
                            cx.s(" ");
                        }
                        cx.u(m.u16(cp + i)?);
                    }
                }
            }
            5..=7 => {
                for i in 0..dl {
                    if i > 0 {
                        cx.s(" ");
                    }
                    let a = m.u8(cp + i)?;
                    let n = match opt {
                        5 => dau_name(a),
                        6 => dhu_name(a),
                        _ => n3u_name(a),
                    };
                    name_or(cx, n, "Alg_", u32::from(a), "");
                }
            }
            13 => {
                fqdn(cx, m, cp, cp + dl)?;
            }
            _ => {
                for i in 0..dl {
                    cx.x02(m.u8(cp + i)?);
                }
            }
        }
    }
    Ok(Some(cp + dl))
}

/// `unsigned_relts_print`: `1h2m3s`.
fn relts(cx: &mut Cx<'_>, mut secs: u32) {
    const UNITS: [(u32, &str); 6] = [
        (31_536_000, "y"),
        (604_800, "w"),
        (86_400, "d"),
        (3_600, "h"),
        (60, "m"),
        (1, "s"),
    ];
    if secs == 0 {
        cx.s("0s");
        return;
    }
    for (n, unit) in UNITS {
        if secs >= n {
            cx.u(secs / n);
            cx.s(unit);
            secs -= (secs / n) * n;
        }
    }
}

/// `ns_qprint`: one question (` A? name.`).
fn qprint(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize, bp: usize, mdns: bool) -> Res<Option<usize>> {
    let np = cp;
    let Some(cp) = nskip(m, cp).filter(|&c| m.ttest(c, 4)) else {
        return Ok(None);
    };
    let t = m.u16(cp)?;
    cx.s(" ");
    name_or(cx, type_name(t), "Type", u32::from(t), "");
    let i = m.u16(cp + 2)?;
    let class = if mdns { i & !C_TOP } else { i };
    if class != C_IN {
        cx.s(" ");
        name_or(cx, class_name(class), "(Class ", u32::from(class), ")");
    }
    if mdns {
        cx.s(if i & C_TOP != 0 { " (QU)" } else { " (QM)" });
    }
    cx.s("? ");
    Ok(fqdn(cx, m, np, bp)?.map(|rp| rp + 4))
}

/// `ns_rprint`: one resource record. `Some(m.end())` is tcpdump returning `snapend`.
fn rprint(cx: &mut Cx<'_>, m: Msg<'_>, cp: usize, bp: usize, mdns: bool) -> Res<Option<usize>> {
    let cp = if cx.opts.verbose > 0 {
        cx.s(" ");
        match fqdn(cx, m, cp, bp)? {
            Some(c) => Some(c),
            None => return Ok(None),
        }
    } else {
        nskip(m, cp)
    };
    let Some(mut cp) = cp.filter(|&c| m.ttest(c, 10)) else {
        return Ok(Some(m.end()));
    };
    let typ = m.u16(cp)?;
    let i = m.u16(cp + 2)?;
    cp += 4;
    let class = if mdns { i & !C_TOP } else { i };
    if class != C_IN && typ != TYPE_OPT {
        cx.s(" ");
        name_or(cx, class_name(class), "(Class ", u32::from(class), ")");
    }
    if mdns && i & C_TOP != 0 {
        cx.s(" (Cache flush)");
    }
    let mut opt_flags = 0;
    if typ == TYPE_OPT {
        opt_flags = m.u16(cp + 2)?;
        cp += 4;
    } else if cx.opts.verbose > 2 {
        cx.s(" [");
        relts(cx, m.u32(cp)?);
        cx.s("]");
        cp += 4;
    } else {
        cp += 4;
    }
    let len = m.u16(cp)?;
    cp += 2;
    let rp = cp + usize::from(len);
    cx.s(" ");
    name_or(cx, type_name(typ), "Type", u32::from(typ), "");
    if rp > m.end() {
        return Ok(None);
    }
    match typ {
        1 => {
            if !m.ttest(cp, 4) {
                return Ok(None);
            }
            cx.s(" ");
            write_ipv4(cx.out, crate::field::arr::<4>(m.m, cp)?);
        }
        2 | 5 | 12 | 39 => {
            cx.s(" ");
            if fqdn(cx, m, cp, bp)?.is_none() {
                return Ok(None);
            }
        }
        6 => {
            if cx.opts.verbose == 0 {
                return Ok(Some(rp));
            }
            cx.s(" ");
            let Some(c) = fqdn(cx, m, cp, bp)? else {
                return Ok(None);
            };
            cx.s(" ");
            let Some(c) = fqdn(cx, m, c, bp)? else {
                return Ok(None);
            };
            if !m.ttest(c, 20) {
                return Ok(None);
            }
            for k in 0..5 {
                cx.s(" ");
                cx.u(m.u32(c + 4 * k)?);
            }
        }
        15 => {
            cx.s(" ");
            if !m.ttest(cp, 2) {
                return Ok(None);
            }
            if fqdn(cx, m, cp + 2, bp)?.is_none() {
                return Ok(None);
            }
            cx.s(" ");
            cx.u(m.u16(cp)?);
        }
        16 => {
            let mut c = cp;
            while c < rp {
                cx.s(" \"");
                match cprint(cx, m, c) {
                    Some(n) => c = n,
                    None => return Ok(None),
                }
                cx.s("\"");
            }
        }
        33 => {
            cx.s(" ");
            if !m.ttest(cp, 6) {
                return Ok(None);
            }
            if fqdn(cx, m, cp + 6, bp)?.is_none() {
                return Ok(None);
            }
            cx.s(":");
            cx.u(m.u16(cp + 4)?);
            cx.s(" ");
            cx.u(m.u16(cp)?);
            cx.s(" ");
            cx.u(m.u16(cp + 2)?);
        }
        28 => {
            let Ok(a) = crate::field::arr::<16>(m.m, cp) else {
                return Ok(None);
            };
            cx.s(" ");
            write_ipv6(cx.out, &a);
        }
        38 => {
            if !m.ttest(cp, 1) {
                return Ok(None);
            }
            let pbit = u32::from(m.u8(cp)?);
            let pbyte = ((pbit & !7) / 8) as usize;
            if pbit > 128 {
                cx.s(" ");
                cx.u(pbit);
                cx.s("(bad plen)");
                return Ok(Some(rp));
            } else if pbit < 128 {
                let mut a = [0u8; 16];
                let src = m.m.get(cp + 1..cp + 1 + 16 - pbyte).ok_or(Truncated)?;
                if let Some(d) = a.get_mut(pbyte..) {
                    d.copy_from_slice(src);
                }
                cx.s(" ");
                cx.u(pbit);
                cx.s(" ");
                write_ipv6(cx.out, &a);
            }
            if pbit > 0 {
                cx.s(" ");
                if fqdn(cx, m, cp + 1 + 16 - pbyte, bp)?.is_none() {
                    return Ok(None);
                }
            }
        }
        256 => {
            if !m.ttest(cp, usize::from(len)) {
                return Ok(None);
            }
            cx.atomic(|cx| {
                let (a, b) = (m.u16(cp)?, m.u16(cp + 2)?);
                cx.s(" ");
                cx.u(a);
                cx.s(" ");
                cx.u(b);
                cx.s(" ");
                Ok(())
            })?;
            if printn(cx, m, cp + 4, u32::from(len).wrapping_sub(4)) {
                return Ok(None);
            }
        }
        TYPE_OPT => {
            cx.s(" UDPsize=");
            cx.u(class);
            if opt_flags & 0x8000 != 0 {
                cx.s(" DO");
            }
            if cp < rp {
                cx.s(" [");
                let mut c = cp;
                while c < rp {
                    match eopt(cx, m, c)? {
                        Some(n) => c = n,
                        None => return Ok(None),
                    }
                    if c < rp {
                        cx.s(",");
                    }
                }
                cx.s("]");
            }
        }
        104 if !m.ttest(cp, usize::from(len)) => return Ok(None),
        104 => {
            // All of it was captured (checked above), so `nd_printn` cannot stop short.
            printn(cx, m, cp, u32::from(len));
        }
        250 => {
            if cx.opts.verbose == 0 {
                return Ok(Some(rp));
            }
            cx.s(" ");
            let Some(mut c) = fqdn(cx, m, cp, bp)? else {
                return Ok(None);
            };
            c += 6;
            for label in [" fudge=", " maclen=", " origid=", " error=", " otherlen="] {
                if !m.ttest(c, 2) {
                    return Ok(None);
                }
                let v = m.u16(c)?;
                cx.s(label);
                cx.u(v);
                c += 2;
                if label == " maclen=" {
                    c += usize::from(v);
                }
            }
        }
        _ => {}
    }
    Ok(Some(rp))
}

/// The extended rcode: the header's 4 bits plus the OPT record's upper 8, found the way
/// tcpdump's pre-scan finds it (stopping silently at anything cut short).
fn ext_rcode(m: Msg<'_>, flags: u16, counts: [u32; 4]) -> u16 {
    let rcode = flags & 0xf;
    let [qd, an, ns, ar] = counts;
    let mut cp = HEADER_LEN;
    for _ in 0..qd {
        let Some(c) = nskip(m, cp) else { return rcode };
        cp = c + 4;
        if cp >= m.end() {
            return rcode;
        }
    }
    for _ in 0..an + ns {
        let Some(c) = nskip(m, cp) else { return rcode };
        cp = c + 8;
        let Ok(rdlen) = m.u16(cp) else { return rcode };
        cp += 2 + usize::from(rdlen);
        if cp >= m.end() {
            return rcode;
        }
    }
    for _ in 0..ar {
        let Some(c) = nskip(m, cp) else { return rcode };
        cp = c;
        let Ok(t) = m.u16(cp) else { return rcode };
        cp += 4;
        let Ok(x) = m.u8(cp) else { return rcode };
        if t == TYPE_OPT {
            return rcode | (u16::from(x) << 4);
        }
        cp += 4;
        let Ok(rdlen) = m.u16(cp) else { return rcode };
        cp += 2 + usize::from(rdlen);
        if cp >= m.end() {
            return rcode;
        }
    }
    rcode
}

/// One section of records after the first: `,` between them while bytes remain.
/// Returns the new position, or `None` for tcpdump's `goto trunc`.
fn section(
    cx: &mut Cx<'_>,
    m: Msg<'_>,
    mut cp: usize,
    count: &mut u32,
    label: &str,
    need_bytes: bool,
    mdns: bool,
) -> Res<Option<usize>> {
    if (!need_bytes || cp < m.end()) && *count > 0 {
        cx.s(label);
        match rprint(cx, m, cp, 0, mdns)? {
            Some(c) => cp = c,
            None => return Ok(None),
        }
        *count -= 1;
        while cp < m.end() && *count > 0 {
            cx.s(",");
            match rprint(cx, m, cp, 0, mdns)? {
                Some(c) => cp = c,
                None => return Ok(None),
            }
            *count -= 1;
        }
    }
    Ok(if *count > 0 { None } else { Some(cp) })
}

/// `domain_print`: `bp` is the UDP or TCP payload from the captured bytes (to the IP end),
/// `length` the payload length the headers claim.
pub(crate) fn print(cx: &mut Cx<'_>, bp: &[u8], length: u32, over_tcp: bool, mdns: bool) -> Res {
    cx.proto = "domain";
    let mut length = length;
    let mut bp = bp;
    if over_tcp {
        if length < 2 {
            cx.s(" [DNS over TCP: length ");
            cx.u(length);
            cx.s(" < 2]");
            cx.invalid();
            return Ok(());
        }
        length -= 2;
        let prefix = be16(bp, 0)?;
        if u32::from(prefix) != length {
            cx.s(" [prefix length(");
            cx.u(prefix);
            cx.s(") != length(");
            cx.u(length);
            cx.s(")]");
            cx.invalid();
            return Ok(());
        }
        bp = crate::field::tail(bp, 2);
        cx.s(" ");
    }
    if length < HEADER_LEN as u32 {
        cx.s("domain [length ");
        cx.u(length);
        cx.s(" < 12]");
        cx.invalid();
        return Ok(());
    }
    let Ok(h) = DnsMessage::new_checked(bp) else {
        cx.trunc();
        return Ok(());
    };
    let m = Msg { m: bp };
    if body(cx, m, h, mdns)?.is_none() {
        cx.trunc();
        return Ok(());
    }
    cx.s(" (");
    cx.u(length);
    cx.s(")");
    Ok(())
}

/// Everything between the header and ` (length)`; `None` is `goto trunc`.
fn body(cx: &mut Cx<'_>, m: Msg<'_>, h: DnsMessage<'_>, mdns: bool) -> Res<Option<()>> {
    let flags = h.flags();
    let mut qd = u32::from(h.qdcount());
    let mut an = u32::from(h.ancount());
    let mut ns = u32::from(h.nscount());
    let mut ar = u32::from(h.arcount());
    let opcode = usize::from(h.opcode());
    let vv = cx.opts.verbose > 1;
    cx.u(h.id());
    cx.s(NS_OPS.get(opcode).copied().unwrap_or(""));
    let mut cp = HEADER_LEN;
    if h.is_response() {
        let rcode = ext_rcode(m, flags, [qd, an, ns, ar]);
        match NS_RESP.get(usize::from(rcode)) {
            Some(s) => cx.s(s),
            None => {
                cx.s(" Resp");
                cx.u(rcode & 0xfff);
            }
        }
        if flags & 0x0400 != 0 {
            cx.s("*");
        }
        if flags & 0x0080 == 0 {
            cx.s("-");
        }
        if flags & 0x0200 != 0 {
            cx.s("|");
        }
        if flags & 0x0020 != 0 {
            cx.s("$");
        }
        if qd != 1 {
            cx.s(" [");
            cx.u(qd);
            cx.s("q]");
        }
        for i in 0..qd {
            if i != 0 {
                cx.s(",");
            }
            if vv {
                cx.s(" q:");
                match qprint(cx, m, cp, 0, mdns)? {
                    Some(c) => cp = c,
                    None => return Ok(None),
                }
            } else {
                match nskip(m, cp) {
                    Some(c) => cp = c + 4,
                    None => return Ok(None),
                }
            }
        }
        cx.s(" ");
        cx.u(an);
        cx.s("/");
        cx.u(ns);
        cx.s("/");
        cx.u(ar);
    } else {
        if flags & 0x0100 != 0 {
            cx.s("+");
        }
        if flags & 0x0010 != 0 {
            cx.s("%");
        }
        if flags & 0x6cf != 0 {
            cx.s(" [b2&3=0x");
            cx.x(u32::from(flags));
            cx.s("]");
        }
        let count = |cx: &mut Cx<'_>, n: u32, tag: &str| {
            cx.s(" [");
            cx.u(n);
            cx.s(tag);
        };
        if opcode == 1 {
            if qd != 0 {
                count(cx, qd, "q]");
            }
            if an != 1 {
                count(cx, an, "a]");
            }
        } else {
            if an != 0 {
                count(cx, an, "a]");
            }
            if qd != 1 {
                count(cx, qd, "q]");
            }
        }
        if ns != 0 {
            count(cx, ns, "n]");
        }
        if ar != 0 {
            count(cx, ar, "au]");
        }
        if qd > 0 {
            match qprint(cx, m, cp, 0, mdns)? {
                Some(c) => cp = c,
                None => return Ok(None),
            }
            qd -= 1;
            while cp < m.end() && qd > 0 {
                match qprint(cx, m, cp, 0, mdns)? {
                    Some(c) => cp = c,
                    None => return Ok(None),
                }
                qd -= 1;
            }
        }
        if qd > 0 {
            return Ok(None);
        }
        if !vv {
            return Ok(Some(()));
        }
    }
    // Answers always for a response, on -vv for a request; authority and additional on -vv.
    let Some(c) = section(cx, m, cp, &mut an, "", false, mdns)? else {
        return Ok(None);
    };
    if !vv {
        return Ok(Some(()));
    }
    let Some(c) = section(cx, m, c, &mut ns, " ns:", true, mdns)? else {
        return Ok(None);
    };
    if section(cx, m, c, &mut ar, " ar:", true, mdns)?.is_none() {
        return Ok(None);
    }
    Ok(Some(()))
}

/// For `decode`: the header, questions and answers as far as they are captured and well
/// formed; the bool is false when a question or answer was cut short or malformed.
pub(crate) fn layer(h: DnsMessage<'_>) -> (DnsLayer, bool) {
    let m = h.bytes();
    let counts = [h.qdcount(), h.ancount(), h.nscount(), h.arcount()].map(u32::from);
    let mut d = DnsLayer {
        id: h.id(),
        response: h.is_response(),
        opcode: h.opcode(),
        rcode: ext_rcode(Msg { m }, h.flags(), counts),
        flags: h.flags(),
        qdcount: h.qdcount(),
        ancount: h.ancount(),
        nscount: h.nscount(),
        arcount: h.arcount(),
        questions: Vec::new(),
        answers: Vec::new(),
    };
    let mut pos = HEADER_LEN;
    for _ in 0..h.qdcount() {
        let mut name = String::new();
        let Some(p) = read_name(m, pos, &mut name) else {
            return (d, false);
        };
        let (Ok(t), Ok(class)) = (be16(m, p), be16(m, p + 2)) else {
            return (d, false);
        };
        d.questions.push(DnsQuestion {
            name,
            qtype: type_text(t),
            class,
        });
        pos = p + 4;
    }
    for _ in 0..h.ancount() {
        let mut name = String::new();
        let Some(p) = read_name(m, pos, &mut name) else {
            return (d, false);
        };
        let (Ok(t), Ok(class), Ok(ttl), Ok(len)) =
            (be16(m, p), be16(m, p + 2), be32(m, p + 4), be16(m, p + 8))
        else {
            return (d, false);
        };
        let start = p + 10;
        let end = start + usize::from(len);
        let Some(rdata) = m.get(start..end) else {
            return (d, false);
        };
        d.answers.push(DnsRecord {
            name,
            rtype: type_text(t),
            class,
            ttl,
            data: rdata_text(m, t, start, rdata),
        });
        pos = end;
    }
    (d, true)
}

fn type_text(t: u16) -> String {
    match type_name(t) {
        Some(n) => n.to_string(),
        None => format!("Type{t}"),
    }
}

/// Record data in master-file form; hex when the type is not one of the common ones or the
/// data does not parse.
fn rdata_text(m: &[u8], t: u16, start: usize, rdata: &[u8]) -> String {
    let name_at = |off: usize, out: &mut String| read_name(m, start + off, out).is_some();
    let mut s = String::new();
    let ok = match (t, rdata.len()) {
        (1, 4) => {
            let mut o = Vec::new();
            write_ipv4(&mut o, [rdata[0], rdata[1], rdata[2], rdata[3]]);
            s = String::from_utf8(o).unwrap_or_default();
            true
        }
        (28, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rdata);
            let mut o = Vec::new();
            write_ipv6(&mut o, &a);
            s = String::from_utf8(o).unwrap_or_default();
            true
        }
        (2 | 5 | 12 | 39, _) => name_at(0, &mut s),
        (15, 3..) => {
            s = format!("{} ", u16::from_be_bytes([rdata[0], rdata[1]]));
            name_at(2, &mut s)
        }
        (33, 7..) => {
            let w = |i: usize| u16::from_be_bytes([rdata[i], rdata[i + 1]]);
            s = format!("{} {} {} ", w(0), w(2), w(4));
            name_at(6, &mut s)
        }
        (16, _) => txt_text(rdata, &mut s),
        (6, _) => soa_text(m, start, rdata.len(), &mut s),
        _ => false,
    };
    if ok {
        return s;
    }
    let mut h = String::with_capacity(rdata.len() * 2);
    for b in rdata {
        h.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        h.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    h
}

/// TXT: each <character-string> quoted, `"` and `\` escaped, non-printables as `\DDD`.
fn txt_text(rdata: &[u8], out: &mut String) -> bool {
    let mut rest = rdata;
    while let Some((&n, tail)) = rest.split_first() {
        let Some(text) = tail.get(..usize::from(n)) else {
            return false;
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('"');
        push_escaped(out, text, b"\"\\", 0x20);
        out.push('"');
        rest = tail.get(usize::from(n)..).unwrap_or(&[]);
    }
    true
}

/// Master-file escaping (RFC 1035 5.1): `special` bytes as `\c`, printable ones from `lo` to
/// `~` as they are, the rest as `\DDD`.
fn push_escaped(out: &mut String, bytes: &[u8], special: &[u8], lo: u8) {
    for &c in bytes {
        if special.contains(&c) {
            out.push('\\');
            out.push(char::from(c));
        } else if (lo..=0x7e).contains(&c) {
            out.push(char::from(c));
        } else {
            out.push('\\');
            out.push(char::from(b'0' + c / 100));
            out.push(char::from(b'0' + (c / 10) % 10));
            out.push(char::from(b'0' + c % 10));
        }
    }
}

/// SOA: `mname rname serial refresh retry expire minimum`, all inside the record.
fn soa_text(m: &[u8], start: usize, len: usize, out: &mut String) -> bool {
    let end = start + len;
    let Some(p) = read_name(m, start, out) else {
        return false;
    };
    out.push(' ');
    let Some(p) = read_name(m, p, out) else {
        return false;
    };
    if p + 20 > end {
        return false;
    }
    for k in 0..5 {
        let Ok(v) = be32(m, p + 4 * k) else {
            return false;
        };
        out.push(' ');
        out.push_str(itoa::Buffer::new().format(v));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(msg: &[u8], off: usize) -> Option<(String, usize)> {
        let mut s = String::new();
        read_name(msg, off, &mut s).map(|e| (s, e))
    }

    #[test]
    fn names() {
        let m = b"\x03www\x07example\x03com\x00\x03foo\xc0\x04\xc0\x10";
        assert_eq!(name(m, 0), Some(("www.example.com.".to_string(), 17)));
        assert_eq!(name(m, 17), Some(("foo.example.com.".to_string(), 23)));
        assert_eq!(name(m, 23), Some((".".to_string(), 25)));
        // forward pointer and loop refused
        assert_eq!(name(b"\xc0\x02\x00", 0), None);
        assert_eq!(name(b"\x01a\xc0\x00", 2), None);
        assert_eq!(name(b"\x01a.\x00", 0), None);
        assert_eq!(name(b"\x02a.\x00", 0), Some(("a\\..".to_string(), 4)));
        assert_eq!(name(b"\x01\x07\x00", 0), Some(("\\007.".to_string(), 3)));
    }

    #[test]
    fn header_view() {
        let h = [0x12, 0x34, 0x81, 0x83, 0, 1, 0, 2, 0, 3, 0, 4];
        let d = DnsMessage::new_checked(&h);
        assert!(d.is_ok());
        if let Ok(d) = d {
            assert_eq!(d.id(), 0x1234);
            assert!(d.is_response());
            assert_eq!((d.opcode(), d.rcode()), (0, 3));
            assert_eq!(
                (d.qdcount(), d.ancount(), d.nscount(), d.arcount()),
                (1, 2, 3, 4)
            );
        }
        assert!(DnsMessage::new_checked(&h[..11]).is_err());
    }
}
