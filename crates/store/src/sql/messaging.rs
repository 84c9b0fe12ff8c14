//! Conversations, participants, messages, read markers and the feed reads.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::messaging`); the SQL here serves
//! PostgreSQL.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::PgConnection;

use super::attachments::{link_attachments, unlink_attachments};
use super::{MEMBER_COLUMNS, MemberRow, ResultExt, SqlStore, corrupt, feed, member_ref};
use crate::sqlite::messaging as sqlite;
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::messaging::quote_excerpt;
use confidant_core::store::{
    ConversationKind, ConversationSummary, FeedEntry, FeedTail, Member, MemberRef, Message,
    MessagingStore, NewConversation, NewMessage, Participant, Quote, RecommendationCard, Roster,
    StoreResult, SystemLine, ViaApp,
};
use confidant_core::{ConversationId, MemberId, MessageId, StoreError, Timestamp};

/// The columns of a message as [`MessageRow`] reads them: its sender's handle and name (null
/// once the sender is deleted), the app it came through, its recommendation card, the member a
/// system line names, and the message it answers. Joined by [`MESSAGE_JOINS`]; SQLite reads
/// them by position, in this order.
pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.sender_id, \
     s.handle AS sender_handle, s.display_name AS sender_name, m.body, m.created_at, \
     m.via_app, a.name AS via_app_name, rc.title AS card_title, rc.url AS card_url, \
     rc.image_url AS card_image_url, rc.description AS card_description, \
     rc.item_id AS card_item_id, rc.interface AS card_interface, rc.surface AS card_surface, \
     rc.variation AS card_variation, rc.token AS card_token, m.edited_at, m.deleted_at, \
     m.system_kind, m.subject_id, subj.handle AS subject_handle, \
     subj.display_name AS subject_name, q.id AS quote_id, q.sender_id AS quote_sender_id, \
     qs.handle AS quote_sender_handle, qs.display_name AS quote_sender_name, \
     q.body AS quote_body, q.deleted_at AS quote_deleted_at";

/// The joins [`MESSAGE_COLUMNS`] reads from, for messages named `m`. Only a message an app
/// sent has a card: the others skip the card lookup, as they skip the others' on a null key.
pub(crate) const MESSAGE_JOINS: &str = "LEFT JOIN members s ON s.id = m.sender_id \
     LEFT JOIN apps a ON a.client_id = m.via_app \
     LEFT JOIN recommendation_cards rc \
         ON rc.message_id = CASE WHEN m.via_app IS NOT NULL THEN m.id END \
     LEFT JOIN members subj ON subj.id = m.subject_id \
     LEFT JOIN messages q ON q.id = m.reply_to \
     LEFT JOIN members qs ON qs.id = q.sender_id";

/// Messages the viewer bound as `$viewer` has not removed from their view; `$viewer` is the
/// placeholder (`$4`, `?4`).
macro_rules! not_hidden {
    ($viewer:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.member_id = ",
            $viewer,
            " AND h.message_id = m.id)"
        )
    };
}
pub(crate) use not_hidden;

#[derive(sqlx::FromRow, Default)]
pub(crate) struct MessageRow {
    pub id: i64,
    pub conversation_id: i64,
    pub sender_id: Option<i64>,
    pub sender_handle: Option<String>,
    pub sender_name: Option<String>,
    pub body: String,
    pub created_at: i64,
    pub via_app: Option<String>,
    pub via_app_name: Option<String>,
    pub card_title: Option<String>,
    pub card_url: Option<String>,
    pub card_image_url: Option<String>,
    pub card_description: Option<String>,
    pub card_item_id: Option<String>,
    pub card_interface: Option<String>,
    pub card_surface: Option<String>,
    pub card_variation: Option<String>,
    pub card_token: Option<String>,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub system_kind: Option<String>,
    pub subject_id: Option<i64>,
    pub subject_handle: Option<String>,
    pub subject_name: Option<String>,
    pub quote_id: Option<i64>,
    pub quote_sender_id: Option<i64>,
    pub quote_sender_handle: Option<String>,
    pub quote_sender_name: Option<String>,
    pub quote_body: Option<String>,
    pub quote_deleted_at: Option<i64>,
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
        let system = row.system_kind.as_deref().and_then(|kind| {
            let subject = member_ref(row.subject_id, row.subject_handle, row.subject_name);
            SystemLine::from_stored(kind, subject, &row.body)
        });
        let reply_to = row.quote_id.map(|id| Quote {
            id: MessageId(id),
            sender: member_ref(
                row.quote_sender_id,
                row.quote_sender_handle,
                row.quote_sender_name,
            ),
            body: quote_excerpt(row.quote_body.as_deref().unwrap_or_default()),
            deleted: row.quote_deleted_at.is_some(),
        });
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
            edited_at: row.edited_at.map(Timestamp),
            deleted: row.deleted_at.is_some(),
            reply_to,
            system,
            attachments: Vec::new(),
        }
    }
}

