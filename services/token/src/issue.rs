//! Minting tokens for one grant (a "family": what one code or one
//! client_credentials request issued, plus its refresh rotations).

use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{AccessToken, RefreshToken, Resource, ResourceId, SecretHash, TokenFormat, resource};
use serde::Serialize;

use crate::error::TokenResult;
use crate::service::TokenService;
use crate::store::TokenRecord;

/// Who and what a family of tokens is for.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) id: String,
    pub(crate) code_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) username: String,
    /// When the user signed in for this grant; None for application tokens.
    pub(crate) auth_time: Option<i64>,
    /// How the user signed in for this grant (RFC 8176); empty for
    /// application tokens (and a user grant from before it was kept: a password).
    pub(crate) amr: Vec<String>,
    /// The resource servers (RFC 8707) the grant was made for: what its
    /// refresh token keeps, and what a later request may narrow to.
    pub(crate) resources: Vec<String>,
    /// The resource servers this access token is for (its `aud`), each as
    /// the registry described it just now: within `resources`.
    pub(crate) audience: Vec<Resource>,
    /// The DPoP key (RFC 9449) this request's tokens are bound to.
    pub(crate) binding: crate::dpop::Binding,
    /// RFC 8693: the grant an exchange issued this family from.
    pub(crate) parent: Option<String>,
    /// RFC 8693 `act`: who acts for the subject, the current actor first.
    pub(crate) actors: Vec<String>,
    /// When its tokens must be over at the latest (unix seconds): an
    /// exchanged token never outlives the token it was exchanged for.
    pub(crate) not_after: Option<i64>,
}

impl Family {
    /// How the user signed in (`amr`, RFC 8176) and the class that is
    /// (`acr`): nothing for a grant without an interactive sign-in
    /// (application tokens, personal tokens); a password for a sign-in from
    /// before methods were kept.
    pub(crate) fn authentication(&self) -> (Vec<String>, Option<&'static str>) {
        gatehouse_oauth::acr::of_sign_in(self.auth_time, &self.amr)
    }

    /// The expiry of a token living `ttl` from `now`, within `not_after`.
    fn expiry(&self, now: i64, ttl: std::time::Duration) -> i64 {
        let natural = now.saturating_add(seconds(ttl));
        self.not_after.map_or(natural, |limit| natural.min(limit))
    }
}

