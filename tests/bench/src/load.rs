//! The load generator: `connections` workers, each with its own connection,
//! each sending its next request when the previous one answered (closed
//! loop, as wrk does), for a fixed time after a short warm-up.

use std::future::Future;
use std::time::{Duration, Instant};

use gatehouse_proto::pb::token::v1::{IntrospectRequest, IntrospectResponse};
use prost::Message as _;

use crate::setup::{CALLBACK, Fixture, Gatehouse, authorize_url};

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    latencies_us: Vec<u64>,
    pub(crate) errors: u64,
    elapsed: Duration,
    /// Requests sent in the warm-up and the measured run together: what
    /// the server's counters saw (see `Gatehouse::round_trips`).
    pub(crate) sent: u64,
}

impl Stats {
    pub(crate) fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Milliseconds at quantile `q`.
    pub(crate) fn percentile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1).min(sorted.len().saturating_sub(1));
        sorted.get(index).map_or(0.0, |us| *us as f64 / 1000.0)
    }
}

fn warm_up() -> Duration {
    Duration::from_secs(std::env::var("WARM").ok().and_then(|v| v.parse().ok()).unwrap_or(2))
}

/// Runs `step` in every worker until `duration` passes. A step returns its
/// state back with whether the request succeeded, or `None` when the worker
/// has no more work (a list of codes ran out).
async fn drive<S, F, Fut>(states: Vec<S>, duration: Duration, step: F) -> (Stats, Vec<S>)
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<(S, bool)>> + Send,
{
    let mut tasks = Vec::new();
    for state in states {
        let step = step.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut state = Some(state);
            let mut latencies = Vec::new();
            let mut errors = 0;
            while start.elapsed() < duration {
                let Some(current) = state.take() else { break };
                let sent = Instant::now();
                match step(current).await {
                    Some((next, ok)) => {
                        if ok {
                            latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                        } else {
                            errors += 1;
                        }
                        state = Some(next);
                    }
                    None => break,
                }
            }
            (latencies, errors, start.elapsed(), state)
        }));
    }
    let mut stats = Stats::default();
    let mut states = Vec::new();
    for task in tasks {
        if let Ok((latencies, errors, elapsed, state)) = task.await {
            stats.sent += latencies.len() as u64 + errors;
            stats.latencies_us.extend(latencies);
            stats.errors += errors;
            stats.elapsed = stats.elapsed.max(elapsed);
            states.extend(state);
        }
    }
    (stats, states)
}

/// Warm-up (discarded), then the measured run.
pub(crate) async fn measure<S, F, Fut>(states: Vec<S>, duration: Duration, step: F) -> Stats
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<(S, bool)>> + Send,
{
    let (warm, states) = drive(states, warm_up(), step.clone()).await;
    let mut stats = drive(states, duration, step).await.0;
    stats.sent += warm.sent;
    stats
}

pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    // One connection per worker: the worker is sequential, so the pool holds one.
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()?)
}

/// One HTTP/2 connection that sends gRPC unary calls with a pre-encoded
/// body. The load generator shares the machine with the server, so it must
/// cost far less per call than the server does: tonic's client costs about
/// as much as its server (the generator ran at ~85 % of its core at 11k
/// calls/s), so this one writes the frames itself. Each answer is still
/// checked: HTTP 200, `grpc-status: 0`, and the decoded message.
struct GrpcConnection {
    send: h2::client::SendRequest<bytes::Bytes>,
    uri: http::Uri,
    body: bytes::Bytes,
    check: fn(&[u8]) -> bool,
    /// `authorization` of every call (the caller's credential); none for health.
    credential: Option<http::HeaderValue>,
}

impl GrpcConnection {
    async fn open(
        base: &str,
        path: &str,
        message: &impl prost::Message,
        check: fn(&[u8]) -> bool,
        credential: Option<&str>,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = format!("{base}{path}").parse()?;
        let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
        let tcp = tokio::net::TcpStream::connect(authority).await?;
        tcp.set_nodelay(true)?;
        let (send, connection) = h2::client::handshake(tcp).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        // The gRPC length-prefixed message: no compression, 4-byte length.
        let encoded = message.encode_to_vec();
        let mut body = vec![0u8];
        body.extend_from_slice(&u32::try_from(encoded.len())?.to_be_bytes());
        body.extend_from_slice(&encoded);
        let credential = credential.map(|c| http::HeaderValue::from_str(&format!("Bearer {c}"))).transpose()?;
        Ok(Self { send, uri, body: body.into(), check, credential })
    }

