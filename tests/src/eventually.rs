//! The one way a test waits for something to happen: poll a condition,
//! bounded, and fail naming what never happened. Never a fixed sleep.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is asked again.
const EVERY: Duration = Duration::from_millis(5);

/// Polls `check` until it answers `Some`, for at most `bound`; panics with
/// `what` when the bound passes first.
pub async fn eventually<T, F, Fut>(bound: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "never happened within {bound:?}: {what}");
        tokio::time::sleep(EVERY).await;
    }
}

/// [`eventually`] for a condition that is only true or false.
pub async fn until<F, Fut>(bound: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(bound, what, || {
        let answer = check();
        async move { answer.await.then_some(()) }
    })
    .await;
}
