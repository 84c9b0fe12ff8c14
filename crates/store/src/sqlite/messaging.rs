//! Conversations, participants, messages, read markers and the feed reads, on rusqlite.
//!
//! Each function is the whole of one store method and runs on a database thread: reads on a
//! reader, writes (already inside their transaction) on the writer.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{ResultExt, feed};
use crate::sql::member_ref;
use crate::sql::messaging::last_read;
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::{
    ConversationKind, ConversationSummary, FeedEntry, MemberRef, Message, NewConversation,
    NewMessage, Participant, RecommendationCard, Roster, StoreResult, ViaApp,
};
use confidant_core::{ConversationId, MemberId, MessageId, StoreError, Timestamp};

/// A message with its sender's handle and name (null once the sender is deleted), the app
/// it came through and its recommendation card, if any. Read by [`message_from_row`].
const MESSAGE_SELECT: &str = "SELECT m.id, m.conversation_id, m.sender_id, s.handle, \
     s.display_name, m.body, m.created_at, m.via_app, a.name, rc.title, rc.url, rc.image_url, \
     rc.description, rc.item_id, rc.interface, rc.surface, rc.variation, rc.token \
     FROM messages m LEFT JOIN members s ON s.id = m.sender_id \
     LEFT JOIN apps a ON a.client_id = m.via_app \
     LEFT JOIN recommendation_cards rc ON rc.message_id = m.id";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let card = match (row.get(9)?, row.get(10)?, row.get(13)?) {
        (Some(title), Some(url), Some(item_id)) => Some(RecommendationCard {
            title,
            url,
            image_url: row.get(11)?,
            description: row.get(12)?,
            item_id,
            interface: row.get(14)?,
            surface: row.get(15)?,
            variation: row.get(16)?,
            token: row.get(17)?,
        }),
        _ => None,
    };
    let via_app: Option<String> = row.get(7)?;
    let via_app_name: Option<String> = row.get(8)?;
    Ok(Message {
        id: MessageId(row.get(0)?),
        conversation_id: ConversationId(row.get(1)?),
        sender: member_ref(row.get(2)?, row.get(3)?, row.get(4)?),
        body: row.get(5)?,
        created_at: Timestamp(row.get(6)?),
        via_app: via_app.map(|client_id| ViaApp {
            name: via_app_name.unwrap_or_else(|| client_id.clone()),
            client_id,
        }),
        card,
    })
}

/// A conversation seen by member `?1`: unread count, newest message and, for direct
/// conversations, the other member. Callers append a WHERE clause; read by
/// [`summary_from_row`]. The read mark and the activity time are derived from the newest
/// messages (see [`last_read`]): a send writes neither.
const SUMMARY_SELECT: &str = concat!(
    "SELECT c.id, c.kind, c.title, c.created_at, \
     MAX(c.last_activity_at, COALESCE(lm.created_at, 0)) AS last_activity_at, \
     cm.last_read_message_id, \
     (SELECT COUNT(*) FROM messages u WHERE u.conversation_id = c.id \
        AND u.id > cm.last_read_message_id AND u.sender_id <> cm.member_id \
        AND (u.via_app IS NULL OR NOT EXISTS (SELECT 1 FROM app_mutes am \
             WHERE am.member_id = cm.member_id AND am.client_id = u.via_app))), \
     lm.id, lm.sender_id, ls.handle, ls.display_name, lm.body, lm.created_at, \
     p.id, p.handle, p.display_name \
     FROM (SELECT cm.conversation_id, cm.member_id, ",
    last_read!("MAX"),
    " AS last_read_message_id FROM conversation_members cm WHERE cm.member_id = ?1) cm \
     JOIN conversations c ON c.id = cm.conversation_id \
     LEFT JOIN messages lm ON lm.id = \
        (SELECT MAX(x.id) FROM messages x WHERE x.conversation_id = c.id) \
     LEFT JOIN members ls ON ls.id = lm.sender_id \
     LEFT JOIN members p ON c.kind = 'direct' AND p.id = \
        (SELECT o.member_id FROM conversation_members o \
         WHERE o.conversation_id = c.id AND o.member_id <> cm.member_id LIMIT 1) \
     WHERE cm.member_id = ?1"
);

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<ConversationSummary> {
    let id = ConversationId(row.get(0)?);
    let kind: String = row.get(1)?;
    let last_message = match (row.get(7)?, row.get(11)?, row.get(12)?) {
        (Some(message_id), Some(body), Some(created_at)) => Some(Message {
            id: MessageId(message_id),
            conversation_id: id,
            sender: member_ref(row.get(8)?, row.get(9)?, row.get(10)?),
            body,
            created_at: Timestamp(created_at),
            via_app: None,
            card: None,
        }),
        _ => None,
    };
    Ok(ConversationSummary {
        id,
        kind: ConversationKind::parse(&kind).unwrap_or(ConversationKind::Group),
        title: row.get(2)?,
        created_at: Timestamp(row.get(3)?),
        last_activity_at: Timestamp(row.get(4)?),
        last_read: MessageId(row.get(5)?),
        unread: row.get(6)?,
        last_message,
        peer: member_ref(row.get(13)?, row.get(14)?, row.get(15)?),
    })
}

