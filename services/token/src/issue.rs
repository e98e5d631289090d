//! Minting tokens for one grant (a "family": what one code or one
//! client_credentials request issued, plus its refresh rotations).

use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{AccessToken, RefreshToken, SecretHash};

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
}

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
    pub(crate) id_token: Option<String>,
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
            expires_at: now.saturating_add(seconds(ttl)),
            revoked: false,
            rotated: false,
            auth_time: family.auth_time,
        }
    }

    /// An access token with `access_scopes` and, when `refresh_scopes` is
    /// given, a refresh token carrying the grant's full scope.
    pub(crate) fn mint(&self, family: &Family, access_scopes: &[String], refresh_scopes: Option<&[String]>) -> Minted {
        let now = self.now();
        let access_token = TokenKind::Access.generate();
        let mut records =
            vec![self.record(TokenKind::Access, &access_token, family, access_scopes, now, self.config().access_ttl)];
        let refresh_token = refresh_scopes.map(|scopes| {
            let token = TokenKind::Refresh.generate();
            records.push(self.record(TokenKind::Refresh, &token, family, scopes, now, self.config().refresh_ttl));
            token
        });
        Minted {
            access_token: AccessToken::new(access_token),
            refresh_token: refresh_token.map(RefreshToken::new),
            expires_in: seconds(self.config().access_ttl),
            scopes: access_scopes.to_vec(),
            records,
            id_token: None,
        }
    }
}
