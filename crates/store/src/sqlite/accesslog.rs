//! Members' access logs on rusqlite: appending inside the caller's transaction on the
//! writer thread, and reading entries, stored tree hashes and heads.
//!
//! The writer thread is the only writer, so appends to one log follow each other: seqs stay
//! gapless and every append extends the tree the previous one left. An append reads the
//! frontier (at most log₂ n stored hashes), hashes up the right edge and stores the new
//! complete subtrees' hashes — O(log n), never a rebuild.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::ResultExt;
use crate::sql::accesslog::{ENTRY_COLUMNS, hash, head_of, to_i64, to_u64};
use crate::sql::corrupt;
use confidant_core::accesslog::Denial;
use confidant_core::store::{LogHead, LogQuery, NewLogEntry, RevokedToken, StoreResult, day_of};
use confidant_core::tokens::TokenHash;
use confidant_core::{MemberId, Timestamp};
use confidant_log::{Entry, Frontier, Hash, Outcome};

/// The columns of an entry as [`ENTRY_COLUMNS`] selects them; checked by [`entry`].
type EntryRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
);

fn entry_row(row: &Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

fn entry(
    (seq, at_ms, app, action, scope, objects, outcome, reason, request_id): EntryRow,
) -> StoreResult<Entry> {
    Ok(Entry {
        seq: to_u64(seq)?,
        at_ms,
        app,
        action,
        scope,
        objects: objects.split_whitespace().map(str::to_owned).collect(),
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("access-log outcome", &outcome))?,
        reason,
        request_id,
    })
}

/// The stored hashes at `indexes`, in that order.
pub(crate) fn log_hashes(
    conn: &Connection,
    member: MemberId,
    indexes: &[u64],
) -> StoreResult<Vec<Hash>> {
    let mut select = conn
        .prepare_cached("SELECT hash FROM access_log_hashes WHERE member_id = ?1 AND idx = ?2")
        .store()?;
    indexes
        .iter()
        .map(|index| {
            let bytes: Option<Vec<u8>> = select
                .query_row([member.0, to_i64(*index)?], |row| row.get(0))
                .optional()
                .store()?;
            hash(bytes.ok_or_else(|| corrupt("access-log tree: missing hash at index", index))?)
        })
        .collect()
}

/// Appends `new` to its member's log inside the caller's transaction.
pub(crate) fn append(conn: &Connection, new: &NewLogEntry) -> StoreResult<Entry> {
    let member = new.member_id;
    let size: Option<i64> = conn
        .prepare_cached("SELECT size FROM access_log_heads WHERE member_id = ?1")
        .and_then(|mut select| select.query_row([member.0], |row| row.get(0)).optional())
        .store()?;
    let size = to_u64(size.unwrap_or(0))?;
    let roots = log_hashes(conn, member, &Frontier::indexes(size))?;
    let mut frontier =
        Frontier::from_stored(size, roots).map_err(|e| corrupt("access-log tree", e))?;
    let entry = new.at_seq(size);
    let appended = frontier.push(entry.leaf_hash());
    let (seq, new_size) = (to_i64(entry.seq)?, to_i64(frontier.size())?);

    conn.prepare_cached(&format!(
        "INSERT INTO access_log_entries (member_id, {ENTRY_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))
    .and_then(|mut insert| {
        insert.execute(params![
            member.0,
            seq,
            entry.at_ms,
            entry.app,
            entry.action,
            entry.scope,
            entry.objects.join(" "),
            entry.outcome.as_str(),
            entry.reason,
            entry.request_id
        ])
    })
    .store()?;

    let mut store_hash = conn
        .prepare_cached("INSERT INTO access_log_hashes (member_id, idx, hash) VALUES (?1, ?2, ?3)")
        .store()?;
    for (i, hash) in appended.hashes.iter().enumerate() {
        let index = to_i64(appended.first_index + i as u64)?;
        store_hash
            .execute(params![member.0, index, &hash.0[..]])
            .store()?;
    }

    conn.prepare_cached(
        "INSERT INTO access_log_heads (member_id, size, root) VALUES (?1, ?2, ?3) \
         ON CONFLICT (member_id) DO UPDATE SET size = excluded.size, root = excluded.root",
    )
    .and_then(|mut upsert| upsert.execute(params![member.0, new_size, &frontier.root().0[..]]))
    .store()?;
    Ok(entry)
}

/// Appends an entry about a member whom an access touched through someone else, unless an
/// entry for the same app, action and day is already in their log: then that entry's tally
/// grows instead, so a friend listed 120 times a day reads as one line with a count.
pub(crate) fn append_tallied(conn: &Connection, new: &NewLogEntry) -> StoreResult<()> {
    let day = day_of(new.at);
    let repeated = conn
        .prepare_cached(
            "UPDATE access_log_tallies SET count = count + 1 \
             WHERE member_id = ?1 AND app = ?2 AND action = ?3 AND day = ?4",
        )
        .and_then(|mut update| {
            update.execute(params![new.member_id.0, new.app, new.action.as_str(), day])
        })
        .store()?
        == 1;
    if repeated {
        return Ok(());
    }
    let seq = to_i64(append(conn, new)?.seq)?;
    conn.prepare_cached(
        "INSERT INTO access_log_tallies (member_id, app, action, day, seq, count) \
         VALUES (?1, ?2, ?3, ?4, ?5, 1)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            new.member_id.0,
            new.app,
            new.action.as_str(),
            day,
            seq
        ])
    })
    .store()
    .map(drop)
}

