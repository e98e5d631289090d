//! Channels that balance over every replica of a Gatehouse service.
//!
//! gRPC connections are long-lived HTTP/2 connections: a channel to one
//! Kubernetes Service address would pin each caller to whichever pod it
//! first reached, and a scaled-out Deployment would never get its share.
//! So a channel here is built from a *target*: one or more `http://host:port`
//! addresses (comma separated). A background task re-resolves every host
//! (a headless Service answers with one address per ready pod) and asks each
//! address the standard gRPC health service; requests are spread over the
//! addresses that answer SERVING.
//!
//! Membership rules, each for a reason:
//! - an address seen for the first time is used at once (Kubernetes only
//!   publishes ready pods; a static list is assumed up), then health-checked;
//! - an address whose health check fails (NOT_SERVING while it drains,
//!   refused after a crash, no answer) is taken out until it answers SERVING
//!   again, so a restarted replica is used again by itself;
//! - when *no* address is healthy, all of them stay in: the callers then get
//!   the services' own errors (say, UNAVAILABLE while the database is down)
//!   instead of waiting for an endpoint that never comes;
//! - a host that does not resolve keeps its last known addresses, and one
//!   that never resolved is dialled by name, so a call fails fast rather
//!   than queueing.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::mpsc::Sender;
use tonic::body::Body;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::tls::{ClientTls, Fingerprint, LoadedClientTls};

/// Timeouts, the refresh period and TLS of a balanced channel.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// Upper bound of one call.
    pub timeout: Duration,
    /// Upper bound of opening one connection.
    pub connect_timeout: Duration,
    /// How often addresses are re-resolved and health-checked: the longest a
    /// crashed replica keeps receiving calls.
    pub refresh: Duration,
    /// For `https://` addresses: the CA to trust and the identity to
    /// present. Re-read on every refresh when the files change; new
    /// connections use the new files.
    pub tls: Option<ClientTls>,
    /// The caller's identity on every call (see [`crate::credential`]).
    pub credential: Option<Arc<dyn crate::CallCredential>>,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            refresh: Duration::from_secs(1),
            tls: None,
            credential: None,
        }
    }
}

/// A target that is not a list of `http://host:port` or `https://host:port` addresses.
#[derive(Debug, thiserror::Error)]
#[error("invalid service address {address:?}: {problem}")]
pub struct UpstreamError {
    address: String,
    problem: String,
}

/// One address of a target, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    scheme: String,
    host: String,
    port: u16,
}

impl UpstreamError {
    /// An address refused for `problem`.
    pub fn new(address: &str, problem: &str) -> Self {
        Self { address: address.to_owned(), problem: problem.to_owned() }
    }
}

impl Target {
    fn parse(address: &str) -> Result<Self, UpstreamError> {
        let error = |problem: &str| UpstreamError { address: address.to_owned(), problem: problem.to_owned() };
        let uri: http::Uri = address.parse().map_err(|_| error("not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some(scheme @ ("http" | "https")) => scheme.to_owned(),
            _ => return Err(error("must start with http:// or https://")),
        };
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty()) {
            return Err(error("must not have a path or query"));
        }
        let authority = uri.authority().ok_or_else(|| error("has no host"))?;
        let port = authority.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        Ok(Self { scheme, host, port })
    }

    /// The URL to dial `addr` of this target.
    fn url_for(&self, addr: SocketAddr) -> String {
        format!("{}://{addr}", self.scheme)
    }

    /// The URL as written, for a host that never resolved: the connection
    /// resolves it by itself when it dials.
    fn url(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Parses a comma-separated list of service addresses.
fn parse_targets(spec: &str) -> Result<Vec<Target>, UpstreamError> {
    let targets =
        spec.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Target::parse).collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        return Err(UpstreamError { address: spec.to_owned(), problem: "no address given".to_owned() });
    }
    Ok(targets)
}

/// Checks `spec` the way [`balanced`] will read it, without starting
/// anything; tells whether any address is `https://`.
pub fn validate(spec: &str) -> Result<bool, UpstreamError> {
    Ok(parse_targets(spec)?.iter().any(|t| t.scheme == "https"))
}

