use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use seqr_wire::*;

use crate::engine::{PhoneError, ResellerSeed, SeqrConfig, SeqrState, TerminalSeed, TokenView};

const T1: &str = "aaaabbbbccccddddeeeeffff00001111";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 10, 0, 0).unwrap()
}

fn engine() -> SeqrState {
    SeqrState::new(
        SeqrConfig::seqr_defaults(),
        vec![ResellerSeed {
            id: "hm1".into(),
            user_id: "9900".into(),
            password: "2009".into(),
            currency: "SEK".into(),
        }],
        vec![TerminalSeed {
            id: T1.into(),
            password: "secret1".into(),
            reseller_id: "hm1".into(),
            name: "Shop 1".into(),
            single_invoice: false,
            refunds_allowed: true,
        }],
    )
}

fn ctx(id: &str, password: &str) -> Option<ClientContext> {
    Some(ClientContext {
        initiator_principal_id: Some(PrincipalId {
            id: Some(id.into()),
            principal_type: Some("TERMINALID".into()),
            user_id: None,
        }),
        password: Some(password.into()),
        ..Default::default()
    })
}

fn reseller_ctx(password: &str) -> Option<ClientContext> {
    Some(ClientContext {
        initiator_principal_id: Some(PrincipalId {
            id: Some("hm1".into()),
            principal_type: Some("RESELLERUSER".into()),
            user_id: Some("9900".into()),
        }),
        password: Some(password.into()),
        ..Default::default()
    })
}

fn sek(v: i64) -> Option<Amount> {
    Some(Amount { currency: Some("SEK".into()), value: Some(Decimal::from(v)) })
}

fn invoice(v: i64, ack: AcknowledgmentMode) -> Invoice {
    Invoice {
        payment_mode: Some(PaymentMode::ImmediateDebit),
        acknowledgment_mode: Some(ack),
        title: Some("t".into()),
        cashier_id: Some("bob".into()),
        total_amount: sek(v),
        ..Default::default()
    }
}

fn send(e: &mut SeqrState, inv: Invoice, tokens: Vec<CustomerToken>) -> String {
    let r = e.handle(
        Request::SendInvoice(SendInvoiceRequest { context: ctx(T1, "secret1"), invoice: Some(inv), tokens }),
        t0(),
    );
    let Response::SendInvoice(r) = r else { panic!("wrong response") };
    assert_eq!(r.base.result_code, ResultCode::Success);
    assert_eq!(
        r.invoice_qr_code.as_deref(),
        Some(format!("HTTP://SEQR.SE/R{}", r.invoice_reference.as_deref().unwrap()).as_str())
    );
    r.invoice_reference.unwrap()
}

fn status_at(e: &mut SeqrState, reference: &str, now: DateTime<Utc>) -> PaymentStatusResponse {
    let r = e.handle(
        Request::GetPaymentStatus(GetPaymentStatusRequest {
            context: ctx(T1, "secret1"),
            invoice_reference: Some(reference.into()),
            invoice_version: 0,
        }),
        now,
    );
    let Response::GetPaymentStatus(r) = r else { panic!("wrong response") };
    r
}

fn code(r: Response) -> ResultCode {
    r.base().result_code
}

#[test]
fn general_payment_issued_then_paid_with_versions_and_receipt() {
    let mut e = engine();
    let r = send(&mut e, invoice(100, AcknowledgmentMode::NoAcknowledgment), vec![]);
    let s = status_at(&mut e, &r, t0());
    assert_eq!((s.status.clone(), s.version), (Some(InvoiceStatus::Issued), 1));
    e.scan(&format!("HTTP://SEQR.SE/R{r}"), "alice", t0()).unwrap();
    e.start_payment(&r, "alice", t0()).unwrap();
    assert_eq!(e.confirm_payment(&r, "0000", t0()), Err(PhoneError::WrongPin));
    let paid = e.confirm_payment(&r, "1234", t0()).unwrap();
    let s = status_at(&mut e, &r, t0());
    assert_eq!(s.status, Some(InvoiceStatus::Paid));
    assert_eq!(s.version, 2);
    assert_eq!(s.base.ers_reference, paid.ers_reference);
    assert_eq!(s.base.ers_reference.as_ref().map(String::len), Some(25));
    let receipt = s.receipt.unwrap();
    assert_eq!(receipt.invoice_reference.as_deref(), Some(r.as_str()));
    assert_eq!(receipt.receiver_name.as_deref(), Some("Shop 1"));
    assert_eq!(e.ledger().len(), 1);
}

