//! The view's state: an [`App`] changed only by [`TuiEvent`]s, keys and the time passed in.
//! Pure (no terminal, no clock, no I/O), so every screen can be reproduced in a unit test.

use std::collections::VecDeque;

use hopdump_engine::TraceReport;
use hopdump_engine::report::JsonFinding;

use crate::event::{HopCounters, HopInfo, TuiEvent};

/// Limits of what the view keeps; everything older is dropped (counted, not stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TuiOptions {
    /// Packet lines kept per hop for the expanded view (a ring: the newest win).
    pub packets_per_hop: usize,
    /// Distinct kernel drop lines kept (node, iface, reason, location).
    pub max_drops: usize,
    /// Notes kept.
    pub max_notes: usize,
    /// Draw without colours (the state column says it in words). [`crate::run`] also turns
    /// colours off when `NO_COLOR` is set.
    pub monochrome: bool,
}

impl Default for TuiOptions {
    fn default() -> TuiOptions {
        TuiOptions {
            packets_per_hop: 200,
            max_drops: 200,
            max_notes: 200,
            monochrome: false,
        }
    }
}

/// A key, already translated from the terminal's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    Left,
    Right,
    Enter,
    Esc,
    PageUp,
    PageDown,
    Home,
    End,
    CtrlC,
    Char(char),
}

/// What a hop's colour says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HopState {
    /// Nothing seen yet (grey).
    Nothing,
    /// Probes arrived, no replies (yellow).
    NoReply,
    /// Replies seen (green).
    Replies,
    /// The verdict's hop: where the packets die (red).
    Failing,
}

/// One hop as the view knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub info: HopInfo,
    pub counts: HopCounters,
    /// The newest packet lines, oldest first.
    pub packets: VecDeque<String>,
    /// All packet lines received for this hop (kept or not).
    pub packets_seen: u64,
    /// Kernel drops reported at this node and interface.
    pub drops: u64,
    /// Why the hop could not be captured (from the report).
    pub error: Option<String>,
}

impl Hop {
    fn new(info: HopInfo) -> Hop {
        Hop {
            info,
            counts: HopCounters::default(),
            packets: VecDeque::new(),
            packets_seen: 0,
            drops: 0,
            error: None,
        }
    }
}

/// One distinct kernel drop, with how many times it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropLine {
    pub node: String,
    pub iface: Option<String>,
    pub reason: String,
    pub location: String,
    pub count: u64,
    /// Hop index it belongs to (same node and interface), if any.
    pub hop: Option<usize>,
}

/// Where the trace is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the plan.
    Starting,
    /// Planned, captures not armed yet.
    Planned,
    /// Capturing; the window ends at `until_ms` (view time).
    Capturing { since_ms: u64, until_ms: u64 },
    /// The verdict is in.
    Done,
    /// The trace hung up without a verdict.
    Ended,
}

/// The whole view state.
#[derive(Clone, Debug)]
pub struct App {
    pub opts: TuiOptions,
    pub title: String,
    pub hops: Vec<Hop>,
    /// Distinct drops, least recently updated first.
    pub drops: VecDeque<DropLine>,
    pub drops_total: u64,
    pub notes: VecDeque<String>,
    pub verdict: Option<Box<TraceReport>>,
    pub phase: Phase,
    /// View time in milliseconds (see [`App::tick`]).
    pub now_ms: u64,
    /// The highlighted hop.
    pub selected: usize,
    /// The selected hop's packets and evidence are shown.
    pub expanded: bool,
    /// Lines scrolled in the lower panel (the expanded hop, else the verdict).
    pub scroll: u16,
    /// The user asked to quit.
    pub quit: bool,
}

impl App {
    pub fn new(opts: TuiOptions) -> App {
        App {
            opts,
            title: String::new(),
            hops: Vec::new(),
            drops: VecDeque::new(),
            drops_total: 0,
            notes: VecDeque::new(),
            verdict: None,
            phase: Phase::Starting,
            now_ms: 0,
            selected: 0,
            expanded: false,
            scroll: 0,
            quit: false,
        }
    }

