//! The audit trail: every security-relevant event a service sees, appended
//! to its own SQL table (`registry_audit_events`, `authz_audit_events`,
//! `token_audit_events`), each event chained to the one before by a
//! SHA-256 hash, so that an edited, inserted or deleted row breaks the chain
//! at that row (`gatehouse audit verify` names the first bad event).
//!
//! Appending takes the chain's head row first (`UPDATE … RETURNING`), which
//! locks it until the transaction commits: concurrent appends on every
//! replica queue there, so the chain never forks. Events never hold a
//! secret: targets are ids and names, details are plain facts.
//!
//! Each event is also written as one JSON line to the `gatehouse::audit`
//! log target (`RUST_LOG=gatehouse::audit=info`), for log shippers.
//! Retention (`GATEHOUSE_AUDIT_RETENTION_DAYS`) deletes the oldest events;
//! the head row remembers the hash the oldest kept event must chain to, so
//! that pruning stays distinguishable from tampering.

use std::sync::Arc;

use gatehouse_oauth::Clock;
use sea_orm::sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, Index, IndexCreateStatement, OnConflict, Order, Query, Table,
    TableCreateStatement,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use sha2::{Digest, Sha256};

use crate::access::{Caller, Role};

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Refused before any change (an internal call without the right).
    Refused,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Refused => "refused",
        }
    }
}

/// Who did it: a user (through the gateway), a client, an operator, a part
/// or a validator, and how they proved it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `user`, `client`, `operator`, `part`, `validator` or `anonymous`.
    pub kind: String,
    pub id: String,
    /// How it authenticated: `session`, `password`, `client_secret`,
    /// `certificate`, `credential`, `access_token`, or none.
    pub via: String,
}

impl Actor {
    /// The internal caller itself (an operator's CLI, a part).
    pub fn caller(caller: Option<&Caller>) -> Self {
        let Some(caller) = caller else {
            return Self { kind: "anonymous".to_owned(), id: String::new(), via: String::new() };
        };
        let kind = match caller.role {
            // The administrator the console acted for.
            Role::Console => return Self::user(&caller.name, "console"),
            Role::Operator => "operator",
            Role::Validator => "validator",
            Role::Gateway | Role::Registry | Role::Authorization | Role::Token => "part",
        };
        let id = match caller.role {
            Role::Operator | Role::Validator => caller.name.clone(),
            _ => format!("{}:{}", caller.role, caller.name),
        };
        Self { kind: kind.to_owned(), id, via: caller.mechanism.as_str().to_owned() }
    }

    /// A person acting through the gateway's pages or REST API.
    pub fn user(user_id: &str, via: &str) -> Self {
        Self { kind: "user".to_owned(), id: user_id.to_owned(), via: via.to_owned() }
    }

    /// A person when the gateway acted for one (`user_id` set), the caller otherwise.
    pub fn user_or_caller(user_id: &str, caller: Option<&Caller>) -> Self {
        match caller {
            Some(c) if c.role == Role::Gateway && !user_id.is_empty() => Self::user(user_id, "session"),
            _ => Self::caller(caller),
        }
    }
}

/// One event, as the use case describes it.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// A dotted verb: `user.created`, `signin.failed`, `key.rotated`, …
    pub action: String,
    pub outcome: Outcome,
    pub actor: Actor,
    /// What it was done to: `user:ID`, `application:CLIENT_ID`, `rpc:/…`.
    pub target: String,
    /// The account the event concerns (its owner's Security log), or "".
    pub subject_user_id: String,
    /// The address the request came from (the person's, when the gateway
    /// passed it on; the caller's otherwise).
    pub source: String,
    /// Plain facts (names, scopes, reasons); never a secret.
    pub details: serde_json::Value,
    /// The request's id when the event is written outside the request (a
    /// refusal); otherwise the current request's.
    pub request_id: Option<String>,
}

