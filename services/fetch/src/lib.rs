//! The one way Gatehouse reaches the Internet: an HTTPS GET of a document a
//! client named (its client ID metadata document, its `jwks_uri`), and an
//! HTTPS POST to an endpoint a client named (a Shared Signals receiver's
//! push endpoint). Whoever sends the URL chooses the target, so every rule
//! against server-side request forgery is enforced here, once:
//!
//! - `https` only, no user info, no fragment;
//! - the host is resolved here and **every** address it resolves to must be
//!   a public unicast address (RFC 6890 special-use blocks, private,
//!   loopback, link-local, CGNAT, multicast, documentation, 6to4/Teredo/NAT64
//!   and IPv4-mapped forms of those are refused) unless the operator's
//!   allow-list admits it; the connection goes to the address that was
//!   checked, so a second DNS answer cannot swap it (no rebinding);
//! - the certificate is verified for the host (Web PKI roots, plus the
//!   operator's extra roots);
//! - one request, no redirects (a 3xx is a failure), only a 200 counts;
//! - the body is capped (a larger one is a failure, not truncated) and the
//!   whole exchange has one deadline;
//! - behind an operator's egress proxy (`GATEHOUSE_FETCH_PROXY`), the tunnel
//!   is opened to the checked *address* (`CONNECT 203.0.113.7:443`), never to
//!   the name, so the proxy cannot resolve it to something else; TLS still
//!   verifies the name end to end.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use ipnet::IpNet;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What the operator lets the fetcher reach beyond the public Internet.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Networks admitted although special-use (a private CIMD host, the tests' loopback).
    pub allow_networks: Vec<IpNet>,
    /// Roots trusted in addition to the Web PKI's (DER).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The deadline of one fetch, connection to last byte.
    pub timeout: Duration,
    /// Fetches one replica runs at once; past it a fetch waits in a short
    /// queue (`queue_wait`), then fails (whoever sends URLs cannot pile up
    /// connections and tasks here).
    pub max_concurrent: usize,
    /// Fair shares of those: fetches at once for one requesting address,
    /// and for one document host. Past its share a requester (or a slow
    /// host) is refused at once while everyone else's fetches go on.
    pub max_per_requester: usize,
    pub max_per_host: usize,
    /// How long a fetch may wait for a free slot of `max_concurrent`.
    pub queue_wait: Duration,
    /// An HTTP proxy that tunnels (CONNECT) every fetch, for clusters whose
    /// egress goes through one.
    pub proxy: Option<FetchProxy>,
}

/// An egress proxy: where it listens, and its credentials if it wants them.
#[derive(Clone)]
pub struct FetchProxy {
    /// `host:port` of the proxy (operator-given, so it may be private).
    pub address: String,
    /// The `Proxy-Authorization` value (`Basic …`), from the proxy URL's user info.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for FetchProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchProxy")
            .field("address", &self.address)
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl FetchProxy {
    /// Reads `http://[user:password@]host:port` (what `HTTPS_PROXY` holds).
    pub fn parse(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|_| "must be a URL like http://proxy.internal:3128".to_owned())?;
        if parsed.scheme() != "http" {
            return Err("must be an http:// proxy URL (the tunnel carries TLS to the document's host)".to_owned());
        }
        if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err("must be only http://host:port".to_owned());
        }
        let host = parsed.host_str().ok_or_else(|| "names no host".to_owned())?;
        let address = format!("{host}:{}", parsed.port_or_known_default().unwrap_or(80));
        let authorization = if parsed.username().is_empty() {
            None
        } else {
            let pair = format!(
                "{}:{}",
                percent_decode(parsed.username()),
                percent_decode(parsed.password().unwrap_or_default())
            );
            Some(format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)))
        };
        Ok(Self { address, authorization })
    }
}

/// User info as written in the URL (`%40` for `@`), decoded; `+` stays `+`.
fn percent_decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned()
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_networks: Vec::new(),
            extra_roots: Vec::new(),
            timeout: Duration::from_secs(3),
            max_concurrent: 64,
            max_per_requester: 4,
            max_per_host: 8,
            queue_wait: Duration::from_millis(250),
            proxy: None,
        }
    }
}

