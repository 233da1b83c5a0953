//! Every rejection code, at least once, through `decide` (or the value-type conversions that feed it).

use std::collections::BTreeSet;

use crate::call::{CallSuccess, Evidence, Resolution};
use crate::command::Command;
use crate::event::Event;
use crate::ids::TenantId;
use crate::invoice::{HttpUrl, Invoice, InvoiceRow, PaymentMode, SeqrStatus, TokenStatus};
use crate::money::{Currency, Money};
use crate::tests::fixtures::*;
use crate::Rejection;

const REF: &str = "1397222701693";
const ERS: &str = "2014100613463653401022006";

fn issued(invoice: Invoice) -> Vec<Event> {
    issued_ev(0, 1, invoice, vec![])
}

fn registered(invoice: Invoice) -> Vec<Event> {
    let mut e = issued(invoice);
    e.push(succeeded_ev(1, 1, sent_result(REF)));
    e
}

fn with(mut given: Vec<Event>, more: Vec<Event>) -> Vec<Event> {
    given.extend(more);
    given
}

fn reserved() -> Vec<Event> {
    with(registered(preliminary("500.00", 60)), vec![observed_ev(2, SeqrStatus::Reserved, 2, vec![], None)])
}

fn paid() -> Vec<Event> {
    with(
        registered(immediate("100.00")),
        vec![observed_ev(2, SeqrStatus::Paid, 2, vec![], Some(payment(ERS, sek("100"))))],
    )
}

fn canceled() -> Vec<Event> {
    with(registered(immediate("100.00")), vec![observed_ev(2, SeqrStatus::Canceled, 2, vec![], None)])
}

