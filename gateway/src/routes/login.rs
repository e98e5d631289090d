//! Sign in, sign up and sign out.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::Password;
use gatehouse_oauth::random_token;
use gatehouse_proto::status::{ErrorCode, reason};
use gatehouse_runtime::clients::registry::NewUser;
use gatehouse_runtime::signup::SignupPolicy;
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{Viewer, error_page, page, respond};
use crate::render::{pages, redirect, with_retry_after};
use crate::session;

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
    /// The authorization request asked to sign in again (OpenID Connect
    /// `prompt=login`, `max_age`): the form, even with a session.
    reauthenticate: Option<String>,
    /// OpenID Connect `login_hint`: the username to prefill.
    login_hint: Option<String>,
    /// An invitation to sign up (the sign-up policy `invitation`).
    invitation: Option<String>,
}

/// The pre-session forms' CSRF pair: a random nonce in the form cookie
/// (reused while it lives) and, in the form, its signature with the form
/// key, which nobody without the key can compute for a nonce they planted.
/// Login CSRF would otherwise let a site sign a victim into the attacker's
/// account. Returns (nonce, form token, whether the nonce is new).
fn form_token(state: &AppState, headers: &HeaderMap) -> (String, String, bool) {
    let (nonce, fresh) = match session::cookie(headers, session::form_cookie(state)).filter(|t| t.len() >= 32) {
        Some(nonce) => (nonce, false),
        None => (random_token("", 43), true),
    };
    let token = state.form_key.sign(&nonce);
    (nonce, token, fresh)
}

/// A pre-session form's fields, where it goes next, and the language of
/// the authorization request it may be part of (`ui_locales`).
pub(super) fn pre_session_form(headers: &HeaderMap, body: &Bytes) -> (FormData, String, Lang) {
    let form = FormData::from_body(body);
    let next = session::safe_next(form.get("next"));
    let lang = Lang::for_request(headers, next.split_once('?').map_or("", |(_, q)| q));
    (form, next, lang)
}

/// Checks a pre-session form's token against its cookie.
pub(super) fn verify_form(state: &AppState, headers: &HeaderMap, form: &FormData) -> Result<(), GatewayError> {
    let expected = session::cookie(headers, session::form_cookie(state))
        .filter(|nonce| nonce.len() >= 32)
        .map(|nonce| state.form_key.sign(&nonce))
        .unwrap_or_default();
    session::verify_csrf(&expected, form.get("csrf_token"))
}

/// A page with a pre-session form: its CSRF pair (see [`form_token`]) in
/// the form and the cookie, under `title`.
pub(super) fn form_page(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    body: impl FnOnce(&str) -> String,
) -> Response {
    let (nonce, form_token, fresh) = form_token(state, headers);
    let body = body(&form_token);
    let response = respond(status, page(lang, title, None, &body));
    with_form_cookie(state, response, &nonce, fresh)
}

fn with_form_cookie(state: &AppState, mut response: Response, nonce: &str, fresh: bool) -> Response {
    if fresh && let Ok(value) = session::set_cookie(state, session::form_cookie(state), nonce, 3600).parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

pub(super) fn login_response(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    form_page(state, lang, headers, status, &lang.msg("sign-in"), |form_token| {
        let offers = (
            state.config.signup == SignupPolicy::Open || matches!(state.config.signup, SignupPolicy::EmailDomains(_)),
            state.config.mail_enabled,
            super::passkeys::offered(state),
        );
        pages::login(lang, form_token, next, username, error, offers)
    })
}

/// `/`: the applications page, which sends a visitor without a session to
/// sign in first (and back).
pub(crate) async fn front_door() -> axum::response::Redirect {
    axum::response::Redirect::to("/account/applications")
}

pub(crate) async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let next = session::safe_next(query.next.as_deref());
    // The authorization request the login is for may ask for a language (ui_locales).
    let lang = Lang::for_request(&headers, next.split_once('?').map_or("", |(_, q)| q));
    let hint = query.login_hint.as_deref().unwrap_or_default();
    let hint = if hint.len() <= 64 { hint } else { "" };
    match session::current(&state, &headers).await {
        Ok(Some(_)) if query.reauthenticate.is_none() => redirect(&next),
        Ok(_) => {
            // Asked to sign in again (a sensitive change, OpenID Connect `prompt=login` / `max_age`): say why.
            let why = query.reauthenticate.is_some().then(|| lang.msg("sign-in-again-to-continue"));
            login_response(&state, lang, &headers, StatusCode::OK, &next, hint, why.as_deref())
        }
        Err(error) => error_page(lang, &error),
    }
}

