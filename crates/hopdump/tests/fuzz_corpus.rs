//! CI guard for the fuzzers: every committed corpus and regression input of fuzz/ runs through
//! the same entry functions as the libFuzzer targets (fuzz/src/entries.rs, compiled in here),
//! without a fuzzing engine, so a parser change that brings back a crash fails `cargo test`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/entries.rs"]
mod entries;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Files of `fuzz/KIND/TARGET/`, sorted (an absent directory is empty).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn run(kind: &str) -> usize {
    let mut n = 0;
    for (target, entry) in entries::TARGETS {
        for p in inputs(kind, target) {
            let data = std::fs::read(&p).unwrap();
            // A panic names the input: the message of the failing test is the file to fix.
            let r = std::panic::catch_unwind(|| entry(&data));
            assert!(r.is_ok(), "{} panics in fuzz target {target}", p.display());
            n += 1;
        }
    }
    n
}

#[test]
fn every_committed_corpus_input_runs_clean() {
    let n = run("corpus");
    assert!(n > 0, "no corpus under {}", fuzz_dir().display());
}

#[test]
fn every_regression_input_runs_clean() {
    run("regressions");
}

#[test]
fn every_corpus_directory_has_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for e in rd {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                entries::TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name} has no entry in fuzz/src/entries.rs TARGETS"
            );
        }
    }
}
