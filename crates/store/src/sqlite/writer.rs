//! The SQLite writer: one OS thread that owns the only write connection and makes every write
//! durable in **group commits**.
//!
//! The thread takes every write that is waiting, runs each inside its own `SAVEPOINT` of a
//! single `BEGIN IMMEDIATE` transaction, and commits once. The cost of making a commit durable
//! (an fsync, `synchronous=FULL`) is paid once per batch instead of once per write, so
//! throughput grows with concurrency while every write stays as durable as if it were alone.
//! A write that fails or panics is rolled back to its savepoint alone; the others in its batch
//! commit. If the commit itself fails, every write in the batch is told so and none of them is
//! acknowledged. A caller is answered only after the commit (promise 7: a 2xx means committed).
//!
//! A write runs on the writer's own thread, statement after statement with no hop between
//! them: a store method costs one hand-off to this thread and one answer back.
//!
//! After the batch's writes and before its commit, the messages stored since the last indexing
//! are indexed for search once enough of them wait (see `search_index`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::search_index::SearchIndexing;
use confidant_core::StoreError;
use confidant_core::store::StoreResult;

/// The most writes one commit gathers; bounds how long the first of them waits.
const MAX_BATCH: usize = 256;
/// Writes waiting for the writer beyond this make their callers wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 4096;

/// Hands writes to the writer thread. Clones share the thread; it stops when the last clone
/// is dropped, after finishing the writes already queued.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: flume::Sender<Job>,
    counts: Arc<CommitCounts>,
}

/// Writes and the commits that made them durable, since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommits {
    pub writes: u64,
    pub commits: u64,
}

#[derive(Default)]
pub(crate) struct CommitCounts {
    writes: AtomicU64,
    commits: AtomicU64,
}

impl CommitCounts {
    /// Commits that wrote something, since the store was opened.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

impl Writer {
    /// Starts the writer thread, which takes ownership of `conn` and indexes messages for
    /// search at the pace of `indexing`.
    pub(crate) fn start(conn: Connection, mut indexing: SearchIndexing) -> std::io::Result<Self> {
        let (queue, jobs) = flume::bounded(QUEUE_DEPTH);
        let counts = Arc::new(CommitCounts::default());
        let thread_counts = counts.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_group_commits(&conn, &jobs, &thread_counts, &mut indexing))?;
        Ok(Writer { queue, counts })
    }

    /// Runs `work` in a transaction and returns its result once the transaction has committed.
    /// An `Err` from `work`, or a panic, rolls back everything `work` did, and only that.
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = Box::new(TypedWrite { work, answer });
        self.queue
            .send_async(job)
            .await
            .map_err(|_| writer_stopped())?;
        // The job always answers unless the writer thread is gone.
        answered.await.map_err(|_| writer_stopped())?
    }

    /// The live counters, for whoever acts on commits (the checkpointer).
    pub(crate) fn commit_counts(&self) -> Arc<CommitCounts> {
        self.counts.clone()
    }

    pub(crate) fn counts(&self) -> GroupCommits {
        GroupCommits {
            writes: self.counts.writes.load(Ordering::Relaxed),
            commits: self.counts.commits(),
        }
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Backend("the database writer has stopped".into())
}

/// A queued write, its result type erased so writes of every type share one queue.
type Job = Box<dyn QueuedWrite>;

trait QueuedWrite: Send {
    /// Does the work on `conn`; the caller is answered later through the [`Outcome`].
    fn run(self: Box<Self>, conn: &Connection) -> Outcome;
    /// Answers the caller with `error` without doing the work.
    fn refuse(self: Box<Self>, error: StoreError);
}

struct TypedWrite<T, F> {
    work: F,
    answer: oneshot::Sender<StoreResult<T>>,
}

