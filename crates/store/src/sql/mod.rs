//! The SQL behind the storage traits, portable between SQLite and PostgreSQL.

mod accesslog;
mod accounts;
mod cache;
mod deployment;
mod engagement;
mod feed;
mod messaging;
mod oauth;
mod partner;
mod reports;
mod social;
mod webhooks;
mod writer;

use std::sync::Arc;

use sqlx::AnyPool;

use crate::backend::{Backend, ConnectError};
use crate::error::ResultExt;
use crate::sqlite::{self, GroupCommits};
use cache::Caches;
use confidant_core::store::{Member, MemberRef};
use confidant_core::{MemberId, StoreError, Timestamp};
use writer::Writer;

/// A Confidant store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    backend: Backend,
    /// Pool for reads.
    readers: AnyPool,
    /// Every write goes through here: group commits on SQLite, a transaction each on
    /// PostgreSQL.
    writer: Writer,
    /// The pool the writer draws on (a single connection on SQLite), for migrations.
    write_pool: AnyPool,
    /// Hot lookups, as fresh as the database (see `cache`).
    caches: Arc<Caches>,
    /// SQLite through rusqlite, for the parts of the store that run on it. They share the
    /// database file with the pools above: both writers take the write lock up front
    /// (`BEGIN IMMEDIATE`), so their transactions simply queue behind each other.
    sqlite: Option<sqlite::Database>,
}

impl SqlStore {
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let backend = Backend::from_url(url)?;
        let (readers, write_pool) = backend.open(url).await?;
        let (writer, sqlite) = match backend {
            Backend::Sqlite => {
                let path = crate::backend::sqlite_path(url);
                let sqlite = sqlite::Database::open(&path).map_err(ConnectError::OpenSqlite)?;
                (Writer::grouped(write_pool.clone()), Some(sqlite))
            }
            Backend::Postgres => (Writer::pooled(write_pool.clone()), None),
        };
        Ok(Self {
            backend,
            readers,
            writer,
            write_pool,
            caches: Arc::new(Caches::new(true)),
            sqlite,
        })
    }

    /// Applies any migrations not yet applied.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        self.backend
            .migrator()
            .run(&self.write_pool)
            .await
            .map_err(ConnectError::Migrate)
    }

    /// Turns the in-memory caches off: every lookup goes to the database. For comparing,
    /// and for diagnosing a suspected stale answer.
    pub fn without_caches(mut self) -> Self {
        self.caches = Arc::new(Caches::new(false));
        self
    }

    /// On SQLite, how many writes the group commits have made durable, and in how many commits.
    pub fn group_commits(&self) -> Option<GroupCommits> {
        let sqlx = self.writer.counts()?;
        let rusqlite = self.sqlite.as_ref()?.group_commits();
        Some(GroupCommits {
            writes: sqlx.writes + rusqlite.writes,
            commits: sqlx.commits + rusqlite.commits,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.write_pool.close().await;
        self.readers.close().await;
    }
}

/// A stored value that cannot be what the schema says it is: the database was damaged or
/// edited by hand.
pub(crate) fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} `{value}` is not valid").into())
}

/// The columns of `members` that describe a member publicly.
const MEMBER_COLUMNS: &str = "id, handle, display_name, is_admin, created_at";

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: i64,
    handle: String,
    display_name: String,
    is_admin: i64,
    created_at: i64,
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Member {
            id: MemberId(row.id),
            handle: row.handle,
            display_name: row.display_name,
            is_admin: row.is_admin != 0,
            created_at: Timestamp(row.created_at),
        }
    }
}

/// A member reference from three nullable columns of an outer join.
fn member_ref(id: Option<i64>, handle: Option<String>, name: Option<String>) -> Option<MemberRef> {
    Some(MemberRef {
        id: MemberId(id?),
        handle: handle?,
        display_name: name?,
    })
}

impl SqlStore {
    /// Runs a statement outside the storage traits; for administration and tests.
    pub async fn execute_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        use sqlx::Executor;
        self.write_pool.execute(sql).await.map(|_| ())
    }

    /// Runs a query outside the storage traits that selects one integer (`SELECT COUNT(*)
    /// …`); for tests that check what a table holds.
    pub async fn count_raw(&self, sql: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql).fetch_one(&self.readers).await
    }
}
