//! Storage of the server's own Merkle logs, the ones witnesses cosign: the log of members'
//! log heads and the public budget ledger. Each is a leaf list with the same stored-hash tree
//! as a member's log, a head, and the checkpoints signed for it with the cosignatures
//! collected so far.

use std::sync::Arc;

use async_trait::async_trait;
use confidant_log::Hash;

use super::{LogHead, StoreResult};
use crate::{MemberId, Timestamp};

/// The name of the log of members' heads.
pub const HEADS_LOG: &str = "heads";
/// The name of the budget ledger.
pub const LEDGER_LOG: &str = "ledger";

/// A signed checkpoint of one of the server's logs, with the cosignatures it has gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    /// The signed note: the server's signature, then each witness's cosignature.
    pub note: String,
    /// How many configured witnesses cosigned it.
    pub cosigners: u32,
    pub signed_at: Timestamp,
    /// When the newest of those cosignatures was collected.
    pub cosigned_at: Option<Timestamp>,
}

/// A member log's head as it was published in the log of heads.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedHead {
    /// The salt of the member log's label.
    pub salt: [u8; 32],
    /// The leaf's index in the log of heads.
    pub leaf: u64,
    /// The leaf's bytes: the label, the member log's size and root.
    pub data: Vec<u8>,
}

/// What one publication appended to the log of heads.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// Member logs published.
    pub published: u64,
    /// The log of heads afterwards.
    pub head: LogHead,
}

/// Encodes a member log's head as a leaf of the log of heads, from its label's salt, size and
/// root.
pub type HeadLeafEncoder = Arc<dyn Fn(&[u8; 32], MemberId, u64, Hash) -> Vec<u8> + Send + Sync>;

#[async_trait]
pub trait WitnessedLogStore: Send + Sync {
    /// In one transaction, appends to the log of heads the head of every member log (up to
    /// `limit`, by member id) that grew since it was last published. `leaf` encodes a leaf
    /// from a log's salt (made for it on its first publication), size and root.
    async fn publish_heads(&self, limit: u32, leaf: HeadLeafEncoder) -> StoreResult<Publication>;
    async fn tlog_head(&self, log: &str) -> StoreResult<LogHead>;
    /// The stored tree hashes at these indexes, in that order; `Corrupt` if one is missing.
    async fn tlog_hashes(&self, log: &str, indexes: &[u64]) -> StoreResult<Vec<Hash>>;
    /// Up to `limit` leaves from index `from` on.
    async fn tlog_leaves(&self, log: &str, from: u64, limit: u32) -> StoreResult<Vec<Vec<u8>>>;
    /// Stores a signed checkpoint; one of the same size already stored is replaced only by
    /// one with more cosigners, or as many and a newer cosignature.
    async fn save_checkpoint(&self, log: &str, checkpoint: &StoredCheckpoint) -> StoreResult<()>;
    /// Forgets the checkpoints of `log` smaller than `size`: once a larger one is served,
    /// they are never served again.
    async fn prune_checkpoints(&self, log: &str, size: u64) -> StoreResult<u64>;
    /// The largest checkpoint of `log` with at least `min_cosigners` cosigners.
    async fn latest_checkpoint(
        &self,
        log: &str,
        min_cosigners: u32,
    ) -> StoreResult<Option<StoredCheckpoint>>;
    /// The member's latest publication whose leaf index is below `before_leaf`.
    async fn published_head(
        &self,
        member: MemberId,
        before_leaf: u64,
    ) -> StoreResult<Option<PublishedHead>>;
}
