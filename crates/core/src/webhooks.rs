//! Webhooks to partner apps, signed as Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<HMAC-SHA256>`). Changes queue them in their own transaction (an
//! outbox), so an acknowledged revocation always reaches the app; a job delivers them and
//! retries with growing delays.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use serde_json::json;

use crate::store::{App, NewWebhook, WebhookOutcome};
use crate::{Confidant, Error, tokens};

/// Waits before each retry; after the last, the webhook is given up (8 attempts in ~38 h).
pub const RETRY_DELAYS_SECS: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// How long one node holds a webhook while attempting it.
const LEASE_SECS: i64 = 60;
/// Webhooks attempted per pass.
const BATCH: i64 = 20;

/// Sends one webhook over HTTP; `Err` says why it failed (a status, a transport error).
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<(), String>;
}

/// A fresh signing secret in the Standard Webhooks form, `whsec_` and 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("whsec_{}", BASE64.encode(key))
}

/// The Standard Webhooks signature header value for one attempt.
pub fn sign(
    secret: &str,
    message_id: &str,
    timestamp_secs: i64,
    body: &str,
) -> Result<String, Error> {
    standardwebhooks::Webhook::new(secret)
        .and_then(|webhook| webhook.sign(message_id, timestamp_secs, body.as_bytes()))
        .map_err(|e| Error::Internal(format!("cannot sign a webhook: {e}")))
}

impl Confidant {
    /// The `grant.revoked` webhook: the member (by the app's pseudonym for them) is gone
    /// from the app, which must delete what it holds about them. `None` if the app has no
    /// webhook URL.
    pub(crate) fn grant_revoked_webhook(
        &self,
        app: &App,
        pseudonym: &str,
        reason: &str,
    ) -> Option<NewWebhook> {
        app.report_webhook.as_ref()?;
        let now = self.clock.now();
        let payload = json!({
            "type": "grant.revoked",
            "timestamp": confidant_log::entry::format_millis(now.0),
            "data": {
                "member_id": pseudonym,
                "reason": reason,
                "action": "delete everything you hold about this member",
            },
        });
        Some(NewWebhook {
            client_id: app.client_id.clone(),
            message_id: format!("msg_{}", tokens::random_url_safe(16)),
            event_type: "grant.revoked".into(),
            payload: payload.to_string(),
            created_at: now,
        })
    }

    /// One delivery pass: attempts the webhooks that are due, each claimed first so that
    /// several nodes never send the same attempt twice. Returns how many were attempted.
    pub async fn deliver_due_webhooks(
        &self,
        transport: &dyn WebhookTransport,
    ) -> Result<usize, Error> {
        let now = self.clock.now();
        let due = self.store.due_webhooks(now, BATCH).await?;
        let mut attempted = 0;
        for webhook in due {
            let lease = now.plus_secs(LEASE_SECS);
            if !self
                .store
                .claim_webhook(webhook.id, webhook.next_attempt_at, lease)
                .await?
            {
                continue;
            }
            attempted += 1;
            let timestamp = now.0 / 1000;
            let signature = sign(
                &webhook.secret,
                &webhook.message_id,
                timestamp,
                &webhook.payload,
            )?;
            let headers = vec![
                ("webhook-id", webhook.message_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
                ("content-type", "application/json".to_owned()),
            ];
            let result = transport.post(&webhook.url, headers, webhook.payload).await;
            let outcome = match result {
                Ok(()) => WebhookOutcome::Delivered,
                Err(error) => {
                    let retry_at = RETRY_DELAYS_SECS
                        .get(webhook.attempts as usize)
                        .map(|delay| self.clock.now().plus_secs(*delay));
                    tracing::warn!(id = webhook.id, %error, retry = retry_at.is_some(), "webhook attempt failed");
                    WebhookOutcome::Failed { error, retry_at }
                }
            };
            self.store
                .finish_webhook_attempt(webhook.id, self.clock.now(), outcome)
                .await?;
        }
        Ok(attempted)
    }
}
