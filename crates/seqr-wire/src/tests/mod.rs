//! Crate tests: golden files, round-trip properties, robustness, fuzzing on stable and the corpus.
//!
//! Golden files live in `crates/seqr-wire/test_data/`. `protocol/` holds the PROTOCOL.md §12 envelopes verbatim,
//! `lenient/` hand-written oddities that must parse, `render/` the exact output of the renderer. Run with
//! `UPDATE_EXPECT=1` to rewrite the `render/` files after an intended change (then review the diff).

mod corpus;
mod fuzz;
mod golden;
mod robust;
mod roundtrip;
mod samples;
mod wsdl;

use std::path::PathBuf;

pub(crate) fn test_data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data").join(rel)
}

pub(crate) fn read(rel: &str) -> String {
    let path = test_data(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Compares `actual` with the golden file byte for byte; with `UPDATE_EXPECT=1` rewrites the file instead.
#[track_caller]
pub(crate) fn check_golden(rel: &str, actual: &str) {
    let path = test_data(rel);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("golden {} missing ({e}); run with UPDATE_EXPECT=1", path.display()));
    assert!(
        expected == actual,
        "golden {} differs (run with UPDATE_EXPECT=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Removes whitespace-only text between tags (pretty-printing), for comparing with compact output.
pub(crate) fn compact(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut pending = String::new();
    let mut after_tag = false;
    for c in xml.chars() {
        if after_tag && c.is_whitespace() {
            pending.push(c);
            continue;
        }
        if c == '<' {
            pending.clear();
        } else {
            out.push_str(&pending);
            pending.clear();
        }
        after_tag = c == '>' || (after_tag && c.is_whitespace());
        out.push(c);
    }
    out.trim().to_owned()
}
