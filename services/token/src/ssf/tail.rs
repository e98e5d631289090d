//! Reading the three audit trails for signals. Each trail numbers its
//! events in commit order with no gaps (its head row is locked until the
//! appending transaction commits), so reading "after N" never skips an
//! event that commits late; the place in each trail moves in the same
//! transaction that writes the SETs of the events read, and only from the
//! place this replica read from: when two replicas read the same events,
//! one writes them.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::pb::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use gatehouse_proto::pb::common::v1::ListAuditEventsRequest;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_runtime::audit::{AuditFilter, StoredEvent};
use gatehouse_runtime::metrics::{SetLabels, metrics};

use super::Transmitter;
use super::api::StreamView;
use super::events::{Signal, signals};
use super::store::Outgoing;

/// Most events read from one trail at a time.
const BATCH: u32 = 500;
/// How often the trails are read while no stream exists.
const IDLE_EVERY: Duration = Duration::from_secs(1);

/// One service's audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Registry,
    Authorization,
    Token,
}

impl Source {
    const ALL: [Self; 3] = [Self::Registry, Self::Authorization, Self::Token];

    fn name(self) -> &'static str {
        match self {
            Self::Registry => "registry",
            Self::Authorization => "authorization",
            Self::Token => "token",
        }
    }
}

pub(super) fn spawn(transmitter: Arc<Transmitter>) {
    tokio::spawn(async move {
        // A fixed rate: the wait between reads does not add to the time a read takes.
        let mut ticks = tokio::time::interval(transmitter.config.tail_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut idle_until = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                // A stream was created or resumed here: read at once.
                () = transmitter.tail_due.notified() => idle_until = tokio::time::Instant::now(),
            }
            if tokio::time::Instant::now() < idle_until {
                continue;
            }
            let streams = match transmitter.store.receiving().await {
                Ok(streams) => streams.into_iter().map(StreamView::from).collect::<Vec<_>>(),
                Err(error) => {
                    tracing::debug!(%error, "reading the signal streams failed");
                    idle_until = tokio::time::Instant::now() + IDLE_EVERY;
                    continue;
                }
            };
            // Read until caught up: a backlog drains at once, not a batch per tick.
            loop {
                match transmitter.tail_once(&streams).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        tracing::debug!(%error, "reading the audit trails for signals failed");
                        break;
                    }
                }
            }
            if streams.is_empty() {
                idle_until = tokio::time::Instant::now() + IDLE_EVERY;
            }
        }
    });
}

/// What was read of one trail.
struct Read {
    source: Source,
    from: i64,
    events: Vec<StoredEvent>,
}

impl Transmitter {
    /// Reads one batch of every trail after the transmitter's place in it,
    /// and writes their signals in the order the changes happened (a
    /// trail that cannot be read now is left for the next time); true when
    /// a full batch was read (there may be more).
    async fn tail_once(&self, streams: &[StreamView]) -> Result<bool, String> {
        let mut reads = Vec::new();
        // The three trails at once: a read takes the slowest trail's time, not their sum.
        let [registry, authorization, token] = Source::ALL;
        let (registry, authorization, token) = tokio::join!(
            self.read_after_cursor(registry),
            self.read_after_cursor(authorization),
            self.read_after_cursor(token)
        );
        for (source, read) in Source::ALL.into_iter().zip([registry, authorization, token]) {
            match read {
                Ok(Some(read)) if !read.events.is_empty() => reads.push(read),
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(source = source.name(), %error, "reading an audit trail for signals failed")
                }
            }
        }
        if reads.is_empty() {
            return Ok(false);
        }
        let full = reads.iter().any(|read| read.events.len() >= BATCH as usize);
        let mut events: Vec<&StoredEvent> = reads.iter().flat_map(|read| &read.events).collect();
        // Each trail is in order; between trails, the order of the changes.
        events.sort_by_key(|event| event.at);
        self.forget_deleted_applications(&events).await?;
        let mut sets = Vec::new();
        for signal in events.iter().flat_map(|event| signals(event)) {
            sets.extend(self.sets_for(&signal, streams).await.map_err(|e| e.to_string())?);
        }
        let moves: Vec<(&'static str, i64, i64)> = reads
            .iter()
            .map(|read| (read.source.name(), read.from, read.events.last().map_or(read.from, |event| event.seq)))
            .collect();
        let now = self.now_ms();
        match self.store.advance(&moves, &sets, self.config.max_backlog, now).await {
            Ok(Some(appended)) => {
                self.count(appended);
                if appended.written > 0 {
                    self.wake();
                }
            }
            // Another replica wrote these.
            Ok(None) => {}
            Err(error) => return Err(error.to_string()),
        }
        Ok(full)
    }

