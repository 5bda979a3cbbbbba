//! `hopdump bundle collect` and `hopdump diagnose`: one compressed file to hand a colleague.
//! `collect` runs a trace and packs its evidence, the verdict, the hops' capture (headers
//! only unless `--with-payload`: payloads hold secrets), each node's raw state (rules of every
//! backend, conntrack, links, routes, neighbours, the sysctls that matter) and the cluster's
//! objects when given; `diagnose` gives the same verdict from the file alone, offline, with
//! no privilege — the engine is pure, so the same evidence yields the same verdict.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hopdump_capture::Netns;
use serde::{Deserialize, Serialize};

use crate::cli::TraceArgs;
use crate::trace::remote::Access;

/// Schema of `manifest.json`.
pub const BUNDLE_SCHEMA: &str = "hopdump.bundle/1";

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Trace a target and pack everything needed to diagnose it elsewhere into one
    /// .tar.gz (manifest, evidence, verdict, capture, each node's rules/conntrack/links/
    /// routes/neighbours/sysctls, cluster objects).
    Collect(CollectArgs),
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    #[command(flatten)]
    pub trace: TraceArgs,
    /// The bundle to write.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "hopdump-bundle.tar.gz"
    )]
    pub output: PathBuf,
    /// Keep packet payloads in the capture (default: headers only; payloads hold secrets).
    #[arg(long = "with-payload")]
    pub with_payload: bool,
}

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// A bundle made by `hopdump bundle collect`.
    pub bundle: PathBuf,
    /// Print the versioned JSON document (hopdump.trace/v1) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the bundle holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub hopdump_version: String,
    pub created_unix_ms: u64,
    /// The trace target as given (IP:PORT/proto or svc/NAME).
    pub target: String,
    /// Service the target named (`namespace/name`), to check the cluster objects again.
    pub service: Option<String>,
    pub with_payload: bool,
    /// (node, how it was reached, what was collected or why not)
    pub nodes: Vec<(String, String, String)>,
    /// Every file in the archive with its size.
    pub files: Vec<(String, u64)>,
}

fn run_tool(args: &[&str]) -> String {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => format!(
            "# {} failed: {}\n",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("# {}: {e}\n", args.join(" ")),
    }
}

/// A node's raw state, read from inside its namespace: (file name, contents).
pub(crate) fn node_state(netns: &Netns) -> Result<Vec<(String, Vec<u8>)>> {
    let files = crate::node_state::in_netns(netns, || {
        let mut v: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, cmd) in [
            ("iptables-nft.txt", &["iptables-save", "-c"][..]),
            ("ip6tables-nft.txt", &["ip6tables-save", "-c"][..]),
            ("iptables-legacy.txt", &["iptables-legacy-save", "-c"][..]),
            ("ip6tables-legacy.txt", &["ip6tables-legacy-save", "-c"][..]),
            ("nft.json", &["nft", "-j", "list", "ruleset"][..]),
            ("ipvs.txt", &["ipvsadm", "-Ln"][..]),
            ("links.json", &["ip", "-j", "-d", "link", "show"][..]),
            ("addrs.json", &["ip", "-j", "addr", "show"][..]),
            (
                "routes.json",
                &["ip", "-j", "route", "show", "table", "all"][..],
            ),
            (
                "routes6.json",
                &["ip", "-j", "-6", "route", "show", "table", "all"][..],
            ),
            ("ip-rules.json", &["ip", "-j", "rule", "show"][..]),
            ("neighbours.json", &["ip", "-j", "neigh", "show"][..]),
        ] {
            v.push((name.to_string(), run_tool(cmd).into_bytes()));
        }
        let mut sysctls = String::new();
        let mut keys: Vec<String> = vec![
            "net/ipv4/ip_forward".into(),
            "net/ipv6/conf/all/forwarding".into(),
            "net/bridge/bridge-nf-call-iptables".into(),
            "net/bridge/bridge-nf-call-ip6tables".into(),
            "net/netfilter/nf_conntrack_max".into(),
            "net/netfilter/nf_conntrack_count".into(),
        ];
        if let Ok(rd) = std::fs::read_dir("/proc/sys/net/ipv4/conf") {
            for e in rd.flatten() {
                let i = e.file_name().to_string_lossy().into_owned();
                for k in ["rp_filter", "arp_ignore", "arp_announce", "forwarding"] {
                    keys.push(format!("net/ipv4/conf/{i}/{k}"));
                }
            }
        }
        for k in keys {
            if let Ok(val) = std::fs::read_to_string(format!("/proc/sys/{k}")) {
                sysctls.push_str(&format!("{} = {}\n", k.replace('/', "."), val.trim()));
            }
        }
        v.push(("sysctls.txt".into(), sysctls.into_bytes()));
        v
    })?;
    let mut files = files;
    let ct = match hopdump_node::in_netns(netns, "conntrack", hopdump_node::conntrack::dump) {
        Ok(entries) => entries
            .iter()
            .map(|e| hopdump_node::analysis::conntrack::entry_line(e) + "\n")
            .collect::<String>(),
        Err(e) => format!("# conntrack: {e}\n"),
    };
    files.push(("conntrack.txt".into(), ct.into_bytes()));
    Ok(files)
}

