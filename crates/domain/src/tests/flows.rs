//! The SEQR flows from the merchant docs (seeds), step by step as given/when/then.

use crate::call::{CallSuccess, Evidence, Resolution};
use crate::invoice::{AcknowledgmentMode, Invoice, PaymentMode, SeqrStatus, TokenStatus};
use crate::state::InvoiceStatus;
use crate::tests::fixtures::*;

const REF: &str = "1397222701693";
const ERS: &str = "2014100613463653401022006";

/// Issue and register: the common start of every flow.
fn registered(h: &mut History, invoice: Invoice, tokens: Vec<crate::CustomerToken>) {
    h.step(issue_cmd(0, 1, invoice.clone(), tokens.clone()), issued_ev(0, 1, invoice, tokens));
    let s = h.step(succeeded_cmd(1, 1, sent_result(REF)), vec![succeeded_ev(1, 1, sent_result(REF))]);
    assert_eq!(s.status(), InvoiceStatus::Issued);
    assert_eq!(s.invoice_reference(), Some(REF));
    assert_eq!(s.qr_code(), Some("HTTP://SEQR.SE/R1397222701693"));
    assert!(s.is_open());
}

#[test]
fn general_payment() {
    let mut h = History::default();
    let inv = immediate("1500.00");
    let s = h.step(issue_cmd(0, 1, inv.clone(), vec![]), issued_ev(0, 1, inv.clone(), vec![]));
    assert_eq!(s.status(), InvoiceStatus::Sending);
    assert_eq!(s.scope(), Some(&scope()));
    assert_eq!(s.calls_requested().count(), 1);
    assert!(!s.is_open(), "no reference yet, nothing to poll");
    registered_after_issue(&mut h);
    // Polls with no change write nothing.
    h.step(
        observe_cmd(2, SeqrStatus::Issued, 1, vec![], None),
        vec![observed_ev(2, SeqrStatus::Issued, 1, vec![], None)],
    );
    h.step(observe_cmd(3, SeqrStatus::Issued, 1, vec![], None), vec![]);
    h.step(observe_cmd(4, SeqrStatus::Issued, 1, vec![], None), vec![]);
    let s = h.state();
    assert_eq!(s.next_poll_hint(), Some(t(3)), "one second after the last recorded observation");
    let p = payment(ERS, sek("1500.00"));
    let s = h.step(
        observe_cmd(5, SeqrStatus::Paid, 2, vec![], Some(p.clone())),
        vec![observed_ev(5, SeqrStatus::Paid, 2, vec![], Some(p))],
    );
    assert_eq!(s.status(), InvoiceStatus::Paid);
    assert_eq!(s.paid_amount(), Some(sek("1500")));
    assert_eq!(s.invoice_version(), 2);
    assert!(!s.is_open());
    assert_eq!(s.next_poll_hint(), None);
    // The same PAID answer again writes nothing.
    h.step(observe_cmd(6, SeqrStatus::Paid, 2, vec![], Some(payment(ERS, sek("1500")))), vec![]);
    // The POS confirms with a receipt.
    h.step(receipt_cmd(7, 2, None), vec![receipt_ev(7, 2, ERS)]);
    let s = h.step(succeeded_cmd(8, 2, CallSuccess::Done), vec![succeeded_ev(8, 2, CallSuccess::Done)]);
    assert_eq!(s.receipts_submitted(), 1);
    assert_eq!(s.calls_in_flight().count(), 0);
}

fn registered_after_issue(h: &mut History) {
    let s = h.step(succeeded_cmd(1, 1, sent_result(REF)), vec![succeeded_ev(1, 1, sent_result(REF))]);
    assert_eq!(s.status(), InvoiceStatus::Issued);
    assert_eq!(s.next_poll_hint(), Some(t(2)));
}

