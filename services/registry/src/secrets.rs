//! Client secrets: creation (shown once), rotation, deletion, and client
//! authentication against their hashes.

use gatehouse_oauth::secret::RANDOM_CHARS_256_BITS;
use gatehouse_oauth::{ClientAuthMethod, ClientType, OAuthError, SecretHash, random_token};

use crate::error::{RegistryError, RegistryResult};
use crate::model::{Application, ClientSecretInfo};
use crate::service::Registry;

/// Prefix of client secrets, so that secret scanners can recognise leaked ones.
pub const CLIENT_SECRET_PREFIX: &str = "gcs_";
/// Characters of a secret kept as its visible prefix (the type prefix plus 4).
const VISIBLE_PREFIX_LEN: usize = CLIENT_SECRET_PREFIX.len() + 4;

/// A secret just created: its metadata, and the clear text shown this once.
#[derive(Clone)]
pub struct CreatedSecret {
    pub info: ClientSecretInfo,
    pub secret: String,
}

impl std::fmt::Debug for CreatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSecret").field("info", &self.info).finish_non_exhaustive()
    }
}

impl Registry {
    pub(crate) fn new_secret(&self) -> (CreatedSecret, SecretHash) {
        let secret = random_token(CLIENT_SECRET_PREFIX, RANDOM_CHARS_256_BITS);
        let info = ClientSecretInfo {
            // v7 ids sort by creation time, which is the order secrets are listed in.
            id: uuid::Uuid::now_v7().to_string(),
            prefix: secret[..VISIBLE_PREFIX_LEN].to_owned(),
            created_at: self.now(),
            last_used_at: None,
        };
        let hash = SecretHash::of(&secret);
        (CreatedSecret { info, secret }, hash)
    }

