//! The one policy table of the internal plane: which roles may call which
//! RPC. A method that is not in the table is answered by no one (UNIMPLEMENTED
//! before any handler runs), so an RPC added without a row here is refused
//! everywhere, and the descriptor test (`every_method_of_every_service_has_a_row`)
//! fails the build's tests until it gets one.
//!
//! The rows follow the table of RPC edges in docs/internal-services.md: each part gets the
//! edges it has and nothing else; a validator (an internal service checking
//! tokens) the four validation methods; an operator the administrative ones;
//! the console (the gateway acting for a signed-in administrator, see
//! [`super::CONSOLE_SESSION`]) those of the admin console's pages.

use super::Role::{self, Authorization, Console, Gateway, Operator, Registry, Token, Validator};

const REGISTRY: &str = "/gatehouse.registry.v1.RegistryService/";
const AUTHORIZATION: &str = "/gatehouse.authorization.v1.AuthorizationService/";
const TOKEN: &str = "/gatehouse.token.v1.TokenService/";

/// One row: a service's method (without the service prefix) and who may call it.
type Row = (&'static str, &'static [Role]);

/// `gatehouse.registry.v1.RegistryService`.
pub const REGISTRY_METHODS: &[Row] = &[
    ("CreateUser", &[Gateway, Operator]),
    ("GetUser", &[Gateway, Operator, Authorization, Token, Registry, Console]),
    ("DeleteUser", &[Gateway, Operator, Console]),
    // The sign-in page's check: the authorization service alone, whoever else asks.
    ("VerifyPassword", &[Authorization]),
    ("ChangePassword", &[Gateway]),
    ("RequestPasswordReset", &[Gateway]),
    ("ResetPassword", &[Gateway]),
    ("SendEmailVerification", &[Gateway]),
    ("VerifyEmail", &[Gateway]),
    ("GetSecondFactors", &[Gateway, Authorization]),
    ("BeginTotp", &[Gateway]),
    ("ConfirmTotp", &[Gateway]),
    ("DisableTotp", &[Gateway]),
    ("RegenerateRecoveryCodes", &[Gateway]),
    ("VerifySecondFactor", &[Authorization]),
    ("BeginPasskeyRegistration", &[Gateway]),
    ("FinishPasskeyRegistration", &[Gateway]),
    ("DeletePasskey", &[Gateway]),
    ("BeginPasskeySignIn", &[Gateway]),
    // Whose passkey signed: what opens a session, so the authorization service alone.
    ("VerifyPasskey", &[Authorization]),
    ("CreateInvitation", &[Operator]),
    ("SetUserRole", &[Operator, Console]),
    // The gateway only for a signed-in administrator (the admin console), whom the registry checks.
    ("SetUserDisabled", &[Operator, Console]),
    ("ListUsers", &[Operator, Console]),
    ("RegisterApplication", &[Gateway, Operator]),
    ("ListApplications", &[Gateway, Operator, Console]),
    ("GetApplication", &[Gateway, Operator, Authorization, Console]),
    ("UpdateApplication", &[Gateway, Operator]),
    ("DeleteApplication", &[Gateway, Operator, Console]),
    ("RotateClientSecret", &[Gateway, Operator]),
    ("DeleteClientSecret", &[Gateway, Operator]),
    ("SetClientSecret", &[Operator]),
    ("AuthenticateClient", &[Authorization, Token]),
    ("VerifyAssertionGrant", &[Token]),
    ("ListScopes", &[Gateway, Authorization, Token]),
    ("RevokeAuthorization", &[Gateway]),
    ("CreateResourceServer", &[Gateway, Operator]),
    ("ListResourceServers", &[Gateway, Operator, Console]),
    ("GetResourceServer", &[Gateway, Operator]),
    ("UpdateResourceServer", &[Gateway, Operator]),
    ("DeleteResourceServer", &[Gateway, Operator]),
    ("ResolveResources", &[Authorization, Token]),
    ("RegisterClient", &[Gateway]),
    ("GetClientRegistration", &[Gateway]),
    ("UpdateClientRegistration", &[Gateway]),
    ("DeleteClientRegistration", &[Gateway]),
    ("RevokeRegistrationToken", &[Token, Operator]),
    ("CreateInitialAccessToken", &[Operator, Console]),
    ("ListInitialAccessTokens", &[Operator, Console]),
    ("DeleteInitialAccessToken", &[Operator, Console]),
    // The other parts check bearer credentials through the registry, which owns them.
    ("AuthenticateCredential", &[Authorization, Token]),
    ("CreateCredential", &[Operator]),
    ("ListCredentials", &[Operator]),
    ("RevokeCredential", &[Operator]),
    ("ListAuditEvents", &[Operator, Gateway, Token, Console]),
    ("VerifyAuditChain", &[Operator, Console]),
];

