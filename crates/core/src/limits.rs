//! Fixed-window limits: how many messages one app may send for one member, how many
//! directory searches one member or address may make, how many wrong passwords and client
//! secrets are tried. The windows live in the database ([`LimitStore`]), so every node counts
//! against the same budget and a restart hands out nothing new. Taking a use checks and counts
//! in one step, so parallel requests cannot all pass a check only one of them fits under. An
//! app's send takes its use in the transaction that stores it, so a send refused or replayed
//! costs nothing.

use crate::Error;
use crate::store::Budget;

/// One kind of budget: its name (which prefixes every key), size and window.
#[derive(Debug, Clone, Copy)]
pub struct Allowance {
    pub name: &'static str,
    pub limit: u32,
    pub window_secs: i64,
}

impl Allowance {
    /// This allowance's budget for `key` (a member, an address, an app and member…).
    pub fn budget(&self, key: &str) -> Budget {
        Budget {
            key: format!("{}:{key}", self.name),
            limit: self.limit,
            window_secs: self.window_secs,
        }
    }
}

impl crate::Confidant {
    /// Deletes the rate-limit windows that have ended; returns how many.
    pub async fn purge_ended_budgets(&self) -> Result<u64, Error> {
        Ok(self.store.purge_ended_budgets(self.clock.now()).await?)
    }
}

/// The page size a caller asked for, if it is 1 to `max`. Anything else is refused rather
/// than quietly changed, so a client never mistakes a shortened page for the last one.
pub fn page_size(requested: i64, max: i64) -> Result<i64, crate::Error> {
    if (1..=max).contains(&requested) {
        Ok(requested)
    } else {
        Err(crate::Error::invalid(
            "limit",
            "invalid_limit",
            format!("limit is 1 to {max}"),
        ))
    }
}
