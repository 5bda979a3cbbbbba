//! TCP (RFC 9293): the checked view, option parsing, and tcpdump's `tcp_print`
//! (`Flags [S.], seq, ack, win, options [...], length`), including relative sequence numbers.

use crate::field::{Res, Truncated, be16, be32, has, tail, u8_at};
use crate::print::{Cx, IpHdr, SeqKey, V6Key};

/// Minimum header length.
pub const MIN_HEADER_LEN: usize = 20;

/// FIN flag bit.
pub const FIN: u8 = 0x01;
/// SYN flag bit.
pub const SYN: u8 = 0x02;
/// RST flag bit.
pub const RST: u8 = 0x04;
/// PSH flag bit.
pub const PSH: u8 = 0x08;
/// ACK flag bit.
pub const ACK: u8 = 0x10;
/// URG flag bit.
pub const URG: u8 = 0x20;
/// ECE flag bit.
pub const ECE: u8 = 0x40;
/// CWR flag bit.
pub const CWR: u8 = 0x80;

/// A checked view of a TCP header: data offset >= 5 and the whole header (options included) present.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    buf: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// Validates the data offset and that the header was captured.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        let hl = usize::from(u8_at(buf, 12)? >> 4) * 4;
        if hl < MIN_HEADER_LEN || buf.len() < hl {
            return Err(Truncated);
        }
        Ok(TcpSegment { buf })
    }

    /// Source port.
    pub fn sport(&self) -> u16 {
        be16(self.buf, 0).unwrap_or_default()
    }

    /// Destination port.
    pub fn dport(&self) -> u16 {
        be16(self.buf, 2).unwrap_or_default()
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.buf, 4).unwrap_or_default()
    }

    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        be32(self.buf, 8).unwrap_or_default()
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(u8_at(self.buf, 12).unwrap_or_default() >> 4) * 4
    }

    /// The eight flag bits (CWR..FIN).
    pub fn flags(&self) -> u8 {
        u8_at(self.buf, 13).unwrap_or_default()
    }

    /// Window.
    pub fn window(&self) -> u16 {
        be16(self.buf, 14).unwrap_or_default()
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 16).unwrap_or_default()
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.buf, 18).unwrap_or_default()
    }

    /// Option bytes.
    pub fn options(&self) -> &'a [u8] {
        self.buf
            .get(MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// Captured payload bytes.
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, self.header_len())
    }

    /// Iterates the options (stops at EOL or at the first malformed one).
    pub fn option_iter(&self) -> TcpOptionIter<'a> {
        TcpOptionIter {
            rest: self.options(),
        }
    }
}

/// One parsed TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list.
    Eol,
    /// No-operation.
    Nop,
    /// Maximum segment size.
    Mss(u16),
    /// Window scale shift.
    WindowScale(u8),
    /// SACK permitted.
    SackPermitted,
    /// SACK blocks (raw, 8 bytes each).
    Sack(&'a [u8]),
    /// Timestamps.
    Timestamp {
        /// TSval
        val: u32,
        /// TSecr
        ecr: u32,
    },
    /// Any other kind, with its data bytes.
    Unknown {
        /// Option kind.
        kind: u8,
        /// Bytes after kind and length.
        data: &'a [u8],
    },
    /// A length that does not fit; iteration stops after this.
    Malformed(u8),
}

/// Iterator over TCP options.
#[derive(Clone, Debug)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = TcpOption<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let kind = *self.rest.first()?;
        match kind {
            0 => {
                self.rest = &[];
                return Some(TcpOption::Eol);
            }
            1 => {
                self.rest = tail(self.rest, 1);
                return Some(TcpOption::Nop);
            }
            _ => {}
        }
        let len = usize::from(u8_at(self.rest, 1).unwrap_or(0));
        let Some(body) = self.rest.get(2..len.max(2)).filter(|_| len >= 2) else {
            self.rest = &[];
            return Some(TcpOption::Malformed(kind));
        };
        self.rest = tail(self.rest, len);
        Some(match (kind, len) {
            (2, 4) => TcpOption::Mss(be16(body, 0).unwrap_or_default()),
            (3, 3) => TcpOption::WindowScale(u8_at(body, 0).unwrap_or_default()),
            (4, 2) => TcpOption::SackPermitted,
            (5, _) if body.len() % 8 == 0 => TcpOption::Sack(body),
            (8, 10) => TcpOption::Timestamp {
                val: be32(body, 0).unwrap_or_default(),
                ecr: be32(body, 4).unwrap_or_default(),
            },
            _ => TcpOption::Unknown { kind, data: body },
        })
    }
}