    /// The view's clock moved to `now_ms` (milliseconds since the view started).
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    /// Take one event into the state.
    pub fn apply(&mut self, ev: TuiEvent) {
        match ev {
            TuiEvent::Planned { title, hops } => {
                self.title = title;
                self.hops = hops.into_iter().map(Hop::new).collect();
                self.drops.clear();
                self.drops_total = 0;
                self.selected = 0;
                self.expanded = false;
                self.scroll = 0;
                if self.verdict.is_none() {
                    self.phase = Phase::Planned;
                }
            }
            TuiEvent::Armed { window_ms } => {
                if self.verdict.is_none() {
                    self.phase = Phase::Capturing {
                        since_ms: self.now_ms,
                        until_ms: self.now_ms.saturating_add(window_ms),
                    };
                }
            }
            TuiEvent::Counts { hop, counts } => {
                if let Some(h) = self.hops.get_mut(hop) {
                    h.counts = counts;
                }
            }
            TuiEvent::Packet { hop, line } => {
                let keep = self.opts.packets_per_hop;
                if let Some(h) = self.hops.get_mut(hop) {
                    h.packets_seen += 1;
                    if keep > 0 {
                        while h.packets.len() >= keep {
                            h.packets.pop_front();
                        }
                        h.packets.push_back(line);
                    }
                }
            }
            TuiEvent::Drop {
                node,
                iface,
                reason,
                location,
                count,
            } => self.add_drop(node, iface, reason, location, count),
            TuiEvent::Note(n) => self.note(n),
            TuiEvent::Verdict(report) => self.take_verdict(report),
        }
    }

    /// The sender hung up: nothing more will come.
    pub fn sender_gone(&mut self) {
        if self.verdict.is_none() && self.phase != Phase::Ended {
            self.phase = Phase::Ended;
            self.note("trace ended without a verdict".into());
        }
    }

    /// One key press.
    pub fn on_key(&mut self, key: Key) {
        let last = self.hops.len().saturating_sub(1);
        match key {
            Key::Char('q') | Key::Char('Q') | Key::Esc | Key::CtrlC => self.quit = true,
            Key::Up | Key::Char('k') => self.select(self.selected.saturating_sub(1)),
            Key::Down | Key::Char('j') => self.select((self.selected + 1).min(last)),
            Key::Home | Key::Char('g') => self.select(0),
            Key::End | Key::Char('G') => self.select(last),
            Key::Enter | Key::Char(' ') => {
                self.expanded = !self.expanded && !self.hops.is_empty();
                self.scroll = 0;
            }
            Key::Right | Key::Char('l') => {
                self.expanded = !self.hops.is_empty();
                self.scroll = 0;
            }
            Key::Left | Key::Char('h') => {
                self.expanded = false;
                self.scroll = 0;
            }
            Key::PageDown | Key::Char('J') => self.scroll = self.scroll.saturating_add(5),
            Key::PageUp | Key::Char('K') => self.scroll = self.scroll.saturating_sub(5),
            Key::Char(_) => {}
        }
    }

    fn select(&mut self, i: usize) {
        if i != self.selected {
            self.selected = i;
            self.scroll = 0;
        }
    }

    fn note(&mut self, n: String) {
        while self.opts.max_notes > 0 && self.notes.len() >= self.opts.max_notes {
            self.notes.pop_front();
        }
        if self.opts.max_notes > 0 {
            self.notes.push_back(n);
        }
    }

    fn hop_index(&self, node: &str, iface: &str) -> Option<usize> {
        self.hops
            .iter()
            .position(|h| h.info.node == node && h.info.iface == iface)
    }

    fn add_drop(
        &mut self,
        node: String,
        iface: Option<String>,
        reason: String,
        location: String,
        count: u64,
    ) {
        self.drops_total = self.drops_total.saturating_add(count);
        let hop = iface.as_deref().and_then(|i| self.hop_index(&node, i));
        if let Some(h) = hop.and_then(|i| self.hops.get_mut(i)) {
            h.drops = h.drops.saturating_add(count);
        }
        let same = self.drops.iter().position(|d| {
            d.node == node && d.iface == iface && d.reason == reason && d.location == location
        });
        let line = match same.and_then(|i| self.drops.remove(i)) {
            Some(mut d) => {
                d.count = d.count.saturating_add(count);
                d
            }
            None => DropLine {
                node,
                iface,
                reason,
                location,
                count,
                hop,
            },
        };
        while self.opts.max_drops > 0 && self.drops.len() >= self.opts.max_drops {
            self.drops.pop_front();
        }
        if self.opts.max_drops > 0 {
            self.drops.push_back(line);
        }
    }

