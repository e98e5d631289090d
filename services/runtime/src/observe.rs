//! What every gRPC server does around each request: take the caller's
//! request id (or make one) for the logs and for the calls this request
//! makes in turn, count the request and time it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use gatehouse_upstream::deadline;
use gatehouse_upstream::request_id::{self, RequestContext};
use tracing::Instrument;

use crate::metrics::{code_name, metrics};

/// The tower layer every Gatehouse gRPC server has.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Observe<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let path = request.uri().path().to_owned();
        let incoming = request_id::incoming(request.headers());
        let span = tracing::info_span!("rpc", request_id = tracing::field::Empty, rpc = %path);
        // An id is made only when something will show it (the span logs, or
        // traces are exported); a caller's id is always passed on.
        let id = incoming.or_else(|| (!span.is_disabled()).then(request_id::generate));
        let context = id.map(|id| {
            span.record("request_id", id.to_str().unwrap_or_default());
            RequestContext { id, traceparent: crate::telemetry::join_trace(&span, request.headers()) }
        });
        // The caller's deadline, for the handler's checks and its own calls
        // (tonic's server enforces it too, by dropping the handler).
        let deadline = request
            .headers()
            .get(deadline::HEADER)
            .and_then(deadline::parse)
            .and_then(|timeout| tokio::time::Instant::now().checked_add(timeout));
        let call = deadline::scope(deadline, self.inner.call(request));
        Box::pin(
            async move {
                // The handler's future runs inside the scope: its own RPCs carry the id.
                let response = match context {
                    Some(context) => request_id::scope(context, call).await,
                    None => call.await,
                };
                // A handler's error is a trailers-only response: the status is in
                // the headers. A success carries it in the trailers, after the body.
                let code = match &response {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map_or(tonic::Code::Ok, tonic::Code::from_i32),
                    Err(_) => tonic::Code::Internal,
                };
                let elapsed = started.elapsed();
                tracing::debug!(code = code_name(code), elapsed_ms = elapsed.as_secs_f64() * 1000.0, "rpc finished");
                metrics().record_rpc(&path, code, elapsed);
                response
            }
            .instrument(span),
        )
    }
}