fn participant_ids(conn: &Connection, id: ConversationId) -> StoreResult<Vec<MemberId>> {
    let mut select = conn
        .prepare_cached("SELECT member_id FROM conversation_members WHERE conversation_id = ?1")
        .store()?;
    let ids = select
        .query_map([id.0], |row| row.get(0).map(MemberId))
        .store()?;
    ids.collect::<Result<_, _>>().store()
}

fn touch_conversation(conn: &Connection, id: ConversationId, at: Timestamp) -> StoreResult<()> {
    let touched = conn
        .prepare_cached("UPDATE conversations SET last_activity_at = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute([at.0, id.0]))
        .store()?;
    if touched == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn insert_participants(
    conn: &Connection,
    id: ConversationId,
    members: &[MemberId],
    at: Timestamp,
) -> StoreResult<()> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO conversation_members (conversation_id, member_id, joined_at) \
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )
        .store()?;
    for member in members {
        insert.execute([id.0, member.0, at.0]).store()?;
    }
    Ok(())
}

/// Everyone in the conversation hears that it changed.
fn announce_change(
    conn: &Connection,
    id: ConversationId,
    members: &[MemberId],
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let event = LiveEvent::Conversation {
        conversation_id: id,
    };
    feed::append(conn, members, &event, at)
}

pub(crate) fn direct_conversation(
    conn: &Connection,
    key: &str,
) -> StoreResult<Option<ConversationId>> {
    conn.prepare_cached("SELECT id FROM conversations WHERE direct_key = ?1")
        .and_then(|mut select| {
            select
                .query_row([key], |row| row.get(0).map(ConversationId))
                .optional()
        })
        .store()
}

pub(crate) fn create_conversation(
    conn: &Connection,
    new: &NewConversation,
) -> StoreResult<(ConversationId, Vec<FeedAdvanced>)> {
    let id = conn
        .prepare_cached(
            "INSERT INTO conversations \
             (kind, title, direct_key, created_by, created_at, last_activity_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
        )
        .and_then(|mut insert| {
            insert.query_row(
                params![
                    new.kind.as_str(),
                    new.title,
                    new.direct_key,
                    new.created_by.0,
                    new.created_at.0
                ],
                |row| row.get(0).map(ConversationId),
            )
        })
        .store()?;
    insert_participants(conn, id, &new.members, new.created_at)?;
    let advanced = announce_change(conn, id, &new.members, new.created_at)?;
    Ok((id, advanced))
}

pub(crate) fn conversation(
    conn: &Connection,
    id: ConversationId,
    member: MemberId,
) -> StoreResult<Option<ConversationSummary>> {
    conn.prepare_cached(&format!("{SUMMARY_SELECT} AND c.id = ?2"))
        .and_then(|mut select| {
            select
                .query_row([member.0, id.0], summary_from_row)
                .optional()
        })
        .store()
}

