//! Tokens in SQL: one implementation for SQLite and PostgreSQL.

mod entity;

use gatehouse_oauth::token::TokenKind;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};

use self::entity::token;
use crate::error::TokenResult;
use crate::store::{RevokeScope, Revoked, TokenRecord, TokenStore};

#[derive(Debug, Clone)]
pub(crate) struct SqlTokenStore {
    db: DatabaseConnection,
}

impl SqlTokenStore {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn kind_text(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
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
    }
}

fn record(model: token::Model) -> TokenRecord {
    TokenRecord {
        kind: if model.kind == "refresh" { TokenKind::Refresh } else { TokenKind::Access },
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
    }
}

fn scope_condition(scope: RevokeScope<'_>) -> Condition {
    match scope {
        RevokeScope::Token(hash) => Condition::all().add(token::Column::Hash.eq(hash)),
        RevokeScope::Family(family) => Condition::all().add(token::Column::FamilyId.eq(family)),
        RevokeScope::Code(code) => Condition::all().add(token::Column::CodeId.eq(code)),
        RevokeScope::UserClient { user_id, client_id } => {
            Condition::all().add(token::Column::UserId.eq(user_id)).add(token::Column::ClientId.eq(client_id))
        }
    }
}

#[async_trait::async_trait]
impl TokenStore for SqlTokenStore {
    async fn insert(&self, tokens: &[TokenRecord]) -> TokenResult<()> {
        token::Entity::insert_many(tokens.iter().map(row)).exec_without_returning(&self.db).await?;
        Ok(())
    }

    async fn find(&self, hash: &str) -> TokenResult<Option<TokenRecord>> {
        Ok(token::Entity::find_by_id(hash.to_owned()).one(&self.db).await?.map(record))
    }

    async fn rotate(&self, refresh_hash: &str, successors: &[TokenRecord]) -> TokenResult<bool> {
        let now = successors.first().map_or(0, |t| t.issued_at);
        let txn = self.db.begin().await?;
        // The conditional update is the lock: only one transaction sees the
        // row still unrotated and unrevoked.
        let updated = token::Entity::update_many()
            .col_expr(token::Column::RotatedAt, Expr::value(now))
            .filter(token::Column::Hash.eq(refresh_hash))
            .filter(token::Column::RotatedAt.is_null())
            .filter(token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        token::Entity::insert_many(successors.iter().map(row)).exec_without_returning(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn revoke(&self, scope: RevokeScope<'_>, now: i64) -> TokenResult<Vec<Revoked>> {
        let txn = self.db.begin().await?;
        let all: Vec<(String, i64, Option<i64>)> = token::Entity::find()
            .select_only()
            .column(token::Column::Hash)
            .column(token::Column::ExpiresAt)
            .column(token::Column::RevokedAt)
            .filter(scope_condition(scope))
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await?;
        if all.iter().any(|(_, _, revoked)| revoked.is_none()) {
            token::Entity::update_many()
                .col_expr(token::Column::RevokedAt, Expr::value(now))
                .filter(scope_condition(scope))
                .filter(token::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(all
            .into_iter()
            .map(|(hash, expires_at, revoked_at)| Revoked { hash, expires_at, newly: revoked_at.is_none() })
            .collect())
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
