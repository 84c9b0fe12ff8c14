//! Load benchmark: Confidant on loopback with a fresh, durable database (SQLite in WAL mode
//! with `synchronous=FULL`; PostgreSQL with `synchronous_commit=on`), driven by an in-process
//! load generator over HTTP/1.1 keep-alive, against baselines measured in the same run on the
//! same machine:
//!
//! - a bare axum handler answering `hello` and a bare 302 (what HTTP alone costs here);
//! - raw inserts into the same `messages` table: one per commit and 1,000 per commit on
//!   SQLite; pgbench's single-row inserts at the same concurrency on PostgreSQL.
//!
//! `cargo bench -p confidant-server --bench load`. `LOAD_BENCH_SECS` sets each workload's
//! duration (default 10); `CONFIDANT_BENCH_POSTGRES_URL` (or the tests' variable) adds the
//! PostgreSQL rows. Under `cargo test` every workload runs for a fraction of a second, with
//! 100 event streams instead of 10,000, so it keeps working.
//!
//! Prints one table: throughput, p50, p99, the ratio to the workload's baseline, and the goal;
//! then, for SQLite's sends, how many pages of the write-ahead log a commit wrote, by table and
//! index (`wal.rs`).

#![allow(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

mod baselines;
mod measure;
mod memory;
mod target;
mod wal;
mod wrk;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use measure::{Measured, Row, drive};
use target::{Link, Member, Target, card};

/// The `confidant` binary's allocator, since Confidant runs in this process.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Connections for the concurrent workloads.
const CONNECTIONS: usize = 64;
/// The `User-Agent` of the clicks: a browser's, so that they count.
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0";
/// Events per `POST /partner/v1/events`.
const EVENTS_PER_BATCH: usize = 1000;
/// The SQLite database's file in a data directory, as `confidant serve` names it.
const DATABASE_FILE: &str = "confidant.db";

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

/// A page of messages, as the read workload checks it.
#[derive(serde::Deserialize)]
struct Page {
    messages: Vec<serde::de::IgnoredAny>,
}

/// Every member sends a message to their conversation, on their own connection.
async fn send_messages(
    what: &str,
    http: &reqwest::Client,
    target: &Target,
    members: &Arc<Vec<Member>>,
    duration: Duration,
) -> Measured {
    let (http, url, members) = (http.clone(), target.url.clone(), members.clone());
    drive(what, CONNECTIONS, duration, move |connection, n| {
        let (http, url, members) = (http.clone(), url.clone(), members.clone());
        async move { target::send_one(&http, &url, &members[connection], n).await }
    })
    .await
}

/// The workloads again, driven by wrk from a separate process, against baselines it drives
/// too: the generator no longer shares the measured process. Each workload runs between two
/// runs of its baseline, and is compared with their mean.
async fn wrk_rows(
    bare: &str,
    url: &str,
    members: &[Member],
    links: Vec<Link>,
    duration: Duration,
) -> Vec<Row> {
    let sends = wrk_sends(members);
    let reads: Vec<wrk::Request> = members
        .iter()
        .map(|member| {
            wrk::Request::get(format!(
                "/api/v1/conversations/{}/messages?limit=50",
                member.conversation
            ))
            .header("Authorization", bearer(member))
        })
        .collect();
    let clicks: Vec<wrk::Request> = links
        .into_iter()
        .map(|link| {
            wrk::Request::get(link.path)
                .header("User-Agent", BROWSER)
                .header("Cookie", link.cookie)
        })
        .collect();
    let run =
        |what, base, requests, connections| run_wrk(what, base, requests, connections, duration);
    let bare_run = |what, path| run(what, bare, vec![wrk::Request::get(path)], CONNECTIONS);
    let hello = || bare_run("wrk: baseline: bare axum hello world, 64 connections", "/");
    let redirect = || bare_run("wrk: baseline: bare axum 302, 64 connections", "/r");
    let hello_1 = hello().await;
    let what = "wrk: send a message, 64 connections";
    let sent = run(what, url, sends.clone(), CONNECTIONS).await;
    let hello_2 = hello().await;
    let what = "wrk: send a message, 8 connections";
    let sent_by_8 = run(what, url, sends, 8).await;
    let hello_3 = hello().await;
    let what = "wrk: read the last 50 messages, 64 connections";
    let read = run(what, url, reads, CONNECTIONS).await;
    let hello_4 = hello().await;
    let redirect_1 = redirect().await;
    let what = "wrk: /r/{token}, click recorded durably, 64 connections";
    let clicked = run(what, url, clicks, CONNECTIONS).await;
    let redirect_2 = redirect().await;
    let measured = [
        Row::between(
            sent,
            &hello_1,
            &hello_2,
            "hello",
            "≥ 0.15× hello, p99 ≤ 5 ms",
        ),
        Row::between(
            sent_by_8,
            &hello_2,
            &hello_3,
            "hello",
            "≥ 0.08× hello, p99 ≤ 3 ms",
        ),
        Row::between(read, &hello_3, &hello_4, "hello", "≥ 0.12× hello"),
        Row::between(
            clicked,
            &redirect_1,
            &redirect_2,
            "bare 302",
            "≥ 0.5× bare 302",
        ),
    ];
    [hello_1, hello_2, hello_3, hello_4, redirect_1, redirect_2]
        .into_iter()
        .map(Row::baseline)
        .chain(measured)
        .collect()
}

