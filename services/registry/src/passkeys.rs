//! Passkeys (WebAuthn Level 3) with `webauthn-rs`: registration, sign-in
//! without a password, and the second step of a password sign-in.
//!
//! - The relying party is the issuer: its host is the RP ID and its origin
//!   the only one accepted. Browsers allow WebAuthn only under a domain name
//!   (`localhost` included), so an issuer at an IP address has no passkeys.
//! - Passkeys are discoverable credentials with user verification required
//!   and attestation `none`: a passkey sign-in is two factors at once
//!   (the device, and the PIN or biometric that unlocked it).
//! - A ceremony's state lives in the shared cache for five minutes under a
//!   random id and is taken once: a second finish of the same ceremony, on
//!   any replica, finds nothing.
//! - Starting a sign-in ceremony is limited per address (each writes state
//!   to the cache); a passkey's signature cannot be guessed, so failed
//!   assertions are recorded but not counted against the account.

use std::time::Duration;

use gatehouse_oauth::{SecretHash, random_token};
use gatehouse_runtime::throttle::{self, Limiter, Slot};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::error::{RegistryError, RegistryResult};
use crate::model::User;
use crate::service::Registry;
use crate::store::PasskeyRow;

/// Passkeys one account may hold.
pub const MAX_PASSKEYS: u64 = 10;
/// How long a started ceremony waits for the browser's answer.
const CEREMONY_TTL: Duration = Duration::from_secs(300);
/// Sign-in ceremonies started per address in a window.
const SIGN_IN_BEGINS: u64 = 60;
const SIGN_IN_WINDOW: Duration = Duration::from_secs(300);
/// Longest passkey name, in characters.
const MAX_NAME_CHARS: usize = 64;
/// Largest credential (JSON) a browser sends back; real ones are a few KiB.
const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;

/// The relying party of an issuer; None when its host is not a domain name.
pub(crate) fn relying_party(issuer: &str) -> Option<Webauthn> {
    let origin = Url::parse(issuer).ok()?;
    let rp_id = origin.domain()?.to_owned();
    let built = WebauthnBuilder::new(&rp_id, &origin).and_then(|builder| builder.rp_name(&rp_id).build());
    match built {
        Ok(webauthn) => Some(webauthn),
        Err(error) => {
            tracing::warn!(%error, issuer, "passkeys are off: the issuer is not a WebAuthn relying party");
            None
        }
    }
}

/// A started ceremony: the options for `navigator.credentials` (JSON, as
/// WebAuthn's `PublicKeyCredential{Creation,Request}OptionsJSON` under
/// `publicKey`) and the id that finishes it.
#[derive(Debug, Clone)]
pub struct PasskeyCeremony {
    pub options_json: String,
    pub ceremony: String,
}

/// A passkey, as the account's pages list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<&PasskeyRow> for PasskeyInfo {
    fn from(row: &PasskeyRow) -> Self {
        Self { id: row.id.clone(), name: row.name.clone(), created_at: row.created_at, last_used_at: row.last_used_at }
    }
}

#[derive(Serialize, Deserialize)]
struct RegistrationState {
    user_id: String,
    name: String,
    state: PasskeyRegistration,
}

fn ceremony_key(kind: &str, ceremony: &str) -> String {
    format!("registry:passkey:{kind}:{}", SecretHash::of(ceremony).as_str())
}

fn bad_credential(rule: impl Into<String>) -> RegistryError {
    RegistryError::invalid("credential", rule)
}

fn expired_ceremony() -> RegistryError {
    RegistryError::invalid("ceremony", "is unknown, used or expired: start again")
}

