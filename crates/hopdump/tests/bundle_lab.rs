//! Bundles round trip: `bundle collect` in the lab, `diagnose` elsewhere (another process,
//! an unprivileged user) gives the same verdict; captures keep headers only unless
//! `--with-payload`; broken bundles are one-line errors.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use hopdump_engine::TraceReport;
use hopdump_testkit::lab::fault::Fault;
use hopdump_testkit::lab::{Cluster, Spec};

fn collect(c: &Cluster, out: &Path, extra: &[&str]) -> TraceReport {
    let mut cmd = hopdump();
    cmd.args(["bundle", "collect"])
        .arg(format!("{}:80/tcp", c.lb(false)))
        .args(["--json", "--client"])
        .arg(format!("netns:{}", c.lab().ns("client")))
        .arg("-o")
        .arg(out)
        .args(extra);
    for n in &c.nodes {
        cmd.arg("--node")
            .arg(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    let o = cmd.output().unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `diagnose --json` as user nobody, without any capability (util-linux's setpriv).
fn diagnose(bundle: &Path) -> TraceReport {
    use std::os::unix::fs::PermissionsExt;
    require("setpriv");
    std::fs::set_permissions(bundle, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--",
    ])
    .arg(env!("CARGO_BIN_EXE_hopdump"));
    let o = cmd
        .args(["diagnose", "--json"])
        .arg(bundle)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn files(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let n = e.path().unwrap().display().to_string();
            let mut d = Vec::new();
            e.read_to_end(&mut d).unwrap();
            (n, d)
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn collect_then_diagnose_elsewhere_gives_the_same_verdict() {
    if !lab_allowed() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mut c = Cluster::build(Fault::ForwardDrop.spec(Spec::default())).unwrap();
    Fault::ForwardDrop.inject(&mut c).unwrap();
    let b = d.path().join("b.tar.gz");
    let live = collect(&c, &b, &[]);
    drop(c);
    assert_eq!(live.verdict.code, "firewall_drop");
    // The verdict is computed again from the evidence, not copied from trace.json: repack
    // the bundle without it.
    let stripped = d.path().join("no-report.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&stripped).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, data) in files(&b).into_iter().filter(|(n, _)| n != "trace.json") {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_cksum();
            tar.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let off = diagnose(&stripped);
    assert_eq!(
        off.verdict, live.verdict,
        "same verdict, evidence and next steps"
    );
    assert_eq!(off.hops, live.hops);
    let fs = files(&b);
    let names: Vec<&str> = fs.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "manifest.json",
        "evidence.json",
        "trace.json",
        "capture.pcapng",
        "nodes/node1/iptables-nft.txt",
        "nodes/node1/nft.json",
        "nodes/node1/conntrack.txt",
        "nodes/node1/routes.json",
        "nodes/node1/neighbours.json",
        "nodes/node1/sysctls.txt",
        "nodes/node2/links.json",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let get = |n: &str| &fs.iter().find(|(f, _)| f == n).unwrap().1;
    assert!(contains(
        get("nodes/node1/iptables-nft.txt"),
        b"host firewall"
    ));
    assert!(contains(get("nodes/node1/sysctls.txt"), b"rp_filter"));
}

#[test]
fn captures_keep_headers_only_unless_asked() {
    if !lab_allowed() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::build(Spec::default()).unwrap();
    let plain = d.path().join("plain.tar.gz");
    let full = d.path().join("full.tar.gz");
    assert_eq!(collect(&c, &plain, &[]).verdict.code, "ok");
    assert_eq!(collect(&c, &full, &["--with-payload"]).verdict.code, "ok");
    let cap = |b: &Path| {
        files(b)
            .into_iter()
            .find(|(n, _)| n == "capture.pcapng")
            .unwrap()
            .1
    };
    // The probes' HTTP requests and answers travel in the payload.
    assert!(
        contains(&cap(&full), b"HTTP/1."),
        "payload kept with --with-payload"
    );
    assert!(!contains(&cap(&plain), b"HTTP/1."), "no payload by default");
    // Still a valid capture that tshark reads, every hop an interface.
    let p = d.path().join("plain.pcapng");
    std::fs::write(&p, cap(&plain)).unwrap();
    let o = Command::new("tshark").arg("-r").arg(&p).output().unwrap();
    assert!(o.status.success() && !o.stdout.is_empty());
}

#[test]
fn broken_bundles_are_one_line_errors() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.tar.gz");
    std::fs::write(&p, b"not a bundle at all").unwrap();
    let o = run(&["diagnose", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(e.lines().count(), 1, "{e}");
    let o = run(&["diagnose", "/nonexistent/b.tar.gz"]);
    assert_eq!(o.status.code(), Some(2));
}
