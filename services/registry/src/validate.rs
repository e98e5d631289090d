//! Field rules of accounts and applications. Each failure names the field
//! and the rule, so that a caller can fix the input without guessing.

use gatehouse_oauth::{ClientType, GrantType, RedirectUri, ScopeCatalogue, ScopeSet};
use gatehouse_oauth::{ResourceId, TokenFormat};

use crate::error::{RegistryError, RegistryResult};

/// Redirect URIs one application may register.
pub(crate) const MAX_REDIRECT_URIS: usize = 10;

pub(crate) fn username(value: &str) -> RegistryResult<()> {
    let rule = "must be 2 to 39 characters of letters, digits, '-' or '_', starting with a letter or digit";
    let ok = (2..=39).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && value.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err(RegistryError::invalid("username", rule)) }
}

/// The case-insensitive key under which usernames are unique.
pub(crate) fn username_key(value: &str) -> String {
    value.to_ascii_lowercase()
}

pub(crate) fn email(value: &str) -> RegistryResult<()> {
    let rule = "must be an address like name@example.com, at most 254 characters";
    let ok = value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || gatehouse_oauth::text::is_deceptive(c))
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok { Ok(()) } else { Err(RegistryError::invalid("email", rule)) }
}

pub(crate) fn password(value: &str) -> RegistryResult<()> {
    if (8..=1024).contains(&value.len()) {
        Ok(())
    } else {
        Err(RegistryError::invalid("password", "must be 8 to 1024 bytes"))
    }
}

/// A short single-line text: trimmed length within `min..=max` characters.
pub(crate) fn line(field: &'static str, value: &str, min: usize, max: usize) -> RegistryResult<String> {
    let value = value.trim();
    let len = value.chars().count();
    if len < min || len > max {
        let rule = if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min} to {max} characters")
        };
        return Err(RegistryError::invalid(field, rule));
    }
    if gatehouse_oauth::text::first_deceptive(value).is_some() {
        return Err(RegistryError::invalid(field, DECEPTIVE));
    }
    Ok(value.to_owned())
}

/// The rule of every name, text and link a person reads.
const DECEPTIVE: &str = "must not contain control, bidirectional-override or invisible characters";

/// Free text (a description): at most `max` characters, newlines allowed.
pub(crate) fn text(field: &'static str, value: &str, max: usize) -> RegistryResult<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(RegistryError::invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| gatehouse_oauth::text::is_deceptive(c) && c != '\n' && c != '\r' && c != '\t') {
        return Err(RegistryError::invalid(field, DECEPTIVE));
    }
    Ok(value.to_owned())
}

/// An optional web link (homepage, logo, avatar): empty, or an http(s) URL.
pub(crate) fn web_url(field: &'static str, value: &str) -> RegistryResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let ok = value.len() <= 2000
        && gatehouse_oauth::text::first_deceptive(value).is_none()
        && url::Url::parse(value).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(RegistryError::invalid(field, "must be an http or https URL of at most 2000 characters"))
    }
}

pub(crate) fn redirect_uris(values: &[String]) -> RegistryResult<Vec<RedirectUri>> {
    if values.is_empty() {
        return Err(RegistryError::invalid("redirect_uris", format!("must list 1 to {MAX_REDIRECT_URIS} URIs")));
    }
    uri_list("redirect_uris", "redirect URI", values)
}

/// Post-logout redirect URIs: the redirect URIs' rules, and none at all allowed.
pub(crate) fn post_logout_redirect_uris(values: &[String]) -> RegistryResult<Vec<RedirectUri>> {
    uri_list("post_logout_redirect_uris", "post-logout redirect URI", values)
}

fn uri_list(field: &'static str, what: &str, values: &[String]) -> RegistryResult<Vec<RedirectUri>> {
    if values.len() > MAX_REDIRECT_URIS {
        return Err(RegistryError::invalid(field, format!("must list at most {MAX_REDIRECT_URIS} URIs")));
    }
    let mut out: Vec<RedirectUri> = Vec::with_capacity(values.len());
    // Errors name the URI by its place in the list, never by its text.
    for (n, value) in values.iter().enumerate().map(|(i, v)| (i + 1, v)) {
        let uri =
            RedirectUri::parse(value).map_err(|rule| RegistryError::invalid(field, format!("{what} {n} {rule}")))?;
        if out.contains(&uri) {
            return Err(RegistryError::invalid(field, format!("{what} {n} is listed twice")));
        }
        out.push(uri);
    }
    Ok(out)
}

/// A resource server's identifier (RFC 8707 §2).
pub(crate) fn resource_identifier(value: &str) -> RegistryResult<ResourceId> {
    ResourceId::parse(value).map_err(|rule| RegistryError::invalid("identifier", rule.to_string()))
}

