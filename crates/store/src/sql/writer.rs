//! Every write goes through [`Writer::write`]: a closure that does its work on a connection
//! inside a transaction, and whose result the caller receives only once that transaction has
//! committed (promise 7: a 2xx means committed).
//!
//! On SQLite, one writer task owns the only write connection and runs writes in **group
//! commits**: it takes every write that is waiting, runs each inside its own `SAVEPOINT` of a
//! single transaction, and commits once. The cost of making a commit durable (an fsync) is paid
//! once per batch instead of once per write, so throughput grows with concurrency while every
//! write stays as durable as before. A write that fails is rolled back to its savepoint alone;
//! the others in its batch commit. If the commit itself fails, every write in the batch is told
//! so and none of them is acknowledged.
//!
//! On PostgreSQL, which commits concurrent transactions in parallel and groups their WAL flushes
//! itself, each write is simply its own transaction on the pool.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

use super::ResultExt;
use crate::sqlite::GroupCommits;
use confidant_core::StoreError;
use confidant_core::store::StoreResult;

/// A write: what to do on the connection, inside a transaction the caller does not manage.
pub(crate) type Work<T> =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, StoreResult<T>> + Send>;

/// The most writes one commit gathers; bounds how long the first of them waits.
const MAX_BATCH: usize = 256;
/// Writes waiting for the writer beyond this make their callers wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 4096;

#[derive(Clone)]
pub(crate) enum Writer {
    /// SQLite: the group-commit task's queue.
    Grouped(mpsc::Sender<Job>, Arc<CommitCounts>),
    /// PostgreSQL: one transaction per write.
    Pooled(AnyPool),
}

impl Writer {
    /// Starts the group-commit task over `pool`, which must hold the only write connection.
    pub(crate) fn grouped(pool: AnyPool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let counts = Arc::new(CommitCounts::default());
        tokio::spawn(run_group_commits(pool, receiver, counts.clone()));
        Writer::Grouped(sender, counts)
    }

    /// How many writes and commits the group-commit task has made; `None` on PostgreSQL.
    pub(crate) fn counts(&self) -> Option<GroupCommits> {
        match self {
            Writer::Grouped(_, counts) => Some(GroupCommits {
                writes: counts.writes.load(Ordering::Relaxed),
                commits: counts.commits.load(Ordering::Relaxed),
            }),
            Writer::Pooled(_) => None,
        }
    }

    pub(crate) fn pooled(pool: AnyPool) -> Self {
        Writer::Pooled(pool)
    }

    /// Runs `work` in a transaction and returns its result once the transaction has committed.
    /// An `Err` from `work` rolls back everything `work` did, and only that.
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        match self {
            Writer::Pooled(pool) => {
                let mut tx = pool.begin().await.store()?;
                let value = work(&mut tx).await?;
                tx.commit().await.store()?;
                Ok(value)
            }
            Writer::Grouped(queue, _) => {
                let (answer, answered) = oneshot::channel();
                let job = TypedWrite::job(Box::new(work), answer);
                queue.send(job).await.map_err(|_| writer_stopped())?;
                // The job always answers unless the writer task is gone.
                answered.await.map_err(|_| writer_stopped())?
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct CommitCounts {
    writes: AtomicU64,
    commits: AtomicU64,
}

fn writer_stopped() -> StoreError {
    StoreError::Backend("the database writer has stopped".into())
}

/// A queued write, its result type erased so writes of every type share one queue.
pub(crate) type Job = Box<dyn QueuedWrite>;

pub(crate) trait QueuedWrite: Send {
    /// Does the work on `conn`; the caller is answered later through the [`Outcome`].
    fn run<'c>(self: Box<Self>, conn: &'c mut AnyConnection) -> BoxFuture<'c, Outcome>;
    /// Answers the caller with `error` without doing the work.
    fn refuse(self: Box<Self>, error: StoreError);
}

struct TypedWrite<T> {
    work: Work<T>,
    answer: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static> TypedWrite<T> {
    fn job(work: Work<T>, answer: oneshot::Sender<StoreResult<T>>) -> Job {
        Box::new(TypedWrite { work, answer })
    }
}

/// What running a write left: whether its savepoint must be rolled back, and how to answer
/// its caller once the batch's fate is known (`Some(error)`: the batch did not commit).
pub(crate) struct Outcome {
    failed: bool,
    answer: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

impl<T: Send + 'static> QueuedWrite for TypedWrite<T> {
    fn run<'c>(self: Box<Self>, conn: &'c mut AnyConnection) -> BoxFuture<'c, Outcome> {
        let TypedWrite { work, answer } = *self;
        Box::pin(async move {
            // A panicking write must not take the writer, and every later write, down.
            let result = AssertUnwindSafe(work(conn))
                .catch_unwind()
                .await
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
        })
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.answer.send(Err(error));
    }
}

async fn run_group_commits(
    pool: AnyPool,
    mut queue: mpsc::Receiver<Job>,
    counts: Arc<CommitCounts>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let mut batch = jobs.drain(..);
        let (outcomes, failure) = commit_batch(&pool, &mut batch).await;
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
        tracing::error!(%error, writes = outcomes.len() + batch.len(), "a group commit failed");
        let failed = || StoreError::Backend(format!("the commit failed: {error}").into());
        outcomes
            .into_iter()
            .for_each(|outcome| (outcome.answer)(Some(failed())));
        batch.for_each(|job| job.refuse(failed()));
    }
}

