//! The partner API beyond `/me`, driven like a partner app and its members would: friends
//! and per-thread read (with a hostile partner), sends and the send dialog, and what members
//! and apps are told when access ends.

mod clicks;
mod controls;
mod events;
pub(crate) mod export;
mod images;
mod item_urls;
mod reports;
mod send;
mod threads;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestMember};
use crate::oauth::{Browser, Partner, Tokens, redirect_params, tokens_of};

/// Every scope a partner may ask for.
pub const ALL_SCOPES: &str = "profile friends:read messages:send messages:read.app";

impl TestApp {
    pub async fn partner_get(&self, path: &str, access: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    /// The app's id for the (first) thread the member shared with it.
    pub async fn partner_thread_id(&self, access: &str) -> String {
        let threads = self.partner_json("/partner/v1/threads", access).await;
        threads[0]["id"].as_str().unwrap().to_owned()
    }

    /// A partner GET that must succeed, as JSON.
    pub async fn partner_json(&self, path: &str, access: &str) -> Value {
        let response = self.partner_get(path, access).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn member(&self, handle: &str) -> (TestMember, Browser) {
        let member = self.sign_up(handle).await;
        let browser = self.browser_for(handle).await;
        (member, browser)
    }

    pub async fn group(&self, owner: &TestMember, title: &str, others: &[&TestMember]) -> i64 {
        let ids: Vec<i64> = others.iter().map(|m| m.id).collect();
        let response = self
            .post(
                "/api/v1/conversations",
                &owner.token,
                json!({ "kind": "group", "title": title, "member_ids": ids }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// Consent to `profile` plus read access to `threads`, and the tokens.
    pub async fn share_threads(
        &self,
        browser: &Browser,
        partner: &Partner,
        threads: &[i64],
    ) -> Tokens {
        let details = r#"[{"type":"thread_read"}]"#;
        let path = self.authorize_path(partner, "profile", &[("authorization_details", details)]);
        let ids: Vec<String> = threads.iter().map(i64::to_string).collect();
        let mut choices = vec![("grant", "profile"), ("decision", "allow")];
        choices.extend(ids.iter().map(|id| ("thread", id.as_str())));
        let response = self.consent(browser, &path, &choices).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let code = redirect_params(&response)["code"].clone();
        tokens_of(self.exchange(partner, &code).await).await
    }
}

impl TestApp {
    /// `POST /partner/v1/events` as the app, with its client secret if `secret` is given.
    pub async fn report_events(
        &self,
        partner: &Partner,
        secret: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url("/partner/v1/events")).json(&body);
        if let Some(secret) = secret {
            request = request.basic_auth(&partner.client_id, Some(secret));
        }
        request.send().await.unwrap()
    }

    pub async fn partner_send(
        &self,
        access: &str,
        key: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/partner/v1/messages"))
            .bearer_auth(access);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.json(&body).send().await.unwrap()
    }

    pub async fn pseudonym(&self, browser: &Browser, partner: &Partner) -> String {
        let tokens = self.tokens(browser, partner, "profile").await;
        let me: Value = self.partner_me(&tokens.access).await.json().await.unwrap();
        me["id"].as_str().unwrap().to_owned()
    }
}

/// Alice and Bob, friends who both connected the app: Alice with every scope, Bob under his
/// pseudonym for it.
pub struct FriendsOnTheApp {
    pub alice: TestMember,
    pub alice_browser: Browser,
    pub bob: TestMember,
    pub bob_browser: Browser,
    /// Bob's id for the app.
    pub bob_id: String,
    /// Alice's tokens, with every scope.
    pub tokens: Tokens,
}

/// Alice and Bob, friends who both use the app, after Alice sent Bob one recommendation.
pub struct SentCard {
    pub alice_browser: Browser,
    pub bob: TestMember,
    pub bob_browser: Browser,
    /// The card's tracked link, `/r/…`.
    pub link: String,
}

impl TestApp {
    pub async fn friends_on_the_app(&self, partner: &Partner) -> FriendsOnTheApp {
        let (alice, alice_browser) = self.member("alice").await;
        let (bob, bob_browser) = self.member("bob").await;
        self.befriend(&alice, &bob).await;
        let bob_id = self.pseudonym(&bob_browser, partner).await;
        let tokens = self.tokens(&alice_browser, partner, ALL_SCOPES).await;
        FriendsOnTheApp {
            alice,
            alice_browser,
            bob,
            bob_browser,
            bob_id,
            tokens,
        }
    }

    pub async fn send_a_card(&self, partner: &Partner) -> SentCard {
        let FriendsOnTheApp {
            alice_browser,
            bob,
            bob_browser,
            bob_id,
            tokens,
            ..
        } = self.friends_on_the_app(partner).await;
        let sent = self
            .partner_send(
                &tokens.access,
                None,
                json!({ "to": [bob_id], "card": card() }),
            )
            .await;
        assert_eq!(sent.status(), StatusCode::CREATED);
        let link = self.newest_link(&bob.token).await;
        SentCard {
            alice_browser,
            bob,
            bob_browser,
            link,
        }
    }

    /// The link of the newest recommendation the member received, in any conversation.
    pub async fn newest_link(&self, token: &str) -> String {
        let conversations = self.json("/api/v1/conversations", token).await;
        let mut newest = (0, String::new());
        for conversation in conversations.as_array().unwrap() {
            let path = format!("/api/v1/conversations/{}/messages", conversation["id"]);
            let page = self.json(&path, token).await;
            for message in page["messages"].as_array().unwrap() {
                let id = message["id"].as_i64().unwrap();
                if let (true, Some(link)) = (id > newest.0, message["card"]["link"].as_str()) {
                    newest = (id, link.to_owned());
                }
            }
        }
        newest.1
    }
}

/// A valid recommendation card for the test apps' declared dimensions.
pub fn card() -> Value {
    json!({
        "title": "The Long Night",
        "url": "https://streamflix.example/title/title-42",
        "description": "A film about stars",
        "item_id": "title-42",
        "interface": "tv",
        "initiation_surface": "player_end",
        "variation": "default",
    })
}

/// A partner's webhook endpoint: records what it receives and answers with the statuses it
/// is told to, in turn.
pub struct Receiver {
    pub url: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
}

pub async fn receiver(answers: Vec<u16>) -> Receiver {
    use std::sync::{Arc, Mutex};
    let received = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let log = received.clone();
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            let answers = answers.clone();
            async move {
                log.lock().unwrap().push((headers, body));
                let status = answers.lock().unwrap().next().unwrap_or(204);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Receiver { url, received }
}
