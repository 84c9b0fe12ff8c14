//! What the machine allows without Confidant: HTTP alone, and raw inserts into the same
//! schema (SQLite in process, through rusqlite; PostgreSQL through pgbench).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use axum::response::Redirect;
use axum::routing::get;

use crate::measure::{Measured, drive};

/// A bare axum server answering `hello` at `/` and a 302 at `/r`.
pub async fn bare_axum() -> String {
    crate::serve(
        axum::Router::new()
            .route("/", get(|| async { "hello" }))
            .route("/r", get(|| async { Redirect::to("https://example.org/") })),
    )
    .await
}

/// GETs `url` on every connection; the answer must be a 2xx or a redirect.
pub async fn get_loop(
    what: &str,
    http: &reqwest::Client,
    url: String,
    connections: usize,
    duration: Duration,
) -> Measured {
    let http = http.clone();
    drive(what, connections, duration, move |_, _| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http.get(&url).send().await.unwrap();
            assert!(response.status().is_success() || response.status().is_redirection());
            response.bytes().await.unwrap();
        }
    })
    .await
}

/// Raw inserts into the `messages` table of a fresh database with Confidant's schema (in
/// `dir`, durable like Confidant's), bypassing Confidant, `batch` to a committed transaction,
/// on one connection.
pub async fn raw_inserts(dir: &Path, duration: Duration, batch: usize) -> Measured {
    let url = format!(
        "sqlite://{}",
        dir.join(format!("baseline-{batch}.db")).display()
    );
    let store = confidant_store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    for statement in [
        "INSERT INTO members (id, handle, display_name, password_hash, created_at) \
         VALUES (1, 'a', 'A', '-', 0)",
        "INSERT INTO conversations (id, kind, created_by, created_at, last_activity_at) \
         VALUES (1, 'group', 1, 0, 0)",
        "INSERT INTO conversation_members (conversation_id, member_id, joined_at) VALUES (1, 1, 0)",
    ] {
        store.execute_raw(statement).await.unwrap();
    }
    store.close().await;
    // Rows are inserted on a thread of their own, through rusqlite, with the durability
    // settings of Confidant's own connections: the machine's durable write limit.
    let path = dir.join(format!("baseline-{batch}.db"));
    tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .unwrap();
        let (conversation, member): (i64, i64) = conn
            .query_row(
                "SELECT conversation_id, member_id FROM conversation_members LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        let start = Instant::now();
        let mut latencies = Vec::new();
        let mut rows = 0;
        while start.elapsed() < duration {
            let began = Instant::now();
            let tx = conn.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO messages (conversation_id, sender_id, body, created_at) \
                         VALUES (?1, ?2, 'a baseline message', 0)",
                    )
                    .unwrap();
                for _ in 0..batch {
                    insert.execute([conversation, member]).unwrap();
                }
            }
            tx.commit().unwrap();
            latencies.push(began.elapsed());
            rows += batch as u64;
        }
        let what =
            format!("baseline: raw INSERT into messages, {batch} per commit, 1 connection (rows)");
        Measured::new(what, rows, start.elapsed(), latencies)
    })
    .await
    .unwrap()
}

/// pgbench's rate of single-row inserts into the same `messages` table (in `schema` of the
/// database at `admin_url`), each its own transaction, on `clients` connections.
/// `None` if pgbench is not installed.
pub async fn pgbench(
    url: &str,
    admin_url: &str,
    schema: &str,
    clients: usize,
    duration: Duration,
) -> Option<Measured> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let (conversation, member): (i64, i64) =
        sqlx::query_as("SELECT conversation_id, member_id FROM conversation_members LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        format!(
            "INSERT INTO {schema}.messages (conversation_id, sender_id, body, created_at) \
             VALUES ({conversation}, {member}, 'a baseline message', 0);\n"
        ),
    )
    .unwrap();
    let secs = duration.as_secs().max(1).to_string();
    let clients = clients.to_string();
    let output = Command::new("pgbench")
        .args(["-n", "-c", &clients, "-j", "2", "-T", &secs, "-f"])
        .arg(&script)
        .arg(admin_url)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let tps: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output:\n{text}"));
    Some(Measured::rate_only(
        format!("baseline: pgbench single-row INSERT into messages, {clients} clients"),
        tps,
    ))
}
