//! The seed platform's JSON envelope: `{"code":0,"data":...}` on success,
//! `{"code":1,"msg":"..."}` on failure, with a fitting HTTP status.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use crate::error::GatewayError;

pub(crate) fn ok(data: Value) -> Response {
    ok_with(StatusCode::OK, data)
}

pub(crate) fn ok_with(status: StatusCode, data: Value) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("code".to_owned(), json!(0));
    body.insert("data".to_owned(), data);
    (status, Json(Value::Object(body))).into_response()
}

pub(crate) fn error(error: &GatewayError) -> Response {
    let response = (error.http_status(), Json(json!({ "code": 1, "msg": error.message }))).into_response();
    super::with_retry_after(response, error)
}

/// A success in the envelope, as a handler's answer: `{"code":0,"data":...}`.
#[derive(Debug)]
pub(crate) struct Envelope {
    status: StatusCode,
    data: Value,
}

impl Envelope {
    pub(crate) fn ok(data: Value) -> Self {
        Self { status: StatusCode::OK, data }
    }

    pub(crate) fn created(data: Value) -> Self {
        Self { status: StatusCode::CREATED, data }
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        ok_with(self.status, self.data)
    }
}

/// A failure in the envelope, `{"code":1,"msg":...}` with its status and
/// `Retry-After`: what envelope handlers return as `Err`, so that they use
/// `?` on anything that becomes a [`GatewayError`].
#[derive(Debug)]
pub(crate) struct EnvelopeError(pub(crate) GatewayError);

impl<E: Into<GatewayError>> From<E> for EnvelopeError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for EnvelopeError {
    fn into_response(self) -> Response {
        error(&self.0)
    }
}

/// What an envelope handler returns.
pub(crate) type EnvelopeResult = Result<Envelope, EnvelopeError>;
