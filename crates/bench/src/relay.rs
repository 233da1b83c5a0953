//! `ops/bench relay`: how fast the relay moves stored events to RabbitMQ, next to the raw ceiling measured in the
//! same run.
//!
//! N events (default 50,000; `SEQRD_BENCH_RELAY_EVENTS`) are appended to a scratch database. A scratch topic
//! exchange is bound to a quorum queue. Then, twice each, alternating:
//! - relay: `Relay::relay_once` from an empty checkpoint until every event is confirmed (batches of 1,000, which
//!   is also the confirm window), including the Postgres reads and checkpoint writes;
//! - raw: the same messages (built before the clock starts) published with `Publisher::publish_confirmed` in
//!   windows of 1,000 on an already open channel: the ceiling of publishing with confirms alone.
//!
//! The best of the two rounds counts. The queue is purged between phases; database, queue and exchange are
//! removed at the end.

use std::time::{Duration, Instant};

use amqp::{AmqpFeed, FeedMessage, Publisher};
use anyhow::Context as _;
use engine::{FeedEvent, Relay};
use serde_json::json;
use sqlx::PgPool;
use store_pg::{AppendRequest, Checkpoint, EventScope, EventStore, Metadata, NewEvent};
use uuid::Uuid;

use crate::{append::ScratchDb, broker::Broker};

/// Events per batch and confirm window, for both the relay and the raw publisher.
const WINDOW: i64 = 1000;
/// Events per stream and per append when loading the store.
const STREAM_LENGTH: usize = 20;
const PER_APPEND: usize = 5;
const ROUNDS: usize = 2;

