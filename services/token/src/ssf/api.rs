//! The receiver's side (SSF §8.1 stream management, RFC 8936 poll): who
//! is asking (an application's own access token with `ssf.manage`, or
//! `ssf.read` to read), what it asks, and the answers as SSF's JSON.

use std::time::Duration;

use gatehouse_oauth::token::TokenKind;
use gatehouse_oauth::{OAuthError, OAuthErrorCode};
use gatehouse_proto::pb::token::v1::{self as pb, SsfOperation};
use gatehouse_runtime::metrics::{SetLabels, metrics};
use serde_json::{Map, Value, json};

use super::events::{FRAMEWORK_EVENTS, SUPPORTED_EVENTS, VERIFICATION, is_signal_type};
use super::store::{Outgoing, StreamRow};
use super::{MIN_VERIFICATION_INTERVAL, POLL, PUSH};
use crate::error::{TokenError, TokenResult};
use crate::service::TokenService;

/// The scope that manages streams, and the one that only reads them (CAEP interoperability profile).
pub(crate) const MANAGE_SCOPE: &str = "ssf.manage";
pub(crate) const READ_SCOPE: &str = "ssf.read";

/// Bounds on what a receiver sends.
const MAX_DESCRIPTION: usize = 1000;
const MAX_EVENTS_REQUESTED: usize = 64;
const MAX_URL: usize = 2048;
const MAX_AUTHORIZATION: usize = 4096;
const MAX_STATE: usize = 1024;
const MAX_REASON: usize = 1000;
/// Most SETs one poll answer carries, and the default.
const MAX_POLL: u64 = 1000;
const DEFAULT_POLL: u64 = 100;
/// The longest a poll waits for SETs (within the caller's deadline).
const LONG_POLL: Duration = Duration::from_secs(20);
/// How often a waiting poll looks for SETs another replica wrote.
const POLL_LOOK: Duration = Duration::from_millis(100);

/// What the trail reader needs of a stream.
#[derive(Debug, Clone)]
pub(crate) struct StreamView {
    pub(crate) stream_id: String,
    pub(crate) client_id: String,
    delivered: Vec<String>,
}

impl StreamView {
    pub(crate) fn delivers(&self, event_type: &str) -> bool {
        self.delivered.iter().any(|e| e == event_type)
    }
}

impl From<StreamRow> for StreamView {
    fn from(row: StreamRow) -> Self {
        let delivered = delivered(&requested(&row));
        Self { stream_id: row.stream_id, client_id: row.client_id, delivered }
    }
}

fn requested(row: &StreamRow) -> Vec<String> {
    serde_json::from_str(&row.events_requested).unwrap_or_default()
}

/// SSF §8.1.1: what is both supported and requested (unknown types ignored).
fn delivered(requested: &[String]) -> Vec<String> {
    SUPPORTED_EVENTS
        .iter()
        .filter(|supported| is_signal_type(supported) && requested.iter().any(|r| r == *supported))
        .map(|e| (*e).to_owned())
        .collect()
}

fn invalid(field: &'static str, rule: impl Into<String>) -> TokenError {
    TokenError::Invalid { field, rule: rule.into() }
}

fn not_found(stream_id: &str) -> TokenError {
    TokenError::NotFound(format!("this receiver has no stream {stream_id:?}"))
}

/// The request's JSON object (an empty body reads as `{}`).
fn object(body: &[u8]) -> TokenResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("body", "must be a JSON object")),
        Err(error) => Err(invalid("body", format!("is not JSON: {error}"))),
    }
}

fn string_field<'a>(body: &'a Map<String, Value>, field: &'static str, max: usize) -> TokenResult<Option<&'a str>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= max => Ok(Some(text)),
        Some(Value::String(_)) => Err(invalid(field, format!("must be at most {max} characters"))),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// The stream named by the query, or by `stream_id` in the body.
fn stream_id_of<'a>(request: &'a pb::SsfRequest, body: &'a Map<String, Value>) -> TokenResult<&'a str> {
    let id =
        if request.stream_id.is_empty() { string_field(body, "stream_id", 128)? } else { Some(&*request.stream_id) };
    id.filter(|id| !id.is_empty()).ok_or_else(|| invalid("stream_id", "is required"))
}

