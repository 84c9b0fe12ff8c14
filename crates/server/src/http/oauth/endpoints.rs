//! `POST /oauth/token`, `/oauth/revoke` and `/oauth/introspect`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use confidant_core::Timestamp;
use confidant_core::oauth::{IssuedTokens, OAuthError};
use confidant_core::store::TokenKind;

use super::client::OAuthForm;
use super::error::{OAuthErrorOut, OAuthErrorResponse};
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// The token endpoint's form (RFC 6749 §4.1.3, §6). The client authenticates by HTTP Basic
/// or by `client_id` and `client_secret` here, not both; a public client sends `client_id`
/// alone.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document; `OAuthForm` reads it
pub struct TokenRequest {
    grant_type: GrantType,
    /// The authorization code (`authorization_code` grant).
    code: Option<String>,
    /// The `redirect_uri` sent to `/oauth/authorize`, exactly (`authorization_code` grant).
    redirect_uri: Option<String>,
    /// The PKCE verifier (RFC 7636) for the code's S256 challenge.
    code_verifier: Option<String>,
    /// The refresh token (`refresh_token` grant).
    refresh_token: Option<String>,
    /// At most the scopes granted (`refresh_token` grant).
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

/// Tokens issued (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    /// `cfd_at_…`, valid for `expires_in` seconds.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    expires_in: i64,
    /// `cfd_rt_…`; each use returns a new one and retires the old.
    refresh_token: String,
    /// The scopes granted, space-separated.
    scope: String,
    /// Present when threads were shared (RFC 9396 §7); which ones is for
    /// `/partner/v1/threads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_details: Option<Vec<ThreadGrantOut>>,
}

#[derive(Serialize, ToSchema)]
pub struct ThreadGrantOut {
    /// Always `thread_read`.
    r#type: String,
    thread_count: usize,
    /// Seconds since the Unix epoch.
    expires_at: i64,
}

/// The revocation and introspection endpoints' form.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// An access or refresh token of the authenticated client.
    token: String,
    /// A hint only (RFC 7009 §2.1); every kind is looked up.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7662 §2.2; an unknown, expired, revoked or foreign token is `{"active": false}`.
#[derive(Default, Serialize, ToSchema)]
pub struct IntrospectionOut {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<String>,
    /// The member, as the app knows them (pairwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
}

/// The token endpoint: `authorization_code` and `refresh_token` grants, nothing else
/// (no `password`, no `client_credentials`, no implicit).
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("partner_client" = [])),
    responses(
        (status = 200, body = TokenOut, description = "tokens issued"),
        (status = 400, body = OAuthErrorOut, description = "`invalid_request`, `invalid_grant`, \
            `invalid_scope`, `unsupported_grant_type`"),
        (status = 401, body = OAuthErrorOut, description = "`invalid_client`"),
        (status = 429, body = OAuthErrorOut, description = "too many failed client authentications"),
    )
)]
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

fn token_body(issued: &IssuedTokens) -> TokenOut {
    // RFC 9396 §7: the details actually granted. Which threads they are is for
    // `/partner/v1/threads`; the app never names them.
    let authorization_details = issued
        .threads
        .iter()
        .map(|t| t.expires_at)
        .max()
        .map(|until| {
            vec![ThreadGrantOut {
                r#type: "thread_read".to_owned(),
                thread_count: issued.threads.len(),
                expires_at: seconds(until),
            }]
        });
    TokenOut {
        access_token: issued.access_token.clone(),
        token_type: "Bearer".to_owned(),
        expires_in: issued.expires_in,
        refresh_token: issued.refresh_token.clone(),
        scope: issued.scopes.to_string(),
        authorization_details,
    }
}

/// RFC 7009: answers 200 whether or not the token existed, and touches only the
/// authenticated client's own tokens.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("partner_client" = [])),
    responses(
        (status = 200, description = "revoked, or there was nothing of this client's to revoke"),
        (status = 400, body = OAuthErrorOut, description = "`invalid_request`"),
        (status = 401, body = OAuthErrorOut, description = "`invalid_client`"),
        (status = 429, body = OAuthErrorOut, description = "too many failed client authentications"),
    )
)]
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
#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security(("partner_client" = [])),
    responses(
        (status = 200, body = IntrospectionOut),
        (status = 400, body = OAuthErrorOut, description = "`invalid_request`"),
        (status = 401, body = OAuthErrorOut, description = "`invalid_client`, or a public client"),
        (status = 429, body = OAuthErrorOut, description = "too many failed client authentications"),
    )
)]
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
        None => IntrospectionOut::default(),
        Some(found) => IntrospectionOut {
            active: true,
            scope: Some(found.scopes.to_string()),
            client_id: Some(found.client_id),
            token_type: Some(
                match found.kind {
                    TokenKind::Access => "access_token",
                    TokenKind::Refresh => "refresh_token",
                }
                .to_owned(),
            ),
            sub: Some(found.subject),
            iat: Some(seconds(found.issued_at)),
            exp: Some(seconds(found.expires_at)),
            iss: Some(state.web.public_url.clone()),
        },
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
