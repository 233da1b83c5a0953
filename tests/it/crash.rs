//! Processes on a bad day: real `seqrd` children killed with SIGKILL (a worker right after the shopper paid, an API
//! process mid-request), and a shutdown that must not wait on a hung SEQR call.
//! SEQR reverses a PAID payment whose status is not fetched within its reversal window (20 s, seqr-sim's default),
//! so whichever process takes over must fetch it well inside that window.

use std::{process::Stdio, time::Duration};

use devstack::{
    demo::invoice,
    stack::{SeqrTarget, Stack},
};
use seqr_sim::SimConfig;
use seqrd::config::Config;
use serde_json::json;
use sqlx::PgPool;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::common::{config, held};

const REGISTERS: &[(&str, &str, &str)] = &[("acme", "north", "till-1")];

/// The `seqrd` binary next to this test binary (`cargo test --workspace` builds it).
pub(crate) fn seqrd_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(|deps| deps.parent()).unwrap().join("seqrd");
    assert!(path.exists(), "{} is missing: build it with `cargo build -p seqrd` (ops/test does)", path.display());
    path
}

async fn database_url(pool: &PgPool, config: &Config) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.unwrap();
    let mut url = url::Url::parse(&config.database_url).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// `seqrd serve --only <part>` against this test's database and seqr-sim, with `env` added; killed when dropped.
pub(crate) fn seqrd_part(part: &str, database_url: &str, seqr_url: &str, env: &[(&str, String)]) -> Child {
    Command::new(seqrd_binary())
        .args(["serve", "--only", part])
        .env("DATABASE_URL", database_url)
        .env("SEQRD_ADMIN_ADDR", "127.0.0.1:0")
        .env("SEQR_URL", seqr_url)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("seqrd starts")
}

fn worker(database_url: &str, seqr_url: &str, instance: &str) -> Child {
    // The longest lease the 20 s reversal window allows (start-up checks it), so that "taken back at once" is
    // told apart from "waited for the lease" with a margin even on a loaded machine.
    let env = [("SEQRD_INSTANCE_ID", instance.to_owned()), ("SEQRD_LEASE_MS", "9000".to_owned())];
    seqrd_part("workers", database_url, seqr_url, &env)
}

/// A stack on this test's database, and that database's URL for the child processes.
pub(crate) async fn start(pool: &PgPool) -> (Stack, String) {
    let config = config();
    let db = database_url(pool, &config).await;
    let stack = Stack::start(
        config,
        pool.clone(),
        SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())),
        "t1",
        REGISTERS,
    )
    .await
    .expect("stack starts");
    (stack, db)
}

/// Waits (checking every 20 ms, at most `within`) until `condition` holds; the condition is another process's work.
pub(crate) async fn until<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills the worker that leased the invoice right after the shopper paid; `next` is the instance id of the process
/// that takes over. Returns when seqrd has seen PAID.
async fn crash_after_payment(stack: &Stack, pool: &PgPool, db: &str, next: &str, before_the_dead_lease_expires: bool) {
    let seqr_url = stack.config.seqr_url.to_string();
    let (status, view) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "25.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    let id: Uuid = view["id"].as_str().unwrap().parse().unwrap();
    // The worker's first status call hangs (seqr-sim holds it 10 s before it even reads the invoice), so the worker
    // holds the invoice's lease when the shopper pays; it is killed at once, its call never answered.
    let hang = held("getPaymentStatus", 10_000);
    stack.sim.as_ref().unwrap().add_fault(hang);
    let mut first = worker(db, &seqr_url, "w-1");
    let leased = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM poll_jobs WHERE invoice_id = $1 AND lease_owner = 'w-1')",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    until(Duration::from_secs(30), "the worker leases the invoice", leased).await;
    let (status, _) = stack.phone("pay", &json!({"code": view["invoice_reference"], "shopper": "s"})).await.unwrap();
    assert_eq!(status, 200);
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let dead_lease: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT lease_until FROM poll_jobs WHERE invoice_id = $1 AND lease_owner = 'w-1'")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
    let dead_lease = dead_lease.expect("the killed worker held the lease");

    let _next = worker(db, &seqr_url, next);
    let paid =
        || async { stack.get(&format!("/v1/invoices/{id}")).await.map(|v| v["status"] == "paid").unwrap_or(false) };
    until(Duration::from_secs(60), "seqrd sees PAID", paid).await;
    if before_the_dead_lease_expires {
        let early: bool = sqlx::query_scalar("SELECT now() < $1").bind(dead_lease).fetch_one(pool).await.unwrap();
        assert!(early, "the restarted instance waited for its own dead lease to expire");
    }
    let reversed =
        stack.sim.as_ref().unwrap().with_seqr(|e, _| e.ledger().iter().filter(|l| l.kind == "REVERSAL").count());
    assert_eq!(reversed, 0, "SEQR reversed a sale after a crash");
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn no_paid_sale_is_lost_when_a_worker_is_killed(pool: PgPool) {
    let (stack, db) = start(&pool).await;
    // Restarted under the same instance id: it takes its own leases back at once.
    crash_after_payment(&stack, &pool, &db, "w-1", true).await;
    // Another process: it takes the dead one's lease over when it expires (a quarter of the reversal window).
    sqlx::query("DELETE FROM poll_jobs").execute(&pool).await.unwrap();
    crash_after_payment(&stack, &pool, &db, "w-2", false).await;
    stack.shutdown().await;
}

