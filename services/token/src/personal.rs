//! Personal access tokens: a user's own long-lived tokens for scripts, CI
//! and git over HTTPS. Each is a token row of kind `Personal` (so the
//! cache rule, revocation, introspection and user deletion treat it like
//! any token) plus a description the user sees (name, last use).

use std::time::Duration;

use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{ScopeSet, SecretHash};

use crate::error::{TokenError, TokenResult};
use crate::issue::Family;
use crate::service::TokenService;
use crate::store::{PersonalRecord, RevokeScope};

/// What a user may name a token: something they recognise in a list.
const MAX_NAME: usize = 100;
/// How often a token's "last used" is written at most.
const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

/// A personal access token just made: the clear text (shown once, never
/// printed) and its description.
#[derive(Debug)]
pub(crate) struct NewPersonalToken {
    pub(crate) token: gatehouse_oauth::AccessToken,
    pub(crate) info: PersonalRecord,
}

/// What `RevokeTokenByValue` found.
#[derive(Debug)]
pub(crate) struct RevokedByValue {
    pub(crate) kind: TokenKind,
    pub(crate) user_id: String,
    pub(crate) client_id: String,
    /// False when it was revoked before.
    pub(crate) newly: bool,
}

fn invalid(field: &'static str, rule: impl Into<String>) -> TokenError {
    TokenError::Invalid { field, rule: rule.into() }
}

impl TokenService {
    fn personal_ttl(&self, expires_in: i64) -> TokenResult<Duration> {
        let max = self.config().personal_token_max_ttl;
        let seconds = u64::try_from(expires_in).unwrap_or(0);
        if seconds == 0 || seconds > max.as_secs() {
            let days = max.as_secs() / 86_400;
            return Err(invalid("expires_in", format!("required, at most {days} days")));
        }
        Ok(Duration::from_secs(seconds))
    }

    /// A new token `TokenKind::Personal` of `family`, stored with `ttl`.
    fn personal_token(&self, family: &Family, scopes: &[String], ttl: Duration) -> (String, crate::store::TokenRecord) {
        let token = TokenKind::Personal.generate();
        let record = self.record(TokenKind::Personal, &token, family, scopes, self.now(), ttl);
        (token, record)
    }

    pub(crate) async fn create_personal_token(
        &self,
        user_id: &str,
        username: &str,
        name: &str,
        scopes: &[String],
        expires_in: i64,
    ) -> TokenResult<NewPersonalToken> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || gatehouse_oauth::text::first_deceptive(name).is_some()
        {
            return Err(invalid("name", format!("1 to {MAX_NAME} printable characters")));
        }
        if user_id.is_empty() {
            return Err(invalid("user_id", "required"));
        }
        let ttl = self.personal_ttl(expires_in)?;
        let scopes = ScopeSet::parse(&scopes.join(" ")).map_err(|_| invalid("scopes", "malformed scope"))?;
        if scopes.is_empty() {
            return Err(invalid("scopes", "at least one scope of the catalogue"));
        }
        let catalogue = self.inner.clients.catalogue().await?;
        if let Some(unknown) = catalogue.first_unknown(&scopes) {
            // A catalogue-shaped name (it parsed as a scope), not free text.
            return Err(invalid("scopes", format!("{} is not in the scope catalogue", unknown.as_str())));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let family = Family {
            id: id.clone(),
            code_id: None,
            client_id: String::new(),
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            auth_time: None,
            amr: Vec::new(),
            // Personal tokens are for Gatehouse's own API: no audience.
            resources: Vec::new(),
            audience: Vec::new(),
            binding: crate::dpop::Binding::default(),
            parent: None,
            actors: Vec::new(),
            not_after: None,
        };
        let scopes = scopes.to_strings();
        let (token, record) = self.personal_token(&family, &scopes, ttl);
        let info = PersonalRecord {
            id,
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            hash: record.hash.clone(),
            scopes,
            created_at: record.issued_at,
            expires_at: record.expires_at,
            last_used_at: None,
            last_used_address: None,
        };
        self.before_commit()?;
        self.inner.personal.insert_personal(&info, &record).await?;
        // A user deleted meanwhile: the token is revoked at once (no grant
        // to race, so only the deletion record counts).
        self.check_fence(user_id, &family.id).await?;
        self.inner.cache.cache_issued(std::slice::from_ref(&record)).await;
        Ok(NewPersonalToken { token: gatehouse_oauth::AccessToken::new(token), info })
    }

    pub(crate) async fn list_personal_tokens(&self, user_id: &str) -> TokenResult<Vec<PersonalRecord>> {
        self.inner.personal.personal_tokens(user_id).await
    }

