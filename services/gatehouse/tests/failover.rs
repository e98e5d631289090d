//! Scaling out: Gatehouse in its production shape (one process per part,
//! PostgreSQL, Redis) with two authorization and two token services behind
//! one gateway. Under a steady load of client_credentials requests and full
//! code flows, one replica of each is killed (SIGKILL: a crash), then
//! restarted, then the other replica of each is stopped with SIGTERM. The
//! gateway and the token services balance over every replica; the test shows
//! that the crash costs at most a bounded number of 503s (each with
//! Retry-After: the calls in flight on the dead replicas; refused calls are
//! sent to the live ones) and none after a few moments, that the restarted
//! replicas carry the load again, that a SIGTERM loses no request, and that
//! every token a client received is still valid at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gatehouse_proto::pb::token::v1 as token_pb;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use gatehouse_tests::{Backend, Browser, TEST_PASSWORD, TestDatabase};
use tokio::sync::Mutex;

mod support;

use support::{BIN, Deployment, Part, REDIRECT, free_port, served, wait_serving};

/// What one request of the load ended with.
#[derive(Debug)]
struct Outcome {
    at: Instant,
    /// The access token on success; the status and body otherwise.
    result: Result<String, (u16, bool, String)>,
}

#[derive(Default)]
struct Record {
    outcomes: Vec<Outcome>,
}

impl Record {
    fn failures_between(&self, from: Instant, to: Instant) -> Vec<&Outcome> {
        self.outcomes.iter().filter(|o| o.at >= from && o.at < to && o.result.is_err()).collect()
    }

    fn successes_between(&self, from: Instant, to: Instant) -> usize {
        self.outcomes.iter().filter(|o| o.at >= from && o.at < to && o.result.is_ok()).count()
    }

    /// When the first run of `n` successes in a row after `from` began.
    fn steady_since(&self, from: Instant, n: usize) -> Option<Instant> {
        let mut run: Option<(Instant, usize)> = None;
        for outcome in self.outcomes.iter().filter(|o| o.at >= from) {
            run = match (outcome.result.is_ok(), run) {
                (false, _) => None,
                (true, None) => Some((outcome.at, 1)),
                (true, Some((start, count))) => Some((start, count + 1)),
            };
            if let Some((start, count)) = run
                && count >= n
            {
                return Some(start);
            }
        }
        None
    }
}

/// Waits until `condition` holds on what the clients saw, or fails after a
/// generous bound (the bound only keeps a broken run from hanging; the
/// assertions are on the outcomes, not on time).
async fn until(record: &Mutex<Record>, what: &str, condition: impl Fn(&Record) -> bool) {
    gatehouse_tests::until(Duration::from_secs(60), what, || async { condition(&*record.lock().await) }).await;
}

/// Successes in a row that count as "the callers are steady again".
const STEADY: usize = 30;

