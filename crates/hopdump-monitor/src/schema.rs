//! The versioned JSON documents of `hopdump monitor`. Every document has a `schema` field, so
//! one stream of JSON lines can carry both kinds.
//!
//! - [`RoundLine`] (`hopdump.monitor/1`): one line per probe round with `--json`.
//! - [`Alert`] (`hopdump.monitor.alert/1`): POSTed to `--webhook` when a target goes down or
//!   recovers (and printed as a line with `--json`).
//!
//! Fields are only ever added within a version; consumers should ignore unknown fields. The
//! types reject unknown fields themselves so that the contract tests notice additions.

use serde::{Deserialize, Serialize};

/// Schema name of [`RoundLine`].
pub const ROUND_SCHEMA: &str = "hopdump.monitor/1";
/// Schema name of [`Alert`].
pub const ALERT_SCHEMA: &str = "hopdump.monitor.alert/1";

/// One probe round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoundLine {
    /// [`ROUND_SCHEMA`].
    pub schema: String,
    /// 1 for the first round.
    pub round: u64,
    /// When the round started (RFC 3339, UTC).
    pub time: String,
    pub unix_ms: u64,
    /// One result per target, in command-line order.
    pub results: Vec<ProbeLine>,
}

/// One target's probe in a round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeLine {
    /// Canonical target, e.g. `http://198.51.100.240:80/`.
    pub target: String,
    /// `tcp`, `udp`, `http` or `https`.
    pub kind: String,
    pub ok: bool,
    /// Connect time (tcp), reply time (udp), time to the response headers (http/https); on
    /// failure, the time until it failed.
    pub latency_ms: f64,
    /// HTTP status code, when a response arrived.
    pub http_status: Option<u16>,
    /// Why the probe failed.
    pub error: Option<String>,
    /// The state after this probe: `unknown`, `up` or `down`.
    pub state: String,
    pub consecutive_failures: u32,
}

/// `down` or `up`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Down,
    Up,
}

/// A target went down (after `--fail-after` consecutive failures) or recovered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// [`ALERT_SCHEMA`].
    pub schema: String,
    pub target: String,
    pub kind: String,
    pub state: AlertState,
    /// When the state began: the first failure of the run (down) or the first success (up).
    pub since: String,
    pub since_unix_ms: u64,
    /// When the alert was raised.
    pub time: String,
    /// The most recent failure's error (for `up`: the one before the recovery).
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Successful / all probes over the last `ratio_window` probes.
    pub success_ratio: f64,
    pub ratio_window: u32,
    /// The last probe's latency (see [`ProbeLine::latency_ms`]).
    pub latency_ms: f64,
    pub http_status: Option<u16>,
    /// `hopdump trace`'s verdict, with `--trace-on-failure` (down alerts only).
    pub trace: Option<TraceAttachment>,
}

/// The outcome of running `hopdump trace TARGET --json` for a down alert.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceAttachment {
    /// The command line run (arguments after the program).
    pub args: Vec<String>,
    /// Its exit code (0 ok, 1 a problem found, 2 trace failed); none if it was killed.
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The `verdict` object of its `hopdump.trace/v1` document (code, node, summary,
    /// evidence, next steps).
    pub verdict: Option<serde_json::Value>,
    /// Why there is no verdict: timeout, spawn error, unreadable output, or trace's stderr.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn alert_round_trips_and_names_its_schema() {
        let a = Alert {
            schema: ALERT_SCHEMA.into(),
            target: "tcp://192.0.2.1:80".into(),
            kind: "tcp".into(),
            state: AlertState::Down,
            since: "2026-11-24T06:14:08.000Z".into(),
            since_unix_ms: 1_795_500_848_000,
            time: "2026-11-24T06:14:18.000Z".into(),
            last_error: Some("connection refused".into()),
            consecutive_failures: 3,
            success_ratio: 0.5,
            ratio_window: 6,
            latency_ms: 0.2,
            http_status: None,
            trace: None,
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["schema"], "hopdump.monitor.alert/1");
        assert_eq!(v["state"], "down");
        let back: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
    }
}
