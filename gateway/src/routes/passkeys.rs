//! Passkeys on the pages: adding and removing them (*Account → Security*),
//! signing in with one alone, and using one for a sign-in's second step.
//!
//! Each ceremony is a form post that starts it in the registry and answers
//! a page carrying the browser's options; the page's one script (served
//! from `/assets/passkeys.js`, the only script Gatehouse's pages load) asks
//! the browser, puts its answer in the form and posts it to finish.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::Response;
use gatehouse_proto::ErrorCode;
use gatehouse_proto::status::reason;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::extract::{FormPost, RecentFormPost};
use super::login;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{Viewer, error_page, page, respond};
use crate::render::pages::{self, PasskeyCeremonyView};
use crate::render::with_retry_after;
use crate::session;

/// The policy of a page that runs the passkey script: the site's own, with
/// scripts from this origin (and nothing inline).
const CEREMONY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
                               frame-ancestors 'none'; base-uri 'none'";

fn with_script(mut response: Response) -> Response {
    response.headers_mut().insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CEREMONY_POLICY));
    response
}

/// Whether the pages offer passkeys: browsers allow WebAuthn only under a
/// domain name, so not when the issuer is an IP address.
pub(crate) fn offered(state: &AppState) -> bool {
    url::Url::parse(&state.config.issuer).ok().is_some_and(|url| url.domain().is_some())
}

/// The page of a sign-in ceremony (before a session: the sign-in's form
/// cookie pair), titled `title`, whose answer goes to `action` with `next`;
/// *Cancel* goes to `back`.
fn sign_in_ceremony(
    state: &AppState,
    (lang, headers): (Lang, &HeaderMap),
    title: &str,
    begun: &gatehouse_proto::pb::registry::v1::PasskeyCeremony,
    (action, next, back): (&str, &str, &str),
) -> Response {
    let page = login::form_page(state, lang, headers, StatusCode::OK, title, |csrf| {
        let view = PasskeyCeremonyView {
            csrf,
            title,
            kind: "get",
            action,
            options_json: &begun.options_json,
            ceremony: &begun.ceremony,
            next,
            name: "",
            back,
        };
        pages::passkey_ceremony(lang, view)
    });
    with_script(page)
}

/// *Sign in with a passkey*: starts a ceremony naming no account.
pub(crate) async fn sign_in_begin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, next, lang) = login::pre_session_form(&headers, &body);
    if let Err(error) = login::verify_form(&state, &headers, &form) {
        return login::login_response(&state, lang, &headers, error.http_status(), &next, "", Some(&error.message));
    }
    let address = session::client_address(&state, &headers, peer);
    match state.clients.registry().begin_passkey_sign_in(&address).await {
        Ok(begun) => {
            let back = format!("/login?next={}", pages::url_encode(&next));
            let title = lang.msg("sign-in-with-a-passkey");
            sign_in_ceremony(&state, (lang, &headers), &title, &begun, ("/login/passkey/finish", &next, &back))
        }
        Err(status) => refused_before_session(&state, lang, &headers, &next, status),
    }
}

/// The sign-in page again with why a passkey sign-in did not start or finish.
fn refused_before_session(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    next: &str,
    status: tonic::Status,
) -> Response {
    let error = GatewayError::from(status);
    let message = if error.is_reason(reason::INVALID_CREDENTIALS) || error.code == ErrorCode::InvalidArgument {
        lang.msg("that-passkey-was-not-accepted")
    } else if error.is_reason(reason::THROTTLED) {
        lang.msg("too-many-failed-sign-in-attempts-try")
    } else if error.code == ErrorCode::FailedPrecondition {
        error.message.clone()
    } else {
        return error_page(lang, &error);
    };
    let response = login::login_response(state, lang, headers, error.http_status(), next, "", Some(&message));
    with_retry_after(response, &error)
}

