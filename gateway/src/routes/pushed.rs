//! The pushed authorization request endpoint (RFC 9126): `POST /oauth/par`.
//! The client authenticates as at the token endpoint and posts the
//! parameters of an authorization request; the authorization service
//! validates and keeps them, and the answer is the `request_uri` the
//! browser then carries to `/oauth/authorize` with the `client_id`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::credentials;
use crate::AppState;
use crate::render::oauth_json::{self, OAuthJsonError, OAuthJsonResult};
use crate::session;

pub(crate) async fn push(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> OAuthJsonResult {
    let address = session::client_address(&state, &headers, peer);
    let credentials::ClientForm { params, client, used_basic } =
        credentials::client_form(&headers, query.as_deref(), &body, address)?;
    let dpop = credentials::token_request_proof(&state, &headers, &http::Method::POST, "/oauth/par")?;
    let pushed = state
        .clients
        .authorization()
        .push_authorization_request(client, credentials::forwarded(&params), dpop)
        .await
        .map_err(OAuthJsonError::after_basic(used_basic))?;
    // §2.2: 201 Created, never cached.
    Ok(oauth_json::no_store(
        StatusCode::CREATED,
        json!({ "request_uri": pushed.request_uri, "expires_in": pushed.expires_in }),
    ))
}
