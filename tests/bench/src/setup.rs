//! Starting Gatehouse in either shape and preparing users, applications,
//! a logged-in session with consent, and tokens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use gatehouse_proto::pb::common::v1::ClientType;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;

pub(crate) const CALLBACK: &str = "http://127.0.0.1:9999/cb";
const PASSWORD: &str = "bench password 1";

pub(crate) enum Shape {
    Embedded,
    /// Four processes on PostgreSQL and a cache: `name` says which cache
    /// shape (one Redis, a Sentinel group, a Cluster).
    Production {
        name: String,
        database: String,
        redis: String,
    },
}

impl Shape {
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Embedded => "embedded".to_owned(),
            Self::Production { name, .. } => name.clone(),
        }
    }
}

/// Running Gatehouse processes; killed on drop.
pub(crate) struct Gatehouse {
    children: Vec<Child>,
    pub(crate) gateway: String,
    pub(crate) registry: String,
    pub(crate) token: String,
    /// An operator credential (the embedded default's file, or bootstrapped).
    pub(crate) operator: String,
    /// A validator credential the operator issued: what internal services present.
    pub(crate) validator: String,
    /// Each process's `/metrics` URL.
    metrics: Vec<String>,
    /// The production shape's database and single Redis (for their own
    /// statement and command counters); none in the embedded shape.
    database: Option<String>,
    redis: Option<String>,
    _dir: TempDir,
}

/// Work done so far, counted where it is served: gRPC calls (every part's
/// `grpc_server_requests`, health checks left out), SQL statements
/// (PostgreSQL's `pg_stat_statements`, transaction control included) and
/// Redis commands (`INFO commandstats`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) grpc: f64,
    pub(crate) sql: Option<f64>,
    pub(crate) redis: Option<f64>,
}

