//! seqr-client against seqr-sim over real HTTP: every seed flow (general payment, three loyalty flows,
//! preliminary payment, in-app), cancel, partial refunds, reversal, reports, terminal registration.

use rust_decimal::Decimal;
use seqr_client::CallError;
use seqr_wire::{
    AcknowledgmentMode, AssignSeqrIdRequest, CancelInvoiceRequest, CommitReservationRequest, CustomerToken,
    ExecuteReportRequest, GetPaymentStatusRequest, InvoiceStatus, MarkTransactionPeriodRequest, ParameterMap,
    PaymentMode, ReceiptDocument, RefundPaymentRequest, RegisterTerminalRequest, ResultCode,
    SubmitPaymentReceiptRequest, TokenStatus, UnregisterTerminalRequest, UpdateInvoiceRequest,
};
use serde_json::json;

use crate::sim_support::{invoice, sek, Receiver, SimEnv};

fn card(value: &str, status: TokenStatus) -> CustomerToken {
    CustomerToken {
        description: Some("Club card".into()),
        id: Some("X_CARD".into()),
        status,
        value: Some(value.into()),
    }
}

#[tokio::test]
async fn general_payment_issued_then_paid_with_receipt_and_ledger() {
    let env = SimEnv::start().await;
    let reference = env.send(invoice("149.99", AcknowledgmentMode::NoAcknowledgment)).await;
    let s = env.status(&reference, 0).await;
    assert_eq!((s.status, s.version), (Some(InvoiceStatus::Issued), 1));
    assert!(s.base.ers_reference.is_none());

    let scan = env
        .control_ok("/sim/phone/scan", json!({"code": format!("HTTP://SEQR.SE/R{reference}"), "shopper": "alice"}))
        .await;
    assert_eq!(scan["awaiting_acknowledgment"], false);
    let paid = env.control_ok("/sim/phone/pay", json!({"code": reference, "shopper": "alice", "pin": "1234"})).await;
    assert_eq!(paid["status"], "PAID");

    let s = env.status(&reference, 1).await;
    assert_eq!(s.status, Some(InvoiceStatus::Paid));
    assert_eq!(s.version, 2);
    let ers = s.base.ers_reference.clone().expect("ersReference once PAID");
    assert_eq!(paid["ers_reference"], ers.as_str());
    let receipt = s.receipt.expect("receipt when PAID");
    assert_eq!(receipt.invoice_reference.as_deref(), Some(reference.as_str()));
    assert_eq!(receipt.terminal_id.as_deref(), Some(seqr_sim::DEFAULT_TERMINAL_ID));
    assert_eq!(receipt.invoice.and_then(|i| i.total_amount), sek("149.99"));

    let r = env
        .client
        .submit_payment_receipt(SubmitPaymentReceiptRequest {
            context: env.ctx(),
            ers_reference: Some(ers.clone()),
            receipt_document: Some(ReceiptDocument {
                mime_type: Some("text/html".into()),
                receipt_data: Some(b"<html>receipt</html>".to_vec()),
                receipt_type: Some("PAYMENT_RECEIPT".into()),
            }),
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    let receipts = env.get(&format!("/sim/receipts/{ers}")).await;
    assert_eq!(receipts[0]["size"], 20);

    let ledger = env.get("/sim/ledger").await;
    assert_eq!(ledger.as_array().unwrap().len(), 1);
    assert_eq!(ledger[0]["kind"], "PAYMENT");
    assert_eq!(ledger[0]["amount"], "149.99");
}

#[tokio::test]
async fn loyalty_card_swiped_after_scanning_then_remembered_for_next_payment() {
    let env = SimEnv::start().await;
    let reference = env.send(invoice("100", AcknowledgmentMode::OptionalAcknowledgment)).await;
    // No card yet: the optional acknowledgment does not block.
    let scan = env.control_ok("/sim/phone/scan", json!({"code": reference, "shopper": "carol"})).await;
    assert_eq!(scan["awaiting_acknowledgment"], false);
    // The card is swiped at the register after the scan: updateInvoice with the token (status 1) and the discount.
    env.client
        .update_invoice(UpdateInvoiceRequest {
            context: env.ctx(),
            invoice_reference: Some(reference.clone()),
            invoice: Some(invoice("90", AcknowledgmentMode::OptionalAcknowledgment)),
            tokens: vec![card("2610411111110", TokenStatus::Used)],
        })
        .await
        .expect("updateInvoice");
    let paid = env.control_ok("/sim/phone/pay", json!({"code": reference, "shopper": "carol"})).await;
    assert_eq!(paid["remember_card_offer"]["value"], "2610411111110");
    let s = env.status(&reference, 1).await;
    assert_eq!(s.status, Some(InvoiceStatus::Paid));
    assert_eq!(s.receipt.and_then(|r| r.invoice).and_then(|i| i.total_amount), sek("90"));
    // "Add loyalty card?" -> yes.
    env.control_ok("/sim/phone/remember-card", json!({"code": reference, "remember": true})).await;

    // Next payment: SEQR offers the remembered card (status 0) and waits for the register.
    let next = env.send(invoice("50", AcknowledgmentMode::OptionalAcknowledgment)).await;
    let scan = env.control_ok("/sim/phone/scan", json!({"code": next, "shopper": "carol"})).await;
    assert_eq!(scan["awaiting_acknowledgment"], true);
    let s = env.status(&next, 1).await;
    assert_eq!(s.status, Some(InvoiceStatus::PendingIssuerAcknowledge));
    assert_eq!(s.customer_tokens.len(), 1);
    assert_eq!(s.customer_tokens[0].value.as_deref(), Some("2610411111110"));
    assert_eq!(s.customer_tokens[0].status, TokenStatus::Pending);
}

#[tokio::test]
async fn loyalty_card_swiped_before_scanning_overrides_the_remembered_card() {
    let env = SimEnv::start().await;
    env.control_ok("/sim/shoppers/dave/cards", json!({"id": "X_CARD", "value": "OLD-CARD"})).await;
    let reference = env
        .send_with_tokens(
            invoice("100", AcknowledgmentMode::RequireAcknowledgment),
            vec![card("NEW-CARD", TokenStatus::Used)],
        )
        .await;
    let scan = env.control_ok("/sim/phone/scan", json!({"code": reference, "shopper": "dave"})).await;
    assert_eq!(scan["awaiting_acknowledgment"], true);
    assert_eq!(scan["tokens"][0]["value"], "NEW-CARD");
    // The app is blocked until the register acknowledges.
    let (code, body) = env.control("/sim/phone/pay", json!({"code": reference, "shopper": "dave"})).await;
    assert_eq!((code, body["error"].as_str()), (409, Some("awaiting_acknowledgment")));

    let s = env.status(&reference, 1).await;
    assert_eq!((s.status, s.version), (Some(InvoiceStatus::PendingIssuerAcknowledge), 2));
    env.client
        .update_invoice(UpdateInvoiceRequest {
            context: env.ctx(),
            invoice_reference: Some(reference.clone()),
            invoice: Some(invoice("80", AcknowledgmentMode::RequireAcknowledgment)),
            tokens: vec![card("NEW-CARD", TokenStatus::Used)],
        })
        .await
        .expect("acknowledging updateInvoice");
    let s = env.status(&reference, 2).await;
    assert_eq!((s.status, s.version), (Some(InvoiceStatus::Issued), 3));
    env.control_ok("/sim/phone/pay", json!({"code": reference, "shopper": "dave"})).await;
    let s = env.status(&reference, 3).await;
    assert_eq!((s.status, s.version), (Some(InvoiceStatus::Paid), 4));
    let ledger = env.get("/sim/ledger").await;
    assert_eq!(ledger[0]["amount"], "80");
}

#[tokio::test]
async fn loyalty_account_in_phone_token_then_acknowledged_update() {
    let env = SimEnv::start().await;
    env.control_ok("/sim/shoppers/erin/cards", json!({"id": "X_CARD", "value": "777", "description": "Club"})).await;
    let reference = env.send(invoice("200", AcknowledgmentMode::OptionalAcknowledgment)).await;
    assert_eq!(env.status(&reference, 0).await.status, Some(InvoiceStatus::Issued));
    env.control_ok("/sim/phone/scan", json!({"code": reference, "shopper": "erin"})).await;
    let s = env.status(&reference, 1).await;
    assert_eq!(s.status, Some(InvoiceStatus::PendingIssuerAcknowledge));
    assert_eq!(s.version, 2);
    assert_eq!(s.customer_tokens[0].value.as_deref(), Some("777"));
    assert_eq!(s.customer_tokens[0].status, TokenStatus::Pending);
    env.client
        .update_invoice(UpdateInvoiceRequest {
            context: env.ctx(),
            invoice_reference: Some(reference.clone()),
            invoice: Some(invoice("180", AcknowledgmentMode::OptionalAcknowledgment)),
            tokens: vec![card("777", TokenStatus::Used)],
        })
        .await
        .expect("updateInvoice");
    let s = env.status(&reference, 2).await;
    assert_eq!(s.status, Some(InvoiceStatus::Issued));
    assert_eq!(s.customer_tokens[0].status, TokenStatus::Used);
    env.control_ok("/sim/phone/pay", json!({"code": reference, "shopper": "erin"})).await;
    let s = env.status(&reference, 3).await;
    assert_eq!(s.status, Some(InvoiceStatus::Paid));
    assert_eq!(s.receipt.and_then(|r| r.invoice).and_then(|i| i.total_amount), sek("180"));
}

#[tokio::test]
async fn preliminary_payment_reserved_notified_updated_and_committed() {
    let env = SimEnv::start().await;
    let mut rx = Receiver::start().await;
    let mut inv = invoice("500", AcknowledgmentMode::NoAcknowledgment);
    inv.payment_mode = Some(PaymentMode::ReservationRequiredPreliminaryAmount);
    inv.commit_reservation_timeout = Some(3600);
    inv.notification_url = Some(format!("{}/notify?order=42", rx.url));
    let reference = env.send(inv.clone()).await;

    let commit = |amount: &str, reference: &str| CommitReservationRequest {
        context: env.ctx(),
        amount: sek(amount),
        invoice_reference: Some(reference.to_owned()),
    };
    let e = env.client.commit_reservation(commit("10", &reference)).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::InvoiceStateNotReserved));

    let paid = env.control_ok("/sim/phone/pay", json!({"code": reference, "shopper": "fred"})).await;
    assert_eq!(paid["status"], "RESERVED");
    let (path, body) = rx.next().await;
    assert_eq!(path, "/notify?order=42");
    assert_eq!(body, "");
    assert_eq!(env.status(&reference, 1).await.status, Some(InvoiceStatus::Reserved));

    let mut final_inv = inv.clone();
    final_inv.total_amount = sek("420");
    env.client
        .update_invoice(UpdateInvoiceRequest {
            context: env.ctx(),
            invoice_reference: Some(reference.clone()),
            invoice: Some(final_inv),
            tokens: vec![],
        })
        .await
        .expect("updateInvoice on RESERVED");
    let e = env.client.commit_reservation(commit("500.01", &reference)).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::RejectedAmount));
    env.client.commit_reservation(commit("420", &reference)).await.expect("commit");
    // The invoice becoming PAID is notified too.
    assert_eq!(rx.next().await.0, "/notify?order=42");
    let s = env.status(&reference, 2).await;
    assert_eq!(s.status, Some(InvoiceStatus::Paid));
    assert!(s.base.ers_reference.is_some());
    let ledger = env.get("/sim/ledger").await;
    assert_eq!(ledger[0]["amount"], "420");

    // A reservation that is never committed lapses: Gen A output shows CANCELED.
    let mut short = inv;
    short.commit_reservation_timeout = Some(60);
    short.notification_url = None;
    let lapsing = env.send(short).await;
    env.control_ok("/sim/phone/pay", json!({"code": lapsing, "shopper": "fred"})).await;
    env.control_ok("/sim/clock/advance", json!({"seconds": 61})).await;
    assert_eq!(env.status(&lapsing, 1).await.status, Some(InvoiceStatus::Canceled));
    let e = env.client.commit_reservation(commit("1", &lapsing)).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::InvoiceStateNotReserved));
}