pub(crate) fn conversations(
    conn: &Connection,
    member: MemberId,
) -> StoreResult<Vec<ConversationSummary>> {
    let mut select = conn
        .prepare_cached(&format!(
            // `last_activity_at` is the derived result column, not the stored one.
            "{SUMMARY_SELECT} ORDER BY last_activity_at DESC, c.id DESC"
        ))
        .store()?;
    let rows = select.query_map([member.0], summary_from_row).store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn roster(conn: &Connection, id: ConversationId) -> StoreResult<Option<Roster>> {
    let kind: Option<String> = conn
        .prepare_cached("SELECT kind FROM conversations WHERE id = ?1")
        .and_then(|mut select| select.query_row([id.0], |row| row.get(0)).optional())
        .store()?;
    let Some(kind) = kind else {
        return Ok(None);
    };
    Ok(Some(Roster {
        kind: ConversationKind::parse(&kind).ok_or_else(|| crate::sql::corrupt("kind", &kind))?,
        members: participant_ids(conn, id)?,
    }))
}

pub(crate) fn participants(conn: &Connection, id: ConversationId) -> StoreResult<Vec<Participant>> {
    let mut select = conn
        .prepare_cached(concat!(
            "SELECT m.id, m.handle, m.display_name, m.is_admin, m.created_at, ",
            last_read!("MAX"),
            ", cm.joined_at \
             FROM conversation_members cm JOIN members m ON m.id = cm.member_id \
             WHERE cm.conversation_id = ?1 ORDER BY cm.joined_at, m.id"
        ))
        .store()?;
    let rows = select
        .query_map([id.0], |row| {
            Ok(Participant {
                member: super::member_from_row(row)?,
                last_read: MessageId(row.get(5)?),
                joined_at: Timestamp(row.get(6)?),
            })
        })
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn add_participants(
    conn: &Connection,
    id: ConversationId,
    members: &[MemberId],
    max_members: i64,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    touch_conversation(conn, id, at)?;
    insert_participants(conn, id, members, at)?;
    let everyone = participant_ids(conn, id)?;
    if everyone.len() as i64 > max_members {
        return Err(StoreError::Conflict("member_limit"));
    }
    announce_change(conn, id, &everyone, at)
}

pub(crate) fn remove_participant(
    conn: &Connection,
    id: ConversationId,
    member: MemberId,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM conversation_members WHERE conversation_id = ?1 AND member_id = ?2",
        )
        .and_then(|mut delete| delete.execute([id.0, member.0]))
        .store()?;
    if removed == 0 {
        return Err(StoreError::NotFound);
    }
    // Leaving ends every app's read grant on the conversation for good: being added back
    // later does not bring it back.
    conn.prepare_cached(
        "DELETE FROM thread_grants WHERE conversation_id = ?1 AND grant_id IN \
         (SELECT id FROM grants WHERE member_id = ?2)",
    )
    .and_then(|mut delete| delete.execute([id.0, member.0]))
    .store()?;
    let mut everyone = participant_ids(conn, id)?;
    everyone.push(member);
    let advanced = announce_change(conn, id, &everyone, at)?;
    // A conversation nobody is in any more is deleted.
    conn.prepare_cached(
        "DELETE FROM conversations WHERE id = ?1 AND NOT EXISTS \
         (SELECT 1 FROM conversation_members WHERE conversation_id = ?1)",
    )
    .and_then(|mut delete| delete.execute([id.0]))
    .store()?;
    Ok(advanced)
}

pub(crate) fn rename_conversation(
    conn: &Connection,
    id: ConversationId,
    title: &str,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    conn.prepare_cached("UPDATE conversations SET title = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![title, id.0]))
        .store()?;
    let everyone = participant_ids(conn, id)?;
    announce_change(conn, id, &everyone, at)
}

pub(crate) fn insert_message(
    conn: &Connection,
    new: NewMessage,
) -> StoreResult<(Message, Vec<FeedAdvanced>)> {
    // Who is in the conversation, who the sender is, and (in a 1:1, the only kind a block
    // closes) whether a block stands between the two, in one query: the block is checked in
    // the transaction that writes the message, so a block that committed first always stops
    // it.
    let mut select = conn
        .prepare_cached(
            "SELECT cm.member_id, m.handle, m.display_name, \
             CASE WHEN c.kind = 'direct' THEN \
              (SELECT COUNT(*) FROM blocks b \
               WHERE (b.blocker_id = ?2 AND b.blocked_id = cm.member_id) \
                  OR (b.blocker_id = cm.member_id AND b.blocked_id = ?2)) \
             ELSE 0 END \
             FROM conversation_members cm JOIN members m ON m.id = cm.member_id \
             JOIN conversations c ON c.id = cm.conversation_id \
             WHERE cm.conversation_id = ?1",
        )
        .store()?;
    let mut everyone = Vec::new();
    let mut sender = None;
    let mut blocked = false;
    let mut rows = select
        .query([new.conversation_id.0, new.sender.0])
        .store()?;
    while let Some(row) = rows.next().store()? {
        let id = MemberId(row.get(0).store()?);
        if id == new.sender {
            sender = Some(MemberRef {
                id,
                handle: row.get(1).store()?,
                display_name: row.get(2).store()?,
            });
        }
        // A group goes on for its other members: blocks are counted in 1:1s only.
        blocked |= row.get::<_, i64>(3).store()? > 0;
        everyone.push(id);
    }
    let sender = sender.ok_or(StoreError::NotFound)?;
    if blocked {
        return Err(StoreError::Conflict("blocked"));
    }
    let (id, advanced) = insert_checked_message(conn, &new, None, &everyone)?;
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
}

/// Where a message came from, when an app sent it.
pub(crate) struct Via<'a> {
    pub client_id: &'a str,
    pub send_id: i64,
}

/// Stores a message once the caller has checked that the sender is among `everyone`, the
/// conversation's participants: marks it read by its sender, moves the conversation's
/// activity time, and appends it to every participant's feed.
fn insert_checked_message(
    conn: &Connection,
    new: &NewMessage,
    via: Option<Via<'_>>,
    everyone: &[MemberId],
) -> StoreResult<(MessageId, Vec<FeedAdvanced>)> {
    let id = conn
        .prepare_cached(
            "INSERT INTO messages (conversation_id, sender_id, body, created_at, via_app, \
             partner_send_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .and_then(|mut insert| {
            insert.query_row(
                params![
                    new.conversation_id.0,
                    new.sender.0,
                    new.body,
                    new.created_at.0,
                    via.as_ref().map(|via| via.client_id),
                    via.as_ref().map(|via| via.send_id)
                ],
                |row| row.get(0).map(MessageId),
            )
        })
        .store()?;
    // Neither the conversation's activity time nor the sender's read mark is written: both
    // are derived from the newest messages when read (see `SUMMARY_SELECT`).
    let event = LiveEvent::Message {
        conversation_id: new.conversation_id,
        message_id: id,
    };
    let advanced = feed::append(conn, everyone, &event, new.created_at)?;
    Ok((id, advanced))
}

