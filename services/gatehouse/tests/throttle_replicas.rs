//! Throttles across two replicas sharing PostgreSQL and Redis, behind a
//! trusted proxy: parallel bursts split over both gateways get no more
//! attempts to the work (argon2, a secret check, an account insert) than the
//! limit, and a client rotating what it writes into `X-Forwarded-For` is
//! still counted as itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::{Child, Command};

use gatehouse_tests::process::Logs;
use gatehouse_tests::{Backend, TestDatabase};

mod support;

use support::BIN;

/// One `gatehouse serve all` replica; killed on drop.
struct Replica {
    child: Child,
    gateway: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica(settings: &[(&'static str, String)]) -> Replica {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "all"])
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(
            ["REGISTRY", "AUTHORIZATION", "TOKEN", "GATEWAY", "METRICS"]
                .map(|part| (format!("GATEHOUSE_{part}_LISTEN"), "127.0.0.1:0")),
        )
        // The proxy in front is loopback: its hops are believed, nobody else's.
        .env("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.0/8");
    let mut serving = gatehouse_tests::process::serve(command, &["gateway", "metrics"], Logs::Quiet);
    let gateway = serving.urls.remove("gateway").unwrap();
    Replica { child: serving.child, gateway }
}

async fn two_replicas() -> (TestDatabase, [Replica; 2]) {
    let database = TestDatabase::create(Backend::Postgres).await;
    let settings = support::shared_settings(database.url(), support::redis_url());
    // One after the other: the first applies the migrations.
    let first = replica(&settings);
    let second = replica(&settings);
    (database, [first, second])
}

/// The sign-in form's CSRF pair (cookie and field), fetched once.
async fn login_form(http: &reqwest::Client, gateway: &str) -> (String, String) {
    let page = http.get(format!("{gateway}/login")).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("gatehouse_form="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let body = page.text().await.unwrap();
    let field = body.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    (cookie, field)
}

/// Statuses of `count` requests sent at once, alternating between the replicas.
async fn burst<F, Fut>(count: usize, send: F) -> Vec<u16>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let tasks: Vec<_> = (0..count).map(|i| tokio::spawn(send(i))).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// A POST as the proxy in front forwards it: `X-Forwarded-For` is what the
/// client sent plus the hop the proxy wrote.
fn forwarded(http: &reqwest::Client, url: String, hops: String) -> reqwest::RequestBuilder {
    http.post(url).header("x-forwarded-for", hops)
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

fn tally(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_bursts_over_two_replicas_reach_the_work_no_more_than_the_limit() {
    let (_database, replicas) = two_replicas().await;
    let gateways = [replicas[0].gateway.clone(), replicas[1].gateway.clone()];
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Sign-ups: 10 per address an hour, every attempt counted, whatever the
    // client prepends to X-Forwarded-For.
    let (cookie, csrf) = login_form(&http, &gateways[0]).await;
    let statuses = burst(30, |i| {
        let (http, gateway, cookie, csrf) = (http.clone(), gateways[i % 2].clone(), cookie.clone(), csrf.clone());
        async move {
            let form = [
                ("username", format!("user{i}")),
                ("email", format!("user{i}@example.com")),
                ("password", gatehouse_tests::TEST_PASSWORD.to_owned()),
                ("csrf_token", csrf),
            ];
            let hops = format!("198.18.0.{i}, 203.0.113.50");
            status(forwarded(&http, format!("{gateway}/signup"), hops).header("cookie", cookie).form(&form)).await
        }
    })
    .await;
    assert_eq!(tally(&statuses, 303), 10, "10 accounts made, then refused: {statuses:?}");
    assert_eq!(tally(&statuses, 429), 20, "{statuses:?}");

    // Wrong passwords for one account from one address: 5 reach argon2.
    let statuses = burst(40, |i| {
        let (http, gateway, cookie, csrf) = (http.clone(), gateways[i % 2].clone(), cookie.clone(), csrf.clone());
        async move {
            let form = [("username", "user0".to_owned()), ("password", format!("wrong-{i}")), ("csrf_token", csrf)];
            let hops = format!("198.18.1.{i}, 203.0.113.60");
            status(forwarded(&http, format!("{gateway}/login"), hops).header("cookie", cookie).form(&form)).await
        }
    })
    .await;
    assert_eq!(tally(&statuses, 401), 5, "5 checks judged, the rest refused before the work: {statuses:?}");
    assert_eq!(tally(&statuses, 429), 35, "{statuses:?}");

    // Client secrets guessed at the token endpoint: 20 per (client, address).
    let guess = |gateway: &str, secret: String, hops: String| {
        let request = forwarded(&http, format!("{gateway}/oauth/token"), hops);
        status(request.basic_auth("some-client", Some(secret)).form(&[("grant_type", "client_credentials")]))
    };
    let statuses =
        burst(60, |i| guess(&gateways[i % 2], format!("guess-{i}"), format!("198.18.2.{i}, 203.0.113.70"))).await;
    assert_eq!(tally(&statuses, 401), 20, "20 secrets checked, the rest refused before the check: {statuses:?}");
    assert_eq!(tally(&statuses, 429), 40, "{statuses:?}");

    // Someone else, through the same proxy, is not affected.
    assert_eq!(guess(&gateways[1], "guess".to_owned(), "203.0.113.71".to_owned()).await, 401);
}
