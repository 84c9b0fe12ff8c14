//! Members' access logs: what is recorded (actions and reasons for refusal), and what a member
//! can get out of their log — pages of readable entries, signed checkpoints, inclusion and
//! consistency proofs, and the export that `confidant log verify` checks offline.
//!
//! The Merkle tree, the entry encoding and the checkpoint format live in `confidant-log`.

mod describe;
mod witnessed;

use confidant_log::export::hash_to_base64;
use confidant_log::tree::{self, Hash};
use confidant_log::{EXPORT_FORMAT, Export, ExportedEntry};

use crate::store::LogQuery;
use crate::{Confidant, Error, MemberId};

pub use describe::DescribedEntry;
pub use witnessed::{HeadLeaves, MAX_HEAD_LEAVES};

/// Entries per page when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;
/// Entries read per query while exporting, so a long log is not one huge query.
const EXPORT_CHUNK: u32 = 1000;

/// The request id of log entries the server's operator caused (suspending a member,
/// deleting an app), rather than the member or the app.
pub const OPERATOR_REQUEST: &str = "operator";

/// What an app did or tried to do. The strings are part of the log's canonical encoding:
/// never change one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ProfileRead,
    FriendsList,
    MessageSend,
    MessageStatus,
    ThreadsList,
    ThreadRead,
    TokenIssue,
    TokenRefresh,
    TokenRevoke,
    ConsentGrant,
    ConsentRevoke,
    ShareDialog,
    ConsentExpire,
    /// Logged for a friend whom a member's friends listing showed to the app.
    FriendListed,
    /// Logged for a co-member whose messages the app read in a thread someone else shared.
    ThreadMessagesRead,
    /// Logged for the recipient of a message an app sent on a member's behalf.
    MessageReceived,
}

impl Action {
    pub const ALL: [Action; 16] = [
        Action::ProfileRead,
        Action::FriendsList,
        Action::MessageSend,
        Action::MessageStatus,
        Action::ThreadsList,
        Action::ThreadRead,
        Action::TokenIssue,
        Action::TokenRefresh,
        Action::TokenRevoke,
        Action::ConsentGrant,
        Action::ConsentRevoke,
        Action::ShareDialog,
        Action::ConsentExpire,
        Action::FriendListed,
        Action::ThreadMessagesRead,
        Action::MessageReceived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::ProfileRead => "profile.read",
            Action::FriendsList => "friends.list",
            Action::MessageSend => "message.send",
            Action::MessageStatus => "message.status",
            Action::ThreadsList => "threads.list",
            Action::ThreadRead => "thread.read",
            Action::TokenIssue => "token.issue",
            Action::TokenRefresh => "token.refresh",
            Action::TokenRevoke => "token.revoke",
            Action::ConsentGrant => "consent.grant",
            Action::ConsentRevoke => "consent.revoke",
            Action::ShareDialog => "share.dialog",
            Action::ConsentExpire => "consent.expire",
            Action::FriendListed => "friend.listed",
            Action::ThreadMessagesRead => "thread.messages_read",
            Action::MessageReceived => "message.received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == s)
    }
}

/// Why an access was refused. Like [`Action`], the strings are recorded in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    InsufficientScope,
    TokenExpired,
    TokenRevoked,
    GrantRevoked,
    AppSuspended,
    /// The operator narrowed what the app may ask for, ending its tokens.
    AppNarrowed,
    /// The operator deleted the app.
    AppDeleted,
    CodeReplayed,
    RefreshTokenReused,
    NotGranted,
    RateLimited,
    InvalidRequest,
    RecipientRefused,
    NotFound,
}