/// The receiver-supplied delivery: (method, endpoint_url, authorization_header).
type Delivery = (String, String, Option<String>);

fn delivery(body: &Map<String, Value>) -> TokenResult<Delivery> {
    let Some(delivery) = body.get("delivery").filter(|d| !d.is_null()) else {
        // SSF §8.1.1.1: no delivery asked is poll.
        return Ok((POLL.to_owned(), String::new(), None));
    };
    let Value::Object(delivery) = delivery else { return Err(invalid("delivery", "must be a JSON object")) };
    let method = string_field(delivery, "method", 256)?.unwrap_or(POLL);
    let url = string_field(delivery, "endpoint_url", MAX_URL)?;
    let authorization = string_field(delivery, "authorization_header", MAX_AUTHORIZATION)?;
    match method {
        PUSH => {
            let Some(url) = url else { return Err(invalid("delivery.endpoint_url", "is required for push delivery")) };
            let parsed = url::Url::parse(url).map_err(|_| invalid("delivery.endpoint_url", "must be an https URL"))?;
            if parsed.scheme() != "https"
                || parsed.host_str().is_none()
                || !parsed.username().is_empty()
                || parsed.password().is_some()
                || parsed.fragment().is_some()
            {
                return Err(invalid("delivery.endpoint_url", "must be an https URL without user info or fragment"));
            }
            if let Some(value) = authorization
                && (value.is_empty() || !value.bytes().all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic()))
            {
                return Err(invalid("delivery.authorization_header", "must be a non-empty HTTP header value"));
            }
            Ok((PUSH.to_owned(), url.to_owned(), authorization.map(str::to_owned)))
        }
        POLL => {
            if url.is_some() {
                return Err(invalid("delivery.endpoint_url", "is the transmitter's to assign for poll delivery"));
            }
            if authorization.is_some() {
                return Err(invalid("delivery.authorization_header", "applies to push delivery only"));
            }
            Ok((POLL.to_owned(), String::new(), None))
        }
        _ => Err(invalid("delivery.method", format!("must be {PUSH} (push) or {POLL} (poll)"))),
    }
}

/// `events_requested`: absent means every event Gatehouse emits.
fn events_requested(body: &Map<String, Value>) -> TokenResult<Option<Vec<String>>> {
    match body.get("events_requested") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(events)) if events.len() <= MAX_EVENTS_REQUESTED => events
            .iter()
            .map(|event| match event {
                Value::String(text) if text.len() <= 512 => Ok(text.clone()),
                _ => Err(invalid("events_requested", "must be an array of event-type URIs")),
            })
            .collect::<TokenResult<Vec<_>>>()
            .map(Some),
        Some(Value::Array(_)) => {
            Err(invalid("events_requested", format!("must list at most {MAX_EVENTS_REQUESTED} event types")))
        }
        Some(_) => Err(invalid("events_requested", "must be an array of event-type URIs")),
    }
}

fn every_signal() -> Vec<String> {
    SUPPORTED_EVENTS.iter().filter(|e| is_signal_type(e)).map(|e| (*e).to_owned()).collect()
}