fn add(
    tar: &mut tar::Builder<flate2::write::GzEncoder<std::fs::File>>,
    files: &mut Vec<(String, u64)>,
    name: &str,
    data: &[u8],
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h.set_cksum();
    tar.append_data(&mut h, name, data)
        .with_context(|| format!("adding {name} to the bundle"))?;
    files.push((name.to_string(), data.len() as u64));
    Ok(())
}

pub fn collect(mut a: CollectArgs) -> Result<ExitCode> {
    let target_given = a.trace.target.clone();
    let service = target_given
        .strip_prefix("svc/")
        .or_else(|| target_given.strip_prefix("service/"))
        .map(|n| format!("{}/{n}", a.trace.cluster.namespace));
    let t = crate::cmd_trace::execute(&mut a.trace, None)?;
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        out,
        flate2::Compression::default(),
    ));
    let mut files = Vec::new();
    let mut nodes = Vec::new();
    add(
        &mut tar,
        &mut files,
        "evidence.json",
        &serde_json::to_vec_pretty(&t.ev)?,
    )?;
    let report = hopdump_engine::TraceReport::build(&t.ev, &t.verdict, &t.findings)
        .context("no target to report")?;
    add(
        &mut tar,
        &mut files,
        "trace.json",
        &serde_json::to_vec_pretty(&report)?,
    )?;
    add(
        &mut tar,
        &mut files,
        "capture.pcapng",
        &t.pcapng_bytes(!a.with_payload)?,
    )?;
    // Each node's raw state: read here, or by its agent over the trace's own connection
    // (nodes found from the cluster by `svc/NAME` included).
    for (name, ns, access) in t.nodes() {
        let (how, got) = match access {
            Access::Local => (ns.to_string(), node_state(ns).map_err(|e| format!("{e:#}"))),
            Access::Agent(r) => (
                format!("agent {}", r.client.addr),
                r.client
                    .call::<Vec<(String, String)>>(&hopdump_agent::Call::NodeState(
                        hopdump_agent::proto::NetnsReq::default(),
                    ))
                    .map(|fs| {
                        fs.into_iter()
                            .filter(|(f, _)| !f.contains('/') && !f.starts_with('.'))
                            .map(|(f, text)| (f, text.into_bytes()))
                            .collect()
                    })
                    .map_err(|e| e.to_string()),
            ),
            Access::Down(why) => ("agent".into(), Err(why.clone())),
        };
        match got {
            Ok(fs) => {
                for (f, data) in fs {
                    add(&mut tar, &mut files, &format!("nodes/{name}/{f}"), &data)?;
                }
                nodes.push((name.to_string(), how, "raw state collected".into()));
            }
            Err(e) => nodes.push((name.to_string(), how, format!("not collected: {e}"))),
        }
    }
    if let Some(dir) = &a.trace.cluster.from_dir {
        for e in walk(dir)? {
            let rel = e.strip_prefix(dir).unwrap_or(&e).display().to_string();
            let data = std::fs::read(&e).with_context(|| format!("reading {}", e.display()))?;
            add(&mut tar, &mut files, &format!("k8s/{rel}"), &data)?;
        }
    }
    let manifest = Manifest {
        schema: BUNDLE_SCHEMA.into(),
        hopdump_version: env!("CARGO_PKG_VERSION").into(),
        created_unix_ms: t.ev.started_unix_ms,
        target: target_given,
        service,
        with_payload: a.with_payload,
        nodes,
        files: files.clone(),
    };
    add(
        &mut tar,
        &mut files,
        "manifest.json",
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    let gz = tar.into_inner().context("finishing the bundle")?;
    gz.finish().context("finishing the bundle")?;
    crate::cmd_trace::print(&t.ev, &t.verdict, &t.findings, a.trace.json, &[])?;
    eprintln!(
        "hopdump: bundle {} ({} files{})",
        a.output.display(),
        manifest.files.len() + 1,
        if a.with_payload {
            ", with payloads"
        } else {
            ", headers only"
        }
    );
    Ok(t.exit_code())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Read a bundle: its files by name (bounded: a bundle is not a zip bomb's playground).
fn read_bundle(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    const MAX: u64 = 2 << 30;
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    let mut total = 0u64;
    for e in ar
        .entries()
        .with_context(|| format!("{}: not a hopdump bundle (.tar.gz)", path.display()))?
    {
        let mut e =
            e.with_context(|| format!("{}: not a hopdump bundle (.tar.gz)", path.display()))?;
        let name = e.path()?.display().to_string();
        total += e.size();
        if total > MAX {
            bail!("{}: over 2 GiB unpacked", path.display());
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data)
            .with_context(|| format!("{}: reading {name}", path.display()))?;
        out.push((name, data));
    }
    Ok(out)
}

pub fn diagnose(a: DiagnoseArgs) -> Result<ExitCode> {
    let files = read_bundle(&a.bundle)?;
    let get = |n: &str| {
        files
            .iter()
            .find(|(f, _)| f == n)
            .map(|(_, d)| d.as_slice())
    };
    let manifest: Manifest = serde_json::from_slice(get("manifest.json").with_context(|| {
        format!(
            "{}: no manifest.json: not a hopdump bundle",
            a.bundle.display()
        )
    })?)
    .with_context(|| format!("{}: manifest.json", a.bundle.display()))?;
    if manifest.schema != BUNDLE_SCHEMA {
        bail!(
            "{}: bundle schema {:?}, this hopdump reads {BUNDLE_SCHEMA}",
            a.bundle.display(),
            manifest.schema
        );
    }
    let ev: hopdump_engine::Evidence = serde_json::from_slice(
        get("evidence.json")
            .with_context(|| format!("{}: no evidence.json", a.bundle.display()))?,
    )
    .with_context(|| format!("{}: evidence.json", a.bundle.display()))?;
    let (mut verdict, findings) = hopdump_engine::diagnose(&ev);
    // The cluster's objects, checked again as `trace svc/NAME` did.
    if let Some(svc) = &manifest.service
        && let Some((ns, name)) = svc.split_once('/')
        && files.iter().any(|(f, _)| f.starts_with("k8s/"))
    {
        let dir = tempdir_for(&a.bundle)?;
        for (f, d) in files.iter().filter(|(f, _)| f.starts_with("k8s/")) {
            let rel = Path::new(f.trim_start_matches("k8s/"));
            if rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                continue;
            }
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::File::create(&p)?.write_all(d)?;
        }
        if let Ok(view) = hopdump_kube::load_dir(&dir) {
            crate::cmd_trace::sharpen_with(&mut verdict, &view, ns, name, ev.client);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let extra = vec![format!(
        "offline from {} (hopdump {}, target {}, {} files)",
        a.bundle.display(),
        manifest.hopdump_version,
        manifest.target,
        manifest.files.len()
    )];
    crate::cmd_trace::print(&ev, &verdict, &findings, a.json, &extra)?;
    Ok(if verdict.code == hopdump_engine::Code::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn tempdir_for(bundle: &Path) -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!(
        "hopdump-diagnose-{}-{}",
        std::process::id(),
        bundle
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
