//! Tokens in SQL: one implementation for SQLite and PostgreSQL.

mod entity;
pub(crate) mod keys;
mod rotations;

use std::sync::OnceLock;

use gatehouse_oauth::token::TokenKind;
use gatehouse_runtime::database::{CONFLICT_ATTEMPTS, is_conflict, unique};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use self::entity::{personal, revocation, revocation_head, revocation_log, token};
use crate::error::{TokenError, TokenResult};
use crate::store::{
    BeforeCommit, Fence, LoggedRevocation, PersonalRecord, PersonalTokenStore, RetryRule, RevocationLog, RevokeScope,
    Revoked, Rotation, TokenRecord, TokenStore,
};

#[derive(Debug)]
pub(crate) struct SqlTokenStore {
    db: DatabaseConnection,
    /// The group-commit writer, started by the first insert (inside the
    /// runtime that serves requests).
    writer: OnceLock<mpsc::Sender<PendingInsert>>,
    /// The rotations' group-commit writer, started by the first rotation.
    rotator: OnceLock<mpsc::Sender<rotations::PendingRotation>>,
    /// The watermark reader (see [`read_watermarks`]), started by the first read.
    watermarks: OnceLock<mpsc::Sender<oneshot::Sender<Result<i64, DbErr>>>>,
}

/// One request's tokens, waiting for the writer.
struct PendingInsert {
    rows: Vec<TokenRecord>,
    fence: Fence,
    /// The revocation subject that caught the tokens, if one did.
    done: oneshot::Sender<Result<Option<String>, DbErr>>,
}

/// Requests whose tokens one statement writes at most: 2 rows each, 14
/// columns a row, far below SQLite's and PostgreSQL's bind limits.
const MAX_BATCH: usize = 128;

impl SqlTokenStore {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db, writer: OnceLock::new(), rotator: OnceLock::new(), watermarks: OnceLock::new() }
    }

    fn watermarks(&self) -> &mpsc::Sender<oneshot::Sender<Result<i64, DbErr>>> {
        self.watermarks.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(read_watermarks(self.db.clone(), receiver));
            sender
        })
    }

    fn rotator(&self) -> &mpsc::Sender<rotations::PendingRotation> {
        self.rotator.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(4 * rotations::MAX_ROTATIONS);
            tokio::spawn(rotations::rotate_batches(self.db.clone(), receiver));
            sender
        })
    }

    fn writer(&self) -> &mpsc::Sender<PendingInsert> {
        self.writer.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(write_batches(self.db.clone(), receiver));
            sender
        })
    }
}

/// Group commit. Every issued token must be durable in SQL before the
/// client sees it, and one statement per request made the single SQLite
/// connection (and PostgreSQL's commits) the bottleneck under concurrency:
/// requests queued behind each other's commits. The writer takes whatever
/// requests arrived while it wrote the previous batch and writes all their
/// rows in one multi-row INSERT (one statement: atomic on its own), then
/// looks for the revocations that caught any of them in one query (after
/// the commit, see [`TokenStore::insert`]), then answers each request. When
/// a batch fails, each request's rows are written alone, so one bad request
/// cannot fail its neighbours, and a request never has part of its tokens
/// stored.
async fn write_batches(db: DatabaseConnection, mut receiver: mpsc::Receiver<PendingInsert>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A request whose caller gave up (its deadline passed, the future was
        // dropped) is not written: nobody will see those tokens, and a client
        // that was told "unavailable" retries from a clean state.
        batch.retain(|pending| !pending.done.is_closed());
        if batch.is_empty() {
            continue;
        }
        match insert_rows(&db, batch.iter().flat_map(|p| &p.rows)).await {
            Ok(()) => {
                let newest = newest_revocations(&db, batch.iter().map(|p| &p.fence)).await;
                for pending in batch.drain(..) {
                    let caught = match &newest {
                        Ok(newest) => Ok(pending.fence.caught_by(newest)),
                        Err(error) => Err(DbErr::Custom(error.to_string())),
                    };
                    let _ = pending.done.send(caught);
                }
            }
            Err(error) if batch.len() == 1 => {
                if let Some(pending) = batch.pop() {
                    let _ = pending.done.send(Err(error));
                }
            }
            Err(error) => {
                tracing::debug!(%error, requests = batch.len(), "batched token insert failed; writing one by one");
                for pending in batch.drain(..) {
                    let result = match insert_rows(&db, &pending.rows).await {
                        Ok(()) => newest_revocations(&db, [&pending.fence])
                            .await
                            .map(|newest| pending.fence.caught_by(&newest)),
                        Err(error) => Err(error),
                    };
                    let _ = pending.done.send(result);
                }
            }
        }
    }
}

/// Reads of the revocation watermark, shared. Every code exchange reads it
/// before its redemption; the reader answers all the callers that asked
/// while its previous read ran with one new read, which starts after each
/// of them asked: each gets a value read after its call began, as a read
/// of its own would have been, for one statement instead of one each.
async fn read_watermarks(db: DatabaseConnection, mut receiver: mpsc::Receiver<oneshot::Sender<Result<i64, DbErr>>>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut waiting, 8 * MAX_BATCH).await > 0 {
        waiting.retain(|caller| !caller.is_closed());
        if waiting.is_empty() {
            continue;
        }
        let newest = newest_revocation(&db).await;
        for caller in waiting.drain(..) {
            let _ = caller.send(newest.clone());
        }
    }
}