#[test]
fn loyalty_card_swiped_after_scanning() {
    let mut h = History::default();
    let inv = invoice(PaymentMode::ImmediateDebit, AcknowledgmentMode::OptionalAcknowledgment, "200.00");
    registered(&mut h, inv.clone(), vec![]);
    h.step(
        observe_cmd(2, SeqrStatus::Issued, 1, vec![], None),
        vec![observed_ev(2, SeqrStatus::Issued, 1, vec![], None)],
    );
    // The customer scanned and confirmed; SEQR waits for the merchant.
    let s = h.step(
        observe_cmd(3, SeqrStatus::PendingIssuerAcknowledge, 2, vec![], None),
        vec![observed_ev(3, SeqrStatus::PendingIssuerAcknowledge, 2, vec![], None)],
    );
    assert!(s.needs_acknowledgment());
    // The card is swiped now: the merchant applies 10% and acknowledges with the token used.
    let card = token("X_CARD", "2610411111110", TokenStatus::Used);
    let rows = vec![row("Item", "1", "180.00", "180.00")];
    let updated = Invoice { rows: rows.clone(), total: sek("180.00"), ..inv };
    h.step(
        update_cmd(4, 2, rows, sek("180"), vec![card.clone()]),
        vec![update_ev(4, 2, REF, updated.clone(), vec![card.clone()])],
    );
    let s = h.step(succeeded_cmd(5, 2, CallSuccess::Done), vec![succeeded_ev(5, 2, CallSuccess::Done)]);
    assert_eq!(s.total(), Some(sek("180")));
    assert_eq!(s.tokens(), &[card]);
    assert_eq!(s.invoice(), Some(&updated));
    let p = payment(ERS, sek("180"));
    let s = h.step(
        observe_cmd(6, SeqrStatus::Paid, 3, vec![], Some(p.clone())),
        vec![observed_ev(6, SeqrStatus::Paid, 3, vec![], Some(p))],
    );
    assert_eq!(s.status(), InvoiceStatus::Paid);
}

#[test]
fn loyalty_card_swiped_before_scanning() {
    let mut h = History::default();
    let inv = invoice(PaymentMode::ImmediateDebit, AcknowledgmentMode::OptionalAcknowledgment, "200.00");
    // The swiped card goes out with sendInvoice.
    let card = token("X_CARD", "2610411111110", TokenStatus::Used);
    registered(&mut h, inv.clone(), vec![card.clone()]);
    assert_eq!(h.state().tokens(), std::slice::from_ref(&card));
    // SEQR sends the card number from the invoice back, pending the merchant's verdict.
    let offered = token("X_CARD", "2610411111110", TokenStatus::Pending);
    let s = h.step(
        observe_cmd(2, SeqrStatus::PendingIssuerAcknowledge, 1, vec![offered.clone()], None),
        vec![observed_ev(2, SeqrStatus::PendingIssuerAcknowledge, 1, vec![offered.clone()], None)],
    );
    assert_eq!(s.offered_tokens(), &[offered]);
    let rows = vec![row("Item", "1", "190.00", "190.00")];
    h.step(
        update_cmd(3, 2, rows.clone(), sek("190"), vec![card.clone()]),
        vec![update_ev(3, 2, REF, Invoice { rows, total: sek("190"), ..inv }, vec![card])],
    );
    h.step(succeeded_cmd(4, 2, CallSuccess::Done), vec![succeeded_ev(4, 2, CallSuccess::Done)]);
    let p = payment(ERS, sek("190"));
    let s = h.step(
        observe_cmd(5, SeqrStatus::Paid, 2, vec![], Some(p.clone())),
        vec![observed_ev(5, SeqrStatus::Paid, 2, vec![], Some(p))],
    );
    assert_eq!(s.paid_amount(), Some(sek("190")));
}

#[test]
fn loyalty_account_in_phone() {
    let mut h = History::default();
    let inv = invoice(PaymentMode::ImmediateDebit, AcknowledgmentMode::RequireAcknowledgment, "100.00");
    registered(&mut h, inv.clone(), vec![]);
    h.step(
        observe_cmd(2, SeqrStatus::Issued, 0, vec![], None),
        vec![observed_ev(2, SeqrStatus::Issued, 0, vec![], None)],
    );
    // "Token and inv.version = 1": the app scanned; the loyalty account in the phone offers a token.
    let offered = token("X_CARD", "555", TokenStatus::Pending);
    let s = h.step(
        observe_cmd(3, SeqrStatus::PendingIssuerAcknowledge, 1, vec![offered.clone()], None),
        vec![observed_ev(3, SeqrStatus::PendingIssuerAcknowledge, 1, vec![offered], None)],
    );
    assert_eq!(s.invoice_version(), 1, "the next poll acknowledges version 1");
    let used = token("X_CARD", "555", TokenStatus::Used);
    let rows = vec![row("Item", "1", "95.00", "95.00")];
    h.step(
        update_cmd(4, 2, rows.clone(), sek("95"), vec![used.clone()]),
        vec![update_ev(4, 2, REF, Invoice { rows, total: sek("95"), ..inv }, vec![used])],
    );
    h.step(succeeded_cmd(5, 2, CallSuccess::Done), vec![succeeded_ev(5, 2, CallSuccess::Done)]);
    // "Status update ack": the same answer again writes nothing.
    h.step(
        observe_cmd(
            6,
            SeqrStatus::PendingIssuerAcknowledge,
            1,
            vec![token("X_CARD", "555", TokenStatus::Pending)],
            None,
        ),
        vec![],
    );
    let s = h.step(
        observe_cmd(7, SeqrStatus::Issued, 2, vec![], None),
        vec![observed_ev(7, SeqrStatus::Issued, 2, vec![], None)],
    );
    assert_eq!(s.status(), InvoiceStatus::Issued);
    let p = payment(ERS, sek("95"));
    let s = h.step(
        observe_cmd(8, SeqrStatus::Paid, 3, vec![], Some(p.clone())),
        vec![observed_ev(8, SeqrStatus::Paid, 3, vec![], Some(p))],
    );
    assert_eq!(s.status(), InvoiceStatus::Paid);
    assert_eq!(s.total(), Some(sek("95")));
}

