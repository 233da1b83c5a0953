//! `ops/bench append`: appends per second and latency of `EventStore::append` (one event per append, each writer
//! on its own streams) at 1, 4, 16 and 64 writers, next to the raw ceiling of the same server measured in the same
//! run: single-row INSERTs of the same row shape into a scratch table with the same columns and indexes, through
//! the same pool settings and concurrency.

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions as _, Executor as _, PgPool};
use store_pg::{AppendRequest, EventScope, EventStore, Metadata, NewEvent};
use uuid::Uuid;

const WRITERS: [usize; 4] = [1, 4, 16, 64];
/// Events per stream before a writer starts a new one (streams of a realistic length).
const STREAM_LENGTH: i64 = 20;

pub(crate) async fn run() -> anyhow::Result<()> {
    let seconds: f64 = std::env::var("SEQRD_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let duration = Duration::from_secs_f64(seconds);
    let db = ScratchDb::create("append").await?;
    let result = measure(&db.options, duration).await;
    db.drop().await?;
    let rows = result?;

    println!(
        "append benchmark: one event per append, {seconds} s per cell, payload ~{} B",
        payload(0, 0).to_string().len()
    );
    println!(
        "{:>7} | {:>12} {:>9} {:>9} | {:>12} {:>9} {:>9} | {:>5}",
        "writers", "store ev/s", "p50 ms", "p99 ms", "raw ev/s", "p50 ms", "p99 ms", "ratio"
    );
    for r in &rows {
        println!(
            "{:>7} | {:>12.0} {:>9.2} {:>9.2} | {:>12.0} {:>9.2} {:>9.2} | {:>5.2}",
            r.writers,
            r.store.rate(),
            r.store.percentile(0.50),
            r.store.percentile(0.99),
            r.raw.rate(),
            r.raw.percentile(0.50),
            r.raw.percentile(0.99),
            r.store.rate() / r.raw.rate()
        );
    }
    let at16 = rows.iter().find(|r| r.writers == 16).context("no 16-writer row")?;
    println!(
        "append: {:.0} events/s at 16 writers ({:.2} of raw)",
        at16.store.rate(),
        at16.store.rate() / at16.raw.rate()
    );
    Ok(())
}

struct Row {
    writers: usize,
    store: Sample,
    raw: Sample,
}

async fn measure(options: &PgConnectOptions, duration: Duration) -> anyhow::Result<Vec<Row>> {
    let setup = PgPool::connect_with(options.clone()).await?;
    store_pg::MIGRATOR.run(&setup).await?;
    setup.execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)").await?;
    setup.close().await;

    let mut rows = Vec::new();
    for writers in WRITERS {
        // One pool for both (one spare connection for the store's NOTIFY task). Raw and store alternate in two
        // rounds each, so that drift of this shared machine hits both alike.
        let raw_pool =
            store_pg::pool_options().max_connections(writers as u32 + 1).connect_with(options.clone()).await?;
        let store = EventStore::new(raw_pool.clone());
        let mut raw = Sample::default();
        let mut appended = Sample::default();
        for _round in 0..2 {
            raw.merge(
                drive(writers, duration / 2, |w| {
                    let pool = raw_pool.clone();
                    move |stream, version, n| {
                        let pool = pool.clone();
                        async move { raw_insert(&pool, stream, version, w, n).await }
                    }
                })
                .await?,
            );
            appended.merge(
                drive(writers, duration / 2, |w| {
                    let store = store.clone();
                    move |stream, version, n| {
                        let store = store.clone();
                        async move {
                            store.append(request(stream, version, w, n)).await?;
                            Ok(())
                        }
                    }
                })
                .await?,
            );
        }
        raw_pool.close().await;
        rows.push(Row { writers, store: appended, raw });
    }
    Ok(rows)
}

/// Runs `writers` loops for `duration`; each calls its operation with (stream, expected version, sequence number)
/// and records the latency.
async fn drive<M, F, Fut>(writers: usize, duration: Duration, make: M) -> anyhow::Result<Sample>
where
    M: Fn(usize) -> F,
    F: FnMut(Uuid, i64, u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let mut op = make(w);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut stream = Uuid::now_v7();
                let mut version = 0;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if version == STREAM_LENGTH {
                        stream = Uuid::now_v7();
                        version = 0;
                    }
                    let t = Instant::now();
                    op(stream, version, n).await?;
                    latencies.push(t.elapsed().as_micros() as u32);
                    version += 1;
                    n += 1;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    Ok(Sample { latencies_us: all, elapsed })
}

#[derive(Default)]
struct Sample {
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

impl Sample {
    fn merge(&mut self, other: Sample) {
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
        self.elapsed += other.elapsed;
    }

    fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency percentile in milliseconds.
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

/// A status observation with a payment: a typical event of about 300 bytes.
fn payload(writer: usize, n: u64) -> serde_json::Value {
    json!({
        "at": "2026-03-14T12:00:07.123456Z",
        "status": "PAID",
        "invoice_version": 2,
        "customer_tokens": [],
        "payment": {
            "ers_reference": format!("ERS{writer:04}{n:010}"),
            "payment_reference": format!("PR-{writer}-{n}"),
            "payment_date": "2026-03-14T12:00:06.5Z",
            "payer_terminal_id": "phone-46700000000",
            "amount": { "amount": "149.50", "currency": "SEK" }
        }
    })
}

fn scope(writer: usize) -> EventScope {
    EventScope {
        tenant_id: "tenant-bench".into(),
        merchant_id: "merchant-1".into(),
        store_id: Some("store-1".into()),
        terminal_id: Some(format!("till-{writer}")),
    }
}

fn request(stream_id: Uuid, expected_version: i64, writer: usize, n: u64) -> AppendRequest {
    AppendRequest {
        stream_id,
        expected_version,
        idempotency_key: Some(format!("cmd-{writer}-{n}")),
        scope: scope(writer),
        metadata: Metadata { correlation_id: stream_id, causation_id: None, actor: "bench".into() },
        events: vec![NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "status_observed".into(),
            schema_version: 1,
            data: payload(writer, n),
        }],
    }
}

async fn raw_insert(pool: &PgPool, stream_id: Uuid, version: i64, writer: usize, n: u64) -> anyhow::Result<()> {
    let r = request(stream_id, version, writer, n);
    let e = &r.events[0];
    sqlx::query(
        "INSERT INTO raw_events (event_id, stream_id, version, command_index, event_type, schema_version, data, \
         tenant_id, merchant_id, store_id, terminal_id, correlation_id, causation_id, actor, idempotency_key) \
         VALUES ($1, $2, $3, 0, $4, $5, $6::json, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(e.event_id)
    .bind(r.stream_id)
    .bind(version + 1)
    .bind(&e.event_type)
    .bind(e.schema_version)
    // Sent as text, serialized once, as the store sends it.
    .bind(e.data.to_string())
    .bind(&r.scope.tenant_id)
    .bind(&r.scope.merchant_id)
    .bind(&r.scope.store_id)
    .bind(&r.scope.terminal_id)
    .bind(r.metadata.correlation_id)
    .bind(r.metadata.causation_id)
    .bind(&r.metadata.actor)
    .bind(&r.idempotency_key)
    .execute(pool)
    .await?;
    Ok(())
}

/// A database created for one benchmark run on `DATABASE_URL`'s server and dropped afterwards.
pub(crate) struct ScratchDb {
    admin: PgConnectOptions,
    name: String,
    /// Named by `SEQRD_BENCH_DB`: reused as found and kept afterwards.
    reused: bool,
    /// Options connecting to the scratch database (`sslmode=disable`).
    pub(crate) options: PgConnectOptions,
}

impl ScratchDb {
    pub(crate) async fn create(purpose: &str) -> anyhow::Result<ScratchDb> {
        let url = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
        let admin = PgConnectOptions::from_str(&url)?.ssl_mode(PgSslMode::Disable);
        let mut conn = admin.connect().await?;
        if let Ok(name) = std::env::var("SEQRD_BENCH_DB") {
            // For repeated measurements: the database and what an earlier run wrote into it are kept.
            anyhow::ensure!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "SEQRD_BENCH_DB must be a lower-case identifier"
            );
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut conn)
                .await?;
            if !exists {
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
            }
            let options = admin.clone().database(&name);
            return Ok(ScratchDb { admin, name, reused: true, options });
        }
        let name = format!("seqrd_bench_{purpose}_{}", std::process::id());
        conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str()).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
        let options = admin.clone().database(&name);
        Ok(ScratchDb { admin, name, reused: false, options })
    }

    /// Whether the database was named by `SEQRD_BENCH_DB` (it may hold an earlier run's data).
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// Drops the database, unless `SEQRD_BENCH_KEEP_DB` is set (then it is kept for inspection) or it was named
    /// by `SEQRD_BENCH_DB`.
    pub(crate) async fn drop(self) -> anyhow::Result<()> {
        if self.reused || std::env::var_os("SEQRD_BENCH_KEEP_DB").is_some() {
            println!("kept database {}", self.name);
            return Ok(());
        }
        let mut conn = self.admin.connect().await?;
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await?;
        Ok(())
    }
}
