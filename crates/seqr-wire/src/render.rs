//! Rendering of requests, responses and faults exactly as SEQR/CXF writes them.
//!
//! Output is compact (no whitespace between elements, no XML declaration), uses the `soap` prefix for the
//! envelope and `ns2` for the qualified wrapper, leaves every child unqualified, follows schema order, and omits
//! absent optional fields (never `xsi:nil`). Requests use the same shape as a CXF client.
//!
//! Strings are written as they are except for the characters XML 1.0 does not allow at all (U+0000-U+0008,
//! U+000B, U+000C, U+000E-U+001F, U+FFFE, U+FFFF), which are **dropped**: they cannot be written in any form (a
//! character reference to one is just as ill-formed), rendering has no error path, and any peer would refuse the
//! whole document. So the output is always well-formed, and a value holding one of them parses back without it.

use base64::Engine as _;

use crate::types::*;
use crate::xml::{escape_into, Writer};
use crate::RenderOptions;

const ENVELOPE_OPEN: &str = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>";
const ENVELOPE_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// Renders a request envelope (client side), lossless (Gen B) except that characters XML 1.0 forbids are dropped
/// from strings (see the module docs).
pub fn render_request(req: &Request) -> String {
    render_request_with(req, RenderOptions::GEN_B)
}

/// Renders a request envelope (client side).
pub fn render_request_with(req: &Request, opts: RenderOptions) -> String {
    let mut w = R { w: Writer::with_capacity(1024), gen_b: opts.gen_b };
    let name = req.operation().name();
    w.wrapper_open(name);
    match req {
        Request::SendInvoice(r) => {
            w.context(r.context.as_ref());
            w.opt_invoice("invoice", r.invoice.as_ref());
            for t in &r.tokens {
                w.token("tokens", t);
            }
        }
        Request::UpdateInvoice(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("invoiceReference", r.invoice_reference.as_deref());
            w.opt_invoice("invoice", r.invoice.as_ref());
            for t in &r.tokens {
                w.token("tokens", t);
            }
        }
        Request::GetPaymentStatus(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("invoiceReference", r.invoice_reference.as_deref());
            w.int("invoiceVersion", r.invoice_version.into());
        }
        Request::CancelInvoice(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("invoiceReference", r.invoice_reference.as_deref());
        }
        Request::CommitReservation(r) => {
            w.context(r.context.as_ref());
            if w.gen_b {
                if let Some(a) = &r.amount {
                    w.amount("amount", a);
                }
            }
            w.w.opt_text("invoiceReference", r.invoice_reference.as_deref());
        }
        Request::SubmitPaymentReceipt(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("ersReference", r.ers_reference.as_deref());
            if let Some(d) = &r.receipt_document {
                w.w.open("receiptDocument");
                w.w.opt_text("mimeType", d.mime_type.as_deref());
                if let Some(data) = &d.receipt_data {
                    w.base64("receiptData", data);
                }
                w.w.opt_text("receiptType", d.receipt_type.as_deref());
                w.w.close("receiptDocument");
            }
        }
        Request::RefundPayment(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("ersReference", r.ers_reference.as_deref());
            w.opt_invoice("invoice", r.invoice.as_ref());
        }
        Request::RegisterTerminal(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("externalTerminalId", r.external_terminal_id.as_deref());
            w.w.opt_text("password", r.password.as_deref());
            w.w.opt_text("name", r.name.as_deref());
        }
        Request::UnregisterTerminal(r) => w.context(r.context.as_ref()),
        Request::AssignSeqrId(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("seqrId", r.seqr_id.as_deref());
        }
        Request::MarkTransactionPeriod(r) => {
            w.context(r.context.as_ref());
            w.parameters(r.parameters.as_ref());
        }
        Request::ExecuteReport(r) => {
            w.context(r.context.as_ref());
            w.w.opt_text("reportId", r.report_id.as_deref());
            w.w.opt_text("language", r.language.as_deref());
            w.parameters(r.parameters.as_ref());
        }
        Request::BenchmarkingNop => {}
    }
    w.wrapper_close(name);
    w.w.out
}

/// Renders a response envelope (server side), lossless (Gen B) except that characters XML 1.0 forbids are dropped
/// from strings.
pub fn render_response(resp: &Response) -> String {
    render_response_with(resp, RenderOptions::GEN_B)
}

