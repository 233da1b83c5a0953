//! `ops/bench poll`: status polls per second by the workers (lease, getPaymentStatus to an in-process seqr-sim,
//! decide, release) for open invoices whose status does not change, and a check that unchanged polls write no
//! event. Reported per core of this machine as well (the sim and Postgres share the cores).
//!
//! A scratch database `seqrd_bench_poll_<pid>` is created and dropped. `SEQRD_BENCH_SECS` (default 10) and
//! `SEQRD_BENCH_INVOICES` (default 2000) change the run.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use devstack::{
    demo::invoice,
    stack::{self, SeqrTarget, Stack},
};
use engine::{Poller, Secret, TerminalSpec};
use seqrd::config::RawConfig;
use serde_json::json;

use crate::http::env_or;

pub(crate) async fn run() -> anyhow::Result<()> {
    let secs: u64 = env_or("SEQRD_BENCH_SECS", 10);
    let invoices: usize = env_or("SEQRD_BENCH_INVOICES", 2000);
    let mut config = RawConfig::load(None, |k| std::env::var(k).ok())?.resolve()?;
    config.seqr_rate_limit = 1_000_000;
    config.poll.batch = 256;
    // Released invoices are not due again by themselves: each measured pass makes them all due explicitly.
    config.poll.active_interval = Duration::from_secs(3600);
    let database = format!("seqrd_bench_poll_{}", std::process::id());
    let (_, pool) = stack::scratch_database(&config, &database).await?;
    let result = measure(config.clone(), pool.clone(), secs, invoices).await;
    pool.close().await;
    stack::drop_database(&config, &database).await?;
    let (polls, elapsed, writes) = result?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rate = polls as f64 / elapsed;
    println!("invoices: {invoices}, polls: {polls} in {elapsed:.1} s, events written by unchanged polls: {writes}");
    println!("per core ({cores} cores, shared with seqr-sim and Postgres): {:.0} polls/s", rate / cores as f64);
    println!("poll: {rate:.0} polls/s");
    Ok(())
}

async fn measure(
    config: seqrd::config::Config,
    pool: sqlx::PgPool,
    secs: u64,
    invoices: usize,
) -> anyhow::Result<(usize, f64, i64)> {
    let stack = Stack::start(
        config,
        pool.clone(),
        SeqrTarget::InProcess(Box::new(seqr_sim::SimConfig::seqr_defaults())),
        "bench",
        &[],
    )
    .await
    .context("starting the stack")?;
    // The sim's webshop terminal keeps any number of open invoices.
    let spec = TerminalSpec {
        tenant_id: "bench".into(),
        merchant_id: "bench".into(),
        store_id: "web".into(),
        terminal_id: "web-1".into(),
    };
    stack
        .engine
        .add_terminal(&spec, seqr_sim::DEFAULT_TERMINAL_ID, &Secret::new(seqr_sim::DEFAULT_TERMINAL_PASSWORD))
        .await?;
    for _ in 0..invoices {
        let (status, body) = stack
            .issue("web-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "10.00", json!({})), json!([]))
            .await?;
        anyhow::ensure!(status == 201, "issue: {status} {body}");
    }
    // First round observes ISSUED once per invoice (a write); from then on nothing changes.
    sqlx::query("UPDATE poll_jobs SET due_at = now()").execute(&pool).await?;
    let poller = Poller::new(stack.engine.clone(), "bench");
    while poller.poll_once().await?.attended > 0 {}
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut polls = 0;
    while Instant::now() < deadline {
        sqlx::query("UPDATE poll_jobs SET due_at = now()").execute(&pool).await?;
        loop {
            let round = poller.poll_once().await?;
            polls += round.polls;
            if round.attended == 0 || Instant::now() >= deadline {
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await?;
    stack.shutdown().await;
    Ok((polls, elapsed, after - before))
}
