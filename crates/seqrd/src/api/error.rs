//! The API's error shape: `{"error": {"code": "...", "message": "..."}}` with a stable code and an HTTP status.
//! Internal failures are logged with their cause chain and answered with a generic message, never a stack trace.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// An error answered to an API caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// Logs the cause and answers 500 without revealing it.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error; it has been logged")
    }

    /// The JSON body, also stored for idempotent replays.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&Body { error: Inner { code: self.code, message: &self.message } }).unwrap_or_default()
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

impl ApiError {
    /// 503 `database_unavailable` when `error` (or its cause) says Postgres cannot be reached, else an internal
    /// error: a client can tell "retry later" from a bug.
    pub fn from_failure(error: &(dyn std::error::Error + 'static)) -> ApiError {
        if database_unreachable(error) {
            tracing::warn!(error = %error, "database unavailable");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database cannot be reached; retry later",
            );
        }
        ApiError::internal(crate::telemetry::error_chain(error))
    }
}

/// Whether an error, or any of its causes, is Postgres being unreachable (refused, reset, pool timeout, shutting
/// down) rather than a fault in the request or the code.
fn database_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(e) = e.downcast_ref::<sqlx::Error>() {
            return match e {
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
                // admin_shutdown, crash_shutdown, cannot_connect_now, and the connection exceptions (class 08).
                sqlx::Error::Database(d) => {
                    d.code().is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03") || c.starts_with("08"))
                }
                _ => false,
            };
        }
        next = e.source();
    }
    false
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::from_failure(&e)
    }
}
