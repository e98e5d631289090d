//! The Shared Signals transmitter's URLs (OpenID SSF 1.0 §7–8, RFC 8936):
//! the transmitter configuration, stream management, subjects,
//! verification and the poll endpoint. The receiver's access token goes in
//! the `Authorization` header only (the CAEP interoperability profile);
//! the token service decides everything else.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use gatehouse_proto::pb::token::v1::{SsfOperation, SsfRequest};
use gatehouse_proto::status::{Surface, http_status};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::credentials;
use crate::AppState;
use crate::error::GatewayError;

pub(crate) use gatehouse_oauth::ssf::{ADD_SUBJECT, REMOVE_SUBJECT, STATUS, STREAMS, VERIFY};

/// `GET /.well-known/ssf-configuration` (SSF §7.1).
pub(crate) async fn configuration(State(state): State<AppState>) -> Json<Value> {
    Json(gatehouse_oauth::ssf::configuration(&state.config.issuer))
}

/// The query's `stream_id`, if any (other parameters are ignored).
fn stream_id(query: Option<&str>) -> String {
    let query = query.unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "stream_id")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// `/ssf/streams`: POST creates, GET reads, PATCH updates, PUT replaces, DELETE deletes.
pub(crate) async fn streams(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let operation = match method {
        Method::POST => SsfOperation::CreateStream,
        Method::GET => SsfOperation::ReadStreams,
        Method::PATCH => SsfOperation::UpdateStream,
        Method::PUT => SsfOperation::ReplaceStream,
        _ => SsfOperation::DeleteStream,
    };
    let id = stream_id(query.as_deref());
    call(&state, &headers, query.as_deref(), &method, STREAMS, operation, id, body).await
}

/// `/ssf/status`: GET reads, POST changes.
pub(crate) async fn status(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let operation = if method == Method::GET { SsfOperation::ReadStatus } else { SsfOperation::UpdateStatus };
    let id = stream_id(query.as_deref());
    call(&state, &headers, query.as_deref(), &method, STATUS, operation, id, body).await
}

/// A POST-only endpoint of `operation` at `path`: the subjects and verification endpoints.
pub(crate) fn post_only(path: &'static str, operation: SsfOperation) -> axum::routing::MethodRouter<AppState> {
    axum::routing::post(
        move |State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes| async move {
            call(&state, &headers, query.as_deref(), &Method::POST, path, operation, String::new(), body).await
        },
    )
}

/// `POST /ssf/poll/{stream_id}` (RFC 8936 §2.4).
pub(crate) async fn poll(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let path = format!("{}{id}", gatehouse_oauth::ssf::POLL_PREFIX);
    call(&state, &headers, query.as_deref(), &Method::POST, &path, SsfOperation::Poll, id, body).await
}

#[allow(clippy::too_many_arguments)] // one request's parts, each from the route
async fn call(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    method: &Method,
    path: &str,
    operation: SsfOperation,
    stream_id: String,
    body: Bytes,
) -> Response {
    let poll = operation == SsfOperation::Poll;
    // The header only: a token in the query is refused.
    let token = match credentials::bearer(headers, query) {
        Ok(Some(token)) => token,
        Ok(None) => return error(&GatewayError::unauthenticated("an access token is required"), false, poll),
        Err(refused) => return error(&refused, true, poll),
    };
    let dpop = match credentials::resource_proof(state, headers, method, path) {
        Ok(dpop) => dpop,
        Err(refused) => return error(&refused, true, poll),
    };
    let request = SsfRequest { access_token: token, dpop, operation: operation.into(), stream_id, body: body.to_vec() };
    match state.clients.token().ssf(request).await {
        Ok(answer) => {
            let status = match (answer.created, answer.body.is_empty()) {
                (true, _) => StatusCode::CREATED,
                (false, true) => StatusCode::NO_CONTENT,
                (false, false) => StatusCode::OK,
            };
            let mut response = if answer.body.is_empty() {
                status.into_response()
            } else {
                (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], answer.body)
                    .into_response()
            };
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(status) => error(&GatewayError::from(status), true, poll),
    }
}

/// An error in the resource's class (RFC 6750 §3: 401 `invalid_token`, 403
/// `insufficient_scope` with their challenges; 404, 409, 429 as SSF §8
/// says), as OAuth JSON; the poll endpoint's request errors in RFC 8935's
/// `{err, description}` (RFC 8936 §2.4.4).
fn error(error: &GatewayError, token_sent: bool, poll: bool) -> Response {
    let oauth = error.oauth.as_ref().map(|o| o.code);
    if poll && http_status(Surface::Resource, error.code, oauth) == 400 {
        let body = json!({ "err": "invalid_request", "description": error.message });
        let mut response = (StatusCode::BAD_REQUEST, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    super::oidc::resource_error_for(error, token_sent, "ssf.manage")
}
