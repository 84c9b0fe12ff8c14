//! Conversations, participants, messages, read markers and the feed reads.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::messaging`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::{MEMBER_COLUMNS, MemberRow, ResultExt, SqlStore, corrupt, feed, member_ref};
use crate::sqlite::messaging as sqlite;
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::{
    ConversationKind, ConversationSummary, FeedEntry, Member, MemberRef, Message, MessagingStore,
    NewConversation, NewMessage, Participant, RecommendationCard, Roster, StoreResult, ViaApp,
};
use confidant_core::{ConversationId, MemberId, MessageId, StoreError, Timestamp};

/// A message with its sender's handle and name (null once the sender is deleted), the app
/// it came through and its recommendation card, if any.
pub(crate) const MESSAGE_SELECT: &str = "SELECT m.id, m.conversation_id, m.sender_id, \
     s.handle AS sender_handle, s.display_name AS sender_name, m.body, m.created_at, \
     m.via_app, a.name AS via_app_name, rc.title AS card_title, rc.url AS card_url, \
     rc.image_url AS card_image_url, rc.description AS card_description, \
     rc.item_id AS card_item_id, rc.interface AS card_interface, rc.surface AS card_surface, \
     rc.variation AS card_variation, rc.token AS card_token \
     FROM messages m LEFT JOIN members s ON s.id = m.sender_id \
     LEFT JOIN apps a ON a.client_id = m.via_app \
     LEFT JOIN recommendation_cards rc ON rc.message_id = m.id";

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: i64,
    conversation_id: i64,
    sender_id: Option<i64>,
    sender_handle: Option<String>,
    sender_name: Option<String>,
    body: String,
    created_at: i64,
    via_app: Option<String>,
    via_app_name: Option<String>,
    card_title: Option<String>,
    card_url: Option<String>,
    card_image_url: Option<String>,
    card_description: Option<String>,
    card_item_id: Option<String>,
    card_interface: Option<String>,
    card_surface: Option<String>,
    card_variation: Option<String>,
    card_token: Option<String>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        let card = (|| {
            Some(RecommendationCard {
                title: row.card_title?,
                url: row.card_url?,
                image_url: row.card_image_url,
                description: row.card_description,
                item_id: row.card_item_id?,
                interface: row.card_interface?,
                surface: row.card_surface?,
                variation: row.card_variation?,
                token: row.card_token?,
            })
        })();
        Message {
            id: MessageId(row.id),
            conversation_id: ConversationId(row.conversation_id),
            sender: member_ref(row.sender_id, row.sender_handle, row.sender_name),
            body: row.body,
            created_at: Timestamp(row.created_at),
            via_app: row.via_app.map(|client_id| ViaApp {
                name: row.via_app_name.unwrap_or_else(|| client_id.clone()),
                client_id,
            }),
            card,
        }
    }
}

/// Where a message came from, when an app sent it.
pub(crate) struct Via<'a> {
    pub client_id: &'a str,
    pub send_id: i64,
}

/// Stores a message inside the caller's transaction: marks it read by its sender, moves the
/// conversation's activity time, and appends it to every participant's feed. `NotFound` if
/// the sender is not a participant.
pub(crate) async fn insert_message_in(
    conn: &mut PgConnection,
    new: &NewMessage,
    via: Option<Via<'_>>,
) -> StoreResult<(MessageId, Vec<FeedAdvanced>)> {
    let everyone = participant_ids(conn, new.conversation_id).await?;
    if !everyone.contains(&new.sender) {
        return Err(StoreError::NotFound);
    }
    insert_checked_message_in(conn, new, via, &everyone).await
}

