//! `seqrd demo` (what `ops/demo` runs): every SEQR flow of the merchant documentation, through the public HTTP API,
//! while the simulated phone acts; then the RabbitMQ messages received and the ledger totals. Exits 0 only if
//! every flow reached its expected end state.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use lapin::{
    options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
    Connection, ConnectionProperties,
};
use serde_json::{json, Value};
use uuid::Uuid;

use amqp::AmqpFeed;
use engine::Relay;
use seqrd::config::Config;

use crate::stack::{self, SeqrTarget, Stack};

/// The registers of the demo tenant: (merchant, store, terminal).
pub const REGISTERS: &[(&str, &str, &str)] =
    &[("acme", "stockholm", "till-1"), ("acme", "stockholm", "till-2"), ("acme", "webshop", "web-1")];

/// Runs the demo; true when every flow reached its expected end.
pub async fn run(mut config: Config) -> anyhow::Result<bool> {
    let started = Instant::now();
    // Before anything records a metric.
    let metrics = seqrd::admin::metrics_handle();
    // The demo's webshop (its own notificationUrl) listens on loopback over http: allowed for the demo only.
    config.merchant_urls = engine::MerchantUrlPolicy { allow_http: true, allow_private: true };
    // A database of its own, dropped at the end (kept with SEQRD_DEMO_KEEP=1, to look at).
    let database = format!("seqrd_demo_{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let (_, pool) = stack::scratch_database(&config, &database).await?;
    let keep = std::env::var("SEQRD_DEMO_KEEP").is_ok_and(|v| v == "1");
    let admin_config = config.clone();
    let target = match std::env::var("SEQR_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => SeqrTarget::External(url),
        None => SeqrTarget::InProcess(Box::new(seqr_sim::SimConfig::seqr_defaults())),
    };
    let tenant = format!("demo-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let amqp_url = config.amqp_url.clone();
    let exchange = config.exchange.clone();
    let stack = Stack::start(config, pool.clone(), target, &tenant, REGISTERS).await?;
    say(&format!("seqrd API at {}, SEQR at {}, tenant {tenant}", stack.api, stack.config.seqr_url));
    // The admin listener, as `seqrd serve` has it: `curl <it>/metrics` while the demo runs.
    let admin = match admin_config.admin_addr {
        Some(addr) => {
            let state = seqrd::admin::AdminState {
                handle: metrics,
                pools: vec![(seqrd::app::Part::Api, pool.clone())],
                engine: Some(stack.engine.clone()),
            };
            match seqrd::admin::serve(addr, state).await {
                Ok(bound) => {
                    say(&format!("metrics at http://{bound}/metrics"));
                    Some(bound)
                }
                Err(e) => {
                    say(&format!("no admin listener: {e:#}"));
                    None
                }
            }
        }
        None => None,
    };

    // An ERP's queue on the event feed, bound to this tenant's events.
    let amqp = Connection::connect(&amqp_url, ConnectionProperties::default()).await.with_context(|| {
        format!("cannot connect to RabbitMQ ({}): `ops/up` starts it", seqrd::app::redact(&amqp_url))
    })?;
    let channel = amqp.create_channel().await?;
    amqp::declare_exchange(&channel, &exchange).await?;
    let queue = channel
        .queue_declare(
            "",
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().as_str(),
            &exchange,
            &format!("{tenant}.#"),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let mut results = Vec::new();
    for (name, flow) in FLOWS {
        say(&format!("\n== {name}"));
        let outcome = flow(&stack).await;
        match &outcome {
            Ok(()) => say(&format!("   OK: {name}")),
            Err(e) => say(&format!("   FAILED: {name}: {e:#}")),
        }
        results.push((name, outcome.is_ok()));
    }

    // The feed: publish everything, then read what the ERP queue received.
    let mut relay = Relay::new(stack.engine.store().clone(), AmqpFeed::new(&amqp_url, &exchange), "relay");
    let head = stack.engine.store().head().await?;
    relay.catch_up_to(head, Duration::from_secs(30)).await.context("relay")?;
    let mut consumer = channel
        .basic_consume(queue.name().as_str(), "demo", BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    let expected = store_pg::admin::count_events_of_tenant(&pool, &tenant).await?;
    let mut by_type: std::collections::BTreeMap<String, usize> = Default::default();
    let mut received = 0i64;
    say("\n== RabbitMQ messages (routing key, type, invoice version)");
    while received < expected {
        let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await else { break };
        let delivery = delivery?;
        let body: Value = serde_json::from_slice(&delivery.data).unwrap_or(Value::Null);
        let kind = body["type"].as_str().unwrap_or("?").to_owned();
        if received < 12 {
            say(&format!("   {}  {}  v{}", delivery.routing_key, kind, body["version"]));
        }
        *by_type.entry(kind).or_default() += 1;
        received += 1;
        delivery.ack(BasicAckOptions::default()).await?;
    }
    say(&format!("   ... {received} of {expected} events received: {by_type:?}"));
    let feed_ok = received == expected;
    results.push(("every event on RabbitMQ", feed_ok));

    // Finance: the ledger projection, caught up.
    let projection = store_pg::Subscription::new(
        stack.engine.store().clone(),
        store_pg::InvoiceProjection,
        store_pg::SubscriptionConfig::new(1000, Duration::from_millis(500)),
    );
    projection.catch_up().await?;
    let rows = store_pg::admin::ledger_totals(&pool, &tenant).await?;
    say("\n== Ledger (store, business date, kind: total, movements)");
    for r in &rows {
        say(&format!(
            "   {:<10} {} {:<8} {:>10} {} ({})",
            r.store_id, r.business_date, r.kind, r.amount, r.currency, r.movements
        ));
    }
    let net: rust_decimal::Decimal = rows.iter().map(|r| r.amount).sum();
    say(&format!("   net takings: {net} SEK"));

    // What an SRE's Prometheus scraped meanwhile: each seqrd metric family, its series summed.
    if let Some(addr) = admin {
        say(&format!("\n== Metrics (GET http://{addr}/metrics: each family, its samples summed)"));
        let text = stack.http.get(format!("http://{addr}/metrics")).send().await?.text().await?;
        let mut families: std::collections::BTreeMap<String, f64> = Default::default();
        for line in text.lines().filter(|l| l.starts_with("seqrd_")) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            if name.ends_with("_bucket") || name.ends_with("_sum") {
                continue;
            }
            let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *families.entry(name.to_owned()).or_default() += value;
        }
        for (name, total) in &families {
            say(&format!("   {name:<48} {total}"));
        }
        let counted = ["seqrd_http_requests_total", "seqrd_seqr_calls_total", "seqrd_relay_confirmed_events_total"];
        let metrics_ok = counted.iter().all(|n| families.get(*n).is_some_and(|v| *v > 0.0));
        results.push(("metrics count what the demo did", metrics_ok));
    }

    stack.shutdown().await;
    pool.close().await;
    if keep {
        say(&format!("\n   database {database} kept"));
    } else {
        stack::drop_database(&admin_config, &database).await?;
    }
    let ok = results.iter().all(|(_, ok)| *ok);
    say(&format!(
        "\n== {} of {} checks passed in {:.1} s",
        results.iter().filter(|r| r.1).count(),
        results.len(),
        started.elapsed().as_secs_f64()
    ));
    for (name, ok) in &results {
        say(&format!("   [{}] {name}", if *ok { "ok" } else { "FAILED" }));
    }
    Ok(ok)
}

/// A seed flow: drives one invoice (or a few) through the API and the phone; `Err` says which expectation failed.
pub type FlowFn = for<'a> fn(&'a Stack) -> futures::future::BoxFuture<'a, anyhow::Result<()>>;

/// Every flow of the SEQR merchant documentation, in the demo's order. They need the registers of [`REGISTERS`].
pub const FLOWS: [(&str, FlowFn); 8] = [
    ("general payment", general_payment),
    ("loyalty: card swiped after scanning", loyalty_swiped_after_scan),
    ("loyalty: card swiped before scanning", loyalty_swiped_before_scan),
    ("loyalty: account in phone", loyalty_account_in_phone),
    ("preliminary payment with commit", preliminary_payment),
    ("in-app with backURL and notification", in_app),
    ("cancel", cancel),
    ("partial refunds", partial_refunds),
];

fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// An invoice body in SEK.
pub fn invoice(mode: &str, ack: &str, total: &str, extra: Value) -> Value {
    let mut v = json!({
        "payment_mode": mode,
        "acknowledgment_mode": ack,
        "title": "Demo purchase",
        "client_invoice_id": Uuid::now_v7().simple().to_string()[..16].to_owned(),
        "cashier_id": "Bob",
        "footer": "Thank you for shopping with us",
        "rows": [{"description": "Coffee beans", "quantity": "1", "unit_price": {"amount": total, "currency": "SEK"},
                  "total": {"amount": total, "currency": "SEK"}, "tax_rate": "12"}],
        "total": {"amount": total, "currency": "SEK"},
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

/// Polls (one worker round for this invoice) and returns the view.
async fn poll_view(stack: &Stack, id: &str) -> anyhow::Result<Value> {
    let uuid: Uuid = id.parse()?;
    stack.poll(uuid).await?;
    stack.get(&format!("/v1/invoices/{id}")).await
}

fn expect(view: &Value, status: &str) -> anyhow::Result<()> {
    anyhow::ensure!(view["status"] == status, "expected status {status}, invoice is {}", view["status"]);
    Ok(())
}

fn step(what: &str, view: &Value) {
    say(&format!(
        "   {what:<44} status={:<20} seqr={:<27} v{} paid={} refunded={}",
        view["status"].as_str().unwrap_or("?"),
        view["seqr_status"].as_str().unwrap_or("-"),
        view["invoice_version"],
        view["paid"]["amount"].as_str().unwrap_or("-"),
        view["refunded"]["amount"].as_str().unwrap_or("-"),
    ));
}

async fn issued(stack: &Stack, terminal: &str, invoice: Value, tokens: Value) -> anyhow::Result<(String, String)> {
    let (status, view) = stack.issue(terminal, invoice, tokens).await?;
    anyhow::ensure!(status == 201, "issue: {status} {view}");
    step(&format!("issued at {terminal}: {}", view["qr_code"].as_str().unwrap_or("")), &view);
    let id = view["id"].as_str().context("id")?.to_owned();
    let reference = view["invoice_reference"].as_str().context("reference")?.to_owned();
    Ok((id, reference))
}

async fn phone(stack: &Stack, action: &str, body: Value) -> anyhow::Result<Value> {
    let (status, v) = stack.phone(action, &body).await?;
    anyhow::ensure!(status == 200, "phone {action}: {status} {v}");
    say(&format!("   phone: {action}"));
    Ok(v)
}

fn general_payment(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let (id, reference) =
            issued(stack, "till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "149.90", json!({})), json!([]))
                .await?;
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "issued")?;
        phone(stack, "pay", json!({"code": reference, "shopper": "alice"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "paid")?;
        let (status, view) = stack
            .post(&format!("/v1/invoices/{id}/receipt"), &json!({"document": {"mime_type": "text/html", "receipt_type": "PAYMENT_RECEIPT", "data": "PGgxPlRoYW5rczwvaDE+"}}))
            .await?;
        anyhow::ensure!(status == 200, "receipt: {status} {view}");
        step("receipt submitted", &view);
        Ok(())
    })
}

fn loyalty_swiped_after_scan(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let (id, reference) = issued(
            stack,
            "till-1",
            invoice("IMMEDIATE_DEBIT", "REQUIRE_ACKNOWLEDGMENT", "200.00", json!({})),
            json!([]),
        )
        .await?;
        phone(stack, "scan", json!({"code": reference, "shopper": "bob"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "pending_acknowledge")?;
        let (status, view) = stack
            .post(&format!("/v1/invoices/{id}/loyalty"), &json!({
                "rows": [{"description": "Coffee beans (member price)", "quantity": "1", "total": {"amount": "180.00", "currency": "SEK"}}],
                "total": {"amount": "180.00", "currency": "SEK"},
                "tokens": [{"id": "ACME_CARD", "value": "2610411111110", "description": "Acme Club", "status": "used"}]
            }))
            .await?;
        anyhow::ensure!(status == 200, "loyalty: {status} {view}");
        step("card swiped, 10% off, updateInvoice", &view);
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        phone(stack, "pay", json!({"code": reference, "shopper": "bob"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "paid")?;
        anyhow::ensure!(view["paid"]["amount"] == "180.00", "paid {}", view["paid"]);
        phone(stack, "remember-card", json!({"code": reference, "remember": true})).await?;
        Ok(())
    })
}

fn loyalty_swiped_before_scan(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let card = json!([{"id": "ACME_CARD", "value": "2610422222220", "description": "Acme Club", "status": "used"}]);
        let (id, reference) = issued(
            stack,
            "till-2",
            invoice("IMMEDIATE_DEBIT", "OPTIONAL_ACKNOWLEDGMENT", "80.00", json!({})),
            card.clone(),
        )
        .await?;
        phone(stack, "scan", json!({"code": reference, "shopper": "carol"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls (token offered back)", &view);
        expect(&view, "pending_acknowledge")?;
        let (status, view) = stack
            .post(&format!("/v1/invoices/{id}/loyalty"), &json!({
                "rows": [{"description": "Coffee beans (member price)", "quantity": "1", "total": {"amount": "72.00", "currency": "SEK"}}],
                "total": {"amount": "72.00", "currency": "SEK"}, "tokens": card
            }))
            .await?;
        anyhow::ensure!(status == 200, "loyalty: {status} {view}");
        step("loyalty applied, updateInvoice", &view);
        phone(stack, "pay", json!({"code": reference, "shopper": "carol"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "paid")
    })
}

fn loyalty_account_in_phone(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let (status, body) = stack
            .sim_call(
                reqwest::Method::POST,
                "/sim/shoppers/dave/cards",
                Some(&json!({"id": "ACME_CARD", "value": "2610433333330", "description": "Acme Club"})),
            )
            .await?;
        anyhow::ensure!(status == 200, "remember card: {status} {body}");
        say("   phone: dave keeps his Acme Club card in SEQR");
        let (id, reference) = issued(
            stack,
            "till-1",
            invoice("IMMEDIATE_DEBIT", "OPTIONAL_ACKNOWLEDGMENT", "120.00", json!({})),
            json!([]),
        )
        .await?;
        phone(stack, "scan", json!({"code": reference, "shopper": "dave"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls: token from SEQR", &view);
        expect(&view, "pending_acknowledge")?;
        let offered = view["offered_tokens"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(!offered.is_empty(), "no token offered");
        let mut used = offered[0].clone();
        used["status"] = json!("used");
        let (status, view) = stack
            .post(&format!("/v1/invoices/{id}/loyalty"), &json!({
                "rows": [{"description": "Coffee beans (member price)", "quantity": "1", "total": {"amount": "100.00", "currency": "SEK"}}],
                "total": {"amount": "100.00", "currency": "SEK"}, "tokens": [used]
            }))
            .await?;
        anyhow::ensure!(status == 200, "loyalty: {status} {view}");
        step("updateInvoice with the token used", &view);
        phone(stack, "pay", json!({"code": reference, "shopper": "dave"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "paid")
    })
}

fn preliminary_payment(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let body = invoice(
            "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
            "NO_ACKNOWLEDGMENT",
            "500.00",
            json!({"commit_reservation_timeout": 3600, "title": "Fuel (preliminary)"}),
        );
        let (id, reference) = issued(stack, "till-2", body, json!([])).await?;
        phone(stack, "pay", json!({"code": reference, "shopper": "erin"})).await?;
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "reserved")?;
        let (status, view) = stack
            .post(&format!("/v1/invoices/{id}/commit"), &json!({"amount": {"amount": "312.45", "currency": "SEK"}}))
            .await?;
        anyhow::ensure!(status == 200, "commit: {status} {view}");
        step("commitReservation 312.45", &view);
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "paid")?;
        anyhow::ensure!(view["paid"]["amount"] == "312.45", "paid {}", view["paid"]);
        Ok(())
    })
}

fn in_app(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        // The webshop's own notificationUrl: seqrd hands SEQR its own, and forwards once it has seen PAID.
        let (shop, mut shop_inbox) = stack::merchant_endpoint().await?;
        let body = invoice(
            "IMMEDIATE_DEBIT",
            "NO_ACKNOWLEDGMENT",
            "59.00",
            json!({"back_url": "https://shop.example/seqr/done?order=42", "notification_url": format!("{shop}/seqr/notify?order=42")}),
        );
        let (id, reference) = issued(stack, "web-1", body, json!([])).await?;
        let view = stack.get(&format!("/v1/invoices/{id}")).await?;
        say(&format!("   app link: {}", view["app_links"]["seqr_demo"].as_str().unwrap_or("")));
        let paid = phone(stack, "pay", json!({"code": reference, "shopper": "frank"})).await?;
        say(&format!("   phone opens backURL: {}", paid["back_url"].as_str().unwrap_or("-")));
        // SEQR posts the notificationUrl seqrd handed it; seqrd polls at once. Here one worker round runs it.
        let notified = stack.sim.as_ref().map(|s| s.notifications().len()).unwrap_or(0);
        say(&format!("   SEQR notifications sent so far: {notified}"));
        let view = poll_view(stack, &id).await?;
        step("notified, polled", &view);
        expect(&view, "paid")?;
        let forwarded = tokio::time::timeout(Duration::from_secs(10), shop_inbox.recv()).await.ok().flatten();
        say(&format!("   webshop notified by seqrd: POST {}", forwarded.as_deref().unwrap_or("(none)")));
        anyhow::ensure!(forwarded.is_some(), "the webshop's notificationUrl was not called");
        Ok(())
    })
}

fn cancel(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let (id, _) =
            issued(stack, "till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "35.00", json!({})), json!([]))
                .await?;
        let (status, view) = stack.post(&format!("/v1/invoices/{id}/cancel"), &json!({})).await?;
        anyhow::ensure!(status == 200, "cancel: {status} {view}");
        step("cancelInvoice", &view);
        let view = poll_view(stack, &id).await?;
        step("register polls", &view);
        expect(&view, "canceled")
    })
}

fn partial_refunds(stack: &Stack) -> futures::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let (id, reference) =
            issued(stack, "till-2", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "300.00", json!({})), json!([]))
                .await?;
        phone(stack, "pay", json!({"code": reference, "shopper": "grace"})).await?;
        let view = poll_view(stack, &id).await?;
        step("paid", &view);
        expect(&view, "paid")?;
        for amount in ["100.00", "50.00"] {
            let (status, view) = stack
                .post(
                    &format!("/v1/invoices/{id}/refunds"),
                    &json!({"amount": {"amount": amount, "currency": "SEK"}, "title": "Returned item"}),
                )
                .await?;
            anyhow::ensure!(status == 200, "refund {amount}: {status} {view}");
            step(&format!("refundPayment {amount}"), &view);
        }
        let (status, body) = stack
            .post(&format!("/v1/invoices/{id}/refunds"), &json!({"amount": {"amount": "150.01", "currency": "SEK"}}))
            .await?;
        say(&format!("   refund 150.01 refused: {status} {}", body["error"]["code"]));
        anyhow::ensure!(
            status == 422 && body["error"]["code"] == "refund_exceeds_paid",
            "over-refund not refused: {status} {body}"
        );
        let view = stack.get(&format!("/v1/invoices/{id}")).await?;
        anyhow::ensure!(view["refunded"]["amount"] == "150.00", "refunded {}", view["refunded"]);
        Ok(())
    })
}
