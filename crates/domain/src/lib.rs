//! The pure invoice aggregate of seqrd: SEQR invoices as commands, events and a folded state.
//!
//! **Architecture Invariant:** this crate does no I/O, has no async and never reads the clock. Time comes
//! in with each command (`at`); ids (invoice ids, call ids) are chosen by the caller. `decide` is a pure
//! function of the state and the command.
//!
//! The flow: the service loads an invoice's events, folds them with [`evolve()`] (or
//! [`InvoiceState::apply`]) into an [`InvoiceState`], calls [`decide()`] with a [`Command`], and appends the
//! returned [`Event`]s (or reports the [`Rejection`]). Every SEQR call that changes something goes through
//! one mechanism: a call is requested, then succeeds, is rejected or has an unknown outcome that is resolved
//! ([`CallRecord`], [`CallOutcome`], [`Resolution`]).

mod call;
mod command;
mod decide;
mod event;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod ids;
mod invoice;
mod money;
mod rejection;
mod state;
pub mod text;

pub use call::{CallKind, CallOutcome, CallRecord, CallState, CallSuccess, Evidence, Resolution};
pub use command::{
    CancelInvoice, Command, CommitReservation, ExpireReservation, IssueInvoice, ObserveStatus, RecordCallOutcome,
    RefundPayment, ResolveCall, SubmitReceipt, UpdateInvoice,
};
pub use decide::decide;
pub use event::{
    CallOutcomeUnknown, CallRejected, CallRequest, CallResolved, CallSucceeded, CancelRequested, CommitRequested,
    Event, InvoiceIssued, InvoiceUpdateRequested, ReceiptSubmitRequested, RefundRequested, ReservationExpired,
    SendInvoiceRequested, StatusObserved, UpcastError, EVENT_TYPES,
};
pub use ids::{CallId, IdError, InvoiceId, MerchantId, Scope, StoreId, TenantId, TerminalId};
pub use invoice::{
    AcknowledgmentMode, CustomerToken, HttpUrl, Invoice, InvoiceRow, Payment, PaymentMode, ReceiptDocument,
    ReceiptType, SeqrStatus, TokenStatus, UrlError,
};
pub use money::{Currency, Money, MoneyError};
pub use rejection::{Rejection, RejectionClass};
pub use state::{evolve, fold, EvolveError, InvoiceState, InvoiceStatus};

#[cfg(test)]
mod tests;
