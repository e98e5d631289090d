//! Load shedding: a bound on the requests one process serves at once.
//!
//! Past the bound a request is answered at once (gRPC UNAVAILABLE with
//! `retry-after`) instead of queueing: under a burst memory stays bounded,
//! accepted requests keep their latency, and callers learn to back off
//! within milliseconds. Health checks are never shed, so that a busy
//! replica is not mistaken for a dead one. (tower's `LoadShed` +
//! `ConcurrencyLimit` would shed too, but its `Overloaded` error reaches
//! tonic as an opaque error, answered without the retry hint; a semaphore
//! makes the same decision and lets the answer be a proper status.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;

/// The layer; one semaphore shared by every connection of the server.
#[derive(Debug, Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
}

impl ShedLayer {
    pub fn new(max_concurrent: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(max_concurrent.max(1))) }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed { inner, permits: self.permits.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A trailers-only gRPC answer: UNAVAILABLE, retry in a second.
fn overloaded<B: Default>() -> http::Response<B> {
    let mut response = http::Response::new(B::default());
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", http::HeaderValue::from_static("14"));
    headers.insert("grpc-message", http::HeaderValue::from_static("overloaded%2C%20retry%20shortly"));
    headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    response
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Shed<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if request.uri().path().starts_with("/grpc.health.v1.") {
            return Box::pin(self.inner.call(request));
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            crate::metrics::metrics().shed.inc();
            return Box::pin(async { Ok(overloaded()) });
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            drop(permit);
            response
        })
    }
}
