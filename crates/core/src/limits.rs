//! Fixed-window limits: how many messages one app may send for one member, how many
//! directory searches one member or address may make, how many wrong passwords and client
//! secrets are tried. The windows live in the database ([`LimitStore`]), so every node counts
//! against the same budget and a restart hands out nothing new. Taking a use checks and counts
//! in one step, so parallel requests cannot all pass a check only one of them fits under;
//! work that ends up doing nothing gives its use back.

use std::sync::Arc;

use crate::store::{Budget, Store, TakenUse};
use crate::{Error, Timestamp};

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

/// Uses taken from budgets. Dropped without [`Slot::keep`], they are given back.
pub struct Slot {
    store: Arc<dyn Store>,
    uses: Vec<TakenUse>,
}

/// Takes one use of every budget, or of none: `Ok(Err(seconds))` when one is spent.
pub async fn take(
    store: &Arc<dyn Store>,
    budgets: &[Budget],
    now: Timestamp,
) -> Result<Result<Slot, u64>, Error> {
    Ok(store.take_budgets(budgets, now).await?.map(|uses| Slot {
        store: Arc::clone(store),
        uses,
    }))
}

impl Slot {
    /// The work was done: the uses stay taken.
    pub fn keep(mut self) {
        self.uses.clear();
    }

    /// The work was not done: the uses go back now, before the caller answers. (Dropping a
    /// slot gives them back too, but in the background.)
    pub async fn give_back(mut self) {
        let uses = std::mem::take(&mut self.uses);
        if let Err(error) = self.store.give_back(&uses).await {
            tracing::warn!(%error, "could not give back an unused rate-limit slot");
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.uses.is_empty() {
            return;
        }
        // Giving back is a write, and a drop cannot wait for one: it runs on its own. If it
        // fails, the use stays counted until its window ends, erring on the safe side.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = Arc::clone(&self.store);
        let uses = std::mem::take(&mut self.uses);
        runtime.spawn(async move {
            if let Err(error) = store.give_back(&uses).await {
                tracing::warn!(%error, "could not give back an unused rate-limit slot");
            }
        });
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
