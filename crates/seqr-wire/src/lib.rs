//! seqr-wire: the pure SOAP 1.1 codec for the SEQR v2 merchant API (no HTTP, no async).
//!
//! Server side: [`parse_request`] then [`render_response`] (or [`render_fault`]).
//! Client side: [`render_request`] then [`parse_response`] (a `soap:Fault` comes back as [`WireError::Fault`]).
//!
//! Parsing is lenient the way CXF/JAXB is (any prefixes, any child order, unknown elements ignored, missing
//! primitives default to 0, `xs:base64Binary` decoded as JAXB does, never an error) but bounded by [`Limits`], and
//! it never expands entities beyond the predefined five and character references; a DOCTYPE is always rejected,
//! and so is any character XML 1.0 forbids, literal or as a character reference ([`WireError::IllegalCharacter`]).
//! Rendering is byte-for-byte what SEQR sends: `soap` and `ns2` prefixes, unqualified children, schema element
//! order, null fields omitted. The characters XML 1.0 forbids cannot be written in any form, so the renderer drops
//! them from strings.

mod error;
mod parse;
mod render;
mod report;
mod types;
mod xml;

pub use crate::error::WireError;
pub use crate::parse::{parse_fault, parse_request, parse_request_with, parse_response, parse_response_with};
pub use crate::render::{render_fault, render_request, render_request_with, render_response, render_response_with};
pub use crate::report::{
    parse_report, report_text, DetailRow, ReconReport, ReportMeta, ReportRows, ReportShape, SummaryRow,
};
pub use crate::types::{
    AcknowledgmentMode, Amount, AssignSeqrIdRequest, CancelInvoiceRequest, ClientContext, CommitReservationRequest,
    CustomerToken, ErsResponse, ExecuteReportRequest, ExecuteReportResponse, FaultCode, GetPaymentStatusRequest,
    Invoice, InvoiceRow, InvoiceStatus, MarkTransactionPeriodRequest, MarkTransactionPeriodResponse, Operation,
    ParameterMap, PaymentMode, PaymentStatusResponse, PrincipalId, Receipt, ReceiptDocument, RefundPaymentRequest,
    RegisterTerminalRequest, RegisterTerminalResponse, Report, Request, Response, ResultCode, SendInvoiceRequest,
    SendInvoiceResponse, SoapFault, SubmitPaymentReceiptRequest, TokenStatus, UnregisterTerminalRequest,
    UpdateInvoiceRequest, XsDateTime, NS_SEQR, NS_SEQR_SERVICE, NS_SOAP_ENV,
};

/// The project's SEQR v2 main WSDL (binding and service). Its `soap:address` and import location contain
/// [`WSDL_ADDRESS_PLACEHOLDER`], which a server replaces with its own endpoint URL.
pub const WSDL_MAIN: &str = include_str!("../../../schemas/seqr/extclientproxy-v2.wsdl");
/// The imported WSDL (`?wsdl=ERSWSExternalClientService.wsdl`): portType, messages and the inline XSD (Gen B).
pub const WSDL_TYPES: &str = include_str!("../../../schemas/seqr/ERSWSExternalClientService.wsdl");
/// The endpoint URL written in [`WSDL_MAIN`]; replace every occurrence with the real endpoint when serving it.
pub const WSDL_ADDRESS_PLACEHOLDER: &str = "http://localhost:8913/extclientproxy/service/v2";

/// Input bounds enforced by the parser. Exceeding any gives a typed [`WireError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum document size in bytes (checked before parsing).
    pub max_bytes: usize,
    /// Maximum element nesting depth (the envelope is depth 1).
    pub max_depth: usize,
    /// Maximum number of elements in the document.
    pub max_elements: usize,
    /// Maximum number of attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
}

impl Limits {
    /// 1 MiB, depth 32, 20 000 elements, 64 attributes per element.
    pub const DEFAULT: Limits = Limits { max_bytes: 1 << 20, max_depth: 32, max_elements: 20_000, max_attributes: 64 };
}

/// Parser options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Input bounds.
    pub limits: Limits,
    /// Strict mode: unknown child elements inside the payload are rejected ([`WireError::UnknownElement`]) and
    /// required primitives (`clientRequestTimeout`, `invoiceVersion`, `resultCode`, `version`, token `status`)
    /// must be present ([`WireError::MissingElement`]). Element order is not checked.
    pub strict: bool,
}

impl ParseOptions {
    /// Lenient parsing with [`Limits::DEFAULT`], as CXF/JAXB does by default.
    pub const LENIENT: ParseOptions = ParseOptions { limits: Limits::DEFAULT, strict: false };
    /// Strict parsing with [`Limits::DEFAULT`].
    pub const STRICT: ParseOptions = ParseOptions { limits: Limits::DEFAULT, strict: true };
}

/// Renderer options: which schema generation the peer speaks.
///
/// With `gen_b: false` (Gen A peer) the Gen B additions are suppressed: `invoice.commitReservationTimeout` and
/// `commitReservation.amount` are omitted, status `EXPIRED` is rendered as `CANCELED` (the nearest Gen A terminal
/// state without a payment), and payment mode `RESERVATION_REQUIRED_PRELIMINARY_AMOUNT` is rendered as
/// `RESERVATION_REQUIRED`. With `gen_b: true` everything is rendered as given. The option-less functions
/// ([`render_request`], [`render_response`]) use [`RenderOptions::GEN_B`], i.e. they are lossless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Whether the peer understands the Gen B schema.
    pub gen_b: bool,
}

impl RenderOptions {
    /// Gen A output (the live 2013-2014 WSDL).
    pub const GEN_A: RenderOptions = RenderOptions { gen_b: false };
    /// Gen B output (2015 jars), lossless.
    pub const GEN_B: RenderOptions = RenderOptions { gen_b: true };
}

#[cfg(test)]
mod tests;
