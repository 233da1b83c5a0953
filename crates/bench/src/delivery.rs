//! `ops/bench delivery`: how long an event takes from its commit to a RabbitMQ consumer, at a low and a moderate
//! rate of new invoices.
//!
//! The relay runs as `seqrd serve` runs it: `Relay::run` with the `AmqpFeed`, on a pool of its own sized as the
//! relay part's (`seqrd::app::connect_part`), woken by the store's `NOTIFY` after each commit (the writer appends
//! through another pool and store handle, as the API does) and polling every 500 ms as a safety net. It publishes
//! to a scratch exchange bound to a quorum queue (the queue docs/event-feed.md recommends) with one consumer.
//!
//! The writer issues invoices at 2 per second, then at 200 per second, for `SEQRD_BENCH_SECS` (default 10)
//! each. An invoice is what `POST /v1/invoices` appends: the issue with its sendInvoice request (2 events), then
//! the call's outcome (1 event), two appends back to back, from `domain::fixtures` stories. Invoices start on
//! schedule (open loop), whatever earlier ones are doing. The latency of a message is the consumer's receive time
//! minus the time its append returned (its commit), on this process's clock.
//!
//! A scratch database `seqrd_bench_delivery_<pid>` and the exchange and queue `seqrd.bench.delivery.<pid>` are
//! created and removed.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use chrono::{TimeZone as _, Utc};
use domain::{
    fixtures::{self, Story},
    Currency, Event, InvoiceId, Money, Scope,
};
use engine::Relay;
use futures::StreamExt as _;
use lapin::{options::BasicConsumeOptions, types::FieldTable};
use rust_decimal::Decimal;
use seqrd::{
    app::{self, Part},
    config::{Config, RawConfig},
};
use store_pg::{AppendRequest, EventScope, EventStore, Metadata, NewEvent, PgConnectOptions};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{broker::Broker, http::env_or};

/// Invoices per second of each phase.
const RATES: [u32; 2] = [2, 200];

/// How long the messages of a phase may take to arrive after its last append.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

pub(crate) async fn run() -> anyhow::Result<()> {
    let secs: u64 = env_or("SEQRD_BENCH_SECS", 10);
    let mut config = RawConfig::load(None, |k| std::env::var(k).ok())?.resolve()?;
    let name = format!("seqrd_bench_delivery_{}", std::process::id());
    config.exchange = format!("seqrd.bench.delivery.{}", std::process::id());
    let (url, setup) = devstack::stack::scratch_database(&config, &name).await?;
    setup.close().await;
    // The service's configuration on the scratch database (`config` keeps the one the database was created from).
    let scratch = Config { database_url: url, ..config.clone() };
    let broker = Broker::create(&config.amqp_url, &config.exchange).await;
    let result = match &broker {
        Ok(broker) => measure(&scratch, broker, secs).await,
        Err(e) => Err(anyhow::anyhow!("cannot set up RabbitMQ: {e}")),
    };
    // Both removed whatever happened; the first error is reported.
    let deleted = match broker {
        Ok(broker) => broker.delete().await,
        Err(_) => Ok(()),
    };
    let dropped = devstack::stack::drop_database(&config, &name).await;
    let phases = result?;
    deleted?;
    dropped?;

    println!(
        "delivery benchmark: commit -> consumer, {secs} s per rate, 3 events per invoice in 2 appends, \
         Relay::run + AmqpFeed -> quorum queue -> 1 consumer"
    );
    println!(
        "{:>7} | {:>8} | {:>8} | {:>7} | {:>7} | {:>7}",
        "rate", "invoices", "messages", "p50 ms", "p99 ms", "max ms"
    );
    for p in &phases {
        println!(
            "{:>5}/s | {:>8} | {:>8} | {:>7.1} | {:>7.1} | {:>7.1}",
            p.rate,
            p.invoices,
            p.latencies.len(),
            p.percentile(0.50),
            p.percentile(0.99),
            p.percentile(1.0)
        );
    }
    let p99 = |rate: u32| phases.iter().find(|p| p.rate == rate).map_or(f64::NAN, |p| p.percentile(0.99));
    println!("delivery: p99 {:.1} ms at 2/s, p99 {:.1} ms at 200/s", p99(RATES[0]), p99(RATES[1]));
    Ok(())
}

/// One rate's measurements.
struct Phase {
    rate: u32,
    invoices: usize,
    /// Milliseconds from commit to receipt, sorted.
    latencies: Vec<f64>,
}

impl Phase {
    fn percentile(&self, p: f64) -> f64 {
        let n = self.latencies.len();
        if n == 0 {
            return f64::NAN;
        }
        self.latencies[((n as f64 * p) as usize).min(n - 1)]
    }
}

