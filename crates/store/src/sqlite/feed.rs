//! Appending to members' event feeds, inside the caller's transaction on the writer thread.
//!
//! Each member's feed has a gapless seq: the next after its newest row. Retention deletes old
//! rows, a member's newest ones included, so `members.feed_seq` keeps the newest seq it
//! deleted ([`purge`]), and the head is the larger of the two ([`HEAD`]); a send writes its
//! feed rows and nothing else of the member's. The writer thread is the only writer, so a
//! member's seqs become visible in order — which is what lets an event stream resume from
//! `Last-Event-ID` without losing or repeating anything.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};

use super::ResultExt;
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::StoreResult;
use confidant_core::{MemberId, StoreError, Timestamp};

/// Appends `event` to the feed of each of `members` that still exists.
pub(crate) fn append(
    conn: &Connection,
    members: &[MemberId],
    event: &LiveEvent,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let json = serde_json::to_string(event).map_err(|e| StoreError::Backend(Box::new(e)))?;
    let mut members = members.to_vec();
    members.sort();
    members.dedup();
    // Read, then written: this thread is the only writer, so nothing moves the head between
    // the two. The head is read from the feed's own key, whose leaf the insert then changes
    // anyway; keeping it in the member's row cost an update of that row per participant.
    let mut head = conn.prepare_cached(HEAD).store()?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO member_feed (member_id, seq, event, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .store()?;
    let mut advanced = Vec::with_capacity(members.len());
    for member in members {
        let head: Option<i64> = head
            .query_row([member.0], |row| row.get(0))
            .optional()
            .store()?;
        let Some(head) = head else { continue };
        let seq = head + 1;
        insert
            .execute(rusqlite::params![member.0, seq, json, at.0])
            .store()?;
        advanced.push(FeedAdvanced { member, seq });
    }
    Ok(advanced)
}

/// The newest seq of member `?1`'s feed (0 when it never had one); no row if there is no such
/// member. Both lookups are a seek: the member by id, the feed's last row by its key.
pub(crate) const HEAD: &str = "SELECT MAX(m.feed_seq, \
     COALESCE((SELECT MAX(f.seq) FROM member_feed f WHERE f.member_id = m.id), 0)) \
     FROM members m WHERE m.id = ?1";

/// Deletes up to `batch` feed entries created before `before`; returns how many. Each member
/// whose entries go keeps the newest seq deleted, so that their next entry follows it even when
/// every one of their entries went.
pub(crate) fn purge(conn: &Connection, before: Timestamp, batch: i64) -> StoreResult<u64> {
    let mut newest_gone: BTreeMap<i64, i64> = BTreeMap::new();
    let mut delete = conn
        .prepare_cached(
            "DELETE FROM member_feed WHERE (member_id, seq) IN \
             (SELECT member_id, seq FROM member_feed WHERE created_at < ?1 LIMIT ?2) \
             RETURNING member_id, seq",
        )
        .store()?;
    let mut rows = delete.query(rusqlite::params![before.0, batch]).store()?;
    let mut deleted = 0;
    while let Some(row) = rows.next().store()? {
        let (member, seq): (i64, i64) = (row.get(0).store()?, row.get(1).store()?);
        let newest = newest_gone.entry(member).or_insert(seq);
        *newest = (*newest).max(seq);
        deleted += 1;
    }
    drop(rows);
    let mut keep = conn
        .prepare_cached("UPDATE members SET feed_seq = MAX(feed_seq, ?2) WHERE id = ?1")
        .store()?;
    for (member, seq) in newest_gone {
        keep.execute([member, seq]).store()?;
    }
    Ok(deleted)
}
