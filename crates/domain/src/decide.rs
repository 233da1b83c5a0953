//! `decide`: the business rules. All of them live here; [`InvoiceState::apply`] only folds facts.
//!
//! Which command is allowed in which status (anything else is rejected with the code in brackets):
//!
//! | command              | allowed in                                   | notes |
//! |----------------------|----------------------------------------------|-------|
//! | `Issue`              | not issued [`already_issued`]                 | validates amounts, currencies, rows, tokens, the commit timeout |
//! | `ObserveStatus`      | registered (reference known) [`invoice_not_registered`], not send-failed [`invoice_closed`] | a poll with the same status, version and tokens emits nothing; an older version is ignored; impossible moves (e.g. PAID then ISSUED, or anything out of CANCELED/FAILED/EXPIRED) are refused [`status_regression`] |
//! | `UpdateInvoice`      | issued, pending acknowledge, reserved        | no other update/commit/cancel in flight [`call_in_flight`]; while reserved the new total may not exceed the reservation |
//! | `CommitReservation`  | reserved [`invoice_not_reserved`]            | one commit at a time [`call_in_flight`]; amount at most the reservation |
//! | `Cancel`             | issued, pending acknowledge, reserved        | paid or committed [`invoice_already_paid`] |
//! | `Refund`             | paid [`invoice_not_paid`]                    | repeated partial refunds; succeeded plus in-flight refunds never exceed the paid amount |
//! | `SubmitReceipt`      | paid [`invoice_not_paid`]                    | for the payment or a succeeded refund's ERS reference |
//! | `ExpireReservation`  | reserved, at or after the deadline           | refused while a commit is in flight (the money may already be taken) |
//! | `RecordCallOutcome`  | any status, call requested                   | |
//! | `ResolveCall`        | any status, call unknown                     | |
//!
//! Final states (send failed, canceled, failed, expired) refuse every command except recording and
//! resolving call outcomes, and observations repeating the same SEQR status.
//!
//! Observations resolve unknown calls when the status is conclusive: an unknown cancel is done when
//! CANCELED is seen and not done when PAID is seen; an unknown commit is done when PAID is seen and not done
//! when CANCELED, FAILED or EXPIRED is seen. SEQR result codes of a rejected call (e.g. 95
//! INVOICE_ALREADY_CANCELED on cancel) are recorded as rejections; the following observation tells the
//! truth.
//!
//! [`InvoiceState::apply`]: crate::state::InvoiceState::apply
//! [`already_issued`]: crate::rejection::Rejection::AlreadyIssued
//! [`invoice_not_registered`]: crate::rejection::Rejection::InvoiceNotRegistered
//! [`invoice_closed`]: crate::rejection::Rejection::InvoiceClosed
//! [`status_regression`]: crate::rejection::Rejection::StatusRegression
//! [`call_in_flight`]: crate::rejection::Rejection::CallInFlight
//! [`invoice_not_reserved`]: crate::rejection::Rejection::InvoiceNotReserved
//! [`invoice_already_paid`]: crate::rejection::Rejection::InvoiceAlreadyPaid
//! [`invoice_not_paid`]: crate::rejection::Rejection::InvoiceNotPaid

use crate::call::{CallKind, CallOutcome, CallState, CallSuccess, Evidence, Resolution};
use crate::command::{
    CancelInvoice, Command, CommitReservation, ExpireReservation, IssueInvoice, ObserveStatus, RecordCallOutcome,
    RefundPayment, ResolveCall, SubmitReceipt, UpdateInvoice,
};
use crate::event::{
    CallOutcomeUnknown, CallRejected, CallResolved, CallSucceeded, CancelRequested, CommitRequested, Event,
    InvoiceIssued, InvoiceUpdateRequested, ReceiptSubmitRequested, RefundRequested, ReservationExpired,
    SendInvoiceRequested, StatusObserved,
};
use crate::invoice::{CustomerToken, Invoice, InvoiceRow, PaymentMode, SeqrStatus, TokenStatus};
use crate::money::{Currency, Money};
use crate::rejection::Rejection;
use crate::state::{InvoiceState, InvoiceStatus};
use crate::text;

