//! Members' event feeds on PostgreSQL: appending inside the caller's transaction, and reading.
//!
//! A feed position is not taken from a per-member counter: bumping one would lock the member's
//! row until commit, and every send to that member would queue behind it. Instead a row's
//! position is its transaction's id shifted left by 16 bits, plus its rank among that
//! transaction's rows for the member (a transaction rarely appends more than one).
//!
//! Transactions commit in any order, so a position is readable only once no transaction that
//! could still write a lower one is running: only positions below the reading snapshot's
//! `xmin` (the oldest transaction still running) shifted the same way. Every transaction still
//! to write has an id at or above that `xmin`, so a position, once readable, never has a new
//! one appear below it — and a stream resuming from `Last-Event-ID` loses and repeats nothing.
//! Positions increase but have gaps. A position the live bus announced may take a moment to
//! become readable (an older transaction is still running); streams poll until it is.
//!
//! Transaction ids are 64-bit and never wrap, and leave room for the shift for as long as
//! anyone will run this database; positions from before this scheme (a per-member counter
//! from 1) are far below any of these.

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::ResultExt;
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::{FeedEntry, FeedTail, StoreResult};
use confidant_core::{MemberId, StoreError, Timestamp};

/// The lowest position the reading statement may not see yet.
const READABLE_BELOW: &str = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)";

/// A `FROM` item, `tx`, whose `base` is where this transaction's positions start.
pub(crate) const THIS_TRANSACTION: &str =
    "(SELECT pg_current_xact_id()::text::bigint << 16 AS base) tx";

/// How many rows this transaction already appended to the feed of the member in column
/// `$member`, with [`THIS_TRANSACTION`] in the `FROM` list: the next row's position is
/// `tx.base + 1` plus that. The transaction's own rows are visible to it, and nobody else can
/// write inside its range.
macro_rules! earlier_rows {
    ($member:literal) => {
        concat!(
            "(SELECT COUNT(*) FROM member_feed f WHERE f.member_id = ",
            $member,
            " AND f.seq > tx.base AND f.seq < tx.base + 65536)"
        )
    };
}
pub(crate) use earlier_rows;

/// Appends `event` to the feed of each of `members` that still exists, in one statement.
pub(crate) async fn append(
    conn: &mut PgConnection,
    members: &[MemberId],
    event: &LiveEvent,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    let json = serde_json::to_string(event).map_err(|e| StoreError::Backend(Box::new(e)))?;
    let ids: Vec<i64> = members.iter().map(|member| member.0).collect();
    static APPEND: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO member_feed (member_id, seq, event, created_at) \
             SELECT m.id, tx.base + 1 + {}, $2, $3 FROM {THIS_TRANSACTION}, members m \
             WHERE m.id = ANY($1) RETURNING member_id, seq",
            earlier_rows!("m.id"),
        )
    });
    let rows: Vec<(i64, i64)> = sqlx::query_as(APPEND.as_str())
        .bind(&ids)
        .bind(&json)
        .bind(at.0)
        .fetch_all(&mut *conn)
        .await
        .store()?;
    let mut advanced: Vec<FeedAdvanced> = rows
        .into_iter()
        .map(|(member, seq)| FeedAdvanced {
            member: MemberId(member),
            seq,
        })
        .collect();
    advanced.sort_by_key(|a| a.member);
    Ok(advanced)
}

/// The member's readable feed entries after `after_seq`, oldest first.
pub(crate) async fn since(
    pool: &sqlx::PgPool,
    member: MemberId,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<FeedEntry>> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(&format!(
        "SELECT seq, event, created_at FROM member_feed \
         WHERE member_id = $1 AND seq > $2 AND seq < {READABLE_BELOW} ORDER BY seq LIMIT $3"
    ))
    .bind(member.0)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await
    .store()?;
    rows.into_iter()
        .map(|(seq, event, created_at)| {
            Ok(FeedEntry {
                seq,
                event: serde_json::from_str(&event)
                    .map_err(|e| StoreError::Backend(Box::new(e)))?,
                created_at: Timestamp(created_at),
            })
        })
        .collect()
}

