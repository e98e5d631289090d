//! The authorization endpoint: `/oauth_authorize.html` (the seed's URL) and
//! `/oauth/authorize` (the standard one), and the consent decision.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use gatehouse_proto::pb::authorization::v1::begin_authorization_response::Outcome;
use gatehouse_proto::pb::authorization::v1::{BeginAuthorizationRequest, DecideRequest, Parameter};
use http::{HeaderMap, StatusCode, Uri};

use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{Viewer, error_page, page, respond};
use crate::render::{pages, redirect};
use crate::session::{self, SESSION_COOKIE};

/// Passes every query parameter, duplicates and order kept, to the service,
/// and shows what it decided.
pub(crate) async fn begin(
    State(state): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let parameters = FormData::parse(query.as_deref().unwrap_or_default().as_bytes())
        .0
        .into_iter()
        .map(|(name, value)| Parameter { name, value })
        .collect();
    let session_token = session::cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let seed_url = uri.path() == "/oauth_authorize.html";
    let request = BeginAuthorizationRequest { parameters, session_token, seed_url };
    let outcome = match state.clients.authorization().begin_authorization(request).await {
        Ok(response) => response.into_inner().outcome,
        Err(status) => return error_page(lang, &GatewayError::from(status)),
    };
    match outcome {
        Some(Outcome::RedirectUri(location)) => redirect(&location),
        Some(Outcome::LoginRequired(_)) => {
            let here = uri.path_and_query().map_or("/oauth/authorize", |pq| pq.as_str());
            redirect(&format!("/login?next={}", pages::url_encode(here)))
        }
        Some(Outcome::ConsentRequired(consent)) => match session::current(&state, &headers).await {
            Ok(Some(session)) => {
                let body = pages::consent(lang, &session.csrf_token, &session.user.username, &consent);
                let title = lang.t("Authorize application", "授权应用");
                respond(StatusCode::OK, page(lang, title, Some(Viewer { user: &session.user }), &body))
            }
            Ok(None) => redirect("/login"),
            Err(error) => error_page(lang, &error),
        },
        None => error_page(lang, &GatewayError::new(gatehouse_proto::ErrorCode::Internal, "internal error")),
    }
}

/// The consent form's answer.
pub(crate) async fn decide(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = FormData::from_body(&body);
    let session = match session::current(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return error_page(
                lang,
                &GatewayError::unauthenticated("your session expired: start again from the application"),
            );
        }
        Err(error) => return error_page(lang, &error),
    };
    if let Err(error) = session::verify_csrf(&session.csrf_token, form.get("csrf_token")) {
        return error_page(lang, &error);
    }
    let approve = match form.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return error_page(lang, &GatewayError::bad_request("decision must be approve or deny")),
    };
    let request = DecideRequest { session_token: session.token, request_id: form.text("request_id"), approve };
    match state.clients.authorization().decide(request).await {
        Ok(response) => redirect(&response.into_inner().redirect_uri),
        Err(status) => error_page(lang, &GatewayError::from(status)),
    }
}
