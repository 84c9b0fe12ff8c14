//! The storage contract. Backends (SQLite, PostgreSQL) implement these traits in
//! `confidant-store`; one conformance suite holds both to the same behaviour.
//!
//! Each method is one transaction. Methods that make members' event feeds grow return the
//! [`FeedAdvanced`] announcements to publish once the transaction has committed.

mod accesslog;
mod attachments;
mod deployment;
mod engagement;
mod limits;
mod oauth;
mod partner;
mod push;
mod reports;
mod tlog;
mod webhooks;

pub use accesslog::{AccessLogStore, LogDraft, LogHead, LogQuery, NewLogEntry, RevokedToken};
pub use attachments::{Attachment, AttachmentInfo, AttachmentStore, NewAttachment};
pub use deployment::{DeploymentStore, setting};
pub use engagement::{
    CHANNEL_CONFIDANT, CapsInForce, CardTarget, Cell, CellCounts, Contribution, Counter,
    EngagementImport, EngagementPurge, EngagementStore, ImportedContribution, ReportedEvent,
    day_of,
};
pub use limits::{Budget, LimitStore, TakenUse, retry_after_secs};
pub use oauth::{
    App, AppStatus, AuthorizationCode, Grant, GrantUpdate, OAuthStore, PreviousSecret, Redemption,
    Rotation, ThreadGrant, TokenKind, TokenPair, TokenRecord,
};
pub use partner::{
    Delivery, NewPartnerSend, PartnerMessage, PartnerSendRecord, PartnerStore, RecommendationCard,
    SendOutcome, ViaApp,
};
pub use push::{DuePush, NewPushSubscription, PushStore, PushSubscription};
pub use reports::{
    BudgetLimit, DeliveryStatus, NewRelease, ReleaseOutcome, ReleaseSummary, ReportStore,
    StoredRelease,
};
pub use tlog::{
    HEADS_LOG, HeadLeafEncoder, LEDGER_LOG, Publication, PublishedHead, StoredCheckpoint,
    WitnessedLogStore,
};
pub use webhooks::{DueWebhook, NewWebhook, WebhookOutcome, WebhookStore};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::accounts::Handle;
use crate::live::FeedAdvanced;
use crate::messaging::LiveEvent;
use crate::tokens::TokenHash;
use crate::{AttachmentId, ConversationId, MemberId, MessageId, StoreError, Timestamp};

pub type StoreResult<T> = Result<T, StoreError>;

/// A member as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub handle: String,
    pub display_name: String,
    pub is_admin: bool,
    pub created_at: Timestamp,
}

/// A member with their password hash; only the accounts use cases see this.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub member: Member,
    pub password_hash: String,
    /// A suspended member cannot log in.
    pub suspended: bool,
}

/// A member as operators see them: with whether they are suspended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStanding {
    #[serde(flatten)]
    pub member: Member,
    pub suspended_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub handle: Handle,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: Timestamp,
}

/// Browser sessions live behind a cookie; API sessions behind a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Browser,
    Api,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "browser" => Some(SessionKind::Browser),
            "api" => Some(SessionKind::Api),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub token_hash: TokenHash,
    pub member_id: MemberId,
    pub kind: SessionKind,
    /// The synchronizer token that state-changing forms of this session must echo.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How two members stand with each other, seen from `a`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relationship {
    pub friends: bool,
    pub request_sent: bool,
    pub request_received: bool,
    pub blocked_by_me: bool,
    pub blocked_me: bool,
}

#[derive(Debug, Clone, Default)]
pub struct FriendRequests {
    pub incoming: Vec<Member>,
    pub outgoing: Vec<Member>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "direct" => Some(ConversationKind::Direct),
            "group" => Some(ConversationKind::Group),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub kind: ConversationKind,
    pub title: Option<String>,
    /// For direct conversations, `"{low id}:{high id}"`, unique, so a pair has only one.
    pub direct_key: Option<String>,
    pub created_by: MemberId,
    pub members: Vec<MemberId>,
    pub created_at: Timestamp,
}

/// A conversation as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub created_at: Timestamp,
    pub last_activity_at: Timestamp,
    pub unread: i64,
    pub last_read: MessageId,
    pub last_message: Option<Message>,
    /// For a direct conversation, the other member (`None` once they deleted their account).
    pub peer: Option<MemberRef>,
}

impl ConversationSummary {
    /// What the member calls it: a group's title, or the other member's name.
    pub fn display_title(&self) -> String {
        match (&self.title, &self.peer) {
            (Some(title), _) => title.clone(),
            (None, Some(peer)) => peer.display_name.clone(),
            (None, None) => "deleted member".to_owned(),
        }
    }
}

