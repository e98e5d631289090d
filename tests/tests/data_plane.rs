//! The data plane in the shapes platforms run: Redis over TLS (with a CA of
//! the deployment's own and client certificates), Redis Sentinel, Redis
//! Cluster (a master failed over, slots migrated), and PostgreSQL over TLS
//! with `sslmode=verify-full` and with a standby, each a server the test
//! starts itself (`redis-server --tls-port`, `--sentinel`,
//! `--cluster-enabled` with `redis-cli --cluster`, `postgres -c ssl=on`
//! admitting `hostssl` only, `pg_basebackup -R`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_runtime::kv::{CacheTls, KvOptions};
use gatehouse_tests::pki::{Files, pki};
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};

use gatehouse_tests::{
    CacheBackend, OwnPostgres, OwnRedis, RedisCluster, SentinelGroup, TEST_PASSWORD, TestEnv, query_pairs,
    test_kv_options, test_kv_url, until,
};

fn tls_of(files: &Files, client_certificate: bool) -> CacheTls {
    CacheTls {
        ca_file: Some(files.path("ca.pem")),
        client: client_certificate.then(|| (files.path("client.pem"), files.path("client.key"))),
    }
}

async fn open(url: &str, tls: CacheTls) -> Result<std::sync::Arc<dyn gatehouse_runtime::kv::Kv>, String> {
    let options = KvOptions { tls, ..test_kv_options() };
    gatehouse_runtime::kv::open_with(url, PREFIX, options).await.map_err(|e| e.to_string())
}

