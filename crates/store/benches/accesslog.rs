//! Access-log benchmark: append cost and proof latency on a 1,000,000-entry log, each as a
//! ratio to a baseline measured in the same run on the same database.
//!
//! `cargo bench -p confidant-store --bench accesslog` (SQLite; PostgreSQL too when
//! `CONFIDANT_TEST_POSTGRES_URL` is set). `ACCESS_LOG_BENCH_ENTRIES` changes the log size.
//! Under `cargo test` it runs once on a small log, so it keeps working.
//!
//! - append: one entry per transaction through the real append path (frontier read, hashes,
//!   head update), on an empty log and on the big one; baseline: one plain row insert per
//!   transaction, i.e. the commit itself.
//! - proofs: inclusion and consistency proofs at random positions of the big log (reading
//!   the stored hashes and building the proof); baseline: reading one entry by key.

#![allow(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::time::{Duration, Instant};

use confidant_core::accesslog::Action;
use confidant_core::store::{AccessLogStore, AccountStore, NewLogEntry, NewMember};
use confidant_core::{MemberId, Timestamp};
use confidant_log::Frontier;
use confidant_log::tree;
use confidant_store::testing::TestDatabase;
use confidant_store::{Backend, SqlStore};
use rand::Rng;

const T0: Timestamp = Timestamp(1_800_000_000_000);
/// Rows per INSERT while bulk-loading the big log.
const LOAD_BATCH: usize = 1000;

fn entry(member: MemberId, n: u64) -> NewLogEntry {
    NewLogEntry::new(
        member,
        T0.plus_secs(n as i64),
        "cfd_app_bench",
        Action::ProfileRead,
        &format!("req-{n}"),
    )
    .with_scope("profile")
}

async fn member(store: &SqlStore, handle: &str) -> MemberId {
    store
        .create_member(NewMember {
            handle: confidant_core::accounts::Handle::parse(handle).unwrap(),
            display_name: handle.into(),
            password_hash: "x".into(),
            is_admin: false,
            created_at: T0,
        })
        .await
        .unwrap()
        .id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn blob(backend: Backend, bytes: &[u8]) -> String {
    match backend {
        Backend::Sqlite => format!("X'{}'", hex(bytes)),
        Backend::Postgres => format!("decode('{}', 'hex')", hex(bytes)),
    }
}

/// Writes a log of `size` entries straight into the tables, exactly as appends would leave
/// it (the same entries, stored hashes and head), but in large batches: building it one
/// committed append at a time would take an hour.
async fn bulk_load(store: &SqlStore, member: MemberId, size: u64) {
    let backend = store.backend();
    let mut frontier = Frontier::empty();
    let mut entries = Vec::with_capacity(LOAD_BATCH);
    let mut hashes = Vec::with_capacity(2 * LOAD_BATCH);
    for n in 0..size {
        let entry = entry(member, n).at_seq(n);
        let appended = frontier.push(entry.leaf_hash());
        entries.push(format!(
            "({}, {}, {}, '{}', '{}', '{}', '', 'allowed', NULL, '{}')",
            member.0,
            n,
            entry.at_ms,
            entry.app,
            entry.action,
            entry.scope.unwrap_or_default(),
            entry.request_id
        ));
        for (i, hash) in appended.hashes.iter().enumerate() {
            hashes.push(format!(
                "({}, {}, {})",
                member.0,
                appended.first_index + i as u64,
                blob(backend, &hash.0)
            ));
        }
        if entries.len() == LOAD_BATCH || n + 1 == size {
            store
                .execute_raw(&format!(
                    "INSERT INTO access_log_entries (member_id, seq, at, app, action, scope, \
                     objects, outcome, reason, request_id) VALUES {}",
                    entries.join(", ")
                ))
                .await
                .unwrap();
            store
                .execute_raw(&format!(
                    "INSERT INTO access_log_hashes (member_id, idx, hash) VALUES {}",
                    hashes.join(", ")
                ))
                .await
                .unwrap();
            entries.clear();
            hashes.clear();
        }
    }
    store
        .execute_raw(&format!(
            "INSERT INTO access_log_heads (member_id, size, root) VALUES ({}, {size}, {})",
            member.0,
            blob(backend, &frontier.root().0)
        ))
        .await
        .unwrap();
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
        sorted[sorted.len() * 99 / 100]
    }

    fn per_second(&self) -> f64 {
        self.0.len() as f64 / self.0.iter().sum::<Duration>().as_secs_f64()
    }
}

