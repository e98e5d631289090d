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
    #[error("password hashing: {0}")]
    PasswordHashing(String),
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
            Self::Storage(_) | Self::PasswordHashing(_) => ErrorCode::Internal,
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
            RegistryError::Storage(_) | RegistryError::PasswordHashing(_) => {
                // Logged once here, never sent: details of storage stay inside.
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
