//! Confidant under test, in this process on loopback, and the members, tokens and links the
//! workloads use, made through its HTTP API and its core.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use confidant_core::oauth::{AppRegistration, AuthorizationRequest, Consent};
use confidant_core::partner::{CardInput, ShareParams};
use confidant_core::store::SessionKind;
use confidant_core::{Confidant, MemberId};
use confidant_server::config::{Config, DatabaseUrl};
use confidant_server::startup;

pub const REDIRECT_URI: &str = "https://load.example/callback";
const SHARED_URI: &str = "https://load.example/shared";

/// A running Confidant.
pub struct Target {
    pub url: String,
    pub core: Confidant,
    pub store: confidant_store::SqlStore,
    /// The name of the browser session's cookie on this server.
    session_cookie: &'static str,
    stop: tokio::sync::oneshot::Sender<()>,
    stopped: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A member with an API token, and a conversation with their neighbour.
#[derive(Clone)]
pub struct Member {
    pub id: i64,
    pub token: String,
    pub conversation: i64,
}

/// A recommendation's tracked link, and the `Cookie` header of its recipient's browser
/// session.
#[derive(Clone)]
pub struct Link {
    pub path: String,
    pub cookie: String,
}

/// A partner app and its client credentials.
pub struct Partner {
    pub client_id: String,
    pub secret: String,
}

/// The configuration a benchmark server runs with: the defaults, except what is not measured.
pub fn config(data_dir: &Path, database: &str) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    config.database.url = Some(DatabaseUrl(database.to_owned()));
    config.log.filter = "warn".into();
    // Password hashing is not what is measured here.
    config.accounts.argon2_memory_kib = 64;
    config.accounts.argon2_iterations = 1;
    // Nor is the anti-spam limit on partner sends.
    config.oauth.sends_per_member_per_hour = u32::MAX;
    // Every click of the benchmark is written: with the default cap (3 per member, cell and
    // day) nearly all of them would find their cell full and write nothing.
    config.reports.contribution_cap = u32::MAX;
    config
}

impl Target {
    pub async fn start(data_dir: &Path, database: &str) -> Target {
        let mut config = config(data_dir, database);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        config.server.public_url = Some(url.clone());
        let server = startup::build(&config).await.unwrap();
        let core = server.state.app.clone();
        let store = server.store().clone();
        let session_cookie = server.state.web.session_cookie;
        let (stop, stopping) = tokio::sync::oneshot::channel();
        let stopped = tokio::spawn(server.serve(listener, async move {
            let _ = stopping.await;
        }));
        Target {
            url,
            core,
            store,
            session_cookie,
            stop,
            stopped,
        }
    }