pub(crate) async fn run() -> anyhow::Result<()> {
    let events: usize = std::env::var("SEQRD_BENCH_RELAY_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let amqp_url = std::env::var("AMQP_URL").context("AMQP_URL is not set")?;
    let db = ScratchDb::create("relay").await?;
    let broker = Broker::create(&amqp_url, &format!("seqrd.bench.relay.{}", std::process::id())).await;
    let result = match &broker {
        Ok(broker) => measure(&db, broker, &amqp_url, events).await,
        Err(e) => Err(anyhow::anyhow!("cannot set up RabbitMQ: {e}")),
    };
    if let Ok(broker) = broker {
        broker.delete().await?;
    }
    db.drop().await?;
    let (relay, raw, body) = result?;

    println!(
        "relay benchmark: {events} events, ~{body} B bodies, window {WINDOW}, quorum queue, best of {ROUNDS} rounds"
    );
    println!("{:>8} | {:>10} | {:>8}", "", "msg/s", "seconds");
    println!("{:>8} | {:>10.0} | {:>8.2}", "raw", events as f64 / raw.as_secs_f64(), raw.as_secs_f64());
    println!("{:>8} | {:>10.0} | {:>8.2}", "relay", events as f64 / relay.as_secs_f64(), relay.as_secs_f64());
    let rate = events as f64 / relay.as_secs_f64();
    let ratio = raw.as_secs_f64() / relay.as_secs_f64();
    println!("relay: {rate:.0} msg/s ({ratio:.2} of raw)");
    Ok(())
}

/// Returns the best relay time, the best raw time and the average body size.
async fn measure(
    db: &ScratchDb,
    broker: &Broker,
    amqp_url: &str,
    events: usize,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let pool = store_pg::pool_options().max_connections(12).connect_with(db.options.clone()).await?;
    store_pg::MIGRATOR.run(&pool).await?;
    let store = EventStore::new(pool.clone());
    load(&store, events).await?;

    // The raw messages, built before any clock starts.
    let stored = store.read_all_after(Checkpoint::START, events as i64 + 1).await?;
    anyhow::ensure!(stored.len() == events, "read back {} of {events} events", stored.len());
    let feed: Vec<FeedEvent<'_>> = stored.iter().map(FeedEvent::of).collect();
    let messages: Vec<FeedMessage<'_>> = feed.iter().map(FeedMessage::from).collect();
    let body = serde_json::to_vec(&messages[0])?.len();

    let mut best_relay = Duration::MAX;
    let mut best_raw = Duration::MAX;
    for _ in 0..ROUNDS {
        best_raw = best_raw.min(raw(broker, amqp_url, &messages).await?);
        broker.purge().await?;
        best_relay = best_relay.min(relay(&store, &pool, broker, amqp_url, events).await?);
        broker.purge().await?;
    }
    drop(messages);
    drop(stored);
    pool.close().await;
    Ok((best_relay, best_raw, body))
}

async fn raw(broker: &Broker, amqp_url: &str, messages: &[FeedMessage<'_>]) -> anyhow::Result<Duration> {
    let publisher = Publisher::connect(amqp_url, &broker.exchange).await?;
    let start = Instant::now();
    for window in messages.chunks(WINDOW as usize) {
        publisher.publish_confirmed(window).await?;
    }
    let elapsed = start.elapsed();
    publisher.close().await;
    Ok(elapsed)
}

async fn relay(
    store: &EventStore,
    pool: &PgPool,
    broker: &Broker,
    amqp_url: &str,
    events: usize,
) -> anyhow::Result<Duration> {
    sqlx::query("DELETE FROM subscriptions WHERE name = 'relay'").execute(pool).await?;
    let mut relay =
        Relay::new(store.clone(), AmqpFeed::new(amqp_url, &broker.exchange), "relay").with_batch_size(WINDOW);
    let start = Instant::now();
    let mut published = 0;
    while published < events {
        let n = relay.relay_once().await?;
        anyhow::ensure!(n > 0 || start.elapsed() < Duration::from_secs(120), "the relay stalled at {published}");
        published += n;
    }
    Ok(start.elapsed())
}

/// Appends `events` events of realistic size: streams of [`STREAM_LENGTH`], [`PER_APPEND`] events per append,
/// eight appending tasks.
async fn load(store: &EventStore, events: usize) -> anyhow::Result<()> {
    let streams = events.div_ceil(STREAM_LENGTH);
    let tasks = 8;
    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut written = 0usize;
            for s in (task..streams).step_by(tasks) {
                let stream_id = Uuid::now_v7();
                let length = STREAM_LENGTH.min(events - s * STREAM_LENGTH);
                let mut version = 0;
                while version < length {
                    let n = PER_APPEND.min(length - version);
                    let outcome = store.append(request(stream_id, s, version, n)).await?;
                    written += outcome.events().len();
                    version += n;
                }
            }
            Ok::<usize, anyhow::Error>(written)
        }));
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await??;
    }
    anyhow::ensure!(total == events, "appended {total} of {events} events");
    Ok(())
}

fn request(stream_id: Uuid, stream: usize, version: usize, n: usize) -> AppendRequest {
    AppendRequest {
        stream_id,
        expected_version: version as i64,
        idempotency_key: None,
        scope: EventScope {
            tenant_id: "bench".to_owned(),
            merchant_id: "m-1".to_owned(),
            store_id: Some(format!("store-{}", stream % 16)),
            terminal_id: Some("till-1".to_owned()),
        },
        metadata: Metadata { correlation_id: Uuid::now_v7(), causation_id: None, actor: "bench".to_owned() },
        events: (0..n)
            .map(|i| NewEvent {
                event_id: Uuid::now_v7(),
                event_type: "status_observed".to_owned(),
                schema_version: 1,
                data: json!({
                    "at": "2026-11-22T10:00:05Z",
                    "status": "PAID",
                    "invoice_version": version + i + 1,
                    "customer_tokens": [],
                    "payment": {
                        "ers_reference": format!("ERS{stream:08}"),
                        "payment_reference": "P-1",
                        "payment_date": "2026-11-22T10:00:04Z",
                        "amount": { "amount": "70.00", "currency": "SEK" }
                    }
                }),
            })
            .collect(),
    }
}
