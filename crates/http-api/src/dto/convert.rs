//! The one place the API's DTOs meet the domain's types (a rule `tests/it/layout.rs` checks: elsewhere in this
//! crate only `domain::text::max`'s limits are named): requests become the engine's commands through the domain's
//! own constructors (`Money::parse`, `Currency::parse`, `HttpUrl::parse`) and base64 is decoded; the domain's
//! state becomes the invoice view. Every enum is matched exhaustively both ways, so a new domain variant must be
//! given its API spelling here.

use std::fmt::Display;

use base64::Engine as _;
use engine::{Change, IssueInput};
use uuid::Uuid;

use super::{
    answers::{AppLinks, CallKind, CallRecord, CallState, InvoiceView, SeqrStatus},
    requests::{
        AcknowledgmentMode, CancelBody, CommitBody, HttpUrl, Invoice, InvoiceRow, IssueBody, LoyaltyBody, PaymentMode,
        ReceiptBody, ReceiptDocument, ReceiptType, RefundBody, ResolveBody, ResolveOutcome,
    },
    CustomerToken, Money, TokenStatus,
};
use crate::error::ApiError;

/// Every currency the domain takes payments in, with its minor-unit digits (the `Money` and `Currency` schemas
/// publish them).
pub(crate) const CURRENCIES: &[(&str, u8)] = domain::Currency::ALL;

/// A value of a body the domain refuses: where it is (the field's path, as the caller wrote it) and why. Answered
/// 422 `invalid_body`, like a value of the wrong type.
#[derive(Debug)]
pub(crate) struct Invalid {
    at: String,
    problem: String,
}

impl Invalid {
    fn new(at: String, problem: impl Display) -> Invalid {
        Invalid { at, problem: problem.to_string() }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("invalid value at `{}`: {}", e.at, e.problem),
        )
    }
}

/// The path of `name` inside `at` (`invoice.rows.0` + `total`).
fn at(parent: &str, name: impl Display) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

// Requests.

impl TryFrom<IssueBody> for IssueInput {
    type Error = Invalid;

    fn try_from(body: IssueBody) -> Result<IssueInput, Invalid> {
        Ok(IssueInput {
            terminal_id: body.terminal_id,
            invoice: invoice(body.invoice, "invoice")?,
            tokens: tokens(body.tokens),
        })
    }
}

impl TryFrom<LoyaltyBody> for Change {
    type Error = Invalid;

    fn try_from(body: LoyaltyBody) -> Result<Change, Invalid> {
        Ok(Change::Update {
            rows: rows(body.rows, "rows")?,
            total: money(body.total, "total")?,
            tokens: tokens(body.tokens),
        })
    }
}

impl TryFrom<CommitBody> for Change {
    type Error = Invalid;

    fn try_from(body: CommitBody) -> Result<Change, Invalid> {
        Ok(Change::Commit { amount: money(body.amount, "amount")? })
    }
}

impl TryFrom<CancelBody> for Change {
    type Error = Invalid;

    fn try_from(CancelBody {}: CancelBody) -> Result<Change, Invalid> {
        Ok(Change::Cancel)
    }
}

impl TryFrom<RefundBody> for Change {
    type Error = Invalid;

    fn try_from(body: RefundBody) -> Result<Change, Invalid> {
        Ok(Change::Refund { amount: money(body.amount, "amount")?, title: body.title, rows: rows(body.rows, "rows")? })
    }
}

impl TryFrom<ReceiptBody> for Change {
    type Error = Invalid;

    fn try_from(body: ReceiptBody) -> Result<Change, Invalid> {
        Ok(Change::Receipt { ers_reference: body.ers_reference, document: receipt(body.document, "document")? })
    }
}

/// Finance's settlement of the call `call_id`.
pub(crate) fn resolve(body: ResolveBody, call_id: Uuid) -> Change {
    Change::Resolve {
        call_id: domain::CallId(call_id),
        succeeded: match body.outcome {
            ResolveOutcome::Succeeded => true,
            ResolveOutcome::NotDone => false,
        },
        ers_reference: body.ers_reference,
        note: body.note,
    }
}

fn invoice(i: Invoice, path: &str) -> Result<domain::Invoice, Invalid> {
    Ok(domain::Invoice {
        payment_mode: i.payment_mode.into(),
        acknowledgment_mode: i.acknowledgment_mode.into(),
        commit_reservation_timeout: i.commit_reservation_timeout,
        issue_date: i.issue_date,
        title: i.title,
        client_invoice_id: i.client_invoice_id,
        cashier_id: i.cashier_id,
        footer: i.footer,
        rows: rows(i.rows, &at(path, "rows"))?,
        total: money(i.total, &at(path, "total"))?,
        back_url: url(i.back_url, &at(path, "back_url"))?,
        notification_url: url(i.notification_url, &at(path, "notification_url"))?,
    })
}

