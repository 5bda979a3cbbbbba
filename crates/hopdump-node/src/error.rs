//! The one error type of `hopdump-node`, with the operation, interface and namespace it concerns.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum NodeError {
    /// An interface that does not exist in the namespace; `known` lists the ones that do.
    #[error("no interface {name:?} in {netns} (interfaces there: {known})")]
    NoInterface {
        name: String,
        netns: String,
        known: String,
    },
    /// No interface was given and none has an address on the target's subnet.
    #[error("{what}")]
    NoRoute { what: String },
    /// A socket operation failed; `hint` says which privilege is missing when that is the cause.
    #[error("{op}: {source}{hint}")]
    Os {
        op: String,
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
    /// The kernel answered a netlink request with an error.
    #[error("{op}: kernel said {source}")]
    Netlink {
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// A netlink message we could not decode.
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: String },
    /// Entering the network namespace failed.
    #[error(transparent)]
    Netns(#[from] hopdump_capture::CaptureError),
    /// A worker thread panicked (a bug).
    #[error("{0} thread panicked")]
    Thread(&'static str),
}

impl NodeError {
    /// An OS error from `op`, with a privilege hint when it is EPERM/EACCES.
    pub fn os(op: impl Into<String>, source: std::io::Error) -> NodeError {
        let hint = match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                " (needs CAP_NET_RAW for packet sockets, CAP_NET_ADMIN for conntrack: run as root)"
            }
            _ => "",
        };
        NodeError::Os {
            op: op.into(),
            source,
            hint,
        }
    }

    /// The last OS error of `op`.
    pub fn last_os(op: impl Into<String>) -> NodeError {
        NodeError::os(op, std::io::Error::last_os_error())
    }
}

pub type Result<T> = std::result::Result<T, NodeError>;
