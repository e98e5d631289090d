//! The REST API of application management and authorized applications, in
//! the seed's envelope. Authenticated by the session cookie; state-changing
//! calls also need the session's CSRF token in `X-CSRF-Token`.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Path, State};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{Value, json};

use super::apps::{self, AppInput};
use super::rest_access::{self, RestAccess};
use crate::AppState;
use crate::error::GatewayError;
use crate::render::envelope::{Envelope, EnvelopeResult};
use crate::render::{bearer, envelope, json as doc};
use crate::session::{self, CSRF_HEADER};

/// The user of a bearer token holding `scope`, as the token service
/// decides it (a user's token, reads only).
async fn token_caller(
    state: &AppState,
    token: String,
    dpop: Option<gatehouse_proto::pb::token::v1::DpopProof>,
    scope: &str,
    method: &Method,
    address: String,
) -> Result<String, Response> {
    match state.clients.token().authorize_api_call(&token, dpop, scope, !method.is_safe(), &address).await {
        Ok(caller) => Ok(caller.user_id),
        Err(status) => {
            let error = GatewayError::from(status);
            Err(bearer::challenge(envelope::error(&error), &error, true, scope))
        }
    }
}

/// The calling user's id, as the operation's row of
/// [`super::rest_access::REST_ACCESS`] allows: from a bearer token with the
/// row's scope, or from the session cookie (writes then need the CSRF
/// header). The rejection is the envelope error.
#[derive(Debug)]
pub(crate) struct ApiCaller(pub(crate) String);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        let route = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or_default();
        let Some(access) = rest_access::rule(&parts.method, route) else {
            // Deny by default: an operation without a row is nobody's.
            return Err(envelope::error(&GatewayError::forbidden("this operation has no access rule")));
        };
        caller(state, &parts.headers, &parts.method, parts.uri.path(), peer, access).await.map(Self)
    }
}

async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    peer: Option<std::net::SocketAddr>,
    access: RestAccess,
) -> Result<String, Response> {
    if let Some(token) = super::credentials::bearer(headers, None).map_err(|e| envelope::error(&e))? {
        let scope = match access {
            RestAccess::SessionOrScope(scope) | RestAccess::Scope(scope) => scope,
            RestAccess::Session | RestAccess::RecentSession | RestAccess::Open => {
                let error = GatewayError::from(gatehouse_oauth::client_auth::session_only());
                return Err(bearer::challenge(envelope::error(&error), &error, true, ""));
            }
        };
        let address = peer.map(|peer| session::client_address(state, headers, peer)).unwrap_or_default();
        let dpop = super::credentials::resource_proof(state, headers, method, path)
            .map_err(|error| bearer::challenge(envelope::error(&error), &error, true, scope))?;
        return token_caller(state, token, dpop, scope, method, address).await;
    }
    if let RestAccess::Scope(_) = access {
        return Err(envelope::error(&GatewayError::unauthenticated("an access token is required")));
    }
    let session = match session::current(state, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(envelope::error(&GatewayError::unauthenticated("sign in first: no valid session"))),
        Err(error) => return Err(envelope::error(&error)),
    };
    if !method.is_safe() {
        let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        session::verify_csrf(&session.csrf_token, presented).map_err(|e| envelope::error(&e))?;
    }
    if access == RestAccess::RecentSession && !session.is_recent() {
        let minutes = session::RECENT_SIGN_IN_SECS / 60;
        let error = GatewayError::forbidden(format!(
            "sign in again: this change needs a sign-in within the last {minutes} minutes"
        ));
        return Err(envelope::error(&error));
    }
    Ok(session.user.id)
}

/// The signed-in user and the CSRF token a script sends back on writes.
pub(crate) async fn session(State(state): State<AppState>, headers: HeaderMap) -> EnvelopeResult {
    let Some(session) = session::current(&state, &headers).await? else {
        return Err(GatewayError::unauthenticated("sign in first: no valid session").into());
    };
    Ok(Envelope::ok(json!({ "user": doc::user(&session.user), "csrf_token": session.csrf_token })))
}

/// The JSON body of a create or update call.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppBody {
    name: Option<String>,
    description: Option<String>,
    homepage_url: Option<String>,
    logo_url: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    client_type: Option<String>,
    /// `grant_type` values; the registry checks them.
    grant_types: Option<Vec<String>>,
    id_token_signed_response_alg: Option<String>,
    require_pushed_authorization_requests: Option<bool>,
    dpop_bound_access_tokens: Option<bool>,
}

