//! Who is calling, and whether they may: every gRPC request of every
//! Gatehouse server passes [`GuardLayer`], which names the caller and checks
//! the one policy table ([`policy`]) before any handler runs.
//!
//! A caller is identified by one of:
//! - its **workload certificate** (mutual TLS): the certificate's URI SAN (a
//!   SPIFFE ID such as `spiffe://example.org/ns/gatehouse/sa/gateway`) or
//!   its DNS SAN, looked up in the operator's [`PeerMap`];
//! - a **bearer credential** in the `authorization` metadata: a `gic_…`
//!   internal credential (an operator's, or a part's where it has no
//!   certificate; the registry stores only its hash), an in-process
//!   credential of `serve all` (never stored), or, at the token service, an
//!   access token Gatehouse issued by `client_credentials` to a client the
//!   operator listed as a validator.
//!
//! Health checks are open to everyone; nothing else is. No identity is
//! `UNAUTHENTICATED`, an identity without the right `PERMISSION_DENIED`; both
//! are logged (with the method and who asked) and counted, and both answer
//! before any handler or storage is reached, so neither is slower than a
//! success. The [`Caller`] travels in the request's extensions, for the
//! handlers that narrow what a caller sees (a validator's audiences) and for
//! the audit trail.
//!
//! The admin console is the one case where a call speaks for a person: the
//! gateway adds the administrator's session token as
//! [`CONSOLE_SESSION`] metadata, and the guard asks its
//! [`Administrators`] check (the authorization service for the session, the
//! registry for the role, both fresh on every call) before the call may use
//! the [`Role::Console`] rows of the table. A gateway credential alone can
//! never call them, and no other caller may present a session.

pub mod peer;
pub mod policy;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gatehouse_oauth::{InternalCredential, SecretHash};
use tonic::Status;

pub use peer::{PeerMap, PeerMapError};
use policy::Rule;

/// What a caller of the internal plane is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The HTTP edge.
    Gateway,
    /// The parts, when they call each other.
    Registry,
    Authorization,
    Token,
    /// A person administering Gatehouse (the `gatehouse` CLI).
    Operator,
    /// An internal service checking tokens (`gatehouse-client`).
    Validator,
    /// The gateway acting for a signed-in administrator (the admin console):
    /// never a workload's own role, only what the guard makes of a gateway
    /// call that carries an administrator's session.
    Console,
}

impl Role {
    pub const ALL: [Self; 6] =
        [Self::Gateway, Self::Registry, Self::Authorization, Self::Token, Self::Operator, Self::Validator];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Registry => "registry",
            Self::Authorization => "authorization",
            Self::Token => "token",
            Self::Operator => "operator",
            Self::Validator => "validator",
            Self::Console => "console",
        }
    }

    /// A workload's role by name (`console` is not one: no certificate or
    /// credential can carry it).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == value)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// A workload certificate (mutual TLS).
    Certificate,
    /// An internal credential (`gic_…`) or an in-process one.
    Credential,
    /// An access token Gatehouse issued to the caller (`client_credentials`).
    AccessToken,
    /// An administrator's session, which the gateway passed on.
    Session,
}

impl Mechanism {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Credential => "credential",
            Self::AccessToken => "access_token",
            Self::Session => "session",
        }
    }
}

/// An identified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    /// Who exactly: the certificate's identity, the credential's id and
    /// name, or the client id.
    pub name: String,
    pub mechanism: Mechanism,
    /// A validator's client id.
    pub client_id: Option<String>,
    /// A validator's audiences, when it identified with an access token: the
    /// resources that token was issued for (RFC 8707, which the registry
    /// grants only to clients a resource server allows). It then sees tokens
    /// meant for no resource and tokens meant for one of these. `None`: a
    /// validator the operator admitted by certificate or credential, which
    /// sees every token.
    pub audiences: Option<Vec<String>>,
    /// The connection's peer address.
    pub remote: Option<SocketAddr>,
}

impl Caller {
    /// `role:name (mechanism)`, for logs and the audit trail's actor.
    pub fn describe(&self) -> String {
        format!("{}:{} ({})", self.role, self.name, self.mechanism.as_str())
    }

    /// The caller of a request, when the guard identified one.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&Self> {
        request.extensions().get::<Self>()
    }
}

/// A verifier could not answer (its store or the registry is down): the
/// call is UNAVAILABLE, never let through and never called unauthenticated.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot check the caller's credential: {0}")]
pub struct Unavailable(pub String);

