//! Account pages: *Applications* (the seed's application management) and
//! *Authorized applications*.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use gatehouse_proto::ErrorCode;
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_proto::pb::registry::v1::Application;
use http::{HeaderMap, StatusCode, Uri};

use super::apps::{self, AppInput};
use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{Viewer, error_page, page, respond};
use crate::render::pages::{self, AppForm};
use crate::render::redirect;
use crate::session::{self, Session};

/// The signed-in user, or the response that sends them to log in.
async fn signed_in(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Session, Response> {
    let lang = Lang::from_headers(headers);
    match session::current(state, headers).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => {
            let here = uri.path_and_query().map_or("/account/applications", |pq| pq.as_str());
            Err(redirect(&format!("/login?next={}", pages::url_encode(here))))
        }
        Err(error) => Err(error_page(lang, &error)),
    }
}

/// The signed-in user of a form POST with a valid CSRF token.
async fn form_post(state: &AppState, headers: &HeaderMap, uri: &Uri, form: &FormData) -> Result<Session, Response> {
    let session = signed_in(state, headers, uri).await?;
    session::verify_csrf(&session.csrf_token, form.get("csrf_token"))
        .map_err(|e| error_page(Lang::from_headers(headers), &e))?;
    Ok(session)
}

fn show(lang: Lang, session: &Session, status: StatusCode, title: &str, body: &str) -> Response {
    respond(status, page(lang, title, Some(Viewer { user: &session.user }), body))
}

pub(crate) async fn applications(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match apps::list(&state, &session.user.id).await {
        Ok(list) => {
            show(lang, &session, StatusCode::OK, lang.t("Applications", "应用管理"), &pages::applications(lang, &list))
        }
        Err(error) => error_page(lang, &error),
    }
}

pub(crate) async fn new_application(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    match signed_in(&state, &headers, &uri).await {
        Ok(session) => {
            let body = pages::application_form(
                lang,
                &session.csrf_token,
                "/account/applications",
                &AppForm::default(),
                false,
                None,
            );
            show(lang, &session, StatusCode::OK, lang.t("Register a new application", "添加应用"), &body)
        }
        Err(response) => response,
    }
}

fn app_form(form: &FormData) -> AppForm {
    AppForm {
        name: form.text("name"),
        description: form.text("description"),
        homepage_url: form.text("homepage_url"),
        redirect_uris: form.text("redirect_uris"),
        public: form.get("public") == Some("1"),
    }
}

fn app_input(form: &AppForm) -> AppInput {
    AppInput {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        homepage_url: Some(form.homepage_url.clone()),
        logo_url: None,
        redirect_uris: Some(apps::lines(&form.redirect_uris)),
        scopes: None,
        public: form.public,
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

/// Registers an application. A confidential one's first secret is shown in
/// this response, once; it is never stored anywhere it could be shown again.
pub(crate) async fn register(State(state): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match form_post(&state, &headers, &uri, &form).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let values = app_form(&form);
    match apps::register(&state, &session.user.id, app_input(&values)).await {
        Ok((app, secret)) if !secret.is_empty() => application_page(lang, &session, &app, Some(&secret)),
        Ok((app, _)) => redirect(&format!("/account/applications/{}", app.client_id)),
        Err(error) if is_form_error(&error) => {
            let body = pages::application_form(
                lang,
                &session.csrf_token,
                "/account/applications",
                &values,
                false,
                Some(&error.message),
            );
            show(lang, &session, error.http_status(), lang.t("Register a new application", "添加应用"), &body)
        }
        Err(error) => error_page(lang, &error),
    }
}

pub(crate) async fn application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match apps::get(&state, &session.user.id, &client_id).await {
        Ok(app) => application_page(lang, &session, &app, None),
        Err(error) => error_page(lang, &error),
    }
}

pub(crate) async fn edit_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match apps::get(&state, &session.user.id, &client_id).await {
        Ok(app) => {
            let values = AppForm {
                name: app.name,
                description: app.description,
                homepage_url: app.homepage_url,
                redirect_uris: app.redirect_uris.join("\n"),
                public: app.client_type == ClientType::Public as i32,
            };
            let action = format!("/account/applications/{client_id}");
            let body = pages::application_form(lang, &session.csrf_token, &action, &values, true, None);
            show(lang, &session, StatusCode::OK, lang.t("Edit application", "编辑应用"), &body)
        }
        Err(error) => error_page(lang, &error),
    }
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match form_post(&state, &headers, &uri, &form).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let values = app_form(&form);
    let mut input = app_input(&values);
    input.public = false;
    match apps::update(&state, &session.user.id, &client_id, input).await {
        Ok(_) => redirect(&format!("/account/applications/{client_id}")),
        Err(error) if is_form_error(&error) => {
            let action = format!("/account/applications/{client_id}");
            let body = pages::application_form(lang, &session.csrf_token, &action, &values, true, Some(&error.message));
            show(lang, &session, error.http_status(), lang.t("Edit application", "编辑应用"), &body)
        }
        Err(error) => error_page(lang, &error),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match form_post(&state, &headers, &uri, &form).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match apps::delete(&state, &session.user.id, &client_id).await {
        Ok(()) => redirect("/account/applications"),
        Err(error) => error_page(lang, &error),
    }
}

/// Creates a client secret and shows it in this response, once.
pub(crate) async fn create_secret(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match form_post(&state, &headers, &uri, &form).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let created = apps::create_secret(&state, &session.user.id, &client_id).await;
    let app = apps::get(&state, &session.user.id, &client_id).await;
    match (created, app) {
        (Ok((_, secret)), Ok(app)) => application_page(lang, &session, &app, Some(&secret)),
        (Err(error), _) | (_, Err(error)) => error_page(lang, &error),
    }
}

pub(crate) async fn delete_secret(
    State(state): State<AppState>,
    Path((client_id, secret_id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match form_post(&state, &headers, &uri, &form).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match apps::delete_secret(&state, &session.user.id, &client_id, &secret_id).await {
        Ok(()) => redirect(&format!("/account/applications/{client_id}")),
        Err(error) => error_page(lang, &error),
    }
}

pub(crate) async fn authorizations(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match apps::grants(&state, &session.user.id).await {
        Ok(grants) => {
            let body = pages::authorizations(lang, &session.csrf_token, &grants);
            show(lang, &session, StatusCode::OK, lang.t("Authorized applications", "已授权应用"), &body)
        }
        Err(error) => error_page(lang, &error),
    }
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match form_post(&state, &headers, &uri, &form).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match apps::revoke(&state, &session.user.id, &client_id).await {
        Ok(()) => redirect("/account/authorizations"),
        Err(error) => error_page(lang, &error),
    }
}
