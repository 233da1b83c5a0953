//! A bounded, namespace-aware XML tree reader and a small escaping writer.
//!
//! The reader builds a tiny element tree (namespace, local name, children, text) from a UTF-8 document while
//! enforcing [`Limits`]. It rejects any DOCTYPE and never expands entities other than the five predefined ones and
//! character references, so it cannot be made to allocate more than a small multiple of its input. It refuses
//! characters XML 1.0 does not allow, written literally anywhere in the document or as a character reference in
//! text or an attribute value, as a conforming XML parser does. Every check is linear in the input.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::escape::{EscapeError, ParseCharRefError};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::error::WireError;
use crate::types::{NS_SEQR, NS_SOAP_ENV};
use crate::Limits;

const NS_XSI: &[u8] = b"http://www.w3.org/2001/XMLSchema-instance";

/// The namespace of an element, with the two namespaces the codec cares about pre-classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ns {
    /// No namespace (unqualified).
    None,
    /// The SOAP 1.1 envelope namespace.
    Soap,
    /// The SEQR types namespace.
    Seqr,
    /// Anything else.
    Other(String),
}

impl Ns {
    pub(crate) fn uri(&self) -> &str {
        match self {
            Ns::None => "",
            Ns::Soap => NS_SOAP_ENV,
            Ns::Seqr => NS_SEQR,
            Ns::Other(s) => s,
        }
    }
}

/// One element of the parsed document.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) ns: Ns,
    pub(crate) name: String,
    pub(crate) children: Vec<Node>,
    /// Concatenated character data (text and CDATA) directly inside this element.
    pub(crate) text: String,
    /// Whether the element carried `xsi:nil="true"`.
    pub(crate) nil: bool,
}

impl Node {
    /// `{namespace}name` for error messages.
    pub(crate) fn qualified(&self) -> String {
        format!("{{{}}}{}", self.ns.uri(), self.name)
    }

    /// The element children that are not `xsi:nil`.
    pub(crate) fn elements(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter(|c| !c.nil)
    }
}

fn malformed(e: impl std::fmt::Display) -> WireError {
    WireError::Malformed(e.to_string())
}

fn map_escape(e: EscapeError) -> WireError {
    match e {
        EscapeError::UnrecognizedEntity(_, name) => WireError::UnknownEntity(name),
        // quick-xml refuses `&#0;` itself; the other forbidden references are caught by `check_chars`.
        EscapeError::InvalidCharRef(ParseCharRefError::IllegalCharacter(code_point)) => {
            WireError::IllegalCharacter { code_point }
        }
        other => malformed(other),
    }
}

/// Whether XML 1.0 allows `c` (production `Char`: `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
/// [#x10000-#x10FFFF]`; a `char` is never a surrogate).
pub(crate) fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Refuses the first character XML 1.0 does not allow.
fn check_chars(s: &str) -> Result<(), WireError> {
    match s.chars().find(|&c| !is_xml_char(c)) {
        Some(c) => Err(WireError::IllegalCharacter { code_point: c.into() }),
        None => Ok(()),
    }
}

fn map_xml(e: quick_xml::Error) -> WireError {
    match e {
        quick_xml::Error::Escape(e) => map_escape(e),
        other => malformed(other),
    }
}

fn resolve_ns(r: ResolveResult<'_>) -> Result<Ns, WireError> {
    match r {
        ResolveResult::Unbound => Ok(Ns::None),
        ResolveResult::Bound(ns) => Ok(match ns.as_ref() {
            b"http://schemas.xmlsoap.org/soap/envelope/" => Ns::Soap,
            b"http://external.interfaces.ers.seamless.com/" => Ns::Seqr,
            other => Ns::Other(String::from_utf8_lossy(other).into_owned()),
        }),
        ResolveResult::Unknown(p) => {
            Err(WireError::Malformed(format!("undeclared namespace prefix {:?}", String::from_utf8_lossy(&p))))
        }
    }
}