/// The `Authorization` header of the member's requests.
fn bearer(member: &Member) -> String {
    format!("Bearer {}", member.token)
}

/// Each member's send of a message to their conversation, as wrk requests.
fn wrk_sends(members: &[Member]) -> Vec<wrk::Request> {
    members
        .iter()
        .map(|member| wrk::Request {
            method: "POST",
            path: format!("/api/v1/conversations/{}/messages", member.conversation),
            headers: vec![
                ("Authorization", bearer(member)),
                ("Content-Type", "application/json".into()),
            ],
            body: Some(r#"{"body":"a message sent by wrk"}"#.into()),
        })
        .collect()
}

/// Runs wrk on a blocking thread, so that the server in this process keeps its workers.
async fn run_wrk(
    what: &'static str,
    base: &str,
    requests: Vec<wrk::Request>,
    connections: usize,
    duration: Duration,
) -> Measured {
    let base = base.to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        wrk::run(what, &base, &requests, connections, duration, dir.path())
    })
    .await
    .unwrap()
}

/// Sends on a database that holds 1,000,000 messages (10,000 under `cargo test`), each with
/// its two feed rows, against sends on two fresh copies of the same data directory, run just
/// before and just after it.
async fn million_rows(http: &reqwest::Client, duration: Duration, measuring: bool) -> Vec<Row> {
    // One data directory with the members, copied twice: the copy that gets the messages is
    // measured between runs on the other two, so that the machine's drift over the minutes
    // the filling takes does not pass for the million's cost.
    let fresh = tempfile::tempdir().unwrap();
    let database_in = |dir: &Path| format!("sqlite://{}", dir.join(DATABASE_FILE).display());
    let target = Target::start(fresh.path(), &database_in(fresh.path())).await;
    let members = Arc::new(target.members(http, CONNECTIONS).await);
    target.stop().await;
    let fresh_again = tempfile::tempdir().unwrap();
    let filled = tempfile::tempdir().unwrap();
    for copy in [&fresh_again, &filled] {
        copy_data_dir(fresh.path(), copy.path());
    }
    let stored = if measuring { 1_000_000 } else { 10_000 };
    let (path, filling) = (filled.path().join(DATABASE_FILE), members.clone());
    tokio::task::spawn_blocking(move || target::fill_messages(&path, &filling, stored))
        .await
        .unwrap();

    let run = |what: String, dir: &Path| {
        let (http, members, database) = (http.clone(), members.clone(), database_in(dir));
        let dir = dir.to_owned();
        async move {
            let target = Target::start(&dir, &database).await;
            let measured = send_messages(&what, &http, &target, &members, duration).await;
            target.stop().await;
            measured
        }
    };
    let what = "send a message, 64 connections, fresh database";
    let empty_1 = run(what.into(), fresh.path()).await;
    let what = format!(
        "send a message, 64 connections, {} messages stored",
        measure::thousands(stored as f64)
    );
    let full = run(what, filled.path()).await;
    let empty_2 = run(
        "send a message, 64 connections, fresh database (its copy)".into(),
        fresh_again.path(),
    )
    .await;
    let full = Row::between(
        full,
        &empty_1,
        &empty_2,
        "fresh database",
        "≥ 0.9× fresh database",
    );
    vec![Row::baseline(empty_1), Row::baseline(empty_2), full]
}

