//! Workload certificates: which identity a client certificate carries and
//! which role the operator gave that identity (`GATEHOUSE_GRPC_PEERS`).
//!
//! The certificate has already been verified against the client CA by the
//! TLS handshake; here only its subject alternative names count (never the
//! subject's common name, which CAs do not constrain the same way): a URI
//! SAN such as a SPIFFE ID, or a DNS SAN. An identity the map does not list
//! identifies nobody, however good its CA: a certificate from the right CA
//! for another workload gets no role.

use std::collections::HashMap;

use super::Role;

/// The role of each listed identity (and a validator's client id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMap {
    entries: HashMap<String, (Role, Option<String>)>,
}

/// A `GATEHOUSE_GRPC_PEERS` entry that does not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("GATEHOUSE_GRPC_PEERS entry {entry:?}: {problem}")]
pub struct PeerMapError {
    entry: String,
    problem: &'static str,
}

impl PeerMap {
    /// Parses `IDENTITY=ROLE[,IDENTITY=ROLE…]`, where IDENTITY is a URI
    /// (`spiffe://example.org/ns/gatehouse/sa/gateway`) or `dns:NAME`, and
    /// ROLE one of `gateway`, `registry`, `authorization`, `token`,
    /// `operator`, or `validator:CLIENT_ID`.
    pub fn parse(spec: &str) -> Result<Self, PeerMapError> {
        let mut entries = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let error = |problem| PeerMapError { entry: entry.to_owned(), problem };
            let (identity, role) = entry.rsplit_once('=').ok_or_else(|| error("is not IDENTITY=ROLE"))?;
            let identity = identity.trim();
            let identity = match identity.strip_prefix("dns:") {
                Some(name) if !name.is_empty() => format!("dns:{}", name.to_ascii_lowercase()),
                Some(_) => return Err(error("has an empty DNS name")),
                None if identity.contains("://") => identity.to_owned(),
                None => return Err(error("identity must be a URI (spiffe://…) or dns:NAME")),
            };
            let role = role.trim();
            let parsed = match role.strip_prefix("validator:") {
                Some(client_id) if !client_id.is_empty() => (Role::Validator, Some(client_id.to_owned())),
                Some(_) => return Err(error("validator: needs the validator's client id")),
                None => match Role::parse(role) {
                    Some(Role::Validator) => return Err(error("write validator:CLIENT_ID")),
                    Some(role) => (role, None),
                    None => {
                        return Err(error(
                            "unknown role (gateway, registry, authorization, token, operator, validator:CLIENT_ID)",
                        ));
                    }
                },
            };
            if entries.insert(identity, parsed).is_some() {
                return Err(error("lists an identity twice"));
            }
        }
        Ok(Self { entries })
    }

    /// Adds one identity (`serve all` maps its own parts' certificates).
    pub fn insert(&mut self, identity: String, role: Role) {
        self.entries.insert(identity, (role, None));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The identity, role and client id of a DER certificate, when one of
    /// its SANs is listed (URI SANs first, then DNS SANs).
    pub fn identify(&self, der: &[u8]) -> Option<(String, Role, Option<String>)> {
        if self.entries.is_empty() {
            return None;
        }
        for identity in identities(der) {
            if let Some((role, client_id)) = self.entries.get(&identity) {
                return Some((identity, *role, client_id.clone()));
            }
        }
        None
    }
}

/// The SAN identities of a certificate, as the map writes them: each URI as
/// is, each DNS name as `dns:name`.
pub fn identities(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, certificate)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = certificate.subject_alternative_name() else {
        return Vec::new();
    };
    let mut uris = Vec::new();
    let mut names = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::URI(uri) => uris.push((*uri).to_owned()),
            GeneralName::DNSName(dns) => names.push(format!("dns:{}", dns.to_ascii_lowercase())),
            _ => {}
        }
    }
    uris.extend(names);
    uris
}
