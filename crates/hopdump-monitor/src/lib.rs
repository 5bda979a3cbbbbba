//! `hopdump monitor`'s library: probe LoadBalancer endpoints from the client's side, keep an
//! up/down state per target with hysteresis, expose Prometheus metrics and build alert
//! documents — "probe from outside before users notice".
//!
//! Pure (no sockets, no clock; times are passed in): [`target`] (the target grammar),
//! [`state`] (the up/down state machine), [`metrics`] (the registry and the text exposition
//! renderer), [`schema`] (the versioned JSON documents: round lines `hopdump.monitor/1` and
//! alerts `hopdump.monitor.alert/1`), [`time`] (RFC 3339 formatting).
//! I/O: [`sockets`] (sockets created inside a network namespace), [`probe`] (tcp/udp/http/https
//! probes), [`http`] (the `/metrics` server and the webhook client).

pub mod error;
pub mod http;
pub mod metrics;
pub mod probe;
pub mod schema;
pub mod sockets;
pub mod state;
pub mod target;
pub mod time;

pub use error::{MonitorError, Result};
pub use metrics::Registry;
pub use probe::{ProbeConfig, ProbeOutcome, Prober, StatusMatch};
pub use sockets::SocketFactory;
pub use state::{Health, Tracker, Transition};
pub use target::{Kind, Target};