#[test]
fn undelivered_paid_is_reversed_after_the_window_but_delivered_is_not() {
    let mut e = engine();
    let a = send(&mut e, invoice(100, AcknowledgmentMode::NoAcknowledgment), vec![]);
    let b = send(&mut e, invoice(50, AcknowledgmentMode::NoAcknowledgment), vec![]);
    for r in [&a, &b] {
        e.start_payment(r, "alice", t0()).unwrap();
        e.confirm_payment(r, "1234", t0()).unwrap();
    }
    assert_eq!(status_at(&mut e, &b, t0() + Duration::seconds(19)).status, Some(InvoiceStatus::Paid));
    let s = status_at(&mut e, &a, t0() + Duration::seconds(20));
    assert_eq!(s.status, Some(InvoiceStatus::Canceled));
    assert_eq!(s.base.ers_reference, None);
    assert!(e.invoice(&a).unwrap().reversed);
    assert_eq!(status_at(&mut e, &b, t0() + Duration::seconds(60)).status, Some(InvoiceStatus::Paid));
    let kinds: Vec<_> = e.ledger().iter().map(|l| (l.kind, l.amount)).collect();
    assert_eq!(
        kinds,
        vec![("PAYMENT", Decimal::from(100)), ("PAYMENT", Decimal::from(50)), ("REVERSAL", Decimal::from(-100))]
    );
}

#[test]
fn require_acknowledgment_blocks_until_update_invoice() {
    let mut e = engine();
    let r = send(&mut e, invoice(100, AcknowledgmentMode::RequireAcknowledgment), vec![]);
    let scan = e.scan(&r, "alice", t0()).unwrap();
    assert!(scan.awaiting_acknowledgment);
    assert_eq!(e.start_payment(&r, "alice", t0()), Err(PhoneError::AwaitingAcknowledgment(r.clone())));
    let s = status_at(&mut e, &r, t0());
    assert_eq!((s.status, s.version), (Some(InvoiceStatus::PendingIssuerAcknowledge), 2));
    let up = e.handle(
        Request::UpdateInvoice(UpdateInvoiceRequest {
            context: ctx(T1, "secret1"),
            invoice_reference: Some(r.clone()),
            invoice: Some(invoice(90, AcknowledgmentMode::RequireAcknowledgment)),
            tokens: vec![],
        }),
        t0(),
    );
    assert_eq!(code(up), ResultCode::Success);
    let s = status_at(&mut e, &r, t0());
    assert_eq!((s.status, s.version), (Some(InvoiceStatus::Issued), 3));
    e.start_payment(&r, "alice", t0()).unwrap();
    e.confirm_payment(&r, "1234", t0()).unwrap();
    assert_eq!(e.ledger()[0].amount, Decimal::from(90));
}

#[test]
fn missing_ack_mode_defaults_to_require() {
    let mut e = engine();
    let mut inv = invoice(100, AcknowledgmentMode::NoAcknowledgment);
    inv.acknowledgment_mode = None;
    let r = send(&mut e, inv, vec![]);
    assert!(e.scan(&r, "alice", t0()).unwrap().awaiting_acknowledgment);
}

