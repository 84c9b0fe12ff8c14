//! Attachments: uploads checked and stored in the blob store, served back only to those the
//! core lets read them, and blobs deleted once their row is gone.

pub mod blobs;
pub mod inspect;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use confidant_core::attachments::{FileName, StoredFile};
use confidant_core::store::Attachment;
use confidant_core::{AttachmentId, Confidant, Error, MemberId};

use crate::config::MediaConfig;
pub use blobs::{BlobStore, Variant};

/// Images decoded at once: each may take up to 512 MiB while it is read.
const CONCURRENT_DECODES: usize = 2;
/// Blob keys deleted per pass of the deletion job.
const DELETION_BATCH: i64 = 100;

pub struct Attachments {
    blobs: BlobStore,
    max_bytes: usize,
    decoding: Semaphore,
    /// Wakes the deletion job when a message with files was deleted.
    released: Notify,
}

impl Attachments {
    pub fn new(config: &MediaConfig, data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self::with_blobs(
            BlobStore::from_config(config, data_dir)?,
            config.max_bytes as usize,
        ))
    }

    pub fn with_blobs(blobs: BlobStore, max_bytes: usize) -> Self {
        Attachments {
            blobs,
            max_bytes,
            decoding: Semaphore::new(CONCURRENT_DECODES),
            released: Notify::new(),
        }
    }

    /// The largest upload, in bytes (`[media] max_bytes`).
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Checks and stores an upload of `me`'s; it can then be sent with a message.
    pub async fn upload(
        &self,
        app: &Confidant,
        me: MemberId,
        name: Option<&str>,
        upload: Bytes,
    ) -> Result<Attachment, Error> {
        let name = FileName::parse(name)?;
        if upload.is_empty() {
            return Err(Error::invalid("body", "empty_file", "The file is empty."));
        }
        let inspected = {
            let _permit = self
                .decoding
                .acquire()
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            tokio::task::spawn_blocking(move || inspect::inspect(upload))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
        };
        let key = confidant_core::tokens::random_url_safe(18);
        let size = inspected.bytes.len() as i64;
        self.blobs
            .put(&key, Variant::Original, inspected.bytes)
            .await
            .map_err(storage_failed)?;
        let (width, height) = match &inspected.picture {
            Some(picture) => {
                let thumbnail = picture.thumbnail.clone();
                if let Err(error) = self.blobs.put(&key, Variant::Thumbnail, thumbnail).await {
                    self.forget(&key).await;
                    return Err(storage_failed(error));
                }
                (Some(picture.width as i64), Some(picture.height as i64))
            }
            None => (None, None),
        };
        let file = StoredFile {
            blob_key: key.clone(),
            name,
            content_type: inspected.content_type,
            size,
            width,
            height,
            thumbnail: inspected.picture.is_some(),
        };
        match app.record_attachment(me, file).await {
            Ok(attachment) => Ok(attachment),
            Err(error) => {
                self.forget(&key).await;
                Err(error)
            }
        }
    }

    /// The attachment and its bytes (or its thumbnail's), if `me` may read it. `NotFound` for
    /// everything else alike, a missing thumbnail included.
    pub async fn read(
        &self,
        app: &Confidant,
        me: MemberId,
        id: AttachmentId,
        variant: Variant,
    ) -> Result<(Attachment, Bytes), Error> {
        let attachment = app.attachment(me, id).await?;
        if variant == Variant::Thumbnail && !attachment.info.thumbnail {
            return Err(Error::NotFound);
        }
        match self.blobs.get(&attachment.blob_key, variant).await {
            Ok(Some(bytes)) => Ok((attachment, bytes)),
            Ok(None) => {
                tracing::error!(attachment = %id, "an attachment's blob is missing");
                Err(Error::NotFound)
            }
            Err(error) => Err(storage_failed(error)),
        }
    }

    /// Tells the deletion job that blobs may be waiting.
    pub fn released(&self) {
        self.released.notify_one();
    }

    /// Deletes the blobs whose attachment is gone; returns how many.
    pub async fn delete_released(&self, app: &Confidant) -> Result<u64, Error> {
        let mut deleted = 0;
        loop {
            let keys = app.blob_deletions(DELETION_BATCH).await?;
            if keys.is_empty() {
                return Ok(deleted);
            }
            let mut done = Vec::with_capacity(keys.len());
            for key in keys {
                match self.blobs.delete(&key).await {
                    Ok(()) => done.push(key),
                    Err(error) => tracing::warn!(%error, "could not delete a blob; will retry"),
                }
            }
            if done.is_empty() {
                return Ok(deleted);
            }
            app.forget_blob_deletions(&done).await?;
            deleted += done.len() as u64;
        }
    }

    /// Deletes released blobs when told to, and every minute; purges uploads never sent
    /// every hour.
    pub async fn run_cleanup(self: Arc<Self>, app: Confidant, cancel: CancellationToken) {
        let mut minutes = tokio::time::interval(Duration::from_secs(60));
        let mut passes = 0u64;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = minutes.tick() => {
                    if passes.is_multiple_of(60) {
                        match app.purge_unsent_attachments().await {
                            Ok(0) => {}
                            Ok(rows) => tracing::info!(rows, "removed uploads never sent"),
                            Err(error) => tracing::warn!(%error, "could not purge unsent uploads"),
                        }
                    }
                    passes += 1;
                }
                _ = self.released.notified() => {}
            }
            match self.delete_released(&app).await {
                Ok(0) => {}
                Ok(blobs) => tracing::debug!(blobs, "deleted the blobs of removed attachments"),
                Err(error) => tracing::warn!(%error, "could not delete released blobs"),
            }
        }
    }

    /// Best effort, for a blob whose row was never written.
    async fn forget(&self, key: &str) {
        if let Err(error) = self.blobs.delete(key).await {
            tracing::warn!(%error, "could not delete the blob of a failed upload");
        }
    }
}

fn storage_failed(error: anyhow::Error) -> Error {
    Error::Internal(format!("the blob store failed: {error:#}"))
}
