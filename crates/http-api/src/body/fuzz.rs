//! Fuzzing on stable: arbitrary bytes and structure-aware mutations of valid bodies (the seeds: `corpus/api/` at
//! the repository's root) through the parse of every body type, as its handler parses it (`parse_issue`,
//! `parse_change::<B>`, the resolve handler's `parse_with`; the cancel handler's empty body is `{}`). Nothing may
//! panic; every body gives a command or an [`ApiError`] with a 4xx status and a stable code: 400 `malformed_json`
//! or `duplicate_key`, 422 `invalid_body` or `unknown_field`. Bodies are bounded before this parse
//! (`MAX_BODY_BYTES`, by the extractor) and nesting by serde_json's recursion limit (a 400 `malformed_json`).
//!
//! Case counts are modest so that `cargo test` stays fast; `PROPTEST_CASES=100000 cargo test -p http-api fuzz`
//! raises them for a long run. The corpus replay is at the end; an input that finds a bug goes into the corpus.

use std::{path::PathBuf, sync::OnceLock};

use axum::http::StatusCode;
use proptest::{prelude::*, sample::Index};
use serde_json::{json, Value};

use crate::{
    body::parse_with,
    dto::{
        convert::{self, Invalid},
        requests::{CancelBody, CommitBody, LoyaltyBody, ReceiptBody, RefundBody, ResolveBody},
    },
    error::ApiError,
    invoices::{parse_change, parse_issue},
};

/// The body types of the API's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Issue,
    Loyalty,
    Commit,
    Cancel,
    Refund,
    Receipt,
    Resolve,
}

const KINDS: [Kind; 7] =
    [Kind::Issue, Kind::Loyalty, Kind::Commit, Kind::Cancel, Kind::Refund, Kind::Receipt, Kind::Resolve];

impl Kind {
    /// Its directory in `corpus/api/`.
    fn dir(self) -> &'static str {
        match self {
            Kind::Issue => "issue",
            Kind::Loyalty => "loyalty",
            Kind::Commit => "commit",
            Kind::Cancel => "cancel",
            Kind::Refund => "refund",
            Kind::Receipt => "receipt",
            Kind::Resolve => "resolve",
        }
    }

    /// The handler's parse of a body of this kind.
    fn parse(self, body: &[u8]) -> Result<(), ApiError> {
        match self {
            Kind::Issue => parse_issue(body).map(drop),
            Kind::Loyalty => parse_change::<LoyaltyBody>(body).map(drop),
            Kind::Commit => parse_change::<CommitBody>(body).map(drop),
            Kind::Cancel => parse_change::<CancelBody>(cancel_body(body)).map(drop),
            Kind::Refund => parse_change::<RefundBody>(body).map(drop),
            Kind::Receipt => parse_change::<ReceiptBody>(body).map(drop),
            Kind::Resolve => {
                parse_with(body, |b: ResolveBody| Ok::<_, Invalid>(convert::resolve(b, uuid::Uuid::nil()))).map(drop)
            }
        }
    }
}

/// The cancel handler reads an empty (or blank) body as `{}`.
fn cancel_body(body: &[u8]) -> &[u8] {
    if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(default: u32) -> ProptestConfig {
    ProptestConfig { cases: cases(default), max_shrink_iters: 2048, ..ProptestConfig::default() }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/api")
}

fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The seeds: every corpus body that its own kind accepts, as JSON.
fn seeds() -> &'static [(Kind, Value)] {
    static SEEDS: OnceLock<Vec<(Kind, Value)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        for kind in KINDS {
            for path in files_in(&corpus_dir().join(kind.dir())) {
                let body = std::fs::read(&path).unwrap();
                if kind.parse(&body).is_ok() {
                    seeds.push((kind, serde_json::from_slice(cancel_body(&body)).unwrap()));
                }
            }
        }
        for kind in KINDS {
            assert!(seeds.iter().any(|(k, _)| *k == kind), "no valid {kind:?} body in the corpus");
        }
        seeds
    })
}

/// The nesting serde_json (and so the body parser) reads at most.
fn depth_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        (1..1000).take_while(|&n| serde_json::from_str::<Value>(&nested(n)).is_ok()).last().unwrap()
    })
}

