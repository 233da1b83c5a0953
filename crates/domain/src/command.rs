//! Commands: what callers ask the invoice aggregate to decide on. Each carries its business time `at`.
//! Ids (invoice id, call ids) are chosen by the caller, which keeps `decide` deterministic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::{CallOutcome, Evidence, Resolution};
use crate::ids::{CallId, InvoiceId, Scope};
use crate::invoice::{CustomerToken, Invoice, InvoiceRow, Payment, ReceiptDocument, SeqrStatus};
use crate::money::Money;

/// A request to the invoice aggregate.
// Commands are short-lived values passed once to `decide`; boxing the issue variant would only cost ergonomics.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Create the invoice and request sendInvoice.
    Issue(IssueInvoice),
    /// Record a getPaymentStatus answer.
    ObserveStatus(ObserveStatus),
    /// Change rows, total and tokens with updateInvoice (loyalty applied, or final rows of a reservation).
    UpdateInvoice(UpdateInvoice),
    /// Commit a reservation with the final amount.
    CommitReservation(CommitReservation),
    /// Cancel an unpaid invoice.
    Cancel(CancelInvoice),
    /// Refund (part of) a payment.
    Refund(RefundPayment),
    /// Submit a receipt document for the payment or a refund.
    SubmitReceipt(SubmitReceipt),
    /// Declare the reservation lapsed after its deadline.
    ExpireReservation(ExpireReservation),
    /// Record the outcome of performing a requested call.
    RecordCallOutcome(RecordCallOutcome),
    /// Resolve a call whose outcome was unknown.
    ResolveCall(ResolveCall),
}

impl Command {
    /// The command's business time.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Command::Issue(c) => c.at,
            Command::ObserveStatus(c) => c.at,
            Command::UpdateInvoice(c) => c.at,
            Command::CommitReservation(c) => c.at,
            Command::Cancel(c) => c.at,
            Command::Refund(c) => c.at,
            Command::SubmitReceipt(c) => c.at,
            Command::ExpireReservation(c) => c.at,
            Command::RecordCallOutcome(c) => c.at,
            Command::ResolveCall(c) => c.at,
        }
    }
}

/// Create the invoice and request sendInvoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueInvoice {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The new invoice's id.
    pub invoice_id: InvoiceId,
    /// Where the invoice belongs.
    pub scope: Scope,
    /// The id for the sendInvoice call.
    pub call_id: CallId,
    /// The invoice.
    pub invoice: Invoice,
    /// Tokens to send along, e.g. a loyalty card swiped before the customer scanned (status `used`).
    #[serde(default)]
    pub tokens: Vec<CustomerToken>,
}

/// A getPaymentStatus answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserveStatus {
    /// Business time (when the answer was received).
    pub at: DateTime<Utc>,
    /// The status.
    pub status: SeqrStatus,
    /// The invoice version SEQR returned.
    pub invoice_version: i32,
    /// Customer tokens SEQR offered.
    #[serde(default)]
    pub customer_tokens: Vec<CustomerToken>,
    /// Payment details; required when `status` is PAID.
    #[serde(default)]
    pub payment: Option<Payment>,
}

/// Change rows, total and tokens with updateInvoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateInvoice {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The id for the updateInvoice call.
    pub call_id: CallId,
    /// The new rows.
    pub rows: Vec<InvoiceRow>,
    /// The new total.
    pub total: Money,
    /// The tokens with the merchant's verdict (used, blocked or invalid; never pending).
    #[serde(default)]
    pub tokens: Vec<CustomerToken>,
}

/// Commit a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReservation {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The id for the commitReservation call.
    pub call_id: CallId,
    /// The final amount; at most the reserved amount.
    pub amount: Money,
    /// Whether the commitReservation call tells SEQR the amount (schema Gen B). Without it (Gen A) SEQR charges the
    /// invoice's total as it last accepted it, so the amount must be that total: lower it with an update first.
    #[serde(default = "yes")]
    pub sends_amount: bool,
}

fn yes() -> bool {
    true
}

/// Cancel an unpaid invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelInvoice {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The id for the cancelInvoice call.
    pub call_id: CallId,
}

/// Refund (part of) a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPayment {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The id for the refundPayment call.
    pub call_id: CallId,
    /// The amount to refund; positive, at most what is still refundable.
    pub amount: Money,
    /// A title for the refund invoice.
    #[serde(default)]
    pub title: Option<String>,
    /// The rows being refunded.
    #[serde(default)]
    pub rows: Vec<InvoiceRow>,
}

/// Submit a receipt document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitReceipt {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The id for the submitPaymentReceipt call.
    pub call_id: CallId,
    /// Which payment or refund the receipt is for; `None` means the payment.
    #[serde(default)]
    pub ers_reference: Option<String>,
    /// The document.
    pub document: ReceiptDocument,
}

/// Declare the reservation lapsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireReservation {
    /// Business time; must be at or after the reservation deadline.
    pub at: DateTime<Utc>,
}

/// Record a call outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCallOutcome {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call.
    pub call_id: CallId,
    /// The outcome.
    pub outcome: CallOutcome,
}

/// Resolve an unknown call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveCall {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call.
    pub call_id: CallId,
    /// How it turned out.
    pub resolution: Resolution,
    /// Why we believe so.
    pub evidence: Evidence,
}
