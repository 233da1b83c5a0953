//! Rejections: why `decide` refused a command. Each has a stable snake_case [`Rejection::code`].

use chrono::{DateTime, Utc};

use crate::call::{CallKind, CallState};
use crate::ids::{CallId, IdError};
use crate::invoice::{SeqrStatus, UrlError};
use crate::money::{Currency, Money, MoneyError};
use crate::state::InvoiceStatus;

/// Why a command was refused. Nothing was decided; no event is emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The invoice has not been issued.
    #[error("invoice not found")]
    InvoiceNotFound,
    /// The invoice already exists.
    #[error("invoice already issued")]
    AlreadyIssued,
    /// SEQR has not registered the invoice yet (no invoice reference).
    #[error("invoice not registered at SEQR yet (status {status})")]
    InvoiceNotRegistered {
        /// The current status.
        status: InvoiceStatus,
    },
    /// The invoice is in a final state.
    #[error("invoice is closed (status {status})")]
    InvoiceClosed {
        /// The current status.
        status: InvoiceStatus,
    },
    /// The invoice is already paid, so it can no longer be changed or canceled.
    #[error("invoice already paid")]
    InvoiceAlreadyPaid,
    /// The command needs a RESERVED invoice.
    #[error("invoice is not reserved (status {status})")]
    InvoiceNotReserved {
        /// The current status.
        status: InvoiceStatus,
    },
    /// The command needs a PAID invoice.
    #[error("invoice is not paid (status {status})")]
    InvoiceNotPaid {
        /// The current status.
        status: InvoiceStatus,
    },
    /// The refund is more than what is still refundable (in-flight refunds count as refunded).
    #[error("refund of {requested} exceeds the refundable {refundable}")]
    RefundExceedsPaid {
        /// The requested refund.
        requested: Money,
        /// What is still refundable.
        refundable: Money,
    },
    /// The commit amount is more than the reservation.
    #[error("commit of {requested} exceeds the reservation of {reserved}")]
    CommitExceedsReservation {
        /// The requested commit amount.
        requested: Money,
        /// The reserved amount.
        reserved: Money,
    },
    /// An update of a reserved invoice would raise the total above the reservation.
    #[error("new total {requested} exceeds the reservation of {reserved}")]
    AmountExceedsReservation {
        /// The requested total.
        requested: Money,
        /// The reserved amount.
        reserved: Money,
    },
    /// An amount is in another currency than the invoice.
    #[error("currency mismatch: expected {expected}, got {got}")]
    CurrencyMismatch {
        /// The invoice currency.
        expected: Currency,
        /// The offending currency.
        got: Currency,
    },
    /// An amount is not acceptable (zero where a positive amount is needed, negative, too precise, too large).
    #[error("invalid amount: {reason}")]
    InvalidAmount {
        /// What is wrong.
        reason: String,
    },
    /// A currency code is not an active ISO-4217 code.
    #[error("invalid currency {0:?}")]
    InvalidCurrency(String),
    /// A scope identifier is malformed.
    #[error("{0}")]
    InvalidId(IdError),
    /// A row quantity is not positive.
    #[error("invalid quantity {0}: must be positive")]
    InvalidQuantity(rust_decimal::Decimal),
    /// A URL is not an absolute http(s) URL.
    #[error("{0}")]
    InvalidUrl(UrlError),
    /// RESERVATION_REQUIRED_PRELIMINARY_AMOUNT needs a non-zero commit_reservation_timeout.
    #[error("commit_reservation_timeout is required (and non-zero) for RESERVATION_REQUIRED_PRELIMINARY_AMOUNT")]
    MissingCommitTimeout,
    /// Tokens sent with updateInvoice must carry the merchant's verdict, not `pending`.
    #[error("token {id:?} has status pending; the merchant must mark it used, blocked or invalid")]
    InvalidTokenStatus {
        /// The token id.
        id: String,
    },
    /// A conflicting call is requested or unknown.
    #[error("a {kind:?} call ({call_id}) is still in flight")]
    CallInFlight {
        /// The conflicting call.
        call_id: CallId,
        /// Its kind.
        kind: CallKind,
    },
    /// No call with this id was requested for this invoice.
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    /// The call already has a final outcome.
    #[error("call {call_id} is already settled ({state:?})")]
    CallAlreadySettled {
        /// The call.
        call_id: CallId,
        /// Its state.
        state: CallState,
    },
    /// An outcome was already recorded and is unknown: use ResolveCall.
    #[error("call {0} has an unknown outcome; resolve it instead")]
    CallOutcomeUnknown(CallId),
    /// ResolveCall on a call that is still merely requested: record its outcome instead.
    #[error("call {0} has no unknown outcome to resolve")]
    CallNotUnknown(CallId),
    /// The success data does not fit the call kind (e.g. refund data for a cancel).
    #[error("result does not fit a {kind:?} call")]
    OutcomeMismatch {
        /// The call kind.
        kind: CallKind,
    },
    /// SEQR reported a status the invoice cannot move to from where it is (e.g. ISSUED after PAID).
    #[error("observed {observed:?} is not possible from status {status}")]
    StatusRegression {
        /// The current status.
        status: InvoiceStatus,
        /// The observed SEQR status.
        observed: SeqrStatus,
    },
    /// An invoice version below zero.
    #[error("invalid invoice version {0}")]
    InvalidVersion(i32),
    /// A PAID observation without payment details.
    #[error("a PAID observation needs payment details")]
    MissingPaymentDetails,
    /// The reservation deadline has not passed.
    #[error("reservation does not expire before {deadline}")]
    ReservationNotExpired {
        /// The deadline.
        deadline: DateTime<Utc>,
    },
    /// The reservation has no deadline (no commit_reservation_timeout).
    #[error("reservation has no deadline")]
    NoReservationDeadline,
    /// The ERS reference is neither the payment's nor a succeeded refund's.
    #[error("unknown ers reference {0:?}")]
    UnknownErsReference(String),
    /// SEQR will charge the invoice's total (the commit call carries no amount, schema Gen A), and that is not the
    /// amount asked for.
    #[error("the commit of {requested} would charge the invoice's total {total}: update the invoice's total first")]
    CommitAmountNotTotal {
        /// The requested commit amount.
        requested: Money,
        /// The invoice's total as SEQR holds it.
        total: Money,
    },
    /// A text field is too long or holds a character SEQR cannot take.
    #[error("{field} {problem}")]
    InvalidText {
        /// The field, e.g. `invoice.rows.2.description`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A list has more items than allowed.
    #[error("{field} has {count} items; at most {max} are allowed")]
    TooManyItems {
        /// The list, e.g. `invoice.rows`.
        field: String,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A row's total is not its quantity times its unit price less its discount (in the currency's rounding).
    #[error("row {row}: quantity x unit price - discount is {expected}, but the row's total is {total}")]
    RowDoesNotAddUp {
        /// The row's index (from 0).
        row: usize,
        /// What the row adds up to.
        expected: Money,
        /// The row's stated total.
        total: Money,
    },
    /// The rows' totals do not add up to the amount.
    #[error("the rows add up to {sum}, but the total is {total}")]
    RowsDoNotAddUp {
        /// The sum of the rows' totals.
        sum: Money,
        /// The stated total (or refund amount).
        total: Money,
    },
}