/// Copies the data directory `from`, a stopped server's, into `to`: the database with
/// `VACUUM INTO` at its own page size (the server's connections may still be closing, and
/// the last one to close checkpoints the WAL and deletes it), the other files as they are.
fn copy_data_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let name = entry.unwrap().file_name();
        // The database, its WAL and its shared memory.
        if !name.to_string_lossy().starts_with(DATABASE_FILE) {
            copy_tree(&from.join(&name), &to.join(&name));
        }
    }
    let conn = rusqlite::Connection::open(from.join(DATABASE_FILE)).unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .unwrap();
    conn.pragma_update(None, "page_size", page_size).unwrap();
    let copy = to.join(DATABASE_FILE);
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
}

/// Copies the file or directory `from` to `to`, directories with all they hold.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let name = entry.unwrap().file_name();
            copy_tree(&from.join(&name), &to.join(&name));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Sends by the two members of the first conversation, alternating, all into it.
async fn send_in_one_conversation(
    what: &str,
    http: &reqwest::Client,
    target: &Target,
    members: &Arc<Vec<Member>>,
    duration: Duration,
) -> Measured {
    let (http, url, members) = (http.clone(), target.url.clone(), members.clone());
    drive(what, CONNECTIONS, duration, move |connection, n| {
        let (http, url, members) = (http.clone(), url.clone(), members.clone());
        async move {
            let sender = Member {
                conversation: members[0].conversation,
                ..members[connection % 2].clone()
            };
            target::send_one(&http, &url, &sender, n).await
        }
    })
    .await
}

async fn read_messages(
    http: &reqwest::Client,
    target: &Target,
    members: &Arc<Vec<Member>>,
    duration: Duration,
) -> Measured {
    let (http, url, members) = (http.clone(), target.url.clone(), members.clone());
    drive(
        "read the last 50 messages, 64 connections",
        CONNECTIONS,
        duration,
        move |connection, _| {
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
                // Counted without building the messages: the generator shares the cores.
                let page: Page = response.json().await.unwrap();
                assert_eq!(page.messages.len(), 50);
            }
        },
    )
    .await
}

/// Clicks from browsers without a session, spread over every link.
async fn click_links(
    http: &reqwest::Client,
    target: &Target,
    links: Vec<Link>,
    duration: Duration,
) -> Measured {
    let (http, url, links) = (http.clone(), target.url.clone(), Arc::new(links));
    drive(
        "/r/{token}, click recorded durably, 64 connections",
        CONNECTIONS,
        duration,
        move |_, n| {
            let (http, url, links) = (http.clone(), url.clone(), links.clone());
            async move {
                let link = &links[n as usize % links.len()];
                let response = http
                    .get(format!("{url}{}", link.path))
                    .header("user-agent", BROWSER)
                    .header("cookie", &link.cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 302);
            }
        },
    )
    .await
}

/// Off-platform counts, 1,000 events to a batch, each event with its own idempotency key.
async fn ingest_events(
    http: &reqwest::Client,
    target: &Target,
    partner: &target::Partner,
    duration: Duration,
) -> Measured {
    let (http, url) = (http.clone(), target.url.clone());
    let (client_id, secret) = (partner.client_id.clone(), partner.secret.clone());
    let mut measured = drive(
        "partner events ingest, batches of 1,000, 4 connections (events; latency per batch)",
        4,
        duration,
        move |_, n| {
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
        },
    )
    .await;
    measured.units *= EVENTS_PER_BATCH as u64;
    measured
}