/// What running a write left: whether its savepoint must be rolled back, and how to answer
/// its caller once the batch's fate is known (`Some(error)`: the batch did not commit).
struct Outcome {
    failed: bool,
    answer: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

impl<T, F> QueuedWrite for TypedWrite<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Outcome {
        let TypedWrite { work, answer } = *self;
        // A panicking write must not take the writer, and every later write, down. Its
        // statements are reset as the panic unwinds through them, and its savepoint is rolled
        // back like any failed write's.
        let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Backend("a database write panicked".into())));
        Outcome {
            failed: result.is_err(),
            answer: Box::new(move |batch_error| {
                // The caller may have gone away; the write's fate is the batch's regardless.
                let _ = answer.send(match (batch_error, result) {
                    (Some(error), Ok(_)) => Err(error),
                    (_, result) => result,
                });
            }),
        }
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.answer.send(Err(error));
    }
}

fn run_group_commits(
    conn: &Connection,
    queue: &flume::Receiver<Job>,
    counts: &CommitCounts,
    indexing: &mut SearchIndexing,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Waiting for the first write of a batch; every write that queued meanwhile joins it.
    while let Some(first) = next_write(conn, queue, counts, indexing) {
        batch.push(first);
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        let mut jobs = batch.drain(..);
        let (outcomes, failure) = commit_batch(conn, &mut jobs, indexing);
        let Some(error) = failure else {
            let written = outcomes.iter().filter(|outcome| !outcome.failed).count();
            if written > 0 {
                counts.commits.fetch_add(1, Ordering::Relaxed);
                counts.writes.fetch_add(written as u64, Ordering::Relaxed);
            }
            outcomes
                .into_iter()
                .for_each(|outcome| (outcome.answer)(None));
            continue;
        };
        indexing.rolled_back();
        tracing::error!(%error, writes = outcomes.len() + jobs.len(), "a group commit failed");
        let failed = || StoreError::Backend(format!("the commit failed: {error}").into());
        outcomes
            .into_iter()
            .for_each(|outcome| (outcome.answer)(Some(failed())));
        jobs.for_each(|job| job.refuse(failed()));
    }
}

/// Waits for the next write; `None` once every sender is gone. While messages wait to be
/// indexed for search, waiting ends at their deadline, and a batch without writes indexes them.
fn next_write(
    conn: &Connection,
    queue: &flume::Receiver<Job>,
    counts: &CommitCounts,
    indexing: &mut SearchIndexing,
) -> Option<Job> {
    loop {
        let Some(deadline) = indexing.deadline() else {
            return queue.recv().ok();
        };
        match queue.recv_deadline(deadline) {
            Err(flume::RecvTimeoutError::Timeout) => {
                match commit_batch(conn, &mut std::iter::empty(), indexing) {
                    // Counted, so that the checkpointer copies what it wrote.
                    (_, None) => _ = counts.commits.fetch_add(1, Ordering::Relaxed),
                    (_, Some(error)) => {
                        indexing.rolled_back();
                        tracing::error!(%error, "indexing messages for search failed");
                    }
                }
            }
            received => return received.ok(),
        }
    }
}

/// Runs the jobs in one transaction, each in its own savepoint, indexes the messages waiting
/// for search if they are due, and commits. On an error of the database itself (not of a
/// write), rolls back and returns it; the jobs not yet run stay in `jobs`.
fn commit_batch(
    conn: &Connection,
    jobs: &mut impl ExactSizeIterator<Item = Job>,
    indexing: &mut SearchIndexing,
) -> (Vec<Outcome>, Option<rusqlite::Error>) {
    let mut outcomes = Vec::with_capacity(jobs.len());
    // IMMEDIATE takes the write lock now, so no statement inside can meet SQLITE_BUSY halfway.
    if let Err(error) = run(conn, "BEGIN IMMEDIATE") {
        return (outcomes, Some(error));
    }
    // A lone write needs no savepoint: the transaction is its savepoint.
    let alone = jobs.len() == 1;
    for job in jobs.by_ref() {
        if !alone && let Err(error) = run(conn, "SAVEPOINT write") {
            job.refuse(StoreError::Backend(error.to_string().into()));
            return (outcomes, Some(roll_back(conn, error)));
        }
        let outcome = job.run(conn);
        let failed = outcome.failed;
        outcomes.push(outcome);
        if alone {
            continue;
        }
        let close = if failed {
            run(conn, "ROLLBACK TO write").and_then(|()| run(conn, "RELEASE write"))
        } else {
            run(conn, "RELEASE write")
        };
        if let Err(error) = close {
            return (outcomes, Some(roll_back(conn, error)));
        }
    }
    let finish = if alone && outcomes.iter().all(|outcome| outcome.failed) {
        // Nothing to keep; the write's own error is its answer.
        run(conn, "ROLLBACK")
    } else {
        indexing
            .before_commit(conn)
            .and_then(|()| run(conn, "COMMIT"))
    };
    (outcomes, finish.err().map(|error| roll_back(conn, error)))
}

