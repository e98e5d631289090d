//! The transmitter's tables (see the migration): streams, subjects a
//! receiver removed, outboxes, and the place in each audit trail.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult, TransactionTrait};

const STREAMS: &str = "ssf_streams";
const EXCLUDED: &str = "ssf_excluded";
const OUTBOX: &str = "ssf_outbox";
const CURSORS: &str = "ssf_cursors";

fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// A stream as stored.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StreamRow {
    pub(crate) stream_id: String,
    pub(crate) client_id: String,
    pub(crate) description: String,
    pub(crate) delivery_method: String,
    /// Push: the receiver's endpoint; poll: empty (the transmitter's own URL).
    pub(crate) endpoint_url: String,
    /// Sealed; `None` when the receiver gave none.
    pub(crate) authorization_header: Option<String>,
    /// JSON array of what the receiver asked for.
    pub(crate) events_requested: String,
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) dropped: i64,
    pub(crate) verified_at: i64,
    pub(crate) last_error: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl std::fmt::Debug for StreamRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRow")
            .field("stream_id", &self.stream_id)
            .field("client_id", &self.client_id)
            .field("delivery_method", &self.delivery_method)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const STREAM_COLUMNS: [&str; 14] = [
    "stream_id",
    "client_id",
    "description",
    "delivery_method",
    "endpoint_url",
    "authorization_header",
    "events_requested",
    "status",
    "reason",
    "dropped",
    "verified_at",
    "last_error",
    "created_at",
    "updated_at",
];

fn stream_row(row: &QueryResult) -> Result<StreamRow, DbErr> {
    Ok(StreamRow {
        stream_id: row.try_get("", "stream_id")?,
        client_id: row.try_get("", "client_id")?,
        description: row.try_get("", "description")?,
        delivery_method: row.try_get("", "delivery_method")?,
        endpoint_url: row.try_get("", "endpoint_url")?,
        authorization_header: row.try_get("", "authorization_header")?,
        events_requested: row.try_get("", "events_requested")?,
        status: row.try_get("", "status")?,
        reason: row.try_get("", "reason")?,
        dropped: row.try_get("", "dropped")?,
        verified_at: row.try_get("", "verified_at")?,
        last_error: row.try_get("", "last_error")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}

/// One SET waiting in a stream's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) seq: i64,
    pub(crate) jti: String,
    pub(crate) set: String,
    pub(crate) attempts: i32,
    pub(crate) next_attempt_at: i64,
}

/// A SET for a stream's outbox.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) stream_id: String,
    pub(crate) jti: String,
    pub(crate) set: String,
}

/// What appending found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Appended {
    pub(crate) written: u64,
    /// Over a stream's backlog bound: not written, counted on the stream.
    pub(crate) dropped: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct SsfStore {
    db: DatabaseConnection,
}

impl SsfStore {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Creates `stream`; false when its application already has one.
    pub(crate) async fn create(&self, stream: &StreamRow) -> Result<bool, DbErr> {
        if !self.streams_of(&stream.client_id).await?.is_empty() {
            return Ok(false);
        }
        let insert = Query::insert()
            .into_table(a(STREAMS))
            .columns(STREAM_COLUMNS.iter().chain(&["next_seq", "lease_until"]).map(|c| a(c)))
            .values_panic([
                stream.stream_id.clone().into(),
                stream.client_id.clone().into(),
                stream.description.clone().into(),
                stream.delivery_method.clone().into(),
                stream.endpoint_url.clone().into(),
                stream.authorization_header.clone().into(),
                stream.events_requested.clone().into(),
                stream.status.clone().into(),
                stream.reason.clone().into(),
                stream.dropped.into(),
                stream.verified_at.into(),
                stream.last_error.clone().into(),
                stream.created_at.into(),
                stream.updated_at.into(),
                0i64.into(),
                0i64.into(),
            ])
            .to_owned();
        match self.db.execute(&insert).await {
            Ok(_) => Ok(true),
            // Two creations at once: the unique index kept one.
            Err(_) if !self.streams_of(&stream.client_id).await?.is_empty() => Ok(false),
            Err(error) => Err(error),
        }
    }

    pub(crate) async fn stream(&self, stream_id: &str) -> Result<Option<StreamRow>, DbErr> {
        let query = Query::select()
            .columns(STREAM_COLUMNS.map(a))
            .from(a(STREAMS))
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .to_owned();
        self.db.query_one(&query).await?.as_ref().map(stream_row).transpose()
    }