/// [`insert_message_in`] once the caller has checked that the sender is among `everyone`.
async fn insert_checked_message_in(
    conn: &mut PgConnection,
    new: &NewMessage,
    via: Option<Via<'_>>,
    everyone: &[MemberId],
) -> StoreResult<(MessageId, Vec<FeedAdvanced>)> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, sender_id, body, created_at, via_app, \
         partner_send_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.conversation_id.0)
    .bind(new.sender.0)
    .bind(&new.body)
    .bind(new.created_at.0)
    .bind(via.as_ref().map(|via| via.client_id))
    .bind(via.as_ref().map(|via| via.send_id))
    .fetch_one(&mut *conn)
    .await
    .store()?;
    // Neither the conversation's activity time nor the sender's read mark is written here:
    // both are derived from the newest messages when read (see `LAST_READ` and
    // `SUMMARY_SELECT`), so concurrent sends to one conversation lock no shared row.
    let event = LiveEvent::Message {
        conversation_id: new.conversation_id,
        message_id: MessageId(id),
    };
    let advanced = feed::append(conn, everyone, &event, new.created_at).await?;
    Ok((MessageId(id), advanced))
}

/// A member's read mark in a conversation, for a `conversation_members` row named `cm`: the
/// newest of the message they marked read and the newest message they sent. A send does not
/// write the mark (so concurrent sends to one conversation lock no shared row, and a send on
/// SQLite writes one page fewer); it is derived. `$max` is the SQL of the two-argument
/// maximum: `GREATEST` on PostgreSQL, `MAX` on SQLite.
macro_rules! last_read {
    ($max:literal) => {
        concat!(
            $max,
            "(cm.last_read_message_id, COALESCE((SELECT MAX(own.id) FROM messages own \
             WHERE own.sender_id = cm.member_id AND own.conversation_id = cm.conversation_id), 0))"
        )
    };
    () => {
        last_read!("GREATEST")
    };
}
pub(crate) use last_read;

/// A conversation seen by member `$1`: unread count, newest message and, for direct
/// conversations, the other member. Callers append a WHERE clause. The activity time counts
/// the newest message, which a send does not write into the conversation's row.
const SUMMARY_SELECT: &str = concat!(
    "SELECT c.id, c.kind, c.title, c.created_at, \
     GREATEST(c.last_activity_at, COALESCE(lm.created_at, 0)) AS last_activity_at, \
     r.last_read_message_id, \
     (SELECT COUNT(*) FROM messages u WHERE u.conversation_id = c.id \
        AND u.id > r.last_read_message_id AND u.sender_id <> cm.member_id \
        AND (u.via_app IS NULL OR NOT EXISTS (SELECT 1 FROM app_mutes am \
             WHERE am.member_id = cm.member_id AND am.client_id = u.via_app))) AS unread, \
     lm.id AS last_id, lm.sender_id AS last_sender_id, ls.handle AS last_sender_handle, \
     ls.display_name AS last_sender_name, lm.body AS last_body, lm.created_at AS last_created_at, \
     p.id AS peer_id, p.handle AS peer_handle, p.display_name AS peer_name \
     FROM conversation_members cm \
     JOIN conversations c ON c.id = cm.conversation_id \
     CROSS JOIN LATERAL (SELECT ",
    last_read!(),
    " AS last_read_message_id) r \
     LEFT JOIN messages lm ON lm.id = \
        (SELECT MAX(x.id) FROM messages x WHERE x.conversation_id = c.id) \
     LEFT JOIN members ls ON ls.id = lm.sender_id \
     LEFT JOIN members p ON c.kind = 'direct' AND p.id = \
        (SELECT o.member_id FROM conversation_members o \
         WHERE o.conversation_id = c.id AND o.member_id <> cm.member_id LIMIT 1) \
     WHERE cm.member_id = $1"
);

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: i64,
    kind: String,
    title: Option<String>,
    created_at: i64,
    last_activity_at: i64,
    last_read_message_id: i64,
    unread: i64,
    last_id: Option<i64>,
    last_sender_id: Option<i64>,
    last_sender_handle: Option<String>,
    last_sender_name: Option<String>,
    last_body: Option<String>,
    last_created_at: Option<i64>,
    peer_id: Option<i64>,
    peer_handle: Option<String>,
    peer_name: Option<String>,
}

