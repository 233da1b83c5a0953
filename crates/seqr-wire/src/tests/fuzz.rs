//! Fuzzing on stable: arbitrary bytes and structure-aware mutations of the valid envelopes (the seeds: every file
//! of `test_data/` and of the repository's `corpus/soap/`) through every parse entry point. Nothing may panic;
//! every input gives a value or a typed error; what is accepted is within [`Limits`] (measured independently with
//! quick-xml's plain reader) and what crosses a limit is refused with that limit's error. No wall time is asserted:
//! time and memory per input are bounded by the limits, which these tests hold the parser to.
//!
//! Case counts are modest so that `cargo test` stays fast; `PROPTEST_CASES=100000 cargo test -p seqr-wire fuzz`
//! raises them all for a long run. A failing input goes into `corpus/soap/` (see `corpus.rs`).

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;

use crate::*;

/// `PROPTEST_CASES` when set, `default` otherwise.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(default: u32) -> ProptestConfig {
    // The shrinker is bounded too, so that a failure is reported in seconds.
    ProptestConfig { cases: cases(default), max_shrink_iters: 2048, ..ProptestConfig::default() }
}

/// The repository's SOAP corpus (`corpus/soap/`).
pub(crate) fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/soap")
}

/// Every file of `dir` (not recursive), sorted by name.
pub(crate) fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The seeds: every envelope of `test_data/` and the corpus's `.xml` files, as bytes.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut dirs: Vec<PathBuf> =
            ["protocol", "lenient", "render"].iter().map(|d| crate::tests::test_data(d)).collect();
        dirs.push(corpus_dir());
        let seeds: Vec<Vec<u8>> = dirs
            .iter()
            .flat_map(|d| files_in(d))
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .map(|p| std::fs::read(&p).unwrap())
            .collect();
        assert!(seeds.len() > 40, "{} seeds", seeds.len());
        seeds
    })
}

/// The seeds that are well-formed envelopes whose payload (the body's first child) has an end tag, with the span of
/// that payload.
fn envelopes() -> &'static [(Vec<u8>, Span)] {
    static ENVELOPES: OnceLock<Vec<(Vec<u8>, Span)>> = OnceLock::new();
    ENVELOPES.get_or_init(|| {
        let found: Vec<_> = seeds()
            .iter()
            .filter(|s| crate::xml::parse_document(s, &Limits::DEFAULT).is_ok())
            .filter_map(|s| payload(s).map(|p| (s.clone(), p)))
            .filter(|(_, p)| p.close_start < p.end)
            .collect();
        assert!(found.len() > 30, "{} envelopes", found.len());
        found
    })
}

/// One element of a seed, found by a plain scan: `<start ...>` ends at `open_end`, its content runs to
/// `close_start`, its end tag ends at `end` (`open_end == close_start == end` for `<empty/>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    open_end: usize,
    close_start: usize,
    end: usize,
    depth: usize,
}

