//! OAuth error responses (RFC 6749 §5.2): `{"error", "error_description"}`, never cached.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use confidant_core::oauth::OAuthError;

/// The body of an OAuth error, as the OpenAPI document describes it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OAuthErrorOut {
    /// The RFC 6749 §5.2 code, e.g. `invalid_grant`.
    pub error: String,
    pub error_description: String,
}

/// An OAuth error as the token, revocation and introspection endpoints send it.
#[derive(Debug)]
pub struct OAuthErrorResponse(pub OAuthError);

impl From<OAuthError> for OAuthErrorResponse {
    fn from(error: OAuthError) -> Self {
        Self(error)
    }
}

impl From<confidant_core::Error> for OAuthErrorResponse {
    fn from(error: confidant_core::Error) -> Self {
        Self(error.into())
    }
}

impl OAuthErrorResponse {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self(OAuthError::new("invalid_request", description))
    }
}

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        let code = self.0.code();
        let (status, description) = match &self.0 {
            OAuthError::Internal(error) => {
                tracing::error!(%error, "OAuth request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side.".to_owned(),
                )
            }
            OAuthError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, self.0.to_string()),
            // RFC 6749 §5.2: a failed client authentication is a 401 with a challenge.
            OAuthError::Protocol { description, .. } if code == "invalid_client" => {
                (StatusCode::UNAUTHORIZED, description.clone())
            }
            OAuthError::Protocol { description, .. } => {
                (StatusCode::BAD_REQUEST, description.clone())
            }
        };
        let mut response = (
            status,
            axum::Json(json!({ "error": code, "error_description": description })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let OAuthError::Throttled { retry_after_secs } = self.0
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"confidant\""),
            );
        }
        response
    }
}
