//! The page of OAuth 2.0 Form Post Response Mode: the authorization
//! response as hidden fields of a form the browser posts to the client's
//! redirect URI at once. Its one script is allowed by its hash alone.

use askama::Template;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use gatehouse_proto::pb::authorization::v1::FormPost;
use gatehouse_proto::pb::common::v1::Parameter;
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

/// Submits the form; without script, the button does.
const SCRIPT: &str = "document.forms[0].submit();";

#[derive(Template)]
#[template(path = "form_post.html")]
struct Page<'a> {
    action: &'a str,
    fields: &'a [Parameter],
    /// The one script, allowed by its hash: a constant, never request data.
    script: &'static str,
}

pub(crate) fn form_post(form: &FormPost) -> Response {
    let html = super::pages::render(&Page { action: &form.action, fields: &form.fields, script: SCRIPT });
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    let policy = format!("default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'");
    let mut response = (StatusCode::OK, axum::response::Html(html)).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
