//! `hopdump agent`: one per node (a DaemonSet pod with hostNetwork/hostPID in a cluster).
//! It serves `trace` what it needs of its node — filtered captures streamed back, kernel
//! drops, rules explained, conntrack, interfaces/routes/sysctls, pods' namespaces by IP —
//! over TLS with every call authenticated (hopdump-agent). It changes nothing on the node:
//! there is no state-changing call in the protocol.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hopdump_agent::proto::{DropLine, PodNetns};
use hopdump_agent::server::{Handler, ServerOptions, Sink};
use hopdump_agent::{Call, tls};
use hopdump_capture::{LiveCapture, LiveOptions, Netns, PointSpec};

use crate::trace::remote::{ns_ref, parse_ns_ref};
use crate::trace::{collect, plan};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub action: Option<AgentAction>,
    /// Address to listen on, e.g. 0.0.0.0:7443 or the node's address.
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:7443")]
    pub listen: SocketAddr,
    /// Credentials directory made by `hopdump agent init` (a mounted Secret in a cluster):
    /// ca.pem + ca.key to issue this agent's certificate, and `token`.
    #[arg(long = "tls-dir", value_name = "DIR", env = "HOPDUMP_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Bearer token file (default: DIR/token when it exists).
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Accept client certificates signed by the CA in --tls-dir (mutual TLS).
    #[arg(long)]
    pub mtls: bool,
    /// Extra names (IP or DNS) for this agent's certificate; its addresses are always in.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Node name answered to callers (default: $NODE_NAME, then the host name).
    #[arg(long = "node-name", value_name = "NAME", env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// Write the bound address to this file once listening.
    #[arg(long = "ready-file", value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AgentAction {
    /// Make credentials in DIR: CA (ca.pem, ca.key), a client certificate for mutual TLS
    /// (client.pem, client.key) and a bearer token (token). Keys and token are 0600.
    Init {
        /// Directory to create (must not hold a CA already).
        dir: PathBuf,
    },
}

/// Streams running now, by the id their caller gave (for `stop`).
#[derive(Default)]
struct NodeHandler {
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

impl NodeHandler {
    fn register(&self, id: &str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        if !id.is_empty()
            && let Ok(mut m) = self.running.lock()
        {
            m.insert(id.to_string(), flag.clone());
        }
        flag
    }

    fn unregister(&self, id: &str) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(id);
        }
    }
}

fn netns(s: &str) -> std::result::Result<Netns, String> {
    parse_ns_ref(s).map_err(|e| format!("{e:#}"))
}

fn json<T: serde::Serialize>(v: T) -> std::result::Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// Sets `flag` at `deadline` unless it is set first.
fn stop_at(flag: Arc<AtomicBool>, deadline: Instant) {
    std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                flag.store(true, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    });
}

impl Handler for NodeHandler {
    fn unary(&self, call: Call) -> std::result::Result<serde_json::Value, String> {
        match call {
            Call::NsInfo(r) => {
                json(plan::ns_info(&netns(&r.netns)?, r.ask).map_err(|e| format!("{e:#}"))?)
            }
            Call::Explain(r) => json(
                plan::explain_on(&netns(&r.netns)?, r.flow, r.v6).map_err(|e| format!("{e:#}"))?,
            ),
            Call::Conntrack(r) => {
                let entries = hopdump_node::in_netns(
                    &netns(&r.netns)?,
                    "conntrack",
                    hopdump_node::conntrack::dump,
                )
                .map_err(|e| e.to_string())?;
                json(collect::conntrack(&entries, r.dst, r.dport))
            }
            Call::FindPod(r) => json(plan::find_pod_netns(r.ip, &Netns::Current).map(
                |(ns, name, dev)| PodNetns {
                    netns: ns_ref(&ns),
                    name,
                    dev,
                },
            )),
            Call::Stop(r) => {
                let found = self.running.lock().ok().and_then(|m| m.get(&r.id).cloned());
                if let Some(f) = &found {
                    f.store(true, Ordering::Relaxed);
                }
                json(serde_json::json!({ "stopped": found.is_some() }))
            }
            Call::Neighbours(r) => json(
                hopdump_node::in_netns(&netns(&r.netns)?, "neighbours", || {
                    hopdump_node::rtnl::neighbours()
                })
                .map_err(|e| e.to_string())?,
            ),
            Call::Arp(r) => {
                let opts = hopdump_node::arp::ArpOptions {
                    target: r.ip,
                    iface: None,
                    mode: hopdump_node::analysis::arp::Mode::Active,
                    duration: Some(Duration::from_millis(r.duration_ms)),
                    requests: 3,
                    hints: Vec::new(),
                    expect_iface: None,
                    netns_label: r.netns.clone(),
                };
                let stop = AtomicBool::new(false);
                let ev = hopdump_node::in_netns(&netns(&r.netns)?, "arp", move || {
                    hopdump_node::arp::collect(&opts, &stop, |_| {}, |_| {})
                })
                .map_err(|e| e.to_string())?;
                json(hopdump_node::analysis::arp::responders(&ev))
            }
            Call::NodeState(r) => {
                let files = crate::cmd_bundle::node_state(&netns(&r.netns)?)
                    .map_err(|e| format!("{e:#}"))?;
                json(
                    files
                        .into_iter()
                        .map(|(n, d)| (n, String::from_utf8_lossy(&d).into_owned()))
                        .collect::<Vec<(String, String)>>(),
                )
            }
            other => Err(format!("{} is not a unary call", other.method())),
        }
    }

