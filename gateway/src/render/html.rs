//! Server-rendered HTML: the page layout and the error page, templates in
//! `gateway/templates/` like every page. Pages carry no script; askama
//! escapes every value it inserts.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use gatehouse_proto::pb::common::v1::User;
use http::StatusCode;

use crate::error::GatewayError;
use crate::i18n::Lang;

/// Who is looking at the page, for the header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Viewer<'a> {
    pub(crate) user: &'a User,
}

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    lang: Lang,
    title: &'a str,
    viewer: Option<&'a str>,
    /// The viewer holds the administrator role: the header links to the console.
    administrator: bool,
    /// A body one of the page templates rendered (escaped there).
    body: &'a str,
}

/// A whole page around `body` (the output of a page template).
pub(crate) fn page(lang: Lang, title: &str, viewer: Option<Viewer<'_>>, body: &str) -> String {
    let administrator = viewer.as_ref().is_some_and(|viewer| viewer.user.administrator);
    let viewer = viewer.map(|viewer| viewer.user.username.as_str());
    super::pages::render(&Layout { lang, title, viewer, administrator, body })
}

pub(crate) fn respond(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

/// Where a signed-in person's own pages send them back to after an error.
pub(crate) const ACCOUNT_HOME: &str = "/account/applications";
/// Where the admin console's pages send an administrator back to.
pub(crate) const CONSOLE_HOME: &str = "/admin";

/// The error page for a page at `path`: a signed-in person's own pages
/// (`/account/…`, `/admin…`) speak to their owner, every other page to a visitor.
pub(crate) fn error_page_at(path: &str, lang: Lang, error: &GatewayError) -> Response {
    if path.starts_with("/admin") {
        owner_error_page(lang, error, CONSOLE_HOME)
    } else if path.starts_with("/account/") {
        owner_error_page(lang, error, ACCOUNT_HOME)
    } else {
        error_page(lang, error)
    }
}

/// Who an error page speaks to, and so what it tells them to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// Someone in an application's flow (sign-in, consent, a device code):
    /// back to the application, or to its developer.
    Visitor,
    /// A signed-in person on their own pages (`back`: the page to return to):
    /// nothing changed, and the way back.
    Owner { back: &'static str },
}

/// The browser error page. It never redirects: it is what a person sees
/// when the client or its redirect URI cannot be trusted.
pub(crate) fn error_page(lang: Lang, error: &GatewayError) -> Response {
    error_page_for(lang, error, Reader::Visitor)
}

/// The error page of a signed-in person's own pages: it says that nothing
/// changed and links back to `back`.
pub(crate) fn owner_error_page(lang: Lang, error: &GatewayError, back: &'static str) -> Response {
    error_page_for(lang, error, Reader::Owner { back })
}

fn error_page_for(lang: Lang, error: &GatewayError, reader: Reader) -> Response {
    let heading = match error.http_status() {
        StatusCode::NOT_FOUND => lang.msg("not-found"),
        StatusCode::FORBIDDEN => lang.msg("not-allowed"),
        StatusCode::TOO_MANY_REQUESTS => lang.msg("too-many-attempts"),
        StatusCode::SERVICE_UNAVAILABLE => lang.msg("temporarily-unavailable"),
        s if s.is_server_error() => lang.msg("something-went-wrong"),
        _ => lang.msg("this-request-cannot-be-completed"),
    };
    let code = error.oauth.as_ref().map(|o| o.code.as_str());
    let (back, back_text) = match reader {
        Reader::Visitor => (None, String::new()),
        Reader::Owner { back } if back.starts_with("/admin") => (Some(back), lang.msg("back-to-the-console")),
        Reader::Owner { back } => (Some(back), lang.msg("back-to-your-account")),
    };
    let body =
        super::pages::render(&ErrorPage { lang, heading: &heading, message: &error.message, code, back, back_text });
    super::with_retry_after(respond(error.http_status(), page(lang, &heading, None, &body)), error)
}

/// A failure shown as the error page, in the reader's language: what page
/// handlers return as `Err` (see [`OnPage`]).
#[derive(Debug)]
pub(crate) struct PageError {
    lang: Lang,
    /// Boxed: every page handler's `Result` carries this, keep it small.
    error: Box<GatewayError>,
    reader: Reader,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page_for(self.lang, &self.error, self.reader)
    }
}

/// `result.for_owner(lang, back)?`: the failure of a handler of a signed-in
/// person's own pages becomes the error page that speaks to them.
pub(crate) trait OnPage<T> {
    fn for_owner(self, lang: Lang, back: &'static str) -> Result<T, PageError>;
}

impl<T, E: Into<GatewayError>> OnPage<T> for Result<T, E> {
    fn for_owner(self, lang: Lang, back: &'static str) -> Result<T, PageError> {
        self.map_err(|error| PageError { lang, error: Box::new(error.into()), reader: Reader::Owner { back } })
    }
}

/// What a page handler returns.
pub(crate) type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "error_page.html")]
struct ErrorPage<'a> {
    lang: Lang,
    heading: &'a str,
    message: &'a str,
    code: Option<&'a str>,
    /// A signed-in person's own page: where to go back to, and its words.
    back: Option<&'a str>,
    back_text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_only_the_body_goes_in_raw() {
        let error = GatewayError::bad_request(r#"<script>alert("x")</script> & 'y'"#);
        let body = super::super::pages::render(&ErrorPage {
            lang: Lang::En,
            heading: "<h1>",
            message: &error.message,
            code: Some("<b>"),
            back: None,
            back_text: String::new(),
        });
        assert!(body.contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;y&#39;"), "{body}");
        assert!(!body.contains("<script>") && !body.contains("<b>") && body.contains("&#60;h1&#62;"), "{body}");
        let user = User { username: "<i>me</i>".to_owned(), ..User::default() };
        let whole = page(Lang::Zh, "<title>", Some(Viewer { user: &user }), &body);
        assert!(whole.contains(&body), "the body is inserted as rendered");
        assert!(whole.contains("&#60;i&#62;me&#60;/i&#62;") && whole.contains("&#60;title&#62;"), "{whole}");
        assert!(whole.contains(r#"lang="zh-CN""#) && whole.contains("应用管理"), "{whole}");
    }
}
