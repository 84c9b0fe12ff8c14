//! Where attachments' bytes are kept: files under the data directory by default, or an
//! S3-compatible bucket (through the `object_store` crate) that several nodes share.
//!
//! A blob is written before the row that makes it reachable is committed, and deleted only
//! after its row is gone (see the `blob_deletions` queue), so a crash leaves at worst a blob
//! that is deleted later, never a row without its bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use crate::config::MediaConfig;

/// The two blobs one attachment may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    fn folder(self) -> &'static str {
        match self {
            Variant::Original => "attachments",
            Variant::Thumbnail => "thumbnails",
        }
    }
}

#[derive(Clone)]
pub enum BlobStore {
    /// Files under a folder of the data directory.
    Local(PathBuf),
    /// A bucket of an S3-compatible store.
    Bucket(Arc<dyn ObjectStore>),
}

impl BlobStore {
    /// The store `[media]` configures: a bucket when `s3_bucket` is set, otherwise
    /// `<data_dir>/blobs`.
    pub fn from_config(config: &MediaConfig, data_dir: &Path) -> anyhow::Result<Self> {
        let Some(bucket) = &config.s3_bucket else {
            return Ok(BlobStore::Local(data_dir.join("blobs")));
        };
        // Credentials from the config (or CONFIDANT_MEDIA__S3_… variables) when given, else
        // the standard AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or an instance role.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&config.s3_region);
        if let (Some(id), Some(secret)) = (&config.s3_access_key_id, &config.s3_secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(&secret.0);
        }
        if let Some(endpoint) = &config.s3_endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                // Self-hosted stores (MinIO, Garage, Ceph) name buckets in the path.
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .with_context(|| format!("cannot use the S3 bucket {bucket:?} of [media]"))?;
        Ok(BlobStore::Bucket(Arc::new(store)))
    }

    /// Stores a blob durably: on local disk the file is synced and renamed into place, so an
    /// acknowledged upload survives a crash.
    pub async fn put(&self, key: &str, variant: Variant, bytes: Bytes) -> anyhow::Result<()> {
        check_key(key)?;
        match self {
            BlobStore::Local(root) => {
                let folder = root.join(variant.folder());
                let path = folder.join(key);
                tokio::task::spawn_blocking(move || write_durably(&folder, &path, &bytes))
                    .await
                    .context("blob writer stopped")?
            }
            BlobStore::Bucket(store) => {
                store
                    .put(&object_path(key, variant), bytes.into())
                    .await
                    .context("cannot store the blob")?;
                Ok(())
            }
        }
    }

    /// The blob's bytes; `None` if there is none.
    pub async fn get(&self, key: &str, variant: Variant) -> anyhow::Result<Option<Bytes>> {
        check_key(key)?;
        match self {
            BlobStore::Local(root) => {
                match tokio::fs::read(root.join(variant.folder()).join(key)).await {
                    Ok(bytes) => Ok(Some(bytes.into())),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(error) => Err(error).context("cannot read the blob"),
                }
            }
            BlobStore::Bucket(store) => match store.get(&object_path(key, variant)).await {
                Ok(found) => Ok(Some(found.bytes().await.context("cannot read the blob")?)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(error) => Err(error).context("cannot read the blob"),
            },
        }
    }

    /// Deletes both blobs of `key`; one that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        check_key(key)?;
        for variant in [Variant::Original, Variant::Thumbnail] {
            match self {
                BlobStore::Local(root) => {
                    match tokio::fs::remove_file(root.join(variant.folder()).join(key)).await {
                        Ok(()) => {}
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => return Err(error).context("cannot delete the blob"),
                    }
                }
                BlobStore::Bucket(store) => match store.delete(&object_path(key, variant)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(error) => return Err(error).context("cannot delete the blob"),
                },
            }
        }
        Ok(())
    }
}

fn object_path(key: &str, variant: Variant) -> object_store::path::Path {
    object_store::path::Path::from(format!("{}/{key}", variant.folder()))
}

/// Keys are made here (URL-safe base64); anything else read back is refused before it
/// becomes part of a path.
fn check_key(key: &str) -> anyhow::Result<()> {
    let well_formed = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    anyhow::ensure!(well_formed, "not a blob key: {key:?}");
    Ok(())
}

fn write_durably(folder: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let partial = path.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    std::fs::File::open(folder)?.sync_all()?;
    Ok(())
}