/// Renders a response envelope (server side).
pub fn render_response_with(resp: &Response, opts: RenderOptions) -> String {
    let mut w = R { w: Writer::with_capacity(512), gen_b: opts.gen_b };
    let name = resp.operation().response_name();
    w.wrapper_open(name);
    w.w.open("return");
    w.base(resp.base());
    match resp {
        Response::SendInvoice(r) => {
            w.w.opt_text("invoiceQRCode", r.invoice_qr_code.as_deref());
            w.w.opt_text("invoiceReference", r.invoice_reference.as_deref());
        }
        Response::GetPaymentStatus(r) => {
            if let Some(s) = &r.status {
                let s = match s {
                    InvoiceStatus::Expired if !w.gen_b => &InvoiceStatus::Canceled,
                    s => s,
                };
                w.w.text_elem("status", s.as_str());
            }
            if let Some(rc) = &r.receipt {
                w.receipt(rc);
            }
            if r.customer_tokens.is_empty() {
                w.w.empty("customerTokens");
            } else {
                w.w.open("customerTokens");
                for t in &r.customer_tokens {
                    w.token("token", t);
                }
                w.w.close("customerTokens");
            }
            w.int("version", r.version.into());
        }
        Response::RegisterTerminal(r) => w.w.opt_text("terminalId", r.terminal_id.as_deref()),
        Response::MarkTransactionPeriod(r) => w.w.opt_text("transactionPeriodId", r.transaction_period_id.as_deref()),
        Response::ExecuteReport(r) => {
            if let Some(rep) = &r.report {
                w.w.open("report");
                w.w.opt_text("title", rep.title.as_deref());
                w.w.opt_text("mimeType", rep.mime_type.as_deref());
                if let Some(c) = &rep.content {
                    w.base64("content", c);
                }
                w.w.opt_text("contentString", rep.content_string.as_deref());
                w.w.close("report");
            }
        }
        Response::UpdateInvoice(_)
        | Response::CancelInvoice(_)
        | Response::CommitReservation(_)
        | Response::SubmitPaymentReceipt(_)
        | Response::RefundPayment(_)
        | Response::UnregisterTerminal(_)
        | Response::AssignSeqrId(_)
        | Response::BenchmarkingNop(_) => {}
    }
    w.w.close("return");
    w.wrapper_close(name);
    w.w.out
}

/// Renders a SOAP 1.1 fault envelope as CXF does (`soap:Client` / `soap:Server`); serve it with HTTP 500.
pub fn render_fault(code: FaultCode, message: &str) -> String {
    let mut w = Writer::with_capacity(256 + message.len());
    w.raw(ENVELOPE_OPEN);
    w.raw("<soap:Fault><faultcode>soap:");
    escape_into(&mut w.out, code.as_str());
    w.raw("</faultcode>");
    w.text_elem("faultstring", message);
    w.raw("</soap:Fault>");
    w.raw(ENVELOPE_CLOSE);
    w.out
}

/// Renders a dateTime: `2015-10-29T10:18:48.663+01:00`; fractions with 0, 3, 6 or 9 digits; `Z` for UTC; no
/// zone when the value has none.
pub(crate) fn format_datetime(out: &mut String, dt: &XsDateTime) {
    use std::fmt::Write as _;
    // Writing into a String cannot fail.
    let _ = write!(out, "{}", dt.datetime.format("%Y-%m-%dT%H:%M:%S%.f"));
    if let Some(off) = dt.offset {
        let secs = off.local_minus_utc();
        if secs == 0 {
            out.push('Z');
        } else {
            let sign = if secs < 0 { '-' } else { '+' };
            let abs = secs.unsigned_abs();
            let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60);
        }
    }
}

struct R {
    w: Writer,
    gen_b: bool,
}

impl R {
    fn wrapper_open(&mut self, name: &str) {
        self.w.raw(ENVELOPE_OPEN);
        self.w.raw("<ns2:");
        self.w.raw(name);
        self.w.raw(" xmlns:ns2=\"http://external.interfaces.ers.seamless.com/\">");
    }

    fn wrapper_close(&mut self, name: &str) {
        self.w.raw("</ns2:");
        self.w.raw(name);
        self.w.raw(">");
        self.w.raw(ENVELOPE_CLOSE);
    }

    fn int(&mut self, name: &str, v: i64) {
        use std::fmt::Write as _;
        self.w.open(name);
        let _ = write!(self.w.out, "{v}");
        self.w.close(name);
    }

    fn decimal(&mut self, name: &str, v: &rust_decimal::Decimal) {
        use std::fmt::Write as _;
        self.w.open(name);
        // rust_decimal's Display is plain notation (never an exponent) and keeps the scale.
        let _ = write!(self.w.out, "{v}");
        self.w.close(name);
    }

