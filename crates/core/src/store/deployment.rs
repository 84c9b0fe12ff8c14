//! Facts about the deployment as a whole that every node must agree on and that must never
//! change silently — the access log's signing key, the key of pairwise ids, whether exact
//! reports may reach partners — and leases that let one node at a time run a periodic job.

use async_trait::async_trait;

use super::StoreResult;
use crate::Timestamp;

/// The names of the settings Confidant keeps.
pub mod setting {
    /// The access log's verifier key (C2SP note verifier), pinned at first start.
    pub const LOG_PUBLIC_KEY: &str = "access_log.public_key";
    /// The secret that pairwise thread and message ids are derived from (hex).
    pub const PAIRWISE_KEY: &str = "pairwise_ids.key";
    /// Set by `confidant report allow-self-test`: exact reports may go to partners.
    pub const EXACT_REPORTS_ALLOWED: &str = "reports.exact_allowed_at";
    /// The VAPID private key Web Push is signed with (base64url), made at first start and
    /// shared by every node, since browsers subscribe to its public half.
    pub const VAPID_PRIVATE_KEY: &str = "push.vapid_private_key";
}

#[async_trait]
pub trait DeploymentStore: Send + Sync {
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the setting exists; returns the value that is stored now, so
    /// nodes starting together all end up with the first one written.
    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String>;
    async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()>;
    /// Takes the lease `name` for `holder` until `until`, if nobody else holds it at `now`
    /// (the holder may renew its own). Whether it is now held by `holder`.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool>;
    /// Whether the database already holds access-log entries, signed by whatever key.
    async fn has_log_entries(&self) -> StoreResult<bool>;
}