    async fn call(&mut self) -> anyhow::Result<bool> {
        let mut request = http::Request::post(self.uri.clone())
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())?;
        if let Some(credential) = &self.credential {
            request.headers_mut().insert(http::header::AUTHORIZATION, credential.clone());
        }
        let mut send = self.send.clone().ready().await?;
        let (response, mut stream) = send.send_request(request, false)?;
        stream.send_data(self.body.clone(), true)?;
        let (parts, mut body) = response.await?.into_parts();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            body.flow_control().release_capacity(chunk.len())?;
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await?;
        // A trailers-only answer carries grpc-status in the headers.
        let status = trailers.as_ref().and_then(|t| t.get("grpc-status")).or_else(|| parts.headers.get("grpc-status"));
        let ok = parts.status == 200
            && status.is_some_and(|s| s == "0")
            && data.len() >= 5
            && data[0] == 0
            && (self.check)(&data[5..]);
        Ok(ok)
    }
}

async fn grpc_unary(
    base: &str,
    path: &str,
    message: impl prost::Message,
    check: fn(&[u8]) -> bool,
    credential: Option<&str>,
    (connections, duration): (usize, Duration),
) -> anyhow::Result<Stats> {
    let mut states = Vec::new();
    for _ in 0..connections {
        states.push(GrpcConnection::open(base, path, &message, check, credential).await?);
    }
    Ok(measure(states, duration, |mut connection: GrpcConnection| async move {
        let ok = connection.call().await.unwrap_or(false);
        Some((connection, ok))
    })
    .await)
}

/// `TokenService.Introspect` of one valid token; the answer must say active.
pub(crate) async fn grpc_introspect(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let request = IntrospectRequest { token: f.access_token.clone(), ..Default::default() };
    let active = |bytes: &[u8]| IntrospectResponse::decode(bytes).is_ok_and(|r| r.active);
    // As an internal service does: identified as a validator.
    let path = "/gatehouse.token.v1.TokenService/Introspect";
    grpc_unary(&g.token, path, request, active, Some(&g.validator), (connections, duration)).await
}

/// `grpc.health.v1.Health/Check` on the token service's port: the same
/// server stack (HTTP/2, tonic, Gatehouse's layers) with no token work, the
/// floor under `grpc_introspect` on this machine.
pub(crate) async fn grpc_health_floor(
    g: &Gatehouse,
    _f: &Fixture,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    // HealthCheckRequest { service: "" } is the empty message; SERVING is field 1 = 1.
    let serving = |bytes: &[u8]| bytes == [0x08, 0x01];
    grpc_unary(&g.token, "/grpc.health.v1.Health/Check", (), serving, None, (connections, duration)).await
}

type Http = (reqwest::Client, String, String, String);

fn http_states(g: &Gatehouse, f: &Fixture, connections: usize) -> anyhow::Result<Vec<Http>> {
    (0..connections).map(|_| Ok((http_client()?, g.gateway.clone(), f.client_id.clone(), f.secret.clone()))).collect()
}

/// `GET /healthz` on the gateway: its HTTP stack (hyper, axum, Gatehouse's
/// middleware) answering without calling any service, the floor under the
/// HTTP scenarios.
pub(crate) async fn http_health_floor(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    Ok(measure(http_states(g, f, connections)?, duration, |(http, base, id, secret): Http| async move {
        let ok = http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200);
        Some(((http, base, id, secret), ok))
    })
    .await)
}

/// `GET /oauth/jwks`: what every relying party and resource server fetches.
pub(crate) async fn jwks(g: &Gatehouse, f: &Fixture, connections: usize, duration: Duration) -> anyhow::Result<Stats> {
    Ok(measure(http_states(g, f, connections)?, duration, |(http, base, id, secret): Http| async move {
        let ok = http.get(format!("{base}/oauth/jwks")).send().await.is_ok_and(|r| r.status() == 200);
        Some(((http, base, id, secret), ok))
    })
    .await)
}

