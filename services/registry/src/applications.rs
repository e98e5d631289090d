//! Applications (OAuth clients): registration, lookup, update, deletion
//! (with everything it held), and a user's authorization of one.

use gatehouse_oauth::{ClientId, ClientType, Registration};

use gatehouse_oauth::OAuthError;

use crate::dependents::Deleted;
use crate::error::{RegistryError, RegistryResult};
use crate::model::{Application, ApplicationPatch, ApplicationType, ClientExtras, ClientKeys, NewApplication};
use crate::secrets::CreatedSecret;
use crate::service::Registry;
use crate::validate;

impl Registry {
    /// Registers an application; a confidential one gets its first secret.
    pub async fn register_application(
        &self,
        input: NewApplication,
    ) -> RegistryResult<(Application, Option<CreatedSecret>)> {
        if self.stores().users.user_by_id(&input.owner_id).await?.is_none() {
            return Err(RegistryError::invalid("owner_id", format!("user {:?} does not exist", input.owner_id)));
        }
        let client_type = input.client_type.unwrap_or(ClientType::Confidential);
        let now = self.now();
        let mut app = Application {
            client_id: ClientId::generate(),
            owner_id: input.owner_id,
            name: validate::line("name", &input.name, 1, 100)?,
            description: validate::text("description", &input.description, 1000)?,
            homepage_url: validate::web_url("homepage_url", &input.homepage_url)?,
            logo_url: validate::web_url("logo_url", &input.logo_url)?,
            redirect_uris: validate::redirect_uris(&input.redirect_uris)?,
            client_type,
            grant_types: validate::grant_types(&input.grant_types, client_type)?,
            scopes: validate::scopes(&input.scopes, self.scopes())?,
            secrets: Vec::new(),
            post_logout_redirect_uris: validate::post_logout_redirect_uris(&input.post_logout_redirect_uris)?,
            created_at: now,
            updated_at: now,
            registration: Registration::Owned,
            auth_method: Application::default_auth_method(client_type),
            application_type: ApplicationType::Web,
            keys: ClientKeys::None,
            extras: ClientExtras::default(),
            last_used_at: None,
            id_token_alg: input.id_token_alg,
            requirements: input.requirements,
        };
        let created = (client_type == ClientType::Confidential).then(|| self.new_secret());
        let secret_row = created.as_ref().map(|(created, hash)| (&created.info, hash));
        self.stores().applications.insert_application(&app, secret_row, None).await?;
        if let Some((created, _)) = &created {
            app.secrets.push(created.info.clone());
        }
        Ok((app, created.map(|(created, _)| created)))
    }

    /// Lists applications of one owner, or all of them.
    pub async fn list_applications(&self, owner_id: Option<&str>) -> RegistryResult<Vec<Application>> {
        self.stores().applications.list_applications(owner_id).await
    }

    /// The application `client_id` names: a stored one, or, for an https
    /// URL, the client its metadata document describes (fetched, checked and
    /// cached by `metadata_document`). A document that cannot be used is
    /// `invalid_client` saying why; the caller shows it, never redirects.
    pub async fn get_application(&self, client_id: &str) -> RegistryResult<Application> {
        self.get_application_for(client_id, "").await
    }