    /// The events of `source` after the transmitter's place; `None` the
    /// first time, when the place is set at the trail's head (the past is
    /// not replayed).
    async fn read_after_cursor(&self, source: Source) -> Result<Option<Read>, String> {
        let Some(from) = self.store.cursor(source.name()).await.map_err(|e| e.to_string())? else {
            let head = self.read(source, None, 1).await?.first().map_or(0, |event| event.seq);
            self.store.start_cursor(source.name(), head).await.map_err(|e| e.to_string())?;
            return Ok(None);
        };
        let events = self.read(source, Some(from), BATCH).await?;
        Ok(Some(Read { source, from, events }))
    }

    /// A deleted application's stream goes with it.
    async fn forget_deleted_applications(&self, events: &[&StoredEvent]) -> Result<(), String> {
        for event in events {
            if let ("registry", "application.deleted", Some(client_id)) =
                (event.service.as_str(), event.action.as_str(), event.target.strip_prefix("application:"))
                && event.outcome == "success"
            {
                for stream in self.store.streams_of(client_id).await.map_err(|e| e.to_string())? {
                    self.store.delete(&stream.stream_id).await.map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn count(&self, appended: super::store::Appended) {
        let sets = &metrics().ssf_sets;
        sets.get_or_create(&SetLabels { outcome: "written" }).inc_by(appended.written);
        sets.get_or_create(&SetLabels { outcome: "dropped" }).inc_by(appended.dropped);
    }

    /// One signed SET per stream that takes `signal`: the stream asked for
    /// its type, the user is one of the stream's application's, the
    /// receiver has not removed the user, and the change was not about
    /// another application.
    async fn sets_for(&self, signal: &Signal, streams: &[StreamView]) -> crate::error::TokenResult<Vec<Outgoing>> {
        let mut sets = Vec::new();
        for stream in streams {
            if !stream.delivers(signal.event_type)
                || signal.client_id.as_deref().is_some_and(|client| client != stream.client_id)
                || !self.store.is_users_application(&signal.user_id, &stream.client_id).await?
                || self.store.is_excluded(&stream.stream_id, &signal.user_id).await?
            {
                continue;
            }
            let jti = uuid::Uuid::new_v4().simple().to_string();
            let subject = self.user_subject(&signal.user_id);
            let txn = if signal.txn.is_empty() { jti.clone() } else { signal.txn.clone() };
            let set = self.sign_set(&jti, &stream.client_id, &txn, &subject, signal.event_type, &signal.payload)?;
            sets.push(Outgoing { stream_id: stream.stream_id.clone(), jti, set });
        }
        Ok(sets)
    }

    /// `limit` events of `source` after `after`, oldest first; or its newest ones when `after` is `None`.
    async fn read(&self, source: Source, after: Option<i64>, limit: u32) -> Result<Vec<StoredEvent>, String> {
        let request = ListAuditEventsRequest { limit, after_seq: after, ..ListAuditEventsRequest::default() };
        let events = match source {
            Source::Token => {
                let filter = AuditFilter { limit: u64::from(limit), after_seq: after, ..AuditFilter::default() };
                return self.audit.list(&filter).await.map_err(|e| e.to_string());
            }
            Source::Registry => RegistryServiceClient::new(self.registry.clone())
                .list_audit_events(request)
                .await
                .map_err(|status| status.message().to_owned())?,
            Source::Authorization => AuthorizationServiceClient::new(self.authorization.clone())
                .list_audit_events(request)
                .await
                .map_err(|status| status.message().to_owned())?,
        };
        Ok(events.into_inner().events.into_iter().map(StoredEvent::from).collect())
    }
}
