//! Liveness and readiness of the gateway process.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::AppState;

/// Liveness: the process answers. It never depends on another service, so
/// that an outage elsewhere does not make Kubernetes restart the gateway.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: every service the gateway calls reports SERVING.
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let registry = state
        .clients
        .registry_health()
        .check(HealthCheckRequest { service: String::new() })
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32);
    let status = if registry { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "status": if registry { "ok" } else { "unavailable" }, "registry": registry })))
}

pub(crate) async fn not_found() -> (StatusCode, Json<Value>) {
    (StatusCode::NOT_FOUND, Json(json!({ "code": 1, "msg": "not found" })))
}
