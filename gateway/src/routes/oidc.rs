//! OpenID Connect's endpoints: the JWKS (`jwks_uri`) and UserInfo
//! (`userinfo_endpoint`, Core §5.3). Both translate to the token service,
//! which owns the keys and the claims rule.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use gatehouse_proto::pb::token::v1::UserInfoResponse;
use gatehouse_proto::status::{Surface, http_status, oauth_code};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::credentials;
use crate::AppState;
use crate::error::GatewayError;
use crate::render::bearer;

/// `GET /oauth/jwks`: public keys only, cacheable for as long as the token
/// service says a key is published ahead of its use.
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    match state.clients.token().jwks().await {
        Ok(response) => {
            let mut answer = (StatusCode::OK, response.jwks).into_response();
            let headers = answer.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={}", response.max_age)) {
                headers.insert(header::CACHE_CONTROL, value);
            }
            answer
        }
        Err(status) => resource_error(&GatewayError::from(status), false),
    }
}

/// `GET /oauth/userinfo` with `Authorization: Bearer`.
pub(crate) async fn userinfo_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match credentials::bearer(&headers, query.as_deref()) {
        Ok(token) => userinfo(&state, &headers, &http::Method::GET, token).await,
        Err(error) => resource_error(&error, true),
    }
}

/// `POST /oauth/userinfo`: the header, or the token as `access_token` in a
/// form body (RFC 6750 §2.2), one way only.
pub(crate) async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match credentials::bearer_with_form(&headers, query.as_deref(), &body) {
        Ok(token) => userinfo(&state, &headers, &http::Method::POST, token).await,
        Err(error) => resource_error(&error, true),
    }
}

async fn userinfo(state: &AppState, headers: &HeaderMap, method: &http::Method, token: Option<String>) -> Response {
    let Some(token) = token else {
        return resource_error(&GatewayError::unauthenticated("an access token is required"), false);
    };
    let dpop = match credentials::resource_proof(state, headers, method, "/oauth/userinfo") {
        Ok(dpop) => dpop,
        Err(error) => return resource_error(&error, true),
    };
    match state.clients.token().user_info(&token, dpop).await {
        Ok(claims) => {
            let mut answer = axum::Json(claims_json(claims)).into_response();
            answer.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            answer
        }
        Err(status) => resource_error(&GatewayError::from(status), true),
    }
}

fn claims_json(claims: UserInfoResponse) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("sub".to_owned(), json!(claims.sub));
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(name.to_owned(), value);
        }
    };
    put("name", claims.name.map(Value::from));
    put("preferred_username", claims.preferred_username.map(Value::from));
    put("picture", claims.picture.map(Value::from));
    put("updated_at", claims.updated_at.map(Value::from));
    put("email", claims.email.map(Value::from));
    put("email_verified", claims.email_verified.map(Value::from));
    Value::Object(body)
}

/// RFC 6750 §3: the status of the error's class, the OAuth error as JSON,
/// and the `WWW-Authenticate: Bearer` challenge.
fn resource_error(error: &GatewayError, token_sent: bool) -> Response {
    resource_error_for(error, token_sent, "openid")
}

/// [`resource_error`] for a resource whose challenge names `scope`.
pub(crate) fn resource_error_for(error: &GatewayError, token_sent: bool, scope: &str) -> Response {
    let oauth = error.oauth.as_ref().map(|o| o.code);
    let status = StatusCode::from_u16(http_status(Surface::Resource, error.code, oauth))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = oauth_code(error.code, oauth);
    let mut response =
        (status, axum::Json(json!({ "error": code.as_str(), "error_description": error.message }))).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let response = bearer::challenge(response, error, token_sent, scope);
    crate::render::with_retry_after(response, error)
}