impl From<SummaryRow> for ConversationSummary {
    fn from(row: SummaryRow) -> Self {
        let last_message = match (row.last_id, row.last_body, row.last_created_at) {
            (Some(id), Some(body), Some(created_at)) => Some(Message {
                id: MessageId(id),
                conversation_id: ConversationId(row.id),
                sender: member_ref(
                    row.last_sender_id,
                    row.last_sender_handle,
                    row.last_sender_name,
                ),
                body,
                created_at: Timestamp(created_at),
                via_app: None,
                card: None,
            }),
            _ => None,
        };
        ConversationSummary {
            id: ConversationId(row.id),
            kind: ConversationKind::parse(&row.kind).unwrap_or(ConversationKind::Group),
            title: row.title,
            created_at: Timestamp(row.created_at),
            last_activity_at: Timestamp(row.last_activity_at),
            unread: row.unread,
            last_read: MessageId(row.last_read_message_id),
            last_message,
            peer: member_ref(row.peer_id, row.peer_handle, row.peer_name),
        }
    }
}

async fn participant_ids(
    conn: &mut PgConnection,
    id: ConversationId,
) -> StoreResult<Vec<MemberId>> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT member_id FROM conversation_members WHERE conversation_id = $1")
            .bind(id.0)
            .fetch_all(&mut *conn)
            .await
            .store()?;
    Ok(ids.into_iter().map(MemberId).collect())
}

async fn touch_conversation(
    conn: &mut PgConnection,
    id: ConversationId,
    at: Timestamp,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE conversations SET last_activity_at = $1 WHERE id = $2")
        .bind(at.0)
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .store()?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes a conversation nobody is in any more.
pub(crate) async fn drop_if_empty(conn: &mut PgConnection, id: i64) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM conversations WHERE id = $1 AND NOT EXISTS \
         (SELECT 1 FROM conversation_members WHERE conversation_id = $1)",
    )
    .bind(id)
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(())
}

/// The 1:1 conversation of `sender` and `recipient`, opened (with a `conversation` event in
/// both feeds) if they have none. `Conflict("not_reachable")` unless they are friends with no
/// block either way: checked here, in the transaction that will write to it.
pub(crate) async fn open_direct_in(
    conn: &mut PgConnection,
    sender: MemberId,
    recipient: MemberId,
    at: Timestamp,
) -> StoreResult<(ConversationId, Vec<FeedAdvanced>)> {
    let key = confidant_core::messaging::direct_key(sender, recipient);
    // The check and the usual case, a conversation that exists, in one statement: this runs
    // on the writer, where every statement counts.
    let (friends, blocks, existing): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT \
         (SELECT COUNT(*) FROM friendships WHERE member_id = $1 AND friend_id = $2), \
         (SELECT COUNT(*) FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) \
                                         OR (blocker_id = $2 AND blocked_id = $1)), \
         (SELECT id FROM conversations WHERE direct_key = $3)",
    )
    .bind(sender.0)
    .bind(recipient.0)
    .bind(&key)
    .fetch_one(&mut *conn)
    .await
    .store()?;
    if friends == 0 || blocks > 0 {
        return Err(StoreError::Conflict("not_reachable"));
    }
    if let Some(id) = existing {
        return Ok((ConversationId(id), Vec::new()));
    }
    // A concurrent opening of the same pair wins the key; this one then uses its conversation.
    let created: Option<i64> = sqlx::query_scalar(
        "INSERT INTO conversations \
         (kind, title, direct_key, created_by, created_at, last_activity_at) \
         VALUES ($1, NULL, $2, $3, $4, $4) ON CONFLICT (direct_key) DO NOTHING RETURNING id",
    )
    .bind(ConversationKind::Direct.as_str())
    .bind(&key)
    .bind(sender.0)
    .bind(at.0)
    .fetch_optional(&mut *conn)
    .await
    .store()?;
    let Some(id) = created else {
        let id: i64 = sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
            .bind(&key)
            .fetch_one(&mut *conn)
            .await
            .store()?;
        return Ok((ConversationId(id), Vec::new()));
    };
    let id = ConversationId(id);
    let both = [sender, recipient];
    insert_participants(conn, id, &both, at).await?;
    let event = LiveEvent::Conversation {
        conversation_id: id,
    };
    let advanced = feed::append(conn, &both, &event, at).await?;
    Ok((id, advanced))
}

