//! `confidant witness serve`: a C2SP tlog-witness for Confidant's logs (or any log whose
//! checkpoints are signed by a key it is given). It keeps, per log, the latest checkpoint it
//! cosigned, and cosigns a new one only if a consistency proof shows it extends that one —
//! so a server cannot get cosignatures on two different views of its log, or on a rolled
//! back one.
//!
//! The data directory holds the witness's key (`witness.key`) and one small state file per
//! log. A state update is checked and persisted under one lock, written to a temporary file,
//! synced and renamed into place before the witness answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};

use confidant_log::export::{hash_from_base64, hash_to_base64};
use confidant_log::witness::{AddCheckpoint, LogState, Refusal, SIZE_CONTENT_TYPE, Witness};
use confidant_log::{CosignerKey, PublicKey};

const KEY_FILE: &str = "witness.key";
const LOCK_FILE: &str = "witness.lock";
const LOGS_DIR: &str = "logs";
/// A request is an old size, at most 63 proof lines and a checkpoint: a few KiB.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The witness's key in `data_dir`, made (named `name`) on first use.
pub fn load_or_create_key(data_dir: &Path, name: &str) -> anyhow::Result<CosignerKey> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => CosignerKey::from_private_key(&text)
            .with_context(|| format!("{} is not a witness key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let (key, private) = CosignerKey::generate(name)
                .with_context(|| format!("cannot make a witness key named {name:?}"))?;
            write_private(&path, &private)?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// A running witness's state: its checks, where it persists, and the lock that makes a
/// check and its persisting one step.
struct WitnessState {
    witness: Witness,
    logs_dir: PathBuf,
    update: tokio::sync::Mutex<()>,
}

/// Serves the witness on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    name: &str,
    log_keys: &[String],
) -> anyhow::Result<()> {
    let router = router(data_dir, name, log_keys)?;
    axum::serve(listener, router).await?;
    Ok(())
}

/// The witness's routes, with its state opened from `data_dir`.
pub fn router(data_dir: &Path, name: &str, log_keys: &[String]) -> anyhow::Result<Router> {
    if log_keys.is_empty() {
        anyhow::bail!(
            "a witness needs at least one --log-key: the public key of a log it follows (a \
             Confidant server's is at /.well-known/confidant-log-key)"
        );
    }
    let logs = log_keys
        .iter()
        .map(|key| PublicKey::parse(key).with_context(|| format!("invalid --log-key {key:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let key = load_or_create_key(data_dir, name)?;
    // One process per data directory: two would each hold the lock of their own state.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(LOCK_FILE))?;
    lock.try_lock()
        .map_err(|_| anyhow::anyhow!("another witness is running on {}", data_dir.display()))?;
    // The lock is held for as long as the process runs.
    std::mem::forget(lock);
    let logs_dir = data_dir.join(LOGS_DIR);
    std::fs::create_dir_all(&logs_dir)?;
    tracing::info!(key = %key.verifier_key(), "witness ready");
    let state = Arc::new(WitnessState {
        witness: Witness { key, logs },
        logs_dir,
        update: tokio::sync::Mutex::new(()),
    });
    Ok(Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state))
}

async fn add_checkpoint(State(state): State<Arc<WitnessState>>, body: Bytes) -> Response {
    let request = match std::str::from_utf8(&body)
        .map_err(|_| Refusal::BadRequest("the body is not UTF-8".into()))
        .and_then(AddCheckpoint::parse)
    {
        Ok(request) => request,
        Err(refusal) => return refused(refusal),
    };
    let origin = match state.witness.origin_of(&request) {
        Ok(origin) => origin,
        Err(refusal) => return refused(refusal),
    };
    let path = state.logs_dir.join(state_file_name(&origin));
    let _update = state.update.lock().await;
    let stored = match read_state(&path) {
        Ok(stored) => stored,
        Err(e) => return failed(e),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    match state.witness.add_checkpoint(&request, stored.as_ref(), now) {
        Ok(cosigned) => {
            if let Err(e) = write_state(&path, &origin, &cosigned.state) {
                return failed(e);
            }
            tracing::info!(%origin, size = cosigned.state.size, "cosigned");
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                cosigned.signatures,
            )
                .into_response()
        }
        Err(refusal) => {
            if matches!(refusal, Refusal::Conflict { .. } | Refusal::BadProof) {
                tracing::warn!(%origin, old = request.old_size, %refusal, "refused a checkpoint");
            }
            refused(refusal)
        }
    }
}

fn refused(refusal: Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match refusal {
        Refusal::Conflict { size } => (
            status,
            [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
            format!("{size}\n"),
        )
            .into_response(),
        other => (status, format!("{other}\n")).into_response(),
    }
}

fn failed(error: anyhow::Error) -> Response {
    tracing::error!(error = %format!("{error:#}"), "witness state unavailable");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the witness cannot read or write its state\n",
    )
        .into_response()
}

/// A state file per origin, named by the origin's hash so any origin makes a safe name.
fn state_file_name(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// `origin`, size and root, one per line.
fn read_state(path: &Path) -> anyhow::Result<Option<LogState>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut lines = text.lines().skip(1);
    let size = lines.next().and_then(|size| size.parse().ok());
    let root = lines.next().and_then(hash_from_base64);
    match (size, root) {
        (Some(size), Some(root)) => Ok(Some(LogState { size, root })),
        _ => anyhow::bail!("{} is damaged", path.display()),
    }
}

fn write_state(path: &Path, origin: &str, state: &LogState) -> anyhow::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("new");
    let mut file = std::fs::File::create(&temporary)?;
    write!(
        file,
        "{origin}\n{}\n{}\n",
        state.size,
        hash_to_base64(&state.root)
    )?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    // The rename itself is durable once the directory is synced.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