pub(crate) async fn http_introspect(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let token = f.access_token.clone();
    Ok(measure(http_states(g, f, connections)?, duration, move |(http, base, id, secret): Http| {
        let token = token.clone();
        async move {
            let response = http
                .post(format!("{base}/oauth/introspect"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", token.as_str())])
                .send()
                .await;
            let ok = match response {
                Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|v| v["active"] == true),
                Err(_) => false,
            };
            Some(((http, base, id, secret), ok))
        }
    })
    .await)
}

pub(crate) async fn client_credentials(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    Ok(measure(http_states(g, f, connections)?, duration, |(http, base, id, secret): Http| async move {
        let response = http
            .post(format!("{base}/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        let ok = response.is_ok_and(|r| r.status() == 200);
        Some(((http, base, id, secret), ok))
    })
    .await)
}

/// Txn-Tokens minted over HTTP (token exchange for the application's own
/// `client_credentials` token, one subject per connection).
pub(crate) async fn txn_mint(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let mut states = Vec::new();
    for state in http_states(g, f, connections)? {
        let subject = crate::revocation::cc_token(g, f, &state.0).await?;
        states.push((state, subject));
    }
    Ok(measure(states, duration, |((http, base, id, secret), subject): (Http, String)| async move {
        let form = crate::revocation::TXN_FORM.map(|(k, v)| (k, if v.is_empty() { subject.as_str() } else { v }));
        let response = http.post(format!("{base}/oauth/token")).basic_auth(&id, Some(&secret)).form(&form).send().await;
        let ok = match response {
            Ok(r) if r.status() == 200 => r.json::<serde_json::Value>().await.is_ok_and(|v| v["token_type"] == "N_A"),
            _ => false,
        };
        Some((((http, base, id, secret), subject), ok))
    })
    .await)
}

/// A client's DPoP key (RFC 9449): signs one proof per request.
struct DpopSigner {
    key: jsonwebtoken::EncodingKey,
    header: jsonwebtoken::Header,
}

impl DpopSigner {
    fn new() -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate()?;
        let key = jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".to_owned());
        header.jwk = Some(jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256)?);
        Ok(Self { key, header })
    }

    fn proof(&self, url: &str) -> Option<String> {
        use gatehouse_oauth::Clock;
        let claims = serde_json::json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": url,
            "iat": gatehouse_oauth::SystemClock.now().timestamp(),
        });
        jsonwebtoken::encode(&self.header, &claims, &self.key).ok()
    }
}

/// `client_credentials` with a DPoP proof: the same request as
/// [`client_credentials`] plus one proof verified, its `jti` spent in the
/// shared cache and the token bound (`cnf.jkt`). Its cost over that row is
/// what DPoP adds to the hot path (the client's signing is in "own" CPU).
pub(crate) async fn client_credentials_dpop(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let states = http_states(g, f, connections)?
        .into_iter()
        .map(|state| Ok((state, std::sync::Arc::new(DpopSigner::new()?))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(measure(states, duration, |((http, base, id, secret), signer): (Http, std::sync::Arc<DpopSigner>)| async move {
        let url = format!("{base}/oauth/token");
        let ok = match signer.proof(&url) {
            Some(proof) => {
                let response = http
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .header("DPoP", proof)
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => {
                        r.json::<serde_json::Value>().await.is_ok_and(|v| v["token_type"] == "DPoP")
                    }
                    _ => false,
                }
            }
            None => false,
        };
        Some((((http, base, id, secret), signer), ok))
    })
    .await)
}

/// Codes harvested by the authorize run, per worker, for the exchange run.
static CODES: std::sync::OnceLock<tokio::sync::Mutex<Vec<Vec<String>>>> = std::sync::OnceLock::new();

fn codes() -> &'static tokio::sync::Mutex<Vec<Vec<String>>> {
    CODES.get_or_init(|| tokio::sync::Mutex::new(Vec::new()))
}

type Authorize = (reqwest::Client, String, String, Vec<String>);

