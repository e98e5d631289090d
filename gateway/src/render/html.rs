//! Server-rendered HTML: the page layout, escaping, and the error page.
//! Pages carry no script; every value that came from a user is escaped.

use std::fmt::Write;

use axum::response::{Html, IntoResponse, Response};
use gatehouse_proto::pb::common::v1::User;
use http::StatusCode;

use crate::error::GatewayError;
use crate::i18n::Lang;

/// Escapes text for HTML element content and quoted attribute values.
/// Text someone else wrote (an application's name, a redirect URI), escaped
/// and isolated (`<bdi>`), so that its direction cannot reorder the page's
/// own words around it. The registry refuses bidirectional controls; this
/// is the page's half of the same rule.
pub(crate) fn isolated(text: &str) -> String {
    format!("<bdi>{}</bdi>", escape(text))
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Who is looking at the page, for the header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Viewer<'a> {
    pub(crate) user: &'a User,
}

/// A whole page around `body`.
pub(crate) fn page(lang: Lang, title: &str, viewer: Option<Viewer<'_>>, body: &str) -> String {
    let mut nav = String::new();
    if let Some(viewer) = viewer {
        let _ = write!(
            nav,
            r#"<a href="/account/applications">{apps}</a><a href="/account/authorizations">{auths}</a><a href="/account/tokens">{tokens}</a><a href="/account/resource-servers">{resources}</a><span class="muted">{name}</span><a href="/logout">{logout}</a>"#,
            apps = lang.msg("applications"),
            auths = lang.msg("authorized-apps"),
            tokens = lang.msg("tokens"),
            resources = lang.msg("resource-servers"),
            name = escape(&viewer.user.username),
            logout = lang.msg("sign-out"),
        );
    }
    format!(
        r#"<!doctype html>
<html lang="{html_lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Gatehouse</title><link rel="stylesheet" href="/assets/gatehouse.css"></head>
<body><header><a class="brand" href="/account/applications">Gatehouse</a><nav>{nav}</nav></header>
<main>{body}</main></body></html>"#,
        html_lang = lang.html_lang(),
        title = escape(title),
    )
}

pub(crate) fn respond(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

/// A hidden CSRF field.
pub(crate) fn csrf_field(token: &str) -> String {
    format!(r#"<input type="hidden" name="csrf_token" value="{}">"#, escape(token))
}

/// The browser error page. It never redirects: it is what a person sees
/// when the client or its redirect URI cannot be trusted.
pub(crate) fn error_page(lang: Lang, error: &GatewayError) -> Response {
    let heading = match error.http_status() {
        StatusCode::NOT_FOUND => lang.msg("not-found"),
        StatusCode::FORBIDDEN => lang.msg("not-allowed"),
        StatusCode::TOO_MANY_REQUESTS => lang.msg("too-many-attempts"),
        StatusCode::SERVICE_UNAVAILABLE => lang.msg("temporarily-unavailable"),
        s if s.is_server_error() => lang.msg("something-went-wrong"),
        _ => lang.msg("this-request-cannot-be-completed"),
    };
    let code = error.oauth.as_ref().map(|o| format!(" <code>{}</code>", o.code.as_str())).unwrap_or_default();
    let body = format!(
        r#"<div class="card narrow"><h1>{heading}</h1><p class="error">{message}{code}</p><p class="muted">{hint}</p></div>"#,
        message = escape(&error.message),
        hint = lang.msg("go-back-to-the-application-and-start"),
    );
    super::with_retry_after(respond(error.http_status(), page(lang, &heading, None, &body)), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
