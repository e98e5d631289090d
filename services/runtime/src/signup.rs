//! Who may create an account at `/signup`: the same policy read by the
//! gateway (what the pages offer) and enforced by the registry (a
//! `CreateUser` from the gateway is a sign-up; an operator's is not).

/// The sign-up policy (`GATEHOUSE_SIGNUP`, `GATEHOUSE_SIGNUP_EMAIL_DOMAINS`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SignupPolicy {
    /// Anyone may create an account.
    #[default]
    Open,
    /// Only with an operator's invitation (single use, for a while, for
    /// one address when it names one).
    Invitation,
    /// Only with an email address at one of these domains (lower case).
    EmailDomains(Vec<String>),
    /// Nobody: operators create accounts.
    Off,
}

impl SignupPolicy {
    /// The policy from its setting: `open`, `invitation`, `email-domain`
    /// (with a comma-separated list of domains) or `off`.
    pub fn parse(mode: &str, domains: &str) -> Result<Self, String> {
        let domains: Vec<String> = domains
            .split(',')
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        let policy = match mode.trim() {
            "open" => Self::Open,
            "invitation" => Self::Invitation,
            "off" => Self::Off,
            "email-domain" => {
                if domains.is_empty() {
                    return Err("email-domain needs GATEHOUSE_SIGNUP_EMAIL_DOMAINS (a comma-separated list)".to_owned());
                }
                if let Some(bad) = domains.iter().find(|d| {
                    !d.contains('.') || d.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
                }) {
                    return Err(format!("{bad:?} is not a domain name"));
                }
                return Ok(Self::EmailDomains(domains));
            }
            other => return Err(format!("{other:?} is not one of open, invitation, email-domain, off")),
        };
        if !domains.is_empty() {
            return Err("GATEHOUSE_SIGNUP_EMAIL_DOMAINS is only for GATEHOUSE_SIGNUP=email-domain".to_owned());
        }
        Ok(policy)
    }

    /// Whether `/signup` is offered at all.
    pub fn offered(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// Whether `email` is at an allowed domain (always, unless the policy names domains).
    pub fn email_allowed(&self, email: &str) -> bool {
        match self {
            Self::EmailDomains(domains) => email
                .trim()
                .rsplit_once('@')
                .is_some_and(|(_, domain)| domains.iter().any(|d| d.eq_ignore_ascii_case(domain))),
            _ => true,
        }
    }

    /// The setting's word for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Invitation => "invitation",
            Self::EmailDomains(_) => "email-domain",
            Self::Off => "off",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_parses_to_one_policy_or_says_what_is_wrong() {
        assert_eq!(SignupPolicy::parse("open", ""), Ok(SignupPolicy::Open));
        assert_eq!(SignupPolicy::parse("off", ""), Ok(SignupPolicy::Off));
        assert_eq!(SignupPolicy::parse("invitation", ""), Ok(SignupPolicy::Invitation));
        assert_eq!(
            SignupPolicy::parse("email-domain", "Example.com, @corp.example.org"),
            Ok(SignupPolicy::EmailDomains(vec!["example.com".to_owned(), "corp.example.org".to_owned()]))
        );
        assert!(SignupPolicy::parse("email-domain", "").unwrap_err().contains("EMAIL_DOMAINS"));
        assert!(SignupPolicy::parse("email-domain", "localhost").is_err());
        assert!(SignupPolicy::parse("email-domain", "a b.com").is_err());
        assert!(SignupPolicy::parse("open", "example.com").is_err(), "domains without the email-domain policy");
        assert!(SignupPolicy::parse("closed", "").unwrap_err().contains("open, invitation"));
    }

    #[test]
    fn an_address_is_allowed_only_at_a_listed_domain_exactly() {
        let policy = SignupPolicy::parse("email-domain", "example.com").unwrap();
        assert!(policy.email_allowed("ada@example.com"));
        assert!(policy.email_allowed("Ada@EXAMPLE.com"));
        assert!(!policy.email_allowed("ada@evil-example.com"));
        assert!(!policy.email_allowed("ada@example.com.evil.org"));
        assert!(!policy.email_allowed("ada@sub.example.com"), "subdomains are listed on their own");
        assert!(!policy.email_allowed("example.com"));
        assert!(SignupPolicy::Open.email_allowed("anyone@anywhere.org"));
    }
}
