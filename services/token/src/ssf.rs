//! The Shared Signals transmitter (OpenID Shared Signals Framework 1.0,
//! CAEP 1.0, RISC 1.0): receivers — Gatehouse applications holding an
//! `ssf.manage` token — create a stream, and Gatehouse delivers Security
//! Event Tokens (RFC 8417) about the receiver's own users on it, by push
//! (RFC 8935) or poll (RFC 8936).
//!
//! The events come from the audit trails of the three services, which
//! record every security-relevant change in commit order with no gaps
//! ([`tail`]): the transmitter keeps its place in each trail, and turns
//! each event read into signed SETs written to each interested stream's
//! outbox in one transaction with the new place, so that nothing is lost
//! when the transmitter is down or behind, and nothing is written twice
//! when several replicas read the same event. Push delivery ([`deliver`])
//! sends each stream's outbox in order, one stream never waiting for
//! another; poll hands out the same outbox until the receiver acknowledges.
//!
//! Which users are a receiver's: those its application holds or held
//! tokens for (the token table, kept until the tokens expire). A receiver
//! never sees another application's users, and cannot tell by adding a
//! subject whether someone is a user at all (SSF §9.3: answered alike).

pub(crate) mod api;
mod deliver;
mod events;
mod store;
mod tail;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_oauth::Clock;
use gatehouse_upstream::Upstream;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::error::TokenResult;
use crate::keys::{Keys, SigningAlg};

pub(crate) use gatehouse_oauth::ssf::{POLL, PUSH};

/// The least time between two verification requests of one stream.
pub(crate) const MIN_VERIFICATION_INTERVAL: Duration = Duration::from_secs(2);

/// The transmitter's settings.
#[derive(Debug, Clone)]
pub struct SsfConfig {
    /// What push delivery may reach: the fetcher's rules (HTTPS, public
    /// addresses unless allowed, the operator's extra roots, a deadline).
    pub push: gatehouse_fetch::FetchPolicy,
    /// Most SETs a stream's outbox holds; later ones are dropped and counted
    /// until the receiver catches up (`GATEHOUSE_SSF_MAX_BACKLOG`).
    pub max_backlog: u64,
    /// How often each audit trail is read for new events.
    pub tail_every: Duration,
}

impl Default for SsfConfig {
    fn default() -> Self {
        Self {
            push: gatehouse_fetch::FetchPolicy::default(),
            max_backlog: 10_000,
            tail_every: Duration::from_millis(100),
        }
    }
}

/// The transmitter of one replica.
pub(crate) struct Transmitter {
    store: store::SsfStore,
    keys: Arc<Keys>,
    issuer: String,
    clock: Arc<dyn Clock>,
    fetcher: gatehouse_fetch::Fetcher,
    config: SsfConfig,
    /// Rung when this replica wrote to an outbox: waiting polls look.
    written: Notify,
    /// Rung with it for the push sender, which keeps the call when it is busy.
    push_due: Notify,
    /// Rung when a stream starts taking events: the trail reader wakes from idle.
    tail_due: Notify,
    registry: Upstream,
    authorization: Upstream,
    audit: gatehouse_runtime::audit::AuditLog,
}

impl std::fmt::Debug for Transmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transmitter").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// What the transmitter needs from the token service.
pub(crate) struct Parts {
    pub(crate) db: sea_orm::DatabaseConnection,
    pub(crate) keys: Arc<Keys>,
    pub(crate) issuer: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: SsfConfig,
    pub(crate) registry: Upstream,
    pub(crate) authorization: Upstream,
    pub(crate) audit: gatehouse_runtime::audit::AuditLog,
}

impl Transmitter {
    pub(crate) fn new(parts: Parts) -> Arc<Self> {
        let Parts { db, keys, issuer, clock, config, registry, authorization, audit } = parts;
        Arc::new(Self {
            store: store::SsfStore::new(db),
            keys,
            issuer: issuer.trim_end_matches('/').to_owned(),
            clock,
            fetcher: gatehouse_fetch::Fetcher::new(config.push.clone()),
            config,
            written: Notify::new(),
            push_due: Notify::new(),
            tail_due: Notify::new(),
            registry,
            authorization,
            audit,
        })
    }

    /// Runs the trail readers and the push sender for the life of the process.
    pub(crate) fn spawn(self: &Arc<Self>) {
        tail::spawn(self.clone());
        deliver::spawn(self.clone());
    }

    /// SETs were written here: waiting polls and the push sender look now.
    fn wake(&self) {
        self.written.notify_waiters();
        self.push_due.notify_one();
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The subject of a user, as every SET names it (RFC 9493 `iss_sub`,
    /// `sub` being the user's id as in ID tokens).
    fn user_subject(&self, user_id: &str) -> Value {
        json!({ "format": "iss_sub", "iss": self.issuer, "sub": user_id })
    }

    /// One SET (RFC 8417 with SSF §4.1's profile: `typ` `secevent+jwt`,
    /// `sub_id`, exactly one event, no `sub`, no `exp`), signed RS256 with a
    /// key of the published JWKS (the CAEP interoperability profile's choice).
    fn sign_set(
        &self,
        jti: &str,
        aud: &str,
        txn: &str,
        subject: &Value,
        event_type: &str,
        payload: &Value,
    ) -> TokenResult<String> {
        let mut claims = json!({
            "iss": self.issuer,
            "iat": self.now_ms() / 1000,
            "jti": jti,
            "aud": aud,
            "sub_id": subject,
            "events": { event_type: payload },
        });
        if !txn.is_empty() {
            claims["txn"] = Value::from(txn);
        }
        self.keys.sign(SigningAlg::Rs256, "secevent+jwt", &claims)
    }
}