/// A session, a code, its exchange and the code's replay (which revokes
/// what it issued): every store of the deployment used, cache and database.
async fn sign_in_exchange_and_replay(env: &TestEnv, username: &str) {
    let user = env.create_user(username).await;
    let (client_id, secret) =
        env.register_app(&user, &["https://app.example/cb"], ClientType::Confidential, &["user"]).await;

    // A session (in the cache), a code (in the cache), its exchange and a
    // rotation (the cache's rotation tombstone): every step went over TLS.
    let mut browser = env.browser();
    browser.login(username, TEST_PASSWORD).await;
    let location = browser.authorize(&[("client_id", &client_id), ("response_type", "code"), ("scope", "user")]).await;
    let code = query_pairs(&location).into_iter().find(|(k, _)| k == "code").expect("a code").1;
    let exchange = |grant: Vec<(&'static str, String)>| {
        let mut browser = env.browser();
        let (client_id, secret) = (client_id.clone(), secret.clone());
        async move {
            let form: Vec<(&str, &str)> = grant.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post_client("/oauth/token", Some((&client_id, &secret)), &form).await
        }
    };
    let tokens = exchange(vec![("grant_type", "authorization_code".into()), ("code", code.clone())]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let refresh = tokens.json()["refresh_token"].as_str().unwrap().to_owned();
    let again = exchange(vec![("grant_type", "authorization_code".into()), ("code", code)]).await;
    assert_eq!(again.status, 400, "the code was taken from the TLS cache once: {}", again.body);
    let rotated = exchange(vec![("grant_type", "refresh_token".into()), ("refresh_token", refresh)]).await;
    assert_eq!(rotated.status, 400, "a replayed code revoked the grant, refresh token included: {}", rotated.body);
}

/// Why opening the cache at `url` failed; a panic when it did not.
async fn refused(url: &str, tls: CacheTls) -> String {
    match open(url, tls).await {
        Ok(_) => panic!("the cache at {url} opened"),
        Err(reason) => reason,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_codes_and_tokens_live_in_a_redis_that_speaks_only_tls_and_asks_for_a_client_certificate() {
    let files = Files::of("gatehouse-redis-tls", &pki("redis"));
    let mut redis = OwnRedis::start_tls(&files, true).await;
    let env = TestEnv::builder().cache_url(redis.tls_url()).cache_tls(tls_of(&files, true)).start().await;
    sign_in_exchange_and_replay(&env, "tls-person").await;

    // The deployment's cache is this server and no other: with it gone, the cache is gone.
    env.kv.ping().await.expect("the cache answers over TLS");
    redis.stop();
    assert!(env.kv.ping().await.is_err(), "the deployment's cache was the TLS server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_certificate_of_another_ca_or_a_missing_client_certificate_stops_the_start_with_the_reason() {
    let files = Files::of("gatehouse-redis-tls", &pki("redis"));
    let redis = OwnRedis::start_tls(&files, true).await;
    let other = Files::of("gatehouse-redis-other", &pki("other"));

    // The server's certificate is checked: a CA that did not sign it is refused.
    let other_ca = refused(&redis.tls_url(), tls_of(&other, false)).await;
    assert!(other_ca.contains("cache: connecting to localhost:"), "names the cache and where: {other_ca}");
    assert!(other_ca.to_lowercase().contains("certificate"), "says it is the certificate: {other_ca}");
    // The system's roots do not know a deployment's own CA either.
    let unknown = refused(&redis.tls_url(), CacheTls::default()).await;
    assert!(unknown.to_lowercase().contains("certificate"), "{unknown}");
    // The right CA but no client certificate, where the server asks for one.
    let anonymous = refused(&redis.tls_url(), tls_of(&files, false)).await;
    assert!(anonymous.contains("cache: connecting to localhost:"), "{anonymous}");
    // A CA file that is not there is named.
    let missing = CacheTls { ca_file: Some("/nonexistent/ca.pem".into()), client: None };
    let missing = refused(&redis.tls_url(), missing).await;
    assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
    // TLS settings with a plain URL are a mistake, not ignored.
    let plain = refused("redis://127.0.0.1:1/", tls_of(&files, false)).await;
    assert!(plain.contains("rediss://"), "{plain}");
    // And with everything right, it works.
    let kv = open(&redis.tls_url(), tls_of(&files, true)).await.expect("the right CA and certificate");
    kv.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_runs_on_a_postgres_that_admits_only_tls_verified_in_full() {
    let files = Files::of("gatehouse-pg-tls", &pki("postgres"));
    let postgres = OwnPostgres::start_tls(&files);
    let url = postgres.tls_url(&files.path("ca.pem"));
    let env = TestEnv::builder().database_url(url.clone()).start().await;
    sign_in_exchange_and_replay(&env, "pg-tls-person").await;

    // The server admits nothing else: without TLS it refuses the connection.
    let plain = format!("{}?sslmode=disable", postgres.url());
    let refused = gatehouse_runtime::database::connect(&plain, 1).await.err().map(|e| e.to_string());
    assert!(refused.is_some(), "a connection without TLS is refused by the server");
    // And Gatehouse admits no other server: a certificate another CA signed is refused.
    let other = Files::of("gatehouse-pg-other", &pki("other"));
    let wrong = gatehouse_runtime::database::connect(&postgres.tls_url(&other.path("ca.pem")), 1).await;
    let wrong = wrong.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(wrong.to_lowercase().contains("certificate"), "says it is the certificate: {wrong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_follows_a_sentinel_failover_without_a_restart() {
    let mut group = SentinelGroup::start().await;
    let kv = open(&group.url(), CacheTls::default()).await.expect("the sentinels name the master");
    kv.set("before", b"1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(SentinelGroup::role(group.replica.port), "slave");

    // The master dies; the sentinels promote the replica; the same cache
    // value, never reopened, writes to the new master.
    group.master.stop();
    let killed = Instant::now();
    until(Duration::from_secs(30), "a write succeeds on the promoted replica", || {
        let kv = kv.clone();
        async move { kv.set("after", b"2", Duration::from_secs(60)).await.is_ok() }
    })
    .await;
    let recovered = killed.elapsed();
    assert_eq!(SentinelGroup::role(group.replica.port), "master", "the write went to the promoted replica");
    assert_eq!(kv.get("after").await.unwrap().as_deref(), Some(&b"2"[..]));
    eprintln!("the cache wrote again {} ms after its master was killed", recovered.as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_codes_and_tokens_live_in_a_redis_cluster() {
    let env = TestEnv::builder().cache_url(test_kv_url(CacheBackend::Cluster)).start().await;
    sign_in_exchange_and_replay(&env, "cluster-person").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_that_speaks_only_tls_is_used_with_its_ca_and_refused_with_another() {
    let files = Files::of("gatehouse-cluster-tls", &pki("redis-cluster"));
    let cluster = RedisCluster::start_tls(&files).await;
    let env = TestEnv::builder().cache_url(cluster.url()).cache_tls(tls_of(&files, false)).start().await;
    sign_in_exchange_and_replay(&env, "cluster-tls-person").await;
    // Another CA's certificate, or the system's roots: refused at start, with the reason.
    let other = Files::of("gatehouse-cluster-other", &pki("other"));
    let wrong = refused(&cluster.url(), tls_of(&other, false)).await;
    assert!(wrong.contains("cache: connecting to the cluster at 127.0.0.1:"), "names the cluster: {wrong}");
    let plain = refused(&cluster.url().replace("rediss+", "redis+"), CacheTls::default()).await;
    assert!(plain.contains("cache:"), "a plain connection to TLS nodes fails: {plain}");
}

/// The prefix the tests below give the cache, to find where a key lives.
const PREFIX: &str = "tls-test:";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_survives_a_cluster_master_failover() {
    let mut cluster = RedisCluster::start().await;
    let kv = open(&cluster.url(), CacheTls::default()).await.expect("the seeds give the slot map");
    // A code and its marker, on the master about to die.
    kv.set("authz:code:{abc}", b"record", Duration::from_secs(60)).await.unwrap();
    let master = cluster.master_of(&format!("{PREFIX}authz:code:{{abc}}"));
    cluster.wait_replicated(master).await;

    cluster.nodes[master].stop();
    let killed = Instant::now();
    // Writes and the take-and-mark script reach the promoted replica; the
    // same cache value, never reopened.
    until(Duration::from_secs(30), "a write succeeds on the promoted replica", || {
        let kv = kv.clone();
        async move { kv.set("authz:code-used:{abc}-probe", b"1", Duration::from_secs(60)).await.is_ok() }
    })
    .await;
    let recovered = killed.elapsed();
    let taken = kv.take_and_mark("authz:code:{abc}", "authz:code-used:{abc}", b"m", Duration::from_secs(60)).await;
    assert_eq!(taken.unwrap(), gatehouse_runtime::kv::Taken::Value(b"record".to_vec()), "the replica had the code");
    assert_ne!(cluster.master_of(&format!("{PREFIX}authz:code:{{abc}}")), master, "another node serves the slot");
    eprintln!("the cluster cache wrote again {} ms after a master was killed", recovered.as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_taken_once_while_their_slots_migrate() {
    use gatehouse_runtime::kv::Taken;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let cluster = RedisCluster::start().await;
    let kv = open(&cluster.url(), CacheTls::default()).await.expect("the seeds give the slot map");
    let ttl = Duration::from_secs(120);
    let codes: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new((0..3000).map(|n| format!("authz:code:{{{n}}}")).collect());
    let entries: Vec<_> = codes.iter().map(|c| (c.clone(), b"record".to_vec(), ttl)).collect();
    kv.set_many(&entries).await.unwrap();
    let from = cluster.master_of(&format!("{PREFIX}{}", codes[0]));
    let to = (0..cluster.nodes.len()).find(|i| *i != from && cluster.is_master(*i)).unwrap();

    // While 3000 of the 16384 slots move (keys MIGRATEd, clients sent ASK and
    // then MOVED), two takers race for each code in turn: each code is taken
    // exactly once and the other taker sees the marker; a call that fails
    // meanwhile is retried, as Gatehouse's callers retry a 503.
    let moving = AtomicBool::new(true);
    let moving = std::sync::Arc::new(moving);
    let reshard = cluster.reshard(from, to, 3000);
    let mover = {
        let moving = moving.clone();
        tokio::task::spawn_blocking(move || {
            reshard();
            moving.store(false, Ordering::SeqCst);
        })
    };
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let (during, retried) = (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (kv, codes, next, moving) = (kv.clone(), codes.clone(), next.clone(), moving.clone());
        let (during, retried) = (during.clone(), retried.clone());
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            while moving.load(Ordering::SeqCst) {
                let Some(code) = codes.get(next.fetch_add(1, Ordering::SeqCst)) else { break };
                let marker = code.replace("authz:code:", "authz:code-used:");
                let take = || async {
                    for _ in 0..100 {
                        match kv.take_and_mark(code, &marker, b"m", ttl).await {
                            Ok(taken) => return taken,
                            Err(_) => {
                                retried.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                    panic!("{code}: the cache never answered during the migration");
                };
                let (first, second) = tokio::join!(take(), take());
                if moving.load(Ordering::SeqCst) {
                    during.fetch_add(1, Ordering::SeqCst);
                }
                outcomes.push((code.clone(), [first, second]));
            }
            outcomes
        });
    }
    let mut taken = 0;
    while let Some(outcomes) = workers.join_next().await {
        for (code, pair) in outcomes.unwrap() {
            let won = pair.iter().filter(|t| matches!(t, Taken::Value(_))).count();
            let marked = pair.iter().filter(|t| matches!(t, Taken::Marked(_))).count();
            assert_eq!((won, marked), (1, 1), "{code}: {pair:?}");
            taken += 1;
        }
    }
    mover.await.unwrap();
    let during = during.load(Ordering::SeqCst);
    assert!(during > 0, "codes were taken while the slots moved");
    eprintln!(
        "{taken} codes taken once each, {during} of them while 3000 slots moved; {} calls retried",
        retried.load(Ordering::SeqCst)
    );
}

#[test]
fn sentinel_urls_that_cannot_work_are_refused_before_any_connection() {
    let refused = |url: &str| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(open(url, CacheTls::default())).err()
    };
    for url in ["redis+sentinel://127.0.0.1:1", "redis+sentinel://127.0.0.1:port/m"] {
        let reason = refused(url).expect("refused");
        assert!(reason.contains("cache:"), "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_session_attrs_read_write_refuses_a_standby_until_it_is_promoted() {
    let primary = OwnPostgres::start();
    let standby = OwnPostgres::start_standby_of(&primary);
    let wanting_primary = format!("{}?target_session_attrs=read-write", standby.url());

    // A standby answers reads, but a pool that writes must not hold it.
    gatehouse_runtime::database::connect(&standby.url(), 1).await.expect("any server will do without the setting");
    let refused = gatehouse_runtime::database::connect(&wanting_primary, 1).await.err().map(|e| e.to_string());
    let refused = refused.expect("a standby is refused with target_session_attrs=read-write");
    assert!(refused.contains("read-only"), "says why: {refused}");

    // Given both hosts, the writable one is found whichever comes first,
    // and a host that does not answer is passed over.
    let both = format!(
        "postgres://postgres@127.0.0.1:1,127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        standby.port, primary.port
    );
    let db = gatehouse_runtime::database::connect(&both, 1).await.expect("the primary is among the hosts");
    db.execute_unprepared("CREATE TABLE found (id int)").await.expect("a write on the primary");
    let only_standby =
        format!("postgres://postgres@127.0.0.1:1,127.0.0.1:{}/postgres?target_session_attrs=read-write", standby.port);
    let refused = gatehouse_runtime::database::connect(&only_standby, 1).await.err().map(|e| e.to_string());
    let refused = refused.expect("no host accepts writes");
    assert!(refused.contains("127.0.0.1:1") && refused.contains("read-only"), "says why, host by host: {refused}");
    // Several hosts without asking for the writable one: refused, not a guess.
    let unasked = format!("postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres", standby.port, primary.port);
    let refused = gatehouse_runtime::database::connect(&unasked, 1).await.err().map(|e| e.to_string());
    assert!(refused.is_some_and(|r| r.contains("target_session_attrs=read-write")));

    // Promoted, the same URL connects and writes.
    standby.promote();
    let db =
        gatehouse_runtime::database::connect(&wanting_primary, 1).await.expect("the promoted standby admits writes");
    db.execute_unprepared("CREATE TABLE promoted (id int)").await.expect("a write on the new primary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_follows_the_primary_to_a_promoted_standby_and_is_unready_in_between() {
    let primary = OwnPostgres::start();
    let standby = OwnPostgres::start_standby_of(&primary);
    primary.require_sync_standby();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let db = gatehouse_runtime::database::connect(&url, 4).await.expect("the primary answers");
    db.execute_unprepared("CREATE TABLE followed (id int)").await.unwrap();

    // No host accepts writes: not ready (what readiness asks), by itself.
    primary.stop_hard();
    until(Duration::from_secs(10), "the pool reports the database gone", || async {
        !gatehouse_runtime::database::ping(&db).await
    })
    .await;
    tokio::task::block_in_place(|| standby.promote());
    let promoted = Instant::now();
    until(Duration::from_secs(10), "writes reach the promoted standby", || async {
        db.execute_unprepared("INSERT INTO followed VALUES (1)").await.is_ok()
    })
    .await;
    eprintln!("the pool wrote to the promoted standby {} ms after the promotion", promoted.elapsed().as_millis());
    assert!(gatehouse_runtime::database::ping(&db).await, "ready again");

    // The old primary back as a standby: read-only, never taken again.
    tokio::task::block_in_place(|| primary.rejoin_as_standby_of(&standby));
    for n in 0..20 {
        db.execute_unprepared(&format!("INSERT INTO followed VALUES ({n})"))
            .await
            .expect("writes stay on the new primary");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_database_password_is_read_from_its_file_without_a_restart() {
    let postgres = OwnPostgres::start_with_passwords();
    let dir = std::env::temp_dir().join(format!("gatehouse-pw-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "password\n").unwrap();
    // No password in the URL: it comes from the file.
    let url = postgres.url();
    let db = gatehouse_runtime::database::connect_with(&url, Some(&file), 2).await.expect("the file's password");
    db.execute_unprepared("CREATE TABLE rotated (id int)").await.unwrap();
    let wrong = dir.join("wrong");
    std::fs::write(&wrong, "not it").unwrap();
    let refused = gatehouse_runtime::database::connect_with(&url, Some(&wrong), 1).await.err().map(|e| e.to_string());
    assert!(refused.is_some_and(|r| r.contains("password")), "a wrong password is refused, and said so");

    // The password rotates on the server; the pool's connections are cut.
    postgres.sql("ALTER ROLE postgres PASSWORD 'rotated'");
    postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
    until(Duration::from_secs(10), "the old password no longer opens connections", || async {
        db.execute_unprepared("INSERT INTO rotated VALUES (0)").await.is_err()
    })
    .await;
    // The Secret is updated (the mounted file rewritten): new connections use it.
    std::fs::write(&file, "rotated\n").unwrap();
    let rewritten = Instant::now();
    until(Duration::from_secs(10), "the new password opens connections", || async {
        db.execute_unprepared("INSERT INTO rotated VALUES (1)").await.is_ok()
    })
    .await;
    eprintln!("writes resumed {} ms after the password file was rewritten", rewritten.elapsed().as_millis());
    let _ = std::fs::remove_dir_all(&dir);
}
