//! `GET /api/scopes`: the scope catalogue, for developers writing a client.

use axum::extract::State;
use axum::response::Response;
use gatehouse_proto::pb::registry::v1::ListScopesRequest;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::GatewayError;
use crate::render::envelope;

pub(crate) async fn list(State(state): State<AppState>) -> Response {
    match state.clients.registry().list_scopes(ListScopesRequest {}).await {
        Ok(response) => {
            let scopes: Vec<Value> = response
                .into_inner()
                .scopes
                .into_iter()
                .map(|s| json!({ "name": s.name, "description": s.description, "description_zh": s.description_zh }))
                .collect();
            envelope::ok(Value::Array(scopes))
        }
        Err(status) => envelope::error(&GatewayError::from(status)),
    }
}