impl AuditEvent {
    pub fn new(action: impl Into<String>, outcome: Outcome, actor: Actor, target: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            outcome,
            actor,
            target: target.into(),
            subject_user_id: String::new(),
            source: String::new(),
            details: serde_json::Value::Null,
            request_id: None,
        }
    }

    #[must_use]
    pub fn subject(mut self, user_id: &str) -> Self {
        self.subject_user_id = user_id.to_owned();
        self
    }

    #[must_use]
    pub fn source(mut self, source: &str) -> Self {
        if !source.is_empty() {
            self.source = source.to_owned();
        }
        self
    }

    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvent {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub service: String,
    pub action: String,
    pub outcome: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_via: String,
    pub target: String,
    pub subject_user_id: String,
    pub source: String,
    pub request_id: String,
    /// JSON text.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    /// The hash this event must carry: SHA-256 over the previous hash and
    /// every other field, each length-prefixed (no two events serialise alike).
    pub fn compute_hash(&self) -> String {
        let mut digest = Sha256::new();
        let fields: [&str; 14] = [
            &self.prev_hash,
            &self.seq.to_string(),
            &self.at.to_string(),
            &self.service,
            &self.action,
            &self.outcome,
            &self.actor_kind,
            &self.actor_id,
            &self.actor_via,
            &self.target,
            &self.subject_user_id,
            &self.source,
            &self.request_id,
            &self.details,
        ];
        for field in fields {
            digest.update((field.len() as u64).to_be_bytes());
            digest.update(field.as_bytes());
        }
        hex(&digest.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Unix milliseconds; 0: from the start.
    pub since: i64,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub subject_user_id: Option<String>,
    /// Newest first, at most this many.
    pub limit: u64,
    /// Set: the events after this sequence number, oldest first, instead
    /// (a reader that tails the trail; the other filters still apply).
    pub after_seq: Option<i64>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub events: u64,
    /// The first event whose hash or link is wrong, with the reason.
    pub first_bad: Option<(i64, String)>,
}

/// One service's audit trail.
#[derive(Clone)]
pub struct AuditLog {
    db: DatabaseConnection,
    service: &'static str,
    events: &'static str,
    head: &'static str,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("events", &self.events).finish_non_exhaustive()
    }
}

/// The columns, in table order.
const COLUMNS: [&str; 15] = [
    "seq",
    "at",
    "service",
    "action",
    "outcome",
    "actor_kind",
    "actor_id",
    "actor_via",
    "target",
    "subject_user_id",
    "source",
    "request_id",
    "details",
    "prev_hash",
    "hash",
];

impl AuditLog {
    /// The trail of `service` in the tables `{prefix}_audit_events` and `{prefix}_audit_head`.
    pub fn new(
        db: DatabaseConnection,
        service: &'static str,
        tables: (&'static str, &'static str),
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { db, service, events: tables.0, head: tables.1, clock }
    }

    /// Appends `event`; a failure is logged and counted, never hidden (the
    /// change it records has happened).
    pub async fn record(&self, event: AuditEvent) {
        if let Err(error) = self.append(event.clone()).await {
            tracing::error!(%error, action = %event.action, target = %event.target, "cannot append to the audit trail");
            crate::metrics::metrics().audit_failures.inc();
        }
    }

    /// Appends `event` in its own transaction.
    pub async fn append(&self, event: AuditEvent) -> Result<StoredEvent, DbErr> {
        let transaction = self.db.begin().await?;
        let stored = self.append_in(&transaction, event).await?;
        transaction.commit().await?;
        tracing::info!(target: "gatehouse::audit", "{}", serde_json::to_string(&stored).unwrap_or_default());
        Ok(stored)
    }

    /// Appends `event` inside the caller's transaction (the change's own).
    pub async fn append_in<C: ConnectionTrait>(&self, conn: &C, event: AuditEvent) -> Result<StoredEvent, DbErr> {
        // Taking the head row first locks it until the commit: appends queue here.
        let take = Query::update()
            .table(Alias::new(self.head))
            .value(Alias::new("seq"), Expr::col(Alias::new("seq")).add(1))
            .and_where(Expr::col(Alias::new("id")).eq(1))
            .returning(Query::returning().columns([Alias::new("seq"), Alias::new("hash")]))
            .to_owned();
        let row =
            conn.query_one(&take).await?.ok_or_else(|| DbErr::Custom(format!("{} has no head row", self.head)))?;
        let seq: i64 = row.try_get("", "seq")?;
        let prev_hash: String = row.try_get("", "hash")?;
        let mut stored = StoredEvent {
            seq,
            at: self.clock.now().timestamp_millis(),
            service: self.service.to_owned(),
            action: event.action,
            outcome: event.outcome.as_str().to_owned(),
            actor_kind: event.actor.kind,
            actor_id: event.actor.id,
            actor_via: event.actor.via,
            target: event.target,
            subject_user_id: event.subject_user_id,
            source: event.source,
            request_id: event.request_id.or_else(gatehouse_upstream::request_id::current).unwrap_or_default(),
            details: if serde_json::Value::is_null(&event.details) { String::new() } else { event.details.to_string() },
            prev_hash,
            hash: String::new(),
        };
        stored.hash = stored.compute_hash();
        let insert = Query::insert()
            .into_table(Alias::new(self.events))
            .columns(COLUMNS.map(Alias::new))
            .values_panic([
                stored.seq.into(),
                stored.at.into(),
                stored.service.clone().into(),
                stored.action.clone().into(),
                stored.outcome.clone().into(),
                stored.actor_kind.clone().into(),
                stored.actor_id.clone().into(),
                stored.actor_via.clone().into(),
                stored.target.clone().into(),
                stored.subject_user_id.clone().into(),
                stored.source.clone().into(),
                stored.request_id.clone().into(),
                stored.details.clone().into(),
                stored.prev_hash.clone().into(),
                stored.hash.clone().into(),
            ])
            .to_owned();
        conn.execute(&insert).await?;
        let set_hash = Query::update()
            .table(Alias::new(self.head))
            .value(Alias::new("hash"), stored.hash.clone())
            .and_where(Expr::col(Alias::new("id")).eq(1))
            .to_owned();
        conn.execute(&set_hash).await?;
        Ok(stored)
    }

    /// Events matching `filter`, newest first.
    pub async fn list(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, DbErr> {
        let mut query = Query::select();
        query.columns(COLUMNS.map(Alias::new)).from(Alias::new(self.events));
        if filter.since > 0 {
            query.and_where(Expr::col(Alias::new("at")).gte(filter.since));
        }
        for (column, value) in [
            ("actor_id", &filter.actor),
            ("action", &filter.action),
            ("target", &filter.target),
            ("subject_user_id", &filter.subject_user_id),
        ] {
            if let Some(value) = value {
                query.and_where(Expr::col(Alias::new(column)).eq(value.clone()));
            }
        }
        match filter.after_seq {
            Some(after) => {
                query.and_where(Expr::col(Alias::new("seq")).gt(after)).order_by(Alias::new("seq"), Order::Asc)
            }
            None => query.order_by(Alias::new("seq"), Order::Desc),
        };
        query.limit(filter.limit.clamp(1, 10_000));
        let rows = self.db.query_all(&query).await?;
        rows.iter().map(row_event).collect()
    }

    /// Walks the whole chain in order: each event's hash must be its own,
    /// and link to the one before (the first kept one to the pruning anchor).
    pub async fn verify(&self) -> Result<Verification, DbErr> {
        let anchor = Query::select()
            .column(Alias::new("pruned_hash"))
            .from(Alias::new(self.head))
            .and_where(Expr::col(Alias::new("id")).eq(1))
            .to_owned();
        let anchor = self.db.query_one(&anchor).await?;
        let mut expected_prev: String = match anchor {
            Some(row) => row.try_get("", "pruned_hash")?,
            None => String::new(),
        };
        let mut events = 0;
        let mut after = i64::MIN;
        loop {
            let page = Query::select()
                .columns(COLUMNS.map(Alias::new))
                .from(Alias::new(self.events))
                .and_where(Expr::col(Alias::new("seq")).gt(after))
                .order_by(Alias::new("seq"), Order::Asc)
                .limit(1000)
                .to_owned();
            let rows = self.db.query_all(&page).await?;
            if rows.is_empty() {
                return Ok(Verification { events, first_bad: None });
            }
            for row in &rows {
                let event = row_event(row)?;
                events += 1;
                after = event.seq;
                if event.prev_hash != expected_prev {
                    let reason = "does not link to the event before it (one was deleted, inserted or edited)";
                    return Ok(Verification { events, first_bad: Some((event.seq, reason.to_owned())) });
                }
                if event.compute_hash() != event.hash {
                    let reason = "its content does not match its hash (it was edited)";
                    return Ok(Verification { events, first_bad: Some((event.seq, reason.to_owned())) });
                }
                expected_prev = event.hash;
            }
        }
    }

    /// Deletes events older than `before` (unix ms), keeping the chain
    /// verifiable: the head remembers the hash the oldest kept event links to.
    pub async fn prune(&self, before: i64) -> Result<u64, DbErr> {
        let transaction = self.db.begin().await?;
        let last = Query::select()
            .columns([Alias::new("seq"), Alias::new("hash")])
            .from(Alias::new(self.events))
            .and_where(Expr::col(Alias::new("at")).lt(before))
            .order_by(Alias::new("seq"), Order::Desc)
            .limit(1)
            .to_owned();
        let Some(row) = transaction.query_one(&last).await? else {
            return Ok(0);
        };
        let (seq, hash): (i64, String) = (row.try_get("", "seq")?, row.try_get("", "hash")?);
        let delete = Query::delete()
            .from_table(Alias::new(self.events))
            .and_where(Expr::col(Alias::new("seq")).lte(seq))
            .to_owned();
        let deleted = transaction.execute(&delete).await?.rows_affected();
        let anchor = Query::update()
            .table(Alias::new(self.head))
            .value(Alias::new("pruned_hash"), hash)
            .and_where(Expr::col(Alias::new("id")).eq(1))
            .to_owned();
        transaction.execute(&anchor).await?;
        transaction.commit().await?;
        Ok(deleted)
    }
}

fn row_event(row: &sea_orm::QueryResult) -> Result<StoredEvent, DbErr> {
    Ok(StoredEvent {
        seq: row.try_get("", "seq")?,
        at: row.try_get("", "at")?,
        service: row.try_get("", "service")?,
        action: row.try_get("", "action")?,
        outcome: row.try_get("", "outcome")?,
        actor_kind: row.try_get("", "actor_kind")?,
        actor_id: row.try_get("", "actor_id")?,
        actor_via: row.try_get("", "actor_via")?,
        target: row.try_get("", "target")?,
        subject_user_id: row.try_get("", "subject_user_id")?,
        source: row.try_get("", "source")?,
        request_id: row.try_get("", "request_id")?,
        details: row.try_get("", "details")?,
        prev_hash: row.try_get("", "prev_hash")?,
        hash: row.try_get("", "hash")?,
    })
}

/// The two tables of a trail, for a service's migration: the events, and
/// the head row (the last sequence number and hash, and the pruning anchor).
pub fn schema(events: &str, head: &str) -> (Vec<TableCreateStatement>, Vec<IndexCreateStatement>) {
    let text = |name: &str| ColumnDef::new(Alias::new(name)).text().not_null().default("").to_owned();
    let mut table = Table::create();
    table
        .table(Alias::new(events))
        .if_not_exists()
        .col(ColumnDef::new(Alias::new("seq")).big_integer().not_null().primary_key())
        .col(ColumnDef::new(Alias::new("at")).big_integer().not_null());
    for column in &COLUMNS[2..] {
        table.col(text(column));
    }
    let head_table = Table::create()
        .table(Alias::new(head))
        .if_not_exists()
        .col(ColumnDef::new(Alias::new("id")).integer().not_null().primary_key())
        .col(ColumnDef::new(Alias::new("seq")).big_integer().not_null())
        .col(text("hash"))
        .col(text("pruned_hash"))
        .to_owned();
    let indexes = ["at", "actor_id", "action", "target", "subject_user_id"]
        .iter()
        .map(|column| {
            Index::create()
                .name(format!("{events}_{column}"))
                .table(Alias::new(events))
                .col(Alias::new(*column))
                .if_not_exists()
                .to_owned()
        })
        .collect();
    (vec![table.to_owned(), head_table], indexes)
}

/// The migration that creates a service's trail (each service lists it
/// with its own tables, in its own migration history).
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// (events, head), such as `("registry_audit_events", "registry_audit_head")`.
    pub tables: (&'static str, &'static str),
}

impl sea_orm_migration::MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000002_audit_trail"
    }
}

