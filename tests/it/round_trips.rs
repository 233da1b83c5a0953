//! The Postgres round trips of the command path, counted by a proxy in front of Postgres (`devstack::pgcount`):
//! what one request (or one worker round) costs, as ARCHITECTURE.md and the engine's docs promise: a refund reads
//! its stream once and appends twice, an unchanged status poll reads its stream and writes nothing.
//!
//! The stack's pool has two connections: the register-change listener holds one, every statement runs on the
//! other. So once a flow has run, every statement it needs is prepared on the connection it gets, and the count
//! is the steady state (on a fresh connection sqlx prepares a statement in a round trip of its own, once).
//! Every connection goes back to the pool with a ping (sqlx's pool does that, from a task of its own): the pings
//! count like any round trip (they cost Postgres a wake-up like a statement), which is why a step of a use case
//! runs its statements on one connection. The store's NOTIFY after an append is sent by a background task after
//! the commit (no request waits for it): it is reported, but not counted against the request.

use std::fmt::Write as _;

use devstack::{
    demo::invoice,
    pgcount::{owners, Kind, PgCounter, RoundTrip},
    stack::{SeqrTarget, Stack},
};
use reqwest::Method;
use seqr_sim::SimConfig;
use serde_json::json;
use sqlx::PgPool;

use crate::common::config;

const REGISTERS: &[(&str, &str, &str)] =
    &[("acme", "north", "till-1"), ("acme", "north", "till-2"), ("acme", "south", "till-3")];

/// The background wake-up the store sends after an append (`store_pg::EventStore`'s notifier).
const NOTIFY: &str = "pg_notify('seqrd_events'";

/// A stack whose pool connects through a counter; `pool` (the test's own, direct) stays uncounted.
async fn counted_stack(pool: &PgPool) -> (PgCounter, Stack) {
    let options = pool.connect_options();
    let counter = PgCounter::in_front_of(&options).await.expect("counter starts");
    let counted = store_pg::pool_options()
        .max_connections(2)
        .connect_with(counter.options(&options))
        .await
        .expect("pool through the counter");
    let stack =
        Stack::start(config(), counted, SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())), "t1", REGISTERS)
            .await
            .expect("stack starts");
    (counter, stack)
}

