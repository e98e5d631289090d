//! Workload identity federation (RFC 7523 §2.2 with a token another issuer
//! signed): a Kubernetes pod, a CI job or a SPIFFE workload presents the
//! token its platform gives it as `client_assertion`, and authenticates as
//! the Gatehouse client an operator's rule maps it to, with no secret stored
//! anywhere.
//!
//! The operator names each trusted issuer (`GATEHOUSE_FEDERATION_FILE`,
//! JSON): its `issuer` (the tokens' `iss`), where its keys are (`jwks_uri`,
//! fetched through the SSRF-safe fetcher, or `jwks_file`, read at start),
//! the `audiences` a token must name one of (Gatehouse's issuer, typically),
//! and `rules`: claim values (exact, top-level string claims) and the
//! `client_id` a token matching all of them authenticates as. A token is
//! accepted when its signature verifies with the issuer's keys (asymmetric
//! algorithms only), it names an accepted audience, it has not expired
//! (30 s leeway) and is not from the future, and a rule matches. A
//! platform's token is reused for its lifetime (a projected service-account
//! token is read again by every request), so unlike a `private_key_jwt`
//! assertion its `jti` is not single use: the audience is what keeps it for
//! Gatehouse alone.
//!
//! The same file names the enterprise identity providers whose Identity
//! Assertion JWT Authorization Grants (ID-JAG, an agent acting for a user
//! its company signed in) Gatehouse accepts: an issuer with
//! `identity_assertions` says which claim of an ID-JAG names the user and
//! which account field it is compared with. An issuer may carry rules,
//! identity assertions or both.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;

/// The operator's trusted issuers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Federation {
    #[serde(default)]
    pub issuers: Vec<TrustedIssuer>,
}

/// One platform whose workload tokens Gatehouse accepts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The tokens' `iss`, exactly.
    pub issuer: String,
    /// Where its JWK Set is fetched (HTTPS, through the SSRF-safe fetcher).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A file holding its JWK Set (a mounted ConfigMap), read when the file is loaded.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// The JWK Set itself, inline (what `jwks_file` is read into).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// A workload token must name one of these in `aud` (an ID-JAG's
    /// audience is always Gatehouse's issuer, whatever this says).
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Present when the issuer is an enterprise identity provider whose
    /// ID-JAGs Gatehouse accepts.
    #[serde(default)]
    pub identity_assertions: Option<IdentityAssertions>,
    /// Present when the issuer's tokens may be exchanged (RFC 8693
    /// `subject_token`) for Gatehouse tokens of the user they name.
    #[serde(default)]
    pub subject_tokens: Option<SubjectTokens>,
}

/// Which of an issuer's tokens a token exchange takes as its subject, by
/// whom, for whom and for what.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectTokens {
    /// A subject token must name one of these in `aud`.
    pub audiences: Vec<String>,
    /// The clients that may exchange them; a token's `may_act` (RFC 8693
    /// §4.4) naming the requesting client by `sub` admits it too.
    #[serde(default)]
    pub clients: Vec<String>,
    /// The claim naming the user, and the account field it is compared with.
    pub user_claim: String,
    #[serde(default)]
    pub user_field: UserField,
    /// The widest scope an exchanged token gets (within the subject token's
    /// own `scope`, when it has one, and the client's).
    pub scopes: Vec<String>,
}

/// How an identity provider's ID-JAG names a Gatehouse account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityAssertions {
    /// The claim holding the user (a top-level string claim). The draft's
    /// `aud_sub` (the user's subject at Gatehouse, which the provider learnt
    /// when the user signed in to Gatehouse through it) by default.
    #[serde(default = "IdentityAssertions::default_claim")]
    pub user_claim: String,
    /// What the claim is compared with: the account's `id` (its `sub` in
    /// Gatehouse's tokens) or its `username`. Never an e-mail address, which
    /// an account states but Gatehouse has not verified.
    #[serde(default)]
    pub user_field: UserField,
    /// The clients (Gatehouse client ids) that may present this provider's
    /// ID-JAGs; every client allowed the jwt-bearer grant when empty.
    #[serde(default)]
    pub clients: Vec<String>,
}

