//! `Idempotency-Key` with the semantics payment APIs use (Stripe, the IETF draft). A key belongs to the API key
//! that sent it: a record is found only by the same API key, so a replay passes exactly the authorization of the
//! original (another key, even of the same tenant, with the same value runs a request of its own).
//!
//! - same key, same request (method, path and body hash) after completion: the stored response is replayed;
//! - same key, another request: 422 `idempotency_key_reused`;
//! - same key while the first request is still running: 409 `idempotency_key_in_use`;
//! - a key whose request died with its process is free at once: each record names its owner, a process that
//!   holds a session advisory lock for as long as it lives ([`crate::locks::ProcessLock`]), so a retry after a
//!   crash finds the owner dead and takes the key over, without waiting. The command it carried is itself
//!   idempotent in the event store (the key is the command's idempotency key), so nothing is done twice, and a
//!   replayed command never performs the original's SEQR call (a worker resolves it). A record whose owner is
//!   alive but lost track of it (its answer could not be stored) is freed after a backstop lock time;
//! - 5xx answers are not stored: the caller may retry with the same key.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::api::{auth::Caller, error::ApiError};

/// Backstop: how long a record whose owner is alive holds its key (the owner failed to store the answer).
const LOCK_SECONDS: f64 = 60.0;

/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// What to do with a request carrying a key.
pub enum Begin {
    /// First time (or a takeover): run it, then call [`finish`].
    Proceed,
    /// Already answered: send this again.
    Replay { status: StatusCode, body: Vec<u8> },
}

/// Validates the header value.
pub fn parse_key(value: &axum::http::HeaderValue) -> Result<String, ApiError> {
    let key = value
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be visible ASCII"))?;
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters"));
    }
    Ok(key.to_owned())
}

/// The fingerprint of a request: method, path and body.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().to_vec()
}

/// Claims the key or tells how to answer.
/// `owner` is this process's [`crate::locks::ProcessLock`] id.
pub async fn begin(pool: &PgPool, caller: &Caller, owner: i32, key: &str, hash: &[u8]) -> Result<Begin, ApiError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys
             (api_key_id, idempotency_key, request_hash, state, locked_until, tenant_id, owner_lock)
         VALUES ($1, $2, $3, 'in_progress', now() + make_interval(secs => $4), $5, $6)
         ON CONFLICT DO NOTHING",
    )
    .bind(caller.key_id)
    .bind(key)
    .bind(hash)
    .bind(LOCK_SECONDS)
    .bind(&caller.tenant_id)
    .bind(owner)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Begin::Proceed);
    }
    let row: Option<StoredKey> = sqlx::query_as(
        "SELECT request_hash, state, response_status, response_body, locked_until > now(), owner_lock
         FROM idempotency_keys WHERE api_key_id = $1 AND idempotency_key = $2",
    )
    .bind(caller.key_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    let Some((stored_hash, state, status, body, locked, holder)) = row else {
        // Deleted in between (a 5xx answer): the caller may simply retry.
        return Err(in_use());
    };
    if stored_hash != hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ));
    }
    match (state.as_str(), status, body) {
        ("done", Some(status), Some(body)) => {
            let status = StatusCode::from_u16(status as u16).map_err(ApiError::internal)?;
            Ok(Begin::Replay { status, body })
        }
        _ => {
            // The owner's request ended with its process (its lock is gone), or the backstop expired.
            let dead = match holder {
                Some(holder) => !crate::locks::process_alive(pool, holder).await?,
                None => false,
            };
            if locked && !dead {
                return Err(in_use());
            }
            // Taken over only from the holder just checked (two retries racing: one wins, the other is 409).
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET locked_until = now() + make_interval(secs => $3), owner_lock = $4
                 WHERE api_key_id = $1 AND idempotency_key = $2 AND state = 'in_progress'
                   AND owner_lock IS NOT DISTINCT FROM $5",
            )
            .bind(caller.key_id)
            .bind(key)
            .bind(LOCK_SECONDS)
            .bind(owner)
            .bind(holder)
            .execute(pool)
            .await?
            .rows_affected();
            if taken == 1 {
                Ok(Begin::Proceed)
            } else {
                Err(in_use())
            }
        }
    }
}

/// Stores the answer (or releases the key for a 5xx answer).
pub async fn finish(
    pool: &PgPool,
    caller: &Caller,
    key: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    if status.is_server_error() {
        sqlx::query("DELETE FROM idempotency_keys WHERE api_key_id = $1 AND idempotency_key = $2")
            .bind(caller.key_id)
            .bind(key)
            .execute(pool)
            .await?;
    } else {
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4
             WHERE api_key_id = $1 AND idempotency_key = $2",
        )
        .bind(caller.key_id)
        .bind(key)
        .bind(i32::from(status.as_u16()))
        .bind(body)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// request_hash, state, response_status, response_body, still locked, owner's process lock.
type StoredKey = (Vec<u8>, String, Option<i32>, Option<Vec<u8>>, bool, Option<i32>);

fn in_use() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still running",
    )
}
