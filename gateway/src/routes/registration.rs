//! Dynamic client registration: `POST /oauth/register` (RFC 7591) and the
//! client configuration endpoint `GET|PUT|DELETE /oauth/register/{client_id}`
//! (RFC 7592). Translation only: the JSON document becomes the typed
//! `ClientMetadata` message (a member of the wrong JSON type is
//! `invalid_client_metadata` here, before any RPC), the registry applies
//! every rule, and its answer becomes RFC 7591 §3.2.1 JSON with no `null`
//! member and nothing unset.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::{OAuthError, OAuthErrorCode};
use gatehouse_proto::pb::registry::v1 as pb;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

use super::credentials;
use crate::AppState;
use crate::error::GatewayError;
use crate::render::oauth_json;
use crate::session;

fn metadata_error(description: String) -> GatewayError {
    GatewayError::from(OAuthError::new(OAuthErrorCode::InvalidClientMetadata, description))
}

/// RFC 7591 §3.2.2 / RFC 6750 §3 error JSON; 401s carry a Bearer challenge.
fn error(error: &GatewayError) -> Response {
    let code = gatehouse_proto::status::oauth_code(error.code, error.oauth.as_ref().map(|o| o.code));
    let status = error.http_status();
    let mut response =
        oauth_json::no_store(status, json!({ "error": code.as_str(), "error_description": error.message }));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="gatehouse", error="invalid_token""#));
    }
    crate::render::with_retry_after(response, error)
}

/// The JSON object of a registration request.
fn document(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    let json_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json_type {
        return Err(metadata_error("send the client metadata as application/json (RFC 7591 §3.1)".to_owned()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(metadata_error("the client metadata must be a JSON object".to_owned())),
        Err(_) => Err(metadata_error("the client metadata is not valid JSON".to_owned())),
    }
}

/// A string member; absent and `null` read as "not sent".
fn string(map: &Map<String, Value>, name: &str) -> Result<String, GatewayError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(metadata_error(format!("{name} must be a string"))),
    }
}

fn strings(map: &Map<String, Value>, name: &str) -> Result<Vec<String>, GatewayError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 100 => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| metadata_error(format!("{name} must hold strings")))
            })
            .collect(),
        Some(_) => Err(metadata_error(format!("{name} must be an array of at most 100 strings"))),
    }
}

/// The typed metadata of a request document; unknown members are ignored (RFC 7591 §2).
fn metadata(map: &Map<String, Value>) -> Result<pb::ClientMetadata, GatewayError> {
    let jwks = match map.get("jwks") {
        None | Some(Value::Null) => String::new(),
        Some(value @ Value::Object(_)) => value.to_string(),
        Some(_) => return Err(metadata_error("jwks must be a JWK Set object".to_owned())),
    };
    Ok(pb::ClientMetadata {
        redirect_uris: strings(map, "redirect_uris")?,
        token_endpoint_auth_method: string(map, "token_endpoint_auth_method")?,
        grant_types: strings(map, "grant_types")?,
        response_types: strings(map, "response_types")?,
        client_name: string(map, "client_name")?,
        logo_uri: string(map, "logo_uri")?,
        scope: string(map, "scope")?,
        jwks,
        jwks_uri: string(map, "jwks_uri")?,
        application_type: string(map, "application_type")?,
        post_logout_redirect_uris: strings(map, "post_logout_redirect_uris")?,
        extras: Some(pb::ClientMetadataExtras {
            client_uri: string(map, "client_uri")?,
            contacts: strings(map, "contacts")?,
            tos_uri: string(map, "tos_uri")?,
            policy_uri: string(map, "policy_uri")?,
            software_id: string(map, "software_id")?,
            software_version: string(map, "software_version")?,
        }),
    })
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
    let request = pb::RegisterClientRequest {
        metadata: Some(metadata),
        initial_access_token,
        client_address: session::client_address(&state, &headers, peer),
    };
    match state.clients.registry().register_client(request).await {
        Ok(response) => oauth_json::no_store(StatusCode::CREATED, registration_json(&state, response.into_inner())),
        Err(status) => error(&GatewayError::from(status)),
    }
}

fn management(client_id: String, headers: &HeaderMap) -> Result<pb::ClientRegistrationRequest, GatewayError> {
    let token = bearer(headers)?;
    if token.is_empty() {
        return Err(GatewayError::from(OAuthError::new(
            OAuthErrorCode::InvalidToken,
            "send the registration access token as a Bearer token (RFC 7592 §2)",
        )));
    }
    Ok(pb::ClientRegistrationRequest { client_id, registration_access_token: token, metadata: None })
}

pub(crate) async fn read(State(state): State<AppState>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    let request = match management(client_id, &headers) {
        Ok(request) => request,
        Err(e) => return error(&e),
    };
    match state.clients.registry().get_client_registration(request).await {
        Ok(response) => oauth_json::no_store(StatusCode::OK, registration_json(&state, response.into_inner())),
        Err(status) => error(&GatewayError::from(status)),
    }
}

/// Members a client must not send in an update (RFC 7592 §2.2).
const SERVER_MEMBERS: [&str; 4] =
    ["registration_access_token", "registration_client_uri", "client_id_issued_at", "client_secret_expires_at"];

pub(crate) async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = management(client_id.clone(), &headers).and_then(|mut request| {
        let map = document(&headers, &body)?;
        if map.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
            return Err(metadata_error("the update must carry this client's client_id (RFC 7592 §2.2)".to_owned()));
        }
        if let Some(member) = SERVER_MEMBERS.iter().find(|m| map.contains_key(**m)) {
            return Err(metadata_error(format!("{member} is the server's to set, not the client's (RFC 7592 §2.2)")));
        }
        request.metadata = Some(metadata(&map)?);
        Ok(request)
    });
    let request = match parsed {
        Ok(request) => request,
        Err(e) => return error(&e),
    };
    match state.clients.registry().update_client_registration(request).await {
        Ok(response) => oauth_json::no_store(StatusCode::OK, registration_json(&state, response.into_inner())),
        Err(status) => error(&GatewayError::from(status)),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request = match management(client_id, &headers) {
        Ok(request) => request,
        Err(e) => return error(&e),
    };
    match state.clients.registry().delete_client_registration(request).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(status) => error(&GatewayError::from(status)),
    }
}
