//! Group commit for refresh-token rotations. A rotation is a transaction of
//! several statements (mark the refresh token rotated, end the grant's
//! access tokens, store the successors, log what ended), and under
//! concurrency one transaction per request made the database's commits
//! (SQLite's single connection above all) the bottleneck. The writer takes
//! the rotations that arrived while it committed the previous batch and
//! does them together: the same statements once for the whole batch, each
//! rotation's `before_commit` (its tombstones, its deadline) run at once,
//! one log entry set, one commit.
//!
//! What stays per request: a rotation that the batch's conditional update
//! did not take (its refresh token was rotated or revoked before: a retry,
//! a reuse, an inactive token) goes the one-by-one way
//! ([`super::SqlTokenStore::rotate_once`]), which decides between those;
//! so does a second rotation of the same refresh token or grant in one
//! batch (only one of them can win, and that path decides which answer the
//! other gets). A `before_commit` that fails takes its own rotation out:
//! the batch is rolled back and done again without it.

use std::collections::{HashMap, HashSet};

use gatehouse_oauth::token::TokenKind;
use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::entity::token;
use super::{kind_text, log_revocations, on_conflict_retry, row};
use crate::error::TokenError;
use crate::store::{BeforeCommit, Revoked, TokenRecord};

/// Rotations one batch holds at most: each binds a few values in every
/// statement, far below SQLite's and PostgreSQL's bind limits.
pub(super) const MAX_ROTATIONS: usize = 64;

/// One request's rotation, waiting for the writer.
pub(super) struct PendingRotation {
    pub(super) refresh_hash: String,
    /// The access token and the new refresh token, in that order.
    pub(super) successors: Vec<TokenRecord>,
    pub(super) now: i64,
    pub(super) before_commit: BeforeCommit,
    /// What the rotation ended, once committed; `None` when the batch did
    /// not take it (the one-by-one way decides).
    pub(super) done: oneshot::Sender<Result<Option<Vec<Revoked>>, TokenError>>,
}

impl PendingRotation {
    fn family(&self) -> Option<&str> {
        self.successors.first().map(|t| t.family_id.as_str())
    }

    fn successor(&self) -> Option<&str> {
        self.successors.iter().find(|t| t.kind == TokenKind::Refresh).map(|t| t.hash.as_str())
    }
}

/// How one attempt at a batch ended.
enum Attempt {
    /// Committed: for each rotation, what it ended (`None`: not taken).
    Committed(Vec<Option<Vec<Revoked>>>),
    /// Rolled back because these rotations' `before_commit` failed.
    Refused(Vec<(usize, TokenError)>),
}

pub(super) async fn rotate_batches(db: DatabaseConnection, mut receiver: mpsc::Receiver<PendingRotation>) {
    let mut batch = Vec::with_capacity(MAX_ROTATIONS);
    while receiver.recv_many(&mut batch, MAX_ROTATIONS).await > 0 {
        // A caller that gave up is not rotated: its refresh token stays
        // usable for its retry.
        batch.retain(|pending| !pending.done.is_closed());
        // One rotation per refresh token and per grant in a batch.
        let mut seen = HashSet::new();
        let (mut taken, others): (Vec<_>, Vec<_>) = batch.drain(..).partition(|pending| {
            let family = pending.family().unwrap_or_default().to_owned();
            seen.insert(pending.refresh_hash.clone()) & seen.insert(family) && pending.successor().is_some()
        });
        for pending in others {
            let _ = pending.done.send(Ok(None));
        }
        while !taken.is_empty() {
            match on_conflict_retry(|| attempt(&db, &taken)).await {
                Ok(Attempt::Committed(outcomes)) => {
                    for (pending, outcome) in taken.drain(..).zip(outcomes) {
                        let _ = pending.done.send(Ok(outcome));
                    }
                }
                Ok(Attempt::Refused(mut refused)) => {
                    // Highest index first, so that the others keep theirs.
                    refused.sort_by_key(|(index, _)| std::cmp::Reverse(*index));
                    for (index, error) in refused {
                        let pending = taken.remove(index);
                        let _ = pending.done.send(Err(error));
                    }
                }
                Err(error) => {
                    // Each goes the one-by-one way, which meets (and reports)
                    // the failure itself, or succeeds alone.
                    tracing::debug!(%error, rotations = taken.len(), "batched rotation failed; rotating one by one");
                    for pending in taken.drain(..) {
                        let _ = pending.done.send(Ok(None));
                    }
                }
            }
        }
    }
}

