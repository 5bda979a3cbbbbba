//! `--from-dir`: a support bundle on disk -> [`ClusterView`]. Accepts any tree of files holding
//! `kubectl get KIND [-A] -o json|yaml` output (a List or single objects, several YAML
//! documents, several concatenated JSON documents) and `kubectl cluster-info dump` output
//! (to stdout, or a tree written with `--output-directory`, whose list items carry no kind).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::adapter::{Ingested, ingest};
use crate::model::{ClusterView, SpeakerLogLine};
use crate::{Error, logs};

/// Read every `.json`, `.yaml`, `.yml` (and cluster-info dump `logs.txt` of speakers) below `dir`.
pub fn load_dir(dir: &Path) -> Result<ClusterView, Error> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut view = ClusterView::default();
    let mut used = 0usize;
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|source| Error::Read {
            path: f.clone(),
            source,
        })?;
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        let docs = match ext {
            "yaml" | "yml" => yaml_docs(&text).map_err(|e| Error::Parse {
                path: f.clone(),
                msg: e,
            })?,
            "json" => json_docs(&text).map_err(|e| Error::Parse {
                path: f.clone(),
                msg: e,
            })?,
            _ => {
                // cluster-info dump: <ns>/<pod>/logs.txt
                if let Some(pod) = speaker_pod_of_log(f) {
                    view.speaker_logs.extend(logs::parse(&pod, &text));
                }
                continue;
            }
        };
        for d in docs {
            used += add_doc(&mut view, d);
        }
    }
    if used == 0 {
        return Err(Error::Empty(dir.to_path_buf()));
    }
    view.speaker_logs
        .sort_by(|a: &SpeakerLogLine, b| a.ts.cmp(&b.ts));
    view.finish();
    Ok(view)
}

/// Every JSON/YAML document below `dir` (for the test API server).
#[cfg_attr(not(feature = "fake-apiserver"), allow(dead_code))]
pub(crate) fn all_docs(dir: &Path) -> Result<Vec<Value>, Error> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|source| Error::Read {
            path: f.clone(),
            source,
        })?;
        let perr = |msg| Error::Parse {
            path: f.clone(),
            msg,
        };
        match f.extension().and_then(|e| e.to_str()) {
            Some("json") => out.extend(json_docs(&text).map_err(perr)?),
            Some("yaml" | "yml") => out.extend(yaml_docs(&text).map_err(perr)?),
            _ => {}
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in rd {
        let e = e.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

fn speaker_pod_of_log(f: &Path) -> Option<String> {
    if f.file_name()?.to_str()? != "logs.txt" {
        return None;
    }
    let pod = f.parent()?.file_name()?.to_str()?;
    pod.contains("speaker").then(|| pod.to_string())
}

/// Returns how many objects were used.
fn add_doc(view: &mut ClusterView, doc: Value) -> usize {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if let Some(items) = doc.get("items").and_then(Value::as_array) {
        // `kind: List` items carry their kind; typed lists (`ServiceList`) may not.
        let hint = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let hint = hint.map(str::to_string);
        return items
            .iter()
            .map(|i| ingest(view, i.clone(), hint.as_deref()))
            .filter(|r| *r == Ingested::Used)
            .count();
    }
    if doc.is_array() {
        // `kubectl get -o yaml` of a YAML list, or hand-made bundles.
        if let Value::Array(items) = doc {
            return items.into_iter().map(|i| add_doc(view, i)).sum();
        }
    }
    usize::from(ingest(view, doc, None) == Ingested::Used)
}

/// All JSON documents in a file. Tolerates the text between documents that
/// `kubectl cluster-info dump` prints to stdout (log sections): it skips to the next line that
/// starts with `{`.
fn json_docs(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            return Ok(out);
        }
        if !trimmed.starts_with('{') && !trimmed.starts_with('[') {
            match trimmed.find("\n{") {
                Some(i) => {
                    rest = &trimmed[i + 1..];
                    continue;
                }
                None => return Ok(out),
            }
        }
        let mut it = serde_json::Deserializer::from_str(trimmed).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => {
                out.push(v);
                rest = &trimmed[it.byte_offset()..];
            }
            Some(Err(e)) if out.is_empty() => return Err(e.to_string()),
            Some(Err(_)) | None => return Ok(out),
        }
    }
}

fn yaml_docs(text: &str) -> Result<Vec<Value>, String> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for d in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(d).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_json_with_log_sections() {
        let t = "{\"kind\":\"NodeList\",\"items\":[]}\n{\"kind\":\"PodList\",\"items\":[]}\n==== START logs for container speaker of pod metallb-system/speaker-x ====\nfoo\n==== END logs ====\n{\"kind\":\"EventList\",\"items\":[]}\n";
        let d = json_docs(t).unwrap();
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn yaml_multi_docs() {
        let d =
            yaml_docs("kind: Node\nmetadata: {name: a}\n---\nkind: Node\nmetadata: {name: b}\n")
                .unwrap();
        assert_eq!(d.len(), 2);
    }
}
