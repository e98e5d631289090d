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
        dpop: Option<&gatehouse_proto::pb::token::v1::DpopProof>,
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
        let Some(active) = self.introspect(token, None, &required, None, None, address).await? else {
            return Err(OAuthError::new(OAuthErrorCode::InvalidToken, "the access token is invalid").into());
        };
        self.check_presentation(token, &active.jkt, dpop).await?;
        // A token for a resource server is for that resource only (RFC 8707
        // §1): Gatehouse's own API accepts the tokens that name no resource.
        if !active.audience.is_empty() {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "this token is for another resource server (its audience), not Gatehouse's API",
            )
            .into());
        }
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