impl TokenService {
    /// One receiver request (the `Ssf` RPC).
    pub(crate) async fn ssf(&self, request: pb::SsfRequest) -> TokenResult<pb::SsfResponse> {
        let operation = request.operation();
        let reads = matches!(operation, SsfOperation::ReadStreams | SsfOperation::ReadStatus | SsfOperation::Poll);
        let client_id = self.receiver(&request, reads).await?;
        let body = object(&request.body)?;
        let answer = |value: Value| Ok(pb::SsfResponse { body: value.to_string().into_bytes(), created: false });
        let none = || Ok(pb::SsfResponse { body: Vec::new(), created: false });
        match operation {
            SsfOperation::Unspecified => Err(invalid("operation", "is required")),
            SsfOperation::CreateStream => {
                let config = self.create_stream(&client_id, &body).await?;
                Ok(pb::SsfResponse { body: config.to_string().into_bytes(), created: true })
            }
            SsfOperation::ReadStreams if request.stream_id.is_empty() => {
                let streams = self.inner.ssf.store.streams_of(&client_id).await?;
                answer(Value::Array(streams.iter().map(|s| self.configuration(s)).collect()))
            }
            SsfOperation::ReadStreams => answer(self.configuration(&self.owned(&client_id, &request.stream_id).await?)),
            SsfOperation::UpdateStream | SsfOperation::ReplaceStream => {
                let replace = operation == SsfOperation::ReplaceStream;
                let mut stream = self.owned(&client_id, stream_id_of(&request, &body)?).await?;
                self.reconfigure(&mut stream, &body, replace)?;
                self.inner.ssf.store.update(&stream).await?;
                answer(self.configuration(&stream))
            }
            SsfOperation::DeleteStream => {
                let stream = self.owned(&client_id, stream_id_of(&request, &body)?).await?;
                self.inner.ssf.store.delete(&stream.stream_id).await?;
                none()
            }
            SsfOperation::ReadStatus => {
                let stream = self.owned(&client_id, stream_id_of(&request, &body)?).await?;
                let mut answer_body = status(&stream);
                // Beyond SSF §8.1.2: what the receiver needs to see it is behind.
                answer_body["backlog"] = Value::from(self.inner.ssf.store.backlog(&stream.stream_id).await?);
                answer_body["dropped"] = Value::from(stream.dropped);
                if !stream.last_error.is_empty() {
                    answer_body["last_error"] = Value::from(stream.last_error.clone());
                }
                answer(answer_body)
            }
            SsfOperation::UpdateStatus => {
                let mut stream = self.owned(&client_id, stream_id_of(&request, &body)?).await?;
                let wanted = string_field(&body, "status", 16)?.ok_or_else(|| invalid("status", "is required"))?;
                if !matches!(wanted, "enabled" | "paused" | "disabled") {
                    return Err(invalid("status", "must be enabled, paused or disabled"));
                }
                stream.status = wanted.to_owned();
                stream.reason = string_field(&body, "reason", MAX_REASON)?.unwrap_or_default().to_owned();
                stream.updated_at = self.now_ms();
                self.inner.ssf.store.update(&stream).await?;
                // A resumed stream sends what it held, and takes events again.
                self.inner.ssf.wake();
                self.inner.ssf.tail_due.notify_one();
                answer(status(&stream))
            }
            SsfOperation::AddSubject | SsfOperation::RemoveSubject => {
                let stream = self.owned(&client_id, stream_id_of(&request, &body)?).await?;
                let adding = operation == SsfOperation::AddSubject;
                if let Some(verified) = body.get("verified")
                    && !verified.is_boolean()
                {
                    return Err(invalid("verified", "must be true or false"));
                }
                let subject = body.get("subject").ok_or_else(|| invalid("subject", "is required"))?;
                let user_id = self.subject_user(subject)?;
                // SSF §9.3: the same answer whether or not this is one of the
                // receiver's users (or a user at all); only theirs change.
                if let Some(user_id) = user_id
                    && self.inner.ssf.store.is_users_application(&user_id, &client_id).await?
                {
                    self.inner.ssf.store.set_included(&stream.stream_id, &user_id, adding).await?;
                }
                if adding { answer(json!({})) } else { none() }
            }
            SsfOperation::Verify => {
                let mut stream = self.owned(&client_id, stream_id_of(&request, &body)?).await?;
                let state = string_field(&body, "state", MAX_STATE)?;
                self.verify_stream(&mut stream, state).await?;
                none()
            }
            SsfOperation::Poll => {
                let stream = self.owned(&client_id, &request.stream_id).await?;
                answer(self.poll(&stream, &body).await?)
            }
        }
    }

