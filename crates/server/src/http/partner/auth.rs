//! Partner authentication: an OAuth access token in `Authorization: Bearer`, handed with the
//! request id to the use cases (which check it and log the call), and the errors of
//! RFC 6750 §3; or, for calls about the app itself, its client credentials.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use confidant_core::Error;
use confidant_core::partner::{PartnerError, PartnerRequest};
use confidant_core::store::App;

use crate::http::client_addr::client_address;
use crate::http::error::ApiError;
use crate::http::oauth::client::basic_credentials;
use crate::http::request_id::RequestId;
use crate::http::session::bearer;
use crate::state::AppState;

/// A partner call: its bearer token, if any, and its request id.
pub struct PartnerCall(pub PartnerRequest);

impl<S: Send + Sync> FromRequestParts<S> for PartnerCall {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        Ok(PartnerCall(PartnerRequest {
            token: bearer(&parts.headers).map(str::to_owned),
            request_id,
        }))
    }
}

/// A partner API error as an HTTP response: a use case's refusal, or a request that did not
/// parse (answered in the JSON API's shape).
pub enum PartnerErrorResponse {
    Refused(PartnerError),
    Unparsed(ApiError),
}

impl From<PartnerError> for PartnerErrorResponse {
    fn from(error: PartnerError) -> Self {
        PartnerErrorResponse::Refused(error)
    }
}

impl From<ApiError> for PartnerErrorResponse {
    fn from(error: ApiError) -> Self {
        PartnerErrorResponse::Unparsed(error)
    }
}

impl IntoResponse for PartnerErrorResponse {
    fn into_response(self) -> Response {
        let refusal = match self {
            PartnerErrorResponse::Refused(refusal) => refusal,
            PartnerErrorResponse::Unparsed(error) => return error.into_response(),
        };
        let (status, challenge, code, message) = match refusal {
            PartnerError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"confidant\", error=\"invalid_token\"".to_owned()),
                "invalid_token",
                "The access token is missing, expired or revoked.".to_owned(),
            ),
            PartnerError::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                Some(format!(
                    "Bearer realm=\"confidant\", error=\"insufficient_scope\", scope=\"{scope}\""
                )),
                "insufficient_scope",
                format!("This call needs the `{scope}` scope."),
            ),
            PartnerError::NotFound => (
                StatusCode::NOT_FOUND,
                None,
                "not_found",
                "Not found.".to_owned(),
            ),
            PartnerError::RateLimited { retry_after_secs } => {
                let throttled = Error::Throttled { retry_after_secs };
                return crate::http::error::ApiError::Core(throttled).into_response();
            }
            PartnerError::Core(error) => {
                return crate::http::error::ApiError::Core(error).into_response();
            }
        };
        let mut response = (
            status,
            axum::Json(json!({ "error": code, "message": message })),
        )
            .into_response();
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// An app calling with its own client credentials (`Authorization: Basic`), for the
/// endpoints about the app itself rather than a member: events and reports.
pub struct PartnerClient(pub App);

impl FromRequestParts<AppState> for PartnerClient {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            let mut response = ApiError::Unauthenticated.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"confidant\""),
            );
            response
        };
        let Ok(Some((client_id, secret))) = basic_credentials(&parts.headers) else {
            return Err(unauthorized());
        };
        let app = state
            .app
            .authenticate_client(
                &client_id,
                Some(&secret),
                client_address(&parts.extensions).as_deref(),
            )
            .await
            .map_err(|_| unauthorized())?;
        Ok(PartnerClient(app))
    }
}