/// tcpdump's flag letters in its order (`bittok2str_nosep`), `none` when no bit is set.
pub fn flags_str(flags: u8, out: &mut String) {
    for (bit, c) in FLAG_LETTERS {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    if flags == 0 {
        out.push_str("none");
    }
}

const FLAG_LETTERS: [(u8, char); 8] = [
    (FIN, 'F'),
    (SYN, 'S'),
    (RST, 'R'),
    (PSH, 'P'),
    (ACK, '.'),
    (URG, 'U'),
    (ECE, 'E'),
    (CWR, 'W'),
];

fn option_name(o: u8) -> Option<&'static str> {
    Some(match o {
        0 => "eol",
        1 => "nop",
        2 => "mss",
        3 => "wscale",
        4 => "sackOK",
        5 => "sack",
        6 => "echo",
        7 => "echoreply",
        8 => "TS",
        11 => "cc",
        12 => "ccnew",
        13 => "",
        19 => "md5",
        20 => "scps",
        28 => "uto",
        29 => "tcp-ao",
        30 => "mptcp",
        34 => "tfo",
        254 => "exp",
        _ => return None,
    })
}

/// How the options loop ended; the bool is tcpdump's `ch != '\0'` (an option was completed).
enum OptEnd {
    Done,
    Bad(bool),
    Trunc(bool),
}

