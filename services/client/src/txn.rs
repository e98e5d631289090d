//! Transaction tokens (draft-ietf-oauth-transaction-tokens) at internal
//! services: a Txn-Token carries the user and the request's context down a
//! call chain inside one trust domain, in the `Txn-Token` header (HTTP) or
//! the `txn-token` metadata (gRPC: the same HTTP/2 header).
//!
//! [`TxnTokens`] verifies one locally, with the token service's JWKS (no
//! call per request): signed by a published key, `typ: txntoken+jwt`,
//! `aud` this trust domain, unexpired, and — with a [`TokenCache`] — not
//! named revoked by the revocation stream (revoking the grant a Txn-Token
//! was made from ends it). [`TxnTokens::layer`] refuses a request without
//! a valid one and hands the handler its [`TxnContext`]; while the handler
//! runs, [`PropagateTxnToken`] on an outgoing client (a tonic channel, any
//! tower HTTP client) sends the same token on, unmodified, as the draft
//! requires. A Txn-Token is never an access token: it is not accepted in
//! `Authorization`, and introspection answers it inactive.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_upstream::Upstream;
use http::{HeaderValue, Request, Response, StatusCode};

use crate::TokenCache;
use crate::jwks::{JwksCache, Rejected};

/// The header (and gRPC metadata key) a Txn-Token travels in.
pub const TXN_TOKEN_HEADER: &str = "txn-token";

tokio::task_local! {
    static CURRENT: TxnContext;
}

/// A verified Txn-Token, as a handler sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct TxnContext {
    /// The transaction's identifier, the same at every hop.
    pub txn: String,
    /// The user (or, for a call that started inside, the workload) it is for.
    pub sub: String,
    /// The transaction's purpose.
    pub scopes: Vec<String>,
    /// The workloads that requested it and its replacements, first first.
    pub requesting_workloads: Vec<String>,
    /// `tctx`: what was authorized (immutable along the chain).
    pub transaction_context: Option<serde_json::Value>,
    /// `rctx`: the request's environment at the edge.
    pub request_context: Option<serde_json::Value>,
    pub expires_at: i64,
    /// The token itself, to send on (never printed).
    token: String,
}

impl std::fmt::Debug for TxnContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnContext")
            .field("txn", &self.txn)
            .field("sub", &self.sub)
            .field("scopes", &self.scopes)
            .field("requesting_workloads", &self.requesting_workloads)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl TxnContext {
    /// Whether the transaction's scope includes `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The Txn-Token, to send on by hand (an HTTP client outside tower).
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// The Txn-Token of the request being handled on this task, if any.
pub fn current_txn() -> Option<TxnContext> {
    CURRENT.try_with(Clone::clone).ok()
}

#[derive(serde::Deserialize)]
struct Claims {
    txn: String,
    sub: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    req_wl: String,
    #[serde(default)]
    tctx: Option<serde_json::Value>,
    #[serde(default)]
    rctx: Option<serde_json::Value>,
    exp: i64,
}

/// Why a Txn-Token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("a Txn-Token is required (one Txn-Token header)")]
    Missing,
    #[error("the Txn-Token is invalid, expired, revoked or for another trust domain")]
    Invalid,
    #[error("the token service's keys are unavailable")]
    Unavailable,
}

/// Verifies Txn-Tokens of one trust domain locally.
#[derive(Debug, Clone)]
pub struct TxnTokens {
    jwks: JwksCache,
    trust_domain: String,
    cache: Option<TokenCache>,
}

impl TxnTokens {
    /// Verifier for `trust_domain` (the `aud` Gatehouse gives its
    /// Txn-Tokens: `GATEHOUSE_TXN_TRUST_DOMAIN`), with the keys of the token
    /// service on `channel`.
    pub fn new(channel: Upstream, trust_domain: impl Into<String>) -> Self {
        Self { jwks: JwksCache::new(TokenServiceClient::new(channel)), trust_domain: trust_domain.into(), cache: None }
    }

