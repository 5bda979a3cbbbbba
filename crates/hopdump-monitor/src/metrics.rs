//! The metrics registry of `hopdump monitor` and its Prometheus text exposition (format
//! 0.0.4), plus a strict parser of that format used by the tests to read it back. Pure.

use std::fmt::Write as _;
use std::time::Duration;

use crate::state::Health;

/// Upper bounds of `hopdump_probe_duration_seconds` (seconds).
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of [`Registry::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone)]
struct Series {
    target: String,
    kind: &'static str,
    probes: u64,
    failures: u64,
    last_ok: Option<bool>,
    health: Health,
    consecutive_failures: u32,
    /// Cumulative counts per bucket of [`BUCKETS`].
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
    http_status: Option<u16>,
}

/// Counters and gauges per target, plus the webhook's own counters.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    series: Vec<Series>,
    rounds: u64,
    alerts_down: u64,
    alerts_up: u64,
    webhook_failures: u64,
}

impl Registry {
    /// One series per target, in order: (`target` label, `kind` label).
    pub fn new<I: IntoIterator<Item = (String, &'static str)>>(targets: I) -> Registry {
        Registry {
            series: targets
                .into_iter()
                .map(|(target, kind)| Series {
                    target,
                    kind,
                    probes: 0,
                    failures: 0,
                    last_ok: None,
                    health: Health::Unknown,
                    consecutive_failures: 0,
                    buckets: [0; BUCKETS.len()],
                    sum: 0.0,
                    count: 0,
                    http_status: None,
                })
                .collect(),
            ..Registry::default()
        }
    }

    /// Record probe `idx`'s result. The duration histogram counts successful probes only (a
    /// failure's duration is mostly the timeout).
    pub fn record(
        &mut self,
        idx: usize,
        ok: bool,
        latency: Duration,
        http_status: Option<u16>,
        health: Health,
        consecutive_failures: u32,
    ) {
        let Some(s) = self.series.get_mut(idx) else {
            return;
        };
        s.probes += 1;
        s.last_ok = Some(ok);
        s.health = health;
        s.consecutive_failures = consecutive_failures;
        if http_status.is_some() {
            s.http_status = http_status;
        }
        if ok {
            let secs = latency.as_secs_f64();
            for (b, le) in s.buckets.iter_mut().zip(BUCKETS) {
                if secs <= le {
                    *b += 1;
                }
            }
            s.sum += secs;
            s.count += 1;
        } else {
            s.failures += 1;
        }
    }

    /// One probe round finished.
    pub fn round(&mut self) {
        self.rounds += 1;
    }

    /// An alert was raised (`down` true) or cleared; `delivered` false if the webhook failed.
    pub fn alert(&mut self, down: bool, delivered: bool) {
        if down {
            self.alerts_down += 1;
        } else {
            self.alerts_up += 1;
        }
        if !delivered {
            self.webhook_failures += 1;
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(512 + self.series.len() * 2048);
        let gauge = |o: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        gauge(
            &mut o,
            "hopdump_probe_success",
            "Whether the last probe of the target succeeded (1) or failed (0).",
            "gauge",
        );
        for s in &self.series {
            if let Some(ok) = s.last_ok {
                let _ = writeln!(o, "hopdump_probe_success{} {}", labels(s, None), ok as u8);
            }
        }
        gauge(
            &mut o,
            "hopdump_target_up",
            "Whether the target is up (1) or down or not yet known (0), after hysteresis.",
            "gauge",
        );
        for s in &self.series {
            let up = (s.health == Health::Up) as u8;
            let _ = writeln!(o, "hopdump_target_up{} {up}", labels(s, None));
        }
        gauge(
            &mut o,
            "hopdump_target_consecutive_failures",
            "Failed probes in a row.",
            "gauge",
        );
        for s in &self.series {
            let _ = writeln!(
                o,
                "hopdump_target_consecutive_failures{} {}",
                labels(s, None),
                s.consecutive_failures
            );
        }
        gauge(&mut o, "hopdump_probes_total", "Probes sent.", "counter");
        for s in &self.series {
            let _ = writeln!(o, "hopdump_probes_total{} {}", labels(s, None), s.probes);
        }
        gauge(
            &mut o,
            "hopdump_probe_failures_total",
            "Probes that failed.",
            "counter",
        );
        for s in &self.series {
            let _ = writeln!(
                o,
                "hopdump_probe_failures_total{} {}",
                labels(s, None),
                s.failures
            );
        }
        gauge(
            &mut o,
            "hopdump_probe_duration_seconds",
            "Duration of successful probes (connect, reply, or response headers).",
            "histogram",
        );
        for s in &self.series {
            for (le, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    o,
                    "hopdump_probe_duration_seconds_bucket{} {n}",
                    labels(s, Some(&le.to_string()))
                );
            }
            let l = labels(s, None);
            let _ = writeln!(
                o,
                "hopdump_probe_duration_seconds_bucket{} {}\n\
                 hopdump_probe_duration_seconds_sum{l} {}\n\
                 hopdump_probe_duration_seconds_count{l} {}",
                labels(s, Some("+Inf")),
                s.count,
                s.sum,
                s.count
            );
        }
        gauge(
            &mut o,
            "hopdump_probe_http_status",
            "Status code of the last HTTP response.",
            "gauge",
        );
        for s in &self.series {
            if let Some(code) = s.http_status {
                let _ = writeln!(o, "hopdump_probe_http_status{} {code}", labels(s, None));
            }
        }
        gauge(
            &mut o,
            "hopdump_rounds_total",
            "Probe rounds run.",
            "counter",
        );
        let _ = writeln!(o, "hopdump_rounds_total {}", self.rounds);
        gauge(
            &mut o,
            "hopdump_alerts_total",
            "Alerts raised (state=down) and cleared (state=up).",
            "counter",
        );
        let _ = writeln!(
            o,
            "hopdump_alerts_total{{state=\"down\"}} {}",
            self.alerts_down
        );
        let _ = writeln!(o, "hopdump_alerts_total{{state=\"up\"}} {}", self.alerts_up);
        gauge(
            &mut o,
            "hopdump_webhook_failures_total",
            "Alerts the webhook did not accept (error or non-2xx).",
            "counter",
        );
        let _ = writeln!(
            o,
            "hopdump_webhook_failures_total {}",
            self.webhook_failures
        );
        o
    }
}

fn labels(s: &Series, le: Option<&str>) -> String {
    let mut l = format!(
        "{{target=\"{}\",kind=\"{}\"",
        escape(&s.target),
        escape(s.kind)
    );
    if let Some(le) = le {
        let _ = write!(l, ",le=\"{le}\"");
    }
    l.push('}');
    l
}

/// Label value escaping of the text format: `\` `"` and newline.
fn escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// One sample read back from an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `k`.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Parse a text exposition strictly: every sample belongs to a family declared by a `# TYPE`
/// line before it (histograms own `_bucket`, `_sum`, `_count`), names and labels are
/// well-formed, values are numbers. Errors name the line.
pub fn parse(text: &str) -> std::result::Result<Vec<Sample>, String> {
    let mut types: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |why: &str| format!("line {}: {why}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(t)) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(err("unknown type"));
                    }
                    if types.iter().any(|(n, _)| n == name) {
                        return Err(err("second TYPE for a family"));
                    }
                    types.push((name.to_string(), t.to_string()));
                }
                (Some("HELP"), Some(_), _) => {}
                _ => return Err(err("comment is neither HELP nor TYPE")),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| err("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| err("value is not a number"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').ok_or_else(|| err("unclosed labels"))?;
                (n, parse_labels(l).map_err(|w| err(&w))?)
            }
            None => (series, Vec::new()),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        };
        if !valid(name) {
            return Err(err("bad metric name"));
        }
        let family = types.iter().find(|(n, t)| {
            n == name
                || (t == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|sfx| name.strip_suffix(sfx) == Some(n.as_str())))
        });
        match family {
            None => return Err(err("sample before its TYPE")),
            Some((n, t))
                if t == "histogram"
                    && name == format!("{n}_bucket")
                    && !labels.iter().any(|(k, _)| k == "le") =>
            {
                return Err(err("bucket without le"));
            }
            _ => {}
        }
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

