//! Load shedding at the edge: at most `max_concurrent_requests` requests are
//! served at once; past that a request is answered 503 with `Retry-After`
//! at once, in its surface's format, instead of queueing without bound
//! (memory and latency grew with the queue). Liveness and readiness are
//! never shed, so probes keep telling the truth under a burst.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_proto::ErrorCode;
use std::time::Duration;
use tokio::sync::Semaphore;

use crate::error::GatewayError;
use crate::render;

/// Permits shared by every connection of the gateway.
#[derive(Debug, Clone)]
pub(crate) struct Permits(Arc<Semaphore>);

impl Permits {
    pub(crate) fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max.max(1))))
    }
}

/// The answer to a request that arrived over the bound, in its surface's format.
fn overloaded(path: &str) -> Response {
    let mut error = GatewayError::new(ErrorCode::Unavailable, "the server is busy, try again shortly");
    error.retry_after = Some(Duration::from_secs(1));
    render::error_for_path(path, crate::i18n::Lang::En, &error)
}

pub(crate) async fn shed(permits: Permits, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let Ok(_permit) = permits.0.clone().try_acquire_owned() else {
        gatehouse_runtime::metrics::metrics().shed.inc();
        return overloaded(path);
    };
    next.run(request).await
}
