//! The SOAP and report corpora (`corpus/soap/`, `corpus/report/` at the repository's root): every file, listed or not, goes through every entry
//! point with the fuzz tests' checks (no panic, a value or a typed error, within the limits, what is read renders
//! and reads back as itself); `corpus/soap/expect.txt` records the outcome of some files at one entry point. The
//! seeds of `test_data/` are replayed the same way. Inputs a fuzzer or a property test finds go into the corpus
//! (minimized), with their outcome in `expect.txt` once the bug is fixed.

use std::collections::BTreeSet;

use crate::tests::fuzz::{check_any_input, check_any_report, corpus_dir, files_in, report_corpus_dir};
use crate::tests::test_data;
use crate::*;

/// The outcome of `input` at `entry` (`request`, `request-strict`, `fault`, `response:<operation>`): `ok` or the
/// error's code.
fn outcome(entry: &str, input: &[u8]) -> &'static str {
    let code = |r: Result<(), WireError>| r.map_or_else(|e| e.code(), |()| "ok");
    match entry {
        "request" => code(parse_request(input).map(drop)),
        "request-strict" => code(parse_request_with(input, &ParseOptions::STRICT).map(drop)),
        "fault" => code(parse_fault(input).map(drop)),
        _ => {
            let name = entry.strip_prefix("response:").unwrap_or_else(|| panic!("unknown entry point {entry:?}"));
            let op = Operation::from_name(name).unwrap_or_else(|| panic!("unknown operation {name:?}"));
            code(parse_response(op, input).map(drop))
        }
    }
}

#[test]
fn every_corpus_file_gives_a_typed_result_within_the_limits() {
    let mut dirs = vec![corpus_dir()];
    dirs.extend(["protocol", "lenient", "render"].map(test_data));
    let mut replayed = 0;
    for dir in &dirs {
        for path in files_in(dir) {
            let input = std::fs::read(&path).unwrap();
            if let Err(e) = check_any_input(&input) {
                panic!("{}: {e}", path.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 60, "{replayed} files");
}

#[test]
fn corpus_outcomes_are_as_recorded() {
    let dir = corpus_dir();
    let expect = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
    let mut listed = BTreeSet::new();
    for line in expect.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [file, entry, want] = fields[..] else { panic!("expect.txt: bad line {line:?}") };
        let input = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("expect.txt names {file}: {e}"));
        assert_eq!(outcome(entry, &input), want, "{file} at {entry}");
        listed.insert(file.to_owned());
    }
    // Every hand-written file has its outcome recorded (a fuzzer's finds may be replayed unlisted).
    for path in files_in(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".xml") {
            assert!(listed.contains(&name), "{name} has no outcome in expect.txt");
        }
    }
}

#[test]
fn report_corpus_outcomes_are_as_recorded() {
    let dir = report_corpus_dir();
    let mut listed = BTreeSet::new();
    let expect = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
    for line in expect.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let [file, want] = line.split_whitespace().collect::<Vec<_>>()[..] else { panic!("bad line {line:?}") };
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("expect.txt names {file}: {e}"));
        let got = parse_report(&text, &Limits::DEFAULT).map_or_else(|e| e.code(), |_| "ok");
        assert_eq!(got, want, "{file}");
        listed.insert(file.to_owned());
    }
    for path in files_in(&dir) {
        let input = std::fs::read(&path).unwrap();
        if let Err(e) = check_any_report(&input) {
            panic!("{}: {e}", path.display());
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with(".xml") || listed.contains(&name), "{name} has no outcome in expect.txt");
    }
}