fn rows(rows: Vec<InvoiceRow>, path: &str) -> Result<Vec<domain::InvoiceRow>, Invalid> {
    rows.into_iter().enumerate().map(|(n, r)| row(r, &at(path, n))).collect()
}

fn row(r: InvoiceRow, path: &str) -> Result<domain::InvoiceRow, Invalid> {
    Ok(domain::InvoiceRow {
        description: r.description,
        sku: r.sku,
        ean: r.ean,
        quantity: r.quantity,
        unit_price: optional_money(r.unit_price, &at(path, "unit_price"))?,
        total: money(r.total, &at(path, "total"))?,
        discount: optional_money(r.discount, &at(path, "discount"))?,
        tax_rate: r.tax_rate,
        unit: r.unit,
    })
}

/// An amount, as the domain parses it: the currency first (its minor units bound the amount's digits).
fn money(m: Money, path: &str) -> Result<domain::Money, Invalid> {
    let currency = domain::Currency::parse(&m.currency).map_err(|e| Invalid::new(at(path, "currency"), e))?;
    domain::Money::parse(&m.amount, currency).map_err(|e| Invalid::new(at(path, "amount"), e))
}

fn optional_money(m: Option<Money>, path: &str) -> Result<Option<domain::Money>, Invalid> {
    m.map(|m| money(m, path)).transpose()
}

fn url(u: Option<HttpUrl>, path: &str) -> Result<Option<domain::HttpUrl>, Invalid> {
    u.map(|HttpUrl(u)| domain::HttpUrl::parse(&u).map_err(|e| Invalid::new(path.to_owned(), e))).transpose()
}

fn tokens(tokens: Vec<CustomerToken>) -> Vec<domain::CustomerToken> {
    tokens.into_iter().map(domain::CustomerToken::from).collect()
}

fn receipt(d: ReceiptDocument, path: &str) -> Result<domain::ReceiptDocument, Invalid> {
    // Standard base64, padded, with no stray bits: what the published pattern says.
    let data = base64::engine::general_purpose::STANDARD
        .decode(d.data.as_bytes())
        .map_err(|e| Invalid::new(at(path, "data"), format_args!("not standard base64: {e}")))?;
    Ok(domain::ReceiptDocument { mime_type: d.mime_type, receipt_type: d.receipt_type.into(), data })
}

impl From<CustomerToken> for domain::CustomerToken {
    fn from(t: CustomerToken) -> domain::CustomerToken {
        domain::CustomerToken { id: t.id, value: t.value, description: t.description, status: t.status.into() }
    }
}

impl From<TokenStatus> for domain::TokenStatus {
    fn from(s: TokenStatus) -> domain::TokenStatus {
        match s {
            TokenStatus::Pending => domain::TokenStatus::Pending,
            TokenStatus::Used => domain::TokenStatus::Used,
            TokenStatus::Blocked => domain::TokenStatus::Blocked,
            TokenStatus::Invalid => domain::TokenStatus::Invalid,
        }
    }
}

impl From<PaymentMode> for domain::PaymentMode {
    fn from(m: PaymentMode) -> domain::PaymentMode {
        match m {
            PaymentMode::ImmediateDebit => domain::PaymentMode::ImmediateDebit,
            PaymentMode::ReservationDesired => domain::PaymentMode::ReservationDesired,
            PaymentMode::ReservationRequired => domain::PaymentMode::ReservationRequired,
            PaymentMode::ReservationRequiredPreliminaryAmount => {
                domain::PaymentMode::ReservationRequiredPreliminaryAmount
            }
        }
    }
}

impl From<AcknowledgmentMode> for domain::AcknowledgmentMode {
    fn from(m: AcknowledgmentMode) -> domain::AcknowledgmentMode {
        match m {
            AcknowledgmentMode::NoAcknowledgment => domain::AcknowledgmentMode::NoAcknowledgment,
            AcknowledgmentMode::OptionalAcknowledgment => domain::AcknowledgmentMode::OptionalAcknowledgment,
            AcknowledgmentMode::RequireAcknowledgment => domain::AcknowledgmentMode::RequireAcknowledgment,
        }
    }
}

impl From<ReceiptType> for domain::ReceiptType {
    fn from(t: ReceiptType) -> domain::ReceiptType {
        match t {
            ReceiptType::PaymentReceipt => domain::ReceiptType::PaymentReceipt,
            ReceiptType::Warranty => domain::ReceiptType::Warranty,
            ReceiptType::Voucher => domain::ReceiptType::Voucher,
            ReceiptType::Other => domain::ReceiptType::Other,
        }
    }
}

// Answers.

