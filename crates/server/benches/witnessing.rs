//! Witnessing benchmark: what getting the server's logs witnessed costs per member-log
//! append, and how big an offline proof bundle is.
//!
//! `cargo bench -p confidant-server --bench witnessing` (SQLite; PostgreSQL too when
//! `CONFIDANT_TEST_POSTGRES_URL` is set). Under `cargo test` it runs once, small.
//!
//! - baseline: member-log appends (`append_log`, 64 at a time) for `MEMBERS` members, ten each;
//! - one witnessing round after them (publish every grown head into the log of heads, sign
//!   the two server logs' checkpoints, get each cosigned by two witnesses on loopback), and
//!   its cost spread over the appends it covers — batched, as the server runs it;
//! - the same round after every single append, for contrast: what one checkpoint per append
//!   would cost;
//! - a round that finds a few grown logs among many quiet ones (the publication scan);
//! - the size of the offline proof bundle a member's export carries at 10⁸ leaves in the log
//!   of heads (goal ≤ 2 KB).

#![allow(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use confidant_core::accesslog::Action;
use confidant_core::accounts::Handle;
use confidant_core::live::LocalBus;
use confidant_core::pairwise::PairwiseIds;
use confidant_core::store::{AccessLogStore, AccountStore, NewLogEntry, NewMember};
use confidant_core::{Confidant, MemberId, Settings, SystemClock, Timestamp};
use confidant_log::export::hash_to_base64;
use confidant_log::{CosignerKey, LogSigner, WitnessedHead};
use confidant_server::config::{AccessLogConfig, WitnessConfig};
use confidant_server::witnessing::Witnessing;
use confidant_store::SqlStore;
use confidant_store::testing::TestDatabase;

const APPENDS_PER_MEMBER: u64 = 10;
const CONCURRENCY: usize = 64;

