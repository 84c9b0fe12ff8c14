//! What partner apps send for members: sends, their labelled messages and cards.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::partner`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::engagement::contribute_in;
use super::limits::take_one_or_wait_in;
use super::messaging::{EarlierAppends, Via, insert_message_in, open_direct_in};
use super::{ResultExt, SqlStore, accesslog};
use crate::sqlite::partner as sqlite;
use confidant_core::store::{
    Delivery, NewLogEntry, NewMessage, NewPartnerSend, PartnerSendRecord, PartnerStore,
    SendOutcome, StoreResult, ViaApp,
};
use confidant_core::{MemberId, MessageId, StoreError, Timestamp};

/// The send with its deliveries, inside the caller's transaction or on the readers.
async fn send_record(
    conn: &mut PgConnection,
    client_id: &str,
    member: MemberId,
    id: i64,
) -> StoreResult<Option<PartnerSendRecord>> {
    let created_at: Option<i64> = sqlx::query_scalar(
        "SELECT created_at FROM partner_sends WHERE id = $1 AND client_id = $2 AND member_id = $3",
    )
    .bind(id)
    .bind(client_id)
    .bind(member.0)
    .fetch_optional(&mut *conn)
    .await
    .store()?;
    let Some(created_at) = created_at else {
        return Ok(None);
    };
    // The recipient of a message in a 1:1 conversation is its other participant.
    let deliveries: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT cm.member_id, m.id, m.created_at FROM messages m \
         JOIN conversation_members cm ON cm.conversation_id = m.conversation_id \
           AND cm.member_id <> m.sender_id \
         WHERE m.partner_send_id = $1 ORDER BY m.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .store()?;
    Ok(Some(PartnerSendRecord {
        id,
        created_at: Timestamp(created_at),
        deliveries: deliveries
            .into_iter()
            .map(|(recipient, message, at)| Delivery {
                recipient: MemberId(recipient),
                message_id: MessageId(message),
                delivered_at: Timestamp(at),
            })
            .collect(),
    }))
}

#[async_trait]
impl PartnerStore for SqlStore {
    async fn reachable_recipients(
        &self,
        client_id: &str,
        sender: MemberId,
        pseudonyms: &[String],
    ) -> StoreResult<Vec<(String, MemberId)>> {
        if let Some(db) = &self.sqlite {
            let (client_id, pseudonyms) = (client_id.to_owned(), pseudonyms.to_owned());
            return db
                .read(move |conn| {
                    sqlite::reachable_recipients(conn, &client_id, sender, &pseudonyms)
                })
                .await;
        }
        if pseudonyms.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (0..pseudonyms.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT g.pseudonym, g.member_id FROM grants g \
             WHERE g.client_id = $1 AND g.revoked_at IS NULL AND g.member_id <> $2 \
             AND g.pseudonym IN ({placeholders}) \
             AND EXISTS (SELECT 1 FROM friendships f \
                         WHERE f.member_id = $2 AND f.friend_id = g.member_id) \
             AND NOT EXISTS (SELECT 1 FROM blocks b \
                             WHERE (b.blocker_id = $2 AND b.blocked_id = g.member_id) \
                                OR (b.blocker_id = g.member_id AND b.blocked_id = $2))"
        );
        let mut query = sqlx::query_as(&sql).bind(client_id).bind(sender.0);
        for pseudonym in pseudonyms {
            query = query.bind(pseudonym);
        }
        let rows: Vec<(String, i64)> = query.fetch_all(&self.pg().pool).await.store()?;
        Ok(rows
            .into_iter()
            .map(|(pseudonym, member)| (pseudonym, MemberId(member)))
            .collect())
    }

