//! `POST /oauth/token`, `/oauth/revoke` and `/oauth/introspect`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use confidant_core::Timestamp;
use confidant_core::oauth::{IssuedTokens, OAuthError};
use confidant_core::store::TokenKind;

use super::client::OAuthForm;
use super::error::OAuthErrorResponse;
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// The token endpoint: `authorization_code` and `refresh_token` grants, nothing else
/// (no `password`, no `client_credentials`, no implicit).
pub async fn token(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    form: OAuthForm,
) -> Result<Response, OAuthErrorResponse> {
    let grant_type = form.require("grant_type")?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type `{grant_type}` is not supported"),
        )
        .into());
    }
    let client = form.client(&state).await?;
    let issued = if grant_type == "authorization_code" {
        let code = form.require("code")?;
        state
            .app
            .exchange_code(
                &client,
                code,
                form.get("redirect_uri"),
                form.get("code_verifier"),
                &request_id,
            )
            .await?
    } else {
        let refresh_token = form.require("refresh_token")?;
        state
            .app
            .refresh(&client, refresh_token, form.get("scope"), &request_id)
            .await?
    };
    Ok(no_store(axum::Json(token_body(&issued)).into_response()))
}

fn token_body(issued: &IssuedTokens) -> Value {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "scope": issued.scopes.to_string(),
    });
    if let Some(until) = issued.threads.iter().map(|t| t.expires_at).max() {
        // RFC 9396 §7: the details actually granted. Which threads they are is for
        // `/partner/v1/threads`; the app never names them.
        body["authorization_details"] = json!([{
            "type": "thread_read",
            "thread_count": issued.threads.len(),
            "expires_at": seconds(until),
        }]);
    }
    body
}

/// RFC 7009: answers 200 whether or not the token existed, and touches only the
/// authenticated client's own tokens.
pub async fn revoke(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    form: OAuthForm,
) -> Result<Response, OAuthErrorResponse> {
    let client = form.client(&state).await?;
    let token = form.require("token")?;
    state.app.revoke_token(&client, token, &request_id).await?;
    Ok(no_store(().into_response()))
}

/// RFC 7662: confidential clients only, about their own tokens only. Everything else is
/// just `{"active": false}`.
pub async fn introspect(
    State(state): State<AppState>,
    form: OAuthForm,
) -> Result<Response, OAuthErrorResponse> {
    let client = form.client(&state).await?;
    if !client.confidential {
        return Err(OAuthError::invalid_client("introspection is for confidential clients").into());
    }
    let token = form.require("token")?;
    let body = match state.app.introspect(&client, token).await? {
        None => json!({ "active": false }),
        Some(found) => json!({
            "active": true,
            "scope": found.scopes.to_string(),
            "client_id": found.client_id,
            "token_type": match found.kind {
                TokenKind::Access => "access_token",
                TokenKind::Refresh => "refresh_token",
            },
            "sub": found.subject,
            "iat": seconds(found.issued_at),
            "exp": seconds(found.expires_at),
            "iss": state.web.public_url,
        }),
    };
    Ok(no_store(axum::Json(body).into_response()))
}

fn seconds(at: Timestamp) -> i64 {
    at.millis() / 1000
}

/// Token material must not be cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
