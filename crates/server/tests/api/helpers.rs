//! `TestApp`: a server on a fresh database, and one method per endpoint the tests use.

use std::sync::Arc;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use confidant_core::{Confidant, ManualClock, Timestamp};
use confidant_server::config::{Config, DatabaseUrl};
use confidant_server::startup;
use confidant_store::testing::TestDatabase;

pub struct TestApp {
    pub address: String,
    /// The application behind the server, for setting up what has no HTTP surface in a
    /// test's reach (e.g. registering partner apps).
    pub core: Confidant,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub db: TestDatabase,
    /// The data directory, which holds the access-log signing key.
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A signed-up member with an API token.
#[derive(Clone, Debug)]
pub struct TestMember {
    pub id: i64,
    pub handle: String,
    pub token: String,
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn spawn(db: TestDatabase) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: TestDatabase, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_in(db, tempfile::tempdir().unwrap(), adjust).await
    }

    /// Another server on this one's database, as a second node would run: with a data
    /// directory of its own that holds a copy of the deployment's access-log key.
    pub async fn spawn_beside(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let key = startup::log_key_path(&Config {
            data_dir: self.data_dir.path().to_owned(),
            ..Config::default()
        });
        std::fs::copy(&key, data_dir.path().join(key.file_name().unwrap())).unwrap();
        Self::try_spawn_in(self.db.clone(), data_dir, adjust)
            .await
            .unwrap()
    }

    async fn spawn_in(
        db: TestDatabase,
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        Self::try_spawn_in(db, data_dir, adjust).await.unwrap()
    }

    /// A server in `data_dir` on `db`, or why it refused to start.
    pub async fn try_spawn_in(
        db: TestDatabase,
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Self> {
        let mut config = Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        };
        config.database.url = Some(DatabaseUrl(db.url.clone()));
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        // Cheap hashing keeps the suite fast; production uses OWASP's parameters.
        config.accounts.argon2_memory_kib = 64;
        config.accounts.argon2_iterations = 1;
        // Tests run webhook delivery and the report schedule themselves, against their own
        // clock.
        config.server.webhook_poll_secs = 3600;
        config.reports.schedule = false;
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        if config.server.public_url.is_none() {
            config.server.public_url = Some(address.clone());
        }
        let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
        let server = startup::build_with_clock(&config, clock.clone()).await?;
        let core = server.state.app.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            core,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            clock,
            db,
            data_dir,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// Asks the server to shut down gracefully and waits until it has.
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Response {
        self.request(method, path, token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.send_json(Method::POST, path, Some(token), body).await
    }

    pub async fn sign_up(&self, handle: &str) -> TestMember {
        let response = self
            .send_json(
                Method::POST,
                "/api/v1/accounts",
                None,
                json!({ "handle": handle, "password": PASSWORD, "display_name": handle.to_uppercase() }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign up {handle}");
        let member: Value = response.json().await.unwrap();
        let token = self.log_in(handle, PASSWORD).await;
        TestMember {
            id: member["id"].as_i64().unwrap(),
            handle: handle.to_owned(),
            token,
        }
    }

    pub async fn try_log_in(&self, handle: &str, password: &str) -> Response {
        self.send_json(
            Method::POST,
            "/api/v1/sessions",
            None,
            json!({ "handle": handle, "password": password }),
        )
        .await
    }

    pub async fn log_in(&self, handle: &str, password: &str) -> String {
        let response = self.try_log_in(handle, password).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn befriend(&self, a: &TestMember, b: &TestMember) {
        let sent = self
            .post(
                "/api/v1/friends/requests",
                &a.token,
                json!({ "handle": b.handle }),
            )
            .await;
        assert_eq!(sent.status(), StatusCode::CREATED);
        let accepted = self
            .post(
                &format!("/api/v1/friends/requests/{}/accept", a.id),
                &b.token,
                json!({}),
            )
            .await;
        assert_eq!(accepted.status(), StatusCode::NO_CONTENT);
    }

    /// Opens the 1:1 conversation between friends and returns its id.
    pub async fn direct(&self, a: &TestMember, b: &TestMember) -> i64 {
        let response = self
            .post(
                "/api/v1/conversations",
                &a.token,
                json!({ "kind": "direct", "member_id": b.id }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// Two members, `alice` and `bob`, made friends, and their 1:1 conversation's id.
    pub async fn alice_and_bob(&self) -> (TestMember, TestMember, i64) {
        let alice = self.sign_up("alice").await;
        let bob = self.sign_up("bob").await;
        self.befriend(&alice, &bob).await;
        let conversation = self.direct(&alice, &bob).await;
        (alice, bob, conversation)
    }

    pub async fn send(&self, from: &TestMember, conversation: i64, body: &str) -> Response {
        self.post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &from.token,
            json!({ "body": body }),
        )
        .await
    }

    /// The member's most recently active conversation and its messages, newest first.
    pub async fn latest_conversation(&self, token: &str) -> (i64, Vec<Value>) {
        let conversations = self.json("/api/v1/conversations", token).await;
        let id = conversations[0]["id"].as_i64().expect("a conversation");
        let page = self
            .json(&format!("/api/v1/conversations/{id}/messages"), token)
            .await;
        (id, page["messages"].as_array().unwrap().clone())
    }

    pub async fn json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }
}

/// The value of `<input name="csrf" value="…">` on a page.
pub fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Asserts the API's error shape and code.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}