fn parse_body(body: &Bytes) -> Result<AppBody, GatewayError> {
    super::extract::json_body(body)
}

fn input(body: AppBody) -> Result<AppInput, GatewayError> {
    let public = match body.client_type.as_deref() {
        None | Some("confidential") => false,
        Some("public") => true,
        Some(_) => return Err(GatewayError::bad_request("client_type: must be confidential or public")),
    };
    Ok(AppInput {
        name: body.name,
        description: body.description,
        homepage_url: body.homepage_url,
        logo_url: body.logo_url,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        scopes: body.scopes,
        public,
        grant_types: body.grant_types,
        device: None,
        id_token_signed_response_alg: body.id_token_signed_response_alg,
        require_pushed_authorization_requests: body.require_pushed_authorization_requests,
        dpop_bound_access_tokens: body.dpop_bound_access_tokens,
    })
}

pub(crate) async fn list_applications(State(state): State<AppState>, ApiCaller(user_id): ApiCaller) -> EnvelopeResult {
    let list = apps::list(&state, &user_id).await?;
    Ok(Envelope::ok(Value::Array(list.iter().map(doc::application).collect())))
}

pub(crate) async fn register_application(
    State(state): State<AppState>,
    ApiCaller(user_id): ApiCaller,
    body: Bytes,
) -> EnvelopeResult {
    let input = input(parse_body(&body)?)?;
    let (app, secret) = apps::register(&state, &user_id, input).await?;
    let mut data = doc::application(&app);
    if !secret.is_empty()
        && let Some(map) = data.as_object_mut()
    {
        map.insert("client_secret".to_owned(), json!(secret));
    }
    Ok(Envelope::created(data))
}

pub(crate) async fn get_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    Ok(Envelope::ok(doc::application(&apps::get(&state, &user_id, &client_id).await?)))
}

pub(crate) async fn update_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    ApiCaller(user_id): ApiCaller,
    body: Bytes,
) -> EnvelopeResult {
    let parsed = parse_body(&body)?;
    if parsed.client_type.is_some() {
        return Err(GatewayError::bad_request("client_type: cannot be changed after registration").into());
    }
    let app = apps::update(&state, &user_id, &client_id, input(parsed)?).await?;
    Ok(Envelope::ok(doc::application(&app)))
}

pub(crate) async fn delete_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    apps::delete(&state, &user_id, &client_id).await?;
    Ok(Envelope::ok(Value::Null))
}

pub(crate) async fn create_secret(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    let (info, secret) = apps::create_secret(&state, &user_id, &client_id).await?;
    let mut data = doc::secret(&info);
    if let Some(map) = data.as_object_mut() {
        map.insert("client_secret".to_owned(), json!(secret));
    }
    Ok(Envelope::created(data))
}

pub(crate) async fn delete_secret(
    State(state): State<AppState>,
    Path((client_id, secret_id)): Path<(String, String)>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    apps::delete_secret(&state, &user_id, &client_id, &secret_id).await?;
    Ok(Envelope::ok(Value::Null))
}

pub(crate) async fn list_authorizations(
    State(state): State<AppState>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    let grants = apps::grants(&state, &user_id).await?;
    Ok(Envelope::ok(Value::Array(grants.iter().map(doc::grant).collect())))
}

/// `GET /api/user/security-log`: the caller's own Security log.
pub(crate) async fn security_log(State(state): State<AppState>, ApiCaller(user_id): ApiCaller) -> EnvelopeResult {
    let events = apps::security_log(&state, &user_id).await?;
    Ok(Envelope::ok(Value::Array(events.iter().map(doc::audit_event).collect())))
}

/// `GET /api/user/sessions`: where the caller's account is signed in (the
/// session calling marked `current`). Sessions only: a token never lists them.
pub(crate) async fn sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    let current = session::cookie(&headers, session::session_cookie(&state)).unwrap_or_default();
    let sessions = state.clients.authorization().sessions(&user_id, &current).await.map_err(GatewayError::from)?;
    Ok(Envelope::ok(Value::Array(
        sessions
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "created_at": s.created_at,
                    "last_seen_at": s.last_seen_at,
                    "expires_at": s.expires_at,
                    "address": s.address,
                    "user_agent": s.user_agent,
                    "amr": s.amr,
                    "current": s.current,
                })
            })
            .collect(),
    )))
}

pub(crate) async fn revoke_authorization(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    apps::revoke(&state, &user_id, &client_id).await?;
    Ok(Envelope::ok(Value::Null))
}
