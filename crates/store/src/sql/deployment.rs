//! Deployment-wide settings and job leases.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::deployment`); the SQL here
//! serves PostgreSQL.

use async_trait::async_trait;

use super::{ResultExt, SqlStore};
use crate::sqlite::deployment as sqlite;
use confidant_core::Timestamp;
use confidant_core::store::{DeploymentStore, StoreResult};

#[async_trait]
impl DeploymentStore for SqlStore {
    async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        if let Some(db) = &self.sqlite {
            let name = name.to_owned();
            return db.read(move |conn| sqlite::setting(conn, &name)).await;
        }
        sqlx::query_scalar("SELECT value FROM deployment_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pg().pool)
            .await
            .store()
    }

    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let (name, value) = (name.to_owned(), value.to_owned());
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::init_setting(conn, &name, &value))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO deployment_settings (name, value) VALUES ($1, $2) \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(&name)
                    .bind(&value)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    sqlx::query_scalar("SELECT value FROM deployment_settings WHERE name = $1")
                        .bind(&name)
                        .fetch_one(&mut *tx)
                        .await
                        .store()
                })
            })
            .await
    }

    async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        let (name, value) = (name.to_owned(), value.to_owned());
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_setting(conn, &name, &value))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO deployment_settings (name, value) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    )
                    .bind(&name)
                    .bind(&value)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::take_lease(conn, &name, &holder, now, until))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // One statement: the row lock (or SQLite's single writer) decides between
                    // nodes that ask at the same moment.
                    let taken = sqlx::query(
                        "INSERT INTO job_leases (name, holder, until) VALUES ($1, $2, $4) \
                         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                         until = excluded.until \
                         WHERE job_leases.until <= $3 OR job_leases.holder = excluded.holder",
                    )
                    .bind(&name)
                    .bind(&holder)
                    .bind(now.0)
                    .bind(until.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(taken.rows_affected() == 1)
                })
            })
            .await
    }

    async fn has_log_entries(&self) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db.read(sqlite::has_log_entries).await;
        }
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM access_log_heads WHERE size > 0 LIMIT 1",
        )
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        Ok(found.is_some())
    }
}
