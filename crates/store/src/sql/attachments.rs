//! Attachments and the blob deletion queue.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::attachments`); the SQL here serves
//! PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::PgConnection;

use super::{ResultExt, SqlStore};
use crate::sqlite::attachments as sqlite;
use confidant_core::store::{
    Attachment, AttachmentInfo, AttachmentStore, Message, NewAttachment, StoreResult,
};
use confidant_core::{AttachmentId, MemberId, MessageId, StoreError, Timestamp};

/// What a message shows of an attachment `a`, in [`AttachmentInfo`]'s order.
pub(crate) const INFO_COLUMNS: &str =
    "a.id, a.name, a.content_type, a.size_bytes, a.width, a.height, a.has_thumbnail";

/// The columns [`AttachmentRow`] reads, by name on PostgreSQL and by position on SQLite.
pub(crate) const ATTACHMENT_COLUMNS: &str = "a.id, a.name, a.content_type, a.size_bytes, \
     a.width, a.height, a.has_thumbnail, a.uploader_id, a.message_id, a.blob_key, a.created_at";

/// Whether the member bound as `$viewer` (`$2`, `?2`) may read attachment `a`: they uploaded
/// it, or they are in the conversation of the message that carries it and the message stands.
macro_rules! visible_to {
    ($viewer:literal) => {
        concat!(
            "(a.uploader_id = ",
            $viewer,
            " OR EXISTS (SELECT 1 FROM messages m \
             JOIN conversation_members cm ON cm.conversation_id = m.conversation_id \
             WHERE m.id = a.message_id AND m.deleted_at IS NULL AND cm.member_id = ",
            $viewer,
            "))"
        )
    };
}
pub(crate) use visible_to;

#[derive(sqlx::FromRow)]
pub(crate) struct AttachmentRow {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub has_thumbnail: bool,
    pub uploader_id: i64,
    pub message_id: Option<i64>,
    pub blob_key: String,
    pub created_at: i64,
}

impl From<AttachmentRow> for Attachment {
    fn from(row: AttachmentRow) -> Self {
        Attachment {
            info: AttachmentInfo {
                id: AttachmentId(row.id),
                name: row.name,
                content_type: row.content_type,
                size: row.size_bytes,
                width: row.width,
                height: row.height,
                thumbnail: row.has_thumbnail,
            },
            uploader: MemberId(row.uploader_id),
            message_id: row.message_id.map(MessageId),
            blob_key: row.blob_key,
            created_at: Timestamp(row.created_at),
        }
    }
}

/// Puts the sender's unsent uploads `ids` on message `message`, in order, inside the caller's
/// transaction. `Conflict("attachment")` if one is not theirs or was already sent.
pub(crate) async fn link_attachments(
    conn: &mut PgConnection,
    message: MessageId,
    sender: MemberId,
    ids: &[AttachmentId],
) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let linked = sqlx::query(
        "UPDATE attachments a SET message_id = $1, position = l.position - 1 \
         FROM UNNEST($2::BIGINT[]) WITH ORDINALITY AS l(id, position) \
         WHERE a.id = l.id AND a.uploader_id = $3 AND a.message_id IS NULL",
    )
    .bind(message.0)
    .bind(&raw)
    .bind(sender.0)
    .execute(&mut *conn)
    .await
    .store()?
    .rows_affected();
    if linked != ids.len() as u64 {
        return Err(StoreError::Conflict("attachment"));
    }
    Ok(())
}

/// Deletes the attachments of a message being deleted; their blobs are queued for deletion.
pub(crate) async fn unlink_attachments(
    conn: &mut PgConnection,
    message: MessageId,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM attachments WHERE message_id = $1")
        .bind(message.0)
        .execute(&mut *conn)
        .await
        .store()
        .map(drop)
}

