//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document,
//! MCP's preferred registration): a `client_id` that is an https URL names
//! a JSON document the client serves about itself. The registry fetches it
//! (through [`crate::fetch`], SSRF rules and all), checks it, and presents
//! it as an [`Application`] like any other, so the authorization and token
//! services need nothing new.
//!
//! Invariants, enforced here:
//! - the document's `client_id` equals the URL, by simple string comparison;
//! - no shared secrets: `none`, or `private_key_jwt` with `jwks`/`jwks_uri`;
//! - the redirect URIs obey the registry's rules (the authorization request's
//!   must then be one of them, as for every client);
//! - a document is reused for its `Cache-Control` lifetime within the
//!   operator's bounds; when a new fetch fails, the last good copy serves for
//!   a while longer; a failure or an invalid document is never cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_oauth::{ClientAuthMethod, ClientId, ClientType, GrantType, Registration, Scope, ScopeSet};
use serde::Deserialize;

use crate::config::{MetadataDocumentConfig, MetadataDocumentPolicy};
use crate::model::{Application, ApplicationType, ClientExtras, ClientKeys};
use crate::validate;
use gatehouse_fetch::{FetchError, Fetcher};

/// The body cap the draft recommends (5 KB).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// Why a URL client id is not a usable client; the text tells its developer what to fix.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum DocumentError {
    #[error("client metadata documents are not accepted here")]
    Disabled,
    #[error("the client's host is not on this server's allow-list")]
    HostNotAllowed,
    #[error("client_id URL: {0}")]
    BadUrl(&'static str),
    #[error("client metadata document: {0}")]
    Fetch(#[from] FetchError),
    #[error("client metadata document: {0}")]
    Invalid(String),
}

fn invalid(reason: impl Into<String>) -> DocumentError {
    DocumentError::Invalid(reason.into())
}

/// Whether a client id is meant as a metadata document's URL (AS-issued
/// ids never start so: they are base62).
pub(crate) fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

#[derive(Clone)]
struct Entry {
    app: Arc<Application>,
    fresh_until: Instant,
    usable_until: Instant,
}

/// One fetch of one URL that every concurrent asker awaits.
type Flight = Arc<tokio::sync::OnceCell<Result<Arc<Application>, DocumentError>>>;

/// The fetched documents, per replica. Cheap to clone (shared caches).
#[derive(Clone)]
pub(crate) struct MetadataDocuments {
    config: MetadataDocumentConfig,
    fetcher: Fetcher,
    cache: moka::sync::Cache<String, Entry>,
    /// Fetches under way, by URL. A popular client's document going stale
    /// under load (or many sign-ins of a new client at once) is one request
    /// to its host and one fetch permit, not one per sign-in; whoever asks
    /// while it runs gets its result, the error included (errors are shared
    /// by the askers of that moment, never kept). A flight every asker
    /// abandoned (cancelled requests) expires from the table within a minute.
    in_flight: moka::sync::Cache<String, Flight>,
}

impl std::fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataDocuments").field("policy", &self.config.policy).finish_non_exhaustive()
    }
}

