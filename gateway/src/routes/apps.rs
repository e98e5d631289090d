//! The application-management and authorized-applications calls shared by
//! the pages and the REST API: one place where each RPC is made.

use gatehouse_proto::pb::authorization::v1::Grant;
use gatehouse_proto::pb::common::v1::AuditEvent;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_runtime::clients::AuditFilter;
use gatehouse_runtime::clients::registry::{ApplicationChanges, NewApplication};

use gatehouse_oauth::GrantType;

use crate::AppState;
use crate::error::GatewayError;

/// Application fields as a person or a REST client sent them.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppInput {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) homepage_url: Option<String>,
    pub(crate) logo_url: Option<String>,
    pub(crate) redirect_uris: Option<Vec<String>>,
    pub(crate) post_logout_redirect_uris: Option<Vec<String>>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) public: bool,
    /// `grant_type` values, as a REST client lists them.
    pub(crate) grant_types: Option<Vec<String>>,
    /// The page's "devices without a browser" box: the device grant on or
    /// off, the application's other grants kept.
    pub(crate) device: Option<bool>,
    /// `id_token_signed_response_alg` (RS256 or ES256); the registry checks it.
    pub(crate) id_token_signed_response_alg: Option<String>,
    /// RFC 9126 §6 / RFC 9449 §5.2 (REST API and dynamic registration).
    pub(crate) require_pushed_authorization_requests: Option<bool>,
    pub(crate) dpop_bound_access_tokens: Option<bool>,
}

/// `grants` with the device grant switched `on` or off.
fn with_device(mut grants: Vec<String>, on: bool) -> Vec<String> {
    let device = GrantType::DeviceCode.as_str();
    grants.retain(|g| g != device);
    if on {
        grants.push(device.to_owned());
    }
    grants
}

type Result<T> = std::result::Result<T, GatewayError>;

pub(crate) async fn list(state: &AppState, owner_id: &str) -> Result<Vec<pb::Application>> {
    Ok(state.clients.registry().list_applications(owner_id).await?)
}

pub(crate) async fn get(state: &AppState, owner_id: &str, client_id: &str) -> Result<pb::Application> {
    Ok(state.clients.registry().owned_application(owner_id, client_id).await?)
}

/// Registers an application; the secret is empty for public clients.
pub(crate) async fn register(state: &AppState, owner_id: &str, input: AppInput) -> Result<(pb::Application, String)> {
    let new = NewApplication {
        owner_id: owner_id.to_owned(),
        name: input.name.unwrap_or_default(),
        description: input.description.unwrap_or_default(),
        homepage_url: input.homepage_url.unwrap_or_default(),
        logo_url: input.logo_url.unwrap_or_default(),
        redirect_uris: input.redirect_uris.unwrap_or_default(),
        post_logout_redirect_uris: input.post_logout_redirect_uris.unwrap_or_default(),
        public: input.public,
        grant_types: match (input.grant_types, input.device) {
            (Some(grants), _) => grants,
            (None, Some(true)) => with_device(GrantType::DEFAULT.iter().map(|g| g.as_str().to_owned()).collect(), true),
            // The registry's default.
            (None, _) => Vec::new(),
        },
        scopes: input.scopes.unwrap_or_default(),
        id_token_signed_response_alg: input.id_token_signed_response_alg.unwrap_or_default(),
        require_pushed_authorization_requests: input.require_pushed_authorization_requests.unwrap_or_default(),
        dpop_bound_access_tokens: input.dpop_bound_access_tokens.unwrap_or_default(),
    };
    Ok(state.clients.registry().register_application(new).await?)
}

pub(crate) async fn update(
    state: &AppState,
    owner_id: &str,
    client_id: &str,
    input: AppInput,
) -> Result<pb::Application> {
    let grant_types = match (input.grant_types, input.device) {
        (Some(grants), _) => Some(grants),
        (None, Some(on)) => Some(with_device(get(state, owner_id, client_id).await?.grant_types, on)),
        (None, None) => None,
    };
    let changes = ApplicationChanges {
        name: input.name,
        description: input.description,
        homepage_url: input.homepage_url,
        logo_url: input.logo_url,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types,
        scopes: input.scopes,
        id_token_signed_response_alg: input.id_token_signed_response_alg,
        require_pushed_authorization_requests: input.require_pushed_authorization_requests,
        dpop_bound_access_tokens: input.dpop_bound_access_tokens,
    };
    Ok(state.clients.registry().update_application(owner_id, client_id, changes).await?)
}

pub(crate) async fn delete(state: &AppState, owner_id: &str, client_id: &str) -> Result<()> {
    Ok(state.clients.registry().delete_application(owner_id, client_id).await?)
}

/// Creates a secret: (its metadata, the secret in clear text, shown once).
pub(crate) async fn create_secret(
    state: &AppState,
    owner_id: &str,
    client_id: &str,
) -> Result<(pb::ClientSecretInfo, String)> {
    Ok(state.clients.registry().rotate_client_secret(owner_id, client_id).await?)
}

pub(crate) async fn delete_secret(state: &AppState, owner_id: &str, client_id: &str, secret_id: &str) -> Result<()> {
    Ok(state.clients.registry().delete_client_secret(owner_id, client_id, secret_id).await?)
}

pub(crate) async fn grants(state: &AppState, user_id: &str) -> Result<Vec<Grant>> {
    Ok(state.clients.authorization().list_grants(user_id).await?)
}

/// Revokes the user's authorization of an application (its consent and
/// tokens, in one registry call). Safe to retry.
pub(crate) async fn revoke(state: &AppState, user_id: &str, client_id: &str) -> Result<()> {
    state.clients.registry().revoke_authorization(user_id, client_id).await?;
    Ok(())
}

/// The events of every service's audit trail that concern `user_id`
/// (its Security log), newest first, at most 100.
pub(crate) async fn security_log(state: &AppState, user_id: &str) -> Result<Vec<AuditEvent>> {
    let filter = AuditFilter { subject_user_id: user_id.to_owned(), limit: 100, ..AuditFilter::default() };
    let mut events = state.clients.all().audit_events(&filter).await?;
    events.truncate(100);
    Ok(events)
}

/// Callback URLs typed one per line (blank lines ignored).
pub(crate) fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}