/// Runs the jobs in one transaction, each in its own savepoint, and commits. On an error of
/// the database itself (not of a write), returns it; the jobs not yet run stay in `jobs`.
async fn commit_batch(
    pool: &AnyPool,
    jobs: &mut (impl ExactSizeIterator<Item = Job> + Send),
) -> (Vec<Outcome>, Option<sqlx::Error>) {
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => return (outcomes, Some(error)),
    };
    // IMMEDIATE takes the write lock up front: the rusqlite writer shares the file, and a
    // deferred transaction that read before the other writer committed could not write at all.
    if let Err(error) = conn.execute("BEGIN IMMEDIATE").await {
        return (outcomes, Some(error));
    }
    let tx = &mut *conn;
    // A lone write needs no savepoint: the transaction is its savepoint. Otherwise closing
    // one write's savepoint and opening the next one's take a single round trip.
    let alone = jobs.len() == 1;
    let mut before_next = (!alone).then_some("SAVEPOINT write");
    for job in jobs.by_ref() {
        if let Some(sql) = before_next
            && let Err(error) = tx.execute(sql).await
        {
            job.refuse(StoreError::Backend(error.to_string().into()));
            let _ = tx.execute("ROLLBACK").await;
            return (outcomes, Some(error));
        }
        let outcome = job.run(tx).await;
        if !alone {
            before_next = Some(if outcome.failed {
                "ROLLBACK TO write; RELEASE write; SAVEPOINT write"
            } else {
                "RELEASE write; SAVEPOINT write"
            });
        }
        outcomes.push(outcome);
    }
    let last_failed = outcomes.last().is_some_and(|outcome| outcome.failed);
    let result = if alone && last_failed {
        // Nothing to keep; the write's own error is its answer.
        tx.execute("ROLLBACK").await.map(drop)
    } else if last_failed && let Err(error) = tx.execute("ROLLBACK TO write").await {
        Err(error)
    } else {
        // COMMIT also releases the savepoint still open.
        tx.execute("COMMIT").await.map(drop)
    };
    if result.is_err() {
        // Leave no transaction open for the next batch; the error is the batch's answer.
        let _ = tx.execute("ROLLBACK").await;
    }
    (outcomes, result.err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    /// A writer over a fresh SQLite file with one table, and a reader connection beside it.
    async fn sqlite() -> (Writer, AnyPool, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let (readers, writer) = Backend::Sqlite.open(&url).await.unwrap();
        writer
            .execute("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)")
            .await
            .unwrap();
        (Writer::grouped(writer), readers, dir)
    }

    /// A write, as [`Writer::write`] takes it.
    trait TestWrite:
        for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, StoreResult<i64>> + Send + 'static
    {
    }
    impl<F> TestWrite for F where
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, StoreResult<i64>>
            + Send
            + 'static
    {
    }

    fn insert(x: i64) -> impl TestWrite {
        move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (x) VALUES ($1)")
                    .bind(x)
                    .execute(&mut *conn)
                    .await
                    .store()?;
                Ok(x)
            })
        }
    }

    async fn stored(readers: &AnyPool) -> Vec<i64> {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(readers)
            .await
            .unwrap()
    }

    // On a current-thread runtime, every write below is queued before the writer task first
    // runs, so they all land in one batch.
    #[tokio::test(flavor = "current_thread")]
    async fn one_commit_holds_a_batch_and_a_failing_write_fails_alone() {
        let (writer, readers, _dir) = sqlite().await;
        fn two_then_fail(conn: &mut AnyConnection) -> BoxFuture<'_, StoreResult<i64>> {
            Box::pin(async move {
                insert(100)(conn).await?;
                insert(101)(conn).await?;
                Err(StoreError::NotFound)
            })
        }
        fn panics(_: &mut AnyConnection) -> BoxFuture<'_, StoreResult<i64>> {
            Box::pin(async move { panic!("a bug in one write") })
        }
        let (a, b, duplicate, partial, panicked, c) = tokio::join!(
            writer.write(insert(1)),
            writer.write(insert(2)),
            writer.write(insert(1)),
            writer.write(two_then_fail),
            writer.write(panics),
            writer.write(insert(3)),
        );
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 2, 3));
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
        assert!(matches!(partial, Err(StoreError::NotFound)));
        assert!(panicked.unwrap_err().to_string().contains("panicked"));
        // The failed writes left nothing, not even the first half of the partial one.
        assert_eq!(stored(&readers).await, [1, 2, 3]);
        let counts = writer.counts().unwrap();
        assert_eq!((counts.writes, counts.commits), (3, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_acknowledged_write_is_committed_and_commits_are_shared() {
        let (writer, readers, _dir) = sqlite().await;
        let writes = (0..500).map(|x| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.write(insert(x)).await })
        });
        for (x, done) in futures::future::join_all(writes)
            .await
            .into_iter()
            .enumerate()
        {
            assert_eq!(done.unwrap().unwrap(), x as i64);
        }
        // Seen through another connection: acknowledged means committed.
        assert_eq!(stored(&readers).await, (0..500).collect::<Vec<i64>>());
        let counts = writer.counts().unwrap();
        assert_eq!(counts.writes, 500);
        assert!(counts.commits < 500, "{counts:?}: no write shared a commit");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_last_write_of_a_batch_fails_alone() {
        let (writer, readers, _dir) = sqlite().await;
        let (first, last) = tokio::join!(writer.write(insert(1)), writer.write(insert(1)));
        assert_eq!(first.unwrap(), 1);
        assert!(matches!(last, Err(StoreError::Conflict(_))));
        assert_eq!(stored(&readers).await, [1]);
        assert_eq!(writer.counts().unwrap().commits, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_failing_write_changes_nothing() {
        let (writer, readers, _dir) = sqlite().await;
        writer.write(insert(7)).await.unwrap();
        assert!(writer.write(insert(7)).await.is_err());
        assert_eq!(stored(&readers).await, [7]);
        assert_eq!(writer.counts().unwrap().commits, 1);
    }
}
