//! What the token service asks of the registry and the authorization service.

use gatehouse_client::Upstream;
use gatehouse_oauth::{ClientType, GrantType, OAuthError, Scope, ScopeSet};
use gatehouse_proto::convert::{client_type_from_pb, grant_type_from_pb};
use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::pb::authorization::v1::{RedeemCodeRequest, RedeemCodeResponse};
use gatehouse_proto::pb::registry::v1::AuthenticateClientRequest;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_proto::pb::token::v1::ClientCredentials;
use gatehouse_proto::status::{decode_oauth, decode_reason, reason};
use tonic::Status;

use crate::error::{TokenError, TokenResult};

/// An authenticated client, as the token rules need it.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) client_type: ClientType,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) scopes: ScopeSet,
}

/// What RedeemCode answered.
#[derive(Debug)]
pub(crate) enum Redeemed {
    Granted(RedeemCodeResponse),
    /// The code was used before: the first redemption's code id.
    Replayed {
        code_id: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Clients {
    registry: Upstream,
    authorization: Upstream,
}

/// A status from another service: its OAuth error if it carries one (the
/// caller's fault), otherwise an upstream failure.
fn upstream(service: &'static str, status: Status) -> TokenError {
    match decode_oauth(&status) {
        Some(oauth) => TokenError::OAuth(oauth),
        None => TokenError::Upstream { service, status },
    }
}

impl Clients {
    pub(crate) fn new(registry: Upstream, authorization: Upstream) -> Self {
        Self { registry, authorization }
    }

    /// Authenticates the client (RFC 6749 §2.3); every failure is `invalid_client`.
    pub(crate) async fn authenticate(&self, credentials: Option<&ClientCredentials>) -> TokenResult<Client> {
        let Some(credentials) = credentials.filter(|c| !c.client_id.is_empty()) else {
            return Err(OAuthError::invalid_client("client authentication is missing").into());
        };
        let request = AuthenticateClientRequest {
            client_id: credentials.client_id.clone(),
            client_secret: credentials.client_secret.clone(),
        };
        let mut registry = RegistryServiceClient::new(self.registry.clone());
        let app = registry
            .authenticate_client(request)
            .await
            .map_err(|status| upstream("registry", status))?
            .into_inner()
            .application
            .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
        Ok(Client {
            client_type: client_type_from_pb(app.client_type).ok().flatten().unwrap_or(ClientType::Confidential),
            grant_types: app.grant_types.iter().filter_map(|g| grant_type_from_pb(*g).ok()).collect(),
            scopes: ScopeSet::from_scopes(app.scopes.iter().filter_map(|s| Scope::parse(s))),
            client_id: app.client_id,
        })
    }

    pub(crate) async fn redeem(&self, request: RedeemCodeRequest) -> TokenResult<Redeemed> {
        let mut authorization = AuthorizationServiceClient::new(self.authorization.clone());
        match authorization.redeem_code(request).await {
            Ok(response) => Ok(Redeemed::Granted(response.into_inner())),
            Err(status) => {
                let replayed = decode_reason(&status).and_then(|(_, mut meta)| meta.remove(reason::REPLAYED_CODE_ID));
                match replayed {
                    Some(code_id) => Ok(Redeemed::Replayed { code_id }),
                    None => Err(upstream("authorization", status)),
                }
            }
        }
    }
}
