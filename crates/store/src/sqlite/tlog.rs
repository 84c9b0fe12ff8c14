//! The server's witnessed logs on rusqlite (see `crate::sql::tlog` for what they are).

use rusqlite::{Connection, OptionalExtension, params};

use super::ResultExt;
use crate::sql::accesslog::{hash, head_of, to_i64, to_u64};
use crate::sql::corrupt;
use crate::sql::tlog::{
    DUE_HEADS, DueHeadRow, HeadToPublish, PUBLISHED_HEAD, PublishedHeadRow, published_head_of,
};
use confidant_core::store::{
    HEADS_LOG, HeadLeafEncoder, LogHead, Publication, PublishedHead, StoreResult, StoredCheckpoint,
};
use confidant_core::{MemberId, Timestamp};
use confidant_log::{Frontier, Hash};

pub(crate) fn head(conn: &Connection, log: &str) -> StoreResult<LogHead> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT size, root FROM tlog_heads WHERE log = ?1")
        .and_then(|mut select| {
            select
                .query_row([log], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .store()?;
    head_of(row)
}

pub(crate) fn hashes(conn: &Connection, log: &str, indexes: &[u64]) -> StoreResult<Vec<Hash>> {
    let mut select = conn
        .prepare_cached("SELECT hash FROM tlog_hashes WHERE log = ?1 AND idx = ?2")
        .store()?;
    indexes
        .iter()
        .map(|index| {
            let bytes: Option<Vec<u8>> = select
                .query_row(params![log, to_i64(*index)?], |row| row.get(0))
                .optional()
                .store()?;
            hash(bytes.ok_or_else(|| corrupt("server log tree: missing hash at index", index))?)
        })
        .collect()
}

/// Appends `leaves` to `log` inside the caller's transaction; returns the head before.
pub(crate) fn append(conn: &Connection, log: &str, leaves: &[Vec<u8>]) -> StoreResult<LogHead> {
    let before = head(conn, log)?;
    let roots = hashes(conn, log, &Frontier::indexes(before.size))?;
    let mut frontier =
        Frontier::from_stored(before.size, roots).map_err(|e| corrupt("server log tree", e))?;
    let mut insert_leaf = conn
        .prepare_cached("INSERT INTO tlog_leaves (log, idx, data) VALUES (?1, ?2, ?3)")
        .store()?;
    let mut insert_hash = conn
        .prepare_cached("INSERT INTO tlog_hashes (log, idx, hash) VALUES (?1, ?2, ?3)")
        .store()?;
    for leaf in leaves {
        let appended = frontier.push(confidant_log::tree::leaf_hash(leaf));
        insert_leaf
            .execute(params![log, to_i64(appended.seq)?, leaf])
            .store()?;
        for (i, hash) in appended.hashes.iter().enumerate() {
            let index = to_i64(appended.first_index + i as u64)?;
            insert_hash
                .execute(params![log, index, &hash.0[..]])
                .store()?;
        }
    }
    let size = to_i64(frontier.size())?;
    conn.prepare_cached(
        "INSERT INTO tlog_heads (log, size, root) VALUES (?1, ?2, ?3) \
         ON CONFLICT (log) DO UPDATE SET size = excluded.size, root = excluded.root",
    )
    .and_then(|mut upsert| upsert.execute(params![log, size, &frontier.root().0[..]]))
    .store()?;
    Ok(before)
}

pub(crate) fn publish_heads(
    conn: &Connection,
    limit: u32,
    leaf: &HeadLeafEncoder,
) -> StoreResult<Publication> {
    let rows = conn
        .prepare_cached(DUE_HEADS)
        .and_then(|mut select| {
            select
                .query_map([limit], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect::<rusqlite::Result<Vec<DueHeadRow>>>()
        })
        .store()?;
    let (due, leaves) = HeadToPublish::from_rows(rows, leaf)?;
    let before = append(conn, HEADS_LOG, &leaves)?;
    let mut label = conn
        .prepare_cached(
            "INSERT INTO access_log_labels (member_id, salt, published_size) VALUES (?1, ?2, ?3) \
             ON CONFLICT (member_id) DO UPDATE SET published_size = excluded.published_size",
        )
        .store()?;
    let mut publication = conn
        .prepare_cached("INSERT INTO access_log_publications (member_id, leaf) VALUES (?1, ?2)")
        .store()?;
    for (i, head) in due.iter().enumerate() {
        label
            .execute(params![head.member.0, &head.salt[..], to_i64(head.size)?])
            .store()?;
        publication
            .execute(params![head.member.0, to_i64(before.size + i as u64)?])
            .store()?;
    }
    Ok(Publication {
        published: due.len() as u64,
        head: self::head(conn, HEADS_LOG)?,
    })
}

pub(crate) fn leaves(
    conn: &Connection,
    log: &str,
    from: u64,
    limit: u32,
) -> StoreResult<Vec<Vec<u8>>> {
    let from = to_i64(from)?;
    conn.prepare_cached(
        "SELECT data FROM tlog_leaves WHERE log = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
    )
    .and_then(|mut select| {
        select
            .query_map(params![log, from, limit], |row| row.get(0))?
            .collect()
    })
    .store()
}

pub(crate) fn save_checkpoint(
    conn: &Connection,
    log: &str,
    checkpoint: &StoredCheckpoint,
) -> StoreResult<()> {
    let size = to_i64(checkpoint.size)?;
    conn.prepare_cached(crate::sql::tlog::SAVE_CHECKPOINT)
        .and_then(|mut upsert| {
            upsert.execute(params![
                log,
                size,
                checkpoint.note,
                checkpoint.cosigners,
                checkpoint.signed_at.0,
                checkpoint.cosigned_at.map(|at| at.0),
            ])
        })
        .store()?;
    Ok(())
}

pub(crate) fn prune_checkpoints(conn: &Connection, log: &str, size: u64) -> StoreResult<u64> {
    let size = to_i64(size)?;
    let deleted = conn
        .prepare_cached("DELETE FROM tlog_checkpoints WHERE log = ?1 AND size < ?2")
        .and_then(|mut delete| delete.execute(params![log, size]))
        .store()?;
    Ok(deleted as u64)
}

pub(crate) fn latest_checkpoint(
    conn: &Connection,
    log: &str,
    min_cosigners: u32,
) -> StoreResult<Option<StoredCheckpoint>> {
    let row: Option<(i64, String, u32, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT size, note, cosigners, signed_at, cosigned_at FROM tlog_checkpoints \
             WHERE log = ?1 AND cosigners >= ?2 ORDER BY size DESC LIMIT 1",
        )
        .and_then(|mut select| {
            select
                .query_row(params![log, min_cosigners], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .optional()
        })
        .store()?;
    row.map(|(size, note, cosigners, signed_at, cosigned_at)| {
        Ok(StoredCheckpoint {
            size: to_u64(size)?,
            note,
            cosigners,
            signed_at: Timestamp(signed_at),
            cosigned_at: cosigned_at.map(Timestamp),
        })
    })
    .transpose()
}

pub(crate) fn published_head(
    conn: &Connection,
    member: MemberId,
    before_leaf: u64,
) -> StoreResult<Option<PublishedHead>> {
    let before_leaf = to_i64(before_leaf)?;
    let row: Option<PublishedHeadRow> = conn
        .prepare_cached(PUBLISHED_HEAD)
        .and_then(|mut select| {
            select
                .query_row(params![HEADS_LOG, member.0, before_leaf], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
        })
        .store()?;
    row.map(published_head_of).transpose()
}
