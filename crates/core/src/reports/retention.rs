//! Forgetting engagement data: who contributed to a cell is kept only while their day runs
//! (it exists to enforce the caps), and the daily aggregates only for the retention period.
//! Run by one node at a time, under a lease in the database.

use crate::store::{EngagementPurge, day_of};
use crate::{Confidant, Error, Timestamp};

const LEASE: &str = "engagement.purge";
/// Longer than a purge takes; a node that dies holding the lease frees it this much later.
const LEASE_MS: i64 = 10 * 60 * 1000;

impl Confidant {
    /// Deletes every per-member engagement row of a day that is over, and all engagement
    /// data older than the retention period. `None` if another node holds the lease.
    pub async fn purge_engagement(&self) -> Result<Option<EngagementPurge>, Error> {
        let now = self.clock.now();
        let until = Timestamp(now.0 + LEASE_MS);
        if !self
            .store
            .take_lease(LEASE, &self.node_id, now, until)
            .await?
        {
            return Ok(None);
        }
        let today = day_of(now);
        let keep_from = today - self.reports.privacy.retention_days;
        Ok(Some(self.store.purge_engagement(today, keep_from).await?))
    }
}
