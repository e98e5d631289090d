//! Client identity: client ids and client types (RFC 6749 §2).

use crate::grant::GrantType;
use crate::redirect_uri::RedirectUri;
use crate::scope::ScopeSet;
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

/// Client ids are public: they print as themselves.
impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// A registered application as the OAuth rules need it: what the token and
/// authorization endpoints decide on. The registry owns it; the other
/// services receive it through the typed registry client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredClient {
    pub client_id: ClientId,
    pub client_type: ClientType,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<RedirectUri>,
    pub scopes: ScopeSet,
    /// Where RP-initiated logout may return; empty: the redirect URIs.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// The resource servers that introspect with this client's credentials
    /// (their identifiers): at introspection it sees tokens for them too.
    /// Known only from a client authentication; empty otherwise.
    pub introspects_for: Vec<String>,
}

impl RegisteredClient {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether RP-initiated logout may send the browser to `uri`: a
    /// registered post-logout URI (matched as redirect URIs are), or, for an application that registered
    /// none, an exact redirect URI (Keycloak's `+`).
    pub fn allows_post_logout(&self, uri: &str) -> bool {
        let allowed = if self.post_logout_redirect_uris.is_empty() {
            &self.redirect_uris
        } else {
            &self.post_logout_redirect_uris
        };
        allowed.iter().any(|registered| registered.matches(uri))
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
}
