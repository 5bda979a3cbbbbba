//! Request types of every call and their decoding from (method, body) — the agent's whole
//! untrusted input surface after authentication (fuzzed: see fuzz/).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{AgentError, Result};

/// Protocol version; the CLI refuses agents of another major version.
pub const PROTOCOL: u32 = 1;

/// Largest request body accepted (requests are small JSON documents).
pub const MAX_REQUEST: usize = 1 << 20;

/// `GET /v1/hello`: who the agent is, and its clock (for the CLI's offset estimate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub protocol: u32,
    /// The node's name (`--node-name`, $NODE_NAME, or the host name).
    pub node: String,
    pub version: String,
    /// The agent's wall clock when it answered, ns since the Unix epoch.
    pub unix_ns: u64,
    /// Authenticated as (token, client certificate subject, or reviewed user).
    pub caller: String,
}

/// A network namespace on the agent's host: "" for the agent's own (the node's), an
/// `ip netns` name, `pid:N`, or a path — the syntax of `hopdump capture -i NETNS/IFACE`.
pub type NetnsRef = String;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsInfoReq {
    #[serde(default)]
    pub netns: NetnsRef,
    /// Addresses to look up routes for (`ip route get`).
    #[serde(default)]
    pub ask: Vec<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainReq {
    #[serde(default)]
    pub netns: NetnsRef,
    pub flow: hopdump_rules::Flow,
    #[serde(default)]
    pub v6: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConntrackReq {
    #[serde(default)]
    pub netns: NetnsRef,
    /// Only entries whose original destination is this (the LB IP and port).
    pub dst: IpAddr,
    pub dport: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindPodReq {
    pub ip: IpAddr,
}

/// Answer of `find_pod`: the namespace holding the address, and the interface with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodNetns {
    pub netns: NetnsRef,
    /// How to show it (`ip netns` name or `pid:N`).
    pub name: String,
    pub dev: String,
}

/// One capture point on the agent's host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointReq {
    /// Written as the pcapng interface name.
    pub label: String,
    #[serde(default)]
    pub netns: NetnsRef,
    pub iface: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureReq {
    pub points: Vec<PointReq>,
    /// libpcap filter, compiled and attached in the agent's kernel.
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default = "default_snaplen")]
    pub snaplen: u32,
    /// Stop after this long (the CLI's window); the stream then ends with statistics blocks.
    pub duration_ms: u64,
    /// Keep at most this many frames (the stream ends early after them).
    #[serde(default = "default_max_frames")]
    pub max_frames: u64,
    /// Names the stream for [`Call::Stop`] (chosen by the caller, unguessable).
    #[serde(default)]
    pub id: String,
}

fn default_snaplen() -> u32 {
    262_144
}

fn default_max_frames() -> u64 {
    200_000
}

/// A namespace to trace drops in, and the node name to report them under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropsNs {
    #[serde(default)]
    pub netns: NetnsRef,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropsReq {
    pub netns: Vec<DropsNs>,
    pub duration_ms: u64,
    /// Names the stream for [`Call::Stop`].
    #[serde(default)]
    pub id: String,
}

/// Calls that only name a namespace (`neighbours`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsReq {
    #[serde(default)]
    pub netns: NetnsRef,
}

/// Ask ARP/NDP for `ip` from the node (who answers, as the node's kernel sees it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArpReq {
    #[serde(default)]
    pub netns: NetnsRef,
    pub ip: IpAddr,
    /// Answer window (at most 10 s).
    #[serde(default = "default_arp_ms")]
    pub duration_ms: u64,
}

fn default_arp_ms() -> u64 {
    600
}

/// End a stream started with this `id` now (it then closes cleanly, statistics included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopReq {
    pub id: String,
}

/// One kernel drop as streamed by `drops` (one JSON document per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropLine {
    /// Node or pod name the namespace was reported under.
    pub node: String,
    /// Agent clock, ns since the Unix epoch.
    pub time_ns: u64,
    pub reason_code: u32,
    pub reason: String,
    pub location: u64,
    pub location_sym: Option<String>,
    pub netns_inode: u32,
    pub netns: String,
    pub ifindex: u32,
    pub iface: Option<String>,
    pub len: u32,
    pub protocol: u16,
    /// Network header onwards (at most 128 bytes).
    pub headers: Vec<u8>,
}

/// A decoded call. Unary calls answer JSON; `Capture` and `Drops` stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Hello,
    NsInfo(NsInfoReq),
    Explain(ExplainReq),
    Conntrack(ConntrackReq),
    FindPod(FindPodReq),
    Capture(CaptureReq),
    Drops(DropsReq),
    Stop(StopReq),
    Neighbours(NetnsReq),
    Arp(ArpReq),
    /// The node's raw state for a bundle: (file name, text) of every rules backend,
    /// conntrack, links, addresses, routes, policy rules, neighbours and sysctls.
    NodeState(NetnsReq),
}

