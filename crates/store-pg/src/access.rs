//! Who may do what: tenants, API keys (stored as SHA-256 hashes of their secret), the registers of a tenant with
//! the SEQR credentials seqrd holds for them, and the Idempotency-Key records of each API key.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::StoreError;

/// The channel a change of a register's credentials is announced on (payload `tenant:terminal`), so every process
/// drops what it cached.
pub const TERMINALS_CHANNEL: &str = "seqrd_terminals";

/// The channel a revoked API key is announced on (payload: its key id), so every process drops what it cached.
pub const API_KEYS_CHANNEL: &str = "seqrd_api_keys";

/// An API key that is not revoked.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub key_id: Uuid,
    pub tenant_id: String,
    /// `None`: every store of the tenant.
    pub stores: Option<Vec<String>>,
}

/// The live API key whose secret hashes to `key_hash`.
pub async fn api_key(pool: &PgPool, key_hash: &[u8]) -> Result<Option<ApiKeyRow>, StoreError> {
    let row: Option<(Uuid, String, Option<Vec<String>>)> =
        sqlx::query_as("SELECT key_id, tenant_id, stores FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(key_hash)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(key_id, tenant_id, stores)| ApiKeyRow { key_id, tenant_id, stores }))
}

/// Stores a new API key (its hash) for a tenant, optionally limited to stores; returns its key id.
pub async fn insert_api_key(
    pool: &PgPool,
    key_hash: &[u8],
    tenant_id: &str,
    stores: Option<&[String]>,
) -> Result<Uuid, StoreError> {
    Ok(sqlx::query_scalar("INSERT INTO api_keys (key_hash, tenant_id, stores) VALUES ($1, $2, $3) RETURNING key_id")
        .bind(key_hash)
        .bind(tenant_id)
        .bind(stores)
        .fetch_one(pool)
        .await?)
}

/// Revokes a live API key of a tenant and announces it on [`API_KEYS_CHANNEL`] in the same statement (delivered
/// when it commits). Returns whether a live key was revoked.
pub async fn revoke_api_key(pool: &PgPool, tenant_id: &str, key_id: Uuid) -> Result<bool, StoreError> {
    let revoked = sqlx::query(
        "WITH r AS (
             UPDATE api_keys SET revoked_at = now()
             WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL RETURNING key_id
         )
         SELECT pg_notify($3, key_id::text) FROM r",
    )
    .bind(tenant_id)
    .bind(key_id)
    .bind(API_KEYS_CHANNEL)
    .fetch_all(pool)
    .await?;
    Ok(!revoked.is_empty())
}

/// An API key of a tenant as an operator lists it (never its secret or hash).
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub key_id: Uuid,
    /// `None`: every store of the tenant.
    pub stores: Option<Vec<String>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The API keys of a tenant, oldest first.
pub async fn api_keys_of(pool: &PgPool, tenant_id: &str) -> Result<Vec<ApiKeyInfo>, StoreError> {
    type Row = (Uuid, Option<Vec<String>>, chrono::DateTime<chrono::Utc>, Option<chrono::DateTime<chrono::Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT key_id, stores, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, key_id",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key_id, stores, created_at, revoked_at)| ApiKeyInfo { key_id, stores, created_at, revoked_at })
        .collect())
}

/// Every tenant: id, name, created.
pub async fn tenants(pool: &PgPool) -> Result<Vec<(String, String, chrono::DateTime<chrono::Utc>)>, StoreError> {
    Ok(sqlx::query_as("SELECT tenant_id, name, created_at FROM tenants ORDER BY tenant_id").fetch_all(pool).await?)
}

/// Creates a tenant if it does not exist.
pub async fn ensure_tenant(pool: &PgPool, tenant_id: &str, name: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING")
        .bind(tenant_id)
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// A register of a tenant: where it is, and its SEQR credentials.
#[derive(Clone)]
pub struct TerminalRow {
    pub merchant_id: String,
    pub store_id: String,
    pub seqr_terminal_id: String,
    pub seqr_password: String,
}

impl std::fmt::Debug for TerminalRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalRow")
            .field("merchant_id", &self.merchant_id)
            .field("store_id", &self.store_id)
            .field("seqr_terminal_id", &self.seqr_terminal_id)
            .finish_non_exhaustive()
    }
}

/// A tenant's register.
pub async fn terminal(
    conn: &mut PgConnection,
    tenant_id: &str,
    terminal_id: &str,
) -> Result<Option<TerminalRow>, StoreError> {
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT merchant_id, store_id, seqr_terminal_id, seqr_password FROM terminals
         WHERE tenant_id = $1 AND terminal_id = $2",
    )
    .bind(tenant_id)
    .bind(terminal_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(merchant_id, store_id, seqr_terminal_id, seqr_password)| TerminalRow {
        merchant_id,
        store_id,
        seqr_terminal_id,
        seqr_password,
    }))
}