#[test]
fn remembered_card_is_offered_and_a_swiped_card_overrides_it() {
    let mut e = engine();
    e.attach_card(
        "alice",
        "hm1",
        TokenView { id: Some("X_CARD".into()), value: Some("111".into()), description: None, status: 0 },
    );
    let r = send(&mut e, invoice(100, AcknowledgmentMode::OptionalAcknowledgment), vec![]);
    let scan = e.scan(&r, "alice", t0()).unwrap();
    assert!(scan.awaiting_acknowledgment);
    assert_eq!((scan.tokens[0].value.as_deref(), scan.tokens[0].status), (Some("111"), 0));

    let swiped = CustomerToken {
        description: None,
        id: Some("X_CARD".into()),
        status: TokenStatus::Used,
        value: Some("222".into()),
    };
    let r2 = send(&mut e, invoice(100, AcknowledgmentMode::OptionalAcknowledgment), vec![swiped]);
    let scan = e.scan(&r2, "alice", t0()).unwrap();
    assert_eq!(scan.tokens[0].value.as_deref(), Some("222"));
}

#[test]
fn optional_ack_without_tokens_does_not_block_and_card_can_be_remembered() {
    let mut e = engine();
    let r = send(&mut e, invoice(100, AcknowledgmentMode::OptionalAcknowledgment), vec![]);
    assert!(!e.scan(&r, "bob", t0()).unwrap().awaiting_acknowledgment);
    // The card is swiped after the scan: the register sends it with updateInvoice.
    let swiped = CustomerToken {
        description: Some("Club".into()),
        id: Some("X_CARD".into()),
        status: TokenStatus::Used,
        value: Some("333".into()),
    };
    let up = e.handle(
        Request::UpdateInvoice(UpdateInvoiceRequest {
            context: ctx(T1, "secret1"),
            invoice_reference: Some(r.clone()),
            invoice: Some(invoice(80, AcknowledgmentMode::OptionalAcknowledgment)),
            tokens: vec![swiped],
        }),
        t0(),
    );
    assert_eq!(code(up), ResultCode::Success);
    e.start_payment(&r, "bob", t0()).unwrap();
    let paid = e.confirm_payment(&r, "1234", t0()).unwrap();
    assert_eq!(paid.remember_card_offer.as_ref().and_then(|t| t.value.as_deref()), Some("333"));
    e.remember_card(&r, true, t0()).unwrap();
    assert_eq!(e.shopper_cards("bob").len(), 1);
    let r2 = send(&mut e, invoice(10, AcknowledgmentMode::OptionalAcknowledgment), vec![]);
    let scan = e.scan(&r2, "bob", t0()).unwrap();
    assert!(scan.awaiting_acknowledgment);
    assert_eq!((scan.tokens[0].value.as_deref(), scan.tokens[0].status), (Some("333"), 0));
}

#[test]
fn update_and_cancel_error_codes() {
    let mut e = engine();
    let r = send(&mut e, invoice(100, AcknowledgmentMode::NoAcknowledgment), vec![]);
    let upd = |e: &mut SeqrState, inv: Invoice| {
        code(e.handle(
            Request::UpdateInvoice(UpdateInvoiceRequest {
                context: ctx(T1, "secret1"),
                invoice_reference: Some(r.clone()),
                invoice: Some(inv),
                tokens: vec![],
            }),
            t0(),
        ))
    };
    let mut eur = invoice(100, AcknowledgmentMode::NoAcknowledgment);
    eur.total_amount = Some(Amount { currency: Some("EUR".into()), value: Some(Decimal::ONE) });
    assert_eq!(upd(&mut e, eur), ResultCode::InvalidInvoiceData);
    let mut bad_url = invoice(100, AcknowledgmentMode::NoAcknowledgment);
    bad_url.notification_url = Some("ftp://x".into());
    assert_eq!(upd(&mut e, bad_url), ResultCode::InvalidNotificationUrl);
    e.start_payment(&r, "alice", t0()).unwrap();
    assert_eq!(upd(&mut e, invoice(1, AcknowledgmentMode::NoAcknowledgment)), ResultCode::PaymentInProgress);
    let cancel = |e: &mut SeqrState, reference: &str| {
        code(e.handle(
            Request::CancelInvoice(CancelInvoiceRequest {
                context: ctx(T1, "secret1"),
                invoice_reference: Some(reference.into()),
            }),
            t0(),
        ))
    };
    assert_eq!(cancel(&mut e, &r), ResultCode::CannotCancelInvoiceInProgress);
    e.confirm_payment(&r, "1234", t0()).unwrap();
    assert_eq!(cancel(&mut e, &r), ResultCode::CannotCancelPaidInvoice);
    assert_eq!(cancel(&mut e, "nope"), ResultCode::InvalidInvoiceReference);
    let r2 = send(&mut e, invoice(100, AcknowledgmentMode::NoAcknowledgment), vec![]);
    assert_eq!(cancel(&mut e, &r2), ResultCode::Success);
    assert_eq!(cancel(&mut e, &r2), ResultCode::InvoiceAlreadyCanceled);
}