fn parse_labels(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            if chars.peek().is_none() && out.is_empty() {
                return Ok(out);
            }
            return Err("empty label name".into());
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("label {key}: expected =\""));
        }
        let mut val = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => val.push('\\'),
                    Some('"') => val.push('"'),
                    Some('n') => val.push('\n'),
                    _ => return Err(format!("label {key}: bad escape")),
                },
                Some('"') => break,
                Some(c) => val.push(c),
                None => return Err(format!("label {key}: unterminated value")),
            }
        }
        out.push((key, val));
        match chars.next() {
            None => return Ok(out),
            Some(',') if chars.peek().is_none() => return Ok(out),
            Some(',') => {}
            Some(c) => return Err(format!("unexpected {c:?} after a label")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn find<'a>(s: &'a [Sample], name: &str, target: &str) -> Vec<&'a Sample> {
        s.iter()
            .filter(|x| x.name == name && x.label("target") == Some(target))
            .collect()
    }

    #[test]
    fn renders_and_parses_back() {
        let mut r = Registry::new([
            ("http://198.51.100.240:80/".to_string(), "http"),
            ("udp://[2001:db8::1]:53".to_string(), "udp"),
        ]);
        r.record(0, true, Duration::from_millis(3), Some(200), Health::Up, 0);
        r.record(0, true, Duration::from_millis(30), Some(200), Health::Up, 0);
        r.record(1, false, Duration::from_secs(2), None, Health::Unknown, 1);
        r.round();
        r.alert(true, false);
        let text = r.render();
        let s = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let h = "http://198.51.100.240:80/";
        let u = "udp://[2001:db8::1]:53";
        assert_eq!(find(&s, "hopdump_probe_success", h)[0].value, 1.0);
        assert_eq!(find(&s, "hopdump_probe_success", u)[0].value, 0.0);
        assert_eq!(
            find(&s, "hopdump_probe_success", u)[0].label("kind"),
            Some("udp")
        );
        assert_eq!(find(&s, "hopdump_target_up", h)[0].value, 1.0);
        assert_eq!(find(&s, "hopdump_target_up", u)[0].value, 0.0);
        assert_eq!(find(&s, "hopdump_probes_total", h)[0].value, 2.0);
        assert_eq!(find(&s, "hopdump_probe_failures_total", u)[0].value, 1.0);
        assert_eq!(find(&s, "hopdump_probe_http_status", h)[0].value, 200.0);
        assert!(find(&s, "hopdump_probe_http_status", u).is_empty());
        // Histogram: cumulative buckets, +Inf = count, sum of the two latencies.
        let b = find(&s, "hopdump_probe_duration_seconds_bucket", h);
        assert_eq!(b.len(), BUCKETS.len() + 1);
        let at = |le: &str| b.iter().find(|x| x.label("le") == Some(le)).unwrap().value;
        assert_eq!(
            (at("0.001"), at("0.005"), at("0.05"), at("+Inf")),
            (0.0, 1.0, 2.0, 2.0)
        );
        assert!(b.windows(2).all(|w| w[0].value <= w[1].value), "cumulative");
        assert_eq!(
            find(&s, "hopdump_probe_duration_seconds_count", h)[0].value,
            2.0
        );
        let sum = find(&s, "hopdump_probe_duration_seconds_sum", h)[0].value;
        assert!((sum - 0.033).abs() < 1e-9, "{sum}");
        assert_eq!(
            find(&s, "hopdump_probe_duration_seconds_count", u)[0].value,
            0.0
        );
        let down = s
            .iter()
            .find(|x| x.name == "hopdump_alerts_total" && x.label("state") == Some("down"))
            .unwrap();
        assert_eq!(down.value, 1.0);
        let wf = s
            .iter()
            .find(|x| x.name == "hopdump_webhook_failures_total")
            .unwrap();
        assert_eq!(wf.value, 1.0);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut r = Registry::new([("http://192.0.2.1:80/a\"b\\c\nd".to_string(), "http")]);
        r.record(0, true, Duration::from_millis(1), None, Health::Up, 0);
        let s = parse(&r.render()).unwrap();
        let up = s.iter().find(|x| x.name == "hopdump_target_up").unwrap();
        assert_eq!(up.label("target"), Some("http://192.0.2.1:80/a\"b\\c\nd"));
    }

    #[test]
    fn the_parser_is_strict() {
        for bad in [
            "x 1",
            "# TYPE x gauge\nx{a=\"1} 1",
            "# TYPE x gauge\nx{a=1} 1",
            "# TYPE x gauge\nx one",
            "# TYPE h histogram\nh_bucket 1",
            "# TYPE x gauge\n# TYPE x gauge",
            "# nonsense",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("# TYPE x gauge\nx{} 1\n").unwrap()[0].value, 1.0);
    }
}