/// (name, given, when, expected code).
fn cases() -> Vec<(&'static str, Vec<Event>, Command, &'static str)> {
    let done = Resolution::Succeeded { result: CallSuccess::Done };
    let evidence = Evidence::Operator { note: "checked".to_owned() };
    vec![
        ("cancel before issue", vec![], cancel_cmd(1, 2), "invoice_not_found"),
        ("observe before issue", vec![], observe_cmd(1, SeqrStatus::Issued, 1, vec![], None), "invoice_not_found"),
        ("issue twice", issued(immediate("1.00")), issue_cmd(1, 9, immediate("1.00"), vec![]), "already_issued"),
        ("cancel while sending", issued(immediate("1.00")), cancel_cmd(1, 2), "invoice_not_registered"),
        (
            "update while sending",
            issued(immediate("1.00")),
            update_cmd(1, 2, vec![], sek("1"), vec![]),
            "invoice_not_registered",
        ),
        ("cancel canceled", canceled(), cancel_cmd(3, 2), "invoice_closed"),
        ("update canceled", canceled(), update_cmd(3, 2, vec![], sek("1"), vec![]), "invoice_closed"),
        ("expire canceled", canceled(), expire_cmd(3), "invoice_closed"),
        ("cancel paid", paid(), cancel_cmd(3, 2), "invoice_already_paid"),
        ("update paid", paid(), update_cmd(3, 2, vec![], sek("1"), vec![]), "invoice_already_paid"),
        ("commit unreserved", registered(immediate("1.00")), commit_cmd(2, 2, sek("1")), "invoice_not_reserved"),
        ("expire unreserved", registered(immediate("1.00")), expire_cmd(2), "invoice_not_reserved"),
        ("refund unpaid", registered(immediate("1.00")), refund_cmd(2, 2, sek("1")), "invoice_not_paid"),
        ("receipt unpaid", registered(immediate("1.00")), receipt_cmd(2, 2, None), "invoice_not_paid"),
        ("refund too much", paid(), refund_cmd(3, 2, sek("100.01")), "refund_exceeds_paid"),
        ("commit too much", reserved(), commit_cmd(3, 2, sek("500.01")), "commit_exceeds_reservation"),
        (
            "update above reservation",
            reserved(),
            update_cmd(3, 2, vec![], sek("501"), vec![]),
            "amount_exceeds_reservation",
        ),
        ("refund in euro", paid(), refund_cmd(3, 2, eur("1")), "currency_mismatch"),
        ("commit in euro", reserved(), commit_cmd(3, 2, eur("1")), "currency_mismatch"),
        (
            "update row in euro",
            registered(immediate("5.00")),
            update_cmd(2, 2, vec![crate::InvoiceRow { total: eur("5"), ..row("x", "1", "5", "5") }], sek("5"), vec![]),
            "currency_mismatch",
        ),
        (
            "paid in euro",
            registered(immediate("5.00")),
            observe_cmd(2, SeqrStatus::Paid, 2, vec![], Some(payment(ERS, eur("5")))),
            "currency_mismatch",
        ),
        ("issue with zero total", vec![], issue_cmd(0, 1, immediate("0"), vec![]), "invalid_amount"),
        ("refund zero", paid(), refund_cmd(3, 2, sek("0")), "invalid_amount"),
        ("commit zero", reserved(), commit_cmd(3, 2, sek("0")), "invalid_amount"),
        (
            "issue with zero quantity",
            vec![],
            issue_cmd(0, 1, Invoice { rows: vec![row("x", "0", "1", "1")], ..immediate("1.00") }, vec![]),
            "invalid_quantity",
        ),
        (
            "preliminary without timeout",
            vec![],
            issue_cmd(0, 1, Invoice { commit_reservation_timeout: None, ..preliminary("1.00", 1) }, vec![]),
            "missing_commit_timeout",
        ),
        (
            "zero timeout",
            vec![],
            issue_cmd(
                0,
                1,
                Invoice {
                    commit_reservation_timeout: Some(0),
                    payment_mode: PaymentMode::ReservationRequired,
                    ..immediate("1.00")
                },
                vec![],
            ),
            "missing_commit_timeout",
        ),
        (
            "pending token in update",
            registered(immediate("5.00")),
            update_cmd(2, 2, vec![], sek("5"), vec![token("X_CARD", "1", TokenStatus::Pending)]),
            "invalid_token_status",
        ),
        (
            "pending token in issue",
            vec![],
            issue_cmd(0, 1, immediate("5.00"), vec![token("X_CARD", "1", TokenStatus::Pending)]),
            "invalid_token_status",
        ),
        (
            "second cancel in flight",
            with(registered(immediate("5.00")), vec![cancel_ev(2, 2, REF)]),
            cancel_cmd(3, 3),
            "call_in_flight",
        ),
        (
            "update while cancel in flight",
            with(registered(immediate("5.00")), vec![cancel_ev(2, 2, REF)]),
            update_cmd(3, 3, vec![], sek("5"), vec![]),
            "call_in_flight",
        ),
        (
            "outcome of unknown call",
            registered(immediate("5.00")),
            succeeded_cmd(2, 77, CallSuccess::Done),
            "unknown_call",
        ),
        (
            "resolve unknown call",
            registered(immediate("5.00")),
            resolve_cmd(2, 77, Resolution::NotDone, evidence.clone()),
            "unknown_call",
        ),
        ("outcome twice", registered(immediate("5.00")), succeeded_cmd(2, 1, sent_result(REF)), "call_already_settled"),
        (
            "resolve settled",
            registered(immediate("5.00")),
            resolve_cmd(2, 1, Resolution::NotDone, evidence.clone()),
            "call_already_settled",
        ),
        (
            "outcome after unknown",
            with(issued(immediate("5.00")), vec![unknown_ev(1, 1)]),
            succeeded_cmd(2, 1, sent_result(REF)),
            "call_outcome_unknown",
        ),
        (
            "resolve requested",
            issued(immediate("5.00")),
            resolve_cmd(1, 1, Resolution::NotDone, evidence.clone()),
            "call_not_unknown",
        ),
        (
            "refund data for send",
            issued(immediate("5.00")),
            succeeded_cmd(1, 1, CallSuccess::Refunded { ers_reference: None }),
            "outcome_mismatch",
        ),
        (
            "done for send",
            with(issued(immediate("5.00")), vec![unknown_ev(1, 1)]),
            resolve_cmd(2, 1, done.clone(), evidence.clone()),
            "outcome_mismatch",
        ),
        ("issued after paid", paid(), observe_cmd(3, SeqrStatus::Issued, 3, vec![], None), "status_regression"),
        (
            "pending after reserved",
            reserved(),
            observe_cmd(3, SeqrStatus::PendingIssuerAcknowledge, 3, vec![], None),
            "status_regression",
        ),
        (
            "paid after canceled",
            canceled(),
            observe_cmd(3, SeqrStatus::Paid, 3, vec![], Some(payment(ERS, sek("100")))),
            "status_regression",
        ),
        (
            "negative version",
            registered(immediate("5.00")),
            observe_cmd(2, SeqrStatus::Issued, -1, vec![], None),
            "invalid_version",
        ),
        (
            "paid without details",
            registered(immediate("5.00")),
            observe_cmd(2, SeqrStatus::Paid, 2, vec![], None),
            "missing_payment_details",
        ),
        ("expire early", reserved(), expire_cmd(61), "reservation_not_expired"),
        (
            "expire without deadline",
            with(
                registered(Invoice { payment_mode: PaymentMode::ReservationRequired, ..immediate("5.00") }),
                vec![observed_ev(2, SeqrStatus::Reserved, 2, vec![], None)],
            ),
            expire_cmd(99_999),
            "no_reservation_deadline",
        ),
        ("receipt for unknown reference", paid(), receipt_cmd(3, 2, Some("nope")), "unknown_ers_reference"),
        (
            "Gen A commit of another amount than the total",
            reserved(),
            Command::CommitReservation(crate::command::CommitReservation {
                at: t(3),
                call_id: cid(2),
                amount: sek("312.45"),
                sends_amount: false,
            }),
            "commit_amount_not_total",
        ),
        (
            "title with a control character",
            vec![],
            issue_cmd(1, 1, Invoice { title: Some("Coffee\u{1}".to_owned()), ..immediate("5.00") }, vec![]),
            "invalid_text",
        ),
        (
            "footer too long",
            vec![],
            issue_cmd(1, 1, Invoice { footer: Some("x".repeat(501)), ..immediate("5.00") }, vec![]),
            "invalid_text",
        ),
        (
            "token value with U+FFFE",
            registered(immediate("5.00")),
            update_cmd(2, 2, vec![], sek("5"), vec![token("X_CARD", "12\u{fffe}", TokenStatus::Used)]),
            "invalid_text",
        ),
        (
            "refund title too long",
            paid(),
            Command::Refund(crate::command::RefundPayment {
                at: t(3),
                call_id: cid(2),
                amount: sek("1"),
                title: Some("t".repeat(201)),
                rows: vec![],
            }),
            "invalid_text",
        ),
        (
            "too many rows",
            vec![],
            issue_cmd(1, 1, Invoice { rows: vec![row("x", "1", "0.01", "0.01"); 501], ..immediate("5.01") }, vec![]),
            "too_many_items",
        ),
        (
            "row total is not quantity times price",
            vec![],
            issue_cmd(1, 1, Invoice { rows: vec![row("x", "3", "1.50", "4.00")], ..immediate("4.00") }, vec![]),
            "row_does_not_add_up",
        ),
        (
            "rows do not add up to the total",
            vec![],
            issue_cmd(
                1,
                1,
                Invoice {
                    rows: vec![row("a", "2", "1.50", "3.00"), row("b", "1", "2.00", "2.00")],
                    ..immediate("6.00")
                },
                vec![],
            ),
            "rows_do_not_add_up",
        ),
        (
            "refund rows do not add up to the refund",
            paid(),
            Command::Refund(crate::command::RefundPayment {
                at: t(3),
                call_id: cid(2),
                amount: sek("10"),
                title: None,
                rows: vec![row("a", "1", "9.00", "9.00")],
            }),
            "rows_do_not_add_up",
        ),
    ]
}

