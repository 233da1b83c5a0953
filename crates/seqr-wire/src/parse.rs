//! Typed parsing of requests, responses and faults.
//!
//! Lenient like CXF/JAXB: any prefixes, children in any order, unknown children ignored, child namespaces not
//! checked, missing required primitives read as 0. Empty or whitespace-only text in a number, enum or dateTime
//! element reads as absent (0 for required primitives); any other unconvertible text is
//! [`WireError::InvalidValue`]. String values are kept exactly as written (no trimming), as JAXB does.
//! `xs:base64Binary` never fails: it is decoded as JAXB decodes it (`decode_base64_jaxb`).

use chrono::{FixedOffset, NaiveDateTime};
use rust_decimal::Decimal;

use crate::error::WireError;
use crate::types::*;
use crate::xml::{parse_document, Node, Ns};
use crate::ParseOptions;

/// Parses a request envelope (server side) leniently with default limits.
pub fn parse_request(input: &[u8]) -> Result<Request, WireError> {
    parse_request_with(input, &ParseOptions::LENIENT)
}

/// Parses a request envelope (server side).
///
/// The envelope must be SOAP 1.1 ([`WireError::NotSoapEnvelope`]) and the wrapper must be in the SEQR namespace
/// ([`WireError::WrongNamespace`]) and name a known operation ([`WireError::UnknownOperation`]).
pub fn parse_request_with(input: &[u8], opts: &ParseOptions) -> Result<Request, WireError> {
    let root = parse_document(input, &opts.limits)?;
    let payload = body_payload(&root)?;
    if payload.ns != Ns::Seqr {
        return Err(WireError::WrongNamespace { found: payload.qualified() });
    }
    let op = Operation::from_name(&payload.name).ok_or_else(|| WireError::UnknownOperation(payload.name.clone()))?;
    let cx = Cx { strict: opts.strict };
    decode_request(op, payload, &cx)
}

/// Parses the response to `op` (client side) leniently; a `soap:Fault` gives [`WireError::Fault`].
pub fn parse_response(op: Operation, input: &[u8]) -> Result<Response, WireError> {
    parse_response_with(op, input, &ParseOptions::LENIENT)
}

/// Parses the response to `op` (client side); a `soap:Fault` gives [`WireError::Fault`].
///
/// The wrapper must be `{SEQR}<op>Response` ([`WireError::UnexpectedElement`] otherwise) and must contain a
/// `return` element ([`WireError::MissingElement`] otherwise, even in lenient mode).
pub fn parse_response_with(op: Operation, input: &[u8], opts: &ParseOptions) -> Result<Response, WireError> {
    let root = parse_document(input, &opts.limits)?;
    let payload = body_payload(&root)?;
    let cx = Cx { strict: opts.strict };
    if payload.ns == Ns::Soap && payload.name == "Fault" {
        return Err(WireError::Fault(decode_fault(payload)));
    }
    if payload.ns != Ns::Seqr {
        return Err(WireError::WrongNamespace { found: payload.qualified() });
    }
    if payload.name != op.response_name() {
        return Err(WireError::UnexpectedElement {
            expected: op.response_name().to_owned(),
            found: payload.name.clone(),
        });
    }
    let mut ret = None;
    for ch in cx.kids(payload)? {
        match ch.name.as_str() {
            "return" => ret = Some(ch),
            _ => cx.unknown(ch, payload)?,
        }
    }
    let ret =
        ret.ok_or_else(|| WireError::MissingElement { element: "return".to_owned(), parent: payload.name.clone() })?;
    decode_response(op, ret, &cx)
}

/// Parses a document that must be a `soap:Fault` envelope.
pub fn parse_fault(input: &[u8]) -> Result<SoapFault, WireError> {
    let root = parse_document(input, &ParseOptions::LENIENT.limits)?;
    let payload = body_payload(&root)?;
    if payload.ns == Ns::Soap && payload.name == "Fault" {
        Ok(decode_fault(payload))
    } else {
        Err(WireError::UnexpectedElement { expected: "Fault".to_owned(), found: payload.qualified() })
    }
}