/// Stores a message an app sent for `new.sender`, inside the caller's transaction. `NotFound`
/// if the sender is not a participant.
pub(crate) fn insert_partner_message(
    conn: &Connection,
    new: &NewMessage,
    via: Via<'_>,
) -> StoreResult<(MessageId, Vec<FeedAdvanced>)> {
    let everyone = participant_ids(conn, new.conversation_id)?;
    if !everyone.contains(&new.sender) {
        return Err(StoreError::NotFound);
    }
    insert_checked_message(conn, new, Some(via), &everyone)
}

/// The 1:1 conversation of `sender` and `recipient`, opened (with a `conversation` event in
/// both feeds) if they have none. `Conflict("not_reachable")` unless they are friends with no
/// block either way: checked here, in the transaction that will write to it.
pub(crate) fn open_direct(
    conn: &Connection,
    sender: MemberId,
    recipient: MemberId,
    at: Timestamp,
) -> StoreResult<(ConversationId, Vec<FeedAdvanced>)> {
    let key = confidant_core::messaging::direct_key(sender, recipient);
    let (reachable, existing): (bool, Option<i64>) = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM friendships WHERE member_id = ?1 AND friend_id = ?2) \
             AND NOT EXISTS (SELECT 1 FROM blocks \
                 WHERE (blocker_id = ?1 AND blocked_id = ?2) \
                    OR (blocker_id = ?2 AND blocked_id = ?1)), \
             (SELECT id FROM conversations WHERE direct_key = ?3)",
        )
        .and_then(|mut select| {
            select.query_row(params![sender.0, recipient.0, key], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
        })
        .store()?;
    if !reachable {
        return Err(StoreError::Conflict("not_reachable"));
    }
    if let Some(id) = existing {
        return Ok((ConversationId(id), Vec::new()));
    }
    let new = NewConversation {
        kind: ConversationKind::Direct,
        title: None,
        direct_key: Some(key),
        created_by: sender,
        members: vec![sender, recipient],
        created_at: at,
    };
    create_conversation(conn, &new)
}

