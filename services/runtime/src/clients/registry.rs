//! The typed client of the registry that the authorization and token
//! services share: it speaks protobuf to the registry and domain types to
//! its callers, so that no use case sees a wire message.

use gatehouse_oauth::{
    ClientAuthMethod, ClientAuthentication, Password, RegisteredClient, Resource, ResourceId, ScopeSet, TokenFormat,
};
use gatehouse_proto::pb::common::v1::ScopeDescription;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_upstream::Upstream;
use tonic::{Code, Status};

pub use gatehouse_proto::convert::Account;

/// An application as the authorization pages show it, with its OAuth rules.
#[derive(Debug, Clone)]
pub struct ClientApplication {
    pub client: RegisteredClient,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub homepage_url: String,
    pub logo_url: String,
}

/// A registry client over a shared (balanced, health-checked) channel.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    channel: Upstream,
}

/// A registry answer that does not convert: the registry's bug, not the caller's.
fn malformed(reason: impl std::fmt::Display) -> Status {
    Status::internal(format!("the registry's answer is malformed: {reason}"))
}

impl TryFrom<pb::Application> for ClientApplication {
    type Error = Status;

    fn try_from(app: pb::Application) -> Result<Self, Status> {
        Ok(Self {
            client: RegisteredClient::try_from(&app).map_err(malformed)?,
            owner_id: app.owner_id,
            name: app.name,
            description: app.description,
            homepage_url: app.homepage_url,
            logo_url: app.logo_url,
        })
    }
}

impl RegistryClient {
    pub fn new(channel: Upstream) -> Self {
        Self { channel }
    }

    fn rpc(&self) -> RegistryServiceClient<Upstream> {
        RegistryServiceClient::new(self.channel.clone())
    }

