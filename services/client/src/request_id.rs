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

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// The id of the request being served by this task, if any.
pub fn current() -> Option<HeaderValue> {
    CURRENT.try_with(HeaderValue::clone).ok()
}

/// Runs `work` with `id` as the current request id.
pub async fn scope<F: Future>(id: HeaderValue, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}

/// The caller's id when it is 1 to 64 characters of `[A-Za-z0-9._-]`
/// (anything else could forge log lines), otherwise a new random one.
pub fn from_headers(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(HEADER)
        .filter(|v| {
            let bytes = v.as_bytes();
            (1..=64).contains(&bytes.len())
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .cloned()
        .unwrap_or_else(generate)
}

/// A new random id: 128 bits, hex.
pub fn generate() -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Copies the current id into an outgoing request.
pub(crate) fn propagate<B>(mut request: http::Request<B>) -> http::Request<B> {
    if let Some(id) = current() {
        request.headers_mut().insert(HEADER, id);
    }
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
        let outgoing = scope(HeaderValue::from_static("abc"), async { propagate(http::Request::new(())) }).await;
        assert_eq!(outgoing.headers()[HEADER], "abc");
        assert!(propagate(http::Request::new(())).headers().get(HEADER).is_none(), "none outside a request");
    }
}