async fn measure(config: &Config, broker: &Broker, secs: u64) -> anyhow::Result<Vec<Phase>> {
    // The consumer, on a channel of its own (closed before the queue is deleted): each message's id and when it
    // arrived.
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(Uuid, Instant)>();
    let consumer_channel = broker.connection.create_channel().await?;
    let mut consumer = consumer_channel
        .basic_consume(
            &broker.queue,
            "bench",
            BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() },
            FieldTable::default(),
        )
        .await?;
    let consuming = tokio::spawn(async move {
        while let Some(Ok(delivery)) = consumer.next().await {
            let at = Instant::now();
            let id = delivery.properties.message_id().as_ref().and_then(|id| id.as_str().parse::<Uuid>().ok());
            if let Some(id) = id {
                if arrivals.send((id, at)).is_err() {
                    return;
                }
            }
        }
    });

    // The relay, as `seqrd serve --only relay` runs it.
    let relay_pool = app::connect_part(config, Part::Relay).await?;
    let feed = amqp::AmqpFeed::new(&config.amqp_url, &config.exchange);
    let mut relay = Relay::new(EventStore::new(relay_pool.clone()), feed, "relay");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relaying = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await
    });

    // The writer, on a pool of its own (as the API's).
    let options: PgConnectOptions = config.database_url.parse().context("the scratch database URL")?;
    let writer_pool = store_pg::pool_options().max_connections(16).connect_with(options).await?;
    let writer = EventStore::new(writer_pool.clone());

    let mut received: HashMap<Uuid, Instant> = HashMap::new();
    let result = async {
        // Warm-up (not measured): the relay is active and the consumer gets messages.
        let warm = append_invoice(&writer, 0).await?;
        collect(&mut arrived, &mut received, &warm).await?;
        let mut phases = Vec::new();
        let mut n = 1;
        for rate in RATES {
            let invoices = rate as usize * secs as usize;
            let committed = issue_at(&writer, rate, invoices, n).await?;
            n += invoices;
            collect(&mut arrived, &mut received, &committed).await?;
            let mut latencies: Vec<f64> = committed
                .iter()
                .filter_map(|(id, at)| received.get(id).map(|r| r.saturating_duration_since(*at).as_secs_f64() * 1e3))
                .collect();
            latencies.sort_by(f64::total_cmp);
            phases.push(Phase { rate, invoices, latencies });
        }
        anyhow::Ok(phases)
    }
    .await;

    let _ = stop.send(());
    let relayed = relaying.await;
    let _ = consumer_channel.close(200, "done").await;
    consuming.abort();
    writer_pool.close().await;
    relay_pool.close().await;
    let phases = result?;
    relayed?.context("the relay failed")?;
    Ok(phases)
}

/// Starts `count` invoices at `rate` per second (each on schedule, in a task of its own); returns every appended
/// event's id with the time its append returned.
async fn issue_at(writer: &EventStore, rate: u32, count: usize, first: usize) -> anyhow::Result<Vec<(Uuid, Instant)>> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for n in first..first + count {
        ticker.tick().await;
        let writer = writer.clone();
        tasks.spawn(async move { append_invoice(&writer, n).await });
    }
    let mut committed = Vec::with_capacity(count * 3);
    while let Some(result) = tasks.join_next().await {
        committed.extend(result??);
    }
    Ok(committed)
}

/// Appends invoice `n` as `POST /v1/invoices` does (the issue with its call request, then the call's outcome);
/// returns each event's id with the time its append returned.
async fn append_invoice(writer: &EventStore, n: usize) -> anyhow::Result<Vec<(Uuid, Instant)>> {
    let scope = Scope {
        tenant: "tenant-bench".parse()?,
        merchant: "merchant-1".parse()?,
        store: format!("store-{}", n % 50).parse()?,
        terminal: format!("till-{}", n % 200).parse()?,
    };
    let total = Money::new(Decimal::new(1000 + (n % 50_000) as i64, 2), Currency::SEK).context("bench amount")?;
    let invoice_id = InvoiceId(Uuid::now_v7());
    let t0 = Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).single().unwrap_or_default();
    let story = fixtures::story(Story::Canceled, n, invoice_id, scope, total, t0);
    let Some(Event::InvoiceIssued(issued)) = story.first().and_then(|c| c.first()) else {
        anyhow::bail!("a story starts with invoice_issued")
    };
    let mut committed = Vec::with_capacity(3);
    let mut version = 0;
    for events in story.iter().take(2) {
        let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        let outcome = writer
            .append(AppendRequest {
                stream_id: invoice_id.0,
                expected_version: version,
                idempotency_key: None,
                scope: EventScope::from(&issued.scope),
                metadata: Metadata { correlation_id: invoice_id.0, causation_id: None, actor: "bench".into() },
                events: events.iter().zip(&ids).map(|(e, id)| NewEvent::from_domain(*id, e)).collect(),
            })
            .await?;
        let at = Instant::now();
        version = outcome.version();
        committed.extend(ids.into_iter().map(|id| (id, at)));
    }
    Ok(committed)
}

/// Waits until every message of `expected` has arrived (at most [`DRAIN_LIMIT`]), recording arrivals.
async fn collect(
    arrived: &mut mpsc::UnboundedReceiver<(Uuid, Instant)>,
    received: &mut HashMap<Uuid, Instant>,
    expected: &[(Uuid, Instant)],
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    let mut missing: HashSet<Uuid> =
        expected.iter().map(|(id, _)| *id).filter(|id| !received.contains_key(id)).collect();
    while !missing.is_empty() {
        let (id, at) = tokio::time::timeout_at(deadline, arrived.recv())
            .await
            .map_err(|_| anyhow::anyhow!("{} messages did not arrive within {DRAIN_LIMIT:?}", missing.len()))?
            .context("the consumer stopped")?;
        // The first delivery counts (a republished batch may deliver again).
        received.entry(id).or_insert(at);
        missing.remove(&id);
    }
    Ok(())
}
