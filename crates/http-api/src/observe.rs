//! What every request leaves behind, recorded by one router layer ([`observe`]):
//! - **metrics**: `seqrd_http_requests_total{route, method, status}` and
//!   `seqrd_http_request_duration_seconds{route, method}`. The route is the matched template
//!   (`/v1/invoices/{id}`), `unmatched` for any other path, so the label set stays bounded whatever clients send;
//!   so is the method (`other` beyond the standard ones);
//! - **a request id**: the caller's `X-Request-Id` when it is 1 to 128 visible ASCII characters, else a new UUID;
//!   returned in the answer's `X-Request-Id` and carried by every log line of the request (a `request` span);
//! - **one access-log line** (target `seqrd::access`): method, route, status, latency, the caller's tenant and
//!   key id once authenticated, the request id; never a secret, a header value or a body.

use std::sync::{Arc, OnceLock};

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use tracing::Instrument as _;

/// Requests answered, by route template, method and status code.
pub const HTTP_REQUESTS: &str = "seqrd_http_requests_total";
/// Time to answer, by route template and method.
pub const HTTP_REQUEST_DURATION: &str = "seqrd_http_request_duration_seconds";

/// The request id header, accepted and returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for whoever needs it inside the request (a command's correlation id).
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

impl RequestId {
    /// The events' correlation id of a command sent with this request id: the id itself when it is a UUID (as
    /// seqrd's own are), else the UUID v5 of its text in the OID namespace (so a caller can compute it).
    pub(crate) fn correlation_id(&self) -> uuid::Uuid {
        self.0.parse().unwrap_or_else(|_| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, self.0.as_bytes()))
    }
}

/// Who the request turned out to be from, filled in by the `Auth` extractor (the access log reads it).
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<OnceLock<(String, uuid::Uuid)>>);

impl Seen {
    /// Records the authenticated caller (tenant, key id).
    pub(crate) fn caller(&self, tenant: &str, key_id: uuid::Uuid) {
        let _ = self.0.set((tenant.to_owned(), key_id));
    }
}

pub(crate) async fn observe(mut request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = method_label(request.method());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let seen = Seen::default();
    request.extensions_mut().insert(seen.clone());
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let started = std::time::Instant::now();
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(request).instrument(span).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let (tenant, key_id) = seen.0.get().map_or(("-", String::from("-")), |(t, k)| (t.as_str(), k.to_string()));
    tracing::info!(
        target: "seqrd::access",
        method,
        route = %route,
        status,
        latency_ms = took.as_secs_f64() * 1000.0,
        tenant,
        key_id = %key_id,
        request_id = %request_id,
        "request"
    );
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "route" => route, "method" => method).record(took.as_secs_f64());
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
