//! The engine's modules are layers: each uses only the ones below it, so the layout can be
//! read top to bottom and no change can tangle it. Counted from every `crate::` path in the
//! code — `use` lines and paths written inline alike (comments and doc links left out) — at
//! the level of the top modules (`wire`, `session`, `engine`, …).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lowest first. `fuzzing` drives the whole engine for the fuzz targets.
const LAYERS: &[&str] =
    &["encoding", "error", "wire", "types", "config", "session", "replication", "auth", "request", "engine", "fuzzing"];

/// The code of a Rust source, without comments or string literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn top_module(rel: &str) -> Option<String> {
    let first = rel.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_owned())
}

#[test]
fn the_modules_are_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            let Some(from) = top_module(&rel) else { continue };
            let code = code_only(&std::fs::read_to_string(&path).unwrap());
            for (i, _) in code.match_indices("crate::") {
                // `$crate::` is a macro's own path.
                if code[..i].ends_with('$') {
                    continue;
                }
                let to: String = code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if LAYERS.contains(&to.as_str()) && to != from {
                    uses.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    assert!(uses.len() >= 8, "modules not found: {uses:?}");
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut upward = Vec::new();
    for (from, tos) in &uses {
        let Some(from_rank) = rank(from) else {
            panic!("module {from} is not in LAYERS: say where it belongs");
        };
        for to in tos {
            if rank(to).is_some_and(|r| r > from_rank) {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules using layers above them (a cycle in the making): {upward:?}\nall uses: {uses:?}"
    );
}
