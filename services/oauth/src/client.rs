//! Client identity: client ids, client types and grant types (RFC 6749 §2).

use crate::secret::random_token;

/// A client identifier (RFC 6749 §2.2): public, not a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// Length of generated ids (20 base62 characters, about 119 bits: unguessable
    /// enough that ids cannot be enumerated).
    const GENERATED_CHARS: usize = 20;

    pub fn generate() -> Self {
        // The checksum adds nothing to an id, so only the random part is kept.
        let token = random_token("", Self::GENERATED_CHARS);
        Self(token[..Self::GENERATED_CHARS].to_owned())
    }

    /// Accepts any non-empty printable ASCII string of at most 128 characters.
    pub fn parse(value: &str) -> Option<Self> {
        let ok = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientType {
    /// Can keep a secret: authenticates with one at the token endpoint.
    Confidential,
    /// Cannot keep a secret: must use PKCE and gets no client secret.
    Public,
}

impl ClientType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// The grant types Gatehouse supports (no implicit, no password: RFC 9700 §2.1.2, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [Self; 3] = [Self::AuthorizationCode, Self::RefreshToken, Self::ClientCredentials];

    /// What an application gets when registration names no grant type.
    pub const DEFAULT: [Self; 2] = [Self::AuthorizationCode, Self::RefreshToken];

    /// The `grant_type` parameter value (RFC 6749 §4.1.3, §4.4.2, §6).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|grant| grant.as_str() == value)
    }

    /// Whether an application of `client_type` may be allowed this grant:
    /// `client_credentials` needs a secret (RFC 6749 §4.4).
    pub const fn allowed_for(self, client_type: ClientType) -> bool {
        !matches!((self, client_type), (Self::ClientCredentials, ClientType::Public))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_client_ids_are_distinct_and_alphanumeric() {
        let a = ClientId::generate();
        let b = ClientId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn grant_types_round_trip_and_password_is_not_one() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::parse("implicit"), None);
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        assert!(!GrantType::ClientCredentials.allowed_for(ClientType::Public));
        assert!(GrantType::ClientCredentials.allowed_for(ClientType::Confidential));
        assert!(GrantType::AuthorizationCode.allowed_for(ClientType::Public));
    }
}
