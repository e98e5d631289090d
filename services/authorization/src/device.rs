//! The device authorization grant (RFC 8628): starting one for a device,
//! the verification page's lookup and decision, and the device's poll.
//!
//! A device authorization lives in the cache for its lifetime (plus a
//! grace period in which a late poll hears `expired_token` rather than
//! `invalid_grant`), keyed by the hash of the device code; the user code
//! points at it. Every change of its state is a compare-and-set, so that a
//! poll and the user's decision racing each other cannot lose the decision.

use std::time::Duration;

use gatehouse_oauth::authorize::{ClientPolicy, requested_scopes};
use gatehouse_oauth::device::{UserCode, generate_device_code, is_device_code};
use gatehouse_oauth::scope::ScopeEntry;
use gatehouse_oauth::{
    ClientAuthentication, DeviceCode, GrantType, OAuthError, OAuthErrorCode, Params, ScopeSet, SecretHash,
};
use gatehouse_runtime::clients::registry::ClientApplication;
use gatehouse_runtime::kv::Taken;
use serde::{Deserialize, Serialize};

use crate::error::{AuthzError, AuthzResult};
use crate::record::{self, key};
use crate::redeem_code::Redeemed;
use crate::service::Authorization;

/// What the device is told to show (RFC 8628 §3.2).
#[derive(Debug)]
pub(crate) struct DeviceAuthorization {
    pub(crate) device_code: DeviceCode,
    pub(crate) user_code: UserCode,
    pub(crate) verification_uri: String,
    pub(crate) verification_uri_complete: String,
    pub(crate) expires_in: i64,
    pub(crate) interval: i64,
}

/// What the verification page shows before the user decides.
#[derive(Debug)]
pub(crate) struct DeviceRequest {
    pub(crate) application: ClientApplication,
    pub(crate) owner: String,
    pub(crate) scopes: Vec<ScopeEntry>,
    pub(crate) user_code: UserCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Decision {
    Pending,
    Approved {
        user_id: String,
        username: String,
        auth_time: i64,
        /// How the approving user signed in; empty in records written before it was kept.
        #[serde(default)]
        amr: Vec<String>,
    },
    Denied,
}

/// A device authorization in the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceRecord {
    client_id: String,
    scopes: Vec<String>,
    user_code: String,
    /// Seconds the device must wait between polls; raised by `slow_down`.
    interval: i64,
    /// When it last polled (unix seconds), 0 before the first poll.
    last_poll: i64,
    expires_at: i64,
    decision: Decision,
}

/// How long a record outlives its expiry, so that a late poll is told
/// `expired_token` (the device then starts over) rather than `invalid_grant`.
const EXPIRED_GRACE: Duration = Duration::from_secs(10 * 60);

fn unknown_user_code() -> AuthzError {
    AuthzError::RequestExpired
}

impl Authorization {
    fn device_ttl(&self, record: &DeviceRecord) -> Duration {
        let left = u64::try_from(record.expires_at - self.now()).unwrap_or(0);
        Duration::from_secs(left) + EXPIRED_GRACE
    }

