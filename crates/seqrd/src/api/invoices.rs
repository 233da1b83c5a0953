//! `/v1/invoices`: issue, read, and the commands that call SEQR.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use domain::{
    command::{
        CancelInvoice, CommitReservation, IssueInvoice, RefundPayment, ResolveCall, SubmitReceipt, UpdateInvoice,
    },
    CallId, CallState, CallSuccess, Command, CustomerToken, Evidence, Invoice, InvoiceId, InvoiceRow, InvoiceState,
    Money, ReceiptDocument, Rejection, Resolution, Scope,
};
use serde::{de::DeserializeOwned, Deserialize};
use uuid::Uuid;

use crate::{
    api::{
        auth::Caller,
        body::{from_value, parse, parse_json},
        error::ApiError,
        extract::{Body, Path},
        idempotency::{self, Begin},
        view::InvoiceView,
        AppState,
    },
    engine::{self, EngineError},
    service::ServiceError,
};

/// `POST /v1/invoices`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// The register (as registered in seqrd) the invoice is shown at.
    pub terminal_id: String,
    pub invoice: Invoice,
    /// Tokens sent along, e.g. a loyalty card swiped before the shopper scanned.
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TOKENS"))]
    pub tokens: Vec<CustomerToken>,
}

/// `POST /v1/invoices/{id}/loyalty`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyBody {
    #[schemars(length(max = "domain::text::max::ROWS"))]
    pub rows: Vec<InvoiceRow>,
    pub total: Money,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TOKENS"))]
    pub tokens: Vec<CustomerToken>,
}

/// `POST /v1/invoices/{id}/commit`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitBody {
    pub amount: Money,
}

/// `POST /v1/invoices/{id}/cancel`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {}

/// `POST /v1/invoices/{id}/refunds`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub amount: Money,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TITLE"))]
    pub title: Option<String>,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::ROWS"))]
    pub rows: Vec<InvoiceRow>,
}

/// `POST /v1/invoices/{id}/receipt`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    pub document: ReceiptDocument,
    /// A refund's ERS reference; the payment's when absent.
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::ID"))]
    pub ers_reference: Option<String>,
}

/// How an unknown call ended, as finance found it.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolveOutcome {
    /// SEQR did it.
    Succeeded,
    /// SEQR did not do it.
    NotDone,
}

/// `POST /v1/invoices/{id}/calls/{call_id}/resolve`: finance settles an unknown call (e.g. a refund) after
/// checking SEQR's reconciliation reports.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `succeeded` or `not_done`.
    pub outcome: ResolveOutcome,
    #[serde(default)]
    pub ers_reference: Option<String>,
    #[schemars(length(max = "domain::text::max::NOTE"))]
    pub note: String,
}

pub async fn issue(State(app): State<AppState>, caller: Caller, headers: HeaderMap, Body(body): Body) -> Response {
    idempotent(&app, &caller, &headers, "POST", "/v1/invoices", body, |app, caller, body, key| async move {
        let mut value: serde_json::Value = parse_json(&body)?;
        // issue_date defaults to now.
        if let Some(invoice) = value.get_mut("invoice").and_then(|v| v.as_object_mut()) {
            invoice.entry("issue_date").or_insert_with(|| serde_json::json!(engine::now()));
        }
        let body: IssueBody = from_value(value)?;
        // seqrd itself POSTs this URL later: it must be a public https URL (see `outbound`).
        if let Some(url) = &body.invoice.notification_url {
            app.service.config.merchant_urls.check(url.as_str()).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "forbidden_notification_url",
                    format!("invoice.notification_url: {e}"),
                )
            })?;
        }
        let terminal: Option<(String, String)> =
            sqlx::query_as("SELECT merchant_id, store_id FROM terminals WHERE tenant_id = $1 AND terminal_id = $2")
                .bind(&caller.tenant_id)
                .bind(&body.terminal_id)
                .fetch_optional(&app.service.pool)
                .await?;
        let Some((merchant, store)) = terminal.filter(|(_, store)| caller.may_access(&caller.tenant_id, store)) else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_terminal",
                "no such terminal for this API key",
            ));
        };
        let scope = Scope {
            tenant: parse_id(&caller.tenant_id)?,
            merchant: parse_id(&merchant)?,
            store: parse_id(&store)?,
            terminal: parse_id(&body.terminal_id)?,
        };
        // The invoice id is derived from the idempotency key when there is one, so a retry after a lost answer
        // lands on the same stream.
        let invoice_id = InvoiceId(match &key {
            Some(k) => Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{}:{k}", caller.tenant_id).as_bytes()),
            None => Uuid::now_v7(),
        });
        let call_id = CallId(Uuid::now_v7());
        let at = engine::now();
        let meta = engine::metadata(caller.actor(), None);
        let command =
            Command::Issue(IssueInvoice { at, invoice_id, scope, call_id, invoice: body.invoice, tokens: body.tokens });
        let (state, call) =
            app.service.command(invoice_id, &meta, key.as_deref(), |_| command.clone()).await.map_err(service_error)?;
        respond(&app, &state, call, StatusCode::CREATED).await
    })
    .await
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<InvoiceView>, ApiError> {
    let state = load_owned(&app, &caller, id).await?;
    InvoiceView::of(&state).map(Json).ok_or_else(ApiError::not_found)
}

