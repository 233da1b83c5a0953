//! `ops/bench projection`: writes N domain events of realistic invoice stories into a fresh database, then times
//! a full rebuild of the `invoices` projection (invoice_view and ledger) from the first event.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, TimeZone as _, Utc};
use domain::fixtures::{self, Story};
use domain::{Currency, Event, InvoiceId, Money, Scope};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::Row as _;
use store_pg::{
    AppendRequest, Checkpoint, EventRow, EventScope, EventStore, InvoiceEvent, InvoiceProjection, Metadata, NewEvent,
    StoreError, Subscription,
};
use uuid::Uuid;

use crate::append::ScratchDb;

const WRITERS: usize = 16;
const BATCH: i64 = 5_000;

/// Rebuilds timed in one run; the summary is their median.
const REBUILDS: usize = 3;

pub(crate) async fn run() -> anyhow::Result<()> {
    let target: usize = std::env::var("SEQRD_BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let db = ScratchDb::create("projection").await?;
    let result = measure(&db, target).await;
    db.drop().await?;
    let (mut rates, ceiling) = result?;
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "read ceiling (the same pages of the same columns, rows received but not decoded): {ceiling:.0} events/s; \
         the rebuild runs at {:.2} of it",
        median / ceiling
    );
    println!("projection: {median:.0} events/s");
    Ok(())
}

/// Writes the stories and times [`REBUILDS`] rebuilds; returns their rates and the read ceiling (events/s).
async fn measure(db: &ScratchDb, target: usize) -> anyhow::Result<(Vec<f64>, f64)> {
    let pool = store_pg::pool_options().max_connections(WRITERS as u32 + 2).connect_with(db.options.clone()).await?;
    store_pg::MIGRATOR.run(&pool).await?;
    let store = EventStore::new(pool);
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(store.pool()).await?;
    let written = if db.reused() && found as usize >= target {
        println!("projection benchmark: {found} events of invoice stories found in the reused database");
        found as usize
    } else {
        anyhow::ensure!(found == 0, "the database already holds {found} events, fewer than {target}");
        let (written, write_time) = write_stories(&store, target).await?;
        println!(
            "projection benchmark: {written} events of invoice stories written by {WRITERS} writers in {:.1} s",
            write_time.as_secs_f64()
        );
        written
    };
    sqlx::query("VACUUM ANALYZE events").execute(store.pool()).await?;

    let sub = Subscription::new(
        store.clone(),
        InvoiceProjection,
        store_pg::SubscriptionConfig::new(BATCH, Duration::from_secs(1)),
    );
    let mut rates = Vec::with_capacity(REBUILDS);
    for run in 1..=REBUILDS {
        let started = Instant::now();
        let cpu_before = process_cpu_seconds();
        let rebuilt = sub.rebuild().await?;
        let rebuild_time = started.elapsed();
        // Where the time goes: this process (read, decode, fold) versus the rest (Postgres) on the shared cores.
        let cpu = match (cpu_before, process_cpu_seconds()) {
            (Some(before), Some(after)) => format!(", {:.2} s of CPU in this process", after - before),
            _ => String::new(),
        };
        let views: i64 = sqlx::query_scalar("SELECT count(*) FROM invoice_view").fetch_one(store.pool()).await?;
        anyhow::ensure!(rebuilt.events == written, "rebuilt {} of {written} events", rebuilt.events);
        anyhow::ensure!(views > 0, "no invoice rows");
        let rate = rebuilt.events as f64 / rebuild_time.as_secs_f64();
        println!(
            "rebuild {run} of invoices (invoice_view + ledger), batches of {BATCH}: {} events in {:.2} s{cpu}: \
             {rate:.0} events/s",
            rebuilt.events,
            rebuild_time.as_secs_f64()
        );
        rates.push(rate);
    }
    let ceiling = read_ceiling(&store, written).await?;
    Ok((rates, ceiling))
}