/// Starts a session: the cookie, then 303 to where the user was going.
pub(super) fn signed_in(state: &AppState, token: &str, expires_in: i64, next: &str) -> Response {
    let mut response = redirect(next);
    let cookie = session::set_cookie(state, session::session_cookie(state), token, expires_in.max(0));
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, next, lang) = pre_session_form(&headers, &body);
    let username = form.text("username");
    if let Err(error) = verify_form(&state, &headers, &form) {
        return login_response(&state, lang, &headers, error.http_status(), &next, &username, Some(&error.message));
    }
    let password = Password::new(form.text("password"));
    let address = session::client_address(&state, &headers, peer);
    match state.clients.authorization().login(&username, &password, &address, &user_agent(&headers)).await {
        Ok(response) if !response.second_step_token.is_empty() => {
            let page = second_step_response(&state, lang, &headers, StatusCode::OK, &next, None);
            with_cookie(
                page,
                &session::set_cookie(
                    &state,
                    session::second_step_cookie(&state),
                    &response.second_step_token,
                    SECOND_STEP_COOKIE_SECS,
                ),
            )
        }
        Ok(response) => signed_in(&state, &response.session_token, response.expires_in, &next),
        Err(status) => {
            let error = GatewayError::from(status);
            let message = if error.is_reason(reason::INVALID_CREDENTIALS) {
                lang.msg("incorrect-username-or-password")
            } else if error.is_reason(reason::THROTTLED) {
                lang.msg("too-many-failed-sign-in-attempts-try")
            } else {
                return error_page(lang, &error);
            };
            let response =
                login_response(&state, lang, &headers, error.http_status(), &next, &username, Some(&message));
            with_retry_after(response, &error)
        }
    }
}

/// The browser's User-Agent as sent (for the sessions list), if printable.
pub(super) fn user_agent(headers: &HeaderMap) -> String {
    headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().chars().take(256).collect()
}

/// How long the second step's cookie lives (the service's own bound is the same).
const SECOND_STEP_COOKIE_SECS: i64 = 300;

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

pub(super) fn second_step_response(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
) -> Response {
    form_page(state, lang, headers, status, &lang.msg("two-step-verification"), |form_token| {
        pages::second_step(lang, form_token, next, error, super::passkeys::offered(state))
    })
}

/// The second step's form (after a right password, while its cookie lasts).
pub(crate) async fn second_step_page(
    State(state): State<AppState>,
    Query(query): Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let next = session::safe_next(query.next.as_deref());
    let lang = Lang::for_request(&headers, next.split_once('?').map_or("", |(_, q)| q));
    if session::cookie(&headers, session::second_step_cookie(&state)).is_none() {
        return redirect(&format!("/login?next={}", pages::url_encode(&next)));
    }
    second_step_response(&state, lang, &headers, StatusCode::OK, &next, None)
}

/// Checks the second step's code: a right one opens the session (and ends
/// the second step's cookie); a wrong one shows the form again, until the
/// account's limit; an expired sign-in goes back to the password.
pub(crate) async fn second_step(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, next, lang) = pre_session_form(&headers, &body);
    if let Err(error) = verify_form(&state, &headers, &form) {
        return second_step_response(&state, lang, &headers, error.http_status(), &next, Some(&error.message));
    }
    let Some(token) = session::cookie(&headers, session::second_step_cookie(&state)) else {
        let message = lang.msg("the-sign-in-took-too-long");
        return login_response(&state, lang, &headers, StatusCode::UNAUTHORIZED, &next, "", Some(&message));
    };
    let address = session::client_address(&state, &headers, peer);
    let authorization = state.clients.authorization();
    // A passkey's answer (from the ceremony page) or a code typed.
    let passkey = form.get("credential").is_some_and(|c| !c.is_empty());
    let completed = if passkey {
        let (ceremony, credential) = (form.text("ceremony"), form.text("credential"));
        authorization.complete_login_with_passkey(&token, &ceremony, &credential, &address, &user_agent(&headers)).await
    } else {
        authorization.complete_login(&token, &form.text("code"), &address, &user_agent(&headers)).await
    };
    match completed {
        Ok(response) => {
            let done = session::set_cookie(&state, session::second_step_cookie(&state), "", 0);
            with_cookie(signed_in(&state, &response.session_token, response.expires_in, &next), &done)
        }
        Err(status) => {
            let error = GatewayError::from(status);
            if error.is_reason(reason::NO_SESSION) {
                let message = lang.msg("the-sign-in-took-too-long");
                let page = login_response(&state, lang, &headers, error.http_status(), &next, "", Some(&message));
                return with_cookie(page, &session::set_cookie(&state, session::second_step_cookie(&state), "", 0));
            }
            let message = if passkey
                && (error.is_reason(reason::INVALID_CREDENTIALS) || error.code == ErrorCode::InvalidArgument)
            {
                lang.msg("that-passkey-was-not-accepted")
            } else if error.is_reason(reason::INVALID_CREDENTIALS) {
                lang.msg("that-code-is-not-right")
            } else if error.is_reason(reason::THROTTLED) {
                lang.msg("too-many-wrong-codes")
            } else {
                return error_page(lang, &error);
            };
            let page = second_step_response(&state, lang, &headers, error.http_status(), &next, Some(&message));
            with_retry_after(page, &error)
        }
    }
}

