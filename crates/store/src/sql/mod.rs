//! The storage traits' implementation: on PostgreSQL through sqlx, here; on SQLite by
//! handing each method to `crate::sqlite`, which answers first whenever the store is on
//! SQLite.

pub(crate) mod accesslog;
mod accounts;
pub(crate) mod attachments;
pub(crate) mod cache;
mod deployment;
pub(crate) mod engagement;
mod feed;
pub(crate) mod limits;
pub(crate) mod messaging;
pub(crate) mod oauth;
mod partner;
mod push;
pub(crate) mod reports;
pub(crate) mod snapshot;
mod social;
pub(crate) mod tlog;
mod webhooks;

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use crate::backend::{Backend, ConnectError};
use crate::error::ResultExt;
use crate::sqlite::{self, GroupCommits};
use cache::Caches;
use confidant_core::store::{Member, MemberRef, StoreResult};
use confidant_core::{MemberId, StoreError, Timestamp};

/// A Confidant store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    backend: Backend,
    /// PostgreSQL, through sqlx; `None` on SQLite.
    postgres: Option<Postgres>,
    /// SQLite, through rusqlite; `None` on PostgreSQL. Every store method answers from here
    /// first when it is set.
    sqlite: Option<sqlite::Database>,
    /// Hot lookups, as fresh as the database (see `cache`).
    caches: Arc<Caches>,
}

impl SqlStore {
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let backend = Backend::from_url(url)?;
        let (postgres, sqlite) = match backend {
            Backend::Sqlite => {
                let path = crate::backend::sqlite_path(url)?;
                let sqlite = sqlite::Database::open(&path).map_err(ConnectError::OpenSqlite)?;
                (None, Some(sqlite))
            }
            Backend::Postgres => (Some(Postgres::connect(url).await?), None),
        };
        Ok(Self {
            backend,
            postgres,
            sqlite,
            caches: Arc::new(Caches::new(true)),
        })
    }

    /// Applies any migrations not yet applied.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        if let Some(db) = &self.sqlite {
            return db
                .write(sqlite::migrate)
                .await
                .map(drop)
                .map_err(ConnectError::MigrateSqlite);
        }
        crate::backend::postgres_migrations()
            .run(&self.pg().pool)
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
        Some(self.sqlite.as_ref()?.group_commits())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the database: waits for connections in use to be returned on PostgreSQL, for
    /// the writes already queued on SQLite.
    pub async fn close(&self) {
        if let Some(db) = &self.sqlite {
            db.close().await;
        }
        if let Some(postgres) = &self.postgres {
            postgres.pool.close().await;
        }
    }

    /// The PostgreSQL pool. Every store method answers from SQLite first when the store is
    /// on SQLite, so only PostgreSQL stores get here.
    fn pg(&self) -> &Postgres {
        self.postgres
            .as_ref()
            .expect("only PostgreSQL stores reach the sqlx code")
    }
}

/// PostgreSQL through sqlx: one pool, a transaction per write.
#[derive(Clone)]
struct Postgres {
    pool: PgPool,
}

impl Postgres {
    async fn connect(url: &str) -> Result<Self, ConnectError> {
        Ok(Postgres {
            pool: crate::backend::postgres_pool(url).await?,
        })
    }

    /// Runs `work` in a transaction and returns its result once the transaction has
    /// committed (promise 7: a 2xx means committed). An `Err` from `work` rolls back
    /// everything `work` did. PostgreSQL commits concurrent transactions in parallel and
    /// groups their WAL flushes itself.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let mut tx = self.pool.begin().await.store()?;
        let value = work(&mut tx).await?;
        tx.commit().await.store()?;
        Ok(value)
    }
}

/// A stored value that cannot be what the schema says it is: the database was damaged or
/// edited by hand.
pub(crate) fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} `{value}` is not valid").into())
}

/// The columns of `members` that describe a member publicly.
pub(crate) const MEMBER_COLUMNS: &str = "id, handle, display_name, is_admin, created_at";

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
pub(crate) fn member_ref(
    id: Option<i64>,
    handle: Option<String>,
    name: Option<String>,
) -> Option<MemberRef> {
    Some(MemberRef {
        id: MemberId(id?),
        handle: handle?,
        display_name: name?,
    })
}

impl SqlStore {
    /// Runs statements outside the storage traits; for administration and tests.
    pub async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            let sql = sql.to_owned();
            return db
                .write(move |conn| conn.execute_batch(&sql).map_err(sqlite::store_error))
                .await;
        }
        use sqlx::Executor;
        self.pg().pool.execute(sql).await.map(drop).store()
    }

    /// Runs a query outside the storage traits that selects one integer (`SELECT COUNT(*)
    /// …`); for tests that check what a table holds.
    pub async fn count_raw(&self, sql: &str) -> StoreResult<i64> {
        if let Some(db) = &self.sqlite {
            let sql = sql.to_owned();
            return db
                .read(move |conn| {
                    conn.query_row(&sql, [], |row| row.get(0))
                        .map_err(sqlite::store_error)
                })
                .await;
        }
        sqlx::query_scalar(sql)
            .fetch_one(&self.pg().pool)
            .await
            .store()
    }
}
