//! Signing keys, owned by the token service: they sign ID tokens (and JWT
//! access tokens), and the JWKS publishes their public halves.
//!
//! Invariants, kept here and in the SQL store:
//! - Per algorithm exactly one key is *active* (signs) and one is *next*
//!   (published, not yet signing). Every change of an algorithm's keys
//!   compares and sets its version in one transaction, so replicas that
//!   start or rotate at once cannot both install a key.
//! - A key is published before it signs: a rotation promotes the next key
//!   only once it has been in the JWKS for `publish_lead` (longer than a
//!   verifier caches the JWKS), unless forced.
//! - A key that stopped signing stays published (*retiring*) until every
//!   token it signed has expired (`retire_after`), then is *retired*: gone
//!   from the JWKS and its private half erased.
//! - Private halves are stored only sealed under the key-encryption key;
//!   the JWKS holds public members only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters, EllipticCurveKeyType, Jwk,
    KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use serde::Serialize;

use crate::error::{TokenError, TokenResult};
use gatehouse_runtime::kek::KeyEncryptionKey;

/// JWT access tokens, and ID tokens by default, are RS256, the algorithm
/// every relying party supports (OpenID Connect Core §15.1); a client may
/// register ES256 for its ID tokens.
pub(crate) const ID_TOKEN_ALG: SigningAlg = SigningAlg::Rs256;

/// How long a verifier may cache the JWKS (its `Cache-Control: max-age`).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// How often each replica reads the keys again (and runs the schedule).
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

pub use gatehouse_oauth::SigningAlg;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    Active,
    /// Published, no longer signing, until what it signed has expired.
    Retiring,
    /// Unpublished; the private half is erased.
    Retired,
}

impl KeyState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

/// A key as stored.
#[derive(Clone)]
pub(crate) struct StoredKey {
    pub(crate) kid: String,
    pub(crate) alg: SigningAlg,
    /// The public JWK (JSON), with `kid`, `alg` and `use`.
    pub(crate) public_jwk: String,
    /// The PKCS#8 private key sealed under the key-encryption key; empty once retired.
    pub(crate) sealed_private_key: String,
    pub(crate) created_at: i64,
    pub(crate) activated_at: Option<i64>,
    pub(crate) deactivated_at: Option<i64>,
    pub(crate) retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    pub(crate) fn state(&self) -> KeyState {
        match (self.activated_at, self.deactivated_at, self.retired_at) {
            (_, _, Some(_)) => KeyState::Retired,
            (_, Some(_), None) => KeyState::Retiring,
            (Some(_), None, None) => KeyState::Active,
            (None, None, None) => KeyState::Next,
        }
    }
}

/// One algorithm's keys and the version a change must find.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlgKeys {
    pub(crate) version: i64,
    pub(crate) keys: Vec<StoredKey>,
}

impl AlgKeys {
    fn in_state(&self, state: KeyState) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.state() == state)
    }
}

/// A change to one algorithm's keys, applied only if its version is still
/// `expected_version` (and then bumped), all in one transaction.
#[derive(Debug, Default)]
pub(crate) struct KeyChange {
    pub(crate) expected_version: i64,
    pub(crate) now: i64,
    pub(crate) insert: Vec<StoredKey>,
    pub(crate) activate: Option<String>,
    pub(crate) deactivate: Option<String>,
    pub(crate) retire: Vec<String>,
}

