//! `GET /api/scopes`: the scope catalogue, for developers writing a client.

use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::render::envelope::{Envelope, EnvelopeResult};

pub(crate) async fn list(State(state): State<AppState>) -> EnvelopeResult {
    let scopes: Vec<Value> = state
        .clients
        .registry()
        .scopes()
        .await?
        .into_iter()
        .map(|s| json!({ "name": s.name, "description": s.description, "description_zh": s.description_zh }))
        .collect();
    Ok(Envelope::ok(Value::Array(scopes)))
}
