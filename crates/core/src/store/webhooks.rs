//! The webhook outbox: what is to be delivered to partner apps, and how delivery went.

use async_trait::async_trait;

use super::StoreResult;
use crate::Timestamp;

/// A webhook to send, written with the change it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub client_id: String,
    /// The Standard Webhooks `webhook-id`: the same on every retry.
    pub message_id: String,
    pub event_type: String,
    /// The JSON body.
    pub payload: String,
    pub created_at: Timestamp,
}

/// A webhook due for an attempt, with where and how to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWebhook {
    pub id: i64,
    pub url: String,
    /// `whsec_…`.
    pub secret: String,
    pub message_id: String,
    pub payload: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    Delivered,
    /// `retry_at: None` means it was the last attempt.
    Failed {
        error: String,
        retry_at: Option<Timestamp>,
    },
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Up to `limit` webhooks due at `now` whose app still has a webhook URL and secret.
    async fn due_webhooks(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<DueWebhook>>;
    /// Takes the webhook for one attempt, unless another node did since it was read: moves
    /// its next attempt from `seen` to `lease_until`. Returns whether this caller has it.
    async fn claim_webhook(
        &self,
        id: i64,
        seen: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;
    async fn finish_webhook_attempt(
        &self,
        id: i64,
        at: Timestamp,
        outcome: WebhookOutcome,
    ) -> StoreResult<()>;
}
