//! hopdump-kube: the Kubernetes + MetalLB adapter. Cluster objects (live through kube-rs, or
//! from a support bundle on disk) become the plain types of [`model`]; nobody outside this crate
//! sees k8s-openapi types. On top of the model: NetworkPolicy decisions ([`netpol`]), service
//! resolution for `trace` ([`resolve`]) and the `check` report ([`check`]), all pure.

pub mod adapter;
pub mod agents;
pub mod check;
#[cfg(feature = "fake-apiserver")]
pub mod fake_apiserver;
pub mod live;
pub mod logs;
pub mod model;
pub mod netpol;
pub mod offline;
pub mod resolve;

use std::path::PathBuf;

pub use check::{CheckOptions, CheckReport, Status, Target, check};
pub use live::{LiveOptions, load_live};
pub use model::ClusterView;
pub use offline::load_dir;
pub use resolve::{ResolvedService, resolve_service};

/// Everything that can make this crate fail (as opposed to finding a problem in the cluster).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error(
        "{0}: no Kubernetes objects found (expected `kubectl get ... -o json|yaml` output or a `kubectl cluster-info dump` tree)"
    )]
    Empty(PathBuf),
    #[error("service {namespace}/{name} not found{hint}")]
    ServiceNotFound {
        namespace: String,
        name: String,
        hint: String,
    },
    #[error("no service has LoadBalancer IP {0}")]
    NoServiceForIp(std::net::IpAddr),
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("listing {what} from the API server: {msg}")]
    Api { what: String, msg: String },
}