#[test]
fn preliminary_payment_reserve_update_commit() {
    let mut h = History::default();
    let inv = preliminary("500.00", 3600);
    registered(&mut h, inv.clone(), vec![]);
    h.step(
        observe_cmd(2, SeqrStatus::Issued, 1, vec![], None),
        vec![observed_ev(2, SeqrStatus::Issued, 1, vec![], None)],
    );
    let s = h.step(
        observe_cmd(10, SeqrStatus::Reserved, 2, vec![], None),
        vec![observed_ev(10, SeqrStatus::Reserved, 2, vec![], None)],
    );
    assert_eq!(s.status(), InvoiceStatus::Reserved);
    assert_eq!(s.reserved_amount(), Some(sek("500")));
    assert_eq!(s.reservation_deadline(), Some(t(3610)));
    assert_eq!(s.next_poll_hint(), Some(t(40)), "reserved invoices are polled slowly");
    // Shopping is done: final rows, then commit the final amount.
    let rows = vec![row("Fuel", "40.5", "10.00", "405.00")];
    h.step(
        update_cmd(100, 2, rows.clone(), sek("405"), vec![]),
        vec![update_ev(100, 2, REF, Invoice { rows, total: sek("405"), ..inv }, vec![])],
    );
    h.step(succeeded_cmd(101, 2, CallSuccess::Done), vec![succeeded_ev(101, 2, CallSuccess::Done)]);
    let s = h.step(commit_cmd(102, 3, sek("405")), vec![commit_ev(102, 3, REF, sek("405"))]);
    assert_eq!(s.status(), InvoiceStatus::Reserved, "nothing moves before the commit succeeds");
    assert_eq!(s.committed_amount(), None);
    let s = h.step(succeeded_cmd(103, 3, CallSuccess::Done), vec![succeeded_ev(103, 3, CallSuccess::Done)]);
    assert_eq!(s.status(), InvoiceStatus::Committed);
    assert_eq!(s.committed_amount(), Some(sek("405")));
    assert!(s.is_open(), "poll until PAID");
    // A second commit is refused.
    h.reject(commit_cmd(104, 4, sek("1")), "invoice_not_reserved");
    // A late RESERVED answer does not undo the commit.
    let s = h.step(
        observe_cmd(104, SeqrStatus::Reserved, 3, vec![], None),
        vec![observed_ev(104, SeqrStatus::Reserved, 3, vec![], None)],
    );
    assert_eq!(s.status(), InvoiceStatus::Committed);
    let p = payment(ERS, sek("405"));
    let s = h.step(
        observe_cmd(105, SeqrStatus::Paid, 4, vec![], Some(p.clone())),
        vec![observed_ev(105, SeqrStatus::Paid, 4, vec![], Some(p))],
    );
    assert_eq!(s.status(), InvoiceStatus::Paid);
    assert_eq!(s.paid_amount(), Some(sek("405")));
}

