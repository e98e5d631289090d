//! Validating Gatehouse access tokens in an internal Rust service.
//!
//! [`RequireScopes`] is a tower layer: it reads the bearer token of each
//! request, asks the token service's `Introspect` RPC (with the scopes the
//! route needs, checked in the same call), and puts the [`Caller`] into the
//! request's extensions. A missing or inactive token is answered 401, a
//! token without a needed scope 403 (both with the RFC 6750
//! `WWW-Authenticate` challenge), an unreachable token service 503: the
//! inner service only ever sees authenticated requests.
//!
//! A service that is a registered resource server (RFC 8707) names itself
//! with [`RequireScopes::for_resource`]: tokens for other resources are then
//! refused, and with [`RequireScopes::verify_jwts_locally`] its JWT access
//! tokens are verified against the JWKS without a call.
//!
//! ```no_run
//! use axum::{Extension, Router, routing::get};
//! use gatehouse_client::{Caller, RequireScopes, connect_lazy};
//!
//! # async fn example() -> Result<(), gatehouse_client::UpstreamError> {
//! let gatehouse = connect_lazy("http://gatehouse-token:50053")?;
//! let app: Router = Router::new()
//!     .route("/whoami", get(|Extension(caller): Extension<Caller>| async move { caller.username }))
//!     .layer(RequireScopes::new(gatehouse, ["user"]));
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use gatehouse_oauth::OAuthErrorCode;
use gatehouse_proto::pb::token::v1::IntrospectRequest;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_proto::status::{ErrorCode, Surface, bearer_challenge, decode_oauth, dpop_challenge, http_status};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};

/// Who called: the identity behind a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Empty for an application's own token (client_credentials).
    pub user_id: String,
    pub username: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The resource servers the token is for (RFC 8707); empty when none.
    pub audience: Vec<String>,
    /// RFC 9449: the thumbprint of the DPoP key the token is bound to; empty
    /// for a bearer token. The layer has checked the request's proof of it.
    pub jkt: String,
    /// RFC 8693 `act`: the clients acting for the user (a token exchange's
    /// requester first, then the chain before it); empty when the token was
    /// issued to the subject's own client.
    pub actors: Vec<String>,
    /// When the user signed in for the token's grant (Unix seconds); 0
    /// without an interactive sign-in (application and personal tokens).
    pub auth_time: i64,
    /// How strongly (`urn:gatehouse:acr:pwd`, `urn:gatehouse:acr:mfa`);
    /// empty without an interactive sign-in.
    pub acr: String,
    /// The methods (RFC 8176: `pwd`, `otp`, `mfa`, …).
    pub amr: Vec<String>,
}

mod cache;
mod credential;
mod dpop;
mod jwks;
mod metadata;
mod txn;
use cache::Answer;
pub use cache::{CacheStats, TokenCache, TokenCacheOptions};
pub use credential::{
    ClientCredentialsRequest, ClientCredentialsToken, TokenSourceError, connect_from_env, connect_with,
    connect_with_credential,
};
pub use jwks::REFETCH_AT_MOST_EVERY;
pub use metadata::ProtectedResource;
pub use txn::{
    PropagateTxnToken, PropagateTxnTokenService, RefusalBody, RequireTxnToken, RequireTxnTokenService,
    TXN_TOKEN_HEADER, TxnContext, TxnError, TxnTokens, current_txn,
};

pub use gatehouse_upstream::{
    CallCredential, StaticCredential, Upstream, UpstreamError, UpstreamOptions, tls, upstream,
};

/// A channel to the token service that balances over every replica behind
/// `address` (one or more comma-separated `http://host:port`, re-resolved
/// and health-checked every second; see [`upstream`]), with a 2 s per-call
/// timeout. Call it inside a tokio runtime.
pub fn connect_lazy(address: &str) -> Result<Upstream, UpstreamError> {
    upstream::balanced(address, UpstreamOptions { timeout: Duration::from_secs(2), ..UpstreamOptions::default() })
}

