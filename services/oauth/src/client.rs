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

    /// Longest client id: generated ids are 20 characters; a client ID
    /// metadata document's URL may be up to this.
    pub const MAX_LEN: usize = 255;

    /// Accepts any non-empty printable ASCII string of at most [`Self::MAX_LEN`] characters.
    pub fn parse(value: &str) -> Option<Self> {
        let ok = !value.is_empty() && value.len() <= Self::MAX_LEN && value.bytes().all(|b| b.is_ascii_graphic());
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

/// Which grants a client type may be allowed (the client's side of the rule).
impl GrantType {
    /// Whether an application of `client_type` may be allowed this grant:
    /// `client_credentials` needs a secret (RFC 6749 §4.4).
    pub const fn allowed_for(self, client_type: ClientType) -> bool {
        !matches!((self, client_type), (Self::ClientCredentials, ClientType::Public))
    }
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

/// How the server came to know a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registration {
    /// A user registered it (pages, REST API, CLI) and owns it.
    Owned,
    /// It registered itself (RFC 7591 dynamic client registration).
    Dynamic,
    /// Its `client_id` is the https URL of its metadata document
    /// (draft-ietf-oauth-client-id-metadata-document).
    MetadataDocument,
}

impl Registration {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owned => "",
            Self::Dynamic => "dynamic",
            Self::MetadataDocument => "metadata_document",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Owned, Self::Dynamic, Self::MetadataDocument].into_iter().find(|r| r.as_str() == value)
    }

    /// A client nobody at this server vouched for: it named itself.
    pub const fn is_self_registered(self) -> bool {
        !matches!(self, Self::Owned)
    }
}

/// A JWS algorithm Gatehouse signs with: what its keys are, and what a
/// client may register for its ID tokens (OpenID Connect Registration's
/// `id_token_signed_response_alg`). RS256 is the default every relying
/// party verifies (Core §15.1); ES256 is an order of magnitude cheaper to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: what OpenID Connect requires of every provider.
    #[default]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl SigningAlg {
    pub const ALL: [Self; 2] = [Self::Rs256, Self::Es256];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == value)
    }

    /// A client's registered value; "" (not sent) is the default.
    pub fn registered(value: &str) -> Option<Self> {
        if value.is_empty() { Some(Self::default()) } else { Self::parse(value) }
    }
}

/// What a client registered to require of every request made for it: its
/// authorization requests only through a pushed request (RFC 9126 §6,
/// `require_pushed_authorization_requests`) and its access tokens only
/// bound to a DPoP key (RFC 9449 §5.2, `dpop_bound_access_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ClientRequirements {
    pub pushed_authorization_requests: bool,
    pub dpop_bound_access_tokens: bool,
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
    pub registration: Registration,
    /// What its ID tokens are signed with.
    pub id_token_alg: SigningAlg,
    pub requirements: ClientRequirements,
}

impl RegisteredClient {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether a code sent to `redirect_uri` can only reach this client, so
    /// that an earlier consent may stand for this request (RFC 8252 §8.6,
    /// the MCP authorization rules). Not for a client that registered
    /// itself (nobody vouched for who runs it), nor for a public client
    /// redirecting to a loopback address (any program there can listen, on
    /// a port of its choosing); a confidential client still has to present
    /// its secret for the code, so its redirect need not prove anything.
    pub fn identified_by_redirect(&self, redirect_uri: &str) -> bool {
        !self.registration.is_self_registered()
            && (self.client_type == ClientType::Confidential || !crate::redirect_uri::is_loopback_uri(redirect_uri))
    }

    /// Whether a grant of `scopes` comes with a refresh token. The client
    /// must hold the `refresh_token` grant type; a self-registered client
    /// (RFC 7591, or a metadata document) must also have been granted
    /// `offline_access`, which the consent page showed the user: such a
    /// client asks for it when it wants to stay signed in (OpenID Connect
    /// Core §11, MCP's refresh-token guidance), and nobody at this server
    /// vouched for it to keep access unasked.
    pub fn gets_refresh_token(&self, scopes: &[String]) -> bool {
        self.allows(GrantType::RefreshToken)
            && (!self.registration.is_self_registered() || scopes.iter().any(|s| s == "offline_access"))
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
    fn public_clients_cannot_use_client_credentials() {
        assert!(!GrantType::ClientCredentials.allowed_for(ClientType::Public));
        assert!(GrantType::ClientCredentials.allowed_for(ClientType::Confidential));
        assert!(GrantType::AuthorizationCode.allowed_for(ClientType::Public));
    }

    #[test]
    fn generated_client_ids_are_distinct_and_alphanumeric() {
        let a = ClientId::generate();
        let b = ClientId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
