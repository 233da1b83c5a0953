//! Load an invoice's stream, decide, append with the version it was decided on.
//!
//! Every change goes through [`Invoices::decide`]: fold the stream (read once, by the caller or here),
//! `domain::decide`, append with the expected version and the command's idempotency key, in the same statement as
//! the writes that must go with it ([`AlsoWrite`]). A version conflict (another process appended in between) is
//! re-decided on the fresh state, so two racing commands are both decided on what really happened.

use chrono::Utc;
use domain::{Command, Event, InvoiceId, InvoiceState, Rejection};
use store_pg::{
    AlsoWrite, AppendOutcome, AppendRequest, Connection, EventScope, EventStore, LoadedInvoice, Metadata, NewEvent,
    PgConnection,
};
use uuid::Uuid;

use crate::EngineError;

/// How often a command is re-decided after version conflicts before giving up.
const MAX_CONFLICT_RETRIES: usize = 8;

/// The invoices of the event store, with the domain's decisions on top.
#[derive(Clone)]
pub(crate) struct Invoices {
    store: EventStore,
}

/// What a decision did.
pub(crate) struct Decided {
    /// The invoice afterwards (its version is the stream's).
    pub(crate) loaded: LoadedInvoice,
    /// The events this decision appended: none when the command decided nothing or was already stored under the
    /// same idempotency key (then the original appended them).
    pub(crate) appended: Vec<Event>,
}

impl Invoices {
    pub(crate) fn new(store: EventStore) -> Invoices {
        Invoices { store }
    }

    pub(crate) fn store(&self) -> &EventStore {
        &self.store
    }

    /// A step of a use case, with no connection yet.
    pub(crate) fn step(&self) -> Step {
        Step::new(&self.store, None)
    }

    /// Reads and folds an invoice's stream (one query, on the step's connection).
    pub(crate) async fn load(&self, step: &mut Step, invoice_id: InvoiceId) -> Result<LoadedInvoice, EngineError> {
        Ok(self.store.load_invoice_keyed(step.conn().await?, invoice_id.0).await?)
    }

    /// Decides `make(state)` on `loaded` (or on the stream read now when `None`) and appends the events with the
    /// writes `also` asks for them; re-decided on the fresh stream after a version conflict. A command that
    /// decides nothing writes nothing (and takes no connection). Every statement runs on the step's connection.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn decide(
        &self,
        step: &mut Step,
        invoice_id: InvoiceId,
        loaded: Option<LoadedInvoice>,
        metadata: &Metadata,
        idempotency_key: Option<&str>,
        mut make: impl FnMut(&InvoiceState) -> Command,
        also: impl Fn(&InvoiceState, &[Event], i64) -> AlsoWrite,
    ) -> Result<Decided, EngineError> {
        let mut loaded = match loaded {
            Some(loaded) => loaded,
            None => self.load(step, invoice_id).await?,
        };
        for _ in 0..MAX_CONFLICT_RETRIES {
            // A retried command whose events are already stored: the stream shows them.
            if idempotency_key.is_some_and(|key| loaded.applied(key)) {
                return Ok(Decided { loaded, appended: Vec::new() });
            }
            let events = domain::decide(&loaded.state, make(&loaded.state))?;
            if events.is_empty() {
                return Ok(Decided { loaded, appended: events });
            }
            let mut state = loaded.state.clone();
            for event in &events {
                state.apply(event).map_err(|e| EngineError::Corrupt(e.to_string()))?;
            }
            let scope = state.scope().map(EventScope::from).ok_or(Rejection::InvoiceNotFound)?;
            let version = loaded.version + events.len() as i64;
            let also = also(&state, &events, version);
            let request = AppendRequest {
                stream_id: invoice_id.0,
                expected_version: loaded.version,
                idempotency_key: idempotency_key.map(str::to_owned),
                scope,
                metadata: metadata.clone(),
                events: events.iter().map(|e| NewEvent::from_domain(Uuid::now_v7(), e)).collect(),
            };
            match self.store.append_with(step.conn().await?, request, &also).await {
                Ok(AppendOutcome::Appended(_)) => {
                    let mut command_keys = std::mem::take(&mut loaded.command_keys);
                    command_keys.extend(idempotency_key.map(str::to_owned));
                    return Ok(Decided { loaded: LoadedInvoice { state, version, command_keys }, appended: events });
                }
                Ok(AppendOutcome::Duplicate(_)) => {
                    return Ok(Decided { loaded: self.load(step, invoice_id).await?, appended: Vec::new() })
                }
                Err(store_pg::StoreError::Conflict { .. }) => loaded = self.load(step, invoice_id).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contention)
    }
}

/// The statements of one step of a use case (e.g. a command's stream read and its first append) run on one
/// connection, taken from the pool at the step's first statement and released when the step ends (a step that
/// runs none takes none). sqlx pings every connection it gets back (a round trip and a Postgres wake-up), so a
/// step pays that once. A step never waits for a second connection (so a full pool cannot deadlock it), and ends
/// before SEQR is called.
pub(crate) struct Step {
    store: EventStore,
    conn: Option<Connection>,
}

impl Step {
    /// A step on `store`'s pool, starting with `conn` when one is already held (an Idempotency-Key's claim's).
    pub(crate) fn new(store: &EventStore, conn: Option<Connection>) -> Step {
        Step { store: store.clone(), conn }
    }

    /// The step's connection (taken from the pool on first use).
    pub(crate) async fn conn(&mut self) -> Result<&mut PgConnection, EngineError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            slot @ None => slot.insert(self.store.connection().await?),
        };
        Ok(conn)
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
