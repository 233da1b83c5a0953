//! `/v1/invoices`: issue, read, and the commands that call SEQR.

use aide::{generate::GenContext, openapi::Operation, OperationOutput};
use axum::{
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use engine::{Answer, Begun, Caller, Change, CommandContext, Fate, IssueInput, Outcome};
use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Deserialize};
use uuid::Uuid;

use crate::{
    auth::Auth,
    body::{from_value_with, parse_json, parse_with},
    dto::{
        answers::{EventView, EventsView, InvoiceView},
        convert::{self, Invalid},
        requests::{CancelBody, CommitBody, IssueBody, LoyaltyBody, ReceiptBody, RefundBody, ResolveBody},
    },
    error::{ApiError, ErrorBody, ErrorDetail},
    extract::{Command, Path},
    openapi, AppState,
};

/// The path of an invoice.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct InvoicePath {
    /// The invoice id (from the answer that issued it).
    pub(crate) id: Uuid,
}

/// The path of one SEQR call of an invoice.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CallPath {
    /// The invoice id.
    pub(crate) id: Uuid,
    /// The call id (in the invoice's `calls`).
    pub(crate) call_id: Uuid,
}

/// Parses an issue's body into the engine's input: `invoice.issue_date` defaults to now.
pub(crate) fn parse_issue(body: &[u8]) -> Result<IssueInput, ApiError> {
    let mut value: serde_json::Value = parse_json(body)?;
    if let Some(invoice) = value.get_mut("invoice").and_then(|v| v.as_object_mut()) {
        invoice.entry("issue_date").or_insert_with(|| serde_json::json!(engine::now()));
    }
    from_value_with(value, <IssueInput as TryFrom<IssueBody>>::try_from)
}

/// Parses the body `B` of a change of an invoice into the engine's change.
pub(crate) fn parse_change<B>(body: &[u8]) -> Result<Change, ApiError>
where
    B: DeserializeOwned,
    Change: TryFrom<B, Error = Invalid>,
{
    parse_with(body, Change::try_from)
}

pub(crate) async fn issue(State(app): State<AppState>, Auth(caller): Auth, command: Command<IssueBody>) -> Issued {
    let path = "/v1/invoices";
    Issued(
        idempotent(
            &app,
            &caller,
            command,
            path,
            StatusCode::CREATED,
            async move |app: AppState, ctx: CommandContext<'_>, body: Bytes| {
                let input = parse_issue(&body)?;
                Ok(app.engine.issue(&ctx, input).await?)
            },
        )
        .await,
    )
}

pub(crate) async fn get(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<InvoicePath>,
) -> Read<InvoiceView> {
    let read = async {
        let state = app.engine.invoice(&caller, path.id).await?;
        InvoiceView::of(&state).ok_or_else(ApiError::not_found)
    };
    Read(read.await)
}

pub(crate) async fn events(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<InvoicePath>,
) -> Read<EventsView> {
    let read = async {
        let events = app.engine.invoice_events(&caller, path.id).await?;
        let events = events.into_iter().map(EventView::of).collect();
        Ok(EventsView { invoice_id: path.id, events })
    };
    Read(read.await)
}

pub(crate) async fn loyalty(
    app: State<AppState>,
    auth: Auth,
    Path(path): Path<InvoicePath>,
    command: Command<LoyaltyBody>,
) -> Changed {
    change(app, auth, path.id, command, "loyalty").await
}

pub(crate) async fn commit(
    app: State<AppState>,
    auth: Auth,
    Path(path): Path<InvoicePath>,
    command: Command<CommitBody>,
) -> Changed {
    change(app, auth, path.id, command, "commit").await
}

pub(crate) async fn cancel(
    app: State<AppState>,
    auth: Auth,
    Path(path): Path<InvoicePath>,
    mut command: Command<CancelBody>,
) -> Changed {
    if command.body.iter().all(u8::is_ascii_whitespace) {
        command.body = Bytes::from_static(b"{}");
    }
    change(app, auth, path.id, command, "cancel").await
}