#[test]
fn authentication_codes() {
    let mut e = engine();
    e.add_terminal(TerminalSeed {
        id: "short".into(),
        password: "abc".into(),
        reseller_id: "hm1".into(),
        name: "s".into(),
        single_invoice: true,
        refunds_allowed: true,
    });
    let gps = |e: &mut SeqrState, c| {
        code(e.handle(
            Request::GetPaymentStatus(GetPaymentStatusRequest {
                context: c,
                invoice_reference: Some("1".into()),
                invoice_version: 0,
            }),
            t0(),
        ))
    };
    assert_eq!(gps(&mut e, ctx(T1, "wrong")), ResultCode::AuthenticationFailed);
    assert_eq!(gps(&mut e, ctx("unknown", "secret1")), ResultCode::InvalidInitiatorPrincipalId);
    assert_eq!(gps(&mut e, ctx("short", "abc")), ResultCode::AccessDenied);
    assert_eq!(gps(&mut e, ctx(T1, "secret1")), ResultCode::InvalidInvoiceReference);
}

#[test]
fn registered_terminal_holds_one_open_invoice() {
    let mut e = engine();
    let r = e.handle(
        Request::RegisterTerminal(RegisterTerminalRequest {
            context: reseller_ctx("2009"),
            external_terminal_id: Some("POS-1".into()),
            password: Some("pw1234".into()),
            name: Some("Till 1".into()),
        }),
        t0(),
    );
    let Response::RegisterTerminal(r) = r else { panic!() };
    let tid = r.terminal_id.unwrap();
    assert_eq!(tid.len(), 32);
    let wrong = e.handle(
        Request::RegisterTerminal(RegisterTerminalRequest { context: reseller_ctx("x"), ..Default::default() }),
        t0(),
    );
    assert_eq!(code(wrong), ResultCode::AuthenticationFailed);
    let send_on = |e: &mut SeqrState| {
        let r = e.handle(
            Request::SendInvoice(SendInvoiceRequest {
                context: ctx(&tid, "pw1234"),
                invoice: Some(invoice(5, AcknowledgmentMode::NoAcknowledgment)),
                tokens: vec![],
            }),
            t0(),
        );
        let Response::SendInvoice(r) = r else { panic!() };
        r.invoice_reference.unwrap()
    };
    let a = send_on(&mut e);
    let b = send_on(&mut e);
    assert_eq!(e.invoice(&a).unwrap().status, "CANCELED");
    assert_eq!(e.invoice(&b).unwrap().status, "ISSUED");
}

