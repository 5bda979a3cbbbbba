//! HTTP on TCP 80/8080: tcpdump's `txtproto_print` — the request or status line (all text
//! lines with `-v`) of segments that start with one.

use crate::field::{Res, u8_at};
use crate::print::Cx;

/// TCP ports tcpdump hands to its HTTP printer.
pub(crate) fn is_http_port(p: u16) -> bool {
    p == 80 || p == 8080
}

const METHODS: [&str; 38] = [
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UNLOCK",
    "REPORT",
    "UPDATE",
    "NOTIFY",
    "BDELETE",
    "CONNECT",
    "OPTIONS",
    "CHECKIN",
    "PROPFIND",
    "CHECKOUT",
    "CCM_POST",
    "SUBSCRIBE",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UNSUBSCRIBE",
    "RPC_CONNECT",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
];

const MAX_TOKEN: usize = 128;

fn printable(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// `fetch_token`: Some((index after token and blanks, token range)) or None.
fn fetch_token(p: &[u8], mut idx: usize, len: usize) -> Option<(usize, usize, usize)> {
    let start = idx;
    while idx < len {
        let c = *p.get(idx)?;
        if !c.is_ascii() {
            return None;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            break;
        }
        if !printable(c) || idx - start + 2 > MAX_TOKEN + 1 {
            return None;
        }
        idx += 1;
    }
    let end = idx;
    if end == start {
        return None;
    }
    while idx < len {
        let Some(&c) = p.get(idx) else { break };
        if c == b'\r' || c == b'\n' || !printable(c) || (c != b' ' && c != b'\t') {
            break;
        }
        idx += 1;
    }
    Some((idx, start, end))
}

/// `print_txt_line`: Ok(next index) or Ok(0) when the line is not printable text.
fn txt_line(cx: &mut Cx<'_>, prefix: &str, p: &[u8], mut idx: usize, len: usize) -> Res<usize> {
    let start = idx;
    while idx < len {
        let c = u8_at(p, idx)?;
        if c == b'\n' {
            print_line(cx, prefix, p, start, idx);
            return Ok(idx + 1);
        } else if c == b'\r' {
            if idx + 1 >= len {
                return Ok(0);
            }
            if u8_at(p, idx + 1)? == b'\n' {
                print_line(cx, prefix, p, start, idx);
                return Ok(idx + 2);
            }
            return Ok(0);
        } else if !printable(c) && c != b'\t' {
            return Ok(0);
        }
        idx += 1;
    }
    print_line(cx, prefix, p, start, idx);
    cx.trunc();
    Ok(0)
}

fn print_line(cx: &mut Cx<'_>, prefix: &str, p: &[u8], start: usize, end: usize) {
    cx.s(prefix);
    cx.out.extend_from_slice(p.get(start..end).unwrap_or(&[]));
}

/// `http_print`
pub(crate) fn print(cx: &mut Cx<'_>, p: &[u8], len: u32) -> Res {
    cx.proto = "http";
    let len = len as usize;
    let mut print_this = false;
    if let Some((idx, s, e)) = fetch_token(p, 0, len) {
        let tok = p.get(s..e).unwrap_or(&[]);
        // Methods are 3 to 16 letters (and dashes/underscores): most tokens are ruled out
        // before the table is searched.
        if (3..=16).contains(&tok.len())
            && tok[0].is_ascii_alphabetic()
            && METHODS
                .iter()
                .any(|m| m.as_bytes().eq_ignore_ascii_case(tok))
        {
            print_this = true;
        }
        if let Some((_, s2, e2)) = fetch_token(p, idx, len) {
            let t = p.get(s2..e2).unwrap_or(&[]);
            if t.len() == 3 && t.iter().all(u8::is_ascii_digit) {
                print_this = true;
            }
        }
    }
    cx.s("HTTP");
    if print_this {
        if cx.opts.verbose > 0 {
            cx.s(", length: ");
            cx.u(len);
            let mut idx = 0;
            while idx < len {
                let eol = txt_line(cx, "\n\t", p, idx, len)?;
                if eol == 0 {
                    break;
                }
                idx = eol;
            }
        } else {
            txt_line(cx, ": ", p, 0, len)?;
        }
    }
    Ok(())
}