    /// The application an SSF request comes from: its own access token
    /// (no user: a receiver acts for itself), for Gatehouse's API (no
    /// resource audience), with `ssf.manage` (or `ssf.read` to read).
    async fn receiver(&self, request: &pb::SsfRequest, reads: bool) -> TokenResult<String> {
        let invalid_token = || OAuthError::new(OAuthErrorCode::InvalidToken, "the access token is invalid").into();
        if request.access_token.is_empty() {
            return Err(invalid_token());
        }
        let active = self.introspect(&request.access_token, None, &[], None, None, "").await?;
        let Some(active) = active.filter(|a| a.kind() == TokenKind::Access) else { return Err(invalid_token()) };
        self.check_presentation(&request.access_token, &active.jkt, request.dpop.as_ref()).await?;
        if !active.user_id.is_empty() || !active.audience.is_empty() {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "stream management needs the application's own token (client_credentials), not a user's",
            )
            .into());
        }
        let has = |scope: &str| active.scopes.iter().any(|s| s == scope);
        if !(has(MANAGE_SCOPE) || (reads && has(READ_SCOPE))) {
            let needed = if reads { "ssf.manage or ssf.read" } else { "ssf.manage" };
            return Err(
                OAuthError::new(OAuthErrorCode::InsufficientScope, format!("this needs the scope {needed}")).into()
            );
        }
        Ok(active.client_id)
    }

    /// The stream `stream_id` if it is `client_id`'s; another receiver's
    /// reads as absent.
    async fn owned(&self, client_id: &str, stream_id: &str) -> TokenResult<StreamRow> {
        match self.inner.ssf.store.stream(stream_id).await? {
            Some(stream) if stream.client_id == client_id => Ok(stream),
            _ => Err(not_found(stream_id)),
        }
    }

    async fn create_stream(&self, client_id: &str, body: &Map<String, Value>) -> TokenResult<Value> {
        let now = self.now_ms();
        let mut stream = StreamRow {
            stream_id: uuid::Uuid::new_v4().simple().to_string(),
            client_id: client_id.to_owned(),
            description: String::new(),
            delivery_method: POLL.to_owned(),
            endpoint_url: String::new(),
            authorization_header: None,
            events_requested: String::new(),
            status: "enabled".to_owned(),
            reason: String::new(),
            dropped: 0,
            verified_at: 0,
            last_error: String::new(),
            created_at: now,
            updated_at: now,
        };
        self.reconfigure(&mut stream, body, true)?;
        if !self.inner.ssf.store.create(&stream).await? {
            return Err(TokenError::FailedPrecondition(
                "this receiver already has a stream: update it, or delete it first".to_owned(),
            ));
        }
        self.inner.ssf.tail_due.notify_one();
        Ok(self.configuration(&stream))
    }

    /// Applies the receiver-supplied fields of `body` (all of them when
    /// `replace`, those present otherwise); transmitter-supplied ones
    /// (`iss`, `aud`, `events_supported`, …) are ignored (SSF §8.1.1.3).
    fn reconfigure(&self, stream: &mut StreamRow, body: &Map<String, Value>, replace: bool) -> TokenResult<()> {
        if replace || body.contains_key("delivery") {
            let (method, url, authorization) = delivery(body)?;
            stream.delivery_method = method;
            stream.endpoint_url = url;
            stream.authorization_header =
                authorization.map(|value| self.inner.keys.seal(&stream.stream_id, value.as_bytes()));
        }
        if replace || body.contains_key("events_requested") {
            let events = events_requested(body)?.unwrap_or_else(every_signal);
            stream.events_requested = Value::from(events).to_string();
        }
        if replace || body.contains_key("description") {
            stream.description = string_field(body, "description", MAX_DESCRIPTION)?.unwrap_or_default().to_owned();
        }
        stream.updated_at = self.now_ms();
        Ok(())
    }

    /// SSF §8.1.1: the stream's configuration (its push credential is never shown).
    fn configuration(&self, stream: &StreamRow) -> Value {
        let issuer = &self.inner.ssf.issuer;
        let endpoint = if stream.delivery_method == POLL {
            gatehouse_oauth::ssf::poll_endpoint(issuer, &stream.stream_id)
        } else {
            stream.endpoint_url.clone()
        };
        let requested = requested(stream);
        let mut config = json!({
            "stream_id": stream.stream_id,
            "iss": issuer,
            "aud": stream.client_id,
            "events_supported": SUPPORTED_EVENTS.iter().filter(|e| !FRAMEWORK_EVENTS.contains(e)).collect::<Vec<_>>(),
            "events_delivered": delivered(&requested),
            "events_requested": requested,
            "delivery": { "method": stream.delivery_method, "endpoint_url": endpoint },
            "min_verification_interval": MIN_VERIFICATION_INTERVAL.as_secs(),
        });
        if !stream.description.is_empty() {
            config["description"] = Value::from(stream.description.clone());
        }
        config
    }

    /// The user a subject names, if it names one this server could know
    /// (RFC 9493 `iss_sub` of this issuer, `opaque` user id, or the `user`
    /// of a complex subject); `email` is refused: addresses are not verified here.
    fn subject_user(&self, subject: &Value) -> TokenResult<Option<String>> {
        let Value::Object(subject) = subject else { return Err(invalid("subject", "must be a JSON object")) };
        if subject.get("format").is_none()
            && let Some(user) = subject.get("user")
        {
            return self.subject_user(user);
        }
        let member = |name: &'static str| string_field(subject, name, 512);
        match member("format")? {
            Some("iss_sub") => {
                let (Some(iss), Some(sub)) = (member("iss")?, member("sub")?) else {
                    return Err(invalid("subject", "an iss_sub subject needs iss and sub"));
                };
                Ok((iss.trim_end_matches('/') == self.inner.ssf.issuer && !sub.is_empty()).then(|| sub.to_owned()))
            }
            Some("opaque") => {
                let id = member("id")?.ok_or_else(|| invalid("subject", "an opaque subject needs id"))?;
                Ok((!id.is_empty()).then(|| id.to_owned()))
            }
            Some("email") => Err(invalid(
                "subject",
                "email subjects are not accepted: this server does not verify addresses; use iss_sub",
            )),
            Some(other) => {
                Err(invalid("subject", format!("the subject format {other:?} is not supported; use iss_sub")))
            }
            None => Err(invalid("subject", "needs a format (iss_sub or opaque)")),
        }
    }

    /// SSF §8.1.4: a verification SET on the stream, at most one per interval.
    async fn verify_stream(&self, stream: &mut StreamRow, state: Option<&str>) -> TokenResult<()> {
        let now = self.now_ms();
        let interval = i64::try_from(MIN_VERIFICATION_INTERVAL.as_millis()).unwrap_or(i64::MAX);
        let wait = stream.verified_at.saturating_add(interval).saturating_sub(now);
        if wait > 0 {
            let retry_after = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            let rule = format!(
                "a stream is verified at most once every {} s (min_verification_interval)",
                MIN_VERIFICATION_INTERVAL.as_secs()
            );
            return Err(TokenError::TooSoon { rule, retry_after });
        }
        stream.verified_at = now;
        self.inner.ssf.store.update(stream).await?;
        let mut payload = json!({});
        if let Some(state) = state {
            payload["state"] = Value::from(state);
        }
        let jti = uuid::Uuid::new_v4().simple().to_string();
        let subject = json!({ "format": "opaque", "id": stream.stream_id });
        let set = self.inner.ssf.sign_set(&jti, &stream.client_id, &jti, &subject, VERIFICATION, &payload)?;
        let outgoing = Outgoing { stream_id: stream.stream_id.clone(), jti, set };
        let appended = self.inner.ssf.store.append(&[outgoing], self.inner.ssf.config.max_backlog, now).await?;
        self.inner.ssf.count(appended);
        self.inner.ssf.wake();
        Ok(())
    }

    /// RFC 8936 §2.4: acknowledges what the receiver names, then hands out
    /// the oldest SETs not yet acknowledged, waiting for some unless asked
    /// not to.
    async fn poll(&self, stream: &StreamRow, body: &Map<String, Value>) -> TokenResult<Value> {
        if stream.delivery_method != POLL {
            return Err(invalid("stream_id", "this stream is delivered by push, not poll"));
        }
        let max_events = match body.get("maxEvents") {
            None | Some(Value::Null) => DEFAULT_POLL,
            Some(value) => {
                value.as_u64().ok_or_else(|| invalid("maxEvents", "must be a non-negative integer"))?.min(MAX_POLL)
            }
        };
        let return_immediately = match body.get("returnImmediately") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(value)) => *value,
            Some(_) => return Err(invalid("returnImmediately", "must be true or false")),
        };
        let mut done: Vec<String> = match body.get("ack") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(jtis)) => jtis
                .iter()
                .map(|jti| {
                    jti.as_str().map(str::to_owned).ok_or_else(|| invalid("ack", "must be an array of jti strings"))
                })
                .collect::<TokenResult<_>>()?,
            Some(_) => return Err(invalid("ack", "must be an array of jti strings")),
        };
        match body.get("setErrs") {
            None | Some(Value::Null) => {}
            Some(Value::Object(errors)) => {
                for (jti, error) in errors {
                    // The receiver will not take it: not handed out again, but said.
                    tracing::warn!(stream_id = %stream.stream_id, %jti, %error, "a receiver reported a SET it could not take");
                    done.push(jti.clone());
                }
            }
            Some(_) => return Err(invalid("setErrs", "must be an object of jti → {err, description}")),
        }
        let store = &self.inner.ssf.store;
        let acknowledged = store.remove(&stream.stream_id, &done).await?;
        metrics().ssf_sets.get_or_create(&SetLabels { outcome: "acknowledged" }).inc_by(acknowledged);
        // Paused: held, not handed out (SSF §8.1.2).
        if max_events == 0 || stream.status != "enabled" {
            let more = stream.status == "enabled" && store.backlog(&stream.stream_id).await? > 0;
            return Ok(json!({ "sets": {}, "moreAvailable": more }));
        }
        let deadline = tokio::time::Instant::now() + self.long_poll_window();
        let pending = loop {
            let pending = store.pending(&stream.stream_id, max_events).await?;
            if !pending.is_empty() || return_immediately || tokio::time::Instant::now() >= deadline {
                break pending;
            }
            tokio::select! {
                () = self.inner.ssf.written.notified() => {}
                () = tokio::time::sleep(POLL_LOOK) => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        };
        let more = pending.len() as u64 == max_events && store.backlog(&stream.stream_id).await? > max_events;
        let sets: Map<String, Value> = pending.into_iter().map(|p| (p.jti, Value::from(p.set))).collect();
        Ok(json!({ "sets": sets, "moreAvailable": more }))
    }

    /// How long a poll may wait: [`LONG_POLL`], less than what is left of the caller's deadline.
    fn long_poll_window(&self) -> Duration {
        match gatehouse_upstream::deadline::current() {
            Some(deadline) => deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .saturating_sub(Duration::from_millis(500))
                .min(LONG_POLL),
            None => LONG_POLL,
        }
    }
}

