//! Liveness and readiness of the gateway process.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::AppState;
use crate::error::GatewayError;
use crate::render::envelope;

/// Liveness: the process answers. It never depends on another service, so
/// that an outage elsewhere does not make Kubernetes restart the gateway.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: every service the gateway calls reports SERVING.
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.config.draining.as_ref().is_some_and(gatehouse_runtime::Shutdown::is_requested) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "draining" })));
    }
    let mut services = Map::new();
    let mut all = true;
    for (name, mut client) in state.clients.health() {
        let serving = client
            .check(HealthCheckRequest { service: String::new() })
            .await
            .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32);
        all &= serving;
        services.insert(name.to_owned(), Value::Bool(serving));
    }
    let status = if all { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "status": if all { "ok" } else { "unavailable" }, "services": services })))
}

pub(crate) async fn not_found() -> Response {
    envelope::error(&GatewayError::not_found("not found"))
}
