//! The authorization endpoint: `/oauth_authorize.html` (the seed's URL) and
//! `/oauth/authorize` (the standard one), and the consent decision.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::Response;
use gatehouse_proto::pb::authorization::v1::DecideResponse;
use gatehouse_proto::pb::common::v1::Parameter;
use gatehouse_runtime::clients::authorization::{AuthorizationOutcome as Outcome, Caller};
use http::{HeaderMap, StatusCode, Uri};

use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::form_post::form_post;
use crate::render::html::{Viewer, error_page, page, respond};
use crate::render::{pages, redirect};
use crate::session;

/// Passes every query parameter, duplicates and order kept, to the service,
/// and shows what it decided.
pub(crate) async fn begin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let seed_url = uri.path() == "/oauth_authorize.html";
    let address = session::client_address(&state, &headers, peer);
    begin_with(&state, seed_url, query.as_deref().unwrap_or_default(), &headers, address).await
}

/// The same request as a form POST (OpenID Connect Core §3.1.2.1: the
/// authorization endpoint takes GET and POST). The parameters are the
/// form's; a query string on the POST is refused rather than mixed in.
pub(crate) async fn begin_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !form || query.is_some_and(|q| !q.is_empty()) {
        let error = GatewayError::bad_request(
            "a POST to the authorization endpoint carries its parameters as an application/x-www-form-urlencoded body",
        );
        return error_page(lang, &error);
    }
    let Ok(body) = std::str::from_utf8(&body) else {
        return error_page(lang, &GatewayError::bad_request("the form is not UTF-8"));
    };
    let address = session::client_address(&state, &headers, peer);
    begin_with(&state, false, body, &headers, address).await
}

async fn begin_with(
    state: &AppState,
    seed_url: bool,
    query: &str,
    headers: &HeaderMap,
    client_address: String,
) -> Response {
    let lang = Lang::for_request(headers, query);
    let parameters =
        FormData::parse(query.as_bytes()).0.into_iter().map(|(name, value)| Parameter { name, value }).collect();
    let session_token = session::cookie(headers, session::session_cookie(state)).unwrap_or_default();
    let caller = Caller { session_token: &session_token, client_address: &client_address };
    let outcome = match state.clients.authorization().begin_authorization(caller, parameters, seed_url).await {
        Ok(outcome) => outcome,
        Err(status) => return error_page(lang, &GatewayError::from(status)),
    };
    match outcome {
        Outcome::RedirectUri(location) => redirect(&location),
        Outcome::FormPost(form) => form_post(&form),
        Outcome::LoginRequired(login) => {
            // Back to the request after signing in, as a GET (a POST's form
            // becomes the query), with the parameters the service resumes with.
            let path = if seed_url { "/oauth_authorize.html" } else { "/oauth/authorize" };
            let resume = pages::form_encode(login.resume.iter().map(|p| (p.name.as_str(), p.value.as_str())));
            let here = if resume.is_empty() { path.to_owned() } else { format!("{path}?{resume}") };
            let mut location = format!("/login?next={}", pages::url_encode(&here));
            if login.reauthenticate {
                location.push_str("&reauthenticate=1");
            }
            if !login.login_hint.is_empty() {
                location.push_str(&format!("&login_hint={}", pages::url_encode(&login.login_hint)));
            }
            redirect(&location)
        }
        Outcome::ConsentRequired(consent) => match session::current(state, headers).await {
            Ok(Some(session)) => {
                let body = pages::consent(lang, &session.csrf_token, &session.user.username, &consent);
                let title = lang.msg("authorize-application");
                respond(StatusCode::OK, page(lang, &title, Some(Viewer { user: &session.user }), &body))
            }
            Ok(None) => redirect("/login"),
            Err(error) => error_page(lang, &error),
        },
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
    match state.clients.authorization().decide(&session.token, &form.text("request_id"), approve).await {
        Ok(decided) => match decided {
            DecideResponse { form_post: Some(form), .. } => form_post(&form),
            DecideResponse { redirect_uri, .. } => redirect(&redirect_uri),
        },
        Err(status) => error_page(lang, &GatewayError::from(status)),
    }
}