fn body_payload(root: &Node) -> Result<&Node, WireError> {
    if root.ns != Ns::Soap || root.name != "Envelope" {
        return Err(WireError::NotSoapEnvelope { found: root.qualified() });
    }
    let body = root.children.iter().find(|c| c.ns == Ns::Soap && c.name == "Body").ok_or(WireError::MissingBody)?;
    body.children.first().ok_or(WireError::MissingBody)
}

fn decode_fault(n: &Node) -> SoapFault {
    let mut code = FaultCode::Other(String::new());
    let mut message = String::new();
    for ch in &n.children {
        match ch.name.as_str() {
            "faultcode" => {
                let t = ch.text.trim();
                let local = t.rsplit_once(':').map_or(t, |(_, l)| l);
                code = FaultCode::from_local(local);
            }
            "faultstring" => message = ch.text.clone(),
            _ => {}
        }
    }
    SoapFault { code, message }
}

/// Decoding context: the strictness switch and helpers that depend on it.
struct Cx {
    strict: bool,
}

impl Cx {
    /// The element children of `n`; in strict mode, namespace-qualified children are rejected.
    fn kids<'a>(&self, n: &'a Node) -> Result<impl Iterator<Item = &'a Node>, WireError> {
        if self.strict {
            if let Some(bad) = n.elements().find(|c| c.ns != Ns::None) {
                return Err(WireError::UnknownElement { element: bad.qualified(), parent: n.name.clone() });
            }
        }
        Ok(n.elements())
    }

    fn unknown(&self, ch: &Node, parent: &Node) -> Result<(), WireError> {
        if self.strict {
            Err(WireError::UnknownElement { element: ch.name.clone(), parent: parent.name.clone() })
        } else {
            Ok(())
        }
    }

    fn require(&self, seen: bool, element: &str, parent: &Node) -> Result<(), WireError> {
        if self.strict && !seen {
            Err(WireError::MissingElement { element: element.to_owned(), parent: parent.name.clone() })
        } else {
            Ok(())
        }
    }
}

fn invalid(n: &Node, value: &str, reason: impl Into<String>) -> WireError {
    WireError::InvalidValue { element: n.name.clone(), value: value.chars().take(64).collect(), reason: reason.into() }
}

fn text(n: &Node) -> Option<String> {
    Some(n.text.clone())
}

/// The trimmed text, or `None` when it is empty.
fn trimmed(n: &Node) -> Option<&str> {
    let t = n.text.trim();
    (!t.is_empty()).then_some(t)
}

fn long(n: &Node) -> Result<Option<i64>, WireError> {
    trimmed(n).map(|t| t.parse::<i64>().map_err(|e| invalid(n, t, e.to_string()))).transpose()
}

fn int(n: &Node) -> Result<Option<i32>, WireError> {
    trimmed(n).map(|t| t.parse::<i32>().map_err(|e| invalid(n, t, e.to_string()))).transpose()
}

/// Parses the `xs:decimal` lexical form (optional sign, digits, optional fraction; no exponent).
pub(crate) fn parse_decimal(t: &str) -> Result<Decimal, String> {
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_ok = int_part.bytes().all(|b| b.is_ascii_digit()) && frac_part.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok || (int_part.is_empty() && frac_part.is_empty()) {
        return Err("not an xs:decimal".to_owned());
    }
    let normalised = t.strip_prefix('+').unwrap_or(t);
    let normalised: std::borrow::Cow<'_, str> =
        if normalised.ends_with('.') { normalised.trim_end_matches('.').into() } else { normalised.into() };
    let normalised: std::borrow::Cow<'_, str> = match normalised.strip_prefix("-.") {
        Some(rest) => format!("-0.{rest}").into(),
        None => match normalised.strip_prefix('.') {
            Some(rest) => format!("0.{rest}").into(),
            None => normalised,
        },
    };
    Decimal::from_str_exact(&normalised).map_err(|e| e.to_string())
}

fn decimal(n: &Node) -> Result<Option<Decimal>, WireError> {
    trimmed(n).map(|t| parse_decimal(t).map_err(|e| invalid(n, t, e))).transpose()
}

