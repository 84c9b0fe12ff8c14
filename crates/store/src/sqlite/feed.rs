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
    let mut bump = conn
        .prepare_cached(
            "UPDATE members SET feed_seq = feed_seq + 1 WHERE id = ?1 RETURNING feed_seq",
        )
        .store()?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO member_feed (member_id, seq, event, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .store()?;
    let mut advanced = Vec::with_capacity(members.len());
    for member in members {
        let seq: Option<i64> = bump
            .query_row([member.0], |row| row.get(0))
            .optional()
            .store()?;
        let Some(seq) = seq else { continue };
        insert
            .execute(rusqlite::params![member.0, seq, json, at.0])
            .store()?;
        advanced.push(FeedAdvanced { member, seq });
    }
    Ok(advanced)
}
