//! `--report FILE.html` end to end: the real binary traces a faulty lab cluster with `--json`
//! and `--report` in one run, and the page must name the JSON's verdict code, node and hop,
//! render in Chromium without a single network request, and mark the failing hop; `check
//! --from-dir --report` does the same for the cluster fixtures. Also writes the fixtures of
//! `tests/scenarios/report/` (ignored test `make_report_fixtures`).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[path = "../../hopdump-report/tests/chrome/mod.rs"]
mod chrome;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hopdump_engine::TraceReport;
use hopdump_testkit::Lab;
use hopdump_testkit::lab::fault::Fault;
use hopdump_testkit::lab::{Cluster, Spec};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn artifacts() -> PathBuf {
    chrome::artifacts_dir(env!("CARGO_TARGET_TMPDIR"))
}

/// A lab with a prefix unique to this test process and case (`rpt<PID><tag>`), torn down in
/// `Drop`.
fn cluster(fault: Option<Fault>, tag: &str) -> (Cluster, Option<String>) {
    let lab = Lab::with_prefix(&format!("rpt{}{tag}", std::process::id())).unwrap();
    let spec = match fault {
        Some(f) => f.spec(Spec::default()),
        None => Spec::default(),
    };
    let mut c = Cluster::build_in(lab, spec).unwrap();
    let a = fault.map(|f| f.inject(&mut c).unwrap());
    (c, a)
}

/// `hopdump trace LB:80/tcp --json [--report FILE]` on the lab; (exit code, JSON report).
fn trace(c: &Cluster, report: Option<&Path>) -> (i32, TraceReport) {
    let mut args: Vec<String> = vec![
        "trace".into(),
        format!("{}:80/tcp", c.lb(false)),
        "--json".into(),
        "--client".into(),
        format!("netns:{}", c.lab().ns("client")),
    ];
    for n in &c.nodes {
        args.push("--node".into());
        args.push(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    if let Some(p) = report {
        args.push("--report".into());
        args.push(p.display().to_string());
    }
    let o = hopdump().args(&args).output().unwrap();
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(&o));
    let r: TraceReport = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (code, r)
}

fn attr(name: &str, value: &str) -> String {
    format!("{name}=\"{}\"", hopdump_report::esc(value))
}

#[test]
fn trace_report_names_the_json_verdict_and_renders_offline() {
    if !lab_allowed() {
        return;
    }
    let (c, announcer) = cluster(Some(Fault::ForwardDrop), "a");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("trace.html");
    let (code, r) = trace(&c, Some(&page));
    assert_eq!(code, 1);
    assert_eq!(r.verdict.code, "firewall_drop", "{r:#?}");
    assert_eq!(r.verdict.node, announcer);
    let mode = std::fs::metadata(&page).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "report file mode");

    let html = std::fs::read_to_string(&page).unwrap();
    let hop = r.verdict.hop.clone().unwrap();
    let (hop_node, hop_iface) = hop.split_once('/').unwrap();
    for needle in [
        attr("data-code", &r.verdict.code),
        attr("data-node", r.verdict.node.as_deref().unwrap()),
        attr("data-hop", &hop),
    ] {
        assert!(html.contains(&needle), "{needle} in the page");
    }
    std::fs::copy(&page, artifacts().join("report_lab-trace.html")).unwrap();

    if !chrome::browser_allowed() {
        return;
    }
    let dom = chrome::dump_dom(&page);
    assert!(
        dom.requests.is_empty(),
        "network requests: {:?}",
        dom.requests
    );
    let d = &dom.dom;
    assert!(d.contains("id=\"verdict\""));
    assert!(d.contains(&attr("data-code", "firewall_drop")));
    assert!(d.contains(&chrome::dom_text(&r.verdict.summary)));
    // One drawn element per hop, and the failing one is the verdict's hop.
    assert_eq!(chrome::count(d, "<g class=\"hop "), r.hops.len());
    assert_eq!(chrome::count(d, "data-failing=\"true\""), 1);
    let failing = d
        .split("<g class=\"hop ")
        .skip(1)
        .find(|g| {
            g.split('>')
                .next()
                .unwrap()
                .contains("data-failing=\"true\"")
        })
        .unwrap();
    let head = failing.split('>').next().unwrap();
    assert!(head.contains(&attr("data-node", hop_node)), "{head}");
    assert!(head.contains(&attr("data-iface", hop_iface)), "{head}");
    // The rules stage says the firewall dropped it; evidence and next steps are on the page.
    assert!(d.contains("DROP: host firewall"));
    for e in r.verdict.evidence.iter().take(3) {
        assert!(d.contains(&chrome::dom_text(e)), "evidence {e:?}");
    }
    for s in &r.verdict.next_steps {
        assert!(
            d.contains(&format!(
                "<pre class=\"cmd\"><code>{}</code></pre>",
                chrome::dom_text(s)
            )),
            "next step {s:?}"
        );
    }
    let png = chrome::screenshot(&page, &artifacts().join("report_lab-trace.png"));
    assert_eq!(chrome::png_size(&png), (1400, 1800));
    let blank = chrome::blank_png(dir.path());
    assert!(
        png.len() > 4 * blank.len(),
        "screenshot {} bytes vs blank {} bytes",
        png.len(),
        blank.len()
    );
}

