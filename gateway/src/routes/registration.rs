//! Dynamic client registration: `POST /oauth/register` (RFC 7591) and the
//! client configuration endpoint `GET|PUT|DELETE /oauth/register/{client_id}`
//! (RFC 7592). Translation only: `gatehouse-oauth`'s `registration` reads
//! the JSON document (a member of the wrong JSON type is
//! `invalid_client_metadata` before any RPC; RFC 7592's replacement rule),
//! the registry applies every rule of what is acceptable, and its answer
//! becomes RFC 7591 §3.2.1 JSON with no `null` member and nothing unset.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::registration::{self, ClientMetadata};
use gatehouse_proto::pb::registry::v1 as pb;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

use super::credentials;
use crate::AppState;
use crate::error::GatewayError;
use crate::render::oauth_json;
use crate::session;

/// RFC 7591 §3.2.2 / RFC 6750 §3 error JSON, its status from the one table
/// (a protected resource's: the token presented is the registration's
/// credential); a 401 carries the Bearer challenge.
fn error(error: &GatewayError) -> Response {
    let code = gatehouse_proto::status::oauth_code(error.code, error.oauth.as_ref().map(|o| o.code));
    let response = oauth_json::no_store(
        error.http_status(),
        json!({ "error": code.as_str(), "error_description": error.message }),
    );
    // Only a 401 is about the token; a 403 (registration off) is not.
    let response = if response.status() == StatusCode::UNAUTHORIZED {
        crate::render::bearer::challenge(response, error, true, "")
    } else {
        response
    };
    crate::render::with_retry_after(response, error)
}

/// The request's document and its metadata, read by `gatehouse-oauth`'s rules.
fn document(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    Ok(registration::registration_document(content_type, body)?)
}

fn metadata(map: &Map<String, Value>) -> Result<pb::ClientMetadata, GatewayError> {
    Ok(ClientMetadata::from_document(map)?.into())
}

/// RFC 7591 §3.2.1's answer: the client's credentials and every registered member.
fn registration_json(state: &AppState, response: pb::ClientRegistrationResponse) -> Value {
    let app = response.application.unwrap_or_default();
    let mut body = Map::new();
    let mut put = |name: &str, value: Value| {
        body.insert(name.to_owned(), value);
    };
    put("client_id", json!(app.client_id));
    put("client_id_issued_at", json!(app.created_at));
    if !response.client_secret.is_empty() {
        put("client_secret", json!(response.client_secret));
        // Secrets never expire by themselves (RFC 7591 §3.2.1: 0).
        put("client_secret_expires_at", json!(0));
    }
    if !response.registration_access_token.is_empty() {
        put("registration_access_token", json!(response.registration_access_token));
    }
    put("registration_client_uri", json!(format!("{}/oauth/register/{}", state.config.issuer, app.client_id)));
    put("client_name", json!(app.name));
    put("redirect_uris", json!(app.redirect_uris));
    put("token_endpoint_auth_method", json!(app.token_endpoint_auth_method));
    put("grant_types", json!(app.grant_types));
    let code = app.grant_types.iter().any(|g| g == "authorization_code");
    put("response_types", if code { json!(["code"]) } else { json!([]) });
    put("application_type", json!(app.application_type));
    put("scope", json!(app.scopes.join(" ")));
    put("id_token_signed_response_alg", json!(app.id_token_signed_response_alg));
    put("require_pushed_authorization_requests", json!(app.require_pushed_authorization_requests));
    put("dpop_bound_access_tokens", json!(app.dpop_bound_access_tokens));
    let optional = [("logo_uri", &app.logo_url), ("jwks_uri", &app.jwks_uri)];
    for (name, value) in optional {
        if !value.is_empty() {
            put(name, json!(value));
        }
    }
    if let Ok(jwks @ Value::Object(_)) = serde_json::from_str::<Value>(&app.jwks) {
        put("jwks", jwks);
    }
    if !app.post_logout_redirect_uris.is_empty() {
        put("post_logout_redirect_uris", json!(app.post_logout_redirect_uris));
    }
    if let Some(extras) = app.extras {
        for (name, value) in [
            ("client_uri", extras.client_uri),
            ("tos_uri", extras.tos_uri),
            ("policy_uri", extras.policy_uri),
            ("software_id", extras.software_id),
            ("software_version", extras.software_version),
        ] {
            if !value.is_empty() {
                put(name, json!(value));
            }
        }
        if !extras.contacts.is_empty() {
            put("contacts", json!(extras.contacts));
        }
    }
    Value::Object(body)
}

/// The bearer token of the request's `Authorization` header, if any.
fn bearer(headers: &HeaderMap) -> Result<String, GatewayError> {
    Ok(credentials::bearer(headers, None)?.unwrap_or_default())
}

pub(crate) async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = document(&headers, &body).and_then(|map| Ok((metadata(&map)?, bearer(&headers)?)));
    let (metadata, initial_access_token) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return error(&e),
    };
    let address = session::client_address(&state, &headers, peer);
    match state.clients.registry().register_client(metadata, &initial_access_token, &address).await {
        Ok(registered) => oauth_json::no_store(StatusCode::CREATED, registration_json(&state, registered)),
        Err(status) => error(&GatewayError::from(status)),
    }
}

/// The registration access token (RFC 7592 §2) of a management request.
fn registration_access_token(headers: &HeaderMap) -> Result<String, GatewayError> {
    Ok(registration::registration_access_token(credentials::bearer(headers, None)?)?)
}

pub(crate) async fn read(State(state): State<AppState>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    let token = match registration_access_token(&headers) {
        Ok(token) => token,
        Err(e) => return error(&e),
    };
    match state.clients.registry().client_registration(&client_id, &token).await {
        Ok(registered) => oauth_json::no_store(StatusCode::OK, registration_json(&state, registered)),
        Err(status) => error(&GatewayError::from(status)),
    }
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = registration_access_token(&headers).and_then(|token| {
        let map = document(&headers, &body)?;
        registration::check_replacement(&client_id, &map)?;
        Ok((token, metadata(&map)?))
    });
    let (token, metadata) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return error(&e),
    };
    match state.clients.registry().update_client_registration(&client_id, &token, metadata).await {
        Ok(registered) => oauth_json::no_store(StatusCode::OK, registration_json(&state, registered)),
        Err(status) => error(&GatewayError::from(status)),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = match registration_access_token(&headers) {
        Ok(token) => token,
        Err(e) => return error(&e),
    };
    match state.clients.registry().delete_client_registration(&client_id, &token).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(status) => error(&GatewayError::from(status)),
    }
}
