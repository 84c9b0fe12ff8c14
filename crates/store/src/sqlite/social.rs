//! Friend requests, friendships (stored once per direction) and blocks, on rusqlite.

use rusqlite::{Connection, params};

use super::{ResultExt, feed, member_from_row};
use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::{FriendRequests, Member, Relationship, StoreResult};
use confidant_core::{MemberId, StoreError, Timestamp};

/// Both directions of a friendship between `?1` and `?2`.
const DELETE_FRIENDSHIP: &str = "DELETE FROM friendships \
     WHERE (member_id = ?1 AND friend_id = ?2) OR (member_id = ?2 AND friend_id = ?1)";

/// Requests either way between `?1` and `?2`.
const DELETE_REQUESTS_BETWEEN: &str = "DELETE FROM friend_requests \
     WHERE (from_id = ?1 AND to_id = ?2) OR (from_id = ?2 AND to_id = ?1)";

/// Runs a statement on two members; how many rows it changed.
fn on_pair(conn: &Connection, sql: &str, a: MemberId, b: MemberId) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([a.0, b.0]))
        .store()
}

/// The members `join` relates to member `?1`, by name order.
fn members_via(conn: &Connection, join: &str, me: MemberId) -> StoreResult<Vec<Member>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT m.id, m.handle, m.display_name, m.is_admin, m.created_at \
             FROM members m {join} ORDER BY m.display_name, m.handle"
        ))
        .store()?;
    let rows = select.query_map([me.0], member_from_row).store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn relationship(
    conn: &Connection,
    me: MemberId,
    other: MemberId,
) -> StoreResult<Relationship> {
    conn.prepare_cached(
        "SELECT \
         EXISTS (SELECT 1 FROM friendships WHERE member_id = ?1 AND friend_id = ?2), \
         EXISTS (SELECT 1 FROM friend_requests WHERE from_id = ?1 AND to_id = ?2), \
         EXISTS (SELECT 1 FROM friend_requests WHERE from_id = ?2 AND to_id = ?1), \
         EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2), \
         EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?2 AND blocked_id = ?1)",
    )
    .and_then(|mut select| {
        select.query_row([me.0, other.0], |row| {
            Ok(Relationship {
                friends: row.get(0)?,
                request_sent: row.get(1)?,
                request_received: row.get(2)?,
                blocked_by_me: row.get(3)?,
                blocked_me: row.get(4)?,
            })
        })
    })
    .store()
}

pub(crate) fn create_friend_request(
    conn: &Connection,
    from: MemberId,
    to: MemberId,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    conn.prepare_cached(
        "INSERT INTO friend_requests (from_id, to_id, created_at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut insert| insert.execute([from.0, to.0, at.0]))
    .store()?;
    feed::append(conn, &[to], &LiveEvent::Friends, at)
}

pub(crate) fn accept_friend_request(
    conn: &Connection,
    from: MemberId,
    to: MemberId,
    at: Timestamp,
) -> StoreResult<Vec<FeedAdvanced>> {
    const DELETE_REQUEST: &str = "DELETE FROM friend_requests WHERE from_id = ?1 AND to_id = ?2";
    if on_pair(conn, DELETE_REQUEST, from, to)? == 0 {
        return Err(StoreError::NotFound);
    }
    // A crossing request in the other direction is settled by the same friendship.
    on_pair(conn, DELETE_REQUEST, to, from)?;
    let mut befriend = conn
        .prepare_cached(
            "INSERT INTO friendships (member_id, friend_id, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )
        .store()?;
    for (a, b) in [(from, to), (to, from)] {
        befriend.execute(params![a.0, b.0, at.0]).store()?;
    }
    feed::append(conn, &[from, to], &LiveEvent::Friends, at)
}

pub(crate) fn delete_friend_request(
    conn: &Connection,
    from: MemberId,
    to: MemberId,
) -> StoreResult<bool> {
    let deleted = on_pair(
        conn,
        "DELETE FROM friend_requests WHERE from_id = ?1 AND to_id = ?2",
        from,
        to,
    )?;
    Ok(deleted > 0)
}

pub(crate) fn delete_friendship(conn: &Connection, a: MemberId, b: MemberId) -> StoreResult<bool> {
    Ok(on_pair(conn, DELETE_FRIENDSHIP, a, b)? > 0)
}

pub(crate) fn block(
    conn: &Connection,
    blocker: MemberId,
    blocked: MemberId,
    at: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO NOTHING",
    )
    .and_then(|mut insert| insert.execute([blocker.0, blocked.0, at.0]))
    .store()?;
    on_pair(conn, DELETE_FRIENDSHIP, blocker, blocked)?;
    on_pair(conn, DELETE_REQUESTS_BETWEEN, blocker, blocked)?;
    Ok(())
}

pub(crate) fn unblock(
    conn: &Connection,
    blocker: MemberId,
    blocked: MemberId,
) -> StoreResult<bool> {
    let deleted = on_pair(
        conn,
        "DELETE FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2",
        blocker,
        blocked,
    )?;
    Ok(deleted > 0)
}

pub(crate) fn friends(conn: &Connection, me: MemberId) -> StoreResult<Vec<Member>> {
    members_via(
        conn,
        "JOIN friendships f ON f.friend_id = m.id WHERE f.member_id = ?1",
        me,
    )
}

pub(crate) fn friend_requests(conn: &Connection, me: MemberId) -> StoreResult<FriendRequests> {
    Ok(FriendRequests {
        incoming: members_via(
            conn,
            "JOIN friend_requests r ON r.from_id = m.id WHERE r.to_id = ?1",
            me,
        )?,
        outgoing: members_via(
            conn,
            "JOIN friend_requests r ON r.to_id = m.id WHERE r.from_id = ?1",
            me,
        )?,
    })
}

pub(crate) fn blocked(conn: &Connection, me: MemberId) -> StoreResult<Vec<Member>> {
    members_via(
        conn,
        "JOIN blocks b ON b.blocked_id = m.id WHERE b.blocker_id = ?1",
        me,
    )
}
