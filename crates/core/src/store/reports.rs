//! Released reports: stored once, served again, and each one a debit on its app's privacy
//! budget.

use async_trait::async_trait;

use super::{NewWebhook, StoreResult};
use crate::Timestamp;

/// A report about to be stored, with the budget it spends.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRelease {
    pub id: String,
    pub client_id: String,
    pub first_day: i64,
    pub days: i64,
    /// `discrete_gaussian`, `discrete_laplace` or `self_test`.
    pub mechanism: String,
    /// ρ (zCDP) spent.
    pub rho: f64,
    pub created_at: Timestamp,
    /// The report as served, JSON.
    pub body: String,
}

/// The budget a release must fit in: what the app spent since `since`, plus this release,
/// may not exceed `limit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetLimit {
    pub since: Timestamp,
    pub limit: f64,
}

/// How the `report.ready` webhook of a release is faring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A stored release without its body.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSummary {
    pub id: String,
    pub client_id: String,
    pub first_day: i64,
    pub days: i64,
    pub mechanism: String,
    pub rho: f64,
    pub created_at: Timestamp,
    /// `None` if the app has no webhook URL.
    pub delivery: Option<DeliveryStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredRelease {
    pub summary: ReleaseSummary,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseOutcome {
    /// Stored, budget debited, webhook queued.
    Stored(StoredRelease),
    /// The period was released before (perhaps concurrently): that release, unchanged.
    Existing(StoredRelease),
    /// Nothing stored: the release would take the app past its budget.
    OverBudget { spent: f64 },
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Stores the release and queues its webhook in one transaction, under a per-app lock,
    /// unless the same period was already released with the same mechanism or the budget
    /// would be exceeded.
    async fn store_release(
        &self,
        release: NewRelease,
        budget: BudgetLimit,
        webhook: Option<NewWebhook>,
    ) -> StoreResult<ReleaseOutcome>;
    async fn release_for_period(
        &self,
        client_id: &str,
        first_day: i64,
        days: i64,
        mechanism: &str,
    ) -> StoreResult<Option<StoredRelease>>;
    async fn release(&self, id: &str) -> StoreResult<Option<StoredRelease>>;
    /// The app's releases, newest period first.
    async fn releases(&self, client_id: &str, limit: i64) -> StoreResult<Vec<ReleaseSummary>>;
    /// ρ spent by the app's releases created at or after `since`.
    async fn privacy_spent(&self, client_id: &str, since: Timestamp) -> StoreResult<f64>;
}
