//! SQLite on rusqlite: one writer thread running group commits, a few reader threads, and
//! statements prepared once per connection and cached.
//!
//! A store method costs one hand-off to a database thread and one answer back, however many
//! statements and rows it touches: the statements run on the thread that owns the
//! connection.

pub(crate) mod accesslog;
pub(crate) mod accounts;
pub(crate) mod attachments;
mod checkpointer;
pub(crate) mod deployment;
pub(crate) mod engagement;
mod epochs;
mod feed;
pub(crate) mod limits;
pub(crate) mod messaging;
mod migrate;
pub(crate) mod oauth;
pub(crate) mod partner;
pub(crate) mod push;
mod readers;
pub(crate) mod reports;
mod search_index;
pub(crate) mod social;
pub(crate) mod tlog;
mod writer;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, ErrorCode, OpenFlags, Params, Row};

use checkpointer::{Checkpointer, WRITER_CHECKPOINT_PAGES};
use confidant_core::store::{Member, StoreResult};
use confidant_core::{MemberId, StoreError, Timestamp};
use epochs::EpochWatch;
pub use epochs::within_request;
pub(crate) use migrate::migrate;
use readers::Readers;
use search_index::SearchIndexing;
pub use writer::GroupCommits;
use writer::Writer;

/// Reader connections, each on its own thread.
const READERS: usize = 4;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;
/// The page size of a new database, in bytes. A send changes one leaf in each of a few
/// indexes keyed by member or conversation (its feed rows, its sender's and its
/// conversation's message indexes), and every changed page goes into the WAL whole and is
/// fsynced: with 2 KiB pages instead of SQLite's 4 KiB, a send writes about 9.5 KiB of WAL
/// instead of 21 KiB (see BENCHMARKS.md).
pub(crate) const PAGE_SIZE: i64 = 2048;

#[derive(Clone)]
pub(crate) struct Database {
    writer: Writer,
    readers: Readers,
    epochs: Arc<EpochWatch>,
    _checkpointer: Checkpointer,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot start a database thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl Database {
    /// Opens the database file at `path`, creating it if it is missing.
    pub(crate) fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_indexing(path, SearchIndexing::default())
    }

    /// [`open`](Self::open), with messages waiting to be indexed for search at most
    /// `longest_wait`, for tests of that wait.
    #[cfg(test)]
    pub(crate) fn open_indexing_within(
        path: &Path,
        longest_wait: std::time::Duration,
    ) -> Result<Self, OpenError> {
        Self::open_indexing(path, SearchIndexing::within(longest_wait))
    }

    fn open_indexing(path: &Path, indexing: SearchIndexing) -> Result<Self, OpenError> {
        let writer = connect(path, false)?;
        // The checkpointer's thread copies the WAL into the database; the writer only finishes
        // the copy when the WAL grows long, so that it starts over (see `checkpointer`).
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        // Each write of a group commit runs in a savepoint, so SQLite keeps a copy of every
        // page the batch changes in a sub-journal, to roll one write back alone. Past 64 KiB
        // that sub-journal spills to a temporary file, and its writes outnumbered the WAL's;
        // in memory it costs a batch's changed pages at most, and nothing is fsynced anyway.
        writer.execute_batch("PRAGMA temp_store = MEMORY")?;
        let readers = (0..READERS)
            .map(|_| connect(path, true))
            .collect::<Result<Vec<_>, _>>()?;
        let writer = Writer::start(writer, indexing)?;
        let epochs = Arc::new(EpochWatch::new(
            connect(path, true)?,
            writer.commit_counts(),
        ));
        let checkpointer = Checkpointer::start(connect(path, false)?, writer.commit_counts())?;
        Ok(Database {
            writer,
            readers: Readers::start(readers)?,
            epochs,
            _checkpointer: checkpointer,
        })
    }

    /// See [`Writer::write`].
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// See [`Readers::read`].
    pub(crate) async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.readers.read(work).await
    }

    /// Indexes for search every committed message still waiting (see `search_index`), so that
    /// a search that follows finds every message committed before this call. Only reads when
    /// nothing waits.
    pub(crate) async fn index_waiting_messages(&self) -> StoreResult<()> {
        if self.read(search_index::anything_waiting).await? {
            self.write(search_index::index_waiting).await?;
        }
        Ok(())
    }

    /// The cache epochs, reflecting every commit acknowledged before the call (by another
    /// process: before the call's request began), without a trip to a database thread (see
    /// [`EpochWatch`]).
    pub(crate) fn cache_epochs(&self) -> StoreResult<crate::sql::cache::Epochs> {
        self.epochs.current()
    }

    pub(crate) fn group_commits(&self) -> GroupCommits {
        self.writer.counts()
    }

    /// Waits until every write queued before this call has been committed or refused.
    pub(crate) async fn close(&self) {
        // Writes are answered in the order they were queued: once this empty one is, every
        // earlier one has been.
        let _ = self.writer.write(|_| Ok(())).await;
    }
}

