//! Shared helpers for the seqr-sim tests: an in-process simulator on port 0, a client, and the control API.

use std::net::SocketAddr;

use rust_decimal::Decimal;
use seqr_client::{ClientConfig, Credentials, SeqrClient};
use seqr_sim::{Sim, SimConfig, SimHandle};
use seqr_wire::{
    AcknowledgmentMode, Amount, ClientContext, GetPaymentStatusRequest, Invoice, InvoiceRow, PaymentMode,
    PaymentStatusResponse, SendInvoiceRequest,
};
use serde_json::Value;

pub(crate) struct SimEnv {
    pub(crate) sim: SimHandle,
    pub(crate) client: SeqrClient,
    pub(crate) terminal: Credentials,
    pub(crate) reseller: Credentials,
    pub(crate) http: reqwest::Client,
}

impl SimEnv {
    pub(crate) async fn start() -> SimEnv {
        SimEnv::start_with(SimConfig::seqr_defaults()).await
    }

    pub(crate) async fn start_with(cfg: SimConfig) -> SimEnv {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sim = Sim::start(cfg, addr).await.expect("sim starts");
        let client = SeqrClient::new(ClientConfig::new(sim.soap_url())).expect("client builds");
        SimEnv {
            sim,
            client,
            terminal: Credentials::terminal(seqr_sim::DEFAULT_TERMINAL_ID, seqr_sim::DEFAULT_TERMINAL_PASSWORD),
            reseller: Credentials::reseller(
                seqr_sim::DEFAULT_RESELLER_ID,
                seqr_sim::DEFAULT_RESELLER_USER_ID,
                seqr_sim::DEFAULT_RESELLER_PASSWORD,
            ),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn ctx(&self) -> Option<ClientContext> {
        Some(self.terminal.context("seqrd-tests", Some("ref-1")))
    }

    pub(crate) fn reseller_ctx(&self) -> Option<ClientContext> {
        Some(self.reseller.context("seqrd-tests", None))
    }

    /// sendInvoice that must succeed; returns the invoice reference.
    pub(crate) async fn send(&self, invoice: Invoice) -> String {
        self.send_with_tokens(invoice, vec![]).await
    }

    pub(crate) async fn send_with_tokens(&self, invoice: Invoice, tokens: Vec<seqr_wire::CustomerToken>) -> String {
        let r = self
            .client
            .send_invoice(SendInvoiceRequest { context: self.ctx(), invoice: Some(invoice), tokens })
            .await
            .expect("sendInvoice succeeds");
        let reference = r.invoice_reference.expect("reference");
        assert_eq!(r.invoice_qr_code.as_deref(), Some(format!("HTTP://SEQR.SE/R{reference}").as_str()));
        reference
    }

    pub(crate) async fn status(&self, reference: &str, version: i32) -> PaymentStatusResponse {
        self.client
            .get_payment_status(GetPaymentStatusRequest {
                context: self.ctx(),
                invoice_reference: Some(reference.to_owned()),
                invoice_version: version,
            })
            .await
            .expect("getPaymentStatus succeeds")
    }

    /// POSTs JSON to the control API; returns status and body.
    pub(crate) async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let r =
            self.http.post(format!("{}{path}", self.sim.base_url())).json(&body).send().await.expect("control call");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs JSON to the control API and requires 200.
    pub(crate) async fn control_ok(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.control(path, body).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.sim.base_url())).send().await.expect("control call");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }
}

pub(crate) fn sek(v: &str) -> Option<Amount> {
    Some(Amount { currency: Some("SEK".to_owned()), value: Some(v.parse::<Decimal>().unwrap()) })
}

pub(crate) fn invoice(total: &str, ack: AcknowledgmentMode) -> Invoice {
    Invoice {
        payment_mode: Some(PaymentMode::ImmediateDebit),
        acknowledgment_mode: Some(ack),
        title: Some("Groceries".to_owned()),
        client_invoice_id: Some("order-1".to_owned()),
        invoice_rows: vec![InvoiceRow {
            item_description: Some("Coffee".to_owned()),
            item_quantity: Some(Decimal::ONE),
            item_total_amount: sek(total),
            item_unit_price: sek(total),
            ..Default::default()
        }],
        total_amount: sek(total),
        cashier_id: Some("bob".to_owned()),
        footer: Some("Thanks".to_owned()),
        ..Default::default()
    }
}

/// A tiny HTTP receiver for notificationUrl POSTs: each request's path+query and body arrive on the channel.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) rx: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((uri.to_string(), body));
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, rx }
    }

    pub(crate) async fn next(&mut self) -> (String, String) {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.rx.recv())
            .await
            .expect("notification within 10 s")
            .expect("channel open")
    }
}
