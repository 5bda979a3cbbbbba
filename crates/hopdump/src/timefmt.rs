//! tcpdump's timestamp styles (-t … -ttttt), in local time, without allocating per packet.

/// Formats packet timestamps the way tcpdump does for a given -t count.
pub struct TimeFormat {
    style: u8,
    nano: bool,
    first: Option<u64>,
    prev: Option<u64>,
    /// Local-time cache: the second it is for and its "HH:MM:SS" / "YYYY-MM-DD HH:MM:SS".
    cached_sec: i64,
    cached: String,
}

impl TimeFormat {
    pub fn new(style: u8, nano: bool) -> TimeFormat {
        TimeFormat {
            style,
            nano,
            first: None,
            prev: None,
            cached_sec: i64::MIN,
            cached: String::new(),
        }
    }

    fn frac(&self, out: &mut Vec<u8>, ns: u64) {
        let (v, width) = if self.nano {
            (ns % 1_000_000_000, 9)
        } else {
            ((ns % 1_000_000_000) / 1000, 6)
        };
        let mut buf = itoa::Buffer::new();
        let s = buf.format(v);
        out.push(b'.');
        out.extend(std::iter::repeat_n(b'0', width - s.len()));
        out.extend_from_slice(s.as_bytes());
    }

    fn two(out: &mut Vec<u8>, v: u64) {
        out.push(b'0' + (v / 10 % 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    }

    fn delta(&self, out: &mut Vec<u8>, d: u64) {
        // tcpdump 4.99 prints deltas with a leading space.
        out.push(b' ');
        let secs = d / 1_000_000_000;
        Self::two(out, secs / 3600);
        out.push(b':');
        Self::two(out, secs / 60 % 60);
        out.push(b':');
        Self::two(out, secs % 60);
        self.frac(out, d);
    }

    fn local(&mut self, sec: i64, with_date: bool) -> &str {
        if sec != self.cached_sec {
            let t = sec as libc::time_t;
            // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            unsafe { libc::localtime_r(&t, &mut tm) };
            self.cached = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                tm.tm_year + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec
            );
            self.cached_sec = sec;
        }
        if with_date {
            &self.cached
        } else {
            &self.cached[11..]
        }
    }

    /// Append the timestamp and the space after it (nothing at all for -t).
    pub fn write(&mut self, out: &mut Vec<u8>, ts_ns: u64) {
        let sec = (ts_ns / 1_000_000_000) as i64;
        match self.style {
            0 | 4 => {
                let s = self.local(sec, self.style == 4);
                out.extend_from_slice(s.as_bytes());
                self.frac(out, ts_ns);
            }
            1 => return,
            2 => {
                let mut buf = itoa::Buffer::new();
                out.extend_from_slice(buf.format(sec).as_bytes());
                self.frac(out, ts_ns);
            }
            3 => {
                let d = self.prev.map_or(0, |p| ts_ns.saturating_sub(p));
                self.delta(out, d);
            }
            _ => {
                let first = *self.first.get_or_insert(ts_ns);
                self.delta(out, ts_ns.saturating_sub(first));
            }
        }
        self.prev = Some(ts_ns);
        out.push(b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(style: u8, nano: bool, ts: &[u64]) -> Vec<String> {
        let mut f = TimeFormat::new(style, nano);
        ts.iter()
            .map(|&t| {
                let mut v = Vec::new();
                f.write(&mut v, t);
                String::from_utf8(v).unwrap()
            })
            .collect()
    }

    #[test]
    fn tcpdump_styles() {
        let t = [1_700_000_000_123_456_789, 1_700_000_001_000_000_000];
        assert_eq!(fmt(1, false, &t), ["", ""]);
        assert_eq!(
            fmt(2, false, &t),
            ["1700000000.123456 ", "1700000001.000000 "]
        );
        assert_eq!(fmt(2, true, &t)[0], "1700000000.123456789 ");
        assert_eq!(
            fmt(3, false, &t),
            [" 00:00:00.000000 ", " 00:00:00.876543 "]
        );
        assert_eq!(fmt(5, false, &t)[1], " 00:00:00.876543 ");
    }
}
