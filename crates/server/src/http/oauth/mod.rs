//! The OAuth 2.0 authorization server: metadata (RFC 8414), the authorization endpoint with
//! its consent page, and the token, revocation (RFC 7009) and introspection (RFC 7662)
//! endpoints.

pub(crate) mod authorize;
pub(crate) mod client;
pub(crate) mod endpoints;
mod error;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::ToSchema;

use confidant_core::oauth::{AUTHORIZATION_DETAILS_TYPES, Scope};

use crate::http::error::AppJson;
use crate::state::AppState;

pub use error::OAuthErrorResponse;

/// Paths that never read cookies (clients authenticate themselves), so need no CSRF token.
pub const COOKIE_FREE_PATHS: [&str; 3] = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(
            "/oauth/authorize",
            get(authorize::start).post(authorize::decide),
        )
        .route("/oauth/token", post(endpoints::token))
        .route("/oauth/revoke", post(endpoints::revoke))
        .route("/oauth/introspect", post(endpoints::introspect))
}

/// RFC 8414 authorization server metadata.
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    /// The public URL, exactly.
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    scopes_supported: Vec<&'static str>,
    authorization_details_types_supported: Vec<&'static str>,
    authorization_response_iss_parameter_supported: bool,
    service_documentation: String,
}

#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, body = ServerMetadata))
)]
pub async fn metadata(State(state): State<AppState>) -> AppJson<ServerMetadata> {
    let issuer = &state.web.public_url;
    const CLIENT_AUTH: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];
    AppJson(ServerMetadata {
        issuer: issuer.clone(),
        authorization_endpoint: format!("{issuer}/oauth/authorize"),
        token_endpoint: format!("{issuer}/oauth/token"),
        revocation_endpoint: format!("{issuer}/oauth/revoke"),
        introspection_endpoint: format!("{issuer}/oauth/introspect"),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token"],
        code_challenge_methods_supported: vec!["S256"],
        token_endpoint_auth_methods_supported: CLIENT_AUTH.to_vec(),
        revocation_endpoint_auth_methods_supported: CLIENT_AUTH.to_vec(),
        // Public clients cannot introspect.
        introspection_endpoint_auth_methods_supported: CLIENT_AUTH[..2].to_vec(),
        scopes_supported: Scope::ALL.iter().map(|s| s.as_str()).collect(),
        authorization_details_types_supported: AUTHORIZATION_DETAILS_TYPES.to_vec(),
        authorization_response_iss_parameter_supported: true,
        service_documentation: format!("{issuer}/docs"),
    })
}