/// The account field an ID-JAG's user claim names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserField {
    #[default]
    Id,
    Username,
}

impl IdentityAssertions {
    fn default_claim() -> String {
        "aud_sub".to_owned()
    }

    /// Whether `client_id` may present this provider's ID-JAGs.
    pub(crate) fn admits(&self, client_id: &str) -> bool {
        self.clients.is_empty() || self.clients.iter().any(|c| c == client_id)
    }
}

/// Claim values a token must carry, all of them, and the client it then is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub claims: BTreeMap<String, String>,
    pub client_id: String,
}

impl Rule {
    fn matches(&self, claims: &serde_json::Map<String, serde_json::Value>) -> bool {
        self.claims.iter().all(|(name, wanted)| claims.get(name).and_then(serde_json::Value::as_str) == Some(wanted))
    }
}

impl TrustedIssuer {
    /// The client the first matching rule names.
    pub(crate) fn client_for(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
        self.rules.iter().find(|rule| rule.matches(claims)).map(|rule| rule.client_id.as_str())
    }

    /// Whether `aud` (a string or an array) names an accepted audience.
    pub(crate) fn accepts_audience(&self, aud: Option<&serde_json::Value>) -> bool {
        let named = |value: &serde_json::Value| value.as_str().is_some_and(|a| self.audiences.iter().any(|x| x == a));
        match aud {
            Some(serde_json::Value::Array(list)) => list.iter().any(named),
            Some(value) => named(value),
            None => false,
        }
    }
}

/// A string claim of a JWT's payload, unverified: which issuer to ask.
pub(crate) fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

impl Federation {
    /// The federation file: JSON, every issuer complete, `jwks_file`s read.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let mut federation: Self = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        for issuer in &mut federation.issuers {
            if let Some(file) = issuer.jwks_file.take() {
                let keys = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
                issuer.jwks = Some(serde_json::from_str(&keys).map_err(|e| format!("{file}: {e}"))?);
            }
        }
        federation.check()?;
        Ok(federation)
    }

    /// Every issuer usable: a URL, keys from exactly one place, public keys
    /// only, an audience, rules that each require something.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for issuer in &self.issuers {
            let name = &issuer.issuer;
            if url::Url::parse(name).is_err() || !seen.insert(name.as_str()) {
                return Err(format!("issuer {name:?}: must be a URL, named once"));
            }
            match (&issuer.jwks_uri, &issuer.jwks) {
                (Some(uri), None) => {
                    crate::assertion::checked_jwks_uri(uri).map_err(|reason| format!("issuer {name}: {reason}"))?;
                }
                (None, Some(jwks)) => {
                    crate::assertion::checked_jwks(jwks).map_err(|reason| format!("issuer {name}: {reason}"))?;
                }
                _ => return Err(format!("issuer {name}: give its keys as jwks_uri or jwks_file, one of them")),
            }
            if issuer.rules.is_empty() && issuer.identity_assertions.is_none() && issuer.subject_tokens.is_none() {
                return Err(format!(
                    "issuer {name}: give rules mapping workload tokens to clients, identity_assertions or subject_tokens"
                ));
            }
            if let Some(subject) = &issuer.subject_tokens
                && (subject.audiences.is_empty()
                    || subject.user_claim.is_empty()
                    || subject.scopes.is_empty()
                    || subject.clients.iter().any(String::is_empty))
            {
                return Err(format!("issuer {name}: subject_tokens needs audiences, a user_claim and scopes"));
            }
            if !issuer.rules.is_empty()
                && (issuer.audiences.is_empty() || issuer.audiences.iter().any(String::is_empty))
            {
                return Err(format!("issuer {name}: audiences must name at least one audience"));
            }
            if let Some(assertions) = &issuer.identity_assertions
                && (assertions.user_claim.is_empty() || assertions.clients.iter().any(String::is_empty))
            {
                return Err(format!("issuer {name}: identity_assertions needs a user_claim and non-empty client ids"));
            }
            if issuer.rules.iter().any(|rule| rule.claims.is_empty() || rule.client_id.is_empty()) {
                return Err(format!("issuer {name}: every rule needs claims to match and a client_id"));
            }
        }
        Ok(())
    }

    pub(crate) fn issuer(&self, iss: &str) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|issuer| issuer.issuer == iss)
    }
}

