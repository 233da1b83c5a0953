//! API keys: a key belongs to one tenant and optionally to a list of stores; it never sees or touches another
//! tenant's data (every query is filtered by the caller's tenant, and a resource of another tenant is reported as
//! missing, so its existence does not leak). Only the SHA-256 hash of a key's secret is stored.
//!
//! A live key's lookup is cached per process (so a request's authentication costs no round trip), but only while
//! the process listens on [`store_pg::access::API_KEYS_CHANNEL`]: the statement that revokes a key announces it,
//! and every process drops the key when the revocation commits; the cache is emptied whenever the listener is
//! down. An unknown or revoked key is never cached: it is looked up on every request. [`KEY_CACHE_TTL`] bounds
//! an entry's life besides.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        RwLock,
    },
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

/// A new API key: its id and its secret (shown once).
#[derive(Clone)]
pub struct NewApiKey {
    pub key_id: uuid::Uuid,
    pub secret: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

pub use store_pg::access::ApiKeyInfo;

fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// How long a process trusts a live key's lookup before reading it again (revocations are announced at once; this
/// is a backstop).
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// The live keys this process looked up lately, by the hash of their secret.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: RwLock<HashMap<Vec<u8>, (Caller, Instant)>>,
    /// Whether revocations reach this process now (its listener is up); nothing is cached otherwise.
    listening: AtomicBool,
}

impl KeyCache {
    fn get(&self, hash: &[u8]) -> Option<Caller> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(hash).filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL).map(|(caller, _)| caller.clone())
    }

    /// Drops the key `key_id` (revoked).
    pub(crate) fn forget(&self, key_id: uuid::Uuid) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).retain(|_, (caller, _)| caller.key_id != key_id);
    }

    /// Starts (`true`) or stops caching; either way what was cached is dropped.
    pub(crate) fn set_listening(&self, listening: bool) {
        self.listening.store(false, Ordering::Release);
        self.entries.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.listening.store(listening, Ordering::Release);
    }

    fn put(&self, hash: Vec<u8>, caller: Caller) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
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

    /// Every tenant: id, name, created.
    pub async fn tenants(&self) -> Result<Vec<(String, String, chrono::DateTime<chrono::Utc>)>, EngineError> {
        Ok(store_pg::access::tenants(self.pool()).await?)
    }

    /// Creates a tenant if it does not exist.
    pub async fn ensure_tenant(&self, tenant_id: &str, name: &str) -> Result<(), EngineError> {
        Ok(store_pg::access::ensure_tenant(self.pool(), tenant_id, name).await?)
    }

    /// Creates an API key for a tenant (optionally limited to stores) and returns the secret, shown only once.
    pub async fn create_api_key(&self, tenant_id: &str, stores: Option<&[String]>) -> Result<String, EngineError> {
        Ok(self.create_api_key_with_id(tenant_id, stores).await?.secret)
    }

    /// [`Engine::create_api_key`], also telling the key's id (to list or revoke it).
    pub async fn create_api_key_with_id(
        &self,
        tenant_id: &str,
        stores: Option<&[String]>,
    ) -> Result<NewApiKey, EngineError> {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        let secret = format!("sk_{}", hex::encode(bytes));
        let key_id = store_pg::access::insert_api_key(self.pool(), &hash_key(&secret), tenant_id, stores).await?;
        Ok(NewApiKey { key_id, secret })
    }

    /// Revokes a live API key of a tenant: every process refuses it from the moment the revocation commits.
    /// `NotFound` when the tenant has no such live key.
    pub async fn revoke_api_key(&self, tenant_id: &str, key_id: uuid::Uuid) -> Result<(), EngineError> {
        let revoked = store_pg::access::revoke_api_key(self.pool(), tenant_id, key_id).await?;
        self.keys().forget(key_id);
        if revoked {
            Ok(())
        } else {
            Err(EngineError::NotFound)
        }
    }

    /// The API keys of a tenant (ids, stores, created and revoked times; never a secret).
    pub async fn api_keys(&self, tenant_id: &str) -> Result<Vec<ApiKeyInfo>, EngineError> {
        Ok(store_pg::access::api_keys_of(self.pool(), tenant_id).await?)
    }

    /// Whether this process caches API keys now (its listener for revocations is up; see [`Engine::watch_access`]).
    pub fn caches_api_keys(&self) -> bool {
        self.keys().listening.load(Ordering::Acquire)
    }

    /// Keeps the process's access caches in step with what any process changes, on one LISTEN connection: a
    /// register's announced change drops its cached credentials; an API key's revocation drops the key. Runs until
    /// the listener fails: then both caches are dropped (API keys are no longer cached until it is back) and the
    /// error returned; the caller listens again.
    ///
    /// The same connection hears the store's append announcements, which end the long-polls of the event feed
    /// ([`Engine::events`]).
    pub async fn watch_access(&self) -> Result<(), EngineError> {
        use store_pg::access::{API_KEYS_CHANNEL, TERMINALS_CHANNEL};
        let channels = [TERMINALS_CHANNEL, API_KEYS_CHANNEL, store_pg::NOTIFY_CHANNEL];
        let mut listener = store_pg::Listener::connect(self.pool(), &channels).await?;
        // Whatever changed before the listener was up is not in the caches any more.
        self.terminals().clear();
        self.keys().set_listening(true);
        loop {
            match listener.recv().await {
                Ok((channel, payload)) if channel == API_KEYS_CHANNEL => match payload.parse() {
                    Ok(key_id) => self.keys().forget(key_id),
                    Err(_) => self.keys().set_listening(true),
                },
                Ok((channel, _)) if channel == store_pg::NOTIFY_CHANNEL => {
                    self.shared_log().send_modify(|n| *n = n.wrapping_add(1));
                }
                Ok((_, payload)) => self.terminal_changed(&payload),
                Err(e) => {
                    self.keys().set_listening(false);
                    self.terminals().clear();
                    return Err(e.into());
                }
            }
        }
    }
}