#[tokio::test]
async fn gen_b_output_shows_expired_reservations() {
    let mut cfg = seqr_sim::SimConfig::seqr_defaults();
    cfg.gen_b = true;
    let env = SimEnv::start_with(cfg).await;
    let mut inv = invoice("10", AcknowledgmentMode::NoAcknowledgment);
    inv.payment_mode = Some(PaymentMode::ReservationRequired);
    inv.commit_reservation_timeout = Some(5);
    let reference = env.send(inv).await;
    env.control_ok("/sim/phone/pay", json!({"code": reference})).await;
    env.sim.advance_clock(std::time::Duration::from_secs(6));
    assert_eq!(env.status(&reference, 1).await.status, Some(InvoiceStatus::Expired));
}

#[tokio::test]
async fn in_app_payment_opens_back_url_and_notifies() {
    let mut cfg = seqr_sim::SimConfig::seqr_defaults();
    cfg.notification_body = seqr_sim::NotificationBody::InvoiceReferenceForm;
    let env = SimEnv::start_with(cfg).await;
    let mut rx = Receiver::start().await;
    let mut inv = invoice("25", AcknowledgmentMode::NoAcknowledgment);
    inv.back_url = Some("myapp://done?order=7".into());
    inv.notification_url = Some(format!("{}/seqr/notify?order=7", rx.url));
    let reference = env.send(inv.clone()).await;
    // The app is launched from the merchant's app: no scan, straight to the PIN.
    let paid = env
        .control_ok("/sim/phone/pay", json!({"code": format!("seqr-demo://SEQR.SE/R{reference}"), "pin": "1234"}))
        .await;
    assert_eq!(paid["back_url"], "myapp://done?order=7");
    let (path, body) = rx.next().await;
    assert_eq!(path, "/seqr/notify?order=7");
    assert_eq!(body, format!("invoiceReference={reference}"));
    // The merchant answers the notification with getPaymentStatus.
    assert_eq!(env.status(&reference, 0).await.status, Some(InvoiceStatus::Paid));
    let view = env.get(&format!("/sim/invoices/{reference}")).await;
    assert_eq!(view["delivered"], true);
    assert_eq!(view["back_url_opened"], "myapp://done?order=7");

    // Cancel in the app: CANCELED, and the backURL is still opened.
    inv.notification_url = None;
    let other = env.send(inv).await;
    let c = env.control_ok("/sim/phone/cancel", json!({"code": other})).await;
    assert_eq!(c["back_url"], "myapp://done?order=7");
    assert_eq!(env.status(&other, 1).await.status, Some(InvoiceStatus::Canceled));
    let log = env.get("/sim/notifications").await;
    // One notification only (the cancel does not notify); its delivery outcome is recorded asynchronously.
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["invoice_reference"], reference.as_str());
    assert_eq!(log[0]["status"], "PAID");
}