impl Rejection {
    /// Every code, for documentation and tests.
    pub const CODES: &'static [&'static str] = &[
        "invoice_not_found",
        "already_issued",
        "invoice_not_registered",
        "invoice_closed",
        "invoice_already_paid",
        "invoice_not_reserved",
        "invoice_not_paid",
        "refund_exceeds_paid",
        "commit_exceeds_reservation",
        "amount_exceeds_reservation",
        "currency_mismatch",
        "invalid_amount",
        "invalid_currency",
        "invalid_id",
        "invalid_quantity",
        "invalid_url",
        "missing_commit_timeout",
        "invalid_token_status",
        "call_in_flight",
        "unknown_call",
        "call_already_settled",
        "call_outcome_unknown",
        "call_not_unknown",
        "outcome_mismatch",
        "status_regression",
        "invalid_version",
        "missing_payment_details",
        "reservation_not_expired",
        "no_reservation_deadline",
        "unknown_ers_reference",
        "commit_amount_not_total",
        "invalid_text",
        "too_many_items",
        "row_does_not_add_up",
        "rows_do_not_add_up",
    ];

    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::InvoiceNotFound => "invoice_not_found",
            Rejection::AlreadyIssued => "already_issued",
            Rejection::InvoiceNotRegistered { .. } => "invoice_not_registered",
            Rejection::InvoiceClosed { .. } => "invoice_closed",
            Rejection::InvoiceAlreadyPaid => "invoice_already_paid",
            Rejection::InvoiceNotReserved { .. } => "invoice_not_reserved",
            Rejection::InvoiceNotPaid { .. } => "invoice_not_paid",
            Rejection::RefundExceedsPaid { .. } => "refund_exceeds_paid",
            Rejection::CommitExceedsReservation { .. } => "commit_exceeds_reservation",
            Rejection::AmountExceedsReservation { .. } => "amount_exceeds_reservation",
            Rejection::CurrencyMismatch { .. } => "currency_mismatch",
            Rejection::InvalidAmount { .. } => "invalid_amount",
            Rejection::InvalidCurrency(_) => "invalid_currency",
            Rejection::InvalidId(_) => "invalid_id",
            Rejection::InvalidQuantity(_) => "invalid_quantity",
            Rejection::InvalidUrl(_) => "invalid_url",
            Rejection::MissingCommitTimeout => "missing_commit_timeout",
            Rejection::InvalidTokenStatus { .. } => "invalid_token_status",
            Rejection::CallInFlight { .. } => "call_in_flight",
            Rejection::UnknownCall(_) => "unknown_call",
            Rejection::CallAlreadySettled { .. } => "call_already_settled",
            Rejection::CallOutcomeUnknown(_) => "call_outcome_unknown",
            Rejection::CallNotUnknown(_) => "call_not_unknown",
            Rejection::OutcomeMismatch { .. } => "outcome_mismatch",
            Rejection::StatusRegression { .. } => "status_regression",
            Rejection::InvalidVersion(_) => "invalid_version",
            Rejection::MissingPaymentDetails => "missing_payment_details",
            Rejection::ReservationNotExpired { .. } => "reservation_not_expired",
            Rejection::NoReservationDeadline => "no_reservation_deadline",
            Rejection::UnknownErsReference(_) => "unknown_ers_reference",
            Rejection::CommitAmountNotTotal { .. } => "commit_amount_not_total",
            Rejection::InvalidText { .. } => "invalid_text",
            Rejection::TooManyItems { .. } => "too_many_items",
            Rejection::RowDoesNotAddUp { .. } => "row_does_not_add_up",
            Rejection::RowsDoNotAddUp { .. } => "rows_do_not_add_up",
        }
    }
    /// What kind of refusal this is: every rejection is classified here, with no default, so a new one must be
    /// placed (an adapter maps the class, never the code).
    pub fn class(&self) -> RejectionClass {
        match self {
            Rejection::InvoiceNotFound => RejectionClass::NotFound,
            Rejection::AlreadyIssued => RejectionClass::Conflict,
            Rejection::InvoiceNotRegistered { .. } => RejectionClass::Conflict,
            Rejection::InvoiceClosed { .. } => RejectionClass::Conflict,
            Rejection::InvoiceAlreadyPaid => RejectionClass::Conflict,
            Rejection::InvoiceNotReserved { .. } => RejectionClass::Conflict,
            Rejection::InvoiceNotPaid { .. } => RejectionClass::Conflict,
            Rejection::RefundExceedsPaid { .. } => RejectionClass::Invalid,
            Rejection::CommitExceedsReservation { .. } => RejectionClass::Invalid,
            Rejection::AmountExceedsReservation { .. } => RejectionClass::Invalid,
            Rejection::CurrencyMismatch { .. } => RejectionClass::Invalid,
            Rejection::InvalidAmount { .. } => RejectionClass::Invalid,
            Rejection::InvalidCurrency(_) => RejectionClass::Invalid,
            Rejection::InvalidId(_) => RejectionClass::Invalid,
            Rejection::InvalidQuantity(_) => RejectionClass::Invalid,
            Rejection::InvalidUrl(_) => RejectionClass::Invalid,
            Rejection::MissingCommitTimeout => RejectionClass::Invalid,
            Rejection::InvalidTokenStatus { .. } => RejectionClass::Invalid,
            Rejection::CallInFlight { .. } => RejectionClass::Conflict,
            Rejection::UnknownCall(_) => RejectionClass::Invalid,
            Rejection::CallAlreadySettled { .. } => RejectionClass::Conflict,
            Rejection::CallOutcomeUnknown(_) => RejectionClass::Conflict,
            Rejection::CallNotUnknown(_) => RejectionClass::Conflict,
            Rejection::OutcomeMismatch { .. } => RejectionClass::Invalid,
            Rejection::StatusRegression { .. } => RejectionClass::Conflict,
            Rejection::InvalidVersion(_) => RejectionClass::Invalid,
            Rejection::MissingPaymentDetails => RejectionClass::Invalid,
            Rejection::ReservationNotExpired { .. } => RejectionClass::Conflict,
            Rejection::NoReservationDeadline => RejectionClass::Conflict,
            Rejection::UnknownErsReference(_) => RejectionClass::Invalid,
            Rejection::CommitAmountNotTotal { .. } => RejectionClass::Invalid,
            Rejection::InvalidText { .. } => RejectionClass::Invalid,
            Rejection::TooManyItems { .. } => RejectionClass::Invalid,
            Rejection::RowDoesNotAddUp { .. } => RejectionClass::Invalid,
            Rejection::RowsDoNotAddUp { .. } => RejectionClass::Invalid,
        }
    }
}

/// The kind of a [`Rejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionClass {
    /// The invoice does not exist.
    NotFound,
    /// The invoice's state does not allow the command now.
    Conflict,
    /// The command can never be accepted as it is.
    Invalid,
}

impl From<MoneyError> for Rejection {
    fn from(e: MoneyError) -> Self {
        match e {
            MoneyError::UnknownCurrency(code) => Rejection::InvalidCurrency(code),
            MoneyError::CurrencyMismatch { left, right } => Rejection::CurrencyMismatch { expected: left, got: right },
            other => Rejection::InvalidAmount { reason: other.to_string() },
        }
    }
}

impl From<IdError> for Rejection {
    fn from(e: IdError) -> Self {
        Rejection::InvalidId(e)
    }
}

impl From<UrlError> for Rejection {
    fn from(e: UrlError) -> Self {
        Rejection::InvalidUrl(e)
    }
}