    /// As [`Registry::get_application`], for a request from `requester` (an
    /// address), whose fair share of the document fetcher a fetch uses.
    pub async fn get_application_for(&self, client_id: &str, requester: &str) -> RegistryResult<Application> {
        if crate::metadata_document::is_document_url(client_id) {
            // A resource server's identifier is the audience of tokens
            // Gatehouse signs: a client by that name would take them for its own.
            if self.stores().resource_servers.resource_server_by_identifier(client_id).await?.is_some() {
                return Err(RegistryError::OAuth(OAuthError::invalid_client(
                    "client_id URL: is a resource server's identifier on this server, not a client",
                )));
            }
            let app = self.inner.documents.resolve(client_id, self.scopes(), self.now(), requester).await.map_err(
                |error| match error {
                    // An overload or a failing egress proxy is an outage
                    // (503), not the client's fault.
                    crate::metadata_document::DocumentError::Fetch(ref fetch) if fetch.is_outage() => {
                        RegistryError::Busy(error.to_string())
                    }
                    _ => RegistryError::OAuth(OAuthError::invalid_client(error.to_string())),
                },
            )?;
            return Ok(app.as_ref().clone());
        }
        self.stores()
            .applications
            .application(client_id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("application {client_id:?} not found")))
    }

    /// The application, checked to belong to `acting_owner` when one is given.
    /// Another owner's application answers NotFound, not PermissionDenied, so
    /// that client ids of others cannot be probed.
    pub async fn owned_application(&self, client_id: &str, acting_owner: Option<&str>) -> RegistryResult<Application> {
        self.owned_application_for(client_id, acting_owner, "").await
    }

    /// As [`Registry::owned_application`], for a request from `requester`.
    pub async fn owned_application_for(
        &self,
        client_id: &str,
        acting_owner: Option<&str>,
        requester: &str,
    ) -> RegistryResult<Application> {
        let app = self.get_application_for(client_id, requester).await?;
        match acting_owner {
            Some(owner) if owner != app.owner_id => {
                Err(RegistryError::NotFound(format!("application {client_id:?} not found")))
            }
            _ => Ok(app),
        }
    }

    /// Applies the fields set in `patch`; the whole patch is validated before anything is written.
    pub async fn update_application(&self, client_id: &str, patch: ApplicationPatch) -> RegistryResult<Application> {
        let mut app = self.owned_application(client_id, patch.acting_owner_id.as_deref()).await?;
        if let Some(name) = &patch.name {
            app.name = validate::line("name", name, 1, 100)?;
        }
        if let Some(description) = &patch.description {
            app.description = validate::text("description", description, 1000)?;
        }
        if let Some(homepage) = &patch.homepage_url {
            app.homepage_url = validate::web_url("homepage_url", homepage)?;
        }
        if let Some(logo) = &patch.logo_url {
            app.logo_url = validate::web_url("logo_url", logo)?;
        }
        if let Some(uris) = &patch.redirect_uris {
            app.redirect_uris = validate::redirect_uris(uris)?;
        }
        if let Some(grants) = &patch.grant_types {
            app.grant_types = validate::grant_types(grants, app.client_type)?;
        }
        if let Some(scopes) = &patch.scopes {
            app.scopes = validate::scopes(scopes, self.scopes())?;
        }
        if let Some(uris) = &patch.post_logout_redirect_uris {
            app.post_logout_redirect_uris = validate::post_logout_redirect_uris(uris)?;
        }
        if let Some(alg) = patch.id_token_alg {
            app.id_token_alg = alg;
        }
        if let Some(required) = patch.require_pushed_authorization_requests {
            app.requirements.pushed_authorization_requests = required;
        }
        if let Some(required) = patch.dpop_bound_access_tokens {
            app.requirements.dpop_bound_access_tokens = required;
        }
        app.updated_at = self.now();
        self.stores().applications.update_application(&app).await?;
        Ok(app)
    }

    /// Deletes an application after revoking everything it holds (tokens,
    /// grants): once this returns, none of its tokens works anywhere. The
    /// revocation comes first, so a failure leaves the application in place
    /// to delete again; from the revocation on, no token is issued to it.
    /// Ends a user's authorization of an application (consent and tokens);
    /// `NotFound` when there was neither.
    pub async fn revoke_authorization(&self, user_id: &str, client_id: &str) -> RegistryResult<u64> {
        match self.inner.dependents.revoke_grant(user_id, client_id).await? {
            (false, 0) => Err(RegistryError::NotFound(format!("no authorization of application {client_id:?}"))),
            (_, revoked) => Ok(revoked),
        }
    }

    pub async fn delete_application(&self, client_id: &str, acting_owner: Option<&str>) -> RegistryResult<()> {
        self.owned_application(client_id, acting_owner).await?;
        self.inner.dependents.revoke(Deleted::Application(client_id)).await?;
        if self.stores().applications.delete_application(client_id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound(format!("application {client_id:?} not found")))
        }
    }
}
