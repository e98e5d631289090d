//! Request counts and latencies of every gateway route, by route template
//! (never the raw path: it may carry ids, and a caller could invent labels).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_runtime::metrics::{HttpLabels, HttpRoute, metrics};

pub(crate) async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let m = metrics();
    m.http_duration.get_or_create(&HttpRoute { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    m.http_requests.get_or_create(&HttpLabels { route, method, status: response.status().as_u16() }).inc();
    response
}