impl Call {
    /// The path segment after `/v1/`.
    pub fn method(&self) -> &'static str {
        match self {
            Call::Hello => "hello",
            Call::NsInfo(_) => "ns_info",
            Call::Explain(_) => "explain",
            Call::Conntrack(_) => "conntrack",
            Call::FindPod(_) => "find_pod",
            Call::Capture(_) => "capture",
            Call::Drops(_) => "drops",
            Call::Stop(_) => "stop",
            Call::Neighbours(_) => "neighbours",
            Call::Arp(_) => "arp",
            Call::NodeState(_) => "node_state",
        }
    }

    /// Whether the answer is a stream.
    pub fn streams(&self) -> bool {
        matches!(self, Call::Capture(_) | Call::Drops(_))
    }

    /// The JSON body to send for this call.
    pub fn body(&self) -> Vec<u8> {
        let v = match self {
            Call::Hello => return Vec::new(),
            Call::NsInfo(r) => serde_json::to_vec(r),
            Call::Explain(r) => serde_json::to_vec(r),
            Call::Conntrack(r) => serde_json::to_vec(r),
            Call::FindPod(r) => serde_json::to_vec(r),
            Call::Capture(r) => serde_json::to_vec(r),
            Call::Drops(r) => serde_json::to_vec(r),
            Call::Stop(r) => serde_json::to_vec(r),
            Call::Neighbours(r) => serde_json::to_vec(r),
            Call::Arp(r) => serde_json::to_vec(r),
            Call::NodeState(r) => serde_json::to_vec(r),
        };
        // Serialising these plain structs cannot fail (no maps with non-string keys).
        v.unwrap_or_default()
    }

    /// Decode a request: `path` is the URL path (`/v1/capture`), `body` the request body.
    pub fn decode(path: &str, body: &[u8]) -> Result<Call> {
        if body.len() > MAX_REQUEST {
            return Err(AgentError::BadRequest(format!(
                "body of {} bytes is over the {MAX_REQUEST}-byte limit",
                body.len()
            )));
        }
        let method = path
            .strip_prefix("/v1/")
            .ok_or_else(|| AgentError::BadRequest(format!("unknown path {path:?}")))?;
        fn json<T: serde::de::DeserializeOwned>(m: &str, b: &[u8]) -> Result<T> {
            serde_json::from_slice(b).map_err(|e| AgentError::BadRequest(format!("{m}: {e}")))
        }
        let call = match method {
            "hello" => Call::Hello,
            "ns_info" => Call::NsInfo(json(method, body)?),
            "explain" => Call::Explain(json(method, body)?),
            "conntrack" => Call::Conntrack(json(method, body)?),
            "find_pod" => Call::FindPod(json(method, body)?),
            "capture" => {
                let r: CaptureReq = json(method, body)?;
                if r.points.is_empty() || r.points.len() > 64 {
                    return Err(AgentError::BadRequest(
                        "capture: between 1 and 64 points".into(),
                    ));
                }
                if r.duration_ms > 600_000 {
                    return Err(AgentError::BadRequest(
                        "capture: duration over 10 minutes".into(),
                    ));
                }
                Call::Capture(r)
            }
            "drops" => {
                let r: DropsReq = json(method, body)?;
                if r.duration_ms > 600_000 {
                    return Err(AgentError::BadRequest(
                        "drops: duration over 10 minutes".into(),
                    ));
                }
                Call::Drops(r)
            }
            "stop" => Call::Stop(json(method, body)?),
            "neighbours" => Call::Neighbours(json(method, body)?),
            "node_state" => Call::NodeState(json(method, body)?),
            "arp" => {
                let r: ArpReq = json(method, body)?;
                if r.duration_ms > 10_000 {
                    return Err(AgentError::BadRequest("arp: window over 10 s".into()));
                }
                Call::Arp(r)
            }
            other => return Err(AgentError::BadRequest(format!("unknown method {other:?}"))),
        };
        Ok(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_call() {
        let flow: hopdump_rules::Flow = serde_json::from_str(
            r#"{"src":"203.0.113.10","sport":1,"dst":"198.51.100.240","dport":80,"proto":"tcp","in_iface":"eth0"}"#,
        )
        .unwrap();
        let calls = vec![
            Call::Hello,
            Call::NsInfo(NsInfoReq {
                netns: "x".into(),
                ask: vec!["10.244.1.2".parse().unwrap()],
            }),
            Call::Explain(ExplainReq {
                netns: String::new(),
                flow,
                v6: false,
            }),
            Call::Conntrack(ConntrackReq {
                netns: String::new(),
                dst: "198.51.100.240".parse().unwrap(),
                dport: 80,
            }),
            Call::FindPod(FindPodReq {
                ip: "10.244.1.2".parse().unwrap(),
            }),
            Call::Capture(CaptureReq {
                points: vec![PointReq {
                    label: "n1/eth0".into(),
                    netns: String::new(),
                    iface: "eth0".into(),
                }],
                filter: Some("tcp".into()),
                snaplen: 100,
                duration_ms: 1000,
                max_frames: 5,
                id: "c1".into(),
            }),
            Call::Drops(DropsReq {
                netns: vec![DropsNs {
                    netns: String::new(),
                    name: "n1".into(),
                }],
                duration_ms: 1000,
                id: "d1".into(),
            }),
            Call::Stop(StopReq { id: "c1".into() }),
            Call::Neighbours(NetnsReq::default()),
            Call::NodeState(NetnsReq::default()),
            Call::Arp(ArpReq {
                netns: String::new(),
                ip: "198.51.100.240".parse().unwrap(),
                duration_ms: 500,
            }),
        ];
        for c in calls {
            let path = format!("/v1/{}", c.method());
            assert_eq!(Call::decode(&path, &c.body()).unwrap(), c);
        }
    }

    #[test]
    fn refuses_unknown_paths_fields_and_limits() {
        assert!(Call::decode("/v2/hello", b"").is_err());
        assert!(Call::decode("/v1/delete_everything", b"{}").is_err());
        assert!(Call::decode("/v1/find_pod", br#"{"ip":"1.2.3.4","x":1}"#).is_err());
        assert!(Call::decode("/v1/find_pod", b"not json").is_err());
        assert!(Call::decode("/v1/capture", br#"{"points":[],"duration_ms":10}"#).is_err());
        assert!(Call::decode("/v1/drops", br#"{"netns":[],"duration_ms":99999999}"#).is_err());
        let big = vec![b' '; MAX_REQUEST + 1];
        assert!(Call::decode("/v1/hello", &big).is_err());
    }
}
