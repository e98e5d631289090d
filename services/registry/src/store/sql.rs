//! The registry store on sea-orm: one implementation for SQLite and PostgreSQL.

mod entity;

use gatehouse_oauth::{
    ClientAuthMethod, ClientId, ClientType, GrantType, RedirectUri, Registration, ResourceId, Scope, ScopeSet,
    SecretHash, TokenFormat,
};
use gatehouse_runtime::database::unique;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr, TransactionTrait,
};

use self::entity::{
    account_token, application, client_secret, credential, initial_access_token, invitation, passkey, recovery_code,
    resource_server, totp, user,
};
use crate::error::{RegistryError, RegistryResult};
use crate::model::{
    Application, ApplicationType, ClientExtras, ClientKeys, ClientSecretInfo, CredentialInfo, InitialAccessTokenInfo,
    ResourceServer, User,
};
use crate::store::{
    AccountToken, AccountTokenStore, ApplicationStore, CredentialStore, PasskeyRow, RegistrationStore,
    RegistrationToken, ResourceServerStore, SecondFactorStore, TotpRow, UserStore,
};

/// Registry tables in a SQL database.
#[derive(Debug, Clone)]
pub(crate) struct SqlRegistryStore {
    db: DatabaseConnection,
}

impl SqlRegistryStore {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising Vec<String> cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn corrupt(what: &str, client_id: &str) -> RegistryError {
    RegistryError::Storage(DbErr::Custom(format!("corrupt {what} of application {client_id}")))
}

fn user_from_row(row: user::Model) -> (User, String) {
    let user = User {
        id: row.id,
        username: row.username,
        email: row.email,
        display_name: row.display_name,
        avatar_url: row.avatar_url,
        created_at: row.created_at,
        administrator: row.administrator,
        email_verified: row.email_verified_at.is_some(),
        disabled: row.disabled_at.is_some(),
    };
    (user, row.password_hash)
}

fn secret_from_row(row: client_secret::Model) -> ClientSecretInfo {
    ClientSecretInfo { id: row.id, prefix: row.prefix, created_at: row.created_at, last_used_at: row.last_used_at }
}

fn application_from_rows(row: application::Model, secrets: Vec<client_secret::Model>) -> RegistryResult<Application> {
    let uris: Vec<String> =
        serde_json::from_str(&row.redirect_uris).map_err(|_| corrupt("redirect_uris", &row.client_id))?;
    let grants: Vec<String> =
        serde_json::from_str(&row.grant_types).map_err(|_| corrupt("grant_types", &row.client_id))?;
    let scopes: Vec<String> = serde_json::from_str(&row.scopes).map_err(|_| corrupt("scopes", &row.client_id))?;
    let post_logout: Vec<String> = serde_json::from_str(&row.post_logout_redirect_uris)
        .map_err(|_| corrupt("post_logout_redirect_uris", &row.client_id))?;
    let grant_types = grants
        .iter()
        .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant_types", &row.client_id)))
        .collect::<RegistryResult<Vec<_>>>()?;
    let scopes = scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| corrupt("scopes", &row.client_id)))
        .collect::<RegistryResult<Vec<_>>>()?;
    let client_type = ClientType::parse(&row.client_type).ok_or_else(|| corrupt("client_type", &row.client_id))?;
    let client_id = ClientId::parse(&row.client_id).ok_or_else(|| corrupt("client_id", &row.client_id))?;
    let registration = Registration::parse(&row.registration).ok_or_else(|| corrupt("registration", &row.client_id))?;
    let auth_method = match row.auth_method.as_str() {
        "" => Application::default_auth_method(client_type),
        method => ClientAuthMethod::parse(method).ok_or_else(|| corrupt("auth_method", &row.client_id))?,
    };
    let application_type =
        ApplicationType::parse(&row.application_type).ok_or_else(|| corrupt("application_type", &row.client_id))?;
    let keys = match (row.jwks.is_empty(), row.jwks_uri.is_empty()) {
        (true, true) => ClientKeys::None,
        (false, _) => ClientKeys::Inline(row.jwks),
        (true, false) => ClientKeys::Uri(row.jwks_uri),
    };
    let extras: ClientExtras =
        serde_json::from_str(&row.client_metadata).map_err(|_| corrupt("client_metadata", &row.client_id))?;
    let id_token_alg = gatehouse_oauth::SigningAlg::registered(&row.id_token_alg)
        .ok_or_else(|| corrupt("id_token_alg", &row.client_id))?;
    Ok(Application {
        id_token_alg,
        requirements: gatehouse_oauth::ClientRequirements {
            pushed_authorization_requests: row.require_par,
            dpop_bound_access_tokens: row.require_dpop,
        },
        registration,
        auth_method,
        application_type,
        keys,
        extras,
        last_used_at: row.last_used_at,
        client_id,
        owner_id: row.owner_id,
        name: row.name,
        description: row.description,
        homepage_url: row.homepage_url,
        logo_url: row.logo_url,
        redirect_uris: uris.into_iter().map(RedirectUri::from_stored).collect(),
        client_type,
        grant_types,
        scopes: ScopeSet::from_scopes(scopes),
        secrets: secrets.into_iter().map(secret_from_row).collect(),
        post_logout_redirect_uris: post_logout.into_iter().map(RedirectUri::from_stored).collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn application_row(app: &Application) -> application::ActiveModel {
    application::ActiveModel {
        client_id: Set(app.client_id.as_str().to_owned()),
        owner_id: Set(app.owner_id.clone()),
        name: Set(app.name.clone()),
        description: Set(app.description.clone()),
        homepage_url: Set(app.homepage_url.clone()),
        logo_url: Set(app.logo_url.clone()),
        redirect_uris: Set(to_json(&app.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>())),
        client_type: Set(app.client_type.as_str().to_owned()),
        grant_types: Set(to_json(&app.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>())),
        scopes: Set(to_json(&app.scopes.to_strings())),
        post_logout_redirect_uris: Set(to_json(
            &app.post_logout_redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        )),
        created_at: Set(app.created_at),
        updated_at: Set(app.updated_at),
        registration: Set(app.registration.as_str().to_owned()),
        // Written only by `insert_application_with_token` and `set_registration_token`.
        registration_token_hash: sea_orm::ActiveValue::NotSet,
        registration_token_expires_at: sea_orm::ActiveValue::NotSet,
        last_used_at: Set(app.last_used_at),
        auth_method: Set(app.auth_method.as_str().to_owned()),
        application_type: Set(app.application_type.as_str().to_owned()),
        jwks: Set(app.keys.jwks().to_owned()),
        jwks_uri: Set(app.keys.jwks_uri().to_owned()),
        client_metadata: Set(serde_json::to_string(&app.extras).unwrap_or_else(|_| "{}".to_owned())),
        id_token_alg: Set(app.id_token_alg.as_str().to_owned()),
        require_par: Set(app.requirements.pushed_authorization_requests),
        require_dpop: Set(app.requirements.dpop_bound_access_tokens),
    }
}

fn resource_server_from_row(row: resource_server::Model) -> RegistryResult<ResourceServer> {
    let corrupt =
        |what: &str| RegistryError::Storage(DbErr::Custom(format!("corrupt {what} of resource server {}", row.id)));
    let scopes: Vec<String> = serde_json::from_str(&row.scopes).map_err(|_| corrupt("scopes"))?;
    let scopes =
        scopes.iter().map(|s| Scope::parse(s).ok_or_else(|| corrupt("scopes"))).collect::<RegistryResult<Vec<_>>>()?;
    let clients: Vec<String> =
        serde_json::from_str(&row.allowed_client_ids).map_err(|_| corrupt("allowed_client_ids"))?;
    let clients = clients
        .iter()
        .map(|c| ClientId::parse(c).ok_or_else(|| corrupt("allowed_client_ids")))
        .collect::<RegistryResult<_>>()?;
    let token_format = TokenFormat::parse(&row.token_format).ok_or_else(|| corrupt("token_format"))?;
    let introspector = match row.introspection_client_id.as_str() {
        "" => None,
        id => Some(ClientId::parse(id).ok_or_else(|| corrupt("introspection_client_id"))?),
    };
    Ok(ResourceServer {
        id: row.id,
        owner_id: row.owner_id,
        name: row.name,
        identifier: ResourceId::from_stored(row.identifier),
        scopes: ScopeSet::from_scopes(scopes),
        token_format,
        allowed_client_ids: clients,
        any_client: row.any_client,
        application_tokens: row.application_tokens,
        introspection_client_id: introspector,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn resource_server_row(server: &ResourceServer) -> resource_server::ActiveModel {
    resource_server::ActiveModel {
        id: Set(server.id.clone()),
        owner_id: Set(server.owner_id.clone()),
        name: Set(server.name.clone()),
        identifier: Set(server.identifier.as_str().to_owned()),
        scopes: Set(to_json(&server.scopes.to_strings())),
        token_format: Set(server.token_format.as_str().to_owned()),
        allowed_client_ids: Set(to_json(&server.allowed_client_ids.iter().map(ClientId::as_str).collect::<Vec<_>>())),
        any_client: Set(server.any_client),
        application_tokens: Set(server.application_tokens),
        introspection_client_id: Set(server
            .introspection_client_id
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default()),
        created_at: Set(server.created_at),
        updated_at: Set(server.updated_at),
    }
}

fn secret_row(client_id: &str, secret: &ClientSecretInfo, hash: &SecretHash) -> client_secret::ActiveModel {
    client_secret::ActiveModel {
        id: Set(secret.id.clone()),
        client_id: Set(client_id.to_owned()),
        secret_hash: Set(hash.as_str().to_owned()),
        prefix: Set(secret.prefix.clone()),
        created_at: Set(secret.created_at),
        last_used_at: Set(secret.last_used_at),
    }
}

impl SqlRegistryStore {
    async fn secrets_of(&self, client_ids: &[String]) -> RegistryResult<Vec<client_secret::Model>> {
        Ok(client_secret::Entity::find()
            .filter(client_secret::Column::ClientId.is_in(client_ids.iter().cloned()))
            .order_by_asc(client_secret::Column::Id)
            .all(&self.db)
            .await?)
    }
}

#[async_trait::async_trait]
impl UserStore for SqlRegistryStore {
    async fn insert_user(
        &self,
        user: &User,
        username_key: &str,
        password_hash: &str,
        invitation: Option<(&SecretHash, i64)>,
    ) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        if let Some((hash, now)) = invitation {
            let unusable = || RegistryError::invalid("invitation", "is unknown, used or expired: ask for a new one");
            let row =
                unique(invitation::Entity::find_by_id(hash.as_str().to_owned()), &txn).await?.ok_or_else(unusable)?;
            if row.used_at.is_some() || row.expires_at <= now {
                return Err(unusable());
            }
            if !row.email.is_empty() && !row.email.eq_ignore_ascii_case(user.email.trim()) {
                return Err(RegistryError::invalid("email", "is not the address the invitation is for"));
            }
            // Used once: of two sign-ups with one invitation, one takes it.
            let taken = invitation::Entity::update_many()
                .col_expr(invitation::Column::UsedAt, Expr::value(now))
                .col_expr(invitation::Column::UsedBy, Expr::value(user.id.clone()))
                .filter(invitation::Column::TokenHash.eq(hash.as_str()))
                .filter(invitation::Column::UsedAt.is_null())
                .exec(&txn)
                .await?;
            if taken.rows_affected == 0 {
                return Err(unusable());
            }
        }
        let row = user::ActiveModel {
            id: Set(user.id.clone()),
            username_key: Set(username_key.to_owned()),
            username: Set(user.username.clone()),
            email: Set(user.email.clone()),
            display_name: Set(user.display_name.clone()),
            avatar_url: Set(user.avatar_url.clone()),
            password_hash: Set(password_hash.to_owned()),
            created_at: Set(user.created_at),
            administrator: Set(user.administrator),
            email_verified_at: Set(None),
            disabled_at: Set(None),
        };
        match user::Entity::insert(row).exec_without_returning(&txn).await {
            Ok(_) => {
                txn.commit().await?;
                Ok(())
            }
            Err(error) if is_unique_violation(&error) => {
                Err(RegistryError::AlreadyExists(format!("username {:?} is taken", user.username)))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn insert_invitation(
        &self,
        hash: &SecretHash,
        email: &str,
        created_at: i64,
        expires_at: i64,
    ) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        // Expired invitations go with the next one made.
        invitation::Entity::delete_many().filter(invitation::Column::ExpiresAt.lte(created_at)).exec(&txn).await?;
        let row = invitation::ActiveModel {
            token_hash: Set(hash.as_str().to_owned()),
            email: Set(email.to_owned()),
            created_at: Set(created_at),
            expires_at: Set(expires_at),
            used_at: Set(None),
            used_by: Set(None),
        };
        invitation::Entity::insert(row).exec_without_returning(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> RegistryResult<Option<User>> {
        let row = unique(user::Entity::find_by_id(id.to_owned()), &self.db).await?;
        Ok(row.map(|row| user_from_row(row).0))
    }

    async fn delete_user(&self, id: &str) -> RegistryResult<bool> {
        // The second factors go with the account (the foreign keys say so
        // too, where the database enforces them).
        let txn = self.db.begin().await?;
        recovery_code::Entity::delete_many().filter(recovery_code::Column::UserId.eq(id)).exec(&txn).await?;
        totp::Entity::delete_by_id(id.to_owned()).exec(&txn).await?;
        let deleted = user::Entity::delete_by_id(id.to_owned()).exec(&txn).await?;
        txn.commit().await?;
        Ok(deleted.rows_affected > 0)
    }

    async fn user_by_username_key(&self, username_key: &str) -> RegistryResult<Option<(User, String)>> {
        let row = unique(user::Entity::find().filter(user::Column::UsernameKey.eq(username_key)), &self.db).await?;
        Ok(row.map(user_from_row))
    }

    async fn set_administrator(&self, user_id: &str, administrator: bool) -> RegistryResult<bool> {
        let updated = user::Entity::update_many()
            .col_expr(user::Column::Administrator, Expr::value(administrator))
            .filter(user::Column::Id.eq(user_id))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }

    async fn set_disabled(&self, user_id: &str, at: Option<i64>) -> RegistryResult<bool> {
        let updated = user::Entity::update_many()
            .col_expr(user::Column::DisabledAt, Expr::value(at))
            .filter(user::Column::Id.eq(user_id))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }

    async fn list_users(&self, query: &str, offset: u64, limit: u64) -> RegistryResult<Vec<User>> {
        let mut find = user::Entity::find().order_by_asc(user::Column::UsernameKey);
        let query = query.trim().to_lowercase();
        if !query.is_empty() {
            // LIKE with its wildcards taken literally (`\` escapes them).
            let escaped = query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            let like = |column: user::Column| {
                Expr::expr(Func::lower(Expr::col(column))).like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            find = find.filter(
                Condition::any()
                    .add(like(user::Column::UsernameKey))
                    .add(like(user::Column::Email))
                    .add(like(user::Column::DisplayName)),
            );
        }
        let rows = find.offset(offset).limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().map(|row| user_from_row(row).0).collect())
    }

    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> RegistryResult<bool> {
        let updated = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
            .filter(user::Column::Id.eq(user_id))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }
}

#[async_trait::async_trait]
impl ApplicationStore for SqlRegistryStore {
    async fn insert_application(
        &self,
        app: &Application,
        secret: Option<(&ClientSecretInfo, &SecretHash)>,
        registration_token: Option<&RegistrationToken>,
    ) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        let mut row = application_row(app);
        if let Some(token) = registration_token {
            row.registration_token_hash = Set(token.hash.as_str().to_owned());
            row.registration_token_expires_at = Set(token.expires_at);
        }
        application::Entity::insert(row).exec_without_returning(&txn).await?;
        if let Some((info, hash)) = secret {
            client_secret::Entity::insert(secret_row(app.client_id.as_str(), info, hash))
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    async fn list_applications(&self, owner_id: Option<&str>) -> RegistryResult<Vec<Application>> {
        let mut query = application::Entity::find();
        if let Some(owner_id) = owner_id {
            query = query.filter(application::Column::OwnerId.eq(owner_id));
        }
        let rows = query
            .order_by_asc(application::Column::CreatedAt)
            .order_by_asc(application::Column::ClientId)
            .all(&self.db)
            .await?;
        let ids: Vec<String> = rows.iter().map(|row| row.client_id.clone()).collect();
        let mut secrets = self.secrets_of(&ids).await?;
        rows.into_iter()
            .map(|row| {
                let (mine, rest): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut secrets).into_iter().partition(|s| s.client_id == row.client_id);
                secrets = rest;
                application_from_rows(row, mine)
            })
            .collect()
    }

    async fn application(&self, client_id: &str) -> RegistryResult<Option<Application>> {
        let Some(row) = unique(application::Entity::find_by_id(client_id.to_owned()), &self.db).await? else {
            return Ok(None);
        };
        let secrets = self.secrets_of(&[client_id.to_owned()]).await?;
        application_from_rows(row, secrets).map(Some)
    }

    async fn update_application(&self, app: &Application) -> RegistryResult<()> {
        let result = application::Entity::update_many()
            .set(application_row(app))
            .filter(application::Column::ClientId.eq(app.client_id.as_str()))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(RegistryError::NotFound(format!("application {:?} not found", app.client_id.as_str())));
        }
        Ok(())
    }

    async fn delete_application(&self, client_id: &str) -> RegistryResult<bool> {
        let txn = self.db.begin().await?;
        client_secret::Entity::delete_many().filter(client_secret::Column::ClientId.eq(client_id)).exec(&txn).await?;
        let deleted = application::Entity::delete_by_id(client_id.to_owned()).exec(&txn).await?;
        txn.commit().await?;
        Ok(deleted.rows_affected > 0)
    }

    async fn add_secret(
        &self,
        client_id: &str,
        secret: &ClientSecretInfo,
        hash: &SecretHash,
        max: usize,
    ) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        // Lock the application row so that two concurrent rotations cannot
        // both see room for one more secret (PostgreSQL; SQLite has one writer).
        let app = unique(application::Entity::find_by_id(client_id.to_owned()).lock_exclusive(), &txn).await?;
        if app.is_none() {
            return Err(RegistryError::NotFound(format!("application {client_id:?} not found")));
        }
        let count =
            client_secret::Entity::find().filter(client_secret::Column::ClientId.eq(client_id)).count(&txn).await?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            return Err(RegistryError::FailedPrecondition(format!(
                "application already has {max} client secrets: delete one before creating another"
            )));
        }
        client_secret::Entity::insert(secret_row(client_id, secret, hash)).exec_without_returning(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn replace_secrets(
        &self,
        client_id: &str,
        secret: &ClientSecretInfo,
        hash: &SecretHash,
    ) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        let app = unique(application::Entity::find_by_id(client_id.to_owned()).lock_exclusive(), &txn).await?;
        if app.is_none() {
            return Err(RegistryError::NotFound(format!("application {client_id:?} not found")));
        }
        client_secret::Entity::delete_many().filter(client_secret::Column::ClientId.eq(client_id)).exec(&txn).await?;
        client_secret::Entity::insert(secret_row(client_id, secret, hash)).exec_without_returning(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn delete_secret(&self, client_id: &str, secret_id: &str, keep_one: bool) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        let app = unique(application::Entity::find_by_id(client_id.to_owned()).lock_exclusive(), &txn).await?;
        if app.is_none() {
            return Err(RegistryError::NotFound(format!("application {client_id:?} not found")));
        }
        let secrets =
            client_secret::Entity::find().filter(client_secret::Column::ClientId.eq(client_id)).all(&txn).await?;
        if !secrets.iter().any(|s| s.id == secret_id) {
            return Err(RegistryError::NotFound(format!("client secret {secret_id:?} not found")));
        }
        if keep_one && secrets.len() == 1 {
            return Err(RegistryError::FailedPrecondition(
                "the last client secret of a confidential application cannot be deleted: create another first"
                    .to_owned(),
            ));
        }
        client_secret::Entity::delete_by_id(secret_id.to_owned()).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn application_with_hashes(
        &self,
        client_id: &str,
    ) -> RegistryResult<Option<(Application, Vec<(String, SecretHash, Option<i64>)>)>> {
        let Some(row) = unique(application::Entity::find_by_id(client_id.to_owned()), &self.db).await? else {
            return Ok(None);
        };
        let secrets = self.secrets_of(&[client_id.to_owned()]).await?;
        let hashes = secrets
            .iter()
            .map(|s| (s.id.clone(), SecretHash::from_stored(s.secret_hash.clone()), s.last_used_at))
            .collect();
        Ok(Some((application_from_rows(row, secrets)?, hashes)))
    }

    async fn touch_secret(&self, secret_id: &str, now: i64) -> RegistryResult<()> {
        client_secret::Entity::update_many()
            .col_expr(client_secret::Column::LastUsedAt, Expr::value(now))
            .filter(client_secret::Column::Id.eq(secret_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn touch_application(&self, client_id: &str, now: i64) -> RegistryResult<()> {
        application::Entity::update_many()
            .col_expr(application::Column::LastUsedAt, Expr::value(now))
            .filter(application::Column::ClientId.eq(client_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl RegistrationStore for SqlRegistryStore {
    async fn application_with_registration_token(
        &self,
        client_id: &str,
    ) -> RegistryResult<Option<(Application, RegistrationToken)>> {
        let Some(row) = unique(application::Entity::find_by_id(client_id.to_owned()), &self.db).await? else {
            return Ok(None);
        };
        if row.registration_token_hash.is_empty() {
            return Ok(None);
        }
        let token = RegistrationToken {
            hash: SecretHash::from_stored(row.registration_token_hash.clone()),
            expires_at: row.registration_token_expires_at,
        };
        let secrets = self.secrets_of(&[client_id.to_owned()]).await?;
        Ok(Some((application_from_rows(row, secrets)?, token)))
    }

    async fn replace_registration_token(
        &self,
        client_id: &str,
        old: &SecretHash,
        new: &RegistrationToken,
    ) -> RegistryResult<bool> {
        let updated = application::Entity::update_many()
            .col_expr(application::Column::RegistrationTokenHash, Expr::value(new.hash.as_str()))
            .col_expr(application::Column::RegistrationTokenExpiresAt, Expr::value(new.expires_at))
            .filter(application::Column::ClientId.eq(client_id))
            .filter(application::Column::RegistrationTokenHash.eq(old.as_str()))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    async fn remove_registration_token(&self, hash: &SecretHash) -> RegistryResult<Option<String>> {
        let found = application::Entity::find()
            .filter(application::Column::RegistrationTokenHash.eq(hash.as_str()))
            .one(&self.db)
            .await?;
        let Some(row) = found else { return Ok(None) };
        let updated = application::Entity::update_many()
            .col_expr(application::Column::RegistrationTokenHash, Expr::value(""))
            .filter(application::Column::ClientId.eq(row.client_id.as_str()))
            .filter(application::Column::RegistrationTokenHash.eq(hash.as_str()))
            .exec(&self.db)
            .await?;
        Ok((updated.rows_affected == 1).then_some(row.client_id))
    }

    async fn unused_dynamic_clients(&self, before: i64, limit: u64) -> RegistryResult<Vec<String>> {
        use sea_orm::sea_query::Condition;
        let unused = Condition::any().add(application::Column::LastUsedAt.lt(before)).add(
            Condition::all()
                .add(application::Column::LastUsedAt.is_null())
                .add(application::Column::CreatedAt.lt(before)),
        );
        let rows = application::Entity::find()
            .select_only()
            .column(application::Column::ClientId)
            .filter(application::Column::Registration.eq(Registration::Dynamic.as_str()))
            .filter(unused)
            .order_by_asc(application::Column::CreatedAt)
            .limit(limit)
            .into_tuple::<String>()
            .all(&self.db)
            .await?;
        Ok(rows)
    }

    async fn insert_initial_access_token(
        &self,
        info: &InitialAccessTokenInfo,
        hash: &SecretHash,
    ) -> RegistryResult<()> {
        let row = initial_access_token::ActiveModel {
            id: Set(info.id.clone()),
            token_hash: Set(hash.as_str().to_owned()),
            description: Set(info.description.clone()),
            created_at: Set(info.created_at),
            expires_at: Set(info.expires_at),
        };
        initial_access_token::Entity::insert(row).exec_without_returning(&self.db).await?;
        Ok(())
    }

    async fn list_initial_access_tokens(&self) -> RegistryResult<Vec<InitialAccessTokenInfo>> {
        let rows = initial_access_token::Entity::find()
            .order_by_asc(initial_access_token::Column::CreatedAt)
            .order_by_asc(initial_access_token::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(initial_access_token_from_row).collect())
    }

    async fn initial_access_token_by_hash(&self, hash: &SecretHash) -> RegistryResult<Option<InitialAccessTokenInfo>> {
        let query =
            initial_access_token::Entity::find().filter(initial_access_token::Column::TokenHash.eq(hash.as_str()));
        Ok(unique(query, &self.db).await?.map(initial_access_token_from_row))
    }

    async fn delete_initial_access_token(&self, id: &str) -> RegistryResult<bool> {
        let deleted = initial_access_token::Entity::delete_by_id(id.to_owned()).exec(&self.db).await?;
        Ok(deleted.rows_affected > 0)
    }
}

#[async_trait::async_trait]
impl CredentialStore for SqlRegistryStore {
    async fn insert_credential(&self, info: &CredentialInfo, hash: &SecretHash) -> RegistryResult<()> {
        let row = credential::ActiveModel {
            id: Set(info.id.clone()),
            credential_hash: Set(hash.as_str().to_owned()),
            name: Set(info.name.clone()),
            role: Set(info.role.as_str().to_owned()),
            created_by: Set(info.created_by.clone()),
            created_at: Set(info.created_at),
            expires_at: Set(info.expires_at),
            revoked_at: Set(None),
        };
        credential::Entity::insert(row).exec_without_returning(&self.db).await?;
        Ok(())
    }

    async fn list_credentials(&self) -> RegistryResult<Vec<CredentialInfo>> {
        let rows = credential::Entity::find()
            .order_by_asc(credential::Column::CreatedAt)
            .order_by_asc(credential::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(credential_from_row).collect())
    }

    async fn credential_by_hash(&self, hash: &SecretHash) -> RegistryResult<Option<CredentialInfo>> {
        let query = credential::Entity::find().filter(credential::Column::CredentialHash.eq(hash.as_str()));
        Ok(unique(query, &self.db).await?.and_then(credential_from_row))
    }

    async fn revoke_credential(&self, id: &str, now: i64) -> RegistryResult<bool> {
        let updated = credential::Entity::update_many()
            .col_expr(credential::Column::RevokedAt, Expr::value(now))
            .filter(credential::Column::Id.eq(id))
            .filter(credential::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }
}

#[async_trait::async_trait]
impl ResourceServerStore for SqlRegistryStore {
    async fn insert_resource_server(&self, server: &ResourceServer) -> RegistryResult<()> {
        match resource_server::Entity::insert(resource_server_row(server)).exec_without_returning(&self.db).await {
            Ok(_) => Ok(()),
            Err(error) if is_unique_violation(&error) => Err(RegistryError::AlreadyExists(
                "a resource server with this identifier is already registered".to_owned(),
            )),
            Err(error) => Err(error.into()),
        }
    }

    async fn list_resource_servers(&self, owner_id: Option<&str>) -> RegistryResult<Vec<ResourceServer>> {
        let mut query = resource_server::Entity::find();
        if let Some(owner_id) = owner_id {
            query = query.filter(resource_server::Column::OwnerId.eq(owner_id));
        }
        let rows = query
            .order_by_asc(resource_server::Column::CreatedAt)
            .order_by_asc(resource_server::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter().map(resource_server_from_row).collect()
    }

    async fn resource_server(&self, id: &str) -> RegistryResult<Option<ResourceServer>> {
        unique(resource_server::Entity::find_by_id(id.to_owned()), &self.db)
            .await?
            .map(resource_server_from_row)
            .transpose()
    }

    async fn resource_server_by_identifier(&self, identifier: &str) -> RegistryResult<Option<ResourceServer>> {
        let query = resource_server::Entity::find().filter(resource_server::Column::Identifier.eq(identifier));
        unique(query, &self.db).await?.map(resource_server_from_row).transpose()
    }

    async fn resource_servers_introspected_by(&self, client_id: &str) -> RegistryResult<Vec<ResourceServer>> {
        let rows = resource_server::Entity::find()
            .filter(resource_server::Column::IntrospectionClientId.eq(client_id))
            .order_by_asc(resource_server::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter().map(resource_server_from_row).collect()
    }

    async fn update_resource_server(&self, server: &ResourceServer) -> RegistryResult<()> {
        let result = resource_server::Entity::update_many()
            .set(resource_server_row(server))
            .filter(resource_server::Column::Id.eq(server.id.as_str()))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(RegistryError::NotFound(format!("resource server {:?} not found", server.id)));
        }
        Ok(())
    }

    async fn delete_resource_server(&self, id: &str) -> RegistryResult<bool> {
        let deleted = resource_server::Entity::delete_by_id(id.to_owned()).exec(&self.db).await?;
        Ok(deleted.rows_affected > 0)
    }
}

/// A stored credential; a row whose role this build does not know counts as none.
fn credential_from_row(row: credential::Model) -> Option<CredentialInfo> {
    Some(CredentialInfo {
        role: gatehouse_runtime::access::Role::parse(&row.role)?,
        id: row.id,
        name: row.name,
        created_by: row.created_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    })
}

fn initial_access_token_from_row(row: initial_access_token::Model) -> InitialAccessTokenInfo {
    InitialAccessTokenInfo {
        id: row.id,
        description: row.description,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

fn recovery_rows(user_id: &str, hashes: &[String], now: i64) -> Vec<recovery_code::ActiveModel> {
    hashes
        .iter()
        .map(|hash| recovery_code::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            user_id: Set(user_id.to_owned()),
            code_hash: Set(hash.clone()),
            created_at: Set(now),
            used_at: Set(None),
        })
        .collect()
}

async fn put_recovery_codes<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> RegistryResult<()> {
    recovery_code::Entity::delete_many().filter(recovery_code::Column::UserId.eq(user_id)).exec(db).await?;
    if !hashes.is_empty() {
        recovery_code::Entity::insert_many(recovery_rows(user_id, hashes, now)).exec_without_returning(db).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl SecondFactorStore for SqlRegistryStore {
    async fn totp(&self, user_id: &str) -> RegistryResult<Option<TotpRow>> {
        let row = totp::Entity::find_by_id(user_id.to_owned()).one(&self.db).await?;
        Ok(row.map(|row| TotpRow {
            sealed_secret: row.sealed_secret,
            confirmed_at: row.confirmed_at,
            last_step: row.last_step,
        }))
    }

    async fn put_pending_totp(&self, user_id: &str, sealed_secret: &str, now: i64) -> RegistryResult<bool> {
        let txn = self.db.begin().await?;
        totp::Entity::delete_many()
            .filter(totp::Column::UserId.eq(user_id))
            .filter(totp::Column::ConfirmedAt.is_null())
            .exec(&txn)
            .await?;
        let row = totp::ActiveModel {
            user_id: Set(user_id.to_owned()),
            sealed_secret: Set(sealed_secret.to_owned()),
            created_at: Set(now),
            confirmed_at: Set(None),
            last_step: Set(None),
        };
        match totp::Entity::insert(row).exec_without_returning(&txn).await {
            Ok(_) => {
                txn.commit().await?;
                Ok(true)
            }
            // A confirmed secret is in force (or another enrolment won the race).
            Err(error) if is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        now: i64,
        recovery_hashes: &[String],
    ) -> RegistryResult<bool> {
        let txn = self.db.begin().await?;
        let updated = totp::Entity::update_many()
            .col_expr(totp::Column::ConfirmedAt, Expr::value(now))
            .col_expr(totp::Column::LastStep, Expr::value(step))
            .filter(totp::Column::UserId.eq(user_id))
            .filter(totp::Column::ConfirmedAt.is_null())
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        put_recovery_codes(&txn, user_id, recovery_hashes, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn advance_totp_step(&self, user_id: &str, step: i64) -> RegistryResult<bool> {
        let updated = totp::Entity::update_many()
            .col_expr(totp::Column::LastStep, Expr::value(step))
            .filter(totp::Column::UserId.eq(user_id))
            .filter(totp::Column::ConfirmedAt.is_not_null())
            .filter(
                sea_orm::Condition::any().add(totp::Column::LastStep.is_null()).add(totp::Column::LastStep.lt(step)),
            )
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }

    async fn use_recovery_code(&self, user_id: &str, code_hash: &str, now: i64) -> RegistryResult<bool> {
        let updated = recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::CodeHash.eq(code_hash))
            .filter(recovery_code::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }

    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String], now: i64) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        put_recovery_codes(&txn, user_id, hashes, now).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn recovery_codes_left(&self, user_id: &str) -> RegistryResult<u64> {
        let count = recovery_code::Entity::find()
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(&self.db)
            .await?;
        Ok(count)
    }

    async fn delete_second_factors(&self, user_id: &str) -> RegistryResult<bool> {
        let txn = self.db.begin().await?;
        recovery_code::Entity::delete_many().filter(recovery_code::Column::UserId.eq(user_id)).exec(&txn).await?;
        let deleted = totp::Entity::delete_by_id(user_id.to_owned()).exec(&txn).await?;
        txn.commit().await?;
        Ok(deleted.rows_affected > 0)
    }

    async fn passkeys(&self, user_id: &str) -> RegistryResult<Vec<PasskeyRow>> {
        let rows = passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id))
            .order_by_asc(passkey::Column::CreatedAt)
            .order_by_asc(passkey::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| PasskeyRow {
                id: row.id,
                user_id: row.user_id,
                credential_id: row.credential_id,
                name: row.name,
                passkey: row.passkey,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
            })
            .collect())
    }

    async fn insert_passkey(&self, row: &PasskeyRow, limit: u64) -> RegistryResult<bool> {
        let txn = self.db.begin().await?;
        // The user's row locked (PostgreSQL; SQLite has one writer): two registrations at once count each other.
        if unique(user::Entity::find_by_id(row.user_id.clone()).lock_exclusive(), &txn).await?.is_none() {
            return Err(RegistryError::NotFound("the account no longer exists".to_owned()));
        }
        let held = passkey::Entity::find().filter(passkey::Column::UserId.eq(row.user_id.as_str())).count(&txn).await?;
        if held >= limit {
            return Ok(false);
        }
        let model = passkey::ActiveModel {
            id: Set(row.id.clone()),
            user_id: Set(row.user_id.clone()),
            credential_id: Set(row.credential_id.clone()),
            name: Set(row.name.clone()),
            passkey: Set(row.passkey.clone()),
            created_at: Set(row.created_at),
            last_used_at: Set(row.last_used_at),
        };
        match passkey::Entity::insert(model).exec_without_returning(&txn).await {
            Ok(_) => {
                txn.commit().await?;
                Ok(true)
            }
            Err(error) if is_unique_violation(&error) => {
                Err(RegistryError::AlreadyExists("this passkey is registered already".to_owned()))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn delete_passkey(&self, user_id: &str, id: &str) -> RegistryResult<bool> {
        let deleted = passkey::Entity::delete_many()
            .filter(passkey::Column::UserId.eq(user_id))
            .filter(passkey::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    async fn touch_passkey(&self, id: &str, record: Option<&str>, now: i64) -> RegistryResult<()> {
        let mut update = passkey::Entity::update_many()
            .col_expr(passkey::Column::LastUsedAt, Expr::value(now))
            .filter(passkey::Column::Id.eq(id));
        if let Some(record) = record {
            update = update.col_expr(passkey::Column::Passkey, Expr::value(record));
        }
        update.exec(&self.db).await?;
        Ok(())
    }
}

fn account_token_from_row(row: account_token::Model) -> Option<AccountToken> {
    let purpose = match row.purpose.as_str() {
        "password_reset" => "password_reset",
        "verify_email" => "verify_email",
        _ => return None,
    };
    Some(AccountToken {
        hash: SecretHash::from_stored(row.token_hash),
        user_id: row.user_id,
        purpose,
        email: row.email,
        created_at: row.created_at,
        expires_at: row.expires_at,
    })
}

#[async_trait::async_trait]
impl AccountTokenStore for SqlRegistryStore {
    async fn insert_account_token(&self, token: &AccountToken, now: i64) -> RegistryResult<()> {
        let txn = self.db.begin().await?;
        account_token::Entity::delete_many()
            .filter(account_token::Column::UserId.eq(token.user_id.as_str()))
            .filter(account_token::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?;
        let row = account_token::ActiveModel {
            token_hash: Set(token.hash.as_str().to_owned()),
            user_id: Set(token.user_id.clone()),
            purpose: Set(token.purpose.to_owned()),
            email: Set(token.email.clone()),
            created_at: Set(token.created_at),
            expires_at: Set(token.expires_at),
        };
        account_token::Entity::insert(row).exec_without_returning(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn take_account_token(
        &self,
        hash: &SecretHash,
        purpose: &str,
        now: i64,
    ) -> RegistryResult<Option<AccountToken>> {
        let txn = self.db.begin().await?;
        let found = account_token::Entity::find_by_id(hash.as_str().to_owned())
            .filter(account_token::Column::Purpose.eq(purpose))
            .one(&txn)
            .await?;
        let Some(row) = found else { return Ok(None) };
        let deleted = account_token::Entity::delete_by_id(row.token_hash.clone()).exec(&txn).await?;
        txn.commit().await?;
        if deleted.rows_affected == 0 || row.expires_at <= now {
            return Ok(None);
        }
        Ok(account_token_from_row(row))
    }

    async fn delete_account_tokens(&self, user_id: &str, purpose: &str) -> RegistryResult<()> {
        account_token::Entity::delete_many()
            .filter(account_token::Column::UserId.eq(user_id))
            .filter(account_token::Column::Purpose.eq(purpose))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn set_email_verified(&self, user_id: &str, email: &str, now: i64) -> RegistryResult<bool> {
        let updated = user::Entity::update_many()
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .filter(user::Column::Email.eq(email))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }

    async fn user_by_verified_email(&self, email: &str) -> RegistryResult<Option<User>> {
        let rows = user::Entity::find()
            .filter(user::Column::EmailVerifiedAt.is_not_null())
            .filter(sea_orm::sea_query::ExprTrait::eq(
                Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(user::Column::Email))),
                email.to_lowercase(),
            ))
            .limit(2)
            .all(&self.db)
            .await?;
        // Two accounts confirmed the same address: it names neither.
        if rows.len() != 1 {
            return Ok(None);
        }
        Ok(rows.into_iter().next().map(|row| user_from_row(row).0))
    }
}
