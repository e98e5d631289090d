//! Account pages: *Applications* (the seed's application management) and
//! *Authorized applications*.

use axum::extract::{Path, State};
use axum::response::Response;
use gatehouse_proto::ErrorCode;
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_proto::pb::registry::v1::Application;
use http::StatusCode;

use super::apps::{self, AppInput};
use super::extract::{FormPost, PageUser, RecentFormPost};
use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{ACCOUNT_HOME, OnPage, PageResult, Viewer, owner_error_page, page, respond};
use crate::render::pages::{self, AppForm};
use crate::render::redirect;
use crate::session::Session;

fn show(lang: Lang, session: &Session, status: StatusCode, title: &str, body: &str) -> Response {
    respond(status, page(lang, title, Some(Viewer { user: &session.user }), body))
}

fn app_form(form: &FormData) -> AppForm {
    AppForm {
        name: form.text("name"),
        description: form.text("description"),
        homepage_url: form.text("homepage_url"),
        redirect_uris: form.text("redirect_uris"),
        post_logout_redirect_uris: form.text("post_logout_redirect_uris"),
        public: form.get("public") == Some("1"),
        device: form.get("device") == Some("1"),
    }
}

fn app_input(form: &AppForm) -> AppInput {
    AppInput {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        homepage_url: Some(form.homepage_url.clone()),
        logo_url: None,
        redirect_uris: Some(apps::lines(&form.redirect_uris)),
        post_logout_redirect_uris: Some(apps::lines(&form.post_logout_redirect_uris)),
        scopes: None,
        public: form.public,
        grant_types: None,
        device: Some(form.device),
        // Not on the page: the REST API and dynamic registration set it.
        id_token_signed_response_alg: None,
        require_pushed_authorization_requests: None,
        dpop_bound_access_tokens: None,
    }
}

/// A form the service refused: shown again with the reason, as typed.
fn is_form_error(error: &GatewayError) -> bool {
    matches!(error.code, ErrorCode::InvalidArgument | ErrorCode::AlreadyExists | ErrorCode::FailedPrecondition)
}

fn application_page(lang: Lang, session: &Session, app: &Application, new_secret: Option<&str>) -> Response {
    let body = pages::application(lang, &session.csrf_token, app, new_secret);
    show(lang, session, StatusCode::OK, &app.name.clone(), &body)
}

fn form_page(
    lang: Lang,
    session: &Session,
    status: StatusCode,
    editing: Option<&str>,
    values: &AppForm,
    error: Option<&str>,
) -> Response {
    let (action, title) = match editing {
        Some(client_id) => (format!("/account/applications/{client_id}"), lang.msg("edit-application")),
        None => ("/account/applications".to_owned(), lang.msg("register-a-new-application")),
    };
    let body = pages::application_form(lang, &session.csrf_token, &action, values, editing.is_some(), error);
    show(lang, session, status, &title, &body)
}