pub(crate) fn message(conn: &Connection, id: MessageId) -> StoreResult<Option<Message>> {
    conn.prepare_cached(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"))
        .and_then(|mut select| select.query_row([id.0], message_from_row).optional())
        .store()
}

pub(crate) fn messages(
    conn: &Connection,
    id: ConversationId,
    before: Option<MessageId>,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    let mut select = conn
        .prepare_cached(&format!(
            "{MESSAGE_SELECT} WHERE m.conversation_id = ?1 AND m.id < ?2 \
             ORDER BY m.id DESC LIMIT ?3"
        ))
        .store()?;
    let before = before.map_or(i64::MAX, |before| before.0);
    let rows = select
        .query_map([id.0, before, limit], message_from_row)
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn mark_read(
    conn: &Connection,
    id: ConversationId,
    member: MemberId,
    up_to: MessageId,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let moved = conn
        // Only a mark that moves forward past the derived one is news.
        .prepare_cached(concat!(
            "UPDATE conversation_members AS cm SET last_read_message_id = ?1 \
             WHERE conversation_id = ?2 AND member_id = ?3 AND ",
            last_read!("MAX"),
            " < ?1"
        ))
        .and_then(|mut update| update.execute([up_to.0, id.0, member.0]))
        .store()?;
    if moved == 0 {
        return Ok(Vec::new());
    }
    let everyone = participant_ids(conn, id)?;
    let event = LiveEvent::Read {
        conversation_id: id,
        member_id: member,
        message_id: up_to,
    };
    feed::append(conn, &everyone, &event, at)
}

pub(crate) fn feed_since(
    conn: &Connection,
    member: MemberId,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<FeedEntry>> {
    let mut select = conn
        .prepare_cached(
            "SELECT seq, event, created_at FROM member_feed \
             WHERE member_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .store()?;
    let mut rows = select.query([member.0, after_seq, limit]).store()?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next().store()? {
        let event: String = row.get(1).store()?;
        entries.push(FeedEntry {
            seq: row.get(0).store()?,
            event: serde_json::from_str(&event).map_err(|e| StoreError::Backend(Box::new(e)))?,
            created_at: Timestamp(row.get(2).store()?),
        });
    }
    Ok(entries)
}

pub(crate) fn feed_head(conn: &Connection, member: MemberId) -> StoreResult<i64> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT feed_seq FROM members WHERE id = ?1")
        .and_then(|mut select| select.query_row([member.0], |row| row.get(0)).optional())
        .store()?;
    Ok(seq.unwrap_or(0))
}

pub(crate) fn feed_heads(
    conn: &Connection,
    members: &[MemberId],
) -> StoreResult<Vec<(MemberId, i64)>> {
    members
        .iter()
        .map(|member| Ok((*member, feed_head(conn, *member)?)))
        .collect()
}

/// Deletes up to `batch` feed entries created before `before`; returns how many.
pub(crate) fn purge_feed(conn: &Connection, before: Timestamp, batch: i64) -> StoreResult<u64> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM member_feed WHERE (member_id, seq) IN \
             (SELECT member_id, seq FROM member_feed WHERE created_at < ?1 LIMIT ?2)",
        )
        .and_then(|mut delete| delete.execute(params![before.0, batch]))
        .store()?;
    Ok(deleted as u64)
}