/// The options loop of `tcp_print`. `thseq`/`thack`/`rev` are the relative-SACK basis.
fn print_options(
    cx: &mut Cx<'_>,
    opts: &[u8],
    mut hlen: u32,
    rev: bool,
    thseq: u32,
    thack: u32,
) -> Res<OptEnd> {
    let mut cp = opts;
    let mut first_opt = true;
    while hlen > 0 {
        if !first_opt {
            cx.ch(b',');
        }
        let opt = u8_at(cp, 0)?;
        cp = tail(cp, 1);
        let zerolen = opt == 0 || opt == 1;
        let len = if zerolen {
            1
        } else {
            let l = u32::from(u8_at(cp, 0)?);
            cp = tail(cp, 1);
            if l < 2 || l > hlen {
                return Ok(OptEnd::Bad(!first_opt));
            }
            hlen -= 1;
            l
        };
        hlen -= 1;
        match option_name(opt) {
            Some(n) => cx.s(n),
            None => {
                cx.s("unknown-");
                cx.u(opt);
            }
        }
        // LENCHECK: Bad when beyond the header, Trunc when not captured.
        macro_rules! lencheck {
            ($l:expr) => {{
                let l: u32 = $l;
                if l > hlen {
                    return Ok(OptEnd::Bad(!first_opt));
                }
                if !has(cp, 0, l as usize) {
                    return Ok(OptEnd::Trunc(!first_opt));
                }
            }};
        }
        let datalen: u32 = match opt {
            2 => {
                lencheck!(2);
                cx.ch(b' ');
                cx.u(be16(cp, 0)?);
                2
            }
            3 => {
                lencheck!(1);
                cx.ch(b' ');
                cx.u(u8_at(cp, 0)?);
                1
            }
            5 => {
                let datalen = len - 2;
                if datalen % 8 != 0 {
                    cx.s(" invalid sack");
                } else {
                    cx.ch(b' ');
                    cx.u(datalen / 8);
                    cx.ch(b' ');
                    let mut i = 0;
                    while i < datalen {
                        lencheck!(i + 4);
                        let mut s = be32(cp, i as usize)?;
                        lencheck!(i + 8);
                        let mut e = be32(cp, i as usize + 4)?;
                        let base = if rev { thseq } else { thack };
                        s = s.wrapping_sub(base);
                        e = e.wrapping_sub(base);
                        cx.ch(b'{');
                        cx.u(s);
                        cx.ch(b':');
                        cx.u(e);
                        cx.ch(b'}');
                        i += 8;
                    }
                }
                datalen
            }
            6 | 7 | 11 | 12 | 13 => {
                lencheck!(4);
                cx.ch(b' ');
                cx.u(be32(cp, 0)?);
                4
            }
            8 => {
                lencheck!(8);
                cx.s(" val ");
                cx.u(be32(cp, 0)?);
                cx.s(" ecr ");
                cx.u(be32(cp, 4)?);
                8
            }
            19 => {
                lencheck!(16);
                cx.ch(b' ');
                for i in 0..16 {
                    cx.x02(u8_at(cp, i)?);
                }
                16
            }
            20 => {
                lencheck!(2);
                cx.s(" cap ");
                cx.x02(u8_at(cp, 0)?);
                cx.s(" id ");
                cx.u(u8_at(cp, 1)?);
                2
            }
            29 => {
                let datalen = len - 2;
                if datalen < 2 {
                    cx.invalid();
                } else {
                    lencheck!(1);
                    cx.s(" keyid ");
                    cx.u(u8_at(cp, 0)?);
                    lencheck!(2);
                    cx.s(" rnextkeyid ");
                    cx.u(u8_at(cp, 1)?);
                    if datalen > 2 {
                        cx.s(" mac 0x");
                        for i in 2..datalen {
                            lencheck!(i + 1);
                            cx.x02(u8_at(cp, i as usize)?);
                        }
                    }
                }
                datalen
            }
            0 | 1 | 4 => 0,
            28 => {
                lencheck!(2);
                let raw = be16(cp, 0)?;
                cx.s(" 0x");
                cx.x(u32::from(raw));
                let v = if raw & 1 != 0 {
                    u32::from(raw >> 1) * 60
                } else {
                    u32::from(raw >> 1)
                };
                cx.ch(b' ');
                cx.u(v);
                2
            }
            34 => {
                let datalen = len - 2;
                lencheck!(datalen);
                cx.ch(b' ');
                fastopen(cx, cp, datalen, false)?;
                datalen
            }
            254 => {
                let datalen = len - 2;
                lencheck!(datalen);
                if datalen < 2 {
                    return Ok(OptEnd::Bad(!first_opt));
                }
                let magic = be16(cp, 0)?;
                cx.ch(b'-');
                if magic == 0xf989 {
                    fastopen(cx, tail(cp, 2), datalen - 2, true)?;
                } else {
                    cx.x04(magic);
                }
                datalen
            }
            _ => {
                // MPTCP (30) has a dedicated printer in tcpdump; printed here as hex.
                let datalen = len - 2;
                if datalen > 0 {
                    cx.s(" 0x");
                }
                for i in 0..datalen {
                    lencheck!(i + 1);
                    cx.x02(u8_at(cp, i as usize)?);
                }
                datalen
            }
        };
        cp = tail(cp, datalen as usize);
        hlen -= datalen;
        let spec = datalen + 1 + u32::from(!zerolen);
        if spec != len {
            cx.s("[len ");
            cx.u(len);
            cx.s("]");
        }
        first_opt = false;
        if opt == 0 {
            break;
        }
    }
    Ok(OptEnd::Done)
}

/// `print_tcp_fastopen_option`
fn fastopen(cx: &mut Cx<'_>, cp: &[u8], datalen: u32, exp: bool) -> Res {
    if exp {
        cx.s("tfo");
    }
    if datalen == 0 {
        cx.s(" cookiereq");
    } else if !datalen.is_multiple_of(2) || !(4..=16).contains(&datalen) {
        cx.invalid();
    } else {
        cx.s(" cookie ");
        for i in 0..datalen as usize {
            cx.x02(u8_at(cp, i)?);
        }
    }
    Ok(())
}

