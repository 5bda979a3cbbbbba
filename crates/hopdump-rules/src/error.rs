//! Why a rule dump could not be read, with the line or element that broke it.

/// Errors from parsing rule dumps.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{source_name}: line {line}: {detail}")]
    Parse {
        source_name: String,
        line: usize,
        detail: String,
    },
    #[error("{source_name}: not valid `nft -j` JSON: {detail}")]
    Json { source_name: String, detail: String },
    #[error("bad flow: {0}")]
    Flow(String),
}

pub type Result<T, E = RulesError> = std::result::Result<T, E>;
