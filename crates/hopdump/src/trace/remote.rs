//! Where a node's state comes from: namespaces on this host, or the node's agent over the
//! network (`--node NAME=agent:ADDR`). `trace` asks through these functions and does not
//! care which; an agent that cannot be reached makes its node unobserved, never guessed.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hopdump_agent::proto::{
    CaptureReq, ConntrackReq, DropLine, DropsNs, DropsReq, ExplainReq, FindPodReq, NsInfoReq,
    PodNetns, PointReq,
};
use hopdump_agent::{AgentClient, Call, ClientOptions};
use hopdump_capture::Netns;
use hopdump_engine::{CtObs, RulesEvidence, Target};
use hopdump_rules::Flow;

use crate::trace::plan::{self, NsInfo};

/// A connected agent and its clock.
pub struct Remote {
    pub client: AgentClient,
    /// Agent clock minus ours (ns): subtracted from its timestamps.
    pub offset_ns: i64,
    pub rtt_ns: u64,
}

/// How to reach a node's state.
#[derive(Clone)]
pub enum Access {
    /// A namespace on this host.
    Local,
    /// The node's agent.
    Agent(Arc<Remote>),
    /// An agent that could not be used, and why.
    Down(String),
}

impl Access {
    pub fn remote(&self) -> Option<&Arc<Remote>> {
        match self {
            Access::Agent(r) => Some(r),
            _ => None,
        }
    }

    pub fn down(&self) -> Option<&str> {
        match self {
            Access::Down(why) => Some(why),
            _ => None,
        }
    }
}

/// `--agent-*` options: the CA to trust, the token, a client certificate.
#[derive(Clone, Debug, Default)]
pub struct AgentCreds {
    pub ca: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub timeout: Option<Duration>,
}

impl AgentCreds {
    /// `~/.config/hopdump/agent/`: where `ca.pem`, `token` (and `client.pem`/`client.key`)
    /// are looked for when no flag names them.
    fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("hopdump/agent"))
    }

    pub fn client_options(&self) -> Result<ClientOptions> {
        let mut me = self.clone();
        if let Some(d) = Self::default_dir() {
            let found = |f: &str| Some(d.join(f)).filter(|p| p.exists());
            if me.ca.is_none() {
                me.ca = found("ca.pem");
                if me.token_file.is_none() && me.cert.is_none() {
                    me.token_file = found("token");
                    if me.token_file.is_none() {
                        me.cert = found("client.pem");
                        me.key = found("client.key");
                    }
                }
            }
        }
        me.options()
    }

    fn options(&self) -> Result<ClientOptions> {
        let ca_path = self.ca.as_ref().context(
            "agents need --agent-ca FILE (the ca.pem made by `hopdump agent init`; or put ca.pem and token in ~/.config/hopdump/agent/) to verify them",
        )?;
        let ca = hopdump_agent::tls::read(ca_path)?;
        let token = match &self.token_file {
            Some(p) => Some(hopdump_agent::tls::read(p)?.trim().to_string()),
            None => None,
        };
        let cert = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((
                hopdump_agent::tls::certs_from_pem(
                    &hopdump_agent::tls::read(c)?,
                    &c.display().to_string(),
                )?,
                hopdump_agent::tls::key_from_pem(
                    &hopdump_agent::tls::read(k)?,
                    &k.display().to_string(),
                )?,
            )),
            (None, None) => None,
            _ => bail!("--agent-cert and --agent-key go together"),
        };
        if token.is_none() && cert.is_none() {
            bail!(
                "agents need credentials: --agent-token-file FILE or --agent-cert/--agent-key (mutual TLS)"
            );
        }
        Ok(ClientOptions {
            tls: hopdump_agent::tls::client_config(&ca, cert)?,
            token,
            connect_timeout: Duration::from_secs(3),
            call_timeout: self.timeout.unwrap_or(Duration::from_secs(15)),
        })
    }
}

/// Connect to an agent and estimate its clock; failures make the node unobserved.
pub fn connect(name: &str, addr: SocketAddr, opts: &ClientOptions) -> Access {
    let r = AgentClient::connect(name, addr, opts.clone()).and_then(|c| {
        let (hello, off) = c.hello()?;
        Ok((c, hello, off))
    });
    match r {
        Ok((client, _hello, off)) => Access::Agent(Arc::new(Remote {
            client,
            offset_ns: off.offset_ns,
            rtt_ns: off.rtt_ns,
        })),
        Err(e) => Access::Down(e.to_string()),
    }
}

