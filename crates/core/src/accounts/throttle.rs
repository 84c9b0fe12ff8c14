//! Login throttling: after too many failures for one handle, or from one client address,
//! further attempts are refused for a while. Unknown handles are throttled exactly like
//! known ones, so a 429 reveals nothing about whether an account exists.

use crate::Timestamp;
use crate::store::{Budget, Store, StoreResult};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed per handle within the window.
    pub per_handle: u32,
    /// Failures allowed per client address within the window.
    pub per_client: u32,
    pub window_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_handle: 5,
            per_client: 20,
            window_secs: 15 * 60,
        }
    }
}

/// Failure counters for log-ins (or client secrets), kept in the database with every other
/// budget, so all nodes count the same failures and a restart forgets none.
#[derive(Debug, Clone, Copy)]
pub struct LoginThrottle {
    /// Prefixes the keys: log-ins and client secrets are counted apart.
    name: &'static str,
    policy: ThrottlePolicy,
}

impl LoginThrottle {
    pub fn new(name: &'static str, policy: ThrottlePolicy) -> Self {
        Self { name, policy }
    }

    fn handle_key(&self, handle: &str) -> String {
        format!("{}:h:{}", self.name, handle.to_ascii_lowercase())
    }

    /// The budgets an attempt counts against, each `limit` large: the handle's and, when the
    /// client's address is known, the address's.
    fn budgets(&self, handle: &str, client: Option<&str>, limit: Option<u32>) -> Vec<Budget> {
        let mut budgets = vec![Budget {
            key: self.handle_key(handle),
            limit: limit.unwrap_or(self.policy.per_handle),
            window_secs: self.policy.window_secs,
        }];
        if let Some(client) = client {
            budgets.push(Budget {
                key: format!("{}:c:{client}", self.name),
                limit: limit.unwrap_or(self.policy.per_client),
                window_secs: self.policy.window_secs,
            });
        }
        budgets
    }

    /// `Some(seconds to wait)` if the attempt must be refused without checking the password.
    pub async fn check(
        &self,
        store: &dyn Store,
        handle: &str,
        client: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<Option<u64>> {
        store
            .spent_budget(&self.budgets(handle, client, None), now)
            .await
    }

    pub async fn record_failure(
        &self,
        store: &dyn Store,
        handle: &str,
        client: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        // Every failure counts, however many came before: `check` compares with the policy.
        let budgets = self.budgets(handle, client, Some(u32::MAX));
        store.take_budgets(&budgets, now).await.map(drop)
    }

    /// A successful log-in clears the handle's failures (not the client's).
    pub async fn record_success(&self, store: &dyn Store, handle: &str) -> StoreResult<()> {
        store.clear_budget(&self.handle_key(handle)).await
    }
}
