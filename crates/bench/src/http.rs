//! `ops/bench http`: issue-invoice requests per second through the whole service (HTTP API, decide, append,
//! sendInvoice to an in-process seqr-sim over loopback, outcome append) and their p99 latency.
//!
//! A scratch database `seqrd_bench_http_<pid>` is created and dropped. `SEQRD_BENCH_SECS` (default 10) and
//! `SEQRD_BENCH_CLIENTS` (default 16) change the run.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use devstack::{
    demo::invoice,
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
    let (_, pool) = stack::scratch_database(&config, &database).await?;
    let result = measure(config.clone(), pool.clone(), secs, clients).await;
    pool.close().await;
    stack::drop_database(&config, &database).await?;
    let (rate, p50, p99, errors) = result?;
    println!("clients: {clients}, duration: {secs} s, errors: {errors}, p50 {p50:.1} ms");
    println!("http: {rate:.0} req/s, p99 {p99:.1} ms");
    Ok(())
}

async fn measure(
    config: seqrd::config::Config,
    pool: sqlx::PgPool,
    secs: u64,
    clients: usize,
) -> anyhow::Result<(f64, f64, f64, usize)> {
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
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let result = (latencies.len() as f64 / elapsed, pct(0.50), pct(0.99), errors);
    if let Ok(stack) = std::sync::Arc::try_unwrap(stack) {
        stack.shutdown().await;
    }
    Ok(result)
}

pub(crate) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