impl MetadataDocuments {
    pub(crate) fn new(config: MetadataDocumentConfig, fetcher: Fetcher) -> Self {
        let keep = config.max_cache + config.stale_for;
        let cache = moka::sync::Cache::builder().max_capacity(10_000).time_to_live(keep).build();
        let in_flight = moka::sync::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(60)).build();
        Self { config, fetcher, cache, in_flight }
    }

    /// The client that `url` names, from the cache while fresh, else fetched
    /// (for `requester`, whose fair share of the fetcher it uses). A stale
    /// copy that may still serve is answered at once while a fetch renews
    /// it in the background: a slow or failing host delays nobody.
    pub(crate) async fn resolve(
        &self,
        url: &str,
        catalogue: &gatehouse_oauth::ScopeCatalogue,
        now: i64,
        requester: &str,
    ) -> Result<Arc<Application>, DocumentError> {
        self.admit(url)?;
        let cached = self.cache.get(url);
        let at = Instant::now();
        if let Some(entry) = &cached {
            if entry.fresh_until > at {
                return Ok(entry.app.clone());
            }
            if entry.usable_until > at {
                let (this, url, catalogue, requester) =
                    (self.clone(), url.to_owned(), catalogue.clone(), requester.to_owned());
                tokio::spawn(async move {
                    if let Err(error) = this.fetch_once(&url, &catalogue, now, &requester).await {
                        tracing::warn!(url, %error, "client metadata document refetch failed; the last good copy serves");
                    }
                });
                return Ok(entry.app.clone());
            }
        }
        self.fetch_once(url, catalogue, now, requester).await.or_else(|error| match cached {
            // The last good copy, while it may still serve: a host that
            // answers 403 to this server's egress now and then, or is
            // down for a while, does not lock its users out.
            Some(entry) if entry.usable_until > at => {
                tracing::warn!(url, %error, "client metadata document refetch failed; using the last good copy");
                Ok(entry.app)
            }
            _ => Err(error),
        })
    }

    /// Fetches `url` and caches what it yields, or joins the fetch of it
    /// already under way. The flight leaves the table once it has landed;
    /// by then a success is in the cache, so later askers read it there.
    /// (A cancelled leader hands the fetch to the next waiter: `OnceCell`.)
    async fn fetch_once(
        &self,
        url: &str,
        catalogue: &gatehouse_oauth::ScopeCatalogue,
        now: i64,
        requester: &str,
    ) -> Result<Arc<Application>, DocumentError> {
        let flight = self.in_flight.get_with(url.to_owned(), Flight::default);
        let result = flight
            .get_or_init(|| async {
                let at = Instant::now();
                let (app, lifetime) = self.fetch(url, catalogue, now, requester).await?;
                let app = Arc::new(app);
                let fresh_until = at + lifetime;
                let entry = Entry { app: app.clone(), fresh_until, usable_until: fresh_until + self.config.stale_for };
                self.cache.insert(url.to_owned(), entry);
                Ok(app)
            })
            .await
            .clone();
        if self.in_flight.get(url).is_some_and(|landed| Arc::ptr_eq(&landed, &flight)) {
            self.in_flight.invalidate(url);
        }
        result
    }

    /// The policy and the URL rules (draft §3): https, a path, no dot
    /// segments, no fragment, no user info, no query.
    fn admit(&self, url: &str) -> Result<(), DocumentError> {
        let host = check_url(url)?;
        match &self.config.policy {
            MetadataDocumentPolicy::Off => Err(DocumentError::Disabled),
            MetadataDocumentPolicy::AllowHosts(hosts) if !hosts.contains(&host) => Err(DocumentError::HostNotAllowed),
            MetadataDocumentPolicy::AllowHosts(_) | MetadataDocumentPolicy::Open => Ok(()),
        }
    }

    async fn fetch(
        &self,
        url: &str,
        catalogue: &gatehouse_oauth::ScopeCatalogue,
        now: i64,
        requester: &str,
    ) -> Result<(Application, Duration), DocumentError> {
        let fetched = self.fetcher.get(url, MAX_DOCUMENT_BYTES, requester).await?;
        let app = application(url, &fetched.body, catalogue, now)?;
        let lifetime = if fetched.no_store {
            self.config.min_cache
        } else {
            fetched.max_age.unwrap_or(Duration::from_secs(300)).clamp(self.config.min_cache, self.config.max_cache)
        };
        Ok((app, lifetime))
    }
}

/// The URL's host (lowercase) when the URL may be a client id.
pub(crate) fn check_url(url: &str) -> Result<String, DocumentError> {
    if url.len() > ClientId::MAX_LEN {
        return Err(DocumentError::BadUrl("longer than 255 characters"));
    }
    if url.contains('#') {
        return Err(DocumentError::BadUrl("has a fragment"));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(DocumentError::BadUrl("is not https"));
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(DocumentError::BadUrl("has user info"));
    }
    if path.contains('?') {
        return Err(DocumentError::BadUrl("has a query"));
    }
    if path.len() <= 1 {
        return Err(DocumentError::BadUrl("has no path"));
    }
    if path.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(DocumentError::BadUrl("has a . or .. segment"));
    }
    // What a URL parser might turn into a separator or a dot segment is
    // refused rather than normalised: `\`, and `%2e` `%2f` `%5c` in any case.
    let lowered = path.to_ascii_lowercase();
    if path.contains('\\') || ["%2e", "%2f", "%5c"].iter().any(|encoded| lowered.contains(encoded)) {
        return Err(DocumentError::BadUrl("has a backslash or an encoded dot, slash or backslash"));
    }
    let parsed = url::Url::parse(url).map_err(|_| DocumentError::BadUrl("is not a URL"))?;
    // The path the fetcher will ask for is the path the rules above read.
    if parsed.path() != path {
        return Err(DocumentError::BadUrl("has a path that is not in normal form"));
    }
    parsed.host_str().map(str::to_ascii_lowercase).ok_or(DocumentError::BadUrl("has no host"))
}

/// The members of a document Gatehouse reads; others are ignored (RFC 7591 §2).
#[derive(Deserialize)]
struct Document {
    client_id: Option<serde_json::Value>,
    client_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
    logo_uri: Option<String>,
    client_uri: Option<String>,
    tos_uri: Option<String>,
    policy_uri: Option<String>,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    application_type: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    id_token_signed_response_alg: Option<String>,
    require_pushed_authorization_requests: Option<bool>,
    dpop_bound_access_tokens: Option<bool>,
    client_secret: Option<serde_json::Value>,
    client_secret_expires_at: Option<serde_json::Value>,
    software_id: Option<String>,
    software_version: Option<String>,
    contacts: Option<Vec<String>>,
}

