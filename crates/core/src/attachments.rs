//! Attachments: files a member uploads and then sends with a message.
//!
//! The server reads and checks the bytes (their type is sniffed, images get a thumbnail with
//! their metadata stripped) and puts them in its blob store; here are the rules about who may
//! send and read them. An upload is its uploader's alone until a message carries it; then the
//! members of that conversation may read it too, for as long as they are in it and the
//! message is not deleted. Anyone else gets the same `NotFound` as for an id that never was.

use crate::store::{Attachment, NewAttachment};
use crate::{AttachmentId, Confidant, Error, MemberId};

/// The most files one message carries.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;
/// How long an upload no message carries is kept, for a draft to be sent.
pub const UNSENT_RETENTION_SECS: i64 = 24 * 3600;
/// The longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// A file's name as it is offered for download: no path, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// What a file is called when its uploader gave no name.
    pub const UNNAMED: &'static str = "file";

    pub fn parse(input: Option<&str>) -> Result<Self, Error> {
        let Some(input) = input else {
            return Ok(FileName(Self::UNNAMED.to_owned()));
        };
        if input.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid(
                "name",
                "name_too_long",
                format!("A file name is at most {MAX_NAME_CHARS} characters."),
            ));
        }
        // Only the last part of a path names the file; a browser offering it for download
        // must not be led into another folder.
        let last = input.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last
            .chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect();
        let cleaned = cleaned.trim().trim_start_matches('.').trim();
        if cleaned.is_empty() {
            return Ok(FileName(Self::UNNAMED.to_owned()));
        }
        Ok(FileName(cleaned.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A file the server has checked and stored, to be recorded as `me`'s upload.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub blob_key: String,
    pub name: FileName,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub thumbnail: bool,
}

impl Confidant {
    /// Records a file the server has put in its blob store as `me`'s upload, ready to send.
    pub async fn record_attachment(
        &self,
        me: MemberId,
        file: StoredFile,
    ) -> Result<Attachment, Error> {
        let new = NewAttachment {
            uploader: me,
            blob_key: file.blob_key,
            name: file.name.0,
            content_type: file.content_type,
            size: file.size,
            width: file.width,
            height: file.height,
            thumbnail: file.thumbnail,
            created_at: self.clock.now(),
        };
        Ok(self.store.insert_attachment(new).await?)
    }

    /// An attachment `me` may read: their own upload, or one sent in a conversation they are
    /// in. `NotFound` for everything else alike.
    pub async fn attachment(&self, me: MemberId, id: AttachmentId) -> Result<Attachment, Error> {
        self.store
            .attachment_for(id, me)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Everything `me` uploaded that still exists, for their export.
    pub async fn attachments_by(&self, me: MemberId) -> Result<Vec<Attachment>, Error> {
        Ok(self.store.attachments_by(me).await?)
    }

    /// Deletes uploads that no message carried within [`UNSENT_RETENTION_SECS`]; returns how
    /// many. Run periodically by the server, which then deletes their blobs.
    pub async fn purge_unsent_attachments(&self) -> Result<u64, Error> {
        let before = self.clock.now().plus_secs(-UNSENT_RETENTION_SECS);
        Ok(self.store.purge_unsent_attachments(before).await?)
    }

    /// Blob keys whose attachment is gone: the blob store deletes them, then
    /// [`forget_blob_deletions`](Self::forget_blob_deletions) takes them off the queue.
    pub async fn blob_deletions(&self, limit: i64) -> Result<Vec<String>, Error> {
        Ok(self.store.blob_deletions(limit).await?)
    }

    pub async fn forget_blob_deletions(&self, keys: &[String]) -> Result<(), Error> {
        Ok(self.store.forget_blob_deletions(keys).await?)
    }
}

/// The attachments a send names: at most [`MAX_ATTACHMENTS_PER_MESSAGE`], each once.
pub(crate) fn check_attachment_list(ids: &[AttachmentId]) -> Result<(), Error> {
    if ids.len() > MAX_ATTACHMENTS_PER_MESSAGE {
        return Err(Error::invalid(
            "attachments",
            "too_many_attachments",
            format!("A message carries at most {MAX_ATTACHMENTS_PER_MESSAGE} files."),
        ));
    }
    if ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id)) {
        return Err(Error::invalid(
            "attachments",
            "duplicate_attachment",
            "A file is attached once.",
        ));
    }
    Ok(())
}

/// The answer to a send naming an attachment that is not the sender's unsent upload.
pub(crate) fn unknown_attachment() -> Error {
    Error::invalid(
        "attachments",
        "unknown_attachment",
        "An attachment is not one of your uploads, or it was already sent.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_path_and_control_characters() {
        let name = |input: &str| FileName::parse(Some(input)).unwrap().0;
        assert_eq!(name("holiday.jpg"), "holiday.jpg");
        assert_eq!(name("../../etc/passwd"), "passwd");
        assert_eq!(name("C:\\Users\\me\\notes.txt"), "notes.txt");
        assert_eq!(name("a\nb\u{0}.txt"), "a_b_.txt");
        assert_eq!(name(".htaccess"), "htaccess");
        assert_eq!(name("dir/"), FileName::UNNAMED);
        assert_eq!(FileName::parse(None).unwrap().0, FileName::UNNAMED);
        assert!(FileName::parse(Some(&"x".repeat(MAX_NAME_CHARS + 1))).is_err());
    }

    #[test]
    fn a_message_names_each_file_once_and_at_most_ten() {
        let ids: Vec<AttachmentId> = (0..10).map(AttachmentId).collect();
        assert!(check_attachment_list(&ids).is_ok());
        let eleven: Vec<AttachmentId> = (0..11).map(AttachmentId).collect();
        assert!(check_attachment_list(&eleven).is_err());
        assert!(check_attachment_list(&[AttachmentId(1), AttachmentId(1)]).is_err());
    }
}
