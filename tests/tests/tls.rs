//! TLS and mutual TLS on the gRPC ports, through the server stack every
//! service uses and the balanced channels every caller uses: a caller with
//! the CA and a client certificate gets through, one without a client
//! certificate or speaking plaintext does not; rotating the files (a new CA,
//! new certificates, as a Secret update does) takes effect for new
//! connections on both sides without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_client::UpstreamOptions;
use gatehouse_client::tls::ClientTls;
use gatehouse_runtime::grpc::ServerLimits;
use gatehouse_runtime::tls::{ServerTls, ServerTlsFiles};
use gatehouse_tests::pki::{Files, pki};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A gRPC server with TLS from `files` on `port` (0: any), until `stop`
/// fires; its task ends once the listener is closed.
async fn serve_health(
    files: &Files,
    port: u16,
    stop: gatehouse_runtime::Shutdown,
) -> (u16, tokio::task::JoinHandle<Result<(), gatehouse_runtime::grpc::ServeError>>) {
    let tls = ServerTls::load(ServerTlsFiles {
        cert: files.path("server.pem"),
        key: files.path("server.key"),
        client_ca: Some(files.path("ca.pem")),
    })
    .expect("the TLS files load");
    let (_reporter, health) = gatehouse_runtime::grpc::health("test").await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let limits = ServerLimits { tls: Some(tls), ..ServerLimits::default() };
    let server = tokio::spawn(gatehouse_runtime::grpc::serve(
        "test",
        tonic::service::Routes::default(),
        health,
        listener,
        limits,
        stop.wait(),
    ));
    (port, server)
}

fn options(ca: &Path, identity: Option<(PathBuf, PathBuf)>) -> UpstreamOptions {
    UpstreamOptions {
        timeout: Duration::from_secs(3),
        tls: Some(ClientTls { ca: ca.to_owned(), identity }),
        ..UpstreamOptions::default()
    }
}

/// Whether a health check over `channel` succeeds.
async fn answers(channel: gatehouse_client::Upstream) -> bool {
    HealthClient::new(channel).check(HealthCheckRequest { service: "liveness".to_owned() }).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_only_certified_callers_and_reloads_rotated_files() {
    let files = Files::new("gatehouse-tls");
    let first = pki("first");
    files.write(&first);
    let (stop_first_server, stopped) = gatehouse_runtime::Shutdown::new();
    let (port, first_server) = serve_health(&files, 0, stopped).await;
    let url = format!("https://localhost:{port}");
    let identity = Some((files.path("client.pem"), files.path("client.key")));

    let certified =
        gatehouse_client::upstream::balanced(&url, options(&files.path("ca.pem"), identity.clone())).unwrap();
    assert!(answers(certified.clone()).await, "a caller with the CA and a client certificate gets through");
    let anonymous = gatehouse_client::upstream::balanced(&url, options(&files.path("ca.pem"), None)).unwrap();
    assert!(!answers(anonymous).await, "mTLS: a caller without a client certificate is refused");
    let plaintext =
        gatehouse_client::upstream::balanced(&format!("http://localhost:{port}"), UpstreamOptions::default()).unwrap();
    assert!(!answers(plaintext).await, "the port speaks TLS only");

    // A caller that keeps the first CA in memory: it proves below that the
    // server presents a certificate of the new CA once the files change.
    let pinned_first = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&first.ca))
                .identity(tonic::transport::Identity::from_pem(&first.client.0, &first.client.1))
                .domain_name("localhost"),
        )
        .unwrap();
    assert!(pinned_first.connect().await.is_ok());

    // Rotation: a new CA and new certificates, on both sides, in place.
    let second = pki("second");
    files.write(&second);
    // The server looks at its files at most once a second, when a connection
    // arrives; the callers on every refresh (one second). Bounded wait.
    let mut rotated = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let fresh =
            gatehouse_client::upstream::balanced(&url, options(&files.path("ca.pem"), identity.clone())).unwrap();
        if answers(fresh).await {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "a new caller with the rotated files never got through");
    assert!(pinned_first.connect().await.is_err(), "the server now presents the new CA's certificate");

    // The channel made before the rotation re-read its files too: once its
    // connection is gone (the server restarts with only the new files), it
    // reconnects with the new CA and client certificate, without a restart.
    stop_first_server.trigger();
    first_server.await.unwrap().unwrap();
    let (_keep, running) = gatehouse_runtime::Shutdown::new();
    let _second_server = serve_health(&files, port, running).await;
    let mut reconnected = false;
    for _ in 0..20 {
        if answers(certified.clone()).await {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(reconnected, "an existing channel uses the rotated files without a restart");
}
