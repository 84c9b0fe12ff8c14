//! Online backups, their verification, and restores.
//!
//! A backup is a zip file:
//!
//! - `manifest.json`: what the backup holds, the SHA-256 of every other file in it, and a
//!   checkpoint of every member's access log signed at backup time from the same snapshot
//!   as the database copy;
//! - the database: `confidant.db` (SQLite, by `VACUUM INTO`) or `confidant.pgdump`
//!   (`pg_dump --format=custom` of an exported snapshot);
//! - `blobs/…`: attachment files kept under the data directory (a bucket keeps its own);
//! - `access-log.key`, the log signing key, only when asked for: whoever holds it can sign
//!   checkpoints in the deployment's name.
//!
//! Verifying loads the database into a scratch copy (a temporary file, or a scratch
//! PostgreSQL database that is dropped afterwards), checks its integrity, recomputes every
//! member's Merkle root from their entries, and checks it against both the stored head and
//! the signed checkpoint. A restore verifies first and refuses a target that is not empty.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use confidant_core::MemberId;
use confidant_core::store::{AccessLogStore, DeploymentStore, setting};
use confidant_log::{Frontier, LogSigner, PublicKey};
use confidant_store::{Backend, SqlStore};

use crate::attachments::BlobStore;
use crate::config::Config;
use crate::startup;

/// The version of the file layout below; a restore refuses layouts it does not know.
const FORMAT: &str = "confidant-backup/1";
const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "confidant.db";
const POSTGRES_FILE: &str = "confidant.pgdump";
const LOG_KEY_FILE: &str = "access-log.key";
/// Entries read per round trip when recomputing a log.
const LOG_PAGE: u32 = 1000;

/// What `manifest.json` says.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    confidant_version: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// `sqlite` or `postgres`.
    backend: String,
    /// The deployment's log verifier key, as pinned in the database.
    log_public_key: String,
    /// Every member log with at least one entry, signed at backup time.
    checkpoints: Vec<MemberCheckpoint>,
    /// On PostgreSQL, the schema the dump's tables are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    postgres_schema: Option<String>,
    /// Whether `blobs/` holds the attachments, or why not.
    blobs: BlobsIncluded,
    /// Attachments whose file was deleted (with their message) between the snapshot and
    /// the copy of the files: a restore has them without their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deleted_meanwhile: Vec<String>,
    /// Every other file in the archive: name → SHA-256 (hex).
    files: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberCheckpoint {
    member_id: i64,
    checkpoint: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "where")]
enum BlobsIncluded {
    /// Under `blobs/`.
    InBackup,
    /// In an S3-compatible bucket, which is backed up on its own.
    InBucket,
}

/// What a backup holds, as `backup` reports it.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub file: PathBuf,
    pub backend: &'static str,
    pub bytes: u64,
    pub member_logs: usize,
    pub log_entries: u64,
    pub attachments: usize,
    pub with_key: bool,
}

/// What verification found.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub backend: String,
    pub created_at: String,
    pub member_logs: usize,
    pub log_entries: u64,
    pub attachments: usize,
    pub blobs_in_backup: bool,
    /// Attachments whose message was deleted while the backup was taken, so that their
    /// file was already gone: they restore without their bytes.
    pub attachments_deleted_meanwhile: usize,
    pub with_key: bool,
}

/// Takes a backup while the server may be running.
pub async fn create(
    config: &Config,
    out: &Path,
    with_key: bool,
    progress: &dyn Fn(&str),
) -> anyhow::Result<Summary> {
    let store = startup::open_store(config).await?;
    let signer = startup::pinned_log_signer(config, &store).await?;
    let result = create_with(config, &store, &signer, out, with_key, progress).await;
    store.close().await;
    result
}