#[test]
fn reservation_expires_after_deadline() {
    let mut h = History::default();
    registered(&mut h, preliminary("500.00", 60), vec![]);
    h.step(
        observe_cmd(10, SeqrStatus::Reserved, 2, vec![], None),
        vec![observed_ev(10, SeqrStatus::Reserved, 2, vec![], None)],
    );
    h.reject(expire_cmd(69), "reservation_not_expired");
    let s = h.step(expire_cmd(70), vec![expired_ev(70, 70)]);
    assert_eq!(s.status(), InvoiceStatus::Expired);
    assert!(!s.is_open());
    h.reject(commit_cmd(71, 2, sek("1")), "invoice_closed");
    // SEQR agreeing later is recorded; anything else is refused.
    h.step(
        observe_cmd(80, SeqrStatus::Expired, 3, vec![], None),
        vec![observed_ev(80, SeqrStatus::Expired, 3, vec![], None)],
    );
    h.reject(observe_cmd(81, SeqrStatus::Paid, 4, vec![], Some(payment(ERS, sek("1")))), "status_regression");
}

#[test]
fn in_app_payment_canceled_in_app() {
    let mut h = History::default();
    let inv = Invoice {
        back_url: Some(url("https://shop.example/done?order=1")),
        notification_url: Some(url("https://shop.example/seqr/notify?order=1")),
        ..immediate("49.00")
    };
    registered(&mut h, inv.clone(), vec![]);
    assert_eq!(h.state().invoice().and_then(|i| i.back_url.clone()), inv.back_url);
    h.step(
        observe_cmd(2, SeqrStatus::Issued, 1, vec![], None),
        vec![observed_ev(2, SeqrStatus::Issued, 1, vec![], None)],
    );
    // The user pressed cancel in the SEQR app; the done page polls once more.
    let s = h.step(
        observe_cmd(9, SeqrStatus::Canceled, 2, vec![], None),
        vec![observed_ev(9, SeqrStatus::Canceled, 2, vec![], None)],
    );
    assert_eq!(s.status(), InvoiceStatus::Canceled);
    assert!(s.status().is_final());
    assert!(!s.is_open());
    h.reject(cancel_cmd(10, 2), "invoice_closed");
    h.reject(refund_cmd(10, 2, sek("1")), "invoice_not_paid");
}

#[test]
fn merchant_cancels() {
    let mut h = History::default();
    registered(&mut h, immediate("10.00"), vec![]);
    h.step(
        observe_cmd(2, SeqrStatus::Issued, 1, vec![], None),
        vec![observed_ev(2, SeqrStatus::Issued, 1, vec![], None)],
    );
    let s = h.step(cancel_cmd(3, 2), vec![cancel_ev(3, 2, REF)]);
    assert_eq!(s.status(), InvoiceStatus::Issued, "the cancel applies only on success");
    h.reject(cancel_cmd(3, 3), "call_in_flight");
    let s = h.step(succeeded_cmd(4, 2, CallSuccess::Done), vec![succeeded_ev(4, 2, CallSuccess::Done)]);
    assert_eq!(s.status(), InvoiceStatus::Canceled);
    h.step(
        observe_cmd(5, SeqrStatus::Canceled, 2, vec![], None),
        vec![observed_ev(5, SeqrStatus::Canceled, 2, vec![], None)],
    );
    h.reject(observe_cmd(6, SeqrStatus::Issued, 3, vec![], None), "status_regression");
}

#[test]
fn cancel_rejected_by_seqr_changes_nothing() {
    let mut h = History::default();
    registered(&mut h, immediate("10.00"), vec![]);
    h.step(cancel_cmd(3, 2), vec![cancel_ev(3, 2, REF)]);
    let s = h.step(
        rejected_cmd(4, 2, 51, "CANNOT_CANCEL_INVOICE_IN_PROGRESS"),
        vec![rejected_ev(4, 2, 51, "CANNOT_CANCEL_INVOICE_IN_PROGRESS")],
    );
    assert_eq!(s.status(), InvoiceStatus::Issued);
    // The merchant may try again.
    h.step(cancel_cmd(5, 3), vec![cancel_ev(5, 3, REF)]);
}

fn paid(h: &mut History, amount: &str) {
    registered(h, immediate(amount), vec![]);
    let p = payment(ERS, sek(amount));
    h.step(
        observe_cmd(5, SeqrStatus::Paid, 2, vec![], Some(p.clone())),
        vec![observed_ev(5, SeqrStatus::Paid, 2, vec![], Some(p))],
    );
}