    pub(crate) async fn streams_of(&self, client_id: &str) -> Result<Vec<StreamRow>, DbErr> {
        let query = Query::select()
            .columns(STREAM_COLUMNS.map(a))
            .from(a(STREAMS))
            .and_where(Expr::col(a("client_id")).eq(client_id))
            .order_by(a("created_at"), Order::Asc)
            .to_owned();
        self.db.query_all(&query).await?.iter().map(stream_row).collect()
    }

    /// Every stream that takes events now (enabled or paused: a paused
    /// stream holds them until it resumes; a disabled one drops them).
    pub(crate) async fn receiving(&self) -> Result<Vec<StreamRow>, DbErr> {
        let query = Query::select()
            .columns(STREAM_COLUMNS.map(a))
            .from(a(STREAMS))
            .and_where(Expr::col(a("status")).is_in(["enabled", "paused"]))
            .to_owned();
        self.db.query_all(&query).await?.iter().map(stream_row).collect()
    }

    /// Writes the receiver-supplied fields and the status of `stream`.
    pub(crate) async fn update(&self, stream: &StreamRow) -> Result<(), DbErr> {
        let update = Query::update()
            .table(a(STREAMS))
            .values([
                (a("description"), stream.description.clone().into()),
                (a("delivery_method"), stream.delivery_method.clone().into()),
                (a("endpoint_url"), stream.endpoint_url.clone().into()),
                (a("authorization_header"), stream.authorization_header.clone().into()),
                (a("events_requested"), stream.events_requested.clone().into()),
                (a("status"), stream.status.clone().into()),
                (a("reason"), stream.reason.clone().into()),
                (a("verified_at"), stream.verified_at.into()),
                (a("updated_at"), stream.updated_at.into()),
            ])
            .and_where(Expr::col(a("stream_id")).eq(stream.stream_id.clone()))
            .to_owned();
        self.db.execute(&update).await.map(|_| ())
    }

    /// Deletes a stream with its outbox and removed subjects.
    pub(crate) async fn delete(&self, stream_id: &str) -> Result<(), DbErr> {
        let transaction = self.db.begin().await?;
        for table in [OUTBOX, EXCLUDED, STREAMS] {
            let delete =
                Query::delete().from_table(a(table)).and_where(Expr::col(a("stream_id")).eq(stream_id)).to_owned();
            transaction.execute(&delete).await?;
        }
        transaction.commit().await
    }

    /// Whether `client_id` holds or held tokens of `user_id` (the user is
    /// one of that application's; kept until the tokens expire).
    pub(crate) async fn is_users_application(&self, user_id: &str, client_id: &str) -> Result<bool, DbErr> {
        let query = Query::select()
            .column(a("hash"))
            .from(a("token_tokens"))
            .and_where(Expr::col(a("user_id")).eq(user_id))
            .and_where(Expr::col(a("client_id")).eq(client_id))
            .limit(1)
            .to_owned();
        Ok(self.db.query_one(&query).await?.is_some())
    }

    pub(crate) async fn is_excluded(&self, stream_id: &str, user_id: &str) -> Result<bool, DbErr> {
        let query = Query::select()
            .column(a("user_id"))
            .from(a(EXCLUDED))
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .and_where(Expr::col(a("user_id")).eq(user_id))
            .to_owned();
        Ok(self.db.query_one(&query).await?.is_some())
    }