/// `CASE hash WHEN ... THEN ... END` over the batch's refresh tokens.
fn per_rotation(rotations: &[&PendingRotation], value: impl Fn(&PendingRotation) -> sea_orm::Value) -> Expr {
    let mut case = CaseStatement::new();
    for pending in rotations {
        case = case.case(token::Column::Hash.eq(pending.refresh_hash.as_str()), Expr::val(value(pending)));
    }
    Expr::Case(Box::new(case))
}

/// One attempt at the whole batch, in one transaction.
async fn attempt(db: &DatabaseConnection, rotations: &[PendingRotation]) -> Result<Attempt, DbErr> {
    let all: Vec<&PendingRotation> = rotations.iter().collect();
    let txn = db.begin().await?;
    // The conditional update is the lock: of concurrent rotations of one
    // refresh token, only one transaction sees it unrotated and unrevoked.
    let rotated = token::Entity::update_many()
        .col_expr(token::Column::RotatedAt, per_rotation(&all, |p| p.now.into()))
        .col_expr(token::Column::RotatedTo, per_rotation(&all, |p| p.successor().map(str::to_owned).into()))
        .filter(token::Column::Hash.is_in(all.iter().map(|p| p.refresh_hash.as_str())))
        .filter(token::Column::RotatedAt.is_null())
        .filter(token::Column::RevokedAt.is_null())
        .exec_with_returning(&txn)
        .await?;
    let rotated: HashSet<&str> = rotated.iter().map(|m| m.hash.as_str()).collect();
    let taken: Vec<usize> =
        (0..rotations.len()).filter(|i| rotated.contains(rotations[*i].refresh_hash.as_str())).collect();
    if taken.is_empty() {
        txn.rollback().await?;
        return Ok(Attempt::Committed(vec![None; rotations.len()]));
    }
    // The previous generation of each grant ends with its rotation: its
    // access tokens still live, before the successors exist.
    let now = taken.iter().map(|i| rotations[*i].now).max().unwrap_or_default();
    let families: Vec<&str> = taken.iter().filter_map(|i| rotations[*i].family()).collect();
    let previous = token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(now))
        .filter(token::Column::FamilyId.is_in(families))
        .filter(token::Column::Kind.eq(kind_text(TokenKind::Access)))
        .filter(token::Column::RevokedAt.is_null())
        .exec_with_returning(&txn)
        .await?;
    let mut ended_by_family: HashMap<String, Vec<Revoked>> = HashMap::new();
    for model in previous {
        let revoked = Revoked { hash: model.hash, expires_at: model.expires_at, newly: true };
        ended_by_family.entry(model.family_id).or_default().push(revoked);
    }
    token::Entity::insert_many(taken.iter().flat_map(|i| rotations[*i].successors.iter().map(row)))
        .exec_without_returning(&txn)
        .await?;
    let mut outcomes: Vec<Option<Vec<Revoked>>> = vec![None; rotations.len()];
    for i in &taken {
        let family = rotations[*i].family().unwrap_or_default();
        outcomes[*i] = Some(ended_by_family.remove(family).unwrap_or_default());
    }
    // Every rotation's own check, at once (each one's tombstones are a
    // cache round trip: together they overlap).
    let checks = taken.iter().map(|i| {
        let ended = outcomes[*i].clone().unwrap_or_default();
        let check = (rotations[*i].before_commit)(ended);
        async move { (*i, check.await) }
    });
    let refused: Vec<(usize, TokenError)> = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter_map(|(i, result)| result.err().map(|error| (i, error)))
        .collect();
    if !refused.is_empty() {
        txn.rollback().await?;
        return Ok(Attempt::Refused(refused));
    }
    let ended: Vec<Revoked> = outcomes.iter().flatten().flatten().cloned().collect();
    log_revocations(&txn, &ended, now.saturating_mul(1000)).await?;
    txn.commit().await?;
    Ok(Attempt::Committed(outcomes))
}
