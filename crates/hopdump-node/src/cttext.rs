//! Conntrack entries from the text people save and paste: `/proc/net/nf_conntrack`,
//! `conntrack -L` (plain, `-o extended`, `-o id`) and `conntrack -E` event lines, into the same
//! [`CtEntry`] the netlink reader gives, so the analysis runs offline on a file.
//!
//! Field order is the kernel's (`ct_seq_show()` in nf_conntrack_standalone.c) and
//! libnetfilter_conntrack's: `[l3name l3num] l4name l4num [timeout] [STATE] orig-tuple
//! [zone-orig=] [packets= bytes=] [UNREPLIED] reply-tuple [zone-reply=] [packets= bytes=]
//! [OFFLOAD|HW_OFFLOAD|ASSURED] [mark=] [secctx=] [zone=] [delta-time=] [use=] [id=]`.

use std::net::IpAddr;

use crate::ctnetlink::{
    Counters, CtEntry, IPS_ASSURED, IPS_DST_NAT, IPS_SEEN_REPLY, IPS_SRC_NAT, Tuple,
};

/// One line that is not a conntrack entry: its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub detail: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.detail)
    }
}

/// `enum tcp_conntrack` number of a state name.
fn tcp_state(name: &str) -> Option<u8> {
    Some(match name {
        "NONE" => 0,
        "SYN_SENT" => 1,
        "SYN_RECV" => 2,
        "ESTABLISHED" => 3,
        "FIN_WAIT" => 4,
        "CLOSE_WAIT" => 5,
        "LAST_ACK" => 6,
        "TIME_WAIT" => 7,
        "CLOSE" => 8,
        "SYN_SENT2" => 9,
        _ => return None,
    })
}

/// Whether a line carries no entry: blank, a comment, conntrack's summary on stderr (`flow
/// entries have been shown` for -L, `flow events have been shown` for -E).
fn is_noise(line: &str) -> bool {
    line.is_empty()
        || line.starts_with('#')
        || (line.starts_with("conntrack v")
            && (line.contains("flow entries") || line.contains("flow events")))
}

/// Words, with a bracketed group that holds spaces (`-o ktimestamp`'s `[start=Mon Mar  4
/// 10:00:00 2024]`) kept as one.
fn words(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    let base = line.as_ptr() as usize;
    for w in line.split_ascii_whitespace() {
        let at = w.as_ptr() as usize - base;
        match open {
            Some(start) => {
                if w.ends_with(']') {
                    out.push(&line[start..at + w.len()]);
                    open = None;
                }
            }
            None if w.starts_with('[') && !w.ends_with(']') => open = Some(at),
            None => out.push(w),
        }
    }
    if let Some(start) = open {
        out.push(&line[start..]);
    }
    out
}

/// A tuple being read: its fields as they come.
#[derive(Default)]
struct Partial {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    sport: Option<u16>,
    dport: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    icmp_id: Option<u16>,
    counters: (Option<u64>, Option<u64>),
}

impl Partial {
    fn tuple(&self, proto: u8, which: &str) -> Result<Tuple, String> {
        let (Some(src), Some(dst)) = (self.src, self.dst) else {
            return Err(format!("the {which} tuple has no src= and dst="));
        };
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(format!("the {which} tuple mixes IPv4 and IPv6"));
        }
        let icmp = match (self.icmp_type, self.icmp_code, self.icmp_id) {
            (Some(t), Some(c), Some(i)) => Some((t, c, i)),
            (None, None, None) => None,
            _ => {
                return Err(format!(
                    "the {which} tuple has an incomplete type=/code=/id="
                ));
            }
        };
        Ok(Tuple {
            src,
            dst,
            proto,
            sport: self.sport,
            dport: self.dport,
            icmp,
        })
    }

    fn counters(&self) -> Option<Counters> {
        match self.counters {
            (Some(packets), Some(bytes)) => Some(Counters { packets, bytes }),
            _ => None,
        }
    }
}

/// A `conntrack -E` line's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    New,
    Update,
    Destroy,
}

/// Parse one entry line (an event line's `[NEW]`-style prefix is skipped).
pub fn parse_line(line: &str) -> Result<CtEntry, String> {
    parse_event(line).map(|(_, e)| e)
}

