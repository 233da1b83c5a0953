//! `bench sim`: request throughput of seqr-sim over loopback HTTP.
//!
//! The simulator runs in-process (same runtime); 32 concurrent workers each loop "sendInvoice, then nine
//! getPaymentStatus polls of that invoice" with pre-rendered SOAP bodies over keep-alive connections. Every
//! answer must be HTTP 200 with resultCode 0. The summary counts completed requests per second.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rust_decimal::Decimal;
use seqr_sim::{Sim, SimConfig};
use seqr_wire::{
    AcknowledgmentMode, Amount, ClientContext, GetPaymentStatusRequest, Invoice, InvoiceRow, PaymentMode, PrincipalId,
    Request, SendInvoiceRequest,
};

const WORKERS: usize = 32;
const POLLS_PER_INVOICE: usize = 9;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);

fn context() -> Option<ClientContext> {
    Some(ClientContext {
        channel: Some("WS".into()),
        client_id: Some("bench".into()),
        initiator_principal_id: Some(PrincipalId {
            id: Some(seqr_sim::DEFAULT_TERMINAL_ID.into()),
            principal_type: Some("TERMINALID".into()),
            user_id: None,
        }),
        password: Some(seqr_sim::DEFAULT_TERMINAL_PASSWORD.into()),
        ..Default::default()
    })
}

fn send_invoice_body() -> String {
    let amount = Some(Amount { currency: Some("SEK".into()), value: Some(Decimal::new(14999, 2)) });
    let invoice = Invoice {
        payment_mode: Some(PaymentMode::ImmediateDebit),
        acknowledgment_mode: Some(AcknowledgmentMode::NoAcknowledgment),
        title: Some("Bench".into()),
        client_invoice_id: Some("bench-1".into()),
        invoice_rows: vec![InvoiceRow {
            item_description: Some("Coffee".into()),
            item_quantity: Some(Decimal::ONE),
            item_total_amount: amount.clone(),
            item_unit_price: amount.clone(),
            ..Default::default()
        }],
        total_amount: amount,
        cashier_id: Some("bob".into()),
        ..Default::default()
    };
    seqr_wire::render_request(&Request::SendInvoice(SendInvoiceRequest {
        context: context(),
        invoice: Some(invoice),
        tokens: vec![],
    }))
}

fn status_body(reference: &str) -> String {
    seqr_wire::render_request(&Request::GetPaymentStatus(GetPaymentStatusRequest {
        context: context(),
        invoice_reference: Some(reference.to_owned()),
        invoice_version: 1,
    }))
}

fn reference_of(body: &str) -> Option<&str> {
    let start = body.find("<invoiceReference>")? + "<invoiceReference>".len();
    let end = body[start..].find('<')? + start;
    Some(&body[start..end])
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    latency_us: AtomicU64,
}

async fn post(http: &reqwest::Client, url: &str, body: String) -> anyhow::Result<String> {
    let r = http.post(url).header("Content-Type", "text/xml; charset=UTF-8").body(body).send().await?;
    anyhow::ensure!(r.status() == 200, "HTTP {}", r.status());
    let text = r.text().await?;
    anyhow::ensure!(text.contains("<resultCode>0</resultCode>"), "unexpected answer: {text}");
    Ok(text)
}

async fn worker(
    http: reqwest::Client,
    url: String,
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    c: Arc<Counters>,
) {
    let send = send_invoice_body();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let answer = post(&http, &url, send.clone()).await;
        record(&c, &counting, t, answer.is_ok());
        let Some(reference) = answer.ok().as_deref().and_then(reference_of).map(str::to_owned) else { continue };
        let poll = status_body(&reference);
        for _ in 0..POLLS_PER_INVOICE {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let t = Instant::now();
            let ok = post(&http, &url, poll.clone()).await.is_ok();
            record(&c, &counting, t, ok);
        }
    }
}

fn record(c: &Counters, counting: &AtomicBool, started: Instant, ok: bool) {
    if !counting.load(Ordering::Relaxed) {
        return;
    }
    if ok {
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.latency_us.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    } else {
        c.errors.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) async fn run() -> anyhow::Result<()> {
    let mut cfg = SimConfig::seqr_defaults();
    // A long window: unfetched PAID invoices play no part here, and the ticker should not dominate.
    cfg.reversal_window = Duration::from_secs(3600);
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let sim = Sim::start(cfg, addr).await.context("starting seqr-sim")?;
    let url = sim.soap_url();
    println!(
        "seqr-sim benchmark: {WORKERS} workers, each sendInvoice + {POLLS_PER_INVOICE} getPaymentStatus, \
         loopback HTTP/1.1 keep-alive, warm-up {WARMUP:?}, measured {MEASURE:?}"
    );
    let http = reqwest::Client::builder().pool_max_idle_per_host(WORKERS).tcp_nodelay(true).build()?;
    // A first call proves the setup before starting the load.
    post(&http, &url, send_invoice_body()).await.context("first sendInvoice")?;

    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        tasks.push(tokio::spawn(worker(http.clone(), url.clone(), counting.clone(), stop.clone(), counters.clone())));
    }
    tokio::time::sleep(WARMUP).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(MEASURE).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    sim.shutdown().await;

    let n = counters.requests.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let rate = n as f64 / elapsed.as_secs_f64();
    let mean_us = counters.latency_us.load(Ordering::Relaxed).checked_div(n).unwrap_or(0);
    println!(
        "  requests: {n} in {:.2} s, errors: {errors}, mean latency {:.2} ms",
        elapsed.as_secs_f64(),
        mean_us as f64 / 1000.0
    );
    anyhow::ensure!(errors == 0, "{errors} requests failed");
    println!("sim: {} requests/s", rate as u64);
    Ok(())
}
