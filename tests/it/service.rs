//! seqrd end to end: the HTTP API, orchestration and workers against seqr-sim over HTTP, real Postgres (a fresh
//! database per test) and real RabbitMQ. Background work is driven one round at a time (`Stack::poll`,
//! `Relay::relay_once`); nothing sleeps to let a worker run.

use std::time::Duration;

use amqp::AmqpFeed;
use devstack::{
    demo::invoice,
    stack::{SeqrTarget, Stack},
};
use engine::{Poller, Relay};
use futures::StreamExt;
use lapin::{
    options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
    Connection, ConnectionProperties,
};
use reqwest::Method;
use seqr_sim::{faults::FaultAction, SimConfig};
use seqrd::config::RawConfig;
use serde_json::{json, Value};

use crate::common::{config, fault, held};
use sqlx::PgPool;
use uuid::Uuid;

const REGISTERS: &[(&str, &str, &str)] = &[("acme", "north", "till-1"), ("acme", "south", "till-2")];

async fn stack(pool: PgPool, tenant: &str) -> Stack {
    Stack::start(config(), pool, SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())), tenant, REGISTERS)
        .await
        .expect("stack starts")
}

async fn issue_paid(stack: &Stack, total: &str) -> String {
    let (status, view) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", total, json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    let (status, body) =
        stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s1"})).await.unwrap();
    assert_eq!(status, 200, "{body}");
    stack.poll(id.parse().unwrap()).await.unwrap();
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!(view["status"], "paid", "{view}");
    id
}

