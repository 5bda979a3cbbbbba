//! The agent protocol: how the `hopdump` CLI asks the agent on each node (a DaemonSet pod in
//! a cluster, a process per node namespace in the lab) for everything `trace` needs there.
//!
//! Transport: HTTP/2 (ALPN `h2`, HTTP/1.1 also accepted) over TLS 1.2/1.3 (rustls, ring),
//! every call authenticated — a bearer token compared in constant time, and/or a client
//! certificate chaining to a configured CA (mutual TLS). No framing of our own: unary calls
//! are JSON request/response bodies; captures stream back as a pcapng byte stream (the same
//! bytes `hopdump capture -w -` writes, readable by Wireshark); kernel drops stream back as
//! newline-delimited JSON. Backpressure is HTTP/2 flow control: a slow reader fills the
//! stream window, the agent's bounded queue fills, and the capture loop waits — the kernel
//! ring then drops and says so in the socket counters, never unbounded memory.
//!
//! Calls (`POST /v1/<method>` with a JSON body, except `GET /v1/hello`) are listed in
//! [`proto::Call`]. The library owns transport, authentication and request decoding; what
//! each call does on a node is the [`server::Handler`] the binary implements.

pub mod client;
pub mod error;
pub mod proto;
pub mod server;
pub mod tls;

pub use client::{AgentClient, ByteStream, ClientOptions};
pub use error::{AgentError, Result};
pub use proto::{Call, Hello};
pub use server::{Handler, ServerOptions, Sink};
