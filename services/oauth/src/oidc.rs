//! The OpenID Connect parameters of an authorization request (Core
//! §3.1.2.1): what they ask of the login, parsed and checked here once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::OAuthError;

/// Longest `nonce`, `login_hint` echoed or used; longer ones are refused.
pub const MAX_NONCE_LEN: usize = 1024;
pub const MAX_HINT_LEN: usize = 8192;

/// `prompt`: space-separated, `none` alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show nothing: answer at once, or with `login_required` / `consent_required`.
    pub none: bool,
    /// Sign in again even with a session.
    pub login: bool,
    /// Ask for consent even when it was given before.
    pub consent: bool,
    /// Let the user choose the account: with one session at a time, the login page.
    pub select_account: bool,
}

impl Prompt {
    pub fn parse(value: Option<&str>) -> Result<Self, OAuthError> {
        let mut prompt = Self::default();
        for word in value.unwrap_or_default().split(' ').filter(|w| !w.is_empty()) {
            match word {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                _ => {
                    return Err(OAuthError::invalid_request(
                        "prompt takes none, login, consent and select_account, space-separated",
                    ));
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
        }
        Ok(prompt)
    }

    /// Whether the user must sign in again whatever the session.
    pub fn forces_login(self) -> bool {
        self.login || self.select_account
    }
}

/// `max_age`: seconds, a non-negative integer.
pub fn max_age(value: Option<&str>) -> Result<Option<i64>, OAuthError> {
    value
        .map(|v| {
            v.parse::<u32>()
                .map(i64::from)
                .map_err(|_| OAuthError::invalid_request("max_age must be a non-negative number of seconds"))
        })
        .transpose()
}

/// The `sub` an `id_token_hint` names. The hint is not verified: it only
/// ever narrows what happens (a session of another user must sign in
/// again; `prompt=none` then fails), never grants anything, so a forged
/// one gains nothing that leaving it out would not.
pub fn id_token_hint_subject(hint: &str) -> Result<String, OAuthError> {
    let malformed = || OAuthError::invalid_request("id_token_hint is not an ID token");
    let mut parts = hint.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
    let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    if claims.sub.is_empty() {
        return Err(malformed());
    }
    Ok(claims.sub)
}

/// Longest `claims` parameter read.
pub const MAX_CLAIMS_LEN: usize = 8192;

/// The scope that releases each standard claim (Core §5.4): Gatehouse
/// releases claims by scope, so a `claims` request (Core §5.5) for a claim
/// is a request for the scope that carries it, shown on the consent page
/// like any other. Claims Gatehouse does not hold are simply not returned
/// (§5.5: "the Claim is not available").
const CLAIM_SCOPES: [(&str, &str); 16] = [
    ("name", "profile"),
    ("given_name", "profile"),
    ("family_name", "profile"),
    ("middle_name", "profile"),
    ("nickname", "profile"),
    ("preferred_username", "profile"),
    ("profile", "profile"),
    ("picture", "profile"),
    ("website", "profile"),
    ("gender", "profile"),
    ("birthdate", "profile"),
    ("zoneinfo", "profile"),
    ("locale", "profile"),
    ("updated_at", "profile"),
    ("email", "email"),
    ("email_verified", "email"),
];

/// The account's claims Gatehouse holds and releases, with their scope: what
/// an ID token or UserInfo can carry besides the protocol's claims.
pub const RELEASED_CLAIMS: [(&str, &str); 6] = [
    ("name", "profile"),
    ("preferred_username", "profile"),
    ("picture", "profile"),
    ("updated_at", "profile"),
    ("email", "email"),
    ("email_verified", "email"),
];

/// The scope that releases a standard claim (Core §5.4).
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    CLAIM_SCOPES.iter().find(|(name, _)| *name == claim).map(|(_, scope)| *scope)
}

/// The scopes a `claims` parameter asks for, from its `userinfo` and
/// `id_token` members: a JSON object whose members, when present, are
/// objects too; anything else is `invalid_request`.
pub fn claims_scopes(value: &str) -> Result<Vec<&'static str>, OAuthError> {
    let malformed = || OAuthError::invalid_request("claims must be a JSON object of userinfo and id_token requests");
    if value.len() > MAX_CLAIMS_LEN {
        return Err(OAuthError::invalid_request(format!("claims must be at most {MAX_CLAIMS_LEN} characters")));
    }
    let request: serde_json::Map<String, serde_json::Value> = serde_json::from_str(value).map_err(|_| malformed())?;
    let mut scopes = Vec::new();
    for member in ["userinfo", "id_token"] {
        let Some(claims) = request.get(member) else { continue };
        let claims = claims.as_object().ok_or_else(malformed)?;
        for name in claims.keys() {
            if let Some((_, scope)) = CLAIM_SCOPES.iter().find(|(claim, _)| claim == name)
                && !scopes.contains(scope)
            {
                scopes.push(*scope);
            }
        }
    }
    Ok(scopes)
}

/// A single-valued text parameter with a length bound.
pub(crate) fn bounded(value: Option<&str>, name: &str, max: usize) -> Result<Option<String>, OAuthError> {
    match value {
        Some(v) if v.len() > max => {
            Err(OAuthError::invalid_request(format!("{name} must be at most {max} characters")))
        }
        Some("") => Ok(None),
        other => Ok(other.map(str::to_owned)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claims_request_asks_for_the_scopes_that_release_its_claims() {
        let essential = r#"{"userinfo":{"name":{"essential":true}},"id_token":{"email":null,"acr":null}}"#;
        assert_eq!(claims_scopes(essential).unwrap(), vec!["profile", "email"]);
        assert_eq!(claims_scopes(r#"{"id_token":{"auth_time":{"essential":true}}}"#).unwrap(), Vec::<&str>::new());
        assert_eq!(claims_scopes("{}").unwrap(), Vec::<&str>::new());
        for bad in ["[]", "{", r#"{"userinfo":[]}"#, r#"{"id_token":"name"}"#, "null"] {
            assert!(claims_scopes(bad).is_err(), "{bad}");
        }
        assert!(claims_scopes(&format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_CLAIMS_LEN))).is_err());
    }

    #[test]
    fn prompt_values_and_none_alone() {
        assert_eq!(Prompt::parse(None).unwrap(), Prompt::default());
        let p = Prompt::parse(Some("login consent")).unwrap();
        assert!(p.login && p.consent && !p.none && p.forces_login());
        assert!(Prompt::parse(Some("select_account")).unwrap().forces_login());
        assert!(Prompt::parse(Some("none")).unwrap().none);
        assert!(Prompt::parse(Some("none login")).is_err());
        assert!(Prompt::parse(Some("sometimes")).is_err());
    }

    #[test]
    fn max_age_is_a_non_negative_integer() {
        assert_eq!(max_age(Some("0")).unwrap(), Some(0));
        assert_eq!(max_age(Some("10000")).unwrap(), Some(10000));
        assert_eq!(max_age(None).unwrap(), None);
        for bad in ["-1", "1.5", "", "ten", "99999999999"] {
            assert!(max_age(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hint_names_its_subject() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"x","sub":"0192-ab","aud":"c"}"#);
        assert_eq!(id_token_hint_subject(&format!("h.{payload}.s")).unwrap(), "0192-ab");
        for bad in ["", "a.b", "a.b.c.d", "h.!!.s"] {
            assert!(id_token_hint_subject(bad).is_err(), "{bad}");
        }
        let no_sub = URL_SAFE_NO_PAD.encode(r#"{"iss":"x"}"#);
        assert!(id_token_hint_subject(&format!("h.{no_sub}.s")).is_err());
    }
}