    async fn send_partner_messages(
        &self,
        send: NewPartnerSend,
        log: NewLogEntry,
    ) -> StoreResult<SendOutcome> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::send_partner_messages(conn, &send, &log))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    if let Some(key) = &send.idempotency_key {
                        let earlier: Option<(i64, String)> = sqlx::query_as(
                            "SELECT id, request_hash FROM partner_sends \
                             WHERE client_id = $1 AND member_id = $2 AND idempotency_key = $3",
                        )
                        .bind(&send.client_id)
                        .bind(send.member_id.0)
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await
                        .store()?;
                        if let Some((id, hash)) = earlier {
                            if hash != send.request_hash {
                                return Ok(SendOutcome::KeyReused);
                            }
                            let record =
                                send_record(tx, &send.client_id, send.member_id, id).await?;
                            return Ok(record.map_or(SendOutcome::KeyReused, SendOutcome::Replayed));
                        }
                    }
                    if let Some(budget) = &send.budget
                        && let Some(retry_after_secs) =
                            take_one_or_wait_in(tx, budget, send.created_at).await?
                    {
                        // Nothing was written yet: the transaction ends with nothing in it.
                        return Ok(SendOutcome::RateLimited { retry_after_secs });
                    }
                    let send_id: i64 = sqlx::query_scalar(
                        "INSERT INTO partner_sends (client_id, member_id, idempotency_key, \
                         request_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(&send.client_id)
                    .bind(send.member_id.0)
                    .bind(&send.idempotency_key)
                    .bind(&send.request_hash)
                    .bind(send.created_at.0)
                    .fetch_one(&mut *tx)
                    .await
                    .store()?;
                    let mut ids = Vec::with_capacity(send.messages.len());
                    let mut advanced = Vec::new();
                    for message in &send.messages {
                        let (conversation_id, opened) =
                            open_direct_in(tx, send.member_id, message.recipient, send.created_at)
                                .await?;
                        advanced.extend(opened);
                        let new = NewMessage {
                            conversation_id,
                            sender: send.member_id,
                            body: message.body.clone(),
                            reply_to: None,
                            client_key: None,
                            attachments: Vec::new(),
                            created_at: send.created_at,
                        };
                        let via = Via {
                            client_id: &send.client_id,
                            send_id,
                        };
                        let inserted =
                            insert_message_in(tx, &new, Some(via), EarlierAppends::Possible)
                                .await?;
                        let (id, feeds) = (inserted.id, inserted.advanced);
                        if let Some(card) = &message.card {
                            sqlx::query(
                                "INSERT INTO recommendation_cards (message_id, title, url, \
                                 image_url, \
                                 description, item_id, interface, surface, variation, token) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                            )
                            .bind(id.0)
                            .bind(&card.title)
                            .bind(&card.url)
                            .bind(&card.image_url)
                            .bind(&card.description)
                            .bind(&card.item_id)
                            .bind(&card.interface)
                            .bind(&card.surface)
                            .bind(&card.variation)
                            .bind(&card.token)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                        }
                        ids.push(id);
                        advanced.extend(feeds);
                    }
                    for contribution in &send.contributions {
                        contribute_in(tx, contribution).await?;
                    }
                    accesslog::append_with_others(tx, &log, &send.about_recipients).await?;
                    // A send is a use of the grant, like a read: it keeps the grant from going
                    // idle.
                    sqlx::query(
                        "UPDATE grants SET last_used_at = $3 WHERE member_id = $1 AND \
                        client_id = $2",
                    )
                    .bind(send.member_id.0)
                    .bind(&send.client_id)
                    .bind(send.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(SendOutcome::Sent {
                        record: send.stored_as(send_id, &ids),
                        advanced,
                    })
                })
            })
            .await
    }

    async fn partner_send(
        &self,
        client_id: &str,
        member: MemberId,
        id: i64,
    ) -> StoreResult<Option<PartnerSendRecord>> {
        if let Some(db) = &self.sqlite {
            let client_id = client_id.to_owned();
            return db
                .read(move |conn| sqlite::partner_send(conn, &client_id, member, id))
                .await;
        }
        let mut conn = self.pg().pool.acquire().await.store()?;
        send_record(&mut conn, client_id, member, id).await
    }

    async fn mute_app(&self, member: MemberId, client_id: &str, at: Timestamp) -> StoreResult<()> {
        let client_id = client_id.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::mute_app(conn, member, &client_id, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let exists: Option<String> =
                        sqlx::query_scalar("SELECT client_id FROM apps WHERE client_id = $1")
                            .bind(&client_id)
                            .fetch_optional(&mut *tx)
                            .await
                            .store()?;
                    if exists.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query(
                    "INSERT INTO app_mutes (member_id, client_id, muted_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (member_id, client_id) DO NOTHING",
                )
                .bind(member.0)
                .bind(client_id)
                .bind(at.0)
                .execute(&mut *tx)
                .await
                .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn unmute_app(&self, member: MemberId, client_id: &str) -> StoreResult<bool> {
        let client_id = client_id.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::unmute_app(conn, member, &client_id))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let deleted = sqlx::query(
                        "DELETE FROM app_mutes WHERE member_id = $1 AND client_id = $2",
                    )
                    .bind(member.0)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(deleted.rows_affected() > 0)
                })
            })
            .await
    }

    async fn muted_apps(&self, member: MemberId) -> StoreResult<Vec<ViaApp>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::muted_apps(conn, member)).await;
        }
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.client_id, a.name FROM app_mutes m JOIN apps a ON a.client_id = m.client_id \
             WHERE m.member_id = $1 ORDER BY a.name",
        )
        .bind(member.0)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        Ok(rows
            .into_iter()
            .map(|(client_id, name)| ViaApp { client_id, name })
            .collect())
    }

    async fn set_count_clicks(&self, member: MemberId, count: bool) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_count_clicks(conn, member, count))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("UPDATE members SET count_clicks = $2 WHERE id = $1")
                        .bind(member.0)
                        .bind(i64::from(count))
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn count_clicks(&self, member: MemberId) -> StoreResult<bool> {
        let load = async {
            if let Some(db) = &self.sqlite {
                return db
                    .read(move |conn| sqlite::count_clicks(conn, member))
                    .await;
            }
            let mut conn = self.pg().pool.acquire().await.store()?;
            counts_clicks_in(&mut conn, member).await
        };
        let caches = &self.caches;
        caches
            .get(self, &caches.click_consent, member.0, load)
            .await?
            .ok_or(StoreError::NotFound)
    }
}

/// Whether the member lets their clicks be counted; `None` if there is no such member.
pub(crate) async fn counts_clicks_in(
    conn: &mut PgConnection,
    member: MemberId,
) -> StoreResult<Option<bool>> {
    let count: Option<i64> = sqlx::query_scalar("SELECT count_clicks FROM members WHERE id = $1")
        .bind(member.0)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    Ok(count.map(|count| count != 0))
}
