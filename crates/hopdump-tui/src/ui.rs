//! Drawing: one pure function from [`App`] to a ratatui frame. No state of its own, so a
//! resize is just the next draw, and tests render into ratatui's `TestBackend`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::app::{App, HopState, Phase, finding_head};

/// Below this the view only says it needs more room.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;
/// From this width on the hop table shows every column.
pub const WIDE: u16 = 100;

/// Colours, or none at all.
struct Palette {
    mono: bool,
}

impl Palette {
    fn fg(&self, c: Color) -> Style {
        if self.mono {
            Style::new()
        } else {
            Style::new().fg(c)
        }
    }

    fn state(&self, s: HopState) -> Style {
        match s {
            HopState::Failing => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            HopState::Replies => self.fg(Color::Green),
            HopState::NoReply => self.fg(Color::Yellow),
            HopState::Nothing => self.fg(Color::DarkGray),
        }
    }
}

fn state_text(s: HopState) -> &'static str {
    match s {
        HopState::Failing => "✘ dies here",
        HopState::Replies => "✔ replies",
        HopState::NoReply => "… no reply",
        HopState::Nothing => "· nothing",
    }
}

/// Draw the whole view.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let pal = Palette {
        mono: app.opts.monochrome,
    };
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small ({}x{}); hopdump needs {MIN_WIDTH}x{MIN_HEIGHT} — q quits",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let hop_rows = u16::try_from(app.hops.len().max(1)).unwrap_or(u16::MAX);
    let hops_h = hop_rows.saturating_add(3).min((area.height * 2 / 5).max(5));
    let drops_h = u16::try_from(app.drops.len().clamp(1, 5)).unwrap_or(5) + 2;
    let notes_h = u16::try_from(app.notes.len().clamp(1, 3)).unwrap_or(3) + 2;

    let mut cs = vec![Constraint::Length(1), Constraint::Length(hops_h)];
    if app.expanded {
        cs.push(Constraint::Fill(3));
    }
    cs.push(Constraint::Length(drops_h));
    let verdict_text = verdict_lines(app, &pal);
    if app.verdict.is_some() {
        // As tall as its (wrapped) text; the log takes what is left.
        let inner = usize::from(area.width.saturating_sub(2)).max(1);
        let rows: usize = verdict_text
            .iter()
            .map(|l| l.width().max(1).div_ceil(inner))
            .sum();
        let mut tall = u16::try_from(rows + 2).unwrap_or(u16::MAX);
        if app.expanded {
            // The expanded hop comes first; the verdict keeps a few lines (it scrolls).
            tall = tall.min((area.height / 5).max(3));
        }
        cs.push(Constraint::Max(tall));
        cs.push(Constraint::Min(notes_h));
    } else {
        cs.push(Constraint::Fill(1));
    }
    cs.push(Constraint::Length(1));
    let parts = Layout::vertical(cs).split(area);
    let mut at = parts.iter().copied();
    let mut next = || at.next().unwrap_or_default();

    title(f, app, &pal, next());
    hops(f, app, &pal, next());
    if app.expanded {
        detail(f, app, &pal, next());
    }
    drops(f, app, &pal, next());
    if app.verdict.is_some() {
        verdict(f, app, &pal, verdict_text, next());
    }
    notes(f, app, next());
    footer(f, app, next());
}

fn status(app: &App) -> String {
    match app.phase {
        Phase::Starting => "planning…".into(),
        Phase::Planned => "arming captures…".into(),
        Phase::Capturing { since_ms, until_ms } if app.now_ms < until_ms => format!(
            "capturing {:.1} s / {:.1} s",
            secs(app.now_ms.saturating_sub(since_ms)),
            secs(until_ms.saturating_sub(since_ms))
        ),
        Phase::Capturing { .. } => "collecting evidence…".into(),
        Phase::Done => match &app.verdict {
            Some(r) => format!("verdict: {}", r.verdict.code),
            None => "done".into(),
        },
        Phase::Ended => "ended without a verdict".into(),
    }
}

fn secs(ms: u64) -> f64 {
    // Display only; a window is seconds long, far inside f64's exact integers.
    ms as f64 / 1000.0
}

