//! Resource servers (RFC 8707) over HTTP: the account page and the REST API
//! (in the seed's envelope). The registry owns them; this translates.

use axum::body::Bytes;
use axum::extract::{Path, State};
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_runtime::clients::registry::{NewResourceServer, ResourceServerChanges};
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::api::ApiCaller;
use super::extract::{FormPost, PageUser};
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::envelope::{Envelope, EnvelopeResult};
use crate::render::html::{ACCOUNT_HOME, OnPage, PageResult, Viewer, page, respond};
use crate::render::json::resource_server as server_json;
use crate::render::{pages, redirect};
use crate::session::Session;

type Result<T> = std::result::Result<T, GatewayError>;

async fn list(state: &AppState, owner_id: &str) -> Result<Vec<pb::ResourceServer>> {
    Ok(state.clients.registry().list_resource_servers(owner_id).await?)
}

async fn delete(state: &AppState, owner_id: &str, id: &str) -> Result<()> {
    Ok(state.clients.registry().delete_resource_server(owner_id, id).await?)
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

// ---- the account page ----

async fn servers_page(
    state: &AppState,
    lang: Lang,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
) -> PageResult {
    let servers = list(state, &session.user.id).await.for_owner(lang, ACCOUNT_HOME)?;
    let body = pages::resource_servers(lang, &session.csrf_token, &servers, error);
    Ok(respond(status, page(lang, &lang.msg("resource-servers"), Some(Viewer { user: &session.user }), &body)))
}

pub(crate) async fn page_list(State(state): State<AppState>, PageUser { session, lang }: PageUser) -> PageResult {
    servers_page(&state, lang, &session, StatusCode::OK, None).await
}

pub(crate) async fn page_create(
    State(state): State<AppState>,
    FormPost { session, lang, form }: FormPost,
) -> PageResult {
    let new = NewResourceServer {
        owner_id: session.user.id.clone(),
        name: form.text("name"),
        identifier: form.text("identifier").trim().to_owned(),
        scopes: words(&form.text("scopes")),
        token_format: form.text("token_format"),
        allowed_client_ids: words(&form.text("allowed_client_ids")),
        any_client: form.get("any_client") == Some("1"),
        introspection_client_id: form.text("introspection_client_id").trim().to_owned(),
        application_tokens: form.get("application_tokens") == Some("1"),
    };
    match state.clients.registry().create_resource_server(new).await.map_err(GatewayError::from) {
        Ok(_) => Ok(redirect("/account/resource-servers")),
        Err(error)
            if matches!(
                error.code,
                gatehouse_proto::ErrorCode::InvalidArgument | gatehouse_proto::ErrorCode::AlreadyExists
            ) =>
        {
            servers_page(&state, lang, &session, error.http_status(), Some(&error.message)).await
        }
        Err(error) => Err(error).for_owner(lang, ACCOUNT_HOME),
    }
}

pub(crate) async fn page_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormPost { session, lang, .. }: FormPost,
) -> PageResult {
    delete(&state, &session.user.id, &id).await.for_owner(lang, ACCOUNT_HOME)?;
    Ok(redirect("/account/resource-servers"))
}

// ---- the REST API ----

/// The JSON body of a create or update call; on update, absent fields stay.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerBody {
    name: Option<String>,
    identifier: Option<String>,
    scopes: Option<Vec<String>>,
    token_format: Option<String>,
    allowed_client_ids: Option<Vec<String>>,
    any_client: Option<bool>,
    /// Admits tokens with no user (`client_credentials`); off by default.
    application_tokens: Option<bool>,
    /// `null` or `""` removes it on update.
    #[serde(default, deserialize_with = "nullable")]
    introspection_client_id: Option<Option<String>>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn nullable<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn body(bytes: &Bytes) -> Result<ServerBody> {
    super::extract::json_body(bytes)
}

pub(crate) async fn api_list(State(state): State<AppState>, ApiCaller(user_id): ApiCaller) -> EnvelopeResult {
    let servers = list(&state, &user_id).await?;
    Ok(Envelope::ok(Value::Array(servers.iter().map(server_json).collect())))
}

pub(crate) async fn api_create(
    State(state): State<AppState>,
    ApiCaller(user_id): ApiCaller,
    bytes: Bytes,
) -> EnvelopeResult {
    let body = body(&bytes)?;
    let new = NewResourceServer {
        owner_id: user_id,
        name: body.name.unwrap_or_default(),
        identifier: body.identifier.unwrap_or_default(),
        scopes: body.scopes.unwrap_or_default(),
        token_format: body.token_format.unwrap_or_default(),
        allowed_client_ids: body.allowed_client_ids.unwrap_or_default(),
        any_client: body.any_client.unwrap_or(false),
        introspection_client_id: body.introspection_client_id.flatten().unwrap_or_default(),
        application_tokens: body.application_tokens.unwrap_or(false),
    };
    let created = state.clients.registry().create_resource_server(new).await?;
    Ok(Envelope::created(server_json(&created)))
}

pub(crate) async fn api_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    let found = state.clients.registry().resource_server(&user_id, &id).await?;
    Ok(Envelope::ok(server_json(&found)))
}

pub(crate) async fn api_update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiCaller(user_id): ApiCaller,
    bytes: Bytes,
) -> EnvelopeResult {
    let body = body(&bytes)?;
    if body.identifier.is_some() {
        // The identifier is the audience of tokens already issued.
        return Err(GatewayError::bad_request("identifier: cannot be changed after registration").into());
    }
    let changes = ResourceServerChanges {
        name: body.name,
        scopes: body.scopes,
        token_format: body.token_format,
        allowed_client_ids: body.allowed_client_ids,
        any_client: body.any_client,
        introspection_client_id: body.introspection_client_id.map(Option::unwrap_or_default),
        application_tokens: body.application_tokens,
    };
    let updated = state.clients.registry().update_resource_server(&user_id, &id, changes).await?;
    Ok(Envelope::ok(server_json(&updated)))
}

pub(crate) async fn api_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiCaller(user_id): ApiCaller,
) -> EnvelopeResult {
    delete(&state, &user_id, &id).await?;
    Ok(Envelope::ok(Value::Null))
}
