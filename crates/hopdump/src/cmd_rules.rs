//! `hopdump rules explain`: one flow through the node's packet filter, rendered as a short
//! indented trace ending in the outcome, or as versioned JSON.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use hopdump_capture::Netns;
use hopdump_rules::{Explanation, Fate, Flow, Hit, OutcomeKind, explain as walk_explain};

use crate::cli::ExplainArgs;
use crate::node_state::{Sources, load};

fn pct(p: f64) -> String {
    let v = p * 100.0;
    if (v - v.round()).abs() < 0.05 {
        format!("{v:.0}%")
    } else {
        format!("{v:.1}%")
    }
}

fn hit_line(out: &mut String, h: &Hit, last_hook: &mut String) {
    if *last_hook != h.hook {
        let _ = writeln!(out, "  {}:", h.hook);
        *last_hook = h.hook.to_string();
    }
    let who = match &h.owner.service {
        Some(s) => format!("{} {s}", h.owner.kind),
        None => h.owner.kind.to_string(),
    };
    let rule = if h.rule == 0 {
        "policy".to_string()
    } else {
        format!("#{}", h.rule)
    };
    let prob = h
        .probability
        .map(|p| format!(" ({})", pct(p)))
        .unwrap_or_default();
    let counters = match (h.packets, h.bytes) {
        (Some(p), Some(b)) => format!(" [{p} pkts, {b} bytes]"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "    {} {}/{} {rule}{prob}  → {}   [{who}]{counters}",
        h.source, h.table, h.chain, h.action
    );
    let _ = writeln!(out, "        {}", h.text);
    if let Some(m) = &h.meaning {
        let _ = writeln!(out, "        ⇒ {m}");
    }
}

/// Human rendering of an explanation.
pub fn render_text(e: &Explanation, notes: &[String]) -> String {
    let mut out = String::new();
    let f = &e.flow;
    let _ = writeln!(
        out,
        "flow {}:{} → {}:{}/{} (new connection)",
        f.src,
        f.sport,
        f.dst,
        f.dport,
        f.proto.name()
    );
    for n in notes {
        let _ = writeln!(out, "  read {n}");
    }
    for w in &e.warnings {
        let _ = writeln!(out, "WARNING: {w}");
    }
    let _ = writeln!(
        out,
        "path{}:",
        if e.branches.len() > 1 {
            " (most likely branch)"
        } else {
            ""
        }
    );
    let mut hook = String::new();
    for h in &e.path {
        hit_line(&mut out, h, &mut hook);
    }
    if e.branches.len() > 1 {
        let _ = writeln!(out, "branches:");
        let total: f64 = e
            .branches
            .iter()
            .map(|b| b.probability)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        // Branches that end the same way are one line (forks on matches that could not be
        // evaluated often lead to the same place), with how many they are.
        let mut lines: Vec<(String, f64, usize)> = Vec::new();
        for b in &e.branches {
            let to = b
                .dnat_to
                .as_deref()
                .map(|d| format!(" DNAT {d}"))
                .unwrap_or_default();
            let fate = match b.fate {
                Fate::Local => "delivered locally",
                Fate::Forwarded => "forwarded",
                Fate::Dropped => "DROPPED",
                Fate::Rejected => "REJECTED",
            };
            let at = match (&b.fate, b.path.last()) {
                (Fate::Dropped | Fate::Rejected, Some(h)) => {
                    format!(" at {} {}/{} #{}", h.source, h.table, h.chain, h.rule)
                }
                _ => String::new(),
            };
            let end = format!("{to} → {fate}{at}");
            match lines.iter_mut().find(|l| l.0 == end) {
                Some(l) => {
                    l.1 += b.probability;
                    l.2 += 1;
                }
                None => lines.push((end, b.probability, 1)),
            }
        }
        for (end, p, n) in lines {
            let many = if n > 1 {
                format!(" ({n} branches)")
            } else {
                String::new()
            };
            let _ = writeln!(out, "  {:>6}{end}{many}", pct(p / total));
        }
    }
    if !e.certain {
        let _ = writeln!(
            out,
            "not evaluated (the answer holds only under these assumptions):"
        );
        let mut seen = std::collections::BTreeSet::new();
        for a in e.branches.iter().flat_map(|b| &b.assumptions) {
            if seen.insert(a.clone()) {
                let _ = writeln!(out, "  - {a}");
            }
        }
    }
    let kind = match e.outcome.kind {
        OutcomeKind::Dnat => "DNAT",
        OutcomeKind::Accept => "ACCEPT",
        OutcomeKind::Drop => "DROP",
        OutcomeKind::Reject => "REJECT",
        OutcomeKind::NoMatch => "NO MATCH",
    };
    let _ = writeln!(out, "outcome: {kind}: {}", e.outcome.summary);
    out
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let mut flow = Flow::parse(&args.dst, args.src.as_deref())?;
    flow.in_iface = args.in_iface.clone();
    let netns = match &args.netns {
        Some(n) => hopdump_capture::netns::parse_netns(n)?,
        None => Netns::Current,
    };
    let loaded = load(
        &Sources {
            netns: &netns,
            iptables_files: &args.iptables_save,
            nft_file: args.nft.as_deref(),
            ipvs_file: args.ipvs.as_deref(),
            ipset_file: args.ipset.as_deref(),
        },
        flow.dst.is_ipv6(),
        &args.local_ip,
    )?;
    let e = walk_explain(&loaded.rules, &flow, &loaded.ctx);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        print!("{}", render_text(&e, &loaded.notes));
    }
    let problem = matches!(
        e.outcome.kind,
        OutcomeKind::Drop | OutcomeKind::Reject | OutcomeKind::NoMatch
    ) || e.outcome.lost_probability > 0.0;
    Ok(if problem {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