    fn stream(&self, call: Call, sink: &mut Sink) -> std::result::Result<(), String> {
        match call {
            Call::Capture(r) => {
                let specs = r
                    .points
                    .iter()
                    .map(|p| {
                        Ok(PointSpec {
                            label: p.label.clone(),
                            netns: netns(&p.netns)?,
                            iface: p.iface.clone(),
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, String>>()?;
                let opts = LiveOptions {
                    snaplen: r.snaplen.clamp(64, 262_144),
                    promisc: false,
                    filter: r.filter.clone(),
                    immediate: true,
                    ..LiveOptions::default()
                };
                let live = LiveCapture::start(&specs, &opts).map_err(|e| e.to_string())?;
                let stop = self.register(&r.id);
                stop_at(
                    stop.clone(),
                    Instant::now() + Duration::from_millis(r.duration_ms),
                );
                let out = sink.writer();
                let result = stream_capture(live, out, &stop, r.max_frames);
                stop.store(true, Ordering::Relaxed);
                self.unregister(&r.id);
                result
            }
            Call::Drops(r) => {
                let mut names: Vec<(u32, String)> = Vec::new();
                for n in &r.netns {
                    let path = netns(&n.netns)?
                        .path()
                        .unwrap_or_else(|| "/proc/self/ns/net".into());
                    let ino = hopdump_drops::netns_inode(&path).map_err(|e| e.to_string())?;
                    names.push((ino, n.name.clone()));
                }
                let tracer = hopdump_drops::Tracer::start(&hopdump_drops::TraceOptions {
                    filter: String::new(),
                    netns: names.clone(),
                    keep_noise: false,
                    backend: hopdump_drops::Backend::Auto,
                    allow_tracefs: false,
                })
                .map_err(|e| e.to_string())?;
                let stop = self.register(&r.id);
                let deadline = Instant::now() + Duration::from_millis(r.duration_ms);
                let mut out = sink.writer();
                let mut result = Ok(());
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && !out.closed() {
                    match tracer.events().recv_timeout(Duration::from_millis(50)) {
                        Ok(e) => {
                            let node = names
                                .iter()
                                .find(|(i, _)| *i == e.netns_inode)
                                .map(|(_, n)| n.clone())
                                .unwrap_or_else(|| e.netns.clone());
                            let line = DropLine {
                                node,
                                time_ns: e.time_ns,
                                reason_code: e.reason_code,
                                reason: e.reason,
                                location: e.location,
                                location_sym: e.location_sym,
                                netns_inode: e.netns_inode,
                                netns: e.netns,
                                ifindex: e.ifindex,
                                iface: e.iface,
                                len: e.len,
                                protocol: e.protocol,
                                headers: e.headers,
                            };
                            let mut buf = serde_json::to_vec(&line).unwrap_or_default();
                            buf.push(b'\n');
                            if let Err(e) = out.write_all(&buf) {
                                result = Err(e.to_string());
                                break;
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(_) => break,
                    }
                }
                let _ = tracer.stop();
                self.unregister(&r.id);
                result
            }
            other => Err(format!("{} is not a stream", other.method())),
        }
    }
}

/// Write the points' frames to `out` as pcapng until `stop`; statistics blocks at the end.
fn stream_capture(
    live: LiveCapture,
    out: hopdump_agent::server::SinkWriter,
    stop: &AtomicBool,
    max_frames: u64,
) -> std::result::Result<(), String> {
    let mut w = hopdump_capture::CaptureWriter::to_writer(
        Path::new("capture stream"),
        Box::new(out),
        hopdump_capture::FileFormat::PcapNg,
    )
    .map_err(|e| e.to_string())?;
    for p in live.points() {
        w.add_interface(&hopdump_capture::WriterInterface {
            name: p.spec.label.clone(),
            description: format!("{} in {}", p.spec.iface, p.spec.netns),
            linktype: p.linktype,
            snaplen: p.snaplen,
            filter: p.filter.clone(),
        })
        .map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())?;
    let mut n = 0u64;
    let mut last_flush = Instant::now();
    let mut failed: Option<String> = None;
    let stats = live.run(stop, |f| {
        if let Err(e) = w.write(f.point, f.ts_ns, f.orig_len, f.data) {
            failed = Some(e.to_string());
            return false;
        }
        n += 1;
        if last_flush.elapsed() > Duration::from_millis(50) {
            last_flush = Instant::now();
            if let Err(e) = w.flush() {
                failed = Some(e.to_string());
                return false;
            }
        }
        n < max_frames
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let stats = stats.map_err(|e| e.to_string())?;
    w.finish(Some(&stats)).map_err(|e| e.to_string())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "node".into())
}

/// This namespace's addresses (the certificate names them all).
fn own_addresses() -> Vec<IpAddr> {
    plan::ns_info(&Netns::Current, Vec::new())
        .map(|i| {
            i.ifaces
                .iter()
                .flat_map(|x| x.addrs.iter().map(|(a, _)| *a))
                .filter(|a| !a.is_loopback())
                .collect()
        })
        .unwrap_or_default()
}

pub fn run(args: AgentArgs) -> Result<ExitCode> {
    if let Some(AgentAction::Init { dir }) = &args.action {
        let init = tls::init(dir)?;
        let mut out = std::io::stdout().lock();
        for f in &init.files {
            writeln!(out, "wrote {}", f.display())?;
        }
        writeln!(
            out,
            "in a cluster: kubectl -n hopdump create secret generic hopdump-agent-tls --from-file={d}/ca.pem --from-file={d}/ca.key --from-file={d}/token",
            d = dir.display()
        )?;
        writeln!(
            out,
            "then: hopdump trace ... --agent-ca {d}/ca.pem --agent-token-file {d}/token",
            d = dir.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let dir = args
        .tls_dir
        .as_ref()
        .context("give --tls-dir DIR (made by `hopdump agent init DIR`)")?;
    let ca_key = tls::read(&dir.join(tls::CA_KEY))?;
    let ca = tls::read(&dir.join(tls::CA_CERT))?;
    let node = args.node_name.clone().unwrap_or_else(host_name);
    let mut names: Vec<String> = own_addresses().iter().map(|a| a.to_string()).collect();
    if !args.listen.ip().is_unspecified() && !names.contains(&args.listen.ip().to_string()) {
        names.push(args.listen.ip().to_string());
    }
    names.push(node.clone());
    names.extend(args.sans.iter().cloned());
    names.dedup();
    let (chain, key) = tls::issue_server_cert(&ca_key, &names)?;
    let cfg = tls::server_config(chain, key, args.mtls.then_some(ca.as_str()))?;
    let token_path = args
        .token_file
        .clone()
        .or_else(|| Some(dir.join(tls::TOKEN)).filter(|p| p.exists()));
    let token = match &token_path {
        Some(p) => {
            let t = tls::read(p)?.trim().to_string();
            if t.len() < 16 {
                bail!(
                    "{}: a token of at least 16 characters is required",
                    p.display()
                );
            }
            Some(t)
        }
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("signal handler")?;
    }
    let ready_file = args.ready_file.clone();
    let node2 = node.clone();
    hopdump_agent::server::serve(
        ServerOptions {
            listen: args.listen,
            tls: cfg,
            token,
            mtls: args.mtls,
            reviewer: None,
            node,
        },
        Arc::new(NodeHandler::default()),
        stop,
        move |addr| {
            eprintln!(
                "hopdump agent: node {node2} listening on {addr} (TLS, authenticated calls only)"
            );
            if let Some(f) = ready_file {
                let _ = std::fs::write(f, addr.to_string());
            }
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