fn title(f: &mut Frame, app: &App, pal: &Palette, r: Rect) {
    let status = status(app);
    let sw = u16::try_from(status.chars().count() + 1).unwrap_or(r.width);
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(sw)]).areas(r);
    let name = if app.title.is_empty() {
        "hopdump trace".to_string()
    } else {
        format!("hopdump trace {}", app.title)
    };
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(
            name,
            Style::new().add_modifier(Modifier::BOLD),
        ))),
        left,
    );
    let st = match app.phase {
        Phase::Done if verdict_failed(app) => pal.fg(Color::Red),
        Phase::Done => pal.fg(Color::Green),
        Phase::Ended => pal.fg(Color::Yellow),
        _ => pal.fg(Color::Cyan),
    };
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(status, st)).right_aligned()),
        right,
    );
}

fn verdict_failed(app: &App) -> bool {
    app.verdict.as_ref().is_some_and(|r| r.verdict.code != "ok")
}

fn hops(f: &mut Frame, app: &App, pal: &Palette, r: Rect) {
    let wide = r.width >= WIDE;
    let head: &[&str] = if wide {
        &[
            "#",
            "hop",
            "role",
            "probes in",
            "large",
            "replies",
            "rst",
            "icmp",
            "drops",
            "state",
        ]
    } else {
        &["#", "hop", "probes in", "replies", "drops", "state"]
    };
    let name_w = app
        .hops
        .iter()
        .map(|h| h.info.name().chars().count())
        .max()
        .map_or(12, |w| u16::try_from(w).unwrap_or(u16::MAX));
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(3),
            Constraint::Length(name_w.max(24)),
            Constraint::Length(13),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(14),
        ]
    } else {
        vec![
            Constraint::Length(3),
            Constraint::Min(name_w.min(r.width.saturating_sub(48)).max(12)),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(14),
        ]
    };
    let rows: Vec<Row> = app
        .hops
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let st = app.hop_state(i);
            let c = &h.counts;
            let drops = Cell::from(num(h.drops)).style(if h.drops > 0 {
                pal.fg(Color::Red)
            } else {
                Style::new()
            });
            let mut cells = vec![Cell::from((i + 1).to_string()), Cell::from(h.info.name())];
            if wide {
                cells.push(Cell::from(h.info.role.clone()));
            }
            cells.push(Cell::from(num(c.forward)));
            if wide {
                cells.push(Cell::from(num(c.forward_large)));
            }
            cells.push(Cell::from(num(c.replies)));
            if wide {
                cells.push(Cell::from(num(c.rst)));
                cells.push(Cell::from(num(c.icmp)));
            }
            cells.push(drops);
            cells.push(Cell::from(match (st, &h.error) {
                (HopState::Nothing, Some(_)) => "· not captured",
                _ => state_text(st),
            }));
            Row::new(cells).style(pal.state(st))
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(rows, widths)
        .header(Row::new(head.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(" Hops (path order) "))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!empty).then_some(app.selected));
    f.render_stateful_widget(table, r, &mut state);
}

fn num(n: u64) -> Text<'static> {
    Text::from(n.to_string()).right_aligned()
}

fn detail(f: &mut Frame, app: &App, pal: &Palette, r: Rect) {
    let i = app.selected;
    let Some(h) = app.hops.get(i) else {
        return;
    };
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let block = Block::bordered().title(format!(" {} — {} ", h.info.name(), h.info.role));
    let inner = block.inner(r);
    f.render_widget(block, r);

    // Counters, capture error and this hop's drops; then the newest packets that fit; then
    // the evidence (wrapped, scrolled with PgUp/PgDn).
    let c = &h.counts;
    let mut head: Vec<Line> = vec![Line::from(format!(
        "probes in {} (large {}) · replies {} · rst {} · icmp {} · kernel drops {}",
        c.forward, c.forward_large, c.replies, c.rst, c.icmp, h.drops
    ))];
    if let Some(e) = &h.error {
        head.push(Line::styled(
            format!("capture failed: {e}"),
            pal.fg(Color::Red),
        ));
    }
    for d in app.hop_drops(i) {
        head.push(Line::styled(
            format!("kernel drop: {} at {} ×{}", d.reason, d.location, d.count),
            pal.fg(Color::Red),
        ));
    }
    let head_h = u16::try_from(head.len()).unwrap_or(u16::MAX);
    let [head_r, packets_r, evidence_r] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(head), head_r);

    let fit = usize::from(packets_r.height.saturating_sub(1));
    let mut packets = vec![if h.packets.is_empty() {
        Line::styled("packets: none yet", pal.fg(Color::DarkGray))
    } else {
        Line::styled(
            format!(
                "packets ({} seen, last {} kept):",
                h.packets_seen,
                h.packets.len()
            ),
            bold,
        )
    }];
    let skip = h.packets.len().saturating_sub(fit);
    packets.extend(
        h.packets
            .iter()
            .skip(skip)
            .map(|p| Line::from(format!("  {p}"))),
    );
    f.render_widget(Paragraph::new(packets), packets_r);

    let evidence = app.hop_evidence(i);
    let mut lines: Vec<Line> = Vec::new();
    if app.verdict.is_none() {
        lines.push(Line::styled(
            "evidence: with the verdict",
            pal.fg(Color::DarkGray),
        ));
    } else if evidence.is_empty() {
        lines.push(Line::from("evidence: nothing in the report names this hop"));
    } else {
        lines.push(Line::styled("evidence:", bold));
        lines.extend(evidence.into_iter().map(|e| Line::from(format!("  {e}"))));
    }
    let scroll = clamp_scroll(app.scroll, lines.len());
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        evidence_r,
    );
}