#[test]
fn rows_add_up_with_discounts_and_rounding() {
    use crate::tests::fixtures::dec;
    let mut discounted = row("a", "3", "1.50", "4.00");
    discounted.discount = Some(sek("0.50"));
    // 1/3 kg at 10.00: 3.333... rounds to 3.33; 0.125 x 1.00 rounds to 0.13 (away from zero) or 0.12 (to even).
    let third = row("b", "0.3333", "10.00", "3.33");
    let half_up = row("c", "0.125", "1.00", "0.13");
    let half_even = row("d", "0.125", "1.00", "0.12");
    let no_price = InvoiceRow { unit_price: None, ..row("e", "7", "0", "1.00") };
    let rows = vec![discounted, third, half_up, half_even, no_price];
    assert_eq!(dec("4.00") + dec("3.33") + dec("0.13") + dec("0.12") + dec("1.00"), dec("8.58"));
    let empty = crate::state::InvoiceState::default();
    let issue = |rows| issue_cmd(1, 1, Invoice { rows, ..immediate("8.58") }, vec![]);
    crate::decide(&empty, issue(rows)).expect("rows that add up");
    crate::decide(&empty, issue(vec![])).expect("no rows: nothing to add up");
    let mut off_by_a_cent = row("a", "3", "1.50", "4.01");
    off_by_a_cent.discount = Some(sek("0.50"));
    let e = crate::decide(&empty, issue(vec![off_by_a_cent, row("b", "1", "4.57", "4.57")])).unwrap_err();
    assert!(matches!(e, Rejection::RowDoesNotAddUp { row: 0, .. }), "{e}");
}