async fn token_request(http: &reqwest::Client, url: &str, basic: (&str, &str), form: &[(&str, &str)]) -> Outcome {
    let response = http.post(url).basic_auth(basic.0, Some(basic.1)).form(form).send().await;
    let result = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            match body["access_token"].as_str() {
                Some(token) if status == 200 => Ok(token.to_owned()),
                _ => Err((status, retry_after, body.to_string())),
            }
        }
        Err(error) => Err((0, false, error.to_string())),
    };
    Outcome { at: Instant::now(), result }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_balances_over_replicas_and_survives_losing_one_of_each() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let [gateway_port, a1, a2, t1, t2] = [free_port(), free_port(), free_port(), free_port(), free_port()];
    let registry_port = free_port();
    let list = |ports: [u16; 2]| format!("http://127.0.0.1:{},http://127.0.0.1:{}", ports[0], ports[1]);
    let mut env = support::shared_settings(database.url(), support::redis_url());
    env.extend([
        ("GATEHOUSE_ISSUER", format!("http://127.0.0.1:{gateway_port}")),
        ("GATEHOUSE_REGISTRY_URL", format!("http://127.0.0.1:{registry_port}")),
        ("GATEHOUSE_AUTHORIZATION_URL", list([a1, a2])),
        ("GATEHOUSE_TOKEN_URL", list([t1, t2])),
        ("GATEHOUSE_SHUTDOWN_DELAY_SECS", "3".to_owned()),
    ]);
    let deployment = Deployment::new(env);
    let migrate =
        Command::new(BIN).arg("migrate").envs(deployment.env.iter().map(|(k, v)| (*k, v.as_str()))).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));

    let listen = |variable: &'static str, port: u16| vec![(variable, format!("127.0.0.1:{port}"))];
    let _registry = Part::start(&deployment, "registry", &listen("GATEHOUSE_REGISTRY_LISTEN", registry_port));
    let authorization =
        |port| Part::start(&deployment, "authorization", &listen("GATEHOUSE_AUTHORIZATION_LISTEN", port));
    let token = |port| Part::start(&deployment, "token", &listen("GATEHOUSE_TOKEN_LISTEN", port));
    let (mut a1_part, a2_part, mut t1_part, t2_part) = (authorization(a1), authorization(a2), token(t1), token(t2));
    let _gateway = Part::start(&deployment, "gateway", &listen("GATEHOUSE_GATEWAY_LISTEN", gateway_port));
    for port in [registry_port, a1, a2, t1, t2] {
        wait_serving(port).await;
    }

    // A user, and an application allowed every grant.
    let (client_id, secret) = support::alice_and_her_app(&deployment, registry_port).await;

    let base = format!("http://127.0.0.1:{gateway_port}");
    let token_url = format!("{base}/oauth/token");
    let record = Arc::new(Mutex::new(Record::default()));
    let running = Arc::new(AtomicBool::new(true));
    let mut workers = tokio::task::JoinSet::new();
    // client_credentials: the gateway → token service → registry path.
    for _ in 0..3 {
        let (record, running, url) = (record.clone(), running.clone(), token_url.clone());
        let (id, secret) = (client_id.clone(), secret.clone());
        workers.spawn(async move {
            let http = reqwest::Client::new();
            while running.load(Ordering::Relaxed) {
                let outcome = token_request(&http, &url, (&id, &secret), &[("grant_type", "client_credentials")]).await;
                record.lock().await.outcomes.push(outcome);
            }
        });
    }
    // Full code flows: the gateway → authorization service, then the token
    // service → authorization service (RedeemCode).
    for _ in 0..2 {
        let (record, running, url, base) = (record.clone(), running.clone(), token_url.clone(), base.clone());
        let (id, secret) = (client_id.clone(), secret.clone());
        workers.spawn(async move {
            let mut browser = Browser::new(base);
            browser.login("alice", TEST_PASSWORD).await;
            let http = reqwest::Client::new();
            let params =
                [("client_id", id.as_str()), ("response_type", "code"), ("redirect_uri", REDIRECT), ("scope", "user")];
            while running.load(Ordering::Relaxed) {
                let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
                let page = browser.get(&format!("/oauth/authorize?{query}")).await;
                let code = match page.status {
                    303 => gatehouse_tests::query_pairs(page.location()).into_iter().find(|(k, _)| k == "code"),
                    _ => None,
                };
                let outcome = match (page.status, code) {
                    (_, Some((_, code))) => {
                        let form =
                            [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
                        token_request(&http, &url, (&id, &secret), &form).await
                    }
                    (200, None) => {
                        // The first time only: the consent page.
                        browser.authorize(&params).await;
                        continue;
                    }
                    (status, None) => Outcome {
                        at: Instant::now(),
                        result: Err((status, page.header("retry-after").is_some(), page.body.clone())),
                    },
                };
                record.lock().await.outcomes.push(outcome);
            }
        });
    }

    // 1. Everything up, until every replica took a share: the callers
    // balance per call, not per connection.
    let started = Instant::now();
    gatehouse_tests::until(Duration::from_secs(60), "every replica serves", || async {
        let mut used = true;
        for part in [&a1_part, &a2_part] {
            used &= served(&part.metrics_url, "BeginAuthorization").await > 0;
            used &= served(&part.metrics_url, "RedeemCode").await > 0;
        }
        for part in [&t1_part, &t2_part] {
            used &= served(&part.metrics_url, "Exchange").await > 0;
        }
        used
    })
    .await;

    // 2. A crash of one replica of each.
    let killed = Instant::now();
    a1_part.kill();
    t1_part.kill();
    // The callers take the dead replicas out; they are steady again once a
    // run of requests in a row succeeds on the survivors alone.
    until(&record, "steady on the surviving replicas", |r| r.steady_since(killed, STEADY).is_some()).await;
    let steady = record.lock().await.steady_since(killed, STEADY).expect("steady");
    println!("the crash cost {} ms of refusals", steady.duration_since(killed).as_millis());

    // 3. They come back on the same addresses.
    a1_part = authorization(a1);
    t1_part = token(t1);
    wait_serving(a1).await;
    wait_serving(t1).await;
    // Ready once the callers use them again: the gateway and both token
    // services (the restarted processes count from zero).
    gatehouse_tests::until(Duration::from_secs(20), "the restarted replicas are used again", || async {
        served(&a1_part.metrics_url, "BeginAuthorization").await > 0
            && served(&a1_part.metrics_url, "RedeemCode").await > 0
            && served(&t1_part.metrics_url, "Exchange").await > 0
    })
    .await;

    // 4. The other replicas leave the way Kubernetes stops a pod.
    let terminated = Instant::now();
    let exits = [a2_part.terminate(), t2_part.terminate()];
    for exit in exits {
        let status = tokio::task::spawn_blocking(move || exit.join().unwrap()).await.unwrap();
        assert!(status.success(), "a SIGTERM ends with exit 0, got {status}");
    }
    until(&record, "requests served after the SIGTERMs", |r| r.successes_between(terminated, Instant::now()) > 5).await;
    let ended = Instant::now();
    running.store(false, Ordering::Relaxed);
    while workers.join_next().await.is_some() {}

    let record = record.lock().await;
    let total = record.outcomes.len();
    let failures = record.outcomes.iter().filter(|o| o.result.is_err()).count();
    println!("{total} requests, {failures} failed");

    let before = record.failures_between(started, killed);
    assert!(before.is_empty(), "no failure while every replica runs: {before:?}");
    // The crash: calls that reached a dead replica before the next refresh
    // took it out are refused with 503 + Retry-After, never another error.
    let window = record.steady_since(killed, STEADY).expect("steady after the crash");
    for outcome in record.failures_between(killed, window) {
        let (status, retry_after, body) = outcome.result.as_ref().unwrap_err();
        assert!(*status == 503 && *retry_after, "a crash shows as 503 with Retry-After, got {status}: {body}");
        // OAuth JSON from the token endpoint, the HTML error page from /oauth/authorize.
        assert!(body.contains("temporarily_unavailable") || body.contains("<title>Temporarily unavailable"), "{body}");
    }
    let after_crash = record.failures_between(window, terminated);
    assert!(after_crash.is_empty(), "once out of use, the dead replicas stay out: {after_crash:?}");
    assert!(record.successes_between(window, terminated) >= STEADY, "the surviving replicas carry the load");
    // The restarted replicas are the only ones left once SIGTERM ends the
    // others: every request in that phase went to them, and none failed.
    let during_stop = record.failures_between(terminated, ended);
    assert!(during_stop.is_empty(), "a SIGTERM loses no request: {during_stop:?}");
    assert!(record.successes_between(terminated, ended) > 5, "the restarted replicas serve");

    // No lost tokens: every access token a client received is active.
    let tokens: Vec<String> = record.outcomes.iter().filter_map(|o| o.result.as_ref().ok().cloned()).collect();
    let mut introspect = TokenServiceClient::new(deployment.grpc(t1, "validator").await);
    for chunk in tokens.chunks(100) {
        let answer = introspect
            .batch_introspect(token_pb::BatchIntrospectRequest {
                requests: chunk
                    .iter()
                    .map(|token| token_pb::IntrospectRequest { token: token.clone(), ..Default::default() })
                    .collect(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(answer.results.iter().all(|r| r.active), "a token a client received is no longer active");
    }
    drop((a1_part, t1_part));
}
