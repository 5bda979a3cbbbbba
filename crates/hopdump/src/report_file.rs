//! `--report FILE.html` of `trace` and `check`: writes the page hopdump-report rendered, created
//! 0600 like capture files (it holds addresses, rules and packet summaries).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Create (or truncate) `path` and write `html` to it.
pub fn write(path: &Path, html: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing report {}", path.display()))?;
    f.write_all(html.as_bytes())
        .and_then(|()| f.flush())
        .with_context(|| format!("writing report {}", path.display()))
}
