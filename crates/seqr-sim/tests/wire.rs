//! The simulator's SOAP endpoint over real HTTP, for what only the wire shows: malformed-request faults,
//! lenient base64 and the exact shape of answers.

use seqr_sim::{Sim, SimConfig, SimHandle, DEFAULT_TERMINAL_ID, DEFAULT_TERMINAL_PASSWORD};
use seqr_wire::{
    parse_fault, parse_response, render_request, ClientContext, ErsResponse, FaultCode, GetPaymentStatusRequest,
    InvoiceStatus, Operation, PrincipalId, Request, Response, ResultCode,
};

async fn start() -> SimHandle {
    Sim::start(SimConfig::seqr_defaults(), "127.0.0.1:0".parse().unwrap()).await.expect("start seqr-sim")
}

/// POSTs a SOAP body; returns the HTTP status and the body.
async fn post(sim: &SimHandle, xml: String) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(sim.soap_url())
        .header("content-type", "text/xml; charset=UTF-8")
        .body(xml)
        .send()
        .await
        .expect("POST to seqr-sim");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// A request the way a hand-written client sends it (the `soapenv`/`ext` prefixes of the API-MD examples).
fn envelope(op: &str, children: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="http://external.interfaces.ers.seamless.com/"><soapenv:Header/><soapenv:Body><ext:{op}><context><clientRequestTimeout>0</clientRequestTimeout><initiatorPrincipalId><id>{DEFAULT_TERMINAL_ID}</id><type>TERMINALID</type></initiatorPrincipalId><password>{DEFAULT_TERMINAL_PASSWORD}</password></context>{children}</ext:{op}></soapenv:Body></soapenv:Envelope>"#
    )
}

fn send_invoice_xml(payment_mode: &str, title: &str) -> String {
    envelope(
        "sendInvoice",
        &format!(
            "<invoice><paymentMode>{payment_mode}</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><title>{title}</title><totalAmount><currency>SEK</currency><value>100</value></totalAmount></invoice>"
        ),
    )
}

/// Sends an invoice that must be accepted; returns its reference.
async fn send_invoice(sim: &SimHandle, payment_mode: &str) -> String {
    let (status, body) = post(sim, send_invoice_xml(payment_mode, "Order 42")).await;
    assert_eq!(status, 200, "{body}");
    let Ok(Response::SendInvoice(r)) = parse_response(Operation::SendInvoice, body.as_bytes()) else {
        panic!("{body}")
    };
    assert_eq!(r.base.result_code, ResultCode::Success, "{body}");
    r.invoice_reference.expect("invoiceReference")
}

/// The shopper scans and pays with the default PIN.
fn pay(sim: &SimHandle, reference: &str) {
    sim.with_seqr(|e, now| {
        e.start_payment(reference, "alice", now).expect("scan");
        e.confirm_payment(reference, "1234", now).expect("pay");
    });
}

async fn status(sim: &SimHandle, reference: &str) -> seqr_wire::PaymentStatusResponse {
    let context = Some(ClientContext {
        initiator_principal_id: Some(PrincipalId {
            id: Some(DEFAULT_TERMINAL_ID.into()),
            principal_type: Some("TERMINALID".into()),
            user_id: None,
        }),
        password: Some(DEFAULT_TERMINAL_PASSWORD.into()),
        ..ClientContext::default()
    });
    let req = Request::GetPaymentStatus(GetPaymentStatusRequest {
        context,
        invoice_reference: Some(reference.into()),
        invoice_version: 0,
    });
    let (code, body) = post(sim, render_request(&req)).await;
    assert_eq!(code, 200, "{body}");
    let Ok(Response::GetPaymentStatus(s)) = parse_response(Operation::GetPaymentStatus, body.as_bytes()) else {
        panic!("{body}")
    };
    s
}

#[tokio::test]
async fn send_invoice_with_a_control_character_in_the_title_is_a_client_fault() {
    let sim = start().await;
    for title in ["Order \u{1} 42", "Order &#x1; 42", "Order &#1; 42"] {
        let (code, body) = post(&sim, send_invoice_xml("IMMEDIATE_DEBIT", title)).await;
        assert_eq!(code, 500, "{title:?}: {body}");
        let fault = parse_fault(body.as_bytes()).unwrap_or_else(|e| panic!("{title:?}: not a fault ({e}): {body}"));
        assert_eq!(fault.code, FaultCode::Client, "{title:?}");
        assert_eq!(fault.message, "character U+0001 is not allowed in XML 1.0", "{title:?}");
    }
    assert!(sim.with_seqr(|e, _| e.invoices(None)).is_empty(), "no invoice may have been created");
    // The same request with a clean title is accepted: the fault is the character's.
    send_invoice(&sim, "IMMEDIATE_DEBIT").await;
    assert_eq!(sim.with_seqr(|e, _| e.invoices(None)).len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn submit_payment_receipt_with_unpadded_receipt_data_is_accepted() {
    let sim = start().await;
    let reference = send_invoice(&sim, "IMMEDIATE_DEBIT").await;
    pay(&sim, &reference);
    let paid = status(&sim, &reference).await;
    assert_eq!(paid.status, Some(InvoiceStatus::Paid));
    let ers = paid.base.ers_reference.expect("ersReference of a PAID invoice");
    // API-MD's example receiptData: 55 characters, no padding.
    let receipt = format!(
        "<ersReference>{ers}</ersReference><receiptDocument><mimeType>plain/xml</mimeType><receiptData>Cjw/eG1sIHZlcnNpb249IjEuMCIgZW5jb2Rpbmc9IlVURi04Ij8+Cjx</receiptData><receiptType>xxx</receiptType></receiptDocument>"
    );
    let (code, body) = post(&sim, envelope("submitPaymentReceipt", &receipt)).await;
    assert_eq!(code, 200, "{body}");
    let answer = parse_response(Operation::SubmitPaymentReceipt, body.as_bytes());
    assert_eq!(answer, Ok(Response::SubmitPaymentReceipt(ErsResponse::success())), "{body}");
    // Stored as JAXB decodes it: the incomplete last group `Cjx` is dropped.
    let stored = sim.with_seqr(|e, _| e.receipts(&ers).map(<[_]>::to_vec)).expect("receipts of the payment");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].receipt_data.as_deref(), Some(&b"\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>"[..]));
    sim.shutdown().await;
}

#[tokio::test]
async fn commit_reservation_answers_as_documented_without_ers_reference() {
    let sim = start().await;
    let reference = send_invoice(&sim, "RESERVATION_REQUIRED").await;
    pay(&sim, &reference);
    assert_eq!(status(&sim, &reference).await.status, Some(InvoiceStatus::Reserved));
    let (code, body) =
        post(&sim, envelope("commitReservation", &format!("<invoiceReference>{reference}</invoiceReference>"))).await;
    assert_eq!(code, 200, "{body}");
    // API-MD's commitReservation response example, byte for byte (compact, as CXF writes it).
    assert_eq!(
        body,
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns2:commitReservationResponse xmlns:ns2="http://external.interfaces.ers.seamless.com/"><return><resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription></return></ns2:commitReservationResponse></soap:Body></soap:Envelope>"#
    );
    // The payment's ersReference is read from getPaymentStatus.
    let paid = status(&sim, &reference).await;
    assert_eq!(paid.status, Some(InvoiceStatus::Paid));
    assert!(paid.base.ers_reference.is_some_and(|e| !e.is_empty()));
    sim.shutdown().await;
}