/// The newest subject revocation's number (0 when none).
async fn newest_revocation(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let newest: Option<Option<i64>> = revocation::Entity::find()
        .select_only()
        .column_as(revocation::Column::Id.max(), "newest")
        .into_tuple()
        .one(db)
        .await?;
    Ok(newest.flatten().unwrap_or(0))
}

/// The newest revocation of each subject any of `fences` is caught by
/// (subjects never revoked are absent), in one query.
async fn newest_revocations<'a>(
    db: &DatabaseConnection,
    fences: impl IntoIterator<Item = &'a Fence>,
) -> Result<std::collections::HashMap<String, i64>, DbErr> {
    let mut subjects: Vec<String> = fences.into_iter().flat_map(Fence::subjects).collect();
    subjects.sort_unstable();
    subjects.dedup();
    let newest: Vec<(String, i64)> = revocation::Entity::find()
        .select_only()
        .column(revocation::Column::Subject)
        .column_as(revocation::Column::Id.max(), "newest")
        .filter(revocation::Column::Subject.is_in(subjects))
        .group_by(revocation::Column::Subject)
        .into_tuple()
        .all(db)
        .await?;
    Ok(newest.into_iter().collect())
}

async fn insert_rows<'a>(
    db: &DatabaseConnection,
    rows: impl IntoIterator<Item = &'a TokenRecord>,
) -> Result<(), DbErr> {
    token::Entity::insert_many(rows.into_iter().map(row)).exec_without_returning(db).await?;
    Ok(())
}

fn kind_text(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
        TokenKind::Personal => "personal",
        TokenKind::Transaction => "transaction",
    }
}

fn row(record: &TokenRecord) -> token::ActiveModel {
    token::ActiveModel {
        hash: Set(record.hash.clone()),
        kind: Set(kind_text(record.kind).to_owned()),
        client_id: Set(record.client_id.clone()),
        user_id: Set(record.user_id.clone()),
        username: Set(record.username.clone()),
        scopes: Set(serde_json::to_string(&record.scopes).unwrap_or_else(|_| "[]".to_owned())),
        family_id: Set(record.family_id.clone()),
        code_id: Set(record.code_id.clone()),
        issued_at: Set(record.issued_at),
        expires_at: Set(record.expires_at),
        revoked_at: Set(None),
        rotated_at: Set(None),
        rotated_to: Set(None),
        auth_time: Set(record.auth_time),
        amr: Set((!record.amr.is_empty()).then(|| record.amr.join(" "))),
        audience: Set((!record.audience.is_empty())
            .then(|| serde_json::to_string(&record.audience).unwrap_or_else(|_| "[]".to_owned()))),
        jkt: Set(Some(record.jkt.clone()).filter(|jkt| !jkt.is_empty())),
        parent_family_id: Set(record.parent_family.clone()),
        actors: Set((!record.actors.is_empty())
            .then(|| serde_json::to_string(&record.actors).unwrap_or_else(|_| "[]".to_owned()))),
    }
}

fn kind_is(kind: TokenKind) -> Condition {
    Condition::all().add(token::Column::Kind.eq(kind_text(kind)))
}

/// Revokes the unrevoked tokens matching `condition` in one statement and
/// returns them.
async fn revoke_matching<C: sea_orm::ConnectionTrait>(
    db: &C,
    condition: Condition,
    now: i64,
) -> Result<Vec<Revoked>, DbErr> {
    let models = token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(now))
        .filter(condition)
        .filter(token::Column::RevokedAt.is_null())
        .exec_with_returning(db)
        .await?;
    Ok(models.into_iter().map(|m| Revoked { hash: m.hash, expires_at: m.expires_at, newly: true }).collect())
}

/// Most events one statement inserts (SQLite's bound on parameters).
const LOG_CHUNK: usize = 1000;

