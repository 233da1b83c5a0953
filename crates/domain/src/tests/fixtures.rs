//! Builders for commands and events, and the `check` given/when/then helper.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::call::{CallOutcome, CallSuccess, Evidence, Resolution};
use crate::command::{
    CancelInvoice, Command, CommitReservation, ExpireReservation, IssueInvoice, ObserveStatus, RecordCallOutcome,
    RefundPayment, ResolveCall, SubmitReceipt, UpdateInvoice,
};
use crate::decide;
use crate::event::{
    CallOutcomeUnknown, CallRejected, CallResolved, CallSucceeded, CancelRequested, CommitRequested, Event,
    InvoiceIssued, InvoiceUpdateRequested, ReceiptSubmitRequested, RefundRequested, ReservationExpired,
    SendInvoiceRequested, StatusObserved,
};
use crate::ids::{CallId, InvoiceId, MerchantId, Scope, StoreId, TenantId, TerminalId};
use crate::invoice::{
    AcknowledgmentMode, CustomerToken, HttpUrl, Invoice, InvoiceRow, Payment, PaymentMode, ReceiptDocument,
    ReceiptType, SeqrStatus, TokenStatus,
};
use crate::money::{Currency, Money};
use crate::state::{fold, InvoiceState};

/// Business time: seconds after 2015-10-29T10:00:00Z.
pub(crate) fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2015, 10, 29, 10, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

pub(crate) fn sek(amount: &str) -> Money {
    Money::parse(amount, Currency::SEK).unwrap()
}

pub(crate) fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::EUR).unwrap()
}

pub(crate) fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(crate) fn cid(n: u128) -> CallId {
    CallId(Uuid::from_u128(n))
}

pub(crate) fn invoice_id() -> InvoiceId {
    InvoiceId(Uuid::from_u128(0xABCD))
}

pub(crate) fn scope() -> Scope {
    Scope {
        tenant: TenantId::parse("acme").unwrap(),
        merchant: MerchantId::parse("m-1").unwrap(),
        store: StoreId::parse("store_7").unwrap(),
        terminal: TerminalId::parse("till-3").unwrap(),
    }
}

pub(crate) fn row(description: &str, qty: &str, unit: &str, total: &str) -> InvoiceRow {
    InvoiceRow {
        description: Some(description.to_owned()),
        sku: Some("16".to_owned()),
        ean: None,
        quantity: dec(qty),
        unit_price: Some(sek(unit)),
        total: sek(total),
        discount: None,
        tax_rate: Some(dec("25")),
        unit: None,
    }
}

pub(crate) fn invoice(mode: PaymentMode, ack: AcknowledgmentMode, total: &str) -> Invoice {
    Invoice {
        payment_mode: mode,
        acknowledgment_mode: ack,
        commit_reservation_timeout: None,
        issue_date: t(0),
        title: Some("Some Invoice".to_owned()),
        client_invoice_id: Some("order-1".to_owned()),
        cashier_id: Some("Bob".to_owned()),
        footer: Some("Thanks".to_owned()),
        rows: vec![row("Item", "1", total, total)],
        total: sek(total),
        back_url: None,
        notification_url: None,
    }
}

pub(crate) fn immediate(total: &str) -> Invoice {
    invoice(PaymentMode::ImmediateDebit, AcknowledgmentMode::NoAcknowledgment, total)
}

pub(crate) fn preliminary(total: &str, timeout: u32) -> Invoice {
    Invoice {
        commit_reservation_timeout: Some(timeout),
        ..invoice(PaymentMode::ReservationRequiredPreliminaryAmount, AcknowledgmentMode::NoAcknowledgment, total)
    }
}

pub(crate) fn url(s: &str) -> HttpUrl {
    HttpUrl::parse(s).unwrap()
}

pub(crate) fn token(id: &str, value: &str, status: TokenStatus) -> CustomerToken {
    CustomerToken { id: id.to_owned(), value: value.to_owned(), description: Some("Loyalty card".to_owned()), status }
}

pub(crate) fn payment(ers: &str, amount: Money) -> Payment {
    Payment {
        ers_reference: ers.to_owned(),
        payment_reference: Some("2015102910184861801032678".to_owned()),
        payment_date: Some(t(30)),
        payer_terminal_id: Some("d613c5b8428d17248751bc101".to_owned()),
        amount,
    }
}

