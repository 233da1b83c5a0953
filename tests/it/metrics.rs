//! Prometheus metrics: what the engine and the HTTP API record lands in the process's recorder with bounded
//! labels, and every `seqrd serve` process, whatever its parts, serves `/metrics` on its admin listener with the
//! figures read from Postgres at scrape time.

use std::time::Duration;

use devstack::demo::invoice;
use serde_json::json;
use sqlx::PgPool;

use crate::crash::{seqrd_part, start, until};

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