    fn take_verdict(&mut self, report: Box<TraceReport>) {
        if self.title.is_empty() {
            self.title = title_of(&report);
        }
        // The report's per-hop counts are final: they replace the live ones.
        for jh in &report.hops {
            let i = match self.hop_index(&jh.node, &jh.iface) {
                Some(i) => i,
                None => {
                    self.hops.push(Hop::new(HopInfo::from(jh)));
                    self.hops.len() - 1
                }
            };
            if let Some(h) = self.hops.get_mut(i) {
                h.counts = HopCounters::from(&jh.seen);
                h.error = jh.error.clone();
            }
        }
        self.phase = Phase::Done;
        self.verdict = Some(report);
    }

    /// Index of the hop the verdict names (its `hop`, else the first hop on its `node`).
    pub fn failing_hop(&self) -> Option<usize> {
        let v = &self.verdict.as_ref()?.verdict;
        if v.code == "ok" {
            return None;
        }
        if let Some(hop) = v.hop.as_deref()
            && let Some(i) = self.hops.iter().position(|h| h.info.name() == hop)
        {
            return Some(i);
        }
        let node = v.node.as_deref()?;
        self.hops.iter().position(|h| h.info.node == node)
    }

    /// What hop `i`'s colour says.
    pub fn hop_state(&self, i: usize) -> HopState {
        if self.failing_hop() == Some(i) {
            return HopState::Failing;
        }
        match self.hops.get(i) {
            Some(h) if h.counts.replies > 0 => HopState::Replies,
            Some(h) if h.counts.forward > 0 || h.counts.rst > 0 || h.counts.icmp > 0 => {
                HopState::NoReply
            }
            _ => HopState::Nothing,
        }
    }

    /// Lines of the report that concern hop `i`: the whole verdict on the failing hop, and
    /// every evidence line (verdict or finding) that names `node/iface`.
    pub fn hop_evidence(&self, i: usize) -> Vec<String> {
        let (Some(r), Some(h)) = (self.verdict.as_ref(), self.hops.get(i)) else {
            return Vec::new();
        };
        let name = h.info.name();
        let mut out = Vec::new();
        if self.failing_hop() == Some(i) {
            out.push(finding_head(&r.verdict));
            out.extend(r.verdict.evidence.iter().cloned());
            out.extend(r.verdict.next_steps.iter().map(|n| format!("next: {n}")));
        } else {
            out.extend(naming(&r.verdict.evidence, &name));
        }
        for f in &r.findings {
            let about = f.hop.as_deref() == Some(name.as_str());
            let lines = if about {
                f.evidence.clone()
            } else {
                naming(&f.evidence, &name)
            };
            if about || !lines.is_empty() {
                out.push(format!("also {}", finding_head(f)));
                out.extend(lines);
            }
        }
        for p in r.probes.iter().filter(|_| i == 0) {
            out.push(format!(
                "probe {} sport {}: {} ({} ms) {}",
                p.kind, p.sport, p.result, p.ms, p.detail
            ));
        }
        out
    }

    /// Kernel drops at hop `i`'s node and interface.
    pub fn hop_drops(&self, i: usize) -> impl Iterator<Item = &DropLine> {
        self.drops.iter().filter(move |d| d.hop == Some(i))
    }
}

/// The evidence lines that name `hop` (`node/iface` as a whole word), each with the indented
/// lines under it (the packets or rule chain it summarises).
fn naming(lines: &[String], hop: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut take = false;
    for l in lines {
        if !l.starts_with(' ') {
            take = names(l, hop);
        }
        if take {
            out.push(l.clone());
        }
    }
    out
}

fn names(text: &str, word: &str) -> bool {
    let glued = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '/');
    text.match_indices(word).any(|(i, _)| {
        let rest = &text[i + word.len()..];
        let mut after = rest.chars();
        let ends = match after.next() {
            None => true,
            // `eth0.100` is another interface; `eth0.` ends a sentence.
            Some('.') => !after.next().is_some_and(char::is_alphanumeric),
            Some(c) => !glued(c),
        };
        let starts = !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| glued(c) || c == '.');
        starts && ends
    })
}

/// `code on NODE at HOP — summary`.
pub fn finding_head(f: &JsonFinding) -> String {
    let mut s = f.code.clone();
    if let Some(n) = &f.node {
        s.push_str(" on ");
        s.push_str(n);
    }
    if let Some(h) = &f.hop {
        s.push_str(" at ");
        s.push_str(h);
    }
    s.push_str(" — ");
    s.push_str(&f.summary);
    s
}