/// The claims of a JWT access token (RFC 9068 §2.2).
#[derive(Debug, Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    /// The user's id, or the client's for an application's own token (§2.2).
    sub: &'a str,
    aud: Vec<&'a str>,
    exp: i64,
    iat: i64,
    jti: String,
    client_id: &'a str,
    /// The client the token was issued to, also as `azp`: an OpenID
    /// Connect relying party whose client id is this token's audience
    /// refuses it as an ID token (Core §3.1.3.7: `azp` must be its own id),
    /// as it does for `typ: at+jwt` where it checks the type.
    azp: &'a str,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// RFC 9068 §2.2.1, RFC 9470 §6.1: how strongly the user signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    /// RFC 9449 §6.1: the DPoP key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
    /// RFC 8693 §4.1: who acts for the subject (nested for a chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<serde_json::Value>,
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`.
#[derive(Debug, Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

/// RFC 9068 §2.1: the `typ` that tells an access token from an ID token.
pub(crate) const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Tokens just minted: the clear texts (returned once, never printed) and
/// their records.
#[derive(Debug)]
pub(crate) struct Minted {
    pub(crate) access_token: AccessToken,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) expires_in: i64,
    pub(crate) scopes: Vec<String>,
    pub(crate) records: Vec<TokenRecord>,
    /// The OpenID Connect ID token, when the grant is an `openid` one.
    pub(crate) id_token: Option<gatehouse_oauth::IdToken>,
    /// The access token is DPoP-bound: its type is `DPoP` (RFC 9449 §5).
    pub(crate) dpop: bool,
    /// Issued by a token exchange (RFC 8693): the answer names its type
    /// (`issued_token_type`).
    pub(crate) issued_token_type: Option<&'static str>,
}

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl TokenService {
    /// The stored form of `token`, living `ttl` from `now`.
    pub(crate) fn record(
        &self,
        kind: TokenKind,
        token: &str,
        family: &Family,
        scopes: &[String],
        now: i64,
        ttl: std::time::Duration,
    ) -> TokenRecord {
        // An access token's audience is its resources; a refresh token
        // keeps the grant's, to narrow from at the next refresh.
        let audience = if kind == TokenKind::Refresh {
            family.resources.clone()
        } else {
            family.audience.iter().map(|r| r.id.as_str().to_owned()).collect()
        };
        TokenRecord {
            hash: SecretHash::of(token).as_str().to_owned(),
            kind,
            client_id: family.client_id.clone(),
            user_id: family.user_id.clone(),
            username: family.username.clone(),
            scopes: scopes.to_vec(),
            family_id: family.id.clone(),
            code_id: family.code_id.clone(),
            issued_at: now,
            expires_at: family.expiry(now, ttl),
            revoked: false,
            rotated: false,
            auth_time: family.auth_time,
            amr: family.amr.clone(),
            audience,
            jkt: match kind {
                TokenKind::Refresh => family.binding.for_refresh(),
                _ => family.binding.jkt.clone().unwrap_or_default(),
            },
            parent_family: family.parent.clone(),
            actors: family.actors.clone(),
        }
    }

    /// Stores a minted family's tokens behind `fence` (see
    /// [`crate::store::Fence`]) and hands them out: a revocation that ran
    /// meanwhile and caught them revokes them instead.
    pub(crate) async fn store_minted(
        &self,
        minted: Minted,
        family: &Family,
        fence: &crate::store::Fence,
    ) -> TokenResult<Minted> {
        self.before_commit()?;
        let caught = self.inner.store.insert(&minted.records, fence).await?;
        self.fence(caught, &family.client_id, &family.id).await?;
        self.inner.cache.cache_issued(&minted.records).await;
        Ok(minted)
    }

    /// Records in the audit trail an issuance a client asked for.
    pub(crate) async fn audit_issued(&self, action: &str, family: &Family, details: serde_json::Value) {
        use gatehouse_runtime::audit::{Actor, AuditEvent, Outcome};
        let actor =
            Actor { kind: "client".to_owned(), id: family.client_id.clone(), via: "client_authentication".to_owned() };
        let event = AuditEvent::new(action, Outcome::Success, actor, family.id.clone())
            .subject(&family.user_id)
            .details(details);
        self.audit().record(event).await;
    }

    /// An access token with `access_scopes` and, when `refresh_scopes` is
    /// given, a refresh token carrying the grant's full scope. The access
    /// token is for the family's audience, a JWT when one of its resources
    /// asked for them; its scope is what those resources accept.
    pub(crate) fn mint(
        &self,
        family: &Family,
        access_scopes: &[String],
        refresh_scopes: Option<&[String]>,
    ) -> TokenResult<Minted> {
        let now = self.now();
        let access_scopes = &resource::scope_for(access_scopes, &family.audience);
        let access_token = match resource::format_for(&family.audience) {
            TokenFormat::Opaque => TokenKind::Access.generate(),
            TokenFormat::Jwt => self.jwt_access_token(family, access_scopes, now)?,
        };
        let mut records =
            vec![self.record(TokenKind::Access, &access_token, family, access_scopes, now, self.config().access_ttl)];
        let refresh_token = refresh_scopes.map(|scopes| {
            let token = TokenKind::Refresh.generate();
            records.push(self.record(TokenKind::Refresh, &token, family, scopes, now, self.config().refresh_ttl));
            token
        });
        Ok(Minted {
            access_token: AccessToken::new(access_token),
            refresh_token: refresh_token.map(RefreshToken::new),
            expires_in: family.expiry(now, self.config().access_ttl).saturating_sub(now),
            scopes: access_scopes.to_vec(),
            records,
            id_token: None,
            dpop: family.binding.jkt.is_some(),
            issued_token_type: None,
        })
    }

    /// The audience of an access token: `requested` narrowed from what the
    /// grant holds (RFC 8707 §2.2: never wider), each resource described by
    /// the registry now (a resource deleted since, or no longer open to the
    /// client, is `invalid_target`).
    pub(crate) async fn audience(
        &self,
        client_id: &str,
        requested: Vec<ResourceId>,
        granted: &[String],
    ) -> TokenResult<Vec<Resource>> {
        let granted: Vec<ResourceId> = granted.iter().cloned().map(ResourceId::from_stored).collect();
        let ids = resource::narrow(requested, &granted)?;
        self.inner.clients.resources(client_id, &ids, false).await
    }

    /// A JWT access token (RFC 9068), RS256 (its §4 requires it of every
    /// verifier). It is stored by hash like an opaque one: introspection
    /// and revocation treat both alike, and a revoked JWT is inactive.
    fn jwt_access_token(&self, family: &Family, scopes: &[String], now: i64) -> TokenResult<String> {
        let config = self.config();
        let sub = if family.user_id.is_empty() { &family.client_id } else { &family.user_id };
        let (amr, acr) = family.authentication();
        let claims = AccessTokenClaims {
            iss: &config.issuer,
            sub,
            aud: family.audience.iter().map(|r| r.id.as_str()).collect(),
            exp: family.expiry(now, config.access_ttl),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: &family.client_id,
            azp: &family.client_id,
            scope: scopes.join(" "),
            auth_time: family.auth_time,
            acr,
            amr,
            cnf: family.binding.jkt.as_deref().map(|jkt| Confirmation { jkt }),
            act: gatehouse_oauth::grant::act_claim(&family.actors),
        };
        self.inner.keys.sign(crate::keys::ID_TOKEN_ALG, ACCESS_TOKEN_TYP, &claims)
    }
}
