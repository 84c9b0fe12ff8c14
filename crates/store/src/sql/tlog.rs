//! The server's witnessed logs — the log of members' heads and the budget ledger: appending
//! leaves inside the caller's transaction, publishing members' heads, and keeping the signed
//! checkpoints with their cosignatures. On SQLite every method runs on rusqlite
//! (`crate::sqlite::tlog`); the SQL here serves PostgreSQL.
//!
//! An append locks the log's head row first, so appends to one log queue up, exactly as for
//! members' logs. Publishing heads is one batched transaction per interval, never part of a
//! member's request, so the log of heads is not a row every access waits on.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::accesslog::{hash, head_of, to_i64, to_u64};
use super::{ResultExt, SqlStore, corrupt};
use crate::sqlite::tlog as sqlite;
use confidant_core::store::{
    HEADS_LOG, HeadLeafEncoder, LogHead, Publication, PublishedHead, StoreResult, StoredCheckpoint,
    WitnessedLogStore,
};
use confidant_core::{MemberId, Timestamp};
use confidant_log::{EMPTY_ROOT, Frontier, Hash};

pub(crate) const SALT_LEN: usize = 32;

/// A member log whose head is due to be published.
pub(crate) struct HeadToPublish {
    pub member: MemberId,
    pub size: u64,
    pub root: Hash,
    pub salt: [u8; SALT_LEN],
}

/// A member log due for publication as selected: member, size, root and its label's salt
/// (none before its first publication).
pub(crate) type DueHeadRow = (i64, i64, Vec<u8>, Option<Vec<u8>>);

/// The member logs that grew since their last publication, by member id, at most `$1`.
pub(crate) const DUE_HEADS: &str = "SELECT h.member_id, h.size, h.root, l.salt \
     FROM access_log_heads h LEFT JOIN access_log_labels l ON l.member_id = h.member_id \
     WHERE h.size > COALESCE(l.published_size, -1) AND h.size > 0 \
     ORDER BY h.member_id LIMIT $1";

