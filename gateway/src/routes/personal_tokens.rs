//! Personal access tokens over HTTP: the account page, the REST API (in the
//! seed's envelope) and the operator's revoke-by-value endpoint for secret
//! scanners. The token service owns them; this translates.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use gatehouse_proto::pb::token::v1 as pb;
use gatehouse_runtime::clients::token::NewPersonalToken;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::ApiCaller;
use super::extract::{FormPost, PageUser, RecentFormPost};
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::envelope::{Envelope, EnvelopeResult};
use crate::render::html::{ACCOUNT_HOME, OnPage, PageResult, Viewer, page, respond};
use crate::render::json::personal_token as info_json;
use crate::render::{envelope, pages, redirect};
use crate::session::Session;

type Result<T> = std::result::Result<T, GatewayError>;

const DAY: i64 = 24 * 60 * 60;

async fn list(state: &AppState, user_id: &str) -> Result<Vec<pb::PersonalTokenInfo>> {
    Ok(state.clients.token().list_personal_tokens(user_id).await?)
}

async fn create(
    state: &AppState,
    user: (&str, &str),
    name: String,
    scopes: Vec<String>,
    days: i64,
) -> Result<pb::PersonalTokenSecret> {
    let new = NewPersonalToken {
        user_id: user.0.to_owned(),
        username: user.1.to_owned(),
        name,
        scopes,
        expires_in: days.saturating_mul(DAY),
    };
    Ok(state.clients.token().create_personal_token(new).await?)
}

async fn regenerate(state: &AppState, user_id: &str, id: &str, days: i64) -> Result<pb::PersonalTokenSecret> {
    Ok(state.clients.token().regenerate_personal_token(user_id, id, days.saturating_mul(DAY)).await?)
}

async fn revoke(state: &AppState, user_id: &str, id: &str) -> Result<u64> {
    Ok(state.clients.token().revoke_personal_tokens(user_id, id).await?)
}

// ---- the account page ----

async fn tokens_page(
    state: &AppState,
    lang: Lang,
    session: &Session,
    status: StatusCode,
    fresh: Option<&str>,
    error: Option<&str>,
) -> PageResult {
    let tokens = list(state, &session.user.id).await.for_owner(lang, ACCOUNT_HOME)?;
    let catalogue = state.clients.registry().scopes().await.for_owner(lang, ACCOUNT_HOME)?;
    let body = pages::personal_tokens(lang, &session.csrf_token, &tokens, &catalogue, fresh, error);
    let title = lang.msg("personal-access-tokens");
    Ok(respond(status, page(lang, &title, Some(Viewer { user: &session.user }), &body)))
}

pub(crate) async fn page_list(State(state): State<AppState>, PageUser { session, lang }: PageUser) -> PageResult {
    tokens_page(&state, lang, &session, StatusCode::OK, None, None).await
}

fn days(form: &super::form::FormData) -> i64 {
    form.get("expires_in_days").and_then(|d| d.parse().ok()).unwrap_or(0)
}

pub(crate) async fn page_create(
    State(state): State<AppState>,
    RecentFormPost(FormPost { session, lang, form }): RecentFormPost,
) -> PageResult {
    let scopes: Vec<String> = form.0.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
    let user = (session.user.id.as_str(), session.user.username.as_str());
    match create(&state, user, form.text("name"), scopes, days(&form)).await {
        Ok(created) => tokens_page(&state, lang, &session, StatusCode::CREATED, Some(&created.token), None).await,
        // A bad field is shown on the form, with what was wrong.
        Err(error) if error.code == gatehouse_proto::ErrorCode::InvalidArgument => {
            tokens_page(&state, lang, &session, error.http_status(), None, Some(&error.message)).await
        }
        Err(error) => Err(error).for_owner(lang, ACCOUNT_HOME),
    }
}

pub(crate) async fn page_regenerate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RecentFormPost(FormPost { session, lang, form }): RecentFormPost,
) -> PageResult {
    let created = regenerate(&state, &session.user.id, &id, days(&form)).await.for_owner(lang, ACCOUNT_HOME)?;
    tokens_page(&state, lang, &session, StatusCode::OK, Some(&created.token), None).await
}

