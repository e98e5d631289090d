//! Who may call the token service: internal credentials (checked by the
//! registry, which owns them) and validators' access tokens, which this
//! service checks itself, locally, as it checks any token.
//!
//! A validator is an internal service that checks tokens. It identifies with
//! an access token this service issued by `client_credentials` to a client
//! the operator listed (`GATEHOUSE_VALIDATOR_CLIENTS`), and renews it like
//! any client (`gatehouse-client`'s token source). The token's audience (the
//! `resource`s it asked for, which the registry grants only to clients a
//! resource server allows) is the set of audiences whose tokens it may see.

use std::collections::HashSet;
use std::sync::Arc;

use gatehouse_oauth::token::TokenKind;
use gatehouse_runtime::access::{Caller, Mechanism, Role, Unavailable, Verifier};

use crate::service::TokenService;

/// Validators' access tokens.
#[derive(Debug, Clone)]
pub(crate) struct ValidatorTokens {
    service: TokenService,
    validators: Arc<HashSet<String>>,
}

#[tonic::async_trait]
impl Verifier for ValidatorTokens {
    async fn verify(&self, bearer: &str) -> Result<Option<Caller>, Unavailable> {
        if self.validators.is_empty() || TokenKind::of(bearer) != Some(TokenKind::Access) {
            return Ok(None);
        }
        let active = self.service.active(bearer).await.map_err(|e| Unavailable(e.to_string()))?;
        // A client's own token (no user), of a listed client: never a user's
        // token, whatever client it was issued to.
        let Some(active) = active.filter(|a| {
            a.kind() == TokenKind::Access && a.user_id.is_empty() && self.validators.contains(&a.client_id)
        }) else {
            return Ok(None);
        };
        Ok(Some(Caller {
            role: Role::Validator,
            name: active.client_id.clone(),
            mechanism: Mechanism::AccessToken,
            client_id: Some(active.client_id),
            audiences: Some(active.audience),
            remote: None,
        }))
    }
}

/// The token service's verifiers: validators' tokens first (a cheap prefix
/// check for anything else), then internal credentials via the registry.
pub(crate) fn verifiers(service: &TokenService) -> Vec<Arc<dyn Verifier>> {
    let validators = Arc::new(service.inner.config.validators.iter().cloned().collect::<HashSet<_>>());
    vec![
        Arc::new(ValidatorTokens { service: service.clone(), validators }),
        gatehouse_runtime::clients::registry::RegistryCredentials::verifier(service.inner.clients.registry()),
    ]
}
