//! `GET /v1/events`: the tenant's feed over HTTP. Followed by its cursors it gives each of the key's events once,
//! in the feed's order, in the very envelope the RabbitMQ messages carry; a long-poll returns when an event
//! arrives; a key limited to a store reads only that store's events.

use std::time::Duration;

use devstack::{
    demo::invoice,
    stack::{SeqrTarget, Stack},
};
use reqwest::Method;
use seqr_sim::SimConfig;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::config;

const REGISTERS: &[(&str, &str, &str)] = &[("acme", "north", "till-1"), ("acme", "south", "till-2")];

async fn start(pool: PgPool) -> Stack {
    Stack::start(config(), pool, SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())), "t1", REGISTERS)
        .await
        .expect("stack starts")
}

async fn issue(stack: &Stack, terminal: &str) -> String {
    let (status, view) = stack
        .issue(terminal, invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "5.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    view["id"].as_str().unwrap().to_owned()
}

async fn read(stack: &Stack, key: &str, query: &str) -> (u16, Value) {
    stack.call_as(key, Method::GET, &format!("/v1/events{query}"), None, None).await.unwrap()
}

/// Waits until every event committed so far is readable in the feed's order: the commit horizon is the whole
/// Postgres cluster's, and another test's open transaction may hold it back for a moment (once past, it stays past).
async fn settled(stack: &Stack) {
    let store = stack.engine.store();
    let head = store.head().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let readable = store.read_all_after(store_pg::Checkpoint::START, 100_000).await.unwrap();
        if readable.last().map(|e| e.checkpoint()) >= Some(head) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the commit horizon stayed below the log's head");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Follows the feed from the start, `limit` events a read, until a read returns none (after [`settled`]).
async fn follow(stack: &Stack, key: &str, limit: u32) -> Vec<Value> {
    settled(stack).await;
    let (mut events, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let after = cursor.as_deref().map(|c| format!("&after={c}")).unwrap_or_default();
        let (status, page) = read(stack, key, &format!("?limit={limit}{after}")).await;
        assert_eq!(status, 200, "{page}");
        let got = page["events"].as_array().unwrap().clone();
        cursor = Some(page["next"].as_str().unwrap().to_owned());
        if got.is_empty() {
            return events;
        }
        events.extend(got);
    }
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn following_the_cursors_gives_each_event_once_in_the_feeds_envelope(pool: PgPool) {
    let stack = start(pool.clone()).await;
    let ids = [issue(&stack, "till-1").await, issue(&stack, "till-2").await, issue(&stack, "till-1").await];
    let events = follow(&stack, &stack.key, 2).await;

    // Exactly the tenant's events, each once, in the log's gap-safe order.
    let stored = stack.engine.store().read_all_after(store_pg::Checkpoint::START, 10_000).await.unwrap();
    let mine: Vec<_> = stored.iter().filter(|e| e.scope.tenant_id == "t1").collect();
    let got: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let want: Vec<String> = mine.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
    for id in &ids {
        assert!(events.iter().any(|e| e["invoice_id"] == *id && e["type"] == "invoice_issued"), "{id}");
    }
    // The envelope of each is the RabbitMQ message body, field for field.
    for (event, stored) in events.iter().zip(&mine) {
        let message = serde_json::to_value(amqp::FeedMessage::from(&engine::FeedEvent::of(stored))).unwrap();
        assert_eq!(event, &message);
    }
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_long_poll_returns_when_an_event_arrives(pool: PgPool) {
    let stack = std::sync::Arc::new(start(pool.clone()).await);
    issue(&stack, "till-1").await;
    settled(&stack).await;
    let (_, page) = read(&stack, &stack.key, "?limit=1000").await;
    let head = page["next"].as_str().unwrap().to_owned();
    let (status, page) = read(&stack, &stack.key, &format!("?after={head}")).await;
    assert_eq!((status, page["events"].as_array().unwrap().len()), (200, 0), "nothing after the head: {page}");

    let waiting = {
        let stack = stack.clone();
        let head = head.clone();
        tokio::spawn(async move { read(&stack, &stack.key, &format!("?after={head}&wait=30")).await })
    };
    let id = issue(&stack, "till-2").await;
    let (status, page) = tokio::time::timeout(Duration::from_secs(60), waiting).await.unwrap().unwrap();
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.iter().all(|e| e["invoice_id"] == id.as_str()), "{page}");
    assert_ne!(page["next"], head.as_str());
    if let Ok(stack) = std::sync::Arc::try_unwrap(stack) {
        stack.shutdown().await;
    }
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_store_key_reads_only_its_stores_events_and_bad_queries_are_400(pool: PgPool) {
    let stack = start(pool.clone()).await;
    let north = issue(&stack, "till-1").await;
    let south = issue(&stack, "till-2").await;
    let north_key = stack.engine.create_api_key("t1", Some(&["north".to_owned()])).await.unwrap();
    let seen = follow(&stack, &north_key, 100).await;
    assert!(!seen.is_empty() && seen.iter().all(|e| e["store_id"] == "north" && e["invoice_id"] == north.as_str()));
    let (status, page) = read(&stack, &north_key, "?store=south").await;
    assert_eq!((status, page["events"].as_array().unwrap().len()), (200, 0), "another store reads nothing: {page}");
    let (_, page) = read(&stack, &stack.key, "?store=south&types=invoice_issued").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(
        (events[0]["invoice_id"].as_str(), events[0]["type"].as_str()),
        (Some(south.as_str()), Some("invoice_issued"))
    );
    let long_types = format!("?types={}", "a".repeat(1025));
    for query in [
        "?after=nonsense",
        "?after=1-2-3",
        "?after=1234567890123456789-1",
        "?store=",
        &long_types,
        "?limit=0",
        "?limit=1001",
        "?wait=31",
        "?bogus=1",
        "?limit=x",
    ] {
        let (status, body) = read(&stack, &stack.key, query).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_query")), "{query}: {body}");
    }
    stack.shutdown().await;
}

/// While four clients issue invoices at once, a reader follows the feed from its cursors (small pages, short
/// long-polls): it sees every one of the tenant's events exactly once, in the log's gap-safe order, however the
/// appends' commits interleave with its reads.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_reader_following_the_cursors_under_concurrent_appends_skips_and_repeats_nothing(pool: PgPool) {
    let stack = std::sync::Arc::new(start(pool.clone()).await);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let stack = stack.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    issue(&stack, if w % 2 == 0 { "till-1" } else { "till-2" }).await;
                }
            })
        })
        .collect();
    let (mut seen, mut cursor) = (Vec::<String>::new(), "0-0".to_owned());
    let mut writing = true;
    loop {
        let (status, page) = read(&stack, &stack.key, &format!("?after={cursor}&limit=7&wait=1")).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        seen.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        cursor = page["next"].as_str().unwrap().to_owned();
        if writing && writers.iter().all(|w| w.is_finished()) {
            writing = false;
            settled(&stack).await;
            continue;
        }
        if !writing && events.is_empty() {
            break;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    let stored = stack.engine.store().read_all_after(store_pg::Checkpoint::START, 100_000).await.unwrap();
    let want: Vec<String> =
        stored.iter().filter(|e| e.scope.tenant_id == "t1").map(|e| e.event_id.to_string()).collect();
    assert!(want.len() >= 40, "{}", want.len());
    let distinct: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no event is read twice");
    assert_eq!(seen, want, "every event, in the log's order");
    if let Ok(stack) = std::sync::Arc::try_unwrap(stack) {
        stack.shutdown().await;
    }
}