/// Where a message came from, when an app sent it.
pub(crate) struct Via<'a> {
    pub client_id: &'a str,
    pub send_id: i64,
}

/// A message as [`insert_message_in`] stored it.
pub(crate) struct Inserted {
    pub id: MessageId,
    /// The sender, as the conversation's roster names them.
    pub sender: MemberRef,
    pub advanced: Vec<FeedAdvanced>,
}

/// Stores a message in one statement, so that a send outside a transaction is one round trip
/// and one commit: it checks that the sender is in the conversation and (in a 1:1, the only
/// kind a block closes) that no block stands between the two, inserts the message, appends
/// it to every participant's feed and queues the recipients' pushes. The checks run in the
/// statement that writes, so a block that committed first always stops the message.
///
/// `NotFound` if the sender is not a participant, `Conflict("blocked")` if a block stands,
/// `Conflict(KEY_USED)` if the sender's draft key is already used; nothing is written then.
///
/// Neither the conversation's activity time nor the sender's read mark is written: both are
/// derived from the newest messages when read (see `LAST_READ` and `SUMMARY_SELECT`), so
/// concurrent sends to one conversation lock no shared row.
pub(crate) async fn insert_message_in(
    conn: &mut PgConnection,
    new: &NewMessage,
    via: Option<Via<'_>>,
    earlier: EarlierAppends,
) -> StoreResult<Inserted> {
    // The event names the message, whose id the statement makes: it fills it in.
    let event = LiveEvent::Message {
        conversation_id: new.conversation_id,
        message_id: MessageId(0),
    };
    let event = serde_json::to_string(&event).map_err(|e| StoreError::Backend(Box::new(e)))?;
    type Row = (
        Option<i64>,
        Option<String>,
        Option<String>,
        bool,
        Vec<i64>,
        Vec<i64>,
    );
    let (id, handle, name, blocked, members, positions): Row =
        sqlx::query_as(INSERT_MESSAGE.as_str())
            .bind(new.conversation_id.0)
            .bind(new.sender.0)
            .bind(&new.body)
            .bind(new.created_at.0)
            .bind(via.as_ref().map(|via| via.client_id))
            .bind(via.as_ref().map(|via| via.send_id))
            .bind(new.reply_to.map(|id| id.0))
            .bind(new.client_key.as_deref())
            .bind(&event)
            .bind(matches!(earlier, EarlierAppends::Possible))
            .fetch_one(&mut *conn)
            .await
            .store()?;
    let (Some(handle), Some(display_name)) = (handle, name) else {
        return Err(StoreError::NotFound);
    };
    if blocked {
        return Err(StoreError::Conflict("blocked"));
    }
    let id = id.ok_or(StoreError::Conflict(KEY_USED))?;
    let advanced = members
        .into_iter()
        .zip(positions)
        .map(|(member, seq)| FeedAdvanced {
            member: MemberId(member),
            seq,
        })
        .collect();
    Ok(Inserted {
        id: MessageId(id),
        sender: MemberRef {
            id: new.sender,
            handle,
            display_name,
        },
        advanced,
    })
}

/// Whether the transaction a message is stored in may already have appended to a feed. Its
/// feed positions then count those rows; a statement that is the transaction's first append
/// spares itself the count (and were it not, the positions would collide and the statement
/// fail, not write a wrong order).
#[derive(Debug, Clone, Copy)]
pub(crate) enum EarlierAppends {
    None,
    Possible,
}

