//! The seed platform's own URLs: `/api/oauth/access_token` and
//! `/api/current_user`, answering in its envelope.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use gatehouse_oauth::Params;

use super::credentials;
use super::form::FormData;
use super::token::{Exchange, exchange_request, token_json};
use crate::AppState;
use crate::error::GatewayError;
use crate::render::{bearer, envelope, oauth_json};

/// `{"code":1,"msg":"<oauth code>: <description>"}`, never cached.
fn envelope_error(error: &GatewayError) -> Response {
    let mut error = error.clone();
    if let Some(oauth) = &error.oauth {
        error.message = format!("{}: {}", oauth.code.as_str(), oauth.description);
    }
    let mut response = envelope::error(&error);
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// `GET|POST /api/oauth/access_token`: parameters in the query (as the seed
/// writes it) or a form body. Credentials arrive in the URL here, which is
/// why the gateway never logs query strings.
pub(crate) async fn access_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut pairs = FormData::parse(query.as_deref().unwrap_or_default().as_bytes()).0;
    if method == Method::POST {
        pairs.extend(FormData::from_body(&body).0);
    }
    let address = crate::session::client_address(&state, &headers, peer);
    let parsed = exchange_request(&headers, &Params::new(pairs), address);
    let Exchange { client, parameters, .. } = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return envelope_error(&error),
    };
    let dpop = match super::credentials::token_request_proof(&state, &headers, &method, "/api/oauth/access_token") {
        Ok(dpop) => dpop,
        Err(error) => return envelope_error(&error),
    };
    match state.clients.token().exchange(client, parameters, dpop).await {
        // The seed writes expires_in as a string of seconds.
        Ok(response) => {
            oauth_json::no_store(StatusCode::OK, token_json(&response, json!(response.expires_in.to_string())))
        }
        Err(status) => envelope_error(&GatewayError::from(status)),
    }
}

/// `GET /api/current_user`: the token's user; needs the `user` scope; the
/// email only with `user:email`.
pub(crate) async fn current_user(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let token = match credentials::bearer_of_seed_call(&headers, query.as_deref()) {
        Ok(token) => token,
        Err(error) => return bearer::challenge(envelope_error(&error), &error, true, "user"),
    };
    let sent = token.is_some();
    let fail = |error: GatewayError| bearer::challenge(envelope_error(&error), &error, sent, "user");
    let Some(token) = token else {
        return fail(GatewayError::unauthenticated("an access token is required"));
    };
    let address = crate::session::client_address(&state, &headers, peer);
    let dpop = match super::credentials::resource_proof(&state, &headers, &Method::GET, "/api/current_user") {
        Ok(dpop) => dpop,
        Err(error) => return fail(error),
    };
    let caller = match state.clients.token().authorize_api_call(&token, dpop, "user", false, &address).await {
        Ok(caller) => caller,
        Err(status) => return fail(GatewayError::from(status)),
    };
    // What the token's scopes let the application see is the registry's rule.
    let user = match state.clients.registry().user_visible_to(&caller.user_id, &caller.scopes).await {
        Ok(user) => user,
        Err(status) => return fail(GatewayError::from(status)),
    };
    let mut data = json!({
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "created_at": user.created_at,
    });
    if !user.email.is_empty()
        && let Some(map) = data.as_object_mut()
    {
        map.insert("email".to_owned(), Value::String(user.email));
    }
    let mut response = envelope::ok(data);
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}
