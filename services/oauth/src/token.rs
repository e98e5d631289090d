//! Opaque bearer tokens: 256 bits from a CSPRNG, a type prefix and a CRC32
//! checksum (GitHub's format), so that secret scanners find leaked tokens
//! and a malformed token is refused without a storage lookup.

use crate::secret::{RANDOM_CHARS_256_BITS, has_valid_checksum, random_token};

/// The kinds of token Gatehouse issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Access,
    Refresh,
    /// A personal access token: made by a user for scripts, CI and git over
    /// HTTPS, accepted wherever an access token is, limited to its scopes.
    Personal,
    /// A Txn-Token (draft-ietf-oauth-transaction-tokens): a short-lived JWT
    /// carrying a user and a request's context down an internal call chain.
    /// Never an access token: introspection answers it inactive.
    Transaction,
}

impl TokenKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Access => "gat_",
            Self::Refresh => "grt_",
            Self::Personal => "gpt_",
            // Always a JWT: the prefix is never on one.
            Self::Transaction => "gxt_",
        }
    }

    /// The `token_type_hint` value (RFC 7009 §2.1, RFC 7662 §2.1).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access_token",
            Self::Refresh => "refresh_token",
            Self::Personal => "personal_access_token",
            Self::Transaction => "txn_token",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    pub const ALL: [Self; 4] = [Self::Access, Self::Refresh, Self::Personal, Self::Transaction];

    /// Whether it authorizes requests to resources (an access token or a
    /// personal access token), as opposed to obtaining new tokens.
    pub const fn is_bearer(self) -> bool {
        matches!(self, Self::Access | Self::Personal)
    }

    /// A fresh token of this kind.
    pub fn generate(self) -> String {
        random_token(self.prefix(), RANDOM_CHARS_256_BITS)
    }

    /// The kind of a presented token, or `None` when it is not one of ours
    /// (wrong prefix, length or checksum). A JWT access token (RFC 9068,
    /// for a resource that asked for them) has no checksum: its shape is
    /// checked here, and its hash is looked up like any other token's, so
    /// it is exactly as revocable.
    pub fn of(token: &str) -> Option<Self> {
        if is_jwt(token) {
            return Some(Self::Access);
        }
        Self::ALL.into_iter().find(|kind| has_valid_checksum(token, kind.prefix(), RANDOM_CHARS_256_BITS))
    }
}

/// Longest JWT access token looked up: ours are well under 2 KiB.
const MAX_JWT_LEN: usize = 8192;

/// Whether `token` has the shape of a compact JWS with a JSON header
/// (three base64url parts, the first starting `{"`, base64url `eyJ`).
pub fn is_jwt(token: &str) -> bool {
    token.len() <= MAX_JWT_LEN
        && token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_recognised_by_kind() {
        let access = TokenKind::Access.generate();
        let refresh = TokenKind::Refresh.generate();
        assert_eq!(TokenKind::of(&TokenKind::Personal.generate()), Some(TokenKind::Personal));
        assert_eq!(TokenKind::of(&access), Some(TokenKind::Access));
        assert_eq!(TokenKind::of(&refresh), Some(TokenKind::Refresh));
        assert!(access.len() >= 4 + 43);
    }

    #[test]
    fn malformed_tokens_are_refused_without_storage() {
        let access = TokenKind::Access.generate();
        let mut typo = access.clone();
        typo.replace_range(10..11, if &access[10..11] == "A" { "B" } else { "A" });
        for bad in
            ["", "gat_", "gat_short", typo.as_str(), &access[..access.len() - 1], &access.replace("gat_", "grt_")]
        {
            assert_eq!(TokenKind::of(bad), None, "{bad}");
        }
        assert_eq!(TokenKind::parse("refresh_token"), Some(TokenKind::Refresh));
        assert_eq!(TokenKind::parse("id_token"), None);
    }

    #[test]
    fn jwt_access_tokens_are_recognised_by_shape() {
        assert_eq!(TokenKind::of("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), Some(TokenKind::Access));
        for bad in ["eyJ.a", "eyJa..c", "eyJa.b.c.d", "xyz.a.b", "eyJa.b.c d", &format!("eyJ{}.a.b", "A".repeat(9000))]
        {
            assert_eq!(TokenKind::of(bad), None, "{bad}");
        }
    }
}