/// Appends `entry` and, tallied, the entries about others it touched.
pub(crate) fn append_with_others(
    conn: &Connection,
    entry: &NewLogEntry,
    others: &[NewLogEntry],
) -> StoreResult<Entry> {
    for other in others {
        append_tallied(conn, other)?;
    }
    append(conn, entry)
}

/// Which tokens are being revoked, for [`tombstone_tokens`].
pub(crate) enum Revoking<'a> {
    Grant(i64),
    App(&'a str),
    Family(i64),
    Token(&'a TokenHash),
}

/// Records the tokens about to be deleted as revoked for `reason`, until they would have
/// expired, so that a partner still presenting one is logged against its member.
pub(crate) fn tombstone_tokens(
    conn: &Connection,
    which: Revoking<'_>,
    reason: Denial,
) -> StoreResult<()> {
    let condition = match which {
        Revoking::Grant(_) => "g.id = ?1",
        Revoking::App(_) => "g.client_id = ?1",
        Revoking::Family(_) => "f.id = ?1",
        Revoking::Token(_) => "t.token_hash = ?1",
    };
    let mut insert = conn
        .prepare_cached(&format!(
            "INSERT INTO revoked_tokens (token_hash, member_id, client_id, reason, expires_at) \
             SELECT t.token_hash, g.member_id, g.client_id, ?2, t.expires_at \
             FROM oauth_tokens t JOIN token_families f ON f.id = t.family_id \
             JOIN grants g ON g.id = f.grant_id WHERE {condition} \
             ON CONFLICT (token_hash) DO NOTHING"
        ))
        .store()?;
    let reason = reason.as_str();
    match which {
        Revoking::Grant(id) | Revoking::Family(id) => insert.execute(params![id, reason]),
        Revoking::App(client_id) => insert.execute(params![client_id, reason]),
        Revoking::Token(hash) => insert.execute(params![hash.0, reason]),
    }
    .store()
    .map(drop)
}

/// Records that the app used the grant at `at`.
pub(crate) fn touch_grant(conn: &Connection, grant_id: i64, at: Timestamp) -> StoreResult<()> {
    conn.prepare_cached("UPDATE grants SET last_used_at = ?2 WHERE id = ?1")
        .and_then(|mut update| update.execute([grant_id, at.0]))
        .store()
        .map(drop)
}

pub(crate) fn log_tallies(
    conn: &Connection,
    member: MemberId,
    seqs: &[u64],
) -> StoreResult<Vec<(u64, u64)>> {
    let mut select = conn
        .prepare_cached(
            "SELECT count FROM access_log_tallies WHERE member_id = ?1 AND seq = ?2 \
             AND count > 1",
        )
        .store()?;
    let mut tallies = Vec::new();
    for seq in seqs {
        let count: Option<i64> = select
            .query_row([member.0, to_i64(*seq)?], |row| row.get(0))
            .optional()
            .store()?;
        if let Some(count) = count {
            tallies.push((*seq, to_u64(count)?));
        }
    }
    Ok(tallies)
}

pub(crate) fn log_head(conn: &Connection, member: MemberId) -> StoreResult<LogHead> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT size, root FROM access_log_heads WHERE member_id = ?1")
        .and_then(|mut select| {
            select
                .query_row([member.0], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .store()?;
    head_of(row)
}

pub(crate) fn log_entries(
    conn: &Connection,
    member: MemberId,
    query: &LogQuery,
) -> StoreResult<Vec<Entry>> {
    // Absent filters match everything: one statement, prepared once, for every query.
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM access_log_entries WHERE member_id = ?1 \
             AND (?2 IS NULL OR app = ?2) AND seq < ?3 ORDER BY seq DESC LIMIT ?4"
        ))
        .store()?;
    let before = query.before.map_or(Ok(i64::MAX), to_i64)?;
    let rows = select
        .query_map(
            params![member.0, query.app, before, i64::from(query.limit)],
            entry_row,
        )
        .store()?;
    rows.map(|row| entry(row.store()?)).collect()
}

pub(crate) fn log_range(
    conn: &Connection,
    member: MemberId,
    from: u64,
    limit: u32,
) -> StoreResult<Vec<Entry>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM access_log_entries \
             WHERE member_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3"
        ))
        .store()?;
    let rows = select
        .query_map([member.0, to_i64(from)?, i64::from(limit)], entry_row)
        .store()?;
    rows.map(|row| entry(row.store()?)).collect()
}

pub(crate) fn revoked_token(
    conn: &Connection,
    token_hash: &TokenHash,
) -> StoreResult<Option<RevokedToken>> {
    let row: Option<(i64, String, String, i64)> = conn
        .prepare_cached(
            "SELECT member_id, client_id, reason, expires_at FROM revoked_tokens \
             WHERE token_hash = ?1",
        )
        .and_then(|mut select| {
            select
                .query_row([&token_hash.0], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
        })
        .store()?;
    row.map(|(member_id, client_id, reason, expires_at)| {
        Ok(RevokedToken {
            member_id: MemberId(member_id),
            client_id,
            reason: Denial::parse(&reason).ok_or_else(|| corrupt("access-log reason", &reason))?,
            expires_at: Timestamp(expires_at),
        })
    })
    .transpose()
}