/// The agent's spelling of a namespace on its host.
pub fn ns_ref(n: &Netns) -> String {
    match n {
        Netns::Current => String::new(),
        Netns::Named(s) => s.clone(),
        Netns::Pid(p) => format!("pid:{p}"),
        Netns::Path(p) => p.display().to_string(),
    }
}

pub fn parse_ns_ref(s: &str) -> Result<Netns> {
    if s.is_empty() {
        return Ok(Netns::Current);
    }
    Ok(hopdump_capture::netns::parse_netns(s)?)
}

/// Interfaces, routes to `ask` and rp_filter of a node.
pub fn ns_info(access: &Access, netns: &Netns, ask: Vec<IpAddr>) -> Result<NsInfo> {
    match access {
        Access::Local => plan::ns_info(netns, ask),
        Access::Agent(r) => Ok(r.client.call(&Call::NsInfo(NsInfoReq {
            netns: ns_ref(netns),
            ask,
        }))?),
        Access::Down(why) => bail!("not observed: {why}"),
    }
}

/// `rules explain` of one flow on a node.
pub fn explain(access: &Access, netns: &Netns, flow: Flow, v6: bool) -> Result<RulesEvidence> {
    match access {
        Access::Local => plan::explain_on(netns, flow, v6),
        Access::Agent(r) => Ok(r.client.call(&Call::Explain(ExplainReq {
            netns: ns_ref(netns),
            flow,
            v6,
        }))?),
        Access::Down(why) => bail!("not observed: {why}"),
    }
}

/// Conntrack entries of the LB IP:port on a node.
pub fn conntrack(access: &Access, netns: &Netns, t: &Target) -> Result<Vec<CtObs>> {
    match access {
        Access::Local => {
            let entries =
                hopdump_node::in_netns(netns, "conntrack", hopdump_node::conntrack::dump)?;
            Ok(crate::trace::collect::conntrack(&entries, t.ip, t.port))
        }
        Access::Agent(r) => Ok(r.client.call(&Call::Conntrack(ConntrackReq {
            netns: ns_ref(netns),
            dst: t.ip,
            dport: t.port,
        }))?),
        Access::Down(why) => bail!("not observed: {why}"),
    }
}

/// The namespace holding a pod's address on a node: (netns, display name, interface).
pub fn find_pod(access: &Access, near: &Netns, ip: IpAddr) -> Option<(Netns, String, String)> {
    match access {
        Access::Local => plan::find_pod_netns(ip, near),
        Access::Agent(r) => {
            let p: Option<PodNetns> = r.client.call(&Call::FindPod(FindPodReq { ip })).ok()?;
            let p = p?;
            Some((parse_ns_ref(&p.netns).ok()?, p.name, p.dev))
        }
        Access::Down(_) => None,
    }
}