pub(crate) async fn page_revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormPost { session, lang, .. }: FormPost,
) -> PageResult {
    revoke(&state, &session.user.id, &id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(redirect("/account/tokens"))
}

// ---- the REST API ----

/// The JSON body of `POST /api/tokens` and `POST /api/tokens/{id}/regenerate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    name: Option<String>,
    scopes: Option<Vec<String>>,
    expires_in_days: Option<i64>,
}

fn body(bytes: &Bytes) -> Result<TokenBody> {
    if bytes.is_empty() {
        return Ok(TokenBody::default());
    }
    super::extract::json_body(bytes)
}

fn secret_json(created: &pb::PersonalTokenSecret) -> Value {
    let mut data = created.info.as_ref().map(info_json).unwrap_or_default();
    if let Some(map) = data.as_object_mut() {
        map.insert("token".to_owned(), json!(created.token));
    }
    data
}

pub(crate) async fn api_list(State(state): State<AppState>, ApiCaller(user_id): ApiCaller) -> EnvelopeResult {
    let tokens = list(&state, &user_id).await?;
    Ok(Envelope::ok(Value::Array(tokens.iter().map(info_json).collect())))
}

pub(crate) async fn api_create(
    State(state): State<AppState>,
    ApiCaller(user_id): ApiCaller,
    bytes: Bytes,
) -> EnvelopeResult {
    let body = body(&bytes)?;
    // The username is recorded with the token, as with every token of a user.
    let user =
        state.clients.registry().user(&user_id).await?.ok_or_else(|| GatewayError::not_found("user not found"))?;
    let (name, scopes, days) =
        (body.name.unwrap_or_default(), body.scopes.unwrap_or_default(), body.expires_in_days.unwrap_or(0));
    let created = create(&state, (&user_id, &user.username), name, scopes, days).await?;
    Ok(Envelope::created(secret_json(&created)))
}

pub(crate) async fn api_regenerate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiCaller(user_id): ApiCaller,
    bytes: Bytes,
) -> EnvelopeResult {
    let days = body(&bytes)?.expires_in_days.unwrap_or(0);
    let created = regenerate(&state, &user_id, &id, days).await?;
    Ok(Envelope::ok(secret_json(&created)))
}

pub(crate) async fn api_revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    revoke(&state, &user_id, &id).await?;
    Ok(Envelope::ok(Value::Null))
}

// ---- the operator's endpoint ----

/// `POST /admin/tokens/revoke`: revokes a leaked token by its value alone
/// (a secret scanner's report), authenticated by the operator token
/// (`GATEHOUSE_OPERATOR_TOKEN`, compared in constant time with its hash).
/// Answers 404 when no operator token is configured.
pub(crate) async fn operator_revoke(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> Response {
    let Some(expected) = state.config.operator_token_hash.as_ref() else {
        return envelope::error(&GatewayError::not_found("no such endpoint"));
    };
    let presented = super::credentials::bearer(&headers, None).ok().flatten().unwrap_or_default();
    if presented.is_empty() || !expected.verify(&presented) {
        return envelope::error(&GatewayError::unauthenticated("the operator token is missing or wrong"));
    }
    let token = match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) => value["token"].as_str().unwrap_or_default().to_owned(),
        Err(_) => {
            gatehouse_oauth::Params::from_form(&bytes).single("token").ok().flatten().unwrap_or_default().to_owned()
        }
    };
    if token.is_empty() {
        return envelope::error(&GatewayError::bad_request("token: required (JSON or form body)"));
    }
    match state.clients.token().revoke_token_by_value(&token).await {
        Ok(r) => {
            let user = if r.user_id.is_empty() { Value::Null } else { json!(r.user_id) };
            let client = if r.client_id.is_empty() { Value::Null } else { json!(r.client_id) };
            envelope::ok(json!({
                "found": r.found,
                "revoked_now": r.revoked_now,
                "token_type": r.token_type,
                "user_id": user,
                "client_id": client,
            }))
        }
        Err(status) => envelope::error(&GatewayError::from(status)),
    }
}
