//! The security issue's regressions, end to end against seqr-sim over HTTP and a fresh database per test: an
//! Idempotency-Key replay never crosses API keys, amounts and bodies are parsed exactly as published, merchant URLs
//! never reach internal addresses, a notification token cannot drive SEQR calls, and no part of an API key's
//! secret is recorded as an actor.

use std::time::Duration;

use devstack::{
    demo::invoice,
    stack::{SeqrTarget, Stack},
};
use engine::{MerchantUrlPolicy, OutboundError};
use reqwest::Method;
use seqr_sim::SimConfig;
use seqrd::config::Config;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::config;

const REGISTERS: &[(&str, &str, &str)] = &[("acme", "stockholm", "till-1"), ("acme", "goteborg", "till-2")];

async fn start(config: Config, pool: PgPool) -> Stack {
    Stack::start(config, pool, SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())), "t1", REGISTERS)
        .await
        .expect("stack starts")
}

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap()
}

fn issue_body(terminal: &str, total: &str) -> Value {
    json!({"terminal_id": terminal, "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", total, json!({"client_invoice_id": "S1"}))})
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn an_idempotency_key_replay_never_crosses_api_keys(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    let stockholm = stack.engine.create_api_key("t1", Some(&["stockholm".to_owned()])).await.unwrap();
    let goteborg = stack.engine.create_api_key("t1", Some(&["goteborg".to_owned()])).await.unwrap();

    // Göteborg's register issues an invoice and cancels it, each with an Idempotency-Key.
    let body = issue_body("till-2", "10.00");
    let (status, issued) =
        stack.call_as(&goteborg, Method::POST, "/v1/invoices", Some(&body), Some("gbg-issue")).await.unwrap();
    assert_eq!(status, 201, "{issued}");
    let id = issued["id"].as_str().unwrap().to_owned();
    let cancel = format!("/v1/invoices/{id}/cancel");
    let (status, canceled) =
        stack.call_as(&goteborg, Method::POST, &cancel, Some(&json!({})), Some("gbg-cancel")).await.unwrap();
    assert_eq!(status, 200, "{canceled}");
    // The same key replays its own answers.
    let (status, replayed) =
        stack.call_as(&goteborg, Method::POST, &cancel, Some(&json!({})), Some("gbg-cancel")).await.unwrap();
    assert_eq!((status, &replayed), (200, &canceled));

    // A Stockholm key sending the very same requests sees none of it: its own authorization applies.
    let (status, own_get) =
        stack.call_as(&stockholm, Method::GET, &format!("/v1/invoices/{id}"), None, None).await.unwrap();
    assert_eq!(status, 404, "{own_get}");
    let (status, answer) =
        stack.call_as(&stockholm, Method::POST, &cancel, Some(&json!({})), Some("gbg-cancel")).await.unwrap();
    assert_eq!(status, 404, "a replay of another key's cancel: {answer}");
    assert!(answer.get("id").is_none() && answer.get("invoice").is_none(), "no invoice view leaks: {answer}");
    let (status, answer) =
        stack.call_as(&stockholm, Method::POST, "/v1/invoices", Some(&body), Some("gbg-issue")).await.unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("unknown_terminal")), "{answer}");
    assert!(!answer.to_string().contains(&id), "{answer}");

    // Another key of the same tenant with access to every store runs a request of its own, not a replay.
    let events = event_count(&pool).await;
    let (status, answer) =
        stack.call_as(&stack.key, Method::POST, "/v1/invoices", Some(&body), Some("gbg-issue")).await.unwrap();
    assert_eq!(status, 201, "{answer}");
    assert_ne!(answer["id"], issued["id"], "a new invoice, not the other key's");
    assert!(event_count(&pool).await > events);
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn events_name_the_api_key_by_its_id_never_by_its_secret(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    let (status, view) = stack.post("/v1/invoices", &issue_body("till-1", "5.00")).await.unwrap();
    assert_eq!(status, 201, "{view}");
    let key_id: Uuid = sqlx::query_scalar("SELECT key_id FROM api_keys").fetch_one(&pool).await.unwrap();
    let actors: Vec<String> = sqlx::query_scalar("SELECT DISTINCT actor FROM events WHERE stream_id = $1::uuid")
        .bind(view["id"].as_str().unwrap())
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(actors.contains(&format!("api-key:{key_id}")), "{actors:?}");
    let secret = stack.key.trim_start_matches("sk_");
    let rows: Vec<String> = sqlx::query_scalar("SELECT concat_ws(' ', actor, idempotency_key, data::text) FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    for metadata in rows {
        for window in secret.as_bytes().windows(6) {
            let part = std::str::from_utf8(window).unwrap();
            assert!(!metadata.contains(part), "a piece of the key's secret ({part}) in {metadata}");
        }
    }
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn amounts_and_bodies_are_parsed_exactly_as_published(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    // Loosely spelled amounts never issue an invoice.
    for amount in ["1_000", "1e2", "1e-2", ".5", "+100.00", "1_0.00", "10.000", " 10", "-1"] {
        let before = event_count(&pool).await;
        let (status, answer) = stack.post("/v1/invoices", &issue_body("till-1", amount)).await.unwrap();
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("invalid_body")), "{amount:?}: {answer}");
        assert_eq!(event_count(&pool).await, before, "{amount:?}: nothing written");
    }
    // A paid invoice, then a refund spelled loosely: refused, nothing refunded.
    let (status, view) = stack.post("/v1/invoices", &issue_body("till-1", "100.00")).await.unwrap();
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    let (status, _) = stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s"})).await.unwrap();
    assert_eq!(status, 200);
    stack.poll(id.parse().unwrap()).await.unwrap();
    let refunds = format!("/v1/invoices/{id}/refunds");
    for amount in ["1_0.00", "1e1", "+10", "10.", "0x0A"] {
        let (status, answer) =
            stack.post(&refunds, &json!({"amount": {"amount": amount, "currency": "SEK"}})).await.unwrap();
        assert_eq!(status, 422, "{amount:?}: {answer}");
    }
    let (status, answer) = stack.post(&refunds, &json!({"amount": {"amount": 10, "currency": "SEK"}})).await.unwrap();
    assert_eq!(status, 422, "a JSON number is not an amount: {answer}");
    let refunded: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'refund_requested'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(refunded, 0, "no refund was requested");
    let (status, answer) =
        stack.post(&refunds, &json!({"amount": {"amount": "10.00", "currency": "SEK"}})).await.unwrap();
    assert_eq!(status, 200, "the plain spelling refunds: {answer}");
    assert_eq!(answer["refunded"]["amount"], "10.00", "{answer}");

    // A key given twice anywhere in a body is a 400; nothing is issued.
    let before = event_count(&pool).await;
    let total_twice = r#"{"terminal_id": "till-1", "invoice": {"payment_mode": "IMMEDIATE_DEBIT",
        "acknowledgment_mode": "NO_ACKNOWLEDGMENT", "title": "t", "client_invoice_id": "D1",
        "rows": [{"description": "x", "quantity": "1", "unit_price": {"amount": "1.00", "currency": "SEK"},
                  "total": {"amount": "1.00", "currency": "SEK"}}],
        "total": {"amount": "1.00", "currency": "SEK"}, "total": {"amount": "1000.00", "currency": "SEK"}}}"#;
    let nested_twice = total_twice.replace(
        r#""total": {"amount": "1.00", "currency": "SEK"}, "total": {"amount": "1000.00", "currency": "SEK"}"#,
        r#""total": {"amount": "1.00", "amount": "1000.00", "currency": "SEK"}"#,
    );
    for raw in [total_twice.to_owned(), nested_twice] {
        let response = stack
            .http
            .post(format!("{}/v1/invoices", stack.api))
            .bearer_auth(&stack.key)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "duplicate_key", "{answer}");
    }
    assert_eq!(event_count(&pool).await, before, "nothing written");

    // Unknown fields are refused at any depth, not dropped.
    let mut body = issue_body("till-1", "1.00");
    body["invoice"]["discount_code"] = json!("FREE");
    let (status, answer) = stack.post("/v1/invoices", &body).await.unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("unknown_field")), "{answer}");
    let mut body = issue_body("till-1", "1.00");
    body["invoice"]["rows"][0]["unit_price"]["precision"] = json!(4);
    let (status, answer) = stack.post("/v1/invoices", &body).await.unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("unknown_field")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("invoice.rows.0.unit_price.precision"), "{answer}");
    assert_eq!(event_count(&pool).await, before, "nothing written");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn merchant_urls_never_reach_internal_addresses(pool: PgPool) {
    // The default policy: https only, public addresses only.
    let stack = start(config(), pool.clone()).await;
    for url in [
        "http://shop.example/notify",
        "https://127.0.0.1/notify",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/",
        "https://[::1]/",
        "https://localhost/notify",
    ] {
        let body = json!({"terminal_id": "till-1", "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "1.00", json!({"notification_url": url}))});
        let (status, answer) = stack.post("/v1/invoices", &body).await.unwrap();
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some("forbidden_notification_url")),
            "{url}: {answer}"
        );
    }
    assert_eq!(event_count(&pool).await, 0, "no invoice was issued");
    stack.shutdown().await;

    // A merchant endpoint on loopback, reached by a name: refused at send time, after DNS resolution.
    let (shop, mut inbox) = devstack::stack::merchant_endpoint().await.unwrap();
    let port = shop.rsplit(':').next().unwrap().to_owned();
    let by_name = format!("http://localhost:{port}/notify");
    let http_only = MerchantUrlPolicy { allow_http: true, allow_private: false };
    let client = http_only.client().unwrap();
    let refused = http_only.post_empty(&client, &by_name).await.unwrap_err();
    assert!(matches!(refused, OutboundError::ForbiddenAddress(_)), "{refused}");
    // A name the URL check cannot recognise as local: the machine's own host name, which resolves (/etc/hosts) to
    // a loopback or private address; only the resolver's check refuses it.
    let host = std::fs::read_to_string("/etc/hostname").unwrap().trim().to_owned();
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .unwrap_or_else(|e| panic!("this test needs the host name {host:?} to resolve (/etc/hosts): {e}"))
        .collect();
    assert!(resolved.iter().all(|a| !engine::is_public(a.ip())), "{host} resolves to {resolved:?}");
    let by_host_name = format!("http://{host}:{port}/notify");
    http_only.check(&by_host_name).expect("the URL alone looks public");
    let refused = http_only.post_empty(&client, &by_host_name).await.unwrap_err();
    assert!(matches!(refused, OutboundError::ForbiddenAddress(_)), "{refused}");
    assert!(inbox.try_recv().is_err(), "nothing reached the internal endpoint");
    // Where private addresses are allowed (development), the same request goes through.
    let dev = MerchantUrlPolicy { allow_http: true, allow_private: true };
    dev.post_empty(&dev.client().unwrap(), &by_name).await.unwrap();
    assert_eq!(inbox.try_recv().unwrap(), "/notify");

    // Redirects are never followed.
    let (redirecting, mut hits) = redirecting_endpoint().await;
    let answer = dev.post_empty(&dev.client().unwrap(), &format!("{redirecting}/start")).await.unwrap_err();
    assert!(matches!(answer, OutboundError::Status(307)), "{answer}");
    assert_eq!(hits.try_recv().unwrap(), "/start");
    assert!(hits.try_recv().is_err(), "the redirect's target was not requested");
}