pub async fn events(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    load_owned(&app, &caller, id).await?;
    let events = app.service.engine.store().read_stream(id).await.map_err(|e| ApiError::from_failure(&e))?;
    let items: Vec<_> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.event_id,
                "type": e.event_type,
                "schema_version": e.schema_version,
                "version": e.version,
                "position": e.position,
                "recorded_at": e.recorded_at,
                "correlation_id": e.metadata.correlation_id,
                "causation_id": e.metadata.causation_id,
                "actor": e.metadata.actor,
                "data": e.data,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "invoice_id": id, "events": items })))
}

pub async fn loyalty(
    app: State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    invoice_command(app, caller, id, headers, body, "loyalty", |b: LoyaltyBody, at, call_id, _| {
        Command::UpdateInvoice(UpdateInvoice { at, call_id, rows: b.rows, total: b.total, tokens: b.tokens })
    })
    .await
}

pub async fn commit(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let path = format!("/v1/invoices/{id}/commit");
    idempotent(&app, &caller, &headers, "POST", &path, body, |app, caller, body, key| async move {
        let body: CommitBody = parse(&body)?;
        let state = load_owned(&app, &caller, id).await?;
        let meta = engine::metadata(caller.actor(), None);
        let sends_amount = app.service.config.seqr_gen_b;
        if !sends_amount {
            if let Some(answer) = set_final_total(&app, &state, &meta, key.as_deref(), body.amount).await? {
                return Ok(answer);
            }
        }
        let call_id = CallId(Uuid::now_v7());
        let at = engine::now();
        let command = Command::CommitReservation(CommitReservation { at, call_id, amount: body.amount, sends_amount });
        let (state, call) = app
            .service
            .command(InvoiceId(id), &meta, key.as_deref(), |_| command.clone())
            .await
            .map_err(service_error)?;
        respond(&app, &state, call, StatusCode::OK).await
    })
    .await
}

/// Schema Gen A: commitReservation carries no amount and SEQR charges the invoice's total, so a final amount other
/// than the total is first set with updateInvoice (the preliminary-payment seed: the merchant updates the order,
/// then commits), recorded and performed as a call of its own. Its rows are dropped (they added up to the old
/// total); a merchant who wants final rows on the receipt sends them with `POST .../loyalty` before committing.
/// Returns the answer when the commit must not follow: SEQR refused the update (422) or its outcome is unknown (202).
async fn set_final_total(
    app: &AppState,
    state: &InvoiceState,
    meta: &store_pg::Metadata,
    key: Option<&str>,
    amount: Money,
) -> Result<Option<(StatusCode, serde_json::Value)>, ApiError> {
    let (Some(invoice), Some(invoice_id)) = (state.invoice(), state.invoice_id()) else { return Ok(None) };
    if invoice.total == amount || state.status() != domain::InvoiceStatus::Reserved {
        // Nothing to change, or a state the commit's own decision refuses.
        return Ok(None);
    }
    let call_id = CallId(Uuid::now_v7());
    let at = engine::now();
    let tokens = state.tokens().to_vec();
    let update = Command::UpdateInvoice(UpdateInvoice { at, call_id, rows: Vec::new(), total: amount, tokens });
    let update_key = key.map(|k| format!("{k}:final-total"));
    let (after, call) = app
        .service
        .command(invoice_id, meta, update_key.as_deref(), |_| update.clone())
        .await
        .map_err(service_error)?;
    match call {
        // SEQR took the new total (or a replay finds it taken, or the commit's decision refuses): commit.
        None => Ok(None),
        Some(_) if after.invoice().is_some_and(|i| i.total == amount) => Ok(None),
        Some(_) => respond(app, &after, call, StatusCode::OK).await.map(Some),
    }
}

pub async fn cancel(
    app: State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let body = if body.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { body };
    invoice_command(app, caller, id, headers, body, "cancel", |_: CancelBody, at, call_id, _| {
        Command::Cancel(CancelInvoice { at, call_id })
    })
    .await
}