fn signup_response(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    form: &FormData,
    error: Option<&str>,
) -> Response {
    let invitation = form.text("invitation");
    let domains = match &state.config.signup {
        SignupPolicy::EmailDomains(domains) => domains.as_slice(),
        _ => &[],
    };
    form_page(state, lang, headers, status, &lang.msg("sign-up"), |form_token| {
        let terms = pages::SignupTerms { invitation: &invitation, domains };
        pages::signup(lang, form_token, next, (&form.text("username"), &form.text("email")), error, terms)
    })
}

fn signup_disabled(lang: Lang) -> Response {
    error_page(lang, &GatewayError::not_found(lang.msg("sign-up-is-turned-off-on-this")))
}

fn signup_by_invitation_only(lang: Lang) -> Response {
    error_page(lang, &GatewayError::forbidden(lang.msg("sign-up-is-by-invitation")))
}

pub(crate) async fn signup_page(
    State(state): State<AppState>,
    Query(query): Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !state.config.signup.offered() {
        return signup_disabled(lang);
    }
    let invitation = query.invitation.filter(|i| !i.is_empty() && i.len() <= 128);
    if state.config.signup == SignupPolicy::Invitation && invitation.is_none() {
        return signup_by_invitation_only(lang);
    }
    let next = session::safe_next(query.next.as_deref());
    let form = FormData(invitation.map(|i| vec![("invitation".to_owned(), i)]).unwrap_or_default());
    signup_response(&state, lang, &headers, StatusCode::OK, &next, &form, None)
}

pub(crate) async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !state.config.signup.offered() {
        return signup_disabled(lang);
    }
    let form = FormData::from_body(&body);
    let next = session::safe_next(form.get("next"));
    if let Err(error) = verify_form(&state, &headers, &form) {
        return signup_response(&state, lang, &headers, error.http_status(), &next, &form, Some(&error.message));
    }
    let (username, password) = (form.text("username"), Password::new(form.text("password")));
    let address = session::client_address(&state, &headers, peer);
    let new = NewUser {
        username: username.clone(),
        email: form.text("email"),
        display_name: String::new(),
        avatar_url: String::new(),
        password: password.clone(),
        client_address: address.clone(),
        invitation: form.text("invitation"),
    };
    if let Err(status) = state.clients.registry().create_user(new).await {
        let error = GatewayError::from(status);
        return match error.code {
            ErrorCode::InvalidArgument
            | ErrorCode::AlreadyExists
            | ErrorCode::ResourceExhausted
            | ErrorCode::PermissionDenied => {
                signup_response(&state, lang, &headers, error.http_status(), &next, &form, Some(&error.message))
            }
            _ => error_page(lang, &error),
        };
    }
    match state.clients.authorization().login(&username, &password, &address, &user_agent(&headers)).await {
        Ok(response) => signed_in(&state, &response.session_token, response.expires_in, &next),
        Err(status) => error_page(lang, &GatewayError::from(status)),
    }
}

pub(crate) async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    match session::current(&state, &headers).await {
        Ok(Some(session)) => {
            let body = pages::logout(lang, &session.csrf_token);
            respond(StatusCode::OK, page(lang, &lang.msg("sign-out"), Some(Viewer { user: &session.user }), &body))
        }
        Ok(None) => redirect("/login"),
        Err(error) => error_page(lang, &error),
    }
}

/// Ends the session (a POST with the CSRF token, so that another site cannot
/// sign the user out) and clears the cookie.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match session::current(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return redirect("/login"),
        Err(error) => return error_page(lang, &error),
    };
    if let Err(error) = session::verify_csrf(&session.csrf_token, form.get("csrf_token")) {
        return error_page(lang, &error);
    }
    if let Err(status) = state.clients.authorization().logout(&session.token).await {
        return error_page(lang, &GatewayError::from(status));
    }
    let mut response = redirect("/login");
    if let Ok(value) = session::set_cookie(&state, session::session_cookie(&state), "", 0).parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response.into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

fn mail_off(lang: Lang) -> Response {
    error_page(lang, &GatewayError::not_found(lang.msg("mail-is-not-set-up-on-this-server")))
}

fn forgot_response(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    sent: bool,
    error: Option<&str>,
) -> Response {
    form_page(state, lang, headers, status, &lang.msg("reset-your-password"), |form_token| {
        pages::forgot_password(lang, form_token, sent, error)
    })
}

