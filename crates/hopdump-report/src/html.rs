//! The HTML plumbing both pages share: escaping (every string from a report is untrusted), the
//! page shell with its inline stylesheet and Content-Security-Policy, and small formatters.

use std::fmt::Write as _;

/// Escape text for HTML element content and for double- or single-quoted attribute values.
/// C0 control characters other than tab and newline (packet bytes, rule comments) become
/// U+FFFD so the document stays well-formed.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `n` characters of `s`, with an ellipsis when cut (for SVG labels; the full text is
/// in the box's tooltip and in the tables).
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `2026-11-24 06:14:07 UTC` from milliseconds since the Unix epoch (no clock is read).
pub fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// The stylesheet of both pages. Colour classes: `hop-replies` (probes and replies seen),
/// `hop-probes` (probes in, no reply), `hop-nothing`, `hop-drops` (kernel drops here),
/// `hop-error` (not captured); stages use `st-ok`, `st-warn`, `st-fail`, `st-unknown`.
const CSS: &str = r#"
:root { --ok:#2e7d32; --okbg:#e3f4e6; --warn:#a15c00; --warnbg:#fff3d6; --fail:#c62828;
  --failbg:#fde4e2; --mute:#6b6b6b; --mutebg:#f1f1f1; --ink:#1d1d1f; --line:#d0d0d0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
  margin: 0; background: #fafafa; }
main { max-width: 1360px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: var(--mute); margin: 0 0 16px; }
.meta span { margin-right: 18px; }
code, pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
pre { background: #1e1e1e; color: #f3f3f3; padding: 8px 12px; border-radius: 6px; overflow-x: auto;
  margin: 6px 0; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { border-radius: 8px; padding: 14px 18px; margin: 12px 0 8px; border: 2px solid; }
.verdict-ok { background: var(--okbg); border-color: var(--ok); }
.verdict-fail { background: var(--failbg); border-color: var(--fail); }
.verdict .code { font: 700 20px ui-monospace, "DejaVu Sans Mono", monospace; }
.verdict .where { margin-left: 14px; color: var(--ink); }
.verdict .summary { font-size: 16px; margin-top: 6px; }
.diagram { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
.diagram svg { max-width: 100%; height: auto; display: block; margin: 0 auto; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 12px; fill: var(--ink); }
svg text.t { font-weight: 700; font-size: 12.5px; }
svg text.col { fill: var(--mute); font-size: 12px; font-weight: 600; text-transform: uppercase; }
svg .wire { stroke: #8a8a8a; stroke-width: 1.6; fill: none; }
svg rect.box { stroke-width: 2; }
.hop-replies rect.box, .st-ok rect.box { fill: var(--okbg); stroke: var(--ok); }
.hop-probes rect.box, .st-warn rect.box { fill: var(--warnbg); stroke: var(--warn); }
.hop-drops rect.box, .st-fail rect.box { fill: var(--failbg); stroke: var(--fail); }
.hop-nothing rect.box, .st-unknown rect.box { fill: var(--mutebg); stroke: #9e9e9e; }
.hop-error rect.box { fill: #fff; stroke: #9e9e9e; stroke-dasharray: 5 4; }
g.failing rect.box { stroke: #d50000; stroke-width: 5; }
svg text.dies { fill: #d50000; font-weight: 700; font-size: 13px; }
tr.hop-replies td:first-child, tr.st-ok td:first-child { border-left: 6px solid var(--ok); }
tr.hop-probes td:first-child, tr.st-warn td:first-child { border-left: 6px solid var(--warn); }
tr.hop-drops td:first-child, tr.st-fail td:first-child { border-left: 6px solid var(--fail); }
tr.hop-nothing td:first-child, tr.hop-error td:first-child, tr.st-unknown td:first-child { border-left: 6px solid #9e9e9e; }
tr.failing { outline: 3px solid #d50000; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; margin: 8px 4px 0; color: var(--mute); font-size: 12.5px; }
.sw { display: inline-block; width: 14px; height: 14px; border: 2px solid; border-radius: 3px;
  vertical-align: -2px; margin-right: 5px; }
.sw.hop-replies { background: var(--okbg); border-color: var(--ok); }
.sw.hop-probes { background: var(--warnbg); border-color: var(--warn); }
.sw.hop-drops { background: var(--failbg); border-color: var(--fail); }
.sw.hop-nothing { background: var(--mutebg); border-color: #9e9e9e; }
.sw.hop-error { background: #fff; border-color: #9e9e9e; border-style: dashed; }
.sw.failing { background: #fff; border-color: #d50000; border-width: 4px; }
ul.evidence { list-style: none; padding: 0; margin: 4px 0; }
ul.evidence li { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 3px 8px;
  margin: 3px 0; display: flex; gap: 8px; align-items: baseline; }
ul.evidence code { white-space: pre-wrap; word-break: break-all; }
.tag { font-size: 11px; text-transform: uppercase; border-radius: 3px; padding: 0 5px; color: #fff;
  background: #757575; flex: none; min-width: 68px; text-align: center; }
.ev-packet .tag { background: #1565c0; } .ev-rule .tag { background: #6a1b9a; }
.ev-conntrack .tag { background: #00838f; } .ev-drop .tag { background: var(--fail); }
.ev-hop .tag { background: #2e7d32; } .ev-probe .tag { background: #ef6c00; }
.ev-cluster .tag { background: #37474f; } .ev-missing .tag { background: #9e9e9e; }
.finding { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--warn);
  border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.status { font-weight: 700; }
.status.pass { color: var(--ok); } .status.fail { color: var(--fail); } .status.skip { color: var(--mute); }
.none { color: var(--mute); font-style: italic; }
footer { color: var(--mute); margin-top: 32px; font-size: 12px; }
"#;

/// The document up to and including `<main>`. The policy forbids every fetch, script, frame
/// and form: even a string that escaped escaping could not make the viewer load anything.
pub fn open(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"hopdump\">\n<title>{}</title>\n<style>{CSS}</style>\n\
         </head>\n<body>\n<main>\n",
        esc(title)
    );
}

/// Close what [`open`] opened, with a footer.
pub fn close(out: &mut String, footer: &str) {
    let _ = write!(
        out,
        "<footer>{}</footer>\n</main>\n</body>\n</html>\n",
        esc(footer)
    );
}

/// `<h2 id=…>title</h2>`; `id` is a constant of ours.
pub fn h2(out: &mut String, id: &str, title: &str) {
    let _ = writeln!(out, "<h2 id=\"{id}\">{}</h2>", esc(title));
}

/// A table head row from constant column names.
pub fn thead(out: &mut String, cols: &[&str]) {
    out.push_str("<table>\n<thead><tr>");
    for c in cols {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

pub fn tend(out: &mut String) {
    out.push_str("</tbody>\n</table>\n");
}

/// `<td>` with escaped text, or a muted dash when empty.
pub fn td(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("<td class=\"none\">–</td>");
    } else {
        let _ = write!(out, "<td>{}</td>", esc(s));
    }
}

/// A right-aligned number cell.
pub fn tdn(out: &mut String, n: impl std::fmt::Display) {
    let _ = write!(out, "<td class=\"n\">{n}</td>");
}

/// A `<td>` holding the text as code.
pub fn tdc(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("<td class=\"none\">–</td>");
    } else {
        let _ = write!(out, "<td><code>{}</code></td>", esc(s));
    }
}

/// A muted "none" paragraph.
pub fn none(out: &mut String, what: &str) {
    let _ = writeln!(out, "<p class=\"none\">{}</p>", esc(what));
}

/// Commands to copy, one `<pre><code>` each.
pub fn commands(out: &mut String, cmds: &[String]) {
    for c in cmds {
        let _ = writeln!(out, "<pre class=\"cmd\"><code>{}</code></pre>", esc(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("a\u{0}b\u{1b}[0m\tc\n"), "a\u{fffd}b\u{fffd}[0m\tc\n");
    }

    #[test]
    fn clips_on_char_boundaries() {
        assert_eq!(clip("node1/eth0", 24), "node1/eth0");
        assert_eq!(clip("ääääääääää", 4), "äää…");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