/// [`insert_message_in`]'s statement: `$1` conversation, `$2` sender, `$3` body, `$4` time,
/// `$5` app, `$6` partner send, `$7` reply, `$8` draft key, `$9` the feed event with the
/// message id to fill in, `$10` whether to count earlier appends. Answers one row: the message
/// id (null if nothing was written), the sender's handle and name (null if not a
/// participant), whether a block stands, and the feed positions written, as member ids and
/// positions in member order.
static INSERT_MESSAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH roster AS ( \
           SELECT cm.member_id, m.handle, m.display_name, c.kind = 'direct' AND EXISTS ( \
                    SELECT 1 FROM blocks b \
                    WHERE (b.blocker_id = $2 AND b.blocked_id = cm.member_id) \
                       OR (b.blocker_id = cm.member_id AND b.blocked_id = $2)) AS blocked \
           FROM conversation_members cm JOIN members m ON m.id = cm.member_id \
           JOIN conversations c ON c.id = cm.conversation_id \
           WHERE cm.conversation_id = $1), \
         message AS ( \
           INSERT INTO messages (conversation_id, sender_id, body, created_at, via_app, \
                                 partner_send_id, reply_to, client_key) \
           SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
           WHERE EXISTS (SELECT 1 FROM roster WHERE member_id = $2) \
             AND NOT EXISTS (SELECT 1 FROM roster WHERE blocked) \
           ON CONFLICT (sender_id, client_key) WHERE client_key IS NOT NULL DO NOTHING \
           RETURNING id), \
         feed AS ( \
           INSERT INTO member_feed (member_id, seq, event, created_at) \
           SELECT r.member_id, tx.base + 1 + CASE WHEN $10 THEN {earlier} ELSE 0 END, \
                  jsonb_set($9::jsonb, '{{message_id}}', to_jsonb(message.id))::text, $4 \
           FROM message, roster r, {this_transaction} \
           RETURNING member_id, seq), \
         pushes AS ( \
           INSERT INTO push_deliveries (subscription_id, message_id, next_attempt_at) \
           SELECT s.id, message.id, $4 FROM message, push_subscriptions s \
           WHERE s.member_id IN (SELECT member_id FROM roster WHERE member_id <> $2) \
             AND (s.streaming_until IS NULL OR s.streaming_until <= $4) \
             AND NOT EXISTS (SELECT 1 FROM app_mutes am \
                             WHERE am.member_id = s.member_id AND am.client_id = $5)) \
         SELECT (SELECT id FROM message), sender.handle, sender.display_name, \
                EXISTS (SELECT 1 FROM roster WHERE blocked), \
                ARRAY(SELECT member_id FROM feed ORDER BY member_id), \
                ARRAY(SELECT seq FROM feed ORDER BY member_id) \
         FROM (SELECT 1) AS one LEFT JOIN roster sender ON sender.member_id = $2",
        earlier = feed::earlier_rows!("r.member_id"),
        this_transaction = feed::THIS_TRANSACTION,
    )
});

/// The error a send whose draft key is already used ends its transaction with.
const KEY_USED: &str = "client_key_used";

/// `SELECT` of [`MESSAGE_COLUMNS`] from messages `m` and [`MESSAGE_JOINS`], then `rest`.
pub(crate) fn select_messages(rest: &str) -> String {
    format!("SELECT {MESSAGE_COLUMNS} FROM messages m {MESSAGE_JOINS} {rest}")
}

/// Tells everyone in the conversation that one of its messages changed.
async fn announce_message_change(
    conn: &mut PgConnection,
    conversation: ConversationId,
    message: MessageId,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let everyone = participant_ids(conn, conversation).await?;
    let event = LiveEvent::MessageChanged {
        conversation_id: conversation,
        message_id: message,
    };
    feed::append(conn, &everyone, &event, at).await
}

/// A group's own line as it is stored: see [`SystemLine::from_stored`].
#[derive(Clone, Copy)]
pub(crate) struct StoredLine<'a> {
    pub kind: &'static str,
    pub subject: Option<MemberId>,
    pub body: &'a str,
}

impl<'a> StoredLine<'a> {
    pub fn added(member: MemberId) -> Self {
        Self {
            kind: "added",
            subject: Some(member),
            body: "",
        }
    }

    pub fn left() -> Self {
        Self {
            kind: "left",
            subject: None,
            body: "",
        }
    }

    pub fn renamed(title: &'a str) -> Self {
        Self {
            kind: "renamed",
            subject: None,
            body: title,
        }
    }
}