fn start_node(reader: &NsReader<&[u8]>, e: &BytesStart<'_>, limits: &Limits) -> Result<Node, WireError> {
    let (res, local) = reader.resolve_element(e.name());
    let ns = resolve_ns(res)?;
    let name = std::str::from_utf8(local.as_ref()).map_err(malformed)?.to_owned();
    let mut nil = false;
    // quick-xml's own duplicate check compares every attribute with all the earlier ones (quadratic in their
    // number), so it is off; duplicates are found with a hash set, after the count is bounded.
    let mut keys: HashSet<&[u8]> = HashSet::new();
    for attr in e.attributes().with_checks(false) {
        let attr = attr.map_err(malformed)?;
        if keys.len() >= limits.max_attributes {
            return Err(WireError::TooManyAttributes { max: limits.max_attributes });
        }
        if !keys.insert(attr.key.into_inner()) {
            let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            return Err(malformed(format!("duplicated attribute {key:?} on element {name:?}")));
        }
        // Every value is unescaped, as an XML parser does: an unknown entity or a character reference to a
        // forbidden character is refused wherever it is. The raw document was checked already, so only a
        // character reference (an owned result) can have produced a forbidden character.
        let value = attr.unescape_value().map_err(map_xml)?;
        if let Cow::Owned(v) = &value {
            check_chars(v)?;
        }
        if attr.key.local_name().as_ref() == b"nil" {
            let (res, _) = reader.resolve_attribute(attr.key);
            if matches!(res, ResolveResult::Bound(ns) if ns.as_ref() == NS_XSI) {
                nil = matches!(value.trim(), "true" | "1");
            }
        }
    }
    Ok(Node { ns, name, children: Vec::new(), text: String::new(), nil })
}

/// Parses a whole document into its root element, enforcing `limits`.
pub(crate) fn parse_document(input: &[u8], limits: &Limits) -> Result<Node, WireError> {
    if input.len() > limits.max_bytes {
        return Err(WireError::TooLarge { size: input.len(), max: limits.max_bytes });
    }
    let text = std::str::from_utf8(input).map_err(|e| WireError::Malformed(format!("not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // One pass over the whole document covers text, CDATA, attribute values, names, comments and PIs.
    check_chars(text)?;
    let mut reader = NsReader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.expand_empty_elements = true;
        cfg.check_end_names = true;
        cfg.trim_text(false);
    }
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(map_xml)?;
        match event {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(malformed("content after the root element"));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(WireError::TooManyElements { max: limits.max_elements });
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(WireError::TooDeep { max: limits.max_depth });
                }
                let node = start_node(&reader, &e, limits)?;
                stack.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| malformed("unmatched end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Empty(_) => {
                // Not produced: `expand_empty_elements` turns these into Start/End pairs.
                return Err(malformed("unexpected empty element event"));
            }
            Event::Text(t) => {
                let s: Cow<'_, str> = t.unescape().map_err(map_xml)?;
                if let Cow::Owned(o) = &s {
                    // Only a character reference can add a forbidden character to the checked input.
                    check_chars(o)?;
                }
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None => {
                        if !s.trim().is_empty() {
                            return Err(malformed("text outside the root element"));
                        }
                    }
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(c.as_ref()).map_err(malformed)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(s),
                    None => return Err(malformed("CDATA outside the root element")),
                }
            }
            Event::DocType(_) => return Err(WireError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unexpected end of document"));
    }
    root.ok_or_else(|| malformed("empty document"))
}

/// A string-building XML writer that escapes text the way CXF does.
pub(crate) struct Writer {
    pub(crate) out: String,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Writer {
        Writer { out: String::with_capacity(n) }
    }

    pub(crate) fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn empty(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str("/>");
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// `<name>escaped text</name>`.
    pub(crate) fn text_elem(&mut self, name: &str, value: &str) {
        self.open(name);
        escape_into(&mut self.out, value);
        self.close(name);
    }

    /// `text_elem` when the value is present; nothing otherwise.
    pub(crate) fn opt_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text_elem(name, v);
        }
    }
}

/// Escapes `&`, `<`, `>` and carriage return (which a parser would otherwise normalise away), and drops every
/// character XML 1.0 does not allow (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+FFFE, U+FFFF): they have no
/// representation at all (a character reference to one is just as ill-formed), and every parser, ours included,
/// would refuse the whole document.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\r' => "&#13;",
            c if !is_xml_char(c) => "",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
}