    /// Refuses Txn-Tokens the revocation stream (this cache's) names
    /// revoked, and every local verification while the stream is not
    /// healthy (nothing would say a token was revoked).
    pub fn with_revocations(mut self, cache: TokenCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The context of a valid Txn-Token.
    pub async fn verify(&self, token: &str) -> Result<TxnContext, TxnError> {
        if let Some(cache) = &self.cache {
            if !cache.trusted() {
                return Err(TxnError::Unavailable);
            }
            if cache.is_revoked(&crate::cache::key_of(token)) {
                return Err(TxnError::Invalid);
            }
        }
        let claims: Claims = self.jwks.verify_typed(token, "txntoken+jwt", &self.trust_domain).await.map_err(
            |rejected| match rejected {
                Rejected::Invalid => TxnError::Invalid,
                Rejected::Unavailable => TxnError::Unavailable,
            },
        )?;
        Ok(TxnContext {
            txn: claims.txn,
            sub: claims.sub,
            scopes: claims.scope.split_ascii_whitespace().map(str::to_owned).collect(),
            requesting_workloads: claims.req_wl.split_ascii_whitespace().map(str::to_owned).collect(),
            transaction_context: claims.tctx,
            request_context: claims.rctx,
            expires_at: claims.exp,
            token: token.to_owned(),
        })
    }

    /// A tower layer requiring a valid Txn-Token on every request.
    pub fn layer(&self) -> RequireTxnToken {
        RequireTxnToken { tokens: self.clone() }
    }
}

/// See [`TxnTokens::layer`].
#[derive(Debug, Clone)]
pub struct RequireTxnToken {
    tokens: TxnTokens,
}

impl<S> tower::Layer<S> for RequireTxnToken {
    type Service = RequireTxnTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTxnTokenService { inner, tokens: self.tokens.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct RequireTxnTokenService<S> {
    inner: S,
    tokens: TxnTokens,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A response body a refusal can be written in: an axum (HTTP) or a tonic
/// (gRPC) service's.
pub trait RefusalBody: Default + Send + 'static {
    fn from_text(text: String) -> Self;
}

impl RefusalBody for Body {
    fn from_text(text: String) -> Self {
        Self::from(text)
    }
}

impl RefusalBody for tonic::body::Body {
    fn from_text(text: String) -> Self {
        Self::new(text)
    }
}

/// A refusal in the caller's protocol: a gRPC status for a gRPC request
/// (HTTP 200, `grpc-status`), otherwise JSON with 401 / 503.
fn refusal<B, R: RefusalBody>(request: &Request<B>, error: &TxnError) -> Response<R> {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let unavailable = *error == TxnError::Unavailable;
    if grpc {
        let status = if unavailable {
            tonic::Status::unavailable(error.to_string())
        } else {
            tonic::Status::unauthenticated(error.to_string())
        };
        return status.into_http();
    }
    let mut response = Response::new(R::from_text(serde_json::json!({ "error": error.to_string() }).to_string()));
    *response.status_mut() = if unavailable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::UNAUTHORIZED };
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

impl<S, B, R> tower::Service<Request<B>> for RequireTxnTokenService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    R: RefusalBody,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let tokens = self.tokens.clone();
        Box::pin(async move {
            let mut headers = request.headers().get_all(TXN_TOKEN_HEADER).iter();
            // Exactly one: never one of two chosen.
            let token = match (headers.next(), headers.next()) {
                (Some(value), None) => value.to_str().ok().map(str::to_owned),
                _ => None,
            };
            let Some(token) = token else {
                return Ok(refusal(&request, &TxnError::Missing));
            };
            match tokens.verify(&token).await {
                Ok(context) => {
                    request.extensions_mut().insert(context.clone());
                    CURRENT.scope(context, inner.call(request)).await
                }
                Err(error) => Ok(refusal(&request, &error)),
            }
        })
    }
}

/// A tower layer for outgoing clients: every request made while a request
/// with a Txn-Token is being handled carries that token on, unmodified.
#[derive(Debug, Clone, Copy, Default)]
pub struct PropagateTxnToken;

impl<S> tower::Layer<S> for PropagateTxnToken {
    type Service = PropagateTxnTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateTxnTokenService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct PropagateTxnTokenService<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for PropagateTxnTokenService<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(value) = current_txn().and_then(|context| HeaderValue::from_str(context.token()).ok()) {
            let mut value = value;
            value.set_sensitive(true);
            request.headers_mut().insert(TXN_TOKEN_HEADER, value);
        }
        self.inner.call(request)
    }
}
