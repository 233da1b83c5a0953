//! seqr-sim's in-band result codes, seen through seqr-client over real HTTP.

use seqr_client::{CallError, Credentials};
use seqr_wire::{
    AcknowledgmentMode, Amount, AssignSeqrIdRequest, CancelInvoiceRequest, ClientContext, CommitReservationRequest,
    GetPaymentStatusRequest, Invoice, MarkTransactionPeriodRequest, RefundPaymentRequest, RegisterTerminalRequest,
    ResultCode, SendInvoiceRequest, SubmitPaymentReceiptRequest, UpdateInvoiceRequest,
};
use serde_json::json;

use crate::sim_support::{invoice, sek, SimEnv};

fn code(r: Result<impl std::fmt::Debug, CallError>) -> ResultCode {
    match r {
        Err(e) => {
            assert!(e.is_definitely_not_done(), "an in-band code means not done: {e:?}");
            e.result_code().unwrap_or_else(|| panic!("expected a result code, got {e:?}"))
        }
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn gps(ctx: Option<ClientContext>, reference: &str) -> GetPaymentStatusRequest {
    GetPaymentStatusRequest { context: ctx, invoice_reference: Some(reference.to_owned()), invoice_version: 0 }
}

#[tokio::test]
async fn terminal_authentication_codes() {
    let env = SimEnv::start().await;
    let tid = seqr_sim::DEFAULT_TERMINAL_ID;
    let wrong_pw = Some(Credentials::terminal(tid, "nope").context("t", None));
    assert_eq!(code(env.client.get_payment_status(gps(wrong_pw, "1")).await), ResultCode::AuthenticationFailed);
    let unknown = Some(Credentials::terminal("ffffffffffffffffffffffffffffffff", "x").context("t", None));
    assert_eq!(code(env.client.get_payment_status(gps(unknown, "1")).await), ResultCode::InvalidInitiatorPrincipalId);
    // A terminal whose assigned password is shorter than 4 characters is denied.
    env.control_ok("/sim/terminals", json!({"id": "shortpw", "password": "abc"})).await;
    let short = Some(Credentials::terminal("shortpw", "abc").context("t", None));
    let r = env
        .client
        .send_invoice(SendInvoiceRequest {
            context: short,
            invoice: Some(invoice("1", AcknowledgmentMode::NoAcknowledgment)),
            tokens: vec![],
        })
        .await;
    assert_eq!(code(r), ResultCode::AccessDenied);
    // Unknown reference for this terminal.
    assert_eq!(code(env.client.get_payment_status(gps(env.ctx(), "123")).await), ResultCode::InvalidInvoiceReference);
}

#[tokio::test]
async fn reseller_authentication_codes() {
    let env = SimEnv::start().await;
    let reg = |ctx| RegisterTerminalRequest {
        context: Some(ctx),
        external_terminal_id: Some("x".into()),
        password: Some("pw12".into()),
        name: None,
    };
    let wrong = Credentials::reseller(seqr_sim::DEFAULT_RESELLER_ID, seqr_sim::DEFAULT_RESELLER_USER_ID, "bad");
    assert_eq!(
        code(env.client.register_terminal(reg(wrong.context("t", None))).await),
        ResultCode::AuthenticationFailed
    );
    // A reseller created through the control API can register terminals.
    env.control_ok("/sim/resellers", json!({"id": "shop2", "user_id": "9900", "password": "shop2-pw"})).await;
    let shop2 = Credentials::reseller("shop2", "9900", "shop2-pw");
    let reg2 = env.client.register_terminal(reg(shop2.context("t", None))).await.expect("registerTerminal");
    assert_eq!(reg2.terminal_id.map(|t| t.len()), Some(32));
    let wrong_user = Credentials::reseller("shop2", "1111", "shop2-pw");
    assert_eq!(
        code(env.client.register_terminal(reg(wrong_user.context("t", None))).await),
        ResultCode::InitiatorPrincipalNotFound
    );
    env.client.benchmarking_nop().await.expect("benchmarkingNop");
    let unknown = Credentials::reseller("nobody", "9900", "pw");
    assert_eq!(
        code(env.client.register_terminal(reg(unknown.context("t", None))).await),
        ResultCode::InitiatorPrincipalNotFound
    );
    let r = env
        .client
        .mark_transaction_period(MarkTransactionPeriodRequest {
            context: Some(Credentials::reseller("nobody", "9900", "pw").context("t", None)),
            parameters: None,
        })
        .await;
    assert_eq!(code(r), ResultCode::InitiatorPrincipalNotFound);
}

#[tokio::test]
async fn invoice_data_codes() {
    let env = SimEnv::start().await;
    let send = |inv: Invoice| SendInvoiceRequest { context: env.ctx(), invoice: Some(inv), tokens: vec![] };
    let mut eur = invoice("10", AcknowledgmentMode::NoAcknowledgment);
    eur.total_amount = Some(Amount { currency: Some("EUR".into()), value: Some(10.into()) });
    assert_eq!(code(env.client.send_invoice(send(eur.clone())).await), ResultCode::InvalidInvoiceData);
    let mut bad_url = invoice("10", AcknowledgmentMode::NoAcknowledgment);
    bad_url.notification_url = Some("www.example.com/notify".into());
    assert_eq!(code(env.client.send_invoice(send(bad_url.clone())).await), ResultCode::InvalidNotificationUrl);

    let reference = env.send(invoice("10", AcknowledgmentMode::NoAcknowledgment)).await;
    let update = |inv: Invoice| UpdateInvoiceRequest {
        context: env.ctx(),
        invoice_reference: Some(reference.clone()),
        invoice: Some(inv),
        tokens: vec![],
    };
    assert_eq!(code(env.client.update_invoice(update(eur)).await), ResultCode::InvalidInvoiceData);
    assert_eq!(code(env.client.update_invoice(update(bad_url)).await), ResultCode::InvalidNotificationUrl);

    // The shopper is entering the PIN: update gives 48, cancel gives 51.
    env.control_ok("/sim/phone/pay", json!({"code": reference, "hold": true})).await;
    let r = env.client.update_invoice(update(invoice("9", AcknowledgmentMode::NoAcknowledgment))).await;
    assert_eq!(code(r), ResultCode::PaymentInProgress);
    let cancel = || CancelInvoiceRequest { context: env.ctx(), invoice_reference: Some(reference.clone()) };
    assert_eq!(code(env.client.cancel_invoice(cancel()).await), ResultCode::CannotCancelInvoiceInProgress);
    // Wrong PIN is refused by the phone; the right one pays.
    let (status, body) = env.control("/sim/phone/confirm", json!({"code": reference, "pin": "9999"})).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("wrong_pin")));
    env.control_ok("/sim/phone/confirm", json!({"code": reference, "pin": "1234"})).await;
    assert_eq!(code(env.client.cancel_invoice(cancel()).await), ResultCode::CannotCancelPaidInvoice);
    let unknown = CancelInvoiceRequest { context: env.ctx(), invoice_reference: Some("42".into()) };
    assert_eq!(code(env.client.cancel_invoice(unknown).await), ResultCode::InvalidInvoiceReference);
}

