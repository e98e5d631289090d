//! Client authentication at the token service's endpoints, behind the
//! throttle: each attempt reserves its slots first, an `invalid_client`
//! keeps them, anything else gives them back.

use gatehouse_oauth::OAuthErrorCode;

use crate::clients::{Client, Presented};
use crate::error::{TokenError, TokenResult};
use crate::service::TokenService;

impl TokenService {
    pub(crate) async fn authenticate_client(&self, credentials: Option<&Presented>) -> TokenResult<Client> {
        let mut reservation = None;
        let mut _turn = None;
        if let Some(credentials) = credentials {
            // A kept success means the secret was right moments ago: no
            // guessing to limit, and no cache round trip on the hot path.
            if let Some(client) = self.inner.clients.kept(credentials) {
                return Ok(client);
            }
            // Concurrent presentations of the same secret take turns: the
            // first one checks it, the others find it kept.
            _turn = self.inner.clients.turn(credentials).await;
            if let Some(client) = self.inner.clients.kept(credentials) {
                return Ok(client);
            }
            reservation = self.inner.throttles.reserve_auth(credentials).await?;
        }
        let result = self.inner.clients.authenticate(credentials).await;
        if let Some(reservation) = reservation {
            let failed =
                matches!(&result, Err(TokenError::OAuth(oauth)) if oauth.code == OAuthErrorCode::InvalidClient);
            self.inner.throttles.settle(reservation, failed).await;
        }
        result
    }

    /// A client looked up a token that does not exist (see [`crate::throttle::Throttles::unknown_token`]).
    pub(crate) async fn unknown_token(&self, client_id: &str) -> TokenResult<()> {
        self.inner.throttles.unknown_token(client_id).await
    }
}
