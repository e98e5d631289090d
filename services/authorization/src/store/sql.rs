//! Grants in SQL: one implementation for SQLite and PostgreSQL.

mod entity;

use gatehouse_oauth::{Scope, ScopeSet};
use gatehouse_runtime::database::unique;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use self::entity::{grant, session};
use crate::error::AuthzResult;
use crate::store::{Grant, GrantStore, GrantSubject, SessionRow, SessionStore};

#[derive(Debug, Clone)]
pub(crate) struct SqlGrantStore {
    db: DatabaseConnection,
}

impl SqlGrantStore {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn scopes_from_json(text: &str) -> ScopeSet {
    let names: Vec<String> = serde_json::from_str(text).unwrap_or_default();
    ScopeSet::from_scopes(names.iter().filter_map(|s| Scope::parse(s)))
}

fn from_row(row: grant::Model) -> Grant {
    Grant {
        scopes: scopes_from_json(&row.scopes),
        user_id: row.user_id,
        client_id: row.client_id,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}

fn by_key(user_id: &str, client_id: &str) -> sea_orm::Select<grant::Entity> {
    grant::Entity::find().filter(grant::Column::UserId.eq(user_id)).filter(grant::Column::ClientId.eq(client_id))
}

#[async_trait::async_trait]
impl GrantStore for SqlGrantStore {
    async fn grant(&self, user_id: &str, client_id: &str) -> AuthzResult<Option<Grant>> {
        Ok(unique(by_key(user_id, client_id), &self.db).await?.map(from_row))
    }

    async fn add_scopes(&self, user_id: &str, client_id: &str, scopes: &ScopeSet, now: i64) -> AuthzResult<ScopeSet> {
        let txn = self.db.begin().await?;
        let existing = unique(by_key(user_id, client_id).lock_exclusive(), &txn).await?;
        let union = existing.as_ref().map_or_else(|| scopes.clone(), |row| scopes_from_json(&row.scopes).union(scopes));
        let row = grant::ActiveModel {
            user_id: Set(user_id.to_owned()),
            client_id: Set(client_id.to_owned()),
            scopes: Set(serde_json::to_string(&union.to_strings()).unwrap_or_else(|_| "[]".to_owned())),
            created_at: Set(existing.as_ref().map_or(now, |row| row.created_at)),
            updated_at: Set(now),
            last_used_at: Set(existing.and_then(|row| row.last_used_at)),
        };
        grant::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([grant::Column::UserId, grant::Column::ClientId])
                    .update_columns([grant::Column::Scopes, grant::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(union)
    }

    async fn touch(&self, user_id: &str, client_id: &str, now: i64) -> AuthzResult<()> {
        grant::Entity::update_many()
            .col_expr(grant::Column::LastUsedAt, Expr::value(now))
            .filter(grant::Column::UserId.eq(user_id))
            .filter(grant::Column::ClientId.eq(client_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn list(&self, user_id: &str) -> AuthzResult<Vec<Grant>> {
        let rows = grant::Entity::find()
            .filter(grant::Column::UserId.eq(user_id))
            .order_by_desc(grant::Column::UpdatedAt)
            .order_by_asc(grant::Column::ClientId)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    async fn delete_all(&self, subject: GrantSubject<'_>) -> AuthzResult<u64> {
        let condition = match subject {
            GrantSubject::Client(client_id) => grant::Column::ClientId.eq(client_id),
            GrantSubject::User(user_id) => grant::Column::UserId.eq(user_id),
        };
        Ok(grant::Entity::delete_many().filter(condition).exec(&self.db).await?.rows_affected)
    }

    async fn delete(&self, user_id: &str, client_id: &str) -> AuthzResult<bool> {
        let result = grant::Entity::delete_many()
            .filter(grant::Column::UserId.eq(user_id))
            .filter(grant::Column::ClientId.eq(client_id))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }
}

/// The sessions' index in SQL.
#[derive(Debug, Clone)]
pub(crate) struct SqlSessionStore {
    db: DatabaseConnection,
}

impl SqlSessionStore {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn session_from_row(row: session::Model) -> SessionRow {
    SessionRow {
        amr: row.amr.split(' ').filter(|m| !m.is_empty()).map(str::to_owned).collect(),
        id: row.id,
        user_id: row.user_id,
        token_hash: row.token_hash,
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        expires_at: row.expires_at,
        address: row.address,
        user_agent: row.user_agent,
    }
}

#[async_trait::async_trait]
impl SessionStore for SqlSessionStore {
    async fn insert(&self, row: &SessionRow, now: i64) -> AuthzResult<()> {
        let txn = self.db.begin().await?;
        session::Entity::delete_many()
            .filter(session::Column::UserId.eq(row.user_id.as_str()))
            .filter(session::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?;
        let model = session::ActiveModel {
            id: Set(row.id.clone()),
            user_id: Set(row.user_id.clone()),
            token_hash: Set(row.token_hash.clone()),
            created_at: Set(row.created_at),
            last_seen_at: Set(row.last_seen_at),
            expires_at: Set(row.expires_at),
            address: Set(row.address.clone()),
            user_agent: Set(row.user_agent.clone()),
            amr: Set(row.amr.join(" ")),
        };
        session::Entity::insert(model).exec_without_returning(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn list(&self, user_id: &str, now: i64) -> AuthzResult<Vec<SessionRow>> {
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::ExpiresAt.gt(now))
            .order_by_desc(session::Column::LastSeenAt)
            .limit(200)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(session_from_row).collect())
    }

    async fn touch(&self, id: &str, now: i64) -> AuthzResult<()> {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn remove(&self, user_id: &str, id: &str) -> AuthzResult<Option<String>> {
        let txn = self.db.begin().await?;
        let found =
            session::Entity::find_by_id(id.to_owned()).filter(session::Column::UserId.eq(user_id)).one(&txn).await?;
        if let Some(row) = &found {
            session::Entity::delete_by_id(row.id.clone()).exec(&txn).await?;
        }
        txn.commit().await?;
        Ok(found.map(|row| row.token_hash))
    }

    async fn remove_others(&self, user_id: &str, keep: &str) -> AuthzResult<Vec<String>> {
        let txn = self.db.begin().await?;
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::Id.ne(keep))
            .all(&txn)
            .await?;
        session::Entity::delete_many()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::Id.ne(keep))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows.into_iter().map(|row| row.token_hash).collect())
    }

    async fn remove_by_hash(&self, token_hash: &str) -> AuthzResult<()> {
        session::Entity::delete_many().filter(session::Column::TokenHash.eq(token_hash)).exec(&self.db).await?;
        Ok(())
    }
}
