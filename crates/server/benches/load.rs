//! Load benchmark: Confidant on loopback with a fresh SQLite database (durable: WAL with
//! `synchronous=FULL`), driven by an in-process load generator over HTTP/1.1 keep-alive, with
//! baselines measured in the same run on the same machine:
//!
//! - a bare axum handler answering `hello` and a bare 302 (what HTTP alone costs here);
//! - raw inserts into the same `messages` table, one committed transaction each and batched
//!   1,000 to a transaction (what the disk allows).
//!
//! `cargo bench -p confidant-server --bench load`. `LOAD_BENCH_SECS` sets each workload's
//! duration (default 10). Under `cargo test` every workload runs for a fraction of a second,
//! so it keeps working.
//!
//! Prints one table: throughput, p50, p99, and the ratio to the workload's baseline.

#![allow(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::response::Redirect;
use axum::routing::get;
use serde_json::{Value, json};

use confidant_server::config::{Config, DatabaseUrl};
use confidant_server::startup;

/// Connections for the concurrent workloads.
const CONNECTIONS: usize = 64;
/// Events per `POST /partner/v1/events`.
const EVENTS_PER_BATCH: usize = 1000;

struct Measured {
    what: String,
    requests: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Measured {
    /// `requests` done in `elapsed`, with the latency of each unit of work measured.
    fn new(what: String, requests: u64, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        Measured {
            what,
            requests,
            elapsed,
            p50: at(0.50),
            p99: at(0.99),
        }
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, baseline: Option<&Measured>) {
        let ratio = baseline
            .map(|b| format!("{:.2}×", self.rate() / b.rate()))
            .unwrap_or_else(|| "—".into());
        println!(
            "| {} | {:.0}/s | {:.2} ms | {:.2} ms | {ratio} |",
            self.what,
            self.rate(),
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
        );
    }
}

/// Runs `request(connection, n)` on `connections` concurrent tasks for `duration`; every
/// request must succeed.
async fn drive<F, Fut>(what: &str, connections: usize, duration: Duration, request: F) -> Measured
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let request = request.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                request(connection, n).await;
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    Measured::new(what.to_owned(), latencies.len() as u64, elapsed, latencies)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(CONNECTIONS * 2)
        .build()
        .unwrap()
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// A member with an API token, and a conversation with their neighbour.
struct Member {
    id: i64,
    token: String,
    conversation: i64,
}

async fn json(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{:?}", response.status());
    response.json().await.unwrap()
}

/// `count` members, each a friend of the next, each with a 1:1 conversation with them.
async fn members(http: &reqwest::Client, url: &str, count: usize) -> Vec<Member> {
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for n in 0..count {
        let handle = format!("load{n:04}");
        let created = json(http.post(format!("{url}/api/v1/accounts")).json(
            &json!({ "handle": handle, "password": "a long enough password", "display_name": handle }),
        ))
        .await;
        ids.push(created["id"].as_i64().unwrap());
        let session = json(
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
        let conversation = json(
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

/// Raw inserts into the `messages` table of a migrated database, bypassing Confidant: one
/// per transaction, and 1,000 per transaction.
async fn raw_inserts(url: &str, duration: Duration, batch: usize) -> Measured {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let (conversation, member): (i64, i64) =
        sqlx::query_as("SELECT conversation_id, member_id FROM conversation_members LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut rows = 0;
    while start.elapsed() < duration {
        let began = Instant::now();
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..batch {
            sqlx::query(
                "INSERT INTO messages (conversation_id, sender_id, body, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(conversation)
            .bind(member)
            .bind("a baseline message")
            .bind(0_i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        latencies.push(began.elapsed());
        rows += batch as u64;
    }
    let elapsed = start.elapsed();
    pool.close().await;
    let what = format!("baseline: raw INSERT into messages, {batch} per commit, 1 connection");
    Measured::new(what, rows, elapsed, latencies)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let secs: f64 = std::env::var("LOAD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if measuring { 10.0 } else { 0.2 });
    let duration = Duration::from_secs_f64(secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let http = client();

        // Baselines: HTTP alone.
        let bare = serve(
            axum::Router::new()
                .route("/", get(|| async { "hello" }))
                .route("/r", get(|| async { Redirect::to("https://example.org/") })),
        )
        .await;
        let get_ok = |http: reqwest::Client, url: String| {
            move |_: usize, _: u64| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let response = http.get(&url).send().await.unwrap();
                    assert!(response.status().is_success() || response.status() == 303);
                    response.bytes().await.unwrap();
                }
            }
        };
        let hello = drive(
            "baseline: bare axum hello world",
            CONNECTIONS,
            duration,
            get_ok(http.clone(), format!("{bare}/")),
        )
        .await;
        let redirect = drive(
            "baseline: bare axum 302",
            CONNECTIONS,
            duration,
            get_ok(http.clone(), format!("{bare}/r")),
        )
        .await;

        // Confidant, durable SQLite, fresh database.
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let database = format!("sqlite://{}", dir.path().join("confidant.db").display());
        config.database.url = Some(DatabaseUrl(database.clone()));
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.log.filter = "warn".into();
        // Password hashing is not what is measured here.
        config.accounts.argon2_memory_kib = 64;
        config.accounts.argon2_iterations = 1;
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        config.server.public_url = Some(url.clone());
        let server = startup::build(&config).await.unwrap();
        let core = server.state.app.clone();
        tokio::spawn(server.serve(listener, std::future::pending()));
        let members = Arc::new(members(&http, &url, CONNECTIONS).await);

        let send = {
            let (http, url, members) = (http.clone(), url.clone(), members.clone());
            move |connection: usize, n: u64| {
                let (http, url, members) = (http.clone(), url.clone(), members.clone());
                async move {
                    let member = &members[connection];
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
            }
        };
        let sent = drive(
            "send a message, 64 connections",
            CONNECTIONS,
            duration,
            send,
        )
        .await;

        let read = {
            let (http, url, members) = (http.clone(), url.clone(), members.clone());
            move |connection: usize, _: u64| {
                let (http, url, members) = (http.clone(), url.clone(), members.clone());
                async move {
                    let member = &members[connection];
                    let response = http
                        .get(format!(
                            "{url}/api/v1/conversations/{}/messages?limit=50",
                            member.conversation
                        ))
                        .bearer_auth(&member.token)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap();
                }
            }
        };
        let read = drive(
            "read the last 50 messages, 64 connections",
            CONNECTIONS,
            duration,
            read,
        )
        .await;

        // Partner events, 1,000 to a batch, each with its own idempotency key.
        let registered = core
            .register_app(confidant_core::oauth::AppRegistration {
                name: "Load".into(),
                redirect_uris: vec![
                    "https://load.example/callback".into(),
                    "https://load.example/shared".into(),
                ],
                surfaces: vec!["title_page".into()],
                ..Default::default()
            })
            .await
            .unwrap();
        core.approve_app(&registered.app.client_id).await.unwrap();
        let (client_id, secret) = (registered.app.client_id, registered.client_secret.unwrap());
        let client_id_for_links = client_id.clone();
        let ingest = {
            let (http, url) = (http.clone(), url.clone());
            move |_: usize, n: u64| {
                let (http, url) = (http.clone(), url.clone());
                let (client_id, secret) = (client_id.clone(), secret.clone());
                async move {
                    let events: Vec<Value> = (0..EVENTS_PER_BATCH)
                        .map(|i| {
                            json!({
                                "day": "2026-11-01", "channel": "off_platform", "interface": "web",
                                "initiation_surface": "title_page", "variation": "default",
                                "sends": 3, "clicks": 1,
                                "idempotency_key": format!("batch-{n}-{i}"),
                            })
                        })
                        .collect();
                    let response = http
                        .post(format!("{url}/partner/v1/events"))
                        .basic_auth(&client_id, Some(&secret))
                        .json(&json!({ "events": events }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            }
        };
        let mut ingested = drive(
            "partner events ingest, batches of 1,000, 4 connections (events; latency per batch)",
            4,
            duration,
            ingest,
        )
        .await;
        ingested.requests *= EVENTS_PER_BATCH as u64;

        // Tracked links: each member shares a card with their neighbour through the send
        // dialog; the clicks come from browsers without a session, spread over every link.
        let redirect_uri = "https://load.example/shared";
        let dialog = core
            .open_share_dialog(confidant_core::partner::ShareParams {
                client_id: client_id_for_links.clone(),
                redirect_uri: redirect_uri.into(),
                state: None,
                card: confidant_core::partner::CardInput {
                    title: "A film".into(),
                    url: "https://load.example/title/1".into(),
                    item_id: "1".into(),
                    interface: "web".into(),
                    initiation_surface: "title_page".into(),
                    variation: "default".into(),
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        let mut links = Vec::new();
        for (n, member) in members.iter().enumerate() {
            let sender = core
                .member(confidant_core::MemberId(member.id))
                .await
                .unwrap();
            let recipient = &members[(n + 1) % members.len()];
            core.share(
                &sender,
                &dialog,
                &[confidant_core::MemberId(recipient.id)],
                None,
                "load",
            )
            .await
            .unwrap();
            let page = json(
                http.get(format!(
                    "{url}/api/v1/conversations/{}/messages?limit=1",
                    member.conversation
                ))
                .bearer_auth(&recipient.token),
            )
            .await;
            links.push(
                page["messages"][0]["card"]["link"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let links = Arc::new(links);
        let click = {
            let (http, url, links) = (http.clone(), url.clone(), links.clone());
            move |_: usize, n: u64| {
                let (http, url, links) = (http.clone(), url.clone(), links.clone());
                async move {
                    let link = &links[n as usize % links.len()];
                    let response = http
                        .get(format!("{url}{link}"))
                        .header(
                            "user-agent",
                            "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                        )
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 302);
                }
            }
        };
        let clicked = drive(
            "/r/{token}, click handled durably, 64 connections",
            CONNECTIONS,
            duration,
            click,
        )
        .await;

        let one_per_commit = raw_inserts(&database, duration, 1).await;
        let batched = raw_inserts(&database, duration, 1000).await;

        println!("\n## Load (SQLite, durable; {CONNECTIONS} connections; {secs} s per workload)\n");
        println!("| workload | throughput | p50 | p99 | vs. baseline |");
        println!("|---|---|---|---|---|");
        hello.print(None);
        redirect.print(None);
        one_per_commit.print(None);
        batched.print(None);
        sent.print(Some(&batched));
        read.print(Some(&hello));
        clicked.print(Some(&redirect));
        ingested.print(Some(&batched));
    });
}