/// Relative-sequence bookkeeping (`tcp_seq_hash`). Returns (seq, ack, rev, thseq, thack).
fn relative(
    cx: &mut Cx<'_>,
    iph: IpHdr<'_>,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
) -> Res<(u32, u32, bool, u32, u32)> {
    let Some(table) = cx.seq.as_deref_mut() else {
        return Ok((seq, ack, false, 0, 0));
    };
    if flags & ACK == 0 {
        return Ok((seq, ack, false, 0, 0));
    }
    let (v6, src, dst) = match iph {
        IpHdr::V4(b) => {
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s[..4].copy_from_slice(&crate::field::arr::<4>(b, 12)?);
            d[..4].copy_from_slice(&crate::field::arr::<4>(b, 16)?);
            (false, s, d)
        }
        IpHdr::V6(b) => (
            true,
            crate::field::arr::<16>(b, 8)?,
            crate::field::arr::<16>(b, 24)?,
        ),
    };
    let rev = sport > dport || (sport == dport && src > dst);
    let (src, dst, port) = if rev {
        (dst, src, (u32::from(dport) << 16) | u32::from(sport))
    } else {
        (src, dst, (u32::from(sport) << 16) | u32::from(dport))
    };
    let key = if v6 {
        SeqKey::V6(V6Key { src, dst, port })
    } else {
        let a = |x: [u8; 16]| u128::from(u32::from_be_bytes([x[0], x[1], x[2], x[3]]));
        SeqKey::V4((a(src) << 64) | (a(dst) << 32) | u128::from(port))
    };
    let (seq, ack, entry) = match table.get(&key) {
        Some(e) if flags & SYN == 0 => {
            let (thseq, thack) = e;
            if rev {
                (seq.wrapping_sub(thack), ack.wrapping_sub(thseq), e)
            } else {
                (seq.wrapping_sub(thseq), ack.wrapping_sub(thack), e)
            }
        }
        _ => {
            let e = if rev {
                (ack.wrapping_sub(1), seq)
            } else {
                (seq, ack.wrapping_sub(1))
            };
            table.set(key, e);
            (seq, ack, e)
        }
    };
    Ok((seq, ack, rev, entry.0, entry.1))
}

/// `tcp_print`
pub(crate) fn print(
    cx: &mut Cx<'_>,
    bp: &[u8],
    length: u32,
    iph: IpHdr<'_>,
    fragmented: bool,
) -> Res {
    cx.proto = "tcp";
    if !has(bp, 2, 2) {
        iph.src(cx)?;
        cx.s(" > ");
        iph.dst(cx)?;
        cx.s(":");
        cx.trunc();
        return Ok(());
    }
    let sport = be16(bp, 0)?;
    let dport = be16(bp, 2)?;
    iph.addrs(cx, true, Some((sport, dport)), crate::ipv4::PROTO_TCP)?;
    if bp.len() < MIN_HEADER_LEN {
        cx.trunc();
        return Ok(());
    }
    let hlen = u32::from(u8_at(bp, 12)? >> 4) * 4;
    if hlen < MIN_HEADER_LEN as u32 {
        cx.s(" tcp ");
        cx.u(length.wrapping_sub(hlen));
        cx.s(" [bad hdr length ");
        cx.u(hlen);
        cx.s(" - too short, < 20]");
        return Ok(());
    }
    let seq = be32(bp, 4)?;
    let ack = be32(bp, 8)?;
    let win = be16(bp, 14)?;
    let urp = be16(bp, 18)?;
    if cx.opts.quiet {
        cx.s("tcp ");
        cx.u(length.wrapping_sub(hlen));
        if hlen > length {
            cx.s(" [bad hdr length ");
            cx.u(hlen);
            cx.s(" - too long, > ");
            cx.u(length);
            cx.s("]");
        }
        return Ok(());
    }
    let flags = u8_at(bp, 13)?;
    cx.s("Flags [");
    for (bit, c) in FLAG_LETTERS {
        if flags & bit != 0 {
            cx.ch(c as u8);
        }
    }
    if flags == 0 {
        cx.s("none");
    }
    cx.s("]");
    let (seq, ack, rev, thseq, thack) = relative(cx, iph, sport, dport, flags, seq, ack)?;
    if hlen > length {
        cx.s(" [bad hdr length ");
        cx.u(hlen);
        cx.s(" - too long, > ");
        cx.u(length);
        cx.s("]");
        return Ok(());
    }
    if cx.opts.verbose > 0 && !fragmented && has(bp, 0, length as usize) {
        let sum = iph.upper_cksum(crate::ipv4::PROTO_TCP, bp, length)?;
        let field = be16(bp, 16)?;
        cx.s(", cksum 0x");
        cx.x04(field);
        if sum != 0 {
            cx.s(" (incorrect -> 0x");
            cx.x04(crate::checksum::shouldbe(field, sum));
            cx.s(")");
        } else {
            cx.s(" (correct)");
        }
    }
    let length = length - hlen;
    if cx.opts.verbose > 1 || length > 0 || flags & (SYN | FIN | RST) != 0 {
        cx.s(", seq ");
        cx.u(seq);
        if length > 0 {
            cx.ch(b':');
            cx.u(seq.wrapping_add(length));
        }
    }
    if flags & ACK != 0 {
        cx.s(", ack ");
        cx.u(ack);
    }
    cx.s(", win ");
    cx.u(win);
    if flags & URG != 0 {
        cx.s(", urg ");
        cx.u(urp);
    }
    if hlen > MIN_HEADER_LEN as u32 {
        cx.s(", options [");
        match print_options(
            cx,
            tail(bp, MIN_HEADER_LEN),
            hlen - MIN_HEADER_LEN as u32,
            rev,
            thseq,
            thack,
        )? {
            OptEnd::Done => cx.s("]"),
            OptEnd::Bad(ch) => {
                cx.s("[bad opt]");
                if ch {
                    cx.s("]");
                }
                return Ok(());
            }
            OptEnd::Trunc(ch) => {
                cx.trunc();
                if ch {
                    cx.s(">");
                }
                return Ok(());
            }
        }
    }
    cx.s(", length ");
    cx.u(length);
    if length == 0 {
        return Ok(());
    }
    if !has(bp, 0, hlen as usize) {
        cx.s(" [remaining caplen(");
        cx.u(bp.len());
        cx.s(") < header length(");
        cx.u(hlen);
        cx.s(")]");
        return Err(Truncated);
    }
    let payload = tail(bp, hlen as usize);
    if flags & RST != 0 && cx.opts.verbose > 0 {
        rst_data(cx, payload, length);
        return Ok(());
    }
    if crate::http::is_http_port(sport) || crate::http::is_http_port(dport) {
        cx.s(": ");
        return crate::http::print(cx, payload, length);
    }
    if prints_dns(sport, dport) {
        return crate::dns::print(cx, payload, length, true, false);
    }
    Ok(())
}