    /// Removes `user_id` from the stream's subjects (`false`) or adds it back (`true`).
    pub(crate) async fn set_included(&self, stream_id: &str, user_id: &str, included: bool) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table(a(EXCLUDED))
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .and_where(Expr::col(a("user_id")).eq(user_id))
            .to_owned();
        let transaction = self.db.begin().await?;
        transaction.execute(&delete).await?;
        if !included {
            let insert = Query::insert()
                .into_table(a(EXCLUDED))
                .columns([a("stream_id"), a("user_id")])
                .values_panic([stream_id.into(), user_id.into()])
                .to_owned();
            transaction.execute(&insert).await?;
        }
        transaction.commit().await
    }

    /// Where the transmitter is in `source`'s trail, if anywhere yet.
    pub(crate) async fn cursor(&self, source: &str) -> Result<Option<i64>, DbErr> {
        let query =
            Query::select().column(a("seq")).from(a(CURSORS)).and_where(Expr::col(a("source")).eq(source)).to_owned();
        self.db.query_one(&query).await?.map(|row| row.try_get("", "seq")).transpose()
    }

    /// Starts reading `source` after `seq` (its head when first seen: the
    /// past is not replayed); a replica that started it first wins.
    pub(crate) async fn start_cursor(&self, source: &str, seq: i64) -> Result<(), DbErr> {
        let insert = Query::insert()
            .into_table(a(CURSORS))
            .columns([a("source"), a("seq")])
            .values_panic([source.into(), seq.into()])
            .on_conflict(sea_orm::sea_query::OnConflict::column(a("source")).do_nothing().to_owned())
            .to_owned();
        match self.db.execute(&insert).await {
            Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Moves each trail's cursor (source, from, to) and appends `sets`, in
    /// one transaction; `None` when another replica moved a cursor first
    /// (nothing is written: it wrote these).
    pub(crate) async fn advance(
        &self,
        moves: &[(&str, i64, i64)],
        sets: &[Outgoing],
        max_backlog: u64,
        now_ms: i64,
    ) -> Result<Option<Appended>, DbErr> {
        let transaction = self.db.begin().await?;
        for (source, from, to) in moves {
            let moved = Query::update()
                .table(a(CURSORS))
                .value(a("seq"), *to)
                .and_where(Expr::col(a("source")).eq(*source))
                .and_where(Expr::col(a("seq")).eq(*from))
                .to_owned();
            if transaction.execute(&moved).await?.rows_affected() != 1 {
                return Ok(None);
            }
        }
        let appended = append_in(&transaction, sets, max_backlog, now_ms).await?;
        transaction.commit().await?;
        Ok(Some(appended))
    }

    /// Appends `sets` (the framework's own events) in one transaction.
    pub(crate) async fn append(&self, sets: &[Outgoing], max_backlog: u64, now_ms: i64) -> Result<Appended, DbErr> {
        let transaction = self.db.begin().await?;
        let appended = append_in(&transaction, sets, max_backlog, now_ms).await?;
        transaction.commit().await?;
        Ok(appended)
    }

    /// The streams whose outbox has a SET due for push now and that no
    /// replica is sending.
    pub(crate) async fn due_for_push(&self, now_ms: i64) -> Result<Vec<String>, DbErr> {
        let query = Query::select()
            .distinct()
            .expr_as(Expr::col((a("s"), a("stream_id"))), a("stream_id"))
            .from_as(a(STREAMS), a("s"))
            .inner_join(a(OUTBOX), Expr::col((a(OUTBOX), a("stream_id"))).equals((a("s"), a("stream_id"))))
            .and_where(Expr::col((a("s"), a("delivery_method"))).eq(super::PUSH))
            .and_where(Expr::col((a("s"), a("status"))).eq("enabled"))
            .and_where(Expr::col((a("s"), a("lease_until"))).lt(now_ms))
            .and_where(Expr::col((a(OUTBOX), a("next_attempt_at"))).lte(now_ms))
            .limit(1000)
            .to_owned();
        self.db.query_all(&query).await?.iter().map(|row| row.try_get("", "stream_id")).collect()
    }

    /// Takes the right to send `stream_id` until `until_ms`; false when another replica holds it.
    pub(crate) async fn lease(&self, stream_id: &str, now_ms: i64, until_ms: i64) -> Result<bool, DbErr> {
        let update = Query::update()
            .table(a(STREAMS))
            .value(a("lease_until"), until_ms)
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .and_where(Expr::col(a("lease_until")).lt(now_ms))
            .to_owned();
        Ok(self.db.execute(&update).await?.rows_affected() == 1)
    }

    /// Keeps the lease this replica holds until `until_ms`.
    pub(crate) async fn renew(&self, stream_id: &str, until_ms: i64) -> Result<(), DbErr> {
        let update = Query::update()
            .table(a(STREAMS))
            .value(a("lease_until"), until_ms)
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .to_owned();
        self.db.execute(&update).await.map(|_| ())
    }

    pub(crate) async fn release(&self, stream_id: &str) -> Result<(), DbErr> {
        let update = Query::update()
            .table(a(STREAMS))
            .value(a("lease_until"), 0i64)
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .to_owned();
        self.db.execute(&update).await.map(|_| ())
    }

    /// The oldest `limit` SETs of a stream's outbox, in order.
    pub(crate) async fn pending(&self, stream_id: &str, limit: u64) -> Result<Vec<Pending>, DbErr> {
        let query = Query::select()
            .columns([a("seq"), a("jti"), a("set_jwt"), a("attempts"), a("next_attempt_at")])
            .from(a(OUTBOX))
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .order_by(a("seq"), Order::Asc)
            .limit(limit)
            .to_owned();
        let rows = self.db.query_all(&query).await?;
        rows.iter()
            .map(|row| {
                Ok(Pending {
                    seq: row.try_get("", "seq")?,
                    jti: row.try_get("", "jti")?,
                    set: row.try_get("", "set_jwt")?,
                    attempts: row.try_get("", "attempts")?,
                    next_attempt_at: row.try_get("", "next_attempt_at")?,
                })
            })
            .collect()
    }

    /// How many SETs a stream's outbox holds.
    pub(crate) async fn backlog(&self, stream_id: &str) -> Result<u64, DbErr> {
        backlog_in(&self.db, stream_id).await
    }

    /// Removes the SETs `jtis` of a stream's outbox (delivered, acknowledged or refused for good).
    pub(crate) async fn remove(&self, stream_id: &str, jtis: &[String]) -> Result<u64, DbErr> {
        if jtis.is_empty() {
            return Ok(0);
        }
        let delete = Query::delete()
            .from_table(a(OUTBOX))
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .and_where(Expr::col(a("jti")).is_in(jtis.iter().cloned()))
            .to_owned();
        Ok(self.db.execute(&delete).await?.rows_affected())
    }

    /// Records a failed push of the SET `seq`: tried again at `next_ms`.
    pub(crate) async fn failed(&self, stream_id: &str, seq: i64, next_ms: i64, error: &str) -> Result<(), DbErr> {
        let update = Query::update()
            .table(a(OUTBOX))
            .value(a("attempts"), Expr::col(a("attempts")).add(1))
            .value(a("next_attempt_at"), next_ms)
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .and_where(Expr::col(a("seq")).eq(seq))
            .to_owned();
        self.db.execute(&update).await?;
        self.note_error(stream_id, error).await
    }

    /// Keeps `error` as the stream's last push error (its status shows it).
    pub(crate) async fn note_error(&self, stream_id: &str, error: &str) -> Result<(), DbErr> {
        let update = Query::update()
            .table(a(STREAMS))
            .value(a("last_error"), error)
            .and_where(Expr::col(a("stream_id")).eq(stream_id))
            .to_owned();
        self.db.execute(&update).await.map(|_| ())
    }

    /// The backlog of every stream (for metrics).
    pub(crate) async fn backlogs(&self) -> Result<Vec<(String, i64)>, DbErr> {
        let query = Query::select()
            .column(a("stream_id"))
            .expr_as(Expr::col(a("seq")).count(), a("n"))
            .from(a(OUTBOX))
            .group_by_col(a("stream_id"))
            .to_owned();
        let rows = self.db.query_all(&query).await?;
        rows.iter().map(|row| Ok((row.try_get("", "stream_id")?, row.try_get("", "n")?))).collect()
    }
}

async fn backlog_in<C: ConnectionTrait>(conn: &C, stream_id: &str) -> Result<u64, DbErr> {
    let query = Query::select()
        .expr_as(Expr::col(a("seq")).count(), a("n"))
        .from(a(OUTBOX))
        .and_where(Expr::col(a("stream_id")).eq(stream_id))
        .to_owned();
    let n: i64 = match conn.query_one(&query).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Appends each SET at the end of its stream's outbox (the stream's row
/// numbers them, and orders concurrent appends); one over the stream's
/// bound is counted as dropped instead.
async fn append_in<C: ConnectionTrait>(
    conn: &C,
    sets: &[Outgoing],
    max_backlog: u64,
    now_ms: i64,
) -> Result<Appended, DbErr> {
    let mut appended = Appended::default();
    for set in sets {
        let take = Query::update()
            .table(a(STREAMS))
            .value(a("next_seq"), Expr::col(a("next_seq")).add(1))
            .and_where(Expr::col(a("stream_id")).eq(set.stream_id.clone()))
            .returning(Query::returning().columns([a("next_seq")]))
            .to_owned();
        // The stream was deleted meanwhile: nothing to write.
        let Some(row) = conn.query_one(&take).await? else { continue };
        let seq: i64 = row.try_get("", "next_seq")?;
        if backlog_in(conn, &set.stream_id).await? >= max_backlog {
            let dropped = Query::update()
                .table(a(STREAMS))
                .value(a("dropped"), Expr::col(a("dropped")).add(1))
                .and_where(Expr::col(a("stream_id")).eq(set.stream_id.clone()))
                .to_owned();
            conn.execute(&dropped).await?;
            appended.dropped += 1;
            continue;
        }
        let insert = Query::insert()
            .into_table(a(OUTBOX))
            .columns(["stream_id", "seq", "jti", "set_jwt", "created_at", "attempts", "next_attempt_at"].map(a))
            .values_panic([
                set.stream_id.clone().into(),
                seq.into(),
                set.jti.clone().into(),
                set.set.clone().into(),
                now_ms.into(),
                0i32.into(),
                now_ms.into(),
            ])
            .to_owned();
        conn.execute(&insert).await?;
        appended.written += 1;
    }
    Ok(appended)
}
