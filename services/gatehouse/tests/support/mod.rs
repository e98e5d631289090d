//! What the process-level tests share: `gatehouse serve <part>` processes
//! of one deployment, started, crashed and stopped the way Kubernetes would.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // each test binary uses a part of it

use std::process::{Child, Command};

use gatehouse_tests::process::Logs;
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// A port for a part to listen on, chosen below the kernel's ephemeral
/// range (`net.ipv4.ip_local_port_range`, 32768–60999 by default): a port
/// taken from that range with a `:0` bind can be handed to another test's
/// outgoing connection or `:0` bind before the part binds it, and the part
/// then exits with "address in use". Below it, only another test picking
/// the same port in the same instant can collide; this process never hands
/// out a port twice.
pub(crate) fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    loop {
        let port = 20_000 + u16::try_from((start + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Settings every part of the deployment shares, and the internal
/// credentials of its parts and of an operator and a validator.
#[derive(Clone)]
pub(crate) struct Deployment {
    pub(crate) env: Vec<(&'static str, String)>,
    credentials: Vec<(&'static str, String)>,
}

/// The settings every process test's deployment shares: its database and
/// cache (a fresh key prefix), the test key-encryption key, the form key,
/// a small pool and cheap argon2 parameters.
pub(crate) fn shared_settings(database_url: &str, cache_url: String) -> Vec<(&'static str, String)> {
    vec![
        ("GATEHOUSE_DATABASE_URL", database_url.to_owned()),
        ("GATEHOUSE_KEY_ENCRYPTION_KEY", gatehouse_tests::TEST_KEK.to_owned()),
        ("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "4".to_owned()),
        ("GATEHOUSE_CACHE_URL", cache_url),
        ("GATEHOUSE_CACHE_PREFIX", gatehouse_tests::test_kv_prefix()),
        ("GATEHOUSE_PASSWORD_MEMORY_KIB", "1024".to_owned()),
        ("GATEHOUSE_PASSWORD_ITERATIONS", "1".to_owned()),
        // One form key for every gateway of the deployment, as the manifests set it.
        ("GATEHOUSE_FORM_KEY", "a-form-key-every-gateway-replica-shares".to_owned()),
    ]
}

/// The shared Redis of the suite (`TEST_REDIS_URL`).
pub(crate) fn redis_url() -> String {
    gatehouse_tests::test_kv_url(gatehouse_tests::CacheBackend::Redis)
}

/// The roles a deployment's test issues credentials for.
const ROLES: [&str; 6] = ["gateway", "registry", "authorization", "token", "operator", "validator"];

impl Deployment {
    /// A deployment with `env`; its database gets one internal credential
    /// per role, written by `gatehouse credential bootstrap` (which applies
    /// the migrations first), as an operator does for a fresh database.
    pub(crate) fn new(env: Vec<(&'static str, String)>) -> Self {
        let mut credentials = Vec::new();
        for role in ROLES {
            let output = Command::new(BIN)
                .args([
                    "credential",
                    "bootstrap",
                    "--role",
                    role,
                    "--name",
                    role,
                    "--ttl-days",
                    "1",
                    "--output",
                    "json",
                ])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .output()
                .unwrap();
            assert!(output.status.success(), "bootstrap {role}: {}", String::from_utf8_lossy(&output.stderr));
            let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            credentials.push((role, answer["credential"].as_str().unwrap().to_owned()));
        }
        Self { env, credentials }
    }

    /// A deployment whose parts identify by workload certificate only.
    pub(crate) fn without_credentials(env: Vec<(&'static str, String)>) -> Self {
        Self { env, credentials: Vec::new() }
    }

    /// The credential of `role`.
    pub(crate) fn credential(&self, role: &str) -> &str {
        self.credential_of(role).unwrap()
    }

    fn credential_of(&self, role: &str) -> Option<&str> {
        self.credentials.iter().find(|(r, _)| *r == role).map(|(_, c)| c.as_str())
    }

    /// A connection to the gRPC server on `port`, calling as `role`.
    pub(crate) async fn grpc(&self, port: u16, role: &str) -> gatehouse_tests::Grpc {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        gatehouse_tests::presenting(channel, gatehouse_tests::Presenting::bearer(self.credential(role)))
    }

    /// The same, connected lazily (for replicas that may be down).
    pub(crate) fn grpc_lazy(&self, port: u16, role: &str) -> gatehouse_tests::Grpc {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect_lazy();
        gatehouse_tests::presenting(channel, gatehouse_tests::Presenting::bearer(self.credential(role)))
    }

    /// A balanced channel for an internal service (`gatehouse-client`) over `addresses`.
    pub(crate) fn validator(&self, addresses: &str) -> gatehouse_client::Upstream {
        gatehouse_client::connect_with_credential(addresses, self.credential("validator")).unwrap()
    }
}

/// One `gatehouse serve <part>` process.
pub(crate) struct Part {
    child: Option<Child>,
    pub(crate) metrics_url: String,
}

impl Part {
    pub(crate) fn start(deployment: &Deployment, part: &str, extra: &[(&'static str, String)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", part])
            .env("GATEHOUSE_METRICS_LISTEN", "127.0.0.1:0")
            .envs(deployment.env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(deployment.credential_of(part).map(|c| ("GATEHOUSE_CREDENTIAL", c)))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())));
        // GATEHOUSE_TEST_LOGS=1 shows the parts' logs (with RUST_LOG) when a test needs reading.
        let mut serving = gatehouse_tests::process::serve(command, &["metrics", part], Logs::Quiet);
        let metrics_url = serving.urls.remove("metrics").unwrap_or_default();
        Self { child: Some(serving.child), metrics_url }
    }

    /// The process id, for signals and `/proc`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// A crash: SIGKILL, no draining.
    pub(crate) fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// What Kubernetes does: SIGTERM, then the process drains and exits.
    pub(crate) fn terminate(mut self) -> std::thread::JoinHandle<std::process::ExitStatus> {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        std::thread::spawn(move || child.wait().unwrap())
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How many `method` requests the process behind `metrics_url` answered OK.
pub(crate) async fn served(metrics_url: &str, method: &str) -> u64 {
    let text = reqwest::get(metrics_url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("gatehouse_grpc_server_requests_total{"))
        .filter(|l| l.contains(&format!("method=\"{method}\"")) && l.contains("code=\"OK\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until the gRPC server on `port` answers SERVING.
pub(crate) async fn wait_serving(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = async {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                .unwrap()
                .connect()
                .await
                .ok()?;
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.ok()
        }
        .await;
        if answer.is_some_and(|a| a.into_inner().status == 1) {
            return;
        }
        assert!(Instant::now() < deadline, "the service on port {port} never became SERVING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The redirect URI of [`alice_and_her_app`]'s application.
pub(crate) const REDIRECT: &str = "https://app.example/callback";

/// Creates the user `alice` (password `gatehouse_tests::TEST_PASSWORD`) on the
/// registry at `registry_port`, and an application of hers allowed every
/// grant and the `user` scope; returns (client id, client secret).
pub(crate) async fn alice_and_her_app(deployment: &Deployment, registry_port: u16) -> (String, String) {
    use gatehouse_proto::pb::common::v1::ClientType;
    use gatehouse_proto::pb::registry::v1 as registry_pb;
    let channel = deployment.grpc(registry_port, "operator").await;
    let mut registry = registry_pb::registry_service_client::RegistryServiceClient::new(channel);
    let user = gatehouse_tests::create_user(&mut registry, "alice").await;
    let spec = gatehouse_tests::AppSpec {
        name: "Alice's app",
        redirect_uris: &[REDIRECT],
        client_type: ClientType::Confidential,
        grants: &gatehouse_oauth::GrantType::ALL,
        // `ssf.manage`: the application is also a Shared Signals receiver in the replica tests.
        scopes: &["user", "ssf.manage"],
    };
    gatehouse_tests::register_application(&mut registry, &user.id, spec).await
}

/// The id of the user `username`.
pub(crate) async fn user_id(deployment: &Deployment, registry_port: u16, username: &str) -> String {
    use gatehouse_proto::pb::registry::v1 as registry_pb;
    let channel = deployment.grpc(registry_port, "operator").await;
    let mut registry = registry_pb::registry_service_client::RegistryServiceClient::new(channel);
    let lookup = registry_pb::get_user_request::Lookup::Username(username.to_owned());
    let request = registry_pb::GetUserRequest { lookup: Some(lookup), ..Default::default() };
    registry.get_user(request).await.unwrap().into_inner().user.unwrap().id
}
