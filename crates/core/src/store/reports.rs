//! Released reports: stored once, served again, and each one a debit on the privacy budget
//! of every data day it covers.

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
    /// Whether the app may fetch it and gets it by webhook: decided now, never later.
    pub partner_visible: bool,
    /// The release's leaf in the public budget ledger, appended in the same transaction.
    pub ledger_leaf: Vec<u8>,
}

/// The budget a release must fit in: on every day it covers, what the app's releases spent
/// on that day plus this release may not exceed `rho_per_data_day`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetLimit {
    pub rho_per_data_day: f64,
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
    pub partner_visible: bool,
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
    /// Nothing stored: the release would take a day it covers past its budget; `spent` is
    /// the most any of those days had spent.
    OverBudget { spent: f64 },
    /// Nothing stored: an exact release for the partner would undo the noise of private
    /// releases that cover some of the same days.
    WouldExposePrivate,
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Stores the release, charges its ρ to each day it covers and queues its webhook in one
    /// transaction, under a per-app lock, unless the same period was already released with
    /// the same mechanism, a day's budget would be exceeded, or an exact release for the
    /// partner covers a day that private releases spent budget on.
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
    /// The most ρ the app's releases spent on any one day from `first_day` to `last_day`.
    async fn privacy_spent(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<f64>;
    /// How many private (noisy) releases the deployment has made, for every app.
    async fn private_releases(&self) -> StoreResult<i64>;
}