/// Decides what happens when `command` meets `state`: the events to append, or why not.
///
/// The returned events always apply cleanly to `state` (in order) with [`InvoiceState::apply`].
pub fn decide(state: &InvoiceState, command: Command) -> Result<Vec<Event>, Rejection> {
    if let Command::Issue(c) = command {
        return issue(state, c);
    }
    if !state.is_issued() {
        return Err(Rejection::InvoiceNotFound);
    }
    match command {
        Command::Issue(_) => Err(Rejection::AlreadyIssued),
        Command::ObserveStatus(c) => observe(state, c),
        Command::UpdateInvoice(c) => update(state, c),
        Command::CommitReservation(c) => commit(state, c),
        Command::Cancel(c) => cancel(state, c),
        Command::Refund(c) => refund(state, c),
        Command::SubmitReceipt(c) => submit_receipt(state, c),
        Command::ExpireReservation(c) => expire(state, c),
        Command::RecordCallOutcome(c) => record_outcome(state, c),
        Command::ResolveCall(c) => resolve(state, c),
    }
}

fn issue(state: &InvoiceState, c: IssueInvoice) -> Result<Vec<Event>, Rejection> {
    if state.is_issued() {
        return Err(Rejection::AlreadyIssued);
    }
    validate_invoice(&c.invoice)?;
    validate_tokens(&c.tokens)?;
    Ok(vec![
        Event::InvoiceIssued(InvoiceIssued {
            at: c.at,
            invoice_id: c.invoice_id,
            scope: c.scope,
            invoice: c.invoice.clone(),
            tokens: c.tokens.clone(),
        }),
        Event::SendInvoiceRequested(SendInvoiceRequested {
            at: c.at,
            call_id: c.call_id,
            invoice: c.invoice,
            tokens: c.tokens,
        }),
    ])
}

fn observe(state: &InvoiceState, c: ObserveStatus) -> Result<Vec<Event>, Rejection> {
    let status = state.status();
    match status {
        InvoiceStatus::Sending => return Err(Rejection::InvoiceNotRegistered { status }),
        InvoiceStatus::SendFailed => return Err(Rejection::InvoiceClosed { status }),
        _ => {}
    }
    if c.invoice_version < 0 {
        return Err(Rejection::InvalidVersion(c.invoice_version));
    }
    if state.seqr_status().is_some() && c.invoice_version < state.invoice_version() {
        // A stale answer (an older version than already recorded) carries nothing new.
        return Ok(Vec::new());
    }
    if !observation_allowed(status, c.status) {
        return Err(Rejection::StatusRegression { status, observed: c.status });
    }
    let mut events = Vec::new();
    let unchanged = state.seqr_status() == Some(c.status)
        && state.invoice_version() == c.invoice_version
        && state.offered_tokens() == c.customer_tokens.as_slice();
    if !unchanged {
        // The first PAID observation fixes the payment; later versions neither need nor change it.
        let payment = match (c.status, c.payment, state.payment()) {
            (SeqrStatus::Paid, Some(payment), first) => {
                same_currency(state, &payment.amount)?;
                first.is_none().then_some(payment)
            }
            (SeqrStatus::Paid, None, None) => return Err(Rejection::MissingPaymentDetails),
            _ => None,
        };
        events.push(Event::StatusObserved(StatusObserved {
            at: c.at,
            status: c.status,
            invoice_version: c.invoice_version,
            customer_tokens: c.customer_tokens,
            payment,
        }));
    }
    for record in state.unknown_calls() {
        let resolution = match (record.kind, c.status) {
            (CallKind::CancelInvoice, SeqrStatus::Canceled) | (CallKind::CommitReservation, SeqrStatus::Paid) => {
                Some(Resolution::Succeeded { result: CallSuccess::Done })
            }
            (CallKind::CancelInvoice, SeqrStatus::Paid)
            | (CallKind::CommitReservation, SeqrStatus::Canceled | SeqrStatus::Failed | SeqrStatus::Expired) => {
                Some(Resolution::NotDone)
            }
            _ => None,
        };
        if let Some(resolution) = resolution {
            events.push(Event::CallResolved(CallResolved {
                at: c.at,
                call_id: record.call_id,
                resolution,
                evidence: Evidence::ObservedStatus { status: c.status, invoice_version: c.invoice_version },
            }));
        }
    }
    Ok(events)
}