#[tokio::test]
async fn cancel_then_cancel_again_is_95() {
    let env = SimEnv::start().await;
    let reference = env.send(invoice("10", AcknowledgmentMode::NoAcknowledgment)).await;
    let cancel = || CancelInvoiceRequest { context: env.ctx(), invoice_reference: Some(reference.clone()) };
    env.client.cancel_invoice(cancel()).await.expect("cancel");
    let s = env.status(&reference, 1).await;
    assert_eq!((s.status, s.version), (Some(InvoiceStatus::Canceled), 2));
    let e = env.client.cancel_invoice(cancel()).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::InvoiceAlreadyCanceled));
    assert!(e.is_definitely_not_done());
    let (code, _) = env.control("/sim/phone/pay", json!({"code": reference})).await;
    assert_eq!(code, 409);
}

async fn paid_invoice(env: &SimEnv, total: &str) -> String {
    let reference = env.send(invoice(total, AcknowledgmentMode::NoAcknowledgment)).await;
    env.control_ok("/sim/phone/pay", json!({"code": reference})).await;
    env.status(&reference, 1).await.base.ers_reference.expect("paid")
}

#[tokio::test]
async fn partial_refunds_up_to_the_original_amount() {
    let env = SimEnv::start().await;
    let ers = paid_invoice(&env, "100").await;
    let refund = |v: &str| RefundPaymentRequest {
        context: env.ctx(),
        ers_reference: Some(ers.clone()),
        invoice: Some(seqr_wire::Invoice { title: Some("Return".into()), total_amount: sek(v), ..Default::default() }),
    };
    let r1 = env.client.refund_payment(refund("30")).await.expect("first refund");
    let r2 = env.client.refund_payment(refund("70")).await.expect("second refund");
    let (a, b) = (r1.ers_reference.unwrap(), r2.ers_reference.unwrap());
    assert!(a != ers && b != ers && a != b);
    let e = env.client.refund_payment(refund("0.01")).await.unwrap_err();
    match &e {
        CallError::ResultCode { code, description, .. } => {
            assert_eq!(*code, ResultCode::SumOfRefundsCanNotBeMoreThanOriginalTransaction);
            assert_eq!(description.as_deref(), Some("Sum of refunds can not be more than original transaction"));
        }
        other => panic!("expected 98, got {other:?}"),
    }
    let ledger = env.get("/sim/ledger").await;
    let amounts: Vec<&str> = ledger.as_array().unwrap().iter().map(|l| l["amount"].as_str().unwrap()).collect();
    assert_eq!(amounts, vec!["100", "-30", "-70"]);
    // A receipt for the refund is accepted too.
    env.client
        .submit_payment_receipt(SubmitPaymentReceiptRequest {
            context: env.ctx(),
            ers_reference: Some(a),
            receipt_document: Some(ReceiptDocument::default()),
        })
        .await
        .expect("refund receipt");
}

