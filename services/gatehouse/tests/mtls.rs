//! The production shape under mutual TLS: one process per part, each with
//! its own workload certificate (a SPIFFE ID as its URI SAN), the plane
//! admitting exactly the identities `GATEHOUSE_GRPC_PEERS` lists. Every
//! method of every service is asked by every identity (the parts, an
//! operator, a validator, and an intruder whose certificate comes from the
//! right CA for an unlisted workload); the operator's CLI works over mTLS;
//! the public flow works through the gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gatehouse_runtime::access::policy::{self, Rule};
use gatehouse_tests::plane::{self, Answer};
use gatehouse_tests::{Backend, TestDatabase};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};

mod support;

use support::{BIN, Deployment, Part, free_port};

const DOMAIN: &str = "spiffe://gatehouse.test";

/// Every identity of the test and the role it is listed with (None: unlisted).
const IDENTITIES: [(&str, &str, Option<&str>); 7] = [
    ("gateway", "/ns/gatehouse/sa/gateway", Some("gateway")),
    ("registry", "/ns/gatehouse/sa/registry", Some("registry")),
    ("authorization", "/ns/gatehouse/sa/authorization", Some("authorization")),
    ("token", "/ns/gatehouse/sa/token", Some("token")),
    ("operator", "/ns/ops/sa/alice", Some("operator")),
    ("validator", "/ns/billing/sa/api", Some("validator:billing-api")),
    ("intruder", "/ns/other/sa/intruder", None),
];

