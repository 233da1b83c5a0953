//! SOAP-level behaviour of seqr-sim (faults, WSDL) and fault injection classified by seqr-client.

use std::time::Duration;

use seqr_client::{CallError, ClientConfig, RetryPolicy, SeqrClient};
use seqr_wire::{
    AcknowledgmentMode, FaultCode, GetPaymentStatusRequest, InvoiceStatus, ResultCode, SendInvoiceRequest,
};
use serde_json::json;

use crate::sim_support::{invoice, SimEnv};

async fn raw_post(env: &SimEnv, body: &str) -> (u16, String, String) {
    let r = env
        .http
        .post(env.sim.soap_url())
        .header("Content-Type", "text/xml; charset=UTF-8")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

#[tokio::test]
async fn unparseable_unknown_or_foreign_requests_get_a_soap_client_fault() {
    let env = SimEnv::start().await;
    let env_open = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>"#;
    let env_close = "</soapenv:Body></soapenv:Envelope>";
    for body in [
        "this is not xml".to_owned(),
        format!(
            r#"{env_open}<ext:noSuchOperation xmlns:ext="http://external.interfaces.ers.seamless.com/"/>{env_close}"#
        ),
        format!(r#"{env_open}<ext:sendInvoice xmlns:ext="urn:wrong"/>{env_close}"#),
    ] {
        let (status, ct, text) = raw_post(&env, &body).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(ct, "text/xml; charset=UTF-8");
        assert!(text.contains("soap:Fault") && text.contains("soap:Client"), "{text}");
        let fault = seqr_wire::parse_fault(text.as_bytes()).expect("a parseable fault");
        assert_eq!(fault.code, FaultCode::Client);
    }
    // The documented example (out of schema order, no paymentMode) is accepted leniently.
    let ok = format!(
        r#"{env_open}<ext:getPaymentStatus xmlns:ext="http://external.interfaces.ers.seamless.com/"><context><clientRequestTimeout>0</clientRequestTimeout><initiatorPrincipalId><id>{}</id><type>TERMINALID</type></initiatorPrincipalId><password>{}</password></context><invoiceVersion>0</invoiceVersion><invoiceReference>123123</invoiceReference></ext:getPaymentStatus>{env_close}"#,
        seqr_sim::DEFAULT_TERMINAL_ID,
        seqr_sim::DEFAULT_TERMINAL_PASSWORD
    );
    let (status, _, text) = raw_post(&env, &ok).await;
    assert_eq!(status, 200);
    assert!(text.starts_with(r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">"#), "{text}");
    assert!(text.contains("<ns2:getPaymentStatusResponse"), "{text}");
    assert!(text.contains("<resultCode>54</resultCode>"), "{text}");
}

#[tokio::test]
async fn wsdl_addresses_follow_the_host_header() {
    let env = SimEnv::start().await;
    let main = env.http.get(env.sim.wsdl_url()).send().await.unwrap();
    assert_eq!(main.status(), 200);
    let text = main.text().await.unwrap();
    let here = env.sim.soap_url();
    assert!(text.contains(&format!(r#"location="{here}""#)), "{text}");
    assert!(text.contains(&format!(r#"location="{here}?wsdl=ERSWSExternalClientService.wsdl""#)), "{text}");

    let other = env
        .http
        .get(format!("{}/soap/merchant/cashregister-2?wsdl", env.sim.base_url()))
        .header("Host", "seqr.example:8080")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(other.contains(r#"location="http://seqr.example:8080/soap/merchant/cashregister-2""#), "{other}");

    let types = env.http.get(format!("{here}?wsdl=ERSWSExternalClientService.wsdl")).send().await.unwrap();
    assert_eq!(types.status(), 200);
    let types = types.text().await.unwrap();
    assert!(types.contains("sendInvoice") && types.contains("commitReservationTimeout"));
}

fn fast_client(env: &SimEnv) -> SeqrClient {
    let mut cfg = ClientConfig::new(env.sim.soap_url());
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    SeqrClient::new(cfg).unwrap()
}

async fn invoice_count(env: &SimEnv) -> usize {
    env.get("/sim/invoices").await.as_array().unwrap().len()
}

#[tokio::test]
async fn dropped_connections_are_outcome_unknown_and_before_or_after_processing_is_real() {
    let env = SimEnv::start().await;
    let client = fast_client(&env);
    let send = || SendInvoiceRequest {
        context: env.ctx(),
        invoice: Some(invoice("10", AcknowledgmentMode::NoAcknowledgment)),
        tokens: vec![],
    };
    env.control_ok("/sim/faults", json!({"operation": "sendInvoice", "action": "drop_before", "count": 1})).await;
    let e = client.send_invoice(send()).await.unwrap_err();
    assert!(matches!(e, CallError::TransportAfterSend { timed_out: false, .. }), "{e:?}");
    assert!(e.outcome_unknown() && !e.is_definitely_not_done());
    assert_eq!(invoice_count(&env).await, 0, "dropped before processing: nothing created");

    env.control_ok("/sim/faults", json!({"operation": "sendInvoice", "action": "drop_after", "count": 1})).await;
    let e = client.send_invoice(send()).await.unwrap_err();
    assert!(matches!(e, CallError::TransportAfterSend { .. }), "{e:?}");
    assert!(e.outcome_unknown());
    assert_eq!(invoice_count(&env).await, 1, "dropped after processing: the invoice exists");

    // Rules are consumed: the next call goes through (sendInvoice is never retried by the client).
    client.send_invoice(send()).await.expect("no fault left");
    assert_eq!(invoice_count(&env).await, 2);
}

#[tokio::test]
async fn http_500_soap_fault_and_busy_codes_are_classified() {
    let env = SimEnv::start().await;
    let client = fast_client(&env);
    let send = || SendInvoiceRequest {
        context: env.ctx(),
        invoice: Some(invoice("10", AcknowledgmentMode::NoAcknowledgment)),
        tokens: vec![],
    };
    env.control_ok("/sim/faults", json!({"operation": "sendInvoice", "action": "http500", "count": 1})).await;
    let e = client.send_invoice(send()).await.unwrap_err();
    assert!(matches!(e, CallError::HttpStatus { status: 500, .. }), "{e:?}");
    assert!(e.outcome_unknown());

    env.control_ok("/sim/faults", json!({"operation": "sendInvoice", "action": "soap_fault", "count": 1})).await;
    let e = client.send_invoice(send()).await.unwrap_err();
    match &e {
        CallError::SoapFault { fault, .. } => assert_eq!(fault.code, FaultCode::Server),
        other => panic!("expected a SOAP fault, got {other:?}"),
    }
    assert!(e.outcome_unknown() && e.is_transient());

    env.control_ok("/sim/faults", json!({"operation": "sendInvoice", "action": "system_busy", "count": 1})).await;
    let e = client.send_invoice(send()).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::SystemBusy));
    assert!(e.is_definitely_not_done() && e.is_transient());

    env.control_ok("/sim/faults", json!({"operation": "sendInvoice", "action": "system_error", "count": 1})).await;
    let e = client.send_invoice(send()).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::SystemError));
    assert_eq!(invoice_count(&env).await, 0, "none of the faulted calls created an invoice");
    let rules = env.get("/sim/faults").await;
    assert_eq!(rules.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn connection_refused_is_definitely_not_done() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = SeqrClient::new(ClientConfig::new(format!("http://{addr}/extclientproxy/service/v2"))).unwrap();
    let e = client
        .send_invoice(SendInvoiceRequest {
            context: None,
            invoice: Some(invoice("1", AcknowledgmentMode::NoAcknowledgment)),
            tokens: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::TransportBeforeSend { .. }), "{e:?}");
    assert!(e.is_definitely_not_done() && !e.outcome_unknown());
}

#[tokio::test]
async fn reads_are_retried_but_writes_are_not() {
    let env = SimEnv::start().await;
    let client = fast_client(&env);
    let reference = env.send(invoice("10", AcknowledgmentMode::NoAcknowledgment)).await;
    let gps = || GetPaymentStatusRequest {
        context: env.ctx(),
        invoice_reference: Some(reference.clone()),
        invoice_version: 0,
    };
    env.control_ok("/sim/faults", json!({"operation": "getPaymentStatus", "action": "system_busy", "count": 1})).await;
    env.control_ok("/sim/faults", json!({"operation": "getPaymentStatus", "action": "drop_after", "count": 1})).await;
    let s = client.get_payment_status(gps()).await.expect("retried until it succeeds");
    assert_eq!(s.status, Some(InvoiceStatus::Issued));

    env.control_ok("/sim/faults", json!({"operation": "getPaymentStatus", "action": "system_busy", "count": 5})).await;
    let e = client.get_payment_status(gps()).await.unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::SystemBusy));
    let left = env.get("/sim/faults").await;
    assert_eq!(left[0]["count"], 2, "exactly three attempts were made");
    env.control_ok_delete("/sim/faults").await;

    env.control_ok("/sim/faults", json!({"operation": "sendInvoice", "action": "system_busy", "count": 1})).await;
    let e = client
        .send_invoice(SendInvoiceRequest {
            context: env.ctx(),
            invoice: Some(invoice("1", AcknowledgmentMode::NoAcknowledgment)),
            tokens: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(e.result_code(), Some(ResultCode::SystemBusy), "a write is sent once");
}

#[tokio::test]
async fn latency_beyond_the_client_timeout_is_an_after_send_timeout() {
    let env = SimEnv::start().await;
    let mut cfg = ClientConfig::new(env.sim.soap_url());
    cfg.timeouts.get_payment_status = Duration::from_millis(300);
    cfg.retry = RetryPolicy::NONE;
    let client = SeqrClient::new(cfg).unwrap();
    env.control_ok(
        "/sim/faults",
        json!({"operation": "getPaymentStatus", "action": "latency", "latency_ms": 3000, "count": 1}),
    )
    .await;
    let e = client
        .get_payment_status(GetPaymentStatusRequest {
            context: env.ctx(),
            invoice_reference: Some("1".into()),
            invoice_version: 0,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::TransportAfterSend { timed_out: true, .. }), "{e:?}");
    assert!(e.outcome_unknown());
}

impl SimEnv {
    async fn control_ok_delete(&self, path: &str) {
        let r = self.http.delete(format!("{}{path}", self.sim.base_url())).send().await.unwrap();
        assert!(r.status().is_success());
    }
}