/// Logs `ended` in the revocation log, in the caller's transaction, which
/// must be about to commit: the head row's update takes the numbers and
/// locks the row until the commit, so concurrent transactions number their
/// events in the order they commit (a sequence would not: a transaction
/// that took a lower number could commit after a reader had moved past it).
/// Called last before the commit, so the lock is held for as short a time
/// as possible.
async fn log_revocations<C: sea_orm::ConnectionTrait>(txn: &C, ended: &[Revoked], now_ms: i64) -> Result<(), DbErr> {
    if ended.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(ended.len()).unwrap_or(i64::MAX);
    let head = revocation_head::Entity::update_many()
        .col_expr(revocation_head::Column::Seq, Expr::col(revocation_head::Column::Seq).add(count))
        .filter(revocation_head::Column::Id.eq(1))
        .exec_with_returning(txn)
        .await?;
    let last =
        head.first().map(|h| h.seq).ok_or_else(|| DbErr::Custom("the revocation head row is missing".to_owned()))?;
    let first = last - count + 1;
    for (n, chunk) in ended.chunks(LOG_CHUNK).enumerate() {
        let base = first + i64::try_from(n * LOG_CHUNK).unwrap_or(i64::MAX);
        let rows = chunk.iter().zip(base..).map(|(revoked, seq)| revocation_log::ActiveModel {
            seq: Set(seq),
            hash: Set(revoked.hash.clone()),
            expires_at: Set(revoked.expires_at),
            created_at: Set(now_ms),
        });
        revocation_log::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// Revokes the tokens matching `condition` and logs them, in one transaction.
async fn revoke_and_log(
    db: &DatabaseConnection,
    condition: Condition,
    now: i64,
    now_ms: i64,
) -> Result<Vec<Revoked>, DbErr> {
    let txn = db.begin().await?;
    let revoked = revoke_matching(&txn, condition, now).await?;
    log_revocations(&txn, &revoked, now_ms).await?;
    txn.commit().await?;
    Ok(revoked)
}

/// Runs `statement` again when it lost a conflict (a deadlock with a
/// concurrent rotation, whose rows a revocation locks in another order).
async fn on_conflict_retry<T, E, F, Fut>(mut statement: F) -> Result<T, E>
where
    E: AsDbErr + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match statement().await {
            Err(error) if attempt < CONFLICT_ATTEMPTS && error.db_err().is_some_and(is_conflict) => {
                tracing::debug!(%error, attempt, "lost a conflict with a concurrent transaction; running it again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The SQL error inside an error, if it is one.
trait AsDbErr {
    fn db_err(&self) -> Option<&DbErr>;
}

impl AsDbErr for DbErr {
    fn db_err(&self) -> Option<&DbErr> {
        Some(self)
    }
}

impl AsDbErr for TokenError {
    fn db_err(&self) -> Option<&DbErr> {
        match self {
            TokenError::Storage(error) => Some(error),
            _ => None,
        }
    }
}

fn personal_record(model: personal::Model) -> PersonalRecord {
    PersonalRecord {
        scopes: serde_json::from_str(&model.scopes).unwrap_or_default(),
        id: model.id,
        user_id: model.user_id,
        name: model.name,
        hash: model.hash,
        created_at: model.created_at,
        expires_at: model.expires_at,
        last_used_at: model.last_used_at,
        last_used_address: model.last_used_address,
    }
}

/// Passes of a scope revocation; see [`SqlTokenStore::revoke`].
const REVOKE_PASSES: usize = 8;

fn record(model: token::Model) -> TokenRecord {
    TokenRecord {
        kind: match model.kind.as_str() {
            "refresh" => TokenKind::Refresh,
            "personal" => TokenKind::Personal,
            "transaction" => TokenKind::Transaction,
            _ => TokenKind::Access,
        },
        scopes: serde_json::from_str(&model.scopes).unwrap_or_default(),
        hash: model.hash,
        client_id: model.client_id,
        user_id: model.user_id,
        username: model.username,
        family_id: model.family_id,
        code_id: model.code_id,
        issued_at: model.issued_at,
        expires_at: model.expires_at,
        revoked: model.revoked_at.is_some(),
        rotated: model.rotated_at.is_some(),
        auth_time: model.auth_time,
        amr: model
            .amr
            .map(|amr| amr.split(' ').filter(|m| !m.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        audience: model.audience.and_then(|a| serde_json::from_str(&a).ok()).unwrap_or_default(),
        jkt: model.jkt.unwrap_or_default(),
        parent_family: model.parent_family_id,
        actors: model.actors.and_then(|a| serde_json::from_str(&a).ok()).unwrap_or_default(),
    }
}

fn scope_condition(scope: RevokeScope<'_>) -> Condition {
    // Tokens a token exchange issued from the matched grants (RFC 8693)
    // descend from them: they end with them.
    let descendants = |of: Condition| {
        token::Column::ParentFamilyId.in_subquery(
            sea_orm::sea_query::Query::select()
                .column(token::Column::FamilyId)
                .from(token::Entity)
                .cond_where(of)
                .to_owned(),
        )
    };
    match scope {
        RevokeScope::Token(hash) => Condition::all().add(token::Column::Hash.eq(hash)),
        RevokeScope::Family(family) => {
            Condition::any().add(token::Column::FamilyId.eq(family)).add(token::Column::ParentFamilyId.eq(family))
        }
        RevokeScope::Code(code) => Condition::all().add(token::Column::CodeId.eq(code)),
        RevokeScope::UserClient { user_id, client_id } => {
            let grant =
                || Condition::all().add(token::Column::UserId.eq(user_id)).add(token::Column::ClientId.eq(client_id));
            Condition::any().add(grant()).add(descendants(grant()))
        }
        RevokeScope::Client(client_id) => Condition::any()
            .add(token::Column::ClientId.eq(client_id))
            .add(descendants(Condition::all().add(token::Column::ClientId.eq(client_id)))),
        RevokeScope::User(user_id) | RevokeScope::UserTokens(user_id) => {
            Condition::all().add(token::Column::UserId.eq(user_id))
        }
    }
}

/// A second rotation of `refresh_hash`: `Ok` with the unused successors it
/// revoked when it is a retry (the rule allows it, the successor never
/// used), otherwise the answer to give without committing (a refusal, or
/// `Rotated` when the rotation found is this attempt's own).
async fn retry<C: sea_orm::ConnectionTrait>(
    txn: &C,
    refresh_hash: &str,
    new_successor: Option<String>,
    now: i64,
    rule: &RetryRule,
) -> Result<Result<Vec<Revoked>, Rotation>, DbErr> {
    let Some(old) = unique(token::Entity::find_by_id(refresh_hash.to_owned()), txn).await? else {
        return Ok(Err(Rotation::Inactive));
    };
    if old.revoked_at.is_some() {
        return Ok(Err(Rotation::Inactive));
    }
    // Rotated to this very attempt's successor: a batch whose commit failed
    // with its outcome unknown had in fact committed it. Nothing to redo.
    if old.rotated_to.is_some() && old.rotated_to == new_successor {
        return Ok(Err(Rotation::Rotated { ended: Vec::new() }));
    }
    let rotated_at = old.rotated_at.unwrap_or(i64::MIN);
    let Some(successor) = old.rotated_to.filter(|successor| rule.allows(rotated_at, successor)) else {
        return Ok(Err(Rotation::Reused));
    };
    // Checking that the successor is unused and revoking it is one
    // statement, so a concurrent use of the successor and this retry cannot
    // both win: whichever locks its row first does.
    let unused = revoke_matching(
        txn,
        Condition::all().add(token::Column::Hash.eq(successor.as_str())).add(token::Column::RotatedAt.is_null()),
        now,
    )
    .await?;
    if unused.is_empty() {
        return Ok(Err(Rotation::Reused));
    }
    // Concurrent retries: only the one that moves the link from the old
    // successor to its own wins.
    let moved = token::Entity::update_many()
        .col_expr(token::Column::RotatedTo, Expr::value(new_successor))
        .col_expr(token::Column::RotatedAt, Expr::value(now))
        .filter(token::Column::Hash.eq(refresh_hash))
        .filter(token::Column::RotatedTo.eq(successor))
        .exec(txn)
        .await?;
    if moved.rows_affected != 1 {
        return Ok(Err(Rotation::Reused));
    }
    Ok(Ok(unused))
}

impl SqlTokenStore {
    /// One attempt of [`TokenStore::rotate`], in one transaction.
    async fn rotate_once(
        &self,
        refresh_hash: &str,
        successors: &[TokenRecord],
        now: i64,
        rule: &RetryRule,
        before_commit: &BeforeCommit,
    ) -> TokenResult<Rotation> {
        let successor_hash = successors.iter().find(|t| t.kind == TokenKind::Refresh).map(|t| t.hash.clone());
        let Some(family) = successors.first().map(|t| t.family_id.clone()) else {
            return Ok(Rotation::Inactive);
        };
        let txn = self.db.begin().await?;
        // The conditional update is the lock: only one transaction sees the
        // row still unrotated and unrevoked.
        let updated = token::Entity::update_many()
            .col_expr(token::Column::RotatedAt, Expr::value(now))
            .col_expr(token::Column::RotatedTo, Expr::value(successor_hash.clone()))
            .filter(token::Column::Hash.eq(refresh_hash))
            .filter(token::Column::RotatedAt.is_null())
            .filter(token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        let mut ended = Vec::new();
        let retried = updated.rows_affected != 1;
        if retried {
            match retry(&txn, refresh_hash, successor_hash, now, rule).await? {
                Ok(unused) => ended.extend(unused),
                Err(refused) => {
                    txn.rollback().await?;
                    return Ok(refused);
                }
            }
        }
        // The previous generation ends with the rotation (as on the seed
        // platform, Hydra and GitHub Apps): the family's access tokens that
        // are still live, before the successors exist.
        let previous = Condition::all().add(token::Column::FamilyId.eq(family)).add(kind_is(TokenKind::Access));
        ended.extend(revoke_matching(&txn, previous, now).await?);
        token::Entity::insert_many(successors.iter().map(row)).exec_without_returning(&txn).await?;
        if let Err(error) = before_commit(ended.clone()).await {
            txn.rollback().await?;
            return Err(error);
        }
        log_revocations(&txn, &ended, now.saturating_mul(1000)).await?;
        txn.commit().await?;
        Ok(if retried { Rotation::Retried { ended } } else { Rotation::Rotated { ended } })
    }
}

#[async_trait::async_trait]
impl TokenStore for SqlTokenStore {
    async fn insert(&self, tokens: &[TokenRecord], fence: &Fence) -> TokenResult<Option<String>> {
        let (done, result) = oneshot::channel();
        let pending = PendingInsert { rows: tokens.to_vec(), fence: fence.clone(), done };
        // The writer stops only with the runtime; then nothing was written.
        let stopped = || DbErr::Custom("token writer stopped".to_owned());
        self.writer().send(pending).await.map_err(|_| stopped())?;
        Ok(result.await.map_err(|_| stopped())??)
    }

    async fn find(&self, hash: &str) -> TokenResult<Option<TokenRecord>> {
        Ok(unique(token::Entity::find_by_id(hash.to_owned()), &self.db).await?.map(record))
    }

    async fn rotate(
        &self,
        refresh_hash: &str,
        successors: &[TokenRecord],
        now: i64,
        rule: &RetryRule,
        before_commit: BeforeCommit,
    ) -> TokenResult<Rotation> {
        // Together with the rotations of other grants arriving meanwhile;
        // one the batch does not take is decided here, one by one.
        let (done, answer) = oneshot::channel();
        let pending = rotations::PendingRotation {
            refresh_hash: refresh_hash.to_owned(),
            successors: successors.to_vec(),
            now,
            before_commit: before_commit.clone(),
            done,
        };
        let stopped = || DbErr::Custom("token writer stopped".to_owned());
        self.rotator().send(pending).await.map_err(|_| stopped())?;
        if let Some(ended) = answer.await.map_err(|_| stopped())?? {
            return Ok(Rotation::Rotated { ended });
        }
        on_conflict_retry(|| self.rotate_once(refresh_hash, successors, now, rule, &before_commit)).await
    }

    /// Revokes in passes until a pass finds nothing. On PostgreSQL (READ
    /// COMMITTED) an UPDATE sees the rows of its statement's snapshot: a
    /// rotation that committed while the first pass waited for the old
    /// refresh token's row lock stored successors that pass could not see,
    /// and the next pass (a new snapshot, taken after that commit) revokes
    /// them. A rotation that starts later finds its refresh token revoked.
    /// New families (a code exchange, client_credentials) are caught by the
    /// subject row written first: they look for it once stored.
    async fn revoke(&self, scope: RevokeScope<'_>, now: i64, now_ms: i64) -> TokenResult<Vec<Revoked>> {
        if let Some(subject) = scope.subject() {
            let entry =
                revocation::ActiveModel { subject: Set(subject), created_at: Set(now_ms), ..Default::default() };
            revocation::Entity::insert(entry).exec_without_returning(&self.db).await?;
        }
        let mut newly = std::collections::HashSet::new();
        for _ in 0..REVOKE_PASSES {
            let revoked = on_conflict_retry(|| revoke_and_log(&self.db, scope_condition(scope), now, now_ms)).await?;
            if revoked.is_empty() {
                break;
            }
            newly.extend(revoked.into_iter().map(|r| r.hash));
        }
        let all: Vec<(String, i64)> = token::Entity::find()
            .select_only()
            .column(token::Column::Hash)
            .column(token::Column::ExpiresAt)
            .filter(scope_condition(scope))
            .filter(token::Column::ExpiresAt.gt(now))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(all
            .into_iter()
            .map(|(hash, expires_at)| {
                let newly = newly.contains(&hash);
                Revoked { hash, expires_at, newly }
            })
            .collect())
    }

    async fn revocation_watermark(&self) -> TokenResult<i64> {
        let (caller, answer) = oneshot::channel();
        let stopped = || DbErr::Custom("watermark reader stopped".to_owned());
        self.watermarks().send(caller).await.map_err(|_| stopped())?;
        Ok(answer.await.map_err(|_| stopped())??)
    }

    async fn fenced(&self, fence: &Fence) -> TokenResult<Option<String>> {
        Ok(fence.caught_by(&newest_revocations(&self.db, [fence]).await?))
    }

    async fn delete_expired(&self, before: i64, limit: u64) -> TokenResult<u64> {
        let hashes: Vec<String> = token::Entity::find()
            .select_only()
            .column(token::Column::Hash)
            .filter(token::Column::ExpiresAt.lt(before))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if hashes.is_empty() {
            return Ok(0);
        }
        let deleted = token::Entity::delete_many().filter(token::Column::Hash.is_in(hashes)).exec(&self.db).await?;
        Ok(deleted.rows_affected)
    }
}

#[async_trait::async_trait]
impl PersonalTokenStore for SqlTokenStore {
    async fn insert_personal(&self, meta: &PersonalRecord, token: &TokenRecord) -> TokenResult<()> {
        let txn = self.db.begin().await?;
        token::Entity::insert(row(token)).exec_without_returning(&txn).await?;
        let entry = personal::ActiveModel {
            id: Set(meta.id.clone()),
            user_id: Set(meta.user_id.clone()),
            name: Set(meta.name.clone()),
            hash: Set(meta.hash.clone()),
            scopes: Set(serde_json::to_string(&meta.scopes).unwrap_or_else(|_| "[]".to_owned())),
            created_at: Set(meta.created_at),
            expires_at: Set(meta.expires_at),
            last_used_at: Set(None),
            last_used_address: Set(None),
            revoked_at: Set(None),
        };
        personal::Entity::insert(entry).exec_without_returning(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn personal_tokens(&self, user_id: &str) -> TokenResult<Vec<PersonalRecord>> {
        use sea_orm::QueryOrder;
        let models = personal::Entity::find()
            .filter(personal::Column::UserId.eq(user_id))
            .filter(personal::Column::RevokedAt.is_null())
            .order_by_desc(personal::Column::CreatedAt)
            .order_by_desc(personal::Column::Id)
            .all(&self.db)
            .await?;
        Ok(models.into_iter().map(personal_record).collect())
    }

    async fn regenerate_personal(&self, id: &str, token: &TokenRecord, now: i64) -> TokenResult<Vec<Revoked>> {
        let txn = self.db.begin().await?;
        let Some(meta) = personal::Entity::find_by_id(id.to_owned()).one(&txn).await? else {
            return Ok(Vec::new());
        };
        let old = revoke_matching(&txn, Condition::all().add(token::Column::Hash.eq(meta.hash.clone())), now).await?;
        token::Entity::insert(row(token)).exec_without_returning(&txn).await?;
        personal::Entity::update_many()
            .col_expr(personal::Column::Hash, Expr::value(token.hash.clone()))
            .col_expr(personal::Column::ExpiresAt, Expr::value(token.expires_at))
            .filter(personal::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        log_revocations(&txn, &old, now.saturating_mul(1000)).await?;
        txn.commit().await?;
        // Revoked before, or not: the cache must hear of the old token either way.
        Ok(if old.is_empty() {
            vec![Revoked { hash: meta.hash, expires_at: meta.expires_at, newly: false }]
        } else {
            old
        })
    }

    async fn personal_revoked(&self, ids: &[String], now: i64) -> TokenResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        personal::Entity::update_many()
            .col_expr(personal::Column::RevokedAt, Expr::value(now))
            .filter(personal::Column::Id.is_in(ids.iter().cloned()))
            .filter(personal::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn touch_personal(&self, hash: &str, now: i64, address: &str) -> TokenResult<()> {
        let mut update = personal::Entity::update_many().col_expr(personal::Column::LastUsedAt, Expr::value(now));
        if !address.is_empty() {
            update = update.col_expr(personal::Column::LastUsedAddress, Expr::value(address.to_owned()));
        }
        update.filter(personal::Column::Hash.eq(hash)).exec(&self.db).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl RevocationLog for SqlTokenStore {
    async fn revocations_after(&self, after: i64, limit: u64) -> TokenResult<Vec<LoggedRevocation>> {
        let rows = revocation_log::Entity::find()
            .filter(revocation_log::Column::Seq.gt(after))
            .order_by_asc(revocation_log::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| LoggedRevocation { seq: r.seq, hash: r.hash, expires_at: r.expires_at }).collect())
    }

    async fn revocation_log_bounds(&self) -> TokenResult<(i64, i64)> {
        let head = revocation_head::Entity::find_by_id(1).one(&self.db).await?.map_or(0, |h| h.seq);
        let first: Option<Option<i64>> = revocation_log::Entity::find()
            .select_only()
            .column_as(revocation_log::Column::Seq.min(), "first")
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok((first.flatten().unwrap_or(head + 1), head))
    }

    async fn delete_old_revocations(&self, before_ms: i64, limit: u64) -> TokenResult<u64> {
        // The oldest events first, so the log stays a contiguous range.
        let seqs: Vec<i64> = revocation_log::Entity::find()
            .select_only()
            .column(revocation_log::Column::Seq)
            .filter(revocation_log::Column::CreatedAt.lt(before_ms))
            .order_by_asc(revocation_log::Column::Seq)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        let Some(last) = seqs.last() else { return Ok(0) };
        let deleted =
            revocation_log::Entity::delete_many().filter(revocation_log::Column::Seq.lte(*last)).exec(&self.db).await?;
        Ok(deleted.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gatehouse_tests::{Backend, TestDatabase};
    use sea_orm_migration::MigratorTrait;

    use super::*;

    fn record(hash: &str, family: &str) -> TokenRecord {
        TokenRecord {
            hash: hash.to_owned(),
            kind: TokenKind::Access,
            client_id: "client".to_owned(),
            user_id: String::new(),
            username: String::new(),
            scopes: vec!["user".to_owned()],
            family_id: family.to_owned(),
            code_id: None,
            issued_at: 1,
            expires_at: 2,
            revoked: false,
            rotated: false,
            auth_time: None,
            amr: Vec::new(),
            audience: Vec::new(),
            jkt: String::new(),
            parent_family: None,
            actors: Vec::new(),
        }
    }

    /// A fresh migrated database on each backend (the suite starts PostgreSQL;
    /// the fixture refuses to run without it rather than skip it).
    async fn databases() -> Vec<(TestDatabase, DatabaseConnection)> {
        let mut all = Vec::new();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let database = TestDatabase::create(backend).await;
            let db = gatehouse_runtime::database::connect(database.url(), 4).await.expect("connect");
            crate::migration::Migrator::up(&db, None).await.expect("migrate");
            all.push((database, db));
        }
        all
    }

    /// Requests that reach the writer together share one statement; one
    /// that cannot be written (a hash already stored) fails alone, with none
    /// of its rows written, and its neighbours are stored.
    #[tokio::test]
    async fn a_failing_request_in_a_batch_fails_alone_and_writes_nothing() {
        for (_database, db) in databases().await {
            let store = SqlTokenStore::new(db.clone());
            store.insert(&[record("existing", "f0")], &fence("c", "", i64::MAX)).await.expect("first insert");

            let (sender, receiver) = mpsc::channel(16);
            let mut results = Vec::new();
            let batch: [&[TokenRecord]; 3] = [
                &[record("a1", "fa"), record("a2", "fa")],
                &[record("b1", "fb"), record("existing", "fb")],
                &[record("c1", "fc")],
            ];
            for rows in batch {
                let (done, result) = oneshot::channel();
                let pending = PendingInsert { rows: rows.to_vec(), fence: fence("c", "u", 0), done };
                sender.send(pending).await.expect("queue");
                results.push(result);
            }
            drop(sender);
            // All three are queued before the writer runs: one batch.
            write_batches(db.clone(), receiver).await;

            let outcomes: Vec<bool> = answered_ok(results).await;
            assert_eq!(outcomes, [true, false, true]);
            for (hash, stored) in [("a1", true), ("a2", true), ("b1", false), ("c1", true)] {
                assert_eq!(store.find(hash).await.expect("find").is_some(), stored, "{hash}");
            }
            assert_eq!(store.find("existing").await.expect("find").expect("kept").family_id, "f0");
        }
    }

    /// Many concurrent requests through the writer: every one answered, every row stored.
    #[tokio::test]
    async fn concurrent_inserts_are_all_stored() {
        for (_database, db) in databases().await {
            let store = Arc::new(SqlTokenStore::new(db));
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        store
                            .insert(
                                &[
                                    record(&format!("t{i}a"), &format!("f{i}")),
                                    record(&format!("t{i}r"), &format!("f{i}")),
                                ],
                                &fence("c", "u", 0),
                            )
                            .await
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("join").expect("insert");
            }
            for i in 0..200 {
                assert!(store.find(&format!("t{i}r")).await.expect("find").is_some());
            }
        }
    }

    fn refresh(hash: &str, family: &str) -> TokenRecord {
        TokenRecord { kind: TokenKind::Refresh, expires_at: 100, ..record(hash, family) }
    }

    /// A grant as a code exchange leaves it: an access token and a refresh token.
    async fn grant(store: &SqlTokenStore, n: usize) {
        let family = format!("f{n}");
        let rows = [
            TokenRecord { expires_at: 100, ..record(&format!("a{n}.0"), &family) },
            refresh(&format!("r{n}.0"), &family),
        ];
        store.insert(&rows, &fence("c", "", i64::MAX)).await.expect("grant");
    }

    /// RFC 9700's strict reuse detection: no retry window, nothing in doubt.
    fn strict() -> RetryRule {
        RetryRule { since: i64::MAX, in_doubt: None }
    }

    /// A rotation whose commit landed although its caller heard an error (a
    /// failover cut the commit's answer off): the same attempt tried again
    /// finds its own successor and answers `Rotated` without a second write;
    /// a new attempt (another successor) is a reuse, unless the rotation was
    /// recorded in doubt with exactly that successor, when it is a retry
    /// that replaces the unused successor, once.
    #[tokio::test]
    async fn a_rotation_in_doubt_is_recognised_and_retried_once() {
        for (_database, db) in databases().await {
            let store = SqlTokenStore::new(db);
            grant(&store, 1).await;
            let first = store.rotate("r1.0", &successors(1, 1), 10, &strict(), nothing_to_check()).await;
            assert!(matches!(first.expect("rotate"), Rotation::Rotated { .. }));
            let again = store.rotate_once("r1.0", &successors(1, 1), 11, &strict(), &nothing_to_check()).await;
            assert!(matches!(again.expect("rotate"), Rotation::Rotated { .. }), "its own rotation");
            let other = store.rotate("r1.0", &successors(1, 2), 12, &strict(), nothing_to_check()).await;
            assert_eq!(other.expect("rotate"), Rotation::Reused);
            let wrong = RetryRule { since: i64::MAX, in_doubt: Some("r1.9".to_owned()) };
            let other = store.rotate("r1.0", &successors(1, 2), 12, &wrong, nothing_to_check()).await;
            assert_eq!(other.expect("rotate"), Rotation::Reused, "in doubt about another successor");
            let in_doubt = RetryRule { since: i64::MAX, in_doubt: Some("r1.1".to_owned()) };
            let retried = store.rotate("r1.0", &successors(1, 2), 12, &in_doubt, nothing_to_check()).await;
            assert!(matches!(retried.expect("rotate"), Rotation::Retried { .. }));
            assert!(store.find("r1.1").await.expect("find").expect("kept").revoked, "the unseen successor ends");
            assert!(!store.find("r1.2").await.expect("find").expect("stored").revoked);
            let twice = store.rotate("r1.0", &successors(1, 3), 13, &in_doubt, nothing_to_check()).await;
            assert_eq!(twice.expect("rotate"), Rotation::Reused, "the record names a successor already replaced");
        }
    }

    /// The successors of generation `g` of grant `n`.
    fn successors(n: usize, g: usize) -> Vec<TokenRecord> {
        let family = format!("f{n}");
        vec![
            TokenRecord { expires_at: 100, ..record(&format!("a{n}.{g}"), &family) },
            refresh(&format!("r{n}.{g}"), &family),
        ]
    }

    fn nothing_to_check() -> BeforeCommit {
        std::sync::Arc::new(|_| Box::pin(async { Ok(()) }))
    }

    /// Rotations of many grants at once (batched together by the writer):
    /// each is rotated, ends its own grant's access token and nothing else,
    /// and its successors are stored.
    #[tokio::test]
    async fn concurrent_rotations_of_different_grants_each_end_their_own_tokens() {
        for (_database, db) in databases().await {
            let store = Arc::new(SqlTokenStore::new(db));
            for n in 0..50 {
                grant(&store, n).await;
            }
            let tasks: Vec<_> = (0..50)
                .map(|n| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        store.rotate(&format!("r{n}.0"), &successors(n, 1), 10, &strict(), nothing_to_check()).await
                    })
                })
                .collect();
            for (n, task) in tasks.into_iter().enumerate() {
                let Rotation::Rotated { ended } = task.await.expect("join").expect("rotate") else {
                    panic!("grant {n} not rotated");
                };
                let hashes: Vec<&str> = ended.iter().map(|r| r.hash.as_str()).collect();
                assert_eq!(hashes, [format!("a{n}.0")], "grant {n} ends its own access token only");
                let old = store.find(&format!("r{n}.0")).await.expect("find").expect("kept");
                assert!(old.rotated && !old.revoked);
                assert!(store.find(&format!("a{n}.0")).await.expect("find").expect("kept").revoked);
                assert!(!store.find(&format!("a{n}.1")).await.expect("find").expect("stored").revoked);
            }
            let (_, head) = store.revocation_log_bounds().await.expect("log");
            assert_eq!(head, 50, "every ended access token is in the revocation log");
        }
    }

    /// The same refresh token presented twice at once, many times over:
    /// exactly one rotation wins, the other is a reuse (no retry window),
    /// whether or not the writer saw both in one batch.
    #[tokio::test]
    async fn of_two_rotations_of_one_refresh_token_exactly_one_wins() {
        for (_database, db) in databases().await {
            let store = Arc::new(SqlTokenStore::new(db));
            for n in 0..20 {
                grant(&store, n).await;
            }
            let tasks: Vec<_> = (0..40)
                .map(|i| {
                    let (store, n) = (store.clone(), i % 20);
                    tokio::spawn(async move {
                        store
                            .rotate(&format!("r{n}.0"), &successors(n, 1 + i / 20), 10, &strict(), nothing_to_check())
                            .await
                    })
                })
                .collect();
            let mut won = [0; 20];
            for (i, task) in tasks.into_iter().enumerate() {
                match task.await.expect("join").expect("rotate") {
                    Rotation::Rotated { .. } => won[i % 20] += 1,
                    Rotation::Reused => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(won, [1; 20]);
        }
    }

    /// A rotation whose check fails before the commit (its tombstones could
    /// not be written, its caller's deadline is too close) is not committed;
    /// the others in its batch are, and it can be rotated later.
    #[tokio::test]
    async fn a_failing_check_takes_only_its_own_rotation_out_of_a_batch() {
        for (_database, db) in databases().await {
            let store = SqlTokenStore::new(db.clone());
            for n in 0..3 {
                grant(&store, n).await;
            }
            let (sender, receiver) = mpsc::channel(16);
            let mut answers = Vec::new();
            for n in 0..3 {
                let before_commit: BeforeCommit = if n == 1 {
                    std::sync::Arc::new(|_| Box::pin(async { Err(TokenError::DeadlineExceeded) }))
                } else {
                    nothing_to_check()
                };
                let (done, answer) = oneshot::channel();
                let pending = rotations::PendingRotation {
                    refresh_hash: format!("r{n}.0"),
                    successors: successors(n, 1),
                    now: 10,
                    before_commit,
                    done,
                };
                sender.send(pending).await.expect("queue");
                answers.push(answer);
            }
            drop(sender);
            rotations::rotate_batches(db.clone(), receiver).await;
            let mut outcomes = Vec::new();
            for answer in answers {
                outcomes.push(answer.await.expect("answered").map(|ended| ended.is_some()).map_err(|e| e.to_string()));
            }
            assert!(matches!(outcomes[0], Ok(true)) && matches!(outcomes[2], Ok(true)), "{outcomes:?}");
            assert!(outcomes[1].is_err(), "{outcomes:?}");
            assert!(store.find("a1.1").await.expect("find").is_none(), "nothing of it stored");
            assert!(!store.find("r1.0").await.expect("find").expect("kept").rotated);
            let later = store.rotate("r1.0", &successors(1, 1), 11, &strict(), nothing_to_check()).await;
            assert!(matches!(later.expect("rotate"), Rotation::Rotated { .. }));
        }
    }

    /// Shared watermark reads are never stale: reads that start after a
    /// subject revocation returned all see it, however many run at once.
    #[tokio::test]
    async fn every_watermark_read_sees_the_revocations_recorded_before_it_began() {
        for (_database, db) in databases().await {
            let store = Arc::new(SqlTokenStore::new(db));
            let mut previous = store.revocation_watermark().await.expect("watermark");
            assert_eq!(previous, 0);
            for round in 0..5 {
                let client_id = format!("c{round}");
                store
                    .revoke(RevokeScope::UserClient { user_id: "u", client_id: &client_id }, 1, 1000)
                    .await
                    .expect("revoke");
                let reads: Vec<_> = (0..40)
                    .map(|_| {
                        let store = store.clone();
                        tokio::spawn(async move { store.revocation_watermark().await })
                    })
                    .collect();
                let mut seen = Vec::new();
                for read in reads {
                    seen.push(read.await.expect("join").expect("watermark"));
                }
                assert!(
                    seen.iter().all(|w| *w == seen[0] && *w > previous),
                    "round {round}: {seen:?} after {previous}"
                );
                previous = seen[0];
            }
        }
    }

    fn fence(client_id: &str, user_id: &str, watermark: i64) -> Fence {
        Fence { watermark, client_id: client_id.to_owned(), user_id: user_id.to_owned() }
    }

    /// Requests written in one batch each learn whether a revocation caught
    /// their tokens: an application or a user deleted at any time, a grant
    /// revoked after the request's watermark, nothing else.
    #[tokio::test]
    async fn each_request_in_a_batch_learns_what_caught_it() {
        for (_database, db) in databases().await {
            let store = SqlTokenStore::new(db.clone());
            store.revoke(RevokeScope::Client("gone"), 1, 1000).await.expect("delete app");
            store.revoke(RevokeScope::User("left"), 1, 1000).await.expect("delete user");
            store
                .revoke(RevokeScope::UserClient { user_id: "u", client_id: "c" }, 1, 1000)
                .await
                .expect("revoke grant");
            let grant = store.revocation_watermark().await.expect("watermark");

            let (sender, receiver) = mpsc::channel(16);
            let mut results = Vec::new();
            let cases = [
                (fence("gone", "", i64::MAX), Some("client:gone")),
                (fence("c", "left", 0), Some("user:left")),
                (fence("c", "u", grant - 1), Some("grant:u:c")),
                (fence("c", "u", grant), None),
                (fence("other", "u", 0), None),
            ];
            for (n, (fence, _)) in cases.iter().enumerate() {
                let (done, result) = oneshot::channel();
                let rows = vec![record(&format!("h{n}"), &format!("f{n}"))];
                sender.send(PendingInsert { rows, fence: fence.clone(), done }).await.expect("queue");
                results.push(result);
            }
            drop(sender);
            write_batches(db.clone(), receiver).await;
            for ((_, expected), result) in cases.iter().zip(results) {
                let caught = result.await.expect("answered").expect("stored");
                assert_eq!(caught.as_deref(), *expected);
            }
            assert_eq!(store.fenced(&fence("c", "u", grant - 1)).await.expect("fenced").as_deref(), Some("grant:u:c"));
        }
    }

    async fn answered_ok(results: Vec<oneshot::Receiver<Result<Option<String>, DbErr>>>) -> Vec<bool> {
        let mut outcomes = Vec::new();
        for result in results {
            outcomes.push(result.await.expect("answered").is_ok());
        }
        outcomes
    }
}
