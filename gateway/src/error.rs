//! One error type for every surface of the gateway. What a service said
//! arrives as a `Status`; this decodes it once, and the renderers in
//! `render` turn it into each surface's format.

use std::time::Duration;

use gatehouse_oauth::OAuthError;
use gatehouse_proto::status::{ErrorCode, decode_oauth, decode_reason, decode_retry_after};
use tonic::Status;

#[derive(Debug, Clone)]
pub(crate) struct GatewayError {
    pub(crate) code: ErrorCode,
    /// Safe to show: the service's message, or the gateway's own.
    pub(crate) message: String,
    pub(crate) oauth: Option<OAuthError>,
    /// A Gatehouse `ErrorInfo` reason, such as `throttled`.
    pub(crate) reason: Option<String>,
    pub(crate) retry_after: Option<Duration>,
}

impl GatewayError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), oauth: None, reason: None, retry_after: None }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub(crate) fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub(crate) fn http_status(&self) -> http::StatusCode {
        http::StatusCode::from_u16(self.code.http_status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub(crate) fn is_reason(&self, reason: &str) -> bool {
        self.reason.as_deref() == Some(reason)
    }
}

/// An OAuth rule refused the request before any service saw it; the
/// status class is the one the services would have used.
impl From<OAuthError> for GatewayError {
    fn from(oauth: OAuthError) -> Self {
        let mut error = Self::new(ErrorCode::for_oauth(oauth.code), oauth.description.clone().into_owned());
        error.oauth = Some(oauth);
        error
    }
}

impl From<Status> for GatewayError {
    fn from(status: Status) -> Self {
        let code = ErrorCode::from_grpc(status.code());
        let message = match code {
            // A transport failure's text names internal addresses: keep it in the log.
            ErrorCode::Unavailable => {
                tracing::warn!(code = ?status.code(), message = status.message(), "internal service unavailable");
                "temporarily unavailable, try again shortly".to_owned()
            }
            ErrorCode::Internal => {
                tracing::error!(code = ?status.code(), message = status.message(), "internal service error");
                "internal error".to_owned()
            }
            _ => status.message().to_owned(),
        };
        let retry_after =
            decode_retry_after(&status).or((code == ErrorCode::Unavailable).then_some(Duration::from_secs(5)));
        Self {
            code,
            message,
            oauth: decode_oauth(&status),
            reason: decode_reason(&status).map(|(reason, _)| reason),
            retry_after,
        }
    }
}