/// The checks every body passes, whatever it is, as every kind.
fn check_any_body(body: &[u8]) -> Result<(), TestCaseError> {
    for kind in KINDS {
        let read = if kind == Kind::Cancel { cancel_body(body) } else { body };
        let plain = serde_json::from_slice::<Value>(read);
        match kind.parse(body) {
            Ok(()) => prop_assert!(plain.is_ok(), "{kind:?} accepted what serde_json refuses: {plain:?}"),
            Err(e) => {
                let status = match e.code {
                    "malformed_json" | "duplicate_key" => StatusCode::BAD_REQUEST,
                    "invalid_body" | "unknown_field" => StatusCode::UNPROCESSABLE_ENTITY,
                    other => return Err(TestCaseError::fail(format!("{kind:?}: unexpected code {other:?}"))),
                };
                prop_assert_eq!(e.status, status, "{:?} {}", kind, e.code);
                prop_assert!(!e.message.is_empty());
                // A body JSON accepts is never malformed; one it refuses is malformed, or refused earlier for a
                // key given twice.
                match plain {
                    Ok(_) => prop_assert_ne!(e.code, "malformed_json", "{:?}: {}", kind, e.message),
                    Err(_) => prop_assert!(matches!(e.code, "malformed_json" | "duplicate_key"), "{kind:?}: {e:?}"),
                }
            }
        }
    }
    Ok(())
}

/// Every place in a JSON value, as a path of keys and indexes.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    At(usize),
}

fn places(v: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(path.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(Step::Key(k.clone()));
                places(child, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(Step::At(i));
                places(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn all_places(v: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    places(v, &mut Vec::new(), &mut out);
    out
}

fn at_mut<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::At(i) => &mut v[*i],
    })
}

/// JSON text of `v`, with the key `dup` of the object at `at` written twice.
fn text_with_duplicate(v: &Value, at: &[Step], dup: &str) -> String {
    fn write(v: &Value, path: &mut Vec<Step>, at: &[Step], dup: &str, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                let mut first = true;
                for (k, child) in m {
                    let times = if path == at && k == dup { 2 } else { 1 };
                    for _ in 0..times {
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        out.push_str(&Value::from(k.as_str()).to_string());
                        out.push(':');
                        path.push(Step::Key(k.clone()));
                        write(child, path, at, dup, out);
                        path.pop();
                    }
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, child) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    path.push(Step::At(i));
                    write(child, path, at, dup, out);
                    path.pop();
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut Vec::new(), at, dup, &mut out);
    out
}

/// JSON values that matter to the body's types: wrong types, edge numbers, strings the domain's parsers see.
fn odd_value() -> impl Strategy<Value = Value> {
    let strings = prop::sample::select(vec![
        "",
        "0",
        "-0",
        "-1",
        "1e3",
        "1E-3",
        "0.000000000000000000000000000001",
        "79228162514264337593543950336",
        "1e-99999999999",
        "99999999999999999999999999999999999999",
        "NaN",
        "Infinity",
        "\u{663}",
        "1\u{0}",
        "\u{0}",
        "\u{feff}1",
        "12.5 ",
        " 12.5",
        "SEK",
        "sek",
        "XXX",
        "2026-02-30T00:00:00Z",
        "+275760-09-13T00:00:00Z",
        "2026-01-02T03:04:05",
        "https://",
        "http://[::1]/",
        "https://shop.example/\u{7f}",
        "javascript:alert(1)",
        "====",
        "aGk",
        "aGk=",
        "aGl=",
        "IMMEDIATE_DEBIT",
        "immediate_debit",
        "succeeded",
        "used",
    ])
    .prop_map(Value::from);
    prop_oneof![
        strings,
        "\\PC{0,24}".prop_map(Value::from),
        "[0-9]{1,40}(\\.[0-9]{0,40})?".prop_map(Value::from),
        prop::sample::select(vec![
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(600),
            json!(4294967295u64),
            json!(4294967296u64),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(0.5),
            json!(1e308),
            json!(-1e308),
            json!(5e-324),
            json!([]),
            json!({}),
            json!([{}]),
            json!({"amount": "1", "currency": "SEK"}),
        ]),
        ("[a-z_]{1,12}", any::<bool>()).prop_map(|(k, b)| json!({ k: b })),
    ]
}

/// Fragments inserted into a body's text.
const FRAGMENTS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00\\ud800",
    b"\\uD83D\\uDE00",
    b"1e999999",
    b"-0",
    b"NaN",
    b"null",
    b"true",
    b"0x10",
    b"01",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"\0",
    b"/*",
    b" ",
    b"\"a\":1,",
    b"\"extra\":{},",
];

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => "\\PC{0,8}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ]
}

