//! Search benchmark: a member searching their conversations among 1,000,000 stored messages,
//! beside a baseline measured in the same run on the same database: reading the newest page
//! of one conversation.
//!
//! `cargo bench -p confidant-store --bench search` (SQLite; PostgreSQL too when
//! `CONFIDANT_TEST_POSTGRES_URL` is set). `SEARCH_BENCH_MESSAGES` changes the number of
//! messages. Under `cargo test` it runs once on a small store, so it keeps working.
//!
//! The store holds 2,000 members in 10,000 one-to-one conversations (each member in ten);
//! every message is eight words drawn from a 5,000-word vocabulary with a long tail, as
//! words are used (a few very common, most rare). The searching member is in ten
//! conversations, 0.1 % of all messages. Queries: a rare word, a common word (in ~5 % of
//! all messages, so the index returns many more matches than the member may see), two words,
//! and a three-letter prefix.

#![allow(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::time::{Duration, Instant};

use confidant_core::messaging::SearchQuery;
use confidant_core::store::MessagingStore;
use confidant_core::{ConversationId, MemberId, Timestamp};
use confidant_store::testing::TestDatabase;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const T0: Timestamp = Timestamp(1_800_000_000_000);
const MEMBERS: i64 = 2_000;
/// Conversations per member: member m talks with m+1 … m+5 (mod MEMBERS), so ten each.
const PARTNERS: i64 = 5;
const VOCABULARY: usize = 5_000;
const WORDS_PER_MESSAGE: usize = 8;
/// Rows per INSERT while loading.
const LOAD_BATCH: usize = 2_000;

/// A pronounceable word for index `n`: "ba", "be", … so prefixes are shared as in speech.
fn word(n: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ba", "ke", "lo", "mi", "nu", "ra", "se", "to", "vi", "zu", "da", "fe", "go", "hi", "ju",
        "pa", "qe", "ro", "si", "tu",
    ];
    let mut n = n + 20;
    let mut out = String::new();
    while n > 0 {
        out.push_str(SYLLABLES[n % 20]);
        n /= 20;
    }
    out
}

/// A word index with a long tail: index k is drawn about 1/(k+1) as often as index 0.
fn zipf(rng: &mut StdRng) -> usize {
    let u: f64 = rng.r#gen();
    ((VOCABULARY as f64 + 1.0).powf(u) - 1.0) as usize % VOCABULARY
}

fn conversation_of(member: i64, partner: i64) -> i64 {
    member * PARTNERS + partner + 1
}