/// Reads every event in the rebuild's pages (the store's own query, with the invoices projection's columns),
/// receiving each row without decoding its payload: what Postgres and the driver alone allow on this machine, in
/// the same run.
async fn read_ceiling(store: &EventStore, written: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut after, mut read) = (Checkpoint::START, 0usize);
    loop {
        let rows = store.read_rows_after::<Received>(after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        read += rows.len();
    }
    anyhow::ensure!(read == written, "read {read} of {written} events");
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

/// A row of the invoices projection's shape, received but not decoded beyond its checkpoint.
struct Received(Checkpoint);

impl EventRow for Received {
    const COLUMNS: &'static str = <InvoiceEvent as EventRow>::COLUMNS;

    fn from_row(row: &PgRow) -> Result<Received, StoreError> {
        Ok(Received(Checkpoint { tx_id: row.try_get_unchecked(1)?, position: row.try_get(0)? }))
    }

    fn checkpoint(&self) -> Checkpoint {
        self.0
    }
}

/// Appends stories from [`WRITERS`] concurrent writers until at least `target` events are written.
async fn write_stories(store: &EventStore, target: usize) -> anyhow::Result<(usize, Duration)> {
    let started = Instant::now();
    let per_writer = target.div_ceil(WRITERS);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut written = 0;
                let mut n = w;
                while written < per_writer {
                    written += append_story(&store, &story(n, day(n))?).await?;
                    n += WRITERS;
                }
                anyhow::Ok(written)
            })
        })
        .collect();
    let mut written = 0;
    for w in writers {
        written += w.await??;
    }
    Ok((written, started.elapsed()))
}

fn day(n: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).single().unwrap_or_default() + chrono::Duration::minutes(n as i64)
}

async fn append_story(store: &EventStore, commands: &[Vec<Event>]) -> anyhow::Result<usize> {
    let Some(Event::InvoiceIssued(issued)) = commands.first().and_then(|c| c.first()) else {
        anyhow::bail!("a story starts with invoice_issued")
    };
    let stream_id = issued.invoice_id.0;
    let scope = EventScope::from(&issued.scope);
    let mut version = 0;
    let mut written = 0;
    for (i, events) in commands.iter().enumerate() {
        let outcome = store
            .append(AppendRequest {
                stream_id,
                expected_version: version,
                idempotency_key: Some(format!("step-{i}")),
                scope: scope.clone(),
                metadata: Metadata { correlation_id: stream_id, causation_id: None, actor: "bench".into() },
                events: events.iter().map(|e| NewEvent::from_domain(Uuid::now_v7(), e)).collect(),
            })
            .await?;
        version = outcome.version();
        written += events.len();
    }
    Ok(written)
}

fn money(amount: Decimal) -> anyhow::Result<Money> {
    Money::new(amount, Currency::SEK).context("bench amount")
}

/// One invoice's commands: paid and partly refunded, canceled, or reserved, committed and paid; spread over
/// 10 merchants, 50 stores and 200 terminals.
fn story(n: usize, t0: DateTime<Utc>) -> anyhow::Result<Vec<Vec<Event>>> {
    let scope = Scope {
        tenant: "tenant-bench".parse()?,
        merchant: format!("merchant-{}", n % 10).parse()?,
        store: format!("store-{}", n % 50).parse()?,
        terminal: format!("till-{}", n % 200).parse()?,
    };
    let total = money(Decimal::new(1000 + (n % 50_000) as i64, 2))?;
    let kind = match n % 3 {
        0 => Story::PaidAndRefunded { refund: money(Decimal::new(500, 2))? },
        1 => Story::Canceled,
        _ => Story::ReservedCommittedPaid { commit: total },
    };
    Ok(fixtures::story(kind, n, InvoiceId(Uuid::now_v7()), scope, total, t0))
}

/// User + system CPU time of this process so far (Linux `/proc/self/stat`, 100 ticks a second).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