pub(crate) fn document() -> ReceiptDocument {
    ReceiptDocument {
        mime_type: "text/html".to_owned(),
        receipt_type: ReceiptType::PaymentReceipt,
        data: b"<html>receipt</html>".to_vec(),
    }
}

pub(crate) fn sent_result(reference: &str) -> CallSuccess {
    CallSuccess::InvoiceSent {
        invoice_reference: reference.to_owned(),
        qr_code: format!("HTTP://SEQR.SE/R{reference}"),
    }
}

// ---- Commands ------------------------------------------------------------------------------------

pub(crate) fn issue_cmd(at: i64, call: u128, invoice: Invoice, tokens: Vec<CustomerToken>) -> Command {
    Command::Issue(IssueInvoice {
        at: t(at),
        invoice_id: invoice_id(),
        scope: scope(),
        call_id: cid(call),
        invoice,
        tokens,
    })
}

pub(crate) fn observe_cmd(
    at: i64,
    status: SeqrStatus,
    version: i32,
    tokens: Vec<CustomerToken>,
    payment: Option<Payment>,
) -> Command {
    Command::ObserveStatus(ObserveStatus {
        at: t(at),
        status,
        invoice_version: version,
        customer_tokens: tokens,
        payment,
    })
}

pub(crate) fn outcome_cmd(at: i64, call: u128, outcome: CallOutcome) -> Command {
    Command::RecordCallOutcome(RecordCallOutcome { at: t(at), call_id: cid(call), outcome })
}

pub(crate) fn succeeded_cmd(at: i64, call: u128, result: CallSuccess) -> Command {
    outcome_cmd(at, call, CallOutcome::Succeeded { result })
}

pub(crate) fn unknown_cmd(at: i64, call: u128) -> Command {
    outcome_cmd(at, call, CallOutcome::Unknown { reason: "timeout".to_owned() })
}

pub(crate) fn rejected_cmd(at: i64, call: u128, code: i32, description: &str) -> Command {
    outcome_cmd(at, call, CallOutcome::Rejected { result_code: code, description: description.to_owned() })
}

pub(crate) fn resolve_cmd(at: i64, call: u128, resolution: Resolution, evidence: Evidence) -> Command {
    Command::ResolveCall(ResolveCall { at: t(at), call_id: cid(call), resolution, evidence })
}

pub(crate) fn update_cmd(
    at: i64,
    call: u128,
    rows: Vec<InvoiceRow>,
    total: Money,
    tokens: Vec<CustomerToken>,
) -> Command {
    Command::UpdateInvoice(UpdateInvoice { at: t(at), call_id: cid(call), rows, total, tokens })
}

pub(crate) fn commit_cmd(at: i64, call: u128, amount: Money) -> Command {
    Command::CommitReservation(CommitReservation { at: t(at), call_id: cid(call), amount, sends_amount: true })
}

pub(crate) fn cancel_cmd(at: i64, call: u128) -> Command {
    Command::Cancel(CancelInvoice { at: t(at), call_id: cid(call) })
}

pub(crate) fn refund_cmd(at: i64, call: u128, amount: Money) -> Command {
    Command::Refund(RefundPayment {
        at: t(at),
        call_id: cid(call),
        amount,
        title: Some("Refund".to_owned()),
        rows: Vec::new(),
    })
}

pub(crate) fn receipt_cmd(at: i64, call: u128, ers: Option<&str>) -> Command {
    Command::SubmitReceipt(SubmitReceipt {
        at: t(at),
        call_id: cid(call),
        ers_reference: ers.map(str::to_owned),
        document: document(),
    })
}

pub(crate) fn expire_cmd(at: i64) -> Command {
    Command::ExpireReservation(ExpireReservation { at: t(at) })
}

// ---- Events --------------------------------------------------------------------------------------

pub(crate) fn issued_ev(at: i64, call: u128, invoice: Invoice, tokens: Vec<CustomerToken>) -> Vec<Event> {
    vec![
        Event::InvoiceIssued(InvoiceIssued {
            at: t(at),
            invoice_id: invoice_id(),
            scope: scope(),
            invoice: invoice.clone(),
            tokens: tokens.clone(),
        }),
        Event::SendInvoiceRequested(SendInvoiceRequested { at: t(at), call_id: cid(call), invoice, tokens }),
    ]
}

pub(crate) fn observed_ev(
    at: i64,
    status: SeqrStatus,
    version: i32,
    tokens: Vec<CustomerToken>,
    payment: Option<Payment>,
) -> Event {
    Event::StatusObserved(StatusObserved {
        at: t(at),
        status,
        invoice_version: version,
        customer_tokens: tokens,
        payment,
    })
}

