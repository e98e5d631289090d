//! Conversions between wire enums and the OAuth domain types shared by
//! several services. Service-specific messages convert in their own crate.

use gatehouse_oauth::scope::ScopeEntry;
use gatehouse_oauth::{ClientType, GrantType};

use crate::pb::common::v1 as common;

impl From<ClientType> for common::ClientType {
    fn from(value: ClientType) -> Self {
        match value {
            ClientType::Confidential => Self::Confidential,
            ClientType::Public => Self::Public,
        }
    }
}

/// `None` for UNSPECIFIED.
pub fn client_type_from_pb(value: i32) -> Result<Option<ClientType>, String> {
    match common::ClientType::try_from(value) {
        Ok(common::ClientType::Unspecified) => Ok(None),
        Ok(common::ClientType::Confidential) => Ok(Some(ClientType::Confidential)),
        Ok(common::ClientType::Public) => Ok(Some(ClientType::Public)),
        Err(_) => Err(format!("unknown client type {value}")),
    }
}

impl From<GrantType> for common::GrantType {
    fn from(value: GrantType) -> Self {
        match value {
            GrantType::AuthorizationCode => Self::AuthorizationCode,
            GrantType::RefreshToken => Self::RefreshToken,
            GrantType::ClientCredentials => Self::ClientCredentials,
        }
    }
}

/// Fails on UNSPECIFIED or an unknown number.
pub fn grant_type_from_pb(value: i32) -> Result<GrantType, String> {
    match common::GrantType::try_from(value) {
        Ok(common::GrantType::AuthorizationCode) => Ok(GrantType::AuthorizationCode),
        Ok(common::GrantType::RefreshToken) => Ok(GrantType::RefreshToken),
        Ok(common::GrantType::ClientCredentials) => Ok(GrantType::ClientCredentials),
        Ok(common::GrantType::Unspecified) | Err(_) => Err(format!("unknown grant type {value}")),
    }
}

/// Converts a list of wire grant types, failing on the first unknown one.
pub fn grant_types_from_pb(values: &[i32]) -> Result<Vec<GrantType>, String> {
    values.iter().map(|v| grant_type_from_pb(*v)).collect()
}

impl From<&ScopeEntry> for common::ScopeDescription {
    fn from(entry: &ScopeEntry) -> Self {
        Self {
            name: entry.scope.as_str().to_owned(),
            description: entry.description.clone(),
            description_zh: entry.description_zh.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for grant in GrantType::ALL {
            assert_eq!(grant_type_from_pb(common::GrantType::from(grant) as i32), Ok(grant));
        }
        for ct in [ClientType::Confidential, ClientType::Public] {
            assert_eq!(client_type_from_pb(common::ClientType::from(ct) as i32), Ok(Some(ct)));
        }
        assert_eq!(client_type_from_pb(0), Ok(None));
        assert!(grant_type_from_pb(0).is_err());
        assert!(grant_type_from_pb(99).is_err());
        assert!(client_type_from_pb(99).is_err());
    }
}
