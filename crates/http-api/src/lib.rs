//! The HTTP JSON API under `/v1` (axum): the only crate that knows HTTP and the JSON DTOs. It depends on the
//! engine and the domain only; every engine error maps to a status through its class.

mod auth;
mod body;
mod error;
mod extract;
mod invoices;
mod openapi;
mod server;
mod view;

use std::{net::SocketAddr, time::Duration};

use axum::{
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    routing::{get, post},
    Router,
};
use engine::{shutdown::Shutdown, Engine};

use crate::{error::ApiError, extract::Path};

pub use openapi::document as openapi_document;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) engine: Engine,
}

/// Limits of the HTTP server against slow, idle and too many clients (see the `server` module for how each is
/// enforced).
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// The whole request head must arrive within this, counted from the connection's accept or from the first
    /// byte of a request on a kept-alive connection.
    pub header_timeout: Duration,
    /// The whole request body must arrive within this, counted from the end of its head.
    pub body_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// A handler still running after this is answered 503 `request_timeout` (and left to finish its work).
    pub request_timeout: Duration,
    /// Most connections served at once; more wait in the kernel's listen backlog until one closes.
    pub max_connections: usize,
}

/// Serves the API of `engine` on a bound listener, within `limits`. The task ends after `shutdown`, once every
/// connection has closed and every handler has finished. Returns the address (for callers that bind port 0).
pub fn serve_on(
    engine: Engine,
    listener: tokio::net::TcpListener,
    limits: HttpLimits,
    shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let local = listener.local_addr()?;
    let router = router(AppState { engine });
    let handle = tokio::spawn(server::serve(listener, router, limits, shutdown));
    Ok((local, handle))
}

/// The whole API.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/invoices", post(invoices::issue))
        .route("/v1/invoices/{id}", get(invoices::get))
        .route("/v1/invoices/{id}/events", get(invoices::events))
        .route("/v1/invoices/{id}/loyalty", post(invoices::loyalty))
        .route("/v1/invoices/{id}/commit", post(invoices::commit))
        .route("/v1/invoices/{id}/cancel", post(invoices::cancel))
        .route("/v1/invoices/{id}/refunds", post(invoices::refund))
        .route("/v1/invoices/{id}/receipt", post(invoices::receipt))
        .route("/v1/invoices/{id}/calls/{call_id}/resolve", post(invoices::resolve_call))
        .route("/v1/seqr/notifications/{token}", post(notification))
        .route("/v1/openapi.json", get(openapi::spec))
        .route("/health", get(|| async { "ok" }))
        .route("/health/live", get(|| async { axum::Json(serde_json::json!({"status": "live"})) }))
        .route("/health/ready", get(ready))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// `POST /v1/seqr/notifications/{token}`: SEQR says something happened; poll that invoice at once. The token is
/// the only credential (SEQR cannot authenticate), so an unknown token answers 404 and changes nothing; a known
/// one can only bring the invoice's next poll forward, at most once per `notification_min_interval` (a flood of a
/// leaked token costs one indexed lookup per request and no SEQR call).
async fn notification(State(app): State<AppState>, Path(token): Path<String>) -> Result<StatusCode, ApiError> {
    if app.engine.notified(&token).await? {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found())
    }
}

/// `GET /health/ready`: 200 when this process can serve (Postgres answers within the pool's acquire timeout), else
/// 503. The body reports each dependency and part: the database, every subscription's lag (projections and the
/// relay, in events, counted up to 10,000) with its last checkpoint time, and the live worker instances.
async fn ready(State(app): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match app.engine.readiness().await {
        Ok(report) => {
            let subscriptions: Vec<_> = report
                .subscriptions
                .into_iter()
                .map(|s| {
                    serde_json::json!({"name": s.name, "lag_events": s.lag_events, "lag_at_least": s.lag_at_least,
                                       "checkpoint_at": s.checkpoint_at})
                })
                .collect();
            axum::Json(serde_json::json!({
                "status": "ready",
                "database": "ok",
                "subscriptions": subscriptions,
                "workers": {"live_instances": report.live_workers},
            }))
            .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %engine::error_chain(&e), "readiness: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, "1")],
                axum::Json(serde_json::json!({"status": "not_ready", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}
