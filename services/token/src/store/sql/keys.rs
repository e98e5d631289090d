//! The signing keys' SQL: one algorithm's keys are changed only together
//! with its version, compared and set in the same transaction.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait};

use super::entity::{signing_key, signing_version};
use crate::error::{TokenError, TokenResult};
use crate::keys::{AlgKeys, KeyChange, KeyStore, SigningAlg, StoredKey};

#[derive(Debug, Clone)]
pub(crate) struct SqlKeyStore {
    db: DatabaseConnection,
}

fn stored(model: signing_key::Model) -> TokenResult<StoredKey> {
    let alg = SigningAlg::parse(&model.alg)
        .ok_or_else(|| TokenError::Internal(format!("signing key {} has unknown alg {:?}", model.kid, model.alg)))?;
    Ok(StoredKey {
        kid: model.kid,
        alg,
        public_jwk: model.public_jwk,
        sealed_private_key: model.sealed_private_key,
        created_at: model.created_at,
        activated_at: model.activated_at,
        deactivated_at: model.deactivated_at,
        retired_at: model.retired_at,
    })
}

impl SqlKeyStore {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl KeyStore for SqlKeyStore {
    async fn load(&self, alg: SigningAlg) -> TokenResult<AlgKeys> {
        let version =
            signing_version::Entity::find_by_id(alg.as_str().to_owned()).one(&self.db).await?.map_or(0, |v| v.version);
        let keys = signing_key::Entity::find()
            .filter(signing_key::Column::Alg.eq(alg.as_str()))
            .order_by_asc(signing_key::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(stored)
            .collect::<TokenResult<Vec<_>>>()?;
        Ok(AlgKeys { version, keys })
    }

    async fn apply(&self, alg: SigningAlg, change: &KeyChange) -> TokenResult<bool> {
        let txn = self.db.begin().await?;
        // The version row exists from the first change on; creating it is
        // itself idempotent, and the compare-and-set below decides.
        signing_version::Entity::insert(signing_version::ActiveModel {
            alg: Set(alg.as_str().to_owned()),
            version: Set(0),
        })
        .on_conflict(OnConflict::column(signing_version::Column::Alg).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
        let bumped = signing_version::Entity::update_many()
            .col_expr(signing_version::Column::Version, Expr::value(change.expected_version + 1))
            .filter(signing_version::Column::Alg.eq(alg.as_str()))
            .filter(signing_version::Column::Version.eq(change.expected_version))
            .exec(&txn)
            .await?;
        if bumped.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        if !change.insert.is_empty() {
            let rows = change.insert.iter().map(|key| signing_key::ActiveModel {
                kid: Set(key.kid.clone()),
                alg: Set(key.alg.as_str().to_owned()),
                public_jwk: Set(key.public_jwk.clone()),
                sealed_private_key: Set(key.sealed_private_key.clone()),
                created_at: Set(key.created_at),
                activated_at: Set(key.activated_at),
                deactivated_at: Set(key.deactivated_at),
                retired_at: Set(key.retired_at),
            });
            signing_key::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        }
        if let Some(kid) = &change.deactivate {
            signing_key::Entity::update_many()
                .col_expr(signing_key::Column::DeactivatedAt, Expr::value(change.now))
                .filter(signing_key::Column::Kid.eq(kid.as_str()))
                .exec(&txn)
                .await?;
        }
        if let Some(kid) = &change.activate {
            signing_key::Entity::update_many()
                .col_expr(signing_key::Column::ActivatedAt, Expr::value(change.now))
                .filter(signing_key::Column::Kid.eq(kid.as_str()))
                .exec(&txn)
                .await?;
        }
        if !change.retire.is_empty() {
            // Retired: unpublished, and the private half erased.
            signing_key::Entity::update_many()
                .col_expr(signing_key::Column::RetiredAt, Expr::value(change.now))
                .col_expr(signing_key::Column::SealedPrivateKey, Expr::value(""))
                .filter(signing_key::Column::Kid.is_in(change.retire.iter().map(String::as_str)))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(true)
    }
}
