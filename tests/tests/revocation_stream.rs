//! The revocation stream (`WatchRevocations`) and the validation cache it
//! feeds (`gatehouse_client::TokenCache`): every kind of revocation reaches
//! every cached layer within the bound, under load; a resumed stream misses
//! nothing; a cursor older than the log says reset; a cut stream makes the
//! layers fall back to introspection and resume from their cursor.
//! Outcomes are checked by asking each layer, never by reading logs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use gatehouse_client::{RequireScopes, TokenCache, TokenCacheOptions};
use gatehouse_oauth::{GrantType, SecretHash};
use gatehouse_proto::pb::registry::v1 as registry_pb;
use gatehouse_proto::pb::token::v1 as token_pb;
use gatehouse_tests::{AppSpec, Backend, ClientApp, TestEnv, on_every_database, register_application};
use sea_orm::ConnectionTrait;
use tokio_stream::StreamExt;

/// The promise's bound (TokenCacheOptions' default).
const BOUND: Duration = Duration::from_secs(2);

/// A service behind the cached layer; its base URL.
async fn layer(env: &TestEnv, cache: TokenCache) -> String {
    let channel = env.validator_channel();
    let app = Router::new().route(
        "/whoami",
        get(|| async { "ok" }).layer(RequireScopes::new(channel, ["user"]).cached(cache).allow_without_user()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn status(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/whoami")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn until_trusted(caches: &[TokenCache]) {
    for cache in caches {
        assert!(
            cache.ready(Duration::from_secs(10)).await,
            "the revocation stream did not come up: {:?}",
            cache.stats()
        );
    }
}

/// Every layer answers 200 twice (the second from memory), then `revoke`
/// runs, then every layer must refuse within the bound: returns the time
/// from the revocation's return to the last layer's first refusal.
async fn refused_everywhere(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    revoke: impl std::future::Future<Output = ()>,
) -> Duration {
    for base in bases {
        assert_eq!(status(http, base, token).await, 200, "valid before");
        assert_eq!(status(http, base, token).await, 200, "valid before, from memory");
    }
    revoke.await;
    let revoked_at = Instant::now();
    let mut waiting: Vec<&String> = bases.iter().collect();
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for base in waiting {
            if status(http, base, token).await != 401 {
                still.push(base);
            }
        }
        waiting = still;
        assert!(revoked_at.elapsed() <= BOUND, "a revoked token still accepted after the bound by {waiting:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    revoked_at.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_revocation_reaches_every_cached_layer_within_the_bound_under_load() {
    let env = TestEnv::builder().postgres().redis().start().await;
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];
    let mut app = ClientApp::with(env, &grants, &["user"]).await;
    let caches: Vec<TokenCache> =
        (0..4).map(|_| TokenCache::start(app.env.validator_channel(), TokenCacheOptions::default())).collect();
    let mut bases = Vec::new();
    for cache in &caches {
        bases.push(layer(&app.env, cache.clone()).await);
    }
    until_trusted(&caches).await;
    let http = reqwest::Client::new();

    // Load: a token that stays valid, asked of every layer all along.
    let (_, steady) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
    let steady = steady["access_token"].as_str().unwrap().to_owned();
    let running = Arc::new(AtomicBool::new(true));
    let mut load = tokio::task::JoinSet::new();
    for base in bases.clone() {
        let (http, steady, running) = (http.clone(), steady.clone(), running.clone());
        load.spawn(async move {
            let mut answered = 0u64;
            while running.load(Ordering::Relaxed) {
                assert_eq!(status(&http, &base, &steady).await, 200, "a valid token refused under load");
                answered += 1;
            }
            answered
        });
    }

    let mut times = Vec::new();
    let (id, secret) = (app.client_id.clone(), app.secret.clone());
    // 1. RFC 7009 revocation of one token, repeated to catch a race.
    for _ in 0..10 {
        let (_, issued) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
        let token = issued["access_token"].as_str().unwrap().to_owned();
        let mut browser = app.env.browser();
        let revoke = async {
            let page = browser.post_client("/oauth/revoke", Some((&id, &secret)), &[("token", &token)]).await;
            assert_eq!(page.status, 200);
        };
        times.push(refused_everywhere(&http, &bases, &token, revoke).await);
    }
    // 2. A refresh ends the access tokens issued before it.
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let mut refresher = app.env.browser();
    let rotate = async {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        assert_eq!(refresher.post_client("/oauth/token", Some((&id, &secret)), &form).await.status, 200);
    };
    times.push(refused_everywhere(&http, &bases, &access, rotate).await);
    // 3. The user revokes the application's authorization (the grant).
    let code = app.code("user").await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let mut registry = app.env.registry().await;
    let revoke_grant = async {
        let request = registry_pb::RevokeAuthorizationRequest { user_id: app.owner_id.clone(), client_id: id.clone() };
        registry.revoke_authorization(request).await.unwrap();
    };
    times.push(refused_everywhere(&http, &bases, &access, revoke_grant).await);
    // 4. A personal access token regenerated: the old one ends.
    let mut tokens_rpc = app.env.token().await;
    let pat = tokens_rpc
        .create_personal_token(token_pb::CreatePersonalTokenRequest {
            user_id: app.owner_id.clone(),
            username: "owner".to_owned(),
            name: "ci".to_owned(),
            scopes: vec!["user".to_owned()],
            expires_in: 3600,
        })
        .await
        .unwrap()
        .into_inner();
    let regenerate = async {
        let request = token_pb::RegeneratePersonalTokenRequest {
            user_id: app.owner_id.clone(),
            id: pat.info.as_ref().unwrap().id.clone(),
            expires_in: 3600,
        };
        tokens_rpc.regenerate_personal_token(request).await.unwrap();
    };
    times.push(refused_everywhere(&http, &bases, &pat.token, regenerate).await);
    // 5. An application deleted, and 6. a user deleted: every token they held.
    let other = app.env.create_user("other").await;
    let spec =
        AppSpec { name: "Doomed", grants: &[GrantType::ClientCredentials], scopes: &["user"], ..AppSpec::default() };
    let (doomed_id, doomed_secret) = register_application(&mut registry, &other.id, spec).await;
    let mut browser = app.env.browser();
    let form = [("grant_type", "client_credentials"), ("scope", "user")];
    let issued = browser.post_client("/oauth/token", Some((&doomed_id, &doomed_secret)), &form).await.json();
    let doomed_token = issued["access_token"].as_str().unwrap().to_owned();
    let delete_app = async {
        let request = registry_pb::DeleteApplicationRequest { client_id: doomed_id.clone(), ..Default::default() };
        registry.delete_application(request).await.unwrap();
    };
    times.push(refused_everywhere(&http, &bases, &doomed_token, delete_app).await);
    // (Not the owner: that would delete the application the load uses.)
    let reader = app.env.create_user("reader").await;
    let mut reader_browser = app.env.browser();
    reader_browser.login("reader", gatehouse_tests::TEST_PASSWORD).await;
    let params = [
        ("client_id", id.as_str()),
        ("response_type", "code"),
        ("scope", "user"),
        ("redirect_uri", gatehouse_tests::CALLBACK),
    ];
    let code = reader_browser.authorization_code(&params).await;
    let (_, tokens) = app.exchange_code(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let delete_user = async {
        registry.delete_user(registry_pb::DeleteUserRequest { user_id: reader.id.clone() }).await.unwrap();
    };
    times.push(refused_everywhere(&http, &bases, &access, delete_user).await);

    running.store(false, Ordering::Relaxed);
    let mut answered = 0;
    while let Some(done) = load.join_next().await {
        answered += done.unwrap();
    }
    assert!(answered > 0);
    let hits: u64 = caches.iter().map(|c| c.stats().hits).sum();
    assert!(hits > answered / 2, "the load was answered from memory: {hits} hits for {answered} requests");
    times.sort();
    eprintln!(
        "revocation to refusal by all 4 layers: p50 {:?}, max {:?}",
        times[times.len() / 2],
        times.last().unwrap()
    );
}

async fn next(stream: &mut tonic::Streaming<token_pb::RevocationEvents>) -> token_pb::RevocationEvents {
    tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("a message within 5 s").unwrap().unwrap()
}

/// Reads messages until one names `hashes` (in any batches); returns the cursor then.
async fn until_named(stream: &mut tonic::Streaming<token_pb::RevocationEvents>, hashes: &[String]) -> i64 {
    let mut missing: Vec<&String> = hashes.iter().collect();
    loop {
        let message = next(stream).await;
        missing.retain(|h| !message.revoked.iter().any(|r| &&r.token_hash == h));
        if missing.is_empty() {
            return message.cursor;
        }
    }
}

on_every_database!(a_resumed_stream_misses_nothing_and_a_cursor_too_old_says_reset);

async fn a_resumed_stream_misses_nothing_and_a_cursor_too_old_says_reset(backend: Backend) {
    let env = TestEnv::builder().backend(backend).start().await;
    let mut app = ClientApp::new(env).await;
    let mut rpc = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Validator)).await;
    let watch = |after: Option<i64>| token_pb::WatchRevocationsRequest { after };
    let mut stream = rpc.watch_revocations(watch(None)).await.unwrap().into_inner();
    let first = next(&mut stream).await;
    assert!(!first.reset && first.revoked.is_empty() && first.cursor == first.head, "a heartbeat: {first:?}");

    let mut issue = async || {
        let (_, body) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
        body["access_token"].as_str().unwrap().to_owned()
    };
    let (x, y, z) = (issue().await, issue().await, issue().await);
    let operator = app.env.token_as(app.env.as_role(gatehouse_runtime::access::Role::Operator)).await;
    let revoke = |token: String| {
        let mut rpc = operator.clone();
        async move {
            rpc.revoke_token_by_value(token_pb::RevokeTokenByValueRequest { token }).await.unwrap();
        }
    };
    revoke(x.clone()).await;
    let cursor = until_named(&mut stream, &[SecretHash::of(&x).as_str().to_owned()]).await;
    drop(stream);
    // Revoked while nobody listened: a stream resumed from the cursor has them.
    revoke(y.clone()).await;
    revoke(z.clone()).await;
    let mut resumed = rpc.watch_revocations(watch(Some(cursor))).await.unwrap().into_inner();
    let hashes = [SecretHash::of(&y).as_str().to_owned(), SecretHash::of(&z).as_str().to_owned()];
    let head = until_named(&mut resumed, &hashes).await;
    assert!(head >= cursor + 2);
    drop(resumed);

    // The log's older events deleted (retention): that cursor is too old.
    app.env.db.execute_unprepared("DELETE FROM token_revocation_log").await.unwrap();
    let mut old = rpc.watch_revocations(watch(Some(cursor))).await.unwrap().into_inner();
    let reset = next(&mut old).await;
    assert!(reset.reset, "{reset:?}");
    assert_eq!(reset.cursor, head, "go on from the head");
    // A cursor the log never had is no better.
    let mut ahead = rpc.watch_revocations(watch(Some(head + 1000))).await.unwrap().into_inner();
    assert!(next(&mut ahead).await.reset);
    // At the head: no reset, a heartbeat.
    let mut current = rpc.watch_revocations(watch(Some(head))).await.unwrap().into_inner();
    let beat = next(&mut current).await;
    assert!(!beat.reset && beat.cursor == head, "{beat:?}");
}

/// A TCP proxy that can be cut (every connection dropped, the port closed)
/// and restored on the same port.
struct Proxy {
    port: u16,
    target: std::net::SocketAddr,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Self { port, target, running: None };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target;
        self.running = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Drops every connection and closes the port (the JoinSet goes with the task).
    fn cut(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_falls_back_to_introspection_and_resumes_from_its_cursor() {
    let env = TestEnv::builder().postgres().start().await;
    let mut app = ClientApp::new(env).await;
    let mut proxy = Proxy::start(app.env.token_addr).await;
    let options = TokenCacheOptions { stream_bound: Duration::from_millis(500), ..TokenCacheOptions::default() };
    // The stream goes through the proxy; introspection does not.
    let cache = TokenCache::start(app.env.validator_channel_to(&format!("http://127.0.0.1:{}", proxy.port)), options);
    let base = layer(&app.env, cache.clone()).await;
    until_trusted(std::slice::from_ref(&cache)).await;
    let http = reqwest::Client::new();
    let (_, issued) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(status(&http, &base, &token).await, 200);
    assert_eq!(status(&http, &base, &token).await, 200);
    assert!(cache.stats().hits >= 1, "{:?}", cache.stats());

    proxy.cut();
    let mut rpc = app.env.token().await;
    rpc.revoke_token_by_value(token_pb::RevokeTokenByValueRequest { token: token.clone() }).await.unwrap();
    let cut_at = Instant::now();
    // No event can arrive; once the stream has been silent for the bound,
    // the layer introspects, and the token is refused.
    loop {
        if status(&http, &base, &token).await == 401 {
            break;
        }
        assert!(
            cut_at.elapsed() < Duration::from_millis(500) + Duration::from_secs(1),
            "still accepted past the bound"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!cache.trusted());
    assert!(cache.stats().fallbacks >= 1, "{:?}", cache.stats());
    let before = cache.stats();

    // Back: the stream resumes from its cursor and replays the revocation.
    proxy.restore().await;
    until_trusted(std::slice::from_ref(&cache)).await;
    let after = cache.stats();
    assert!(after.revocations > before.revocations, "the missed event arrived: {before:?} then {after:?}");
    assert_eq!(after.resets, 0, "resumed, not reset");
    assert_eq!(status(&http, &base, &token).await, 401);
    assert!(cache.stats().fallback_ms >= 500, "{:?}", cache.stats());

    // Cut again, and the log loses what the cache has not read (retention
    // under a long outage): back, the stream says reset and the cache drops
    // every validation; a token revoked meanwhile is refused all the same.
    let (_, kept) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
    let kept = kept["access_token"].as_str().unwrap().to_owned();
    let (_, lost) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
    let lost = lost["access_token"].as_str().unwrap().to_owned();
    for token in [&kept, &lost] {
        assert_eq!(status(&http, &base, token).await, 200, "cached before the cut");
    }
    proxy.cut();
    rpc.revoke_token_by_value(token_pb::RevokeTokenByValueRequest { token: lost.clone() }).await.unwrap();
    app.env.db.execute_unprepared("DELETE FROM token_revocation_log").await.unwrap();
    let (_, later) = app.token(&[("grant_type", "client_credentials"), ("scope", "user")]).await;
    rpc.revoke_token_by_value(token_pb::RevokeTokenByValueRequest {
        token: later["access_token"].as_str().unwrap().to_owned(),
    })
    .await
    .unwrap();
    proxy.restore().await;
    gatehouse_tests::until(Duration::from_secs(10), "a reset after the log lost the cursor", || {
        let reset = cache.stats().resets > 0;
        async move { reset }
    })
    .await;
    until_trusted(std::slice::from_ref(&cache)).await;
    assert_eq!(status(&http, &base, &lost).await, 401, "its event is gone: the reset dropped its cached validation");
    assert_eq!(status(&http, &base, &kept).await, 200, "a valid token validates again");
}
