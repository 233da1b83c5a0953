//! The HTTP JSON API under `/v1` (axum): the only crate that knows HTTP and the JSON DTOs. It depends on the
//! engine and the domain only; the API's own request and answer types are in `dto` (whose `convert` is the one
//! place that names the domain's types), and every engine error maps to a status through its class.

mod auth;
mod body;
mod dto;
mod error;
mod events;
mod extract;
mod health;
mod invoices;
pub mod observe;
mod openapi;
mod server;

use std::{net::SocketAddr, time::Duration};

use aide::axum::{
    routing::{get_with, post_with},
    ApiRouter,
};
use axum::{
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    response::{IntoResponse, Response},
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
    /// The OpenAPI document, generated once at start-up.
    pub(crate) document: openapi::Document,
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
    let router = router(engine);
    let handle = tokio::spawn(server::serve(listener, router, limits, shutdown));
    Ok((local, handle))
}

/// The whole API: the documented routes (see [`routes`]), a JSON 404 for any other path and a JSON 405 (with
/// `Allow`) for a method a route does not take.
fn router(engine: Engine) -> Router {
    let (router, document) = openapi::generate(routes());
    let document = openapi::Document(serde_json::to_vec(&document).unwrap_or_default().into());
    router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(AppState { engine, document })
}

/// Every route, with its documentation (generated from the handlers' types: see the `openapi` module).
fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/invoices",
            post_with(invoices::issue, |op| op.id(openapi::ISSUE_INVOICE).summary("Issue an invoice (sendInvoice)")),
        )
        .api_route(
            "/v1/events",
            get_with(events::feed, |op| {
                op.id("get_events")
                    .summary("The tenant's events after a cursor, in the feed's order (long-poll with wait)")
            }),
        )
        .api_route("/v1/invoices/{id}", get_with(invoices::get, |op| op.id("get_invoice").summary("The invoice")))
        .api_route(
            "/v1/invoices/{id}/events",
            get_with(invoices::events, |op| op.id("get_invoice_events").summary("The invoice's events, in order")),
        )
        .api_route(
            "/v1/invoices/{id}/loyalty",
            post_with(invoices::loyalty, |op| {
                op.id("apply_loyalty").summary("Apply loyalty: tokens used, updated rows and total (updateInvoice)")
            }),
        )
        .api_route(
            "/v1/invoices/{id}/commit",
            post_with(invoices::commit, |op| {
                op.id("commit_invoice").summary("Commit a reservation with the final amount (commitReservation)")
            }),
        )
        .api_route(
            "/v1/invoices/{id}/cancel",
            post_with(invoices::cancel, |op| {
                op.id("cancel_invoice").summary("Cancel an unpaid invoice (cancelInvoice); the body may be empty")
            }),
        )
        .api_route(
            "/v1/invoices/{id}/refunds",
            post_with(invoices::refund, |op| {
                op.id("refund_invoice").summary("Refund part or all of the payment (refundPayment)")
            }),
        )
        .api_route(
            "/v1/invoices/{id}/receipt",
            post_with(invoices::receipt, |op| {
                op.id("submit_receipt").summary("Submit a receipt document (submitPaymentReceipt)")
            }),
        )
        .api_route(
            "/v1/invoices/{id}/calls/{call_id}/resolve",
            post_with(invoices::resolve_call, |op| {
                op.id("resolve_call")
                    .summary("Settle a SEQR call whose outcome is unknown (finance, after reconciliation)")
            }),
        )
        .api_route(
            "/v1/seqr/notifications/{token}",
            post_with(notification, |op| {
                op.id("seqr_notification")
                    .summary("SEQR's notificationUrl (no API key: the token is bound to one invoice)")
            }),
        )
        .api_route("/v1/openapi.json", get_with(spec, |op| op.id("openapi").summary("This document")))
        .api_route(
            "/health",
            get_with(health::ok, |op| {
                op.id("health").summary("Always ok while the process runs (kept for old load balancers)")
            }),
        )
        .api_route("/health/live", get_with(health::live, |op| op.id("live").summary("Liveness: the process answers")))
        .api_route(
            "/health/ready",
            get_with(health::ready, |op| {
                op.id("ready").summary(
                    "Readiness: Postgres answers; SEQR's reachability, each subscription's lag (projections, relay) \
                     and the live worker instances",
                )
            }),
        )
}

/// `GET /v1/openapi.json`.
async fn spec(State(app): State<AppState>) -> openapi::Document {
    app.document.clone()
}

/// The path of SEQR's notification.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct TokenPath {
    /// The invoice's notification token (in the notificationUrl seqrd gave SEQR).
    token: String,
}

/// `POST /v1/seqr/notifications/{token}`: SEQR says something happened; poll that invoice at once. The token is
/// the only credential (SEQR cannot authenticate), so an unknown token answers 404 and changes nothing; a known
/// one can only bring the invoice's next poll forward, at most once per `notification_min_interval` (a flood of a
/// leaked token costs one indexed lookup per request and no SEQR call).
async fn notification(State(app): State<AppState>, Path(path): Path<TokenPath>) -> Notified {
    Notified(match app.engine.notified(&path.token).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::not_found()),
        Err(e) => Err(e.into()),
    })
}

/// The answer to a notification: 200 (no body), or an error.
struct Notified(Result<(), ApiError>);

impl IntoResponse for Notified {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(()) => StatusCode::OK.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

impl aide::OperationOutput for Notified {
    type Inner = ();

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<u16>, aide::openapi::Response)> {
        openapi::answer(ctx, operation, 200, "The invoice will be polled at once (no body)", None);
        openapi::error(ctx, operation, 404, &[("not_found", "unknown token")]);
        openapi::error(ctx, operation, 503, &[("database_unavailable", "Postgres cannot be reached")]);
        Vec::new()
    }
}