/// Parse one line and say which event it is, for `conntrack -E` lines (`-o timestamp`'s
/// leading `[seconds.micros]` is skipped too).
pub fn parse_event(line: &str) -> Result<(Option<Event>, CtEntry), String> {
    let all = words(line);
    let mut words = all.into_iter().peekable();
    if words.peek().is_some_and(|w| {
        w.len() > 2
            && w.starts_with('[')
            && w.ends_with(']')
            && w[1..w.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
    }) {
        words.next();
    }
    let event = match words.peek() {
        Some(&"[NEW]") => Some(Event::New),
        Some(&"[UPDATE]") => Some(Event::Update),
        Some(&"[DESTROY]") => Some(Event::Destroy),
        _ => None,
    };
    if event.is_some() {
        words.next();
    }
    let mut family = None;
    let first = words.next().ok_or("empty line")?;
    let l4name = match first {
        "ipv4" | "ipv6" => {
            let num: u8 = words
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{first} without its family number"))?;
            family = Some(num);
            words.next().ok_or("no protocol after the family")?
        }
        w => w,
    };
    if l4name.contains('=') {
        return Err(format!(
            "expected a protocol name (tcp, udp, icmp…) before the tuples, found {l4name:?}"
        ));
    }
    let proto: u8 = words
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("protocol {l4name} without its number"))?;
    let mut timeout = None;
    let mut tcp = None;
    let mut dir = 0usize; // 0 original, 1 reply
    let mut t = [Partial::default(), Partial::default()];
    let mut status = IPS_SEEN_REPLY;
    let mut mark = None;
    let mut zone = 0u16;
    let mut use_count = None;
    let mut id = None;
    let mut after_tuples = false;
    for w in words {
        match w.split_once('=') {
            None => match w {
                "[UNREPLIED]" => status &= !IPS_SEEN_REPLY,
                "[ASSURED]" => {
                    status |= IPS_ASSURED;
                    after_tuples = true;
                }
                "[OFFLOAD]" => {
                    status |= 1 << 14;
                    after_tuples = true;
                }
                "[HW_OFFLOAD]" => {
                    status |= 1 << 15;
                    after_tuples = true;
                }
                w if w.starts_with('[') => {}
                w if w.bytes().all(|b| b.is_ascii_digit()) && t[0].src.is_none() => {
                    timeout = Some(
                        w.parse::<u32>()
                            .map_err(|_| format!("timeout {w} too large"))?,
                    );
                }
                w if t[0].src.is_none() => match tcp_state(w) {
                    Some(s) => tcp = Some(s),
                    // SCTP and DCCP print their own states; keep the entry, drop the name.
                    None if w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => {}
                    None => return Err(format!("unexpected word {w:?} before the tuples")),
                },
                _ => return Err(format!("unexpected word {w:?}")),
            },
            Some((k, v)) => {
                let num = |v: &str| -> Result<u64, String> {
                    v.parse().map_err(|_| format!("{k}={v} is not a number"))
                };
                let small = |v: &str, max: u64| -> Result<u64, String> {
                    let n = num(v)?;
                    if n > max {
                        Err(format!("{k}={v} is out of range"))
                    } else {
                        Ok(n)
                    }
                };
                match k {
                    "src" => {
                        if t[dir].src.is_some() {
                            if dir == 1 {
                                return Err("a third tuple".into());
                            }
                            dir = 1;
                        }
                        t[dir].src = Some(
                            v.parse()
                                .map_err(|_| format!("src={v} is not an address"))?,
                        );
                    }
                    "dst" => {
                        t[dir].dst = Some(
                            v.parse()
                                .map_err(|_| format!("dst={v} is not an address"))?,
                        )
                    }
                    "sport" => t[dir].sport = Some(small(v, 65535)? as u16),
                    "dport" => t[dir].dport = Some(small(v, 65535)? as u16),
                    "type" => t[dir].icmp_type = Some(small(v, 255)? as u8),
                    "code" => t[dir].icmp_code = Some(small(v, 255)? as u8),
                    // The ICMP id belongs to the tuple; `-o id` appends the entry's id last.
                    "id" if !after_tuples
                        && t[dir].icmp_type.is_some()
                        && t[dir].icmp_id.is_none() =>
                    {
                        t[dir].icmp_id = Some(small(v, 65535)? as u16)
                    }
                    "id" => id = Some(small(v, u64::from(u32::MAX))? as u32),
                    "packets" => t[dir].counters.0 = Some(num(v)?),
                    "bytes" => t[dir].counters.1 = Some(num(v)?),
                    "mark" => {
                        after_tuples = true;
                        mark = Some(small(v, u64::from(u32::MAX))? as u32)
                    }
                    "zone" => {
                        after_tuples = true;
                        zone = small(v, 65535)? as u16
                    }
                    "use" => {
                        after_tuples = true;
                        use_count = Some(small(v, u64::from(u32::MAX))? as u32)
                    }
                    // zone-orig, zone-reply, secctx, delta-time, labels, helper…: not used.
                    _ => {}
                }
            }
        }
    }
    let orig = t[0].tuple(proto, "original")?;
    let reply = if t[1].src.is_some() {
        t[1].tuple(proto, "reply")?
    } else {
        return Err("no reply tuple (a conntrack entry has two)".into());
    };
    if orig.src.is_ipv4() != reply.src.is_ipv4() {
        return Err("the original and reply tuples are of different families".into());
    }
    let fam = if orig.src.is_ipv4() { 2 } else { 10 };
    if family.is_some_and(|f| f != fam) {
        return Err(format!(
            "family number {} does not match the addresses",
            family.unwrap_or(0)
        ));
    }
    let mut e = CtEntry {
        family: fam,
        counters_orig: t[0].counters(),
        counters_reply: t[1].counters(),
        orig,
        reply,
        status,
        tcp_state: if proto == 6 { tcp } else { None },
        timeout,
        mark,
        zone,
        id,
        use_count,
    };
    // The kernel sets these bits with the NAT; text shows only the tuples.
    if e.dnat_to().is_some() {
        e.status |= IPS_DST_NAT;
    }
    if e.snat_to().is_some() {
        e.status |= IPS_SRC_NAT;
    }
    Ok((event, e))
}

