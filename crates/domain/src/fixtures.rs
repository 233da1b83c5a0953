//! Invoice stories for tests and benchmarks (feature `fixtures`): the events a real invoice's life appends,
//! command by command, so that the integration tests and `ops/bench projection` fold the same shapes.
//!
//! Pure like the rest of the crate: time (`t0`) and the invoice id come from the caller; the call ids are derived
//! from the invoice id, so a story is a function of its arguments.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::event::{
    CallSucceeded, CancelRequested, CommitRequested, InvoiceIssued, RefundRequested, SendInvoiceRequested,
    StatusObserved,
};
use crate::{
    AcknowledgmentMode, CallId, CallSuccess, Event, Invoice, InvoiceId, InvoiceRow, Money, Payment, PaymentMode, Scope,
    SeqrStatus,
};

/// How an invoice's story ends.
#[derive(Clone, Copy, Debug)]
pub enum Story {
    /// Paid at once, then this amount refunded an hour later.
    PaidAndRefunded { refund: Money },
    /// Canceled by the register before the shopper paid.
    Canceled,
    /// Reserved, then this amount committed and paid.
    ReservedCommittedPaid { commit: Money },
}

/// One invoice's story: its commands in order, each the list of events one append writes.
///
/// `n` numbers the invoice: its SEQR references are `R{n:06}`, `ERS{n:06}` and `REF{n:06}`, its client id
/// `order-{n}`. The invoice has one row of the whole `total`.
pub fn story(
    kind: Story,
    n: usize,
    invoice_id: InvoiceId,
    scope: Scope,
    total: Money,
    t0: DateTime<Utc>,
) -> Vec<Vec<Event>> {
    let s = |secs: i64| t0 + Duration::seconds(secs);
    let call = |name: &str| CallId(Uuid::new_v5(&invoice_id.0, name.as_bytes()));
    let mode = match kind {
        Story::ReservedCommittedPaid { .. } => PaymentMode::ReservationRequired,
        _ => PaymentMode::ImmediateDebit,
    };
    let invoice = Invoice {
        payment_mode: mode,
        acknowledgment_mode: AcknowledgmentMode::NoAcknowledgment,
        commit_reservation_timeout: mode.may_reserve().then_some(600),
        issue_date: t0,
        title: Some("Lunch".into()),
        client_invoice_id: Some(format!("order-{n}")),
        cashier_id: Some("cashier-7".into()),
        footer: None,
        rows: vec![InvoiceRow {
            description: Some("Dish of the day".into()),
            sku: Some(format!("SKU-{}", n % 97)),
            ean: None,
            quantity: Decimal::ONE,
            unit_price: Some(total),
            total,
            discount: None,
            tax_rate: Some(Decimal::new(12, 0)),
            unit: None,
        }],
        total,
        back_url: None,
        notification_url: None,
    };
    let reference = format!("R{n:06}");
    let ers_reference = format!("ERS{n:06}");
    let observed = |secs, status, invoice_version, payment| {
        Event::StatusObserved(StatusObserved {
            at: s(secs),
            status,
            invoice_version,
            customer_tokens: Vec::new(),
            payment,
        })
    };
    let payment = |secs, amount| Payment {
        ers_reference: ers_reference.clone(),
        payment_reference: Some(format!("P{n}")),
        payment_date: Some(s(secs)),
        payer_terminal_id: None,
        amount,
    };
    let done = |secs, call_id, result| Event::CallSucceeded(CallSucceeded { at: s(secs), call_id, result });
    let send = call("send");
    let mut commands = vec![
        vec![
            Event::InvoiceIssued(InvoiceIssued {
                at: t0,
                invoice_id,
                scope,
                invoice: invoice.clone(),
                tokens: Vec::new(),
            }),
            Event::SendInvoiceRequested(SendInvoiceRequested { at: t0, call_id: send, invoice, tokens: Vec::new() }),
        ],
        vec![done(
            1,
            send,
            CallSuccess::InvoiceSent {
                invoice_reference: reference.clone(),
                qr_code: format!("HTTP://SEQR.SE/R{reference}"),
            },
        )],
        vec![observed(2, SeqrStatus::Issued, 1, None)],
    ];
    match kind {
        Story::PaidAndRefunded { refund } => {
            let refund_call = call("refund");
            commands.push(vec![observed(20, SeqrStatus::Paid, 2, Some(payment(19, total)))]);
            commands.push(vec![Event::RefundRequested(RefundRequested {
                at: s(3600),
                call_id: refund_call,
                ers_reference: ers_reference.clone(),
                amount: refund,
                title: None,
                rows: Vec::new(),
            })]);
            commands.push(vec![done(
                3601,
                refund_call,
                CallSuccess::Refunded { ers_reference: Some(format!("REF{n:06}")) },
            )]);
        }
        Story::Canceled => {
            let cancel = call("cancel");
            commands.push(vec![Event::CancelRequested(CancelRequested {
                at: s(30),
                call_id: cancel,
                invoice_reference: reference,
            })]);
            commands.push(vec![done(31, cancel, CallSuccess::Done)]);
        }
        Story::ReservedCommittedPaid { commit } => {
            let commit_call = call("commit");
            commands.push(vec![observed(10, SeqrStatus::Reserved, 2, None)]);
            commands.push(vec![Event::CommitRequested(CommitRequested {
                at: s(60),
                call_id: commit_call,
                invoice_reference: reference,
                amount: commit,
            })]);
            commands.push(vec![done(61, commit_call, CallSuccess::Done)]);
            commands.push(vec![observed(62, SeqrStatus::Paid, 3, Some(payment(61, commit)))]);
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::{fold, Currency, InvoiceStatus};

    fn sek(amount: &str) -> Money {
        Money::parse(amount, Currency::SEK).unwrap()
    }

    fn scope() -> Scope {
        Scope {
            tenant: "tenant-1".parse().unwrap(),
            merchant: "merchant-1".parse().unwrap(),
            store: "store-1".parse().unwrap(),
            terminal: "till-1".parse().unwrap(),
        }
    }

    /// Every story folds into a valid state: the fixtures are invoices the domain itself accepts.
    #[test]
    fn every_story_folds_to_the_state_it_describes() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        // (story, status, paid, refunded)
        let cases = [
            (Story::PaidAndRefunded { refund: sek("30.00") }, InvoiceStatus::Paid, Some("101.50"), "30.00"),
            (Story::Canceled, InvoiceStatus::Canceled, None, "0.00"),
            (Story::ReservedCommittedPaid { commit: sek("50.00") }, InvoiceStatus::Paid, Some("50.00"), "0.00"),
        ];
        for (n, (kind, status, paid, refunded)) in cases.into_iter().enumerate() {
            let id = InvoiceId(Uuid::from_u128(n as u128 + 1));
            let events: Vec<Event> = story(kind, n, id, scope(), sek("101.50"), t0).into_iter().flatten().collect();
            let state = fold(&events).unwrap();
            assert_eq!(state.status(), status, "{kind:?}");
            assert_eq!(state.paid_amount(), paid.map(sek), "{kind:?}");
            assert_eq!(state.refunded_amount().unwrap_or(sek("0")), sek(refunded), "{kind:?}");
            assert_eq!(state.calls().count(), 2, "{kind:?}: sendInvoice and one more call");
            assert_eq!(state.calls_in_flight().count(), 0, "{kind:?}: every call has its outcome");
        }
    }
}