async fn create_with(
    config: &Config,
    store: &SqlStore,
    signer: &LogSigner,
    out: &Path,
    with_key: bool,
    progress: &dyn Fn(&str),
) -> anyhow::Result<Summary> {
    if out.exists() {
        bail!("{} already exists; choose a new file", out.display());
    }
    let folder = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let scratch = tempfile::tempdir_in(folder)
        .with_context(|| format!("cannot write in {}", folder.display()))?;
    // Written beside the destination and renamed into place once complete and synced: a
    // backup cut short never passes for a whole one.
    let partial = scratch.path().join("backup.zip");
    let mut archive = ArchiveWriter::create(&partial)?;

    progress("copying the database");
    let mut postgres_schema = None;
    let (heads, blob_keys) = match store.backend() {
        Backend::Sqlite => {
            let copy = scratch.path().join(SQLITE_FILE);
            store.copy_sqlite_into(&copy).await?;
            archive.add_file(SQLITE_FILE, &copy, CompressionMethod::Deflated)?;
            // The copy is read only after it is in the archive: opening it may touch it.
            let snapshot = confidant_store::connect(&sqlite_url(&copy)).await?;
            let read =
                async { anyhow::Ok((snapshot.log_heads().await?, snapshot.blob_keys().await?)) }
                    .await;
            snapshot.close().await;
            read?
        }
        Backend::Postgres => {
            let dump = scratch.path().join(POSTGRES_FILE);
            let mut snapshot = store.export_postgres_snapshot().await?;
            let schema = snapshot.schema().await;
            let heads = snapshot.log_heads().await;
            let blob_keys = snapshot.blob_keys().await;
            let dumped = match &schema {
                Ok(schema) => pg_dump(&config.database_url(), snapshot.id(), schema, &dump),
                Err(_) => Ok(()),
            };
            snapshot.release().await;
            dumped?;
            postgres_schema = Some(schema?);
            archive.add_file(POSTGRES_FILE, &dump, CompressionMethod::Stored)?;
            (heads?, blob_keys?)
        }
    };

    progress("copying attachments");
    let blobs = BlobStore::from_config(&config.media, &config.data_dir)?;
    let mut deleted_meanwhile = Vec::new();
    let blobs_included = match &blobs {
        BlobStore::Local(root) => {
            for key in &blob_keys {
                let original = root.join("attachments").join(key);
                if !original.exists() {
                    // Its message was deleted after the snapshot and the file cleaned up
                    // before it was copied: recorded, so that verification can tell this
                    // from a file lost from the backup.
                    deleted_meanwhile.push(key.clone());
                    continue;
                }
                archive.add_file(
                    &format!("blobs/attachments/{key}"),
                    &original,
                    CompressionMethod::Stored,
                )?;
                let thumbnail = root.join("thumbnails").join(key);
                if thumbnail.exists() {
                    archive.add_file(
                        &format!("blobs/thumbnails/{key}"),
                        &thumbnail,
                        CompressionMethod::Stored,
                    )?;
                }
            }
            BlobsIncluded::InBackup
        }
        BlobStore::Bucket(_) => BlobsIncluded::InBucket,
    };

    if with_key {
        archive.add_file(
            LOG_KEY_FILE,
            &startup::log_key_path(config),
            CompressionMethod::Stored,
        )?;
    }

    let log_entries = heads.iter().map(|(_, head)| head.size).sum();
    let checkpoints = heads
        .iter()
        .filter(|(_, head)| head.size > 0)
        .map(|(member, head)| MemberCheckpoint {
            member_id: member.0,
            checkpoint: signer.sign(
                &confidant_log::origin(signer.name(), member.0),
                head.size,
                head.root,
            ),
        })
        .collect::<Vec<_>>();
    let manifest = Manifest {
        format: FORMAT.into(),
        confidant_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now_rfc3339(),
        backend: store.backend().name().into(),
        log_public_key: signer.public_key().into(),
        checkpoints,
        postgres_schema,
        blobs: blobs_included,
        deleted_meanwhile,
        files: archive.hashes.clone(),
    };
    let member_logs = manifest.checkpoints.len();
    archive.finish(&manifest)?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot move the backup to {}", out.display()))?;
    sync_folder(folder)?;
    Ok(Summary {
        file: out.to_owned(),
        backend: store.backend().name(),
        bytes: std::fs::metadata(out)?.len(),
        member_logs,
        log_entries,
        attachments: blob_keys.len(),
        with_key,
    })
}

