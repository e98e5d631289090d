//! The registry's one error type, and its mapping onto `tonic::Status`.

use gatehouse_oauth::OAuthError;
use gatehouse_proto::status::{Detail, ErrorCode, encode, encode_oauth};
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
    /// A service holding the subject's tokens or grants could not revoke
    /// them: nothing was deleted, and the deletion is safe to retry.
    #[error("{service} unavailable: {status}")]
    Dependent { service: &'static str, status: Status },
}

/// Result alias of the registry.
pub type RegistryResult<T> = Result<T, RegistryError>;

impl RegistryError {
    pub(crate) fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Invalid { field, rule: rule.into() }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::InvalidArgument,
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Self::OAuth(error) => ErrorCode::for_oauth(error.code),
            // Storage that cannot be reached is an outage, never a bug to report as INTERNAL.
            Self::Storage(_) | Self::Dependent { .. } | Self::Cache(_) | Self::Busy(_) => ErrorCode::Unavailable,
            Self::Throttled { .. } => ErrorCode::ResourceExhausted,
            Self::PasswordHashing(_) => ErrorCode::Internal,
        }
    }
}

impl From<RegistryError> for Status {
    fn from(error: RegistryError) -> Self {
        match &error {
            RegistryError::Invalid { field, rule } => {
                encode(error.code(), error.to_string(), Detail::field(field, rule))
            }
            RegistryError::OAuth(oauth) => encode_oauth(oauth),
            RegistryError::Storage(_) => {
                // Logged once here, never sent: details of storage stay inside.
                tracing::error!(error = %error, "registry storage unavailable");
                encode(ErrorCode::Unavailable, "registry storage unavailable", Detail::default())
            }
            RegistryError::Throttled { retry_after, .. } => encode(
                error.code(),
                error.to_string(),
                Detail::reason(gatehouse_proto::status::reason::THROTTLED).with_retry_after(*retry_after),
            ),
            RegistryError::Busy(_) => encode(
                error.code(),
                error.to_string(),
                Detail::default().with_retry_after(std::time::Duration::from_secs(1)),
            ),
            RegistryError::Cache(_) => {
                tracing::error!(error = %error, "registry cache unavailable");
                encode(ErrorCode::Unavailable, "cache unavailable", Detail::default())
            }
            RegistryError::Dependent { service, .. } => {
                tracing::warn!(error = %error, "revocation before a deletion failed");
                encode(ErrorCode::Unavailable, format!("{service} unavailable, nothing was deleted"), Detail::default())
            }
            RegistryError::PasswordHashing(_) => {
                tracing::error!(error = %error, "registry internal error");
                encode(ErrorCode::Internal, "internal error", Detail::default())
            }
            RegistryError::AlreadyExists(_)
            | RegistryError::NotFound(_)
            | RegistryError::PermissionDenied(_)
            | RegistryError::FailedPrecondition(_) => encode(error.code(), error.to_string(), Detail::default()),
        }
    }
}