/// A balanced channel that carries the current request id
/// ([`crate::request_id`]) into every call, and sends a call again, up to
/// twice, when it could not be sent at all: a replica that just crashed
/// refuses connections until the next refresh takes it out, and a call that
/// never reached a server is safe to send elsewhere, whatever it does. A call
/// that failed after it was sent is never repeated (a token request is not
/// idempotent). The request body is buffered for that: fine for unary
/// calls, which are all Gatehouse makes.
#[derive(Debug, Clone)]
pub struct Upstream {
    channel: Channel,
    /// Wakes the membership task for a round now (a replica refused a call).
    recheck: Arc<Notify>,
    /// Bound of one call, retries included; shortened to the caller's own
    /// deadline when the call is made while serving a request.
    timeout: Duration,
    credential: Option<Arc<dyn crate::CallCredential>>,
    /// Metadata added to every call of this handle (the admin console's
    /// session, see [`Upstream::with_metadata`]).
    metadata: Option<(http::HeaderName, http::HeaderValue)>,
}

impl Upstream {
    /// The same channel, adding `name: value` to every call made through
    /// the returned handle (the channel and its replicas are shared).
    #[must_use]
    pub fn with_metadata(&self, name: http::HeaderName, mut value: http::HeaderValue) -> Self {
        value.set_sensitive(true);
        Self { metadata: Some((name, value)), ..self.clone() }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Attempts of one call whose connection is refused (or, for the methods in
/// [`IDEMPOTENT`], that failed in flight).
const ATTEMPTS: u32 = 3;

/// The methods that may be sent again after they failed in flight (the
/// replica crashed with the call on it): reads, and revocations, which do
/// the same whether they run once or twice. Token requests, logins and the
/// like are never repeated: their effect may already exist.
pub const IDEMPOTENT: &[&str] = &[
    "/gatehouse.token.v1.TokenService/Introspect",
    "/gatehouse.token.v1.TokenService/BatchIntrospect",
    "/gatehouse.token.v1.TokenService/Revoke",
    "/gatehouse.token.v1.TokenService/RevokeAllForGrant",
    "/gatehouse.token.v1.TokenService/RevokeAllForSubject",
    "/gatehouse.registry.v1.RegistryService/GetUser",
    "/gatehouse.registry.v1.RegistryService/ListApplications",
    "/gatehouse.registry.v1.RegistryService/GetApplication",
    "/gatehouse.registry.v1.RegistryService/AuthenticateClient",
    "/gatehouse.registry.v1.RegistryService/ListScopes",
    "/gatehouse.authorization.v1.AuthorizationService/GetSession",
    "/gatehouse.authorization.v1.AuthorizationService/ListGrants",
    "/gatehouse.authorization.v1.AuthorizationService/RevokeGrant",
    "/gatehouse.authorization.v1.AuthorizationService/RevokeSubjectGrants",
    "/gatehouse.authorization.v1.AuthorizationService/RestoreCode",
    "/grpc.health.v1.Health/Check",
];

/// Whether `error` is the call's own time limit (the callee is slow, not
/// gone): never retried, since the time is spent.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tonic::TimeoutExpired>()
            || error.is::<tokio::time::error::Elapsed>()
            || error.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Whether `error` says the call was never processed: the connection was
/// refused, or the replica (shutting down) answered the stream with an
/// HTTP/2 GOAWAY that did not include it or with `REFUSED_STREAM`, both of
/// which guarantee that no application processing happened (RFC 9113 §8.7).
fn never_sent(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            let refused = h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM);
            return refused || (h2.is_go_away() && h2.is_remote());
        }
        cause = error.source();
    }
    false
}

