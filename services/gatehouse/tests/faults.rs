//! Fault injection on the production shape: one process per part, two
//! token replicas, PostgreSQL and a Redis of the test's own. Each test
//! injects one fault under load (Redis hung, killed, flushed; a Sentinel
//! failover; a Redis Cluster master failover and a slot migration; the
//! PostgreSQL primary failed over to its standby, or stopped hard; a token
//! replica killed; a burst past capacity; replicas with their clocks
//! moved), keeps a ledger of every token the driver
//! received, and checks afterwards through every path (gRPC introspection
//! on each replica, HTTP introspection, `/api/current_user`, refresh) that
//! nothing revoked or rotated reads active, nothing live was lost, and no
//! request was answered 500. Each test is bounded (a few seconds of load).
//! Figures (latencies, counts) are printed: `cargo nextest run -p gatehouse
//! --test faults --no-capture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gatehouse_proto::pb::common::v1 as common_pb;
use gatehouse_proto::pb::token::v1 as token_pb;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_tests::{
    Backend, Browser, OwnPostgres, OwnRedis, RedisCluster, SentinelGroup, TEST_PASSWORD, TestDatabase,
};
use serde_json::Value;
use support::{BIN, Deployment, Part, REDIRECT, free_port, wait_serving};
use tokio::sync::Mutex;

/// A running deployment and a registered application.
struct Stack {
    base: String,
    token_ports: Vec<u16>,
    registry_port: u16,
    /// One channel per token replica, for the checks.
    replicas: Vec<gatehouse_tests::Grpc>,
    client_id: String,
    secret: String,
    browser: Browser,
    http: reqwest::Client,
    parts: Vec<Part>,
    gateway: Part,
    deployment: Deployment,
}

/// Where the deployment keeps its state.
struct Storage {
    database_url: String,
    redis_url: String,
}

