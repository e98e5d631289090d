//! What the token service asks of the registry and the authorization service.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use gatehouse_oauth::{
    AuthorizationCode, ClientAuthentication, Clock, CodeVerifier, DeviceCode, OAuthError, RegisteredClient,
};
use gatehouse_proto::pb::authorization::v1::RedeemCodeRequest;
use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::status::{decode_oauth, decode_reason, reason};
use gatehouse_runtime::clients::registry::RegistryClient;
use gatehouse_upstream::Upstream;
use tonic::Status;

use crate::error::{TokenError, TokenResult};

/// An authenticated client, as the token rules need it.
pub(crate) type Client = RegisteredClient;

/// Client credentials as presented, and the address they came from (for
/// the failure throttle; empty for internal callers).
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub(crate) auth: ClientAuthentication,
    pub(crate) address: String,
}

/// What a redemption at the authorization service granted: the record both services share.
pub(crate) use gatehouse_proto::convert::RedeemedCode;

/// What RedeemCode answered.
#[derive(Debug)]
pub(crate) enum Redeemed {
    Granted(Box<RedeemedCode>),
    /// The code was used before: the first redemption's code id.
    Replayed {
        code_id: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Clients {
    registry: RegistryClient,
    /// The registry's scope catalogue, fetched once: static configuration there.
    catalogue: Arc<tokio::sync::OnceCell<Arc<gatehouse_oauth::ScopeCatalogue>>>,
    authorization: Upstream,
    authenticated: Arc<AuthCache>,
    turns: Arc<Turns>,
}

/// One authentication at a time per (client id, presented secret's hash).
/// When a kept authentication expires, a client with many requests in
/// flight would otherwise send them all to the registry at once, and each
/// would take a slot of the failure throttle before its check: more
/// parallel requests than the throttle's limit, all with the right secret,
/// and the last ones refused. In turns, the first checks and the others
/// find its success kept. Different secrets (guesses) never share a turn:
/// each still takes its own slot.
#[derive(Debug, Default)]
struct Turns(RwLock<HashMap<AuthKey, Gate>>);

/// A client id and the SHA-256 of the secret presented with it.
type AuthKey = (String, String);

/// Whose turn it is, for one [`AuthKey`].
type Gate = Arc<tokio::sync::Mutex<()>>;

/// A held turn; the last holder of a key removes it.
pub(crate) struct Turn {
    turns: Arc<Turns>,
    key: AuthKey,
    lock: Gate,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut turns = self.turns.0.write().unwrap_or_else(PoisonError::into_inner);
        // The map's reference and this one: nobody else waits.
        if Arc::strong_count(&self.lock) == 2 {
            turns.remove(&self.key);
        }
    }
}

/// Successful client authentications, kept for a few seconds: a token
/// request otherwise costs a registry call (and its SQL reads) before any
/// token work. Keyed by the client id and the SHA-256 of the presented
/// secret (never the secret itself); failures are never kept. The price,
/// documented: a deleted secret, or a changed grant list,
/// takes effect in this service up to `ttl` later.
#[derive(Debug)]
struct AuthCache {
    ttl: i64,
    clock: Arc<dyn Clock>,
    entries: RwLock<HashMap<(String, String), (Client, i64)>>,
}

/// Bounds memory whatever the number of clients.
const AUTH_CACHE_ENTRIES: usize = 10_000;

impl AuthCache {
    fn key(credentials: &Presented) -> (String, String) {
        (credentials.auth.client_id.clone(), credentials.auth.secret.hash().as_str().to_owned())
    }

    fn get(&self, key: &(String, String)) -> Option<Client> {
        if self.ttl == 0 {
            return None;
        }
        let now = self.clock.now().timestamp();
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).filter(|(_, expires)| *expires > now).map(|(client, _)| client.clone())
    }

    fn forget(&self, client_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|(id, _), _| id != client_id);
    }

    fn put(&self, key: (String, String), client: &Client) {
        if self.ttl == 0 {
            return;
        }
        let now = self.clock.now().timestamp();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= AUTH_CACHE_ENTRIES {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= AUTH_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (client.clone(), now + self.ttl));
    }
}