#[test]
fn partial_refunds() {
    let mut h = History::default();
    paid(&mut h, "100.00");
    h.step(refund_cmd(10, 10, sek("30")), vec![refund_ev(10, 10, ERS, sek("30"))]);
    let s = h.step(
        succeeded_cmd(11, 10, CallSuccess::Refunded { ers_reference: Some("R1".to_owned()) }),
        vec![succeeded_ev(11, 10, CallSuccess::Refunded { ers_reference: Some("R1".to_owned()) })],
    );
    assert_eq!(s.refunded_amount(), Some(sek("30")));
    assert_eq!(s.refundable_amount(), Some(sek("70")));
    // A receipt for the refund.
    h.step(receipt_cmd(12, 11, Some("R1")), vec![receipt_ev(12, 11, "R1")]);
    // A second refund whose outcome is unknown still counts against the balance.
    h.step(refund_cmd(13, 12, sek("50")), vec![refund_ev(13, 12, ERS, sek("50"))]);
    let s = h.step(unknown_cmd(14, 12), vec![unknown_ev(14, 12)]);
    assert_eq!(s.refunded_amount(), Some(sek("30")));
    assert_eq!(s.refunds_in_flight(), Some(sek("50")));
    assert_eq!(s.refundable_amount(), Some(sek("20")));
    h.reject(refund_cmd(15, 13, sek("20.01")), "refund_exceeds_paid");
    h.step(refund_cmd(15, 13, sek("20")), vec![refund_ev(15, 13, ERS, sek("20"))]);
    h.reject(refund_cmd(16, 14, sek("0.01")), "refund_exceeds_paid");
    // SEQR's reconciliation shows the unknown refund never happened.
    let evidence = Evidence::Operator { note: "not in STD_RECON_003".to_owned() };
    let s = h.step(
        resolve_cmd(17, 12, Resolution::NotDone, evidence.clone()),
        vec![resolved_ev(17, 12, Resolution::NotDone, evidence)],
    );
    assert_eq!(s.refundable_amount(), Some(sek("50")), "100 - 30 refunded - 20 in flight");
    h.step(
        rejected_cmd(18, 13, 98, "SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION"),
        vec![rejected_ev(18, 13, 98, "SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION")],
    );
    let s = h.state();
    assert_eq!(s.refundable_amount(), Some(sek("70")));
    h.step(refund_cmd(19, 15, sek("70")), vec![refund_ev(19, 15, ERS, sek("70"))]);
    let s = h.step(
        succeeded_cmd(20, 15, CallSuccess::Refunded { ers_reference: None }),
        vec![succeeded_ev(20, 15, CallSuccess::Refunded { ers_reference: None })],
    );
    assert_eq!(s.refunded_amount(), Some(sek("100")));
    assert_eq!(s.refundable_amount(), Some(sek("0")));
    assert_eq!(s.status(), InvoiceStatus::Paid, "a fully refunded invoice stays paid");
    h.reject(refund_cmd(21, 16, sek("0.01")), "refund_exceeds_paid");
}

// ---- Unknown outcomes and their resolution, per call kind -----------------------------------------

#[test]
fn send_unknown_then_resolved_done() {
    let mut h = History::default();
    let inv = immediate("10.00");
    h.step(issue_cmd(0, 1, inv.clone(), vec![]), issued_ev(0, 1, inv, vec![]));
    let s = h.step(unknown_cmd(1, 1), vec![unknown_ev(1, 1)]);
    assert_eq!(s.status(), InvoiceStatus::Sending);
    assert_eq!(s.unknown_calls().count(), 1);
    h.reject(succeeded_cmd(2, 1, sent_result(REF)), "call_outcome_unknown");
    h.reject(observe_cmd(2, SeqrStatus::Issued, 1, vec![], None), "invoice_not_registered");
    let evidence = Evidence::ProviderResult { result_code: 0, description: "SUCCESS".to_owned() };
    let resolution = Resolution::Succeeded { result: sent_result(REF) };
    let s = h.step(
        resolve_cmd(3, 1, resolution.clone(), evidence.clone()),
        vec![resolved_ev(3, 1, resolution.clone(), evidence.clone())],
    );
    assert_eq!(s.status(), InvoiceStatus::Issued);
    assert_eq!(s.invoice_reference(), Some(REF));
    h.reject(resolve_cmd(4, 1, resolution, evidence), "call_already_settled");
}