async fn insert_participants(
    conn: &mut PgConnection,
    id: ConversationId,
    members: &[MemberId],
    at: Timestamp,
) -> StoreResult<()> {
    for member in members {
        sqlx::query(
            "INSERT INTO conversation_members (conversation_id, member_id, joined_at) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(member.0)
        .bind(at.0)
        .execute(&mut *conn)
        .await
        .store()?;
    }
    Ok(())
}

#[async_trait]
impl MessagingStore for SqlStore {
    async fn direct_conversation(&self, key: &str) -> StoreResult<Option<ConversationId>> {
        if let Some(db) = &self.sqlite {
            let key = key.to_owned();
            return db
                .read(move |conn| sqlite::direct_conversation(conn, &key))
                .await;
        }
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                .bind(key)
                .fetch_optional(&self.pg().pool)
                .await
                .store()?;
        Ok(id.map(ConversationId))
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationId, Vec<FeedAdvanced>)> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::create_conversation(conn, &new))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO conversations \
                     (kind, title, direct_key, created_by, created_at, last_activity_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                    )
                    .bind(new.kind.as_str())
                    .bind(new.title.as_deref())
                    .bind(new.direct_key.as_deref())
                    .bind(new.created_by.0)
                    .bind(new.created_at.0)
                    .fetch_one(&mut *tx)
                    .await
                    .store()?;
                    let id = ConversationId(id);
                    insert_participants(tx, id, &new.members, new.created_at).await?;
                    let event = LiveEvent::Conversation {
                        conversation_id: id,
                    };
                    let advanced = feed::append(tx, &new.members, &event, new.created_at).await?;
                    Ok((id, advanced))
                })
            })
            .await
    }

    async fn conversation(
        &self,
        id: ConversationId,
        member: MemberId,
    ) -> StoreResult<Option<ConversationSummary>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::conversation(conn, id, member))
                .await;
        }
        let sql = format!("{SUMMARY_SELECT} AND c.id = $2");
        let row: Option<SummaryRow> = sqlx::query_as(&sql)
            .bind(member.0)
            .bind(id.0)
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        Ok(row.map(ConversationSummary::from))
    }

    async fn roster(&self, id: ConversationId) -> StoreResult<Option<Roster>> {
        let load = async {
            if let Some(db) = &self.sqlite {
                return db.read(move |conn| sqlite::roster(conn, id)).await;
            }
            let kind: Option<String> =
                sqlx::query_scalar("SELECT kind FROM conversations WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&self.pg().pool)
                    .await
                    .store()?;
            let Some(kind) = kind else {
                return Ok(None);
            };
            let members: Vec<i64> = sqlx::query_scalar(
                "SELECT member_id FROM conversation_members WHERE conversation_id = $1",
            )
            .bind(id.0)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
            Ok(Some(Roster {
                kind: ConversationKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                members: members.into_iter().map(MemberId).collect(),
            }))
        };
        let caches = &self.caches;
        caches.get(self, &caches.rosters, id.0, load).await
    }

    async fn participants(&self, id: ConversationId) -> StoreResult<Vec<Participant>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::participants(conn, id)).await;
        }
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            member: MemberRow,
            last_read_message_id: i64,
            joined_at: i64,
        }
        let sql = format!(
            "SELECT {}, {} AS last_read_message_id, cm.joined_at \
             FROM conversation_members cm JOIN members m ON m.id = cm.member_id \
             WHERE cm.conversation_id = $1 ORDER BY cm.joined_at, m.id",
            MEMBER_COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            last_read!(),
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        Ok(rows
            .into_iter()
            .map(|row| Participant {
                member: Member::from(row.member),
                last_read: MessageId(row.last_read_message_id),
                joined_at: Timestamp(row.joined_at),
            })
            .collect())
    }

    async fn conversations(&self, member: MemberId) -> StoreResult<Vec<ConversationSummary>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::conversations(conn, member))
                .await;
        }
        // `last_activity_at` is the derived output column, not the stored one.
        let sql = format!("{SUMMARY_SELECT} ORDER BY last_activity_at DESC, c.id DESC");
        let rows: Vec<SummaryRow> = sqlx::query_as(&sql)
            .bind(member.0)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        Ok(rows.into_iter().map(ConversationSummary::from).collect())
    }

    async fn add_participants(
        &self,
        id: ConversationId,
        members: &[MemberId],
        max_members: i64,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            let members = members.to_owned();
            return db
                .write(move |conn| sqlite::add_participants(conn, id, &members, max_members, at))
                .await;
        }
        let members = members.to_owned();
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    touch_conversation(tx, id, at).await?;
                    insert_participants(tx, id, &members, at).await?;
                    let everyone = participant_ids(tx, id).await?;
                    if everyone.len() as i64 > max_members {
                        return Err(StoreError::Conflict("member_limit"));
                    }
                    let event = LiveEvent::Conversation {
                        conversation_id: id,
                    };
                    let advanced = feed::append(tx, &everyone, &event, at).await?;
                    Ok(advanced)
                })
            })
            .await
    }

    async fn remove_participant(
        &self,
        id: ConversationId,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::remove_participant(conn, id, member, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let removed = sqlx::query(
                        "DELETE FROM conversation_members WHERE conversation_id = $1 AND \
                         member_id = $2",
                    )
                    .bind(id.0)
                    .bind(member.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    if removed.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    // Leaving ends every app's read grant on the conversation for good: being
                    // added back later does not bring it back.
                    sqlx::query(
                        "DELETE FROM thread_grants WHERE conversation_id = $1 AND grant_id IN \
                         (SELECT id FROM grants WHERE member_id = $2)",
                    )
                    .bind(id.0)
                    .bind(member.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    let mut everyone = participant_ids(tx, id).await?;
                    everyone.push(member);
                    let event = LiveEvent::Conversation {
                        conversation_id: id,
                    };
                    let advanced = feed::append(tx, &everyone, &event, at).await?;
                    drop_if_empty(tx, id.0).await?;
                    Ok(advanced)
                })
            })
            .await
    }

    async fn rename_conversation(
        &self,
        id: ConversationId,
        title: &str,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            let title = title.to_owned();
            return db
                .write(move |conn| sqlite::rename_conversation(conn, id, &title, at))
                .await;
        }
        let title = title.to_owned();
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
                        .bind(title)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    let everyone = participant_ids(tx, id).await?;
                    let event = LiveEvent::Conversation {
                        conversation_id: id,
                    };
                    let advanced = feed::append(tx, &everyone, &event, at).await?;
                    Ok(advanced)
                })
            })
            .await
    }

    async fn insert_message(&self, new: NewMessage) -> StoreResult<(Message, Vec<FeedAdvanced>)> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::insert_message(conn, new))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // Who is in the conversation, who the sender is, and (in a 1:1, the only
                    // kind a block closes) whether a block stands between the two, in one
                    // query: the block is checked in the transaction that writes the message,
                    // so a block that committed first always stops it.
                    let everyone: Vec<(i64, String, String, i64)> = sqlx::query_as(
                        "SELECT cm.member_id, m.handle, m.display_name, \
                         CASE WHEN c.kind = 'direct' THEN \
                          (SELECT COUNT(*) FROM blocks b \
                           WHERE (b.blocker_id = $2 AND b.blocked_id = cm.member_id) \
                              OR (b.blocker_id = cm.member_id AND b.blocked_id = $2)) \
                         ELSE 0 END \
                         FROM conversation_members cm JOIN members m ON m.id = cm.member_id \
                         JOIN conversations c ON c.id = cm.conversation_id \
                         WHERE cm.conversation_id = $1",
                    )
                    .bind(new.conversation_id.0)
                    .bind(new.sender.0)
                    .fetch_all(&mut *tx)
                    .await
                    .store()?;
                    let sender = everyone
                        .iter()
                        .find(|(id, ..)| *id == new.sender.0)
                        .map(|(id, handle, name, ..)| MemberRef {
                            id: MemberId(*id),
                            handle: handle.clone(),
                            display_name: name.clone(),
                        })
                        .ok_or(StoreError::NotFound)?;
                    // A group goes on for its other members: blocks are counted in 1:1s only.
                    if everyone.iter().any(|(.., blocks)| *blocks > 0) {
                        return Err(StoreError::Conflict("blocked"));
                    }
                    let ids: Vec<MemberId> =
                        everyone.iter().map(|(id, ..)| MemberId(*id)).collect();
                    let (id, advanced) = insert_checked_message_in(tx, &new, None, &ids).await?;
                    let message = Message {
                        id,
                        conversation_id: new.conversation_id,
                        sender: Some(sender),
                        body: new.body,
                        created_at: new.created_at,
                        via_app: None,
                        card: None,
                    };
                    Ok((message, advanced))
                })
            })
            .await
    }

    async fn message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::message(conn, id)).await;
        }
        let row: Option<MessageRow> = sqlx::query_as(&format!("{MESSAGE_SELECT} WHERE m.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        Ok(row.map(Message::from))
    }

    async fn messages(
        &self,
        id: ConversationId,
        before: Option<MessageId>,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::messages(conn, id, before, limit))
                .await;
        }
        let sql = format!(
            "{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT \
             $3"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(&sql)
            .bind(id.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(limit)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        Ok(rows.into_iter().map(Message::from).collect())
    }

    async fn mark_read(
        &self,
        id: ConversationId,
        member: MemberId,
        up_to: MessageId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::mark_read(conn, id, member, up_to, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // Only a mark that moves forward past the derived one is news.
                    let moved = sqlx::query(concat!(
                        "UPDATE conversation_members cm SET last_read_message_id = $1 \
                         WHERE conversation_id = $2 AND member_id = $3 AND ",
                        last_read!(),
                        " < $1"
                    ))
                    .bind(up_to.0)
                    .bind(id.0)
                    .bind(member.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    if moved.rows_affected() == 0 {
                        return Ok(Vec::new());
                    }
                    let everyone = participant_ids(tx, id).await?;
                    let event = LiveEvent::Read {
                        conversation_id: id,
                        member_id: member,
                        message_id: up_to,
                    };
                    let advanced = feed::append(tx, &everyone, &event, at).await?;
                    Ok(advanced)
                })
            })
            .await
    }

    async fn feed_since(
        &self,
        member: MemberId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<FeedEntry>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::feed_since(conn, member, after_seq, limit))
                .await;
        }
        feed::since(&self.pg().pool, member, after_seq, limit).await
    }

    async fn feed_head(&self, member: MemberId) -> StoreResult<i64> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::feed_head(conn, member)).await;
        }
        feed::head(&self.pg().pool, member).await
    }

    async fn purge_feed(&self, before: Timestamp) -> StoreResult<u64> {
        // In small batches with a pause between them, so that purging a large backlog (the
        // first start after an upgrade) neither holds the writer (or locks) for long nor
        // crowds out sends. Sends on SQLite while 2,000,000 rows were purged: 0.23× their rate
        // in batches of 10,000 without pauses, 0.69× like this (BENCHMARKS.md).
        const BATCH: i64 = 2_000;
        const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
        let mut purged = 0;
        loop {
            let deleted = if let Some(db) = &self.sqlite {
                db.write(move |conn| sqlite::purge_feed(conn, before, BATCH))
                    .await?
            } else {
                sqlx::query(
                    "DELETE FROM member_feed WHERE ctid = ANY(ARRAY( \
                     SELECT ctid FROM member_feed WHERE created_at < $1 LIMIT $2))",
                )
                .bind(before.0)
                .bind(BATCH)
                .execute(&self.pg().pool)
                .await
                .store()?
                .rows_affected()
            };
            purged += deleted;
            if deleted < BATCH as u64 {
                return Ok(purged);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    async fn feed_heads(&self, members: &[MemberId]) -> StoreResult<Vec<(MemberId, i64)>> {
        if let Some(db) = &self.sqlite {
            let members = members.to_vec();
            return db
                .read(move |conn| sqlite::feed_heads(conn, &members))
                .await;
        }
        feed::heads(&self.pg().pool, members).await
    }
}