pub async fn refund(
    app: State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    invoice_command(app, caller, id, headers, body, "refunds", |b: RefundBody, at, call_id, _| {
        Command::Refund(RefundPayment { at, call_id, amount: b.amount, title: b.title, rows: b.rows })
    })
    .await
}

pub async fn receipt(
    app: State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    invoice_command(app, caller, id, headers, body, "receipt", |b: ReceiptBody, at, call_id, _| {
        Command::SubmitReceipt(SubmitReceipt { at, call_id, ers_reference: b.ers_reference, document: b.document })
    })
    .await
}

pub async fn resolve_call(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, call)): Path<(Uuid, Uuid)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let path = format!("/v1/invoices/{id}/calls/{call}/resolve");
    idempotent(&app, &caller, &headers, "POST", &path, body, |app, caller, body, key| async move {
        let body: ResolveBody = parse(&body)?;
        let state = load_owned(&app, &caller, id).await?;
        let call_id = CallId(call);
        let kind = state.call(call_id).map(|c| c.kind).ok_or_else(ApiError::not_found)?;
        let resolution = match body.outcome {
            ResolveOutcome::Succeeded => Resolution::Succeeded {
                result: match kind {
                    domain::CallKind::RefundPayment => CallSuccess::Refunded { ers_reference: body.ers_reference },
                    _ => CallSuccess::Done,
                },
            },
            ResolveOutcome::NotDone => Resolution::NotDone,
        };
        let at = engine::now();
        let meta = engine::metadata(caller.actor(), None);
        let evidence = Evidence::Operator { note: body.note };
        let state = app
            .service
            .engine
            .execute(InvoiceId(id), &meta, key.as_deref(), |_| {
                Command::ResolveCall(ResolveCall {
                    at,
                    call_id,
                    resolution: resolution.clone(),
                    evidence: evidence.clone(),
                })
            })
            .await
            .map_err(|e| service_error(e.into()))?;
        respond(&app, &state, Some(call_id), StatusCode::OK).await
    })
    .await
}

/// A command on an existing invoice with a body `B`.
async fn invoice_command<B: DeserializeOwned + Send + 'static>(
    State(app): State<AppState>,
    caller: Caller,
    id: Uuid,
    headers: HeaderMap,
    body: Bytes,
    action: &'static str,
    make: impl Fn(B, chrono::DateTime<chrono::Utc>, CallId, &InvoiceState) -> Command + Send + Sync + 'static,
) -> Response {
    let path = format!("/v1/invoices/{id}/{action}");
    idempotent(&app, &caller, &headers, "POST", &path, body, |app, caller, body, key| async move {
        let body: B = parse(&body)?;
        load_owned(&app, &caller, id).await?;
        let call_id = CallId(Uuid::now_v7());
        let at = engine::now();
        let meta = engine::metadata(caller.actor(), None);
        let mut body = Some(body);
        let mut command = None;
        let (state, call) = app
            .service
            .command(InvoiceId(id), &meta, key.as_deref(), |state| {
                if command.is_none() {
                    command = Some(make(body.take().expect("the body is used once"), at, call_id, state));
                }
                command.clone().expect("set above")
            })
            .await
            .map_err(service_error)?;
        respond(&app, &state, call, StatusCode::OK).await
    })
    .await
}