impl Counters {
    /// Per request, from `before` to `self`: "gRPC / SQL / Redis".
    pub(crate) fn per_request(&self, before: &Self, requests: u64) -> String {
        let n = requests.max(1) as f64;
        let each = |now: Option<f64>, then: Option<f64>| match (now, then) {
            (Some(now), Some(then)) => format!("{:.1}", (now - then) / n),
            _ => "-".to_owned(),
        };
        format!(
            "{} / {} / {}",
            each(Some(self.grpc), Some(before.grpc)),
            each(self.sql, before.sql),
            each(self.redis, before.redis)
        )
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The statements the database has run so far (needs `pg_stat_statements`
/// in `shared_preload_libraries`, as `tests/services.sh` starts it).
fn sql_statements(database: &str) -> Option<f64> {
    let query = "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())";
    command_output("psql", &[database, "-Atqc", query])?.trim().parse().ok()
}

/// The commands Redis has run so far, `INFO` itself left out.
fn redis_commands(redis: &str) -> Option<f64> {
    let info = command_output("redis-cli", &["-u", redis, "info", "commandstats"])?;
    Some(
        info.lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
            .filter_map(|l| l.split_once("calls=")?.1.split(',').next()?.parse::<f64>().ok())
            .sum(),
    )
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything the scenarios need.
pub(crate) struct Fixture {
    /// The signed-in user's id.
    pub(crate) user_id: String,
    pub(crate) client_id: String,
    pub(crate) secret: String,
    pub(crate) session_cookie: String,
    pub(crate) access_token: String,
    /// The same application registered with ES256 ID tokens
    /// (`id_token_signed_response_alg`), consented too: (client id, secret).
    es256: (String, String),
}

impl Fixture {
    /// The scenarios as the ES256 application.
    pub(crate) fn es256(&self) -> Self {
        Self {
            user_id: self.user_id.clone(),
            client_id: self.es256.0.clone(),
            secret: self.es256.1.clone(),
            session_cookie: self.session_cookie.clone(),
            access_token: self.access_token.clone(),
            es256: self.es256.clone(),
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `gatehouse credential bootstrap --role ROLE`: a credential written straight into the database.
fn bootstrap(binary: &str, env: &[(String, String)], role: &str) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .args(["credential", "bootstrap", "--role", role, "--name", role, "--output", "json"])
        .envs(env.iter().cloned())
        .output()?;
    if !output.status.success() {
        bail!("credential bootstrap: {}", String::from_utf8_lossy(&output.stderr));
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok(answer["credential"].as_str().context("credential")?.to_owned())
}

/// Spawns `gatehouse serve PART` (pinned with taskset when SERVER_CPU is set)
/// and waits for its "listening on" lines (`expect` parts plus the metrics endpoint).
fn spawn(binary: &str, part: &str, env: &[(String, String)], expect: usize) -> anyhow::Result<(Child, Vec<String>)> {
    let mut command = match std::env::var("SERVER_CPU") {
        Ok(cpu) if !cpu.is_empty() => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu, binary]);
            c
        }
        _ => Command::new(binary),
    };
    command.args(["serve", part]).envs(env.iter().cloned()).stderr(Stdio::piped());
    let mut child =
        command.spawn().with_context(|| format!("starting {binary} (build it with cargo build --release)"))?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut urls = Vec::new();
    while urls.len() < expect + 1 {
        let Some(line) = lines.next() else { bail!("gatehouse serve {part} exited before listening") };
        if let Some((what, url)) = gatehouse_runtime::telemetry::parse_listening(&line?) {
            urls.push(format!("{what}={url}"));
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok((child, urls))
}

fn url_of(urls: &[String], part: &str) -> String {
    urls.iter().find_map(|u| u.strip_prefix(&format!("{part}="))).unwrap_or_default().to_owned()
}

impl Gatehouse {
    /// Starts `binary` in `shape`, trusting `receiver_ca` (PEM) for the
    /// Shared Signals receiver this program serves on loopback.
    pub(crate) async fn start(binary: &str, shape: Shape, receiver_ca: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let ca_file = dir.join("receiver-ca.pem");
        std::fs::write(&ca_file, receiver_ca)?;
        let gateway_port = free_port()?;
        let issuer = format!("http://127.0.0.1:{gateway_port}");
        let mut env = vec![
            ("GATEHOUSE_GATEWAY_LISTEN".to_owned(), format!("127.0.0.1:{gateway_port}")),
            ("GATEHOUSE_ISSUER".to_owned(), issuer.clone()),
            ("GATEHOUSE_LOG_FORMAT".to_owned(), "text".to_owned()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
            ("GATEHOUSE_METRICS_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("GATEHOUSE_FETCH_ALLOW_NETWORKS".to_owned(), "127.0.0.1/32".to_owned()),
            ("GATEHOUSE_FETCH_CA_FILE".to_owned(), ca_file.display().to_string()),
        ];
        let this = match shape {
            Shape::Embedded => {
                env.push(("GATEHOUSE_DATABASE_URL".to_owned(), format!("sqlite://{}/bench.db", dir.display())));
                for part in ["REGISTRY", "AUTHORIZATION", "TOKEN"] {
                    env.push((format!("GATEHOUSE_{part}_LISTEN"), "127.0.0.1:0".to_owned()));
                }
                let (child, urls) = spawn(binary, "all", &env, 4)?;
                let metrics = vec![url_of(&urls, "metrics")];
                // `serve all` writes its operator credential before it listens.
                let operator = std::fs::read_to_string(dir.join("operator-credential"))?.trim().to_owned();
                Self {
                    children: vec![child],
                    gateway: issuer,
                    registry: url_of(&urls, "registry"),
                    token: url_of(&urls, "token"),
                    operator,
                    validator: String::new(),
                    metrics,
                    database: None,
                    redis: None,
                    _dir: TempDir(dir),
                }
            }
            Shape::Production { database, redis, .. } => {
                let ports = [free_port()?, free_port()?, free_port()?];
                env.push(("GATEHOUSE_DATABASE_URL".to_owned(), database.clone()));
                env.push(("GATEHOUSE_CACHE_URL".to_owned(), redis.clone()));
                // Counted on the database and a single Redis only (a
                // Sentinel group's or a Cluster's commands spread over nodes).
                let _ =
                    command_output("psql", &[&database, "-qc", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"]);
                let single_redis = redis.starts_with("redis://").then_some(redis);
                // PostgreSQL needs the signing keys' key-encryption key (any 32 bytes here).
                env.push((
                    "GATEHOUSE_KEY_ENCRYPTION_KEY".to_owned(),
                    "YmVuY2gta2V5LWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM=".to_owned(),
                ));
                env.push(("GATEHOUSE_CACHE_PREFIX".to_owned(), format!("bench{}:", std::process::id())));
                for (part, port) in ["REGISTRY", "AUTHORIZATION", "TOKEN"].iter().zip(ports) {
                    env.push((format!("GATEHOUSE_{part}_LISTEN"), format!("127.0.0.1:{port}")));
                    env.push((format!("GATEHOUSE_{part}_URL"), format!("http://127.0.0.1:{port}")));
                }
                let mut children = Vec::new();
                let mut metrics = Vec::new();
                // Migrations once, then each part without them (as the migration Job does).
                let status =
                    Command::new(binary).arg("migrate").envs(env.iter().cloned()).stdout(Stdio::null()).status()?;
                if !status.success() {
                    bail!("gatehouse migrate failed");
                }
                env.push(("GATEHOUSE_AUTO_MIGRATE".to_owned(), "false".to_owned()));
                // Each part presents its own internal credential, as the production overlay does.
                for part in ["registry", "authorization", "token", "gateway"] {
                    let mut part_env = env.clone();
                    part_env.push(("GATEHOUSE_CREDENTIAL".to_owned(), bootstrap(binary, &env, part)?));
                    let (child, urls) = spawn(binary, part, &part_env, 1)?;
                    children.push(child);
                    metrics.push(url_of(&urls, "metrics"));
                }
                Self {
                    children,
                    gateway: issuer,
                    registry: format!("http://127.0.0.1:{}", ports[0]),
                    token: format!("http://127.0.0.1:{}", ports[2]),
                    operator: bootstrap(binary, &env, "operator")?,
                    validator: String::new(),
                    metrics,
                    database: Some(database),
                    redis: single_redis,
                    _dir: TempDir(dir),
                }
            }
        };
        Ok(this)
    }

    /// The work counters now (see [`Counters`]).
    pub(crate) async fn counters(&self) -> Counters {
        let http = reqwest::Client::new();
        let mut grpc = 0.0;
        for url in &self.metrics {
            let Ok(response) = http.get(url).send().await else { continue };
            let text = response.text().await.unwrap_or_default();
            grpc += text
                .lines()
                .filter(|l| l.contains("grpc_server_requests_total{") && !l.contains("grpc.health"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        Counters {
            grpc,
            sql: self.database.as_deref().and_then(sql_statements),
            redis: self.redis.as_deref().and_then(redis_commands),
        }
    }

    /// CPU seconds the processes used so far (user + system).
    pub(crate) fn cpu_seconds(&self) -> f64 {
        self.children.iter().map(|c| process_cpu_seconds(&c.id().to_string())).sum()
    }

    /// Resident memory of the processes, in MiB.
    pub(crate) fn rss_mib(&self) -> f64 {
        self.children
            .iter()
            .filter_map(|c| std::fs::read_to_string(format!("/proc/{}/status", c.id())).ok())
            .filter_map(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .sum::<f64>()
            / 1024.0
    }

    /// A user, a confidential application allowed every grant, a session
    /// that already consented, and one access token.
    pub(crate) async fn fixture(&mut self) -> anyhow::Result<Fixture> {
        let channel = tonic::transport::Endpoint::from_shared(self.registry.clone())?.connect().await?;
        let operator: tonic::metadata::MetadataValue<_> = format!("Bearer {}", self.operator).parse()?;
        let mut registry = RegistryServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", operator.clone());
            Ok(request)
        });
        self.validator = registry
            .create_credential(pb::CreateCredentialRequest {
                name: "bench validator".into(),
                role: "validator".into(),
                ttl_seconds: 0,
            })
            .await?
            .into_inner()
            .credential;
        let user = registry
            .create_user(pb::CreateUserRequest {
                username: "bench".into(),
                email: "bench@example.com".into(),
                password: PASSWORD.into(),
                client_address: String::new(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .user
            .context("user")?;
        let register = |alg: &str| pb::RegisterApplicationRequest {
            owner_id: user.id.clone(),
            name: "bench".into(),
            redirect_uris: vec![CALLBACK.into()],
            client_type: ClientType::Confidential as i32,
            grant_types: gatehouse_proto::convert::grant_types_to_pb(&gatehouse_oauth::GrantType::ALL),
            scopes: vec!["user".into(), "openid".into(), "ssf.manage".into()],
            id_token_signed_response_alg: alg.into(),
            ..Default::default()
        };
        let app = registry.register_application(register("")).await?.into_inner();
        let client_id = app.application.context("application")?.client_id;
        let es256 = registry.register_application(register("ES256")).await?.into_inner();
        let es256 = (es256.application.context("application")?.client_id, es256.client_secret);
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let login = http.get(format!("{}/login", self.gateway)).send().await?;
        let form_cookie = cookie(&login, "gatehouse_form").context("form cookie")?;
        let body = login.text().await?;
        let csrf = input(&body, "csrf_token").context("login csrf")?;
        let signed_in = http
            .post(format!("{}/login", self.gateway))
            .header("cookie", format!("gatehouse_form={form_cookie}"))
            .form(&[("csrf_token", csrf.as_str()), ("username", "bench"), ("password", PASSWORD), ("next", "/")])
            .send()
            .await?;
        let session = cookie(&signed_in, "gatehouse_session").context("session cookie")?;
        let session_cookie = format!("gatehouse_session={session}");
        for client in [&client_id, &es256.0] {
            let consent = http
                // Consent once for both scopes the scenarios ask (`user`, `openid user`).
                .get(authorize_url(&self.gateway, client, OPENID_SCOPE))
                .header("cookie", &session_cookie)
                .send()
                .await?
                .text()
                .await?;
            let request_id = input(&consent, "request_id").context("consent page")?;
            let csrf = input(&consent, "csrf_token").context("consent csrf")?;
            http.post(format!("{}/oauth/authorize/decision", self.gateway))
                .header("cookie", &session_cookie)
                .form(&[("csrf_token", csrf.as_str()), ("request_id", request_id.as_str()), ("decision", "approve")])
                .send()
                .await?;
        }
        let token: serde_json::Value = http
            .post(format!("{}/oauth/token", self.gateway))
            .basic_auth(&client_id, Some(&app.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .json()
            .await?;
        let access_token = token["access_token"].as_str().context("access token")?.to_owned();
        Ok(Fixture { user_id: user.id, client_id, secret: app.client_secret, session_cookie, access_token, es256 })
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The plain OAuth scope of the scenarios, and the OpenID Connect one (an RS256 ID token per exchange).
pub(crate) const PLAIN_SCOPE: &str = "user";
pub(crate) const OPENID_SCOPE: &str = "openid%20user";

pub(crate) fn authorize_url(gateway: &str, client_id: &str, scope: &str) -> String {
    format!(
        "{gateway}/oauth/authorize?client_id={client_id}&response_type=code&scope={scope}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb"
    )
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?;
        let (k, value) = pair.split_once('=')?;
        (k == name).then(|| value.to_owned())
    })
}

fn input(body: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_owned())
}

/// User plus system CPU seconds of a process (`self` for this one), from
/// `/proc/<pid>/stat`.
pub(crate) fn process_cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces): utime is 14th, stime 15th overall.
    let ticks = stat.rsplit_once(')').map_or(0.0, |(_, rest)| {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        field(11) + field(12)
    });
    ticks / 100.0
}
