//! The OAuth 2.0 rules of Gatehouse, free of any transport or storage.
//!
//! Every protocol value has a newtype that validates on construction, so a
//! value that reached a service's use case is already known to be well formed.
//! Nothing here depends on tonic, hyper, sea-orm or redis.

pub mod acr;
pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod clock;
pub mod code_grant;
pub mod device;
pub mod dpop;
pub mod error;
pub mod grant;
pub mod metadata;
pub mod oidc;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod registration;
pub mod resource;
pub mod scope;
pub mod secret;
pub mod ssf;
pub mod text;
pub mod token;
pub mod totp;

pub use client::{ClientId, ClientRequirements, ClientType, RegisteredClient, Registration, SigningAlg};
pub use client_auth::{ClientAuthMethod, ClientAuthentication};
pub use clock::{Clock, SystemClock};
pub use error::{OAuthError, OAuthErrorCode};
pub use grant::{GrantType, TokenRequest};
pub use params::Params;
pub use redirect_uri::RedirectUri;
pub use resource::{Resource, ResourceId, TokenFormat};
pub use scope::{Scope, ScopeCatalogue, ScopeSet};
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, CodeVerifier, DeviceCode, IdToken, InternalCredential, Password,
    RefreshToken, SecretHash, SessionToken, random_token,
};