/// *Forgot your password?*: the form.
pub(crate) async fn forgot_password_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    if !state.config.mail_enabled {
        return mail_off(lang);
    }
    forgot_response(&state, lang, &headers, StatusCode::OK, false, None)
}

/// Asks the registry to mail a reset link; the answer is the same whether
/// or not an account has the address (past the asker's limit, 429).
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !state.config.mail_enabled {
        return mail_off(lang);
    }
    let form = FormData::from_body(&body);
    if let Err(error) = verify_form(&state, &headers, &form) {
        return forgot_response(&state, lang, &headers, error.http_status(), false, Some(&error.message));
    }
    let address = session::client_address(&state, &headers, peer);
    match state.clients.registry().request_password_reset(&form.text("login"), &address).await {
        Ok(()) => forgot_response(&state, lang, &headers, StatusCode::OK, true, None),
        Err(status) => {
            let error = GatewayError::from(status);
            match error.code {
                ErrorCode::InvalidArgument | ErrorCode::ResourceExhausted => {
                    let page =
                        forgot_response(&state, lang, &headers, error.http_status(), false, Some(&error.message));
                    with_retry_after(page, &error)
                }
                _ => error_page(lang, &error),
            }
        }
    }
}

/// The two links a mail carries: both open a page with one button (a mail
/// scanner that opens a link uses nothing), and the press uses the link.
#[derive(Debug, Clone, Copy)]
enum MailedLink {
    /// `/password/reset`: a new password, then every session ends.
    Reset,
    /// `/account/email/verify`: the address is confirmed.
    Confirm,
}

impl MailedLink {
    fn page(
        self,
        state: &AppState,
        lang: Lang,
        headers: &HeaderMap,
        status: StatusCode,
        shown: LinkPage<'_>,
    ) -> Response {
        let LinkPage { token, done, error } = shown;
        match self {
            Self::Reset => form_page(state, lang, headers, status, &lang.msg("choose-a-new-password"), |form_token| {
                pages::reset_password(lang, form_token, token, done, error)
            }),
            Self::Confirm => {
                form_page(state, lang, headers, status, &lang.msg("confirm-your-email-address"), |form_token| {
                    pages::verify_email(lang, form_token, token, done, error)
                })
            }
        }
    }
}

/// What a link's page shows: its form for `token`, or that it was used.
#[derive(Debug, Clone, Copy)]
struct LinkPage<'a> {
    token: &'a str,
    done: bool,
    error: Option<&'a str>,
}

/// A link opened: its page, with the form (nothing is used until it is sent).
async fn open_link(link: MailedLink, state: &AppState, query: TokenQuery, headers: &HeaderMap) -> Response {
    let lang = Lang::from_headers(headers);
    let Some(token) = query.token.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return error_page(lang, &GatewayError::bad_request(lang.msg("this-link-is-not-complete")));
    };
    link.page(state, lang, headers, StatusCode::OK, LinkPage { token: &token, done: false, error: None })
}

/// A link's form sent: the registry uses it; a refused one (used, expired,
/// or a new password against the rules) shows the form again with why.
async fn use_link(link: MailedLink, state: &AppState, peer: SocketAddr, headers: &HeaderMap, body: &Bytes) -> Response {
    let lang = Lang::from_headers(headers);
    let form = FormData::from_body(body);
    let token = form.text("token");
    let refused = |status: StatusCode, message: &str| {
        link.page(state, lang, headers, status, LinkPage { token: &token, done: false, error: Some(message) })
    };
    if let Err(error) = verify_form(state, headers, &form) {
        return refused(error.http_status(), &error.message);
    }
    let address = session::client_address(state, headers, peer);
    let registry = state.clients.registry();
    let used = match link {
        MailedLink::Reset => registry.reset_password(&token, &form.text("new_password"), &address).await,
        MailedLink::Confirm => registry.verify_email(&token, &address).await,
    };
    match used.map_err(GatewayError::from) {
        Ok(()) => link.page(state, lang, headers, StatusCode::OK, LinkPage { token: "", done: true, error: None }),
        Err(error) if error.code == ErrorCode::InvalidArgument => refused(error.http_status(), &error.message),
        Err(error) => error_page(lang, &error),
    }
}

/// The reset link's page.
pub(crate) async fn reset_password_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    open_link(MailedLink::Reset, &state, query, &headers).await
}

/// Sets the new password with the link's token: every session and token
/// of the account ends; a used or expired link says so.
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use_link(MailedLink::Reset, &state, peer, &headers, &body).await
}

/// The confirmation link's page.
pub(crate) async fn verify_email_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    open_link(MailedLink::Confirm, &state, query, &headers).await
}

/// Confirms the address with the link's token.
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use_link(MailedLink::Confirm, &state, peer, &headers, &body).await
}