/// Why a document could not be fetched. The text is shown to the client:
/// it names the rule that failed, never what the network answered, so that
/// the fetcher is no oracle of anyone's DNS or ports (a name that does not
/// resolve and one that resolves to a private address read the same; a
/// closed, a filtered and a non-TLS port read the same). The variants keep
/// the detail for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the URL must be an https URL without user info or fragment")]
    NotHttps,
    #[error("its host must resolve to public Internet addresses only")]
    Unresolved,
    #[error("its host must resolve to public Internet addresses only")]
    SpecialUse(IpAddr),
    #[error("its host must serve it over HTTPS, promptly, with a certificate a public root vouches for")]
    Connect,
    #[error("the egress proxy refused the tunnel ({0})")]
    Proxy(String),
    #[error("its host must serve it over HTTPS, promptly, with a certificate a public root vouches for")]
    Tls(String),
    #[error("its host must serve it over HTTPS, promptly, with a certificate a public root vouches for")]
    Http,
    #[error("redirects are not followed")]
    Redirect(u16),
    #[error("its host must answer HTTP 200")]
    Status(u16),
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("its host must serve it over HTTPS, promptly, with a certificate a public root vouches for")]
    Timeout(Duration),
    #[error("too many documents are being fetched now; try again shortly")]
    Busy,
    #[error("too many documents are being fetched for this address or from this host now; try again shortly")]
    OverShare,
}

impl FetchError {
    /// Whether the failure is this deployment's (too many fetches at once,
    /// the egress proxy down or refusing), not the document host's.
    pub fn is_outage(&self) -> bool {
        matches!(self, Self::Busy | Self::OverShare | Self::Proxy(_))
    }
}

/// A document as served: its bytes and what its caching headers allow.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Bytes,
    /// How long it stays fresh: `Cache-Control` `s-maxage` or `max-age`, else
    /// `Expires` − `Date`, less the `Age` it already has; `None` if not said.
    pub max_age: Option<Duration>,
    /// `no-store` or `no-cache`: the document may not be reused unchecked.
    pub no_store: bool,
}

/// What a POST's host answered.
#[derive(Debug, Clone)]
pub struct Posted {
    pub status: u16,
    pub body: Bytes,
}

/// One request to send.
struct Outgoing {
    method: http::Method,
    content_type: Option<&'static str>,
    authorization: Option<http::HeaderValue>,
    body: Bytes,
}

