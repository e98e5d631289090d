//! What the service keeps in the cache, serialised as JSON. Keys are hashes
//! of the secrets (session tokens, codes), never the secrets themselves.

use gatehouse_oauth::authorize::{AuthorizationRequest, ResponseMode};
use gatehouse_oauth::pkce::CodeChallenge;
use gatehouse_oauth::{ClientId, Scope, ScopeSet};
use serde::{Deserialize, Serialize};

use crate::error::{AuthzError, AuthzResult};

/// Cache key names, one place for all of them.
///
/// A code and its used-marker (and a device code and its marker) are taken
/// and set by one script, so their shared part is the hash tag `{HASH}`:
/// on Redis Cluster both sit in one slot. Every other key is used alone.
pub(crate) mod key {
    pub(crate) fn session(hash: &str) -> String {
        format!("authz:session:{hash}")
    }
    /// A sign-in whose password was right, waiting for its second step.
    pub(crate) fn second_step(hash: &str) -> String {
        format!("authz:second-step:{hash}")
    }
    pub(crate) fn pending(id: &str) -> String {
        format!("authz:pending:{id}")
    }
    pub(crate) fn code(hash: &str) -> String {
        format!("authz:code:{{{hash}}}")
    }
    pub(crate) fn code_used(hash: &str) -> String {
        format!("authz:code-used:{{{hash}}}")
    }
    pub(crate) fn fail_pair(username_key: &str, address: &str) -> String {
        format!("authz:login-fail:{username_key}:{address}")
    }
    pub(crate) fn fail_address(address: &str) -> String {
        format!("authz:login-fail-addr:{address}")
    }
    /// Set when a user is deleted, for as long as a session lives: their
    /// open sessions end at once (sessions are keyed by token, not by user).
    pub(crate) fn user_deleted(user_id: &str) -> String {
        format!("authz:user-deleted:{user_id}")
    }
    pub(crate) fn device(hash: &str) -> String {
        format!("authz:device:{{{hash}}}")
    }
    pub(crate) fn device_used(hash: &str) -> String {
        format!("authz:device-used:{{{hash}}}")
    }
    pub(crate) fn device_user(user_code: &str) -> String {
        format!("authz:device-user:{user_code}")
    }
    pub(crate) fn device_entry_user(user_id: &str) -> String {
        format!("authz:device-entry-user:{user_id}")
    }
    pub(crate) fn device_entry_address(address: &str) -> String {
        format!("authz:device-entry-addr:{address}")
    }
    /// The client id as sent is attacker text: keyed by its hash.
    pub(crate) fn client_fail_pair(client_id_hash: &str, address: &str) -> String {
        format!("authz:client-fail:{client_id_hash}:{address}")
    }
    /// A pushed authorization request, by the hash of its `request_uri`.
    pub(crate) fn pushed(hash: &str) -> String {
        format!("authz:pushed:{hash}")
    }
    /// A DPoP proof taken at the pushed authorization request endpoint.
    pub(crate) fn dpop_proof(jkt: &str, jti_hash: &str) -> String {
        format!("authz:dpop:{{{jkt}}}:{jti_hash}")
    }
    pub(crate) fn pushed_public(client_id_hash: &str, address: &str) -> String {
        format!("authz:pushed-public:{client_id_hash}:{address}")
    }
    pub(crate) fn client_fail_address(address: &str) -> String {
        format!("authz:client-fail-addr:{address}")
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> AuthzResult<T> {
    serde_json::from_slice(bytes).map_err(|e| AuthzError::Internal(format!("corrupt cache record: {e}")))
}

/// The user as a session remembers them.
pub(crate) type SessionUser = gatehouse_runtime::clients::registry::Account;

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) user: SessionUser,
    pub(crate) csrf_token: String,
    pub(crate) expires_at: i64,
    /// When the user signed in (OpenID Connect `auth_time`); 0 in sessions
    /// opened before it was kept, which `max_age` then always finds too old.
    #[serde(default)]
    pub(crate) auth_time: i64,
    /// How the user signed in (RFC 8176 `amr`): `["pwd"]`, or with a second
    /// factor `["pwd", "otp", "mfa"]`.
    #[serde(default = "password_amr")]
    pub(crate) amr: Vec<String>,
    /// The session's row in the sessions list; empty for sessions opened
    /// before the list was kept (they are not listed).
    #[serde(default)]
    pub(crate) id: String,
    /// When the list last recorded it as seen (unix seconds).
    #[serde(default)]
    pub(crate) seen_at: i64,
}

