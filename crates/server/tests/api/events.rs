use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{TestApp, TestMember};

on_both_backends!(live_events_resume_from_last_event_id_without_loss_or_duplicates);

/// On PostgreSQL a feed entry becomes readable only once every older transaction has ended.
/// A stream that resumes after the entry was announced, while such a transaction still runs,
/// hears no announcement of it: it must look for the entry until it can read it.
#[tokio::test]
async fn a_stream_resumed_while_an_older_transaction_runs_gets_what_was_sent_before() {
    let test = "events::a_stream_resumed_while_an_older_transaction_runs";
    let Some((app, url)) = on_postgres(test).await else {
        return;
    };
    let (alice, bob, conversation) = app.alice_and_bob().await;
    let mut stream = EventStream::open(&app, &bob, None).await;
    app.send(&alice, conversation, "before").await;
    let before = next_message(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(before.data["message"]["body"], "before");
    drop(stream);

    let older = OlderTransaction::begin(&url).await;
    app.send(&alice, conversation, "held back").await;
    let mut resumed = EventStream::open(&app, &bob, Some(before.id)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    older.end().await;
    let event = next_message(&mut resumed, Duration::from_secs(10)).await;
    assert_eq!(event.data["message"]["body"], "held back");
}

/// The other side of the same wait: a fresh stream starts from now, so what was sent before
/// it opened is not news when it becomes readable, while an older transaction runs.
#[tokio::test]
async fn a_fresh_stream_opened_while_an_older_transaction_runs_skips_what_was_sent_before() {
    let test = "events::a_fresh_stream_opened_while_an_older_transaction_runs";
    let Some((app, url)) = on_postgres(test).await else {
        return;
    };
    let (alice, bob, conversation) = app.alice_and_bob().await;

    let older = OlderTransaction::begin(&url).await;
    app.send(&alice, conversation, "sent before").await;
    let mut fresh = EventStream::open(&app, &bob, None).await;
    older.end().await;
    app.send(&alice, conversation, "sent after").await;
    let event = next_message(&mut fresh, Duration::from_secs(10)).await;
    assert_eq!(event.data["message"]["body"], "sent after");
}

/// The app on a PostgreSQL database of its own, and that database's URL; `None` (the test is
/// skipped, and says so) without PostgreSQL.
async fn on_postgres(test: &str) -> Option<(TestApp, String)> {
    let db = TestDatabase::postgres(test).await?;
    let url = db.url.clone();
    Some((TestApp::spawn(db).await, url))
}

/// A PostgreSQL transaction that has taken its id and stays open until `end`: no feed
/// position written after it began is readable before then.
struct OlderTransaction(sqlx::PgConnection);

impl OlderTransaction {
    async fn begin(url: &str) -> Self {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut conn)
            .await
            .unwrap();
        OlderTransaction(conn)
    }

    async fn end(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.unwrap();
    }
}

/// The stream's next `message` event, passing over any other.
async fn next_message(stream: &mut EventStream, patience: Duration) -> SseEvent {
    loop {
        let event = stream
            .next_within(patience)
            .await
            .expect("a message event within the time given");
        if event.name == "message" {
            return event;
        }
    }
}

/// One parsed Server-Sent Event.
#[derive(Debug)]
pub struct SseEvent {
    pub id: i64,
    pub name: String,
    pub data: Value,
}

pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl EventStream {
    pub async fn open(app: &TestApp, member: &TestMember, last_event_id: Option<i64>) -> Self {
        let mut request = app.request(Method::GET, "/api/v1/events", Some(&member.token));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or `None` after a quiet second.
    pub async fn next(&mut self) -> Option<SseEvent> {
        self.next_within(Duration::from_secs(1)).await
    }

    /// The next event, or `None` once `quiet` passes without one.
    pub async fn next_within(&mut self, quiet: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: 0,
                    name: "message".into(),
                    data: Value::Null,
                };
                let mut has_data = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = v.trim().parse().unwrap();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        event.data = serde_json::from_str(v.trim()).unwrap();
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(event);
                }
                continue;
            }
            match tokio::time::timeout(quiet, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }
}

async fn live_events_resume_from_last_event_id_without_loss_or_duplicates(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (alice, bob, conversation) = app.alice_and_bob().await;

    // A fresh stream starts from now: nothing old is replayed.
    let mut stream = EventStream::open(&app, &bob, None).await;
    assert!(stream.next().await.is_none());
    app.send(&alice, conversation, "first").await;
    let first = stream.next().await.expect("a live message event");
    assert_eq!(first.name, "message");
    assert_eq!(first.data["conversation_id"], conversation);
    assert_eq!(first.data["message"]["body"], "first");
    assert_eq!(first.data["message"]["sender"]["handle"], "alice");
    drop(stream);

    // While disconnected, more happens.
    for body in ["second", "third"] {
        app.send(&alice, conversation, body).await;
    }
    let mut resumed = EventStream::open(&app, &bob, Some(first.id)).await;
    let mut bodies = Vec::new();
    let mut ids = vec![first.id];
    while let Some(event) = resumed.next().await {
        ids.push(event.id);
        if event.name == "message" {
            bodies.push(event.data["message"]["body"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        bodies,
        ["second", "third"],
        "nothing lost, nothing repeated"
    );
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "ids increase: {ids:?}");

    // Read receipts reach the sender live.
    let mut alices = EventStream::open(&app, &alice, None).await;
    app.post(
        &format!("/api/v1/conversations/{conversation}/read"),
        &bob.token,
        serde_json::json!({}),
    )
    .await;
    let receipt = alices.next().await.expect("a read event");
    assert_eq!(receipt.name, "read");
    assert_eq!(receipt.data["member_id"], bob.id);

    // An id past the feed's head resumes from the head: what comes next still arrives.
    let mut ahead = EventStream::open(&app, &bob, Some(i64::MAX)).await;
    assert!(ahead.next().await.is_none(), "nothing is replayed");
    app.send(&alice, conversation, "after a bogus id").await;
    let next = ahead.next().await.expect("live events still arrive");
    assert_eq!(next.data["message"]["body"], "after a bogus id");

    let bad = app
        .request(Method::GET, "/api/v1/events", Some(&bob.token))
        .header("Last-Event-ID", "not-a-number")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let anonymous = app
        .client
        .get(app.url("/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