/// The layer: every request needs an access token with all of `scopes`.
#[derive(Debug, Clone)]
pub struct RequireScopes {
    client: TokenServiceClient<Upstream>,
    scopes: Arc<[String]>,
    resource: Option<Arc<str>>,
    /// Present when JWT access tokens are verified here.
    jwks: Option<jwks::JwksCache>,
    /// Present when validations are remembered (see [`TokenCache`]).
    cache: Option<TokenCache>,
    /// RFC 9728 §5.1: named in every 401's challenge.
    resource_metadata: Option<Arc<str>>,
    /// Whether an application's own token (no user) is accepted.
    without_user: bool,
    /// The DPoP proofs already accepted here (each works once).
    proofs: dpop::SeenProofs,
    /// RFC 9470: how strongly and how recently the user must have signed in.
    step_up: StepUp,
}

/// What a route asks of the user's sign-in (RFC 9470).
#[derive(Debug, Clone, Default)]
struct StepUp {
    acr: Option<Arc<str>>,
    max_age: Option<Duration>,
}

impl StepUp {
    /// The challenge when `caller`'s sign-in does not do, or None.
    fn unmet(&self, caller: &Caller, now: i64) -> Option<String> {
        let mut unmet = Vec::new();
        if let Some(required) = &self.acr {
            let strong_enough = match (gatehouse_oauth::acr::rank(required), gatehouse_oauth::acr::rank(&caller.acr)) {
                (Some(needed), Some(has)) => has >= needed,
                // A class Gatehouse does not rank: only itself will do.
                _ => caller.acr == **required,
            };
            if !strong_enough {
                unmet.push(format!(r#"acr_values="{required}""#));
            }
        }
        if let Some(max_age) = self.max_age {
            let age = now.saturating_sub(caller.auth_time);
            if caller.auth_time <= 0 || u64::try_from(age).map_or(true, |age| age > max_age.as_secs()) {
                unmet.push(format!(r#"max_age="{}""#, max_age.as_secs()));
            }
        }
        if unmet.is_empty() {
            return None;
        }
        let description = "a stronger or more recent sign-in is required";
        Some(format!(
            r#"Bearer error="insufficient_user_authentication", error_description="{description}", {}"#,
            unmet.join(", ")
        ))
    }
}

impl RequireScopes {
    pub fn new<I, S>(channel: Upstream, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            client: TokenServiceClient::new(channel),
            scopes: scopes.into_iter().map(Into::into).collect(),
            resource: None,
            jwks: None,
            cache: None,
            resource_metadata: None,
            without_user: false,
            proofs: dpop::SeenProofs::default(),
            step_up: StepUp::default(),
        }
    }

    /// Step-up (RFC 9470): the user must have signed in at least this
    /// strongly (an `acr` Gatehouse publishes, e.g. `urn:gatehouse:acr:mfa`
    /// for a second factor). A weaker token is refused with 401
    /// `insufficient_user_authentication` and `acr_values="…"`, which a
    /// client follows back to the authorization endpoint; an application's
    /// own token has no sign-in and never meets it.
    #[must_use]
    pub fn require_acr(mut self, acr: impl Into<String>) -> Self {
        self.step_up.acr = Some(Arc::from(acr.into()));
        self
    }

    /// Step-up (RFC 9470): the user must have signed in within `max_age`;
    /// an older sign-in is refused with `insufficient_user_authentication`
    /// and `max_age="…"`.
    #[must_use]
    pub fn max_auth_age(mut self, max_age: Duration) -> Self {
        self.step_up.max_age = Some(max_age);
        self
    }

    /// Accepts an application's own tokens too (`client_credentials`: no
    /// user behind them; [`Caller::user_id`] is then empty). Off by
    /// default: a route that acts for a user must not be reached by a
    /// token nobody signed in for, and an anonymous dynamic registration
    /// can obtain such tokens where the resource server admits them. Such
    /// a token is refused with 401 `insufficient_user_authentication`
    /// (RFC 9470) unless this is set.
    #[must_use]
    pub fn allow_without_user(mut self) -> Self {
        self.without_user = true;
        self
    }

    /// Names the service's protected resource metadata (RFC 9728) in every
    /// 401 and 403 challenge (`resource_metadata="…"`, §5.1), so that a client
    /// that has no token (an MCP agent) can find the authorization server; also
    /// sets [`RequireScopes::for_resource`] to the metadata's resource. Serve the
    /// document with [`ProtectedResource::router`].
    #[must_use]
    pub fn advertise(mut self, metadata: &ProtectedResource) -> Self {
        self.resource_metadata = Some(Arc::from(metadata.metadata_url()));
        self.for_resource(metadata.resource.clone())
    }

    /// Remembers validations in `cache`, kept true by the revocation stream:
    /// a known token is validated from memory, a revoked one refused within
    /// the cache's `stream_bound` (see [`TokenCache`] for the promise). With
    /// [`RequireScopes::verify_jwts_locally`], locally verified JWTs are
    /// refused once the stream names them revoked too, which removes that
    /// mode's price.
    #[must_use]
    pub fn cached(mut self, cache: TokenCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// This service is the resource server `identifier` (as registered in
    /// Gatehouse): only tokens whose audience includes it are accepted,
    /// and a token for another resource is refused as invalid (401).
    #[must_use]
    pub fn for_resource(mut self, identifier: impl Into<String>) -> Self {
        self.resource = Some(Arc::from(identifier.into()));
        self
    }

    /// Verifies JWT access tokens (RFC 9068) here, against the JWKS fetched
    /// from the token service over gRPC and cached (fetched again when a
    /// token names an unknown key), instead of introspecting them; opaque
    /// tokens are still introspected. Needs [`RequireScopes::for_resource`]
    /// (a JWT is only ever accepted for its audience).
    ///
    /// The price, stated: a JWT verified locally stays accepted until it
    /// expires even if it was revoked (the access token lifetime, 1 hour by
    /// default). Leave this off where a revocation must take effect at once;
    /// introspection answers inactive for a revoked JWT.
    #[must_use]
    pub fn verify_jwts_locally(mut self) -> Self {
        self.jwks = Some(jwks::JwksCache::new(self.client.clone()));
        self
    }
}

impl<S> tower::Layer<S> for RequireScopes {
    type Service = RequireScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopesService {
            inner,
            client: self.client.clone(),
            scopes: self.scopes.clone(),
            resource: self.resource.clone(),
            jwks: self.jwks.clone().filter(|_| self.resource.is_some()),
            cache: self.cache.clone(),
            resource_metadata: self.resource_metadata.clone(),
            without_user: self.without_user,
            proofs: self.proofs.clone(),
            step_up: self.step_up.clone(),
        }
    }
}

/// The service [`RequireScopes`] wraps around a route.
#[derive(Debug, Clone)]
pub struct RequireScopesService<S> {
    inner: S,
    client: TokenServiceClient<Upstream>,
    scopes: Arc<[String]>,
    resource: Option<Arc<str>>,
    jwks: Option<jwks::JwksCache>,
    cache: Option<TokenCache>,
    resource_metadata: Option<Arc<str>>,
    without_user: bool,
    proofs: dpop::SeenProofs,
    step_up: StepUp,
}

/// `insufficient_scope` unless `caller` has every one of `scopes`.
fn has_scopes(caller: &Caller, scopes: &[String]) -> Result<(), tonic::Status> {
    match scopes.iter().find(|s| !caller.scopes.contains(s)) {
        None => Ok(()),
        Some(missing) => Err(gatehouse_proto::status::encode_oauth(&gatehouse_oauth::OAuthError::new(
            gatehouse_oauth::OAuthErrorCode::InsufficientScope,
            format!("the token lacks the {missing:?} scope"),
        ))),
    }
}

/// The caller an introspection answer names, when it authorizes requests:
/// access tokens and personal access tokens do; refresh tokens do not.
fn introspected_caller(introspection: gatehouse_proto::pb::token::v1::IntrospectResponse) -> Option<Caller> {
    let bearer = matches!(introspection.token_type.as_str(), "access_token" | "personal_access_token");
    (introspection.active && bearer).then_some(Caller {
        user_id: introspection.user_id,
        username: introspection.username,
        client_id: introspection.client_id,
        scopes: introspection.scopes,
        expires_at: introspection.expires_at,
        audience: introspection.audience,
        jkt: introspection.jkt,
        actors: introspection.actors,
        auth_time: introspection.auth_time,
        acr: introspection.acr,
        amr: introspection.amr,
    })
}

/// A locally verified JWT as a caller, or the refusal.
fn local_caller(claims: jwks::AccessClaims, scopes: &[String]) -> Result<Caller, tonic::Status> {
    let granted: Vec<String> = claims.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    // An application's own token names the client as its subject (RFC 9068 §2.2).
    let user_id = if claims.sub == claims.client_id { String::new() } else { claims.sub };
    let caller = Caller {
        user_id,
        // A JWT carries no username; introspection does.
        username: String::new(),
        client_id: claims.client_id,
        scopes: granted,
        expires_at: claims.exp,
        audience: claims.aud.into_vec(),
        jkt: claims.cnf.map(|cnf| cnf.jkt).unwrap_or_default(),
        actors: jwks::actor_chain(claims.act.as_ref()),
        auth_time: claims.auth_time.unwrap_or(0),
        acr: claims.acr.unwrap_or_default(),
        amr: claims.amr,
    };
    has_scopes(&caller, scopes)?;
    Ok(caller)
}

/// The token of the `Authorization` header (`Bearer`, RFC 6750 §2.1, or
/// `token`, as Gatehouse's own API takes personal access tokens): the same
/// reading as the gateway's, from `gatehouse-oauth`. Tokens in the query
/// are not taken here.
fn bearer<B>(request: &Request<B>) -> Option<String> {
    let header = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = gatehouse_oauth::client_auth::bearer_token(header, &gatehouse_oauth::Params::default()).ok()??;
    Some(token.into_exposed())
}

fn refuse(status: StatusCode, challenge: Option<String>, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// Why a request was refused, as an HTTP answer: the status and the
/// challenge come from the same table the gateway uses
/// (`gatehouse_proto::status`), so an internal service refuses a token
/// exactly as Gatehouse's own API does.
/// The challenge names the resource's metadata when it has one (RFC 9728 §5.1).
fn refusal(status: &tonic::Status, token_sent: bool, scopes: &[String], metadata: Option<&str>) -> Response<Body> {
    let class = ErrorCode::from_grpc(status.code());
    let oauth = decode_oauth(status).map(|o| o.code);
    let code = http_status(Surface::Resource, class, oauth);
    let message = match class {
        _ if !token_sent => "an access token is required",
        ErrorCode::Unauthenticated => "the access token is invalid, expired or revoked",
        ErrorCode::PermissionDenied => "the access token lacks a needed scope",
        _ => "token validation is temporarily unavailable",
    };
    let proof_error =
        token_sent && matches!(oauth, Some(OAuthErrorCode::InvalidDpopProof | OAuthErrorCode::UseDpopNonce));
    let mut challenge = if proof_error {
        dpop_challenge(code, token_sent, oauth)
    } else {
        bearer_challenge(code, token_sent, oauth, &scopes.join(" "))
    };
    if let (Some(challenge), Some(url)) = (challenge.as_mut(), metadata) {
        // RFC 9728 §5.1, and the scope a client without a token needs (MCP's
        // authorization spec reads both from the first 401).
        challenge.push_str(&format!(r#", resource_metadata="{url}""#));
        if !token_sent && !scopes.is_empty() {
            challenge.push_str(&format!(r#", scope="{}""#, scopes.join(" ")));
        }
    }
    let mut response =
        refuse(StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE), challenge, message);
    // RFC 9449 §7.2: both schemes are accepted, so both are offered.
    if !proof_error
        && let Some(value) = dpop_challenge(code, token_sent, oauth).and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response.headers_mut().append(WWW_AUTHENTICATE, value);
    }
    response
}

/// RFC 9470 §3: the token is valid, but no user signed in for it.
fn userless_refusal(metadata: Option<&str>) -> Response<Body> {
    let mut challenge = r#"Bearer error="insufficient_user_authentication", error_description="this resource needs a token issued for a user""#.to_owned();
    if let Some(url) = metadata {
        challenge.push_str(&format!(r#", resource_metadata="{url}""#));
    }
    refuse(StatusCode::UNAUTHORIZED, Some(challenge), "this resource needs a token issued for a user")
}

/// RFC 9470 §3: the token is valid, the sign-in behind it not strong or
/// recent enough.
fn step_up_refusal(mut challenge: String, metadata: Option<&str>) -> Response<Body> {
    if let Some(url) = metadata {
        challenge.push_str(&format!(r#", resource_metadata="{url}""#));
    }
    refuse(StatusCode::UNAUTHORIZED, Some(challenge), "a stronger or more recent sign-in is required")
}

fn unix_now() -> i64 {
    gatehouse_oauth::Clock::now(&gatehouse_oauth::SystemClock).timestamp()
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<Request<B>> for RequireScopesService<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; keep the ready one for this call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let mut client = self.client.clone();
        let scopes = self.scopes.clone();
        let resource = self.resource.clone();
        let jwks = self.jwks.clone();
        let cache = self.cache.clone();
        let metadata = self.resource_metadata.clone();
        let without_user = self.without_user;
        let proofs = self.proofs.clone();
        let step_up = self.step_up.clone();
        let closes = unread_body(&request);
        Box::pin(async move {
            let refused = |response: Response<Body>| Ok(if closes { close(response) } else { response });
            // Two Authorization headers: refused, never one of them chosen
            // (a proxy and the client could each believe theirs counts).
            if request.headers().get_all(AUTHORIZATION).iter().nth(1).is_some() {
                let challenge = r#"Bearer error="invalid_request", error_description="send one Authorization header""#;
                return refused(refuse(
                    StatusCode::BAD_REQUEST,
                    Some(challenge.to_owned()),
                    "send one Authorization header",
                ));
            }
            let Some(token) = bearer(&request) else {
                let status = tonic::Status::unauthenticated("no token");
                return refused(refusal(&status, false, &scopes, metadata.as_deref()));
            };
            let caller =
                validate(&token, &mut client, &scopes, resource.as_deref(), jwks.as_ref(), cache.as_ref()).await;
            // RFC 9449 §7: a bound token only with a proof of its key.
            let caller = caller.and_then(|caller| {
                proofs.check(&request, &token, &caller.jkt, resource.as_deref())?;
                Ok(caller)
            });
            match caller {
                Ok(caller) if caller.user_id.is_empty() && !without_user => {
                    refused(userless_refusal(metadata.as_deref()))
                }
                Ok(caller) if let Some(challenge) = step_up.unmet(&caller, unix_now()) => {
                    refused(step_up_refusal(challenge, metadata.as_deref()))
                }
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(status) => refused(refusal(&status, true, &scopes, metadata.as_deref())),
            }
        })
    }
}

/// Whether an HTTP/1 request carries a body that a refusal leaves unread.
/// The server then closes the connection after answering (hyper does when
/// the body is not drained at once), so the refusal says so: a client that
/// reused the connection instead would see it close under its next request
/// (a retry after the 401's OAuth flow, as MCP clients make).
fn unread_body<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    let length = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    request.version() <= http::Version::HTTP_11
        && (headers.contains_key(http::header::TRANSFER_ENCODING) || length.is_some_and(|l| l.trim() != "0"))
}

/// The answer with `Connection: close` (RFC 9112 §9.6).
fn close(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn inactive() -> tonic::Status {
    tonic::Status::unauthenticated("inactive")
}

/// The caller behind `token`, or why not (as a status the refusal table
/// reads): a locally verified JWT, a remembered validation, or Introspect.
async fn validate(
    token: &str,
    client: &mut TokenServiceClient<Upstream>,
    scopes: &[String],
    resource: Option<&str>,
    jwks: Option<&jwks::JwksCache>,
    cache: Option<&TokenCache>,
) -> Result<Caller, tonic::Status> {
    let key = cache.map(|_| cache::key_of(token));
    if let (Some(jwks), Some(resource)) = (jwks, resource)
        && gatehouse_oauth::token::is_jwt(token)
        // With a cache, local verification needs the stream healthy (it is
        // what tells of revocations); without one, it is the stated price.
        && cache.is_none_or(TokenCache::trusted)
    {
        if let (Some(cache), Some(key)) = (cache, &key)
            && cache.is_revoked(key)
        {
            return Err(inactive());
        }
        return match jwks.verify(token, resource).await {
            Ok(claims) => local_caller(claims, scopes),
            Err(jwks::Rejected::Invalid) => Err(inactive()),
            Err(jwks::Rejected::Unavailable) => Err(tonic::Status::unavailable("keys unavailable")),
        };
    }
    let audience = resource.map(str::to_owned).unwrap_or_default();
    if let (Some(cache), Some(key)) = (cache, key) {
        let answer = match cache.lookup(&key) {
            Some(answer) => answer,
            None => {
                // Remembered for every route: asked without the route's scopes, checked here.
                let ask = IntrospectRequest { token: token.to_owned(), audience, ..IntrospectRequest::default() };
                let answer = match introspected_caller(client.introspect(ask).await?.into_inner()) {
                    Some(caller) => Answer::Active(Arc::new(caller)),
                    None => Answer::Inactive,
                };
                cache.fill(key, answer)
            }
        };
        return match answer {
            Answer::Active(caller) => {
                has_scopes(&caller, scopes)?;
                Ok(Caller::clone(&caller))
            }
            Answer::Inactive => Err(inactive()),
        };
    }
    // Always require at least one scope check, so an inactive token fails in the call.
    let ask = IntrospectRequest {
        token: token.to_owned(),
        token_type_hint: String::new(),
        required_scopes: scopes.to_vec(),
        client: None,
        // The token service refuses a token of another audience.
        audience,
    };
    let introspection = client.introspect(ask).await?.into_inner();
    introspected_caller(introspection).ok_or_else(inactive)
}

#[cfg(test)]
mod step_up_tests {
    use super::*;

    fn caller(acr: &str, auth_time: i64) -> Caller {
        Caller {
            user_id: "u".to_owned(),
            username: "ada".to_owned(),
            client_id: "app".to_owned(),
            scopes: vec!["user".to_owned()],
            expires_at: 0,
            audience: Vec::new(),
            jkt: String::new(),
            actors: Vec::new(),
            auth_time,
            acr: acr.to_owned(),
            amr: Vec::new(),
        }
    }

    #[test]
    fn a_route_asking_for_a_class_takes_it_or_a_stronger_one() {
        let mfa = StepUp { acr: Some(Arc::from(gatehouse_oauth::acr::MFA)), max_age: None };
        let challenge = mfa.unmet(&caller(gatehouse_oauth::acr::PWD, 100), 100).unwrap();
        assert!(challenge.starts_with(r#"Bearer error="insufficient_user_authentication""#), "{challenge}");
        assert!(challenge.contains(r#"acr_values="urn:gatehouse:acr:mfa""#), "{challenge}");
        assert!(mfa.unmet(&caller(gatehouse_oauth::acr::MFA, 100), 100).is_none());
        assert!(mfa.unmet(&caller("", 0), 100).is_some(), "no sign-in never meets it");
        let pwd = StepUp { acr: Some(Arc::from(gatehouse_oauth::acr::PWD)), max_age: None };
        assert!(pwd.unmet(&caller(gatehouse_oauth::acr::MFA, 100), 100).is_none(), "stronger will do");
        let other = StepUp { acr: Some(Arc::from("urn:other:gold")), max_age: None };
        assert!(other.unmet(&caller(gatehouse_oauth::acr::MFA, 100), 100).is_some());
        assert!(other.unmet(&caller("urn:other:gold", 100), 100).is_none());
    }

    #[test]
    fn a_route_asking_for_a_recent_sign_in_counts_from_auth_time() {
        let recent = StepUp { acr: None, max_age: Some(Duration::from_secs(300)) };
        assert!(recent.unmet(&caller(gatehouse_oauth::acr::PWD, 1_000), 1_300).is_none(), "exactly max_age");
        let challenge = recent.unmet(&caller(gatehouse_oauth::acr::PWD, 1_000), 1_301).unwrap();
        assert!(challenge.ends_with(r#"max_age="300""#), "{challenge}");
        assert!(recent.unmet(&caller("", 0), 1_000).is_some(), "no sign-in time");
        let both = StepUp { acr: Some(Arc::from(gatehouse_oauth::acr::MFA)), max_age: Some(Duration::from_secs(60)) };
        let challenge = both.unmet(&caller(gatehouse_oauth::acr::PWD, 0), 1_000).unwrap();
        assert!(challenge.contains("acr_values=") && challenge.contains("max_age="), "{challenge}");
    }
}
