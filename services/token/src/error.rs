//! The token service's one error type and its mapping onto `Status`.

use gatehouse_oauth::OAuthError;
use gatehouse_proto::status::{Answer, Detail, ErrorCode, Log, ServiceError, reason, to_status};
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
    /// The caller asks again sooner than a rule allows (the rule is the message).
    #[error("{rule}")]
    TooSoon { rule: String, retry_after: std::time::Duration },
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

impl ServiceError for TokenError {
    const SERVICE: &'static str = "token";

    fn answer(&self) -> Answer {
        match self {
            Self::OAuth(oauth) => Answer::oauth(oauth),
            Self::Upstream { service, status } => Answer::upstream(service, status),
            // An unreachable database means "cannot answer", never "inactive".
            Self::Storage(_) => Answer::hidden(ErrorCode::Unavailable, "token storage unavailable", Log::Error),
            Self::Cache(_) => Answer::hidden(ErrorCode::Unavailable, "token cache unavailable", Log::Warn),
            Self::Throttled { retry_after } => Answer::said(
                ErrorCode::ResourceExhausted,
                &format!("too many failed attempts from here; retry in {} s", retry_after.as_secs().max(1)),
            )
            .with_detail(Detail::reason(reason::THROTTLED).with_retry_after(*retry_after)),
            Self::TooSoon { retry_after, .. } => Answer::said(ErrorCode::ResourceExhausted, self)
                .with_detail(Detail::reason(reason::THROTTLED).with_retry_after(*retry_after)),
            Self::Invalid { field, rule } => Answer::invalid(field, rule),
            Self::NotFound(_) => Answer::said(ErrorCode::NotFound, self),
            Self::FailedPrecondition(_) => Answer::said(ErrorCode::FailedPrecondition, self),
            Self::Unavailable(_) => Answer::said(ErrorCode::Unavailable, self),
            Self::Internal(_) => Answer::hidden(ErrorCode::Internal, "internal error", Log::Error),
            Self::DeadlineExceeded => {
                Answer::said(ErrorCode::Unavailable, &"deadline exceeded before the request committed")
            }
        }
    }
}

impl From<TokenError> for Status {
    fn from(error: TokenError) -> Self {
        to_status(&error)
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_oauth::OAuthErrorCode;
    use tonic::Code;

    use super::*;

    /// The row of each variant (a new variant does not compile until it has one).
    fn row(error: &TokenError) -> usize {
        match error {
            TokenError::OAuth(_) => 0,
            TokenError::Upstream { .. } => 1,
            TokenError::Storage(_) => 2,
            TokenError::Cache(_) => 3,
            TokenError::Throttled { .. } => 4,
            TokenError::Invalid { .. } => 5,
            TokenError::NotFound(_) => 6,
            TokenError::DeadlineExceeded => 7,
            TokenError::FailedPrecondition(_) => 8,
            TokenError::Unavailable(_) => 9,
            TokenError::Internal(_) => 10,
            TokenError::TooSoon { .. } => 11,
        }
    }

    #[test]
    fn every_variant_has_one_grpc_and_http_answer_and_internal_text_is_never_sent() {
        let secret = gatehouse_proto::status::SECRET_TEXT;
        let upstream = |status| TokenError::Upstream { service: "registry", status };
        // (error, gRPC code, HTTP status, whether the caller reads the error's own text)
        let table: Vec<(TokenError, Code, u16, bool)> = vec![
            (OAuthError::new(OAuthErrorCode::InvalidGrant, "used").into(), Code::InvalidArgument, 400, true),
            (upstream(Status::unavailable(secret)), Code::Unavailable, 503, false),
            (upstream(Status::internal(secret)), Code::Internal, 500, false),
            (sea_orm::DbErr::Custom(secret.to_owned()).into(), Code::Unavailable, 503, false),
            (TokenError::Cache(secret.to_owned()), Code::Unavailable, 503, false),
            (
                TokenError::Throttled { retry_after: std::time::Duration::from_secs(3) },
                Code::ResourceExhausted,
                429,
                false,
            ),
            (TokenError::Invalid { field: "name", rule: "is empty".to_owned() }, Code::InvalidArgument, 400, true),
            (TokenError::NotFound("no such key".to_owned()), Code::NotFound, 404, true),
            (TokenError::DeadlineExceeded, Code::Unavailable, 503, false),
            (TokenError::FailedPrecondition("not ready".to_owned()), Code::FailedPrecondition, 409, true),
            (TokenError::Unavailable("try again".to_owned()), Code::Unavailable, 503, true),
            (TokenError::Internal(secret.to_owned()), Code::Internal, 500, false),
            (
                TokenError::TooSoon { rule: "one a second".to_owned(), retry_after: std::time::Duration::from_secs(1) },
                Code::ResourceExhausted,
                429,
                true,
            ),
        ];
        gatehouse_proto::status::check_error_table(table, row, 12);
    }
}