/// When keys rotate and retire.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// The automatic schedule: an active key older than this is replaced
    /// by the next one. `None`: only `gatehouse keys rotate` rotates.
    pub rotate_every: Option<Duration>,
    /// How long the next key must have been published before it signs.
    pub publish_lead: Duration,
    /// How long a key that stopped signing stays published: the longest
    /// lifetime of what it signed, plus the JWKS cache time.
    pub retire_after: Duration,
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// A parsed private key, ready to sign.
enum KeyPair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct Signer {
    kid: String,
    alg: SigningAlg,
    pair: KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

fn internal(what: impl std::fmt::Display) -> TokenError {
    TokenError::Internal(what.to_string())
}

impl Signer {
    fn open(key: &StoredKey, kek: &KeyEncryptionKey) -> TokenResult<Self> {
        let pkcs8 = kek.open(&key.kid, &key.sealed_private_key).map_err(internal)?;
        let pair = match key.alg {
            SigningAlg::Rs256 => KeyPair::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(internal)?),
            SigningAlg::Es256 => {
                KeyPair::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(internal)?)
            }
        };
        Ok(Self { kid: key.kid.clone(), alg: key.alg, pair })
    }

    /// A JWS in compact serialisation (RFC 7515 §7.1). Signed here with the
    /// parsed key rather than through `jsonwebtoken::encode`, which parses
    /// the private key again for every signature.
    fn sign(&self, typ: &str, claims: &impl Serialize) -> TokenResult<String> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&Header { alg: self.alg.as_str(), typ, kid: &self.kid }).map_err(internal)?;
        let claims = serde_json::to_vec(claims).map_err(internal)?;
        let mut jws = URL_SAFE_NO_PAD.encode(header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut jws);
        let rng = SystemRandom::new();
        let signature = match &self.pair {
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, jws.as_bytes(), &mut signature).map_err(internal)?;
                signature
            }
            KeyPair::Ec(pair) => pair.sign(&rng, jws.as_bytes()).map_err(internal)?.as_ref().to_vec(),
        };
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        Ok(jws)
    }
}

/// A new key pair: its stored form, sealed.
pub(crate) fn generate(alg: SigningAlg, kek: &KeyEncryptionKey, now: i64) -> TokenResult<StoredKey> {
    let (pkcs8, algorithm, key_algorithm) = match alg {
        SigningAlg::Rs256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(internal)?;
            let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair).map_err(internal)?;
            let public = pair.public_key();
            let parameters = AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            });
            (pkcs8.as_ref().to_vec(), parameters, KeyAlgorithm::RS256)
        }
        SigningAlg::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(internal)?;
            let pkcs8 = pair.to_pkcs8v1().map_err(internal)?;
            // The uncompressed point: 0x04 || x || y.
            let point = pair.public_key().as_ref();
            let (x, y) = point.get(1..).unwrap_or_default().split_at(32.min(point.len().saturating_sub(1)));
            let parameters = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            });
            (pkcs8.as_ref().to_vec(), parameters, KeyAlgorithm::ES256)
        }
    };
    let mut jwk = Jwk { common: CommonParameters::default(), algorithm };
    // RFC 7638: the kid is the thumbprint of the public key's required members.
    let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(internal)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.key_algorithm = Some(key_algorithm);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(StoredKey {
        sealed_private_key: kek.seal(&kid, &pkcs8),
        public_jwk: serde_json::to_string(&jwk).map_err(internal)?,
        kid,
        alg,
        created_at: now,
        activated_at: None,
        deactivated_at: None,
        retired_at: None,
    })
}

/// What `gatehouse keys rotate` or the schedule could not do.
fn refused(message: String) -> TokenError {
    TokenError::FailedPrecondition(message)
}

/// The change that gives `keys` an active and a next key, if they lack one.
fn ensure_change(alg: SigningAlg, keys: &AlgKeys, kek: &KeyEncryptionKey, now: i64) -> TokenResult<Option<KeyChange>> {
    let mut change = KeyChange { expected_version: keys.version, now, ..KeyChange::default() };
    if keys.in_state(KeyState::Active).is_none() {
        // The first start: there is no verifier yet to warn ahead.
        let mut active = generate(alg, kek, now)?;
        active.activated_at = Some(now);
        change.insert.push(active);
    }
    if keys.in_state(KeyState::Next).is_none() {
        change.insert.push(generate(alg, kek, now)?);
    }
    Ok((!change.insert.is_empty()).then_some(change))
}