/// Who is in a conversation: what sending to it and reading it check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    pub kind: ConversationKind,
    pub members: Vec<MemberId>,
}

impl Roster {
    pub fn includes(&self, member: MemberId) -> bool {
        self.members.contains(&member)
    }
}

/// One member of a conversation and how far they have read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    pub member: Member,
    pub last_read: MessageId,
    pub joined_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// `None` once the sender has deleted their account.
    pub sender: Option<MemberRef>,
    pub body: String,
    pub created_at: Timestamp,
    /// The app it was sent through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_app: Option<ViaApp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<RecommendationCard>,
    /// When its sender last changed the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// Deleted by its sender: the body is empty and any card is gone.
    #[serde(default)]
    pub deleted: bool,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Quote>,
    /// Set on the lines a group writes itself when it changes; `sender` made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemLine>,
    /// Files sent with it, in the order they were attached; none once it is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentInfo>,
}

impl Message {
    /// A message as its sender wrote it: not edited, deleted, a reply or a system line.
    pub fn written(
        id: MessageId,
        conversation_id: ConversationId,
        sender: Option<MemberRef>,
        body: String,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            conversation_id,
            sender,
            body,
            created_at,
            via_app: None,
            card: None,
            edited_at: None,
            deleted: false,
            reply_to: None,
            system: None,
            attachments: Vec::new(),
        }
    }
}

/// The message a reply answers, as the reply shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub id: MessageId,
    pub sender: Option<MemberRef>,
    /// Empty once the message is deleted.
    pub body: String,
    pub deleted: bool,
}

/// What a group's own line says happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SystemLine {
    /// The sender added `member` (`None` once their account is deleted).
    Added { member: Option<MemberRef> },
    /// The sender left.
    Left,
    /// The sender renamed the group.
    Renamed { title: String },
}

impl SystemLine {
    /// The stored kind, and the subject or the text stored beside it.
    pub fn kind(&self) -> &'static str {
        match self {
            SystemLine::Added { .. } => "added",
            SystemLine::Left => "left",
            SystemLine::Renamed { .. } => "renamed",
        }
    }

    /// Reads a stored line back: its kind, the member it names and the body.
    pub fn from_stored(kind: &str, subject: Option<MemberRef>, body: &str) -> Option<Self> {
        match kind {
            "added" => Some(SystemLine::Added { member: subject }),
            "left" => Some(SystemLine::Left),
            "renamed" => Some(SystemLine::Renamed {
                title: body.to_owned(),
            }),
            _ => None,
        }
    }
}

/// The few facts about a member that are shown beside their messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRef {
    pub id: MemberId,
    pub handle: String,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub sender: MemberId,
    pub body: String,
    pub created_at: Timestamp,
    /// A message of the same conversation this one answers.
    pub reply_to: Option<MessageId>,
    /// The client's key for this draft: a send retried with it is stored once.
    pub client_key: Option<String>,
    /// Uploads of the sender's, not yet sent, that this message carries.
    pub attachments: Vec<AttachmentId>,
}

impl NewMessage {
    /// Whether `stored`, found under this draft's key, is this same send made before: the
    /// same conversation and reply, and the same text unless it was changed since.
    pub fn is_retry_of(&self, stored: &Message) -> bool {
        stored.conversation_id == self.conversation_id
            && stored.reply_to.as_ref().map(|quote| quote.id) == self.reply_to
            && (stored.deleted
                || (stored
                    .attachments
                    .iter()
                    .map(|a| a.id)
                    .eq(self.attachments.iter().copied())
                    && (stored.body == self.body || stored.edited_at.is_some())))
    }
}

/// One entry of a member's event feed, in the order it was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub seq: i64,
    pub event: LiveEvent,
    pub created_at: Timestamp,
}

/// Where a member's feed ends, as of one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedTail {
    /// The newest readable position (0 when the feed is empty).
    pub head: i64,
    /// Positions past `head` already committed, oldest first. Where a position becomes
    /// readable only once every older transaction has ended (`feed_since` on PostgreSQL),
    /// these are entries a reader will still be handed, though they were written before
    /// this moment; elsewhere the list is empty.
    pub unreadable: Vec<i64>,
}

