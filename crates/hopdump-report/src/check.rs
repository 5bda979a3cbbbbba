//! The `hopdump check --report` page: the ✔/✘ lines with their fixes, a small diagram of
//! service → pool → announcer → endpoints coloured by the lines that judge each object, the
//! announcer, the eligible nodes in election order and the ineligible ones with why.

use std::fmt::Write as _;

use hopdump_kube::check::{CheckLine, CheckReport, Status};

use crate::html::{self, esc};
use crate::svg::{self, Cell, Column};

fn status_class(s: Option<Status>) -> &'static str {
    match s {
        Some(Status::Pass) => "st-ok",
        Some(Status::Fail) => "st-fail",
        Some(Status::Skip) | None => "st-unknown",
    }
}

fn line<'a>(r: &'a CheckReport, id: &str) -> Option<&'a CheckLine> {
    r.lines.iter().find(|l| l.id == id)
}

fn status(r: &CheckReport, id: &str) -> Option<Status> {
    line(r, id).map(|l| l.status)
}

fn stage(id: &str, class: &str, title: &str, lines: Vec<String>, tip: String) -> Cell {
    Cell {
        class: class.to_string(),
        kind: "stage",
        id: format!("stage-{id}"),
        data: vec![("stage", id.to_string())],
        title: title.to_string(),
        lines,
        tip,
        failing: false,
        lane: None,
    }
}

fn dst(r: &CheckReport) -> String {
    let svc = &r.service;
    let ip = match svc.lb_ip {
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        Some(ip) => ip.to_string(),
        None => "<no LB IP>".to_string(),
    };
    match svc.primary() {
        Some(p) => format!("{ip}:{}/{}", p.port, p.protocol.as_str()),
        None => ip,
    }
}

fn columns(r: &CheckReport) -> Vec<Column> {
    let svc = &r.service;
    let lb = line(r, "lb_ip_assigned");
    let service = stage(
        "service",
        status_class(lb.map(|l| l.status)),
        "Service",
        vec![format!("{}/{}", svc.namespace, svc.name), dst(r)],
        lb.map(|l| format!("{}: {}", l.title, l.detail))
            .unwrap_or_default(),
    );
    let pool = match &r.pool {
        Some(p) => stage(
            "pool",
            "st-ok",
            "IPAddressPool",
            vec![p.clone()],
            format!("allocated from {p}"),
        ),
        None => stage(
            "pool",
            if svc.lb_ip.is_some() {
                "st-unknown"
            } else {
                "st-fail"
            },
            "IPAddressPool",
            vec!["no known pool".into()],
            "no IPAddressPool holds the service's address".into(),
        ),
    };
    let ann_status = status(r, "announcer");
    let announcer = match &r.announcer {
        Some(a) => {
            let mut lines = vec![a.node.clone()];
            if !a.interfaces.is_empty() {
                lines.push(format!("on {}", a.interfaces.join(", ")));
            }
            if !a.others.is_empty() {
                lines.push(format!("also: {}", a.others.join(", ")));
            }
            stage(
                "announcer",
                status_class(ann_status),
                "Announcer (L2)",
                lines,
                format!("{} (from {})", a.node, a.source),
            )
        }
        None => stage(
            "announcer",
            if ann_status == Some(Status::Skip) {
                "st-unknown"
            } else {
                "st-fail"
            },
            "Announcer (L2)",
            vec![
                "none known".into(),
                r.eligible_nodes
                    .first()
                    .map(|n| format!("expected: {n}"))
                    .unwrap_or_default(),
            ],
            "no ServiceL2Status or nodeAssigned event names an announcer".into(),
        ),
    };
    let eps: Vec<Cell> = svc
        .primary()
        .map(|p| {
            p.endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let ipport = match (e.ip, e.port) {
                        (std::net::IpAddr::V6(ip), Some(port)) => format!("[{ip}]:{port}"),
                        (ip, Some(port)) => format!("{ip}:{port}"),
                        (ip, None) => format!("{ip}:?"),
                    };
                    let mut c = stage(
                        "endpoint",
                        if e.ready { "st-ok" } else { "st-fail" },
                        if e.ready {
                            "Endpoint (ready)"
                        } else {
                            "Endpoint (not ready)"
                        },
                        vec![
                            ipport.clone(),
                            e.node
                                .as_deref()
                                .map(|n| format!("on {n}"))
                                .unwrap_or_default(),
                            e.pod
                                .as_ref()
                                .map(|(ns, n)| format!("{ns}/{n}"))
                                .unwrap_or_default(),
                        ],
                        format!(
                            "{ipport} ready={} serving={} terminating={}",
                            e.ready, e.serving, e.terminating
                        ),
                    );
                    c.id = format!("stage-endpoint-{}", i + 1);
                    c.lines.retain(|l| !l.is_empty());
                    c
                })
                .collect()
        })
        .unwrap_or_default();
    let eps = if eps.is_empty() {
        vec![stage(
            "endpoint",
            "st-fail",
            "Endpoints",
            vec!["none".into()],
            "the service has no endpoints".into(),
        )]
    } else {
        eps
    };
    let mut announcer = announcer;
    announcer.lines.retain(|l| !l.is_empty());
    vec![
        Column {
            title: "Service".into(),
            cells: vec![service],
        },
        Column {
            title: "Pool".into(),
            cells: vec![pool],
        },
        Column {
            title: "Announcer".into(),
            cells: vec![announcer],
        },
        Column {
            title: "Endpoints".into(),
            cells: eps,
        },
    ]
}