/// `check --from-dir --report`: the page's ✘ lines are the JSON's failed checks.
#[test]
fn check_report_from_dir_matches_json() {
    let dir = tempfile::tempdir().unwrap();
    for (case, failed) in [("split-brain", true), ("healthy", false)] {
        let page = dir.path().join(format!("check-{case}.html"));
        let from = repo().join("tests/scenarios/kube").join(case);
        let o = run(&[
            "check",
            "svc/web",
            "--from-dir",
            from.to_str().unwrap(),
            "--json",
            "--report",
            page.to_str().unwrap(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(if failed { 1 } else { 0 }),
            "{}",
            stderr(&o)
        );
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        let fails: Vec<&str> = j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "fail")
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(fails.is_empty(), !failed);
        assert_eq!(
            chrome::count(&html, "data-status=\"fail\""),
            fails.len(),
            "{case}"
        );
        for id in &fails {
            assert!(
                html.contains(&format!("data-id=\"{id}\" data-status=\"fail\"")),
                "{case}: {id}"
            );
        }
        let announcer = j["announcer"]["node"].as_str().unwrap();
        assert!(html.contains(&format!("<td>{announcer}</td>")), "{case}");
        std::fs::copy(
            &page,
            artifacts().join(format!("report_lab-check-{case}.html")),
        )
        .unwrap();
        if chrome::browser_allowed() {
            let dom = chrome::dump_dom(&page);
            assert!(dom.requests.is_empty(), "{:?}", dom.requests);
            assert!(dom.dom.contains(&format!("data-ok=\"{}\"", !failed)));
            // service, pool, announcer, and one box per endpoint (or one saying "none").
            let eps = chrome::count(&dom.dom, "id=\"stage-endpoint-");
            assert_eq!(chrome::count(&dom.dom, "<g class=\"stage "), 3 + eps.max(1));
            let png = chrome::screenshot(
                &page,
                &artifacts().join(format!("report_lab-check-{case}.png")),
            );
            assert_eq!(chrome::png_size(&png), (1400, 1800));
        }
    }
}

/// A report that cannot be written is hopdump failing: exit 2, one line.
#[test]
fn unwritable_report_is_exit_2() {
    let from = repo().join("tests/scenarios/kube/healthy");
    let o = run(&[
        "check",
        "svc/web",
        "--from-dir",
        from.to_str().unwrap(),
        "--report",
        "/nonexistent-dir/x.html",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("writing report /nonexistent-dir/x.html"), "{e}");
}

/// Regenerates `tests/scenarios/report/*.json` from real traces of lab faults (root; see the
/// README there): `cargo test -p hopdump --test report_lab -- --ignored make_report_fixtures`.
#[test]
#[ignore]
fn make_report_fixtures() {
    if !lab_allowed() {
        return;
    }
    let out = repo().join("tests/scenarios/report");
    std::fs::create_dir_all(&out).unwrap();
    for (name, fault) in [
        ("healthy", None),
        ("forward-drop", Some(Fault::ForwardDrop)),
        ("announcer-down", Some(Fault::AnnouncerDown)),
        ("stale-endpoint", Some(Fault::StaleEndpoint)),
    ] {
        let (c, _) = cluster(fault, "f");
        let (_, r) = trace(&c, None);
        let mut s = serde_json::to_string_pretty(&r).unwrap();
        s.push('\n');
        std::fs::write(out.join(format!("{name}.json")), s).unwrap();
        eprintln!(
            "{name}: {} {:?} {:?}",
            r.verdict.code, r.verdict.node, r.verdict.hop
        );
        drop(c);
    }
}
