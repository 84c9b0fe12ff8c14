//! The OAuth authorization server and partner API, driven over HTTP like a partner app and
//! a member's browser would.

mod connected;
mod consent;
mod flow;
mod security;

use std::collections::HashMap;

use reqwest::header::LOCATION;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

use confidant_core::oauth::{AppRegistration, challenge_of};

use crate::helpers::{PASSWORD, TestApp, csrf_of};

pub const REDIRECT_URI: &str = "https://streamflix.example/callback";
/// Where the test partners' recommendations lead.
pub const ITEM_URL_TEMPLATE: &str = "https://streamflix.example/title/{item_id}";
pub const VERIFIER: &str = "a-perfectly-fine-pkce-verifier-of-forty-three-or-more.chars";

/// A registered partner app.
#[derive(Clone, Debug)]
pub struct Partner {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// A member logged in through the web form, in a browser-like client.
pub struct Browser {
    pub client: Client,
}

impl Browser {
    /// The HTML of a page that must load with 200.
    pub async fn page(&self, app: &TestApp, path: &str) -> String {
        let response = self.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }
}

/// An access and refresh token, as the token endpoint returned them.
#[derive(Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

/// The query parameters of a redirect's `Location`.
pub fn redirect_params(response: &Response) -> HashMap<String, String> {
    let location = response
        .headers()
        .get(LOCATION)
        .expect("a redirect")
        .to_str()
        .unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn location(response: &Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

impl TestApp {
    /// Registers an app (confidential unless `public`) and approves it.
    pub async fn partner(&self, name: &str, public: bool) -> Partner {
        let partner = self.pending_partner(name, public).await;
        self.core.approve_app(&partner.client_id).await.unwrap();
        partner
    }

    pub async fn pending_partner(&self, name: &str, public: bool) -> Partner {
        let redirect_uri = if public {
            "http://127.0.0.1/callback".to_owned()
        } else {
            REDIRECT_URI.to_owned()
        };
        let registered = self
            .core
            .register_app(AppRegistration {
                name: name.into(),
                owner: format!("{name} Inc."),
                redirect_uris: vec![redirect_uri.clone()],
                public,
                scopes: Some("profile friends:read messages:send messages:read.app".into()),
                surfaces: vec!["title_page player_end".into()],
                item_url_template: Some(ITEM_URL_TEMPLATE.into()),
                ..AppRegistration::default()
            })
            .await
            .unwrap();
        Partner {
            client_id: registered.app.client_id,
            secret: registered.client_secret,
            redirect_uri,
        }
    }

    /// Creates an operator, `root`, and logs them in through the web form.
    pub async fn operator(&self) -> Browser {
        self.core
            .sign_up(confidant_core::accounts::SignUp {
                handle: "root".into(),
                display_name: None,
                password: crate::helpers::PASSWORD.into(),
                is_admin: true,
            })
            .await
            .unwrap();
        self.browser_for("root").await
    }

    /// Registers and approves a confidential app that has a webhook URL; returns it and its
    /// webhook secret.
    pub async fn partner_with_webhook(&self, name: &str, webhook: &str) -> (Partner, String) {
        let registered = self
            .core
            .register_app(AppRegistration {
                name: name.into(),
                owner: format!("{name} Inc."),
                redirect_uris: vec![REDIRECT_URI.into()],
                report_webhook: Some(webhook.into()),
                ..AppRegistration::default()
            })
            .await
            .unwrap();
        self.core
            .approve_app(&registered.app.client_id)
            .await
            .unwrap();
        let secret = registered
            .webhook_secret
            .expect("a webhook URL comes with a secret");
        let partner = Partner {
            client_id: registered.app.client_id,
            secret: registered.client_secret,
            redirect_uri: REDIRECT_URI.into(),
        };
        (partner, secret)
    }

    /// Signs up a member by API and logs them in through the web form.
    pub async fn browser(&self, handle: &str) -> Browser {
        self.sign_up(handle).await;
        self.browser_for(handle).await
    }

    pub async fn browser_for(&self, handle: &str) -> Browser {
        let client = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = client.get(self.url("/login")).send().await.unwrap();
        let csrf = csrf_of(&form.text().await.unwrap());
        let logged_in = client
            .post(self.url("/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("handle", handle),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
        Browser { client }
    }

    /// `/oauth/authorize?…` for the partner, with PKCE for [`VERIFIER`] unless `extra`
    /// overrides it.
    pub fn authorize_path(&self, partner: &Partner, scope: &str, extra: &[(&str, &str)]) -> String {
        let challenge = challenge_of(VERIFIER);
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &partner.client_id),
            ("redirect_uri", &partner.redirect_uri),
            ("scope", scope),
            ("state", "s-123"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        for (key, value) in extra {
            params.retain(|(k, _)| k != key);
            if !value.is_empty() {
                params.push((key, value));
            }
        }
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("/oauth/authorize?{query}")
    }

    /// Opens the consent page and submits it with `choices` (plus the hidden fields).
    pub async fn consent(
        &self,
        browser: &Browser,
        authorize_path: &str,
        choices: &[(&str, &str)],
    ) -> Response {
        let page = browser
            .client
            .get(self.url(authorize_path))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "the consent page");
        let html = page.text().await.unwrap();
        let mut form = hidden_fields(&html);
        form.extend(choices.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        browser
            .client
            .post(self.url("/oauth/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The whole dance: consent to `scope` (all optional scopes ticked) and get a code.
    /// If the member already granted as much, the server answers without asking.
    pub async fn code(&self, browser: &Browser, partner: &Partner, scope: &str) -> String {
        let path = self.authorize_path(partner, scope, &[]);
        let first = browser.client.get(self.url(&path)).send().await.unwrap();
        if first.status() == StatusCode::SEE_OTHER {
            assert!(location(&first).starts_with(&partner.redirect_uri));
            return redirect_params(&first)["code"].clone();
        }
        let mut choices: Vec<(&str, &str)> = scope.split(' ').map(|s| ("grant", s)).collect();
        choices.push(("decision", "allow"));
        let response = self.consent(browser, &path, &choices).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        redirect_params(&response)["code"].clone()
    }

    /// A token request authenticated as the partner (HTTP Basic for confidential clients).
    pub async fn token_request(&self, partner: &Partner, params: &[(&str, &str)]) -> Response {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        let mut request = self.client.post(self.url("/oauth/token"));
        match &partner.secret {
            Some(secret) => request = request.basic_auth(&partner.client_id, Some(secret)),
            None => form.push(("client_id", &partner.client_id)),
        }
        request.form(&form).send().await.unwrap()
    }

    pub async fn exchange(&self, partner: &Partner, code: &str) -> Response {
        self.token_request(
            partner,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &partner.redirect_uri),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    pub async fn tokens(&self, browser: &Browser, partner: &Partner, scope: &str) -> Tokens {
        let code = self.code(browser, partner, scope).await;
        let response = self.exchange(partner, &code).await;
        assert_eq!(response.status(), StatusCode::OK);
        tokens_of(response).await
    }

    pub async fn refresh(&self, partner: &Partner, refresh: &str, scope: Option<&str>) -> Response {
        let mut params = vec![("grant_type", "refresh_token"), ("refresh_token", refresh)];
        if let Some(scope) = scope {
            params.push(("scope", scope));
        }
        self.token_request(partner, &params).await
    }

    /// `GET /partner/v1/me` with an access token.
    pub async fn partner_me(&self, access: &str) -> Response {
        self.client
            .get(self.url("/partner/v1/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    /// A client-authenticated form post to `/oauth/revoke` or `/oauth/introspect`.
    pub async fn client_post(&self, partner: &Partner, path: &str, token: &str) -> Response {
        let mut request = self.client.post(self.url(path));
        let mut form = vec![("token", token.to_owned())];
        match &partner.secret {
            Some(secret) => request = request.basic_auth(&partner.client_id, Some(secret)),
            None => form.push(("client_id", partner.client_id.clone())),
        }
        request.form(&form).send().await.unwrap()
    }
}

pub async fn tokens_of(response: Response) -> Tokens {
    let body: Value = response.json().await.unwrap();
    Tokens {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        body,
    }
}

/// Every `<input type="hidden" name=… value=…>` of a page (the CSRF token included).
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for chunk in html.split("<input type=\"hidden\" ").skip(1) {
        let attr = |name: &str| {
            let start = chunk.find(&format!("{name}=\""))? + name.len() + 2;
            let end = chunk[start..].find('"')?;
            Some(html_unescape(&chunk[start..start + end]))
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            fields.push((name, value));
        }
    }
    fields
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// Asserts an OAuth error body: RFC 6749 code, a description, and never cached.
pub async fn assert_oauth_error(response: Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].as_str().is_some());
}
