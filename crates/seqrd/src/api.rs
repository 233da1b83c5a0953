//! The HTTP JSON API under `/v1` (axum). Only this module knows HTTP and the JSON DTOs.

pub mod auth;
pub mod body;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod invoices;
pub mod openapi;
pub mod view;

use axum::{
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    routing::{get, post},
    Router,
};

use crate::{
    api::{error::ApiError, extract::Path},
    jobs,
    poller::WAKE_CHANNEL,
    service::Service,
};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// This process's liveness lock, taken on the first request with an Idempotency-Key (the owner of its records).
    pub process: std::sync::Arc<tokio::sync::OnceCell<crate::locks::ProcessLock>>,
}

impl AppState {
    pub fn new(service: Service) -> AppState {
        AppState { service, process: Default::default() }
    }

    /// This process's lock id (see [`crate::locks::ProcessLock`]).
    pub async fn process_id(&self) -> Result<i32, ApiError> {
        let lock = self.process.get_or_try_init(|| crate::locks::ProcessLock::acquire(&self.service.pool)).await?;
        Ok(lock.id())
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
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
    if token.len() != 48 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    // One statement: the token's invoice, and whether this notification may wake it (the row lock makes two
    // concurrent notifications wake it once).
    let row: Option<(uuid::Uuid, bool)> = sqlx::query_as(
        "WITH woken AS (
             UPDATE notification_tokens SET woken_at = now()
             WHERE token = $1 AND (woken_at IS NULL OR woken_at <= now() - make_interval(secs => $2))
             RETURNING invoice_id
         )
         SELECT invoice_id, true FROM woken
         UNION ALL
         SELECT invoice_id, false FROM notification_tokens WHERE token = $1 AND NOT EXISTS (SELECT 1 FROM woken)",
    )
    .bind(&token)
    .bind(app.service.config.notification_min_interval.as_secs_f64())
    .fetch_optional(&app.service.pool)
    .await?;
    let (invoice, woken) = row.ok_or_else(ApiError::not_found)?;
    if woken {
        let poll = &app.service.config.poll;
        if !jobs::wake(&app.service.pool, invoice).await? {
            jobs::schedule(&app.service.pool, invoice, std::time::Duration::ZERO, poll.active_interval).await?;
        }
        sqlx::query("SELECT pg_notify($1, '')").bind(WAKE_CHANNEL).execute(&app.service.pool).await?;
    }
    Ok(StatusCode::OK)
}

/// How many events behind a subscription may be counted exactly (beyond, the answer says "at least").
const LAG_COUNT_LIMIT: i64 = 10_000;

/// `GET /health/ready`: 200 when this process can serve (Postgres answers within the pool's acquire timeout), else
/// 503. The body reports each dependency and part: the database, every subscription's lag (projections and the
/// relay, in events, counted up to 10,000) with its last checkpoint time, and the live worker instances.
async fn ready(State(app): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let pool = &app.service.pool;
    let report = async {
        let subscriptions: Vec<(String, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT s.name,
                    (SELECT count(*) FROM (SELECT 1 FROM events e WHERE (e.tx_id, e.position) > (s.tx_id, s.position)
                                           LIMIT $1) behind),
                    s.updated_at
             FROM subscriptions s ORDER BY s.name",
        )
        .bind(LAG_COUNT_LIMIT)
        .fetch_all(pool)
        .await?;
        let workers: i64 =
            sqlx::query_scalar("SELECT count(*) FROM instances WHERE seen_at > now() - interval '15 seconds'")
                .fetch_one(pool)
                .await?;
        Ok::<_, sqlx::Error>((subscriptions, workers))
    };
    match report.await {
        Ok((subscriptions, workers)) => {
            let subscriptions: Vec<_> = subscriptions
                .into_iter()
                .map(|(name, lag, at)| {
                    serde_json::json!({"name": name, "lag_events": lag, "lag_at_least": lag >= LAG_COUNT_LIMIT,
                                       "checkpoint_at": at})
                })
                .collect();
            axum::Json(serde_json::json!({
                "status": "ready",
                "database": "ok",
                "subscriptions": subscriptions,
                "workers": {"live_instances": workers},
            }))
            .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, "1")],
                axum::Json(serde_json::json!({"status": "not_ready", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}
