//! The `gatehouse` binary as an operator uses it: `serve all` in one shell,
//! `user` and `app` commands in another, configuration errors, SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// A `gatehouse serve all` process on free ports with its own SQLite file.
struct Server {
    child: Child,
    registry_url: String,
    gateway_url: String,
    authorization_url: String,
    metrics_url: String,
    token_url: String,
    dir: std::path::PathBuf,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra_env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("gatehouse-cli-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("test folder");
        Self::start_in(dir, extra_env)
    }

    /// `serve all` on the data folder `dir` (a restart keeps its database).
    fn start_in(dir: std::path::PathBuf, extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "all"])
            .env("GATEHOUSE_DATABASE_URL", format!("sqlite://{}/gatehouse.db", dir.display()))
            .env("GATEHOUSE_REGISTRY_LISTEN", "127.0.0.1:0")
            .env("GATEHOUSE_GATEWAY_LISTEN", "127.0.0.1:0")
            .env("GATEHOUSE_AUTHORIZATION_LISTEN", "127.0.0.1:0")
            .env("GATEHOUSE_TOKEN_LISTEN", "127.0.0.1:0")
            .env("GATEHOUSE_METRICS_LISTEN", "127.0.0.1:0")
            .env("GATEHOUSE_PASSWORD_MEMORY_KIB", "1024")
            .env("GATEHOUSE_PASSWORD_ITERATIONS", "1")
            .envs(extra_env.iter().copied());
        if extra_env.iter().any(|(name, _)| *name == "GATEHOUSE_DATABASE_URL_FILE") {
            command.env_remove("GATEHOUSE_DATABASE_URL");
        }
        // The binary logs where each part listens once it is bound.
        let logs = gatehouse_tests::process::Logs::File(dir.join("stderr.log"));
        let parts = ["registry", "authorization", "token", "gateway", "metrics"];
        let mut serving = gatehouse_tests::process::serve(command, &parts, logs);
        let mut url = |name: &str| serving.urls.remove(name).unwrap_or_default();
        let (registry_url, token_url) = (url("registry"), url("token"));
        let (gateway_url, metrics_url) = (url("gateway"), url("metrics"));
        let authorization_url = url("authorization");
        Self { child: serving.child, registry_url, authorization_url, token_url, gateway_url, metrics_url, dir }
    }

    /// A user `owner` and an application of theirs allowed client_credentials: (client id, secret).
    fn client_credentials_app(&self, owner: &str, name: &str) -> (String, String) {
        self.app_with_grant(owner, name, "client_credentials")
    }

    /// A `client_credentials` access token of the application `id`.
    async fn client_credentials_token(&self, id: &str, secret: &str) -> String {
        let token: Value = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.gateway_url))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"].as_str().expect("a token").to_owned()
    }

    /// A user `owner` and a confidential application of theirs allowed `grant`: (client id, secret).
    fn app_with_grant(&self, owner: &str, name: &str, grant: &str) -> (String, String) {
        let email = format!("{owner}@example.com");
        let password = "correct horse battery\n";
        self.cli_json(
            &["user", "create", owner, "--email", &email, "--password-stdin", "--output", "json"],
            Some(password),
        );
        let app = self.cli_json(
            &[
                "app",
                "create",
                "--owner",
                owner,
                "--name",
                name,
                "--redirect-uri",
                "https://app.example/cb",
                "--grant-type",
                grant,
                "--output",
                "json",
            ],
            None,
        );
        (app["client_id"].as_str().unwrap().to_owned(), app["client_secret"].as_str().unwrap().to_owned())
    }

    /// A credential for `role`, issued by the operator through the CLI.
    fn credential(&self, role: &str) -> String {
        let created =
            self.cli_json(&["credential", "create", "--name", role, "--role", role, "--output", "json"], None);
        created["credential"].as_str().expect("the clear credential").to_owned()
    }

    /// A connection to `url` as `role`.
    async fn grpc(&self, url: &str, role: &str) -> gatehouse_tests::Grpc {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap().connect().await.unwrap();
        gatehouse_tests::presenting(channel, gatehouse_tests::Presenting::bearer(&self.credential(role)))
    }

    /// What the server wrote to standard error so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).expect("read the log")
    }

    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env("GATEHOUSE_REGISTRY_URL", &self.registry_url)
            .env("GATEHOUSE_TOKEN_URL", &self.token_url)
            .env("GATEHOUSE_AUTHORIZATION_URL", &self.authorization_url)
            // Where `serve all` keeps its data: the CLI finds the operator credential there.
            .env("GATEHOUSE_DATABASE_URL", format!("sqlite://{}/gatehouse.db", self.dir.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gatehouse");
        if let Some(input) = stdin {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("gatehouse finishes")
    }

    fn cli_json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let output = self.cli(args, stdin);
        assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("json output")
    }

    /// Polls `url` (a `/readyz`) until it answers 200, for at most 30 s.
    /// A process is ready once every service's first dependency check has
    /// passed, which on a loaded machine can come a while after its ports
    /// are bound; Kubernetes sends traffic only then, and so do the tests.
    async fn wait_ready(url: &str) -> u16 {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let status = http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
            if status == 200 || tokio::time::Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    fn send_sigterm(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("gatehouse exits")
    }

    /// Stops the process (SIGTERM) and starts `serve all` again on the same
    /// data folder with `extra_env`.
    fn restart_with(mut self, extra_env: &[(&str, &str)]) -> Self {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        self.child.wait().expect("gatehouse exits");
        let dir = self.dir.clone();
        // The folder outlives this process: the next one opens it.
        std::mem::forget(self);
        Self::start_in(dir, extra_env)
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success());
        self.child.wait().expect("gatehouse exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the registry authenticates the client, asked as the token service
/// does (with a token-role credential the operator issued through the CLI).
async fn authenticates(server: &Server, client_id: &str, secret: &str) -> bool {
    let channel = server.grpc(&server.registry_url, "token").await;
    let mut client = RegistryServiceClient::new(channel);
    client
        .authenticate_client(pb::AuthenticateClientRequest {
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
            ..Default::default()
        })
        .await
        .is_ok()
}

#[tokio::test]
async fn operator_creates_user_and_app_then_rotates_secret_without_downtime() {
    let server = Server::start();
    let user = server.cli_json(
        &["user", "create", "alice", "--email", "alice@example.com", "--password-stdin", "--output", "json"],
        Some("correct horse battery\n"),
    );
    assert_eq!(user["username"], "alice");

    let app = server.cli_json(
        &[
            "app",
            "create",
            "--owner",
            "alice",
            "--name",
            "CI bot",
            "--redirect-uri",
            "https://ci.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "user",
            "--output",
            "json",
        ],
        None,
    );
    let client_id = app["client_id"].as_str().expect("client id").to_owned();
    let first = app["client_secret"].as_str().expect("secret").to_owned();
    assert_eq!(app["redirect_uris"].as_array().map(Vec::len), Some(2));
    assert_eq!(app["scopes"], serde_json::json!(["user"]));

    let rotated = server.cli_json(&["app", "rotate-secret", &client_id, "--output", "json"], None);
    let second = rotated["client_secret"].as_str().expect("secret").to_owned();
    assert_ne!(first, second);
    assert!(authenticates(&server, &client_id, &first).await, "old secret works until deleted");
    assert!(authenticates(&server, &client_id, &second).await);

    let shown = server.cli_json(&["app", "show", &client_id, "--output", "json"], None);
    assert_eq!(shown["secrets"].as_array().map(Vec::len), Some(2));
    assert!(shown.get("client_secret").is_none(), "show never prints a secret");
    let secrets = shown["secrets"].as_array().expect("secrets");
    let first_meta =
        secrets.iter().find(|s| first.starts_with(s["prefix"].as_str().unwrap_or("-"))).expect("first secret listed");
    assert_eq!(secrets[0], *first_meta, "secrets are listed oldest first");
    let first_id = first_meta["id"].as_str().expect("secret id").to_owned();
    server.cli_json(&["app", "delete-secret", &client_id, &first_id, "--yes", "--output", "json"], None);
    assert!(!authenticates(&server, &client_id, &first).await);
    assert!(authenticates(&server, &client_id, &second).await);

    let list = server.cli_json(&["app", "list", "--owner", "alice", "--output", "json"], None);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let table = server.cli(&["app", "list"], None);
    assert!(String::from_utf8_lossy(&table.stdout).contains("CI bot"));

    server.cli_json(&["app", "delete", &client_id, "--yes", "--output", "json"], None);
    let missing = server.cli(&["app", "show", &client_id], None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));

    let health = reqwest_like_get(&format!("{}/healthz", server.gateway_url));
    assert!(health.contains("ok"));
    // Text logs written to a file carry no terminal colour codes.
    let log = server.log();
    assert!(log.lines().count() > 1, "the server logged: {log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log}");
    // Wait off the runtime, so that this test's own gRPC connections can close.
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success(), "SIGTERM is a clean exit");
}

/// `GATEHOUSE_REGISTRY_URL` is a list for the CLI as for the services (a
/// replica that is down is skipped), and `gatehouse user delete` removes an
/// account with its applications: their secrets stop authenticating.
#[tokio::test]
async fn the_cli_takes_an_address_list_and_deletes_a_user_with_everything() {
    let server = Server::start();
    let (client_id, secret) = server.client_credentials_app("bob", "Bob's bot");
    let dead = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let list = format!("{dead},{}", server.registry_url);
    let shown = Command::new(BIN)
        .args(["user", "show", "bob", "--output", "json", "--registry-url", &list])
        .arg("--credential-file")
        .arg(server.dir.join("operator-credential"))
        .output()
        .expect("run gatehouse");
    assert!(shown.status.success(), "a list with one dead address: {}", String::from_utf8_lossy(&shown.stderr));
    assert!(authenticates(&server, &client_id, &secret).await);
    server.cli_json(&["user", "delete", "bob", "--yes", "--output", "json"], None);
    assert!(!authenticates(&server, &client_id, &secret).await, "the user's application went with them");
    let missing = server.cli(&["user", "show", "bob"], None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
    let unreachable = Command::new(BIN).args(["user", "show", "bob", "--registry-url", &dead]).output().unwrap();
    assert!(!unreachable.status.success());
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the registry"));
}

/// A minimal HTTP GET over a TcpStream, enough for a health check.
fn reqwest_like_get(url: &str) -> String {
    use std::io::Read;
    let host = url.trim_start_matches("http://").split('/').next().unwrap_or_default();
    let path = &url[url.find(host).unwrap_or(0) + host.len()..];
    let mut stream = std::net::TcpStream::connect(host).expect("connect gateway");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("write");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("read");
    body
}

/// The settings that hold secrets, read from files as a Kubernetes Secret
/// mounted as a volume holds them (with the final newline editors add).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_hold_secrets_come_from_mounted_files() {
    let dir = std::env::temp_dir().join(format!("gatehouse-cli-{}", uuid::Uuid::new_v4().simple()));
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).expect("test folder");
    let database = dir.join("from-a-file.db");
    let files = [
        ("GATEHOUSE_DATABASE_URL_FILE", "database-url", format!("sqlite://{}\n", database.display())),
        ("GATEHOUSE_CACHE_URL_FILE", "cache-url", "memory://\n".to_owned()),
        ("GATEHOUSE_FORM_KEY_FILE", "form-key", format!("{}\n", "k".repeat(40))),
    ];
    let mut env = Vec::new();
    for (variable, name, text) in &files {
        std::fs::write(secrets.join(name), text).expect("write a secret file");
        env.push((*variable, secrets.join(name).display().to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_in(dir.clone(), &env);
    assert!(database.exists(), "the database is where the file said");
    let health = reqwest_like_get(&format!("{}/healthz", server.gateway_url));
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

/// SIGTERM under a steady load with a shutdown delay: health and readiness
/// turn "not serving" at once while every request is still answered; once
/// the load has moved away (as Kubernetes does when the pod is unready), the
/// process drains and exits 0. No request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_unready_keeps_serving_then_exits_zero() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let server = Server::start_with(&[("GATEHOUSE_SHUTDOWN_DELAY_SECS", "2")]);
    let (id, secret) = server.client_credentials_app("drain", "Load");
    assert_eq!(Server::wait_ready(&format!("{}/readyz", server.gateway_url)).await, 200);
    let url = format!("{}/oauth/token", server.gateway_url);
    let moved_away = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (url, id, secret, moved_away) = (url.clone(), id.clone(), secret.clone(), moved_away.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !moved_away.load(Ordering::Relaxed) {
                    match http
                        .post(&url)
                        .basic_auth(&id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await
                    {
                        Ok(response) if response.status() == 200 => ok += 1,
                        Ok(response) => failed.push(format!("status {}", response.status())),
                        Err(error) => failed.push(error.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let http = reqwest::Client::new();
    let ready = |http: reqwest::Client, url: String| async move {
        http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    };

    server.send_sigterm();
    // Readiness turns off at once; the metrics port's /readyz follows gRPC
    // health, which the same signal turns off a moment apart.
    let bound = std::time::Duration::from_secs(1);
    let gateway_readyz = format!("{}/readyz", server.gateway_url);
    let metrics_readyz = format!("{}/readyz", server.metrics_url.trim_end_matches("/metrics"));
    for (url, what) in [
        (gateway_readyz, "/readyz reports 503 after SIGTERM"),
        (metrics_readyz, "the metrics port's /readyz follows gRPC health"),
    ] {
        gatehouse_tests::until(bound, what, || {
            let (http, url) = (http.clone(), url.clone());
            async move { ready(http, url).await == 503 }
        })
        .await;
    }
    let channel =
        tonic::transport::Endpoint::from_shared(server.registry_url.clone()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::NotServing as i32);
    drop(health);
    // The endpoint is gone: the load moves away; everything sent so far was answered.
    moved_away.store(true, Ordering::Relaxed);
    let mut served = 0;
    for worker in workers {
        let (ok, failed) = worker.await.unwrap();
        assert!(failed.is_empty(), "requests failed during shutdown: {failed:?}");
        served += ok;
    }
    assert!(served > 0, "the load ran");
    let status = tokio::task::spawn_blocking(move || server.wait()).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
}

/// After a short flow, `/metrics` of the process shows requests by RPC and
/// status, latency histograms, HTTP routes, tokens issued, introspections,
/// cache lookups and the SQL pool; and never a token or a secret.
#[tokio::test]
async fn metrics_show_the_flow_and_no_secret() {
    let server = Server::start();
    assert!(!server.metrics_url.is_empty(), "the binary prints where metrics are served");
    let (id, secret) = server.client_credentials_app("metric", "Metrics");
    let (id, secret) = (id.as_str(), secret.as_str());
    let http = reqwest::Client::new();
    let access = server.client_credentials_token(id, secret).await;
    for token in [access.as_str(), "gat_not_a_real_token"] {
        let answer = http
            .post(format!("{}/oauth/introspect", server.gateway_url))
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }

    // Wrong secrets until the (client, address) throttle refuses (20 in its window).
    let mut refused = 0;
    for _ in 0..21 {
        let answer = http
            .post(format!("{}/oauth/token", server.gateway_url))
            .basic_auth(id, Some("not the secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        refused += usize::from(answer.status() == 429);
    }
    assert_eq!(refused, 1, "the 21st wrong secret is throttled");

    // Plain-HTTP probes beside the metrics, for pods whose gRPC port speaks TLS.
    let base = server.metrics_url.trim_end_matches("/metrics");
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(Server::wait_ready(&format!("{base}/readyz")).await, 200, "every service is SERVING");

    let response = http.get(&server.metrics_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    for expected in [
        r#"gatehouse_grpc_server_requests_total{service="gatehouse.token.v1.TokenService",method="Exchange",code="OK"} 1"#,
        r#"gatehouse_grpc_server_requests_total{service="gatehouse.registry.v1.RegistryService",method="CreateUser",code="OK"} 1"#,
        r#"gatehouse_grpc_server_request_duration_seconds_bucket{le="+Inf",service="gatehouse.token.v1.TokenService",method="Introspect"} 2"#,
        r#"gatehouse_http_requests_total{route="/oauth/token",method="POST",status="200"} 1"#,
        r#"gatehouse_http_request_duration_seconds_count{route="/oauth/introspect"} 2"#,
        r#"gatehouse_tokens_issued_total{grant_type="client_credentials",token_type="access_token"} 1"#,
        r#"gatehouse_introspections_total{result="active"} 1"#,
        r#"gatehouse_introspections_total{result="inactive"} 1"#,
        r#"gatehouse_cache_lookups_total{cache="token",result="hit"} 1"#,
        r#"gatehouse_db_pool_connections{pool="all",state="idle"}"#,
        r#"gatehouse_throttle_refusals_total{limiter="client_authentication"} 1"#,
        concat!(r#"gatehouse_build_info{version=""#, env!("CARGO_PKG_VERSION"), r#""} 1"#),
        r#"gatehouse_signing_key_activated_timestamp_seconds{alg="RS256"} "#,
        "gatehouse_cache_breakers_open 0",
        "gatehouse_revocation_stream_consumers 0",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(expected), "missing {expected}\n{text}");
    }
    // The dashboard and the alert rules shipped in deploy/ name only series
    // this process reports.
    let reported = reported_metrics(&text);
    for file in ["grafana-dashboard.json", "alerts.yaml"] {
        let path = format!("{}/../../deploy/monitoring/{file}", env!("CARGO_MANIFEST_DIR"));
        let named = named_metrics(&std::fs::read_to_string(&path).unwrap());
        assert!(named.len() > 10, "{file} names {named:?}");
        let unknown: Vec<&String> = named.iter().filter(|name| !reported.contains(*name)).collect();
        assert!(unknown.is_empty(), "{file} names series Gatehouse does not report: {unknown:?}");
    }
    for secret_text in [access.as_str(), secret, "correct horse"] {
        assert!(!text.contains(secret_text), "metrics must never carry a secret");
    }
}

/// Every series name an OpenMetrics text can carry: its samples' names, and
/// for each family its name with the suffixes its samples take (so that a
/// counter nothing has counted yet still counts as reported).
fn reported_metrics(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ") {
            let name = family.split(' ').next().unwrap_or_default();
            for suffix in ["", "_total", "_bucket", "_sum", "_count", "_info"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else if !line.starts_with('#') {
            names.insert(line.split(['{', ' ']).next().unwrap_or_default().to_owned());
        }
    }
    names
}

/// The `gatehouse_*` and `process_*` series a dashboard or rule file names.
fn named_metrics(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for prefix in ["gatehouse_", "process_"] {
        for (at, _) in text.match_indices(prefix) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let name: String =
                text[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            // A prose mention of the prefix itself (`gatehouse_*`) is no series.
            if !name.ends_with('_') {
                names.insert(name);
            }
        }
    }
    names
}

/// The request id: the gateway keeps a plain caller-chosen `X-Request-Id`
/// (and replaces anything else), echoes it, and every RPC the request
/// causes, nested ones included, logs under it. No log line carries a
/// secret, a token or a password.
#[tokio::test]
async fn a_request_id_follows_the_request_into_every_service_log() {
    let server = Server::start_with(&[
        ("GATEHOUSE_LOG_FORMAT", "json"),
        ("RUST_LOG", "info,gatehouse_runtime=debug,gatehouse_gateway=debug"),
    ]);
    let (id, secret) = server.client_credentials_app("traced", "Traced");
    let (id, secret) = (id.as_str(), secret.as_str());
    let http = reqwest::Client::new();
    let send = |request_id: &'static str| {
        http.post(format!("{}/oauth/token", server.gateway_url))
            .header("x-request-id", request_id)
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let response = send("trace-me-42").await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let token: Value = response.json().await.unwrap();
    let access = token["access_token"].as_str().expect("a token").to_owned();
    let forged = send("evil\" \"admin").await.unwrap();
    let replaced = forged.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(replaced.len(), 32, "an unsafe id is replaced by a generated one: {replaced}");

    let log = server.log();
    let traced: Vec<&str> = log.lines().filter(|l| l.contains("trace-me-42")).collect();
    for part in
        ["/gatehouse.token.v1.TokenService/Exchange", "/gatehouse.registry.v1.RegistryService/", "request finished"]
    {
        assert!(traced.iter().any(|l| l.contains(part)), "no log line of {part} carries the request id:\n{log}");
    }
    for line in log.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
    }
    for secret_text in [secret, access.as_str(), "correct horse"] {
        assert!(!log.contains(secret_text), "the log carries a secret");
    }
}

/// An OTLP/gRPC collector on loopback that keeps every span it receives.
async fn collector() -> (String, std::sync::Arc<tokio::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>) {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
    type Spans = std::sync::Arc<tokio::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>;
    struct Collector(Spans);
    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut spans = self.0.lock().await;
            for resource in request.into_inner().resource_spans {
                for scope in resource.scope_spans {
                    spans.extend(scope.spans);
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
        }
    }
    let spans = Spans::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = TraceServiceServer::new(Collector(spans.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (url, spans)
}

/// With `GATEHOUSE_OTLP_ENDPOINT`, the spans of one request (the gateway's
/// `http` span, the token service's `rpc` span and the registry call it
/// makes) reach the collector as one trace, each a child of its caller, with
/// the request id as an attribute; SIGTERM flushes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_of_one_request_reach_the_otlp_collector_as_one_trace() {
    let (endpoint, spans) = collector().await;
    let server = Server::start_with(&[("GATEHOUSE_OTLP_ENDPOINT", endpoint.as_str())]);
    let (id, secret) = server.client_credentials_app("otel", "Traced");
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.gateway_url))
        .header("x-request-id", "otel-1")
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success());

    let spans = spans.lock().await;
    let attribute = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        span.attributes.iter().find(|a| a.key == key).and_then(|a| match &a.value.as_ref()?.value {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(v)) => Some(v.clone()),
            _ => None,
        })
    };
    let of_request: Vec<_> = spans.iter().filter(|s| attribute(s, "request_id").as_deref() == Some("otel-1")).collect();
    let find = |name: &str, rpc: Option<&str>| {
        of_request
            .iter()
            .find(|s| s.name == name && rpc.is_none_or(|r| attribute(s, "rpc").is_some_and(|v| v.starts_with(r))))
            .copied()
            .unwrap_or_else(|| panic!("no {name} span {rpc:?} among {of_request:#?}"))
    };
    let http = find("http", None);
    let exchange = find("rpc", Some("/gatehouse.token.v1.TokenService/Exchange"));
    let registry = find("rpc", Some("/gatehouse.registry.v1.RegistryService/"));
    assert!(of_request.iter().all(|s| s.trace_id == http.trace_id), "one trace for the whole request");
    assert_eq!(exchange.parent_span_id, http.span_id, "the token service's span is a child of the gateway's");
    assert_eq!(registry.parent_span_id, exchange.span_id, "the registry call is a child of the token service's span");
    assert_eq!(attribute(http, "route").as_deref(), Some("/oauth/token"));
}

#[test]
fn user_errors_are_one_readable_line() {
    let server = Server::start();
    let bad = server.cli(
        &["user", "create", "x!", "--email", "x@example.com", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr).to_string();
    assert!(stderr.contains("username: must be"), "{stderr}");
    let unreachable = Command::new(BIN)
        .args(["app", "list"])
        .env("GATEHOUSE_REGISTRY_URL", "http://127.0.0.1:1")
        .output()
        .expect("run");
    assert!(!unreachable.status.success());
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the registry"));
}

#[test]
fn bad_configuration_exits_64_naming_the_variable_before_binding() {
    for (variable, value) in [
        ("GATEHOUSE_REGISTRY_LISTEN", "nonsense"),
        ("GATEHOUSE_DATABASE_URL", "mysql://x"),
        ("GATEHOUSE_LOG_FORMAT", "xml"),
        ("GATEHOUSE_PASSWORD_MEMORY_KIB", "12"),
        ("GATEHOUSE_RPC_TIMEOUT_MS", "0"),
        ("GATEHOUSE_FETCH_PROXY", "https://proxy.internal:3128"),
        ("GATEHOUSE_FETCH_TIMEOUT_MS", "4500"),
        ("GATEHOUSE_ISSUER", "https://code.example/oauth-server"),
        ("GATEHOUSE_GRPC_PEERS", "spiffe://example.org/ns/x/sa/y=king"),
        ("GATEHOUSE_CREDENTIAL", "not-a-credential"),
        ("GATEHOUSE_AUDIT_RETENTION_DAYS", "0"),
        ("GATEHOUSE_TRUSTED_PROXIES", "true"),
        ("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/40"),
        ("GATEHOUSE_TRUST_FORWARDED_FOR", "true"),
        ("GATEHOUSE_FORM_KEY", "CHANGE-ME-openssl-rand-base64-32"),
    ] {
        let output = Command::new(BIN).args(["serve", "all"]).env(variable, value).output().expect("run");
        assert_eq!(output.status.code(), Some(64), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
    }
    // Every bad setting is named at once, one line each, not only the first.
    let bad = [
        ("GATEHOUSE_ISSUER", "not a url"),
        ("GATEHOUSE_GATEWAY_LISTEN", "nonsense"),
        ("GATEHOUSE_CODE_TTL_SECS", "5"),
        ("GATEHOUSE_MAX_CONCURRENT_REQUESTS", "0"),
        ("GATEHOUSE_LOG_FORMAT", "xml"),
    ];
    let output = Command::new(BIN).args(["serve", "all"]).envs(bad).output().expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), bad.len(), "{stderr}");
    for (variable, _) in bad {
        assert!(
            stderr.lines().any(|line| line.contains(&format!("configuration: {variable}:"))),
            "{variable}: {stderr}"
        );
    }
    // TLS settings that cannot work, each named before anything binds.
    let pem = std::env::temp_dir().join(format!("gatehouse-not-pem-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&pem, "not a certificate").unwrap();
    let pem = pem.to_str().unwrap();
    for (target, env, named) in [
        ("token", vec![("GATEHOUSE_TLS_CERT_FILE", pem)], "GATEHOUSE_TLS_KEY_FILE"),
        ("token", vec![("GATEHOUSE_TLS_CLIENT_CA_FILE", pem)], "GATEHOUSE_TLS_CLIENT_CA_FILE"),
        ("token", vec![("GATEHOUSE_TLS_CERT_FILE", pem), ("GATEHOUSE_TLS_KEY_FILE", pem)], "GATEHOUSE_TLS_CERT_FILE"),
        ("token", vec![("GATEHOUSE_TLS_CA_FILE", "/nonexistent/ca.pem")], "GATEHOUSE_TLS_CA_FILE"),
        ("gateway", vec![("GATEHOUSE_TOKEN_URL", "https://token:50053")], "GATEHOUSE_TOKEN_URL"),
        ("token", vec![("GATEHOUSE_GRPC_PEERS", "spiffe://example.org/ns/x/sa/y=operator")], "GATEHOUSE_GRPC_PEERS"),
        // A cache CA without TLS, half a client certificate, and the URL form that skips verification.
        ("token", vec![("GATEHOUSE_CACHE_CA_FILE", pem)], "GATEHOUSE_CACHE_CA_FILE"),
        (
            "token",
            vec![("GATEHOUSE_CACHE_URL", "rediss://redis:6380/0"), ("GATEHOUSE_CACHE_CLIENT_CERT_FILE", pem)],
            "GATEHOUSE_CACHE_CLIENT_CERT_FILE",
        ),
        ("token", vec![("GATEHOUSE_CACHE_URL", "rediss://redis:6380/0#insecure")], "GATEHOUSE_CACHE_URL"),
        ("token", vec![("GATEHOUSE_CACHE_URL", "redis+sentinel://s1:26379,s2:26379")], "name the master"),
        ("token", vec![("GATEHOUSE_CACHE_URL", "redis+cluster://n1:7000,n2:7000/3")], "only database 0"),
        ("token", vec![("GATEHOUSE_CACHE_URL", "rediss+cluster://n1:7000#insecure")], "GATEHOUSE_CACHE_URL"),
        (
            "token",
            vec![("GATEHOUSE_CACHE_URL", "redis+cluster://n1:7000"), ("GATEHOUSE_CACHE_CA_FILE", pem)],
            "GATEHOUSE_CACHE_CA_FILE",
        ),
        ("token", vec![("GATEHOUSE_CACHE_PREFIX", "tenant-{a}:")], "GATEHOUSE_CACHE_PREFIX"),
        // A password file with SQLite, or beside a password in the URL.
        ("token", vec![("GATEHOUSE_DATABASE_PASSWORD_FILE", pem)], "GATEHOUSE_DATABASE_PASSWORD_FILE"),
        (
            "token",
            vec![("GATEHOUSE_DATABASE_URL", "postgres://u:pw@h/db"), ("GATEHOUSE_DATABASE_PASSWORD_FILE", pem)],
            "keep the password in one place",
        ),
        // Several database hosts without asking for the writable one, and a session kind Gatehouse cannot use.
        ("token", vec![("GATEHOUSE_DATABASE_URL", "postgres://u@h1,h2/db")], "target_session_attrs=read-write"),
        (
            "token",
            vec![("GATEHOUSE_DATABASE_URL", "postgres://u@h1/db?target_session_attrs=standby")],
            "GATEHOUSE_DATABASE_URL",
        ),
        // A secret from its variable and from a file at once, and a file that is not there.
        (
            "token",
            vec![("GATEHOUSE_CACHE_URL", "memory://"), ("GATEHOUSE_CACHE_URL_FILE", pem)],
            "GATEHOUSE_CACHE_URL_FILE",
        ),
        ("token", vec![("GATEHOUSE_DATABASE_URL_FILE", "/nonexistent/database-url")], "/nonexistent/database-url"),
        ("gateway", vec![("GATEHOUSE_FORM_KEY_FILE", "/nonexistent/form-key")], "GATEHOUSE_FORM_KEY_FILE"),
        // The file's text is the key: a short one is refused like a short variable.
        ("gateway", vec![("GATEHOUSE_FORM_KEY_FILE", pem)], "configuration: GATEHOUSE_FORM_KEY:"),
    ] {
        let output = Command::new(BIN).args(["serve", target]).envs(env.clone()).output().expect("run");
        assert_eq!(output.status.code(), Some(64), "{env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{env:?}: {stderr}");
    }
    let _ = std::fs::remove_file(pem);
}

#[tokio::test]
async fn operators_list_and_revoke_personal_access_tokens_and_leaked_tokens_by_value() {
    use gatehouse_proto::pb::token::v1 as token_pb;
    let server = Server::start();
    let user = server.cli_json(
        &["user", "create", "pat-owner", "--email", "pat@example.com", "--password-stdin", "--output", "json"],
        Some("correct horse battery\n"),
    );
    let user_id = user["id"].as_str().expect("id").to_owned();
    // The pages make personal tokens as the gateway: here a gateway credential the operator issued.
    let channel = server.grpc(&server.token_url, "gateway").await;
    let mut tokens = token_pb::token_service_client::TokenServiceClient::new(channel);
    let create = |name: &str| token_pb::CreatePersonalTokenRequest {
        user_id: user_id.clone(),
        username: "pat-owner".to_owned(),
        name: name.to_owned(),
        scopes: vec!["user".to_owned()],
        expires_in: 3600,
    };
    let leaked = tokens.create_personal_token(create("leaked")).await.unwrap().into_inner().token;
    tokens.create_personal_token(create("kept")).await.unwrap();

    let listed = server.cli_json(&["pat", "list", "pat-owner", "--output", "json"], None);
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["kept", "leaked"], "newest first");
    assert!(!listed.to_string().contains("gpt_"), "never the tokens");

    let revoked = server.cli(&["pat", "revoke-value"], Some(&format!("{leaked}\n")));
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("personal_access_token"));
    let again = server.cli(&["pat", "revoke-value"], Some(&format!("{leaked}\n")));
    assert!(again.status.success(), "a second report is no error");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already revoked"));
    let unknown = server.cli(&["pat", "revoke-value"], Some("gpt_nothing\n"));
    assert!(!unknown.status.success(), "a token Gatehouse never issued is said so");
    let active = tokens.introspect(token_pb::IntrospectRequest { token: leaked, ..Default::default() }).await.unwrap();
    assert!(!active.into_inner().active);

    let all = server.cli(&["pat", "revoke", "pat-owner", "--all", "--yes"], None);
    assert!(all.status.success(), "{}", String::from_utf8_lossy(&all.stderr));
    assert!(String::from_utf8_lossy(&all.stdout).contains("revoked 1"), "{}", String::from_utf8_lossy(&all.stdout));
    let listed = server.cli_json(&["pat", "list", "pat-owner", "--output", "json"], None);
    assert_eq!(listed.as_array().map(Vec::len), Some(0));
}

/// The embedded default makes its key-encryption key beside the database
/// (owner-only), and `gatehouse keys` lists, rotates and retires keys.
#[test]
fn operators_list_rotate_and_retire_signing_keys() {
    let server = Server::start();
    let kek = server.dir.join("signing-kek");
    assert!(kek.exists(), "the embedded default's key-encryption key is made beside the database");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let state_of = |keys: &Value, alg: &str, state: &str| -> Vec<String> {
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == alg && k["state"] == state)
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let keys = server.cli_json(&["keys", "list", "--output", "json"], None);
    for alg in ["RS256", "ES256"] {
        assert_eq!(state_of(&keys, alg, "active").len(), 1, "{keys}");
        assert_eq!(state_of(&keys, alg, "next").len(), 1, "{keys}");
    }
    let early = server.cli(&["keys", "rotate"], None);
    assert!(!early.status.success(), "a next key just published is not ready");
    assert!(String::from_utf8_lossy(&early.stderr).contains("--force"));
    let next = state_of(&keys, "RS256", "next").remove(0);
    let active = state_of(&keys, "RS256", "active").remove(0);
    let keys = server.cli_json(&["keys", "rotate", "--alg", "RS256", "--force", "--output", "json"], None);
    assert_eq!(state_of(&keys, "RS256", "active"), [next]);
    assert_eq!(state_of(&keys, "RS256", "retiring"), std::slice::from_ref(&active));
    let keys = server.cli_json(&["keys", "retire", &active, "--force", "--yes", "--output", "json"], None);
    assert_eq!(state_of(&keys, "RS256", "retired"), [active]);
    let jwks = reqwest_like_get(&format!("{}/oauth/jwks", server.gateway_url));
    assert!(!jwks.contains(&state_of(&keys, "RS256", "retired")[0]), "a retired key is unpublished");
}

#[tokio::test]
async fn operators_issue_initial_access_tokens_that_dynamic_registration_requires() {
    let server = Server::start_with(&[("GATEHOUSE_DYNAMIC_REGISTRATION", "token")]);
    let created =
        server.cli_json(&["registration", "token", "create", "--description", "CI", "--output", "json"], None);
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("gia_"), "{created}");
    let listed = server.cli_json(&["registration", "token", "list", "--output", "json"], None);
    assert_eq!(listed[0]["description"], "CI");
    assert!(listed[0].get("token").is_none(), "a token is shown only when created");
    let http = reqwest::Client::new();
    let register = |bearer: Option<String>| {
        let mut request = http
            .post(format!("{}/oauth/register", server.gateway_url))
            .json(&serde_json::json!({"redirect_uris": ["https://app.example/cb"]}));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(register(None).await.unwrap().status(), 401, "the token is required");
    assert_eq!(register(Some(token.clone())).await.unwrap().status(), 201);
    let metadata: Value = http
        .get(format!("{}/.well-known/oauth-authorization-server", server.gateway_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Named under the configured issuer (GATEHOUSE_ISSUER), whatever port the test bound.
    assert!(metadata["registration_endpoint"].as_str().unwrap().ends_with("/oauth/register"), "{metadata}");
    let id = listed[0]["id"].as_str().unwrap();
    assert!(server.cli(&["registration", "token", "delete", id, "--yes"], None).status.success());
    assert_eq!(register(Some(token)).await.unwrap().status(), 401, "a deleted token registers nothing");
}

/// An internal service identifies with a `client_credentials` token of a
/// client the operator listed (GATEHOUSE_VALIDATOR_CLIENTS): it may then
/// introspect and follow revocations, but sees a token meant for a resource
/// only when its own token names that resource; a user's token, or another
/// client's, is no identity at all.
#[tokio::test]
async fn a_listed_clients_access_token_identifies_a_validator() {
    use gatehouse_proto::pb::token::v1 as token_pb;
    let first = Server::start();
    let (validator_id, validator_secret) = first.client_credentials_app("ops", "billing-api");
    let (other_id, other_secret) = first.client_credentials_app("eve", "eve-bot");
    let server = first.restart_with(&[("GATEHOUSE_VALIDATOR_CLIENTS", validator_id.as_str())]);
    assert_eq!(Server::wait_ready(&format!("{}/readyz", server.gateway_url)).await, 200);
    let http = reqwest::Client::new();
    let token_of = async |id: &str, secret: &str| {
        let answer: Value = http
            .post(format!("{}/oauth/token", server.gateway_url))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "user")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().expect("a token").to_owned()
    };
    let validator_token = token_of(&validator_id, &validator_secret).await;
    let other_token = token_of(&other_id, &other_secret).await;
    let as_bearer = async |bearer: &str| {
        let channel =
            tonic::transport::Endpoint::from_shared(server.token_url.clone()).unwrap().connect().await.unwrap();
        token_pb::token_service_client::TokenServiceClient::new(gatehouse_tests::presenting(
            channel,
            gatehouse_tests::Presenting::bearer(bearer),
        ))
    };
    let mut validator = as_bearer(&validator_token).await;
    let seen = validator
        .introspect(token_pb::IntrospectRequest { token: other_token.clone(), ..Default::default() })
        .await
        .expect("a validator introspects")
        .into_inner();
    assert!(seen.active && seen.client_id == other_id);
    validator
        .watch_revocations(token_pb::WatchRevocationsRequest { after: None })
        .await
        .expect("and follows revocations");
    let denied = validator
        .rotate_signing_keys(token_pb::RotateSigningKeysRequest { algs: vec![], force: true })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    // Another client's token is no identity, whatever it may do at the HTTP edge.
    let mut other = as_bearer(&other_token).await;
    let refused = other.watch_revocations(token_pb::WatchRevocationsRequest { after: None }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // A revoked validator token stops identifying at once (it is checked like any token).
    let revoked = server.cli(&["pat", "revoke-value"], Some(&format!("{validator_token}\n")));
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    let after = validator
        .introspect(token_pb::IntrospectRequest { token: other_token, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(after.code(), tonic::Code::Unauthenticated);
}

/// A validator with no stored secret: `gatehouse-client`'s token source
/// reads the pod's projected service-account token from its file and trades
/// it with the jwt-bearer grant; the federation rule maps it to a client the
/// operator listed as a validator, so the token service answers it on the
/// internal plane. A token whose subject no rule maps gets nothing.
#[tokio::test]
async fn a_validator_identifies_with_its_platform_token_and_no_secret() {
    use base64::Engine;
    use gatehouse_proto::pb::token::v1 as token_pb;
    const CLUSTER: &str = "https://kubernetes.default.svc.cluster.local";
    let first = Server::start();
    let (validator_id, _) = first.app_with_grant("ops", "billing-api", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let (other_id, other_secret) = first.client_credentials_app("eve", "eve-bot");
    let pair = rcgen::KeyPair::generate().unwrap();
    let point = pair.public_key_raw();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "sa1", "alg": "ES256",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])}]});
    let jwks_file = first.dir.join("cluster-jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let federation = serde_json::json!({"issuers": [{"issuer": CLUSTER, "jwks_file": jwks_file, "audiences": ["gatehouse"],
        "rules": [{"claims": {"sub": "system:serviceaccount:billing:api"}, "client_id": validator_id}]}]});
    let federation_file = first.dir.join("federation.json");
    std::fs::write(&federation_file, federation.to_string()).unwrap();
    let server = first.restart_with(&[
        ("GATEHOUSE_VALIDATOR_CLIENTS", validator_id.as_str()),
        ("GATEHOUSE_FEDERATION_FILE", federation_file.to_str().unwrap()),
    ]);
    assert_eq!(Server::wait_ready(&format!("{}/readyz", server.gateway_url)).await, 200);
    let key = jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der());
    let service_account_token = |subject: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("sa1".to_owned());
        let now = gatehouse_oauth::Clock::now(&gatehouse_oauth::SystemClock).timestamp();
        let claims =
            serde_json::json!({"iss": CLUSTER, "sub": subject, "aud": ["gatehouse"], "iat": now, "exp": now + 3600});
        let file = server.dir.join(format!("token-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, jsonwebtoken::encode(&header, &claims, &key).unwrap()).unwrap();
        file
    };
    let request = |file| gatehouse_client::ClientCredentialsRequest {
        token_endpoint: format!("{}/oauth/token", server.gateway_url),
        client_id: String::new(),
        client_secret: String::new(),
        scopes: Vec::new(),
        resources: Vec::new(),
        workload_token_file: Some(file),
    };
    let source = gatehouse_client::ClientCredentialsToken::start(request(service_account_token(
        "system:serviceaccount:billing:api",
    )))
    .await
    .expect("a token for the mapped client");
    let channel = gatehouse_client::connect_with(&server.token_url, source).unwrap();
    let mut validator = token_pb::token_service_client::TokenServiceClient::new(channel);
    let other = server.client_credentials_token(&other_id, &other_secret).await;
    let seen = validator
        .introspect(token_pb::IntrospectRequest { token: other, ..Default::default() })
        .await
        .expect("the validator introspects")
        .into_inner();
    assert!(seen.active && seen.client_id == other_id);
    let refused =
        gatehouse_client::ClientCredentialsToken::start(request(service_account_token("system:serviceaccount:x:y")))
            .await
            .unwrap_err();
    assert!(refused.to_string().contains("invalid_grant"), "{refused}");
}

/// Behind TLS (an https issuer), the session and sign-in form cookies carry
/// the `__Host-` prefix with `Secure`, `Path=/` and no `Domain`; a cookie
/// without the prefix (what a sibling subdomain could plant) counts for
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_the_cookies_are_host_only_and_unprefixed_ones_count_for_nothing() {
    let server = Server::start_with(&[("GATEHOUSE_ISSUER", "https://auth.example")]);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/login", server.gateway_url)).send().await.unwrap();
    let set: Vec<String> =
        page.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let form = set.iter().find(|c| c.starts_with("__Host-gatehouse_form=")).expect("a prefixed form cookie");
    assert!(form.contains("; Secure") && form.contains("Path=/") && !form.to_ascii_lowercase().contains("domain="));
    let pair = form.split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let csrf = body.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let signup = |cookie: String, csrf: String, name: &'static str| {
        let form = [
            ("username", name.to_owned()),
            ("email", format!("{name}@example.com")),
            ("password", "correct horse battery".to_owned()),
            ("csrf_token", csrf),
        ];
        http.post(format!("{}/signup", server.gateway_url)).header("cookie", cookie).form(&form).send()
    };
    // A planted, unprefixed form cookie and its matching field: refused.
    let planted = "k".repeat(43);
    let refused = signup(format!("gatehouse_form={planted}"), planted.clone(), "mallory").await.unwrap();
    assert_eq!(refused.status(), 403);
    // The real pair: an account, signed in with a prefixed session cookie.
    let made = signup(pair, csrf, "tess").await.unwrap();
    assert_eq!(made.status(), 303);
    let session = made
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-gatehouse_session="))
        .expect("a prefixed session cookie");
    assert!(session.contains("; Secure") && session.contains("Path=/"));
    let value = session.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    // The same session under the unprefixed name is nobody.
    for (name, expected) in [("gatehouse_session", 401), ("__Host-gatehouse_session", 200)] {
        let answer = http
            .get(format!("{}/api/session", server.gateway_url))
            .header("cookie", format!("{name}={value}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), expected, "{name}");
    }
}

/// docs/cli.md and docs/configuration.md are the binary's own
/// `gatehouse reference cli|config`, and `gatehouse completions` writes a
/// script that knows the commands.
#[test]
fn the_references_in_docs_are_the_binarys_own_output() {
    for (what, file) in [("cli", "cli.md"), ("config", "configuration.md")] {
        let output = Command::new(BIN).args(["reference", what]).output().expect("run gatehouse");
        assert!(output.status.success());
        let path = format!("{}/../../docs/{file}", env!("CARGO_MANIFEST_DIR"));
        let written = std::fs::read_to_string(&path).expect("the reference file");
        assert!(
            written == String::from_utf8_lossy(&output.stdout),
            "docs/{file} differs from the binary: run `gatehouse reference {what} > docs/{file}`"
        );
    }
    let cli = std::fs::read_to_string(format!("{}/../../docs/cli.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for command in ["gatehouse user disable", "gatehouse app update", "gatehouse token introspect", "--yes"] {
        assert!(cli.contains(command), "docs/cli.md lacks {command}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(BIN).args(["completions", shell]).output().expect("run gatehouse");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && script.contains("gatehouse") && script.contains("rotate-secret"), "{shell}");
    }
}

/// Each class of failure exits with its own status, and `--output json`
/// reports it as one JSON document on standard error.
#[test]
fn each_class_of_failure_has_its_exit_status_and_a_json_error() {
    let server = Server::start();
    let status = |output: &Output| output.status.code().unwrap_or(-1);
    let json_error = |output: &Output| -> Value {
        serde_json::from_slice(&output.stderr).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)))
    };

    // Usage: clap's own errors, a value the CLI refuses, a destructive command without --yes.
    assert_eq!(status(&server.cli(&["user", "show"], None)), 2);
    assert_eq!(status(&server.cli(&["audit", "list", "--since", "yesterday"], None)), 2);
    let unconfirmed = server.cli(&["app", "delete", "nothing", "--output", "json"], None);
    assert_eq!(status(&unconfirmed), 2);
    assert_eq!(json_error(&unconfirmed)["error"]["class"], "usage");
    assert!(json_error(&unconfirmed)["error"]["message"].as_str().unwrap().contains("--yes"));

    // Not found.
    let missing = server.cli(&["user", "show", "nobody", "--output", "json"], None);
    assert_eq!(status(&missing), 3, "{}", String::from_utf8_lossy(&missing.stderr));
    let error = json_error(&missing);
    assert_eq!(
        (error["error"]["class"].as_str(), error["error"]["grpc_code"].as_str()),
        (Some("not_found"), Some("NOT_FOUND"))
    );
    assert!(missing.stdout.is_empty(), "nothing on standard output");

    // Conflict: the same username twice.
    let create = ["user", "create", "twice", "--email", "twice@example.com", "--password-stdin"];
    assert!(server.cli(&create, Some("correct horse battery\n")).status.success());
    let again = server.cli(&create, Some("correct horse battery\n"));
    assert_eq!(status(&again), 4, "{}", String::from_utf8_lossy(&again.stderr));

    // Permission: a credential whose role may not make this call.
    let gateway = server.credential("gateway");
    let refused = server.cli(&["credential", "list", "--credential", &gateway], None);
    assert_eq!(status(&refused), 5, "{}", String::from_utf8_lossy(&refused.stderr));

    // Unavailable: nothing listens there.
    let dead = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let down = server.cli(&["user", "show", "twice", "--registry-url", &dead, "--output", "json"], None);
    assert_eq!(status(&down), 6, "{}", String::from_utf8_lossy(&down.stderr));
    assert_eq!(json_error(&down)["error"]["class"], "unavailable");
}

/// The commands a script runs day to day: find users, give and take a
/// role, disable and enable an account, change an application in place,
/// and look at or revoke a token by its value; tables print RFC 3339 times.
#[tokio::test]
async fn operators_find_users_disable_them_update_apps_and_inspect_tokens() {
    let server = Server::start();
    let (client_id, secret) = server.client_credentials_app("carol", "Carol's bot");
    server.client_credentials_app("dave", "Dave's bot");
    let listed = server.cli_json(&["user", "list", "--query", "CAR", "--output", "json"], None);
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["carol"]);
    let all = server.cli_json(&["user", "list", "--output", "json"], None);
    let all: Vec<&str> = all.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "by username: {all:?}");
    assert!(all.contains(&"carol") && all.contains(&"dave"), "{all:?}");
    let table = String::from_utf8_lossy(&server.cli(&["user", "list"], None).stdout).into_owned();
    let created = listed[0]["created_at"].as_i64().expect("JSON keeps Unix seconds");
    let created =
        chrono::DateTime::from_timestamp(created, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(table.contains(&created), "tables say RFC 3339 times ({created}): {table}");

    let admin = server.cli_json(&["user", "set-role", "carol", "administrator", "--output", "json"], None);
    assert_eq!(admin["administrator"], true);
    let plain = server.cli_json(&["user", "set-role", "carol", "user", "--output", "json"], None);
    assert_eq!(plain["administrator"], false);

    let disabled = server.cli_json(&["user", "disable", "carol", "--yes", "--output", "json"], None);
    assert_eq!(disabled["disabled"], true);
    let shown = server.cli_json(&["user", "show", "carol", "--output", "json"], None);
    assert_eq!(shown["disabled"], true);
    let enabled = server.cli_json(&["user", "enable", "carol", "--output", "json"], None);
    assert_eq!(enabled["disabled"], false);

    let updated = server.cli_json(
        &[
            "app",
            "update",
            &client_id,
            "--name",
            "Carol's robot",
            "--redirect-uri",
            "https://carol.example/cb",
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(updated["name"], "Carol's robot");
    assert_eq!(updated["redirect_uris"], serde_json::json!(["https://carol.example/cb"]));
    let again = server.cli_json(&["app", "show", &client_id, "--output", "json"], None);
    assert_eq!((again["name"].clone(), again["scopes"].clone()), (updated["name"].clone(), updated["scopes"].clone()));
    let bad = server.cli(&["app", "update", &client_id, "--redirect-uri", "not a url"], None);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));

    let token = server.client_credentials_token(&client_id, &secret).await;
    let line = format!("{token}\n");
    let seen = server.cli_json(&["token", "introspect", "--output", "json"], Some(&line));
    assert_eq!((seen["active"].as_bool(), seen["client_id"].as_str()), (Some(true), Some(client_id.as_str())));
    assert!(server.cli(&["token", "revoke", "--yes"], Some(&line)).status.success());
    let seen = server.cli_json(&["token", "introspect", "--output", "json"], Some(&line));
    assert_eq!(seen["active"], false);
    let unknown = server.cli(&["token", "revoke", "--yes"], Some("gat_nothing\n"));
    assert_eq!(unknown.status.code(), Some(3));
}

/// Clients as code: a dry run changes nothing; apply creates (printing a
/// confidential client's secret once), then changes nothing on a second
/// run; export → apply → export is identical; a changed file updates in
/// place; a removed application stays unless `--prune`; a bad file changes
/// nothing and its error names the file and the line.
#[test]
fn apply_and_export_keep_clients_as_code() {
    let server = Server::start();
    let created = server.cli(
        &["user", "create", "platform", "--email", "platform@example.com", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let dir = server.dir.join("clients");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("platform.yaml");
    let clients = |ci_callback: &str, with_docs: bool| {
        let docs = "  - name: Docs CLI\n    public: true\n    redirect_uris: [\"http://127.0.0.1/callback\"]\n";
        format!(
            "owner: platform\napplications:\n  - name: CI dashboard\n    redirect_uris: [\"{ci_callback}\"]\n    scopes: [user]\n{}resource_servers:\n  - identifier: https://api.example.com\n    name: Example API\n    token_format: jwt\n    allowed_clients: [CI dashboard]\n",
            if with_docs { docs } else { "" }
        )
    };
    std::fs::write(&file, clients("https://ci.example/callback", true)).unwrap();
    let path = dir.to_str().unwrap();
    let export = || {
        let output = server.cli(&["export", "--owner", "platform"], None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let actions = |report: &Value| -> Vec<String> {
        report.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
    };

    let planned = server.cli_json(&["apply", "-f", path, "--dry-run", "--output", "json"], None);
    assert_eq!(actions(&planned), ["would be created"; 3], "{planned}");
    assert!(!export().contains("CI dashboard"), "a dry run changes nothing");

    let applied = server.cli_json(&["apply", "-f", path, "--output", "json"], None);
    assert_eq!(actions(&applied), ["created"; 3], "{applied}");
    let ci = applied.as_array().unwrap().iter().find(|e| e["name"] == "CI dashboard").unwrap().clone();
    assert!(ci["client_secret"].as_str().unwrap().starts_with("gcs_"), "the secret, once: {ci}");
    let docs = applied.as_array().unwrap().iter().find(|e| e["name"] == "Docs CLI").unwrap().clone();
    assert!(docs.get("client_secret").is_none(), "a public client has no secret");
    let again = server.cli_json(&["apply", "-f", path, "--output", "json"], None);
    assert_eq!(actions(&again), ["unchanged"; 3], "{again}");

    // export → apply → export: identical, and the exported file changes nothing.
    let first = export();
    assert!(first.contains(ci["client_id"].as_str().unwrap()) && first.contains("- CI dashboard"), "{first}");
    let exported = server.dir.join("exported.yaml");
    std::fs::write(&exported, &first).unwrap();
    let replay = server.cli_json(&["apply", "-f", exported.to_str().unwrap(), "--output", "json"], None);
    assert!(actions(&replay).iter().all(|a| a == "unchanged"), "{replay}");
    assert_eq!(export(), first);

    // A changed file updates in place.
    std::fs::write(&file, clients("https://ci.example/new-callback", true)).unwrap();
    let updated = server.cli_json(&["apply", "-f", path, "--output", "json"], None);
    let entry = updated.as_array().unwrap().iter().find(|e| e["name"] == "CI dashboard").unwrap().clone();
    assert_eq!((entry["action"].as_str(), entry["client_id"].clone()), (Some("updated"), ci["client_id"].clone()));
    assert!(entry["changes"].as_str().unwrap().contains("new-callback"), "{entry}");
    let shown = server.cli_json(&["app", "show", ci["client_id"].as_str().unwrap(), "--output", "json"], None);
    assert_eq!(shown["redirect_uris"], serde_json::json!(["https://ci.example/new-callback"]));

    // Removed from the file: kept, unless --prune.
    std::fs::write(&file, clients("https://ci.example/new-callback", false)).unwrap();
    let kept = server.cli_json(&["apply", "-f", path, "--output", "json"], None);
    assert!(actions(&kept).iter().any(|a| a.contains("kept")), "{kept}");
    assert!(export().contains("Docs CLI"));
    let pruned = server.cli_json(&["apply", "-f", path, "--prune", "--output", "json"], None);
    assert!(actions(&pruned).iter().any(|a| a == "deleted (--prune)"), "{pruned}");
    assert!(!export().contains("Docs CLI"));

    // A bad file changes nothing and names the line.
    let before = export();
    let bad = server.dir.join("bad.yaml");
    std::fs::write(&bad, "owner: platform\napplications:\n  - name: Broken\n    redirect_uris: [\"https://b.example/cb\"]\n    redirect_uri: typo\n").unwrap();
    let refused = server.cli(&["apply", "-f", bad.to_str().unwrap()], None);
    let message = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(2), "{message}");
    assert!(message.contains("bad.yaml") && message.contains("line 5"), "{message}");
    std::fs::write(&bad, "owner: platform\napplications:\n  - name: New one\n    redirect_uris: [\"https://n.example/cb\"]\n  - name: Broken\n    redirect_uris: [\"not a url\"]\n").unwrap();
    let refused = server.cli(&["apply", "-f", bad.to_str().unwrap()], None);
    let message = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(2), "{message}");
    assert!(message.contains("bad.yaml:5:"), "{message}");
    assert_eq!(export(), before, "nothing changed, not even the valid application before it");
}

/// `gatehouse session list|revoke`: where a user is signed in, and signing
/// them out of one session or all, as an operator.
#[tokio::test]
async fn operators_list_and_end_a_users_sessions() {
    let server = Server::start();
    let created = server.cli(
        &["user", "create", "sam", "--email", "sam@example.com", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let mut laptop = gatehouse_tests::Browser::new(server.gateway_url.clone());
    laptop.login("sam", "correct horse battery").await;
    let mut phone = gatehouse_tests::Browser::new(server.gateway_url.clone());
    phone.login("sam", "correct horse battery").await;
    let listed = server.cli_json(&["session", "list", "sam", "--output", "json"], None);
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{listed}");

    let missing = server.cli(&["session", "revoke", "sam", "--id", "no-such-session", "--yes"], None);
    assert_eq!(missing.status.code(), Some(3), "{}", String::from_utf8_lossy(&missing.stderr));
    assert!(server.cli(&["session", "revoke", "sam", "--id", ids[0], "--yes"], None).status.success());
    let left = server.cli_json(&["session", "list", "sam", "--output", "json"], None);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert!(server.cli(&["session", "revoke", "sam", "--all", "--yes"], None).status.success());
    for browser in [&mut laptop, &mut phone] {
        assert_eq!(browser.get("/account/applications").await.status, 303, "signed out everywhere");
    }
    assert_eq!(server.cli_json(&["session", "list", "sam", "--output", "json"], None), serde_json::json!([]));
}

/// A document can name a file holding an application's secret (a mounted
/// Kubernetes Secret): created with it, it authenticates with it and nothing
/// prints it; applied again, nothing changes; the file changed, the new
/// secret is the only one; a bad file or a public client's file is refused
/// before anything changes, naming the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_takes_each_client_secret_from_its_file() {
    let server = Server::start();
    let created = server.cli(
        &["user", "create", "billing", "--email", "billing@example.com", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let dir = server.dir.join("secret-clients");
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    let first = "s3cret-from-a-kubernetes-secret-0000000001";
    std::fs::write(dir.join("secrets/billing"), format!("{first}\n")).unwrap();
    let file = dir.join("billing.yaml");
    std::fs::write(
        &file,
        "owner: billing\napplications:\n  - name: Billing worker\n    redirect_uris: [\"https://billing.example/cb\"]\n    grant_types: [client_credentials]\n    client_secret_file: secrets/billing\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let actions = |report: &Value| -> Vec<String> {
        report.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
    };

    let applied = server.cli(&["apply", "-f", path], None);
    let printed = format!("{}{}", String::from_utf8_lossy(&applied.stdout), String::from_utf8_lossy(&applied.stderr));
    assert!(applied.status.success(), "{printed}");
    assert!(!printed.contains(first) && !printed.contains("gcs_"), "no secret is printed: {printed}");
    let listed = server.cli_json(&["app", "list", "--owner", "billing", "--output", "json"], None);
    let client_id = listed[0]["client_id"].as_str().unwrap().to_owned();
    assert!(authenticates(&server, &client_id, first).await, "the file's secret authenticates");
    let again = server.cli_json(&["apply", "-f", path, "--output", "json"], None);
    assert_eq!(actions(&again), ["unchanged"], "{again}");

    // The Secret rotated: the new value is the only secret.
    let second = "s3cret-from-a-kubernetes-secret-0000000002";
    std::fs::write(dir.join("secrets/billing"), second).unwrap();
    let planned = server.cli_json(&["apply", "-f", path, "--dry-run", "--output", "json"], None);
    assert_eq!(actions(&planned), ["would be updated"], "{planned}");
    assert!(planned[0]["changes"].as_str().unwrap().contains("client_secret"), "{planned}");
    assert!(authenticates(&server, &client_id, first).await, "a dry run changes nothing");
    let rotated = server.cli_json(&["apply", "-f", path, "--output", "json"], None);
    assert_eq!(actions(&rotated), ["updated"], "{rotated}");
    assert!(authenticates(&server, &client_id, second).await);
    assert!(!authenticates(&server, &client_id, first).await, "the old secret is gone");

    // Too short, missing, or on a public client: refused, naming the line, changing nothing.
    std::fs::write(dir.join("secrets/billing"), "short").unwrap();
    let short = server.cli(&["apply", "-f", path], None);
    assert_eq!(short.status.code(), Some(2), "a usage error");
    let said = String::from_utf8_lossy(&short.stderr);
    assert!(said.contains("billing.yaml:3") && said.contains("32 to 512"), "{said}");
    std::fs::remove_file(dir.join("secrets/billing")).unwrap();
    let missing = server.cli(&["apply", "-f", path], None);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("secrets/billing"), "names the file");
    std::fs::write(
        &file,
        "owner: billing\napplications:\n  - name: Billing CLI\n    public: true\n    redirect_uris: [\"http://127.0.0.1/cb\"]\n    client_secret_file: secrets/billing\n",
    )
    .unwrap();
    let public = server.cli(&["apply", "-f", path], None);
    assert!(String::from_utf8_lossy(&public.stderr).contains("a public client has no secret"));
    assert!(authenticates(&server, &client_id, second).await, "nothing changed");
}
