//! API keys: `Authorization: Bearer <key>`. A key belongs to one tenant and optionally to a list of stores; it never
//! sees or touches another tenant's data (every query is filtered by the caller's tenant, and a resource of another
//! tenant answers 404, not 403, so its existence does not leak).

use axum::{extract::FromRequestParts, http::request::Parts};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::api::{error::ApiError, AppState};

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: String,
    /// `None`: every store of the tenant.
    pub stores: Option<Vec<String>>,
    /// The key's public id (never any part of its secret): the actor of the commands it sends and the owner of its
    /// Idempotency-Keys.
    pub key_id: uuid::Uuid,
}

impl Caller {
    /// Whether the key may see and act on this store of its tenant.
    pub fn may_access(&self, tenant_id: &str, store_id: &str) -> bool {
        self.tenant_id == tenant_id && self.stores.as_ref().is_none_or(|s| s.iter().any(|x| x == store_id))
    }

    /// The actor name stored in event metadata.
    pub fn actor(&self) -> String {
        format!("api-key:{}", self.key_id)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(ApiError::unauthorized)?;
        let key = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        lookup(&state.service.pool, key).await?.ok_or_else(ApiError::unauthorized)
    }
}

async fn lookup(pool: &PgPool, key: &str) -> Result<Option<Caller>, ApiError> {
    let row: Option<(String, Option<Vec<String>>, uuid::Uuid)> =
        sqlx::query_as("SELECT tenant_id, stores, key_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(hash_key(key))
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(tenant_id, stores, key_id)| Caller { tenant_id, stores, key_id }))
}

fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Creates a tenant if it does not exist.
pub async fn ensure_tenant(pool: &PgPool, tenant_id: &str, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING")
        .bind(tenant_id)
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// Creates an API key for a tenant (optionally limited to stores) and returns the secret, shown only once.
pub async fn create_api_key(pool: &PgPool, tenant_id: &str, stores: Option<&[String]>) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let key = format!("sk_{}", hex::encode(bytes));
    sqlx::query("INSERT INTO api_keys (key_hash, tenant_id, stores) VALUES ($1, $2, $3)")
        .bind(hash_key(&key))
        .bind(tenant_id)
        .bind(stores)
        .execute(pool)
        .await?;
    Ok(key)
}
