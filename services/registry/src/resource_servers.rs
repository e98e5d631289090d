//! Resource servers (RFC 8707): registration, lookup, update, deletion, and
//! the one rule the other services ask about, which resources an
//! application may ask for ([`Registry::resolve_resources`]).

use gatehouse_oauth::{ClientId, ClientType, OAuthError, OAuthErrorCode, ResourceId};

use crate::config::ResourceServerPolicy;
use crate::error::{RegistryError, RegistryResult};
use crate::model::{NewResourceServer, ResourceServer, ResourceServerPatch};
use crate::service::Registry;
use crate::validate;

fn not_found(id: &str) -> RegistryError {
    RegistryError::NotFound(format!("resource server {id:?} not found"))
}

fn invalid_target(description: &'static str) -> RegistryError {
    OAuthError::new(OAuthErrorCode::InvalidTarget, description).into()
}

impl Registry {
    /// Registers a resource server for `input.owner_id`. Unless
    /// `by_operator`, the policy must let users register them. The
    /// identifier may not name Gatehouse itself nor any client (see
    /// [`Registry::claimable_identifier`]).
    pub async fn create_resource_server(
        &self,
        input: NewResourceServer,
        by_operator: bool,
    ) -> RegistryResult<ResourceServer> {
        if !by_operator && self.inner.config.resource_servers == ResourceServerPolicy::Operator {
            return Err(RegistryError::PermissionDenied(
                "resource servers are registered by this server's operator (gatehouse resource create)".to_owned(),
            ));
        }
        if self.stores().users.user_by_id(&input.owner_id).await?.is_none() {
            return Err(RegistryError::invalid("owner_id", format!("user {:?} does not exist", input.owner_id)));
        }
        let now = self.now();
        let mut server = ResourceServer {
            id: uuid::Uuid::new_v4().to_string(),
            owner_id: input.owner_id,
            name: validate::line("name", &input.name, 1, 100)?,
            identifier: self.claimable_identifier(&input.identifier).await?,
            scopes: validate::scopes(&input.scopes, self.scopes())?,
            token_format: validate::token_format(&input.token_format)?,
            allowed_client_ids: Vec::new(),
            any_client: input.any_client,
            application_tokens: input.application_tokens,
            introspection_client_id: None,
            created_at: now,
            updated_at: now,
        };
        server.allowed_client_ids = self.existing_clients(&input.allowed_client_ids).await?;
        server.introspection_client_id = self.introspector(&server.owner_id, &input.introspection_client_id).await?;
        self.stores().resource_servers.insert_resource_server(&server).await?;
        Ok(server)
    }

    /// An identifier anyone may claim: well-formed, not on the issuer's
    /// origin (Gatehouse's own endpoints: a token for them would be a token
    /// for Gatehouse), and not any client's id (a JWT access token for it
    /// would carry that client as its audience, as an ID token for it does).
    async fn claimable_identifier(&self, value: &str) -> RegistryResult<ResourceId> {
        let identifier = validate::resource_identifier(value)?;
        let origin = |text: &str| url::Url::parse(text).ok().map(|url| url.origin());
        if origin(identifier.as_str()).is_some_and(|o| o.is_tuple() && Some(o) == origin(&self.inner.config.issuer)) {
            return Err(RegistryError::invalid("identifier", "must not name this server's own endpoints"));
        }
        // A URL client id (a metadata document) names no stored row: the
        // document lookup refuses a URL that is a resource identifier instead.
        if self.stores().applications.application(identifier.as_str()).await?.is_some() {
            return Err(RegistryError::invalid("identifier", "must not be a client's id"));
        }
        Ok(identifier)
    }

    pub async fn list_resource_servers(&self, owner_id: Option<&str>) -> RegistryResult<Vec<ResourceServer>> {
        self.stores().resource_servers.list_resource_servers(owner_id).await
    }

    /// The resource server, checked to belong to `acting_owner` when one is
    /// given (another owner's answers NotFound, as applications do).
    pub async fn owned_resource_server(&self, id: &str, acting_owner: Option<&str>) -> RegistryResult<ResourceServer> {
        let server = self.stores().resource_servers.resource_server(id).await?.ok_or_else(|| not_found(id))?;
        match acting_owner {
            Some(owner) if owner != server.owner_id => Err(not_found(id)),
            _ => Ok(server),
        }
    }