/// Checks a backup without changing anything the deployment uses. A PostgreSQL backup is
/// loaded into a scratch database on the server `config` names, which is dropped afterwards.
pub async fn verify(
    config: &Config,
    file: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<Verified> {
    let mut backup = Backup::open(file)?;
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    progress("checking the files");
    backup.check_files()?;
    let key = if backup.has(LOG_KEY_FILE) {
        Some(String::from_utf8(backup.read(LOG_KEY_FILE)?).context("the key file is not text")?)
    } else {
        None
    };
    progress("loading the database");
    let loaded = backup.load_scratch(config, scratch.path()).await?;
    progress("recomputing every member's log");
    let checked = check_database(&loaded.store, &backup.manifest, key.as_deref()).await;
    loaded.discard().await;
    checked
}

/// Restores a backup into the empty data directory or database `config` names, after
/// verifying it.
pub async fn restore(
    config: &Config,
    file: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<Verified> {
    let mut backup = Backup::open(file)?;
    let url = config.database_url();
    let target_backend = Backend::from_url(&url)?;
    if backup.manifest.backend != target_backend.name() {
        bail!(
            "this is a {0} backup; restore it into a {0} database",
            backup.manifest.backend
        );
    }
    if target_backend == Backend::Sqlite {
        // Never opened here: a connection left on the file would outlive the restore.
        let path = confidant_store::sqlite_path(&url)?;
        if path.exists() {
            bail!(
                "{} already exists; restore only into an empty data directory (move it away \
                 first)",
                path.display()
            );
        }
    } else {
        let target = startup::connect_store(config).await?;
        let prepared = prepare_target(&target, &backup.manifest).await;
        target.close().await;
        prepared?;
    }
    let verified = verify(config, file, progress).await?;
    let key_path = startup::log_key_path(config);
    if key_path.exists() && backup.has(LOG_KEY_FILE) {
        let existing = std::fs::read_to_string(&key_path)?;
        let existing = LogSigner::from_private_key(&existing)
            .with_context(|| format!("{} is not a log signing key", key_path.display()))?;
        if existing.public_key() != backup.manifest.log_public_key {
            bail!(
                "{} holds a different access-log key than the backup's; move it away first",
                key_path.display()
            );
        }
    }

    progress("restoring the database");
    match target_backend {
        Backend::Sqlite => {
            let path = confidant_store::sqlite_path(&config.database_url())?;
            let folder = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(folder)?;
            let partial = tempfile::NamedTempFile::new_in(folder)?;
            backup.extract(SQLITE_FILE, partial.path())?;
            partial
                .persist_noclobber(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            sync_folder(folder)?;
        }
        Backend::Postgres => {
            let dump = tempfile::NamedTempFile::new()?;
            backup.extract(POSTGRES_FILE, dump.path())?;
            pg_restore(
                &config.database_url(),
                dump.path(),
                &backup.postgres_schema()?,
            )?;
        }
    }

    progress("restoring attachments");
    if let BlobStore::Local(root) = BlobStore::from_config(&config.media, &config.data_dir)? {
        for name in backup.names_under("blobs/") {
            let relative = name.trim_start_matches("blobs/");
            let path = root.join(relative);
            std::fs::create_dir_all(path.parent().unwrap_or(&root))?;
            backup.extract(&name, &path)?;
        }
    }
    if backup.has(LOG_KEY_FILE) && !key_path.exists() {
        std::fs::create_dir_all(&config.data_dir)?;
        let mut file = create_private(&key_path)?;
        let key = backup.read(LOG_KEY_FILE)?;
        file.write_all(&key)?;
        file.sync_all()?;
    }
    Ok(verified)
}

/// Checks that the PostgreSQL `target` can take the backup: no tables yet, and a search path
/// that resolves to the backup's schema (created if missing).
async fn prepare_target(target: &SqlStore, manifest: &Manifest) -> anyhow::Result<()> {
    if !target.is_empty().await? {
        bail!("the target already holds a Confidant database; restore only into an empty one");
    }
    if let Some(schema) = &manifest.postgres_schema {
        let resolved = target.prepare_postgres_schema(schema).await?;
        if resolved.as_deref() != Some(schema.as_str()) {
            bail!(
                "the backup's tables are in the schema {schema:?}, but the target database's \
                 search path resolves to {resolved:?}"
            );
        }
    }
    Ok(())
}

/// Whether the restored deployment can start: it needs its log key.
pub fn missing_key_warning(config: &Config) -> Option<String> {
    let path = startup::log_key_path(config);
    (!path.exists()).then(|| {
        format!(
            "the backup holds no access-log key and {} is missing: copy the deployment's key \
             file there before starting the server (it will not sign with a new one)",
            path.display()
        )
    })
}

/// A scratch copy of a backup's database.
struct Loaded {
    store: SqlStore,
    /// The scratch PostgreSQL database, dropped by [`Loaded::discard`].
    scratch_database: Option<(String, String)>,
}

impl Loaded {
    async fn discard(self) {
        self.store.close().await;
        drop(self.store);
        if let Some((server_url, name)) = self.scratch_database {
            drop_scratch_database(&server_url, &name).await;
        }
    }
}

/// Drops a scratch database made to check a backup in; a failure is only logged, since the
/// check's own answer matters more.
async fn drop_scratch_database(server_url: &str, name: &str) {
    let dropped = async {
        let server = confidant_store::connect(server_url).await?;
        let dropped = server
            .execute_raw(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        server.close().await;
        anyhow::Ok(dropped?)
    }
    .await;
    if let Err(error) = dropped {
        tracing::warn!(%error, database = name, "cannot drop the scratch database");
    }
}

/// An open backup file.
struct Backup {
    zip: ZipArchive<BufReader<File>>,
    manifest: Manifest,
}

impl Backup {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut zip = ZipArchive::new(BufReader::new(file))
            .with_context(|| format!("{} is not a Confidant backup (not a zip)", path.display()))?;
        let manifest: Manifest = {
            let entry = zip
                .by_name(MANIFEST)
                .with_context(|| format!("{} has no {MANIFEST}", path.display()))?;
            serde_json::from_reader(entry).context("the manifest is not valid")?
        };
        if manifest.format != FORMAT {
            bail!(
                "{} is a {:?} backup; this Confidant reads {FORMAT}",
                path.display(),
                manifest.format
            );
        }
        Ok(Backup { zip, manifest })
    }

    fn postgres_schema(&self) -> anyhow::Result<String> {
        self.manifest
            .postgres_schema
            .clone()
            .context("the manifest of a PostgreSQL backup names no schema")
    }

    fn has(&self, name: &str) -> bool {
        self.manifest.files.contains_key(name)
    }

    fn names_under(&self, prefix: &str) -> Vec<String> {
        self.manifest
            .files
            .keys()
            .filter(|name| name.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Every file is there, with the hash the manifest gives, and nothing else is.
    fn check_files(&mut self) -> anyhow::Result<()> {
        for index in 0..self.zip.len() {
            let name = self.zip.by_index(index)?.name().to_owned();
            if name != MANIFEST && !self.manifest.files.contains_key(&name) {
                bail!("{name} is in the backup but not in its manifest");
            }
        }
        let names: Vec<String> = self.manifest.files.keys().cloned().collect();
        for name in names {
            self.copy_checked(&name, &mut std::io::sink())?;
        }
        Ok(())
    }

    /// Copies one file out, failing if its hash is not the manifest's.
    fn copy_checked(&mut self, name: &str, to: &mut dyn Write) -> anyhow::Result<()> {
        let expected = self
            .manifest
            .files
            .get(name)
            .with_context(|| format!("the manifest lists no {name}"))?
            .clone();
        let entry = self
            .zip
            .by_name(name)
            .with_context(|| format!("{name} is missing from the backup"))?;
        let mut reader = HashingReader::new(entry);
        std::io::copy(&mut reader, to).with_context(|| format!("cannot read {name}"))?;
        let actual = reader.hex();
        if actual != expected {
            bail!("{name} is damaged: its SHA-256 is {actual}, the manifest says {expected}");
        }
        Ok(())
    }

    fn extract(&mut self, name: &str, path: &Path) -> anyhow::Result<()> {
        let mut file =
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        self.copy_checked(name, &mut file)?;
        file.sync_all()?;
        Ok(())
    }

    fn read(&mut self, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.copy_checked(name, &mut bytes)?;
        Ok(bytes)
    }

    /// Loads the database into a scratch copy: a file under `folder`, or a new database on
    /// the PostgreSQL server `config` names.
    async fn load_scratch(&mut self, config: &Config, folder: &Path) -> anyhow::Result<Loaded> {
        match self.manifest.backend.as_str() {
            "sqlite" => {
                let path = folder.join(SQLITE_FILE);
                self.extract(SQLITE_FILE, &path)?;
                Ok(Loaded {
                    store: confidant_store::connect(&sqlite_url(&path)).await?,
                    scratch_database: None,
                })
            }
            "postgres" => {
                let server_url = config.database_url();
                if !server_url.starts_with("postgres") {
                    bail!(
                        "checking a PostgreSQL backup loads it into a scratch database: pass \
                         --database-url postgres://… of a server where one may be created"
                    );
                }
                let dump = folder.join(POSTGRES_FILE);
                self.extract(POSTGRES_FILE, &dump)?;
                let name = format!("confidant_verify_{}", hex_id());
                let server = confidant_store::connect(&server_url).await?;
                let created = server
                    .execute_raw(&format!("CREATE DATABASE \"{name}\""))
                    .await;
                server.close().await;
                created.context("cannot create a scratch database to check the backup in")?;
                let schema = self.postgres_schema()?;
                let scratch_url = scratch_url(&server_url, &name, &schema)?;
                let loaded = async {
                    let scratch = confidant_store::connect(&scratch_url).await?;
                    let prepared = scratch.prepare_postgres_schema(&schema).await;
                    scratch.close().await;
                    prepared?;
                    pg_restore(&scratch_url, &dump, &schema)?;
                    anyhow::Ok(confidant_store::connect(&scratch_url).await?)
                }
                .await;
                match loaded {
                    Ok(store) => Ok(Loaded {
                        store,
                        scratch_database: Some((server_url, name)),
                    }),
                    Err(error) => {
                        drop_scratch_database(&server_url, &name).await;
                        Err(error)
                    }
                }
            }
            other => bail!("the manifest names an unknown backend {other:?}"),
        }
    }
}

/// The checks a loaded copy must pass: SQLite's own integrity checks, every member log
/// recomputed from its entries and matching both its stored head and the checkpoint signed
/// at backup time, the log key (if included) matching the pinned one, and every attachment's
/// blob present when blobs are in the backup.
async fn check_database(
    store: &SqlStore,
    manifest: &Manifest,
    log_key: Option<&str>,
) -> anyhow::Result<Verified> {
    let problems = store.integrity_problems().await?;
    if !problems.is_empty() {
        bail!("the database is damaged: {}", problems.join("; "));
    }
    let pinned = store
        .setting(setting::LOG_PUBLIC_KEY)
        .await?
        .context("the database pins no access-log key")?;
    if pinned != manifest.log_public_key {
        bail!(
            "the manifest's log key {} is not the one the database pins ({pinned})",
            manifest.log_public_key
        );
    }
    let key = PublicKey::parse(&pinned).context("the pinned access-log key is not valid")?;

    let heads: BTreeMap<i64, _> = store
        .log_heads()
        .await?
        .into_iter()
        .filter(|(_, head)| head.size > 0)
        .map(|(member, head)| (member.0, head))
        .collect();
    if heads.len() != manifest.checkpoints.len() {
        bail!(
            "the database holds {} member logs, the manifest signed {}",
            heads.len(),
            manifest.checkpoints.len()
        );
    }
    let mut log_entries = 0;
    for signed in &manifest.checkpoints {
        let member = signed.member_id;
        let checkpoint = confidant_log::checkpoint::open(&signed.checkpoint, &key)
            .with_context(|| format!("member {member}'s checkpoint does not verify"))?;
        if checkpoint.origin != confidant_log::origin(key.name(), member) {
            bail!(
                "member {member}'s checkpoint names another log ({})",
                checkpoint.origin
            );
        }
        let head = heads
            .get(&member)
            .with_context(|| format!("member {member}'s log is missing from the database"))?;
        let frontier = recompute(store, MemberId(member), head.size).await?;
        if frontier.size() != checkpoint.size || frontier.root() != checkpoint.root {
            bail!(
                "member {member}'s log does not recompute to its signed checkpoint \
                 ({} entries found, {} signed)",
                frontier.size(),
                checkpoint.size
            );
        }
        if head.size != checkpoint.size || head.root != checkpoint.root {
            bail!("member {member}'s stored log head is not the signed one");
        }
        log_entries += head.size;
    }

    if let Some(key_text) = log_key {
        let signer = LogSigner::from_private_key(key_text)
            .context("the backup's access-log key is not valid")?;
        if signer.public_key() != pinned {
            bail!("the backup's access-log key is not the one the database pins");
        }
    }

    let blob_keys = store.blob_keys().await?;
    let blobs_in_backup = manifest.blobs == BlobsIncluded::InBackup;
    if blobs_in_backup {
        let missing: Vec<&String> = blob_keys
            .iter()
            .filter(|key| {
                !manifest
                    .files
                    .contains_key(&format!("blobs/attachments/{key}"))
            })
            .filter(|key| !manifest.deleted_meanwhile.contains(key))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} attachments have no file in the backup (first: {})",
                missing.len(),
                missing[0]
            );
        }
    }
    Ok(Verified {
        backend: manifest.backend.clone(),
        created_at: manifest.created_at.clone(),
        member_logs: manifest.checkpoints.len(),
        log_entries,
        attachments: blob_keys.len(),
        blobs_in_backup,
        attachments_deleted_meanwhile: manifest.deleted_meanwhile.len(),
        with_key: log_key.is_some(),
    })
}

/// Recomputes a member's Merkle tree from their entries.
async fn recompute(store: &SqlStore, member: MemberId, size: u64) -> anyhow::Result<Frontier> {
    let mut frontier = Frontier::empty();
    while frontier.size() < size {
        let entries = store.log_range(member, frontier.size(), LOG_PAGE).await?;
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            if entry.seq != frontier.size() {
                bail!(
                    "member {}'s log skips from entry {} to {}",
                    member.0,
                    frontier.size(),
                    entry.seq
                );
            }
            frontier.push(entry.leaf_hash());
        }
    }
    Ok(frontier)
}

/// A zip being written, remembering each file's hash for the manifest.
struct ArchiveWriter {
    zip: ZipWriter<File>,
    hashes: BTreeMap<String, String>,
}

impl ArchiveWriter {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(ArchiveWriter {
            zip: ZipWriter::new(file),
            hashes: BTreeMap::new(),
        })
    }

    fn add_file(
        &mut self,
        name: &str,
        path: &Path,
        method: CompressionMethod,
    ) -> anyhow::Result<()> {
        let source = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(true)
            .unix_permissions(0o600);
        self.zip.start_file(name, options)?;
        let mut reader = HashingReader::new(BufReader::new(source));
        std::io::copy(&mut reader, &mut self.zip)
            .with_context(|| format!("cannot copy {} into the backup", path.display()))?;
        self.hashes.insert(name.to_owned(), reader.hex());
        Ok(())
    }

    fn finish(mut self, manifest: &Manifest) -> anyhow::Result<()> {
        self.zip.start_file(
            MANIFEST,
            SimpleFileOptions::default().unix_permissions(0o600),
        )?;
        serde_json::to_writer_pretty(&mut self.zip, manifest)?;
        let file = self.zip.finish()?;
        file.sync_all()?;
        Ok(())
    }
}

/// Hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn hex(self) -> String {
        format!("{:x}", self.hasher.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

/// `pg_dump` of an exported snapshot, in the custom format `pg_restore` reads.
fn pg_dump(url: &str, snapshot: &str, schema: &str, out: &Path) -> anyhow::Result<()> {
    let mut command = pg_command("pg_dump", url)?;
    command
        .arg("--format=custom")
        .arg(format!("--schema={schema}"))
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(out);
    run_pg(command, "pg_dump")
}

/// Loads a dump into the database at `url`, whose `schema` exists already: the dump's own
/// `CREATE SCHEMA` (which would fail on it) is left out through a list of what to restore.
fn pg_restore(url: &str, dump: &Path, schema: &str) -> anyhow::Result<()> {
    let listed = Command::new("pg_restore")
        .arg("--list")
        .arg(dump)
        .output()
        .map_err(|error| pg_tool_error("pg_restore", error))?;
    if !listed.status.success() {
        bail!(
            "the database dump is damaged: {}",
            String::from_utf8_lossy(&listed.stderr).trim()
        );
    }
    let creates_schema = format!(" SCHEMA - {schema} ");
    let comments_schema = format!(" COMMENT - SCHEMA {schema} ");
    let list: String = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|line| !line.contains(&creates_schema) && !line.contains(&comments_schema))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut list_file = tempfile::NamedTempFile::new()?;
    list_file.write_all(list.as_bytes())?;
    list_file.flush()?;
    let mut command = pg_command("pg_restore", url)?;
    command
        .arg(format!("--use-list={}", list_file.path().display()))
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg("--exit-on-error")
        .arg("--single-transaction")
        .arg(dump);
    run_pg(command, "pg_restore")
}