// `SchemaManager` is declared without the lifetime by the trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for Migration {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        let (tables, indexes) = schema(self.tables.0, self.tables.1);
        for table in tables {
            manager.create_table(table).await?;
        }
        for index in indexes {
            manager.create_index(index).await?;
        }
        manager.exec_stmt(head_row(self.tables.1)).await
    }

    async fn down(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new(self.tables.0)).to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new(self.tables.1)).to_owned()).await
    }
}

/// The statement that creates the head row (once; a second run changes nothing).
pub fn head_row(head: &str) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(Alias::new(head))
        .columns([Alias::new("id"), Alias::new("seq"), Alias::new("hash"), Alias::new("pruned_hash")])
        .values_panic([1.into(), 0i64.into(), "".into(), "".into()])
        .on_conflict(OnConflict::column(Alias::new("id")).do_nothing().to_owned())
        .to_owned()
}

/// The refusals of the access guard, appended to this service's trail. A
/// flood of refused calls must not become a flood of SQL writes: at most
/// [`REFUSALS_PER_SECOND`] are written each second; the rest are counted
/// (`gatehouse_grpc_server_requests_total` has every one) and the next
/// written refusal says how many were left out.
#[derive(Debug, Clone)]
pub struct RefusalsToTrail {
    trail: AuditLog,
    window: Arc<RefusalWindow>,
}