#[tokio::test]
async fn paid_but_not_fetched_within_the_window_is_reversed() {
    let env = SimEnv::start().await;
    let reference = env.send(invoice("60", AcknowledgmentMode::NoAcknowledgment)).await;
    env.control_ok("/sim/phone/pay", json!({"code": reference})).await;
    env.control_ok("/sim/clock/advance", json!({"seconds": 19})).await;
    assert_eq!(env.get(&format!("/sim/invoices/{reference}")).await["status"], "PAID");
    env.control_ok("/sim/clock/advance", json!({"seconds": 1.5})).await;
    let s = env.status(&reference, 1).await;
    assert_eq!(s.status, Some(InvoiceStatus::Canceled));
    assert!(s.base.ers_reference.is_none());
    let ledger = env.get("/sim/ledger").await;
    assert_eq!(ledger[1]["kind"], "REVERSAL");
    assert_eq!(ledger[1]["amount"], "-60");

    // Fetched in time: never reversed.
    let kept = env.send(invoice("61", AcknowledgmentMode::NoAcknowledgment)).await;
    env.control_ok("/sim/phone/pay", json!({"code": kept})).await;
    assert_eq!(env.status(&kept, 1).await.status, Some(InvoiceStatus::Paid));
    env.control_ok("/sim/clock/advance", json!({"seconds": 60})).await;
    assert_eq!(env.status(&kept, 2).await.status, Some(InvoiceStatus::Paid));
}