/// Promotes the next key and demotes the active one to retiring.
fn rotate_change(
    alg: SigningAlg,
    keys: &AlgKeys,
    kek: &KeyEncryptionKey,
    policy: &KeyPolicy,
    now: i64,
    force: bool,
) -> TokenResult<KeyChange> {
    let (Some(active), Some(next)) = (keys.in_state(KeyState::Active), keys.in_state(KeyState::Next)) else {
        return Err(refused(format!("{} has no active and next key yet; start the token service first", alg.as_str())));
    };
    let ready_at = next.created_at.saturating_add(secs(policy.publish_lead));
    if now < ready_at && !force {
        return Err(refused(format!(
            "the next {} key {} was published {} s ago; verifiers may cache the JWKS for {} s, so it signs from {} s from now (or force the rotation)",
            alg.as_str(),
            next.kid,
            now - next.created_at,
            policy.publish_lead.as_secs(),
            ready_at - now,
        )));
    }
    Ok(KeyChange {
        expected_version: keys.version,
        now,
        insert: vec![generate(alg, kek, now)?],
        activate: Some(next.kid.clone()),
        deactivate: Some(active.kid.clone()),
        retire: Vec::new(),
    })
}

/// Retires a retiring key once what it signed has expired.
fn retire_change(keys: &AlgKeys, kid: &str, policy: &KeyPolicy, now: i64, force: bool) -> TokenResult<KeyChange> {
    let Some(key) = keys.keys.iter().find(|k| k.kid == kid) else {
        return Err(TokenError::NotFound(format!("no signing key {kid}")));
    };
    if key.state() != KeyState::Retiring {
        return Err(refused(format!(
            "key {kid} is {}: only a retiring key (one that stopped signing) can be retired; rotate first",
            key.state().as_str()
        )));
    }
    let safe_at = key.deactivated_at.unwrap_or(now).saturating_add(secs(policy.retire_after));
    if now < safe_at && !force {
        return Err(refused(format!(
            "tokens signed by {kid} may still be live for {} s; retiring it now makes them fail verification (or force the retirement)",
            safe_at - now
        )));
    }
    Ok(KeyChange { expected_version: keys.version, now, retire: vec![kid.to_owned()], ..KeyChange::default() })
}

/// What is loaded: the signers and the published set.
#[derive(Debug, Default)]
struct Keyring {
    signers: HashMap<SigningAlg, Arc<Signer>>,
    /// Every published key's public half by kid: what verifies a token Gatehouse signed.
    verifiers: HashMap<String, (SigningAlg, Arc<jsonwebtoken::DecodingKey>)>,
    /// `{"keys": [...]}`: active keys first, then next and retiring ones.
    jwks: Arc<str>,
}

/// Where the keys are kept: one algorithm's keys change only together with
/// its version, compared and set in the same transaction.
#[async_trait::async_trait]
pub(crate) trait KeyStore: Send + Sync + std::fmt::Debug {
    /// An algorithm's keys, oldest first, and its version (0 before any).
    async fn load(&self, alg: SigningAlg) -> TokenResult<AlgKeys>;
    /// Applies `change` if the version is still the one it was planned on;
    /// `false` when a concurrent change won (nothing written).
    async fn apply(&self, alg: SigningAlg, change: &KeyChange) -> TokenResult<bool>;
}

/// The service's keys: loaded at start, read again every [`RELOAD_EVERY`].
#[derive(Debug)]
pub(crate) struct Keys {
    store: Arc<dyn KeyStore>,
    kek: KeyEncryptionKey,
    policy: KeyPolicy,
    ring: RwLock<Arc<Keyring>>,
}

/// Attempts of a change that lost to a concurrent one before giving up.
const CHANGE_ATTEMPTS: usize = 5;

impl Keys {
    pub(crate) fn new(store: Arc<dyn KeyStore>, kek: KeyEncryptionKey, policy: KeyPolicy) -> Self {
        Self { store, kek, policy, ring: RwLock::new(Arc::new(Keyring::default())) }
    }