/// Stores (or replaces) a register's place and credentials, and announces the change on [`TERMINALS_CHANNEL`]
/// in the same statement (the notification is delivered when it commits).
pub async fn upsert_terminal(
    pool: &PgPool,
    tenant_id: &str,
    terminal_id: &str,
    row: &TerminalRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "WITH up AS (
             INSERT INTO terminals (tenant_id, terminal_id, merchant_id, store_id, seqr_terminal_id, seqr_password)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, terminal_id) DO UPDATE
             SET merchant_id = EXCLUDED.merchant_id, store_id = EXCLUDED.store_id,
                 seqr_terminal_id = EXCLUDED.seqr_terminal_id, seqr_password = EXCLUDED.seqr_password
             RETURNING tenant_id, terminal_id
         )
         SELECT pg_notify($7, tenant_id || ':' || terminal_id) FROM up",
    )
    .bind(tenant_id)
    .bind(terminal_id)
    .bind(&row.merchant_id)
    .bind(&row.store_id)
    .bind(&row.seqr_terminal_id)
    .bind(&row.seqr_password)
    .bind(TERMINALS_CHANNEL)
    .execute(pool)
    .await?;
    Ok(())
}

/// The stored state of an Idempotency-Key.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub request_hash: Vec<u8>,
    /// The answer, once the request finished: status and body.
    pub answer: Option<(i32, Vec<u8>)>,
    /// Whether the record's lock time has not yet run out.
    pub locked: bool,
    /// The process lock id of the request's owner ([`crate::locks::ProcessLock`]).
    pub owner_lock: Option<i32>,
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// The key was free: it is now this request's.
    Claimed,
    /// The key has a record.
    Existing(IdempotencyRecord),
    /// The key's record appeared or vanished concurrently.
    Contended,
}

/// A new claim of an API key's Idempotency-Key.
pub struct NewClaim<'a> {
    pub api_key_id: Uuid,
    pub tenant_id: &'a str,
    pub key: &'a str,
    pub request_hash: &'a [u8],
    /// The claiming process's lock id.
    pub owner_lock: i32,
    /// Backstop lock time in seconds.
    pub lock_seconds: f64,
}

/// Claims a key, or returns its record, in one statement. The claim is committed asynchronously (no WAL flush is
/// waited for): losing it in a crash loses nothing, because the command it guards is itself idempotent in the
/// event store under the same key.
pub async fn claim_idempotency_key(conn: &mut PgConnection, claim: &NewClaim<'_>) -> Result<Claim, StoreError> {
    type Row = (bool, Option<Vec<u8>>, Option<String>, Option<i32>, Option<Vec<u8>>, Option<bool>, Option<i32>);
    let row: Row = sqlx::query_as(
        "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)),
              ins AS (
                  INSERT INTO idempotency_keys
                      (api_key_id, idempotency_key, request_hash, state, locked_until, tenant_id, owner_lock)
                  SELECT $1, $2, $3, 'in_progress', now() + make_interval(secs => $4), $5, $6 FROM async
                  ON CONFLICT DO NOTHING RETURNING 1
              )
         SELECT EXISTS (SELECT 1 FROM ins), k.request_hash, k.state, k.response_status, k.response_body,
                k.locked_until > now(), k.owner_lock
         FROM (SELECT 1) one
         LEFT JOIN idempotency_keys k ON k.api_key_id = $1 AND k.idempotency_key = $2",
    )
    .bind(claim.api_key_id)
    .bind(claim.key)
    .bind(claim.request_hash)
    .bind(claim.lock_seconds)
    .bind(claim.tenant_id)
    .bind(claim.owner_lock)
    .fetch_one(conn)
    .await?;
    let (inserted, hash, state, status, body, locked, owner_lock) = row;
    if inserted {
        return Ok(Claim::Claimed);
    }
    let Some(request_hash) = hash else { return Ok(Claim::Contended) };
    let answer = match (state.as_deref(), status, body) {
        (Some("done"), Some(status), Some(body)) => Some((status, body)),
        _ => None,
    };
    Ok(Claim::Existing(IdempotencyRecord { request_hash, answer, locked: locked.unwrap_or(false), owner_lock }))
}

/// Takes over an unfinished record from `holder` (two retries racing: one wins). Returns whether it was taken.
pub async fn take_over_idempotency_key(
    conn: &mut PgConnection,
    api_key_id: Uuid,
    key: &str,
    holder: Option<i32>,
    owner_lock: i32,
    lock_seconds: f64,
) -> Result<bool, StoreError> {
    let taken = sqlx::query(
        "UPDATE idempotency_keys SET locked_until = now() + make_interval(secs => $3), owner_lock = $4
         WHERE api_key_id = $1 AND idempotency_key = $2 AND state = 'in_progress'
           AND owner_lock IS NOT DISTINCT FROM $5",
    )
    .bind(api_key_id)
    .bind(key)
    .bind(lock_seconds)
    .bind(owner_lock)
    .bind(holder)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Stores a request's answer (`Some`), or frees the key (`None`: the answer was a server error, the caller may
/// retry with the same key).
pub async fn finish_idempotency_key(
    conn: &mut PgConnection,
    api_key_id: Uuid,
    key: &str,
    answer: Option<(i32, &[u8])>,
) -> Result<(), StoreError> {
    match answer {
        None => {
            sqlx::query("DELETE FROM idempotency_keys WHERE api_key_id = $1 AND idempotency_key = $2")
                .bind(api_key_id)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        Some((status, body)) => {
            sqlx::query(
                "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4
                 WHERE api_key_id = $1 AND idempotency_key = $2",
            )
            .bind(api_key_id)
            .bind(key)
            .bind(status)
            .bind(body)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