pub(crate) fn succeeded_ev(at: i64, call: u128, result: CallSuccess) -> Event {
    Event::CallSucceeded(CallSucceeded { at: t(at), call_id: cid(call), result })
}

pub(crate) fn rejected_ev(at: i64, call: u128, code: i32, description: &str) -> Event {
    Event::CallRejected(CallRejected {
        at: t(at),
        call_id: cid(call),
        result_code: code,
        description: description.to_owned(),
    })
}

pub(crate) fn unknown_ev(at: i64, call: u128) -> Event {
    Event::CallOutcomeUnknown(CallOutcomeUnknown { at: t(at), call_id: cid(call), reason: "timeout".to_owned() })
}

pub(crate) fn resolved_ev(at: i64, call: u128, resolution: Resolution, evidence: Evidence) -> Event {
    Event::CallResolved(CallResolved { at: t(at), call_id: cid(call), resolution, evidence })
}

pub(crate) fn update_ev(at: i64, call: u128, reference: &str, invoice: Invoice, tokens: Vec<CustomerToken>) -> Event {
    Event::InvoiceUpdateRequested(InvoiceUpdateRequested {
        at: t(at),
        call_id: cid(call),
        invoice_reference: reference.to_owned(),
        invoice,
        tokens,
    })
}

pub(crate) fn commit_ev(at: i64, call: u128, reference: &str, amount: Money) -> Event {
    Event::CommitRequested(CommitRequested {
        at: t(at),
        call_id: cid(call),
        invoice_reference: reference.to_owned(),
        amount,
    })
}

pub(crate) fn cancel_ev(at: i64, call: u128, reference: &str) -> Event {
    Event::CancelRequested(CancelRequested { at: t(at), call_id: cid(call), invoice_reference: reference.to_owned() })
}

pub(crate) fn refund_ev(at: i64, call: u128, ers: &str, amount: Money) -> Event {
    Event::RefundRequested(RefundRequested {
        at: t(at),
        call_id: cid(call),
        ers_reference: ers.to_owned(),
        amount,
        title: Some("Refund".to_owned()),
        rows: Vec::new(),
    })
}

pub(crate) fn receipt_ev(at: i64, call: u128, ers: &str) -> Event {
    Event::ReceiptSubmitRequested(ReceiptSubmitRequested {
        at: t(at),
        call_id: cid(call),
        ers_reference: ers.to_owned(),
        document: document(),
    })
}

pub(crate) fn expired_ev(at: i64, deadline: i64) -> Event {
    Event::ReservationExpired(ReservationExpired { at: t(at), deadline: t(deadline) })
}

// ---- Given / when / then -------------------------------------------------------------------------

/// Folds `given` strictly, decides `when`, and compares with `expect` (events, or a rejection code). On
/// success the emitted events must also apply strictly to the state. Returns the state after the events.
#[track_caller]
pub(crate) fn check(given: Vec<Event>, when: Command, expect: Result<Vec<Event>, &str>) -> InvoiceState {
    let mut state = fold(&given).expect("given events must fold");
    let got = decide(&state, when);
    match (got, expect) {
        (Ok(events), Ok(expected)) => {
            assert_eq!(events, expected, "emitted events differ");
            for e in &events {
                state.apply(e).unwrap_or_else(|err| panic!("decided event does not apply: {err}"));
            }
            state
        }
        (Err(rejection), Err(code)) => {
            assert_eq!(rejection.code(), code, "rejection differs: {rejection}");
            // Display must be human text, not empty.
            assert!(!rejection.to_string().is_empty());
            state
        }
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

/// A growing history: each `step` is a given/when/then check whose events are appended.
#[derive(Default)]
pub(crate) struct History {
    pub(crate) events: Vec<Event>,
}

impl History {
    #[track_caller]
    pub(crate) fn step(&mut self, when: Command, expect: Vec<Event>) -> InvoiceState {
        let state = check(self.events.clone(), when, Ok(expect.clone()));
        self.events.extend(expect);
        state
    }

    #[track_caller]
    pub(crate) fn reject(&self, when: Command, code: &str) {
        check(self.events.clone(), when, Err(code));
    }

    pub(crate) fn state(&self) -> InvoiceState {
        fold(&self.events).expect("history folds")
    }
}