/// A PostgreSQL client tool for `url`, with its password in the environment rather than
/// on the command line, where other users could read it.
fn pg_command(program: &str, url: &str) -> anyhow::Result<Command> {
    let mut parsed = url::Url::parse(url).context("the database URL is not valid")?;
    let password = parsed.password().map(str::to_owned);
    let _ = parsed.set_password(None);
    let mut command = Command::new(program);
    command.arg("--dbname").arg(parsed.as_str());
    if let Some(password) = password {
        let decoded = percent_encoding::percent_decode_str(&password).decode_utf8_lossy();
        command.env("PGPASSWORD", decoded.as_ref());
    }
    Ok(command)
}

fn run_pg(mut command: Command, program: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .map_err(|error| pg_tool_error(program, error))?;
    if !output.status.success() {
        bail!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn pg_tool_error(program: &str, error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "{program} is not installed; PostgreSQL backups need the PostgreSQL client tools \
             (Debian: apt-get install postgresql-client)"
        )
    } else {
        anyhow::anyhow!("cannot run {program}: {error}")
    }
}

/// The server `url` names, with the scratch `database` and a search path of `schema`.
fn scratch_url(url: &str, database: &str, schema: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("the database URL is not valid")?;
    parsed.set_path(&format!("/{database}"));
    // libpq decodes `%20` in a URI, but not the `+` of form encoding.
    let encode = |text: &str| {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut query: Vec<String> = parsed
        .query_pairs()
        .filter(|(name, _)| name != "options")
        .map(|(name, value)| format!("{}={}", encode(&name), encode(&value)))
        .collect();
    query.push(format!(
        "options={}",
        encode(&format!("-c search_path={schema}"))
    ));
    parsed.set_query(Some(&query.join("&")));
    Ok(parsed.to_string())
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn hex_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_rfc3339() -> String {
    use confidant_core::Clock;
    confidant_log::entry::format_millis(confidant_core::SystemClock.now().millis())
}

/// Makes a rename or a new file in `folder` durable.
fn sync_folder(folder: &Path) -> anyhow::Result<()> {
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot sync {}", folder.display()))
}

fn create_private(path: &Path) -> anyhow::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}