impl HeadToPublish {
    /// The due heads as selected by [`DUE_HEADS`], and their leaves in the log of heads.
    pub(crate) fn from_rows(
        rows: Vec<DueHeadRow>,
        leaf: &HeadLeafEncoder,
    ) -> StoreResult<(Vec<Self>, Vec<Vec<u8>>)> {
        let due = rows
            .into_iter()
            .map(|(member, size, root, salt)| {
                Ok(HeadToPublish {
                    member: MemberId(member),
                    size: to_u64(size)?,
                    root: hash(root)?,
                    salt: salt_of(salt)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let leaves = due
            .iter()
            .map(|head| leaf(&head.salt, head.member, head.size, head.root))
            .collect();
        Ok((due, leaves))
    }
}

/// The stored salt of a log's label, or a fresh random one for its first publication.
pub(crate) fn salt_of(stored: Option<Vec<u8>>) -> StoreResult<[u8; SALT_LEN]> {
    match stored {
        Some(salt) => salt
            .try_into()
            .map_err(|salt: Vec<u8>| corrupt("label salt of length", salt.len())),
        None => Ok(rand::random()),
    }
}

/// The member's (`$2`) latest publication below leaf `$3` of the log of heads (`$1`): the
/// leaf's index, the label's salt and the leaf. (SQLite numbers `$n` parameters in the order
/// they first appear, so they appear in order.)
pub(crate) const PUBLISHED_HEAD: &str = "SELECT p.leaf, l.salt, t.data \
     FROM access_log_publications p JOIN access_log_labels l ON l.member_id = p.member_id \
     JOIN tlog_leaves t ON t.log = $1 AND t.idx = p.leaf \
     WHERE p.member_id = $2 AND p.leaf < $3 ORDER BY p.leaf DESC LIMIT 1";

/// A row of [`PUBLISHED_HEAD`].
pub(crate) type PublishedHeadRow = (i64, Vec<u8>, Vec<u8>);

pub(crate) fn published_head_of(
    (leaf, salt, data): PublishedHeadRow,
) -> StoreResult<PublishedHead> {
    Ok(PublishedHead {
        leaf: to_u64(leaf)?,
        salt: salt_of(Some(salt))?,
        data,
    })
}

/// Stores a checkpoint, keeping an already stored one of the same size unless the new one
/// has more cosigners, or as many and a newer cosignature.
pub(crate) const SAVE_CHECKPOINT: &str = "INSERT INTO tlog_checkpoints \
     (log, size, note, cosigners, signed_at, cosigned_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (log, size) DO UPDATE SET note = excluded.note, \
     cosigners = excluded.cosigners, cosigned_at = excluded.cosigned_at \
     WHERE excluded.cosigners > tlog_checkpoints.cosigners \
     OR (excluded.cosigners = tlog_checkpoints.cosigners \
         AND COALESCE(excluded.cosigned_at, 0) > COALESCE(tlog_checkpoints.cosigned_at, 0))";

async fn head(conn: &mut PgConnection, log: &str) -> StoreResult<LogHead> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT size, root FROM tlog_heads WHERE log = $1")
            .bind(log)
            .fetch_optional(&mut *conn)
            .await
            .store()?;
    head_of(row)
}

async fn hashes(conn: &mut PgConnection, log: &str, indexes: &[u64]) -> StoreResult<Vec<Hash>> {
    let wanted = indexes
        .iter()
        .map(|index| to_i64(*index))
        .collect::<StoreResult<Vec<_>>>()?;
    let found: std::collections::HashMap<i64, Vec<u8>> =
        sqlx::query_as("SELECT idx, hash FROM tlog_hashes WHERE log = $1 AND idx = ANY($2)")
            .bind(log)
            .bind(&wanted)
            .fetch_all(&mut *conn)
            .await
            .store()?
            .into_iter()
            .collect();
    wanted
        .iter()
        .map(|index| {
            let bytes = found
                .get(index)
                .ok_or_else(|| corrupt("server log tree: missing hash at index", index))?;
            hash(bytes.clone())
        })
        .collect()
}

/// Locks the log's head row until the transaction ends, creating it for a new log, so that
/// writers of one log queue up.
async fn lock_head(conn: &mut PgConnection, log: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tlog_heads (log, size, root) VALUES ($1, 0, $2) \
         ON CONFLICT (log) DO UPDATE SET size = tlog_heads.size",
    )
    .bind(log)
    .bind(EMPTY_ROOT.0.to_vec())
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(())
}

/// Appends `leaves` to `log` inside the caller's transaction; returns the head before.
pub(crate) async fn append(
    conn: &mut PgConnection,
    log: &str,
    leaves: &[Vec<u8>],
) -> StoreResult<LogHead> {
    lock_head(conn, log).await?;
    let before = head(conn, log).await?;
    let roots = hashes(conn, log, &Frontier::indexes(before.size)).await?;
    let mut frontier =
        Frontier::from_stored(before.size, roots).map_err(|e| corrupt("server log tree", e))?;
    let (mut leaf_indexes, mut hash_indexes, mut hash_values) =
        (Vec::new(), Vec::new(), Vec::new());
    for leaf in leaves {
        let appended = frontier.push(confidant_log::tree::leaf_hash(leaf));
        leaf_indexes.push(to_i64(appended.seq)?);
        for (i, hash) in appended.hashes.iter().enumerate() {
            hash_indexes.push(to_i64(appended.first_index + i as u64)?);
            hash_values.push(hash.0.to_vec());
        }
    }
    sqlx::query(
        "INSERT INTO tlog_leaves (log, idx, data) \
         SELECT $1, idx, data FROM UNNEST($2::bigint[], $3::bytea[]) AS l (idx, data)",
    )
    .bind(log)
    .bind(&leaf_indexes)
    .bind(leaves)
    .execute(&mut *conn)
    .await
    .store()?;
    sqlx::query(
        "INSERT INTO tlog_hashes (log, idx, hash) \
         SELECT $1, idx, hash FROM UNNEST($2::bigint[], $3::bytea[]) AS h (idx, hash)",
    )
    .bind(log)
    .bind(&hash_indexes)
    .bind(&hash_values)
    .execute(&mut *conn)
    .await
    .store()?;
    sqlx::query("UPDATE tlog_heads SET size = $2, root = $3 WHERE log = $1")
        .bind(log)
        .bind(to_i64(frontier.size())?)
        .bind(frontier.root().0.to_vec())
        .execute(&mut *conn)
        .await
        .store()?;
    Ok(before)
}

async fn publish_heads(
    conn: &mut PgConnection,
    limit: u32,
    leaf: &HeadLeafEncoder,
) -> StoreResult<Publication> {
    // Taking the log of heads' lock first makes concurrent publishers (one per node) queue:
    // the second finds nothing left to publish.
    lock_head(conn, HEADS_LOG).await?;
    let rows: Vec<DueHeadRow> = sqlx::query_as(DUE_HEADS)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .store()?;
    let (due, leaves) = HeadToPublish::from_rows(rows, leaf)?;
    let before = append(conn, HEADS_LOG, &leaves).await?;
    let members: Vec<i64> = due.iter().map(|head| head.member.0).collect();
    let salts: Vec<Vec<u8>> = due.iter().map(|head| head.salt.to_vec()).collect();
    let sizes = due
        .iter()
        .map(|head| to_i64(head.size))
        .collect::<StoreResult<Vec<_>>>()?;
    let leaf_indexes = (0..due.len() as u64)
        .map(|i| to_i64(before.size + i))
        .collect::<StoreResult<Vec<_>>>()?;
    sqlx::query(
        "INSERT INTO access_log_labels (member_id, salt, published_size) \
         SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bigint[]) \
         ON CONFLICT (member_id) DO UPDATE SET published_size = excluded.published_size",
    )
    .bind(&members)
    .bind(&salts)
    .bind(&sizes)
    .execute(&mut *conn)
    .await
    .store()?;
    sqlx::query(
        "INSERT INTO access_log_publications (member_id, leaf) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[])",
    )
    .bind(&members)
    .bind(&leaf_indexes)
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(Publication {
        published: due.len() as u64,
        head: head(conn, HEADS_LOG).await?,
    })
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    size: i64,
    note: String,
    cosigners: i64,
    signed_at: i64,
    cosigned_at: Option<i64>,
}

#[async_trait]
impl WitnessedLogStore for SqlStore {
    async fn publish_heads(&self, limit: u32, leaf: HeadLeafEncoder) -> StoreResult<Publication> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::publish_heads(conn, limit, &leaf))
                .await;
        }
        self.pg()
            .write(move |tx| Box::pin(async move { publish_heads(tx, limit, &leaf).await }))
            .await
    }

    async fn tlog_head(&self, log: &str) -> StoreResult<LogHead> {
        let log = log.to_owned();
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::head(conn, &log)).await;
        }
        let mut conn = self.pg().pool.acquire().await.store()?;
        head(&mut conn, &log).await
    }

    async fn tlog_hashes(&self, log: &str, indexes: &[u64]) -> StoreResult<Vec<Hash>> {
        let (log, indexes) = (log.to_owned(), indexes.to_owned());
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::hashes(conn, &log, &indexes))
                .await;
        }
        let mut conn = self.pg().pool.acquire().await.store()?;
        hashes(&mut conn, &log, &indexes).await
    }

    async fn tlog_leaves(&self, log: &str, from: u64, limit: u32) -> StoreResult<Vec<Vec<u8>>> {
        let log = log.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::leaves(conn, &log, from, limit))
                .await;
        }
        sqlx::query_scalar(
            "SELECT data FROM tlog_leaves WHERE log = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
        )
        .bind(&log)
        .bind(to_i64(from)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pg().pool)
        .await
        .store()
    }

    async fn save_checkpoint(&self, log: &str, checkpoint: &StoredCheckpoint) -> StoreResult<()> {
        let (log, checkpoint) = (log.to_owned(), checkpoint.clone());
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::save_checkpoint(conn, &log, &checkpoint))
                .await;
        }
        sqlx::query(SAVE_CHECKPOINT)
            .bind(&log)
            .bind(to_i64(checkpoint.size)?)
            .bind(&checkpoint.note)
            .bind(i64::from(checkpoint.cosigners))
            .bind(checkpoint.signed_at.0)
            .bind(checkpoint.cosigned_at.map(|at| at.0))
            .execute(&self.pg().pool)
            .await
            .store()?;
        Ok(())
    }

    async fn prune_checkpoints(&self, log: &str, size: u64) -> StoreResult<u64> {
        let log = log.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::prune_checkpoints(conn, &log, size))
                .await;
        }
        Ok(
            sqlx::query("DELETE FROM tlog_checkpoints WHERE log = $1 AND size < $2")
                .bind(&log)
                .bind(to_i64(size)?)
                .execute(&self.pg().pool)
                .await
                .store()?
                .rows_affected(),
        )
    }

    async fn latest_checkpoint(
        &self,
        log: &str,
        min_cosigners: u32,
    ) -> StoreResult<Option<StoredCheckpoint>> {
        let log = log.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::latest_checkpoint(conn, &log, min_cosigners))
                .await;
        }
        let row: Option<CheckpointRow> = sqlx::query_as(
            "SELECT size, note, cosigners, signed_at, cosigned_at FROM tlog_checkpoints \
             WHERE log = $1 AND cosigners >= $2 ORDER BY size DESC LIMIT 1",
        )
        .bind(&log)
        .bind(i64::from(min_cosigners))
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        row.map(|row| {
            Ok(StoredCheckpoint {
                size: to_u64(row.size)?,
                note: row.note,
                cosigners: u32::try_from(row.cosigners)
                    .map_err(|_| corrupt("cosigner count", row.cosigners))?,
                signed_at: Timestamp(row.signed_at),
                cosigned_at: row.cosigned_at.map(Timestamp),
            })
        })
        .transpose()
    }

    async fn published_head(
        &self,
        member: MemberId,
        before_leaf: u64,
    ) -> StoreResult<Option<PublishedHead>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::published_head(conn, member, before_leaf))
                .await;
        }
        let row: Option<PublishedHeadRow> = sqlx::query_as(PUBLISHED_HEAD)
            .bind(HEADS_LOG)
            .bind(member.0)
            .bind(to_i64(before_leaf)?)
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        row.map(published_head_of).transpose()
    }
}
