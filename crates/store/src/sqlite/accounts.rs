//! Members and sessions, on rusqlite.

use rusqlite::{Connection, OptionalExtension, params};

use super::{ResultExt, member_from_row};
use crate::sql::MEMBER_COLUMNS;
use confidant_core::store::{
    Credentials, Member, MemberStanding, NewMember, SessionKind, SessionRecord, StoreResult,
};
use confidant_core::tokens::TokenHash;
use confidant_core::{MemberId, StoreError, Timestamp};

pub(crate) fn create_member(conn: &Connection, new: &NewMember) -> StoreResult<Member> {
    conn.prepare_cached(&format!(
        "INSERT INTO members (handle, display_name, password_hash, is_admin, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {MEMBER_COLUMNS}"
    ))
    .and_then(|mut insert| {
        insert.query_row(
            params![
                new.handle.as_str(),
                new.display_name,
                new.password_hash,
                new.is_admin,
                new.created_at.0
            ],
            member_from_row,
        )
    })
    .store()
}

pub(crate) fn member(conn: &Connection, id: MemberId) -> StoreResult<Option<Member>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?1"
    ))
    .and_then(|mut select| select.query_row([id.0], member_from_row).optional())
    .store()
}

pub(crate) fn member_by_handle(conn: &Connection, handle: &str) -> StoreResult<Option<Member>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM members WHERE handle = ?1"
    ))
    .and_then(|mut select| select.query_row([handle], member_from_row).optional())
    .store()
}

pub(crate) fn credentials(conn: &Connection, handle: &str) -> StoreResult<Option<Credentials>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS}, password_hash, suspended_at IS NOT NULL \
         FROM members WHERE handle = ?1"
    ))
    .and_then(|mut select| {
        select
            .query_row([handle], |row| {
                Ok(Credentials {
                    member: member_from_row(row)?,
                    password_hash: row.get(5)?,
                    suspended: row.get(6)?,
                })
            })
            .optional()
    })
    .store()
}

pub(crate) fn member_standings(
    conn: &Connection,
    after: Option<MemberId>,
    limit: i64,
) -> StoreResult<Vec<MemberStanding>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS}, suspended_at FROM members WHERE id > ?1 \
             ORDER BY id LIMIT ?2"
        ))
        .store()?;
    let rows = select
        .query_map(params![after.map_or(0, |id| id.0), limit], |row| {
            Ok(MemberStanding {
                member: member_from_row(row)?,
                suspended_at: row.get::<_, Option<i64>>(5)?.map(Timestamp),
            })
        })
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn count_admins(conn: &Connection) -> StoreResult<i64> {
    conn.prepare_cached("SELECT COUNT(*) FROM members WHERE is_admin <> 0")
        .and_then(|mut select| select.query_row([], |row| row.get(0)))
        .store()
}

pub(crate) fn set_admin(conn: &Connection, id: MemberId, admin: bool) -> StoreResult<()> {
    let updated = conn
        .prepare_cached("UPDATE members SET is_admin = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![admin, id.0]))
        .store()?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn set_suspended(
    conn: &Connection,
    id: MemberId,
    at: Option<Timestamp>,
) -> StoreResult<()> {
    let updated = conn
        .prepare_cached("UPDATE members SET suspended_at = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![at.map(|at| at.0), id.0]))
        .store()?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    if at.is_some() {
        delete_sessions_of(conn, id, None)?;
    }
    Ok(())
}

pub(crate) fn password_hash(conn: &Connection, id: MemberId) -> StoreResult<Option<String>> {
    conn.prepare_cached("SELECT password_hash FROM members WHERE id = ?1")
        .and_then(|mut select| select.query_row([id.0], |row| row.get(0)).optional())
        .store()
}

pub(crate) fn set_password_hash(conn: &Connection, id: MemberId, hash: &str) -> StoreResult<()> {
    conn.prepare_cached("UPDATE members SET password_hash = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![hash, id.0]))
        .store()
        .map(drop)
}

pub(crate) fn set_display_name(conn: &Connection, id: MemberId, name: &str) -> StoreResult<()> {
    conn.prepare_cached("UPDATE members SET display_name = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![name, id.0]))
        .store()
        .map(drop)
}

pub(crate) fn search_members(
    conn: &Connection,
    searcher: MemberId,
    prefix: &str,
    limit: i64,
) -> StoreResult<Vec<Member>> {
    // Handles are [a-z0-9_]; escape `_` so it is not a LIKE wildcard.
    let pattern = format!("{}%", prefix.replace('_', "\\_"));
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE handle LIKE ?1 ESCAPE '\\' \
             AND id <> ?2 \
             AND NOT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = members.id \
                             AND blocked_id = ?2) \
             ORDER BY handle LIMIT ?3"
        ))
        .store()?;
    let rows = select
        .query_map(params![pattern, searcher.0, limit], member_from_row)
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn delete_member(conn: &Connection, id: MemberId) -> StoreResult<()> {
    // Their words leave every conversation; the slots stay so others' threads still read in
    // order, shown as an erased message from "deleted member".
    conn.prepare_cached(
        "UPDATE messages SET body = '', erased = 1, sender_id = NULL WHERE sender_id = ?1",
    )
    .and_then(|mut update| update.execute([id.0]))
    .store()?;
    let conversations: Vec<i64> = {
        let mut select = conn
            .prepare_cached("SELECT conversation_id FROM conversation_members WHERE member_id = ?1")
            .store()?;
        let rows = select.query_map([id.0], |row| row.get(0)).store()?;
        rows.collect::<Result<_, _>>().store()?
    };
    let deleted = conn
        .prepare_cached("DELETE FROM members WHERE id = ?1")
        .and_then(|mut delete| delete.execute([id.0]))
        .store()?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    // A conversation nobody is in any more goes with them.
    let mut drop_if_empty = conn
        .prepare_cached(
            "DELETE FROM conversations WHERE id = ?1 AND NOT EXISTS \
             (SELECT 1 FROM conversation_members WHERE conversation_id = ?1)",
        )
        .store()?;
    for conversation in conversations {
        drop_if_empty.execute([conversation]).store()?;
    }
    Ok(())
}

pub(crate) fn create_session(conn: &Connection, session: &SessionRecord) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO sessions \
         (token_hash, member_id, kind, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            session.token_hash.0,
            session.member_id.0,
            session.kind.as_str(),
            session.csrf_token,
            session.created_at.0,
            session.last_seen_at.0,
            session.expires_at.0
        ])
    })
    .store()
    .map(drop)
}