pub(crate) async fn refund(
    app: State<AppState>,
    auth: Auth,
    Path(path): Path<InvoicePath>,
    command: Command<RefundBody>,
) -> Changed {
    change(app, auth, path.id, command, "refunds").await
}

pub(crate) async fn receipt(
    app: State<AppState>,
    auth: Auth,
    Path(path): Path<InvoicePath>,
    command: Command<ReceiptBody>,
) -> Changed {
    change(app, auth, path.id, command, "receipt").await
}

pub(crate) async fn resolve_call(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(CallPath { id, call_id: call }): Path<CallPath>,
    command: Command<ResolveBody>,
) -> Changed {
    let path = format!("/v1/invoices/{id}/calls/{call}/resolve");
    Changed(
        idempotent(
            &app,
            &caller,
            command,
            &path,
            StatusCode::OK,
            async move |app: AppState, ctx: CommandContext<'_>, body: Bytes| {
                let change = parse_with(&body, |b: ResolveBody| Ok::<_, Invalid>(convert::resolve(b, call)))?;
                Ok(app.engine.change(&ctx, id, change).await?)
            },
        )
        .await,
    )
}

/// A change of an existing invoice with a body `B`.
async fn change<B>(
    State(app): State<AppState>,
    Auth(caller): Auth,
    id: Uuid,
    command: Command<B>,
    action: &'static str,
) -> Changed
where
    B: DeserializeOwned + Send + 'static,
    Change: TryFrom<B, Error = Invalid>,
{
    let path = format!("/v1/invoices/{id}/{action}");
    Changed(
        idempotent(
            &app,
            &caller,
            command,
            &path,
            StatusCode::OK,
            async move |app: AppState, ctx: CommandContext<'_>, body: Bytes| {
                let change = parse_change::<B>(&body)?;
                Ok(app.engine.change(&ctx, id, change).await?)
            },
        )
        .await,
    )
}

/// A read's answer: the JSON of `T`, or an error (404, 503).
pub(crate) struct Read<T>(pub(crate) Result<T, ApiError>);

impl<T: serde::Serialize> IntoResponse for Read<T> {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(value) => Json(value).into_response(),
            Err(e) => e.into_response(),
        }
    }
}

impl<T: JsonSchema> OperationOutput for Read<T> {
    type Inner = T;

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, aide::openapi::Response)> {
        openapi::answer_json::<T>(ctx, operation, 200, "As of every event recorded so far");
        not_found(ctx, operation);
        database_unavailable(ctx, operation);
        Vec::new()
    }
}

/// The answer to `POST /v1/invoices` (see [`command_response`]).
pub(crate) struct Issued(Response);

/// The answer to a command on an invoice (see [`command_response`]).
pub(crate) struct Changed(Response);

impl IntoResponse for Issued {
    fn into_response(self) -> Response {
        self.0
    }
}

impl IntoResponse for Changed {
    fn into_response(self) -> Response {
        self.0
    }
}

impl OperationOutput for Issued {
    type Inner = InvoiceView;

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, aide::openapi::Response)> {
        openapi::answer_json::<InvoiceView>(ctx, operation, 201, "Issued: the invoice with its QR code and app links");
        command_answers(ctx, operation);
        let issue = [
            ("unknown_terminal", "the terminal is not one of this key's registers"),
            ("forbidden_notification_url", "seqrd does not send requests to the invoice's notification_url"),
        ];
        openapi::error(ctx, operation, 422, &issue);
        Vec::new()
    }
}

impl OperationOutput for Changed {
    type Inner = InvoiceView;

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, aide::openapi::Response)> {
        openapi::answer_json::<InvoiceView>(ctx, operation, 200, "Done: the invoice as it stands now");
        command_answers(ctx, operation);
        not_found(ctx, operation);
        Vec::new()
    }
}