#[test]
fn every_rejection_code_through_decide() {
    let mut seen = BTreeSet::new();
    for (name, given, when, code) in cases() {
        eprintln!("case: {name}");
        check(given, when, Err(code));
        seen.insert(code);
    }
    // Codes only produced by converting bad input (value types refuse it before a command exists).
    seen.extend(conversion_codes());
    let all: BTreeSet<&str> = Rejection::CODES.iter().copied().collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "codes never produced: {missing:?}");
    let unknown: Vec<_> = seen.difference(&all).collect();
    assert!(unknown.is_empty(), "codes not in Rejection::CODES: {unknown:?}");
}

fn conversion_codes() -> Vec<&'static str> {
    let mut codes = Vec::new();
    let r: Rejection = Currency::parse("SEKK").unwrap_err().into();
    assert_eq!(r.code(), "invalid_currency");
    codes.push(r.code());
    let r: Rejection = Money::parse("1.005", Currency::SEK).unwrap_err().into();
    assert_eq!(r.code(), "invalid_amount");
    codes.push(r.code());
    let r: Rejection = TenantId::parse("a.b").unwrap_err().into();
    assert_eq!(r.code(), "invalid_id");
    codes.push(r.code());
    let r: Rejection = HttpUrl::parse("ftp://x").unwrap_err().into();
    assert_eq!(r.code(), "invalid_url");
    codes.push(r.code());
    let r: Rejection = sek("1").checked_add(&eur("1")).unwrap_err().into();
    assert_eq!(r.code(), "currency_mismatch");
    codes.push(r.code());
    codes
}

#[test]
fn codes_are_unique_snake_case() {
    let set: BTreeSet<_> = Rejection::CODES.iter().collect();
    assert_eq!(set.len(), Rejection::CODES.len());
    for code in Rejection::CODES {
        assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
    }
}

#[test]
fn rejected_commands_change_nothing() {
    // A rejection is a value: decide emits nothing and the state is untouched.
    for (_, given, when, _) in cases() {
        let state = crate::fold(&given).unwrap();
        let before = state.clone();
        assert!(crate::decide(&state, when).is_err());
        assert_eq!(state, before);
    }
}