/// Parses an `xs:dateTime` with or without a zone (`Z` or `±HH:MM`).
pub(crate) fn parse_datetime(t: &str) -> Result<XsDateTime, String> {
    let (local, offset) = if let Some(rest) = t.strip_suffix('Z') {
        (rest, Some(FixedOffset::east_opt(0).ok_or("bad offset")?))
    } else if t.len() > 6 && matches!(t.as_bytes()[t.len() - 6], b'+' | b'-') && t.as_bytes()[t.len() - 3] == b':' {
        let (local, zone) = t.split_at(t.len() - 6);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let hh: i32 = zone[1..3].parse().map_err(|_| "bad zone hours")?;
        let mm: i32 = zone[4..6].parse().map_err(|_| "bad zone minutes")?;
        if hh > 14 || mm > 59 {
            return Err("zone out of range".to_owned());
        }
        (local, Some(FixedOffset::east_opt(sign * (hh * 3600 + mm * 60)).ok_or("bad offset")?))
    } else {
        (t, None)
    };
    let datetime = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f").map_err(|e| e.to_string())?;
    Ok(XsDateTime { datetime, offset })
}

fn datetime(n: &Node) -> Result<Option<XsDateTime>, WireError> {
    trimmed(n).map(|t| parse_datetime(t).map_err(|e| invalid(n, t, e))).transpose()
}

/// Decodes `xs:base64Binary` the way SEQR's JAXB runtime does (`DatatypeConverterImpl._parseBase64Binary`, which
/// both `DatatypeConverter.parseBase64Binary` and the unmarshaller of `byte[]` fields use). It never fails:
///
/// - every character other than `A-Z a-z 0-9 + / =` is skipped: whitespace, MIME line breaks, stray punctuation;
/// - the remaining characters are taken four at a time, and each complete group gives three bytes, less the
///   second for a `=` in its third place and the third for a `=` in its fourth (so `=` also ends a group in the
///   middle of the text: `QQ==QUJD` is `AABC`);
/// - an incomplete last group (one to three characters, which is what missing padding leaves) is dropped whole,
///   bits and all: `QUJDRA==` is `ABCD` but unpadded `QUJDRA` is `ABC`, and `QUJDREU` is `ABC`, not `ABCDE`.
///
/// A `=` in the first or second place of a group is JAXB's value 127 for padding and is shifted in like a digit;
/// the garbage bytes this gives are JAXB's too. Two inputs make JAXB's lookup table overflow (an
/// `ArrayIndexOutOfBoundsException` inside the converter) where this function returns bytes instead: a character
/// above U+007F (skipped here like any other non-alphabet character) and `=` at the very end inside the dropped
/// incomplete group (e.g. `QUJDRA=`, read here as `ABC`, the same as JAXB reads `QUJDRA=` followed by a newline).
pub(crate) fn decode_base64_jaxb(text: &str) -> Vec<u8> {
    const PAD: u8 = 127;
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut group = [0u8; 4];
    let mut filled = 0;
    for b in text.bytes() {
        group[filled] = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => PAD,
            _ => continue,
        };
        filled += 1;
        if filled == 4 {
            filled = 0;
            let [a, b, c, d] = group.map(u32::from);
            // Java's `(byte)` casts: the low eight bits of the int.
            out.push(((a << 2) | (b >> 4)) as u8);
            if group[2] != PAD {
                out.push(((b << 4) | (c >> 2)) as u8);
            }
            if group[3] != PAD {
                out.push(((c << 6) | d) as u8);
            }
        }
    }
    out
}

fn base64(n: &Node) -> Option<Vec<u8>> {
    Some(decode_base64_jaxb(&n.text))
}

fn context(n: &Node, cx: &Cx) -> Result<ClientContext, WireError> {
    let mut c = ClientContext::default();
    let mut seen_timeout = false;
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "channel" => c.channel = text(ch),
            "clientComment" => c.client_comment = text(ch),
            "clientId" => c.client_id = text(ch),
            "clientReference" => c.client_reference = text(ch),
            "clientRequestTimeout" => {
                seen_timeout = true;
                c.client_request_timeout = long(ch)?.unwrap_or(0);
            }
            "initiatorPrincipalId" => c.initiator_principal_id = Some(principal(ch, cx)?),
            "password" => c.password = text(ch),
            _ => cx.unknown(ch, n)?,
        }
    }
    cx.require(seen_timeout, "clientRequestTimeout", n)?;
    Ok(c)
}

fn principal(n: &Node, cx: &Cx) -> Result<PrincipalId, WireError> {
    let mut p = PrincipalId::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "id" => p.id = text(ch),
            "type" => p.principal_type = text(ch),
            "userId" => p.user_id = text(ch),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(p)
}

