//! `Authorization: Bearer <key>`: the caller of a request (see [`engine::Caller`] for what a key may see).

use axum::{extract::FromRequestParts, http::request::Parts};
use engine::Caller;

use crate::{error::ApiError, AppState};

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
        state.engine.authenticate(key).await?.map(Auth).ok_or_else(ApiError::unauthorized)
    }
}