/// Each member's newest readable position (0 when the feed is empty), one index probe each.
pub(crate) async fn heads(
    pool: &sqlx::PgPool,
    members: &[MemberId],
) -> StoreResult<Vec<(MemberId, i64)>> {
    let ids: Vec<i64> = members.iter().map(|member| member.0).collect();
    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(&format!(
        "SELECT m, (SELECT MAX(seq) FROM member_feed WHERE member_id = m AND seq < {READABLE_BELOW}) \
         FROM UNNEST($1::bigint[]) AS m"
    ))
    .bind(&ids)
    .fetch_all(pool)
    .await
    .store()?;
    Ok(rows
        .into_iter()
        .map(|(member, seq)| (MemberId(member), seq.unwrap_or(0)))
        .collect())
}

/// The member's newest readable position (0 when the feed is empty).
pub(crate) async fn head(pool: &sqlx::PgPool, member: MemberId) -> StoreResult<i64> {
    let seq: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT MAX(seq) FROM member_feed WHERE member_id = $1 AND seq < {READABLE_BELOW}"
    ))
    .bind(member.0)
    .fetch_one(pool)
    .await
    .store()?;
    Ok(seq.unwrap_or(0))
}

/// The member's readable head and the committed positions past it, in one statement: one
/// snapshot, so that nothing committed between reading the two falls in neither.
pub(crate) async fn tail(pool: &sqlx::PgPool, member: MemberId) -> StoreResult<FeedTail> {
    let (head, unreadable): (i64, Vec<i64>) = sqlx::query_as(&format!(
        "WITH h AS (SELECT COALESCE(MAX(seq), 0) AS head FROM member_feed \
                    WHERE member_id = $1 AND seq < {READABLE_BELOW}) \
         SELECT h.head, ARRAY(SELECT seq FROM member_feed \
                              WHERE member_id = $1 AND seq > h.head ORDER BY seq) \
         FROM h"
    ))
    .bind(member.0)
    .fetch_one(pool)
    .await
    .store()?;
    Ok(FeedTail { head, unreadable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;
    use confidant_core::accounts::Handle;
    use confidant_core::store::{AccountStore, NewMember};
    use confidant_core::{ConversationId, MessageId};

    fn event(n: i64) -> LiveEvent {
        LiveEvent::Message {
            conversation_id: ConversationId(1),
            message_id: MessageId(n),
        }
    }

    /// The property streams rely on: a position never becomes readable below one already read.
    #[tokio::test]
    async fn a_position_waits_for_every_older_writer_and_then_sorts_after_it() {
        let test = "sql::feed::tests::a_position_waits_for_every_older_writer";
        let Some(db) = TestDatabase::postgres(test).await else {
            return;
        };
        let bob = db
            .store
            .create_member(NewMember {
                handle: Handle::parse("bob").unwrap(),
                display_name: "Bob".into(),
                password_hash: "$argon2id$fake".into(),
                is_admin: false,
                created_at: Timestamp(0),
            })
            .await
            .unwrap()
            .id;
        let pool = &db.store.pg().pool;
        let baseline = head(pool, bob).await.unwrap();

        // An older writer takes its transaction id, then a newer one appends and commits.
        let mut older = pool.begin().await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *older)
            .await
            .unwrap();
        let mut newer = pool.begin().await.unwrap();
        let late = append(&mut newer, &[bob], &event(2), Timestamp(0))
            .await
            .unwrap();
        newer.commit().await.unwrap();
        assert!(since(pool, bob, 0, 10).await.unwrap().is_empty());
        assert_eq!(head(pool, bob).await.unwrap(), baseline);
        // Committed, so a reader knows it is coming, though it cannot read it yet.
        let before_older_commits = tail(pool, bob).await.unwrap();
        assert_eq!(before_older_commits.head, baseline);
        assert_eq!(before_older_commits.unreadable, [late[0].seq]);

        // The older writer's entries, two in one transaction, sort before the newer one's.
        let early = append(&mut older, &[bob], &event(1), Timestamp(0))
            .await
            .unwrap();
        let earlier_still = append(&mut older, &[bob], &event(1), Timestamp(0))
            .await
            .unwrap();
        older.commit().await.unwrap();
        let expected = [early[0].seq, earlier_still[0].seq, late[0].seq];
        assert!(expected.windows(2).all(|w| w[0] < w[1]), "{expected:?}");
        // Other tests share this server: their writes may hold positions back a little longer.
        let mut read = Vec::new();
        for _ in 0..500 {
            read = since(pool, bob, 0, 10).await.unwrap();
            if read.len() == expected.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let seqs: Vec<i64> = read.iter().map(|entry| entry.seq).collect();
        assert_eq!(seqs, expected);
        assert_eq!(head(pool, bob).await.unwrap(), late[0].seq);
        db.remove().await;
    }
}
