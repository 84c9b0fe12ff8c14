//! Files members upload and send with messages. The store keeps what is known about each
//! file and who may read it; the bytes live in a blob store under `blob_key`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::{AttachmentId, MemberId, MessageId, Timestamp};

/// A file as a message shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub id: AttachmentId,
    pub name: String,
    /// Sniffed from the bytes when it was uploaded.
    pub content_type: String,
    pub size: i64,
    /// An image's size in pixels; `None` for other files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    /// Whether a thumbnail was made (images only).
    #[serde(default)]
    pub thumbnail: bool,
}

/// An attachment with where its bytes are and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub info: AttachmentInfo,
    pub uploader: MemberId,
    /// The message that carries it; `None` until it is sent.
    pub message_id: Option<MessageId>,
    pub blob_key: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub uploader: MemberId,
    pub blob_key: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub thumbnail: bool,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait AttachmentStore: Send + Sync {
    async fn insert_attachment(&self, new: NewAttachment) -> StoreResult<Attachment>;
    /// The attachment if `viewer` may read it: they uploaded it, or they are in the
    /// conversation of the message that carries it (and that message is not deleted).
    /// `None` for every other case alike.
    async fn attachment_for(
        &self,
        id: AttachmentId,
        viewer: MemberId,
    ) -> StoreResult<Option<Attachment>>;
    /// Everything `uploader` uploaded that still exists, oldest first.
    async fn attachments_by(&self, uploader: MemberId) -> StoreResult<Vec<Attachment>>;
    /// Deletes uploads no message carries that were made before `before`; returns how many.
    async fn purge_unsent_attachments(&self, before: Timestamp) -> StoreResult<u64>;
    /// Up to `limit` blob keys whose attachment is gone, for the blob store to delete.
    async fn blob_deletions(&self, limit: i64) -> StoreResult<Vec<String>>;
    /// Takes keys off the deletion queue once their blobs are deleted.
    async fn forget_blob_deletions(&self, keys: &[String]) -> StoreResult<()>;
}
