//! The in-process cache of the embedded default.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Kv, KvResult, Taken};

/// Entries written between two sweeps of expired keys, which bounds memory
/// without a background task.
const SWEEP_EVERY: u64 = 1024;

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, (Vec<u8>, Instant)>,
    writes: u64,
}

impl State {
    fn live(&mut self, key: &str, now: Instant) -> Option<&Vec<u8>> {
        if self.entries.get(key).is_some_and(|(_, expires)| *expires <= now) {
            self.entries.remove(key);
        }
        self.entries.get(key).map(|(value, _)| value)
    }

    fn insert(&mut self, key: String, value: Vec<u8>, expires: Instant, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.entries.retain(|_, (_, at)| *at > now);
        }
        self.entries.insert(key, (value, expires));
    }
}

/// A process-local map with expiry; every operation holds one lock, which
/// makes `take` and `take_and_mark` atomic like their Redis scripts.
#[derive(Debug)]
pub struct MemoryKv {
    prefix: String,
    state: Mutex<State>,
}

impl MemoryKv {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned(), state: Mutex::new(State::default()) }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait::async_trait]
impl Kv for MemoryKv {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<()> {
        let now = Instant::now();
        self.state.lock().await.insert(self.key(key), value.to_vec(), now + ttl, now);
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<bool> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let key = self.key(key);
        if state.live(&key, now).is_some() {
            return Ok(false);
        }
        state.insert(key, value.to_vec(), now + ttl, now);
        Ok(true)
    }

    async fn replace(&self, key: &str, expected: &[u8], value: &[u8], ttl: Duration) -> KvResult<bool> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let key = self.key(key);
        if state.live(&key, now).is_none_or(|current| current.as_slice() != expected) {
            return Ok(false);
        }
        state.insert(key, value.to_vec(), now + ttl, now);
        Ok(true)
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>, Duration)]) -> KvResult<()> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        for (key, value, ttl) in entries {
            state.insert(self.key(key), value.clone(), now + *ttl, now);
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.state.lock().await.live(&self.key(key), Instant::now()).cloned())
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        self.state.lock().await.entries.remove(&self.key(key));
        Ok(())
    }

    async fn take(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut state = self.state.lock().await;
        let key = self.key(key);
        let live = state.live(&key, Instant::now()).is_some();
        Ok(if live { state.entries.remove(&key).map(|(value, _)| value) } else { None })
    }

    async fn take_and_mark(
        &self,
        key: &str,
        marker: &str,
        marker_value: &[u8],
        marker_ttl: Duration,
    ) -> KvResult<Taken> {
        super::same_slot(key, marker)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let key = self.key(key);
        let marker = self.key(marker);
        if state.live(&key, now).is_some() {
            let value = state.entries.remove(&key).map(|(value, _)| value).unwrap_or_default();
            state.insert(marker, marker_value.to_vec(), now + marker_ttl, now);
            return Ok(Taken::Value(value));
        }
        Ok(match state.live(&marker, now) {
            Some(value) => Taken::Marked(value.clone()),
            None => Taken::Missing,
        })
    }

    async fn restore(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        marker: &str,
        expected_marker: &[u8],
    ) -> KvResult<bool> {
        super::same_slot(key, marker)?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let (key, marker) = (self.key(key), self.key(marker));
        let marked = state.live(&marker, now).is_some_and(|m| m.as_slice() == expected_marker);
        if state.live(&key, now).is_some() || !marked {
            return Ok(false);
        }
        state.entries.remove(&marker);
        state.insert(key, value.to_vec(), now + ttl, now);
        Ok(true)
    }

    async fn incr(&self, key: &str, window: Duration) -> KvResult<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let key = self.key(key);
        let current = state.live(&key, now).and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        let next = current.unwrap_or(0) + 1;
        let expires = match state.entries.get(&key) {
            Some((_, expires)) if current.is_some() => *expires,
            _ => now + window,
        };
        state.insert(key, next.to_string().into_bytes(), expires, now);
        Ok(next)
    }

    async fn reserve(&self, key: &str, limit: u64, window: Duration) -> KvResult<Result<u64, Duration>> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let key = self.key(key);
        let current = state.live(&key, now).and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        let expires = match state.entries.get(&key) {
            Some((_, expires)) if current.is_some() => *expires,
            _ => now + window,
        };
        let taken = current.unwrap_or(0);
        if taken >= limit {
            return Ok(Err(expires.saturating_duration_since(now)));
        }
        state.insert(key, (taken + 1).to_string().into_bytes(), expires, now);
        Ok(Ok(taken + 1))
    }

    async fn release(&self, key: &str) -> KvResult<()> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let key = self.key(key);
        let current = state.live(&key, now).and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        if let (Some(taken @ 1..), Some((_, expires))) = (current, state.entries.get(&key)) {
            let expires = *expires;
            state.insert(key, (taken - 1).to_string().into_bytes(), expires, now);
        }
        Ok(())
    }

    async fn ttl(&self, key: &str) -> KvResult<Option<Duration>> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let key = self.key(key);
        if state.live(&key, now).is_none() {
            return Ok(None);
        }
        Ok(state.entries.get(&key).map(|(_, expires)| expires.saturating_duration_since(now)))
    }

    async fn ping(&self) -> KvResult<()> {
        Ok(())
    }
}
