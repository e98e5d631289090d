//! A gRPC service that is down makes the gateway answer 503 with
//! `Retry-After` in each surface's format, quickly, never a hang or a 500.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use tokio::net::TcpListener;

/// A gateway whose services all point at a closed port.
async fn gateway_without_services() -> String {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let channel = || gatehouse_gateway::channel(&format!("http://{closed}"), Duration::from_secs(2)).unwrap();
    let upstreams = gatehouse_upstream::Upstreams { registry: channel(), authorization: channel(), token: channel() };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = gatehouse_gateway::GatewayConfig { issuer: url.clone(), ..Default::default() };
    let gateway = gatehouse_gateway::build(config, upstreams);
    tokio::spawn(gatehouse_gateway::serve(gateway, listener, std::future::pending()));
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_surface_answers_503_with_retry_after() {
    let base = gateway_without_services().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let token = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("c", Some("s"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 503);
    assert!(token.headers().contains_key("retry-after"));
    let body: serde_json::Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    let seed = http
        .get(format!("{base}/api/oauth/access_token?client_id=c&client_secret=s&grant_type=client_credentials"))
        .send()
        .await
        .unwrap();
    assert_eq!(seed.status(), 503);
    assert!(seed.headers().contains_key("retry-after"));
    let body: serde_json::Value = seed.json().await.unwrap();
    assert_eq!(body["code"], 1);

    let me = http.get(format!("{base}/api/current_user?access_token=gat_x")).send().await.unwrap();
    assert_eq!(me.status(), 503);
    assert!(me.headers().get("www-authenticate").is_none(), "an outage is not a token problem");

    let page = http.get(format!("{base}/oauth/authorize?client_id=c&response_type=code")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.headers().get("location").is_none());

    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let live = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200, "liveness does not depend on the services");
}
