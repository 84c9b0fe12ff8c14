//! Web Push subscriptions and the push outbox.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::push`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;

use super::{ResultExt, SqlStore};
use crate::sqlite::push as sqlite;
use confidant_core::store::{
    DuePush, MessagingStore, NewPushSubscription, PushStore, PushSubscription, StoreResult,
};
use confidant_core::{MemberId, MessageId, StoreError, Timestamp};

const SUBSCRIPTION_COLUMNS: &str =
    "id, member_id, endpoint, p256dh, auth, show_text, created_at, streaming_until";

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    member_id: i64,
    endpoint: String,
    p256dh: String,
    auth: String,
    show_text: bool,
    created_at: i64,
    streaming_until: Option<i64>,
}

impl From<SubscriptionRow> for PushSubscription {
    fn from(row: SubscriptionRow) -> Self {
        PushSubscription {
            id: row.id,
            member_id: MemberId(row.member_id),
            endpoint: row.endpoint,
            p256dh: row.p256dh,
            auth: row.auth,
            show_text: row.show_text,
            created_at: Timestamp(row.created_at),
        }
    }
}

#[async_trait]
impl PushStore for SqlStore {
    async fn save_push_subscription(
        &self,
        new: NewPushSubscription,
        max: i64,
    ) -> StoreResult<PushSubscription> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::save_push_subscription(conn, &new, max))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = $1")
                        .bind(&new.endpoint)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    // Counted under the member's own row lock, so two browsers subscribing
                    // at once cannot both pass the limit.
                    sqlx::query("SELECT 1 FROM members WHERE id = $1 FOR UPDATE")
                        .bind(new.member_id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM push_subscriptions WHERE member_id = $1",
                    )
                    .bind(new.member_id.0)
                    .fetch_one(&mut *tx)
                    .await
                    .store()?;
                    if count >= max {
                        return Err(StoreError::Conflict("too_many_devices"));
                    }
                    let row: SubscriptionRow = sqlx::query_as(&format!(
                        "INSERT INTO push_subscriptions (member_id, endpoint, p256dh, auth, \
                         show_text, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         RETURNING {SUBSCRIPTION_COLUMNS}"
                    ))
                    .bind(new.member_id.0)
                    .bind(&new.endpoint)
                    .bind(&new.p256dh)
                    .bind(&new.auth)
                    .bind(new.show_text)
                    .bind(new.created_at.0)
                    .fetch_one(&mut *tx)
                    .await
                    .store()?;
                    Ok(row.into())
                })
            })
            .await
    }

    async fn push_subscriptions(&self, member: MemberId) -> StoreResult<Vec<PushSubscription>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::push_subscriptions(conn, member))
                .await;
        }
        let rows: Vec<SubscriptionRow> = sqlx::query_as(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE member_id = $1 \
             ORDER BY id"
        ))
        .bind(member.0)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        Ok(rows.into_iter().map(PushSubscription::from).collect())
    }

    async fn delete_push_subscription(&self, id: i64, member: MemberId) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_push_subscription(conn, id, member))
                .await;
        }
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1 AND member_id = $2")
            .bind(id)
            .bind(member.0)
            .execute(&self.pg().pool)
            .await
            .store()
            .map(|done| done.rows_affected() > 0)
    }

    async fn drop_push_subscription(&self, id: i64) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::drop_push_subscription(conn, id))
                .await;
        }
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&self.pg().pool)
            .await
            .store()
            .map(drop)
    }

    async fn set_push_streaming(
        &self,
        id: i64,
        member: MemberId,
        until: Option<Timestamp>,
    ) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_push_streaming(conn, id, member, until))
                .await;
        }
        sqlx::query(
            "UPDATE push_subscriptions SET streaming_until = $1 WHERE id = $2 AND member_id = $3",
        )
        .bind(until.map(|at| at.0))
        .bind(id)
        .bind(member.0)
        .execute(&self.pg().pool)
        .await
        .store()
        .map(|done| done.rows_affected() > 0)
    }

    async fn claim_due_pushes(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<DuePush>> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::claim_due_pushes(conn, now, lease_until, limit))
                .await;
        }
        // SKIP LOCKED: nodes claiming at once each take different pushes.
        let claimed: Vec<(i64, i64, i64, i32)> = sqlx::query_as(
            "UPDATE push_deliveries SET next_attempt_at = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM push_deliveries WHERE next_attempt_at <= $1 \
                          ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, subscription_id, message_id, attempts",
        )
        .bind(now.0)
        .bind(lease_until.0)
        .bind(limit)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        let mut due = Vec::with_capacity(claimed.len());
        for (id, subscription, message_id, attempts) in claimed {
            let subscription: Option<SubscriptionRow> = sqlx::query_as(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE id = $1"
            ))
            .bind(subscription)
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
            let message = self.message(MessageId(message_id)).await?;
            match (subscription, message) {
                (Some(subscription), Some(message)) if !message.deleted => due.push(DuePush {
                    id,
                    attempts: attempts.max(0) as u32,
                    streaming: subscription
                        .streaming_until
                        .is_some_and(|until| until > now.0),
                    subscription: subscription.into(),
                    message,
                }),
                // Deleted before it was pushed: nothing to say.
                _ => self.finish_push(id).await?,
            }
        }
        Ok(due)
    }

    async fn finish_push(&self, id: i64) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db.write(move |conn| sqlite::finish_push(conn, id)).await;
        }
        sqlx::query("DELETE FROM push_deliveries WHERE id = $1")
            .bind(id)
            .execute(&self.pg().pool)
            .await
            .store()
            .map(drop)
    }

    async fn retry_push(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db.write(move |conn| sqlite::retry_push(conn, id, at)).await;
        }
        sqlx::query("UPDATE push_deliveries SET next_attempt_at = $1 WHERE id = $2")
            .bind(at.0)
            .bind(id)
            .execute(&self.pg().pool)
            .await
            .store()
            .map(drop)
    }
}
