//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::Json;
use axum::extract::State;
use gatehouse_oauth::{ClientAuthMethod, GrantType};
use gatehouse_proto::pb::registry::v1::ListScopesRequest;
use serde_json::{Value, json};

use crate::AppState;

pub(crate) async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.config.issuer;
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    let methods: Vec<&str> = ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    // Introspection needs an authenticated caller (RFC 7662 §2.1): not `none`.
    let secret_methods: Vec<&str> =
        ClientAuthMethod::ALL.iter().filter(|m| **m != ClientAuthMethod::None).map(|m| m.as_str()).collect();
    let mut body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": secret_methods,
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
