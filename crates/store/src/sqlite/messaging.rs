//! Conversations, participants, messages, read markers and the feed reads, on rusqlite.
//!
//! Each function is the whole of one store method and runs on a database thread: reads on a
//! reader, writes (already inside their transaction) on the writer.

use std::collections::HashMap;
use std::sync::LazyLock;

use rusqlite::types::FromSql;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::attachments::{link_attachments, unlink_attachments, with_attachments};
use super::{ResultExt, feed, id_list, insert_row};
use crate::sql::member_ref;
use crate::sql::messaging::{
    MESSAGE_COLUMNS, MESSAGE_JOINS, MessageRow, StoredLine, last_read, not_hidden, select_messages,
    summary_message,
};
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::{
    ConversationKind, ConversationSummary, FeedEntry, MemberRef, Message, NewConversation,
    NewMessage, Participant, Roster, StoreResult,
};
use confidant_core::{ConversationId, MemberId, MessageId, StoreError, Timestamp};
pub(crate) use feed::purge as purge_feed;

/// Reads a row of [`MESSAGE_COLUMNS`], by position. Most messages have no card, quote or
/// system line: each group's columns are read only when its key column says it is there.
fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let card_token: Option<String> = row.get(17)?;
    let subject_id: Option<i64> = row.get(21)?;
    let quote_id: Option<i64> = row.get(24)?;
    let (card, subject, quote) = (
        card_token.is_some(),
        subject_id.is_some(),
        quote_id.is_some(),
    );
    Ok(MessageRow {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        sender_id: row.get(2)?,
        sender_handle: row.get(3)?,
        sender_name: row.get(4)?,
        body: row.get(5)?,
        created_at: row.get(6)?,
        via_app: row.get(7)?,
        via_app_name: row.get(8)?,
        card_title: get_if(row, card, 9)?,
        card_url: get_if(row, card, 10)?,
        card_image_url: get_if(row, card, 11)?,
        card_description: get_if(row, card, 12)?,
        card_item_id: get_if(row, card, 13)?,
        card_interface: get_if(row, card, 14)?,
        card_surface: get_if(row, card, 15)?,
        card_variation: get_if(row, card, 16)?,
        card_token,
        edited_at: row.get(18)?,
        deleted_at: row.get(19)?,
        system_kind: row.get(20)?,
        subject_id,
        subject_handle: get_if(row, subject, 22)?,
        subject_name: get_if(row, subject, 23)?,
        quote_id,
        quote_sender_id: get_if(row, quote, 25)?,
        quote_sender_handle: get_if(row, quote, 26)?,
        quote_sender_name: get_if(row, quote, 27)?,
        quote_body: get_if(row, quote, 28)?,
        quote_deleted_at: get_if(row, quote, 29)?,
    }
    .into())
}

/// Column `index` of `row` if `present`, else `None` without reading it.
fn get_if<T: FromSql>(row: &Row<'_>, present: bool, index: usize) -> rusqlite::Result<Option<T>> {
    if present { row.get(index) } else { Ok(None) }
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
        AND u.system_kind IS NULL AND u.deleted_at IS NULL \
        AND (u.via_app IS NULL OR NOT EXISTS (SELECT 1 FROM app_mutes am \
             WHERE am.member_id = cm.member_id AND am.client_id = u.via_app) \
             AND NOT EXISTS (SELECT 1 FROM hidden_messages h \
             WHERE h.member_id = cm.member_id AND h.message_id = u.id))), \
     lm.id, lm.sender_id, ls.handle, ls.display_name, lm.body, lm.created_at, \
     p.id, p.handle, p.display_name, \
     lm.system_kind, lm.deleted_at, lm.subject_id, lsj.handle, lsj.display_name \
     FROM (SELECT cm.conversation_id, cm.member_id, ",
    last_read!("MAX"),
    " AS last_read_message_id FROM conversation_members cm WHERE cm.member_id = ?1) cm \
     JOIN conversations c ON c.id = cm.conversation_id \
     LEFT JOIN messages lm ON lm.id = \
        (SELECT MAX(x.id) FROM messages x WHERE x.conversation_id = c.id) \
     LEFT JOIN members ls ON ls.id = lm.sender_id \
     LEFT JOIN members lsj ON lsj.id = lm.subject_id \
     LEFT JOIN members p ON c.kind = 'direct' AND p.id = \
        (SELECT o.member_id FROM conversation_members o \
         WHERE o.conversation_id = c.id AND o.member_id <> cm.member_id LIMIT 1) \
     WHERE cm.member_id = ?1"
);

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<ConversationSummary> {
    let id = ConversationId(row.get(0)?);
    let kind: String = row.get(1)?;
    let system_kind: Option<String> = row.get(16)?;
    let last_message = summary_message(
        id.0,
        row.get(7)?,
        member_ref(row.get(8)?, row.get(9)?, row.get(10)?),
        row.get(11)?,
        row.get(12)?,
        system_kind.as_deref(),
        member_ref(row.get(18)?, row.get(19)?, row.get(20)?),
        row.get(17)?,
    );
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

/// Adds the members not already in; returns those it added.
fn insert_participants(
    conn: &Connection,
    id: ConversationId,
    members: &[MemberId],
    at: Timestamp,
) -> StoreResult<Vec<MemberId>> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO conversation_members (conversation_id, member_id, joined_at) \
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )
        .store()?;
    let mut added = Vec::with_capacity(members.len());
    for member in members {
        if insert.execute([id.0, member.0, at.0]).store()? > 0 {
            added.push(*member);
        }
    }
    Ok(added)
}

