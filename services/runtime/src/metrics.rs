//! Prometheus metrics of one process, served as OpenMetrics text on
//! `GET /metrics` of a listener of its own (never the public gateway port).
//!
//! One registry per process: `serve all` reports every part in one place,
//! and the `service` / `route` labels say which part answered. Labels only
//! ever take values from a fixed set (RPC names, route templates, grant
//! types), never from request data, so a caller cannot grow the series.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sea_orm::{DatabaseConnection, DatabaseConnectionType};
use tokio::net::TcpListener;

/// One gRPC method, as the server saw it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub service: String,
    pub method: String,
    /// The gRPC status code name, such as `OK` or `UNAUTHENTICATED`.
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcMethod {
    pub service: String,
    pub method: String,
}

/// One HTTP route of the gateway (the template, such as `/api/apps/{id}`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRoute {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssuedLabels {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    pub grant_type: &'static str,
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// What is cached, such as `token`.
    pub cache: &'static str,
    /// `hit`, `miss` or `error`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: &'static str,
    /// `idle` or `in_use`.
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimiterLabels {
    /// The throttle, such as `password` or `client_authentication`.
    pub limiter: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlgLabels {
    /// A signing algorithm, such as `RS256`.
    pub alg: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SetLabels {
    /// `written`, `dropped` (over a stream's backlog bound), `delivered`
    /// (push answered 202), `acknowledged` (poll), `retried` (push failed,
    /// tried again later) or `refused` (the receiver rejected it for good).
    pub outcome: &'static str,
}

/// Every metric a Gatehouse process reports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub rpc_requests: Family<RpcLabels, Counter>,
    pub rpc_duration: Family<RpcMethod, Histogram>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpRoute, Histogram>,
    pub tokens_issued: Family<IssuedLabels, Counter>,
    pub introspections: Family<ResultLabels, Counter>,
    pub cache_lookups: Family<CacheLabels, Counter>,
    /// Requests refused at once because the process was at its bound.
    pub shed: Counter,
    /// Audit events that could not be appended (each also logged as an error).
    pub audit_failures: Counter,
    /// Security Event Tokens of the Shared Signals transmitter, by outcome.
    pub ssf_sets: Family<SetLabels, Counter>,
    /// SETs waiting in every stream's outbox (undelivered or unacknowledged).
    pub ssf_backlog: Gauge,
    /// Attempts a throttle refused, by limiter.
    throttle_refusals: Family<LimiterLabels, Counter>,
    /// Cache circuit breakers open now (calls skip the cache).
    pub cache_breakers_open: Gauge,
    /// Times a cache circuit breaker opened.
    pub cache_breaker_trips: Counter,
    /// When the active signing key of each algorithm became active (Unix seconds).
    pub signing_key_activated: Family<AlgLabels, Gauge>,
    /// When it is due to be rotated (Unix seconds); absent without a rotation schedule.
    pub signing_key_rotation_due: Family<AlgLabels, Gauge>,
    /// Streams of `WatchRevocations` this process serves now.
    pub revocation_consumers: Gauge,
    /// Events of the revocation log the slowest of them has not been sent yet.
    pub revocation_lag: Gauge,
    pool_connections: Family<PoolLabels, Gauge>,
    pools: RwLock<Vec<(&'static str, DatabaseConnection)>>,
    /// The handles of each RPC path seen, so that the hot path neither
    /// allocates labels nor hashes them twice.
    rpc_paths: RwLock<HashMap<String, Arc<RpcHandles>>>,
}

/// The metrics of one RPC method: its latency and one counter per status code.
#[derive(Debug)]
struct RpcHandles {
    method: RpcMethod,
    duration: Histogram,
    counts: [OnceLock<Counter>; 17],
}

/// Latency buckets from 0.25 ms to about 4 s: internal RPCs take well under a
/// millisecond, a login (argon2id) tens of milliseconds.
fn latency() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.000_25, 2.0, 15))
}

