//! The application-management and authorized-applications calls shared by
//! the pages and the REST API: one place where each RPC is made.

use gatehouse_proto::pb::authorization::v1::{Grant, ListGrantsRequest};
use gatehouse_proto::pb::common::v1::{AuditEvent, ClientType, ListAuditEventsRequest};
use gatehouse_proto::pb::registry::v1 as pb;

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
    let request = pb::ListApplicationsRequest { owner_id: owner_id.to_owned() };
    Ok(state.clients.registry().list_applications(request).await?.into_inner().applications)
}

pub(crate) async fn get(state: &AppState, owner_id: &str, client_id: &str) -> Result<pb::Application> {
    let request = pb::GetApplicationRequest {
        client_id: client_id.to_owned(),
        acting_owner_id: owner_id.to_owned(),
        client_address: String::new(),
    };
    let app = state.clients.registry().get_application(request).await?.into_inner().application;
    app.ok_or_else(|| GatewayError::not_found("application not found"))
}

/// Registers an application; the secret is empty for public clients.
pub(crate) async fn register(state: &AppState, owner_id: &str, input: AppInput) -> Result<(pb::Application, String)> {
    let client_type = if input.public { ClientType::Public } else { ClientType::Confidential };
    let request = pb::RegisterApplicationRequest {
        owner_id: owner_id.to_owned(),
        name: input.name.unwrap_or_default(),
        description: input.description.unwrap_or_default(),
        homepage_url: input.homepage_url.unwrap_or_default(),
        logo_url: input.logo_url.unwrap_or_default(),
        redirect_uris: input.redirect_uris.unwrap_or_default(),
        client_type: client_type as i32,
        grant_types: match (input.grant_types, input.device) {
            (Some(grants), _) => grants,
            (None, Some(true)) => with_device(GrantType::DEFAULT.iter().map(|g| g.as_str().to_owned()).collect(), true),
            // The registry's default.
            (None, _) => Vec::new(),
        },
        scopes: input.scopes.unwrap_or_default(),
        post_logout_redirect_uris: input.post_logout_redirect_uris.unwrap_or_default(),
    };
    let response = state.clients.registry().register_application(request).await?.into_inner();
    let app = response.application.ok_or_else(|| GatewayError::not_found("application not found"))?;
    Ok((app, response.client_secret))
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
    let request = pb::UpdateApplicationRequest {
        client_id: client_id.to_owned(),
        acting_owner_id: owner_id.to_owned(),
        name: input.name,
        description: input.description,
        homepage_url: input.homepage_url,
        logo_url: input.logo_url,
        redirect_uris: input.redirect_uris.map(|values| pb::StringList { values }),
        grant_types: grant_types.map(|values| pb::GrantTypeList { values }),
        scopes: input.scopes.map(|values| pb::StringList { values }),
        post_logout_redirect_uris: input.post_logout_redirect_uris.map(|values| pb::StringList { values }),
    };
    let app = state.clients.registry().update_application(request).await?.into_inner().application;
    app.ok_or_else(|| GatewayError::not_found("application not found"))
}

pub(crate) async fn delete(state: &AppState, owner_id: &str, client_id: &str) -> Result<()> {
    let request =
        pb::DeleteApplicationRequest { client_id: client_id.to_owned(), acting_owner_id: owner_id.to_owned() };
    state.clients.registry().delete_application(request).await?;
    Ok(())
}

/// Creates a secret: (its metadata, the secret in clear text, shown once).
pub(crate) async fn create_secret(
    state: &AppState,
    owner_id: &str,
    client_id: &str,
) -> Result<(pb::ClientSecretInfo, String)> {
    let request =
        pb::RotateClientSecretRequest { client_id: client_id.to_owned(), acting_owner_id: owner_id.to_owned() };
    let response = state.clients.registry().rotate_client_secret(request).await?.into_inner();
    Ok((response.secret.unwrap_or_default(), response.client_secret))
}

pub(crate) async fn delete_secret(state: &AppState, owner_id: &str, client_id: &str, secret_id: &str) -> Result<()> {
    let request = pb::DeleteClientSecretRequest {
        client_id: client_id.to_owned(),
        secret_id: secret_id.to_owned(),
        acting_owner_id: owner_id.to_owned(),
    };
    state.clients.registry().delete_client_secret(request).await?;
    Ok(())
}

pub(crate) async fn grants(state: &AppState, user_id: &str) -> Result<Vec<Grant>> {
    let request = ListGrantsRequest { user_id: user_id.to_owned() };
    Ok(state.clients.authorization().list_grants(request).await?.into_inner().grants)
}

/// Revokes the user's authorization of an application (its consent and
/// tokens, in one registry call). Safe to retry.
pub(crate) async fn revoke(state: &AppState, user_id: &str, client_id: &str) -> Result<()> {
    let request = pb::RevokeAuthorizationRequest { user_id: user_id.to_owned(), client_id: client_id.to_owned() };
    state.clients.registry().revoke_authorization(request).await?;
    Ok(())
}

/// The events of every service's audit trail that concern `user_id`
/// (its Security log), newest first, at most 100.
pub(crate) async fn security_log(state: &AppState, user_id: &str) -> Result<Vec<AuditEvent>> {
    let request = ListAuditEventsRequest { subject_user_id: user_id.to_owned(), limit: 100, ..Default::default() };
    let mut events = state.clients.registry().list_audit_events(request.clone()).await?.into_inner().events;
    events.extend(state.clients.authorization().list_audit_events(request.clone()).await?.into_inner().events);
    events.extend(state.clients.token().list_audit_events(request).await?.into_inner().events);
    events.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.seq.cmp(&a.seq)));
    events.truncate(100);
    Ok(events)
}

/// Callback URLs typed one per line (blank lines ignored).
pub(crate) fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}
