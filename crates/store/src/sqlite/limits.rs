//! Shared budgets (`budget_windows`) on rusqlite.

use rusqlite::{Connection, OptionalExtension, params};

use super::ResultExt;
use crate::sql::limits::{SPENT, is_spent, spent_until, use_taken};
use confidant_core::Timestamp;
use confidant_core::store::{Budget, StoreResult, TakenUse};

/// Counts a use of every budget, or fails with [`SPENT`] (rolling all of them back).
pub(crate) fn take_budgets(
    conn: &Connection,
    budgets: &[Budget],
    now: Timestamp,
) -> StoreResult<Vec<TakenUse>> {
    let mut take = conn
        .prepare_cached(
            "INSERT INTO budget_windows (key, started, ends_at, taken) VALUES (?1, ?2, ?2 + ?3, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               started = CASE WHEN budget_windows.ends_at <= ?2 THEN ?2 \
                         ELSE budget_windows.started END, \
               ends_at = CASE WHEN budget_windows.ends_at <= ?2 THEN ?2 + ?3 \
                         ELSE budget_windows.ends_at END, \
               taken = CASE WHEN budget_windows.ends_at <= ?2 THEN 1 \
                       ELSE budget_windows.taken + 1 END \
             WHERE budget_windows.ends_at <= ?2 OR budget_windows.taken < ?4 \
             RETURNING started",
        )
        .store()?;
    let mut taken = Vec::with_capacity(budgets.len());
    for budget in budgets {
        if budget.limit == 0 {
            return Err(SPENT);
        }
        let started: Option<i64> = take
            .query_row(
                params![
                    budget.key,
                    now.0,
                    budget.window_secs * 1000,
                    i64::from(budget.limit)
                ],
                |row| row.get(0),
            )
            .optional()
            .store()?;
        taken.push(use_taken(budget, started)?);
    }
    Ok(taken)
}

/// Counts one use of `budget` inside the caller's transaction; if it is spent, writes nothing
/// and answers the seconds until its window ends.
pub(crate) fn take_one_or_wait(
    conn: &Connection,
    budget: &Budget,
    now: Timestamp,
) -> StoreResult<Option<u64>> {
    let budgets = std::slice::from_ref(budget);
    match take_budgets(conn, budgets, now) {
        Ok(_) => Ok(None),
        Err(error) if is_spent(&error) => Ok(Some(spent_budget(conn, budgets, now)?.unwrap_or(1))),
        Err(error) => Err(error),
    }
}

pub(crate) fn give_back(conn: &Connection, uses: &[TakenUse]) -> StoreResult<()> {
    let mut give = conn
        .prepare_cached(
            "UPDATE budget_windows SET taken = taken - 1 \
             WHERE key = ?1 AND started = ?2 AND taken > 0",
        )
        .store()?;
    for taken in uses {
        give.execute(params![taken.key, taken.window_started.0])
            .store()?;
    }
    Ok(())
}

pub(crate) fn spent_budget(
    conn: &Connection,
    budgets: &[Budget],
    now: Timestamp,
) -> StoreResult<Option<u64>> {
    let mut select = conn
        .prepare_cached("SELECT ends_at, taken FROM budget_windows WHERE key = ?1")
        .store()?;
    let mut windows = Vec::with_capacity(budgets.len());
    for budget in budgets {
        let window: Option<(i64, i64)> = select
            .query_row([&budget.key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .store()?;
        windows.push(window);
    }
    Ok(spent_until(budgets, &windows, now))
}

pub(crate) fn clear_budget(conn: &Connection, key: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM budget_windows WHERE key = ?1")
        .and_then(|mut delete| delete.execute([key]))
        .store()?;
    Ok(())
}

pub(crate) fn purge_ended_budgets(conn: &Connection, now: Timestamp) -> StoreResult<u64> {
    let purged = conn
        .prepare_cached("DELETE FROM budget_windows WHERE ends_at <= ?1")
        .and_then(|mut delete| delete.execute([now.0]))
        .store()?;
    Ok(purged as u64)
}
