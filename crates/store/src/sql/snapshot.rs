//! Consistent copies of a live database, for backups, and the checks a restored copy must
//! pass.
//!
//! On SQLite, `VACUUM INTO` writes a compact copy of one read transaction while the writer
//! keeps committing (WAL). On PostgreSQL, a repeatable-read transaction exports its
//! snapshot so that `pg_dump --snapshot` dumps exactly what that transaction sees; the log
//! heads read in the same transaction are then the heads of the dump.

use std::path::Path;

use sqlx::Executor;
use sqlx::pool::PoolConnection;

use super::SqlStore;
use super::accesslog::{hash, to_u64};
use crate::error::ResultExt;
use crate::sqlite;
use confidant_core::store::{LogHead, StoreResult};
use confidant_core::{MemberId, StoreError};

/// Every attachment's blob key.
const BLOB_KEYS: &str = "SELECT blob_key FROM attachments ORDER BY id";

/// Every member's log head, in member order.
const LOG_HEADS: &str = "SELECT member_id, size, root FROM access_log_heads ORDER BY member_id";

/// A PostgreSQL snapshot held open for `pg_dump --snapshot`: it stays importable until
/// [`PostgresSnapshot::release`] (or drop) ends its transaction.
pub struct PostgresSnapshot {
    connection: PoolConnection<sqlx::Postgres>,
    id: String,
}

impl PostgresSnapshot {
    /// The id to pass to `pg_dump --snapshot`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every member's log head as of the snapshot.
    pub async fn log_heads(&mut self) -> StoreResult<Vec<(MemberId, LogHead)>> {
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(LOG_HEADS)
            .fetch_all(&mut *self.connection)
            .await
            .store()?;
        rows.into_iter().map(head_from_row).collect()
    }

    /// Every attachment blob the snapshot refers to.
    pub async fn blob_keys(&mut self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(BLOB_KEYS)
            .fetch_all(&mut *self.connection)
            .await
            .store()
    }

    /// The schema the snapshot's tables are in (`public` unless the URL sets a search path).
    pub async fn schema(&mut self) -> StoreResult<String> {
        sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&mut *self.connection)
            .await
            .store()
    }

    /// Ends the snapshot's transaction.
    pub async fn release(mut self) {
        let _ = self.connection.execute("ROLLBACK").await;
    }
}

fn head_from_row((member, size, root): (i64, i64, Vec<u8>)) -> StoreResult<(MemberId, LogHead)> {
    Ok((
        MemberId(member),
        LogHead {
            size: to_u64(size)?,
            root: hash(root)?,
        },
    ))
}

impl SqlStore {
    /// Writes a consistent copy of the SQLite database to `destination`, which must not
    /// exist, while writes go on.
    pub async fn copy_sqlite_into(&self, destination: &Path) -> StoreResult<()> {
        let Some(db) = &self.sqlite else {
            return Err(StoreError::Backend(
                "a copy file is made only of a SQLite database".into(),
            ));
        };
        let destination = destination.to_string_lossy().into_owned();
        db.read(move |conn| {
            // `VACUUM INTO` writes; the reader connections are otherwise read-only.
            conn.execute_batch("PRAGMA query_only = OFF")
                .map_err(sqlite::store_error)?;
            let copied = conn
                .execute("VACUUM INTO ?1", [&destination])
                .map(drop)
                .map_err(sqlite::store_error);
            conn.execute_batch("PRAGMA query_only = ON")
                .map_err(sqlite::store_error)?;
            copied
        })
        .await
    }

    /// Opens a repeatable-read transaction on PostgreSQL and exports its snapshot.
    pub async fn export_postgres_snapshot(&self) -> StoreResult<PostgresSnapshot> {
        if self.sqlite.is_some() {
            return Err(StoreError::Backend(
                "snapshots are exported only on PostgreSQL".into(),
            ));
        }
        let mut connection = self.pg().pool.acquire().await.store()?;
        connection
            .execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .store()?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *connection)
            .await
            .store()?;
        Ok(PostgresSnapshot { connection, id })
    }

    /// Every member's log head.
    pub async fn log_heads(&self) -> StoreResult<Vec<(MemberId, LogHead)>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(|conn| {
                    let mut select = conn.prepare(LOG_HEADS).map_err(sqlite::store_error)?;
                    let rows = select
                        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                        .map_err(sqlite::store_error)?;
                    rows.into_iter().map(head_from_row).collect()
                })
                .await;
        }
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(LOG_HEADS)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        rows.into_iter().map(head_from_row).collect()
    }

    /// Problems SQLite finds in its own file (`integrity_check`, `foreign_key_check`); none
    /// on PostgreSQL, whose restore checks what it loads.
    pub async fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        let Some(db) = &self.sqlite else {
            return Ok(Vec::new());
        };
        db.read(|conn| {
            let mut problems: Vec<String> = conn
                .prepare("PRAGMA integrity_check")
                .and_then(|mut check| {
                    check
                        .query_map([], |row| row.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(sqlite::store_error)?
                .into_iter()
                .filter(|line| line != "ok")
                .collect();
            let orphans = conn
                .prepare("PRAGMA foreign_key_check")
                .and_then(|mut check| {
                    check
                        .query_map([], |row| {
                            Ok(format!(
                                "{} row {} refers to a missing {} row",
                                row.get::<_, String>(0)?,
                                row.get::<_, Option<i64>>(1)?.unwrap_or_default(),
                                row.get::<_, String>(2)?
                            ))
                        })?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(sqlite::store_error)?;
            problems.extend(orphans);
            Ok(problems)
        })
        .await
    }

    /// Every attachment blob the database refers to.
    pub async fn blob_keys(&self) -> StoreResult<Vec<String>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(|conn| {
                    conn.prepare(BLOB_KEYS)
                        .and_then(|mut select| {
                            select
                                .query_map([], |row| row.get(0))?
                                .collect::<Result<Vec<String>, _>>()
                        })
                        .map_err(sqlite::store_error)
                })
                .await;
        }
        sqlx::query_scalar(BLOB_KEYS)
            .fetch_all(&self.pg().pool)
            .await
            .store()
    }

    /// Whether the database holds no Confidant tables yet (never migrated): what a restore
    /// needs of its target.
    pub async fn is_empty(&self) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .read(|conn| {
                    conn.query_row(
                        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                         AND name NOT LIKE 'sqlite_%'",
                        [],
                        |row| row.get::<_, i64>(0),
                    )
                    .map(|tables| tables == 0)
                    .map_err(sqlite::store_error)
                })
                .await;
        }
        // `current_schema()` is NULL while no schema of the search path exists yet: empty.
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema()",
        )
        .fetch_one(&self.pg().pool)
        .await
        .store()?;
        Ok(tables == 0)
    }

    /// On PostgreSQL, creates `schema` if it is missing and returns the schema the
    /// connection's search path then resolves to, which a restore needs to be `schema`.
    pub async fn prepare_postgres_schema(&self, schema: &str) -> StoreResult<Option<String>> {
        if self.sqlite.is_some() {
            return Ok(None);
        }
        let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}"))
            .execute(&self.pg().pool)
            .await
            .store()?;
        sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&self.pg().pool)
            .await
            .store()
    }
}