async fn authorize_step((http, url, cookie, mut harvested): Authorize) -> Option<(Authorize, bool)> {
    let response = http.get(&url).header("cookie", &cookie).send().await;
    let code = response.ok().filter(|r| r.status() == 303).and_then(|r| {
        let location = r.headers().get("location")?.to_str().ok()?.to_owned();
        url::Url::parse(&location).ok()?.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned())
    });
    let ok = code.is_some();
    harvested.extend(code);
    Some(((http, url, cookie, harvested), ok))
}

pub(crate) async fn authorize_redirect(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
    scope: &str,
) -> anyhow::Result<Stats> {
    let url = authorize_url(&g.gateway, &f.client_id, scope);
    let states: Vec<Authorize> = (0..connections)
        .map(|_| Ok((http_client()?, url.clone(), f.session_cookie.clone(), Vec::new())))
        .collect::<anyhow::Result<_>>()?;
    let (warm, states) = drive(states, warm_up(), authorize_step).await;
    let (mut stats, states) = drive(states, duration, authorize_step).await;
    stats.sent += warm.sent;
    // Harvest more (unmeasured) so that the exchange run cannot run dry.
    let (harvest, states) = drive(states, duration + warm_up(), authorize_step).await;
    stats.sent += harvest.sent;
    *codes().lock().await = states.into_iter().map(|(_, _, _, codes)| codes).collect();
    Ok(stats)
}

type Exchange = (reqwest::Client, String, String, String, Vec<String>);

pub(crate) async fn code_exchange(
    g: &Gatehouse,
    f: &Fixture,
    _connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let harvested = std::mem::take(&mut *codes().lock().await);
    let total: usize = harvested.iter().map(Vec::len).sum();
    let states: Vec<Exchange> = harvested
        .into_iter()
        .map(|codes| Ok((http_client()?, g.gateway.clone(), f.client_id.clone(), f.secret.clone(), codes)))
        .collect::<anyhow::Result<_>>()?;
    let step = |(http, base, id, secret, mut codes): Exchange| async move {
        let code = codes.pop()?;
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CALLBACK)];
        let response = http.post(format!("{base}/oauth/token")).basic_auth(&id, Some(&secret)).form(&form).send().await;
        let ok = response.is_ok_and(|r| r.status() == 200);
        Some(((http, base, id, secret, codes), ok))
    };
    let stats = measure(states, duration, step).await;
    if stats.latencies_us.len() + stats.errors as usize >= total {
        eprintln!("warning: the code list ran dry; code_exchange req/s is under-reported");
    }
    Ok(stats)
}

type Refresh = (reqwest::Client, String, String, String, String);

pub(crate) async fn refresh(
    g: &Gatehouse,
    f: &Fixture,
    connections: usize,
    duration: Duration,
    scope: &str,
) -> anyhow::Result<Stats> {
    // Each worker gets its own grant: refresh tokens rotate, so workers cannot share one.
    let mut states = Vec::new();
    for _ in 0..connections {
        let http = http_client()?;
        let location =
            http.get(authorize_url(&g.gateway, &f.client_id, scope)).header("cookie", &f.session_cookie).send().await?;
        let location = location.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let code = url::Url::parse(&location)?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CALLBACK)];
        let tokens: serde_json::Value = http
            .post(format!("{}/oauth/token", g.gateway))
            .basic_auth(&f.client_id, Some(&f.secret))
            .form(&form)
            .send()
            .await?
            .json()
            .await?;
        let refresh = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
        states.push((http, g.gateway.clone(), f.client_id.clone(), f.secret.clone(), refresh));
    }
    Ok(measure(states, duration, |(http, base, id, secret, refresh): Refresh| async move {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        let response = http.post(format!("{base}/oauth/token")).basic_auth(&id, Some(&secret)).form(&form).send().await;
        let next = match response {
            Ok(r) if r.status() == 200 => {
                r.json::<serde_json::Value>().await.ok().and_then(|v| v["refresh_token"].as_str().map(str::to_owned))
            }
            _ => None,
        };
        let ok = next.is_some();
        Some(((http, base, id, secret, next.unwrap_or(refresh)), ok))
    })
    .await)
}