/// Each member's app sends a recommendation card to the member's neighbour, through the
/// member's OAuth access token; every send is written to the member's access log.
async fn partner_sends(
    http: &reqwest::Client,
    target: &Target,
    partner: &target::Partner,
    members: &[Member],
    duration: Duration,
) -> Measured {
    let mut tokens = Vec::new();
    for member in members {
        tokens.push(target.access_token(partner, member).await);
    }
    let mut pseudonyms = Vec::new();
    for token in &tokens {
        let me = target::ok_json(
            http.get(format!("{}/partner/v1/me", target.url))
                .bearer_auth(token),
        )
        .await;
        pseudonyms.push(me["id"].as_str().unwrap().to_owned());
    }
    let (http, url) = (http.clone(), target.url.clone());
    let (tokens, pseudonyms) = (Arc::new(tokens), Arc::new(pseudonyms));
    drive(
        "partner send through an OAuth token + access log, 64 connections",
        CONNECTIONS,
        duration,
        move |connection, _| {
            let (http, url) = (http.clone(), url.clone());
            let (tokens, pseudonyms) = (tokens.clone(), pseudonyms.clone());
            async move {
                let to = &pseudonyms[(connection + 1) % pseudonyms.len()];
                let response = http
                    .post(format!("{url}/partner/v1/messages"))
                    .bearer_auth(&tokens[connection])
                    .json(&json!({ "to": [to], "card": card() }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
            }
        },
    )
    .await
}

fn postgres_url() -> Option<String> {
    std::env::var("CONFIDANT_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var(confidant_store::testing::POSTGRES_URL_VAR))
        .ok()
}

/// `LOAD_BENCH_ONLY=read,send` runs only those workloads (for profiling one at a time); the
/// baselines always run. Keys: send, read, click, ingest, partner, wrk, million, memory,
/// postgres.
fn selected(workload: &str) -> bool {
    std::env::var("LOAD_BENCH_ONLY")
        .map_or(true, |only| only.split(',').any(|w| w.trim() == workload))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let secs: f64 = std::env::var("LOAD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if measuring { 10.0 } else { 0.2 });
    let duration = Duration::from_secs_f64(secs);
    let streams = if measuring { 10_000 } else { 100 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let http = client();

        let bare = baselines::bare_axum().await;
        let hello = baselines::get_loop(
            "baseline: bare axum hello world, 64 connections",
            &http,
            format!("{bare}/"),
            CONNECTIONS,
            duration,
        )
        .await;
        let redirect = baselines::get_loop(
            "baseline: bare axum 302, 64 connections",
            &http,
            format!("{bare}/r"),
            CONNECTIONS,
            duration,
        )
        .await;
        let baseline_dir = tempfile::tempdir().unwrap();
        let one_per_commit = baselines::raw_inserts(baseline_dir.path(), duration, 1).await;
        let batched = baselines::raw_inserts(baseline_dir.path(), duration, 1000).await;

        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}", dir.path().join(DATABASE_FILE).display());
        let sqlite = Target::start(dir.path(), &database).await;
        let members = Arc::new(sqlite.members(&http, CONNECTIONS).await);
        let partner = sqlite.partner().await;
        let mut measured = Vec::new();
        let mut send_pages = None;
        if selected("send") {
            let what = "send a message, 64 connections";
            let before = sqlite.store.group_commits();
            let sent = send_messages(what, &http, &sqlite, &members, duration).await;
            let written = sqlite
                .store
                .group_commits()
                .zip(before)
                .map(|(after, before)| {
                    (after.writes - before.writes) as f64
                        / (after.commits - before.commits).max(1) as f64
                });
            send_pages = Some((
                wal::pages_by_object(&dir.path().join(DATABASE_FILE)),
                written,
            ));
            measured.push(Row::against(
                sent,
                &hello,
                "hello",
                "≥ 0.15× hello, p99 ≤ 5 ms",
            ));
        }
        if selected("read") {
            sqlite.fill_conversations(&members, 50).await;
            let read = read_messages(&http, &sqlite, &members, duration).await;
            measured.push(Row::against(read, &hello, "hello", "≥ 0.12× hello"));
        }
        if selected("click") {
            let links = sqlite.links(&http, &partner, &members).await;
            let clicked = click_links(&http, &sqlite, links, duration).await;
            measured.push(Row::against(
                clicked,
                &redirect,
                "bare 302",
                "≥ 0.5× bare 302",
            ));
        }
        if selected("ingest") {
            let ingested = ingest_events(&http, &sqlite, &partner, duration).await;
            measured.push(Row::against(
                ingested,
                &batched,
                "raw batched",
                "≥ 0.5× raw batched",
            ));
        }
        if selected("partner") {
            let sent = partner_sends(&http, &sqlite, &partner, &members, duration).await;
            measured.push(Row::against(sent, &hello, "hello", "≥ 0.05× hello"));
        }
        let mut external = Vec::new();
        if selected("wrk") {
            if wrk::available() {
                let links = sqlite.links(&http, &partner, &members).await;
                external = wrk_rows(&bare, &sqlite.url, &members, links, duration).await;
            } else {
                println!(
                    "wrk is not installed: the rows driven from a separate process are missing"
                );
            }
        }
        let group_commits = sqlite.store.group_commits();

        let mut rows = vec![
            Row::baseline(hello),
            Row::baseline(redirect),
            Row::baseline(one_per_commit),
            Row::baseline(batched),
        ];
        rows.extend(measured);
        rows.extend(external);

        if selected("memory") {
            let memory = memory::measure(&http, streams, duration).await;
            let mib = |bytes: u64| format!("{:.1} MiB RSS", bytes as f64 / (1024.0 * 1024.0));
            rows.push(Row::Figure {
                what: "memory: idle, separate process".into(),
                value: mib(memory.idle),
                goal: "≤ 30 MB",
            });
            rows.push(Row::Figure {
                what: format!("memory: {} open event streams", memory.streams),
                value: mib(memory.with_streams),
                goal: "≤ 300 MB (10,000 streams)",
            });
            let beside = Row::against(
                memory.sends_beside_streams,
                &memory.sends_alone,
                "without the streams",
                "",
            );
            rows.extend([Row::baseline(memory.sends_alone), beside]);
        }

        if selected("million") {
            rows.extend(million_rows(&http, duration, measuring).await);
        }

        match postgres_url() {
            Some(admin_url) if selected("postgres") => {
                rows.extend(postgres_rows(&http, &admin_url, duration).await);
            }
            Some(_) => {}
            None => println!("SKIPPED: the PostgreSQL rows (set CONFIDANT_BENCH_POSTGRES_URL)"),
        }

        println!("\n## Load ({CONNECTIONS} connections; {secs} s per workload; durable commits)\n");
        println!("| workload | throughput | p50 | p99 | vs. baseline | goal |");
        println!("|---|---|---|---|---|---|");
        for row in &rows {
            row.print();
        }
        if let Some(counts) = group_commits {
            println!(
                "\nSQLite group commits: {} writes in {} commits ({:.1} writes per commit)",
                counts.writes,
                counts.commits,
                counts.writes as f64 / counts.commits.max(1) as f64
            );
        }
        if let Some((pages, writes_per_commit)) = send_pages {
            print_send_pages(&pages, writes_per_commit);
        }
    });
}

/// The log pages the in-process sends wrote per commit, by table and index.
fn print_send_pages(pages: &wal::WalPages, writes_per_commit: Option<f64>) {
    let writes = writes_per_commit.map_or(String::new(), |writes| {
        format!(", {writes:.1} sends per commit over the workload")
    });
    println!(
        "\nSQLite log pages per commit of the in-process sends: {:.1} (over the {} commits in the log{writes})\n",
        pages.per_commit(),
        pages.commits
    );
    println!("| table or index | pages per commit |");
    println!("|---|---|");
    for (name, count) in &pages.by_object {
        println!(
            "| {name} | {:.2} |",
            *count as f64 / pages.commits.max(1) as f64
        );
    }
}

/// Message sends on PostgreSQL against pgbench's single-row inserts at the same concurrency.
async fn postgres_rows(http: &reqwest::Client, admin_url: &str, duration: Duration) -> Vec<Row> {
    let db = confidant_store::testing::TestDatabase::postgres("load benchmark")
        .await
        .unwrap();
    let schema = db.url.rsplit("search_path%3D").next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let postgres = Target::start(dir.path(), &db.url).await;
    let members = Arc::new(postgres.members(http, CONNECTIONS).await);
    let what = "PostgreSQL: send a message, 64 connections";
    let sent = send_messages(what, http, &postgres, &members, duration).await;
    // Every connection in one conversation: the members' feeds, the conversation and the
    // read marks are the same rows for all of them, so any lock on them would serialise.
    let what = "PostgreSQL: send a message, 64 connections, one conversation";
    let one_conversation =
        send_in_one_conversation(what, http, &postgres, &members, duration).await;
    // The same sends from a separate process, as pgbench's inserts come from one.
    let external = if wrk::available() {
        let what = "wrk: PostgreSQL: send a message, 64 connections";
        let sends = wrk_sends(&members);
        Some(run_wrk(what, &postgres.url, sends, CONNECTIONS, duration).await)
    } else {
        None
    };
    // pgbench needs the connections Confidant holds.
    postgres.stop().await;
    let goal = "≥ 0.4× pgbench";
    let measured = [(sent, goal), (one_conversation, "")]
        .into_iter()
        .chain(external.map(|sent| (sent, goal)));
    let rows = match baselines::pgbench(&db.url, admin_url, &schema, CONNECTIONS, duration).await {
        Some(pgbench) => {
            let against = |(sent, goal)| Row::against(sent, &pgbench, "pgbench", goal);
            let rows: Vec<Row> = measured.map(against).collect();
            std::iter::once(Row::baseline(pgbench))
                .chain(rows)
                .collect()
        }
        None => {
            println!("pgbench is not installed: the PostgreSQL baseline is missing");
            measured.map(|(sent, _)| Row::baseline(sent)).collect()
        }
    };
    db.remove().await;
    rows
}
