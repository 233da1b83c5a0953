//! `Authorization: Bearer <key>`: the caller of a request (see [`engine::Caller`] for what a key may see).

use axum::{extract::FromRequestParts, http::request::Parts};
use engine::Caller;

use crate::{error::ApiError, openapi, AppState};

/// The authenticated caller of a request.
pub(crate) struct Auth(pub(crate) Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Auth, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(ApiError::unauthorized)?;
        let key = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let caller = state.engine.authenticate(key).await?.ok_or_else(ApiError::unauthorized)?;
        // For the access log (the `observe` layer), which sees the request before and after the handler.
        if let Some(seen) = parts.extensions.get::<crate::observe::Seen>() {
            seen.caller(&caller.tenant_id, caller.key_id);
        }
        Ok(Auth(caller))
    }
}

impl aide::OperationInput for Auth {
    fn operation_input(ctx: &mut aide::generate::GenContext, operation: &mut aide::openapi::Operation) {
        operation.security.push([(crate::openapi::BEARER.to_owned(), Vec::new())].into_iter().collect());
        openapi::error(ctx, operation, 401, &[("unauthorized", "no `Authorization: Bearer <key>`, or an unknown key")]);
        openapi::error(
            ctx,
            operation,
            503,
            &[("database_unavailable", "the key could not be checked: Postgres cannot be reached")],
        );
    }
}