    async fn own_personal_token(&self, user_id: &str, id: &str) -> TokenResult<PersonalRecord> {
        let tokens = self.inner.personal.personal_tokens(user_id).await?;
        tokens
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| TokenError::NotFound("no such personal access token".into()))
    }

    /// The same name and scopes, a new token; the old one ends at once.
    pub(crate) async fn regenerate_personal_token(
        &self,
        user_id: &str,
        id: &str,
        expires_in: i64,
    ) -> TokenResult<NewPersonalToken> {
        let ttl = self.personal_ttl(expires_in)?;
        let mut info = self.own_personal_token(user_id, id).await?;
        let username = self.inner.store.find(&info.hash).await?.map(|t| t.username).unwrap_or_default();
        let family = Family {
            id: info.id.clone(),
            code_id: None,
            client_id: String::new(),
            user_id: user_id.to_owned(),
            username,
            auth_time: None,
            amr: Vec::new(),
            // Personal tokens are for Gatehouse's own API: no audience.
            resources: Vec::new(),
            audience: Vec::new(),
            binding: crate::dpop::Binding::default(),
            parent: None,
            actors: Vec::new(),
            not_after: None,
        };
        let (token, record) = self.personal_token(&family, &info.scopes, ttl);
        self.before_commit()?;
        let old = self.inner.personal.regenerate_personal(id, &record, self.now()).await?;
        self.inner.cache.tombstone(&old).await?;
        self.check_fence(user_id, &family.id).await?;
        self.inner.cache.cache_issued(std::slice::from_ref(&record)).await;
        info.hash = record.hash;
        info.expires_at = record.expires_at;
        Ok(NewPersonalToken { token: gatehouse_oauth::AccessToken::new(token), info })
    }

    /// Revokes one of the user's tokens (`id`), or all of them (`None`).
    pub(crate) async fn revoke_personal_tokens(&self, user_id: &str, id: Option<&str>) -> TokenResult<u64> {
        let tokens = match id {
            Some(id) => vec![self.own_personal_token(user_id, id).await?],
            None => self.inner.personal.personal_tokens(user_id).await?,
        };
        let mut revoked = 0;
        for token in &tokens {
            let gone = self.inner.store.revoke(RevokeScope::Token(&token.hash), self.now(), self.now_ms()).await?;
            revoked += gone.iter().filter(|r| r.newly).count() as u64;
            // The token first: a failure after it leaves a dead token listed, never a live one hidden.
            self.inner.cache.tombstone(&gone).await?;
        }
        let ids: Vec<String> = tokens.into_iter().map(|t| t.id).collect();
        self.inner.personal.personal_revoked(&ids, self.now()).await?;
        Ok(revoked)
    }

    /// Revokes any token of ours by its value (a leak reported by a secret
    /// scanner); `None` when no such token exists.
    pub(crate) async fn revoke_token_by_value(&self, token: &str) -> TokenResult<Option<RevokedByValue>> {
        let Some(kind) = TokenKind::of(token) else { return Ok(None) };
        let hash = SecretHash::of(token);
        let Some(record) = self.inner.store.find(hash.as_str()).await? else { return Ok(None) };
        let scope = match kind {
            // A refresh token carries its whole grant (RFC 7009 §2.1).
            TokenKind::Refresh => RevokeScope::Family(&record.family_id),
            TokenKind::Access | TokenKind::Personal | TokenKind::Transaction => RevokeScope::Token(hash.as_str()),
        };
        let revoked = self.inner.store.revoke(scope, self.now(), self.now_ms()).await?;
        self.inner.cache.tombstone(&revoked).await?;
        if kind == TokenKind::Personal {
            self.inner.personal.personal_revoked(std::slice::from_ref(&record.family_id), self.now()).await?;
        }
        tracing::warn!(kind = kind.as_str(), user_id = %record.user_id, "token revoked by value (reported leaked)");
        let newly = revoked.iter().any(|r| r.newly);
        Ok(Some(RevokedByValue { kind, user_id: record.user_id, client_id: record.client_id, newly }))
    }

    /// Revokes, at the registry, a registration access token (RFC 7592:
    /// `gra_`, or `grt_` from before they had their own prefix) reported by
    /// value; the client whose token it was, `None` when no registration
    /// holds it. Asked only once no token of this service has the value.
    pub(crate) async fn revoke_registration_token_by_value(&self, token: &str) -> TokenResult<Option<String>> {
        if !(token.starts_with("gra_") || token.starts_with("grt_")) {
            return Ok(None);
        }
        self.inner.clients.revoke_registration_token(token).await
    }

    /// Records that a personal access token was used, at most once a
    /// minute per token (a cache marker keeps the writes rare); best effort.
    pub(crate) async fn personal_token_used(&self, token: &str, address: &str) {
        let hash = SecretHash::of(token);
        let marker = format!("token:pat-used:{}", hash.as_str());
        match self.inner.kv.set_if_absent(&marker, b"1", LAST_USED_GRANULARITY).await {
            Ok(true) => {
                if let Err(error) = self.inner.personal.touch_personal(hash.as_str(), self.now(), address).await {
                    tracing::warn!(%error, "could not record a personal access token's last use");
                }
            }
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, "last use of a personal access token not recorded"),
        }
    }
}