    /// Adds a secret; the old ones keep working until deleted, so a secret
    /// rotates without downtime.
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        acting_owner: Option<&str>,
    ) -> RegistryResult<CreatedSecret> {
        let app = self.owned_application(client_id, acting_owner).await?;
        if app.client_type == ClientType::Public {
            return Err(RegistryError::FailedPrecondition("public applications have no client secret".to_owned()));
        }
        let (created, hash) = self.new_secret();
        self.stores()
            .applications
            .add_secret(client_id, &created.info, &hash, self.inner.config.max_client_secrets)
            .await?;
        Ok(created)
    }

    /// Makes `secret`, which an operator provides (clients as code: a file
    /// or a Kubernetes Secret), the application's only secret. `Ok(None)`
    /// when it already is (nothing changes: applying twice is applying
    /// once); with `dry_run`, what would change, changing nothing. The
    /// value must be 32 to 512 visible ASCII characters (RFC 6749
    /// Appendix A.5), and is kept only as its hash.
    pub async fn set_client_secret(
        &self,
        client_id: &str,
        secret: &str,
        dry_run: bool,
    ) -> RegistryResult<Option<ClientSecretInfo>> {
        if !(32..=512).contains(&secret.len()) || !secret.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(RegistryError::invalid(
                "client_secret",
                "a provided client secret is 32 to 512 visible ASCII characters (no spaces)",
            ));
        }
        let Some((app, hashes)) = self.stores().applications.application_with_hashes(client_id).await? else {
            return Err(RegistryError::NotFound(format!("application {client_id:?} not found")));
        };
        if app.client_type == ClientType::Public {
            return Err(RegistryError::FailedPrecondition("public applications have no client secret".to_owned()));
        }
        let hash = SecretHash::of(secret);
        if hashes.len() == 1 && hashes[0].1 == hash {
            return Ok(None);
        }
        let info = ClientSecretInfo {
            id: uuid::Uuid::now_v7().to_string(),
            // Four characters tell secrets apart without narrowing a guess much.
            prefix: secret[..4].to_owned(),
            created_at: self.now(),
            last_used_at: None,
        };
        if !dry_run {
            self.stores().applications.replace_secrets(client_id, &info, &hash).await?;
        }
        Ok(Some(info))
    }

    pub async fn delete_client_secret(
        &self,
        client_id: &str,
        secret_id: &str,
        acting_owner: Option<&str>,
    ) -> RegistryResult<()> {
        let app = self.owned_application(client_id, acting_owner).await?;
        let keep_one = app.client_type == ClientType::Confidential;
        self.stores().applications.delete_secret(client_id, secret_id, keep_one).await
    }

    /// A workload's platform token (workload identity federation): the
    /// client the operator's rules map it to. A `client_id` sent beside it
    /// must be that client (or the token's own `sub`, which the edge reads
    /// when no `client_id` was sent).
    async fn authenticate_workload(
        &self,
        trusted: &crate::federation::TrustedIssuer,
        client_id: &str,
        token: &str,
        requester: &str,
    ) -> RegistryResult<Application> {
        let now = self.now();
        let mapped = self.inner.assertions.verify_federated(trusted, token, now, requester).await?;
        let subject = crate::federation::unverified_claim(token, "sub");
        if client_id != mapped && subject.as_deref() != Some(client_id) {
            return Err(RegistryError::OAuth(OAuthError::invalid_client(
                "client_id is not the client this workload's token maps to",
            )));
        }
        let Some((app, _)) = self.stores().applications.application_with_hashes(&mapped).await? else {
            return Err(RegistryError::OAuth(OAuthError::invalid_client(
                "the client a federation rule names does not exist",
            )));
        };
        Ok(app)
    }

    /// Authenticates a client (RFC 6749 §2.3.1): by one of its secrets, by a
    /// `private_key_jwt` assertion (RFC 7523, `assertion`), or, for a public
    /// client, by its id alone. Every failure is `invalid_client`; a secret
    /// failure says nothing about which part was wrong. `requester` is the
    /// address the client called from (its fair share of the fetcher).
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
        assertion: &str,
        requester: &str,
    ) -> RegistryResult<Application> {
        let failed = || RegistryError::OAuth(OAuthError::invalid_client("client authentication failed"));
        let issuer = crate::federation::unverified_claim(assertion, "iss");
        let federation = self.inner.federation.current();
        if let Some(trusted) = issuer.as_deref().and_then(|iss| federation.issuer(iss)) {
            return self.authenticate_workload(trusted, client_id, assertion, requester).await;
        }
        let (app, hashes) = if crate::metadata_document::is_document_url(client_id) {
            // A metadata document's client holds no secret: a key, or nothing.
            (self.get_application_for(client_id, requester).await?, Vec::new())
        } else {
            self.stores().applications.application_with_hashes(client_id).await?.ok_or_else(failed)?
        };
        let now = self.now();
        if !assertion.is_empty() {
            self.inner.assertions.verify(&app, assertion, now, requester).await?;
            self.touch_self_registered(&app, now).await?;
            return Ok(app);
        }
        if app.auth_method == ClientAuthMethod::PrivateKeyJwt {
            return Err(RegistryError::OAuth(OAuthError::invalid_client(
                "this client authenticates with private_key_jwt (client_assertion)",
            )));
        }
        match app.client_type {
            // A public client is identified, not authenticated; sending a
            // secret it does not have is a client error.
            ClientType::Public if secret.is_empty() => {
                self.touch_self_registered(&app, now).await?;
                return Ok(app);
            }
            ClientType::Public => return Err(failed()),
            ClientType::Confidential if secret.is_empty() => return Err(failed()),
            ClientType::Confidential => {}
        }
        // Check every stored hash (constant-time each) rather than stopping at
        // the first match, so timing does not tell which secret matched.
        let mut matched = None;
        for (id, hash, last_used) in &hashes {
            if hash.verify(secret) {
                matched = Some((id.clone(), *last_used));
            }
        }
        let (secret_id, last_used) = matched.ok_or_else(failed)?;
        // "Last used" is shown to a minute: skip the write (a SQLite write
        // lock) when it would not change what is shown.
        if last_used.is_none_or(|at| now - at >= 60) {
            self.stores().applications.touch_secret(&secret_id, now).await?;
        }
        self.touch_self_registered(&app, now).await?;
        Ok(app)
    }

    /// Records the use of a dynamically registered client (unused ones
    /// expire), at most hourly so that authentication stays a read.
    async fn touch_self_registered(&self, app: &Application, now: i64) -> RegistryResult<()> {
        if app.registration == gatehouse_oauth::Registration::Dynamic
            && app.last_used_at.is_none_or(|at| now - at >= 3600)
        {
            self.stores().applications.touch_application(app.client_id.as_str(), now).await?;
        }
        Ok(())
    }
}