/// What every command answers besides its success (see [`command_response`] and [`idempotent`]).
fn command_answers(ctx: &mut GenContext, operation: &mut Operation) {
    openapi::answer_json::<InvoiceView>(
        ctx,
        operation,
        202,
        "SEQR's answer was lost: a worker resolves the call's outcome; read the invoice (GET) to follow it",
    );
    openapi::error(
        ctx,
        operation,
        409,
        &[
            ("idempotency_key_in_use", "a request with this Idempotency-Key is still running"),
            ("concurrent_modification", "the invoice kept changing concurrently; retry"),
            (
                "invoice_closed, invoice_not_reserved, invoice_already_paid, call_in_flight, ...",
                "the invoice's state does not allow this now (a rule of the invoice; the message says which)",
            ),
        ],
    );
    openapi::error(
        ctx,
        operation,
        422,
        &[
            (
                "seqr_rejected",
                "SEQR refused the call: `error.seqr_result_code` is SEQR's result code and `invoice` the invoice \
                 as it stands",
            ),
            ("idempotency_key_reused", "this Idempotency-Key was used with another request"),
            (
                "row_does_not_add_up, rows_do_not_add_up, invalid_text, too_many_items, currency_mismatch, ...",
                "the command breaks a rule of the invoice (the message says which)",
            ),
        ],
    );
    openapi::error(
        ctx,
        operation,
        503,
        &[
            ("database_unavailable", "Postgres cannot be reached; nothing was recorded"),
            (
                "seqr_unavailable",
                "SEQR cannot be reached; nothing was sent or recorded: repeat the request with the same \
                 Idempotency-Key after Retry-After",
            ),
        ],
    );
}

fn not_found(ctx: &mut GenContext, operation: &mut Operation) {
    openapi::error(ctx, operation, 404, &[("not_found", "no such invoice (or call) for this key")]);
}

fn database_unavailable(ctx: &mut GenContext, operation: &mut Operation) {
    openapi::error(ctx, operation, 503, &[("database_unavailable", "Postgres cannot be reached")]);
}

/// Runs the command `f` under the Idempotency-Key rules (when the header is present) and answers its outcome: the
/// invoice view with `ok`, or the call's fate ([`command_response`]).
async fn idempotent<B, F>(
    app: &AppState,
    caller: &Caller,
    command: Command<B>,
    path: &str,
    ok: StatusCode,
    f: F,
) -> Response
where
    F: AsyncFnOnce(AppState, CommandContext<'_>, Bytes) -> Result<Outcome, ApiError>,
{
    let Command { key, body, correlation_id, .. } = command;
    let render = move |outcome: &Outcome| answer(command_response(outcome, ok));
    let Some(key) = key else {
        let ctx = CommandContext { caller, claim: None, render: &render, correlation_id };
        return reply(f(app.clone(), ctx, body).await.and_then(|o| command_response(&o, ok)));
    };
    let fingerprint = engine::fingerprint("POST", path, &body);
    let claim = match app.engine.begin_idempotent(caller, &key, &fingerprint).await {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(Begun::Replay(answer)) => return replay(answer, true),
        Ok(Begun::Run(claim)) => claim,
    };
    let ctx = CommandContext { caller, claim: Some(&claim), render: &render, correlation_id };
    let answer = answer(f(app.clone(), ctx, body).await.and_then(|o| command_response(&o, ok)));
    if let Err(e) = app.engine.finish_idempotent(&claim, &answer).await {
        return ApiError::from(e).into_response();
    }
    replay(answer, false)
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
    match outcome.fate() {
        Fate::RejectedBySeqr { operation, result_code, description } => {
            let message = format!("SEQR refused {operation}: {result_code} {description}");
            let error = ErrorDetail { code: "seqr_rejected", message: &message, seqr_result_code: Some(result_code) };
            let body = serde_json::to_value(ErrorBody { error, invoice: Some(&view) }).map_err(ApiError::internal)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, body))
        }
        Fate::Pending => Ok((StatusCode::ACCEPTED, serde_json::to_value(view).map_err(ApiError::internal)?)),
        Fate::Done => Ok((ok, serde_json::to_value(view).map_err(ApiError::internal)?)),
    }
}

impl IntoResponse for InvoiceView {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
