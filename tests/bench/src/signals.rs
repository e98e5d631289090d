//! Shared Signals propagation: the time from a revoking call returning to
//! a push receiver holding the signed SET, while `client_credentials`
//! load runs. The receiver is an HTTPS endpoint in this process (its CA is
//! the one Gatehouse is told to trust, `GATEHOUSE_FETCH_CA_FILE`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use gatehouse_proto::pb::token::v1::RevokeAllForGrantRequest;
use gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::mpsc;

use crate::setup::{Fixture, Gatehouse};

/// The push receiver's TLS: a CA (PEM, for Gatehouse) and a certificate for 127.0.0.1.
pub(crate) struct ReceiverTls {
    pub(crate) ca_pem: String,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl ReceiverTls {
    pub(crate) fn generate() -> anyhow::Result<Self> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "bench SSF receiver CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &ca)?;
        Ok(Self { ca_pem: ca.pem(), cert: cert.der().clone(), key: key.serialize_der() })
    }

    /// Serves the receiver; each SET's arrival time goes to `arrived`.
    async fn serve(&self, arrived: mpsc::UnboundedSender<Instant>) -> anyhow::Result<SocketAddr> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone())),
            )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let router = axum::Router::new().route(
            "/events",
            axum::routing::post(move |body: axum::body::Bytes| {
                let arrived = arrived.clone();
                async move {
                    if body.split(|b| *b == b'.').count() == 3 {
                        let _ = arrived.send(Instant::now());
                    }
                    http::StatusCode::ACCEPTED
                }
            }),
        );
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                        .await;
                });
            }
        });
        Ok(address)
    }
}

/// p50, p90 and p99 in milliseconds of "RevokeAllForGrant returned → the receiver
/// holds the session-revoked SET", over `duration` of rounds one after
/// another, with `client_credentials` load on `connections` meanwhile.
pub(crate) async fn propagation(
    gatehouse: &Gatehouse,
    fixture: &Fixture,
    tls: &ReceiverTls,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(f64, f64, f64, usize)> {
    let (sender, mut arrived) = mpsc::unbounded_channel();
    let address = tls.serve(sender).await?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let manage: serde_json::Value = http
        .post(format!("{}/oauth/token", gatehouse.gateway))
        .basic_auth(&fixture.client_id, Some(&fixture.secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "ssf.manage")])
        .send()
        .await?
        .json()
        .await?;
    let manage = manage["access_token"].as_str().context("an ssf.manage token")?.to_owned();
    let stream = serde_json::json!({
        "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": format!("https://{address}/events") },
        "events_requested": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"],
    });
    let created =
        http.post(format!("{}/ssf/streams", gatehouse.gateway)).bearer_auth(&manage).json(&stream).send().await?;
    anyhow::ensure!(created.status() == 201, "creating the stream: {}", created.text().await?);
    // The user holds tokens of the application (a code exchanged once).
    let location = http
        .get(crate::setup::authorize_url(&gatehouse.gateway, &fixture.client_id, crate::setup::PLAIN_SCOPE))
        .header("cookie", &fixture.session_cookie)
        .send()
        .await?;
    let location = location.headers().get("location").and_then(|l| l.to_str().ok()).context("a code")?.to_owned();
    let code = url::Url::parse(&location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("a code in the redirect")?;
    let exchanged = http
        .post(format!("{}/oauth/token", gatehouse.gateway))
        .basic_auth(&fixture.client_id, Some(&fixture.secret))
        .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", crate::setup::CALLBACK)])
        .send()
        .await?;
    anyhow::ensure!(exchanged.status() == 200, "exchanging the code: {}", exchanged.text().await?);
    let operator = gatehouse_client::connect_with_credential(&gatehouse.token, &gatehouse.operator)?;
    let mut tokens = TokenServiceClient::new(operator);
    let revoke = RevokeAllForGrantRequest { user_id: fixture.user_id.clone(), client_id: fixture.client_id.clone() };
    let rounds = async {
        let mut times = Vec::new();
        let ends = Instant::now() + duration;
        while Instant::now() < ends || times.len() < 20 {
            // Each round at a random point of the transmitter's 100 ms read cycle: rounds run
            // back to back would otherwise all start right after a read, the cycle's worst point.
            let jitter = u64::try_from(uuid::Uuid::new_v4().as_u128() % 150).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(jitter)).await;
            tokens.revoke_all_for_grant(revoke.clone()).await?;
            let returned = Instant::now();
            let at = tokio::time::timeout(Duration::from_secs(10), arrived.recv())
                .await
                .context("no SET within 10 s")?
                .context("the receiver stopped")?;
            times.push(at.saturating_duration_since(returned).as_secs_f64() * 1000.0);
        }
        anyhow::Ok(times)
    };
    let (times, load) =
        tokio::join!(rounds, crate::load::client_credentials(gatehouse, fixture, connections, duration));
    let (mut times, _) = (times?, load?);
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1)];
    Ok((at(0.5), at(0.9), at(0.99), times.len()))
}