#[tokio::test]
async fn report_not_ready_then_reconciliation_reports() {
    let env = SimEnv::start().await;
    let ers = paid_invoice(&env, "93.31").await;
    paid_invoice(&env, "6.69").await;
    let mark = env
        .client
        .mark_transaction_period(MarkTransactionPeriodRequest { context: env.reseller_ctx(), parameters: None })
        .await
        .expect("mark");
    let pid = mark.transaction_period_id.expect("period id");
    assert_eq!(pid.len(), 25);
    let report = |id: &str, params: Vec<(String, String)>| ExecuteReportRequest {
        context: env.reseller_ctx(),
        report_id: Some(id.to_owned()),
        language: Some("en".into()),
        parameters: Some(ParameterMap(params)),
    };
    let p = vec![("transactionPeriodId".to_owned(), pid.clone())];
    let e = env.client.execute_report(report("Reconciliation/Shop.xml", p.clone())).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::ReportNotReady));
    env.control_ok("/sim/clock/advance", json!({"seconds": 3})).await;
    let shop = env.client.execute_report(report("Reconciliation/Shop.xml", p.clone())).await.expect("shop report");
    let r = shop.report.expect("report");
    assert_eq!(r.mime_type.as_deref(), Some("text/html"));
    let text = r.content_string.clone().expect("contentString");
    assert_eq!(r.content.as_deref(), Some(text.as_bytes()));
    assert!(text.contains("<ResellerTransactionSummary>"), "{text}");
    assert!(text.contains("<SalesCount>2</SalesCount>\n<SalesTotal>100.00000</SalesTotal>"), "{text}");
    let details = env.client.execute_report(report("Reconciliation/STD_RECON_003.xml", p)).await.expect("details");
    let text = details.report.and_then(|r| r.content_string).unwrap();
    assert!(
        text.contains(&format!("<SalesAmount>93.31000</SalesAmount>\n<ErsReference>{ers}</ErsReference>")),
        "{text}"
    );

    // Per-terminal reconciliation needs TERMINALID on markTransactionPeriod.
    let tid = seqr_sim::DEFAULT_TERMINAL_ID.to_owned();
    let tmark = env
        .client
        .mark_transaction_period(MarkTransactionPeriodRequest {
            context: env.reseller_ctx(),
            parameters: Some(ParameterMap(vec![("TERMINALID".into(), tid.clone())])),
        })
        .await
        .unwrap();
    env.control_ok("/sim/clock/advance", json!({"seconds": 3})).await;
    let tp = vec![
        ("transactionPeriodId".to_owned(), tmark.transaction_period_id.unwrap()),
        ("TERMINALID".to_owned(), tid.clone()),
    ];
    let t = env.client.execute_report(report("Reconciliation/STD_RECON_006.xml", tp)).await.expect("terminal report");
    let text = t.report.and_then(|r| r.content_string).unwrap();
    assert!(text.contains(&format!("<TerminalId>{tid}</TerminalId>")), "{text}");
    assert!(text.contains("<SalesTotal>100.00000</SalesTotal>"), "{text}");
    // A terminal report on a shop period is never ready (FAQ).
    let wrong = vec![("transactionPeriodId".to_owned(), pid), ("TERMINALID".to_owned(), tid)];
    let e = env.client.execute_report(report("Reconciliation/STD_RECON_007.xml", wrong)).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::ReportNotReady));
}

