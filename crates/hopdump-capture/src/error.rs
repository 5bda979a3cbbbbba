//! Why a capture or a capture file failed, with the context a person needs to fix it.

use std::path::PathBuf;

/// Everything that can go wrong while capturing or reading/writing capture files.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("bad capture point {spec:?}: {why}")]
    BadPoint { spec: String, why: String },

    #[error("cannot enter network namespace {netns} for point {point}: {source}{hint}")]
    Netns {
        point: String,
        netns: String,
        source: std::io::Error,
        hint: &'static str,
    },

    #[error("no interface {iface:?} in {netns} (point {point}); interfaces there: {available}")]
    NoSuchInterface {
        point: String,
        iface: String,
        netns: String,
        available: String,
    },

    #[error(
        "no permission to capture on {point}: {detail}; hopdump needs CAP_NET_RAW (and CAP_SYS_ADMIN to enter another network namespace): run it as root (sudo) or `setcap cap_net_raw,cap_net_admin,cap_sys_admin+ep $(which hopdump)`"
    )]
    Permission { point: String, detail: String },

    #[error("cannot open capture on {point}: {detail}")]
    Open { point: String, detail: String },

    #[error("bad filter expression {expr:?}: {detail}")]
    Filter { expr: String, detail: String },

    #[error("capture on {point} failed: {detail}")]
    Live { point: String, detail: String },

    #[error("{path}: {detail} at byte offset {offset}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        detail: String,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: {detail}")]
    Format { path: PathBuf, detail: String },
}

pub type Result<T, E = CaptureError> = std::result::Result<T, E>;
