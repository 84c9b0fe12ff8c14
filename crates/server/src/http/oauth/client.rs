//! Reading OAuth form posts and authenticating the client that sent them.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use base64::Engine;

use confidant_core::store::App;

use super::error::OAuthErrorResponse;
use crate::http::client_addr::client_address;
use crate::state::AppState;

/// An `application/x-www-form-urlencoded` body in which no parameter repeats
/// (RFC 6749 §3.2: "parameters MUST NOT be included more than once").
#[derive(Debug)]
pub struct OAuthForm {
    pub params: HashMap<String, String>,
    pub headers: HeaderMap,
    /// The peer's address, which failed client authentications are throttled by.
    pub source: Option<String>,
}

impl OAuthForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthErrorResponse> {
        self.get(name)
            .ok_or_else(|| OAuthErrorResponse::invalid_request(format!("`{name}` is required")))
    }

    /// Authenticates the client by HTTP Basic or by `client_id`/`client_secret` in the body
    /// (one method only, RFC 6749 §2.3), or, for public clients, by `client_id` alone.
    pub async fn client(&self, state: &AppState) -> Result<App, OAuthErrorResponse> {
        let basic = basic_credentials(&self.headers)?;
        let body_secret = self.get("client_secret");
        let (client_id, secret) = match (basic, body_secret) {
            (Some(_), Some(_)) => {
                return Err(OAuthErrorResponse::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            (Some((id, secret)), None) => {
                if self.get("client_id").is_some_and(|body_id| body_id != id) {
                    return Err(OAuthErrorResponse::invalid_request(
                        "client_id differs from the authenticated client",
                    ));
                }
                (id, Some(secret))
            }
            (None, secret) => (
                self.get("client_id")
                    .ok_or_else(|| {
                        OAuthErrorResponse(confidant_core::oauth::OAuthError::invalid_client(
                            "client authentication is required",
                        ))
                    })?
                    .to_owned(),
                secret.map(str::to_owned),
            ),
        };
        Ok(state
            .app
            .authenticate_client(&client_id, secret.as_deref(), self.source.as_deref())
            .await?)
    }
}

impl FromRequest<AppState> for OAuthForm {
    type Rejection = OAuthErrorResponse;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(OAuthErrorResponse::invalid_request(
                "send parameters as application/x-www-form-urlencoded",
            ));
        }
        let headers = request.headers().clone();
        let source = client_address(request.extensions());
        let body = axum::body::to_bytes(request.into_body(), state.web.max_body_bytes)
            .await
            .map_err(|_| OAuthErrorResponse::invalid_request("the request body is too large"))?;
        let mut params = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(&body) {
            if params.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthErrorResponse::invalid_request(format!(
                    "`{key}` appears more than once"
                )));
            }
        }
        Ok(Self {
            params,
            headers,
            source,
        })
    }
}

/// `Authorization: Basic` credentials, each part form-urlencoded (RFC 6749 §2.3.1).
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthErrorResponse> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    let malformed = || {
        OAuthErrorResponse(confidant_core::oauth::OAuthError::invalid_client(
            "malformed Basic credentials",
        ))
    };
    let Some(encoded) = crate::http::session::authorization(headers, "Basic") else {
        return Err(malformed());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(malformed)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}
