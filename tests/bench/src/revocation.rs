//! The validation cache of `gatehouse-client` (`TokenCache`, fed by
//! `WatchRevocations`): validations per second through the layer for cached
//! tokens, revocation propagation to 4 layers under load, and memory per
//! cached token. The layer runs in this process (a resource server is a
//! library in its host), so its figures are of this process's core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use gatehouse_client::{Caller, RequireScopes, TokenCache, TokenCacheOptions};
use gatehouse_proto::pb::token::v1::RevokeTokenByValueRequest;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt};

use crate::setup::{Fixture, Gatehouse};

type Layered = gatehouse_client::RequireScopesService<
    tower::util::BoxCloneService<Request<Body>, Response<Body>, std::convert::Infallible>,
>;

fn service(channel: &gatehouse_client::Upstream, cache: &TokenCache) -> Layered {
    let inner =
        tower::service_fn(|_: Request<Body>| async { Ok::<_, std::convert::Infallible>(Response::new(Body::empty())) });
    let layer = RequireScopes::new(channel.clone(), ["user"]).cached(cache.clone()).allow_without_user();
    tower::Layer::layer(&layer, tower::util::BoxCloneService::new(inner))
}

async fn call(service: &mut Layered, token: &str) -> StatusCode {
    let request =
        Request::builder().header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap_or_default();
    match service.ready().await {
        Ok(ready) => ready.call(request).await.map_or(StatusCode::INTERNAL_SERVER_ERROR, |r| r.status()),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn trusted(caches: &[TokenCache]) -> anyhow::Result<()> {
    for cache in caches {
        anyhow::ensure!(cache.ready(Duration::from_secs(10)).await, "the revocation stream did not come up");
    }
    Ok(())
}

pub(crate) async fn cc_token(
    gatehouse: &Gatehouse,
    fixture: &Fixture,
    http: &reqwest::Client,
) -> anyhow::Result<String> {
    let body: serde_json::Value = http
        .post(format!("{}/oauth/token", gatehouse.gateway))
        .basic_auth(&fixture.client_id, Some(&fixture.secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "user")])
        .send()
        .await?
        .json()
        .await?;
    body["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no token: {body}"))
}

/// A Txn-Token (draft-ietf-oauth-transaction-tokens) of the fixture's
/// application for its own `client_credentials` token.
pub(crate) async fn txn_token(
    gatehouse: &Gatehouse,
    fixture: &Fixture,
    http: &reqwest::Client,
) -> anyhow::Result<String> {
    let subject = cc_token(gatehouse, fixture, http).await?;
    let body: serde_json::Value = http
        .post(format!("{}/oauth/token", gatehouse.gateway))
        .basic_auth(&fixture.client_id, Some(&fixture.secret))
        .form(&TXN_FORM.map(|(k, v)| (k, if v.is_empty() { subject.as_str() } else { v })))
        .send()
        .await?
        .json()
        .await?;
    body["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no Txn-Token: {body}"))
}

/// A Txn-Token request's form; the empty value is the subject token.
pub(crate) const TXN_FORM: [(&str, &str); 6] = [
    ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
    ("requested_token_type", "urn:ietf:params:oauth:token-type:txn_token"),
    ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
    ("subject_token", ""),
    ("audience", "127.0.0.1"),
    ("scope", "user"),
];

/// Txn-Token verifications per second per core in this process
/// (`gatehouse_client::TxnTokens`: the JWKS cached, a signature check each).
pub(crate) async fn txn_verifications(
    gatehouse: &Gatehouse,
    fixture: &Fixture,
    duration: Duration,
) -> anyhow::Result<(f64, f64)> {
    let channel = gatehouse_client::connect_with_credential(&gatehouse.token, &gatehouse.validator)?;
    let verifier = gatehouse_client::TxnTokens::new(channel, "127.0.0.1");
    let token = txn_token(gatehouse, fixture, &reqwest::Client::new()).await?;
    anyhow::ensure!(verifier.verify(&token).await.is_ok(), "the Txn-Token does not verify");
    let workers = (0..8).map(|_| (verifier.clone(), token.clone())).collect();
    let (done, errors, cpu) = in_process(workers, 64, duration, |(verifier, token)| async move {
        let ok = verifier.verify(&token).await.is_ok();
        ((verifier, token), ok)
    })
    .await;
    anyhow::ensure!(errors == 0, "Txn-Token verifications failed");
    Ok((done, cpu))
}