fn clamp_scroll(scroll: u16, lines: usize) -> u16 {
    scroll.min(u16::try_from(lines.saturating_sub(1)).unwrap_or(u16::MAX))
}

fn drops(f: &mut Frame, app: &App, pal: &Palette, r: Rect) {
    let fit = usize::from(r.height.saturating_sub(2));
    let lines: Vec<Line> = if app.drops.is_empty() {
        vec![Line::styled(
            if app.phase == Phase::Done {
                "none"
            } else {
                "none yet"
            },
            pal.fg(Color::DarkGray),
        )]
    } else {
        let skip = app.drops.len().saturating_sub(fit);
        app.drops
            .iter()
            .skip(skip)
            .map(|d| {
                let place = match &d.iface {
                    Some(i) => format!("{}/{i}", d.node),
                    None => d.node.clone(),
                };
                Line::from(vec![
                    Span::raw(format!("{place:<24} ")),
                    Span::styled(format!("{:<22}", d.reason), pal.fg(Color::Red)),
                    Span::raw(format!(" ×{:<5} {}", d.count, d.location)),
                ])
            })
            .collect()
    };
    let block = Block::bordered().title(format!(" Kernel drops ({}) ", app.drops_total));
    f.render_widget(Paragraph::new(lines).block(block), r);
}

fn verdict_lines(app: &App, pal: &Palette) -> Vec<Line<'static>> {
    let Some(rep) = &app.verdict else {
        return Vec::new();
    };
    let v = &rep.verdict;
    let ok = v.code == "ok";
    let colour = if ok { Color::Green } else { Color::Red };
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![Line::styled(
        format!("{} {}", if ok { "✔" } else { "✘" }, finding_head(v)),
        pal.fg(colour).add_modifier(Modifier::BOLD),
    )];
    if !v.evidence.is_empty() {
        lines.push(Line::styled("evidence:", bold));
        lines.extend(v.evidence.iter().map(|e| Line::from(format!("  {e}"))));
    }
    if !v.next_steps.is_empty() {
        lines.push(Line::styled("next:", bold));
        lines.extend(v.next_steps.iter().map(|n| Line::from(format!("  {n}"))));
    }
    for fd in &rep.findings {
        lines.push(Line::styled(
            format!("also: {}", finding_head(fd)),
            pal.fg(Color::Yellow),
        ));
        lines.extend(fd.evidence.iter().map(|e| Line::from(format!("  {e}"))));
    }
    for m in &rep.missing {
        lines.push(Line::styled(
            format!("not observed: {m}"),
            pal.fg(Color::DarkGray),
        ));
    }
    lines
}

fn verdict(f: &mut Frame, app: &App, pal: &Palette, lines: Vec<Line<'static>>, r: Rect) {
    let Some(rep) = &app.verdict else {
        return;
    };
    let colour = if rep.verdict.code == "ok" {
        Color::Green
    } else {
        Color::Red
    };
    let scroll = if app.expanded {
        0
    } else {
        clamp_scroll(app.scroll, lines.len())
    };
    let block = Block::bordered()
        .title(format!(" Verdict ({} ms) ", rep.duration_ms))
        .border_style(pal.fg(colour));
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        r,
    );
}

