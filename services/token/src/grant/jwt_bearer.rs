//! The JWT bearer grant (RFC 7523 §2.1): `assertion` is one JWT, which the
//! registry verifies against the operator's federation file. Two kinds:
//!
//! - a workload's platform token (Kubernetes, CI, SPIFFE) that a rule maps
//!   to a client: the token is the client's credential and the grant at
//!   once, and the client gets its own token as with `client_credentials`;
//! - an Identity Assertion JWT Authorization Grant (ID-JAG, draft
//!   `oauth-identity-assertion-authz-grant`): an enterprise identity
//!   provider asserts that its user lets the authenticated client act for
//!   them here. The client gets an access token for that user, within the
//!   assertion's `scope` and `resource` (a request's own only narrow them),
//!   bound to the assertion's DPoP key when it names one, and no refresh
//!   token: it asks the provider for a new assertion instead.

use gatehouse_oauth::grant::narrow;
use gatehouse_oauth::{
    ClientAuthMethod, GrantType, OAuthError, OAuthErrorCode, Params, ResourceId, Scope, ScopeSet, TokenRequest,
};
use gatehouse_proto::pb::registry::v1::IdentityAssertion;
use gatehouse_proto::pb::token::v1::DpopProof;
use gatehouse_runtime::clients::registry::AssertionGrant;

use super::family_id;
use crate::clients::{Client, Presented};
use crate::dpop::Binding;
use crate::error::{TokenError, TokenResult};
use crate::issue::{Family, Minted};
use crate::service::TokenService;
use crate::store::Fence;

impl TokenService {
    /// A jwt-bearer token request. A client that sent credentials is
    /// authenticated first, as at every grant; one that sent none (or only
    /// its `client_id`) is what its assertion makes it.
    pub(crate) async fn jwt_bearer(
        &self,
        presented: Option<&Presented>,
        params: &Params,
        dpop: Option<&DpopProof>,
    ) -> TokenResult<Minted> {
        let sends_credentials = presented.is_some_and(|p| p.auth.method != ClientAuthMethod::None);
        // An ID-JAG needs its client identified (a public one by its
        // client_id alone) before it is read; a workload token may be the
        // only credential, and a client_id beside it only a claim.
        let identity = params.single("assertion").ok().flatten().is_some_and(gatehouse_oauth::grant::is_id_jag);
        let authenticated = match presented {
            Some(presented) if sends_credentials || (identity && !presented.auth.client_id.is_empty()) => {
                Some(self.authenticate_client(Some(presented)).await?)
            }
            _ => None,
        };
        // A client that authenticated must be allowed the grant before its
        // assertion is read (and an ID-JAG's single use spent).
        if let Some(client) = &authenticated {
            refuse_unless_allowed(client)?;
        }
        let request = TokenRequest::parse(GrantType::JwtBearer, params)?;
        // The proof first: one refused for its nonce must leave the assertion unspent.
        let proof = self.token_request_proof(dpop).await?;
        let TokenRequest::JwtBearer { assertion, scope, resources } = request else {
            return Err(OAuthError::invalid_request("grant_type is not jwt-bearer").into());
        };
        let client_id = match (&authenticated, presented) {
            (Some(client), _) => client.client_id.as_str().to_owned(),
            (None, Some(presented)) => presented.auth.client_id.clone(),
            (None, None) => String::new(),
        };
        let address = presented.map(|p| p.address.as_str()).unwrap_or_default();
        let unauthenticated = presented.filter(|_| authenticated.is_none());
        let verified = self.verify_assertion(unauthenticated, assertion.expose(), &client_id, address).await?;
        let client = match (&verified, authenticated) {
            (AssertionGrant::Workload(client), _) => (**client).clone(),
            (AssertionGrant::Identity(_), Some(client)) => client,
            // A public client names itself with client_id alone; a
            // confidential one that sent no credentials is refused here.
            (AssertionGrant::Identity(_), None) => self.authenticate_client(presented).await?,
        };
        refuse_unless_allowed(&client)?;
        let binding = crate::dpop::binding_for(&client, proof)?;
        match verified {
            AssertionGrant::Workload(_) => self.application_token(&client, scope.as_ref(), resources, binding).await,
            AssertionGrant::Identity(identity) => {
                self.identity_assertion(&client, &identity, scope.as_ref(), resources, binding).await
            }
        }
    }