/// The document at `url` as an application, or why it is not one.
fn application(
    url: &str,
    body: &[u8],
    catalogue: &gatehouse_oauth::ScopeCatalogue,
    now: i64,
) -> Result<Application, DocumentError> {
    let doc: Document =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not a JSON object of client metadata ({e})")))?;
    // Simple string comparison, no normalisation (draft §4.1).
    match doc.client_id {
        Some(serde_json::Value::String(id)) if id == url => {}
        Some(_) => return Err(invalid("its client_id is not the URL it was fetched from")),
        None => return Err(invalid("client_id is missing")),
    }
    if doc.client_secret.is_some() || doc.client_secret_expires_at.is_some() {
        return Err(invalid("a metadata document carries no client secret"));
    }
    let method = match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => ClientAuthMethod::None,
        Some("private_key_jwt") => ClientAuthMethod::PrivateKeyJwt,
        Some("client_secret_basic" | "client_secret_post" | "client_secret_jwt") => {
            return Err(invalid("shared-secret authentication methods cannot be used with a metadata document"));
        }
        Some(_) => return Err(invalid("unsupported token_endpoint_auth_method")),
    };
    let keys = match (doc.jwks, doc.jwks_uri) {
        (Some(_), Some(_)) => return Err(invalid("jwks and jwks_uri must not both be present")),
        (Some(jwks), None) => ClientKeys::Inline(crate::assertion::checked_jwks(&jwks).map_err(invalid)?),
        (None, Some(uri)) => ClientKeys::Uri(crate::assertion::checked_jwks_uri(&uri).map_err(invalid)?),
        (None, None) => ClientKeys::None,
    };
    if method == ClientAuthMethod::PrivateKeyJwt && keys == ClientKeys::None {
        return Err(invalid("private_key_jwt needs jwks or jwks_uri"));
    }
    let name = doc.client_name.ok_or_else(|| invalid("client_name is missing"))?;
    let uris = doc.redirect_uris.ok_or_else(|| invalid("redirect_uris is missing"))?;
    let redirect_uris = validate::redirect_uris(&uris).map_err(|e| invalid(e.to_string()))?;
    if let Some(types) = &doc.response_types
        && types.iter().any(|t| t != "code")
    {
        return Err(invalid("only the response type code is supported"));
    }
    // Grant types this kind of client can use; others (jwt-bearer, implicit) are ignored.
    let mut grant_types: Vec<GrantType> = doc
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned()])
        .iter()
        .filter_map(|g| GrantType::parse(g))
        .filter(|g| matches!(g, GrantType::AuthorizationCode | GrantType::RefreshToken))
        .collect();
    grant_types.dedup();
    if !grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(invalid("grant_types must include authorization_code"));
    }
    let scopes = match doc.scope {
        // The scopes the catalogue knows; a document is the client's, so an
        // unknown one is ignored rather than failing every sign-in.
        Some(scope) => ScopeSet::from_scopes(
            scope.split(' ').filter_map(Scope::parse).filter(|s| catalogue.get(s).is_some()).collect::<Vec<_>>(),
        ),
        None => catalogue.all(),
    };
    let scopes = crate::model::self_registered_scopes(scopes, &grant_types, catalogue);
    let web = |field: &'static str, value: Option<String>| {
        value.and_then(|v| validate::web_url(field, &v).ok()).unwrap_or_default()
    };
    let host = check_url(url)?;
    let client_type = if method == ClientAuthMethod::None { ClientType::Public } else { ClientType::Confidential };
    Ok(Application {
        client_id: ClientId::parse(url).ok_or(DocumentError::BadUrl("is not a client id"))?,
        owner_id: String::new(),
        name: validate::line("client_name", name.trim(), 1, 100).map_err(|e| invalid(e.to_string()))?,
        description: format!("Client ID metadata document served by {host}"),
        homepage_url: web("client_uri", doc.client_uri.clone()),
        logo_url: web("logo_uri", doc.logo_uri),
        redirect_uris,
        client_type,
        grant_types,
        scopes,
        secrets: Vec::new(),
        post_logout_redirect_uris: validate::post_logout_redirect_uris(
            &doc.post_logout_redirect_uris.unwrap_or_default(),
        )
        .map_err(|e| invalid(e.to_string()))?,
        created_at: now,
        updated_at: now,
        registration: Registration::MetadataDocument,
        auth_method: method,
        application_type: doc
            .application_type
            .as_deref()
            .and_then(ApplicationType::parse)
            .unwrap_or_else(|| native_if_loopback(&uris)),
        keys,
        extras: ClientExtras {
            client_uri: web("client_uri", doc.client_uri),
            contacts: doc.contacts.unwrap_or_default().into_iter().take(10).collect(),
            tos_uri: web("tos_uri", doc.tos_uri),
            policy_uri: web("policy_uri", doc.policy_uri),
            software_id: doc.software_id.unwrap_or_default().chars().take(100).collect(),
            software_version: doc.software_version.unwrap_or_default().chars().take(100).collect(),
        },
        last_used_at: None,
        id_token_alg: gatehouse_oauth::SigningAlg::registered(
            doc.id_token_signed_response_alg.as_deref().unwrap_or_default(),
        )
        .ok_or_else(|| invalid("id_token_signed_response_alg must be RS256 or ES256"))?,
        requirements: gatehouse_oauth::ClientRequirements {
            pushed_authorization_requests: doc.require_pushed_authorization_requests.unwrap_or_default(),
            dpop_bound_access_tokens: doc.dpop_bound_access_tokens.unwrap_or_default(),
        },
    })
}