impl Metrics {
    fn new() -> Self {
        let mut root = Registry::default();
        // The process's own series keep their standard names (`process_*`).
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("gatehouse");
        let build = prometheus_client::metrics::info::Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("build", "The running build (always 1): its version", build);
        let rpc_requests = Family::default();
        registry.register(
            "grpc_server_requests",
            "gRPC requests served, by method and status code",
            rpc_requests.clone(),
        );
        let rpc_duration = Family::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "grpc_server_request_duration_seconds",
            "Time to answer a gRPC request, by method",
            rpc_duration.clone(),
        );
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests the gateway answered, by route and status",
            http_requests.clone(),
        );
        let http_duration = Family::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            http_duration.clone(),
        );
        let tokens_issued = Family::default();
        registry.register("tokens_issued", "Tokens issued, by grant type and token type", tokens_issued.clone());
        let introspections = Family::default();
        registry.register(
            "introspections",
            "Token introspections, by result (active or inactive)",
            introspections.clone(),
        );
        let cache_lookups = Family::default();
        registry.register(
            "cache_lookups",
            "Cache lookups, by cache and result (hit, miss, error)",
            cache_lookups.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "requests_shed",
            "Requests refused at once (503 / UNAVAILABLE) because the process served its maximum",
            shed.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_append_failures",
            "Audit events that could not be appended to the trail (each also logged as an error)",
            audit_failures.clone(),
        );
        let ssf_sets = Family::<SetLabels, Counter>::default();
        for outcome in ["written", "dropped", "delivered", "acknowledged", "retried", "refused"] {
            let _ = ssf_sets.get_or_create(&SetLabels { outcome });
        }
        registry.register(
            "ssf_sets",
            "Security Event Tokens of the Shared Signals transmitter, by outcome",
            ssf_sets.clone(),
        );
        let ssf_backlog = Gauge::default();
        registry.register(
            "ssf_backlog",
            "Security Event Tokens waiting in the streams' outboxes (undelivered or unacknowledged)",
            ssf_backlog.clone(),
        );
        let throttle_refusals = Family::<LimiterLabels, Counter>::default();
        // Every known label value from the start, at 0: a series that
        // appears only with its first event breaks `rate()` and alerts.
        for limiter in crate::throttle::Limiter::ALL {
            let _ = throttle_refusals.get_or_create(&LimiterLabels { limiter: limiter.as_str() });
        }
        registry.register(
            "throttle_refusals",
            "Attempts a throttle refused (429 / RESOURCE_EXHAUSTED), by limiter",
            throttle_refusals.clone(),
        );
        let cache_breakers_open = Gauge::default();
        registry.register(
            "cache_breakers_open",
            "Cache circuit breakers open now: calls skip the cache (SQL answers, or 503 where only the cache can)",
            cache_breakers_open.clone(),
        );
        let cache_breaker_trips = Counter::default();
        registry.register(
            "cache_breaker_trips",
            "Times a cache circuit breaker opened after consecutive failures",
            cache_breaker_trips.clone(),
        );
        let signing_key_activated = Family::default();
        registry.register(
            "signing_key_activated_timestamp_seconds",
            "When the active signing key of each algorithm became active (Unix time)",
            signing_key_activated.clone(),
        );
        let signing_key_rotation_due = Family::default();
        registry.register(
            "signing_key_rotation_due_timestamp_seconds",
            "When the active signing key of each algorithm is due to be rotated (Unix time; with a schedule only)",
            signing_key_rotation_due.clone(),
        );
        let revocation_consumers = Gauge::default();
        registry.register(
            "revocation_stream_consumers",
            "WatchRevocations streams this process serves now",
            revocation_consumers.clone(),
        );
        let revocation_lag = Gauge::default();
        registry.register(
            "revocation_stream_lag_events",
            "Events of the revocation log the slowest stream of this process has not been sent yet",
            revocation_lag.clone(),
        );
        let pool_connections = Family::default();
        registry.register(
            "db_pool_connections",
            "SQL connections of the pool, by state (idle or in_use)",
            pool_connections.clone(),
        );
        Self {
            registry: root,
            rpc_requests,
            rpc_duration,
            http_requests,
            http_duration,
            tokens_issued,
            introspections,
            cache_lookups,
            shed,
            audit_failures,
            ssf_sets,
            ssf_backlog,
            throttle_refusals,
            cache_breakers_open,
            cache_breaker_trips,
            signing_key_activated,
            signing_key_rotation_due,
            revocation_consumers,
            revocation_lag,
            pool_connections,
            pools: RwLock::new(Vec::new()),
            rpc_paths: RwLock::default(),
        }
    }

    /// Counts and times one RPC of `path` (`/package.Service/Method`).
    pub fn record_rpc(&self, path: &str, code: tonic::Code, elapsed: Duration) {
        // Unknown services and methods would let a caller invent labels.
        let path = if code == tonic::Code::Unimplemented { "/unknown/unknown" } else { path };
        let found = self.rpc_paths.read().unwrap_or_else(PoisonError::into_inner).get(path).cloned();
        let handles = found.unwrap_or_else(|| {
            let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or(("unknown", "unknown"));
            let method = RpcMethod { service: service.to_owned(), method: method.to_owned() };
            let handles = Arc::new(RpcHandles {
                duration: self.rpc_duration.get_or_create(&method).clone(),
                method,
                counts: Default::default(),
            });
            let mut paths = self.rpc_paths.write().unwrap_or_else(PoisonError::into_inner);
            paths.entry(path.to_owned()).or_insert(handles).clone()
        });
        handles.duration.observe(elapsed.as_secs_f64());
        let index = usize::try_from(code as i32).unwrap_or(0).min(16);
        handles.counts[index]
            .get_or_init(|| {
                let labels = RpcLabels {
                    service: handles.method.service.clone(),
                    method: handles.method.method.clone(),
                    code: code_name(code),
                };
                self.rpc_requests.get_or_create(&labels).clone()
            })
            .inc();
    }

    /// Counts an attempt `limiter` refused.
    pub fn throttled(&self, limiter: crate::throttle::Limiter) {
        self.throttle_refusals.get_or_create(&LimiterLabels { limiter: limiter.as_str() }).inc();
    }

    /// Reports the connections of `db`'s pool as `pool` on every scrape.
    /// Registering one name twice (parts sharing a pool) keeps the first.
    pub fn watch_pool(&self, pool: &'static str, db: &DatabaseConnection) {
        let mut pools = self.pools.write().unwrap_or_else(PoisonError::into_inner);
        if !pools.iter().any(|(name, _)| *name == pool) {
            pools.push((pool, db.clone()));
        }
    }

    fn sample_pools(&self) {
        let pools = self.pools.read().unwrap_or_else(PoisonError::into_inner);
        for (pool, db) in pools.iter() {
            let (size, idle) = match &db.inner {
                DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                    let p = db.get_sqlite_connection_pool();
                    (p.size(), p.num_idle())
                }
                DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                    let p = db.get_postgres_connection_pool();
                    (p.size(), p.num_idle())
                }
                DatabaseConnectionType::Disconnected => continue,
            };
            let idle = i64::try_from(idle).unwrap_or(i64::MAX);
            self.pool_connections.get_or_create(&PoolLabels { pool, state: "idle" }).set(idle);
            self.pool_connections
                .get_or_create(&PoolLabels { pool, state: "in_use" })
                .set(i64::from(size).saturating_sub(idle).max(0));
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        self.sample_pools();
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The standard process series (as every Prometheus client library names
/// them), read from the operating system on each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::MetricType;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let process = metrics_process::collector::collect();
        if let Some(cpu) = process.cpu_seconds_total {
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(cpu).encode(metric)?;
        }
        let gauges = [
            ("process_resident_memory_bytes", "Resident memory size in bytes", process.resident_memory_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes", process.virtual_memory_bytes),
            ("process_open_fds", "Number of open file descriptors", process.open_fds),
            ("process_max_fds", "Maximum number of open file descriptors (0: unlimited)", process.max_fds),
            ("process_threads", "Number of OS threads in the process", process.threads),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                process.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(metric)?;
            }
        }
        Ok(())
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves, with
/// plain-HTTP `/healthz` (the process runs) and `/readyz` (every gRPC
/// service of the process is SERVING) for probes of pods whose gRPC port
/// speaks TLS.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    async fn scrape() -> impl axum::response::IntoResponse {
        (
            [(http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            metrics().render(),
        )
    }
    async fn ready() -> http::StatusCode {
        if crate::part::serving::ready() { http::StatusCode::OK } else { http::StatusCode::SERVICE_UNAVAILABLE }
    }
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(ready));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// The name of a gRPC status code, as Prometheus labels usually spell it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