impl FeedTail {
    /// The newest committed position, readable yet or not.
    pub fn written(&self) -> i64 {
        self.unreadable.last().copied().unwrap_or(self.head)
    }
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Fails with `Conflict("handle")` if the handle is taken.
    async fn create_member(&self, new: NewMember) -> StoreResult<Member>;
    async fn member(&self, id: MemberId) -> StoreResult<Option<Member>>;
    async fn member_by_handle(&self, handle: &Handle) -> StoreResult<Option<Member>>;
    async fn credentials(&self, handle: &Handle) -> StoreResult<Option<Credentials>>;
    async fn password_hash(&self, id: MemberId) -> StoreResult<Option<String>>;
    async fn set_password_hash(&self, id: MemberId, hash: &str) -> StoreResult<()>;
    async fn set_display_name(&self, id: MemberId, name: &str) -> StoreResult<()>;
    /// Up to `limit` members whose handle starts with `prefix`, in handle order, for
    /// `searcher`'s friends search: never the searcher, nor anyone who blocked them.
    async fn search_members(
        &self,
        searcher: MemberId,
        prefix: &str,
        limit: i64,
    ) -> StoreResult<Vec<Member>>;
    /// Removes the member and everything that is theirs; their messages stay in others'
    /// conversations as erased messages from "deleted member".
    async fn delete_member(&self, id: MemberId) -> StoreResult<()>;
    /// Up to `limit` members with an id above `after`, in id order, for operators.
    async fn member_standings(
        &self,
        after: Option<MemberId>,
        limit: i64,
    ) -> StoreResult<Vec<MemberStanding>>;
    /// How many members are operators.
    async fn count_admins(&self) -> StoreResult<i64>;
    /// `NotFound` if there is no such member.
    async fn set_admin(&self, id: MemberId, admin: bool) -> StoreResult<()>;
    /// Suspends the member at `at` and ends every session of theirs, in one transaction; or,
    /// with `None`, lifts the suspension. `NotFound` if there is no such member.
    async fn set_suspended(&self, id: MemberId, at: Option<Timestamp>) -> StoreResult<()>;

    async fn create_session(&self, session: SessionRecord) -> StoreResult<()>;
    async fn session(&self, token_hash: &TokenHash) -> StoreResult<Option<SessionRecord>>;
    async fn touch_session(&self, token_hash: &TokenHash, at: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &TokenHash) -> StoreResult<()>;
    /// Ends all sessions of a member except, optionally, one.
    async fn delete_sessions_of(
        &self,
        member: MemberId,
        except: Option<&TokenHash>,
    ) -> StoreResult<()>;
    /// Drops sessions past their absolute or idle expiry; returns how many.
    async fn delete_expired_sessions(
        &self,
        now: Timestamp,
        idle_cutoff_browser: Timestamp,
        idle_cutoff_api: Timestamp,
    ) -> StoreResult<u64>;

    /// A trivial round trip, for readiness probes.
    async fn ping(&self) -> StoreResult<()>;
}

