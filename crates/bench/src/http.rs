//! `ops/bench http`: issue-invoice requests per second through the whole service (HTTP API, decide, append,
//! sendInvoice to an in-process seqr-sim over loopback, outcome append) and their p99 latency.
//!
//! Two runs on the same scratch database: the measured one on a direct pool (rate and latency), then a short one
//! (`SEQRD_BENCH_COUNT_SECS`, default 3) whose pool connects through a Postgres round-trip counter
//! (`devstack::pgcount`, a proxy on loopback: one more hop on the same cores, so it is kept out of the timing),
//! which tells the round trips per request actually made: all round trips during that run (the store's
//! background NOTIFY, sqlx's pings and its one-time statement preparations included) over its successful
//! requests, and which statements they were.
//!
//! A scratch database `seqrd_bench_http_<pid>` is created and dropped. `SEQRD_BENCH_SECS` (default 10) and
//! `SEQRD_BENCH_CLIENTS` (default 16) change the run.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use devstack::{
    demo::invoice,
    pgcount::{Kind, PgCounter, RoundTrip},
    stack::{self, SeqrTarget, Stack},
};
use seqrd::config::RawConfig;
use serde_json::json;

pub(crate) async fn run() -> anyhow::Result<()> {
    let secs: u64 = env_or("SEQRD_BENCH_SECS", 10);
    let clients: usize = env_or("SEQRD_BENCH_CLIENTS", 16);
    let mut config = RawConfig::load(None, |k| std::env::var(k).ok())?.resolve()?;
    config.seqr_rate_limit = 1_000_000;
    let database = format!("seqrd_bench_http_{}", std::process::id());
    let (url, direct) = stack::scratch_database(&config, &database).await?;
    direct.close().await;
    let count_secs: u64 = env_or("SEQRD_BENCH_COUNT_SECS", 3);
    let result = async {
        let options: store_pg::PgConnectOptions = url.parse().context("the scratch database URL")?;
        let pool = store_pg::pool_options().max_connections(16).connect_with(options.clone()).await?;
        let timed = measure(config.clone(), pool.clone(), None, secs, clients).await;
        pool.close().await;
        let counter = PgCounter::in_front_of(&options).await.context("starting the round-trip counter")?;
        let pool = store_pg::pool_options().max_connections(16).connect_with(counter.options(&options)).await?;
        let counted = measure(config.clone(), pool.clone(), Some(&counter), count_secs, clients).await;
        pool.close().await;
        Ok::<_, anyhow::Error>((timed?, counted?))
    }
    .await;
    stack::drop_database(&config, &database).await?;
    let (Measured { rate, p50, p99, errors, .. }, counted) = result?;
    println!("clients: {clients}, duration: {secs} s, errors: {errors}, p50 {p50:.1} ms");
    let Measured { requests, trips, .. } = counted;
    let per_request = trips.len() as f64 / requests.max(1) as f64;
    println!(
        "Postgres round trips (a {count_secs} s run through the counter, {:.0} req/s): {} for {requests} requests; \
         by statement (per request, in all):",
        counted.rate,
        trips.len()
    );
    for (label, n) in by_statement(&trips) {
        println!("  {:>6.2} {n:>7}  {label}", n as f64 / requests.max(1) as f64);
    }
    println!("http: {rate:.0} req/s, p99 {p99:.1} ms, {per_request:.2} round trips/request");
    Ok(())
}

/// What a run measured.
struct Measured {
    rate: f64,
    p50: f64,
    p99: f64,
    errors: usize,
    /// Successful requests.
    requests: usize,
    /// Every round trip made while the clients ran (when counted).
    trips: Vec<RoundTrip>,
}

/// Round trips counted by statement (the start of its SQL), most frequent first; prepares and pings apart.
fn by_statement(trips: &[RoundTrip]) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for trip in trips {
        let sql = trip.sql.iter().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>();
        let sql: String = sql.join("; ").chars().take(100).collect();
        let label = match trip.kind {
            Kind::Execute => sql,
            Kind::Prepare => format!("prepare: {sql}"),
            Kind::Ping => "(ping: a Sync alone; sqlx's pool pings every connection returned to it)".to_owned(),
        };
        *counts.entry(label).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

async fn measure(
    config: seqrd::config::Config,
    pool: sqlx::PgPool,
    counter: Option<&PgCounter>,
    secs: u64,
    clients: usize,
) -> anyhow::Result<Measured> {
    // One register per client (a registered SEQR terminal holds one open invoice; each client has its own).
    let names: Vec<String> = (0..clients).map(|i| format!("till-{i}")).collect();
    let registers: Vec<(&str, &str, &str)> = names.iter().map(|n| ("bench", "store-1", n.as_str())).collect();
    let stack = Stack::start(
        config,
        pool,
        SeqrTarget::InProcess(Box::new(seqr_sim::SimConfig::seqr_defaults())),
        "bench",
        &registers,
    )
    .await
    .context("starting the stack")?;
    let stack = std::sync::Arc::new(stack);
    if let Some(counter) = counter {
        counter.reset();
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for name in names {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let body = invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "10.00", json!({}));
                match stack.issue(&name, body, json!([])).await {
                    Ok((201, _)) => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let trips = counter.map(PgCounter::snapshot).unwrap_or_default();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let result = Measured {
        rate: latencies.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
        requests: latencies.len(),
        trips,
    };
    if let Ok(stack) = std::sync::Arc::try_unwrap(stack) {
        stack.shutdown().await;
    }
    Ok(result)
}

pub(crate) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
