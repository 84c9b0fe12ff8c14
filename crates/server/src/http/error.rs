//! The JSON API's error type: every failure becomes `{"error": code, "message": text}` with
//! a fitting status, and a 500 says nothing internal (the cause is logged once, here).

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use confidant_core::Error;

#[derive(Debug)]
pub enum ApiError {
    Core(Error),
    /// The request itself is malformed (bad JSON, wrong types, bad query).
    BadRequest {
        code: &'static str,
        message: String,
    },
    PayloadTooLarge,
    /// Well-formed JSON of the wrong shape: a missing, unknown or mistyped field, named by
    /// its path (`card.title`, `to[0]`).
    InvalidField {
        field: String,
        message: String,
    },
    /// No or invalid credentials.
    Unauthenticated,
    /// A cookie-authenticated request without the matching CSRF token.
    CsrfRejected,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Core(error)
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
}

/// The status each core error maps to; shared with the HTML pages.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::Unauthorized => StatusCode::UNAUTHORIZED,
        Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, retry_after) = match &self {
            ApiError::Core(error) => {
                let status = status_of(error);
                let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
                    tracing::error!(error = %error, "request failed");
                    "Something went wrong on our side.".to_owned()
                } else {
                    error.to_string()
                };
                let retry_after = match error {
                    Error::Throttled { retry_after_secs } => Some(*retry_after_secs),
                    _ => None,
                };
                let body = Body {
                    error: error.code(),
                    message,
                    field: error.field(),
                };
                (status, body, retry_after)
            }
            ApiError::BadRequest { code, message } => (
                StatusCode::BAD_REQUEST,
                Body {
                    error: code,
                    message: message.clone(),
                    field: None,
                },
                None,
            ),
            ApiError::InvalidField { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Body {
                    error: "invalid_field",
                    message: message.clone(),
                    field: Some(field),
                },
                None,
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Body {
                    error: "payload_too_large",
                    message: "The request body is too large.".into(),
                    field: None,
                },
                None,
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                Body {
                    error: "unauthorized",
                    message: "Log in first: send a bearer token or a session cookie.".into(),
                    field: None,
                },
                None,
            ),
            ApiError::CsrfRejected => (
                StatusCode::FORBIDDEN,
                Body {
                    error: "csrf_rejected",
                    message: "Cookie-authenticated requests need the X-CSRF-Token header.".into(),
                    field: None,
                },
                None,
            ),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"confidant\""),
            );
        }
        response
    }
}

/// `Json` whose rejections use the API's error shape.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// Where a JSON body's buffer starts. `axum::Json` starts at 128 bytes and doubles, copying
/// a page of 50 messages (~25 KiB) eight times over. A buffer this size comes from the
/// allocator's per-thread cache, about as cheaply as a small one; the few larger bodies grow
/// from here.
const JSON_BUFFER_BYTES: usize = 16 * 1024;

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(JSON_BUFFER_BYTES);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            // What axum::Json answers too: a value that cannot be JSON is the server's fault.
            Err(error) => {
                tracing::error!(%error, "a response could not be written as JSON");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge;
        }
        let code = match &rejection {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonDataError(error) => {
                if let Some((field, message)) = misfit_field(error) {
                    return ApiError::InvalidField { field, message };
                }
                "invalid_field"
            }
            _ => "invalid_json",
        };
        ApiError::bad_request(code, rejection.body_text())
    }
}

/// The field a well-formed body got wrong, and why, from the path serde tracked: the path of
/// the value that did not fit, or of an unknown field, or — for a missing field, which serde
/// reports at its parent — the parent's path and the field's name (`card.title`).
fn misfit_field(error: &axum::extract::rejection::JsonDataError) -> Option<(String, String)> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(tracked) = cause.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>()
        {
            let path = tracked.path().to_string();
            let inner = tracked.inner().to_string();
            // A missing field is reported at its parent's path; an unknown one at its own.
            let named = inner
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next());
            let field = match (named, path.as_str()) {
                (Some(name), "." | "") => name.to_owned(),
                (Some(name), parent) => format!("{parent}.{name}"),
                (None, path) => path.to_owned(),
            };
            let message = match inner.rsplit_once(" at line ") {
                Some((message, _)) => message.to_owned(),
                None => inner,
            };
            return Some((field, message));
        }
        source = cause.source();
    }
    None
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

/// A path whose id does not parse names nothing: 404, as for an id that parses but is not
/// there (`/api/v1/conversations/abc` is no more a conversation than `/…/999999`).
impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(_: axum::extract::rejection::PathRejection) -> Self {
        ApiError::Core(confidant_core::Error::NotFound)
    }
}

/// `Query` and `Path` with the API's error shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);