/// SSF §8.1.2's status answer.
fn status(stream: &StreamRow) -> Value {
    let mut answer = json!({ "stream_id": stream.stream_id, "status": stream.status });
    if !stream.reason.is_empty() {
        answer["reason"] = Value::from(stream.reason.clone());
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_is_poll_by_default_push_needs_an_https_endpoint() {
        let body = |value: Value| value.as_object().cloned().unwrap();
        assert_eq!(delivery(&body(json!({}))).unwrap(), (POLL.to_owned(), String::new(), None));
        let push = json!({ "delivery": { "method": PUSH, "endpoint_url": "https://rp.example/events", "authorization_header": "Bearer x" } });
        assert_eq!(
            delivery(&body(push)).unwrap(),
            (PUSH.to_owned(), "https://rp.example/events".to_owned(), Some("Bearer x".to_owned()))
        );
        for bad in [
            json!({ "delivery": { "method": PUSH } }),
            json!({ "delivery": { "method": PUSH, "endpoint_url": "http://rp.example/events" } }),
            json!({ "delivery": { "method": PUSH, "endpoint_url": "https://u:p@rp.example/" } }),
            json!({ "delivery": { "method": PUSH, "endpoint_url": "https://rp.example/", "authorization_header": "a\nb" } }),
            json!({ "delivery": { "method": POLL, "endpoint_url": "https://rp.example/" } }),
            json!({ "delivery": { "method": "urn:example:carrier-pigeon" } }),
            json!({ "delivery": "push" }),
        ] {
            assert!(delivery(&body(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_supported_signals_are_delivered_and_unknown_ones_ignored() {
        let asked = vec![
            super::super::events::SESSION_REVOKED.to_owned(),
            "https://example.com/unknown".to_owned(),
            VERIFICATION.to_owned(),
        ];
        assert_eq!(delivered(&asked), vec![super::super::events::SESSION_REVOKED.to_owned()]);
        assert!(every_signal().iter().all(|e| is_signal_type(e)));
        assert_eq!(delivered(&every_signal()), every_signal());
    }
}
