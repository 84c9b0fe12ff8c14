//! Streamflix's side of the Confidant integration: OAuth 2.0 (authorization code with PKCE,
//! as a confidential client, endpoints read from RFC 8414 metadata) through the `oauth2`
//! crate, and the partner API calls it makes.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// What Streamflix asks members for: to know who they are, which friends also use
/// Streamflix, and to send recommendations. Never their messages.
pub const SCOPES: [&str; 3] = ["profile", "friends:read", "messages:send"];

type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct Confidant {
    /// Where Confidant is, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    client_id: String,
    client_secret: String,
    oauth: OAuthClient,
    http: reqwest::Client,
}

/// RFC 8414 authorization server metadata, the parts Streamflix uses.
#[derive(Deserialize)]
struct Metadata {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// Why a partner call failed.
#[derive(Debug)]
pub enum CallError {
    /// The token was refused (expired, revoked, or the member disconnected Streamflix).
    Unauthorized,
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unauthorized => write!(f, "Confidant refused the token"),
            CallError::Failed(why) => write!(f, "{why}"),
        }
    }
}

/// Tokens from a code exchange or a refresh.
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Friend {
    pub id: String,
    pub display_name: String,
}

impl Confidant {
    /// Reads Confidant's metadata (retrying for a few seconds while it starts).
    pub async fn discover(
        url: &str,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let url = url.trim_end_matches('/').to_owned();
        let metadata_url = format!("{url}/.well-known/oauth-authorization-server");
        let mut attempt = 0;
        let metadata: Metadata = loop {
            match http.get(&metadata_url).send().await {
                Ok(response) if response.status().is_success() => break response.json().await?,
                result if attempt >= 20 => {
                    anyhow::bail!("cannot read Confidant's metadata at {metadata_url}: {result:?}")
                }
                _ => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        };
        let oauth = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.to_owned()))
            .set_auth_uri(AuthUrl::new(metadata.authorization_endpoint)?)
            .set_token_uri(TokenUrl::new(metadata.token_endpoint)?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned())?);
        Ok(Self {
            url,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            oauth,
            http,
        })
    }

    /// Where to send the member to connect, with the state and PKCE verifier to keep.
    /// The authorization request; with `threads`, it also asks (RFC 9396) to read
    /// conversations the member will pick on Confidant's consent page.
    pub fn authorize_url(&self, threads: bool) -> (String, String, String) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge);
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        if threads {
            request =
                request.add_extra_param("authorization_details", r#"[{"type":"thread_read"}]"#);
        }
        let (url, state) = request.url();
        (
            url.to_string(),
            state.secret().clone(),
            verifier.secret().clone(),
        )
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Tokens, CallError> {
        let response = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| CallError::Failed(format!("code exchange failed: {e}")))?;
        Ok(Tokens {
            access: response.access_token().secret().clone(),
            refresh: response.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// New tokens from a refresh token; `Unauthorized` when Confidant refuses it (the member
    /// disconnected Streamflix, or the grant ended).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, CallError> {
        let response = self
            .oauth
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|_| CallError::Unauthorized)?;
        Ok(Tokens {
            access: response.access_token().secret().clone(),
            refresh: response.refresh_token().map(|t| t.secret().clone()),
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, CallError> {
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Failed(format!("Confidant is unreachable: {e}")))?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(CallError::Unauthorized),
            status if status.is_success() => response
                .json()
                .await
                .map_err(|e| CallError::Failed(format!("unreadable answer: {e}"))),
            status => {
                let body = response.text().await.unwrap_or_default();
                Err(CallError::Failed(format!(
                    "Confidant answered {status}: {body}"
                )))
            }
        }
    }

    /// The member's id for Streamflix and their name.
    pub async fn me(&self, access: &str) -> Result<Friend, CallError> {
        let me = self
            .call(
                self.http
                    .get(format!("{}/partner/v1/me", self.url))
                    .bearer_auth(access),
            )
            .await?;
        serde_json::from_value(me).map_err(|e| CallError::Failed(e.to_string()))
    }

    /// Friends who also use Streamflix.
    pub async fn friends(&self, access: &str) -> Result<Vec<Friend>, CallError> {
        let page = self
            .call(
                self.http
                    .get(format!("{}/partner/v1/friends", self.url))
                    .bearer_auth(access),
            )
            .await?;
        serde_json::from_value(page["friends"].clone())
            .map_err(|e| CallError::Failed(e.to_string()))
    }

    /// The conversations the member let Streamflix read.
    pub async fn threads(&self, access: &str) -> Result<Vec<Value>, CallError> {
        let list = self
            .call(
                self.http
                    .get(format!("{}/partner/v1/threads", self.url))
                    .bearer_auth(access),
            )
            .await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// The newest messages of a conversation the member let Streamflix read.
    pub async fn thread_messages(
        &self,
        access: &str,
        thread: &str,
    ) -> Result<Vec<Value>, CallError> {
        let thread: String = url::form_urlencoded::byte_serialize(thread.as_bytes()).collect();
        let list = self
            .call(
                self.http
                    .get(format!(
                        "{}/partner/v1/threads/{thread}/messages?limit=5",
                        self.url
                    ))
                    .bearer_auth(access),
            )
            .await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// Sends a recommendation card to friends.
    pub async fn send(&self, access: &str, to: &[String], card: Value) -> Result<Value, CallError> {
        self.call(
            self.http
                .post(format!("{}/partner/v1/messages", self.url))
                .bearer_auth(access)
                .json(&json!({ "to": to, "card": card })),
        )
        .await
    }

    /// Reports Streamflix's own daily counts, with its client credentials.
    pub async fn report_events(&self, events: Vec<Value>) -> Result<Value, CallError> {
        self.call(
            self.http
                .post(format!("{}/partner/v1/events", self.url))
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .json(&json!({ "events": events })),
        )
        .await
    }

    /// The newest report Confidant released for Streamflix, if any.
    /// Every report Confidant released for Streamflix, newest period first, without rows.
    pub async fn reports(&self) -> Result<Vec<Value>, CallError> {
        let list = self
            .call(
                self.http
                    .get(format!("{}/partner/v1/reports", self.url))
                    .basic_auth(&self.client_id, Some(&self.client_secret)),
            )
            .await?;
        Ok(list["reports"].as_array().cloned().unwrap_or_default())
    }

    /// One released report, whole.
    pub async fn report(&self, id: &str) -> Result<Value, CallError> {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        self.call(
            self.http
                .get(format!("{}/partner/v1/reports/{id}?format=json", self.url))
                .basic_auth(&self.client_id, Some(&self.client_secret)),
        )
        .await
    }

    /// Confidant's send dialog for a card, coming back to `redirect_uri`.
    pub fn share_dialog_url(&self, redirect_uri: &str, state: &str, card: &Value) -> String {
        let mut url = url::Url::parse(&format!("{}/share", self.url)).expect("a valid base URL");
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state);
            for (name, field) in [
                ("title", "title"),
                ("description", "description"),
                ("image_url", "image_url"),
                ("item_id", "item_id"),
                ("interface", "interface"),
                ("surface", "initiation_surface"),
                ("variation", "variation"),
            ] {
                if let Some(value) = card[field].as_str() {
                    query.append_pair(name, value);
                }
            }
        }
        url.to_string()
    }
}
