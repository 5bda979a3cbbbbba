//! The pages in a real browser (Debian's chromium, headless): the DOM Chromium builds has the
//! verdict, one element per hop with its colour class, the failing hop, evidence and next
//! steps; the page makes no network request (checked from Chromium's net log, with a control
//! page that does make one); a screenshot is kept in `target/test-artifacts/` and is not blank.
//! Fails without chromium unless HOPDUMP_SKIP_BROWSER=1.
#![allow(clippy::unwrap_used)]

mod chrome;

use std::path::{Path, PathBuf};

use hopdump_engine::TraceReport;
use hopdump_report::{hop_class, trace_html};

fn fixture(name: &str) -> TraceReport {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios/report")
        .join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn artifacts() -> PathBuf {
    chrome::artifacts_dir(env!("CARGO_TARGET_TMPDIR"))
}

/// The net-log check sees a page's request: a control page with an external image.
#[test]
fn net_log_detects_a_page_request() {
    if !chrome::browser_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("control.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><img src=\"http://203.0.113.9/x.png\"></body></html>",
    )
    .unwrap();
    let dom = chrome::dump_dom(&page);
    assert_eq!(dom.requests, vec!["http://203.0.113.9/x.png".to_string()]);
}

fn render(name: &str) -> (TraceReport, chrome::Dom, Vec<u8>) {
    let r = fixture(name);
    let page = artifacts().join(format!("report-{name}.html"));
    std::fs::write(&page, trace_html(&r)).unwrap();
    let dom = chrome::dump_dom(&page);
    let png = chrome::screenshot(&page, &artifacts().join(format!("report-{name}.png")));
    (r, dom, png)
}

#[test]
fn trace_pages_render_offline_with_every_hop() {
    if !chrome::browser_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let blank = chrome::blank_png(dir.path());
    for name in ["forward-drop", "healthy", "announcer-down"] {
        let (r, dom, png) = render(name);
        assert!(dom.requests.is_empty(), "{name}: {:?}", dom.requests);
        let d = &dom.dom;
        assert!(
            d.contains(&format!("data-code=\"{}\"", r.verdict.code)),
            "{name}"
        );
        assert_eq!(chrome::count(d, "<g class=\"hop "), r.hops.len(), "{name}");
        for (i, h) in r.hops.iter().enumerate() {
            let open = format!("<g class=\"hop {}", hop_class(&r, h));
            let id = format!("id=\"hop-{}\"", i + 1);
            assert!(
                d.split(open.as_str())
                    .skip(1)
                    .any(|g| g.split('>').next().unwrap().contains(&id)),
                "{name}: hop {} drawn as {}",
                i + 1,
                hop_class(&r, h)
            );
        }
        let failing = usize::from(r.verdict.code != "ok");
        assert_eq!(chrome::count(d, "data-failing=\"true\""), failing, "{name}");
        for e in &r.verdict.evidence {
            assert!(d.contains(&chrome::dom_text(e)), "{name}: evidence {e}");
        }
        for s in &r.verdict.next_steps {
            assert!(d.contains(&format!(
                "<pre class=\"cmd\"><code>{}</code></pre>",
                chrome::dom_text(s)
            )));
        }
        assert_eq!(chrome::png_size(&png), (1400, 1800));
        assert!(
            png.len() > 4 * blank.len(),
            "{name}: screenshot {} bytes vs blank {}",
            png.len(),
            blank.len()
        );
    }
}

/// Markup in a node name or a rule comment stays text in the browser's DOM.
#[test]
fn injected_script_stays_text_in_the_dom() {
    if !chrome::browser_allowed() {
        return;
    }
    let mut r = fixture("forward-drop");
    let evil =
        "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";
    for h in &mut r.hops {
        h.node = format!("n{evil}");
    }
    r.verdict.evidence.push(format!(
        "stopped by (host-firewall): -A FORWARD -m comment --comment \"{evil}\" -j DROP"
    ));
    let page = artifacts().join("report-injection.html");
    std::fs::write(&page, trace_html(&r)).unwrap();
    let dom = chrome::dump_dom(&page);
    assert!(!dom.dom.contains("<script"), "a script element in the DOM");
    assert!(!dom.dom.contains("<img"), "an img element in the DOM");
    assert!(!dom.dom.contains("pwned</title>"));
    assert!(dom.dom.contains("&lt;script&gt;"));
    assert!(dom.requests.is_empty(), "{:?}", dom.requests);
}
