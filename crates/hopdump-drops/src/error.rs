//! Errors of the drop tracer, with the operation and the object they concern.

use std::path::PathBuf;

/// Everything that can stop `drops` from tracing.
#[derive(Debug, thiserror::Error)]
pub enum DropsError {
    /// The filter expression is not in the supported tcpdump subset.
    #[error("filter `{expr}`: {why}")]
    Filter { expr: String, why: String },
    /// The expression is valid but does not fit the kernel's condition table.
    #[error(
        "filter `{expr}` is too complex for the in-kernel table ({clauses} alternatives of up to \
         {terms} conditions after expansion; at most {max_clauses} of {max_terms}): simplify it"
    )]
    FilterTooComplex {
        expr: String,
        clauses: usize,
        terms: usize,
        max_clauses: usize,
        max_terms: usize,
    },
    /// Too many --netns.
    #[error("at most {max} network namespaces can be traced at once ({given} given)")]
    TooManyNetns { given: usize, max: usize },
    /// Reading kernel metadata (BTF, kallsyms, tracefs) failed.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// BTF does not have what we need.
    #[error("kernel BTF ({path}): {why}")]
    Btf { path: PathBuf, why: String },
    /// Missing privilege.
    #[error("{what} needs {capability}: {how}")]
    Privilege {
        what: String,
        capability: &'static str,
        how: &'static str,
    },
    /// libbpf failed for another reason.
    #[error("{what}: {source}")]
    Bpf {
        what: String,
        #[source]
        source: libbpf_rs::Error,
    },
    /// The tracefs fallback failed.
    #[error("tracefs: {what}: {source}")]
    Tracefs {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The tracefs fallback would change kernel state and the user did not agree.
    #[error(
        "the eBPF tracer is unavailable ({bpf_error}); the tracefs fallback enables the \
         skb:kfree_skb event, which changes kernel state: re-run with --yes to allow it"
    )]
    FallbackNeedsYes { bpf_error: String },
    /// The tracer thread died.
    #[error("the tracer thread stopped unexpectedly")]
    ThreadDied,
}

/// Result with [`DropsError`].
pub type Result<T> = std::result::Result<T, DropsError>;