pub(crate) fn token_format(value: &str) -> RegistryResult<TokenFormat> {
    if value.is_empty() {
        return Ok(TokenFormat::Opaque);
    }
    TokenFormat::parse(value).ok_or_else(|| RegistryError::invalid("token_format", "must be opaque or jwt"))
}

/// Most applications one resource server lists by name.
pub(crate) const MAX_ALLOWED_CLIENTS: usize = 100;

pub(crate) fn grant_types(values: &[GrantType], client_type: ClientType) -> RegistryResult<Vec<GrantType>> {
    let mut out: Vec<GrantType> = if values.is_empty() { GrantType::DEFAULT.to_vec() } else { values.to_vec() };
    out.sort();
    out.dedup();
    if let Some(bad) = out.iter().find(|grant| !grant.allowed_for(client_type)) {
        return Err(RegistryError::invalid("grant_types", format!("{} needs a confidential client", bad.as_str())));
    }
    Ok(out)
}

/// Scopes an application may request: each in the catalogue; empty means all.
pub(crate) fn scopes(values: &[String], catalogue: &ScopeCatalogue) -> RegistryResult<ScopeSet> {
    let set = ScopeSet::parse(&values.join(" "))
        .map_err(|_| RegistryError::invalid("scopes", "a scope is not well-formed"))?;
    if set.is_empty() {
        return Ok(catalogue.all());
    }
    if catalogue.first_unknown(&set).is_some() {
        return Err(RegistryError::invalid(
            "scopes",
            "a scope is not in the scope catalogue (GET /api/scopes lists it)",
        ));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(result: RegistryResult<impl std::fmt::Debug>) -> String {
        match result {
            Err(RegistryError::Invalid { field, rule }) => format!("{field}: {rule}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn usernames_follow_the_rule() {
        assert!(username("alice").is_ok());
        assert!(username("a-b_c9").is_ok());
        for bad in ["a", "-alice", "al ice", "ålice", &"a".repeat(40)] {
            assert!(rule_of(username(bad).map(|()| 0)).starts_with("username: must be 2 to 39"), "{bad}");
        }
        assert_eq!(username_key("Alice"), "alice");
    }

    #[test]
    fn emails_and_passwords_follow_the_rule() {
        assert!(email("a@b.co").is_ok());
        for bad in ["", "ab.co", "a@b", "a@@b.co", "a b@c.de", "@b.co", "a@.b.co"] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(password("12345678").is_ok());
        assert!(rule_of(password("short").map(|()| 0)).contains("8 to 1024"));
    }

    #[test]
    fn redirect_uri_lists_are_bounded_and_distinct() {
        let one = vec!["https://a.example/cb".to_owned()];
        assert_eq!(redirect_uris(&one).unwrap().len(), 1);
        assert!(rule_of(redirect_uris(&[])).contains("1 to 10"));
        assert!(rule_of(redirect_uris(&[one[0].clone(), one[0].clone()])).contains("listed twice"));
        assert!(rule_of(redirect_uris(&["javascript:alert(1)".to_owned()])).contains("must use https"));
        let many: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        assert!(redirect_uris(&many).is_err());
    }

    #[test]
    fn public_clients_cannot_be_given_client_credentials() {
        let rule = rule_of(grant_types(&[GrantType::ClientCredentials], ClientType::Public));
        assert!(rule.contains("client_credentials needs a confidential client"));
        assert_eq!(grant_types(&[], ClientType::Public).unwrap(), GrantType::DEFAULT.to_vec());
    }

    #[test]
    fn scopes_must_be_in_the_catalogue() {
        let catalogue = ScopeCatalogue::default();
        assert_eq!(scopes(&[], &catalogue).unwrap().len(), 22);
        assert_eq!(scopes(&["user,project".to_owned()], &catalogue).unwrap().to_string(), "project user");
        let unknown = rule_of(scopes(&["admin".to_owned()], &catalogue));
        assert!(unknown.contains("not in the scope catalogue") && !unknown.contains("admin"), "never echoed");
        let bad = rule_of(scopes(&["Bad!".to_owned()], &catalogue));
        assert!(bad.contains("not well-formed") && !bad.contains("Bad!"), "never echoed");
    }

    #[test]
    fn web_urls_are_http_or_https() {
        assert_eq!(web_url("homepage_url", "").unwrap(), "");
        assert!(web_url("homepage_url", "http://a.example").is_ok());
        assert!(web_url("homepage_url", "javascript:alert(1)").is_err());
        assert!(line("name", "  ", 1, 100).is_err());
        assert_eq!(line("name", " App ", 1, 100).unwrap(), "App");
    }
}
