//! `GET /v1/events`: the tenant's event feed, read from a cursor the caller keeps, with long-polling (see
//! `engine::Engine::events` and docs/event-feed.md).

use std::time::Duration;

use axum::extract::State;
use engine::{EventQuery, LogCursor};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{
    auth::Auth,
    dto::answers::{EventFeedPage, FeedEnvelope},
    error::ApiError,
    extract::Query,
    invoices::Read,
    AppState,
};

/// The query of a feed read.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Read after this cursor (the `next` of an earlier read); from the start of the feed when absent.
    #[schemars(regex(pattern = r"^[0-9]{1,18}-[0-9]{1,18}$"))]
    pub(crate) after: Option<String>,
    /// Only these event types, comma-separated (e.g. `status_observed,call_succeeded`).
    #[schemars(length(max = 1024))]
    pub(crate) types: Option<String>,
    /// Only this store's events.
    #[schemars(length(min = 1, max = 64))]
    pub(crate) store: Option<String>,
    /// At most this many events (default 100).
    #[schemars(with = "Option<crate::dto::schema::EventLimit>")]
    pub(crate) limit: Option<u32>,
    /// When no event is there yet, wait up to this many seconds for one (default 0: answer at once).
    #[schemars(with = "Option<crate::dto::schema::EventWait>")]
    pub(crate) wait: Option<u32>,
}

pub(crate) async fn feed(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Query(query): Query<EventsQuery>,
) -> Read<EventFeedPage> {
    let read = async {
        let after = match query.after.as_deref() {
            None => LogCursor::START,
            Some(text) => {
                text.parse().map_err(|e: engine::CursorError| ApiError::bad_request("invalid_query", e.to_string()))?
            }
        };
        // What the document publishes for each parameter, enforced.
        if query.types.as_deref().is_some_and(|t| t.chars().count() > 1024) {
            return Err(ApiError::bad_request("invalid_query", "types: at most 1024 characters"));
        }
        if query.store.as_deref().is_some_and(|s| !(1..=64).contains(&s.chars().count())) {
            return Err(ApiError::bad_request("invalid_query", "store: 1 to 64 characters"));
        }
        let limit = query.limit.unwrap_or(100);
        let wait = query.wait.unwrap_or(0);
        if !(1..=engine::MAX_EVENTS_PER_READ).contains(&limit) || wait > 30 {
            return Err(ApiError::bad_request("invalid_query", "limit must be 1 to 1000, wait 0 to 30 seconds"));
        }
        let types = query.types.map(|t| t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect());
        let query = EventQuery { after, types, store: query.store, limit, wait: Duration::from_secs(u64::from(wait)) };
        let page = app.engine.events(&caller, query).await?;
        Ok(EventFeedPage {
            events: page.events.into_iter().map(FeedEnvelope::of).collect(),
            next: page.next.to_string(),
        })
    };
    Read(read.await)
}
