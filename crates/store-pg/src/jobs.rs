//! The leased work queue of invoices that need SEQR's attention (table `poll_jobs`).
//!
//! A row exists while an invoice is open (being paid, reserved) or has a call in flight. Workers lease due rows
//! with `FOR UPDATE SKIP LOCKED`, so several seqrd processes share the work without taking the same invoice twice;
//! a lease that is never released (the process died) expires and the invoice is taken by another process.
//! A notification from SEQR sets `wake`, so a poll in progress does not swallow it.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// One leased invoice.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub invoice_id: Uuid,
    pub interval: Duration,
}

/// Makes sure the invoice is looked at no later than `within` from now.
pub async fn schedule(pool: &PgPool, invoice_id: Uuid, within: Duration, interval: Duration) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO poll_jobs (invoice_id, due_at, interval_ms)
         VALUES ($1, now() + make_interval(secs => $2), $3)
         ON CONFLICT (invoice_id) DO UPDATE SET due_at = LEAST(poll_jobs.due_at, EXCLUDED.due_at), updated_at = now()",
    )
    .bind(invoice_id)
    .bind(within.as_secs_f64())
    .bind(millis(interval))
    .execute(pool)
    .await?;
    Ok(())
}

/// A notification: poll at once, also if a worker holds the invoice right now.
pub async fn wake(pool: &PgPool, invoice_id: Uuid) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE poll_jobs SET due_at = now(), wake = true, updated_at = now() WHERE invoice_id = $1")
        .bind(invoice_id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Makes the invoice due at once: wakes its job (also if a worker holds it right now), or creates one.
pub async fn due_now(pool: &PgPool, invoice_id: Uuid, interval: Duration) -> Result<(), StoreError> {
    if !wake(pool, invoice_id).await? {
        schedule(pool, invoice_id, Duration::ZERO, interval).await?;
    }
    Ok(())
}

/// Leases up to `limit` due invoices for `lease`.
pub async fn lease(pool: &PgPool, owner: &str, limit: u32, lease: Duration) -> Result<Vec<Lease>, StoreError> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "WITH due AS (
             SELECT invoice_id FROM poll_jobs
             WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now())
             ORDER BY due_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED
         )
         UPDATE poll_jobs j
         SET lease_owner = $1, lease_until = now() + make_interval(secs => $3), wake = false, polls = polls + 1
         FROM due WHERE j.invoice_id = due.invoice_id
         RETURNING j.invoice_id, j.interval_ms",
    )
    .bind(owner)
    .bind(i64::from(limit))
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(invoice_id, ms)| Lease { invoice_id, interval: Duration::from_millis(ms.max(1) as u64) })
        .collect())
}

/// Releases a round's leases in one statement: each invoice is due again after its `next` (at once if woken
/// meanwhile), or, with `None`, its job is removed (the invoice needs nothing more; a woken one is polled once more).
pub async fn release_all(pool: &PgPool, owner: &str, leases: &[(Uuid, Option<Duration>)]) -> Result<(), StoreError> {
    if leases.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = leases.iter().map(|(id, _)| *id).collect();
    let next: Vec<Option<f64>> = leases.iter().map(|(_, next)| next.map(|d| d.as_secs_f64())).collect();
    sqlx::query(
        "WITH r AS (SELECT * FROM unnest($2::uuid[], $3::float8[]) AS r(invoice_id, next_secs)),
              gone AS (
                  DELETE FROM poll_jobs j USING r
                  WHERE j.invoice_id = r.invoice_id AND r.next_secs IS NULL AND j.lease_owner = $1 AND NOT j.wake
                  RETURNING j.invoice_id
              )
         UPDATE poll_jobs j
         SET due_at = CASE WHEN j.wake THEN now() ELSE now() + make_interval(secs => coalesce(r.next_secs, 0)) END,
             interval_ms = least(coalesce(r.next_secs, 0) * 1000, 2147483647)::int4,
             lease_owner = NULL, lease_until = NULL, wake = false, updated_at = now()
         FROM r
         WHERE j.invoice_id = r.invoice_id AND j.lease_owner = $1
           AND j.invoice_id NOT IN (SELECT invoice_id FROM gone)",
    )
    .bind(owner)
    .bind(&ids)
    .bind(&next)
    .execute(pool)
    .await?;
    Ok(())
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

/// A process starting under `owner` takes back, at once, the leases it held before it stopped (a restart with the
/// same instance id never waits for its own dead leases to expire). Returns how many.
pub async fn reclaim(pool: &PgPool, owner: &str) -> Result<u64, StoreError> {
    let n = sqlx::query(
        "UPDATE poll_jobs SET due_at = LEAST(due_at, now()), lease_owner = NULL, lease_until = NULL, updated_at = now()
         WHERE lease_owner = $1",
    )
    .bind(owner)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// Extends the leases `owner` holds by `lease` from now, so a long round never loses them while its owner lives.
pub async fn renew(pool: &PgPool, owner: &str, lease: Duration) -> Result<u64, StoreError> {
    let n = sqlx::query(
        "UPDATE poll_jobs SET lease_until = now() + make_interval(secs => $2)
         WHERE lease_owner = $1 AND lease_until IS NOT NULL",
    )
    .bind(owner)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// The poll queue at a glance, for metrics and alerts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueFigures {
    /// Jobs (open invoices, or calls in flight).
    pub jobs: i64,
    /// Due now and not leased.
    pub due: i64,
    /// Due for longer than `overdue_after` and not leased (a PAID not fetched in time is reversed by SEQR).
    pub overdue: i64,
    /// Leased by a worker now.
    pub leased: i64,
    /// How long the longest-waiting due job has waited, in seconds (0 when none is due).
    pub oldest_due_seconds: f64,
}

/// [`QueueFigures`] in one statement.
pub async fn queue_figures(pool: &PgPool, overdue_after: Duration) -> Result<QueueFigures, StoreError> {
    let (jobs, due, overdue, leased, oldest): (i64, i64, i64, i64, f64) = sqlx::query_as(
        "WITH free AS (SELECT due_at FROM poll_jobs WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now()))
         SELECT (SELECT count(*) FROM poll_jobs),
                (SELECT count(*) FROM free),
                (SELECT count(*) FROM free WHERE due_at <= now() - make_interval(secs => $1)),
                (SELECT count(*) FROM poll_jobs WHERE lease_until >= now()),
                coalesce((SELECT extract(epoch FROM now() - min(due_at))::float8 FROM free), 0)",
    )
    .bind(overdue_after.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(QueueFigures { jobs, due, overdue, leased, oldest_due_seconds: oldest })
}

/// The poll jobs one owner holds: all of them, and those whose lease has not expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnerLeases {
    /// Still marked as the owner's (expired or not): zero once other processes took them over.
    pub held: i64,
    /// Of those, leased now.
    pub live: i64,
}

/// [`OwnerLeases`] of `owner`, in one statement.
pub async fn leases_of(pool: &PgPool, owner: &str) -> Result<OwnerLeases, StoreError> {
    let (held, live): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE lease_until > now()) FROM poll_jobs WHERE lease_owner = $1",
    )
    .bind(owner)
    .fetch_one(pool)
    .await?;
    Ok(OwnerLeases { held, live })
}
