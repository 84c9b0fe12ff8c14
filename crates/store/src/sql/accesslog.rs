//! Members' access logs: appending inside the caller's transaction, and reading entries,
//! stored tree hashes and heads. On SQLite every method runs on rusqlite
//! (`crate::sqlite::accesslog`); the SQL here serves PostgreSQL.
//!
//! An append locks the member's head row first, so appends to one log queue up: seqs stay
//! gapless and every append extends the tree the previous one left. It reads the frontier
//! (at most log₂ n stored hashes), hashes up the right edge and stores the new complete
//! subtrees' hashes — O(log n), never a rebuild.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::{ResultExt, SqlStore, corrupt};
use crate::sqlite::accesslog as sqlite;
use confidant_core::accesslog::Denial;
use confidant_core::store::day_of;
use confidant_core::store::{
    AccessLogStore, LogHead, LogQuery, NewLogEntry, RevokedToken, StoreResult,
};
use confidant_core::tokens::TokenHash;
use confidant_core::{MemberId, StoreError, Timestamp};
use confidant_log::{EMPTY_ROOT, Entry, Frontier, Hash, Outcome};

pub(crate) fn to_i64(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| corrupt("access-log position", n))
}

pub(crate) fn to_u64(n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| corrupt("access-log position", n))
}

pub(crate) fn hash(bytes: Vec<u8>) -> StoreResult<Hash> {
    let len = bytes.len();
    bytes
        .try_into()
        .map(Hash)
        .map_err(|_| corrupt("access-log hash of length", len))
}

/// A log's head from its stored `(size, root)` row; a log without one is empty.
pub(crate) fn head_of(row: Option<(i64, Vec<u8>)>) -> StoreResult<LogHead> {
    Ok(match row {
        Some((size, root)) => LogHead {
            size: to_u64(size)?,
            root: hash(root)?,
        },
        None => LogHead {
            size: 0,
            root: EMPTY_ROOT,
        },
    })
}

pub(crate) const ENTRY_COLUMNS: &str =
    "seq, at, app, action, scope, objects, outcome, reason, request_id";

#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    at: i64,
    app: String,
    action: String,
    scope: Option<String>,
    objects: String,
    outcome: String,
    reason: Option<String>,
    request_id: String,
}

impl TryFrom<EntryRow> for Entry {
    type Error = StoreError;

    fn try_from(row: EntryRow) -> StoreResult<Self> {
        Ok(Entry {
            seq: to_u64(row.seq)?,
            at_ms: row.at,
            app: row.app,
            action: row.action,
            scope: row.scope,
            objects: row.objects.split_whitespace().map(str::to_owned).collect(),
            outcome: Outcome::parse(&row.outcome)
                .ok_or_else(|| corrupt("access-log outcome", &row.outcome))?,
            reason: row.reason,
            request_id: row.request_id,
        })
    }
}

/// `$from, $from+1, …` for `count` values: the placeholders of an `IN (…)` list.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stored hashes at `indexes`, in that order.
async fn hashes_in(
    conn: &mut PgConnection,
    member: MemberId,
    indexes: &[u64],
) -> StoreResult<Vec<Hash>> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT idx, hash FROM access_log_hashes WHERE member_id = $1 AND idx IN ({})",
        placeholders(2, indexes.len())
    );
    let mut query = sqlx::query_as::<_, (i64, Vec<u8>)>(&sql).bind(member.0);
    for index in indexes {
        query = query.bind(to_i64(*index)?);
    }
    let mut found = std::collections::HashMap::new();
    for (index, bytes) in query.fetch_all(&mut *conn).await.store()? {
        found.insert(index, hash(bytes)?);
    }
    indexes
        .iter()
        .map(|index| {
            found
                .get(&to_i64(*index)?)
                .copied()
                .ok_or_else(|| corrupt("access-log tree: missing hash at index", index))
        })
        .collect()
}

