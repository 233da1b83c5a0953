//! API keys: a key belongs to one tenant and optionally to a list of stores; it never sees or touches another
//! tenant's data (every query is filtered by the caller's tenant, and a resource of another tenant is reported as
//! missing, so its existence does not leak). Only the SHA-256 hash of a key's secret is stored.
//!
//! A live key's lookup is cached per process for [`KEY_CACHE_TTL`] (so a request's authentication costs no round
//! trip): a key revoked in `api_keys` is refused by every process within that time. An unknown or revoked key is
//! never cached: it is looked up on every request.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{Engine, EngineError};

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

fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// How long a process trusts a live key's lookup before reading it again.
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// The live keys this process looked up lately, by the hash of their secret.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: RwLock<HashMap<Vec<u8>, (Caller, Instant)>>,
}

impl KeyCache {
    fn get(&self, hash: &[u8]) -> Option<Caller> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(hash).filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL).map(|(caller, _)| caller.clone())
    }

    fn put(&self, hash: Vec<u8>, caller: Caller) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Expired entries go when they are many (the map holds at most the keys used within the TTL, plus these).
        if entries.len() >= 1024 {
            entries.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
        }
        entries.insert(hash, (caller, Instant::now()));
    }
}

impl Engine {
    /// The caller an API key's secret belongs to (`None`: no such live key).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Caller>, EngineError> {
        let hash = hash_key(secret);
        if let Some(caller) = self.keys().get(&hash) {
            return Ok(Some(caller));
        }
        let row = store_pg::access::api_key(self.pool(), &hash).await?;
        let caller = row.map(|r| Caller { tenant_id: r.tenant_id, stores: r.stores, key_id: r.key_id });
        if let Some(caller) = &caller {
            self.keys().put(hash, caller.clone());
        }
        Ok(caller)
    }

    /// Creates a tenant if it does not exist.
    pub async fn ensure_tenant(&self, tenant_id: &str, name: &str) -> Result<(), EngineError> {
        Ok(store_pg::access::ensure_tenant(self.pool(), tenant_id, name).await?)
    }

    /// Creates an API key for a tenant (optionally limited to stores) and returns the secret, shown only once.
    pub async fn create_api_key(&self, tenant_id: &str, stores: Option<&[String]>) -> Result<String, EngineError> {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        let key = format!("sk_{}", hex::encode(bytes));
        store_pg::access::insert_api_key(self.pool(), &hash_key(&key), tenant_id, stores).await?;
        Ok(key)
    }
}
