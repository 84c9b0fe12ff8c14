//! Attachments and the blob deletion queue, on rusqlite.

use std::collections::HashMap;
use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{ResultExt, id_list, insert_row};
use crate::sql::attachments::{ATTACHMENT_COLUMNS, AttachmentRow, INFO_COLUMNS, visible_to};
use confidant_core::store::{Attachment, AttachmentInfo, Message, NewAttachment, StoreResult};
use confidant_core::{AttachmentId, MemberId, MessageId, StoreError, Timestamp};

/// Reads a row of [`ATTACHMENT_COLUMNS`], by position.
fn attachment_from_row(row: &Row<'_>) -> rusqlite::Result<Attachment> {
    Ok(AttachmentRow {
        id: row.get(0)?,
        name: row.get(1)?,
        content_type: row.get(2)?,
        size_bytes: row.get(3)?,
        width: row.get(4)?,
        height: row.get(5)?,
        has_thumbnail: row.get(6)?,
        uploader_id: row.get(7)?,
        message_id: row.get(8)?,
        blob_key: row.get(9)?,
        created_at: row.get(10)?,
    }
    .into())
}

pub(crate) fn insert_attachment(conn: &Connection, new: &NewAttachment) -> StoreResult<Attachment> {
    let id = insert_row(
        conn,
        "INSERT INTO attachments (uploader_id, blob_key, name, content_type, size_bytes, \
         width, height, has_thumbnail, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            new.uploader.0,
            new.blob_key,
            new.name,
            new.content_type,
            new.size,
            new.width,
            new.height,
            new.thumbnail,
            new.created_at.0
        ],
    )
    .map(AttachmentId)?;
    attachment_for(conn, id, new.uploader)?.ok_or(StoreError::NotFound)
}

pub(crate) fn attachment_for(
    conn: &Connection,
    id: AttachmentId,
    viewer: MemberId,
) -> StoreResult<Option<Attachment>> {
    conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.id = ?1 AND {}",
        visible_to!("?2")
    ))
    .and_then(|mut select| {
        select
            .query_row([id.0, viewer.0], attachment_from_row)
            .optional()
    })
    .store()
}

pub(crate) fn attachments_by(
    conn: &Connection,
    uploader: MemberId,
) -> StoreResult<Vec<Attachment>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.uploader_id = ?1 ORDER BY a.id"
        ))
        .store()?;
    let rows = select
        .query_map([uploader.0], attachment_from_row)
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

/// Puts the sender's unsent uploads `ids` on message `message`, in order.
/// `Conflict("attachment")` if one is not theirs or was already sent.
pub(crate) fn link_attachments(
    conn: &Connection,
    message: MessageId,
    sender: MemberId,
    ids: &[AttachmentId],
) -> StoreResult<()> {
    let mut update = conn
        .prepare_cached(
            "UPDATE attachments SET message_id = ?1, position = ?2 \
             WHERE id = ?3 AND uploader_id = ?4 AND message_id IS NULL",
        )
        .store()?;
    for (position, id) in ids.iter().enumerate() {
        let linked = update
            .execute(params![message.0, position as i64, id.0, sender.0])
            .store()?;
        if linked != 1 {
            return Err(StoreError::Conflict("attachment"));
        }
    }
    Ok(())
}

/// Deletes the attachments of a message being deleted; their blobs are queued for deletion.
pub(crate) fn unlink_attachments(conn: &Connection, message: MessageId) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM attachments WHERE message_id = ?1")
        .and_then(|mut delete| delete.execute([message.0]))
        .store()
        .map(drop)
}

/// Fills in the attachments of `messages`, in one query.
pub(crate) fn with_attachments(
    conn: &Connection,
    mut messages: Vec<Message>,
) -> StoreResult<Vec<Message>> {
    let mut ids = messages
        .iter()
        .filter(|message| !message.deleted && message.system.is_none())
        .map(|message| message.id.0)
        .peekable();
    if ids.peek().is_none() {
        return Ok(messages);
    }
    let list = id_list(ids);
    // One index probe per id, in the list's order (see `id_list`), and no sort: each
    // message's files are put in order below, among themselves.
    static SELECT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT a.message_id, a.position, {INFO_COLUMNS} \
             FROM json_each(?1) j CROSS JOIN attachments a ON a.message_id = j.value"
        )
    });
    let mut select = conn.prepare_cached(&SELECT).store()?;
    let mut by_message: HashMap<i64, Vec<(i64, AttachmentInfo)>> = HashMap::new();
    let mut rows = select.query([list]).store()?;
    while let Some(row) = rows.next().store()? {
        let message: i64 = row.get(0).store()?;
        let info = AttachmentInfo {
            id: AttachmentId(row.get(2).store()?),
            name: row.get(3).store()?,
            content_type: row.get(4).store()?,
            size: row.get(5).store()?,
            width: row.get(6).store()?,
            height: row.get(7).store()?,
            thumbnail: row.get(8).store()?,
        };
        by_message
            .entry(message)
            .or_default()
            .push((row.get(1).store()?, info));
    }
    for message in &mut messages {
        if let Some(mut files) = by_message.remove(&message.id.0) {
            files.sort_unstable_by_key(|(position, _)| *position);
            message.attachments = files.into_iter().map(|(_, info)| info).collect();
        }
    }
    Ok(messages)
}

pub(crate) fn purge_unsent_attachments(conn: &Connection, before: Timestamp) -> StoreResult<u64> {
    conn.prepare_cached("DELETE FROM attachments WHERE message_id IS NULL AND created_at < ?1")
        .and_then(|mut delete| delete.execute([before.0]))
        .store()
        .map(|n| n as u64)
}

pub(crate) fn blob_deletions(conn: &Connection, limit: i64) -> StoreResult<Vec<String>> {
    let mut select = conn
        .prepare_cached("SELECT blob_key FROM blob_deletions ORDER BY blob_key LIMIT ?1")
        .store()?;
    let rows = select.query_map([limit], |row| row.get(0)).store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn forget_blob_deletions(conn: &Connection, keys: &[String]) -> StoreResult<()> {
    let mut delete = conn
        .prepare_cached("DELETE FROM blob_deletions WHERE blob_key = ?1")
        .store()?;
    for key in keys {
        delete.execute([key]).store()?;
    }
    Ok(())
}
