//! The one codec between service errors and `tonic::Status`.
//!
//! [`ErrorCode`] is the only table where gRPC and HTTP status codes are chosen.
//! OAuth errors travel as `google.rpc.ErrorInfo { reason: "<rfc code>", domain:
//! "oauth2" }` so that, say, `invalid_grant` and `invalid_scope` stay distinct
//! even though both are `INVALID_ARGUMENT` on the wire.

use std::collections::HashMap;
use std::time::Duration;

use gatehouse_oauth::{OAuthError, OAuthErrorCode};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of OAuth errors.
pub const OAUTH_DOMAIN: &str = "oauth2";
/// `ErrorInfo.domain` of Gatehouse's own (non-OAuth) error reasons.
pub const GATEHOUSE_DOMAIN: &str = "gatehouse";
/// The metadata key of a status that carries a DPoP nonce (RFC 9449 §8) for the `DPoP-Nonce` header.
pub const DPOP_NONCE_METADATA: &str = "dpop-nonce";

/// `ErrorInfo` reasons of Gatehouse's non-OAuth errors (domain `gatehouse`):
/// part of the contract, so callers can tell them apart.
pub mod reason {
    /// Login failed: unknown user or wrong password (deliberately the same).
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    /// Too many failed logins; `RetryInfo` says when to try again.
    pub const THROTTLED: &str = "throttled";
    /// No live session for the token.
    pub const NO_SESSION: &str = "no_session";
    /// A consent page was answered already or expired.
    pub const REQUEST_EXPIRED: &str = "request_expired";
    /// `ErrorInfo` metadata key on a replayed code's `invalid_grant`: the code's id.
    pub const REPLAYED_CODE_ID: &str = "replayed_code_id";
}

/// The closed set of error classes a service can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const fn grpc_code(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::Unavailable => Code::Unavailable,
            Self::Internal => Code::Internal,
        }
    }

    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::AlreadyExists | Self::FailedPrecondition => 409,
            Self::ResourceExhausted => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The class of a status received from another service. Codes no
    /// Gatehouse service sends (or transport failures) map to the nearest class.
    pub const fn from_grpc(code: Code) -> Self {
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::FailedPrecondition | Code::Aborted => Self::FailedPrecondition,
            Code::ResourceExhausted => Self::ResourceExhausted,
            // tonic reports a connection that broke mid-call (a replica that
            // crashed) as UNKNOWN "transport error"; no Gatehouse service
            // sends UNKNOWN itself, so it is an outage, not a bug.
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => Self::Unavailable,
            _ => Self::Internal,
        }
    }

    /// The gRPC class an OAuth error travels under.
    pub const fn for_oauth(code: OAuthErrorCode) -> Self {
        match code {
            OAuthErrorCode::InvalidClient
            | OAuthErrorCode::InvalidToken
            | OAuthErrorCode::InvalidDpopProof
            | OAuthErrorCode::UseDpopNonce
            | OAuthErrorCode::InsufficientUserAuthentication => Self::Unauthenticated,
            OAuthErrorCode::AccessDenied | OAuthErrorCode::UnauthorizedClient | OAuthErrorCode::InsufficientScope => {
                Self::PermissionDenied
            }
            OAuthErrorCode::ServerError => Self::Internal,
            OAuthErrorCode::TemporarilyUnavailable => Self::Unavailable,
            OAuthErrorCode::InvalidRequest
            | OAuthErrorCode::InvalidGrant
            | OAuthErrorCode::UnsupportedGrantType
            | OAuthErrorCode::InvalidScope
            | OAuthErrorCode::InvalidTarget
            | OAuthErrorCode::InvalidRedirectUri
            | OAuthErrorCode::InvalidClientMetadata
            | OAuthErrorCode::UnsupportedResponseType
            | OAuthErrorCode::UnsupportedTokenType
            // The device grant's polling answers: the client keeps polling (RFC 8628 §3.5).
            | OAuthErrorCode::AuthorizationPending
            | OAuthErrorCode::SlowDown
            | OAuthErrorCode::ExpiredToken
            // Authorization-request errors, only ever redirected to the client.
            | OAuthErrorCode::LoginRequired
            | OAuthErrorCode::ConsentRequired
            | OAuthErrorCode::InteractionRequired
            | OAuthErrorCode::UnmetAuthenticationRequirements
            | OAuthErrorCode::RequestNotSupported
            | OAuthErrorCode::RequestUriNotSupported => Self::InvalidArgument,
        }
    }
}