fn amount(n: &Node, cx: &Cx) -> Result<Amount, WireError> {
    let mut a = Amount::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "currency" => a.currency = text(ch),
            "value" => a.value = decimal(ch)?,
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(a)
}

fn invoice(n: &Node, cx: &Cx) -> Result<Invoice, WireError> {
    let mut i = Invoice::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "paymentMode" => i.payment_mode = trimmed(ch).map(PaymentMode::from_wire),
            "acknowledgmentMode" => i.acknowledgment_mode = trimmed(ch).map(AcknowledgmentMode::from_wire),
            "issueDate" => i.issue_date = datetime(ch)?,
            "title" => i.title = text(ch),
            "clientInvoiceId" => i.client_invoice_id = text(ch),
            "invoiceRows" => {
                for row in cx.kids(ch)? {
                    match row.name.as_str() {
                        "invoiceRow" => i.invoice_rows.push(invoice_row(row, cx)?),
                        _ => cx.unknown(row, ch)?,
                    }
                }
            }
            "totalAmount" => i.total_amount = Some(amount(ch, cx)?),
            "cashierId" => i.cashier_id = text(ch),
            "footer" => i.footer = text(ch),
            "backURL" => i.back_url = text(ch),
            "notificationUrl" => i.notification_url = text(ch),
            "commitReservationTimeout" => i.commit_reservation_timeout = long(ch)?,
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(i)
}

fn invoice_row(n: &Node, cx: &Cx) -> Result<InvoiceRow, WireError> {
    let mut r = InvoiceRow::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "itemDescription" => r.item_description = text(ch),
            "itemDiscount" => r.item_discount = Some(amount(ch, cx)?),
            "itemEAN" => r.item_ean = text(ch),
            "itemQuantity" => r.item_quantity = decimal(ch)?,
            "itemSKU" => r.item_sku = text(ch),
            "itemTaxRate" => r.item_tax_rate = decimal(ch)?,
            "itemTotalAmount" => r.item_total_amount = Some(amount(ch, cx)?),
            "itemUnit" => r.item_unit = text(ch),
            "itemUnitPrice" => r.item_unit_price = Some(amount(ch, cx)?),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(r)
}

fn token(n: &Node, cx: &Cx) -> Result<CustomerToken, WireError> {
    let mut t = CustomerToken { description: None, id: None, status: TokenStatus::Pending, value: None };
    let mut seen_status = false;
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "description" => t.description = text(ch),
            "id" => t.id = text(ch),
            "status" => {
                seen_status = true;
                t.status = TokenStatus::from_code(int(ch)?.unwrap_or(0));
            }
            "value" => t.value = text(ch),
            _ => cx.unknown(ch, n)?,
        }
    }
    cx.require(seen_status, "status", n)?;
    Ok(t)
}

fn receipt(n: &Node, cx: &Cx) -> Result<Receipt, WireError> {
    let mut r = Receipt::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "terminalId" => r.terminal_id = text(ch),
            "paymentDate" => r.payment_date = datetime(ch)?,
            "clientInvoiceId" => r.client_invoice_id = text(ch),
            "invoiceReference" => r.invoice_reference = text(ch),
            "paymentReference" => r.payment_reference = text(ch),
            "payerTerminalId" => r.payer_terminal_id = text(ch),
            "receiverName" => r.receiver_name = text(ch),
            "invoice" => r.invoice = Some(invoice(ch, cx)?),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(r)
}

fn receipt_document(n: &Node, cx: &Cx) -> Result<ReceiptDocument, WireError> {
    let mut d = ReceiptDocument::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "mimeType" => d.mime_type = text(ch),
            "receiptData" => d.receipt_data = base64(ch),
            "receiptType" => d.receipt_type = text(ch),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(d)
}

/// `parameters/parameter/entry*`; entries directly under `parameters` are accepted too (a documented client
/// mistake, FAQ), except in strict mode.
fn parameter_map(n: &Node, cx: &Cx) -> Result<ParameterMap, WireError> {
    let mut m = ParameterMap::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "parameter" => {
                for e in cx.kids(ch)? {
                    match e.name.as_str() {
                        "entry" => m.0.push(entry(e, cx)?),
                        _ => cx.unknown(e, ch)?,
                    }
                }
            }
            "entry" if !cx.strict => m.0.push(entry(ch, cx)?),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(m)
}