/// Writes a group's own line about a change `by` made, and hands it to everyone's feed.
async fn insert_system_line(
    conn: &mut PgConnection,
    id: ConversationId,
    by: MemberId,
    line: StoredLine<'_>,
    everyone: &[MemberId],
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let message: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, sender_id, body, created_at, system_kind, \
         subject_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(id.0)
    .bind(by.0)
    .bind(line.body)
    .bind(at.0)
    .bind(line.kind)
    .bind(line.subject.map(|member| member.0))
    .fetch_one(&mut *conn)
    .await
    .store()?;
    let event = LiveEvent::Message {
        conversation_id: id,
        message_id: MessageId(message),
    };
    feed::append(conn, everyone, &event, at).await
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
        AND u.system_kind IS NULL AND u.deleted_at IS NULL \
        AND (u.via_app IS NULL OR NOT EXISTS (SELECT 1 FROM app_mutes am \
             WHERE am.member_id = cm.member_id AND am.client_id = u.via_app) \
             AND NOT EXISTS (SELECT 1 FROM hidden_messages h \
             WHERE h.member_id = cm.member_id AND h.message_id = u.id))) AS unread, \
     lm.id AS last_id, lm.sender_id AS last_sender_id, ls.handle AS last_sender_handle, \
     ls.display_name AS last_sender_name, lm.body AS last_body, lm.created_at AS last_created_at, \
     lm.system_kind AS last_system_kind, lm.deleted_at AS last_deleted_at, \
     lm.subject_id AS last_subject_id, lsj.handle AS last_subject_handle, \
     lsj.display_name AS last_subject_name, \
     p.id AS peer_id, p.handle AS peer_handle, p.display_name AS peer_name \
     FROM conversation_members cm \
     JOIN conversations c ON c.id = cm.conversation_id \
     CROSS JOIN LATERAL (SELECT ",
    last_read!(),
    " AS last_read_message_id) r \
     LEFT JOIN messages lm ON lm.id = \
        (SELECT MAX(x.id) FROM messages x WHERE x.conversation_id = c.id) \
     LEFT JOIN members ls ON ls.id = lm.sender_id \
     LEFT JOIN members lsj ON lsj.id = lm.subject_id \
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
    last_system_kind: Option<String>,
    last_deleted_at: Option<i64>,
    last_subject_id: Option<i64>,
    last_subject_handle: Option<String>,
    last_subject_name: Option<String>,
    peer_id: Option<i64>,
    peer_handle: Option<String>,
    peer_name: Option<String>,
}