#[test]
fn send_unknown_then_resolved_not_done() {
    let mut h = History::default();
    let inv = immediate("10.00");
    h.step(issue_cmd(0, 1, inv.clone(), vec![]), issued_ev(0, 1, inv, vec![]));
    h.step(unknown_cmd(1, 1), vec![unknown_ev(1, 1)]);
    let evidence = Evidence::Operator { note: "no such invoice at SEQR".to_owned() };
    let s = h.step(
        resolve_cmd(3, 1, Resolution::NotDone, evidence.clone()),
        vec![resolved_ev(3, 1, Resolution::NotDone, evidence)],
    );
    assert_eq!(s.status(), InvoiceStatus::SendFailed);
    assert!(s.status().is_final());
    h.reject(cancel_cmd(4, 2), "invoice_closed");
}

#[test]
fn send_rejected_is_final() {
    let mut h = History::default();
    let inv = immediate("10.00");
    h.step(issue_cmd(0, 1, inv.clone(), vec![]), issued_ev(0, 1, inv, vec![]));
    let s = h.step(rejected_cmd(1, 1, 49, "INVALID_INVOICE_DATA"), vec![rejected_ev(1, 1, 49, "INVALID_INVOICE_DATA")]);
    assert_eq!(s.status(), InvoiceStatus::SendFailed);
    h.reject(observe_cmd(2, SeqrStatus::Issued, 1, vec![], None), "invoice_closed");
}

#[test]
fn update_unknown_then_resolved_done() {
    let mut h = History::default();
    let inv = invoice(PaymentMode::ImmediateDebit, AcknowledgmentMode::RequireAcknowledgment, "100.00");
    registered(&mut h, inv.clone(), vec![]);
    let rows = vec![row("Item", "1", "90.00", "90.00")];
    let updated = Invoice { rows: rows.clone(), total: sek("90"), ..inv };
    h.step(update_cmd(2, 2, rows.clone(), sek("90"), vec![]), vec![update_ev(2, 2, REF, updated.clone(), vec![])]);
    let s = h.step(unknown_cmd(3, 2), vec![unknown_ev(3, 2)]);
    assert_eq!(s.total(), Some(sek("100")), "an unknown update is not applied");
    h.reject(update_cmd(4, 3, rows, sek("90"), vec![]), "call_in_flight");
    let evidence = Evidence::ProviderResult { result_code: 0, description: "SUCCESS".to_owned() };
    let done = Resolution::Succeeded { result: CallSuccess::Done };
    let s = h.step(resolve_cmd(5, 2, done.clone(), evidence.clone()), vec![resolved_ev(5, 2, done, evidence)]);
    assert_eq!(s.invoice(), Some(&updated));
}

#[test]
fn commit_unknown_resolved_by_observed_paid() {
    let mut h = History::default();
    registered(&mut h, preliminary("500.00", 3600), vec![]);
    h.step(
        observe_cmd(2, SeqrStatus::Reserved, 2, vec![], None),
        vec![observed_ev(2, SeqrStatus::Reserved, 2, vec![], None)],
    );
    h.step(commit_cmd(3, 2, sek("450")), vec![commit_ev(3, 2, REF, sek("450"))]);
    h.reject(commit_cmd(3, 3, sek("450")), "call_in_flight");
    let s = h.step(unknown_cmd(4, 2), vec![unknown_ev(4, 2)]);
    assert!(s.is_open());
    h.reject(commit_cmd(5, 3, sek("450")), "call_in_flight");
    h.reject(expire_cmd(99_999), "call_in_flight");
    let p = payment(ERS, sek("450"));
    let s = h.step(
        observe_cmd(6, SeqrStatus::Paid, 3, vec![], Some(p.clone())),
        vec![
            observed_ev(6, SeqrStatus::Paid, 3, vec![], Some(p)),
            resolved_ev(
                6,
                2,
                Resolution::Succeeded { result: CallSuccess::Done },
                Evidence::ObservedStatus { status: SeqrStatus::Paid, invoice_version: 3 },
            ),
        ],
    );
    assert_eq!(s.status(), InvoiceStatus::Paid);
    assert_eq!(s.committed_amount(), Some(sek("450")));
    assert_eq!(s.unknown_calls().count(), 0);
}

