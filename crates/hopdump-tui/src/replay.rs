//! The replay format of `hopdump-tui-replay`: one [`TuiEvent`] per line as JSON, or
//! `{"sleep_ms":N}` to pause; blank lines and lines starting with `#` are skipped.

use std::time::Duration;

use crate::event::TuiEvent;

/// One meaningful line of a replay file.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplayLine {
    Event(TuiEvent),
    Sleep(Duration),
}

/// A line that is neither an event nor a pause.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {source}")]
pub struct ReplayError {
    /// 1-based.
    pub line: usize,
    #[source]
    pub source: serde_json::Error,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Sleep {
    sleep_ms: u64,
}

/// Parse line `n` (1-based, for the error); `None` for blank and comment lines.
pub fn parse_line(n: usize, text: &str) -> Result<Option<ReplayLine>, ReplayError> {
    let t = text.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let err = |source| ReplayError { line: n, source };
    if t.starts_with("{\"sleep_ms\"") {
        let s: Sleep = serde_json::from_str(t).map_err(err)?;
        return Ok(Some(ReplayLine::Sleep(Duration::from_millis(s.sleep_ms))));
    }
    serde_json::from_str(t)
        .map(|e| Some(ReplayLine::Event(e)))
        .map_err(err)
}

/// Parse a whole replay file.
pub fn parse(text: &str) -> Result<Vec<ReplayLine>, ReplayError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if let Some(r) = parse_line(i + 1, l)? {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_pauses_blanks_and_comments() {
        let r = parse("# made by hand\n\n{\"sleep_ms\":250}\n{\"note\":\"hi\"}\n").unwrap();
        assert_eq!(
            r,
            [
                ReplayLine::Sleep(Duration::from_millis(250)),
                ReplayLine::Event(TuiEvent::Note("hi".into()))
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("{\"note\":\"ok\"}\n{\"bogus\":1}\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().starts_with("line 2: unknown variant `bogus`"),
            "{e}"
        );
        let e = parse("{\"sleep_ms\":-1}").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(parse("{\"armed\":{\"window_ms\":1,\"x\":2}}").is_err());
    }
}
