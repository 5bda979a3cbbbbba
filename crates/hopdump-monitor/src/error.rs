//! The crate's error type: what failed, on which target or URL.

/// Errors of `hopdump-monitor`.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A target argument that is not `tcp://`, `udp://`, `http://`, `https://` or `IP:PORT`.
    #[error("target {spec:?}: {why}")]
    BadTarget { spec: String, why: String },
    /// A `--expect-status` value that is not a code, a range or `2xx`.
    #[error("status {spec:?}: {why}")]
    BadStatus { spec: String, why: String },
    /// A webhook URL that cannot be used.
    #[error("webhook URL {url:?}: {why}")]
    BadUrl { url: String, why: String },
    /// The thread that creates sockets inside the probing namespace could not start.
    #[error("probe sockets: {0}")]
    Sockets(std::io::Error),
    /// TLS client configuration failed.
    #[error("tls: {0}")]
    Tls(String),
    /// Posting the webhook failed.
    #[error("webhook {url}: {why}")]
    Webhook { url: String, why: String },
}

/// Result with [`MonitorError`].
pub type Result<T> = std::result::Result<T, MonitorError>;
