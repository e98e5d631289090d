//! OpenID Connect identity: the ID token (Core §2, §3.1.3.6, §12.2) and
//! the claims a grant's scopes release (Core §5.4). One mapping serves the
//! ID token and UserInfo, so the two never disagree.

use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{AccessToken, OAuthError, OAuthErrorCode};
use gatehouse_runtime::clients::registry::Account;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::TokenResult;
use crate::issue::Family;
use crate::service::TokenService;

/// The scope that makes a grant an OpenID Connect one.
pub(crate) const OPENID: &str = "openid";

/// The standard claims a set of scopes releases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct StandardClaims {
    /// The user's id: a UUID, never reassigned (Core §2).
    pub(crate) sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email_verified: Option<bool>,
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

impl StandardClaims {
    /// `profile` releases the name, username, picture and update time;
    /// `email` the address, and `email_verified` true only once the
    /// account confirmed it by a link mailed to it (a relying party that
    /// trusts only verified addresses, as Kubernetes does, is never misled).
    pub(crate) fn of(account: &Account, scopes: &[String]) -> Self {
        let has = |scope: &str| scopes.iter().any(|s| s == scope);
        let mut claims = Self { sub: account.id.clone(), ..Self::default() };
        if has("profile") {
            claims.name = non_empty(&account.display_name).or_else(|| non_empty(&account.username));
            claims.preferred_username = non_empty(&account.username);
            claims.picture = non_empty(&account.avatar_url);
            // Accounts do not change after sign-up (no profile edits yet).
            claims.updated_at = Some(account.created_at);
        }
        if has("email") && !account.email.is_empty() {
            claims.email = Some(account.email.clone());
            claims.email_verified = Some(account.email_verified);
        }
        claims
    }
}

#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    /// How the user signed in (RFC 8176) and the class that is.
    amr: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'static str>,
    #[serde(flatten)]
    standard: StandardClaims,
}