    /// The registry's verification; when the assertion is the only
    /// credential (`unauthenticated`: what was presented beside it), behind
    /// the client-authentication throttle: a failure keeps its slot, as a
    /// wrong secret does.
    async fn verify_assertion(
        &self,
        unauthenticated: Option<&Presented>,
        assertion: &str,
        client_id: &str,
        address: &str,
    ) -> TokenResult<AssertionGrant> {
        let reservation = match unauthenticated {
            Some(presented) => self.inner.throttles.reserve_auth(presented).await?,
            None => None,
        };
        let result = self.inner.clients.verify_assertion_grant(assertion, client_id, address).await;
        if let Some(reservation) = reservation {
            let failed = matches!(&result, Err(TokenError::OAuth(oauth))
                if matches!(oauth.code, OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidGrant));
            self.inner.throttles.settle(reservation, failed).await;
        }
        result
    }

    /// A verified ID-JAG's token: for its user, within what it allows.
    async fn identity_assertion(
        &self,
        client: &Client,
        identity: &IdentityAssertion,
        scope: Option<&ScopeSet>,
        requested: Vec<ResourceId>,
        binding: Binding,
    ) -> TokenResult<Minted> {
        if !identity.jkt.is_empty() && binding.jkt.as_deref() != Some(identity.jkt.as_str()) {
            return Err(OAuthError::invalid_grant(
                "the identity assertion is bound to a key (cnf.jkt): send a DPoP proof made with that key",
            )
            .into());
        }
        // The assertion's scope, within the client's; a request's only narrows.
        let allowed = if identity.has_scope {
            ScopeSet::from_scopes(
                identity.scopes.iter().filter_map(|s| Scope::parse(s)).filter(|s| client.scopes.contains(s)),
            )
        } else {
            client.scopes.clone()
        };
        let scopes = narrow(scope, &allowed)?.to_strings();
        let asserted = identity
            .resources
            .iter()
            .map(|r| ResourceId::parse(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| OAuthError::invalid_grant("the identity assertion's resource is not an absolute URI"))?;
        let resources = if requested.is_empty() {
            asserted
        } else if asserted.is_empty() || requested.iter().all(|r| asserted.contains(r)) {
            requested
        } else {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidTarget,
                "resource may only narrow the identity assertion's resource",
            )
            .into());
        };
        let client_id = client.client_id.as_str();
        let audience = self.inner.clients.resources(client_id, &resources, false).await?;
        // Read before the token is stored: a revocation of this user or
        // application recorded after this point is found by the fence.
        let watermark = self.inner.store.revocation_watermark().await?;
        let family = Family {
            id: family_id(),
            code_id: None,
            client_id: client_id.to_owned(),
            user_id: identity.user_id.clone(),
            username: identity.username.clone(),
            auth_time: (identity.auth_time > 0).then_some(identity.auth_time),
            amr: Vec::new(),
            resources: resources.into_iter().map(ResourceId::into_string).collect(),
            audience,
            binding,
            parent: None,
            actors: Vec::new(),
            not_after: None,
        };
        let minted = self.mint(&family, &scopes, None)?;
        let fence = Fence { watermark, client_id: family.client_id.clone(), user_id: family.user_id.clone() };
        let minted = self.store_minted(minted, &family, &fence).await?;
        let details = serde_json::json!({
            "identity_provider": identity.issuer,
            "provider_subject": identity.subject,
            "scope": scopes.join(" "),
            "audience": family.audience.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        });
        self.audit_issued("token.identity_assertion", &family, details).await;
        Ok(minted)
    }
}

/// `unauthorized_client` unless the application may use the jwt-bearer grant.
fn refuse_unless_allowed(client: &Client) -> TokenResult<()> {
    if client.allows(GrantType::JwtBearer) {
        return Ok(());
    }
    Err(OAuthError::new(
        OAuthErrorCode::UnauthorizedClient,
        "the application is not allowed the urn:ietf:params:oauth:grant-type:jwt-bearer grant",
    )
    .into())
}