/// Render the check report as one self-contained HTML page.
pub fn check_html(r: &CheckReport) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let svc = &r.service;
    let name = format!("{}/{}", svc.namespace, svc.name);
    let failed = r.failed();
    html::open(
        &mut out,
        &format!(
            "hopdump check {name} — {}",
            if failed { "problems" } else { "ok" }
        ),
    );
    let _ = writeln!(
        out,
        "<h1>hopdump check <code>{}</code> <code>{}</code></h1>",
        esc(&name),
        esc(&dst(r))
    );
    let fails: Vec<&CheckLine> = r
        .lines
        .iter()
        .filter(|l| l.status == Status::Fail)
        .collect();
    let _ = writeln!(
        out,
        "<section id=\"verdict\" class=\"verdict {}\" data-ok=\"{}\"><div><span class=\"mark\">{}</span> <span class=\"code\">{}</span></div><div class=\"summary\">{}</div></section>",
        if failed { "verdict-fail" } else { "verdict-ok" },
        !failed,
        if failed { "✘" } else { "✔" },
        if failed { "problems found" } else { "ok" },
        esc(&if failed {
            fails
                .iter()
                .map(|l| l.title.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            "every check passed".to_string()
        })
    );

    html::h2(&mut out, "path", "Service → pool → announcer → endpoints");
    out.push_str("<div class=\"diagram\">\n");
    svg::diagram(&mut out, &format!("objects of {name}"), &columns(r));
    out.push_str("</div>\n");

    html::h2(&mut out, "checks", "Checks");
    html::thead(&mut out, &["", "check", "detail", "fix"]);
    for l in &r.lines {
        let (mark, cls) = match l.status {
            Status::Pass => ("✔", "pass"),
            Status::Fail => ("✘", "fail"),
            Status::Skip => ("–", "skip"),
        };
        let _ = write!(
            out,
            "<tr class=\"check {}\" data-id=\"{}\" data-status=\"{cls}\"><td class=\"status {cls}\">{mark}</td>",
            status_class(Some(l.status)),
            esc(l.id)
        );
        html::td(&mut out, &l.title);
        html::td(&mut out, &l.detail);
        match &l.fix {
            Some(f) => {
                let _ = write!(
                    out,
                    "<td><pre class=\"cmd\"><code>{}</code></pre></td>",
                    esc(f)
                );
            }
            None => html::td(&mut out, ""),
        }
        out.push_str("</tr>\n");
    }
    html::tend(&mut out);

    html::h2(&mut out, "announcer", "Announcer");
    match &r.announcer {
        Some(a) => {
            html::thead(
                &mut out,
                &["node", "source", "interfaces", "also claimed by"],
            );
            out.push_str("<tr>");
            html::td(&mut out, &a.node);
            html::td(&mut out, &a.source);
            html::td(
                &mut out,
                &if a.interfaces.is_empty() {
                    "all".to_string()
                } else {
                    a.interfaces.join(", ")
                },
            );
            html::td(&mut out, &a.others.join(", "));
            out.push_str("</tr>\n");
            html::tend(&mut out);
        }
        None => html::none(&mut out, "no announcer known"),
    }

    html::h2(
        &mut out,
        "eligible",
        "Eligible nodes (MetalLB election order)",
    );
    if r.eligible_nodes.is_empty() {
        html::none(&mut out, "no node can announce the service");
    } else {
        out.push_str("<ol class=\"eligible\">\n");
        for n in &r.eligible_nodes {
            let _ = writeln!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ol>\n");
    }
    if !r.ineligible_nodes.is_empty() {
        html::thead(&mut out, &["ineligible node", "why"]);
        for (n, why) in &r.ineligible_nodes {
            out.push_str("<tr class=\"st-unknown\">");
            html::td(&mut out, n);
            html::td(&mut out, &why.join("; "));
            out.push_str("</tr>\n");
        }
        html::tend(&mut out);
    }

    html::h2(&mut out, "endpoints", "Endpoints");
    match svc.primary() {
        Some(p) if !p.endpoints.is_empty() => {
            html::thead(
                &mut out,
                &[
                    "address",
                    "port",
                    "node",
                    "pod",
                    "ready",
                    "serving",
                    "terminating",
                ],
            );
            for e in &p.endpoints {
                let _ = write!(
                    out,
                    "<tr class=\"{}\">",
                    if e.ready { "st-ok" } else { "st-fail" }
                );
                html::tdc(&mut out, &e.ip.to_string());
                html::td(&mut out, &e.port.map(|p| p.to_string()).unwrap_or_default());
                html::td(&mut out, e.node.as_deref().unwrap_or(""));
                html::td(
                    &mut out,
                    &e.pod
                        .as_ref()
                        .map(|(ns, n)| format!("{ns}/{n}"))
                        .unwrap_or_default(),
                );
                for b in [e.ready, e.serving, e.terminating] {
                    html::td(&mut out, if b { "yes" } else { "no" });
                }
                out.push_str("</tr>\n");
            }
            html::tend(&mut out);
        }
        _ => html::none(&mut out, "no endpoints"),
    }

    if !r.notes.is_empty() {
        html::h2(&mut out, "notes", "Notes");
        out.push_str("<ul class=\"notes\">\n");
        for n in &r.notes {
            let _ = writeln!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>\n");
    }
    html::close(
        &mut out,
        "generated by hopdump from the same data as `hopdump check --json`",
    );
    out
}
