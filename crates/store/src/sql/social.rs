//! Friend requests, friendships (stored once per direction) and blocks.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::social`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;

use super::{MemberRow, ResultExt, SqlStore, feed};
use crate::sqlite::social as sqlite;
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::{FriendRequests, Member, Relationship, SocialStore, StoreResult};
use confidant_core::{MemberId, StoreError, Timestamp};

/// Both directions of a friendship between `$1` and `$2`.
const DELETE_FRIENDSHIP: &str = "DELETE FROM friendships WHERE (member_id = $1 AND friend_id = $2) \
     OR (member_id = $2 AND friend_id = $1)";

/// Requests either way between `$1` and `$2`.
const DELETE_REQUESTS_BETWEEN: &str = "DELETE FROM friend_requests WHERE (from_id = $1 AND to_id \
    = $2) \
     OR (from_id = $2 AND to_id = $1)";

/// Members joined through a relation table, by name order.
fn members_via(join: &str) -> String {
    format!(
        "SELECT m.id, m.handle, m.display_name, m.is_admin, m.created_at \
         FROM members m {join} ORDER BY m.display_name, m.handle"
    )
}

impl SqlStore {
    async fn members_where(&self, join: &str, me: MemberId) -> StoreResult<Vec<Member>> {
        let rows: Vec<MemberRow> = sqlx::query_as(&members_via(join))
            .bind(me.0)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        Ok(rows.into_iter().map(Member::from).collect())
    }
}

#[async_trait]
impl SocialStore for SqlStore {
    async fn relationship(&self, me: MemberId, other: MemberId) -> StoreResult<Relationship> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::relationship(conn, me, other))
                .await;
        }
        let (friends, sent, received, blocked_by_me, blocked_me): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT \
                 (SELECT COUNT(*) FROM friendships WHERE member_id = $1 AND friend_id = $2), \
                 (SELECT COUNT(*) FROM friend_requests WHERE from_id = $1 AND to_id = $2), \
                 (SELECT COUNT(*) FROM friend_requests WHERE from_id = $2 AND to_id = $1), \
                 (SELECT COUNT(*) FROM blocks WHERE blocker_id = $1 AND blocked_id = $2), \
                 (SELECT COUNT(*) FROM blocks WHERE blocker_id = $2 AND blocked_id = $1)",
            )
            .bind(me.0)
            .bind(other.0)
            .fetch_one(&self.pg().pool)
            .await
            .store()?;
        Ok(Relationship {
            friends: friends > 0,
            request_sent: sent > 0,
            request_received: received > 0,
            blocked_by_me: blocked_by_me > 0,
            blocked_me: blocked_me > 0,
        })
    }

    async fn create_friend_request(
        &self,
        from: MemberId,
        to: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::create_friend_request(conn, from, to, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO friend_requests (from_id, to_id, created_at) VALUES \
                        ($1, $2, $3)",
                    )
                    .bind(from.0)
                    .bind(to.0)
                    .bind(at.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    let advanced = feed::append(tx, &[to], &LiveEvent::Friends, at).await?;
                    Ok(advanced)
                })
            })
            .await
    }

    async fn accept_friend_request(
        &self,
        from: MemberId,
        to: MemberId,
        at: Timestamp,
    ) -> StoreResult<Vec<FeedAdvanced>> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::accept_friend_request(conn, from, to, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let removed = sqlx::query(
                        "DELETE FROM friend_requests WHERE from_id = $1 AND \
                        to_id = $2",
                    )
                    .bind(from.0)
                    .bind(to.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    if removed.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    // A crossing request in the other direction is settled by the same friendship.
                    sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
                        .bind(to.0)
                        .bind(from.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    for (a, b) in [(from, to), (to, from)] {
                        sqlx::query(
                            "INSERT INTO friendships (member_id, friend_id, created_at) VALUES \
                             ($1, $2, $3) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(a.0)
                        .bind(b.0)
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    }
                    let advanced = feed::append(tx, &[from, to], &LiveEvent::Friends, at).await?;
                    Ok(advanced)
                })
            })
            .await
    }

    async fn delete_friend_request(&self, from: MemberId, to: MemberId) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_friend_request(conn, from, to))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2",
                    )
                    .bind(from.0)
                    .bind(to.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn delete_friendship(&self, a: MemberId, b: MemberId) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_friendship(conn, a, b))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let done = sqlx::query(DELETE_FRIENDSHIP)
                        .bind(a.0)
                        .bind(b.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn block(&self, blocker: MemberId, blocked: MemberId, at: Timestamp) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::block(conn, blocker, blocked, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                    "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(blocker.0)
                .bind(blocked.0)
                .bind(at.0)
                .execute(&mut *tx)
                .await
                .store()?;
                    for statement in [DELETE_FRIENDSHIP, DELETE_REQUESTS_BETWEEN] {
                        sqlx::query(statement)
                            .bind(blocker.0)
                            .bind(blocked.0)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn unblock(&self, blocker: MemberId, blocked: MemberId) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::unblock(conn, blocker, blocked))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let done =
                        sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
                            .bind(blocker.0)
                            .bind(blocked.0)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn friends(&self, me: MemberId) -> StoreResult<Vec<Member>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::friends(conn, me)).await;
        }
        self.members_where(
            "JOIN friendships f ON f.friend_id = m.id WHERE f.member_id = $1",
            me,
        )
        .await
    }

    async fn friend_requests(&self, me: MemberId) -> StoreResult<FriendRequests> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::friend_requests(conn, me)).await;
        }
        Ok(FriendRequests {
            incoming: self
                .members_where(
                    "JOIN friend_requests r ON r.from_id = m.id WHERE r.to_id = $1",
                    me,
                )
                .await?,
            outgoing: self
                .members_where(
                    "JOIN friend_requests r ON r.to_id = m.id WHERE r.from_id = $1",
                    me,
                )
                .await?,
        })
    }

    async fn blocked(&self, me: MemberId) -> StoreResult<Vec<Member>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::blocked(conn, me)).await;
        }
        self.members_where(
            "JOIN blocks b ON b.blocked_id = m.id WHERE b.blocker_id = $1",
            me,
        )
        .await
    }
}