/// Refusals written to the trail per second and per service, at most.
pub const REFUSALS_PER_SECOND: u32 = 20;

/// Counters of the current second (a race at a second's edge may let one
/// more through, which is harmless).
#[derive(Debug, Default)]
struct RefusalWindow {
    second: std::sync::atomic::AtomicU64,
    written: std::sync::atomic::AtomicU32,
    left_out: std::sync::atomic::AtomicU64,
}

impl RefusalsToTrail {
    pub fn new(trail: AuditLog) -> Self {
        Self { trail, window: Arc::default() }
    }
}

impl crate::access::RefusalSink for RefusalsToTrail {
    fn refused(
        &self,
        method: &str,
        caller: Option<&Caller>,
        remote: Option<std::net::SocketAddr>,
        refusal: crate::access::Refusal,
    ) {
        let second = u64::try_from(self.trail.clock.now().timestamp()).unwrap_or_default();
        use std::sync::atomic::Ordering::Relaxed;
        let window = &self.window;
        if window.second.swap(second, Relaxed) != second {
            window.written.store(0, Relaxed);
        }
        if window.written.fetch_add(1, Relaxed) >= REFUSALS_PER_SECOND {
            window.left_out.fetch_add(1, Relaxed);
            return;
        }
        let left_out = window.left_out.swap(0, Relaxed);
        let mut details = serde_json::json!({ "reason": refusal.as_str() });
        if left_out > 0 {
            details["refusals_left_out_before"] = left_out.into();
        }
        let mut event =
            AuditEvent::new("rpc.refused", Outcome::Refused, Actor::caller(caller), format!("rpc:{method}"))
                .source(&remote.map(|r| r.to_string()).unwrap_or_default())
                .details(details);
        // Taken here: the write below runs outside the request.
        event.request_id = gatehouse_upstream::request_id::current();
        let trail = self.trail.clone();
        // Off the refusal's path, so that a refusal costs no more than a success.
        tokio::spawn(async move { trail.record(event).await });
    }
}

