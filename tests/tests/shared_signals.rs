//! The Shared Signals transmitter, tried by receivers that are not ours:
//! `tests/python/ssf_receiver.py` (Python's HTTPS server, `requests`,
//! `joserfc`) subscribes, verifies its stream, and checks every SET's
//! signature against the JWKS, its `typ`, `iss`, `aud` and shape. Each
//! event kind follows the action that causes it, on the stream of the
//! application whose user it concerns and no other; a push receiver that
//! is down for a while gets everything afterwards, once each, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gatehouse_oauth::GrantType;
use gatehouse_proto::pb::common::v1::User;
use gatehouse_runtime::access::Role;
use gatehouse_tests::{
    AppSpec, Backend, Browser, CALLBACK, TEST_PASSWORD, TestEnv, TestEnvBuilder, eventually, register_application,
    until,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::{Value, json};

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const CREDENTIAL_CHANGE: &str = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const ACCOUNT_PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const WAIT: Duration = Duration::from_secs(20);

/// A receiver's application: its id and secret.
#[derive(Debug, Clone)]
struct Receiver {
    client_id: String,
    secret: String,
}

/// A TLS certificate for the push endpoint, its key, and the CA's DER.
struct PushTls {
    dir: PathBuf,
    ca: rustls_pki_types::CertificateDer<'static>,
}

impl PushTls {
    fn new() -> Self {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "SSF receiver CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
        let dir = std::env::temp_dir().join(format!("ssf-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
        Self { dir, ca: ca.der().clone() }
    }
}

impl Drop for PushTls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `ssf_receiver.py`, killed when dropped.
struct ReceiverProcess {
    child: Child,
    out: PathBuf,
}

impl Drop for ReceiverProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ReceiverProcess {
    /// Starts the receiver (`delivery`: `--poll`, or `--push URL ...`) and waits until its stream is verified.
    async fn start(env: &TestEnv, app: &Receiver, out: &Path, delivery: &[String]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/ssf_receiver.py");
        let child = Command::new("python3")
            .arg(script)
            .args(["--issuer", &env.gateway_url(), "--client-id", &app.client_id, "--client-secret", &app.secret])
            .arg("--out")
            .arg(out)
            .args(delivery)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (tests/tools.sh installs requests and joserfc)");
        let readies = |out: &Path| lines(out).iter().filter(|line| line.get("ready").is_some()).count();
        let before = readies(out);
        let mut process = Self { child, out: out.to_owned() };
        let ready = || {
            let now = readies(out);
            async move { now > before }
        };
        eventually(Duration::from_secs(40), "the receiver's stream is verified", || {
            let exited = process.child.try_wait().ok().flatten();
            assert!(exited.is_none(), "the receiver exited: {exited:?}");
            let ready = ready();
            async move { ready.await.then_some(()) }
        })
        .await;
        process
    }

    /// The SETs received so far (not the ready lines), in the order received.
    fn events(&self) -> Vec<Value> {
        lines(&self.out).into_iter().filter(|line| line.get("jti").is_some()).collect()
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// (event type, user id) of each signal, verification events left out.
fn signals(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] != VERIFICATION)
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["sub_id"]["sub"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

async fn receiver_app(env: &TestEnv, owner: &str) -> Receiver {
    let owner = env.create_user(owner).await;
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];
    let spec = AppSpec {
        name: "Signals receiver",
        grants: &grants,
        scopes: &["user", "ssf.manage", "ssf.read"],
        ..AppSpec::default()
    };
    let (client_id, secret) = register_application(&mut env.registry().await, &owner.id, spec).await;
    Receiver { client_id, secret }
}

/// `username` signs in and authorizes `app` (a code exchanged for tokens); the signed-in browser.
async fn user_of(env: &TestEnv, app: &Receiver, username: &str) -> (User, Browser) {
    let user = env.create_user(username).await;
    let mut browser = env.browser();
    browser.login(username, TEST_PASSWORD).await;
    let code = browser
        .authorization_code(&[
            ("client_id", &app.client_id),
            ("response_type", "code"),
            ("scope", "user"),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CALLBACK)];
    let tokens = browser.post_client("/oauth/token", Some((&app.client_id, &app.secret)), &form).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    (user, browser)
}

fn env_with_push_tls(backend: Backend, tls: &PushTls) -> TestEnvBuilder {
    let ca = tls.ca.clone();
    TestEnv::builder().backend(backend).token_config(move |config| {
        config.ssf.push.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
        config.ssf.push.extra_roots = vec![ca];
        config.ssf.push.timeout = Duration::from_secs(2);
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Each action's event reaches the stream of the application whose user it
/// concerns (push for one receiver, poll for the other), and only that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_action_reaches_its_receivers_by_push_and_poll_and_no_other() {
    let tls = PushTls::new();
    let env = env_with_push_tls(Backend::Sqlite, &tls).start().await;
    let (pusher, poller) = (receiver_app(&env, "owner1").await, receiver_app(&env, "owner2").await);
    let (alice, mut alice_browser) = user_of(&env, &pusher, "alice").await;
    let (bob, mut bob_browser) = user_of(&env, &pusher, "bob").await;
    let (carol, mut carol_browser) = user_of(&env, &poller, "carol").await;

    let port = free_port();
    let push_url = format!("https://127.0.0.1:{port}/events");
    let push_args = |dir: &Path| {
        vec![
            "--push".to_owned(),
            push_url.clone(),
            "--listen".to_owned(),
            port.to_string(),
            "--cert".to_owned(),
            dir.join("server.pem").to_string_lossy().into_owned(),
            "--key".to_owned(),
            dir.join("server.key").to_string_lossy().into_owned(),
        ]
    };
    let push = ReceiverProcess::start(&env, &pusher, &tls.dir.join("push.jsonl"), &push_args(&tls.dir)).await;
    let poll = ReceiverProcess::start(&env, &poller, &tls.dir.join("poll.jsonl"), &["--poll".to_owned()]).await;

    // Each action, then its event at its receiver.
    let expect = |process: &ReceiverProcess, expected: Vec<(&str, &str)>| {
        let got = signals(&process.events());
        let expected: Vec<(String, String)> = expected.into_iter().map(|(t, u)| (t.to_owned(), u.to_owned())).collect();
        got == expected
    };
    alice_browser.logout().await;
    until(WAIT, "alice's sign-out at the push receiver", || async {
        expect(&push, vec![(SESSION_REVOKED, &alice.id)])
    })
    .await;
    let csrf = bob_browser.get("/api/session").await.json()["data"]["csrf_token"].as_str().unwrap().to_owned();
    let path = format!("/api/authorizations/{}", pusher.client_id);
    let revoked = bob_browser.json(reqwest::Method::DELETE, &path, Some(&csrf), None).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    until(WAIT, "bob's revocation of the application", || async {
        expect(&push, vec![(SESSION_REVOKED, &alice.id), (SESSION_REVOKED, &bob.id)])
    })
    .await;
    carol_browser.logout().await;
    until(WAIT, "carol's sign-out at the poll receiver", || async {
        expect(&poll, vec![(SESSION_REVOKED, &carol.id)])
    })
    .await;
    env.clients_as(Role::Gateway).registry.delete_user(&bob.id).await.unwrap();
    until(WAIT, "bob's deletion", || async {
        expect(&push, vec![(SESSION_REVOKED, &alice.id), (SESSION_REVOKED, &bob.id), (ACCOUNT_PURGED, &bob.id)])
    })
    .await;

    // A password change through the account page: the current one is required.
    alice_browser.login("alice", TEST_PASSWORD).await;
    let form = alice_browser.get("/account/password").await;
    let csrf = form.input("csrf_token").unwrap();
    let wrong =
        [("csrf_token", csrf.as_str()), ("current_password", "not it at all"), ("new_password", "a new password 2")];
    let refused = alice_browser.post_form("/account/password", &wrong).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("current_password"), "{}", refused.body);
    let right =
        [("csrf_token", csrf.as_str()), ("current_password", TEST_PASSWORD), ("new_password", "a new password 2")];
    let changed = alice_browser.post_form("/account/password", &right).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    until(WAIT, "alice's password change", || async {
        expect(
            &push,
            vec![
                (SESSION_REVOKED, &alice.id),
                (SESSION_REVOKED, &bob.id),
                (ACCOUNT_PURGED, &bob.id),
                (CREDENTIAL_CHANGE, &alice.id),
            ],
        )
    })
    .await;
    let mut fresh = env.browser();
    fresh.login("alice", "a new password 2").await;
    env.browser().login_expecting_failure("alice", TEST_PASSWORD).await;

    // The SETs themselves: SSF's profile, one change's SETs sharing a txn.
    let events = push.events();
    for event in &events {
        assert_eq!(
            event["sub_id"]["format"],
            if event["type"] == VERIFICATION { "opaque" } else { "iss_sub" },
            "{event}"
        );
        assert!(event["txn"].as_str().is_some_and(|t| !t.is_empty()), "{event}");
    }
    let signout = &events.iter().find(|e| e["type"] == SESSION_REVOKED).unwrap()["payload"];
    assert_eq!(signout["initiating_entity"], "user");
    assert!(signout["reason_admin"]["en"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(events.iter().filter(|e| e["sub_id"]["iss"] == json!(env.gateway_url())).count(), 4);
    let change = &events.iter().find(|e| e["type"] == CREDENTIAL_CHANGE).unwrap()["payload"];
    assert_eq!((&change["credential_type"], &change["change_type"]), (&json!("password"), &json!("update")));
    // Carol is the poll receiver's only: the push receiver never heard of her, and the reverse.
    assert!(events.iter().all(|e| e["sub_id"]["sub"] != json!(carol.id)));
    assert!(poll.events().iter().all(|e| e["sub_id"]["sub"] != json!(alice.id) && e["sub_id"]["sub"] != json!(bob.id)));
}

/// The push receiver goes down: nothing else waits, its SETs wait; back
/// up, it gets every one of them once, in the order of the changes (on
/// PostgreSQL, the fault suite's database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_everything_once_in_order() {
    let tls = PushTls::new();
    let env = env_with_push_tls(Backend::Postgres, &tls).start().await;
    let (pusher, poller) = (receiver_app(&env, "owner1").await, receiver_app(&env, "owner2").await);
    let mut users = Vec::new();
    for name in ["u1", "u2", "u3", "u4", "u5"] {
        users.push(user_of(&env, &pusher, name).await);
    }
    let (carol, mut carol_browser) = user_of(&env, &poller, "carol").await;
    let port = free_port();
    let args = vec![
        "--push".to_owned(),
        format!("https://127.0.0.1:{port}/events"),
        "--listen".to_owned(),
        port.to_string(),
        "--cert".to_owned(),
        tls.dir.join("server.pem").to_string_lossy().into_owned(),
        "--key".to_owned(),
        tls.dir.join("server.key").to_string_lossy().into_owned(),
    ];
    let out = tls.dir.join("push.jsonl");
    let push = ReceiverProcess::start(&env, &pusher, &out, &args).await;
    let poll = ReceiverProcess::start(&env, &poller, &tls.dir.join("poll.jsonl"), &["--poll".to_owned()]).await;
    drop(push);

    // While it is down: five sign-outs for it, one for the poll receiver.
    for (_, browser) in &mut users {
        browser.logout().await;
    }
    carol_browser.logout().await;
    // The other receiver is not held back.
    until(WAIT, "carol's sign-out while the push receiver is down", || async {
        signals(&poll.events()) == vec![(SESSION_REVOKED.to_owned(), carol.id.clone())]
    })
    .await;
    // And its SETs were tried and are waiting (the transmitter says so in its metrics' terms: retried).
    until(WAIT, "a failed push attempt", || async {
        let retried = gatehouse_runtime::metrics::metrics()
            .ssf_sets
            .get_or_create(&gatehouse_runtime::metrics::SetLabels { outcome: "retried" })
            .get();
        retried > 0
    })
    .await;

    let push = ReceiverProcess::start(&env, &pusher, &out, &args).await;
    let expected: Vec<(String, String)> =
        users.iter().map(|(user, _)| (SESSION_REVOKED.to_owned(), user.id.clone())).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while signals(&push.events()) != expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        signals(&push.events()),
        expected,
        "every sign-out, in order, after the receiver came back; it wrote {:?}",
        std::fs::read_to_string(&out)
    );
    // Once each (the receiver writes a jti once, and saw no SET it had not written).
    let events = push.events();
    let mut jtis: Vec<&str> = events.iter().map(|e| e["jti"].as_str().unwrap()).collect();
    jtis.sort_unstable();
    jtis.dedup();
    assert_eq!(jtis.len(), events.len());
}

/// What a receiver may ask and what it is told: authentication, scope,
/// ownership, one stream each, the rules of each field, subjects answered
/// alike whoever they name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_management_refuses_what_the_framework_forbids() {
    let env = TestEnv::builder().start().await;
    let (mine, theirs) = (receiver_app(&env, "owner1").await, receiver_app(&env, "owner2").await);
    let (alice, _) = user_of(&env, &mine, "alice").await;
    let (_, mut bob_browser) = user_of(&env, &mine, "bob").await;
    let http = reqwest::Client::new();
    let base = env.gateway_url();
    let token = |app: Receiver, scope: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let answer = http
                .post(format!("{base}/oauth/token"))
                .basic_auth(&app.client_id, Some(&app.secret))
                .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                .send()
                .await
                .unwrap();
            answer.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let call = |method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut request = http.request(method, format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let challenge = answer.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
            let text = answer.text().await.unwrap();
            (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::Null), challenge)
        }
    };

    let config =
        reqwest::get(format!("{base}/.well-known/ssf-configuration")).await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(config["issuer"], json!(base));
    assert_eq!(config["delivery_methods_supported"], json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"]));
    assert_eq!(config["configuration_endpoint"], json!(format!("{base}/ssf/streams")));
    assert_eq!(config["jwks_uri"], json!(format!("{base}/oauth/jwks")));

    // Who may ask.
    let (status, _, challenge) = call(reqwest::Method::GET, "/ssf/streams", None, None).await;
    assert_eq!((status, challenge.as_deref().map(|c| c.starts_with("Bearer"))), (401, Some(true)));
    let plain = token(mine.clone(), "user").await;
    let (status, body, _) = call(reqwest::Method::GET, "/ssf/streams", Some(&plain), None).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");
    let reader = token(mine.clone(), "ssf.read").await;
    let (status, _, _) = call(reqwest::Method::GET, "/ssf/streams", Some(&reader), None).await;
    assert_eq!(status, 200);
    let (status, body, _) = call(reqwest::Method::POST, "/ssf/streams", Some(&reader), Some(json!({}))).await;
    assert_eq!(status, 403, "reading is not managing: {body}");
    let query_token = format!("/ssf/streams?access_token={reader}");
    assert_eq!(call(reqwest::Method::GET, &query_token, None, None).await.0, 400, "a token in the query");
    let manager = token(mine.clone(), "ssf.manage").await;
    let other = token(theirs.clone(), "ssf.manage").await;

    // Bad bodies, each named.
    for (body, field) in [
        (json!({ "delivery": { "method": "urn:ietf:rfc:8935" } }), "delivery.endpoint_url"),
        (
            json!({ "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": "http://rp.example/" } }),
            "delivery.endpoint_url",
        ),
        (json!({ "delivery": { "method": "carrier-pigeon" } }), "delivery.method"),
        (json!({ "events_requested": "all" }), "events_requested"),
        (json!({ "description": "x".repeat(1001) }), "description"),
    ] {
        let (status, answer, _) = call(reqwest::Method::POST, "/ssf/streams", Some(&manager), Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error_description"].as_str().unwrap().contains(field), "{answer}");
    }
    let (status, answer, _) = call(reqwest::Method::POST, "/ssf/streams", Some(&manager), Some(json!([1]))).await;
    assert_eq!(status, 400, "{answer}");

    // One stream per receiver; unknown event types are ignored.
    let unknown = "https://example.com/not-an-event";
    let create =
        json!({ "events_requested": [SESSION_REVOKED, unknown], "description": "mine", "aud": "someone-else" });
    let (status, stream, _) = call(reqwest::Method::POST, "/ssf/streams", Some(&manager), Some(create)).await;
    assert_eq!(status, 201, "{stream}");
    let id = stream["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(stream["aud"], json!(mine.client_id), "aud is the transmitter's to set");
    assert_eq!(stream["events_delivered"], json!([SESSION_REVOKED]));
    assert_eq!(stream["delivery"]["endpoint_url"], json!(format!("{base}/ssf/poll/{id}")));
    let (status, _, _) = call(reqwest::Method::POST, "/ssf/streams", Some(&manager), Some(json!({}))).await;
    assert_eq!(status, 409);

    // Another receiver's stream reads as absent, whatever it asks.
    let stream_query = format!("/ssf/streams?stream_id={id}");
    for (method, path, body) in [
        (reqwest::Method::GET, stream_query.as_str(), None),
        (reqwest::Method::DELETE, stream_query.as_str(), None),
        (reqwest::Method::PATCH, "/ssf/streams", Some(json!({ "stream_id": id, "description": "theirs" }))),
        (reqwest::Method::POST, "/ssf/status", Some(json!({ "stream_id": id, "status": "disabled" }))),
        (reqwest::Method::POST, "/ssf/verify", Some(json!({ "stream_id": id }))),
        (
            reqwest::Method::POST,
            "/ssf/subjects/remove",
            Some(json!({ "stream_id": id, "subject": { "format": "opaque", "id": alice.id } })),
        ),
    ] {
        let (status, answer, _) = call(method.clone(), path, Some(&other), body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let poll_path = format!("/ssf/poll/{id}");
    assert_eq!(call(reqwest::Method::POST, &poll_path, Some(&other), Some(json!({}))).await.0, 404);

    // Updates: receiver fields change, transmitter fields do not.
    let patch = json!({ "stream_id": id, "description": "renamed", "iss": "https://evil.example" });
    let (status, updated, _) = call(reqwest::Method::PATCH, "/ssf/streams", Some(&manager), Some(patch)).await;
    assert_eq!((status, &updated["description"], &updated["iss"]), (200, &json!("renamed"), &json!(base)));

    // Status: paused holds, and is reported.
    let pause = json!({ "stream_id": id, "status": "paused", "reason": "maintenance" });
    let (status, answer, _) = call(reqwest::Method::POST, "/ssf/status", Some(&manager), Some(pause)).await;
    assert_eq!((status, &answer["status"], &answer["reason"]), (200, &json!("paused"), &json!("maintenance")));
    let bad = json!({ "stream_id": id, "status": "sleeping" });
    assert_eq!(call(reqwest::Method::POST, "/ssf/status", Some(&manager), Some(bad)).await.0, 400);
    let (status, answer, _) =
        call(reqwest::Method::GET, &format!("/ssf/status?stream_id={id}"), Some(&reader), None).await;
    assert_eq!(
        (status, &answer["status"], &answer["backlog"], &answer["dropped"]),
        (200, &json!("paused"), &json!(0), &json!(0))
    );
    let resume = json!({ "stream_id": id, "status": "enabled" });
    assert_eq!(call(reqwest::Method::POST, "/ssf/status", Some(&manager), Some(resume)).await.0, 200);

    // Verification: a SET on the stream, and not twice within the interval.
    let verify = json!({ "stream_id": id, "state": "s1" });
    assert_eq!(call(reqwest::Method::POST, "/ssf/verify", Some(&manager), Some(verify.clone())).await.0, 204);
    let (status, _, _) = call(reqwest::Method::POST, "/ssf/verify", Some(&manager), Some(verify)).await;
    assert_eq!(status, 429);
    let (status, polled, _) =
        call(reqwest::Method::POST, &poll_path, Some(&reader), Some(json!({ "returnImmediately": true }))).await;
    assert_eq!(status, 200, "{polled}");
    let sets = polled["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{polled}");
    let (jti, set) = sets.iter().next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            set.as_str().unwrap().split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!((&header["typ"], &header["alg"]), (&json!("secevent+jwt"), &json!("RS256")));
    // Not acknowledged: handed out again; acknowledged: gone.
    let again =
        call(reqwest::Method::POST, &poll_path, Some(&reader), Some(json!({ "returnImmediately": true }))).await.1;
    assert!(again["sets"].get(jti).is_some(), "{again}");
    let ack = json!({ "ack": [jti], "returnImmediately": true });
    let after = call(reqwest::Method::POST, &poll_path, Some(&reader), Some(ack)).await.1;
    assert_eq!(after, json!({ "sets": {}, "moreAvailable": false }));
    // The poll endpoint's request errors are RFC 8935's.
    let (status, answer, _) =
        call(reqwest::Method::POST, &poll_path, Some(&reader), Some(json!({ "maxEvents": -1 }))).await;
    assert_eq!((status, &answer["err"]), (400, &json!("invalid_request")), "{answer}");

    // Subjects: one of mine, someone else's user, nobody at all — the same answer.
    for subject in [
        json!({ "format": "iss_sub", "iss": base, "sub": alice.id }),
        json!({ "format": "opaque", "id": "no-such-user" }),
        json!({ "format": "iss_sub", "iss": "https://elsewhere.example", "sub": alice.id }),
    ] {
        let add = json!({ "stream_id": id, "subject": subject, "verified": true });
        let (status, answer, _) = call(reqwest::Method::POST, "/ssf/subjects/add", Some(&manager), Some(add)).await;
        assert_eq!((status, answer), (200, json!({})));
        let remove = json!({ "stream_id": id, "subject": subject });
        let (status, _, _) = call(reqwest::Method::POST, "/ssf/subjects/remove", Some(&manager), Some(remove)).await;
        assert_eq!(status, 204);
    }
    let email = json!({ "stream_id": id, "subject": { "format": "email", "email": "alice@example.com" } });
    let (status, answer, _) = call(reqwest::Method::POST, "/ssf/subjects/add", Some(&manager), Some(email)).await;
    assert_eq!(status, 400, "unverified addresses name nobody: {answer}");

    // A removed subject's events are not delivered (alice was removed last
    // above); bob's, after hers, are: the stream is in order, so hers would
    // have come first.
    let mut browser = env.browser();
    browser.login("alice", TEST_PASSWORD).await;
    browser.logout().await;
    bob_browser.logout().await;
    let polled = call(reqwest::Method::POST, &poll_path, Some(&reader), Some(json!({}))).await.1;
    let sets: Vec<&Value> = polled["sets"].as_object().unwrap().values().collect();
    assert_eq!(sets.len(), 1, "bob's sign-out only: {polled}");
    let jti = polled["sets"].as_object().unwrap().keys().next().unwrap().clone();
    let ack = json!({ "ack": [jti], "maxEvents": 0 });
    assert_eq!(call(reqwest::Method::POST, &poll_path, Some(&reader), Some(ack)).await.0, 200);
    let add = json!({ "stream_id": id, "subject": { "format": "iss_sub", "iss": base, "sub": alice.id } });
    assert_eq!(call(reqwest::Method::POST, "/ssf/subjects/add", Some(&manager), Some(add)).await.0, 200);
    browser.login("alice", TEST_PASSWORD).await;
    browser.logout().await;
    let polled = call(reqwest::Method::POST, &poll_path, Some(&reader), Some(json!({}))).await.1;
    assert_eq!(polled["sets"].as_object().map(Map::len), Some(1), "added back: {polled}");

    // Deleting: 204, then gone.
    assert_eq!(call(reqwest::Method::DELETE, &stream_query, Some(&manager), None).await.0, 204);
    assert_eq!(call(reqwest::Method::GET, &stream_query, Some(&manager), None).await.0, 404);
    assert_eq!(call(reqwest::Method::GET, "/ssf/streams", Some(&manager), None).await.1, json!([]));
}

type Map = serde_json::Map<String, Value>;
