use uuid::Uuid;

/// Errors of the event store, subscriptions and projections. Each variant has a stable [`StoreError::code`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the version the append expected.
    #[error("version conflict on stream {stream_id}: expected version {expected}, stream is at {actual}")]
    Conflict {
        /// The stream appended to.
        stream_id: Uuid,
        /// The version the append expected.
        expected: i64,
        /// The stream's version when the conflict was detected.
        actual: i64,
    },
    /// An event id of the append is already stored (and the append is not a retry of an idempotent command).
    #[error("event id already stored on another command (stream {stream_id})")]
    DuplicateEventId {
        /// The stream appended to.
        stream_id: Uuid,
    },
    /// The append request is malformed (no events, negative expected version, ...).
    #[error("invalid append: {0}")]
    InvalidAppend(&'static str),
    /// A stored event could not be decoded into a domain event.
    #[error("cannot decode event at position {position} ({event_type} v{schema_version}): {message}")]
    Decode {
        /// Global position of the event.
        position: i64,
        /// Stored event type.
        event_type: String,
        /// Stored schema version.
        schema_version: i32,
        /// What went wrong.
        message: String,
    },
    /// A stream's events do not fold into an invoice state (the stream is inconsistent).
    #[error("cannot fold event at position {position} into the invoice state: {message}")]
    Fold {
        /// Global position of the event.
        position: i64,
        /// What went wrong.
        message: String,
    },
    /// A projection rejected a batch.
    #[error("projection {name} failed: {message}")]
    Projection {
        /// Name of the projection.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether Postgres cannot be reached now (refused, reset, pool timeout, shutting down), as opposed to a fault
    /// in the request or the code: a caller can tell "retry later" from a bug. The cause decides, never a string.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Db(e) = self else { return false };
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
            // admin_shutdown, crash_shutdown, cannot_connect_now, and the connection exceptions (class 08).
            sqlx::Error::Database(d) => {
                d.code().is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03") || c.starts_with("08"))
            }
            _ => false,
        }
    }

    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Conflict { .. } => "store.version_conflict",
            StoreError::DuplicateEventId { .. } => "store.duplicate_event_id",
            StoreError::InvalidAppend(_) => "store.invalid_append",
            StoreError::Decode { .. } => "store.decode",
            StoreError::Fold { .. } => "store.fold",
            StoreError::Projection { .. } => "store.projection",
            StoreError::Db(_) => "store.db",
        }
    }
}