/// One answer as received.
struct Answer {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

/// The HTTPS fetcher. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    policy: Arc<FetchPolicy>,
    tls: TlsConnector,
    permits: Arc<tokio::sync::Semaphore>,
    /// The fair shares in use, by requesting address and by host (idle
    /// entries leave after a while).
    requesters: moka::sync::Cache<String, Arc<tokio::sync::Semaphore>>,
    hosts: moka::sync::Cache<String, Arc<tokio::sync::Semaphore>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in &policy.extra_roots {
            // A root the operator configured but rustls refuses was reported at start-up.
            let _ = roots.add(root.clone());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                // The ring provider supports the default versions; this cannot fail.
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        let permits = Arc::new(tokio::sync::Semaphore::new(policy.max_concurrent.max(1)));
        let shares =
            || moka::sync::Cache::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(600)).build();
        Self {
            policy: Arc::new(policy),
            tls: TlsConnector::from(Arc::new(config)),
            permits,
            requesters: shares(),
            hosts: shares(),
        }
    }

    /// One slot of `key`'s share, at once or not at all.
    fn share(
        cache: &moka::sync::Cache<String, Arc<tokio::sync::Semaphore>>,
        key: &str,
        size: usize,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, FetchError> {
        let semaphore = cache.get_with(key.to_owned(), || Arc::new(tokio::sync::Semaphore::new(size.max(1))));
        semaphore.try_acquire_owned().map_err(|_| FetchError::OverShare)
    }

    /// GETs `url`, whose body may be at most `max_bytes`, for whoever asked
    /// at `requester` (an address; empty for this server's own lookups).
    /// The requester's and the host's fair shares are taken first, so that
    /// one stranger, or one slow host, holds at most its share of the slots.
    pub async fn get(&self, url: &str, max_bytes: usize, requester: &str) -> Result<Fetched, FetchError> {
        let request =
            Outgoing { method: http::Method::GET, content_type: None, authorization: None, body: Bytes::new() };
        let answer = self.send(url, request, max_bytes, requester).await?;
        if answer.status.is_redirection() {
            return Err(FetchError::Redirect(answer.status.as_u16()));
        }
        if answer.status != http::StatusCode::OK {
            return Err(FetchError::Status(answer.status.as_u16()));
        }
        let (max_age, no_store) = cache_control(&answer.headers);
        Ok(Fetched { body: answer.body, max_age, no_store })
    }

    /// POSTs `body` (of `content_type`, with an `Authorization` header when
    /// given) to `url` under the same rules as [`Fetcher::get`], and returns
    /// whatever status the host answered with its body (at most
    /// `max_bytes`): the caller decides what a status means. A redirect is
    /// not followed (its status is returned).
    pub async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        authorization: Option<&str>,
        body: impl Into<Bytes>,
        max_bytes: usize,
    ) -> Result<Posted, FetchError> {
        let authorization = match authorization {
            Some(value) => {
                let mut value = http::HeaderValue::from_str(value).map_err(|_| FetchError::Http)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let request =
            Outgoing { method: http::Method::POST, content_type: Some(content_type), authorization, body: body.into() };
        let answer = self.send(url, request, max_bytes, "").await?;
        Ok(Posted { status: answer.status.as_u16(), body: answer.body })
    }

    async fn send(
        &self,
        url: &str,
        request: Outgoing,
        max_bytes: usize,
        requester: &str,
    ) -> Result<Answer, FetchError> {
        let host =
            url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase)).unwrap_or_default();
        let _host = Self::share(&self.hosts, &host, self.policy.max_per_host)?;
        let _requester = if requester.is_empty() {
            None
        } else {
            Some(Self::share(&self.requesters, requester, self.policy.max_per_requester)?)
        };
        let _permit = tokio::time::timeout(self.policy.queue_wait, self.permits.acquire())
            .await
            .map_err(|_| FetchError::Busy)?
            .map_err(|_| FetchError::Busy)?;
        let timeout = self.policy.timeout;
        let result = tokio::time::timeout(timeout, self.exchange(url, request, max_bytes))
            .await
            .map_err(|_| FetchError::Timeout(timeout))
            .and_then(|answer| answer);
        if let Err(error) = &result {
            // The detail the client is not told, for the operator.
            tracing::info!(url, ?error, "outbound request failed");
        }
        result
    }

    async fn exchange(&self, url: &str, outgoing: Outgoing, max_bytes: usize) -> Result<Answer, FetchError> {
        let parsed = url::Url::parse(url).map_err(|_| FetchError::NotHttps)?;
        if parsed.scheme() != "https"
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.fragment().is_some()
        {
            return Err(FetchError::NotHttps);
        }
        let host = parsed.host().ok_or(FetchError::NotHttps)?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let (address, server_name) = match host {
            url::Host::Ipv4(ip) => {
                (self.vetted(&[SocketAddr::new(IpAddr::V4(ip), port)])?, ServerName::from(IpAddr::V4(ip)))
            }
            url::Host::Ipv6(ip) => {
                (self.vetted(&[SocketAddr::new(IpAddr::V6(ip), port)])?, ServerName::from(IpAddr::V6(ip)))
            }
            url::Host::Domain(name) => {
                let addresses: Vec<SocketAddr> =
                    tokio::net::lookup_host((name, port)).await.map_err(|_| FetchError::Unresolved)?.collect();
                let server_name = ServerName::try_from(name.to_owned()).map_err(|_| FetchError::NotHttps)?;
                (self.vetted(&addresses)?, server_name)
            }
        };
        let tcp = match &self.policy.proxy {
            None => TcpStream::connect(address).await.map_err(|_| FetchError::Connect)?,
            Some(proxy) => tunnel(proxy, address).await?,
        };
        let _ = tcp.set_nodelay(true);
        let tls = self.tls.connect(server_name, tcp).await.map_err(|e| FetchError::Tls(e.to_string()))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|_| FetchError::Http)?;
        // The connection is driven only while this exchange runs (dropped with it).
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let _abort = AbortOnDrop(driver);
        let path = match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let authority = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_owned(),
        };
        let mut request = http::Request::builder()
            .method(outgoing.method)
            .uri(path)
            .header(http::header::HOST, authority)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("Gatehouse/", env!("CARGO_PKG_VERSION")));
        if let Some(content_type) = outgoing.content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        if let Some(authorization) = outgoing.authorization {
            request = request.header(http::header::AUTHORIZATION, authorization);
        }
        let request = request.body(Full::new(outgoing.body)).map_err(|_| FetchError::Http)?;
        let response = sender.send_request(request).await.map_err(|_| FetchError::Http)?;
        let status = response.status();
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > max_bytes) {
            return Err(FetchError::TooLarge(max_bytes));
        }
        let headers = response.headers().clone();
        if status.is_redirection() {
            return Ok(Answer { status, headers, body: Bytes::new() });
        }
        let body = Limited::new(response.into_body(), max_bytes)
            .collect()
            .await
            .map_err(|error| {
                if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    FetchError::TooLarge(max_bytes)
                } else {
                    FetchError::Http
                }
            })?
            .to_bytes();
        Ok(Answer { status, headers, body })
    }

    /// The first address, once every address passed: one special-use
    /// address among public ones refuses the host (a mixed answer is how a
    /// rebinding attack would look).
    fn vetted(&self, addresses: &[SocketAddr]) -> Result<SocketAddr, FetchError> {
        let first = *addresses.first().ok_or(FetchError::Unresolved)?;
        for address in addresses {
            let ip = canonical(address.ip());
            let admitted = self.policy.allow_networks.iter().any(|net| net.contains(&ip));
            if !admitted && is_special_use(ip) {
                return Err(FetchError::SpecialUse(ip));
            }
        }
        Ok(first)
    }
}

