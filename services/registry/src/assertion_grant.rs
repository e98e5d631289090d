//! An assertion presented as an authorization grant (RFC 7523 §2.1,
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`): either a
//! workload's platform token, which a federation rule maps to a client
//! (the grant form of workload identity federation: the token is then the
//! client's only credential), or an Identity Assertion JWT Authorization
//! Grant (ID-JAG, `typ: oauth-id-jag+jwt`) of a trusted enterprise
//! identity provider, which names a user for an authenticated client.
//!
//! The same verification serves token exchange (RFC 8693) when its
//! `subject_token` is another issuer's JWT: the issuer's `subject_tokens`
//! policy says who may exchange its tokens, for which audiences, mapping
//! which claim to which account, for at most which scopes.

use gatehouse_oauth::OAuthError;

use gatehouse_oauth::grant::is_id_jag;

use crate::assertion::{Claims, as_grant_error};
use crate::error::{RegistryError, RegistryResult};
use crate::federation::{UserField, unverified_claim};
use crate::model::{Application, User};
use crate::service::Registry;

/// What an assertion grant turned out to be.
#[derive(Debug)]
pub enum AssertionGrant {
    /// A workload token: the client it authenticates.
    Workload(Box<Application>),
    /// A verified ID-JAG: the user and what it allows.
    Identity(Box<IdentityGrant>),
}

/// A verified ID-JAG.
#[derive(Debug)]
pub struct IdentityGrant {
    pub issuer: String,
    pub subject: String,
    pub user: User,
    /// Its `scope`, split; `None` when it carried none.
    pub scopes: Option<Vec<String>>,
    pub resources: Vec<String>,
    pub auth_time: Option<i64>,
    pub expires_at: i64,
    /// `cnf.jkt`: the DPoP key the token request must prove.
    pub jkt: Option<String>,
    /// A subject token's `act` chain, the current actor first.
    pub actors: Vec<String>,
}

fn refused(reason: impl Into<std::borrow::Cow<'static, str>>) -> RegistryError {
    RegistryError::OAuth(OAuthError::invalid_grant(reason))
}

impl Registry {
    /// Verifies an assertion grant. `client_id`: the client the token
    /// request authenticated, empty when it carried no authentication.
    pub async fn verify_assertion_grant(
        &self,
        assertion: &str,
        client_id: &str,
        requester: &str,
    ) -> RegistryResult<AssertionGrant> {
        let federation = self.inner.federation.current();
        let trusted = unverified_claim(assertion, "iss")
            .and_then(|iss| federation.issuer(&iss).cloned())
            .ok_or_else(|| refused("the assertion's iss is not an issuer this server trusts"))?;
        let now = self.now();
        if !is_id_jag(assertion) {
            let mapped = self
                .inner
                .assertions
                .verify_federated(&trusted, assertion, now, requester)
                .await
                .map_err(as_grant_error)?;
            if !client_id.is_empty() && client_id != mapped {
                return Err(refused("the assertion maps to another client than the one that authenticated"));
            }
            let Some((app, _)) = self.stores().applications.application_with_hashes(&mapped).await? else {
                return Err(refused("the client a federation rule names does not exist"));
            };
            return Ok(AssertionGrant::Workload(Box::new(app)));
        }
        let Some(rules) = &trusted.identity_assertions else {
            return Err(refused("the assertion's issuer is not trusted for identity assertions (ID-JAG)"));
        };
        if client_id.is_empty() {
            return Err(RegistryError::OAuth(OAuthError::invalid_client(
                "an identity assertion grant needs client authentication",
            )));
        }
        if !rules.admits(client_id) {
            return Err(refused("this client may not present this identity provider's assertions"));
        }
        let claims =
            self.inner.assertions.verify_identity_assertion(&trusted, assertion, client_id, now, requester).await?;
        let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str).filter(|v| !v.is_empty());
        let subject = text("sub").ok_or_else(|| refused("the identity assertion has no sub"))?.to_owned();
        let named = text(&rules.user_claim).ok_or_else(|| {
            refused(format!("the identity assertion has no {} claim naming the user", rules.user_claim))
        })?;
        let user = self
            .account(rules.user_field, named)
            .await?
            .ok_or_else(|| refused("the identity assertion's user has no account on this server"))?;
        Ok(AssertionGrant::Identity(Box::new(IdentityGrant {
            issuer: trusted.issuer.clone(),
            subject,
            user,
            scopes: text("scope").map(|s| s.split_ascii_whitespace().map(str::to_owned).collect()),
            resources: resources(&claims)?,
            auth_time: claims.get("auth_time").and_then(serde_json::Value::as_i64),
            expires_at: claims.get("exp").and_then(serde_json::Value::as_i64).unwrap_or(now),
            jkt: claims
                .get("cnf")
                .and_then(|cnf| cnf.get("jkt"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            actors: Vec::new(),
        })))
    }

    /// The account `value` names by `field`, if there is one.
    async fn account(&self, field: UserField, value: &str) -> RegistryResult<Option<User>> {
        let user = match field {
            UserField::Id => self.get_user_by_id(value).await,
            UserField::Username => self.get_user_by_username(value).await,
        };
        match user {
            Err(RegistryError::NotFound(_)) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Another issuer's token as a token exchange's `subject_token` (RFC
    /// 8693): signed by the issuer, not expired, for an accepted audience,
    /// exchanged by a client the policy (or the token's `may_act`) names,
    /// naming an account here, not bound to a key. Every refusal is
    /// `invalid_request` (RFC 8693 §2.2.2).
    pub async fn verify_subject_token(
        &self,
        token: &str,
        client_id: &str,
        requester: &str,
    ) -> RegistryResult<IdentityGrant> {
        let invalid = |reason: &'static str| RegistryError::OAuth(OAuthError::invalid_request(reason));
        let federation = self.inner.federation.current();
        let trusted = unverified_claim(token, "iss")
            .and_then(|iss| federation.issuer(&iss).cloned())
            .ok_or_else(|| invalid("subject_token is not an active token of this server or of an issuer it trusts"))?;
        let Some(policy) = &trusted.subject_tokens else {
            return Err(invalid("subject_token's issuer is not trusted for token exchange"));
        };
        let claims =
            self.inner.assertions.trusted_claims(&trusted, token, self.now(), requester).await.map_err(|error| {
                match error {
                    RegistryError::OAuth(oauth) => RegistryError::OAuth(OAuthError::invalid_request(
                        oauth.description.replace("client_assertion", "subject_token"),
                    )),
                    other => other,
                }
            })?;
        let named = |value: &serde_json::Value| value.as_str().is_some_and(|a| policy.audiences.iter().any(|x| x == a));
        let audience = match claims.get("aud") {
            Some(serde_json::Value::Array(list)) => list.iter().any(named),
            Some(value) => named(value),
            None => false,
        };
        if !audience {
            return Err(invalid("subject_token's aud names no audience its issuer's tokens are exchanged for"));
        }
        let may_act = claims.get("may_act").and_then(|m| m.get("sub")).and_then(serde_json::Value::as_str);
        if !policy.clients.iter().any(|c| c == client_id) && may_act != Some(client_id) {
            return Err(invalid(
                "this client may not exchange this issuer's tokens, and the token's may_act names another",
            ));
        }
        if claims.get("cnf").is_some() {
            return Err(invalid("subject_token is bound to a key (cnf): it cannot be exchanged without its holder"));
        }
        let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str).filter(|v| !v.is_empty());
        let subject = text("sub").ok_or_else(|| invalid("subject_token has no sub"))?.to_owned();
        let user = match text(&policy.user_claim) {
            Some(value) => self.account(policy.user_field, value).await?,
            None => None,
        }
        .ok_or_else(|| invalid("subject_token names no user with an account on this server"))?;
        // The policy's scopes, within the token's own when it says (`scope` or `scp`).
        let own: Option<Vec<String>> = match (claims.get("scope"), claims.get("scp")) {
            (Some(serde_json::Value::String(scope)), _) => {
                Some(scope.split_ascii_whitespace().map(str::to_owned).collect())
            }
            (_, Some(serde_json::Value::Array(list))) => {
                Some(list.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect())
            }
            _ => None,
        };
        let scopes =
            policy.scopes.iter().filter(|scope| own.as_ref().is_none_or(|own| own.contains(scope))).cloned().collect();
        let mut actors = Vec::new();
        let mut act = claims.get("act");
        while let Some(current) = act {
            if let Some(sub) = current.get("sub").and_then(serde_json::Value::as_str) {
                actors.push(sub.to_owned());
            }
            act = current.get("act");
            if actors.len() > 16 {
                return Err(invalid("subject_token's act chain is too deep"));
            }
        }
        Ok(IdentityGrant {
            issuer: trusted.issuer.clone(),
            subject,
            user,
            scopes: Some(scopes),
            resources: Vec::new(),
            auth_time: claims.get("auth_time").and_then(serde_json::Value::as_i64),
            expires_at: claims.get("exp").and_then(serde_json::Value::as_i64).unwrap_or(0),
            jkt: None,
            actors,
        })
    }
}

/// The ID-JAG's `resource` claim: one string or an array of strings.
fn resources(claims: &Claims) -> RegistryResult<Vec<String>> {
    match claims.get("resource") {
        None => Ok(Vec::new()),
        Some(serde_json::Value::String(one)) => Ok(vec![one.clone()]),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| refused("the identity assertion's resource must be strings")),
        Some(_) => Err(refused("the identity assertion's resource must be a string or an array of strings")),
    }
}
