//! The caller's deadline, carried into every call a request causes.
//!
//! A gRPC caller says how long it will wait in the `grpc-timeout` header.
//! Each Gatehouse server reads it (the runtime's observe layer) and keeps
//! the resulting instant in a task-local for the handler; the channels of
//! [`crate::upstream`] send the time that is left to the next service, so
//! nested calls never outlive the first caller. Work that commits checks
//! [`expired`] first: a caller that gave up must not find its request done
//! behind its back (a retried refresh would then look like a reuse).

use std::future::Future;
use std::time::Duration;

use http::HeaderValue;
use tokio::time::Instant;

/// The gRPC header that carries a call's timeout.
pub const HEADER: &str = "grpc-timeout";

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the current request's (none: no deadline).
pub async fn scope<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, work).await,
        None => work.await,
    }
}

/// The current request's deadline, if its caller gave one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Time left before the current request's deadline (zero once passed).
pub fn remaining() -> Option<Duration> {
    current().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// True once the current request's deadline has passed.
pub fn expired() -> bool {
    remaining().is_some_and(|left| left.is_zero())
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// A `grpc-timeout` value for `timeout`, in milliseconds (at least 1).
pub fn encode(timeout: Duration) -> HeaderValue {
    let millis = timeout.as_millis().clamp(1, 99_999_999);
    HeaderValue::from_str(&format!("{millis}m")).unwrap_or_else(|_| HeaderValue::from_static("1m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_and_encode() {
        assert_eq!(parse(&HeaderValue::from_static("250m")), Some(Duration::from_millis(250)));
        assert_eq!(parse(&HeaderValue::from_static("2S")), Some(Duration::from_secs(2)));
        assert_eq!(parse(&HeaderValue::from_static("1H")), Some(Duration::from_secs(3600)));
        for bad in ["", "m", "123456789m", "12x", "-1S", "1.5S"] {
            assert_eq!(parse(&HeaderValue::from_str(bad).unwrap()), None, "{bad:?}");
        }
        assert_eq!(encode(Duration::from_millis(1500)), "1500m");
        assert_eq!(encode(Duration::ZERO), "1m");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_visible_inside_its_scope_only() {
        assert!(current().is_none() && !expired());
        let deadline = Instant::now() + Duration::from_millis(100);
        scope(Some(deadline), async {
            assert_eq!(remaining(), Some(Duration::from_millis(100)));
            tokio::time::advance(Duration::from_millis(100)).await;
            assert!(expired());
        })
        .await;
    }
}
