//! The `up` / `down` / `list` subcommands (flattened into the testkit binary) that build a
//! scenario for a person to try hopdump on by hand, and the hidden `lab-announce` the kept
//! labs run as their speaker process.

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::announcer::{self, AnnounceConfig};
use super::fault::STALE_UDP_SPORT;
use super::scenario::Scenario;
use super::topology::{LB4, LB6, Runner, SVC_HTTP_PORT, SVC_UDP_PORT, Spec};
use crate::netns::{Lab, remove_ns_and_processes};

/// Where kept labs record what they are (tmpfs, root-owned; gone after a reboot like the
/// namespaces themselves).
pub const STATE_DIR: &str = "/run/hopdump-lab";

/// Default prefix of a kept lab's namespaces.
pub const DEFAULT_PREFIX: &str = "hdlab-";

/// Lab subcommands.
#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Build a scenario in network namespaces and leave it running (root).
    Up {
        /// Scenario name (see `list`).
        scenario: String,
        /// Namespace name prefix; namespaces are PREFIXclient, PREFIXsw, PREFIXnode1, ...
        #[arg(long, default_value = DEFAULT_PREFIX)]
        prefix: String,
    },
    /// Tear a kept lab down: its processes and namespaces (root).
    Down {
        /// Prefix given to `up`; all kept labs when omitted.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// List the scenarios and the kept labs.
    List,
    /// Run a layer-2 announcer in the current namespace (used by kept labs).
    #[command(hide = true)]
    LabAnnounce {
        #[arg(long)]
        node: String,
        #[arg(long)]
        ifname: String,
        #[arg(long = "ip", required = true)]
        ips: Vec<IpAddr>,
        #[arg(long)]
        link_local: Option<Ipv6Addr>,
        #[arg(long)]
        log: Option<PathBuf>,
    },
}

/// Run one lab subcommand.
pub fn run(cmd: &LabCommand) -> Result<()> {
    match cmd {
        LabCommand::Up { scenario, prefix } => up(scenario, prefix),
        LabCommand::Down { prefix } => down(prefix.as_deref()),
        LabCommand::List => list(),
        LabCommand::LabAnnounce {
            node,
            ifname,
            ips,
            link_local,
            log,
        } => {
            let cfg = AnnounceConfig {
                node: node.clone(),
                ifname: ifname.clone(),
                ips: ips.clone(),
                link_local: *link_local,
                log: log.clone(),
            };
            // Runs until the lab kills it (down); never returns on success.
            let stop = AtomicBool::new(false);
            announcer::run(&cfg, &stop, || println!("ready"))
        }
    }
}

fn state_dir(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(prefix.trim_end_matches('-'))
}

fn up(name: &str, prefix: &str) -> Result<()> {
    let scenario = Scenario::from_name(name)?;
    if existing_namespaces(prefix)?.next().is_some() {
        bail!(
            "namespaces with prefix {prefix:?} exist; run `down --prefix {prefix}` first or pick another prefix"
        );
    }
    let lab = Lab::with_prefix(prefix)?;
    let dir = state_dir(prefix);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let exe = std::env::current_exe().context("path of this executable")?;
    let base = Spec {
        runner: Runner::Process(exe),
        log_dir: Some(dir.clone()),
        ..Spec::default()
    };
    let cluster = scenario.build(lab, base)?;
    let announcing = cluster.announcing().join(", ");
    let dual = cluster.spec.dual_stack;
    let mut summary = format!(
        "scenario {name}: {}\nprefix {prefix}\nLB IP {LB4}{}  (HTTP :{SVC_HTTP_PORT} /small /large, POST /upload; UDP echo :{SVC_UDP_PORT})\nannouncing node: {}\n",
        scenario.describe(),
        if dual {
            format!(", {LB6}")
        } else {
            String::new()
        },
        if announcing.is_empty() {
            "none".to_string()
        } else {
            announcing
        },
    );
    summary.push_str("nodes:\n");
    for n in &cluster.nodes {
        summary.push_str(&format!(
            "  {}{}  eth0 {} ({})  pods {}\n",
            prefix, n.name, n.ip4, n.mac, n.pod_cidr4
        ));
    }
    summary.push_str("pods:\n");
    for p in &cluster.pods {
        summary.push_str(&format!(
            "  {}{}  {} on {}\n",
            prefix, p.name, p.ip4, p.node
        ));
    }
    summary.push_str(&format!(
        "try:\n  ip netns exec {prefix}client curl -s http://{LB4}/small\n  ip netns exec {prefix}client curl -s -o /dev/null -w '%{{size_download}}\\n' http://{LB4}/large\n  ip netns exec {prefix}node1 tcpdump -ni eth0 host {LB4}\nlogs: {}\nremove with: down --prefix {prefix}\n",
        dir.display()
    ));
    if name == "udp-conntrack-stale" {
        summary.push_str(&format!(
            "note: a UDP flow from the client's port {STALE_UDP_SPORT} was pinned to a pod that is now gone;\n      \
             keep sending from that port (the entry lives at least 30 s after the last packet) to see it,\n      \
             e.g. `ip netns exec {prefix}client python3 -c \"import socket; s=socket.socket(2,2); s.bind(('',{STALE_UDP_SPORT})); s.settimeout(2); s.sendto(b'x',('{LB4}',{SVC_UDP_PORT})); print(s.recv(99))\"`\n"
        ));
    }
    std::fs::write(dir.join("scenario"), &summary).context("write lab state")?;
    let kept = cluster.keep();
    print!("{summary}");
    println!("namespaces: {}", kept.join(" "));
    Ok(())
}

fn existing_namespaces(prefix: &str) -> Result<impl Iterator<Item = String>> {
    let prefix = prefix.to_string();
    let names: Vec<String> = match std::fs::read_dir("/run/netns") {
        Ok(d) => d
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    Ok(names.into_iter().filter(move |n| n.starts_with(&prefix)))
}

fn down(prefix: Option<&str>) -> Result<()> {
    if !crate::netns::is_root() {
        bail!("down deletes network namespaces and needs root");
    }
    let prefixes: Vec<String> = match prefix {
        Some(p) => vec![p.to_string()],
        None => kept_labs()?.into_iter().map(|(p, _)| p).collect(),
    };
    if prefixes.is_empty() {
        println!("no kept labs");
    }
    for p in prefixes {
        // Only namespaces a lab recorded, or that carry the explicit prefix asked for.
        let names: Vec<String> = existing_namespaces(&p)?.collect();
        for ns in &names {
            remove_ns_and_processes(ns);
        }
        let dir = state_dir(&p);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        println!("removed {} namespaces with prefix {p}", names.len());
    }
    Ok(())
}

/// Kept labs: (prefix, first line of their summary).
fn kept_labs() -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(STATE_DIR) else {
        return Ok(out);
    };
    for e in dir.flatten() {
        let text = std::fs::read_to_string(e.path().join("scenario")).unwrap_or_default();
        let prefix = text
            .lines()
            .find_map(|l| l.strip_prefix("prefix "))
            .unwrap_or_default()
            .to_string();
        if prefix.is_empty() {
            continue;
        }
        out.push((prefix, text.lines().next().unwrap_or_default().to_string()));
    }
    Ok(out)
}

fn list() -> Result<()> {
    println!("scenarios:");
    for s in Scenario::all() {
        println!("  {:<30} {}", s.name(), s.describe());
    }
    let labs = kept_labs()?;
    if !labs.is_empty() {
        println!("kept labs:");
        for (p, first) in labs {
            println!("  --prefix {p:<12} {first}");
        }
    }
    Ok(())
}