/// The API process dies while a request with an Idempotency-Key waits for SEQR. The client's retry (here through
/// another process) is answered at once from what the log shows, not 409 `idempotency_key_in_use` until a lock
/// runs out, and it never performs a second sendInvoice.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_retry_after_the_api_process_was_killed_is_answered_at_once(pool: PgPool) {
    let (stack, db) = start(&pool).await;
    let sim = stack.sim.as_ref().unwrap();
    sim.add_fault(held("sendInvoice", 10_000));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = ("SEQRD_HTTP_ADDR", format!("127.0.0.1:{port}"));
    let mut api = seqrd_part("api", &db, stack.config.seqr_url.as_str(), &[addr]);
    let base = format!("http://127.0.0.1:{port}");
    let http = stack.http.clone();
    let health = || async { http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status().is_success()) };
    until(Duration::from_secs(30), "the API process answers", health).await;

    let body =
        json!({"terminal_id": "till-1", "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "9.00", json!({}))});
    let first = {
        let (http, key, body) = (stack.http.clone(), stack.key.clone(), body.clone());
        let url = format!("{base}/v1/invoices");
        tokio::spawn(async move {
            http.post(url).bearer_auth(key).header("Idempotency-Key", "crash-1").json(&body).send().await
        })
    };
    let waiting_for_seqr = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM events WHERE event_type = 'send_invoice_requested')",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    until(Duration::from_secs(30), "the request records its sendInvoice", waiting_for_seqr).await;
    api.start_kill().unwrap();
    api.wait().await.unwrap();
    assert!(first.await.unwrap().is_err(), "the killed process never answered");
    // Postgres ends the dead process's session (and its lock) as soon as its connections close.
    let gone = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = $1)",
        )
        .bind(i64::from(store_pg::locks::PROCESS_LOCK_CLASS))
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    until(Duration::from_secs(30), "the dead process's session ends", gone).await;

    let (status, view) = stack.call(reqwest::Method::POST, "/v1/invoices", Some(&body), Some("crash-1")).await.unwrap();
    assert_eq!(status, 202, "answered from the log while the call's outcome is unknown: {view}");
    let sends: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'send_invoice_requested'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sends, 1, "one sendInvoice recorded");
    let at_seqr = sim.with_seqr(|e, _| e.invoices(None).len());
    assert_eq!(at_seqr, 0, "the retry did not send the invoice again (the killed call never reached SEQR)");
    stack.shutdown().await;
}

/// SIGTERM while a worker waits on a SEQR call that hangs: the process stops after its drain time (not after the
/// call's timeout), and releases its leases, so another process takes the invoice at once.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn shutdown_is_bounded_by_the_drain_time_and_releases_the_leases(pool: PgPool) {
    let mut config = config();
    let db = database_url(&pool, &config).await;
    let stack = Stack::start(
        config.clone(),
        pool.clone(),
        SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())),
        "t1",
        REGISTERS,
    )
    .await
    .expect("stack starts");
    let (status, view) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "4.00", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    let id: Uuid = view["id"].as_str().unwrap().parse().unwrap();
    // The status call hangs far longer than the client's own 5 s timeout.
    stack.sim.as_ref().unwrap().add_fault(held("getPaymentStatus", 120_000));
    config.database_url = db;
    config.seqr_url = stack.config.seqr_url.clone();
    config.instance_id = "draining-worker".to_owned();
    config.shutdown_drain = Duration::from_millis(300);
    let (trigger, signal) = engine::shutdown::channel();
    let run = tokio::spawn(seqrd::app::run(config, &[seqrd::app::Part::Workers], signal));
    let leased = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM poll_jobs WHERE invoice_id = $1 AND lease_owner = 'draining-worker')",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    until(Duration::from_secs(30), "the worker is polling the invoice", leased).await;
    trigger.fire();
    // Far below the hung call's 5 s timeout: only the drain time can end the run this soon.
    tokio::time::timeout(Duration::from_secs(3), run).await.expect("stopped within the drain time").unwrap().unwrap();
    assert!(!leased().await, "its lease was released for another process");
    stack.shutdown().await;
}