/// A title from the report alone (a replay that starts with the verdict).
fn title_of(r: &TraceReport) -> String {
    let ip = match r.target.ip {
        std::net::IpAddr::V6(v) => format!("[{v}]"),
        v4 => v4.to_string(),
    };
    format!(
        "{ip}:{}/{} from {} — announcer {}",
        r.target.port,
        r.target.proto,
        r.client.map(|c| c.to_string()).unwrap_or("?".into()),
        r.announcer
            .as_ref()
            .and_then(|a| a.node.clone())
            .unwrap_or("none".into())
    )
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hopdump_engine::report::*;

    pub fn hop(node: &str, iface: &str, role: &str) -> HopInfo {
        HopInfo {
            node: node.into(),
            iface: iface.into(),
            role: role.into(),
        }
    }

    pub fn planned() -> TuiEvent {
        TuiEvent::Planned {
            title: "198.51.100.240:80/tcp from 198.51.100.10 — announcer node1".into(),
            hops: vec![
                hop("client", "eth0", "client"),
                hop("node1", "eth0", "uplink"),
                hop("node1", "cni0", "pod_network"),
                hop("node1", "pod-10.244.1.2:eth0", "pod"),
            ],
        }
    }

    pub fn report(code: &str, node: Option<&str>, at: Option<&str>) -> Box<TraceReport> {
        let seen = |probes_in, replies| JsonSeen {
            probes_in,
            probes_large: 0,
            dnat: 0,
            replies,
            replies_large: 0,
            replies_un_nated: 0,
            rst: 0,
            icmp_unreachable: 0,
            icmp_too_big: 0,
        };
        let jh = |node: &str, iface: &str, role: &str, s| JsonHop {
            node: node.into(),
            iface: iface.into(),
            role: role.into(),
            endpoint: None,
            seen: s,
            error: None,
        };
        Box::new(TraceReport {
            schema: TRACE_SCHEMA.into(),
            target: JsonTarget {
                ip: "198.51.100.240".parse().unwrap(),
                port: 80,
                proto: "tcp".into(),
            },
            client: Some("198.51.100.10".parse().unwrap()),
            announcer: None,
            arp_responders: vec![],
            endpoints: vec![],
            hops: vec![
                jh("client", "eth0", "client", seen(6, 0)),
                jh("node1", "eth0", "uplink", seen(6, 0)),
                jh("node1", "cni0", "pod_network", seen(0, 0)),
                jh("node1", "pod-10.244.1.2:eth0", "pod", seen(0, 0)),
            ],
            probes: vec![JsonProbe {
                kind: "tcp_small".into(),
                sport: 41234,
                result: "timeout".into(),
                detail: "no SYN-ACK".into(),
                ms: 1500,
            }],
            drops: vec![],
            verdict: JsonFinding {
                code: code.into(),
                node: node.map(Into::into),
                hop: at.map(Into::into),
                summary: "node1's FORWARD chain drops the service's packets".into(),
                evidence: vec![
                    "node1/eth0: 6 probes in, 0 after DNAT".into(),
                    "iptables-nft filter/FORWARD rule 1: -A FORWARD -d 10.244.1.2 -j DROP".into(),
                ],
                next_steps: vec!["iptables-save -c | grep -n DROP  # on node1".into()],
            },
            findings: vec![JsonFinding {
                code: "mtu_mismatch".into(),
                node: Some("node1".into()),
                hop: Some("node1/cni0".into()),
                summary: "cni0 is smaller".into(),
                evidence: vec!["node1/cni0: mtu 1400".into()],
                next_steps: vec![],
            }],
            missing: vec![],
            started_unix_ms: 0,
            duration_ms: 2400,
        })
    }

    fn counts(forward: u64, replies: u64) -> HopCounters {
        HopCounters {
            forward,
            replies,
            ..Default::default()
        }
    }

    #[test]
    fn hops_follow_the_plan_and_counters_are_absolute() {
        let mut a = App::new(TuiOptions::default());
        a.apply(planned());
        assert_eq!(a.phase, Phase::Planned);
        let names: Vec<String> = a.hops.iter().map(|h| h.info.name()).collect();
        assert_eq!(names[0], "client/eth0");
        assert_eq!(names[3], "node1/pod-10.244.1.2:eth0");
        a.apply(TuiEvent::Counts {
            hop: 1,
            counts: counts(3, 0),
        });
        a.apply(TuiEvent::Counts {
            hop: 1,
            counts: counts(5, 0),
        });
        assert_eq!(a.hops[1].counts.forward, 5);
        // Out of range is ignored, not a panic.
        a.apply(TuiEvent::Counts {
            hop: 9,
            counts: counts(1, 1),
        });
        a.apply(TuiEvent::Packet {
            hop: 9,
            line: "x".into(),
        });
        assert_eq!(a.hop_state(0), HopState::Nothing);
        assert_eq!(a.hop_state(1), HopState::NoReply);
        a.apply(TuiEvent::Counts {
            hop: 0,
            counts: counts(5, 5),
        });
        assert_eq!(a.hop_state(0), HopState::Replies);
    }

    #[test]
    fn armed_window_is_measured_from_view_time() {
        let mut a = App::new(TuiOptions::default());
        a.apply(planned());
        a.tick(1000);
        a.apply(TuiEvent::Armed { window_ms: 3000 });
        assert_eq!(
            a.phase,
            Phase::Capturing {
                since_ms: 1000,
                until_ms: 4000
            }
        );
        a.tick(500); // the clock never goes back
        assert_eq!(a.now_ms, 1000);
    }

    #[test]
    fn packets_are_a_bounded_ring_per_hop() {
        let mut a = App::new(TuiOptions {
            packets_per_hop: 3,
            ..TuiOptions::default()
        });
        a.apply(planned());
        for n in 0..10 {
            a.apply(TuiEvent::Packet {
                hop: 2,
                line: format!("p{n}"),
            });
        }
        let h = &a.hops[2];
        assert_eq!(h.packets_seen, 10);
        assert_eq!(h.packets, ["p7", "p8", "p9"]);
    }

    #[test]
    fn drops_add_up_per_place_and_reason_and_land_on_their_hop() {
        let mut a = App::new(TuiOptions::default());
        a.apply(planned());
        let drop = |iface: Option<&str>, reason: &str| TuiEvent::Drop {
            node: "node1".into(),
            iface: iface.map(Into::into),
            reason: reason.into(),
            location: "nf_hook_slow+0x9f".into(),
            count: 1,
        };
        a.apply(drop(Some("eth0"), "NETFILTER_DROP"));
        a.apply(drop(None, "OTHERHOST"));
        a.apply(drop(Some("eth0"), "NETFILTER_DROP"));
        assert_eq!(a.drops.len(), 2);
        assert_eq!(a.drops_total, 3);
        // The updated line moves to the end (newest).
        assert_eq!(a.drops[1].reason, "NETFILTER_DROP");
        assert_eq!(a.drops[1].count, 2);
        assert_eq!(a.drops[1].hop, Some(1));
        assert_eq!(a.hops[1].drops, 2);
        assert_eq!(a.hop_drops(1).count(), 1);
        assert_eq!(a.hop_drops(0).count(), 0);
    }

    #[test]
    fn the_verdict_marks_the_failing_hop_and_replaces_the_counts() {
        let mut a = App::new(TuiOptions::default());
        a.apply(planned());
        a.apply(TuiEvent::Verdict(report(
            "firewall_drop",
            Some("node1"),
            Some("node1/eth0"),
        )));
        assert_eq!(a.phase, Phase::Done);
        assert_eq!(a.failing_hop(), Some(1));
        assert_eq!(a.hop_state(1), HopState::Failing);
        assert_eq!(a.hop_state(0), HopState::NoReply);
        assert_eq!(a.hop_state(2), HopState::Nothing);
        assert_eq!(a.hops[0].counts.forward, 6);
        // The hop's evidence: the whole verdict; another hop: only what names it.
        let ev = a.hop_evidence(1);
        assert!(ev[0].starts_with("firewall_drop on node1 at node1/eth0"));
        assert!(ev.iter().any(|l| l.contains("FORWARD rule 1")));
        assert!(ev.iter().any(|l| l.starts_with("next: iptables-save")));
        let ev = a.hop_evidence(2);
        assert_eq!(
            ev,
            [
                "also mtu_mismatch on node1 at node1/cni0 — cni0 is smaller",
                "node1/cni0: mtu 1400"
            ]
        );
        // The client hop carries the probes.
        assert!(a.hop_evidence(0).iter().any(|l| l.contains("sport 41234")));
    }

    #[test]
    fn evidence_names_a_hop_as_a_whole_word_with_its_indented_lines() {
        assert!(names("node1/eth0: 16 probe packet(s) in", "node1/eth0"));
        assert!(names(
            "kernel drop on node1/eth0: NETFILTER_DROP",
            "node1/eth0"
        ));
        assert!(names("seen at node1/eth0.", "node1/eth0"));
        assert!(!names("xnode1/eth0: 1", "node1/eth0"));
        assert!(!names("node1/eth0.100: 1", "node1/eth0"));
        assert!(!names("node1/eth01: 1", "node1/eth0"));
        let ev: Vec<String> = [
            "client/eth0: 16 probe packet(s) in",
            "  IP 198.51.100.10.36352 > 198.51.100.240.80: Flags [S]",
            "node1/eth0: 16 probe packet(s) in",
            "  IP 198.51.100.10.36362 > 198.51.100.240.80: Flags [S]",
            "node1/cni0: 0 probe packet(s) in",
        ]
        .map(String::from)
        .into();
        assert_eq!(naming(&ev, "node1/eth0"), ev[2..4]);
        assert_eq!(naming(&ev, "node2/eth0"), Vec::<String>::new());
    }

    #[test]
    fn a_verdict_without_a_hop_falls_back_to_the_node_and_ok_marks_nothing() {
        let mut a = App::new(TuiOptions::default());
        a.apply(planned());
        a.apply(TuiEvent::Verdict(report(
            "no_service_rule",
            Some("node1"),
            None,
        )));
        assert_eq!(a.failing_hop(), Some(1));
        a.apply(TuiEvent::Verdict(report("ok", None, None)));
        assert_eq!(a.failing_hop(), None);
        a.apply(TuiEvent::Verdict(report("no_arp_reply", None, None)));
        assert_eq!(a.failing_hop(), None);
    }

    #[test]
    fn a_verdict_alone_is_enough_to_draw_the_path() {
        let mut a = App::new(TuiOptions::default());
        a.apply(TuiEvent::Verdict(report(
            "firewall_drop",
            Some("node1"),
            Some("node1/eth0"),
        )));
        assert_eq!(a.hops.len(), 4);
        assert!(
            a.title
                .starts_with("198.51.100.240:80/tcp from 198.51.100.10")
        );
    }

    #[test]
    fn keys_select_expand_scroll_and_quit() {
        let mut a = App::new(TuiOptions::default());
        a.on_key(Key::Enter);
        assert!(!a.expanded, "nothing to expand before the plan");
        a.apply(planned());
        a.on_key(Key::Up);
        assert_eq!(a.selected, 0);
        a.on_key(Key::Down);
        a.on_key(Key::Down);
        assert_eq!(a.selected, 2);
        a.on_key(Key::End);
        a.on_key(Key::Down);
        assert_eq!(a.selected, 3);
        a.on_key(Key::Home);
        a.on_key(Key::Enter);
        assert!(a.expanded);
        a.on_key(Key::PageDown);
        assert_eq!(a.scroll, 5);
        a.on_key(Key::Down);
        assert_eq!(a.scroll, 0, "a new hop starts at its top");
        assert!(a.expanded, "the expansion follows the selection");
        a.on_key(Key::Enter);
        assert!(!a.expanded);
        a.on_key(Key::Right);
        assert!(a.expanded);
        a.on_key(Key::Left);
        assert!(!a.expanded);
        a.on_key(Key::Char('x'));
        assert!(!a.quit);
        for k in [Key::Char('q'), Key::Esc, Key::CtrlC] {
            let mut b = a.clone();
            b.on_key(k);
            assert!(b.quit, "{k:?}");
        }
    }

    #[test]
    fn hanging_up_without_a_verdict_says_so_once() {
        let mut a = App::new(TuiOptions::default());
        a.apply(planned());
        a.sender_gone();
        a.sender_gone();
        assert_eq!(a.phase, Phase::Ended);
        assert_eq!(a.notes.len(), 1);
        let mut b = App::new(TuiOptions::default());
        b.apply(TuiEvent::Verdict(report("ok", None, None)));
        b.sender_gone();
        assert_eq!(b.phase, Phase::Done);
    }
}
