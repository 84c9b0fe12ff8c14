//! Confidant as an OAuth 2.0 authorization server for partner apps, following RFC 9700:
//! authorization code with PKCE S256 only, exact redirect URIs, opaque hashed tokens,
//! rotating refresh tokens with reuse detection, and per-member grants that the member can
//! see and revoke at any time.
//!
//! - [`apps`]: the registry of partner apps (operators).
//! - [`authorize`]: checking an authorization request, consent, and issuing codes.
//! - [`token`]: the token endpoint's grants, revocation, introspection, client authentication.
//! - [`grants`]: a member's connected apps, revocation, and partner token checks.

mod apps;
mod authorize;
mod details;
mod grants;
mod pkce;
mod redirect;
mod scope;
mod token;

pub use apps::{
    AppChanges, AppRegistration, MAX_SECRET_GRACE_SECS, RegisteredApp, RotatedSecret, UpdatedApp,
};
pub use authorize::{AuthorizationError, AuthorizationRequest, Consent, ValidAuthorization};
pub use details::{
    AuthorizationDetails, SUPPORTED_TYPES as AUTHORIZATION_DETAILS_TYPES,
    THREAD_GRANT_DEFAULT_DAYS, THREAD_GRANT_MAX_DAYS,
};
pub use grants::{ConnectedApp, ConnectedThread};
pub use pkce::{CodeChallenge, challenge_of, is_well_formed_verifier};
pub use redirect::{RedirectUri, matches as redirect_uri_matches};
pub use scope::{Scope, Scopes};
pub use token::{Introspection, IssuedTokens};

use crate::Error;

/// Token lifetimes, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthPolicy {
    pub access_token_secs: i64,
    /// Absolute: rotation does not extend it.
    pub refresh_token_secs: i64,
    pub code_secs: i64,
    /// A grant the app has not used for this long ends by itself.
    pub grant_idle_secs: i64,
}

impl Default for OAuthPolicy {
    fn default() -> Self {
        Self {
            access_token_secs: 10 * 60,
            refresh_token_secs: 30 * 24 * 3600,
            code_secs: 60,
            grant_idle_secs: 90 * 24 * 3600,
        }
    }
}

/// An OAuth error response (RFC 6749 §5.2): a registered code and a description.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{description}")]
    Protocol {
        /// `invalid_request`, `invalid_client`, `invalid_grant`, `invalid_scope`, …
        code: &'static str,
        description: String,
    },
    /// Too many failed client authentications.
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    /// Not the client's fault (`server_error`).
    #[error(transparent)]
    Internal(Error),
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError::Protocol {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }

    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::Protocol { code, .. } => code,
            OAuthError::Throttled { .. } => "invalid_client",
            OAuthError::Internal(_) => "server_error",
        }
    }
}

impl From<Error> for OAuthError {
    /// Validation errors carry their OAuth code already (e.g. `invalid_scope`); anything
    /// else is the server's problem.
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid { code, message, .. } => OAuthError::Protocol {
                code,
                description: message,
            },
            other => OAuthError::Internal(other),
        }
    }
}

impl From<crate::StoreError> for OAuthError {
    fn from(error: crate::StoreError) -> Self {
        OAuthError::Internal(error.into())
    }
}