#[test]
fn commit_unknown_resolved_not_done_by_observed_expiry() {
    let mut h = History::default();
    registered(&mut h, preliminary("500.00", 3600), vec![]);
    h.step(
        observe_cmd(2, SeqrStatus::Reserved, 2, vec![], None),
        vec![observed_ev(2, SeqrStatus::Reserved, 2, vec![], None)],
    );
    h.step(commit_cmd(3, 2, sek("450")), vec![commit_ev(3, 2, REF, sek("450"))]);
    h.step(unknown_cmd(4, 2), vec![unknown_ev(4, 2)]);
    let s = h.step(
        observe_cmd(6, SeqrStatus::Expired, 3, vec![], None),
        vec![
            observed_ev(6, SeqrStatus::Expired, 3, vec![], None),
            resolved_ev(
                6,
                2,
                Resolution::NotDone,
                Evidence::ObservedStatus { status: SeqrStatus::Expired, invoice_version: 3 },
            ),
        ],
    );
    assert_eq!(s.status(), InvoiceStatus::Expired);
    assert_eq!(s.committed_amount(), None);
}

#[test]
fn cancel_unknown_resolved_by_observation_even_without_news() {
    let mut h = History::default();
    registered(&mut h, immediate("10.00"), vec![]);
    h.step(cancel_cmd(2, 2), vec![cancel_ev(2, 2, REF)]);
    // The user also canceled in the app; we see CANCELED while our call is still requested.
    h.step(
        observe_cmd(3, SeqrStatus::Canceled, 2, vec![], None),
        vec![observed_ev(3, SeqrStatus::Canceled, 2, vec![], None)],
    );
    let s = h.step(unknown_cmd(4, 2), vec![unknown_ev(4, 2)]);
    assert!(s.is_open(), "keep polling to settle the unknown cancel");
    // The same status again writes no observation, but settles the call.
    let s = h.step(
        observe_cmd(5, SeqrStatus::Canceled, 2, vec![], None),
        vec![resolved_ev(
            5,
            2,
            Resolution::Succeeded { result: CallSuccess::Done },
            Evidence::ObservedStatus { status: SeqrStatus::Canceled, invoice_version: 2 },
        )],
    );
    assert!(!s.is_open());
    h.step(observe_cmd(6, SeqrStatus::Canceled, 2, vec![], None), vec![]);
}

#[test]
fn cancel_unknown_resolved_not_done_when_paid() {
    let mut h = History::default();
    registered(&mut h, immediate("10.00"), vec![]);
    h.step(cancel_cmd(2, 2), vec![cancel_ev(2, 2, REF)]);
    h.step(unknown_cmd(3, 2), vec![unknown_ev(3, 2)]);
    let p = payment(ERS, sek("10"));
    let s = h.step(
        observe_cmd(4, SeqrStatus::Paid, 2, vec![], Some(p.clone())),
        vec![
            observed_ev(4, SeqrStatus::Paid, 2, vec![], Some(p)),
            resolved_ev(
                4,
                2,
                Resolution::NotDone,
                Evidence::ObservedStatus { status: SeqrStatus::Paid, invoice_version: 2 },
            ),
        ],
    );
    assert_eq!(s.status(), InvoiceStatus::Paid);
}

#[test]
fn cancel_unknown_resolved_by_provider_result() {
    let mut h = History::default();
    registered(&mut h, immediate("10.00"), vec![]);
    h.step(cancel_cmd(2, 2), vec![cancel_ev(2, 2, REF)]);
    h.step(unknown_cmd(3, 2), vec![unknown_ev(3, 2)]);
    let evidence = Evidence::ProviderResult { result_code: 95, description: "INVOICE_ALREADY_CANCELED".to_owned() };
    let done = Resolution::Succeeded { result: CallSuccess::Done };
    let s = h.step(resolve_cmd(4, 2, done.clone(), evidence.clone()), vec![resolved_ev(4, 2, done, evidence)]);
    assert_eq!(s.status(), InvoiceStatus::Canceled);
}

#[test]
fn refund_unknown_then_resolved_done() {
    let mut h = History::default();
    paid(&mut h, "100.00");
    h.step(refund_cmd(10, 10, sek("60")), vec![refund_ev(10, 10, ERS, sek("60"))]);
    h.step(unknown_cmd(11, 10), vec![unknown_ev(11, 10)]);
    h.reject(refund_cmd(12, 11, sek("40.01")), "refund_exceeds_paid");
    let evidence = Evidence::Operator { note: "in STD_RECON_003".to_owned() };
    let done = Resolution::Succeeded { result: CallSuccess::Refunded { ers_reference: Some("R9".to_owned()) } };
    let s = h.step(resolve_cmd(13, 10, done.clone(), evidence.clone()), vec![resolved_ev(13, 10, done, evidence)]);
    assert_eq!(s.refunded_amount(), Some(sek("60")));
    assert_eq!(s.refundable_amount(), Some(sek("40")));
    assert_eq!(s.refund_references(), &["R9".to_owned()]);
}