/// Runs `one` on each worker's state in a loop (`batch` calls between
/// yields; the state goes in and comes back with the call's success) for
/// `duration` in this process: (successes per second per fully used core,
/// failures, the share of a core used).
async fn in_process<T, F, Fut>(workers: Vec<T>, batch: usize, duration: Duration, one: F) -> (f64, u64, f64)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = (T, bool)> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = crate::setup::process_cpu_seconds("self");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for state in workers {
        let (done, errors, stop) = (done.clone(), errors.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut state = Some(state);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..batch {
                    let Some(current) = state.take() else { return };
                    let (next, ok) = one(current).await;
                    state = Some(next);
                    (if ok { &done } else { &errors }).fetch_add(1, Ordering::Relaxed);
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = (crate::setup::process_cpu_seconds("self") - cpu0) / wall;
    (done.load(Ordering::Relaxed) as f64 / wall / cpu.max(0.01), errors.load(Ordering::Relaxed), cpu)
}

/// Validations per second through the cached layer, `workers` tasks on this
/// process's core, one token each (all cache hits after the first call).
pub(crate) async fn cached_validations(
    gatehouse: &Gatehouse,
    fixture: &Fixture,
    duration: Duration,
) -> anyhow::Result<(f64, f64)> {
    let channel = gatehouse_client::connect_with_credential(&gatehouse.token, &gatehouse.validator)?;
    let cache = TokenCache::start(channel.clone(), TokenCacheOptions::default());
    trusted(std::slice::from_ref(&cache)).await?;
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(cc_token(gatehouse, fixture, &http).await?);
    }
    let workers = tokens.into_iter().map(|token| (service(&channel, &cache), token)).collect();
    let (done, errors, cpu) = in_process(workers, 256, duration, |(mut service, token)| async move {
        let ok = call(&mut service, &token).await == StatusCode::OK;
        ((service, token), ok)
    })
    .await;
    anyhow::ensure!(errors == 0, "cached validations failed");
    let stats = cache.stats();
    anyhow::ensure!(stats.hits > stats.misses * 1000, "not answered from memory: {stats:?}");
    // Per core: what one fully used core does.
    Ok((done, cpu))
}

/// From a revocation's return to its refusal by all of 4 layers (each with
/// its own cache and stream), `rounds` times, under a background load of
/// cached validations: (p50, p99) in milliseconds.
pub(crate) async fn propagation(gatehouse: &Gatehouse, fixture: &Fixture, rounds: usize) -> anyhow::Result<(f64, f64)> {
    let channel = gatehouse_client::connect_with_credential(&gatehouse.token, &gatehouse.validator)?;
    let caches: Vec<TokenCache> =
        (0..4).map(|_| TokenCache::start(channel.clone(), TokenCacheOptions::default())).collect();
    trusted(&caches).await?;
    let http = reqwest::Client::new();
    let steady = cc_token(gatehouse, fixture, &http).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for cache in &caches {
        let (mut service, steady, stop) = (service(&channel, cache), steady.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = call(&mut service, &steady).await;
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }));
    }
    let mut services: Vec<Layered> = caches.iter().map(|c| service(&channel, c)).collect();
    // Revocation by value is an operator's call.
    let operator = gatehouse_client::connect_with_credential(&gatehouse.token, &gatehouse.operator)?;
    let mut tokens = TokenServiceClient::new(operator);
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let token = cc_token(gatehouse, fixture, &http).await?;
        for service in &mut services {
            anyhow::ensure!(call(service, &token).await == StatusCode::OK, "a fresh token refused");
        }
        tokens.revoke_token_by_value(RevokeTokenByValueRequest { token: token.clone() }).await?;
        let revoked = Instant::now();
        let mut waiting: Vec<usize> = (0..services.len()).collect();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for i in waiting {
                if call(&mut services[i], &token).await != StatusCode::UNAUTHORIZED {
                    still.push(i);
                }
            }
            waiting = still;
            anyhow::ensure!(revoked.elapsed() < Duration::from_secs(5), "a revoked token still accepted after 5 s");
            tokio::time::sleep(Duration::from_micros(250)).await;
        }
        times.push(revoked.elapsed().as_secs_f64() * 1000.0);
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        let _ = task.await;
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1)];
    Ok((at(0.5), at(0.99)))
}

fn own_rss_bytes() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        * 1024.0
}

/// Resident bytes per cached validation, with `count` distinct tokens.
pub(crate) async fn memory(gatehouse: &Gatehouse, count: u64) -> anyhow::Result<(f64, u64)> {
    let channel = gatehouse_client::connect_with_credential(&gatehouse.token, &gatehouse.validator)?;
    let options = TokenCacheOptions { max_entries: count, ..TokenCacheOptions::default() };
    let cache = TokenCache::start(channel, options);
    let before = own_rss_bytes();
    let expires_at = gatehouse_oauth::Clock::now(&gatehouse_oauth::SystemClock).timestamp() + 3600;
    for n in 0..count {
        // Shaped like a user's token: a UUID user id, a username, a 20-character client id, two scopes.
        let caller = Caller {
            user_id: format!("0193c2b8-0000-7000-8000-{n:012}"),
            username: format!("user{n}"),
            client_id: "Iv1aBcDeFgHiJkLmNoPq".to_owned(),
            scopes: vec!["user".to_owned(), "project".to_owned()],
            expires_at,
            audience: Vec::new(),
            jkt: String::new(),
            actors: Vec::new(),
            auth_time: expires_at - 3600,
            acr: "urn:gatehouse:acr:pwd".to_owned(),
            amr: vec!["pwd".to_owned()],
        };
        cache.prime(&format!("gat_{n:043}"), caller);
    }
    // moka applies writes in batches; let it settle before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = cache.stats().entries;
    let after = own_rss_bytes();
    Ok(((after - before) / held.max(1) as f64, held))
}
