//! Request metrics: `seqrd_http_requests_total{route, method, status}` and
//! `seqrd_http_request_duration_seconds{route, method}`, recorded for every request the router answers. The route
//! is the matched template (`/v1/invoices/{id}`), `unmatched` for any other path, so the label set stays bounded
//! whatever clients send; so is the method (`other` beyond the standard ones).

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};

/// Requests answered, by route template, method and status code.
pub const HTTP_REQUESTS: &str = "seqrd_http_requests_total";
/// Time to answer, by route template and method.
pub const HTTP_REQUEST_DURATION: &str = "seqrd_http_request_duration_seconds";

pub(crate) async fn record(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = method_label(request.method());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
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
