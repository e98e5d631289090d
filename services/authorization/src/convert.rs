//! The authorization service's wire messages to and from its domain
//! types; the shared OAuth ones are in `gatehouse_proto::convert`.

use gatehouse_oauth::scope::ScopeEntry;
use gatehouse_proto::pb::authorization::v1 as pb;
use gatehouse_proto::pb::common::v1::{Parameter, ScopeDescription};
use gatehouse_runtime::clients::registry::ClientApplication;

use crate::begin_authorization::Begin;

pub(crate) fn summary(app: ClientApplication) -> pb::ApplicationSummary {
    pb::ApplicationSummary {
        registration: app.client.registration.as_str().to_owned(),
        client_id: app.client.client_id.into_string(),
        name: app.name,
        description: app.description,
        homepage_url: app.homepage_url,
        logo_url: app.logo_url,
    }
}

pub(crate) fn descriptions(entries: &[ScopeEntry]) -> Vec<ScopeDescription> {
    entries.iter().map(ScopeDescription::from).collect()
}

/// An empty wire string is an absent parameter.
pub(crate) fn given(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

impl From<Begin> for pb::BeginAuthorizationResponse {
    fn from(begin: Begin) -> Self {
        use pb::begin_authorization_response::Outcome;
        let outcome = match begin {
            Begin::LoginRequired(login) => Outcome::LoginRequired(pb::LoginRequired {
                application: Some(summary(login.application)),
                resume: login.resume.into_iter().map(|(name, value)| Parameter { name, value }).collect(),
                reauthenticate: login.reauthenticate,
                login_hint: login.login_hint.unwrap_or_default(),
            }),
            Begin::Redirect(response) => match client_response(response) {
                (uri, None) => Outcome::RedirectUri(uri),
                (_, Some(form)) => Outcome::FormPost(form),
            },
            Begin::Consent(consent) => Outcome::ConsentRequired(pb::ConsentRequired {
                request_id: consent.request_id,
                application: Some(summary(consent.application)),
                new_scopes: descriptions(&consent.new_scopes),
                granted_scopes: descriptions(&consent.granted_scopes),
                redirect_uri: consent.redirect_uri,
                resources: consent.resources,
            }),
        };
        Self { outcome: Some(outcome) }
    }
}

/// A client response on the wire: the location of a 303, or the form to post.
pub(crate) fn client_response(response: gatehouse_oauth::authorize::ClientResponse) -> (String, Option<pb::FormPost>) {
    use gatehouse_oauth::authorize::ResponseMode;
    match response.mode {
        ResponseMode::Query => (response.location(), None),
        ResponseMode::FormPost => {
            let fields = response.params.into_iter().map(|(name, value)| Parameter { name, value }).collect();
            (String::new(), Some(pb::FormPost { action: response.redirect_uri, fields }))
        }
    }
}