impl Denial {
    pub const ALL: [Denial; 14] = [
        Denial::InsufficientScope,
        Denial::TokenExpired,
        Denial::TokenRevoked,
        Denial::GrantRevoked,
        Denial::AppSuspended,
        Denial::AppNarrowed,
        Denial::AppDeleted,
        Denial::CodeReplayed,
        Denial::RefreshTokenReused,
        Denial::NotGranted,
        Denial::RateLimited,
        Denial::InvalidRequest,
        Denial::RecipientRefused,
        Denial::NotFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Denial::InsufficientScope => "insufficient_scope",
            Denial::TokenExpired => "token_expired",
            Denial::TokenRevoked => "token_revoked",
            Denial::GrantRevoked => "grant_revoked",
            Denial::AppSuspended => "app_suspended",
            Denial::AppNarrowed => "app_narrowed",
            Denial::AppDeleted => "app_deleted",
            Denial::CodeReplayed => "code_replayed",
            Denial::RefreshTokenReused => "refresh_token_reused",
            Denial::NotGranted => "not_granted",
            Denial::RateLimited => "rate_limited",
            Denial::InvalidRequest => "invalid_request",
            Denial::RecipientRefused => "recipient_refused",
            Denial::NotFound => "not_found",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|denial| denial.as_str() == s)
    }

    /// The reason in words, for the member's timeline.
    pub fn explain(self) -> &'static str {
        match self {
            Denial::InsufficientScope => "you did not give it that permission",
            Denial::TokenExpired => "its access token had expired",
            Denial::TokenRevoked => "the app had given up that token",
            Denial::GrantRevoked => "you had disconnected it",
            Denial::AppSuspended => "the app is suspended",
            Denial::AppNarrowed => "the server's operator narrowed what the app may ask for",
            Denial::AppDeleted => "the server's operator removed the app",
            Denial::CodeReplayed => {
                "an authorization code was used twice, so its tokens were revoked"
            }
            Denial::RefreshTokenReused => {
                "a refresh token was used twice, so its tokens were revoked"
            }
            Denial::NotGranted => "not granted",
            Denial::RateLimited => "too many requests",
            Denial::InvalidRequest => "the request was malformed",
            Denial::RecipientRefused => {
                "a recipient is not your friend, blocked, or does not use the app"
            }
            Denial::NotFound => "there is no such message from this app",
        }
    }
}

/// A page of a member's log, newest first.
#[derive(Debug, Clone)]
pub struct AccessLogPage {
    pub entries: Vec<DescribedEntry>,
    /// The `before` cursor of the next (older) page, if there is one.
    pub next_before: Option<u64>,
}

/// Proof that an entry is in the log of a given size.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub entry: DescribedEntry,
    pub size: u64,
    pub leaf_hash: Hash,
    pub proof: Vec<Hash>,
}

/// Proof that the log of `first` entries is a prefix of the log of `second` entries.
#[derive(Debug, Clone)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    pub proof: Vec<Hash>,
}

impl Confidant {
    /// The public key checkpoints are signed with, in signed-note form.
    pub fn log_public_key(&self) -> &str {
        self.log_signer.public_key()
    }

    /// The name of the member's log in its checkpoints.
    pub fn log_origin(&self, member: MemberId) -> String {
        confidant_log::origin(self.log_signer.name(), member.0)
    }

    /// The member's latest checkpoint, signed: the C2SP tlog-checkpoint text.
    pub async fn log_checkpoint(&self, me: MemberId) -> Result<String, Error> {
        let head = self.store.log_head(me).await?;
        Ok(self
            .log_signer
            .sign(&self.log_origin(me), head.size, head.root))
    }

    /// The apps the member ever connected, `(client id, name)`: what their log can be
    /// filtered by.
    pub async fn access_log_apps(&self, me: MemberId) -> Result<Vec<(String, String)>, Error> {
        let mut apps = Vec::new();
        for grant in self.store.grants_of(me).await? {
            let name = match self.store.app(&grant.client_id).await? {
                Some(app) => app.name,
                None => grant.client_id.clone(),
            };
            apps.push((grant.client_id, name));
        }
        Ok(apps)
    }

    /// A page of the member's log with each entry in words.
    pub async fn access_log(&self, me: MemberId, query: LogQuery) -> Result<AccessLogPage, Error> {
        let limit = crate::limits::page_size(query.limit.into(), MAX_PAGE.into())? as u32;
        let mut entries = self
            .store
            .log_entries(
                me,
                &LogQuery {
                    limit: limit + 1,
                    // Every entry is older than a position past the largest one a log can
                    // hold, which is what a cursor that large asks for.
                    before: query.before.map(|before| before.min(i64::MAX as u64)),
                    ..query
                },
            )
            .await?;
        let next_before = (entries.len() > limit as usize).then(|| {
            entries.truncate(limit as usize);
            entries.last().map(|entry| entry.seq)
        });
        Ok(AccessLogPage {
            entries: self.describe(me, entries).await?,
            next_before: next_before.flatten(),
        })
    }