/// Whether a successful authentication may be reused: not an assertion's,
/// which is single use (RFC 7523 §3 `jti`): every one goes to the registry,
/// which refuses it the second time.
fn cacheable(credentials: &Presented) -> bool {
    credentials.auth.method != gatehouse_oauth::ClientAuthMethod::PrivateKeyJwt
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
    pub(crate) fn new(
        registry: Upstream,
        authorization: Upstream,
        auth_cache: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let ttl = i64::try_from(auth_cache.as_secs()).unwrap_or(i64::MAX);
        let authenticated = Arc::new(AuthCache { ttl, clock, entries: RwLock::default() });
        Self {
            registry: RegistryClient::new(registry),
            catalogue: Arc::default(),
            authorization,
            authenticated,
            turns: Arc::default(),
        }
    }

    /// Waits for this presentation's turn to authenticate (see [`Turns`]);
    /// `None` for credentials that are never kept.
    pub(crate) async fn turn(&self, credentials: &Presented) -> Option<Turn> {
        if credentials.auth.client_id.is_empty() || !cacheable(credentials) {
            return None;
        }
        let key = AuthCache::key(credentials);
        let lock = {
            let mut turns = self.turns.0.write().unwrap_or_else(PoisonError::into_inner);
            turns.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        Some(Turn { turns: self.turns.clone(), key, lock, guard: Some(guard) })
    }

    /// The registry client (the guard checks internal credentials with it).
    pub(crate) fn registry(&self) -> RegistryClient {
        self.registry.clone()
    }

    /// A successful authentication of these credentials kept from the last
    /// few seconds (a correct secret: nothing to throttle).
    pub(crate) fn kept(&self, credentials: &Presented) -> Option<Client> {
        if credentials.auth.client_id.is_empty() || !cacheable(credentials) {
            return None;
        }
        self.authenticated.get(&AuthCache::key(credentials))
    }

    /// Authenticates the client (RFC 6749 §2.3); every failure is `invalid_client`.
    pub(crate) async fn authenticate(&self, credentials: Option<&Presented>) -> TokenResult<Client> {
        let Some(credentials) = credentials.filter(|c| !c.auth.client_id.is_empty()) else {
            return Err(OAuthError::invalid_client("client authentication is missing").into());
        };
        let key = AuthCache::key(credentials);
        if cacheable(credentials)
            && let Some(client) = self.authenticated.get(&key)
        {
            return Ok(client);
        }
        let client = self
            .registry
            .authenticate_client(&credentials.auth, &credentials.address)
            .await
            .map_err(|status| upstream("registry", status))?;
        if cacheable(credentials) {
            self.authenticated.put(key, &client);
        }
        Ok(client)
    }

    /// An assertion grant, verified by the registry (see [`AssertionGrant`]).
    pub(crate) async fn verify_assertion_grant(
        &self,
        assertion: &str,
        client_id: &str,
        address: &str,
    ) -> TokenResult<gatehouse_runtime::clients::registry::AssertionGrant> {
        self.registry
            .verify_assertion_grant(assertion, client_id, address)
            .await
            .map_err(|status| upstream("registry", status))
    }

    /// Another issuer's subject token for a token exchange, verified by the registry.
    pub(crate) async fn verify_subject_token(
        &self,
        token: &str,
        client_id: &str,
        address: &str,
    ) -> TokenResult<gatehouse_proto::pb::registry::v1::IdentityAssertion> {
        self.registry
            .verify_subject_token(token, client_id, address)
            .await
            .map_err(|status| upstream("registry", status))
    }

    /// The user `id`, for the claims of an ID token or UserInfo.
    pub(crate) async fn user(&self, id: &str) -> TokenResult<Option<gatehouse_runtime::clients::registry::Account>> {
        self.registry.user(id).await.map_err(|status| upstream("registry", status))
    }

    /// The resource servers `client_id` asks for, as the registry describes
    /// them now; `invalid_target` when one is unknown or not admitted.
    /// `application_token`: for a token with no user (client_credentials),
    /// which only resource servers admitting such tokens take.
    pub(crate) async fn resources(
        &self,
        client_id: &str,
        resources: &[gatehouse_oauth::ResourceId],
        application_token: bool,
    ) -> TokenResult<Vec<gatehouse_oauth::Resource>> {
        self.registry
            .resolve_resources(client_id, resources, application_token)
            .await
            .map_err(|status| upstream("registry", status))
    }

    /// Revokes a registration access token by value, at the registry.
    pub(crate) async fn revoke_registration_token(&self, token: &str) -> TokenResult<Option<String>> {
        self.registry.revoke_registration_token(token).await.map_err(|status| upstream("registry", status))
    }

    /// The scope catalogue (for the scopes of personal access tokens).
    pub(crate) async fn catalogue(&self) -> TokenResult<Arc<gatehouse_oauth::ScopeCatalogue>> {
        self.catalogue
            .get_or_try_init(|| async {
                let scopes = self.registry.scopes().await.map_err(|status| upstream("registry", status))?;
                gatehouse_oauth::ScopeCatalogue::new(
                    scopes.into_iter().map(|d| (d.name, d.description, d.description_zh)),
                )
                .map(Arc::new)
                .map_err(|e| TokenError::Upstream {
                    service: "registry",
                    status: Status::internal(format!("the scope catalogue is malformed: {e}")),
                })
            })
            .await
            .cloned()
    }

    /// One poll of a device authorization at the authorization service
    /// (RFC 8628 §3.4): the user and scopes once approved, otherwise the
    /// OAuth error to answer (pending, slow down, denied, expired).
    pub(crate) async fn redeem_device(&self, device_code: DeviceCode, client_id: &str) -> TokenResult<RedeemedCode> {
        let request = gatehouse_proto::pb::authorization::v1::RedeemDeviceCodeRequest {
            device_code: device_code.into_exposed(),
            client_id: client_id.to_owned(),
        };
        let mut authorization = AuthorizationServiceClient::new(self.authorization.clone());
        let granted = authorization
            .redeem_device_code(request)
            .await
            .map_err(|status| upstream("authorization", status))?
            .into_inner();
        Ok(RedeemedCode {
            code_id: granted.device_id,
            user_id: granted.user_id,
            username: granted.username,
            scopes: granted.scopes,
            auth_time: granted.auth_time,
            amr: granted.amr,
            // A device has no authorization request to carry a nonce.
            nonce: None,
            resources: Vec::new(),
            account: None,
        })
    }

    /// Drops the kept authentications of a client (it was deleted).
    pub(crate) fn forget(&self, client_id: &str) {
        self.authenticated.forget(client_id);
    }

    /// Gives a redeemed code back (its tokens could not be stored). Best
    /// effort: when it fails too, the client's retry is refused as a replay
    /// and the user starts over.
    pub(crate) async fn restore(&self, code: &AuthorizationCode, client_id: &str) {
        let mut authorization = AuthorizationServiceClient::new(self.authorization.clone());
        let request = gatehouse_proto::pb::authorization::v1::RestoreCodeRequest {
            code: code.expose().to_owned(),
            client_id: client_id.to_owned(),
        };
        if let Err(status) = authorization.restore_code(request).await {
            tracing::warn!(code = ?status.code(), "could not restore a code whose tokens were not stored");
        }
    }

    /// Redeems a code at the authorization service, which checks the
    /// client, the redirect URI and PKCE.
    pub(crate) async fn redeem(
        &self,
        code: &AuthorizationCode,
        client_id: &str,
        redirect_uri: Option<String>,
        code_verifier: Option<CodeVerifier>,
        dpop_jkt: Option<&str>,
    ) -> TokenResult<Redeemed> {
        let request = RedeemCodeRequest {
            code: code.expose().to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.unwrap_or_default(),
            code_verifier: code_verifier.map(CodeVerifier::into_exposed).unwrap_or_default(),
            dpop_jkt: dpop_jkt.unwrap_or_default().to_owned(),
        };
        let mut authorization = AuthorizationServiceClient::new(self.authorization.clone());
        match authorization.redeem_code(request).await {
            Ok(response) => Ok(Redeemed::Granted(Box::new(response.into_inner().into()))),
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
