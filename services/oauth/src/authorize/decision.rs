//! What a valid authorization request leads to, decided without I/O: the
//! authorization service gathers the facts (the session, the scopes the
//! user approved before, whether the client's redirect identifies it) and
//! these functions say the next step, rule by rule, as `code_grant` does
//! for a code's redemption.
//!
//! 1. Sign-in (OpenID Connect Core §3.1.2.1): no session, a session older
//!    than `max_age`, one of another user than `id_token_hint` names, or
//!    `prompt=login`/`select_account` → sign in (again); with
//!    `prompt=none` that is `login_required` back to the client instead.
//!    `acr_values` asking for a second factor ([`crate::acr::needs_mfa`])
//!    and a session without one: sign in again when the account has a
//!    second factor, `unmet_authentication_requirements` when it has none.
//! 2. Consent: the approved scopes cover the request, `prompt=consent` is
//!    not given and the client's redirect identifies it → a code at once;
//!    otherwise the consent page, or `consent_required` with `prompt=none`.

use crate::authorize::AuthorizationRequest;
use crate::oidc::Prompt;
use crate::{OAuthError, OAuthErrorCode, ScopeSet};

/// The signed-in user, as far as the decision needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn<'a> {
    pub user_id: &'a str,
    /// When they signed in (Unix seconds).
    pub auth_time: i64,
    /// The session was opened with a second factor.
    pub mfa: bool,
    /// The account has a second factor to sign in with.
    pub can_mfa: bool,
}

/// When the session does not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Show the sign-in page; `reauthenticate` when a session exists but must sign in again.
    Page { reauthenticate: bool },
    /// Back to the client with this error (`prompt=none`).
    Refuse(OAuthError),
}

/// Whether the session answers the request: `Ok` when it does.
pub fn sign_in(request: &AuthorizationRequest, session: Option<SignedIn<'_>>, now: i64) -> Result<(), SignIn> {
    let usable = session.is_some_and(|session| {
        let too_old = request.max_age.is_some_and(|max| now.saturating_sub(session.auth_time) > max);
        let other_user = request.hinted_subject.as_deref().is_some_and(|sub| sub != session.user_id);
        !too_old && !other_user && !request.prompt.forces_login()
    });
    let needs_mfa = crate::acr::needs_mfa(&request.acr_values);
    if usable && needs_mfa && session.is_some_and(|session| !session.mfa) {
        if session.is_some_and(|session| !session.can_mfa) {
            return Err(SignIn::Refuse(crate::acr::unmet()));
        }
        if request.prompt.none {
            return Err(SignIn::Refuse(OAuthError::new(
                OAuthErrorCode::InteractionRequired,
                "the request asks for a second factor the session was not opened with",
            )));
        }
        return Err(SignIn::Page { reauthenticate: true });
    }
    if usable {
        return Ok(());
    }
    if request.prompt.none {
        return Err(SignIn::Refuse(OAuthError::new(OAuthErrorCode::LoginRequired, "the user is not signed in")));
    }
    Err(SignIn::Page { reauthenticate: session.is_some() })
}

/// The request's parameters to come back with after signing in: without
/// what asked for this sign-in (`prompt=login`/`select_account`,
/// `max_age`), which the fresh sign-in satisfies (kept, they would ask
/// again forever); `prompt=consent` stays.
pub fn resume_after_sign_in(pairs: Vec<(String, String)>, prompt: Prompt) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .filter(|(name, _)| name != "prompt" && name != "max_age")
        .chain(prompt.consent.then(|| ("prompt".to_owned(), "consent".to_owned())))
        .collect()
}

/// After sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    /// The approval on record covers the request: issue a code.
    Covered,
    /// Ask the user; `new` are the scopes not approved before.
    Ask { new: ScopeSet },
    /// Back to the client with this error (`prompt=none`).
    Refuse(OAuthError),
}

