//! The registry's one error type, and its mapping onto `tonic::Status`.

use gatehouse_oauth::OAuthError;
use gatehouse_proto::status::{Answer, Detail, ErrorCode, Log, ServiceError, reason, to_status};
use tonic::Status;

/// Everything a registry use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A field breaks a rule; `rule` says which, in words a caller can act on.
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("storage: {0}")]
    Storage(#[from] sea_orm::DbErr),
    /// Over a rate limit (dynamic registrations per address, password checks).
    #[error("{what}: try again later")]
    Throttled { what: &'static str, retry_after: std::time::Duration },
    /// A bounded resource is exhausted for the moment (concurrent fetches).
    #[error("{0}")]
    Busy(String),
    /// The shared cache (assertion replay marks, registration limits) is unreachable.
    #[error("cache: {0}")]
    Cache(String),
    #[error("password hashing: {0}")]
    PasswordHashing(String),
    /// A library failed on the registry's own side (WebAuthn options or
    /// state that do not serialise): a bug, never the caller's input.
    #[error("internal: {0}")]
    Internal(String),
    /// A service holding the subject's tokens or grants could not revoke
    /// them: nothing was deleted, and the deletion is safe to retry.
    #[error("{service} unavailable: {status}")]
    Upstream { service: &'static str, status: Status },
}

/// Result alias of the registry.
pub type RegistryResult<T> = Result<T, RegistryError>;

impl RegistryError {
    pub(crate) fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Invalid { field, rule: rule.into() }
    }
}

impl ServiceError for RegistryError {
    const SERVICE: &'static str = "registry";

    fn answer(&self) -> Answer {
        match self {
            Self::Invalid { field, rule } => Answer::invalid(field, rule),
            Self::AlreadyExists(_) => Answer::said(ErrorCode::AlreadyExists, self),
            Self::NotFound(_) => Answer::said(ErrorCode::NotFound, self),
            Self::PermissionDenied(_) => Answer::said(ErrorCode::PermissionDenied, self),
            Self::FailedPrecondition(_) => Answer::said(ErrorCode::FailedPrecondition, self),
            Self::OAuth(oauth) => Answer::oauth(oauth),
            // Storage that cannot be reached is an outage, never a bug to report as INTERNAL.
            Self::Storage(_) => Answer::hidden(ErrorCode::Unavailable, "registry storage unavailable", Log::Error),
            Self::Throttled { retry_after, .. } => Answer::said(ErrorCode::ResourceExhausted, self)
                .with_detail(Detail::reason(reason::THROTTLED).with_retry_after(*retry_after)),
            Self::Busy(_) => Answer::said(ErrorCode::Unavailable, self)
                .with_detail(Detail::default().with_retry_after(std::time::Duration::from_secs(1))),
            Self::Cache(_) => Answer::hidden(ErrorCode::Unavailable, "cache unavailable", Log::Error),
            // A deletion revokes first: when it cannot, nothing was deleted and it is safe to retry.
            Self::Upstream { service, .. } => {
                Answer::hidden(ErrorCode::Unavailable, format!("{service} unavailable, nothing was deleted"), Log::Warn)
            }
            Self::PasswordHashing(_) | Self::Internal(_) => {
                Answer::hidden(ErrorCode::Internal, "internal error", Log::Error)
            }
        }
    }
}

impl From<RegistryError> for Status {
    fn from(error: RegistryError) -> Self {
        to_status(&error)
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_oauth::OAuthErrorCode;
    use tonic::Code;

    use super::*;

    /// The row of each variant (a new variant does not compile until it has one).
    fn row(error: &RegistryError) -> usize {
        match error {
            RegistryError::Invalid { .. } => 0,
            RegistryError::AlreadyExists(_) => 1,
            RegistryError::NotFound(_) => 2,
            RegistryError::PermissionDenied(_) => 3,
            RegistryError::FailedPrecondition(_) => 4,
            RegistryError::OAuth(_) => 5,
            RegistryError::Storage(_) => 6,
            RegistryError::Throttled { .. } => 7,
            RegistryError::Busy(_) => 8,
            RegistryError::Cache(_) => 9,
            RegistryError::PasswordHashing(_) => 10,
            RegistryError::Upstream { .. } => 11,
            RegistryError::Internal(_) => 12,
        }
    }

    #[test]
    fn every_variant_has_one_grpc_and_http_answer_and_internal_text_is_never_sent() {
        let secret = gatehouse_proto::status::SECRET_TEXT;
        // (error, gRPC code, HTTP status, whether the caller reads the error's own text)
        let table: Vec<(RegistryError, Code, u16, bool)> = vec![
            (RegistryError::invalid("name", "is empty"), Code::InvalidArgument, 400, true),
            (RegistryError::AlreadyExists("taken".to_owned()), Code::AlreadyExists, 409, true),
            (RegistryError::NotFound("no such user".to_owned()), Code::NotFound, 404, true),
            (RegistryError::PermissionDenied("not yours".to_owned()), Code::PermissionDenied, 403, true),
            (RegistryError::FailedPrecondition("in use".to_owned()), Code::FailedPrecondition, 409, true),
            (OAuthError::new(OAuthErrorCode::InvalidClient, "bad").into(), Code::Unauthenticated, 401, true),
            (sea_orm::DbErr::Custom(secret.to_owned()).into(), Code::Unavailable, 503, false),
            (
                RegistryError::Throttled { what: "sign-ups", retry_after: std::time::Duration::from_secs(3) },
                Code::ResourceExhausted,
                429,
                true,
            ),
            (RegistryError::Busy("fetches".to_owned()), Code::Unavailable, 503, true),
            (RegistryError::Cache(secret.to_owned()), Code::Unavailable, 503, false),
            (RegistryError::PasswordHashing(secret.to_owned()), Code::Internal, 500, false),
            (
                RegistryError::Upstream { service: "token service", status: Status::internal(secret) },
                Code::Unavailable,
                503,
                false,
            ),
            (RegistryError::Internal(secret.to_owned()), Code::Internal, 500, false),
        ];
        gatehouse_proto::status::check_error_table(table, row, 13);
    }
}
