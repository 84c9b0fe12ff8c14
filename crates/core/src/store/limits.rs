//! Fixed-window budgets every node shares: failed log-ins, wrong client secrets, partner
//! sends, directory searches. Kept in the database so that N nodes do not give N times the
//! attempts, and a restart does not hand out a fresh allowance.

use async_trait::async_trait;

use super::StoreResult;
use crate::Timestamp;

/// One budget: at most `limit` uses of `key` per window of `window_secs`, the window starting
/// at the first use after the previous one ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub key: String,
    pub limit: u32,
    pub window_secs: i64,
}

/// A use taken from a budget: which window it counts in, to give it back to that one only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenUse {
    pub key: String,
    pub window_started: Timestamp,
}

#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Counts one use of every budget, or of none: if any is spent at `now`, nothing is
    /// counted and the answer is the seconds until the last of the spent ones ends.
    async fn take_budgets(
        &self,
        budgets: &[Budget],
        now: Timestamp,
    ) -> StoreResult<Result<Vec<TakenUse>, u64>>;
    /// Gives uses back to the windows they were taken from (a newer window owes them
    /// nothing).
    async fn give_back(&self, uses: &[TakenUse]) -> StoreResult<()>;
    /// If any of `budgets` is spent at `now`, the seconds until the last of them ends;
    /// counts nothing.
    async fn spent_budget(&self, budgets: &[Budget], now: Timestamp) -> StoreResult<Option<u64>>;
    /// Forgets the uses of `key`, as if its window had ended.
    async fn clear_budget(&self, key: &str) -> StoreResult<()>;
    /// Deletes windows that ended by `now`; returns how many.
    async fn purge_ended_budgets(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Whole seconds from `now` until `ends` (at least 1), for `Retry-After`.
pub fn retry_after_secs(ends: Timestamp, now: Timestamp) -> u64 {
    ((ends.millis() - now.millis()) / 1000).max(1) as u64
}