fn notes(f: &mut Frame, app: &App, r: Rect) {
    let fit = usize::from(r.height.saturating_sub(2));
    let skip = app.notes.len().saturating_sub(fit);
    let lines: Vec<Line> = app
        .notes
        .iter()
        .skip(skip)
        .map(|n| Line::from(n.as_str()))
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Log ")),
        r,
    );
}

fn footer(f: &mut Frame, app: &App, r: Rect) {
    let keys = "↑↓ hop · Enter expand · PgUp/PgDn scroll · q quit";
    let text = match app.phase {
        Phase::Done => format!("trace finished — press q to quit · {keys}"),
        Phase::Ended => format!("trace ended — press q to quit · {keys}"),
        _ => keys.to_string(),
    };
    f.render_widget(
        Paragraph::new(Line::styled(text, Style::new().add_modifier(Modifier::DIM))),
        r,
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::app::TuiOptions;
    use crate::app::tests::{planned, report};
    use crate::event::{HopCounters, TuiEvent};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    fn render(app: &App, w: u16, h: u16) -> Buffer {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, app)).unwrap();
        t.backend().buffer().clone()
    }

    fn text(b: &Buffer) -> Vec<String> {
        (0..b.area.height)
            .map(|y| {
                (0..b.area.width)
                    .map(|x| b[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect()
    }

    fn row_of(lines: &[String], needle: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", lines.join("\n")))
    }

    fn fg_at(b: &Buffer, lines: &[String], needle: &str) -> Color {
        let y = row_of(lines, needle);
        let byte = lines[y].find(needle).unwrap();
        let x = lines[y][..byte].chars().count();
        b[(u16::try_from(x).unwrap(), u16::try_from(y).unwrap())].fg
    }

    fn live() -> App {
        let mut a = App::new(TuiOptions::default());
        a.apply(planned());
        a.tick(500);
        a.apply(TuiEvent::Armed { window_ms: 3000 });
        a.apply(TuiEvent::Counts {
            hop: 0,
            counts: HopCounters {
                forward: 6,
                replies: 6,
                ..Default::default()
            },
        });
        a.apply(TuiEvent::Counts {
            hop: 1,
            counts: HopCounters {
                forward: 4,
                ..Default::default()
            },
        });
        a.apply(TuiEvent::Drop {
            node: "node1".into(),
            iface: Some("eth0".into()),
            reason: "NETFILTER_DROP".into(),
            location: "nf_hook_slow+0x9f".into(),
            count: 2,
        });
        a.apply(TuiEvent::Packet {
            hop: 1,
            line: "IP 198.51.100.10.41234 > 198.51.100.240.80: Flags [S]".into(),
        });
        a.apply(TuiEvent::Note("probes: sent 6 TCP SYN".into()));
        a.tick(1700);
        a
    }

    #[test]
    fn live_view_shows_hops_in_order_counters_drops_and_progress() {
        let a = live();
        let b = render(&a, 120, 40);
        let l = text(&b);
        let rows: Vec<usize> = [
            "client/eth0",
            "node1/eth0",
            "node1/cni0",
            "node1/pod-10.244.1.2:eth0",
        ]
        .iter()
        .map(|h| row_of(&l, h))
        .collect();
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
        assert!(l[0].contains("hopdump trace 198.51.100.240:80/tcp"));
        assert!(l[0].contains("capturing 1.2 s / 3.0 s"), "{}", l[0]);
        assert!(l[row_of(&l, "node1/eth0")].contains("… no reply"));
        assert!(l[row_of(&l, "client/eth0")].contains("✔ replies"));
        assert!(l[row_of(&l, "NETFILTER_DROP")].contains("×2"));
        assert!(l.iter().any(|s| s.contains("probes: sent 6 TCP SYN")));
        assert!(l.iter().any(|s| s.contains("Kernel drops (2)")));
        assert_eq!(fg_at(&b, &l, "client/eth0"), Color::Green);
        assert_eq!(fg_at(&b, &l, "node1/eth0  "), Color::Yellow);
        assert_eq!(fg_at(&b, &l, "node1/cni0"), Color::DarkGray);
        // Every column at 120: role and icmp are there.
        let head = &l[row_of(&l, "probes in")];
        assert!(head.contains("role") && head.contains("icmp"), "{head}");
        assert!(!l.iter().any(|s| s.contains("Verdict")));
    }

    #[test]
    fn verdict_panel_and_the_failing_hop_in_red() {
        let mut a = live();
        a.apply(TuiEvent::Verdict(report(
            "firewall_drop",
            Some("node1"),
            Some("node1/eth0"),
        )));
        let b = render(&a, 120, 40);
        let l = text(&b);
        assert!(l[0].contains("verdict: firewall_drop"), "{}", l[0]);
        let v = row_of(&l, "✘ firewall_drop on node1 at node1/eth0");
        assert!(v > row_of(&l, "Kernel drops"));
        assert!(l.iter().any(|s| s.contains("FORWARD rule 1")));
        assert!(l.iter().any(|s| s.contains("also: mtu_mismatch")));
        assert!(l[row_of(&l, "node1/eth0  ")].contains("✘ dies here"));
        assert_eq!(fg_at(&b, &l, "node1/eth0  "), Color::Red);
        assert!(l.last().unwrap().contains("press q to quit"));
    }

    #[test]
    fn expanding_a_hop_shows_its_packets_drops_and_evidence() {
        let mut a = live();
        a.apply(TuiEvent::Verdict(report(
            "firewall_drop",
            Some("node1"),
            Some("node1/eth0"),
        )));
        a.on_key(crate::Key::Down);
        a.on_key(crate::Key::Enter);
        let l = text(&render(&a, 120, 40));
        let top = row_of(&l, "node1/eth0 — uplink");
        assert!(l[row_of(&l, "▶")].contains("node1/eth0"));
        assert!(row_of(&l, "packets (1 seen, last 1 kept)") > top);
        assert!(l.iter().any(|s| s.contains("Flags [S]")));
        assert!(
            l.iter()
                .any(|s| s.contains("NETFILTER_DROP at nf_hook_slow+0x9f ×2"))
        );
        assert!(row_of(&l, "  firewall_drop on node1 at node1/eth0") > top);
    }

    #[test]
    fn pgdn_scrolls_the_verdict_and_a_hop_that_could_not_be_captured_says_so() {
        let mut a = live();
        let mut r = report("firewall_drop", Some("node1"), Some("node1/eth0"));
        r.hops[3].error = Some("no such interface".into());
        a.apply(TuiEvent::Verdict(r));
        let l = text(&render(&a, 120, 40));
        assert!(l[row_of(&l, "node1/pod-10.244.1.2:eth0")].contains("· not captured"));
        let top = row_of(&l, "Verdict (");
        assert!(l[top + 1].contains("✘ firewall_drop"));
        a.on_key(crate::Key::PageDown);
        let l = text(&render(&a, 120, 40));
        let top = row_of(&l, "Verdict (");
        assert!(!l[top + 1].contains("✘ firewall_drop"), "{}", l[top + 1]);
        // The pod hop's detail names the capture error.
        a.on_key(crate::Key::End);
        a.on_key(crate::Key::Enter);
        let l = text(&render(&a, 120, 40));
        assert!(
            l.iter()
                .any(|s| s.contains("capture failed: no such interface"))
        );
    }

    #[test]
    fn narrow_terminals_drop_columns_and_tiny_ones_say_so() {
        let a = live();
        let l = text(&render(&a, 80, 30));
        let head = &l[row_of(&l, "probes in")];
        assert!(!head.contains("role") && !head.contains("icmp"), "{head}");
        assert!(l[row_of(&l, "node1/eth0")].contains("no reply"));
        let l = text(&render(&a, 30, 8));
        assert!(l.join("").contains("terminal too small (30x8)"));
    }

    #[test]
    fn monochrome_keeps_the_words() {
        let mut a = live();
        a.opts.monochrome = true;
        let b = render(&a, 120, 40);
        let l = text(&b);
        assert_eq!(fg_at(&b, &l, "client/eth0"), Color::Reset);
        assert!(l[row_of(&l, "client/eth0")].contains("✔ replies"));
    }

    #[test]
    fn nothing_yet_draws_without_panicking_at_any_size() {
        let a = App::new(TuiOptions::default());
        for (w, h) in [(1, 1), (40, 12), (200, 60), (MIN_WIDTH, 3)] {
            render(&a, w, h);
        }
        let mut b = live();
        b.expanded = true;
        b.scroll = u16::MAX;
        for (w, h) in [(40, 12), (41, 13), (300, 100)] {
            render(&b, w, h);
        }
    }
}