impl From<StoredEvent> for gatehouse_proto::pb::common::v1::AuditEvent {
    fn from(event: StoredEvent) -> Self {
        Self {
            seq: event.seq,
            at_ms: event.at,
            service: event.service,
            action: event.action,
            outcome: event.outcome,
            actor_kind: event.actor_kind,
            actor_id: event.actor_id,
            actor_via: event.actor_via,
            target: event.target,
            subject_user_id: event.subject_user_id,
            source: event.source,
            request_id: event.request_id,
            details: event.details,
            prev_hash: event.prev_hash,
            hash: event.hash,
        }
    }
}

impl From<gatehouse_proto::pb::common::v1::AuditEvent> for StoredEvent {
    fn from(event: gatehouse_proto::pb::common::v1::AuditEvent) -> Self {
        Self {
            seq: event.seq,
            at: event.at_ms,
            service: event.service,
            action: event.action,
            outcome: event.outcome,
            actor_kind: event.actor_kind,
            actor_id: event.actor_id,
            actor_via: event.actor_via,
            target: event.target,
            subject_user_id: event.subject_user_id,
            source: event.source,
            request_id: event.request_id,
            details: event.details,
            prev_hash: event.prev_hash,
            hash: event.hash,
        }
    }
}

/// The `ListAuditEvents` RPC of every service: operators see everything;
/// the gateway only one account's events (a person's Security log).
pub async fn list_rpc(
    trail: &AuditLog,
    caller: Option<&Caller>,
    request: gatehouse_proto::pb::common::v1::ListAuditEventsRequest,
) -> Result<gatehouse_proto::pb::common::v1::ListAuditEventsResponse, tonic::Status> {
    let is_gateway = caller.is_some_and(|c| c.role == Role::Gateway);
    if is_gateway && request.subject_user_id.is_empty() {
        return Err(tonic::Status::permission_denied("the gateway lists one account's events only (subject_user_id)"));
    }
    let non_empty = |value: String| Some(value).filter(|v| !v.is_empty());
    let filter = AuditFilter {
        since: request.since_ms,
        actor: non_empty(request.actor_id),
        action: non_empty(request.action),
        target: non_empty(request.target),
        subject_user_id: non_empty(request.subject_user_id),
        limit: if request.limit == 0 { 100 } else { u64::from(request.limit) },
        after_seq: request.after_seq,
    };
    let events = trail.list(&filter).await.map_err(|error| {
        tracing::error!(%error, "reading the audit trail failed");
        tonic::Status::unavailable("the audit trail cannot be read now")
    })?;
    Ok(gatehouse_proto::pb::common::v1::ListAuditEventsResponse {
        events: events.into_iter().map(Into::into).collect(),
    })
}

