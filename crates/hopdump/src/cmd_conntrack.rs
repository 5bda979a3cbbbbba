//! `hopdump conntrack`: a namespace's conntrack table read over netlink, each LB entry's NAT
//! explained (the pod, masquerade), stale entries found against the node's current rules, and
//! a delete that only ever touches matching entries and only with `--yes`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hopdump_capture::Netns;
use hopdump_node::analysis::conntrack::{
    ConntrackEvidence, Current, EntryVerdict, ServiceNow, endpoint_str, entry_line, service_key,
    verdicts,
};
use hopdump_node::analysis::{Finding, Severity, conntrack as analysis};
use hopdump_node::ctnetlink::{CtEntry, Tuple, proto_name};
use hopdump_rules::{Flow, OutcomeKind, Proto};
use serde::Serialize;

use crate::cli::ConntrackArgs;
use crate::node_state::{Sources, load};

/// Version of the `--json` document.
pub const CONNTRACK_SCHEMA: &str = "hopdump.conntrack/1";

/// `hopdump conntrack --json`.
#[derive(Serialize)]
pub struct ConntrackReport {
    pub schema: &'static str,
    pub netns: String,
    /// Entries in the table before filtering.
    pub total: usize,
    /// nf_conntrack_acct: packet/byte counters present.
    pub accounting: bool,
    pub entries: Vec<JsonEntry>,
    pub findings: Vec<Finding>,
    /// Present with --delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<DeleteReport>,
}

/// One direction of an entry.
#[derive(Serialize)]
pub struct JsonTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: String,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

/// One conntrack entry with its NAT explanation and staleness.
#[derive(Serialize)]
pub struct JsonEntry {
    pub orig: JsonTuple,
    pub reply: JsonTuple,
    /// TCP state (null for other protocols).
    pub state: Option<&'static str>,
    pub flags: Vec<&'static str>,
    pub timeout: Option<u32>,
    pub mark: Option<u32>,
    pub zone: u16,
    pub id: Option<u32>,
    pub counters: Option<JsonCounters>,
    /// `IP:PORT` the flow was DNATed to (the pod), null without DNAT.
    pub dnat_to: Option<String>,
    /// `IP:PORT` the source was SNATed/masqueraded to, null without SNAT.
    pub snat_to: Option<String>,
    pub stale: bool,
    pub stale_reason: Option<String>,
    /// How much traffic still follows a stale entry.
    pub traffic: Option<String>,
    /// The endpoints the rules would choose now (null when not evaluated).
    pub current_endpoints: Option<Vec<String>>,
}

#[derive(Serialize)]
pub struct JsonCounters {
    pub orig_packets: u64,
    pub orig_bytes: u64,
    pub reply_packets: u64,
    pub reply_bytes: u64,
}

/// What --delete did (or would do).
#[derive(Serialize)]
pub struct DeleteReport {
    /// True without --yes: nothing was changed.
    pub dry_run: bool,
    pub matched: usize,
    pub deleted: usize,
    /// Entries that had already gone when the delete reached the kernel.
    pub already_gone: usize,
    pub entries: Vec<String>,
}

