//! What can go wrong in a use case, each with a stable code and a class that adapters map to their own terms
//! (an HTTP status, an exit code) without knowing the cases.

use domain::Rejection;
use store_pg::StoreError;

/// The kind of failure, independent of any transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The thing asked about does not exist (or belongs to someone else).
    NotFound,
    /// The request can never be accepted as it is (bad input, an unknown register).
    Invalid,
    /// The request conflicts with the current state; it may succeed later or after another change.
    Conflict,
    /// A dependency (Postgres, SEQR) cannot be reached now; retry later.
    Unavailable,
    /// Something is broken on our side (a stored event that does not decode, a bug).
    Internal,
}

/// Why a use case was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The domain refused the command (a business rule).
    #[error("{0}")]
    Rejected(#[from] Rejection),
    /// The stream kept changing under us.
    #[error("the invoice changed concurrently too often; retry")]
    Contention,
    /// The register named is not one of the caller's (or has no SEQR credentials in seqrd).
    #[error("no such terminal for this API key: {0:?}")]
    UnknownTerminal(String),
    /// The invoice's notificationUrl is one seqrd will not send requests to.
    #[error("invoice.notification_url: {0}")]
    ForbiddenNotificationUrl(String),
    /// An id of the request is malformed.
    #[error("{0}")]
    InvalidId(String),
    /// Another request with the same Idempotency-Key is still running.
    #[error("a request with this Idempotency-Key is still running")]
    IdempotencyKeyInUse,
    /// The Idempotency-Key was used with a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// SEQR cannot be reached now; nothing was recorded: retry after the duration (with the same Idempotency-Key).
    #[error("SEQR cannot be reached; nothing was sent or recorded: retry in {} s", retry_after.as_secs().max(1))]
    SeqrUnavailable { retry_after: std::time::Duration },
    /// The invoice (or call) does not exist, or is not the caller's.
    #[error("no such resource")]
    NotFound,
    /// A stored event could not be read back as a domain event.
    #[error("stored event cannot be decoded: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Rejected(r) => r.code(),
            EngineError::Contention => "concurrent_modification",
            EngineError::NotFound => "not_found",
            EngineError::SeqrUnavailable { .. } => "seqr_unavailable",
            EngineError::UnknownTerminal(_) => "unknown_terminal",
            EngineError::ForbiddenNotificationUrl(_) => "forbidden_notification_url",
            EngineError::InvalidId(_) => "invalid_id",
            EngineError::IdempotencyKeyInUse => "idempotency_key_in_use",
            EngineError::IdempotencyKeyReused => "idempotency_key_reused",
            EngineError::Corrupt(_) => "internal_error",
            EngineError::Store(e) if e.is_unavailable() => "database_unavailable",
            EngineError::Store(_) => "internal_error",
        }
    }

    /// The class of the failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            EngineError::Rejected(r) => match r.class() {
                domain::RejectionClass::NotFound => ErrorClass::NotFound,
                domain::RejectionClass::Conflict => ErrorClass::Conflict,
                domain::RejectionClass::Invalid => ErrorClass::Invalid,
            },
            EngineError::Contention | EngineError::IdempotencyKeyInUse => ErrorClass::Conflict,
            EngineError::NotFound => ErrorClass::NotFound,
            EngineError::SeqrUnavailable { .. } => ErrorClass::Unavailable,
            EngineError::UnknownTerminal(_)
            | EngineError::ForbiddenNotificationUrl(_)
            | EngineError::InvalidId(_)
            | EngineError::IdempotencyKeyReused => ErrorClass::Invalid,
            EngineError::Corrupt(_) => ErrorClass::Internal,
            EngineError::Store(e) if e.is_unavailable() => ErrorClass::Unavailable,
            EngineError::Store(_) => ErrorClass::Internal,
        }
    }
}

/// An error with all its causes, `a: b: c`, for a log line or a message.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}