/// Ports whose printers `tcp_print` tries before DNS (telnet, smtp, whois, bgp, pptp, redis,
/// ssh, beep, openflow, ftp, rtsp; HTTP is handled above): with one of them on either side
/// tcpdump does not print DNS, and neither do we (those printers are not reproduced).
const BEFORE_DNS: [u16; 13] = [
    23, 25, 43, 179, 1723, 6379, 22, 10288, 6633, 6653, 21, 554, 8554,
];

/// tcpdump hands the segment to its DNS printer: port 53 on one side and none of the ports it
/// tries first (HTTP included) on either.
pub(crate) fn prints_dns(sport: u16, dport: u16) -> bool {
    let is = |p: u16| sport == p || dport == p;
    is(crate::dns::PORT_DNS)
        && !crate::http::is_http_port(sport)
        && !crate::http::is_http_port(dport)
        && !BEFORE_DNS.iter().any(|&p| is(p))
}

/// `print_tcp_rst_data`
fn rst_data(cx: &mut Cx<'_>, sp: &[u8], length: u32) {
    cx.s(if has(sp, 0, length as usize) {
        " [RST"
    } else {
        " [!RST"
    });
    let mut n = length as usize;
    if n > 30 {
        n = 30;
        cx.s("+");
    }
    cx.s(" ");
    for &c in sp.iter().take(n) {
        crate::print::fn_print_char(cx, c);
    }
    cx.s("]");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_iterate() {
        let mut b = vec![0u8; 20];
        b[12] = 0xa0;
        b.extend_from_slice(&[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let t = TcpSegment::new_checked(&b);
        assert!(t.is_ok());
        if let Ok(t) = t {
            let o: Vec<_> = t.option_iter().collect();
            assert_eq!(
                o,
                vec![
                    TcpOption::Mss(1460),
                    TcpOption::SackPermitted,
                    TcpOption::Timestamp { val: 1, ecr: 0 },
                    TcpOption::Nop,
                    TcpOption::WindowScale(7)
                ]
            );
        }
    }

    #[test]
    fn flag_letters() {
        let mut s = String::new();
        flags_str(SYN | ACK, &mut s);
        assert_eq!(s, "S.");
        s.clear();
        flags_str(0, &mut s);
        assert_eq!(s, "none");
    }
}
