//! The cache epochs of a SQLite database (see `sql/cache.rs`), checked without a trip to a
//! database thread.
//!
//! One connection of its own, behind a mutex, asks SQLite whether anyone — this process's
//! writer or another process on the same file — committed since it last looked
//! (`PRAGMA data_version`: a read of the WAL index in shared memory, a few microseconds), and
//! reads the epochs again only then. Every commit acknowledged before a lookup began is seen
//! by it, as on PostgreSQL; under a steady stream of writes the epochs are read about once
//! per commit, however many lookups there are.

use std::sync::Mutex;

use rusqlite::Connection;

use super::ResultExt;
use crate::sql::cache::{Epochs, SELECT_EPOCHS};
use confidant_core::store::StoreResult;

pub(crate) struct EpochWatch {
    state: Mutex<Watched>,
}

struct Watched {
    conn: Connection,
    /// `PRAGMA data_version` when `epochs` was read.
    version: i64,
    epochs: Option<Epochs>,
}

impl EpochWatch {
    pub(crate) fn new(conn: Connection) -> Self {
        EpochWatch {
            state: Mutex::new(Watched {
                conn,
                version: 0,
                epochs: None,
            }),
        }
    }

    /// The epochs, reflecting every commit acknowledged before this call, by any process.
    pub(crate) fn current(&self) -> StoreResult<Epochs> {
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