impl Stack {
    async fn start(
        storage: &Storage,
        tokens: &[Vec<(&'static str, String)>],
        gateway: &[(&'static str, String)],
    ) -> Self {
        let gateway_port = free_port();
        let registry_port = free_port();
        let authorization_port = free_port();
        let token_ports: Vec<u16> = tokens.iter().map(|_| free_port()).collect();
        let list = token_ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let mut env = support::shared_settings(&storage.database_url, storage.redis_url.clone());
        env.extend([
            ("GATEHOUSE_ISSUER", format!("http://127.0.0.1:{gateway_port}")),
            ("GATEHOUSE_REGISTRY_URL", format!("http://127.0.0.1:{registry_port}")),
            ("GATEHOUSE_AUTHORIZATION_URL", format!("http://127.0.0.1:{authorization_port}")),
            ("GATEHOUSE_TOKEN_URL", list),
            ("GATEHOUSE_RPC_TIMEOUT_MS", "3000".to_owned()),
        ]);
        let deployment = Deployment::new(env);
        let migrate = std::process::Command::new(BIN)
            .arg("migrate")
            .envs(deployment.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
        let listen = |variable: &'static str, port: u16| (variable, format!("127.0.0.1:{port}"));
        let mut parts = vec![
            Part::start(&deployment, "registry", &[listen("GATEHOUSE_REGISTRY_LISTEN", registry_port)]),
            Part::start(&deployment, "authorization", &[listen("GATEHOUSE_AUTHORIZATION_LISTEN", authorization_port)]),
        ];
        for (port, extra) in token_ports.iter().zip(tokens) {
            let mut env = vec![listen("GATEHOUSE_TOKEN_LISTEN", *port)];
            env.extend(extra.iter().cloned());
            parts.push(Part::start(&deployment, "token", &env));
        }
        let mut gateway_env = vec![listen("GATEHOUSE_GATEWAY_LISTEN", gateway_port)];
        gateway_env.extend(gateway.iter().cloned());
        let gateway = Part::start(&deployment, "gateway", &gateway_env);
        for port in [registry_port, authorization_port].iter().chain(&token_ports) {
            wait_serving(*port).await;
        }
        let (client_id, secret) = support::alice_and_her_app(&deployment, registry_port).await;
        let base = format!("http://127.0.0.1:{gateway_port}");
        let mut browser = Browser::new(base.clone());
        browser.login("alice", TEST_PASSWORD).await;
        // The tests ask the replicas what the gateway would (token requests) and
        // what an internal service would (introspection): as the gateway, allowed both.
        let replicas = token_ports.iter().map(|p| deployment.grpc_lazy(*p, "gateway")).collect();
        let mut stack = Self {
            base,
            token_ports,
            registry_port,
            replicas,
            client_id,
            secret,
            browser,
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
            parts,
            gateway,
            deployment,
        };
        // The first authorization shows the consent page; approve it once.
        let params = stack.params();
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        stack.browser.authorize(&params).await;
        stack
    }

    fn params(&self) -> [(&'static str, String); 4] {
        [
            ("client_id", self.client_id.clone()),
            ("response_type", "code".to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("scope", "user".to_owned()),
        ]
    }

    async fn code(&mut self) -> String {
        let params = self.params();
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.browser.authorization_code(&params).await
    }

    /// `POST /oauth/{path}` as the application: (status, has Retry-After, body, seconds taken).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, bool, Value, f64) {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/oauth/{path}", self.base))
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert_ne!(status, 500, "{path} answered 500: {body}");
        (status, retry_after, body, started.elapsed().as_secs_f64())
    }

    async fn grant(&mut self) -> (String, String) {
        let code = self.code().await;
        let (status, _, body, _) = self
            .post("token", &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)])
            .await;
        assert_eq!(status, 200, "{body}");
        (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
    }

    async fn replica(&self, index: usize) -> TokenServiceClient<gatehouse_tests::Grpc> {
        TokenServiceClient::new(self.replicas[index].clone())
    }

    /// Waits (bounded) until a whole code flow works again: the cache is back in use.
    async fn wait_for_cache(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let params = self.params();
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            if self.browser.get(&format!("/oauth/authorize?{query}")).await.status == 303 {
                return;
            }
            assert!(Instant::now() < deadline, "the cache was never used again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// gRPC introspection on every live replica, then HTTP introspection and
    /// `/api/current_user` through the gateway: each must say `active`.
    async fn assert_state(&self, token: &str, active: bool, replicas: &[usize], what: &str) {
        for &index in replicas {
            let request = token_pb::IntrospectRequest { token: token.to_owned(), ..Default::default() };
            let answer = self.replica(index).await.introspect(request).await.unwrap().into_inner();
            assert_eq!(answer.active, active, "{what}: replica {index} says active={}", answer.active);
        }
        let (status, _, body, _) = self.post("introspect", &[("token", token)]).await;
        assert_eq!((status, body["active"].as_bool()), (200, Some(active)), "{what}: HTTP introspection: {body}");
        if token.starts_with("gat_") {
            let me =
                self.http.get(format!("{}/api/current_user?access_token={token}", self.base)).send().await.unwrap();
            assert_eq!(me.status() == 200, active, "{what}: /api/current_user answered {}", me.status());
        }
    }
}

/// Latency percentile of `samples` (seconds).
fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(((samples.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0)
}

/// A refresh chain: keeps refreshing one grant, retrying the same refresh
/// token after a 503 (what a client does), and records every token it got.
#[derive(Default)]
struct Chain {
    /// Tokens rotated away: must all read inactive at the end.
    ended: Vec<String>,
    /// The grant's current pair.
    current: Option<(String, String)>,
    latencies: Vec<(Instant, f64, u16)>,
}

async fn run_chain(stack: Arc<Stack>, chain: Arc<Mutex<Chain>>, running: Arc<AtomicBool>) {
    while running.load(Ordering::SeqCst) {
        let (access, refresh) = chain.lock().await.current.clone().unwrap();
        let (status, retry_after, body, took) =
            stack.post("token", &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        assert!(status != 503 || retry_after, "a 503 without Retry-After: {body}");
        let mut chain = chain.lock().await;
        chain.latencies.push((Instant::now(), took, status));
        match status {
            200 => {
                chain.ended.extend([access, refresh]);
                let next = (
                    body["access_token"].as_str().unwrap().to_owned(),
                    body["refresh_token"].as_str().unwrap().to_owned(),
                );
                chain.current = Some(next);
            }
            503 => {
                drop(chain);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("a refresh answered {other}: {body}"),
        }
    }
}

/// Introspects `tokens` over and over through the gateway, recording latencies.
async fn run_introspection(
    stack: Arc<Stack>,
    tokens: Vec<String>,
    running: Arc<AtomicBool>,
) -> Vec<(Instant, f64, u16)> {
    let mut seen = Vec::new();
    let mut i = 0;
    while running.load(Ordering::SeqCst) {
        let (status, retry_after, body, took) = stack.post("introspect", &[("token", &tokens[i % tokens.len()])]).await;
        assert!(status != 503 || retry_after, "a 503 without Retry-After: {body}");
        seen.push((Instant::now(), took, status));
        i += 1;
    }
    seen
}

/// The load of the fault tests: refresh chains on some grants (retrying a
/// 503 with the same token, as a client does) and introspection of others,
/// until stopped.
struct Load {
    chains: Vec<Arc<Mutex<Chain>>>,
    workers: tokio::task::JoinSet<()>,
    introspection: tokio::task::JoinHandle<Vec<(Instant, f64, u16)>>,
    running: Arc<AtomicBool>,
}

impl Load {
    /// A chain on each of `chains_from`, introspection of the access tokens of `watched`.
    fn start(stack: &Arc<Stack>, chains_from: &[(String, String)], watched: &[(String, String)]) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let mut chains = Vec::new();
        let mut workers = tokio::task::JoinSet::new();
        for pair in chains_from {
            let chain = Arc::new(Mutex::new(Chain { current: Some(pair.clone()), ..Chain::default() }));
            chains.push(chain.clone());
            workers.spawn(run_chain(stack.clone(), chain, running.clone()));
        }
        let watched: Vec<String> = watched.iter().map(|(a, _)| a.clone()).collect();
        let introspection = tokio::spawn(run_introspection(stack.clone(), watched, running.clone()));
        Self { chains, workers, introspection, running }
    }

    /// Stops the load; every request's (when, seconds, status). A chain that failed fails the test.
    async fn stop(&mut self) -> Vec<(Instant, f64, u16)> {
        self.running.store(false, Ordering::SeqCst);
        while let Some(joined) = self.workers.join_next().await {
            joined.expect("a refresh chain failed");
        }
        let mut latencies = (&mut self.introspection).await.unwrap();
        for chain in &self.chains {
            latencies.extend(chain.lock().await.latencies.iter().copied());
        }
        latencies
    }

    /// The oracle: every token rotated away reads inactive and every
    /// chain's live pair active, on both replicas, over HTTP and at
    /// `/api/current_user`.
    async fn check(&self, stack: &Stack) {
        for chain in &self.chains {
            let chain = chain.lock().await;
            for token in &chain.ended {
                stack.assert_state(token, false, &[0, 1], "rotated under load").await;
            }
            let (access, refresh) = chain.current.clone().unwrap();
            stack.assert_state(&access, true, &[0, 1], "the chain's live access token").await;
            stack.assert_state(&refresh, true, &[0, 1], "the chain's live refresh token").await;
        }
    }
}

async fn redis_storage(redis: &OwnRedis, database: &TestDatabase) -> Storage {
    Storage { database_url: database.url().to_owned(), redis_url: redis.url() }
}

/// Redis hung (SIGSTOP) for 5 s under load: requests keep answering fast
/// (p99 under 1 s: one short wait, then the breaker), revocations during the
/// hang are 503 (their tombstones could not be written) and safe to retry,
/// and once Redis resumes with its stale data nothing revoked or rotated
/// reads active on either replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hung_costs_a_short_wait_and_revives_nothing() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let redis = OwnRedis::start().await;
    let mut stack = Stack::start(&redis_storage(&redis, &database).await, &[vec![], vec![]], &[]).await;
    let mut grants = Vec::new();
    for _ in 0..8 {
        grants.push(stack.grant().await);
    }
    // Everything is cached as active on both replicas first.
    for (access, refresh) in &grants {
        stack.assert_state(access, true, &[0, 1], "before").await;
        stack.assert_state(refresh, true, &[0, 1], "before").await;
    }
    let (to_revoke, chains_from) = grants.split_at(4);
    let stack = Arc::new(stack);
    let mut load = Load::start(&stack, chains_from, to_revoke);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let hung = Instant::now();
    redis.hang();
    let mut answered_503 = Vec::new();
    for (access, refresh) in to_revoke {
        let (status, _, body, took) = stack.post("revoke", &[("token", refresh)]).await;
        assert!(took < 1.0, "a revocation took {took:.3} s during the hang");
        match status {
            200 => {}
            503 => answered_503.push(refresh.clone()),
            other => panic!("revocation answered {other}: {body}"),
        }
        // SQL has the revocation: no path may say active, even now.
        let (_, _, answer, _) = stack.post("introspect", &[("token", access)]).await;
        assert_eq!(answer["active"], false, "a revoked token read active during the hang");
    }
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(hung.elapsed())).await;
    redis.resume();
    let resumed = Instant::now();
    // The client retries what answered 503; the retry is safe and completes.
    for refresh in &answered_503 {
        gatehouse_tests::until(Duration::from_secs(5), "a retried revocation completes", || async {
            stack.post("revoke", &[("token", refresh)]).await.0 == 200
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let latencies = load.stop().await;
    let mut during: Vec<f64> =
        latencies.iter().filter(|(at, _, _)| *at >= hung && *at < resumed).map(|l| l.1).collect();
    let p99 = percentile(&mut during, 0.99);
    let failed = latencies.iter().filter(|l| l.2 != 200).count();
    println!(
        "redis hung 5 s: {} requests during the hang, p99 {:.1} ms; {} of {} requests answered 503 in all; {} revocations answered 503 and were retried",
        during.len(),
        p99 * 1000.0,
        failed,
        latencies.len(),
        answered_503.len()
    );
    assert!(!during.is_empty(), "the load ran during the hang");
    assert!(p99 < 1.0, "p99 during the hang was {p99:.3} s");

    for (access, refresh) in to_revoke {
        stack.assert_state(access, false, &[0, 1], "revoked access token").await;
        stack.assert_state(refresh, false, &[0, 1], "revoked refresh token").await;
    }
    load.check(&stack).await;
}

/// What a failover under load cost.
struct Failover {
    /// From the fault until every revocation made during it had succeeded.
    recovered: Duration,
    /// Requests of the load answered 503 meanwhile, of all.
    unavailable: usize,
    requests: usize,
}

/// Runs `fault` under load on a two-replica `stack`: four refresh chains
/// (retrying a 503 with the same token, as a client does), introspection
/// through the gateway, and four grants revoked during the fault (a 503
/// retried until done). Only 200 or 503 may answer meanwhile; afterwards a
/// whole code flow works again, and every token the clients received reads
/// as it must on every path: revoked and rotated ones inactive on both
/// replicas, over HTTP and at `/api/current_user`, the chains' live ones active.
async fn failover_under_load(mut stack: Stack, what: &str, fault: impl AsyncFnOnce()) -> (Stack, Failover) {
    let mut grants = Vec::new();
    for _ in 0..8 {
        grants.push(stack.grant().await);
    }
    let (to_revoke, chains_from) = grants.split_at(4);
    let shared = Arc::new(stack);
    let mut load = Load::start(&shared, chains_from, to_revoke);

    let started = Instant::now();
    fault().await;
    // Revocations during the switch: 200, or 503 and retried until done.
    for (_, refresh) in to_revoke {
        gatehouse_tests::until(Duration::from_secs(30), "a revocation completes across the failover", || async {
            let (status, retry_after, body, _) = shared.post("revoke", &[("token", refresh)]).await;
            assert!(status == 200 || status == 503, "{what}: revocation answered {status}: {body}");
            assert!(status != 503 || retry_after, "{what}: a 503 without Retry-After: {body}");
            status == 200
        })
        .await;
    }
    // Every revocation needed both stores (the row, then its tombstones).
    let recovered = started.elapsed();
    let latencies = load.stop().await;
    // And a whole code flow works again (codes and sessions live in the cache).
    let Ok(mut stack) = Arc::try_unwrap(shared) else { panic!("the load's handles are gone") };
    stack.wait_for_cache().await;
    assert!(latencies.iter().all(|l| l.2 == 200 || l.2 == 503), "{what}: only 200 or 503 under the failover");
    let failover =
        Failover { recovered, unavailable: latencies.iter().filter(|l| l.2 == 503).count(), requests: latencies.len() };
    println!(
        "{what}: every revocation done {} ms after the fault; {} of {} requests answered 503 meanwhile",
        failover.recovered.as_millis(),
        failover.unavailable,
        failover.requests
    );

    for (access, refresh) in to_revoke {
        stack.assert_state(access, false, &[0, 1], "revoked during the failover (access)").await;
        stack.assert_state(refresh, false, &[0, 1], "revoked during the failover (refresh)").await;
    }
    load.check(&stack).await;
    (stack, failover)
}

/// The Sentinel group's master killed under load: the sentinels promote the
/// replica and every part follows it without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_under_load_loses_nothing_and_revives_nothing() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let mut group = SentinelGroup::start().await;
    let storage = Storage { database_url: database.url().to_owned(), redis_url: group.url() };
    let stack = Stack::start(&storage, &[vec![], vec![]], &[]).await;
    failover_under_load(stack, "sentinel failover", async || group.master.stop()).await;
    assert_eq!(SentinelGroup::role(group.replica.port), "master", "the replica was promoted");
}

/// A Redis Cluster master killed under load (its replica promoted after
/// the 1 s node timeout), then 2000 slots migrated under the same load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_failover_and_a_slot_migration_under_load_lose_nothing_and_revive_nothing() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let mut cluster = RedisCluster::start().await;
    let storage = Storage { database_url: database.url().to_owned(), redis_url: cluster.url() };
    let stack = Stack::start(&storage, &[vec![], vec![]], &[]).await;
    let victim = (0..cluster.nodes.len()).find(|i| cluster.is_master(*i)).unwrap();
    cluster.wait_replicated(victim).await;
    let (stack, _) = failover_under_load(stack, "cluster master failover", async || cluster.nodes[victim].stop()).await;
    let (from, to) = {
        let mut masters = (0..cluster.nodes.len()).filter(|i| *i != victim && cluster.is_master(*i));
        (masters.next().unwrap(), masters.next().unwrap())
    };
    let reshard = cluster.reshard(from, to, 2000);
    failover_under_load(stack, "cluster slot migration", async || {
        tokio::task::spawn_blocking(reshard).await.unwrap();
    })
    .await;
}

/// The PostgreSQL primary stopped hard under load, its synchronous standby
/// promoted: every part, given both hosts with
/// `target_session_attrs=read-write`, moves to the new primary by itself;
/// then the old primary comes back as a standby and is never written to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_failover_under_load_loses_nothing_and_revives_nothing() {
    let primary = OwnPostgres::start();
    let standby = OwnPostgres::start_standby_of(&primary);
    primary.require_sync_standby();
    let redis = OwnRedis::start().await;
    let database_url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let storage = Storage { database_url, redis_url: redis.url() };
    let stack = Stack::start(&storage, &[vec![], vec![]], &[]).await;
    let (mut stack, _) = failover_under_load(stack, "postgres failover", async || {
        primary.stop_hard();
        tokio::task::block_in_place(|| standby.promote());
    })
    .await;

    // The old primary back, as a standby of the new one: read-only, so the
    // parts stay where they are, and new work goes on.
    tokio::task::block_in_place(|| primary.rejoin_as_standby_of(&standby));
    let (access, refresh) = stack.grant().await;
    let (status, _, body, _) =
        stack.post("token", &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "a rotation after the old primary rejoined: {body}");
    stack.assert_state(&access, false, &[0, 1], "rotated after the rejoin").await;
}

/// Redis killed, then back empty (a restart), then flushed while running:
/// introspection keeps answering from SQL, what needs the cache answers 503,
/// and afterwards revoked tokens read inactive (SQL decides once the
/// tombstones are gone) and live ones active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_or_flushed_loses_nothing_and_revives_nothing() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let mut redis = OwnRedis::start().await;
    let port = redis.port;
    let mut stack = Stack::start(&redis_storage(&redis, &database).await, &[vec![], vec![]], &[]).await;
    let (live_access, live_refresh) = stack.grant().await;
    let (dead_access, dead_refresh) = stack.grant().await;
    let (status, _, _, _) = stack.post("revoke", &[("token", &dead_refresh)]).await;
    assert_eq!(status, 200);
    let pending_code = stack.code().await;

    redis.stop();
    for _ in 0..20 {
        stack.assert_state(&live_access, true, &[0, 1], "live, Redis down").await;
        stack.assert_state(&dead_access, false, &[0, 1], "revoked, Redis down").await;
    }
    let (status, retry_after, body, took) = stack
        .post("token", &[("grant_type", "authorization_code"), ("code", &pending_code), ("redirect_uri", REDIRECT)])
        .await;
    assert_eq!((status, retry_after), (503, true), "codes live in the cache: {body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    println!("redis down: a code exchange answered 503 in {:.1} ms", took * 1000.0);

    let redis = OwnRedis::start_on(port).await;
    // Back empty: the tombstones are gone, SQL decides.
    stack.wait_for_cache().await;
    for (token, active) in [(&live_access, true), (&live_refresh, true), (&dead_access, false), (&dead_refresh, false)]
    {
        stack.assert_state(token, active, &[0, 1], "after the restart").await;
    }
    redis.flush().await;
    stack.wait_for_cache().await;
    for (token, active) in [(&live_access, true), (&live_refresh, true), (&dead_access, false), (&dead_refresh, false)]
    {
        stack.assert_state(token, active, &[0, 1], "after FLUSHALL").await;
    }
    // New work goes on. A refresh answered 503 (a replica not yet back on
    // the cache) committed nothing: the client retries the same token.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _, body, _) =
            stack.post("token", &[("grant_type", "refresh_token"), ("refresh_token", &live_refresh)]).await;
        if status == 200 {
            break;
        }
        assert!(status == 503 && Instant::now() < deadline, "{status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.assert_state(&live_access, false, &[0, 1], "rotated away after the flush").await;
}

/// PostgreSQL stopped hard: every request answers 503 with Retry-After in a
/// couple of seconds (never 500, never a hang); a code or a refresh token
/// presented during the outage is not used up, so the client's retry after
/// the outage succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_hard_is_a_fast_503_and_nothing_is_used_up() {
    let postgres = OwnPostgres::start();
    let redis = OwnRedis::start().await;
    let storage = Storage { database_url: postgres.url(), redis_url: redis.url() };
    let mut stack = Stack::start(&storage, &[vec![], vec![]], &[]).await;
    let (_, refresh) = stack.grant().await;
    let code = stack.code().await;

    postgres.stop_hard();
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let rotate = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let mut slowest: f64 = 0.0;
    for form in [&exchange[..], &rotate[..], &[("grant_type", "client_credentials")][..]] {
        let (status, retry_after, body, took) = stack.post("token", form).await;
        assert_eq!((status, retry_after), (503, true), "{body}");
        assert_eq!(body["error"], "temporarily_unavailable");
        slowest = slowest.max(took);
    }
    let page = stack
        .http
        .get(format!("{}/oauth/authorize?client_id={}&response_type=code", stack.base, stack.client_id))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503, "the authorization page");
    assert!(page.headers().contains_key("retry-after"));
    let me = stack.http.get(format!("{}/api/applications", stack.base)).send().await.unwrap();
    assert_ne!(me.status(), 500);
    println!("postgres down: slowest 503 took {:.0} ms", slowest * 1000.0);
    assert!(slowest < 3.0, "a request took {slowest:.1} s with PostgreSQL down");

    postgres.resume();
    // Back: the code and the refresh token presented during the outage still work.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let (status, _, body, _) = stack.post("token", &exchange).await;
        if status != 503 || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 200, "the code presented during the outage is still redeemable: {body}");
    let (status, _, body, _) = stack.post("token", &rotate).await;
    assert_eq!(status, 200, "the refresh token presented during the outage still works: {body}");
}

/// One of two token replicas crashes (SIGKILL) under an introspection load
/// (gRPC through the client crate's balanced channel, and HTTP through the
/// gateway): idempotent calls in flight are sent to the other replica, so
/// not one fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_crash_costs_no_idempotent_call() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let redis = OwnRedis::start().await;
    let mut stack = Stack::start(&redis_storage(&redis, &database).await, &[vec![], vec![]], &[]).await;
    let (access, _) = stack.grant().await;
    let list = stack.token_ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let balanced = stack.deployment.validator(&list);
    // parts: registry, authorization, then the token replicas.
    let victim = stack.parts[2].pid();
    let stack = Arc::new(stack);
    let running = Arc::new(AtomicBool::new(true));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (channel, running, token) = (balanced.clone(), running.clone(), access.clone());
        workers.spawn(async move {
            let mut client = TokenServiceClient::new(channel);
            let (mut ok, mut failed) = (0_u32, Vec::new());
            while running.load(Ordering::SeqCst) {
                let request = token_pb::IntrospectRequest { token: token.clone(), ..Default::default() };
                match client.introspect(request).await {
                    Ok(answer) if answer.get_ref().active => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        });
    }
    let http = tokio::spawn(run_introspection(stack.clone(), vec![access.clone()], running.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = std::process::Command::new("kill").args(["-KILL", &victim.to_string()]).status().unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.store(false, Ordering::SeqCst);
    let mut total = 0;
    while let Some(result) = workers.join_next().await {
        let (ok, failed) = result.unwrap();
        assert!(failed.is_empty(), "idempotent calls failed: {failed:?}");
        total += ok;
    }
    let http = http.await.unwrap();
    let http_failed = http.iter().filter(|l| l.2 != 200).count();
    println!("replica crash: {total} gRPC introspections and {} HTTP ones, {http_failed} failed", http.len());
    assert_eq!(http_failed, 0);
    assert!(total > 100, "the load ran");
}

/// A burst far past what the gateway is allowed to serve at once: the excess
/// is answered 503 with Retry-After at once (never queued), the health
/// endpoints keep answering, memory stays bounded, and the service is back
/// to normal right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_capacity_is_shed_at_once() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let redis = OwnRedis::start().await;
    let gateway = [("GATEHOUSE_MAX_CONCURRENT_REQUESTS", "8".to_owned())];
    let stack = Arc::new(Stack::start(&redis_storage(&redis, &database).await, &[vec![]], &gateway).await);
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    };
    let before = rss(stack.gateway.pid());
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..400 {
        let stack = stack.clone();
        burst.spawn(async move { stack.post("token", &[("grant_type", "client_credentials")]).await });
    }
    let health = stack.http.get(format!("{}/healthz", stack.base)).send().await.unwrap();
    assert_eq!(health.status(), 200, "liveness answers during the burst");
    let (mut served, mut shed, mut shed_latency) = (0, 0, Vec::new());
    while let Some(result) = burst.join_next().await {
        let (status, retry_after, body, took) = result.unwrap();
        match status {
            200 => served += 1,
            503 => {
                assert!(retry_after, "a shed request carries Retry-After");
                assert_eq!(body["error"], "temporarily_unavailable");
                shed += 1;
                shed_latency.push(took);
            }
            other => panic!("the burst got {other}: {body}"),
        }
    }
    let after = rss(stack.gateway.pid());
    let p50 = percentile(&mut shed_latency, 0.5);
    println!(
        "burst of 400 against 8 slots: {served} served, {shed} shed (p50 {:.1} ms); gateway RSS {before} -> {after} MiB",
        p50 * 1000.0
    );
    assert!(shed > 0 && served > 0, "some requests are served, the rest shed");
    assert!(after < before + 64, "memory stays bounded: {before} -> {after} MiB");
    let (status, _, body, _) = stack.post("token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "back to normal at once: {body}");
}

/// One replica runs an hour fast, another an hour slow (libfaketime): both
/// stamp and judge expiry by the database's clock, so a token one issues is
/// active on the others with the same lifetime, and none sees it expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_moved_clocks_agree_on_expiry() {
    let library =
        ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect("libfaketime (tests/tools.sh installs it)");
    let moved = |offset: &str| {
        vec![
            ("LD_PRELOAD", library.to_owned()),
            ("FAKETIME", offset.to_owned()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
            ("GATEHOUSE_ACCESS_TOKEN_TTL_SECS", "1800".to_owned()),
        ]
    };
    let normal = vec![("GATEHOUSE_ACCESS_TOKEN_TTL_SECS", "1800".to_owned())];
    let database = TestDatabase::create(Backend::Postgres).await;
    let redis = OwnRedis::start().await;
    let stack = Stack::start(&redis_storage(&redis, &database).await, &[normal, moved("+1h"), moved("-1h")], &[]).await;
    let credentials = token_pb::ClientCredentials {
        client_id: stack.client_id.clone(),
        client_secret: stack.secret.clone(),
        method: token_pb::ClientAuthMethod::ClientSecretBasic as i32,
        client_address: String::new(),
    };
    let mut issued = Vec::new();
    for index in 0..3 {
        let request = token_pb::ExchangeRequest {
            client: Some(credentials.clone()),
            parameters: vec![common_pb::Parameter { name: "grant_type".into(), value: "client_credentials".into() }],
            dpop: None,
        };
        let answer = stack.replica(index).await.exchange(request).await.unwrap().into_inner();
        issued.push(answer.access_token);
    }
    let mut expiries = Vec::new();
    for token in &issued {
        for index in 0..3 {
            let request = token_pb::IntrospectRequest { token: token.clone(), ..Default::default() };
            let answer = stack.replica(index).await.introspect(request).await.unwrap().into_inner();
            assert!(answer.active, "replica {index} sees a token another replica issued as inactive");
            assert_eq!(answer.expires_at - answer.issued_at, 1800);
            expiries.push(answer.issued_at);
        }
    }
    let spread = expiries.iter().max().unwrap() - expiries.iter().min().unwrap();
    println!("clocks moved by +-1 h: issue times of three replicas' tokens within {spread} s");
    assert!(spread <= 5, "the replicas stamped tokens by different clocks: spread {spread} s");
}

/// A deleted client secret stops working on every token replica within the
/// client-authentication cache's bound (GATEHOUSE_CLIENT_AUTH_CACHE_SECS, 5 s
/// here), whichever replica had it cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_secret_is_refused_on_every_replica_within_the_bound() {
    use gatehouse_proto::pb::registry::v1 as registry_pb;
    let database = TestDatabase::create(Backend::Postgres).await;
    let redis = OwnRedis::start().await;
    let stack = Stack::start(&redis_storage(&redis, &database).await, &[vec![], vec![]], &[]).await;
    let exchange = |secret: &str| token_pb::ExchangeRequest {
        parameters: vec![common_pb::Parameter { name: "grant_type".into(), value: "client_credentials".into() }],
        client: Some(token_pb::ClientCredentials {
            client_id: stack.client_id.clone(),
            client_secret: secret.to_owned(),
            method: token_pb::ClientAuthMethod::ClientSecretBasic as i32,
            client_address: String::new(),
        }),
        dpop: None,
    };
    // Both replicas authenticate (and keep) the old secret.
    for index in 0..2 {
        stack.replica(index).await.exchange(exchange(&stack.secret)).await.unwrap();
    }
    let registry_port = stack.registry_port;
    let channel = stack.deployment.grpc(registry_port, "operator").await;
    let mut registry = registry_pb::registry_service_client::RegistryServiceClient::new(channel);
    let rotated = registry
        .rotate_client_secret(registry_pb::RotateClientSecretRequest {
            client_id: stack.client_id.clone(),
            acting_owner_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let app = registry
        .get_application(registry_pb::GetApplicationRequest {
            client_id: stack.client_id.clone(),
            acting_owner_id: String::new(),
            client_address: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    let old = app.secrets.iter().find(|s| stack.secret.starts_with(&s.prefix)).unwrap();
    registry
        .delete_client_secret(registry_pb::DeleteClientSecretRequest {
            client_id: stack.client_id.clone(),
            secret_id: old.id.clone(),
            acting_owner_id: String::new(),
        })
        .await
        .unwrap();
    let deleted = Instant::now();
    for index in 0..2 {
        loop {
            match stack.replica(index).await.exchange(exchange(&stack.secret)).await {
                Err(status) if status.code() == tonic::Code::Unauthenticated => break,
                Ok(_) => {}
                Err(other) => panic!("replica {index}: {other:?}"),
            }
            assert!(deleted.elapsed() < Duration::from_millis(6500), "replica {index} still takes the deleted secret");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stack.replica(index).await.exchange(exchange(&rotated.client_secret)).await.expect("the new secret works");
    }
    println!(
        "a deleted secret was refused on both replicas {:.1} s after the deletion",
        deleted.elapsed().as_secs_f64()
    );
}

/// The throttle holds across replicas: failed client authentications sent
/// through two gateways, landing on two token replicas, count against one
/// limit (the counters are in the shared Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_holds_across_two_gateways_and_two_token_replicas() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let redis = OwnRedis::start().await;
    let stack = Stack::start(&redis_storage(&redis, &database).await, &[vec![], vec![]], &[]).await;
    let second_port = free_port();
    let _second =
        Part::start(&stack.deployment, "gateway", &[("GATEHOUSE_GATEWAY_LISTEN", format!("127.0.0.1:{second_port}"))]);
    let gateways = [stack.base.clone(), format!("http://127.0.0.1:{second_port}")];
    let mut statuses = Vec::new();
    for i in 0..40 {
        let response = stack
            .http
            .post(format!("{}/oauth/token", gateways[i % 2]))
            .basic_auth(&stack.client_id, Some("wrong-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    println!("throttle across replicas: {refused} refused, then {throttled} throttled");
    assert_eq!((refused, throttled), (20, 20), "one limit for the whole deployment: {statuses:?}");
}

/// The Shared Signals transmitter on two token replicas: both read the
/// audit trails and both may push, yet each SET reaches the receiver, in
/// the order of the changes; one replica killed in the middle, the other
/// carries on (taking its stream over once its lease lapses) and nothing
/// is missed. Duplicates are allowed (at least once) but the receiver
/// dedupes on `jti`; the order of first arrivals must be the changes' order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_token_replicas_transmit_every_signal_in_order_and_one_killed_hands_over() {
    use axum::routing::post;
    use base64::Engine;
    // The receiver: an HTTPS endpoint that reports each SET's (jti, txn).
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let receiver = gatehouse_tests::https_server::HttpsServer::start(axum::Router::new().route(
        "/events",
        post(move |body: axum::body::Bytes| {
            let arrived = arrived.clone();
            async move {
                let text = String::from_utf8_lossy(&body).into_owned();
                let payload = text.split('.').nth(1).unwrap_or_default().to_owned();
                let claims: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .unwrap_or(Value::Null);
                let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
                let txn = claims["txn"].as_str().unwrap_or_default().to_owned();
                let _ = arrived.send((jti, txn));
                http::StatusCode::ACCEPTED
            }
        }),
    ))
    .await;
    let pem = base64::engine::general_purpose::STANDARD.encode(receiver.ca.as_ref());
    let lines: Vec<&str> = pem.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let ca_file = std::env::temp_dir().join(format!("ssf-ca-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&ca_file, format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n")))
        .unwrap();
    let token_env = vec![
        ("GATEHOUSE_FETCH_ALLOW_NETWORKS", "127.0.0.1/32".to_owned()),
        ("GATEHOUSE_FETCH_CA_FILE", ca_file.display().to_string()),
    ];
    let database = TestDatabase::create(Backend::Postgres).await;
    let redis = OwnRedis::start().await;
    let mut stack = Stack::start(&redis_storage(&redis, &database).await, &[token_env.clone(), token_env], &[]).await;
    // Alice holds tokens of the application, which is the receiver.
    stack.grant().await;
    let (status, _, body, _) =
        stack.post("token", &[("grant_type", "client_credentials"), ("scope", "ssf.manage")]).await;
    assert_eq!(status, 200, "{body}");
    let manage = body["access_token"].as_str().unwrap().to_owned();
    let create = serde_json::json!({
        "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": receiver.url("/events") },
    });
    let created =
        stack.http.post(format!("{}/ssf/streams", stack.base)).bearer_auth(&manage).json(&create).send().await.unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());

    // Thirty revocations of alice's grant, alternating replicas, each with its own request id
    // (the SET's txn); the first replica is killed after the fifteenth.
    let alice = support::user_id(&stack.deployment, stack.registry_port, "alice").await;
    let mut operators = Vec::new();
    for port in &stack.token_ports {
        operators.push(TokenServiceClient::new(stack.deployment.grpc(*port, "operator").await));
    }
    let mut expected = Vec::new();
    for round in 0..30 {
        if round == 15 {
            stack.parts.remove(2).kill();
        }
        let which = if round < 15 { round % 2 } else { 1 };
        let txn = format!("ssf-round-{round:02}");
        let mut request = tonic::Request::new(token_pb::RevokeAllForGrantRequest {
            user_id: alice.clone(),
            client_id: stack.client_id.clone(),
        });
        request.metadata_mut().insert("x-request-id", txn.parse().unwrap());
        operators[which].revoke_all_for_grant(request).await.unwrap();
        expected.push(txn);
    }
    let mut firsts: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut copies = 0;
    let deadline = Instant::now() + Duration::from_secs(40);
    while firsts.len() < expected.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some((jti, txn))) = tokio::time::timeout(left, arrivals.recv()).await else {
            panic!("only {} of {} signals arrived: {firsts:?}", firsts.len(), expected.len());
        };
        if seen.insert(jti) {
            firsts.push(txn);
        } else {
            copies += 1;
        }
    }
    assert_eq!(firsts, expected, "every signal, in the order of the changes");
    println!("two transmitters, one killed: {} signals in order, {copies} sent again", firsts.len());
    let _ = std::fs::remove_file(&ca_file);
}
