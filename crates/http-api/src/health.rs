//! `/health`, `/health/live`, `/health/ready`: for load balancers and orchestrators (no API key).

use aide::{generate::GenContext, openapi::Operation, OperationOutput};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::{openapi, AppState};

/// `GET /health`: always `ok` while the process runs.
pub(crate) async fn ok() -> &'static str {
    "ok"
}

/// `GET /health/live`.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct Live {
    /// Always `live`.
    status: &'static str,
}

pub(crate) async fn live() -> Json<Live> {
    Json(Live { status: "live" })
}

/// `GET /health/ready`: this process can serve.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct ReadyReport {
    /// `ready`.
    status: &'static str,
    /// `ok`.
    database: &'static str,
    /// Whether this process's last SEQR calls reached SEQR (`ok`, `unreachable`); reads keep working while it
    /// is not.
    seqr: &'static str,
    subscriptions: Vec<SubscriptionLag>,
    workers: Workers,
}

/// How far a subscription (a projection, the relay) is behind the log.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct SubscriptionLag {
    name: String,
    /// Events after its checkpoint, counted up to 10,000.
    #[schemars(with = "crate::dto::schema::Int64")]
    lag_events: i64,
    /// Whether the count stopped at the limit.
    lag_at_least: bool,
    checkpoint_at: chrono::DateTime<chrono::Utc>,
}

/// The fleet's workers.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct Workers {
    /// Worker instances with a recent heartbeat.
    #[schemars(with = "crate::dto::schema::Int64")]
    live_instances: i64,
}

/// `GET /health/ready` when Postgres cannot be reached.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct NotReady {
    /// `not_ready`.
    status: &'static str,
    /// `unreachable`.
    database: &'static str,
}

/// 200 with the report when this process can serve (Postgres answers within the pool's acquire timeout), else 503.
pub(crate) struct Ready(Result<ReadyReport, NotReady>);

/// `GET /health/ready`: the body reports each dependency and part: the database, SEQR, every subscription's lag
/// (projections and the relay, in events, counted up to 10,000) with its last checkpoint time, and the live
/// worker instances.
pub(crate) async fn ready(State(app): State<AppState>) -> Ready {
    match app.engine.readiness().await {
        Ok(report) => {
            let subscriptions = report
                .subscriptions
                .into_iter()
                .map(|s| SubscriptionLag {
                    name: s.name,
                    lag_events: s.lag_events,
                    lag_at_least: s.lag_at_least,
                    checkpoint_at: s.checkpoint_at,
                })
                .collect();
            Ready(Ok(ReadyReport {
                status: "ready",
                database: "ok",
                seqr: if report.seqr_reachable { "ok" } else { "unreachable" },
                subscriptions,
                workers: Workers { live_instances: report.live_workers },
            }))
        }
        Err(e) => {
            tracing::warn!(error = %engine::error_chain(&e), "readiness: database unavailable");
            Ready(Err(NotReady { status: "not_ready", database: "unreachable" }))
        }
    }
}

impl IntoResponse for Ready {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(report) => Json(report).into_response(),
            Err(not_ready) => {
                (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, "1")], Json(not_ready))
                    .into_response()
            }
        }
    }
}

impl OperationOutput for Ready {
    type Inner = ReadyReport;

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, aide::openapi::Response)> {
        openapi::answer_json::<ReadyReport>(ctx, operation, 200, "Ready, with the report");
        openapi::answer_json::<NotReady>(
            ctx,
            operation,
            503,
            "Not ready (`NotReady`): Postgres cannot be reached. Answered as an `Error`, `error.code` is one of:",
        );
        Vec::new()
    }
}
