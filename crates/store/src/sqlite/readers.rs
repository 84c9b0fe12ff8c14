//! SQLite readers: a few connections, each on a thread of its own, taking reads from one
//! queue. WAL lets them read beside the writer, each from the last commit it saw.
//!
//! A read holds its connection for exactly as long as its work runs on that connection's
//! thread: a caller that goes away mid-read cannot hand a connection still in use to the
//! next read.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::Connection;
use tokio::sync::oneshot;

use confidant_core::StoreError;
use confidant_core::store::StoreResult;

/// Reads waiting beyond this make their callers wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 4096;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Hands reads to the reader threads. They stop when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Readers {
    queue: flume::Sender<Job>,
}

impl Readers {
    /// Starts one thread per connection.
    pub(crate) fn start(connections: Vec<Connection>) -> std::io::Result<Self> {
        let (queue, jobs) = flume::bounded::<Job>(QUEUE_DEPTH);
        for (n, conn) in connections.into_iter().enumerate() {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{n}"))
                .spawn(move || {
                    while let Ok(job) = jobs.recv() {
                        job(&conn);
                        // A read that took a snapshot and failed before ending it must not
                        // leave the next read on that old snapshot.
                        if !conn.is_autocommit() {
                            let _ = conn.execute_batch("ROLLBACK");
                        }
                    }
                })?;
        }
        Ok(Readers { queue })
    }

    /// Runs `work` on a reader connection and returns its result.
    pub(crate) async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
                .unwrap_or_else(|_| Err(StoreError::Backend("a database read panicked".into())));
            let _ = answer.send(result);
        });
        self.queue
            .send_async(job)
            .await
            .map_err(|_| readers_stopped())?;
        answered.await.map_err(|_| readers_stopped())?
    }
}

fn readers_stopped() -> StoreError {
    StoreError::Backend("the database readers have stopped".into())
}
