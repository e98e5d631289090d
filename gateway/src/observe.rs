//! Around every HTTP request: the request id (the caller's `X-Request-Id`
//! when it is a plain token, else a new one), echoed in the response, put
//! on the `http` span of every log line and carried into each internal RPC;
//! and the request's count and latency by route template (never the raw
//! path: it may carry ids, and a caller could invent labels).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_runtime::metrics::{HttpLabels, HttpRoute, metrics};
use gatehouse_upstream::request_id::{self, RequestContext};
use tracing::Instrument;

pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    // Any token is a valid HTTP method: only the standard ones become labels.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let id = request_id::from_headers(request.headers());
    let span = tracing::info_span!(
        "http",
        request_id = id.to_str().unwrap_or_default(),
        method = %method,
        route = %route
    );
    let traceparent = gatehouse_runtime::telemetry::join_trace(&span, request.headers());
    let context = RequestContext { id: id.clone(), traceparent };
    let mut response = request_id::scope(context, next.run(request)).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| tracing::debug!(status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request finished"));
    response.headers_mut().insert(request_id::HEADER, id);
    let m = metrics();
    m.http_duration.get_or_create(&HttpRoute { route: route.clone() }).observe(elapsed.as_secs_f64());
    m.http_requests.get_or_create(&HttpLabels { route, method, status }).inc();
    response
}