/// Writes a group's own line about a change `by` made, and hands it to everyone's feed.
fn insert_system_line(
    conn: &Connection,
    id: ConversationId,
    by: MemberId,
    line: StoredLine<'_>,
    everyone: &[MemberId],
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let message = insert_row(
        conn,
        "INSERT INTO messages (conversation_id, sender_id, body, created_at, system_kind, \
         subject_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id.0,
            by.0,
            line.body,
            at.0,
            line.kind,
            line.subject.map(|member| member.0)
        ],
    )
    .map(MessageId)?;
    let event = LiveEvent::Message {
        conversation_id: id,
        message_id: message,
    };
    feed::append(conn, everyone, &event, at)
}

/// Tells everyone in the conversation that one of its messages changed.
fn announce_message_change(
    conn: &Connection,
    conversation: ConversationId,
    message: MessageId,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let everyone = participant_ids(conn, conversation)?;
    let event = LiveEvent::MessageChanged {
        conversation_id: conversation,
        message_id: message,
    };
    feed::append(conn, &everyone, &event, at)
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
    let id = insert_row(
        conn,
        "INSERT INTO conversations \
         (kind, title, direct_key, created_by, created_at, last_activity_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            new.kind.as_str(),
            new.title,
            new.direct_key,
            new.created_by.0,
            new.created_at.0
        ],
    )
    .map(ConversationId)?;
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
    by: MemberId,
    members: &[MemberId],
    max_members: i64,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    touch_conversation(conn, id, at)?;
    let added = insert_participants(conn, id, members, at)?;
    let everyone = participant_ids(conn, id)?;
    if everyone.len() as i64 > max_members {
        return Err(StoreError::Conflict("member_limit"));
    }
    let mut advanced = Vec::new();
    for member in added {
        let line = StoredLine::added(member);
        advanced.extend(insert_system_line(conn, id, by, line, &everyone, at)?);
    }
    advanced.extend(announce_change(conn, id, &everyone, at)?);
    Ok(advanced)
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
    let mut advanced = Vec::new();
    if !everyone.is_empty() {
        let line = StoredLine::left();
        advanced.extend(insert_system_line(conn, id, member, line, &everyone, at)?);
    }
    everyone.push(member);
    advanced.extend(announce_change(conn, id, &everyone, at)?);
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
    by: MemberId,
    title: &str,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    conn.prepare_cached("UPDATE conversations SET title = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![title, id.0]))
        .store()?;
    let everyone = participant_ids(conn, id)?;
    let mut advanced = insert_system_line(conn, id, by, StoredLine::renamed(title), &everyone, at)?;
    advanced.extend(announce_change(conn, id, &everyone, at)?);
    Ok(advanced)
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
    // The writer is the only writer: a draft's key found here cannot be taken meanwhile.
    if let Some(key) = &new.client_key {
        let first = conn
            .prepare_cached("SELECT id FROM messages WHERE sender_id = ?1 AND client_key = ?2")
            .and_then(|mut select| {
                select
                    .query_row(params![new.sender.0, key], |row| row.get(0).map(MessageId))
                    .optional()
            })
            .store()?;
        if let Some(first) = first {
            let first = message(conn, first)?.ok_or(StoreError::NotFound)?;
            if !new.is_retry_of(&first) {
                return Err(StoreError::Conflict("client_key"));
            }
            return Ok((first, Vec::new()));
        }
    }
    let (id, advanced) = insert_checked_message(conn, &new, None, &everyone)?;
    link_attachments(conn, id, new.sender, &new.attachments)?;
    let message = if new.reply_to.is_some() || !new.attachments.is_empty() {
        // Read back for the quote and the files.
        message(conn, id)?.ok_or(StoreError::NotFound)?
    } else {
        Message::written(
            id,
            new.conversation_id,
            Some(sender),
            new.body,
            new.created_at,
        )
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
    let id = insert_row(
        conn,
        "INSERT INTO messages (conversation_id, sender_id, body, created_at, via_app, \
         partner_send_id, reply_to, client_key, has_attachments) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            new.conversation_id.0,
            new.sender.0,
            new.body,
            new.created_at.0,
            via.as_ref().map(|via| via.client_id),
            via.as_ref().map(|via| via.send_id),
            new.reply_to.map(|id| id.0),
            new.client_key,
            !new.attachments.is_empty()
        ],
    )
    .map(MessageId)?;
    // Neither the conversation's activity time nor the sender's read mark is written: both
    // are derived from the newest messages when read (see `SUMMARY_SELECT`).
    let event = LiveEvent::Message {
        conversation_id: new.conversation_id,
        message_id: id,
    };
    let advanced = feed::append(conn, everyone, &event, new.created_at)?;
    let recipients: Vec<MemberId> = everyone
        .iter()
        .copied()
        .filter(|member| *member != new.sender)
        .collect();
    let via_app = via.as_ref().map(|via| via.client_id);
    super::push::queue_pushes(conn, id, &recipients, via_app, new.created_at)?;
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
    let found = conn
        .prepare_cached(&select_messages("WHERE m.id = ?1"))
        .and_then(|mut select| select.query_row([id.0], message_from_row).optional())
        .store()?;
    Ok(with_attachments(conn, found.into_iter().collect())?.pop())
}

