//! The authorization service's one error type and its mapping onto `Status`.

use std::time::Duration;

use gatehouse_oauth::OAuthError;
use gatehouse_proto::status::{Answer, Detail, ErrorCode, Log, ServiceError, reason, to_status};
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
    /// The second step of a sign-in came too late (or for no sign-in).
    #[error("the sign-in waited too long for its second step: enter the username and password again")]
    SecondStepExpired,
    #[error("the authorization request expired or was already answered: start again from the application")]
    RequestExpired,
    /// A request field breaks a rule (the caller's fault).
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
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
    pub(crate) fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Invalid { field, rule: rule.into() }
    }

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

impl ServiceError for AuthzError {
    const SERVICE: &'static str = "authorization";

    fn answer(&self) -> Answer {
        match self {
            Self::OAuth(oauth) => Answer::oauth(oauth),
            Self::Replayed { code_id } => {
                let oauth = OAuthError::invalid_grant("authorization code was already used");
                Answer::said(ErrorCode::InvalidArgument, &oauth.description)
                    .with_detail(Detail::oauth(&oauth).with_metadata(reason::REPLAYED_CODE_ID, code_id.clone()))
            }
            Self::InvalidCredentials => {
                Answer::said(ErrorCode::Unauthenticated, self).with_detail(Detail::reason(reason::INVALID_CREDENTIALS))
            }
            Self::Throttled { retry_after } => Answer::said(ErrorCode::ResourceExhausted, self)
                .with_detail(Detail::reason(reason::THROTTLED).with_retry_after(*retry_after)),
            Self::NoSession | Self::SecondStepExpired => {
                Answer::said(ErrorCode::Unauthenticated, self).with_detail(Detail::reason(reason::NO_SESSION))
            }
            Self::RequestExpired => {
                Answer::said(ErrorCode::NotFound, self).with_detail(Detail::reason(reason::REQUEST_EXPIRED))
            }
            Self::Invalid { field, rule } => Answer::invalid(field, rule),
            Self::NotFound(_) => Answer::said(ErrorCode::NotFound, self),
            Self::Upstream { service, status } => Answer::upstream(service, status),
            Self::Cache(_) => Answer::hidden(ErrorCode::Unavailable, "cache unavailable", Log::Error),
            // Storage that cannot be reached is an outage (503 at the edge), never INTERNAL.
            Self::Storage(_) => Answer::hidden(ErrorCode::Unavailable, "authorization storage unavailable", Log::Error),
            Self::Internal(_) => Answer::hidden(ErrorCode::Internal, "internal error", Log::Error),
        }
    }
}

impl From<AuthzError> for Status {
    fn from(error: AuthzError) -> Self {
        to_status(&error)
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_oauth::OAuthErrorCode;
    use tonic::Code;

    use super::*;

    /// The row of each variant (a new variant does not compile until it has one).
    fn row(error: &AuthzError) -> usize {
        match error {
            AuthzError::OAuth(_) => 0,
            AuthzError::Replayed { .. } => 1,
            AuthzError::InvalidCredentials => 2,
            AuthzError::Throttled { .. } => 3,
            AuthzError::NoSession => 4,
            AuthzError::RequestExpired => 5,
            AuthzError::Invalid { .. } => 6,
            AuthzError::NotFound(_) => 7,
            AuthzError::Internal(_) => 8,
            AuthzError::Upstream { .. } => 9,
            AuthzError::Cache(_) => 10,
            AuthzError::Storage(_) => 11,
            AuthzError::SecondStepExpired => 12,
        }
    }

    #[test]
    fn every_variant_has_one_grpc_and_http_answer_and_internal_text_is_never_sent() {
        let secret = gatehouse_proto::status::SECRET_TEXT;
        // (error, gRPC code, HTTP status, whether the caller reads the error's own text)
        let table: Vec<(AuthzError, Code, u16, bool)> = vec![
            (OAuthError::new(OAuthErrorCode::InvalidScope, "unknown").into(), Code::InvalidArgument, 400, true),
            (AuthzError::Replayed { code_id: "c1".to_owned() }, Code::InvalidArgument, 400, true),
            (AuthzError::InvalidCredentials, Code::Unauthenticated, 401, true),
            (AuthzError::Throttled { retry_after: Duration::from_secs(3) }, Code::ResourceExhausted, 429, true),
            (AuthzError::NoSession, Code::Unauthenticated, 401, true),
            (AuthzError::SecondStepExpired, Code::Unauthenticated, 401, true),
            (AuthzError::RequestExpired, Code::NotFound, 404, true),
            (AuthzError::invalid("client_id", "names no registered application"), Code::InvalidArgument, 400, true),
            (AuthzError::NotFound("no such grant".to_owned()), Code::NotFound, 404, true),
            (AuthzError::Internal(secret.to_owned()), Code::Internal, 500, false),
            (
                AuthzError::Upstream { service: "registry", status: Status::unavailable(secret) },
                Code::Unavailable,
                503,
                false,
            ),
            (AuthzError::Cache(KvError(secret.to_owned())), Code::Unavailable, 503, false),
            (sea_orm::DbErr::Custom(secret.to_owned()).into(), Code::Unavailable, 503, false),
        ];
        gatehouse_proto::status::check_error_table(table, row, 13);
    }
}
