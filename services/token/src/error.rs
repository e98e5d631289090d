//! The token service's one error type and its mapping onto `Status`.

use gatehouse_oauth::OAuthError;
use gatehouse_proto::status::{Detail, ErrorCode, encode, encode_oauth};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// Another service failed; its status says how.
    #[error("{service}: {status}")]
    Upstream { service: &'static str, status: Status },
    #[error("storage: {0}")]
    Storage(#[from] sea_orm::DbErr),
    /// The cache could not record something that must be recorded (a
    /// tombstone, a replay mark): the request is safe to retry.
    #[error("token cache: {0}")]
    Cache(String),
    /// Too many failed authentications or unknown-token lookups lately.
    #[error("too many failed attempts; retry after {} s", retry_after.as_secs())]
    Throttled { retry_after: std::time::Duration },
    /// A request field breaks a rule (the caller's fault).
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    #[error("{0}")]
    NotFound(String),
    /// The caller's deadline passed before the request could commit: nothing was written.
    #[error("the caller's deadline passed")]
    DeadlineExceeded,
    /// The request is valid but the state forbids it now (a key not ready to rotate).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Could not be done now; safe to retry.
    #[error("{0}")]
    Unavailable(String),
    /// A broken invariant of the service's own data (a key that does not open).
    #[error("internal: {0}")]
    Internal(String),
}

pub type TokenResult<T> = Result<T, TokenError>;

impl From<TokenError> for Status {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::OAuth(oauth) => encode_oauth(&oauth),
            TokenError::Upstream { service, status } => {
                let code = ErrorCode::from_grpc(status.code());
                tracing::warn!(service, code = ?status.code(), message = status.message(), "upstream call failed");
                let code = if code == ErrorCode::Unavailable { code } else { ErrorCode::Internal };
                encode(code, format!("{service} unavailable"), Detail::default())
            }
            // An unreachable database means "cannot answer", never "inactive".
            TokenError::Storage(db) => {
                tracing::error!(error = %db, "token storage failed");
                encode(ErrorCode::Unavailable, "token storage unavailable", Detail::default())
            }
            TokenError::Cache(error) => {
                tracing::warn!(%error, "token cache write failed");
                encode(ErrorCode::Unavailable, "token cache unavailable", Detail::default())
            }
            TokenError::Throttled { retry_after } => encode(
                ErrorCode::ResourceExhausted,
                format!("too many failed attempts from here; retry in {} s", retry_after.as_secs().max(1)),
                Detail::reason(gatehouse_proto::status::reason::THROTTLED).with_retry_after(retry_after),
            ),
            TokenError::Invalid { field, rule } => {
                encode(ErrorCode::InvalidArgument, format!("{field}: {rule}"), Detail::field(field, &rule))
            }
            TokenError::NotFound(message) => encode(ErrorCode::NotFound, message, Detail::default()),
            TokenError::FailedPrecondition(message) => {
                encode(ErrorCode::FailedPrecondition, message, Detail::default())
            }
            TokenError::Unavailable(message) => encode(ErrorCode::Unavailable, message, Detail::default()),
            TokenError::Internal(message) => {
                tracing::error!(%message, "token service invariant broken");
                encode(ErrorCode::Internal, "internal error", Detail::default())
            }
            TokenError::DeadlineExceeded => {
                encode(ErrorCode::Unavailable, "deadline exceeded before the request committed", Detail::default())
            }
        }
    }
}