/// A CA and one certificate per identity, written to `dir`.
fn pki(dir: &Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "gatehouse test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, path, _) in IDENTITIES {
        // Servers are dialled as `localhost`; the identity is the URI SAN.
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.subject_alt_names.push(SanType::URI(format!("{DOMAIN}{path}").try_into().unwrap()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

fn peers() -> String {
    IDENTITIES
        .iter()
        .filter_map(|(_, path, role)| role.map(|role| format!("{DOMAIN}{path}={role}")))
        .collect::<Vec<_>>()
        .join(",")
}

fn tls_env(dir: &Path, name: &str) -> Vec<(&'static str, String)> {
    let file = |f: String| dir.join(f).display().to_string();
    vec![
        ("GATEHOUSE_TLS_CERT_FILE", file(format!("{name}.pem"))),
        ("GATEHOUSE_TLS_KEY_FILE", file(format!("{name}.key"))),
        ("GATEHOUSE_TLS_CLIENT_CA_FILE", file("ca.pem".to_owned())),
        ("GATEHOUSE_TLS_CA_FILE", file("ca.pem".to_owned())),
    ]
}

/// A channel to `port` presenting `name`'s certificate (none: no client certificate).
async fn channel(dir: &Path, port: u16, name: Option<&str>) -> tonic::transport::Channel {
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let mut tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(name) = name {
        let cert = std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap();
        let key = std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap();
        tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
    }
    tonic::transport::Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_lazy()
}

/// Waits (bounded) until the part behind `metrics_url` is ready.
async fn ready(metrics_url: &str) {
    let readyz = metrics_url.replace("/metrics", "/readyz");
    let since = Instant::now();
    while reqwest::get(&readyz).await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(since.elapsed() < Duration::from_secs(30), "{readyz} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_only_listed_workload_certificates_with_their_roles() {
    let dir: PathBuf = std::env::temp_dir().join(format!("gatehouse-mtls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    pki(&dir);
    let database = TestDatabase::create(Backend::Postgres).await;
    let [registry_port, authorization_port, token_port, gateway_port] =
        [free_port(), free_port(), free_port(), free_port()];
    let mut env = support::shared_settings(database.url(), support::redis_url());
    env.extend([
        ("GATEHOUSE_ISSUER", format!("http://127.0.0.1:{gateway_port}")),
        ("GATEHOUSE_REGISTRY_URL", format!("https://localhost:{registry_port}")),
        ("GATEHOUSE_AUTHORIZATION_URL", format!("https://localhost:{authorization_port}")),
        ("GATEHOUSE_TOKEN_URL", format!("https://localhost:{token_port}")),
        ("GATEHOUSE_GRPC_PEERS", peers()),
        ("GATEHOUSE_TLS_CA_FILE", dir.join("ca.pem").display().to_string()),
    ]);
    let migrate = Command::new(BIN).arg("migrate").envs(env.iter().map(|(k, v)| (*k, v.as_str()))).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    // No stored credential anywhere: the certificates are the only identities.
    let deployment = Deployment::without_credentials(env);
    let part = |name: &str, listen: &'static str, port: u16| {
        let mut extra = tls_env(&dir, name);
        extra.push((listen, format!("127.0.0.1:{port}")));
        Part::start(&deployment, name, &extra)
    };
    let parts = [
        part("registry", "GATEHOUSE_REGISTRY_LISTEN", registry_port),
        part("authorization", "GATEHOUSE_AUTHORIZATION_LISTEN", authorization_port),
        part("token", "GATEHOUSE_TOKEN_LISTEN", token_port),
        part("gateway", "GATEHOUSE_GATEWAY_LISTEN", gateway_port),
    ];
    for part in &parts[..3] {
        ready(&part.metrics_url).await;
    }

    // The operator's CLI over mTLS: creates a user and an application.
    let cli = |name: &str, args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("GATEHOUSE_REGISTRY_URL", format!("https://localhost:{registry_port}"))
            .env("GATEHOUSE_TOKEN_URL", format!("https://localhost:{token_port}"))
            .env("GATEHOUSE_AUTHORIZATION_URL", format!("https://localhost:{authorization_port}"))
            .env("GATEHOUSE_DATABASE_URL", "postgres://unused")
            .envs(tls_env(&dir, name).into_iter().filter(|(k, _)| *k != "GATEHOUSE_TLS_CLIENT_CA_FILE"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let created = cli(
        "operator",
        &["user", "create", "alice", "--email", "a@example.com", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let app = cli(
        "operator",
        &[
            "app",
            "create",
            "--owner",
            "alice",
            "--name",
            "Bot",
            "--redirect-uri",
            "https://bot.example/cb",
            "--grant-type",
            "client_credentials",
            "--scope",
            "user",
            "--output",
            "json",
        ],
        None,
    );
    assert!(app.status.success(), "{}", String::from_utf8_lossy(&app.stderr));
    let app: serde_json::Value = serde_json::from_slice(&app.stdout).unwrap();
    let intruder = cli("intruder", &["user", "show", "alice"], None);
    assert!(!intruder.status.success());
    assert!(
        String::from_utf8_lossy(&intruder.stderr).contains("does not know this caller"),
        "{}",
        String::from_utf8_lossy(&intruder.stderr)
    );
    let keys = cli("operator", &["keys", "list"], None);
    assert!(keys.status.success(), "the token service admits the operator: {}", String::from_utf8_lossy(&keys.stderr));
    let verify = cli("operator", &["audit", "verify"], None);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    // The trail names the operator by certificate.
    let listed = cli("operator", &["audit", "list", "--action", "user.created", "--output", "json"], None);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let actor = &listed[0]["actor"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!((actor["kind"].as_str(), actor["via"].as_str()), (Some("operator"), Some("certificate")), "{listed}");
    assert_eq!(actor["id"].as_str(), Some(format!("{DOMAIN}/ns/ops/sa/alice").as_str()));

    // The public flow: the gateway reaches the registry and the token service as itself.
    let token = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{gateway_port}/oauth/token"))
        .basic_auth(app["client_id"].as_str().unwrap(), app["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials"), ("scope", "user")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "{}", token.text().await.unwrap());

    // Every method × every identity.
    let mut checked = 0;
    for (path, streaming) in plane::methods() {
        let port = if path.starts_with("/gatehouse.registry.") {
            registry_port
        } else if path.starts_with("/gatehouse.authorization.") {
            authorization_port
        } else {
            token_port
        };
        let Rule::Roles(allowed) = policy::rule(&path) else { panic!("{path} has no row") };
        for (name, _, role) in IDENTITIES {
            let got = plane::call(channel(&dir, port, Some(name)).await, &path, streaming).await;
            let expected = match role.map(|r| r.split(':').next().unwrap()) {
                None => Answer::Unidentified,
                Some(role) if allowed.iter().any(|a| a.as_str() == role) => Answer::Handled,
                Some(_) => Answer::Denied,
            };
            assert_eq!(got, expected, "{name} calling {path}");
            checked += 1;
        }
        // Without a client certificate the handshake itself fails.
        assert_eq!(plane::call(channel(&dir, port, None).await, &path, false).await, Answer::NoConnection, "{path}");
    }
    assert!(checked > 60 * IDENTITIES.len());
    drop(parts);
    let _ = std::fs::remove_dir_all(&dir);
}