    /// Proves entry `seq` is in the log of `size` entries (the current size if `None`).
    pub async fn log_inclusion(
        &self,
        me: MemberId,
        seq: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, Error> {
        let size = self.checked_size(me, size).await?;
        if seq >= size {
            return Err(Error::invalid(
                "seq",
                "not_in_log",
                format!("there is no entry {seq} in a log of {size} entries"),
            ));
        }
        let entry = self
            .store
            .log_range(me, seq, 1)
            .await?
            .pop()
            .ok_or(Error::NotFound)?;
        let indexes = tree::inclusion_indexes(seq, size).map_err(proof_error)?;
        let stored = self.store.log_hashes(me, &indexes).await?;
        let proof = tree::prove_inclusion(seq, size, &stored).map_err(proof_error)?;
        Ok(InclusionProof {
            leaf_hash: entry.leaf_hash(),
            entry: self.describe_entry(me, entry).await?,
            size,
            proof,
        })
    }

    /// Proves the log of `first` entries is a prefix of the log of `second` entries (the
    /// current size if `None`).
    pub async fn log_consistency(
        &self,
        me: MemberId,
        first: u64,
        second: Option<u64>,
    ) -> Result<ConsistencyProof, Error> {
        let second = self.checked_size(me, second).await?;
        if first == 0 || first > second {
            return Err(Error::invalid(
                "first",
                "bad_range",
                format!("first must be between 1 and {second}"),
            ));
        }
        let indexes = tree::consistency_indexes(first, second).map_err(proof_error)?;
        let stored = self.store.log_hashes(me, &indexes).await?;
        let proof = tree::prove_consistency(first, second, &stored).map_err(proof_error)?;
        Ok(ConsistencyProof {
            first,
            second,
            proof,
        })
    }

    /// The member's log as one file: every entry and the signed checkpoint they hash to; or,
    /// with `app`, only that app's entries, each with its inclusion proof.
    pub async fn export_access_log(
        &self,
        me: MemberId,
        app: Option<&str>,
    ) -> Result<Export, Error> {
        let head = self.store.log_head(me).await?;
        let mut entries = Vec::new();
        let mut from = 0;
        // Entries are append-only, so reading up to the head's size gives exactly the
        // entries its root covers, even while new ones are appended.
        while from < head.size {
            let chunk = self.store.log_range(me, from, EXPORT_CHUNK).await?;
            let Some(last) = chunk.last() else { break };
            from = last.seq + 1;
            entries.extend(chunk.into_iter().filter(|entry| entry.seq < head.size));
        }
        // Missing rows are exported as missing, not papered over: the verifier says what
        // is wrong.
        let mut exported = Vec::with_capacity(entries.len());
        for entry in entries {
            let inclusion_proof = match app {
                None => None,
                Some(app) if entry.app != app => continue,
                Some(_) => {
                    let indexes =
                        tree::inclusion_indexes(entry.seq, head.size).map_err(proof_error)?;
                    let stored = self.store.log_hashes(me, &indexes).await?;
                    let proof = tree::prove_inclusion(entry.seq, head.size, &stored)
                        .map_err(proof_error)?;
                    Some(proof.iter().map(hash_to_base64).collect())
                }
            };
            exported.push(ExportedEntry {
                entry,
                inclusion_proof,
            });
        }
        let origin = self.log_origin(me);
        Ok(Export {
            format: EXPORT_FORMAT.to_owned(),
            checkpoint: self.log_signer.sign(&origin, head.size, head.root),
            origin,
            public_key: self.log_public_key().to_owned(),
            complete: app.is_none(),
            note: app
                .is_some()
                .then(|| confidant_log::export::SELECTION_NOTE.to_owned()),
            witnessed: self.witnessed_head_of_selection(me, app, head.size).await?,
            entries: exported,
        })
    }

    /// The witnessed head for an export at `size` entries; a selection (`app`) also gets the
    /// proof that the published head is a prefix of the log at `size`, since its entries
    /// cannot show it.
    async fn witnessed_head_of_selection(
        &self,
        me: MemberId,
        app: Option<&str>,
        size: u64,
    ) -> Result<Option<confidant_log::WitnessedHead>, Error> {
        let Some(mut witnessed) = self.witnessed_head(me).await? else {
            return Ok(None);
        };
        if app.is_some() && witnessed.size > 0 && witnessed.size < size {
            let indexes = tree::consistency_indexes(witnessed.size, size).map_err(proof_error)?;
            let stored = self.store.log_hashes(me, &indexes).await?;
            let proof =
                tree::prove_consistency(witnessed.size, size, &stored).map_err(proof_error)?;
            witnessed.consistency_proof = proof.iter().map(hash_to_base64).collect();
        }
        Ok(Some(witnessed))
    }

    /// `size`, or the log's current size; refuses sizes the log has not reached.
    async fn checked_size(&self, me: MemberId, size: Option<u64>) -> Result<u64, Error> {
        let current = self.store.log_head(me).await?.size;
        match size {
            None => Ok(current),
            Some(size) if size <= current => Ok(size),
            Some(size) => Err(Error::invalid(
                "size",
                "beyond_log",
                format!("the log has {current} entries, not {size}"),
            )),
        }
    }
}

/// Proof construction fails only if stored hashes are missing: the database is damaged.
fn proof_error(error: tree::ProofError) -> Error {
    Error::Internal(format!("access log: {error}"))
}