/// Something that recognises bearer credentials of one kind.
#[tonic::async_trait]
pub trait Verifier: Send + Sync + std::fmt::Debug {
    /// The caller `bearer` identifies; `Ok(None)` when it is not a
    /// credential this verifier knows (or not a valid one).
    async fn verify(&self, bearer: &str) -> Result<Option<Caller>, Unavailable>;
}

/// The metadata in which the gateway passes the session of the administrator
/// it acts for.
pub const CONSOLE_SESSION: &str = "gatehouse-console-session";

/// An administrator the console acts for, as the guard found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administrator {
    pub user_id: String,
    pub username: String,
}

/// Who a console session belongs to, when it is a live session of an
/// enabled administrator.
#[tonic::async_trait]
pub trait Administrators: Send + Sync + std::fmt::Debug {
    /// The administrator signed in with `session_token`; `Ok(None)` for an
    /// unknown or ended session, or one whose person is not (or no longer)
    /// an enabled administrator.
    async fn administrator(&self, session_token: &str) -> Result<Option<Administrator>, Unavailable>;
}

/// How long a verified bearer credential is trusted without asking again:
/// the longest a revoked or expired credential still works.
pub const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// How long an unknown credential is answered "unknown" without asking
/// again: a stream of made-up credentials costs one lookup each per second.
pub const UNKNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// `inner` behind a cache of its answers, keyed by the bearer's hash:
/// known callers for [`VERIFIED_FOR`] (a busy caller costs one lookup per
/// few seconds, not one per call), unknown ones for [`UNKNOWN_FOR`].
pub fn cached(inner: Arc<dyn Verifier>) -> Arc<dyn Verifier> {
    let cache = moka::sync::Cache::builder().max_capacity(10_000).time_to_live(VERIFIED_FOR).build();
    let unknown = moka::sync::Cache::builder().max_capacity(10_000).time_to_live(UNKNOWN_FOR).build();
    Arc::new(CachedVerifier { inner, cache, unknown })
}

struct CachedVerifier {
    inner: Arc<dyn Verifier>,
    cache: moka::sync::Cache<String, Caller>,
    unknown: moka::sync::Cache<String, ()>,
}

impl std::fmt::Debug for CachedVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedVerifier").field("inner", &self.inner).finish_non_exhaustive()
    }
}

#[tonic::async_trait]
impl Verifier for CachedVerifier {
    async fn verify(&self, bearer: &str) -> Result<Option<Caller>, Unavailable> {
        let key = SecretHash::of(bearer).as_str().to_owned();
        if let Some(caller) = self.cache.get(&key) {
            return Ok(Some(caller));
        }
        if self.unknown.contains_key(&key) {
            return Ok(None);
        }
        let found = self.inner.verify(bearer).await?;
        match &found {
            Some(caller) => self.cache.insert(key, caller.clone()),
            None => self.unknown.insert(key, ()),
        }
        Ok(found)
    }
}

/// Credentials made by `serve all` (or a test) for its own parts: they live
/// in this process only and are never stored, so they die with it.
#[derive(Debug, Clone, Default)]
pub struct InProcessCredentials {
    by_hash: HashMap<String, Role>,
    own: HashMap<Role, InternalCredential>,
}

impl InProcessCredentials {
    /// One fresh credential for each of the four parts.
    pub fn for_parts() -> Self {
        let mut credentials = Self::default();
        for role in [Role::Gateway, Role::Registry, Role::Authorization, Role::Token] {
            credentials.add(role);
        }
        credentials
    }

    /// Adds a fresh credential for `role` (tests add an operator's).
    pub fn add(&mut self, role: Role) -> InternalCredential {
        let credential = InternalCredential::generate();
        self.by_hash.insert(credential.hash().as_str().to_owned(), role);
        self.own.insert(role, credential.clone());
        credential
    }

    /// The credential `role` calls with.
    pub fn of(&self, role: Role) -> Option<InternalCredential> {
        self.own.get(&role).cloned()
    }

    fn verify(&self, bearer: &str) -> Option<Role> {
        // The map is keyed by hash; the lookup compares hashes of 256-bit
        // secrets, which reveals nothing about the secret itself.
        self.by_hash.get(SecretHash::of(bearer).as_str()).copied()
    }
}

/// Everything a server needs to name its callers.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The identities of workload certificates.
    peers: Arc<PeerMap>,
    in_process: Arc<InProcessCredentials>,
    verifiers: Vec<Arc<dyn Verifier>>,
    /// Where refusals are recorded beyond the log (the service's audit trail).
    refusals: Option<Arc<dyn RefusalSink>>,
    /// The check of console sessions; without one, no console call passes.
    administrators: Option<Arc<dyn Administrators>>,
}

