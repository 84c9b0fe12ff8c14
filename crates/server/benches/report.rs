//! Report benchmark: a 365-day report over a database seeded with 10,000,000 events, each
//! figure beside a baseline measured in the same run on the same database.
//!
//! `cargo bench -p confidant-server --bench report` (SQLite; PostgreSQL too when
//! `CONFIDANT_TEST_POSTGRES_URL` is set). `REPORT_BENCH_EVENTS` and `REPORT_BENCH_MEMBERS`
//! change the data. Under `cargo test` it runs once on a small database, so it keeps working.
//!
//! - baseline: reading the period's daily cells with one plain query — the least any report
//!   must do;
//! - the exact table (every cell of the domain, measured beside reported), the table with
//!   noise (a new release: calibration, draws, storing), and serving a stored release;
//! - rendering the release as JSON, CSV and HTML.
//!
//! (Earlier versions also summed the per-member contributions for scale; those rows now live
//! only while their day runs, so there is nothing left to sum.)

#![allow(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use confidant_core::demo::DemoSeed;
use confidant_core::live::LocalBus;
use confidant_core::pairwise::PairwiseIds;
use confidant_core::reports::{Mechanism, ReportRequest};
use confidant_core::store::day_of;
use confidant_core::{Clock, Confidant, Settings, SystemClock};
use confidant_log::LogSigner;
use confidant_server::reports::{ReportFormat, render};
use confidant_store::testing::TestDatabase;

const DAYS: i64 = 365;

/// A row of `engagement_daily`: the cell's six columns and its two counts.
type DailyCellRow = (String, i64, String, String, String, String, i64, i64);

/// The baseline: the period's daily cells read with one plain query, on the backend's native
/// driver (rusqlite for SQLite, sqlx for PostgreSQL).
enum DailyCells {
    Sqlite(Arc<std::sync::Mutex<rusqlite::Connection>>),
    Postgres(sqlx::PgPool),
}

const DAILY_CELLS: &str = "SELECT client_id, day, interface, surface, variation, channel, \
     sends, clicks FROM engagement_daily WHERE client_id = $1 AND day >= $2 AND day <= $3";

impl DailyCells {
    async fn open(url: &str) -> Self {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let conn = rusqlite::Connection::open(path).unwrap();
            return DailyCells::Sqlite(Arc::new(std::sync::Mutex::new(conn)));
        }
        DailyCells::Postgres(sqlx::PgPool::connect(url).await.unwrap())
    }

    async fn read(&self, client_id: &str, first_day: i64, last_day: i64) -> Vec<DailyCellRow> {
        match self {
            DailyCells::Sqlite(conn) => {
                let (conn, client_id) = (conn.clone(), client_id.to_owned());
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().unwrap();
                    let mut select = conn.prepare_cached(DAILY_CELLS).unwrap();
                    let rows = select
                        .query_map(rusqlite::params![client_id, first_day, last_day], |row| {
                            Ok((
                                row.get(0)?,
                                row.get(1)?,
                                row.get(2)?,
                                row.get(3)?,
                                row.get(4)?,
                                row.get(5)?,
                                row.get(6)?,
                                row.get(7)?,
                            ))
                        })
                        .unwrap();
                    rows.collect::<Result<_, _>>().unwrap()
                })
                .await
                .unwrap()
            }
            DailyCells::Postgres(pool) => sqlx::query_as(DAILY_CELLS)
                .bind(client_id)
                .bind(first_day)
                .bind(last_day)
                .fetch_all(pool)
                .await
                .unwrap(),
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn row(what: &str, took: Duration, baseline: Duration) {
    println!(
        "| {what} | {:.1} ms | {:.1}× |",
        took.as_secs_f64() * 1000.0,
        took.as_secs_f64() / baseline.as_secs_f64()
    );
}

async fn time<T, F: Future<Output = T>>(runs: usize, mut run: impl FnMut() -> F) -> Duration {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(run().await);
        samples.push(start.elapsed());
    }
    median(samples)
}