/// A CONNECT tunnel through `proxy` to `address`, the address that was
/// checked: the proxy gets no name to resolve. The proxy's answer head is
/// read up to a small bound; only a 2xx opens the tunnel.
async fn tunnel(proxy: &FetchProxy, address: SocketAddr) -> Result<TcpStream, FetchError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(&proxy.address).await.map_err(|_| FetchError::Proxy("unreachable".into()))?;
    let mut request = format!("CONNECT {address} HTTP/1.1\r\nHost: {address}\r\n");
    if let Some(authorization) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|_| FetchError::Proxy("closed".into()))?;
    // Byte by byte up to the blank line: nothing of the tunnel is read ahead.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= 8 * 1024 {
            return Err(FetchError::Proxy("answer head too large".into()));
        }
        let byte = stream.read_u8().await.map_err(|_| FetchError::Proxy("closed".into()))?;
        head.push(byte);
    }
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let status = std::str::from_utf8(status_line).ok().and_then(|line| line.split(' ').nth(1)).unwrap_or_default();
    match status {
        _ if status.len() == 3 && status.starts_with('2') => Ok(stream),
        // The proxy could not reach the document's host: that host's
        // failure, as a direct connection's would be, not an outage here.
        "502" | "504" => Err(FetchError::Connect),
        "" => Err(FetchError::Proxy("HTTP ?".into())),
        _ => Err(FetchError::Proxy(format!("HTTP {status}"))),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Every block of the IANA IPv4 and IPv6 Special-Purpose Address
/// Registries (RFC 6890 and its updates, as of 2025), with multicast, the
/// deprecated site-local and IPv4-compatible ranges, and IPv4-translated
/// addresses: nothing here is fetched unless the operator's allow-list
/// names it. One list, read by [`is_special_use`] and by its test.
pub const SPECIAL_USE_BLOCKS: &[&str] = &[
    // IPv4 Special-Purpose Address Registry.
    "0.0.0.0/8",          // "this network" (RFC 791)
    "10.0.0.0/8",         // private (RFC 1918)
    "100.64.0.0/10",      // shared address space, CGNAT (RFC 6598)
    "127.0.0.0/8",        // loopback (RFC 1122)
    "169.254.0.0/16",     // link-local, cloud metadata (RFC 3927)
    "172.16.0.0/12",      // private (RFC 1918)
    "192.0.0.0/24",       // IETF protocol assignments (RFC 6890), DS-Lite, NAT64 discovery
    "192.0.2.0/24",       // documentation TEST-NET-1 (RFC 5737)
    "192.31.196.0/24",    // AS112-v4 (RFC 7535)
    "192.52.193.0/24",    // AMT (RFC 7450)
    "192.88.99.0/24",     // deprecated 6to4 relay anycast (RFC 7526)
    "192.168.0.0/16",     // private (RFC 1918)
    "192.175.48.0/24",    // direct delegation AS112 service (RFC 7534)
    "198.18.0.0/15",      // benchmarking (RFC 2544)
    "198.51.100.0/24",    // documentation TEST-NET-2 (RFC 5737)
    "203.0.113.0/24",     // documentation TEST-NET-3 (RFC 5737)
    "240.0.0.0/4",        // reserved (RFC 1112)
    "255.255.255.255/32", // limited broadcast (RFC 919)
    // IPv4 multicast.
    "224.0.0.0/4",
    // IPv6 Special-Purpose Address Registry.
    "::/128",            // unspecified (RFC 4291)
    "::1/128",           // loopback (RFC 4291)
    "::ffff:0:0/96",     // IPv4-mapped (RFC 4291): judged as the IPv4 address it maps
    "64:ff9b::/96",      // IPv4-IPv6 translation (RFC 6052)
    "64:ff9b:1::/48",    // local-use IPv4/IPv6 translation (RFC 8215)
    "100::/64",          // discard-only (RFC 6666)
    "100:0:0:1::/64",    // dummy IPv6 prefix (RFC 9780)
    "2001::/23",         // IETF protocol assignments: Teredo, benchmarking, ORCHID (RFC 2928)
    "2001:db8::/32",     // documentation (RFC 3849)
    "2002::/16",         // 6to4 (RFC 3056)
    "2620:4f:8000::/48", // direct delegation AS112 service (RFC 7534)
    "3fff::/20",         // documentation (RFC 9637)
    "5f00::/16",         // segment routing SIDs (RFC 9602)
    "fc00::/7",          // unique local (RFC 4193)
    "fe80::/10",         // link-local unicast (RFC 4291)
    // Beyond the registry: deprecated and translated forms that reach the same hosts.
    "::/96",           // IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)
    "::ffff:0:0:0/96", // IPv4-translated (RFC 2765)
    "fec0::/10",       // site-local, deprecated (RFC 3879)
    "ff00::/8",        // multicast (RFC 4291)
];

static SPECIAL_USE: std::sync::LazyLock<Vec<IpNet>> = std::sync::LazyLock::new(|| {
    // The list is this file's constant, checked by a unit test: every entry parses.
    SPECIAL_USE_BLOCKS.iter().filter_map(|block| block.parse().ok()).collect()
});

/// Whether `ip` is outside the public unicast Internet (see
/// [`SPECIAL_USE_BLOCKS`]); an IPv4-mapped address is judged as the IPv4
/// address it connects to.
pub fn is_special_use(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    SPECIAL_USE.iter().any(|block| block.contains(&ip))
}

/// `max-age` (`s-maxage` wins) and whether `no-store`/`no-cache` was sent.
fn cache_control(headers: &http::HeaderMap) -> (Option<Duration>, bool) {
    let mut max_age = None;
    let mut shared = None;
    let mut no_store = false;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            let seconds = || argument.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
            match name.to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => no_store = true,
                "max-age" => max_age = seconds(),
                "s-maxage" => shared = seconds(),
                _ => {}
            }
        }
    }
    // RFC 9111 §4.2.1: without max-age, `Expires` minus `Date` is the
    // freshness lifetime (an unreadable `Expires` means already stale);
    // §4.2.3: the `Age` a cache on the way reported is already used up.
    let date = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(httpdate::parse_http_date);
    let expires = match (date(http::header::EXPIRES), date(http::header::DATE)) {
        (Some(Ok(expires)), Some(Ok(date))) => Some(expires.duration_since(date).unwrap_or_default()),
        (Some(Err(_)), _) => Some(Duration::ZERO),
        _ => None,
    };
    let age = headers
        .get(http::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs);
    (shared.or(max_age).or(expires).map(|lifetime| lifetime.saturating_sub(age)), no_store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn proxy_urls_are_read_and_their_credentials_never_print() {
        let proxy = FetchProxy::parse("http://gate%40house:p+ss%3Aw@proxy.internal:3128").unwrap();
        assert_eq!(proxy.address, "proxy.internal:3128");
        let expected = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "gate@house:p+ss:w");
        assert_eq!(proxy.authorization.as_deref(), Some(format!("Basic {expected}").as_str()));
        assert!(!format!("{proxy:?}").contains(&expected), "{proxy:?}");
        assert_eq!(FetchProxy::parse("http://proxy.internal").unwrap().address, "proxy.internal:80");
        assert_eq!(FetchProxy::parse("http://proxy.internal").unwrap().authorization, None);
        for bad in ["https://proxy.internal:3128", "socks5://proxy:1080", "http://proxy:3128/path", "proxy:3128", ""] {
            assert!(FetchProxy::parse(bad).is_err(), "{bad}");
        }
    }

    /// Generated from the one list: every block's first, last and middle
    /// address is refused, in every spelling an attacker could use
    /// (IPv4-mapped for IPv4 blocks).
    #[test]
    fn every_block_of_the_list_is_refused_at_its_edges_and_inside() {
        assert_eq!(SPECIAL_USE.len(), SPECIAL_USE_BLOCKS.len(), "every entry parses");
        for block in SPECIAL_USE.iter() {
            let (first, last) = (block.network(), block.broadcast());
            let middle = match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) => IpAddr::V4(Ipv4Addr::from(u32::from(a) / 2 + u32::from(b) / 2)),
                (IpAddr::V6(a), IpAddr::V6(b)) => IpAddr::V6(Ipv6Addr::from(u128::from(a) / 2 + u128::from(b) / 2)),
                _ => unreachable!("a block is one family"),
            };
            for ip in [first, last, middle] {
                assert!(is_special_use(ip), "{ip} in {block}");
                if let IpAddr::V4(v4) = ip {
                    assert!(is_special_use(IpAddr::V6(v4.to_ipv6_mapped())), "::ffff:{v4}");
                }
            }
        }
    }

    #[test]
    fn special_use_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
            "2002:7f00:1::",
            "2001::1",
            "ff02::1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "fec0::1",
            "3fff::1",
            "5f00::1",
            "192.31.196.1",
        ] {
            assert!(is_special_use(ip.parse().expect("an address")), "{ip} is special-use");
        }
        for ip in ["93.184.215.14", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_special_use(ip.parse().expect("an address")), "{ip} is public");
        }
    }

    #[test]
    fn cache_control_reads_max_age_and_no_store() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=600"));
        assert_eq!(cache_control(&headers), (Some(Duration::from_secs(600)), false));
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("max-age=60, s-maxage=120"));
        assert_eq!(cache_control(&headers), (Some(Duration::from_secs(120)), false));
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
        assert_eq!(cache_control(&headers), (None, true));
        // Expires − Date without max-age; Age is deducted; a bad Expires is stale.
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::DATE, http::HeaderValue::from_static("Tue, 01 Dec 2026 10:00:00 GMT"));
        headers.insert(http::header::EXPIRES, http::HeaderValue::from_static("Tue, 01 Dec 2026 11:00:00 GMT"));
        assert_eq!(cache_control(&headers), (Some(Duration::from_secs(3600)), false));
        headers.insert(http::header::AGE, http::HeaderValue::from_static("600"));
        assert_eq!(cache_control(&headers), (Some(Duration::from_secs(3000)), false));
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("max-age=300"));
        assert_eq!(cache_control(&headers), (Some(Duration::ZERO), false), "max-age wins, minus the age");
        headers.remove(http::header::CACHE_CONTROL);
        headers.insert(http::header::EXPIRES, http::HeaderValue::from_static("0"));
        assert_eq!(cache_control(&headers), (Some(Duration::ZERO), false));
    }
}