/// The `VerifyAuditChain` RPC of every service.
pub async fn verify_rpc(
    trail: &AuditLog,
) -> Result<gatehouse_proto::pb::common::v1::VerifyAuditChainResponse, tonic::Status> {
    let verification = trail.verify().await.map_err(|error| {
        tracing::error!(%error, "reading the audit trail failed");
        tonic::Status::unavailable("the audit trail cannot be read now")
    })?;
    let (first_bad_seq, reason) = verification.first_bad.unwrap_or_default();
    Ok(gatehouse_proto::pb::common::v1::VerifyAuditChainResponse {
        service: trail.service.to_owned(),
        events: verification.events,
        first_bad_seq,
        reason,
    })
}

/// Deletes events older than `retention` once an hour until `stop`.
pub async fn keep_for(trail: AuditLog, retention: std::time::Duration, stop: impl std::future::Future<Output = ()>) {
    let pass = async {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            interval.tick().await;
            let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            let before = trail.clock.now().timestamp_millis().saturating_sub(retention_ms);
            match trail.prune(before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, service = trail.service, "audit events past retention deleted"),
                Err(error) => tracing::warn!(%error, "pruning the audit trail failed"),
            }
        }
    };
    tokio::select! {
        () = pass => {}
        () = stop => {}
    }
}
