//! Text Confidant never stores: a NUL character, or form fields that are not UTF-8.
//! PostgreSQL cannot hold NUL in `TEXT` and SQLite can, so without one rule here the same
//! input would be a 500 on one backend and stored on the other; and a form field that is not
//! UTF-8 would be stored with U+FFFD where the JSON API refuses it. Every request's path,
//! query and (JSON or form) body is checked before any handler runs, and refused in the shape
//! of its surface.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::shapes::{Surface, surface};
use super::web::PageError;
use crate::state::AppState;

const NUL: &str = "Text may not contain the NUL character (U+0000).";
const NOT_UTF8: &str = "Form fields must be UTF-8.";

/// The request back if its path, query and body hold no NUL and its form fields are UTF-8;
/// else the refusal to answer, in its surface's shape. A JSON or form body is read whole
/// here, and handed on.
pub async fn check(state: &AppState, request: Request) -> Result<Request, Response> {
    let path = request.uri().path();
    let in_uri = request
        .uri()
        .path_and_query()
        .is_some_and(|pq| has_encoded_nul(pq.as_str()));
    if in_uri {
        return Err(refusal(path, NUL));
    }
    let kind = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let (json, form) = (
        kind.contains("json"),
        kind.contains("x-www-form-urlencoded"),
    );
    if !json && !form {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    // Event batches may be larger than other bodies; each route's extractor enforces the
    // same limit again.
    let limit = if path == super::partner::events::PATH {
        super::partner::events::MAX_BODY_BYTES
    } else {
        state.web.max_body_bytes
    };
    let Ok(bytes) = to_bytes(body, limit).await else {
        return Err(too_large(path));
    };
    if form && !form_is_utf8(&bytes) {
        return Err(refusal(path, NOT_UTF8));
    }
    // JSON that is not UTF-8 is left to the JSON extractor, which refuses it as such.
    let text = String::from_utf8_lossy(&bytes);
    let nul =
        bytes.contains(&0) || (form && has_encoded_nul(&text)) || (json && has_json_nul(&text));
    if nul {
        return Err(refusal(path, NUL));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Whether a form body, and every name and value in it once percent-decoded, is UTF-8.
fn form_is_utf8(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|text| {
        text.split(['&', '=']).all(|piece| {
            percent_encoding::percent_decode_str(piece)
                .decode_utf8()
                .is_ok()
        })
    })
}

/// `%00` in a URL or form body.
fn has_encoded_nul(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// `\u0000` in JSON as an escape — not as the text `\\u0000`, whose backslash is escaped.
fn has_json_nul(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("u0000").map(|i| i + from) {
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        if backslashes % 2 == 1 {
            return true;
        }
        from = at + 1;
    }
    false
}

fn too_large(path: &str) -> Response {
    match surface(path) {
        Surface::Json => super::error::ApiError::PayloadTooLarge.into_response(),
        Surface::OAuth => (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({
                "error": "invalid_request",
                "error_description": "The request body is too large.",
            })),
        )
            .into_response(),
        Surface::Page => PageError::TooLarge.into_response(),
    }
}

fn refusal(path: &str, message: &str) -> Response {
    match surface(path) {
        Surface::Json => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({ "error": "invalid_text", "message": message })),
        )
            .into_response(),
        Surface::OAuth => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_request", "error_description": message })),
        )
            .into_response(),
        // The consent page is a page: a browser gets one.
        Surface::Page => PageError::BadRequest(message.into()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_however_it_is_written() {
        assert!(has_encoded_nul("/api/v1/x?q=a%00b"));
        assert!(has_json_nul(r#"{"body":"a\u0000b"}"#));
        assert!(has_json_nul(r#"{"body":"\\\u0000"}"#));
        assert!(!has_json_nul(r#"{"body":"the text \\u0000 is fine"}"#));
        assert!(!has_encoded_nul("/api/v1/x?q=100"));
        assert!(form_is_utf8(b"name=Zo%C3%AB&x=a+b"));
        assert!(!form_is_utf8(b"name=Zo%FF"));
        assert!(!form_is_utf8(b"name=Zo\xff"));
    }
}
