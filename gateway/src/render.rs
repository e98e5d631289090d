//! Turning decisions into HTTP: one module per surface.

pub(crate) mod bearer;
pub(crate) mod console;
pub(crate) mod envelope;
pub(crate) mod form_post;
pub(crate) mod html;
pub mod json;
pub(crate) mod oauth_json;
pub(crate) mod pages;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{LOCATION, RETRY_AFTER};

use crate::error::GatewayError;
use crate::routes::Surface;

/// A 303 See Other: after a POST, and for OAuth redirects the service built.
pub(crate) fn redirect(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, location.to_owned())]).into_response()
}

/// An error in the format of the surface `path` belongs to (see
/// [`crate::routes::ROUTES`]), for answers given before any handler runs:
/// limits, shedding, cross-site refusals.
pub(crate) fn error_for_path(path: &str, lang: crate::i18n::Lang, error: &GatewayError) -> Response {
    let response = match crate::routes::surface_of(path) {
        Surface::OAuth => oauth_json::error(error, false),
        Surface::Envelope => envelope::error(error),
        Surface::Page => html::error_page_at(path, lang, error),
    };
    with_retry_after(response, error)
}

/// Adds `Retry-After` when the error carries a delay (429, 503).
pub(crate) fn with_retry_after(mut response: Response, error: &GatewayError) -> Response {
    if let Some(delay) = error.retry_after
        && let Ok(value) = delay.as_secs().max(1).to_string().parse()
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}
