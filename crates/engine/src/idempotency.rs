//! `Idempotency-Key` with the semantics payment APIs use (Stripe, the IETF draft). A key belongs to the API key
//! that sent it: a record is found only by the same API key, so a replay passes exactly the authorization of the
//! original (another key, even of the same tenant, with the same value runs a request of its own).
//!
//! - same key, same request (its fingerprint: method, path and body) after completion: the stored answer is
//!   replayed;
//! - same key, another request: [`EngineError::IdempotencyKeyReused`];
//! - same key while the first request is still running: [`EngineError::IdempotencyKeyInUse`];
//! - a key whose request died with its process is free at once: each record names its owner, a process that
//!   holds a session advisory lock for as long as it lives ([`store_pg::locks::ProcessLock`]), so a retry after a
//!   crash finds the owner dead and takes the key over, without waiting. The command it carried is itself
//!   idempotent in the event store (the key is the command's idempotency key), so nothing is done twice, and a
//!   replayed command never performs the original's SEQR call (a worker resolves it). A record whose owner is
//!   alive but lost track of it (its answer could not be stored) is freed after a backstop lock time;
//! - server-error answers are not stored: the caller may retry with the same key.
//!
//! A command stores its answer in the same statement as its last append ([`Claim::answer`]), so the common path
//! costs no round trip of its own for it.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex,
};

use sha2::{Digest, Sha256};
use store_pg::{
    access::{Claim as Found, NewClaim},
    Connection,
};

use crate::{Caller, Engine, EngineError};

/// Backstop: how long a record whose owner is alive holds its key (the owner failed to store the answer).
const LOCK_SECONDS: f64 = 60.0;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A stored answer: status code and body, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// Whether the answer is a server error (never stored).
    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

/// What to do with a request carrying a key.
pub enum Begun {
    /// First time (or a takeover): run it with this claim, then [`Engine::finish_idempotent`].
    Run(Claim),
    /// Already answered: send this again.
    Replay(Answer),
}

/// A claimed Idempotency-Key of one API key.
pub struct Claim {
    api_key_id: uuid::Uuid,
    key: String,
    answered: AtomicBool,
    /// The connection the claim was made on, handed to the command's first step (its stream read and first
    /// append run on it: one release, one ping, for the three statements).
    connection: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim").field("api_key_id", &self.api_key_id).field("key", &self.key).finish_non_exhaustive()
    }
}

impl Claim {
    /// The idempotency key of the command in the event store: the API key's own (another API key using the same
    /// value runs its own command).
    pub fn command_key(&self) -> String {
        format!("http:{}:{}", self.api_key_id, self.key)
    }

    /// The write that stores `answer` with an append (and marks the claim answered once that append succeeded).
    pub(crate) fn answer(&self, answer: &Answer) -> Option<(uuid::Uuid, String, i32, Vec<u8>)> {
        (!answer.is_server_error())
            .then(|| (self.api_key_id, self.key.clone(), i32::from(answer.status), answer.body.clone()))
    }

    pub(crate) fn mark_answered(&self) {
        self.answered.store(true, Ordering::Release);
    }

    /// The claim's connection, once (`None` after the first step took it).
    pub(crate) fn take_connection(&self) -> Option<Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The fingerprint of a request: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().to_vec()
}

impl Engine {
    /// Claims `key` for a request with `fingerprint`, or tells how to answer.
    pub async fn begin_idempotent(&self, caller: &Caller, key: &str, fingerprint: &[u8]) -> Result<Begun, EngineError> {
        let owner = self.process_lock().await?;
        let mut conn = self.store().connection().await?;
        let claim = NewClaim {
            api_key_id: caller.key_id,
            tenant_id: &caller.tenant_id,
            key,
            request_hash: fingerprint,
            owner_lock: owner,
            lock_seconds: LOCK_SECONDS,
        };
        let run = |conn: Connection| {
            Begun::Run(Claim {
                api_key_id: caller.key_id,
                key: key.to_owned(),
                answered: AtomicBool::new(false),
                connection: Mutex::new(Some(conn)),
            })
        };
        let record = match store_pg::access::claim_idempotency_key(&mut conn, &claim).await? {
            Found::Claimed => return Ok(run(conn)),
            // Appeared or vanished in between (a server-error answer): the caller may simply retry.
            Found::Contended => return Err(EngineError::IdempotencyKeyInUse),
            Found::Existing(record) => record,
        };
        if record.request_hash != fingerprint {
            return Err(EngineError::IdempotencyKeyReused);
        }
        if let Some((status, body)) = record.answer {
            let status = u16::try_from(status).map_err(|_| EngineError::Corrupt(format!("stored status {status}")))?;
            return Ok(Begun::Replay(Answer { status, body }));
        }
        // The owner's request ended with its process (its lock is gone), or the backstop expired.
        let dead = match record.owner_lock {
            Some(holder) => !store_pg::locks::process_alive(&mut conn, holder).await?,
            None => false,
        };
        if record.locked && !dead {
            return Err(EngineError::IdempotencyKeyInUse);
        }
        // Taken over only from the holder just checked (two retries racing: one wins, the other is in use).
        let (api_key, holder) = (caller.key_id, record.owner_lock);
        if store_pg::access::take_over_idempotency_key(&mut conn, api_key, key, holder, owner, LOCK_SECONDS).await? {
            Ok(run(conn))
        } else {
            Err(EngineError::IdempotencyKeyInUse)
        }
    }

    /// Stores the request's answer (or frees the key for a server error), unless its command already stored it.
    pub async fn finish_idempotent(&self, claim: &Claim, answer: &Answer) -> Result<(), EngineError> {
        if claim.answered.load(Ordering::Acquire) && !answer.is_server_error() {
            return Ok(());
        }
        let stored = (!answer.is_server_error()).then(|| (i32::from(answer.status), answer.body.as_slice()));
        // On the claim's own connection when the command never took it (e.g. its body was refused).
        let mut conn = match claim.take_connection() {
            Some(conn) => conn,
            None => self.store().connection().await?,
        };
        Ok(store_pg::access::finish_idempotency_key(&mut conn, claim.api_key_id, &claim.key, stored).await?)
    }
}
