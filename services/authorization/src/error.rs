//! The authorization service's one error type and its mapping onto `Status`.

use std::time::Duration;

use gatehouse_oauth::OAuthError;
use gatehouse_proto::status::{Detail, ErrorCode, encode, reason};
use gatehouse_runtime::kv::KvError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// An OAuth error the caller shows (an error page, or a token endpoint error).
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// A code presented again: `invalid_grant`, with the id of the first redemption.
    #[error("authorization code was already used")]
    Replayed { code_id: String },
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many failed logins, try again later")]
    Throttled { retry_after: Duration },
    #[error("not logged in or the session expired")]
    NoSession,
    #[error("the authorization request expired or was already answered: start again from the application")]
    RequestExpired,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// A bug or corrupt data; the message stays in the log.
    #[error("{0}")]
    Internal(String),
    /// Another service failed; its status says how (the same variant as
    /// the token service's).
    #[error("{service}: {status}")]
    Upstream { service: &'static str, status: Status },
    #[error(transparent)]
    Cache(#[from] KvError),
    #[error("storage: {0}")]
    Storage(#[from] sea_orm::DbErr),
}

pub type AuthzResult<T> = Result<T, AuthzError>;

impl AuthzError {
    /// A failed call to the registry.
    /// A registry status: its OAuth error when it carries one (a client
    /// metadata document that cannot be used is `invalid_client`, the
    /// caller's to fix), otherwise an upstream failure.
    pub(crate) fn registry(status: Status) -> Self {
        match gatehouse_proto::status::decode_oauth(&status) {
            Some(oauth) => Self::OAuth(oauth),
            None => Self::Upstream { service: "registry", status },
        }
    }
}

impl From<AuthzError> for Status {
    fn from(error: AuthzError) -> Self {
        let message = error.to_string();
        match error {
            AuthzError::OAuth(oauth) => gatehouse_proto::status::encode_oauth(&oauth),
            AuthzError::Replayed { code_id } => {
                let oauth = OAuthError::invalid_grant("authorization code was already used");
                let detail = Detail::oauth(&oauth).with_metadata(reason::REPLAYED_CODE_ID, code_id);
                encode(ErrorCode::InvalidArgument, oauth.description.into_owned(), detail)
            }
            AuthzError::InvalidCredentials => {
                encode(ErrorCode::Unauthenticated, message, Detail::reason(reason::INVALID_CREDENTIALS))
            }
            AuthzError::Throttled { retry_after } => encode(
                ErrorCode::ResourceExhausted,
                message,
                Detail::reason(reason::THROTTLED).with_retry_after(retry_after),
            ),
            AuthzError::NoSession => encode(ErrorCode::Unauthenticated, message, Detail::reason(reason::NO_SESSION)),
            AuthzError::RequestExpired => encode(ErrorCode::NotFound, message, Detail::reason(reason::REQUEST_EXPIRED)),
            AuthzError::InvalidArgument(_) => encode(ErrorCode::InvalidArgument, message, Detail::default()),
            AuthzError::NotFound(_) => encode(ErrorCode::NotFound, message, Detail::default()),
            AuthzError::Upstream { service, status }
                if ErrorCode::from_grpc(status.code()) == ErrorCode::Unavailable =>
            {
                tracing::warn!(code = ?status.code(), service, "upstream unavailable");
                encode(ErrorCode::Unavailable, format!("{service} unavailable"), Detail::default())
            }
            AuthzError::Cache(_) => {
                tracing::error!(error = %message, "authorization cache unavailable");
                encode(ErrorCode::Unavailable, "cache unavailable", Detail::default())
            }
            // Storage that cannot be reached is an outage (503 at the edge), never INTERNAL.
            AuthzError::Storage(_) => {
                tracing::error!(error = %message, "authorization storage unavailable");
                encode(ErrorCode::Unavailable, "authorization storage unavailable", Detail::default())
            }
            AuthzError::Upstream { .. } | AuthzError::Internal(_) => {
                tracing::error!(error = %message, "authorization internal error");
                encode(ErrorCode::Internal, "internal error", Detail::default())
            }
        }
    }
}
