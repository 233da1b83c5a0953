//! What the processes of a fleet share besides the log: the live instances (heartbeats), the notification tokens
//! SEQR calls back with, and the readiness figures of the subscriptions.

use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// The channel a notification NOTIFYs to wake the status workers of every process.
pub const WAKE_CHANNEL: &str = "seqrd_poll";

/// How long an instance counts as live after its last heartbeat.
const LIVE_SECONDS: &str = "15 seconds";

/// Records `instance` as live now and returns how many instances are live.
pub async fn heartbeat(pool: &PgPool, instance: &str) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO instances (instance_id, seen_at) VALUES ($1, now())
         ON CONFLICT (instance_id) DO UPDATE SET seen_at = now()",
    )
    .bind(instance)
    .execute(pool)
    .await?;
    live_instances(pool).await
}

/// How many instances sent a heartbeat lately.
pub async fn live_instances(pool: &PgPool) -> Result<i64, StoreError> {
    let sql = format!("SELECT count(*) FROM instances WHERE seen_at > now() - interval '{LIVE_SECONDS}'");
    Ok(sqlx::query_scalar(&sql).fetch_one(pool).await?)
}

/// The invoice's notification token: `fresh` when it had none, else the one it has (one round trip, no row
/// rewritten).
pub async fn notification_token(pool: &PgPool, invoice_id: Uuid, fresh: &str) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar(
        "WITH new AS (
             INSERT INTO notification_tokens (token, invoice_id) VALUES ($1, $2)
             ON CONFLICT (invoice_id) DO NOTHING RETURNING token
         )
         SELECT token FROM new UNION ALL SELECT token FROM notification_tokens WHERE invoice_id = $2 LIMIT 1",
    )
    .bind(fresh)
    .bind(invoice_id)
    .fetch_one(pool)
    .await?)
}

/// A notification arrived with `token`: its invoice, and whether it woke the invoice now (at most once per
/// `min_interval_secs`; the row lock makes two concurrent notifications wake it once). A woken invoice is due at once
/// in the same statement ([`crate::jobs::due_now`]'s effect, polled every `interval` from then), so whoever finds
/// the token already woken knows the invoice is due. `None`: unknown token.
pub async fn notified(
    pool: &PgPool,
    token: &str,
    min_interval_secs: f64,
    interval: std::time::Duration,
) -> Result<Option<(Uuid, bool)>, StoreError> {
    Ok(sqlx::query_as(
        "WITH woken AS (
             UPDATE notification_tokens SET woken_at = now()
             WHERE token = $1 AND (woken_at IS NULL OR woken_at <= now() - make_interval(secs => $2))
             RETURNING invoice_id
         ),
         due AS (
             INSERT INTO poll_jobs (invoice_id, due_at, interval_ms) SELECT invoice_id, now(), $3 FROM woken
             ON CONFLICT (invoice_id) DO UPDATE SET due_at = now(), wake = true, updated_at = now()
         )
         SELECT invoice_id, true FROM woken
         UNION ALL
         SELECT invoice_id, false FROM notification_tokens WHERE token = $1 AND NOT EXISTS (SELECT 1 FROM woken)",
    )
    .bind(token)
    .bind(min_interval_secs)
    .bind(i32::try_from(interval.as_millis()).unwrap_or(i32::MAX))
    .fetch_optional(pool)
    .await?)
}

/// Wakes the status workers of every process (LISTEN [`WAKE_CHANNEL`]).
pub async fn notify_workers(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')").bind(WAKE_CHANNEL).execute(pool).await?;
    Ok(())
}

/// One subscription's progress.
#[derive(Debug, Clone)]
pub struct SubscriptionLag {
    pub name: String,
    /// Events after its checkpoint, counted up to the limit asked for.
    pub events_behind: i64,
    pub checkpoint_at: chrono::DateTime<chrono::Utc>,
}

/// Every subscription's lag, counted up to `limit` events.
pub async fn subscription_lags(pool: &PgPool, limit: i64) -> Result<Vec<SubscriptionLag>, StoreError> {
    let rows: Vec<(String, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT s.name,
                (SELECT count(*) FROM (SELECT 1 FROM events e WHERE (e.tx_id, e.position) > (s.tx_id, s.position)
                                       LIMIT $1) behind),
                s.updated_at
         FROM subscriptions s ORDER BY s.name",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, events_behind, checkpoint_at)| SubscriptionLag { name, events_behind, checkpoint_at })
        .collect())
}
