//! Extractors for who is calling, so that each handler states what it needs
//! instead of repeating the session and CSRF checks.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::error_page_at;
use crate::render::{pages, redirect};
use crate::session::{self, Session};

/// A page request of a signed-in user. Without a session the rejection
/// sends the browser to log in and back to this page.
#[derive(Debug)]
pub(crate) struct PageUser {
    pub(crate) session: Session,
    pub(crate) lang: Lang,
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_headers(&parts.headers);
        match session::current(state, &parts.headers).await {
            Ok(Some(session)) => Ok(Self { session, lang }),
            Ok(None) => {
                let here = parts.uri.path_and_query().map_or("/account/applications", |pq| pq.as_str());
                Err(redirect(&format!("/login?next={}", pages::url_encode(here))))
            }
            Err(error) => Err(error_page_at(parts.uri.path(), lang, &error)),
        }
    }
}

/// A form POST of a signed-in user carrying the session's CSRF token.
#[derive(Debug)]
pub(crate) struct FormPost {
    pub(crate) session: Session,
    pub(crate) lang: Lang,
    pub(crate) form: FormData,
}

impl FromRequest<AppState> for FormPost {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let PageUser { session, lang } = PageUser::from_request_parts(&mut parts, state).await?;
        let path = parts.uri.path().to_owned();
        let bytes =
            Bytes::from_request(Request::from_parts(parts, body), state).await.map_err(IntoResponse::into_response)?;
        let form = FormData::from_body(&bytes);
        session::verify_csrf(&session.csrf_token, form.get("csrf_token"))
            .map_err(|e| error_page_at(&path, lang, &e))?;
        Ok(Self { session, lang, form })
    }
}

/// A form POST making a sensitive change (deleting the account or an
/// application, a new client secret or personal token, adding a passkey):
/// a [`FormPost`] whose sign-in is recent ([`session::RECENT_SIGN_IN_SECS`]).
/// With an older one the browser goes to sign in again (the username
/// filled in) and comes back to the page the form was on, to send it again.
#[derive(Debug)]
pub(crate) struct RecentFormPost(pub(crate) FormPost);

impl FromRequest<AppState> for RecentFormPost {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let page = page_of(request.uri().path());
        let post = FormPost::from_request(request, state).await?;
        if post.session.is_recent() {
            return Ok(Self(post));
        }
        let hint = pages::url_encode(&post.session.user.username);
        Err(redirect(&format!("/login?reauthenticate=1&login_hint={hint}&next={}", pages::url_encode(&page))))
    }
}

/// The page a sensitive form is on, from the path it posts to.
fn page_of(path: &str) -> String {
    if path == "/account/passkeys/new" {
        "/account/security".to_owned()
    } else if path.starts_with("/account/tokens") {
        "/account/tokens".to_owned()
    } else if path == "/account/delete" {
        path.to_owned()
    } else if let Some(rest) = path.strip_prefix("/admin/") {
        // A console form goes back to its section's page.
        format!("/admin/{}", rest.split('/').next().unwrap_or_default())
    } else {
        path.strip_suffix("/delete").or_else(|| path.strip_suffix("/secrets")).unwrap_or(path).to_owned()
    }
}

/// The JSON body of a REST call as `T`. A refusal says which rule the body
/// broke and where, never what it contained: an unknown member's name and a
/// wrong value are the sender's text, not repeated back.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let at = format!("line {}, column {}", error.line(), error.column());
        let text = error.to_string();
        let rule = match error.classify() {
            serde_json::error::Category::Data if text.starts_with("unknown field") => {
                "the body has a member this call does not take".to_owned()
            }
            // `missing field `name``: the name is this call's own, not the sender's.
            serde_json::error::Category::Data if text.starts_with("missing field") => {
                text.split(" at line").next().unwrap_or("a required member is missing").to_owned()
            }
            serde_json::error::Category::Data => "a member has the wrong type or value".to_owned(),
            serde_json::error::Category::Eof => "the body ends too early for JSON".to_owned(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => "the body is not JSON".to_owned(),
        };
        GatewayError::bad_request(format!("request body: {rule} ({at})"))
    })
}
