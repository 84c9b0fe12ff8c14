//! Indexing new messages for search in batches of many commits (migrations 0023 and 0026).
//!
//! FTS5 writes the terms it holds in memory out as a new index segment at every savepoint and
//! commit, and soon merges those segments again. Indexed inside each send, that was a large
//! share of the writer's work and of the pages it wrote to the WAL; indexed once per group
//! commit, it still cost a segment, its merges and its pages per commit: about a sixth of the
//! writer's time per send on 8 connections, where a commit holds a few sends (see
//! BENCHMARKS.md).
//!
//! So a message is stored unindexed, and the messages past the newest one indexed
//! (`messages_fts_indexed.upto`; ids only grow) wait. The writer indexes them all as one
//! segment, inside a commit and before it, once [`MOST_WAITING`] wait, once the first of them
//! has waited [`LONGEST_WAIT`] (without a write to ride on, in a commit of its own), or when a
//! search asks (`Database::index_waiting_messages`): a search first has every committed
//! message indexed, so it finds each message committed before it began, as before.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};

use super::ResultExt;
use confidant_core::store::StoreResult;

/// FTS5's leaf size unless told otherwise (`pgsz`), made for SQLite's default 4 KiB page.
const DEFAULT_LEAF: i64 = 4050;
/// What a leaf leaves of its page, as FTS5's default does: room for the row that holds it.
const LEAF_ROOM: i64 = 4096 - DEFAULT_LEAF;

/// How many messages may wait to be indexed before the next commit indexes them.
pub(crate) const MOST_WAITING: i64 = 512;
/// How long a committed message waits to be indexed at most, searches aside.
const LONGEST_WAIT: Duration = Duration::from_secs(1);

/// The writer's pace of indexing: what waits, since when.
pub(crate) struct SearchIndexing {
    /// Whether the schema has the mark yet (a database opened before migration 0026 does not,
    /// nor do the writer's own tests).
    mark_exists: bool,
    /// When a commit first left messages waiting; `None` when none wait.
    waiting_since: Option<Instant>,
    longest_wait: Duration,
}

impl Default for SearchIndexing {
    fn default() -> Self {
        SearchIndexing::within(LONGEST_WAIT)
    }
}

impl SearchIndexing {
    /// Indexing that lets a committed message wait `longest_wait` at most.
    pub(crate) fn within(longest_wait: Duration) -> Self {
        SearchIndexing {
            mark_exists: false,
            waiting_since: None,
            longest_wait,
        }
    }

    /// When the writer must index the waiting messages even if no write comes.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.waiting_since.map(|since| since + self.longest_wait)
    }

    /// Inside the open transaction, just before its commit: indexes the waiting messages if
    /// enough wait or the first has waited long enough, and notes when messages began to wait.
    pub(crate) fn before_commit(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if !self.mark_exists {
            self.mark_exists = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_schema \
                     WHERE type = 'table' AND name = 'messages_fts_indexed')",
                )?
                .query_row([], |row| row.get(0))?;
            if !self.mark_exists {
                return Ok(());
            }
        }
        let Some((upto, newest)) = waiting(conn)? else {
            // Nothing waits, whoever indexed it (a search, or another process).
            self.waiting_since = None;
            return Ok(());
        };
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        if newest - upto >= MOST_WAITING || since.elapsed() >= self.longest_wait {
            index(conn, upto, newest)?;
            self.waiting_since = None;
        }
        Ok(())
    }

    /// The batch did not commit: the migration that made the mark may have gone with it, and
    /// what waits is not known. A batch of its own finds out after the longest wait, and a
    /// database that keeps failing is not retried any sooner.
    pub(crate) fn rolled_back(&mut self) {
        self.mark_exists = false;
        self.waiting_since = Some(Instant::now());
    }
}

/// Whether any committed message waits to be indexed, for a search to ask first.
pub(crate) fn anything_waiting(conn: &Connection) -> StoreResult<bool> {
    Ok(waiting(conn).store()?.is_some())
}

/// Indexes every message waiting, as a write (see `Database::index_waiting_messages`).
pub(crate) fn index_waiting(conn: &Connection) -> StoreResult<()> {
    if let Some((upto, newest)) = waiting(conn).store()? {
        index(conn, upto, newest).store()?;
    }
    Ok(())
}

/// The mark and the newest message, if messages past the mark wait. Both are seeks: the
/// mark's one row (its migration made it), and the end of the messages' rowid b-tree.
fn waiting(conn: &Connection) -> rusqlite::Result<Option<(i64, i64)>> {
    let (upto, newest): (i64, Option<i64>) = conn
        .prepare_cached("SELECT upto, (SELECT MAX(id) FROM messages) FROM messages_fts_indexed")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(newest
        .filter(|newest| *newest > upto)
        .map(|newest| (upto, newest)))
}

/// Indexes the messages past `upto` through `newest`, as one segment, and moves the mark.
fn index(conn: &Connection, upto: i64, newest: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO messages_fts (rowid, body, conversation_id) \
         SELECT id, body, conversation_id FROM messages WHERE id > ?1 AND id <= ?2",
    )?
    .execute([upto, newest])?;
    conn.prepare_cached("UPDATE messages_fts_indexed SET upto = ?1")?
        .execute([newest])?;
    Ok(())
}

/// Sizes the search index's leaves to the file's pages (FTS5's `pgsz`). FTS5 keeps each leaf
/// in one row and fills it to 4,050 bytes, which fits a 4 KiB page; on the 2 KiB pages of a
/// new database (`PAGE_SIZE`) every leaf spilled onto an overflow page, and a search read both
/// (see BENCHMARKS.md). Run on every open, after the migrations: the page size changes when a
/// backup, written with 2 KiB pages, is restored. Leaves already written keep their size until
/// FTS5 merges them.
pub(crate) fn fit_leaves_to_pages(conn: &Connection) -> rusqlite::Result<()> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let fitting = page_size - LEAF_ROOM;
    let current: Option<i64> = conn
        .query_row(
            "SELECT v FROM messages_fts_config WHERE k = 'pgsz'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if current.unwrap_or(DEFAULT_LEAF) != fitting {
        conn.execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('pgsz', ?1)",
            [fitting],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Database;
    use super::*;

    /// Pages of `table` of `kind` (`leaf`, `overflow`, …), from SQLite's `dbstat`.
    fn pages(conn: &Connection, table: &str, kind: &str) -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM dbstat WHERE name = ?1 AND pagetype = ?2",
            [table, kind],
            |row| row.get(0),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_search_index_fits_its_leaves_to_the_pages() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("s.db")).unwrap();
        db.write(crate::sqlite::migrate).await.unwrap();
        let (leaves, overflowing) = db
            .write(|conn| {
                conn.execute_batch(
                    "INSERT INTO conversations (id, kind, created_at, last_activity_at) \
                     VALUES (1, 'group', 0, 0)",
                )
                .store()?;
                // Enough distinct words that the index's one segment spans many leaves.
                let mut insert = conn
                    .prepare(
                        "INSERT INTO messages (conversation_id, body, created_at) \
                         VALUES (1, ?1, 0)",
                    )
                    .store()?;
                for n in 0..4_000 {
                    insert
                        .execute([format!("word{n} shared{} every", n % 97)])
                        .store()?;
                }
                index_waiting(conn)?;
                Ok((
                    pages(conn, "messages_fts_data", "leaf"),
                    pages(conn, "messages_fts_data", "overflow"),
                ))
            })
            .await
            .unwrap();
        assert!(leaves > 10, "too few leaves to show anything: {leaves}");
        assert_eq!(overflowing, 0, "leaves spilled onto overflow pages");
    }
}
