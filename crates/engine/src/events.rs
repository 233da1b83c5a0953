//! The tenant's event feed over the API (`GET /v1/events`), for a system that cannot consume RabbitMQ: the log in
//! the same gap-safe order the relay publishes it (`(tx_id, position)` below the commit horizon), filtered to
//! what the caller's key may see, read from a cursor the caller keeps. Following the returned cursors sees each
//! event exactly once; a read with `wait` long-polls until an event arrives or the wait is over.

use std::{fmt, str::FromStr, time::Duration};

use store_pg::{Checkpoint, StoredEvent, TenantFilter};
use uuid::Uuid;

use crate::{Caller, Engine, EngineError};

/// Most events one read returns.
pub const MAX_EVENTS_PER_READ: u32 = 1000;

/// Longest long-poll.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Shortest time between two reads of one waiting request (see [`Engine::events`]).
const REREAD_EVERY: Duration = Duration::from_millis(20);

/// A place in the log, as the feed hands it out: opaque to callers (`<tx>-<position>`, each at most 18 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogCursor(Checkpoint);

impl LogCursor {
    /// Before the first event.
    pub const START: LogCursor = LogCursor(Checkpoint::START);
}

impl fmt::Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0.tx_id, self.0.position)
    }
}

/// A cursor that is not one the feed handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a cursor of this feed (use the `next` of an earlier read, or leave it out to start)")]
pub struct CursorError(String);

impl FromStr for LogCursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<LogCursor, CursorError> {
        let bad = || CursorError(s.chars().take(64).collect());
        let (tx, position) = s.split_once('-').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(tx) || !digits(position) {
            return Err(bad());
        }
        let tx_id = tx.parse().map_err(|_| bad())?;
        let position = position.parse().map_err(|_| bad())?;
        Ok(LogCursor(Checkpoint { tx_id, position }))
    }
}

/// A read of the feed.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub after: LogCursor,
    /// Only these event types (`None`: all).
    pub types: Option<Vec<String>>,
    /// Only this store's events (within what the key may see).
    pub store: Option<String>,
    /// At most this many (1 to [`MAX_EVENTS_PER_READ`]).
    pub limit: u32,
    /// When nothing is there yet, wait up to this long (at most [`MAX_WAIT`]) for an event.
    pub wait: Duration,
}

/// One event of the feed: the envelope the RabbitMQ messages carry (docs/event-feed.md).
#[derive(Debug, Clone)]
pub struct TenantEvent {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub invoice_id: Uuid,
    pub version: i64,
    pub position: i64,
    pub tenant_id: String,
    pub merchant_id: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// The payload as stored (JSON text).
    pub data: Box<serde_json::value::RawValue>,
}

/// What a read found, and where the next read starts.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<TenantEvent>,
    /// The cursor after the last event returned (the query's own when none was).
    pub next: LogCursor,
}

impl TenantEvent {
    fn of(e: StoredEvent) -> Result<TenantEvent, EngineError> {
        let data = serde_json::value::RawValue::from_string(e.data.as_str().to_owned())
            .map_err(|err| EngineError::Corrupt(err.to_string()))?;
        Ok(TenantEvent {
            id: e.event_id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            invoice_id: e.stream_id,
            version: e.version,
            position: e.position,
            tenant_id: e.scope.tenant_id,
            merchant_id: e.scope.merchant_id,
            store_id: e.scope.store_id,
            terminal_id: e.scope.terminal_id,
            recorded_at: e.recorded_at,
            correlation_id: Some(e.metadata.correlation_id),
            causation_id: e.metadata.causation_id,
            data,
        })
    }
}

impl Engine {
    /// The caller's events after `query.after` (see the module docs). A key limited to stores reads only their
    /// events; asking for another store reads nothing (as a missing one would).
    pub async fn events(&self, caller: &Caller, query: EventQuery) -> Result<EventPage, EngineError> {
        let stores = match (&caller.stores, query.store) {
            (None, store) => store.map(|s| vec![s]),
            (Some(own), None) => Some(own.clone()),
            (Some(own), Some(store)) if own.contains(&store) => Some(vec![store]),
            (Some(_), Some(_)) => return Ok(EventPage { events: Vec::new(), next: query.after }),
        };
        let filter = TenantFilter { tenant_id: caller.tenant_id.clone(), stores, types: query.types };
        let limit = i64::from(query.limit.clamp(1, MAX_EVENTS_PER_READ));
        let deadline = tokio::time::Instant::now() + query.wait.min(MAX_WAIT);
        let mut local = self.store().appended();
        let mut remote = self.log_advanced();
        loop {
            let events = self.store().read_tenant_after(&filter, query.after.0, limit).await?;
            if let Some(last) = events.last() {
                let next = LogCursor(last.checkpoint());
                let events = events.into_iter().map(TenantEvent::of).collect::<Result<_, _>>()?;
                return Ok(EventPage { events, next });
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(EventPage { events: Vec::new(), next: query.after });
            }
            // An append here or in another process ends the pause; a short one also covers a commit horizon
            // still held by an older transaction (its events become readable without a new announcement).
            let pause = (deadline - now).min(Duration::from_millis(100));
            let woken = tokio::select! {
                _ = local.changed() => true,
                _ = remote.changed() => true,
                () = tokio::time::sleep(pause) => false,
            };
            // The announcements are the whole log's, not this tenant's: under a busy log a waiting read looks
            // again at most every REREAD_EVERY, so many waiters cost a bounded number of queries.
            if woken {
                tokio::time::sleep_until((now + REREAD_EVERY).min(deadline)).await;
            }
        }
    }
}
