//! A bounded, namespace-aware XML tree reader and a small escaping writer.
//!
//! The reader builds a tiny element tree (namespace, local name, children, text) from a UTF-8 document while
//! enforcing [`Limits`]. It rejects any DOCTYPE and never expands entities other than the five predefined ones and
//! character references, so it cannot be made to allocate more than a small multiple of its input.

use std::borrow::Cow;

use quick_xml::escape::EscapeError;
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
        other => malformed(other),
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

fn start_node(reader: &NsReader<&[u8]>, e: &BytesStart<'_>) -> Result<Node, WireError> {
    let (res, local) = reader.resolve_element(e.name());
    let ns = resolve_ns(res)?;
    let name = std::str::from_utf8(local.as_ref()).map_err(malformed)?.to_owned();
    let mut nil = false;
    for attr in e.attributes() {
        let attr = attr.map_err(malformed)?;
        let (res, local) = reader.resolve_attribute(attr.key);
        if local.as_ref() == b"nil" && matches!(res, ResolveResult::Bound(ns) if ns.as_ref() == NS_XSI) {
            let v = attr.unescape_value().map_err(map_xml)?;
            nil = matches!(v.trim(), "true" | "1");
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
                let node = start_node(&reader, &e)?;
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

/// Escapes `&`, `<`, `>` and carriage return (which a parser would otherwise normalise away).
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}
