//! AuthorizeApiCall: whether a bearer token may call Gatehouse's own open
//! API (the seed's `/api/current_user`, the REST API). The rules live here,
//! beside introspection, so that every surface that accepts tokens applies
//! the same ones.

use gatehouse_oauth::{OAuthError, OAuthErrorCode};

use crate::cache::ActiveToken;
use crate::error::TokenResult;
use crate::service::TokenService;

impl TokenService {
    /// An active access token of a user with every one of `required_scopes`;
    /// only for reading: no scope of the catalogue lets a third-party
    /// application change the user's own applications or authorizations.
    pub(crate) async fn authorize_api_call(
        &self,
        token: &str,
        required_scopes: &[String],
        changes_state: bool,
        address: &str,
    ) -> TokenResult<ActiveToken> {
        if changes_state {
            return Err(OAuthError::new(
                OAuthErrorCode::InsufficientScope,
                "changes need a browser session: an access token can only read",
            )
            .into());
        }
        // With required scopes, an inactive token or a missing scope is an error, never `None`.
        let required: Vec<String> =
            if required_scopes.is_empty() { vec!["user".to_owned()] } else { required_scopes.to_vec() };
        let Some(active) = self.introspect(token, None, &required, address).await? else {
            return Err(OAuthError::new(OAuthErrorCode::InvalidToken, "the access token is invalid").into());
        };
        if active.user_id.is_empty() {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "this token belongs to an application, not a user",
            )
            .into());
        }
        Ok(active)
    }
}