/// Issues an invoice; returns its id and view.
async fn issue(stack: &Stack, terminal: &str, total: &str) -> (uuid::Uuid, serde_json::Value) {
    let (status, view) = stack
        .issue(terminal, invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", total, json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    (view["id"].as_str().unwrap().parse().unwrap(), view)
}

async fn issue_paid(stack: &Stack, total: &str) -> uuid::Uuid {
    let (id, view) = issue(stack, "till-1", total).await;
    let (status, body) =
        stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s1"})).await.unwrap();
    assert_eq!(status, 200, "{body}");
    stack.poll(id).await.unwrap();
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!(view["status"], "paid", "{view}");
    id
}

async fn refund(stack: &Stack, id: uuid::Uuid, key: &str) -> (u16, serde_json::Value) {
    let body = json!({"amount": {"amount": "1.00", "currency": "SEK"}});
    stack.call(Method::POST, &format!("/v1/invoices/{id}/refunds"), Some(&body), Some(key)).await.unwrap()
}

/// A read of one stream's events (also of its version only), not the append's own version check.
fn reads_stream(trip: &RoundTrip) -> bool {
    reads(trip, "FROM events WHERE stream_id = $1")
}

/// A read of the events of several streams at once.
fn reads_streams(trip: &RoundTrip) -> bool {
    reads(trip, "FROM events WHERE stream_id = ANY($1)")
}

fn reads(trip: &RoundTrip, what: &str) -> bool {
    trip.kind == Kind::Execute && trip.sql.iter().any(|s| s.trim_start().starts_with("SELECT") && s.contains(what))
}

fn writes_events(trip: &RoundTrip) -> bool {
    ["INSERT INTO events", "UPDATE events", "DELETE FROM events"].iter().any(|w| trip.runs(w))
}

fn count(trips: &[&RoundTrip], kind: Kind) -> usize {
    trips.iter().filter(|t| t.kind == kind).count()
}

/// The round trips, one a line, for assertion messages (and `--nocapture`).
fn list(trips: &[&RoundTrip]) -> String {
    trips.iter().enumerate().fold(String::new(), |mut out, (i, t)| {
        let _ = writeln!(out, "  {}. {t}", i + 1);
        out
    })
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_refund_with_an_idempotency_key_makes_five_round_trips_and_reads_its_stream_once(pool: PgPool) {
    let (counter, stack) = counted_stack(&pool).await;
    let id = issue_paid(&stack, "100.00").await;
    // Warm-up: the first request with an Idempotency-Key takes the process lock (once per process, on a connection
    // of its own), the refund's statements get prepared, and the API key is looked up (then cached for a while).
    let (status, body) = refund(&stack, id, "refund-0").await;
    assert_eq!(status, 200, "{body}");

    counter.reset();
    let (status, body) = refund(&stack, id, "refund-1").await;
    let trips = counter.snapshot();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refunded"]["amount"], "2.00", "{body}");

    // The NOTIFY after each append, and the ping after it, are the store's background task's.
    let owner = owners(&trips);
    let (background, request): (Vec<_>, Vec<_>) =
        trips.iter().enumerate().partition(|(i, _)| trips[owner[*i]].runs(NOTIFY));
    // Before the answer: up to the last statement (the ping returning its connection to the pool may come after).
    let last = request.iter().rposition(|(_, t)| t.kind == Kind::Execute).map_or(0, |p| p + 1);
    let before_answer: Vec<&RoundTrip> = request[..last].iter().map(|(_, t)| *t).collect();
    let statements: Vec<&RoundTrip> = before_answer.iter().copied().filter(|t| t.kind == Kind::Execute).collect();
    let background: Vec<&RoundTrip> = background.into_iter().map(|(_, t)| t).collect();
    println!(
        "refund: {} round trips before the answer ({} statements, {} pings, {} prepares):\n{}after:\n{}background:\n{}",
        before_answer.len(),
        statements.len(),
        count(&before_answer, Kind::Ping),
        count(&before_answer, Kind::Prepare),
        list(&before_answer),
        list(&request[last..].iter().map(|(_, t)| *t).collect::<Vec<_>>()),
        list(&background)
    );
    // The statements: 1. the Idempotency-Key claim (`idempotency_keys`), 2. the invoice's stream read (`events`),
    // 3. the refund_requested append with its poll job (`events`, `poll_jobs`), all three on the claim's connection,
    // which goes back to the pool (its ping) while refundPayment goes to SEQR, then 4. the call_succeeded append
    // with the next poll and the Idempotency-Key's answer (`events`, `poll_jobs`, `idempotency_keys`). The API key
    // was looked up by the warm-up and is cached.
    assert!(
        statements.len() <= 4,
        "a refund runs at most 4 statements, ran {}:\n{}",
        statements.len(),
        list(&statements)
    );
    let reads = statements.iter().filter(|t| reads_stream(t)).count();
    assert_eq!(reads, 1, "the invoice's stream is read once:\n{}", list(&statements));
    assert!(background.iter().all(|t| t.kind == Kind::Ping || t.runs(NOTIFY)), "{}", list(&background));
    assert!(
        before_answer.len() <= 5,
        "a refund makes at most 5 round trips before it answers, pool pings included; made {} ({} pings):\n{}",
        before_answer.len(),
        count(&before_answer, Kind::Ping),
        list(&before_answer)
    );
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn an_unchanged_status_poll_reads_the_streams_in_one_statement_and_writes_nothing(pool: PgPool) {
    let (counter, stack) = counted_stack(&pool).await;
    let mut ids = Vec::new();
    for (_, _, terminal) in REGISTERS {
        ids.push(issue(&stack, terminal, "10.00").await.0);
    }
    // The first round observes ISSUED (a write); the second is unchanged and prepares what an unchanged one runs.
    for _ in 0..2 {
        for &id in &ids {
            stack.poll(id).await.unwrap();
        }
    }
    let interval = stack.config.poll.active_interval;
    for &id in &ids {
        store_pg::jobs::due_now(&pool, id, interval).await.unwrap();
    }
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();

    counter.reset();
    let round = stack.poller.poll_once().await.unwrap();
    let trips = counter.snapshot();
    assert_eq!((round.attended, round.polls, round.failed), (ids.len(), ids.len(), 0), "{round:?}");

    let all: Vec<&RoundTrip> = trips.iter().collect();
    println!("unchanged poll of {} invoices: {} round trips:\n{}", ids.len(), trips.len(), list(&all));
    let owner = owners(&trips);
    let lease = |i: usize| trips[owner[i]].runs("FOR UPDATE SKIP LOCKED");
    let release = |i: usize| trips[owner[i]].runs("DELETE FROM poll_jobs j USING r");
    let leases = trips.iter().filter(|t| t.runs("FOR UPDATE SKIP LOCKED")).count();
    let releases = trips.iter().filter(|t| t.runs("DELETE FROM poll_jobs j USING r")).count();
    assert_eq!((leases, releases), (1, 1), "one lease, one release (one statement each):\n{}", list(&all));
    let per_invoice: Vec<&RoundTrip> =
        trips.iter().enumerate().filter(|(i, _)| !lease(*i) && !release(*i)).map(|(_, t)| t).collect();
    // The leased streams are read together, in one statement; none is read alone.
    assert_eq!(per_invoice.iter().filter(|t| reads_stream(t)).count(), 0, "{}", list(&per_invoice));
    assert_eq!(per_invoice.iter().filter(|t| reads_streams(t)).count(), 1, "{}", list(&per_invoice));
    assert!(!trips.iter().any(writes_events), "an unchanged poll writes no event:\n{}", list(&all));
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(events_after, events_before, "nothing written to events");
    assert!(
        per_invoice.len() <= ids.len(),
        "at most 1 round trip per invoice beyond the lease and the release, pool pings included; made {} for {} \
         invoices:\n{}",
        per_invoice.len(),
        ids.len(),
        list(&per_invoice)
    );
    stack.shutdown().await;
}
