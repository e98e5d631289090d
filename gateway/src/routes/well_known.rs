//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::Json;
use axum::extract::State;
use gatehouse_proto::pb::registry::v1::ListScopesRequest;
use serde_json::{Value, json};

use crate::AppState;

pub(crate) async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.config.issuer;
    let mut body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
    });
    // The catalogue is configuration of the registry; without it, the
    // optional field is left out rather than guessed.
    if let Ok(response) = state.clients.registry().list_scopes(ListScopesRequest {}).await
        && let Some(map) = body.as_object_mut()
    {
        let names: Vec<String> = response.into_inner().scopes.into_iter().map(|s| s.name).collect();
        map.insert("scopes_supported".to_owned(), json!(names));
    }
    Json(body)
}
