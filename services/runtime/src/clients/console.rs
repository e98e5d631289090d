//! The admin console's side of the internal plane: the clients the gateway
//! calls with for an administrator (each call carries their session), and
//! the check every part's guard makes of such a call.

use gatehouse_upstream::Upstream;
use tonic::{Code, Status};

use super::{AuthorizationClient, Clients, RegistryClient, TokenClient};
use crate::access::{Administrator, Administrators, CONSOLE_SESSION, Unavailable};

impl Clients {
    /// The same clients, each call carrying `session_token` as the
    /// administrator's session: what the admin console calls with. The
    /// services serve such a call in the console's role only when the
    /// session is a live one of an enabled administrator.
    pub fn for_console(&self, session_token: &str) -> Result<Self, Status> {
        let value = http::HeaderValue::from_str(session_token)
            .map_err(|_| Status::unauthenticated("the session token cannot travel as metadata"))?;
        let name = http::HeaderName::from_static(CONSOLE_SESSION);
        let with = |channel: &Upstream| channel.with_metadata(name.clone(), value.clone());
        Ok(Self {
            registry: RegistryClient::new(with(self.registry.channel())),
            authorization: AuthorizationClient::new(with(self.authorization.channel())),
            token: TokenClient::new(with(self.token.channel())),
        })
    }
}

/// The check of console sessions every part makes, over its own channels:
/// the authorization service for the session, then the registry for the
/// person's role and state, both asked at every call (an administrator
/// whose role is removed, or who is disabled, loses the console at once).
#[derive(Debug, Clone)]
pub struct ConsoleAdministrators {
    authorization: AuthorizationClient,
    registry: RegistryClient,
}

impl ConsoleAdministrators {
    pub fn new(upstreams: &gatehouse_upstream::Upstreams) -> Self {
        Self {
            authorization: AuthorizationClient::new(upstreams.authorization.clone()),
            registry: RegistryClient::new(upstreams.registry.clone()),
        }
    }
}

/// A failure to ask, as opposed to an answer that the session or the person is not one.
fn unavailable(status: &Status) -> Option<Unavailable> {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Internal | Code::Unknown)
        .then(|| Unavailable(status.message().to_owned()))
}

#[tonic::async_trait]
impl Administrators for ConsoleAdministrators {
    async fn administrator(&self, session_token: &str) -> Result<Option<Administrator>, Unavailable> {
        let session = match self.authorization.session(session_token).await {
            Ok(Some(session)) => session,
            Ok(None) => return Ok(None),
            Err(status) => return unavailable(&status).map_or(Ok(None), Err),
        };
        let Some(user_id) = session.user.map(|user| user.id) else { return Ok(None) };
        match self.registry.user(&user_id).await {
            Ok(Some(account)) if account.administrator && !account.disabled => {
                Ok(Some(Administrator { user_id: account.id, username: account.username }))
            }
            Ok(_) => Ok(None),
            Err(status) => unavailable(&status).map_or(Ok(None), Err),
        }
    }
}