impl Access {
    /// Access from certificates in `peers`, the in-process credentials,
    /// and no verifier yet: each service adds its own.
    pub fn new(peers: PeerMap, in_process: InProcessCredentials) -> Self {
        Self {
            peers: Arc::new(peers),
            in_process: Arc::new(in_process),
            verifiers: Vec::new(),
            refusals: None,
            administrators: None,
        }
    }

    /// The same, checking console sessions with `check`.
    #[must_use]
    pub fn with_administrators(mut self, check: Arc<dyn Administrators>) -> Self {
        self.administrators = Some(check);
        self
    }

    /// A gateway call that carries a console session becomes the
    /// administrator's ([`Role::Console`]); `Ok(None)`: the session is not an
    /// administrator's.
    async fn console(&self, gateway: &Caller, session_token: &str) -> Result<Option<Caller>, Unavailable> {
        let Some(check) = &self.administrators else {
            return Ok(None);
        };
        Ok(check.administrator(session_token).await?.map(|admin| Caller {
            role: Role::Console,
            name: admin.user_id,
            mechanism: Mechanism::Session,
            client_id: None,
            audiences: None,
            remote: gateway.remote,
        }))
    }

    /// The same, recording refusals in `sink`.
    #[must_use]
    pub fn recording_refusals(mut self, sink: Arc<dyn RefusalSink>) -> Self {
        self.refusals = Some(sink);
        self
    }

    /// The same, with `verifier` asked about bearer credentials too.
    #[must_use]
    pub fn with(mut self, verifier: Arc<dyn Verifier>) -> Self {
        self.verifiers.push(verifier);
        self
    }

    /// Names the caller of a connection and bearer: its certificate first, then its bearer.
    async fn identify(
        &self,
        remote: Option<SocketAddr>,
        certificates: PeerCertificates,
        bearer: Option<String>,
    ) -> Result<Option<Caller>, Unavailable> {
        let leaf = certificates.as_ref().and_then(|certs| certs.first());
        if let Some((identity, role, client_id)) = leaf.and_then(|leaf| self.peers.identify(leaf.as_ref())) {
            return Ok(Some(Caller {
                role,
                name: identity,
                mechanism: Mechanism::Certificate,
                client_id,
                audiences: None,
                remote,
            }));
        }
        let Some(bearer) = bearer else {
            return Ok(None);
        };
        let bearer = bearer.as_str();
        if let Some(role) = self.in_process.verify(bearer) {
            let name = format!("{role}-in-process");
            return Ok(Some(Caller {
                role,
                name,
                mechanism: Mechanism::Credential,
                client_id: None,
                audiences: None,
                remote,
            }));
        }
        for verifier in &self.verifiers {
            if let Some(mut caller) = verifier.verify(bearer).await? {
                caller.remote = remote;
                return Ok(Some(caller));
            }
        }
        Ok(None)
    }
}

/// The `authorization: Bearer …` value of a request, if any.
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 8192).then_some(token)
}

/// The peer address and, under TLS, the client's certificate chain.
type PeerCertificates = Option<Arc<Vec<rustls_pki_types::CertificateDer<'static>>>>;

fn connection<B>(request: &http::Request<B>) -> (Option<SocketAddr>, PeerCertificates) {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let extensions = request.extensions();
    if let Some(tls) = extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        return (tls.get_ref().remote_addr(), tls.peer_certs());
    }
    (extensions.get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr), None)
}

/// The tower layer that guards every Gatehouse gRPC server.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    service: &'static str,
    /// Shared by every connection: one reference count per request, no copy.
    access: Arc<Access>,
}

impl GuardLayer {
    pub fn new(service: &'static str, access: Access) -> Self {
        Self { service, access: Arc::new(access) }
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard { inner, service: self.service, access: self.access.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    service: &'static str,
    access: Arc<Access>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why a call was refused, for the log and the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated,
    PermissionDenied,
}

impl Refusal {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
        }
    }
}

/// Where refusals are recorded beyond the log (the audit trail).
pub trait RefusalSink: Send + Sync + std::fmt::Debug {
    fn refused(&self, method: &str, caller: Option<&Caller>, remote: Option<SocketAddr>, refusal: Refusal);
}

/// The message of a refusal for want of an identity (clients tell it apart
/// from a handler's own UNAUTHENTICATED with [`refusal_of`]).
pub const UNIDENTIFIED: &str =
    "this call needs a caller identity: a workload certificate, an internal credential or a validator's access token";