    /// Makes sure every algorithm has an active and a next key, then loads them.
    pub(crate) async fn start(&self, now: i64) -> TokenResult<()> {
        for alg in SigningAlg::ALL {
            self.change(alg, |keys| ensure_change(alg, keys, &self.kek, now)).await?;
        }
        self.reload().await
    }

    /// Applies the change `plan` makes of the current keys; when a
    /// concurrent change won, plans again on what it left.
    async fn change(
        &self,
        alg: SigningAlg,
        plan: impl Fn(&AlgKeys) -> TokenResult<Option<KeyChange>>,
    ) -> TokenResult<bool> {
        for _ in 0..CHANGE_ATTEMPTS {
            let keys = self.store.load(alg).await?;
            let Some(change) = plan(&keys)? else {
                return Ok(false);
            };
            if self.store.apply(alg, &change).await? {
                return Ok(true);
            }
        }
        Err(TokenError::Unavailable("signing keys kept changing under concurrent rotations; try again".to_owned()))
    }

    pub(crate) async fn reload(&self) -> TokenResult<()> {
        let mut signers = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published: Vec<(u8, serde_json::Value)> = Vec::new();
        let metrics = gatehouse_runtime::metrics::metrics();
        for alg in SigningAlg::ALL {
            for key in self.store.load(alg).await?.keys {
                let order = match key.state() {
                    KeyState::Active => {
                        signers.insert(alg, Arc::new(Signer::open(&key, &self.kek)?));
                        let labels = gatehouse_runtime::metrics::AlgLabels { alg: alg.as_str() };
                        let activated = key.activated_at.unwrap_or(key.created_at);
                        metrics.signing_key_activated.get_or_create(&labels).set(activated);
                        if let Some(every) = self.policy.rotate_every {
                            let due = activated.saturating_add(secs(every));
                            metrics.signing_key_rotation_due.get_or_create(&labels).set(due);
                        }
                        0
                    }
                    KeyState::Next => 1,
                    KeyState::Retiring => 2,
                    KeyState::Retired => continue,
                };
                let jwk: Jwk = serde_json::from_str(&key.public_jwk).map_err(internal)?;
                let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(internal)?;
                verifiers.insert(key.kid.clone(), (alg, Arc::new(decoding)));
                published.push((order, serde_json::from_str(&key.public_jwk).map_err(internal)?));
            }
        }
        published.sort_by_key(|(order, _)| *order);
        let keys: Vec<serde_json::Value> = published.into_iter().map(|(_, jwk)| jwk).collect();
        let jwks: Arc<str> = serde_json::json!({ "keys": keys }).to_string().into();
        let ring = Arc::new(Keyring { signers, verifiers, jwks });
        if let Ok(mut current) = self.ring.write() {
            *current = ring;
        }
        Ok(())
    }

    fn ring(&self) -> Arc<Keyring> {
        self.ring.read().map(|ring| ring.clone()).unwrap_or_default()
    }

    /// Seals a secret that is not a key (a receiver's push credential)
    /// under the key-encryption key, bound to `label`.
    pub(crate) fn seal(&self, label: &str, plaintext: &[u8]) -> String {
        self.kek.seal(label, plaintext)
    }

    /// Opens what [`Keys::seal`] sealed with `label`.
    pub(crate) fn open(&self, label: &str, sealed: &str) -> TokenResult<Vec<u8>> {
        self.kek.open(label, sealed).map_err(internal)
    }

    /// Signs `claims` with the active key of `alg`.
    pub(crate) fn sign(&self, alg: SigningAlg, typ: &str, claims: &impl Serialize) -> TokenResult<String> {
        let ring = self.ring();
        let signer =
            ring.signers.get(&alg).ok_or_else(|| internal(format!("no active {} signing key", alg.as_str())))?;
        signer.sign(typ, claims)
    }

