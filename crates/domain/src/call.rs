//! Provider calls: the one mechanism for every SEQR call that changes something.
//!
//! A command that needs SEQR to act emits a `*_requested` event carrying a [`CallId`] and the exact
//! parameters to send. The worker that performs the call then records exactly one outcome:
//! `call_succeeded` (with the provider's data), `call_rejected` (an in-band SEQR result code: definitely not
//! done) or `call_outcome_unknown` (timeout, connection reset, 5xx: maybe done). An unknown call is later
//! settled by `call_resolved` (succeeded or not done, with the evidence). Effects on the invoice (refunded
//! amount, canceled, committed, updated content) apply only on success or on a succeeded resolution. While
//! a call is requested or unknown it is "in flight" and the state stays conservative.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::CallId;
use crate::invoice::SeqrStatus;
use crate::money::Money;

/// Which SEQR operation a call performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// sendInvoice.
    SendInvoice,
    /// updateInvoice (loyalty acknowledgment, or final rows before a commit).
    UpdateInvoice,
    /// commitReservation.
    CommitReservation,
    /// cancelInvoice.
    CancelInvoice,
    /// refundPayment.
    RefundPayment,
    /// submitPaymentReceipt.
    SubmitPaymentReceipt,
}

impl CallKind {
    /// The SEQR operation name.
    pub fn operation(self) -> &'static str {
        match self {
            CallKind::SendInvoice => "sendInvoice",
            CallKind::UpdateInvoice => "updateInvoice",
            CallKind::CommitReservation => "commitReservation",
            CallKind::CancelInvoice => "cancelInvoice",
            CallKind::RefundPayment => "refundPayment",
            CallKind::SubmitPaymentReceipt => "submitPaymentReceipt",
        }
    }

    /// Whether the call changes the invoice itself (at most one such call may be in flight at a time).
    pub fn changes_invoice(self) -> bool {
        matches!(self, CallKind::UpdateInvoice | CallKind::CommitReservation | CallKind::CancelInvoice)
    }
}

/// What SEQR returned for a successful call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallSuccess {
    /// sendInvoice registered the invoice.
    InvoiceSent {
        /// SEQR's reference for the invoice.
        invoice_reference: String,
        /// The QR code text, `HTTP://SEQR.SE/R<invoice_reference>`.
        qr_code: String,
    },
    /// refundPayment succeeded; the response's ersReference is the refund's reference.
    Refunded {
        /// The refund's ERS reference, if SEQR returned one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ers_reference: Option<String>,
    },
    /// updateInvoice, commitReservation, cancelInvoice or submitPaymentReceipt succeeded (no data).
    Done,
}

impl CallSuccess {
    /// Whether this success data fits a call of `kind`.
    pub fn fits(&self, kind: CallKind) -> bool {
        match self {
            CallSuccess::InvoiceSent { .. } => kind == CallKind::SendInvoice,
            CallSuccess::Refunded { .. } => kind == CallKind::RefundPayment,
            CallSuccess::Done => !matches!(kind, CallKind::SendInvoice | CallKind::RefundPayment),
        }
    }
}

/// The outcome of performing a call, as the worker saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CallOutcome {
    /// SEQR answered resultCode 0.
    Succeeded {
        /// The returned data.
        result: CallSuccess,
    },
    /// SEQR answered a non-zero resultCode: the call was definitely not done.
    Rejected {
        /// The SEQR result code (PROTOCOL §7).
        result_code: i32,
        /// The SEQR result description.
        description: String,
    },
    /// No usable answer (timeout, transport error, 5xx, SOAP fault after sending): the call may or may not
    /// have been done.
    Unknown {
        /// What went wrong, for operators.
        reason: String,
    },
}

/// How an unknown call turned out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// It was done.
    Succeeded {
        /// The data, as far as known.
        result: CallSuccess,
    },
    /// It was not done (and will not be).
    NotDone,
}

/// Why an unknown call is considered resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "evidence", rename_all = "snake_case")]
pub enum Evidence {
    /// A getPaymentStatus response showed the outcome (e.g. CANCELED after an unknown cancel).
    ObservedStatus {
        /// The observed status.
        status: SeqrStatus,
        /// The observed invoice version.
        invoice_version: i32,
    },
    /// Repeating the call gave a conclusive answer (e.g. 95 INVOICE_ALREADY_CANCELED, or 0).
    ProviderResult {
        /// The SEQR result code.
        result_code: i32,
        /// The SEQR result description.
        description: String,
    },
    /// An operator checked (e.g. in SEQR reconciliation reports).
    Operator {
        /// The operator's note.
        note: String,
    },
}

/// Where a call stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Requested; no outcome yet.
    Requested,
    /// Performed with an unknown outcome; awaiting resolution.
    Unknown,
    /// Done.
    Succeeded,
    /// Definitely not done (rejected by SEQR).
    Rejected,
    /// Resolved as not done.
    NotDone,
}

impl CallState {
    /// Requested or unknown.
    pub fn in_flight(&self) -> bool {
        matches!(self, CallState::Requested | CallState::Unknown)
    }
}

/// One call the invoice has made, as tracked by the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallRecord {
    /// The call id.
    pub call_id: CallId,
    /// The operation.
    pub kind: CallKind,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// Where it stands.
    pub state: CallState,
    /// The money it moves or fixes (commit amount, refund amount), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// SEQR's result code and description, when SEQR refused the call (kept in the state, never serialized).
    #[serde(skip)]
    #[schemars(skip)]
    pub rejection: Option<(i32, String)>,
}
