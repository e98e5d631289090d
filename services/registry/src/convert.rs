//! Registry domain types to and from their wire messages.

use gatehouse_oauth::{ClientId, RedirectUri};
use gatehouse_proto::pb::common::v1 as common;
use gatehouse_proto::pb::registry::v1 as pb;

use crate::model::{
    Application, ClientSecretInfo, CredentialInfo, InitialAccessTokenInfo, ResourceServer, ResourceServerPatch,
};

impl From<ClientSecretInfo> for pb::ClientSecretInfo {
    fn from(info: ClientSecretInfo) -> Self {
        Self {
            id: info.id,
            prefix: info.prefix,
            created_at: info.created_at,
            last_used_at: info.last_used_at.unwrap_or(0),
        }
    }
}

impl From<Application> for pb::Application {
    fn from(app: Application) -> Self {
        Self {
            client_id: app.client_id.into_string(),
            owner_id: app.owner_id,
            name: app.name,
            description: app.description,
            homepage_url: app.homepage_url,
            logo_url: app.logo_url,
            redirect_uris: app.redirect_uris.iter().map(RedirectUri::as_str).map(str::to_owned).collect(),
            client_type: common::ClientType::from(app.client_type) as i32,
            grant_types: grant_types_to_pb(&app.grant_types),
            scopes: app.scopes.to_strings(),
            secrets: app.secrets.into_iter().map(Into::into).collect(),
            created_at: app.created_at,
            updated_at: app.updated_at,
            post_logout_redirect_uris: app
                .post_logout_redirect_uris
                .iter()
                .map(RedirectUri::as_str)
                .map(str::to_owned)
                .collect(),
            registration: app.registration.as_str().to_owned(),
            token_endpoint_auth_method: app.auth_method.as_str().to_owned(),
            application_type: app.application_type.as_str().to_owned(),
            jwks: app.keys.jwks().to_owned(),
            jwks_uri: app.keys.jwks_uri().to_owned(),
            extras: Some(app.extras.into()),
            id_token_signed_response_alg: app.id_token_alg.as_str().to_owned(),
            require_pushed_authorization_requests: app.requirements.pushed_authorization_requests,
            dpop_bound_access_tokens: app.requirements.dpop_bound_access_tokens,
        }
    }
}

impl From<CredentialInfo> for pb::InternalCredential {
    fn from(info: CredentialInfo) -> Self {
        Self {
            id: info.id,
            name: info.name,
            role: info.role.as_str().to_owned(),
            created_at: info.created_at,
            expires_at: info.expires_at.unwrap_or(0),
            revoked_at: info.revoked_at.unwrap_or(0),
            created_by: info.created_by,
        }
    }
}

impl From<InitialAccessTokenInfo> for pb::InitialAccessToken {
    fn from(info: InitialAccessTokenInfo) -> Self {
        Self {
            id: info.id,
            description: info.description,
            created_at: info.created_at,
            expires_at: info.expires_at.unwrap_or(0),
        }
    }
}

impl From<ResourceServer> for pb::ResourceServer {
    fn from(server: ResourceServer) -> Self {
        Self {
            id: server.id,
            owner_id: server.owner_id,
            name: server.name,
            identifier: server.identifier.into_string(),
            scopes: server.scopes.to_strings(),
            token_format: server.token_format.as_str().to_owned(),
            allowed_client_ids: server.allowed_client_ids.into_iter().map(ClientId::into_string).collect(),
            any_client: server.any_client,
            introspection_client_id: server.introspection_client_id.map(ClientId::into_string).unwrap_or_default(),
            application_tokens: server.application_tokens,
            created_at: server.created_at,
            updated_at: server.updated_at,
        }
    }
}

impl From<pb::UpdateResourceServerRequest> for ResourceServerPatch {
    fn from(request: pb::UpdateResourceServerRequest) -> Self {
        Self {
            acting_owner_id: non_empty(request.acting_owner_id),
            name: request.name,
            scopes: request.scopes.map(|list| list.values),
            token_format: request.token_format,
            allowed_client_ids: request.allowed_client_ids.map(|list| list.values),
            any_client: request.any_client,
            introspection_client_id: request.introspection_client_id,
            application_tokens: request.application_tokens,
        }
    }
}

use gatehouse_proto::convert::{client_type_from_pb, grant_types_from_pb, grant_types_to_pb};

use crate::error::RegistryError;
use crate::model::{ApplicationPatch, NewApplication};

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

impl TryFrom<pb::RegisterApplicationRequest> for NewApplication {
    type Error = RegistryError;

    fn try_from(request: pb::RegisterApplicationRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            owner_id: request.owner_id,
            name: request.name,
            description: request.description,
            homepage_url: request.homepage_url,
            logo_url: request.logo_url,
            redirect_uris: request.redirect_uris,
            client_type: client_type_from_pb(request.client_type)
                .map_err(|e| RegistryError::invalid("client_type", e))?,
            grant_types: grant_types_from_pb(&request.grant_types)
                .map_err(|e| RegistryError::invalid("grant_types", e))?,
            scopes: request.scopes,
            post_logout_redirect_uris: request.post_logout_redirect_uris,
            id_token_alg: id_token_alg(&request.id_token_signed_response_alg)?,
            requirements: gatehouse_oauth::ClientRequirements {
                pushed_authorization_requests: request.require_pushed_authorization_requests,
                dpop_bound_access_tokens: request.dpop_bound_access_tokens,
            },
        })
    }
}

impl TryFrom<pb::UpdateApplicationRequest> for ApplicationPatch {
    type Error = RegistryError;

    fn try_from(request: pb::UpdateApplicationRequest) -> Result<Self, Self::Error> {
        let grant_types = request
            .grant_types
            .map(|list| grant_types_from_pb(&list.values))
            .transpose()
            .map_err(|e| RegistryError::invalid("grant_types", e))?;
        Ok(Self {
            acting_owner_id: non_empty(request.acting_owner_id),
            name: request.name,
            description: request.description,
            homepage_url: request.homepage_url,
            logo_url: request.logo_url,
            redirect_uris: request.redirect_uris.map(|list| list.values),
            grant_types,
            scopes: request.scopes.map(|list| list.values),
            post_logout_redirect_uris: request.post_logout_redirect_uris.map(|list| list.values),
            id_token_alg: request.id_token_signed_response_alg.as_deref().map(id_token_alg).transpose()?,
            require_pushed_authorization_requests: request.require_pushed_authorization_requests,
            dpop_bound_access_tokens: request.dpop_bound_access_tokens,
        })
    }
}

/// `id_token_signed_response_alg` as sent ("" is the default, RS256).
pub(crate) fn id_token_alg(value: &str) -> Result<gatehouse_oauth::SigningAlg, RegistryError> {
    gatehouse_oauth::SigningAlg::registered(value)
        .ok_or_else(|| RegistryError::invalid("id_token_signed_response_alg", "must be RS256 or ES256"))
}

/// An empty `acting_owner_id` means "no ownership check" (operator CLI).
pub(crate) fn acting_owner(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}
