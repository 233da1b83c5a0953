//! The API's error shape: `{"error": {"code": "...", "message": "..."}}` with a stable code and an HTTP status.
//! Internal failures are logged with their cause chain and answered with a generic message, never a stack trace.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::dto::answers::InvoiceView;

/// An error answered to an API caller.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// The body of every error answer (`Error` in the OpenAPI document).
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "Error")]
pub(crate) struct ErrorBody<'a> {
    pub(crate) error: ErrorDetail<'a>,
    /// The invoice as it stands, with `seqr_rejected` (the call SEQR refused is in its `calls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) invoice: Option<&'a InvoiceView>,
}

/// What went wrong.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct ErrorDetail<'a> {
    /// A stable, machine-readable code; each answer's description lists the codes it can carry.
    pub(crate) code: &'a str,
    /// For people; never parse it.
    pub(crate) message: &'a str,
    /// SEQR's result code, with `seqr_rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::dto::schema::Int32>")]
    pub(crate) seqr_result_code: Option<i32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// Logs the cause and answers 500 without revealing it.
    pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error; it has been logged")
    }

    /// The JSON body, also stored for idempotent replays.
    pub(crate) fn body(&self) -> Vec<u8> {
        let detail = ErrorDetail { code: self.code, message: &self.message, seqr_result_code: None };
        serde_json::to_vec(&ErrorBody { error: detail, invoice: None }).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response =
            (self.status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<engine::EngineError> for ApiError {
    /// Every engine error by its class: the status never depends on the code's spelling.
    fn from(e: engine::EngineError) -> ApiError {
        use engine::ErrorClass;
        let status = match e.class() {
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            ErrorClass::Unavailable => {
                tracing::warn!(error = %engine::error_chain(&e), code = e.code(), "dependency unavailable");
                let message = match e.code() {
                    "database_unavailable" => "the database cannot be reached; retry later".to_owned(),
                    _ => e.to_string(),
                };
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), message);
            }
            ErrorClass::Internal => return ApiError::internal(engine::error_chain(&e)),
        };
        let message = match &e {
            engine::EngineError::NotFound => "no such resource".to_owned(),
            other => other.to_string(),
        };
        ApiError::new(status, e.code(), message)
    }
}
