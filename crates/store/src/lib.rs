//! SQLite and PostgreSQL storage for Confidant.
//!
//! Both backends share one implementation written in portable SQL over sqlx's `Any` driver
//! (`sql/`); what differs — connection setup, migrations, row locking — lives in
//! [`backend`]. The conformance suite in `tests/` runs the same stories against both.

mod backend;
mod error;
mod sql;

pub use backend::{Backend, ConnectError};
pub use sql::{GroupCommits, SqlStore};

/// Opens (and for SQLite, creates) the database at `url` without migrating it.
///
/// `sqlite://path/to/file.db` and `postgres://user@host/db` are understood.
pub async fn connect(url: &str) -> Result<SqlStore, ConnectError> {
    SqlStore::connect(url).await
}

#[cfg(feature = "testing")]
pub mod testing;