impl From<SummaryRow> for ConversationSummary {
    fn from(row: SummaryRow) -> Self {
        let last_message = summary_message(
            row.id,
            row.last_id,
            member_ref(
                row.last_sender_id,
                row.last_sender_handle,
                row.last_sender_name,
            ),
            row.last_body,
            row.last_created_at,
            row.last_system_kind.as_deref(),
            member_ref(
                row.last_subject_id,
                row.last_subject_handle,
                row.last_subject_name,
            ),
            row.last_deleted_at,
        );
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

/// A conversation's newest message as its summary shows it (with no card, quote or app).
#[allow(clippy::too_many_arguments)]
pub(crate) fn summary_message(
    conversation: i64,
    id: Option<i64>,
    sender: Option<MemberRef>,
    body: Option<String>,
    created_at: Option<i64>,
    system_kind: Option<&str>,
    subject: Option<MemberRef>,
    deleted_at: Option<i64>,
) -> Option<Message> {
    let (id, body, created_at) = (id?, body?, created_at?);
    let system = system_kind.and_then(|kind| SystemLine::from_stored(kind, subject, &body));
    let mut message = Message::written(
        MessageId(id),
        ConversationId(conversation),
        sender,
        body,
        Timestamp(created_at),
    );
    message.system = system;
    message.deleted = deleted_at.is_some();
    Some(message)
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

/// Adds the members not already in; returns those it added.
async fn insert_participants(
    conn: &mut PgConnection,
    id: ConversationId,
    members: &[MemberId],
    at: Timestamp,
) -> StoreResult<Vec<MemberId>> {
    let ids: Vec<i64> = members.iter().map(|member| member.0).collect();
    let added: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO conversation_members (conversation_id, member_id, joined_at) \
         SELECT $1, member_id, $3 FROM UNNEST($2::BIGINT[]) AS member_id \
         ON CONFLICT DO NOTHING RETURNING member_id",
    )
    .bind(id.0)
    .bind(&ids)
    .bind(at.0)
    .fetch_all(&mut *conn)
    .await
    .store()?;
    Ok(added.into_iter().map(MemberId).collect())
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
        by: MemberId,
        members: &[MemberId],
        max_members: i64,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            let members = members.to_owned();
            return db
                .write(move |conn| {
                    sqlite::add_participants(conn, id, by, &members, max_members, at)
                })
                .await;
        }
        let members = members.to_owned();
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    touch_conversation(tx, id, at).await?;
                    let added = insert_participants(tx, id, &members, at).await?;
                    let everyone = participant_ids(tx, id).await?;
                    if everyone.len() as i64 > max_members {
                        return Err(StoreError::Conflict("member_limit"));
                    }
                    let mut advanced = Vec::new();
                    for member in added {
                        let line = StoredLine::added(member);
                        advanced.extend(insert_system_line(tx, id, by, line, &everyone, at).await?);
                    }
                    let event = LiveEvent::Conversation {
                        conversation_id: id,
                    };
                    advanced.extend(feed::append(tx, &everyone, &event, at).await?);
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
                    let mut advanced = Vec::new();
                    if !everyone.is_empty() {
                        let line = StoredLine::left();
                        advanced
                            .extend(insert_system_line(tx, id, member, line, &everyone, at).await?);
                    }
                    everyone.push(member);
                    let event = LiveEvent::Conversation {
                        conversation_id: id,
                    };
                    advanced.extend(feed::append(tx, &everyone, &event, at).await?);
                    drop_if_empty(tx, id.0).await?;
                    Ok(advanced)
                })
            })
            .await
    }

    async fn rename_conversation(
        &self,
        id: ConversationId,
        by: MemberId,
        title: &str,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            let title = title.to_owned();
            return db
                .write(move |conn| sqlite::rename_conversation(conn, id, by, &title, at))
                .await;
        }
        let title = title.to_owned();
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
                        .bind(&title)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    let everyone = participant_ids(tx, id).await?;
                    let line = StoredLine::renamed(&title);
                    let mut advanced = insert_system_line(tx, id, by, line, &everyone, at).await?;
                    let event = LiveEvent::Conversation {
                        conversation_id: id,
                    };
                    advanced.extend(feed::append(tx, &everyone, &event, at).await?);
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
        let sent = new.clone();
        let inserted = if new.attachments.is_empty() {
            // One statement, outside any transaction: it commits on its own.
            let mut conn = self.pg().pool.acquire().await.store()?;
            insert_message_in(&mut conn, &new, None, EarlierAppends::None).await
        } else {
            self.pg()
                .write(move |tx| {
                    Box::pin(async move {
                        let inserted =
                            insert_message_in(tx, &new, None, EarlierAppends::None).await?;
                        link_attachments(tx, inserted.id, new.sender, &new.attachments).await?;
                        Ok(inserted)
                    })
                })
                .await
        };
        let inserted = inserted.map(|inserted| {
            let message = Message::written(
                inserted.id,
                sent.conversation_id,
                Some(inserted.sender),
                sent.body.clone(),
                sent.created_at,
            );
            (message, inserted.advanced)
        });
        match inserted {
            // A reply is read back for its quote, a message with files for them.
            Ok((message, advanced)) if sent.reply_to.is_some() || !sent.attachments.is_empty() => {
                let message = self.message(message.id).await?.unwrap_or(message);
                Ok((message, advanced))
            }
            Err(StoreError::Conflict(KEY_USED)) => {
                let key = sent.client_key.as_deref().unwrap_or_default();
                let id: i64 = sqlx::query_scalar(
                    "SELECT id FROM messages WHERE sender_id = $1 AND client_key = $2",
                )
                .bind(sent.sender.0)
                .bind(key)
                .fetch_one(&self.pg().pool)
                .await
                .store()?;
                let first = self
                    .message(MessageId(id))
                    .await?
                    .ok_or(StoreError::NotFound)?;
                if !sent.is_retry_of(&first) {
                    return Err(StoreError::Conflict("client_key"));
                }
                Ok((first, Vec::new()))
            }
            other => other,
        }
    }

    async fn message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::message(conn, id)).await;
        }
        let row: Option<MessageRow> = sqlx::query_as(&select_messages("WHERE m.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        let found = row.map(Message::from).into_iter().collect();
        Ok(self.with_attachments(found).await?.pop())
    }

    async fn messages(
        &self,
        id: ConversationId,
        viewer: MemberId,
        before: Option<MessageId>,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::messages(conn, id, viewer, before, limit))
                .await;
        }
        let sql = select_messages(concat!(
            "WHERE m.conversation_id = $1 AND m.id < $2 AND ",
            not_hidden!("$4"),
            " ORDER BY m.id DESC LIMIT $3"
        ));
        let rows: Vec<MessageRow> = sqlx::query_as(&sql)
            .bind(id.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(limit)
            .bind(viewer.0)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        self.with_attachments(rows.into_iter().map(Message::from).collect())
            .await
    }

    async fn edit_message(
        &self,
        id: MessageId,
        sender: MemberId,
        body: &str,
        at: Timestamp,
    ) -> StoreResult<(Message, Vec<FeedAdvanced>)> {
        if let Some(db) = &self.sqlite {
            let body = body.to_owned();
            return db
                .write(move |conn| sqlite::edit_message(conn, id, sender, &body, at))
                .await;
        }
        let body = body.to_owned();
        let advanced = self
            .pg()
            .write(move |tx| {
                Box::pin(async move {
                    let conversation: i64 = sqlx::query_scalar(
                        "UPDATE messages SET body = $1, edited_at = $2 WHERE id = $3 \
                         AND sender_id = $4 AND deleted_at IS NULL AND system_kind IS NULL \
                         AND via_app IS NULL RETURNING conversation_id",
                    )
                    .bind(&body)
                    .bind(at.0)
                    .bind(id.0)
                    .bind(sender.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .store()?
                    .ok_or(StoreError::NotFound)?;
                    announce_message_change(tx, ConversationId(conversation), id, at).await
                })
            })
            .await?;
        let message = self.message(id).await?.ok_or(StoreError::NotFound)?;
        Ok((message, advanced))
    }

    async fn delete_message(
        &self,
        id: MessageId,
        sender: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_message(conn, id, sender, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let conversation: i64 = sqlx::query_scalar(
                        "UPDATE messages SET body = '', deleted_at = $1 WHERE id = $2 \
                         AND sender_id = $3 AND deleted_at IS NULL AND system_kind IS NULL \
                         RETURNING conversation_id",
                    )
                    .bind(at.0)
                    .bind(id.0)
                    .bind(sender.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .store()?
                    .ok_or(StoreError::NotFound)?;
                    sqlx::query("DELETE FROM recommendation_cards WHERE message_id = $1")
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    unlink_attachments(tx, id).await?;
                    announce_message_change(tx, ConversationId(conversation), id, at).await
                })
            })
            .await
    }

    async fn hide_message(
        &self,
        id: MessageId,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::hide_message(conn, id, member, at))
                .await;
        }
        sqlx::query(
            "INSERT INTO hidden_messages (member_id, message_id, hidden_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(member.0)
        .bind(id.0)
        .bind(at.0)
        .execute(&self.pg().pool)
        .await
        .store()?;
        Ok(())
    }

    async fn search_messages(
        &self,
        member: MemberId,
        words: &[String],
        before: Option<MessageId>,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        if let Some(db) = &self.sqlite {
            // Messages are indexed in batches: those still waiting are indexed first, so that
            // the search finds every message committed before it.
            db.index_waiting_messages().await?;
            let words = words.to_owned();
            return db
                .read(move |conn| sqlite::search_messages(conn, member, &words, before, limit))
                .await;
        }
        // Each word is letters and digits only (see `SearchQuery`), so it needs no quoting.
        let query = words
            .iter()
            .map(|word| format!("{word}:*"))
            .collect::<Vec<_>>()
            .join(" & ");
        let sql = select_messages(concat!(
            "WHERE to_tsvector('simple', m.body) @@ to_tsquery('simple', $1) \
             AND m.system_kind IS NULL AND m.deleted_at IS NULL AND m.id < $2 \
             AND m.conversation_id IN \
                (SELECT conversation_id FROM conversation_members WHERE member_id = $3) AND ",
            not_hidden!("$3"),
            " ORDER BY m.id DESC LIMIT $4"
        ));
        let rows: Vec<MessageRow> = sqlx::query_as(&sql)
            .bind(query)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(member.0)
            .bind(limit)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        self.with_attachments(rows.into_iter().map(Message::from).collect())
            .await
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

    async fn feed_tail(&self, member: MemberId) -> StoreResult<FeedTail> {
        if let Some(db) = &self.sqlite {
            // One writer commits in order: every committed position is readable.
            let head = db.read(move |conn| sqlite::feed_head(conn, member)).await?;
            return Ok(FeedTail {
                head,
                unreadable: Vec::new(),
            });
        }
        feed::tail(&self.pg().pool, member).await
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