async fn members(store: &SqlStore, prefix: &str, count: usize) -> Vec<MemberId> {
    futures::stream::iter(0..count)
        .map(|i| async move {
            store
                .create_member(NewMember {
                    handle: Handle::parse(&format!("{prefix}_{i:06}")).unwrap(),
                    display_name: format!("{prefix} {i}"),
                    password_hash: "$argon2id$bench".into(),
                    is_admin: false,
                    created_at: Timestamp(1_800_000_000_000),
                })
                .await
                .unwrap()
                .id
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// `per_member` appends to each member's log, `CONCURRENCY` at a time.
async fn append(store: &SqlStore, members: &[MemberId], per_member: u64) -> Duration {
    let start = Instant::now();
    futures::stream::iter(
        members
            .iter()
            .flat_map(|m| (0..per_member).map(move |_| *m)),
    )
    .map(|member| async move {
        let entry = NewLogEntry::new(
            member,
            Timestamp(1_800_000_000_000),
            "cfd_bench",
            Action::ProfileRead,
            "bench",
        );
        store.append_log(entry, None).await.unwrap();
    })
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    start.elapsed()
}

/// Two witnesses serving on loopback for the log key `log_key`.
async fn witnesses(log_key: &str) -> (AccessLogConfig, Vec<tempfile::TempDir>) {
    let mut config = AccessLogConfig::default();
    let mut dirs = Vec::new();
    for name in ["witness-a.example", "witness-b.example"] {
        let dir = tempfile::tempdir().unwrap();
        let key = confidant_server::witness::load_or_create_key(dir.path(), name).unwrap();
        let router =
            confidant_server::witness::router(dir.path(), name, &[log_key.to_owned()]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        config.witnesses.push(WitnessConfig {
            url: format!("http://{}/", listener.local_addr().unwrap()),
            key: key.verifier_key(),
        });
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        dirs.push(dir);
    }
    (config, dirs)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn bench(db: TestDatabase, backend: &str, grown: usize, quiet: usize) {
    let (signer, _) = LogSigner::generate("bench.example").unwrap();
    let log_key = signer.public_key().to_owned();
    let pairwise = PairwiseIds::from_hex(&PairwiseIds::generate_hex()).unwrap();
    let app = Confidant::new(
        Arc::new(db.store.clone()),
        Arc::new(SystemClock),
        Arc::new(LocalBus::default()),
        signer,
        pairwise,
        Settings::default(),
    )
    .unwrap()
    .with_witness_quorum(2);
    let (config, _dirs) = witnesses(&log_key).await;
    let witnessing = Witnessing::new(&config).unwrap();
    let store = &db.store;

    let active = members(store, "active", grown).await;
    let appends = grown as u64 * APPENDS_PER_MEMBER;
    let appending = append(store, &active, APPENDS_PER_MEMBER).await;
    let per_append = appending / appends as u32;
    let start = Instant::now();
    witnessing.round(&app).await.unwrap();
    let round = start.elapsed();
    let spread = round / appends as u32;

    // One round per append: a handful, enough for a median.
    let mut single = Vec::new();
    for member in active.iter().take(20) {
        append(store, &[*member], 1).await;
        let start = Instant::now();
        witnessing.round(&app).await.unwrap();
        single.push(start.elapsed());
    }
    single.sort();
    let per_append_round = single[single.len() / 2];

    // A round that finds `grown` grown logs among `quiet` others.
    let quiet_members = members(store, "quiet", quiet).await;
    append(store, &quiet_members, 1).await;
    witnessing.round(&app).await.unwrap();
    append(store, &active, 1).await;
    let start = Instant::now();
    witnessing.round(&app).await.unwrap();
    let scan_round = start.elapsed();

    println!("### {backend}: {grown} members, {APPENDS_PER_MEMBER} appends each per round");
    println!("| what | time | per member-log append | vs. the append |");
    println!("|---|---|---|---|");
    println!(
        "| append to a member's log (baseline, {appends} appends, {CONCURRENCY} at a time) | {:.1} ms | {:.1} µs | 1.00× |",
        appending.as_secs_f64() * 1e3,
        micros(per_append)
    );
    println!(
        "| one witnessing round after them (publish {grown} heads, 2 logs × 2 witnesses) | {:.1} ms | {:.2} µs | {:.3}× |",
        round.as_secs_f64() * 1e3,
        micros(spread),
        spread.as_secs_f64() / per_append.as_secs_f64()
    );
    println!(
        "| a round after every single append (median) | {:.1} ms | {:.0} µs | {:.1}× |",
        per_append_round.as_secs_f64() * 1e3,
        micros(per_append_round),
        per_append_round.as_secs_f64() / per_append.as_secs_f64()
    );
    println!(
        "| a round finding {grown} grown logs among {} | {:.1} ms | {:.2} µs | {:.3}× |",
        grown + quiet,
        scan_round.as_secs_f64() * 1e3,
        micros(scan_round / grown as u32),
        (scan_round / grown as u32).as_secs_f64() / per_append.as_secs_f64()
    );
    println!();
}

/// The offline proof that a member log's head was witnessed, with the log of heads at `size`
/// leaves and two cosignatures — the `witnessed` object of an export: the head (size, root),
/// the label's salt, the leaf index, the inclusion proof and the cosigned checkpoint of the
/// log of heads — and, second, the same with the member log's own signed checkpoint.
fn bundle_bytes(size: u64) -> (usize, usize) {
    let (signer, _) = LogSigner::generate("chat.example.org/k3f9a2c1").unwrap();
    let member_origin = confidant_log::origin(signer.name(), 123_456_789);
    let member_checkpoint = signer.sign(
        &member_origin,
        1_000_000,
        confidant_log::tree::leaf_hash(b"m"),
    );
    let heads_origin = confidant_log::heads::origin(signer.name());
    let mut heads = signer.sign(&heads_origin, size, confidant_log::tree::leaf_hash(b"h"));
    let (body, _) = confidant_log::cosignature::split_note(&heads).unwrap();
    let body = body.to_owned();
    for name in ["witness-one.example.net", "witness-two.example.org"] {
        let (witness, _) = CosignerKey::generate(name).unwrap();
        heads = confidant_log::cosignature::add_signature_lines(
            &heads,
            &witness.cosign(&body, 1_800_000_000),
        );
    }
    // The longest inclusion proof in a tree of `size` leaves.
    let leaf = size - 1;
    let proof_len = [0, size / 3, size / 2, leaf]
        .into_iter()
        .map(|seq| confidant_log::tree::inclusion_proof_len(seq, size))
        .max()
        .unwrap();
    let witnessed = WitnessedHead {
        checkpoint: heads,
        leaf_index: leaf,
        salt: hash_to_base64(&confidant_log::tree::leaf_hash(b"salt")),
        size: 1_000_000,
        root: hash_to_base64(&confidant_log::tree::leaf_hash(b"root")),
        inclusion_proof: (0..proof_len)
            .map(|i| hash_to_base64(&confidant_log::tree::leaf_hash(&[i as u8])))
            .collect(),
        consistency_proof: Vec::new(),
    };
    let alone = serde_json::to_vec(&witnessed).unwrap().len();
    let bundle = serde_json::json!({
        "checkpoint": member_checkpoint,
        "witnessed": witnessed,
    });
    (alone, serde_json::to_vec(&bundle).unwrap().len())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let (grown, quiet) = if measuring { (1_000, 20_000) } else { (20, 50) };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        println!("## Witnessing");
        bench(TestDatabase::sqlite().await, "SQLite", grown, quiet).await;
        if let Some(db) = TestDatabase::postgres("witnessing bench").await {
            bench(db, "PostgreSQL", grown, quiet).await;
        }
        println!("| leaves in the log of heads | proof bundle (`witnessed`) | with the member's checkpoint |");
        println!("|---|---|---|");
        for size in [1_000_000u64, 100_000_000] {
            let (alone, with_checkpoint) = bundle_bytes(size);
            println!("| {size} | {alone} bytes (goal ≤ 2,048) | {with_checkpoint} bytes |");
        }
    });
}
