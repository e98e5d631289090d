//! What every gRPC server does around each request: take the caller's
//! request id (or make one) for the logs and for the calls this request
//! makes in turn, count the request and time it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use gatehouse_client::request_id::{self, RequestContext};
use tracing::Instrument;

use crate::metrics::{RpcLabels, RpcMethod, code_name, metrics};

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
        let id = request_id::from_headers(request.headers());
        let span = tracing::info_span!("rpc", request_id = id.to_str().unwrap_or_default(), rpc = %path);
        let traceparent = crate::telemetry::join_trace(&span, request.headers());
        // The handler's future runs inside the scope: its own RPCs carry the id.
        let call = request_id::scope(RequestContext { id, traceparent }, self.inner.call(request));
        Box::pin(
            async move {
                let response = call.await;
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
                // Unknown services and methods would let a caller invent labels.
                let (service, method) = match path.trim_start_matches('/').split_once('/') {
                    Some((service, method)) if code != tonic::Code::Unimplemented => (service, method),
                    _ => ("unknown", "unknown"),
                };
                let method_labels = RpcMethod { service: service.to_owned(), method: method.to_owned() };
                let elapsed = started.elapsed();
                tracing::debug!(code = code_name(code), elapsed_ms = elapsed.as_secs_f64() * 1000.0, "rpc finished");
                let m = metrics();
                m.rpc_duration.get_or_create(&method_labels).observe(elapsed.as_secs_f64());
                m.rpc_requests
                    .get_or_create(&RpcLabels {
                        service: method_labels.service,
                        method: method_labels.method,
                        code: code_name(code),
                    })
                    .inc();
                response
            }
            .instrument(span),
        )
    }
}