#[test]
fn receipt_unknown_then_resolved() {
    let mut h = History::default();
    paid(&mut h, "100.00");
    h.step(receipt_cmd(10, 10, None), vec![receipt_ev(10, 10, ERS)]);
    h.step(unknown_cmd(11, 10), vec![unknown_ev(11, 10)]);
    // Receipts do not block each other (one per receipt type).
    h.step(receipt_cmd(12, 11, Some(ERS)), vec![receipt_ev(12, 11, ERS)]);
    let evidence = Evidence::ProviderResult { result_code: 0, description: "SUCCESS".to_owned() };
    let done = Resolution::Succeeded { result: CallSuccess::Done };
    let s = h.step(resolve_cmd(13, 10, done.clone(), evidence.clone()), vec![resolved_ev(13, 10, done, evidence)]);
    assert_eq!(s.receipts_submitted(), 1);
    assert_eq!(s.calls_in_flight().count(), 1);
    let s = h.step(unknown_cmd(14, 11), vec![unknown_ev(14, 11)]);
    let evidence = Evidence::Operator { note: "resubmitted under another call".to_owned() };
    let s2 = h.step(
        resolve_cmd(15, 11, Resolution::NotDone, evidence.clone()),
        vec![resolved_ev(15, 11, Resolution::NotDone, evidence)],
    );
    assert_eq!(s.receipts_submitted(), 1);
    assert_eq!(s2.receipts_submitted(), 1);
    assert_eq!(s2.calls_in_flight().count(), 0);
}

#[test]
fn stale_observation_is_ignored() {
    let mut h = History::default();
    registered(&mut h, immediate("10.00"), vec![]);
    h.step(
        observe_cmd(2, SeqrStatus::PendingIssuerAcknowledge, 3, vec![], None),
        vec![observed_ev(2, SeqrStatus::PendingIssuerAcknowledge, 3, vec![], None)],
    );
    h.step(observe_cmd(3, SeqrStatus::Issued, 2, vec![], None), vec![]);
    assert_eq!(h.state().status(), InvoiceStatus::PendingAcknowledge);
}

#[test]
fn folding_a_stored_move_out_of_a_final_state_keeps_it_final() {
    // decide never emits this, but a stream written by an older or buggy writer must not reopen an invoice.
    let mut events = issued_ev(0, 1, immediate("10.00"), vec![]);
    events.push(succeeded_ev(1, 1, sent_result(REF)));
    events.push(observed_ev(2, SeqrStatus::Canceled, 2, vec![], None));
    events.push(observed_ev(3, SeqrStatus::Paid, 3, vec![], Some(payment(ERS, sek("10")))));
    let s = crate::fold(&events).unwrap();
    assert_eq!(s.status(), InvoiceStatus::Canceled);
    let mut paid = issued_ev(0, 1, immediate("10.00"), vec![]);
    paid.push(succeeded_ev(1, 1, sent_result(REF)));
    paid.push(observed_ev(2, SeqrStatus::Paid, 2, vec![], Some(payment(ERS, sek("10")))));
    paid.push(observed_ev(3, SeqrStatus::Issued, 3, vec![], None));
    assert_eq!(crate::fold(&paid).unwrap().status(), InvoiceStatus::Paid);
}

#[test]
fn later_paid_versions_keep_the_first_payment() {
    let mut h = History::default();
    paid(&mut h, "100.00");
    // A new version (e.g. after a refund) without receipt details is fine once paid.
    let s = h.step(
        observe_cmd(20, SeqrStatus::Paid, 3, vec![], None),
        vec![observed_ev(20, SeqrStatus::Paid, 3, vec![], None)],
    );
    assert_eq!(s.paid_amount(), Some(sek("100")));
    // Different details later do not rewrite the payment (refund accounting depends on it).
    let s = h.step(
        observe_cmd(21, SeqrStatus::Paid, 4, vec![], Some(payment("OTHER", sek("1")))),
        vec![observed_ev(21, SeqrStatus::Paid, 4, vec![], None)],
    );
    assert_eq!(s.payment().map(|p| p.ers_reference.as_str()), Some(ERS));
    assert_eq!(s.paid_amount(), Some(sek("100")));
}