async fn bench(db: TestDatabase, members: usize, events: u64, runs: usize) {
    let clock = Arc::new(SystemClock);
    let (signer, _) = LogSigner::generate("bench.example").unwrap();
    let mut settings = Settings {
        password_hashing: confidant_core::accounts::HashingCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        ..Settings::default()
    };
    // The runs release overlapping periods: give every data day room for all of them, since
    // this measures speed, not the budget.
    settings.reports.privacy.rho_per_data_day = 1000.0;
    let pairwise = PairwiseIds::from_hex(&PairwiseIds::generate_hex()).unwrap();
    let app = Confidant::new(
        Arc::new(db.store.clone()),
        clock.clone(),
        Arc::new(LocalBus::default()),
        signer,
        pairwise,
        settings,
    )
    .unwrap();

    let start = Instant::now();
    let seeded = app
        .seed_demo(
            DemoSeed {
                members,
                events,
                days: DAYS,
                seed: 1,
            },
            &|_| {},
        )
        .await
        .unwrap();
    let seeding = start.elapsed();
    let client_id = seeded.client_id.clone();
    let first_day = day_of(clock.now()) - DAYS;
    let last_day = first_day + DAYS - 1;

    let cells = db
        .store
        .count_raw("SELECT COUNT(*) FROM engagement_daily")
        .await
        .unwrap();
    let daily_cells = DailyCells::open(&db.url).await;
    println!(
        "\n### {:?}: {} events ({} sends, {} clicks) from {members} members over {DAYS} days",
        db.backend(),
        seeded.sends + seeded.clicks,
        seeded.sends,
        seeded.clicks
    );
    println!(
        "seeded in {:.1} s ({:.0} events/s); {cells} daily cells\n",
        seeding.as_secs_f64(),
        events as f64 / seeding.as_secs_f64()
    );
    println!("| 365-day report | median of {runs} | × baseline |");
    println!("|---|---|---|");

    let baseline = time(runs, || async {
        let rows = daily_cells.read(&client_id, first_day, last_day).await;
        rows.len()
    })
    .await;
    row(
        "baseline: read the daily cells (one query)",
        baseline,
        baseline,
    );

    let exact = time(runs, || app.raw_report_table(&client_id, first_day, DAYS)).await;
    row("exact table, every cell of the domain", exact, baseline);

    // Each release is drawn once, so every run releases a different period (one day
    // earlier each time).
    let mut back = 0;
    let release = time(runs, || {
        back += 1;
        let request = ReportRequest {
            client_id: &client_id,
            first_day: first_day - back,
            days: DAYS,
            mechanism: Some(Mechanism::DiscreteGaussian),
            progress: &|_, _| {},
        };
        let app = app.clone();
        async move {
            let released = app.release_report(request).await.unwrap();
            assert!(released.fresh);
        }
    })
    .await;
    row("new release: noise, budget, stored", release, baseline);

    let request = ReportRequest {
        client_id: &client_id,
        first_day,
        days: DAYS,
        mechanism: Some(Mechanism::DiscreteGaussian),
        progress: &|_, _| {},
    };
    let stored = app.release_report(request).await.unwrap();
    let served = time(runs, || async {
        let again = app.release_report(request).await.unwrap();
        assert!(!again.fresh);
    })
    .await;
    row("stored release served again", served, baseline);
    for format in [ReportFormat::Json, ReportFormat::Csv, ReportFormat::Html] {
        let rendered = time(runs, || async {
            render(&stored.report, format).unwrap().len()
        })
        .await;
        row(
            &format!(
                "render {} ({} rows)",
                format.extension(),
                stored.report.rows.len()
            ),
            rendered,
            baseline,
        );
    }

    db.remove().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let (events, members, runs) = if measuring {
        (10_000_000, 2_000, 5)
    } else {
        (5_000, 20, 1)
    };
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let events = setting("REPORT_BENCH_EVENTS", events);
    let members = setting("REPORT_BENCH_MEMBERS", members as u64) as usize;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        println!("## Reports");
        bench(TestDatabase::sqlite().await, members, events, runs).await;
        if let Some(db) = TestDatabase::postgres("report bench").await {
            bench(db, members, events, runs).await;
        }
    });
}
