//! Appending to members' event feeds, inside the caller's transaction on the writer thread.
//!
//! Each member's feed has a gapless seq taken from `members.feed_seq`. The writer thread is
//! the only writer, so a member's seqs become visible in order — which is what lets an event
//! stream resume from `Last-Event-ID` without losing or repeating anything.

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
    // Read, then written: this thread is the only writer, so nothing moves the seq between
    // the two. `UPDATE … RETURNING` would be one statement, but SQLite collects what a
    // RETURNING clause returns in a temporary b-tree that it opens and closes on every run:
    // 14 µs, against 1.5 µs for these two (see BENCHMARKS.md).
    let mut head = conn
        .prepare_cached("SELECT feed_seq FROM members WHERE id = ?1")
        .store()?;
    let mut bump = conn
        .prepare_cached("UPDATE members SET feed_seq = ?2 WHERE id = ?1")
        .store()?;
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
        bump.execute([member.0, seq]).store()?;
        insert
            .execute(rusqlite::params![member.0, seq, json, at.0])
            .store()?;
        advanced.push(FeedAdvanced { member, seq });
    }
    Ok(advanced)
}