#[test]
fn reservation_commit_and_lapse() {
    let mut e = engine();
    let mut inv = invoice(100, AcknowledgmentMode::NoAcknowledgment);
    inv.payment_mode = Some(PaymentMode::ReservationRequiredPreliminaryAmount);
    inv.commit_reservation_timeout = Some(60);
    let r = send(&mut e, inv.clone(), vec![]);
    let commit = |e: &mut SeqrState, reference: &str, v: i64, now| {
        code(e.handle(
            Request::CommitReservation(CommitReservationRequest {
                context: ctx(T1, "secret1"),
                amount: sek(v),
                invoice_reference: Some(reference.into()),
            }),
            now,
        ))
    };
    assert_eq!(commit(&mut e, &r, 10, t0()), ResultCode::InvoiceStateNotReserved);
    e.start_payment(&r, "alice", t0()).unwrap();
    assert_eq!(e.confirm_payment(&r, "1234", t0()).unwrap().status, "RESERVED");
    assert_eq!(commit(&mut e, &r, 101, t0()), ResultCode::RejectedAmount);
    assert_eq!(commit(&mut e, &r, 70, t0()), ResultCode::Success);
    assert_eq!(status_at(&mut e, &r, t0()).status, Some(InvoiceStatus::Paid));
    assert_eq!(e.ledger()[0].amount, Decimal::from(70));

    let r2 = send(&mut e, inv, vec![]);
    e.start_payment(&r2, "alice", t0()).unwrap();
    e.confirm_payment(&r2, "1234", t0()).unwrap();
    let s = status_at(&mut e, &r2, t0() + Duration::seconds(61));
    assert_eq!(s.status, Some(InvoiceStatus::Expired));
    assert_eq!(commit(&mut e, &r2, 10, t0() + Duration::seconds(61)), ResultCode::InvoiceStateNotReserved);
}

#[test]
fn refunds_are_checked() {
    let mut e = engine();
    let r = send(&mut e, invoice(100, AcknowledgmentMode::NoAcknowledgment), vec![]);
    e.start_payment(&r, "alice", t0()).unwrap();
    let ers = e.confirm_payment(&r, "1234", t0()).unwrap().ers_reference.unwrap();
    status_at(&mut e, &r, t0());
    let refund = |e: &mut SeqrState, ers: &str, amount: Option<Amount>| {
        let inv = Invoice { total_amount: amount, ..Default::default() };
        e.handle(
            Request::RefundPayment(RefundPaymentRequest {
                context: ctx(T1, "secret1"),
                ers_reference: Some(ers.into()),
                invoice: Some(inv),
            }),
            t0(),
        )
    };
    assert_eq!(code(refund(&mut e, "nope", sek(1))), ResultCode::InvalidErsReference);
    assert_eq!(
        code(refund(&mut e, &ers, Some(Amount { currency: Some("EUR".into()), value: Some(Decimal::ONE) }))),
        ResultCode::InvalidInvoiceData
    );
    let first = refund(&mut e, &ers, sek(60));
    assert_eq!(first.base().result_code, ResultCode::Success);
    let refund_ref = first.base().ers_reference.clone().unwrap();
    assert_ne!(refund_ref, ers);
    let too_much = refund(&mut e, &ers, sek(41));
    assert_eq!(too_much.base().result_code, ResultCode::SumOfRefundsCanNotBeMoreThanOriginalTransaction);
    assert_eq!(
        too_much.base().result_description.as_deref(),
        Some("Sum of refunds can not be more than original transaction")
    );
    assert_eq!(code(refund(&mut e, &ers, sek(40))), ResultCode::Success);
    e.set_refunds_allowed(T1, false);
    assert_eq!(code(refund(&mut e, &ers, sek(1))), ResultCode::ResellerNotAllowedToDoRefund);
}