/// A page of a conversation, newest first, read by [`plain_message_from_row`]: each message
/// with its sender, and whether it has more to read (an app, a quote, a member a group's
/// line names, files).
const PAGE: &str = concat!(
    "SELECT m.id, m.conversation_id, m.sender_id, s.handle, s.display_name, m.body, \
     m.created_at, m.edited_at, m.deleted_at, m.system_kind, \
     m.via_app IS NOT NULL OR m.subject_id IS NOT NULL OR m.reply_to IS NOT NULL \
     OR m.has_attachments \
     FROM messages m LEFT JOIN members s ON s.id = m.sender_id \
     WHERE m.conversation_id = ?1 AND m.id < ?2 AND ",
    not_hidden!("?4"),
    " ORDER BY m.id DESC LIMIT ?3"
);

/// A message of [`PAGE`] without what its last column says it has more of.
fn plain_message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(MessageRow {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        sender_id: row.get(2)?,
        sender_handle: row.get(3)?,
        sender_name: row.get(4)?,
        body: row.get(5)?,
        created_at: row.get(6)?,
        edited_at: row.get(7)?,
        deleted_at: row.get(8)?,
        system_kind: row.get(9)?,
        ..MessageRow::default()
    }
    .into())
}

/// A page of messages, newest first.
///
/// Most messages are text someone wrote: the page is read with each message's sender only,
/// and the few that came through an app, quote a message, are a group's line naming a member
/// or have files are read again whole, with the joins and the files that needs. Five joins on
/// every row, found empty on nearly all, took a fifth of a page's time, and looking up every
/// message's files another 6 % of a read's (see BENCHMARKS.md).
pub(crate) fn messages(
    conn: &Connection,
    id: ConversationId,
    viewer: MemberId,
    before: Option<MessageId>,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    let mut select = conn.prepare_cached(PAGE).store()?;
    let before = before.map_or(i64::MAX, |before| before.0);
    let mut rows = select.query([id.0, before, limit, viewer.0]).store()?;
    // Presized: a page's messages are large, and growing the vector would copy them.
    let mut page = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(PRESIZED_MOST));
    // Where each message with more to read sits in the page.
    let mut fuller = Vec::new();
    while let Some(row) = rows.next().store()? {
        if row.get::<_, bool>(10).store()? {
            fuller.push(page.len());
        }
        page.push(plain_message_from_row(row).store()?);
    }
    if !fuller.is_empty() {
        let ids: Vec<MessageId> = fuller.iter().map(|&at| page[at].id).collect();
        let mut whole: HashMap<MessageId, Message> =
            with_attachments(conn, whole_messages(conn, &ids)?)?
                .into_iter()
                .map(|message| (message.id, message))
                .collect();
        for at in fuller {
            // A message gone since the page was read keeps what the page read of it.
            if let Some(message) = whole.remove(&page[at].id) {
                page[at] = message;
            }
        }
    }
    Ok(page)
}

/// The messages `ids`, with everything [`MESSAGE_COLUMNS`] reads.
fn whole_messages(conn: &Connection, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
    static WHOLE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM json_each(?1) j \
             CROSS JOIN messages m ON m.id = j.value {MESSAGE_JOINS}"
        )
    });
    let mut select = conn.prepare_cached(&WHOLE).store()?;
    let rows = select
        .query_map([id_list(ids.iter().map(|id| id.0))], message_from_row)
        .store()?;
    rows.collect::<rusqlite::Result<_>>().store()
}

