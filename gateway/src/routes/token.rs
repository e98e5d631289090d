//! The standard token endpoints: `POST /oauth/token` (RFC 6749 §5),
//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662).

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use gatehouse_oauth::Params;
use gatehouse_proto::pb::common::v1::Parameter;
use gatehouse_proto::pb::token::v1::{ClientCredentials, ExchangeResponse};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::credentials;
use crate::AppState;
use crate::error::GatewayError;
use crate::render::oauth_json::{self, OAuthJsonError, OAuthJsonResult};
use crate::session;

/// A token request as the token service takes it, shared with the seed's
/// URL: the client's credentials, every other parameter as sent (the token
/// service reads the grant), and whether the credentials came in Basic.
pub(crate) struct Exchange {
    pub(crate) client: ClientCredentials,
    pub(crate) parameters: Vec<Parameter>,
    pub(crate) used_basic: bool,
}

pub(crate) fn exchange_request(
    headers: &HeaderMap,
    params: &Params,
    client_address: String,
) -> Result<Exchange, GatewayError> {
    let (client, used_basic) = credentials::client(headers, params, client_address)?;
    Ok(Exchange { client, parameters: credentials::forwarded(params), used_basic })
}

pub(crate) fn token_json(response: &ExchangeResponse, expires_in: Value) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("access_token".to_owned(), json!(response.access_token));
    body.insert("token_type".to_owned(), json!(response.token_type));
    body.insert("expires_in".to_owned(), expires_in);
    body.insert("scope".to_owned(), json!(response.scope));
    if !response.refresh_token.is_empty() {
        body.insert("refresh_token".to_owned(), json!(response.refresh_token));
    }
    if !response.id_token.is_empty() {
        body.insert("id_token".to_owned(), json!(response.id_token));
    }
    if !response.issued_token_type.is_empty() {
        body.insert("issued_token_type".to_owned(), json!(response.issued_token_type));
    }
    Value::Object(body)
}

pub(crate) async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> OAuthJsonResult {
    let address = session::client_address(&state, &headers, peer);
    let params = credentials::endpoint_form(&headers, query.as_deref(), &body)?;
    let Exchange { client, parameters, used_basic } = exchange_request(&headers, &params, address)?;
    let dpop = credentials::token_request_proof(&state, &headers, &http::Method::POST, "/oauth/token")?;
    let result = state.clients.token().exchange(client, parameters, dpop).await;
    // RFC 9449 §8: the nonce the client's next proof carries, on success and refusal alike.
    let nonce = match &result {
        Ok(response) => Some(response.dpop_nonce.clone()),
        Err(status) => status
            .metadata()
            .get(gatehouse_proto::status::DPOP_NONCE_METADATA)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    }
    .filter(|nonce| !nonce.is_empty())
    .and_then(|nonce| http::HeaderValue::from_str(&nonce).ok());
    let mut answer = match result {
        Ok(response) => oauth_json::no_store(StatusCode::OK, token_json(&response, json!(response.expires_in))),
        Err(status) => axum::response::IntoResponse::into_response(OAuthJsonError::after_basic(used_basic)(status)),
    };
    if let Some(nonce) = nonce {
        answer.headers_mut().insert("dpop-nonce", nonce);
    }
    Ok(answer)
}

/// What the revocation and introspection endpoints read: a token, its
/// hint, and the client's credentials.
struct TokenParams {
    token: String,
    hint: String,
    client: ClientCredentials,
}

fn token_request(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &Bytes,
    client_address: String,
) -> Result<(TokenParams, bool), GatewayError> {
    let credentials::ClientForm { params, client, used_basic } =
        credentials::client_form(headers, query, body, client_address)?;
    // RFC 6749 §3.2 holds for every endpoint of the server.
    params.refuse_repeated()?;
    let token = params.required("token")?.to_owned();
    let hint = params.single("token_type_hint")?.unwrap_or_default().to_owned();
    Ok((TokenParams { token, hint, client }, used_basic))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> OAuthJsonResult {
    let address = session::client_address(&state, &headers, peer);
    let (token, used_basic) = token_request(&headers, query.as_deref(), &body, address)?;
    let revoked = state.clients.token().revoke(token.client, &token.token, &token.hint).await;
    revoked.map_err(OAuthJsonError::after_basic(used_basic))?;
    // RFC 7009 §2.2: 200 and an empty body.
    Ok(oauth_json::no_store_empty())
}

pub(crate) async fn introspect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> OAuthJsonResult {
    let address = session::client_address(&state, &headers, peer);
    let (token, used_basic) = token_request(&headers, query.as_deref(), &body, address)?;
    let r = state
        .clients
        .token()
        .introspect(token.client, &token.token, &token.hint)
        .await
        .map_err(OAuthJsonError::after_basic(used_basic))?;
    let body = if r.active {
        // RFC 7662 §2.2: token_type is the RFC 6749 §7.1 type (`Bearer`);
        // which kind of token it is goes in `token_use`, as Hydra names it.
        let mut body = json!({
            "active": true,
            "scope": r.scopes.join(" "),
            "client_id": r.client_id,
            "token_use": r.token_type,
            "exp": r.expires_at,
            "iat": r.issued_at,
            "iss": state.config.issuer,
        });
        // RFC 9449 §6.2: a DPoP-bound token's key and type.
        if let Some(map) = body.as_object_mut() {
            if !r.jkt.is_empty() {
                map.insert("cnf".to_owned(), json!({ "jkt": r.jkt }));
            }
            // RFC 8693 §4.1: who acts for the subject, nested along the chain.
            if let Some(act) = gatehouse_oauth::grant::act_claim(&r.actors) {
                map.insert("act".to_owned(), act);
            }
            // RFC 9470 §6.2: when and how strongly the user signed in.
            if !r.acr.is_empty() {
                map.insert("acr".to_owned(), json!(r.acr));
                map.insert("amr".to_owned(), json!(r.amr));
                map.insert("auth_time".to_owned(), json!(r.auth_time));
            }
            if matches!(r.token_type.as_str(), "access_token" | "personal_access_token") {
                let kind = if r.jkt.is_empty() { "Bearer" } else { "DPoP" };
                map.insert("token_type".to_owned(), json!(kind));
            }
        }
        if !r.user_id.is_empty()
            && let Some(map) = body.as_object_mut()
        {
            map.insert("sub".to_owned(), json!(r.user_id));
            map.insert("username".to_owned(), json!(r.username));
        }
        // RFC 7662 §2.2 `aud`: the resource servers it is for (RFC 8707).
        if !r.audience.is_empty()
            && let Some(map) = body.as_object_mut()
        {
            map.insert("aud".to_owned(), json!(r.audience));
        }
        body
    } else {
        json!({ "active": false })
    };
    Ok(oauth_json::no_store(StatusCode::OK, body))
}