async fn load(db: &TestDatabase, messages: usize) {
    let store = &db.store;
    let values: Vec<String> = (1..=MEMBERS)
        .map(|m| format!("({m}, 'm{m}', 'Member {m}', 'x', 0, {})", T0.0))
        .collect();
    store
        .execute_raw(&format!(
            "INSERT INTO members (id, handle, display_name, password_hash, is_admin, created_at) \
             VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    let mut conversations = Vec::new();
    let mut participants = Vec::new();
    for member in 0..MEMBERS {
        for partner in 0..PARTNERS {
            let id = conversation_of(member, partner);
            let other = (member + partner + 1) % MEMBERS;
            conversations.push(format!("({id}, 'direct', 'k{id}', {}, {})", T0.0, T0.0));
            participants.push(format!("({id}, {}, {})", member + 1, T0.0));
            participants.push(format!("({id}, {}, {})", other + 1, T0.0));
        }
    }
    for chunk in conversations.chunks(LOAD_BATCH) {
        store
            .execute_raw(&format!(
                "INSERT INTO conversations (id, kind, direct_key, created_at, last_activity_at) \
                 VALUES {}",
                chunk.join(", ")
            ))
            .await
            .unwrap();
    }
    for chunk in participants.chunks(LOAD_BATCH) {
        store
            .execute_raw(&format!(
                "INSERT INTO conversation_members (conversation_id, member_id, joined_at) \
                 VALUES {}",
                chunk.join(", ")
            ))
            .await
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(7);
    let total = conversations.len() as i64;
    let mut rows = Vec::with_capacity(LOAD_BATCH);
    for n in 0..messages {
        let conversation = rng.gen_range(1..=total);
        let sender = (conversation - 1) / PARTNERS + 1;
        let body: Vec<String> = (0..WORDS_PER_MESSAGE)
            .map(|_| word(zipf(&mut rng)))
            .collect();
        rows.push(format!(
            "({conversation}, {sender}, '{}', {})",
            body.join(" "),
            T0.0 + n as i64
        ));
        if rows.len() == LOAD_BATCH || n + 1 == messages {
            store
                .execute_raw(&format!(
                    "INSERT INTO messages (conversation_id, sender_id, body, created_at) VALUES {}",
                    rows.join(", ")
                ))
                .await
                .unwrap();
            rows.clear();
        }
    }
    // Fresh statistics, as a running server's would be.
    store.execute_raw("ANALYZE").await.unwrap();
}

struct Timings(Vec<Duration>);

impl Timings {
    fn median(&self) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    }

    fn p99(&self) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
    }
}

fn row(what: &str, found: usize, timings: &Timings, baseline: &Timings) {
    println!(
        "| {what} | {found} | {:.2} ms | {:.2} ms | {:.1}× |",
        timings.median().as_secs_f64() * 1e3,
        timings.p99().as_secs_f64() * 1e3,
        timings.median().as_secs_f64() / baseline.median().as_secs_f64()
    );
}

async fn run(db: TestDatabase, messages: usize, samples: usize) {
    println!(
        "\n### {} — {messages} messages\n",
        db.store.backend().name()
    );
    let started = Instant::now();
    load(&db, messages).await;
    let store = &db.store;
    // What the search index costs on disk, beside the messages themselves.
    let (index_sql, table_sql) = match store.backend() {
        confidant_store::Backend::Sqlite => (
            "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'messages_fts%'",
            "SELECT SUM(pgsize) FROM dbstat WHERE name = 'messages'",
        ),
        confidant_store::Backend::Postgres => (
            "SELECT pg_relation_size('messages_search')",
            "SELECT pg_relation_size('messages')",
        ),
    };
    let index = store.count_raw(index_sql).await.unwrap();
    let table = store.count_raw(table_sql).await.unwrap();
    println!(
        "(load: {:.1} s; messages {:.0} MiB, search index {:.0} MiB)\n",
        started.elapsed().as_secs_f64(),
        table as f64 / 1048576.0,
        index as f64 / 1048576.0
    );
    let me = MemberId(1);

    let mut timings = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        store
            .messages(ConversationId(1), me, None, 50)
            .await
            .unwrap();
        timings.push(start.elapsed());
    }
    let baseline = Timings(timings);

    // The words: the most common, one in the long tail the member has used, and a prefix.
    let common = word(0);
    let rare = word(3_000);
    let two = format!("{} {}", word(1), word(40));
    let prefix: String = word(700).chars().take(3).collect();
    println!("| query (a page of 20) | found | median | p99 | vs. baseline |");
    println!("|---|---|---|---|---|");
    row(
        "newest 50 messages of one conversation (baseline)",
        50,
        &baseline,
        &baseline,
    );
    for (what, query) in [
        (format!("rare word `{rare}`"), rare.clone()),
        (format!("common word `{common}`"), common.clone()),
        (format!("two words `{two}`"), two.clone()),
        (format!("prefix `{prefix}`"), prefix.clone()),
    ] {
        let words = SearchQuery::parse(&query).unwrap();
        let mut timings = Vec::with_capacity(samples);
        let mut found = 0;
        for _ in 0..samples {
            let start = Instant::now();
            found = store
                .search_messages(me, words.words(), None, 21)
                .await
                .unwrap()
                .len();
            timings.push(start.elapsed());
        }
        row(&what, found, &Timings(timings), &baseline);
    }
    db.remove().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let (default_messages, samples) = if measuring {
        (1_000_000, 200)
    } else {
        (5_000, 5)
    };
    let messages: usize = std::env::var("SEARCH_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_messages);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        println!("## Search ({samples} samples per row)");
        run(TestDatabase::sqlite().await, messages, samples).await;
        if let Some(db) = TestDatabase::postgres("search bench").await {
            run(db, messages, samples).await;
        }
    });
}
