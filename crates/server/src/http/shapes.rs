//! Every surface answers every error in its own shape, including the errors that the router
//! and the extractors make on their own (a 405 with an empty body, axum's plain-text 400,
//! 415 and 422, a timeout's bare 503): `{"error", "message"}` under `/api/`, `/partner/`
//! and the operational endpoints, an OAuth error object (RFC 6749 §5.2) at the OAuth
//! endpoints, and an HTML page everywhere else. Handlers that already answered in a shape
//! (JSON or HTML) are left alone.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The most of a bare error body that is kept as its message; axum's are one line.
const MAX_MESSAGE_BYTES: usize = 2048;

/// Which error shape a path answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Surface {
    Json,
    OAuth,
    Page,
}

pub(super) fn surface(path: &str) -> Surface {
    const JSON_PREFIXES: [&str; 4] = ["/api/", "/partner/", "/.well-known/", "/transparency/"];
    const OAUTH_ENDPOINTS: [&str; 3] = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"];
    const OPS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
    if JSON_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) || OPS.contains(&path) {
        Surface::Json
    } else if OAUTH_ENDPOINTS.contains(&path) {
        Surface::OAuth
    } else {
        Surface::Page
    }
}

/// An error response with no shape yet: no body, or a plain-text one.
fn is_bare(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.as_bytes().starts_with(b"text/plain"),
    }
}

/// What a request's error answers must look like: its surface, and its method (which a
/// 405's message names).
pub(super) struct ErrorShape {
    surface: Surface,
    method: Method,
}

impl ErrorShape {
    pub(super) fn of(request: &Request) -> Self {
        ErrorShape {
            surface: surface(request.uri().path()),
            method: request.method().clone(),
        }
    }

    /// The response, in this shape if it is a bare error; anything else as it is.
    pub(super) async fn apply(self, response: Response) -> Response {
        if !is_bare(&response) {
            return response;
        }
        shape(self.surface, &self.method, response).await
    }
}

async fn shape(surface: Surface, method: &Method, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let status = parts.status;
    let message = said.unwrap_or_else(|| default_message(status, method));
    let shaped = match surface {
        Surface::Json => (
            status,
            axum::Json(json!({ "error": code(status), "message": message })),
        )
            .into_response(),
        Surface::OAuth => {
            let error = if status.is_server_error() {
                "server_error"
            } else {
                "invalid_request"
            };
            (
                status,
                axum::Json(json!({ "error": error, "error_description": message })),
            )
                .into_response()
        }
        Surface::Page => crate::http::web::error_page(status, heading(status), message),
    };
    // Keep what the original said besides its body (`Retry-After`, cookies).
    let (shaped_parts, shaped_body) = shaped.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &shaped_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    if surface == Surface::OAuth {
        parts
            .headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Response::from_parts(parts, Body::new(shaped_body))
}

/// The JSON API's error code for a status nothing more specific was said about.
fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_server_error() => "internal_error",
        _ => "bad_request",
    }
}

fn heading(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::METHOD_NOT_ALLOWED => "Not something this page does",
        StatusCode::PAYLOAD_TOO_LARGE => "Too much at once",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "Too much at once",
        StatusCode::SERVICE_UNAVAILABLE => "Busy right now",
        status if status.is_server_error() => "Something went wrong",
        _ => "This request is not valid",
    }
}

fn default_message(status: StatusCode, method: &Method) -> String {
    match status {
        // The router adds `Allow` after every layer has run, so it cannot be quoted here.
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{method} is not allowed here; the Allow header says what is.")
        }
        StatusCode::NOT_FOUND => "There is nothing here.".to_owned(),
        StatusCode::SERVICE_UNAVAILABLE => "The server took too long; try again.".to_owned(),
        status if status.is_server_error() => "Something went wrong on our side.".to_owned(),
        status => status
            .canonical_reason()
            .unwrap_or("The request is not valid.")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_belongs_to_one_surface() {
        assert_eq!(surface("/api/v1/me"), Surface::Json);
        assert_eq!(surface("/partner/v1/friends"), Surface::Json);
        assert_eq!(
            surface("/.well-known/oauth-authorization-server"),
            Surface::Json
        );
        assert_eq!(surface("/metrics"), Surface::Json);
        assert_eq!(surface("/oauth/token"), Surface::OAuth);
        assert_eq!(surface("/oauth/authorize"), Surface::Page);
        assert_eq!(surface("/static/nope.css"), Surface::Page);
        assert_eq!(surface("/settings"), Surface::Page);
    }
}