fn encode_credential_id(id: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

fn check_name(name: &str) -> RegistryResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(RegistryError::invalid("name", "is required: a name to tell this passkey from others"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(RegistryError::invalid("name", format!("is longer than {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(RegistryError::invalid("name", "contains control characters"));
    }
    Ok(name.to_owned())
}

fn parse_credential<T: serde::de::DeserializeOwned>(json: &str) -> RegistryResult<T> {
    if json.len() > MAX_CREDENTIAL_BYTES {
        return Err(bad_credential(format!("is larger than {MAX_CREDENTIAL_BYTES} bytes")));
    }
    serde_json::from_str(json).map_err(|error| bad_credential(format!("is not a WebAuthn credential in JSON: {error}")))
}

/// Options as JSON, with what the library leaves to the caller set for
/// passkeys: a discoverable credential (so that it can sign in without a
/// username), and a modal request rather than conditional mediation.
fn options_json(options: &impl Serialize) -> RegistryResult<String> {
    let mut value = serde_json::to_value(options)
        .map_err(|error| RegistryError::Internal(format!("WebAuthn options do not serialise: {error}")))?;
    if let Some(selection) = value.pointer_mut("/publicKey/authenticatorSelection").and_then(|v| v.as_object_mut()) {
        selection.insert("residentKey".to_owned(), "required".into());
        selection.insert("requireResidentKey".to_owned(), true.into());
    }
    if let Some(object) = value.as_object_mut() {
        object.remove("mediation");
    }
    Ok(value.to_string())
}

impl Registry {
    fn webauthn(&self) -> RegistryResult<&Webauthn> {
        self.inner.webauthn.as_ref().ok_or_else(|| {
            RegistryError::FailedPrecondition(
                "passkeys need Gatehouse served under a domain name (GATEHOUSE_ISSUER), such as http://localhost:8080"
                    .to_owned(),
            )
        })
    }

    /// Whether this deployment offers passkeys (its issuer is a domain name).
    pub fn passkeys_enabled(&self) -> bool {
        self.inner.webauthn.is_some()
    }

    /// The account's passkeys, oldest first.
    pub async fn passkeys(&self, user_id: &str) -> RegistryResult<Vec<PasskeyInfo>> {
        Ok(self.stores().second_factors.passkeys(user_id).await?.iter().map(PasskeyInfo::from).collect())
    }

    async fn put_ceremony(&self, kind: &str, state: &impl Serialize) -> RegistryResult<String> {
        let ceremony = random_token("", 43);
        let bytes = serde_json::to_vec(state)
            .map_err(|error| RegistryError::Internal(format!("WebAuthn state does not serialise: {error}")))?;
        self.inner
            .kv
            .set(&ceremony_key(kind, &ceremony), &bytes, CEREMONY_TTL)
            .await
            .map_err(|e| RegistryError::Cache(e.to_string()))?;
        Ok(ceremony)
    }

    async fn take_ceremony<T: serde::de::DeserializeOwned>(&self, kind: &str, ceremony: &str) -> RegistryResult<T> {
        if ceremony.is_empty() || ceremony.len() > 128 {
            return Err(expired_ceremony());
        }
        let bytes = self
            .inner
            .kv
            .take(&ceremony_key(kind, ceremony))
            .await
            .map_err(|e| RegistryError::Cache(e.to_string()))?
            .ok_or_else(expired_ceremony)?;
        serde_json::from_slice(&bytes).map_err(|_| expired_ceremony())
    }

    fn stored_passkeys(rows: &[PasskeyRow]) -> Vec<(usize, Passkey)> {
        rows.iter()
            .enumerate()
            .filter_map(|(index, row)| match serde_json::from_str::<Passkey>(&row.passkey) {
                Ok(passkey) => Some((index, passkey)),
                Err(error) => {
                    tracing::error!(%error, passkey_id = row.id, "a stored passkey does not parse; skipped");
                    None
                }
            })
            .collect()
    }

    /// Starts adding a passkey to the account: the browser's creation
    /// options (the account's passkeys excluded, so that one authenticator
    /// is not registered twice), for a passkey to be called `name`.
    pub async fn begin_passkey_registration(&self, user_id: &str, name: &str) -> RegistryResult<PasskeyCeremony> {
        let webauthn = self.webauthn()?;
        let name = check_name(name)?;
        let user = self.get_user_by_id(user_id).await?;
        let handle = Uuid::parse_str(&user.id).map_err(|_| {
            RegistryError::FailedPrecondition("this account's id cannot be a passkey's user handle".to_owned())
        })?;
        let rows = self.stores().second_factors.passkeys(&user.id).await?;
        if u64::try_from(rows.len()).unwrap_or(u64::MAX) >= MAX_PASSKEYS {
            return Err(RegistryError::FailedPrecondition(format!(
                "the account has {MAX_PASSKEYS} passkeys: remove one before adding another"
            )));
        }
        let exclude = Self::stored_passkeys(&rows).into_iter().map(|(_, passkey)| passkey.cred_id().clone()).collect();
        let (options, state) = webauthn
            .start_passkey_registration(handle, &user.username, &user.username, Some(exclude))
            .map_err(|error| RegistryError::Internal(format!("passkey registration does not start: {error}")))?;
        let ceremony =
            self.put_ceremony("register", &RegistrationState { user_id: user.id.clone(), name, state }).await?;
        Ok(PasskeyCeremony { options_json: options_json(&options)?, ceremony })
    }

    /// Finishes adding a passkey with the browser's credential (its
    /// `toJSON()`): checked against the ceremony (challenge, origin, RP ID,
    /// user verification) and stored under the name the ceremony began with.
    pub async fn finish_passkey_registration(
        &self,
        user_id: &str,
        ceremony: &str,
        credential_json: &str,
    ) -> RegistryResult<PasskeyInfo> {
        let webauthn = self.webauthn()?;
        let credential: RegisterPublicKeyCredential = parse_credential(credential_json)?;
        let started: RegistrationState = self.take_ceremony("register", ceremony).await?;
        if started.user_id != user_id {
            return Err(expired_ceremony());
        }
        let passkey = webauthn
            .finish_passkey_registration(&credential, &started.state)
            .map_err(|error| bad_credential(format!("was refused: {error}")))?;
        let record = serde_json::to_string(&passkey)
            .map_err(|error| RegistryError::Internal(format!("a passkey does not serialise: {error}")))?;
        let row = PasskeyRow {
            id: Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            credential_id: encode_credential_id(passkey.cred_id().as_ref()),
            name: started.name,
            passkey: record,
            created_at: self.now(),
            last_used_at: None,
        };
        if !self.stores().second_factors.insert_passkey(&row, MAX_PASSKEYS).await? {
            return Err(RegistryError::FailedPrecondition(format!(
                "the account has {MAX_PASSKEYS} passkeys: remove one before adding another"
            )));
        }
        Ok(PasskeyInfo::from(&row))
    }

    /// Removes one of the account's passkeys.
    pub async fn delete_passkey(&self, user_id: &str, id: &str) -> RegistryResult<PasskeyInfo> {
        let rows = self.stores().second_factors.passkeys(user_id).await?;
        let Some(row) = rows.iter().find(|row| row.id == id) else {
            return Err(RegistryError::NotFound("the account has no such passkey".to_owned()));
        };
        if !self.stores().second_factors.delete_passkey(user_id, id).await? {
            return Err(RegistryError::NotFound("the account has no such passkey".to_owned()));
        }
        Ok(PasskeyInfo::from(row))
    }

    /// Starts a passkey sign-in: request options naming no account (the
    /// authenticator offers the passkeys it holds for this site).
    pub async fn begin_passkey_sign_in(&self, address: &str) -> RegistryResult<PasskeyCeremony> {
        let webauthn = self.webauthn()?;
        let slot = Slot::new(
            format!("registry:passkeybegin:{}", SecretHash::of(address).as_str()),
            SIGN_IN_BEGINS,
            SIGN_IN_WINDOW,
        );
        match throttle::reserve(self.inner.kv.as_ref(), Limiter::PasskeySignIn, &[slot])
            .await
            .map_err(|e| RegistryError::Cache(e.to_string()))?
        {
            Ok(reservation) => reservation.keep(),
            Err(retry_after) => {
                return Err(RegistryError::Throttled { what: "too many passkey sign-ins started", retry_after });
            }
        }
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|error| RegistryError::Internal(format!("passkey sign-in does not start: {error}")))?;
        let ceremony = self.put_ceremony("sign-in", &state).await?;
        Ok(PasskeyCeremony { options_json: options_json(&options)?, ceremony })
    }

    /// Checks a passkey sign-in's assertion: the account whose passkey
    /// signed the ceremony's challenge (with user verification), or None.
    /// With `expected_user` (the second step after a password), a passkey
    /// of another account is refused too.
    pub async fn verify_passkey(
        &self,
        ceremony: &str,
        credential_json: &str,
        expected_user: Option<&str>,
    ) -> RegistryResult<Option<(User, PasskeyInfo)>> {
        let webauthn = self.webauthn()?;
        let credential: PublicKeyCredential = parse_credential(credential_json)?;
        let state: DiscoverableAuthentication = self.take_ceremony("sign-in", ceremony).await?;
        let Ok((handle, credential_id)) = webauthn.identify_discoverable_authentication(&credential) else {
            return Ok(None);
        };
        let user_id = handle.to_string();
        if expected_user.is_some_and(|expected| expected != user_id) {
            return Ok(None);
        }
        let credential_id = encode_credential_id(credential_id);
        let rows = self.stores().second_factors.passkeys(&user_id).await?;
        let Some(row_index) = rows.iter().position(|row| row.credential_id == credential_id) else {
            return Ok(None);
        };
        let mut keys = Self::stored_passkeys(&rows);
        let discoverable: Vec<DiscoverableKey> =
            keys.iter().map(|(_, passkey)| DiscoverableKey::from(passkey)).collect();
        let result = match webauthn.finish_discoverable_authentication(&credential, state, &discoverable) {
            Ok(result) => result,
            Err(error) => {
                tracing::info!(%error, user_id, "a passkey assertion was refused");
                return Ok(None);
            }
        };
        let user = match self.get_user_by_id(&user_id).await {
            // A disabled account's passkey signs in no more than its password.
            Ok(user) if user.disabled => return Ok(None),
            Ok(user) => user,
            Err(RegistryError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        let updated = keys
            .iter_mut()
            .find(|(index, _)| *index == row_index)
            .and_then(|(_, passkey)| passkey.update_credential(&result).filter(|changed| *changed).map(|_| passkey))
            .and_then(|passkey| serde_json::to_string(passkey).ok());
        let row = &rows[row_index];
        self.stores().second_factors.touch_passkey(&row.id, updated.as_deref(), self.now()).await?;
        let mut info = PasskeyInfo::from(row);
        info.last_used_at = Some(self.now());
        Ok(Some((user, info)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_issuer_under_a_domain_name_is_a_relying_party() {
        assert!(relying_party("http://localhost:8080").is_some());
        assert!(relying_party("https://id.example.com").is_some());
        assert!(relying_party("http://127.0.0.1:8080").is_none(), "browsers refuse an IP address as RP ID");
        assert!(relying_party("not a url").is_none());
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(check_name("  My phone ").unwrap(), "My phone");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert_eq!(check_name("手机").unwrap(), "手机");
    }

    #[test]
    fn registration_options_ask_for_a_discoverable_credential_and_user_verification() {
        let webauthn = relying_party("http://localhost:8080").unwrap();
        let (options, _) = webauthn.start_passkey_registration(Uuid::new_v4(), "ada", "ada", None).unwrap();
        let json: serde_json::Value = serde_json::from_str(&options_json(&options).unwrap()).unwrap();
        let selection = &json["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(json["publicKey"]["rp"]["id"], "localhost");
        assert_eq!(json["publicKey"]["attestation"], "none");
        let (request, _) = webauthn.start_discoverable_authentication().unwrap();
        let json: serde_json::Value = serde_json::from_str(&options_json(&request).unwrap()).unwrap();
        assert!(json.get("mediation").is_none(), "a button asks modally");
        assert_eq!(json["publicKey"]["userVerification"], "required");
    }

    #[test]
    fn a_credential_that_is_not_json_or_too_large_is_refused_by_name() {
        let error = parse_credential::<PublicKeyCredential>("{").unwrap_err();
        assert!(error.to_string().contains("credential"), "{error}");
        let error = parse_credential::<PublicKeyCredential>(&"x".repeat(MAX_CREDENTIAL_BYTES + 1)).unwrap_err();
        assert!(error.to_string().contains("larger"), "{error}");
    }
}
