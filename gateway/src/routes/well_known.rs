//! The server's metadata: `GET /.well-known/oauth-authorization-server`
//! (RFC 8414) and `GET /.well-known/openid-configuration` (OpenID Connect
//! Discovery §3). One builder makes both, so that they agree field for
//! field and carry the same `issuer` byte for byte (RFC 8414 §3.3, RFC 9068 §4).

use axum::Json;
use axum::extract::State;
use gatehouse_oauth::client_auth::ASSERTION_SIGNING_ALGORITHMS;
use gatehouse_oauth::{ClientAuthMethod, GrantType};
use gatehouse_proto::pb::registry::v1::ListScopesRequest;
use serde_json::{Value, json};

use crate::AppState;

/// The claims UserInfo and ID tokens can carry (by scope: see the token service's `identity`).
const CLAIMS_SUPPORTED: [&str; 16] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "amr",
    "name",
    "preferred_username",
    "picture",
    "updated_at",
    "email",
    "email_verified",
];

/// Both documents: RFC 8414's and OpenID Connect Discovery's are one.
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
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["en", "zh-CN"],
        // Discovery §3: request_uri_parameter_supported defaults to true, so
        // its absence would claim support; all three are said explicitly.
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        // A claims request asks for the scopes that release its claims.
        "claims_parameter_supported": true,
        // private_key_jwt (RFC 7523): the algorithms a client assertion may use.
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGORITHMS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGORITHMS,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGORITHMS,
        "client_id_metadata_document_supported": state.config.client_id_metadata_documents,
    });
    if state.config.dynamic_registration
        && let Some(map) = body.as_object_mut()
    {
        map.insert("registration_endpoint".to_owned(), json!(format!("{issuer}/oauth/register")));
    }
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