#[test]
fn reports_wait_then_sum_the_period() {
    let mut e = engine();
    let r = send(&mut e, invoice(100, AcknowledgmentMode::NoAcknowledgment), vec![]);
    e.start_payment(&r, "alice", t0()).unwrap();
    e.confirm_payment(&r, "1234", t0()).unwrap();
    status_at(&mut e, &r, t0());
    let mark = e.handle(
        Request::MarkTransactionPeriod(MarkTransactionPeriodRequest {
            context: reseller_ctx("2009"),
            parameters: None,
        }),
        t0() + Duration::seconds(1),
    );
    let Response::MarkTransactionPeriod(m) = mark else { panic!() };
    let pid = m.transaction_period_id.unwrap();
    let report = |e: &mut SeqrState, id: &str, now| {
        let r = e.handle(
            Request::ExecuteReport(ExecuteReportRequest {
                context: reseller_ctx("2009"),
                report_id: Some(id.into()),
                language: Some("en".into()),
                parameters: Some(ParameterMap(vec![("transactionPeriodId".into(), pid.clone())])),
            }),
            now,
        );
        let Response::ExecuteReport(r) = r else { panic!() };
        r
    };
    assert_eq!(
        report(&mut e, "Reconciliation/Shop.xml", t0() + Duration::seconds(2)).base.result_code,
        ResultCode::ReportNotReady
    );
    let ok = report(&mut e, "Reconciliation/Shop.xml", t0() + Duration::seconds(4));
    let rep = ok.report.unwrap();
    let s = rep.content_string.unwrap();
    assert!(s.contains("<SalesCount>1</SalesCount>\n<SalesTotal>100.00000</SalesTotal>"), "{s}");
    assert_eq!(rep.content.unwrap(), s.as_bytes());
    let det = report(&mut e, "Reconciliation/STD_RECON_003.xml", t0() + Duration::seconds(4)).report.unwrap();
    // What the simulator renders, seqr-wire's report parser reads back: the ledger's entries, exactly.
    let text = seqr_wire::report_text(&det).unwrap();
    assert!(text.contains("<CashierId>bob</CashierId>"), "{text}");
    let parsed = seqr_wire::parse_report(&text, &seqr_wire::Limits::DEFAULT).unwrap();
    assert_eq!(parsed.meta.transaction_period_id.as_deref(), Some(pid.as_str()));
    let seqr_wire::ReportRows::Details(rows) = parsed.rows else { panic!("a details report: {text}") };
    let ledger: Vec<_> = e.ledger().iter().map(|l| (l.ers_reference.clone(), l.amount)).collect();
    let reported: Vec<_> = rows.iter().map(|r| (r.ers_reference.clone(), r.amount)).collect();
    assert_eq!(reported, ledger);
    assert_eq!(rows[0].cashier_id.as_deref(), Some("bob"));
}

#[test]
fn hostile_numbers_are_rejected_not_panicking() {
    let mut e = engine();
    let mut huge = invoice(1, AcknowledgmentMode::NoAcknowledgment);
    huge.total_amount = Some(Amount { currency: Some("SEK".into()), value: Some(Decimal::MAX) });
    let r = e.handle(
        Request::SendInvoice(SendInvoiceRequest { context: ctx(T1, "secret1"), invoice: Some(huge), tokens: vec![] }),
        t0(),
    );
    assert_eq!(code(r), ResultCode::RejectedAmount);
    let mut inv = invoice(100, AcknowledgmentMode::NoAcknowledgment);
    inv.payment_mode = Some(PaymentMode::ReservationRequired);
    inv.commit_reservation_timeout = Some(i64::MAX);
    let r = send(&mut e, inv, vec![]);
    e.start_payment(&r, "alice", t0()).unwrap();
    assert_eq!(e.confirm_payment(&r, "1234", t0()).unwrap().status, "RESERVED");
    let refund = e.handle(
        Request::RefundPayment(RefundPaymentRequest {
            context: ctx(T1, "secret1"),
            ers_reference: Some("x".into()),
            invoice: Some(Invoice {
                total_amount: Some(Amount { currency: Some("SEK".into()), value: Some(Decimal::MAX) }),
                ..Default::default()
            }),
        }),
        t0(),
    );
    assert_eq!(code(refund), ResultCode::InvalidErsReference);
}
