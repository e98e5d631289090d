//! `GET /api/scopes`: the scope catalogue, for developers writing a client.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_proto::pb::registry::v1::ListScopesRequest;
use serde_json::{Value, json};

use crate::AppState;

pub(crate) async fn list(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.clients.registry().list_scopes(ListScopesRequest {}).await {
        Ok(response) => {
            let scopes: Vec<Value> = response
                .into_inner()
                .scopes
                .into_iter()
                .map(|s| json!({ "name": s.name, "description": s.description, "description_zh": s.description_zh }))
                .collect();
            (StatusCode::OK, Json(json!({ "code": 0, "data": scopes })))
        }
        Err(status) => {
            tracing::warn!(code = ?status.code(), "registry unavailable for /api/scopes");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "code": 1, "msg": "temporarily unavailable" })))
        }
    }
}
