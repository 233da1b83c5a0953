//! The invoice state: a fold of the invoice's events, and what the service derives from it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::call::{CallKind, CallRecord, CallState, CallSuccess, Resolution};
use crate::event::{CallRequest, Event};
use crate::ids::{CallId, InvoiceId, Scope};
use crate::invoice::{CustomerToken, Invoice, Payment, SeqrStatus};
use crate::money::{Currency, Money, MoneyError};

/// Where the invoice stands in its lifecycle.
///
/// ```text
/// NotIssued -issue-> Sending -sent-> Issued <-> PendingAcknowledge
///                       |              |  \-> Reserved -commit ok-> Committed -PAID-> Paid
///                       v              |          \-> Expired (deadline or EXPIRED)
///                   SendFailed         \-> Paid | Canceled | Failed | Expired
/// ```
///
/// Final states: `SendFailed`, `Canceled`, `Failed`, `Expired` (nothing changes them any more). `Paid`
/// is final for the payment status (no observation moves it elsewhere) but still allows refunds and
/// receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// No invoice yet.
    #[default]
    NotIssued,
    /// Issued locally; sendInvoice requested or its outcome unknown.
    Sending,
    /// sendInvoice was rejected or resolved as not done. Final.
    SendFailed,
    /// Registered at SEQR, waiting for payment.
    Issued,
    /// SEQR waits for the merchant's acknowledgment (updateInvoice).
    PendingAcknowledge,
    /// The amount is reserved; waiting for the merchant's commit.
    Reserved,
    /// The commit succeeded; waiting for SEQR to report PAID.
    Committed,
    /// Paid. Refunds and receipts are possible.
    Paid,
    /// Canceled (by the merchant or in the app). Final.
    Canceled,
    /// Payment failed. Final.
    Failed,
    /// Expired (SEQR reported EXPIRED, or the reservation deadline passed). Final.
    Expired,
}

