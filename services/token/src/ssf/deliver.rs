//! Push delivery (RFC 8935): each stream's outbox is sent in order by one
//! task at a time across the replicas (a lease on the stream's row), so a
//! receiver that is slow or down holds back its own stream only. A SET is
//! removed when the receiver answers 202; a refusal that retrying cannot
//! fix (RFC 8935 §2.3: `invalid_request`, `invalid_issuer`,
//! `invalid_audience`) removes it too, counted and kept as the stream's
//! last error; anything else is tried again with a growing delay.

use std::sync::Arc;
use std::time::Duration;

use super::Transmitter;
use gatehouse_runtime::metrics::{SetLabels, metrics};

/// How long one replica may hold a stream before another may take it over
/// (renewed at each SET; well above one push's deadline).
const LEASE: Duration = Duration::from_secs(10);
/// How often outboxes are looked at when nothing was written here.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// The first retry's delay; doubled each time up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// SETs read from an outbox at a time.
const BATCH: u64 = 100;
/// The most of a receiver's answer that is read.
const ANSWER_BYTES: usize = 8 * 1024;

pub(super) fn spawn(transmitter: Arc<Transmitter>) {
    tokio::spawn(async move {
        let mut last_gauge = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(LOOK_EVERY) => {}
                () = transmitter.push_due.notified() => {}
            }
            let now = transmitter.now_ms();
            match transmitter.store.due_for_push(now).await {
                Ok(due) => {
                    for stream_id in due {
                        let until = now + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
                        if matches!(transmitter.store.lease(&stream_id, now, until).await, Ok(true)) {
                            let transmitter = transmitter.clone();
                            tokio::spawn(async move { transmitter.send_stream(&stream_id).await });
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "reading the outboxes failed"),
            }
            if last_gauge.elapsed() >= Duration::from_secs(5) {
                last_gauge = tokio::time::Instant::now();
                if let Ok(backlogs) = transmitter.store.backlogs().await {
                    metrics().ssf_backlog.set(backlogs.iter().map(|(_, n)| *n).sum());
                }
            }
        }
    });
}

/// What a push came to.
#[derive(Debug, PartialEq, Eq)]
enum Pushed {
    Delivered,
    /// Refused for good: sending it again cannot succeed.
    Refused(String),
    /// Worth trying again later.
    Failed(String),
}

/// The delay before attempt `attempts + 1`.
fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.clamp(0, 16)).unwrap_or(0);
    FIRST_BACKOFF.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

/// RFC 8935 §2.3–2.4: a 2xx delivered it; a 400 whose `err` says the SET
/// itself is wrong will not change on retry; everything else may.
fn classify(status: u16, body: &[u8]) -> Pushed {
    if (200..300).contains(&status) {
        return Pushed::Delivered;
    }
    let err = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|answer| answer.get("err").and_then(|e| e.as_str()).map(str::to_owned));
    match (status, err.as_deref()) {
        (400, Some(code @ ("invalid_request" | "invalid_issuer" | "invalid_audience"))) => {
            Pushed::Refused(format!("the receiver refused the SET: {code}"))
        }
        (_, Some(code)) => Pushed::Failed(format!("HTTP {status}: {code}")),
        _ => Pushed::Failed(format!("HTTP {status}")),
    }
}

impl Transmitter {
    /// Sends the stream's outbox in order until it is empty, a SET is not
    /// due yet, or a push fails; then lets the stream go.
    async fn send_stream(&self, stream_id: &str) {
        if let Err(error) = self.send_outbox(stream_id).await {
            tracing::debug!(stream_id, %error, "push delivery stopped");
        }
        let _ = self.store.release(stream_id).await;
    }

    async fn send_outbox(&self, stream_id: &str) -> crate::error::TokenResult<()> {
        let sets = &metrics().ssf_sets;
        loop {
            let Some(stream) = self.store.stream(stream_id).await? else { return Ok(()) };
            if stream.status != "enabled" || stream.delivery_method != super::PUSH {
                return Ok(());
            }
            let authorization = match &stream.authorization_header {
                Some(sealed) => Some(String::from_utf8_lossy(&self.keys.open(stream_id, sealed)?).into_owned()),
                None => None,
            };
            let batch = self.store.pending(stream_id, BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for pending in batch {
                let now = self.now_ms();
                if pending.next_attempt_at > now {
                    return Ok(());
                }
                let answer = self
                    .fetcher
                    .post(
                        &stream.endpoint_url,
                        "application/secevent+jwt",
                        authorization.as_deref(),
                        pending.set.clone(),
                        ANSWER_BYTES,
                    )
                    .await;
                let pushed = match answer {
                    Ok(answer) => classify(answer.status, &answer.body),
                    Err(error) => Pushed::Failed(error.to_string()),
                };
                // Still sending: keep the stream.
                self.store
                    .renew(stream_id, self.now_ms() + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX))
                    .await?;
                match pushed {
                    Pushed::Delivered => {
                        self.store.remove(stream_id, std::slice::from_ref(&pending.jti)).await?;
                        sets.get_or_create(&SetLabels { outcome: "delivered" }).inc();
                    }
                    Pushed::Refused(reason) => {
                        tracing::warn!(stream_id, jti = %pending.jti, %reason, "a receiver refused a SET; it is not sent again");
                        self.store.remove(stream_id, std::slice::from_ref(&pending.jti)).await?;
                        self.store.note_error(stream_id, &reason).await?;
                        sets.get_or_create(&SetLabels { outcome: "refused" }).inc();
                    }
                    Pushed::Failed(reason) => {
                        let next = now + i64::try_from(backoff(pending.attempts).as_millis()).unwrap_or(i64::MAX);
                        self.store.failed(stream_id, pending.seq, next, &reason).await?;
                        sets.get_or_create(&SetLabels { outcome: "retried" }).inc();
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refusal_of_the_set_itself_is_final() {
        assert_eq!(classify(202, b""), Pushed::Delivered);
        assert_eq!(classify(200, b"{}"), Pushed::Delivered);
        for code in ["invalid_request", "invalid_issuer", "invalid_audience"] {
            let body = format!(r#"{{"err":"{code}","description":"no"}}"#);
            assert!(matches!(classify(400, body.as_bytes()), Pushed::Refused(_)), "{code}");
        }
        // A key the receiver has not fetched yet, or credentials, may come right.
        for code in ["invalid_key", "authentication_failed", "access_denied"] {
            let body = format!(r#"{{"err":"{code}"}}"#);
            assert!(matches!(classify(400, body.as_bytes()), Pushed::Failed(_)), "{code}");
        }
        assert!(matches!(classify(503, b"busy"), Pushed::Failed(_)));
        assert!(matches!(classify(400, b"not json"), Pushed::Failed(_)));
        assert!(matches!(classify(301, b""), Pushed::Failed(_)));
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(i32::MAX), MAX_BACKOFF);
    }
}
