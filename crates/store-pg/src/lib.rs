//! Postgres event store for seqrd: append-only streams with optimistic concurrency and idempotent commands, a
//! gap-safe global order for subscribers, catch-up subscriptions with durable checkpoints, and the read-model
//! projections.
//!
//! **Invariant:** the write path takes no global lock: one `INSERT ... SELECT FROM unnest(...)` per append in
//! autocommit, concurrency checked by the unique `(stream_id, version)` constraint. Wake-ups (`NOTIFY`) are sent
//! by a background task after the append has committed, never inside the appending transaction.
//!
//! **Invariant:** subscribers read in `(tx_id, position)` order below the snapshot's xmin horizon, so no event is
//! ever skipped because a lower position committed after a higher one.

pub mod access;
pub mod admin;
mod error;
mod event;
pub mod fleet;
mod invoices;
pub mod jobs;
mod listen;
pub mod locks;
mod store;
mod subscription;

pub use error::StoreError;
pub use event::{AppendOutcome, AppendRequest, Checkpoint, EventScope, Metadata, NewEvent, Payload, StoredEvent};
pub use invoices::{decode, InvoiceEvent, InvoiceProjection, InvoiceRows, LoadedInvoice};
pub use listen::Listener;
/// The connection pool every part of seqrd runs its statements on.
pub use sqlx::{postgres::PgConnectOptions, PgConnection, PgPool};
pub use store::{pool_options, AlsoWrite, Connection, EventRow, EventStore, TenantFilter, NOTIFY_CHANNEL};
pub use subscription::{load_checkpoint, save_checkpoint, Processed, Projection, Subscription, SubscriptionConfig};

/// The schema migrations (events, subscriptions, read models).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
