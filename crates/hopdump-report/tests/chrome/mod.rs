//! Headless Chromium for the report tests: dump the DOM, take a screenshot, and list the
//! network requests the page itself made (from Chromium's net log). Shared with
//! `crates/hopdump/tests/report_lab.rs` through `#[path]`.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Browser tests fail when chromium is missing unless HOPDUMP_SKIP_BROWSER=1 says to skip.
pub fn browser_allowed() -> bool {
    if std::env::var_os("HOPDUMP_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("HOPDUMP_SKIP_BROWSER=1: browser test skipped");
        return false;
    }
    assert!(
        Command::new("chromium").arg("--version").output().is_ok(),
        "chromium is needed by this test: `apt-get install chromium` (scripts/setup does), \
         or set HOPDUMP_SKIP_BROWSER=1 to skip it explicitly"
    );
    true
}

/// `target/test-artifacts/` (created), where screenshots and rendered pages are kept.
pub fn artifacts_dir(target_tmpdir: &str) -> PathBuf {
    let d = Path::new(target_tmpdir)
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Chromium with a private profile, no background services, and every host name mapped to
/// nothing, so even a request that slipped through could not leave the machine.
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new("timeout");
    c.args([
        "120",
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args([
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]);
    c
}

fn url_of(page: &Path) -> String {
    format!("file://{}", page.canonicalize().unwrap().display())
}

pub struct Dom {
    /// The DOM after load, serialised.
    pub dom: String,
    /// URLs the page asked the network stack for (not file: or data:).
    pub requests: Vec<String>,
}

/// Load `page` and return its DOM and the page's own network requests.
pub fn dump_dom(page: &Path) -> Dom {
    let tmp = tempfile::tempdir().unwrap();
    let netlog = tmp.path().join("net.json");
    let o = chromium(&tmp.path().join("profile"))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--dump-dom")
        .arg(url_of(page))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(&netlog).unwrap()).unwrap();
    Dom {
        dom: String::from_utf8(o.stdout).unwrap(),
        requests: page_requests(&log),
    }
}

/// Requests made on behalf of a file:// page: Chromium's own background requests carry
/// another (or no) network isolation key; the page's carry `file://`.
pub fn page_requests(log: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let p = e.get("params")?;
            let url = p.get("url")?.as_str()?;
            let nik = p.get("network_isolation_key")?.as_str()?;
            (nik.contains("file://") && !url.starts_with("file:") && !url.starts_with("data:"))
                .then(|| url.to_string())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Screenshot `page` at 1400x1800 into `png`; returns the PNG's bytes.
pub fn screenshot(page: &Path, png: &Path) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let _ = std::fs::remove_file(png);
    let o = chromium(&tmp.path().join("profile"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,1800")
        .arg("--hide-scrollbars")
        .arg(url_of(page))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(png).unwrap()
}

/// Width and height from a PNG's IHDR.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "PNG too short");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// A screenshot of an empty page of the same size: what "blank" weighs.
pub fn blank_png(dir: &Path) -> Vec<u8> {
    let page = dir.join("blank.html");
    std::fs::write(&page, "<!DOCTYPE html><html><body></body></html>").unwrap();
    screenshot(&page, &dir.join("blank.png"))
}

/// Occurrences of `needle` in `hay`.
pub fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Text as Chromium serialises it in a dumped DOM (only `&`, `<`, `>` and NBSP are escaped).
pub fn dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}
