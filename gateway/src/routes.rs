//! The URL map of the gateway.

mod account;
mod admin;
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
mod passkeys;
mod personal_tokens;
mod pushed;
mod registration;
mod resource_servers;
pub(crate) mod rest_access;
mod scopes;
mod ssf;
mod token;
mod well_known;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, delete, get, on, post};
use http::header::CONTENT_TYPE;

use crate::AppState;
use gatehouse_proto::pb::token::v1::SsfOperation;

/// The format a route answers its errors in; answers given before any
/// handler runs (limits, shedding, cross-site refusals) use it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// HTML pages: sign-in, consent, the device pages, the account.
    Page,
    /// OAuth JSON (`error`, `error_description`): the token, revocation,
    /// introspection, device and registration endpoints, UserInfo, the JWKS
    /// and the metadata documents.
    OAuth,
    /// The `{code, msg}` envelope: the REST API and the seed's URLs.
    Envelope,
}

/// One URL of the gateway: its path (axum's `{param}` syntax), its
/// surface, and its handlers.
pub(crate) struct Route {
    pub(crate) path: &'static str,
    pub(crate) surface: Surface,
    methods: fn() -> MethodRouter<AppState>,
}

/// Every URL the gateway answers, said once: the router is built from it,
/// and [`surface_of`] reads it for answers given before routing.
pub(crate) const ROUTES: &[Route] = &[
    Route { path: "/healthz", surface: Surface::Page, methods: || get(health::live) },
    Route { path: "/readyz", surface: Surface::Page, methods: || get(health::ready) },
    Route { path: "/assets/gatehouse.css", surface: Surface::Page, methods: || get(stylesheet) },
    Route { path: "/assets/passkeys.js", surface: Surface::Page, methods: || get(passkey_script) },
    Route { path: "/oauth_authorize.html", surface: Surface::Page, methods: || get(authorize::begin) },
    Route {
        path: "/oauth/authorize",
        surface: Surface::Page,
        methods: || get(authorize::begin).post(authorize::begin_post),
    },
    Route { path: "/oauth/authorize/decision", surface: Surface::Page, methods: || post(authorize::decide) },
    Route { path: "/oauth/token", surface: Surface::OAuth, methods: || post(token::token) },
    Route { path: "/oauth/par", surface: Surface::OAuth, methods: || post(pushed::push) },
    Route { path: "/oauth/revoke", surface: Surface::OAuth, methods: || post(token::revoke) },
    Route { path: "/oauth/introspect", surface: Surface::OAuth, methods: || post(token::introspect) },
    Route {
        path: "/oauth/device_authorization",
        surface: Surface::OAuth,
        methods: || post(device::device_authorization),
    },
    Route { path: "/oauth/register", surface: Surface::OAuth, methods: || post(registration::register) },
    Route {
        path: "/oauth/register/{client_id}",
        surface: Surface::OAuth,
        methods: || get(registration::read).put(registration::update).delete(registration::delete),
    },
    Route { path: "/login/device", surface: Surface::Page, methods: || get(device::entry).post(device::lookup) },
    Route { path: "/login/device/decision", surface: Surface::Page, methods: || post(device::decide) },
    Route {
        path: "/.well-known/oauth-authorization-server",
        surface: Surface::OAuth,
        methods: || get(well_known::metadata),
    },
    Route { path: "/.well-known/openid-configuration", surface: Surface::OAuth, methods: || get(well_known::metadata) },
    Route { path: "/oauth/jwks", surface: Surface::OAuth, methods: || get(oidc::jwks) },
    Route { path: gatehouse_oauth::ssf::CONFIGURATION, surface: Surface::OAuth, methods: || get(ssf::configuration) },
    Route {
        path: ssf::STREAMS,
        surface: Surface::OAuth,
        methods: || {
            let all = MethodFilter::GET
                .or(MethodFilter::POST)
                .or(MethodFilter::PATCH)
                .or(MethodFilter::PUT)
                .or(MethodFilter::DELETE);
            on(all, ssf::streams)
        },
    },
    Route { path: ssf::STATUS, surface: Surface::OAuth, methods: || get(ssf::status).post(ssf::status) },
    Route {
        path: ssf::ADD_SUBJECT,
        surface: Surface::OAuth,
        methods: || ssf::post_only(ssf::ADD_SUBJECT, SsfOperation::AddSubject),
    },
    Route {
        path: ssf::REMOVE_SUBJECT,
        surface: Surface::OAuth,
        methods: || ssf::post_only(ssf::REMOVE_SUBJECT, SsfOperation::RemoveSubject),
    },
    Route { path: ssf::VERIFY, surface: Surface::OAuth, methods: || ssf::post_only(ssf::VERIFY, SsfOperation::Verify) },
    Route { path: "/ssf/poll/{stream_id}", surface: Surface::OAuth, methods: || post(ssf::poll) },
    Route {
        path: "/oauth/userinfo",
        surface: Surface::OAuth,
        methods: || get(oidc::userinfo_get).post(oidc::userinfo_post),
    },
    Route { path: "/oauth/logout", surface: Surface::Page, methods: || get(end_session::get).post(end_session::post) },
    Route { path: "/oauth/logout/confirm", surface: Surface::Page, methods: || post(end_session::confirm) },
    Route {
        path: "/api/oauth/access_token",
        surface: Surface::Envelope,
        methods: || get(coding_compat::access_token).post(coding_compat::access_token),
    },
    Route { path: "/api/current_user", surface: Surface::Envelope, methods: || get(coding_compat::current_user) },
    // The admin console: administrators only.
    Route { path: "/admin", surface: Surface::Page, methods: || get(admin::home) },
    Route { path: "/admin/users", surface: Surface::Page, methods: || get(admin::users) },
    Route { path: "/admin/users/{user_id}", surface: Surface::Page, methods: || get(admin::user) },
    Route { path: "/admin/users/{user_id}/{change}", surface: Surface::Page, methods: || post(admin::change_user) },
    Route { path: "/admin/applications", surface: Surface::Page, methods: || get(admin::applications) },
    Route {
        path: "/admin/applications/{client_id}/delete",
        surface: Surface::Page,
        methods: || post(admin::delete_application),
    },
    Route { path: "/admin/resource-servers", surface: Surface::Page, methods: || get(admin::resource_servers) },
    Route {
        path: "/admin/registration-tokens",
        surface: Surface::Page,
        methods: || get(admin::registration_tokens).post(admin::create_registration_token),
    },
    Route {
        path: "/admin/registration-tokens/{id}/delete",
        surface: Surface::Page,
        methods: || post(admin::delete_registration_token),
    },
    Route { path: "/admin/keys", surface: Surface::Page, methods: || get(admin::keys) },
    Route { path: "/admin/keys/rotate", surface: Surface::Page, methods: || post(admin::rotate_keys) },
    Route { path: "/admin/keys/{kid}/retire", surface: Surface::Page, methods: || post(admin::retire_key) },
    Route { path: "/admin/audit", surface: Surface::Page, methods: || get(admin::audit) },
    // The front door: a person's applications, or the sign-in page on the way there.
    Route { path: "/", surface: Surface::Page, methods: || get(login::front_door) },
    Route { path: "/login", surface: Surface::Page, methods: || get(login::login_page).post(login::login) },
    Route { path: "/signup", surface: Surface::Page, methods: || get(login::signup_page).post(login::signup) },
    Route { path: "/logout", surface: Surface::Page, methods: || get(login::logout_page).post(login::logout) },
    Route {
        path: "/account/applications",
        surface: Surface::Page,
        methods: || get(account::applications).post(account::register),
    },
    Route { path: "/account/applications/new", surface: Surface::Page, methods: || get(account::new_application) },
    Route {
        path: "/account/applications/{client_id}",
        surface: Surface::Page,
        methods: || get(account::application).post(account::update),
    },
    Route {
        path: "/account/applications/{client_id}/edit",
        surface: Surface::Page,
        methods: || get(account::edit_application),
    },
    Route {
        path: "/account/applications/{client_id}/delete",
        surface: Surface::Page,
        methods: || post(account::delete),
    },
    Route {
        path: "/account/applications/{client_id}/secrets",
        surface: Surface::Page,
        methods: || post(account::create_secret),
    },
    Route {
        path: "/account/applications/{client_id}/secrets/{secret_id}/delete",
        surface: Surface::Page,
        methods: || post(account::delete_secret),
    },
    Route { path: "/account/authorizations", surface: Surface::Page, methods: || get(account::authorizations) },
    Route { path: "/account/security-log", surface: Surface::Page, methods: || get(account::security_log) },
    Route {
        path: "/account/tokens",
        surface: Surface::Page,
        methods: || get(personal_tokens::page_list).post(personal_tokens::page_create),
    },
    Route {
        path: "/account/resource-servers",
        surface: Surface::Page,
        methods: || get(resource_servers::page_list).post(resource_servers::page_create),
    },
    Route {
        path: "/account/resource-servers/{id}/delete",
        surface: Surface::Page,
        methods: || post(resource_servers::page_delete),
    },
    Route {
        path: "/account/tokens/{id}/regenerate",
        surface: Surface::Page,
        methods: || post(personal_tokens::page_regenerate),
    },
    Route {
        path: "/account/tokens/{id}/revoke",
        surface: Surface::Page,
        methods: || post(personal_tokens::page_revoke),
    },
    Route {
        path: "/api/tokens",
        surface: Surface::Envelope,
        methods: || get(personal_tokens::api_list).post(personal_tokens::api_create),
    },
    Route { path: "/api/tokens/{id}", surface: Surface::Envelope, methods: || delete(personal_tokens::api_revoke) },
    Route {
        path: "/api/tokens/{id}/regenerate",
        surface: Surface::Envelope,
        methods: || post(personal_tokens::api_regenerate),
    },
    Route {
        path: "/admin/tokens/revoke",
        surface: Surface::Envelope,
        methods: || post(personal_tokens::operator_revoke),
    },
    Route { path: "/account/sessions", surface: Surface::Page, methods: || get(account::sessions_page) },
    Route {
        path: "/password/forgot",
        surface: Surface::Page,
        methods: || get(login::forgot_password_page).post(login::forgot_password),
    },
    Route {
        path: "/password/reset",
        surface: Surface::Page,
        methods: || get(login::reset_password_page).post(login::reset_password),
    },
    Route {
        path: "/account/email/verify",
        surface: Surface::Page,
        methods: || get(login::verify_email_page).post(login::verify_email),
    },
    Route {
        path: "/account/email/send-verification",
        surface: Surface::Page,
        methods: || post(account::send_email_verification),
    },
    Route {
        path: "/account/sessions/{id}/sign-out",
        surface: Surface::Page,
        methods: || post(account::sign_out_session),
    },
    Route {
        path: "/account/sessions/sign-out-others",
        surface: Surface::Page,
        methods: || post(account::sign_out_other_sessions),
    },
    Route { path: "/api/user/sessions", surface: Surface::Envelope, methods: || get(api::sessions) },
    Route {
        path: "/login/verify",
        surface: Surface::Page,
        methods: || get(login::second_step_page).post(login::second_step),
    },
    Route { path: "/account/security", surface: Surface::Page, methods: || get(account::security_page) },
    Route { path: "/login/passkey", surface: Surface::Page, methods: || post(passkeys::sign_in_begin) },
    Route { path: "/login/passkey/finish", surface: Surface::Page, methods: || post(passkeys::sign_in_finish) },
    Route { path: "/login/verify/passkey", surface: Surface::Page, methods: || post(passkeys::second_step_begin) },
    Route { path: "/account/passkeys", surface: Surface::Page, methods: || post(passkeys::register_finish) },
    Route { path: "/account/passkeys/new", surface: Surface::Page, methods: || post(passkeys::register_begin) },
    Route { path: "/account/passkeys/{id}/delete", surface: Surface::Page, methods: || post(passkeys::delete) },
    Route { path: "/account/security/totp", surface: Surface::Page, methods: || post(account::begin_totp) },
    Route { path: "/account/security/totp/confirm", surface: Surface::Page, methods: || post(account::confirm_totp) },
    Route { path: "/account/security/totp/disable", surface: Surface::Page, methods: || post(account::disable_totp) },
    Route {
        path: "/account/security/recovery-codes",
        surface: Surface::Page,
        methods: || post(account::regenerate_recovery_codes),
    },
    Route {
        path: "/account/password",
        surface: Surface::Page,
        methods: || get(account::change_password_page).post(account::change_password),
    },
    Route {
        path: "/account/delete",
        surface: Surface::Page,
        methods: || get(account::delete_account_page).post(account::delete_account),
    },
    Route {
        path: "/account/authorizations/{client_id}/revoke",
        surface: Surface::Page,
        methods: || post(account::revoke),
    },
    Route { path: "/api/scopes", surface: Surface::Envelope, methods: || get(scopes::list) },
    Route { path: "/api/session", surface: Surface::Envelope, methods: || get(api::session) },
    Route {
        path: "/api/applications",
        surface: Surface::Envelope,
        methods: || get(api::list_applications).post(api::register_application),
    },
    Route {
        path: "/api/applications/{client_id}",
        surface: Surface::Envelope,
        methods: || get(api::get_application).patch(api::update_application).delete(api::delete_application),
    },
    Route {
        path: "/api/resource-servers",
        surface: Surface::Envelope,
        methods: || get(resource_servers::api_list).post(resource_servers::api_create),
    },
    Route {
        path: "/api/resource-servers/{id}",
        surface: Surface::Envelope,
        methods: || {
            get(resource_servers::api_get).patch(resource_servers::api_update).delete(resource_servers::api_delete)
        },
    },
    Route {
        path: "/api/applications/{client_id}/secrets",
        surface: Surface::Envelope,
        methods: || post(api::create_secret),
    },
    Route {
        path: "/api/applications/{client_id}/secrets/{secret_id}",
        surface: Surface::Envelope,
        methods: || delete(api::delete_secret),
    },
    Route { path: "/api/authorizations", surface: Surface::Envelope, methods: || get(api::list_authorizations) },
    Route { path: "/api/user/security-log", surface: Surface::Envelope, methods: || get(api::security_log) },
    Route {
        path: "/api/authorizations/{client_id}",
        surface: Surface::Envelope,
        methods: || delete(api::revoke_authorization),
    },
];