/// The trusted issuers in force: the configured ones, then the file's
/// again whenever it changes (read every second, as a mounted ConfigMap is
/// updated in place). A file that no longer loads is reported and the
/// issuers in force stay.
#[derive(Debug, Clone)]
pub(crate) struct Trusted(Arc<RwLock<Arc<Federation>>>);

impl Trusted {
    pub(crate) fn new(initial: Federation, file: Option<PathBuf>) -> Self {
        let shared = Arc::new(RwLock::new(Arc::new(initial)));
        if let Some(path) = file
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let weak = Arc::downgrade(&shared);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut reported = None;
                loop {
                    tick.tick().await;
                    let Some(shared) = weak.upgrade() else { return };
                    match Federation::load(&path.to_string_lossy()) {
                        Ok(loaded) => {
                            reported = None;
                            let current = shared.read().map(|c| Arc::clone(&c)).ok();
                            if current.is_some_and(|c| *c != loaded)
                                && let Ok(mut slot) = shared.write()
                            {
                                tracing::info!(issuers = loaded.issuers.len(), "federation file reloaded");
                                *slot = Arc::new(loaded);
                            }
                        }
                        Err(problem) if reported.as_ref() != Some(&problem) => {
                            tracing::warn!(%problem, "the federation file does not load: the trusted issuers stay");
                            reported = Some(problem);
                        }
                        Err(_) => {}
                    }
                }
            });
        }
        Self(shared)
    }

    pub(crate) fn current(&self) -> Arc<Federation> {
        self.0.read().map(|c| Arc::clone(&c)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn federation(value: serde_json::Value) -> Result<Federation, String> {
        let federation: Federation = serde_json::from_value(value).map_err(|e| e.to_string())?;
        federation.check().map(|()| federation)
    }

    fn jwks() -> serde_json::Value {
        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})
    }

    #[test]
    fn an_issuer_needs_keys_from_one_place_an_audience_and_rules() {
        let good = serde_json::json!({"issuers": [{
            "issuer": "https://cluster.example", "jwks": jwks(), "audiences": ["https://auth.example"],
            "rules": [{"claims": {"sub": "system:serviceaccount:ci:deployer"}, "client_id": "deployer"}]}]});
        assert!(federation(good.clone()).is_ok());
        let broken = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut value = good.clone();
            change(&mut value["issuers"][0]);
            federation(value).unwrap_err()
        };
        assert!(broken(&|i| i["audiences"] = serde_json::json!([])).contains("audiences"));
        assert!(broken(&|i| i["rules"] = serde_json::json!([])).contains("rules"));
        // An identity provider alone needs no rules and no audiences.
        let mut provider = good.clone();
        provider["issuers"][0]["rules"] = serde_json::json!([]);
        provider["issuers"][0]["audiences"] = serde_json::json!([]);
        provider["issuers"][0]["identity_assertions"] = serde_json::json!({"user_field": "username"});
        let provider = federation(provider).unwrap();
        let assertions = provider.issuers[0].identity_assertions.as_ref().unwrap();
        assert_eq!((assertions.user_claim.as_str(), assertions.user_field), ("aud_sub", UserField::Username));
        assert!(assertions.admits("any-client"));
        assert!(
            broken(&|i| i["identity_assertions"] = serde_json::json!({"user_field": "email"}))
                .contains("unknown variant")
        );
        assert!(broken(&|i| i["identity_assertions"] = serde_json::json!({"user_claim": ""})).contains("user_claim"));
        let subject_tokens = serde_json::json!({"audiences": ["https://api"], "user_claim": "sub", "user_field": "username", "scopes": ["user"]});
        let mut exchangeable = good.clone();
        exchangeable["issuers"][0]["rules"] = serde_json::json!([]);
        exchangeable["issuers"][0]["subject_tokens"] = subject_tokens.clone();
        assert!(federation(exchangeable).is_ok(), "subject_tokens alone is enough");
        for missing in ["audiences", "user_claim", "scopes"] {
            let mut policy = subject_tokens.clone();
            policy[missing] = if missing == "user_claim" { serde_json::json!("") } else { serde_json::json!([]) };
            assert!(broken(&|i| i["subject_tokens"] = policy.clone()).contains("subject_tokens"), "{missing}");
        }
        assert!(broken(&|i| i["rules"][0]["claims"] = serde_json::json!({})).contains("rule"));
        assert!(broken(&|i| i["jwks_uri"] = serde_json::json!("https://cluster.example/jwks")).contains("one of them"));
        assert!(broken(&|i| i["issuer"] = serde_json::json!("not a url")).contains("URL"));
        assert!(
            broken(&|i| i["jwks"] = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).contains("jwks")
        );
        assert!(broken(&|i| i["extra"] = serde_json::json!(1)).contains("unknown field"));
    }

    /// The file is read again when it changes; one that no longer loads
    /// leaves the issuers in force.
    #[tokio::test(start_paused = true)]
    async fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_issuers() {
        let path = std::env::temp_dir().join(format!("federation-{}.json", std::process::id()));
        let file = |issuer: &str| {
            serde_json::json!({"issuers": [{"issuer": issuer, "jwks": jwks(), "audiences": ["gatehouse"],
                "rules": [{"claims": {"sub": "x"}, "client_id": "c"}]}]})
            .to_string()
        };
        std::fs::write(&path, file("https://a.example")).unwrap();
        let trusted = Trusted::new(Federation::load(&path.to_string_lossy()).unwrap(), Some(path.clone()));
        std::fs::write(&path, file("https://b.example")).unwrap();
        let mut waited = 0;
        while trusted.current().issuer("https://b.example").is_none() {
            assert!(waited < 50, "the changed file was never read");
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(trusted.current().issuer("https://a.example").is_none());
        std::fs::write(&path, "{ not json").unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(trusted.current().issuer("https://b.example").is_some(), "a broken file keeps what was in force");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn the_first_rule_whose_claims_all_match_names_the_client() {
        let issuer: TrustedIssuer = serde_json::from_value(serde_json::json!({
        "issuer": "https://token.actions.githubusercontent.com", "jwks": jwks(), "audiences": ["gatehouse"],
        "rules": [
            {"claims": {"repository": "acme/app", "ref": "refs/heads/main"}, "client_id": "deploy-main"},
            {"claims": {"repository": "acme/app"}, "client_id": "ci-any-branch"}
        ]}))
        .unwrap();
        let claims = |value: serde_json::Value| value.as_object().unwrap().clone();
        let main = claims(serde_json::json!({"repository": "acme/app", "ref": "refs/heads/main"}));
        let branch = claims(serde_json::json!({"repository": "acme/app", "ref": "refs/heads/x"}));
        let other = claims(serde_json::json!({"repository": "evil/app", "ref": "refs/heads/main"}));
        let not_a_string = claims(serde_json::json!({"repository": ["acme/app"]}));
        assert_eq!(issuer.client_for(&main), Some("deploy-main"));
        assert_eq!(issuer.client_for(&branch), Some("ci-any-branch"));
        assert_eq!(issuer.client_for(&other), None);
        assert_eq!(issuer.client_for(&not_a_string), None);
        assert!(issuer.accepts_audience(Some(&serde_json::json!(["x", "gatehouse"]))));
        assert!(issuer.accepts_audience(Some(&serde_json::json!("gatehouse"))));
        assert!(!issuer.accepts_audience(Some(&serde_json::json!("gatehouse2"))));
        assert!(!issuer.accepts_audience(None));
    }
}
