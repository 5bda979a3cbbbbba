//! A node's packet filter as one model — iptables from both backends, nftables (including
//! kube-proxy's nftables mode), IPVS and ipsets — and a walker that explains what it does to
//! one flow and who wrote each rule. Pure: dumps in, explanations out; reading them live is the
//! binary's job.

pub mod error;
pub mod explain;
pub mod flow;
pub mod iptables;
pub mod ipvs;
pub mod nft;
pub mod owner;
pub mod walk;
pub mod xt;

pub use error::{Result, RulesError};
pub use explain::{
    EXPLAIN_SCHEMA, Explanation, Outcome, OutcomeKind, TargetShare, explain, stop_reason,
};
pub use flow::{Flow, NodeContext, Proto};
pub use walk::{Branch, Cause, Fate, Hit, NodeRules};