fn json_tuple(t: &Tuple) -> JsonTuple {
    JsonTuple {
        src: t.src,
        dst: t.dst,
        proto: proto_name(t.proto),
        sport: t.sport,
        dport: t.dport,
    }
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`.
fn parse_dst(s: &str) -> Result<(IpAddr, Option<u16>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    let bad = || format!("--dst {s:?}: expected IP, IP:PORT or [IPv6]:PORT");
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:").with_context(bad)?;
        return Ok((
            ip.parse().with_context(bad)?,
            Some(port.parse().with_context(bad)?),
        ));
    }
    let (ip, port) = s.rsplit_once(':').with_context(bad)?;
    Ok((
        ip.parse().with_context(bad)?,
        Some(port.parse().with_context(bad)?),
    ))
}

fn parse_proto(s: &str) -> Result<u8> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        "icmp" => 1,
        "icmpv6" | "ipv6-icmp" => 58,
        other => other
            .parse()
            .with_context(|| format!("--proto {s:?}: expected tcp, udp, sctp, icmp or a number"))?,
    })
}

/// What the node's rules would do now with a new flow like each DNATed entry's original one.
/// `src` is None for a table read from a file with no rule file beside it: nothing to compare.
fn current_services(src: Option<&Sources<'_>>, entries: &[CtEntry]) -> Vec<ServiceNow> {
    let mut keys: Vec<((u8, IpAddr, u16), &CtEntry)> = Vec::new();
    for e in entries.iter().filter(|e| e.dnat_to().is_some()) {
        if let Some(k) = service_key(e)
            && !keys.iter().any(|(x, _)| *x == k)
        {
            keys.push((k, e));
        }
    }
    if keys.is_empty() {
        return Vec::new();
    }
    let mut loaded: [Option<std::result::Result<crate::node_state::Loaded, String>>; 2] =
        [None, None];
    let mut out = Vec::new();
    for ((proto, dst, dport), e) in keys {
        let current = match (Proto::parse(&proto.to_string()), src) {
            (None, _) => Current::Unknown {
                why: format!(
                    "protocol {} is not evaluated by the rule walker",
                    proto_name(proto)
                ),
            },
            (Some(_), None) => Current::Unknown {
                why: "the table was read from a file: pass the node's rules too (--iptables-save or --nft) to compare with the Services' endpoints now".into(),
            },
            (Some(p), Some(src)) => {
                let fam = usize::from(dst.is_ipv6());
                let l = loaded[fam].get_or_insert_with(|| {
                    load(src, dst.is_ipv6(), &[]).map_err(|e| format!("{e:#}"))
                });
                match l {
                    Err(why) => Current::Unknown { why: why.clone() },
                    Ok(l) => {
                        let flow = Flow {
                            src: e.orig.src,
                            sport: e.orig.sport.unwrap_or(0),
                            dst,
                            dport,
                            proto: p,
                            in_iface: None,
                        };
                        let x = hopdump_rules::explain(&l.rules, &flow, &l.ctx);
                        match x.outcome.kind {
                            OutcomeKind::Dnat => Current::Dnat {
                                endpoints: x
                                    .outcome
                                    .targets
                                    .iter()
                                    .filter_map(|t| parse_target(&t.addr))
                                    .collect(),
                            },
                            _ => Current::NoDnat {
                                summary: x.outcome.summary.clone(),
                            },
                        }
                    }
                }
            }
        };
        out.push(ServiceNow {
            proto,
            dst,
            dport,
            current,
        });
    }
    out
}

/// A DNAT target as the rules print it: `IP`, `IP:PORT`, `[v6]:PORT`, maybe a port range.
fn parse_target(s: &str) -> Option<(IpAddr, Option<u16>)> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let (ip, port) = match s.strip_prefix('[') {
        Some(rest) => rest.split_once("]:")?,
        None => s.rsplit_once(':')?,
    };
    let port = port.split('-').next()?.parse().ok();
    Some((ip.parse().ok()?, port))
}

fn render_text(
    netns: &str,
    total: usize,
    accounting: bool,
    entries: &[CtEntry],
    v: &[EntryVerdict],
    findings: &[Finding],
    delete: Option<&DeleteReport>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "conntrack in {netns}: {total} entries, {} match; accounting {}",
        entries.len(),
        if accounting { "on" } else { "off" }
    );
    for (e, v) in entries.iter().zip(v) {
        let mut head = format!(
            "{:<5} {} -> {}",
            proto_name(e.orig.proto),
            endpoint_str(e.orig.src, e.orig.sport),
            endpoint_str(e.orig.dst, e.orig.dport)
        );
        if let Some(s) = e.state() {
            head.push_str(&format!(" {s}"));
        }
        let flags = e.flags();
        if !flags.is_empty() {
            head.push_str(&format!(" [{}]", flags.join(",")));
        }
        if let Some(t) = e.timeout {
            head.push_str(&format!(" timeout={t}s"));
        }
        head.push_str(&format!(" mark={} zone={}", e.mark.unwrap_or(0), e.zone));
        let _ = writeln!(out, "{head}");
        let _ = writeln!(
            out,
            "      reply {} -> {}",
            endpoint_str(e.reply.src, e.reply.sport),
            endpoint_str(e.reply.dst, e.reply.dport)
        );
        if let (Some(o), Some(r)) = (e.counters_orig, e.counters_reply) {
            let _ = writeln!(
                out,
                "      counters: {} pkts/{} B original, {} pkts/{} B reply",
                o.packets, o.bytes, r.packets, r.bytes
            );
        }
        match (&v.dnat_to, &v.snat_to) {
            (Some(d), Some(s)) => {
                let _ = writeln!(
                    out,
                    "      DNAT to {d} (the pod); SNAT to {s} (masquerade: the pod sees the node, not the client)"
                );
            }
            (Some(d), None) => {
                let _ = writeln!(
                    out,
                    "      DNAT to {d} (the pod); no SNAT: the client's address is kept"
                );
            }
            (None, Some(s)) => {
                let _ = writeln!(out, "      SNAT to {s}");
            }
            (None, None) => {}
        }
        if v.stale {
            let _ = writeln!(
                out,
                "      STALE: {}",
                v.stale_reason.as_deref().unwrap_or("")
            );
            if let Some(t) = &v.traffic {
                let _ = writeln!(out, "      still followed: {t}");
            }
        }
    }
    if let Some(d) = delete {
        if d.dry_run {
            let _ = writeln!(
                out,
                "would delete {} entr{} (nothing changed; add --yes to delete):",
                d.matched,
                if d.matched == 1 { "y" } else { "ies" }
            );
        } else {
            let _ = writeln!(
                out,
                "deleted {} of {} entr{} ({} already gone):",
                d.deleted,
                d.matched,
                if d.matched == 1 { "y" } else { "ies" },
                d.already_gone
            );
        }
        for l in &d.entries {
            let _ = writeln!(out, "  {l}");
        }
    }
    if !findings.is_empty() {
        let _ = writeln!(out, "findings:");
        for f in findings {
            let sev = match f.severity {
                Severity::Problem => "PROBLEM",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = writeln!(out, "  {sev} [{}] {}", f.code, f.message);
        }
    }
    out
}

pub fn run(args: ConntrackArgs) -> Result<ExitCode> {
    let netns = match &args.netns {
        Some(s) => hopdump_capture::netns::parse_netns(s)?,
        None => Netns::Current,
    };
    let netns_label = match (&args.file, &netns) {
        (Some(f), _) => format!("file {}", f.display()),
        (None, Netns::Current) => "this namespace".to_string(),
        (None, n) => n.to_string(),
    };
    let dst = args.dst.as_deref().map(parse_dst).transpose()?;
    let proto = args.proto.as_deref().map(parse_proto).transpose()?;
    if args.yes && !args.delete {
        bail!("--yes only confirms --delete");
    }
    if args.delete && dst.is_none() && proto.is_none() && !args.stale {
        bail!(
            "refusing to delete the whole conntrack table: select entries with --dst, --proto or --stale"
        );
    }
    let (all, accounting, timeouts) = match &args.file {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .context("cannot read standard input")?;
                s
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
            };
            let entries = hopdump_node::cttext::parse(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e} (expected /proc/net/nf_conntrack or `conntrack -L` lines)",
                    path.display()
                )
            })?;
            // Counters in the lines mean accounting was on; timeouts are the node's to know.
            let acct = entries.iter().any(|e| e.counters_orig.is_some());
            (entries, acct, Default::default())
        }
        None => hopdump_node::in_netns(&netns, "conntrack", || {
            let entries = hopdump_node::conntrack::dump()?;
            let (acct, t) = hopdump_node::conntrack::sysctls();
            Ok((entries, acct, t))
        })?,
    };
    let total = all.len();
    let mut entries: Vec<CtEntry> = all
        .into_iter()
        .filter(|e| {
            dst.is_none_or(|(ip, port)| {
                e.orig.dst == ip && (port.is_none() || e.orig.dport == port)
            }) && proto.is_none_or(|p| e.orig.proto == p)
        })
        .collect();
    let sources = Sources {
        netns: &netns,
        iptables_files: &args.iptables_save,
        nft_file: args.nft.as_deref(),
        ipvs_file: args.ipvs.as_deref(),
        ipset_file: args.ipset.as_deref(),
    };
    let no_rules = args.file.is_some()
        && args.iptables_save.is_empty()
        && args.nft.is_none()
        && args.ipvs.is_none();
    let services = current_services((!no_rules).then_some(&sources), &entries);
    let mut ev = ConntrackEvidence {
        entries: Vec::new(),
        services,
        accounting,
        timeouts,
    };
    if args.stale {
        ev.entries = entries.clone();
        let v = verdicts(&ev);
        entries = entries
            .into_iter()
            .zip(v)
            .filter(|(_, v)| v.stale)
            .map(|(e, _)| e)
            .collect();
    }
    ev.entries = entries;
    let mut delete = None;
    if args.delete {
        let lines: Vec<String> = ev.entries.iter().map(entry_line).collect();
        let mut report = DeleteReport {
            dry_run: !args.yes,
            matched: ev.entries.len(),
            deleted: 0,
            already_gone: 0,
            entries: lines,
        };
        if args.yes {
            let targets = ev.entries.clone();
            let results = hopdump_node::in_netns(&netns, "conntrack", move || {
                targets
                    .iter()
                    .map(hopdump_node::conntrack::delete)
                    .collect::<hopdump_node::Result<Vec<bool>>>()
            })?;
            report.deleted = results.iter().filter(|d| **d).count();
            report.already_gone = results.len() - report.deleted;
        }
        delete = Some(report);
    }
    let v = verdicts(&ev);
    let mut findings = analysis::findings(&ev);
    let deleted_all = delete.as_ref().is_some_and(|d| !d.dry_run);
    if deleted_all {
        // What was stale is gone now: keep the findings as a record, no longer a problem.
        for f in &mut findings {
            if f.code == "stale_entry" {
                f.severity = Severity::Info;
                f.message = format!("deleted: {}", f.message);
            }
        }
    }
    let problem = hopdump_node::analysis::has_problem(&findings);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let report = ConntrackReport {
            schema: CONNTRACK_SCHEMA,
            netns: netns_label,
            total,
            accounting,
            entries: ev
                .entries
                .iter()
                .zip(&v)
                .map(|(e, v)| JsonEntry {
                    orig: json_tuple(&e.orig),
                    reply: json_tuple(&e.reply),
                    state: e.state(),
                    flags: e.flags(),
                    timeout: e.timeout,
                    mark: e.mark,
                    zone: e.zone,
                    id: e.id,
                    counters: match (e.counters_orig, e.counters_reply) {
                        (Some(o), Some(r)) => Some(JsonCounters {
                            orig_packets: o.packets,
                            orig_bytes: o.bytes,
                            reply_packets: r.packets,
                            reply_bytes: r.bytes,
                        }),
                        _ => None,
                    },
                    dnat_to: v.dnat_to.clone(),
                    snat_to: v.snat_to.clone(),
                    stale: v.stale,
                    stale_reason: v.stale_reason.clone(),
                    traffic: v.traffic.clone(),
                    current_endpoints: v.current_endpoints.clone(),
                })
                .collect(),
            findings,
            delete,
        };
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(
            stdout,
            "{}",
            render_text(
                &netns_label,
                total,
                accounting,
                &ev.entries,
                &v,
                &findings,
                delete.as_ref()
            )
        )?;
    }
    stdout.flush()?;
    Ok(if problem {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_targets_parse() {
        assert_eq!(
            parse_dst("198.51.100.240:9000").unwrap(),
            ("198.51.100.240".parse().unwrap(), Some(9000))
        );
        assert_eq!(
            parse_dst("[2001:db8::f0]:80").unwrap(),
            ("2001:db8::f0".parse().unwrap(), Some(80))
        );
        assert_eq!(parse_dst("2001:db8::f0").unwrap().1, None);
        assert!(parse_dst("nope:1").is_err());
        assert_eq!(parse_proto("UDP").unwrap(), 17);
        assert!(parse_proto("bogus").is_err());
        assert_eq!(
            parse_target("10.244.1.2:9000"),
            Some(("10.244.1.2".parse().unwrap(), Some(9000)))
        );
        assert_eq!(
            parse_target("[fd00::2]:80"),
            Some(("fd00::2".parse().unwrap(), Some(80)))
        );
        assert_eq!(
            parse_target("10.0.0.1"),
            Some(("10.0.0.1".parse().unwrap(), None))
        );
    }
}