/// Which SEQR statuses may be observed from a local status.
fn observation_allowed(current: InvoiceStatus, observed: SeqrStatus) -> bool {
    match current {
        InvoiceStatus::Issued | InvoiceStatus::PendingAcknowledge => true,
        InvoiceStatus::Reserved | InvoiceStatus::Committed => {
            !matches!(observed, SeqrStatus::Issued | SeqrStatus::PendingIssuerAcknowledge)
        }
        InvoiceStatus::Paid => observed == SeqrStatus::Paid,
        InvoiceStatus::Canceled => observed == SeqrStatus::Canceled,
        InvoiceStatus::Failed => observed == SeqrStatus::Failed,
        InvoiceStatus::Expired => observed == SeqrStatus::Expired,
        InvoiceStatus::NotIssued | InvoiceStatus::Sending | InvoiceStatus::SendFailed => false,
    }
}

fn update(state: &InvoiceState, c: UpdateInvoice) -> Result<Vec<Event>, Rejection> {
    let status = state.status();
    require_changeable(status)?;
    no_invoice_call_in_flight(state)?;
    let current = state.invoice().ok_or(Rejection::InvoiceNotFound)?;
    let currency = current.total.currency();
    positive(&c.total)?;
    check_currency(currency, &c.total)?;
    validate_rows("rows", currency, &c.rows, &c.total)?;
    validate_tokens(&c.tokens)?;
    if status == InvoiceStatus::Reserved {
        if let Some(reserved) = state.reserved_amount() {
            if c.total.amount() > reserved.amount() {
                return Err(Rejection::AmountExceedsReservation { requested: c.total, reserved });
            }
        }
    }
    let invoice = Invoice { rows: c.rows, total: c.total, ..current.clone() };
    Ok(vec![Event::InvoiceUpdateRequested(InvoiceUpdateRequested {
        at: c.at,
        call_id: c.call_id,
        invoice_reference: reference(state)?,
        invoice,
        tokens: c.tokens,
    })])
}

fn commit(state: &InvoiceState, c: CommitReservation) -> Result<Vec<Event>, Rejection> {
    let status = state.status();
    if status.is_final() {
        return Err(Rejection::InvoiceClosed { status });
    }
    if status != InvoiceStatus::Reserved {
        return Err(Rejection::InvoiceNotReserved { status });
    }
    no_invoice_call_in_flight(state)?;
    positive(&c.amount)?;
    same_currency(state, &c.amount)?;
    let reserved = state.reserved_amount().ok_or(Rejection::InvoiceNotReserved { status })?;
    if c.amount.amount() > reserved.amount() {
        return Err(Rejection::CommitExceedsReservation { requested: c.amount, reserved });
    }
    if !c.sends_amount {
        let total = state.invoice().ok_or(Rejection::InvoiceNotFound)?.total;
        if total != c.amount {
            return Err(Rejection::CommitAmountNotTotal { requested: c.amount, total });
        }
    }
    Ok(vec![Event::CommitRequested(CommitRequested {
        at: c.at,
        call_id: c.call_id,
        invoice_reference: reference(state)?,
        amount: c.amount,
    })])
}

