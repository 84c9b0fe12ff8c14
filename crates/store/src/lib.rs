//! SQLite and PostgreSQL storage for Confidant.
//!
//! SQLite runs on rusqlite (`sqlite/`): a writer thread with group commits and reader
//! threads, one hand-off per store method. PostgreSQL runs on sqlx (`sql/`). [`SqlStore`]
//! implements the storage traits for both; the conformance suite in `tests/` runs the same
//! stories against both backends.

mod backend;
mod error;
mod sql;
mod sqlite;

pub use backend::{Backend, ConnectError, sqlite_path};
pub use sql::SqlStore;
pub use sql::snapshot::PostgresSnapshot;
pub use sqlite::{GroupCommits, within_request};

/// Opens (and for SQLite, creates) the database at `url` without migrating it.
///
/// `sqlite://path/to/file.db` and `postgres://user@host/db` are understood.
pub async fn connect(url: &str) -> Result<SqlStore, ConnectError> {
    SqlStore::connect(url).await
}

#[cfg(feature = "testing")]
pub mod testing;
