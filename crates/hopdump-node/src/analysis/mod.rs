//! Pure diagnosis over node evidence: plain structs in, findings out. No sockets, no clock, no
//! files — `trace` reuses these on evidence it gathered (or loaded from a bundle).

pub mod arp;
pub mod conntrack;

use serde::Serialize;

/// How bad a finding is; `Problem` makes the commands exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Problem,
}

/// One conclusion, with the evidence (MACs, entries) that supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable machine name, e.g. `no_reply`, `several_macs`, `stale_entry`.
    pub code: &'static str,
    pub severity: Severity,
    /// One sentence for a person.
    pub message: String,
    /// References to the evidence: MACs, conntrack entries.
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn new(code: &'static str, severity: Severity, message: String) -> Finding {
        Finding {
            code,
            severity,
            message,
            evidence: Vec::new(),
        }
    }
}

/// True when any finding is a problem.
pub fn has_problem(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Problem)
}