/// Finishes a passkey sign-in: the session, then where the user was going.
pub(crate) async fn sign_in_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, next, lang) = login::pre_session_form(&headers, &body);
    if let Err(error) = login::verify_form(&state, &headers, &form) {
        return login::login_response(&state, lang, &headers, error.http_status(), &next, "", Some(&error.message));
    }
    let address = session::client_address(&state, &headers, peer);
    let (ceremony, credential) = (form.text("ceremony"), form.text("credential"));
    let user_agent = login::user_agent(&headers);
    match state.clients.authorization().login_with_passkey(&ceremony, &credential, &address, &user_agent).await {
        Ok(response) => login::signed_in(&state, &response.session_token, response.expires_in, &next),
        Err(status) => refused_before_session(&state, lang, &headers, &next, status),
    }
}

/// *Use a passkey* on the second step: a ceremony whose answer goes to
/// `/login/verify` in place of a code.
pub(crate) async fn second_step_begin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, next, lang) = login::pre_session_form(&headers, &body);
    if let Err(error) = login::verify_form(&state, &headers, &form) {
        return login::second_step_response(&state, lang, &headers, error.http_status(), &next, Some(&error.message));
    }
    if session::cookie(&headers, session::second_step_cookie(&state)).is_none() {
        let message = lang.msg("the-sign-in-took-too-long");
        return login::login_response(&state, lang, &headers, StatusCode::UNAUTHORIZED, &next, "", Some(&message));
    }
    let address = session::client_address(&state, &headers, peer);
    match state.clients.registry().begin_passkey_sign_in(&address).await {
        Ok(begun) => {
            let back = format!("/login/verify?next={}", pages::url_encode(&next));
            let title = lang.msg("two-step-verification");
            sign_in_ceremony(&state, (lang, &headers), &title, &begun, ("/login/verify", &next, &back))
        }
        Err(status) => {
            let error = GatewayError::from(status);
            let page =
                login::second_step_response(&state, lang, &headers, error.http_status(), &next, Some(&error.message));
            with_retry_after(page, &error)
        }
    }
}

/// *Add a passkey*: starts the creation ceremony for the name typed.
pub(crate) async fn register_begin(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RecentFormPost(FormPost { session, lang, form }): RecentFormPost,
) -> Response {
    let address = session::client_address(&state, &headers, peer);
    let name = form.text("name");
    match state.clients.registry().begin_passkey_registration(&session.user.id, &name, &address).await {
        Ok(begun) => {
            let title = lang.msg("add-a-passkey");
            let body = pages::passkey_ceremony(
                lang,
                PasskeyCeremonyView {
                    csrf: &session.csrf_token,
                    title: &title,
                    kind: "create",
                    action: "/account/passkeys",
                    options_json: &begun.options_json,
                    ceremony: &begun.ceremony,
                    next: "",
                    name: &name,
                    back: "/account/security",
                },
            );
            with_script(respond(StatusCode::OK, page(lang, &title, Some(Viewer { user: &session.user }), &body)))
        }
        Err(status) => super::account::security_refused(&state, &session, lang, status).await,
    }
}

/// Finishes adding a passkey: the security page, with it listed.
pub(crate) async fn register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let address = session::client_address(&state, &headers, peer);
    let (ceremony, credential) = (form.text("ceremony"), form.text("credential"));
    match state.clients.registry().finish_passkey_registration(&session.user.id, &ceremony, &credential, &address).await
    {
        Ok(_) => {
            let view = pages::SecurityView { notice: Some(lang.msg("the-passkey-was-added")), ..Default::default() };
            super::account::security_view(&state, &session, lang, StatusCode::OK, view).await
        }
        Err(status) => super::account::security_refused(&state, &session, lang, status).await,
    }
}

/// Removes one of the account's passkeys.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    FormPost { session, lang, form: _ }: FormPost,
) -> Response {
    let address = session::client_address(&state, &headers, peer);
    match state.clients.registry().delete_passkey(&session.user.id, &id, &address).await {
        Ok(()) => {
            let view = pages::SecurityView { notice: Some(lang.msg("the-passkey-was-removed")), ..Default::default() };
            super::account::security_view(&state, &session, lang, StatusCode::OK, view).await
        }
        Err(status) if status.code() == tonic::Code::NotFound => error_page(lang, &GatewayError::from(status)),
        Err(status) => super::account::security_refused(&state, &session, lang, status).await,
    }
}