fn cancel(state: &InvoiceState, c: CancelInvoice) -> Result<Vec<Event>, Rejection> {
    require_changeable(state.status())?;
    no_invoice_call_in_flight(state)?;
    Ok(vec![Event::CancelRequested(CancelRequested {
        at: c.at,
        call_id: c.call_id,
        invoice_reference: reference(state)?,
    })])
}

fn refund(state: &InvoiceState, c: RefundPayment) -> Result<Vec<Event>, Rejection> {
    let status = state.status();
    let payment = match (status, state.payment()) {
        (InvoiceStatus::Paid, Some(p)) => p,
        _ => return Err(Rejection::InvoiceNotPaid { status }),
    };
    positive(&c.amount)?;
    same_currency(state, &c.amount)?;
    validate_rows("rows", c.amount.currency(), &c.rows, &c.amount)?;
    text::check_opt("title", c.title.as_deref(), text::max::TITLE)?;
    let refundable = state.refundable_amount().ok_or(Rejection::InvoiceNotPaid { status })?;
    if c.amount.amount() > refundable.amount() {
        return Err(Rejection::RefundExceedsPaid { requested: c.amount, refundable });
    }
    Ok(vec![Event::RefundRequested(RefundRequested {
        at: c.at,
        call_id: c.call_id,
        ers_reference: payment.ers_reference.clone(),
        amount: c.amount,
        title: c.title,
        rows: c.rows,
    })])
}

fn submit_receipt(state: &InvoiceState, c: SubmitReceipt) -> Result<Vec<Event>, Rejection> {
    let status = state.status();
    let payment = match (status, state.payment()) {
        (InvoiceStatus::Paid, Some(p)) => p,
        _ => return Err(Rejection::InvoiceNotPaid { status }),
    };
    let ers_reference = match c.ers_reference {
        None => payment.ers_reference.clone(),
        Some(r) if r == payment.ers_reference || state.refund_references().contains(&r) => r,
        Some(r) => return Err(Rejection::UnknownErsReference(r)),
    };
    text::check("document.mime_type", &c.document.mime_type, text::max::MIME_TYPE)?;
    Ok(vec![Event::ReceiptSubmitRequested(ReceiptSubmitRequested {
        at: c.at,
        call_id: c.call_id,
        ers_reference,
        document: c.document,
    })])
}

fn expire(state: &InvoiceState, c: ExpireReservation) -> Result<Vec<Event>, Rejection> {
    let status = state.status();
    if status.is_final() {
        return Err(Rejection::InvoiceClosed { status });
    }
    if status != InvoiceStatus::Reserved {
        return Err(Rejection::InvoiceNotReserved { status });
    }
    if let Some(call) = state.calls_in_flight().find(|r| r.kind == CallKind::CommitReservation) {
        return Err(Rejection::CallInFlight { call_id: call.call_id, kind: call.kind });
    }
    let deadline = state.reservation_deadline().ok_or(Rejection::NoReservationDeadline)?;
    if c.at < deadline {
        return Err(Rejection::ReservationNotExpired { deadline });
    }
    Ok(vec![Event::ReservationExpired(ReservationExpired { at: c.at, deadline })])
}

fn record_outcome(state: &InvoiceState, c: RecordCallOutcome) -> Result<Vec<Event>, Rejection> {
    let record = state.call(c.call_id).ok_or(Rejection::UnknownCall(c.call_id))?;
    match record.state {
        CallState::Requested => {}
        CallState::Unknown => return Err(Rejection::CallOutcomeUnknown(c.call_id)),
        ref settled => return Err(Rejection::CallAlreadySettled { call_id: c.call_id, state: settled.clone() }),
    }
    let event = match c.outcome {
        CallOutcome::Succeeded { result } => {
            if !result.fits(record.kind) {
                return Err(Rejection::OutcomeMismatch { kind: record.kind });
            }
            Event::CallSucceeded(CallSucceeded { at: c.at, call_id: c.call_id, result })
        }
        CallOutcome::Rejected { result_code, description } => {
            Event::CallRejected(CallRejected { at: c.at, call_id: c.call_id, result_code, description })
        }
        CallOutcome::Unknown { reason } => {
            Event::CallOutcomeUnknown(CallOutcomeUnknown { at: c.at, call_id: c.call_id, reason })
        }
    };
    Ok(vec![event])
}