/// The most messages a page's vector is presized for, whatever limit a caller asks for; a
/// larger page grows as it is read. (Core's pages are far smaller.)
const PRESIZED_MOST: usize = 200;

pub(crate) fn edit_message(
    conn: &Connection,
    id: MessageId,
    sender: MemberId,
    body: &str,
    at: Timestamp,
) -> StoreResult<(Message, Vec<FeedAdvanced>)> {
    let conversation = conn
        .prepare_cached(
            "UPDATE messages SET body = ?1, edited_at = ?2 WHERE id = ?3 AND sender_id = ?4 \
             AND deleted_at IS NULL AND system_kind IS NULL AND via_app IS NULL \
             RETURNING conversation_id",
        )
        .and_then(|mut update| {
            update
                .query_row(params![body, at.0, id.0, sender.0], |row| {
                    row.get(0).map(ConversationId)
                })
                .optional()
        })
        .store()?
        .ok_or(StoreError::NotFound)?;
    let advanced = announce_message_change(conn, conversation, id, at)?;
    let message = message(conn, id)?.ok_or(StoreError::NotFound)?;
    Ok((message, advanced))
}

pub(crate) fn delete_message(
    conn: &Connection,
    id: MessageId,
    sender: MemberId,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let conversation = conn
        .prepare_cached(
            "UPDATE messages SET body = '', deleted_at = ?1 WHERE id = ?2 AND sender_id = ?3 \
             AND deleted_at IS NULL AND system_kind IS NULL RETURNING conversation_id",
        )
        .and_then(|mut update| {
            update
                .query_row([at.0, id.0, sender.0], |row| row.get(0).map(ConversationId))
                .optional()
        })
        .store()?
        .ok_or(StoreError::NotFound)?;
    conn.prepare_cached("DELETE FROM recommendation_cards WHERE message_id = ?1")
        .and_then(|mut delete| delete.execute([id.0]))
        .store()?;
    unlink_attachments(conn, id)?;
    announce_message_change(conn, conversation, id, at)
}

pub(crate) fn hide_message(
    conn: &Connection,
    id: MessageId,
    member: MemberId,
    at: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO hidden_messages (member_id, message_id, hidden_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO NOTHING",
    )
    .and_then(|mut insert| insert.execute([member.0, id.0, at.0]))
    .store()?;
    Ok(())
}

/// Past this many conversations, a search no longer names them in the index query (which
/// would grow long) but filters the index's matches by membership instead.
const SEARCH_IN_NAMED_CONVERSATIONS: usize = 200;

pub(crate) fn search_messages(
    conn: &Connection,
    member: MemberId,
    words: &[String],
    before: Option<MessageId>,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    let conversations = {
        let mut select = conn
            .prepare_cached("SELECT conversation_id FROM conversation_members WHERE member_id = ?1")
            .store()?;
        let ids = select
            .query_map([member.0], |row| row.get::<_, i64>(0))
            .store()?;
        ids.collect::<Result<Vec<_>, _>>().store()?
    };
    if conversations.is_empty() {
        return Ok(Vec::new());
    }
    // Each word is letters and digits only (see `SearchQuery`); quoted, with `*` for a prefix.
    let mut query = words
        .iter()
        .map(|word| format!("body : \"{word}\"*"))
        .collect::<Vec<_>>()
        .join(" AND ");
    // Within the member's conversations, in the index itself: a common word's matches in
    // other people's conversations are skipped by seeking, not read one by one.
    if conversations.len() <= SEARCH_IN_NAMED_CONVERSATIONS {
        let named: Vec<String> = conversations.iter().map(|id| format!("\"{id}\"")).collect();
        query = format!("{query} AND conversation_id : ({})", named.join(" OR "));
    }
    // Newest matches first, straight from the index's own order; membership is checked again
    // on every row, whichever way the index query was written.
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid \
             {MESSAGE_JOINS} WHERE messages_fts MATCH ?1 AND messages_fts.rowid < ?2 \
             AND m.conversation_id IN \
                (SELECT conversation_id FROM conversation_members WHERE member_id = ?3) \
             AND m.system_kind IS NULL AND m.deleted_at IS NULL AND {} \
             ORDER BY messages_fts.rowid DESC LIMIT ?4",
            not_hidden!("?3")
        ))
        .store()?;
    let before = before.map_or(i64::MAX, |before| before.0);
    let rows = select
        .query_map(params![query, before, member.0, limit], message_from_row)
        .store()?;
    with_attachments(conn, rows.collect::<Result<_, _>>().store()?)
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
        .prepare_cached(feed::HEAD)
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
