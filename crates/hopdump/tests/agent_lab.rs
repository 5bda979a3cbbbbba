//! `trace --node NAME=agent:ADDR` on the lab: an agent per node namespace on its segment
//! address, the CLI in the client's namespace. Verdicts must equal netns mode's; wrong or
//! missing credentials are refused (and logged); an agent killed mid-trace leaves a clear
//! report that never claims what it did not see.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hopdump_engine::TraceReport;
use hopdump_testkit::lab::fault::Fault;
use hopdump_testkit::lab::{Cluster, Spec};

const PORT: u16 = 7443;

/// One `hopdump agent` in a node namespace; killed on drop.
struct Agent {
    node: String,
    addr: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Start an agent in every node namespace; returns once each is listening.
fn agents(c: &Cluster, creds: &Path, extra: &[&str]) -> Vec<Agent> {
    let mut v = Vec::new();
    for n in &c.nodes {
        let ready = creds.join(format!("{}.ready", n.name));
        let log = creds.join(format!("{}.log", n.name));
        let _ = std::fs::remove_file(&ready);
        let addr = format!("{}:{PORT}", n.ip4);
        let child = Command::new("ip")
            .args(["netns", "exec", &c.lab().ns(&n.ns)])
            .arg(env!("CARGO_BIN_EXE_hopdump"))
            .args(["agent", "--listen", &addr, "--node-name", &n.name])
            .arg("--tls-dir")
            .arg(creds)
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut a = Agent {
            node: n.name.clone(),
            addr,
            child,
            log,
        };
        let t0 = Instant::now();
        while !ready.exists() {
            if let Ok(Some(st)) = a.child.try_wait() {
                panic!("agent of {} exited {st}: {}", a.node, a.log());
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "agent ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        v.push(a);
    }
    v
}

fn creds() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let o = hopdump()
        .args(["agent", "init"])
        .arg(d.path().join("c"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    d
}

fn parse(o: &std::process::Output) -> TraceReport {
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)))
}

/// `trace --json` in netns mode (the reference).
fn trace_netns(c: &Cluster, target: &str) -> TraceReport {
    let mut cmd = hopdump();
    cmd.args(["trace", target, "--json", "--client"])
        .arg(format!("netns:{}", c.lab().ns("client")));
    for n in &c.nodes {
        cmd.arg("--node")
            .arg(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    parse(&cmd.output().unwrap())
}

/// `trace` run inside the client's namespace, every node through its agent.
fn trace_agents_cmd(c: &Cluster, agents: &[Agent], dir: &Path, target: &str) -> Command {
    let mut cmd = in_client(c);
    cmd.args(["trace", target, "--agent-ca"])
        .arg(dir.join("ca.pem"))
        .arg("--agent-token-file")
        .arg(dir.join("token"));
    for a in agents {
        cmd.arg("--node")
            .arg(format!("{}=agent:{}", a.node, a.addr));
    }
    cmd
}

/// `hopdump` run inside the lab client's namespace (the CLI on another machine than the nodes).
fn in_client(c: &Cluster) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &c.lab().ns("client")])
        .arg(env!("CARGO_BIN_EXE_hopdump"))
        .env("HOPDUMP_PROBE_TIMEOUT", LAB_PROBE_TIMEOUT);
    cmd
}

