//! Storage of what partner apps send for members: sends (idempotent by key), the messages
//! they put in 1:1 conversations labelled with the app, and the recommendation cards.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Budget, Contribution, NewLogEntry, StoreResult};
use crate::live::FeedAdvanced;
use crate::{MemberId, MessageId, Timestamp};

/// The app a message was sent through, shown as "via {name}" to sender and recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViaApp {
    pub client_id: String,
    pub name: String,
}

/// A recommendation as it travels in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecommendationCard {
    pub title: String,
    /// http or https only.
    pub url: String,
    pub image_url: Option<String>,
    pub description: Option<String>,
    /// The partner's own id for the item.
    pub item_id: String,
    /// web, ios, android, tv or other.
    pub interface: String,
    /// One of the app's declared initiation surfaces.
    pub surface: String,
    /// One of the app's declared experiment arms.
    pub variation: String,
    /// Names the card in its tracked link `/r/{token}`.
    pub token: String,
}

/// One message of a send: to one recipient, in their 1:1 conversation with the sender.
#[derive(Debug, Clone)]
pub struct PartnerMessage {
    /// Goes into their 1:1 conversation with the sender.
    pub recipient: MemberId,
    pub body: String,
    pub card: Option<RecommendationCard>,
}

#[derive(Debug, Clone)]
pub struct NewPartnerSend {
    pub client_id: String,
    pub member_id: MemberId,
    /// The partner's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
    /// A digest of the request, to tell a retry from a different request under the same key.
    pub request_hash: String,
    pub created_at: Timestamp,
    pub messages: Vec<PartnerMessage>,
    /// The sends to count in the app's report, in the same transaction.
    pub contributions: Vec<Contribution>,
    /// An entry for each recipient's own access log, coalesced per day.
    pub about_recipients: Vec<NewLogEntry>,
    /// The rate limit the send counts against, taken in the same transaction; `None` for a
    /// member's own share.
    pub budget: Option<Budget>,
}

impl NewPartnerSend {
    /// The record of this send once stored as `id`, its messages as `message_ids` (one per
    /// entry of `messages`, in order): what a later read of the send would return, without
    /// reading it back.
    pub fn stored_as(&self, id: i64, message_ids: &[MessageId]) -> PartnerSendRecord {
        PartnerSendRecord {
            id,
            created_at: self.created_at,
            deliveries: self
                .messages
                .iter()
                .zip(message_ids)
                .map(|(message, id)| Delivery {
                    recipient: message.recipient,
                    message_id: *id,
                    delivered_at: self.created_at,
                })
                .collect(),
        }
    }
}

/// A send as the app may see it later: who it went to and when it was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerSendRecord {
    pub id: i64,
    pub created_at: Timestamp,
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub recipient: MemberId,
    pub message_id: MessageId,
    /// When the message entered the recipient's conversation.
    pub delivered_at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum SendOutcome {
    Sent {
        record: PartnerSendRecord,
        advanced: Vec<FeedAdvanced>,
    },
    /// The same request came with this key before: here is what it did then.
    Replayed(PartnerSendRecord),
    /// Another request came with this key before.
    KeyReused,
    /// The budget is spent: nothing was stored. Try again in this many seconds.
    RateLimited { retry_after_secs: u64 },
}

#[async_trait]
pub trait PartnerStore: Send + Sync {
    /// Of `pseudonyms` (this app's ids for members), those a send from `sender` through the
    /// app may reach, with the member each names: an active grant to the app, a friend of
    /// the sender, no block either way, and not the sender. One query, whatever their number.
    async fn reachable_recipients(
        &self,
        client_id: &str,
        sender: MemberId,
        pseudonyms: &[String],
    ) -> StoreResult<Vec<(String, MemberId)>>;
    /// Stores the send and its messages, appends them to the participants' feeds, and logs
    /// `log` — all in one transaction, unless the idempotency key was used before. Each
    /// message goes into the recipient's 1:1 conversation with the sender, opened in the same
    /// transaction if they have none; `Conflict("not_reachable")` if a recipient is no longer
    /// the sender's friend or a block stands between them, checked there too.
    async fn send_partner_messages(
        &self,
        send: NewPartnerSend,
        log: NewLogEntry,
    ) -> StoreResult<SendOutcome>;
    /// A send of this app for this member.
    async fn partner_send(
        &self,
        client_id: &str,
        member: MemberId,
        id: i64,
    ) -> StoreResult<Option<PartnerSendRecord>>;

    /// `NotFound` if there is no such app.
    async fn mute_app(&self, member: MemberId, client_id: &str, at: Timestamp) -> StoreResult<()>;
    /// Whether it was muted.
    async fn unmute_app(&self, member: MemberId, client_id: &str) -> StoreResult<bool>;
    async fn muted_apps(&self, member: MemberId) -> StoreResult<Vec<ViaApp>>;
    async fn set_count_clicks(&self, member: MemberId, count: bool) -> StoreResult<()>;
    async fn count_clicks(&self, member: MemberId) -> StoreResult<bool>;
}
