//! Storage of members' access logs: entries, the Merkle tree's stored hashes, and each log's
//! head (size and root). Appends happen inside the transaction of the access they record.

use async_trait::async_trait;
use confidant_log::{Entry, Hash, Outcome};

use super::StoreResult;
use crate::accesslog::{Action, Denial};
use crate::tokens::TokenHash;
use crate::{MemberId, Timestamp};

/// An entry about to be appended; the store gives it the next seq of the member's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogEntry {
    pub member_id: MemberId,
    pub at: Timestamp,
    pub app: String,
    pub action: Action,
    pub scope: Option<String>,
    pub objects: Vec<String>,
    pub outcome: Outcome,
    pub reason: Option<Denial>,
    pub request_id: String,
}

impl NewLogEntry {
    /// An allowed access with no scope and no objects; the builders below add them.
    pub fn new(
        member_id: MemberId,
        at: Timestamp,
        app: &str,
        action: Action,
        request_id: &str,
    ) -> Self {
        Self {
            member_id,
            at,
            app: app.to_owned(),
            action,
            scope: None,
            objects: Vec::new(),
            outcome: Outcome::Allowed,
            reason: None,
            request_id: request_id.to_owned(),
        }
    }

    pub fn with_scope(self, scope: impl ToString) -> Self {
        Self {
            scope: Some(scope.to_string()),
            ..self
        }
    }

    pub fn with_objects(self, objects: Vec<String>) -> Self {
        Self { objects, ..self }
    }

    /// The entry as it is hashed and exported, once it has its place in the log.
    pub fn at_seq(&self, seq: u64) -> Entry {
        Entry {
            seq,
            at_ms: self.at.0,
            app: self.app.clone(),
            action: self.action.as_str().to_owned(),
            scope: self.scope.clone(),
            objects: self.objects.clone(),
            outcome: self.outcome,
            reason: self.reason.map(|reason| reason.as_str().to_owned()),
            request_id: self.request_id.clone(),
        }
    }
}

/// An entry whose outcome is settled inside the store's transaction, e.g. a code exchange
/// that turns out to be a replay.
#[derive(Debug, Clone)]
pub struct LogDraft(pub NewLogEntry);

impl LogDraft {
    /// The same draft, about these objects.
    pub fn with_objects(self, objects: Vec<String>) -> Self {
        LogDraft(self.0.with_objects(objects))
    }

    pub fn allowed(&self) -> NewLogEntry {
        NewLogEntry {
            outcome: Outcome::Allowed,
            reason: None,
            ..self.0.clone()
        }
    }

    pub fn denied(&self, reason: Denial) -> NewLogEntry {
        NewLogEntry {
            outcome: Outcome::Denied,
            reason: Some(reason),
            ..self.0.clone()
        }
    }
}

/// How big a member's log is and its root hash.
#[derive(Debug, Clone, PartialEq)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub app: Option<String>,
    /// Only entries with a smaller seq (the cursor of the previous page).
    pub before: Option<u64>,
    pub limit: u32,
}

/// An access token that was revoked before it expired, kept until then so that a partner
/// still using it is recorded in the member's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    pub member_id: MemberId,
    pub client_id: String,
    pub reason: Denial,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait AccessLogStore: Send + Sync {
    /// Appends an entry in a transaction of its own — for accesses that change nothing (a
    /// read, a refusal) — and, if `touch_grant` is given, marks that grant used at the same
    /// time. The entry is committed before the caller releases any data.
    async fn append_log(&self, entry: NewLogEntry, touch_grant: Option<i64>) -> StoreResult<Entry>;
    /// As [`AccessLogStore::append_log`], and in the same transaction an entry in the log of
    /// each other member the access touches (`about_others`). Those are coalesced: the first
    /// per member, app, action and day is appended, and later ones add to its tally.
    async fn append_log_about(
        &self,
        entry: NewLogEntry,
        about_others: Vec<NewLogEntry>,
        touch_grant: Option<i64>,
    ) -> StoreResult<Entry>;
    /// How many accesses each of these entries stands for, where more than one was folded
    /// into it: `(seq, count)`.
    async fn log_tallies(&self, member: MemberId, seqs: &[u64]) -> StoreResult<Vec<(u64, u64)>>;
    async fn log_head(&self, member: MemberId) -> StoreResult<LogHead>;
    /// The stored tree hashes at these indexes, in the same order; `Corrupt` if one is missing.
    async fn log_hashes(&self, member: MemberId, indexes: &[u64]) -> StoreResult<Vec<Hash>>;
    /// A page of entries, newest first.
    async fn log_entries(&self, member: MemberId, query: &LogQuery) -> StoreResult<Vec<Entry>>;
    /// Up to `limit` entries from seq `from` on, oldest first.
    async fn log_range(&self, member: MemberId, from: u64, limit: u32) -> StoreResult<Vec<Entry>>;
    async fn revoked_token(&self, token_hash: &TokenHash) -> StoreResult<Option<RevokedToken>>;
}