    fn base64(&mut self, name: &str, data: &[u8]) {
        self.w.open(name);
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut self.w.out);
        self.w.close(name);
    }

    fn datetime(&mut self, name: &str, dt: &XsDateTime) {
        self.w.open(name);
        format_datetime(&mut self.w.out, dt);
        self.w.close(name);
    }

    fn base(&mut self, b: &ErsResponse) {
        self.w.opt_text("ersReference", b.ers_reference.as_deref());
        self.int("resultCode", b.result_code.code().into());
        self.w.opt_text("resultDescription", b.result_description.as_deref());
    }

    fn context(&mut self, c: Option<&ClientContext>) {
        let Some(c) = c else { return };
        self.w.open("context");
        self.w.opt_text("channel", c.channel.as_deref());
        self.w.opt_text("clientComment", c.client_comment.as_deref());
        self.w.opt_text("clientId", c.client_id.as_deref());
        self.w.opt_text("clientReference", c.client_reference.as_deref());
        self.int("clientRequestTimeout", c.client_request_timeout);
        if let Some(p) = &c.initiator_principal_id {
            self.w.open("initiatorPrincipalId");
            self.w.opt_text("id", p.id.as_deref());
            self.w.opt_text("type", p.principal_type.as_deref());
            self.w.opt_text("userId", p.user_id.as_deref());
            self.w.close("initiatorPrincipalId");
        }
        self.w.opt_text("password", c.password.as_deref());
        self.w.close("context");
    }

    fn amount(&mut self, name: &str, a: &Amount) {
        self.w.open(name);
        self.w.opt_text("currency", a.currency.as_deref());
        if let Some(v) = &a.value {
            self.decimal("value", v);
        }
        self.w.close(name);
    }

    fn opt_amount(&mut self, name: &str, a: Option<&Amount>) {
        if let Some(a) = a {
            self.amount(name, a);
        }
    }

    fn opt_decimal(&mut self, name: &str, v: Option<&rust_decimal::Decimal>) {
        if let Some(v) = v {
            self.decimal(name, v);
        }
    }

    fn opt_invoice(&mut self, name: &str, i: Option<&Invoice>) {
        if let Some(i) = i {
            self.invoice(name, i);
        }
    }

    fn invoice(&mut self, name: &str, i: &Invoice) {
        self.w.open(name);
        if let Some(m) = &i.payment_mode {
            let m = match m {
                PaymentMode::ReservationRequiredPreliminaryAmount if !self.gen_b => &PaymentMode::ReservationRequired,
                m => m,
            };
            self.w.text_elem("paymentMode", m.as_str());
        }
        if let Some(m) = &i.acknowledgment_mode {
            self.w.text_elem("acknowledgmentMode", m.as_str());
        }
        if let Some(d) = &i.issue_date {
            self.datetime("issueDate", d);
        }
        self.w.opt_text("title", i.title.as_deref());
        self.w.opt_text("clientInvoiceId", i.client_invoice_id.as_deref());
        if !i.invoice_rows.is_empty() {
            self.w.open("invoiceRows");
            for r in &i.invoice_rows {
                self.w.open("invoiceRow");
                self.w.opt_text("itemDescription", r.item_description.as_deref());
                self.opt_amount("itemDiscount", r.item_discount.as_ref());
                self.w.opt_text("itemEAN", r.item_ean.as_deref());
                self.opt_decimal("itemQuantity", r.item_quantity.as_ref());
                self.w.opt_text("itemSKU", r.item_sku.as_deref());
                self.opt_decimal("itemTaxRate", r.item_tax_rate.as_ref());
                self.opt_amount("itemTotalAmount", r.item_total_amount.as_ref());
                self.w.opt_text("itemUnit", r.item_unit.as_deref());
                self.opt_amount("itemUnitPrice", r.item_unit_price.as_ref());
                self.w.close("invoiceRow");
            }
            self.w.close("invoiceRows");
        }
        self.opt_amount("totalAmount", i.total_amount.as_ref());
        self.w.opt_text("cashierId", i.cashier_id.as_deref());
        self.w.opt_text("footer", i.footer.as_deref());
        self.w.opt_text("backURL", i.back_url.as_deref());
        self.w.opt_text("notificationUrl", i.notification_url.as_deref());
        if self.gen_b {
            if let Some(t) = i.commit_reservation_timeout {
                self.int("commitReservationTimeout", t);
            }
        }
        self.w.close(name);
    }

    fn token(&mut self, name: &str, t: &CustomerToken) {
        self.w.open(name);
        self.w.opt_text("description", t.description.as_deref());
        self.w.opt_text("id", t.id.as_deref());
        self.int("status", t.status.code().into());
        self.w.opt_text("value", t.value.as_deref());
        self.w.close(name);
    }

    fn receipt(&mut self, r: &Receipt) {
        self.w.open("receipt");
        self.w.opt_text("terminalId", r.terminal_id.as_deref());
        if let Some(d) = &r.payment_date {
            self.datetime("paymentDate", d);
        }
        self.w.opt_text("clientInvoiceId", r.client_invoice_id.as_deref());
        self.w.opt_text("invoiceReference", r.invoice_reference.as_deref());
        self.w.opt_text("paymentReference", r.payment_reference.as_deref());
        self.w.opt_text("payerTerminalId", r.payer_terminal_id.as_deref());
        self.w.opt_text("receiverName", r.receiver_name.as_deref());
        self.opt_invoice("invoice", r.invoice.as_ref());
        self.w.close("receipt");
    }

    fn parameters(&mut self, p: Option<&ParameterMap>) {
        let Some(p) = p else { return };
        self.w.open("parameters");
        if p.0.is_empty() {
            self.w.empty("parameter");
        } else {
            self.w.open("parameter");
            for (k, v) in &p.0 {
                self.w.open("entry");
                self.w.text_elem("key", k);
                self.w.text_elem("value", v);
                self.w.close("entry");
            }
            self.w.close("parameter");
        }
        self.w.close("parameters");
    }
}