/// Every entry of a saved table. Comments, blank lines and conntrack's summary line are
/// skipped; any other line that is not an entry is an error naming it.
///
/// `conntrack -E` lines are events, not a table: they are replayed (an entry is its last
/// `[NEW]`/`[UPDATE]`, and is gone after `[DESTROY]`), so each flow is one entry.
pub fn parse(text: &str) -> Result<Vec<CtEntry>, LineError> {
    let mut out: Vec<CtEntry> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if is_noise(line) {
            continue;
        }
        if line.starts_with('<') {
            return Err(LineError {
                line: n + 1,
                detail: "XML (`conntrack -o xml`) is not read: save the table with `conntrack -L` (or cat /proc/net/nf_conntrack)".into(),
            });
        }
        match parse_event(line) {
            Ok((None, e)) => out.push(e),
            Ok((Some(ev), e)) => {
                let same = out
                    .iter()
                    .position(|x| x.orig == e.orig && x.zone == e.zone);
                match (ev, same) {
                    (Event::Destroy, Some(i)) => {
                        out.remove(i);
                    }
                    (Event::Destroy, None) => {}
                    (_, Some(i)) => out[i] = e,
                    (_, None) => out.push(e),
                }
            }
            Err(detail) => {
                return Err(LineError {
                    line: n + 1,
                    detail,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = include_str!("../../../tests/scenarios/conntrack/formats.txt");

    #[test]
    fn proc_line_with_dnat_and_masquerade() {
        let e = parse_line("ipv4     2 tcp      6 86397 ESTABLISHED src=192.168.1.50 dst=192.168.1.240 sport=51234 dport=80 src=10.244.2.7 dst=10.244.1.0 sport=8080 dport=41876 [ASSURED] mark=0 zone=0 use=2").unwrap();
        assert_eq!(e.family, 2);
        assert_eq!(e.timeout, Some(86397));
        assert_eq!(e.state(), Some("ESTABLISHED"));
        assert_eq!(
            e.dnat_to(),
            Some(("10.244.2.7".parse().unwrap(), Some(8080)))
        );
        assert_eq!(
            e.snat_to(),
            Some(("10.244.1.0".parse().unwrap(), Some(41876)))
        );
        assert_eq!(e.flags(), vec!["ASSURED", "SRC_NAT", "DST_NAT"]);
        assert_eq!((e.mark, e.zone, e.use_count), (Some(0), 0, Some(2)));
    }

    #[test]
    fn unreplied_udp_counters_icmp_and_ids() {
        let e = parse_line("udp      17 27 src=192.168.1.50 dst=192.168.1.243 sport=40001 dport=53 [UNREPLIED] src=10.244.2.9 dst=10.244.1.0 sport=53 dport=40001 mark=0 use=1").unwrap();
        assert_eq!(e.flags()[0], "UNREPLIED");
        assert_eq!(e.tcp_state, None);
        let e = parse_line("ipv4     2 tcp      6 86399 ESTABLISHED src=192.168.1.50 dst=192.168.1.240 sport=51238 dport=80 packets=6 bytes=412 src=10.244.1.12 dst=10.244.1.1 sport=8080 dport=30711 packets=4 bytes=1046 [ASSURED] mark=0 zone=0 use=2").unwrap();
        assert_eq!(
            e.counters_orig,
            Some(Counters {
                packets: 6,
                bytes: 412
            })
        );
        assert_eq!(
            e.counters_reply,
            Some(Counters {
                packets: 4,
                bytes: 1046
            })
        );
        let e = parse_line("ipv4     2 icmp     1 30 src=172.18.1.175 dst=8.8.8.8 type=8 code=0 id=56508 packets=2 bytes=168 src=8.8.8.8 dst=192.0.0.4 type=0 code=0 id=56508 packets=2 bytes=168 [ASSURED] mark=274 use=1 id=3735928559").unwrap();
        assert_eq!(e.orig.icmp, Some((8, 0, 56508)));
        assert_eq!(e.reply.icmp, Some((0, 0, 56508)));
        assert_eq!((e.mark, e.id), (Some(274), Some(3_735_928_559)));
        // Offloaded flows print no timeout.
        let e = parse_line("tcp      6 src=198.51.100.100 dst=192.0.2.100 sport=41676 dport=1122 src=192.0.2.100 dst=198.51.100.100 sport=1122 dport=41676 [OFFLOAD] mark=0 use=2").unwrap();
        assert_eq!((e.timeout, e.flags()), (None, vec!["OFFLOAD"]));
        let e = parse_line(" [UPDATE] tcp      6 60 SYN_RECV src=192.168.1.50 dst=192.168.1.240 sport=51234 dport=80 src=10.244.2.7 dst=10.244.1.0 sport=8080 dport=41876").unwrap();
        assert_eq!(e.state(), Some("SYN_RECV"));
        let e = parse_line("ipv6     10 tcp      6 431999 ESTABLISHED src=2001:db8::1 dst=2001:db8:100::f0 sport=40000 dport=80 src=fd00:10:244:1::5 dst=2001:db8::1 sport=8080 dport=40000 [ASSURED] mark=0 zone=0 use=2").unwrap();
        assert_eq!(e.family, 10);
    }

    /// Every entry line of the reference file (the kernel's /proc layout, conntrack -L, -E and
    /// real captures quoted from public material) parses; the one truncated line is refused.
    #[test]
    fn every_reference_line() {
        let mut ok = 0;
        for line in REFERENCE.lines().map(str::trim).filter(|l| !is_noise(l)) {
            match parse_line(line) {
                Ok(_) => ok += 1,
                Err(e) => assert!(line.contains("(line truncated"), "{line}: {e}"),
            }
        }
        assert!(ok >= 14, "{ok}");
    }

    /// Review: event lines are a history, not a table; timestamps and the -E summary.
    #[test]
    fn events_replay_into_one_entry_per_flow() {
        let text = "    [NEW] tcp      6 120 SYN_SENT src=192.168.1.50 dst=192.168.1.240 sport=51234 dport=80 [UNREPLIED] src=10.244.2.7 dst=10.244.1.0 sport=8080 dport=41876\n\
             [UPDATE] tcp      6 60 SYN_RECV src=192.168.1.50 dst=192.168.1.240 sport=51234 dport=80 src=10.244.2.7 dst=10.244.1.0 sport=8080 dport=41876\n\
             [1709546400.123456]\t [UPDATE] tcp      6 86400 ESTABLISHED src=192.168.1.50 dst=192.168.1.240 sport=51234 dport=80 src=10.244.2.7 dst=10.244.1.0 sport=8080 dport=41876 [ASSURED]\n\
                 [NEW] udp      17 30 src=192.168.1.50 dst=192.168.1.243 sport=40001 dport=53 [UNREPLIED] src=10.244.2.9 dst=10.244.1.0 sport=53 dport=40001\n\
             [DESTROY] udp      17 src=192.168.1.50 dst=192.168.1.243 sport=40001 dport=53 [UNREPLIED] src=10.244.2.9 dst=10.244.1.0 sport=53 dport=40001\n\
             conntrack v1.4.8 (conntrack-tools): 5 flow events have been shown.\n";
        let v = parse(text).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].state(), Some("ESTABLISHED"));
        // -o ktimestamp: bracketed times with spaces inside.
        let e = parse_line("tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED] mark=0 [start=Mon Mar  4 10:00:00 2024] [stop=Mon Mar  4 10:01:00 2024] delta-time=60 use=1").unwrap();
        assert_eq!(e.use_count, Some(1));
        let e = parse("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n").unwrap_err();
        assert!(e.detail.contains("XML"), "{e}");
    }

    #[test]
    fn what_is_not_an_entry_names_its_line() {
        let e = parse("# saved\nChain INPUT (policy ACCEPT)\n").unwrap_err();
        assert_eq!(e.line, 2);
        for bad in [
            "tcp 6 10 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2",
            "tcp 6 10 src=10.0.0.1 dst=10.0.0.2 sport=99999 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1",
            "tcp 6 src=10.0.0.1 dst=::1 sport=1 dport=2 src=::1 dst=10.0.0.1 sport=2 dport=1",
            "ipv6 10 tcp 6 10 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1",
            "src=10.0.0.1",
            "tcp",
            "tcp 6 99999999999 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
