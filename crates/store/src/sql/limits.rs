//! Shared budgets (`budget_windows`): one row per key while its window lasts.
//!
//! Taking a use is one conditional upsert per budget, in one transaction: it starts a new
//! window if the last one ended, counts the use if the window has room, and otherwise
//! changes nothing and returns no row — then the whole transaction is rolled back, so a
//! refused request spends none of its budgets. Concurrent takers of one key queue on its row,
//! so they can never all pass a check only one of them fits under.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::limits`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::{ResultExt, SqlStore};
use crate::sqlite::limits as sqlite;
use confidant_core::store::{Budget, LimitStore, StoreResult, TakenUse, retry_after_secs};
use confidant_core::{StoreError, Timestamp};

const SPENT_CODE: &str = "budget_spent";

/// Aborts the transaction of a take that found a budget spent.
pub(crate) const SPENT: StoreError = StoreError::Conflict(SPENT_CODE);

/// Whether `error` is [`SPENT`].
pub(crate) fn is_spent(error: &StoreError) -> bool {
    matches!(error, StoreError::Conflict(code) if *code == SPENT_CODE)
}

/// The seconds until the last spent budget's window ends, given each budget's window as
/// `(ends_at, taken)`, if any is spent at `now`.
pub(crate) fn spent_until(
    budgets: &[Budget],
    windows: &[Option<(i64, i64)>],
    now: Timestamp,
) -> Option<u64> {
    budgets
        .iter()
        .zip(windows)
        .filter_map(|(budget, window)| match window {
            Some((ends_at, taken)) if *ends_at > now.0 && *taken >= i64::from(budget.limit) => {
                Some(retry_after_secs(Timestamp(*ends_at), now))
            }
            None if budget.limit == 0 => Some(budget.window_secs.max(1) as u64),
            _ => None,
        })
        .max()
}

/// Counts a use of every budget inside the caller's transaction, or fails with [`SPENT`]
/// (and the caller rolls back: a refused request spends none of its budgets).
pub(crate) async fn take_budgets_in(
    tx: &mut PgConnection,
    budgets: &[Budget],
    now: Timestamp,
) -> StoreResult<Vec<TakenUse>> {
    let mut taken = Vec::with_capacity(budgets.len());
    for budget in budgets {
        if budget.limit == 0 {
            return Err(SPENT);
        }
        let started: Option<i64> = sqlx::query_scalar(
            "INSERT INTO budget_windows (key, started, ends_at, taken) \
             VALUES ($1, $2, $2 + $3, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               started = CASE WHEN budget_windows.ends_at <= $2 THEN $2 \
                         ELSE budget_windows.started END, \
               ends_at = CASE WHEN budget_windows.ends_at <= $2 THEN $2 + $3 \
                         ELSE budget_windows.ends_at END, \
               taken = CASE WHEN budget_windows.ends_at <= $2 THEN 1 \
                       ELSE budget_windows.taken + 1 END \
             WHERE budget_windows.ends_at <= $2 OR budget_windows.taken < $4 \
             RETURNING started",
        )
        .bind(&budget.key)
        .bind(now.0)
        .bind(budget.window_secs * 1000)
        .bind(i64::from(budget.limit))
        .fetch_optional(&mut *tx)
        .await
        .store()?;
        taken.push(use_taken(budget, started)?);
    }
    Ok(taken)
}

/// The use a take's upsert counted, from the window start it returned; no row means the
/// budget was spent.
pub(crate) fn use_taken(budget: &Budget, started: Option<i64>) -> StoreResult<TakenUse> {
    let started = started.ok_or(SPENT)?;
    Ok(TakenUse {
        key: budget.key.clone(),
        window_started: Timestamp(started),
    })
}

/// Counts one use of `budget` inside the caller's transaction; if it is spent, writes nothing
/// and answers the seconds until its window ends.
pub(crate) async fn take_one_or_wait_in(
    tx: &mut PgConnection,
    budget: &Budget,
    now: Timestamp,
) -> StoreResult<Option<u64>> {
    let budgets = std::slice::from_ref(budget);
    match take_budgets_in(tx, budgets, now).await {
        Ok(_) => Ok(None),
        Err(error) if is_spent(&error) => {
            Ok(Some(spent_budget_in(tx, budgets, now).await?.unwrap_or(1)))
        }
        Err(error) => Err(error),
    }
}

/// [`LimitStore::spent_budget`] inside the caller's transaction.
async fn spent_budget_in(
    conn: &mut PgConnection,
    budgets: &[Budget],
    now: Timestamp,
) -> StoreResult<Option<u64>> {
    let keys: Vec<&str> = budgets.iter().map(|budget| budget.key.as_str()).collect();
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT key, ends_at, taken FROM budget_windows WHERE key = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await
            .store()?;
    let windows: Vec<Option<(i64, i64)>> = budgets
        .iter()
        .map(|budget| {
            rows.iter()
                .find(|(key, ..)| *key == budget.key)
                .map(|(_, ends_at, taken)| (*ends_at, *taken))
        })
        .collect();
    Ok(spent_until(budgets, &windows, now))
}

#[async_trait]
impl LimitStore for SqlStore {
    async fn take_budgets(
        &self,
        budgets: &[Budget],
        now: Timestamp,
    ) -> StoreResult<Result<Vec<TakenUse>, u64>> {
        let owned = budgets.to_vec();
        let taken = if let Some(db) = &self.sqlite {
            db.write(move |conn| sqlite::take_budgets(conn, &owned, now))
                .await
        } else {
            self.pg()
                .write(move |tx| Box::pin(async move { take_budgets_in(tx, &owned, now).await }))
                .await
        };
        match taken {
            Ok(taken) => Ok(Ok(taken)),
            Err(error) if is_spent(&error) => {
                // The window may have ended in between: then trying again at once is right.
                let wait = self.spent_budget(budgets, now).await?;
                Ok(Err(wait.unwrap_or(1)))
            }
            Err(error) => Err(error),
        }
    }

    async fn give_back(&self, uses: &[TakenUse]) -> StoreResult<()> {
        let uses = uses.to_vec();
        if let Some(db) = &self.sqlite {
            return db.write(move |conn| sqlite::give_back(conn, &uses)).await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    for taken in &uses {
                        sqlx::query(
                            "UPDATE budget_windows SET taken = taken - 1 \
                             WHERE key = $1 AND started = $2 AND taken > 0",
                        )
                        .bind(&taken.key)
                        .bind(taken.window_started.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn spent_budget(&self, budgets: &[Budget], now: Timestamp) -> StoreResult<Option<u64>> {
        if let Some(db) = &self.sqlite {
            let budgets = budgets.to_vec();
            return db
                .read(move |conn| sqlite::spent_budget(conn, &budgets, now))
                .await;
        }
        let mut conn = self.pg().pool.acquire().await.store()?;
        spent_budget_in(&mut conn, budgets, now).await
    }

    async fn clear_budget(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        if let Some(db) = &self.sqlite {
            return db.write(move |conn| sqlite::clear_budget(conn, &key)).await;
        }
        sqlx::query("DELETE FROM budget_windows WHERE key = $1")
            .bind(&key)
            .execute(&self.pg().pool)
            .await
            .store()?;
        Ok(())
    }

    async fn purge_ended_budgets(&self, now: Timestamp) -> StoreResult<u64> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::purge_ended_budgets(conn, now))
                .await;
        }
        let purged = sqlx::query("DELETE FROM budget_windows WHERE ends_at <= $1")
            .bind(now.0)
            .execute(&self.pg().pool)
            .await
            .store()?;
        Ok(purged.rows_affected())
    }
}
