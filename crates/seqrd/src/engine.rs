//! The application layer: load an invoice's stream, decide, append with the version it was decided on.
//!
//! Every change goes through [`Engine::execute`]: read the stream, fold it, `domain::decide`, append with the
//! expected version and the command's idempotency key. A version conflict (another process appended in between)
//! is retried on the fresh state, so two racing commands are both decided on what really happened.

use chrono::Utc;
use domain::{Command, Event, InvoiceId, InvoiceState, Rejection};
use store_pg::{AppendOutcome, AppendRequest, EventScope, EventStore, Metadata, NewEvent, StoreError, StoredEvent};
use uuid::Uuid;

/// How often a command is re-decided after version conflicts before giving up.
const MAX_CONFLICT_RETRIES: usize = 8;

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The domain refused the command (a business rule).
    #[error("{0}")]
    Rejected(#[from] Rejection),
    /// The stream kept changing under us.
    #[error("the invoice changed concurrently too often; retry")]
    Contention,
    /// A stored event could not be read back as a domain event.
    #[error("stored event {position} cannot be decoded: {message}")]
    Corrupt { position: i64, message: String },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The event store with the domain's decisions on top.
#[derive(Clone)]
pub struct Engine {
    store: EventStore,
}

/// A loaded invoice.
pub struct Loaded {
    pub state: InvoiceState,
    /// Events in the stream (the version an append must expect).
    pub version: i64,
    pub events: Vec<StoredEvent>,
}

impl Engine {
    pub fn new(store: EventStore) -> Engine {
        Engine { store }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Reads and folds an invoice's stream.
    pub async fn load(&self, invoice_id: InvoiceId) -> Result<Loaded, EngineError> {
        let events = self.store.read_stream(invoice_id.0).await?;
        let mut state = InvoiceState::default();
        for stored in &events {
            let event = decode(stored)?;
            state
                .apply(&event)
                .map_err(|e| EngineError::Corrupt { position: stored.position, message: e.to_string() })?;
        }
        Ok(Loaded { state, version: events.len() as i64, events })
    }

    /// Decides `make(state)` on the current state and appends the events; retried on version conflicts.
    /// Returns the state after the command. A command that decides nothing writes nothing.
    pub async fn execute(
        &self,
        invoice_id: InvoiceId,
        metadata: &Metadata,
        idempotency_key: Option<&str>,
        mut make: impl FnMut(&InvoiceState) -> Command,
    ) -> Result<InvoiceState, EngineError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Loaded { mut state, version, .. } = self.load(invoice_id).await?;
            // A retried command whose events are already stored: the stream shows them; return that state.
            if let Some(key) = idempotency_key {
                if self.already_applied(invoice_id, key).await? {
                    return Ok(state);
                }
            }
            let command = make(&state);
            let events = domain::decide(&state, command)?;
            if events.is_empty() {
                return Ok(state);
            }
            for event in &events {
                state.apply(event).map_err(|e| EngineError::Corrupt { position: -1, message: e.to_string() })?;
            }
            let scope = state.scope().map(event_scope).ok_or(Rejection::InvoiceNotFound)?;
            let request = AppendRequest {
                stream_id: invoice_id.0,
                expected_version: version,
                idempotency_key: idempotency_key.map(str::to_owned),
                scope,
                metadata: metadata.clone(),
                events: events.iter().map(new_event).collect(),
            };
            match self.store.append(request).await {
                Ok(AppendOutcome::Appended(_)) => return Ok(state),
                Ok(AppendOutcome::Duplicate(_)) => return Ok(self.load(invoice_id).await?.state),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contention)
    }

    async fn already_applied(&self, invoice_id: InvoiceId, key: &str) -> Result<bool, EngineError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1::bigint FROM events WHERE stream_id = $1 AND idempotency_key = $2 AND command_index = 0",
        )
        .bind(invoice_id.0)
        .bind(key)
        .fetch_optional(self.store.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(found.is_some())
    }
}

/// A stored event as a domain event (through the upcasters).
pub fn decode(stored: &StoredEvent) -> Result<Event, EngineError> {
    Event::from_stored(&stored.event_type, stored.schema_version as u16, stored.data.clone())
        .map_err(|e| EngineError::Corrupt { position: stored.position, message: e.to_string() })
}

fn new_event(event: &Event) -> NewEvent {
    let event_type = event.event_type();
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: i32::from(Event::schema_version(event_type)),
        data: event.to_data(),
    }
}

/// The store's scope columns for a domain scope.
pub fn event_scope(scope: &domain::Scope) -> EventScope {
    EventScope {
        tenant_id: scope.tenant.as_str().to_owned(),
        merchant_id: scope.merchant.as_str().to_owned(),
        store_id: Some(scope.store.as_str().to_owned()),
        terminal_id: Some(scope.terminal.as_str().to_owned()),
    }
}

/// Metadata for a command started by `actor`, correlated with `correlation_id` (a fresh one when `None`).
pub fn metadata(actor: impl Into<String>, correlation_id: Option<Uuid>) -> Metadata {
    Metadata { correlation_id: correlation_id.unwrap_or_else(Uuid::now_v7), causation_id: None, actor: actor.into() }
}

/// The current time, read in one place (the domain never reads the clock).
pub fn now() -> chrono::DateTime<Utc> {
    Utc::now()
}