    /// RFC 8628 §3.1-3.2: authenticates the client (throttled like the
    /// token endpoint), checks that it may use the grant and what it asks
    /// for, and stores a new device authorization.
    pub(crate) async fn start_device_authorization(
        &self,
        auth: &ClientAuthentication,
        address: &str,
        params: &Params,
    ) -> AuthzResult<DeviceAuthorization> {
        params.refuse_repeated()?;
        let client = self.authenticate_client(auth, address).await?;
        if !client.allows(GrantType::DeviceCode) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "the application is not allowed the device authorization grant",
            )
            .into());
        }
        let catalogue = self.scopes().await?;
        let scopes = requested_scopes(params.single("scope")?, &ClientPolicy::from(&client), &catalogue)?;
        let config = &self.config().device;
        let expires_in = i64::try_from(config.code_ttl.as_secs()).unwrap_or(i64::MAX);
        let device_code = generate_device_code();
        let record = DeviceRecord {
            client_id: client.client_id.as_str().to_owned(),
            scopes: scopes.to_strings(),
            user_code: String::new(),
            interval: i64::try_from(config.interval.as_secs()).unwrap_or(5),
            last_poll: 0,
            expires_at: self.now() + expires_in,
            decision: Decision::Pending,
        };
        let device_id = SecretHash::of(&device_code).as_str().to_owned();
        // A fresh user code that is not in use; the space is large enough
        // that a collision is rare, and a few tries make it certain.
        for _ in 0..5 {
            let user_code = UserCode::generate();
            let pointer = key::device_user(user_code.as_str());
            if !self.inner.kv.set_if_absent(&pointer, device_id.as_bytes(), config.code_ttl).await? {
                continue;
            }
            let record = DeviceRecord { user_code: user_code.as_str().to_owned(), ..record };
            let ttl = self.device_ttl(&record);
            self.inner.kv.set(&key::device(&device_id), &record::encode(&record), ttl).await?;
            let verification_uri = format!("{}/login/device", self.config().issuer);
            let verification_uri_complete = format!("{verification_uri}?user_code={}", user_code.display());
            return Ok(DeviceAuthorization {
                device_code: DeviceCode::new(device_code),
                user_code,
                verification_uri,
                verification_uri_complete,
                expires_in,
                interval: record.interval,
            });
        }
        Err(AuthzError::Internal("no free user code after five tries".to_owned()))
    }

    /// The pending device authorization of a typed user code, and its id.
    /// Every miss counts against the user and the address.
    async fn pending_device(
        &self,
        user_id: &str,
        typed: &str,
        address: &str,
    ) -> AuthzResult<(String, Vec<u8>, DeviceRecord)> {
        let limits = self.config().device;
        let mut keys = vec![(key::device_entry_user(user_id), limits.entries_per_user)];
        if !address.is_empty() {
            keys.push((key::device_entry_address(address), limits.entries_per_address));
        }
        let reservation =
            self.reserve(gatehouse_runtime::throttle::Limiter::DeviceCodes, &keys, limits.entry_window).await?;
        let found = match UserCode::parse(typed) {
            Some(code) => self.device_by_user_code(&code).await,
            None => Ok(None),
        };
        let found = match found {
            Ok(found) => found,
            Err(error) => {
                reservation.release(self.inner.kv.as_ref()).await?;
                return Err(error);
            }
        };
        let Some((device_id, bytes, device)) =
            found.filter(|(_, _, d)| d.decision == Decision::Pending && d.expires_at > self.now())
        else {
            reservation.keep();
            return Err(unknown_user_code());
        };
        reservation.release(self.inner.kv.as_ref()).await?;
        Ok((device_id, bytes, device))
    }

    async fn device_by_user_code(&self, code: &UserCode) -> AuthzResult<Option<(String, Vec<u8>, DeviceRecord)>> {
        let Some(id) = self.inner.kv.get(&key::device_user(code.as_str())).await? else { return Ok(None) };
        let device_id = String::from_utf8(id).map_err(|_| AuthzError::Internal("corrupt user code".to_owned()))?;
        let Some(bytes) = self.inner.kv.get(&key::device(&device_id)).await? else { return Ok(None) };
        let device: DeviceRecord = record::decode(&bytes)?;
        Ok(Some((device_id, bytes, device)))
    }

    /// What the verification page shows for `typed` to the session's user.
    pub(crate) async fn lookup_user_code(
        &self,
        session_token: &str,
        typed: &str,
        address: &str,
    ) -> AuthzResult<DeviceRequest> {
        let session = self.require_session(session_token).await?;
        let (_, _, device) = self.pending_device(&session.user.id, typed, address).await?;
        let application = self.inner.registry.application(&device.client_id).await.map_err(AuthzError::registry)?;
        let application = application.ok_or_else(unknown_user_code)?;
        let owner = self.inner.registry.user(&application.owner_id).await.map_err(AuthzError::registry)?;
        let catalogue = self.scopes().await?;
        let wanted = ScopeSet::parse(&device.scopes.join(" ")).unwrap_or_default();
        let scopes = catalogue.entries().iter().filter(|e| wanted.contains(&e.scope)).cloned().collect();
        let user_code = UserCode::parse(&device.user_code).ok_or_else(unknown_user_code)?;
        Ok(DeviceRequest { application, owner: owner.map(|u| u.username).unwrap_or_default(), scopes, user_code })
    }

    /// The user's decision. Approving records the consent, so that the
    /// authorization shows among the user's applications and revoking it
    /// ends what the device received.
    pub(crate) async fn decide_device(
        &self,
        session_token: &str,
        typed: &str,
        address: &str,
        approve: bool,
    ) -> AuthzResult<()> {
        let session = self.require_session(session_token).await?;
        let (device_id, bytes, device) = self.pending_device(&session.user.id, typed, address).await?;
        if approve {
            let scopes = ScopeSet::parse(&device.scopes.join(" ")).unwrap_or_default();
            self.inner.grants.add_scopes(&session.user.id, &device.client_id, &scopes, self.now()).await?;
            self.consent_granted(&session.user.id, &device.client_id, &scopes.to_string(), address).await;
        }
        let decision = if approve {
            Decision::Approved {
                user_id: session.user.id.clone(),
                username: session.user.username.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
            }
        } else {
            Decision::Denied
        };
        let decided = DeviceRecord { decision, ..device };
        let ttl = self.device_ttl(&decided);
        if !self.inner.kv.replace(&key::device(&device_id), &bytes, &record::encode(&decided), ttl).await? {
            // Decided in another tab meanwhile, or the device polled: read it again once.
            return Box::pin(self.decide_device(session_token, typed, address, approve)).await;
        }
        // The code served its purpose: it cannot be typed again.
        self.inner.kv.delete(&key::device_user(&decided.user_code)).await?;
        Ok(())
    }

    /// One poll of the device (RFC 8628 §3.4-3.5).
    pub(crate) async fn redeem_device_code(&self, device_code: &DeviceCode, client_id: &str) -> AuthzResult<Redeemed> {
        let invalid = || OAuthError::invalid_grant("device_code is invalid");
        if !is_device_code(device_code.expose()) {
            return Err(invalid().into());
        }
        let device_id = device_code.hash().as_str().to_owned();
        let device_key = key::device(&device_id);
        let Some(bytes) = self.inner.kv.get(&device_key).await? else {
            return Err(match self.inner.kv.get(&key::device_used(&device_id)).await? {
                Some(_) => OAuthError::invalid_grant("device_code was already used"),
                None => invalid(),
            }
            .into());
        };
        let device: DeviceRecord = record::decode(&bytes)?;
        if device.client_id != client_id {
            return Err(OAuthError::invalid_grant("device_code was issued to another client").into());
        }
        let now = self.now();
        if device.expires_at <= now {
            return Err(OAuthError::new(OAuthErrorCode::ExpiredToken, "the device code expired: start again").into());
        }
        match &device.decision {
            Decision::Denied => {
                self.inner.kv.delete(&device_key).await?;
                Err(OAuthError::new(OAuthErrorCode::AccessDenied, "the user denied the request").into())
            }
            Decision::Pending => Err(self.poll_pending(&device_key, &bytes, device, now).await?.into()),
            Decision::Approved { user_id, username, auth_time, amr } => {
                // The user may have revoked the authorization since approving.
                let grant = self.inner.grants.grant(user_id, client_id).await?;
                let scopes = ScopeSet::parse(&device.scopes.join(" ")).unwrap_or_default();
                if !grant.is_some_and(|g| scopes.is_subset(&g.scopes)) {
                    self.inner.kv.delete(&device_key).await?;
                    return Err(OAuthError::invalid_grant("the user revoked this authorization").into());
                }
                // The single use: of concurrent polls, one gets the record.
                let used = key::device_used(&device_id);
                match self.inner.kv.take_and_mark(&device_key, &used, b"1", EXPIRED_GRACE).await? {
                    Taken::Value(_) => Ok(Redeemed {
                        code_id: device_id,
                        user_id: user_id.clone(),
                        username: username.clone(),
                        scopes: device.scopes.clone(),
                        auth_time: *auth_time,
                        nonce: None,
                        resources: Vec::new(),
                        account: None,
                        amr: amr.clone(),
                    }),
                    Taken::Marked(_) => Err(OAuthError::invalid_grant("device_code was already used").into()),
                    Taken::Missing => Err(invalid().into()),
                }
            }
        }
    }

    /// A poll before the user decided: `slow_down` (and a longer interval)
    /// when it came too soon, `authorization_pending` otherwise.
    async fn poll_pending(
        &self,
        device_key: &str,
        bytes: &[u8],
        device: DeviceRecord,
        now: i64,
    ) -> AuthzResult<OAuthError> {
        let too_soon = device.last_poll > 0 && now - device.last_poll < device.interval;
        let interval = if too_soon { device.interval + 5 } else { device.interval };
        let polled = DeviceRecord { last_poll: now, interval, ..device };
        let ttl = self.device_ttl(&polled);
        // A decision that landed meanwhile wins: this poll just reports "pending".
        let _ = self.inner.kv.replace(device_key, bytes, &record::encode(&polled), ttl).await?;
        Ok(if too_soon {
            OAuthError::new(OAuthErrorCode::SlowDown, format!("polling too fast: wait {interval} s between requests"))
        } else {
            OAuthError::new(OAuthErrorCode::AuthorizationPending, "the user has not approved the request yet")
        })
    }
}