#[tokio::test]
async fn registered_terminal_lifecycle_with_seqr_id_sticker() {
    let env = SimEnv::start().await;
    let reg = env
        .client
        .register_terminal(RegisterTerminalRequest {
            context: env.reseller_ctx(),
            external_terminal_id: Some("POS-7".into()),
            password: Some("till-pw-7".into()),
            name: Some("Till 7".into()),
        })
        .await
        .expect("registerTerminal");
    let tid = reg.terminal_id.expect("terminal id");
    assert_eq!(tid.len(), 32);
    let creds = seqr_client::Credentials::terminal(tid.clone(), "till-pw-7");
    let ctx = Some(creds.context("pos", None));
    env.client
        .assign_seqr_id(AssignSeqrIdRequest { context: ctx.clone(), seqr_id: Some("0039394857311223".into()) })
        .await
        .expect("assignSeqrId");
    let send = || seqr_wire::SendInvoiceRequest {
        context: ctx.clone(),
        invoice: Some(invoice("15", AcknowledgmentMode::NoAcknowledgment)),
        tokens: vec![],
    };
    let first = env.client.send_invoice(send()).await.unwrap().invoice_reference.unwrap();
    let second = env.client.send_invoice(send()).await.unwrap().invoice_reference.unwrap();
    // One open invoice per registered terminal: the second cancelled the first.
    let gps = |r: &str| GetPaymentStatusRequest {
        context: ctx.clone(),
        invoice_reference: Some(r.to_owned()),
        invoice_version: 0,
    };
    assert_eq!(env.client.get_payment_status(gps(&first)).await.unwrap().status, Some(InvoiceStatus::Canceled));
    // The shopper scans the static sticker and gets the open invoice.
    let scan = env.control_ok("/sim/phone/scan", json!({"code": "HTTP://SEQR.SE/Q0039394857311223"})).await;
    assert_eq!(scan["invoice_reference"], second.as_str());
    env.control_ok("/sim/phone/pay", json!({"code": second})).await;
    assert_eq!(env.client.get_payment_status(gps(&second)).await.unwrap().status, Some(InvoiceStatus::Paid));
    // Invoices of another terminal are invisible.
    let e = env.status_err(&second).await;
    assert_eq!(e.result_code(), Some(ResultCode::InvalidInvoiceReference));

    env.client.unregister_terminal(UnregisterTerminalRequest { context: ctx.clone() }).await.expect("unregister");
    let e = env.client.get_payment_status(gps(&second)).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::InvalidInitiatorPrincipalId));
    assert!(Decimal::from(1) > Decimal::ZERO);
}

impl SimEnv {
    pub(crate) async fn status_err(&self, reference: &str) -> CallError {
        self.client
            .get_payment_status(GetPaymentStatusRequest {
                context: self.ctx(),
                invoice_reference: Some(reference.to_owned()),
                invoice_version: 0,
            })
            .await
            .unwrap_err()
    }
}