impl InvoiceStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::NotIssued => "not_issued",
            InvoiceStatus::Sending => "sending",
            InvoiceStatus::SendFailed => "send_failed",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::PendingAcknowledge => "pending_acknowledge",
            InvoiceStatus::Reserved => "reserved",
            InvoiceStatus::Committed => "committed",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Canceled => "canceled",
            InvoiceStatus::Failed => "failed",
            InvoiceStatus::Expired => "expired",
        }
    }

    /// Whether nothing can change this status any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            InvoiceStatus::SendFailed | InvoiceStatus::Canceled | InvoiceStatus::Failed | InvoiceStatus::Expired
        )
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event cannot be applied to a state: the stream is inconsistent (or the event is not for it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvolveError {
    /// `invoice_issued` on an issued invoice.
    #[error("invoice already issued")]
    AlreadyIssued,
    /// An event before `invoice_issued`.
    #[error("event {0} before invoice_issued")]
    NotIssued(&'static str),
    /// A call id requested twice.
    #[error("call {0} requested twice")]
    DuplicateCall(CallId),
    /// An outcome for a call that was never requested.
    #[error("outcome for unknown call {0}")]
    UnknownCall(CallId),
    /// An outcome for a call that cannot take it (e.g. already settled).
    #[error("outcome {event} not applicable to call {call_id} in state {state:?}")]
    OutcomeNotApplicable {
        /// The call.
        call_id: CallId,
        /// Its state.
        state: CallState,
        /// The event type.
        event: &'static str,
    },
    /// Success data of another call kind.
    #[error("success data does not fit call {0}")]
    OutcomeMismatch(CallId),
    /// An amount could not be accounted.
    #[error("money: {0}")]
    Money(#[from] MoneyError),
}

/// How often an open invoice should be polled while payment is in progress (PROTOCOL §8: about once a second).
pub(crate) const POLL_INTERVAL: Duration = Duration::seconds(1);
/// How often a reserved invoice should be polled while the merchant has not committed.
pub(crate) const RESERVED_POLL_INTERVAL: Duration = Duration::seconds(30);

/// The state of one invoice. `Default` is "not yet issued".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceState {
    status: InvoiceStatus,
    invoice_id: Option<InvoiceId>,
    scope: Option<Scope>,
    issued_at: Option<DateTime<Utc>>,
    invoice: Option<Invoice>,
    tokens: Vec<CustomerToken>,
    invoice_reference: Option<String>,
    qr_code: Option<String>,
    seqr_status: Option<SeqrStatus>,
    invoice_version: Option<i32>,
    offered_tokens: Vec<CustomerToken>,
    last_observed_at: Option<DateTime<Utc>>,
    registered_at: Option<DateTime<Utc>>,
    reserved: Option<(Money, DateTime<Utc>)>,
    committed: Option<Money>,
    payment: Option<Payment>,
    refunded: Option<Money>,
    refund_references: Vec<String>,
    receipts_submitted: u32,
    calls: BTreeMap<CallId, (CallRecord, CallRequest)>,
    last_event_at: Option<DateTime<Utc>>,
    events_applied: u64,
}

/// Folds one event into the state. Events that do not fit the state are ignored (see
/// [`InvoiceState::apply`] for the strict form that reports them).
pub fn evolve(state: InvoiceState, event: &Event) -> InvoiceState {
    let mut next = state.clone();
    match next.apply(event) {
        Ok(()) => next,
        Err(_) => state,
    }
}

/// Folds a whole stream, strictly.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<InvoiceState, EvolveError> {
    let mut state = InvoiceState::default();
    for event in events {
        state.apply(event)?;
    }
    Ok(state)
}

impl InvoiceState {
    /// Applies one event strictly. On error the state is left unchanged.
    pub fn apply(&mut self, event: &Event) -> Result<(), EvolveError> {
        self.apply_inner(event)?;
        self.last_event_at = Some(event.at());
        self.events_applied += 1;
        Ok(())
    }

    /// Folds one event in place. Every check comes before the first change in each branch, so an `Err` leaves
    /// the state exactly as it was (no copy of the state is needed to keep `apply` atomic; folding is hot in
    /// projection rebuilds).
    fn apply_inner(&mut self, event: &Event) -> Result<(), EvolveError> {
        if let Event::InvoiceIssued(e) = event {
            if self.status != InvoiceStatus::NotIssued {
                return Err(EvolveError::AlreadyIssued);
            }
            self.status = InvoiceStatus::Sending;
            self.invoice_id = Some(e.invoice_id);
            self.scope = Some(e.scope.clone());
            self.issued_at = Some(e.at);
            self.invoice = Some(e.invoice.clone());
            self.tokens = e.tokens.clone();
            self.refunded = Some(Money::zero(e.invoice.total.currency()));
            return Ok(());
        }
        if self.status == InvoiceStatus::NotIssued {
            return Err(EvolveError::NotIssued(event.event_type()));
        }
        if let Some(request) = event.as_call_request() {
            let call_id = request.call_id();
            if self.calls.contains_key(&call_id) {
                return Err(EvolveError::DuplicateCall(call_id));
            }
            let record = CallRecord {
                call_id,
                kind: request.kind(),
                requested_at: event.at(),
                state: CallState::Requested,
                amount: request.amount(),
                rejection: None,
            };
            self.calls.insert(call_id, (record, request));
            return Ok(());
        }
        match event {
            Event::StatusObserved(e) => {
                self.seqr_status = Some(e.status);
                self.invoice_version = Some(e.invoice_version);
                self.offered_tokens = e.customer_tokens.clone();
                self.last_observed_at = Some(e.at);
                let next = match e.status {
                    SeqrStatus::Issued => InvoiceStatus::Issued,
                    SeqrStatus::PendingIssuerAcknowledge => InvoiceStatus::PendingAcknowledge,
                    SeqrStatus::Reserved => {
                        if self.reserved.is_none() {
                            if let Some(invoice) = &self.invoice {
                                self.reserved = Some((invoice.total, e.at));
                            }
                        }
                        if self.status == InvoiceStatus::Committed {
                            InvoiceStatus::Committed
                        } else {
                            InvoiceStatus::Reserved
                        }
                    }
                    SeqrStatus::Paid => {
                        if self.payment.is_none() {
                            self.payment = e.payment.clone();
                        }
                        InvoiceStatus::Paid
                    }
                    SeqrStatus::Canceled => InvoiceStatus::Canceled,
                    SeqrStatus::Failed => InvoiceStatus::Failed,
                    SeqrStatus::Expired => InvoiceStatus::Expired,
                };
                // Final states stay final; a lenient fold never moves them.
                if !self.status.is_final() && self.status != InvoiceStatus::Paid || next == self.status {
                    self.status = next;
                }
                Ok(())
            }
            Event::ReservationExpired(_) => {
                if matches!(self.status, InvoiceStatus::Reserved) {
                    self.status = InvoiceStatus::Expired;
                }
                Ok(())
            }
            Event::CallSucceeded(e) => {
                self.settle(e.call_id, "call_succeeded", false)?;
                self.succeed(e.call_id, &e.result, e.at)
            }
            Event::CallRejected(e) => {
                self.settle(e.call_id, "call_rejected", false)?;
                self.set_call_state(e.call_id, CallState::Rejected);
                if let Some((record, _)) = self.calls.get_mut(&e.call_id) {
                    record.rejection = Some((e.result_code, e.description.clone()));
                }
                self.not_done(e.call_id);
                Ok(())
            }
            Event::CallOutcomeUnknown(e) => {
                self.settle(e.call_id, "call_outcome_unknown", false)?;
                self.set_call_state(e.call_id, CallState::Unknown);
                Ok(())
            }
            Event::CallResolved(e) => {
                self.settle(e.call_id, "call_resolved", true)?;
                match &e.resolution {
                    Resolution::Succeeded { result } => self.succeed(e.call_id, result, e.at),
                    Resolution::NotDone => {
                        self.set_call_state(e.call_id, CallState::NotDone);
                        self.not_done(e.call_id);
                        Ok(())
                    }
                }
            }
            // Issued and requested events are handled above.
            _ => Ok(()),
        }
    }

    /// Checks that `call_id` can take an outcome: requested (`resolving == false`) or unknown (`true`).
    fn settle(&self, call_id: CallId, event: &'static str, resolving: bool) -> Result<(), EvolveError> {
        let (record, _) = self.calls.get(&call_id).ok_or(EvolveError::UnknownCall(call_id))?;
        let expected = if resolving { CallState::Unknown } else { CallState::Requested };
        if record.state != expected {
            return Err(EvolveError::OutcomeNotApplicable { call_id, state: record.state.clone(), event });
        }
        Ok(())
    }

    fn set_call_state(&mut self, call_id: CallId, state: CallState) {
        if let Some((record, _)) = self.calls.get_mut(&call_id) {
            record.state = state;
        }
    }

    fn not_done(&mut self, call_id: CallId) {
        let kind = self.calls.get(&call_id).map(|(r, _)| r.kind);
        if kind == Some(CallKind::SendInvoice) && self.status == InvoiceStatus::Sending {
            self.status = InvoiceStatus::SendFailed;
        }
    }

    fn succeed(&mut self, call_id: CallId, result: &CallSuccess, at: DateTime<Utc>) -> Result<(), EvolveError> {
        let Some((record, request)) = self.calls.get(&call_id).cloned() else {
            return Err(EvolveError::UnknownCall(call_id));
        };
        if !result.fits(record.kind) {
            return Err(EvolveError::OutcomeMismatch(call_id));
        }
        match (&request, result) {
            (CallRequest::SendInvoice(_), CallSuccess::InvoiceSent { invoice_reference, qr_code }) => {
                self.invoice_reference = Some(invoice_reference.clone());
                self.qr_code = Some(qr_code.clone());
                self.registered_at = Some(at);
                if self.status == InvoiceStatus::Sending {
                    self.status = InvoiceStatus::Issued;
                }
            }
            (CallRequest::UpdateInvoice(u), _) => {
                self.invoice = Some(u.invoice.clone());
                self.tokens = u.tokens.clone();
            }
            (CallRequest::CommitReservation(c), _) => {
                self.committed = Some(c.amount);
                if self.status == InvoiceStatus::Reserved {
                    self.status = InvoiceStatus::Committed;
                }
            }
            (CallRequest::CancelInvoice(_), _) => {
                if matches!(
                    self.status,
                    InvoiceStatus::Issued | InvoiceStatus::PendingAcknowledge | InvoiceStatus::Reserved
                ) {
                    self.status = InvoiceStatus::Canceled;
                }
            }
            (CallRequest::RefundPayment(r), CallSuccess::Refunded { ers_reference }) => {
                let refunded = match self.refunded {
                    Some(total) => total.checked_add(&r.amount)?,
                    None => r.amount,
                };
                self.refunded = Some(refunded);
                if let Some(reference) = ers_reference {
                    self.refund_references.push(reference.clone());
                }
            }
            (CallRequest::SubmitPaymentReceipt(_), _) => {
                self.receipts_submitted += 1;
            }
            _ => return Err(EvolveError::OutcomeMismatch(call_id)),
        }
        self.set_call_state(call_id, CallState::Succeeded);
        Ok(())
    }

    // ---- Queries -------------------------------------------------------------------------------

    /// The lifecycle status.
    pub fn status(&self) -> InvoiceStatus {
        self.status
    }

    /// Whether the invoice exists.
    pub fn is_issued(&self) -> bool {
        self.status != InvoiceStatus::NotIssued
    }

    /// The invoice id (once issued).
    pub fn invoice_id(&self) -> Option<InvoiceId> {
        self.invoice_id
    }

    /// Tenant, merchant, store and terminal (once issued). Every stored row of this stream carries it.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// When the invoice was issued.
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        self.issued_at
    }

    /// The invoice as SEQR has it (issued content plus succeeded updates).
    pub fn invoice(&self) -> Option<&Invoice> {
        self.invoice.as_ref()
    }

    /// The invoice currency.
    pub fn currency(&self) -> Option<Currency> {
        self.invoice.as_ref().map(|i| i.total.currency())
    }

    /// The current total (after succeeded updates).
    pub fn total(&self) -> Option<Money> {
        self.invoice.as_ref().map(|i| i.total)
    }

    /// The tokens the merchant sent (with sendInvoice or the last succeeded updateInvoice).
    pub fn tokens(&self) -> &[CustomerToken] {
        &self.tokens
    }

    /// The tokens SEQR offered in the last observation.
    pub fn offered_tokens(&self) -> &[CustomerToken] {
        &self.offered_tokens
    }

    /// SEQR's invoice reference (once sendInvoice succeeded).
    pub fn invoice_reference(&self) -> Option<&str> {
        self.invoice_reference.as_deref()
    }

    /// The QR code text.
    pub fn qr_code(&self) -> Option<&str> {
        self.qr_code.as_deref()
    }

    /// The last observed SEQR status.
    pub fn seqr_status(&self) -> Option<SeqrStatus> {
        self.seqr_status
    }

    /// The last observed invoice version; send this with the next getPaymentStatus (0 before the first).
    pub fn invoice_version(&self) -> i32 {
        self.invoice_version.unwrap_or(0)
    }

    /// When SEQR was last observed.
    pub fn last_observed_at(&self) -> Option<DateTime<Utc>> {
        self.last_observed_at
    }

    /// The time of the last applied event.
    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        self.last_event_at
    }

    /// How many events have been applied (the stream version).
    pub fn version(&self) -> u64 {
        self.events_applied
    }

    /// The reserved amount (the total when RESERVED was first observed).
    pub fn reserved_amount(&self) -> Option<Money> {
        self.reserved.map(|(m, _)| m)
    }

    /// When RESERVED was first observed.
    pub fn reserved_at(&self) -> Option<DateTime<Utc>> {
        self.reserved.map(|(_, at)| at)
    }

    /// When the reservation lapses: reserved_at + commit_reservation_timeout. `None` without a reservation
    /// or without a timeout.
    pub fn reservation_deadline(&self) -> Option<DateTime<Utc>> {
        let (_, at) = self.reserved?;
        let timeout = self.invoice.as_ref()?.commit_reservation_timeout?;
        Some(at + Duration::seconds(i64::from(timeout)))
    }

    /// The committed amount (once a commit succeeded).
    pub fn committed_amount(&self) -> Option<Money> {
        self.committed
    }

    /// The payment details (once PAID was observed).
    pub fn payment(&self) -> Option<&Payment> {
        self.payment.as_ref()
    }

    /// The paid amount (once PAID was observed).
    pub fn paid_amount(&self) -> Option<Money> {
        self.payment.as_ref().map(|p| p.amount)
    }

    /// The sum of succeeded refunds.
    pub fn refunded_amount(&self) -> Option<Money> {
        self.refunded
    }

    /// The sum of refunds requested or unknown.
    pub fn refunds_in_flight(&self) -> Option<Money> {
        let mut sum = Money::zero(self.currency()?);
        for (record, _) in self.calls.values() {
            if record.kind == CallKind::RefundPayment && record.state.in_flight() {
                if let Some(amount) = record.amount {
                    sum = sum.checked_add(&amount).ok()?;
                }
            }
        }
        Some(sum)
    }

    /// What can still be refunded: paid minus succeeded refunds minus refunds in flight (conservative).
    /// `None` unless paid.
    pub fn refundable_amount(&self) -> Option<Money> {
        let paid = self.paid_amount()?;
        let used = self.refunded_amount()?.checked_add(&self.refunds_in_flight()?).ok()?;
        Some(paid.checked_sub(&used).unwrap_or(Money::zero(paid.currency())))
    }

    /// ERS references of succeeded refunds (when SEQR returned one).
    pub fn refund_references(&self) -> &[String] {
        &self.refund_references
    }

    /// How many receipts were submitted successfully.
    pub fn receipts_submitted(&self) -> u32 {
        self.receipts_submitted
    }

    /// One call's record.
    pub fn call(&self, call_id: CallId) -> Option<&CallRecord> {
        self.calls.get(&call_id).map(|(r, _)| r)
    }

    /// The exact parameters of a call, as requested.
    pub fn call_request(&self, call_id: CallId) -> Option<&CallRequest> {
        self.calls.get(&call_id).map(|(_, r)| r)
    }

    /// Every call, in call-id order.
    pub fn calls(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.values().map(|(r, _)| r)
    }

    /// Calls requested but without an outcome yet: work for the call worker.
    pub fn calls_requested(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls().filter(|r| r.state == CallState::Requested)
    }

    /// Calls whose outcome is unknown: work for reconciliation.
    pub fn unknown_calls(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls().filter(|r| r.state == CallState::Unknown)
    }

    /// Calls requested or unknown.
    pub fn calls_in_flight(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls().filter(|r| r.state.in_flight())
    }

    /// Whether SEQR waits for the merchant to acknowledge (with updateInvoice).
    pub fn needs_acknowledgment(&self) -> bool {
        self.status == InvoiceStatus::PendingAcknowledge
    }

    /// Whether the invoice needs getPaymentStatus polling: registered and not settled, or a cancel or
    /// commit whose outcome is unknown and can be learnt from the status.
    pub fn is_open(&self) -> bool {
        if self.invoice_reference.is_none() {
            return false;
        }
        let waiting = matches!(
            self.status,
            InvoiceStatus::Issued
                | InvoiceStatus::PendingAcknowledge
                | InvoiceStatus::Reserved
                | InvoiceStatus::Committed
        );
        waiting || self.unknown_calls().any(|r| matches!(r.kind, CallKind::CancelInvoice | CallKind::CommitReservation))
    }

    /// When to poll next: [`POLL_INTERVAL`] after the last observation (or registration) while payment is in
    /// progress, [`RESERVED_POLL_INTERVAL`] while reserved. `None` when not open.
    pub fn next_poll_hint(&self) -> Option<DateTime<Utc>> {
        if !self.is_open() {
            return None;
        }
        let base = self.last_observed_at.or(self.registered_at)?;
        let interval = if self.status == InvoiceStatus::Reserved { RESERVED_POLL_INTERVAL } else { POLL_INTERVAL };
        Some(base + interval)
    }
}
