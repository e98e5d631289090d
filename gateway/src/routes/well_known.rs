//! The server's metadata: `GET /.well-known/oauth-authorization-server`
//! (RFC 8414) and `GET /.well-known/openid-configuration` (OpenID Connect
//! Discovery §3): one document, built by `gatehouse_oauth::metadata` from
//! the enums the server runs on; the gateway adds what the deployment says.

use axum::Json;
use axum::extract::State;
use gatehouse_oauth::metadata::ServerMetadata;
use serde_json::Value;

use crate::AppState;
use crate::i18n::Lang;

/// Both documents: RFC 8414's and OpenID Connect Discovery's are one.
pub(crate) async fn metadata(State(state): State<AppState>) -> Json<Value> {
    // The catalogue is configuration of the registry; without it, the
    // optional field is left out rather than guessed.
    let scopes = match state.clients.registry().scopes().await {
        Ok(scopes) => Some(scopes.into_iter().map(|s| s.name).collect()),
        Err(_) => None,
    };
    Json(
        ServerMetadata {
            issuer: &state.config.issuer,
            dynamic_registration: state.config.dynamic_registration,
            client_id_metadata_documents: state.config.client_id_metadata_documents,
            scopes,
            ui_locales: Lang::ALL.iter().map(|lang| lang.html_lang()).collect(),
        }
        .document(),
    )
}