/// A lab cluster with an agent in every node namespace: (cluster, credentials dir holder,
/// credentials dir, agents).
fn lab_with_agents(
    spec: Spec,
    extra: &[&str],
) -> (Cluster, tempfile::TempDir, PathBuf, Vec<Agent>) {
    let c = Cluster::build(spec).unwrap();
    let d = creds();
    let dir = d.path().join("c");
    if extra.contains(&"--mtls") {
        std::fs::remove_file(dir.join("token")).unwrap();
    }
    let ag = agents(&c, &dir, extra);
    (c, d, dir, ag)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn key(r: &TraceReport) -> (String, Option<String>) {
    (r.verdict.code.clone(), r.verdict.node.clone())
}

#[test]
fn agent_verdicts_equal_netns_verdicts() {
    if !lab_allowed() {
        return;
    }
    let cases: Vec<Option<Fault>> = vec![
        None,
        Some(Fault::ForwardDrop),
        Some(Fault::NoEndpoints),
        Some(Fault::NetpolCalico),
        Some(Fault::MissingPodRoute),
        Some(Fault::StaleEndpoint),
        Some(Fault::PodNotListening),
        Some(Fault::UdpConntrackStale),
    ];
    for case in cases {
        let (mut c, name) = match case {
            None => (Cluster::build(Spec::default()).unwrap(), "healthy"),
            Some(f) => (Cluster::build(f.spec(Spec::default())).unwrap(), f.name()),
        };
        if let Some(f) = case {
            f.inject(&mut c).unwrap();
        }
        let target = if case == Some(Fault::UdpConntrackStale) {
            format!("{}:9000/udp", c.lb(false))
        } else {
            format!("{}:80/tcp", c.lb(false))
        };
        let want = trace_netns(&c, &target);
        assert_ne!(
            want.verdict.code, "inconclusive",
            "{name}: reference verdict"
        );
        let d = creds();
        let dir = d.path().join("c");
        let ag = agents(&c, &dir, &[]);
        let w = d.path().join("agents.pcapng");
        let o = trace_agents_cmd(&c, &ag, &dir, &target)
            .arg("--json")
            .arg("-w")
            .arg(&w)
            .output()
            .unwrap();
        let got = parse(&o);
        assert_eq!(
            key(&got),
            key(&want),
            "{name}: agent mode vs netns mode\nagent: {}\nnetns: {}",
            serde_json::to_string_pretty(&got.verdict).unwrap(),
            serde_json::to_string_pretty(&want.verdict).unwrap()
        );
        assert!(
            got.missing.iter().all(|m| !m.contains("agent")),
            "{name}: {:?}",
            got.missing
        );
        // One pcapng: an interface per node/iface, frames in one timeline.
        let r = hopdump()
            .args(["read", "-e", "-r"])
            .arg(&w)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", stderr(&r));
        let tshark = Command::new("tshark")
            .args(["-r"])
            .arg(&w)
            .args(["-T", "fields", "-e", "frame.interface_name"])
            .output()
            .unwrap();
        let names = String::from_utf8_lossy(&tshark.stdout).into_owned();
        for h in got.hops.iter().filter(|h| h.node != "client") {
            let label = format!("{}/{}", h.node, h.iface);
            if h.seen.probes_in + h.seen.replies > 0 {
                assert!(
                    names.lines().any(|l| l == label),
                    "{name}: {label} in the pcapng"
                );
            }
        }
        for a in ag
            .iter()
            .filter(|a| got.hops.iter().any(|h| h.node == a.node))
        {
            assert!(a.log().contains("capture armed"), "{}: {}", a.node, a.log());
        }
    }
}

#[test]
fn wrong_or_missing_credentials_are_refused_and_logged() {
    if !lab_allowed() {
        return;
    }
    let (c, d, dir, ag) = lab_with_agents(Spec::default(), &[]);
    let target = format!("{}:80/tcp", c.lb(false));
    // A wrong token: every node unobserved, a clear verdict that says so.
    std::fs::write(d.path().join("bad"), "0123456789abcdef0123456789abcdef\n").unwrap();
    let mut cmd = in_client(&c);
    cmd.args(["trace", &target, "--json", "--agent-ca"])
        .arg(dir.join("ca.pem"))
        .arg("--agent-token-file")
        .arg(d.path().join("bad"));
    for a in &ag {
        cmd.arg("--node")
            .arg(format!("{}=agent:{}", a.node, a.addr));
    }
    let r = parse(&cmd.output().unwrap());
    // The probes may still prove the service works (`ok`), but no node was seen.
    for a in &ag {
        assert!(
            r.missing
                .iter()
                .any(|m| m.starts_with(&format!("{}: not observed", a.node))
                    && m.contains("refused")
                    && m.contains("wrong token")),
            "{:#?}",
            r.missing
        );
        assert!(r.hops.iter().all(|h| h.node != a.node || h.error.is_some()));
    }
    assert_eq!(r.announcer, None, "no node seen: nobody named as announcer");
    for a in &ag {
        assert!(
            a.log().contains("refused") && a.log().contains("wrong token"),
            "{}",
            a.log()
        );
    }
    // No credentials at all: the CLI refuses to call agents without them (exit 2).
    let o = in_client(&c)
        .args(["trace", &target, "--agent-ca"])
        .arg(dir.join("ca.pem"))
        .arg("--node")
        .arg(format!("n=agent:{}", ag[0].addr))
        .env_remove("HOPDUMP_AGENT_TOKEN_FILE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("credentials"), "{}", stderr(&o));
    // A caller with no token at all reaches the agent but is refused: plain HTTPS client.
    let curl = Command::new("ip")
        .args([
            "netns",
            "exec",
            &c.lab().ns("client"),
            "curl",
            "-s",
            "--cacert",
        ])
        .arg(dir.join("ca.pem"))
        .arg(format!("https://{}/v1/hello", ag[0].addr))
        .output();
    if let Ok(o) = curl
        && o.status.success()
    {
        assert!(stdout(&o).contains("no credentials"), "{}", stdout(&o));
    }
    // An agent with another CA's certificate is not trusted.
    let other = creds();
    let mut cmd = in_client(&c);
    cmd.args(["trace", &target, "--json", "--agent-ca"])
        .arg(other.path().join("c/ca.pem"))
        .arg("--agent-token-file")
        .arg(dir.join("token"));
    for a in &ag {
        cmd.arg("--node")
            .arg(format!("{}=agent:{}", a.node, a.addr));
    }
    let r = parse(&cmd.output().unwrap());
    assert!(
        r.missing
            .iter()
            .any(|m| m.contains("not observed") && m.contains("TLS")),
        "{:#?}",
        r.missing
    );
}

#[test]
fn mutual_tls_without_token() {
    if !lab_allowed() {
        return;
    }
    // Agents that accept client certificates and have no token file.
    let (c, _d, dir, ag) = lab_with_agents(Spec::default(), &["--mtls"]);
    let target = format!("{}:80/tcp", c.lb(false));
    let mut cmd = in_client(&c);
    cmd.args(["trace", &target, "--json", "--agent-ca"])
        .arg(dir.join("ca.pem"))
        .arg("--agent-cert")
        .arg(dir.join("client.pem"))
        .arg("--agent-key")
        .arg(dir.join("client.key"));
    for a in &ag {
        cmd.arg("--node")
            .arg(format!("{}=agent:{}", a.node, a.addr));
    }
    let r = parse(&cmd.output().unwrap());
    assert_eq!(r.verdict.code, "ok", "{:#?}", r.verdict);
}

#[test]
fn an_agent_killed_mid_trace_leaves_its_node_unobserved() {
    if !lab_allowed() {
        return;
    }
    // The endpoint's node dies while the trace captures: the probes fail (the pod's node
    // is gone from the path too), and the report must say it did not see that node.
    let (c, _d, dir, mut ag) = lab_with_agents(Spec::default(), &[]);
    let target = format!("{}:80/tcp", c.lb(false));
    let mut cmd = trace_agents_cmd(&c, &ag, &dir, &target);
    // The capture file survives its peer dying mid-stream: closed valid, what came is in it.
    let w = dir.join("killed.pcapng");
    let child = cmd
        .args(["--json", "--duration", "4s", "--no-probe", "-w"])
        .arg(&w)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Readiness: node2's agent logs its capture as armed.
    let t0 = Instant::now();
    while !ag[1].log().contains("capture armed") {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", ag[1].log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let victim = ag.remove(1);
    let node = victim.node.clone();
    drop(victim);
    let o = child.wait_with_output().unwrap();
    let r = parse(&o);
    assert!(
        r.missing.iter().any(|m| m.starts_with(&format!("{node}:"))),
        "{:#?}",
        r.missing
    );
    let hops: Vec<_> = r.hops.iter().filter(|h| h.node == node).collect();
    assert!(!hops.is_empty());
    assert!(hops.iter().all(|h| h.error.is_some()), "{hops:#?}");
    assert_ne!(
        r.verdict.node.as_deref(),
        Some(node.as_str()),
        "{:#?}",
        r.verdict
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&w).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let t = Command::new("tshark").arg("-r").arg(&w).output().unwrap();
        let terr = String::from_utf8_lossy(&t.stderr);
        assert!(
            t.status.success() && terr.lines().all(|l| l.starts_with("Running as user")),
            "tshark reads the file of a trace whose agent died: {terr}"
        );
    }
    // Text mode says it in words too.
    let mut cmd = trace_agents_cmd(&c, &ag, &dir, &target);
    cmd.arg("--node")
        .arg(format!("{node}=agent:{}:{PORT}", c.nodes[1].ip4));
    let o = cmd.output().unwrap();
    let text = stdout(&o);
    assert!(text.contains(&format!("agent of {node}: DOWN")), "{text}");
}

#[test]
fn svc_name_discovers_the_agents_of_the_path() {
    if !lab_allowed() {
        return;
    }
    // The cluster also runs an agent on node9, which is on no path of this service (no
    // endpoint, not the announcer): it must not be asked (asking it would fail loudly).
    let (c, _d, dir, ag) = lab_with_agents(Spec::default(), &[]);
    let objs = cluster_dir(&c, false);
    let announcer = c.announcer().unwrap();
    let pod = |node: &str, ip: &str| {
        serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("hopdump-agent-{node}"), "namespace": "hopdump",
                     "labels": {"app.kubernetes.io/name": "hopdump-agent"}},
        "spec": {"nodeName": node, "hostNetwork": true,
                 "containers": [{"name": "agent", "ports": [{"name": "agent", "containerPort": PORT}]}]},
        "status": {"phase": "Running", "podIP": ip, "hostIP": ip}})
    };
    let mut items: Vec<serde_json::Value> = c
        .nodes
        .iter()
        .map(|n| pod(&n.name, &n.ip4.to_string()))
        .collect();
    items.push(pod("node9", "198.51.100.19"));
    items.push(serde_json::json!({"apiVersion": "metallb.io/v1beta1", "kind": "ServiceL2Status",
        "metadata": {"name": "l2-lab", "namespace": "metallb-system",
                     "labels": {"metallb.io/node": announcer, "metallb.io/service-name": "web",
                                "metallb.io/service-namespace": "default"}},
        "spec": {}, "status": {"node": announcer, "serviceName": "web", "serviceNamespace": "default"}}));
    std::fs::write(
        objs.path().join("agents.json"),
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    )
    .unwrap();
    let o = in_client(&c)
        .args(["trace", "svc/web", "-n", "default", "--json", "--from-dir"])
        .arg(objs.path())
        .arg("--agent-ca")
        .arg(dir.join("ca.pem"))
        .arg("--agent-token-file")
        .arg(dir.join("token"))
        .output()
        .unwrap();
    let r = parse(&o);
    assert_eq!(r.verdict.code, "ok", "{:#?}", r.verdict);
    assert!(
        r.missing.iter().all(|m| !m.contains("node9")),
        "{:#?}",
        r.missing
    );
    for a in &ag {
        assert!(a.log().contains("capture armed"), "{}: {}", a.node, a.log());
    }
}