/// `at_hash` (Core §3.1.3.6): the left half of the SHA-256 of the access
/// token, base64url; SHA-256 for both RS256 and ES256.
pub(crate) fn at_hash(access_token: &str) -> String {
    use base64::Engine;
    let digest = Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

impl TokenService {
    /// The ID token of a user's grant whose `scopes` include `openid`, or
    /// None. Built before the tokens are stored, so that a failure here
    /// (the registry down) stores nothing and the code can be given back.
    pub(crate) async fn id_token(
        &self,
        alg: crate::keys::SigningAlg,
        family: &Family,
        scopes: &[String],
        nonce: Option<&str>,
        access_token: &AccessToken,
        known: Option<&Account>,
    ) -> TokenResult<Option<String>> {
        if family.user_id.is_empty() || !scopes.iter().any(|s| s == OPENID) {
            return Ok(None);
        }
        // The code's snapshot of the account when it has one (the user it
        // names is this grant's user); otherwise the registry's.
        let account = match known.filter(|a| a.id == family.user_id) {
            Some(account) => account.clone(),
            None => match self.inner.clients.user(&family.user_id).await? {
                Some(account) => account,
                None => return Err(OAuthError::invalid_grant("the user of this grant no longer exists").into()),
            },
        };
        let now = self.now();
        let config = self.config();
        let (amr, acr) = family.authentication();
        // A user's ID token always says how they signed in.
        let amr = if amr.is_empty() { gatehouse_oauth::acr::amr(gatehouse_oauth::acr::AMR_PASSWORD) } else { amr };
        let claims = IdTokenClaims {
            iss: &config.issuer,
            aud: &family.client_id,
            azp: &family.client_id,
            exp: now.saturating_add(i64::try_from(config.id_token_ttl.as_secs()).unwrap_or(i64::MAX)),
            iat: now,
            auth_time: family.auth_time,
            nonce,
            at_hash: at_hash(access_token.expose()),
            amr,
            acr,
            standard: StandardClaims::of(&account, scopes),
        };
        self.inner.keys.sign(alg, "JWT", &claims).map(Some)
    }

    /// The user and client an `id_token_hint` names (RP-initiated logout):
    /// an ID token this server signed for this issuer, expired or not (a
    /// hint is often an old token, OpenID Connect RP-Initiated Logout §2).
    pub(crate) fn id_token_hint(&self, hint: &str) -> TokenResult<(String, String)> {
        #[derive(serde::Deserialize)]
        struct Hint {
            iss: String,
            sub: String,
            aud: Audience,
        }
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Audience {
            One(String),
            Many(Vec<String>),
        }
        let invalid = || crate::error::TokenError::Invalid {
            field: "id_token_hint",
            rule: "is not an ID token this server issued".to_owned(),
        };
        // A JWT access token is signed by the same keys: never a hint.
        let typ = jsonwebtoken::decode_header(hint).ok().and_then(|h| h.typ);
        if typ.as_deref() == Some(crate::issue::ACCESS_TOKEN_TYP) {
            return Err(invalid());
        }
        let hint: Hint = self.inner.keys.verify(hint).ok_or_else(invalid)?;
        if hint.iss != self.config().issuer {
            return Err(invalid());
        }
        let client_id = match hint.aud {
            Audience::One(aud) => aud,
            Audience::Many(mut auds) if auds.len() == 1 => auds.remove(0),
            Audience::Many(_) => return Err(invalid()),
        };
        Ok((hint.sub, client_id))
    }

    /// UserInfo (Core §5.3): the claims an active user access token with
    /// `openid` releases. Refusals are RFC 6750's `invalid_token` and
    /// `insufficient_scope`.
    pub(crate) async fn user_info(
        &self,
        token: &str,
        dpop: Option<&gatehouse_proto::pb::token::v1::DpopProof>,
    ) -> TokenResult<StandardClaims> {
        let invalid = || OAuthError::new(OAuthErrorCode::InvalidToken, "the access token is invalid");
        // Any audience: the `openid` scope is what UserInfo asks of a token.
        let active = self.introspect(token, None, &[], None, None, "").await?;
        // A user's access token (or personal token): never a refresh token, nor an application's own.
        let Some(active) = active.filter(|a| !a.user_id.is_empty() && a.kind() != TokenKind::Refresh) else {
            return Err(invalid().into());
        };
        self.check_presentation(token, &active.jkt, dpop).await?;
        if !active.scopes.iter().any(|s| s == OPENID) {
            return Err(OAuthError::new(OAuthErrorCode::InsufficientScope, "UserInfo needs the openid scope").into());
        }
        let Some(account) = self.inner.clients.user(&active.user_id).await? else {
            return Err(invalid().into());
        };
        Ok(StandardClaims::of(&account, &active.scopes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            id: "0192-uuid".to_owned(),
            username: "ada".to_owned(),
            email: "ada@example.com".to_owned(),
            display_name: "Ada Lovelace".to_owned(),
            avatar_url: String::new(),
            created_at: 1_700_000_000,
            administrator: false,
            email_verified: false,
            disabled: false,
        }
    }

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_scope_releases_its_claims_and_no_more() {
        let only_openid = StandardClaims::of(&account(), &scopes(&["openid"]));
        assert_eq!(only_openid, StandardClaims { sub: "0192-uuid".to_owned(), ..StandardClaims::default() });
        let profile = StandardClaims::of(&account(), &scopes(&["openid", "profile"]));
        assert_eq!(profile.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(profile.preferred_username.as_deref(), Some("ada"));
        assert_eq!(profile.picture, None, "an empty avatar is left out, not sent empty");
        assert_eq!(profile.updated_at, Some(1_700_000_000));
        assert_eq!(profile.email, None);
        let email = StandardClaims::of(&account(), &scopes(&["email", "openid"]));
        assert_eq!(email.email.as_deref(), Some("ada@example.com"));
        assert_eq!(email.email_verified, Some(false));
        assert_eq!(email.name, None);
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // Computed independently: Python's hashlib.sha256, first 16 bytes, base64url.
        assert_eq!(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNPUXQ6Pe"), "6fI0KnGSuSNE8w46rVX4DA");
    }
}