/// The HTTP surfaces whose answer to an error differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The token, revocation and introspection endpoints (RFC 6749 §5.2):
    /// every client error is 400 except `invalid_client` (401).
    TokenEndpoint,
    /// A protected resource (RFC 6750 §3.1) and the REST API: the class's
    /// own status (401 `invalid_token`, 403 `insufficient_scope`, ...).
    Resource,
}

/// The OAuth error code an error is reported under on an OAuth surface: the
/// service's own, or the nearest one for its class.
pub const fn oauth_code(class: ErrorCode, oauth: Option<OAuthErrorCode>) -> OAuthErrorCode {
    match (oauth, class) {
        (Some(code), _) => code,
        // No RFC 6749 code means "too many requests"; this one tells a client to come back
        // later, and the 429 with Retry-After says when.
        (None, ErrorCode::Unavailable | ErrorCode::ResourceExhausted) => OAuthErrorCode::TemporarilyUnavailable,
        (None, ErrorCode::Internal) => OAuthErrorCode::ServerError,
        (None, _) => OAuthErrorCode::InvalidRequest,
    }
}

/// The one table of HTTP statuses: what `surface` answers for an error of
/// `class` carrying `oauth`.
pub const fn http_status(surface: Surface, class: ErrorCode, oauth: Option<OAuthErrorCode>) -> u16 {
    if matches!(class, ErrorCode::ResourceExhausted) {
        return 429;
    }
    match surface {
        Surface::Resource => class.http_status(),
        Surface::TokenEndpoint => match oauth_code(class, oauth) {
            OAuthErrorCode::InvalidClient => 401,
            OAuthErrorCode::TemporarilyUnavailable => 503,
            OAuthErrorCode::ServerError => 500,
            _ => 400,
        },
    }
}

