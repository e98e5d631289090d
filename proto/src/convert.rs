//! Conversions between wire messages and the OAuth domain types shared by
//! several services. Service-specific messages convert in their own
//! service's `convert` module; nothing else touches both.

use gatehouse_oauth::scope::ScopeEntry;
use gatehouse_oauth::{
    ClientAuthMethod, ClientAuthentication, ClientId, ClientRequirements, ClientSecret, ClientType, GrantType, Params,
    RedirectUri, RegisteredClient, Registration, ScopeSet, SigningAlg,
};

use gatehouse_oauth::registration::{ClientExtras, ClientMetadata};

use crate::pb::authorization::v1 as authorization;
use crate::pb::common::v1 as common;
use crate::pb::registry::v1 as registry;
use crate::pb::token::v1 as token;

impl From<ClientType> for common::ClientType {
    fn from(value: ClientType) -> Self {
        match value {
            ClientType::Confidential => Self::Confidential,
            ClientType::Public => Self::Public,
        }
    }
}

/// `None` for UNSPECIFIED.
pub fn client_type_from_pb(value: i32) -> Result<Option<ClientType>, String> {
    match common::ClientType::try_from(value) {
        Ok(common::ClientType::Unspecified) => Ok(None),
        Ok(common::ClientType::Confidential) => Ok(Some(ClientType::Confidential)),
        Ok(common::ClientType::Public) => Ok(Some(ClientType::Public)),
        Err(_) => Err(format!("unknown client type {value}")),
    }
}

/// Grant types travel as their RFC `grant_type` values.
pub fn grant_types_to_pb(values: &[GrantType]) -> Vec<String> {
    values.iter().map(|g| g.as_str().to_owned()).collect()
}

/// Converts a list of wire grant types, failing on the first unknown one.
pub fn grant_types_from_pb(values: &[String]) -> Result<Vec<GrantType>, String> {
    values
        .iter()
        .map(|v| {
            GrantType::parse(v).ok_or_else(|| {
                let supported: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
                format!("unknown grant type: use {}", supported.join(", "))
            })
        })
        .collect()
}

pub fn params_to_pb(params: Params) -> Vec<common::Parameter> {
    params.into_pairs().into_iter().map(|(name, value)| common::Parameter { name, value }).collect()
}

pub fn params_from_pb(parameters: Vec<common::Parameter>) -> Params {
    Params::new(parameters.into_iter().map(|p| (p.name, p.value)).collect())
}

impl From<ClientAuthMethod> for token::ClientAuthMethod {
    fn from(value: ClientAuthMethod) -> Self {
        match value {
            ClientAuthMethod::ClientSecretBasic => Self::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost => Self::ClientSecretPost,
            ClientAuthMethod::None => Self::None,
            ClientAuthMethod::PrivateKeyJwt => Self::PrivateKeyJwt,
        }
    }
}

/// The wire form of presented client credentials and the address they came from.
pub fn client_credentials_to_pb(auth: ClientAuthentication, client_address: String) -> token::ClientCredentials {
    token::ClientCredentials {
        client_id: auth.client_id,
        client_secret: auth.secret.into_exposed(),
        method: token::ClientAuthMethod::from(auth.method) as i32,
        client_address,
    }
}

/// The presented credentials of a wire message. An unspecified method is
/// read from the message itself: a secret means `client_secret_post`.
pub fn client_credentials_from_pb(pb: token::ClientCredentials) -> (ClientAuthentication, String) {
    let method = match token::ClientAuthMethod::try_from(pb.method) {
        Ok(token::ClientAuthMethod::ClientSecretBasic) => ClientAuthMethod::ClientSecretBasic,
        Ok(token::ClientAuthMethod::ClientSecretPost) => ClientAuthMethod::ClientSecretPost,
        Ok(token::ClientAuthMethod::None) => ClientAuthMethod::None,
        Ok(token::ClientAuthMethod::PrivateKeyJwt) => ClientAuthMethod::PrivateKeyJwt,
        Ok(token::ClientAuthMethod::Unspecified) | Err(_) if !pb.client_secret.is_empty() => {
            ClientAuthMethod::ClientSecretPost
        }
        Ok(token::ClientAuthMethod::Unspecified) | Err(_) => ClientAuthMethod::None,
    };
    let auth = ClientAuthentication { client_id: pb.client_id, secret: ClientSecret::new(pb.client_secret), method };
    (auth, pb.client_address)
}