fn connect(path: &Path, reader: bool) -> rusqlite::Result<Connection> {
    // Each connection is used by one thread at a time: SQLite's own mutex would be overhead.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // Before WAL mode, which fixes the page size of a new file; an existing database keeps
    // its own, and a copy this connection writes (`VACUUM INTO`, backups) gets this one.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // WAL lets readers run beside the writer; synchronous=FULL makes every commit durable
    // before it is acknowledged (promise 7). The busy timeout covers another process (an
    // administrative command) holding the write lock for a moment. `secure_delete` zeroes
    // what an update or delete frees on the pages it writes anyway, so the text of a deleted
    // message does not linger in the file.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = FAST;",
    )?;
    if reader {
        conn.execute_batch("PRAGMA query_only = ON")?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The unique constraints the use cases care to tell apart, by the `table.column` SQLite
/// names in its message.
const NAMED_UNIQUES: &[(&str, &str)] = &[
    ("members.handle", "handle"),
    ("conversations.direct_key", "direct_key"),
    ("apps.client_id", "client_id"),
];

pub(crate) fn store_error(error: rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == ErrorCode::ConstraintViolation
                && matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            let message = message.unwrap_or_default();
            let which = NAMED_UNIQUES
                .iter()
                .find(|(needle, _)| message.contains(needle))
                .map_or("unique", |(_, name)| name);
            StoreError::Conflict(which)
        }
        other => StoreError::Backend(Box::new(other)),
    }
}

/// `?`-friendly conversion for rusqlite results.
pub(crate) trait ResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for rusqlite::Result<T> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(store_error)
    }
}

/// A member from the first five columns of `row`: id, handle, display name, admin flag and
/// creation time.
pub(crate) fn member_from_row(row: &Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member {
        id: MemberId(row.get(0)?),
        handle: row.get(1)?,
        display_name: row.get(2)?,
        is_admin: row.get::<_, i64>(3)? != 0,
        created_at: Timestamp(row.get(4)?),
    })
}

/// `ids` as a JSON array, for `json_each(?)`: one parameter, however many there are.
/// Joining from `json_each` probes an index once per id, where `IN (…)` of a list makes
/// SQLite build and drop a temporary b-tree of it on every run.
pub(crate) fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    let mut list = String::from("[");
    for id in ids {
        if list.len() > 1 {
            list.push(',');
        }
        let _ = write!(list, "{id}"); // writing into a String cannot fail
    }
    list.push(']');
    list
}

/// Runs `sql`, an `INSERT` of one row, and answers the row's id.
///
/// Not `INSERT … RETURNING id`: SQLite collects what a RETURNING clause returns in a
/// temporary b-tree that it opens and closes on every run, which took a third of the time of
/// a message's insert (see BENCHMARKS.md). The id SQLite keeps for the connection's last
/// insert is the statement's own, whatever its triggers inserted meanwhile.
pub(crate) fn insert_row(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<i64> {
    let inserted = conn
        .prepare_cached(sql)
        .and_then(|mut insert| insert.execute(params))
        .store()?;
    debug_assert_eq!(inserted, 1, "not an insert of one row: {sql}");
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    /// `.cargo/config.toml` builds the bundled SQLite without two process-wide locks that every
    /// connection would otherwise share (see BENCHMARKS.md); a build that lost those flags
    /// would be correct but slower, and only this test would say so.
    #[test]
    fn the_bundled_sqlite_is_built_without_process_wide_locks() {
        let conn = Connection::open_in_memory().unwrap();
        let mut select = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = select
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|option| option == "DEFAULT_MEMSTATUS=0"),
            "memory statistics are on: {options:?}"
        );
        assert!(
            !options
                .iter()
                .any(|option| option == "ENABLE_MEMORY_MANAGEMENT"),
            "SQLITE_ENABLE_MEMORY_MANAGEMENT is on: {options:?}"
        );
    }
}