impl tower::Service<http::Request<Body>> for Upstream {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), BoxError>> {
        // Each attempt waits for the channel's readiness itself.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let (channel, recheck) = (self.channel.clone(), self.recheck.clone());
        let (mut parts, body) = crate::request_id::propagate(request).into_parts();
        // The caller's deadline travels: this call gets what is left of it
        // (or this channel's own bound, when shorter), and the callee is told
        // in `grpc-timeout` so that its own work and calls stop in time.
        let timeout = crate::deadline::remaining().map_or(self.timeout, |left| left.min(self.timeout));
        parts.headers.insert(crate::deadline::HEADER, crate::deadline::encode(timeout));
        if let Some(value) = self.credential.as_ref().and_then(|c| c.authorization()) {
            parts.headers.insert(http::header::AUTHORIZATION, value);
        }
        if let Some((name, value)) = &self.metadata {
            parts.headers.insert(name.clone(), value.clone());
        }
        let idempotent = IDEMPOTENT.contains(&parts.uri.path());
        let call = async move {
            let bytes = body.collect().await.map_err(BoxError::from)?.to_bytes();
            let mut attempt = 1;
            loop {
                let mut request = http::Request::new(Body::new(http_body_util::Full::new(bytes.clone())));
                *request.method_mut() = parts.method.clone();
                *request.uri_mut() = parts.uri.clone();
                *request.version_mut() = parts.version;
                *request.headers_mut() = parts.headers.clone();
                match channel.clone().oneshot(request).await {
                    Ok(response) => return Ok(response),
                    Err(error) if attempt < ATTEMPTS && never_sent(&error) => {
                        tracing::debug!(%error, attempt, "connection refused, sending the call to another replica");
                        // Health-check now rather than at the next refresh.
                        recheck.notify_one();
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                        attempt += 1;
                    }
                    // A replica that died with the call on it: a read (or a
                    // revocation) is simply asked again, of another replica.
                    Err(error) if attempt < ATTEMPTS && idempotent && !timed_out(&error) => {
                        tracing::debug!(%error, attempt, "idempotent call failed in flight, sending it again");
                        recheck.notify_one();
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                        attempt += 1;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        Box::pin(async move {
            match tokio::time::timeout(timeout, call).await {
                Ok(result) => result,
                Err(elapsed) => Err(BoxError::from(elapsed)),
            }
        })
    }
}

/// A channel over every healthy address of `spec` (see the module docs).
/// Must be called inside a tokio runtime; the refresh task ends when the
/// last clone of the channel is dropped.
pub fn balanced(spec: &str, options: UpstreamOptions) -> Result<Upstream, UpstreamError> {
    let targets = parse_targets(spec)?;
    if options.tls.is_none() && targets.iter().any(|t| t.scheme == "https") {
        return Err(UpstreamError { address: spec.to_owned(), problem: "https:// needs a CA to trust".to_owned() });
    }
    // Unreadable TLS files are an error at creation; later, the previous files are kept.
    if let Some(tls) = &options.tls {
        tls.load().map_err(|e| UpstreamError { address: spec.to_owned(), problem: e.to_string() })?;
    }
    let (channel, changes) = Channel::balance_channel::<String>(1024);
    let recheck = Arc::new(Notify::new());
    let (timeout, credential) = (options.timeout, options.credential.clone());
    tokio::spawn(Membership::new(targets, options, changes).run(recheck.clone()));
    Ok(Upstream { channel, recheck, timeout, credential, metadata: None })
}

/// How to dial one address: its URL and the name its certificate must carry.
#[derive(Debug, Clone)]
struct Dial {
    url: String,
    domain: String,
}

/// One known address and whether calls go to it.
#[derive(Debug)]
struct Member {
    dial: Dial,
    in_balance: bool,
    health: HealthClient<Channel>,
}

/// The refresh task's state.
struct Membership {
    targets: Vec<Target>,
    options: UpstreamOptions,
    changes: Sender<Change<String, Endpoint>>,
    /// Last addresses each target resolved to.
    resolved: Vec<Vec<SocketAddr>>,
    members: HashMap<String, Member>,
    /// The TLS files last read, and what they held.
    tls: Option<(Fingerprint, LoadedClientTls)>,
}

impl Membership {
    fn new(targets: Vec<Target>, options: UpstreamOptions, changes: Sender<Change<String, Endpoint>>) -> Self {
        let resolved = vec![Vec::new(); targets.len()];
        Self { targets, options, changes, resolved, members: HashMap::new(), tls: None }
    }

    fn endpoint(&self, dial: &Dial) -> Option<Endpoint> {
        let endpoint = Endpoint::from_shared(dial.url.clone())
            .ok()?
            .timeout(self.options.timeout)
            .connect_timeout(self.options.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30));
        match (&self.tls, dial.url.starts_with("https://")) {
            (Some((_, tls)), true) => endpoint.tls_config(tls.for_domain(&dial.domain)).ok(),
            (None, true) => None,
            (_, false) => Some(endpoint),
        }
    }

    fn member(&self, dial: Dial) -> Option<(Member, Endpoint)> {
        let endpoint = self.endpoint(&dial)?;
        let probe_timeout = self.options.refresh.max(Duration::from_millis(200));
        let probe = endpoint.clone().timeout(probe_timeout).connect_timeout(probe_timeout);
        Some((Member { dial, in_balance: true, health: HealthClient::new(probe.connect_lazy()) }, endpoint))
    }

    /// Reads the TLS files when they changed; after a change every address
    /// gets a fresh endpoint, so that new connections use the new files.
    /// Returns false when the channel is gone.
    async fn refresh_tls(&mut self) -> bool {
        let Some(files) = &self.options.tls else {
            return true;
        };
        let fingerprint = files.fingerprint();
        if self.tls.as_ref().is_some_and(|(seen, _)| *seen == fingerprint) {
            return true;
        }
        let loaded = match files.load() {
            Ok(loaded) => loaded,
            Err(error) => {
                // Keep what works; the files are read again when they change
                // next (a Secret update may have been caught half written).
                tracing::warn!(%error, "cannot read the TLS files, keeping the previous ones");
                if let Some((seen, _)) = &mut self.tls {
                    *seen = fingerprint;
                }
                return true;
            }
        };
        let reload = self.tls.is_some();
        self.tls = Some((fingerprint, loaded));
        if !reload {
            return true;
        }
        tracing::info!("TLS files changed, new connections use them");
        let keys: Vec<String> = self.members.keys().cloned().collect();
        for key in keys {
            let Some(old) = self.members.remove(&key) else { continue };
            let Some((mut member, endpoint)) = self.member(old.dial) else { continue };
            member.in_balance = old.in_balance;
            self.members.insert(key.clone(), member);
            if old.in_balance && self.changes.send(Change::Insert(key, endpoint)).await.is_err() {
                return false;
            }
        }
        true
    }

    async fn run(mut self, recheck: Arc<Notify>) {
        loop {
            if self.changes.is_closed() || !self.refresh_tls().await {
                return;
            }
            let wanted = self.resolve().await;
            if !self.reconcile(wanted).await {
                return;
            }
            let healthy = self.check_health().await;
            if !self.apply_health(&healthy).await {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(self.options.refresh) => {}
                () = recheck.notified() => {}
            }
        }
    }

    /// Every address to know now, by key.
    async fn resolve(&mut self) -> Vec<(String, Dial)> {
        let mut wanted = Vec::new();
        for (index, target) in self.targets.iter().enumerate() {
            let addrs = match target.host.parse::<IpAddr>() {
                Ok(ip) => Ok(vec![SocketAddr::new(ip, target.port)]),
                Err(_) => lookup(&target.host, target.port).await,
            };
            match addrs {
                Ok(addrs) if !addrs.is_empty() => self.resolved[index] = addrs,
                Ok(_) => tracing::warn!(host = %target.host, "service name resolved to no address"),
                Err(error) => tracing::warn!(host = %target.host, %error, "cannot resolve service name"),
            }
            let domain = target.host.clone();
            if self.resolved[index].is_empty() {
                let url = target.url();
                wanted.push((url.clone(), Dial { url, domain }));
            } else {
                wanted.extend(
                    self.resolved[index]
                        .iter()
                        .map(|addr| (addr.to_string(), Dial { url: target.url_for(*addr), domain: domain.clone() })),
                );
            }
        }
        wanted
    }

    /// Adds new addresses (used at once) and forgets vanished ones.
    /// Returns false when the channel is gone.
    async fn reconcile(&mut self, wanted: Vec<(String, Dial)>) -> bool {
        let keys: HashSet<&String> = wanted.iter().map(|(key, _)| key).collect();
        let gone: Vec<String> = self.members.keys().filter(|key| !keys.contains(key)).cloned().collect();
        for key in gone {
            self.members.remove(&key);
            tracing::info!(endpoint = %key, "service address no longer resolved, removed");
            if self.changes.send(Change::Remove(key)).await.is_err() {
                return false;
            }
        }
        for (key, dial) in wanted {
            if self.members.contains_key(&key) {
                continue;
            }
            let Some((member, endpoint)) = self.member(dial) else {
                continue;
            };
            tracing::debug!(endpoint = %key, "service address added");
            self.members.insert(key.clone(), member);
            if self.changes.send(Change::Insert(key, endpoint)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// The keys of the members that answer SERVING.
    async fn check_health(&self) -> HashSet<String> {
        let mut checks = tokio::task::JoinSet::new();
        for (key, member) in &self.members {
            let mut health = member.health.clone();
            let key = key.clone();
            checks.spawn(async move {
                let answer = health.check(HealthCheckRequest { service: String::new() }).await;
                let serving = answer.is_ok_and(|a| a.get_ref().status == ServingStatus::Serving as i32);
                (key, serving)
            });
        }
        let mut healthy = HashSet::new();
        while let Some(result) = checks.join_next().await {
            if let Ok((key, true)) = result {
                healthy.insert(key);
            }
        }
        healthy
    }

    /// Puts healthy members in and unhealthy ones out; with none healthy,
    /// everything stays in. Returns false when the channel is gone.
    async fn apply_health(&mut self, healthy: &HashSet<String>) -> bool {
        let fail_open = healthy.is_empty();
        let mut changes = Vec::new();
        for (key, member) in &self.members {
            let want = fail_open || healthy.contains(key);
            if want == member.in_balance {
                continue;
            }
            if want {
                tracing::info!(endpoint = %key, "service address healthy, in use again");
                if let Some(endpoint) = self.endpoint(&member.dial) {
                    changes.push(Change::Insert(key.clone(), endpoint));
                }
            } else {
                tracing::warn!(endpoint = %key, "service address not serving, taken out of use");
                changes.push(Change::Remove(key.clone()));
            }
        }
        for change in changes {
            let (key, in_balance) = match &change {
                Change::Insert(key, _) => (key.clone(), true),
                Change::Remove(key) => (key.clone(), false),
            };
            if let Some(member) = self.members.get_mut(&key) {
                member.in_balance = in_balance;
            }
            if self.changes.send(change).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Resolves `host`, bounded in time: a stuck resolver must not stall the refresh.
async fn lookup(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    match tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((host, port))).await {
        Ok(addrs) => {
            let mut addrs: Vec<SocketAddr> = addrs?.collect();
            addrs.sort_unstable();
            addrs.dedup();
            Ok(addrs)
        }
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "name resolution timed out")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_lists_and_refuse_what_is_not_an_address() {
        let targets = parse_targets("http://token:50053, https://[::1]:9000").unwrap();
        assert_eq!(targets[0], Target { scheme: "http".into(), host: "token".into(), port: 50053 });
        assert_eq!(targets[1].host, "::1");
        assert_eq!(targets[1].url(), "https://[::1]:9000");
        assert_eq!(parse_targets("http://token").unwrap()[0].port, 80);
        for bad in ["", " , ", "token:50053", "ftp://token:1", "http://token:1/path", "http://"] {
            assert!(parse_targets(bad).is_err(), "{bad:?} must be refused");
        }
    }
}

#[cfg(test)]
mod resolution_tests {
    use super::*;
    use tonic_health::pb::health_client::HealthClient;

    /// A real health server on loopback.
    async fn health_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        tokio::spawn(async move {
            let _reporter = reporter;
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
        });
        port
    }

    #[tokio::test]
    async fn a_name_is_resolved_and_its_addresses_are_called() {
        let port = health_server().await;
        let channel = balanced(&format!("http://localhost:{port}"), UpstreamOptions::default()).unwrap();
        let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.unwrap();
        assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    }

    #[tokio::test]
    async fn a_call_refused_by_a_dead_replica_goes_to_another_one() {
        let alive = health_server().await;
        let (dead_listener, dead) = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            (listener, port)
        };
        // A replica that answers health, then goes away between refreshes
        // (a refresh so long that only a refused call can trigger a round).
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server =
            tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(dead_listener),
                async {
                    let _ = stopped.await;
                },
            ));
        let options = UpstreamOptions { refresh: Duration::from_secs(3600), ..UpstreamOptions::default() };
        let spec = format!("http://127.0.0.1:{alive},http://127.0.0.1:{dead}");
        let channel = balanced(&spec, options).unwrap();
        let mut health = HealthClient::new(channel);
        let check = || HealthCheckRequest { service: String::new() };
        for _ in 0..10 {
            health.check(check()).await.unwrap();
        }
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        for _ in 0..20 {
            let answer = health.check(check()).await;
            assert!(answer.is_ok(), "a refused call is sent to the live replica: {answer:?}");
        }
    }

    #[tokio::test]
    async fn a_name_that_never_resolves_fails_the_call_instead_of_queueing_it() {
        let options = UpstreamOptions { timeout: Duration::from_secs(30), ..UpstreamOptions::default() };
        let channel = balanced("http://gatehouse-no-such-host.invalid:50053", options).unwrap();
        let mut health = HealthClient::new(channel);
        let call = health.check(HealthCheckRequest { service: String::new() });
        // Bounded so that a hang is reported as a failure, not a stuck suite.
        let status = tokio::time::timeout(Duration::from_secs(20), call).await.expect("no hang").unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
    }
}
