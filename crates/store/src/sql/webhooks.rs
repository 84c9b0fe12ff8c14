//! The webhook outbox: queued inside the caller's transaction, then claimed, attempted and
//! finished by the delivery job.
//!
//! On SQLite the delivery job's methods run on rusqlite (`crate::sqlite::deployment`).

use async_trait::async_trait;
use sqlx::PgConnection;

use super::{ResultExt, SqlStore};
use crate::sqlite::deployment as sqlite;
use confidant_core::Timestamp;
use confidant_core::store::{DueWebhook, NewWebhook, StoreResult, WebhookOutcome, WebhookStore};

/// Queues a webhook in the caller's transaction, due at once; returns its id.
pub(crate) async fn enqueue(conn: &mut PgConnection, webhook: &NewWebhook) -> StoreResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO webhook_deliveries (client_id, message_id, event_type, payload, \
         created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(&webhook.client_id)
    .bind(&webhook.message_id)
    .bind(&webhook.event_type)
    .bind(&webhook.payload)
    .bind(webhook.created_at.0)
    .fetch_one(&mut *conn)
    .await
    .store()?;
    Ok(id)
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn due_webhooks(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<DueWebhook>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::due_webhooks(conn, now, limit))
                .await;
        }
        let rows: Vec<(i64, String, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT w.id, a.report_webhook, a.webhook_secret, w.message_id, w.payload, \
             w.attempts, w.next_attempt_at FROM webhook_deliveries w \
             JOIN apps a ON a.client_id = w.client_id \
             WHERE w.next_attempt_at <= $1 AND a.report_webhook IS NOT NULL \
             AND a.webhook_secret IS NOT NULL ORDER BY w.next_attempt_at LIMIT $2",
        )
        .bind(now.0)
        .bind(limit)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        Ok(rows
            .into_iter()
            .map(
                |(id, url, secret, message_id, payload, attempts, next)| DueWebhook {
                    id,
                    url,
                    secret,
                    message_id,
                    payload,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    next_attempt_at: Timestamp(next),
                },
            )
            .collect())
    }

    async fn claim_webhook(
        &self,
        id: i64,
        seen: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::claim_webhook(conn, id, seen, lease_until))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let claimed = sqlx::query(
                        "UPDATE webhook_deliveries SET next_attempt_at = $3 \
                     WHERE id = $1 AND next_attempt_at = $2",
                    )
                    .bind(id)
                    .bind(seen.0)
                    .bind(lease_until.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(claimed.rows_affected() == 1)
                })
            })
            .await
    }

    async fn finish_webhook_attempt(
        &self,
        id: i64,
        at: Timestamp,
        outcome: WebhookOutcome,
    ) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::finish_webhook_attempt(conn, id, at, &outcome))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let query = match &outcome {
                    WebhookOutcome::Delivered => sqlx::query(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = $2, \
                         next_attempt_at = NULL, last_error = NULL WHERE id = $1",
                    )
                    .bind(id)
                    .bind(at.0),
                    WebhookOutcome::Failed { error, retry_at } => sqlx::query(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $2, \
                         next_attempt_at = $3 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(error.clone())
                    .bind(retry_at.map(|t| t.0)),
                };
                    query.execute(&mut *tx).await.store()?;
                    Ok(())
                })
            })
            .await
    }
}