#[async_trait]
pub trait SocialStore: Send + Sync {
    async fn relationship(&self, me: MemberId, other: MemberId) -> StoreResult<Relationship>;
    async fn create_friend_request(
        &self,
        from: MemberId,
        to: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>>;
    /// Turns the request from `from` to `to` into a friendship. `NotFound` if there is none.
    async fn accept_friend_request(
        &self,
        from: MemberId,
        to: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>>;
    /// Withdraws or declines a request; returns whether there was one.
    async fn delete_friend_request(&self, from: MemberId, to: MemberId) -> StoreResult<bool>;
    async fn delete_friendship(&self, a: MemberId, b: MemberId) -> StoreResult<bool>;
    /// Records the block and removes any friendship and requests between the two.
    async fn block(&self, blocker: MemberId, blocked: MemberId, at: Timestamp) -> StoreResult<()>;
    async fn unblock(&self, blocker: MemberId, blocked: MemberId) -> StoreResult<bool>;
    async fn friends(&self, me: MemberId) -> StoreResult<Vec<Member>>;
    async fn friend_requests(&self, me: MemberId) -> StoreResult<FriendRequests>;
    async fn blocked(&self, me: MemberId) -> StoreResult<Vec<Member>>;
}

#[async_trait]
pub trait MessagingStore: Send + Sync {
    async fn direct_conversation(&self, key: &str) -> StoreResult<Option<ConversationId>>;
    /// Fails with `Conflict("direct_key")` if the pair already has a direct conversation.
    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationId, Vec<FeedAdvanced>)>;
    /// The conversation as `member` sees it; `None` if they are not in it.
    async fn conversation(
        &self,
        id: ConversationId,
        member: MemberId,
    ) -> StoreResult<Option<ConversationSummary>>;
    async fn participants(&self, id: ConversationId) -> StoreResult<Vec<Participant>>;
    /// The conversation's kind and members; `None` if it does not exist.
    async fn roster(&self, id: ConversationId) -> StoreResult<Option<Roster>>;
    /// The member's conversations, most recently active first.
    async fn conversations(&self, member: MemberId) -> StoreResult<Vec<ConversationSummary>>;
    /// Adds members, with a line "`by` added …" for each; fails with
    /// `Conflict("member_limit")` past `max_members`.
    async fn add_participants(
        &self,
        id: ConversationId,
        by: MemberId,
        members: &[MemberId],
        max_members: i64,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>>;
    /// Takes the member out, with a line "… left" for those who stay.
    async fn remove_participant(
        &self,
        id: ConversationId,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>>;
    /// Renames the group, with a line "`by` renamed the group".
    async fn rename_conversation(
        &self,
        id: ConversationId,
        by: MemberId,
        title: &str,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>>;
    /// Stores the message and appends it to every participant's feed. `NotFound` if the
    /// sender is not a participant; `Conflict("blocked")` if the conversation is 1:1 and
    /// either member blocked the other. Both are checked in the same transaction.
    ///
    /// If the sender already stored a message with `new.client_key`, that message is returned
    /// and nothing is appended; `Conflict("client_key")` if it differs in conversation, body or
    /// reply.
    ///
    /// `Conflict("attachment")` if an attachment is not the sender's or was already sent.
    async fn insert_message(&self, new: NewMessage) -> StoreResult<(Message, Vec<FeedAdvanced>)>;
    async fn message(&self, id: MessageId) -> StoreResult<Option<Message>>;
    /// Newest first, strictly older than `before` when given, without those `viewer` removed
    /// from their view.
    async fn messages(
        &self,
        id: ConversationId,
        viewer: MemberId,
        before: Option<MessageId>,
        limit: i64,
    ) -> StoreResult<Vec<Message>>;
    /// Replaces the text of a message `sender` wrote (not deleted, not sent through an app,
    /// not a system line) and tells every participant; `NotFound` for any other message.
    async fn edit_message(
        &self,
        id: MessageId,
        sender: MemberId,
        body: &str,
        at: Timestamp,
    ) -> StoreResult<(Message, Vec<FeedAdvanced>)>;
    /// Deletes the text, card and attachments of a message `sender` sent (the row stays, so the
    /// conversation shows "message deleted") and tells every participant; `NotFound` for any
    /// other message, or one already deleted.
    async fn delete_message(
        &self,
        id: MessageId,
        sender: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>>;
    /// Removes a message from `member`'s own view of the conversation.
    async fn hide_message(&self, id: MessageId, member: MemberId, at: Timestamp)
    -> StoreResult<()>;
    /// Messages of conversations `member` is in whose text has every word of `words` (each
    /// as a prefix), newest first, older than `before` when given; not deleted, not system
    /// lines, not removed from their view.
    async fn search_messages(
        &self,
        member: MemberId,
        words: &[String],
        before: Option<MessageId>,
        limit: i64,
    ) -> StoreResult<Vec<Message>>;
    /// Moves the member's read marker forward (never back) and tells the other participants.
    async fn mark_read(
        &self,
        id: ConversationId,
        member: MemberId,
        up_to: MessageId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>>;
    /// The member's feed entries after `after_seq`, oldest first.
    async fn feed_since(
        &self,
        member: MemberId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<FeedEntry>>;
    /// The newest seq in the member's feed (0 when empty).
    async fn feed_head(&self, member: MemberId) -> StoreResult<i64>;
    /// The member's head and what is committed past it, read at one moment: what a new
    /// reader needs to tell entries written before it started from entries written after.
    async fn feed_tail(&self, member: MemberId) -> StoreResult<FeedTail>;
    /// [`feed_head`](Self::feed_head) of each of `members`, in one round trip.
    async fn feed_heads(&self, members: &[MemberId]) -> StoreResult<Vec<(MemberId, i64)>>;
    /// Deletes feed entries created before `before` (never a member's messages); returns how
    /// many. Positions keep growing: a stream resuming from an older one gets what is left.
    async fn purge_feed(&self, before: Timestamp) -> StoreResult<u64>;
}

/// Everything a Confidant deployment stores.
pub trait Store:
    AccountStore
    + SocialStore
    + MessagingStore
    + AttachmentStore
    + PushStore
    + OAuthStore
    + AccessLogStore
    + WitnessedLogStore
    + PartnerStore
    + WebhookStore
    + EngagementStore
    + ReportStore
    + DeploymentStore
    + LimitStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: AccountStore
        + SocialStore
        + MessagingStore
        + AttachmentStore
        + PushStore
        + OAuthStore
        + AccessLogStore
        + WitnessedLogStore
        + PartnerStore
        + WebhookStore
        + EngagementStore
        + ReportStore
        + DeploymentStore
        + LimitStore
        + Send
        + Sync
        + 'static
{
}