/// `gatehouse.authorization.v1.AuthorizationService`.
pub const AUTHORIZATION_METHODS: &[Row] = &[
    ("Login", &[Gateway]),
    ("CompleteLogin", &[Gateway]),
    ("LoginWithPasskey", &[Gateway]),
    ("ListSessions", &[Gateway, Operator, Console]),
    ("SignOutSessions", &[Gateway, Registry, Operator, Console]),
    // Every part asks it of the console's calls (the session they carry).
    ("GetSession", &[Gateway, Registry, Authorization, Token]),
    ("Logout", &[Gateway]),
    ("EndSession", &[Gateway]),
    ("BeginAuthorization", &[Gateway]),
    ("Decide", &[Gateway]),
    ("RedeemCode", &[Token]),
    ("ListGrants", &[Gateway]),
    ("RevokeGrant", &[Registry]),
    ("RestoreCode", &[Token]),
    ("RevokeSubjectGrants", &[Registry]),
    ("StartDeviceAuthorization", &[Gateway]),
    ("PushAuthorizationRequest", &[Gateway]),
    ("LookupUserCode", &[Gateway]),
    ("DecideDevice", &[Gateway]),
    ("RedeemDeviceCode", &[Token]),
    ("ListAuditEvents", &[Operator, Gateway, Token, Console]),
    ("VerifyAuditChain", &[Operator, Console]),
];

/// `gatehouse.token.v1.TokenService`.
pub const TOKEN_METHODS: &[Row] = &[
    // Validators: Txn-Token requests only (the token service checks the grant).
    ("Exchange", &[Gateway, Validator]),
    ("Introspect", &[Gateway, Validator, Operator]),
    ("BatchIntrospect", &[Validator]),
    ("Revoke", &[Gateway]),
    ("RevokeAllForGrant", &[Operator]),
    ("RevokeAllForSubject", &[Registry]),
    ("AuthorizeApiCall", &[Gateway]),
    ("CreatePersonalToken", &[Gateway]),
    ("ListPersonalTokens", &[Gateway, Operator]),
    ("RegeneratePersonalToken", &[Gateway]),
    ("RevokePersonalTokens", &[Gateway, Operator]),
    // The gateway's `/admin/tokens/revoke` (its own operator token) and `gatehouse pat revoke-value`.
    ("RevokeTokenByValue", &[Gateway, Operator]),
    ("GetJwks", &[Gateway, Validator]),
    ("UserInfo", &[Gateway]),
    ("VerifyIdTokenHint", &[Gateway]),
    ("ListSigningKeys", &[Operator, Console]),
    ("RotateSigningKeys", &[Operator, Console]),
    ("RetireSigningKey", &[Operator, Console]),
    ("WatchRevocations", &[Validator]),
    ("Ssf", &[Gateway]),
    ("ListAuditEvents", &[Operator, Gateway, Token, Console]),
    ("VerifyAuditChain", &[Operator, Console]),
];

/// Every service of the table with its rows.
pub const SERVICES: [(&str, &[Row]); 3] =
    [(REGISTRY, REGISTRY_METHODS), (AUTHORIZATION, AUTHORIZATION_METHODS), (TOKEN, TOKEN_METHODS)];

/// What the table says of a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The gRPC health protocol: open to every caller, identified or not
    /// (kubelet's probes and the balancers' checks carry no credential).
    Open,
    /// Server reflection, where it is turned on: any identified caller.
    AnyCaller,
    /// A method of the table, for these roles.
    Roles(&'static [Role]),
    /// Not in the table: nobody.
    Unknown,
}

/// The rule for `path` (`/package.Service/Method`).
pub fn rule(path: &str) -> Rule {
    if path.starts_with("/grpc.health.v1.Health/") {
        return Rule::Open;
    }
    if path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
    {
        return Rule::AnyCaller;
    }
    for (prefix, rows) in SERVICES {
        if let Some(method) = path.strip_prefix(prefix) {
            return rows
                .iter()
                .find(|(name, _)| *name == method)
                .map_or(Rule::Unknown, |(_, roles)| Rule::Roles(roles));
        }
    }
    Rule::Unknown
}

/// Every `(path, roles)` row, for docs/internal-services.md's table and the tests.
pub fn rows() -> impl Iterator<Item = (String, &'static [Role])> {
    SERVICES
        .into_iter()
        .flat_map(|(prefix, rows)| rows.iter().map(move |(method, roles)| (format!("{prefix}{method}"), *roles)))
}

/// The policy as a Markdown table (`gatehouse policy` prints it; docs/internal-services.md
/// carries the same text, which a test compares).
pub fn markdown() -> String {
    let mut out = String::from("| RPC | roles allowed |\n| --- | --- |\n");
    for (path, roles) in rows() {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let rpc = path.rsplit('.').next().unwrap_or_default().replace('/', ".");
        out.push_str(&format!("| `{rpc}` | {} |\n", names.join(", ")));
    }
    out
}