pub(crate) fn session(
    conn: &Connection,
    token_hash: &TokenHash,
) -> StoreResult<Option<SessionRecord>> {
    let row = conn
        .prepare_cached(
            "SELECT token_hash, member_id, kind, csrf_token, created_at, last_seen_at, \
             expires_at FROM sessions WHERE token_hash = ?1",
        )
        .and_then(|mut select| {
            select
                .query_row([&token_hash.0], |row| {
                    let kind: String = row.get(2)?;
                    let Some(kind) = SessionKind::parse(&kind) else {
                        return Ok(None);
                    };
                    Ok(Some(SessionRecord {
                        token_hash: TokenHash(row.get(0)?),
                        member_id: MemberId(row.get(1)?),
                        kind,
                        csrf_token: row.get(3)?,
                        created_at: Timestamp(row.get(4)?),
                        last_seen_at: Timestamp(row.get(5)?),
                        expires_at: Timestamp(row.get(6)?),
                    }))
                })
                .optional()
        })
        .store()?;
    Ok(row.flatten())
}

pub(crate) fn touch_session(
    conn: &Connection,
    token_hash: &TokenHash,
    at: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached("UPDATE sessions SET last_seen_at = ?1 WHERE token_hash = ?2")
        .and_then(|mut update| update.execute(params![at.0, token_hash.0]))
        .store()
        .map(drop)
}

pub(crate) fn delete_session(conn: &Connection, token_hash: &TokenHash) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")
        .and_then(|mut delete| delete.execute([&token_hash.0]))
        .store()
        .map(drop)
}

pub(crate) fn delete_sessions_of(
    conn: &Connection,
    member: MemberId,
    except: Option<&TokenHash>,
) -> StoreResult<()> {
    let except = except.map_or("", |hash| hash.0.as_str());
    conn.prepare_cached("DELETE FROM sessions WHERE member_id = ?1 AND token_hash <> ?2")
        .and_then(|mut delete| delete.execute(params![member.0, except]))
        .store()
        .map(drop)
}

pub(crate) fn delete_expired_sessions(
    conn: &Connection,
    now: Timestamp,
    idle_cutoff_browser: Timestamp,
    idle_cutoff_api: Timestamp,
) -> StoreResult<u64> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM sessions WHERE expires_at <= ?1 \
             OR (kind = 'browser' AND last_seen_at <= ?2) \
             OR (kind = 'api' AND last_seen_at <= ?3)",
        )
        .and_then(|mut delete| delete.execute([now.0, idle_cutoff_browser.0, idle_cutoff_api.0]))
        .store()?;
    Ok(deleted as u64)
}

pub(crate) fn ping(conn: &Connection) -> StoreResult<()> {
    conn.prepare_cached("SELECT 1")
        .and_then(|mut select| select.query_row([], |_| Ok(())))
        .store()
}
