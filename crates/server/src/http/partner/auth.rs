//! Partner authentication: an OAuth access token in `Authorization: Bearer`, checked on
//! every call, and the errors of RFC 6750 §3.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use confidant_core::Error;
use confidant_core::oauth::{PartnerAccess, Scope};

use crate::http::session::bearer;
use crate::state::AppState;

/// A partner call with a live access token: the member, the app's grant and the scopes.
pub struct PartnerCaller(PartnerAccess);

impl PartnerCaller {
    /// The access, if the token carries `scope`; otherwise `insufficient_scope`.
    pub fn require(&self, scope: Scope) -> Result<&PartnerAccess, PartnerError> {
        if self.0.scopes.contains(scope) {
            Ok(&self.0)
        } else {
            Err(PartnerError::InsufficientScope(scope))
        }
    }
}

#[derive(Debug)]
pub enum PartnerError {
    /// No token, or one that is malformed, expired, revoked or unknown.
    InvalidToken,
    InsufficientScope(Scope),
    Core(Error),
}

impl From<Error> for PartnerError {
    fn from(error: Error) -> Self {
        match error {
            Error::Unauthorized => PartnerError::InvalidToken,
            other => PartnerError::Core(other),
        }
    }
}

impl FromRequestParts<AppState> for PartnerCaller {
    type Rejection = PartnerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(PartnerError::InvalidToken)?;
        Ok(PartnerCaller(state.app.partner_access(token).await?))
    }
}

impl IntoResponse for PartnerError {
    fn into_response(self) -> Response {
        let (status, challenge, code, message) = match self {
            PartnerError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "Bearer realm=\"confidant\", error=\"invalid_token\"".to_owned(),
                "invalid_token",
                "The access token is missing, expired or revoked.".to_owned(),
            ),
            PartnerError::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                format!(
                    "Bearer realm=\"confidant\", error=\"insufficient_scope\", scope=\"{scope}\""
                ),
                "insufficient_scope",
                format!("This call needs the `{scope}` scope."),
            ),
            PartnerError::Core(error) => {
                return crate::http::error::ApiError::Core(error).into_response();
            }
        };
        let mut response = (
            status,
            axum::Json(json!({ "error": code, "message": message })),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