/// The registry's answer as the OAuth rules see it. The registry validated
/// every value when it stored it: a value that does not parse here is a bug
/// or corrupt data, refused (the caller answers INTERNAL), never dropped.
impl TryFrom<&registry::Application> for RegisteredClient {
    type Error = String;

    fn try_from(app: &registry::Application) -> Result<Self, String> {
        let scopes = app.scopes.join(" ");
        Ok(Self {
            client_id: ClientId::parse(&app.client_id).ok_or("the registry sent a malformed client_id")?,
            client_type: client_type_from_pb(app.client_type)?.unwrap_or(ClientType::Confidential),
            grant_types: grant_types_from_pb(&app.grant_types)?,
            redirect_uris: app.redirect_uris.iter().cloned().map(RedirectUri::from_stored).collect(),
            scopes: ScopeSet::parse(&scopes).map_err(|_| "the registry sent a malformed scope".to_owned())?,
            post_logout_redirect_uris: app
                .post_logout_redirect_uris
                .iter()
                .cloned()
                .map(RedirectUri::from_stored)
                .collect(),
            introspects_for: Vec::new(),
            registration: Registration::parse(&app.registration).ok_or("the registry sent an unknown registration")?,
            id_token_alg: SigningAlg::registered(&app.id_token_signed_response_alg)
                .ok_or("the registry sent an unknown id_token_signed_response_alg")?,
            requirements: ClientRequirements {
                pushed_authorization_requests: app.require_pushed_authorization_requests,
                dpop_bound_access_tokens: app.dpop_bound_access_tokens,
            },
        })
    }
}

impl From<&ScopeEntry> for common::ScopeDescription {
    fn from(entry: &ScopeEntry) -> Self {
        Self {
            name: entry.scope.as_str().to_owned(),
            description: entry.description.clone(),
            description_zh: entry.description_zh.clone(),
        }
    }
}

impl From<ClientExtras> for registry::ClientMetadataExtras {
    fn from(extras: ClientExtras) -> Self {
        Self {
            client_uri: extras.client_uri,
            contacts: extras.contacts,
            tos_uri: extras.tos_uri,
            policy_uri: extras.policy_uri,
            software_id: extras.software_id,
            software_version: extras.software_version,
        }
    }
}

impl From<registry::ClientMetadataExtras> for ClientExtras {
    fn from(extras: registry::ClientMetadataExtras) -> Self {
        Self {
            client_uri: extras.client_uri,
            contacts: extras.contacts,
            tos_uri: extras.tos_uri,
            policy_uri: extras.policy_uri,
            software_id: extras.software_id,
            software_version: extras.software_version,
        }
    }
}

/// A registration document's metadata on the wire (gateway → registry), member for member.
impl From<ClientMetadata> for registry::ClientMetadata {
    fn from(m: ClientMetadata) -> Self {
        Self {
            redirect_uris: m.redirect_uris,
            token_endpoint_auth_method: m.token_endpoint_auth_method,
            grant_types: m.grant_types,
            response_types: m.response_types,
            client_name: m.client_name,
            logo_uri: m.logo_uri,
            scope: m.scope,
            jwks: m.jwks,
            jwks_uri: m.jwks_uri,
            application_type: m.application_type,
            post_logout_redirect_uris: m.post_logout_redirect_uris,
            id_token_signed_response_alg: m.id_token_signed_response_alg,
            require_pushed_authorization_requests: m.require_pushed_authorization_requests,
            dpop_bound_access_tokens: m.dpop_bound_access_tokens,
            extras: Some(m.extras.into()),
        }
    }
}

