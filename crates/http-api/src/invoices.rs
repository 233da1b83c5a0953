//! `/v1/invoices`: issue, read, and the commands that call SEQR.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use domain::{CallId, CustomerToken, Invoice, InvoiceRow, Money, ReceiptDocument};
use engine::{Answer, Begun, Caller, Change, CommandContext, Fate, IssueInput, Outcome};
use serde::{de::DeserializeOwned, Deserialize};
use uuid::Uuid;

use crate::{
    auth::Auth,
    body::{from_value, parse, parse_json},
    error::ApiError,
    extract::{Body, Path},
    view::InvoiceView,
    AppState,
};

/// `POST /v1/invoices`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    /// The register (as registered in seqrd) the invoice is shown at.
    pub(crate) terminal_id: String,
    pub(crate) invoice: Invoice,
    /// Tokens sent along, e.g. a loyalty card swiped before the shopper scanned.
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TOKENS"))]
    pub(crate) tokens: Vec<CustomerToken>,
}

/// `POST /v1/invoices/{id}/loyalty`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoyaltyBody {
    #[schemars(length(max = "domain::text::max::ROWS"))]
    pub(crate) rows: Vec<InvoiceRow>,
    pub(crate) total: Money,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TOKENS"))]
    pub(crate) tokens: Vec<CustomerToken>,
}

/// `POST /v1/invoices/{id}/commit`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitBody {
    pub(crate) amount: Money,
}

/// `POST /v1/invoices/{id}/cancel`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelBody {}

/// `POST /v1/invoices/{id}/refunds`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundBody {
    pub(crate) amount: Money,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TITLE"))]
    pub(crate) title: Option<String>,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::ROWS"))]
    pub(crate) rows: Vec<InvoiceRow>,
}

/// `POST /v1/invoices/{id}/receipt`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiptBody {
    pub(crate) document: ReceiptDocument,
    /// A refund's ERS reference; the payment's when absent.
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::ID"))]
    pub(crate) ers_reference: Option<String>,
}

/// How an unknown call ended, as finance found it.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ResolveOutcome {
    /// SEQR did it.
    Succeeded,
    /// SEQR did not do it.
    NotDone,
}

/// `POST /v1/invoices/{id}/calls/{call_id}/resolve`: finance settles an unknown call (e.g. a refund) after
/// checking SEQR's reconciliation reports.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    /// `succeeded` or `not_done`.
    pub(crate) outcome: ResolveOutcome,
    #[serde(default)]
    pub(crate) ers_reference: Option<String>,
    #[schemars(length(max = "domain::text::max::NOTE"))]
    pub(crate) note: String,
}

pub(crate) async fn issue(
    State(app): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let path = "/v1/invoices";
    idempotent(
        &app,
        &caller,
        &headers,
        path,
        body,
        StatusCode::CREATED,
        async move |app: AppState, ctx: CommandContext<'_>, body: Bytes| {
            let mut value: serde_json::Value = parse_json(&body)?;
            // issue_date defaults to now.
            if let Some(invoice) = value.get_mut("invoice").and_then(|v| v.as_object_mut()) {
                invoice.entry("issue_date").or_insert_with(|| serde_json::json!(engine::now()));
            }
            let body: IssueBody = from_value(value)?;
            let input = IssueInput { terminal_id: body.terminal_id, invoice: body.invoice, tokens: body.tokens };
            Ok(app.engine.issue(&ctx, input).await?)
        },
    )
    .await
}

pub(crate) async fn get(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<InvoiceView>, ApiError> {
    let state = app.engine.invoice(&caller, id).await?;
    InvoiceView::of(&state).map(Json).ok_or_else(ApiError::not_found)
}

pub(crate) async fn events(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let events = app.engine.invoice_events(&caller, id).await?;
    let items: Vec<_> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "type": e.event_type,
                "schema_version": e.schema_version,
                "version": e.version,
                "position": e.position,
                "recorded_at": e.recorded_at,
                "correlation_id": e.correlation_id,
                "causation_id": e.causation_id,
                "actor": e.actor,
                "data": e.data,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "invoice_id": id, "events": items })))
}

pub(crate) async fn loyalty(
    app: State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    change(app, auth, id, headers, body, "loyalty", |b: LoyaltyBody| Change::Update {
        rows: b.rows,
        total: b.total,
        tokens: b.tokens,
    })
    .await
}

pub(crate) async fn commit(
    app: State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    change(app, auth, id, headers, body, "commit", |b: CommitBody| Change::Commit { amount: b.amount }).await
}

pub(crate) async fn cancel(
    app: State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let body = if body.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { body };
    change(app, auth, id, headers, body, "cancel", |_: CancelBody| Change::Cancel).await
}

pub(crate) async fn refund(
    app: State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    change(app, auth, id, headers, body, "refunds", |b: RefundBody| Change::Refund {
        amount: b.amount,
        title: b.title,
        rows: b.rows,
    })
    .await
}

pub(crate) async fn receipt(
    app: State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    change(app, auth, id, headers, body, "receipt", |b: ReceiptBody| Change::Receipt {
        ers_reference: b.ers_reference,
        document: b.document,
    })
    .await
}