#[tokio::test]
async fn refund_and_receipt_codes() {
    let env = SimEnv::start().await;
    let reference = env.send(invoice("10", AcknowledgmentMode::NoAcknowledgment)).await;
    env.control_ok("/sim/phone/pay", json!({"code": reference})).await;
    let ers = env.status(&reference, 1).await.base.ers_reference.unwrap();
    let refund = |ers: &str, amount: Option<Amount>| RefundPaymentRequest {
        context: env.ctx(),
        ers_reference: Some(ers.to_owned()),
        invoice: Some(Invoice { total_amount: amount, ..Default::default() }),
    };
    assert_eq!(code(env.client.refund_payment(refund("2000", sek("1"))).await), ResultCode::InvalidErsReference);
    let eur = Some(Amount { currency: Some("EUR".into()), value: Some(1.into()) });
    assert_eq!(code(env.client.refund_payment(refund(&ers, eur)).await), ResultCode::InvalidInvoiceData);
    let (status, _) = env
        .control_ok_put(&format!("/sim/terminals/{}/refunds", seqr_sim::DEFAULT_TERMINAL_ID), json!({"allowed": false}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(code(env.client.refund_payment(refund(&ers, sek("1"))).await), ResultCode::ResellerNotAllowedToDoRefund);

    let receipt =
        SubmitPaymentReceiptRequest { context: env.ctx(), ers_reference: Some("nope".into()), receipt_document: None };
    assert_eq!(code(env.client.submit_payment_receipt(receipt).await), ResultCode::InvalidErsReference);
}

#[tokio::test]
async fn seqr_id_and_commit_codes() {
    let env = SimEnv::start().await;
    let assign = |id: &str| AssignSeqrIdRequest { context: env.ctx(), seqr_id: Some(id.to_owned()) };
    assert_eq!(code(env.client.assign_seqr_id(assign("not valid!")).await), ResultCode::InvalidSeqrId);
    env.client.assign_seqr_id(assign("ABC123")).await.expect("assign");
    env.control_ok("/sim/terminals", json!({"id": "other", "password": "other-pw"})).await;
    let other = Some(Credentials::terminal("other", "other-pw").context("t", None));
    let taken = AssignSeqrIdRequest { context: other, seqr_id: Some("ABC123".into()) };
    assert_eq!(code(env.client.assign_seqr_id(taken).await), ResultCode::InvalidSeqrId);

    let reference = env.send(invoice("10", AcknowledgmentMode::NoAcknowledgment)).await;
    let commit = CommitReservationRequest { context: env.ctx(), amount: None, invoice_reference: Some(reference) };
    assert_eq!(code(env.client.commit_reservation(commit).await), ResultCode::InvoiceStateNotReserved);
}

impl SimEnv {
    async fn control_ok_put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.http.put(format!("{}{path}", self.sim.base_url())).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }
}