/// The RFC 6750 §3 `WWW-Authenticate` value of a protected resource's
/// refusal (401 or 403 only): no error attribute when no token was sent
/// (§3.1), `insufficient_scope` with the scope needed, `invalid_token`
/// otherwise. `None` for answers that are not about the token (a 503).
pub fn bearer_challenge(status: u16, token_sent: bool, oauth: Option<OAuthErrorCode>, scope: &str) -> Option<String> {
    if !matches!(status, 401 | 403) {
        return None;
    }
    Some(match oauth {
        _ if !token_sent => r#"Bearer realm="gatehouse""#.to_owned(),
        Some(OAuthErrorCode::InsufficientScope) => {
            format!(r#"Bearer realm="gatehouse", error="insufficient_scope", scope="{scope}""#)
        }
        _ => r#"Bearer realm="gatehouse", error="invalid_token""#.to_owned(),
    })
}

/// RFC 9449 §7.1: the `WWW-Authenticate: DPoP` value beside the bearer one
/// (a resource accepts both schemes, §7.2): the proof algorithms, and the
/// error when a token was sent (`invalid_dpop_proof` for a bad proof).
pub fn dpop_challenge(status: u16, token_sent: bool, oauth: Option<OAuthErrorCode>) -> Option<String> {
    if status != 401 {
        return None;
    }
    let algs = gatehouse_oauth::dpop::ALGORITHMS.join(" ");
    Some(match oauth {
        _ if !token_sent => format!(r#"DPoP algs="{algs}""#),
        Some(code @ (OAuthErrorCode::InvalidDpopProof | OAuthErrorCode::UseDpopNonce)) => {
            format!(r#"DPoP error="{}", algs="{algs}""#, code.as_str())
        }
        _ => format!(r#"DPoP error="invalid_token", algs="{algs}""#),
    })
}

/// Extra, machine-readable detail carried next to the message.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// `ErrorInfo` reason and domain; set for OAuth errors and named Gatehouse reasons.
    pub reason: Option<(String, &'static str)>,
    /// `ErrorInfo` metadata.
    pub metadata: HashMap<String, String>,
    /// `BadRequest` field violation: (field, rule).
    pub field: Option<(String, String)>,
    /// `RetryInfo` delay.
    pub retry_after: Option<Duration>,
}

impl Detail {
    pub fn oauth(error: &OAuthError) -> Self {
        Self { reason: Some((error.code.as_str().to_owned(), OAUTH_DOMAIN)), ..Self::default() }
    }

    pub fn reason(reason: &str) -> Self {
        Self { reason: Some((reason.to_owned(), GATEHOUSE_DOMAIN)), ..Self::default() }
    }

    pub fn field(field: &str, rule: &str) -> Self {
        Self { field: Some((field.to_owned(), rule.to_owned())), ..Self::default() }
    }

    #[must_use]
    pub fn with_metadata(mut self, key: &str, value: String) -> Self {
        self.metadata.insert(key.to_owned(), value);
        self
    }

    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }
}

/// Builds the status every service answers with.
pub fn encode(code: ErrorCode, message: impl Into<String>, detail: Detail) -> Status {
    // A status message stays small and plain whatever a caller sent: it
    // travels in an HTTP/2 header and ends up in error_description or msg.
    let message: String = message.into();
    let message = gatehouse_oauth::error::safe_description(&message).into_owned();
    let mut details = ErrorDetails::new();
    if let Some((reason, domain)) = detail.reason {
        details.set_error_info(reason, domain, detail.metadata);
    }
    if let Some((field, rule)) = detail.field {
        details.add_bad_request_violation(field, gatehouse_oauth::error::safe_description(&rule).into_owned());
    }
    if detail.retry_after.is_some() {
        details.set_retry_info(detail.retry_after);
    }
    Status::with_error_details(code.grpc_code(), message, details)
}

/// How a service answers one error: its class, what the caller is told, the
/// machine-readable detail, and whether the error is logged.
#[derive(Debug)]
pub struct Answer {
    pub code: ErrorCode,
    /// Sent to the caller: the error's own words, or a fixed sentence when
    /// its text is internal (storage, a bug, another service's failure).
    pub message: String,
    pub detail: Detail,
    pub log: Log,
}

/// Whether the encoder logs an error (once, with its own text), and how loud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// The caller's fault, or an expected refusal: nothing to log.
    No,
    /// An outage the caller may retry (a dependency down, a cache write refused).
    Warn,
    /// A broken invariant or storage failure.
    Error,
}

impl Answer {
    /// The caller is told the error's own words.
    pub fn said(code: ErrorCode, error: &impl std::fmt::Display) -> Self {
        Self { code, message: error.to_string(), detail: Detail::default(), log: Log::No }
    }

    /// The caller is told `message`; the error's own text stays in the log.
    pub fn hidden(code: ErrorCode, message: impl Into<String>, log: Log) -> Self {
        Self { code, message: message.into(), detail: Detail::default(), log }
    }

    /// An OAuth error, as the gateway renders it in its caller's format.
    pub fn oauth(error: &OAuthError) -> Self {
        Self::said(ErrorCode::for_oauth(error.code), &error.description).with_detail(Detail::oauth(error))
    }

    /// A field that breaks a rule: `field: rule`, and the field named in the detail.
    pub fn invalid(field: &str, rule: &str) -> Self {
        Self::said(ErrorCode::InvalidArgument, &format!("{field}: {rule}")).with_detail(Detail::field(field, rule))
    }

    /// Another service failed: unavailable when it was, internal otherwise;
    /// its message is logged, the caller told only which service.
    pub fn upstream(service: &str, status: &Status) -> Self {
        let code = match ErrorCode::from_grpc(status.code()) {
            ErrorCode::Unavailable => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        Self::hidden(code, format!("{service} unavailable"), Log::Warn)
    }

    #[must_use]
    pub fn with_detail(self, detail: Detail) -> Self {
        Self { detail, ..self }
    }
}

/// The one error trait of the services: each says, in one match, how every
/// variant of its error is answered ([`ServiceError::answer`]), and
/// [`to_status`] encodes it the same way for all of them.
pub trait ServiceError: std::error::Error {
    /// The service's name in the log.
    const SERVICE: &'static str;

    fn answer(&self) -> Answer;
}

/// The one encoder: logs an internal error once (its text is never sent)
/// and builds the status.
pub fn to_status<E: ServiceError>(error: &E) -> Status {
    let answer = error.answer();
    match answer.log {
        Log::No => {}
        Log::Warn => tracing::warn!(service = E::SERVICE, error = %error, answer = %answer.message, "request failed"),
        Log::Error => tracing::error!(service = E::SERVICE, error = %error, answer = %answer.message, "request failed"),
    }
    encode(answer.code, answer.message, answer.detail)
}

/// The text an error table's internal errors carry: it must never reach a caller.
pub const SECRET_TEXT: &str = "SECRET-INTERNAL-TEXT";

/// Checks a service's error table: each row is an error, its gRPC code, its
/// HTTP status, and whether the caller reads the error's own words (an
/// OAuth error as its description); no answer may carry [`SECRET_TEXT`].
/// `rows` is how many variants the service has (its `row` function's match
/// fails to compile when a variant is added without a row).
pub fn check_error_table<E: ServiceError>(table: Vec<(E, Code, u16, bool)>, row: fn(&E) -> usize, rows: usize) {
    let listed: std::collections::BTreeSet<usize> = table.iter().map(|(error, ..)| row(error)).collect();
    assert_eq!(listed.len(), rows, "every variant is in the table");
    for (error, code, http, said) in table {
        let status = to_status(&error);
        assert_eq!(status.code(), code, "{error}");
        assert_eq!(error.answer().code.http_status(), http, "{error}");
        assert!(!status.message().contains(SECRET_TEXT), "{error}: internal text sent");
        assert_eq!(error.to_string().contains(status.message()), said, "{error}: {}", status.message());
    }
}

/// Builds the status of an OAuth error.
pub fn encode_oauth(error: &OAuthError) -> Status {
    encode(ErrorCode::for_oauth(error.code), error.description.clone().into_owned(), Detail::oauth(error))
}

/// Reads an OAuth error back from a status; `None` when the status carries none.
pub fn decode_oauth(status: &Status) -> Option<OAuthError> {
    let details = status.get_error_details();
    let info = details.error_info()?;
    if info.domain != OAUTH_DOMAIN {
        return None;
    }
    let code = OAuthErrorCode::parse(&info.reason)?;
    Some(OAuthError::new(code, status.message().to_owned()))
}

/// Reads a Gatehouse reason (`ErrorInfo` in the `gatehouse` domain) and its metadata.
pub fn decode_reason(status: &Status) -> Option<(String, HashMap<String, String>)> {
    let details = status.get_error_details();
    let info = details.error_info()?;
    Some((info.reason.clone(), info.metadata.clone()))
}

/// Reads the `RetryInfo` delay, if any.
pub fn decode_retry_after(status: &Status) -> Option<Duration> {
    status.get_error_details().retry_info()?.retry_delay
}

/// Reads the first `BadRequest` field violation, if any: (field, rule).
pub fn decode_field(status: &Status) -> Option<(String, String)> {
    let details = status.get_error_details();
    let violation = details.bad_request()?.field_violations.first()?;
    Some((violation.field.clone(), violation.description.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oauth_code_round_trips_through_a_status() {
        for code in OAuthErrorCode::ALL {
            let error = OAuthError::new(code, "some specific description");
            let status = encode_oauth(&error);
            assert_eq!(status.code(), ErrorCode::for_oauth(code).grpc_code());
            assert_eq!(decode_oauth(&status), Some(error));
        }
    }

    #[test]
    fn codes_sharing_a_grpc_code_stay_distinct() {
        let grant = encode_oauth(&OAuthError::invalid_grant("x"));
        let scope = encode_oauth(&OAuthError::invalid_scope("x"));
        assert_eq!(grant.code(), scope.code());
        assert_ne!(decode_oauth(&grant), decode_oauth(&scope));
    }

    #[test]
    fn plain_statuses_carry_no_oauth_error() {
        assert_eq!(decode_oauth(&Status::internal("boom")), None);
        let reasoned = encode(ErrorCode::NotFound, "no such user", Detail::reason("user_not_found"));
        assert_eq!(decode_oauth(&reasoned), None);
        assert_eq!(decode_reason(&reasoned).map(|r| r.0), Some("user_not_found".to_owned()));
    }

    #[test]
    fn field_violation_retry_and_metadata_survive_the_trip() {
        let status = encode(
            ErrorCode::ResourceExhausted,
            "too many attempts",
            Detail::reason("throttled")
                .with_metadata("scope", "username".to_owned())
                .with_retry_after(Duration::from_secs(30)),
        );
        assert_eq!(decode_retry_after(&status), Some(Duration::from_secs(30)));
        assert_eq!(decode_reason(&status).unwrap().1["scope"], "username");
        let field = encode(ErrorCode::InvalidArgument, "bad", Detail::field("email", "must contain @"));
        assert_eq!(decode_field(&field), Some(("email".to_owned(), "must contain @".to_owned())));
    }

    #[test]
    fn the_token_endpoint_answers_400_but_for_client_authentication_and_outages() {
        use OAuthErrorCode::*;
        let status = |code| http_status(Surface::TokenEndpoint, ErrorCode::for_oauth(code), Some(code));
        assert_eq!(status(InvalidClient), 401);
        assert_eq!(status(UnauthorizedClient), 400, "RFC 6749 §5.2, though PERMISSION_DENIED on the wire");
        assert_eq!(status(InvalidGrant), 400);
        assert_eq!(status(TemporarilyUnavailable), 503);
        assert_eq!(http_status(Surface::TokenEndpoint, ErrorCode::ResourceExhausted, None), 429);
        assert_eq!(http_status(Surface::TokenEndpoint, ErrorCode::Internal, None), 500);
        let resource = |code| http_status(Surface::Resource, ErrorCode::for_oauth(code), Some(code));
        assert_eq!((resource(InvalidToken), resource(InsufficientScope)), (401, 403));
        assert_eq!(bearer_challenge(503, true, None, "user"), None);
        assert_eq!(bearer_challenge(401, false, Some(InvalidToken), "user").unwrap(), r#"Bearer realm="gatehouse""#);
        assert!(bearer_challenge(403, true, Some(InsufficientScope), "user").unwrap().contains(r#"scope="user""#));
    }

    #[test]
    fn every_class_has_a_consistent_grpc_and_http_code() {
        use ErrorCode::*;
        for code in [
            InvalidArgument,
            Unauthenticated,
            PermissionDenied,
            NotFound,
            AlreadyExists,
            FailedPrecondition,
            ResourceExhausted,
            Unavailable,
            Internal,
        ] {
            assert_eq!(ErrorCode::from_grpc(code.grpc_code()), code);
            assert!((400..600).contains(&code.http_status()));
        }
    }
}
