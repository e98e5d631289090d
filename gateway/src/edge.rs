//! The public edge's limits, so that no request of any size or pace can
//! tie the gateway up:
//!
//! | limit | answer | default |
//! | --- | --- | --- |
//! | request target (path and query) | 414 | 8 KiB |
//! | header section | 431 | 16 KiB (hyper refuses a head past 64 KiB before it is read whole) |
//! | body of every form and JSON endpoint | 413, before the body is read whole | 64 KiB |
//! | time to send the request head | connection closed | 10 s |
//! | time to answer, body read included | 408 | 30 s |
//! | open connections | the next one waits in the listen backlog | 4096 |
//!
//! All of them are in [`EdgeLimits`] (the `GATEHOUSE_MAX_*` and
//! `GATEHOUSE_*_TIMEOUT_*` settings).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::GatewayError;
use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// What hyper may buffer for one request head: four times the header limit,
/// so that the middleware sees (and answers 431 to) anything up to it.
fn head_buffer(limits: &EdgeLimits) -> usize {
    (limits.max_header_bytes + limits.max_uri_bytes).saturating_mul(4).max(64 * 1024)
}

/// A refusal in the format of the surface the request was for; the
/// connection is closed after it (the rest of an oversized request is not read).
fn refuse(path: &str, status: StatusCode, message: &'static str) -> Response {
    // No OAuth error is set: an OAuth surface renders this class as `invalid_request`.
    let error = GatewayError::bad_request(message);
    let mut response = crate::render::error_for_path(path, crate::i18n::Lang::En, &error);
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// 414 and 431 for what hyper accepted but the limits do not; 408 when the
/// answer (a slow body included) takes longer than the request timeout.
pub(crate) async fn enforce(limits: EdgeLimits, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > limits.max_uri_bytes {
        return refuse(&path, StatusCode::URI_TOO_LONG, "the request URI is too long");
    }
    let header_bytes: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if header_bytes > limits.max_header_bytes {
        return refuse(&path, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "the request headers are too large");
    }
    // A declared length over the limit is refused before a byte of the body
    // is read; a chunked body is cut at the limit by the body extractor.
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return refuse(&path, StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large");
    }
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            refuse(&path, StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large")
        }
        Ok(response) => response,
        Err(_) => refuse(&path, StatusCode::REQUEST_TIMEOUT, "the request took too long to arrive"),
    }
}

/// Accepts connections until `shutdown`, serving each with HTTP/1.1 or
/// HTTP/2 under the limits, then lets the open ones finish.
pub(crate) async fn serve(
    app: Router,
    listener: TcpListener,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(head_buffer(&limits));
    builder.http2().max_header_list_size(u32::try_from(head_buffer(&limits)).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A connection over the cap waits in the kernel's backlog, not in memory here.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and the like: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                let response = tower::ServiceExt::oneshot(app, request.map(axum::body::Body::new)).await;
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_buffers_more_than_the_limits_so_the_answer_is_a_status() {
        let limits = EdgeLimits::default();
        assert!(head_buffer(&limits) >= limits.max_header_bytes + limits.max_uri_bytes);
        assert!(head_buffer(&limits) >= 8192, "hyper's minimum");
    }
}