/// Sessions opened before `amr` was kept were password sign-ins.
pub(crate) fn password_amr() -> Vec<String> {
    gatehouse_oauth::acr::amr(gatehouse_oauth::acr::AMR_PASSWORD)
}

impl SessionRecord {
    pub(crate) fn mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }
}

/// A sign-in whose password was right, waiting for the second step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SecondStepRecord {
    pub(crate) user: SessionUser,
    /// Unix seconds (the cache's own expiry may run on another clock).
    pub(crate) expires_at: i64,
}

/// The CSRF token is a secret of the session: never printed.
impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user", &self.user)
            .field("csrf_token", &"(redacted)")
            .field("expires_at", &self.expires_at)
            .field("auth_time", &self.auth_time)
            .field("amr", &self.amr)
            .field("id", &self.id)
            .finish()
    }
}

/// A validated authorization request in the cache, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RequestRecord {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_uri_given: bool,
    pub(crate) scopes: Vec<String>,
    pub(crate) state: Option<String>,
    pub(crate) code_challenge: Option<String>,
    /// OpenID Connect `nonce`, for the ID token.
    #[serde(default)]
    pub(crate) nonce: Option<String>,
    /// `response_mode=form_post`: the answer is a form posted to the redirect URI.
    #[serde(default)]
    pub(crate) form_post: bool,
    /// RFC 8707 resource identifiers, admitted by the registry.
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    /// RFC 9449 §10: the DPoP key the code is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_jkt: Option<String>,
}

impl From<&AuthorizationRequest> for RequestRecord {
    fn from(request: &AuthorizationRequest) -> Self {
        Self {
            client_id: request.client_id.as_str().to_owned(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_given: request.redirect_uri_given,
            scopes: request.scopes.to_strings(),
            state: request.state.clone(),
            code_challenge: request.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
            nonce: request.nonce.clone(),
            form_post: request.response_mode == ResponseMode::FormPost,
            resources: request.resources.iter().map(|r| r.as_str().to_owned()).collect(),
            dpop_jkt: request.dpop_jkt.clone(),
        }
    }
}

impl RequestRecord {
    pub(crate) fn scopes(&self) -> ScopeSet {
        ScopeSet::from_scopes(self.scopes.iter().filter_map(|s| Scope::parse(s)))
    }

    pub(crate) fn client_id(&self) -> AuthzResult<ClientId> {
        ClientId::parse(&self.client_id)
            .ok_or_else(|| AuthzError::Storage(sea_orm::DbErr::Custom("corrupt client id in cache".to_owned())))
    }

    pub(crate) fn response_mode(&self) -> ResponseMode {
        if self.form_post { ResponseMode::FormPost } else { ResponseMode::Query }
    }

    pub(crate) fn code_challenge(&self) -> Option<CodeChallenge> {
        self.code_challenge.clone().map(CodeChallenge::from_stored)
    }
}

/// An authorization request waiting for the user's decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingRecord {
    /// The user who saw the consent page; nobody else may answer it.
    pub(crate) user_id: String,
    pub(crate) request: RequestRecord,
}

/// An issued authorization code, bound to everything the token request must match.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CodeRecord {
    pub(crate) request: RequestRecord,
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) auth_time: i64,
    /// The session's `amr`; empty in records written before it was kept
    /// (read as a password sign-in).
    #[serde(default)]
    pub(crate) amr: Vec<String>,
    /// When the code expires (unix seconds), so that a restored code keeps
    /// its original lifetime; 0 in records written before it existed.
    #[serde(default)]
    pub(crate) expires_at: i64,
    /// The account as the session knew it when the code was issued: the
    /// claims of the ID token, so that the exchange needs no registry read
    /// (accounts do not change after sign-up; a deletion since is caught by
    /// the token service's revocation fence). None in older records.
    #[serde(default)]
    pub(crate) account: Option<gatehouse_runtime::clients::registry::Account>,
}
