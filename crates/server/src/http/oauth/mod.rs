//! The OAuth 2.0 authorization server: metadata (RFC 8414), the authorization endpoint with
//! its consent page, and the token, revocation (RFC 7009) and introspection (RFC 7662)
//! endpoints.

mod authorize;
pub(crate) mod client;
mod endpoints;
mod error;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use confidant_core::oauth::{AUTHORIZATION_DETAILS_TYPES, Scope};

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

/// RFC 8414 authorization server metadata; `issuer` is the public URL, exactly.
async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let issuer = &state.web.public_url;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "authorization_details_types_supported": AUTHORIZATION_DETAILS_TYPES,
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{issuer}/docs"),
    }))
}