#[test]
fn agent_serves_neighbours_and_arp_of_its_node() {
    if !lab_allowed() {
        return;
    }
    use hopdump_agent::proto::{ArpReq, NetnsReq};
    let (c, _d, dir, ag) = lab_with_agents(Spec::default(), &[]);
    let announcer = c.announcer().unwrap();
    let other = ag.iter().find(|a| a.node != announcer).unwrap();
    // The CLI side, as `trace` uses it, from the client's namespace.
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let token = std::fs::read_to_string(dir.join("token")).unwrap();
    let lb = c.lb(false);
    let client_ns = c.lab().ns("client");
    let addr: std::net::SocketAddr = other.addr.parse().unwrap();
    let (arp, neigh) = std::thread::spawn(move || {
        hopdump_capture::netns::enter_ns(&hopdump_capture::Netns::Named(client_ns), "test")
            .unwrap();
        let opts = hopdump_agent::ClientOptions {
            tls: hopdump_agent::tls::client_config(&ca, None).unwrap(),
            token: Some(token.trim().to_string()),
            connect_timeout: Duration::from_secs(3),
            call_timeout: Duration::from_secs(10),
        };
        let cl = hopdump_agent::AgentClient::connect("n", addr, opts).unwrap();
        let arp: serde_json::Value = cl
            .call(&hopdump_agent::Call::Arp(ArpReq {
                netns: String::new(),
                ip: lb,
                duration_ms: 600,
            }))
            .unwrap();
        let neigh: serde_json::Value = cl
            .call(&hopdump_agent::Call::Neighbours(NetnsReq::default()))
            .unwrap();
        (arp, neigh)
    })
    .join()
    .unwrap();
    // The other node asked: the announcer's MAC answered for the LB IP.
    let mac = &c.nodes.iter().find(|n| n.name == announcer).unwrap().mac;
    assert!(
        arp.as_array()
            .unwrap()
            .iter()
            .any(|r| r["mac"] == mac.as_str()),
        "{arp}"
    );
    // Its neighbour table knows the client that called it (hopdump's ARP probe uses a raw
    // socket and leaves the table alone).
    let arr = neigh.as_array().unwrap();
    assert!(arr.iter().any(|n| n["ip"] == "198.51.100.10"), "{neigh}");
    assert!(!arr.iter().any(|n| n["ip"] == lb.to_string()), "{neigh}");
}