impl InvoiceView {
    /// The view of an invoice's folded state; `None` before it is issued.
    pub(crate) fn of(state: &domain::InvoiceState) -> Option<InvoiceView> {
        let scope = state.scope()?;
        let qr = state.qr_code().map(str::to_owned);
        let app_links = qr.as_deref().map(|qr| {
            let rest = qr.split_once("://").map_or(qr, |(_, rest)| rest);
            AppLinks { seqr: format!("seqr://{rest}"), seqr_demo: format!("seqr-demo://{rest}") }
        });
        let money = |m: Option<domain::Money>| m.map(Money::from);
        Some(InvoiceView {
            id: state.invoice_id()?.0,
            status: state.status().as_str(),
            tenant_id: scope.tenant.as_str().to_owned(),
            merchant_id: scope.merchant.as_str().to_owned(),
            store_id: scope.store.as_str().to_owned(),
            terminal_id: scope.terminal.as_str().to_owned(),
            invoice_reference: state.invoice_reference().map(str::to_owned),
            qr_code: qr,
            app_links,
            seqr_status: state.seqr_status().map(SeqrStatus::from),
            invoice_version: state.invoice_version(),
            total: money(state.total()),
            reserved: money(state.reserved_amount()),
            committed: money(state.committed_amount()),
            paid: money(state.paid_amount()),
            refunded: money(state.refunded_amount()),
            refundable: money(state.refundable_amount()),
            refunds_in_flight: money(state.refunds_in_flight()),
            ers_reference: state.payment().map(|p| p.ers_reference.clone()),
            refund_references: state.refund_references().to_vec(),
            tokens: state.tokens().iter().map(CustomerToken::from).collect(),
            offered_tokens: state.offered_tokens().iter().map(CustomerToken::from).collect(),
            reservation_deadline: state.reservation_deadline(),
            receipts_submitted: state.receipts_submitted(),
            calls: state.calls().map(CallRecord::from).collect(),
            issued_at: state.issued_at(),
            updated_at: state.last_event_at(),
            version: state.version(),
        })
    }
}

impl From<domain::Money> for Money {
    /// The amount with exactly the currency's minor-unit digits (`12.50`).
    fn from(m: domain::Money) -> Money {
        Money { amount: m.amount().to_string(), currency: m.currency().code().to_owned() }
    }
}

impl From<&domain::CustomerToken> for CustomerToken {
    fn from(t: &domain::CustomerToken) -> CustomerToken {
        CustomerToken {
            id: t.id.clone(),
            value: t.value.clone(),
            description: t.description.clone(),
            status: t.status.into(),
        }
    }
}

impl From<domain::TokenStatus> for TokenStatus {
    fn from(s: domain::TokenStatus) -> TokenStatus {
        match s {
            domain::TokenStatus::Pending => TokenStatus::Pending,
            domain::TokenStatus::Used => TokenStatus::Used,
            domain::TokenStatus::Blocked => TokenStatus::Blocked,
            domain::TokenStatus::Invalid => TokenStatus::Invalid,
        }
    }
}

impl From<domain::SeqrStatus> for SeqrStatus {
    fn from(s: domain::SeqrStatus) -> SeqrStatus {
        match s {
            domain::SeqrStatus::Issued => SeqrStatus::Issued,
            domain::SeqrStatus::PendingIssuerAcknowledge => SeqrStatus::PendingIssuerAcknowledge,
            domain::SeqrStatus::Paid => SeqrStatus::Paid,
            domain::SeqrStatus::Canceled => SeqrStatus::Canceled,
            domain::SeqrStatus::Failed => SeqrStatus::Failed,
            domain::SeqrStatus::Reserved => SeqrStatus::Reserved,
            domain::SeqrStatus::Expired => SeqrStatus::Expired,
        }
    }
}

/// A call as the invoice tracks it; SEQR's refusal (kept in the state) is answered in the error, not here.
impl From<&domain::CallRecord> for CallRecord {
    fn from(c: &domain::CallRecord) -> CallRecord {
        CallRecord {
            call_id: c.call_id.0,
            kind: c.kind.into(),
            requested_at: c.requested_at,
            state: c.state.clone().into(),
            amount: c.amount.map(Money::from),
        }
    }
}

impl From<domain::CallKind> for CallKind {
    fn from(k: domain::CallKind) -> CallKind {
        match k {
            domain::CallKind::SendInvoice => CallKind::SendInvoice,
            domain::CallKind::UpdateInvoice => CallKind::UpdateInvoice,
            domain::CallKind::CommitReservation => CallKind::CommitReservation,
            domain::CallKind::CancelInvoice => CallKind::CancelInvoice,
            domain::CallKind::RefundPayment => CallKind::RefundPayment,
            domain::CallKind::SubmitPaymentReceipt => CallKind::SubmitPaymentReceipt,
        }
    }
}

impl From<domain::CallState> for CallState {
    fn from(s: domain::CallState) -> CallState {
        match s {
            domain::CallState::Requested => CallState::Requested,
            domain::CallState::Unknown => CallState::Unknown,
            domain::CallState::Succeeded => CallState::Succeeded,
            domain::CallState::Rejected => CallState::Rejected,
            domain::CallState::NotDone => CallState::NotDone,
        }
    }
}

#[cfg(test)]
mod tests;
