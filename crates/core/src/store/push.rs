//! Web Push: the browsers members turned notifications on in, and the outbox of pushes.

use async_trait::async_trait;

use super::{Message, StoreResult};
use crate::{MemberId, Timestamp};

/// A browser that receives pushes for a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: i64,
    pub member_id: MemberId,
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The browser's P-256 public key and authentication secret (RFC 8291), base64url.
    pub p256dh: String,
    pub auth: String,
    /// Whether pushes carry the message's text, or only who wrote.
    pub show_text: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewPushSubscription {
    pub member_id: MemberId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub show_text: bool,
    pub created_at: Timestamp,
}

/// A push claimed for an attempt: where it goes, and the message it announces.
#[derive(Debug, Clone)]
pub struct DuePush {
    pub id: i64,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub subscription: PushSubscription,
    pub message: Message,
    /// The browser had the live stream open when the push was claimed: it saw the message.
    pub streaming: bool,
}

#[async_trait]
pub trait PushStore: Send + Sync {
    /// Stores the subscription; one for an endpoint already known replaces it (a browser
    /// belongs to whoever subscribed in it last). `Conflict("too_many_devices")` past `max`
    /// subscriptions of the member.
    async fn save_push_subscription(
        &self,
        new: NewPushSubscription,
        max: i64,
    ) -> StoreResult<PushSubscription>;
    async fn push_subscriptions(&self, member: MemberId) -> StoreResult<Vec<PushSubscription>>;
    /// Removes a subscription of `member`'s; whether there was one.
    async fn delete_push_subscription(&self, id: i64, member: MemberId) -> StoreResult<bool>;
    /// Removes a subscription the push service said is gone (404, 410).
    async fn drop_push_subscription(&self, id: i64) -> StoreResult<()>;
    /// Marks a subscription of `member`'s as having the live stream open until `until`
    /// (`None`: closed).
    async fn set_push_streaming(
        &self,
        id: i64,
        member: MemberId,
        until: Option<Timestamp>,
    ) -> StoreResult<bool>;
    /// Claims up to `limit` pushes due at `now` until `lease_until` (so no other node sends
    /// them meanwhile), counting the attempt. Pushes of deleted messages are dropped.
    async fn claim_due_pushes(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<DuePush>>;
    /// The push is done with: delivered, pointless, or out of attempts.
    async fn finish_push(&self, id: i64) -> StoreResult<()>;
    async fn retry_push(&self, id: i64, at: Timestamp) -> StoreResult<()>;
}