pub(crate) async fn applications(State(state): State<AppState>, PageUser { session, lang }: PageUser) -> PageResult {
    let list = apps::list(&state, &session.user.id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(show(lang, &session, StatusCode::OK, &lang.msg("applications"), &pages::applications(lang, &list)))
}

pub(crate) async fn new_application(PageUser { session, lang }: PageUser) -> Response {
    form_page(lang, &session, StatusCode::OK, None, &AppForm::default(), None)
}

/// Registers an application. A confidential one's first secret is shown in
/// this response, once; it is never stored anywhere it could be shown again.
pub(crate) async fn register(State(state): State<AppState>, FormPost { session, lang, form }: FormPost) -> Response {
    let values = app_form(&form);
    match apps::register(&state, &session.user.id, app_input(&values)).await {
        Ok((app, secret)) if !secret.is_empty() => application_page(lang, &session, &app, Some(&secret)),
        Ok((app, _)) => redirect(&format!("/account/applications/{}", app.client_id)),
        Err(error) if is_form_error(&error) => {
            form_page(lang, &session, error.http_status(), None, &values, Some(&error.message))
        }
        Err(error) => owner_error_page(lang, &error, ACCOUNT_HOME),
    }
}

pub(crate) async fn application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PageUser { session, lang }: PageUser,
) -> PageResult {
    let app = apps::get(&state, &session.user.id, &client_id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(application_page(lang, &session, &app, None))
}

pub(crate) async fn edit_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PageUser { session, lang }: PageUser,
) -> PageResult {
    let app = apps::get(&state, &session.user.id, &client_id).await.for_owner(lang, ACCOUNT_HOME)?;
    let values = AppForm {
        name: app.name,
        description: app.description,
        homepage_url: app.homepage_url,
        redirect_uris: app.redirect_uris.join("\n"),
        post_logout_redirect_uris: app.post_logout_redirect_uris.join("\n"),
        public: app.client_type == ClientType::Public as i32,
        device: app.grant_types.iter().any(|g| g == gatehouse_oauth::GrantType::DeviceCode.as_str()),
    };
    Ok(form_page(lang, &session, StatusCode::OK, Some(&client_id), &values, None))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let values = app_form(&form);
    let mut input = app_input(&values);
    input.public = false;
    match apps::update(&state, &session.user.id, &client_id, input).await {
        Ok(_) => redirect(&format!("/account/applications/{client_id}")),
        Err(error) if is_form_error(&error) => {
            form_page(lang, &session, error.http_status(), Some(&client_id), &values, Some(&error.message))
        }
        Err(error) => owner_error_page(lang, &error, ACCOUNT_HOME),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    RecentFormPost(FormPost { session, lang, .. }): RecentFormPost,
) -> PageResult {
    apps::delete(&state, &session.user.id, &client_id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(redirect("/account/applications"))
}

/// Creates a client secret and shows it in this response, once.
pub(crate) async fn create_secret(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    RecentFormPost(FormPost { session, lang, .. }): RecentFormPost,
) -> PageResult {
    let (_, secret) = apps::create_secret(&state, &session.user.id, &client_id).await.for_owner(lang, ACCOUNT_HOME)?;
    let app = apps::get(&state, &session.user.id, &client_id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(application_page(lang, &session, &app, Some(&secret)))
}

pub(crate) async fn delete_secret(
    State(state): State<AppState>,
    Path((client_id, secret_id)): Path<(String, String)>,
    FormPost { session, lang, .. }: FormPost,
) -> PageResult {
    apps::delete_secret(&state, &session.user.id, &client_id, &secret_id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(redirect(&format!("/account/applications/{client_id}")))
}

pub(crate) async fn authorizations(State(state): State<AppState>, PageUser { session, lang }: PageUser) -> PageResult {
    let grants = apps::grants(&state, &session.user.id).await.for_owner(lang, ACCOUNT_HOME)?;
    let body = pages::authorizations(lang, &session.csrf_token, &grants);
    Ok(show(lang, &session, StatusCode::OK, &lang.msg("authorized-applications"), &body))
}

/// The Security log page: what happened to the account, newest first.
pub(crate) async fn security_log(State(state): State<AppState>, PageUser { session, lang }: PageUser) -> PageResult {
    let events = apps::security_log(&state, &session.user.id).await.for_owner(lang, ACCOUNT_HOME)?;
    let body = pages::security_log(lang, &events);
    Ok(show(lang, &session, StatusCode::OK, &lang.msg("security-log"), &body))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    FormPost { session, lang, .. }: FormPost,
) -> PageResult {
    apps::revoke(&state, &session.user.id, &client_id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(redirect("/account/authorizations"))
}

/// *Account → Delete account*: what goes with it, and a form that asks for
/// the username again.
pub(crate) async fn change_password_page(PageUser { session, lang }: PageUser) -> Response {
    let body = pages::change_password(lang, &session.csrf_token, false, None);
    show(lang, &session, StatusCode::OK, &lang.msg("change-password"), &body)
}

/// Changes the signed-in account's password; the current one is required.
/// A wrong current password or a new one that breaks the rules shows the
/// form again with the registry's reason.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let field = |name: &str| form.get(name).unwrap_or_default().to_owned();
    let address = crate::session::client_address(&state, &headers, peer);
    let changed = state
        .clients
        .registry()
        .change_password(&session.user.id, &field("current_password"), &field("new_password"), &address)
        .await;
    let title = lang.msg("change-password");
    // The other sessions end too, unless the person unticked it.
    let changed = match changed {
        Ok(()) if form.get("end_other_sessions") == Some("on") => {
            state.clients.authorization().sign_out_other_sessions(&session.user.id, &session.token).await.map(|_| ())
        }
        other => other,
    };
    match changed {
        Ok(()) => {
            let body = pages::change_password(lang, &session.csrf_token, true, None);
            show(lang, &session, StatusCode::OK, &title, &body)
        }
        Err(status) if matches!(status.code(), tonic::Code::InvalidArgument) => {
            let error = GatewayError::from(status);
            let body = pages::change_password(lang, &session.csrf_token, false, Some(&error.message));
            show(lang, &session, StatusCode::BAD_REQUEST, &title, &body)
        }
        Err(status) => owner_error_page(lang, &GatewayError::from(status), ACCOUNT_HOME),
    }
}

pub(crate) async fn delete_account_page(PageUser { session, lang }: PageUser) -> Response {
    let body = pages::delete_account(lang, &session.csrf_token, &session.user.username, None);
    show(lang, &session, StatusCode::OK, &lang.msg("delete-account"), &body)
}

/// Deletes the signed-in account (the registry revokes every token, grant
/// and session it holds first), then clears the cookie.
pub(crate) async fn delete_account(
    State(state): State<AppState>,
    RecentFormPost(FormPost { session, lang, form }): RecentFormPost,
) -> Response {
    if form.get("confirm_username").map(str::trim) != Some(session.user.username.as_str()) {
        let error = lang.msg("type-your-username-to-confirm-again");
        let body = pages::delete_account(lang, &session.csrf_token, &session.user.username, Some(&error));
        return show(lang, &session, StatusCode::BAD_REQUEST, &lang.msg("delete-account"), &body);
    }
    if let Err(status) = state.clients.registry().delete_user(&session.user.id).await {
        return owner_error_page(lang, &GatewayError::from(status), ACCOUNT_HOME);
    }
    let mut response = redirect("/login");
    if let Ok(value) = crate::session::set_cookie(&state, crate::session::session_cookie(&state), "", 0).parse() {
        response.headers_mut().append(http::header::SET_COOKIE, value);
    }
    response
}

/// *Account → Two-step sign-in*: the page for the account's state.
pub(super) async fn security_view(
    state: &AppState,
    session: &Session,
    lang: Lang,
    status: StatusCode,
    view: pages::SecurityView<'_>,
) -> Response {
    let registry = state.clients.registry();
    let (factors, account) =
        match tokio::try_join!(registry.second_factors(&session.user.id), registry.user(&session.user.id)) {
            Ok(found) => found,
            Err(status) => return owner_error_page(lang, &GatewayError::from(status), ACCOUNT_HOME),
        };
    let email = account.filter(|a| !a.email.is_empty()).map(|a| pages::EmailState {
        address: a.email,
        verified: a.email_verified,
        can_send: state.config.mail_enabled,
    });
    let passkeys =
        factors.passkeys_enabled.then(|| factors.passkeys.iter().map(pages::PasskeyRowView::of).collect::<Vec<_>>());
    let view = pages::SecurityView { email, passkeys, ..view };
    let body = pages::security(lang, &session.csrf_token, factors.totp, factors.recovery_codes_left, view);
    show(lang, session, status, &lang.msg("two-step-sign-in"), &body)
}

pub(crate) async fn security_page(State(state): State<AppState>, PageUser { session, lang }: PageUser) -> Response {
    security_view(&state, &session, lang, StatusCode::OK, pages::SecurityView::default()).await
}

/// The page again after a refused change: the registry's reason for a bad
/// password or code, an error page for anything else.
pub(super) async fn security_refused(
    state: &AppState,
    session: &Session,
    lang: Lang,
    status: tonic::Status,
) -> Response {
    let error = GatewayError::from(status);
    match error.code {
        ErrorCode::InvalidArgument | ErrorCode::FailedPrecondition | ErrorCode::ResourceExhausted => {
            let view = pages::SecurityView { error: Some(&error.message), ..Default::default() };
            let response = security_view(state, session, lang, error.http_status(), view).await;
            crate::render::with_retry_after(response, &error)
        }
        _ => owner_error_page(lang, &error, ACCOUNT_HOME),
    }
}

/// Starts enrolment (the password again): the QR code and the secret, and
/// the form for the app's first code.
pub(crate) async fn begin_totp(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let address = crate::session::client_address(&state, &headers, peer);
    let password = form.get("password").unwrap_or_default();
    match state.clients.registry().begin_totp(&session.user.id, password, &address).await {
        Ok(begun) => {
            let enrolment = pages::Enrolment { qr_svg: pages::qr_svg(&begun.provisioning_uri), secret: begun.secret };
            let view = pages::SecurityView { enrolment: Some(enrolment), ..Default::default() };
            security_view(&state, &session, lang, StatusCode::OK, view).await
        }
        Err(status) => security_refused(&state, &session, lang, status).await,
    }
}

/// Confirms enrolment with the app's first code: the recovery codes, once.
pub(crate) async fn confirm_totp(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let address = crate::session::client_address(&state, &headers, peer);
    let code = form.get("code").unwrap_or_default();
    match state.clients.registry().confirm_totp(&session.user.id, code, &address).await {
        Ok(codes) => {
            let view = pages::SecurityView {
                recovery_codes: codes,
                notice: Some(lang.msg("two-step-sign-in-is-now-on")),
                ..Default::default()
            };
            security_view(&state, &session, lang, StatusCode::OK, view).await
        }
        Err(status) => security_refused(&state, &session, lang, status).await,
    }
}

/// Turns two-step sign-in off (the password again).
pub(crate) async fn disable_totp(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let address = crate::session::client_address(&state, &headers, peer);
    let password = form.get("password").unwrap_or_default();
    match state.clients.registry().disable_totp(&session.user.id, password, &address).await {
        Ok(()) => {
            let view =
                pages::SecurityView { notice: Some(lang.msg("two-step-sign-in-is-now-off")), ..Default::default() };
            security_view(&state, &session, lang, StatusCode::OK, view).await
        }
        Err(status) => security_refused(&state, &session, lang, status).await,
    }
}

/// New recovery codes (the password again), shown once.
pub(crate) async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    FormPost { session, lang, form }: FormPost,
) -> Response {
    let address = crate::session::client_address(&state, &headers, peer);
    let password = form.get("password").unwrap_or_default();
    match state.clients.registry().regenerate_recovery_codes(&session.user.id, password, &address).await {
        Ok(codes) => {
            let view = pages::SecurityView { recovery_codes: codes, ..Default::default() };
            security_view(&state, &session, lang, StatusCode::OK, view).await
        }
        Err(status) => security_refused(&state, &session, lang, status).await,
    }
}

/// *Account → Sessions*: where the account is signed in.
pub(crate) async fn sessions_page(State(state): State<AppState>, PageUser { session, lang }: PageUser) -> PageResult {
    let sessions = state
        .clients
        .authorization()
        .sessions(&session.user.id, &session.token)
        .await
        .map_err(GatewayError::from)
        .for_owner(lang, ACCOUNT_HOME)?;
    let body = pages::sessions(lang, &session.csrf_token, &sessions);
    Ok(show(lang, &session, StatusCode::OK, &lang.msg("sessions"), &body))
}

/// Signs out one other session of the account.
pub(crate) async fn sign_out_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormPost { session, lang, .. }: FormPost,
) -> PageResult {
    let found = state
        .clients
        .authorization()
        .sign_out_session(&session.user.id, &id)
        .await
        .map_err(GatewayError::from)
        .for_owner(lang, ACCOUNT_HOME)?;
    if !found {
        return Err(GatewayError::not_found(lang.msg("that-session-is-already-over"))).for_owner(lang, ACCOUNT_HOME);
    }
    Ok(redirect("/account/sessions"))
}

/// Signs out every session of the account but this one.
pub(crate) async fn sign_out_other_sessions(
    State(state): State<AppState>,
    FormPost { session, lang, .. }: FormPost,
) -> PageResult {
    state
        .clients
        .authorization()
        .sign_out_other_sessions(&session.user.id, &session.token)
        .await
        .map_err(GatewayError::from)
        .for_owner(lang, ACCOUNT_HOME)?;
    Ok(redirect("/account/sessions"))
}

/// Mails a link that confirms the account's address.
pub(crate) async fn send_email_verification(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    FormPost { session, lang, .. }: FormPost,
) -> Response {
    let address = crate::session::client_address(&state, &headers, peer);
    match state.clients.registry().send_email_verification(&session.user.id, &address).await {
        Ok(()) => {
            let view = pages::SecurityView {
                notice: Some(lang.msg("a-confirmation-link-is-on-its-way")),
                ..Default::default()
            };
            security_view(&state, &session, lang, StatusCode::OK, view).await
        }
        Err(status) => security_refused(&state, &session, lang, status).await,
    }
}
