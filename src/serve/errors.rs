//! Errors as JSON: the error type of the routes, request bodies checked into it, and a
//! layer that gives every other error answer (405, 408, a bad query) the same JSON body.
use super::worker::Failure;
use axum::extract::rejection::JsonRejection;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// An error answer: a status and `{"error": {"message", "type", "code"}}` (OpenAI's shape).
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.0.is_server_error() {
            true => "server_error",
            false => "invalid_request_error",
        };
        let body = json!({"error": {"message": self.1, "type": kind, "code": self.0.as_u16()}});
        (self.0, Json(body)).into_response()
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError(status, f.message)
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        ApiError::bad(e.to_string())
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// Messages longer than this are cut (a deeply nested body's parse error repeats its path).
const MAX_MESSAGE: usize = 300;

fn cut(mut m: String) -> String {
    if m.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !m.is_char_boundary(end) {
            end -= 1;
        }
        m.truncate(end);
        m.push_str("...");
    }
    m
}

/// A JSON object body as `T`, or the JSON error it deserves: 400 for bad JSON or a body that
/// is not an object (serde would read an array as the fields in order), 422 for a missing,
/// mistyped or unknown field, 413 for size, 415 for the content type.
pub fn body<T: DeserializeOwned>(
    b: std::result::Result<Json<Value>, JsonRejection>,
) -> ApiResult<T> {
    let Json(v) = b.map_err(|r| ApiError(r.status(), cut(r.body_text())))?;
    if !v.is_object() {
        return Err(ApiError::bad("the body must be a JSON object"));
    }
    serde_json::from_value(v)
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, cut(e.to_string())))
}

/// The outermost layer: refuses a declared body far over `max_body` at once (413), and gives any
/// error answer that is not JSON yet (axum's 405, the timeout's 408, a query's 400) the JSON
/// error body every other error has.
pub async fn json_errors(max_body: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // Only a declaration far past the limit is refused before the body is read: answering
    // while a client is still sending an ordinary oversized body makes its send fail (a
    // broken pipe) instead of reading the 413; the limit's own check catches those.
    if declared.is_some_and(|n| n > 16 * max_body as u64) {
        return ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {max_body} bytes"),
        )
        .into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match (text.is_empty(), status) {
        (false, _) => cut(text),
        (true, StatusCode::METHOD_NOT_ALLOWED) => "method not allowed on this route".into(),
        (true, StatusCode::REQUEST_TIMEOUT) => {
            "the request took longer than the server's timeout".into()
        }
        (true, s) => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    ApiError(status, message).into_response()
}