/// The consent step. `identified`: whether the client's redirect proves
/// who it is (see `RegisteredClient::identified_by_redirect`); one that
/// does not is asked every time.
pub fn consent(request: &AuthorizationRequest, granted: &ScopeSet, identified: bool) -> Consent {
    if request.scopes.is_subset(granted) && !request.prompt.consent && identified {
        return Consent::Covered;
    }
    if request.prompt.none {
        let description = if identified {
            "the user has not approved these scopes"
        } else {
            "this client's redirect cannot prove who it is: the user approves every request"
        };
        return Consent::Refuse(OAuthError::new(OAuthErrorCode::ConsentRequired, description));
    }
    Consent::Ask { new: request.scopes.difference(granted) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientId;
    use crate::authorize::ResponseMode;

    const NOW: i64 = 1_000_000;

    fn request(prompt: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: ClientId::parse("app").unwrap(),
            redirect_uri: "https://app.example/cb".to_owned(),
            redirect_uri_given: true,
            scopes: scopes("user"),
            state: None,
            code_challenge: None,
            nonce: None,
            prompt: Prompt::parse(Some(prompt)).unwrap(),
            max_age: None,
            acr_values: Vec::new(),
            login_hint: None,
            hinted_subject: None,
            response_mode: ResponseMode::Query,
            resources: Vec::new(),
            dpop_jkt: None,
        }
    }

    fn scopes(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    const ADA: SignedIn<'static> = SignedIn { user_id: "ada", auth_time: NOW - 600, mfa: false, can_mfa: true };

    #[test]
    fn a_session_answers_unless_a_rule_asks_for_a_new_sign_in() {
        assert_eq!(sign_in(&request(""), Some(ADA), NOW), Ok(()));
        assert_eq!(sign_in(&request(""), None, NOW), Err(SignIn::Page { reauthenticate: false }));
        for prompt in ["login", "select_account", "login consent"] {
            assert_eq!(
                sign_in(&request(prompt), Some(ADA), NOW),
                Err(SignIn::Page { reauthenticate: true }),
                "{prompt}"
            );
        }
    }

    #[test]
    fn max_age_counts_from_the_sign_in() {
        let mut fresh_enough = request("");
        fresh_enough.max_age = Some(600);
        assert_eq!(sign_in(&fresh_enough, Some(ADA), NOW), Ok(()), "exactly max_age old");
        let mut stricter = request("");
        stricter.max_age = Some(599);
        assert_eq!(sign_in(&stricter, Some(ADA), NOW), Err(SignIn::Page { reauthenticate: true }));
        stricter.max_age = Some(0);
        assert!(sign_in(&stricter, Some(SignedIn { auth_time: NOW, ..ADA }), NOW).is_ok(), "max_age=0 just now");
    }

    #[test]
    fn acr_values_asking_for_a_second_factor_sign_in_again_or_say_it_cannot_be_met() {
        let mut strong = request("");
        strong.acr_values = vec![crate::acr::MFA.to_owned()];
        assert_eq!(sign_in(&strong, Some(ADA), NOW), Err(SignIn::Page { reauthenticate: true }));
        assert_eq!(sign_in(&strong, Some(SignedIn { mfa: true, ..ADA }), NOW), Ok(()));
        assert_eq!(sign_in(&strong, None, NOW), Err(SignIn::Page { reauthenticate: false }));
        let Err(SignIn::Refuse(error)) = sign_in(&strong, Some(SignedIn { can_mfa: false, ..ADA }), NOW) else {
            panic!("unmet")
        };
        assert_eq!(error.code, OAuthErrorCode::UnmetAuthenticationRequirements);
        let mut silent = strong.clone();
        silent.prompt = Prompt::parse(Some("none")).unwrap();
        let Err(SignIn::Refuse(error)) = sign_in(&silent, Some(ADA), NOW) else { panic!("interaction_required") };
        assert_eq!(error.code, OAuthErrorCode::InteractionRequired);
        let mut either = request("");
        either.acr_values = vec![crate::acr::MFA.to_owned(), crate::acr::PWD.to_owned()];
        assert_eq!(sign_in(&either, Some(ADA), NOW), Ok(()), "a password is one of the classes asked for");
    }

    #[test]
    fn a_session_of_another_user_than_the_hint_signs_in_again() {
        let mut hinted = request("");
        hinted.hinted_subject = Some("grace".to_owned());
        assert_eq!(sign_in(&hinted, Some(ADA), NOW), Err(SignIn::Page { reauthenticate: true }));
        hinted.hinted_subject = Some("ada".to_owned());
        assert_eq!(sign_in(&hinted, Some(ADA), NOW), Ok(()));
    }

    #[test]
    fn prompt_none_never_shows_a_page() {
        let none = request("none");
        let Err(SignIn::Refuse(error)) = sign_in(&none, None, NOW) else { panic!("login_required") };
        assert_eq!(error.code, OAuthErrorCode::LoginRequired);
        let mut old = request("none");
        old.max_age = Some(1);
        assert!(matches!(sign_in(&old, Some(ADA), NOW), Err(SignIn::Refuse(_))));
        let Consent::Refuse(error) = consent(&none, &scopes("profile"), true) else { panic!("consent_required") };
        assert_eq!(error.code, OAuthErrorCode::ConsentRequired);
        assert_eq!(consent(&none, &scopes("user profile"), true), Consent::Covered);
        let Consent::Refuse(error) = consent(&none, &scopes("user"), false) else { panic!("unidentified") };
        assert!(error.description.contains("cannot prove"), "{}", error.description);
    }

    #[test]
    fn consent_on_record_covers_only_an_identified_client_without_prompt_consent() {
        let approved = scopes("user profile");
        assert_eq!(consent(&request(""), &approved, true), Consent::Covered);
        assert_eq!(consent(&request(""), &approved, false), Consent::Ask { new: ScopeSet::default() });
        assert_eq!(consent(&request("consent"), &approved, true), Consent::Ask { new: ScopeSet::default() });
        let mut more = request("");
        more.scopes = scopes("user email");
        assert_eq!(consent(&more, &approved, true), Consent::Ask { new: scopes("email") });
    }

    #[test]
    fn resuming_drops_what_asked_for_the_sign_in_and_keeps_consent() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
        };
        let sent = pairs(&[("client_id", "app"), ("prompt", "login consent"), ("max_age", "0"), ("state", "s")]);
        let prompt = Prompt::parse(Some("login consent")).unwrap();
        assert_eq!(
            resume_after_sign_in(sent, prompt),
            pairs(&[("client_id", "app"), ("state", "s"), ("prompt", "consent")])
        );
        let sent = pairs(&[("client_id", "app"), ("prompt", "select_account")]);
        assert_eq!(
            resume_after_sign_in(sent, Prompt::parse(Some("select_account")).unwrap()),
            pairs(&[("client_id", "app")])
        );
    }
}
