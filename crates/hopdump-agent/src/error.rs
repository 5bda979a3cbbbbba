//! Errors of the agent transport, each naming the agent or file involved.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("certificates: {0}")]
    Cert(String),
    #[error("agent {agent}: {detail}")]
    Connect { agent: String, detail: String },
    /// The agent refused the credentials (HTTP 401/403).
    #[error("agent {agent} refused the call: {detail}")]
    Refused { agent: String, detail: String },
    /// The agent answered with an error.
    #[error("agent {agent}: {method}: {detail}")]
    Remote {
        agent: String,
        method: String,
        detail: String,
    },
    #[error("agent {agent}: {method}: no answer within {secs} s")]
    Timeout {
        agent: String,
        method: String,
        secs: u64,
    },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("{0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, AgentError>;