/// One mutation of a body: of its JSON (a value replaced, a field removed or added, a value nested) or of its text.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, Value),
    Remove(Index),
    Add(Index, String, Value),
    Nest(Index, usize),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Flip(Index, u8),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<Index>;
    prop_oneof![
        3 => (at(), odd_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => at().prop_map(Mutation::Remove),
        1 => (at(), "[a-z_]{1,10}", odd_value()).prop_map(|(i, k, v)| Mutation::Add(i, k, v)),
        1 => (at(), prop_oneof![1usize..8, 100usize..140, 1usize..100_000]).prop_map(|(i, d)| Mutation::Nest(i, d)),
        2 => (at(), fragment()).prop_map(|(i, f)| Mutation::Insert(i, f)),
        1 => (at(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (at(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => at().prop_map(Mutation::Truncate),
    ]
}

/// Applies the JSON mutations to the value, then the text mutations to its text.
fn mutated(seed: &Value, mutations: &[Mutation]) -> Vec<u8> {
    let mut value = seed.clone();
    // Nesting is written as text (a `Value` that deep would be dropped recursively by this test itself): a
    // placeholder string stands for the nested value until then.
    let mut nests = Vec::new();
    for m in mutations {
        let places = all_places(&value);
        match m {
            Mutation::Replace(i, v) => *at_mut(&mut value, &places[i.index(places.len())]) = v.clone(),
            Mutation::Remove(i) => {
                let path = &places[i.index(places.len())];
                if let Some((last, parent)) = path.split_last() {
                    match (at_mut(&mut value, parent), last) {
                        (Value::Object(o), Step::Key(k)) => drop(o.remove(k)),
                        (Value::Array(a), Step::At(n)) => drop(a.remove(*n)),
                        _ => {}
                    }
                }
            }
            Mutation::Add(i, k, v) => {
                if let Value::Object(o) = at_mut(&mut value, &places[i.index(places.len())]) {
                    o.insert(k.clone(), v.clone());
                }
            }
            Mutation::Nest(i, depth) => {
                let place = at_mut(&mut value, &places[i.index(places.len())]);
                let inner = serde_json::to_string(place).unwrap();
                let placeholder = format!("\u{1}NEST{}\u{1}", nests.len());
                nests.push((
                    serde_json::to_string(&placeholder).unwrap(),
                    format!("{}{inner}{}", "[".repeat(*depth), "]".repeat(*depth)),
                ));
                *place = Value::from(placeholder);
            }
            _ => {}
        }
    }
    let mut text = serde_json::to_string(&value).unwrap();
    for (placeholder, nested) in &nests {
        text = text.replacen(placeholder.as_str(), nested, 1);
    }
    let mut text = text.into_bytes();
    for m in mutations {
        let len = text.len().max(1);
        match m {
            Mutation::Insert(i, f) => {
                let at = i.index(len + 1).min(text.len());
                text.splice(at..at, f.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i.index(len).min(text.len());
                text.drain(at..(at + n).min(text.len()));
            }
            Mutation::Flip(i, bit) if !text.is_empty() => text[i.index(len)] ^= 1 << bit,
            Mutation::Truncate(i) => text.truncate(i.index(len)),
            _ => {}
        }
    }
    text
}

fn seed_at(seed: &Value, path: &[Step]) -> Value {
    let mut v = seed.clone();
    at_mut(&mut v, path).take()
}

fn seed() -> impl Strategy<Value = (Kind, Value)> {
    (0..seeds().len()).prop_map(|i| seeds()[i].clone())
}

fn code(r: Result<(), ApiError>) -> Result<(), (StatusCode, &'static str)> {
    r.map_err(|e| (e.status, e.code))
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary bytes, and bytes of JSON's own alphabet, as every body type.
    #[test]
    fn arbitrary_bodies_give_a_typed_result(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(prop::sample::select(b"{}[],:\"\\ 0123456789.eE+-truefalsnamoc".to_vec()), 0..256),
        prop::collection::vec(fragment(), 0..32).prop_map(|f| f.concat()),
    ]) {
        check_any_body(&body)?;
    }

    /// A valid body with one to four mutations, as every body type.
    #[test]
    fn mutated_bodies_give_a_typed_result((_, value) in seed(), mutations in prop::collection::vec(mutation(), 1..5)) {
        check_any_body(&mutated(&value, &mutations))?;
    }

    /// A field the API does not define, added to any object of a valid body: `unknown_field` naming its path
    /// (`invalid_body` at the top, where serde names it).
    #[test]
    fn an_added_field_is_refused_by_its_path((kind, value) in seed(), which in any::<Index>(), key in "[a-z]{1,8}", v in odd_value()) {
        let key = format!("x_{key}");
        let objects: Vec<Vec<Step>> = all_places(&value).into_iter().filter(|p| seed_at(&value, p).is_object()).collect();
        let path = objects[which.index(objects.len())].clone();
        let mut body = value.clone();
        at_mut(&mut body, &path).as_object_mut().unwrap().insert(key.clone(), v);
        let e = kind.parse(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        if path.is_empty() {
            prop_assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
            prop_assert!(e.message.contains(&format!("unknown field `{key}`")), "{}", e.message);
        } else {
            prop_assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_field"), "{}", e.message);
            let mut dotted: Vec<String> = path.iter().map(|s| match s { Step::Key(k) => k.clone(), Step::At(i) => i.to_string() }).collect();
            dotted.push(key);
            prop_assert!(e.message.contains(&format!("`{}`", dotted.join("."))), "{}", e.message);
        }
    }

    /// A key written twice, in any object of a valid body: 400 `duplicate_key`, whatever the values.
    #[test]
    fn a_key_given_twice_is_refused((kind, value) in seed(), which in any::<Index>(), key in any::<Index>()) {
        let objects: Vec<Vec<Step>> = all_places(&value)
            .into_iter()
            .filter(|p| seed_at(&value, p).as_object().is_some_and(|o| !o.is_empty()))
            .collect();
        prop_assume!(!objects.is_empty());
        let path = &objects[which.index(objects.len())];
        let object = seed_at(&value, path);
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        let body = text_with_duplicate(&value, path, keys[key.index(keys.len())]);
        prop_assert_eq!(code(kind.parse(body.as_bytes())), Err((StatusCode::BAD_REQUEST, "duplicate_key")), "{}", body);
    }

    /// Any value of a valid body nested in arrays: refused as the wrong type up to serde_json's recursion limit,
    /// as malformed beyond it (so nesting costs nothing: no deep value is ever built).
    #[test]
    fn nested_values_are_refused_and_bounded((kind, value) in seed(), which in any::<Index>(), depth in prop_oneof![1usize..8, 120usize..135, 1usize..200_000]) {
        let places = all_places(&value);
        let body = mutated(&value, &[Mutation::Nest(which, depth)]);
        let want = if text_depth(&body) > depth_limit() {
            (StatusCode::BAD_REQUEST, "malformed_json")
        } else {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
        };
        prop_assert_eq!(code(kind.parse(&body)), Err(want), "depth {} at {:?}", text_depth(&body), places[which.index(places.len())]);
    }

    /// Bytes that are not UTF-8, anywhere in a valid body: 400 `malformed_json`.
    #[test]
    fn invalid_utf8_is_malformed((kind, value) in seed(), at in any::<Index>(), bad in prop::sample::select(vec![
        &b"\xff"[..], b"\x80", b"\xc0\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    ])) {
        let mut body = serde_json::to_vec(&value).unwrap();
        let at = at.index(body.len() + 1);
        body.splice(at..at, bad.iter().copied());
        prop_assert_eq!(code(kind.parse(&body)), Err((StatusCode::BAD_REQUEST, "malformed_json")));
    }
}

/// The deepest nesting of arrays and objects in a JSON text (a scan: brackets outside strings).
fn text_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in text {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[test]
fn every_corpus_body_gives_a_typed_result_as_every_kind() {
    let mut replayed = 0;
    for kind in KINDS {
        for path in files_in(&corpus_dir().join(kind.dir())) {
            let body = std::fs::read(&path).unwrap();
            if let Err(e) = check_any_body(&body) {
                panic!("{}: {e}", path.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 20, "{replayed} files");
}

#[test]
fn corpus_outcomes_are_as_recorded() {
    let dir = corpus_dir();
    let expect = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
    let mut listed = std::collections::BTreeSet::new();
    for line in expect.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let [file, want] = line.split_whitespace().collect::<Vec<_>>()[..] else { panic!("bad line {line:?}") };
        let kind_dir = file.split('/').next().unwrap();
        let kind = KINDS.into_iter().find(|k| k.dir() == kind_dir).unwrap_or_else(|| panic!("{file}: no such kind"));
        let body = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("expect.txt names {file}: {e}"));
        let got = kind.parse(&body).map_or_else(|e| e.code, |()| "ok");
        assert_eq!(got, want, "{file}");
        listed.insert(file.to_owned());
    }
    for kind in KINDS {
        for path in files_in(&dir.join(kind.dir())) {
            let name = format!("{}/{}", kind.dir(), path.file_name().unwrap().to_string_lossy());
            assert!(listed.contains(&name), "{name} has no outcome in expect.txt");
        }
    }
}

/// The documented examples (`CommandBody::example`, in the OpenAPI document) are in the corpus.
#[test]
fn the_documented_examples_are_seeds() {
    use crate::extract::CommandBody;
    for (kind, example) in [
        (Kind::Issue, crate::dto::requests::IssueBody::example()),
        (Kind::Commit, CommitBody::example()),
        (Kind::Refund, RefundBody::example()),
    ] {
        let example = example.unwrap();
        assert!(seeds().contains(&(kind, example.clone())), "{kind:?} example {example} is not in corpus/api/");
    }
}
