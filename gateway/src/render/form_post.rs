//! The page of OAuth 2.0 Form Post Response Mode: the authorization
//! response as hidden fields of a form the browser posts to the client's
//! redirect URI at once. Its one script is allowed by its hash alone.

use axum::response::{IntoResponse, Response};
use base64::Engine;
use gatehouse_proto::pb::authorization::v1::FormPost;
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use super::html::escape;

/// Submits the form; without script, the button does.
const SCRIPT: &str = "document.forms[0].submit();";

pub(crate) fn form_post(form: &FormPost) -> Response {
    let mut fields = String::new();
    for field in &form.fields {
        fields.push_str(&format!(
            r#"<input type="hidden" name="{}" value="{}">"#,
            escape(&field.name),
            escape(&field.value)
        ));
    }
    let html = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Continue</title></head><body><form method="post" action="{action}">{fields}<noscript><button type="submit">Continue to the application</button></noscript></form><script>{SCRIPT}</script></body></html>"#,
        action = escape(&form.action),
    );
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    let policy = format!("default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'");
    let mut response = (StatusCode::OK, axum::response::Html(html)).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