/// The surface of the route `path` matches; the envelope for a path of no
/// route, as its 404 (the fallback) is.
pub(crate) fn surface_of(path: &str) -> Surface {
    let matches = |pattern: &str| {
        let (mut pattern, mut path) = (pattern.split('/'), path.split('/'));
        loop {
            match (pattern.next(), path.next()) {
                (None, None) => return true,
                (Some(p), Some(s)) if p.starts_with('{') || p == s => {}
                _ => return false,
            }
        }
    };
    ROUTES.iter().find(|route| matches(route.path)).map_or(Surface::Envelope, |route| route.surface)
}

pub(crate) fn router(state: AppState) -> Router {
    let permits = crate::shed::Permits::new(state.config.max_concurrent_requests);
    let limits = state.config.limits;
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| router.route(route.path, (route.methods)()))
        // The fallback's 404 is the envelope: see `surface_of`.
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

/// The pages' one script: passkey ceremonies.
async fn passkey_script() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../assets/passkeys.js"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_in_the_table_once() {
        let mut seen = std::collections::BTreeSet::new();
        for route in ROUTES {
            assert!(seen.insert(route.path), "{} twice", route.path);
        }
    }

    #[test]
    fn a_path_takes_the_surface_of_its_route() {
        assert_eq!(surface_of("/oauth/register"), Surface::OAuth);
        assert_eq!(surface_of("/oauth/register/abc"), Surface::OAuth);
        assert_eq!(surface_of("/oauth/userinfo"), Surface::OAuth);
        assert_eq!(surface_of("/oauth/jwks"), Surface::OAuth);
        assert_eq!(surface_of("/oauth/authorize"), Surface::Page);
        assert_eq!(surface_of("/account/applications/abc/secrets/def/delete"), Surface::Page);
        assert_eq!(surface_of("/account/applications/abc/secrets/def"), Surface::Envelope, "no such route");
        assert_eq!(surface_of("/api/applications/abc/secrets/def"), Surface::Envelope);
        assert_eq!(surface_of("/api/oauth/access_token"), Surface::Envelope);
    }
}