pub(crate) async fn resolve_call(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path((id, call)): Path<(Uuid, Uuid)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let path = format!("/v1/invoices/{id}/calls/{call}/resolve");
    idempotent(
        &app,
        &caller,
        &headers,
        &path,
        body,
        StatusCode::OK,
        async move |app: AppState, ctx: CommandContext<'_>, body: Bytes| {
            let body: ResolveBody = parse(&body)?;
            let change = Change::Resolve {
                call_id: CallId(call),
                succeeded: matches!(body.outcome, ResolveOutcome::Succeeded),
                ers_reference: body.ers_reference,
                note: body.note,
            };
            Ok(app.engine.change(&ctx, id, change).await?)
        },
    )
    .await
}

/// A change of an existing invoice with a body `B`.
async fn change<B: DeserializeOwned + Send + 'static>(
    State(app): State<AppState>,
    Auth(caller): Auth,
    id: Uuid,
    headers: HeaderMap,
    body: Bytes,
    action: &'static str,
    make: impl FnOnce(B) -> Change + Send + 'static,
) -> Response {
    let path = format!("/v1/invoices/{id}/{action}");
    idempotent(
        &app,
        &caller,
        &headers,
        &path,
        body,
        StatusCode::OK,
        async move |app: AppState, ctx: CommandContext<'_>, body: Bytes| {
            let body: B = parse(&body)?;
            Ok(app.engine.change(&ctx, id, make(body)).await?)
        },
    )
    .await
}

/// Runs the command `f` under the Idempotency-Key rules (when the header is present) and answers its outcome: the
/// invoice view with `ok`, or the call's fate ([`command_response`]).
async fn idempotent<F>(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &str,
    body: Bytes,
    ok: StatusCode,
    f: F,
) -> Response
where
    F: AsyncFnOnce(AppState, CommandContext<'_>, Bytes) -> Result<Outcome, ApiError>,
{
    let key = match headers.get("idempotency-key").map(parse_key).transpose() {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let render = move |outcome: &Outcome| answer(command_response(outcome, ok));
    let Some(key) = key else {
        let ctx = CommandContext { caller, claim: None, render: &render };
        return reply(f(app.clone(), ctx, body).await.and_then(|o| command_response(&o, ok)));
    };
    let fingerprint = engine::fingerprint("POST", path, &body);
    let claim = match app.engine.begin_idempotent(caller, &key, &fingerprint).await {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(Begun::Replay(answer)) => return replay(answer, true),
        Ok(Begun::Run(claim)) => claim,
    };
    let ctx = CommandContext { caller, claim: Some(&claim), render: &render };
    let answer = answer(f(app.clone(), ctx, body).await.and_then(|o| command_response(&o, ok)));
    if let Err(e) = app.engine.finish_idempotent(&claim, &answer).await {
        return ApiError::from(e).into_response();
    }
    replay(answer, false)
}

/// Validates the `Idempotency-Key` header.
fn parse_key(value: &axum::http::HeaderValue) -> Result<String, ApiError> {
    let key = value
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be visible ASCII"))?;
    if key.is_empty() || key.len() > engine::MAX_KEY_LEN {
        return Err(ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters"));
    }
    Ok(key.to_owned())
}

fn answer(result: Result<(StatusCode, serde_json::Value), ApiError>) -> Answer {
    match result {
        Ok((status, value)) => Answer { status: status.as_u16(), body: serde_json::to_vec(&value).unwrap_or_default() },
        Err(e) => Answer { status: e.status.as_u16(), body: e.body() },
    }
}

fn replay(answer: Answer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(axum::http::header::CONTENT_TYPE, "application/json")], answer.body).into_response();
    if replayed {
        response.headers_mut().insert(
            axum::http::HeaderName::from_static("idempotent-replayed"),
            axum::http::HeaderValue::from_static("true"),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    }
    response
}

fn reply(result: Result<(StatusCode, serde_json::Value), ApiError>) -> Response {
    match result {
        Ok((status, value)) => (status, Json(value)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The answer to a command: the invoice view, with the performed call's fate in the status code:
/// done: `ok`; refused by SEQR: 422 `seqr_rejected` (with the invoice); outcome unknown: 202 (a worker resolves it).
fn command_response(outcome: &Outcome, ok: StatusCode) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let view = InvoiceView::of(&outcome.state).ok_or_else(ApiError::not_found)?;
    let view = serde_json::to_value(view).map_err(ApiError::internal)?;
    match outcome.fate() {
        Fate::RejectedBySeqr { operation, result_code, description } => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({
                "error": {
                    "code": "seqr_rejected",
                    "message": format!("SEQR refused {operation}: {result_code} {description}"),
                    "seqr_result_code": result_code,
                },
                "invoice": view,
            }),
        )),
        Fate::Pending => Ok((StatusCode::ACCEPTED, view)),
        Fate::Done => Ok((ok, view)),
    }
}

impl IntoResponse for InvoiceView {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
