//! The application layer: load an invoice's stream, decide, append with the version it was decided on.
//!
//! Every change goes through [`Engine::execute`]: read the stream, fold it, `domain::decide`, append with the
//! expected version and the command's idempotency key. A version conflict (another process appended in between)
//! is retried on the fresh state, so two racing commands are both decided on what really happened.

use chrono::Utc;
use domain::{Command, Event, InvoiceId, InvoiceState, Rejection};
use store_pg::{AppendOutcome, AppendRequest, EventScope, EventStore, Metadata, NewEvent, StoreError};
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
        let (state, version) = self.store.load_invoice(invoice_id.0).await?;
        Ok(Loaded { state, version })
    }

    /// Decides `make(state)` on the current state and appends the events; retried on version conflicts.
    /// Returns the state after the command. A command that decides nothing writes nothing.
    pub async fn execute(
        &self,
        invoice_id: InvoiceId,
        metadata: &Metadata,
        idempotency_key: Option<&str>,
        make: impl FnMut(&InvoiceState) -> Command,
    ) -> Result<InvoiceState, EngineError> {
        Ok(self.execute_appending(invoice_id, metadata, idempotency_key, make).await?.0)
    }

    /// [`Engine::execute`], also returning the events this call appended: none when the command decided nothing
    /// or was already applied under the same idempotency key (then the original appended them).
    pub async fn execute_appending(
        &self,
        invoice_id: InvoiceId,
        metadata: &Metadata,
        idempotency_key: Option<&str>,
        mut make: impl FnMut(&InvoiceState) -> Command,
    ) -> Result<(InvoiceState, Vec<Event>), EngineError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Loaded { mut state, version } = self.load(invoice_id).await?;
            // A retried command whose events are already stored: the stream shows them; return that state.
            if let Some(key) = idempotency_key {
                if self.already_applied(invoice_id, key).await? {
                    return Ok((state, Vec::new()));
                }
            }
            let command = make(&state);
            let events = domain::decide(&state, command)?;
            if events.is_empty() {
                return Ok((state, events));
            }
            for event in &events {
                state.apply(event).map_err(|e| EngineError::Corrupt { position: -1, message: e.to_string() })?;
            }
            let scope = state.scope().map(EventScope::from).ok_or(Rejection::InvoiceNotFound)?;
            let request = AppendRequest {
                stream_id: invoice_id.0,
                expected_version: version,
                idempotency_key: idempotency_key.map(str::to_owned),
                scope,
                metadata: metadata.clone(),
                events: events.iter().map(|e| NewEvent::from_domain(Uuid::now_v7(), e)).collect(),
            };
            match self.store.append(request).await {
                Ok(AppendOutcome::Appended(_)) => return Ok((state, events)),
                Ok(AppendOutcome::Duplicate(_)) => return Ok((self.load(invoice_id).await?.state, Vec::new())),
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

/// Metadata for a command started by `actor`, correlated with `correlation_id` (a fresh one when `None`).
pub fn metadata(actor: impl Into<String>, correlation_id: Option<Uuid>) -> Metadata {
    Metadata { correlation_id: correlation_id.unwrap_or_else(Uuid::now_v7), causation_id: None, actor: actor.into() }
}

/// The current time, read in one place (the domain never reads the clock).
pub fn now() -> chrono::DateTime<Utc> {
    Utc::now()
}