fn find(doc: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    doc.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The end (after `>`) of the tag starting at `from`, skipping quoted attribute values.
fn tag_end(doc: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in doc.iter().enumerate().skip(from) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The elements of a well-formed seed, in document order (a scan, not a parser: comments, CDATA, PIs skipped).
pub(crate) fn spans(doc: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut open: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(lt) = find(doc, i, b"<") {
        let rest = &doc[lt..];
        let next = if rest.starts_with(b"<!--") {
            find(doc, lt, b"-->").map(|e| e + 3)
        } else if rest.starts_with(b"<![CDATA[") {
            find(doc, lt, b"]]>").map(|e| e + 3)
        } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            tag_end(doc, lt)
        } else if rest.starts_with(b"</") {
            let end = tag_end(doc, lt);
            if let (Some(end), Some((start, open_end, depth))) = (end, open.pop()) {
                out.push(Span { start, open_end, close_start: lt, end, depth });
            }
            end
        } else {
            let end = tag_end(doc, lt);
            if let Some(end) = end {
                if doc[end - 2] == b'/' {
                    out.push(Span { start: lt, open_end: end, close_start: end, end, depth: open.len() + 1 });
                } else {
                    open.push((lt, end, open.len() + 1));
                }
            }
            end
        };
        match next {
            Some(n) => i = n,
            None => break,
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

/// The local name of the element at `span`.
fn local_name(doc: &[u8], span: &Span) -> Vec<u8> {
    let name: Vec<u8> = doc[span.start + 1..]
        .iter()
        .copied()
        .take_while(|b| !b.is_ascii_whitespace() && *b != b'>' && *b != b'/')
        .collect();
    match name.iter().position(|&b| b == b':') {
        Some(colon) => name[colon + 1..].to_vec(),
        None => name,
    }
}

/// The payload's span: the first child of the envelope's `Body`.
fn payload(doc: &[u8]) -> Option<Span> {
    let spans = spans(doc);
    let body = spans.iter().find(|s| s.depth == 2 && local_name(doc, s) == b"Body")?;
    spans.iter().find(|s| s.depth == 3 && s.start > body.start && s.end <= body.end).copied()
}

/// Quick-xml's plain reader's view of a document, up to its first error: nesting depth, element count, most
/// attributes on one element. An oracle independent of the codec's own counting.
#[derive(Debug, Default)]
struct Measure {
    depth: usize,
    elements: usize,
    attributes: usize,
}

fn measure(input: &[u8]) -> Measure {
    let mut m = Measure::default();
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Start(e)) => {
                depth += 1;
                m.depth = m.depth.max(depth);
                m.elements += 1;
                let attributes = e.attributes().with_checks(false).take_while(Result::is_ok).count();
                m.attributes = m.attributes.max(attributes);
            }
            Ok(quick_xml::events::Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(quick_xml::events::Event::Eof) | Err(_) => return m,
            Ok(_) => {}
        }
        buf.clear();
    }
}

fn is_limit(e: &WireError) -> bool {
    matches!(
        e,
        WireError::TooLarge { .. }
            | WireError::TooDeep { .. }
            | WireError::TooManyElements { .. }
            | WireError::TooManyAttributes { .. }
    )
}

/// Every limit doubled.
const RAISED: Limits = Limits { max_bytes: 2 << 20, max_depth: 64, max_elements: 40_000, max_attributes: 128 };

/// A parse result reduced to what every entry point has: accepted, or refused with a typed error.
fn reduced<T>(r: &Result<T, WireError>) -> Result<(), WireError> {
    r.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn shown<T: std::fmt::Debug>(r: Result<T, WireError>) -> Result<String, WireError> {
    r.map(|v| format!("{v:?}"))
}

/// The results of the lenient entry points (request, fault, the response of every operation), each value as its
/// `Debug`.
fn lenient_outcomes(input: &[u8]) -> Vec<Result<String, WireError>> {
    let mut out = vec![shown(parse_request(input)), shown(parse_fault(input))];
    out.extend(Operation::ALL.iter().map(|&op| shown(parse_response(op, input))));
    out
}

/// `parse()` with raised limits, unless the default limits decided `at_default` (then it is not needed, and an
/// input over the default size is not read at all).
fn unless_limited<T>(
    at_default: &Result<T, WireError>,
    parse: impl FnOnce() -> Result<T, WireError>,
) -> Option<Result<T, WireError>> {
    (!at_default.as_ref().is_err_and(is_limit)).then(parse)
}

/// The checks every input passes, whatever it is, through every entry point (lenient and strict, default and
/// raised limits).
pub(crate) fn check_any_input(input: &[u8]) -> Result<(), TestCaseError> {
    let measured = OnceLock::new();
    let m = || measured.get_or_init(|| measure(input));
    let check_bounds = |what: &str, r: &Result<(), WireError>, limits: &Limits| -> Result<(), TestCaseError> {
        let too_large = input.len() > limits.max_bytes;
        prop_assert_eq!(
            matches!(r, Err(WireError::TooLarge { .. })),
            too_large,
            "{}: {} bytes, {:?}",
            what,
            input.len(),
            r
        );
        match r {
            Ok(()) => {
                prop_assert!(m().depth <= limits.max_depth, "{what}: accepted depth {}", m().depth);
                prop_assert!(m().elements <= limits.max_elements, "{what}: accepted {} elements", m().elements);
                prop_assert!(m().attributes <= limits.max_attributes, "{what}: accepted {} attributes", m().attributes);
            }
            Err(WireError::TooLarge { size, max }) => prop_assert_eq!((*size, *max), (input.len(), limits.max_bytes)),
            Err(WireError::TooDeep { max }) => {
                prop_assert_eq!(*max, limits.max_depth);
                prop_assert!(m().depth > *max, "{what}: too deep at depth {}", m().depth);
            }
            Err(WireError::TooManyElements { max }) => {
                prop_assert_eq!(*max, limits.max_elements);
                prop_assert!(m().elements > *max, "{what}: too many at {} elements", m().elements);
            }
            Err(WireError::TooManyAttributes { max }) => {
                prop_assert_eq!(*max, limits.max_attributes);
                prop_assert!(m().attributes > *max, "{what}: too many at {} attributes", m().attributes);
            }
            Err(e) => {
                // Every error has its stable code and a message.
                prop_assert!(!e.code().is_empty() && !e.to_string().is_empty());
            }
        }
        Ok(())
    };

    for strict in [false, true] {
        let default = ParseOptions { limits: Limits::DEFAULT, strict };
        let raised = ParseOptions { limits: RAISED, strict };
        #[allow(clippy::type_complexity)]
        let mut results: Vec<(String, Result<String, WireError>, Option<Result<String, WireError>>)> = Vec::new();

        let request = parse_request_with(input, &default);
        if let Err(e) = &request {
            prop_assert!(e.is_client_error(), "a request parse gave {e:?}");
        }
        if let Ok(r) = &request {
            // What is accepted renders and reads back as itself.
            let again = parse_request_with(render_request(r).as_bytes(), &ParseOptions::LENIENT);
            prop_assert_eq!(again.as_ref(), Ok(r), "request {:?}", r);
        }
        let request_raised = unless_limited(&request, || parse_request_with(input, &raised));
        results.push((format!("request strict={strict}"), shown(request.clone()), request_raised.map(shown)));
        if strict {
            // Strict mode refuses more, never reads differently.
            if let Ok(r) = &request {
                let lenient = parse_request(input);
                prop_assert_eq!(lenient.as_ref(), Ok(r));
            }
        }
        // A large input reads as one tree whatever the operation: two operations are enough to see it decoded.
        let ops = if input.len() > 64 << 10 {
            &[Operation::SendInvoice, Operation::GetPaymentStatus][..]
        } else {
            Operation::ALL
        };
        for &op in ops {
            let response = parse_response_with(op, input, &default);
            if let Ok(r) = &response {
                let again = parse_response(op, render_response(r).as_bytes());
                prop_assert_eq!(again.as_ref(), Ok(r), "{:?} response {:?}", op, r);
                if strict {
                    let lenient = parse_response(op, input);
                    prop_assert_eq!(lenient.as_ref(), Ok(r));
                }
            }
            let response_raised = unless_limited(&response, || parse_response_with(op, input, &raised));
            results.push((format!("{op:?} response strict={strict}"), shown(response), response_raised.map(shown)));
        }
        for (what, at_default, at_raised) in &results {
            check_bounds(what, &reduced(at_default), &Limits::DEFAULT)?;
            // A result the default limits did not decide is the same with raised limits: the limits are checked in
            // the same single pass as everything else, and cut it short only when crossed.
            if let Some(at_raised) = at_raised {
                check_bounds(what, &reduced(at_raised), &RAISED)?;
                prop_assert_eq!(at_default, at_raised, "{}", what);
            }
        }
    }
    let fault = parse_fault(input);
    if let Ok(f) = &fault {
        let again = parse_fault(render_fault(f.code.clone(), &f.message).as_bytes());
        prop_assert_eq!(again.as_ref(), Ok(f));
    }
    check_bounds("fault", &reduced(&fault), &Limits::DEFAULT)?;
    Ok(())
}

/// Inserts `what` at `at` (clamped).
fn inserted(doc: &[u8], at: usize, what: &[u8]) -> Vec<u8> {
    let at = at.min(doc.len());
    let mut out = Vec::with_capacity(doc.len() + what.len());
    out.extend_from_slice(&doc[..at]);
    out.extend_from_slice(what);
    out.extend_from_slice(&doc[at..]);
    out
}

/// Fragments that matter to an XML parser, inserted or written as text by the mutations.
const FRAGMENTS: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"<a>",
    b"</a>",
    b"<a/>",
    b"<ns2:a>",
    b"&",
    b"&amp;",
    b"&lt;",
    b"&#0;",
    b"&#x1;",
    b"&#xD800;",
    b"&#x110000;",
    b"&#99999999999;",
    b"&#xFFFE;",
    b"&#9;",
    b"&#13;",
    b"&xxe;",
    b"<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
    b"<![CDATA[",
    b"]]>",
    b"<![CDATA[<a>&xxe;]]>",
    b"<!--",
    b"-->",
    b"<?xml version=\"1.0\"?>",
    b"<?pi x?>",
    b" xmlns=\"\"",
    b" xmlns:ns2=\"http://external.interfaces.ers.seamless.com/\"",
    b" xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"",
    b" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
    b" xsi:nil=\"true\"",
    b" a=\"1\" a=\"2\"",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc0\x80",
    b"\0",
    b"\x0b",
    b"\r\n",
    b"\t",
    b"\xef\xbf\xbe",
    b"99999999999999999999",
    b"-9223372036854775809",
    b"2147483648",
    b"1e5",
    b"NaN",
    b".",
    b"-",
    b"+",
    b"-.5",
    b"79228162514264337593543950336",
    b"0.0000000000000000000000000000001",
    b"2015-13-01T00:00:00",
    b"2015-10-29T10:18:48+14:59",
    b"2015-10-29T10:18:48-99:99",
    b"2015-10-29T10:18:48+1:00",
    b"+275760-09-13T00:00:00",
    b"99999-12-31T23:59:59.999999999999Z",
    b"=",
    b"====",
    b"QQ==QUJD",
    b"\"",
    b"'",
    b"ns2:",
    b"soap:",
    b"\xe2\x80\xa8",
];

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => "\\PC{0,12}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

/// One mutation of a document.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    /// An element repeated, right after itself.
    Duplicate(Index, usize),
    /// Another part of the document copied to a place in it.
    Splice(Index, usize, Index),
    /// `depth` nested elements inserted.
    Nest(Index, usize),
    /// An element with many attributes, or a long attribute value, inserted.
    Wide(Index, usize, usize),
    /// The content of an element replaced.
    Text(Index, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<Index>;
    prop_oneof![
        1 => (at(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => (at(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        3 => (at(), fragment()).prop_map(|(i, f)| Mutation::Insert(i, f)),
        1 => (at(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => at().prop_map(Mutation::Truncate),
        2 => (at(), prop_oneof![1usize..4, 1usize..2_000, 15_000usize..25_000]).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        1 => (at(), 1usize..256, at()).prop_map(|(f, n, t)| Mutation::Splice(f, n, t)),
        1 => (at(), prop_oneof![1usize..40, 1usize..5000]).prop_map(|(i, d)| Mutation::Nest(i, d)),
        1 => (at(), 0usize..200, prop_oneof![0usize..16, 0usize..(1 << 20) + 64])
            .prop_map(|(i, n, len)| Mutation::Wide(i, n, len)),
        2 => (at(), fragment()).prop_map(|(i, t)| Mutation::Text(i, t)),
    ]
}

/// Documents built by these tests stay below this (the limit is 1 MiB), so that a test's own memory is bounded.
const BUILT_MAX: usize = 3 << 20;

fn apply(doc: &mut Vec<u8>, m: &Mutation) {
    let len = doc.len().max(1);
    match m {
        Mutation::Flip(i, bit) => {
            if !doc.is_empty() {
                let at = i.index(len);
                doc[at] ^= 1 << bit;
            }
        }
        Mutation::Set(i, b) => {
            if !doc.is_empty() {
                let at = i.index(len);
                doc[at] = *b;
            }
        }
        Mutation::Insert(i, f) => *doc = inserted(doc, i.index(len + 1), f),
        Mutation::Delete(i, n) => {
            let at = i.index(len).min(doc.len());
            let to = (at + n).min(doc.len());
            doc.drain(at..to);
        }
        Mutation::Truncate(i) => doc.truncate(i.index(len)),
        Mutation::Duplicate(i, times) => {
            let spans = spans(doc);
            if spans.is_empty() {
                return;
            }
            let s = spans[i.index(spans.len())];
            let element = doc[s.start..s.end].to_vec();
            let times = (*times).min(BUILT_MAX / element.len().max(1));
            *doc = inserted(doc, s.end, &element.repeat(times));
        }
        Mutation::Splice(from, n, to) => {
            let at = from.index(len).min(doc.len());
            let chunk = doc[at..(at + n).min(doc.len())].to_vec();
            *doc = inserted(doc, to.index(len + 1), &chunk);
        }
        Mutation::Nest(i, depth) => {
            let nest = format!("{}{}", "<n>".repeat(*depth), "</n>".repeat(*depth));
            *doc = inserted(doc, text_position(doc, *i), nest.as_bytes());
        }
        Mutation::Wide(i, n, value_len) => {
            let mut tag = String::from("<w");
            for a in 0..*n {
                tag.push_str(&format!(" a{a}=\"\""));
            }
            tag.push_str(&format!(" v=\"{}\"/>", "v".repeat(*value_len)));
            *doc = inserted(doc, text_position(doc, *i), tag.as_bytes());
        }
        Mutation::Text(i, t) => {
            let leaves: Vec<Span> = spans(doc).into_iter().filter(|s| s.open_end < s.close_start).collect();
            if let Some(s) = leaves.get(i.index(leaves.len().max(1))) {
                let mut out = doc[..s.open_end].to_vec();
                out.extend_from_slice(t);
                out.extend_from_slice(&doc[s.close_start..]);
                *doc = out;
            }
        }
    }
}

/// A place between tags (after an element's start tag), so that what is inserted there is content.
fn text_position(doc: &[u8], i: Index) -> usize {
    let spans = spans(doc);
    if spans.is_empty() {
        return i.index(doc.len() + 1);
    }
    spans[i.index(spans.len())].open_end
}

/// `what` inserted as the payload's last child.
fn in_payload(doc: &[u8], payload: &Span, what: &[u8]) -> Vec<u8> {
    inserted(doc, payload.close_start, what)
}

/// Asserts that every lenient entry point gives `want` (the same error everywhere) or, when `want` is `None`, the
/// seed's own results.
fn expect_everywhere(seed: &[u8], doc: &[u8], want: Option<&WireError>) -> Result<(), TestCaseError> {
    let got = lenient_outcomes(doc);
    match want {
        Some(e) => {
            for (i, r) in got.iter().enumerate() {
                prop_assert_eq!(r.as_ref(), Err(e), "entry point #{}", i);
            }
        }
        None => prop_assert_eq!(got, lenient_outcomes(seed)),
    }
    Ok(())
}

fn envelope() -> impl Strategy<Value = (Vec<u8>, Span)> {
    (0..envelopes().len()).prop_map(|i| envelopes()[i].clone())
}

proptest! {
    #![proptest_config(config(128))]

    /// Arbitrary bytes, and bytes of XML's own alphabet, through every entry point.
    #[test]
    fn arbitrary_input_gives_a_typed_result(input in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(prop::sample::select(b"<>/=\"'&;#x:! ?-[]ansoapEnvelopeBody".to_vec()), 0..512),
        prop::collection::vec(fragment(), 0..48).prop_map(|f| f.concat()),
    ]) {
        check_any_input(&input)?;
    }

    /// A valid envelope with one to four mutations (bytes flipped, inserted, deleted, truncated, elements
    /// duplicated, copied, nested deep, wide or long attributes, texts replaced).
    #[test]
    fn mutated_envelopes_give_a_typed_result(
        seed in 0..seeds().len(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let mut doc = seeds()[seed].clone();
        for m in &mutations {
            apply(&mut doc, m);
        }
        check_any_input(&doc)?;
    }
}

/// Values for the texts of elements: numbers of every width, dates, base64, enum spellings, anything.
fn leaf_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => "[-+]?[0-9]{0,40}(\\.[0-9]{0,40})?",
        1 => "[-+]?[0-9]{0,6}[.eE,][-+]?[0-9]{0,12}",
        1 => "[+-]?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{1,2}:[0-9]{1,2})?",
        1 => "[A-Za-z0-9+/= \n]{0,64}",
        1 => "[A-Z_]{0,24}",
        1 => "\\PC{0,16}",
    ]
    .prop_map(String::into_bytes)
}

proptest! {
    #![proptest_config(config(256))]

    /// The text of any element replaced with a value of another width, form or type.
    #[test]
    fn any_leaf_value_gives_a_typed_result(seed in 0..seeds().len(), which in any::<Index>(), value in leaf_value()) {
        let mut doc = seeds()[seed].clone();
        apply(&mut doc, &Mutation::Text(which, value));
        check_any_input(&doc)?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Elements nested inside the payload (depth 3): accepted as unknown content up to the depth limit (32), the
    /// whole document refused beyond it.
    #[test]
    fn nesting_beyond_the_limit_is_refused((seed, payload) in envelope(), depth in prop_oneof![20usize..40, 0usize..3000]) {
        let doc = in_payload(&seed, &payload, format!("{}{}", "<n>".repeat(depth), "</n>".repeat(depth)).as_bytes());
        let want = (3 + depth > 32).then_some(WireError::TooDeep { max: 32 });
        expect_everywhere(&seed, &doc, want.as_ref())?;
    }

    /// Elements added to the payload: accepted up to the element limit (20 000), refused beyond it.
    #[test]
    fn elements_beyond_the_limit_are_refused((seed, payload) in envelope(), delta in -3i64..3, far in 0usize..30_000, near in any::<bool>()) {
        let count = measure(&seed).elements;
        let extra = if near { usize::try_from(20_000 - count as i64 + delta).unwrap_or(0) } else { far };
        let doc = in_payload(&seed, &payload, "<e/>".repeat(extra).as_bytes());
        let want = (count + extra > 20_000).then_some(WireError::TooManyElements { max: 20_000 });
        prop_assert_eq!(reduced(&parse_request(&doc)), want.clone().map_or_else(|| reduced(&parse_request(&seed)), Err));
        prop_assert_eq!(reduced(&parse_fault(&doc)), want.map_or_else(|| reduced(&parse_fault(&seed)), Err));
    }

    /// An element with many attributes: accepted up to the limit (64), refused beyond it.
    #[test]
    fn attributes_beyond_the_limit_are_refused((seed, payload) in envelope(), n in prop_oneof![60usize..70, 0usize..5000]) {
        let attributes: String = (0..n).map(|a| format!(" a{a}=\"{a}\"")).collect();
        let doc = in_payload(&seed, &payload, format!("<e{attributes}/>").as_bytes());
        let want = (n > 64).then_some(WireError::TooManyAttributes { max: 64 });
        expect_everywhere(&seed, &doc, want.as_ref())?;
    }

    /// Entity and character references in text and attribute values: the five predefined ones and references to
    /// characters XML allows read as the seed does; a reference to a character XML forbids is an
    /// `illegal_character`, to no character at all `malformed_xml`, any other name `unknown_entity`.
    #[test]
    fn references_are_refused_or_read_as_xml_says(
        (seed, payload) in envelope(),
        reference in prop_oneof![
            prop::sample::select(vec!["lt", "gt", "amp", "apos", "quot"]).prop_map(|n| (n.to_owned(), None)),
            "[a-zA-Z_][a-zA-Z0-9_.-]{0,12}".prop_map(|n| {
                let want = (!["lt", "gt", "amp", "apos", "quot"].contains(&n.as_str()))
                    .then(|| WireError::UnknownEntity(n.clone()));
                (n, want)
            }),
            (prop_oneof![0u32..0x40, 0xd7f0u32..0xe010, 0xfff0u32..0x10010, 0x10fff0u32..0x110010, any::<u32>()], any::<bool>())
                .prop_map(|(cp, hex)| {
                    let spelled = if hex { format!("#x{cp:X}") } else { format!("#{cp}") };
                    let want = match char::from_u32(cp) {
                        Some(c) if crate::xml::is_xml_char(c) => None,
                        Some(_) => Some(WireError::IllegalCharacter { code_point: cp }),
                        None => Some(WireError::Malformed(String::new())),
                    };
                    (spelled, want)
                }),
        ],
        in_attribute in any::<bool>(),
    ) {
        let (name, want) = reference;
        let element = if in_attribute { format!("<e a=\"x&{name};y\"/>") } else { format!("<e>x&{name};y</e>") };
        let doc = in_payload(&seed, &payload, element.as_bytes());
        match want {
            Some(WireError::Malformed(_)) => {
                for r in lenient_outcomes(&doc) {
                    prop_assert_eq!(r.map_err(|e| e.code()), Err("malformed_xml"), "&{};", name);
                }
            }
            want => expect_everywhere(&seed, &doc, want.as_ref())?,
        }
    }

    /// Bytes that are not UTF-8, anywhere in a document: `malformed_xml`, saying so.
    #[test]
    fn invalid_utf8_is_refused(
        (seed, _) in envelope(),
        at in any::<Index>(),
        bad in prop::sample::select(vec![
            &b"\xff"[..], b"\xfe", b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80",
            b"\xed\xbf\xbf", b"\xf0\x82\x82\xac", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
        ]),
    ) {
        let doc = inserted(&seed, at.index(seed.len() + 1), bad);
        prop_assume!(std::str::from_utf8(&doc).is_err());
        for r in lenient_outcomes(&doc) {
            prop_assert!(matches!(&r, Err(WireError::Malformed(m)) if m.starts_with("not UTF-8")), "{:?}", r);
        }
    }

    /// A DOCTYPE before the root, whatever it declares: `doctype_forbidden`, nothing expanded.
    #[test]
    fn any_doctype_is_refused(
        (seed, _) in envelope(),
        doctype in prop::sample::select(vec![
            "<!DOCTYPE soap:Envelope>",
            "<!DOCTYPE x SYSTEM \"http://attacker.example/x.dtd\">",
            "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
            "<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>",
            "<!DOCTYPE x [<!ENTITY % p SYSTEM \"http://attacker.example/p\"> %p;]>",
        ]),
    ) {
        let root = spans(&seed)[0].start;
        let doc = inserted(&seed, root, doctype.as_bytes());
        expect_everywhere(&seed, &doc, Some(&WireError::Doctype))?;
    }

    /// An element repeated after itself: the root twice is `malformed_xml`; any other element read leniently as
    /// CXF does (the last value wins, lists grow), so the document is accepted whenever the seed is, and refused
    /// with the seed's error when it is not.
    #[test]
    fn duplicated_elements_read_leniently((seed, _) in envelope(), which in any::<Index>(), times in 1usize..4) {
        let spans = spans(&seed);
        let s = spans[which.index(spans.len())];
        let doc = inserted(&seed, s.end, &seed[s.start..s.end].repeat(times));
        let codes = |r: Vec<Result<String, WireError>>| r.into_iter().map(|r| r.map(drop).map_err(|e| e.code())).collect::<Vec<_>>();
        if s.depth == 1 {
            for r in lenient_outcomes(&doc) {
                prop_assert_eq!(r.map(drop).map_err(|e| e.code()), Err("malformed_xml"));
            }
        } else {
            prop_assert_eq!(codes(lenient_outcomes(&doc)), codes(lenient_outcomes(&seed)));
        }
    }
}

proptest! {
    #![proptest_config(config(16))]

    /// A document padded (after its root, or with one huge attribute value) to around the size limit (1 MiB):
    /// accepted up to it, refused beyond it, before anything else is read.
    #[test]
    fn documents_beyond_the_size_limit_are_refused((seed, payload) in envelope(), delta in -2i64..3, in_attribute in any::<bool>()) {
        let target = usize::try_from((1 << 20) + delta).unwrap();
        let doc = if in_attribute {
            let frame = in_payload(&seed, &payload, b"<e v=\"\"/>").len();
            in_payload(&seed, &payload, format!("<e v=\"{}\"/>", "v".repeat(target - frame)).as_bytes())
        } else {
            let mut doc = seed.clone();
            doc.resize(target, b' ');
            doc
        };
        prop_assert_eq!(doc.len(), target);
        let want = (target > 1 << 20).then_some(WireError::TooLarge { size: target, max: 1 << 20 });
        // Two entry points: every one reads the same tree, and each read of a 1 MiB document takes a while.
        prop_assert_eq!(shown(parse_request(&doc)), want.clone().map_or_else(|| shown(parse_request(&seed)), Err));
        prop_assert_eq!(shown(parse_fault(&doc)), want.map_or_else(|| shown(parse_fault(&seed)), Err));
    }
}

#[test]
fn the_scanner_finds_every_payload() {
    let envelopes = envelopes();
    // Every seed that is a well-formed envelope with a non-empty payload is used by the targeted tests.
    for (doc, payload) in envelopes {
        let name = local_name(doc, payload);
        assert!(!name.is_empty());
        let spans = spans(doc);
        assert_eq!(spans.len(), measure(doc).elements, "{}", String::from_utf8_lossy(doc));
        assert!(spans.iter().all(|s| s.start < s.open_end && s.open_end <= s.close_start && s.close_start <= s.end));
    }
}

/// The repository's report corpus (`corpus/report/`).
pub(crate) fn report_corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/report")
}

fn report_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = report_corpus_dir();
        files_in(&dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    })
}

/// The checks every report text passes: a report or a typed error, the size limit first, what is accepted within
/// the depth and element limits; the same through `report_text` when it arrives as base64 `content`.
pub(crate) fn check_any_report(input: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(input);
    let result = parse_report(&text, &Limits::DEFAULT);
    prop_assert_eq!(matches!(result, Err(WireError::TooLarge { .. })), text.len() > Limits::DEFAULT.max_bytes);
    match &result {
        Ok(_) => {
            let m = measure(text.as_bytes());
            prop_assert!(m.elements <= Limits::DEFAULT.max_elements && m.attributes <= Limits::DEFAULT.max_attributes);
        }
        Err(e) => prop_assert!(!e.code().is_empty() && !e.to_string().is_empty()),
    }
    let report = Report { content: Some(input.to_vec()), ..Report::default() };
    match report_text(&report) {
        Ok(t) => prop_assert_eq!(
            reduced(&parse_report(&t, &Limits::DEFAULT)),
            reduced(&parse_report(std::str::from_utf8(input).unwrap(), &Limits::DEFAULT))
        ),
        Err(e) => prop_assert!(std::str::from_utf8(input).is_err(), "{e:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary bytes, and the corpus's reports mutated, through the report parser.
    #[test]
    fn any_report_gives_a_typed_result(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            prop::collection::vec(fragment(), 0..32).prop_map(|f| f.concat()),
            (0..report_seeds().len(), prop::collection::vec(mutation(), 1..4)).prop_map(|(seed, mutations)| {
                let mut doc = report_seeds()[seed].clone();
                for m in &mutations {
                    apply(&mut doc, m);
                }
                doc
            }),
            (0..report_seeds().len(), any::<Index>(), leaf_value()).prop_map(|(seed, which, value)| {
                let mut doc = report_seeds()[seed].clone();
                apply(&mut doc, &Mutation::Text(which, value));
                doc
            }),
        ],
    ) {
        check_any_report(&input)?;
    }
}

/// A report wrapped in itself (each level escaped once more) up to the size limit is unwrapped once, as the
/// documented CDATA form needs, and refused: reading it again at each of its 361 levels took time and memory
/// quadratic in its size (4 s, ~180 MB for 1 MiB).
#[test]
fn a_report_wrapped_in_itself_is_unwrapped_once() {
    let escaped = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut doc = "<TransactionDetails/>".to_owned();
    let mut levels = 0;
    loop {
        let next = format!("<a>{}</a>", escaped(&doc));
        if next.len() > Limits::DEFAULT.max_bytes {
            break;
        }
        doc = next;
        levels += 1;
    }
    assert!(levels > 300, "{levels}");
    let e = parse_report(&doc, &Limits::DEFAULT).unwrap_err();
    assert_eq!(e.code(), "unexpected_element", "{e}");
    // Once is what the documented form needs.
    let once = format!("<contentString>{}</contentString>", escaped("<TransactionDetails/>"));
    assert_eq!(parse_report(&once, &Limits::DEFAULT).map(|r| r.shape), Ok(crate::ReportShape::TransactionDetails));
}