fn resolve(state: &InvoiceState, c: ResolveCall) -> Result<Vec<Event>, Rejection> {
    let record = state.call(c.call_id).ok_or(Rejection::UnknownCall(c.call_id))?;
    match record.state {
        CallState::Unknown => {}
        CallState::Requested => return Err(Rejection::CallNotUnknown(c.call_id)),
        ref settled => return Err(Rejection::CallAlreadySettled { call_id: c.call_id, state: settled.clone() }),
    }
    if let Resolution::Succeeded { result } = &c.resolution {
        if !result.fits(record.kind) {
            return Err(Rejection::OutcomeMismatch { kind: record.kind });
        }
    }
    if let Evidence::Operator { note } = &c.evidence {
        text::check("note", note, text::max::NOTE)?;
    }
    Ok(vec![Event::CallResolved(CallResolved {
        at: c.at,
        call_id: c.call_id,
        resolution: c.resolution,
        evidence: c.evidence,
    })])
}

// ---- Helpers -------------------------------------------------------------------------------------

/// The invoice can still be changed or canceled: registered, unpaid, not final.
fn require_changeable(status: InvoiceStatus) -> Result<(), Rejection> {
    match status {
        InvoiceStatus::Issued | InvoiceStatus::PendingAcknowledge | InvoiceStatus::Reserved => Ok(()),
        InvoiceStatus::Paid | InvoiceStatus::Committed => Err(Rejection::InvoiceAlreadyPaid),
        InvoiceStatus::NotIssued => Err(Rejection::InvoiceNotFound),
        InvoiceStatus::Sending => Err(Rejection::InvoiceNotRegistered { status }),
        InvoiceStatus::SendFailed | InvoiceStatus::Canceled | InvoiceStatus::Failed | InvoiceStatus::Expired => {
            Err(Rejection::InvoiceClosed { status })
        }
    }
}

/// At most one update, commit or cancel in flight at a time.
fn no_invoice_call_in_flight(state: &InvoiceState) -> Result<(), Rejection> {
    match state.calls_in_flight().find(|r| r.kind.changes_invoice()) {
        Some(r) => Err(Rejection::CallInFlight { call_id: r.call_id, kind: r.kind }),
        None => Ok(()),
    }
}

fn reference(state: &InvoiceState) -> Result<String, Rejection> {
    state.invoice_reference().map(str::to_owned).ok_or(Rejection::InvoiceNotRegistered { status: state.status() })
}

fn positive(m: &Money) -> Result<(), Rejection> {
    if m.is_zero() {
        Err(Rejection::InvalidAmount { reason: format!("{m} must be positive") })
    } else {
        Ok(())
    }
}

fn check_currency(expected: Currency, m: &Money) -> Result<(), Rejection> {
    if m.currency() == expected {
        Ok(())
    } else {
        Err(Rejection::CurrencyMismatch { expected, got: m.currency() })
    }
}

fn same_currency(state: &InvoiceState, m: &Money) -> Result<(), Rejection> {
    match state.currency() {
        Some(c) => check_currency(c, m),
        None => Err(Rejection::InvoiceNotFound),
    }
}

