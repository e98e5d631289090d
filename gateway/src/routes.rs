//! The URL map of the gateway.

mod health;
mod scopes;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/api/scopes", get(scopes::list))
        .fallback(health::not_found)
        .layer(axum::middleware::from_fn(crate::headers::security_headers))
        .with_state(state)
}