/// A frame streamed back by an agent, on our clock.
pub struct RemoteFrame {
    /// Index into the points of the request.
    pub point: usize,
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// What one agent's capture stream gave.
pub struct RemoteCapture {
    pub frames: Vec<RemoteFrame>,
    /// (linktype, snaplen) of each point, from the stream's interface blocks.
    pub links: Vec<(u32, u32)>,
    /// Why the stream did not end cleanly.
    pub error: Option<String>,
}

/// An agent's timestamp on our clock.
fn to_our_clock(ts_ns: u64, offset_ns: i64) -> u64 {
    u64::try_from(i128::from(ts_ns) - i128::from(offset_ns)).unwrap_or(ts_ns)
}

/// An unguessable name for a stream, for `stop`.
fn stream_id() -> String {
    hopdump_agent::tls::random(16)
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_else(|_| format!("{}-{:?}", std::process::id(), Instant::now()))
}

/// Tell the agent to end stream `id` now (it then closes it cleanly, statistics included).
fn stop(r: &Remote, id: &str) {
    let _ = r
        .client
        .call::<serde_json::Value>(&Call::Stop(hopdump_agent::proto::StopReq {
            id: id.to_string(),
        }));
}

/// An armed capture on an agent; `collect` stops it and reads it to its end.
pub struct ArmedCapture {
    stream: hopdump_agent::ByteStream,
    remote: Arc<Remote>,
    id: String,
}

/// Arm captures at `points` on an agent for `window` (returns once they are armed).
pub fn start_capture(
    r: &Arc<Remote>,
    points: Vec<(String, Netns, String)>,
    filter: &str,
    window: Duration,
) -> Result<ArmedCapture> {
    let id = stream_id();
    let req = CaptureReq {
        points: points
            .into_iter()
            .map(|(label, ns, iface)| PointReq {
                label,
                netns: ns_ref(&ns),
                iface,
            })
            .collect(),
        filter: Some(filter.to_string()),
        snaplen: 262_144,
        duration_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        max_frames: 200_000,
        id: id.clone(),
    };
    let deadline = Instant::now() + window + Duration::from_secs(10);
    let stream = r.client.stream(&Call::Capture(req), deadline)?;
    Ok(ArmedCapture {
        stream,
        remote: r.clone(),
        id,
    })
}

impl ArmedCapture {
    /// Stop the capture and read its pcapng stream to the end: frames on our clock.
    pub fn collect(self) -> RemoteCapture {
        stop(&self.remote, &self.id);
        let mut out = RemoteCapture {
            frames: Vec::new(),
            links: Vec::new(),
            error: None,
        };
        let name = PathBuf::from(format!("agent {}", self.remote.client.label));
        let off = self.remote.offset_ns;
        let mut reader =
            match hopdump_capture::FileReader::from_reader(&name, Box::new(self.stream)) {
                Ok(r) => r,
                Err(e) => {
                    out.error = Some(e.to_string());
                    return out;
                }
            };
        let r = reader.for_each(|_, f| {
            out.frames.push(RemoteFrame {
                point: f.iface,
                ts_ns: to_our_clock(f.ts_ns, off),
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            });
            std::ops::ControlFlow::Continue(())
        });
        out.links = reader
            .interfaces()
            .iter()
            .map(|i| (i.linktype, i.snaplen))
            .collect();
        if let Err(e) = r {
            out.error = Some(e.to_string());
        }
        out
    }
}

/// Kernel drops on an agent's node (and its pods) for `window`, on our clock.
pub struct ArmedDrops {
    stream: hopdump_agent::ByteStream,
    remote: Arc<Remote>,
    id: String,
}

pub fn start_drops(
    r: &Arc<Remote>,
    ns: Vec<(Netns, String)>,
    window: Duration,
) -> Result<ArmedDrops> {
    let id = stream_id();
    let req = DropsReq {
        netns: ns
            .into_iter()
            .map(|(n, name)| DropsNs {
                netns: ns_ref(&n),
                name,
            })
            .collect(),
        duration_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        id: id.clone(),
    };
    let deadline = Instant::now() + window + Duration::from_secs(10);
    Ok(ArmedDrops {
        stream: r.client.stream(&Call::Drops(req), deadline)?,
        remote: r.clone(),
        id,
    })
}

impl ArmedDrops {
    /// Stop the tracing and read its NDJSON stream to the end.
    pub fn collect(self) -> (Vec<hopdump_drops::DropEvent>, Option<String>) {
        use std::io::BufRead;
        stop(&self.remote, &self.id);
        let off = self.remote.offset_ns;
        let mut v = Vec::new();
        let mut err = None;
        for line in std::io::BufReader::new(self.stream).lines() {
            match line {
                Ok(l) if l.trim().is_empty() => {}
                Ok(l) => match serde_json::from_str::<DropLine>(&l) {
                    Ok(d) => v.push(hopdump_drops::DropEvent {
                        time_ns: to_our_clock(d.time_ns, off),
                        reason_code: d.reason_code,
                        reason: d.reason,
                        location: d.location,
                        location_sym: d.location_sym,
                        // Inodes are per host: the agent names the node instead.
                        netns_inode: 0,
                        netns: d.node,
                        ifindex: d.ifindex,
                        iface: d.iface,
                        len: d.len,
                        protocol: d.protocol,
                        headers: d.headers,
                    }),
                    Err(e) => {
                        err = Some(format!("unreadable drop event: {e}"));
                        break;
                    }
                },
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
        (v, err)
    }
}