async fn time<F: std::future::Future<Output = ()>>(
    samples: usize,
    mut each: impl FnMut(usize) -> F,
) -> Timings {
    let mut timings = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        each(i).await;
        timings.push(start.elapsed());
    }
    Timings(timings)
}

fn row(what: &str, timings: &Timings, baseline: &Timings) {
    println!(
        "| {what} | {:.0} µs | {:.0} µs | {:.0}/s | {:.2}× |",
        timings.median().as_secs_f64() * 1e6,
        timings.p99().as_secs_f64() * 1e6,
        timings.per_second(),
        timings.median().as_secs_f64() / baseline.median().as_secs_f64()
    );
}

async fn run(db: TestDatabase, size: u64, samples: usize) {
    let store = &db.store;
    println!("\n### {} — log of {size} entries\n", store.backend().name());
    let big = member(store, "big").await;
    // The hashing alone, in memory: what an append costs before any database work.
    let leaves: Vec<_> = (0..size)
        .map(|n| entry(big, n).at_seq(n).leaf_hash())
        .collect();
    let started = Instant::now();
    let mut frontier = Frontier::empty();
    for leaf in leaves {
        frontier.push(leaf);
    }
    println!(
        "(tree hashing in memory: {:.2} µs per append, averaged over {size} appends)",
        started.elapsed().as_secs_f64() * 1e6 / size as f64
    );
    let started = Instant::now();
    bulk_load(store, big, size).await;
    println!("(bulk load: {:.1} s)\n", started.elapsed().as_secs_f64());
    let empty = member(store, "small").await;

    store
        .execute_raw(
            "CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, at BIGINT NOT NULL, app TEXT NOT NULL)",
        )
        .await
        .unwrap();
    let plain = time(samples, |i| async move {
        store
            .execute_raw(&format!(
                "INSERT INTO bench_plain VALUES ({i}, {i}, 'cfd_app_bench')"
            ))
            .await
            .unwrap();
    })
    .await;
    let append_small = time(samples, |i| async move {
        store
            .append_log(entry(empty, i as u64), None)
            .await
            .unwrap();
    })
    .await;
    let append_big = time(samples, |i| async move {
        store
            .append_log(entry(big, size + i as u64), None)
            .await
            .unwrap();
    })
    .await;
    let grown = size + samples as u64;

    let mut rng = rand::thread_rng();
    let seqs: Vec<u64> = (0..samples).map(|_| rng.gen_range(0..grown)).collect();
    let read = time(samples, |i| {
        let seq = seqs[i];
        async move {
            let entry = store.log_range(big, seq, 1).await.unwrap();
            assert_eq!(entry[0].seq, seq);
        }
    })
    .await;
    let inclusion = time(samples, |i| {
        let seq = seqs[i];
        async move {
            let indexes = tree::inclusion_indexes(seq, grown).unwrap();
            let stored = store.log_hashes(big, &indexes).await.unwrap();
            tree::prove_inclusion(seq, grown, &stored).unwrap();
        }
    })
    .await;
    let consistency = time(samples, |i| {
        let first = seqs[i] + 1;
        async move {
            let indexes = tree::consistency_indexes(first, grown).unwrap();
            let stored = store.log_hashes(big, &indexes).await.unwrap();
            tree::prove_consistency(first, grown, &stored).unwrap();
        }
    })
    .await;

    println!("| operation | median | p99 | rate | vs. baseline |");
    println!("|---|---|---|---|---|");
    row("commit of a plain 1-row insert (baseline)", &plain, &plain);
    row("append, empty log", &append_small, &plain);
    row(
        &format!("append, log of {size} entries"),
        &append_big,
        &plain,
    );
    row("read one entry by key (baseline)", &read, &read);
    row(
        &format!("inclusion proof, random entry of {grown}"),
        &inclusion,
        &read,
    );
    row(
        &format!("consistency proof, random size to {grown}"),
        &consistency,
        &read,
    );
    db.remove().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let (default_size, samples) = if measuring {
        (1_000_000, 1000)
    } else {
        (2_000, 20)
    };
    let size: u64 = std::env::var("ACCESS_LOG_BENCH_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_size);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        println!("## Access log ({samples} samples per row)");
        run(TestDatabase::sqlite().await, size, samples).await;
        if let Some(db) = TestDatabase::postgres("accesslog bench").await {
            run(db, size, samples).await;
        }
    });
}