/// Appends `entry` to its member's log inside the caller's transaction.
pub(crate) async fn append(conn: &mut PgConnection, new: &NewLogEntry) -> StoreResult<Entry> {
    let member = new.member_id;
    let size: i64 = sqlx::query_scalar(
        "INSERT INTO access_log_heads (member_id, size, root) VALUES ($1, 0, $2) \
         ON CONFLICT (member_id) DO UPDATE SET size = access_log_heads.size RETURNING size",
    )
    .bind(member.0)
    .bind(EMPTY_ROOT.0.to_vec())
    .fetch_one(&mut *conn)
    .await
    .store()?;
    let size = to_u64(size)?;
    let roots = hashes_in(conn, member, &Frontier::indexes(size)).await?;
    let mut frontier =
        Frontier::from_stored(size, roots).map_err(|e| corrupt("access-log tree", e))?;
    let entry = new.at_seq(size);
    let appended = frontier.push(entry.leaf_hash());

    sqlx::query(&format!(
        "INSERT INTO access_log_entries (member_id, {ENTRY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(member.0)
    .bind(to_i64(entry.seq)?)
    .bind(entry.at_ms)
    .bind(&entry.app)
    .bind(&entry.action)
    .bind(&entry.scope)
    .bind(entry.objects.join(" "))
    .bind(entry.outcome.as_str())
    .bind(&entry.reason)
    .bind(&entry.request_id)
    .execute(&mut *conn)
    .await
    .store()?;

    let rows = (0..appended.hashes.len())
        .map(|i| format!("($1, ${}, ${})", 2 + 2 * i, 3 + 2 * i))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("INSERT INTO access_log_hashes (member_id, idx, hash) VALUES {rows}");
    let mut insert = sqlx::query(&sql).bind(member.0);
    for (i, hash) in appended.hashes.iter().enumerate() {
        insert = insert
            .bind(to_i64(appended.first_index + i as u64)?)
            .bind(hash.0.to_vec());
    }
    insert.execute(&mut *conn).await.store()?;

    sqlx::query("UPDATE access_log_heads SET size = $2, root = $3 WHERE member_id = $1")
        .bind(member.0)
        .bind(to_i64(frontier.size())?)
        .bind(frontier.root().0.to_vec())
        .execute(&mut *conn)
        .await
        .store()?;
    Ok(entry)
}

/// Appends an entry about a member whom an access touched through someone else, unless an
/// entry for the same app, action and day is already in their log: then that entry's tally
/// grows instead, so a friend listed 120 times a day reads as one line with a count.
pub(crate) async fn append_tallied(conn: &mut PgConnection, new: &NewLogEntry) -> StoreResult<()> {
    let day = day_of(new.at);
    let repeated = sqlx::query(
        "UPDATE access_log_tallies SET count = count + 1 \
         WHERE member_id = $1 AND app = $2 AND action = $3 AND day = $4",
    )
    .bind(new.member_id.0)
    .bind(&new.app)
    .bind(new.action.as_str())
    .bind(day)
    .execute(&mut *conn)
    .await
    .store()?
    .rows_affected()
        == 1;
    if repeated {
        return Ok(());
    }
    let entry = append(conn, new).await?;
    sqlx::query(
        "INSERT INTO access_log_tallies (member_id, app, action, day, seq, count) \
         VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (member_id, app, action, day) \
         DO UPDATE SET count = access_log_tallies.count + 1",
    )
    .bind(new.member_id.0)
    .bind(&new.app)
    .bind(new.action.as_str())
    .bind(day)
    .bind(to_i64(entry.seq)?)
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(())
}

/// Appends `entry` and, tallied, the entries about others it touched, in member order so
/// that concurrent multi-log appends lock heads in one order and cannot deadlock.
pub(crate) async fn append_with_others(
    conn: &mut PgConnection,
    entry: &NewLogEntry,
    others: &[NewLogEntry],
) -> StoreResult<Entry> {
    let mut order: Vec<Option<&NewLogEntry>> = others.iter().map(Some).collect();
    order.push(None);
    order.sort_by_key(|other| other.map_or(entry.member_id, |o| o.member_id).0);
    let mut appended = None;
    for next in order {
        match next {
            Some(other) => append_tallied(conn, other).await?,
            None => appended = Some(append(conn, entry).await?),
        }
    }
    appended.ok_or_else(|| corrupt("access-log append", "lost its own entry"))
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
pub(crate) async fn tombstone_tokens(
    conn: &mut PgConnection,
    which: Revoking<'_>,
    reason: Denial,
) -> StoreResult<()> {
    let condition = match which {
        Revoking::Grant(_) => "g.id = $1",
        Revoking::App(_) => "g.client_id = $1",
        Revoking::Family(_) => "f.id = $1",
        Revoking::Token(_) => "t.token_hash = $1",
    };
    let sql = format!(
        "INSERT INTO revoked_tokens (token_hash, member_id, client_id, reason, expires_at) \
         SELECT t.token_hash, g.member_id, g.client_id, '{}', t.expires_at \
         FROM oauth_tokens t JOIN token_families f ON f.id = t.family_id \
         JOIN grants g ON g.id = f.grant_id WHERE {condition} \
         ON CONFLICT (token_hash) DO NOTHING",
        reason.as_str()
    );
    let query = sqlx::query(&sql);
    let query = match which {
        Revoking::Grant(id) | Revoking::Family(id) => query.bind(id),
        Revoking::App(client_id) => query.bind(client_id),
        Revoking::Token(hash) => query.bind(&hash.0),
    };
    query.execute(&mut *conn).await.store()?;
    Ok(())
}

#[async_trait]
impl AccessLogStore for SqlStore {
    async fn append_log(&self, entry: NewLogEntry, touch_grant: Option<i64>) -> StoreResult<Entry> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| {
                    let appended = sqlite::append(conn, &entry)?;
                    if let Some(grant_id) = touch_grant {
                        sqlite::touch_grant(conn, grant_id, entry.at)?;
                    }
                    Ok(appended)
                })
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let appended = append(tx, &entry).await?;
                    if let Some(grant_id) = touch_grant {
                        sqlx::query("UPDATE grants SET last_used_at = $2 WHERE id = $1")
                            .bind(grant_id)
                            .bind(entry.at.0)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                    }
                    Ok(appended)
                })
            })
            .await
    }

    async fn append_log_about(
        &self,
        entry: NewLogEntry,
        about_others: Vec<NewLogEntry>,
        touch_grant: Option<i64>,
    ) -> StoreResult<Entry> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| {
                    let appended = sqlite::append_with_others(conn, &entry, &about_others)?;
                    if let Some(grant_id) = touch_grant {
                        sqlite::touch_grant(conn, grant_id, entry.at)?;
                    }
                    Ok(appended)
                })
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let appended = append_with_others(tx, &entry, &about_others).await?;
                    if let Some(grant_id) = touch_grant {
                        sqlx::query("UPDATE grants SET last_used_at = $2 WHERE id = $1")
                            .bind(grant_id)
                            .bind(entry.at.0)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                    }
                    Ok(appended)
                })
            })
            .await
    }

    async fn log_tallies(&self, member: MemberId, seqs: &[u64]) -> StoreResult<Vec<(u64, u64)>> {
        if let Some(db) = &self.sqlite {
            let seqs = seqs.to_owned();
            return db
                .read(move |conn| sqlite::log_tallies(conn, member, &seqs))
                .await;
        }
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT seq, count FROM access_log_tallies WHERE member_id = $1 AND count > 1 \
             AND seq IN ({})",
            placeholders(2, seqs.len())
        );
        let mut select = sqlx::query_as::<_, (i64, i64)>(&sql).bind(member.0);
        for seq in seqs {
            select = select.bind(to_i64(*seq)?);
        }
        select
            .fetch_all(&self.pg().pool)
            .await
            .store()?
            .into_iter()
            .map(|(seq, count)| Ok((to_u64(seq)?, to_u64(count)?)))
            .collect()
    }

    async fn log_head(&self, member: MemberId) -> StoreResult<LogHead> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::log_head(conn, member)).await;
        }
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT size, root FROM access_log_heads WHERE member_id = $1")
                .bind(member.0)
                .fetch_optional(&self.pg().pool)
                .await
                .store()?;
        head_of(row)
    }

    async fn log_hashes(&self, member: MemberId, indexes: &[u64]) -> StoreResult<Vec<Hash>> {
        if let Some(db) = &self.sqlite {
            let indexes = indexes.to_owned();
            return db
                .read(move |conn| sqlite::log_hashes(conn, member, &indexes))
                .await;
        }
        let mut conn = self.pg().pool.acquire().await.store()?;
        hashes_in(&mut conn, member, indexes).await
    }

    async fn log_entries(&self, member: MemberId, query: &LogQuery) -> StoreResult<Vec<Entry>> {
        if let Some(db) = &self.sqlite {
            let query = query.clone();
            return db
                .read(move |conn| sqlite::log_entries(conn, member, &query))
                .await;
        }
        let mut sql =
            format!("SELECT {ENTRY_COLUMNS} FROM access_log_entries WHERE member_id = $1");
        let mut next = 2;
        if query.app.is_some() {
            sql.push_str(&format!(" AND app = ${next}"));
            next += 1;
        }
        if query.before.is_some() {
            sql.push_str(&format!(" AND seq < ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${next}"));
        let mut select = sqlx::query_as::<_, EntryRow>(&sql).bind(member.0);
        if let Some(app) = &query.app {
            select = select.bind(app);
        }
        if let Some(before) = query.before {
            select = select.bind(to_i64(before)?);
        }
        select
            .bind(i64::from(query.limit))
            .fetch_all(&self.pg().pool)
            .await
            .store()?
            .into_iter()
            .map(Entry::try_from)
            .collect()
    }

    async fn log_range(&self, member: MemberId, from: u64, limit: u32) -> StoreResult<Vec<Entry>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::log_range(conn, member, from, limit))
                .await;
        }
        sqlx::query_as::<_, EntryRow>(&format!(
            "SELECT {ENTRY_COLUMNS} FROM access_log_entries \
             WHERE member_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
        ))
        .bind(member.0)
        .bind(to_i64(from)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pg().pool)
        .await
        .store()?
        .into_iter()
        .map(Entry::try_from)
        .collect()
    }

    async fn revoked_token(&self, token_hash: &TokenHash) -> StoreResult<Option<RevokedToken>> {
        if let Some(db) = &self.sqlite {
            let token_hash = token_hash.clone();
            return db
                .read(move |conn| sqlite::revoked_token(conn, &token_hash))
                .await;
        }
        let row: Option<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT member_id, client_id, reason, expires_at FROM revoked_tokens \
             WHERE token_hash = $1",
        )
        .bind(&token_hash.0)
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        row.map(|(member_id, client_id, reason, expires_at)| {
            Ok(RevokedToken {
                member_id: MemberId(member_id),
                client_id,
                reason: Denial::parse(&reason)
                    .ok_or_else(|| corrupt("access-log reason", &reason))?,
                expires_at: Timestamp(expires_at),
            })
        })
        .transpose()
    }
}