/// Leaves the batch's transaction after `error`, so the next batch starts clean.
fn roll_back(conn: &Connection, error: rusqlite::Error) -> rusqlite::Error {
    if !conn.is_autocommit()
        && let Err(rollback) = run(conn, "ROLLBACK")
    {
        tracing::error!(%rollback, "cannot roll back a failed group commit");
    }
    error
}

fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sqlite::{Database, ResultExt, search_index};

    /// A database with one table, as the writer and a reader see it.
    async fn database() -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("w.db")).unwrap();
        db.write(|conn| {
            conn.execute_batch("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)")
                .store()
        })
        .await
        .unwrap();
        (db, dir)
    }

    fn insert(x: i64) -> impl FnOnce(&Connection) -> StoreResult<i64> + Send + 'static {
        move |conn| {
            conn.prepare_cached("INSERT INTO t (x) VALUES (?1)")
                .and_then(|mut insert| insert.execute([x]))
                .store()?;
            Ok(x)
        }
    }

    async fn stored(db: &Database) -> Vec<i64> {
        db.read(|conn| {
            let mut select = conn.prepare_cached("SELECT x FROM t ORDER BY x").store()?;
            let rows = select.query_map([], |row| row.get(0)).store()?;
            rows.collect::<Result<_, _>>().store()
        })
        .await
        .unwrap()
    }

    /// Holds the writer thread, once it has started, until `release` is sent: every write
    /// queued meanwhile lands in the next batch.
    async fn hold(db: &Database) -> std::sync::mpsc::Sender<()> {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, holding) = oneshot::channel();
        let writer = db.writer.clone();
        tokio::spawn(async move {
            writer
                .write(move |_| {
                    let _ = started.send(());
                    let _ = released.recv();
                    Ok(())
                })
                .await
        });
        holding.await.unwrap();
        release
    }

    async fn queued(db: &Database, n: usize) {
        while db.writer.queue.len() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn one_commit_holds_a_batch_and_a_failing_write_fails_alone() {
        let (db, _dir) = database().await;
        let before = db.writer.counts();
        let release = hold(&db).await;
        fn two_then_fail(conn: &Connection) -> StoreResult<i64> {
            insert(100)(conn)?;
            insert(101)(conn)?;
            Err(StoreError::NotFound)
        }
        fn panics(_: &Connection) -> StoreResult<i64> {
            panic!("a bug in one write")
        }
        let writes = async {
            tokio::join!(
                db.write(insert(1)),
                db.write(insert(2)),
                db.write(insert(1)),
                db.write(two_then_fail),
                db.write(panics),
                db.write(insert(3)),
            )
        };
        let release_when_queued = async {
            queued(&db, 6).await;
            release.send(()).unwrap();
        };
        let ((a, b, duplicate, partial, panicked, c), ()) =
            tokio::join!(writes, release_when_queued);
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 2, 3));
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
        assert!(matches!(partial, Err(StoreError::NotFound)));
        assert!(panicked.unwrap_err().to_string().contains("panicked"));
        // The failed writes left nothing, not even the first half of the partial one.
        assert_eq!(stored(&db).await, [1, 2, 3]);
        let counts = db.writer.counts();
        // The holding write's commit, then one commit for the three good writes.
        assert_eq!(counts.writes - before.writes, 4);
        assert_eq!(counts.commits - before.commits, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_acknowledged_write_is_committed_and_commits_are_shared() {
        let (db, _dir) = database().await;
        let before = db.writer.counts();
        let writes = (0..500).map(|x| {
            let db = db.clone();
            tokio::spawn(async move { db.write(insert(x)).await })
        });
        for (x, done) in futures::future::join_all(writes)
            .await
            .into_iter()
            .enumerate()
        {
            assert_eq!(done.unwrap().unwrap(), x as i64);
        }
        // Seen through another connection: acknowledged means committed.
        assert_eq!(stored(&db).await, (0..500).collect::<Vec<i64>>());
        let counts = db.writer.counts();
        assert_eq!(counts.writes - before.writes, 500);
        assert!(
            counts.commits - before.commits < 500,
            "{counts:?}: no write shared a commit"
        );
    }

    #[tokio::test]
    async fn a_failing_last_write_of_a_batch_fails_alone() {
        let (db, _dir) = database().await;
        let release = hold(&db).await;
        let writes = async { tokio::join!(db.write(insert(1)), db.write(insert(1))) };
        let release_when_queued = async {
            queued(&db, 2).await;
            release.send(()).unwrap();
        };
        let ((first, last), ()) = tokio::join!(writes, release_when_queued);
        assert_eq!(first.unwrap(), 1);
        assert!(matches!(last, Err(StoreError::Conflict(_))));
        assert_eq!(stored(&db).await, [1]);
    }

    #[tokio::test]
    async fn a_lone_failing_write_changes_nothing() {
        let (db, _dir) = database().await;
        db.write(insert(7)).await.unwrap();
        let before = db.writer.counts();
        assert!(db.write(insert(7)).await.is_err());
        assert_eq!(stored(&db).await, [7]);
        assert_eq!(db.writer.counts(), before);
    }

    /// Runs `sql` with the writer's connection, as one write.
    fn statements(sql: &'static str) -> impl FnOnce(&Connection) -> StoreResult<()> + Send {
        move |conn| conn.execute_batch(sql).store()
    }

    /// The ids of the messages a full-text query finds.
    async fn searchable(db: &Database, query: &'static str) -> Vec<i64> {
        db.read(move |conn| {
            let mut select = conn
                .prepare(
                    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid",
                )
                .store()?;
            let rows = select.query_map([query], |row| row.get(0)).store()?;
            rows.collect::<Result<_, _>>().store()
        })
        .await
        .unwrap()
    }

    /// The newest message indexed for search.
    async fn search_mark(db: &Database) -> i64 {
        db.read(|conn| {
            conn.query_row("SELECT upto FROM messages_fts_indexed", [], |row| {
                row.get(0)
            })
            .store()
        })
        .await
        .unwrap()
    }

    /// A migrated database with one group conversation (id 1), whose writer lets committed
    /// messages wait to be indexed for search `longest_wait` at most.
    async fn messaging_database(longest_wait: Duration) -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_indexing_within(&dir.path().join("s.db"), longest_wait).unwrap();
        db.write(crate::sqlite::migrate).await.unwrap();
        db.write(statements(
            "INSERT INTO conversations (id, kind, created_at, last_activity_at) \
             VALUES (1, 'group', 0, 0)",
        ))
        .await
        .unwrap();
        (db, dir)
    }

    /// A statement that stores message `id` of conversation 1.
    fn message(id: i64, body: &str) -> String {
        format!(
            "INSERT INTO messages (id, conversation_id, body, created_at) \
             VALUES ({id}, 1, '{body}', 0);"
        )
    }

    /// Longer than any test runs: nothing is indexed for having waited.
    const NEVER: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_batch_indexes_what_it_committed_and_nothing_it_rolled_back() {
        let (db, _dir) = messaging_database(NEVER).await;
        let release = hold(&db).await;
        let kept = message(1, "apple");
        let edited = format!(
            "{} UPDATE messages SET body = 'damson' WHERE id = 3;",
            message(3, "cherry")
        );
        let deleted = format!("{} DELETE FROM messages WHERE id = 4;", message(4, "elder"));
        let rolled_back = message(2, "banana");
        let write = |sql: String| db.write(move |conn| conn.execute_batch(&sql).store());
        let writes = async {
            tokio::join!(
                write(kept),
                db.write(move |conn| {
                    conn.execute_batch(&rolled_back).store()?;
                    Err::<(), _>(StoreError::NotFound)
                }),
                write(edited),
                write(deleted),
            )
        };
        let release_when_queued = async {
            queued(&db, 4).await;
            release.send(()).unwrap();
        };
        let ((kept, rolled_back, edited, deleted), ()) = tokio::join!(writes, release_when_queued);
        kept.unwrap();
        assert!(rolled_back.is_err());
        edited.unwrap();
        deleted.unwrap();
        assert_eq!(
            search_mark(&db).await,
            0,
            "a few messages wait to be indexed"
        );
        assert_eq!(searchable(&db, "apple").await, [] as [i64; 0]);
        // What a search does first.
        db.index_waiting_messages().await.unwrap();
        // FTS5's own check that its index holds exactly what the messages table does.
        db.write(statements(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
        ))
        .await
        .expect("the search index matches the messages");
        assert_eq!(searchable(&db, "apple").await, [1]);
        assert_eq!(searchable(&db, "banana").await, [] as [i64; 0]);
        assert_eq!(searchable(&db, "cherry").await, [] as [i64; 0]);
        assert_eq!(searchable(&db, "damson").await, [3]);
        assert_eq!(searchable(&db, "elder").await, [] as [i64; 0]);
        assert_eq!(
            search_mark(&db).await,
            3,
            "the mark is at the newest message committed"
        );

        // Edits and deletes of messages indexed by an earlier commit change the index at once.
        db.write(statements("UPDATE messages SET body = 'fig' WHERE id = 1"))
            .await
            .unwrap();
        db.write(statements("DELETE FROM messages WHERE id = 3"))
            .await
            .unwrap();
        assert_eq!(searchable(&db, "apple").await, [] as [i64; 0]);
        assert_eq!(searchable(&db, "fig").await, [1]);
        assert_eq!(searchable(&db, "damson").await, [] as [i64; 0]);
    }

    #[tokio::test]
    async fn a_commit_indexes_the_waiting_messages_once_enough_wait() {
        let (db, _dir) = messaging_database(NEVER).await;
        let most = search_index::MOST_WAITING;
        let all_but_one: String = (1..most).map(|id| message(id, "plum")).collect();
        db.write(move |conn| conn.execute_batch(&all_but_one).store())
            .await
            .unwrap();
        assert_eq!(search_mark(&db).await, 0);
        db.write(statements(
            "UPDATE conversations SET title = 'not a message'",
        ))
        .await
        .unwrap();
        assert_eq!(
            search_mark(&db).await,
            0,
            "no message came, none is indexed"
        );
        let last = message(most, "quince");
        db.write(move |conn| conn.execute_batch(&last).store())
            .await
            .unwrap();
        assert_eq!(search_mark(&db).await, most);
        assert_eq!(searchable(&db, "quince").await, [most]);
        assert_eq!(searchable(&db, "plum").await.len() as i64, most - 1);
    }

    #[tokio::test]
    async fn waiting_messages_are_indexed_without_another_write() {
        let (db, _dir) = messaging_database(Duration::from_millis(50)).await;
        let first = message(1, "apricot");
        db.write(move |conn| conn.execute_batch(&first).store())
            .await
            .unwrap();
        // No write follows: the writer indexes the message once it has waited.
        for _ in 0..1000 {
            if search_mark(&db).await == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(searchable(&db, "apricot").await, [1]);
        assert_eq!(search_mark(&db).await, 1);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_does_not_undo_its_write() {
        let (db, _dir) = database().await;
        let release = hold(&db).await;
        let abandoned = tokio::spawn({
            let db = db.clone();
            async move { db.write(insert(5)).await }
        });
        queued(&db, 1).await;
        abandoned.abort();
        release.send(()).unwrap();
        // Queued behind the abandoned write, so answered after it committed.
        db.write(insert(6)).await.unwrap();
        assert_eq!(stored(&db).await, [5, 6]);
    }
}
