//! The device authorization grant's HTTP side (RFC 8628): the device
//! authorization endpoint a device calls, and the verification pages
//! (`/login/device`) where a signed-in person enters the code and decides.
//! The authorization service owns device authorizations; this translates.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::response::Response;
use gatehouse_proto::pb::authorization::v1::StartDeviceAuthorizationResponse;
use gatehouse_proto::status::reason;
use gatehouse_runtime::clients::authorization::Caller;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::credentials;
use super::extract::{FormPost, PageUser};
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{Viewer, error_page, page, respond};
use crate::render::oauth_json::{self, OAuthJsonError, OAuthJsonResult};
use crate::render::pages;
use crate::session::{self, Session};

/// `POST /oauth/device_authorization` (RFC 8628 §3.1). The answer is JSON
/// (§3.2), or form-encoded when the client's `Accept` asks for that alone
/// (GitHub's endpoint answers in that form, and some CLIs expect it).
pub(crate) async fn device_authorization(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> OAuthJsonResult {
    let address = session::client_address(&state, &headers, peer);
    let credentials::ClientForm { params, client, used_basic } =
        credentials::client_form(&headers, query.as_deref(), &body, address)?;
    let started = state
        .clients
        .authorization()
        .start_device_authorization(
            &client.client_id,
            &client.client_secret,
            &client.client_address,
            credentials::forwarded(&params),
        )
        .await
        .map_err(OAuthJsonError::after_basic(used_basic))?;
    Ok(answer(&headers, &started))
}

fn answer(headers: &HeaderMap, started: &StartDeviceAuthorizationResponse) -> Response {
    let wants_form = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-www-form-urlencoded") && !v.contains("application/json"));
    if !wants_form {
        let body = json!({
            "device_code": started.device_code,
            "user_code": started.user_code,
            "verification_uri": started.verification_uri,
            "verification_uri_complete": started.verification_uri_complete,
            "expires_in": started.expires_in,
            "interval": started.interval,
        });
        return oauth_json::no_store(StatusCode::OK, body);
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("device_code", &started.device_code)
        .append_pair("user_code", &started.user_code)
        .append_pair("verification_uri", &started.verification_uri)
        .append_pair("verification_uri_complete", &started.verification_uri_complete)
        .append_pair("expires_in", &started.expires_in.to_string())
        .append_pair("interval", &started.interval.to_string())
        .finish();
    let mut response = Response::new(axum::body::Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[derive(Debug, Deserialize)]
pub(crate) struct EntryQuery {
    user_code: Option<String>,
}

fn show(lang: Lang, session: &Session, status: StatusCode, body: &str) -> Response {
    let title = lang.msg("connect-a-device");
    respond(status, page(lang, &title, Some(Viewer { user: &session.user }), body))
}

/// `GET /login/device`: the code entry form, filled in from
/// `verification_uri_complete`. Signing in comes first (and returns here).
pub(crate) async fn entry(PageUser { session, lang }: PageUser, Query(query): Query<EntryQuery>) -> Response {
    let code = query.user_code.unwrap_or_default();
    show(lang, &session, StatusCode::OK, &pages::device_entry(lang, &session.csrf_token, &code, None))
}

/// A refusal of a typed code: the form again, with why.
fn refused(lang: Lang, session: &Session, typed: &str, error: &GatewayError) -> Response {
    let message = if error.is_reason(reason::REQUEST_EXPIRED) {
        lang.msg("that-code-is-not-valid-or-has")
    } else if error.is_reason(reason::THROTTLED) {
        lang.msg("too-many-codes-tried-wait-a-while")
    } else {
        return error_page(lang, error);
    };
    let body = pages::device_entry(lang, &session.csrf_token, typed, Some(&message));
    crate::render::with_retry_after(show(lang, session, error.http_status(), &body), error)
}

/// `POST /login/device`: the confirmation page for the typed code.
pub(crate) async fn lookup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let typed = form.text("user_code");
    let address = session::client_address(&state, &headers, peer);
    let caller = Caller { session_token: &session.token, client_address: &address };
    match state.clients.authorization().lookup_user_code(caller, &typed).await {
        Ok(found) => {
            let body = pages::device_confirm(lang, &session.csrf_token, &session.user.username, &found);
            show(lang, &session, StatusCode::OK, &body)
        }
        Err(status) => refused(lang, &session, &typed, &GatewayError::from(status)),
    }
}

/// `POST /login/device/decision`: approve or deny.
pub(crate) async fn decide(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let typed = form.text("user_code");
    let approve = form.get("decision") == Some("approve");
    let address = session::client_address(&state, &headers, peer);
    let caller = Caller { session_token: &session.token, client_address: &address };
    match state.clients.authorization().decide_device(caller, &typed, approve).await {
        Ok(_) => show(lang, &session, StatusCode::OK, &pages::device_done(lang, approve)),
        Err(status) => refused(lang, &session, &typed, &GatewayError::from(status)),
    }
}
