//! Appending to members' event feeds, inside the caller's transaction.
//!
//! Each member's feed has a gapless seq taken from `members.feed_seq`. Bumping that row locks
//! it until commit, so a member's seqs become visible in order — which is what lets an event
//! stream resume from `Last-Event-ID` without losing or repeating anything.
//!
//! PostgreSQL locks rows, so each member's row is taken in id order, one at a time, so that
//! concurrent appends cannot deadlock.

use sqlx::PgConnection;

use super::ResultExt;
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::StoreResult;
use confidant_core::{MemberId, StoreError, Timestamp};

pub(crate) async fn append(
    conn: &mut PgConnection,
    members: &[MemberId],
    event: &LiveEvent,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let json = serde_json::to_string(event).map_err(|e| StoreError::Backend(Box::new(e)))?;
    let mut members = members.to_vec();
    members.sort();
    members.dedup();
    let mut advanced = Vec::with_capacity(members.len());
    for member in members {
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE members SET feed_seq = feed_seq + 1 WHERE id = $1 RETURNING feed_seq",
        )
        .bind(member.0)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
        let Some(seq) = seq else { continue };
        sqlx::query(
            "INSERT INTO member_feed (member_id, seq, event, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(member.0)
        .bind(seq)
        .bind(&json)
        .bind(at.0)
        .execute(&mut *conn)
        .await
        .store()?;
        advanced.push(FeedAdvanced { member, seq });
    }
    Ok(advanced)
}