impl From<registry::ClientMetadata> for ClientMetadata {
    fn from(m: registry::ClientMetadata) -> Self {
        Self {
            redirect_uris: m.redirect_uris,
            token_endpoint_auth_method: m.token_endpoint_auth_method,
            grant_types: m.grant_types,
            response_types: m.response_types,
            client_name: m.client_name,
            logo_uri: m.logo_uri,
            scope: m.scope,
            jwks: m.jwks,
            jwks_uri: m.jwks_uri,
            application_type: m.application_type,
            post_logout_redirect_uris: m.post_logout_redirect_uris,
            id_token_signed_response_alg: m.id_token_signed_response_alg,
            require_pushed_authorization_requests: m.require_pushed_authorization_requests,
            dpop_bound_access_tokens: m.dpop_bound_access_tokens,
            extras: m.extras.map(Into::into).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redeemed_code_crosses_the_wire_unchanged() {
        let account = Account {
            id: "u1".to_owned(),
            username: "ada".to_owned(),
            email: "ada@example.com".to_owned(),
            display_name: "Ada".to_owned(),
            avatar_url: String::new(),
            created_at: 7,
            administrator: true,
            email_verified: true,
            disabled: false,
        };
        let code = RedeemedCode {
            code_id: "c1".to_owned(),
            user_id: "u1".to_owned(),
            username: "ada".to_owned(),
            scopes: vec!["openid".to_owned(), "user".to_owned()],
            auth_time: 42,
            nonce: Some("n".to_owned()),
            resources: vec!["https://api.example".to_owned()],
            account: Some(account),
            amr: vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()],
        };
        let wire = authorization::RedeemCodeResponse::from(code.clone());
        assert_eq!(RedeemedCode::from(wire), code);
        let bare = RedeemedCode { nonce: None, account: None, ..code };
        assert_eq!(RedeemedCode::from(authorization::RedeemCodeResponse::from(bare.clone())), bare);
    }

    #[test]
    fn enums_round_trip() {
        assert_eq!(grant_types_from_pb(&grant_types_to_pb(&GrantType::ALL)), Ok(GrantType::ALL.to_vec()));
        for ct in [ClientType::Confidential, ClientType::Public] {
            assert_eq!(client_type_from_pb(common::ClientType::from(ct) as i32), Ok(Some(ct)));
        }
        assert_eq!(client_type_from_pb(0), Ok(None));
        assert!(grant_types_from_pb(&["password".to_owned()]).is_err());
        assert!(client_type_from_pb(99).is_err());
        for method in ClientAuthMethod::ALL {
            let auth = ClientAuthentication { client_id: "c".into(), secret: ClientSecret::new("s"), method };
            let (back, address) = client_credentials_from_pb(client_credentials_to_pb(auth.clone(), "a".into()));
            assert_eq!((back, address.as_str()), (auth, "a"));
        }
    }
}

/// A user account as the other services see it (and a session remembers it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub avatar_url: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Holds the administrator role (sessions written before it existed read false).
    #[serde(default)]
    pub administrator: bool,
    /// The address was confirmed by a link sent to it.
    #[serde(default)]
    pub email_verified: bool,
    /// Disabled by an operator or an administrator: it cannot sign in.
    #[serde(default)]
    pub disabled: bool,
}

impl Account {
    /// The account as an application holding `scopes` may see it (the
    /// seed's open API): the email address only with `user:email`.
    #[must_use]
    pub fn visible_to(mut self, scopes: &[String]) -> Self {
        if !scopes.iter().any(|s| s == "user:email") {
            self.email.clear();
        }
        self
    }
}

impl From<common::User> for Account {
    fn from(user: common::User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            display_name: user.display_name,
            avatar_url: user.avatar_url,
            created_at: user.created_at,
            administrator: user.administrator,
            email_verified: user.email_verified,
            disabled: user.disabled,
        }
    }
}

impl From<Account> for common::User {
    fn from(user: Account) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            display_name: user.display_name,
            avatar_url: user.avatar_url,
            created_at: user.created_at,
            administrator: user.administrator,
            email_verified: user.email_verified,
            disabled: user.disabled,
        }
    }
}

/// A new account, before the registry validates it.
#[derive(Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub avatar_url: String,
    pub password: gatehouse_oauth::Password,
    /// Where a sign-up came from (for its throttle); empty for an operator's creation.
    pub client_address: String,
    /// A sign-up's invitation, where the sign-up policy asks for one.
    pub invitation: String,
}