/// Runs `f` under the Idempotency-Key rules (when the header is present) and turns its result into a response.
async fn idempotent<F, Fut>(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: Bytes,
    f: F,
) -> Response
where
    F: FnOnce(AppState, Caller, Bytes, Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let key = match headers.get("idempotency-key").map(idempotency::parse_key).transpose() {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let Some(key) = key else {
        return into_response(f(app.clone(), caller.clone(), body, None).await);
    };
    let hash = idempotency::request_hash(method, path, &body);
    let owner = match app.process_id().await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match idempotency::begin(&app.service.pool, caller, owner, &key, &hash).await {
        Err(e) => e.into_response(),
        Ok(Begin::Replay { status, body }) => (
            status,
            [
                (axum::http::header::CONTENT_TYPE, "application/json"),
                (axum::http::HeaderName::from_static("idempotent-replayed"), "true"),
            ],
            body,
        )
            .into_response(),
        Ok(Begin::Proceed) => {
            // The key is the caller's own: another API key using the same value runs its own request.
            let command_key = format!("http:{}:{key}", caller.key_id);
            let (status, bytes) = match f(app.clone(), caller.clone(), body, Some(command_key)).await {
                Ok((status, value)) => (status, serde_json::to_vec(&value).unwrap_or_default()),
                Err(e) => (e.status, e.body()),
            };
            if let Err(e) = idempotency::finish(&app.service.pool, caller, &key, status, &bytes).await {
                return ApiError::from(e).into_response();
            }
            (status, [(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
    }
}

fn into_response(result: Result<(StatusCode, serde_json::Value), ApiError>) -> Response {
    match result {
        Ok((status, value)) => (status, Json(value)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The answer to a command: the invoice view, with the performed call's fate in the status code:
/// done: `ok`; refused by SEQR: 422 `seqr_rejected` (with the invoice); outcome unknown: 202 (a worker resolves it).
fn command_response(
    state: &InvoiceState,
    call: Option<CallId>,
    rejections: &[(CallId, i32, String)],
    ok: StatusCode,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let view = InvoiceView::of(state).ok_or_else(ApiError::not_found)?;
    let view = serde_json::to_value(view).map_err(ApiError::internal)?;
    let record = call.and_then(|c| state.call(c));
    match record.map(|r| &r.state) {
        Some(CallState::Rejected) => {
            let (code, description) = rejection_of(rejections, call);
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({
                    "error": {
                        "code": "seqr_rejected",
                        "message": format!("SEQR refused {}: {code} {description}", record.map(|r| r.kind.operation()).unwrap_or("the call")),
                        "seqr_result_code": code,
                    },
                    "invoice": view,
                }),
            ))
        }
        Some(CallState::Unknown | CallState::Requested) => Ok((StatusCode::ACCEPTED, view)),
        // A replayed command performs nothing; while a call of the invoice is still open its outcome is not known.
        None if call.is_none() && state.calls_in_flight().next().is_some() => Ok((StatusCode::ACCEPTED, view)),
        _ => Ok((ok, view)),
    }
}

fn rejection_of(rejections: &[(CallId, i32, String)], call: Option<CallId>) -> (i32, String) {
    rejections
        .iter()
        .find(|(c, _, _)| Some(*c) == call)
        .map(|(_, code, d)| (*code, d.clone()))
        .unwrap_or((-1, String::new()))
}

/// The SEQR rejections recorded on an invoice (call id, result code, description).
async fn rejections(app: &AppState, id: Uuid) -> Result<Vec<(CallId, i32, String)>, ApiError> {
    let events = app.service.engine.store().read_stream(id).await.map_err(|e| ApiError::from_failure(&e))?;
    Ok(events
        .iter()
        .filter(|e| e.event_type == "call_rejected")
        .filter_map(|e| match store_pg::decode(e) {
            Ok(domain::Event::CallRejected(r)) => Some((r.call_id, r.result_code, r.description)),
            _ => None,
        })
        .collect())
}

async fn respond(
    app: &AppState,
    state: &InvoiceState,
    call: Option<CallId>,
    ok: StatusCode,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let rejected = call.and_then(|c| state.call(c)).is_some_and(|r| r.state == CallState::Rejected);
    let list = match (rejected, state.invoice_id()) {
        (true, Some(id)) => rejections(app, id.0).await?,
        _ => Vec::new(),
    };
    command_response(state, call, &list, ok)
}

async fn load_owned(app: &AppState, caller: &Caller, id: Uuid) -> Result<InvoiceState, ApiError> {
    let state = app.service.engine.load(InvoiceId(id)).await.map_err(|e| service_error(e.into()))?.state;
    match state.scope() {
        Some(scope) if caller.may_access(scope.tenant.as_str(), scope.store.as_str()) => Ok(state),
        // Another tenant's invoice is indistinguishable from a missing one.
        _ => Err(ApiError::not_found()),
    }
}

fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_id", e.to_string()))
}

/// Maps orchestration failures to API errors.
pub fn service_error(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Engine(EngineError::Rejected(r)) => rejection(&r),
        ServiceError::Engine(EngineError::Contention) => {
            ApiError::new(StatusCode::CONFLICT, "concurrent_modification", "the invoice changed concurrently; retry")
        }
        ServiceError::UnknownTerminal(t) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_terminal",
            format!("terminal {t:?} has no SEQR credentials"),
        ),
        other => ApiError::from_failure(&other),
    }
}

/// Domain rejections: 404 for a missing invoice, 409 for a state that does not allow the command, 422 for input
/// that can never be accepted.
pub fn rejection(r: &Rejection) -> ApiError {
    let status = match r.code() {
        "invoice_not_found" => StatusCode::NOT_FOUND,
        "already_issued"
        | "invoice_not_registered"
        | "invoice_closed"
        | "invoice_already_paid"
        | "invoice_not_reserved"
        | "invoice_not_paid"
        | "call_in_flight"
        | "call_already_settled"
        | "call_outcome_unknown"
        | "call_not_unknown"
        | "status_regression"
        | "reservation_not_expired"
        | "no_reservation_deadline" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, r.code(), r.to_string())
}

impl IntoResponse for InvoiceView {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
