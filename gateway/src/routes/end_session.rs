//! `GET|POST /oauth/logout` (`end_session_endpoint`, OpenID Connect
//! RP-Initiated Logout 1.0) and its confirmation. The hint is verified by
//! its issuer (the token service), the session ended by its owner (the
//! authorization service), which decides everything: whether to ask, where
//! the browser may go. The gateway carries the one answer to the other.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use gatehouse_oauth::Params;
use gatehouse_runtime::clients::authorization::{EndSession, EndSessionOutcome as Outcome};
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};

use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{Viewer, error_page, page, respond};
use crate::render::{pages, redirect};
use crate::session;

/// The parameters of a logout request, read once (each at most once).
const PARAMETERS: [&str; 4] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

pub(crate) async fn get(State(state): State<AppState>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let params = Params::from_form(query.unwrap_or_default().as_bytes());
    end_session(&state, &headers, &params, false).await
}

pub(crate) async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    end_session(&state, &headers, &Params::from_form(&body), false).await
}

/// The confirmation form's answer: the session's CSRF token, then the same request, confirmed.
pub(crate) async fn confirm(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    match session::current(&state, &headers).await {
        Ok(Some(current)) => {
            if let Err(error) = session::verify_csrf(&current.csrf_token, form.get("csrf_token")) {
                return error_page(lang, &error);
            }
        }
        Ok(None) => {}
        Err(error) => return error_page(lang, &error),
    }
    end_session(&state, &headers, &Params::from_form(&body), true).await
}

async fn end_session(state: &AppState, headers: &HeaderMap, params: &Params, confirmed: bool) -> Response {
    let lang = Lang::from_headers(headers);
    let mut values = Vec::new();
    for name in PARAMETERS {
        match params.single(name) {
            Ok(value) => values.push((name, value.unwrap_or_default().to_owned())),
            Err(error) => return error_page(lang, &GatewayError::from(error)),
        }
    }
    let value = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let (hinted_subject, hinted_client_id) = match value("id_token_hint") {
        hint if hint.is_empty() => (String::new(), String::new()),
        id_token_hint => match state.clients.token().verify_id_token_hint(&id_token_hint).await {
            Ok(verified) => verified,
            Err(status) => return error_page(lang, &GatewayError::from(status)),
        },
    };
    let session_token = session::cookie(headers, session::session_cookie(state)).unwrap_or_default();
    let request = EndSession {
        session_token,
        hinted_subject,
        hinted_client_id,
        client_id: value("client_id"),
        post_logout_redirect_uri: value("post_logout_redirect_uri"),
        state: value("state"),
        confirmed,
    };
    let outcome = match state.clients.authorization().end_session(request).await {
        Ok(outcome) => outcome,
        Err(status) => return error_page(lang, &GatewayError::from(status)),
    };
    match outcome {
        Outcome::RedirectUri(location) => clear_session(state, redirect(&location)),
        Outcome::SignedOut(_) => {
            let body = pages::signed_out(lang);
            clear_session(state, respond(StatusCode::OK, page(lang, &lang.msg("signed-out"), None, &body)))
        }
        Outcome::Confirm(confirm) => match session::current(state, headers).await {
            Ok(Some(current)) => {
                let name = confirm.application.as_ref().map(|a| a.name.as_str());
                let fields: Vec<(&str, &str)> =
                    values.iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| (*n, v.as_str())).collect();
                let body = pages::end_session_confirm(lang, &current.csrf_token, name, &fields);
                let title = lang.msg("sign-out");
                respond(StatusCode::OK, page(lang, &title, Some(Viewer { user: &current.user }), &body))
            }
            Ok(None) => redirect("/login"),
            Err(error) => error_page(lang, &error),
        },
    }
}

fn clear_session(state: &AppState, mut response: Response) -> Response {
    if let Ok(value) = session::set_cookie(state, session::session_cookie(state), "", 0).parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}
