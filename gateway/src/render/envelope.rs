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
