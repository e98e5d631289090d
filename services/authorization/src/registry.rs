//! What the authorization service asks of the registry.

use gatehouse_client::Upstream;
use gatehouse_oauth::authorize::ClientPolicy;
use gatehouse_oauth::{ClientId, ClientType, GrantType, RedirectUri, Scope, ScopeSet};
use gatehouse_proto::convert::{client_type_from_pb, grant_type_from_pb};
use gatehouse_proto::pb::authorization::v1::ApplicationSummary;
use gatehouse_proto::pb::common::v1 as common;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use tonic::Code;

use crate::error::{AuthzError, AuthzResult};

/// A registry client over a shared channel.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    channel: Upstream,
}

impl Registry {
    pub(crate) fn new(channel: Upstream) -> Self {
        Self { channel }
    }

    fn client(&self) -> RegistryServiceClient<Upstream> {
        RegistryServiceClient::new(self.channel.clone())
    }

    /// The application, or `None` when it does not exist.
    pub(crate) async fn application(&self, client_id: &str) -> AuthzResult<Option<pb::Application>> {
        match self
            .client()
            .get_application(pb::GetApplicationRequest {
                client_id: client_id.to_owned(),
                acting_owner_id: String::new(),
            })
            .await
        {
            Ok(response) => Ok(response.into_inner().application),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(AuthzError::Registry(status)),
        }
    }

    pub(crate) async fn verify_password(&self, username: &str, password: &str) -> AuthzResult<Option<common::User>> {
        let request = pb::VerifyPasswordRequest { username: username.to_owned(), password: password.to_owned() };
        let response = self.client().verify_password(request).await.map_err(AuthzError::Registry)?.into_inner();
        Ok(response.user.filter(|_| response.verified))
    }

    pub(crate) async fn scopes(&self) -> AuthzResult<Vec<common::ScopeDescription>> {
        let response = self.client().list_scopes(pb::ListScopesRequest {}).await.map_err(AuthzError::Registry)?;
        Ok(response.into_inner().scopes)
    }
}

/// The application as the authorization rules see it.
pub(crate) fn client_policy(app: &pb::Application) -> Option<ClientPolicy> {
    Some(ClientPolicy {
        client_id: ClientId::parse(&app.client_id)?,
        client_type: client_type_from_pb(app.client_type).ok().flatten().unwrap_or(ClientType::Confidential),
        redirect_uris: app.redirect_uris.iter().cloned().map(RedirectUri::from_stored).collect(),
        allows_authorization_code: app
            .grant_types
            .iter()
            .any(|g| grant_type_from_pb(*g) == Ok(GrantType::AuthorizationCode)),
        scopes: ScopeSet::from_scopes(app.scopes.iter().filter_map(|s| Scope::parse(s))),
    })
}

pub(crate) fn summary(app: &pb::Application) -> ApplicationSummary {
    ApplicationSummary {
        client_id: app.client_id.clone(),
        name: app.name.clone(),
        description: app.description.clone(),
        homepage_url: app.homepage_url.clone(),
        logo_url: app.logo_url.clone(),
    }
}
