//! WAL checkpoints on a thread of their own.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages, on
//! the connection that committed: here, the writer thread. That group commit then also copies
//! the WAL into the database file and fsyncs it, and every write queued behind it waits; under
//! a steady load of partner sends it was a tenth of the writer's time. So this thread runs a
//! PASSIVE checkpoint, which waits for no reader and blocks neither readers nor the writer,
//! whenever something was committed since its last one — at most every [`INTERVAL`]. A page
//! written many times in that while is copied once.
//!
//! That alone does not keep the WAL short. SQLite starts writing the WAL from its beginning
//! again only when a write transaction begins on a WAL that is wholly copied, and under a
//! steady stream of writes the writer begins its next batch before this thread has caught up
//! with the last: the WAL grew by gigabytes in a minute of sends, each new page a new block
//! of the file and of the page cache. So the writer still checkpoints past
//! [`WRITER_CHECKPOINT_PAGES`]: by then this thread has copied all but the last few frames,
//! the writer copies those, and its next batch starts the WAL over.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::writer::CommitCounts;

/// The longest a committed page waits in the WAL before it is copied into the database.
/// Each checkpoint fsyncs the WAL and the database file beside the writer's own fsyncs: under
/// sends, one every 500 ms left the writer more of the disk than one every 100 ms (see
/// BENCHMARKS.md).
const INTERVAL: Duration = Duration::from_millis(500);

/// The WAL's length in pages (8 MiB of 2 KiB pages) past which the writer's commit finishes
/// the copy itself, so that the WAL starts over.
pub(crate) const WRITER_CHECKPOINT_PAGES: i64 = 4_000;

/// Keeps the checkpoint thread running; once every clone is dropped, it checkpoints what was
/// committed since its last checkpoint and stops.
#[derive(Clone)]
pub(crate) struct Checkpointer {
    _running: flume::Sender<()>,
}

impl Checkpointer {
    /// Starts the thread, which takes ownership of `conn` and checkpoints after the commits
    /// that `commits` counts.
    pub(crate) fn start(conn: Connection, commits: Arc<CommitCounts>) -> std::io::Result<Self> {
        let (running, stopped) = flume::bounded::<()>(0);
        std::thread::Builder::new()
            .name("sqlite-checkpointer".into())
            .spawn(move || {
                let mut checkpointed = commits.commits();
                loop {
                    let stopping = matches!(
                        stopped.recv_timeout(INTERVAL),
                        Err(flume::RecvTimeoutError::Disconnected)
                    );
                    let committed = commits.commits();
                    if committed != checkpointed {
                        checkpointed = committed;
                        checkpoint(&conn);
                    }
                    if stopping {
                        return;
                    }
                }
            })?;
        Ok(Checkpointer { _running: running })
    }
}

fn checkpoint(conn: &Connection) {
    // It answers (busy, pages in the WAL, pages copied); whatever it could not copy yet, the
    // next one will.
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "a WAL checkpoint failed; the next one will try again");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::super::{Database, PAGE_SIZE, store_error};
    use super::WRITER_CHECKPOINT_PAGES;

    /// A new database at `path` with one table, `filler (body BLOB)`, to fill the WAL with.
    async fn with_filler_table(path: &std::path::Path) -> Database {
        let db = Database::open(path).unwrap();
        db.write(|conn| {
            conn.execute_batch("CREATE TABLE filler (body BLOB)")
                .map_err(store_error)
        })
        .await
        .unwrap();
        db
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confidant.db");
        let db = with_filler_table(&path).await;
        // 6 MB in 30 commits: below the pages past which the writer checkpoints.
        for _ in 0..30 {
            db.write(|conn| {
                conn.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
                     INSERT INTO filler (body) SELECT zeroblob(4000) FROM n",
                    [],
                )
                .map_err(store_error)
            })
            .await
            .unwrap();
        }
        // Pages reach the database file only by a checkpoint: once it holds the 6 MB, the
        // checkpointer has copied them.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < 6_000_000 {
            assert!(Instant::now() < deadline, "the WAL was never checkpointed");
            tokio::time::sleep(super::INTERVAL).await;
        }
        let count: i64 = db
            .read(|conn| {
                conn.query_row("SELECT COUNT(*) FROM filler", [], |row| row.get(0))
                    .map_err(store_error)
            })
            .await
            .unwrap();
        assert_eq!(count, 1_500);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_a_steady_stream_of_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(with_filler_table(&dir.path().join("confidant.db")).await);
        // 48 callers that always have a write queued, so the writer never waits for work and
        // the checkpointer never finds the WAL at rest: 144 MiB in all, 64 KiB at a time.
        let callers = (0..48).map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                for _ in 0..48 {
                    db.write(|conn| {
                        conn.execute("INSERT INTO filler (body) VALUES (zeroblob(65536))", [])
                            .map_err(store_error)
                    })
                    .await
                    .unwrap();
                }
            })
        });
        for caller in futures::future::join_all(callers).await {
            caller.unwrap();
        }
        // SQLite never shortens the WAL file: its length is the most the WAL ever held. Started
        // over, it stays near the writer's bound plus a batch; never started over, it holds
        // everything written.
        let wal = std::fs::metadata(dir.path().join("confidant.db-wal"))
            .unwrap()
            .len();
        let bound = (WRITER_CHECKPOINT_PAGES * PAGE_SIZE) as u64;
        assert!(
            wal < 3 * bound,
            "the WAL grew to {wal} bytes; it should start over past {bound}"
        );
    }
}