fn entry(n: &Node, cx: &Cx) -> Result<(String, String), WireError> {
    let (mut k, mut v) = (String::new(), String::new());
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "key" => k = ch.text.clone(),
            "value" => v = ch.text.clone(),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok((k, v))
}

fn report(n: &Node, cx: &Cx) -> Result<Report, WireError> {
    let mut r = Report::default();
    for ch in cx.kids(n)? {
        match ch.name.as_str() {
            "title" => r.title = text(ch),
            "mimeType" => r.mime_type = text(ch),
            "content" => r.content = base64(ch),
            "contentString" => r.content_string = text(ch),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(r)
}

fn decode_request(op: Operation, n: &Node, cx: &Cx) -> Result<Request, WireError> {
    let mut ctx = None;
    let mut invoice_ = None;
    let mut tokens = Vec::new();
    let mut invoice_reference = None;
    let mut invoice_version = None;
    let mut amount_ = None;
    let mut ers_reference = None;
    let mut receipt_document_ = None;
    let mut external_terminal_id = None;
    let mut password = None;
    let mut name = None;
    let mut seqr_id = None;
    let mut parameters = None;
    let mut report_id = None;
    let mut language = None;
    use Operation as O;
    for ch in cx.kids(n)? {
        match (op, ch.name.as_str()) {
            (O::BenchmarkingNop, _) => cx.unknown(ch, n)?,
            (_, "context") => ctx = Some(context(ch, cx)?),
            (O::SendInvoice | O::UpdateInvoice | O::RefundPayment, "invoice") => invoice_ = Some(invoice(ch, cx)?),
            (O::SendInvoice | O::UpdateInvoice, "tokens") => tokens.push(token(ch, cx)?),
            (O::UpdateInvoice | O::GetPaymentStatus | O::CancelInvoice | O::CommitReservation, "invoiceReference") => {
                invoice_reference = text(ch)
            }
            (O::GetPaymentStatus, "invoiceVersion") => invoice_version = Some(int(ch)?.unwrap_or(0)),
            (O::CommitReservation, "amount") => amount_ = Some(amount(ch, cx)?),
            (O::SubmitPaymentReceipt | O::RefundPayment, "ersReference") => ers_reference = text(ch),
            (O::SubmitPaymentReceipt, "receiptDocument") => receipt_document_ = Some(receipt_document(ch, cx)?),
            (O::RegisterTerminal, "externalTerminalId") => external_terminal_id = text(ch),
            (O::RegisterTerminal, "password") => password = text(ch),
            (O::RegisterTerminal, "name") => name = text(ch),
            (O::AssignSeqrId, "seqrId") => seqr_id = text(ch),
            (O::MarkTransactionPeriod | O::ExecuteReport, "parameters") => parameters = Some(parameter_map(ch, cx)?),
            (O::ExecuteReport, "reportId") => report_id = text(ch),
            (O::ExecuteReport, "language") => language = text(ch),
            _ => cx.unknown(ch, n)?,
        }
    }
    Ok(match op {
        O::SendInvoice => Request::SendInvoice(SendInvoiceRequest { context: ctx, invoice: invoice_, tokens }),
        O::UpdateInvoice => {
            Request::UpdateInvoice(UpdateInvoiceRequest { context: ctx, invoice_reference, invoice: invoice_, tokens })
        }
        O::GetPaymentStatus => {
            cx.require(invoice_version.is_some(), "invoiceVersion", n)?;
            Request::GetPaymentStatus(GetPaymentStatusRequest {
                context: ctx,
                invoice_reference,
                invoice_version: invoice_version.unwrap_or(0),
            })
        }
        O::CancelInvoice => Request::CancelInvoice(CancelInvoiceRequest { context: ctx, invoice_reference }),
        O::CommitReservation => {
            Request::CommitReservation(CommitReservationRequest { context: ctx, amount: amount_, invoice_reference })
        }
        O::SubmitPaymentReceipt => Request::SubmitPaymentReceipt(SubmitPaymentReceiptRequest {
            context: ctx,
            ers_reference,
            receipt_document: receipt_document_,
        }),
        O::RefundPayment => {
            Request::RefundPayment(RefundPaymentRequest { context: ctx, ers_reference, invoice: invoice_ })
        }
        O::RegisterTerminal => {
            Request::RegisterTerminal(RegisterTerminalRequest { context: ctx, external_terminal_id, password, name })
        }
        O::UnregisterTerminal => Request::UnregisterTerminal(UnregisterTerminalRequest { context: ctx }),
        O::AssignSeqrId => Request::AssignSeqrId(AssignSeqrIdRequest { context: ctx, seqr_id }),
        O::MarkTransactionPeriod => {
            Request::MarkTransactionPeriod(MarkTransactionPeriodRequest { context: ctx, parameters })
        }
        O::ExecuteReport => {
            Request::ExecuteReport(ExecuteReportRequest { context: ctx, report_id, language, parameters })
        }
        O::BenchmarkingNop => Request::BenchmarkingNop,
    })
}

fn decode_response(op: Operation, n: &Node, cx: &Cx) -> Result<Response, WireError> {
    let mut base = ErsResponse { ers_reference: None, result_code: ResultCode::Success, result_description: None };
    let mut seen_code = false;
    let mut qr = None;
    let mut invoice_reference = None;
    let mut status = None;
    let mut receipt_ = None;
    let mut tokens = Vec::new();
    let mut version = None;
    let mut terminal_id = None;
    let mut period = None;
    let mut report_ = None;
    use Operation as O;
    for ch in cx.kids(n)? {
        match (op, ch.name.as_str()) {
            (_, "ersReference") => base.ers_reference = text(ch),
            (_, "resultCode") => {
                seen_code = true;
                base.result_code = ResultCode::from_code(int(ch)?.unwrap_or(0));
            }
            (_, "resultDescription") => base.result_description = text(ch),
            (O::SendInvoice, "invoiceQRCode") => qr = text(ch),
            (O::SendInvoice, "invoiceReference") => invoice_reference = text(ch),
            (O::GetPaymentStatus, "status") => status = trimmed(ch).map(InvoiceStatus::from_wire),
            (O::GetPaymentStatus, "receipt") => receipt_ = Some(receipt(ch, cx)?),
            (O::GetPaymentStatus, "customerTokens") => {
                for t in cx.kids(ch)? {
                    match t.name.as_str() {
                        "token" => tokens.push(token(t, cx)?),
                        _ => cx.unknown(t, ch)?,
                    }
                }
            }
            (O::GetPaymentStatus, "version") => version = Some(int(ch)?.unwrap_or(0)),
            (O::RegisterTerminal, "terminalId") => terminal_id = text(ch),
            (O::MarkTransactionPeriod, "transactionPeriodId") => period = text(ch),
            (O::ExecuteReport, "report") => report_ = Some(report(ch, cx)?),
            _ => cx.unknown(ch, n)?,
        }
    }
    cx.require(seen_code, "resultCode", n)?;
    Ok(match op {
        O::SendInvoice => Response::SendInvoice(SendInvoiceResponse { base, invoice_qr_code: qr, invoice_reference }),
        O::GetPaymentStatus => {
            cx.require(version.is_some(), "version", n)?;
            Response::GetPaymentStatus(PaymentStatusResponse {
                base,
                status,
                receipt: receipt_,
                customer_tokens: tokens,
                version: version.unwrap_or(0),
            })
        }
        O::RegisterTerminal => Response::RegisterTerminal(RegisterTerminalResponse { base, terminal_id }),
        O::MarkTransactionPeriod => {
            Response::MarkTransactionPeriod(MarkTransactionPeriodResponse { base, transaction_period_id: period })
        }
        O::ExecuteReport => Response::ExecuteReport(ExecuteReportResponse { base, report: report_ }),
        O::UpdateInvoice => Response::UpdateInvoice(base),
        O::CancelInvoice => Response::CancelInvoice(base),
        O::CommitReservation => Response::CommitReservation(base),
        O::SubmitPaymentReceipt => Response::SubmitPaymentReceipt(base),
        O::RefundPayment => Response::RefundPayment(base),
        O::UnregisterTerminal => Response::UnregisterTerminal(base),
        O::AssignSeqrId => Response::AssignSeqrId(base),
        O::BenchmarkingNop => Response::BenchmarkingNop(base),
    })
}
