//! The request id: one value per public request, chosen by the gateway (or
//! taken from the caller's `X-Request-Id` when it is a plain token), carried
//! in the `x-request-id` metadata of every internal RPC the request causes,
//! and recorded in every log line on the way (as a field of the `rpc` and
//! `http` spans).
//!
//! Within a process the id travels in a task-local, so handlers never pass
//! it around: the servers' layers set it, and the channels built by
//! [`crate::upstream`] copy it into each outgoing call.

use std::future::Future;

use http::{HeaderMap, HeaderValue};

/// The header (and gRPC metadata key) that carries the id.
pub const HEADER: &str = "x-request-id";

/// What a request carries into the calls it causes.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub id: HeaderValue,
    /// The W3C `traceparent` of the span serving the request, when traces are exported.
    pub traceparent: Option<HeaderValue>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Runs `work` with `context` as the current request's.
pub async fn scope<F: Future>(context: RequestContext, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// The caller's id when it is 1 to 64 characters of `[A-Za-z0-9._-]`
/// (anything else could forge log lines).
pub fn incoming(headers: &HeaderMap) -> Option<HeaderValue> {
    headers
        .get(HEADER)
        .filter(|v| {
            let bytes = v.as_bytes();
            (1..=64).contains(&bytes.len())
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .cloned()
}

/// The caller's id (see [`incoming`]), otherwise a new random one.
pub fn from_headers(headers: &HeaderMap) -> HeaderValue {
    incoming(headers).unwrap_or_else(generate)
}

/// A new random id: 128 bits, hex.
pub fn generate() -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The id of the request being served, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(|context| context.id.to_str().ok().map(str::to_owned)).ok().flatten()
}

/// Copies the current id (and trace context) into an outgoing request.
pub(crate) fn propagate<B>(mut request: http::Request<B>) -> http::Request<B> {
    let _ = CURRENT.try_with(|context| {
        let headers = request.headers_mut();
        headers.insert(HEADER, context.id.clone());
        if let Some(traceparent) = &context.traceparent {
            headers.insert("traceparent", traceparent.clone());
        }
    });
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_id_is_kept_anything_else_is_replaced() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(HEADER, HeaderValue::from_str(value).unwrap());
            from_headers(&headers)
        };
        assert_eq!(with("req-1.a_B"), "req-1.a_B");
        for bad in ["", "a b", "x\"y", &"a".repeat(65)] {
            let id = with(bad);
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32, "a generated id replaces {bad:?}");
        }
        assert_ne!(generate(), generate());
    }

    #[tokio::test]
    async fn the_current_id_is_copied_into_outgoing_calls() {
        let context = RequestContext {
            id: HeaderValue::from_static("abc"),
            traceparent: Some(HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")),
        };
        let outgoing = scope(context, async { propagate(http::Request::new(())) }).await;
        assert_eq!(outgoing.headers()[HEADER], "abc");
        assert!(outgoing.headers()["traceparent"].to_str().unwrap().starts_with("00-0af7"));
        assert!(propagate(http::Request::new(())).headers().get(HEADER).is_none(), "none outside a request");
    }
}
