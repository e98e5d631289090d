//! How an internal service identifies itself to the token service, which
//! answers only callers it knows: a client certificate (mutual TLS, see
//! [`crate::tls`]), an internal credential the operator issued for the
//! validator role (`gatehouse credential create --role validator`), or an
//! access token from the `client_credentials` grant of a client the
//! operator listed as a validator ([`ClientCredentialsToken`], which
//! obtains it and renews it before it expires). With workload identity
//! federation that client needs no secret either: the token is requested
//! with the platform's own token for the pod (a projected Kubernetes
//! service-account token, read from its file at every renewal) as a
//! jwt-bearer grant, and the operator's federation rule names the client.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gatehouse_upstream::{CallCredential, StaticCredential, Upstream, UpstreamError, UpstreamOptions, upstream};
use http::HeaderValue;

/// A channel like [`crate::connect_lazy`]'s that presents `credential` on every call.
pub fn connect_with(address: &str, credential: Arc<dyn CallCredential>) -> Result<Upstream, UpstreamError> {
    let options =
        UpstreamOptions { timeout: Duration::from_secs(2), credential: Some(credential), ..UpstreamOptions::default() };
    upstream::balanced(address, options)
}

/// A channel that presents an internal credential (`gic_…`) on every call.
pub fn connect_with_credential(address: &str, credential: &str) -> Result<Upstream, UpstreamError> {
    let credential = StaticCredential::bearer(credential)
        .ok_or_else(|| UpstreamError::new(address, "the credential is not a header value"))?;
    connect_with(address, credential)
}

/// A `client_credentials` access token (RFC 6749 §4.4) that renews itself:
/// fetched from the token endpoint at start and again when two thirds of
/// its lifetime have passed (sooner after a failure, with a bounded retry).
pub struct ClientCredentialsToken {
    current: RwLock<Option<HeaderValue>>,
}

impl std::fmt::Debug for ClientCredentialsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCredentialsToken(..)")
    }
}

/// Where and as whom a [`ClientCredentialsToken`] is requested.
#[derive(Clone)]
pub struct ClientCredentialsRequest {
    /// The token endpoint, such as `http://gatehouse-gateway:8080/oauth/token`.
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes to ask for (none: the client's defaults).
    pub scopes: Vec<String>,
    /// RFC 8707 resources: the audiences whose tokens the service may see.
    pub resources: Vec<String>,
    /// A file holding the workload's platform token (a projected
    /// service-account token, which the kubelet rewrites before it
    /// expires): then the token is requested with the jwt-bearer grant
    /// (RFC 7523 §2.1), the file read again for every request, and
    /// `client_id` / `client_secret` are not sent.
    pub workload_token_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ClientCredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentialsRequest")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"..")
            .field("scopes", &self.scopes)
            .field("resources", &self.resources)
            .field("workload_token_file", &self.workload_token_file)
            .finish()
    }
}

/// A token endpoint's refusal or an unreachable endpoint.
#[derive(Debug, thiserror::Error)]
#[error("client_credentials token: {0}")]
pub struct TokenSourceError(String);

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

impl ClientCredentialsToken {
    /// Fetches the first token (an error here is the caller's to report),
    /// then keeps it fresh in the background for as long as it is in use.
    pub async fn start(request: ClientCredentialsRequest) -> Result<Arc<Self>, TokenSourceError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TokenSourceError(e.to_string()))?;
        let (value, lifetime) = fetch(&http, &request).await?;
        let source = Arc::new(Self { current: RwLock::new(Some(value)) });
        let weak = Arc::downgrade(&source);
        tokio::spawn(async move {
            let mut wait = renew_after(lifetime);
            loop {
                tokio::time::sleep(wait).await;
                let Some(source) = weak.upgrade() else { return };
                match fetch(&http, &request).await {
                    Ok((value, lifetime)) => {
                        *source.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
                        wait = renew_after(lifetime);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "renewing the validator's access token failed; retrying");
                        wait = Duration::from_secs(5);
                    }
                }
            }
        });
        Ok(source)
    }
}

