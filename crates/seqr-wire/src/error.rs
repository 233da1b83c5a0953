//! The codec's error type.

use crate::types::SoapFault;

/// Everything that can go wrong while parsing. Each variant has a stable [`WireError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The document is larger than `Limits::max_bytes`.
    #[error("document of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Elements nest deeper than `Limits::max_depth`.
    #[error("elements nest deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More elements than `Limits::max_elements`.
    #[error("document has more than {max} elements")]
    TooManyElements {
        /// The limit.
        max: usize,
    },
    /// An element has more attributes (namespace declarations included) than `Limits::max_attributes`.
    #[error("an element has more than {max} attributes")]
    TooManyAttributes {
        /// The limit.
        max: usize,
    },
    /// A character XML 1.0 does not allow (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+FFFE, U+FFFF), written
    /// literally or as a character reference such as `&#x1;`.
    #[error("character U+{code_point:04X} is not allowed in XML 1.0")]
    IllegalCharacter {
        /// The character's code point.
        code_point: u32,
    },
    /// The input is not well-formed XML (or not UTF-8).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The document contains a DOCTYPE declaration, which is always rejected.
    #[error("DOCTYPE declarations are not allowed")]
    Doctype,
    /// An entity reference other than the five predefined ones and character references.
    #[error("unknown entity reference: {0}")]
    UnknownEntity(String),
    /// The root element is not a SOAP 1.1 `Envelope` (wrong name or namespace, e.g. SOAP 1.2).
    #[error("not a SOAP 1.1 envelope: {found}")]
    NotSoapEnvelope {
        /// The `{namespace}name` found.
        found: String,
    },
    /// The envelope has no `Body`, or the body has no payload element.
    #[error("SOAP body missing or empty")]
    MissingBody,
    /// The payload element is not in the SEQR namespace.
    #[error("payload element {found} is not in namespace http://external.interfaces.ers.seamless.com/")]
    WrongNamespace {
        /// The `{namespace}name` found.
        found: String,
    },
    /// The payload names an operation this codec does not know.
    #[error("unknown operation {0}")]
    UnknownOperation(String),
    /// A response wrapper other than the one expected for the operation.
    #[error("expected {expected}, found {found}")]
    UnexpectedElement {
        /// The expected wrapper name.
        expected: String,
        /// The wrapper name found.
        found: String,
    },
    /// A value could not be converted to its schema type (int, long, decimal, dateTime). `xs:base64Binary` never
    /// gives this error: it is decoded leniently, as JAXB does.
    #[error("invalid value for {element}: {value:?} ({reason})")]
    InvalidValue {
        /// The element name.
        element: String,
        /// The offending text (truncated to 64 characters).
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Strict mode: an element the schema does not allow here.
    #[error("unknown element {element} in {parent}")]
    UnknownElement {
        /// The unknown element's name.
        element: String,
        /// Its parent's name.
        parent: String,
    },
    /// Strict mode: a required element is missing.
    #[error("missing required element {element} in {parent}")]
    MissingElement {
        /// The missing element's name.
        element: String,
        /// Its parent's name.
        parent: String,
    },
    /// The peer answered with a SOAP fault.
    #[error("SOAP fault {0}")]
    Fault(SoapFault),
}

impl WireError {
    /// A stable, machine-readable code for the error class.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::TooLarge { .. } => "too_large",
            WireError::TooDeep { .. } => "too_deep",
            WireError::TooManyElements { .. } => "too_many_elements",
            WireError::TooManyAttributes { .. } => "too_many_attributes",
            WireError::IllegalCharacter { .. } => "illegal_character",
            WireError::Malformed(_) => "malformed_xml",
            WireError::Doctype => "doctype_forbidden",
            WireError::UnknownEntity(_) => "unknown_entity",
            WireError::NotSoapEnvelope { .. } => "not_soap11_envelope",
            WireError::MissingBody => "missing_body",
            WireError::WrongNamespace { .. } => "wrong_namespace",
            WireError::UnknownOperation(_) => "unknown_operation",
            WireError::UnexpectedElement { .. } => "unexpected_element",
            WireError::InvalidValue { .. } => "invalid_value",
            WireError::UnknownElement { .. } => "unknown_element",
            WireError::MissingElement { .. } => "missing_element",
            WireError::Fault(_) => "soap_fault",
        }
    }

    /// Whether a server should answer this with a `Client` fault (all parse errors are the client's fault).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, WireError::Fault(_))
    }
}
