//! The one gRPC server stack: health, reflection, timeouts and limits,
//! built the same way for every service.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::shutdown::Shutdown;

pub use tonic_health::server::HealthReporter as Health;

/// Limits applied to every gRPC server, and the signal that it is draining.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Upper bound for one RPC, so that a stuck dependency cannot pin a connection.
    pub request_timeout: Duration,
    /// In-flight RPCs per connection.
    pub concurrency_per_connection: usize,
    /// In-flight RPCs of the whole server; past it, UNAVAILABLE at once
    /// (health checks excepted).
    pub max_concurrent: usize,
    /// Fires when shutdown begins: health turns NOT_SERVING at once, while the
    /// server keeps serving until the actual shutdown (the pre-stop delay).
    pub draining: Option<Shutdown>,
    /// TLS (or mTLS) on the port; plaintext when `None`.
    pub tls: Option<std::sync::Arc<crate::tls::ServerTls>>,
    /// Who may call (see [`crate::access`]); the default knows nobody, so
    /// every call but a health check is refused.
    pub access: crate::access::Access,
    /// Serve gRPC server reflection (to identified callers only).
    pub reflection: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            concurrency_per_connection: 256,
            max_concurrent: 512,
            draining: None,
            tls: None,
            access: crate::access::Access::default(),
            reflection: false,
        }
    }
}

/// Errors while building or running a gRPC server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The health entry that is SERVING while the process runs, whatever its
/// dependencies say: what a liveness probe asks, so that an outage of SQL or
/// Redis makes pods unready, never restarted.
pub const LIVENESS: &str = "liveness";

/// A health reporter for `service_name` that starts NOT_SERVING, plus the
/// health service to mount. The overall status ("") follows the same value.
pub async fn health(
    service_name: &str,
) -> (HealthReporter, tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    crate::part::serving::set(service_name, false);
    reporter.set_service_status(service_name, ServingStatus::NotServing).await;
    reporter.set_service_status("", ServingStatus::NotServing).await;
    reporter.set_service_status(LIVENESS, ServingStatus::Serving).await;
    (reporter, service)
}

/// Sets `service_name` (and the overall status) to `serving`.
pub async fn set_serving(reporter: &HealthReporter, service_name: &str, serving: bool) {
    let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
    crate::part::serving::set(service_name, serving);
    reporter.set_service_status(service_name, status).await;
    reporter.set_service_status("", status).await;
}

/// Keeps the health status in step with `check` (database and cache
/// reachability) every `every`, so that a service whose dependency went away
/// reports NOT_SERVING and comes back by itself when it returns.
pub fn monitor_health<C, F>(
    reporter: HealthReporter,
    service_name: &'static str,
    every: Duration,
    draining: Option<Shutdown>,
    check: C,
) where
    C: Fn() -> F + Send + 'static,
    F: Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let is_draining = draining.as_ref().is_some_and(Shutdown::is_requested);
            let ok = !is_draining && check().await;
            if last != Some(ok) {
                if ok {
                    tracing::info!(service = service_name, "dependencies reachable, serving");
                } else if is_draining {
                    tracing::info!(service = service_name, "draining before shutdown, not serving");
                } else {
                    tracing::warn!(service = service_name, "a dependency is unreachable, not serving");
                }
                set_serving(&reporter, service_name, ok).await;
                last = Some(ok);
            }
            if is_draining {
                return;
            }
            match draining.clone() {
                Some(draining) => {
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        () = draining.wait() => {}
                    }
                }
                None => tokio::time::sleep(every).await,
            }
        }
    });
}

/// How often a service re-checks what its readiness depends on.
const READINESS_EVERY: Duration = Duration::from_secs(5);

/// The whole serving wiring of one Gatehouse service, the same for all:
/// health starts NOT_SERVING and follows `ready` (the service's own
/// dependencies: its database, its cache) every few seconds and turns
/// NOT_SERVING when draining begins; then `routes` are served with
/// reflection and the shared limits until `shutdown` resolves.
pub async fn serve_service<C, R, F>(
    service_name: &'static str,
    routes: Routes,
    ready: C,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: F,
) -> Result<(), ServeError>
where
    C: Fn() -> R + Send + 'static,
    R: Future<Output = bool> + Send,
    F: Future<Output = ()> + Send,
{
    let (health, health_service) = health(service_name).await;
    monitor_health(health, service_name, READINESS_EVERY, limits.draining.clone(), ready);
    serve(service_name, routes, health_service, listener, limits, shutdown).await
}

/// Serves `routes` (plus reflection, when turned on) on `listener` until
/// `shutdown` resolves, then lets in-flight RPCs finish. Every call but a
/// health check passes the access guard first.
pub async fn serve<S, F>(
    service_name: &'static str,
    routes: Routes,
    health_service: tonic_health::pb::health_server::HealthServer<S>,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: F,
) -> Result<(), ServeError>
where
    S: tonic_health::pb::health_server::Health,
    F: Future<Output = ()> + Send,
{
    let mut routes = routes;
    if limits.reflection {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(gatehouse_proto::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        // grpcurl and many tools still ask the v1alpha service.
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(gatehouse_proto::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        routes = routes.add_service(reflection_v1).add_service(reflection_v1alpha);
    }
    let router = Server::builder()
        .timeout(limits.request_timeout)
        // Never below the server's bound: a connection that queued at its own
        // limit would keep a burst from reaching the shedding layer.
        .concurrency_limit_per_connection(limits.concurrency_per_connection.max(limits.max_concurrent))
        .tcp_nodelay(true)
        .layer(crate::observe::ObserveLayer)
        .layer(crate::shed::ShedLayer::new(limits.max_concurrent))
        .layer(crate::access::GuardLayer::new(service_name, limits.access.clone()))
        .add_routes(routes)
        .add_service(health_service);
    match limits.tls {
        Some(tls) => {
            let (incoming, acceptor) = crate::tls::incoming(listener, tls);
            let served = router.serve_with_incoming_shutdown(incoming, shutdown).await;
            // Returns once the port is closed, as the plaintext path does.
            let _ = acceptor.await;
            served?;
        }
        None => {
            // `tcp_nodelay` above applies only to listeners tonic binds itself:
            // set it on each accepted socket here, as the TLS path does.
            // Without it a stream's small messages (WatchRevocations) wait for
            // the peer's delayed ACK, ~40 ms each.
            use tokio_stream::StreamExt as _;
            let incoming = TcpListenerStream::new(listener).map(|accepted| {
                if let Ok(stream) = &accepted {
                    let _ = stream.set_nodelay(true);
                }
                accepted
            });
            router.serve_with_incoming_shutdown(incoming, shutdown).await?;
        }
    }
    Ok(())
}