#[test]
fn bundle_collect_through_agents_holds_each_nodes_raw_state() {
    if !lab_allowed() {
        return;
    }
    let (c, d, dir, ag) = lab_with_agents(Spec::default(), &[]);
    let out = d.path().join("b.tar.gz");
    let mut cmd = in_client(&c);
    cmd.args(["bundle", "collect"])
        .arg(format!("{}:80/tcp", c.lb(false)))
        .arg("--json")
        .arg("-o")
        .arg(&out)
        .arg("--agent-ca")
        .arg(dir.join("ca.pem"))
        .arg("--agent-token-file")
        .arg(dir.join("token"));
    for a in &ag {
        cmd.arg("--node")
            .arg(format!("{}=agent:{}", a.node, a.addr));
    }
    let live = parse(&cmd.output().unwrap());
    assert_eq!(live.verdict.code, "ok");
    let list = Command::new("tar").arg("tzf").arg(&out).output().unwrap();
    let names = String::from_utf8_lossy(&list.stdout).into_owned();
    for n in &c.nodes {
        for f in [
            "iptables-nft.txt",
            "nft.json",
            "conntrack.txt",
            "routes.json",
            "sysctls.txt",
        ] {
            assert!(
                names.contains(&format!("nodes/{}/{f}", n.name)),
                "{f}: {names}"
            );
        }
    }
    let off = parse(
        &hopdump()
            .args(["diagnose", "--json"])
            .arg(&out)
            .output()
            .unwrap(),
    );
    assert_eq!(off.verdict, live.verdict);
}