    /// Shuts the server down and closes its database connections.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.stopped.await.unwrap().unwrap();
    }

    /// `count` members, each a friend of the next, each with a 1:1 conversation with them.
    pub async fn members(&self, http: &reqwest::Client, count: usize) -> Vec<Member> {
        members(http, &self.url, count).await
    }

    /// Sends messages until each member's conversation holds at least `messages`.
    pub async fn fill_conversations(&self, members: &[Member], messages: usize) {
        let sends = members.iter().map(|member| async move {
            for n in 0..messages {
                self.core
                    .send_message(
                        MemberId(member.id),
                        confidant_core::ConversationId(member.conversation),
                        &format!("filler {n}"),
                    )
                    .await
                    .unwrap();
            }
        });
        futures::future::join_all(sends).await;
    }

    /// An approved confidential app that reports on the `title_page` surface.
    pub async fn partner(&self) -> Partner {
        let registered = self
            .core
            .register_app(AppRegistration {
                name: "Load".into(),
                redirect_uris: vec![REDIRECT_URI.into(), SHARED_URI.into()],
                surfaces: vec!["title_page".into()],
                item_url_template: Some("https://load.example/title/{item_id}".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        self.core
            .approve_app(&registered.app.client_id)
            .await
            .unwrap();
        Partner {
            client_id: registered.app.client_id,
            secret: registered.client_secret.unwrap(),
        }
    }

    /// An access token of `partner` for `member`, through the whole authorization code flow
    /// with PKCE (consent given in the core, as the consent page would).
    pub async fn access_token(&self, partner: &Partner, member: &Member) -> String {
        let verifier = format!("{:0>64}", member.id);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        let request = AuthorizationRequest {
            response_type: Some("code".into()),
            client_id: Some(partner.client_id.clone()),
            redirect_uri: Some(REDIRECT_URI.into()),
            scope: Some("profile friends:read messages:send".into()),
            state: None,
            code_challenge: Some(challenge),
            code_challenge_method: Some("S256".into()),
            authorization_details: None,
        };
        let valid = self.core.check_authorization(&request).await.unwrap();
        let me = self.core.member(MemberId(member.id)).await.unwrap();
        let consent = Consent {
            scopes: valid.scopes.clone(),
            threads: vec![],
            thread_days: 1,
            share_history: false,
        };
        let code = self
            .core
            .consent(&me, &valid, consent, "load")
            .await
            .unwrap();
        let app = self.core.app(&partner.client_id).await.unwrap();
        self.core
            .exchange_code(&app, &code, Some(REDIRECT_URI), Some(&verifier), "load")
            .await
            .unwrap()
            .access_token
    }

    /// One tracked `/r/…` link per member: a card each member shared with their neighbour
    /// through the send dialog, followed by that neighbour signed in. Only the recipient's own
    /// click counts, so a click without their browser session would write nothing.
    pub async fn links(
        &self,
        http: &reqwest::Client,
        partner: &Partner,
        members: &[Member],
    ) -> Vec<Link> {
        let dialog = self
            .core
            .open_share_dialog(ShareParams {
                client_id: partner.client_id.clone(),
                redirect_uri: SHARED_URI.into(),
                state: None,
                card: card_input(),
            })
            .await
            .unwrap();
        let mut links = Vec::new();
        for (n, member) in members.iter().enumerate() {
            let sender = self.core.member(MemberId(member.id)).await.unwrap();
            let recipient = &members[(n + 1) % members.len()];
            self.core
                .share(&sender, &dialog, &[MemberId(recipient.id)], None, "load")
                .await
                .unwrap();
            let page = ok_json(
                http.get(format!(
                    "{}/api/v1/conversations/{}/messages?limit=1",
                    self.url, member.conversation
                ))
                .bearer_auth(&recipient.token),
            )
            .await;
            let session = self
                .core
                .open_session(
                    self.core.member(MemberId(recipient.id)).await.unwrap(),
                    SessionKind::Browser,
                )
                .await
                .unwrap();
            links.push(Link {
                path: page["messages"][0]["card"]["link"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                cookie: format!("{}={}", self.session_cookie, session.secret),
            });
        }
        links
    }
}

fn card_input() -> CardInput {
    CardInput {
        title: "A film".into(),
        // The link comes from the app's item-URL template.
        item_id: "1".into(),
        interface: "web".into(),
        initiation_surface: "title_page".into(),
        variation: "default".into(),
        ..Default::default()
    }
}

/// `count` members of the server at `url`, each a friend of the next, each with a 1:1 conversation with them.
pub async fn members(http: &reqwest::Client, url: &str, count: usize) -> Vec<Member> {
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for n in 0..count {
        let handle = format!("load{n:04}");
        let created = ok_json(http.post(format!("{url}/api/v1/accounts")).json(
            &json!({ "handle": handle, "password": "a long enough password", "display_name": handle }),
        ))
        .await;
        ids.push(created["id"].as_i64().unwrap());
        let session = ok_json(
            http.post(format!("{url}/api/v1/sessions"))
                .json(&json!({ "handle": handle, "password": "a long enough password" })),
        )
        .await;
        tokens.push(session["token"].as_str().unwrap().to_owned());
    }
    let mut members = Vec::new();
    for n in 0..count {
        let next = (n + 1) % count;
        for (from, to) in [(n, next), (next, n)] {
            let response = http
                .post(format!("{url}/api/v1/friends/requests"))
                .bearer_auth(&tokens[from])
                .json(&json!({ "handle": format!("load{to:04}") }))
                .send()
                .await
                .unwrap();
            // The second request of a pair may find them friends already.
            assert!(response.status().is_success() || response.status() == 409);
        }
        let conversation = ok_json(
            http.post(format!("{url}/api/v1/conversations"))
                .bearer_auth(&tokens[n])
                .json(&json!({ "kind": "direct", "member_id": ids[next] })),
        )
        .await;
        members.push(Member {
            id: ids[n],
            token: tokens[n].clone(),
            conversation: conversation["id"].as_i64().unwrap(),
        });
    }
    members
}

/// Sends message `n` to the member's conversation; it must be accepted.
pub async fn send_one(http: &reqwest::Client, url: &str, member: &Member, n: u64) {
    let response = http
        .post(format!(
            "{url}/api/v1/conversations/{}/messages",
            member.conversation
        ))
        .bearer_auth(&member.token)
        .json(&json!({ "body": format!("message {n}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// The card a partner sends, as JSON.
pub fn card() -> Value {
    json!({
        "title": "A film", "url": "https://load.example/title/1", "item_id": "1",
        "interface": "web", "initiation_surface": "title_page", "variation": "default",
    })
}

pub async fn ok_json(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{:?}", response.status());
    response.json().await.unwrap()
}

/// Writes `count` messages straight into the stopped server's SQLite file, spread over the
/// members' conversations (member n to member n + 1), each with the feed rows a send makes.
pub fn fill_messages(path: &Path, members: &[Member], count: usize) {
    use std::collections::HashMap;
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA synchronous = OFF").unwrap();
    let tx = conn.transaction().unwrap();
    let mut feed_seq: HashMap<i64, i64> = HashMap::new();
    {
        // Each member's feed head, as the server reads it (`sqlite/feed.rs`).
        let mut seq = tx
            .prepare(
                "SELECT m.id, MAX(m.feed_seq, COALESCE((SELECT MAX(f.seq) FROM member_feed f \
                 WHERE f.member_id = m.id), 0)) FROM members m",
            )
            .unwrap();
        let rows = seq
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
            .unwrap();
        feed_seq.extend(rows.map(Result::unwrap));
        let mut message = tx
            .prepare(
                "INSERT INTO messages (conversation_id, sender_id, body, created_at) \
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
            )
            .unwrap();
        let mut feed = tx
            .prepare(
                "INSERT INTO member_feed (member_id, seq, event, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .unwrap();
        // Recent, one millisecond apart: older feed rows would be purged as soon as the
        // server starts again, during the measurement.
        let now = confidant_core::Clock::now(&confidant_core::SystemClock).0;
        for n in 0..count {
            let sender = &members[n % members.len()];
            let receiver = &members[(n + 1) % members.len()];
            let at = now - (count - n) as i64;
            let id: i64 = message
                .query_row(
                    rusqlite::params![sender.conversation, sender.id, format!("filler {n}"), at],
                    |row| row.get(0),
                )
                .unwrap();
            let event = json!({ "type": "message", "conversation_id": sender.conversation,
                                "message_id": id })
            .to_string();
            for member in [sender.id, receiver.id] {
                let seq = feed_seq.entry(member).or_default();
                *seq += 1;
                feed.execute(rusqlite::params![member, *seq, event, at])
                    .unwrap();
            }
        }
        // Indexed for search in the same transaction, as the server's writer would have.
        tx.execute_batch(
            "INSERT INTO messages_fts (rowid, body, conversation_id) \
             SELECT m.id, m.body, m.conversation_id FROM messages m \
             WHERE m.id > (SELECT upto FROM messages_fts_indexed); \
             UPDATE messages_fts_indexed SET upto = (SELECT MAX(id) FROM messages);",
        )
        .unwrap();
    }
    tx.commit().unwrap();
}
