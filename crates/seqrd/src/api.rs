//! The HTTP JSON API under `/v1`.

pub mod auth;
pub mod error;
pub mod idempotency;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
}