    /// Applies the fields set in `patch`, all validated before anything is written.
    pub async fn update_resource_server(&self, id: &str, patch: ResourceServerPatch) -> RegistryResult<ResourceServer> {
        let mut server = self.owned_resource_server(id, patch.acting_owner_id.as_deref()).await?;
        if let Some(name) = &patch.name {
            server.name = validate::line("name", name, 1, 100)?;
        }
        if let Some(scopes) = &patch.scopes {
            server.scopes = validate::scopes(scopes, self.scopes())?;
        }
        if let Some(format) = &patch.token_format {
            server.token_format = validate::token_format(format)?;
        }
        if let Some(clients) = &patch.allowed_client_ids {
            server.allowed_client_ids = self.existing_clients(clients).await?;
        }
        if let Some(any) = patch.any_client {
            server.any_client = any;
        }
        if let Some(admitted) = patch.application_tokens {
            server.application_tokens = admitted;
        }
        if let Some(client) = &patch.introspection_client_id {
            server.introspection_client_id = self.introspector(&server.owner_id, client).await?;
        }
        server.updated_at = self.now();
        self.stores().resource_servers.update_resource_server(&server).await?;
        Ok(server)
    }

    pub async fn delete_resource_server(&self, id: &str, acting_owner: Option<&str>) -> RegistryResult<()> {
        self.owned_resource_server(id, acting_owner).await?;
        if self.stores().resource_servers.delete_resource_server(id).await? { Ok(()) } else { Err(not_found(id)) }
    }

    /// The resource servers `client_id` asks for, in the order asked:
    /// `invalid_target` when one is malformed, unknown, or does not admit
    /// the client (RFC 8707 §2). Unknown and not admitted read the same, so
    /// that identifiers cannot be probed through a client that may not use them.
    /// A token with no user (`application_token`) resolves only resource
    /// servers that admit application tokens.
    pub async fn resolve_resources(
        &self,
        client_id: &str,
        identifiers: &[String],
        application_token: bool,
    ) -> RegistryResult<Vec<ResourceServer>> {
        if identifiers.len() > gatehouse_oauth::resource::MAX_PER_REQUEST {
            return Err(invalid_target("too many resources"));
        }
        let mut found = Vec::with_capacity(identifiers.len());
        for identifier in identifiers {
            if gatehouse_oauth::ResourceId::parse(identifier).is_err() {
                return Err(invalid_target("the resource is not an absolute URI without a fragment"));
            }
            match self.stores().resource_servers.resource_server_by_identifier(identifier).await? {
                Some(server) if server.admits(client_id) && (server.application_tokens || !application_token) => {
                    found.push(server);
                }
                _ => return Err(invalid_target("the resource is unknown or not available to this application")),
            }
        }
        Ok(found)
    }

    /// The identifiers of the resource servers `client_id` introspects for.
    pub async fn introspected_by(&self, client_id: &str) -> RegistryResult<Vec<String>> {
        let servers = self.stores().resource_servers.resource_servers_introspected_by(client_id).await?;
        Ok(servers.into_iter().map(|s| s.identifier.into_string()).collect())
    }

    /// Applications named in an allow-list: each must exist.
    async fn existing_clients(&self, ids: &[String]) -> RegistryResult<Vec<ClientId>> {
        if ids.len() > validate::MAX_ALLOWED_CLIENTS {
            return Err(RegistryError::invalid(
                "allowed_client_ids",
                format!("must list at most {} applications (or set any_client)", validate::MAX_ALLOWED_CLIENTS),
            ));
        }
        let mut out: Vec<ClientId> = Vec::with_capacity(ids.len());
        for (n, id) in ids.iter().enumerate().map(|(i, v)| (i + 1, v)) {
            let app = self.stores().applications.application(id).await?;
            let Some(app) = app else {
                return Err(RegistryError::invalid("allowed_client_ids", format!("application {n} does not exist")));
            };
            if !out.contains(&app.client_id) {
                out.push(app.client_id);
            }
        }
        Ok(out)
    }

    /// The introspection client: a confidential application of the owner
    /// (introspection needs client authentication, RFC 7662 §2.1). Empty: none.
    async fn introspector(&self, owner_id: &str, client_id: &str) -> RegistryResult<Option<ClientId>> {
        if client_id.is_empty() {
            return Ok(None);
        }
        let app = self.stores().applications.application(client_id).await?.filter(|app| app.owner_id == owner_id);
        let Some(app) = app else {
            return Err(RegistryError::invalid("introspection_client_id", "must be an application of the same owner"));
        };
        if app.client_type != ClientType::Confidential {
            return Err(RegistryError::invalid(
                "introspection_client_id",
                "must be a confidential application: introspection needs a client secret",
            ));
        }
        Ok(Some(app.client_id))
    }
}