/// A client whose redirect URIs are all loopback ones is a native app.
fn native_if_loopback(uris: &[String]) -> ApplicationType {
    let loopback = |uri: &String| uri.starts_with("http://");
    if !uris.is_empty() && uris.iter().all(loopback) { ApplicationType::Native } else { ApplicationType::Web }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls_follow_the_drafts_rules() {
        const ENCODED: &str = "has a backslash or an encoded dot, slash or backslash";
        assert_eq!(check_url("https://app.example/client.json").expect("valid"), "app.example");
        for (url, why) in [
            ("http://app.example/client.json", "is not https"),
            ("https://app.example", "has no path"),
            ("https://app.example/", "has no path"),
            ("https://app.example/a/../b", "has a . or .. segment"),
            ("https://app.example/./b", "has a . or .. segment"),
            ("https://app.example/c#x", "has a fragment"),
            ("https://user@app.example/c", "has user info"),
            ("https://app.example/c?x=1", "has a query"),
            ("https://app.example/a/%2e%2e/attacker.json", ENCODED),
            ("https://app.example/a/%2E./attacker.json", ENCODED),
            (r"https://app.example/a/\..\attacker.json", ENCODED),
            ("https://app.example/a%2fb.json", ENCODED),
            ("https://app.example/a%5c..%5cb.json", ENCODED),
            ("https://app.example/caf\u{e9}.json", "has a path that is not in normal form"),
        ] {
            match check_url(url) {
                Err(DocumentError::BadUrl(reason)) => assert_eq!(reason, why, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    fn catalogue() -> gatehouse_oauth::ScopeCatalogue {
        gatehouse_oauth::ScopeCatalogue::default()
    }

    #[test]
    fn a_document_becomes_a_public_client() {
        let url = "https://app.example/client.json";
        let body = serde_json::json!({
            "client_id": url, "client_name": "Agent", "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "unknown_member": {"ignored": true},
        });
        let app = application(url, body.to_string().as_bytes(), &catalogue(), 0).expect("valid document");
        assert_eq!(app.client_type, ClientType::Public);
        assert_eq!(app.grant_types, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
        assert_eq!(app.application_type, ApplicationType::Native);
        assert_eq!(app.registration, Registration::MetadataDocument);
    }

    #[test]
    fn invalid_documents_are_refused_with_the_reason() {
        let url = "https://app.example/client.json";
        let base =
            serde_json::json!({"client_id": url, "client_name": "A", "redirect_uris": ["https://app.example/cb"]});
        let with = |key: &str, value: serde_json::Value| {
            let mut doc = base.clone();
            doc[key] = value;
            doc.to_string()
        };
        for (body, why) in [
            (with("client_id", serde_json::json!("https://app.example/client.json/")), "client_id"),
            (with("client_id", serde_json::json!("https://APP.example/client.json")), "client_id"),
            (with("token_endpoint_auth_method", serde_json::json!("client_secret_basic")), "shared-secret"),
            (with("client_secret", serde_json::json!("s")), "no client secret"),
            (with("token_endpoint_auth_method", serde_json::json!("private_key_jwt")), "jwks"),
            (with("redirect_uris", serde_json::json!(["http://evil.example/cb"])), "https"),
            (with("response_types", serde_json::json!(["token"])), "response type"),
            ("[1]".to_owned(), "JSON object"),
        ] {
            match application(url, body.as_bytes(), &catalogue(), 0) {
                Err(DocumentError::Invalid(reason)) => assert!(reason.contains(why), "{reason} should say {why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