    /// The role and name of an internal credential; `None` when the
    /// registry does not know it (or it expired, or was revoked).
    pub async fn authenticate_credential(
        &self,
        credential: &str,
    ) -> Result<Option<(crate::access::Role, String)>, Status> {
        let request = pb::AuthenticateCredentialRequest { credential: credential.to_owned() };
        match self.rpc().authenticate_credential(request).await {
            Ok(response) => {
                let info = response.into_inner().credential.ok_or_else(|| malformed("no credential"))?;
                let role = crate::access::Role::parse(&info.role).ok_or_else(|| malformed("unknown role"))?;
                Ok(Some((role, format!("{} ({})", info.name, info.id))))
            }
            Err(status) if status.code() == Code::Unauthenticated => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Checks a client's credentials (RFC 6749 §2.3). A failure is the
    /// registry's status: `UNAUTHENTICATED` with `invalid_client`.
    /// `address`: where the client called from (empty when not known).
    pub async fn authenticate_client(
        &self,
        auth: &ClientAuthentication,
        address: &str,
    ) -> Result<RegisteredClient, Status> {
        // A private_key_jwt assertion travels in the presented secret's place.
        let (client_secret, client_assertion) = match auth.method {
            ClientAuthMethod::PrivateKeyJwt => (String::new(), auth.secret.expose().to_owned()),
            _ => (auth.secret.expose().to_owned(), String::new()),
        };
        let request = pb::AuthenticateClientRequest {
            client_id: auth.client_id.clone(),
            client_secret,
            client_assertion,
            client_address: address.to_owned(),
        };
        let response = self.rpc().authenticate_client(request).await?.into_inner();
        let app = response.application.ok_or_else(|| malformed("no application"))?;
        let mut client = RegisteredClient::try_from(&app).map_err(malformed)?;
        client.introspects_for = response.introspects_for;
        Ok(client)
    }

    /// The resource servers `client_id` asks for (RFC 8707), in order. A
    /// refusal is the registry's status: `INVALID_ARGUMENT` with `invalid_target`.
    /// `application_token`: the token will have no user (client_credentials).
    pub async fn resolve_resources(
        &self,
        client_id: &str,
        resources: &[ResourceId],
        application_token: bool,
    ) -> Result<Vec<Resource>, Status> {
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let request = pb::ResolveResourcesRequest {
            client_id: client_id.to_owned(),
            identifiers: resources.iter().map(|r| r.as_str().to_owned()).collect(),
            application_token,
        };
        let servers = self.rpc().resolve_resources(request).await?.into_inner().resource_servers;
        servers
            .into_iter()
            .map(|server| {
                Ok(Resource {
                    id: ResourceId::from_stored(server.identifier),
                    scopes: ScopeSet::parse(&server.scopes.join(" ")).map_err(|_| malformed("a resource's scopes"))?,
                    format: TokenFormat::parse(&server.token_format).ok_or_else(|| malformed("a token format"))?,
                })
            })
            .collect()
    }

    /// Revokes a registration access token (RFC 7592) by value: the client
    /// it belonged to, `None` when no registration holds it.
    pub async fn revoke_registration_token(&self, token: &str) -> Result<Option<String>, Status> {
        let request = pb::RevokeRegistrationTokenRequest { token: token.to_owned() };
        let answer = self.rpc().revoke_registration_token(request).await?.into_inner();
        Ok(answer.found.then_some(answer.client_id))
    }

    /// The application, or `None` when it does not exist.
    pub async fn application(&self, client_id: &str) -> Result<Option<ClientApplication>, Status> {
        self.application_for(client_id, "").await
    }

    /// As [`RegistryClient::application`], for a request from `address`.
    pub async fn application_for(&self, client_id: &str, address: &str) -> Result<Option<ClientApplication>, Status> {
        let request = pb::GetApplicationRequest {
            client_id: client_id.to_owned(),
            acting_owner_id: String::new(),
            client_address: address.to_owned(),
        };
        match self.rpc().get_application(request).await {
            Ok(response) => response.into_inner().application.map(ClientApplication::try_from).transpose(),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// The user when the password is theirs; `None` otherwise (unknown user
    /// and wrong password alike).
    pub async fn verify_password(&self, username: &str, password: &Password) -> Result<Option<Account>, Status> {
        let request =
            pb::VerifyPasswordRequest { username: username.to_owned(), password: password.expose().to_owned() };
        let response = self.rpc().verify_password(request).await?.into_inner();
        Ok(response.user.filter(|_| response.verified).map(Account::from))
    }

    /// The user, or `None` when there is no such user.
    pub async fn user(&self, id: &str) -> Result<Option<Account>, Status> {
        let lookup = Some(pb::get_user_request::Lookup::Id(id.to_owned()));
        match self.rpc().get_user(pb::GetUserRequest { lookup, visible_to_scopes: None }).await {
            Ok(response) => Ok(response.into_inner().user.map(Account::from)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    pub async fn scopes(&self) -> Result<Vec<ScopeDescription>, Status> {
        Ok(self.rpc().list_scopes(pb::ListScopesRequest {}).await?.into_inner().scopes)
    }
}

/// The guard of the authorization and token services: internal credentials
/// checked by the registry (which owns them), behind the verification cache.
#[derive(Debug, Clone)]
pub struct RegistryCredentials(pub RegistryClient);

#[tonic::async_trait]
impl crate::access::Verifier for RegistryCredentials {
    async fn verify(&self, bearer: &str) -> Result<Option<crate::access::Caller>, crate::access::Unavailable> {
        if !gatehouse_oauth::InternalCredential::is_well_formed(bearer) {
            return Ok(None);
        }
        match self.0.authenticate_credential(bearer).await {
            Ok(found) => Ok(found.map(|(role, name)| crate::access::Caller {
                role,
                name,
                mechanism: crate::access::Mechanism::Credential,
                client_id: None,
                audiences: None,
                remote: None,
            })),
            Err(status) => Err(crate::access::Unavailable(format!("registry: {}", status.message()))),
        }
    }
}

impl RegistryCredentials {
    /// This verifier behind the verification cache.
    pub fn verifier(client: RegistryClient) -> std::sync::Arc<dyn crate::access::Verifier> {
        crate::access::cached(std::sync::Arc::new(Self(client)))
    }
}