/// An endpoint that answers every request with a redirect to `/internal`, reporting each path it is asked for.
async fn redirecting_endpoint() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(uri.path().to_owned());
            (axum::http::StatusCode::TEMPORARY_REDIRECT, [("location", "/internal")])
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rx)
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_notification_token_brings_a_poll_forward_at_most_once_per_interval(pool: PgPool) {
    let mut config = config();
    // Long enough that the flood below falls inside one interval on any machine.
    config.notification_min_interval = Duration::from_secs(3600);
    let stack = start(config, pool.clone()).await;
    let (status, view) = stack.post("/v1/invoices", &issue_body("till-1", "3.00")).await.unwrap();
    assert_eq!(status, 201, "{view}");
    let id: Uuid = view["id"].as_str().unwrap().parse().unwrap();
    let token: String = sqlx::query_scalar("SELECT token FROM notification_tokens WHERE invoice_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let url = format!("{}/v1/seqr/notifications/{token}", stack.api);
    let not_due = || async {
        sqlx::query("UPDATE poll_jobs SET due_at = now() + interval '1 hour' WHERE invoice_id = $1")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    };
    let due = || async {
        let due: bool = sqlx::query_scalar("SELECT due_at <= now() FROM poll_jobs WHERE invoice_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        due
    };
    let notify = || async { stack.http.post(&url).send().await.unwrap().status().as_u16() };

    not_due().await;
    assert_eq!(notify().await, 200);
    assert!(due().await, "the first notification makes the invoice due at once");

    // As if polled: then a flood of the same token changes nothing and costs no SEQR call.
    not_due().await;
    for _ in 0..50 {
        assert_eq!(notify().await, 200);
    }
    assert!(!due().await, "a flood within the interval does not bring the poll forward again");
    let round = stack.poller.poll_once().await.unwrap();
    assert!(round.invoices.is_empty(), "no worker round polls it: {:?}", round.invoices);

    // Once the interval has passed, a notification wakes it again.
    sqlx::query("UPDATE notification_tokens SET woken_at = now() - interval '2 hours' WHERE token = $1")
        .bind(&token)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(notify().await, 200);
    assert!(due().await, "after the interval a notification wakes it");

    // Unknown and malformed tokens change nothing.
    not_due().await;
    for forged in ["0".repeat(48), "zz".repeat(24), "0".repeat(47)] {
        let status = stack.http.post(format!("{}/v1/seqr/notifications/{forged}", stack.api)).send().await.unwrap();
        assert_eq!(status.status().as_u16(), 404);
    }
    assert!(!due().await);
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn every_error_answers_in_the_json_error_shape(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    let big = "x".repeat(http_api::MAX_BODY_BYTES + 1);
    let cases: Vec<(Method, String, Option<String>, u16, &str)> = vec![
        (Method::GET, "/v1/invoices/not-a-uuid".to_owned(), None, 400, "invalid_path"),
        (Method::POST, "/v1/invoices/not-a-uuid/cancel".to_owned(), Some("{}".to_owned()), 400, "invalid_path"),
        (
            Method::POST,
            format!("/v1/invoices/{}/calls/nope/resolve", Uuid::now_v7()),
            Some("{}".to_owned()),
            400,
            "invalid_path",
        ),
        (Method::POST, "/v1/invoices".to_owned(), Some(big), 413, "body_too_large"),
        (Method::DELETE, "/v1/invoices".to_owned(), None, 405, "method_not_allowed"),
        (Method::PUT, format!("/v1/invoices/{}", Uuid::now_v7()), None, 405, "method_not_allowed"),
        (Method::GET, "/v1/nothing-here".to_owned(), None, 404, "not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let mut request = stack.http.request(method.clone(), format!("{}{path}", stack.api)).bearer_auth(&stack.key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(content_type.as_deref(), Some("application/json"), "{method} {path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn text_is_bounded_and_rows_add_up_before_anything_reaches_seqr(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    let sent = || stack.sim.as_ref().unwrap().with_seqr(|e, _| e.invoices(None).len());
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"title": "Coffee\u{1}"}), "invalid_text", "invoice.title"),
        (json!({"footer": "\u{fffe}"}), "invalid_text", "invoice.footer"),
        (json!({"cashier_id": "&".repeat(200 * 1024 / 2)}), "invalid_text", "invoice.cashier_id"),
        (
            json!({"rows": [{"description": "Beans", "quantity": "3", "unit_price": {"amount": "1.50", "currency": "SEK"},
                             "total": {"amount": "4.00", "currency": "SEK"}}],
                   "total": {"amount": "4.00", "currency": "SEK"}}),
            "row_does_not_add_up",
            "row 0",
        ),
        (
            json!({"rows": [{"description": "Beans", "quantity": "1", "total": {"amount": "4.00", "currency": "SEK"}}],
                   "total": {"amount": "5.00", "currency": "SEK"}}),
            "rows_do_not_add_up",
            "add up to 4.00",
        ),
    ];
    for (extra, code, names) in cases {
        let body =
            json!({"terminal_id": "till-1", "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "5.00", extra)});
        let (status, answer) = stack.post("/v1/invoices", &body).await.unwrap();
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some(code)), "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(names), "{answer}");
    }
    assert_eq!(event_count(&pool).await, 0, "nothing recorded");
    assert_eq!(sent(), 0, "nothing reached SEQR");
    stack.shutdown().await;
}

/// Postgres unreachable: the API answers 503 `database_unavailable` with `Retry-After` within about a second (the
/// pool's acquire timeout), never a 500 `internal_error` after a long wait.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn an_unreachable_database_is_answered_503_with_retry_after(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    // The same service, on a pool whose Postgres does not exist (nothing listens on port 1).
    let dead = store_pg::pool_options()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://seqrd@127.0.0.1:1/seqrd")
        .unwrap();
    let engine = seqrd::app::build_engine(&stack.config, dead).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (trigger, signal) = engine::shutdown::channel();
    let (addr, _) = seqrd::app::serve_on(engine, &stack.config, listener, signal).unwrap();
    let url = format!("http://{addr}/v1/invoices/{}", Uuid::now_v7());
    let response = stack.http.get(&url).bearer_auth(&stack.key).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()).as_deref(), Some("1"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "database_unavailable", "{answer}");
    let ready = stack.http.get(format!("http://{addr}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503, "not ready without its database");
    let live = stack.http.get(format!("http://{addr}/health/live")).send().await.unwrap();
    assert_eq!(live.status().as_u16(), 200, "but alive");
    let body = issue_body("till-1", "1.00");
    let response =
        stack.http.post(format!("http://{addr}/v1/invoices")).bearer_auth(&stack.key).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    trigger.fire();
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn readiness_reports_the_database_and_each_subscriptions_lag(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    let (status, _) = stack.post("/v1/invoices", &issue_body("till-1", "2.00")).await.unwrap();
    assert_eq!(status, 201);
    let projection = store_pg::Subscription::new(
        stack.engine.store().clone(),
        store_pg::InvoiceProjection,
        store_pg::SubscriptionConfig::new(1000, Duration::from_secs(3600)),
    );
    let head = stack.engine.store().head().await.unwrap();
    projection.catch_up_to(head).await.unwrap();
    let lag = |report: &Value| report["subscriptions"][0]["lag_events"].as_i64().unwrap();
    let (status, report) = stack.call(Method::GET, "/health/ready", None, None).await.unwrap();
    assert_eq!(
        (status, report["status"].as_str(), report["database"].as_str()),
        (200, Some("ready"), Some("ok")),
        "{report}"
    );
    assert_eq!(lag(&report), 0, "caught up: {report}");
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    let (status, _) = stack.post("/v1/invoices", &issue_body("till-1", "3.00")).await.unwrap();
    assert_eq!(status, 201);
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    let (_, report) = stack.call(Method::GET, "/health/ready", None, None).await.unwrap();
    assert_eq!(lag(&report), after - before, "the new invoice's events are behind: {report}");
    stack.shutdown().await;
}

/// A revoked API key is refused by every process as soon as the revocation commits, although live keys are cached:
/// revoked here through the engine, at once; revoked by another process (its statement announces it), as soon as
/// the announcement arrives (well within a second; the cache would otherwise keep the key for a minute).
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_revoked_api_key_is_refused_at_once_by_every_process(pool: PgPool) {
    let stack = start(config(), pool.clone()).await;
    let missing = format!("/v1/invoices/{}", Uuid::now_v7());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !stack.engine.caches_api_keys() {
        assert!(tokio::time::Instant::now() < deadline, "the API key listener never came up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for revoked_elsewhere in [false, true] {
        let key = stack.engine.create_api_key_with_id("t1", None).await.unwrap();
        // Looked up once, then served from the cache.
        let (status, body) = stack.call_as(&key.secret, Method::GET, &missing, None, None).await.unwrap();
        assert_eq!(status, 404, "{body}");
        if revoked_elsewhere {
            // As `seqrd api-key-revoke` in another process does it.
            assert!(store_pg::access::revoke_api_key(&pool, "t1", key.key_id).await.unwrap());
            let refused_by = tokio::time::Instant::now() + Duration::from_secs(2);
            loop {
                let (status, body) = stack.call_as(&key.secret, Method::GET, &missing, None, None).await.unwrap();
                if status == 401 {
                    break;
                }
                assert_eq!(status, 404, "{body}");
                assert!(tokio::time::Instant::now() < refused_by, "a key revoked elsewhere is still accepted");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } else {
            stack.engine.revoke_api_key("t1", key.key_id).await.unwrap();
            let (status, body) = stack.call_as(&key.secret, Method::GET, &missing, None, None).await.unwrap();
            assert_eq!(status, 401, "refused at once after a revocation here: {body}");
        }
        assert_eq!(stack.engine.revoke_api_key("t1", key.key_id).await.unwrap_err().code(), "not_found");
        let listed = stack.engine.api_keys("t1").await.unwrap();
        assert!(listed.iter().any(|k| k.key_id == key.key_id && k.revoked_at.is_some()), "{listed:?}");
    }
    stack.shutdown().await;
}
