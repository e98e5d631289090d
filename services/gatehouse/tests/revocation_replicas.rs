//! The revocation stream across token replicas, as processes on PostgreSQL
//! and Redis: an event written through one replica reaches the caches that
//! follow the other; a replica killed under a cache's stream makes it resume
//! from its cursor on the survivor with nothing missed; a cache with no
//! replica left refuses (503) rather than answering from memory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use gatehouse_client::{RequireScopes, TokenCache, TokenCacheOptions};
use gatehouse_proto::pb::common::v1::Parameter;
use gatehouse_proto::pb::token::v1 as token_pb;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_tests::{Backend, TestDatabase};

mod support;

use support::{BIN, Deployment, Part, free_port, wait_serving};

const BOUND: Duration = Duration::from_secs(2);

async fn layer(deployment: &Deployment, token_urls: &str) -> (String, TokenCache) {
    let channel = deployment.validator(token_urls);
    let cache = TokenCache::start(channel.clone(), TokenCacheOptions::default());
    let app = Router::new().route(
        "/whoami",
        get(|| async { "ok" }).layer(RequireScopes::new(channel, ["user"]).cached(cache.clone()).allow_without_user()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, cache)
}

async fn status(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/whoami")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// Polls until `base` answers something other than 200 for `token`; that answer.
async fn refused_within_bound(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    let since = Instant::now();
    loop {
        let answer = status(http, base, token).await;
        if answer != 200 {
            return answer;
        }
        assert!(since.elapsed() <= BOUND, "{base} still accepts a revoked token after the bound");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_replicas_and_a_killed_replicas_followers_resume_on_the_other() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let [registry_port, t1, t2] = [free_port(), free_port(), free_port()];
    let mut env = support::shared_settings(database.url(), support::redis_url());
    env.extend([
        ("GATEHOUSE_REGISTRY_URL", format!("http://127.0.0.1:{registry_port}")),
        ("GATEHOUSE_TOKEN_URL", format!("http://127.0.0.1:{t1},http://127.0.0.1:{t2}")),
    ]);
    let deployment = Deployment::new(env);
    let migrate = std::process::Command::new(BIN)
        .arg("migrate")
        .envs(deployment.env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let listen = |variable: &'static str, port: u16| vec![(variable, format!("127.0.0.1:{port}"))];
    let _registry = Part::start(&deployment, "registry", &listen("GATEHOUSE_REGISTRY_LISTEN", registry_port));
    let first = Part::start(&deployment, "token", &listen("GATEHOUSE_TOKEN_LISTEN", t1));
    let second = Part::start(&deployment, "token", &listen("GATEHOUSE_TOKEN_LISTEN", t2));
    for port in [registry_port, t1, t2] {
        wait_serving(port).await;
    }
    let (client_id, secret) = support::alice_and_her_app(&deployment, registry_port).await;
    // Token requests and revocation by value, as the gateway sends them.
    let through_first = TokenServiceClient::new(deployment.grpc(t1, "gateway").await);
    let mut issuing = through_first.clone();
    let mut issue = async || {
        let client = token_pb::ClientCredentials {
            client_id: client_id.clone(),
            client_secret: secret.clone(),
            method: token_pb::ClientAuthMethod::ClientSecretBasic as i32,
            client_address: String::new(),
        };
        let parameters = [("grant_type", "client_credentials"), ("scope", "user")]
            .map(|(name, value)| Parameter { name: name.to_owned(), value: value.to_owned() })
            .to_vec();
        let request = token_pb::ExchangeRequest { client: Some(client), parameters, dpop: None };
        issuing.exchange(request).await.unwrap().into_inner().access_token
    };

    // A follows the second replica only; B balances over both.
    let (a, cache_a) = layer(&deployment, &format!("http://127.0.0.1:{t2}")).await;
    let (b, cache_b) = layer(&deployment, &format!("http://127.0.0.1:{t1},http://127.0.0.1:{t2}")).await;
    for cache in [&cache_a, &cache_b] {
        assert!(cache.ready(Duration::from_secs(10)).await, "streams did not come up");
    }
    let http = reqwest::Client::new();
    let revoke = |token: String| {
        let mut client = through_first.clone();
        async move {
            client.revoke_token_by_value(token_pb::RevokeTokenByValueRequest { token }).await.unwrap();
        }
    };

    // 1. Revoked through the first replica: refused by A, which follows the second.
    let x = issue().await;
    for base in [&a, &b] {
        assert_eq!(status(&http, base, &x).await, 200);
        assert_eq!(status(&http, base, &x).await, 200, "from memory");
    }
    revoke(x.clone()).await;
    assert_eq!(refused_within_bound(&http, &a, &x).await, 401);
    assert_eq!(refused_within_bound(&http, &b, &x).await, 401);
    assert!(cache_a.stats().hits >= 1 && cache_a.stats().revocations >= 1, "{:?}", cache_a.stats());

    // 2. The second replica crashes; then a token is revoked through the first.
    let y = issue().await;
    for base in [&a, &b] {
        assert_eq!(status(&http, base, &y).await, 200);
        assert_eq!(status(&http, base, &y).await, 200);
    }
    second.kill();
    revoke(y.clone()).await;
    // B's stream resumes on the first replica from its cursor: refused, nothing missed.
    assert_eq!(refused_within_bound(&http, &b, &y).await, 401);
    assert!(cache_b.ready(Duration::from_secs(10)).await, "B's stream did not resume on the surviving replica");
    assert_eq!(cache_b.stats().resets, 0, "resumed from the cursor, not reset");
    // A has no replica left: it stops trusting its memory and says so (503), never 200.
    assert_eq!(refused_within_bound(&http, &a, &y).await, 503);
    assert!(!cache_a.trusted());
    drop(first);
}