/// The password and the invitation are secrets: never printed.
impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("avatar_url", &self.avatar_url)
            .field("client_address", &self.client_address)
            .field("invitation", &if self.invitation.is_empty() { "" } else { "(redacted)" })
            .finish_non_exhaustive()
    }
}

impl From<registry::CreateUserRequest> for NewUser {
    fn from(request: registry::CreateUserRequest) -> Self {
        Self {
            username: request.username,
            email: request.email,
            display_name: request.display_name,
            avatar_url: request.avatar_url,
            password: gatehouse_oauth::Password::new(request.password),
            client_address: request.client_address,
            invitation: request.invitation,
        }
    }
}

impl From<NewUser> for registry::CreateUserRequest {
    fn from(new: NewUser) -> Self {
        Self {
            username: new.username,
            email: new.email,
            display_name: new.display_name,
            avatar_url: new.avatar_url,
            password: new.password.expose().to_owned(),
            client_address: new.client_address,
            invitation: new.invitation,
        }
    }
}

/// A new resource server (RFC 8707), before the registry validates it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewResourceServer {
    pub owner_id: String,
    pub name: String,
    pub identifier: String,
    /// Empty means the whole catalogue.
    pub scopes: Vec<String>,
    /// `opaque` or `jwt`; empty means opaque.
    pub token_format: String,
    pub allowed_client_ids: Vec<String>,
    pub any_client: bool,
    /// Empty means none.
    pub introspection_client_id: String,
    pub application_tokens: bool,
}

impl From<registry::CreateResourceServerRequest> for NewResourceServer {
    fn from(request: registry::CreateResourceServerRequest) -> Self {
        Self {
            owner_id: request.owner_id,
            name: request.name,
            identifier: request.identifier,
            scopes: request.scopes,
            token_format: request.token_format,
            allowed_client_ids: request.allowed_client_ids,
            any_client: request.any_client,
            introspection_client_id: request.introspection_client_id,
            application_tokens: request.application_tokens,
        }
    }
}

impl From<NewResourceServer> for registry::CreateResourceServerRequest {
    fn from(new: NewResourceServer) -> Self {
        Self {
            owner_id: new.owner_id,
            name: new.name,
            identifier: new.identifier,
            scopes: new.scopes,
            token_format: new.token_format,
            allowed_client_ids: new.allowed_client_ids,
            any_client: new.any_client,
            introspection_client_id: new.introspection_client_id,
            application_tokens: new.application_tokens,
        }
    }
}

/// What redeeming an authorization code grants: the authorization service
/// answers it (RedeemCode), the token service issues from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedCode {
    /// Identifies the code without revealing it (its hash): a replay revokes what it issued.
    pub code_id: String,
    pub user_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    /// When the user signed in (Unix seconds): OpenID Connect `auth_time`.
    pub auth_time: i64,
    /// The authorization request's OpenID Connect `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// The RFC 8707 resources the authorization request named.
    pub resources: Vec<String>,
    /// The account at sign-in, for the ID token's claims (`None`: ask the registry).
    pub account: Option<Account>,
    /// How the user signed in (RFC 8176 `amr`); empty: a password sign-in before it was kept.
    pub amr: Vec<String>,
}

impl From<RedeemedCode> for authorization::RedeemCodeResponse {
    fn from(code: RedeemedCode) -> Self {
        Self {
            code_id: code.code_id,
            user_id: code.user_id,
            username: code.username,
            scopes: code.scopes,
            auth_time: code.auth_time,
            nonce: code.nonce.unwrap_or_default(),
            resources: code.resources,
            user: code.account.map(Into::into),
            amr: code.amr,
        }
    }
}

impl From<authorization::RedeemCodeResponse> for RedeemedCode {
    fn from(pb: authorization::RedeemCodeResponse) -> Self {
        Self {
            code_id: pb.code_id,
            user_id: pb.user_id,
            username: pb.username,
            scopes: pb.scopes,
            auth_time: pb.auth_time,
            nonce: Some(pb.nonce).filter(|nonce| !nonce.is_empty()),
            resources: pb.resources,
            account: pb.user.map(Into::into),
            amr: pb.amr,
        }
    }
}