/// Each row: a positive quantity, amounts in the currency, bounded text, and (when it has a unit price) a total of
/// quantity x unit price - discount in the currency's rounding (half away from zero or half to even); the rows'
/// totals add up to `total`. No rows: nothing to add up.
fn validate_rows(field: &str, currency: Currency, rows: &[InvoiceRow], total: &Money) -> Result<(), Rejection> {
    text::check_count(field, rows.len(), text::max::ROWS)?;
    let mut sum = Money::zero(currency);
    for (i, row) in rows.iter().enumerate() {
        if row.quantity <= rust_decimal::Decimal::ZERO {
            return Err(Rejection::InvalidQuantity(row.quantity));
        }
        check_currency(currency, &row.total)?;
        if let Some(p) = &row.unit_price {
            check_currency(currency, p)?;
        }
        if let Some(d) = &row.discount {
            check_currency(currency, d)?;
        }
        let at = |name: &str| format!("{field}.{i}.{name}");
        text::check_opt(&at("description"), row.description.as_deref(), text::max::DESCRIPTION)?;
        text::check_opt(&at("sku"), row.sku.as_deref(), text::max::CODE)?;
        text::check_opt(&at("ean"), row.ean.as_deref(), text::max::CODE)?;
        text::check_opt(&at("unit"), row.unit.as_deref(), text::max::UNIT)?;
        if let Some(price) = &row.unit_price {
            let discount = row.discount.map(|d| d.amount()).unwrap_or_default();
            let gross = row.quantity.checked_mul(price.amount()).ok_or(Rejection::InvalidQuantity(row.quantity))?;
            let net = gross - discount;
            let digits = currency.minor_units();
            let rounded = [
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                rust_decimal::RoundingStrategy::MidpointNearestEven,
            ]
            .map(|strategy| net.round_dp_with_strategy(digits, strategy));
            if !rounded.contains(&row.total.amount()) {
                let expected = Money::new(rounded[0].max(rust_decimal::Decimal::ZERO), currency)?;
                return Err(Rejection::RowDoesNotAddUp { row: i, expected, total: row.total });
            }
        }
        sum = sum.checked_add(&row.total)?;
    }
    if !rows.is_empty() && sum != *total {
        return Err(Rejection::RowsDoNotAddUp { sum, total: *total });
    }
    Ok(())
}

fn validate_invoice(invoice: &Invoice) -> Result<(), Rejection> {
    positive(&invoice.total)?;
    validate_rows("invoice.rows", invoice.total.currency(), &invoice.rows, &invoice.total)?;
    text::check_opt("invoice.title", invoice.title.as_deref(), text::max::TITLE)?;
    text::check_opt("invoice.client_invoice_id", invoice.client_invoice_id.as_deref(), text::max::ID)?;
    text::check_opt("invoice.cashier_id", invoice.cashier_id.as_deref(), text::max::ID)?;
    text::check_opt("invoice.footer", invoice.footer.as_deref(), text::max::FOOTER)?;
    // Length and controls are checked by `HttpUrl` itself; XML also refuses U+FFFE and U+FFFF.
    text::check_opt("invoice.back_url", invoice.back_url.as_ref().map(|u| u.as_str()), usize::MAX)?;
    text::check_opt("invoice.notification_url", invoice.notification_url.as_ref().map(|u| u.as_str()), usize::MAX)?;
    if invoice.commit_reservation_timeout == Some(0)
        || (invoice.payment_mode == PaymentMode::ReservationRequiredPreliminaryAmount
            && invoice.commit_reservation_timeout.is_none())
    {
        return Err(Rejection::MissingCommitTimeout);
    }
    Ok(())
}

fn validate_tokens(tokens: &[CustomerToken]) -> Result<(), Rejection> {
    text::check_count("tokens", tokens.len(), text::max::TOKENS)?;
    for (i, t) in tokens.iter().enumerate() {
        text::check(&format!("tokens.{i}.id"), &t.id, text::max::TOKEN_ID)?;
        text::check(&format!("tokens.{i}.value"), &t.value, text::max::TOKEN_VALUE)?;
        text::check_opt(&format!("tokens.{i}.description"), t.description.as_deref(), text::max::TOKEN_DESCRIPTION)?;
    }
    match tokens.iter().find(|t| t.status == TokenStatus::Pending) {
        Some(t) => Err(Rejection::InvalidTokenStatus { id: t.id.clone() }),
        None => Ok(()),
    }
}
