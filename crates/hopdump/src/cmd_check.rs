//! `hopdump check svc/NAME | LB-IP`: the cluster's own view of a LoadBalancer service (from the
//! API server or a support bundle) checked line by line, each ✘ with its reason and fix.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use hopdump_kube::check::{CheckLine, CheckReport, Status};
use hopdump_kube::{CheckOptions, Target};
use serde::Serialize;

/// Version of the `--json` document.
pub const CHECK_SCHEMA: &str = "hopdump.check/1";

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// What to check: svc/NAME (or service/NAME, NS/NAME) or a LoadBalancer IP.
    pub target: String,
    #[command(flatten)]
    pub cluster: crate::cli::ClusterArgs,
    /// The client that should get through (NetworkPolicies, loadBalancerSourceRanges).
    #[arg(long = "client-ip", value_name = "IP")]
    pub client_ip: Option<IpAddr>,
    /// The interface the announcing node should answer ARP on.
    #[arg(long = "expect-iface", value_name = "IFACE")]
    pub expect_iface: Option<String>,
    /// Also read the speakers' logs (live mode).
    #[arg(long)]
    pub logs: bool,
    /// Print the versioned JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the checks, their fixes and a diagram as one self-contained HTML file
    /// (created 0600).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// `hopdump check --json`.
#[derive(Serialize)]
pub struct CheckJson<'a> {
    pub schema: &'static str,
    /// true when no check failed.
    pub ok: bool,
    pub service: ServiceJson<'a>,
    pub pool: Option<&'a str>,
    pub announcer: Option<AnnouncerJson<'a>>,
    /// In MetalLB's election order.
    pub eligible_nodes: &'a [String],
    pub checks: Vec<CheckJsonLine<'a>>,
    pub notes: &'a [String],
}

#[derive(Serialize)]
pub struct ServiceJson<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub lb_ip: Option<IpAddr>,
    pub port: Option<u16>,
    /// tcp, udp, sctp
    pub protocol: Option<&'static str>,
    pub endpoints: Vec<EndpointJson<'a>>,
}

#[derive(Serialize)]
pub struct EndpointJson<'a> {
    pub ip: IpAddr,
    pub port: Option<u16>,
    pub node: Option<&'a str>,
    pub ready: bool,
}

#[derive(Serialize)]
pub struct AnnouncerJson<'a> {
    pub node: &'a str,
    pub source: &'a str,
    pub interfaces: &'a [String],
}

#[derive(Serialize)]
pub struct CheckJsonLine<'a> {
    pub id: &'a str,
    /// pass, fail, skip
    pub status: Status,
    pub title: &'a str,
    pub detail: &'a str,
    pub fix: Option<&'a str>,
}

fn parse_target(t: &str, ns: &str) -> Result<Target> {
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(Target::LbIp(ip));
    }
    let (kind, name) = t.split_once('/').unwrap_or(("svc", t));
    let (namespace, name) = match kind {
        "svc" | "service" | "services" => (ns.to_string(), name.to_string()),
        other if !other.is_empty() && !name.contains('/') => (other.to_string(), name.to_string()),
        _ => bail!("target {t:?}: expected svc/NAME, NS/NAME or an IP"),
    };
    if name.is_empty() {
        bail!("target {t:?}: empty service name");
    }
    Ok(Target::Service { namespace, name })
}

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let target = parse_target(&args.target, &args.cluster.namespace)?;
    let view = args.cluster.load(args.logs)?;
    let opts = CheckOptions {
        client_ip: args.client_ip,
        expect_iface: args.expect_iface.clone(),
    };
    let report = hopdump_kube::check(&view, &target, &opts)?;
    if let Some(path) = &args.report {
        crate::report_file::write(path, &hopdump_report::check_html(&report))?;
    }
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&to_json(&report))?;
        s.push('\n');
        s
    } else {
        render_text(&report)
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn to_json(r: &CheckReport) -> CheckJson<'_> {
    let primary = r.service.primary();
    CheckJson {
        schema: CHECK_SCHEMA,
        ok: !r.failed(),
        service: ServiceJson {
            namespace: &r.service.namespace,
            name: &r.service.name,
            lb_ip: r.service.lb_ip,
            port: primary.map(|p| p.port),
            protocol: primary.map(|p| p.protocol.as_str()),
            endpoints: primary
                .map(|p| {
                    p.endpoints
                        .iter()
                        .map(|e| EndpointJson {
                            ip: e.ip,
                            port: e.port,
                            node: e.node.as_deref(),
                            ready: e.ready,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        pool: r.pool.as_deref(),
        announcer: r.announcer.as_ref().map(|a| AnnouncerJson {
            node: &a.node,
            source: &a.source,
            interfaces: &a.interfaces,
        }),
        eligible_nodes: &r.eligible_nodes,
        checks: r
            .lines
            .iter()
            .map(|l: &CheckLine| CheckJsonLine {
                id: l.id,
                status: l.status,
                title: &l.title,
                detail: &l.detail,
                fix: l.fix.as_deref(),
            })
            .collect(),
        notes: &r.notes,
    }
}

pub fn render_text(r: &CheckReport) -> String {
    let mut s = String::new();
    let svc = &r.service;
    let dst = match (svc.lb_ip, svc.primary()) {
        (Some(ip), Some(p)) => format!("{ip}:{}/{}", p.port, p.protocol.as_str()),
        (None, Some(p)) => format!("<no LB IP>:{}/{}", p.port, p.protocol.as_str()),
        (Some(ip), None) => ip.to_string(),
        (None, None) => "<no LB IP>".into(),
    };
    let _ = writeln!(s, "service {}/{}  {dst}", svc.namespace, svc.name);
    let width = r.lines.iter().map(|l| l.title.len()).max().unwrap_or(0);
    for l in &r.lines {
        let mark = match l.status {
            Status::Pass => "✔",
            Status::Fail => "✘",
            Status::Skip => "–",
        };
        let _ = writeln!(s, "{mark} {:<width$}  {}", l.title, l.detail);
        if let Some(fix) = &l.fix {
            let _ = writeln!(s, "  {:<width$}  fix: {fix}", "");
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert!(matches!(
            parse_target("192.168.1.240", "x").ok(),
            Some(Target::LbIp(_))
        ));
        match parse_target("svc/web", "shop").ok() {
            Some(Target::Service { namespace, name }) => {
                assert_eq!((namespace.as_str(), name.as_str()), ("shop", "web"))
            }
            other => panic!("{other:?}"),
        }
        match parse_target("prod/api", "default").ok() {
            Some(Target::Service { namespace, .. }) => assert_eq!(namespace, "prod"),
            other => panic!("{other:?}"),
        }
        assert!(parse_target("svc/", "x").is_err());
    }
}