/// An exclusive queue on the stack's feed exchange, bound with `binding`; returns the connection (keep it), the
/// channel and the queue's name.
async fn feed_queue(stack: &Stack, binding: &str) -> (Connection, lapin::Channel, String) {
    let connection = Connection::connect(&stack.config.amqp_url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let exchange = &stack.config.exchange;
    amqp::declare_exchange(&channel, exchange).await.unwrap();
    let queue = channel
        .queue_declare(
            "",
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let name = queue.name().as_str().to_owned();
    channel.queue_bind(&name, exchange, binding, QueueBindOptions::default(), FieldTable::default()).await.unwrap();
    (connection, channel, name)
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn general_payment_reaches_rabbitmq_in_order(pool: PgPool) {
    let stack = stack(pool, "t1").await;
    let amqp_url = stack.config.amqp_url.clone();
    let exchange = stack.config.exchange.clone();
    // Bound to one store only: the other store's events must not arrive.
    let (_connection, channel, queue) = feed_queue(&stack, "t1.north.#").await;

    let id = issue_paid(&stack, "149.90").await;
    let (status, other) = stack
        .issue("till-2", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "5.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{other}");

    let mut relay = Relay::new(stack.engine.store().clone(), AmqpFeed::new(&amqp_url, &exchange), "relay");
    let head = stack.engine.store().head().await.unwrap();
    let relayed = relay.catch_up_to(head, Duration::from_secs(30)).await.unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(relayed as i64, total, "every event relayed once");

    let mut consumer = channel
        .basic_consume(&queue, "t", BasicConsumeOptions { no_ack: true, ..Default::default() }, FieldTable::default())
        .await
        .unwrap();
    let stored = stack.engine.store().read_stream(id.parse().unwrap()).await.unwrap();
    let mut received = Vec::new();
    while received.len() < stored.len() {
        let delivery =
            tokio::time::timeout(Duration::from_secs(10), consumer.next()).await.expect("message").unwrap().unwrap();
        let body: Value = serde_json::from_slice(&delivery.data).unwrap();
        assert_eq!(
            delivery.properties.message_id().as_ref().map(|s| s.as_str().to_owned()),
            Some(body["id"].as_str().unwrap().to_owned())
        );
        assert_eq!(delivery.properties.content_type().as_ref().map(|s| s.as_str()), Some("application/json"));
        assert_eq!(delivery.routing_key.as_str(), format!("t1.north.{}", body["type"].as_str().unwrap()));
        assert_eq!(body["invoice_id"], id.as_str(), "only the north store's invoice");
        received.push(body);
    }
    let types: Vec<_> = received.iter().map(|b| b["type"].as_str().unwrap().to_owned()).collect();
    // The register first polled after the shopper paid: one observation, PAID.
    assert_eq!(types, ["invoice_issued", "send_invoice_requested", "call_succeeded", "status_observed"]);
    let versions: Vec<_> = received.iter().map(|b| b["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3, 4], "in order per invoice");
    assert_eq!(received[3]["data"]["status"], "PAID");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn idempotency_key_semantics(pool: PgPool) {
    let stack = stack(pool.clone(), "t1").await;
    let body = json!({"terminal_id": "till-1", "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "10.00", json!({"client_invoice_id": "A1"}))});
    let (s1, first) = stack.call(Method::POST, "/v1/invoices", Some(&body), Some("key-1")).await.unwrap();
    assert_eq!(s1, 201, "{first}");
    let (s2, second) = stack.call(Method::POST, "/v1/invoices", Some(&body), Some("key-1")).await.unwrap();
    assert_eq!((s2, &second), (201, &first), "same key, same body: the stored answer");
    let invoices: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT stream_id) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(invoices, 1, "nothing issued twice");
    let mut other = body.clone();
    other["invoice"]["client_invoice_id"] = json!("A2");
    let (s3, e3) = stack.call(Method::POST, "/v1/invoices", Some(&other), Some("key-1")).await.unwrap();
    assert_eq!((s3, e3["error"]["code"].as_str()), (422, Some("idempotency_key_reused")));

    // A duplicate while the first is still running: 409. The first is held up inside SEQR (sim latency).
    let id = issue_paid(&stack, "50.00").await;
    stack.sim.as_ref().unwrap().add_fault(held("refundPayment", 1500));
    let refund = json!({"amount": {"amount": "5.00", "currency": "SEK"}});
    let path = format!("/v1/invoices/{id}/refunds");
    let slow = stack.call(Method::POST, &path, Some(&refund), Some("refund-1"));
    let duplicate = async {
        // Wait (without sleeping a fixed time) until the first request has claimed its key.
        loop {
            let claimed: Option<String> =
                sqlx::query_scalar("SELECT state FROM idempotency_keys WHERE idempotency_key = 'refund-1'")
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            if claimed.is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        stack.call(Method::POST, &path, Some(&refund), Some("refund-1")).await.unwrap()
    };
    let ((s_first, first), (s_dup, dup)) = tokio::join!(async { slow.await.unwrap() }, duplicate);
    assert_eq!(s_first, 200, "{first}");
    assert_eq!((s_dup, dup["error"]["code"].as_str()), (409, Some("idempotency_key_in_use")));
    let (s_again, again) = stack.call(Method::POST, &path, Some(&refund), Some("refund-1")).await.unwrap();
    assert_eq!((s_again, &again), (200, &first));
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!(view["refunded"]["amount"], "5.00", "refunded once");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn tenants_are_isolated_and_bad_input_is_typed(pool: PgPool) {
    let stack = stack(pool.clone(), "t1").await;
    let id = issue_paid(&stack, "20.00").await;
    store_pg::access::ensure_tenant(&pool, "t2", "other").await.unwrap();
    let other = stack.engine.create_api_key("t2", None).await.unwrap();
    let (status, body) = stack.call_as(&other, Method::GET, &format!("/v1/invoices/{id}"), None, None).await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let refund = json!({"amount": {"amount": "1.00", "currency": "SEK"}});
    let (status, _) =
        stack.call_as(&other, Method::POST, &format!("/v1/invoices/{id}/refunds"), Some(&refund), None).await.unwrap();
    assert_eq!(status, 404);
    let (status, _) =
        stack.call_as(&other, Method::GET, &format!("/v1/invoices/{id}/events"), None, None).await.unwrap();
    assert_eq!(status, 404);
    // A key for one store cannot issue at another store's register.
    let north = stack.engine.create_api_key("t1", Some(&["north".to_owned()])).await.unwrap();
    let body =
        json!({"terminal_id": "till-2", "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "1.00", json!({}))});
    let (status, e) = stack.call_as(&north, Method::POST, "/v1/invoices", Some(&body), None).await.unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("unknown_terminal")));
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!(view["refunded"]["amount"], "0.00", "the other tenant changed nothing");
    assert!(
        !view.to_string().contains("terminal-pw") && !view.to_string().contains("password"),
        "no credentials in the API"
    );

    // Bad input: typed errors, nothing written.
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    let raw = stack
        .http
        .post(format!("{}/v1/invoices", stack.api))
        .bearer_auth(&stack.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let (status, e) = stack
        .post(&format!("/v1/invoices/{id}/refunds"), &json!({"amount": {"amount": "1.00", "currency": "EUR"}}))
        .await
        .unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("currency_mismatch")));
    let (status, e) = stack
        .post(&format!("/v1/invoices/{id}/refunds"), &json!({"amount": {"amount": "20.01", "currency": "SEK"}}))
        .await
        .unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("refund_exceeds_paid")));
    let (status, e) = stack
        .post(&format!("/v1/invoices/{id}/commit"), &json!({"amount": {"amount": "1.00", "currency": "SEK"}}))
        .await
        .unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("invoice_not_reserved")));
    let (status, _) = stack.call_as("sk_wrong", Method::GET, &format!("/v1/invoices/{id}"), None, None).await.unwrap();
    assert_eq!(status, 401);
    let huge = "x".repeat(http_api::MAX_BODY_BYTES + 1);
    let raw = stack
        .http
        .post(format!("{}/v1/invoices", stack.api))
        .bearer_auth(&stack.key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 413);
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(events_before, events_after);
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn unknown_outcomes_are_resolved_and_money_calls_never_repeated(pool: PgPool) {
    let stack = stack(pool.clone(), "t1").await;
    let sim = stack.sim.as_ref().unwrap();

    // Cancel: the answer is lost after SEQR canceled; the worker repeats the harmless cancel (95) and resolves it.
    let (status, view) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "30.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let cancel_id = view["id"].as_str().unwrap().to_owned();
    sim.add_fault(fault("cancelInvoice", FaultAction::DropAfter));
    let (status, view) = stack.post(&format!("/v1/invoices/{cancel_id}/cancel"), &json!({})).await.unwrap();
    assert_eq!(status, 202, "{view}");
    assert_eq!(view["calls"].as_array().unwrap().last().unwrap()["state"], "unknown");
    stack.poll(cancel_id.parse().unwrap()).await.unwrap();
    let view = stack.get(&format!("/v1/invoices/{cancel_id}")).await.unwrap();
    assert_eq!(view["status"], "canceled", "{view}");

    // Refund: the answer is lost after SEQR refunded. It is never repeated: the amount stays in flight and blocks
    // over-refunding until finance resolves it.
    let id = issue_paid(&stack, "100.00").await;
    sim.add_fault(fault("refundPayment", FaultAction::DropAfter));
    let (status, view) = stack
        .post(&format!("/v1/invoices/{id}/refunds"), &json!({"amount": {"amount": "60.00", "currency": "SEK"}}))
        .await
        .unwrap();
    assert_eq!(status, 202, "{view}");
    assert_eq!(view["refunds_in_flight"]["amount"], "60.00");
    let (status, e) = stack
        .post(&format!("/v1/invoices/{id}/refunds"), &json!({"amount": {"amount": "50.00", "currency": "SEK"}}))
        .await
        .unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("refund_exceeds_paid")));
    stack.poll(id.parse().unwrap()).await.ok();
    let ledger_refunds: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'refund_requested'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(ledger_refunds, 1, "the refund was not repeated by the worker");
    let sim_refunds = sim.with_seqr(|e, _| e.ledger().iter().filter(|l| l.kind == "REFUND").count());
    assert_eq!(sim_refunds, 1, "SEQR saw one refund");
    let call = view["calls"].as_array().unwrap().last().unwrap()["call_id"].as_str().unwrap().to_owned();
    let (status, view) = stack
        .post(
            &format!("/v1/invoices/{id}/calls/{call}/resolve"),
            &json!({"outcome": "succeeded", "note": "in STD_RECON_003"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["refunded"]["amount"], "60.00");

    // Commit: the answer is lost after SEQR committed; the next status (PAID) resolves it.
    let body =
        invoice("RESERVATION_REQUIRED", "NO_ACKNOWLEDGMENT", "80.00", json!({"commit_reservation_timeout": 600}));
    let (_, view) = stack.issue("till-2", body, json!([])).await.unwrap();
    let rid = view["id"].as_str().unwrap().to_owned();
    stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s2"})).await.unwrap();
    stack.poll(rid.parse().unwrap()).await.unwrap();
    sim.add_fault(fault("commitReservation", FaultAction::DropAfter));
    let (status, _) = stack
        .post(&format!("/v1/invoices/{rid}/commit"), &json!({"amount": {"amount": "70.00", "currency": "SEK"}}))
        .await
        .unwrap();
    assert_eq!(status, 202);
    stack.poll(rid.parse().unwrap()).await.unwrap();
    let view = stack.get(&format!("/v1/invoices/{rid}")).await.unwrap();
    assert_eq!((view["status"].as_str(), view["paid"]["amount"].as_str()), (Some("paid"), Some("70.00")), "{view}");

    // SEQR busy on sendInvoice: definitely not done, never retried, answered at once as a SEQR rejection.
    sim.add_fault(fault("sendInvoice", FaultAction::SystemBusy));
    let (status, e) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "1.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(
        (status, e["error"]["code"].as_str(), e["error"]["seqr_result_code"].as_i64()),
        (422, Some("seqr_rejected"), Some(93))
    );
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn two_instances_share_polling_and_take_over_expired_leases(pool: PgPool) {
    let stack = stack(pool.clone(), "t1").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let terminal = if i % 2 == 0 { "till-1" } else { "till-2" };
        let (status, view) = stack
            .issue(terminal, invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "3.00", json!({})), json!([]))
            .await
            .unwrap();
        assert_eq!(status, 201);
        ids.push(view["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    sqlx::query("UPDATE poll_jobs SET due_at = now()").execute(&pool).await.unwrap();
    let a = Poller::new(stack.engine.clone(), "instance-a");
    let b = Poller::new(stack.engine.clone(), "instance-b");
    let (ra, rb) = tokio::join!(a.poll_once(), b.poll_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut all: Vec<Uuid> = ra.invoices.iter().chain(&rb.invoices).copied().collect();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "every invoice polled exactly once between the two instances");
    assert_eq!(ra.polls + rb.polls, ids.len());

    // A registered terminal holds one open invoice: SEQR canceled all but the last of each register, and those
    // need no more polling.
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM poll_jobs").fetch_one(&pool).await.unwrap();
    assert_eq!(open, 2);

    // A crashed instance holds leases that expire; the other carries on.
    sqlx::query("UPDATE poll_jobs SET due_at = now()").execute(&pool).await.unwrap();
    let dead = store_pg::jobs::lease(&pool, "crashed", 100, Duration::from_secs(30)).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert_eq!(b.poll_once().await.unwrap().attended, 0, "live leases are respected");
    // Time passes: the crashed instance's leases run out.
    sqlx::query("UPDATE poll_jobs SET lease_until = now() - interval '1 second' WHERE lease_owner = 'crashed'")
        .execute(&pool)
        .await
        .unwrap();
    let taken = b.poll_once().await.unwrap();
    assert_eq!(taken.attended, 2, "the expired leases were taken over");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn in_app_notifications_reach_seqrd_and_are_forwarded_to_the_merchant(pool: PgPool) {
    let mut config = config();
    // The merchant's endpoint below listens on loopback over http.
    config.merchant_urls = engine::MerchantUrlPolicy { allow_http: true, allow_private: true };
    // The sim also posts the notification, in the background: each notification may wake the invoice here.
    config.notification_min_interval = Duration::from_millis(1);
    let stack = Stack::start(
        config,
        pool.clone(),
        SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())),
        "t1",
        REGISTERS,
    )
    .await
    .unwrap();
    let (shop, mut inbox) = devstack::stack::merchant_endpoint().await.unwrap();
    let body = invoice(
        "IMMEDIATE_DEBIT",
        "NO_ACKNOWLEDGMENT",
        "59.00",
        json!({"back_url": "https://shop.example/done", "notification_url": format!("{shop}/notify?order=7")}),
    );
    let (status, view) = stack.issue("till-1", body, json!([])).await.unwrap();
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    let (_, paid) = stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s1"})).await.unwrap();
    assert_eq!(paid["back_url"], "https://shop.example/done", "the phone opens the merchant's backURL");

    // SEQR was handed seqrd's own notificationUrl (a token bound to this invoice), not the merchant's.
    let token: String = sqlx::query_scalar("SELECT token FROM notification_tokens WHERE invoice_id = $1::uuid")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let url = format!("{}/v1/seqr/notifications/{token}", stack.api);
    // What SEQR does (the sim posts it too, in the background): the invoice becomes due at once.
    sqlx::query("UPDATE poll_jobs SET due_at = now() + interval '1 hour' WHERE invoice_id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(stack.http.post(&url).send().await.unwrap().status().as_u16(), 200);
    let due: bool = sqlx::query_scalar("SELECT due_at <= now() FROM poll_jobs WHERE invoice_id = $1::uuid")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(due, "a notification makes the invoice due at once");
    let forged = format!("{}/v1/seqr/notifications/{}", stack.api, "0".repeat(48));
    assert_eq!(stack.http.post(&forged).send().await.unwrap().status().as_u16(), 404);

    // Once seqrd has seen PAID, the merchant's own notificationUrl is called.
    stack.poll(id.parse().unwrap()).await.unwrap();
    assert_eq!(stack.get(&format!("/v1/invoices/{id}")).await.unwrap()["status"], "paid");
    let forwarded = tokio::time::timeout(Duration::from_secs(10), inbox.recv()).await.expect("forwarded").unwrap();
    assert_eq!(forwarded, "/notify?order=7");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn every_seed_flow_end_to_end_with_its_messages_gen_b(pool: PgPool) {
    seed_flows_end_to_end(pool, true).await.shutdown().await;
}

/// Schema Gen A: commitReservation carries no amount. The preliminary-payment flow's lower final amount (312.45 of a
/// 500.00 reservation) is set with updateInvoice first, so SEQR's ledger and seqrd's both show 312.45.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn every_seed_flow_end_to_end_with_its_messages_gen_a(pool: PgPool) {
    let stack = seed_flows_end_to_end(pool.clone(), false).await;
    let sim_payments: Vec<String> =
        stack.sim.as_ref().unwrap().with_seqr(|e, _| {
            e.ledger().iter().filter(|l| l.kind == "PAYMENT").map(|l| l.amount.to_string()).collect()
        });
    assert!(sim_payments.iter().any(|a| a == "312.45"), "SEQR took the lower amount: {sim_payments:?}");
    assert!(!sim_payments.iter().any(|a| a == "500.00" || a == "500"), "nothing charged the whole reservation");
    let projection = store_pg::Subscription::new(
        stack.engine.store().clone(),
        store_pg::InvoiceProjection,
        store_pg::SubscriptionConfig::new(1000, Duration::from_secs(3600)),
    );
    let head = stack.engine.store().head().await.unwrap();
    projection.catch_up_to(head).await.unwrap();
    let ledger: Vec<String> =
        sqlx::query_scalar("SELECT amount::text FROM ledger WHERE kind = 'payment'").fetch_all(&pool).await.unwrap();
    assert!(ledger.iter().any(|a| a == "312.45"), "seqrd's ledger: {ledger:?}");
    assert!(!ledger.iter().any(|a| a == "500.00"), "seqrd's ledger: {ledger:?}");
    stack.shutdown().await;
}

async fn seed_flows_end_to_end(pool: PgPool, gen_b: bool) -> Stack {
    let mut config = config();
    config.seqr_gen_b = gen_b;
    // The in-app flow's webshop listens on loopback over http.
    config.merchant_urls = engine::MerchantUrlPolicy { allow_http: true, allow_private: true };
    let mut sim = SimConfig::seqr_defaults();
    sim.gen_b = gen_b;
    let stack =
        Stack::start(config, pool.clone(), SeqrTarget::InProcess(Box::new(sim)), "seeds", devstack::demo::REGISTERS)
            .await
            .unwrap();
    let amqp_url = stack.config.amqp_url.clone();
    let exchange = stack.config.exchange.clone();
    let (_connection, channel, queue) = feed_queue(&stack, "seeds.#").await;

    for (name, flow) in devstack::demo::FLOWS {
        flow(&stack).await.unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }

    let mut relay = Relay::new(stack.engine.store().clone(), AmqpFeed::new(&amqp_url, &exchange), "relay");
    let head = stack.engine.store().head().await.unwrap();
    relay.catch_up_to(head, Duration::from_secs(30)).await.unwrap();
    let stored: Vec<(Uuid, i64, String)> =
        sqlx::query_as("SELECT stream_id, version, event_type FROM events ORDER BY stream_id, version")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut consumer = channel
        .basic_consume(&queue, "t", BasicConsumeOptions { no_ack: true, ..Default::default() }, FieldTable::default())
        .await
        .unwrap();
    let mut received: Vec<(Uuid, i64, String)> = Vec::new();
    while received.len() < stored.len() {
        let delivery =
            tokio::time::timeout(Duration::from_secs(10), consumer.next()).await.expect("message").unwrap().unwrap();
        let body: Value = serde_json::from_slice(&delivery.data).unwrap();
        received.push((
            body["invoice_id"].as_str().unwrap().parse().unwrap(),
            body["version"].as_i64().unwrap(),
            body["type"].as_str().unwrap().to_owned(),
        ));
    }
    // Per invoice, the messages arrived in stream order (the order across invoices is the commit order).
    let mut per_invoice: std::collections::BTreeMap<Uuid, Vec<i64>> = Default::default();
    for (invoice, version, _) in &received {
        per_invoice.entry(*invoice).or_default().push(*version);
    }
    for (invoice, versions) in &per_invoice {
        assert!(versions.windows(2).all(|w| w[0] + 1 == w[1]) && versions[0] == 1, "{invoice}: {versions:?}");
    }
    received.sort();
    assert_eq!(received, stored, "every event of every flow, once");
    for kind in [
        "status_observed",
        "invoice_update_requested",
        "commit_requested",
        "cancel_requested",
        "refund_requested",
        "receipt_submit_requested",
    ] {
        assert!(stored.iter().any(|(_, _, t)| t == kind), "the flows produced no {kind}");
    }
    stack
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn bad_configuration_and_unreachable_services_fail_start_up_with_a_message(pool: PgPool) {
    fn message(pairs: &[(&str, &str)]) -> String {
        let env = |k: &str| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned());
        RawConfig::load(None, env).and_then(RawConfig::resolve).err().map(|e| e.to_string()).unwrap_or_default()
    }
    let db = "postgres://seqrd@127.0.0.1:5432/seqrd";
    assert!(message(&[]).contains("DATABASE_URL"));
    assert!(message(&[("DATABASE_URL", db), ("SEQRD_HTTP_ADDR", "nowhere")]).contains("SEQRD_HTTP_ADDR"));
    assert!(message(&[("DATABASE_URL", db), ("SEQRD_ADMIN_ADDR", "nowhere")]).contains("SEQRD_ADMIN_ADDR"));
    assert!(message(&[("DATABASE_URL", db), ("SEQRD_ADMIN_ADDR", "off")]).is_empty());
    // Leases sized against SEQR's reversal window: a 30 s lease could let a crashed worker's sale be reversed.
    let lease = message(&[("DATABASE_URL", db), ("SEQRD_LEASE_MS", "30000")]);
    assert!(lease.contains("SEQRD_LEASE_MS") && lease.contains("SEQRD_SEQR_REVERSAL_WINDOW_MS"), "{lease}");
    assert!(message(&[("DATABASE_URL", db), ("SEQRD_LEASE_MS", "30000"), ("SEQRD_SEQR_REVERSAL_WINDOW_MS", "120000")])
        .is_empty());
    let defaults =
        RawConfig::load(None, |k| (k == "DATABASE_URL").then(|| db.to_owned())).and_then(RawConfig::resolve).unwrap();
    assert_eq!(defaults.poll.lease, Duration::from_secs(5), "a quarter of the 20 s window");
    assert!(message(&[("DATABASE_URL", db), ("SEQRD_POLL_ACTIVE_MS", "soon")]).contains("SEQRD_POLL_ACTIVE_MS"));
    assert!(message(&[("DATABASE_URL", db), ("AMQP_URL", "http://x")]).contains("AMQP_URL"));
    assert!(message(&[("DATABASE_URL", db), ("SEQR_URL", "ftp://x")]).contains("SEQR_URL"));
    assert_eq!(message(&[("DATABASE_URL", db)]), "", "a valid configuration resolves");

    // Postgres unreachable.
    let mut unreachable = config();
    unreachable.database_url = "postgres://seqrd@127.0.0.1:1/seqrd?sslmode=disable".to_owned();
    let (_trigger, signal) = engine::shutdown::channel();
    let e = seqrd::app::run(unreachable, &[seqrd::app::Part::Api], signal.clone()).await.unwrap_err();
    assert!(format!("{e:#}").contains("cannot connect to Postgres") && format!("{e:#}").contains("ops/up"), "{e:#}");
    // The real cause, not a pool timeout.
    assert!(format!("{e:#}").to_lowercase().contains("refused"), "{e:#}");

    // RabbitMQ unreachable (Postgres fine: this test's database).
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&pool).await.unwrap();
    let mut no_rabbit = config();
    let mut url = url::Url::parse(&no_rabbit.database_url).unwrap();
    url.set_path(&format!("/{name}"));
    no_rabbit.database_url = url.to_string();
    no_rabbit.amqp_url = "amqp://guest:guest@127.0.0.1:1/%2f".to_owned();
    let mut wrong_password = no_rabbit.clone();
    let e = seqrd::app::run(no_rabbit, &[seqrd::app::Part::Relay], signal.clone()).await.unwrap_err();
    assert!(format!("{e:#}").contains("cannot connect to RabbitMQ") && format!("{e:#}").contains("running"), "{e:#}");
    // A broker that answers but refuses the login is not "not running".
    let mut amqp = url::Url::parse(&config().amqp_url).unwrap();
    amqp.set_password(Some("not-the-password")).unwrap();
    wrong_password.amqp_url = amqp.to_string();
    let e = seqrd::app::run(wrong_password, &[seqrd::app::Part::Relay], signal).await.unwrap_err();
    assert!(format!("{e:#}").contains("refused the user or password"), "{e:#}");
    assert!(!format!("{e:#}").contains("not-the-password"), "the password is not shown: {e:#}");
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_retried_command_never_sends_the_original_call_again(pool: PgPool) {
    let stack = stack(pool.clone(), "t1").await;
    let id = issue_paid(&stack, "40.00").await;
    // A first attempt recorded its refund request under the key, then its process died (no answer recorded).
    let amount = domain::Money::parse("15.00", domain::Currency::parse("SEK").unwrap()).unwrap();
    let meta = engine::metadata("api:test", None);
    // The command key the API derives from the caller's API key and its Idempotency-Key.
    let key_id: Uuid = sqlx::query_scalar("SELECT key_id FROM api_keys").fetch_one(&pool).await.unwrap();
    let command_key = format!("http:{key_id}:retry-1");
    let refund = domain::Command::Refund(domain::RefundPayment {
        at: chrono::Utc::now(),
        call_id: domain::CallId(Uuid::now_v7()),
        amount,
        title: None,
        rows: vec![],
    });
    stack.engine.record(domain::InvoiceId(id.parse().unwrap()), &meta, Some(&command_key), refund).await.unwrap();
    // The client retries with the same key: the request is not sent to SEQR a second time.
    let body = json!({"amount": {"amount": "15.00", "currency": "SEK"}});
    let (status, view) =
        stack.call(Method::POST, &format!("/v1/invoices/{id}/refunds"), Some(&body), Some("retry-1")).await.unwrap();
    assert_eq!(status, 202, "{view}");
    assert_eq!(view["refunds_in_flight"]["amount"], "15.00");
    let sim_refunds =
        stack.sim.as_ref().unwrap().with_seqr(|e, _| e.ledger().iter().filter(|l| l.kind == "REFUND").count());
    assert_eq!(sim_refunds, 0, "nothing was sent again");
    let requested: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'refund_requested'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(requested, 1, "nothing was decided twice");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_part_runs_alone_from_a_config_file_and_stops_cleanly(pool: PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&pool).await.unwrap();
    let mut url = url::Url::parse(&config().database_url).unwrap();
    url.set_path(&format!("/{name}"));
    let dir = std::env::temp_dir().join(format!("seqrd-config-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("seqrd.toml");
    std::fs::write(&file, format!("database_url = \"{url}\"\nhttp_addr = \"127.0.0.1:0\"\npoll_batch = 7\n")).unwrap();
    // The file is read, and the environment wins over it.
    let config = RawConfig::load(Some(&file), |k| (k == "SEQRD_POLL_BATCH").then(|| "9".to_owned()))
        .and_then(RawConfig::resolve)
        .unwrap();
    assert_eq!(config.database_url, url.to_string());
    assert_eq!(config.poll.batch, 9);
    std::fs::write(&file, "database_url = 5\n").unwrap();
    let e = RawConfig::load(Some(&file), |_| None).unwrap_err().to_string();
    assert!(e.contains("seqrd.toml") && e.contains("not valid"), "{e}");
    std::fs::write(&file, "databse_url = \"x\"\n").unwrap();
    assert!(RawConfig::load(Some(&file), |_| None).is_err(), "unknown keys are refused");

    // Only the projectors, until shutdown: they start on their own and stop when told.
    let (trigger, signal) = engine::shutdown::channel();
    let run = tokio::spawn(seqrd::app::run(config, &[seqrd::app::Part::Projectors], signal));
    trigger.fire();
    run.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn the_seqr_rate_budget_is_shared_by_the_live_instances(pool: PgPool) {
    let mut config = config();
    config.seqr_rate_limit = 100;
    let stack = Stack::start(
        config,
        pool.clone(),
        SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())),
        "t1",
        REGISTERS,
    )
    .await
    .unwrap();
    let a = Poller::new(stack.engine.clone(), "instance-a");
    let b = Poller::new(stack.engine.clone(), "instance-b");
    assert_eq!(a.heartbeat().await.unwrap(), 1);
    assert_eq!(stack.engine.seqr_rate_per_second(), 100);
    assert_eq!(b.heartbeat().await.unwrap(), 2);
    assert_eq!(stack.engine.seqr_rate_per_second(), 50, "two live instances share the fleet budget");
    // An instance that stopped beating no longer counts.
    sqlx::query("UPDATE instances SET seen_at = now() - interval '1 minute' WHERE instance_id = 'instance-a'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(b.heartbeat().await.unwrap(), 1);
    assert_eq!(stack.engine.seqr_rate_per_second(), 100);
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn the_worker_enforces_the_reservation_deadline(pool: PgPool) {
    let stack = stack(pool.clone(), "t1").await;
    let body =
        invoice("RESERVATION_REQUIRED", "NO_ACKNOWLEDGMENT", "90.00", json!({"commit_reservation_timeout": 600}));
    let (status, view) = stack.issue("till-1", body, json!([])).await.unwrap();
    assert_eq!(status, 201, "{view}");
    let id: Uuid = view["id"].as_str().unwrap().parse().unwrap();
    stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s1"})).await.unwrap();
    // The reservation was seen 700 s ago (its deadline, 600 s after that, has passed): recorded as that observation.
    let meta = engine::metadata("test", None);
    let seen = chrono::Utc::now() - chrono::Duration::seconds(700);
    let observed = domain::Command::ObserveStatus(domain::ObserveStatus {
        at: seen,
        status: domain::SeqrStatus::Reserved,
        invoice_version: 2,
        customer_tokens: vec![],
        payment: None,
    });
    stack.engine.record(domain::InvoiceId(id), &meta, None, observed).await.unwrap();
    stack.poll(id).await.unwrap();
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!(view["status"], "expired", "{view}");
    let (status, e) = stack
        .post(&format!("/v1/invoices/{id}/commit"), &json!({"amount": {"amount": "90.00", "currency": "SEK"}}))
        .await
        .unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("invoice_closed")), "no commit after the deadline");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn openapi_describes_every_route(pool: PgPool) {
    let stack = stack(pool, "t1").await;
    let spec =
        stack.http.get(format!("{}/v1/openapi.json", stack.api)).send().await.unwrap().json::<Value>().await.unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/v1/invoices",
        "/v1/invoices/{id}",
        "/v1/invoices/{id}/events",
        "/v1/invoices/{id}/loyalty",
        "/v1/invoices/{id}/commit",
        "/v1/invoices/{id}/cancel",
        "/v1/invoices/{id}/refunds",
        "/v1/invoices/{id}/receipt",
        "/v1/invoices/{id}/calls/{call_id}/resolve",
        "/v1/seqr/notifications/{token}",
        "/v1/openapi.json",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    // Every $ref points at a schema that exists.
    let text = spec.to_string();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for part in text.split("#/components/schemas/").skip(1) {
        let name: String = part.chars().take_while(|c| *c != '"').collect();
        assert!(schemas.contains_key(&name), "dangling $ref {name}");
    }
    stack.shutdown().await;
}

/// Gen A: the updateInvoice that sets a commit's lower final amount has its answer lost after SEQR acted. The commit
/// is not sent (202); a worker repeats the update (repeating it moves no money); the register's next commit charges
/// the lower amount, never the whole reservation.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_gen_a_commit_waits_for_its_final_total_whose_answer_was_lost(pool: PgPool) {
    let mut config = config();
    config.seqr_gen_b = false;
    let mut sim = SimConfig::seqr_defaults();
    sim.gen_b = false;
    let stack =
        Stack::start(config, pool, SeqrTarget::InProcess(Box::new(sim)), "t1", REGISTERS).await.expect("stack starts");
    let body =
        invoice("RESERVATION_REQUIRED", "NO_ACKNOWLEDGMENT", "500.00", json!({"commit_reservation_timeout": 600}));
    let (status, view) = stack.issue("till-1", body, json!([])).await.unwrap();
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s"})).await.unwrap();
    stack.poll(id.parse().unwrap()).await.unwrap();
    assert_eq!(stack.get(&format!("/v1/invoices/{id}")).await.unwrap()["status"], "reserved");

    let sim = stack.sim.as_ref().unwrap();
    sim.add_fault(fault("updateInvoice", FaultAction::DropAfter));
    let commit = json!({"amount": {"amount": "312.45", "currency": "SEK"}});
    let (status, view) = stack.post(&format!("/v1/invoices/{id}/commit"), &commit).await.unwrap();
    assert_eq!(status, 202, "{view}");
    let payments = || sim.with_seqr(|e, _| e.ledger().iter().filter(|l| l.kind == "PAYMENT").count());
    assert_eq!(payments(), 0, "no commit was sent while the final total is unknown");
    let kinds: Vec<&str> = view["calls"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert!(!kinds.contains(&"commit_reservation"), "{kinds:?}");

    stack.poll(id.parse().unwrap()).await.unwrap();
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!(view["total"]["amount"], "312.45", "the repeated update settled the final total: {view}");
    let (status, view) = stack.post(&format!("/v1/invoices/{id}/commit"), &commit).await.unwrap();
    assert_eq!(status, 200, "{view}");
    stack.poll(id.parse().unwrap()).await.unwrap();
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!((view["status"].as_str(), view["paid"]["amount"].as_str()), (Some("paid"), Some("312.45")), "{view}");
    let charged: Vec<String> =
        sim.with_seqr(|e, _| e.ledger().iter().filter(|l| l.kind == "PAYMENT").map(|l| l.amount.to_string()).collect());
    assert_eq!(charged, ["312.45"]);
    stack.shutdown().await;
}

/// SIGTERM with thousands of due polls: the worker loop stops before its next round, however full the last one was
/// (before, a full round went straight on to the next and a backlog kept the process polling for minutes).
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn workers_stop_at_shutdown_whatever_the_backlog(pool: PgPool) {
    let stack = stack(pool.clone(), "t1").await;
    sqlx::query(
        "INSERT INTO poll_jobs (invoice_id, due_at, interval_ms)
         SELECT gen_random_uuid(), now() - interval '1 minute', 1000 FROM generate_series(1, 3000)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (trigger, signal) = engine::shutdown::channel();
    trigger.fire();
    let poller = Poller::new(stack.engine.clone(), "draining".to_owned());
    tokio::time::timeout(Duration::from_secs(60), poller.run(signal)).await.expect("run returns").unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM poll_jobs").fetch_one(&pool).await.unwrap();
    assert!(left >= 3000 - i64::from(stack.config.poll.batch), "the backlog was worked off first: {left} left");
    let leased: i64 = sqlx::query_scalar("SELECT count(*) FROM poll_jobs WHERE lease_owner IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(leased, 0, "no lease is left behind for another process to wait out");
    stack.shutdown().await;
}