impl SqlStore {
    /// Fills in the attachments of `messages`, in one query.
    pub(crate) async fn with_attachments(
        &self,
        mut messages: Vec<Message>,
    ) -> StoreResult<Vec<Message>> {
        let ids: Vec<i64> = messages
            .iter()
            .filter(|message| !message.deleted && message.system.is_none())
            .map(|message| message.id.0)
            .collect();
        if ids.is_empty() {
            return Ok(messages);
        }
        #[derive(sqlx::FromRow)]
        struct Row {
            message_id: i64,
            #[sqlx(flatten)]
            info: InfoRow,
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT a.message_id, {INFO_COLUMNS} FROM attachments a \
             WHERE a.message_id = ANY($1) ORDER BY a.message_id, a.position"
        ))
        .bind(&ids)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        let mut by_message: HashMap<i64, Vec<AttachmentInfo>> = HashMap::new();
        for row in rows {
            by_message
                .entry(row.message_id)
                .or_default()
                .push(row.info.into());
        }
        for message in &mut messages {
            if let Some(files) = by_message.remove(&message.id.0) {
                message.attachments = files;
            }
        }
        Ok(messages)
    }
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    id: i64,
    name: String,
    content_type: String,
    size_bytes: i64,
    width: Option<i64>,
    height: Option<i64>,
    has_thumbnail: bool,
}

impl From<InfoRow> for AttachmentInfo {
    fn from(row: InfoRow) -> Self {
        AttachmentInfo {
            id: AttachmentId(row.id),
            name: row.name,
            content_type: row.content_type,
            size: row.size_bytes,
            width: row.width,
            height: row.height,
            thumbnail: row.has_thumbnail,
        }
    }
}

#[async_trait]
impl AttachmentStore for SqlStore {
    async fn insert_attachment(&self, new: NewAttachment) -> StoreResult<Attachment> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::insert_attachment(conn, &new))
                .await;
        }
        let row: AttachmentRow = sqlx::query_as(&format!(
            "INSERT INTO attachments AS a (uploader_id, blob_key, name, content_type, \
             size_bytes, width, height, has_thumbnail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {ATTACHMENT_COLUMNS}"
        ))
        .bind(new.uploader.0)
        .bind(&new.blob_key)
        .bind(&new.name)
        .bind(&new.content_type)
        .bind(new.size)
        .bind(new.width)
        .bind(new.height)
        .bind(new.thumbnail)
        .bind(new.created_at.0)
        .fetch_one(&self.pg().pool)
        .await
        .store()?;
        Ok(row.into())
    }

    async fn attachment_for(
        &self,
        id: AttachmentId,
        viewer: MemberId,
    ) -> StoreResult<Option<Attachment>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::attachment_for(conn, id, viewer))
                .await;
        }
        let row: Option<AttachmentRow> = sqlx::query_as(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.id = $1 AND {}",
            visible_to!("$2")
        ))
        .bind(id.0)
        .bind(viewer.0)
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        Ok(row.map(Attachment::from))
    }

    async fn attachments_by(&self, uploader: MemberId) -> StoreResult<Vec<Attachment>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::attachments_by(conn, uploader))
                .await;
        }
        let rows: Vec<AttachmentRow> = sqlx::query_as(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.uploader_id = $1 \
             ORDER BY a.id"
        ))
        .bind(uploader.0)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        Ok(rows.into_iter().map(Attachment::from).collect())
    }

    async fn purge_unsent_attachments(&self, before: Timestamp) -> StoreResult<u64> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::purge_unsent_attachments(conn, before))
                .await;
        }
        sqlx::query("DELETE FROM attachments WHERE message_id IS NULL AND created_at < $1")
            .bind(before.0)
            .execute(&self.pg().pool)
            .await
            .store()
            .map(|done| done.rows_affected())
    }

    async fn blob_deletions(&self, limit: i64) -> StoreResult<Vec<String>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::blob_deletions(conn, limit))
                .await;
        }
        sqlx::query_scalar("SELECT blob_key FROM blob_deletions ORDER BY blob_key LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pg().pool)
            .await
            .store()
    }

    async fn forget_blob_deletions(&self, keys: &[String]) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            let keys = keys.to_vec();
            return db
                .write(move |conn| sqlite::forget_blob_deletions(conn, &keys))
                .await;
        }
        sqlx::query("DELETE FROM blob_deletions WHERE blob_key = ANY($1)")
            .bind(keys)
            .execute(&self.pg().pool)
            .await
            .store()
            .map(drop)
    }
}
