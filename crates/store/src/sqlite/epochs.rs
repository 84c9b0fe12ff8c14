//! The cache epochs of a SQLite database (see `sql/cache.rs`), checked without a trip to a
//! database thread.
//!
//! One connection of its own, behind a mutex, asks SQLite whether anyone — this process's
//! writer or another process on the same file — committed since it last looked
//! (`PRAGMA data_version`: a read of the WAL index in shared memory, a few microseconds), and
//! reads the epochs again only then. Every commit acknowledged before a lookup began is seen
//! by it, as on PostgreSQL; under a steady stream of writes the epochs are read about once
//! per commit, however many lookups there are.
//!
//! Within one request ([`within_request`]) that check is made once, by its first lookup: the
//! others trust its answer for as long as this process's writer commits nothing. A commit
//! of another process that lands while the request runs may then go unseen until its end —
//! it is concurrent with the request, as it would be had it landed a moment after the
//! lookup that did check — while everything committed before the request began is seen,
//! and so is everything this process commits, the request's own writes included.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::ResultExt;
use super::writer::CommitCounts;
use crate::sql::cache::{Epochs, SELECT_EPOCHS};
use confidant_core::store::StoreResult;

tokio::task_local! {
    /// The epochs this request's first lookup read, and the writer's commit count just before.
    static THIS_REQUEST: Cell<Option<(u64, Epochs)>>;
}

/// Runs `request` as one request for the SQLite cache epochs: its lookups share one check
/// of the epochs, for as long as this process commits nothing (see the module's doc).
/// Elsewhere every lookup checks.
pub async fn within_request<F: Future>(request: F) -> F::Output {
    THIS_REQUEST.scope(Cell::new(None), request).await
}

pub(crate) struct EpochWatch {
    state: Mutex<Watched>,
    /// This process's commits, which a request's check does not cover once they move on.
    commits: Arc<CommitCounts>,
}

struct Watched {
    conn: Connection,
    /// `PRAGMA data_version` when `epochs` was read.
    version: i64,
    epochs: Option<Epochs>,
}

impl EpochWatch {
    pub(crate) fn new(conn: Connection, commits: Arc<CommitCounts>) -> Self {
        EpochWatch {
            state: Mutex::new(Watched {
                conn,
                version: 0,
                epochs: None,
            }),
            commits,
        }
    }

    /// The epochs, reflecting every commit acknowledged before this call by this process,
    /// and every one by another process acknowledged before this call's request began.
    pub(crate) fn current(&self) -> StoreResult<Epochs> {
        // Read before checking: a commit that lands during the check is checked for again.
        let commits = self.commits.commits();
        if let Ok(Some((at, epochs))) = THIS_REQUEST.try_with(Cell::get)
            && at == commits
        {
            return Ok(epochs);
        }
        let epochs = self.check()?;
        // Outside a request there is nothing to keep it in.
        let _ = THIS_REQUEST.try_with(|seen| seen.set(Some((commits, epochs))));
        Ok(epochs)
    }

    /// The epochs, reflecting every commit acknowledged before this call, by any process.
    fn check(&self) -> StoreResult<Epochs> {
        let mut watched = self.state.lock().expect("epoch lock");
        let version: i64 = watched
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut pragma| pragma.query_row([], |row| row.get(0)))
            .store()?;
        match watched.epochs {
            Some(epochs) if version == watched.version => Ok(epochs),
            _ => {
                // Read after the version: at least as new as what the version says.
                let epochs = read(&watched.conn)?;
                watched.version = version;
                watched.epochs = Some(epochs);
                Ok(epochs)
            }
        }
    }
}

fn read(conn: &Connection) -> StoreResult<Epochs> {
    let mut select = conn.prepare_cached(SELECT_EPOCHS).store()?;
    let rows = select
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))
        .store()?;
    Epochs::from_rows(&rows.collect::<Result<Vec<_>, _>>().store()?)
}