fn renew_after(lifetime: Duration) -> Duration {
    (lifetime * 2 / 3).max(Duration::from_secs(5))
}

async fn fetch(
    http: &reqwest::Client,
    request: &ClientCredentialsRequest,
) -> Result<(HeaderValue, Duration), TokenSourceError> {
    let mut form = match &request.workload_token_file {
        Some(path) => {
            // A few hundred bytes from a mounted volume.
            let token =
                std::fs::read_to_string(path).map_err(|e| TokenSourceError(format!("{}: {e}", path.display())))?;
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()),
                ("assertion", token.trim().to_owned()),
            ]
        }
        None => vec![("grant_type", "client_credentials".to_owned())],
    };
    if !request.scopes.is_empty() {
        form.push(("scope", request.scopes.join(" ")));
    }
    form.extend(request.resources.iter().map(|r| ("resource", r.clone())));
    let mut post = http.post(&request.token_endpoint);
    if request.workload_token_file.is_none() {
        post = post.basic_auth(&request.client_id, Some(&request.client_secret));
    }
    let response = post.form(&form).send().await.map_err(|e| TokenSourceError(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(TokenSourceError(format!("the token endpoint answered {status}: {body}")));
    }
    let token: TokenResponse = response.json().await.map_err(|e| TokenSourceError(e.to_string()))?;
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.access_token))
        .map_err(|e| TokenSourceError(e.to_string()))?;
    value.set_sensitive(true);
    Ok((value, Duration::from_secs(token.expires_in.max(60))))
}

impl CallCredential for ClientCredentialsToken {
    fn authorization(&self) -> Option<HeaderValue> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// A channel to the token service at `address` with the identity the
/// environment gives: `GATEHOUSE_CREDENTIAL` or `GATEHOUSE_CREDENTIAL_FILE`
/// (a validator's internal credential), or `GATEHOUSE_CLIENT_ID`,
/// `GATEHOUSE_CLIENT_SECRET` and `GATEHOUSE_TOKEN_ENDPOINT` (a validator
/// client's `client_credentials` token, renewed in the background; optional
/// `GATEHOUSE_RESOURCES`, comma separated), or `GATEHOUSE_WORKLOAD_TOKEN_FILE`
/// and `GATEHOUSE_TOKEN_ENDPOINT` (the same token, requested with the pod's
/// platform token: no secret), or none (a client certificate, or a
/// deployment whose token service answers unidentified callers).
pub async fn connect_from_env(address: &str) -> Result<Upstream, Box<dyn std::error::Error + Send + Sync>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let credential = match (var("GATEHOUSE_CREDENTIAL"), var("GATEHOUSE_CREDENTIAL_FILE")) {
        (Some(credential), _) => Some(credential),
        (None, Some(path)) => Some(std::fs::read_to_string(path)?),
        (None, None) => None,
    };
    if let Some(credential) = credential {
        return Ok(connect_with_credential(address, credential.trim())?);
    }
    let resources = || {
        var("GATEHOUSE_RESOURCES")
            .map(|r| r.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    if let (Some(file), Some(token_endpoint)) = (var("GATEHOUSE_WORKLOAD_TOKEN_FILE"), var("GATEHOUSE_TOKEN_ENDPOINT"))
    {
        let request = ClientCredentialsRequest {
            token_endpoint,
            client_id: String::new(),
            client_secret: String::new(),
            scopes: Vec::new(),
            resources: resources(),
            workload_token_file: Some(file.into()),
        };
        return Ok(connect_with(address, ClientCredentialsToken::start(request).await?)?);
    }
    if let (Some(client_id), Some(client_secret), Some(token_endpoint)) =
        (var("GATEHOUSE_CLIENT_ID"), var("GATEHOUSE_CLIENT_SECRET"), var("GATEHOUSE_TOKEN_ENDPOINT"))
    {
        let request = ClientCredentialsRequest {
            token_endpoint,
            client_id,
            client_secret,
            scopes: Vec::new(),
            resources: resources(),
            workload_token_file: None,
        };
        return Ok(connect_with(address, ClientCredentialsToken::start(request).await?)?);
    }
    Ok(crate::connect_lazy(address)?)
}
