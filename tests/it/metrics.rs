//! Prometheus metrics: what the engine and the HTTP API record lands in the process's recorder with bounded
//! labels, and every `seqrd serve` process, whatever its parts, serves `/metrics` on its admin listener with the
//! figures read from Postgres at scrape time.

use std::time::Duration;

use devstack::demo::invoice;
use serde_json::json;
use sqlx::PgPool;

use tokio::io::AsyncBufReadExt as _;

use crate::crash::{seqrd_binary, seqrd_part, start, until};

/// The value of the first sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn requests_and_seqr_calls_are_counted_with_bounded_labels(pool: PgPool) {
    let handle = seqrd::admin::metrics_handle();
    let (stack, _) = start(&pool).await;
    let (status, view) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "12.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    let (status, _) = stack.call(reqwest::Method::GET, &format!("/v1/invoices/{id}"), None, None).await.unwrap();
    assert_eq!(status, 200);
    stack.poll(id.parse().unwrap()).await.unwrap();

    let text = handle.render();
    let issued =
        sample(&text, "seqrd_http_requests_total", &[r#"route="/v1/invoices""#, r#"method="POST""#, r#"status="201""#]);
    assert!(issued.is_some_and(|n| n >= 1.0), "{text}");
    let read = sample(&text, "seqrd_http_requests_total", &[r#"route="/v1/invoices/{id}""#, r#"status="200""#]);
    assert!(read.is_some_and(|n| n >= 1.0), "the route template, never the id: {text}");
    let sent = sample(&text, "seqrd_seqr_calls_total", &[r#"operation="sendInvoice""#, r#"outcome="succeeded""#]);
    assert!(sent.is_some_and(|n| n >= 1.0), "{text}");
    assert!(sample(&text, "seqrd_seqr_call_duration_seconds_count", &[r#"operation="getPaymentStatus""#]).is_some());
    assert!(sample(&text, "seqrd_http_request_duration_seconds_bucket", &[r#"le="0.005""#]).is_some(), "{text}");
    assert!(sample(&text, "seqrd_polls_total", &[]).is_some_and(|n| n >= 1.0), "{text}");
    assert!(!text.contains(&id), "no invoice id in any label");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn every_process_serves_metrics_on_its_admin_listener(pool: PgPool) {
    let (stack, db) = start(&pool).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = ("SEQRD_ADMIN_ADDR", format!("127.0.0.1:{port}"));
    // A process without the HTTP API still has its admin listener.
    let _workers = seqrd_part("workers", &db, stack.config.seqr_url.as_str(), &[admin]);
    let base = format!("http://127.0.0.1:{port}");
    let http = stack.http.clone();
    let live = || async { http.get(format!("{base}/health/live")).send().await.is_ok_and(|r| r.status().is_success()) };
    until(Duration::from_secs(30), "the admin listener answers", live).await;
    // An open invoice: a poll job the scrape counts.
    let (status, view) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "3.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    let response = stack.http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.unwrap();
    assert_eq!(sample(&text, "seqrd_database_up", &[]), Some(1.0), "{text}");
    assert!(sample(&text, "seqrd_poll_jobs", &[]).is_some_and(|n| n >= 1.0), "{text}");
    for gauge in
        ["seqrd_poll_jobs_due", "seqrd_poll_jobs_overdue", "seqrd_poll_jobs_leased", "seqrd_poll_oldest_due_seconds"]
    {
        assert!(sample(&text, gauge, &[]).is_some(), "{gauge}: {text}");
    }
    assert!(sample(&text, "seqrd_db_pool_connections", &[r#"part="workers""#]).is_some(), "{text}");
    assert!(sample(&text, "seqrd_seqr_rate_budget_per_second", &[]).is_some(), "{text}");
    stack.shutdown().await;
}

/// Every request gets a request id (the caller's, when it is usable, else a new one), returned in `X-Request-Id`;
/// the process logs one access line per request, as JSON when its stderr is not a terminal: method, route
/// template, status, latency, tenant, key id and request id, and never the key's secret.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn each_request_has_a_request_id_and_one_access_log_line(pool: PgPool) {
    let (stack, db) = start(&pool).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut api = tokio::process::Command::new(seqrd_binary())
        .args(["serve", "--only", "api"])
        .env("DATABASE_URL", &db)
        .env("SEQR_URL", stack.config.seqr_url.as_str())
        .env("SEQRD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SEQRD_ADMIN_ADDR", "off")
        .env("RUST_LOG", "warn,seqrd::access=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("seqrd starts");
    let mut log = tokio::io::BufReader::new(api.stderr.take().unwrap()).lines();
    let base = format!("http://127.0.0.1:{port}");
    let http = stack.http.clone();
    let health = || async { http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status().is_success()) };
    until(Duration::from_secs(30), "the API process answers", health).await;

    let missing = format!("{base}/v1/invoices/{}", uuid::Uuid::now_v7());
    let response =
        stack.http.get(&missing).bearer_auth(&stack.key).header("X-Request-Id", "till-7/req-42").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-request-id"], "till-7/req-42", "the caller's id is kept");
    let unusable = "x".repeat(200);
    let response = stack.http.get(&missing).bearer_auth(&stack.key).header("X-Request-Id", &unusable).send().await;
    let generated = response.unwrap().headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(generated.parse::<uuid::Uuid>().is_ok(), "an unusable id is replaced by a new one: {generated}");

    let line = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains("till-7/req-42") {
                return line;
            }
        }
        panic!("the process ended without logging the request");
    })
    .await
    .expect("the access line is logged");
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["target"], "seqrd::access", "{line}");
    let fields = &entry["fields"];
    assert_eq!(fields["method"], "GET", "{line}");
    assert_eq!(fields["route"], "/v1/invoices/{id}", "{line}");
    assert_eq!(fields["status"], 404, "{line}");
    assert_eq!(fields["tenant"], "t1", "{line}");
    assert!(fields["latency_ms"].as_f64().is_some(), "{line}");
    assert!(!line.contains(&stack.key), "the key's secret is never logged: {line}");
    api.kill().await.unwrap();
    stack.shutdown().await;
}

/// The `seqrd_*` metric names in `text` (a histogram's `_bucket`, `_count` and `_sum` series as its own name).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices("seqrd_") {
        let name: String =
            text[i..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        let name =
            ["_bucket", "_count", "_sum"].iter().fold(name, |n, s| n.strip_suffix(s).map_or(n.clone(), str::to_owned));
        names.insert(name);
    }
    names
}

/// The dashboard and the example alerts use only metrics that docs/operations.md documents, and each documented
/// metric is one seqrd records or reads (named in its code).
#[test]
fn the_dashboard_and_the_alerts_use_documented_metrics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let (tables, alerts) = docs.split_once("## Example alerts").unwrap();
    let documented: std::collections::BTreeSet<String> = tables
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("seqrd_"))
        .map(str::to_owned)
        .collect();
    assert!(documented.len() >= 15, "{documented:?}");
    let dashboard = std::fs::read_to_string(root.join("ops/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_owned()))
        .collect();
    for used in metric_names(&exprs.join("\n")).into_iter().chain(metric_names(alerts)) {
        assert!(documented.contains(&used), "{used} is used but not documented");
    }
    let mut code = String::new();
    for file in ["crates/engine/src/metrics.rs", "crates/http-api/src/observe.rs", "crates/seqrd/src/admin.rs"] {
        code.push_str(&std::fs::read_to_string(root.join(file)).unwrap());
    }
    let recorded = metric_names(&code);
    for name in &documented {
        assert!(recorded.contains(name), "{name} is documented but nothing records it");
    }
}

/// A command's events carry its request's id as their correlation id (the id itself when it is a UUID, else the
/// UUID v5 of its text in the OID namespace), so an event on the feed leads back to the request's log lines.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_commands_events_carry_its_request_id_as_correlation_id(pool: PgPool) {
    let (stack, _) = start(&pool).await;
    let body =
        json!({"terminal_id": "till-1", "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "4.00", json!({}))});
    let as_uuid = uuid::Uuid::now_v7().to_string();
    let v5 = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"pos-7/42").to_string();
    for (request_id, correlation) in [(as_uuid.as_str(), as_uuid.as_str()), ("pos-7/42", v5.as_str())] {
        let response = stack
            .http
            .post(format!("{}/v1/invoices", stack.api))
            .bearer_auth(&stack.key)
            .header("X-Request-Id", request_id)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-request-id"], request_id);
        let view: serde_json::Value = response.json().await.unwrap();
        let events = stack.get(&format!("/v1/invoices/{}/events", view["id"].as_str().unwrap())).await.unwrap();
        let events = events["events"].as_array().unwrap();
        assert!(events.len() >= 2, "{events:?}");
        for event in events.iter().filter(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("api-key:"))) {
            assert_eq!(event["correlation_id"], correlation, "{event}");
        }
    }
    stack.shutdown().await;
}