/// Whether `status` is one of the guard's refusals (rather than a handler's answer), and which.
pub fn refusal_of(status: &Status) -> Option<Refusal> {
    match status.code() {
        tonic::Code::Unauthenticated if status.message() == UNIDENTIFIED => Some(Refusal::Unauthenticated),
        tonic::Code::PermissionDenied if status.message().contains(" may not call /") => {
            Some(Refusal::PermissionDenied)
        }
        _ => None,
    }
}

fn refuse<B: Default>(
    access: &Access,
    service: &str,
    path: &str,
    caller: Option<&Caller>,
    remote: Option<SocketAddr>,
    refusal: Refusal,
) -> http::Response<B> {
    let who = caller.map_or_else(|| "nobody".to_owned(), Caller::describe);
    let remote_text = remote.map(|r| r.to_string()).unwrap_or_default();
    tracing::warn!(service, rpc = path, caller = %who, remote = %remote_text, reason = refusal.as_str(), "internal call refused");
    if let Some(sink) = &access.refusals {
        sink.refused(path, caller, remote, refusal);
    }
    let status = match (refusal, caller) {
        (Refusal::Unauthenticated, _) => Status::unauthenticated(UNIDENTIFIED),
        (Refusal::PermissionDenied, Some(caller)) if caller.role == Role::Console => {
            Status::permission_denied(format!("the console may not call {path}: it is not an administrator's action"))
        }
        (Refusal::PermissionDenied, Some(caller)) => {
            Status::permission_denied(format!("the {} role may not call {path}", caller.role))
        }
        (Refusal::PermissionDenied, None) => Status::permission_denied(format!("the caller may not call {path}")),
    };
    status.into_http()
}

/// The refusal of a console call whose session is not a live administrator's.
fn refuse_console<B: Default>(
    access: &Access,
    service: &str,
    path: &str,
    gateway: &Caller,
    remote: Option<SocketAddr>,
) -> http::Response<B> {
    tracing::warn!(service, rpc = path, caller = %gateway.describe(), "a console call without a live administrator's session");
    if let Some(sink) = &access.refusals {
        sink.refused(path, Some(gateway), remote, Refusal::PermissionDenied);
    }
    Status::permission_denied(format!(
        "the console may call {path} only for a signed-in administrator, and this session is not one"
    ))
    .into_http()
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Guard<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let rule = policy::rule(&path);
        match rule {
            Rule::Open => return Box::pin(self.inner.call(request)),
            Rule::Unknown => {
                // Never served: counted as unknown, like any method no server has.
                return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
            }
            Rule::AnyCaller | Rule::Roles(_) => {}
        }
        // The ready service goes into the future; a fresh clone stays (tower's idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (service, access) = (self.service, self.access.clone());
        let (remote, certificates) = connection(&request);
        let presented = bearer(request.headers()).map(str::to_owned);
        let console = request.headers_mut().remove(CONSOLE_SESSION);
        Box::pin(async move {
            let caller = match access.identify(remote, certificates, presented).await {
                Ok(caller) => caller,
                Err(error) => {
                    tracing::warn!(service, rpc = %path, %error, "cannot identify the caller");
                    return Ok(Status::unavailable("cannot check the caller's credential now; retry").into_http());
                }
            };
            let Some(mut caller) = caller else {
                return Ok(refuse(&access, service, &path, None, remote, Refusal::Unauthenticated));
            };
            if let Some(session) = console {
                let session = session.to_str().unwrap_or_default();
                if caller.role != Role::Gateway || session.is_empty() {
                    tracing::warn!(service, rpc = %path, caller = %caller.describe(), "a console session from a caller other than the gateway");
                    return Ok(refuse(&access, service, &path, Some(&caller), remote, Refusal::PermissionDenied));
                }
                match access.console(&caller, session).await {
                    Ok(Some(admin)) => caller = admin,
                    Ok(None) => {
                        return Ok(refuse_console(&access, service, &path, &caller, remote));
                    }
                    Err(error) => {
                        tracing::warn!(service, rpc = %path, %error, "cannot check the console session");
                        return Ok(
                            Status::unavailable("cannot check the administrator's session now; retry").into_http()
                        );
                    }
                }
            }
            let allowed = match rule {
                Rule::Roles(roles) => roles.contains(&caller.role),
                Rule::AnyCaller => true,
                Rule::Open | Rule::Unknown => false,
            };
            if !allowed {
                return Ok(refuse(&access, service, &path, Some(&caller), remote, Refusal::PermissionDenied));
            }
            request.extensions_mut().insert(caller);
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests;
