//! The URL map of the gateway.

mod account;
mod api;
mod apps;
mod authorize;
mod coding_compat;
pub(crate) mod credentials;
mod device;
mod end_session;
mod extract;
pub(crate) mod form;
mod health;
mod login;
mod oidc;
mod personal_tokens;
mod registration;
mod resource_servers;
pub(crate) mod rest_access;
mod scopes;
mod token;
mod well_known;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use http::header::CONTENT_TYPE;

use crate::AppState;

pub(crate) fn router(state: AppState) -> Router {
    let permits = crate::shed::Permits::new(state.config.max_concurrent_requests);
    let limits = state.config.limits;
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/assets/gatehouse.css", get(stylesheet))
        // The seed's URL and the standard one reach the same RPC.
        .route("/oauth_authorize.html", get(authorize::begin))
        .route("/oauth/authorize", get(authorize::begin).post(authorize::begin_post))
        .route("/oauth/authorize/decision", post(authorize::decide))
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(token::revoke))
        .route("/oauth/introspect", post(token::introspect))
        .route("/oauth/device_authorization", post(device::device_authorization))
        .route("/oauth/register", post(registration::register))
        .route(
            "/oauth/register/{client_id}",
            get(registration::read).put(registration::update).delete(registration::delete),
        )
        .route("/login/device", get(device::entry).post(device::lookup))
        .route("/login/device/decision", post(device::decide))
        .route("/.well-known/oauth-authorization-server", get(well_known::metadata))
        .route("/.well-known/openid-configuration", get(well_known::metadata))
        .route("/oauth/jwks", get(oidc::jwks))
        .route("/oauth/userinfo", get(oidc::userinfo_get).post(oidc::userinfo_post))
        .route("/oauth/logout", get(end_session::get).post(end_session::post))
        .route("/oauth/logout/confirm", post(end_session::confirm))
        .route("/api/oauth/access_token", get(coding_compat::access_token).post(coding_compat::access_token))
        .route("/api/current_user", get(coding_compat::current_user))
        .route("/login", get(login::login_page).post(login::login))
        .route("/signup", get(login::signup_page).post(login::signup))
        .route("/logout", get(login::logout_page).post(login::logout))
        .route("/account/applications", get(account::applications).post(account::register))
        .route("/account/applications/new", get(account::new_application))
        .route("/account/applications/{client_id}", get(account::application).post(account::update))
        .route("/account/applications/{client_id}/edit", get(account::edit_application))
        .route("/account/applications/{client_id}/delete", post(account::delete))
        .route("/account/applications/{client_id}/secrets", post(account::create_secret))
        .route("/account/applications/{client_id}/secrets/{secret_id}/delete", post(account::delete_secret))
        .route("/account/authorizations", get(account::authorizations))
        .route("/account/security-log", get(account::security_log))
        .route("/account/tokens", get(personal_tokens::page_list).post(personal_tokens::page_create))
        .route("/account/resource-servers", get(resource_servers::page_list).post(resource_servers::page_create))
        .route("/account/resource-servers/{id}/delete", post(resource_servers::page_delete))
        .route("/account/tokens/{id}/regenerate", post(personal_tokens::page_regenerate))
        .route("/account/tokens/{id}/revoke", post(personal_tokens::page_revoke))
        .route("/api/tokens", get(personal_tokens::api_list).post(personal_tokens::api_create))
        .route("/api/tokens/{id}", delete(personal_tokens::api_revoke))
        .route("/api/tokens/{id}/regenerate", post(personal_tokens::api_regenerate))
        .route("/admin/tokens/revoke", post(personal_tokens::operator_revoke))
        .route("/account/delete", get(account::delete_account_page).post(account::delete_account))
        .route("/account/authorizations/{client_id}/revoke", post(account::revoke))
        .route("/api/scopes", get(scopes::list))
        .route("/api/session", get(api::session))
        .route("/api/applications", get(api::list_applications).post(api::register_application))
        .route(
            "/api/applications/{client_id}",
            get(api::get_application).patch(api::update_application).delete(api::delete_application),
        )
        .route("/api/resource-servers", get(resource_servers::api_list).post(resource_servers::api_create))
        .route(
            "/api/resource-servers/{id}",
            get(resource_servers::api_get).patch(resource_servers::api_update).delete(resource_servers::api_delete),
        )
        .route("/api/applications/{client_id}/secrets", post(api::create_secret))
        .route("/api/applications/{client_id}/secrets/{secret_id}", delete(api::delete_secret))
        .route("/api/authorizations", get(api::list_authorizations))
        .route("/api/user/security-log", get(api::security_log))
        .route("/api/authorizations/{client_id}", delete(api::revoke_authorization))
        .fallback(health::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::cross_site::refuse_cross_site))
        // Outside the cross-site check and the router: preflights are answered before either.
        .layer(axum::middleware::from_fn(crate::cors::cors))
        .layer(axum::middleware::from_fn(crate::headers::security_headers))
        .layer(axum::middleware::from_fn(move |request, next| crate::shed::shed(permits.clone(), request, next)))
        .layer(axum::middleware::from_fn(crate::observe::observe))
        // Outermost: refused before anything else is done with the request.
        .layer(axum::middleware::from_fn(move |request, next| crate::edge::enforce(limits, request, next)))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
}

async fn stylesheet() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../assets/gatehouse.css"))
}