    /// The claims of a JWS this server signed with a published key (any
    /// state but retired), or None. Only the signature and the header are
    /// checked here; what the claims must say is the caller's rule.
    pub(crate) fn verify<T: serde::de::DeserializeOwned>(&self, jws: &str) -> Option<T> {
        let header = jsonwebtoken::decode_header(jws).ok()?;
        let ring = self.ring();
        let (alg, key) = ring.verifiers.get(header.kid.as_deref()?)?;
        let algorithm = match alg {
            SigningAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::Es256 => jsonwebtoken::Algorithm::ES256,
        };
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<T>(jws, key, &validation).ok().map(|data| data.claims)
    }

    /// The published key set (public members only), as JSON.
    pub(crate) fn jwks(&self) -> Arc<str> {
        self.ring().jwks.clone()
    }

    /// Every key, for `gatehouse keys list`.
    pub(crate) async fn list(&self) -> TokenResult<Vec<StoredKey>> {
        let mut all = Vec::new();
        for alg in SigningAlg::ALL {
            all.extend(self.store.load(alg).await?.keys);
        }
        Ok(all)
    }

    /// `gatehouse keys rotate`: promotes the next key of each of `algs`.
    pub(crate) async fn rotate(&self, algs: &[SigningAlg], now: i64, force: bool) -> TokenResult<()> {
        for &alg in algs {
            self.change(alg, |keys| rotate_change(alg, keys, &self.kek, &self.policy, now, force).map(Some)).await?;
        }
        self.reload().await
    }

    /// `gatehouse keys retire KID`.
    pub(crate) async fn retire(&self, kid: &str, now: i64, force: bool) -> TokenResult<()> {
        let mut found = false;
        for alg in SigningAlg::ALL {
            let keys = self.store.load(alg).await?;
            if keys.keys.iter().any(|k| k.kid == kid) {
                found = true;
                self.change(alg, |keys| retire_change(keys, kid, &self.policy, now, force).map(Some)).await?;
            }
        }
        if !found {
            return Err(TokenError::NotFound(format!("no signing key {kid}")));
        }
        self.reload().await
    }

    /// The automatic schedule, run by every replica (the version check
    /// makes concurrent runs harmless): rotate keys past their age once the
    /// next one is ready, retire what has outlived everything it signed.
    pub(crate) async fn tick(&self, now: i64) -> TokenResult<()> {
        for alg in SigningAlg::ALL {
            self.change(alg, |keys| ensure_change(alg, keys, &self.kek, now)).await?;
            if let Some(every) = self.policy.rotate_every {
                self.change(alg, |keys| {
                    let due = keys
                        .in_state(KeyState::Active)
                        .and_then(|k| k.activated_at)
                        .is_some_and(|at| at.saturating_add(secs(every)) <= now);
                    if !due {
                        return Ok(None);
                    }
                    // Not ready (the next key too fresh) is not an error of the schedule.
                    Ok(rotate_change(alg, keys, &self.kek, &self.policy, now, false).ok())
                })
                .await?;
            }
            self.change(alg, |keys| {
                let stale: Vec<String> = keys
                    .keys
                    .iter()
                    .filter(|k| k.state() == KeyState::Retiring)
                    .filter(|k| k.deactivated_at.unwrap_or(now).saturating_add(secs(self.policy.retire_after)) <= now)
                    .map(|k| k.kid.clone())
                    .collect();
                Ok((!stale.is_empty()).then(|| KeyChange {
                    expected_version: keys.version,
                    now,
                    retire: stale,
                    ..KeyChange::default()
                }))
            })
            .await?;
        }
        self.reload().await
    }
}

/// Runs the schedule every [`RELOAD_EVERY`] (which also picks up what
/// other replicas and `gatehouse keys` changed).
pub(crate) fn spawn_schedule(keys: Arc<Keys>, clock: Arc<dyn gatehouse_oauth::Clock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(error) = keys.tick(clock.now().timestamp()).await {
                tracing::warn!(%error, "signing key schedule failed; keeping the loaded keys");
            }
        }
    });
}

#[cfg(test)]
#[path = "keys/tests.rs"]
mod tests;
